/*
 * run.c — the runner behind `errand run`.
 *
 * Every job becomes an errand task posted at once with its priority, delay,
 * run timeout and one shared signal; the runtime's priority queues and its
 * worker count (--parallel) decide what runs when.  The main thread owns an
 * errand loop and sleeps in poll() on three things: the loop's descriptor
 * (task events and completions, delivered here in the order they happen —
 * seed 003's WAIT ANY loop, one completion at a time), a self-pipe fed by
 * the signal handler (Ctrl-C), and a timer (the live view's redraw, the
 * overall timeout).  Stopping everything — overall timeout, --first,
 * --fail-fast, Ctrl-C — is one abort of the shared signal, so queued jobs end
 * CANCELED with the reason as their Result and running ones are stopped by
 * their own task (SIGTERM, then SIGKILL, to the process group).  The run ends
 * when every job is final, never earlier, so the table is always complete
 * and no child process is left behind.
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <time.h>
#include <unistd.h>

extern char **environ;

int64_t cli_now_mono(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t cli_now_real(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- signals: a self-pipe read by the main loop -------------------------- */

static int sig_pipe[2] = {-1, -1};

static void on_signal(int sig) {
  int saved = errno;
  unsigned char b = (unsigned char)sig;
  if (write(sig_pipe[1], &b, 1) < 0) {
    /* the pipe is full: enough signals are pending already */
  }
  errno = saved;
}

static const int handled_signals[] = {SIGINT, SIGTERM, SIGHUP};

static int signals_install(void) {
  if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK))
    return -1;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  for (size_t i = 0; i < 3; i++)
    sigaction(handled_signals[i], &sa, NULL);
  return 0;
}

static void signals_restore(void) {
  for (size_t i = 0; i < 3; i++)
    signal(handled_signals[i], SIG_DFL);
  close(sig_pipe[0]);
  close(sig_pipe[1]);
  sig_pipe[0] = sig_pipe[1] = -1;
}

/* ---- stopping everything ------------------------------------------------- */

static void abort_all(cli_runner *R, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void abort_all(cli_runner *R, const char *fmt, ...) {
  if (R->aborted)
    return;
  R->aborted = 1;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(R->abort_reason, sizeof R->abort_reason, fmt, ap);
  va_end(ap);
  if (R->n_done < R->n)
    cli_report_note(R, "cancel   all: %s", R->abort_reason);
  errand_controller_abort(R->ctl, ERRAND_E_CANCELED, R->abort_reason);
}

/* A second Ctrl-C does not wait for the grace period. */
static void kill_everything_now(cli_runner *R) {
  for (size_t i = 0; i < R->n; i++) {
    cli_jobrun *jr = &R->runs[i];
    int pg = atomic_load(&jr->pgid);
    if (pg > 0)
      kill(-pg, SIGKILL);
    else if (jr->spec->kind == CLI_MODULE && jr->state == JR_RUNNING &&
             jr->pid > 0 && jr->pid != getpid())
      kill(-jr->pid, SIGKILL); /* a worker leads its own group */
  }
}

/* ---- attempts ------------------------------------------------------------ */

static void on_event(errand_task *t, const char *name, const void *data,
                     size_t len, void *arg);
static void on_then(errand_task *t, void *arg);
static void finalize(cli_runner *R, cli_jobrun *jr, errand_task *t);

static void mark_started(cli_runner *R, cli_jobrun *jr, int pid, int64_t mono,
                         int64_t real) {
  if (jr->state != JR_WAITING)
    return;
  jr->state = JR_RUNNING;
  jr->pid = pid;
  if (!jr->mono_start) {
    jr->mono_start = mono;
    jr->real_start = real;
  }
  R->n_running++;
  cli_report_start(R, jr);
}

/* Module jobs say nothing when they start: their start is seen here, on
 * the main loop's tick, as the moment a worker process took them. */
static void tick_modules(cli_runner *R) {
  for (size_t i = 0; i < R->n; i++) {
    cli_jobrun *jr = &R->runs[i];
    if (jr->spec->kind != CLI_MODULE || jr->state != JR_WAITING || !jr->task)
      continue;
    errand_status st;
    int pid = 0;
    if (errand_task_status(jr->task, &st) || st != ERRAND_STATUS_RUNNING)
      continue;
    errand_job_pid(jr->task, &pid);
    if (pid > 0 || jr->mode == CLI_MODE_POOL || jr->mode == CLI_MODE_DEDICATED)
      mark_started(R, jr, pid, cli_now_mono(), cli_now_real());
  }
}

static int start_attempt(cli_runner *R, cli_jobrun *jr) {
  const cli_job *j = jr->spec;
  errand_post_options po;
  memset(&po, 0, sizeof po);
  po.priority = jr->priority;
  po.delay_ms = j->delay_ms;
  po.name = j->name;
  po.run_timeout_ms = jr->timeout_ms;
  po.signal = R->sig;
  int rc;
  atomic_store(&jr->pgid, 0);
  atomic_store(&jr->ready, 0);
  if (j->kind == CLI_SHELL) {
    po.mode = jr->mode == CLI_MODE_DEDICATED ? ERRAND_MODE_DEDICATED
                                             : ERRAND_MODE_POOL;
    rc = errand_post(R->rt, cli_shell_task, jr, &po, &jr->task);
  } else {
    errand_job_options jo;
    memset(&jo, 0, sizeof jo);
    jo.mode = jr->mode == CLI_MODE_PROCESS     ? ERRAND_JOB_PROCESS
              : jr->mode == CLI_MODE_POOL      ? ERRAND_JOB_POOL
              : jr->mode == CLI_MODE_DEDICATED ? ERRAND_JOB_DEDICATED
                                               : ERRAND_JOB_WORKER;
    jo.post = po;
    jo.pool = R->pool;
    jo.kill_grace_ms = R->opt->kill_grace_ms > 0 ? R->opt->kill_grace_ms : 1;
    rc = errand_job_start(R->rt, R->jobs, j->module, j->args, &jo, &jr->task);
  }
  if (rc) {
    /* Nothing was posted: the job ends here, faulted with the reason. */
    jr->task = NULL;
    jr->status = ERRAND_STATUS_FAULTED;
    jr->flags = ERRAND_FLAG_COMPLETED | ERRAND_FLAG_FAULTED;
    jr->err_code = rc;
    char buf[512];
    snprintf(buf, sizeof buf, "%s: %s", errand_strerror(rc),
             errand_last_error());
    jr->error = strdup(buf);
    finalize(R, jr, NULL);
    return rc;
  }
  /* Subscribe, then let the task go on (it waits for this: an event
   * emitted before anyone listens would be dropped). */
  errand_task_on_event(jr->task, R->loop, on_event, jr);
  errand_task_then(jr->task, R->loop, on_then, jr);
  atomic_store(&jr->ready, 1);
  return 0;
}

/* ---- events and completions (on the main thread) ------------------------- */

static void on_event(errand_task *t, const char *name, const void *data,
                     size_t len, void *arg) {
  (void)t;
  cli_jobrun *jr = arg;
  cli_runner *R = jr->R;
  if (jr->spec->kind == CLI_SHELL) {
    if (strcmp(name, "cli.start") == 0) {
      struct {
        int pid, attempt;
        int64_t mono, real;
      } s;
      if (len != sizeof s)
        return;
      memcpy(&s, data, sizeof s);
      mark_started(R, jr, s.pid, s.mono, s.real);
    } else if (strcmp(name, "cli.progress") == 0) {
      char line[512];
      size_t n = len < sizeof line - 1 ? len : sizeof line - 1;
      memcpy(line, data, n);
      line[n] = '\0';
      cli_report_progress(R, jr, line);
    } else if (strcmp(name, "cli.out") == 0 || strcmp(name, "cli.err") == 0) {
      cli_report_output(R, jr, name[4] == 'e', data, len);
    }
    return;
  }
  /* Module jobs: (name, JSON text) events from errand_job_progress. */
  if (jr->state == JR_WAITING)
    tick_modules(R);
  char *txt = strndup(data ? data : "null", data ? len : 4);
  if (!txt)
    return;
  if (strcmp(name, "progress") == 0) {
    /* Accepted payloads: 40 (percent), "3/10", [3,10],
     * {"done":3,"total":10,"text":"..."}, {"percent":40}. */
    json_t *v = json_loads(txt, JSON_DECODE_ANY, NULL);
    char raw[256] = "";
    if (json_is_number(v)) {
      snprintf(raw, sizeof raw, "progress %g%%", json_number_value(v));
    } else if (json_is_string(v)) {
      snprintf(raw, sizeof raw, "progress %s", json_string_value(v));
    } else if (json_is_array(v) && json_array_size(v) >= 2) {
      snprintf(raw, sizeof raw, "progress %g/%g",
               json_number_value(json_array_get(v, 0)),
               json_number_value(json_array_get(v, 1)));
    } else if (json_is_object(v)) {
      json_t *d = json_object_get(v, "done"), *tt = json_object_get(v, "total");
      json_t *pc = json_object_get(v, "percent");
      json_t *tx = json_object_get(v, "text");
      const char *text = json_is_string(tx) ? json_string_value(tx) : "";
      if (json_is_number(d) && json_is_number(tt))
        snprintf(raw, sizeof raw, "progress %g/%g %s", json_number_value(d),
                 json_number_value(tt), text);
      else if (json_is_number(pc))
        snprintf(raw, sizeof raw, "progress %g%% %s", json_number_value(pc),
                 text);
    }
    json_decref(v);
    if (raw[0])
      cli_report_progress(R, jr, raw);
  } else if (!R->opt->quiet) {
    cli_report_note(R, "event    #%d %s: %s %s", jr->spec->id, jr->spec->name,
                    name, txt);
  }
  free(txt);
}

/* The module job's stdout/stderr, known once an attempt is final. */
static void module_output(cli_runner *R, cli_jobrun *jr, errand_task *t) {
  const char *o, *e;
  size_t ol, el;
  if (errand_job_output(t, &o, &ol, &e, &el))
    return;
  const char *paths[2] = {jr->out_path, jr->err_path};
  const char *bufs[2] = {o, e};
  size_t lens[2] = {ol, el};
  for (int k = 0; k < 2; k++) {
    if (!lens[k])
      continue;
    if (paths[k]) {
      int fd = open(paths[k], O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      if (fd >= 0) {
        if (write(fd, bufs[k], lens[k]) < 0) {
          /* best effort, as for shell jobs */
        }
        close(fd);
      }
    }
    if (R->opt->tail) {
      const char *p = bufs[k], *end = bufs[k] + lens[k];
      while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        cli_report_output(R, jr, k, p, n);
        p += n + (nl ? 1 : 0);
      }
    }
  }
}

static void finalize(cli_runner *R, cli_jobrun *jr, errand_task *t) {
  if (jr->state == JR_RUNNING)
    R->n_running--;
  jr->state = JR_DONE;
  jr->mono_end = cli_now_mono();
  jr->real_end = cli_now_real();
  if (t && jr->spec->kind == CLI_MODULE &&
      jr->status == ERRAND_STATUS_RAN_TO_COMPLETION) {
    const char *json;
    if (errand_job_result(t, &json) == 0 && json)
      jr->result_json = strdup(json);
  }
  R->n_done++;
  if (jr->status == ERRAND_STATUS_RAN_TO_COMPLETION)
    R->n_ok++;
  else if (jr->status == ERRAND_STATUS_CANCELED)
    R->n_canceled++;
  else
    R->n_faulted++;
  cli_report_finish(R, jr);
  if (R->opt->first && jr->status == ERRAND_STATUS_RAN_TO_COMPLETION)
    abort_all(R, "canceled by --first: job #%d (%s) succeeded", jr->spec->id,
              jr->spec->name);
  else if (R->opt->fail_fast && jr->status != ERRAND_STATUS_RAN_TO_COMPLETION &&
           !R->aborted)
    abort_all(R, "canceled by --fail-fast: job #%d (%s) did not succeed",
              jr->spec->id, jr->spec->name);
}

static void on_then(errand_task *t, void *arg) {
  cli_jobrun *jr = arg;
  cli_runner *R = jr->R;
  errand_status st = ERRAND_STATUS_FAULTED;
  unsigned flags = 0;
  int code = 0;
  const char *msg = NULL;
  errand_task_status(t, &st);
  errand_task_flags(t, &flags);
  errand_task_error(t, &code, &msg);
  if (jr->spec->kind == CLI_MODULE) {
    if (jr->state == JR_WAITING) {
      /* It may have run between two ticks: a worker took it (a pid), or a
       * thread ran it (anything but a cancel before it started). */
      int pid = 0;
      errand_job_pid(t, &pid);
      int thread = jr->mode == CLI_MODE_POOL || jr->mode == CLI_MODE_DEDICATED;
      if (pid > 0 || (thread && st != ERRAND_STATUS_CANCELED))
        mark_started(R, jr, pid, cli_now_mono(), cli_now_real());
    }
    module_output(R, jr, t);
  }
  /* A failed attempt, or one that hit its own timeout, may be retried —
   * unless the whole run is being stopped. */
  int failed = st == ERRAND_STATUS_FAULTED ||
               (st == ERRAND_STATUS_CANCELED && code == ERRAND_E_TIMEOUT);
  if (failed && jr->attempt < jr->max_attempts && !R->aborted) {
    cli_report_retry(R, jr, msg && *msg ? msg : errand_strerror(code));
    if (jr->state == JR_RUNNING)
      R->n_running--;
    jr->state = JR_WAITING;
    errand_task_release(jr->task);
    jr->task = NULL;
    jr->attempt++;
    start_attempt(R, jr);
    return;
  }
  jr->status = st;
  jr->flags = flags;
  jr->err_code = code;
  jr->error = st == ERRAND_STATUS_RAN_TO_COMPLETION
                  ? NULL
                  : strdup(msg && *msg ? msg : errand_strerror(code));
  finalize(R, jr, t);
  errand_task_release(jr->task);
  jr->task = NULL;
}

/* ---- set-up -------------------------------------------------------------- */

static int isalnum_ascii(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9');
}

static int make_log_dir(cli_runner *R) {
  if (R->opt->log_dir) {
    if (mkdir(R->opt->log_dir, 0755) && errno != EEXIST) {
      fprintf(stderr, "%s: cannot create log folder %s: %s\n", cli_progname,
              R->opt->log_dir, strerror(errno));
      return -1;
    }
    R->log_dir = strdup(R->opt->log_dir);
  } else {
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp)
      tmp = "/tmp";
    size_t n = strlen(tmp) + 32;
    R->log_dir = malloc(n);
    if (!R->log_dir)
      return -1;
    snprintf(R->log_dir, n, "%s/errand-XXXXXX", tmp);
    if (!mkdtemp(R->log_dir)) {
      fprintf(stderr, "%s: cannot create a log folder in %s: %s\n",
              cli_progname, tmp, strerror(errno));
      return -1;
    }
    R->log_dir_made = 1;
  }
  for (size_t i = 0; i < R->n; i++) {
    cli_jobrun *jr = &R->runs[i];
    char safe[72];
    size_t k = 0;
    for (const char *p = jr->spec->name; *p && k < sizeof safe - 1; p++)
      safe[k++] = (isalnum_ascii(*p) || *p == '-' || *p == '.') ? *p : '_';
    safe[k] = '\0';
    size_t len = strlen(R->log_dir) + k + 32;
    jr->out_path = malloc(len);
    jr->err_path = malloc(len);
    if (!jr->out_path || !jr->err_path)
      return -1;
    snprintf(jr->out_path, len, "%s/%02d-%s.out", R->log_dir, jr->spec->id,
             safe);
    snprintf(jr->err_path, len, "%s/%02d-%s.err", R->log_dir, jr->spec->id,
             safe);
    /* Empty files from the start: a job that never runs still has both. */
    for (int f = 0; f < 2; f++) {
      int fd = open(f ? jr->err_path : jr->out_path,
                    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (fd < 0) {
        fprintf(stderr, "%s: cannot create %s: %s\n", cli_progname,
                f ? jr->err_path : jr->out_path, strerror(errno));
        return -1;
      }
      close(fd);
    }
  }
  return 0;
}

/* The environment every job starts from: ours, minus what belongs to
 * errand's own plumbing. */
static int make_base_env(cli_runner *R) {
  size_t n = 0;
  for (char **e = environ; *e; e++)
    n++;
  R->base_env = calloc(n + 1, sizeof *R->base_env);
  if (!R->base_env)
    return -1;
  static const char *const drop[] = {
      "ERRAND_WORKER=",         "ERRAND_WORKER_FD=",
      "ERRAND_WORKER_REPLY_FD=", "ERRAND_WORKER_RUN_FD=",
      "ERRAND_WORKER_INDEX=",   "ERRAND_PROTOCOL=",
      "ERRAND_PROGRESS_FD=",    "ERRAND_JOB_ID=",
      "ERRAND_JOB_NAME=",       "ERRAND_JOB_ATTEMPT="};
  for (char **e = environ; *e; e++) {
    int skip = 0;
    for (size_t i = 0; i < sizeof drop / sizeof drop[0]; i++)
      if (strncmp(*e, drop[i], strlen(drop[i])) == 0)
        skip = 1;
    if (!skip)
      R->base_env[R->base_envc++] = *e;
  }
  return 0;
}

static void print_dry_run(cli_runner *R) {
  for (size_t i = 0; i < R->n; i++) {
    cli_jobrun *jr = &R->runs[i];
    const cli_job *j = jr->spec;
    char to[32] = "none", dl[32] = "none";
    if (jr->timeout_ms)
      cli_format_duration(to, sizeof to, jr->timeout_ms);
    if (j->delay_ms)
      cli_format_duration(dl, sizeof dl, j->delay_ms);
    static const char *const modes[] = {"default", "pool", "dedicated",
                                        "worker", "process"};
    printf("#%d %s (line %d): priority=%s timeout=%s delay=%s retries=%d "
           "mode=%s\n",
           j->id, j->name, j->line, errand_priority_name(jr->priority), to, dl,
           jr->max_attempts - 1, modes[jr->mode]);
    if (j->kind == CLI_SHELL)
      printf("    sh -c %s\n", j->command);
    else
      printf("    %s %s\n", j->module, j->args);
  }
}

int cli_run(const cli_options *opt, cli_jobfile *jf, const char *display) {
  (void)display;
  cli_runner R0, *R = &R0;
  memset(R, 0, sizeof *R);
  R->opt = opt;
  R->jf = jf;
  R->n = jf->n;
  R->runs = calloc(R->n, sizeof *R->runs);
  if (!R->runs) {
    fprintf(stderr, "%s: out of memory\n", cli_progname);
    return 2;
  }
  int need_pool = 0;
  for (size_t i = 0; i < R->n; i++) {
    cli_jobrun *jr = &R->runs[i];
    const cli_job *j = &jf->jobs[i];
    jr->spec = j;
    jr->R = R;
    jr->attempt = 1;
    jr->max_attempts = 1 + (j->retries >= 0 ? j->retries : opt->retries);
    jr->priority = j->priority     ? j->priority
                   : opt->priority ? opt->priority
                                   : ERRAND_PRIORITY_USER_VISIBLE;
    jr->timeout_ms = j->timeout_ms >= 0 ? j->timeout_ms : opt->timeout_ms;
    jr->mode = j->mode;
    jr->exit_code = -1;
    atomic_init(&jr->pgid, 0);
    atomic_init(&jr->ready, 0);
    if (j->kind == CLI_MODULE && j->mode == CLI_MODE_WORKER)
      need_pool = 1;
  }
  if (opt->dry_run) {
    print_dry_run(R);
    free(R->runs);
    return 0;
  }

  int exit_code = 2;
  int rc;
  if (make_log_dir(R) || make_base_env(R))
    goto out;
#ifdef PR_SET_CHILD_SUBREAPER
  /* Processes a job's shell leaves behind become errand's children rather
   * than init's, so the job's task can reap them and see its process group
   * empty (shelljob.c).  Best effort: without it they are still killed. */
  prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
#endif
  if (signals_install()) {
    fprintf(stderr, "%s: cannot make a pipe: %s\n", cli_progname,
            strerror(errno));
    goto out;
  }

  /* Output: event lines (or the live view) go to stdout, or to stderr when
   * stdout carries JSON. */
  R->ev = opt->json ? stderr : stdout;
  int ev_tty = isatty(fileno(R->ev));
  const char *term = getenv("TERM");
  R->live = !opt->quiet &&
            (opt->live == 1 ||
             (opt->live == -1 && ev_tty && !(term && !strcmp(term, "dumb"))));
  R->color = opt->color == -1 ? (ev_tty && !getenv("NO_COLOR")) : opt->color;
  /* Each event line leaves at once, even into a pipe or a file. */
  setvbuf(stdout, NULL, _IOLBF, 0);
  setvbuf(stderr, NULL, _IOLBF, 0);

  errand_runtime_options ro;
  memset(&ro, 0, sizeof ro);
  ro.workers = opt->parallel;
  ro.max_compensating = -1; /* --parallel is the number of commands at once */
  if ((rc = errand_runtime_create(&ro, &R->rt)) ||
      (rc = errand_loop_create(R->rt, &R->loop)) ||
      (rc = errand_controller_create(ERRAND_PRIORITY_USER_VISIBLE, &R->ctl)) ||
      (rc = errand_controller_signal(R->ctl, &R->sig)) ||
      (rc = errand_jobs_create(&R->jobs))) {
    fprintf(stderr, "%s: cannot start: %s (%s)\n", cli_progname,
            errand_strerror(rc), errand_last_error());
    goto out;
  }
  if (need_pool) {
    errand_procpool_options pp;
    memset(&pp, 0, sizeof pp);
    pp.max_workers = opt->parallel;
    pp.kill_grace_ms = opt->kill_grace_ms > 0 ? opt->kill_grace_ms : 1;
    if ((rc = errand_procpool_create(R->rt, R->jobs, &pp, &R->pool))) {
      fprintf(stderr, "%s: cannot start the worker pool: %s (%s)\n",
              cli_progname, errand_strerror(rc), errand_last_error());
      goto out;
    }
  }

  R->t0 = cli_now_mono();
  int64_t deadline =
      opt->total_timeout_ms ? R->t0 + opt->total_timeout_ms * 1000000 : 0;
  for (size_t i = 0; i < R->n; i++)
    start_attempt(R, &R->runs[i]);

  int loop_fd = -1;
  errand_loop_fd(R->loop, &loop_fd);
  while (R->n_done < R->n) {
    int64_t now = cli_now_mono();
    int64_t wait_ns = -1;
    if (R->live)
      wait_ns = R->next_draw > now ? R->next_draw - now : 0;
    /* Module jobs say nothing when a worker takes them: look often. */
    int has_mod = 0;
    for (size_t i = 0; i < R->n && !has_mod; i++)
      has_mod =
          R->runs[i].spec->kind == CLI_MODULE && R->runs[i].state == JR_WAITING;
    if (has_mod && (wait_ns < 0 || wait_ns > 50000000))
      wait_ns = 50000000;
    if (deadline && !R->aborted) {
      int64_t d = deadline > now ? deadline - now : 0;
      if (wait_ns < 0 || d < wait_ns)
        wait_ns = d;
    }
    int wait_ms = wait_ns < 0 ? -1 : (int)((wait_ns + 999999) / 1000000);
    struct pollfd pf[2] = {{.fd = loop_fd, .events = POLLIN},
                           {.fd = sig_pipe[0], .events = POLLIN}};
    int pr = poll(pf, 2, wait_ms);
    if (pr < 0 && errno != EINTR) {
      fprintf(stderr, "%s: poll: %s\n", cli_progname, strerror(errno));
      break;
    }
    unsigned char sigs[16];
    ssize_t ns;
    while ((ns = read(sig_pipe[0], sigs, sizeof sigs)) > 0) {
      for (ssize_t k = 0; k < ns; k++) {
        if (++R->sigint_count == 1) {
          R->interrupted = sigs[k];
          abort_all(R, "interrupted by %s", cli_signal_name(sigs[k]));
        } else {
          cli_report_note(R, "kill     all: %s again, SIGKILL now",
                          cli_signal_name(sigs[k]));
          kill_everything_now(R);
        }
      }
    }
    int ran = 0;
    do {
      errand_loop_run_pending(R->loop, 256, &ran);
    } while (ran == 256);
    tick_modules(R);
    now = cli_now_mono();
    if (deadline && !R->aborted && now >= deadline) {
      char d[32];
      cli_format_duration(d, sizeof d, opt->total_timeout_ms);
      abort_all(R, "overall timeout of %s expired", d);
    }
    if (R->live && R->n_done < R->n && now >= R->next_draw) {
      cli_live_draw(R);
      R->next_draw = now + 100000000;
    }
  }
  if (R->live)
    cli_live_clear(R);

  if (!opt->json)
    cli_report_table(R, stdout);
  if (!opt->quiet)
    cli_report_summary(R, opt->json ? stderr : stdout);
  fflush(stdout);

  if (R->interrupted)
    exit_code = 128 + R->interrupted;
  else if (opt->first)
    exit_code = R->n_ok > 0 ? 0 : 1;
  else
    exit_code = R->n_ok == R->n ? 0 : 1;

out:
  errand_procpool_destroy(R->pool);
  errand_loop_destroy(R->loop);
  errand_runtime_destroy(R->rt);
  errand_jobs_release(R->jobs);
  errand_signal_release(R->sig);
  errand_controller_release(R->ctl);
  if (sig_pipe[0] >= 0)
    signals_restore();
  for (size_t i = 0; i < R->n; i++) {
    cli_jobrun *jr = &R->runs[i];
    errand_task_release(jr->task);
    free(jr->out_path);
    free(jr->err_path);
    free(jr->error);
    free(jr->result_json);
  }
  free(R->runs);
  free(R->base_env);
  free(R->log_dir);
  return exit_code;
}
