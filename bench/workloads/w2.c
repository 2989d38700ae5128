/*
 * W2 fork-join: fib(30), a task for fib(n-1) and fib(n-2) inline, then join;
 * cutoff 0 and 10; 1 and all workers; errand against oneTBB task_group,
 * OpenMP tasks and the serial time.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../bench.h"

typedef struct w2_conf {
  int cutoff, workers;
} w2_conf;

typedef struct w2_ctx {
  int n;
  w2_conf conf[4];
} w2_ctx;

/* Tasks a run spawns: one per call with n > max(cutoff, 1). */
static long spawned(int n, int cutoff) {
  if (n < 2 || n <= cutoff)
    return 0;
  return 1 + spawned(n - 1, cutoff) + spawned(n - 2, cutoff);
}

static void w2_child(const bench_grid *g, int conf, int row, void *ctx_) {
  const w2_ctx *ctx = ctx_;
  const bench_peer *p = g->rows[row].peer;
  long expect = bench_fib_serial(ctx->n);
  uint64_t ns = 0;
  long r = p->fib(ctx->conf[conf].workers, ctx->n, ctx->conf[conf].cutoff, &ns);
  if (r != expect)
    bench_fail("fib(%d) gave %ld, not %ld", ctx->n, r, expect);
  bench_emit("ms", (double)ns / 1e6);
}

void bench_w2(void) {
  w2_ctx ctx = {.n = g_opts.smoke ? 15 : 30};
  int W = g_opts.workers_all, nc = 0;
  char labels[4][64];
  const char *confs[4];
  for (int c = 0; c < 2; c++)
    for (int w = 0; w < 2; w++) {
      int workers = w ? W : 1;
      if (w && W == 1)
        continue;
      ctx.conf[nc] = (w2_conf){c ? 10 : 0, workers};
      snprintf(labels[nc], sizeof labels[nc], "cutoff %d, workers=%d%s",
               c ? 10 : 0, workers, w ? " (all)" : "");
      confs[nc] = labels[nc];
      nc++;
    }
  bench_row rows[8];
  int nr = 0;
  bench_row_peer(rows, &nr, "errand", NULL, NULL);
  bench_row_peer(rows, &nr, "tbb", "oneTBB task_group",
                 "≈150 ms (cutoff 0, 2 threads)");
  bench_row_peer(rows, &nr, "omp", NULL, NULL);
  bench_row_peer(rows, &nr, "serial", "serial (no tasks)", NULL);
  bench_grid g = {.workload = "W2",
                  .nconf = nc,
                  .nrows = nr,
                  .runs = g_opts.runs,
                  .conf_labels = confs,
                  .rows = rows};
  bench_grid_run(&g, w2_child, &ctx);

  bench_out("## W2 fork-join — fib(%d): a task for fib(n-1), fib(n-2) "
            "inline, then join\n\n",
            ctx.n);
  bench_out("Cells: median (min..max) of %d runs, milliseconds. Ratio is "
            "errand ÷ peer in time, run by run (< 1: errand is faster). "
            "plain pool, libuv and GLib have no help-while-wait: a blocking "
            "join inside their tasks deadlocks once every worker waits, so "
            "they do not run W2.\n\n",
            g.runs);
  for (int c = 0; c < nc; c++) {
    long tasks = spawned(ctx.n, ctx.conf[c].cutoff);
    char tb[32];
    bench_out("### W2, %s (%s tasks)\n\n", confs[c],
              bench_commas(tasks, tb, sizeof tb));
    bench_out("| peer | version | ms | ns per task | errand ÷ peer | brief's "
              "figure |\n");
    bench_out("|---|---|---|---|---|---|\n");
    for (int r = 0; r < nr; r++) {
      char st[300], a[64], b[64];
      const char *stt = bench_row_status(&g, c, r, st, sizeof st);
      bench_stat3 ms = bench_metric(&g, c, r, "ms");
      bench_out("| %s | %s | ", rows[r].label, bench_row_version(&g, r));
      if (ms.n == 0) {
        bench_out("%s | | | %s |\n", stt ? stt : "—",
                  rows[r].expect ? rows[r].expect : "");
        continue;
      }
      bench_stat3 per = ms;
      if (tasks > 0 && strcmp(rows[r].label, "serial (no tasks)") != 0) {
        per.min = ms.min * 1e6 / (double)tasks;
        per.med = ms.med * 1e6 / (double)tasks;
        per.max = ms.max * 1e6 / (double)tasks;
      } else {
        per.n = 0;
      }
      bench_out("%s | %s | ", bench_fmt3(ms, -1, a, sizeof a),
                bench_fmt3(per, 1, b, sizeof b));
      if (rows[r].is_errand || rows[0].skip)
        bench_out("— |");
      else
        bench_out("%s |",
                  bench_fmt3(bench_ratio(&g, c, 0, r, "ms"), 2, a, sizeof a));
      bench_out(" %s%s%s |\n", rows[r].expect ? rows[r].expect : "",
                stt ? " " : "", stt ? stt : "");
    }
    bench_out("\n");
    char what[128], a[64];
    snprintf(what, sizeof what, "W2 %s: errand ÷ oneTBB ≤ 1.0", confs[c]);
    bench_stat3 rs = {0, NAN, NAN, NAN};
    if (!rows[0].skip && !rows[1].skip)
      rs = bench_ratio(&g, c, 0, 1, "ms");
    if (rs.n == 0)
      bench_target(BENCH_UNJUDGED, what, "no data");
    else
      bench_target(rs.med <= 1.0 ? BENCH_MET : BENCH_MISSED, what,
                   "%s (median (min..max) of per-run ratios)",
                   bench_fmt3(rs, 2, a, sizeof a));
  }
  bench_grid_free(&g);
}
