/*
 * test_dedicated.c — item 6: a dedicated task gets a thread of its own.
 * With every pool worker busy, N long dedicated tasks still start at once,
 * and pool tasks keep running beside them; the thread goes when the task
 * ends.
 */
#include "helpers.h"
#include "probes.h"

typedef struct ded {
  gate *g;
  pthread_t thread;
  errand_task *current;
  errand_task *self;
} ded;

static int ded_task(errand_task *self, void *arg) {
  ded *d = (ded *)arg;
  d->thread = pthread_self();
  d->current = errand_task_current();
  d->self = self;
  return gate_task(self, d->g);
}

TEST(dedicated_tasks_start_while_every_pool_worker_is_busy) {
  enum { W = 2, N = 6 };
  gate pool_g, ded_g;
  errand_task *hold[W], *t[N];
  ded d[N];
  errand_post_options o = post_opts();
  errand_stats st;
  int i, j;
  errand_runtime_options ro;
  errand_runtime *rt;
  memset(&ro, 0, sizeof ro);
  ro.workers = W;
  ro.max_compensating = -1;
  rt = rt_new_opts(&ro);
  REQUIRE(rt);
  gate_init(&pool_g);
  gate_init(&ded_g);
  REQUIRE(hold_workers(rt, &pool_g, W, hold));
  o.mode = ERRAND_MODE_DEDICATED;
  for (i = 0; i < N; i++) {
    d[i].g = &ded_g;
    REQUIRE_OK(errand_post(rt, ded_task, &d[i], &o, &t[i]));
  }
  /* All N run at the same time although no pool worker is free. */
  CHECK(check_wait_count(&ded_g.started, N, CHECK_LONG_MS));
  CHECK_EQ_INT(atomic_load(&pool_g.finished), 0);
  for (i = 0; i < N; i++) CHECK_EQ_INT(status_of(t[i]), ERRAND_STATUS_RUNNING);
  if (CHECK_OK(errand_runtime_stats(rt, &st))) {
    CHECK_EQ_INT(st.dedicated_running, N);
    CHECK_EQ_INT(st.running, N + W);
  }
  /* Each on a thread of its own. */
  for (i = 0; i < N; i++) {
    CHECK(!pthread_equal(d[i].thread, pthread_self()));
    CHECK(d[i].current == t[i]);
    CHECK(d[i].self == t[i]);
    for (j = i + 1; j < N; j++) CHECK(!pthread_equal(d[i].thread, d[j].thread));
  }
  gate_open(&ded_g);
  gate_open(&pool_g);
  CHECK_OK(errand_wait_all(t, N, -1));
  for (i = 0; i < N; i++) {
    CHECK_EQ_INT(status_of(t[i]), ERRAND_STATUS_RAN_TO_COMPLETION);
    CHECK_OK(errand_task_release(t[i]));
  }
  for (i = 0; i < W; i++) CHECK_OK(errand_task_release(hold[i]));
  CHECK_OK(errand_runtime_destroy(rt));
}

TEST(pool_tasks_keep_running_beside_long_dedicated_tasks) {
  enum { W = 2, N = 4, P = 200 };
  gate ded_g;
  errand_task *t[N], *p[P];
  ded d[N];
  errand_post_options o = post_opts();
  atomic_int count;
  int i;
  errand_runtime *rt = rt_new(W);
  REQUIRE(rt);
  gate_init(&ded_g);
  atomic_init(&count, 0);
  o.mode = ERRAND_MODE_DEDICATED;
  for (i = 0; i < N; i++) {
    d[i].g = &ded_g;
    REQUIRE_OK(errand_post(rt, ded_task, &d[i], &o, &t[i]));
  }
  REQUIRE(check_wait_count(&ded_g.started, N, CHECK_LONG_MS));
  for (i = 0; i < P; i++) REQUIRE_OK(errand_post(rt, count_task, &count, NULL, &p[i]));
  /* The dedicated ones are still running (their gate is shut). */
  CHECK_OK(errand_wait_all(p, P, CHECK_LONG_MS));
  CHECK_EQ_INT(atomic_load(&count), P);
  CHECK_EQ_INT(atomic_load(&ded_g.finished), 0);
  gate_open(&ded_g);
  CHECK_OK(errand_wait_all(t, N, -1));
  for (i = 0; i < P; i++) CHECK_OK(errand_task_release(p[i]));
  for (i = 0; i < N; i++) CHECK_OK(errand_task_release(t[i]));
  CHECK_OK(errand_runtime_destroy(rt));
}

typedef struct tid {
  pthread_t thread;
} tid;

static int record_thread(errand_task *self, void *arg) {
  (void)self;
  ((tid *)arg)->thread = pthread_self();
  return 0;
}

TEST(dedicated_thread_is_not_a_pool_worker) {
  tid pool_tid, ded_tid[3];
  errand_task *t = NULL;
  errand_post_options o = post_opts();
  int i;
  errand_runtime *rt = rt_new(1);
  REQUIRE(rt);
  REQUIRE_OK(errand_post(rt, record_thread, &pool_tid, NULL, &t));
  CHECK_OK(errand_wait(t, -1));
  CHECK_OK(errand_task_release(t));
  o.mode = ERRAND_MODE_DEDICATED;
  for (i = 0; i < 3; i++) {
    REQUIRE_OK(errand_post(rt, record_thread, &ded_tid[i], &o, &t));
    CHECK_OK(errand_wait(t, -1));
    CHECK_OK(errand_task_release(t));
    CHECK(!pthread_equal(ded_tid[i].thread, pool_tid.thread));
    CHECK(!pthread_equal(ded_tid[i].thread, pthread_self()));
  }
  CHECK_OK(errand_runtime_destroy(rt));
}

TEST(dedicated_thread_goes_away_when_its_task_ends) {
  enum { N = 5 };
  gate g;
  errand_task *t[N];
  errand_post_options o = post_opts();
  int i, base, during, after = -1;
  int64_t end;
  errand_runtime *rt = rt_new(1);
  REQUIRE(rt);
  gate_init(&g);
  /* Warm up: one dedicated task first, so a helper thread errand may start
   * lazily on first use is already counted in the base. */
  o.mode = ERRAND_MODE_DEDICATED;
  REQUIRE_OK(errand_post(rt, noop_task, NULL, &o, &t[0]));
  CHECK_OK(errand_wait(t[0], -1));
  CHECK_OK(errand_task_release(t[0]));
  /* Base: the fewest threads seen over a short while (the warm-up thread
   * may still be on its way out). */
  base = probe_threads();
  for (i = 0; i < 40; i++) {
    int c;
    check_sleep_ms(5);
    c = probe_threads();
    if (c < base) base = c;
  }
  REQUIRE(base > 0);
  o.mode = ERRAND_MODE_DEDICATED;
  for (i = 0; i < N; i++) REQUIRE_OK(errand_post(rt, gate_task, &g, &o, &t[i]));
  REQUIRE(check_wait_count(&g.started, N, CHECK_LONG_MS));
  during = probe_threads();
  CHECK(during >= base + N);
  gate_open(&g);
  CHECK_OK(errand_wait_all(t, N, -1));
  /* The threads exit after the task is final; give them a moment. */
  end = check_now_ms() + CHECK_LONG_MS;
  while (check_now_ms() < end && (after = probe_threads()) > base)
    check_sleep_ms(5);
  CHECK(after <= base);
  for (i = 0; i < N; i++) CHECK_OK(errand_task_release(t[i]));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* A dedicated task can do everything a pool task can: children, waits
 * (which block its own thread), results and failures. */
static errand_runtime *d_rt;

static int child_value(errand_task *self, void *arg) {
  return errand_task_set_result(self, arg, NULL);
}

static int ded_parent(errand_task *self, void *arg) {
  errand_task *kids[4];
  errand_post_options o = post_opts();
  intptr_t sum = 0;
  int i, rc = 0;
  (void)arg;
  o.parent = self;
  for (i = 0; i < 4; i++) {
    rc = errand_post(d_rt, child_value, (void *)(intptr_t)(i + 1), &o, &kids[i]);
    if (rc) return errand_task_fail(self, rc, "post: %s", errand_strerror(rc));
  }
  rc = errand_wait_all(kids, 4, -1);
  for (i = 0; i < 4; i++) {
    void *v = NULL;
    if (rc == 0) rc = errand_task_result(kids[i], &v);
    sum += (intptr_t)v;
    errand_task_release(kids[i]);
  }
  if (rc) return errand_task_fail(self, rc, "wait: %s", errand_strerror(rc));
  return errand_task_set_result(self, (void *)sum, NULL);
}

TEST(dedicated_task_posts_and_waits_for_pool_children) {
  errand_task *t = NULL;
  errand_post_options o = post_opts();
  void *v = NULL;
  errand_runtime *rt = rt_new(1);
  REQUIRE(rt);
  d_rt = rt;
  o.mode = ERRAND_MODE_DEDICATED;
  REQUIRE_OK(errand_post(rt, ded_parent, NULL, &o, &t));
  CHECK_OK(errand_wait(t, -1));
  CHECK_EQ_INT(status_of(t), ERRAND_STATUS_RAN_TO_COMPLETION);
  if (CHECK_OK(errand_task_result(t, &v))) CHECK_EQ_INT((intptr_t)v, 10);
  CHECK_OK(errand_task_release(t));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* A pool task with one worker waits for a dedicated task: the dedicated
 * one does not need the pool. */
typedef struct pw {
  errand_runtime *rt;
  atomic_int rc;
} pw;

static int pool_waits_for_dedicated(errand_task *self, void *arg) {
  pw *p = (pw *)arg;
  errand_post_options o = post_opts();
  errand_task *d = NULL;
  gate g;
  int rc;
  (void)self;
  gate_init(&g);
  gate_open(&g);
  o.mode = ERRAND_MODE_DEDICATED;
  rc = errand_post(p->rt, gate_task, &g, &o, &d);
  if (rc == 0) rc = errand_wait(d, -1);
  errand_task_release(d);
  atomic_store(&p->rc, rc);
  return rc;
}

TEST(pool_task_waits_for_a_dedicated_task_with_one_worker) {
  pw p;
  errand_task *t = NULL;
  errand_runtime *rt = rt_new(1);
  REQUIRE(rt);
  p.rt = rt;
  atomic_init(&p.rc, -1);
  REQUIRE_OK(errand_post(rt, pool_waits_for_dedicated, &p, NULL, &t));
  CHECK_OK(errand_wait(t, -1));
  CHECK_RC(atomic_load(&p.rc), ERRAND_OK);
  CHECK_OK(errand_task_release(t));
  CHECK_OK(errand_runtime_destroy(rt));
}

TEST(many_short_dedicated_tasks) {
  int n = check_iters(300), i;
  atomic_int count;
  errand_post_options o = post_opts();
  errand_runtime *rt = rt_new(2);
  REQUIRE(rt);
  atomic_init(&count, 0);
  o.mode = ERRAND_MODE_DEDICATED;
  for (i = 0; i < n; i++) CHECK_OK(errand_post(rt, count_task, &count, &o, NULL));
  CHECK_OK(errand_runtime_shutdown(rt, ERRAND_SHUTDOWN_DRAIN, -1));
  CHECK_EQ_INT(atomic_load(&count), n);
  CHECK_OK(errand_runtime_destroy(rt));
}

CHECK_MAIN()
