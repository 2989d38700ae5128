/*
 * test_proc_pool.c — resident worker pools (issue item 9, seed 002's
 * ChildPoolJob): minimum and maximum workers, recycling after N jobs or
 * above an RSS limit, idle workers exiting after a timeout, priorities of
 * queued jobs when every worker is busy, and the pid staying the same
 * across jobs of a resident worker while it changes in one-shot mode.
 */
/* ERRAND_TEST_LABELS: valgrind */
#include "test_job_common.h"

static errand_procpool *pool_with(errand_runtime *rt,
                                  const errand_procpool_options *po) {
  errand_procpool *pool = NULL;
  if (!CHECK_OK(errand_procpool_create(rt, jc_jobs, po, &pool)))
    return NULL;
  return pool;
}

static errand_procpool_options pool_opts(int min, int max) {
  errand_procpool_options po;
  memset(&po, 0, sizeof po);
  po.min_workers = min;
  po.max_workers = max;
  po.kill_grace_ms = 200;
  return po;
}

static int pool_size(errand_procpool *p) {
  int n = -1;
  CHECK_OK(errand_procpool_size(p, &n));
  return n;
}

/* Polls until the pool has `want` workers; 1 if it did. */
static int wait_size(errand_procpool *p, int want, int64_t timeout_ms) {
  int64_t end = check_now_ms() + timeout_ms;
  while (pool_size(p) != want) {
    if (check_now_ms() > end)
      return 0;
    check_sleep_ms(5);
  }
  return 1;
}

/* Starts a "sleep" job of ms on the pool and returns once a worker runs
 * it (pid in *pid when not NULL): the pool's one worker is then busy. */
static errand_task *occupy_worker(errand_runtime *rt, errand_procpool *pool,
                                  int ms, int *pid) {
  errand_job_options o = job_opts(ERRAND_JOB_WORKER);
  char args[32];
  errand_task *busy;
  int p;
  o.pool = pool;
  snprintf(args, sizeof args, "{\"ms\":%d}", ms);
  busy = start_job(rt, "sleep", args, &o);
  if (!busy)
    return NULL;
  while ((p = pid_of(busy)) == 0)
    check_sleep_ms(2);
  if (pid)
    *pid = p;
  return busy;
}

/* Runs "pid" in the given mode and returns the pid it reports. */
static int run_pid(errand_runtime *rt, errand_job_mode mode,
                   errand_procpool *pool) {
  errand_job_options o = job_opts(mode);
  errand_task *t;
  int pid = -1;
  o.pool = pool;
  t = start_job(rt, "pid", "[]", &o);
  if (t && wait_final(t)) {
    pid = atoi(result_of(t));
    CHECK_EQ_INT(pid_of(t), pid);
  }
  errand_task_release(t);
  return pid;
}

TEST(options_are_checked) {
  errand_runtime *rt = rt_new(1), *rt2;
  errand_procpool_options po = pool_opts(0, 1);
  errand_procpool *pool = NULL, *stale;
  errand_task *t = NULL;
  int n;
  REQUIRE(rt);
  CHECK_RC(errand_procpool_create(NULL, jc_jobs, &po, &pool), ERRAND_E_INVALID);
  CHECK_RC(errand_procpool_create(rt, NULL, &po, &pool), ERRAND_E_INVALID);
  CHECK_RC(errand_procpool_create(rt, jc_jobs, &po, NULL), ERRAND_E_INVALID);
  po = pool_opts(3, 2);
  CHECK_RC(errand_procpool_create(rt, jc_jobs, &po, &pool), ERRAND_E_INVALID);
  po = pool_opts(-1, 2);
  CHECK_RC(errand_procpool_create(rt, jc_jobs, &po, &pool), ERRAND_E_INVALID);
  po = pool_opts(0, -2);
  CHECK_RC(errand_procpool_create(rt, jc_jobs, &po, &pool), ERRAND_E_INVALID);
  po = pool_opts(0, 2);
  po.recycle_after = -1;
  CHECK_RC(errand_procpool_create(rt, jc_jobs, &po, &pool), ERRAND_E_INVALID);
  po = pool_opts(0, 2);
  po.kill_grace_ms = -5;
  CHECK_RC(errand_procpool_create(rt, jc_jobs, &po, &pool), ERRAND_E_INVALID);
  CHECK(pool == NULL);
  CHECK_OK(errand_procpool_destroy(NULL));
  CHECK_RC(errand_procpool_size(NULL, &n), ERRAND_E_INVALID);
  /* NULL options: defaults. */
  if (CHECK_OK(errand_procpool_create(rt, jc_jobs, NULL, &pool))) {
    CHECK_RC(errand_procpool_size(pool, NULL), ERRAND_E_INVALID);
    CHECK_EQ_INT(pool_size(pool), 0); /* min 0 */
    /* A pool belongs to its runtime. */
    rt2 = rt_new(1);
    if (rt2) {
      errand_job_options o = job_opts(ERRAND_JOB_WORKER);
      o.pool = pool;
      CHECK_RC(errand_job_start(rt2, jc_jobs, "echo", "[]", &o, &t),
               ERRAND_E_INVALID);
      CHECK_OK(errand_runtime_destroy(rt2));
    }
    stale = pool;
    CHECK_OK(errand_procpool_destroy(pool));
    CHECK_RC(errand_procpool_size(stale, &n), ERRAND_E_RELEASED);
    CHECK_RC(errand_procpool_destroy(stale), ERRAND_E_RELEASED);
    {
      errand_job_options o = job_opts(ERRAND_JOB_WORKER);
      o.pool = stale;
      CHECK_RC(errand_job_start(rt, jc_jobs, "echo", "[]", &o, &t),
               ERRAND_E_RELEASED);
    }
  }
  CHECK_OK(errand_runtime_destroy(rt));
}

/* Seed 002: ChildPoolJob keeps its process, ChildJob starts a new one. */
TEST(pid_stays_in_a_resident_worker_and_changes_one_shot) {
  errand_runtime *rt = rt_new(2);
  errand_procpool_options po = pool_opts(1, 1);
  errand_procpool *pool;
  int pids[4], i;
  REQUIRE(rt);
  pool = pool_with(rt, &po);
  REQUIRE(pool);
  for (i = 0; i < 4; i++)
    pids[i] = run_pid(rt, ERRAND_JOB_WORKER, pool);
  for (i = 1; i < 4; i++)
    CHECK_EQ_INT(pids[i], pids[0]);
  CHECK(pids[0] > 0 && pids[0] != (int)getpid());
  for (i = 0; i < 4; i++)
    pids[i] = run_pid(rt, ERRAND_JOB_PROCESS, NULL);
  for (i = 0; i < 4; i++) {
    int k;
    CHECK(pids[i] > 0);
    for (k = 0; k < i; k++)
      CHECK(pids[i] != pids[k]);
  }
  CHECK_OK(errand_procpool_destroy(pool));
  CHECK_OK(errand_runtime_destroy(rt));
}

TEST(minimum_and_maximum_workers) {
  errand_runtime *rt = rt_new(4);
  errand_procpool_options po = pool_opts(2, 3);
  errand_procpool *pool;
  errand_task *t[9];
  int pids[9], i, k, distinct = 0, max_seen = 0;
  int64_t end;
  REQUIRE(rt);
  pool = pool_with(rt, &po);
  REQUIRE(pool);
  /* The minimum is started at once, without any job. */
  CHECK(wait_size(pool, 2, CHECK_LONG_MS));
  /* Nine slow jobs: never more than three workers. */
  for (i = 0; i < 9; i++) {
    errand_job_options o = job_opts(ERRAND_JOB_WORKER);
    o.pool = pool;
    t[i] = start_job(rt, "sleep", "{\"ms\":150}", &o);
  }
  end = check_now_ms() + CHECK_LONG_MS;
  for (;;) {
    int n = pool_size(pool), done = 1;
    if (n > max_seen)
      max_seen = n;
    for (i = 0; i < 9; i++)
      if (t[i] && !is_final_status(status_of(t[i])))
        done = 0;
    if (done || check_now_ms() > end)
      break;
    check_sleep_ms(2);
  }
  CHECK_EQ_INT(max_seen, 3);
  for (i = 0; i < 9; i++) {
    pids[i] = t[i] ? pid_of(t[i]) : 0;
    if (t[i])
      CHECK_EQ_INT(status_of(t[i]), ERRAND_STATUS_RAN_TO_COMPLETION);
    errand_task_release(t[i]);
  }
  for (i = 0; i < 9; i++) {
    for (k = 0; k < i; k++)
      if (pids[k] == pids[i])
        break;
    if (k == i)
      distinct++;
  }
  CHECK_EQ_INT(distinct, 3);
  CHECK_OK(errand_procpool_destroy(pool));
  CHECK_OK(errand_runtime_destroy(rt));
}

TEST(recycle_after_n_jobs) {
  errand_runtime *rt = rt_new(2);
  errand_procpool_options po = pool_opts(1, 1);
  errand_procpool *pool;
  int pids[6], i;
  REQUIRE(rt);
  po.recycle_after = 2;
  pool = pool_with(rt, &po);
  REQUIRE(pool);
  for (i = 0; i < 6; i++)
    pids[i] = run_pid(rt, ERRAND_JOB_WORKER, pool);
  CHECK_EQ_INT(pids[1], pids[0]);
  CHECK(pids[2] != pids[1]);
  CHECK_EQ_INT(pids[3], pids[2]);
  CHECK(pids[4] != pids[3] && pids[4] != pids[1]);
  CHECK_EQ_INT(pids[5], pids[4]);
  /* The recycled worker left cleanly. */
  CHECK(wait_pid_gone(pids[0], CHECK_LONG_MS));
  CHECK_OK(errand_procpool_destroy(pool));
  CHECK_OK(errand_runtime_destroy(rt));
}

TEST(recycle_above_an_rss_limit) {
  errand_runtime *rt = rt_new(2);
  errand_procpool_options po = pool_opts(1, 1);
  errand_procpool *pool;
  errand_job_options o = job_opts(ERRAND_JOB_WORKER);
  errand_task *t;
  int a, b, c;
  REQUIRE(rt);
  po.recycle_rss = 48u << 20;
  pool = pool_with(rt, &po);
  REQUIRE(pool);
  o.pool = pool;
  /* Small jobs stay under the limit: the same worker. */
  a = run_pid(rt, ERRAND_JOB_WORKER, pool);
  b = run_pid(rt, ERRAND_JOB_WORKER, pool);
  CHECK_EQ_INT(a, b);
  /* A job that leaves 96 MiB resident: its worker is replaced after it. */
  t = start_job(rt, "grow", "{\"mb\":96}", &o);
  if (t && wait_final(t)) {
    CHECK_EQ_INT(status_of(t), ERRAND_STATUS_RAN_TO_COMPLETION);
    CHECK_EQ_INT(pid_of(t), b);
  }
  errand_task_release(t);
  c = run_pid(rt, ERRAND_JOB_WORKER, pool);
  CHECK(c > 0 && c != b);
  CHECK(wait_pid_gone(b, CHECK_LONG_MS));
  CHECK_OK(errand_procpool_destroy(pool));
  CHECK_OK(errand_runtime_destroy(rt));
}

TEST(idle_workers_exit_after_the_timeout) {
  errand_runtime *rt = rt_new(4);
  errand_procpool_options po = pool_opts(1, 3);
  errand_procpool *pool;
  errand_task *t[3];
  int i;
  int64_t t0;
  REQUIRE(rt);
  po.idle_timeout_ms = 300;
  pool = pool_with(rt, &po);
  REQUIRE(pool);
  for (i = 0; i < 3; i++) {
    errand_job_options o = job_opts(ERRAND_JOB_WORKER);
    o.pool = pool;
    t[i] = start_job(rt, "sleep", "{\"ms\":200}", &o);
  }
  CHECK(wait_size(pool, 3, CHECK_LONG_MS));
  for (i = 0; i < 3; i++) {
    if (t[i])
      wait_final(t[i]);
    errand_task_release(t[i]);
  }
  t0 = check_now_ms();
  /* Down to the minimum, not below, and not before the timeout. */
  CHECK(wait_size(pool, 1, CHECK_LONG_MS));
  CHECK(check_now_ms() - t0 >= 200);
  check_sleep_ms(600);
  CHECK_EQ_INT(pool_size(pool), 1);
  /* The pool goes on after shrinking. */
  CHECK(run_pid(rt, ERRAND_JOB_WORKER, pool) > 0);
  CHECK_OK(errand_procpool_destroy(pool));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* A negative idle timeout: workers above the minimum stay. */
TEST(negative_idle_timeout_keeps_workers) {
  errand_runtime *rt = rt_new(4);
  errand_procpool_options po = pool_opts(0, 2);
  errand_procpool *pool;
  errand_task *t[2];
  int i;
  REQUIRE(rt);
  po.idle_timeout_ms = -1;
  pool = pool_with(rt, &po);
  REQUIRE(pool);
  for (i = 0; i < 2; i++) {
    errand_job_options o = job_opts(ERRAND_JOB_WORKER);
    o.pool = pool;
    t[i] = start_job(rt, "sleep", "{\"ms\":100}", &o);
  }
  for (i = 0; i < 2; i++) {
    if (t[i])
      wait_final(t[i]);
    errand_task_release(t[i]);
  }
  check_sleep_ms(500);
  CHECK_EQ_INT(pool_size(pool), 2);
  CHECK_OK(errand_procpool_destroy(pool));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* Queued jobs respect priorities when every worker is busy. */
static atomic_int order_next;
static atomic_int order[16];

static void record_then(errand_task *t, void *arg) {
  (void)t;
  atomic_store(&order[atomic_fetch_add(&order_next, 1) & 15],
               (int)(intptr_t)arg);
}

TEST(queued_jobs_respect_priorities) {
  /* One pool thread: the jobs reach the process pool in post order. */
  errand_runtime *rt = rt_new(1);
  errand_procpool_options po = pool_opts(1, 1);
  errand_procpool *pool;
  errand_task *busy, *t[9];
  /* Posted background first, user-blocking last. */
  static const errand_priority prio[9] = {
      ERRAND_PRIORITY_BACKGROUND,    ERRAND_PRIORITY_USER_VISIBLE,
      ERRAND_PRIORITY_USER_BLOCKING, ERRAND_PRIORITY_BACKGROUND,
      ERRAND_PRIORITY_USER_VISIBLE,  ERRAND_PRIORITY_USER_BLOCKING,
      ERRAND_PRIORITY_BACKGROUND,    ERRAND_PRIORITY_USER_VISIBLE,
      ERRAND_PRIORITY_USER_BLOCKING};
  static const int want[9] = {2, 5, 8, 1, 4, 7, 0, 3, 6};
  int i;
  REQUIRE(rt);
  atomic_store(&order_next, 0);
  pool = pool_with(rt, &po);
  REQUIRE(pool);
  busy = occupy_worker(rt, pool, 500, NULL);
  REQUIRE(busy);
  for (i = 0; i < 9; i++) {
    errand_job_options o = job_opts(ERRAND_JOB_WORKER);
    o.pool = pool;
    o.post.priority = prio[i];
    t[i] = start_job(rt, "pid", "[]", &o);
    if (t[i])
      CHECK_OK(errand_task_then(t[i], NULL, record_then, (void *)(intptr_t)i));
  }
  for (i = 0; i < 9; i++) {
    if (t[i])
      wait_final(t[i]);
  }
  /* then-callbacks run on pool threads after the end: wait for all. */
  {
    int64_t end = check_now_ms() + CHECK_LONG_MS;
    while (atomic_load(&order_next) < 9 && check_now_ms() < end)
      check_sleep_ms(1);
  }
  CHECK(wait_final(busy));
  errand_task_release(busy);
  /* One worker runs them one by one: the end order is the run order. */
  for (i = 0; i < 9; i++)
    if (!CHECK_EQ_INT(atomic_load(&order[i]), want[i]))
      break;
  for (i = 0; i < 9; i++)
    errand_task_release(t[i]);
  CHECK_OK(errand_procpool_destroy(pool));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* Waiting for a busy pool is not running: a run timeout counts from the
 * moment a worker takes the job, and a queued job shows no pid. */
TEST(queue_time_is_not_run_time) {
  errand_runtime *rt = rt_new(2);
  errand_procpool_options po = pool_opts(1, 1);
  errand_procpool *pool;
  errand_job_options o = job_opts(ERRAND_JOB_WORKER);
  errand_task *busy, *t;
  REQUIRE(rt);
  pool = pool_with(rt, &po);
  REQUIRE(pool);
  o.pool = pool;
  busy = occupy_worker(rt, pool, 800, NULL);
  REQUIRE(busy);
  o.post.run_timeout_ms = 400;
  t = start_job(rt, "add", "[1,2]", &o);
  if (t) {
    check_sleep_ms(100);
    CHECK_EQ_INT(pid_of(t), 0); /* still waiting for the worker */
    if (wait_final(t)) {
      CHECK_EQ_INT(status_of(t), ERRAND_STATUS_RAN_TO_COMPLETION);
      CHECK_EQ_STR(result_of(t), "3");
    }
  }
  errand_task_release(t);
  wait_final(busy);
  errand_task_release(busy);
  CHECK_OK(errand_procpool_destroy(pool));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* Cancel a job still waiting for a worker: it never reaches one. */
TEST(cancel_a_queued_job) {
  errand_runtime *rt = rt_new(2);
  errand_procpool_options po = pool_opts(1, 1);
  errand_procpool *pool;
  errand_job_options o = job_opts(ERRAND_JOB_WORKER);
  errand_task *busy, *t;
  int busy_pid;
  REQUIRE(rt);
  pool = pool_with(rt, &po);
  REQUIRE(pool);
  o.pool = pool;
  busy = occupy_worker(rt, pool, 400, &busy_pid);
  REQUIRE(busy);
  t = start_job(rt, "pid", "[]", &o);
  if (t) {
    CHECK_OK(errand_task_cancel(t));
    if (wait_final(t)) {
      CHECK_EQ_INT(status_of(t), ERRAND_STATUS_CANCELED);
      CHECK_EQ_INT(pid_of(t), 0);
    }
  }
  errand_task_release(t);
  /* The busy worker was not disturbed and stays. */
  if (wait_final(busy))
    CHECK_EQ_INT(status_of(busy), ERRAND_STATUS_RAN_TO_COMPLETION);
  errand_task_release(busy);
  CHECK_EQ_INT(run_pid(rt, ERRAND_JOB_WORKER, pool), busy_pid);
  CHECK_OK(errand_procpool_destroy(pool));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* A job started from inside a task, with a worker of the runtime idle, is
 * handed to the pool on the starting thread: the task stays the current
 * one there and can wait for the job. */
typedef struct {
  errand_procpool *pool;
  errand_runtime *rt;
  int same_current;
  int pid;
} nested_ctx;

static int start_from_task(errand_task *self, void *arg) {
  nested_ctx *c = arg;
  errand_job_options o = job_opts(ERRAND_JOB_WORKER);
  errand_task *t = NULL;
  o.pool = c->pool;
  if (errand_job_start(c->rt, jc_jobs, "pid", "[]", &o, &t) != 0)
    return ERRAND_E_FAILED;
  c->same_current = errand_task_current() == self;
  if (errand_wait(t, 20000) == 0 &&
      status_of(t) == ERRAND_STATUS_RAN_TO_COMPLETION)
    c->pid = atoi(result_of(t));
  errand_task_release(t);
  return 0;
}

TEST(a_job_started_from_a_task_leaves_that_task_current) {
  errand_runtime *rt = rt_new(2);
  errand_procpool_options po = pool_opts(1, 1);
  nested_ctx c = {0};
  errand_task *outer = NULL;
  REQUIRE(rt);
  c.rt = rt;
  c.pool = pool_with(rt, &po);
  REQUIRE(c.pool);
  REQUIRE(CHECK_OK(errand_post(rt, start_from_task, &c, NULL, &outer)));
  if (wait_final(outer))
    CHECK_EQ_INT(status_of(outer), ERRAND_STATUS_RAN_TO_COMPLETION);
  CHECK_EQ_INT(c.same_current, 1);
  CHECK(c.pid > 0);
  CHECK_EQ_INT(run_pid(rt, ERRAND_JOB_WORKER, c.pool), c.pid);
  errand_task_release(outer);
  CHECK_OK(errand_procpool_destroy(c.pool));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* errand.h: a job started while a worker of its pool is idle and nothing
 * of its priority or higher is queued is normally sent before
 * errand_job_start returns: the worker's pid is the job's at once.  Not
 * always: when the supervisor thread holds the pool at that moment (it
 * woke for the previous answer, which the waiter read first), the job
 * goes through the queue and the supervisor sends it a moment later.  So
 * every job must end on that worker, and most must have gone direct; a
 * direct lane that never works sends none. */
TEST(a_job_for_an_idle_worker_is_sent_before_start_returns) {
  errand_runtime *rt = rt_new(2);
  errand_procpool_options po = pool_opts(1, 1);
  errand_procpool *pool;
  int worker, i, direct = 0, n = check_iters(200);
  REQUIRE(rt);
  pool = pool_with(rt, &po);
  REQUIRE(pool);
  worker = run_pid(rt, ERRAND_JOB_WORKER, pool); /* up and idle */
  REQUIRE(worker > 0);
  for (i = 0; i < n; i++) {
    errand_job_options o = job_opts(ERRAND_JOB_WORKER);
    errand_task *t;
    o.pool = pool;
    t = start_job(rt, "pid", "[]", &o);
    if (!t) break;
    int pid = pid_of(t);
    if (pid != 0) CHECK_EQ_INT(pid, worker);
    direct += pid == worker;
    if (wait_final(t)) {
      CHECK_EQ_INT(atoi(result_of(t)), worker);
      CHECK_EQ_INT(pid_of(t), worker);
    }
    errand_task_release(t);
  }
  if (direct < n / 2)
    fprintf(stderr, "  %d of %d jobs went direct\n", direct, n);
  CHECK(direct >= n / 2);
  /* With the worker busy, the next job waits in the queue: no pid yet. */
  {
    int pid = 0;
    errand_task *busy = occupy_worker(rt, pool, 300, &pid);
    errand_job_options o = job_opts(ERRAND_JOB_WORKER);
    errand_task *t;
    o.pool = pool;
    t = start_job(rt, "pid", "[]", &o);
    CHECK_EQ_INT(pid, worker);
    if (t) {
      CHECK_EQ_INT(pid_of(t), 0);
      if (wait_final(t)) CHECK_EQ_INT(atoi(result_of(t)), worker);
    }
    errand_task_release(t);
    if (busy) wait_final(busy);
    errand_task_release(busy);
  }
  CHECK_OK(errand_procpool_destroy(pool));
  CHECK_OK(errand_runtime_destroy(rt));
}

typedef struct tick_count {
  errand_task *t; /* set once errand_job_start returned */
  atomic_int n, late, wrong;
} tick_count;

static void on_tick(errand_task *t, const char *name, const void *data,
                    size_t len, void *arg) {
  tick_count *c = (tick_count *)arg;
  char want[32];
  errand_status s;
  int k = atomic_fetch_add(&c->n, 1);
  snprintf(want, sizeof want, "{\"n\":%d}", k);
  if (strcmp(name, "tick") != 0 || len != strlen(want) ||
      memcmp(data, want, len) != 0)
    atomic_fetch_add(&c->wrong, 1);
  /* No event after the end: the task is not final yet. */
  if (errand_task_status(t, &s) != 0 || s >= ERRAND_STATUS_RAN_TO_COMPLETION)
    atomic_fetch_add(&c->late, 1);
}

/* The thread that waits for a resident job reads its worker's answer
 * itself (errand.h, errand_wait), the supervisor thread everything else:
 * whichever reads them, every progress event comes, in order, before the
 * end, and a subscriber on no loop (called where the frame is read) sees
 * the job still running.  Random pauses move the frames between readers. */
TEST(progress_then_end_in_order_whoever_reads_the_worker) {
  errand_runtime *rt = rt_new(2);
  errand_procpool_options po = pool_opts(1, 1);
  errand_procpool *pool;
  check_rng g;
  int i, n = check_iters(60);
  REQUIRE(rt);
  pool = pool_with(rt, &po);
  REQUIRE(pool);
  check_rng_init(&g, check_seed("order"));
  for (i = 0; i < n; i++) {
    errand_job_options o = job_opts(ERRAND_JOB_WORKER);
    tick_count c;
    errand_task *t = NULL;
    int count = 1 + (int)check_rng_below(&g, 8);
    char args[64];
    memset(&c, 0, sizeof c);
    o.pool = pool;
    o.post.on_event = on_tick;
    o.post.event_arg = &c;
    snprintf(args, sizeof args, "{\"count\":%d,\"sleep_ms\":%d}", count,
             (int)check_rng_below(&g, 3));
    if (!CHECK_OK(errand_job_start(rt, jc_jobs, "progress", args, &o, &t)))
      break;
    if (check_rng_below(&g, 3) == 0) check_sleep_ms(check_rng_below(&g, 4));
    if (CHECK_OK(errand_wait(t, CHECK_LONG_MS))) {
      CHECK_EQ_INT(status_of(t), ERRAND_STATUS_RAN_TO_COMPLETION);
      CHECK_EQ_INT(atomic_load(&c.n), count);
    }
    CHECK_EQ_INT(atomic_load(&c.wrong), 0);
    CHECK_EQ_INT(atomic_load(&c.late), 0);
    errand_task_release(t);
  }
  CHECK_OK(errand_procpool_destroy(pool));
  CHECK_OK(errand_runtime_destroy(rt));
}

JOB_TEST_MAIN()
