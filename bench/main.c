/*
 * errand-bench — runs the workloads on errand and on every peer in one run
 * and prints markdown tables with errand's ratio to each peer.
 *
 *   errand-bench [--runs N] [--smoke] [--out FILE] [--timeout S]
 *                [--workers N] [WORKLOAD...]
 *
 * WORKLOAD: w1 w2 w3 w4 w5 mem (default: all of them, in that order).
 * Exit status: 0, or 1 when a measurement failed (crash, time-out, wrong
 * result), or 2 for a usage error.  Missed targets do not change it: they are
 * printed as MISSED.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "peers/piscina.h"
#ifdef BENCH_HAVE_ERRAND
#include "w5_jobs.h"
#endif

static const bench_workload workloads[] = {
    {"w1", "throughput", bench_w1},
    {"w2", "fork-join fib", bench_w2},
    {"w3", "wake latency", bench_w3},
    {"w4", "priority under load", bench_w4},
    {"w5", "process jobs (one-shot, resident round trip)", bench_w5},
    {"mem", "memory per queued task / live handle", bench_mem},
};
#define NWORK (int)(sizeof workloads / sizeof workloads[0])

/* "1.02 0.80 0.55" from /proc/loadavg. */
static const char *loadavg(void) {
  static char buf[64];
  FILE *f = fopen("/proc/loadavg", "r");
  double a = 0, b = 0, c = 0;
  if (!f || fscanf(f, "%lf %lf %lf", &a, &b, &c) != 3)
    snprintf(buf, sizeof buf, "unknown");
  else
    snprintf(buf, sizeof buf, "%.2f %.2f %.2f", a, b, c);
  if (f)
    fclose(f);
  return buf;
}

static void usage(FILE *f) {
  fprintf(f, "usage: errand-bench [--runs N] [--smoke] [--out FILE] "
             "[--timeout SECONDS] [--workers N] [WORKLOAD...]\n"
             "  --workers N: what \"all workers\" means (default: the "
             "online CPUs)\n"
             "workloads:");
  for (int i = 0; i < NWORK; i++)
    fprintf(f, " %s (%s)%s", workloads[i].id, workloads[i].title,
            i + 1 < NWORK ? "," : "\n");
  fprintf(f, "default: all.  --smoke: tiny sizes, one run, exit 1 if "
             "anything fails.\n");
}

int main(int argc, char **argv) {
  /* W5's exec floors start this program with BENCH_W5_EXIT=1: what starting
   * it costs, nothing more. */
  const char *w5_exit = getenv("BENCH_W5_EXIT");
  if (w5_exit && w5_exit[0] == '1')
    _exit(0);
#ifdef BENCH_HAVE_ERRAND
  /* First thing: W5's process jobs re-execute this program as their worker
   * (ERRAND_WORKER=1); it then serves jobs here and never returns.  Returns
   * at once otherwise. */
  bench_w5_worker_main();
#endif
  const char *out_path = NULL;
  int selected[NWORK] = {0}, any = 0;
  g_opts.workers_all = bench_ncpu();
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--runs") && i + 1 < argc) {
      g_opts.runs = atoi(argv[++i]);
      if (g_opts.runs < 1 || g_opts.runs > 200) {
        fprintf(stderr, "--runs: 1..200\n");
        return 2;
      }
    } else if (!strcmp(a, "--smoke")) {
      g_opts.smoke = 1;
    } else if (!strcmp(a, "--out") && i + 1 < argc) {
      out_path = argv[++i];
    } else if (!strcmp(a, "--timeout") && i + 1 < argc) {
      g_opts.timeout_s = atoi(argv[++i]);
    } else if (!strcmp(a, "--workers") && i + 1 < argc) {
      g_opts.workers_all = atoi(argv[++i]);
      if (g_opts.workers_all < 1)
        g_opts.workers_all = 1;
    } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      usage(stdout);
      return 0;
    } else {
      int found = 0;
      for (int w = 0; w < NWORK; w++)
        if (!strcasecmp(a, workloads[w].id) || !strcasecmp(a, "all")) {
          selected[w] = 1;
          found = any = 1;
        }
      if (!found) {
        fprintf(stderr, "unknown argument or workload: %s\n", a);
        usage(stderr);
        return 2;
      }
    }
  }
  if (g_opts.smoke) {
    g_opts.runs = 1;
    if (g_opts.timeout_s == 300)
      g_opts.timeout_s = 60;
  }
  if (out_path) {
    g_opts.out = fopen(out_path, "w");
    if (!g_opts.out) {
      perror(out_path);
      return 2;
    }
  }
  setvbuf(stdout, NULL, _IOLBF, 0);

  struct utsname u;
  uname(&u);
  char when[64];
  time_t now = time(NULL);
  strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S %Z", localtime(&now));
  char host[128] = "";
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (f) {
    char line[256];
    while (fgets(line, sizeof line, f))
      if (!strncmp(line, "model name", 10)) {
        char *c = strchr(line, ':');
        if (c)
          snprintf(host, sizeof host, "%s", c + 2);
        host[strcspn(host, "\n")] = 0;
        break;
      }
    fclose(f);
  }
  bench_out("# errand benchmarks%s\n\n",
            g_opts.smoke ? " (smoke run: tiny sizes, not figures)" : "");
  bench_out("%s; %d CPUs (%s); %s %s; %d run%s per cell; each measurement "
            "in a fresh process. Load average at start: %s (the machine is "
            "shared: other work running meanwhile shows as spread between "
            "min and max).\n\n",
            when, bench_ncpu(), host, u.sysname, u.release, g_opts.runs,
            g_opts.runs == 1 ? "" : "s", loadavg());

#ifndef BENCH_BUILD_INFO
#define BENCH_BUILD_INFO "unknown build"
#endif
  bench_out("Built: %s.%s\n\n", BENCH_BUILD_INFO,
            g_opts.runs < 5 && !g_opts.smoke
                ? " **Fewer than 5 runs: indicative only.**"
                : "");
  bench_out("Peers and how each is driven (bench/peers/):\n\n");
  for (size_t i = 0; i < bench_peer_count(); i++) {
    const bench_peer *p = bench_peer_at(i);
    bench_out("- **%s**%s%s: %s\n", p->label, p->version ? " " : "",
              p->version ? p->version() : "", p->note ? p->note : "");
  }
  {
    char why[200];
    bench_out("- **piscina (Node)**: %s\n",
              bench_piscina_available(why, sizeof why)
                  ? "piscina worker_threads pool driven by "
                    "bench/node/piscina_bench.mjs in a node process; "
                    "pool.run() per task, await all"
                  : why);
  }
  bench_out("- **libdispatch**: not available — Debian 12 has no "
            "libdispatch-dev package; its rows show the brief's figures "
            "only.\n\n");

  for (int w = 0; w < NWORK; w++) {
    if (any && !selected[w])
      continue;
    fprintf(stderr, "== %s: %s\n", workloads[w].id, workloads[w].title);
    workloads[w].run();
  }
  bench_target_summary();
  bench_out("Load average at the end: %s.\n\n", loadavg());
  if (g_opts.failures)
    bench_out("**%d measurement%s FAILED** (see the tables).\n",
              g_opts.failures, g_opts.failures == 1 ? "" : "s");
  if (g_opts.out)
    fclose(g_opts.out);
  if (out_path)
    fprintf(stderr, "table written to %s\n", out_path);
  return g_opts.failures ? 1 : 0;
}
