/*
 * loop_libuv.c — errand's loop inside libuv: a uv_poll_t watches the loop's
 * file descriptor and runs what is pending; a uv_timer_t guards against a
 * hang.  Every callback runs on the thread that runs uv_run (main).
 */
#include <string.h>
#include <uv.h>

#include "loop_example.h"

typedef struct host {
  errand_loop *loop;
  example ex;
  uv_poll_t poll;
  uv_timer_t guard;
  int timed_out;
} host;

static void stop_all(host *h) {
  uv_poll_stop(&h->poll);
  uv_timer_stop(&h->guard);
  uv_close((uv_handle_t *)&h->poll, NULL);
  uv_close((uv_handle_t *)&h->guard, NULL);
}

static void on_readable(uv_poll_t *p, int status, int events) {
  host *h = (host *)p->data;
  (void)events;
  if (status < 0) {
    fprintf(stderr, "error: uv_poll: %s\n", uv_strerror(status));
    h->ex.failures++;
  } else {
    errand_loop_run_pending(h->loop, 0, NULL);
  }
  if (example_done(&h->ex)) stop_all(h);
}

static void on_guard(uv_timer_t *t) {
  host *h = (host *)t->data;
  fprintf(stderr, "error: timed out\n");
  h->timed_out = 1;
  stop_all(h);
}

int main(void) {
  errand_runtime *rt = NULL;
  static host h;
  uv_loop_t *uv = uv_default_loop();
  int fd = -1, rc;
  memset(&h, 0, sizeof h);
  if ((rc = errand_runtime_create(NULL, &rt)) != 0 ||
      (rc = errand_loop_create(rt, &h.loop)) != 0 ||
      (rc = errand_loop_fd(h.loop, &fd)) != 0) {
    fprintf(stderr, "error: %s\n", errand_strerror(rc));
    return 2;
  }
  if (example_start(&h.ex, rt, h.loop) != 0) return 2;
  uv_poll_init(uv, &h.poll, fd);
  h.poll.data = &h;
  uv_poll_start(&h.poll, UV_READABLE, on_readable);
  uv_timer_init(uv, &h.guard);
  h.guard.data = &h;
  uv_timer_start(&h.guard, on_guard, 30000, 0);
  uv_run(uv, UV_RUN_DEFAULT);
  rc = example_finish(&h.ex);
  if (h.timed_out) rc = 1;
  errand_loop_destroy(h.loop);
  errand_runtime_destroy(rt);
  uv_loop_close(uv);
  return rc;
}
