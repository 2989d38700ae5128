/*
 * test_proc_crash.c — crash containment (issue items 7 and 8): a worker
 * that segfaults, aborts, exits with a code, hangs past its timeout or
 * writes garbage on the protocol socket faults only its own job, with a
 * message naming what happened; the pool replaces it and goes on.  The
 * mixed run: 1,000 jobs (ERRAND_TEST_SCALE-scaled, at least 100), 10% of
 * each crash kind, on a resident pool — every job ends with exactly the
 * expected status, code and result, and the host is unharmed.  Retries on
 * a fresh worker stop after a set number of worker deaths and the job is
 * reported as quarantined with the deaths listed.
 */
/* ERRAND_TEST_LABELS: valgrind */
#include "test_job_common.h"

static errand_procpool *new_pool(errand_runtime *rt, int min, int max) {
  errand_procpool_options po;
  errand_procpool *pool = NULL;
  memset(&po, 0, sizeof po);
  po.min_workers = min;
  po.max_workers = max;
  po.kill_grace_ms = 100;
  if (!CHECK_OK(errand_procpool_create(rt, jc_jobs, &po, &pool))) return NULL;
  return pool;
}

typedef struct crash_case {
  const char *name;
  const char *args;
  errand_status status;
  int code;
  const char *msg; /* substring of the error message */
} crash_case;

static const crash_case crashes[] = {
    {"segv", "[]", ERRAND_STATUS_FAULTED, ERRAND_E_WORKER_DIED,
     "worker process killed by signal SIGSEGV"},
    {"abort", "[]", ERRAND_STATUS_FAULTED, ERRAND_E_WORKER_DIED,
     "worker process killed by signal SIGABRT"},
    {"exit", "{\"code\":3}", ERRAND_STATUS_FAULTED, ERRAND_E_WORKER_DIED,
     "worker process exited with code 3"},
    {"exit", "{\"code\":0}", ERRAND_STATUS_FAULTED, ERRAND_E_WORKER_DIED,
     "worker process exited with code 0"},
    {"garbage", "[]", ERRAND_STATUS_FAULTED, ERRAND_E_PROTOCOL,
     "protocol error: "},
    {"hang", "[]", ERRAND_STATUS_CANCELED, ERRAND_E_TIMEOUT,
     "run timeout of 100 ms expired"},
};
#define NCRASH ((int)(sizeof crashes / sizeof crashes[0]))

static void check_crash(errand_task *t, const crash_case *c) {
  if (!t || !wait_final(t)) return;
  if (!CHECK_EQ_INT(status_of(t), c->status) ||
      !CHECK_EQ_INT(error_code_of(t), c->code) ||
      !CHECK(strstr(error_msg_of(t), c->msg) != NULL))
    fprintf(stderr, "  job %s %s: \"%s\"\n", c->name, c->args,
            error_msg_of(t));
}

TEST(each_crash_faults_only_its_job_with_a_message) {
  errand_runtime *rt = rt_new(2);
  errand_procpool *pool;
  int m, i;
  REQUIRE(rt);
  pool = new_pool(rt, 1, 1);
  REQUIRE(pool);
  for (m = 0; m < 2; m++) {
    for (i = 0; i < NCRASH; i++) {
      errand_job_options o =
          job_opts(m ? ERRAND_JOB_WORKER : ERRAND_JOB_PROCESS);
      errand_task *t, *after;
      o.pool = pool;
      o.kill_grace_ms = 100;
      if (strcmp(crashes[i].name, "hang") == 0) o.post.run_timeout_ms = 100;
      t = start_job(rt, crashes[i].name, crashes[i].args, &o);
      /* The next job (on the one-worker pool: after the crash, on its
       * replacement) is not affected. */
      o.post.run_timeout_ms = 0;
      after = start_job(rt, "add", "[40,2]", &o);
      check_crash(t, &crashes[i]);
      if (t) printf("  %s %s %s: %s\n", mode_name(o.mode), crashes[i].name,
                    crashes[i].args, error_msg_of(t));
      if (after && wait_final(after)) CHECK_EQ_STR(result_of(after), "42");
      errand_task_release(t);
      errand_task_release(after);
    }
  }
  /* The pool replaced its worker each time and is still one worker. */
  {
    int size = -1;
    int64_t end = check_now_ms() + CHECK_LONG_MS;
    while (check_now_ms() < end) {
      CHECK_OK(errand_procpool_size(pool, &size));
      if (size == 1) break;
      check_sleep_ms(5);
    }
    CHECK_EQ_INT(size, 1);
  }
  CHECK_OK(errand_procpool_destroy(pool));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* What the garbage says, and the protocol checks the host makes as soon as
 * a length arrives (it does not wait for a 4 GiB body). */
TEST(garbage_is_a_protocol_error_at_once) {
  errand_runtime *rt = rt_new(1);
  errand_job_options o = job_opts(ERRAND_JOB_PROCESS);
  errand_task *t;
  int64_t t0;
  REQUIRE(rt);
  o.kill_grace_ms = 60000; /* a SIGKILL, not a grace, must end it */
  t0 = check_now_ms();
  t = start_job(rt, "garbage", "[]", &o);
  if (t && wait_final(t)) {
    CHECK_EQ_INT(status_of(t), ERRAND_STATUS_FAULTED);
    CHECK_EQ_INT(error_code_of(t), ERRAND_E_PROTOCOL);
    CHECK(strncmp(error_msg_of(t), "protocol error: ", 16) == 0);
    CHECK(check_now_ms() - t0 < 30000);
    printf("  %s\n", error_msg_of(t));
  }
  errand_task_release(t);
  CHECK_OK(errand_runtime_destroy(rt));
}

/* Item 7's run: a resident pool, N mixed jobs, 10% of each crash kind. */
TEST(mixed_thousand_jobs_with_ten_percent_of_each_crash) {
  int n = check_iters(1000), i, fds_before;
  errand_runtime *rt;
  errand_procpool *pool;
  errand_task **t;
  int *kind;
  int counts[MIX_KINDS] = {0};
  check_rng rng;
  uint64_t seed = check_seed("crash mix");
  if (n < 100) n = 100;
  printf("  %d jobs\n", n);
  fds_before = probe_fds();
  rt = rt_new(2);
  REQUIRE(rt);
  pool = new_pool(rt, 2, 4);
  REQUIRE(pool);
  t = (errand_task **)calloc((size_t)n, sizeof *t);
  kind = (int *)calloc((size_t)n, sizeof *kind);
  REQUIRE(t && kind);
  /* Exactly 10% of each of the five crash kinds, the rest split between
   * results and handler errors, shuffled. */
  for (i = 0; i < n; i++) {
    int slot = i * 10 / n; /* 0..9 */
    kind[i] = slot < 5 ? MIX_SEGV + slot : (slot < 8 ? MIX_OK : MIX_FAIL);
  }
  check_rng_init(&rng, seed);
  for (i = n - 1; i > 0; i--) {
    int j = (int)check_rng_below(&rng, (uint64_t)i + 1), k = kind[i];
    kind[i] = kind[j];
    kind[j] = k;
  }
  for (i = 0; i < n; i++) {
    errand_job_options o = job_opts(ERRAND_JOB_WORKER);
    char args[64];
    o.pool = pool;
    o.kill_grace_ms = 100;
    if (kind[i] == MIX_HANG) o.post.run_timeout_ms = 100;
    snprintf(args, sizeof args, "{\"kind\":%d,\"i\":%d}", kind[i], i);
    t[i] = start_job(rt, "mixed", args, &o);
    counts[kind[i]]++;
    if (!t[i]) break;
  }
  for (i = 0; i < n; i++) {
    char want[96];
    if (!t[i] || !CHECK_OK(errand_wait(t[i], 120000))) continue;
    switch (kind[i]) {
    case MIX_OK:
      snprintf(want, sizeof want, "{\"i\":%d,\"sq\":%lld}", i,
               (long long)i * i);
      CHECK_EQ_INT(status_of(t[i]), ERRAND_STATUS_RAN_TO_COMPLETION);
      CHECK_EQ_STR(result_of(t[i]), want);
      break;
    case MIX_FAIL:
      snprintf(want, sizeof want, "job %d failed", i);
      CHECK_EQ_INT(status_of(t[i]), ERRAND_STATUS_FAULTED);
      CHECK_EQ_INT(error_code_of(t[i]), 1000 + i % 1000);
      CHECK_EQ_STR(error_msg_of(t[i]), want);
      break;
    case MIX_SEGV:
    case MIX_ABORT:
    case MIX_EXIT:
    case MIX_GARBAGE: {
      static const char *const msg[] = {
          "worker process killed by signal SIGSEGV",
          "worker process killed by signal SIGABRT",
          "worker process exited with code 7", NULL, "protocol error: "};
      int c = kind[i] == MIX_GARBAGE ? ERRAND_E_PROTOCOL : ERRAND_E_WORKER_DIED;
      CHECK_EQ_INT(status_of(t[i]), ERRAND_STATUS_FAULTED);
      CHECK_EQ_INT(error_code_of(t[i]), c);
      if (!CHECK(strstr(error_msg_of(t[i]), msg[kind[i] - MIX_SEGV]) != NULL))
        fprintf(stderr, "  job %d kind %d: %s\n", i, kind[i],
                error_msg_of(t[i]));
      break;
    }
    case MIX_HANG:
      CHECK_EQ_INT(status_of(t[i]), ERRAND_STATUS_CANCELED);
      CHECK_EQ_INT(error_code_of(t[i]), ERRAND_E_TIMEOUT);
      /* It hung in a worker (the timeout did not expire in the queue). */
      CHECK(pid_of(t[i]) > 0);
      break;
    }
    if (check_failed() > 20) break; /* enough to see what is wrong */
  }
  for (i = 0; i < n; i++) errand_task_release(t[i]);
  printf("  ok %d, fail %d, segv %d, abort %d, exit %d, hang %d, garbage %d\n",
         counts[MIX_OK], counts[MIX_FAIL], counts[MIX_SEGV], counts[MIX_ABORT],
         counts[MIX_EXIT], counts[MIX_HANG], counts[MIX_GARBAGE]);
  /* The host is unharmed: it still runs jobs, and after the shutdown no
   * worker, zombie or descriptor is left. */
  {
    errand_job_options o = job_opts(ERRAND_JOB_WORKER);
    errand_task *last;
    o.pool = pool;
    last = start_job(rt, "add", "[1,1]", &o);
    if (last && wait_final(last)) CHECK_EQ_STR(result_of(last), "2");
    errand_task_release(last);
  }
  CHECK_OK(errand_procpool_destroy(pool));
  CHECK_OK(errand_runtime_destroy(rt));
  CHECK_EQ_INT(probe_children(PROBE_ZOMBIE, NULL, 0), 0);
  CHECK_EQ_INT(probe_children(PROBE_LIVE, NULL, 0), 0);
  CHECK_EQ_INT(probe_fds(), fds_before);
  free(t);
  free(kind);
}

/* Item 8: retries_on_crash = R: a job whose worker dies is started again on
 * a fresh worker, at most R times; then it is quarantined, with the deaths
 * listed.  A protocol error or a timeout is not retried. */
TEST(crash_retries_stop_and_quarantine) {
  errand_runtime *rt = rt_new(2);
  errand_procpool *pool;
  int m;
  REQUIRE(rt);
  pool = new_pool(rt, 0, 2);
  REQUIRE(pool);
  for (m = 0; m < 2; m++) {
    errand_job_options o =
        job_opts(m ? ERRAND_JOB_WORKER : ERRAND_JOB_PROCESS);
    errand_task *t;
    o.pool = pool;
    o.retries_on_crash = 2;
    t = start_job(rt, "segv", "[]", &o);
    if (t && wait_final(t)) {
      const char *msg = error_msg_of(t);
      const char *p = msg;
      int listed = 0;
      CHECK_EQ_INT(status_of(t), ERRAND_STATUS_FAULTED);
      CHECK_EQ_INT(error_code_of(t), ERRAND_E_WORKER_DIED);
      CHECK(strstr(msg, "quarantined") != NULL);
      CHECK(strstr(msg, "3 worker deaths") != NULL);
      while ((p = strstr(p, "SIGSEGV")) != NULL) {
        listed++;
        p++;
      }
      CHECK_EQ_INT(listed, 3); /* 1 + 2 retries, each death listed */
      printf("  %s: %s\n", mode_name(o.mode), msg);
    }
    errand_task_release(t);
    /* A job that does not crash is not affected by its retries. */
    t = start_job(rt, "pid", "[]", &o);
    if (t && wait_final(t))
      CHECK_EQ_INT(status_of(t), ERRAND_STATUS_RAN_TO_COMPLETION);
    errand_task_release(t);
    /* Garbage is a protocol error, never retried. */
    t = start_job(rt, "garbage", "[]", &o);
    if (t && wait_final(t)) {
      CHECK_EQ_INT(error_code_of(t), ERRAND_E_PROTOCOL);
      CHECK(strstr(error_msg_of(t), "quarantined") == NULL);
    }
    errand_task_release(t);
    /* Without retries a death is not a quarantine. */
    o.retries_on_crash = 0;
    t = start_job(rt, "abort", "[]", &o);
    if (t && wait_final(t)) {
      CHECK(strstr(error_msg_of(t), "quarantined") == NULL);
      CHECK(strstr(error_msg_of(t), "SIGABRT") != NULL);
    }
    errand_task_release(t);
  }
  CHECK_OK(errand_procpool_destroy(pool));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* A retried job runs again on a fresh worker: a job that crashes while a
 * marker file does not exist (and creates it) succeeds on its retry. */
static int h_crash_once(errand_job *job, const char *args, void *arg) {
  char path[512];
  int fd;
  (void)arg;
  if (!jstr(args, "marker", path, sizeof path))
    return errand_job_fail(job, 1, "no marker");
  fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0600);
  if (fd >= 0) {
    close(fd);
    jc_die_of(SIGSEGV); /* first run */
  }
  {
    char buf[32];
    snprintf(buf, sizeof buf, "%d", (int)getpid());
    return errand_job_return(job, buf);
  }
}

/* Puts an empty pipe where the worker reads the host's frames from (the
 * run pipe), so nothing in the worker reads the run pipe any more while
 * the worker stays, idle, waiting for frames that never come. */
static int h_swap_input(errand_job *job, const char *args, void *arg) {
  int fds[2];
  (void)args;
  (void)arg;
  if (jc_input_fd == 3)
    return errand_job_fail(job, ERRAND_E_INVALID, "no run pipe to close");
  if (pipe(fds) != 0 || dup2(fds[0], jc_input_fd) < 0)
    return errand_job_fail(job, ERRAND_E_SYSTEM, "pipe or dup2 failed");
  close(fds[0]); /* fds[1] stays open: no end of file either */
  return 0;
}

static void register_crash_once(errand_jobs *jobs) {
  errand_jobs_register(jobs, "crash_once", h_crash_once, NULL);
  errand_jobs_register(jobs, "swap_input", h_swap_input, NULL);
}

TEST(a_retry_runs_on_a_fresh_worker) {
  errand_runtime *rt = rt_new(2);
  errand_procpool *pool;
  int m;
  REQUIRE(rt);
  pool = new_pool(rt, 0, 1);
  REQUIRE(pool);
  for (m = 0; m < 2; m++) {
    errand_job_options o =
        job_opts(m ? ERRAND_JOB_WORKER : ERRAND_JOB_PROCESS);
    char args[600], marker[512];
    errand_task *t;
    o.pool = pool;
    o.retries_on_crash = 1;
    snprintf(marker, sizeof marker, "/tmp/errand_crash_once_%d_%d",
             (int)getpid(), m);
    unlink(marker);
    snprintf(args, sizeof args, "{\"marker\":\"%s\"}", marker);
    t = start_job(rt, "crash_once", args, &o);
    if (t && wait_final(t)) {
      CHECK_EQ_INT(status_of(t), ERRAND_STATUS_RAN_TO_COMPLETION);
      /* The pid it reports is the one the handle shows: the fresh worker. */
      CHECK_EQ_INT(atoi(result_of(t)), pid_of(t));
    }
    errand_task_release(t);
    unlink(marker);
  }
  CHECK_OK(errand_procpool_destroy(pool));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* The host writes a worker's frames on a pipe (docs/protocol.md), and
 * the next job for an idle worker is written by the thread that starts
 * it: a pipe nobody reads would raise SIGPIPE there, which by default ends
 * the host.  A worker that stopped reading its run pipe and stays is sent
 * a job: the host stays, the job times out, the pool goes on. */
TEST(a_worker_that_stopped_reading_cannot_take_the_host_down) {
  errand_runtime *rt = rt_new(2);
  errand_procpool *pool;
  errand_job_options o = job_opts(ERRAND_JOB_WORKER);
  errand_task *t;
  int worker = 0;
  signal(SIGPIPE, SIG_DFL);
  REQUIRE(rt);
  pool = new_pool(rt, 1, 1);
  REQUIRE(pool);
  o.pool = pool;
  t = start_job(rt, "swap_input", "[]", &o);
  if (t && wait_final(t)) {
    CHECK_EQ_INT(status_of(t), ERRAND_STATUS_RAN_TO_COMPLETION);
    worker = pid_of(t);
  }
  errand_task_release(t);
  REQUIRE(CHECK(worker > 0));
  o.post.run_timeout_ms = 300;
  t = start_job(rt, "echo", "[7]", &o);
  if (t && wait_final(t)) {
    CHECK_EQ_INT(pid_of(t), worker);
    CHECK_EQ_INT(status_of(t), ERRAND_STATUS_CANCELED);
    CHECK_EQ_INT(error_code_of(t), ERRAND_E_TIMEOUT);
  }
  errand_task_release(t);
  o.post.run_timeout_ms = 0;
  t = start_job(rt, "echo", "[8]", &o);
  if (t && wait_final(t)) {
    CHECK_EQ_STR(result_of(t), "[8]");
    CHECK(pid_of(t) != worker);
  }
  errand_task_release(t);
  CHECK_OK(errand_procpool_destroy(pool));
  CHECK_OK(errand_runtime_destroy(rt));
}

JOB_TEST_MAIN_WITH(register_crash_once)
