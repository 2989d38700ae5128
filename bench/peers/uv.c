/*
 * uv.c — libuv's thread pool: uv_queue_work() from the loop thread (as
 * libuv requires), one malloc'd uv_work_t per task freed in the after-work
 * callback, and "wait for all" = uv_run() until the loop has nothing left.
 * The pool size is libuv's process-wide UV_THREADPOOL_SIZE, set before the
 * first post (each measurement is a process of its own).
 */
#include <stdio.h>
#include <stdlib.h>
#include <uv.h>

#include "../peer.h"

static bench_task_fn g_fn;

typedef struct uvpool {
  uv_loop_t loop;
} uvpool;

static void work_cb(uv_work_t *req) {
  g_fn(req->data);
}
static void after_cb(uv_work_t *req, int status) {
  (void)status;
  free(req);
}

static void *uv_create(int workers, bench_task_fn fn) {
  char buf[16];
  snprintf(buf, sizeof buf, "%d", workers);
  setenv("UV_THREADPOOL_SIZE", buf, 1);
  uvpool *p = calloc(1, sizeof *p);
  if (!p || uv_loop_init(&p->loop) != 0) {
    free(p);
    return NULL;
  }
  g_fn = fn;
  return p;
}

static int uvp_post(void *p_, void *arg) {
  uvpool *p = p_;
  uv_work_t *req = malloc(sizeof *req);
  if (!req)
    return -1;
  req->data = arg;
  if (uv_queue_work(&p->loop, req, work_cb, after_cb) != 0) {
    free(req);
    return -1;
  }
  return 0;
}

static int uvp_wait_all(void *p_) {
  uvpool *p = p_;
  uv_run(&p->loop, UV_RUN_DEFAULT);
  return 0;
}

static void uvp_destroy(void *p_) {
  uvpool *p = p_;
  uv_run(&p->loop, UV_RUN_DEFAULT);
  uv_loop_close(&p->loop);
  free(p);
}

static const char *uvp_version(void) {
  return uv_version_string();
}

const bench_peer bench_peer_uv = {
    .id = "uv",
    .label = "libuv",
    .note = "uv_queue_work from the loop thread, malloc'd uv_work_t per task; "
            "wait = uv_run(UV_RUN_DEFAULT); FIFO only",
    .version = uvp_version,
    .create = uv_create,
    .destroy = uvp_destroy,
    .post = uvp_post,
    .wait_all = uvp_wait_all,
};
