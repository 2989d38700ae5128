/*
 * test_seed002.c — seed 002 (ee-core's ChildJob / ChildPoolJob): the timer
 * job of examples/jobs/timer.c, a module named by path, runs in a child
 * process and sends "job-timer-progress" {"jobId","number"} every interval
 * with a counter; the host sees the child's pid and kills it; the pooled
 * variant keeps the process resident between jobs.
 *
 *   const timerTask = this.myJob.exec('./jobs/example/timer', {jobId});
 *   timerTask.emitter.on('job-timer-progress', (data) => ...);
 *   res.pid = timerTask.pid;
 *   oneTask.kill();
 */
/* ERRAND_TEST_LABELS: valgrind */
#include "test_job_common.h"

static char timer_name[4200];

static int have_timer(void) {
  char path[4096];
  if (!timer_module_path(path, sizeof path)) return 0;
  snprintf(timer_name, sizeof timer_name, "file://%s", path);
  return 1;
}

/* The emitter: events with their arrival time, on the loop's thread. */
typedef struct emitter {
  pthread_t owner;
  int n, wrong_thread, bad;
  int numbers[256];
  int64_t at_ms[256];
  char job_id[32];
} emitter;

static void on_timer(errand_task *t, const char *name, const void *data,
                     size_t len, void *arg) {
  emitter *e = (emitter *)arg;
  char buf[128], id[32];
  (void)t;
  if (!pthread_equal(pthread_self(), e->owner)) e->wrong_thread++;
  if (strcmp(name, "job-timer-progress") != 0 || len >= sizeof buf) {
    e->bad++;
    return;
  }
  memcpy(buf, data, len);
  buf[len] = 0;
  if (!jstr(buf, "jobId", id, sizeof id) || strcmp(id, e->job_id) != 0)
    e->bad++;
  if (e->n < 256) {
    e->numbers[e->n] = (int)jint(buf, "number", -1);
    e->at_ms[e->n] = check_now_ms();
  }
  e->n++;
}

static void emitter_init(emitter *e, const char *job_id) {
  memset(e, 0, sizeof *e);
  e->owner = pthread_self();
  snprintf(e->job_id, sizeof e->job_id, "%s", job_id);
}

/* Runs the loop until the emitter has `n` events or t is final. */
static void run_until_events(errand_loop *loop, errand_task *t, emitter *e,
                             int n) {
  int64_t end = check_now_ms() + CHECK_LONG_MS;
  while (e->n < n && !is_final_status(status_of(t)) && check_now_ms() < end) {
    errand_loop_run_pending(loop, 0, NULL);
    check_sleep_ms(1);
  }
  errand_loop_run_pending(loop, 0, NULL);
}

TEST(child_job_progress_pid_and_kill) {
  errand_runtime *rt;
  errand_loop *loop = NULL;
  errand_job_options o = job_opts(ERRAND_JOB_PROCESS);
  errand_task *task;
  emitter e;
  int pid, k;
  int64_t t0;
  if (!have_timer()) return;
  rt = rt_new(2);
  REQUIRE(rt);
  REQUIRE_OK(errand_loop_create(rt, &loop));
  emitter_init(&e, "job-1");
  o.kill_grace_ms = 1000;
  t0 = check_now_ms();
  task = start_job(rt, timer_name,
                   "{\"jobId\":\"job-1\",\"interval_ms\":50,\"count\":100000}",
                   &o);
  REQUIRE(task);
  CHECK_OK(errand_task_on_event(task, loop, on_timer, &e));
  run_until_events(loop, task, &e, 5);
  CHECK(e.n >= 5);
  /* res.pid = timerTask.pid: a live child of ours. */
  pid = pid_of(task);
  CHECK(pid > 0 && pid != (int)getpid());
  CHECK(pid_exists(pid));
  CHECK_EQ_INT(status_of(task), ERRAND_STATUS_RUNNING);
  /* oneTask.kill() */
  CHECK_OK(errand_task_cancel(task));
  CHECK_OK(errand_loop_run_until(loop, task, CHECK_LONG_MS));
  CHECK_EQ_INT(status_of(task), ERRAND_STATUS_CANCELED);
  CHECK(wait_pid_gone(pid, CHECK_LONG_MS));
  /* A counter 0, 1, 2, ... every interval, on this thread. */
  CHECK_EQ_INT(e.wrong_thread, 0);
  CHECK_EQ_INT(e.bad, 0);
  for (k = 0; k < e.n && k < 256; k++) {
    if (!CHECK_EQ_INT(e.numbers[k], k)) break;
    /* Never faster than the interval: the timer sleeps, then sends
     * number k, so k + 1 intervals have passed since the start (a lower
     * bound on when it arrives, whatever delays the first ones). */
    CHECK(e.at_ms[k] - t0 >= (int64_t)(k + 1) * 50);
  }
  errand_task_release(task);
  CHECK_OK(errand_loop_destroy(loop));
  CHECK_OK(errand_runtime_destroy(rt));
}

TEST(child_job_runs_to_its_end) {
  errand_runtime *rt;
  errand_loop *loop = NULL;
  errand_job_options o = job_opts(ERRAND_JOB_PROCESS);
  errand_task *task;
  emitter e;
  int pid;
  if (!have_timer()) return;
  rt = rt_new(2);
  REQUIRE(rt);
  REQUIRE_OK(errand_loop_create(rt, &loop));
  emitter_init(&e, "7");
  task = start_job(rt, timer_name,
                   "{\"jobId\":\"7\",\"interval_ms\":20,\"count\":10}", &o);
  REQUIRE(task);
  CHECK_OK(errand_task_on_event(task, loop, on_timer, &e));
  CHECK_OK(errand_loop_run_until(loop, task, CHECK_LONG_MS));
  CHECK_EQ_INT(status_of(task), ERRAND_STATUS_RAN_TO_COMPLETION);
  CHECK_EQ_STR(result_of(task), "{\"done\":10}");
  CHECK_EQ_INT(e.n, 10);
  CHECK_EQ_INT(e.numbers[9], 9);
  /* ChildJob: the process exits after its job. */
  pid = pid_of(task);
  CHECK(pid > 0 && wait_pid_gone(pid, CHECK_LONG_MS));
  errand_task_release(task);
  CHECK_OK(errand_loop_destroy(loop));
  CHECK_OK(errand_runtime_destroy(rt));
}

TEST(child_pool_job_stays_resident) {
  errand_runtime *rt;
  errand_loop *loop = NULL;
  errand_procpool *pool = NULL;
  errand_procpool_options po;
  int pids[3], i;
  if (!have_timer()) return;
  rt = rt_new(2);
  REQUIRE(rt);
  REQUIRE_OK(errand_loop_create(rt, &loop));
  memset(&po, 0, sizeof po);
  po.min_workers = 1;
  po.max_workers = 1;
  REQUIRE_OK(errand_procpool_create(rt, jc_jobs, &po, &pool));
  for (i = 0; i < 3; i++) {
    errand_job_options o = job_opts(ERRAND_JOB_WORKER);
    char args[96], id[16];
    emitter e;
    errand_task *task;
    o.pool = pool;
    snprintf(id, sizeof id, "p%d", i);
    snprintf(args, sizeof args,
             "{\"jobId\":\"%s\",\"interval_ms\":20,\"count\":4}", id);
    emitter_init(&e, id);
    task = start_job(rt, timer_name, args, &o);
    if (!task) break;
    CHECK_OK(errand_task_on_event(task, loop, on_timer, &e));
    CHECK_OK(errand_loop_run_until(loop, task, CHECK_LONG_MS));
    CHECK_EQ_STR(result_of(task), "{\"done\":4}");
    CHECK_EQ_INT(e.n, 4);
    CHECK_EQ_INT(e.bad, 0);
    pids[i] = pid_of(task);
    errand_task_release(task);
  }
  CHECK(pids[0] > 0);
  CHECK_EQ_INT(pids[1], pids[0]);
  CHECK_EQ_INT(pids[2], pids[0]);
  CHECK(pid_exists(pids[0])); /* resident, waiting for the next job */
  /* kill() of a pooled job ends its process; the pool starts another. */
  {
    errand_job_options o = job_opts(ERRAND_JOB_WORKER);
    errand_task *task;
    emitter e;
    o.pool = pool;
    o.kill_grace_ms = 500;
    emitter_init(&e, "k");
    task = start_job(rt, timer_name,
                     "{\"jobId\":\"k\",\"interval_ms\":20,\"count\":100000}",
                     &o);
    if (task) {
      CHECK_OK(errand_task_on_event(task, loop, on_timer, &e));
      run_until_events(loop, task, &e, 2);
      CHECK_EQ_INT(pid_of(task), pids[0]);
      CHECK_OK(errand_task_cancel(task));
      CHECK_OK(errand_loop_run_until(loop, task, CHECK_LONG_MS));
      CHECK_EQ_INT(status_of(task), ERRAND_STATUS_CANCELED);
      CHECK(wait_pid_gone(pids[0], CHECK_LONG_MS));
      errand_task_release(task);
    }
    task = start_job(rt, timer_name,
                     "{\"jobId\":\"n\",\"interval_ms\":1,\"count\":1}", &o);
    if (task && wait_final(task)) {
      CHECK_EQ_STR(result_of(task), "{\"done\":1}");
      CHECK(pid_of(task) > 0 && pid_of(task) != pids[0]);
    }
    errand_task_release(task);
  }
  CHECK_OK(errand_procpool_destroy(pool));
  CHECK_OK(errand_loop_destroy(loop));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* The same module on threads: kill() is cooperative there (the timer's
 * sleep returns) and the job ends canceled. */
TEST(timer_on_a_dedicated_thread_is_killed_too) {
  errand_runtime *rt;
  errand_job_options o = job_opts(ERRAND_JOB_DEDICATED);
  errand_task *task;
  if (!have_timer()) return;
  rt = rt_new(1);
  REQUIRE(rt);
  task = start_job(rt, timer_name,
                   "{\"jobId\":1,\"interval_ms\":1000,\"count\":1000}", &o);
  if (task) {
    REQUIRE(wait_status(task, ERRAND_STATUS_RUNNING, CHECK_LONG_MS));
    CHECK_OK(errand_task_cancel(task));
    if (wait_final(task)) {
      CHECK_EQ_INT(status_of(task), ERRAND_STATUS_CANCELED);
      CHECK_EQ_INT(pid_of(task), 0);
    }
    errand_task_release(task);
  }
  CHECK_OK(errand_runtime_destroy(rt));
}

JOB_TEST_MAIN()
