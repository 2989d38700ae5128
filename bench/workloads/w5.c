/*
 * W5 process jobs.
 *
 * (a) One-shot process jobs: a trivial named job ("bench.noop", result
 *     null) in a fresh worker process, result back, N jobs one after the
 *     other (and, for information, K in flight) -> µs per job and jobs/s.
 *       - errand: errand_job_start(mode ERRAND_JOB_PROCESS) + errand_wait +
 *         errand_job_result.  The worker is this program re-executed (the
 *         default: errand-bench calls errand_worker_main first thing in
 *         main), and, for information, the small errand-bench-worker
 *         (errand + libc only) through errand_job_options.command;
 *       - Node: child_process.fork per job with one message round trip
 *         (node/proc_bench.mjs fork);
 *       - floors: posix_spawn of /bin/true + waitpid; posix_spawn of the
 *         two worker programs with BENCH_W5_EXIT=1 (they _exit(0) first
 *         thing: what starting that program costs); a raw fork + pipe
 *         16-byte echo (fork, write 16 bytes, the child echoes them and
 *         exits, read + waitpid).
 * (b) Resident worker round trip: a 16-byte echo job ("bench.echo", args
 *     ["<12 digits>"] = 16 bytes of JSON) to a pool of one warm worker
 *     process, one at a time -> µs per round trip (p50, p99, mean).
 *       - errand: errand_procpool_create(min = max = 1), then
 *         errand_job_start(mode ERRAND_JOB_WORKER) + errand_wait +
 *         errand_job_result;
 *       - Node: a persistent child_process.fork child, process.send /
 *         on('message') (node/proc_bench.mjs child);
 *       - piscina: a pool of one thread, await pool.run(16-byte string);
 *       - floor: 16 bytes over a pipe pair to an already running child and
 *         back.
 *
 * Targets (the issue): W5a errand one-shot ≤ 1.5× the posix_spawn floor;
 * W5b errand resident round trip ≤ 1.5× the raw pipe floor, "so at least 3×
 * faster than piscina".  Judged on the median of per-run ratios.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../bench.h"
#include "../peers/piscina.h"
#ifdef BENCH_HAVE_ERRAND
#include <errand.h>

#include "../w5_jobs.h"
#endif

extern char **environ;

/* Row variants. */
enum {
  A_ERRAND_SELF = 1, /* errand one-shot, this program as the worker */
  A_ERRAND_SMALL,    /* errand one-shot, errand-bench-worker */
  A_ERRAND_K,        /* errand one-shot, K in flight */
  A_NODE_FORK,       /* Node child_process.fork per job */
  A_FLOOR_TRUE,      /* posix_spawn /bin/true */
  A_FLOOR_SELF,      /* posix_spawn errand-bench, exits at once */
  A_FLOOR_SMALL,     /* posix_spawn errand-bench-worker, exits at once */
  A_FLOOR_FORK_ECHO, /* fork + pipe 16-byte echo, one-shot */
  B_ERRAND,          /* errand resident pool */
  B_NODE_CHILD,      /* Node persistent child */
  B_PISCINA,         /* piscina, one thread */
  B_FLOOR_PIPE       /* pipe round trip to a resident child */
};

typedef struct w5_ctx {
  long oneshot_n;   /* errand one-shot jobs, and the exec floors */
  long spawns;      /* posix_spawn /bin/true, fork echoes */
  long node_fork_n; /* Node fork per job */
  long inflight_n;
  int inflight;
  long rt_n, rt_warmup; /* resident round trips */
} w5_ctx;

/* ------------------------------------------------------------------ */
/* helpers                                                             */
/* ------------------------------------------------------------------ */

static void full_write(int fd, const void *b, size_t n) {
  const char *p = b;
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      bench_fail("write: %s", strerror(errno));
    p += w;
    n -= (size_t)w;
  }
}

static int full_read(int fd, void *b, size_t n) {
  char *p = b;
  while (n) {
    ssize_t r = read(fd, p, n);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return -1;
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

/* Per-job latencies (µs) and the total: us_per_job (mean), jobs_per_s,
 * p50_us, p99_us, max_us. */
static void emit_latencies(double *lat, long n, uint64_t total_ns) {
  bench_emit("us_per_job", (double)total_ns / 1e3 / (double)n);
  bench_emit("jobs_per_s", (double)n / ((double)total_ns / 1e9));
  bench_sort(lat, (size_t)n);
  bench_emit("p50_us", bench_quantile_sorted(lat, (size_t)n, 0.50));
  bench_emit("p99_us", bench_quantile_sorted(lat, (size_t)n, 0.99));
  bench_emit("max_us", lat[n - 1]);
}

static double *alloc_lat(long n) {
  double *lat = malloc(sizeof *lat * (size_t)(n > 0 ? n : 1));
  if (!lat)
    bench_fail("out of memory");
  return lat;
}

#ifndef BENCH_WORKER_PATH
#define BENCH_WORKER_PATH ""
#endif

/* ------------------------------------------------------------------ */
/* floors                                                              */
/* ------------------------------------------------------------------ */

/* posix_spawn path + waitpid, n times; env NULL = ours. */
static void floor_spawn(const char *path, char **env, long n) {
  char *argv[] = {(char *)path, NULL};
  double *lat = alloc_lat(n);
  for (int warm = 0; warm < 3; warm++) { /* page cache, dynamic loader */
    pid_t pid;
    int rc = posix_spawn(&pid, path, NULL, NULL, argv, env ? env : environ);
    if (rc != 0)
      bench_fail("posix_spawn %s: %s", path, strerror(rc));
    waitpid(pid, NULL, 0);
  }
  uint64_t t0 = bench_now_ns();
  for (long i = 0; i < n; i++) {
    uint64_t s = bench_now_ns();
    pid_t pid;
    int rc = posix_spawn(&pid, path, NULL, NULL, argv, env ? env : environ);
    if (rc != 0)
      bench_fail("posix_spawn %s: %s", path, strerror(rc));
    int st;
    if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
      bench_fail("%s did not exit 0", path);
    lat[i] = (double)(bench_now_ns() - s) / 1e3;
  }
  emit_latencies(lat, n, bench_now_ns() - t0);
  free(lat);
}

/* Our environment plus BENCH_W5_EXIT=1 (the worker programs _exit(0) at
 * once: bench_w5_worker_main). */
static char **exit_env(void) {
  size_t n = 0;
  while (environ[n])
    n++;
  char **env = calloc(n + 2, sizeof *env);
  if (!env)
    bench_fail("out of memory");
  for (size_t i = 0; i < n; i++)
    env[i] = environ[i];
  env[n] = "BENCH_W5_EXIT=1";
  return env;
}

static void floor_fork_echo(long n) {
  double *lat = alloc_lat(n);
  uint64_t t0 = bench_now_ns();
  for (long i = 0; i < n; i++) {
    uint64_t s = bench_now_ns();
    int to[2], from[2];
    if (pipe(to) || pipe(from))
      bench_fail("pipe: %s", strerror(errno));
    pid_t pid = fork();
    if (pid < 0)
      bench_fail("fork: %s", strerror(errno));
    if (pid == 0) {
      char b[16];
      close(to[1]);
      close(from[0]);
      if (full_read(to[0], b, 16) == 0)
        full_write(from[1], b, 16);
      _exit(0);
    }
    close(to[0]);
    close(from[1]);
    char msg[24], back[16];
    snprintf(msg, sizeof msg, "%016ld", i % 10000000000000000L);
    full_write(to[1], msg, 16);
    if (full_read(from[0], back, 16) || memcmp(msg, back, 16))
      bench_fail("echo %ld came back wrong", i);
    close(to[1]);
    close(from[0]);
    int st;
    waitpid(pid, &st, 0);
    lat[i] = (double)(bench_now_ns() - s) / 1e3;
  }
  emit_latencies(lat, n, bench_now_ns() - t0);
  free(lat);
}

static void floor_pipe_roundtrip(long n, long warmup) {
  int to[2], from[2];
  if (pipe(to) || pipe(from))
    bench_fail("pipe: %s", strerror(errno));
  pid_t pid = fork();
  if (pid < 0)
    bench_fail("fork: %s", strerror(errno));
  if (pid == 0) {
    char b[16];
    close(to[1]);
    close(from[0]);
    while (full_read(to[0], b, 16) == 0)
      full_write(from[1], b, 16);
    _exit(0);
  }
  close(to[0]);
  close(from[1]);
  char msg[24], back[16];
  double *lat = alloc_lat(n);
  uint64_t t0 = 0;
  for (long i = -warmup; i < n; i++) {
    if (i == 0)
      t0 = bench_now_ns();
    uint64_t s = bench_now_ns();
    snprintf(msg, sizeof msg, "%016ld", (i < 0 ? -i : i) % 10000000000000000L);
    full_write(to[1], msg, 16);
    if (full_read(from[0], back, 16) || memcmp(msg, back, 16))
      bench_fail("echo %ld came back wrong", i);
    if (i >= 0)
      lat[i] = (double)(bench_now_ns() - s) / 1e3;
  }
  uint64_t t1 = bench_now_ns();
  close(to[1]);
  close(from[0]);
  int st;
  waitpid(pid, &st, 0);
  emit_latencies(lat, n, t1 - t0);
  free(lat);
}

/* ------------------------------------------------------------------ */
/* errand                                                              */
/* ------------------------------------------------------------------ */

#ifdef BENCH_HAVE_ERRAND
static void efail(const char *what, int rc) {
  bench_fail("%s: %s (%s) %s", what, errand_errname(rc), errand_strerror(rc),
             errand_last_error());
}

static errand_runtime *w5_runtime(void) {
  char v[64];
  snprintf(v, sizeof v, "%d.%d.%d (this tree)", ERRAND_VERSION_MAJOR,
           ERRAND_VERSION_MINOR, ERRAND_VERSION_PATCH);
  bench_emit_text("version", v);
  errand_runtime *rt = NULL;
  int rc = errand_runtime_create(NULL, &rt); /* defaults: a worker per CPU */
  if (rc != 0)
    efail("errand_runtime_create", rc);
  return rt;
}

/* Waits for t, checks that its result is `want`, releases it. */
static void finish_job(errand_task *t, const char *want, long i) {
  int rc = errand_wait(t, -1);
  if (rc != 0)
    efail("errand_wait", rc);
  const char *json = NULL;
  rc = errand_job_result(t, &json);
  if (rc != 0) {
    int code = 0;
    const char *msg = "";
    errand_task_error(t, &code, &msg);
    bench_fail("job %ld: %s: %s", i, errand_errname(rc), msg ? msg : "");
  }
  if (!json || strcmp(json, want) != 0)
    bench_fail("job %ld: result %s, expected %s", i, json ? json : "(none)",
               want);
  errand_task_release(t);
}

static errand_task *start_job(errand_runtime *rt, const char *name,
                              const char *args, const errand_job_options *o) {
  errand_task *t = NULL;
  int rc = errand_job_start(rt, bench_w5_jobs(), name, args, o, &t);
  if (rc != 0)
    efail("errand_job_start", rc);
  return t;
}

static void errand_oneshot(long n, const char *const *command, int inflight) {
  if (!bench_w5_jobs())
    bench_fail("no job registry");
  errand_runtime *rt = w5_runtime();
  errand_job_options o;
  memset(&o, 0, sizeof o);
  o.mode = ERRAND_JOB_PROCESS;
  o.command = command;
  for (long i = 0; i < 3; i++) /* the pool's thread, page cache */
    finish_job(start_job(rt, "bench.noop", "[]", &o), "null", -1);
  double *lat = alloc_lat(n);
  uint64_t t0 = bench_now_ns();
  if (inflight <= 1) {
    for (long i = 0; i < n; i++) {
      uint64_t s = bench_now_ns();
      finish_job(start_job(rt, "bench.noop", "[]", &o), "null", i);
      lat[i] = (double)(bench_now_ns() - s) / 1e3;
    }
  } else {
    errand_task **fl = calloc((size_t)inflight, sizeof *fl);
    uint64_t *st = calloc((size_t)inflight, sizeof *st);
    long started = 0, done = 0;
    int live = 0;
    if (!fl || !st)
      bench_fail("out of memory");
    while (done < n) {
      while (live < inflight && started < n) {
        st[live] = bench_now_ns();
        fl[live++] = start_job(rt, "bench.noop", "[]", &o);
        started++;
      }
      size_t k = 0;
      int rc = errand_wait_any(fl, (size_t)live, -1, &k);
      if (rc != 0)
        efail("errand_wait_any", rc);
      lat[done] = (double)(bench_now_ns() - st[k]) / 1e3;
      finish_job(fl[k], "null", done);
      done++;
      fl[k] = fl[--live];
      st[k] = st[live];
    }
    free(fl);
    free(st);
  }
  uint64_t t1 = bench_now_ns();
  int rc = errand_runtime_destroy(rt);
  if (rc != 0)
    efail("errand_runtime_destroy", rc);
  emit_latencies(lat, n, t1 - t0);
  free(lat);
}

static void errand_resident(long n, long warmup) {
  if (!bench_w5_jobs())
    bench_fail("no job registry");
  errand_runtime *rt = w5_runtime();
  errand_procpool_options po;
  memset(&po, 0, sizeof po);
  po.min_workers = 1;
  po.max_workers = 1;
  errand_procpool *pool = NULL;
  int rc = errand_procpool_create(rt, bench_w5_jobs(), &po, &pool);
  if (rc != 0)
    efail("errand_procpool_create", rc);
  errand_job_options o;
  memset(&o, 0, sizeof o);
  o.mode = ERRAND_JOB_WORKER;
  o.pool = pool;
  double *lat = alloc_lat(n);
  char args[32];
  uint64_t t0 = 0;
  for (long i = -warmup; i < n; i++) {
    if (i == 0)
      t0 = bench_now_ns();
    /* ["<12 digits>"]: 16 bytes of JSON */
    snprintf(args, sizeof args, "[\"%012ld\"]", (i < 0 ? -i : i) % 1000000000000L);
    uint64_t s = bench_now_ns();
    finish_job(start_job(rt, "bench.echo", args, &o), args, i);
    if (i >= 0)
      lat[i] = (double)(bench_now_ns() - s) / 1e3;
  }
  uint64_t t1 = bench_now_ns();
  if ((rc = errand_procpool_destroy(pool)) != 0)
    efail("errand_procpool_destroy", rc);
  if ((rc = errand_runtime_destroy(rt)) != 0)
    efail("errand_runtime_destroy", rc);
  emit_latencies(lat, n, t1 - t0);
  free(lat);
}
#endif

/* ------------------------------------------------------------------ */
/* the measurement child                                               */
/* ------------------------------------------------------------------ */

static void node_exec(const char *script, const char *what, long n,
                      long warmup) {
  char ns[32], ws[32];
  snprintf(ns, sizeof ns, "%ld", n);
  snprintf(ws, sizeof ws, "%ld", warmup);
  if (!strcmp(script, "piscina_bench.mjs")) {
    const char *args[] = {what, "--workers", "1", "--n", ns, "--warmup", ws,
                          NULL};
    bench_node_exec(script, args);
  }
  const char *args[] = {what, "--n", ns, "--warmup", ws, NULL};
  bench_node_exec(script, args);
}

static void w5_child(const bench_grid *g, int conf, int row, void *ctx_) {
  (void)conf;
  const w5_ctx *ctx = ctx_;
  /* Worker processes are exec'd: they must not hold the metric pipe (the
   * driver reads it to its end). */
  fcntl(bench_emit_fd(), F_SETFD, FD_CLOEXEC);
  switch (g->rows[row].variant) {
#ifdef BENCH_HAVE_ERRAND
  case A_ERRAND_SELF:
    errand_oneshot(ctx->oneshot_n, NULL, 1);
    break;
  case A_ERRAND_SMALL: {
    const char *cmd[] = {BENCH_WORKER_PATH, NULL};
    errand_oneshot(ctx->oneshot_n, cmd, 1);
    break;
  }
  case A_ERRAND_K:
    errand_oneshot(ctx->inflight_n, NULL, ctx->inflight);
    break;
  case B_ERRAND:
    errand_resident(ctx->rt_n, ctx->rt_warmup);
    break;
#endif
  case A_NODE_FORK:
    node_exec("proc_bench.mjs", "fork", ctx->node_fork_n,
              g_opts.smoke ? 1 : 2);
    break;
  case B_NODE_CHILD:
    node_exec("proc_bench.mjs", "child", ctx->rt_n, ctx->rt_warmup);
    break;
  case B_PISCINA:
    node_exec("piscina_bench.mjs", "w5", ctx->rt_n, ctx->rt_warmup);
    break;
  case A_FLOOR_TRUE:
    floor_spawn("/bin/true", NULL, ctx->spawns);
    break;
  case A_FLOOR_SELF:
    floor_spawn("/proc/self/exe", exit_env(), ctx->oneshot_n);
    break;
  case A_FLOOR_SMALL:
    floor_spawn(BENCH_WORKER_PATH, exit_env(), ctx->oneshot_n);
    break;
  case A_FLOOR_FORK_ECHO:
    floor_fork_echo(ctx->spawns);
    break;
  case B_FLOOR_PIPE:
    floor_pipe_roundtrip(ctx->rt_n, ctx->rt_warmup);
    break;
  default:
    bench_fail("no such W5 row");
  }
}

/* ------------------------------------------------------------------ */
/* rows and tables                                                     */
/* ------------------------------------------------------------------ */

static void add_row(bench_row *rows, int *n, const char *label, int variant,
                    int is_errand, const char *skip) {
  bench_row *r = &rows[(*n)++];
  memset(r, 0, sizeof *r);
  r->label = label;
  r->variant = variant;
  r->is_errand = is_errand;
  r->skip = skip;
}

static const char *errand_skip(void) {
#ifdef BENCH_HAVE_ERRAND
  return NULL;
#else
  return "errand not built (peers-only build)";
#endif
}

static const char *node_skip(const char *script) {
  static char why[2][200];
  static int k;
  char *w = why[k++ & 1];
  return bench_node_available(script, w, sizeof why[0]) ? NULL : w;
}

static const char *small_worker_skip(void) {
  if (errand_skip())
    return errand_skip();
  return access(BENCH_WORKER_PATH, X_OK) == 0
             ? NULL
             : "errand-bench-worker not built";
}

static const char *version_of(const bench_grid *g, int r) {
  const char *v = bench_row_version(g, r);
  return v && *v ? v : "—";
}

static double ratio_med(const bench_grid *g, int a, int b, const char *m,
                        char *buf, size_t len) {
  bench_stat3 s = {0, NAN, NAN, NAN};
  if (!g->rows[a].skip && !g->rows[b].skip)
    s = bench_ratio(g, 0, a, b, m);
  bench_fmt3(s, 2, buf, len);
  return s.n ? s.med : NAN;
}

static void table_a(const bench_grid *g, const w5_ctx *ctx, int r_true) {
  char b1[32], b2[32], b3[32];
  bench_out("## W5a one-shot process jobs — a trivial job in a fresh process, "
            "result back\n\n");
  bench_out(
      "One job after the other (errand: %s jobs, exec floors: %s spawns, "
      "/bin/true and fork echo: %s, Node: %s; the K-in-flight row keeps %d "
      "jobs running). µs per job = wall time ÷ jobs; p50/p99 per job. "
      "errand's job: `bench.noop` (result `null`) through "
      "errand_job_start(ERRAND_JOB_PROCESS) + errand_wait + "
      "errand_job_result. Its worker is errand-bench itself, re-executed (the "
      "default), or errand-bench-worker (errand + libc only) through "
      "`command`; the exec floors start those two programs with "
      "BENCH_W5_EXIT=1, which `_exit(0)` first thing in main. Cells: median "
      "(min..max) of %d runs; ratios run by run, on the per-job p50 (the "
      "mean of a few hundred process starts swings with whatever else the "
      "machine runs).\n\n",
      bench_commas(ctx->oneshot_n, b1, sizeof b1),
      bench_commas(ctx->oneshot_n, b2, sizeof b2),
      bench_commas(ctx->spawns, b3, sizeof b3),
      bench_commas(ctx->node_fork_n, (char[32]){0}, 32), ctx->inflight,
      g->runs);
  bench_out("| peer | version | µs per job | jobs/s | p50 µs | p99 µs | "
            "errand ÷ row (p50) | row ÷ posix_spawn /bin/true (p50) |\n");
  bench_out("|---|---|---|---|---|---|---|---|\n");
  for (int r = 0; r < g->nrows; r++) {
    char st[300], a[64], b[64], c[64], d[64], e[64], f[64];
    const char *stt = bench_row_status(g, 0, r, st, sizeof st);
    bench_stat3 us = bench_metric(g, 0, r, "us_per_job");
    bench_out("| %s | %s | ", g->rows[r].label, version_of(g, r));
    if (us.n == 0) {
      bench_out("%s | | | | | |\n", stt ? stt : "—");
      continue;
    }
    bench_out("%s | %s | %s | %s | ", bench_fmt3(us, -1, a, sizeof a),
              bench_fmt3(bench_metric(g, 0, r, "jobs_per_s"), 0, b, sizeof b),
              bench_fmt3(bench_metric(g, 0, r, "p50_us"), -1, c, sizeof c),
              bench_fmt3(bench_metric(g, 0, r, "p99_us"), -1, d, sizeof d));
    if (r == 0)
      bench_out("— | ");
    else {
      ratio_med(g, 0, r, "p50_us", e, sizeof e);
      bench_out("%s | ", e);
    }
    if (r == r_true)
      bench_out("— |");
    else {
      ratio_med(g, r, r_true, "p50_us", f, sizeof f);
      bench_out("%s |", f);
    }
    bench_out("%s%s\n", stt ? " " : "", stt ? stt : "");
  }
  bench_out("\n");
}

static void table_b(const bench_grid *g, const w5_ctx *ctx, int r_pipe) {
  char b1[32], b2[32];
  bench_out("## W5b resident worker round trip — a 16-byte echo job to one "
            "warm worker process, one at a time\n\n");
  bench_out(
      "%s round trips after %s of warm-up, per row. errand's job: "
      "`bench.echo` with args `[\"<12 digits>\"]` (16 bytes of JSON), result "
      "= args, through errand_job_start(ERRAND_JOB_WORKER) on "
      "errand_procpool (min = max = 1 worker) + errand_wait + "
      "errand_job_result. Node: a 16-byte string through process.send / "
      "on('message') to one forked child; piscina: `await pool.run(string)` "
      "on a pool of one thread; floor: 16 bytes over a pipe pair to a "
      "running child and back. Cells: median (min..max) of %d runs; ratios "
      "run by run.\n\n",
      bench_commas(ctx->rt_n, b1, sizeof b1),
      bench_commas(ctx->rt_warmup, b2, sizeof b2), g->runs);
  bench_out("| peer | version | p50 µs | p99 µs | mean µs | errand ÷ row "
            "p50 | errand ÷ row p99 | ÷ pipe floor p50 |\n");
  bench_out("|---|---|---|---|---|---|---|---|\n");
  for (int r = 0; r < g->nrows; r++) {
    char st[300], a[64], b[64], c[64], d[64], e[64], f[64];
    const char *stt = bench_row_status(g, 0, r, st, sizeof st);
    bench_stat3 p50 = bench_metric(g, 0, r, "p50_us");
    bench_out("| %s | %s | ", g->rows[r].label, version_of(g, r));
    if (p50.n == 0) {
      bench_out("%s | | | | | |\n", stt ? stt : "—");
      continue;
    }
    bench_out("%s | %s | %s | ", bench_fmt3(p50, -1, a, sizeof a),
              bench_fmt3(bench_metric(g, 0, r, "p99_us"), -1, b, sizeof b),
              bench_fmt3(bench_metric(g, 0, r, "us_per_job"), -1, c, sizeof c));
    if (r == 0)
      bench_out("— | — | ");
    else {
      ratio_med(g, 0, r, "p50_us", d, sizeof d);
      ratio_med(g, 0, r, "p99_us", e, sizeof e);
      bench_out("%s | %s | ", d, e);
    }
    if (r == r_pipe)
      bench_out("— |");
    else {
      ratio_med(g, r, r_pipe, "p50_us", f, sizeof f);
      bench_out("%s |", f);
    }
    bench_out("%s%s\n", stt ? " " : "", stt ? stt : "");
  }
  bench_out("\n");
}

void bench_w5(void) {
  int smoke = g_opts.smoke;
  w5_ctx ctx = {.oneshot_n = smoke ? 5 : 500,
                .spawns = smoke ? 5 : 1000,
                .node_fork_n = smoke ? 2 : 20,
                .inflight_n = smoke ? 8 : 500,
                .inflight = 4,
                .rt_n = smoke ? 200 : 20000,
                .rt_warmup = smoke ? 20 : 1000};
  const char *pisc_skip = NULL;
  static char pwhy[200];
  if (!bench_piscina_available(pwhy, sizeof pwhy))
    pisc_skip = pwhy;

  /* ---- W5a ---- */
  bench_row ra[10];
  int na = 0;
  char klabel[96];
  snprintf(klabel, sizeof klabel,
           "errand one-shot, %d in flight (this program as worker)",
           ctx.inflight);
  add_row(ra, &na, "errand one-shot process job (this program as worker)",
          A_ERRAND_SELF, 1, errand_skip());
  add_row(ra, &na, "errand one-shot process job (errand-bench-worker)",
          A_ERRAND_SMALL, 1, small_worker_skip());
  add_row(ra, &na, klabel, A_ERRAND_K, 1, errand_skip());
  add_row(ra, &na, "Node child_process.fork per job + 1 message round trip",
          A_NODE_FORK, 0, node_skip("proc_bench.mjs"));
  int r_true = na;
  add_row(ra, &na, "floor: posix_spawn /bin/true + waitpid", A_FLOOR_TRUE, 0,
          NULL);
  add_row(ra, &na, "floor: posix_spawn errand-bench (exits at once) + waitpid",
          A_FLOOR_SELF, 0, NULL);
  add_row(ra, &na,
          "floor: posix_spawn errand-bench-worker (exits at once) + waitpid",
          A_FLOOR_SMALL, 0, small_worker_skip());
  add_row(ra, &na, "floor: fork + pipe 16-byte echo (one-shot)",
          A_FLOOR_FORK_ECHO, 0, NULL);
  const char *confs[1] = {"one-shot"};
  bench_grid ga = {.workload = "W5a",
                   .nconf = 1,
                   .nrows = na,
                   .runs = g_opts.runs,
                   .conf_labels = confs,
                   .rows = ra};
  bench_grid_run(&ga, w5_child, &ctx);

  /* ---- W5b ---- */
  bench_row rb[6];
  int nb = 0;
  add_row(rb, &nb, "errand resident worker pool (1 worker)", B_ERRAND, 1,
          errand_skip());
  add_row(rb, &nb, "Node persistent child (process.send / on('message'))",
          B_NODE_CHILD, 0, node_skip("proc_bench.mjs"));
  int r_pisc = nb;
  add_row(rb, &nb, "piscina (Node), 1 thread: await pool.run()", B_PISCINA, 0,
          pisc_skip);
  int r_pipe = nb;
  add_row(rb, &nb, "floor: 16-byte pipe round trip to a resident child",
          B_FLOOR_PIPE, 0, NULL);
  const char *confs_b[1] = {"resident"};
  bench_grid gb = {.workload = "W5b",
                   .nconf = 1,
                   .nrows = nb,
                   .runs = g_opts.runs,
                   .conf_labels = confs_b,
                   .rows = rb};
  bench_grid_run(&gb, w5_child, &ctx);

  table_a(&ga, &ctx, r_true);
  table_b(&gb, &ctx, r_pipe);

  /* ---- targets ---- */
  char a[64], b[64], c[64], d[64];
  /* Judged on the per-job p50: the mean (1 ÷ jobs/s) of a few hundred
   * process starts swings with whatever else a shared machine runs (one
   * stall of a few ms moves it); it is printed beside. */
  double m = ratio_med(&ga, 0, r_true, "p50_us", a, sizeof a);
  if (!isnan(m)) {
    ratio_med(&ga, 0, r_true, "us_per_job", d, sizeof d);
    ratio_med(&ga, 1, r_true, "p50_us", b, sizeof b);
    ratio_med(&ga, r_true + 1, r_true, "p50_us", c, sizeof c);
    bench_target(m <= 1.5 ? BENCH_MET : BENCH_MISSED,
                 "W5a one-shot ≤ 1.5× the posix_spawn floor",
                 "errand one-shot ÷ posix_spawn /bin/true = %s (p50 per job), "
                 "%s (µs per job = 1 ÷ jobs/s); with errand-bench-worker as "
                 "the worker: %s (p50); errand-bench's own exec floor ÷ "
                 "/bin/true: %s (p50)",
                 a, d, b, c);
  } else {
    bench_target(BENCH_UNJUDGED, "W5a one-shot ≤ 1.5× the posix_spawn floor",
                 "no data");
  }
  m = ratio_med(&gb, 0, r_pipe, "p50_us", a, sizeof a);
  if (!isnan(m)) {
    ratio_med(&gb, 0, r_pipe, "us_per_job", b, sizeof b);
    bench_target(m <= 1.5 ? BENCH_MET : BENCH_MISSED,
                 "W5b resident round trip ≤ 1.5× the raw pipe floor",
                 "errand ÷ pipe round trip floor = %s (p50); %s (mean)", a, b);
  } else {
    bench_target(BENCH_UNJUDGED,
                 "W5b resident round trip ≤ 1.5× the raw pipe floor",
                 "no data");
  }
  m = ratio_med(&gb, 0, r_pisc, "p50_us", a, sizeof a);
  if (!isnan(m)) {
    ratio_med(&gb, r_pisc, r_pipe, "p50_us", b, sizeof b);
    bench_target(m <= 1.0 / 3.0 ? BENCH_MET : BENCH_MISSED,
                 "W5b resident round trip ≥ 3× faster than piscina",
                 "errand ÷ piscina = %s (p50; target ≤ 0.33). piscina ÷ "
                 "pipe floor = %s (the issue's \"1.5× the floor, so 3× "
                 "faster than piscina\" holds when this is ≥ 4.5)",
                 a, b);
  } else {
    bench_target(BENCH_UNJUDGED,
                 "W5b resident round trip ≥ 3× faster than piscina",
                 "no data");
  }
  bench_grid_free(&ga);
  bench_grid_free(&gb);
}
