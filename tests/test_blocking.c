/*
 * test_blocking.c — item 11: a pool task that marks a region as blocking
 * (errand_blocking_begin/end) does not starve the pool: the runtime starts
 * compensating workers so other pool tasks keep running.
 *
 * The blockers here block "for a second" in the spirit of the issue, but on
 * a gate rather than a clock: they stay blocked until the test has seen the
 * other tasks finish (or a generous bound passes), so the test does not
 * depend on timing.
 */
#include "helpers.h"

typedef struct blocker {
  gate *g;
  atomic_int inside;
  atomic_int begin_rc, end_rc;
  int max_hold_ms; /* upper bound on the block, so a failure cannot hang */
} blocker;

static int blocking_task(errand_task *self, void *arg) {
  blocker *b = (blocker *)arg;
  int64_t end = check_now_ms() + b->max_hold_ms;
  int rc;
  (void)self;
  rc = errand_blocking_begin();
  if (rc) atomic_store(&b->begin_rc, rc);
  atomic_fetch_add(&b->inside, 1);
  atomic_fetch_add(&b->g->started, 1);
  /* Blocked outside errand (like read() or a lock): at least a second,
   * longer if the test still needs it. */
  check_sleep_ms(1000 > b->max_hold_ms ? b->max_hold_ms : 1000);
  while (!atomic_load(&b->g->open) && check_now_ms() < end) check_sleep_ms(1);
  atomic_fetch_sub(&b->inside, 1);
  rc = errand_blocking_end();
  if (rc) atomic_store(&b->end_rc, rc);
  atomic_fetch_add(&b->g->finished, 1);
  return 0;
}

static void blocker_init(blocker *b, gate *g, int max_hold_ms) {
  b->g = g;
  atomic_init(&b->inside, 0);
  atomic_init(&b->begin_rc, 0);
  atomic_init(&b->end_rc, 0);
  b->max_hold_ms = max_hold_ms;
}

static void blocked_pool_keeps_running(int workers) {
  gate g;
  blocker b;
  int n = workers, m = 50, i;
  errand_task **bt = calloc((size_t)n, sizeof *bt);
  errand_task *ot[50];
  atomic_int count;
  errand_stats st;
  errand_runtime *rt = rt_new(workers);
  if (!CHECK(bt != NULL) || !rt) return;
  gate_init(&g);
  blocker_init(&b, &g, CHECK_LONG_MS);
  atomic_init(&count, 0);
  /* N pool tasks, one per worker, each blocking inside a region. */
  for (i = 0; i < n; i++) CHECK_OK(errand_post(rt, blocking_task, &b, NULL, &bt[i]));
  if (!CHECK(check_wait_count(&g.started, n, CHECK_LONG_MS))) {
    gate_open(&g);
    goto out;
  }
  /* Other pool tasks still run while every worker is blocked. */
  for (i = 0; i < m; i++) CHECK_OK(errand_post(rt, count_task, &count, NULL, &ot[i]));
  CHECK_OK(errand_wait_all(ot, (size_t)m, CHECK_LONG_MS));
  CHECK_EQ_INT(atomic_load(&count), m);
  /* ...and they ran while the blockers were still inside. */
  CHECK_EQ_INT(atomic_load(&b.inside), n);
  CHECK_EQ_INT(atomic_load(&g.finished), 0);
  if (CHECK_OK(errand_runtime_stats(rt, &st))) {
    CHECK(st.compensating_workers >= 1);
    CHECK(st.compensating_workers <= 4 * workers); /* default limit */
    CHECK_EQ_INT(st.workers, workers);
  }
  gate_open(&g);
  for (i = 0; i < m; i++) CHECK_OK(errand_task_release(ot[i]));
out:
  CHECK_OK(errand_wait_all(bt, (size_t)n, -1));
  CHECK_EQ_INT(atomic_load(&b.begin_rc), 0);
  CHECK_EQ_INT(atomic_load(&b.end_rc), 0);
  for (i = 0; i < n; i++) CHECK_OK(errand_task_release(bt[i]));
  CHECK_OK(errand_runtime_destroy(rt));
  free(bt);
}

TEST(blocked_region_on_the_only_worker_does_not_stop_the_pool) {
  blocked_pool_keeps_running(1);
}

TEST(n_blocking_tasks_on_n_workers_do_not_stop_the_pool) {
  blocked_pool_keeps_running(check_ncpu() < 2 ? 2 : check_ncpu());
}

/* With max_compensating = -1 there is no compensation: a blocked region on
 * the only worker holds the queue (this proves the option is honoured and
 * that the test above is not passing by accident). */
TEST(no_compensation_when_max_compensating_is_minus_1) {
  gate g;
  blocker b;
  errand_task *bt = NULL, *t = NULL;
  atomic_int count;
  errand_stats st;
  errand_runtime_options o;
  errand_runtime *rt;
  memset(&o, 0, sizeof o);
  o.workers = 1;
  o.max_compensating = -1;
  rt = rt_new_opts(&o);
  REQUIRE(rt);
  gate_init(&g);
  blocker_init(&b, &g, CHECK_LONG_MS);
  atomic_init(&count, 0);
  REQUIRE_OK(errand_post(rt, blocking_task, &b, NULL, &bt));
  REQUIRE(check_wait_count(&g.started, 1, CHECK_LONG_MS));
  REQUIRE_OK(errand_post(rt, count_task, &count, NULL, &t));
  CHECK_RC(errand_wait(t, 200), ERRAND_E_TIMEOUT);
  CHECK_EQ_INT(atomic_load(&count), 0);
  if (CHECK_OK(errand_runtime_stats(rt, &st)))
    CHECK_EQ_INT(st.compensating_workers, 0);
  gate_open(&g);
  CHECK_OK(errand_wait(t, -1));
  CHECK_EQ_INT(atomic_load(&count), 1);
  CHECK_OK(errand_task_release(t));
  CHECK_OK(errand_task_release(bt));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* max_compensating caps the extra workers: sampled while 4 tasks block on
 * 1 worker with a cap of 2. */
TEST(compensating_workers_never_exceed_the_cap) {
  enum { N = 4 };
  gate g;
  blocker b;
  errand_task *bt[N], *ot[20];
  atomic_int count;
  errand_runtime_options o;
  errand_runtime *rt;
  int i, max_seen = 0;
  memset(&o, 0, sizeof o);
  o.workers = 1;
  o.max_compensating = 2;
  rt = rt_new_opts(&o);
  REQUIRE(rt);
  gate_init(&g);
  blocker_init(&b, &g, CHECK_LONG_MS);
  atomic_init(&count, 0);
  for (i = 0; i < N; i++) REQUIRE_OK(errand_post(rt, blocking_task, &b, NULL, &bt[i]));
  /* 1 worker + 2 compensating = at most 3 inside at once. */
  REQUIRE(check_wait_count(&g.started, 3, CHECK_LONG_MS));
  for (i = 0; i < 50; i++) {
    errand_stats st;
    if (!CHECK_OK(errand_runtime_stats(rt, &st))) break;
    if (st.compensating_workers > max_seen) max_seen = st.compensating_workers;
    CHECK(atomic_load(&b.inside) <= 3);
    check_sleep_ms(2);
  }
  CHECK(max_seen >= 1 && max_seen <= 2);
  gate_open(&g);
  for (i = 0; i < 20; i++) REQUIRE_OK(errand_post(rt, count_task, &count, NULL, &ot[i]));
  CHECK_OK(errand_wait_all(ot, 20, -1));
  CHECK_OK(errand_wait_all(bt, N, -1));
  for (i = 0; i < 20; i++) CHECK_OK(errand_task_release(ot[i]));
  for (i = 0; i < N; i++) CHECK_OK(errand_task_release(bt[i]));
  CHECK_OK(errand_runtime_destroy(rt));
}

static int nested_regions(errand_task *self, void *arg) {
  (void)self;
  (void)arg;
  CHECK_OK(errand_blocking_begin());
  CHECK_OK(errand_blocking_begin());
  check_sleep_ms(5);
  CHECK_OK(errand_blocking_end());
  CHECK_OK(errand_blocking_end());
  return 0;
}

TEST(blocking_regions_nest_and_work_in_dedicated_tasks) {
  errand_task *t[2] = {NULL, NULL};
  errand_post_options o = post_opts();
  errand_runtime *rt = rt_new(1);
  REQUIRE(rt);
  REQUIRE_OK(errand_post(rt, nested_regions, NULL, NULL, &t[0]));
  o.mode = ERRAND_MODE_DEDICATED;
  REQUIRE_OK(errand_post(rt, nested_regions, NULL, &o, &t[1]));
  CHECK_OK(errand_wait_all(t, 2, -1));
  CHECK_EQ_INT(status_of(t[0]), ERRAND_STATUS_RAN_TO_COMPLETION);
  CHECK_EQ_INT(status_of(t[1]), ERRAND_STATUS_RAN_TO_COMPLETION);
  CHECK_OK(errand_task_release(t[0]));
  CHECK_OK(errand_task_release(t[1]));
  CHECK_OK(errand_runtime_destroy(rt));
}

TEST(blocking_calls_outside_a_task_do_nothing) {
  CHECK_OK(errand_blocking_begin());
  CHECK_OK(errand_blocking_end());
  CHECK_OK(errand_blocking_end());
}

/* Many short blocking regions in a row, with other work around: nothing is
 * lost and everything finishes. */
static int short_block(errand_task *self, void *arg) {
  (void)self;
  CHECK_OK(errand_blocking_begin());
  check_sleep_us(200);
  CHECK_OK(errand_blocking_end());
  atomic_fetch_add((atomic_int *)arg, 1);
  return 0;
}

TEST(many_short_blocking_regions) {
  int n = check_iters(2000), i;
  atomic_int count;
  errand_runtime *rt = rt_new(2);
  REQUIRE(rt);
  atomic_init(&count, 0);
  for (i = 0; i < n; i++)
    CHECK_OK(errand_post(rt, i % 2 ? short_block : count_task, &count, NULL, NULL));
  CHECK_OK(errand_runtime_shutdown(rt, ERRAND_SHUTDOWN_DRAIN, -1));
  CHECK_EQ_INT(atomic_load(&count), n);
  CHECK_OK(errand_runtime_destroy(rt));
}

CHECK_MAIN()
