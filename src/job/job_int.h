/*
 * job_int.h — layer 5: named jobs.
 *
 * A job is a task whose function is a trampoline around a registered
 * handler, with its name, JSON arguments and JSON result kept in a job
 * record attached to the task (so the result, the pid and the captured
 * output outlive the run).  The same errand_job view is given to a handler
 * whether it runs on a thread here or in a worker process (proc/), where
 * its calls turn into protocol frames.
 */
#ifndef ERRAND_JOB_INT_H
#define ERRAND_JOB_INT_H

#include "loop/loop_int.h"
#include <jansson.h>

typedef struct errand__handler {
  char *name;
  errand_job_fn fn;
  void *arg;
} errand__handler;

typedef struct errand__module {
  struct errand__module *next;
  char *path;
  void *dl;
  struct errand__jobs *reg; /* what the module registered */
} errand__module;

typedef struct errand__jobs {
  errand__slot slot;
  pthread_mutex_t mu;
  errand__handler *h;
  size_t n, cap;
  errand__module *modules;
} errand__jobs;

/* What the process layer adds to a job record. */
typedef struct errand__procjob errand__procjob;

typedef struct errand__jobrec {
  char *name;
  char *args;
  errand_job_fn fn; /* resolved, for thread modes */
  void *fn_arg;
  errand_job_mode mode;
  char *result; /* JSON text once it succeeded */
  _Atomic int pid;
  pthread_mutex_t out_mu; /* guards out/err while a process writes */
  char *out, *err;
  size_t out_len, err_len, out_cap, err_cap;
  errand__procjob *pj;
} errand__jobrec;

#define ERRAND__OUTPUT_MAX (1u << 20)

struct errand_job {
  int kind;           /* JOB_THREAD or JOB_PROCESS */
  errand__task *task; /* thread */
  errand__jobrec *rec;
  char *result; /* set by errand_job_return */
  int fail_code;
  char *fail_message;
  int worker_index;
  struct errand__wjob *w; /* process side */
};
enum { JOB_THREAD = 0, JOB_PROCESS = 1 };

errand__jobs *errand__jobs_get(errand_jobs *h, int *code);
/* Finds name (a registered name, or file://path[#handler], loading the
 * module the first time).  Returns 0 or E_INVALID with the reason. */
int errand__jobs_resolve(errand__jobs *j, const char *name, errand_job_fn *fn,
                         void **arg, char *why, size_t whylen);
void errand__jobrec_free(void *p);
void errand__jobrec_append_output(errand__jobrec *r, int which, const char *p,
                                  size_t n);
/* JSON (jansson).  Both return 0, E_INVALID (not JSON; for json_check
 * also not an array/object when container_only) or E_NOMEM (no memory to
 * parse it: never taken for bad input).  json_parse hands the value to
 * *out (the caller's reference) when out is not NULL. */
int errand__json_parse(const char *text, size_t len, size_t flags,
                       json_t **out);
int errand__json_check(const char *text, bool container_only);
void errand__jobs_unref(errand__jobs *j);

/* Process side (proc/), called by the job layer. */
void errand__procjob_free(errand__procjob *j);
int errand__proc_start(errand__rt *rt, errand__jobs *jobs, errand__jobrec *rec,
                       const errand_job_options *o, errand_task **out);
/* The worker side calls the handler through this. */
int errand__job_run_handler(errand_job *job, errand_job_fn fn, void *arg,
                            const char *args);
/* Worker-side hooks for the errand_job_* calls (proc/worker.c). */
int errand__wjob_progress(errand_job *job, const char *name, const char *json);
int errand__wjob_is_canceled(errand_job *job);
int errand__wjob_sleep(errand_job *job, int64_t ms);

#endif
