/*
 * test_job_registry.c — the registry and the handler's side of named jobs,
 * on threads (issue items 1 and 2): argument checks of every errand_jobs_*
 * and errand_job_* call (never a crash on NULL, released handles, bad names,
 * bad JSON), results and errors, a handler's own JSON checks, cancel and
 * run timeout of a thread job, and what a thread job reports for the
 * process-only calls (pid 0, no output, worker index -1).
 */
#include "test_job_common.h"

TEST(registry_checks_its_arguments) {
  errand_jobs *jobs = NULL, *stale = NULL;
  char longname[300];
  CHECK_RC(errand_jobs_create(NULL), ERRAND_E_INVALID);
  REQUIRE_OK(errand_jobs_create(&jobs));
  CHECK_RC(errand_jobs_register(NULL, "x", h_echo, NULL), ERRAND_E_INVALID);
  CHECK_RC(errand_jobs_register(jobs, NULL, h_echo, NULL), ERRAND_E_INVALID);
  CHECK_RC(errand_jobs_register(jobs, "x", NULL, NULL), ERRAND_E_INVALID);
  CHECK_RC(errand_jobs_register(jobs, "", h_echo, NULL), ERRAND_E_INVALID);
  CHECK_RC(errand_jobs_register(jobs, "a#b", h_echo, NULL), ERRAND_E_INVALID);
  memset(longname, 'n', sizeof longname);
  longname[256] = 0;
  CHECK_RC(errand_jobs_register(jobs, longname, h_echo, NULL),
           ERRAND_E_INVALID);
  longname[255] = 0;
  CHECK_OK(errand_jobs_register(jobs, longname, h_echo, NULL));
  CHECK_OK(errand_jobs_register(jobs, "x", h_echo, NULL));
  CHECK_OK(errand_jobs_release(jobs));
  CHECK_OK(errand_jobs_release(NULL));
  /* A released registry is reported, not used. */
  stale = jobs;
  CHECK_RC(errand_jobs_register(stale, "y", h_echo, NULL), ERRAND_E_RELEASED);
  CHECK_RC(errand_jobs_release(stale), ERRAND_E_RELEASED);
  CHECK_RC(errand_jobs_load_module(stale, "/x.so"), ERRAND_E_RELEASED);
  /* Not a registry at all: a runtime handle. */
  {
    errand_runtime *rt = rt_new(1);
    if (rt) {
      CHECK_RC(errand_jobs_register((errand_jobs *)rt, "y", h_echo, NULL),
               ERRAND_E_RELEASED);
      CHECK_OK(errand_runtime_destroy(rt));
    }
  }
}

TEST(start_checks_its_arguments) {
  errand_runtime *rt = rt_new(2);
  errand_jobs *dead = NULL;
  errand_job_options o = job_opts(ERRAND_JOB_POOL);
  errand_task *t = NULL;
  REQUIRE(rt);
  REQUIRE_OK(errand_jobs_create(&dead));
  CHECK_OK(errand_jobs_release(dead));
  CHECK_RC(errand_job_start(NULL, jc_jobs, "echo", "[]", NULL, &t),
           ERRAND_E_INVALID);
  CHECK_RC(errand_job_start(rt, NULL, "echo", "[]", NULL, &t),
           ERRAND_E_INVALID);
  CHECK_RC(errand_job_start(rt, dead, "echo", "[]", NULL, &t),
           ERRAND_E_RELEASED);
  o.mode = (errand_job_mode)7;
  CHECK_RC(errand_job_start(rt, jc_jobs, "echo", "[]", &o, &t),
           ERRAND_E_INVALID);
  o = job_opts(ERRAND_JOB_WORKER); /* no pool */
  CHECK_RC(errand_job_start(rt, jc_jobs, "echo", "[]", &o, &t),
           ERRAND_E_INVALID);
  o = job_opts(ERRAND_JOB_POOL);
  o.kill_grace_ms = -1;
  CHECK_RC(errand_job_start(rt, jc_jobs, "echo", "[]", &o, &t),
           ERRAND_E_INVALID);
  o = job_opts(ERRAND_JOB_POOL);
  o.retries_on_crash = -1;
  CHECK_RC(errand_job_start(rt, jc_jobs, "echo", "[]", &o, &t),
           ERRAND_E_INVALID);
  o = job_opts(ERRAND_JOB_POOL);
  o.post.priority = (errand_priority)9;
  CHECK_RC(errand_job_start(rt, jc_jobs, "echo", "[]", &o, &t),
           ERRAND_E_INVALID);
  CHECK(t == NULL);
  /* Valid JSON of both kinds, whitespace included; NULL options; no out. */
  CHECK_OK(errand_job_start(rt, jc_jobs, "echo", " { \"k\" : [ ] } ", NULL,
                            NULL));
  CHECK_OK(errand_job_start(rt, jc_jobs, "echo", "[\"\\u00e9\",1e3]", NULL,
                            &t));
  if (t && wait_final(t)) CHECK(strstr(result_of(t), "1e3") ||
                                strstr(result_of(t), "1000"));
  errand_task_release(t);
  CHECK_OK(errand_runtime_destroy(rt));
}

TEST(reading_calls_check_their_arguments) {
  errand_runtime *rt = rt_new(1);
  errand_task *plain = NULL, *job = NULL, *stale;
  const char *s = NULL;
  int pid = 5;
  char *data = NULL;
  REQUIRE(rt);
  /* A plain task is not a job. */
  REQUIRE_OK(errand_post(rt, noop_task, NULL, NULL, &plain));
  errand_wait(plain, -1);
  CHECK_RC(errand_job_result(plain, &s), ERRAND_E_INVALID);
  CHECK_RC(errand_job_pid(plain, &pid), ERRAND_E_INVALID);
  CHECK_RC(errand_job_output(plain, &s, NULL, NULL, NULL), ERRAND_E_INVALID);
  CHECK_RC(errand_job_data(plain, &data), ERRAND_E_INVALID);
  errand_task_release(plain);
  /* NULL handles and NULL outputs. */
  CHECK_RC(errand_job_result(NULL, &s), ERRAND_E_INVALID);
  CHECK_RC(errand_job_pid(NULL, &pid), ERRAND_E_INVALID);
  CHECK_RC(errand_job_output(NULL, NULL, NULL, NULL, NULL), ERRAND_E_INVALID);
  CHECK_RC(errand_job_data(NULL, &data), ERRAND_E_INVALID);
  CHECK_RC(errand_job_pending(NULL, 1, NULL, NULL), ERRAND_E_INVALID);
  job = start_job(rt, "echo", "[1]", NULL);
  if (job) {
    CHECK(wait_final(job));
    CHECK_RC(errand_job_result(job, NULL), ERRAND_E_INVALID);
    CHECK_RC(errand_job_pid(job, NULL), ERRAND_E_INVALID);
    CHECK_RC(errand_job_data(job, NULL), ERRAND_E_INVALID);
    CHECK_RC(errand_job_pending(job, -1, NULL, NULL), ERRAND_E_INVALID);
    /* Thread jobs: no process, no output. */
    CHECK_EQ_INT(pid_of(job), 0);
    {
      const char *out = NULL, *err = NULL;
      size_t ol = 9, el = 9;
      CHECK_OK(errand_job_output(job, &out, &ol, &err, &el));
      CHECK_EQ_INT(ol, 0);
      CHECK_EQ_INT(el, 0);
      CHECK_EQ_STR(out, "");
      CHECK_EQ_STR(err, "");
    }
    errand_task_release(job);
  }
  /* A released job handle. */
  stale = stale_task(rt);
  if (stale) {
    CHECK_RC(errand_job_result(stale, &s), ERRAND_E_RELEASED);
    CHECK_RC(errand_job_pid(stale, &pid), ERRAND_E_RELEASED);
    CHECK_RC(errand_job_data(stale, &data), ERRAND_E_RELEASED);
  }
  CHECK_OK(errand_runtime_destroy(rt));
}

/* The handler's calls: invalid JSON is refused, NULL is refused. */
static int h_checks(errand_job *job, const char *args, void *arg) {
  atomic_int *ok = (atomic_int *)arg;
  int good = 1;
  (void)args;
  good &= errand_job_return(job, "{bad") == ERRAND_E_INVALID;
  good &= errand_job_return(job, NULL) == ERRAND_E_INVALID;
  good &= errand_job_return(NULL, "1") == ERRAND_E_INVALID;
  good &= errand_job_progress(job, "x", "NaN") == ERRAND_E_INVALID;
  good &= errand_job_progress(job, NULL, "1") == ERRAND_E_INVALID;
  good &= errand_job_progress(NULL, "x", "1") == ERRAND_E_INVALID;
  good &= errand_job_progress(job, "x", NULL) == 0; /* null payload */
  good &= errand_job_sleep(NULL, 1) == ERRAND_E_INVALID;
  good &= errand_job_is_canceled(job) == 0;
  good &= errand_job_fail(NULL, 3, "x") == ERRAND_E_INVALID;
  good &= errand_job_worker_index(job) == -1; /* a thread */
  good &= errand_job_worker_index(NULL) == -1;
  /* A later return replaces an earlier one; "0" as a fail code is
   * E_FAILED. */
  good &= errand_job_return(job, "1") == 0;
  good &= errand_job_return(job, "\"two\"") == 0;
  atomic_store(ok, good);
  return 0;
}

static int h_fail_zero(errand_job *job, const char *args, void *arg) {
  (void)args;
  (void)arg;
  return errand_job_fail(job, 0, NULL);
}

TEST(handler_calls_check_their_arguments) {
  errand_runtime *rt = rt_new(1);
  errand_jobs *jobs = NULL;
  atomic_int ok;
  errand_task *t = NULL;
  atomic_init(&ok, -1);
  REQUIRE(rt);
  REQUIRE_OK(errand_jobs_create(&jobs));
  REQUIRE_OK(errand_jobs_register(jobs, "checks", h_checks, &ok));
  REQUIRE_OK(errand_jobs_register(jobs, "fail0", h_fail_zero, NULL));
  if (CHECK_OK(errand_job_start(rt, jobs, "checks", "[]", NULL, &t))) {
    if (wait_final(t)) {
      CHECK_EQ_INT(atomic_load(&ok), 1);
      CHECK_EQ_STR(result_of(t), "\"two\"");
    }
    errand_task_release(t);
  }
  if (CHECK_OK(errand_job_start(rt, jobs, "fail0", "[]", NULL, &t))) {
    if (wait_final(t)) {
      CHECK_EQ_INT(status_of(t), ERRAND_STATUS_FAULTED);
      CHECK_EQ_INT(error_code_of(t), ERRAND_E_FAILED);
    }
    errand_task_release(t);
  }
  /* Registering again replaces the handler. */
  REQUIRE_OK(errand_jobs_register(jobs, "checks", h_echo, NULL));
  if (CHECK_OK(errand_job_start(rt, jobs, "checks", "[7]", NULL, &t))) {
    if (wait_final(t)) CHECK_EQ_STR(result_of(t), "[7]");
    errand_task_release(t);
  }
  /* The registry may go while a started job still runs. */
  {
    errand_jobs *tmp = NULL;
    errand_job_options o = job_opts(ERRAND_JOB_DEDICATED);
    REQUIRE_OK(errand_jobs_create(&tmp));
    REQUIRE_OK(errand_jobs_register(tmp, "sleep", h_sleep, NULL));
    if (CHECK_OK(errand_job_start(rt, tmp, "sleep", "{\"ms\":50}", &o, &t))) {
      CHECK_OK(errand_jobs_release(tmp));
      if (wait_final(t)) CHECK_EQ_STR(result_of(t), "\"slept\"");
      errand_task_release(t);
    } else {
      errand_jobs_release(tmp);
    }
  }
  CHECK_OK(errand_jobs_release(jobs));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* Cancel and run timeout of thread jobs: errand_job_sleep returns at once. */
TEST(thread_jobs_cancel_and_time_out) {
  errand_runtime *rt = rt_new(2);
  int m;
  REQUIRE(rt);
  for (m = 0; m < 2; m++) {
    errand_job_options o = job_opts(m ? ERRAND_JOB_DEDICATED : ERRAND_JOB_POOL);
    errand_task *t = start_job(rt, "sleep", "{\"ms\":600000}", &o);
    int64_t t0 = check_now_ms();
    if (!t) break;
    REQUIRE(wait_status(t, ERRAND_STATUS_RUNNING, CHECK_LONG_MS));
    CHECK_OK(errand_task_cancel(t));
    if (wait_final(t)) {
      CHECK_EQ_INT(status_of(t), ERRAND_STATUS_CANCELED);
      CHECK(check_now_ms() - t0 < CHECK_LONG_MS);
    }
    errand_task_release(t);
    o.post.run_timeout_ms = 50;
    t = start_job(rt, "sleep", "{\"ms\":600000}", &o);
    if (t && wait_final(t)) {
      CHECK_EQ_INT(status_of(t), ERRAND_STATUS_CANCELED);
      CHECK_EQ_INT(error_code_of(t), ERRAND_E_TIMEOUT);
      CHECK(strstr(error_msg_of(t), "timeout") != NULL);
    }
    errand_task_release(t);
    /* A handler that ends with its own message after the timeout: the job
     * still ends CANCELED and its error still says it timed out. */
    t = start_job(rt, "sleep", "{\"ms\":600000,\"say\":1}", &o);
    if (t && wait_final(t)) {
      CHECK_EQ_INT(status_of(t), ERRAND_STATUS_CANCELED);
      CHECK_EQ_INT(error_code_of(t), ERRAND_E_TIMEOUT);
      CHECK(strstr(error_msg_of(t), "timeout") != NULL);
      printf("  handler's own message after a timeout: \"%s\"\n",
             error_msg_of(t));
    }
    errand_task_release(t);
  }
  CHECK_OK(errand_runtime_destroy(rt));
}

/* The options of errand_post reach the job: name, priority, delay. */
TEST(post_options_reach_the_job) {
  errand_runtime *rt = rt_new(1);
  errand_job_options o = job_opts(ERRAND_JOB_POOL);
  errand_task *t;
  const char *name = NULL;
  int64_t t0;
  REQUIRE(rt);
  t = start_job(rt, "echo", "[]", &o);
  if (t) {
    CHECK_OK(errand_task_name(t, &name));
    CHECK_EQ_STR(name, "echo"); /* defaults to the job's name */
    errand_wait(t, -1);
    errand_task_release(t);
  }
  o.post.name = "my echo";
  o.post.delay_ms = 100;
  t0 = check_now_ms();
  t = start_job(rt, "echo", "[]", &o);
  if (t) {
    CHECK_OK(errand_task_name(t, &name));
    CHECK_EQ_STR(name, "my echo");
    CHECK(wait_final(t));
    CHECK(check_now_ms() - t0 >= 95);
    errand_task_release(t);
  }
  CHECK_OK(errand_runtime_destroy(rt));
}

int main(int argc, char **argv) {
  int rc;
  jc_jobs = test_registry();
  rc = check_run(argc, argv);
  errand_jobs_release(jc_jobs);
  return rc;
}
