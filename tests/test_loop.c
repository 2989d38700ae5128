/*
 * test_loop.c — layer 4: the loop bridge (seed 001's `complete` on the
 * owner's thread) and the loop as an executor (seed 004's main-thread
 * scheduler).
 *
 *   6. the loop's fd is readable while something is ready; run_pending runs
 *      it on the calling (owner) thread; run_until for programs without an
 *      event loop;
 *   7. continuations on the pool or on a loop see status, result and error;
 *      the callback(err, message, value) helper;
 *   8. events from a running task reach subscribers on their loop in emit
 *      order and never after the task's completion callback;
 *   9. polling every interval while the task is not final; returning 0 stops
 *      it without touching the task;
 *  10. destroying a loop frees what is undelivered and runs nothing;
 *  12. loop tasks: priority, delay, signal, same handle/statuses/waiting;
 *      ready items in priority order, FIFO inside a level, bounded batches.
 */
#include <poll.h>
#include <pthread.h>

#include "helpers.h"

static pthread_t main_thread;

static int on_main(void) { return pthread_equal(pthread_self(), main_thread); }

/* 1 if fd is readable right now. */
static int fd_ready(errand_loop *loop) {
  int fd = -1;
  struct pollfd p;
  if (!CHECK_OK(errand_loop_fd(loop, &fd))) return -1;
  p.fd = fd;
  p.events = POLLIN;
  p.revents = 0;
  if (poll(&p, 1, 0) < 0) return -1;
  return (p.revents & POLLIN) ? 1 : 0;
}

/* Waits (poll(2)) until the fd is readable; 1 if it became so in time. */
static int fd_wait(errand_loop *loop, int ms) {
  int fd = -1;
  struct pollfd p;
  if (!CHECK_OK(errand_loop_fd(loop, &fd))) return 0;
  p.fd = fd;
  p.events = POLLIN;
  p.revents = 0;
  return poll(&p, 1, ms) == 1 && (p.revents & POLLIN);
}

/* Runs the loop until *flag >= want (bounded). */
static int run_until_count(errand_loop *loop, atomic_int *v, int want) {
  int64_t end = check_now_ms() + CHECK_LONG_MS;
  while (atomic_load(v) < want) {
    if (check_now_ms() > end) return 0;
    fd_wait(loop, 50);
    if (!CHECK_OK(errand_loop_run_pending(loop, 0, NULL))) return 0;
  }
  return 1;
}

/* A string log for order checks (owner thread only, no lock needed, but
 * pool-side callers use the mutex). */
typedef struct strlog {
  pthread_mutex_t mu;
  int n;
  char lines[512][48];
} strlog;
static strlog lg = {PTHREAD_MUTEX_INITIALIZER, 0, {{0}}};

static void log_reset(void) {
  pthread_mutex_lock(&lg.mu);
  lg.n = 0;
  pthread_mutex_unlock(&lg.mu);
}
static void log_add(const char *s) {
  pthread_mutex_lock(&lg.mu);
  if (lg.n < 512) snprintf(lg.lines[lg.n++], sizeof lg.lines[0], "%s", s);
  pthread_mutex_unlock(&lg.mu);
}
static int log_equals(const char *const *want, int n) {
  int ok = 1, i;
  pthread_mutex_lock(&lg.mu);
  if (!CHECK_EQ_INT(lg.n, n)) ok = 0;
  for (i = 0; ok && i < n; i++)
    if (!CHECK_EQ_STR(lg.lines[i], want[i])) ok = 0;
  if (!ok)
    for (i = 0; i < lg.n; i++) fprintf(stderr, "    log: %s\n", lg.lines[i]);
  pthread_mutex_unlock(&lg.mu);
  return ok;
}

static atomic_int off_main; /* callbacks that ran on another thread */

static int log_task(errand_task *self, void *arg) {
  (void)self;
  if (!on_main()) atomic_fetch_add(&off_main, 1);
  log_add((const char *)arg);
  return 0;
}

static errand_runtime *setup(int workers, errand_loop **loop) {
  errand_runtime *rt = rt_new(workers);
  main_thread = pthread_self();
  atomic_store(&off_main, 0);
  log_reset();
  if (!rt) return NULL;
  if (!CHECK_OK(errand_loop_create(rt, loop))) return NULL;
  return rt;
}

static void teardown(errand_runtime *rt, errand_loop *loop) {
  CHECK_OK(errand_loop_destroy(loop));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* ------------------------------------------------------------------------ */
/* 6. The fd and running what is pending                                     */
/* ------------------------------------------------------------------------ */

TEST(loop_arguments_and_owner_rules) {
  errand_loop *loop = NULL;
  int fd = -1, ran = -1;
  errand_runtime *rt = setup(1, &loop);
  REQUIRE(rt);
  CHECK_RC(errand_loop_create(NULL, &loop), ERRAND_E_INVALID);
  CHECK_RC(errand_loop_create(rt, NULL), ERRAND_E_INVALID);
  CHECK_RC(errand_loop_fd(NULL, &fd), ERRAND_E_INVALID);
  CHECK_RC(errand_loop_fd(loop, NULL), ERRAND_E_INVALID);
  CHECK_OK(errand_loop_fd(loop, &fd));
  CHECK(fd >= 0);
  CHECK_RC(errand_loop_run_pending(NULL, 0, NULL), ERRAND_E_INVALID);
  CHECK_RC(errand_loop_run_pending(loop, -1, NULL), ERRAND_E_INVALID);
  CHECK_OK(errand_loop_run_pending(loop, 0, &ran));
  CHECK_EQ_INT(ran, 0);
  CHECK_RC(errand_loop_post(NULL, noop_task, NULL, NULL, NULL),
           ERRAND_E_INVALID);
  CHECK_RC(errand_loop_post(loop, NULL, NULL, NULL, NULL), ERRAND_E_INVALID);
  {
    errand_post_options o = post_opts();
    errand_task *p = NULL;
    o.mode = ERRAND_MODE_DEDICATED;
    CHECK_RC(errand_loop_post(loop, noop_task, NULL, &o, NULL),
             ERRAND_E_INVALID);
    REQUIRE_OK(errand_post(rt, noop_task, NULL, NULL, &p));
    o = post_opts();
    o.parent = p;
    CHECK_RC(errand_loop_post(loop, noop_task, NULL, &o, NULL),
             ERRAND_E_INVALID);
    o = post_opts();
    o.priority = (errand_priority)9;
    CHECK_RC(errand_loop_post(loop, noop_task, NULL, &o, NULL),
             ERRAND_E_INVALID);
    CHECK_OK(errand_wait(p, -1));
    CHECK_RC(errand_loop_run_until(loop, NULL, 0), ERRAND_E_INVALID);
    CHECK_RC(errand_task_then(p, loop, NULL, NULL), ERRAND_E_INVALID);
    CHECK_RC(errand_task_callback(p, loop, NULL, NULL), ERRAND_E_INVALID);
    CHECK_RC(errand_task_on_event(p, loop, NULL, NULL), ERRAND_E_INVALID);
    CHECK_RC(errand_task_poll(p, loop, 10, NULL, NULL), ERRAND_E_INVALID);
    CHECK_RC(errand_task_poll(p, NULL, 10, (errand_poll_fn)NULL, NULL),
             ERRAND_E_INVALID);
    CHECK_OK(errand_task_release(p));
  }
  /* A runtime with a live loop cannot be destroyed. */
  CHECK_RC(errand_runtime_destroy(rt), ERRAND_E_STATE);
  CHECK_OK(errand_loop_destroy(NULL));
  teardown(rt, loop);
  /* The handle reads as released after destroy. */
  CHECK_RC(errand_loop_fd(loop, &fd), ERRAND_E_RELEASED);
  CHECK_RC(errand_loop_run_pending(loop, 0, NULL), ERRAND_E_RELEASED);
  CHECK_RC(errand_loop_destroy(loop), ERRAND_E_RELEASED);
}

typedef struct other_thread_calls {
  errand_loop *loop;
  errand_task *t;
  int rc_run, rc_until, rc_destroy, rc_post;
  errand_task *posted;
} other_thread_calls;

static void *call_from_other(void *arg) {
  other_thread_calls *c = (other_thread_calls *)arg;
  c->rc_run = errand_loop_run_pending(c->loop, 0, NULL);
  c->rc_until = errand_loop_run_until(c->loop, c->t, 0);
  c->rc_destroy = errand_loop_destroy(c->loop);
  c->rc_post = errand_loop_post(c->loop, log_task, (void *)"from other", NULL,
                                &c->posted);
  return NULL;
}

TEST(only_the_owner_runs_and_destroys_but_anyone_posts) {
  errand_loop *loop = NULL;
  other_thread_calls c;
  pthread_t th;
  errand_runtime *rt = setup(1, &loop);
  REQUIRE(rt);
  memset(&c, 0, sizeof c);
  c.loop = loop;
  REQUIRE_OK(errand_post(rt, noop_task, NULL, NULL, &c.t));
  REQUIRE(thread_start(&th, call_from_other, &c));
  pthread_join(th, NULL);
  CHECK_RC(c.rc_run, ERRAND_E_WRONG_THREAD);
  CHECK_RC(c.rc_until, ERRAND_E_WRONG_THREAD);
  CHECK_RC(c.rc_destroy, ERRAND_E_WRONG_THREAD);
  CHECK_OK(c.rc_post);
  REQUIRE(c.posted);
  CHECK_OK(errand_loop_run_until(loop, c.posted, CHECK_LONG_MS));
  CHECK_EQ_INT(status_of(c.posted), ERRAND_STATUS_RAN_TO_COMPLETION);
  CHECK_EQ_INT(atomic_load(&off_main), 0);
  {
    static const char *const want[] = {"from other"};
    CHECK(log_equals(want, 1));
  }
  CHECK_OK(errand_task_release(c.posted));
  CHECK_OK(errand_wait(c.t, -1));
  CHECK_OK(errand_task_release(c.t));
  teardown(rt, loop);
}

static atomic_int cb_count;
static void count_then(errand_task *t, void *arg) {
  (void)t;
  (void)arg;
  if (!on_main()) atomic_fetch_add(&off_main, 1);
  atomic_fetch_add(&cb_count, 1);
}

TEST(fd_is_readable_exactly_while_something_is_ready) {
  errand_loop *loop = NULL;
  errand_task *t = NULL;
  int ran = 0;
  errand_runtime *rt = setup(2, &loop);
  REQUIRE(rt);
  atomic_store(&cb_count, 0);
  CHECK_EQ_INT(fd_ready(loop), 0);
  REQUIRE_OK(errand_post(rt, noop_task, NULL, NULL, &t));
  REQUIRE_OK(errand_task_then(t, loop, count_then, NULL));
  CHECK_OK(errand_wait(t, CHECK_LONG_MS));
  /* The completion was queued when the task ended: readable now. */
  CHECK(fd_wait(loop, CHECK_LONG_MS));
  CHECK_EQ_INT(atomic_load(&cb_count), 0); /* nothing runs by itself */
  CHECK_OK(errand_loop_run_pending(loop, 0, &ran));
  CHECK_EQ_INT(ran, 1);
  CHECK_EQ_INT(atomic_load(&cb_count), 1);
  CHECK_EQ_INT(fd_ready(loop), 0);
  /* A loop post makes it readable too. */
  REQUIRE_OK(errand_loop_post(loop, log_task, (void *)"x", NULL, NULL));
  CHECK_EQ_INT(fd_ready(loop), 1);
  CHECK_OK(errand_loop_run_pending(loop, 0, &ran));
  CHECK_EQ_INT(ran, 1);
  CHECK_EQ_INT(fd_ready(loop), 0);
  CHECK_EQ_INT(atomic_load(&off_main), 0);
  CHECK_OK(errand_task_release(t));
  teardown(rt, loop);
}

TEST(run_pending_runs_a_bounded_batch_and_stays_readable) {
  errand_loop *loop = NULL;
  int ran = 0, i, total = 0;
  static const char *const names[] = {"n"};
  errand_runtime *rt = setup(1, &loop);
  REQUIRE(rt);
  for (i = 0; i < 200; i++)
    REQUIRE_OK(errand_loop_post(loop, log_task, (void *)names[0], NULL, NULL));
  CHECK_OK(errand_loop_run_pending(loop, 10, &ran));
  CHECK_EQ_INT(ran, 10);
  CHECK_EQ_INT(fd_ready(loop), 1);
  CHECK_OK(errand_loop_run_pending(loop, 0, &ran)); /* 0 = 64 */
  CHECK_EQ_INT(ran, 64);
  total = 74;
  CHECK_EQ_INT(fd_ready(loop), 1);
  while (fd_ready(loop) == 1 && total < 400) {
    CHECK_OK(errand_loop_run_pending(loop, 0, &ran));
    CHECK(ran <= 64);
    total += ran;
  }
  CHECK_EQ_INT(total, 200);
  CHECK_EQ_INT(lg.n, 200);
  teardown(rt, loop);
}

/* A loop task that posts itself again: one busy level cannot freeze the
 * owner; each run_pending returns after its batch. */
static errand_loop *busy_loop;
static atomic_int busy_runs;
static int busy_task(errand_task *self, void *arg) {
  errand_post_options o = post_opts();
  (void)self;
  o.priority = ERRAND_PRIORITY_USER_BLOCKING;
  atomic_fetch_add(&busy_runs, 1);
  if (arg == NULL) errand_loop_post(busy_loop, busy_task, NULL, &o, NULL);
  return 0;
}

TEST(a_self_reposting_loop_task_yields_after_each_batch) {
  errand_loop *loop = NULL;
  errand_post_options o = post_opts();
  int ran = 0, i;
  errand_runtime *rt = setup(1, &loop);
  REQUIRE(rt);
  busy_loop = loop;
  atomic_store(&busy_runs, 0);
  o.priority = ERRAND_PRIORITY_USER_BLOCKING;
  REQUIRE_OK(errand_loop_post(loop, busy_task, NULL, &o, NULL));
  for (i = 0; i < 5; i++) {
    CHECK_OK(errand_loop_run_pending(loop, 0, &ran));
    CHECK_EQ_INT(ran, 64);
  }
  CHECK_EQ_INT(atomic_load(&busy_runs), 5 * 64);
  /* Destroying the loop with the next one queued cancels it. */
  teardown(rt, loop);
}

/* Deliveries run before loop tasks in one run_pending. */
TEST(deliveries_run_before_loop_tasks) {
  errand_loop *loop = NULL;
  errand_task *t = NULL;
  errand_post_options o = post_opts();
  errand_runtime *rt = setup(1, &loop);
  REQUIRE(rt);
  o.priority = ERRAND_PRIORITY_USER_BLOCKING;
  REQUIRE_OK(errand_loop_post(loop, log_task, (void *)"loop task", &o, NULL));
  REQUIRE_OK(errand_post(rt, noop_task, NULL, NULL, &t));
  REQUIRE_OK(errand_task_then(t, loop, count_then, NULL));
  CHECK_OK(errand_wait(t, CHECK_LONG_MS));
  check_sleep_ms(10);
  atomic_store(&cb_count, 0);
  CHECK_OK(errand_loop_run_pending(loop, 1, NULL));
  CHECK_EQ_INT(atomic_load(&cb_count), 1);
  CHECK_EQ_INT(lg.n, 0);
  CHECK_OK(errand_loop_run_pending(loop, 1, NULL));
  CHECK_EQ_INT(lg.n, 1);
  CHECK_OK(errand_task_release(t));
  teardown(rt, loop);
}

/* ------------------------------------------------------------------------ */
/* run_until                                                                 */
/* ------------------------------------------------------------------------ */

static int slow_value(errand_task *self, void *arg) {
  int *v = (int *)malloc(sizeof *v);
  (void)arg;
  check_sleep_ms(20);
  if (!v) return ERRAND_E_NOMEM;
  *v = 17;
  return errand_task_set_result(self, v, free);
}

static atomic_int cb_err, cb_value;
static char cb_msg[128];
static void node_cb(int err, const char *message, void *value, void *arg) {
  (void)arg;
  if (!on_main()) atomic_fetch_add(&off_main, 1);
  atomic_store(&cb_err, err);
  snprintf(cb_msg, sizeof cb_msg, "%s", message ? message : "(null)");
  atomic_store(&cb_value, value ? *(int *)value : -1);
  atomic_fetch_add(&cb_count, 1);
}

TEST(run_until_returns_after_the_task_and_its_callbacks) {
  errand_loop *loop = NULL;
  errand_task *t = NULL, *blocked = NULL;
  gate g;
  errand_runtime *rt = setup(2, &loop);
  REQUIRE(rt);
  atomic_store(&cb_count, 0);
  REQUIRE_OK(errand_post(rt, slow_value, NULL, NULL, &t));
  REQUIRE_OK(errand_task_callback(t, loop, node_cb, NULL));
  CHECK_OK(errand_loop_run_until(loop, t, CHECK_LONG_MS));
  CHECK_EQ_INT(atomic_load(&cb_count), 1); /* its callback already ran */
  CHECK_EQ_INT(atomic_load(&cb_err), 0);
  CHECK_EQ_INT(atomic_load(&cb_value), 17);
  CHECK_EQ_STR(cb_msg, "(null)");
  /* Already final: returns at once. */
  CHECK_OK(errand_loop_run_until(loop, t, 0));
  /* A timeout. */
  gate_init(&g);
  REQUIRE_OK(errand_post(rt, gate_task, &g, NULL, &blocked));
  CHECK_RC(errand_loop_run_until(loop, blocked, 30), ERRAND_E_TIMEOUT);
  CHECK_RC(errand_loop_run_until(loop, blocked, 0), ERRAND_E_TIMEOUT);
  gate_open(&g);
  CHECK_OK(errand_loop_run_until(loop, blocked, -1));
  CHECK_EQ_INT(atomic_load(&off_main), 0);
  CHECK_OK(errand_task_release(t));
  CHECK_OK(errand_task_release(blocked));
  teardown(rt, loop);
}

/* ------------------------------------------------------------------------ */
/* 7. Continuations                                                          */
/* ------------------------------------------------------------------------ */

typedef struct seen {
  atomic_int calls;
  atomic_int on_main;
  atomic_int status;
  atomic_int code;
  atomic_int value;
  char msg[128];
} seen;

static void record_then(errand_task *t, void *arg) {
  seen *s = (seen *)arg;
  errand_status st = ERRAND_STATUS_CREATED;
  int code = -1;
  const char *msg = NULL;
  void *v = NULL;
  CHECK_OK(errand_task_status(t, &st));
  CHECK_OK(errand_task_error(t, &code, &msg));
  atomic_store(&s->status, (int)st);
  atomic_store(&s->code, code);
  snprintf(s->msg, sizeof s->msg, "%s", msg ? msg : "(null)");
  if (errand_task_result(t, &v) == 0 && v)
    atomic_store(&s->value, *(int *)v);
  else
    atomic_store(&s->value, -1);
  atomic_store(&s->on_main, on_main());
  atomic_fetch_add(&s->calls, 1);
}

static int value_fn(errand_task *self, void *arg) {
  int *v = (int *)malloc(sizeof *v);
  if (!v) return ERRAND_E_NOMEM;
  *v = (int)(intptr_t)arg;
  return errand_task_set_result(self, v, free);
}

static int failing_fn(errand_task *self, void *arg) {
  (void)arg;
  return errand_task_fail(self, 77, "I am a failing task");
}

TEST(then_on_a_loop_and_on_the_pool_see_status_result_and_error) {
  errand_loop *loop = NULL;
  errand_task *ok = NULL, *bad = NULL, *canc = NULL;
  seen s[6];
  gate g;
  errand_task *hold[1];
  errand_runtime *rt = setup(1, &loop);
  REQUIRE(rt);
  memset(s, 0, sizeof s);
  gate_init(&g);
  REQUIRE(hold_workers(rt, &g, 1, hold));
  REQUIRE_OK(errand_post(rt, value_fn, (void *)(intptr_t)5, NULL, &ok));
  REQUIRE_OK(errand_post(rt, failing_fn, NULL, NULL, &bad));
  REQUIRE_OK(errand_post(rt, noop_task, NULL, NULL, &canc));
  REQUIRE_OK(errand_task_then(ok, loop, record_then, &s[0]));
  REQUIRE_OK(errand_task_then(bad, loop, record_then, &s[1]));
  REQUIRE_OK(errand_task_then(canc, loop, record_then, &s[2]));
  REQUIRE_OK(errand_task_then(ok, NULL, record_then, &s[3]));
  REQUIRE_OK(errand_task_then(bad, NULL, record_then, &s[4]));
  REQUIRE_OK(errand_task_then(canc, NULL, record_then, &s[5]));
  CHECK_OK(errand_task_cancel(canc));
  gate_open(&g);
  CHECK_OK(errand_loop_run_until(loop, ok, CHECK_LONG_MS));
  CHECK_OK(errand_loop_run_until(loop, bad, CHECK_LONG_MS));
  CHECK_OK(errand_loop_run_until(loop, canc, CHECK_LONG_MS));
  for (int i = 3; i < 6; i++)
    CHECK(check_wait_count(&s[i].calls, 1, CHECK_LONG_MS));
  for (int i = 0; i < 6; i++) {
    CHECK_EQ_INT(atomic_load(&s[i].calls), 1);
    CHECK_EQ_INT(atomic_load(&s[i].on_main), i < 3 ? 1 : 0);
  }
  for (int i = 0; i < 6; i += 3) {
    CHECK_EQ_INT(atomic_load(&s[i].status), ERRAND_STATUS_RAN_TO_COMPLETION);
    CHECK_EQ_INT(atomic_load(&s[i].value), 5);
    CHECK_EQ_INT(atomic_load(&s[i].code), 0);
    CHECK_EQ_INT(atomic_load(&s[i + 1].status), ERRAND_STATUS_FAULTED);
    CHECK_EQ_INT(atomic_load(&s[i + 1].code), 77);
    CHECK_EQ_STR(s[i + 1].msg, "I am a failing task");
    CHECK_EQ_INT(atomic_load(&s[i + 2].status), ERRAND_STATUS_CANCELED);
    CHECK_EQ_INT(atomic_load(&s[i + 2].code), ERRAND_E_CANCELED);
  }
  CHECK_OK(errand_task_release(ok));
  CHECK_OK(errand_task_release(bad));
  CHECK_OK(errand_task_release(canc));
  CHECK_OK(errand_task_release(hold[0]));
  teardown(rt, loop);
}

TEST(then_on_an_already_final_task_is_scheduled_at_once) {
  errand_loop *loop = NULL;
  errand_task *t = NULL;
  seen s[2];
  errand_runtime *rt = setup(1, &loop);
  REQUIRE(rt);
  memset(s, 0, sizeof s);
  REQUIRE_OK(errand_post(rt, value_fn, (void *)(intptr_t)9, NULL, &t));
  CHECK_OK(errand_wait(t, CHECK_LONG_MS));
  REQUIRE_OK(errand_task_then(t, loop, record_then, &s[0]));
  REQUIRE_OK(errand_task_then(t, NULL, record_then, &s[1]));
  CHECK(check_wait_count(&s[1].calls, 1, CHECK_LONG_MS));
  CHECK_EQ_INT(atomic_load(&s[0].calls), 0); /* waits for the owner */
  CHECK_EQ_INT(fd_ready(loop), 1);
  CHECK_OK(errand_loop_run_pending(loop, 0, NULL));
  CHECK_EQ_INT(atomic_load(&s[0].calls), 1);
  CHECK_EQ_INT(atomic_load(&s[0].value), 9);
  CHECK_EQ_INT(atomic_load(&s[0].on_main), 1);
  CHECK_EQ_INT(atomic_load(&s[1].value), 9);
  /* The continuation keeps the task (and its result) alive: release
   * before it runs. */
  REQUIRE_OK(errand_task_then(t, loop, record_then, &s[0]));
  CHECK_OK(errand_task_release(t));
  CHECK_OK(errand_loop_run_pending(loop, 0, NULL));
  CHECK_EQ_INT(atomic_load(&s[0].calls), 2);
  CHECK_EQ_INT(atomic_load(&s[0].value), 9);
  teardown(rt, loop);
}

TEST(callback_err_value_style) {
  errand_loop *loop = NULL;
  errand_task *ok = NULL, *bad = NULL, *canc = NULL;
  errand_post_options o = post_opts();
  errand_runtime *rt = setup(2, &loop);
  REQUIRE(rt);
  atomic_store(&cb_count, 0);
  REQUIRE_OK(errand_post(rt, value_fn, (void *)(intptr_t)100010, NULL, &ok));
  REQUIRE_OK(errand_task_callback(ok, loop, node_cb, NULL));
  CHECK_OK(errand_loop_run_until(loop, ok, CHECK_LONG_MS));
  CHECK_EQ_INT(atomic_load(&cb_err), 0);
  CHECK_EQ_INT(atomic_load(&cb_value), 100010);

  REQUIRE_OK(errand_post(rt, failing_fn, NULL, NULL, &bad));
  REQUIRE_OK(errand_task_callback(bad, loop, node_cb, NULL));
  CHECK_OK(errand_loop_run_until(loop, bad, CHECK_LONG_MS));
  CHECK_EQ_INT(atomic_load(&cb_err), 77);
  CHECK_EQ_STR(cb_msg, "I am a failing task");
  CHECK_EQ_INT(atomic_load(&cb_value), -1);

  o.delay_ms = 60000;
  REQUIRE_OK(errand_post(rt, value_fn, NULL, &o, &canc));
  REQUIRE_OK(errand_task_callback(canc, loop, node_cb, NULL));
  CHECK_OK(errand_task_cancel(canc));
  CHECK_OK(errand_loop_run_until(loop, canc, CHECK_LONG_MS));
  CHECK_EQ_INT(atomic_load(&cb_err), ERRAND_E_CANCELED);
  CHECK(strlen(cb_msg) > 0 && strcmp(cb_msg, "(null)") != 0);
  CHECK_EQ_INT(atomic_load(&cb_value), -1);
  CHECK_EQ_INT(atomic_load(&cb_count), 3);
  CHECK_EQ_INT(atomic_load(&off_main), 0);
  CHECK_OK(errand_task_release(ok));
  CHECK_OK(errand_task_release(bad));
  CHECK_OK(errand_task_release(canc));
  teardown(rt, loop);
}

/* A callback may release its own task and destroy nothing else; a callback
 * may post more work and register more continuations. */
static errand_runtime *chain_rt;
static errand_loop *chain_loop;
static atomic_int chain_left;
static void chain_cb(int err, const char *message, void *value, void *arg);
static void chain_next(void) {
  errand_task *t = NULL;
  if (atomic_fetch_sub(&chain_left, 1) <= 1) return;
  if (!CHECK_OK(errand_post(chain_rt, value_fn, (void *)(intptr_t)1, NULL,
                            &t)))
    return;
  CHECK_OK(errand_task_callback(t, chain_loop, chain_cb, t));
}
static void chain_cb(int err, const char *message, void *value, void *arg) {
  (void)message;
  CHECK_EQ_INT(err, 0);
  CHECK(value && *(int *)value == 1);
  CHECK(on_main());
  CHECK_OK(errand_task_release((errand_task *)arg)); /* its own task */
  chain_next();
}

TEST(callbacks_may_release_their_task_and_chain_more_work) {
  errand_loop *loop = NULL;
  errand_runtime *rt = setup(2, &loop);
  REQUIRE(rt);
  chain_rt = rt;
  chain_loop = loop;
  atomic_store(&chain_left, check_iters(200) + 1);
  chain_next();
  {
    int64_t end = check_now_ms() + CHECK_LONG_MS;
    while (atomic_load(&chain_left) > 0 && check_now_ms() < end) {
      fd_wait(loop, 50);
      CHECK_OK(errand_loop_run_pending(loop, 0, NULL));
    }
  }
  CHECK_EQ_INT(atomic_load(&chain_left), 0);
  teardown(rt, loop);
}

/* ------------------------------------------------------------------------ */
/* 8. Events                                                                 */
/* ------------------------------------------------------------------------ */

typedef struct ev_state {
  atomic_int count;      /* events received */
  atomic_int bad_order;  /* out-of-order payloads */
  atomic_int off_thread; /* received off the expected thread */
  atomic_int after_done; /* events after the completion callback */
  atomic_int done;       /* completion callback ran */
  atomic_int done_saw;   /* events seen when the completion ran */
  int expect_main;
} ev_state;

static void on_progress(errand_task *t, const char *name, const void *data,
                        size_t len, void *arg) {
  ev_state *e = (ev_state *)arg;
  int v = -1;
  (void)t;
  if (strcmp(name, "progress") != 0 || len != sizeof v) {
    atomic_fetch_add(&e->bad_order, 1);
    return;
  }
  memcpy(&v, data, sizeof v);
  if (v != atomic_load(&e->count)) atomic_fetch_add(&e->bad_order, 1);
  if (e->expect_main != on_main()) atomic_fetch_add(&e->off_thread, 1);
  if (atomic_load(&e->done)) atomic_fetch_add(&e->after_done, 1);
  atomic_fetch_add(&e->count, 1);
}

static void ev_done(errand_task *t, void *arg) {
  ev_state *e = (ev_state *)arg;
  (void)t;
  atomic_store(&e->done_saw, atomic_load(&e->count));
  atomic_store(&e->done, 1);
}

static atomic_int emit_n;
static atomic_int emit_go;
static int emitter(errand_task *self, void *arg) {
  int i, n = atomic_load(&emit_n);
  (void)arg;
  while (!atomic_load(&emit_go)) check_sleep_us(100);
  for (i = 0; i < n; i++) {
    if (errand_task_emit(self, "progress", &i, sizeof i) != 0) return 99;
  }
  return 0;
}

TEST(events_arrive_in_emit_order_and_before_the_completion) {
  errand_loop *loop = NULL;
  errand_task *t = NULL;
  ev_state a, b, direct;
  int n = check_iters(5000);
  errand_runtime *rt = setup(2, &loop);
  REQUIRE(rt);
  memset(&a, 0, sizeof a);
  memset(&b, 0, sizeof b);
  memset(&direct, 0, sizeof direct);
  a.expect_main = b.expect_main = 1;
  direct.expect_main = 0;
  atomic_store(&emit_n, n);
  atomic_store(&emit_go, 0);
  REQUIRE_OK(errand_post(rt, emitter, NULL, NULL, &t));
  REQUIRE_OK(errand_task_on_event(t, loop, on_progress, &a));
  REQUIRE_OK(errand_task_on_event(t, loop, on_progress, &b));
  REQUIRE_OK(errand_task_on_event(t, NULL, on_progress, &direct));
  REQUIRE_OK(errand_task_then(t, loop, ev_done, &a));
  REQUIRE_OK(errand_task_then(t, loop, ev_done, &b));
  atomic_store(&emit_go, 1);
  /* Run the loop in small batches while the task emits. */
  {
    int64_t end = check_now_ms() + CHECK_LONG_MS;
    while ((!atomic_load(&a.done) || !atomic_load(&b.done)) &&
           check_now_ms() < end) {
      fd_wait(loop, 20);
      CHECK_OK(errand_loop_run_pending(loop, 7, NULL));
    }
  }
  CHECK_EQ_INT(status_of(t), ERRAND_STATUS_RAN_TO_COMPLETION);
  CHECK_EQ_INT(atomic_load(&a.count), n);
  CHECK_EQ_INT(atomic_load(&b.count), n);
  CHECK_EQ_INT(atomic_load(&direct.count), n);
  CHECK_EQ_INT(atomic_load(&a.done_saw), n);
  CHECK_EQ_INT(atomic_load(&b.done_saw), n);
  CHECK_EQ_INT(atomic_load(&a.bad_order) + atomic_load(&b.bad_order) +
                   atomic_load(&direct.bad_order),
               0);
  CHECK_EQ_INT(atomic_load(&a.off_thread) + atomic_load(&b.off_thread) +
                   atomic_load(&direct.off_thread),
               0);
  CHECK_EQ_INT(atomic_load(&a.after_done) + atomic_load(&b.after_done), 0);
  /* Nothing more comes. */
  CHECK_OK(errand_loop_run_pending(loop, 0, NULL));
  CHECK_EQ_INT(atomic_load(&a.count), n);
  CHECK_OK(errand_task_release(t));
  teardown(rt, loop);
}

/* Events with a completion callback queued on the same loop: the callback
 * never comes before an event, even when the task ends right after
 * emitting and the loop is run late. */
TEST(events_then_callback_on_a_late_loop) {
  errand_loop *loop = NULL;
  errand_task *t = NULL;
  ev_state a;
  int n = 50, iters = check_iters(50), it;
  errand_runtime *rt = setup(2, &loop);
  REQUIRE(rt);
  for (it = 0; it < iters && !check_failed(); it++) {
    memset(&a, 0, sizeof a);
    a.expect_main = 1;
    atomic_store(&emit_n, n);
    atomic_store(&emit_go, 0);
    REQUIRE_OK(errand_post(rt, emitter, NULL, NULL, &t));
    /* The completion first, then the subscriber: order of queueing on the
     * loop is still events first, since events come while it runs. */
    REQUIRE_OK(errand_task_then(t, loop, ev_done, &a));
    REQUIRE_OK(errand_task_on_event(t, loop, on_progress, &a));
    atomic_store(&emit_go, 1);
    CHECK_OK(errand_wait(t, CHECK_LONG_MS));
    CHECK_OK(errand_loop_run_until(loop, t, CHECK_LONG_MS));
    CHECK_EQ_INT(atomic_load(&a.count), n);
    CHECK_EQ_INT(atomic_load(&a.done_saw), n);
    CHECK_EQ_INT(atomic_load(&a.after_done), 0);
    CHECK_OK(errand_task_release(t));
  }
  teardown(rt, loop);
}

static atomic_int emit_wrong_rc;
static errand_task *emit_target;
static void *emit_from_thread(void *arg) {
  (void)arg;
  atomic_store(&emit_wrong_rc,
               errand_task_emit(emit_target, "progress", NULL, 0));
  return NULL;
}

static int emit_checks(errand_task *self, void *arg) {
  (void)arg;
  CHECK_RC(errand_task_emit(self, NULL, NULL, 0), ERRAND_E_INVALID);
  CHECK_RC(errand_task_emit(self, "x", NULL, 3), ERRAND_E_INVALID);
  CHECK_OK(errand_task_emit(self, "empty", NULL, 0));
  return 0;
}

TEST(emit_only_from_the_task_itself) {
  errand_loop *loop = NULL;
  errand_task *t = NULL, *t2 = NULL;
  gate g;
  pthread_t th;
  errand_runtime *rt = setup(2, &loop);
  REQUIRE(rt);
  gate_init(&g);
  REQUIRE_OK(errand_post(rt, gate_task, &g, NULL, &t));
  CHECK_RC(errand_task_emit(t, "progress", NULL, 0), ERRAND_E_WRONG_THREAD);
  emit_target = t;
  REQUIRE(thread_start(&th, emit_from_thread, NULL));
  pthread_join(th, NULL);
  CHECK_RC(atomic_load(&emit_wrong_rc), ERRAND_E_WRONG_THREAD);
  CHECK_RC(errand_task_emit(NULL, "progress", NULL, 0), ERRAND_E_INVALID);
  gate_open(&g);
  CHECK_OK(errand_wait(t, CHECK_LONG_MS));
  REQUIRE_OK(errand_post(rt, emit_checks, NULL, NULL, &t2));
  CHECK_OK(errand_wait(t2, CHECK_LONG_MS));
  CHECK_EQ_INT(status_of(t2), ERRAND_STATUS_RAN_TO_COMPLETION);
  CHECK_OK(errand_task_release(t));
  CHECK_OK(errand_task_release(t2));
  teardown(rt, loop);
}

/* A subscriber added after the task is final gets nothing. */
TEST(subscribing_to_a_final_task_gets_no_events) {
  errand_loop *loop = NULL;
  errand_task *t = NULL;
  ev_state a;
  errand_runtime *rt = setup(1, &loop);
  REQUIRE(rt);
  memset(&a, 0, sizeof a);
  atomic_store(&emit_n, 10);
  atomic_store(&emit_go, 1);
  REQUIRE_OK(errand_post(rt, emitter, NULL, NULL, &t));
  CHECK_OK(errand_wait(t, CHECK_LONG_MS));
  CHECK_OK(errand_task_on_event(t, loop, on_progress, &a));
  CHECK_OK(errand_loop_run_pending(loop, 0, NULL));
  CHECK_EQ_INT(atomic_load(&a.count), 0);
  CHECK_OK(errand_task_release(t));
  teardown(rt, loop);
}

/* ------------------------------------------------------------------------ */
/* 9. Polling                                                                */
/* ------------------------------------------------------------------------ */

typedef struct poll_state {
  atomic_int calls;
  atomic_int stop_after;   /* return 0 on this call (0 = never) */
  atomic_int saw_final;    /* called while the task was final */
  atomic_int off_thread;
} poll_state;

static int pending_cb(errand_task *t, void *arg) {
  poll_state *p = (poll_state *)arg;
  errand_status st = ERRAND_STATUS_CREATED;
  int n = atomic_fetch_add(&p->calls, 1) + 1;
  if (!on_main()) atomic_fetch_add(&p->off_thread, 1);
  CHECK_OK(errand_task_status(t, &st));
  if (is_final_status((int)st)) atomic_fetch_add(&p->saw_final, 1);
  return !(atomic_load(&p->stop_after) && n >= atomic_load(&p->stop_after));
}

static void pump_for(errand_loop *loop, int ms) {
  int64_t end = check_now_ms() + ms;
  while (check_now_ms() < end) {
    fd_wait(loop, 5);
    CHECK_OK(errand_loop_run_pending(loop, 0, NULL));
  }
}

TEST(poll_calls_every_interval_while_the_task_runs) {
  errand_loop *loop = NULL;
  errand_task *t = NULL;
  poll_state p;
  gate g;
  int calls;
  errand_runtime *rt = setup(1, &loop);
  REQUIRE(rt);
  memset(&p, 0, sizeof p);
  gate_init(&g);
  REQUIRE_OK(errand_post(rt, gate_task, &g, NULL, &t));
  REQUIRE_OK(errand_task_poll(t, loop, 5, pending_cb, &p));
  CHECK(run_until_count(loop, &p.calls, 5));
  gate_open(&g);
  CHECK_OK(errand_loop_run_until(loop, t, CHECK_LONG_MS));
  calls = atomic_load(&p.calls);
  pump_for(loop, 60);
  CHECK_EQ_INT(atomic_load(&p.calls), calls); /* stopped with the task */
  CHECK_EQ_INT(atomic_load(&p.saw_final), 0);
  CHECK_EQ_INT(atomic_load(&p.off_thread), 0);
  CHECK_OK(errand_task_release(t));
  teardown(rt, loop);
}

TEST(poll_returning_false_stops_early_and_leaves_the_task_alone) {
  errand_loop *loop = NULL;
  errand_task *t = NULL;
  poll_state p;
  gate g;
  errand_runtime *rt = setup(1, &loop);
  REQUIRE(rt);
  memset(&p, 0, sizeof p);
  atomic_store(&p.stop_after, 3);
  gate_init(&g);
  REQUIRE_OK(errand_post(rt, gate_or_cancel_task, &g, NULL, &t));
  REQUIRE_OK(errand_task_poll(t, loop, 2, pending_cb, &p));
  CHECK(run_until_count(loop, &p.calls, 3));
  pump_for(loop, 60);
  CHECK_EQ_INT(atomic_load(&p.calls), 3);
  CHECK_EQ_INT(status_of(t), ERRAND_STATUS_RUNNING);
  CHECK_EQ_INT(errand_task_is_canceled(t), 0);
  gate_open(&g);
  CHECK_OK(errand_loop_run_until(loop, t, CHECK_LONG_MS));
  CHECK_EQ_INT(status_of(t), ERRAND_STATUS_RAN_TO_COMPLETION);
  CHECK_OK(errand_task_release(t));
  teardown(rt, loop);
}

TEST(poll_argument_checks_and_final_task) {
  errand_loop *loop = NULL;
  errand_task *t = NULL;
  poll_state p;
  errand_runtime *rt = setup(1, &loop);
  REQUIRE(rt);
  memset(&p, 0, sizeof p);
  REQUIRE_OK(errand_post(rt, noop_task, NULL, NULL, &t));
  CHECK_RC(errand_task_poll(t, loop, 0, pending_cb, &p), ERRAND_E_INVALID);
  CHECK_RC(errand_task_poll(t, loop, -5, pending_cb, &p), ERRAND_E_INVALID);
  CHECK_RC(errand_task_poll(t, NULL, 5, pending_cb, &p), ERRAND_E_INVALID);
  CHECK_RC(errand_task_poll(NULL, loop, 5, pending_cb, &p), ERRAND_E_INVALID);
  CHECK_OK(errand_wait(t, CHECK_LONG_MS));
  CHECK_OK(errand_task_poll(t, loop, 1, pending_cb, &p)); /* final: never */
  pump_for(loop, 20);
  CHECK_EQ_INT(atomic_load(&p.calls), 0);
  CHECK_OK(errand_task_release(t));
  teardown(rt, loop);
}

/* ------------------------------------------------------------------------ */
/* 10. Destroying a loop                                                     */
/* ------------------------------------------------------------------------ */

static atomic_int never_ran;
static void never_then(errand_task *t, void *arg) {
  (void)t;
  (void)arg;
  atomic_fetch_add(&never_ran, 1);
}
static void never_cb(int err, const char *m, void *v, void *arg) {
  (void)err;
  (void)m;
  (void)v;
  (void)arg;
  atomic_fetch_add(&never_ran, 1);
}
static void never_event(errand_task *t, const char *name, const void *data,
                        size_t len, void *arg) {
  (void)t;
  (void)name;
  (void)data;
  (void)len;
  (void)arg;
  atomic_fetch_add(&never_ran, 1);
}
static int never_task(errand_task *self, void *arg) {
  (void)self;
  (void)arg;
  atomic_fetch_add(&never_ran, 1);
  return 0;
}

TEST(destroy_with_undelivered_items_frees_them_and_runs_nothing) {
  errand_loop *loop = NULL;
  errand_task *t = NULL, *lt = NULL, *lt_delayed = NULL, *running = NULL;
  errand_post_options o = post_opts();
  poll_state p;
  gate g;
  static char big[4096];
  errand_runtime *rt = setup(2, &loop);
  REQUIRE(rt);
  memset(&p, 0, sizeof p);
  atomic_store(&never_ran, 0);
  atomic_store(&emit_n, 20);
  atomic_store(&emit_go, 1);
  (void)big;
  REQUIRE_OK(errand_post(rt, emitter, NULL, NULL, &t));
  REQUIRE_OK(errand_task_on_event(t, loop, never_event, NULL));
  REQUIRE_OK(errand_task_then(t, loop, never_then, NULL));
  REQUIRE_OK(errand_task_callback(t, loop, never_cb, NULL));
  gate_init(&g);
  REQUIRE_OK(errand_post(rt, gate_task, &g, NULL, &running));
  REQUIRE_OK(errand_task_poll(running, loop, 1, pending_cb, &p));
  REQUIRE_OK(errand_task_then(running, loop, never_then, NULL));
  REQUIRE_OK(errand_loop_post(loop, never_task, NULL, NULL, &lt));
  o.delay_ms = 30;
  REQUIRE_OK(errand_loop_post(loop, never_task, NULL, &o, &lt_delayed));
  CHECK_OK(errand_wait(t, CHECK_LONG_MS));
  check_sleep_ms(10); /* a few poll ticks queue up too */
  CHECK_EQ_INT(fd_ready(loop), 1);
  CHECK_OK(errand_loop_destroy(loop));
  /* Loop tasks that never ran are CANCELED. */
  CHECK_EQ_INT(status_of(lt), ERRAND_STATUS_CANCELED);
  CHECK_OK(errand_wait(lt_delayed, CHECK_LONG_MS));
  CHECK_EQ_INT(status_of(lt_delayed), ERRAND_STATUS_CANCELED);
  /* Later completions and ticks for the dead loop are dropped. */
  gate_open(&g);
  CHECK_OK(errand_wait(running, CHECK_LONG_MS));
  check_sleep_ms(20);
  CHECK_EQ_INT(atomic_load(&never_ran), 0);
  CHECK_EQ_INT(atomic_load(&p.calls), 0);
  /* The dead loop cannot take new work. */
  CHECK_RC(errand_task_then(t, loop, never_then, NULL), ERRAND_E_RELEASED);
  CHECK_RC(errand_loop_post(loop, never_task, NULL, NULL, NULL),
           ERRAND_E_RELEASED);
  CHECK_OK(errand_task_release(t));
  CHECK_OK(errand_task_release(lt));
  CHECK_OK(errand_task_release(lt_delayed));
  CHECK_OK(errand_task_release(running));
  CHECK_OK(errand_runtime_destroy(rt));
  CHECK_EQ_INT(atomic_load(&never_ran), 0);
}

/* A callback destroys its own loop: nothing after it runs. */
static errand_loop *self_destroy_loop;
static atomic_int after_destroy;
static void destroy_in_cb(errand_task *t, void *arg) {
  (void)t;
  (void)arg;
  CHECK_OK(errand_loop_destroy(self_destroy_loop));
}
static void after_cb(errand_task *t, void *arg) {
  (void)t;
  (void)arg;
  atomic_fetch_add(&after_destroy, 1);
}

TEST(a_callback_may_destroy_its_loop) {
  errand_loop *loop = NULL;
  errand_task *t = NULL;
  int ran = -1;
  errand_runtime *rt = setup(1, &loop);
  REQUIRE(rt);
  self_destroy_loop = loop;
  atomic_store(&after_destroy, 0);
  REQUIRE_OK(errand_post(rt, noop_task, NULL, NULL, &t));
  REQUIRE_OK(errand_task_then(t, loop, destroy_in_cb, NULL));
  REQUIRE_OK(errand_task_then(t, loop, after_cb, NULL));
  REQUIRE_OK(errand_loop_post(loop, never_task, NULL, NULL, NULL));
  CHECK_OK(errand_wait(t, CHECK_LONG_MS));
  check_sleep_ms(10);
  atomic_store(&never_ran, 0);
  CHECK_OK(errand_loop_run_pending(loop, 0, &ran));
  CHECK_EQ_INT(atomic_load(&after_destroy), 0);
  CHECK_EQ_INT(atomic_load(&never_ran), 0);
  CHECK_RC(errand_loop_run_pending(loop, 0, NULL), ERRAND_E_RELEASED);
  CHECK_OK(errand_task_release(t));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* run_until inside a destroyed loop (destroyed by a callback it ran). */
TEST(run_until_reports_a_loop_destroyed_under_it) {
  errand_loop *loop = NULL;
  errand_task *t = NULL, *t2 = NULL;
  gate g;
  errand_runtime *rt = setup(2, &loop);
  REQUIRE(rt);
  self_destroy_loop = loop;
  gate_init(&g);
  REQUIRE_OK(errand_post(rt, noop_task, NULL, NULL, &t));
  REQUIRE_OK(errand_task_then(t, loop, destroy_in_cb, NULL));
  REQUIRE_OK(errand_post(rt, gate_task, &g, NULL, &t2));
  CHECK_RC(errand_loop_run_until(loop, t2, CHECK_LONG_MS), ERRAND_E_STATE);
  gate_open(&g);
  CHECK_OK(errand_wait(t2, CHECK_LONG_MS));
  CHECK_OK(errand_task_release(t));
  CHECK_OK(errand_task_release(t2));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* ------------------------------------------------------------------------ */
/* 12. The loop as an executor                                               */
/* ------------------------------------------------------------------------ */

static errand_task *post_loop(errand_loop *loop, const char *name,
                              errand_priority p, errand_signal *s) {
  errand_post_options o = post_opts();
  errand_task *t = NULL;
  o.priority = p;
  o.signal = s;
  o.name = name;
  if (!CHECK_OK(errand_loop_post(loop, log_task, (void *)name, &o, &t)))
    return NULL;
  return t;
}

TEST(loop_tasks_run_by_priority_fifo_within_a_level) {
  errand_loop *loop = NULL;
  errand_task *ts[9];
  int n = 0;
  errand_runtime *rt = setup(1, &loop);
  REQUIRE(rt);
  ts[n++] = post_loop(loop, "bg1", ERRAND_PRIORITY_BACKGROUND, NULL);
  ts[n++] = post_loop(loop, "uv1", ERRAND_PRIORITY_DEFAULT, NULL);
  ts[n++] = post_loop(loop, "ub1", ERRAND_PRIORITY_USER_BLOCKING, NULL);
  ts[n++] = post_loop(loop, "bg2", ERRAND_PRIORITY_BACKGROUND, NULL);
  ts[n++] = post_loop(loop, "uv2", ERRAND_PRIORITY_USER_VISIBLE, NULL);
  ts[n++] = post_loop(loop, "ub2", ERRAND_PRIORITY_USER_BLOCKING, NULL);
  for (int i = 0; i < n; i++) {
    REQUIRE(ts[i]);
    CHECK_EQ_INT(status_of(ts[i]), ERRAND_STATUS_WAITING_TO_RUN);
  }
  CHECK_EQ_INT(errand_wait(ts[0], 0), ERRAND_E_TIMEOUT);
  CHECK_OK(errand_loop_run_pending(loop, 0, NULL));
  {
    static const char *const want[] = {"ub1", "ub2", "uv1",
                                       "uv2", "bg1", "bg2"};
    CHECK(log_equals(want, 6));
  }
  for (int i = 0; i < n; i++) {
    uint64_t id = 0;
    CHECK_EQ_INT(status_of(ts[i]), ERRAND_STATUS_RAN_TO_COMPLETION);
    CHECK_EQ_INT(flags_of(ts[i]),
                 ERRAND_FLAG_COMPLETED | ERRAND_FLAG_SUCCEEDED);
    CHECK_OK(errand_wait(ts[i], 0));
    CHECK_OK(errand_task_id(ts[i], &id));
    CHECK(id > 0);
  }
  CHECK_EQ_INT(atomic_load(&off_main), 0);
  for (int i = 0; i < n; i++) CHECK_OK(errand_task_release(ts[i]));
  teardown(rt, loop);
}

/* Inside a loop task, the task is current, can set a result, fail, sleep,
 * emit events and see its own cancellation. */
static int loop_self_checks(errand_task *self, void *arg) {
  int *v = (int *)malloc(sizeof *v);
  (void)arg;
  CHECK(errand_task_current() == self);
  CHECK_EQ_INT(status_of(self), ERRAND_STATUS_RUNNING);
  CHECK(on_main());
  CHECK_OK(errand_task_emit(self, "progress", NULL, 0));
  if (!v) return ERRAND_E_NOMEM;
  *v = 41;
  return errand_task_set_result(self, v, free);
}

static int loop_fails(errand_task *self, void *arg) {
  (void)arg;
  return errand_task_fail(self, 12, "loop task failed: %d", 12);
}

TEST(loop_tasks_have_results_errors_and_waiters) {
  errand_loop *loop = NULL;
  errand_task *a = NULL, *b = NULL;
  void *v = NULL;
  seen s;
  errand_runtime *rt = setup(1, &loop);
  REQUIRE(rt);
  memset(&s, 0, sizeof s);
  REQUIRE_OK(errand_loop_post(loop, loop_self_checks, NULL, NULL, &a));
  REQUIRE_OK(errand_loop_post(loop, loop_fails, NULL, NULL, &b));
  REQUIRE_OK(errand_task_then(b, NULL, record_then, &s));
  CHECK_OK(errand_loop_run_until(loop, b, CHECK_LONG_MS));
  CHECK_EQ_INT(status_of(a), ERRAND_STATUS_RAN_TO_COMPLETION);
  CHECK_OK(errand_task_result(a, &v));
  CHECK(v && *(int *)v == 41);
  CHECK_EQ_INT(status_of(b), ERRAND_STATUS_FAULTED);
  CHECK_EQ_INT(error_code_of(b), 12);
  CHECK_EQ_STR(error_msg_of(b), "loop task failed: 12");
  CHECK(check_wait_count(&s.calls, 1, CHECK_LONG_MS));
  CHECK_EQ_INT(atomic_load(&s.code), 12);
  CHECK_OK(errand_task_release(a));
  CHECK_OK(errand_task_release(b));
  teardown(rt, loop);
}

/* Another thread waits on a loop task (errand_wait) while the owner runs
 * it. */
typedef struct wait_arg {
  errand_task *t;
  atomic_int rc;
} wait_arg;
static void *wait_thread(void *arg) {
  wait_arg *w = (wait_arg *)arg;
  atomic_store(&w->rc, errand_wait(w->t, CHECK_LONG_MS));
  return NULL;
}

TEST(other_threads_wait_for_loop_tasks) {
  errand_loop *loop = NULL;
  wait_arg w;
  pthread_t th;
  errand_runtime *rt = setup(1, &loop);
  REQUIRE(rt);
  atomic_init(&w.rc, -1);
  REQUIRE_OK(errand_loop_post(loop, log_task, (void *)"waited", NULL, &w.t));
  REQUIRE(thread_start(&th, wait_thread, &w));
  check_sleep_ms(20);
  CHECK_EQ_INT(atomic_load(&w.rc), -1);
  CHECK_OK(errand_loop_run_until(loop, w.t, CHECK_LONG_MS));
  pthread_join(th, NULL);
  CHECK_OK(atomic_load(&w.rc));
  CHECK_OK(errand_task_release(w.t));
  teardown(rt, loop);
}

TEST(loop_task_cancel_delay_and_queue_timeout) {
  errand_loop *loop = NULL;
  errand_task *c = NULL, *d = NULL, *q = NULL, *later = NULL;
  errand_post_options o = post_opts();
  int64_t t0;
  errand_runtime *rt = setup(1, &loop);
  REQUIRE(rt);
  atomic_store(&never_ran, 0);
  REQUIRE_OK(errand_loop_post(loop, never_task, NULL, NULL, &c));
  CHECK_OK(errand_task_cancel(c));
  CHECK_EQ_INT(status_of(c), ERRAND_STATUS_CANCELED);
  o.queue_timeout_ms = 20;
  REQUIRE_OK(errand_loop_post(loop, never_task, NULL, &o, &q));
  CHECK_OK(errand_wait(q, CHECK_LONG_MS)); /* nobody runs the loop */
  CHECK_EQ_INT(status_of(q), ERRAND_STATUS_CANCELED);
  CHECK_EQ_INT(error_code_of(q), ERRAND_E_TIMEOUT);
  o = post_opts();
  o.delay_ms = 50;
  t0 = check_now_ms();
  REQUIRE_OK(errand_loop_post(loop, log_task, (void *)"delayed", &o, &d));
  REQUIRE_OK(errand_loop_post(loop, log_task, (void *)"now", NULL, &later));
  CHECK_OK(errand_loop_run_until(loop, d, CHECK_LONG_MS));
  CHECK(check_now_ms() - t0 >= 50);
  {
    static const char *const want[] = {"now", "delayed"};
    CHECK(log_equals(want, 2));
  }
  CHECK_EQ_INT(atomic_load(&never_ran), 0);
  CHECK_OK(errand_task_release(c));
  CHECK_OK(errand_task_release(d));
  CHECK_OK(errand_task_release(q));
  CHECK_OK(errand_task_release(later));
  teardown(rt, loop);
}

TEST(loop_tasks_follow_their_signal) {
  errand_loop *loop = NULL;
  errand_controller *ca = NULL, *cb = NULL;
  errand_signal *sa = NULL, *sb = NULL;
  errand_task *ts[8];
  int n = 0;
  errand_runtime *rt = setup(1, &loop);
  REQUIRE(rt);
  REQUIRE_OK(errand_controller_create(ERRAND_PRIORITY_BACKGROUND, &ca));
  REQUIRE_OK(errand_controller_create(ERRAND_PRIORITY_USER_VISIBLE, &cb));
  REQUIRE_OK(errand_controller_signal(ca, &sa));
  REQUIRE_OK(errand_controller_signal(cb, &sb));
  ts[n++] = post_loop(loop, "a1", 0, sa);
  ts[n++] = post_loop(loop, "b1", 0, sb);
  ts[n++] = post_loop(loop, "x", ERRAND_PRIORITY_USER_VISIBLE, NULL);
  ts[n++] = post_loop(loop, "a2", 0, sa);
  ts[n++] = post_loop(loop, "b2", 0, sb);
  ts[n++] = post_loop(loop, "af", ERRAND_PRIORITY_BACKGROUND, sa);
  for (int i = 0; i < n; i++) REQUIRE(ts[i]);
  /* a: background -> user-visible (merges with x by post order);
   * b: aborted. */
  CHECK_OK(errand_controller_set_priority(ca, ERRAND_PRIORITY_USER_VISIBLE));
  CHECK_OK(errand_controller_abort(cb, 0, "b aborted"));
  CHECK_EQ_INT(status_of(ts[1]), ERRAND_STATUS_CANCELED);
  CHECK_EQ_STR(error_msg_of(ts[4]), "b aborted");
  CHECK_OK(errand_loop_run_pending(loop, 0, NULL));
  {
    static const char *const want[] = {"a1", "x", "a2", "af"};
    CHECK(log_equals(want, 4));
  }
  for (int i = 0; i < n; i++) CHECK_OK(errand_task_release(ts[i]));
  CHECK_OK(errand_signal_release(sa));
  CHECK_OK(errand_signal_release(sb));
  CHECK_OK(errand_controller_release(ca));
  CHECK_OK(errand_controller_release(cb));
  teardown(rt, loop);
}

/* A pool task waits for a loop task (help-while-wait cannot run it: it
 * belongs to the loop) — it must not deadlock the owner, which runs it. */
static errand_task *loop_target;
static int wait_for_loop_task(errand_task *self, void *arg) {
  (void)self;
  (void)arg;
  return errand_wait(loop_target, CHECK_LONG_MS);
}

TEST(pool_task_waits_for_a_loop_task) {
  errand_loop *loop = NULL;
  errand_task *w = NULL;
  errand_runtime *rt = setup(1, &loop);
  REQUIRE(rt);
  REQUIRE_OK(errand_loop_post(loop, log_task, (void *)"on loop", NULL,
                              &loop_target));
  REQUIRE_OK(errand_post(rt, wait_for_loop_task, NULL, NULL, &w));
  check_sleep_ms(10);
  CHECK_OK(errand_loop_run_until(loop, w, CHECK_LONG_MS));
  CHECK_EQ_INT(status_of(w), ERRAND_STATUS_RAN_TO_COMPLETION);
  CHECK_OK(errand_task_release(w));
  CHECK_OK(errand_task_release(loop_target));
  teardown(rt, loop);
}

/* Several loops, each on its own thread, each receiving completions of
 * pool tasks; every callback runs on its loop's owner. */
typedef struct loop_thread {
  errand_runtime *rt;
  int n;
  atomic_int wrong_thread;
  atomic_int done;
  pthread_t self;
} loop_thread;

static void lt_cb(int err, const char *m, void *v, void *arg) {
  loop_thread *lt = (loop_thread *)arg;
  (void)m;
  (void)v;
  if (err) CHECK_EQ_INT(err, 0);
  if (!pthread_equal(pthread_self(), lt->self))
    atomic_fetch_add(&lt->wrong_thread, 1);
  atomic_fetch_add(&lt->done, 1);
}

static void *loop_thread_main(void *arg) {
  loop_thread *lt = (loop_thread *)arg;
  errand_loop *loop = NULL;
  int i;
  lt->self = pthread_self();
  if (!CHECK_OK(errand_loop_create(lt->rt, &loop))) return NULL;
  for (i = 0; i < lt->n; i++) {
    errand_task *t = NULL;
    if (!CHECK_OK(errand_post(lt->rt, noop_task, NULL, NULL, &t))) break;
    CHECK_OK(errand_task_callback(t, loop, lt_cb, lt));
    CHECK_OK(errand_task_release(t));
  }
  run_until_count(loop, &lt->done, lt->n);
  CHECK_OK(errand_loop_destroy(loop));
  return NULL;
}

TEST(several_loops_on_several_threads) {
  loop_thread lts[4];
  pthread_t th[4];
  int i, n = check_iters(2000);
  errand_runtime *rt = rt_new(2);
  REQUIRE(rt);
  for (i = 0; i < 4; i++) {
    memset(&lts[i], 0, sizeof lts[i]);
    lts[i].rt = rt;
    lts[i].n = n;
    REQUIRE(thread_start(&th[i], loop_thread_main, &lts[i]));
  }
  for (i = 0; i < 4; i++) pthread_join(th[i], NULL);
  for (i = 0; i < 4; i++) {
    CHECK_EQ_INT(atomic_load(&lts[i].done), n);
    CHECK_EQ_INT(atomic_load(&lts[i].wrong_thread), 0);
  }
  CHECK_OK(errand_runtime_destroy(rt));
}

CHECK_MAIN()
