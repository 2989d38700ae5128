/*
 * loop_glib.c — errand's loop inside a GLib main loop: g_unix_fd_add watches
 * the loop's file descriptor (a GSource) and runs what is pending; a timeout
 * source guards against a hang.  Every callback runs on the thread that runs
 * g_main_loop_run (main).
 */
#include <glib-unix.h>
#include <glib.h>
#include <string.h>

#include "loop_example.h"

typedef struct host {
  errand_loop *loop;
  example ex;
  GMainLoop *main_loop;
  int timed_out;
} host;

static gboolean on_readable(gint fd, GIOCondition cond, gpointer data) {
  host *h = (host *)data;
  (void)fd;
  (void)cond;
  errand_loop_run_pending(h->loop, 0, NULL);
  if (example_done(&h->ex)) {
    g_main_loop_quit(h->main_loop);
    return G_SOURCE_REMOVE;
  }
  return G_SOURCE_CONTINUE;
}

static gboolean on_guard(gpointer data) {
  host *h = (host *)data;
  fprintf(stderr, "error: timed out\n");
  h->timed_out = 1;
  g_main_loop_quit(h->main_loop);
  return G_SOURCE_REMOVE;
}

int main(void) {
  errand_runtime *rt = NULL;
  host h;
  int fd = -1, rc;
  guint watch, guard;
  memset(&h, 0, sizeof h);
  if ((rc = errand_runtime_create(NULL, &rt)) != 0 ||
      (rc = errand_loop_create(rt, &h.loop)) != 0 ||
      (rc = errand_loop_fd(h.loop, &fd)) != 0) {
    fprintf(stderr, "error: %s\n", errand_strerror(rc));
    return 2;
  }
  if (example_start(&h.ex, rt, h.loop) != 0) return 2;
  h.main_loop = g_main_loop_new(NULL, FALSE);
  watch = g_unix_fd_add(fd, G_IO_IN, on_readable, &h);
  guard = g_timeout_add(30000, on_guard, &h);
  g_main_loop_run(h.main_loop);
  if (!h.timed_out) g_source_remove(guard);
  if (h.timed_out) g_source_remove(watch);
  g_main_loop_unref(h.main_loop);
  rc = example_finish(&h.ex);
  if (h.timed_out) rc = 1;
  errand_loop_destroy(h.loop);
  errand_runtime_destroy(rt);
  return rc;
}
