/*
 * Memory: bytes per queued task (1,000,000 tasks queued behind workers that
 * are held busy, RSS delta) and, for errand, bytes per live handle (tasks
 * done, handles still held).
 */
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../bench.h"
#include "../peers/piscina.h"
#ifdef BENCH_HAVE_ERRAND
#include <errand.h>
#endif

static atomic_int g_gate_open, g_gate_in;
static char g_gate; /* the gate task's arg */

static void mem_task(void *arg) {
  if (arg == &g_gate) {
    atomic_fetch_add(&g_gate_in, 1);
    while (!atomic_load(&g_gate_open)) {
      struct timespec ts = {0, 200000};
      nanosleep(&ts, NULL);
    }
    return;
  }
  bench_count_task();
}

typedef struct mem_ctx {
  long n;
  int workers;
} mem_ctx;

#ifdef BENCH_HAVE_ERRAND
static int noop(errand_task *self, void *arg) {
  (void)self;
  (void)arg;
  return 0;
}

/* errand only: handles of finished tasks, still held. */
static void live_handles(long n, int workers) {
  errand_runtime_options o;
  memset(&o, 0, sizeof o);
  o.workers = workers;
  errand_runtime *rt = NULL;
  int rc = errand_runtime_create(&o, &rt);
  if (rc)
    bench_fail("errand_runtime_create: %s", errand_strerror(rc));
  errand_task **h = calloc((size_t)n, sizeof *h);
  if (!h)
    bench_fail("out of memory");
  memset(h, 0, (size_t)n * sizeof *h);
  for (int i = 0; i < 1000; i++)
    errand_post(rt, noop, NULL, NULL, NULL);
  uint64_t rss0 = bench_rss_bytes();
  for (long i = 0; i < n; i++) {
    rc = errand_post(rt, noop, NULL, NULL, &h[i]);
    if (rc)
      bench_fail("errand_post: %s", errand_strerror(rc));
  }
  rc = errand_wait_all(h, (size_t)n, -1);
  if (rc)
    bench_fail("errand_wait_all: %s", errand_strerror(rc));
  uint64_t rss1 = bench_rss_bytes();
  for (long i = 0; i < n; i++)
    errand_task_release(h[i]);
  uint64_t rss2 = bench_rss_bytes();
  bench_emit("handle_bytes", ((double)rss1 - (double)rss0) / (double)n);
  bench_emit("after_release_bytes", ((double)rss2 - (double)rss0) / (double)n);
  errand_runtime_destroy(rt);
  free(h);
}
#endif

static void mem_child(const bench_grid *g, int conf, int row, void *ctx_) {
  (void)conf;
  const mem_ctx *ctx = ctx_;
  const bench_row *r = &g->rows[row];
  if (r->piscina) {
    char w[16], ns[32];
    snprintf(w, sizeof w, "%d", ctx->workers);
    snprintf(ns, sizeof ns, "%ld", ctx->n);
    const char *args[] = {"mem", "--workers", w, "--n", ns, NULL};
    bench_piscina_exec(args);
  }
#ifdef BENCH_HAVE_ERRAND
  if (r->variant == 1) {
    live_handles(ctx->n, ctx->workers);
    return;
  }
#endif
  const bench_peer *p = r->peer;
  void *pool = p->create(ctx->workers, mem_task);
  if (!pool)
    bench_fail("create failed");
  for (int i = 0; i < 1000; i++)
    if (p->post(pool, NULL) != 0)
      bench_fail("post failed (warm-up)");
  if (p->wait_all(pool) != 0)
    bench_fail("wait_all failed (warm-up)");
  if (p->reserve)
    p->reserve(pool, (size_t)ctx->n + (size_t)ctx->workers);
  bench_reset_counted_tasks();
  /* hold every worker in a gate task so what follows stays queued */
  for (int i = 0; i < ctx->workers; i++)
    if (p->post(pool, &g_gate) != 0)
      bench_fail("post failed (gate)");
  uint64_t deadline = bench_now_ns() + 5000000000ull;
  while (atomic_load(&g_gate_in) < ctx->workers) {
    if (bench_now_ns() > deadline)
      bench_fail("only %d of %d workers entered the gate",
                 atomic_load(&g_gate_in), ctx->workers);
    struct timespec ts = {0, 100000};
    nanosleep(&ts, NULL);
  }
  uint64_t rss0 = bench_rss_bytes();
  for (long i = 0; i < ctx->n; i++)
    if (p->post(pool, NULL) != 0)
      bench_fail("post %ld failed", i);
  uint64_t rss1 = bench_rss_bytes();
  uint64_t ran_early = bench_counted_tasks();
  atomic_store(&g_gate_open, 1);
  if (p->wait_all(pool) != 0)
    bench_fail("wait_all failed");
  uint64_t ran = bench_counted_tasks();
  if (ran != (uint64_t)ctx->n)
    bench_fail("%llu of %ld tasks ran", (unsigned long long)ran, ctx->n);
  if (ran_early > 0)
    bench_fail("%llu tasks ran while the workers were held",
               (unsigned long long)ran_early);
  bench_emit("queued_bytes", ((double)rss1 - (double)rss0) / (double)ctx->n);
  p->destroy(pool);
}

void bench_mem(void) {
  mem_ctx ctx = {.n = g_opts.smoke ? 10000 : 1000000,
                 .workers = g_opts.workers_all};
  bench_row rows[12];
  int nr = 0;
  bench_row_peer(rows, &nr, "errand-ff", "errand (fire-and-forget post)", NULL);
  bench_row_peer(rows, &nr, "errand", "errand (post with a handle)", NULL);
  bench_row_peer(rows, &nr, "errand", "errand: live handle of a finished task",
                 NULL);
  rows[nr - 1].variant = 1;
  bench_row_peer(rows, &nr, "plain", NULL, NULL);
  bench_row_peer(rows, &nr, "uv", NULL, NULL);
  bench_row_peer(rows, &nr, "glib", NULL, NULL);
  bench_row_peer(rows, &nr, "tbb", "oneTBB (arena enqueue)", NULL);
  bench_row_piscina(rows, &nr, NULL);
  char l0[64], nb[32];
  snprintf(l0, sizeof l0, "workers=%d (all)", ctx.workers);
  const char *confs[1] = {l0};
  bench_grid g = {.workload = "MEM",
                  .nconf = 1,
                  .nrows = nr,
                  .runs = g_opts.runs,
                  .conf_labels = confs,
                  .rows = rows};
  bench_grid_run(&g, mem_child, &ctx);

  bench_out("## Memory — %s tasks queued behind held workers (RSS delta ÷ "
            "tasks), %s\n\n",
            bench_commas(ctx.n, nb, sizeof nb), l0);
  bench_out("Includes what the library makes the user allocate per task "
            "(libuv's uv_work_t) but not the user's own array of handles "
            "(errand rows with handles: allocated before the baseline). Cells: "
            "median (min..max) of %d runs; ratio errand (fire-and-forget) ÷ "
            "peer (< 1: errand uses less).\n\n",
            g.runs);
  bench_out(
      "| peer | version | bytes per queued task | errand ÷ peer | notes |\n");
  bench_out("|---|---|---|---|---|\n");
  for (int r = 0; r < nr; r++) {
    char st[300], a[64];
    const char *stt = bench_row_status(&g, 0, r, st, sizeof st);
    const char *metric = rows[r].variant == 1 ? "handle_bytes" : "queued_bytes";
    bench_stat3 v = bench_metric(&g, 0, r, metric);
    bench_out("| %s | %s | ", rows[r].label, bench_row_version(&g, r));
    if (v.n == 0) {
      bench_out("%s | | |\n", stt ? stt : "—");
      continue;
    }
    bench_out("%s |", bench_fmt3(v, 0, a, sizeof a));
    if (rows[r].is_errand || rows[0].skip)
      bench_out(" — |");
    else
      bench_out(" %s |", bench_fmt3(bench_ratio(&g, 0, 0, r, "queued_bytes"), 2,
                                    a, sizeof a));
    bench_out(" ");
    if (rows[r].variant == 1) {
      bench_stat3 after = bench_metric(&g, 0, r, "after_release_bytes");
      bench_out("after releasing them, %s B per task are still resident "
                "(errand's caches / malloc)",
                bench_fmt3(after, 0, a, sizeof a));
    }
    bench_out("%s |\n", stt ? stt : "");
  }
  bench_out("\n");
  char a[64];
  bench_stat3 q = rows[0].skip ? (bench_stat3){0, NAN, NAN, NAN}
                               : bench_metric(&g, 0, 0, "queued_bytes");
  if (q.n)
    bench_target(q.med <= 128 ? BENCH_MET : BENCH_MISSED,
                 "Memory ≤ 128 bytes per queued task",
                 "errand (fire-and-forget) = %s B",
                 bench_fmt3(q, 0, a, sizeof a));
  else
    bench_target(BENCH_UNJUDGED, "Memory ≤ 128 bytes per queued task",
                 "no data");
  bench_grid_free(&g);
}
