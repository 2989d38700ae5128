/*
 * test_signal_stress.c — item 5 at scale: several threads post tasks under
 * shared signals while others change the signals' priorities and abort
 * them, at once (meant for TSan as much as for the plain build).
 *
 * Invariants:
 *   - every task ends in exactly one final status (and its flags agree);
 *   - a task ran at most once, and it ran iff it RAN_TO_COMPLETION (the
 *     task functions ignore cancellation, so a started one succeeds);
 *   - right after errand_controller_abort returns, no task bound to that
 *     signal whose post returned before the abort started is still
 *     WAITING_TO_RUN; a task observed CANCELED never runs afterwards;
 *   - the runtime's counters add up: posted = succeeded + faulted +
 *     canceled, succeeded = tasks that ran;
 *   - with no change in flight, every queued task that follows its signal
 *     has the signal's priority.
 *
 * The PRNG seed is printed (ERRAND_TEST_SEED replays it); counts scale with
 * ERRAND_TEST_SCALE.
 */
/* ERRAND_TEST_LABELS: stress */
#include <pthread.h>
#include <sched.h>

#include "helpers.h"

#define NSIGS 4
#define NTHREADS 4

typedef struct rec {
  atomic_int ran;
  atomic_int seen_canceled; /* observed CANCELED by a checker */
  atomic_int ran_after_cancel;
  atomic_int queued_after_abort; /* seen WAITING_TO_RUN after an abort call
                                    (ours, or another's: E_STATE) returned */
  int sig;                  /* index of its signal, -1 for none */
  int fixed;
  errand_task *t;
} rec;

typedef struct round_state {
  errand_runtime *rt;
  errand_controller *ctl[NSIGS];
  errand_signal *sig[NSIGS];
  atomic_int aborted[NSIGS];
  atomic_int abort_listener_calls[NSIGS];
  atomic_int prio_events;
  rec *recs;    /* NTHREADS * per_thread */
  int per_thread;
  atomic_int violations;
} round_state;

static int rec_task(errand_task *self, void *arg) {
  rec *r = (rec *)arg;
  (void)self;
  if (atomic_load(&r->seen_canceled)) atomic_fetch_add(&r->ran_after_cancel, 1);
  atomic_fetch_add(&r->ran, 1);
  return 0;
}

static void on_abort_cb(errand_signal *s, int code, const char *reason,
                        void *arg) {
  (void)s;
  (void)code;
  (void)reason;
  atomic_fetch_add((atomic_int *)arg, 1);
}

static void on_prio_cb(errand_signal *s, errand_priority prev,
                       errand_priority cur, void *arg) {
  (void)s;
  if (prev == cur || prev < 1 || prev > 3 || cur < 1 || cur > 3)
    atomic_fetch_add(&((round_state *)arg)->violations, 1);
  atomic_fetch_add(&((round_state *)arg)->prio_events, 1);
}

typedef struct worker_arg {
  round_state *rs;
  int index;
  uint64_t seed;
} worker_arg;

static void *poster(void *arg) {
  worker_arg *wa = (worker_arg *)arg;
  round_state *rs = wa->rs;
  check_rng r;
  int i;
  rec *mine = rs->recs + (size_t)wa->index * (size_t)rs->per_thread;
  check_rng_init(&r, wa->seed);
  for (i = 0; i < rs->per_thread; i++) {
    rec *x = &mine[i];
    errand_post_options o = post_opts();
    int k = (int)check_rng_below(&r, NSIGS + 1) - 1;
    uint64_t what = check_rng_below(&r, 100);
    x->sig = k;
    if (k >= 0) o.signal = rs->sig[k];
    if (check_rng_below(&r, 5) == 0) {
      o.priority = (errand_priority)(1 + check_rng_below(&r, 3));
      x->fixed = 1;
    }
    if (check_rng_below(&r, 10) == 0) o.delay_ms = (int64_t)check_rng_below(&r, 3);
    if (!CHECK_OK(errand_post(rs->rt, rec_task, x, &o, &x->t))) {
      atomic_fetch_add(&rs->violations, 1);
      break;
    }
    if (what < 4) {
      /* change a signal's priority */
      int c = (int)check_rng_below(&r, NSIGS);
      int rc = errand_controller_set_priority(
          rs->ctl[c], (errand_priority)(1 + check_rng_below(&r, 3)));
      if (rc != 0 && rc != ERRAND_E_STATE)
        atomic_fetch_add(&rs->violations, 1);
    } else if (what < 5 && i > rs->per_thread / 4) {
      /* abort one, then look at my tasks bound to it */
      int c = (int)check_rng_below(&r, NSIGS), j;
      int rc = errand_controller_abort(rs->ctl[c], 0, "stress abort");
      if (rc != 0 && rc != ERRAND_E_STATE) atomic_fetch_add(&rs->violations, 1);
      atomic_store(&rs->aborted[c], 1);
      for (j = 0; j <= i; j++) {
        errand_status st;
        if (mine[j].sig != c) continue;
        if (errand_task_status(mine[j].t, &st) != 0) {
          atomic_fetch_add(&rs->violations, 1);
          continue;
        }
        if (st == ERRAND_STATUS_WAITING_TO_RUN || st == ERRAND_STATUS_CREATED) {
          atomic_store(&mine[j].queued_after_abort, 1);
          if (rc == 0) { /* our own abort returned: it must be done */
            CHECK_FAILF("task %d of thread %d bound to signal %d is still %s "
                        "after errand_controller_abort returned 0",
                        j, wa->index, c, errand_status_name(st));
            atomic_fetch_add(&rs->violations, 1);
          }
        }
        if (st == ERRAND_STATUS_CANCELED)
          atomic_store(&mine[j].seen_canceled, 1);
      }
    }
    if (check_rng_below(&r, 64) == 0) check_sleep_us(50);
  }
  return NULL;
}

static void stress_round(uint64_t seed, int workers, int per_thread) {
  round_state rs;
  pthread_t th[NTHREADS];
  worker_arg wa[NTHREADS];
  errand_stats st;
  int i, n = NTHREADS * per_thread;
  long ran = 0, succeeded = 0, canceled = 0, faulted = 0, queued_then_ran = 0;
  memset(&rs, 0, sizeof rs);
  rs.rt = rt_new(workers);
  if (!rs.rt) return;
  rs.per_thread = per_thread;
  rs.recs = (rec *)calloc((size_t)n, sizeof *rs.recs);
  if (!CHECK(rs.recs)) return;
  for (i = 0; i < NSIGS; i++) {
    CHECK_OK(errand_controller_create((errand_priority)(1 + i % 3),
                                      &rs.ctl[i]));
    CHECK_OK(errand_controller_signal(rs.ctl[i], &rs.sig[i]));
    CHECK_OK(errand_signal_on_abort(rs.sig[i], NULL, on_abort_cb,
                                    &rs.abort_listener_calls[i]));
    CHECK_OK(errand_signal_on_priority_change(rs.sig[i], NULL, on_prio_cb,
                                              &rs));
  }
  for (i = 0; i < NTHREADS; i++) {
    wa[i].rs = &rs;
    wa[i].index = i;
    wa[i].seed = seed * 7919u + (uint64_t)i;
    if (!thread_start(&th[i], poster, &wa[i])) return;
  }
  for (i = 0; i < NTHREADS; i++) pthread_join(th[i], NULL);
  CHECK_OK(errand_runtime_shutdown(rs.rt, ERRAND_SHUTDOWN_DRAIN, -1));
  for (i = 0; i < n; i++) {
    rec *x = &rs.recs[i];
    errand_status s;
    unsigned f = 0, want = 0;
    if (!x->t) continue;
    if (!CHECK_OK(errand_task_status(x->t, &s))) continue;
    CHECK_OK(errand_task_flags(x->t, &f));
    if (!CHECK(is_final_status((int)s))) continue;
    switch (s) {
    case ERRAND_STATUS_RAN_TO_COMPLETION:
      want = ERRAND_FLAG_COMPLETED | ERRAND_FLAG_SUCCEEDED;
      succeeded++;
      break;
    case ERRAND_STATUS_CANCELED:
      want = ERRAND_FLAG_COMPLETED | ERRAND_FLAG_CANCELED;
      canceled++;
      break;
    default:
      want = ERRAND_FLAG_COMPLETED | ERRAND_FLAG_FAULTED;
      faulted++;
      break;
    }
    if (!CHECK_EQ_INT(f, want)) continue;
    if (!CHECK(atomic_load(&x->ran) <= 1)) continue;
    ran += atomic_load(&x->ran);
    if (!CHECK_EQ_INT(atomic_load(&x->ran) == 1,
                      s == ERRAND_STATUS_RAN_TO_COMPLETION))
      continue;
    if (!CHECK_EQ_INT(atomic_load(&x->ran_after_cancel), 0)) continue;
    /* Seen queued after an abort of its signal was observed (E_STATE from
     * a second abort): it must still never run. */
    if (atomic_load(&x->queued_after_abort) && atomic_load(&x->ran)) {
      queued_then_ran++;
      continue;
    }
    if (s == ERRAND_STATUS_CANCELED) {
      const char *m = error_msg_of(x->t);
      if (!CHECK(x->sig >= 0 && atomic_load(&rs.aborted[x->sig]))) continue;
      if (!CHECK_EQ_STR(m, "stress abort")) continue;
    }
  }
  if (!CHECK_EQ_INT(queued_then_ran, 0))
    fprintf(stderr, "  %ld task(s) seen queued after their signal's abort was "
            "observed (a second abort returned E_STATE) ran afterwards\n",
            queued_then_ran);
  CHECK_EQ_INT(faulted, 0);
  CHECK_EQ_INT(succeeded + canceled, n);
  CHECK_EQ_INT(ran, succeeded);
  CHECK_OK(errand_runtime_stats(rs.rt, &st));
  CHECK_EQ_INT(st.posted, (uint64_t)n);
  CHECK_EQ_INT(st.succeeded, (uint64_t)succeeded);
  CHECK_EQ_INT(st.canceled, (uint64_t)canceled);
  CHECK_EQ_INT(atomic_load(&rs.violations), 0);
  for (i = 0; i < NSIGS; i++) {
    int ab = 0;
    CHECK_OK(errand_signal_aborted(rs.sig[i], &ab));
    CHECK_EQ_INT(atomic_load(&rs.abort_listener_calls[i]), ab ? 1 : 0);
  }
  for (i = 0; i < n; i++) CHECK_OK(errand_task_release(rs.recs[i].t));
  for (i = 0; i < NSIGS; i++) {
    CHECK_OK(errand_signal_release(rs.sig[i]));
    CHECK_OK(errand_controller_release(rs.ctl[i]));
  }
  CHECK_OK(errand_runtime_destroy(rs.rt));
  free(rs.recs);
}

TEST(concurrent_posts_priority_changes_and_aborts) {
  uint64_t seed = check_seed("signal stress");
  int rounds = check_iters(20), r;
  for (r = 0; r < rounds && !check_failed(); r++)
    stress_round(seed + (uint64_t)r, 1 + r % 3, check_iters(2000));
}

/* Many threads abort the same signal at once: exactly one succeeds, the
 * listeners are told once, every bound task ends once. */
typedef struct abort_race {
  errand_controller *c;
  atomic_int go;
  atomic_int ok;
  atomic_int state_err;
} abort_race;

static void *aborter(void *arg) {
  abort_race *a = (abort_race *)arg;
  int rc;
  while (!atomic_load(&a->go)) {
  }
  rc = errand_controller_abort(a->c, 0, "race");
  if (rc == 0) atomic_fetch_add(&a->ok, 1);
  if (rc == ERRAND_E_STATE) atomic_fetch_add(&a->state_err, 1);
  return NULL;
}

TEST(racing_aborts_one_wins_listeners_once) {
  int it, iters = check_iters(100);
  for (it = 0; it < iters && !check_failed(); it++) {
    abort_race a;
    errand_signal *s = NULL;
    atomic_int calls;
    pthread_t th[4];
    errand_task *ts[64];
    errand_post_options o = post_opts();
    atomic_int ran;
    int i;
    errand_runtime *rt = rt_new(2);
    REQUIRE(rt);
    memset(&a, 0, sizeof a);
    atomic_init(&calls, 0);
    atomic_init(&ran, 0);
    REQUIRE_OK(errand_controller_create(0, &a.c));
    REQUIRE_OK(errand_controller_signal(a.c, &s));
    REQUIRE_OK(errand_signal_on_abort(s, NULL, on_abort_cb, &calls));
    o.signal = s;
    for (i = 0; i < 64; i++)
      REQUIRE_OK(errand_post(rt, count_task, &ran, &o, &ts[i]));
    for (i = 0; i < 4; i++) REQUIRE(thread_start(&th[i], aborter, &a));
    atomic_store(&a.go, 1);
    for (i = 0; i < 4; i++) pthread_join(th[i], NULL);
    CHECK_EQ_INT(atomic_load(&a.ok), 1);
    CHECK_EQ_INT(atomic_load(&a.state_err), 3);
    CHECK_EQ_INT(atomic_load(&calls), 1);
    CHECK_OK(errand_wait_all(ts, 64, CHECK_LONG_MS));
    {
      int succ = 0, canc = 0;
      for (i = 0; i < 64; i++) {
        int st = status_of(ts[i]);
        succ += st == ERRAND_STATUS_RAN_TO_COMPLETION;
        canc += st == ERRAND_STATUS_CANCELED;
        CHECK_OK(errand_task_release(ts[i]));
      }
      CHECK_EQ_INT(succ + canc, 64);
      CHECK_EQ_INT(succ, atomic_load(&ran));
    }
    CHECK_OK(errand_signal_release(s));
    CHECK_OK(errand_controller_release(a.c));
    CHECK_OK(errand_runtime_destroy(rt));
  }
}

/* Posts racing priority changes: once both stop, every queued task that
 * follows the signal has the signal's final priority, and runs in the
 * signal's level (1 worker held busy throughout). */
typedef struct prio_race {
  errand_runtime *rt;
  errand_controller *c;
  errand_signal *s;
  int n;
  errand_task **ts;
  atomic_int go;
  atomic_int stop;
  atomic_int posted;
} prio_race;

static void *race_poster(void *arg) {
  prio_race *p = (prio_race *)arg;
  errand_post_options o = post_opts();
  int i;
  o.signal = p->s;
  while (!atomic_load(&p->go)) {
  }
  for (i = 0; i < p->n; i++) {
    if (!CHECK_OK(errand_post(p->rt, noop_task, NULL, &o, &p->ts[i]))) break;
    atomic_fetch_add(&p->posted, 1);
  }
  atomic_store(&p->stop, 1);
  return NULL;
}

static void *race_changer(void *arg) {
  prio_race *p = (prio_race *)arg;
  unsigned k = 0;
  while (!atomic_load(&p->go)) {
  }
  while (!atomic_load(&p->stop)) {
    int seen = atomic_load(&p->posted);
    errand_controller_set_priority(
        p->c, (k++ & 1) ? ERRAND_PRIORITY_USER_BLOCKING
                        : ERRAND_PRIORITY_BACKGROUND);
    /* One change per post at most: a change holds the signal's lock while
     * it walks every bound task, and a loop that takes it again at once
     * kept the poster waiting for that lock for minutes under
     * ThreadSanitizer (the mutex is not fair).  The change still lands
     * anywhere inside a post. */
    while (atomic_load(&p->posted) == seen && !atomic_load(&p->stop))
      sched_yield();
  }
  return NULL;
}

TEST(posts_racing_priority_changes_end_at_the_signal_priority) {
  int it, iters = check_iters(30), stale_total = 0;
  for (it = 0; it < iters && !check_failed(); it++) {
    prio_race p;
    gate g;
    errand_task *hold[1];
    pthread_t a, b;
    errand_priority final_p;
    int i, stale = 0;
    errand_runtime_options ro;
    memset(&ro, 0, sizeof ro);
    ro.workers = 1;
    ro.max_compensating = -1;
    memset(&p, 0, sizeof p);
    p.rt = rt_new_opts(&ro);
    REQUIRE(p.rt);
    gate_init(&g);
    REQUIRE(hold_workers(p.rt, &g, 1, hold));
    p.n = 500;
    p.ts = (errand_task **)calloc((size_t)p.n, sizeof *p.ts);
    REQUIRE(p.ts);
    REQUIRE_OK(errand_controller_create(ERRAND_PRIORITY_USER_VISIBLE, &p.c));
    REQUIRE_OK(errand_controller_signal(p.c, &p.s));
    REQUIRE(thread_start(&a, race_poster, &p));
    REQUIRE(thread_start(&b, race_changer, &p));
    atomic_store(&p.go, 1);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    CHECK_OK(errand_signal_priority(p.s, &final_p));
    for (i = 0; i < p.n; i++) {
      errand_priority tp = ERRAND_PRIORITY_DEFAULT;
      if (!p.ts[i]) continue;
      CHECK_OK(errand_task_priority(p.ts[i], &tp));
      if (tp != final_p) {
        if (!stale)
          fprintf(stderr, "  round %d: task %d has %s, its signal %s\n", it,
                  i, errand_priority_name(tp), errand_priority_name(final_p));
        stale++;
      }
    }
    stale_total += stale;
    gate_open(&g);
    CHECK_OK(errand_runtime_shutdown(p.rt, ERRAND_SHUTDOWN_DRAIN, -1));
    for (i = 0; i < p.n; i++) CHECK_OK(errand_task_release(p.ts[i]));
    free(p.ts);
    CHECK_OK(errand_task_release(hold[0]));
    CHECK_OK(errand_signal_release(p.s));
    CHECK_OK(errand_controller_release(p.c));
    CHECK_OK(errand_runtime_destroy(p.rt));
  }
  CHECK_EQ_INT(stale_total, 0);
}

CHECK_MAIN()
