/*
 * test_job_modes.c — one named job, four modes (issue items 1, 2, 4): the
 * same registered handlers started by name with JSON arguments on a pool
 * thread, on a dedicated thread, in a one-shot child process (this program
 * re-executed) and in a resident worker pool give the same results, the
 * same errors (code + message text, seed 003) and the same progress events,
 * in order, on the loop's thread.  A job may also name a shared-object
 * module by path (file://.../timer.so, seed 002's timer) in every mode.
 * Unknown names and arguments that are not JSON are errors at start.
 */
/* ERRAND_TEST_LABELS: valgrind */
#include "test_job_common.h"

static const errand_job_mode all_modes[] = {
    ERRAND_JOB_POOL, ERRAND_JOB_DEDICATED, ERRAND_JOB_PROCESS,
    ERRAND_JOB_WORKER};
#define NMODES 4

/* A runtime with one pool worker and a resident pool of two processes. */
typedef struct fixture {
  errand_runtime *rt;
  errand_procpool *pool;
} fixture;

static int fx_init(fixture *f, int workers) {
  errand_procpool_options po;
  memset(f, 0, sizeof *f);
  f->rt = rt_new(workers);
  if (!f->rt) return 0;
  memset(&po, 0, sizeof po);
  po.max_workers = 2;
  po.kill_grace_ms = 500;
  return CHECK_OK(errand_procpool_create(f->rt, jc_jobs, &po, &f->pool));
}

static void fx_done(fixture *f) {
  CHECK_OK(errand_procpool_destroy(f->pool));
  CHECK_OK(errand_runtime_destroy(f->rt));
}

static errand_job_options opts_for(fixture *f, errand_job_mode m) {
  errand_job_options o = job_opts(m);
  if (m == ERRAND_JOB_WORKER) o.pool = f->pool;
  return o;
}

TEST(results_are_the_same_in_every_mode) {
  fixture f;
  int i;
  REQUIRE(fx_init(&f, 2));
  for (i = 0; i < NMODES; i++) {
    errand_job_options o = opts_for(&f, all_modes[i]);
    errand_task *add = start_job(f.rt, "add", "[1,2,3]", &o);
    errand_task *echo =
        start_job(f.rt, "echo", "{\"a\":[1,\"x\"],\"b\":null}", &o);
    errand_task *none = start_job(f.rt, "echo", NULL, &o);
    errand_task *nores = start_job(f.rt, "print", "[]", &o);
    void *v = NULL;
    printf("  mode %s\n", mode_name(all_modes[i]));
    if (!add || !echo || !none || !nores) break;
    if (wait_final(add)) {
      CHECK_EQ_INT(status_of(add), ERRAND_STATUS_RAN_TO_COMPLETION);
      CHECK_EQ_STR(result_of(add), "6");
      /* The task's value is the same JSON text. */
      if (CHECK_OK(errand_task_result(add, &v))) CHECK_EQ_STR((char *)v, "6");
    }
    if (wait_final(echo)) {
      /* Compact JSON either way; an object keeps its members. */
      const char *r = result_of(echo);
      CHECK(strstr(r, "\"a\"") && strstr(r, "\"x\"") && strstr(r, "null"));
    }
    if (wait_final(none)) CHECK_EQ_STR(result_of(none), "[]");
    /* A handler that sets no result gives JSON null. */
    if (wait_final(nores)) CHECK_EQ_STR(result_of(nores), "null");
    errand_task_release(add);
    errand_task_release(echo);
    errand_task_release(none);
    errand_task_release(nores);
  }
  fx_done(&f);
}

TEST(errors_keep_code_and_message_in_every_mode) {
  fixture f;
  int i;
  REQUIRE(fx_init(&f, 2));
  for (i = 0; i < NMODES; i++) {
    errand_job_options o = opts_for(&f, all_modes[i]);
    errand_task *t = start_job(f.rt, "fail", "[\"why\"]", &o);
    const char *json = NULL;
    char *data = NULL;
    printf("  mode %s\n", mode_name(all_modes[i]));
    if (!t) break;
    if (wait_final(t)) {
      CHECK_EQ_INT(status_of(t), ERRAND_STATUS_FAULTED);
      CHECK_EQ_INT(flags_of(t), ERRAND_FLAG_COMPLETED | ERRAND_FLAG_FAULTED);
      CHECK_EQ_INT(error_code_of(t), 42);
      CHECK_EQ_STR(error_msg_of(t), "no: [\"why\"]");
      /* errand_job_result reports a fault as errand_task_result does. */
      CHECK_RC(errand_job_result(t, &json), ERRAND_E_FAILED);
    }
    /* Seed 003: the error travels as the result's text. */
    CHECK_RC(errand_job_data(t, &data), 42);
    CHECK_EQ_STR(errand_last_error(), "no: [\"why\"]");
    CHECK(data == NULL);
    /* The handler's own argument check. */
    t = start_job(f.rt, "add", "[1,\"two\"]", &o);
    if (t && wait_final(t)) {
      CHECK_EQ_INT(error_code_of(t), ERRAND_E_INVALID);
      CHECK_EQ_STR(error_msg_of(t), "add wants integers");
    }
    errand_task_release(t);
  }
  fx_done(&f);
}

/* Progress events reach a loop subscriber in order, on the loop's thread,
 * before the completion, whatever the mode. */
TEST(progress_events_in_order_on_the_loop_in_every_mode) {
  fixture f;
  errand_loop *loop = NULL;
  int i;
  REQUIRE(fx_init(&f, 1));
  REQUIRE_OK(errand_loop_create(f.rt, &loop));
  for (i = 0; i < NMODES; i++) {
    errand_job_mode m = all_modes[i];
    errand_job_options o = opts_for(&f, m);
    ev_log log;
    gate g;
    errand_task *hold = NULL, *t;
    int k;
    printf("  mode %s\n", mode_name(m));
    ev_log_init(&log);
    gate_init(&g);
    atomic_store(&jc_go, 0);
    /* Subscribe before anything can be emitted: the pool's only worker is
     * held (pool and process jobs start from it), a dedicated job waits
     * for jc_go. */
    if (m != ERRAND_JOB_DEDICATED)
      REQUIRE(hold_workers(f.rt, &g, 1, &hold));
    t = start_job(f.rt,
                  m == ERRAND_JOB_DEDICATED ? "progress_after_go" : "progress",
                  "{\"count\":20}", &o);
    if (!t) {
      gate_open(&g);
      errand_task_release(hold);
      break;
    }
    CHECK_OK(errand_task_on_event(t, loop, ev_cb, &log));
    gate_open(&g);
    atomic_store(&jc_go, 1);
    CHECK_OK(errand_loop_run_until(loop, t, CHECK_LONG_MS));
    CHECK_EQ_INT(status_of(t), ERRAND_STATUS_RAN_TO_COMPLETION);
    CHECK_EQ_STR(result_of(t), "{\"done\":20}");
    CHECK_EQ_INT(log.n, 20);
    CHECK_EQ_INT(log.wrong_thread, 0);
    for (k = 0; k < log.n && k < 20; k++) {
      char want[32];
      snprintf(want, sizeof want, "{\"n\":%d}", k);
      if (!CHECK_EQ_STR(log.names[k], "tick")) break;
      if (!CHECK_EQ_STR(log.data[k], want)) break;
    }
    errand_task_release(t);
    if (hold) {
      errand_wait(hold, -1);
      errand_task_release(hold);
    }
  }
  CHECK_OK(errand_loop_destroy(loop));
  fx_done(&f);
}

/* errand_job_start must fail with E_INVALID; a job it starts anyway is
 * waited for and released. */
static int expect_invalid(fixture *f, const errand_job_options *o,
                          const char *name, const char *args,
                          errand_task **t) {
  errand_task *before = *t;
  int rc = errand_job_start(f->rt, jc_jobs, name, args, o, t);
  if (CHECK_RC(rc, ERRAND_E_INVALID)) return 1;
  if (rc == 0 && *t != before) {
    errand_task_cancel(*t);
    errand_wait(*t, CHECK_LONG_MS);
    errand_task_release(*t);
    *t = before;
  }
  return 0;
}

/* Item 1: an unknown name or arguments that are not a JSON array or object
 * are a clear error at start, in every mode. */
TEST(bad_name_or_args_fail_at_start_in_every_mode) {
  fixture f;
  int i;
  static const char *const bad_args[] = {"{bad", "[1,2", "5", "\"text\"",
                                         "null", "[1] x", "", "{'a':1}"};
  REQUIRE(fx_init(&f, 1));
  for (i = 0; i < NMODES; i++) {
    errand_job_options o = opts_for(&f, all_modes[i]);
    errand_task *t = (errand_task *)0x1;
    size_t k;
    printf("  mode %s\n", mode_name(all_modes[i]));
    if (expect_invalid(&f, &o, "no_such_job", "[]", &t))
      CHECK(strstr(errand_last_error(), "unknown job name: no_such_job"));
    for (k = 0; k < sizeof bad_args / sizeof bad_args[0]; k++)
      if (!expect_invalid(&f, &o, "echo", bad_args[k], &t))
        fprintf(stderr, "  args: '%s'\n", bad_args[k]);
    expect_invalid(&f, &o, "", "[]", &t);
    expect_invalid(&f, &o, NULL, "[]", &t);
    /* Nothing was handed out. */
    CHECK(t == (errand_task *)0x1);
  }
  fx_done(&f);
}

/* Seed 002's timer as a module, named by path, in every mode. */
TEST(module_by_path_in_every_mode) {
  fixture f;
  errand_loop *loop = NULL;
  char path[4096], name[4200];
  int i;
  if (!timer_module_path(path, sizeof path)) return;
  REQUIRE(fx_init(&f, 1));
  REQUIRE_OK(errand_loop_create(f.rt, &loop));
  for (i = 0; i < NMODES * 2; i++) {
    errand_job_mode m = all_modes[i % NMODES];
    errand_job_options o = opts_for(&f, m);
    ev_log log;
    errand_task *t;
    int k;
    /* file://<path> (its only handler) and file://<path>#timer. */
    snprintf(name, sizeof name, "file://%s%s", path,
             i < NMODES ? "" : "#timer");
    printf("  mode %s, %s\n", mode_name(m), i < NMODES ? "path" : "#timer");
    ev_log_init(&log);
    /* The timer sleeps interval_ms before its first event: enough to
     * subscribe. */
    t = start_job(f.rt, name,
                  "{\"jobId\":\"m7\",\"interval_ms\":100,\"count\":3}", &o);
    if (!t) break;
    CHECK_OK(errand_task_on_event(t, loop, ev_cb, &log));
    CHECK_OK(errand_loop_run_until(loop, t, CHECK_LONG_MS));
    CHECK_EQ_INT(status_of(t), ERRAND_STATUS_RAN_TO_COMPLETION);
    CHECK_EQ_STR(result_of(t), "{\"done\":3}");
    CHECK_EQ_INT(log.n, 3);
    for (k = 0; k < log.n && k < 3; k++) {
      char want[64];
      snprintf(want, sizeof want, "{\"jobId\":\"m7\",\"number\":%d}", k);
      CHECK_EQ_STR(log.names[k], "job-timer-progress");
      CHECK_EQ_STR(log.data[k], want);
    }
    errand_task_release(t);
  }
  CHECK_OK(errand_loop_destroy(loop));
  fx_done(&f);
}

TEST(module_errors) {
  fixture f;
  char path[4096], name[4200];
  errand_task *t = NULL;
  int i;
  errand_jobs *jobs = NULL;
  REQUIRE(fx_init(&f, 1));
  /* A path that does not load, in the modes that resolve at start. */
  for (i = 0; i < 3; i++) {
    errand_job_options o = opts_for(&f, all_modes[i]);
    if (CHECK_RC(errand_job_start(f.rt, jc_jobs, "file:///no/such/module.so",
                                  "[]", &o, &t),
                 ERRAND_E_INVALID))
      CHECK(strstr(errand_last_error(), "/no/such/module.so") != NULL);
  }
  /* A resident worker reports it as the job's error (code 1). */
  {
    errand_job_options o = opts_for(&f, ERRAND_JOB_WORKER);
    int rc = errand_job_start(f.rt, jc_jobs, "file:///no/such/module.so",
                              "[]", &o, &t);
    if (rc == 0) {
      if (wait_final(t)) {
        CHECK_EQ_INT(status_of(t), ERRAND_STATUS_FAULTED);
        CHECK_EQ_INT(error_code_of(t), ERRAND_E_INVALID);
        CHECK(strstr(error_msg_of(t), "/no/such/module.so") != NULL);
      }
      errand_task_release(t);
    } else {
      CHECK_RC(rc, ERRAND_E_INVALID);
    }
  }
  if (timer_module_path(path, sizeof path)) {
    errand_job_options o = opts_for(&f, ERRAND_JOB_POOL);
    snprintf(name, sizeof name, "file://%s#no_handler", path);
    if (CHECK_RC(errand_job_start(f.rt, jc_jobs, name, "[]", &o, &t),
                 ERRAND_E_INVALID))
      CHECK(strstr(errand_last_error(), "no_handler") != NULL);
    /* errand_jobs_load_module: the module's names join a registry. */
    REQUIRE_OK(errand_jobs_create(&jobs));
    CHECK_RC(errand_jobs_load_module(jobs, "/no/such/module.so"),
             ERRAND_E_INVALID);
    CHECK_RC(errand_jobs_load_module(jobs, NULL), ERRAND_E_INVALID);
    CHECK_RC(errand_jobs_load_module(NULL, path), ERRAND_E_INVALID);
    if (CHECK_OK(errand_jobs_load_module(jobs, path))) {
      if (CHECK_OK(errand_job_start(f.rt, jobs, "timer",
                                    "{\"jobId\":9,\"interval_ms\":1,"
                                    "\"count\":2}",
                                    &o, &t))) {
        if (wait_final(t)) CHECK_EQ_STR(result_of(t), "{\"done\":2}");
        errand_task_release(t);
      }
    }
    /* Its bad arguments are its own error. */
    snprintf(name, sizeof name, "file://%s", path);
    t = start_job(f.rt, name, "{\"interval_ms\":-1}", &o);
    if (t && wait_final(t)) {
      CHECK_EQ_INT(status_of(t), ERRAND_STATUS_FAULTED);
      CHECK_EQ_INT(error_code_of(t), ERRAND_E_INVALID);
    }
    errand_task_release(t);
    CHECK_OK(errand_jobs_release(jobs));
  }
  fx_done(&f);
}

JOB_TEST_MAIN()
