/*
 * W5 process jobs — PLACEHOLDER for errand's part.
 *
 * errand's process layer (one-shot child-process jobs and resident worker
 * pools, DESIGN.md layer 6) does not exist yet.  When it does, add here:
 *   - errand one-shot process job running a no-op named job, per job;
 *   - errand resident worker pool, 16-byte echo job, per job;
 *   - Node child_process / worker pools as peers;
 * and compare them with the two floors below, which need no errand code and
 * already run:
 *   - posix_spawn of /bin/true + waitpid, per job;
 *   - a raw fork + pipe 16-byte echo: fork a child, write 16 bytes, the
 *     child echoes them back and exits, read + waitpid, per job;
 *   - and, for resident pools, the round trip of 16 bytes to an already
 *     running child over a pipe pair.
 */
#include <errno.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../bench.h"

extern char **environ;

typedef struct w5_ctx {
  long spawns, echoes, roundtrips;
} w5_ctx;

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

static void floor_spawn(long n) {
  char *argv[] = {"/bin/true", NULL};
  uint64_t t0 = bench_now_ns();
  for (long i = 0; i < n; i++) {
    pid_t pid;
    int rc = posix_spawn(&pid, "/bin/true", NULL, NULL, argv, environ);
    if (rc != 0)
      bench_fail("posix_spawn: %s", strerror(rc));
    int st;
    if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
      bench_fail("/bin/true did not exit 0");
  }
  bench_emit("us_per_job", (double)(bench_now_ns() - t0) / 1e3 / (double)n);
}

static void floor_fork_echo(long n) {
  uint64_t t0 = bench_now_ns();
  for (long i = 0; i < n; i++) {
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
    char msg[16] = "0123456789abcdef", back[16];
    full_write(to[1], msg, 16);
    if (full_read(from[0], back, 16) || memcmp(msg, back, 16))
      bench_fail("echo %ld came back wrong", i);
    close(to[1]);
    close(from[0]);
    int st;
    waitpid(pid, &st, 0);
  }
  bench_emit("us_per_job", (double)(bench_now_ns() - t0) / 1e3 / (double)n);
}

static void floor_resident_echo(long n) {
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
  char msg[16] = "0123456789abcdef", back[16];
  uint64_t t0 = bench_now_ns();
  for (long i = 0; i < n; i++) {
    msg[0] = (char)i;
    full_write(to[1], msg, 16);
    if (full_read(from[0], back, 16) || memcmp(msg, back, 16))
      bench_fail("echo %ld came back wrong", i);
  }
  uint64_t t1 = bench_now_ns();
  close(to[1]);
  close(from[0]);
  int st;
  waitpid(pid, &st, 0);
  bench_emit("us_per_job", (double)(t1 - t0) / 1e3 / (double)n);
}

static void w5_child(const bench_grid *g, int conf, int row, void *ctx_) {
  (void)conf;
  const w5_ctx *ctx = ctx_;
  switch (g->rows[row].variant) {
  case 1:
    floor_spawn(ctx->spawns);
    break;
  case 2:
    floor_fork_echo(ctx->echoes);
    break;
  case 3:
    floor_resident_echo(ctx->roundtrips);
    break;
  default:
    bench_fail("no such W5 row");
  }
}

void bench_w5(void) {
  w5_ctx ctx = {.spawns = g_opts.smoke ? 20 : 1000,
                .echoes = g_opts.smoke ? 20 : 1000,
                .roundtrips = g_opts.smoke ? 1000 : 100000};
  bench_row rows[8];
  int nr = 0;
  bench_row_missing(rows, &nr, "errand one-shot process job",
                    "PLACEHOLDER: errand's process layer does not exist yet",
                    NULL);
  bench_row_missing(rows, &nr, "errand resident worker pool job",
                    "PLACEHOLDER: errand's process layer does not exist yet",
                    NULL);
  bench_row_missing(rows, &nr, "Node child_process / worker pools",
                    "PLACEHOLDER: added with errand's process layer", NULL);
  rows[nr].label = "floor: posix_spawn /bin/true + waitpid";
  rows[nr].skip = NULL, rows[nr].peer = NULL, rows[nr].piscina = 0;
  rows[nr].is_errand = 0, rows[nr].expect = NULL, rows[nr++].variant = 1;
  rows[nr] = rows[nr - 1];
  rows[nr].label = "floor: fork + pipe 16-byte echo (one-shot)";
  rows[nr++].variant = 2;
  rows[nr] = rows[nr - 1];
  rows[nr].label = "floor: 16-byte pipe round trip to a resident child";
  rows[nr++].variant = 3;
  const char *confs[1] = {"floors"};
  bench_grid g = {.workload = "W5",
                  .nconf = 1,
                  .nrows = nr,
                  .runs = g_opts.runs,
                  .conf_labels = confs,
                  .rows = rows};
  bench_grid_run(&g, w5_child, &ctx);

  char b1[32], b2[32], b3[32];
  bench_out("## W5 process jobs — PLACEHOLDER (errand's process layer does "
            "not exist yet); floors only\n\n");
  bench_out("Floors: %s spawns, %s one-shot echoes, %s resident round trips. "
            "Cells: median (min..max) of %d runs.\n\n",
            bench_commas(ctx.spawns, b1, sizeof b1),
            bench_commas(ctx.echoes, b2, sizeof b2),
            bench_commas(ctx.roundtrips, b3, sizeof b3), g.runs);
  bench_out("| peer | µs per job |\n|---|---|\n");
  for (int r = 0; r < nr; r++) {
    char st[300], a[64];
    const char *stt = bench_row_status(&g, 0, r, st, sizeof st);
    bench_stat3 v = bench_metric(&g, 0, r, "us_per_job");
    bench_out("| %s | %s |\n", rows[r].label,
              v.n ? bench_fmt3(v, -1, a, sizeof a) : (stt ? stt : "—"));
  }
  bench_out("\n");
  bench_target(BENCH_UNJUDGED, "W5 process jobs",
               "no target yet: errand's process layer does not exist");
  bench_grid_free(&g);
}
