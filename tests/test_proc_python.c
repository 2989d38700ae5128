/*
 * test_proc_python.c — a worker in another language (issue item 4):
 * tests/workers/py_worker.py, written from docs/protocol.md alone, as the
 * `command` of one-shot process jobs and of a resident pool.  Results,
 * errors, progress in order, output capture, pid, worker index, cancel,
 * timeout, and its crashes (exit code, SIGSEGV, garbage, an oversized frame)
 * each faulting only its job with the message the protocol promises.
 * Skipped when python3 is not installed.
 */
/* ERRAND_TEST_LABELS: valgrind */
#include "test_job_common.h"

static char script[4096];
static const char *py_argv[3];

static int have_python(void) {
  const char *src = getenv("ERRAND_SOURCE_DIR");
  struct stat st;
  if (!src) src = ".."; /* run from <build>/tests of an in-tree build */
  snprintf(script, sizeof script, "%s/tests/workers/py_worker.py", src);
  if (stat(script, &st) != 0) {
    printf("  (%s not found: skipped)\n", script);
    return 0;
  }
  if (system("python3 -c 'import json, struct' >/dev/null 2>&1") != 0) {
    printf("  (python3 not available: skipped)\n");
    return 0;
  }
  py_argv[0] = "python3";
  py_argv[1] = script;
  py_argv[2] = NULL;
  return 1;
}

typedef struct fixture {
  errand_runtime *rt;
  errand_procpool *pool;
} fixture;

static int fx_init(fixture *f, int max) {
  errand_procpool_options po;
  memset(f, 0, sizeof *f);
  if (!have_python()) return 0;
  f->rt = rt_new(2);
  if (!f->rt) return 0;
  memset(&po, 0, sizeof po);
  po.max_workers = max;
  po.kill_grace_ms = 300;
  po.command = py_argv;
  if (!CHECK_OK(errand_procpool_create(f->rt, jc_jobs, &po, &f->pool))) {
    errand_runtime_destroy(f->rt);
    return 0;
  }
  return 1;
}

static void fx_done(fixture *f) {
  CHECK_OK(errand_procpool_destroy(f->pool));
  CHECK_OK(errand_runtime_destroy(f->rt));
}

/* m 0: one-shot with the command; m 1: the python pool. */
static errand_job_options py_opts(fixture *f, int m) {
  errand_job_options o = job_opts(m ? ERRAND_JOB_WORKER : ERRAND_JOB_PROCESS);
  if (m)
    o.pool = f->pool;
  else
    o.command = py_argv;
  o.kill_grace_ms = 300;
  return o;
}

TEST(python_results_errors_and_output) {
  fixture f;
  int m;
  if (!fx_init(&f, 2)) return;
  for (m = 0; m < 2; m++) {
    errand_job_options o = py_opts(&f, m);
    errand_task *t;
    const char *out = NULL, *err = NULL;
    printf("  %s\n", mode_name(o.mode));
    t = start_job(f.rt, "add", "[1,2,3.5]", &o);
    if (t && wait_final(t)) CHECK_EQ_STR(result_of(t), "6.5");
    errand_task_release(t);
    t = start_job(f.rt, "echo", "{\"k\":[true,null,\"\\u00e9\"]}", &o);
    if (t && wait_final(t)) {
      const char *r = result_of(t);
      CHECK(strstr(r, "\"k\"") && strstr(r, "true") && strstr(r, "null"));
    }
    errand_task_release(t);
    t = start_job(f.rt, "fail", "[]", &o);
    if (t && wait_final(t)) {
      CHECK_EQ_INT(status_of(t), ERRAND_STATUS_FAULTED);
      CHECK_EQ_INT(error_code_of(t), 42);
      CHECK_EQ_STR(error_msg_of(t), "python says no");
    }
    errand_task_release(t);
    /* A name the worker does not serve: its ERROR code 1. */
    t = start_job(f.rt, "no_such_job", "[]", &o);
    if (t && wait_final(t)) {
      CHECK_EQ_INT(error_code_of(t), ERRAND_E_INVALID);
      CHECK_EQ_STR(error_msg_of(t), "unknown job name: no_such_job");
    }
    errand_task_release(t);
    t = start_job(f.rt, "print", "[]", &o);
    if (t && wait_final(t) &&
        CHECK_OK(errand_job_output(t, &out, NULL, &err, NULL))) {
      CHECK_EQ_STR(out, "hello from python\n");
      CHECK_EQ_STR(err, "warn\n");
      CHECK_EQ_STR(result_of(t), "null");
    }
    errand_task_release(t);
    t = start_job(f.rt, "pid", "[]", &o);
    if (t && wait_final(t)) CHECK_EQ_INT(atoi(result_of(t)), pid_of(t));
    errand_task_release(t);
  }
  fx_done(&f);
}

TEST(python_progress_in_order) {
  fixture f;
  errand_loop *loop = NULL;
  int m;
  if (!fx_init(&f, 1)) return;
  REQUIRE_OK(errand_loop_create(f.rt, &loop));
  for (m = 0; m < 2; m++) {
    errand_job_options o = py_opts(&f, m);
    ev_log log;
    gate g;
    errand_task *hold[2] = {NULL, NULL}, *t;
    int k;
    ev_log_init(&log);
    gate_init(&g);
    /* Both pool workers held: the job starts after the subscription. */
    REQUIRE(hold_workers(f.rt, &g, 2, hold));
    t = start_job(f.rt, "progress", "{\"count\":30}", &o);
    if (t) CHECK_OK(errand_task_on_event(t, loop, ev_cb, &log));
    gate_open(&g);
    if (t) {
      CHECK_OK(errand_loop_run_until(loop, t, CHECK_LONG_MS));
      {
        const char *r = result_of(t);
        if (!CHECK(strcmp(r, "{\"done\":30}") == 0 ||
                   strcmp(r, "{\"done\": 30}") == 0))
          fprintf(stderr, "  result %s\n", r);
      }
      CHECK_EQ_INT(log.n, 30);
      for (k = 0; k < log.n && k < 30; k++) {
        char want[32];
        snprintf(want, sizeof want, "{\"n\":%d}", k);
        if (!CHECK_EQ_STR(log.data[k], want)) break;
      }
      errand_task_release(t);
    }
    for (k = 0; k < 2; k++) {
      errand_wait(hold[k], -1);
      errand_task_release(hold[k]);
    }
  }
  CHECK_OK(errand_loop_destroy(loop));
  fx_done(&f);
}

TEST(python_crashes_fault_only_their_job) {
  fixture f;
  int m;
  static const struct {
    const char *name;
    int code;
    const char *msg;
  } cases[] = {
      {"exit3", ERRAND_E_WORKER_DIED, "worker process exited with code 3"},
      {"segv", ERRAND_E_WORKER_DIED, "worker process killed by signal SIGSEGV"},
      {"garbage", ERRAND_E_PROTOCOL, "protocol error: "},
      {"big", ERRAND_E_PROTOCOL, "protocol error: "},
  };
  if (!fx_init(&f, 1)) return;
  for (m = 0; m < 2; m++) {
    size_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
      errand_job_options o = py_opts(&f, m);
      errand_task *t = start_job(f.rt, cases[i].name, "[]", &o);
      errand_task *after = start_job(f.rt, "add", "[2,2]", &o);
      if (t && wait_final(t)) {
        CHECK_EQ_INT(status_of(t), ERRAND_STATUS_FAULTED);
        CHECK_EQ_INT(error_code_of(t), cases[i].code);
        if (!CHECK(strstr(error_msg_of(t), cases[i].msg) != NULL))
          fprintf(stderr, "  %s: %s\n", cases[i].name, error_msg_of(t));
      }
      if (after && wait_final(after)) CHECK_EQ_STR(result_of(after), "4");
      errand_task_release(t);
      errand_task_release(after);
    }
  }
  fx_done(&f);
}

TEST(python_cancel_timeout_and_index) {
  fixture f;
  int m;
  if (!fx_init(&f, 2)) return;
  for (m = 0; m < 2; m++) {
    errand_job_options o = py_opts(&f, m);
    errand_task *t = start_job(f.rt, "hang", "[]", &o);
    int pid = 0;
    if (t) {
      int64_t end = check_now_ms() + CHECK_LONG_MS;
      while ((pid = pid_of(t)) == 0 && check_now_ms() < end)
        check_sleep_ms(2);
      check_sleep_ms(100);
      CHECK_OK(errand_task_cancel(t));
      if (wait_final(t)) CHECK_EQ_INT(status_of(t), ERRAND_STATUS_CANCELED);
      CHECK(wait_pid_gone(pid, CHECK_LONG_MS));
    }
    errand_task_release(t);
    o.post.run_timeout_ms = 300;
    t = start_job(f.rt, "hang", "[]", &o);
    if (t && wait_final(t)) {
      CHECK_EQ_INT(status_of(t), ERRAND_STATUS_CANCELED);
      CHECK_EQ_INT(error_code_of(t), ERRAND_E_TIMEOUT);
    }
    errand_task_release(t);
    o.post.run_timeout_ms = 0;
    t = start_job(f.rt, "index", "[]", &o);
    if (t && wait_final(t)) {
      int idx = atoi(result_of(t));
      CHECK(m ? (idx == 0 || idx == 1) : idx == 0);
    }
    errand_task_release(t);
  }
  fx_done(&f);
}

/* A command that cannot be started, or a worker that dies before its HELLO,
 * faults the one-shot job waiting for it (docs/protocol.md §6) — it is not
 * started again and again.  Also one that a SIGKILL stops at every start
 * (as the OOM killer would): errand tries a few more times, since a kill
 * from outside is not the program's fault, and then gives up too. */
TEST(a_worker_that_never_says_hello_faults_the_job) {
  errand_runtime *rt = rt_new(1);
  static const char *const nope[] = {"/nonexistent/errand-worker", NULL};
  static const char *const dies[] = {"/bin/sh", "-c", "exit 5", NULL};
  static const char *const killed[] = {"/bin/sh", "-c", "kill -9 $$", NULL};
  const char *const *cmds[3];
  int i;
  REQUIRE(rt);
  cmds[0] = nope;
  cmds[1] = dies;
  cmds[2] = killed;
  for (i = 0; i < 3; i++) {
    errand_job_options o = job_opts(ERRAND_JOB_PROCESS);
    errand_task *t;
    o.command = cmds[i];
    t = start_job(rt, "echo", "[]", &o);
    if (!t) continue;
    if (CHECK_OK(errand_wait(t, 20000))) {
      CHECK_EQ_INT(status_of(t), ERRAND_STATUS_FAULTED);
      printf("  %s: %s\n", cmds[i][0], error_msg_of(t));
      if (i == 0)
        CHECK(strstr(error_msg_of(t), "errand-worker") != NULL ||
              strstr(error_msg_of(t), "exited with code 127") != NULL);
      else if (i == 1)
        CHECK(strstr(error_msg_of(t), "exited with code 5") != NULL ||
              strstr(error_msg_of(t), "protocol error") != NULL);
      else
        CHECK(strstr(error_msg_of(t), "killed by signal SIGKILL") != NULL);
    } else {
      errand_task_cancel(t); /* do not hang the runtime's drain */
      errand_wait(t, CHECK_LONG_MS);
    }
    errand_task_release(t);
  }
  CHECK_OK(errand_runtime_destroy(rt));
}

JOB_TEST_MAIN()
