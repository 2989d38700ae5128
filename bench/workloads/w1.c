/*
 * W1 throughput: one thread posts 1,000,000 empty tasks, then waits for all.
 * Tasks per second, with 1 and with all workers; errand also with its batch
 * call and fire-and-forget.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../bench.h"
#include "../peers/piscina.h"

static void w1_task(void *arg) {
  (void)arg;
  bench_count_task(); /* proves it ran; a thread-local add, no sharing */
}

typedef struct w1_ctx {
  long n;
  int workers[2];
} w1_ctx;

static void w1_child(const bench_grid *g, int conf, int row, void *ctx_) {
  const w1_ctx *ctx = ctx_;
  const bench_row *r = &g->rows[row];
  int workers = ctx->workers[conf];
  long n = ctx->n;
  if (r->piscina) {
    char w[16], ns[32];
    snprintf(w, sizeof w, "%d", workers);
    snprintf(ns, sizeof ns, "%ld", n);
    const char *args[] = {"w1", "--workers", w, "--n", ns, NULL};
    bench_piscina_exec(args);
  }
  const bench_peer *p = r->peer;
  void *pool = p->create(workers, w1_task);
  if (!pool)
    bench_fail("create failed");
  /* warm-up: threads started, caches primed */
  for (int i = 0; i < 1000; i++)
    if (p->post(pool, NULL) != 0)
      bench_fail("post failed (warm-up)");
  if (p->wait_all(pool) != 0)
    bench_fail("wait_all failed (warm-up)");
  void **args = NULL;
  if (p->post_batch) {
    args = calloc((size_t)n, sizeof *args);
    if (!args)
      bench_fail("out of memory");
  }
  if (p->reserve)
    p->reserve(pool, (size_t)n);
  bench_reset_counted_tasks();

  uint64_t t0 = bench_now_ns();
  if (p->post_batch) {
    if (p->post_batch(pool, args, (size_t)n) != 0)
      bench_fail("batch failed");
  } else {
    for (long i = 0; i < n; i++)
      if (p->post(pool, NULL) != 0)
        bench_fail("post %ld failed", i);
  }
  uint64_t t1 = bench_now_ns();
  if (p->wait_all(pool) != 0)
    bench_fail("wait_all failed");
  uint64_t t2 = bench_now_ns();

  uint64_t ran = bench_counted_tasks();
  if (ran != (uint64_t)n)
    bench_fail("%llu of %ld tasks ran", (unsigned long long)ran, n);
  double s = (double)(t2 - t0) / 1e9;
  bench_emit("mtasks_per_s", (double)n / s / 1e6);
  bench_emit("ns_per_task", (double)(t2 - t0) / (double)n);
  bench_emit("post_ns_per_task", (double)(t1 - t0) / (double)n);
  p->destroy(pool);
  free(args);
}

void bench_w1(void) {
  w1_ctx ctx = {.n = g_opts.smoke ? 10000 : 1000000,
                .workers = {1, g_opts.workers_all}};
  bench_row rows[16];
  int nr = 0;
  bench_row_peer(rows, &nr, "errand", "errand (post + handles + wait_all)",
                 NULL);
  bench_row_peer(rows, &nr, "errand-batch",
                 "errand batch (post_batch + wait_all)", NULL);
  bench_row_peer(rows, &nr, "errand-ff", "errand fire&forget + counter", NULL);
  bench_row_peer(rows, &nr, "plain", NULL, "≈700 ns");
  bench_row_peer(rows, &nr, "uv", NULL, "≈225 ns");
  bench_row_peer(rows, &nr, "glib", NULL, "≈1,500 ns");
  bench_row_peer(rows, &nr, "tbb", "oneTBB (arena enqueue)", NULL);
  bench_row_piscina(rows, &nr, NULL);
  bench_row_missing(rows, &nr, "libdispatch",
                    "no libdispatch-dev package in Debian 12", "≈700 ns");
  char l0[64], l1[64], nb[32];
  snprintf(l0, sizeof l0, "workers=1");
  snprintf(l1, sizeof l1, "workers=%d (all)", g_opts.workers_all);
  const char *confs[2] = {l0, l1};
  bench_grid g = {.workload = "W1",
                  .nconf = g_opts.workers_all > 1 ? 2 : 1,
                  .nrows = nr,
                  .runs = g_opts.runs,
                  .conf_labels = confs,
                  .rows = rows};
  bench_grid_run(&g, w1_child, &ctx);

  bench_out("## W1 throughput — %s empty tasks posted by one thread, then "
            "wait for all\n\n",
            bench_commas(ctx.n, nb, sizeof nb));
  bench_out("Cells: median (min..max) of %d runs. Ratios are errand ÷ peer in "
            "tasks/s, taken run by run (> 1: errand is faster).\n\n",
            g.runs);
  int erows[3] = {0, 1, 2};
  for (int c = 0; c < g.nconf; c++) {
    bench_out("### W1, %s\n\n", confs[c]);
    bench_out("| peer | version | Mtasks/s | ns/task | post ns/task | "
              "errand ÷ peer | errand batch ÷ peer | errand f&f ÷ peer | "
              "brief's figure |\n");
    bench_out("|---|---|---|---|---|---|---|---|---|\n");
    int fastest = -1;
    double best = -1;
    for (int r = 0; r < nr; r++) {
      char st[300], a[64], b[64], d[64];
      const char *stt = bench_row_status(&g, c, r, st, sizeof st);
      bench_stat3 tps = bench_metric(&g, c, r, "mtasks_per_s");
      if (!rows[r].is_errand && tps.n && tps.med > best) {
        best = tps.med;
        fastest = r;
      }
      bench_out("| %s | %s | ", rows[r].label, bench_row_version(&g, r));
      if (stt && tps.n == 0) {
        bench_out("%s | | | | | | %s |\n", stt,
                  rows[r].expect ? rows[r].expect : "");
        continue;
      }
      bench_out(
          "%s | %s | %s |", bench_fmt3(tps, 2, a, sizeof a),
          bench_fmt3(bench_metric(&g, c, r, "ns_per_task"), 0, b, sizeof b),
          bench_fmt3(bench_metric(&g, c, r, "post_ns_per_task"), 0, d,
                     sizeof d));
      for (int e = 0; e < 3; e++) {
        if (rows[r].is_errand || rows[erows[e]].skip) {
          bench_out(" — |");
          continue;
        }
        bench_out(" %s |",
                  bench_fmt3(bench_ratio(&g, c, erows[e], r, "mtasks_per_s"), 2,
                             a, sizeof a));
      }
      bench_out(" %s%s%s |\n", rows[r].expect ? rows[r].expect : "",
                stt ? " " : "", stt ? stt : "");
    }
    bench_out("\n");
    for (int e = 0; e < 3; e++) {
      char what[160], a[64];
      snprintf(what, sizeof what, "W1 %s: %s ≥ 2× the fastest peer", confs[c],
               rows[erows[e]].label);
      bench_stat3 rs = {0, NAN, NAN, NAN};
      if (fastest >= 0 && !rows[erows[e]].skip)
        rs = bench_ratio(&g, c, erows[e], fastest, "mtasks_per_s");
      if (rs.n == 0) {
        bench_target(BENCH_UNJUDGED, what, "%s",
                     rows[erows[e]].skip ? rows[erows[e]].skip : "no data");
        continue;
      }
      bench_target(rs.med >= 2.0 ? BENCH_MET : BENCH_MISSED, what,
                   "%s× %s (median (min..max) of per-run ratios)",
                   bench_fmt3(rs, 2, a, sizeof a), rows[fastest].label);
    }
  }
  bench_out("Notes: %s. errand rows use only include/errand.h. "
            "Each measurement is a fresh process; a 1,000-task warm-up runs "
            "first.\n\n",
            "peers as adapted in bench/peers/ (see bench/README.md)");
  bench_grid_free(&g);
}
