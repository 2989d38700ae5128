/* common.c — see common.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "common.h"

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

uint64_t bench_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void bench_sleep_until_ns(uint64_t deadline_ns) {
  struct timespec ts = {(time_t)(deadline_ns / 1000000000u),
                        (long)(deadline_ns % 1000000000u)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
  }
}

void bench_sleep_until_tick(uint64_t t0_ns, long i, int spacing_us) {
  bench_sleep_until_ns(t0_ns +
                       (uint64_t)(i + 1) * (uint64_t)spacing_us * 1000u);
}

void bench_spin_ns(uint64_t ns) {
  uint64_t end = bench_now_ns() + ns;
  while (bench_now_ns() < end) {
  }
}

void *bench_calloc_touched(size_t n, size_t size) {
  char *p = calloc(n, size);
  if (p)
    for (size_t i = 0; i < n * size; i += 4096)
      ((volatile char *)p)[i] = 0;
  return p;
}

void bench_tight_timers(void) {
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
}

static uint64_t tv_ns(struct timeval tv) {
  return (uint64_t)tv.tv_sec * 1000000000u + (uint64_t)tv.tv_usec * 1000u;
}

uint64_t bench_cpu_process_ns(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return tv_ns(ru.ru_utime) + tv_ns(ru.ru_stime);
}

uint64_t bench_cpu_thread_ns(void) {
  struct rusage ru;
  getrusage(RUSAGE_THREAD, &ru);
  return tv_ns(ru.ru_utime) + tv_ns(ru.ru_stime);
}

uint64_t bench_rss_bytes(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  unsigned long size = 0, resident = 0;
  if (!f)
    return 0;
  if (fscanf(f, "%lu %lu", &size, &resident) != 2)
    resident = 0;
  fclose(f);
  return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

int bench_ncpu(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : (int)n;
}

/* ---- per-thread counters ---- */
#define BENCH_MAX_COUNTERS 1024
typedef struct {
  _Alignas(64) uint64_t n;
} padded_counter;
static padded_counter g_counters[BENCH_MAX_COUNTERS];
static atomic_int g_counters_used;
static _Thread_local padded_counter *tl_counter;

void bench_count_task(void) {
  padded_counter *c = tl_counter;
  if (__builtin_expect(c == NULL, 0)) {
    int i = atomic_fetch_add(&g_counters_used, 1);
    if (i >= BENCH_MAX_COUNTERS)
      i = BENCH_MAX_COUNTERS - 1; /* shared, racy */
    c = tl_counter = &g_counters[i];
  }
  /* Only this thread writes it; the reader sums after the pool is quiet. */
  __atomic_store_n(&c->n, c->n + 1, __ATOMIC_RELAXED);
}

uint64_t bench_counted_tasks(void) {
  uint64_t s = 0;
  int used = atomic_load(&g_counters_used);
  if (used > BENCH_MAX_COUNTERS)
    used = BENCH_MAX_COUNTERS;
  for (int i = 0; i < used; i++)
    s += __atomic_load_n(&g_counters[i].n, __ATOMIC_RELAXED);
  return s;
}

void bench_reset_counted_tasks(void) {
  for (int i = 0; i < BENCH_MAX_COUNTERS; i++)
    __atomic_store_n(&g_counters[i].n, 0, __ATOMIC_RELAXED);
}

/* ---- completion counter ----
 * The poster counts its posts in a variable of its own; the tasks count
 * "done" atomically; the target is published once, by the waiter.  So the
 * poster and the workers never write a shared line per task (a shared
 * atomic "pending" would bounce between them on every task and tax the very
 * pools that need it). */
static uint64_t g_posted; /* poster only */
static _Alignas(64) atomic_uint_fast64_t g_done;
static _Alignas(64) atomic_uint_fast64_t g_target = UINT64_MAX;
static _Alignas(64) atomic_int g_reached; /* futex word */

void bench_pending_add(uint64_t n) {
  g_posted += n;
}

void bench_pending_done(void) {
  uint64_t d = atomic_fetch_add(&g_done, 1) + 1;
  if (d == atomic_load(&g_target)) {
    atomic_store(&g_reached, 1);
    syscall(SYS_futex, &g_reached, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
  }
}

void bench_pending_wait(void) {
  atomic_store(&g_reached, 0);
  atomic_store(&g_target, g_posted);
  while (atomic_load(&g_done) < g_posted)
    syscall(SYS_futex, &g_reached, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
  atomic_store(&g_target, UINT64_MAX);
}

/* ---- emit ---- */
static int g_emit_fd = 1;

void bench_set_emit_fd(int fd) {
  g_emit_fd = fd;
}
int bench_emit_fd(void) {
  return g_emit_fd;
}

static void emit_line(const char *line) {
  size_t len = strlen(line), off = 0;
  while (off < len) {
    ssize_t w = write(g_emit_fd, line + off, len - off);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return;
    }
    off += (size_t)w;
  }
}

void bench_emit(const char *name, double value) {
  char buf[256];
  snprintf(buf, sizeof buf, "%s %.17g\n", name, value);
  emit_line(buf);
}

void bench_emit_text(const char *name, const char *text) {
  char buf[1024];
  int n = snprintf(buf, sizeof buf - 1, "@%s %s", name, text);
  if (n < 0)
    return;
  if ((size_t)n > sizeof buf - 2)
    n = (int)sizeof buf - 2;
  for (int i = 0; i < n; i++)
    if (buf[i] == '\n' || buf[i] == '\r')
      buf[i] = ' ';
  buf[n] = '\n';
  buf[n + 1] = 0;
  emit_line(buf);
}

void bench_fail(const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fprintf(stderr, "bench: measurement failed: %s\n", msg);
  bench_emit_text("error", msg);
  _exit(2);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

void bench_sort(double *v, size_t n) {
  qsort(v, n, sizeof *v, cmp_double);
}

/* Nearest-rank quantile: the smallest sample with at least q of the samples
 * at or below it.  q = 1 gives the max. */
double bench_quantile_sorted(const double *v, size_t n, double q) {
  if (n == 0)
    return 0.0;
  size_t k = (size_t)(q * (double)n + 0.999999999);
  if (k < 1)
    k = 1;
  if (k > n)
    k = n;
  return v[k - 1];
}
