/*
 * bench.h — the driver side: options, running one measurement in a child
 * process, the runs x configs x rows grid, statistics, the markdown output
 * and TARGET lines (bench/report.c), and the workloads (bench/workloads/).
 */
#ifndef BENCH_BENCH_H
#define BENCH_BENCH_H

#include <stddef.h>
#include <stdio.h>

#include "common.h"
#include "peer.h"

typedef struct bench_opts {
  int runs;        /* samples per (config, row); default 5 */
  int smoke;       /* tiny sizes, one run, targets not judged */
  int workers_all; /* "all workers" = online CPUs */
  int timeout_s;   /* per measurement */
  FILE *out;       /* the results file (may be NULL) */
  int failures;    /* measurements that failed (crash, timeout, wrong result) */
  int verbose;
} bench_opts;

extern bench_opts g_opts;

/* ---- one measurement ---- */
#define BENCH_MAX_METRICS 16
typedef struct bench_sample {
  int done; /* measured (ok or failed) */
  int ok;
  int nm;
  char names[BENCH_MAX_METRICS][32];
  double vals[BENCH_MAX_METRICS];
  char error[200];
  char version[120];
} bench_sample;

/* Runs fn(ctx) in a forked child with a time limit; the child reports with
 * bench_emit().  A child that exits non-zero, dies, times out or reports
 * "@error" is a failed sample. */
typedef void (*bench_child_fn)(void *ctx);
void bench_measure(bench_child_fn fn, void *ctx, bench_sample *out);

/* NaN when missing or failed. */
double bench_sample_get(const bench_sample *s, const char *name);

/* ---- a row of a table: one peer (or variant) ---- */
typedef struct bench_row {
  const char *label;
  const bench_peer *peer; /* NULL for piscina / floors / unavailable */
  int piscina;            /* measured by the node helper */
  int is_errand;          /* an errand row (ratios are taken against it) */
  const char *skip;       /* non-NULL: not measured, this says why */
  const char *expect;     /* the brief's reference figure for this peer */
  int variant;            /* workload-specific */
} bench_row;

/* Adds a row for peer id if built, else a skipped row saying why. */
void bench_row_peer(bench_row *rows, int *n, const char *id, const char *label,
                    const char *expect);
void bench_row_piscina(bench_row *rows, int *n, const char *expect);
void bench_row_missing(bench_row *rows, int *n, const char *label,
                       const char *why, const char *expect);

/* The grid: samples[(conf * nrows + row) * runs + run]. */
typedef struct bench_grid {
  const char *workload;
  int nconf, nrows, runs;
  const char **conf_labels;
  bench_row *rows;
  bench_sample *samples;
} bench_grid;

typedef void (*bench_cell_fn)(const bench_grid *g, int conf, int row,
                              void *ctx);
/* Measures every (config, row) `runs` times.  Each run visits every config
 * and every row (rows in a rotated order per run), so a run's samples are
 * taken close together in time: ratios are taken within one run. */
void bench_grid_run(bench_grid *g, bench_cell_fn child, void *ctx);
bench_sample *bench_cell(const bench_grid *g, int conf, int row, int run);
void bench_grid_free(bench_grid *g);

/* ---- statistics ---- */
typedef struct bench_stat3 {
  int n; /* samples that count */
  double min, med, max;
} bench_stat3;

bench_stat3 bench_stat_of(const double *v, int n); /* ignores NaN */
bench_stat3 bench_metric(const bench_grid *g, int conf, int row,
                         const char *metric);
/* Per-run ratio metric(row a) / metric(row b), then min/median/max. */
bench_stat3 bench_ratio(const bench_grid *g, int conf, int row_a, int row_b,
                        const char *metric);

/* ---- output (screen and file) ---- */
void bench_out(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
/* "12.3 (11.0..14.1)" with `prec` decimals; "FAIL" / "—" when absent. */
const char *bench_fmt3(bench_stat3 s, int prec, char *buf, size_t len);
/* "n/a: why" / "FAIL: error" text for a row without numbers. */
const char *bench_row_status(const bench_grid *g, int conf, int row, char *buf,
                             size_t len);
/* Version text seen in the row's samples (or the peer's version()). */
const char *bench_row_version(const bench_grid *g, int row);

enum { BENCH_MET = 1, BENCH_MISSED = 0, BENCH_UNJUDGED = -1 };
/* Prints "TARGET <what>: met|MISSED|not judged — detail" and keeps it for
 * the summary. */
void bench_target(int verdict, const char *what, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
void bench_target_summary(void);

/* ---- workloads ---- */
typedef struct bench_workload {
  const char *id; /* "w1" */
  const char *title;
  void (*run)(void);
} bench_workload;

void bench_w1(void);
void bench_w2(void);
void bench_w3(void);
void bench_w4(void);
void bench_w5(void);
void bench_mem(void);

/* Number formatting for titles: 1000000 -> "1,000,000". */
const char *bench_commas(long v, char *buf, size_t len);

#endif
