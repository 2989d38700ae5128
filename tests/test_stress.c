/*
 * test_stress.c — many iterations of random mixes of post / cancel /
 * wait_any / wait_all / release from 4 threads, with children, delays,
 * dedicated tasks and both timeouts, while a monitor thread samples every
 * task's status.  Invariants checked:
 *
 *  - every task reaches exactly one final status, and a status never goes
 *    backwards (sampled from another thread);
 *  - a task's function runs at most once; a task that never ran is
 *    CANCELED; a task seen CANCELED (or final) before it ran never runs;
 *  - a task that is final is no longer inside its function;
 *  - a task ends as its function ended (0 -> RAN_TO_COMPLETION unless a
 *    child failed, ERRAND_E_CANCELED -> CANCELED, other -> FAULTED);
 *  - arg_free is called exactly once for every posted task and never for a
 *    rejected post; every result is freed exactly once in the end;
 *  - a wait that returns 0 saw final tasks; the stats add up.
 *
 * Random choices come from a seeded PRNG per thread; the seed is printed
 * (ERRAND_TEST_SEED=<n> replays the same choices; thread timing varies).
 */
#include "helpers.h"

/* ------------------------------------------------------------------------ */
/* Task records                                                              */
/* ------------------------------------------------------------------------ */

enum {
  B_RETURN,     /* return 0 */
  B_SLEEP,      /* errand_task_sleep, returns its code */
  B_SPIN,       /* spin until canceled (E_CANCELED) or a short while (0) */
  B_FAIL,       /* errand_task_fail */
  B_RESULT,     /* set a malloc'd result, return 0 */
  B_CHILDREN,   /* post attached children, maybe wait for them, return 0 */
  B_CANCELED,   /* return ERRAND_E_CANCELED */
  B_COUNT
};

typedef struct srec {
  errand_task *_Atomic mon; /* the monitor's own reference, or NULL */
  struct srec *parent;
  int behavior;
  int param; /* sleep ms / spin us / fail code / child count */
  int depth;
  uint64_t seed;
  atomic_int posted;  /* errand_post returned 0 */
  atomic_int ran;
  atomic_int in_fn;
  atomic_int returned; /* 1000 + rc once the function returned */
  atomic_int arg_freed;
  atomic_int result_set;
  atomic_int result_freed;
  atomic_int current_ok; /* errand_task_current() == self inside */
  atomic_int seen_unrun_final; /* observed final while ran == 0 */
  atomic_int last_status;
  /* filled in the final pass */
  int kids, kids_unknown, kids_faulted, kids_other;
} srec;

#define CAP 100000

static srec *recs;
static atomic_int nrec;
static errand_runtime *g_rt;
static atomic_int violations;

static void violation(const char *what, srec *r) {
  if (atomic_fetch_add(&violations, 1) < 20)
    CHECK_FAILF("%s (record %ld, behavior %d, param %d, depth %d)", what,
                (long)(r - recs), r->behavior, r->param, r->depth);
  else
    atomic_fetch_add(&check__failures, 1);
}

static srec *rec_new(srec *parent, int depth, check_rng *rng) {
  int i = atomic_fetch_add(&nrec, 1);
  srec *r;
  if (i >= CAP) return NULL;
  r = &recs[i];
  r->parent = parent;
  r->depth = depth;
  r->behavior = (int)check_rng_below(rng, B_COUNT);
  if (r->behavior == B_CHILDREN && depth >= 2) r->behavior = B_RESULT;
  switch (r->behavior) {
  case B_SLEEP: r->param = (int)check_rng_below(rng, 4); break;
  case B_SPIN: r->param = (int)check_rng_below(rng, 2000); break;
  case B_FAIL: r->param = 100 + (int)check_rng_below(rng, 50); break;
  case B_CHILDREN: r->param = 1 + (int)check_rng_below(rng, 3); break;
  default: r->param = 0; break;
  }
  r->seed = check_rng_next(rng);
  atomic_init(&r->last_status, -1);
  return r;
}

static void arg_free_fn(void *p) { atomic_fetch_add(&((srec *)p)->arg_freed, 1); }

static void result_free_fn(void *p) {
  srec *r = *(srec **)p;
  atomic_fetch_add(&r->result_freed, 1);
  free(p);
}

static int stress_task(errand_task *self, void *arg);

/* Posts a task for record r with random options.  Returns the handle (the
 * caller's reference) or NULL; *rc gets errand_post's code. */
static errand_task *post_rec(srec *r, check_rng *rng, errand_task *parent,
                             int want_handle, int *rc_out) {
  errand_post_options o = post_opts();
  errand_task *h = NULL;
  int rc;
  o.priority = (errand_priority)check_rng_below(rng, 4);
  o.mode = check_rng_below(rng, 20) == 0 ? ERRAND_MODE_DEDICATED : ERRAND_MODE_POOL;
  if (check_rng_below(rng, 4) == 0) o.delay_ms = 1 + (int64_t)check_rng_below(rng, 10);
  if (check_rng_below(rng, 8) == 0)
    o.queue_timeout_ms = 1 + (int64_t)check_rng_below(rng, 20);
  if (check_rng_below(rng, 8) == 0) o.run_timeout_ms = 1 + (int64_t)check_rng_below(rng, 5);
  if (check_rng_below(rng, 3) == 0) o.name = "stress";
  o.parent = parent;
  o.arg_free = arg_free_fn;
  rc = errand_post(g_rt, stress_task, r, &o, want_handle ? &h : NULL);
  *rc_out = rc;
  if (rc != 0) return NULL;
  atomic_store(&r->posted, 1);
  if (h) {
    /* One more reference for the monitor, published for it to sample. */
    if (errand_task_retain(h) == 0) atomic_store(&r->mon, h);
    else violation("retain of a fresh handle failed", r);
  }
  return h;
}

static int stress_task(errand_task *self, void *arg) {
  srec *r = (srec *)arg;
  int rc = 0;
  if (atomic_fetch_add(&r->ran, 1) != 0) violation("function ran twice", r);
  atomic_store(&r->in_fn, 1);
  if (atomic_load(&r->seen_unrun_final)) violation("ran after being seen final", r);
  atomic_store(&r->current_ok, errand_task_current() == self);
  switch (r->behavior) {
  case B_RETURN: break;
  case B_SLEEP: rc = errand_task_sleep(self, r->param); break;
  case B_SPIN: {
    int64_t end = check_now_ns() + (int64_t)r->param * 1000;
    while (check_now_ns() < end) {
      if (errand_task_is_canceled(self) == 1) {
        rc = ERRAND_E_CANCELED;
        break;
      }
    }
    break;
  }
  case B_FAIL: rc = errand_task_fail(self, r->param, "stress fail %d", r->param); break;
  case B_RESULT: {
    srec **v = malloc(sizeof *v);
    if (!v) break;
    *v = r;
    if (errand_task_set_result(self, v, result_free_fn) == 0)
      atomic_store(&r->result_set, 1);
    else {
      free(v);
      violation("set_result failed", r);
    }
    break;
  }
  case B_CHILDREN: {
    check_rng rng;
    errand_task *kids[3];
    int i, n = 0, prc;
    int wait = (int)(r->seed & 1);
    check_rng_init(&rng, r->seed);
    for (i = 0; i < r->param; i++) {
      srec *c = rec_new(r, r->depth + 1, &rng);
      errand_task *h;
      if (!c) break;
      h = post_rec(c, &rng, self, 1, &prc);
      if (prc != 0 && prc != ERRAND_E_SHUTDOWN)
        violation("posting a child failed", c);
      if (h) kids[n++] = h;
    }
    if (wait && n > 0) {
      int wrc = errand_wait_all(kids, (size_t)n, -1);
      if (wrc != 0 && wrc != ERRAND_E_CANCELED) violation("child wait failed", r);
      if (wrc == 0)
        for (i = 0; i < n; i++) {
          errand_status s;
          if (errand_task_status(kids[i], &s) != 0 || !is_final_status((int)s))
            violation("wait_all returned 0 with a child not final", r);
        }
    }
    for (i = 0; i < n; i++) errand_task_release(kids[i]);
    break;
  }
  case B_CANCELED: rc = ERRAND_E_CANCELED; break;
  }
  atomic_store(&r->in_fn, 0);
  atomic_store(&r->returned, 1000 + rc);
  return rc;
}

/* ------------------------------------------------------------------------ */
/* Monitor                                                                   */
/* ------------------------------------------------------------------------ */

static atomic_int monitor_stop;
static atomic_long monitor_samples;

static void sample(srec *r) {
  errand_task *h = atomic_load(&r->mon);
  errand_status s;
  int last, ran_before;
  if (!h) return;
  ran_before = atomic_load(&r->ran);
  if (errand_task_status(h, &s) != 0) {
    violation("status read failed on a held handle", r);
    return;
  }
  last = atomic_load(&r->last_status);
  if ((int)s < last) violation("status went backwards", r);
  if (is_final_status(last) && (int)s != last) violation("final status changed", r);
  atomic_store(&r->last_status, (int)s);
  if (is_final_status((int)s)) {
    unsigned f;
    if (atomic_load(&r->in_fn)) violation("final while its function runs", r);
    if (ran_before == 0 && atomic_load(&r->ran) == 0)
      atomic_store(&r->seen_unrun_final, 1);
    if (errand_task_flags(h, &f) != 0 || !(f & ERRAND_FLAG_COMPLETED))
      violation("final status without the completed flag", r);
  }
  atomic_fetch_add(&monitor_samples, 1);
}

static void *monitor(void *arg) {
  (void)arg;
  while (!atomic_load(&monitor_stop)) {
    int i, n = atomic_load(&nrec);
    if (n > CAP) n = CAP;
    for (i = 0; i < n && !atomic_load(&monitor_stop); i++) sample(&recs[i]);
  }
  return NULL;
}

/* ------------------------------------------------------------------------ */
/* Drivers                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct driver {
  uint64_t seed;
  int ops;
  atomic_int *posts_ok;
} driver;

enum { LIVE = 48 };

/* Releases live[i] and moves the last entry into its place. */
static void drop(errand_task **live, srec **live_rec, int *n, int i) {
  if (errand_task_release(live[i]) != 0) violation("release failed", live_rec[i]);
  --*n;
  live[i] = live[*n];
  live_rec[i] = live_rec[*n];
}

static void *drive(void *arg) {
  driver *d = (driver *)arg;
  check_rng rng;
  errand_task *live[LIVE];
  srec *live_rec[LIVE];
  int n = 0, op;
  check_rng_init(&rng, d->seed);
  for (op = 0; op < d->ops; op++) {
    unsigned k = (unsigned)check_rng_below(&rng, 100);
    if (k < 40 || n == 0) { /* post */
      int rc;
      errand_task *parent = NULL, *h;
      srec *r = rec_new(NULL, 0, &rng);
      int handle = check_rng_below(&rng, 10) != 0;
      if (!r) break;
      if (n > 0 && check_rng_below(&rng, 10) == 0) {
        int pi = (int)check_rng_below(&rng, (uint64_t)n);
        parent = live[pi];
        r->parent = live_rec[pi];
        r->depth = live_rec[pi]->depth + 1;
        if (r->behavior == B_CHILDREN && r->depth >= 2) r->behavior = B_RETURN;
      }
      h = post_rec(r, &rng, parent, handle, &rc);
      if (rc == 0) {
        atomic_fetch_add(d->posts_ok, 1);
      } else if (!(rc == ERRAND_E_STATE && parent)) {
        violation("post failed", r);
      }
      if (h) {
        if (n == LIVE) drop(live, live_rec, &n, 0);
        live_rec[n] = r;
        live[n++] = h;
      }
    } else if (k < 55) { /* cancel */
      int i = (int)check_rng_below(&rng, (uint64_t)n);
      errand_status s;
      if (errand_task_cancel(live[i]) != 0) violation("cancel failed", live_rec[i]);
      if (errand_task_status(live[i], &s) == 0) {
        if (s == ERRAND_STATUS_CREATED || s == ERRAND_STATUS_WAITING_TO_RUN)
          violation("still waiting to run after cancel", live_rec[i]);
        if (s == ERRAND_STATUS_CANCELED && atomic_load(&live_rec[i]->ran) == 0)
          atomic_store(&live_rec[i]->seen_unrun_final, 1);
      }
    } else if (k < 75) { /* wait_any / wait_all on a subset */
      errand_task *set[4];
      int m = 1 + (int)check_rng_below(&rng, 4), i, rc;
      int64_t timeouts[] = {0, 1, 3, -1};
      int64_t to = timeouts[check_rng_below(&rng, 4)];
      for (i = 0; i < m; i++) set[i] = live[check_rng_below(&rng, (uint64_t)n)];
      if (k < 65) {
        size_t idx = 99;
        rc = errand_wait_any(set, (size_t)m, to, &idx);
        if (rc == 0) {
          errand_status s;
          if (idx >= (size_t)m || errand_task_status(set[idx], &s) != 0 ||
              !is_final_status((int)s))
            violation("wait_any returned 0 without a final task", live_rec[0]);
        } else if (rc != ERRAND_E_TIMEOUT || to < 0) {
          violation("wait_any failed", live_rec[0]);
        }
      } else {
        rc = errand_wait_all(set, (size_t)m, to);
        if (rc == 0) {
          for (i = 0; i < m; i++) {
            errand_status s;
            if (errand_task_status(set[i], &s) != 0 || !is_final_status((int)s))
              violation("wait_all returned 0 with a task not final", live_rec[0]);
          }
        } else if (rc != ERRAND_E_TIMEOUT || to < 0) {
          violation("wait_all failed", live_rec[0]);
        }
      }
    } else if (k < 90) { /* release */
      drop(live, live_rec, &n, (int)check_rng_below(&rng, (uint64_t)n));
    } else if (k < 95) { /* retain + release */
      int i = (int)check_rng_below(&rng, (uint64_t)n);
      if (errand_task_retain(live[i]) != 0 || errand_task_release(live[i]) != 0)
        violation("retain/release failed", live_rec[i]);
    } else { /* a short pause */
      check_sleep_us((int64_t)check_rng_below(&rng, 300));
    }
  }
  while (n > 0) drop(live, live_rec, &n, n - 1);
  return NULL;
}

/* ------------------------------------------------------------------------ */
/* Final pass                                                                */
/* ------------------------------------------------------------------------ */

static void final_checks(int total) {
  int i;
  for (i = 0; i < total; i++) {
    srec *r = &recs[i], *p = r->parent;
    errand_task *h = atomic_load(&r->mon);
    if (!p || !atomic_load(&r->posted)) continue;
    p->kids++;
    if (!h) {
      p->kids_unknown++;
    } else {
      errand_status s;
      if (errand_task_status(h, &s) != 0) p->kids_unknown++;
      else if (s == ERRAND_STATUS_FAULTED) p->kids_faulted++;
      else if (s != ERRAND_STATUS_RAN_TO_COMPLETION) p->kids_other++;
    }
  }
  for (i = 0; i < total; i++) {
    srec *r = &recs[i];
    errand_task *h = atomic_load(&r->mon);
    int ran = atomic_load(&r->ran), ret = atomic_load(&r->returned);
    int kids_clear;
    errand_status s;
    if (!atomic_load(&r->posted)) {
      if (atomic_load(&r->arg_freed) != 0) violation("arg_free after a rejected post", r);
      if (ran) violation("a rejected post ran", r);
      continue;
    }
    if (ran > 1) violation("ran more than once", r);
    if (atomic_load(&r->arg_freed) != 1) violation("arg_free not called exactly once", r);
    if (ran && !atomic_load(&r->current_ok)) violation("errand_task_current() != self", r);
    if (atomic_load(&r->seen_unrun_final) && ran) violation("seen final unrun, ran later", r);
    if (ran && ret == 0) violation("function never returned", r);
    if (!h) continue;
    if (errand_task_status(h, &s) != 0) {
      violation("status of a held handle", r);
      continue;
    }
    if (!is_final_status((int)s)) {
      violation("not final after drain", r);
      continue;
    }
    if (!ran) {
      if (s != ERRAND_STATUS_CANCELED) violation("never ran but not CANCELED", r);
      continue;
    }
    kids_clear = r->kids_unknown == 0 && r->kids_faulted == 0 && r->kids_other == 0;
    if (ret == 1000) {
      if (kids_clear && s != ERRAND_STATUS_RAN_TO_COMPLETION)
        violation("returned 0 but not RAN_TO_COMPLETION", r);
      if (r->kids_faulted > 0 && s != ERRAND_STATUS_FAULTED)
        violation("a child faulted but the parent did not", r);
      if (s == ERRAND_STATUS_CANCELED && r->kids == 0)
        violation("returned 0 but CANCELED", r);
    } else if (ret == 1000 + ERRAND_E_CANCELED) {
      if (kids_clear && s != ERRAND_STATUS_CANCELED)
        violation("returned E_CANCELED but not CANCELED", r);
    } else {
      if (s != ERRAND_STATUS_FAULTED) violation("returned a code but not FAULTED", r);
    }
  }
}

static void stress_round(uint64_t seed, int workers, int ops) {
  enum { D = 4 };
  driver d[D];
  pthread_t th[D], mon;
  atomic_int posts_ok;
  errand_stats st;
  int i, total, results_set = 0, results_freed = 0;
  errand_runtime_options ro;
  memset(&ro, 0, sizeof ro);
  ro.workers = workers;
  ro.aging_burst = 1 + (int)(seed % 8);
  g_rt = rt_new_opts(&ro);
  if (!g_rt) return;
  memset(recs, 0, sizeof *recs * CAP);
  atomic_store(&nrec, 0);
  atomic_store(&violations, 0);
  atomic_store(&monitor_stop, 0);
  atomic_init(&posts_ok, 0);
  if (!thread_start(&mon, monitor, NULL)) return;
  for (i = 0; i < D; i++) {
    d[i].seed = seed * 31 + (uint64_t)i;
    d[i].ops = ops;
    d[i].posts_ok = &posts_ok;
    if (!thread_start(&th[i], drive, &d[i])) return;
  }
  for (i = 0; i < D; i++) pthread_join(th[i], NULL);
  CHECK_OK(errand_runtime_shutdown(g_rt, ERRAND_SHUTDOWN_DRAIN, -1));
  /* Let the monitor see the final statuses once more. */
  check_sleep_ms(5);
  atomic_store(&monitor_stop, 1);
  pthread_join(mon, NULL);
  total = atomic_load(&nrec);
  if (total > CAP) {
    CHECK_FAILF("record capacity exceeded");
    total = CAP;
  }
  for (i = 0; i < total; i++) sample(&recs[i]);
  final_checks(total);
  if (CHECK_OK(errand_runtime_stats(g_rt, &st))) {
    int posted = 0;
    for (i = 0; i < total; i++) posted += atomic_load(&recs[i].posted);
    CHECK_EQ_INT(st.posted, posted);
    CHECK_EQ_INT(st.succeeded + st.faulted + st.canceled, st.posted);
    CHECK_EQ_INT(st.running, 0);
    CHECK_EQ_INT(st.queued[0] + st.queued[1] + st.queued[2] + st.delayed, 0);
  }
  for (i = 0; i < total; i++) {
    errand_task *h = atomic_load(&recs[i].mon);
    if (h) CHECK_OK(errand_task_release(h));
  }
  CHECK_OK(errand_runtime_destroy(g_rt));
  for (i = 0; i < total; i++) {
    results_set += atomic_load(&recs[i].result_set);
    results_freed += atomic_load(&recs[i].result_freed);
    if (atomic_load(&recs[i].result_freed) != atomic_load(&recs[i].result_set))
      violation("result not freed exactly once", &recs[i]);
  }
  printf("  workers %d: %d tasks (%d posted by drivers), %d results, %ld samples\n",
         workers, total, atomic_load(&posts_ok), results_set,
         (long)atomic_load(&monitor_samples));
  (void)results_freed;
}

TEST(random_mixes_from_four_threads_keep_every_invariant) {
  uint64_t seed = check_seed("stress");
  int rounds = 6, r;
  int ops = check_iters(1500);
  recs = calloc(CAP, sizeof *recs);
  REQUIRE(recs != NULL);
  for (r = 0; r < rounds && !check_failed(); r++) {
    static const int workers[] = {1, 2, 4, 3, 1, 8};
    stress_round(seed + (uint64_t)r, workers[r], ops);
  }
  free(recs);
  recs = NULL;
}

CHECK_MAIN()
