/*
 * thread.c — threads, the clock and the CPU count.
 */
#include "platform_int.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

uint64_t errand__now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The TSC costs a few ns to read against ~25 for clock_gettime, and errand
 * stamps every task three times for its histograms.  It is used only where
 * the kernel says it ticks at a constant rate through sleep states, and
 * calibrated once against the monotonic clock. */
static bool use_tsc;
/* Nanoseconds per tick in 32.32 fixed point: the conversion runs twice per
 * task, and a multiply and a shift cost a fraction of the floating-point
 * round trip it replaces. */
static uint64_t ns_per_tick_q32 = 1ull << 32;
static pthread_once_t stamp_once = PTHREAD_ONCE_INIT;

static bool cpu_has(const char *flag1, const char *flag2) {
  FILE *f = fopen("/proc/cpuinfo", "re");
  if (!f)
    return false;
  char line[4096];
  bool a = false, b = false;
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, "flags", 5) != 0)
      continue;
    a = strstr(line, flag1) != NULL;
    b = strstr(line, flag2) != NULL;
    break;
  }
  fclose(f);
  return a && b;
}

static void stamp_calibrate(void) {
#if defined(__x86_64__)
  if (!cpu_has(" constant_tsc", " nonstop_tsc"))
    return;
  uint64_t t0 = errand__now_ns(), c0 = __builtin_ia32_rdtsc();
  while (errand__now_ns() - t0 < 2000000u)
    ; /* 2 ms: parts per million against the clock's resolution */
  uint64_t t1 = errand__now_ns(), c1 = __builtin_ia32_rdtsc();
  if (c1 <= c0)
    return;
  double q = (double)(t1 - t0) / (double)(c1 - c0) * 4294967296.0;
  if (q < 1.0 || q >= 0x1p63)
    return;
  ns_per_tick_q32 = (uint64_t)q;
  use_tsc = true;
#endif
}

void errand__stamp_init(void) { pthread_once(&stamp_once, stamp_calibrate); }

uint64_t errand__stamp(void) {
#if defined(__x86_64__)
  if (use_tsc)
    return __builtin_ia32_rdtsc();
#endif
  return errand__now_ns();
}

uint64_t errand__stamp_ns(uint64_t d) {
  /* A stamp taken on another core may read slightly behind: treat a
   * "negative" difference as zero. */
  if (d > (UINT64_MAX >> 1))
    return 0;
  if (!use_tsc)
    return d;
  /* High and low halves apart, so a delta of any size stays exact without
   * a 128-bit product. */
  return (d >> 32) * ns_per_tick_q32 +
         (((d & 0xffffffffu) * ns_per_tick_q32) >> 32);
}

/* See errand__stamp_keep. */
static ERRAND__HOT_TLS uint64_t tl_kept_stamp;

void errand__stamp_keep(uint64_t stamp) { tl_kept_stamp = stamp; }

uint64_t errand__stamp_resume(void) {
  uint64_t st = tl_kept_stamp;
  tl_kept_stamp = 0;
  return st;
}

int errand__cpu_count(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : (n > 1024 ? 1024 : (int)n);
}

int errand__thread_start(pthread_t *t, void *(*fn)(void *), void *arg,
                         const char *name) {
  if (errand__fault(ERRAND__FAULT_THREAD))
    return EAGAIN;
  sigset_t all, old;
  sigfillset(&all);
  /* The new thread inherits this mask: errand's threads never take the
   * host's signals (SIGINT, SIGCHLD...). */
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int rc = pthread_create(t, NULL, fn, arg);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc == 0 && name) {
    char buf[16]; /* the kernel's limit, terminator included */
    size_t i = 0;
    for (; name[i] && i < sizeof buf - 1; i++)
      buf[i] = name[i];
    buf[i] = '\0';
    pthread_setname_np(*t, buf);
  }
  return rc;
}

void errand__thread_join(pthread_t t) { pthread_join(t, NULL); }

bool errand__thread_move_off_cpu(void) {
#if defined(__linux__) && defined(CPU_COUNT)
  cpu_set_t allowed, others;
  int cpu = sched_getcpu();
  if (cpu < 0 || cpu >= CPU_SETSIZE ||
      sched_getaffinity(0, sizeof allowed, &allowed) != 0)
    return false;
  others = allowed;
  CPU_CLR(cpu, &others);
  if (CPU_COUNT(&others) == 0)
    return false;
  /* Narrowing the set moves the thread at once; widening it again does
   * not move it back, so the thread ends where it may run as before, on
   * another CPU. */
  if (sched_setaffinity(0, sizeof others, &others) != 0)
    return false;
  sched_setaffinity(0, sizeof allowed, &allowed);
  return true;
#else
  return false;
#endif
}

void errand__mutex_init_hot(pthread_mutex_t *m) {
#ifdef PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP
  pthread_mutexattr_t a;
  if (pthread_mutexattr_init(&a) == 0) {
    int rc = pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ADAPTIVE_NP);
    if (rc == 0)
      rc = pthread_mutex_init(m, &a);
    pthread_mutexattr_destroy(&a);
    if (rc == 0)
      return;
  }
#endif
  pthread_mutex_init(m, NULL);
}
