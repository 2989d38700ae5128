/*
 * roundtrip.c — errand-roundtrip: the simplest use of errand, timed.  The
 * calling thread posts one empty task and waits for it, N times: after an
 * idle gap long enough for the workers to park (their spin is 200 us by
 * default), and back to back.  Prints p50/p90/p99 in microseconds.
 *
 *   errand-roundtrip [WORKERS [N]]      (defaults: 1 worker, 2,000 posts)
 *
 * Not one of the workloads: it shows the cost of the hand-offs a
 * post and a wait make between the caller and a worker, which W1-W4 do not
 * isolate.
 */
#include <errand.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static int nop(errand_task *self, void *arg) {
  (void)self;
  (void)arg;
  return 0;
}

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static int measure(errand_runtime *rt, double *d, int n, long gap_ns) {
  for (int i = 0; i < n; i++) {
    if (gap_ns) {
      struct timespec ts = {0, gap_ns};
      nanosleep(&ts, NULL);
    }
    errand_task *t = NULL;
    double t0 = now_us();
    int rc = errand_post(rt, nop, NULL, NULL, &t);
    if (rc == 0)
      rc = errand_wait(t, -1);
    d[i] = now_us() - t0;
    errand_task_release(t);
    if (rc != 0) {
      fprintf(stderr, "errand-roundtrip: %s: %s\n", errand_errname(rc),
              errand_last_error());
      return -1;
    }
  }
  qsort(d, (size_t)n, sizeof *d, cmp);
  return 0;
}

int main(int argc, char **argv) {
  int workers = argc > 1 ? atoi(argv[1]) : 1;
  int n = argc > 2 ? atoi(argv[2]) : 2000;
  if (workers < 1 || n < 10) {
    fprintf(stderr, "usage: errand-roundtrip [WORKERS [N]] (N >= 10)\n");
    return 2;
  }
  errand_runtime_options o = {0};
  o.workers = workers;
  errand_runtime *rt = NULL;
  int rc = errand_runtime_create(&o, &rt);
  if (rc != 0) {
    fprintf(stderr, "errand-roundtrip: %s\n", errand_last_error());
    return 1;
  }
  double *d = malloc((size_t)n * sizeof *d);
  if (!d)
    return 1;
  static const struct {
    const char *what;
    long gap_ns;
  } modes[] = {{"after 300 us idle", 300000}, {"back to back", 0}};
  printf("post + wait of an empty task from outside the pool, %d worker%s, "
         "%d each (us):\n",
         workers, workers == 1 ? "" : "s", n);
  int status = 0;
  for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
    if (measure(rt, d, n, modes[m].gap_ns) != 0) {
      status = 1;
      break;
    }
    printf("  %-18s p50 %7.1f  p90 %7.1f  p99 %7.1f\n", modes[m].what,
           d[n / 2], d[n * 9 / 10], d[n * 99 / 100]);
  }
  free(d);
  errand_runtime_destroy(rt);
  return status;
}
