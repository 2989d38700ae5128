/*
 * test_signal.c — layer 3: controllers and signals (seed 004's
 * TaskController / TaskSignal / AbortController).
 *
 *   1. a controller owns a signal with a priority (default user-visible);
 *      many tasks share one signal;
 *   2. abort with a reason: queued tasks never run and are CANCELED with
 *      the reason as their error, running ones see the cancellation (and
 *      their sleeps/waits return), posts to an aborted signal are CANCELED
 *      at once, abort listeners are told once;
 *   3. a task without a fixed priority follows its signal's priority while
 *      queued (post order kept inside a level), priority-change listeners
 *      get (previous, new); a fixed priority wins and the signal only aborts;
 *   4. no priority inversion through waiting (1 worker, full background
 *      queue);
 *   5. exact run order with 1 worker held busy, two signals, a priority
 *      change and an abort.
 *
 * Order tests use one worker held by a gate task (helpers.h: spins on an
 * atomic with nanosleep) and max_compensating = -1.
 */
#include <pthread.h>

#include "helpers.h"

/* ------------------------------------------------------------------------ */
/* A log of lines, in the order things happened                            */
/* ------------------------------------------------------------------------ */

#define LOG_MAX 4096

typedef struct runlog {
  pthread_mutex_t mu;
  int n;
  char lines[LOG_MAX][64];
} runlog;

static runlog lg = {PTHREAD_MUTEX_INITIALIZER, 0, {{0}}};

static void log_reset(void) {
  pthread_mutex_lock(&lg.mu);
  lg.n = 0;
  pthread_mutex_unlock(&lg.mu);
}

static void log_add(const char *fmt, ...) CHECK__PRINTF(1, 2);
static void log_add(const char *fmt, ...) {
  va_list ap;
  pthread_mutex_lock(&lg.mu);
  if (lg.n < LOG_MAX) {
    va_start(ap, fmt);
    vsnprintf(lg.lines[lg.n], sizeof lg.lines[0], fmt, ap);
    va_end(ap);
    lg.n++;
  }
  pthread_mutex_unlock(&lg.mu);
}

/* Compares the log with want[0..n). */
static int log_equals(const char *const *want, int n) {
  int i, ok = 1;
  pthread_mutex_lock(&lg.mu);
  if (!CHECK_EQ_INT(lg.n, n)) ok = 0;
  for (i = 0; ok && i < n; i++)
    if (!CHECK_EQ_STR(lg.lines[i], want[i])) ok = 0;
  if (!ok) {
    fprintf(stderr, "  log was:\n");
    for (i = 0; i < lg.n; i++) fprintf(stderr, "    %s\n", lg.lines[i]);
  }
  pthread_mutex_unlock(&lg.mu);
  return ok;
}

/* arg: the line to log (static storage). */
static int log_task(errand_task *self, void *arg) {
  (void)self;
  log_add("%s", (const char *)arg);
  return 0;
}

static errand_runtime *rt_one(void) {
  errand_runtime_options o;
  memset(&o, 0, sizeof o);
  o.workers = 1;
  o.max_compensating = -1;
  return rt_new_opts(&o);
}

static errand_task *post_log_sig(errand_runtime *rt, const char *line,
                                 errand_signal *s, errand_priority fixed) {
  errand_post_options o = post_opts();
  errand_task *t = NULL;
  o.signal = s;
  o.priority = fixed;
  o.name = line;
  if (!CHECK_OK(errand_post(rt, log_task, (void *)line, &o, &t))) return NULL;
  return t;
}

static errand_controller *ctl_new(errand_priority p, errand_signal **sig) {
  errand_controller *c = NULL;
  if (!CHECK_OK(errand_controller_create(p, &c))) return NULL;
  if (sig && !CHECK_OK(errand_controller_signal(c, sig))) return NULL;
  return c;
}

static errand_priority prio_of(errand_task *t) {
  errand_priority p = ERRAND_PRIORITY_DEFAULT;
  CHECK_OK(errand_task_priority(t, &p));
  return p;
}

static errand_priority sig_prio(errand_signal *s) {
  errand_priority p = ERRAND_PRIORITY_DEFAULT;
  CHECK_OK(errand_signal_priority(s, &p));
  return p;
}

static void release_all(errand_task **ts, int n) {
  int i;
  for (i = 0; i < n; i++) CHECK_OK(errand_task_release(ts[i]));
}

/* Listener callbacks that log. */
static void log_prio_change(errand_signal *s, errand_priority prev,
                            errand_priority cur, void *arg) {
  (void)s;
  log_add("%s: priority changed from %s to %s.", (const char *)arg,
          errand_priority_name(prev), errand_priority_name(cur));
}

static void log_abort(errand_signal *s, int code, const char *reason,
                      void *arg) {
  (void)s;
  log_add("%s: aborted (%d) %s", (const char *)arg, code, reason);
}

/* ------------------------------------------------------------------------ */
/* 1. Controllers and signals                                                */
/* ------------------------------------------------------------------------ */

TEST(controller_default_priority_is_user_visible) {
  errand_signal *s = NULL;
  int ab = -1;
  errand_controller *c = ctl_new(ERRAND_PRIORITY_DEFAULT, &s);
  REQUIRE(c);
  CHECK_EQ_INT(sig_prio(s), ERRAND_PRIORITY_USER_VISIBLE);
  CHECK_OK(errand_signal_aborted(s, &ab));
  CHECK_EQ_INT(ab, 0);
  CHECK_RC(errand_signal_reason(s, NULL, NULL), ERRAND_E_STATE);
  CHECK_OK(errand_signal_release(s));
  CHECK_OK(errand_controller_release(c));

  c = ctl_new(ERRAND_PRIORITY_BACKGROUND, &s);
  REQUIRE(c);
  CHECK_EQ_INT(sig_prio(s), ERRAND_PRIORITY_BACKGROUND);
  CHECK_OK(errand_signal_release(s));
  CHECK_OK(errand_controller_release(c));
}

TEST(controller_and_signal_argument_errors) {
  errand_controller *c = NULL;
  errand_signal *s = NULL, *s2 = NULL;
  errand_priority p;
  int x;
  CHECK_RC(errand_controller_create(ERRAND_PRIORITY_USER_BLOCKING, NULL),
           ERRAND_E_INVALID);
  CHECK_RC(errand_controller_create((errand_priority)4, &c), ERRAND_E_INVALID);
  CHECK_RC(errand_controller_create((errand_priority)-1, &c), ERRAND_E_INVALID);
  CHECK_RC(errand_controller_signal(NULL, &s), ERRAND_E_INVALID);
  CHECK_RC(errand_controller_abort(NULL, 0, NULL), ERRAND_E_INVALID);
  CHECK_RC(errand_controller_set_priority(NULL, ERRAND_PRIORITY_BACKGROUND),
           ERRAND_E_INVALID);
  CHECK_OK(errand_controller_release(NULL));
  CHECK_OK(errand_signal_release(NULL));
  CHECK_RC(errand_signal_retain(NULL), ERRAND_E_INVALID);
  CHECK_RC(errand_signal_priority(NULL, &p), ERRAND_E_INVALID);
  CHECK_RC(errand_signal_aborted(NULL, &x), ERRAND_E_INVALID);
  CHECK_RC(errand_signal_reason(NULL, NULL, NULL), ERRAND_E_INVALID);

  c = ctl_new(ERRAND_PRIORITY_DEFAULT, &s);
  REQUIRE(c);
  CHECK_RC(errand_controller_signal(c, NULL), ERRAND_E_INVALID);
  CHECK_RC(errand_signal_priority(s, NULL), ERRAND_E_INVALID);
  CHECK_RC(errand_signal_aborted(s, NULL), ERRAND_E_INVALID);
  CHECK_RC(errand_controller_set_priority(c, (errand_priority)7),
           ERRAND_E_INVALID);
  CHECK_RC(errand_signal_on_abort(s, NULL, NULL, NULL), ERRAND_E_INVALID);
  CHECK_RC(errand_signal_on_priority_change(s, NULL, NULL, NULL),
           ERRAND_E_INVALID);
  CHECK_RC(errand_signal_on_abort(NULL, NULL, log_abort, NULL),
           ERRAND_E_INVALID);
  /* A second reference to the same signal; releasing one leaves the other. */
  CHECK_OK(errand_controller_signal(c, &s2));
  CHECK_OK(errand_signal_retain(s2));
  CHECK_OK(errand_signal_release(s2));
  CHECK_OK(errand_signal_release(s2));
  CHECK_EQ_INT(sig_prio(s), ERRAND_PRIORITY_USER_VISIBLE);
  CHECK_OK(errand_signal_release(s));
  /* Now every reference to the signal but the controller's is gone... */
  CHECK_OK(errand_controller_release(c));
  /* ...and the controller is gone: its handle reads as released. */
  CHECK_RC(errand_controller_abort(c, 0, NULL), ERRAND_E_RELEASED);
  CHECK_RC(errand_controller_set_priority(c, ERRAND_PRIORITY_BACKGROUND),
           ERRAND_E_RELEASED);
  CHECK_RC(errand_controller_release(c), ERRAND_E_RELEASED);
  CHECK_RC(errand_signal_priority(s, &p), ERRAND_E_RELEASED);
  CHECK_RC(errand_signal_release(s), ERRAND_E_RELEASED);
}

/* The signal outlives its controller while someone holds it, and a task
 * keeps its signal alive. */
TEST(signal_outlives_its_controller) {
  errand_signal *s = NULL;
  errand_task *t = NULL;
  int ab = -1;
  errand_runtime *rt = rt_new(2);
  errand_controller *c = ctl_new(ERRAND_PRIORITY_BACKGROUND, &s);
  errand_post_options o = post_opts();
  REQUIRE(rt && c);
  CHECK_OK(errand_controller_release(c)); /* does not abort */
  CHECK_OK(errand_signal_aborted(s, &ab));
  CHECK_EQ_INT(ab, 0);
  CHECK_EQ_INT(sig_prio(s), ERRAND_PRIORITY_BACKGROUND);
  o.signal = s;
  REQUIRE_OK(errand_post(rt, noop_task, NULL, &o, &t));
  CHECK_OK(errand_signal_release(s)); /* the task holds its own reference */
  CHECK_OK(errand_wait(t, -1));
  CHECK_EQ_INT(status_of(t), ERRAND_STATUS_RAN_TO_COMPLETION);
  CHECK_OK(errand_task_release(t));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* ------------------------------------------------------------------------ */
/* 2. Abort                                                                  */
/* ------------------------------------------------------------------------ */

static atomic_int freed_args;
static void count_free(void *p) {
  (void)p;
  atomic_fetch_add(&freed_args, 1);
}

TEST(abort_cancels_queued_tasks_with_the_reason_and_they_never_run) {
  gate g;
  errand_task *hold[1], *ts[6];
  errand_signal *sa = NULL, *sb = NULL;
  errand_controller *ca, *cb;
  errand_post_options o = post_opts();
  const char *msg = NULL;
  int code = 0, ab = 0, i;
  static const char *const want[] = {"B1", "B2", "B3"};
  errand_runtime *rt = rt_one();
  REQUIRE(rt);
  ca = ctl_new(ERRAND_PRIORITY_DEFAULT, &sa);
  cb = ctl_new(ERRAND_PRIORITY_DEFAULT, &sb);
  REQUIRE(ca && cb);
  gate_init(&g);
  log_reset();
  atomic_store(&freed_args, 0);
  REQUIRE(hold_workers(rt, &g, 1, hold));
  /* Interleaved posts under two signals; A's carry an arg_free. */
  o.arg_free = count_free;
  for (i = 0; i < 3; i++) {
    static const char *const an[] = {"A1", "A2", "A3"};
    static const char *const bn[] = {"B1", "B2", "B3"};
    o.signal = sa;
    REQUIRE_OK(errand_post(rt, log_task, (void *)an[i], &o, &ts[2 * i]));
    ts[2 * i + 1] = post_log_sig(rt, bn[i], sb, ERRAND_PRIORITY_DEFAULT);
    REQUIRE(ts[2 * i + 1]);
  }
  REQUIRE_OK(errand_signal_on_abort(sa, NULL, log_abort, (void *)"A"));
  REQUIRE_OK(errand_controller_abort(ca, 0, "stop A"));
  /* Before the worker is released: A's are final, B's still queued. */
  for (i = 0; i < 6; i += 2) {
    CHECK_EQ_INT(status_of(ts[i]), ERRAND_STATUS_CANCELED);
    CHECK_EQ_INT(flags_of(ts[i]),
                 ERRAND_FLAG_COMPLETED | ERRAND_FLAG_CANCELED);
    CHECK_OK(errand_task_error(ts[i], &code, &msg));
    CHECK_EQ_INT(code, ERRAND_E_CANCELED);
    CHECK_EQ_STR(msg, "stop A");
    {
      void *v = NULL;
      CHECK_RC(errand_task_result(ts[i], &v), ERRAND_E_CANCELED);
    }
    CHECK_EQ_INT(status_of(ts[i + 1]), ERRAND_STATUS_WAITING_TO_RUN);
  }
  CHECK_EQ_INT(atomic_load(&freed_args), 3); /* ended without running */
  CHECK_OK(errand_signal_aborted(sa, &ab));
  CHECK_EQ_INT(ab, 1);
  CHECK_OK(errand_signal_reason(sa, &code, &msg));
  CHECK_EQ_INT(code, ERRAND_E_CANCELED);
  CHECK_EQ_STR(msg, "stop A");
  CHECK_OK(errand_signal_aborted(sb, &ab));
  CHECK_EQ_INT(ab, 0);
  {
    static const char *const w0[] = {"A: aborted (6) stop A"};
    CHECK(log_equals(w0, 1)); /* listener told before abort returned */
  }
  log_reset();
  gate_open(&g);
  CHECK_OK(errand_wait_all(ts, 6, CHECK_LONG_MS));
  CHECK(log_equals(want, 3));
  for (i = 1; i < 6; i += 2)
    CHECK_EQ_INT(status_of(ts[i]), ERRAND_STATUS_RAN_TO_COMPLETION);
  release_all(ts, 6);
  CHECK_OK(errand_task_release(hold[0]));
  CHECK_OK(errand_signal_release(sa));
  CHECK_OK(errand_signal_release(sb));
  CHECK_OK(errand_controller_release(ca));
  CHECK_OK(errand_controller_release(cb));
  CHECK_OK(errand_runtime_destroy(rt));
}

TEST(abort_code_reason_default_and_custom) {
  errand_signal *s = NULL;
  errand_controller *c;
  errand_task *t = NULL;
  errand_post_options o = post_opts();
  int code = 0;
  const char *msg = NULL;
  errand_runtime *rt = rt_new(1);
  REQUIRE(rt);
  /* reason NULL = "aborted", code 0 = E_CANCELED */
  c = ctl_new(ERRAND_PRIORITY_DEFAULT, &s);
  REQUIRE(c);
  REQUIRE_OK(errand_controller_abort(c, 0, NULL));
  CHECK_OK(errand_signal_reason(s, &code, &msg));
  CHECK_EQ_INT(code, ERRAND_E_CANCELED);
  CHECK_EQ_STR(msg, "aborted");
  CHECK_OK(errand_signal_release(s));
  CHECK_OK(errand_controller_release(c));
  /* A custom code travels to the task. */
  c = ctl_new(ERRAND_PRIORITY_DEFAULT, &s);
  REQUIRE(c);
  REQUIRE_OK(errand_controller_abort(c, 4242, "user left the page"));
  o.signal = s;
  REQUIRE_OK(errand_post(rt, noop_task, NULL, &o, &t));
  CHECK_EQ_INT(status_of(t), ERRAND_STATUS_CANCELED);
  CHECK_OK(errand_task_error(t, &code, &msg));
  CHECK_EQ_INT(code, 4242);
  CHECK_EQ_STR(msg, "user left the page");
  CHECK_OK(errand_task_release(t));
  CHECK_OK(errand_signal_release(s));
  CHECK_OK(errand_controller_release(c));
  CHECK_OK(errand_runtime_destroy(rt));
}

TEST(abort_twice_is_e_state_and_listeners_are_told_once) {
  errand_signal *s = NULL;
  errand_controller *c = ctl_new(ERRAND_PRIORITY_DEFAULT, &s);
  REQUIRE(c);
  log_reset();
  REQUIRE_OK(errand_signal_on_abort(s, NULL, log_abort, (void *)"one"));
  REQUIRE_OK(errand_signal_on_abort(s, NULL, log_abort, (void *)"two"));
  REQUIRE_OK(errand_signal_on_priority_change(s, NULL, log_prio_change,
                                              (void *)"p"));
  REQUIRE_OK(errand_controller_abort(c, 0, "first"));
  CHECK_RC(errand_controller_abort(c, 0, "second"), ERRAND_E_STATE);
  CHECK_RC(errand_controller_set_priority(c, ERRAND_PRIORITY_BACKGROUND),
           ERRAND_E_STATE);
  /* A listener added after the abort is called at once. */
  REQUIRE_OK(errand_signal_on_abort(s, NULL, log_abort, (void *)"late"));
  {
    static const char *const want[] = {"one: aborted (6) first",
                                       "two: aborted (6) first",
                                       "late: aborted (6) first"};
    CHECK(log_equals(want, 3));
  }
  CHECK_OK(errand_signal_release(s));
  CHECK_OK(errand_controller_release(c));
}

TEST(post_to_an_aborted_signal_is_canceled_at_once_and_never_runs) {
  errand_signal *s = NULL;
  errand_controller *c = ctl_new(ERRAND_PRIORITY_USER_BLOCKING, &s);
  errand_task *t[3] = {NULL, NULL, NULL};
  errand_post_options o = post_opts();
  atomic_int ran;
  const char *msg = NULL;
  errand_runtime *rt = rt_new(2);
  REQUIRE(rt && c);
  atomic_init(&ran, 0);
  atomic_store(&freed_args, 0);
  REQUIRE_OK(errand_controller_abort(c, 0, "gone"));
  o.signal = s;
  o.arg_free = count_free;
  REQUIRE_OK(errand_post(rt, count_task, &ran, &o, &t[0]));
  o.delay_ms = 10;
  REQUIRE_OK(errand_post(rt, count_task, &ran, &o, &t[1]));
  o.delay_ms = 0;
  o.priority = ERRAND_PRIORITY_BACKGROUND; /* fixed: the signal still aborts */
  REQUIRE_OK(errand_post(rt, count_task, &ran, &o, &t[2]));
  for (int i = 0; i < 3; i++) {
    CHECK_EQ_INT(status_of(t[i]), ERRAND_STATUS_CANCELED);
    CHECK_OK(errand_task_error(t[i], NULL, &msg));
    CHECK_EQ_STR(msg, "gone");
  }
  CHECK_EQ_INT(atomic_load(&freed_args), 3);
  /* Fire-and-forget to an aborted signal is fine too. */
  o.arg_free = NULL;
  CHECK_OK(errand_post(rt, count_task, &ran, &o, NULL));
  CHECK_OK(errand_runtime_shutdown(rt, ERRAND_SHUTDOWN_DRAIN, -1));
  CHECK_EQ_INT(atomic_load(&ran), 0);
  release_all(t, 3);
  CHECK_OK(errand_signal_release(s));
  CHECK_OK(errand_controller_release(c));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* Running tasks see the abort: errand_task_is_canceled, and a long sleep
 * and a long wait return E_CANCELED at once. */
typedef struct running_probe {
  atomic_int started;
  atomic_int sleep_rc;
  atomic_int wait_rc;
  atomic_int saw_cancel;
  errand_task *never; /* a task that never ends (for the wait) */
} running_probe;

static int sleeper(errand_task *self, void *arg) {
  running_probe *p = (running_probe *)arg;
  int rc;
  atomic_fetch_add(&p->started, 1);
  rc = errand_task_sleep(self, 60000);
  atomic_store(&p->sleep_rc, rc);
  return rc;
}

static int waiter(errand_task *self, void *arg) {
  running_probe *p = (running_probe *)arg;
  int rc;
  (void)self;
  atomic_fetch_add(&p->started, 1);
  rc = errand_wait(p->never, 60000);
  atomic_store(&p->wait_rc, rc);
  return rc;
}

static int spinner(errand_task *self, void *arg) {
  running_probe *p = (running_probe *)arg;
  atomic_fetch_add(&p->started, 1);
  while (errand_task_is_canceled(self) != 1) check_sleep_us(200);
  atomic_store(&p->saw_cancel, 1);
  return 0; /* ignores it: ends as it actually ended */
}

TEST(abort_reaches_running_tasks_their_sleeps_and_waits) {
  running_probe p;
  gate never_g;
  errand_signal *s = NULL;
  errand_controller *c = ctl_new(ERRAND_PRIORITY_DEFAULT, &s);
  errand_task *t[3];
  errand_post_options o = post_opts();
  int64_t t0;
  errand_runtime_options ro;
  errand_runtime *rt;
  memset(&ro, 0, sizeof ro);
  ro.workers = 4;
  rt = rt_new_opts(&ro);
  REQUIRE(rt && c);
  memset(&p, 0, sizeof p);
  gate_init(&never_g);
  /* A dedicated task held by a gate: what the waiter waits for. */
  o.mode = ERRAND_MODE_DEDICATED;
  REQUIRE_OK(errand_post(rt, gate_task, &never_g, &o, &p.never));
  o = post_opts();
  o.signal = s;
  o.mode = ERRAND_MODE_DEDICATED; /* each on a thread of its own */
  REQUIRE_OK(errand_post(rt, sleeper, &p, &o, &t[0]));
  REQUIRE_OK(errand_post(rt, waiter, &p, &o, &t[1]));
  REQUIRE_OK(errand_post(rt, spinner, &p, &o, &t[2]));
  REQUIRE(check_wait_count(&p.started, 3, CHECK_LONG_MS));
  check_sleep_ms(20); /* let them reach the sleep / wait */
  t0 = check_now_ms();
  REQUIRE_OK(errand_controller_abort(c, 0, "abort running"));
  CHECK_OK(errand_wait_all(t, 3, CHECK_LONG_MS));
  CHECK(check_now_ms() - t0 < 10000); /* far below the 60 s they asked */
  CHECK_EQ_INT(atomic_load(&p.sleep_rc), ERRAND_E_CANCELED);
  CHECK_EQ_INT(atomic_load(&p.wait_rc), ERRAND_E_CANCELED);
  CHECK_EQ_INT(atomic_load(&p.saw_cancel), 1);
  CHECK_EQ_INT(status_of(t[0]), ERRAND_STATUS_CANCELED);
  CHECK_EQ_INT(status_of(t[1]), ERRAND_STATUS_CANCELED);
  /* The spinner ignored the request and returned 0. */
  CHECK_EQ_INT(status_of(t[2]), ERRAND_STATUS_RAN_TO_COMPLETION);
  gate_open(&never_g);
  CHECK_OK(errand_wait(p.never, CHECK_LONG_MS));
  release_all(t, 3);
  CHECK_OK(errand_task_release(p.never));
  CHECK_OK(errand_signal_release(s));
  CHECK_OK(errand_controller_release(c));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* Aborting a signal whose delayed tasks wait for their delay: they never
 * run. */
TEST(abort_cancels_delayed_tasks) {
  errand_signal *s = NULL;
  errand_controller *c = ctl_new(ERRAND_PRIORITY_DEFAULT, &s);
  errand_task *t = NULL;
  errand_post_options o = post_opts();
  atomic_int ran;
  errand_runtime *rt = rt_new(2);
  REQUIRE(rt && c);
  atomic_init(&ran, 0);
  o.signal = s;
  o.delay_ms = 200;
  REQUIRE_OK(errand_post(rt, count_task, &ran, &o, &t));
  CHECK_EQ_INT(status_of(t), ERRAND_STATUS_WAITING_TO_RUN);
  REQUIRE_OK(errand_controller_abort(c, 0, "no longer needed"));
  CHECK_EQ_INT(status_of(t), ERRAND_STATUS_CANCELED);
  check_sleep_ms(300);
  CHECK_EQ_INT(atomic_load(&ran), 0);
  CHECK_EQ_STR(error_msg_of(t), "no longer needed");
  CHECK_OK(errand_task_release(t));
  CHECK_OK(errand_signal_release(s));
  CHECK_OK(errand_controller_release(c));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* ------------------------------------------------------------------------ */
/* 3. Priority from the signal                                               */
/* ------------------------------------------------------------------------ */

TEST(task_takes_the_signal_priority_and_a_fixed_one_wins) {
  gate g;
  errand_task *hold[1], *t1, *t2, *t3;
  errand_signal *s = NULL;
  errand_controller *c;
  errand_runtime *rt = rt_one();
  REQUIRE(rt);
  c = ctl_new(ERRAND_PRIORITY_BACKGROUND, &s);
  REQUIRE(c);
  gate_init(&g);
  REQUIRE(hold_workers(rt, &g, 1, hold));
  t1 = post_log_sig(rt, "follows", s, ERRAND_PRIORITY_DEFAULT);
  t2 = post_log_sig(rt, "fixed", s, ERRAND_PRIORITY_USER_VISIBLE);
  t3 = post_log_sig(rt, "fixed-bg", s, ERRAND_PRIORITY_BACKGROUND);
  REQUIRE(t1 && t2 && t3);
  CHECK_EQ_INT(prio_of(t1), ERRAND_PRIORITY_BACKGROUND);
  CHECK_EQ_INT(prio_of(t2), ERRAND_PRIORITY_USER_VISIBLE);
  CHECK_EQ_INT(prio_of(t3), ERRAND_PRIORITY_BACKGROUND);
  REQUIRE_OK(errand_controller_set_priority(c, ERRAND_PRIORITY_USER_BLOCKING));
  CHECK_EQ_INT(sig_prio(s), ERRAND_PRIORITY_USER_BLOCKING);
  CHECK_EQ_INT(prio_of(t1), ERRAND_PRIORITY_USER_BLOCKING);
  CHECK_EQ_INT(prio_of(t2), ERRAND_PRIORITY_USER_VISIBLE);
  CHECK_EQ_INT(prio_of(t3), ERRAND_PRIORITY_BACKGROUND);
  log_reset();
  gate_open(&g);
  CHECK_OK(errand_runtime_shutdown(rt, ERRAND_SHUTDOWN_DRAIN, -1));
  {
    static const char *const want[] = {"follows", "fixed", "fixed-bg"};
    CHECK(log_equals(want, 3));
  }
  CHECK_OK(errand_task_release(t1));
  CHECK_OK(errand_task_release(t2));
  CHECK_OK(errand_task_release(t3));
  CHECK_OK(errand_task_release(hold[0]));
  CHECK_OK(errand_signal_release(s));
  CHECK_OK(errand_controller_release(c));
  CHECK_OK(errand_runtime_destroy(rt));
}

TEST(same_priority_again_is_a_no_op_without_event) {
  errand_signal *s = NULL;
  errand_controller *c = ctl_new(ERRAND_PRIORITY_USER_VISIBLE, &s);
  REQUIRE(c);
  log_reset();
  REQUIRE_OK(errand_signal_on_priority_change(s, NULL, log_prio_change,
                                              (void *)"s"));
  CHECK_OK(errand_controller_set_priority(c, ERRAND_PRIORITY_USER_VISIBLE));
  CHECK_OK(errand_controller_set_priority(c, ERRAND_PRIORITY_BACKGROUND));
  CHECK_OK(errand_controller_set_priority(c, ERRAND_PRIORITY_BACKGROUND));
  CHECK_OK(errand_controller_set_priority(c, ERRAND_PRIORITY_USER_BLOCKING));
  {
    static const char *const want[] = {
        "s: priority changed from user-visible to background.",
        "s: priority changed from background to user-blocking."};
    CHECK(log_equals(want, 2));
  }
  CHECK_OK(errand_signal_release(s));
  CHECK_OK(errand_controller_release(c));
}

/* The seed's example on the pool: the event comes before "Task 1". */
TEST(seed004_priority_change_event_before_the_task_runs_on_the_pool) {
  gate g;
  errand_task *hold[1], *t;
  errand_signal *s = NULL;
  errand_controller *c;
  errand_runtime *rt = rt_one();
  REQUIRE(rt);
  c = ctl_new(ERRAND_PRIORITY_USER_BLOCKING, &s);
  REQUIRE(c);
  gate_init(&g);
  log_reset();
  REQUIRE(hold_workers(rt, &g, 1, hold));
  REQUIRE_OK(errand_signal_on_priority_change(s, NULL, log_prio_change,
                                              (void *)"controller"));
  t = post_log_sig(rt, "Task 1", s, ERRAND_PRIORITY_DEFAULT);
  REQUIRE(t);
  REQUIRE_OK(errand_controller_set_priority(c, ERRAND_PRIORITY_BACKGROUND));
  CHECK_EQ_INT(prio_of(t), ERRAND_PRIORITY_BACKGROUND);
  gate_open(&g);
  CHECK_OK(errand_wait(t, CHECK_LONG_MS));
  {
    static const char *const want[] = {
        "controller: priority changed from user-blocking to background.",
        "Task 1"};
    CHECK(log_equals(want, 2));
  }
  CHECK_OK(errand_task_release(t));
  CHECK_OK(errand_task_release(hold[0]));
  CHECK_OK(errand_signal_release(s));
  CHECK_OK(errand_controller_release(c));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* ------------------------------------------------------------------------ */
/* 5. Exact run order: 1 worker held busy, two signals                       */
/* ------------------------------------------------------------------------ */

TEST(two_signals_priority_change_exact_run_order) {
  gate g;
  errand_task *hold[1], *ts[16];
  errand_signal *sa = NULL, *sb = NULL;
  errand_controller *ca, *cb;
  int n = 0;
  errand_runtime *rt = rt_one();
  REQUIRE(rt);
  ca = ctl_new(ERRAND_PRIORITY_USER_VISIBLE, &sa);
  cb = ctl_new(ERRAND_PRIORITY_USER_VISIBLE, &sb);
  REQUIRE(ca && cb);
  gate_init(&g);
  log_reset();
  REQUIRE(hold_workers(rt, &g, 1, hold));
  REQUIRE_OK(errand_signal_on_priority_change(sa, NULL, log_prio_change,
                                              (void *)"A"));
  REQUIRE_OK(errand_signal_on_priority_change(sb, NULL, log_prio_change,
                                              (void *)"B"));
  /* Post order: A1 B1 X1 A2 BF B2 A3 Y1 B3 (X1 user-visible, Y1
   * background, BF fixed background under B, no signal on X1/Y1). */
  ts[n++] = post_log_sig(rt, "A1", sa, 0);
  ts[n++] = post_log_sig(rt, "B1", sb, 0);
  ts[n++] = post_log_sig(rt, "X1", NULL, ERRAND_PRIORITY_USER_VISIBLE);
  ts[n++] = post_log_sig(rt, "A2", sa, 0);
  ts[n++] = post_log_sig(rt, "BF", sb, ERRAND_PRIORITY_BACKGROUND);
  ts[n++] = post_log_sig(rt, "B2", sb, 0);
  ts[n++] = post_log_sig(rt, "A3", sa, 0);
  ts[n++] = post_log_sig(rt, "Y1", NULL, ERRAND_PRIORITY_BACKGROUND);
  ts[n++] = post_log_sig(rt, "B3", sb, 0);
  for (int i = 0; i < n; i++) REQUIRE(ts[i]);
  /* A up, B down, then A down to user-visible again: A's tasks must land
   * back among X1 in their post order. */
  REQUIRE_OK(errand_controller_set_priority(ca, ERRAND_PRIORITY_USER_BLOCKING));
  REQUIRE_OK(errand_controller_set_priority(cb, ERRAND_PRIORITY_BACKGROUND));
  REQUIRE_OK(errand_controller_set_priority(ca, ERRAND_PRIORITY_USER_VISIBLE));
  REQUIRE_OK(errand_controller_set_priority(ca, ERRAND_PRIORITY_USER_BLOCKING));
  REQUIRE_OK(errand_controller_set_priority(cb, ERRAND_PRIORITY_USER_VISIBLE));
  REQUIRE_OK(errand_controller_set_priority(cb, ERRAND_PRIORITY_BACKGROUND));
  CHECK_EQ_INT(prio_of(ts[0]), ERRAND_PRIORITY_USER_BLOCKING);
  CHECK_EQ_INT(prio_of(ts[1]), ERRAND_PRIORITY_BACKGROUND);
  CHECK_EQ_INT(prio_of(ts[4]), ERRAND_PRIORITY_BACKGROUND);
  gate_open(&g);
  CHECK_OK(errand_wait_all(ts, (size_t)n, CHECK_LONG_MS));
  {
    static const char *const want[] = {
        "A: priority changed from user-visible to user-blocking.",
        "B: priority changed from user-visible to background.",
        "A: priority changed from user-blocking to user-visible.",
        "A: priority changed from user-visible to user-blocking.",
        "B: priority changed from background to user-visible.",
        "B: priority changed from user-visible to background.",
        "A1", "A2", "A3", /* user-blocking */
        "X1",             /* user-visible */
        "B1", "BF", "B2", "Y1", "B3" /* background, in post order */};
    CHECK(log_equals(want, 15));
  }
  release_all(ts, n);
  CHECK_OK(errand_task_release(hold[0]));
  CHECK_OK(errand_signal_release(sa));
  CHECK_OK(errand_signal_release(sb));
  CHECK_OK(errand_controller_release(ca));
  CHECK_OK(errand_controller_release(cb));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* Moving a signal's tasks into a level keeps post order against tasks that
 * were already there: down into background between older and newer ones. */
TEST(moved_tasks_merge_by_post_order_into_the_target_level) {
  gate g;
  errand_task *hold[1], *ts[8];
  errand_signal *s = NULL;
  errand_controller *c;
  int n = 0;
  errand_runtime *rt = rt_one();
  REQUIRE(rt);
  c = ctl_new(ERRAND_PRIORITY_USER_BLOCKING, &s);
  REQUIRE(c);
  gate_init(&g);
  log_reset();
  REQUIRE(hold_workers(rt, &g, 1, hold));
  ts[n++] = post_log_sig(rt, "bg 1", NULL, ERRAND_PRIORITY_BACKGROUND);
  ts[n++] = post_log_sig(rt, "sig 1", s, 0);
  ts[n++] = post_log_sig(rt, "bg 2", NULL, ERRAND_PRIORITY_BACKGROUND);
  ts[n++] = post_log_sig(rt, "sig 2", s, 0);
  ts[n++] = post_log_sig(rt, "uv 1", NULL, ERRAND_PRIORITY_USER_VISIBLE);
  ts[n++] = post_log_sig(rt, "bg 3", NULL, ERRAND_PRIORITY_BACKGROUND);
  REQUIRE_OK(errand_controller_set_priority(c, ERRAND_PRIORITY_BACKGROUND));
  ts[n++] = post_log_sig(rt, "sig 3", s, 0); /* posted after: bg at once */
  for (int i = 0; i < n; i++) REQUIRE(ts[i]);
  gate_open(&g);
  CHECK_OK(errand_wait_all(ts, (size_t)n, CHECK_LONG_MS));
  {
    static const char *const want[] = {"uv 1",  "bg 1", "sig 1", "bg 2",
                                       "sig 2", "bg 3", "sig 3"};
    CHECK(log_equals(want, 7));
  }
  release_all(ts, n);
  CHECK_OK(errand_task_release(hold[0]));
  CHECK_OK(errand_signal_release(s));
  CHECK_OK(errand_controller_release(c));
  CHECK_OK(errand_runtime_destroy(rt));
}

TEST(two_signals_abort_exact_run_order) {
  gate g;
  errand_task *hold[1], *ts[16];
  errand_signal *sa = NULL, *sb = NULL;
  errand_controller *ca, *cb;
  int n = 0;
  errand_runtime *rt = rt_one();
  REQUIRE(rt);
  ca = ctl_new(ERRAND_PRIORITY_USER_VISIBLE, &sa);
  cb = ctl_new(ERRAND_PRIORITY_BACKGROUND, &sb);
  REQUIRE(ca && cb);
  gate_init(&g);
  log_reset();
  REQUIRE(hold_workers(rt, &g, 1, hold));
  ts[n++] = post_log_sig(rt, "B1", sb, 0);
  ts[n++] = post_log_sig(rt, "A1", sa, 0);
  ts[n++] = post_log_sig(rt, "AF", sa, ERRAND_PRIORITY_USER_BLOCKING);
  ts[n++] = post_log_sig(rt, "B2", sb, 0);
  ts[n++] = post_log_sig(rt, "A2", sa, 0);
  ts[n++] = post_log_sig(rt, "X", NULL, 0);
  for (int i = 0; i < n; i++) REQUIRE(ts[i]);
  REQUIRE_OK(errand_signal_on_abort(sa, NULL, log_abort, (void *)"A"));
  /* Raise B above A, then abort A (its fixed-priority task too). */
  REQUIRE_OK(errand_controller_set_priority(cb, ERRAND_PRIORITY_USER_BLOCKING));
  REQUIRE_OK(errand_controller_abort(ca, 0, "A is gone"));
  ts[n++] = post_log_sig(rt, "A3", sa, 0); /* after the abort */
  REQUIRE(ts[n - 1]);
  gate_open(&g);
  CHECK_OK(errand_wait_all(ts, (size_t)n, CHECK_LONG_MS));
  {
    static const char *const want[] = {"A: aborted (6) A is gone", "B1", "B2",
                                       "X"};
    CHECK(log_equals(want, 4));
  }
  CHECK_EQ_INT(status_of(ts[1]), ERRAND_STATUS_CANCELED);
  CHECK_EQ_INT(status_of(ts[2]), ERRAND_STATUS_CANCELED);
  CHECK_EQ_INT(status_of(ts[4]), ERRAND_STATUS_CANCELED);
  CHECK_EQ_INT(status_of(ts[6]), ERRAND_STATUS_CANCELED);
  CHECK_EQ_STR(error_msg_of(ts[2]), "A is gone");
  CHECK_EQ_STR(error_msg_of(ts[6]), "A is gone");
  release_all(ts, n);
  CHECK_OK(errand_task_release(hold[0]));
  CHECK_OK(errand_signal_release(sa));
  CHECK_OK(errand_signal_release(sb));
  CHECK_OK(errand_controller_release(ca));
  CHECK_OK(errand_controller_release(cb));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* A delayed task follows the signal's changes made during its delay. */
TEST(delayed_task_follows_priority_change_made_during_its_delay) {
  gate g;
  errand_task *hold[1], *ts[3];
  errand_signal *s = NULL;
  errand_controller *c;
  errand_post_options o = post_opts();
  errand_runtime *rt = rt_one();
  REQUIRE(rt);
  c = ctl_new(ERRAND_PRIORITY_BACKGROUND, &s);
  REQUIRE(c);
  gate_init(&g);
  log_reset();
  REQUIRE(hold_workers(rt, &g, 1, hold));
  ts[0] = post_log_sig(rt, "uv", NULL, ERRAND_PRIORITY_USER_VISIBLE);
  o.signal = s;
  o.delay_ms = 30;
  REQUIRE_OK(errand_post(rt, log_task, (void *)"delayed", &o, &ts[1]));
  ts[2] = post_log_sig(rt, "uv 2", NULL, ERRAND_PRIORITY_USER_VISIBLE);
  REQUIRE_OK(errand_controller_set_priority(c, ERRAND_PRIORITY_USER_BLOCKING));
  CHECK_EQ_INT(prio_of(ts[1]), ERRAND_PRIORITY_USER_BLOCKING);
  check_sleep_ms(100); /* the delay passes while the worker is held */
  gate_open(&g);
  CHECK_OK(errand_wait_all(ts, 3, CHECK_LONG_MS));
  {
    static const char *const want[] = {"delayed", "uv", "uv 2"};
    CHECK(log_equals(want, 3));
  }
  release_all(ts, 3);
  CHECK_OK(errand_task_release(hold[0]));
  CHECK_OK(errand_signal_release(s));
  CHECK_OK(errand_controller_release(c));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* Listeners on a loop run on the loop's thread, when the owner runs it. */
static pthread_t main_thread;
static atomic_int on_main;
static void loop_prio(errand_signal *s, errand_priority prev,
                      errand_priority cur, void *arg) {
  if (pthread_equal(pthread_self(), main_thread)) atomic_fetch_add(&on_main, 1);
  log_prio_change(s, prev, cur, arg);
}
static void loop_abort(errand_signal *s, int code, const char *reason,
                       void *arg) {
  if (pthread_equal(pthread_self(), main_thread)) atomic_fetch_add(&on_main, 1);
  log_abort(s, code, reason, arg);
}

TEST(signal_listeners_on_a_loop_run_on_the_owner_thread) {
  errand_loop *loop = NULL;
  errand_signal *s = NULL;
  errand_controller *c;
  int ran = 0;
  errand_runtime *rt = rt_new(1);
  REQUIRE(rt);
  c = ctl_new(ERRAND_PRIORITY_DEFAULT, &s);
  REQUIRE(c);
  main_thread = pthread_self();
  atomic_store(&on_main, 0);
  log_reset();
  REQUIRE_OK(errand_loop_create(rt, &loop));
  REQUIRE_OK(errand_signal_on_priority_change(s, loop, loop_prio,
                                              (void *)"L"));
  REQUIRE_OK(errand_signal_on_abort(s, loop, loop_abort, (void *)"L"));
  CHECK_OK(errand_controller_set_priority(c, ERRAND_PRIORITY_BACKGROUND));
  CHECK_OK(errand_controller_abort(c, 0, "bye"));
  CHECK_EQ_INT(lg.n, 0); /* not yet: they wait for the owner */
  CHECK_OK(errand_loop_run_pending(loop, 0, &ran));
  CHECK_EQ_INT(ran, 2);
  {
    static const char *const want[] = {
        "L: priority changed from user-visible to background.",
        "L: aborted (6) bye"};
    CHECK(log_equals(want, 2));
  }
  CHECK_EQ_INT(atomic_load(&on_main), 2);
  CHECK_OK(errand_loop_destroy(loop));
  CHECK_OK(errand_signal_release(s));
  CHECK_OK(errand_controller_release(c));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* ------------------------------------------------------------------------ */
/* 4. No priority inversion through waiting                                  */
/* ------------------------------------------------------------------------ */

#define BG_FLOOD 100

typedef struct inv_ctx {
  atomic_int bg_ran;         /* background filler tasks that ran */
  atomic_int bg_before;      /* ... before the target ran */
  atomic_int target_prio;    /* the target's priority while it ran */
  atomic_int target_ran;
  atomic_int wait_rc;
  errand_task *target;
  errand_runtime *rt;
} inv_ctx;

static inv_ctx inv;

static int bg_filler(errand_task *self, void *arg) {
  (void)self;
  (void)arg;
  atomic_fetch_add(&inv.bg_ran, 1);
  return 0;
}

static int target_fn(errand_task *self, void *arg) {
  errand_priority p = ERRAND_PRIORITY_DEFAULT;
  (void)arg;
  atomic_store(&inv.bg_before, atomic_load(&inv.bg_ran));
  errand_task_priority(self, &p);
  atomic_store(&inv.target_prio, (int)p);
  atomic_store(&inv.target_ran, 1);
  return 0;
}

static int waiter_fn(errand_task *self, void *arg) {
  (void)self;
  (void)arg;
  atomic_store(&inv.wait_rc, errand_wait(inv.target, CHECK_LONG_MS));
  return 0;
}

static void inversion_case(errand_priority waiter_prio, int target_first) {
  gate g;
  errand_task *hold[1], *w = NULL;
  errand_post_options o = post_opts();
  int i;
  errand_runtime *rt = rt_one();
  if (!rt) return;
  memset(&inv, 0, sizeof inv);
  gate_init(&g);
  if (!hold_workers(rt, &g, 1, hold)) return;
  o.priority = ERRAND_PRIORITY_BACKGROUND;
  if (target_first)
    CHECK_OK(errand_post(rt, target_fn, NULL, &o, &inv.target));
  for (i = 0; i < BG_FLOOD; i++)
    CHECK_OK(errand_post(rt, bg_filler, NULL, &o, NULL));
  if (!target_first)
    CHECK_OK(errand_post(rt, target_fn, NULL, &o, &inv.target));
  o.priority = waiter_prio;
  CHECK_OK(errand_post(rt, waiter_fn, NULL, &o, &w));
  gate_open(&g);
  CHECK_OK(errand_wait(w, CHECK_LONG_MS));
  CHECK_OK(errand_wait(inv.target, CHECK_LONG_MS));
  CHECK_EQ_INT(atomic_load(&inv.wait_rc), 0);
  CHECK_EQ_INT(atomic_load(&inv.target_ran), 1);
  /* The waiter's level held while it waited: no background task ran
   * before the target. */
  CHECK_EQ_INT(atomic_load(&inv.bg_before), 0);
  CHECK_EQ_INT(atomic_load(&inv.target_prio), (int)waiter_prio);
  CHECK_OK(errand_runtime_shutdown(rt, ERRAND_SHUTDOWN_DRAIN, -1));
  CHECK_EQ_INT(atomic_load(&inv.bg_ran), BG_FLOOD);
  CHECK_OK(errand_task_release(w));
  CHECK_OK(errand_task_release(inv.target));
  CHECK_OK(errand_task_release(hold[0]));
  CHECK_OK(errand_runtime_destroy(rt));
}

TEST(waiting_raises_a_queued_background_task_to_the_waiters_level) {
  inversion_case(ERRAND_PRIORITY_USER_BLOCKING, 0);
  inversion_case(ERRAND_PRIORITY_USER_VISIBLE, 0);
  inversion_case(ERRAND_PRIORITY_USER_BLOCKING, 1);
}

/* The same when the background queue was already being worked on: the
 * worker took a background task (and, with it, a batch of the queue) before
 * the user-blocking waiter arrived. */
static atomic_int first_bg_hold;
static int bg_first(errand_task *self, void *arg) {
  (void)self;
  (void)arg;
  atomic_fetch_add(&inv.bg_ran, 1);
  while (!atomic_load(&first_bg_hold)) check_sleep_us(200);
  return 0;
}

TEST(waiting_raises_a_target_behind_a_running_background_flood) {
  errand_task *w = NULL, *first = NULL;
  errand_post_options o = post_opts();
  int i;
  errand_runtime *rt = rt_one();
  REQUIRE(rt);
  memset(&inv, 0, sizeof inv);
  atomic_store(&first_bg_hold, 0);
  o.priority = ERRAND_PRIORITY_BACKGROUND;
  /* All posted at once, the first one holds the worker once it runs. */
  CHECK_OK(errand_post(rt, bg_first, NULL, &o, &first));
  for (i = 0; i < 4; i++) CHECK_OK(errand_post(rt, bg_filler, NULL, &o, NULL));
  CHECK_OK(errand_post(rt, target_fn, NULL, &o, &inv.target));
  for (i = 0; i < BG_FLOOD; i++)
    CHECK_OK(errand_post(rt, bg_filler, NULL, &o, NULL));
  REQUIRE(wait_status(first, ERRAND_STATUS_RUNNING, CHECK_LONG_MS));
  o.priority = ERRAND_PRIORITY_USER_BLOCKING;
  CHECK_OK(errand_post(rt, waiter_fn, NULL, &o, &w));
  atomic_store(&first_bg_hold, 1);
  CHECK_OK(errand_wait(w, CHECK_LONG_MS));
  CHECK_EQ_INT(atomic_load(&inv.wait_rc), 0);
  CHECK_EQ_INT(atomic_load(&inv.target_ran), 1);
  CHECK_EQ_INT(atomic_load(&inv.target_prio), ERRAND_PRIORITY_USER_BLOCKING);
  /* Only bg_first itself may have run before the target. */
  if (!CHECK(atomic_load(&inv.bg_before) <= 1))
    fprintf(stderr, "  %d background tasks ran before the raised target\n",
            atomic_load(&inv.bg_before));
  CHECK_OK(errand_runtime_shutdown(rt, ERRAND_SHUTDOWN_DRAIN, -1));
  CHECK_OK(errand_task_release(w));
  CHECK_OK(errand_task_release(first));
  CHECK_OK(errand_task_release(inv.target));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* A loop waiting (errand_loop_run_until) raises the task for as long as the
 * wait lasts, then the task goes back to its level. */
static errand_task *probe_target;
static atomic_int probe_prio;
static int probe_fn(errand_task *self, void *arg) {
  errand_priority p = ERRAND_PRIORITY_DEFAULT;
  (void)self;
  (void)arg;
  errand_task_priority(probe_target, &p);
  atomic_store(&probe_prio, (int)p);
  return 0;
}

TEST(loop_wait_raises_a_queued_task_while_it_waits) {
  gate g;
  errand_task *hold[1], *target = NULL, *probe = NULL;
  errand_loop *loop = NULL;
  errand_post_options o = post_opts();
  errand_runtime *rt = rt_one();
  REQUIRE(rt);
  gate_init(&g);
  REQUIRE(hold_workers(rt, &g, 1, hold));
  REQUIRE_OK(errand_loop_create(rt, &loop));
  o.priority = ERRAND_PRIORITY_BACKGROUND;
  for (int i = 0; i < BG_FLOOD; i++)
    CHECK_OK(errand_post(rt, noop_task, NULL, &o, NULL));
  REQUIRE_OK(errand_post(rt, noop_task, NULL, &o, &target));
  CHECK_EQ_INT(prio_of(target), ERRAND_PRIORITY_BACKGROUND);
  /* A loop task that looks at the target's priority during the wait. */
  probe_target = target;
  atomic_store(&probe_prio, 0);
  o = post_opts();
  o.delay_ms = 20;
  REQUIRE_OK(errand_loop_post(loop, probe_fn, NULL, &o, &probe));
  CHECK_RC(errand_loop_run_until(loop, target, 150), ERRAND_E_TIMEOUT);
  CHECK_EQ_INT(status_of(probe), ERRAND_STATUS_RAN_TO_COMPLETION);
  CHECK(atomic_load(&probe_prio) != ERRAND_PRIORITY_BACKGROUND &&
        atomic_load(&probe_prio) != 0);
  /* The wait is over: back to background. */
  CHECK_EQ_INT(status_of(target), ERRAND_STATUS_WAITING_TO_RUN);
  CHECK_EQ_INT(prio_of(target), ERRAND_PRIORITY_BACKGROUND);
  gate_open(&g);
  CHECK_OK(errand_loop_run_until(loop, target, CHECK_LONG_MS));
  CHECK_OK(errand_loop_destroy(loop));
  CHECK_OK(errand_runtime_shutdown(rt, ERRAND_SHUTDOWN_DRAIN, -1));
  CHECK_OK(errand_task_release(target));
  CHECK_OK(errand_task_release(probe));
  CHECK_OK(errand_task_release(hold[0]));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* A loop waiting on a background task behind a flood gets it first. */
typedef struct opener_arg {
  errand_task *t;
  gate *g;
  atomic_int saw_raise;
} opener_arg;

static void *opener(void *arg) {
  opener_arg *oa = (opener_arg *)arg;
  int64_t end = check_now_ms() + CHECK_LONG_MS;
  while (check_now_ms() < end) {
    errand_priority p = ERRAND_PRIORITY_BACKGROUND;
    if (errand_task_priority(oa->t, &p) == 0 &&
        p == ERRAND_PRIORITY_USER_BLOCKING) {
      atomic_store(&oa->saw_raise, 1);
      break;
    }
    check_sleep_us(200);
  }
  gate_open(oa->g);
  return NULL;
}

TEST(loop_wait_runs_the_raised_task_before_the_background_flood) {
  gate g;
  errand_task *hold[1];
  errand_loop *loop = NULL;
  errand_post_options o = post_opts();
  pthread_t th;
  opener_arg oa;
  errand_runtime *rt = rt_one();
  REQUIRE(rt);
  memset(&inv, 0, sizeof inv);
  gate_init(&g);
  REQUIRE(hold_workers(rt, &g, 1, hold));
  REQUIRE_OK(errand_loop_create(rt, &loop));
  o.priority = ERRAND_PRIORITY_BACKGROUND;
  for (int i = 0; i < BG_FLOOD; i++)
    CHECK_OK(errand_post(rt, bg_filler, NULL, &o, NULL));
  REQUIRE_OK(errand_post(rt, target_fn, NULL, &o, &inv.target));
  oa.t = inv.target;
  oa.g = &g;
  atomic_init(&oa.saw_raise, 0);
  REQUIRE(thread_start(&th, opener, &oa));
  CHECK_OK(errand_loop_run_until(loop, inv.target, CHECK_LONG_MS));
  pthread_join(th, NULL);
  CHECK_EQ_INT(atomic_load(&oa.saw_raise), 1);
  CHECK_EQ_INT(atomic_load(&inv.target_ran), 1);
  CHECK_EQ_INT(atomic_load(&inv.bg_before), 0);
  CHECK_EQ_INT(atomic_load(&inv.target_prio), ERRAND_PRIORITY_USER_BLOCKING);
  CHECK_OK(errand_loop_destroy(loop));
  CHECK_OK(errand_runtime_shutdown(rt, ERRAND_SHUTDOWN_DRAIN, -1));
  CHECK_EQ_INT(atomic_load(&inv.bg_ran), BG_FLOOD);
  CHECK_OK(errand_task_release(inv.target));
  CHECK_OK(errand_task_release(hold[0]));
  CHECK_OK(errand_runtime_destroy(rt));
}

CHECK_MAIN()
