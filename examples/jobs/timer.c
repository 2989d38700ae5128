/*
 * jobs/timer.c — seed 002's TimerJob as an errand job module.
 *
 * Built as a shared object (examples/CMakeLists.txt: <build>/examples/jobs/
 * timer.so) and started by path, like seed 002's './jobs/example/timer':
 *
 *   errand_job_start(rt, jobs, "file:///abs/path/jobs/timer.so",
 *                    "{\"jobId\":1,\"interval_ms\":1000,\"count\":10}",
 *                    &opts, &task);
 *
 * errand loads the module where the job runs (a worker process for
 * ERRAND_JOB_PROCESS / ERRAND_JOB_WORKER, this process for thread modes)
 * and calls its errand_module_init, which registers "timer".  The module
 * uses errand's functions from the program that loads it (that program
 * exports them: it is linked with -rdynamic, or against liberrand.so), so it
 * is not linked to liberrand itself.
 *
 * args: {"jobId": <any JSON value>, "interval_ms": N (1000), "count": N (10)}
 * Every interval_ms it emits the progress event
 *   "job-timer-progress" {"jobId": <jobId>, "number": n}      n = 0, 1, ...
 * (seed 002: childMessage.send(eventName, {jobId, number}); number++), and
 * after count events it returns {"done": count}.  A kill (cancel) stops it
 * at once: in a process errand stops the worker; in a thread the sleep
 * returns ERRAND_E_CANCELED and the job ends canceled.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errand.h"

/* The text of the JSON value of member `key` in a flat object: a number, a
 * string (no escaped quotes) or a literal.  "null" if absent. */
static void member_text(const char *json, const char *key, char *buf,
                        size_t len) {
  char pat[64];
  const char *p, *q;
  snprintf(buf, len, "null");
  snprintf(pat, sizeof pat, "\"%s\"", key);
  p = strstr(json, pat);
  if (!p) return;
  p += strlen(pat);
  while (*p == ' ' || *p == ':') p++;
  if (*p == '"') {
    q = strchr(p + 1, '"');
    if (!q) return;
    q++;
  } else {
    q = p;
    while (*q && *q != ',' && *q != '}' && *q != ' ') q++;
  }
  if (q == p || (size_t)(q - p) >= len) return;
  memcpy(buf, p, (size_t)(q - p));
  buf[q - p] = '\0';
}

static long member_long(const char *json, const char *key, long def) {
  char buf[32];
  char *end;
  long v;
  member_text(json, key, buf, sizeof buf);
  v = strtol(buf, &end, 10);
  return end == buf ? def : v;
}

static int timer_job(errand_job *job, const char *args, void *arg) {
  char job_id[128], event[256], done[64];
  long interval = member_long(args, "interval_ms", 1000);
  long count = member_long(args, "count", 10);
  long number;
  (void)arg;
  if (interval < 0 || count < 0)
    return errand_job_fail(job, ERRAND_E_INVALID,
                           "timer: interval_ms and count must be >= 0");
  member_text(args, "jobId", job_id, sizeof job_id);
  for (number = 0; number < count; number++) {
    if (errand_job_sleep(job, interval) != 0)
      return errand_job_fail(job, ERRAND_E_CANCELED, "timer %s killed",
                             job_id);
    snprintf(event, sizeof event, "{\"jobId\":%s,\"number\":%ld}", job_id,
             number);
    if (errand_job_progress(job, "job-timer-progress", event) != 0)
      return errand_job_fail(job, 0, "timer: cannot send progress");
  }
  snprintf(done, sizeof done, "{\"done\":%ld}", count);
  return errand_job_return(job, done);
}

ERRAND_EXPORT int errand_module_init(errand_jobs *jobs);

ERRAND_EXPORT int errand_module_init(errand_jobs *jobs) {
  return errand_jobs_register(jobs, "timer", timer_job, NULL);
}
