/*
 * test_priority.c — item 7: strict order between the three levels, FIFO
 * inside one; seed 004's seven posts run in exactly the seed's order on one
 * worker; and the documented aging rule (errand.h, "Priorities and aging")
 * bounds how long background work waits under a flood of higher work.
 *
 * Every test uses one worker, held busy by a gate task while the tasks are
 * posted, and max_compensating = -1 so that no extra worker can change the
 * order.
 */
#include <pthread.h>

#include "helpers.h"

/* A log of names, in the order the tasks ran. */
typedef struct runlog {
  pthread_mutex_t mu;
  int n;
  const char *names[4096];
} runlog;

static runlog lg;

static void log_reset(void) {
  pthread_mutex_lock(&lg.mu);
  lg.n = 0;
  pthread_mutex_unlock(&lg.mu);
}

static void log_add(const char *s) {
  pthread_mutex_lock(&lg.mu);
  if (lg.n < 4096) lg.names[lg.n++] = s;
  pthread_mutex_unlock(&lg.mu);
}

/* Reading the log after the tasks are done: under the lock as well, so the
 * test itself does not rely on errand_runtime_shutdown for memory
 * ordering.  Every reader below calls log_hold() first and log_done() at
 * the end. */
static void log_hold(void) { pthread_mutex_lock(&lg.mu); }
static void log_done(void) { pthread_mutex_unlock(&lg.mu); }

static int log_task(errand_task *self, void *arg) {
  (void)self;
  log_add((const char *)arg);
  return 0;
}

static errand_runtime *rt_one_worker(int aging_burst) {
  errand_runtime_options o;
  memset(&o, 0, sizeof o);
  o.workers = 1;
  o.aging_burst = aging_burst;
  o.max_compensating = -1;
  return rt_new_opts(&o);
}

static int post_log(errand_runtime *rt, const char *name, errand_priority p) {
  errand_post_options o = post_opts();
  o.priority = p;
  o.name = name;
  return CHECK_OK(errand_post(rt, log_task, (void *)name, &o, NULL));
}

/* --------------------------------------------------------------------- */
/* Seed 004                                                               */
/* --------------------------------------------------------------------- */

static void seed004_once(int aging_burst) {
  static const char *const want[7] = {
      "usr-blk 1", "usr-blk 2", "usr-vis 1", "usr-vis 2",
      "usr-vis 3 (default)", "bkg 1", "bkg 2"};
  gate g;
  errand_task *hold[1];
  errand_post_options o = post_opts();
  int i;
  errand_runtime *rt = rt_one_worker(aging_burst);
  if (!rt) return;
  gate_init(&g);
  log_reset();
  if (!hold_workers(rt, &g, 1, hold)) return;
  /* Seed 004: two groups of three, each in reverse order of priority... */
  post_log(rt, "bkg 1", ERRAND_PRIORITY_BACKGROUND);
  post_log(rt, "usr-vis 1", ERRAND_PRIORITY_USER_VISIBLE);
  post_log(rt, "usr-blk 1", ERRAND_PRIORITY_USER_BLOCKING);
  post_log(rt, "bkg 2", ERRAND_PRIORITY_BACKGROUND);
  post_log(rt, "usr-vis 2", ERRAND_PRIORITY_USER_VISIBLE);
  post_log(rt, "usr-blk 2", ERRAND_PRIORITY_USER_BLOCKING);
  /* ...and one with no priority given: user-visible. */
  CHECK_OK(errand_post(rt, log_task, (void *)"usr-vis 3 (default)", &o, NULL));
  gate_open(&g);
  CHECK_OK(errand_runtime_shutdown(rt, ERRAND_SHUTDOWN_DRAIN, -1));
  log_hold();
  if (CHECK_EQ_INT(lg.n, 7))
    for (i = 0; i < 7; i++) CHECK_EQ_STR(lg.names[i], want[i]);
  log_done();
  CHECK_OK(errand_task_release(hold[0]));
  CHECK_OK(errand_runtime_destroy(rt));
}

TEST(seed_004_seven_posts_run_in_the_seed_order) {
  int i, n = check_iters(50);
  for (i = 0; i < n && !check_failed(); i++) seed004_once(0);
}

TEST(seed_004_order_holds_for_any_aging_burst_above_the_count) {
  seed004_once(8);
  seed004_once(1000000);
}

/* --------------------------------------------------------------------- */
/* Strict levels, FIFO inside                                             */
/* --------------------------------------------------------------------- */

static const char *label(int prio, int k) {
  /* Stable storage for names "p<prio>#<k>". */
  static char buf[3][1024][16];
  snprintf(buf[prio - 1][k], sizeof buf[0][0], "p%d#%d", prio, k);
  return buf[prio - 1][k];
}

TEST(fifo_inside_each_level) {
  int prio;
  for (prio = 1; prio <= 3; prio++) {
    gate g;
    errand_task *hold[1];
    int k, n = 300;
    errand_runtime *rt = rt_one_worker(0);
    REQUIRE(rt);
    gate_init(&g);
    log_reset();
    REQUIRE(hold_workers(rt, &g, 1, hold));
    for (k = 0; k < n; k++) post_log(rt, label(prio, k), (errand_priority)prio);
    gate_open(&g);
    CHECK_OK(errand_runtime_shutdown(rt, ERRAND_SHUTDOWN_DRAIN, -1));
    log_hold();
    if (CHECK_EQ_INT(lg.n, n))
      for (k = 0; k < n; k++)
        if (!CHECK_EQ_STR(lg.names[k], label(prio, k))) break;
    log_done();
    CHECK_OK(errand_task_release(hold[0]));
    CHECK_OK(errand_runtime_destroy(rt));
  }
}

/* Random priorities; with aging out of the way (the largest burst) the run
 * order is the stable sort of the post order by level. */
TEST(strict_between_levels_random_mix) {
  int iters = check_iters(20), it;
  check_rng r;
  check_rng_init(&r, check_seed("strict levels"));
  for (it = 0; it < iters && !check_failed(); it++) {
    gate g;
    errand_task *hold[1];
    int n = 150 + (int)check_rng_below(&r, 150), k, prio, pos = 0;
    int count[4] = {0, 0, 0, 0};
    int prios[300];
    errand_runtime *rt = rt_one_worker(1000000);
    REQUIRE(rt);
    gate_init(&g);
    log_reset();
    REQUIRE(hold_workers(rt, &g, 1, hold));
    for (k = 0; k < n; k++) {
      prios[k] = 1 + (int)check_rng_below(&r, 3);
      post_log(rt, label(prios[k], count[prios[k]]++), (errand_priority)prios[k]);
    }
    gate_open(&g);
    CHECK_OK(errand_runtime_shutdown(rt, ERRAND_SHUTDOWN_DRAIN, -1));
    log_hold();
    if (CHECK_EQ_INT(lg.n, n))
      for (prio = 1; prio <= 3; prio++)
        for (k = 0; k < count[prio]; k++, pos++)
          if (!CHECK_EQ_STR(lg.names[pos], label(prio, k))) break;
    log_done();
    CHECK_OK(errand_task_release(hold[0]));
    CHECK_OK(errand_runtime_destroy(rt));
  }
}

/* FIFO across workers: with 2 workers, A (holds its worker), then K short
 * tasks, then B (holds its worker) are posted back to back.  The free
 * worker must start the K tasks before B — if B overtook them, they would
 * wait behind A and B with no worker left (seen as a ~1% hang when a
 * worker moved a batch of the injection queue into its own deque and the
 * other one preferred newer injected work to stealing the older batch). */
typedef struct fifo2 {
  atomic_int pos;
  atomic_int order[8];
  gate *g;
} fifo2;

typedef struct fifo2_arg {
  fifo2 *f;
  int tag;
  int hold; /* wait at the gate after logging */
} fifo2_arg;

static int fifo2_task(errand_task *self, void *arg) {
  fifo2_arg *a = (fifo2_arg *)arg;
  int p = atomic_fetch_add(&a->f->pos, 1);
  if (p < 8) atomic_store(&a->f->order[p], a->tag);
  if (a->hold) return gate_task(self, a->f->g);
  return 0;
}

TEST(fifo_holds_across_workers_for_posts_from_outside) {
  enum { K = 3 };
  int rounds = check_iters(300), r;
  for (r = 0; r < rounds && !check_failed(); r++) {
    gate g;
    fifo2 f;
    fifo2_arg a[K + 2];
    errand_task *t[K + 2];
    errand_runtime_options o;
    errand_runtime *rt;
    int i;
    memset(&o, 0, sizeof o);
    o.workers = 2;
    o.max_compensating = -1;
    rt = rt_new_opts(&o);
    REQUIRE(rt);
    gate_init(&g);
    atomic_init(&f.pos, 0);
    for (i = 0; i < 8; i++) atomic_init(&f.order[i], -1);
    f.g = &g;
    for (i = 0; i < K + 2; i++) {
      a[i].f = &f;
      a[i].tag = i; /* 0 = A, 1..K, K+1 = B */
      a[i].hold = (i == 0 || i == K + 1);
      REQUIRE_OK(errand_post(rt, fifo2_task, &a[i], NULL, &t[i]));
    }
    /* All K+2 start while A and B hold the two workers... */
    if (!CHECK(check_wait_count(&f.pos, K + 2, 10000)))
      printf("  round %d: only %d of %d tasks started\n", r,
             atomic_load(&f.pos), K + 2);
    /* ...and 1..K, B in post order (A races with task 1 to log first, as
     * they start on different workers: it is left out). */
    {
      int want = 1, n = atomic_load(&f.pos);
      for (i = 0; i < n && i < 8; i++) {
        int tag = atomic_load(&f.order[i]);
        if (tag == 0) continue;
        if (!CHECK_EQ_INT(tag, want)) {
          int j;
          printf("  round %d: start order", r);
          for (j = 0; j < n && j < 8; j++) printf(" %d", atomic_load(&f.order[j]));
          printf(" (0 = A, %d = B)\n", K + 1);
          break;
        }
        want++;
      }
    }
    gate_open(&g);
    CHECK_OK(errand_wait_all(t, K + 2, -1));
    for (i = 0; i < K + 2; i++) CHECK_OK(errand_task_release(t[i]));
    CHECK_OK(errand_runtime_destroy(rt));
  }
}

/* Tasks posted by a pool task go to that worker's own queue: still strict
 * between levels and oldest first inside one (header: "a worker runs them
 * oldest first too"). */
static errand_runtime *inner_rt;

static int post_from_inside(errand_task *self, void *arg) {
  int k;
  (void)self;
  (void)arg;
  for (k = 0; k < 20; k++) {
    post_log(inner_rt, label(3, k), ERRAND_PRIORITY_BACKGROUND);
    post_log(inner_rt, label(2, k), ERRAND_PRIORITY_USER_VISIBLE);
    post_log(inner_rt, label(1, k), ERRAND_PRIORITY_USER_BLOCKING);
  }
  return 0;
}

TEST(posts_from_a_pool_task_keep_level_order_and_fifo) {
  errand_task *t = NULL;
  int k, prio, pos = 0;
  errand_runtime *rt = rt_one_worker(1000000);
  REQUIRE(rt);
  inner_rt = rt;
  log_reset();
  REQUIRE_OK(errand_post(rt, post_from_inside, NULL, NULL, &t));
  CHECK_OK(errand_runtime_shutdown(rt, ERRAND_SHUTDOWN_DRAIN, -1));
  log_hold();
  if (CHECK_EQ_INT(lg.n, 60))
    for (prio = 1; prio <= 3; prio++)
      for (k = 0; k < 20; k++, pos++)
        if (!CHECK_EQ_STR(lg.names[pos], label(prio, k))) break;
  log_done();
  CHECK_OK(errand_task_release(t));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* --------------------------------------------------------------------- */
/* Aging                                                                  */
/* --------------------------------------------------------------------- */

/* A background task X is queued, then a stream of user-blocking tasks that
 * each post the next one (a flood that never ends by itself).  By the
 * documented rule the worker takes X after aging_burst higher picks. */
typedef struct stream {
  errand_runtime *rt;
  errand_priority prio; /* of the stream */
  atomic_int x_ran;
  atomic_int runs;      /* stream tasks run so far */
  atomic_int runs_at_x; /* stream runs seen when X ran */
  int limit;            /* stop the flood after this many (X starved) */
} stream;

static int stream_task(errand_task *self, void *arg) {
  stream *s = (stream *)arg;
  errand_post_options o = post_opts();
  int n;
  (void)self;
  if (atomic_load(&s->x_ran)) return 0; /* X ran: the flood stops */
  n = atomic_fetch_add(&s->runs, 1) + 1;
  if (n >= s->limit) return 0;
  o.priority = s->prio;
  CHECK_OK(errand_post(s->rt, stream_task, s, &o, NULL));
  return 0;
}

static int x_task(errand_task *self, void *arg) {
  stream *s = (stream *)arg;
  (void)self;
  atomic_store(&s->runs_at_x, atomic_load(&s->runs));
  atomic_store(&s->x_ran, 1);
  return 0;
}

static void aging_stream(int burst, errand_priority x_prio,
                         errand_priority stream_prio) {
  gate g;
  errand_task *hold[1];
  stream s;
  errand_post_options o = post_opts();
  int b = burst ? burst : 64, got;
  errand_runtime *rt = rt_one_worker(burst);
  if (!rt) return;
  gate_init(&g);
  s.rt = rt;
  s.prio = stream_prio;
  atomic_init(&s.x_ran, 0);
  atomic_init(&s.runs, 0);
  atomic_init(&s.runs_at_x, -1);
  s.limit = 20 * b + 1000;
  if (!hold_workers(rt, &g, 1, hold)) return;
  o.priority = x_prio;
  CHECK_OK(errand_post(rt, x_task, &s, &o, NULL));
  o.priority = stream_prio;
  CHECK_OK(errand_post(rt, stream_task, &s, &o, NULL));
  gate_open(&g);
  CHECK_OK(errand_runtime_shutdown(rt, ERRAND_SHUTDOWN_DRAIN, -1));
  got = atomic_load(&s.runs_at_x);
  printf("  aging_burst %d: X (%s) ran after %d %s picks\n", b,
         errand_priority_name(x_prio), got, errand_priority_name(stream_prio));
  CHECK_EQ_INT(atomic_load(&s.x_ran), 1);
  /* The rule: X waits for about aging_burst higher picks — not fewer
   * (levels are strict until then), not more (no starvation). */
  CHECK(got <= b + 1);
  CHECK(got >= b - 1);
  CHECK_OK(errand_task_release(hold[0]));
  CHECK_OK(errand_runtime_destroy(rt));
}

TEST(aging_background_under_a_self_reposting_user_blocking_stream_default) {
  aging_stream(0, ERRAND_PRIORITY_BACKGROUND, ERRAND_PRIORITY_USER_BLOCKING);
}

TEST(aging_background_under_a_stream_small_bursts) {
  const int bursts[] = {1, 2, 3, 5, 16};
  size_t i;
  for (i = 0; i < sizeof bursts / sizeof bursts[0]; i++)
    aging_stream(bursts[i], ERRAND_PRIORITY_BACKGROUND,
                 ERRAND_PRIORITY_USER_BLOCKING);
}

TEST(aging_background_under_a_user_visible_stream) {
  aging_stream(4, ERRAND_PRIORITY_BACKGROUND, ERRAND_PRIORITY_USER_VISIBLE);
  aging_stream(0, ERRAND_PRIORITY_BACKGROUND, ERRAND_PRIORITY_USER_VISIBLE);
}

TEST(aging_user_visible_under_a_user_blocking_stream) {
  aging_stream(3, ERRAND_PRIORITY_USER_VISIBLE, ERRAND_PRIORITY_USER_BLOCKING);
  aging_stream(0, ERRAND_PRIORITY_USER_VISIBLE, ERRAND_PRIORITY_USER_BLOCKING);
}

/* The flood is already queued (posted from outside) when the worker starts:
 * X, then many user-blocking tasks behind it. */
static void aging_preposted(int burst) {
  gate g;
  errand_task *hold[1];
  errand_post_options o = post_opts();
  int b = burst ? burst : 64, k, n, pos = -1;
  errand_runtime *rt = rt_one_worker(burst);
  if (!rt) return;
  gate_init(&g);
  log_reset();
  n = 3 * b + 10;
  if (n > 1000) n = 1000;
  if (!hold_workers(rt, &g, 1, hold)) return;
  o.priority = ERRAND_PRIORITY_BACKGROUND;
  CHECK_OK(errand_post(rt, log_task, (void *)"X", &o, NULL));
  for (k = 0; k < n; k++) post_log(rt, label(1, k), ERRAND_PRIORITY_USER_BLOCKING);
  gate_open(&g);
  CHECK_OK(errand_runtime_shutdown(rt, ERRAND_SHUTDOWN_DRAIN, -1));
  log_hold();
  for (k = 0; k < lg.n; k++)
    if (strcmp(lg.names[k], "X") == 0) pos = k;
  printf("  aging_burst %d: X ran after %d user-blocking tasks\n", b, pos);
  CHECK_EQ_INT(lg.n, n + 1);
  CHECK(pos >= b - 1 && pos <= b + 1);
  /* The flood itself stayed FIFO around X. */
  for (k = 0, n = 0; k < lg.n; k++) {
    if (k == pos) continue;
    if (!CHECK_EQ_STR(lg.names[k], label(1, n))) break;
    n++;
  }
  log_done();
  CHECK_OK(errand_task_release(hold[0]));
  CHECK_OK(errand_runtime_destroy(rt));
}

TEST(aging_background_behind_a_queued_flood) {
  aging_preposted(0);
  aging_preposted(1);
  aging_preposted(2);
  aging_preposted(7);
}

/* The count resets after an aged pick: with a long flood X1..X3 (three
 * background tasks) run about every aging_burst+1 picks. */
TEST(aging_repeats_every_burst) {
  gate g;
  errand_task *hold[1];
  errand_post_options o = post_opts();
  const int b = 4, n = 40;
  int k, xs = 0, last = -1;
  errand_runtime *rt = rt_one_worker(b);
  REQUIRE(rt);
  gate_init(&g);
  log_reset();
  REQUIRE(hold_workers(rt, &g, 1, hold));
  o.priority = ERRAND_PRIORITY_BACKGROUND;
  CHECK_OK(errand_post(rt, log_task, (void *)"X1", &o, NULL));
  CHECK_OK(errand_post(rt, log_task, (void *)"X2", &o, NULL));
  CHECK_OK(errand_post(rt, log_task, (void *)"X3", &o, NULL));
  for (k = 0; k < n; k++) post_log(rt, label(1, k), ERRAND_PRIORITY_USER_BLOCKING);
  gate_open(&g);
  CHECK_OK(errand_runtime_shutdown(rt, ERRAND_SHUTDOWN_DRAIN, -1));
  log_hold();
  CHECK_EQ_INT(lg.n, n + 3);
  for (k = 0; k < lg.n; k++) {
    if (lg.names[k][0] != 'X') continue;
    xs++;
    /* X1, X2, X3 in order (FIFO), each about b higher picks after the
     * previous aged pick. */
    CHECK_EQ_INT(lg.names[k][1], '0' + xs);
    CHECK(k - last - 1 >= b - 1 && k - last - 1 <= b + 1);
    last = k;
  }
  log_done();
  CHECK_EQ_INT(xs, 3);
  CHECK_OK(errand_task_release(hold[0]));
  CHECK_OK(errand_runtime_destroy(rt));
}

TEST(priority_of_a_task_is_the_posted_one) {
  gate g;
  errand_task *hold[1], *t[4];
  errand_post_options o = post_opts();
  int p;
  errand_runtime *rt = rt_one_worker(0);
  REQUIRE(rt);
  gate_init(&g);
  REQUIRE(hold_workers(rt, &g, 1, hold));
  for (p = 0; p <= 3; p++) {
    errand_priority got;
    o.priority = (errand_priority)p;
    REQUIRE_OK(errand_post(rt, noop_task, NULL, &o, &t[p]));
    CHECK_OK(errand_task_priority(t[p], &got));
    CHECK_EQ_INT(got, p == 0 ? ERRAND_PRIORITY_USER_VISIBLE : p);
  }
  gate_open(&g);
  CHECK_OK(errand_wait_all(t, 4, -1));
  for (p = 0; p <= 3; p++) CHECK_OK(errand_task_release(t[p]));
  CHECK_OK(errand_task_release(hold[0]));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* --------------------------------------------------------------------- */
/* A user-blocking post reaches a worker that is deep in a stream          */
/* --------------------------------------------------------------------- */

/* A worker that has found level 0 empty again and again must still see the
 * first user-blocking post at once: it runs next (posted from inside the
 * pool) or at most one stream task later (posted from outside, where the
 * worker may have picked its next task just before the post). */
enum { STREAM = 400 };
static atomic_int ub_stream_ran, ub_at, stream_post_at;
static uint32_t stream_spin_ns[STREAM];
static errand_runtime *stream_rt;

static int ub_task(errand_task *self, void *arg) {
  (void)self;
  (void)arg;
  atomic_store(&ub_at, atomic_load(&ub_stream_ran));
  return 0;
}

static int ub_stream_task(errand_task *self, void *arg) {
  int i = (int)(intptr_t)arg;
  int64_t end = check_now_ns() + stream_spin_ns[i];
  (void)self;
  while (check_now_ns() < end) {
  }
  atomic_fetch_add(&ub_stream_ran, 1);
  if (i == atomic_load(&stream_post_at)) {
    errand_post_options o = post_opts();
    o.priority = ERRAND_PRIORITY_USER_BLOCKING;
    CHECK_OK(errand_post(stream_rt, ub_task, NULL, &o, NULL));
  }
  return 0;
}

static void ub_mid_stream_once(check_rng *r, int from_inside) {
  int i, after = -1, at = 5 + (int)check_rng_below(r, STREAM / 2);
  errand_post_options o = post_opts();
  errand_runtime *rt = rt_one_worker(0);
  if (!rt) return;
  stream_rt = rt;
  atomic_store(&ub_stream_ran, 0);
  atomic_store(&ub_at, -1);
  atomic_store(&stream_post_at, from_inside ? at : -1);
  for (i = 0; i < STREAM; i++)
    stream_spin_ns[i] = 1000u + (uint32_t)check_rng_below(r, 20000);
  for (i = 0; i < STREAM; i++)
    CHECK_OK(errand_post(rt, ub_stream_task, (void *)(intptr_t)i, NULL, NULL));
  if (!from_inside) {
    int64_t end = check_now_ms() + CHECK_LONG_MS;
    while (atomic_load(&ub_stream_ran) < at && check_now_ms() < end) {
    }
    o.priority = ERRAND_PRIORITY_USER_BLOCKING;
    CHECK_OK(errand_post(rt, ub_task, NULL, &o, NULL));
    after = atomic_load(&ub_stream_ran);
  }
  CHECK_OK(errand_runtime_shutdown(rt, ERRAND_SHUTDOWN_DRAIN, -1));
  if (from_inside)
    CHECK_EQ_INT(atomic_load(&ub_at), at + 1);
  else
    CHECK(atomic_load(&ub_at) >= 0 && atomic_load(&ub_at) <= after + 1);
  CHECK_OK(errand_runtime_destroy(rt));
}

TEST(user_blocking_post_is_next_for_a_worker_deep_in_a_stream) {
  check_rng r;
  int it, n = check_iters(60);
  check_rng_init(&r, check_seed("user_blocking_post_is_next"));
  for (it = 0; it < n && !check_failed(); it++) ub_mid_stream_once(&r, it & 1);
}

/* --------------------------------------------------------------------- */
/* Posts that land while an idle worker looks                             */
/* --------------------------------------------------------------------- */

/* No gate: the one worker is idle (looking for work or asleep, after a
 * random pause) when a user-blocking task and then a background one are
 * posted back to back.  A worker looks at the levels one after another,
 * so the two posts can land between its look at the top level and its
 * look at the bottom one; the background task was posted second and must
 * still start second. */
TEST(a_high_post_then_a_low_one_start_in_that_order_on_an_idle_worker) {
  check_rng r;
  int it, n = check_iters(3000), wrong = 0;
  errand_runtime *rt = rt_one_worker(0);
  REQUIRE(rt);
  check_rng_init(&r, check_seed("high_then_low_on_an_idle_worker"));
  for (it = 0; it < n && !check_failed(); it++) {
    log_reset();
    if (check_rng_below(&r, 4)) /* mostly within the worker's look */
      check_sleep_us((int)check_rng_below(&r, 300));
    errand_task *t[2] = {NULL, NULL};
    errand_post_options o = post_opts();
    o.priority = ERRAND_PRIORITY_USER_BLOCKING;
    if (!CHECK_OK(errand_post(rt, log_task, (void *)"high", &o, &t[0]))) break;
    o.priority = ERRAND_PRIORITY_BACKGROUND;
    if (CHECK_OK(errand_post(rt, log_task, (void *)"low", &o, &t[1])))
      CHECK_OK(errand_wait_all(t, 2, -1));
    else
      CHECK_OK(errand_wait(t[0], -1));
    errand_task_release(t[0]);
    errand_task_release(t[1]);
    log_hold();
    if (lg.n != 2 || strcmp(lg.names[0], "high") != 0) wrong++;
    log_done();
  }
  CHECK_EQ_INT(wrong, 0);
  CHECK_OK(errand_runtime_destroy(rt));
}

/* --------------------------------------------------------------------- */
/* Many posters at once                                                   */
/* --------------------------------------------------------------------- */

/* Four threads post at the same time, in bursts of random size with random
 * pauses between them (so the queue from outside empties and refills all
 * the time), one by one with and without a handle, and as batches (some
 * longer than the slices a batch is queued in).  Every task runs exactly
 * once; with one worker, each poster's tasks also start in that poster's
 * post order. */
enum { MP_POSTERS = 4, MP_PER = 3000, MP_BURST = 64, MP_LONG = 700 };

static struct {
  atomic_int ran[MP_POSTERS][MP_PER];
  int last[MP_POSTERS]; /* written by the one worker only */
  int check_order;
  atomic_int total, twice, out_of_order, post_errors;
} mp;

typedef struct mp_poster_arg {
  errand_runtime *rt;
  int poster;
  uint64_t seed;
} mp_poster_arg;

static int mp_task(errand_task *self, void *arg) {
  int id = (int)(intptr_t)arg, p = id / MP_PER, k = id % MP_PER;
  (void)self;
  if (atomic_fetch_add(&mp.ran[p][k], 1) != 0) atomic_fetch_add(&mp.twice, 1);
  if (mp.check_order) {
    if (k <= mp.last[p]) atomic_fetch_add(&mp.out_of_order, 1);
    mp.last[p] = k;
  }
  atomic_fetch_add(&mp.total, 1);
  return 0;
}

static void *mp_poster(void *arg) {
  mp_poster_arg *a = arg;
  check_rng r;
  int k = 0, i;
  check_rng_init(&r, a->seed);
  while (k < MP_PER) {
    int kind = (int)check_rng_below(&r, 3);
    int burst = 1 + (int)check_rng_below(
                        &r, kind == 2 && check_rng_below(&r, 4) == 0 ? MP_LONG
                                                                     : MP_BURST);
    void *args[MP_LONG];
    if (burst > MP_PER - k) burst = MP_PER - k;
    for (i = 0; i < burst; i++)
      args[i] = (void *)(intptr_t)(a->poster * MP_PER + k + i);
    switch (kind) {
    case 0:
      for (i = 0; i < burst; i++)
        if (errand_post(a->rt, mp_task, args[i], NULL, NULL))
          atomic_fetch_add(&mp.post_errors, 1);
      break;
    case 1:
      for (i = 0; i < burst; i++) {
        errand_task *t = NULL;
        if (errand_post(a->rt, mp_task, args[i], NULL, &t) ||
            errand_task_release(t))
          atomic_fetch_add(&mp.post_errors, 1);
      }
      break;
    default:
      if (errand_post_batch(a->rt, mp_task, args, (size_t)burst, NULL, NULL))
        atomic_fetch_add(&mp.post_errors, 1);
    }
    k += burst;
    if (check_rng_below(&r, 4) == 0)
      check_sleep_us((int64_t)check_rng_below(&r, 200));
  }
  return NULL;
}

static void many_posters_once(uint64_t seed, int workers) {
  errand_runtime_options o;
  pthread_t th[MP_POSTERS];
  mp_poster_arg a[MP_POSTERS];
  int p, k, missing = 0;
  memset(&o, 0, sizeof o);
  o.workers = workers;
  o.max_compensating = -1;
  errand_runtime *rt = rt_new_opts(&o);
  REQUIRE(rt);
  for (p = 0; p < MP_POSTERS; p++) {
    mp.last[p] = -1;
    for (k = 0; k < MP_PER; k++) atomic_store(&mp.ran[p][k], 0);
  }
  mp.check_order = workers == 1;
  atomic_store(&mp.total, 0);
  atomic_store(&mp.twice, 0);
  atomic_store(&mp.out_of_order, 0);
  atomic_store(&mp.post_errors, 0);
  for (p = 0; p < MP_POSTERS; p++) {
    a[p].rt = rt;
    a[p].poster = p;
    a[p].seed = seed + (uint64_t)p;
    REQUIRE(pthread_create(&th[p], NULL, mp_poster, &a[p]) == 0);
  }
  for (p = 0; p < MP_POSTERS; p++) pthread_join(th[p], NULL);
  CHECK_OK(errand_runtime_shutdown(rt, ERRAND_SHUTDOWN_DRAIN, -1));
  CHECK_EQ_INT(atomic_load(&mp.post_errors), 0);
  CHECK_EQ_INT(atomic_load(&mp.total), MP_POSTERS * MP_PER);
  CHECK_EQ_INT(atomic_load(&mp.twice), 0);
  CHECK_EQ_INT(atomic_load(&mp.out_of_order), 0);
  for (p = 0; p < MP_POSTERS; p++)
    for (k = 0; k < MP_PER; k++) missing += atomic_load(&mp.ran[p][k]) == 0;
  CHECK_EQ_INT(missing, 0);
  CHECK_OK(errand_runtime_destroy(rt));
}

TEST(four_threads_posting_at_once_each_task_runs_once_in_each_posters_order) {
  uint64_t seed = check_seed("four_threads_posting_at_once");
  int it, n = check_iters(24);
  for (it = 0; it < n && !check_failed(); it++)
    many_posters_once(seed + 16u * (uint64_t)it, 1 + (it & 1));
}

int main(int argc, char **argv) {
  pthread_mutex_init(&lg.mu, NULL);
  return check_run(argc, argv);
}
