/*
 * w5_jobs.h — the named jobs W5 runs in errand worker processes, and the
 * worker entry point.  The host (errand-bench) and its workers (errand-bench
 * re-executed, or the small errand-bench-worker) build the same registry.
 *
 *   bench.noop  no result (JSON null): W5a's one-shot job
 *   bench.echo  result = its args: W5b's 16-byte echo (args ["<12 chars>"])
 */
#ifndef BENCH_W5_JOBS_H
#define BENCH_W5_JOBS_H

#include <errand.h>

/* The registry (built once per process).  NULL if errand could not build
 * it (the reason went to stderr). */
errand_jobs *bench_w5_jobs(void);

/* Call first thing in main().  In a worker process errand started, serves
 * jobs and never returns.  With BENCH_W5_EXIT=1 in the environment, _exit(0)s
 * at once (W5's exec floors: what starting this program costs).  Otherwise
 * returns. */
void bench_w5_worker_main(void);

#endif
