/*
 * helpers.h — small errand-specific helpers shared by the tests (header
 * only; everything is static inline so an unused helper costs nothing).
 * Uses only the public header.
 */
#ifndef ERRAND_TEST_HELPERS_H
#define ERRAND_TEST_HELPERS_H

#include <pthread.h>

#include "check.h"

/* A runtime with `workers` pool workers (0 = default) and the other options
 * default.  NULL (and a recorded failure) if creation fails. */
static inline errand_runtime *rt_new(int workers) {
  errand_runtime_options o;
  errand_runtime *rt = NULL;
  memset(&o, 0, sizeof o);
  o.workers = workers;
  if (!CHECK_OK(errand_runtime_create(&o, &rt))) return NULL;
  return rt;
}

static inline errand_runtime *rt_new_opts(const errand_runtime_options *o) {
  errand_runtime *rt = NULL;
  if (!CHECK_OK(errand_runtime_create(o, &rt))) return NULL;
  return rt;
}

static inline errand_post_options post_opts(void) {
  errand_post_options o;
  memset(&o, 0, sizeof o);
  return o;
}

/* Status now, or -1 (and a recorded failure) if the call fails. */
static inline int status_of(errand_task *t) {
  errand_status s;
  if (!CHECK_OK(errand_task_status(t, &s))) return -1;
  return (int)s;
}

static inline unsigned flags_of(errand_task *t) {
  unsigned f = 0;
  if (!CHECK_OK(errand_task_flags(t, &f))) return 0xffffu;
  return f;
}

static inline uint64_t id_of(errand_task *t) {
  uint64_t id = 0;
  CHECK_OK(errand_task_id(t, &id));
  return id;
}

static inline int error_code_of(errand_task *t) {
  int code = -12345;
  CHECK_OK(errand_task_error(t, &code, NULL));
  return code;
}

/* Message of a final task ("" on failure to read it). */
static inline const char *error_msg_of(errand_task *t) {
  const char *m = NULL;
  if (!CHECK_OK(errand_task_error(t, NULL, &m))) return "";
  if (!CHECK(m != NULL)) return "";
  return m;
}

static inline int is_final_status(int s) {
  return s == ERRAND_STATUS_RAN_TO_COMPLETION ||
         s == ERRAND_STATUS_CANCELED || s == ERRAND_STATUS_FAULTED;
}

/* Polls until t's status is `want` (1) or timeout_ms passes (0). */
static inline int wait_status(errand_task *t, errand_status want,
                              int64_t timeout_ms) {
  int64_t end = check_now_ms() + timeout_ms;
  for (;;) {
    errand_status s;
    if (errand_task_status(t, &s) != 0) return 0;
    if (s == want) return 1;
    if (check_now_ms() > end) return 0;
    check_sleep_us(200);
  }
}

/* Polls until t's status is no longer `from`; returns the new status or -1
 * on timeout. */
static inline int wait_status_leaves(errand_task *t, errand_status from,
                                     int64_t timeout_ms) {
  int64_t end = check_now_ms() + timeout_ms;
  for (;;) {
    errand_status s;
    if (errand_task_status(t, &s) != 0) return -1;
    if (s != from) return (int)s;
    if (check_now_ms() > end) return -1;
    check_sleep_us(200);
  }
}

/* ------------------------------------------------------------------------ */
/* Task functions used everywhere                                           */
/* ------------------------------------------------------------------------ */

static inline int noop_task(errand_task *self, void *arg) {
  (void)self;
  (void)arg;
  return 0;
}

/* arg: atomic_int * — incremented once per run. */
static inline int count_task(errand_task *self, void *arg) {
  (void)self;
  atomic_fetch_add((atomic_int *)arg, 1);
  return 0;
}

/* A gate holds tasks until the test opens it.  gate_task counts itself in
 * `started`, spins (plain nanosleep: blocking outside errand, no help, no
 * cancellation) until `open`, counts `finished` and returns 0. */
typedef struct gate {
  atomic_int open;
  atomic_int started;
  atomic_int finished;
} gate;

static inline void gate_init(gate *g) {
  atomic_init(&g->open, 0);
  atomic_init(&g->started, 0);
  atomic_init(&g->finished, 0);
}

static inline void gate_open(gate *g) { atomic_store(&g->open, 1); }

static inline int gate_task(errand_task *self, void *arg) {
  gate *g = (gate *)arg;
  (void)self;
  atomic_fetch_add(&g->started, 1);
  while (!atomic_load(&g->open)) check_sleep_us(200);
  atomic_fetch_add(&g->finished, 1);
  return 0;
}

/* Like gate_task but also ends (returning ERRAND_E_CANCELED) when the task
 * is canceled. */
static inline int gate_or_cancel_task(errand_task *self, void *arg) {
  gate *g = (gate *)arg;
  int rc = 0;
  atomic_fetch_add(&g->started, 1);
  while (!atomic_load(&g->open)) {
    if (errand_task_is_canceled(self) == 1) {
      rc = ERRAND_E_CANCELED;
      break;
    }
    check_sleep_us(200);
  }
  atomic_fetch_add(&g->finished, 1);
  return rc;
}

/* Posts gate_task with default options; NULL on failure. */
static inline errand_task *post_gate(errand_runtime *rt, gate *g) {
  errand_task *t = NULL;
  if (!CHECK_OK(errand_post(rt, gate_task, g, NULL, &t))) return NULL;
  return t;
}

/* Occupies all `n` pool workers of rt with gate tasks and waits until they
 * all run.  Handles go to out[0..n). */
static inline int hold_workers(errand_runtime *rt, gate *g, int n,
                               errand_task **out) {
  int i;
  for (i = 0; i < n; i++) {
    out[i] = NULL;
    if (!CHECK_OK(errand_post(rt, gate_task, g, NULL, &out[i]))) return 0;
  }
  return CHECK(check_wait_count(&g->started, n, CHECK_LONG_MS));
}

/* A handle that errand must now report as released: a task that ran, was
 * waited for and whose last reference was given back.  errand may keep its
 * own reference a moment after waking waiters, so poll (bounded) until the
 * handle reads as released.  NULL (and a recorded failure) if it never
 * does. */
static inline errand_task *stale_task(errand_runtime *rt) {
  errand_task *t = NULL;
  errand_status s;
  int64_t end;
  int rc;
  if (!CHECK_OK(errand_post(rt, noop_task, NULL, NULL, &t))) return NULL;
  if (!CHECK_OK(errand_wait(t, -1))) return NULL;
  if (!CHECK_OK(errand_task_release(t))) return NULL;
  end = check_now_ms() + CHECK_LONG_MS;
  while ((rc = errand_task_status(t, &s)) == 0 && check_now_ms() < end)
    check_sleep_us(500);
  if (!CHECK_RC(rc, ERRAND_E_RELEASED)) return NULL;
  return t;
}

/* Thread helper: runs fn(arg) on a new pthread. */
static inline int thread_start(pthread_t *th, void *(*fn)(void *), void *arg) {
  return CHECK_EQ_INT(pthread_create(th, NULL, fn, arg), 0);
}

#endif /* ERRAND_TEST_HELPERS_H */
