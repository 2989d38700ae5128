/*
 * omp.c — OpenMP tasks (GCC's libgomp), W2 only: OpenMP has no pool to post
 * to from an outside thread.  fib(n-1) in `#pragma omp task`, fib(n-2)
 * inline, `#pragma omp taskwait`; a team of `workers` threads.
 */
#include <omp.h>
#include <stdio.h>

#include "../common.h"
#include "../peer.h"

static long fib_omp(int n, int cutoff) {
  if (n < 2)
    return n;
  if (n <= cutoff)
    return bench_fib_serial(n);
  long x = 0, y;
#pragma omp task shared(x) firstprivate(n, cutoff)
  x = fib_omp(n - 1, cutoff);
  y = fib_omp(n - 2, cutoff);
#pragma omp taskwait
  return x + y;
}

static long omp_fib(int workers, int n, int cutoff, uint64_t *elapsed_ns) {
  long r = -1;
  int warm = n < 20 ? n : 20;
  omp_set_dynamic(0);
#pragma omp parallel num_threads(workers)
#pragma omp single
  r = fib_omp(warm, cutoff);
  uint64_t t0 = bench_now_ns();
#pragma omp parallel num_threads(workers)
#pragma omp single
  r = fib_omp(n, cutoff);
  *elapsed_ns = bench_now_ns() - t0;
  return r;
}

static const char *omp_version(void) {
  static char buf[64];
#ifdef __clang__
  snprintf(buf, sizeof buf, "OpenMP %d, LLVM libomp, %s", _OPENMP, __VERSION__);
#else
  snprintf(buf, sizeof buf, "OpenMP %d, libgomp, gcc %s", _OPENMP, __VERSION__);
#endif
  return buf;
}

const bench_peer bench_peer_omp = {
    .id = "omp",
    .label = "OpenMP tasks",
    .note = "libgomp: omp task for fib(n-1), inline fib(n-2), omp taskwait",
    .version = omp_version,
    .fib = omp_fib,
};
