/*
 * test_seed000.c — seed 000 (a JS `Job` object) in C (issue item 3):
 *
 *   let job = new Job('scripts.image.Post', url, payload, headers);
 *   job.Pending(() => { ...; return false to stop });
 *   let image = job.Data();     // blocks, gives the result, deletes the job
 *   job.Cancel();
 *
 * is errand_job_start(rt, jobs, "scripts.image.Post", "[url,payload,
 * headers]", ...), errand_job_pending(t, interval, fn, arg),
 * errand_job_data(t, &json) (t is released after it: E_RELEASED), and
 * errand_task_cancel(t).  The handler throws like the seed's Post (an
 * exception with a code) and Data reports it.  Run on a pool thread and in
 * a one-shot child process.
 */
/* ERRAND_TEST_LABELS: valgrind */
#include "test_job_common.h"

/* scripts.image.Post(url, payload, headers): "generates" an image in a few
 * steps (reporting progress), or fails like the seed's
 * `throw new Exception('SD API response error', 500)`. */
static int image_post(errand_job *job, const char *args, void *arg) {
  int steps = (int)jint(args, "steps", 5), i;
  char buf[64];
  (void)arg;
  if (strncmp(args, "[\"http", 6) != 0)
    return errand_job_fail(job, ERRAND_E_INVALID, "Post wants [url, ...]");
  if (strstr(args, "\"fail\""))
    return errand_job_fail(job, 500, "SD API response error");
  for (i = 0; i < steps; i++) {
    snprintf(buf, sizeof buf, "{\"progress\":%.2f}", (double)i / steps);
    errand_job_progress(job, "progress", buf);
    if (errand_job_sleep(job, 40) != 0) return ERRAND_E_CANCELED;
  }
  return errand_job_return(job, "\"iVBORw0KGgo=\"");
}

static void register_seed000(errand_jobs *jobs) {
  errand_jobs_register(jobs, "scripts.image.Post", image_post, NULL);
}

static const char *const post_args =
    "[\"http://127.0.0.1:7860/sdapi/v1/txt2img\","
    "{\"width\":512,\"height\":512,\"steps\":5,\"prompt\":\"maltese puppy\"},"
    "{\"Authorization\":\"Basic dXNlcjpwYXNz\"}]";

static const errand_job_mode modes[] = {ERRAND_JOB_POOL, ERRAND_JOB_PROCESS};

/* job.Pending(cb): cb counts its calls; stops after `stop_at` (0 = never). */
typedef struct pending_state {
  errand_task *job;
  int calls;
  int stop_at;
  int saw_running;
} pending_state;

static int pending_cb(void *arg) {
  pending_state *s = (pending_state *)arg;
  errand_status st;
  s->calls++;
  if (errand_task_status(s->job, &st) == 0 &&
      (st == ERRAND_STATUS_RUNNING || st == ERRAND_STATUS_WAITING_TO_RUN))
    s->saw_running++;
  if (s->stop_at && s->calls >= s->stop_at) return 0; /* return false */
  return 1;
}

TEST(pending_then_data_releases_the_job) {
  errand_runtime *rt = rt_new(2);
  size_t m;
  REQUIRE(rt);
  for (m = 0; m < sizeof modes / sizeof modes[0]; m++) {
    errand_job_options o = job_opts(modes[m]);
    pending_state ps;
    char *image = NULL;
    errand_status st;
    errand_task *job = start_job(rt, "scripts.image.Post", post_args, &o);
    printf("  mode %s\n", mode_name(modes[m]));
    if (!job) break;
    memset(&ps, 0, sizeof ps);
    ps.job = job;
    /* Pending is called repeatedly while the job runs and returns once
     * it is final. */
    CHECK_OK(errand_job_pending(job, 10, pending_cb, &ps));
    CHECK(ps.calls >= 2);
    CHECK(ps.saw_running >= 1);
    CHECK(is_final_status(status_of(job)));
    /* Data: the result, and the job is gone. */
    if (CHECK_OK(errand_job_data(job, &image))) {
      CHECK_EQ_STR(image, "\"iVBORw0KGgo=\"");
      free(image);
    }
    if (!wait_released(job)) break;
    CHECK_RC(errand_task_status(job, &st), ERRAND_E_RELEASED);
    image = NULL;
    CHECK_RC(errand_job_data(job, &image), ERRAND_E_RELEASED);
    CHECK(image == NULL);
    CHECK_RC(errand_job_pending(job, 10, pending_cb, &ps),
             ERRAND_E_RELEASED);
    CHECK_RC(errand_task_cancel(job), ERRAND_E_RELEASED);
  }
  CHECK_OK(errand_runtime_destroy(rt));
}

TEST(pending_return_false_stops_polling) {
  errand_runtime *rt = rt_new(2);
  size_t m;
  REQUIRE(rt);
  for (m = 0; m < sizeof modes / sizeof modes[0]; m++) {
    errand_job_options o = job_opts(modes[m]);
    pending_state ps;
    char *image = NULL;
    errand_task *job = start_job(rt, "scripts.image.Post",
                                 "[\"http://x\",{\"steps\":1000}]", &o);
    printf("  mode %s\n", mode_name(modes[m]));
    if (!job) break;
    memset(&ps, 0, sizeof ps);
    ps.job = job;
    ps.stop_at = 3;
    CHECK_OK(errand_job_pending(job, 5, pending_cb, &ps));
    /* Stopped by the callback, not by the job's end; the job goes on. */
    CHECK_EQ_INT(ps.calls, 3);
    CHECK(!is_final_status(status_of(job)));
    /* job.Cancel(), then Data reports the cancel and releases. */
    CHECK_OK(errand_task_cancel(job));
    CHECK_RC(errand_job_data(job, &image), ERRAND_E_CANCELED);
    CHECK(image == NULL);
    if (wait_released(job))
      CHECK_RC(errand_task_release(job), ERRAND_E_RELEASED);
  }
  CHECK_OK(errand_runtime_destroy(rt));
}

TEST(data_reports_the_handlers_exception) {
  errand_runtime *rt = rt_new(2);
  size_t m;
  REQUIRE(rt);
  for (m = 0; m < sizeof modes / sizeof modes[0]; m++) {
    errand_job_options o = job_opts(modes[m]);
    char *image = NULL;
    errand_task *job =
        start_job(rt, "scripts.image.Post", "[\"http://x\",\"fail\"]", &o);
    printf("  mode %s\n", mode_name(modes[m]));
    if (!job) break;
    /* Data blocks until final (no Pending needed). */
    CHECK_RC(errand_job_data(job, &image), 500);
    CHECK_EQ_STR(errand_last_error(), "SD API response error");
    CHECK(image == NULL);
    if (wait_released(job))
      CHECK_RC(errand_task_release(job), ERRAND_E_RELEASED);
    /* An argument error of the handler's own. */
    job = start_job(rt, "scripts.image.Post", "{}", &o);
    if (job) {
      CHECK_RC(errand_job_data(job, &image), ERRAND_E_INVALID);
      CHECK_EQ_STR(errand_last_error(), "Post wants [url, ...]");
    }
  }
  CHECK_OK(errand_runtime_destroy(rt));
}

/* Cancel before the job starts: it never runs, Data says canceled. */
TEST(cancel_before_start) {
  errand_runtime *rt = rt_new(1);
  gate g;
  errand_task *hold = NULL;
  size_t m;
  REQUIRE(rt);
  for (m = 0; m < sizeof modes / sizeof modes[0]; m++) {
    errand_job_options o = job_opts(modes[m]);
    char *image = NULL;
    errand_task *job;
    gate_init(&g);
    REQUIRE(hold_workers(rt, &g, 1, &hold));
    job = start_job(rt, "scripts.image.Post", post_args, &o);
    if (job) {
      CHECK_EQ_INT(status_of(job), ERRAND_STATUS_WAITING_TO_RUN);
      CHECK_OK(errand_task_cancel(job));
      CHECK_EQ_INT(status_of(job), ERRAND_STATUS_CANCELED);
      CHECK_EQ_INT(pid_of(job), 0); /* no process was started */
      CHECK_RC(errand_job_data(job, &image), ERRAND_E_CANCELED);
    }
    gate_open(&g);
    errand_wait(hold, -1);
    errand_task_release(hold);
  }
  CHECK_OK(errand_runtime_destroy(rt));
}

/* The loop flavour of Pending: errand_task_poll on the owner's loop, with
 * the job's progress events on the same loop. */
typedef struct loop_pending {
  int ticks, events;
  double last_progress;
} loop_pending;

static int poll_cb(errand_task *t, void *arg) {
  (void)t;
  ((loop_pending *)arg)->ticks++;
  return 1;
}

static void progress_cb(errand_task *t, const char *name, const void *data,
                        size_t len, void *arg) {
  loop_pending *lp = (loop_pending *)arg;
  char buf[64];
  const char *p;
  (void)t;
  if (strcmp(name, "progress") != 0 || len >= sizeof buf) return;
  memcpy(buf, data, len);
  buf[len] = 0;
  p = strchr(buf, ':');
  if (p) lp->last_progress = strtod(p + 1, NULL);
  lp->events++;
}

TEST(pending_on_a_loop_with_progress) {
  errand_runtime *rt = rt_new(1);
  errand_loop *loop = NULL;
  size_t m;
  REQUIRE(rt);
  REQUIRE_OK(errand_loop_create(rt, &loop));
  for (m = 0; m < sizeof modes / sizeof modes[0]; m++) {
    errand_job_options o = job_opts(modes[m]);
    loop_pending lp;
    gate g;
    errand_task *hold = NULL, *job;
    char *image = NULL;
    memset(&lp, 0, sizeof lp);
    gate_init(&g);
    REQUIRE(hold_workers(rt, &g, 1, &hold)); /* subscribe before it runs */
    job = start_job(rt, "scripts.image.Post", post_args, &o);
    if (job) {
      CHECK_OK(errand_task_on_event(job, loop, progress_cb, &lp));
      CHECK_OK(errand_task_poll(job, loop, 10, poll_cb, &lp));
      gate_open(&g);
      CHECK_OK(errand_loop_run_until(loop, job, CHECK_LONG_MS));
      CHECK(lp.ticks >= 1);
      CHECK_EQ_INT(lp.events, 5);
      CHECK(lp.last_progress > 0.79 && lp.last_progress < 0.81);
      CHECK_OK(errand_job_data(job, &image));
      free(image);
    }
    gate_open(&g);
    errand_wait(hold, -1);
    errand_task_release(hold);
  }
  CHECK_OK(errand_loop_destroy(loop));
  CHECK_OK(errand_runtime_destroy(rt));
}

JOB_TEST_MAIN_WITH(register_seed000)
