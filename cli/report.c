/*
 * report.c — what the user sees while jobs run and when they are done.
 *
 * Two ways to show a run, picked in run.c:
 *  - plain: one line per event (start, progress, retry, finish, cancel) in
 *    the order the main loop receives them, like seed 003's WAIT ANY loop
 *    printing each task as it finishes;
 *  - live (a terminal): a block at the bottom of the screen, one line per
 *    running job and a totals line, redrawn in place; lines that stay
 *    (finished jobs, --tail output) are printed above it.  The block never
 *    wraps (lines are cut to the terminal's width), so moving the cursor up
 *    by the number of lines drawn always lands on its first line.
 * At the end: seed 003's table, or one JSON object per job with --json.
 * Only the main thread calls these functions.
 */
#include "cli.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define C_RESET "\x1b[0m"
#define C_GREEN "\x1b[32m"
#define C_RED "\x1b[31m"
#define C_YELLOW "\x1b[33m"
#define C_DIM "\x1b[2m"
#define C_BOLD "\x1b[1m"

static const char *col(cli_runner *R, const char *c) {
  return R->color ? c : "";
}

static double since_t0(cli_runner *R) {
  return (double)(cli_now_mono() - R->t0) / 1e9;
}

/* Where a line that stays goes: straight out in plain mode; in live mode
 * into a buffer that the next redraw prints above the block (soon: the main
 * loop redraws at once when it is not empty). */
static FILE *perm(cli_runner *R) {
  if (!R->live)
    return R->ev;
  if (!R->perm_f) {
    R->perm_f = open_memstream(&R->perm_buf, &R->perm_len);
    if (!R->perm_f)
      return R->ev;
  }
  R->next_draw = 0;
  return R->perm_f;
}

static void elapsed_text(char *buf, size_t len, int64_t ns) {
  cli_format_duration(buf, len, ns / 1000000);
}

void cli_report_note(cli_runner *R, const char *fmt, ...) {
  if (R->opt->quiet)
    return;
  FILE *o = perm(R);
  va_list ap;
  va_start(ap, fmt);
  if (!R->live)
    fprintf(o, "[%8.3f] ", since_t0(R));
  else
    fprintf(o, " %s", col(R, C_YELLOW));
  vfprintf(o, fmt, ap);
  if (R->live)
    fputs(col(R, C_RESET), o);
  fputc('\n', o);
  va_end(ap);
}

void cli_report_start(cli_runner *R, cli_jobrun *jr) {
  if (R->opt->quiet || R->live)
    return;
  fprintf(R->ev, "[%8.3f] start    #%d %s", since_t0(R), jr->spec->id,
          jr->spec->name);
  if (jr->pid > 0 && jr->attempt > 1)
    fprintf(R->ev, " (pid %d, attempt %d/%d)", jr->pid, jr->attempt,
            jr->max_attempts);
  else if (jr->pid > 0)
    fprintf(R->ev, " (pid %d)", jr->pid);
  else if (jr->attempt > 1)
    fprintf(R->ev, " (attempt %d/%d)", jr->attempt, jr->max_attempts);
  fputc('\n', R->ev);
}

/* raw: "progress N/M [text]" or "progress P% [text]"; anything else is
 * ignored (a job may write what it likes there). */
void cli_report_progress(cli_runner *R, cli_jobrun *jr, const char *raw) {
  const char *p = raw;
  while (*p == ' ' || *p == '\t')
    p++;
  if (strncmp(p, "progress", 8) != 0 || (p[8] != ' ' && p[8] != '\t'))
    return;
  p += 8;
  char *end;
  double a = strtod(p, &end);
  if (end == p)
    return;
  double frac;
  long done = 0, total = 0;
  if (*end == '/') {
    const char *q = end + 1;
    double b = strtod(q, &end);
    if (end == q || b <= 0 || a < 0)
      return;
    frac = a / b;
    done = (long)a;
    total = (long)b;
  } else if (*end == '%') {
    end++;
    frac = a / 100.0;
  } else {
    return;
  }
  if (*end && *end != ' ' && *end != '\t')
    return;
  if (frac < 0)
    frac = 0;
  if (frac > 1)
    frac = 1;
  while (*end == ' ' || *end == '\t')
    end++;
  jr->has_progress = 1;
  jr->frac = frac;
  jr->done = done;
  jr->total = total;
  snprintf(jr->ptext, sizeof jr->ptext, "%s", end);
  for (char *c = jr->ptext; *c; c++)
    if ((unsigned char)*c < 0x20)
      *c = ' ';
  if (R->opt->quiet || R->live)
    return;
  fprintf(R->ev, "[%8.3f] progress #%d %s ", since_t0(R), jr->spec->id,
          jr->spec->name);
  if (total)
    fprintf(R->ev, "%ld/%ld", done, total);
  else
    fprintf(R->ev, "%d%%", (int)(frac * 100 + 0.5));
  if (jr->ptext[0])
    fprintf(R->ev, " %s", jr->ptext);
  fputc('\n', R->ev);
}

void cli_report_output(cli_runner *R, cli_jobrun *jr, int is_err,
                       const char *line, size_t len) {
  fprintf(perm(R), "%s%s %s%s %.*s\n", col(R, C_DIM), jr->spec->name,
          is_err ? "!" : "|", col(R, C_RESET), (int)len, line);
}

void cli_report_retry(cli_runner *R, cli_jobrun *jr, const char *why) {
  if (R->opt->quiet)
    return;
  FILE *o = perm(R);
  if (R->live)
    fprintf(o, " %sretry    #%d %s: %s (attempt %d/%d next)%s\n",
            col(R, C_YELLOW), jr->spec->id, jr->spec->name, why,
            jr->attempt + 1, jr->max_attempts, col(R, C_RESET));
  else
    fprintf(o, "[%8.3f] retry    #%d %s: %s (attempt %d/%d next)\n",
            since_t0(R), jr->spec->id, jr->spec->name, why, jr->attempt + 1,
            jr->max_attempts);
}

char *cli_result_text(const cli_jobrun *jr) {
  char buf[64];
  if (jr->spec->kind == CLI_SHELL && jr->status != ERRAND_STATUS_CANCELED &&
      jr->exit_code >= 0) {
    snprintf(buf, sizeof buf, "%d", jr->exit_code);
    return strdup(buf);
  }
  if (jr->status == ERRAND_STATUS_RAN_TO_COMPLETION)
    return strdup(jr->result_json ? jr->result_json : "null");
  char *s = strdup(jr->error ? jr->error : "");
  for (char *c = s; c && *c; c++)
    if (*c == '\n' || *c == '\r' || *c == '\t')
      *c = ' ';
  return s;
}

/* "exit code 0", "exit code 3", "killed by SIGKILL (9)", the result JSON or
 * the error text: what the finish line says after the status. */
static char *finish_detail(const cli_jobrun *jr) {
  char buf[64];
  if (jr->spec->kind == CLI_SHELL && jr->status != ERRAND_STATUS_CANCELED &&
      jr->exit_code >= 0) {
    snprintf(buf, sizeof buf, "exit code %d", jr->exit_code);
    return strdup(buf);
  }
  if (jr->status == ERRAND_STATUS_RAN_TO_COMPLETION) {
    const char *r = jr->result_json ? jr->result_json : "null";
    size_t n = strlen(r) + 8;
    char *s = malloc(n);
    if (s)
      snprintf(s, n, "result %s", r);
    return s;
  }
  return cli_result_text(jr);
}

static void json_line(cli_runner *R, cli_jobrun *jr);

/* Column widths for the live view: every job's name, so columns stay put. */
static int name_width(cli_runner *R) {
  size_t w = 4;
  for (size_t i = 0; i < R->n; i++)
    if (strlen(R->runs[i].spec->name) > w)
      w = strlen(R->runs[i].spec->name);
  return w > 28 ? 28 : (int)w;
}

static int id_width(cli_runner *R) {
  int w = 1;
  for (size_t n = R->n; n >= 10; n /= 10)
    w++;
  return w;
}

static const char *idbuf(const cli_jobrun *jr) {
  static char buf[16];
  snprintf(buf, sizeof buf, "#%d", jr->spec->id);
  return buf;
}

void cli_report_finish(cli_runner *R, cli_jobrun *jr) {
  if (R->opt->json)
    json_line(R, jr);
  if (R->opt->quiet)
    return;
  char *detail = finish_detail(jr);
  char dur[32] = "";
  if (jr->mono_start)
    elapsed_text(dur, sizeof dur, jr->mono_end - jr->mono_start);
  const char *status = errand_status_name(jr->status);
  if (!R->live) {
    fprintf(R->ev, "[%8.3f] finish   #%d %s: %s, %s%s%s\n", since_t0(R),
            jr->spec->id, jr->spec->name, status, detail ? detail : "",
            dur[0] ? ", " : "", dur);
  } else {
    const char *c, *word;
    if (jr->status == ERRAND_STATUS_RAN_TO_COMPLETION)
      c = C_GREEN, word = "ok";
    else if (jr->status == ERRAND_STATUS_CANCELED)
      c = C_YELLOW, word = "canceled";
    else
      c = C_RED, word = "FAILED";
    fprintf(perm(R), " %s%-8s%s %-*s %-*s %s%7s%s  %s\n", col(R, c), word,
            col(R, C_RESET), id_width(R) + 1, idbuf(jr), name_width(R),
            jr->spec->name, col(R, C_DIM), dur[0] ? dur : "-", col(R, C_RESET),
            detail ? detail : "");
  }
  free(detail);
}

/* ---- the live view ------------------------------------------------------- */

static void live_frame(cli_runner *R, int with_block);

/* The last frame: lines that stay, and no block. */
void cli_live_clear(cli_runner *R) { live_frame(R, 0); }

static int term_cols(cli_runner *R) {
  struct winsize ws;
  if (ioctl(fileno(R->ev), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20)
    return ws.ws_col;
  return 80;
}

static int term_rows(cli_runner *R) {
  struct winsize ws;
  if (ioctl(fileno(R->ev), TIOCGWINSZ, &ws) == 0 && ws.ws_row > 4)
    return ws.ws_row;
  return 24;
}

/* Appends one line cut to width visible columns (escape sequences do not
 * count), then a newline. */
static void put_cut(FILE *f, const char *s, int width) {
  int vis = 0;
  for (const char *p = s; *p; p++) {
    if (*p == '\x1b') {
      const char *q = p;
      while (*q && *q != 'm')
        q++;
      fwrite(p, 1, (size_t)(q - p + (*q ? 1 : 0)), f);
      p = *q ? q : q - 1;
      continue;
    }
    if ((*p & 0xC0) != 0x80) { /* count UTF-8 lead bytes only */
      if (vis >= width)
        break;
      vis++;
    }
    fputc(*p, f);
  }
  fputs("\x1b[0m\x1b[K\n", f);
}

/* The block: one line per running job, then the totals.  Returns its
 * number of lines. */
static int block_lines(cli_runner *R, FILE *f) {
  int cols = term_cols(R) - 1;
  int max_lines = term_rows(R) - 2;
  int lines = 0;
  size_t shown = 0;
  int64_t now = cli_now_mono();
  size_t namew = (size_t)name_width(R);
  for (size_t i = 0; i < R->n; i++) {
    cli_jobrun *jr = &R->runs[i];
    if (jr->state != JR_RUNNING)
      continue;
    if (lines >= max_lines - 1) {
      shown++;
      continue;
    }
    char line[512], el[32];
    elapsed_text(el, sizeof el, now - jr->mono_start);
    int n = snprintf(line, sizeof line, " %srunning %s %-*s %-*.*s %7s",
                     col(R, C_BOLD), col(R, C_RESET), id_width(R) + 1,
                     idbuf(jr), (int)namew, (int)namew, jr->spec->name, el);
    if (jr->has_progress && n > 0 && (size_t)n < sizeof line) {
      char bar[24];
      int fill = (int)(jr->frac * 20 + 0.5);
      for (int k = 0; k < 20; k++)
        bar[k] = k < fill ? '#' : '.';
      bar[20] = '\0';
      if (jr->total)
        n += snprintf(line + n, sizeof line - (size_t)n, "  [%s] %ld/%ld", bar,
                      jr->done, jr->total);
      else
        n += snprintf(line + n, sizeof line - (size_t)n, "  [%s] %3d%%", bar,
                      (int)(jr->frac * 100 + 0.5));
      if (jr->ptext[0] && (size_t)n < sizeof line)
        snprintf(line + n, sizeof line - (size_t)n, "  %s", jr->ptext);
    }
    put_cut(f, line, cols);
    lines++;
  }
  if (shown) {
    char more[64];
    snprintf(more, sizeof more, "   ... and %zu more running", shown);
    put_cut(f, more, cols);
    lines++;
  }
  char tot[256], el[32];
  elapsed_text(el, sizeof el, now - R->t0);
  size_t waiting = R->n - R->n_done - R->n_running;
  snprintf(tot, sizeof tot,
           " %s%zu running, %zu waiting, %zu/%zu done (%zu ok, %zu failed, "
           "%zu canceled)  %s%s",
           col(R, C_DIM), R->n_running, waiting, R->n_done, R->n, R->n_ok,
           R->n_faulted, R->n_canceled, el, col(R, C_RESET));
  put_cut(f, tot, cols);
  return lines + 1;
}

void cli_live_draw(cli_runner *R) { live_frame(R, 1); }

/* One redraw: back to the block's first line, the lines that stay, the
 * block.  Every line ends with "erase to the end of the line" and what is
 * left of a longer old block is erased line by line: no "clear the screen"
 * sequence, which terminals like tmux turn into scrolling the screen into
 * the history when the block sits at the top. */
static void live_frame(cli_runner *R, int with_block) {
  char *buf = NULL;
  size_t blen = 0;
  FILE *f = open_memstream(&buf, &blen);
  if (!f)
    return;
  int old = R->live_lines, lines = 0;
  if (old)
    fprintf(f, "\r\x1b[%dA", old);
  if (R->perm_f) {
    fclose(R->perm_f);
    R->perm_f = NULL;
    for (size_t i = 0; i < R->perm_len; i++) {
      if (R->perm_buf[i] == '\n') {
        fputs("\x1b[K", f);
        lines++;
      }
      fputc(R->perm_buf[i], f);
    }
    free(R->perm_buf);
    R->perm_buf = NULL;
    R->perm_len = 0;
  }
  int block = with_block ? block_lines(R, f) : 0;
  lines += block;
  if (lines < old) {
    int extra = old - lines;
    for (int k = 0; k < extra; k++)
      fputs("\x1b[2K\n", f);
    fprintf(f, "\r\x1b[%dA", extra);
  }
  fclose(f);
  fwrite(buf, 1, blen, R->ev);
  fflush(R->ev);
  free(buf);
  R->live_lines = block;
}

/* ---- the end: table, summary, JSON --------------------------------------- */

static const char *tf(int b) { return b ? "true" : "false"; }

void cli_report_table(cli_runner *R, FILE *out) {
  static const char *const head[] = {"Id",          "Name",       "Status",
                                     "IsFaulted",   "IsCanceled", "IsCompleted",
                                     "IsSucceeded", "Result"};
  size_t w[8];
  for (int c = 0; c < 8; c++)
    w[c] = strlen(head[c]);
  char **res = calloc(R->n ? R->n : 1, sizeof *res);
  if (!res)
    return;
  for (size_t i = 0; i < R->n; i++) {
    cli_jobrun *jr = &R->runs[i];
    char id[16];
    snprintf(id, sizeof id, "%d", jr->spec->id);
    res[i] = cli_result_text(jr);
    size_t l[3] = {strlen(id), strlen(jr->spec->name),
                   strlen(errand_status_name(jr->status))};
    for (int c = 0; c < 3; c++)
      if (l[c] > w[c])
        w[c] = l[c];
  }
  fprintf(out, "%-*s  %-*s  %-*s  %-*s  %-*s  %-*s  %-*s  %s\n", (int)w[0],
          head[0], (int)w[1], head[1], (int)w[2], head[2], (int)w[3], head[3],
          (int)w[4], head[4], (int)w[5], head[5], (int)w[6], head[6], head[7]);
  for (size_t i = 0; i < R->n; i++) {
    cli_jobrun *jr = &R->runs[i];
    unsigned f = jr->flags;
    fprintf(out, "%-*d  %-*s  %-*s  %-*s  %-*s  %-*s  %-*s  %s\n", (int)w[0],
            jr->spec->id, (int)w[1], jr->spec->name, (int)w[2],
            errand_status_name(jr->status), (int)w[3],
            tf(f & ERRAND_FLAG_FAULTED), (int)w[4],
            tf(f & ERRAND_FLAG_CANCELED), (int)w[5],
            tf(f & ERRAND_FLAG_COMPLETED), (int)w[6],
            tf(f & ERRAND_FLAG_SUCCEEDED), res[i] ? res[i] : "");
    free(res[i]);
  }
  free(res);
}

void cli_report_summary(cli_runner *R, FILE *out) {
  char el[32];
  elapsed_text(el, sizeof el, cli_now_mono() - R->t0);
  fprintf(out, "%zu job%s: %zu succeeded, %zu faulted, %zu canceled in %s",
          R->n, R->n == 1 ? "" : "s", R->n_ok, R->n_faulted, R->n_canceled, el);
  if (R->interrupted)
    fprintf(out, " (interrupted by %s)", cli_signal_name(R->interrupted));
  else if (R->aborted)
    fprintf(out, " (%s)", R->abort_reason);
  fprintf(out, "; logs in %s/\n", R->log_dir);
}

static json_t *iso_time(int64_t real_ns) {
  if (!real_ns)
    return json_null();
  time_t s = (time_t)(real_ns / 1000000000);
  struct tm tm;
  gmtime_r(&s, &tm);
  char buf[40];
  size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + n, sizeof buf - n, ".%03dZ", (int)(real_ns / 1000000 % 1000));
  return json_string(buf);
}

static void json_line(cli_runner *R, cli_jobrun *jr) {
  (void)R;
  unsigned f = jr->flags;
  json_t *o = json_object();
  json_object_set_new(o, "id", json_integer(jr->spec->id));
  json_object_set_new(o, "name", json_string(jr->spec->name));
  json_object_set_new(
      o, "kind",
      json_string(jr->spec->kind == CLI_SHELL ? "command" : "module"));
  json_object_set_new(o, "status", json_string(errand_status_name(jr->status)));
  json_object_set_new(o, "is_faulted", json_boolean(f & ERRAND_FLAG_FAULTED));
  json_object_set_new(o, "is_canceled", json_boolean(f & ERRAND_FLAG_CANCELED));
  json_object_set_new(o, "is_completed",
                      json_boolean(f & ERRAND_FLAG_COMPLETED));
  json_object_set_new(o, "is_succeeded",
                      json_boolean(f & ERRAND_FLAG_SUCCEEDED));
  int exited = jr->spec->kind == CLI_SHELL && jr->exit_code >= 0;
  json_object_set_new(o, "exit_code",
                      exited ? json_integer(jr->exit_code) : json_null());
  json_object_set_new(o, "signal",
                      jr->term_sig ? json_string(cli_signal_name(jr->term_sig))
                                   : json_null());
  json_t *result = json_null();
  if (jr->spec->kind == CLI_SHELL && exited &&
      jr->status != ERRAND_STATUS_CANCELED)
    result = json_integer(jr->exit_code);
  else if (jr->spec->kind == CLI_MODULE && jr->result_json) {
    json_t *v = json_loads(jr->result_json, JSON_DECODE_ANY, NULL);
    if (v)
      result = v;
  }
  json_object_set_new(o, "result", result);
  json_object_set_new(o, "error",
                      jr->error ? json_string(jr->error) : json_null());
  json_object_set_new(o, "attempts", json_integer(jr->attempt));
  json_object_set_new(o, "start", iso_time(jr->real_start));
  json_object_set_new(o, "end", iso_time(jr->real_end));
  json_object_set_new(
      o, "duration_ms",
      jr->mono_start ? json_integer((jr->mono_end - jr->mono_start) / 1000000)
                     : json_null());
  json_object_set_new(o, "stdout_log", json_string(jr->out_path));
  json_object_set_new(o, "stderr_log", json_string(jr->err_path));
  char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(o);
  if (s) {
    fprintf(stdout, "%s\n", s);
    fflush(stdout);
    free(s);
  }
}
