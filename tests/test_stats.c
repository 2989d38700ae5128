/*
 * test_stats.c — item 13: per-priority queue depth, running count,
 * completed / faulted / canceled counts and the queue-wait and run-time
 * histograms, read through errand_runtime_stats (cheap enough to poll).
 * Numbers are checked in quiet moments, where they must be exact.
 */
#include "helpers.h"

static uint64_t hist_total(const uint64_t *h) {
  uint64_t n = 0;
  int i;
  for (i = 0; i < ERRAND_HIST_BUCKETS; i++) n += h[i];
  return n;
}

/* A runtime that times every task, for tests that count histogram
 * entries (by default one task in 8 is timed). */
static errand_runtime *rt_timed(int workers) {
  errand_runtime_options o;
  memset(&o, 0, sizeof o);
  o.workers = workers;
  o.timing_sample = 1;
  return rt_new_opts(&o);
}

static errand_stats stats_of(errand_runtime *rt) {
  errand_stats st;
  memset(&st, 0xab, sizeof st);
  CHECK_OK(errand_runtime_stats(rt, &st));
  return st;
}

TEST(fresh_runtime_has_zero_counters) {
  errand_runtime *rt = rt_new(3);
  errand_stats st;
  int i;
  REQUIRE(rt);
  st = stats_of(rt);
  for (i = 0; i < 3; i++) CHECK_EQ_INT(st.queued[i], 0);
  CHECK_EQ_INT(st.delayed, 0);
  CHECK_EQ_INT(st.running, 0);
  CHECK_EQ_INT(st.dedicated_running, 0);
  CHECK_EQ_INT(st.posted, 0);
  CHECK_EQ_INT(st.succeeded, 0);
  CHECK_EQ_INT(st.faulted, 0);
  CHECK_EQ_INT(st.canceled, 0);
  CHECK_EQ_INT(st.workers, 3);
  CHECK_EQ_INT(st.compensating_workers, 0);
  CHECK_EQ_INT(hist_total(st.queue_wait_ns), 0);
  CHECK_EQ_INT(hist_total(st.run_time_ns), 0);
  CHECK_OK(errand_runtime_destroy(rt));
}

TEST(queue_depth_per_priority_and_running_count) {
  gate g, dg;
  errand_task *hold[2], *ded = NULL;
  errand_post_options o = post_opts();
  errand_stats st;
  int i;
  errand_runtime_options ro;
  errand_runtime *rt;
  memset(&ro, 0, sizeof ro);
  ro.workers = 2;
  ro.max_compensating = -1;
  rt = rt_new_opts(&ro);
  REQUIRE(rt);
  gate_init(&g);
  gate_init(&dg);
  REQUIRE(hold_workers(rt, &g, 2, hold));
  o.mode = ERRAND_MODE_DEDICATED;
  REQUIRE_OK(errand_post(rt, gate_task, &dg, &o, &ded));
  REQUIRE(check_wait_count(&dg.started, 1, CHECK_LONG_MS));
  o = post_opts();
  for (i = 0; i < 3; i++) {
    o.priority = ERRAND_PRIORITY_USER_BLOCKING;
    CHECK_OK(errand_post(rt, noop_task, NULL, &o, NULL));
  }
  for (i = 0; i < 5; i++) {
    o.priority = i % 2 ? ERRAND_PRIORITY_USER_VISIBLE : ERRAND_PRIORITY_DEFAULT;
    CHECK_OK(errand_post(rt, noop_task, NULL, &o, NULL));
  }
  for (i = 0; i < 7; i++) {
    o.priority = ERRAND_PRIORITY_BACKGROUND;
    CHECK_OK(errand_post(rt, noop_task, NULL, &o, NULL));
  }
  o = post_opts();
  o.delay_ms = 600000;
  for (i = 0; i < 4; i++) CHECK_OK(errand_post(rt, noop_task, NULL, &o, NULL));
  st = stats_of(rt);
  CHECK_EQ_INT(st.queued[0], 3);
  CHECK_EQ_INT(st.queued[1], 5);
  CHECK_EQ_INT(st.queued[2], 7);
  CHECK_EQ_INT(st.delayed, 4);
  CHECK_EQ_INT(st.running, 3);
  CHECK_EQ_INT(st.dedicated_running, 1);
  CHECK_EQ_INT(st.posted, 2 + 1 + 15 + 4);
  gate_open(&g);
  gate_open(&dg);
  CHECK_OK(errand_wait(ded, -1));
  CHECK_OK(errand_wait_all(hold, 2, -1));
  /* Cancel mode takes care of the four ten-minute tasks. */
  CHECK_OK(errand_runtime_shutdown(rt, ERRAND_SHUTDOWN_CANCEL, -1));
  st = stats_of(rt);
  CHECK_EQ_INT(st.queued[0] + st.queued[1] + st.queued[2], 0);
  CHECK_EQ_INT(st.delayed, 0);
  CHECK_EQ_INT(st.running, 0);
  CHECK_EQ_INT(st.dedicated_running, 0);
  /* The queued ones may have run or been canceled by the shutdown, but
   * every task is counted exactly once. */
  CHECK_EQ_INT(st.succeeded + st.faulted + st.canceled, st.posted);
  CHECK(st.canceled >= 4);
  CHECK_OK(errand_task_release(ded));
  CHECK_OK(errand_task_release(hold[0]));
  CHECK_OK(errand_task_release(hold[1]));
  CHECK_OK(errand_runtime_destroy(rt));
}

static int fail_task(errand_task *self, void *arg) {
  (void)arg;
  return errand_task_fail(self, 3, "no");
}

static int cancel_self_task(errand_task *self, void *arg) {
  (void)self;
  (void)arg;
  return ERRAND_E_CANCELED;
}

static int sleep_task(errand_task *self, void *arg) {
  return errand_task_sleep(self, (int64_t)(intptr_t)arg);
}

TEST(outcome_counters_and_histograms_are_exact_when_quiet) {
  gate g;
  errand_task *hold[1], *c = NULL;
  errand_post_options o = post_opts();
  errand_stats st;
  int i;
  const int ok = 13, bad = 5, selfcancel = 2, precancel = 4, timeout = 3;
  errand_runtime *rt = rt_timed(1);
  REQUIRE(rt);
  gate_init(&g);
  REQUIRE(hold_workers(rt, &g, 1, hold)); /* 1 success when it ends */
  for (i = 0; i < precancel; i++) {
    REQUIRE_OK(errand_post(rt, noop_task, NULL, NULL, &c));
    CHECK_OK(errand_task_cancel(c));
    CHECK_OK(errand_task_release(c));
  }
  o.queue_timeout_ms = 1;
  for (i = 0; i < timeout; i++) CHECK_OK(errand_post(rt, noop_task, NULL, &o, NULL));
  /* Let the queue timeouts expire while the worker is held. */
  {
    int64_t end = check_now_ms() + CHECK_LONG_MS;
    do {
      st = stats_of(rt);
      if (st.canceled >= (uint64_t)(precancel + timeout)) break;
      check_sleep_ms(1);
    } while (check_now_ms() < end);
  }
  CHECK_EQ_INT(st.canceled, precancel + timeout);
  for (i = 0; i < ok; i++) CHECK_OK(errand_post(rt, noop_task, NULL, NULL, NULL));
  for (i = 0; i < bad; i++) CHECK_OK(errand_post(rt, fail_task, NULL, NULL, NULL));
  for (i = 0; i < selfcancel; i++)
    CHECK_OK(errand_post(rt, cancel_self_task, NULL, NULL, NULL));
  gate_open(&g);
  CHECK_OK(errand_runtime_shutdown(rt, ERRAND_SHUTDOWN_DRAIN, -1));
  st = stats_of(rt);
  CHECK_EQ_INT(st.posted, 1 + precancel + timeout + ok + bad + selfcancel);
  CHECK_EQ_INT(st.succeeded, 1 + ok);
  CHECK_EQ_INT(st.faulted, bad);
  CHECK_EQ_INT(st.canceled, precancel + timeout + selfcancel);
  /* Histograms count the tasks that started: every one that ran. */
  CHECK_EQ_INT(hist_total(st.run_time_ns), 1 + ok + bad + selfcancel);
  CHECK_EQ_INT(hist_total(st.queue_wait_ns), 1 + ok + bad + selfcancel);
  CHECK_OK(errand_task_release(hold[0]));
  CHECK_OK(errand_runtime_destroy(rt));
}

TEST(run_time_histogram_sees_long_tasks) {
  errand_task *t[4];
  errand_stats st;
  int i;
  uint64_t q;
  errand_runtime *rt = rt_timed(4);
  REQUIRE(rt);
  for (i = 0; i < 4; i++)
    REQUIRE_OK(errand_post(rt, sleep_task, (void *)(intptr_t)30, NULL, &t[i]));
  CHECK_OK(errand_wait_all(t, 4, -1));
  CHECK_OK(errand_runtime_shutdown(rt, ERRAND_SHUTDOWN_DRAIN, -1));
  st = stats_of(rt);
  CHECK_EQ_INT(hist_total(st.run_time_ns), 4);
  /* Every run took at least 30 ms, so no sample sits below the 2^24 ns
   * (~16.8 ms) bucket and the median's upper edge is at least 30 ms. */
  for (i = 0; i < 24; i++) CHECK_EQ_INT(st.run_time_ns[i], 0);
  q = errand_hist_quantile(st.run_time_ns, 0.5);
  CHECK(q >= 30000000u);
  for (i = 0; i < 4; i++) CHECK_OK(errand_task_release(t[i]));
  CHECK_OK(errand_runtime_destroy(rt));
}

TEST(queue_wait_histogram_sees_a_long_wait) {
  gate g;
  errand_task *hold[1], *t = NULL;
  errand_stats st;
  int i;
  errand_runtime *rt = rt_timed(1);
  REQUIRE(rt);
  gate_init(&g);
  REQUIRE(hold_workers(rt, &g, 1, hold));
  REQUIRE_OK(errand_post(rt, noop_task, NULL, NULL, &t));
  check_sleep_ms(50); /* it waits at least this long in the queue */
  gate_open(&g);
  CHECK_OK(errand_wait(t, -1));
  CHECK_OK(errand_runtime_shutdown(rt, ERRAND_SHUTDOWN_DRAIN, -1));
  st = stats_of(rt);
  CHECK_EQ_INT(hist_total(st.queue_wait_ns), 2);
  /* A sample of >= 50 ms: bucket >= 25 (2^25 ns ~ 33.5 ms).  (The gate
   * task's own wait is short but not bounded here.) */
  {
    uint64_t big = 0;
    for (i = 25; i < ERRAND_HIST_BUCKETS; i++) big += st.queue_wait_ns[i];
    CHECK(big >= 1);
  }
  CHECK(errand_hist_quantile(st.queue_wait_ns, 1.0) >= 50000000u);
  CHECK_OK(errand_task_release(t));
  CHECK_OK(errand_task_release(hold[0]));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* A worker that goes from one task to the next reuses the stamp that ended
 * the first as the start of the second; time it spent idle in between must
 * not be counted as the second task's run. */
TEST(idle_time_between_tasks_is_no_task_run_time) {
  errand_task *t = NULL;
  errand_stats st;
  int i;
  errand_runtime *rt = rt_timed(1);
  REQUIRE(rt);
  for (i = 0; i < 4; i++) {
    REQUIRE_OK(errand_post(rt, noop_task, NULL, NULL, &t));
    CHECK_OK(errand_wait(t, -1));
    CHECK_OK(errand_task_release(t));
    check_sleep_ms(40); /* the worker spins, then parks */
  }
  CHECK_OK(errand_runtime_shutdown(rt, ERRAND_SHUTDOWN_DRAIN, -1));
  st = stats_of(rt);
  CHECK_EQ_INT(hist_total(st.run_time_ns), 4);
  /* An empty task runs well under 2^24 ns (~16.8 ms); 40 ms of idling
   * counted into one would land at 2^25 or above. */
  for (i = 24; i < ERRAND_HIST_BUCKETS; i++) CHECK_EQ_INT(st.run_time_ns[i], 0);
  CHECK_OK(errand_runtime_destroy(rt));
}

/* By default one task in 8 is timed, counted per posting thread: any 8k
 * posts in a row from one thread hold exactly k timed ones, whatever that
 * thread posted before.  Every other counter still counts every task. */
typedef struct poster {
  errand_runtime *rt;
  int n;
} poster;

static void *post_n(void *arg) {
  poster *p = (poster *)arg;
  int i;
  for (i = 0; i < p->n; i++) CHECK_OK(errand_post(p->rt, noop_task, NULL, NULL, NULL));
  return NULL;
}

TEST(default_timing_times_one_task_in_8_per_posting_thread) {
  pthread_t th;
  poster other;
  errand_stats st;
  int i, rounds = check_iters(20);
  errand_runtime *rt = rt_new(2);
  REQUIRE(rt);
  other.rt = rt;
  other.n = 400;
  for (i = 0; i < rounds; i++) {
    poster mine;
    mine.rt = rt;
    mine.n = 800;
    REQUIRE(thread_start(&th, post_n, &other));
    post_n(&mine);
    pthread_join(th, NULL);
  }
  CHECK_OK(errand_runtime_shutdown(rt, ERRAND_SHUTDOWN_DRAIN, -1));
  st = stats_of(rt);
  CHECK_EQ_INT(st.posted, rounds * 1200);
  CHECK_EQ_INT(st.succeeded, rounds * 1200);
  CHECK_EQ_INT(st.running, 0);
  CHECK_EQ_INT(hist_total(st.queue_wait_ns), rounds * 150);
  CHECK_EQ_INT(hist_total(st.run_time_ns), rounds * 150);
  CHECK_OK(errand_runtime_destroy(rt));
}

TEST(timing_sample_none_leaves_the_histograms_empty_and_counts_running) {
  gate g;
  errand_task *hold[2];
  errand_runtime_options o;
  errand_stats st;
  int i;
  errand_runtime *rt;
  memset(&o, 0, sizeof o);
  o.workers = 2;
  o.timing_sample = -1;
  rt = rt_new_opts(&o);
  REQUIRE(rt);
  gate_init(&g);
  REQUIRE(hold_workers(rt, &g, 2, hold));
  for (i = 0; i < 50; i++) CHECK_OK(errand_post(rt, noop_task, NULL, NULL, NULL));
  st = stats_of(rt);
  CHECK_EQ_INT(st.running, 2);
  CHECK_EQ_INT(st.queued[ERRAND_PRIORITY_USER_VISIBLE - 1], 50);
  gate_open(&g);
  CHECK_OK(errand_runtime_shutdown(rt, ERRAND_SHUTDOWN_DRAIN, -1));
  st = stats_of(rt);
  CHECK_EQ_INT(st.running, 0);
  CHECK_EQ_INT(st.succeeded, 52);
  CHECK_EQ_INT(hist_total(st.queue_wait_ns), 0);
  CHECK_EQ_INT(hist_total(st.run_time_ns), 0);
  for (i = 0; i < 2; i++) CHECK_OK(errand_task_release(hold[i]));
  CHECK_OK(errand_runtime_destroy(rt));
}

TEST(timing_sample_out_of_range_is_rejected) {
  errand_runtime_options o;
  errand_runtime *rt = NULL;
  memset(&o, 0, sizeof o);
  o.workers = 1;
  o.timing_sample = -2;
  CHECK_EQ_INT(errand_runtime_create(&o, &rt), ERRAND_E_INVALID);
  CHECK(strstr(errand_last_error(), "timing_sample") != NULL);
  o.timing_sample = 65537;
  CHECK_EQ_INT(errand_runtime_create(&o, &rt), ERRAND_E_INVALID);
  CHECK(rt == NULL);
  o.timing_sample = 65536;
  rt = rt_new_opts(&o);
  REQUIRE(rt);
  CHECK_OK(errand_runtime_destroy(rt));
}

/* A worker runs a timed task, an untimed one that takes 40 ms, then a
 * timed one, straight through: the stamp that ended the first may not
 * start the third, or the untimed task's 40 ms would count as its run.
 * Posted from a thread of its own, whose first post is timed; one in 2
 * is timed, so the order is H (timed), X, A (timed), S, C (timed). */
static void *post_sandwich(void *arg) {
  errand_runtime *rt = (errand_runtime *)arg;
  CHECK_OK(errand_post(rt, sleep_task, (void *)(intptr_t)5, NULL, NULL));
  CHECK_OK(errand_post(rt, noop_task, NULL, NULL, NULL));
  CHECK_OK(errand_post(rt, noop_task, NULL, NULL, NULL));
  CHECK_OK(errand_post(rt, sleep_task, (void *)(intptr_t)40, NULL, NULL));
  CHECK_OK(errand_post(rt, noop_task, NULL, NULL, NULL));
  return NULL;
}

TEST(an_untimed_task_between_two_timed_ones_is_not_in_their_run_time) {
  pthread_t th;
  errand_runtime *rt;
  errand_runtime_options o;
  errand_stats st;
  int i;
  uint64_t big = 0;
  memset(&o, 0, sizeof o);
  o.workers = 1;
  o.max_compensating = -1; /* one thread runs all five */
  o.timing_sample = 2;
  rt = rt_new_opts(&o);
  REQUIRE(rt);
  REQUIRE(thread_start(&th, post_sandwich, rt));
  pthread_join(th, NULL);
  CHECK_OK(errand_runtime_shutdown(rt, ERRAND_SHUTDOWN_DRAIN, -1));
  st = stats_of(rt);
  CHECK_EQ_INT(st.succeeded, 5);
  CHECK_EQ_INT(hist_total(st.run_time_ns), 3);
  /* H sleeps 5 ms, A and C are empty: none reaches 2^25 ns (~33.5 ms). */
  for (i = 25; i < ERRAND_HIST_BUCKETS; i++) big += st.run_time_ns[i];
  CHECK_EQ_INT(big, 0);
  CHECK_OK(errand_runtime_destroy(rt));
}

TEST(hist_quantile_gives_the_upper_edge_of_the_bucket) {
  uint64_t h[ERRAND_HIST_BUCKETS];
  memset(h, 0, sizeof h);
  CHECK_EQ_INT(errand_hist_quantile(h, 0.5), 0);
  h[5] = 10; /* [32, 64) */
  CHECK_EQ_INT(errand_hist_quantile(h, 0.5), 64);
  CHECK_EQ_INT(errand_hist_quantile(h, 1.0), 64);
  memset(h, 0, sizeof h);
  h[3] = 90;  /* [8, 16) */
  h[10] = 10; /* [1024, 2048) */
  CHECK_EQ_INT(errand_hist_quantile(h, 0.5), 16);
  CHECK_EQ_INT(errand_hist_quantile(h, 0.9), 16);
  CHECK_EQ_INT(errand_hist_quantile(h, 0.95), 2048);
  CHECK_EQ_INT(errand_hist_quantile(h, 0.99), 2048);
  CHECK_EQ_INT(errand_hist_quantile(h, 1.0), 2048);
  memset(h, 0, sizeof h);
  h[ERRAND_HIST_BUCKETS - 1] = 1;
  CHECK_EQ_INT(errand_hist_quantile(h, 0.5), (uint64_t)1 << ERRAND_HIST_BUCKETS);
  memset(h, 0, sizeof h);
  h[0] = 4; /* d < 2 */
  CHECK_EQ_INT(errand_hist_quantile(h, 0.5), 2);
}

/* Polling stats from several threads while tasks run: no crash, no
 * deadlock, and the totals never go down. */
typedef struct poller {
  errand_runtime *rt;
  atomic_int stop;
  atomic_int bad;
  atomic_int polls;
} poller;

static void *poll_loop(void *arg) {
  poller *p = (poller *)arg;
  uint64_t last_posted = 0, last_done = 0;
  while (!atomic_load(&p->stop)) {
    errand_stats st;
    uint64_t done;
    if (errand_runtime_stats(p->rt, &st) != 0) {
      atomic_fetch_add(&p->bad, 1);
      break;
    }
    done = st.succeeded + st.faulted + st.canceled;
    if (st.posted < last_posted || done < last_done) atomic_fetch_add(&p->bad, 1);
    last_posted = st.posted;
    last_done = done;
    atomic_fetch_add(&p->polls, 1);
  }
  return NULL;
}

TEST(stats_can_be_polled_from_many_threads_while_tasks_run) {
  enum { P = 3 };
  poller p;
  pthread_t th[P];
  int i, n = check_iters(5000);
  errand_stats st;
  errand_runtime *rt = rt_new(2);
  REQUIRE(rt);
  p.rt = rt;
  atomic_init(&p.stop, 0);
  atomic_init(&p.bad, 0);
  atomic_init(&p.polls, 0);
  for (i = 0; i < P; i++) REQUIRE(thread_start(&th[i], poll_loop, &p));
  /* Post only once the pollers are polling: on a loaded machine they may
   * not get a CPU before a short run is over, and then nothing here
   * would have been polled while tasks ran. */
  REQUIRE(check_wait_count(&p.polls, P, CHECK_LONG_MS));
  for (i = 0; i < n; i++) {
    errand_post_options o = post_opts();
    o.priority = (errand_priority)(i % 4);
    CHECK_OK(errand_post(rt, i % 10 == 0 ? fail_task : noop_task, NULL, &o, NULL));
  }
  CHECK_OK(errand_runtime_shutdown(rt, ERRAND_SHUTDOWN_DRAIN, -1));
  atomic_store(&p.stop, 1);
  for (i = 0; i < P; i++) pthread_join(th[i], NULL);
  CHECK_EQ_INT(atomic_load(&p.bad), 0);
  st = stats_of(rt);
  CHECK_EQ_INT(st.posted, n);
  CHECK_EQ_INT(st.succeeded + st.faulted, n);
  CHECK_EQ_INT(st.faulted, (n + 9) / 10);
  CHECK_OK(errand_runtime_destroy(rt));
}

CHECK_MAIN()
