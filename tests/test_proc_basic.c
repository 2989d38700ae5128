/*
 * test_proc_basic.c — process jobs, the host's side (issue items 6, 8, 10):
 * the pid while a job runs; cancel = SIGTERM then SIGKILL after a
 * configurable grace; a per-job run timeout does the same and says so;
 * stdout/stderr captured per job; cancel and timeout kill the worker's
 * whole process group (a grandchild does not survive); every worker knows
 * its index; no zombies, no leaked descriptors; errand never reaps a child
 * the host started itself; shutdown kills and reaps every worker.
 */
/* ERRAND_TEST_LABELS: valgrind */
#include "test_job_common.h"

static errand_procpool *new_pool(errand_runtime *rt, int min, int max,
                                 int64_t grace_ms) {
  errand_procpool_options po;
  errand_procpool *pool = NULL;
  memset(&po, 0, sizeof po);
  po.min_workers = min;
  po.max_workers = max;
  po.kill_grace_ms = grace_ms;
  if (!CHECK_OK(errand_procpool_create(rt, jc_jobs, &po, &pool))) return NULL;
  return pool;
}

/* A job in `mode` (pool given for ERRAND_JOB_WORKER). */
static errand_job_options opts_in(errand_job_mode mode, errand_procpool *p) {
  errand_job_options o = job_opts(mode);
  o.pool = p;
  return o;
}

TEST(pid_is_visible_while_the_job_runs) {
  errand_runtime *rt = rt_new(2);
  errand_procpool *pool;
  int m;
  REQUIRE(rt);
  pool = new_pool(rt, 0, 1, 0);
  for (m = 0; m < 2 && pool; m++) {
    errand_job_options o =
        opts_in(m ? ERRAND_JOB_WORKER : ERRAND_JOB_PROCESS, pool);
    errand_task *t = start_job(rt, "sleep", "{\"ms\":400}", &o);
    errand_task *who;
    int pid = 0;
    int64_t end = check_now_ms() + CHECK_LONG_MS;
    if (!t) break;
    while ((pid = pid_of(t)) == 0 && check_now_ms() < end) check_sleep_ms(2);
    CHECK(pid > 0);
    CHECK(pid != (int)getpid());
    CHECK(pid_exists(pid));
    if (wait_final(t)) CHECK_EQ_STR(result_of(t), "\"slept\"");
    /* The pid stays readable after the end (the process that ran it). */
    CHECK_EQ_INT(pid_of(t), pid);
    errand_task_release(t);
    /* And it is the process that ran the handler. */
    who = start_job(rt, "pid", "[]", &o);
    if (who && wait_final(who)) {
      char buf[32];
      snprintf(buf, sizeof buf, "%d", pid_of(who));
      CHECK_EQ_STR(result_of(who), buf);
    }
    errand_task_release(who);
  }
  CHECK_OK(errand_procpool_destroy(pool));
  CHECK_OK(errand_runtime_destroy(rt));
}

TEST(output_is_captured_per_job) {
  errand_runtime *rt = rt_new(2);
  errand_procpool *pool;
  int m, i;
  REQUIRE(rt);
  pool = new_pool(rt, 1, 1, 0);
  for (m = 0; m < 2 && pool; m++) {
    errand_job_options o =
        opts_in(m ? ERRAND_JOB_WORKER : ERRAND_JOB_PROCESS, pool);
    /* Several jobs on the same resident worker: each gets its own. */
    for (i = 0; i < 3; i++) {
      char args[32], want_out[48], want_err[48];
      const char *out = NULL, *err = NULL;
      size_t ol = 0, el = 0;
      errand_task *t;
      snprintf(args, sizeof args, "[%d]", i);
      snprintf(want_out, sizeof want_out, "out:[%d]\n", i);
      snprintf(want_err, sizeof want_err, "err:[%d]\n", i);
      t = start_job(rt, "print", args, &o);
      if (!t) break;
      if (wait_final(t) &&
          CHECK_OK(errand_job_output(t, &out, &ol, &err, &el))) {
        CHECK_EQ_STR(out, want_out);
        CHECK_EQ_STR(err, want_err);
        CHECK_EQ_INT(ol, strlen(want_out));
        CHECK_EQ_INT(el, strlen(want_err));
      }
      errand_task_release(t);
    }
  }
  CHECK_OK(errand_procpool_destroy(pool));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* Starts `name`, lets its handler run for settle_ms, cancels it and waits
 * for the end: the task (final) with its pid and the ms from the cancel to
 * the end, or NULL. */
static errand_task *cancel_running(errand_runtime *rt,
                                   const errand_job_options *o,
                                   const char *name, int settle_ms, int *pid,
                                   int64_t *took) {
  errand_task *t = start_job(rt, name, "[]", o);
  int64_t t0;
  if (!t)
    return NULL;
  if (!CHECK(wait_status(t, ERRAND_STATUS_RUNNING, CHECK_LONG_MS))) {
    errand_task_release(t);
    return NULL;
  }
  while ((*pid = pid_of(t)) == 0)
    check_sleep_ms(2);
  check_sleep_ms(settle_ms);
  t0 = check_now_ms();
  CHECK_OK(errand_task_cancel(t));
  if (!wait_final(t)) {
    errand_task_release(t);
    return NULL;
  }
  *took = check_now_ms() - t0;
  CHECK_EQ_INT(status_of(t), ERRAND_STATUS_CANCELED);
  CHECK_EQ_INT(error_code_of(t), ERRAND_E_CANCELED);
  return t;
}

/* Cancel: SIGTERM; a worker that ignores it gets SIGKILL after the grace. */
TEST(cancel_sends_sigterm_then_sigkill_after_the_grace) {
  errand_runtime *rt = rt_new(2);
  errand_procpool *pool;
  int m;
  REQUIRE(rt);
  pool = new_pool(rt, 0, 2, 0);
  for (m = 0; m < 2 && pool; m++) {
    errand_job_options o =
        opts_in(m ? ERRAND_JOB_WORKER : ERRAND_JOB_PROCESS, pool);
    errand_task *t;
    int pid = 0;
    int64_t took = 0;
    printf("  mode %s\n", mode_name(o.mode));
    /* A plain hang: SIGTERM ends it well before the (long) grace.  100 ms
     * lets the worker get into the handler. */
    o.kill_grace_ms = 20000;
    t = cancel_running(rt, &o, "hang", 100, &pid, &took);
    if (!t) break;
    CHECK(took < 15000); /* SIGTERM did it, not the 20 s grace */
    printf("    hang: %s (%lld ms)\n", error_msg_of(t), (long long)took);
    CHECK(wait_pid_gone(pid, CHECK_LONG_MS));
    errand_task_release(t);

    /* SIGTERM ignored: SIGKILL after kill_grace_ms (the handler has run
     * 300 ms and ignores SIGTERM). */
    o.kill_grace_ms = 300;
    t = cancel_running(rt, &o, "hang_noterm", 300, &pid, &took);
    if (!t) break;
    CHECK(took >= 280); /* SIGKILL came after the grace */
    printf("    hang_noterm: %s (%lld ms)\n", error_msg_of(t), (long long)took);
    CHECK(wait_pid_gone(pid, CHECK_LONG_MS));
    errand_task_release(t);
  }
  CHECK_OK(errand_procpool_destroy(pool));
  CHECK_OK(errand_runtime_destroy(rt));
}

TEST(run_timeout_kills_and_says_so) {
  errand_runtime *rt = rt_new(2);
  errand_procpool *pool;
  int m;
  REQUIRE(rt);
  pool = new_pool(rt, 0, 2, 0);
  for (m = 0; m < 2 && pool; m++) {
    errand_job_options o =
        opts_in(m ? ERRAND_JOB_WORKER : ERRAND_JOB_PROCESS, pool);
    errand_task *t;
    int pid = 0;
    o.post.run_timeout_ms = 200;
    o.kill_grace_ms = 200;
    t = start_job(rt, "hang_noterm", "[]", &o);
    if (!t) break;
    if (wait_final(t)) {
      pid = pid_of(t);
      CHECK_EQ_INT(status_of(t), ERRAND_STATUS_CANCELED);
      CHECK_EQ_INT(error_code_of(t), ERRAND_E_TIMEOUT);
      CHECK(strstr(error_msg_of(t), "timeout") != NULL);
      printf("  %s: %s\n", mode_name(o.mode), error_msg_of(t));
    }
    CHECK(pid > 0 && wait_pid_gone(pid, CHECK_LONG_MS));
    errand_task_release(t);
    /* A job that ends in time is not touched by its timeout. */
    o.post.run_timeout_ms = 20000;
    t = start_job(rt, "add", "[2,3]", &o);
    if (t && wait_final(t)) CHECK_EQ_STR(result_of(t), "5");
    errand_task_release(t);
  }
  CHECK_OK(errand_procpool_destroy(pool));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* Cancel and timeouts stop the worker's whole process group. */
typedef struct child_pid {
  atomic_int pid;
} child_pid;

static void child_cb(errand_task *t, const char *name, const void *data,
                     size_t len, void *arg) {
  char buf[64];
  (void)t;
  if (strcmp(name, "child") != 0 || len >= sizeof buf) return;
  memcpy(buf, data, len);
  buf[len] = 0;
  atomic_store(&((child_pid *)arg)->pid, (int)jint(buf, "pid", -1));
}

TEST(grandchildren_do_not_survive_cancel_or_timeout) {
  errand_runtime *rt = rt_new(1);
  errand_procpool *pool;
  int k;
  REQUIRE(rt);
  pool = new_pool(rt, 0, 2, 0);
  for (k = 0; k < 4 && pool; k++) {
    errand_job_options o =
        opts_in(k & 1 ? ERRAND_JOB_WORKER : ERRAND_JOB_PROCESS, pool);
    child_pid cp;
    gate g;
    errand_task *hold = NULL, *t;
    int gc;
    atomic_init(&cp.pid, 0);
    gate_init(&g);
    o.kill_grace_ms = 500;
    if (k >= 2) o.post.run_timeout_ms = 500; /* the timeout kills it */
    REQUIRE(hold_workers(rt, &g, 1, &hold)); /* subscribe before it runs */
    t = start_job(rt, "spawn_sleep", "[]", &o);
    if (t) CHECK_OK(errand_task_on_event(t, NULL, child_cb, &cp));
    gate_open(&g);
    errand_wait(hold, -1);
    errand_task_release(hold);
    if (!t) break;
    {
      int64_t end = check_now_ms() + CHECK_LONG_MS;
      while (atomic_load(&cp.pid) == 0 && check_now_ms() < end)
        check_sleep_ms(2);
    }
    gc = atomic_load(&cp.pid);
    printf("  %s, %s: grandchild %d\n", mode_name(o.mode),
           k >= 2 ? "timeout" : "cancel", gc);
    if (!CHECK(gc > 0)) {
      errand_task_cancel(t);
      errand_wait(t, CHECK_LONG_MS);
      errand_task_release(t);
      break;
    }
    CHECK(pid_exists(gc));
    if (k < 2) CHECK_OK(errand_task_cancel(t));
    if (wait_final(t)) {
      CHECK_EQ_INT(status_of(t), ERRAND_STATUS_CANCELED);
      if (k >= 2) CHECK_EQ_INT(error_code_of(t), ERRAND_E_TIMEOUT);
    }
    /* Killed with the group; init reaps it once its parent is gone. */
    CHECK(wait_pid_gone(gc, CHECK_LONG_MS));
    errand_task_release(t);
  }
  CHECK_OK(errand_procpool_destroy(pool));
  CHECK_OK(errand_runtime_destroy(rt));
}

TEST(each_worker_knows_its_index) {
  errand_runtime *rt = rt_new(4);
  errand_procpool *pool;
  errand_task *t[8];
  int seen[3] = {0, 0, 0};
  int i, n = 0;
  REQUIRE(rt);
  pool = new_pool(rt, 3, 3, 0);
  REQUIRE(pool);
  {
    /* Wait for the three workers, then give each one a slow job. */
    int64_t end = check_now_ms() + CHECK_LONG_MS;
    int size = 0;
    while (check_now_ms() < end) {
      errand_procpool_size(pool, &size);
      if (size == 3) break;
      check_sleep_ms(5);
    }
    CHECK_EQ_INT(size, 3);
  }
  for (i = 0; i < 3; i++) {
    errand_job_options o = opts_in(ERRAND_JOB_WORKER, pool);
    t[n++] = start_job(rt, "sleep", "{\"ms\":300}", &o);
  }
  for (i = 0; i < 3; i++) {
    errand_job_options o = opts_in(ERRAND_JOB_WORKER, pool);
    t[n++] = start_job(rt, "index", "[]", &o);
  }
  for (i = 0; i < n; i++) {
    if (!t[i]) continue;
    if (wait_final(t[i]) && i >= 3) {
      const char *r = result_of(t[i]);
      int idx = -1, env = -2;
      if (CHECK(sscanf(r, "[%d,%d]", &idx, &env) == 2)) {
        CHECK(idx >= 0 && idx < 3);
        if (idx >= 0 && idx < 3) seen[idx]++;
        /* Handlers do not see ERRAND_WORKER_INDEX: errand_worker_main
         * keeps it out of programs the job starts. */
        CHECK_EQ_INT(env, -1);
      }
    }
    errand_task_release(t[i]);
  }
  /* Three workers busy at once: indexes 0..2 each ran exactly one. */
  CHECK(seen[0] + seen[1] + seen[2] == 3);
  /* A one-shot process job's worker is 0. */
  {
    errand_job_options o = opts_in(ERRAND_JOB_PROCESS, NULL);
    errand_task *one = start_job(rt, "index", "[]", &o);
    if (one && wait_final(one)) CHECK_EQ_STR(result_of(one), "[0,-1]");
    errand_task_release(one);
  }
  CHECK_OK(errand_procpool_destroy(pool));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* Arguments and a result far larger than a pipe holds (64 KiB) cross a
 * worker whole, one-shot and resident, several jobs in a row on the same
 * worker: the host writes what the pipe takes and the rest when the
 * worker has read it. */
TEST(arguments_larger_than_a_pipe_cross_whole) {
  errand_runtime *rt = rt_new(2);
  errand_procpool *pool;
  size_t n = 1u << 20, i;
  char *args = malloc(n + 8);
  int m, k;
  REQUIRE(rt);
  REQUIRE(args);
  pool = new_pool(rt, 1, 1, 0);
  REQUIRE(pool);
  for (m = 0; m < 2; m++)
    for (k = 0; k < 3; k++) {
      errand_job_options o =
          opts_in(m ? ERRAND_JOB_WORKER : ERRAND_JOB_PROCESS, pool);
      errand_task *t;
      args[0] = '[';
      args[1] = '"';
      for (i = 2; i < n; i++) args[i] = (char)('a' + (i * 7 + (size_t)k) % 26);
      memcpy(args + n, "\"]", 3);
      t = start_job(rt, "echo", args, &o);
      if (t && wait_final(t)) CHECK_EQ_STR(result_of(t), args);
      errand_task_release(t);
    }
  free(args);
  CHECK_OK(errand_procpool_destroy(pool));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* Item 10: the host's own child, forked before errand ran anything, is
 * still there to be waited for; no zombies; no leaked descriptors. */
TEST(no_zombies_no_leaked_fds_and_the_hosts_child_is_its_own) {
  int fds_before, fds_after, status = 0, i;
  pid_t mine;
  errand_runtime *rt;
  errand_procpool *pool;
  fds_before = probe_fds();
  mine = fork();
  REQUIRE(mine >= 0);
  if (mine == 0) {
    /* Lives until the test kills it. */
    for (;;) pause();
  }
  rt = rt_new(2);
  if (rt) {
    errand_task *t[24];
    pool = new_pool(rt, 1, 2, 300);
    for (i = 0; i < 24; i++) {
      errand_job_options o = opts_in(
          i % 2 ? ERRAND_JOB_WORKER : ERRAND_JOB_PROCESS, pool);
      static const char *const names[] = {"add", "segv", "exit", "fail",
                                          "print", "hang"};
      const char *name = names[i % 6];
      if (strcmp(name, "hang") == 0) o.post.run_timeout_ms = 100;
      t[i] = start_job(rt, name, strcmp(name, "add") ? "{}" : "[1]", &o);
    }
    for (i = 0; i < 24; i++) {
      if (t[i]) {
        wait_final(t[i]);
        CHECK(is_final_status(status_of(t[i])));
      }
      errand_task_release(t[i]);
    }
    /* errand never waited for `mine`. */
    CHECK_EQ_INT(waitpid(mine, &status, WNOHANG), 0);
    CHECK_OK(errand_procpool_destroy(pool));
    CHECK_OK(errand_runtime_destroy(rt));
  }
  /* Every worker is gone and reaped: the only child left is ours. */
  CHECK_EQ_INT(probe_children(PROBE_ZOMBIE, NULL, 0), 0);
  CHECK_EQ_INT(probe_children(PROBE_LIVE, NULL, 0), 1);
  CHECK_EQ_INT(kill(mine, SIGTERM), 0);
  CHECK_EQ_INT(waitpid(mine, &status, 0), mine);
  CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
  fds_after = probe_fds();
  CHECK_EQ_INT(fds_after, fds_before);
}

/* Shutdown (runtime destroy, pool destroy) kills and reaps every worker,
 * busy or idle, and ends their jobs. */
TEST(shutdown_kills_and_reaps_every_worker) {
  errand_runtime *rt = rt_new(2);
  errand_procpool *pool;
  errand_task *t[6];
  int pids[6], i, fds_before;
  REQUIRE(rt);
  fds_before = probe_fds();
  pool = new_pool(rt, 2, 3, 200);
  REQUIRE(pool);
  start_six_hanging(rt, pool, t, pids);
  check_sleep_ms(200);
  CHECK_OK(errand_procpool_destroy(pool));
  for (i = 0; i < 3; i++) {
    if (!t[i]) continue;
    CHECK(is_final_status(status_of(t[i])));
    CHECK_EQ_INT(status_of(t[i]), ERRAND_STATUS_CANCELED);
    CHECK(!pid_exists(pids[i]));
  }
  /* The one-shot jobs: a cancel-mode shutdown of the runtime. */
  cancel_six_and_check_clean(rt, t, pids, 3, fds_before);
}

JOB_TEST_MAIN()
