/*
 * test_seed001.c — seed 001 (Neon async tasks): `perform` runs on a pool
 * thread, `complete` runs on the main thread (the owner of a loop) and
 * turns the result into the caller's value, errors travel as
 * callback(err, value), and a promise wrapper exists.
 *
 * performAsyncTask(callback) = errand_post(perform) + errand_task_callback
 * on the main thread's loop.  The seed's expected output, with the async
 * version, is
 *     20 'second sum from main thread'
 *     100010 'first sum from background thread'
 */
#include <poll.h>
#include <pthread.h>

#include "helpers.h"

static pthread_t main_thread;
static char out[4096];
static size_t out_len;

/* console.log — only ever called on the main thread here. */
static void console_log(const char *fmt, ...) CHECK__PRINTF(1, 2);
static void console_log(const char *fmt, ...) {
  va_list ap;
  CHECK(pthread_equal(pthread_self(), main_thread));
  va_start(ap, fmt);
  if (out_len < sizeof out - 2) {
    int n = vsnprintf(out + out_len, sizeof out - out_len - 1, fmt, ap);
    if (n > 0) out_len += (size_t)n;
    if (out_len > sizeof out - 2) out_len = sizeof out - 2;
    out[out_len++] = '\n';
    out[out_len] = 0;
  }
  va_end(ap);
}

static void reset(void) {
  out_len = 0;
  out[0] = 0;
  main_thread = pthread_self();
}

/* BackgroundTask::perform: Ok(17), on a pool thread. */
static atomic_int perform_on_main;
static int perform_ok(errand_task *self, void *arg) {
  int *v = (int *)malloc(sizeof *v);
  (void)arg;
  if (pthread_equal(pthread_self(), main_thread))
    atomic_fetch_add(&perform_on_main, 1);
  if (!v) return ERRAND_E_NOMEM;
  *v = 17;
  return errand_task_set_result(self, v, free);
}

/* perform: Err("I am a failing task") */
static int perform_fail(errand_task *self, void *arg) {
  (void)arg;
  return errand_task_fail(self, ERRAND_E_FAILED, "I am a failing task");
}

/* performAsyncTask((err, value) => { ... }) */
static atomic_int callbacks;
static void js_callback(int err, const char *message, void *value,
                        void *arg) {
  int count = 10, i;
  (void)arg;
  atomic_fetch_add(&callbacks, 1);
  if (err) {
    console_log("Error: %s", message);
    return;
  }
  /* complete(): cx.number(result.unwrap()) */
  CHECK(value && *(int *)value == 17);
  for (i = 0; i < 100000; i++) count++;
  console_log("%d 'first sum from background thread'", count);
}

static int perform_async_task(errand_runtime *rt, errand_loop *loop,
                              errand_fn perform, errand_callback_fn cb,
                              errand_task **taskp) {
  errand_task *t = NULL;
  if (!CHECK_OK(errand_post(rt, perform, NULL, NULL, &t))) return 0;
  if (!CHECK_OK(errand_task_callback(t, loop, cb, NULL))) return 0;
  *taskp = t;
  return 1;
}

/* The main thread's event loop: runs until n callbacks came. */
static void run_event_loop(errand_loop *loop, int n) {
  int fd = -1;
  int64_t end = check_now_ms() + CHECK_LONG_MS;
  CHECK_OK(errand_loop_fd(loop, &fd));
  while (atomic_load(&callbacks) < n && check_now_ms() < end) {
    struct pollfd p = {fd, POLLIN, 0};
    poll(&p, 1, 50);
    CHECK_OK(errand_loop_run_pending(loop, 0, NULL));
  }
  CHECK_EQ_INT(atomic_load(&callbacks), n);
}

TEST(seed001_complete_runs_on_the_main_thread_after_the_sync_code) {
  errand_loop *loop = NULL;
  errand_task *t = NULL;
  int count = 10, i, it, iters = check_iters(50);
  errand_runtime *rt = rt_new(2);
  REQUIRE(rt);
  REQUIRE_OK(errand_loop_create(rt, &loop));
  for (it = 0; it < iters && !check_failed(); it++) {
    reset();
    count = 10;
    atomic_store(&callbacks, 0);
    atomic_store(&perform_on_main, 0);
    /* Iterate 100,000 times in background thread */
    REQUIRE(perform_async_task(rt, loop, perform_ok, js_callback, &t));
    /* Iterate 10 times */
    for (i = 0; i < 10; i++) count++;
    console_log("%d 'second sum from main thread'", count);
    /* Even if the task already finished, complete waits for the loop. */
    if (it % 2) errand_wait(t, CHECK_LONG_MS);
    run_event_loop(loop, 1);
    CHECK_EQ_STR(out, "20 'second sum from main thread'\n"
                      "100010 'first sum from background thread'\n");
    CHECK_EQ_INT(atomic_load(&perform_on_main), 0);
    CHECK_OK(errand_task_release(t));
  }
  CHECK_OK(errand_loop_destroy(loop));
  CHECK_OK(errand_runtime_destroy(rt));
}

TEST(seed001_failing_task_reaches_the_callback_as_err) {
  errand_loop *loop = NULL;
  errand_task *t = NULL;
  errand_runtime *rt = rt_new(1);
  REQUIRE(rt);
  REQUIRE_OK(errand_loop_create(rt, &loop));
  reset();
  atomic_store(&callbacks, 0);
  REQUIRE(perform_async_task(rt, loop, perform_fail, js_callback, &t));
  run_event_loop(loop, 1);
  CHECK_EQ_STR(out, "Error: I am a failing task\n");
  CHECK_EQ_INT(status_of(t), ERRAND_STATUS_FAULTED);
  CHECK_OK(errand_task_release(t));
  CHECK_OK(errand_loop_destroy(loop));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* The promise wrapper: new Promise((resolve, reject) => performAsyncTask(
 * (err, res) => err ? reject(err) : resolve(res))).  A promise is a
 * settled-once cell whose then-handlers run on the main thread. */
typedef struct promise {
  int settled; /* 0 pending, 1 fulfilled, 2 rejected */
  int value;
  char reason[128];
} promise;

static void settle_promise(int err, const char *message, void *value,
                           void *arg) {
  promise *p = (promise *)arg;
  CHECK(pthread_equal(pthread_self(), main_thread));
  CHECK_EQ_INT(p->settled, 0); /* settles once */
  atomic_fetch_add(&callbacks, 1);
  if (err) {
    p->settled = 2;
    snprintf(p->reason, sizeof p->reason, "%s", message);
  } else {
    p->settled = 1;
    p->value = *(int *)value;
  }
}

TEST(seed001_promise_wrapper_resolves_and_rejects_on_the_main_thread) {
  errand_loop *loop = NULL;
  errand_task *a = NULL, *b = NULL;
  promise pa, pb;
  errand_runtime *rt = rt_new(2);
  REQUIRE(rt);
  REQUIRE_OK(errand_loop_create(rt, &loop));
  reset();
  memset(&pa, 0, sizeof pa);
  memset(&pb, 0, sizeof pb);
  atomic_store(&callbacks, 0);
  REQUIRE_OK(errand_post(rt, perform_ok, NULL, NULL, &a));
  REQUIRE_OK(errand_task_callback(a, loop, settle_promise, &pa));
  REQUIRE_OK(errand_post(rt, perform_fail, NULL, NULL, &b));
  REQUIRE_OK(errand_task_callback(b, loop, settle_promise, &pb));
  run_event_loop(loop, 2);
  CHECK_EQ_INT(pa.settled, 1);
  CHECK_EQ_INT(pa.value, 17);
  CHECK_EQ_INT(pb.settled, 2);
  CHECK_EQ_STR(pb.reason, "I am a failing task");
  CHECK_OK(errand_task_release(a));
  CHECK_OK(errand_task_release(b));
  CHECK_OK(errand_loop_destroy(loop));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* Fire-and-forget: release the handle right after scheduling; the callback
 * still comes (the continuation holds the task) and the result is freed
 * afterwards (ASan/valgrind see no leak). */
TEST(seed001_schedule_and_forget_the_handle) {
  errand_loop *loop = NULL;
  int i, n = check_iters(500);
  errand_runtime *rt = rt_new(2);
  REQUIRE(rt);
  REQUIRE_OK(errand_loop_create(rt, &loop));
  reset();
  atomic_store(&callbacks, 0);
  for (i = 0; i < n; i++) {
    errand_task *t = NULL;
    REQUIRE(perform_async_task(rt, loop, perform_ok, js_callback, &t));
    CHECK_OK(errand_task_release(t));
    if (out_len > 2048) out_len = 0; /* keep the buffer small */
  }
  run_event_loop(loop, n);
  CHECK_OK(errand_loop_destroy(loop));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* run_until: a program without an event loop blocks until the task is
 * final and its completion ran on the calling thread. */
TEST(seed001_blocking_run_until_for_programs_without_a_loop) {
  errand_loop *loop = NULL;
  errand_task *t = NULL;
  errand_runtime *rt = rt_new(1);
  REQUIRE(rt);
  REQUIRE_OK(errand_loop_create(rt, &loop));
  reset();
  atomic_store(&callbacks, 0);
  REQUIRE(perform_async_task(rt, loop, perform_ok, js_callback, &t));
  CHECK_OK(errand_loop_run_until(loop, t, CHECK_LONG_MS));
  CHECK_EQ_INT(atomic_load(&callbacks), 1);
  CHECK_EQ_STR(out, "100010 'first sum from background thread'\n");
  CHECK_OK(errand_task_release(t));
  CHECK_OK(errand_loop_destroy(loop));
  CHECK_OK(errand_runtime_destroy(rt));
}

CHECK_MAIN()
