/*
 * test_cancel.c — items 5 and 12:
 *  5. cancel a task: not started -> never runs, CANCELED at once, waiters
 *     wake; running -> it sees the request; delayed -> cancellable before
 *     its delay ends.
 * 12. queue timeout (CANCELED with E_TIMEOUT, never run) and run timeout
 *     (cancellation requested).
 */
#include <ctype.h>

#include "helpers.h"

typedef struct rec {
  atomic_int ran;
  atomic_int freed;
} rec;

static void rec_free(void *p) { atomic_fetch_add(&((rec *)p)->freed, 1); }

static int rec_task(errand_task *self, void *arg) {
  (void)self;
  atomic_fetch_add(&((rec *)arg)->ran, 1);
  return 0;
}

static void rec_init(rec *r) {
  atomic_init(&r->ran, 0);
  atomic_init(&r->freed, 0);
}

static errand_post_options rec_opts(void) {
  errand_post_options o = post_opts();
  o.arg_free = rec_free;
  return o;
}

static int contains_ci(const char *hay, const char *needle) {
  size_t n = strlen(needle), i, j;
  for (i = 0; hay[i]; i++) {
    for (j = 0; j < n && hay[i + j]; j++)
      if (tolower((unsigned char)hay[i + j]) != tolower((unsigned char)needle[j]))
        break;
    if (j == n) return 1;
  }
  return 0;
}

/* --------------------------------------------------------------------- */
/* Cancel before start                                                    */
/* --------------------------------------------------------------------- */

typedef struct waiter {
  errand_task *t;
  atomic_int rc;
  atomic_int done;
} waiter;

static void *wait_thread(void *arg) {
  waiter *w = (waiter *)arg;
  atomic_store(&w->rc, errand_wait(w->t, -1));
  atomic_store(&w->done, 1);
  return NULL;
}

TEST(cancel_queued_task_never_runs_is_canceled_at_once_and_wakes_waiters) {
  gate g;
  rec r;
  waiter w;
  pthread_t th;
  errand_task *hold[1], *t = NULL;
  errand_post_options o = rec_opts();
  int code = 0;
  void *v;
  errand_runtime *rt = rt_new(1);
  REQUIRE(rt);
  gate_init(&g);
  rec_init(&r);
  REQUIRE(hold_workers(rt, &g, 1, hold));
  REQUIRE_OK(errand_post(rt, rec_task, &r, &o, &t));
  w.t = t;
  atomic_init(&w.rc, -1);
  atomic_init(&w.done, 0);
  REQUIRE(thread_start(&th, wait_thread, &w));
  check_sleep_ms(10);
  CHECK_EQ_INT(atomic_load(&w.done), 0);
  CHECK_EQ_INT(status_of(t), ERRAND_STATUS_WAITING_TO_RUN);
  CHECK_OK(errand_task_cancel(t));
  /* At once: no need to wait, and the worker is still held. */
  CHECK_EQ_INT(status_of(t), ERRAND_STATUS_CANCELED);
  CHECK_EQ_INT(flags_of(t), ERRAND_FLAG_COMPLETED | ERRAND_FLAG_CANCELED);
  CHECK_OK(errand_wait(t, 0));
  /* The waiter wakes while the only worker is still busy. */
  CHECK(check_wait_flag(&w.done, CHECK_LONG_MS));
  pthread_join(th, NULL);
  CHECK_RC(atomic_load(&w.rc), ERRAND_OK);
  CHECK_OK(errand_task_error(t, &code, NULL));
  CHECK_EQ_INT(code, ERRAND_E_CANCELED);
  CHECK_RC(errand_task_result(t, &v), ERRAND_E_CANCELED);
  gate_open(&g);
  CHECK_OK(errand_runtime_shutdown(rt, ERRAND_SHUTDOWN_DRAIN, -1));
  CHECK_EQ_INT(atomic_load(&r.ran), 0);
  CHECK_EQ_INT(atomic_load(&r.freed), 1); /* ended without running */
  CHECK_EQ_INT(status_of(t), ERRAND_STATUS_CANCELED);
  CHECK_OK(errand_task_release(t));
  CHECK_OK(errand_task_release(hold[0]));
  CHECK_OK(errand_runtime_destroy(rt));
}

TEST(cancel_is_idempotent_and_leaves_final_tasks_alone) {
  errand_task *t = NULL;
  errand_runtime *rt = rt_new(1);
  REQUIRE(rt);
  REQUIRE_OK(errand_post(rt, noop_task, NULL, NULL, &t));
  CHECK_OK(errand_wait(t, -1));
  CHECK_OK(errand_task_cancel(t));
  CHECK_OK(errand_task_cancel(t));
  CHECK_EQ_INT(status_of(t), ERRAND_STATUS_RAN_TO_COMPLETION);
  CHECK_EQ_INT(flags_of(t), ERRAND_FLAG_COMPLETED | ERRAND_FLAG_SUCCEEDED);
  CHECK_OK(errand_task_release(t));
  CHECK_OK(errand_runtime_destroy(rt));
}

TEST(cancel_many_queued_tasks_none_runs_the_rest_do) {
  enum { N = 64 };
  gate g;
  rec r[N];
  errand_task *hold[1], *t[N];
  errand_post_options o = rec_opts();
  int i;
  errand_runtime *rt = rt_new(1);
  REQUIRE(rt);
  gate_init(&g);
  REQUIRE(hold_workers(rt, &g, 1, hold));
  for (i = 0; i < N; i++) {
    rec_init(&r[i]);
    REQUIRE_OK(errand_post(rt, rec_task, &r[i], &o, &t[i]));
  }
  for (i = 0; i < N; i += 2) CHECK_OK(errand_task_cancel(t[i]));
  gate_open(&g);
  CHECK_OK(errand_wait_all(t, N, -1));
  CHECK_OK(errand_runtime_shutdown(rt, ERRAND_SHUTDOWN_DRAIN, -1));
  for (i = 0; i < N; i++) {
    CHECK_EQ_INT(atomic_load(&r[i].ran), i % 2);
    CHECK_EQ_INT(atomic_load(&r[i].freed), 1);
    CHECK_EQ_INT(status_of(t[i]), i % 2 ? ERRAND_STATUS_RAN_TO_COMPLETION
                                        : ERRAND_STATUS_CANCELED);
    CHECK_OK(errand_task_release(t[i]));
  }
  CHECK_OK(errand_task_release(hold[0]));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* --------------------------------------------------------------------- */
/* Cancel while running                                                   */
/* --------------------------------------------------------------------- */

TEST(running_task_sees_the_request_and_ends_canceled) {
  int mode;
  for (mode = 0; mode < 2; mode++) {
    gate g;
    errand_task *t = NULL;
    errand_post_options o = post_opts();
    errand_runtime *rt = rt_new(1);
    REQUIRE(rt);
    gate_init(&g);
    o.mode = (errand_mode)mode;
    REQUIRE_OK(errand_post(rt, gate_or_cancel_task, &g, &o, &t));
    REQUIRE(check_wait_count(&g.started, 1, CHECK_LONG_MS));
    CHECK_EQ_INT(status_of(t), ERRAND_STATUS_RUNNING);
    CHECK_OK(errand_task_cancel(t));
    CHECK_OK(errand_wait(t, -1));
    CHECK_EQ_INT(atomic_load(&g.finished), 1); /* it ran, saw, and ended */
    CHECK_EQ_INT(status_of(t), ERRAND_STATUS_CANCELED);
    CHECK_OK(errand_task_release(t));
    CHECK_OK(errand_runtime_destroy(rt));
  }
}

typedef struct ignorer {
  atomic_int started;
  atomic_int saw_cancel;
  atomic_int go;
} ignorer;

static int ignore_cancel_task(errand_task *self, void *arg) {
  ignorer *ig = (ignorer *)arg;
  atomic_store(&ig->started, 1);
  while (!atomic_load(&ig->go)) check_sleep_us(200);
  atomic_store(&ig->saw_cancel, errand_task_is_canceled(self));
  return errand_task_set_result(self, (void *)0x5a, NULL);
}

TEST(running_task_that_ignores_cancel_ends_as_it_actually_ends) {
  ignorer ig;
  errand_task *t = NULL;
  void *v = NULL;
  errand_runtime *rt = rt_new(1);
  REQUIRE(rt);
  atomic_init(&ig.started, 0);
  atomic_init(&ig.saw_cancel, -1);
  atomic_init(&ig.go, 0);
  REQUIRE_OK(errand_post(rt, ignore_cancel_task, &ig, NULL, &t));
  REQUIRE(check_wait_flag(&ig.started, CHECK_LONG_MS));
  CHECK_OK(errand_task_cancel(t));
  /* Still running: a running task is not forced. */
  CHECK_RC(errand_wait(t, 20), ERRAND_E_TIMEOUT);
  CHECK_EQ_INT(status_of(t), ERRAND_STATUS_RUNNING);
  atomic_store(&ig.go, 1);
  CHECK_OK(errand_wait(t, -1));
  CHECK_EQ_INT(atomic_load(&ig.saw_cancel), 1);
  CHECK_EQ_INT(status_of(t), ERRAND_STATUS_RAN_TO_COMPLETION);
  CHECK_OK(errand_task_result(t, &v));
  CHECK(v == (void *)0x5a);
  CHECK_OK(errand_task_release(t));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* Cancel reaches attached children, and children see an ancestor's
 * cancellation through is_canceled. */
typedef struct kin {
  errand_runtime *rt;
  gate *g;          /* children wait here (gate_or_cancel_task) */
  atomic_int parent_saw;
} kin;

static int kin_parent(errand_task *self, void *arg) {
  kin *k = (kin *)arg;
  int i;
  for (i = 0; i < 3; i++) {
    errand_post_options o = post_opts();
    o.parent = self;
    if (errand_post(k->rt, gate_or_cancel_task, k->g, &o, NULL) != 0)
      return ERRAND_E_FAILED;
  }
  while (errand_task_is_canceled(self) == 0) check_sleep_us(200);
  atomic_store(&k->parent_saw, 1);
  return ERRAND_E_CANCELED;
}

TEST(cancel_reaches_attached_children) {
  gate g;
  kin k;
  errand_task *t = NULL;
  errand_runtime *rt = rt_new(4);
  REQUIRE(rt);
  gate_init(&g);
  k.rt = rt;
  k.g = &g;
  atomic_init(&k.parent_saw, 0);
  REQUIRE_OK(errand_post(rt, kin_parent, &k, NULL, &t));
  REQUIRE(check_wait_count(&g.started, 3, CHECK_LONG_MS));
  CHECK_OK(errand_task_cancel(t));
  /* The gate is never opened: the children end only through cancel. */
  CHECK_OK(errand_wait(t, CHECK_LONG_MS));
  CHECK_EQ_INT(atomic_load(&g.finished), 3);
  CHECK_EQ_INT(atomic_load(&k.parent_saw), 1);
  CHECK_EQ_INT(status_of(t), ERRAND_STATUS_CANCELED);
  CHECK_OK(errand_task_release(t));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* --------------------------------------------------------------------- */
/* Cancel a delayed task                                                  */
/* --------------------------------------------------------------------- */

TEST(delayed_task_is_cancelled_before_its_delay_ends) {
  int mode;
  for (mode = 0; mode < 2; mode++) {
    rec r;
    errand_task *t = NULL;
    errand_post_options o = rec_opts();
    int64_t t0;
    errand_runtime *rt = rt_new(1);
    REQUIRE(rt);
    rec_init(&r);
    o.delay_ms = 600000; /* ten minutes */
    o.mode = (errand_mode)mode;
    REQUIRE_OK(errand_post(rt, rec_task, &r, &o, &t));
    CHECK_EQ_INT(status_of(t), ERRAND_STATUS_WAITING_TO_RUN);
    CHECK_OK(errand_task_cancel(t));
    CHECK_EQ_INT(status_of(t), ERRAND_STATUS_CANCELED);
    t0 = check_now_ms();
    CHECK_OK(errand_wait(t, -1));
    /* Destroy drains: nothing is left to wait ten minutes for. */
    CHECK_OK(errand_runtime_destroy(rt));
    CHECK(check_now_ms() - t0 < 60000);
    CHECK_EQ_INT(atomic_load(&r.ran), 0);
    CHECK_EQ_INT(atomic_load(&r.freed), 1);
    CHECK_OK(errand_task_release(t));
  }
}

/* --------------------------------------------------------------------- */
/* Races: cancel at random moments around the start                       */
/* --------------------------------------------------------------------- */

typedef struct race {
  atomic_int ran;
  atomic_int freed;
  atomic_int returned; /* what the function returned, +1000 */
  int spin_us;
} race;

static void race_free(void *p) { atomic_fetch_add(&((race *)p)->freed, 1); }

static int race_task(errand_task *self, void *arg) {
  race *r = (race *)arg;
  int rc = 0;
  int64_t end = check_now_ns() + (int64_t)r->spin_us * 1000;
  atomic_fetch_add(&r->ran, 1);
  while (check_now_ns() < end) {
    if (errand_task_is_canceled(self) == 1) {
      rc = ERRAND_E_CANCELED;
      break;
    }
  }
  atomic_store(&r->returned, 1000 + rc);
  return rc;
}

TEST(cancel_racing_with_start_keeps_every_invariant) {
  int rounds = check_iters(400), it;
  check_rng rng;
  errand_runtime *rt = rt_new(2);
  REQUIRE(rt);
  check_rng_init(&rng, check_seed("cancel race"));
  for (it = 0; it < rounds && !check_failed(); it++) {
    enum { N = 8 };
    race r[N];
    errand_task *t[N];
    errand_post_options o = post_opts();
    int i;
    o.arg_free = race_free;
    for (i = 0; i < N; i++) {
      atomic_init(&r[i].ran, 0);
      atomic_init(&r[i].freed, 0);
      atomic_init(&r[i].returned, 0);
      r[i].spin_us = (int)check_rng_below(&rng, 300);
      o.mode = check_rng_below(&rng, 8) == 0 ? ERRAND_MODE_DEDICATED
                                             : ERRAND_MODE_POOL;
      o.delay_ms = (int64_t)check_rng_below(&rng, 3);
      REQUIRE_OK(errand_post(rt, race_task, &r[i], &o, &t[i]));
    }
    for (i = 0; i < N; i++) {
      errand_status s = ERRAND_STATUS_CREATED;
      check_sleep_us((int64_t)check_rng_below(&rng, 200));
      CHECK_OK(errand_task_cancel(t[i]));
      /* Right after cancel: never CREATED/WAITING_TO_RUN any more. */
      if (CHECK_OK(errand_task_status(t[i], &s)))
        CHECK(s != ERRAND_STATUS_CREATED && s != ERRAND_STATUS_WAITING_TO_RUN);
      if (s == ERRAND_STATUS_CANCELED && atomic_load(&r[i].ran) == 0) {
        /* Canceled before it started: remember, it must never run. */
        r[i].spin_us = -1;
      }
    }
    CHECK_OK(errand_wait_all(t, N, -1));
    for (i = 0; i < N; i++) {
      int s = status_of(t[i]);
      int ran = atomic_load(&r[i].ran);
      int ret = atomic_load(&r[i].returned);
      CHECK(ran == 0 || ran == 1);
      if (r[i].spin_us == -1) CHECK_EQ_INT(ran, 0);
      if (ran == 0) {
        CHECK_EQ_INT(s, ERRAND_STATUS_CANCELED);
      } else if (ret == 1000) {
        CHECK_EQ_INT(s, ERRAND_STATUS_RAN_TO_COMPLETION);
      } else {
        CHECK_EQ_INT(ret, 1000 + ERRAND_E_CANCELED);
        CHECK_EQ_INT(s, ERRAND_STATUS_CANCELED);
      }
    }
    for (i = 0; i < N; i++) CHECK_OK(errand_task_release(t[i]));
    /* arg_free happens after the function returned / the task ended;
     * errand may call it just after waking waiters, so allow a moment. */
    for (i = 0; i < N; i++) {
      int64_t end = check_now_ms() + CHECK_LONG_MS;
      while (atomic_load(&r[i].freed) == 0 && check_now_ms() < end)
        check_sleep_us(100);
      CHECK_EQ_INT(atomic_load(&r[i].freed), 1);
    }
  }
  CHECK_OK(errand_runtime_destroy(rt));
}

/* --------------------------------------------------------------------- */
/* 12. Queue timeout and run timeout                                      */
/* --------------------------------------------------------------------- */

TEST(queue_timeout_cancels_a_task_that_waits_too_long_and_it_never_runs) {
  gate g;
  rec r;
  errand_task *hold[1], *t = NULL;
  errand_post_options o = rec_opts();
  int code = 0;
  int64_t t0;
  errand_runtime *rt = rt_new(1);
  REQUIRE(rt);
  gate_init(&g);
  rec_init(&r);
  REQUIRE(hold_workers(rt, &g, 1, hold));
  o.queue_timeout_ms = 50;
  t0 = check_now_ns();
  REQUIRE_OK(errand_post(rt, rec_task, &r, &o, &t));
  /* The worker stays busy; the timeout must fire on its own. */
  CHECK_OK(errand_wait(t, CHECK_LONG_MS));
  CHECK(check_now_ns() - t0 >= 50 * 1000000LL); /* not before its time */
  CHECK_EQ_INT(status_of(t), ERRAND_STATUS_CANCELED);
  CHECK_OK(errand_task_error(t, &code, NULL));
  CHECK_EQ_INT(code, ERRAND_E_TIMEOUT);
  gate_open(&g);
  CHECK_OK(errand_runtime_shutdown(rt, ERRAND_SHUTDOWN_DRAIN, -1));
  CHECK_EQ_INT(atomic_load(&r.ran), 0);
  CHECK_EQ_INT(atomic_load(&r.freed), 1);
  CHECK_OK(errand_task_release(t));
  CHECK_OK(errand_task_release(hold[0]));
  CHECK_OK(errand_runtime_destroy(rt));
}

TEST(queue_timeout_counts_the_delay) {
  rec r;
  errand_task *t = NULL;
  errand_post_options o = rec_opts();
  int code = 0;
  errand_runtime *rt = rt_new(2); /* idle workers */
  REQUIRE(rt);
  rec_init(&r);
  o.delay_ms = 300;
  o.queue_timeout_ms = 40;
  REQUIRE_OK(errand_post(rt, rec_task, &r, &o, &t));
  CHECK_OK(errand_wait(t, CHECK_LONG_MS));
  CHECK_EQ_INT(status_of(t), ERRAND_STATUS_CANCELED);
  CHECK_OK(errand_task_error(t, &code, NULL));
  CHECK_EQ_INT(code, ERRAND_E_TIMEOUT);
  CHECK_OK(errand_runtime_destroy(rt));
  CHECK_EQ_INT(atomic_load(&r.ran), 0);
  CHECK_EQ_INT(atomic_load(&r.freed), 1);
  CHECK_OK(errand_task_release(t));
}

TEST(queue_timeout_does_not_touch_a_task_that_starts_in_time) {
  rec r;
  errand_task *t = NULL;
  errand_post_options o = rec_opts();
  gate g;
  errand_runtime *rt = rt_new(1);
  REQUIRE(rt);
  rec_init(&r);
  gate_init(&g);
  o.queue_timeout_ms = 60000;
  REQUIRE_OK(errand_post(rt, rec_task, &r, &o, &t));
  CHECK_OK(errand_wait(t, -1));
  CHECK_EQ_INT(status_of(t), ERRAND_STATUS_RAN_TO_COMPLETION);
  CHECK_EQ_INT(atomic_load(&r.ran), 1);
  CHECK_OK(errand_task_release(t));
  /* A long-running task with a short queue timeout is not cancelled once
   * it has started. */
  o = post_opts();
  o.queue_timeout_ms = 20;
  REQUIRE_OK(errand_post(rt, gate_or_cancel_task, &g, &o, &t));
  REQUIRE(check_wait_count(&g.started, 1, CHECK_LONG_MS));
  check_sleep_ms(60);
  CHECK_EQ_INT(errand_task_is_canceled(t), 0);
  gate_open(&g);
  CHECK_OK(errand_wait(t, -1));
  CHECK_EQ_INT(status_of(t), ERRAND_STATUS_RAN_TO_COMPLETION);
  CHECK_OK(errand_task_release(t));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* Lower bounds for run timeouts are measured from a moment the test knows
 * is no later than errand's own start of the run (errand starts the clock
 * just before it calls the function): the post, or the opening of the
 * gate that held the only worker. */
typedef struct runto {
  atomic_int sleep_rc;
  atomic_int canceled_at_start;
  int64_t before_start_ns;
  int64_t woke_ns;
} runto;

static void runto_init(runto *r) {
  atomic_init(&r->sleep_rc, -1);
  atomic_init(&r->canceled_at_start, -1);
  r->before_start_ns = 0;
  r->woke_ns = 0;
}

static int run_timeout_task(errand_task *self, void *arg) {
  runto *r = (runto *)arg;
  int rc;
  atomic_store(&r->canceled_at_start, errand_task_is_canceled(self));
  rc = errand_task_sleep(self, 600000);
  r->woke_ns = check_now_ns();
  atomic_store(&r->sleep_rc, rc);
  return rc;
}

TEST(run_timeout_requests_cancellation_and_says_so) {
  int mode;
  for (mode = 0; mode < 2; mode++) {
    runto r;
    errand_task *t = NULL;
    errand_post_options o = post_opts();
    int code = 0;
    const char *m = NULL;
    errand_runtime *rt = rt_new(1);
    REQUIRE(rt);
    runto_init(&r);
    o.run_timeout_ms = 50;
    o.mode = (errand_mode)mode;
    r.before_start_ns = check_now_ns();
    REQUIRE_OK(errand_post(rt, run_timeout_task, &r, &o, &t));
    CHECK_OK(errand_wait(t, CHECK_LONG_MS));
    CHECK_EQ_INT(atomic_load(&r.canceled_at_start), 0);
    CHECK_RC(atomic_load(&r.sleep_rc), ERRAND_E_CANCELED);
    CHECK(r.woke_ns - r.before_start_ns >= 50 * 1000000LL); /* not before */
    CHECK_EQ_INT(status_of(t), ERRAND_STATUS_CANCELED);
    CHECK_OK(errand_task_error(t, &code, &m));
    CHECK(code == ERRAND_E_TIMEOUT || code == ERRAND_E_CANCELED);
    if (CHECK(m != NULL))
      CHECK(contains_ci(m, "timeout") || contains_ci(m, "timed out"));
    CHECK_OK(errand_task_release(t));
    CHECK_OK(errand_runtime_destroy(rt));
  }
}

static int run_timeout_ignorer(errand_task *self, void *arg) {
  runto *r = (runto *)arg;
  atomic_store(&r->canceled_at_start, errand_task_is_canceled(self));
  while (errand_task_is_canceled(self) == 0) check_sleep_us(200);
  r->woke_ns = check_now_ns();
  return 0; /* saw it, but finishes normally */
}

TEST(run_timeout_on_a_task_that_finishes_normally) {
  runto r;
  errand_task *t = NULL;
  errand_post_options o = post_opts();
  errand_runtime *rt = rt_new(1);
  REQUIRE(rt);
  runto_init(&r);
  o.run_timeout_ms = 30;
  r.before_start_ns = check_now_ns();
  REQUIRE_OK(errand_post(rt, run_timeout_ignorer, &r, &o, &t));
  CHECK_OK(errand_wait(t, CHECK_LONG_MS));
  CHECK_EQ_INT(atomic_load(&r.canceled_at_start), 0);
  CHECK(r.woke_ns - r.before_start_ns >= 30 * 1000000LL);
  CHECK_EQ_INT(status_of(t), ERRAND_STATUS_RAN_TO_COMPLETION);
  CHECK_OK(errand_task_release(t));
  CHECK_OK(errand_runtime_destroy(rt));
}

TEST(run_timeout_does_not_count_queue_time) {
  gate g;
  runto r;
  errand_task *hold[1], *t = NULL;
  errand_post_options o = post_opts();
  errand_runtime *rt = rt_new(1);
  REQUIRE(rt);
  gate_init(&g);
  REQUIRE(hold_workers(rt, &g, 1, hold));
  runto_init(&r);
  o.run_timeout_ms = 40;
  REQUIRE_OK(errand_post(rt, run_timeout_ignorer, &r, &o, &t));
  check_sleep_ms(100); /* queued longer than its run timeout */
  CHECK_EQ_INT(status_of(t), ERRAND_STATUS_WAITING_TO_RUN);
  CHECK_EQ_INT(errand_task_is_canceled(t), 0);
  r.before_start_ns = check_now_ns();
  gate_open(&g);
  CHECK_OK(errand_wait(t, CHECK_LONG_MS));
  /* Measured from its start, not from the post: not cancelled when it
   * started, and not before 40 ms after the worker came free. */
  CHECK_EQ_INT(atomic_load(&r.canceled_at_start), 0);
  CHECK(r.woke_ns - r.before_start_ns >= 40 * 1000000LL);
  CHECK_EQ_INT(status_of(t), ERRAND_STATUS_RAN_TO_COMPLETION);
  CHECK_OK(errand_task_release(t));
  CHECK_OK(errand_task_release(hold[0]));
  CHECK_OK(errand_runtime_destroy(rt));
}

CHECK_MAIN()
