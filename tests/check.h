/*
 * check.h — errand's tiny test framework (header only, one copy per test
 * executable).
 *
 *   #include "check.h"
 *   TEST(post_runs_the_function) { ... CHECK(x == 1); CHECK_OK(call); ... }
 *   CHECK_MAIN()
 *
 * TEST() registers the function through a constructor (gcc/clang); tests run
 * in the order they appear in the file.  Command-line arguments, if any, are
 * substrings: only tests whose name contains one of them run.
 *
 * Checks never abort: CHECK* records the failure (with file:line) and returns
 * 0 so a test can stop with `if (!CHECK(...)) return;`; REQUIRE* does exactly
 * that.  Checks may be called from any thread (task functions included).
 *
 * Output: one "ok   <name> (<s> s)" or "FAIL <name>" line per test, then
 * exactly one line "N passed, N failed".  Exit status 1 if any test failed.
 *
 * Environment:
 *   ERRAND_TEST_SCALE    multiplies iteration counts (default 1; CI may use
 *                        0.2 under TSan/valgrind).  See check_iters().
 *   ERRAND_TEST_WATCHDOG seconds per test (default 120; 0 = off).  A test
 *                        that runs longer is reported as FAIL and the
 *                        executable exits: a deadlock fails, it never hangs.
 *   ERRAND_TEST_SEED     seed for check_seed() (randomised tests print the
 *                        seed they used so a failure can be replayed).
 */
#ifndef ERRAND_TEST_CHECK_H
#define ERRAND_TEST_CHECK_H

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "errand.h"

#if defined(__GNUC__) || defined(__clang__)
#define CHECK__PRINTF(a, b) __attribute__((format(printf, a, b)))
#define CHECK__UNUSED __attribute__((unused))
#else
#define CHECK__PRINTF(a, b)
#define CHECK__UNUSED
#endif

/* ------------------------------------------------------------------------ */
/* Registry                                                                  */
/* ------------------------------------------------------------------------ */

typedef void (*check__fn)(void);

typedef struct check__test {
  const char *name;
  check__fn fn;
  int line;
} check__test;

#define CHECK__MAX_TESTS 256

static check__test check__tests[CHECK__MAX_TESTS];
static int check__ntests;
static atomic_int check__failures;           /* in the current test */
static const char *volatile check__current;  /* name, for the watchdog */
static volatile sig_atomic_t check__passed_sofar;
static volatile sig_atomic_t check__failed_sofar;

static inline void check__register(const char *name, check__fn fn, int line) {
  if (check__ntests >= CHECK__MAX_TESTS) {
    fprintf(stderr, "check.h: too many tests (raise CHECK__MAX_TESTS)\n");
    abort();
  }
  check__tests[check__ntests].name = name;
  check__tests[check__ntests].fn = fn;
  check__tests[check__ntests].line = line;
  check__ntests++;
}

#define TEST(name)                                                             \
  static void test_##name(void);                                              \
  __attribute__((constructor)) static void check__reg_##name(void) {          \
    check__register(#name, test_##name, __LINE__);                            \
  }                                                                            \
  static void test_##name(void)

/* ------------------------------------------------------------------------ */
/* Assertions                                                                */
/* ------------------------------------------------------------------------ */

static inline int check__fail(const char *file, int line, const char *fmt,
                              ...) CHECK__PRINTF(3, 4);
static inline int check__fail(const char *file, int line, const char *fmt,
                              ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  fprintf(stderr, "  %s:%d: check failed: %s\n", file, line, buf);
  fflush(stderr);
  atomic_fetch_add(&check__failures, 1);
  return 0;
}

static inline int check__bool(int ok, const char *expr, const char *file,
                              int line) {
  if (ok) return 1;
  return check__fail(file, line, "%s", expr);
}

static inline int check__eq_int(long long a, long long b, const char *ea,
                                const char *eb, const char *file, int line) {
  if (a == b) return 1;
  return check__fail(file, line, "%s == %s (%lld != %lld)", ea, eb, a, b);
}

static inline int check__eq_str(const char *a, const char *b, const char *ea,
                                const char *eb, const char *file, int line) {
  if (a && b && strcmp(a, b) == 0) return 1;
  if (!a && !b) return 1;
  return check__fail(file, line, "%s == %s (\"%s\" != \"%s\")", ea, eb,
                     a ? a : "(null)", b ? b : "(null)");
}

static inline int check__rc(int got, int want, const char *expr,
                            const char *file, int line) {
  if (got == want) return 1;
  return check__fail(file, line, "%s returned %s (%d), expected %s (%d); "
                     "last error: \"%s\"",
                     expr, errand_errname(got), got, errand_errname(want),
                     want, errand_last_error());
}

/* Every macro is an expression giving 1 (passed) or 0 (failed). */
#define CHECK(cond) check__bool(!!(cond), #cond, __FILE__, __LINE__)
#define CHECK_EQ_INT(a, b)                                                     \
  check__eq_int((long long)(a), (long long)(b), #a, #b, __FILE__, __LINE__)
#define CHECK_EQ_STR(a, b) check__eq_str((a), (b), #a, #b, __FILE__, __LINE__)
/* An errand call returning an error code: CHECK_RC(call, ERRAND_E_X). */
#define CHECK_RC(call, want) check__rc((call), (want), #call, __FILE__, __LINE__)
#define CHECK_OK(call) CHECK_RC(call, ERRAND_OK)
#define CHECK_FAILF(...) check__fail(__FILE__, __LINE__, __VA_ARGS__)

/* Stop the current test (only in the test function itself). */
#define REQUIRE(cond)                                                          \
  do {                                                                         \
    if (!CHECK(cond)) return;                                                  \
  } while (0)
#define REQUIRE_OK(call)                                                       \
  do {                                                                         \
    if (!CHECK_OK(call)) return;                                               \
  } while (0)
#define REQUIRE_EQ_INT(a, b)                                                   \
  do {                                                                         \
    if (!CHECK_EQ_INT(a, b)) return;                                           \
  } while (0)

/* Failures so far in the current test (to stop loops early). */
static inline int check_failed(void) { return atomic_load(&check__failures); }

/* ------------------------------------------------------------------------ */
/* Time, scale, randomness, small helpers                                    */
/* ------------------------------------------------------------------------ */

static inline int64_t check_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static inline int64_t check_now_ms(void) { return check_now_ns() / 1000000; }

static inline void check_sleep_us(int64_t us) {
  struct timespec ts;
  if (us <= 0) return;
  ts.tv_sec = (time_t)(us / 1000000);
  ts.tv_nsec = (long)(us % 1000000) * 1000;
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static inline void check_sleep_ms(int64_t ms) { check_sleep_us(ms * 1000); }

static inline double check_scale(void) {
  const char *s = getenv("ERRAND_TEST_SCALE");
  double v;
  if (!s || !*s) return 1.0;
  v = strtod(s, NULL);
  if (!(v > 0)) return 1.0;
  return v;
}

/* n scaled by ERRAND_TEST_SCALE, at least 1. */
static inline int check_iters(int n) {
  double v = (double)n * check_scale();
  if (v < 1) return 1;
  if (v > 2e9) return 2000000000;
  return (int)v;
}

/* Polls until *flag != 0 or timeout_ms passes; returns 1 if set. */
static inline int check_wait_flag(atomic_int *flag, int64_t timeout_ms) {
  int64_t end = check_now_ms() + timeout_ms;
  while (!atomic_load(flag)) {
    if (check_now_ms() > end) return 0;
    check_sleep_us(200);
  }
  return 1;
}

/* Polls until *v >= want or timeout_ms passes; returns 1 if reached. */
static inline int check_wait_count(atomic_int *v, int want,
                                   int64_t timeout_ms) {
  int64_t end = check_now_ms() + timeout_ms;
  while (atomic_load(v) < want) {
    if (check_now_ms() > end) return 0;
    check_sleep_us(200);
  }
  return 1;
}

/* Generous bound for "it happens, it does not deadlock" polls (ms). */
#define CHECK_LONG_MS 30000

/* xorshift64* — deterministic per seed. */
typedef struct check_rng {
  uint64_t s;
} check_rng;

static inline void check_rng_init(check_rng *r, uint64_t seed) {
  r->s = seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull;
  if (r->s == 0) r->s = 1;
}

static inline uint64_t check_rng_next(check_rng *r) {
  uint64_t x = r->s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  r->s = x;
  return x * 0x2545F4914F6CDD1Dull;
}

/* Uniform in [0, n) (n > 0). */
static inline uint64_t check_rng_below(check_rng *r, uint64_t n) {
  return n ? check_rng_next(r) % n : 0;
}

/* The seed for randomised tests: ERRAND_TEST_SEED or one from the clock.
 * Printed, so a failing run can be replayed. */
static inline uint64_t check_seed(const char *what) {
  const char *s = getenv("ERRAND_TEST_SEED");
  uint64_t seed;
  if (s && *s) {
    seed = strtoull(s, NULL, 0);
  } else {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    seed = ((uint64_t)ts.tv_sec * 1000003u) ^ (uint64_t)ts.tv_nsec ^
           ((uint64_t)getpid() << 16);
  }
  printf("  %s: seed %" PRIu64 " (ERRAND_TEST_SEED=%" PRIu64
         " to replay)\n",
         what, seed, seed);
  fflush(stdout);
  return seed;
}

/* Number of online CPUs (>= 1). */
static inline int check_ncpu(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : (int)n;
}

/* ------------------------------------------------------------------------ */
/* Runner                                                                    */
/* ------------------------------------------------------------------------ */

/* Async-signal-safe output to standard output (where the ok/FAIL lines
 * and the summary go). */
static inline void check__write_str(const char *s) {
  size_t n = strlen(s);
  while (n > 0) {
    ssize_t w = write(1, s, n);
    if (w <= 0) return;
    s += w;
    n -= (size_t)w;
  }
}

static inline void check__fmt_int(char *buf, long v) {
  char tmp[24];
  int i = 0, j = 0;
  if (v < 0) {
    buf[j++] = '-';
    v = -v;
  }
  do {
    tmp[i++] = (char)('0' + v % 10);
    v /= 10;
  } while (v > 0);
  while (i > 0) buf[j++] = tmp[--i];
  buf[j] = 0;
}

/* SIGALRM: the current test took too long — report and exit (async-signal
 * safe: write() only).  The summary goes to stdout like the normal one. */
static inline void check__watchdog(int sig) {
  char num[24];
  (void)sig;
  check__write_str("FAIL ");
  check__write_str(check__current ? check__current : "?");
  check__write_str(" (watchdog: test did not finish in time; deadlock?)\n");
  check__fmt_int(num, (long)check__passed_sofar);
  {
    const char *parts[4];
    char num2[24];
    size_t k;
    check__fmt_int(num2, (long)check__failed_sofar + 1);
    parts[0] = num;
    parts[1] = " passed, ";
    parts[2] = num2;
    parts[3] = " failed\n";
    for (k = 0; k < 4; k++) {
      size_t n = strlen(parts[k]);
      if (write(1, parts[k], n) < 0) break;
    }
  }
  _exit(1);
}

/* A crash (SIGSEGV, SIGABRT, ...) in a test: name the test, print the
 * summary line, then die of the same signal.  Not installed in sanitizer
 * builds, whose own handlers print better reports. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CHECK__SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define CHECK__SANITIZED 1
#endif
#endif
#ifndef CHECK__SANITIZED
#define CHECK__SANITIZED 0
#endif

static inline void check__crash(int sig) {
  char num[24], num2[24];
  check__fmt_int(num, (long)sig);
  check__write_str("FAIL ");
  check__write_str(check__current ? check__current : "?");
  check__write_str(" (crashed with signal ");
  check__write_str(num);
  check__write_str(")\n");
  check__fmt_int(num, (long)check__passed_sofar);
  check__fmt_int(num2, (long)check__failed_sofar + 1);
  if (write(1, num, strlen(num)) < 0 || write(1, " passed, ", 9) < 0 ||
      write(1, num2, strlen(num2)) < 0 || write(1, " failed\n", 8) < 0) {
  }
  signal(sig, SIG_DFL);
  raise(sig);
}

static inline unsigned check__timeout_s(void) {
  const char *s = getenv("ERRAND_TEST_WATCHDOG");
  long v;
  if (!s || !*s) return 120;
  v = strtol(s, NULL, 10);
  if (v <= 0) return 0; /* 0 or negative: no watchdog */
  return (unsigned)v;
}

static inline int check__cmp(const void *a, const void *b) {
  const check__test *x = (const check__test *)a, *y = (const check__test *)b;
  return (x->line > y->line) - (x->line < y->line);
}

static inline int check__selected(const char *name, int argc, char **argv) {
  int i;
  if (argc <= 1) return 1;
  for (i = 1; i < argc; i++)
    if (strstr(name, argv[i])) return 1;
  return 0;
}

static inline int check_run(int argc, char **argv) {
  int i, passed = 0, failed = 0;
  unsigned timeout = check__timeout_s();
  struct sigaction sa;

  setvbuf(stdout, NULL, _IOLBF, 0);
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = check__watchdog;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGALRM, &sa, NULL);
  if (!CHECK__SANITIZED) {
    const int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
    size_t k;
    sa.sa_handler = check__crash;
    sa.sa_flags = SA_RESETHAND | SA_NODEFER;
    for (k = 0; k < sizeof sigs / sizeof sigs[0]; k++)
      sigaction(sigs[k], &sa, NULL);
  }

  qsort(check__tests, (size_t)check__ntests, sizeof check__tests[0],
        check__cmp);
  for (i = 0; i < check__ntests; i++) {
    int64_t t0;
    const check__test *t = &check__tests[i];
    if (!check__selected(t->name, argc, argv)) continue;
    check__current = t->name;
    atomic_store(&check__failures, 0);
    if (timeout) alarm(timeout);
    t0 = check_now_ns();
    t->fn();
    alarm(0);
    if (atomic_load(&check__failures) == 0) {
      printf("ok   %s (%.2f s)\n", t->name,
             (double)(check_now_ns() - t0) / 1e9);
      passed++;
      check__passed_sofar = passed;
    } else {
      printf("FAIL %s\n", t->name);
      failed++;
      check__failed_sofar = failed;
    }
    fflush(stdout);
  }
  printf("%d passed, %d failed\n", passed, failed);
  fflush(stdout);
  return failed ? 1 : 0;
}

#define CHECK_MAIN()                                                           \
  int main(int argc, char **argv) { return check_run(argc, argv); }

#endif /* ERRAND_TEST_CHECK_H */
