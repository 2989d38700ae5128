/*
 * glib.c — GLib's GThreadPool (exclusive threads).  "Wait for all" is GLib's
 * own g_thread_pool_free(pool, FALSE, TRUE), after which a fresh pool takes
 * its place (GLib has no other way to wait for pushed tasks).
 *
 * Two peers: "glib" (FIFO) and "glib-sort", which orders its queue with
 * g_thread_pool_set_sort_function() by (priority, post order) — GLib's only
 * way to get priorities; every push is then a sorted insert.
 */
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>

#include "../peer.h"

static bench_task_fn g_fn;
static char g_null_arg; /* GLib refuses NULL data: stands for arg == NULL */

typedef struct prio_item {
  void *arg;
  int prio; /* lower value runs first */
  unsigned long seq;
} prio_item;

typedef struct gpool {
  GThreadPool *tp;
  int workers, sorted;
  unsigned long seq;
} gpool;

static void run_plain(gpointer data, gpointer user) {
  (void)user;
  g_fn(data == &g_null_arg ? NULL : data);
}

static void run_sorted(gpointer data, gpointer user) {
  (void)user;
  prio_item *it = data;
  g_fn(it->arg);
  g_free(it);
}

static gint cmp_items(gconstpointer a_, gconstpointer b_, gpointer user) {
  (void)user;
  const prio_item *a = a_, *b = b_;
  if (a->prio != b->prio)
    return a->prio < b->prio ? -1 : 1;
  return a->seq < b->seq ? -1 : (a->seq > b->seq);
}

static int make_pool(gpool *p) {
  GError *err = NULL;
  p->tp = g_thread_pool_new(p->sorted ? run_sorted : run_plain, NULL,
                            p->workers, TRUE, &err);
  if (!p->tp) {
    fprintf(stderr, "g_thread_pool_new: %s\n", err ? err->message : "?");
    if (err)
      g_error_free(err);
    return -1;
  }
  if (p->sorted)
    g_thread_pool_set_sort_function(p->tp, cmp_items, NULL);
  return 0;
}

static void *create_common(int workers, bench_task_fn fn, int sorted) {
  gpool *p = calloc(1, sizeof *p);
  if (!p)
    return NULL;
  p->workers = workers;
  p->sorted = sorted;
  g_fn = fn;
  if (make_pool(p) != 0) {
    free(p);
    return NULL;
  }
  return p;
}

static void *glib_create(int workers, bench_task_fn fn) {
  return create_common(workers, fn, 0);
}
static void *glib_sort_create(int workers, bench_task_fn fn) {
  return create_common(workers, fn, 1);
}

static int glib_post_prio(void *p_, void *arg, int prio) {
  gpool *p = p_;
  GError *err = NULL;
  gpointer data;
  if (p->sorted) {
    prio_item *it = g_new(prio_item, 1);
    it->arg = arg;
    it->prio = prio == BENCH_PRIO_USER_BLOCKING ? 0 : 1;
    it->seq = p->seq++;
    data = it;
  } else {
    data = arg ? arg : &g_null_arg;
  }
  if (!g_thread_pool_push(p->tp, data, &err)) {
    if (err)
      g_error_free(err);
    return -1;
  }
  return 0;
}

static int glib_post(void *p_, void *arg) {
  return glib_post_prio(p_, arg, BENCH_PRIO_BACKGROUND);
}

static int glib_wait_all(void *p_) {
  gpool *p = p_;
  g_thread_pool_free(p->tp, FALSE, TRUE);
  return make_pool(p);
}

static void glib_destroy(void *p_) {
  gpool *p = p_;
  g_thread_pool_free(p->tp, FALSE, TRUE);
  free(p);
}

static const char *glib_version(void) {
  static char buf[32];
  snprintf(buf, sizeof buf, "%u.%u.%u", glib_major_version, glib_minor_version,
           glib_micro_version);
  return buf;
}

const bench_peer bench_peer_glib = {
    .id = "glib",
    .label = "GLib",
    .note = "GThreadPool (exclusive); wait = g_thread_pool_free(wait=TRUE) "
            "and a new pool; FIFO",
    .version = glib_version,
    .create = glib_create,
    .destroy = glib_destroy,
    .post = glib_post,
    .wait_all = glib_wait_all,
};

const bench_peer bench_peer_glib_sort = {
    .id = "glib-sort",
    .label = "GLib + sort function",
    .note = "GThreadPool with g_thread_pool_set_sort_function on "
            "(priority, post order); one g_new'd item per task",
    .version = glib_version,
    .create = glib_sort_create,
    .destroy = glib_destroy,
    .post = glib_post,
    .post_prio = glib_post_prio,
    .wait_all = glib_wait_all,
};
