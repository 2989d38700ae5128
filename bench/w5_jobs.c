/* w5_jobs.c — see w5_jobs.h. */
#include "w5_jobs.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int job_noop(errand_job *job, const char *args, void *arg) {
  (void)job;
  (void)args;
  (void)arg;
  return 0; /* no errand_job_return: the result is null */
}

static int job_echo(errand_job *job, const char *args, void *arg) {
  (void)arg;
  return errand_job_return(job, args);
}

errand_jobs *bench_w5_jobs(void) {
  static errand_jobs *jobs;
  if (jobs)
    return jobs;
  errand_jobs *j = NULL;
  int rc = errand_jobs_create(&j);
  if (rc == 0)
    rc = errand_jobs_register(j, "bench.noop", job_noop, NULL);
  if (rc == 0)
    rc = errand_jobs_register(j, "bench.echo", job_echo, NULL);
  if (rc != 0) {
    fprintf(stderr, "errand-bench: cannot build the W5 job registry: %s %s\n",
            errand_errname(rc), errand_last_error());
    errand_jobs_release(j);
    return NULL;
  }
  return jobs = j;
}

void bench_w5_worker_main(void) {
  const char *e = getenv("BENCH_W5_EXIT");
  if (e && e[0] == '1')
    _exit(0);
  errand_jobs *j = bench_w5_jobs();
  if (j)
    errand_worker_main(j); /* never returns in a worker */
}
