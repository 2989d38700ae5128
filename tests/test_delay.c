/*
 * test_delay.c — item 8: a delayed task never starts before its delay.
 * Only the lower bound is tested; how soon after the delay a task starts
 * is a benchmark question (bench/), not a unit-test one.
 */
#include "helpers.h"

typedef struct stamp {
  int64_t posted_ns; /* taken just before errand_post */
  atomic_llong started_ns;
  int64_t delay_ms;
} stamp;

static int stamp_task(errand_task *self, void *arg) {
  (void)self;
  atomic_store(&((stamp *)arg)->started_ns, (long long)check_now_ns());
  return 0;
}

static int post_stamp(errand_runtime *rt, stamp *s, int64_t delay_ms,
                      errand_mode mode, errand_priority prio,
                      errand_task **out) {
  errand_post_options o = post_opts();
  o.delay_ms = delay_ms;
  o.mode = mode;
  o.priority = prio;
  s->delay_ms = delay_ms;
  atomic_init(&s->started_ns, 0);
  s->posted_ns = check_now_ns();
  return CHECK_OK(errand_post(rt, stamp_task, s, &o, out));
}

static void check_not_early(const stamp *s) {
  long long st = atomic_load(&s->started_ns);
  if (!CHECK(st != 0)) return;
  if (st - s->posted_ns < s->delay_ms * 1000000LL)
    CHECK_FAILF("task with delay %lld ms started after %.3f ms",
                (long long)s->delay_ms, (double)(st - s->posted_ns) / 1e6);
}

TEST(delayed_task_does_not_start_before_its_delay) {
  int mode;
  for (mode = 0; mode < 2; mode++) {
    stamp s;
    errand_task *t = NULL;
    errand_runtime *rt = rt_new(2);
    REQUIRE(rt);
    REQUIRE(post_stamp(rt, &s, 100, (errand_mode)mode,
                       ERRAND_PRIORITY_DEFAULT, &t));
    CHECK_EQ_INT(status_of(t), ERRAND_STATUS_WAITING_TO_RUN);
    CHECK_OK(errand_wait(t, -1));
    CHECK_EQ_INT(status_of(t), ERRAND_STATUS_RAN_TO_COMPLETION);
    check_not_early(&s);
    CHECK_OK(errand_task_release(t));
    CHECK_OK(errand_runtime_destroy(rt));
  }
}

TEST(delayed_task_is_waiting_to_run_and_counted_as_delayed) {
  errand_task *t = NULL;
  stamp s;
  errand_stats st;
  errand_runtime *rt = rt_new(1);
  REQUIRE(rt);
  REQUIRE(post_stamp(rt, &s, 60000, ERRAND_MODE_POOL, ERRAND_PRIORITY_DEFAULT,
                     &t));
  check_sleep_ms(20);
  CHECK_EQ_INT(status_of(t), ERRAND_STATUS_WAITING_TO_RUN);
  CHECK_EQ_INT(flags_of(t), 0);
  CHECK_RC(errand_wait(t, 0), ERRAND_E_TIMEOUT);
  if (CHECK_OK(errand_runtime_stats(rt, &st))) {
    CHECK_EQ_INT(st.delayed, 1);
    CHECK_EQ_INT(st.queued[0] + st.queued[1] + st.queued[2], 0);
  }
  CHECK_EQ_INT(atomic_load(&s.started_ns), 0);
  CHECK_OK(errand_task_cancel(t));
  CHECK_OK(errand_task_release(t));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* Random delays, posted in random order, from 2 runs with 1 and 3 workers;
 * every one starts no earlier than its own delay. */
TEST(random_delays_none_starts_early) {
  int rounds = check_iters(6), r;
  check_rng rng;
  check_rng_init(&rng, check_seed("random delays"));
  for (r = 0; r < rounds && !check_failed(); r++) {
    enum { N = 40 };
    stamp s[N];
    errand_task *t[N];
    int i;
    errand_runtime *rt = rt_new(r % 2 ? 3 : 1);
    REQUIRE(rt);
    for (i = 0; i < N; i++) {
      int64_t d = (int64_t)check_rng_below(&rng, 120);
      errand_mode m = check_rng_below(&rng, 6) == 0 ? ERRAND_MODE_DEDICATED
                                                    : ERRAND_MODE_POOL;
      errand_priority p = (errand_priority)check_rng_below(&rng, 4);
      REQUIRE(post_stamp(rt, &s[i], d, m, p, &t[i]));
      if (check_rng_below(&rng, 4) == 0)
        check_sleep_us((int64_t)check_rng_below(&rng, 5000));
    }
    CHECK_OK(errand_wait_all(t, N, -1));
    for (i = 0; i < N; i++) {
      check_not_early(&s[i]);
      CHECK_OK(errand_task_release(t[i]));
    }
    CHECK_OK(errand_runtime_destroy(rt));
  }
}

/* An idle worker does not take a delayed user-blocking task early just
 * because nothing else is queued. */
TEST(delayed_high_priority_task_waits_even_with_idle_workers) {
  stamp s;
  errand_task *t = NULL, *later = NULL;
  atomic_int count;
  errand_runtime *rt = rt_new(2);
  REQUIRE(rt);
  atomic_init(&count, 0);
  REQUIRE(post_stamp(rt, &s, 80, ERRAND_MODE_POOL,
                     ERRAND_PRIORITY_USER_BLOCKING, &t));
  /* A background task posted later, without delay, runs first. */
  {
    errand_post_options o = post_opts();
    o.priority = ERRAND_PRIORITY_BACKGROUND;
    REQUIRE_OK(errand_post(rt, count_task, &count, &o, &later));
  }
  CHECK_OK(errand_wait(later, -1));
  /* Still inside the delay: it must not have started. */
  if (check_now_ns() - s.posted_ns < 70 * 1000000LL)
    CHECK_EQ_INT(atomic_load(&s.started_ns), 0);
  CHECK_OK(errand_wait(t, -1));
  check_not_early(&s);
  CHECK_OK(errand_task_release(t));
  CHECK_OK(errand_task_release(later));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* Delayed tasks also run when the runtime drains them. */
TEST(drain_runs_delayed_tasks_not_before_their_delay) {
  enum { N = 10 };
  stamp s[N];
  int i;
  errand_runtime *rt = rt_new(2);
  REQUIRE(rt);
  for (i = 0; i < N; i++)
    REQUIRE(post_stamp(rt, &s[i], 10 * (i + 1), ERRAND_MODE_POOL,
                       ERRAND_PRIORITY_DEFAULT, NULL));
  CHECK_OK(errand_runtime_shutdown(rt, ERRAND_SHUTDOWN_DRAIN, -1));
  for (i = 0; i < N; i++) check_not_early(&s[i]);
  CHECK_OK(errand_runtime_destroy(rt));
}

/* Delay 0 is no delay at all: the task runs (no upper bound asserted). */
TEST(delay_zero_runs) {
  stamp s;
  errand_task *t = NULL;
  errand_runtime *rt = rt_new(1);
  REQUIRE(rt);
  REQUIRE(post_stamp(rt, &s, 0, ERRAND_MODE_POOL, ERRAND_PRIORITY_DEFAULT, &t));
  CHECK_OK(errand_wait(t, -1));
  CHECK(atomic_load(&s.started_ns) != 0);
  CHECK_OK(errand_task_release(t));
  CHECK_OK(errand_runtime_destroy(rt));
}

CHECK_MAIN()
