/*
 * runtime.c — create, shut down and destroy a runtime; its numbers.
 *
 * A drain is complete when every task ever posted is final: the per-thread
 * counters give posted and ended without a shared counter on the hot path,
 * and shutdown polls them (it is the one place that can afford to).
 */
#include "task/task_int.h"

#include <stdlib.h>
#include <time.h>

static _Atomic int runtimes_alive;

typedef struct errand__cleanup {
  struct errand__cleanup *next;
  uint64_t id;
  bool on_cancel; /* run at a cancel-mode shutdown, not at destroy */
  void (*fn)(void *);
  void *arg;
} errand__cleanup;

static int add_cleanup(errand__rt *rt, void (*fn)(void *), void *arg,
                       uint64_t *id, bool on_cancel) {
  errand__cleanup *c = errand__malloc(sizeof *c);
  if (!c)
    return ERRAND_E_NOMEM;
  pthread_mutex_lock(&rt->cleanup_mu);
  c->on_cancel = on_cancel;
  c->id = ++rt->next_cleanup;
  c->fn = fn;
  c->arg = arg;
  c->next = rt->cleanups;
  rt->cleanups = c;
  *id = c->id;
  pthread_mutex_unlock(&rt->cleanup_mu);
  return 0;
}

int errand__rt_at_destroy(errand__rt *rt, void (*fn)(void *), void *arg,
                          uint64_t *id) {
  return add_cleanup(rt, fn, arg, id, false);
}

int errand__rt_on_cancel(errand__rt *rt, void (*fn)(void *), void *arg,
                         uint64_t *id) {
  return add_cleanup(rt, fn, arg, id, true);
}

/* Calls every on-cancel entry, under the lock: they only flag and wake. */
static void run_on_cancel(errand__rt *rt) {
  pthread_mutex_lock(&rt->cleanup_mu);
  for (errand__cleanup *c = rt->cleanups; c; c = c->next)
    if (c->on_cancel)
      c->fn(c->arg);
  pthread_mutex_unlock(&rt->cleanup_mu);
}

bool errand__rt_cancel_at_destroy(errand__rt *rt, uint64_t id) {
  bool found = false;
  pthread_mutex_lock(&rt->cleanup_mu);
  for (errand__cleanup **pp = &rt->cleanups; *pp; pp = &(*pp)->next) {
    if ((*pp)->id == id) {
      errand__cleanup *c = *pp;
      *pp = c->next;
      free(c);
      found = true;
      break;
    }
  }
  pthread_mutex_unlock(&rt->cleanup_mu);
  return found;
}

static void run_cleanups(errand__rt *rt) {
  for (;;) {
    pthread_mutex_lock(&rt->cleanup_mu);
    errand__cleanup **pp = &rt->cleanups;
    while (*pp && (*pp)->on_cancel)
      pp = &(*pp)->next;
    errand__cleanup *c = *pp;
    if (c)
      *pp = c->next;
    pthread_mutex_unlock(&rt->cleanup_mu);
    if (!c)
      break;
    c->fn(c->arg);
    free(c);
  }
  /* What is left are on-cancel entries of pools already gone. */
  pthread_mutex_lock(&rt->cleanup_mu);
  while (rt->cleanups) {
    errand__cleanup *c = rt->cleanups;
    rt->cleanups = c->next;
    free(c);
  }
  pthread_mutex_unlock(&rt->cleanup_mu);
}

int errand_runtime_create(const errand_runtime_options *opts,
                          errand_runtime **out) {
  static const errand_runtime_options defaults;
  const errand_runtime_options *o = opts ? opts : &defaults;
  errand__tables_init();
  errand__stamp_init();
  if (!out)
    return errand__err(ERRAND_E_INVALID, "out is NULL");
  if (o->workers < 0 || o->workers > 1024)
    return errand__err(ERRAND_E_INVALID, "workers %d out of range 0..1024",
                       o->workers);
  if (o->aging_burst < 0 || o->aging_burst > 1000000)
    return errand__err(ERRAND_E_INVALID,
                       "aging_burst %d out of range 0..1000000",
                       o->aging_burst);
  if (o->max_compensating < -1 || o->max_compensating > 4096)
    return errand__err(ERRAND_E_INVALID,
                       "max_compensating %d out of range -1..4096",
                       o->max_compensating);
  if (o->urgent_worker < 0 || o->urgent_worker > 1)
    return errand__err(ERRAND_E_INVALID, "urgent_worker %d is not 0 or 1",
                       o->urgent_worker);
  if (o->spin_us < -1 || o->spin_us > 1000000)
    return errand__err(ERRAND_E_INVALID, "spin_us %d out of range -1..1000000",
                       o->spin_us);
  if (o->timing_sample < -1 || o->timing_sample > 65536)
    return errand__err(ERRAND_E_INVALID,
                       "timing_sample %d out of range -1..65536",
                       o->timing_sample);
  errand__rt *rt = errand__table_alloc(&errand__runtime_table, 1);
  if (!rt)
    return errand__err(ERRAND_E_NOMEM, "no memory for a runtime");
  pthread_mutex_init(&rt->cleanup_mu, NULL);
  rt->timing_every = o->timing_sample == 0  ? 8
                     : o->timing_sample < 0 ? 0
                                            : o->timing_sample;
  int workers = o->workers ? o->workers : errand__cpu_count();
  errand__sched_config cfg = {
      .workers = workers,
      .aging_burst = o->aging_burst ? o->aging_burst : 64,
      .max_compensating = o->max_compensating == 0  ? 4 * workers
                          : o->max_compensating < 0 ? 0
                                                    : o->max_compensating,
      .urgent = o->urgent_worker == 1,
      .spin_ns = o->spin_us == 0  ? 200000u
                 : o->spin_us < 0 ? 0
                                  : (uint64_t)o->spin_us * 1000u,
      .run = errand__task_run_node,
      .seq = errand__task_seq,
      .movable = errand__task_movable,
      .ctx = rt,
  };
  int rc = errand__sched_create(&cfg, &rt->sched);
  if (rc) {
    pthread_mutex_destroy(&rt->cleanup_mu);
    errand__ref_dec(rt);
    errand__table_free(&errand__runtime_table, rt);
    return errand__err(rc, "could not start %d workers", workers);
  }
  faa_rlx(&runtimes_alive, 1);
  *out = errand__handle_of(&errand__runtime_table, rt);
  return 0;
}

int errand_runtime_workers(errand_runtime *h, int *out) {
  int code;
  errand__rt *rt = errand__rt_get(h, &code);
  if (!rt)
    return code;
  if (!out)
    return errand__err(ERRAND_E_INVALID, "out is NULL");
  *out = errand__sched_workers(rt->sched);
  return 0;
}

static bool all_final(errand__rt *rt) {
  errand_stats st;
  errand__sched_stats(rt->sched, &st);
  return st.succeeded + st.faulted + st.canceled >= st.posted;
}

int errand_runtime_shutdown(errand_runtime *h, errand_shutdown_mode mode,
                            int64_t timeout_ms) {
  int code;
  errand__rt *rt = errand__rt_get(h, &code);
  if (!rt)
    return code;
  if ((unsigned)mode > ERRAND_SHUTDOWN_CANCEL)
    return errand__err(ERRAND_E_INVALID, "mode %d is not a shutdown mode",
                       (int)mode);
  if (errand__sched_is_own_thread(rt->sched))
    return errand__err(ERRAND_E_WRONG_THREAD,
                       "a runtime cannot be shut down from its own tasks");
  int want = mode == ERRAND_SHUTDOWN_CANCEL ? RT_CANCELING : RT_DRAINING;
  int cur = ld_acq(&rt->phase);
  while (cur < want && !atomic_compare_exchange_weak(&rt->phase, &cur, want))
    ;
  if (want == RT_CANCELING) {
    errand__timer_flush(rt->sched);    /* delayed tasks: cancel them now */
    errand__sched_wake_all(rt->sched); /* sleeping tasks: see the cancel */
    run_on_cancel(rt);                 /* process jobs: their pools */
  }
  uint64_t deadline = errand__deadline(timeout_ms);
  for (;;) {
    if (all_final(rt)) {
      st_rel(&rt->drained, 1);
      return 0;
    }
    if (timeout_ms == 0 || (deadline && errand__now_ns() >= deadline))
      return errand__err(ERRAND_E_TIMEOUT,
                         "tasks still running when the shutdown deadline "
                         "passed");
    struct timespec ts = {0, 500000}; /* 0.5 ms: shutdown is not a hot path */
    nanosleep(&ts, NULL);
  }
}

int errand_runtime_destroy(errand_runtime *h) {
  if (!h)
    return 0;
  int code;
  errand__rt *rt = errand__rt_get(h, &code);
  if (!rt)
    return code;
  if (errand__sched_is_own_thread(rt->sched))
    return errand__err(ERRAND_E_WRONG_THREAD,
                       "a runtime cannot be destroyed from its own tasks");
  if (ld_acq(&rt->loops) > 0)
    return errand__err(ERRAND_E_STATE,
                       "destroy the runtime's %d loop(s) first: their tasks "
                       "can only run on their owners' threads",
                       ld_acq(&rt->loops));
  if (!ld_acq(&rt->drained))
    errand_runtime_shutdown(h, ERRAND_SHUTDOWN_DRAIN, -1);
  run_cleanups(rt);
  errand__sched_stop(rt->sched);
  errand__sched_destroy(rt->sched);
  rt->sched = NULL;
  pthread_mutex_destroy(&rt->cleanup_mu);
  errand__ref_dec(rt);
  errand__table_free(&errand__runtime_table, rt);
  fas_rlx(&runtimes_alive, 1);
  return 0;
}

int errand_runtime_stats(errand_runtime *h, errand_stats *out) {
  int code;
  errand__rt *rt = errand__rt_get(h, &code);
  if (!rt)
    return code;
  if (!out)
    return errand__err(ERRAND_E_INVALID, "out is NULL");
  errand__sched_stats(rt->sched, out);
  return 0;
}

uint64_t errand_hist_quantile(const uint64_t *hist, double q) {
  if (!hist || !(q >= 0.0))
    return 0;
  if (q > 1.0)
    q = 1.0;
  uint64_t total = 0;
  for (unsigned i = 0; i < ERRAND_HIST_BUCKETS; i++)
    total += hist[i];
  if (!total)
    return 0;
  uint64_t want = (uint64_t)(q * (double)total + 0.999999);
  if (want == 0)
    want = 1;
  uint64_t seen = 0;
  for (unsigned i = 0; i < ERRAND_HIST_BUCKETS; i++) {
    seen += hist[i];
    if (seen >= want)
      return (uint64_t)1 << (i + 1);
  }
  return (uint64_t)1 << ERRAND_HIST_BUCKETS;
}

int errand_blocking_begin(void) {
  errand__worker *w = errand__sched_worker_current();
  if (w)
    errand__sched_blocking_begin(w);
  return 0;
}

int errand_blocking_end(void) {
  errand__worker *w = errand__sched_worker_current();
  if (w)
    errand__sched_blocking_end(w);
  return 0;
}
