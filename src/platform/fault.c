/*
 * fault.c — fault injection for tests: make the Nth allocation, thread
 * start or process spawn of the process fail (curl's torture mode,
 * SQLite's fault simulator), so every error path can be driven and
 * checked: a clear error from the call that hit it, nothing leaked, the
 * runtime still usable.
 *
 *   ERRAND_FAIL_ALLOC=N    the Nth allocation fails (N+: and every later)
 *   ERRAND_FAIL_THREAD=N   the Nth thread start fails
 *   ERRAND_FAIL_SPAWN=N    the Nth worker process start fails
 *   ERRAND_FAIL_FORK=N     the Nth fork of a fork server fails (EAGAIN)
 *   ERRAND_FAIL_REAP=N     the Nth REAP to a fork server finds its socket
 *                          full (EAGAIN)
 *
 * Each variable is read once; unset, the cost is one predictable branch.
 */
#include "platform_int.h"

#include <stdbool.h>
#include <stdlib.h>

typedef struct fault {
  const char *env;
  _Atomic int64_t at; /* -1: not read yet, 0: never */
  bool after;
  _Atomic int64_t count;
} fault;

static fault faults[] = {
    [ERRAND__FAULT_ALLOC] = {"ERRAND_FAIL_ALLOC", -1, false, 0},
    [ERRAND__FAULT_THREAD] = {"ERRAND_FAIL_THREAD", -1, false, 0},
    [ERRAND__FAULT_SPAWN] = {"ERRAND_FAIL_SPAWN", -1, false, 0},
    [ERRAND__FAULT_FORK] = {"ERRAND_FAIL_FORK", -1, false, 0},
    [ERRAND__FAULT_REAP] = {"ERRAND_FAIL_REAP", -1, false, 0},
};

static void read_env(fault *f) {
  const char *v = getenv(f->env);
  int64_t n = 0;
  if (v && *v) {
    char *end;
    n = strtoll(v, &end, 10);
    if (n < 0)
      n = 0;
    f->after = *end == '+';
  }
  int64_t expect = -1;
  atomic_compare_exchange_strong(&f->at, &expect, n);
}

bool errand__fault(int kind) {
  fault *f = &faults[kind];
  int64_t at = atomic_load_explicit(&f->at, memory_order_relaxed);
  if (at < 0) {
    read_env(f);
    at = atomic_load(&f->at);
  }
  if (at == 0)
    return false;
  int64_t k = atomic_fetch_add(&f->count, 1) + 1;
  return k == at || (f->after && k > at);
}
