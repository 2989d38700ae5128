/* report.c — measurements in child processes, the grid, statistics and the
 * markdown output.  See bench.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "peers/piscina.h"

bench_opts g_opts = {.runs = 5, .timeout_s = 300};

/* ------------------------------------------------------------------ */
/* One measurement in a child                                          */
/* ------------------------------------------------------------------ */

static void parse_line(bench_sample *s, char *line) {
  if (line[0] == '@') {
    char *sp = strchr(line, ' ');
    const char *text = sp ? sp + 1 : "";
    if (sp)
      *sp = 0;
    if (strcmp(line + 1, "error") == 0)
      snprintf(s->error, sizeof s->error, "%s", text);
    else if (strcmp(line + 1, "version") == 0)
      snprintf(s->version, sizeof s->version, "%s", text);
    return;
  }
  char name[32];
  double v;
  if (sscanf(line, "%31s %lf", name, &v) == 2 && s->nm < BENCH_MAX_METRICS) {
    snprintf(s->names[s->nm], sizeof s->names[0], "%s", name);
    s->vals[s->nm++] = v;
  }
}

void bench_measure(bench_child_fn fn, void *ctx, bench_sample *s) {
  memset(s, 0, sizeof *s);
  s->done = 1;
  int fds[2];
  if (pipe(fds) != 0) {
    snprintf(s->error, sizeof s->error, "pipe: %s", strerror(errno));
    return;
  }
  fflush(stdout);
  fflush(stderr);
  if (g_opts.out)
    fflush(g_opts.out);
  pid_t pid = fork();
  if (pid < 0) {
    snprintf(s->error, sizeof s->error, "fork: %s", strerror(errno));
    close(fds[0]);
    close(fds[1]);
    return;
  }
  if (pid == 0) {
    close(fds[0]);
    signal(SIGPIPE, SIG_DFL);
    alarm((unsigned)g_opts.timeout_s);
    bench_set_emit_fd(fds[1]);
    fn(ctx);
    bench_emit("ok", 1);
    _exit(0);
  }
  close(fds[1]);
  char buf[8192];
  size_t have = 0;
  for (;;) {
    ssize_t r = read(fds[0], buf + have, sizeof buf - 1 - have);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    have += (size_t)r;
    buf[have] = 0;
    char *nl;
    while ((nl = memchr(buf, '\n', have)) != NULL) {
      *nl = 0;
      parse_line(s, buf);
      size_t used = (size_t)(nl + 1 - buf);
      memmove(buf, nl + 1, have - used);
      have -= used;
      buf[have] = 0;
    }
    if (have == sizeof buf - 1)
      have = 0; /* a silly long line: drop it */
  }
  close(fds[0]);
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  if (WIFSIGNALED(st)) {
    int sig = WTERMSIG(st);
    if (!s->error[0])
      snprintf(s->error, sizeof s->error, "%s",
               sig == SIGALRM ? "timed out" : strsignal(sig));
  } else if (WIFEXITED(st) && WEXITSTATUS(st) != 0 && !s->error[0]) {
    snprintf(s->error, sizeof s->error, "exit code %d", WEXITSTATUS(st));
  }
  int said_ok = 0;
  for (int i = 0; i < s->nm; i++)
    if (strcmp(s->names[i], "ok") == 0)
      said_ok = 1;
  s->ok = WIFEXITED(st) && WEXITSTATUS(st) == 0 && !s->error[0] && said_ok;
  if (!s->ok && !s->error[0])
    snprintf(s->error, sizeof s->error, "no result");
}

double bench_sample_get(const bench_sample *s, const char *name) {
  if (!s || !s->done)
    return NAN;
  for (int i = 0; i < s->nm; i++)
    if (strcmp(s->names[i], name) == 0)
      return s->ok ? s->vals[i] : NAN;
  return NAN;
}

/* ------------------------------------------------------------------ */
/* Rows                                                                */
/* ------------------------------------------------------------------ */

void bench_row_peer(bench_row *rows, int *n, const char *id, const char *label,
                    const char *expect) {
  bench_row *r = &rows[(*n)++];
  memset(r, 0, sizeof *r);
  r->peer = bench_peer_find(id);
  r->label = label ? label : (r->peer ? r->peer->label : id);
  r->is_errand = strncmp(id, "errand", 6) == 0;
  r->expect = expect;
  if (!r->peer)
    r->skip = "not built (library not found at configure time)";
}

void bench_row_piscina(bench_row *rows, int *n, const char *expect) {
  static char why[200];
  bench_row *r = &rows[(*n)++];
  memset(r, 0, sizeof *r);
  r->label = "piscina (Node)";
  r->piscina = 1;
  r->expect = expect;
  if (!bench_piscina_available(why, sizeof why))
    r->skip = why;
}

void bench_row_missing(bench_row *rows, int *n, const char *label,
                       const char *why, const char *expect) {
  bench_row *r = &rows[(*n)++];
  memset(r, 0, sizeof *r);
  r->label = label;
  r->skip = why;
  r->expect = expect;
}

/* ------------------------------------------------------------------ */
/* Grid                                                                */
/* ------------------------------------------------------------------ */

bench_sample *bench_cell(const bench_grid *g, int conf, int row, int run) {
  return &g->samples[((size_t)conf * (size_t)g->nrows + (size_t)row) *
                         (size_t)g->runs +
                     (size_t)run];
}

typedef struct cell_call {
  const bench_grid *g;
  int conf, row;
  bench_cell_fn fn;
  void *ctx;
} cell_call;

static void cell_tramp(void *c_) {
  cell_call *c = c_;
  const bench_row *r = &c->g->rows[c->row];
  if (r->peer && r->peer->version)
    bench_emit_text("version", r->peer->version());
  c->fn(c->g, c->conf, c->row, c->ctx);
}

void bench_grid_run(bench_grid *g, bench_cell_fn fn, void *ctx) {
  g->samples = calloc((size_t)g->nconf * (size_t)g->nrows * (size_t)g->runs,
                      sizeof *g->samples);
  if (!g->samples) {
    fprintf(stderr, "bench: out of memory\n");
    exit(1);
  }
  for (int run = 0; run < g->runs; run++) {
    for (int conf = 0; conf < g->nconf; conf++) {
      for (int k = 0; k < g->nrows; k++) {
        int row = (k + run) % g->nrows; /* rotate the order per run */
        const bench_row *r = &g->rows[row];
        if (r->skip)
          continue;
        fprintf(stderr, "  %s run %d/%d  %-28s %s ...", g->workload, run + 1,
                g->runs, g->conf_labels[conf], r->label);
        fflush(stderr);
        cell_call c = {g, conf, row, fn, ctx};
        bench_sample *s = bench_cell(g, conf, row, run);
        bench_measure(cell_tramp, &c, s);
        if (s->ok) {
          fprintf(stderr, " ok\n");
        } else {
          fprintf(stderr, " FAILED: %s\n", s->error);
          g_opts.failures++;
        }
      }
    }
  }
}

void bench_grid_free(bench_grid *g) {
  free(g->samples);
  g->samples = NULL;
}

/* ------------------------------------------------------------------ */
/* Statistics                                                          */
/* ------------------------------------------------------------------ */

bench_stat3 bench_stat_of(const double *v, int n) {
  bench_stat3 s = {0, NAN, NAN, NAN};
  double *tmp = malloc(sizeof *tmp * (size_t)(n > 0 ? n : 1));
  for (int i = 0; i < n; i++)
    if (!isnan(v[i]))
      tmp[s.n++] = v[i];
  if (s.n) {
    bench_sort(tmp, (size_t)s.n);
    s.min = tmp[0];
    s.max = tmp[s.n - 1];
    s.med = s.n % 2 ? tmp[s.n / 2] : (tmp[s.n / 2 - 1] + tmp[s.n / 2]) / 2;
  }
  free(tmp);
  return s;
}

bench_stat3 bench_metric(const bench_grid *g, int conf, int row,
                         const char *metric) {
  double v[256];
  int n = g->runs < 256 ? g->runs : 256;
  for (int i = 0; i < n; i++)
    v[i] = bench_sample_get(bench_cell(g, conf, row, i), metric);
  return bench_stat_of(v, n);
}

bench_stat3 bench_ratio(const bench_grid *g, int conf, int row_a, int row_b,
                        const char *metric) {
  double v[256];
  int n = g->runs < 256 ? g->runs : 256;
  for (int i = 0; i < n; i++) {
    double a = bench_sample_get(bench_cell(g, conf, row_a, i), metric);
    double b = bench_sample_get(bench_cell(g, conf, row_b, i), metric);
    v[i] = (b != 0 && !isnan(a) && !isnan(b)) ? a / b : NAN;
  }
  return bench_stat_of(v, n);
}

/* ------------------------------------------------------------------ */
/* Output                                                              */
/* ------------------------------------------------------------------ */

void bench_out(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stdout, fmt, ap);
  va_end(ap);
  if (g_opts.out) {
    va_start(ap, fmt);
    vfprintf(g_opts.out, fmt, ap);
    va_end(ap);
  }
}

static void fmt_num(double v, int prec, char *buf, size_t len) {
  double a = fabs(v);
  if (prec < 0) { /* automatic: ~3 significant digits */
    prec = a >= 100 ? 0 : a >= 10 ? 1 : a >= 1 ? 2 : 3;
  }
  snprintf(buf, len, "%.*f", prec, v);
}

const char *bench_fmt3(bench_stat3 s, int prec, char *buf, size_t len) {
  if (s.n == 0) {
    snprintf(buf, len, "—");
    return buf;
  }
  char a[32], b[32], c[32];
  fmt_num(s.med, prec, a, sizeof a);
  if (s.n == 1) {
    snprintf(buf, len, "%s", a);
    return buf;
  }
  fmt_num(s.min, prec, b, sizeof b);
  fmt_num(s.max, prec, c, sizeof c);
  snprintf(buf, len, "%s (%s..%s)", a, b, c);
  return buf;
}

const char *bench_row_status(const bench_grid *g, int conf, int row, char *buf,
                             size_t len) {
  const bench_row *r = &g->rows[row];
  if (r->skip) {
    snprintf(buf, len, "n/a: %s", r->skip);
    return buf;
  }
  int fails = 0;
  const char *err = "";
  for (int i = 0; i < g->runs; i++) {
    const bench_sample *s = bench_cell(g, conf, row, i);
    if (s->done && !s->ok) {
      fails++;
      err = s->error;
    }
  }
  if (fails == 0)
    return NULL;
  snprintf(buf, len, "FAIL in %d of %d runs: %s", fails, g->runs, err);
  return buf;
}

const char *bench_row_version(const bench_grid *g, int row) {
  for (int c = 0; c < g->nconf; c++)
    for (int i = 0; i < g->runs; i++) {
      const bench_sample *s = bench_cell(g, c, row, i);
      if (s->done && s->version[0])
        return s->version;
    }
  const bench_row *r = &g->rows[row];
  if (r->piscina && !r->skip)
    return bench_piscina_version();
  if (r->peer && r->peer->version)
    return r->peer->version();
  return "";
}

/* ---- targets ---- */
#define MAX_TARGETS 64
static char g_targets[MAX_TARGETS][400];
static int g_ntargets;

void bench_target(int verdict, const char *what, const char *fmt, ...) {
  char detail[300];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(detail, sizeof detail, fmt, ap);
  va_end(ap);
  if (g_opts.smoke && verdict != BENCH_UNJUDGED)
    verdict = BENCH_UNJUDGED;
  const char *v = verdict == BENCH_MET      ? "met"
                  : verdict == BENCH_MISSED ? "**MISSED**"
                  : g_opts.smoke            ? "not judged (smoke run)"
                                            : "not judged";
  char line[400];
  snprintf(line, sizeof line, "TARGET %s: %s — %s", what, v, detail);
  bench_out("%s\n\n", line);
  if (g_ntargets < MAX_TARGETS)
    snprintf(g_targets[g_ntargets++], sizeof g_targets[0], "%s", line);
}

void bench_target_summary(void) {
  if (!g_ntargets)
    return;
  bench_out("## Targets\n\n");
  for (int i = 0; i < g_ntargets; i++)
    bench_out("- %s\n", g_targets[i]);
  bench_out("\n");
}

const char *bench_commas(long v, char *buf, size_t len) {
  char tmp[32];
  snprintf(tmp, sizeof tmp, "%ld", v < 0 ? -v : v);
  size_t n = strlen(tmp), o = 0;
  if (v < 0 && o + 1 < len)
    buf[o++] = '-';
  for (size_t i = 0; i < n && o + 2 < len; i++) {
    buf[o++] = tmp[i];
    if ((n - i - 1) % 3 == 0 && i + 1 < n)
      buf[o++] = ',';
  }
  buf[o] = 0;
  return buf;
}
