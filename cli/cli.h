/*
 * cli.h — what the parts of the errand program share.
 *
 * The program is a front end over the public API only (include/errand.h),
 * the way curl's tool uses libcurl: nothing here includes src/.
 *
 *   main.c      commands, options, help text
 *   jobfile.c   the job-file parser (every error with its line, before
 *               anything starts)
 *   shelljob.c  the task that runs one shell command in its own process
 *               group: output to logs, progress lines, cancel = SIGTERM
 *               then SIGKILL to the group
 *   run.c       the runner: posts the jobs, runs the owner loop (events,
 *               completions, signals, the overall timeout), retries,
 *               --first and --fail-fast
 *   report.c    what the user sees: event lines, the live view, the final
 *               table, JSON lines
 */
#ifndef ERRAND_CLI_H
#define ERRAND_CLI_H

#include <errand.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>

/* ---- job file ------------------------------------------------------------ */

typedef enum cli_kind { CLI_SHELL = 0, CLI_MODULE = 1 } cli_kind;

/* Where a job runs.  Shell jobs: pool (default) or dedicated.  Module jobs:
 * worker (default), process, pool or dedicated. */
typedef enum cli_mode {
  CLI_MODE_DEFAULT = 0,
  CLI_MODE_POOL,
  CLI_MODE_DEDICATED,
  CLI_MODE_WORKER,
  CLI_MODE_PROCESS
} cli_mode;

typedef struct cli_job {
  int id;   /* 1.. in file order */
  int line; /* where the job starts in its file */
  char *name;
  cli_kind kind;
  char *command;            /* shell jobs */
  char *module;             /* module jobs: "file:///abs/path.so#handler" */
  char *args;               /* module jobs: compact JSON (array or object) */
  errand_priority priority; /* 0 = the run's default */
  int64_t timeout_ms;       /* -1 = the run's default, 0 = none */
  int64_t delay_ms;
  int retries; /* -1 = the run's default */
  cli_mode mode;
} cli_job;

typedef struct cli_jobfile {
  cli_job *jobs;
  size_t n, cap;
} cli_jobfile;

/* Parses the job file f (display is its name in messages).  Errors go to
 * errs as "display:LINE: message"; returns their number (0 = all good).
 * max_errors stops early. */
int cli_jobfile_parse(const char *display, FILE *f, cli_jobfile *out,
                      FILE *errs, int max_errors);
void cli_jobfile_free(cli_jobfile *jf);

/* "1.5s", "200ms", "2m", "1h", "3" (seconds) -> ms.  0 on success. */
int cli_parse_duration(const char *s, int64_t *ms);
/* "user-blocking"/"high", "user-visible"/"normal", "background"/"low". */
int cli_parse_priority(const char *s, errand_priority *p);
/* "1.5s", "2m03s", "250ms" for humans. */
void cli_format_duration(char *buf, size_t len, int64_t ms);

/* ---- options ------------------------------------------------------------- */

typedef struct cli_options {
  int parallel;             /* 0 = online CPUs */
  int64_t timeout_ms;       /* default per-job timeout, 0 = none */
  int64_t total_timeout_ms; /* whole run, 0 = none */
  errand_priority priority; /* default priority */
  int first;                /* stop at the first success */
  int fail_fast;            /* stop at the first failure */
  int retries;              /* default retries for failed jobs */
  int json;                 /* JSON lines on stdout */
  const char *log_dir;      /* NULL = a new directory under $TMPDIR */
  int tail;                 /* show job output with a name prefix */
  int live;                 /* -1 auto, 0 never, 1 always */
  int64_t kill_grace_ms;    /* SIGTERM -> SIGKILL */
  int quiet;                /* no event lines, no live view */
  int dry_run;              /* parse and list, run nothing */
  int color;                /* -1 auto */
} cli_options;

/* ---- a job while it runs ------------------------------------------------- */

enum { JR_WAITING = 0, JR_RUNNING = 1, JR_DONE = 2 };

struct cli_runner;

typedef struct cli_jobrun {
  const cli_job *spec;
  struct cli_runner *R;
  errand_task *task; /* the current attempt */
  int attempt;       /* 1.. */
  int max_attempts;
  int state; /* JR_* (main thread) */
  errand_priority priority;
  int64_t timeout_ms;
  cli_mode mode;

  /* Times, ns: monotonic for durations, realtime for JSON. 0 = not yet. */
  int64_t mono_start, mono_end, real_start, real_end;
  int pid;

  /* Progress as last reported (main thread). */
  int has_progress;
  double frac;      /* 0..1 */
  long done, total; /* total 0 = a percentage was given */
  char ptext[96];

  /* Written by the shell task thread while it runs; read by the main thread
   * after the attempt is final (the task's completion orders them). */
  atomic_int pgid;  /* also read by the main thread on a second Ctrl-C */
  atomic_int ready; /* set once the main thread listens to the attempt */
  int exit_code;    /* -1 if none */
  int term_sig;     /* 0 if none */

  char *out_path, *err_path; /* log files */

  /* Final (main thread). */
  errand_status status;
  unsigned flags;
  int err_code;
  char *error;       /* error text, NULL on success */
  char *result_json; /* module jobs: result JSON */
} cli_jobrun;

typedef struct cli_runner {
  const cli_options *opt;
  cli_jobfile *jf;
  cli_jobrun *runs;
  size_t n;
  errand_runtime *rt;
  errand_loop *loop;
  errand_controller *ctl;
  errand_signal *sig;
  errand_jobs *jobs;
  errand_procpool *pool;
  char **base_env; /* the environment jobs start from */
  size_t base_envc;
  char *log_dir;
  int log_dir_made; /* we created it (temporary) */

  int64_t t0; /* monotonic ns at start */
  size_t n_done, n_running;
  size_t n_ok, n_faulted, n_canceled;
  int aborted;
  char abort_reason[160];
  int interrupted; /* signal number that stopped the run */
  int sigint_count;

  /* output */
  FILE *ev; /* event lines / live view: stdout, or stderr with --json */
  int live; /* the live view is on */
  int color;
  int live_lines; /* lines of the live block on screen */
  FILE *perm_f;   /* live mode: lines that stay, until the next redraw */
  char *perm_buf;
  size_t perm_len;
  int64_t next_draw;
} cli_runner;

/* run.c */
int cli_run(const cli_options *opt, cli_jobfile *jf, const char *display);
int64_t cli_now_mono(void);
int64_t cli_now_real(void);

/* shelljob.c: the errand_fn of a shell job (arg = cli_jobrun *). */
int cli_shell_task(errand_task *self, void *arg);
const char *cli_signal_name(int sig);

/* report.c */
void cli_report_start(cli_runner *R, cli_jobrun *jr);
void cli_report_progress(cli_runner *R, cli_jobrun *jr, const char *raw);
void cli_report_output(cli_runner *R, cli_jobrun *jr, int is_err,
                       const char *line, size_t len);
void cli_report_retry(cli_runner *R, cli_jobrun *jr, const char *why);
void cli_report_finish(cli_runner *R, cli_jobrun *jr);
void cli_report_note(cli_runner *R, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void cli_live_clear(cli_runner *R);
void cli_live_draw(cli_runner *R);
void cli_report_table(cli_runner *R, FILE *out);
void cli_report_summary(cli_runner *R, FILE *out);
/* The Result column: exit code, result JSON or error text (malloc'ed). */
char *cli_result_text(const cli_jobrun *jr);

/* main.c */
extern const char *cli_progname;

#endif /* ERRAND_CLI_H */
