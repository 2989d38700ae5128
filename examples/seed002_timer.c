/*
 * seed002_timer.c — seed 002 (ee-core's ChildJob / ChildPoolJob) in C.
 *
 * The job is seed 002's TimerJob, a module (examples/jobs/timer.c, built as
 * examples/jobs/timer.so) named by path the way seed 002 names
 * './jobs/example/timer'.  It runs in a child process and sends the
 * progress event "job-timer-progress" {"jobId", "number"} every interval;
 * the host listens to it, shows the child's pid, and kills the job.
 *
 *   ChildJob      errand_job_start(..., ERRAND_JOB_PROCESS): a process is
 *                 started for the job and is gone after it (or its kill).
 *   ChildPoolJob  errand_job_start(..., ERRAND_JOB_WORKER) on an
 *                 errand_procpool: the process stays resident between jobs
 *                 (the same pid runs the next one).
 *
 * Usage: seed002_timer [path/to/timer.so] [interval_ms]
 * Exits 0 when every event arrived in order on this thread, the kill ended
 * the job as Canceled and the pooled process was reused; 1 otherwise.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errand.h"

#ifndef ERRAND_TIMER_SO
#define ERRAND_TIMER_SO "jobs/timer.so"
#endif

static int failures;

#define EXPECT(cond)                                                           \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "seed002_timer: %s:%d: expected %s (%s)\n", __FILE__,   \
              __LINE__, #cond, errand_last_error());                           \
      failures++;                                                              \
    }                                                                          \
  } while (0)

/* What seed 002's `timerTask.emitter.on('job-timer-progress', ...)` sees. */
typedef struct listener {
  const char *label;
  int events;     /* received so far */
  int in_order;   /* every number was the previous one + 1 */
  int last;       /* the last number */
} listener;

static void on_progress(errand_task *task, const char *name, const void *data,
                        size_t len, void *arg) {
  listener *l = arg;
  const char *p;
  int number = -1;
  (void)task;
  if (strcmp(name, "job-timer-progress") != 0) return;
  /* data is JSON text: {"jobId":..,"number":n} */
  p = memmem(data, len, "\"number\":", 9);
  if (p) number = atoi(p + 9);
  if (number != l->last + 1) l->in_order = 0;
  l->last = number;
  l->events++;
  printf("[main-process] %s, from TimerJob data: %.*s\n", l->label, (int)len,
         (const char *)data);
}

/* Runs the loop until `events` events arrived or t is final. */
static void run_loop(errand_loop *loop, errand_task *t, listener *l,
                     int events) {
  struct pollfd pfd;
  errand_status s = ERRAND_STATUS_CREATED;
  errand_loop_fd(loop, &pfd.fd);
  pfd.events = POLLIN;
  while (l->events < events) {
    errand_task_status(t, &s);
    if (s >= ERRAND_STATUS_RAN_TO_COMPLETION) break;
    if (poll(&pfd, 1, 100) > 0) errand_loop_run_pending(loop, 0, NULL);
  }
}

static const char *status_text(errand_task *t) {
  errand_status s = ERRAND_STATUS_CREATED;
  errand_task_status(t, &s);
  return errand_status_name(s);
}

int main(int argc, char **argv) {
  const char *so = argc > 1 ? argv[1] : ERRAND_TIMER_SO;
  int interval = argc > 2 ? atoi(argv[2]) : 100;
  char name[4096], args[128];
  errand_jobs *jobs = NULL;
  errand_runtime *rt = NULL;
  errand_loop *loop = NULL;
  errand_procpool *pool = NULL;
  errand_task *task = NULL;
  errand_job_options opts;
  int pid = 0, pid2 = 0, code = 0;
  const char *msg = "", *result = "";

  /* The worker processes are this program re-executed: it must be able to
   * serve jobs (here: modules named by path) before doing anything else. */
  if (errand_jobs_create(&jobs) != 0) return 1;
  errand_worker_main(jobs);

  if (errand_runtime_create(NULL, &rt) != 0 ||
      errand_loop_create(rt, &loop) != 0) {
    fprintf(stderr, "seed002_timer: %s\n", errand_last_error());
    return 1;
  }
  snprintf(name, sizeof name, "file://%s", so);

  /* ---- ChildJob: exec, listen, show the pid, kill ---------------------- */
  {
    listener l = {"timerTask", 0, 1, -1};
    memset(&opts, 0, sizeof opts);
    opts.mode = ERRAND_JOB_PROCESS;
    opts.kill_grace_ms = 1000;
    snprintf(args, sizeof args,
             "{\"jobId\":1,\"interval_ms\":%d,\"count\":1000}", interval);
    EXPECT(errand_job_start(rt, jobs, name, args, &opts, &task) == 0);
    if (!task) return 1;
    EXPECT(errand_task_on_event(task, loop, on_progress, &l) == 0);
    run_loop(loop, task, &l, 1); /* the child is running once it reports */
    errand_job_pid(task, &pid);
    printf("ChildJob: res.pid = %s\n", pid > 0 ? "<the child's pid>" : "0");
    EXPECT(pid > 0);
    run_loop(loop, task, &l, 5);
    printf("ChildJob: kill()\n");
    errand_task_cancel(task); /* SIGTERM to the child, SIGKILL after 1 s */
    errand_loop_run_until(loop, task, 30000);
    errand_task_error(task, &code, &msg);
    printf("ChildJob: status %s (%s)\n", status_text(task), msg);
    EXPECT(l.events >= 5 && l.in_order);
    EXPECT(strcmp(status_text(task), "Canceled") == 0);
    EXPECT(code == ERRAND_E_CANCELED);
    errand_task_release(task);
    task = NULL;
  }

  /* ---- ChildPoolJob: the process stays resident between jobs ----------- */
  {
    errand_procpool_options po;
    int round;
    memset(&po, 0, sizeof po);
    po.min_workers = 1;
    po.max_workers = 1;
    EXPECT(errand_procpool_create(rt, jobs, &po, &pool) == 0);
    for (round = 0; round < 2 && pool; round++) {
      listener l = {round ? "poolTask 2" : "poolTask 1", 0, 1, -1};
      int *which = round ? &pid2 : &pid;
      memset(&opts, 0, sizeof opts);
      opts.mode = ERRAND_JOB_WORKER;
      opts.pool = pool;
      snprintf(args, sizeof args,
               "{\"jobId\":%d,\"interval_ms\":%d,\"count\":3}", 2 + round,
               interval);
      EXPECT(errand_job_start(rt, jobs, name, args, &opts, &task) == 0);
      if (!task) break;
      EXPECT(errand_task_on_event(task, loop, on_progress, &l) == 0);
      EXPECT(errand_loop_run_until(loop, task, 30000) == 0);
      EXPECT(errand_job_result(task, &result) == 0);
      errand_job_pid(task, which);
      printf("ChildPoolJob: %s %s, result %s\n", l.label, status_text(task),
             result);
      EXPECT(l.events == 3 && l.in_order);
      errand_task_release(task);
      task = NULL;
    }
    printf("ChildPoolJob: same resident process for both jobs: %s\n",
           pid2 > 0 && pid2 == pid ? "yes" : "no");
    EXPECT(pid2 > 0 && pid2 == pid);
    EXPECT(errand_procpool_destroy(pool) == 0);
  }

  errand_loop_destroy(loop);
  errand_runtime_destroy(rt);
  errand_jobs_release(jobs);
  printf("%s\n", failures ? "FAILED" : "ok");
  return failures ? 1 : 0;
}
