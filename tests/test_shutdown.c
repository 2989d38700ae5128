/*
 * test_shutdown.c — item 10: shutdown drains or cancels, each with a
 * deadline; after destroy no thread and no descriptor is left (memory is
 * checked by running this file under valgrind / LeakSanitizer).
 */
#include "helpers.h"
#include "probes.h"

typedef struct rec {
  atomic_int ran;
  atomic_int freed;
} rec;

static void rec_free(void *p) { atomic_fetch_add(&((rec *)p)->freed, 1); }

static int rec_task(errand_task *self, void *arg) {
  (void)self;
  check_sleep_us(100);
  atomic_fetch_add(&((rec *)arg)->ran, 1);
  return 0;
}

TEST(drain_runs_everything_queued_and_delayed) {
  enum { N = 120 };
  rec r[N];
  errand_task *t[N];
  errand_post_options o = post_opts();
  errand_stats st;
  int i;
  errand_runtime *rt = rt_new(2);
  REQUIRE(rt);
  o.arg_free = rec_free;
  for (i = 0; i < N; i++) {
    atomic_init(&r[i].ran, 0);
    atomic_init(&r[i].freed, 0);
    o.delay_ms = i % 4 == 0 ? 20 + i : 0;
    o.priority = (errand_priority)(i % 4);
    o.mode = i % 15 == 0 ? ERRAND_MODE_DEDICATED : ERRAND_MODE_POOL;
    REQUIRE_OK(errand_post(rt, rec_task, &r[i], &o, &t[i]));
  }
  CHECK_OK(errand_runtime_shutdown(rt, ERRAND_SHUTDOWN_DRAIN, -1));
  for (i = 0; i < N; i++) {
    CHECK_EQ_INT(atomic_load(&r[i].ran), 1);
    CHECK_EQ_INT(status_of(t[i]), ERRAND_STATUS_RAN_TO_COMPLETION);
  }
  /* From now on posts fail. */
  CHECK_RC(errand_post(rt, noop_task, NULL, NULL, NULL), ERRAND_E_SHUTDOWN);
  if (CHECK_OK(errand_runtime_stats(rt, &st))) {
    CHECK_EQ_INT(st.succeeded, N);
    CHECK_EQ_INT(st.running, 0);
    CHECK_EQ_INT(st.delayed, 0);
  }
  /* A second shutdown is harmless. */
  CHECK_OK(errand_runtime_shutdown(rt, ERRAND_SHUTDOWN_DRAIN, 0));
  CHECK_OK(errand_runtime_destroy(rt));
  /* Handles outlive the runtime for reading, and must still be released. */
  for (i = 0; i < N; i++) {
    uint64_t id;
    CHECK_EQ_INT(status_of(t[i]), ERRAND_STATUS_RAN_TO_COMPLETION);
    CHECK_OK(errand_task_id(t[i], &id));
    CHECK_OK(errand_task_release(t[i]));
    CHECK_EQ_INT(atomic_load(&r[i].freed), 1);
  }
}

/* After shutdown returns 0 ("every task is final") the caller sees what the
 * tasks wrote, as after errand_wait: plain (non-atomic) writes, read after
 * the call.  In a plain build this cannot fail; under TSan a shutdown that
 * does not order the tasks' writes before its return is reported as a data
 * race. */
static int plain_values[64];

static int plain_writer(errand_task *self, void *arg) {
  (void)self;
  plain_values[(intptr_t)arg] = (int)(intptr_t)arg + 1;
  return 0;
}

TEST(task_writes_are_visible_after_shutdown_returns) {
  int i, mode;
  for (mode = 0; mode < 2; mode++) {
    errand_runtime *rt = rt_new(2);
    REQUIRE(rt);
    memset(plain_values, 0, sizeof plain_values);
    for (i = 0; i < 64; i++)
      REQUIRE_OK(errand_post(rt, plain_writer, (void *)(intptr_t)i, NULL, NULL));
    if (mode == 0) {
      REQUIRE_OK(errand_runtime_shutdown(rt, ERRAND_SHUTDOWN_DRAIN, -1));
    } else {
      /* cancel mode: some ran, some were canceled; the ones that ran are
       * visible, the others are still 0 */
      REQUIRE_OK(errand_runtime_shutdown(rt, ERRAND_SHUTDOWN_CANCEL, -1));
    }
    for (i = 0; i < 64; i++)
      if (mode == 0 || plain_values[i] != 0) CHECK_EQ_INT(plain_values[i], i + 1);
    CHECK_OK(errand_runtime_destroy(rt));
  }
}

TEST(cancel_mode_cancels_queued_and_delayed_and_signals_running) {
  enum { Q = 40, D = 10 };
  gate g;
  rec rq[Q], rd[D];
  errand_task *run = NULL, *tq[Q], *td[D];
  errand_post_options o = post_opts();
  int i;
  int64_t t0;
  errand_runtime *rt = rt_new(1);
  REQUIRE(rt);
  gate_init(&g);
  REQUIRE_OK(errand_post(rt, gate_or_cancel_task, &g, NULL, &run));
  REQUIRE(check_wait_count(&g.started, 1, CHECK_LONG_MS));
  o.arg_free = rec_free;
  for (i = 0; i < Q; i++) {
    atomic_init(&rq[i].ran, 0);
    atomic_init(&rq[i].freed, 0);
    o.priority = (errand_priority)(i % 4);
    REQUIRE_OK(errand_post(rt, rec_task, &rq[i], &o, &tq[i]));
  }
  o.priority = ERRAND_PRIORITY_DEFAULT;
  for (i = 0; i < D; i++) {
    atomic_init(&rd[i].ran, 0);
    atomic_init(&rd[i].freed, 0);
    o.delay_ms = 600000; /* would be ten minutes */
    o.mode = i % 2 ? ERRAND_MODE_DEDICATED : ERRAND_MODE_POOL;
    REQUIRE_OK(errand_post(rt, rec_task, &rd[i], &o, &td[i]));
  }
  t0 = check_now_ms();
  /* The gate is never opened: the running task ends only because the
   * cancel-mode shutdown requests its cancellation. */
  CHECK_OK(errand_runtime_shutdown(rt, ERRAND_SHUTDOWN_CANCEL, -1));
  CHECK(check_now_ms() - t0 < 60000);
  CHECK_EQ_INT(status_of(run), ERRAND_STATUS_CANCELED);
  for (i = 0; i < Q; i++) {
    CHECK_EQ_INT(status_of(tq[i]), ERRAND_STATUS_CANCELED);
    CHECK_EQ_INT(atomic_load(&rq[i].ran), 0);
    CHECK_EQ_INT(atomic_load(&rq[i].freed), 1);
  }
  for (i = 0; i < D; i++) {
    CHECK_EQ_INT(status_of(td[i]), ERRAND_STATUS_CANCELED);
    CHECK_EQ_INT(atomic_load(&rd[i].ran), 0);
    CHECK_EQ_INT(atomic_load(&rd[i].freed), 1);
  }
  CHECK_RC(errand_post(rt, noop_task, NULL, NULL, NULL), ERRAND_E_SHUTDOWN);
  CHECK_OK(errand_runtime_destroy(rt));
  /* Queued ones never ran, even after destroy. */
  for (i = 0; i < Q; i++) {
    CHECK_EQ_INT(atomic_load(&rq[i].ran), 0);
    CHECK_OK(errand_task_release(tq[i]));
  }
  for (i = 0; i < D; i++) {
    CHECK_EQ_INT(atomic_load(&rd[i].ran), 0);
    CHECK_OK(errand_task_release(td[i]));
  }
  CHECK_OK(errand_task_release(run));
}

/* Deadline: a task that ignores cancellation keeps the runtime from being
 * idle; shutdown returns E_TIMEOUT, the runtime stays usable for waiting
 * and another shutdown call (either mode), which succeeds once the task
 * ends. */
TEST(shutdown_deadline_gives_E_TIMEOUT_then_succeeds) {
  int first;
  for (first = 0; first < 2; first++) {
    gate g;
    errand_task *t = NULL;
    int64_t t0;
    errand_runtime *rt = rt_new(1);
    REQUIRE(rt);
    gate_init(&g);
    REQUIRE_OK(errand_post(rt, gate_task, &g, NULL, &t));
    REQUIRE(check_wait_count(&g.started, 1, CHECK_LONG_MS));
    CHECK_RC(errand_runtime_shutdown(rt, (errand_shutdown_mode)first, 0),
             ERRAND_E_TIMEOUT);
    t0 = check_now_ns();
    CHECK_RC(errand_runtime_shutdown(rt, (errand_shutdown_mode)first, 50),
             ERRAND_E_TIMEOUT);
    CHECK(check_now_ns() - t0 >= 50 * 1000000LL);
    CHECK_RC(errand_runtime_shutdown(rt, (errand_shutdown_mode)!first, 20),
             ERRAND_E_TIMEOUT);
    /* Posting is closed, waiting still works. */
    CHECK_RC(errand_post(rt, noop_task, NULL, NULL, NULL), ERRAND_E_SHUTDOWN);
    CHECK_RC(errand_wait(t, 0), ERRAND_E_TIMEOUT);
    CHECK_EQ_INT(status_of(t), ERRAND_STATUS_RUNNING);
    gate_open(&g);
    CHECK_OK(errand_wait(t, -1));
    CHECK_OK(errand_runtime_shutdown(rt, (errand_shutdown_mode)first, -1));
    CHECK_EQ_INT(status_of(t), ERRAND_STATUS_RAN_TO_COMPLETION);
    CHECK_OK(errand_task_release(t));
    CHECK_OK(errand_runtime_destroy(rt));
  }
}

/* destroy after a timed-out shutdown waits for the stuck task. */
typedef struct destroyer {
  errand_runtime *rt;
  atomic_int rc;
  atomic_int done;
} destroyer;

static void *destroy_thread(void *arg) {
  destroyer *d = (destroyer *)arg;
  atomic_store(&d->rc, errand_runtime_destroy(d->rt));
  atomic_store(&d->done, 1);
  return NULL;
}

TEST(destroy_after_a_timed_out_shutdown_waits_for_running_tasks) {
  gate g;
  errand_task *t = NULL;
  destroyer d;
  pthread_t th;
  errand_runtime *rt = rt_new(2);
  REQUIRE(rt);
  gate_init(&g);
  REQUIRE_OK(errand_post(rt, gate_task, &g, NULL, &t));
  REQUIRE(check_wait_count(&g.started, 1, CHECK_LONG_MS));
  CHECK_RC(errand_runtime_shutdown(rt, ERRAND_SHUTDOWN_CANCEL, 10),
           ERRAND_E_TIMEOUT);
  d.rt = rt;
  atomic_init(&d.rc, -1);
  atomic_init(&d.done, 0);
  REQUIRE(thread_start(&th, destroy_thread, &d));
  check_sleep_ms(30);
  CHECK_EQ_INT(atomic_load(&d.done), 0); /* still waiting for the task */
  gate_open(&g);
  pthread_join(th, NULL);
  CHECK_RC(atomic_load(&d.rc), ERRAND_OK);
  CHECK_EQ_INT(atomic_load(&g.finished), 1);
  CHECK_EQ_INT(status_of(t), ERRAND_STATUS_RAN_TO_COMPLETION);
  CHECK_OK(errand_task_release(t));
}

TEST(destroy_without_shutdown_drains) {
  enum { N = 50 };
  rec r[N];
  errand_post_options o = post_opts();
  int i;
  errand_runtime *rt = rt_new(2);
  REQUIRE(rt);
  o.arg_free = rec_free;
  for (i = 0; i < N; i++) {
    atomic_init(&r[i].ran, 0);
    atomic_init(&r[i].freed, 0);
    o.delay_ms = i % 5 == 0 ? 15 : 0;
    REQUIRE_OK(errand_post(rt, rec_task, &r[i], &o, NULL));
  }
  CHECK_OK(errand_runtime_destroy(rt));
  for (i = 0; i < N; i++) {
    CHECK_EQ_INT(atomic_load(&r[i].ran), 1);
    CHECK_EQ_INT(atomic_load(&r[i].freed), 1);
  }
}

TEST(shutdown_of_an_idle_runtime_with_zero_deadline) {
  errand_runtime *rt = rt_new(3);
  REQUIRE(rt);
  CHECK_OK(errand_runtime_shutdown(rt, ERRAND_SHUTDOWN_DRAIN, 0));
  CHECK_OK(errand_runtime_shutdown(rt, ERRAND_SHUTDOWN_CANCEL, 0));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* Drain waits for dedicated tasks and for attached children. */
TEST(drain_waits_for_dedicated_and_children) {
  gate g;
  errand_task *t = NULL, *k = NULL;
  errand_post_options o = post_opts();
  errand_runtime *rt = rt_new(1);
  REQUIRE(rt);
  gate_init(&g);
  o.mode = ERRAND_MODE_DEDICATED;
  REQUIRE_OK(errand_post(rt, gate_task, &g, &o, &t));
  o = post_opts();
  o.parent = t;
  REQUIRE_OK(errand_post(rt, gate_task, &g, &o, &k));
  REQUIRE(check_wait_count(&g.started, 2, CHECK_LONG_MS));
  CHECK_RC(errand_runtime_shutdown(rt, ERRAND_SHUTDOWN_DRAIN, 20),
           ERRAND_E_TIMEOUT);
  gate_open(&g);
  CHECK_OK(errand_runtime_shutdown(rt, ERRAND_SHUTDOWN_DRAIN, -1));
  CHECK_EQ_INT(status_of(t), ERRAND_STATUS_RAN_TO_COMPLETION);
  CHECK_EQ_INT(status_of(k), ERRAND_STATUS_RAN_TO_COMPLETION);
  CHECK_OK(errand_task_release(t));
  CHECK_OK(errand_task_release(k));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* --------------------------------------------------------------------- */
/* Nothing left behind                                                    */
/* --------------------------------------------------------------------- */

typedef struct busy {
  errand_runtime *rt;
} busy;

static int blocking_sleeper(errand_task *self, void *arg) {
  (void)arg;
  CHECK_OK(errand_blocking_begin());
  check_sleep_ms(20);
  CHECK_OK(errand_blocking_end());
  return errand_task_sleep(self, 1);
}

static int waits_on_child(errand_task *self, void *arg) {
  busy *b = (busy *)arg;
  errand_task *c = NULL;
  errand_post_options o = post_opts();
  int rc;
  o.parent = self;
  o.delay_ms = 5;
  rc = errand_post(b->rt, noop_task, NULL, &o, &c);
  if (rc == 0) rc = errand_wait(c, -1);
  errand_task_release(c);
  return rc;
}

static void exercise(errand_runtime *rt, int cancel_mode) {
  busy b;
  int i;
  errand_post_options o = post_opts();
  b.rt = rt;
  for (i = 0; i < 40; i++) {
    o.mode = i % 8 == 0 ? ERRAND_MODE_DEDICATED : ERRAND_MODE_POOL;
    o.delay_ms = i % 6 == 0 ? 10 : 0;
    o.run_timeout_ms = i % 9 == 0 ? 5 : 0;
    o.queue_timeout_ms = i % 11 == 0 ? 1 : 0;
    CHECK_OK(errand_post(rt, i % 3 == 0   ? blocking_sleeper
                             : i % 3 == 1 ? waits_on_child
                                          : noop_task,
                         &b, &o, NULL));
  }
  {
    errand_task *t = NULL;
    o = post_opts();
    o.delay_ms = 600000;
    CHECK_OK(errand_post(rt, noop_task, NULL, &o, &t));
    CHECK_OK(errand_task_release(t));
  }
  if (cancel_mode) {
    CHECK_OK(errand_runtime_shutdown(rt, ERRAND_SHUTDOWN_CANCEL, -1));
  } else {
    /* The ten-minute task is still delayed: drain with a deadline times
     * out, then cancel mode finishes it. */
    CHECK_RC(errand_runtime_shutdown(rt, ERRAND_SHUTDOWN_DRAIN, 200),
             ERRAND_E_TIMEOUT);
    CHECK_OK(errand_runtime_shutdown(rt, ERRAND_SHUTDOWN_CANCEL, -1));
  }
}

TEST(no_thread_or_descriptor_left_after_destroy) {
  int rounds = check_iters(10), r;
  int threads0 = probe_threads(), fds0 = probe_fds();
  REQUIRE(threads0 > 0 && fds0 > 0);
  for (r = 0; r < rounds && !check_failed(); r++) {
    errand_runtime *rt = rt_new(r % 2 ? 4 : 1);
    REQUIRE(rt);
    CHECK(probe_threads() > threads0);
    exercise(rt, r % 2);
    CHECK_OK(errand_runtime_destroy(rt));
    /* destroy joins every thread errand started: equal right away. */
    CHECK_EQ_INT(probe_threads(), threads0);
    CHECK_EQ_INT(probe_fds(), fds0);
  }
}

TEST(create_destroy_cycles_leave_nothing) {
  int rounds = check_iters(50), r;
  int threads0 = probe_threads(), fds0 = probe_fds();
  for (r = 0; r < rounds && !check_failed(); r++) {
    errand_runtime *rt = rt_new(1 + r % 4);
    REQUIRE(rt);
    if (r % 2) CHECK_OK(errand_post(rt, noop_task, NULL, NULL, NULL));
    CHECK_OK(errand_runtime_destroy(rt));
  }
  CHECK_EQ_INT(probe_threads(), threads0);
  CHECK_EQ_INT(probe_fds(), fds0);
}

/* Two runtimes side by side are independent. */
TEST(two_runtimes_are_independent) {
  gate g;
  errand_task *t = NULL, *u = NULL;
  errand_runtime *a = rt_new(1), *b = rt_new(1);
  REQUIRE(a && b);
  gate_init(&g);
  REQUIRE_OK(errand_post(a, gate_task, &g, NULL, &t));
  REQUIRE(check_wait_count(&g.started, 1, CHECK_LONG_MS));
  /* b's only worker is free although a's is held. */
  REQUIRE_OK(errand_post(b, noop_task, NULL, NULL, &u));
  CHECK_OK(errand_wait(u, CHECK_LONG_MS));
  CHECK_EQ_INT(id_of(u), 1);
  CHECK_OK(errand_runtime_destroy(b));
  CHECK_EQ_INT(status_of(t), ERRAND_STATUS_RUNNING);
  gate_open(&g);
  CHECK_OK(errand_runtime_destroy(a));
  CHECK_OK(errand_task_release(t));
  CHECK_OK(errand_task_release(u));
}

CHECK_MAIN()
