/*
 * test_seed004.c — seed 004 (scheduler.postTask, TaskController,
 * setPriority, the prioritychange event, abort, delay) reproduced with
 * errand, each with the seed's expected output.
 *
 * The browser's scheduler runs tasks on the main thread: that is a loop
 * (errand_loop_post + errand_loop_run_*), so every example runs there, on
 * the test's main thread, and prints through console_log() into a buffer
 * that is compared with the seed's output line for line.  The fixed
 * priorities and the priority change are also run on a one-worker pool held
 * busy while posting (the other executor).
 *
 * Promise chains (.then / .catch) become errand_task_callback on the loop:
 * (err, message, value) — the value is the callback's return value, the
 * error the abort reason or the task's own error.
 */
#include <poll.h>
#include <pthread.h>

#include "helpers.h"

/* ------------------------------------------------------------------------ */
/* console.log into a buffer                                                 */
/* ------------------------------------------------------------------------ */

static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;
static char out[8192];
static size_t out_len;
static pthread_t main_thread;
static atomic_int off_main;

static void console_reset(void) {
  pthread_mutex_lock(&out_mu);
  out_len = 0;
  out[0] = 0;
  pthread_mutex_unlock(&out_mu);
  main_thread = pthread_self();
  atomic_store(&off_main, 0);
}

static void console_log(const char *fmt, ...) CHECK__PRINTF(1, 2);
static void console_log(const char *fmt, ...) {
  va_list ap;
  pthread_mutex_lock(&out_mu);
  va_start(ap, fmt);
  if (out_len < sizeof out - 2) {
    int n = vsnprintf(out + out_len, sizeof out - out_len - 1, fmt, ap);
    if (n > 0) out_len += (size_t)n;
    if (out_len > sizeof out - 2) out_len = sizeof out - 2;
    out[out_len++] = '\n';
    out[out_len] = 0;
  }
  va_end(ap);
  pthread_mutex_unlock(&out_mu);
}

static int output_is(const char *want) {
  int ok;
  pthread_mutex_lock(&out_mu);
  ok = CHECK_EQ_STR(out, want);
  pthread_mutex_unlock(&out_mu);
  return ok;
}

/* Runs the loop (run_pending, as a host event loop would; not run_until,
 * which would raise the task it waits for) until the tasks are final, then
 * a little longer for late deliveries (the seed's "the page settles"). */
static int all_final(errand_task *const *ts, size_t n) {
  size_t i;
  for (i = 0; i < n; i++)
    if (!is_final_status(status_of(ts[i]))) return 0;
  return 1;
}

static void settle(errand_loop *loop, errand_task *const *ts, size_t n) {
  int fd = -1, i;
  int64_t end = check_now_ms() + CHECK_LONG_MS;
  CHECK_OK(errand_loop_fd(loop, &fd));
  while (!all_final(ts, n) && check_now_ms() < end) {
    struct pollfd p = {fd, POLLIN, 0};
    poll(&p, 1, 10);
    CHECK_OK(errand_loop_run_pending(loop, 0, NULL));
  }
  CHECK(all_final(ts, n));
  for (i = 0; i < 5; i++) {
    CHECK_OK(errand_loop_run_pending(loop, 0, NULL));
    check_sleep_ms(2);
  }
  CHECK_OK(errand_loop_run_pending(loop, 0, NULL));
}

/* () => console.log(arg) */
static int log_fn(errand_task *self, void *arg) {
  (void)self;
  if (!pthread_equal(pthread_self(), main_thread))
    atomic_fetch_add(&off_main, 1);
  console_log("%s", (const char *)arg);
  return 0;
}

/* () => arg   (the callback's return value) */
static int return_fn(errand_task *self, void *arg) {
  return errand_task_set_result(self, arg, NULL);
}

/* .then((taskResult) => console.log(`${taskResult}`))
 * .catch((error) => console.error("Error:", error)) */
static void then_log(int err, const char *message, void *value, void *arg) {
  (void)arg;
  if (!pthread_equal(pthread_self(), main_thread))
    atomic_fetch_add(&off_main, 1);
  if (err == 0)
    console_log("%s", (const char *)value);
  else
    console_log("Error: %s", message);
}

static errand_runtime *rt_one(void) {
  errand_runtime_options o;
  memset(&o, 0, sizeof o);
  o.workers = 1;
  o.max_compensating = -1;
  return rt_new_opts(&o);
}

/* postTask on the loop or on the pool. */
typedef struct executor {
  errand_runtime *rt;
  errand_loop *loop; /* NULL: the pool */
} executor;

static errand_task *post_task(executor *ex, errand_fn fn, const char *arg,
                              errand_priority prio, errand_signal *sig,
                              int64_t delay) {
  errand_post_options o = post_opts();
  errand_task *t = NULL;
  int rc;
  o.priority = prio;
  o.signal = sig;
  o.delay_ms = delay;
  if (ex->loop)
    rc = errand_loop_post(ex->loop, fn, (void *)arg, &o, &t);
  else
    rc = errand_post(ex->rt, fn, (void *)arg, &o, &t);
  if (!CHECK_OK(rc)) return NULL;
  return t;
}

/* ------------------------------------------------------------------------ */
/* Basic usage                                                               */
/* ------------------------------------------------------------------------ */

TEST(seed004_basic_usage_then_and_await) {
  errand_loop *loop = NULL;
  errand_task *t1, *t2;
  void *v = NULL;
  executor ex;
  errand_runtime *rt = rt_new(1);
  REQUIRE(rt);
  REQUIRE_OK(errand_loop_create(rt, &loop));
  console_reset();
  ex.rt = rt;
  ex.loop = loop;
  /* scheduler.postTask(myTask, { signal }).then(log).catch(error) */
  t1 = post_task(&ex, return_fn, "Task 1: user-visible", 0, NULL, 0);
  REQUIRE(t1);
  REQUIRE_OK(errand_task_callback(t1, loop, then_log, NULL));
  CHECK_EQ_INT(errand_task_priority(t1, &(errand_priority){0}), 0);
  /* const result = await scheduler.postTask(myTask2, {priority:
   * "user-blocking"}); console.log(result);
   * The code after an await is a continuation of the task: a callback on
   * the loop, which runs before the loop picks its next task. */
  t2 = post_task(&ex, return_fn, "Task 2: user-blocking",
                 ERRAND_PRIORITY_USER_BLOCKING, NULL, 0);
  REQUIRE(t2);
  REQUIRE_OK(errand_task_callback(t2, loop, then_log, NULL));
  {
    errand_task *both[2] = {t1, t2};
    settle(loop, both, 2);
  }
  CHECK_OK(errand_task_result(t2, &v));
  CHECK_EQ_STR((const char *)v, "Task 2: user-blocking");
  /* t2 is user-blocking: it ran first, so the await finished first. */
  CHECK(output_is("Task 2: user-blocking\n"
                  "Task 1: user-visible\n"));
  CHECK_EQ_INT(atomic_load(&off_main), 0);
  CHECK_OK(errand_task_release(t1));
  CHECK_OK(errand_task_release(t2));
  CHECK_OK(errand_loop_destroy(loop));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* ------------------------------------------------------------------------ */
/* Permanent priorities                                                      */
/* ------------------------------------------------------------------------ */

static const char seven_lines[] = "usr-blk 1\n"
                                  "usr-blk 2\n"
                                  "usr-vis 1\n"
                                  "usr-vis 2\n"
                                  "usr-vis 3 (default)\n"
                                  "bkg 1\n"
                                  "bkg 2\n";

static void post_seven(executor *ex, errand_task **ts) {
  int n = 0;
  /* three tasks, in reverse order of priority */
  ts[n++] = post_task(ex, log_fn, "bkg 1", ERRAND_PRIORITY_BACKGROUND, NULL, 0);
  ts[n++] = post_task(ex, log_fn, "usr-vis 1", ERRAND_PRIORITY_USER_VISIBLE,
                      NULL, 0);
  ts[n++] = post_task(ex, log_fn, "usr-blk 1", ERRAND_PRIORITY_USER_BLOCKING,
                      NULL, 0);
  /* three more tasks, in reverse order of priority */
  ts[n++] = post_task(ex, log_fn, "bkg 2", ERRAND_PRIORITY_BACKGROUND, NULL, 0);
  ts[n++] = post_task(ex, log_fn, "usr-vis 2", ERRAND_PRIORITY_USER_VISIBLE,
                      NULL, 0);
  ts[n++] = post_task(ex, log_fn, "usr-blk 2", ERRAND_PRIORITY_USER_BLOCKING,
                      NULL, 0);
  /* Task with default priority: user-visible */
  ts[n++] = post_task(ex, log_fn, "usr-vis 3 (default)", 0, NULL, 0);
}

TEST(seed004_permanent_priorities_on_the_loop) {
  errand_loop *loop = NULL;
  errand_task *ts[7];
  executor ex;
  int it, iters = check_iters(20);
  errand_runtime *rt = rt_new(1);
  REQUIRE(rt);
  REQUIRE_OK(errand_loop_create(rt, &loop));
  ex.rt = rt;
  ex.loop = loop;
  for (it = 0; it < iters && !check_failed(); it++) {
    console_reset();
    post_seven(&ex, ts);
    for (int i = 0; i < 7; i++) REQUIRE(ts[i]);
    settle(loop, ts, 7);
    CHECK(output_is(seven_lines));
    CHECK_EQ_INT(atomic_load(&off_main), 0);
    for (int i = 0; i < 7; i++) CHECK_OK(errand_task_release(ts[i]));
  }
  CHECK_OK(errand_loop_destroy(loop));
  CHECK_OK(errand_runtime_destroy(rt));
}

TEST(seed004_permanent_priorities_on_the_pool) {
  errand_task *ts[7], *hold[1];
  gate g;
  executor ex;
  errand_runtime *rt = rt_one();
  REQUIRE(rt);
  ex.rt = rt;
  ex.loop = NULL;
  console_reset();
  gate_init(&g);
  REQUIRE(hold_workers(rt, &g, 1, hold));
  post_seven(&ex, ts);
  for (int i = 0; i < 7; i++) REQUIRE(ts[i]);
  gate_open(&g);
  CHECK_OK(errand_wait_all(ts, 7, CHECK_LONG_MS));
  CHECK(output_is(seven_lines));
  for (int i = 0; i < 7; i++) CHECK_OK(errand_task_release(ts[i]));
  CHECK_OK(errand_task_release(hold[0]));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* ------------------------------------------------------------------------ */
/* Changing task priorities                                                  */
/* ------------------------------------------------------------------------ */

/* controller.signal.addEventListener("prioritychange", (event) => {
 *   console.log(`Priority changed from ${previousPriority} to
 *   ${newPriority}.`); }); */
static void on_prioritychange(errand_signal *s, errand_priority previous,
                              errand_priority current, void *arg) {
  errand_priority now = ERRAND_PRIORITY_DEFAULT;
  (void)arg;
  if (!pthread_equal(pthread_self(), main_thread))
    atomic_fetch_add(&off_main, 1);
  /* event.target.priority is the new priority */
  CHECK_OK(errand_signal_priority(s, &now));
  CHECK_EQ_INT(now, current);
  console_log("Priority changed from %s to %s.", errand_priority_name(previous),
              errand_priority_name(current));
}

static void changing_priority(executor *ex, int listener_on_loop) {
  errand_controller *controller = NULL;
  errand_signal *signal = NULL;
  errand_task *t, *hold[1] = {NULL};
  errand_priority p = ERRAND_PRIORITY_DEFAULT;
  gate g;
  console_reset();
  gate_init(&g);
  if (!ex->loop && !hold_workers(ex->rt, &g, 1, hold)) return;
  /* const controller = new TaskController({ priority: "user-blocking" }); */
  if (!CHECK_OK(errand_controller_create(ERRAND_PRIORITY_USER_BLOCKING,
                                         &controller)))
    return;
  CHECK_OK(errand_controller_signal(controller, &signal));
  CHECK_OK(errand_signal_on_priority_change(
      signal, listener_on_loop ? ex->loop : NULL, on_prioritychange, NULL));
  /* scheduler.postTask(() => console.log("Task 1"), { signal }); */
  t = post_task(ex, log_fn, "Task 1", 0, signal, 0);
  if (!t) return;
  CHECK_OK(errand_task_priority(t, &p));
  CHECK_EQ_INT(p, ERRAND_PRIORITY_USER_BLOCKING);
  /* controller.setPriority("background"); */
  CHECK_OK(errand_controller_set_priority(controller,
                                          ERRAND_PRIORITY_BACKGROUND));
  CHECK_OK(errand_task_priority(t, &p));
  CHECK_EQ_INT(p, ERRAND_PRIORITY_BACKGROUND);
  if (ex->loop) {
    settle(ex->loop, &t, 1);
  } else {
    gate_open(&g);
    CHECK_OK(errand_wait(t, CHECK_LONG_MS));
  }
  CHECK(output_is("Priority changed from user-blocking to background.\n"
                  "Task 1\n"));
  if (ex->loop) CHECK_EQ_INT(atomic_load(&off_main), 0);
  CHECK_OK(errand_task_release(t));
  CHECK_OK(errand_task_release(hold[0]));
  CHECK_OK(errand_signal_release(signal));
  CHECK_OK(errand_controller_release(controller));
}

TEST(seed004_changing_priority_on_the_loop) {
  errand_loop *loop = NULL;
  executor ex;
  errand_runtime *rt = rt_new(1);
  REQUIRE(rt);
  REQUIRE_OK(errand_loop_create(rt, &loop));
  ex.rt = rt;
  ex.loop = loop;
  changing_priority(&ex, 1); /* the listener on the main thread's loop */
  changing_priority(&ex, 0); /* the listener called by setPriority itself */
  CHECK_OK(errand_loop_destroy(loop));
  CHECK_OK(errand_runtime_destroy(rt));
}

TEST(seed004_changing_priority_on_the_pool) {
  executor ex;
  errand_runtime *rt = rt_one();
  REQUIRE(rt);
  ex.rt = rt;
  ex.loop = NULL;
  changing_priority(&ex, 0);
  CHECK_OK(errand_runtime_destroy(rt));
}

/* ------------------------------------------------------------------------ */
/* Aborting tasks                                                            */
/* ------------------------------------------------------------------------ */

static void aborting(executor *ex) {
  errand_controller *abortTaskController = NULL;
  errand_signal *signal = NULL;
  errand_task *t, *hold[1] = {NULL};
  gate g;
  console_reset();
  gate_init(&g);
  if (!ex->loop && !hold_workers(ex->rt, &g, 1, hold)) return;
  /* const abortTaskController = new TaskController(); */
  if (!CHECK_OK(errand_controller_create(0, &abortTaskController))) return;
  CHECK_OK(errand_controller_signal(abortTaskController, &signal));
  /* scheduler.postTask(() => console.log("Task executing"), { signal })
   *   .then((taskResult) => console.log(`${taskResult}`)) // won't run
   *   .catch((error) => console.error("Error:", error)); */
  t = post_task(ex, log_fn, "Task executing", 0, signal, 0);
  if (!t) return;
  CHECK_OK(errand_task_callback(t, ex->loop, then_log, NULL));
  /* abortTaskController.abort(); */
  CHECK_OK(errand_controller_abort(abortTaskController, 0, NULL));
  if (ex->loop) {
    settle(ex->loop, &t, 1);
  } else {
    gate_open(&g);
    CHECK_OK(errand_wait(t, CHECK_LONG_MS));
    CHECK_OK(errand_runtime_shutdown(ex->rt, ERRAND_SHUTDOWN_DRAIN, -1));
  }
  /* The promise is rejected with the abort reason; the task never ran. */
  CHECK(output_is("Error: aborted\n"));
  CHECK_EQ_INT(status_of(t), ERRAND_STATUS_CANCELED);
  CHECK_EQ_INT(error_code_of(t), ERRAND_E_CANCELED);
  CHECK_OK(errand_task_release(t));
  CHECK_OK(errand_task_release(hold[0]));
  CHECK_OK(errand_signal_release(signal));
  CHECK_OK(errand_controller_release(abortTaskController));
}

TEST(seed004_abort_on_the_loop) {
  errand_loop *loop = NULL;
  executor ex;
  errand_runtime *rt = rt_new(1);
  REQUIRE(rt);
  REQUIRE_OK(errand_loop_create(rt, &loop));
  ex.rt = rt;
  ex.loop = loop;
  aborting(&ex);
  CHECK_EQ_INT(atomic_load(&off_main), 0);
  CHECK_OK(errand_loop_destroy(loop));
  CHECK_OK(errand_runtime_destroy(rt));
}

TEST(seed004_abort_on_the_pool) {
  executor ex;
  errand_runtime *rt = rt_one();
  REQUIRE(rt);
  ex.rt = rt;
  ex.loop = NULL; /* the .catch runs on a pool thread */
  aborting(&ex);
  CHECK_OK(errand_runtime_destroy(rt));
}

/* ------------------------------------------------------------------------ */
/* Delaying tasks                                                            */
/* ------------------------------------------------------------------------ */

static int64_t t_start;
static atomic_int long_delay_ok;
static void then_log_timed(int err, const char *message, void *value,
                           void *arg) {
  int64_t min = (int64_t)(intptr_t)arg;
  if (check_now_ms() - t_start >= min) atomic_fetch_add(&long_delay_ok, 1);
  then_log(err, message, value, NULL);
}

TEST(seed004_delay_on_the_loop) {
  errand_loop *loop = NULL;
  errand_task *ts[2];
  executor ex;
  errand_runtime *rt = rt_new(1);
  REQUIRE(rt);
  REQUIRE_OK(errand_loop_create(rt, &loop));
  ex.rt = rt;
  ex.loop = loop;
  console_reset();
  atomic_store(&long_delay_ok, 0);
  t_start = check_now_ms();
  /* scheduler.postTask(() => "Task delayed by 2000ms", { delay: 2000 })
   *   .then((taskResult) => console.log(`${taskResult}`)); */
  ts[0] = post_task(&ex, return_fn, "Task delayed by 2000ms", 0, NULL, 2000);
  REQUIRE(ts[0]);
  REQUIRE_OK(errand_task_callback(ts[0], loop, then_log_timed,
                                  (void *)(intptr_t)2000));
  /* scheduler.postTask(() => "Next task should complete in about 2000ms",
   *   { delay: 1 }).then(...); */
  ts[1] = post_task(&ex, return_fn,
                    "Next task should complete in about 2000ms", 0, NULL, 1);
  REQUIRE(ts[1]);
  REQUIRE_OK(errand_task_callback(ts[1], loop, then_log_timed,
                                  (void *)(intptr_t)1));
  CHECK_EQ_INT(status_of(ts[0]), ERRAND_STATUS_WAITING_TO_RUN);
  settle(loop, ts, 2);
  CHECK(output_is("Next task should complete in about 2000ms\n"
                  "Task delayed by 2000ms\n"));
  CHECK_EQ_INT(atomic_load(&long_delay_ok), 2); /* never earlier */
  CHECK_EQ_INT(atomic_load(&off_main), 0);
  CHECK_OK(errand_task_release(ts[0]));
  CHECK_OK(errand_task_release(ts[1]));
  CHECK_OK(errand_loop_destroy(loop));
  CHECK_OK(errand_runtime_destroy(rt));
}

TEST(seed004_delay_on_the_pool) {
  errand_loop *loop = NULL;
  errand_task *ts[2];
  executor ex;
  errand_runtime *rt = rt_new(2);
  REQUIRE(rt);
  REQUIRE_OK(errand_loop_create(rt, &loop));
  ex.rt = rt;
  ex.loop = NULL;
  console_reset();
  atomic_store(&long_delay_ok, 0);
  t_start = check_now_ms();
  ts[0] = post_task(&ex, return_fn, "Task delayed by 300ms", 0, NULL, 300);
  ts[1] = post_task(&ex, return_fn, "Next task", 0, NULL, 1);
  REQUIRE(ts[0] && ts[1]);
  /* the .then on the main thread's loop */
  REQUIRE_OK(errand_task_callback(ts[0], loop, then_log_timed,
                                  (void *)(intptr_t)300));
  REQUIRE_OK(errand_task_callback(ts[1], loop, then_log_timed,
                                  (void *)(intptr_t)1));
  settle(loop, ts, 2);
  CHECK(output_is("Next task\n"
                  "Task delayed by 300ms\n"));
  CHECK_EQ_INT(atomic_load(&long_delay_ok), 2);
  CHECK_OK(errand_task_release(ts[0]));
  CHECK_OK(errand_task_release(ts[1]));
  CHECK_OK(errand_loop_destroy(loop));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* A priority change while a signal's tasks wait for their delay, on the
 * loop: they come out at the new level. */
TEST(seed004_delayed_tasks_follow_set_priority_on_the_loop) {
  errand_loop *loop = NULL;
  errand_controller *c = NULL;
  errand_signal *s = NULL;
  errand_task *ts[3];
  executor ex;
  errand_runtime *rt = rt_new(1);
  REQUIRE(rt);
  REQUIRE_OK(errand_loop_create(rt, &loop));
  ex.rt = rt;
  ex.loop = loop;
  console_reset();
  REQUIRE_OK(errand_controller_create(ERRAND_PRIORITY_BACKGROUND, &c));
  REQUIRE_OK(errand_controller_signal(c, &s));
  ts[0] = post_task(&ex, log_fn, "visible", ERRAND_PRIORITY_USER_VISIBLE, NULL,
                    0);
  ts[1] = post_task(&ex, log_fn, "signal, delayed", 0, s, 20);
  ts[2] = post_task(&ex, log_fn, "visible 2", ERRAND_PRIORITY_USER_VISIBLE,
                    NULL, 0);
  REQUIRE(ts[0] && ts[1] && ts[2]);
  CHECK_OK(errand_controller_set_priority(c, ERRAND_PRIORITY_USER_BLOCKING));
  check_sleep_ms(60); /* all three are ready before the loop runs */
  CHECK_OK(errand_loop_run_pending(loop, 0, NULL));
  settle(loop, ts, 3);
  CHECK(output_is("signal, delayed\n"
                  "visible\n"
                  "visible 2\n"));
  for (int i = 0; i < 3; i++) CHECK_OK(errand_task_release(ts[i]));
  CHECK_OK(errand_signal_release(s));
  CHECK_OK(errand_controller_release(c));
  CHECK_OK(errand_loop_destroy(loop));
  CHECK_OK(errand_runtime_destroy(rt));
}

CHECK_MAIN()
