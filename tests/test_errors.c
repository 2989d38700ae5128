/*
 * test_errors.c — item 14: every public function validates its arguments.
 * NULL, a released (or made-up) handle and an out-of-range option give an
 * error code (never a crash), errand_last_error() then has a detail message,
 * and errand_strerror / errand_errname name every code, known or not.
 */
#include <limits.h>
#include <math.h>

#include "helpers.h"

/* A failing call must return `want` and leave a non-empty detail message. */
#define CHECK_FAILS(call, want)                                                \
  do {                                                                         \
    if (CHECK_RC(call, want)) {                                                \
      const char *le_ = errand_last_error();                                   \
      if (!CHECK(le_ != NULL && le_[0] != '\0'))                               \
        CHECK_FAILF("  ...after %s", #call);                                   \
    }                                                                          \
  } while (0)

/* --------------------------------------------------------------------- */
/* Codes, names, messages                                                 */
/* --------------------------------------------------------------------- */

TEST(strerror_gives_the_map_text_for_every_code) {
#define X(name, value, text) CHECK_EQ_STR(errand_strerror(value), text);
  ERRAND_ERROR_MAP(X)
#undef X
}

TEST(errname_gives_the_symbol_for_every_code) {
#define X(name, value, text)                                                   \
  CHECK_EQ_STR(errand_errname(value), "ERRAND_" #name);                        \
  CHECK_EQ_INT(ERRAND_##name, value);
  ERRAND_ERROR_MAP(X)
#undef X
}

TEST(error_codes_are_dense_and_distinct) {
  int i, j, n = 0;
  /* 0, 1, 2, ... in map order, and the count follows the map. */
#define X(name, value, text) CHECK_EQ_INT(value, n++);
  ERRAND_ERROR_MAP(X)
#undef X
  CHECK_EQ_INT(ERRAND_ERROR_COUNT_, n);
  for (i = 0; i < ERRAND_ERROR_COUNT_; i++)
    for (j = i + 1; j < ERRAND_ERROR_COUNT_; j++)
      CHECK(strcmp(errand_strerror(i), errand_strerror(j)) != 0);
}

TEST(unknown_codes_have_text_and_the_unknown_name) {
  const int codes[] = {ERRAND_ERROR_COUNT_, 42, 1000, 65536, -1, -42,
                       INT_MAX, INT_MIN};
  size_t i;
  for (i = 0; i < sizeof codes / sizeof codes[0]; i++) {
    const char *s = errand_strerror(codes[i]);
    CHECK(s != NULL);
    if (s) CHECK(s[0] != '\0');
    if (s) CHECK(strcmp(s, "success") != 0);
    CHECK_EQ_STR(errand_errname(codes[i]), "ERRAND_E_UNKNOWN");
  }
}

static void *last_error_on_fresh_thread(void *arg) {
  const char *s = errand_last_error();
  *(int *)arg = (s != NULL && s[0] == '\0');
  return NULL;
}

TEST(last_error_is_empty_on_a_fresh_thread_and_thread_local) {
  pthread_t th;
  int empty = 0;
  /* Make this thread fail first: another thread must still see "". */
  CHECK_FAILS(errand_runtime_create(NULL, NULL), ERRAND_E_INVALID);
  REQUIRE(thread_start(&th, last_error_on_fresh_thread, &empty));
  pthread_join(th, NULL);
  CHECK(empty);
  CHECK(errand_last_error()[0] != '\0');
}

TEST(priority_names) {
  const char *zero = errand_priority_name(ERRAND_PRIORITY_DEFAULT);
  CHECK_EQ_STR(errand_priority_name(ERRAND_PRIORITY_USER_BLOCKING),
               "user-blocking");
  CHECK_EQ_STR(errand_priority_name(ERRAND_PRIORITY_USER_VISIBLE),
               "user-visible");
  CHECK_EQ_STR(errand_priority_name(ERRAND_PRIORITY_BACKGROUND), "background");
  CHECK(errand_priority_name((errand_priority)4) == NULL);
  CHECK(errand_priority_name((errand_priority)-1) == NULL);
  CHECK(errand_priority_name((errand_priority)1000) == NULL);
  /* 0 ("not given") is not one of the three names: the header allows either
   * NULL or the default's name; it must not crash. */
  CHECK(zero == NULL || strcmp(zero, "user-visible") == 0);
}

TEST(status_names_are_seed_003_spelling) {
  static const char *const want[] = {"Created",
                                     "WaitingToRun",
                                     "Running",
                                     "WaitingForChildrenToComplete",
                                     "RanToCompletion",
                                     "Canceled",
                                     "Faulted"};
  int i;
  for (i = 0; i < 7; i++)
    CHECK_EQ_STR(errand_status_name((errand_status)i), want[i]);
  CHECK(errand_status_name((errand_status)7) == NULL);
  CHECK(errand_status_name((errand_status)-1) == NULL);
  CHECK(errand_status_name((errand_status)INT_MAX) == NULL);
}

/* --------------------------------------------------------------------- */
/* Runtime functions                                                      */
/* --------------------------------------------------------------------- */

TEST(runtime_create_rejects_null_out_and_bad_options) {
  errand_runtime_options o;
  errand_runtime *rt = (errand_runtime *)&o; /* must not be touched on error */
  errand_runtime *const sentinel = rt;

  CHECK_FAILS(errand_runtime_create(NULL, NULL), ERRAND_E_INVALID);

  memset(&o, 0, sizeof o);
  CHECK_FAILS(errand_runtime_create(&o, NULL), ERRAND_E_INVALID);

  o.workers = -1;
  CHECK_FAILS(errand_runtime_create(&o, &rt), ERRAND_E_INVALID);
  o.workers = 1025;
  CHECK_FAILS(errand_runtime_create(&o, &rt), ERRAND_E_INVALID);
  o.workers = INT_MIN;
  CHECK_FAILS(errand_runtime_create(&o, &rt), ERRAND_E_INVALID);
  o.workers = 1;

  o.aging_burst = -1;
  CHECK_FAILS(errand_runtime_create(&o, &rt), ERRAND_E_INVALID);
  o.aging_burst = 1000001;
  CHECK_FAILS(errand_runtime_create(&o, &rt), ERRAND_E_INVALID);
  o.aging_burst = 0;

  o.max_compensating = -2;
  CHECK_FAILS(errand_runtime_create(&o, &rt), ERRAND_E_INVALID);
  o.max_compensating = INT_MIN;
  CHECK_FAILS(errand_runtime_create(&o, &rt), ERRAND_E_INVALID);
  o.max_compensating = 0;

  o.spin_us = -2;
  CHECK_FAILS(errand_runtime_create(&o, &rt), ERRAND_E_INVALID);
  o.spin_us = 1000001;
  CHECK_FAILS(errand_runtime_create(&o, &rt), ERRAND_E_INVALID);
  o.spin_us = 0;
  CHECK(rt == sentinel);

  /* The edges of the ranges are accepted. */
  o.workers = 1;
  o.aging_burst = 1;
  o.max_compensating = -1;
  rt = NULL;
  if (CHECK_OK(errand_runtime_create(&o, &rt))) CHECK_OK(errand_runtime_destroy(rt));
  o.aging_burst = 1000000;
  o.spin_us = -1;
  rt = NULL;
  if (CHECK_OK(errand_runtime_create(&o, &rt))) CHECK_OK(errand_runtime_destroy(rt));
  o.spin_us = 1000000;
  rt = NULL;
  if (CHECK_OK(errand_runtime_create(&o, &rt))) CHECK_OK(errand_runtime_destroy(rt));
}

TEST(runtime_calls_reject_null) {
  int n = 0;
  errand_stats st;
  errand_runtime *rt = rt_new(1);
  REQUIRE(rt);
  CHECK_FAILS(errand_runtime_workers(NULL, &n), ERRAND_E_INVALID);
  CHECK_FAILS(errand_runtime_workers(rt, NULL), ERRAND_E_INVALID);
  CHECK_FAILS(errand_runtime_stats(NULL, &st), ERRAND_E_INVALID);
  CHECK_FAILS(errand_runtime_stats(rt, NULL), ERRAND_E_INVALID);
  CHECK_FAILS(errand_runtime_shutdown(NULL, ERRAND_SHUTDOWN_DRAIN, -1),
              ERRAND_E_INVALID);
  CHECK_OK(errand_runtime_destroy(NULL));
  CHECK_OK(errand_runtime_destroy(rt));
}

TEST(runtime_shutdown_rejects_an_unknown_mode) {
  errand_runtime *rt = rt_new(1);
  REQUIRE(rt);
  CHECK_FAILS(errand_runtime_shutdown(rt, (errand_shutdown_mode)2, -1),
              ERRAND_E_INVALID);
  CHECK_FAILS(errand_runtime_shutdown(rt, (errand_shutdown_mode)-1, -1),
              ERRAND_E_INVALID);
  /* A rejected shutdown did not shut anything down. */
  CHECK_OK(errand_post(rt, noop_task, NULL, NULL, NULL));
  CHECK_OK(errand_runtime_destroy(rt));
}

TEST(destroyed_runtime_reads_as_released) {
  int n;
  errand_stats st;
  errand_runtime *rt = rt_new(2);
  REQUIRE(rt);
  REQUIRE_OK(errand_runtime_destroy(rt));
  CHECK_FAILS(errand_runtime_workers(rt, &n), ERRAND_E_RELEASED);
  CHECK_FAILS(errand_runtime_stats(rt, &st), ERRAND_E_RELEASED);
  CHECK_FAILS(errand_runtime_shutdown(rt, ERRAND_SHUTDOWN_CANCEL, 0),
              ERRAND_E_RELEASED);
  CHECK_FAILS(errand_post(rt, noop_task, NULL, NULL, NULL), ERRAND_E_RELEASED);
  {
    void *args[2] = {NULL, NULL};
    CHECK_FAILS(errand_post_batch(rt, noop_task, args, 2, NULL, NULL),
                ERRAND_E_RELEASED);
  }
  CHECK_FAILS(errand_runtime_destroy(rt), ERRAND_E_RELEASED);
}

TEST(destroyed_runtime_stays_released_after_a_new_one_is_created) {
  errand_runtime *old = rt_new(1), *fresh;
  int n;
  REQUIRE(old);
  REQUIRE_OK(errand_runtime_destroy(old));
  fresh = rt_new(1);
  REQUIRE(fresh);
  CHECK_FAILS(errand_runtime_workers(old, &n), ERRAND_E_RELEASED);
  CHECK_OK(errand_runtime_workers(fresh, &n));
  CHECK_OK(errand_runtime_destroy(fresh));
}

/* Handles are generation-checked values: a value errand never returned must
 * read as released, not be dereferenced. */
TEST(made_up_handles_read_as_released) {
  int local = 0, n;
  errand_status s;
  errand_stats st;
  uintptr_t fakes[] = {(uintptr_t)1, (uintptr_t)0xdeadbeefu,
                       (uintptr_t)&local, (uintptr_t)UINTPTR_MAX,
                       (uintptr_t)0x1000};
  size_t i;
  errand_runtime *rt = rt_new(1); /* so errand has live objects around */
  REQUIRE(rt);
  for (i = 0; i < sizeof fakes / sizeof fakes[0]; i++) {
    errand_task *t = (errand_task *)fakes[i];
    errand_runtime *r = (errand_runtime *)fakes[i];
    CHECK_FAILS(errand_task_status(t, &s), ERRAND_E_RELEASED);
    CHECK_FAILS(errand_task_retain(t), ERRAND_E_RELEASED);
    CHECK_FAILS(errand_task_release(t), ERRAND_E_RELEASED);
    CHECK_FAILS(errand_task_cancel(t), ERRAND_E_RELEASED);
    CHECK_FAILS(errand_wait(t, 0), ERRAND_E_RELEASED);
    CHECK_FAILS(errand_runtime_workers(r, &n), ERRAND_E_RELEASED);
    CHECK_FAILS(errand_runtime_stats(r, &st), ERRAND_E_RELEASED);
    CHECK_FAILS(errand_post(r, noop_task, NULL, NULL, NULL), ERRAND_E_RELEASED);
  }
  CHECK_EQ_INT(local, 0);
  CHECK_OK(errand_runtime_destroy(rt));
}

/* --------------------------------------------------------------------- */
/* Posting                                                                */
/* --------------------------------------------------------------------- */

static atomic_int arg_frees;
static void count_free(void *p) {
  (void)p;
  atomic_fetch_add(&arg_frees, 1);
}

TEST(post_rejects_null_and_out_of_range_options) {
  errand_post_options o;
  errand_task *t = NULL;
  errand_runtime *rt = rt_new(1);
  errand_stats st;
  REQUIRE(rt);
  atomic_store(&arg_frees, 0);

  CHECK_FAILS(errand_post(NULL, noop_task, NULL, NULL, &t), ERRAND_E_INVALID);
  CHECK_FAILS(errand_post(rt, NULL, NULL, NULL, &t), ERRAND_E_INVALID);

  o = post_opts();
  o.arg_free = count_free;
  o.priority = (errand_priority)4;
  CHECK_FAILS(errand_post(rt, noop_task, NULL, &o, &t), ERRAND_E_INVALID);
  o.priority = (errand_priority)-1;
  CHECK_FAILS(errand_post(rt, noop_task, NULL, &o, &t), ERRAND_E_INVALID);
  o.priority = ERRAND_PRIORITY_DEFAULT;

  o.mode = (errand_mode)2;
  CHECK_FAILS(errand_post(rt, noop_task, NULL, &o, &t), ERRAND_E_INVALID);
  o.mode = (errand_mode)-1;
  CHECK_FAILS(errand_post(rt, noop_task, NULL, &o, &t), ERRAND_E_INVALID);
  o.mode = ERRAND_MODE_POOL;

  o.delay_ms = -1;
  CHECK_FAILS(errand_post(rt, noop_task, NULL, &o, &t), ERRAND_E_INVALID);
  o.delay_ms = INT64_MIN;
  CHECK_FAILS(errand_post(rt, noop_task, NULL, &o, &t), ERRAND_E_INVALID);
  o.delay_ms = 0;

  o.queue_timeout_ms = -1;
  CHECK_FAILS(errand_post(rt, noop_task, NULL, &o, &t), ERRAND_E_INVALID);
  o.queue_timeout_ms = 0;
  o.run_timeout_ms = -5;
  CHECK_FAILS(errand_post(rt, noop_task, NULL, &o, &t), ERRAND_E_INVALID);
  o.run_timeout_ms = 0;

  CHECK(t == NULL);
  /* On error arg_free is not called and nothing was posted. */
  CHECK_EQ_INT(atomic_load(&arg_frees), 0);
  if (CHECK_OK(errand_runtime_stats(rt, &st))) CHECK_EQ_INT(st.posted, 0);

  /* Still usable: a valid post works after all the rejected ones. */
  if (CHECK_OK(errand_post(rt, noop_task, NULL, &o, &t))) {
    CHECK_OK(errand_wait(t, -1));
    CHECK_EQ_INT(id_of(t), 1); /* rejected posts did not use up ids */
    CHECK_OK(errand_task_release(t));
  }
  CHECK_OK(errand_runtime_destroy(rt));
  CHECK_EQ_INT(atomic_load(&arg_frees), 1);
}

TEST(post_rejects_a_released_or_final_parent) {
  errand_post_options o = post_opts();
  errand_task *t = NULL, *parent = NULL;
  errand_runtime *rt = rt_new(1);
  REQUIRE(rt);
  atomic_store(&arg_frees, 0);
  o.arg_free = count_free;

  /* final parent: E_STATE */
  REQUIRE_OK(errand_post(rt, noop_task, NULL, NULL, &parent));
  REQUIRE_OK(errand_wait(parent, -1));
  o.parent = parent;
  CHECK_FAILS(errand_post(rt, noop_task, NULL, &o, &t), ERRAND_E_STATE);
  CHECK(t == NULL);
  CHECK_OK(errand_task_release(parent));

  /* released parent: E_RELEASED */
  o.parent = stale_task(rt);
  if (o.parent)
    CHECK_FAILS(errand_post(rt, noop_task, NULL, &o, &t), ERRAND_E_RELEASED);
  CHECK(t == NULL);
  CHECK_EQ_INT(atomic_load(&arg_frees), 0);
  CHECK_OK(errand_runtime_destroy(rt));
}

/* Not spelled out in errand.h: a parent from another runtime is an invalid
 * argument (a task cannot wait for children another runtime runs). */
TEST(post_rejects_a_parent_from_another_runtime) {
  gate g;
  errand_post_options o = post_opts();
  errand_task *parent, *t = NULL;
  errand_runtime *a = rt_new(1), *b = rt_new(1);
  REQUIRE(a && b);
  gate_init(&g);
  parent = post_gate(a, &g);
  REQUIRE(parent);
  atomic_store(&arg_frees, 0);
  o.parent = parent;
  o.arg_free = count_free;
  CHECK_FAILS(errand_post(b, noop_task, NULL, &o, &t), ERRAND_E_INVALID);
  CHECK(t == NULL);
  CHECK_EQ_INT(atomic_load(&arg_frees), 0);
  gate_open(&g);
  CHECK_OK(errand_wait(parent, -1));
  CHECK_EQ_INT(status_of(parent), ERRAND_STATUS_RAN_TO_COMPLETION);
  CHECK_OK(errand_task_release(parent));
  CHECK_OK(errand_runtime_destroy(b));
  CHECK_OK(errand_runtime_destroy(a));
}

TEST(post_after_shutdown_gives_E_SHUTDOWN_and_keeps_arg) {
  errand_post_options o = post_opts();
  errand_task *t = NULL;
  errand_runtime *rt = rt_new(1);
  void *args[2] = {NULL, NULL};
  REQUIRE(rt);
  atomic_store(&arg_frees, 0);
  o.arg_free = count_free;
  REQUIRE_OK(errand_runtime_shutdown(rt, ERRAND_SHUTDOWN_DRAIN, -1));
  CHECK_FAILS(errand_post(rt, noop_task, NULL, &o, &t), ERRAND_E_SHUTDOWN);
  CHECK_FAILS(errand_post_batch(rt, noop_task, args, 2, &o, NULL),
              ERRAND_E_SHUTDOWN);
  CHECK(t == NULL);
  CHECK_OK(errand_runtime_destroy(rt));
  CHECK_EQ_INT(atomic_load(&arg_frees), 0);
}

TEST(post_batch_rejects_bad_arguments_all_or_nothing) {
  errand_post_options o = post_opts();
  errand_task *out[3] = {NULL, NULL, NULL};
  void *args[3] = {NULL, NULL, NULL};
  errand_stats st;
  errand_runtime *rt = rt_new(1);
  REQUIRE(rt);
  atomic_store(&arg_frees, 0);
  o.arg_free = count_free;
  CHECK_FAILS(errand_post_batch(NULL, noop_task, args, 3, &o, out),
              ERRAND_E_INVALID);
  CHECK_FAILS(errand_post_batch(rt, NULL, args, 3, &o, out), ERRAND_E_INVALID);
  o.priority = (errand_priority)9;
  CHECK_FAILS(errand_post_batch(rt, noop_task, args, 3, &o, out),
              ERRAND_E_INVALID);
  o.priority = ERRAND_PRIORITY_DEFAULT;
  o.delay_ms = -3;
  CHECK_FAILS(errand_post_batch(rt, noop_task, args, 3, &o, out),
              ERRAND_E_INVALID);
  o.delay_ms = 0;
  o.parent = stale_task(rt);
  if (o.parent)
    CHECK_FAILS(errand_post_batch(rt, noop_task, args, 3, &o, out),
                ERRAND_E_RELEASED);
  CHECK(out[0] == NULL && out[1] == NULL && out[2] == NULL);
  CHECK_EQ_INT(atomic_load(&arg_frees), 0);
  if (CHECK_OK(errand_runtime_stats(rt, &st)))
    CHECK_EQ_INT(st.posted, 1); /* only stale_task's own task */
  CHECK_OK(errand_runtime_destroy(rt));
}

/* --------------------------------------------------------------------- */
/* Task handles                                                           */
/* --------------------------------------------------------------------- */

TEST(task_calls_reject_null_handle_and_null_out) {
  uint64_t id;
  const char *name;
  errand_status s;
  unsigned f;
  errand_priority p;
  void *v;
  int code;
  errand_task *t = NULL;
  errand_runtime *rt = rt_new(1);
  REQUIRE(rt);

  CHECK_OK(errand_task_release(NULL)); /* releasing NULL does nothing */
  CHECK_FAILS(errand_task_retain(NULL), ERRAND_E_INVALID);
  CHECK_FAILS(errand_task_id(NULL, &id), ERRAND_E_INVALID);
  CHECK_FAILS(errand_task_name(NULL, &name), ERRAND_E_INVALID);
  CHECK_FAILS(errand_task_status(NULL, &s), ERRAND_E_INVALID);
  CHECK_FAILS(errand_task_flags(NULL, &f), ERRAND_E_INVALID);
  CHECK_FAILS(errand_task_priority(NULL, &p), ERRAND_E_INVALID);
  CHECK_FAILS(errand_task_result(NULL, &v), ERRAND_E_INVALID);
  CHECK_FAILS(errand_task_error(NULL, &code, &name), ERRAND_E_INVALID);
  CHECK_FAILS(errand_task_cancel(NULL), ERRAND_E_INVALID);
  CHECK_FAILS(errand_task_set_result(NULL, NULL, NULL), ERRAND_E_INVALID);
  CHECK_FAILS(errand_task_fail(NULL, 5, "x %d", 1), ERRAND_E_INVALID);
  CHECK_FAILS(errand_task_sleep(NULL, 1), ERRAND_E_INVALID);
  CHECK_EQ_INT(errand_task_is_canceled(NULL), -ERRAND_E_INVALID);
  CHECK(errand_task_current() == NULL);

  REQUIRE_OK(errand_post(rt, noop_task, NULL, NULL, &t));
  REQUIRE_OK(errand_wait(t, -1));
  CHECK_FAILS(errand_task_id(t, NULL), ERRAND_E_INVALID);
  CHECK_FAILS(errand_task_name(t, NULL), ERRAND_E_INVALID);
  CHECK_FAILS(errand_task_status(t, NULL), ERRAND_E_INVALID);
  CHECK_FAILS(errand_task_flags(t, NULL), ERRAND_E_INVALID);
  CHECK_FAILS(errand_task_priority(t, NULL), ERRAND_E_INVALID);
  CHECK_FAILS(errand_task_result(t, NULL), ERRAND_E_INVALID);
  /* errand_task_error's out-pointers may both be NULL. */
  CHECK_OK(errand_task_error(t, NULL, NULL));
  CHECK_OK(errand_task_release(t));
  CHECK_OK(errand_runtime_destroy(rt));
}

TEST(task_calls_on_a_released_handle_give_E_RELEASED) {
  uint64_t id;
  const char *name;
  errand_status s;
  unsigned f;
  errand_priority p;
  void *v;
  int code;
  errand_task *t, *list[2];
  size_t idx;
  errand_runtime *rt = rt_new(2);
  REQUIRE(rt);
  t = stale_task(rt);
  REQUIRE(t);
  CHECK_FAILS(errand_task_retain(t), ERRAND_E_RELEASED);
  CHECK_FAILS(errand_task_release(t), ERRAND_E_RELEASED);
  CHECK_FAILS(errand_task_id(t, &id), ERRAND_E_RELEASED);
  CHECK_FAILS(errand_task_name(t, &name), ERRAND_E_RELEASED);
  CHECK_FAILS(errand_task_status(t, &s), ERRAND_E_RELEASED);
  CHECK_FAILS(errand_task_flags(t, &f), ERRAND_E_RELEASED);
  CHECK_FAILS(errand_task_priority(t, &p), ERRAND_E_RELEASED);
  CHECK_FAILS(errand_task_result(t, &v), ERRAND_E_RELEASED);
  CHECK_FAILS(errand_task_error(t, &code, &name), ERRAND_E_RELEASED);
  CHECK_FAILS(errand_task_cancel(t), ERRAND_E_RELEASED);
  CHECK_FAILS(errand_task_set_result(t, NULL, NULL), ERRAND_E_RELEASED);
  CHECK_FAILS(errand_task_fail(t, 3, "%s", "x"), ERRAND_E_RELEASED);
  CHECK_FAILS(errand_task_sleep(t, 1), ERRAND_E_RELEASED);
  CHECK_EQ_INT(errand_task_is_canceled(t), -ERRAND_E_RELEASED);
  CHECK_FAILS(errand_wait(t, 0), ERRAND_E_RELEASED);
  CHECK_FAILS(errand_wait(t, -1), ERRAND_E_RELEASED);
  list[0] = t;
  list[1] = t;
  CHECK_FAILS(errand_wait_all(list, 1, -1), ERRAND_E_RELEASED);
  CHECK_FAILS(errand_wait_any(list, 2, -1, &idx), ERRAND_E_RELEASED);
  CHECK_OK(errand_runtime_destroy(rt));
}

/* After errand reuses the storage of a released task the old handle must
 * still read as released (the generation check). */
TEST(released_handle_stays_released_while_storage_is_reused) {
  enum { N = 200 };
  errand_task *fresh[N];
  errand_status s;
  int i, n = 0;
  errand_runtime *rt = rt_new(2);
  errand_task *t;
  REQUIRE(rt);
  t = stale_task(rt);
  REQUIRE(t);
  for (i = 0; i < N; i++) {
    fresh[i] = NULL;
    if (CHECK_OK(errand_post(rt, noop_task, NULL, NULL, &fresh[i]))) n++;
    CHECK_RC(errand_task_status(t, &s), ERRAND_E_RELEASED);
    if (check_failed()) break;
  }
  CHECK_OK(errand_wait_all(fresh, (size_t)n, -1));
  for (i = 0; i < n; i++) {
    CHECK(fresh[i] != t);
    CHECK_OK(errand_task_release(fresh[i]));
  }
  CHECK_RC(errand_task_status(t, &s), ERRAND_E_RELEASED);
  CHECK_OK(errand_runtime_destroy(rt));
}

/* --------------------------------------------------------------------- */
/* Calls that belong inside a task, made from elsewhere                   */
/* --------------------------------------------------------------------- */

TEST(in_task_calls_from_the_wrong_thread) {
  gate g;
  errand_task *t;
  int code = -1;
  const char *msg = NULL;
  errand_runtime *rt = rt_new(1);
  REQUIRE(rt);
  gate_init(&g);
  t = post_gate(rt, &g);
  REQUIRE(t);
  REQUIRE(check_wait_count(&g.started, 1, CHECK_LONG_MS));
  /* The task is running on a worker, this is the test's thread. */
  CHECK_FAILS(errand_task_set_result(t, (void *)1, NULL), ERRAND_E_WRONG_THREAD);
  CHECK_FAILS(errand_task_fail(t, 77, "not from here %d", 1),
              ERRAND_E_WRONG_THREAD);
  CHECK_FAILS(errand_task_sleep(t, 1), ERRAND_E_WRONG_THREAD);
  /* Outside any task these do nothing. */
  CHECK_OK(errand_blocking_begin());
  CHECK_OK(errand_blocking_end());
  CHECK(errand_task_current() == NULL);
  gate_open(&g);
  CHECK_OK(errand_wait(t, -1));
  /* fail from the wrong thread recorded nothing: the task succeeded. */
  CHECK_EQ_INT(status_of(t), ERRAND_STATUS_RAN_TO_COMPLETION);
  CHECK_OK(errand_task_error(t, &code, &msg));
  CHECK_EQ_INT(code, 0);
  CHECK_EQ_STR(msg, "");
  {
    void *v = (void *)7;
    CHECK_OK(errand_task_result(t, &v));
    CHECK(v == NULL); /* set_result from the wrong thread set nothing */
  }
  CHECK_OK(errand_task_release(t));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* A task calls errand_task_set_result/fail/sleep on another task, which is
 * running on another worker. */
typedef struct cross_arg {
  gate *g;
  errand_task *other;
  atomic_int rc_set, rc_fail, rc_sleep;
} cross_arg;

static int cross_task(errand_task *self, void *arg) {
  cross_arg *c = (cross_arg *)arg;
  (void)self;
  atomic_store(&c->rc_set, errand_task_set_result(c->other, (void *)1, NULL));
  atomic_store(&c->rc_fail, errand_task_fail(c->other, 9, "x"));
  atomic_store(&c->rc_sleep, errand_task_sleep(c->other, 1));
  return 0;
}

TEST(in_task_calls_on_another_task_give_E_WRONG_THREAD) {
  gate g;
  cross_arg c;
  errand_task *other, *t = NULL;
  errand_runtime *rt = rt_new(2);
  REQUIRE(rt);
  gate_init(&g);
  other = post_gate(rt, &g);
  REQUIRE(other);
  REQUIRE(check_wait_count(&g.started, 1, CHECK_LONG_MS));
  c.g = &g;
  c.other = other;
  atomic_init(&c.rc_set, -1);
  atomic_init(&c.rc_fail, -1);
  atomic_init(&c.rc_sleep, -1);
  REQUIRE_OK(errand_post(rt, cross_task, &c, NULL, &t));
  CHECK_OK(errand_wait(t, -1));
  CHECK_RC(atomic_load(&c.rc_set), ERRAND_E_WRONG_THREAD);
  CHECK_RC(atomic_load(&c.rc_fail), ERRAND_E_WRONG_THREAD);
  CHECK_RC(atomic_load(&c.rc_sleep), ERRAND_E_WRONG_THREAD);
  gate_open(&g);
  CHECK_OK(errand_wait(other, -1));
  CHECK_EQ_INT(status_of(other), ERRAND_STATUS_RAN_TO_COMPLETION);
  CHECK_OK(errand_task_release(t));
  CHECK_OK(errand_task_release(other));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* Runtime shutdown/destroy from one of the runtime's own tasks. */
typedef struct self_rt_arg {
  errand_runtime *rt;
  atomic_int rc_shutdown, rc_destroy;
} self_rt_arg;

static int shutdown_from_inside(errand_task *self, void *arg) {
  self_rt_arg *a = (self_rt_arg *)arg;
  (void)self;
  atomic_store(&a->rc_shutdown,
               errand_runtime_shutdown(a->rt, ERRAND_SHUTDOWN_DRAIN, 0));
  atomic_store(&a->rc_destroy, errand_runtime_destroy(a->rt));
  return 0;
}

TEST(shutdown_and_destroy_from_own_task_give_E_WRONG_THREAD) {
  self_rt_arg a;
  errand_task *t = NULL;
  errand_post_options o = post_opts();
  int mode;
  for (mode = 0; mode < 2; mode++) {
    errand_runtime *rt = rt_new(1);
    REQUIRE(rt);
    a.rt = rt;
    atomic_init(&a.rc_shutdown, -1);
    atomic_init(&a.rc_destroy, -1);
    o.mode = mode ? ERRAND_MODE_DEDICATED : ERRAND_MODE_POOL;
    REQUIRE_OK(errand_post(rt, shutdown_from_inside, &a, &o, &t));
    CHECK_OK(errand_wait(t, -1));
    CHECK_RC(atomic_load(&a.rc_shutdown), ERRAND_E_WRONG_THREAD);
    CHECK_RC(atomic_load(&a.rc_destroy), ERRAND_E_WRONG_THREAD);
    CHECK_OK(errand_task_release(t));
    /* The runtime was not shut down by the rejected calls. */
    CHECK_OK(errand_post(rt, noop_task, NULL, NULL, NULL));
    CHECK_OK(errand_runtime_destroy(rt));
  }
}

/* --------------------------------------------------------------------- */
/* Waiting                                                                */
/* --------------------------------------------------------------------- */

TEST(wait_calls_reject_null_and_bad_lists_before_waiting) {
  gate g;
  errand_task *t, *list[3];
  size_t idx = 99;
  errand_runtime *rt = rt_new(2);
  REQUIRE(rt);
  gate_init(&g);
  t = post_gate(rt, &g); /* never final while the gate is shut */
  REQUIRE(t);

  CHECK_FAILS(errand_wait(NULL, 0), ERRAND_E_INVALID);
  CHECK_FAILS(errand_wait(NULL, -1), ERRAND_E_INVALID);

  CHECK_FAILS(errand_wait_all(NULL, 2, -1), ERRAND_E_INVALID);
  list[0] = t;
  list[1] = NULL;
  list[2] = t;
  /* A NULL entry is reported before anything waits (timeout -1 would hang). */
  CHECK_FAILS(errand_wait_all(list, 3, -1), ERRAND_E_INVALID);
  CHECK_FAILS(errand_wait_any(list, 3, -1, &idx), ERRAND_E_INVALID);
  CHECK_FAILS(errand_wait_any(NULL, 1, -1, &idx), ERRAND_E_INVALID);
  CHECK_FAILS(errand_wait_any(list, 0, 0, &idx), ERRAND_E_INVALID);
  /* n == 0 for wait_all is fine. */
  CHECK_OK(errand_wait_all(list, 0, -1));

  /* A released entry too (the other worker runs stale_task's task). */
  list[1] = stale_task(rt);
  if (list[1]) {
    CHECK_FAILS(errand_wait_all(list, 3, -1), ERRAND_E_RELEASED);
    CHECK_FAILS(errand_wait_any(list, 3, -1, &idx), ERRAND_E_RELEASED);
  }
  CHECK_EQ_INT(atomic_load(&g.finished), 0); /* nothing waited for t */
  gate_open(&g);
  CHECK_OK(errand_wait(t, -1));
  CHECK_OK(errand_task_release(t));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* --------------------------------------------------------------------- */
/* Histogram helper                                                       */
/* --------------------------------------------------------------------- */

TEST(hist_quantile_handles_null_empty_and_odd_q) {
  uint64_t h[ERRAND_HIST_BUCKETS];
  memset(h, 0, sizeof h);
  CHECK_EQ_INT(errand_hist_quantile(NULL, 0.5), 0);
  CHECK_EQ_INT(errand_hist_quantile(h, 0.5), 0);
  h[3] = 10;
  /* Out-of-range q must not crash; the value is not specified. */
  (void)errand_hist_quantile(h, -1.0);
  (void)errand_hist_quantile(h, 2.0);
  (void)errand_hist_quantile(h, NAN);
  (void)errand_hist_quantile(h, INFINITY);
  CHECK_EQ_INT(errand_hist_quantile(h, 0.5), 16);
}

/* --------------------------------------------------------------------- */
/* last_error after a failure                                             */
/* --------------------------------------------------------------------- */

TEST(last_error_describes_the_failure) {
  errand_runtime_options o;
  errand_runtime *rt = NULL;
  const char *first;
  char copy[256];
  memset(&o, 0, sizeof o);
  o.workers = 5000;
  CHECK_RC(errand_runtime_create(&o, &rt), ERRAND_E_INVALID);
  first = errand_last_error();
  REQUIRE(first != NULL && first[0] != '\0');
  snprintf(copy, sizeof copy, "%s", first);
  /* A successful call does not invent a new failure message. */
  o.workers = 1;
  REQUIRE_OK(errand_runtime_create(&o, &rt));
  CHECK_EQ_STR(errand_last_error(), copy);
  CHECK_OK(errand_runtime_destroy(rt));
}

CHECK_MAIN()
