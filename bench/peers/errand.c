/*
 * errand.c — errand through its public API (include/errand.h) only.
 *
 * Three ways a user would post and then wait for everything:
 *  "errand"        errand_post(..., &handle) for each task, keep the handles,
 *                  errand_wait_all(handles) and release them (option (a)).
 *  "errand-batch"  the same with errand_post_batch() (one call for the lot).
 *  "errand-ff"     fire-and-forget errand_post(rt, fn, arg, NULL, NULL) and a
 *                  counter the tasks bring to zero (option (b)).
 * Priorities: errand_post_options.priority (BACKGROUND / USER_BLOCKING).
 * W2: errand_post() of fib(n-1) from inside the task, fib(n-2) inline, then
 * errand_wait() on it — a pool worker helps while it waits.
 */
#include <errand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common.h"
#include "../peer.h"

static bench_task_fn g_fn;

typedef struct epool {
  errand_runtime *rt;
  int ff; /* fire-and-forget variant */
  errand_task **h;
  size_t n, cap;
} epool;

static int tramp(errand_task *self, void *arg) {
  (void)self;
  g_fn(arg);
  return 0;
}

static int tramp_ff(errand_task *self, void *arg) {
  (void)self;
  g_fn(arg);
  bench_pending_done();
  return 0;
}

static void report(const char *what, int rc) {
  fprintf(stderr, "errand: %s: %s (%s) %s\n", what, errand_errname(rc),
          errand_strerror(rc), errand_last_error());
}

static errand_runtime *make_rt(int workers) {
  errand_runtime_options o;
  memset(&o, 0, sizeof o);
  o.workers = workers;
  /* As an interactive program would configure it: a spare thread for
   * user-blocking work (only W4 posts any; elsewhere it stays parked). */
  o.urgent_worker = 1;
  errand_runtime *rt = NULL;
  int rc = errand_runtime_create(&o, &rt);
  if (rc != 0) {
    report("errand_runtime_create", rc);
    return NULL;
  }
  return rt;
}

static void *create_common(int workers, bench_task_fn fn, int ff) {
  epool *p = calloc(1, sizeof *p);
  if (!p)
    return NULL;
  p->ff = ff;
  g_fn = fn;
  p->rt = make_rt(workers);
  if (!p->rt) {
    free(p);
    return NULL;
  }
  return p;
}

static void *e_create(int workers, bench_task_fn fn) {
  return create_common(workers, fn, 0);
}
static void *e_create_ff(int workers, bench_task_fn fn) {
  return create_common(workers, fn, 1);
}

static int grow(epool *p, size_t extra) {
  if (p->n + extra <= p->cap)
    return 0;
  size_t cap = p->cap ? p->cap : 1024;
  while (cap < p->n + extra)
    cap *= 2;
  errand_task **h = realloc(p->h, cap * sizeof *h);
  if (!h)
    return -1;
  p->h = h;
  p->cap = cap;
  return 0;
}

static void e_reserve(void *p_, size_t n) {
  epool *p = p_;
  if (p->ff)
    return;
  if (grow(p, n) == 0) /* touch it, as a user filling it would */
    memset(p->h + p->n, 0, n * sizeof *p->h);
}

static int post_with(epool *p, void *arg, const errand_post_options *o) {
  int rc;
  if (p->ff) {
    rc = errand_post(p->rt, tramp_ff, arg, o, NULL);
    if (rc == 0)
      bench_pending_add(1);
  } else {
    if (grow(p, 1) != 0)
      return -1;
    rc = errand_post(p->rt, tramp, arg, o, &p->h[p->n]);
    if (rc == 0)
      p->n++;
  }
  if (rc != 0)
    report("errand_post", rc);
  return rc == 0 ? 0 : -1;
}

static int e_post(void *p_, void *arg) {
  return post_with(p_, arg, NULL);
}

static int e_post_prio(void *p_, void *arg, int prio) {
  errand_post_options o;
  memset(&o, 0, sizeof o);
  o.priority = prio == BENCH_PRIO_USER_BLOCKING ? ERRAND_PRIORITY_USER_BLOCKING
                                                : ERRAND_PRIORITY_BACKGROUND;
  return post_with(p_, arg, &o);
}

static int e_post_batch(void *p_, void *const *args, size_t n) {
  epool *p = p_;
  if (grow(p, n) != 0)
    return -1;
  int rc = errand_post_batch(p->rt, tramp, args, n, NULL, p->h + p->n);
  if (rc != 0) {
    report("errand_post_batch", rc);
    return -1;
  }
  p->n += n;
  return 0;
}

static int e_wait_all(void *p_) {
  epool *p = p_;
  if (p->ff) {
    bench_pending_wait();
    return 0;
  }
  int rc = errand_wait_all(p->h, p->n, -1);
  if (rc != 0)
    report("errand_wait_all", rc);
  for (size_t i = 0; i < p->n; i++)
    errand_task_release(p->h[i]);
  p->n = 0;
  return rc == 0 ? 0 : -1;
}

static void e_destroy(void *p_) {
  epool *p = p_;
  if (!p->ff && p->n)
    e_wait_all(p);
  int rc = errand_runtime_destroy(p->rt);
  if (rc != 0)
    report("errand_runtime_destroy", rc);
  free(p->h);
  free(p);
}

/* ---- W2 ---- */
typedef struct fibarg {
  int n, cutoff;
  long r;
} fibarg;

static errand_runtime *g_fib_rt;
static volatile int g_fib_failed;

static int fib_task(errand_task *self, void *a_);

static long fib_e(int n, int cutoff) {
  if (n < 2)
    return n;
  if (n <= cutoff)
    return bench_fib_serial(n);
  fibarg c = {n - 1, cutoff, 0};
  errand_task *t = NULL;
  int rc = errand_post(g_fib_rt, fib_task, &c, NULL, &t);
  if (rc != 0) {
    report("errand_post (fib)", rc);
    g_fib_failed = 1;
    return fib_e(n - 1, cutoff) + fib_e(n - 2, cutoff);
  }
  long y = fib_e(n - 2, cutoff);
  rc = errand_wait(t, -1);
  if (rc != 0) {
    report("errand_wait (fib)", rc);
    g_fib_failed = 1;
  }
  errand_task_release(t);
  return c.r + y;
}

static int fib_task(errand_task *self, void *a_) {
  (void)self;
  fibarg *a = a_;
  a->r = fib_e(a->n, a->cutoff);
  return 0;
}

static long fib_root(int n, int cutoff) {
  fibarg a = {n, cutoff, -1};
  errand_task *t = NULL;
  int rc = errand_post(g_fib_rt, fib_task, &a, NULL, &t);
  if (rc != 0) {
    report("errand_post (fib root)", rc);
    return -1;
  }
  rc = errand_wait(t, -1);
  errand_task_release(t);
  if (rc != 0) {
    report("errand_wait (fib root)", rc);
    return -1;
  }
  return a.r;
}

static long e_fib(int workers, int n, int cutoff, uint64_t *elapsed_ns) {
  g_fib_rt = make_rt(workers);
  if (!g_fib_rt)
    return -1;
  fib_root(n < 20 ? n : 20, cutoff); /* warm-up */
  uint64_t t0 = bench_now_ns();
  long r = fib_root(n, cutoff);
  *elapsed_ns = bench_now_ns() - t0;
  int rc = errand_runtime_destroy(g_fib_rt);
  if (rc != 0)
    report("errand_runtime_destroy", rc);
  return g_fib_failed ? -1 : r;
}

static const char *e_version(void) {
  static char buf[32];
  snprintf(buf, sizeof buf, "%d.%d.%d (this tree)", ERRAND_VERSION_MAJOR,
           ERRAND_VERSION_MINOR, ERRAND_VERSION_PATCH);
  return buf;
}

const bench_peer bench_peer_errand = {
    .id = "errand",
    .label = "errand",
    .note = "errand_post with a handle per task, errand_wait_all, release",
    .version = e_version,
    .create = e_create,
    .destroy = e_destroy,
    .reserve = e_reserve,
    .post = e_post,
    .post_prio = e_post_prio,
    .wait_all = e_wait_all,
    .fib = e_fib,
};

const bench_peer bench_peer_errand_batch = {
    .id = "errand-batch",
    .label = "errand batch",
    .note = "errand_post_batch with handles, errand_wait_all, release",
    .version = e_version,
    .create = e_create,
    .destroy = e_destroy,
    .reserve = e_reserve,
    .post = e_post,
    .post_prio = e_post_prio,
    .post_batch = e_post_batch,
    .wait_all = e_wait_all,
};

const bench_peer bench_peer_errand_ff = {
    .id = "errand-ff",
    .label = "errand fire&forget",
    .note = "errand_post(rt, fn, arg, NULL, NULL) and a counter the tasks "
            "bring to zero",
    .version = e_version,
    .create = e_create_ff,
    .destroy = e_destroy,
    .post = e_post,
    .post_prio = e_post_prio,
    .wait_all = e_wait_all,
};
