/*
 * proc_int.h — layer 6: process workers.
 *
 * A pool owns worker processes and one supervisor thread that does all of
 * their I/O with epoll: protocol sockets, stdout/stderr pipes and pidfds.
 * Jobs reach it through a mutex-protected queue per level (their tasks are
 * "deferred": the task function only queues the job, and the supervisor
 * ends the run when the worker answers or dies).  Nothing else touches a
 * worker, so worker state needs no lock.
 */
#ifndef ERRAND_PROC_INT_H
#define ERRAND_PROC_INT_H

#include "job/job_int.h"
#include "proc/frame.h"

typedef struct errand__pool errand__pool;

#endif
