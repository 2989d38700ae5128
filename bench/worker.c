/*
 * worker.c — errand-bench-worker: a small errand worker program (links
 * errand and libc only) with the same W5 jobs as errand-bench.  W5a runs
 * one-shot jobs through it (errand_job_options.command) beside the default
 * worker, errand-bench re-executed, to show how much of a one-shot job is
 * the exec of a big program (errand-bench loads oneTBB, GLib, libuv,
 * libstdc++, libgomp) and how much is errand.
 */
#include <stdio.h>

#include "w5_jobs.h"

int main(void) {
  bench_w5_worker_main();
  fprintf(stderr, "errand-bench-worker: an errand worker for errand-bench's "
                  "W5; errand starts it (ERRAND_WORKER=1)\n");
  return 2;
}
