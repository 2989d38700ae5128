/*
 * W3 wake latency: an idle pool, 10,000 posts spaced ~100 µs; time from the
 * post to the task starting (p50, p99, max).  Also the CPU the pool's own
 * threads used during the run (per post) and while idle afterwards: a pool
 * that spins is not idle.
 *
 * A floor row measures this machine's part: the same posts handed to a
 * thread that does nothing but spin on a mailbox, so it is always awake
 * and never parks.  No pool can start a task sooner than that thread
 * sees its mailbox; what is left in its tail is the hypervisor taking
 * the CPU away (a thread that only reads the clock in a loop sees gaps
 * of over 10 µs in some per cent of 100 µs windows on the 2-CPU VM).
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "../bench.h"
#include "../peers/piscina.h"

typedef struct slot {
  uint64_t t_post, t_start;
} slot;

static void w3_task(void *arg) {
  if (arg)
    ((slot *)arg)->t_start = bench_now_ns();
}

enum { W3_FLOOR_SPIN = 1 };

typedef struct w3_ctx {
  long n;
  int workers;
  int spacing_us;
  int idle_ms;
} w3_ctx;

/* CPU of every thread but the calling (posting) one. */
static int64_t pool_cpu_ns(void) {
  return (int64_t)bench_cpu_process_ns() - (int64_t)bench_cpu_thread_ns();
}

static void emit_latencies(const slot *s, long n) {
  double *lat = malloc(sizeof *lat * (size_t)n);
  if (!lat)
    bench_fail("out of memory");
  for (long i = 0; i < n; i++) {
    if (!s[i].t_start)
      bench_fail("task %ld never started", i);
    lat[i] = (double)(s[i].t_start - s[i].t_post) / 1e3;
  }
  bench_sort(lat, (size_t)n);
  bench_emit("p50_us", bench_quantile_sorted(lat, (size_t)n, 0.50));
  bench_emit("p99_us", bench_quantile_sorted(lat, (size_t)n, 0.99));
  bench_emit("max_us", lat[n - 1]);
  free(lat);
}

typedef struct spin_floor {
  _Atomic(slot *) mailbox;
  _Atomic int stop;
} spin_floor;

static void *floor_spinner(void *arg) {
  spin_floor *f = arg;
  for (;;) {
    slot *s = atomic_load_explicit(&f->mailbox, memory_order_acquire);
    if (s) {
      s->t_start = bench_now_ns();
      atomic_store_explicit(&f->mailbox, NULL, memory_order_release);
    } else if (atomic_load_explicit(&f->stop, memory_order_relaxed)) {
      return NULL;
    }
  }
}

static void w3_floor(const w3_ctx *ctx) {
  slot *s = bench_calloc_touched((size_t)ctx->n, sizeof *s);
  if (!s)
    bench_fail("out of memory");
  spin_floor f;
  atomic_init(&f.mailbox, NULL);
  atomic_init(&f.stop, 0);
  pthread_t spinner;
  bench_tight_timers();
  if (pthread_create(&spinner, NULL, floor_spinner, &f) != 0)
    bench_fail("pthread_create failed");
  uint64_t t0 = bench_now_ns() + 10000000u; /* the spinner is running */
  for (long i = 0; i < ctx->n; i++) {
    bench_sleep_until_tick(t0, i, ctx->spacing_us);
    uint64_t give_up = bench_now_ns() + 1000000000u;
    while (atomic_load_explicit(&f.mailbox, memory_order_acquire))
      if (bench_now_ns() > give_up)
        bench_fail("the floor's spinner did not look for a second");
    s[i].t_post = bench_now_ns();
    atomic_store_explicit(&f.mailbox, &s[i], memory_order_release);
  }
  while (atomic_load_explicit(&f.mailbox, memory_order_acquire))
    ;
  atomic_store(&f.stop, 1);
  pthread_join(spinner, NULL);
  emit_latencies(s, ctx->n);
  free(s);
}

static void w3_child(const bench_grid *g, int conf, int row, void *ctx_) {
  (void)conf;
  const w3_ctx *ctx = ctx_;
  const bench_row *r = &g->rows[row];
  if (r->piscina) {
    char w[16], ns[32], sp[16], id[16];
    snprintf(w, sizeof w, "%d", ctx->workers);
    snprintf(ns, sizeof ns, "%ld", ctx->n);
    snprintf(sp, sizeof sp, "%d", ctx->spacing_us);
    snprintf(id, sizeof id, "%d", ctx->idle_ms);
    const char *args[] = {"w3", "--workers", w,  "--n", ns, "--spacing-us",
                          sp,   "--idle-ms", id, NULL};
    bench_piscina_exec(args);
  }
  if (r->variant == W3_FLOOR_SPIN) {
    w3_floor(ctx);
    return;
  }
  const bench_peer *p = r->peer;
  bench_tight_timers();
  void *pool = p->create(ctx->workers, w3_task);
  if (!pool)
    bench_fail("create failed");
  for (int i = 0; i < 100; i++)
    if (p->post(pool, NULL) != 0)
      bench_fail("post failed (warm-up)");
  if (p->wait_all(pool) != 0)
    bench_fail("wait_all failed (warm-up)");
  slot *s = bench_calloc_touched((size_t)ctx->n, sizeof *s);
  if (!s)
    bench_fail("out of memory");
  if (p->reserve)
    p->reserve(pool, (size_t)ctx->n);
  bench_sleep_until_ns(bench_now_ns() + 20 * 1000000ull); /* let it park */

  int64_t cpu0 = pool_cpu_ns();
  uint64_t t0 = bench_now_ns();
  for (long i = 0; i < ctx->n; i++) {
    bench_sleep_until_tick(t0, i, ctx->spacing_us);
    s[i].t_post = bench_now_ns();
    if (p->post(pool, &s[i]) != 0)
      bench_fail("post %ld failed", i);
  }
  int64_t cpu1 = pool_cpu_ns();
  if (p->wait_all(pool) != 0)
    bench_fail("wait_all failed");

  /* idle: settle 10 ms, then the pool's CPU over idle_ms of nothing */
  bench_sleep_until_ns(bench_now_ns() + 10 * 1000000ull);
  int64_t c0 = pool_cpu_ns();
  uint64_t i0 = bench_now_ns();
  bench_sleep_until_ns(i0 + (uint64_t)ctx->idle_ms * 1000000u);
  int64_t c1 = pool_cpu_ns();
  uint64_t i1 = bench_now_ns();

  emit_latencies(s, ctx->n);
  double run_cpu = (double)(cpu1 - cpu0), idle_cpu = (double)(c1 - c0);
  bench_emit("cpu_us_per_post",
             (run_cpu > 0 ? run_cpu : 0) / 1e3 / (double)ctx->n);
  bench_emit("idle_cpu_pct",
             100.0 * (idle_cpu > 0 ? idle_cpu : 0) / (double)(i1 - i0));
  p->destroy(pool);
  free(s);
}

void bench_w3(void) {
  w3_ctx ctx = {.n = g_opts.smoke ? 100 : 10000,
                .workers = g_opts.workers_all,
                .spacing_us = 100,
                .idle_ms = g_opts.smoke ? 50 : 200};
  bench_row rows[12];
  int nr = 0;
  bench_row_peer(rows, &nr, "errand", NULL, NULL);
  bench_row_peer(rows, &nr, "tbb", "oneTBB (arena enqueue)", "p50 ≈2.6 µs");
  bench_row_peer(rows, &nr, "uv", NULL, "p50 ≈9 µs");
  bench_row_peer(rows, &nr, "glib", NULL, "p50 ≈9 µs");
  bench_row_peer(rows, &nr, "plain", NULL, NULL);
  bench_row_piscina(rows, &nr, NULL);
  bench_row_missing(rows, &nr, "libdispatch",
                    "no libdispatch-dev package in Debian 12", NULL);
  int floor_row = nr;
  rows[nr] = (bench_row){.label = "floor: a thread already spinning on a "
                                  "mailbox (no pool)",
                         .variant = W3_FLOOR_SPIN};
  nr++;
  char l0[64], nb[32];
  snprintf(l0, sizeof l0, "workers=%d (all)", ctx.workers);
  const char *confs[1] = {l0};
  bench_grid g = {.workload = "W3",
                  .nconf = 1,
                  .nrows = nr,
                  .runs = g_opts.runs,
                  .conf_labels = confs,
                  .rows = rows};
  bench_grid_run(&g, w3_child, &ctx);

  bench_out("## W3 wake latency — idle pool, %s posts spaced %d µs, %s\n\n",
            bench_commas(ctx.n, nb, sizeof nb), ctx.spacing_us, l0);
  bench_out("Latency = post call begins → task starts. Pool CPU = CPU of "
            "every thread but the poster: during the run per post, and idle "
            "over %d ms after a 10 ms settle (%% of one core). Cells: median "
            "(min..max) of %d runs; ratios errand ÷ peer run by run (< 1: "
            "errand is better).\n\n",
            ctx.idle_ms, g.runs);
  bench_out("| peer | version | p50 µs | p99 µs | max µs | pool CPU µs/post | "
            "idle CPU %% | errand ÷ peer p50 | errand ÷ peer p99 | brief's "
            "figure |\n");
  bench_out("|---|---|---|---|---|---|---|---|---|---|\n");
  for (int r = 0; r < nr; r++) {
    char st[300], a[64], b[64], c[64], d[64], e[64];
    const char *stt = bench_row_status(&g, 0, r, st, sizeof st);
    bench_stat3 p50 = bench_metric(&g, 0, r, "p50_us");
    bench_out("| %s | %s | ", rows[r].label, bench_row_version(&g, r));
    if (p50.n == 0) {
      bench_out("%s | | | | | | | %s |\n", stt ? stt : "—",
                rows[r].expect ? rows[r].expect : "");
      continue;
    }
    bench_out(
        "%s | %s | %s | %s | %s |", bench_fmt3(p50, -1, a, sizeof a),
        bench_fmt3(bench_metric(&g, 0, r, "p99_us"), -1, b, sizeof b),
        bench_fmt3(bench_metric(&g, 0, r, "max_us"), -1, c, sizeof c),
        bench_fmt3(bench_metric(&g, 0, r, "cpu_us_per_post"), -1, d, sizeof d),
        bench_fmt3(bench_metric(&g, 0, r, "idle_cpu_pct"), 2, e, sizeof e));
    if (rows[r].is_errand || rows[0].skip) {
      bench_out(" — | — |");
    } else {
      bench_out(" %s | %s |",
                bench_fmt3(bench_ratio(&g, 0, 0, r, "p50_us"), 2, a, sizeof a),
                bench_fmt3(bench_ratio(&g, 0, 0, r, "p99_us"), 2, b, sizeof b));
    }
    bench_out(" %s%s%s |\n", rows[r].expect ? rows[r].expect : "",
              stt ? " " : "", stt ? stt : "");
  }
  bench_out("\n");
  char a[64];
  bench_stat3 rs = {0, NAN, NAN, NAN};
  if (!rows[0].skip && !rows[1].skip)
    rs = bench_ratio(&g, 0, 0, 1, "p50_us");
  if (rs.n)
    bench_target(rs.med <= 1.0 ? BENCH_MET : BENCH_MISSED,
                 "W3 p50 ≤ oneTBB's p50", "errand ÷ oneTBB p50 = %s",
                 bench_fmt3(rs, 2, a, sizeof a));
  else
    bench_target(BENCH_UNJUDGED, "W3 p50 ≤ oneTBB's p50", "no data");
  bench_stat3 p99 = rows[0].skip ? (bench_stat3){0, NAN, NAN, NAN}
                                 : bench_metric(&g, 0, 0, "p99_us");
  char fl[64];
  bench_fmt3(bench_metric(&g, 0, floor_row, "p99_us"), -1, fl, sizeof fl);
  if (p99.n)
    bench_target(p99.med <= 10.0 ? BENCH_MET : BENCH_MISSED, "W3 p99 ≤ 10 µs",
                 "errand p99 = %s µs; this machine's spin floor p99 = %s µs",
                 bench_fmt3(p99, -1, a, sizeof a), fl);
  else
    bench_target(BENCH_UNJUDGED, "W3 p99 ≤ 10 µs", "no data");
  bench_stat3 idle = rows[0].skip ? (bench_stat3){0, NAN, NAN, NAN}
                                  : bench_metric(&g, 0, 0, "idle_cpu_pct");
  if (idle.n)
    bench_target(idle.max <= 1.0 ? BENCH_MET : BENCH_MISSED,
                 "W3 no CPU burnt idle (≤ 1% of a core, every run)",
                 "errand idle CPU = %s %% of a core; during the run %s µs "
                 "per post",
                 bench_fmt3(idle, 2, a, sizeof a),
                 bench_fmt3(bench_metric(&g, 0, 0, "cpu_us_per_post"), -1,
                            (char[64]){0}, 64));
  else
    bench_target(BENCH_UNJUDGED, "W3 no CPU burnt idle", "no data");
  bench_grid_free(&g);
}
