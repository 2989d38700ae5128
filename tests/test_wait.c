/*
 * test_wait.c — item 4: wait for one, all or any, each with a timeout
 * (0 = poll, negative = forever); wait-any says which one finished; waiting
 * inside a pool task runs other queued work, so recursive fib with a task
 * per call completes with 1 worker and with N.
 */
#include "helpers.h"

TEST(wait_forever_returns_when_the_task_is_final) {
  errand_task *t = NULL;
  gate g;
  errand_runtime *rt = rt_new(2);
  REQUIRE(rt);
  gate_init(&g);
  t = post_gate(rt, &g);
  REQUIRE(t);
  REQUIRE(check_wait_count(&g.started, 1, CHECK_LONG_MS));
  gate_open(&g);
  CHECK_OK(errand_wait(t, -1));
  CHECK_EQ_INT(atomic_load(&g.finished), 1);
  CHECK_EQ_INT(status_of(t), ERRAND_STATUS_RAN_TO_COMPLETION);
  CHECK_OK(errand_wait(t, 0)); /* a final task polls as done */
  CHECK_OK(errand_wait(t, 10));
  CHECK_OK(errand_task_release(t));
  CHECK_OK(errand_runtime_destroy(rt));
}

TEST(wait_timeout_0_polls_and_positive_times_out_not_early) {
  gate g;
  errand_task *t;
  const int64_t waits[] = {1, 20, 75};
  size_t i;
  errand_runtime *rt = rt_new(1);
  REQUIRE(rt);
  gate_init(&g);
  t = post_gate(rt, &g);
  REQUIRE(t);
  CHECK_RC(errand_wait(t, 0), ERRAND_E_TIMEOUT);
  REQUIRE(check_wait_count(&g.started, 1, CHECK_LONG_MS));
  CHECK_RC(errand_wait(t, 0), ERRAND_E_TIMEOUT);
  for (i = 0; i < sizeof waits / sizeof waits[0]; i++) {
    int64_t t0 = check_now_ns();
    CHECK_RC(errand_wait(t, waits[i]), ERRAND_E_TIMEOUT);
    CHECK(check_now_ns() - t0 >= waits[i] * 1000000LL);
  }
  /* A timed-out wait did not change the task. */
  CHECK_EQ_INT(status_of(t), ERRAND_STATUS_RUNNING);
  gate_open(&g);
  CHECK_OK(errand_wait(t, -1));
  CHECK_OK(errand_task_release(t));
  CHECK_OK(errand_runtime_destroy(rt));
}

static int faulting_task(errand_task *self, void *arg) {
  (void)arg;
  return errand_task_fail(self, 99, "boom");
}

TEST(wait_returns_0_for_faulted_and_canceled_tasks_too) {
  gate g;
  errand_task *hold[1], *c = NULL, *f = NULL;
  errand_runtime *rt = rt_new(1);
  REQUIRE(rt);
  gate_init(&g);
  REQUIRE(hold_workers(rt, &g, 1, hold));
  REQUIRE_OK(errand_post(rt, noop_task, NULL, NULL, &c));
  CHECK_OK(errand_task_cancel(c));
  CHECK_OK(errand_wait(c, 0));
  CHECK_OK(errand_wait(c, -1));
  gate_open(&g);
  REQUIRE_OK(errand_post(rt, faulting_task, NULL, NULL, &f));
  CHECK_OK(errand_wait(f, -1));
  CHECK_EQ_INT(status_of(f), ERRAND_STATUS_FAULTED);
  CHECK_EQ_INT(status_of(c), ERRAND_STATUS_CANCELED);
  CHECK_OK(errand_task_release(f));
  CHECK_OK(errand_task_release(c));
  CHECK_OK(errand_task_release(hold[0]));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* Several external threads wait on one task; all wake. */
typedef struct many_w {
  errand_task *t;
  atomic_int woke;
  atomic_int bad;
} many_w;

static void *waiter_thread(void *arg) {
  many_w *m = (many_w *)arg;
  int rc = errand_wait(m->t, -1);
  if (rc != 0) atomic_fetch_add(&m->bad, 1);
  atomic_fetch_add(&m->woke, 1);
  return NULL;
}

TEST(every_waiter_of_a_task_wakes) {
  enum { W = 6 };
  gate g;
  many_w m;
  pthread_t th[W];
  int i;
  errand_runtime *rt = rt_new(1);
  REQUIRE(rt);
  gate_init(&g);
  m.t = post_gate(rt, &g);
  REQUIRE(m.t);
  atomic_init(&m.woke, 0);
  atomic_init(&m.bad, 0);
  for (i = 0; i < W; i++) REQUIRE(thread_start(&th[i], waiter_thread, &m));
  check_sleep_ms(20);
  CHECK_EQ_INT(atomic_load(&m.woke), 0);
  gate_open(&g);
  for (i = 0; i < W; i++) pthread_join(th[i], NULL);
  CHECK_EQ_INT(atomic_load(&m.woke), W);
  CHECK_EQ_INT(atomic_load(&m.bad), 0);
  CHECK_OK(errand_task_release(m.t));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* --------------------------------------------------------------------- */
/* wait_all                                                               */
/* --------------------------------------------------------------------- */

TEST(wait_all_waits_for_every_task) {
  enum { N = 5 };
  gate g[N];
  errand_task *t[N];
  int i;
  errand_runtime *rt = rt_new(N);
  REQUIRE(rt);
  for (i = 0; i < N; i++) {
    gate_init(&g[i]);
    t[i] = post_gate(rt, &g[i]);
    REQUIRE(t[i]);
  }
  CHECK_RC(errand_wait_all(t, N, 0), ERRAND_E_TIMEOUT);
  /* Open all but the last: still not all final. */
  for (i = 0; i < N - 1; i++) gate_open(&g[i]);
  for (i = 0; i < N - 1; i++) CHECK_OK(errand_wait(t[i], -1));
  CHECK_RC(errand_wait_all(t, N, 0), ERRAND_E_TIMEOUT);
  {
    int64_t t0 = check_now_ns();
    CHECK_RC(errand_wait_all(t, N, 30), ERRAND_E_TIMEOUT);
    CHECK(check_now_ns() - t0 >= 30 * 1000000LL);
  }
  /* The first N-1 alone are all final. */
  CHECK_OK(errand_wait_all(t, N - 1, 0));
  gate_open(&g[N - 1]);
  CHECK_OK(errand_wait_all(t, N, -1));
  for (i = 0; i < N; i++) {
    CHECK_EQ_INT(status_of(t[i]), ERRAND_STATUS_RAN_TO_COMPLETION);
    CHECK_OK(errand_task_release(t[i]));
  }
  CHECK_OK(errand_runtime_destroy(rt));
}

/* The tasks end in a random order (a worker each; a thread opens their
 * gates shuffled, at random moments): wait_all returns only once every one
 * is final, whichever of them it happened to wait for. */
typedef struct opener {
  gate *g;
  int n;
  check_rng rng;
} opener;

static void *open_shuffled(void *arg) {
  opener *o = arg;
  int order[16], i;
  for (i = 0; i < o->n; i++) order[i] = i;
  for (i = o->n - 1; i > 0; i--) {
    int j = (int)check_rng_below(&o->rng, (uint64_t)i + 1), x = order[i];
    order[i] = order[j];
    order[j] = x;
  }
  for (i = 0; i < o->n; i++) {
    check_sleep_us((int64_t)check_rng_below(&o->rng, 300));
    gate_open(&o->g[order[i]]);
  }
  return NULL;
}

TEST(wait_all_returns_when_the_last_one_ends_in_any_order) {
  int rounds = check_iters(40), r;
  check_rng rng;
  check_rng_init(&rng, check_seed("wait_all any order"));
  for (r = 0; r < rounds && !check_failed(); r++) {
    enum { N = 12 };
    gate g[N];
    errand_task *t[N];
    opener o;
    pthread_t th;
    int i, n = 2 + (int)check_rng_below(&rng, N - 1);
    /* A worker per task: they end in the order their gates open. */
    errand_runtime *rt = rt_new(n);
    REQUIRE(rt);
    for (i = 0; i < n; i++) {
      gate_init(&g[i]);
      t[i] = post_gate(rt, &g[i]);
      REQUIRE(t[i]);
    }
    o.g = g;
    o.n = n;
    check_rng_init(&o.rng, check_rng_below(&rng, UINT64_MAX));
    REQUIRE(pthread_create(&th, NULL, open_shuffled, &o) == 0);
    CHECK_OK(errand_wait_all(t, (size_t)n, -1));
    for (i = 0; i < n; i++)
      if (!CHECK(is_final_status(status_of(t[i]))))
        printf("  round %d: task %d of %d not final\n", r, i, n);
    pthread_join(th, NULL);
    for (i = 0; i < n; i++) CHECK_OK(errand_task_release(t[i]));
    CHECK_OK(errand_runtime_destroy(rt));
  }
}

TEST(wait_all_with_a_repeated_entry) {
  errand_task *t = NULL, *list[3];
  errand_runtime *rt = rt_new(1);
  REQUIRE(rt);
  REQUIRE_OK(errand_post(rt, noop_task, NULL, NULL, &t));
  list[0] = list[1] = list[2] = t;
  CHECK_OK(errand_wait_all(list, 3, -1));
  CHECK_OK(errand_task_release(t));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* --------------------------------------------------------------------- */
/* wait_any                                                               */
/* --------------------------------------------------------------------- */

TEST(wait_any_says_which_one_finished) {
  enum { N = 4 };
  gate g[N];
  errand_task *t[N];
  int i, k;
  errand_runtime *rt = rt_new(N);
  REQUIRE(rt);
  for (k = 0; k < N; k++) { /* each position in turn finishes first */
    size_t idx = 99;
    for (i = 0; i < N; i++) {
      gate_init(&g[i]);
      t[i] = post_gate(rt, &g[i]);
      REQUIRE(t[i]);
    }
    REQUIRE(check_wait_count(&g[0].started, 1, CHECK_LONG_MS));
    CHECK_RC(errand_wait_any(t, N, 0, &idx), ERRAND_E_TIMEOUT);
    CHECK_RC(errand_wait_any(t, N, 15, NULL), ERRAND_E_TIMEOUT);
    gate_open(&g[k]);
    CHECK_OK(errand_wait_any(t, N, -1, &idx));
    CHECK_EQ_INT(idx, k);
    CHECK_EQ_INT(status_of(t[k]), ERRAND_STATUS_RAN_TO_COMPLETION);
    for (i = 0; i < N; i++) gate_open(&g[i]);
    CHECK_OK(errand_wait_all(t, N, -1));
    for (i = 0; i < N; i++) CHECK_OK(errand_task_release(t[i]));
  }
  CHECK_OK(errand_runtime_destroy(rt));
}

TEST(wait_any_gives_the_lowest_final_position) {
  gate g;
  errand_task *t[4] = {NULL, NULL, NULL, NULL};
  size_t idx = 99;
  errand_runtime *rt = rt_new(2);
  REQUIRE(rt);
  gate_init(&g);
  t[0] = post_gate(rt, &g);
  REQUIRE(t[0]);
  REQUIRE_OK(errand_post(rt, noop_task, NULL, NULL, &t[1]));
  REQUIRE_OK(errand_post(rt, noop_task, NULL, NULL, &t[2]));
  t[3] = post_gate(rt, &g);
  REQUIRE(t[3]);
  CHECK_OK(errand_wait(t[1], -1));
  CHECK_OK(errand_wait(t[2], -1));
  CHECK_OK(errand_wait_any(t, 4, -1, &idx));
  CHECK_EQ_INT(idx, 1);
  CHECK_OK(errand_wait_any(t + 2, 2, 0, &idx));
  CHECK_EQ_INT(idx, 0); /* relative to the array it was given */
  gate_open(&g);
  CHECK_OK(errand_wait_all(t, 4, -1));
  CHECK_OK(errand_wait_any(t, 4, 0, &idx));
  CHECK_EQ_INT(idx, 0);
  for (idx = 0; idx < 4; idx++) CHECK_OK(errand_task_release(t[idx]));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* A task that never completes until a flag is set; waiters from another
 * thread with a timeout > 0 return E_TIMEOUT, then 0 after the flag. */
typedef struct timed_w {
  errand_task *list[2];
  atomic_int rc_timed;
  atomic_int timed_done;
  atomic_int rc_forever;
} timed_w;

static void *timed_waiter(void *arg) {
  timed_w *w = (timed_w *)arg;
  size_t idx = 7;
  atomic_store(&w->rc_timed, errand_wait_any(w->list, 2, 25, &idx));
  atomic_store(&w->timed_done, 1);
  atomic_store(&w->rc_forever, errand_wait_any(w->list, 2, -1, &idx));
  if (idx != 1) atomic_store(&w->rc_forever, -1000 - (int)idx);
  return NULL;
}

TEST(wait_any_from_another_thread_times_out_then_wakes) {
  gate g1, g2;
  timed_w w;
  pthread_t th;
  errand_runtime *rt = rt_new(2);
  REQUIRE(rt);
  gate_init(&g1);
  gate_init(&g2);
  w.list[0] = post_gate(rt, &g1);
  w.list[1] = post_gate(rt, &g2);
  REQUIRE(w.list[0] && w.list[1]);
  atomic_init(&w.rc_timed, -1);
  atomic_init(&w.timed_done, 0);
  atomic_init(&w.rc_forever, -1);
  REQUIRE(thread_start(&th, timed_waiter, &w));
  /* Both gates stay shut until the timed wait is over. */
  CHECK(check_wait_flag(&w.timed_done, CHECK_LONG_MS));
  check_sleep_ms(10); /* most likely inside the forever wait by now */
  gate_open(&g2);
  pthread_join(th, NULL);
  CHECK_RC(atomic_load(&w.rc_timed), ERRAND_E_TIMEOUT);
  CHECK_RC(atomic_load(&w.rc_forever), ERRAND_OK);
  gate_open(&g1);
  CHECK_OK(errand_wait_all(w.list, 2, -1));
  CHECK_OK(errand_task_release(w.list[0]));
  CHECK_OK(errand_task_release(w.list[1]));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* --------------------------------------------------------------------- */
/* Waiting inside pool tasks: help-while-wait                             */
/* --------------------------------------------------------------------- */

typedef struct fj {
  errand_runtime *rt;
  atomic_int inner_ran;
  atomic_int rc;
} fj;

static int inner_task(errand_task *self, void *arg) {
  (void)self;
  atomic_fetch_add(&((fj *)arg)->inner_ran, 1);
  return 0;
}

static int outer_task(errand_task *self, void *arg) {
  fj *f = (fj *)arg;
  errand_task *kids[3] = {NULL, NULL, NULL};
  int i, rc;
  size_t idx = 9;
  (void)self;
  for (i = 0; i < 3; i++) {
    rc = errand_post(f->rt, inner_task, f, NULL, &kids[i]);
    if (rc) {
      atomic_store(&f->rc, rc);
      return rc;
    }
  }
  rc = errand_wait_any(kids, 3, -1, &idx); /* with 1 worker this must help */
  if (rc == 0) rc = errand_wait(kids[2], -1);
  if (rc == 0) rc = errand_wait_all(kids, 3, -1);
  atomic_store(&f->rc, rc);
  for (i = 0; i < 3; i++) errand_task_release(kids[i]);
  return rc;
}

TEST(waiting_inside_a_pool_task_with_one_worker_runs_the_work) {
  fj f;
  errand_task *t = NULL;
  errand_runtime *rt = rt_new(1);
  REQUIRE(rt);
  f.rt = rt;
  atomic_init(&f.inner_ran, 0);
  atomic_init(&f.rc, -1);
  REQUIRE_OK(errand_post(rt, outer_task, &f, NULL, &t));
  CHECK_OK(errand_wait(t, -1));
  CHECK_RC(atomic_load(&f.rc), ERRAND_OK);
  CHECK_EQ_INT(atomic_load(&f.inner_ran), 3);
  CHECK_EQ_INT(status_of(t), ERRAND_STATUS_RAN_TO_COMPLETION);
  CHECK_OK(errand_task_release(t));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* fib(n) with a task per call and no cutoff. */
static errand_runtime *fib_rt;
static atomic_int fib_errors;

static int fib_task(errand_task *self, void *arg) {
  intptr_t n = (intptr_t)arg;
  errand_task *a = NULL, *b = NULL;
  void *va = NULL, *vb = NULL;
  int rc;
  if (n < 2) return errand_task_set_result(self, (void *)n, NULL);
  rc = errand_post(fib_rt, fib_task, (void *)(n - 1), NULL, &a);
  if (rc == 0) rc = errand_post(fib_rt, fib_task, (void *)(n - 2), NULL, &b);
  if (rc == 0) rc = errand_wait(a, -1);
  if (rc == 0) rc = errand_wait(b, -1);
  if (rc == 0) rc = errand_task_result(a, &va);
  if (rc == 0) rc = errand_task_result(b, &vb);
  errand_task_release(a);
  errand_task_release(b);
  if (rc != 0) {
    atomic_fetch_add(&fib_errors, 1);
    return errand_task_fail(self, rc, "fib(%ld): %s", (long)n,
                            errand_strerror(rc));
  }
  return errand_task_set_result(self, (void *)((intptr_t)va + (intptr_t)vb),
                                NULL);
}

static intptr_t fib_plain(intptr_t n) {
  intptr_t a = 0, b = 1, i;
  for (i = 0; i < n; i++) {
    intptr_t c = a + b;
    a = b;
    b = c;
  }
  return a;
}

/* fib(30) at scale 1; smaller n under a smaller ERRAND_TEST_SCALE (each step
 * down divides the task count by ~1.6).  ERRAND_TEST_FIB_N overrides. */
static int fib_n(void) {
  const char *s = getenv("ERRAND_TEST_FIB_N");
  double sc = check_scale();
  int n;
  if (s && *s) return atoi(s);
  n = 30;
  while (sc < 0.999 && n > 15) { /* one step down per factor of ~1.618 */
    sc *= 1.618;
    n--;
  }
  return n;
}

/* spin_us: the pool's option (-1: neither a worker looking for work nor
 * one waiting for a task spins; they sleep and are woken). */
static void run_fib(int workers, int spin_us) {
  errand_task *t = NULL;
  void *v = NULL;
  int n = fib_n();
  errand_runtime_options o;
  memset(&o, 0, sizeof o);
  o.workers = workers;
  o.spin_us = spin_us;
  errand_runtime *rt = rt_new_opts(&o);
  REQUIRE(rt);
  fib_rt = rt;
  atomic_store(&fib_errors, 0);
  printf("  fib(%d) with %d worker(s), spin_us %d\n", n, workers, spin_us);
  REQUIRE_OK(errand_post(rt, fib_task, (void *)(intptr_t)n, NULL, &t));
  CHECK_OK(errand_wait(t, -1));
  CHECK_EQ_INT(status_of(t), ERRAND_STATUS_RAN_TO_COMPLETION);
  if (CHECK_OK(errand_task_result(t, &v))) {
    CHECK_EQ_INT((intptr_t)v, fib_plain(n));
    if (n == 30) CHECK_EQ_INT((intptr_t)v, 832040);
  }
  CHECK_EQ_INT(atomic_load(&fib_errors), 0);
  CHECK_OK(errand_task_release(t));
  CHECK_OK(errand_runtime_destroy(rt));
}

TEST(fib_task_per_call_with_1_worker) { run_fib(1, 0); }
TEST(fib_task_per_call_with_2_workers) { run_fib(2, 0); }
/* Waiting workers sleep at once, and every resume is a wake-up. */
TEST(fib_task_per_call_with_2_workers_that_never_spin) { run_fib(2, -1); }
/* More workers than CPUs: waiting workers do not spin there either. */
TEST(fib_task_per_call_with_all_cpus_plus_one) {
  run_fib(check_ncpu() + 1, 0);
}

/* fib from a dedicated thread root: its waits block (it is not a pool
 * worker) while the pool does the work. */
TEST(fib_rooted_in_a_dedicated_task) {
  errand_task *t = NULL;
  void *v = NULL;
  errand_post_options o = post_opts();
  errand_runtime *rt = rt_new(2);
  REQUIRE(rt);
  fib_rt = rt;
  atomic_store(&fib_errors, 0);
  o.mode = ERRAND_MODE_DEDICATED;
  REQUIRE_OK(errand_post(rt, fib_task, (void *)(intptr_t)20, &o, &t));
  CHECK_OK(errand_wait(t, -1));
  if (CHECK_OK(errand_task_result(t, &v))) CHECK_EQ_INT((intptr_t)v, 6765);
  CHECK_OK(errand_task_release(t));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* Randomised: waits with random timeouts against tasks that finish at
 * random moments; a wait that returns 0 must see a final task, a timed-out
 * one must not have waited less than its timeout. */
typedef struct rnd_arg {
  int sleep_us;
} rnd_arg;

static int rnd_task(errand_task *self, void *arg) {
  (void)self;
  check_sleep_us(((rnd_arg *)arg)->sleep_us);
  return 0;
}

TEST(random_timeouts_are_consistent_with_status) {
  int iters = check_iters(300), it;
  check_rng r;
  errand_runtime *rt = rt_new(3);
  REQUIRE(rt);
  check_rng_init(&r, check_seed("random_timeouts"));
  for (it = 0; it < iters && !check_failed(); it++) {
    enum { N = 3 };
    errand_task *t[N];
    rnd_arg a[N];
    int i, rc;
    int64_t timeout = (int64_t)check_rng_below(&r, 4) - 1; /* -1..2 */
    int64_t t0;
    size_t idx = 99;
    for (i = 0; i < N; i++) {
      a[i].sleep_us = (int)check_rng_below(&r, 3000);
      REQUIRE_OK(errand_post(rt, rnd_task, &a[i], NULL, &t[i]));
    }
    t0 = check_now_ns();
    switch (check_rng_below(&r, 3)) {
    case 0:
      rc = errand_wait(t[0], timeout);
      if (rc == 0) CHECK(is_final_status(status_of(t[0])));
      break;
    case 1:
      rc = errand_wait_all(t, N, timeout);
      if (rc == 0)
        for (i = 0; i < N; i++) CHECK(is_final_status(status_of(t[i])));
      break;
    default:
      rc = errand_wait_any(t, N, timeout, &idx);
      if (rc == 0 && CHECK(idx < N)) CHECK(is_final_status(status_of(t[idx])));
      break;
    }
    if (rc != 0) {
      CHECK_RC(rc, ERRAND_E_TIMEOUT);
      CHECK(timeout >= 0);
      CHECK(check_now_ns() - t0 >= timeout * 1000000LL);
    }
    CHECK_OK(errand_wait_all(t, N, -1));
    for (i = 0; i < N; i++) CHECK_OK(errand_task_release(t[i]));
  }
  CHECK_OK(errand_runtime_destroy(rt));
}

CHECK_MAIN()
