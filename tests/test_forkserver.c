/*
 * test_forkserver.c — one-shot process jobs of this program come from a
 * fork server (src/platform/forkserver.c): each job still gets a fresh
 * process, with the host's directory and environment of the moment it
 * starts; the server may die at any time without costing a job more than
 * the status of a worker that crashes after it; a fork that fails fails
 * only its job; nothing is left behind.
 */
/* ERRAND_TEST_LABELS: valgrind */
#include "test_job_common.h"

#include <limits.h>

/* A process-wide counter: a fresh process sees 0. */
static int fs_calls;

static int h_count(errand_job *job, const char *args, void *arg) {
  char buf[64];
  (void)args;
  (void)arg;
  snprintf(buf, sizeof buf, "[%d,%d]", ++fs_calls, (int)getpid());
  return errand_job_return(job, buf);
}

/* {"var":NAME}: the variable's value as a JSON string, or null. */
static int h_getenv(errand_job *job, const char *args, void *arg) {
  char name[64], buf[256];
  const char *v;
  (void)arg;
  if (!jstr(args, "var", name, sizeof name))
    return errand_job_fail(job, 1, "no var");
  v = getenv(name);
  if (v)
    snprintf(buf, sizeof buf, "\"%s\"", v);
  else
    snprintf(buf, sizeof buf, "null");
  return errand_job_return(job, buf);
}

static int h_cwd(errand_job *job, const char *args, void *arg) {
  char dir[PATH_MAX], buf[PATH_MAX + 8];
  (void)args;
  (void)arg;
  if (!getcwd(dir, sizeof dir)) return errand_job_fail(job, 1, "getcwd");
  snprintf(buf, sizeof buf, "\"%s\"", dir);
  return errand_job_return(job, buf);
}

static void fs_register(errand_jobs *jobs) {
  errand_jobs_register(jobs, "count", h_count, NULL);
  errand_jobs_register(jobs, "getenv", h_getenv, NULL);
  errand_jobs_register(jobs, "cwd", h_cwd, NULL);
}

/* The live fork server among our descendants, or 0. */
static int fork_server_pid(void) {
  int pids[64], n = probe_children(PROBE_LIVE, pids, 64), i;
  for (i = 0; i < n; i++)
    if (probe_is_fork_server(pids[i])) return pids[i];
  return 0;
}

static errand_task *process_job(errand_runtime *rt, const char *name,
                                const char *args) {
  errand_job_options o = job_opts(ERRAND_JOB_PROCESS);
  o.kill_grace_ms = 200;
  return start_job(rt, name, args, &o);
}

/* Runs name(args) in a fresh process and checks its result. */
static void run_expect(errand_runtime *rt, const char *name, const char *args,
                       const char *want) {
  errand_task *t = process_job(rt, name, args);
  if (t && wait_final(t)) CHECK_EQ_STR(result_of(t), want);
  errand_task_release(t);
}

static int wait_running_pid(errand_task *t) {
  int64_t end = check_now_ms() + CHECK_LONG_MS;
  errand_status s = ERRAND_STATUS_CREATED;
  int pid = 0;
  while (check_now_ms() < end) {
    if (errand_task_status(t, &s) == 0 && s == ERRAND_STATUS_RUNNING &&
        (pid = pid_of(t)) > 0)
      return pid;
    check_sleep_ms(2);
  }
  return 0;
}

TEST(every_job_gets_a_fresh_process) {
  errand_runtime *rt = rt_new(2);
  int pids[12], i, k;
  REQUIRE(rt);
  for (i = 0; i < 12; i++) {
    errand_task *t = process_job(rt, "count", "[]");
    int calls = 0;
    pids[i] = 0;
    if (t && wait_final(t))
      CHECK_EQ_INT(sscanf(result_of(t), "[%d,%d]", &calls, &pids[i]), 2);
    /* No state of an earlier job, nor of the server, reaches this one. */
    CHECK_EQ_INT(calls, 1);
    CHECK(pids[i] > 0 && pids[i] != (int)getpid());
    if (t) CHECK_EQ_INT(pid_of(t), pids[i]);
    for (k = 0; k < i; k++) CHECK(pids[k] != pids[i]);
    errand_task_release(t);
  }
  CHECK(fork_server_pid() > 0);
  CHECK_OK(errand_runtime_destroy(rt));
  CHECK_EQ_INT(fork_server_pid(), 0);
}

TEST(a_job_sees_the_directory_and_environment_of_its_start) {
  errand_runtime *rt = rt_new(2);
  char dir[] = "/tmp/errand-fs-XXXXXX", old[PATH_MAX], want[PATH_MAX + 8];
  REQUIRE(rt);
  REQUIRE(getcwd(old, sizeof old) != NULL);
  unsetenv("ERRAND_FS_TEST");
  run_expect(rt, "getenv", "{\"var\":\"ERRAND_FS_TEST\"}", "null");
  /* The server is up now; what changes after it must still reach jobs. */
  CHECK(fork_server_pid() > 0);
  setenv("ERRAND_FS_TEST", "first", 1);
  run_expect(rt, "getenv", "{\"var\":\"ERRAND_FS_TEST\"}", "\"first\"");
  setenv("ERRAND_FS_TEST", "second", 1);
  run_expect(rt, "getenv", "{\"var\":\"ERRAND_FS_TEST\"}", "\"second\"");
  unsetenv("ERRAND_FS_TEST");
  run_expect(rt, "getenv", "{\"var\":\"ERRAND_FS_TEST\"}", "null");
  /* errand's own worker variables are not the job's business. */
  run_expect(rt, "getenv", "{\"var\":\"ERRAND_WORKER\"}", "null");
  REQUIRE(mkdtemp(dir) != NULL);
  REQUIRE(chdir(dir) == 0);
  snprintf(want, sizeof want, "\"%s\"", dir);
  run_expect(rt, "cwd", "[]", want);
  CHECK_EQ_INT(chdir(old), 0);
  snprintf(want, sizeof want, "\"%s\"", old);
  run_expect(rt, "cwd", "[]", want);
  rmdir(dir);
  CHECK_OK(errand_runtime_destroy(rt));
}

TEST(a_killed_idle_server_is_replaced) {
  errand_runtime *rt;
  int server, round, rounds = check_iters(20);
  rt = rt_new(2);
  REQUIRE(rt);
  run_expect(rt, "add", "[1,2]", "3");
  for (round = 0; round < rounds; round++) {
    int next;
    server = fork_server_pid();
    REQUIRE(server > 0);
    CHECK_EQ_INT(kill(server, SIGKILL), 0);
    /* The host notices and reaps it: it is not left a zombie.  (A zombie
     * counts as gone here, so the next job may reach the host before the
     * server's end of file does: it must go to a new server all the same,
     * not leave the pool without one.) */
    CHECK(wait_pid_gone(server, CHECK_LONG_MS));
    run_expect(rt, "add", "[2,3]", "5");
    next = fork_server_pid();
    if (!CHECK(next > 0 && next != server)) break;
  }
  CHECK_OK(errand_runtime_destroy(rt));
}

TEST(a_running_job_outlives_its_server) {
  errand_runtime *rt;
  errand_task *t;
  int server, pid;
  rt = rt_new(2);
  REQUIRE(rt);
  t = process_job(rt, "sleep", "{\"ms\":300}");
  REQUIRE(t);
  pid = wait_running_pid(t);
  CHECK(pid > 0);
  server = fork_server_pid();
  REQUIRE(server > 0 && server != pid);
  CHECK_EQ_INT(kill(server, SIGKILL), 0);
  if (wait_final(t)) CHECK_EQ_STR(result_of(t), "\"slept\"");
  errand_task_release(t);
  /* The orphan is gone once its job is done, and new jobs still run. */
  CHECK(wait_pid_gone(pid, CHECK_LONG_MS));
  run_expect(rt, "add", "[4,5]", "9");
  CHECK_OK(errand_runtime_destroy(rt));
  CHECK_EQ_INT(probe_children(PROBE_ANY, NULL, 0), 0);
}

TEST(an_orphan_that_dies_faults_its_job_and_says_how_much_is_known) {
  errand_runtime *rt;
  errand_task *t;
  int server, pid, code = 0;
  const char *m = "";
  rt = rt_new(2);
  REQUIRE(rt);
  t = process_job(rt, "hang", "[]");
  REQUIRE(t);
  pid = wait_running_pid(t);
  server = fork_server_pid();
  REQUIRE(pid > 0 && server > 0);
  CHECK_EQ_INT(kill(server, SIGKILL), 0);
  CHECK(wait_pid_gone(server, CHECK_LONG_MS));
  CHECK_EQ_INT(kill(pid, SIGKILL), 0);
  if (wait_final(t)) {
    CHECK_EQ_INT(status_of(t), ERRAND_STATUS_FAULTED);
    errand_task_error(t, &code, &m);
    CHECK_EQ_INT(code, ERRAND_E_WORKER_DIED);
    /* Linux 6.15 keeps a non-child's status for its pidfd (once it is
     * reaped); otherwise the message says it is unknown and why. */
    if (!strstr(m, "killed by signal SIGKILL"))
      CHECK_EQ_STR(m, "worker process ended; its exit status is unknown "
                      "(errand's fork server ended before it)");
  }
  errand_task_release(t);
  run_expect(rt, "add", "[1]", "1");
  CHECK_OK(errand_runtime_destroy(rt));
}

TEST(a_crash_and_a_cancel_in_a_forked_worker_read_as_before) {
  errand_runtime *rt = rt_new(2);
  errand_task *t;
  int code = 0;
  const char *m = "";
  REQUIRE(rt);
  t = process_job(rt, "segv", "[]");
  if (t && wait_final(t)) {
    CHECK_EQ_INT(status_of(t), ERRAND_STATUS_FAULTED);
    errand_task_error(t, &code, &m);
    CHECK_EQ_INT(code, ERRAND_E_WORKER_DIED);
    CHECK_EQ_STR(m, "worker process killed by signal SIGSEGV (11)");
  }
  errand_task_release(t);
  t = process_job(rt, "hang_noterm", "[]");
  if (t && wait_running_pid(t) > 0) {
    int pid = pid_of(t);
    int64_t t0;
    check_sleep_ms(100); /* the handler ignores SIGTERM by now */
    t0 = check_now_ms();
    CHECK_OK(errand_task_cancel(t));
    if (wait_final(t)) {
      CHECK_EQ_INT(status_of(t), ERRAND_STATUS_CANCELED);
      CHECK_EQ_INT(error_code_of(t), ERRAND_E_CANCELED);
      /* SIGKILL after the 200 ms grace, from the host that did not fork it. */
      CHECK(check_now_ms() - t0 >= 180);
    }
    CHECK(wait_pid_gone(pid, CHECK_LONG_MS));
  }
  errand_task_release(t);
  CHECK_OK(errand_runtime_destroy(rt));
}

TEST(a_failed_fork_fails_only_its_job) {
  errand_runtime *rt;
  errand_task *t;
  int code = 0;
  const char *m = "";
  /* Read by the server this runtime starts, at its first fork. */
  setenv("ERRAND_FAIL_FORK", "1", 1);
  rt = rt_new(2);
  REQUIRE(rt);
  t = process_job(rt, "add", "[1,1]");
  if (t && wait_final(t)) {
    CHECK_EQ_INT(status_of(t), ERRAND_STATUS_FAULTED);
    errand_task_error(t, &code, &m);
    CHECK_EQ_INT(code, ERRAND_E_SYSTEM);
    CHECK_EQ_STR(m, "cannot start a worker: fork failed: Resource "
                    "temporarily unavailable");
  }
  /* The server started while it was set; the worker it forks next no
   * longer sees it. */
  unsetenv("ERRAND_FAIL_FORK");
  errand_task_release(t);
  run_expect(rt, "add", "[1,1]", "2");
  CHECK_OK(errand_runtime_destroy(rt));
}

TEST(many_jobs_at_once_leave_nothing_behind) {
  int fds_before = probe_fds(), i, n = check_iters(40);
  errand_runtime *rt = rt_new(2);
  errand_task **t;
  REQUIRE(rt);
  t = (errand_task **)calloc((size_t)n, sizeof *t);
  REQUIRE(t);
  for (i = 0; i < n; i++) {
    char args[32];
    snprintf(args, sizeof args, "[%d,1]", i);
    t[i] = process_job(rt, i % 5 == 4 ? "exit" : "add", args);
  }
  for (i = 0; i < n; i++) {
    char want[32];
    if (!t[i] || !wait_final(t[i])) continue;
    if (i % 5 == 4) {
      CHECK_EQ_INT(status_of(t[i]), ERRAND_STATUS_FAULTED);
    } else {
      snprintf(want, sizeof want, "%d", i + 1);
      CHECK_EQ_STR(result_of(t[i]), want);
    }
    errand_task_release(t[i]);
  }
  free(t);
  CHECK_OK(errand_runtime_destroy(rt));
  CHECK_EQ_INT(probe_children(PROBE_ANY, NULL, 0), 0);
  CHECK_EQ_INT(probe_fds(), fds_before);
}

/* Between jobs the server keeps a process forked ahead for the next one
 * (the spare): it is the server's only live child once a job is done. */
static int spare_pid(int server) {
  int pids[64], n = probe_children(PROBE_LIVE, pids, 64), i, found = 0;
  for (i = 0; i < n; i++)
    if (probe_parent(pids[i]) == server) {
      if (found) return -1; /* more than one */
      found = pids[i];
    }
  return found;
}

TEST(a_spare_waits_for_the_next_job_and_its_death_costs_none) {
  errand_runtime *rt = rt_new(2);
  int server, spare = 0, round, calls = 0, pid = 0;
  int64_t end;
  REQUIRE(rt);
  run_expect(rt, "add", "[1,2]", "3");
  server = fork_server_pid();
  REQUIRE(server > 0);
  end = check_now_ms() + CHECK_LONG_MS;
  while ((spare = spare_pid(server)) <= 0 && check_now_ms() < end)
    check_sleep_ms(2);
  CHECK(spare > 0);
  /* The next job runs in it: a fresh process all the same. */
  {
    errand_task *t = process_job(rt, "count", "[]");
    if (t && wait_final(t))
      CHECK_EQ_INT(sscanf(result_of(t), "[%d,%d]", &calls, &pid), 2);
    CHECK_EQ_INT(calls, 1);
    CHECK_EQ_INT(pid, spare);
    errand_task_release(t);
  }
  /* A spare killed while it waits is replaced; no job notices. */
  for (round = 0; round < 3; round++) {
    end = check_now_ms() + CHECK_LONG_MS;
    while ((spare = spare_pid(server)) <= 0 && check_now_ms() < end)
      check_sleep_ms(2);
    if (!CHECK(spare > 0)) break;
    CHECK_EQ_INT(kill(spare, SIGKILL), 0);
    CHECK(wait_pid_gone(spare, CHECK_LONG_MS));
    run_expect(rt, "add", "[2,3]", "5");
  }
  CHECK_EQ_INT(fork_server_pid(), server);
  CHECK_OK(errand_runtime_destroy(rt));
  /* The server takes its spare with it. */
  CHECK_EQ_INT(probe_children(PROBE_ANY, NULL, 0), 0);
}

/* A fork server that dies before it says it is up (here: killed at its
 * start, as a kill -9 from outside could) is one failed start, however
 * many jobs were waiting for it: none of them faults, they run in workers
 * started without the server. */
TEST(a_server_killed_at_its_start_costs_no_job) {
  errand_runtime *rt;
  errand_task *t[4];
  int i;
  setenv("ERRAND_FS_TEST_DIE", "1", 1);
  rt = rt_new(2);
  REQUIRE(rt);
  for (i = 0; i < 4; i++) {
    char args[32];
    snprintf(args, sizeof args, "[%d,1]", i);
    t[i] = process_job(rt, "add", args);
  }
  for (i = 0; i < 4; i++) {
    char want[32];
    snprintf(want, sizeof want, "%d", i + 1);
    if (t[i] && wait_final(t[i])) {
      CHECK_EQ_INT(status_of(t[i]), ERRAND_STATUS_RAN_TO_COMPLETION);
      CHECK_EQ_STR(result_of(t[i]), want);
    }
    errand_task_release(t[i]);
  }
  unsetenv("ERRAND_FS_TEST_DIE");
  CHECK_OK(errand_runtime_destroy(rt));
  CHECK_EQ_INT(probe_children(PROBE_ANY, NULL, 0), 0);
}

static void fs_setup(errand_jobs *jobs) {
  /* See a_server_killed_at_its_start_costs_no_job. */
  const char *w = getenv("ERRAND_WORKER");
  if (w && strcmp(w, "fork-server") == 0 && getenv("ERRAND_FS_TEST_DIE"))
    raise(SIGKILL);
  fs_register(jobs);
}

JOB_TEST_MAIN_WITH(fs_setup)
