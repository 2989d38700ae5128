/*
 * test_fault.c — fault injection (issue "hostile conditions", item 2).
 *
 * A scripted scenario that touches every layer (runtime, pool, dedicated and
 * delayed tasks, signals, a loop with events and continuations, children,
 * batches, waits, named jobs on threads, one-shot processes and a worker
 * pool) runs in a child process (this program re-executed) with one fault
 * armed:
 *
 *   alloc   ERRAND_FAIL_ALLOC=N: errand's Nth allocation fails
 *   json    jansson's Nth allocation in the host fails (json_set_alloc_funcs):
 *           the JSON errand parses and prints for jobs and frames
 *   thread  ERRAND_FAIL_THREAD=N: the Nth thread start fails
 *   spawn   ERRAND_FAIL_SPAWN=N: the Nth worker process start fails
 *   nofile  RLIMIT_NOFILE set to (descriptors open now + N): eventfd,
 *           epoll, socketpair, pipe and pidfd run out
 *
 * for N = 1, 2, ... until a run no longer reaches the fault (the number of
 * sites the scenario has).  In the child every call must either succeed or
 * fail with a clear code (E_NOMEM / E_SYSTEM) and a non-empty
 * errand_last_error(); a task or job that was started must end (no hang)
 * with its right result or a clear error; every continuation registered
 * must run once; afterwards the runtime must still work (the fault fired
 * once), and at exit nothing may be left: threads, descriptors, child
 * processes (memory: LeakSanitizer in the ASan build, exit status 23).
 *
 * Environment: ERRAND_FAULT_STRIDE=K tries every Kth N only (default 1,
 * or 2/ERRAND_TEST_SCALE when that is below 1, with a seeded offset);
 * ERRAND_FAULT_MAX caps N (default 5000); ERRAND_FAULT_BUDGET caps the
 * seconds per kind (default 90; a sweep cut short says so).  The child's own output is shown
 * when it fails; reproduce one N by hand with
 *   ./test_fault --fault-child alloc N
 * Each kind prints a "FAULT_FIGURES" line (sites found, runs, clear errors).
 */
/* ERRAND_TEST_LABELS: fault */
#include <jansson.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "helpers.h"
#include "platform/platform_int.h"
#include "probes.h"

extern char **environ;

/* ------------------------------------------------------------------------ */
/* Handlers (the host and its worker processes alike)                        */
/* ------------------------------------------------------------------------ */

static int h_echo(errand_job *job, const char *args, void *arg) {
  (void)arg;
  return errand_job_return(job, args);
}

static int h_tick(errand_job *job, const char *args, void *arg) {
  (void)arg;
  (void)args;
  errand_job_progress(job, "tick", "{\"n\":0}");
  return errand_job_return(job, "\"ticked\"");
}

static errand_jobs *fault_jobs;

/* ------------------------------------------------------------------------ */
/* The child: checks                                                         */
/* ------------------------------------------------------------------------ */

static int bad;          /* violations in this child */
static int clear_errors; /* calls that failed with a clear error */

#define VIOL(...)                                                              \
  do {                                                                         \
    fprintf(stderr, "fault child: %s:%d: ", __FILE__, __LINE__);               \
    fprintf(stderr, __VA_ARGS__);                                              \
    fputc('\n', stderr);                                                       \
    bad++;                                                                     \
  } while (0)

static int clear_code(int rc) {
  return rc == ERRAND_E_NOMEM || rc == ERRAND_E_SYSTEM;
}

/* 1 when the call succeeded; 0 after a clear failure; a violation else. */
#define OKC(call) ok_or_clear((call), #call, __LINE__)
static int ok_or_clear(int rc, const char *what, int line) {
  const char *m = errand_last_error();
  if (rc == 0) return 1;
  if (clear_code(rc) && m && m[0]) {
    clear_errors++;
    return 0;
  }
  fprintf(stderr, "fault child: line %d: %s returned %s (\"%s\")\n", line,
          what, errand_errname(rc), m ? m : "(null)");
  bad++;
  return 0;
}

/* A started task must end: with success (and want_result, if given), or
 * with a clear error. */
static void outcome(errand_task *t, const char *what, const char *want_json) {
  errand_status s;
  int code = 0;
  const char *msg = NULL;
  int rc;
  if (!t) return;
  rc = errand_wait(t, 20000);
  if (rc != 0) {
    VIOL("%s: did not end (%s)", what, errand_errname(rc));
    return;
  }
  if (errand_task_status(t, &s) != 0 || !is_final_status((int)s)) {
    VIOL("%s: not final", what);
    return;
  }
  errand_task_error(t, &code, &msg);
  if (s == ERRAND_STATUS_RAN_TO_COMPLETION) {
    if (want_json) {
      const char *j = NULL;
      if (errand_job_result(t, &j) != 0 || strcmp(j, want_json) != 0)
        VIOL("%s: result %s, want %s", what, j ? j : "?", want_json);
    }
    return;
  }
  /* The task bound to the signal the scenario aborts. */
  if (s == ERRAND_STATUS_CANCELED && code == ERRAND_E_CANCELED && msg &&
      strcmp(msg, "fault test") == 0)
    return;
  if (!clear_code(code) || !msg || !msg[0]) {
    VIOL("%s: ended %s with %s \"%s\"", what, errand_status_name(s),
         errand_errname(code), msg ? msg : "(null)");
    return;
  }
  clear_errors++;
}

/* ------------------------------------------------------------------------ */
/* The scenario                                                              */
/* ------------------------------------------------------------------------ */

static atomic_int conts_expected, conts_ran, events_emitted, events_got;
static atomic_int abort_events, prio_events;

static int noop_fn(errand_task *self, void *arg) {
  (void)self;
  (void)arg;
  return 0;
}

static void free_counter(void *p) { atomic_fetch_add((atomic_int *)p, 1); }

static int emit_fn(errand_task *self, void *arg) {
  int i;
  (void)arg;
  for (i = 0; i < 3; i++) {
    char b[8];
    int n = snprintf(b, sizeof b, "%d", i);
    int rc = errand_task_emit(self, "tick", b, (size_t)n);
    if (rc == 0)
      atomic_fetch_add(&events_emitted, 1);
    else if (!clear_code(rc))
      VIOL("emit: %s", errand_errname(rc));
  }
  return 0;
}

static void ev_fn(errand_task *t, const char *name, const void *d, size_t n,
                  void *arg) {
  (void)t;
  (void)name;
  (void)d;
  (void)n;
  (void)arg;
  atomic_fetch_add(&events_got, 1);
}

static void then_cb(errand_task *t, void *arg) {
  (void)t;
  (void)arg;
  atomic_fetch_add(&conts_ran, 1);
}

static void callback_cb(int err, const char *m, void *v, void *arg) {
  (void)err;
  (void)m;
  (void)v;
  (void)arg;
  atomic_fetch_add(&conts_ran, 1);
}

static int poll_cb(errand_task *t, void *arg) {
  (void)t;
  (void)arg;
  return 1;
}

static int parent_fn(errand_task *self, void *arg) {
  int i;
  (void)arg;
  for (i = 0; i < 2; i++) {
    errand_post_options o = post_opts();
    int rc;
    o.parent = self;
    rc = errand_post(NULL, noop_fn, NULL, &o, NULL);
    /* errand_post needs the runtime: NULL must be refused clearly. */
    if (rc != ERRAND_E_INVALID) VIOL("post with NULL runtime: %d", rc);
  }
  return 0;
}

static errand_runtime *g_rt;

static int parent2_fn(errand_task *self, void *arg) {
  int i;
  (void)arg;
  for (i = 0; i < 2; i++) {
    errand_post_options o = post_opts();
    o.parent = self;
    ok_or_clear(errand_post(g_rt, noop_fn, NULL, &o, NULL), "child post",
                __LINE__);
  }
  return 0;
}

static void abort_cb(errand_signal *s, int code, const char *r, void *arg) {
  (void)s;
  (void)code;
  (void)r;
  (void)arg;
  atomic_fetch_add(&abort_events, 1);
}

static void prio_cb(errand_signal *s, errand_priority a, errand_priority b,
                    void *arg) {
  (void)s;
  (void)a;
  (void)b;
  (void)arg;
  atomic_fetch_add(&prio_events, 1);
}

static void add_then(errand_task *t, errand_loop *loop, int cb_style) {
  int rc;
  if (!t) return;
  atomic_fetch_add(&conts_expected, 1);
  rc = cb_style ? errand_task_callback(t, loop, callback_cb, NULL)
                : errand_task_then(t, loop, then_cb, NULL);
  if (!ok_or_clear(rc, "then/callback", __LINE__))
    atomic_fetch_sub(&conts_expected, 1);
}

/* Runs the scenario.  procs: also process jobs and a worker pool. */
static void scenario(int procs) {
  errand_runtime *rt = NULL;
  errand_runtime_options ro;
  errand_task *ts[16];
  int nt = 0, i;
  atomic_int frees;
  int frees_expected = 0;
  errand_loop *loop = NULL;
  errand_controller *ctl = NULL;
  errand_signal *sig = NULL;
  errand_procpool *pool = NULL;

  atomic_init(&frees, 0);
  memset(&ro, 0, sizeof ro);
  ro.workers = 1;
  ro.urgent_worker = 1;
  if (!OKC(errand_runtime_create(&ro, &rt))) return;
  g_rt = rt;

  /* Plain, named, delayed, dedicated, with arg_free. */
  {
    errand_post_options o = post_opts();
    errand_task *t = NULL;
    o.name = "plain";
    o.arg_free = free_counter;
    if (OKC(errand_post(rt, noop_fn, &frees, &o, &t))) {
      frees_expected++;
      ts[nt++] = t;
    }
    o = post_opts();
    o.delay_ms = 2;
    o.queue_timeout_ms = 10000;
    o.priority = ERRAND_PRIORITY_BACKGROUND;
    t = NULL;
    if (OKC(errand_post(rt, noop_fn, NULL, &o, &t))) ts[nt++] = t;
    o = post_opts();
    o.mode = ERRAND_MODE_DEDICATED;
    o.arg_free = free_counter;
    t = NULL;
    if (OKC(errand_post(rt, noop_fn, &frees, &o, &t))) {
      frees_expected++;
      ts[nt++] = t;
    }
    o = post_opts();
    o.priority = ERRAND_PRIORITY_USER_BLOCKING;
    t = NULL;
    if (OKC(errand_post(rt, parent2_fn, NULL, &o, &t))) ts[nt++] = t;
    t = NULL;
    if (OKC(errand_post(rt, parent_fn, NULL, NULL, &t))) ts[nt++] = t;
  }

  /* A batch. */
  {
    void *args[4] = {NULL, NULL, NULL, NULL};
    errand_task *out[4];
    if (OKC(errand_post_batch(rt, noop_fn, args, 4, NULL, out)))
      for (i = 0; i < 4; i++) ts[nt++] = out[i];
  }

  /* Signals. */
  if (OKC(errand_controller_create(ERRAND_PRIORITY_BACKGROUND, &ctl)) &&
      OKC(errand_controller_signal(ctl, &sig))) {
    errand_post_options o = post_opts();
    errand_task *t = NULL;
    OKC(errand_signal_on_abort(sig, NULL, abort_cb, NULL));
    OKC(errand_signal_on_priority_change(sig, NULL, prio_cb, NULL));
    o.signal = sig;
    o.delay_ms = 50;
    if (OKC(errand_post(rt, noop_fn, NULL, &o, &t))) ts[nt++] = t;
    OKC(errand_controller_set_priority(ctl, ERRAND_PRIORITY_USER_BLOCKING));
    OKC(errand_controller_abort(ctl, 0, "fault test"));
  }

  /* A loop on this thread: loop tasks, events, continuations, polling. */
  if (OKC(errand_loop_create(rt, &loop))) {
    errand_post_options o = post_opts();
    errand_task *t = NULL, *lt = NULL;
    o.on_event = ev_fn;
    o.event_loop = loop;
    if (OKC(errand_post(rt, emit_fn, NULL, &o, &t))) {
      add_then(t, loop, 0);
      add_then(t, NULL, 1);
      OKC(errand_task_poll(t, loop, 1, poll_cb, NULL));
      ts[nt++] = t;
    }
    if (OKC(errand_loop_post(loop, noop_fn, NULL, NULL, &lt))) {
      add_then(lt, loop, 1);
      ts[nt++] = lt;
    }
    if (t) {
      int rc = errand_loop_run_until(loop, t, 20000);
      if (rc != 0 && !clear_code(rc))
        VIOL("loop_run_until: %s", errand_errname(rc));
    }
    if (lt) {
      int rc = errand_loop_run_until(loop, lt, 20000);
      if (rc != 0 && !clear_code(rc))
        VIOL("loop_run_until (loop task): %s", errand_errname(rc));
    }
  }

  /* Waiting. */
  if (nt > 0) {
    size_t at = 0;
    int rc = errand_wait_any(ts, (size_t)nt, 20000, &at);
    if (rc != 0 && !clear_code(rc)) VIOL("wait_any: %s", errand_errname(rc));
    rc = errand_wait_all(ts, (size_t)nt, 20000);
    if (rc != 0 && !clear_code(rc)) VIOL("wait_all: %s", errand_errname(rc));
  }
  for (i = 0; i < nt; i++) {
    add_then(ts[i], NULL, 0);
    outcome(ts[i], "task", NULL);
  }

  /* Named jobs. */
  {
    static const errand_job_mode modes[] = {ERRAND_JOB_POOL,
                                            ERRAND_JOB_DEDICATED,
                                            ERRAND_JOB_PROCESS,
                                            ERRAND_JOB_WORKER};
    errand_procpool_options po;
    size_t m;
    memset(&po, 0, sizeof po);
    po.min_workers = 1;
    po.max_workers = 1;
    po.kill_grace_ms = 500;
    if (procs) OKC(errand_procpool_create(rt, fault_jobs, &po, &pool));
    for (m = 0; m < 4; m++) {
      errand_job_options jo;
      errand_task *t = NULL;
      if (!procs && modes[m] >= ERRAND_JOB_PROCESS) continue;
      if (modes[m] == ERRAND_JOB_WORKER && !pool) continue;
      memset(&jo, 0, sizeof jo);
      jo.mode = modes[m];
      jo.pool = pool;
      jo.kill_grace_ms = 500;
      if (m == 2) {
        jo.post.on_event = ev_fn;
        jo.post.event_loop = NULL;
        if (OKC(errand_job_start(rt, fault_jobs, "tick", "{}", &jo, &t)))
          outcome(t, "tick job", "\"ticked\"");
      } else if (OKC(errand_job_start(rt, fault_jobs, "echo", "[1,{\"a\":2}]",
                                      &jo, &t))) {
        outcome(t, "echo job", "[1,{\"a\":2}]");
      }
      errand_task_release(t);
    }
    /* Job.Data */
    {
      errand_task *t = NULL;
      char *json = NULL;
      if (OKC(errand_job_start(rt, fault_jobs, "echo", "{\"k\":[]}", NULL,
                               &t))) {
        int rc = errand_job_data(t, &json);
        if (rc == 0) {
          if (strcmp(json, "{\"k\":[]}") != 0) VIOL("job_data: %s", json);
          free(json);
        } else if (!clear_code(rc) || !errand_last_error()[0]) {
          VIOL("job_data: %s", errand_errname(rc));
        }
      }
    }
  }

  /* Shut down; the runtime must still take reads; everything final. */
  {
    int rc = errand_runtime_shutdown(rt, ERRAND_SHUTDOWN_DRAIN, 20000);
    if (rc != 0) VIOL("shutdown: %s", errand_errname(rc));
  }
  /* Continuations on the pool have run by now or will run on the loop. */
  if (loop) {
    int64_t end = check_now_ms() + 20000;
    while (atomic_load(&conts_ran) < atomic_load(&conts_expected) &&
           check_now_ms() < end) {
      errand_loop_run_pending(loop, 0, NULL);
      check_sleep_us(500);
    }
  } else {
    int64_t end = check_now_ms() + 20000;
    while (atomic_load(&conts_ran) < atomic_load(&conts_expected) &&
           check_now_ms() < end)
      check_sleep_us(500);
  }
  if (atomic_load(&conts_ran) != atomic_load(&conts_expected))
    VIOL("continuations: %d ran of %d registered", atomic_load(&conts_ran),
         atomic_load(&conts_expected));
  if (atomic_load(&events_got) < atomic_load(&events_emitted))
    VIOL("events: %d delivered of %d emitted", atomic_load(&events_got),
         atomic_load(&events_emitted));
  if (loop && !OKC(errand_loop_destroy(loop))) VIOL("loop_destroy failed");
  if (pool && errand_procpool_destroy(pool) != 0) VIOL("procpool_destroy");
  if (errand_runtime_destroy(rt) != 0) VIOL("runtime_destroy");
  if (atomic_load(&frees) != frees_expected)
    VIOL("arg_free ran %d times, want %d", atomic_load(&frees), frees_expected);
  for (i = 0; i < nt; i++) errand_task_release(ts[i]);
  if (sig) errand_signal_release(sig);
  if (ctl) errand_controller_release(ctl);
  g_rt = NULL;
}

/* After the fault: the same kind of work succeeds end to end. */
static void still_usable(int procs) {
  errand_runtime *rt = NULL;
  errand_task *t = NULL;
  errand_job_options jo;
  const char *j = NULL;
  if (errand_runtime_create(NULL, &rt) != 0) {
    VIOL("runtime_create after the fault: %s", errand_last_error());
    return;
  }
  if (errand_post(rt, noop_fn, NULL, NULL, &t) != 0 || errand_wait(t, 20000) ||
      status_of(t) != ERRAND_STATUS_RAN_TO_COMPLETION)
    VIOL("post after the fault: %s", errand_last_error());
  errand_task_release(t);
  t = NULL;
  memset(&jo, 0, sizeof jo);
  jo.mode = procs ? ERRAND_JOB_PROCESS : ERRAND_JOB_POOL;
  if (errand_job_start(rt, fault_jobs, "echo", "[7]", &jo, &t) != 0 ||
      errand_wait(t, 20000) != 0 || errand_job_result(t, &j) != 0 ||
      strcmp(j, "[7]") != 0)
    VIOL("job after the fault: %s", errand_last_error());
  errand_task_release(t);
  if (errand_runtime_destroy(rt) != 0) VIOL("destroy after the fault");
}

/* ------------------------------------------------------------------------ */
/* jansson through the fault counter                                         */
/* ------------------------------------------------------------------------ */

/* jansson's allocations (the JSON errand parses and prints for jobs) fail
 * on their own counter: the Nth one fails. */
static atomic_long json_count, json_at;
static void *json_fault_malloc(size_t n) {
  return atomic_fetch_add(&json_count, 1) + 1 == atomic_load(&json_at)
             ? NULL
             : malloc(n);
}

enum { KIND_ALLOC, KIND_THREAD, KIND_SPAWN, KIND_NOFILE, KIND_JSON, NKINDS };
static const char *const kind_names[NKINDS] = {"alloc", "thread", "spawn",
                                               "nofile", "json"};
static const char *const kind_env[3] = {"ERRAND_FAIL_ALLOC",
                                        "ERRAND_FAIL_THREAD",
                                        "ERRAND_FAIL_SPAWN"};

/* After the scenario and its shutdown: no errand thread, descriptor or
 * child process may be left. */
static void check_nothing_left(int fds0) {
  int th = probe_settle(probe_errand_threads, 0, 5000);
  int fd = probe_fds();
  int ch = probe_children(PROBE_ANY, NULL, 0);
  if (th != 0) VIOL("%d errand threads left", th);
  if (fd != fds0) VIOL("%d descriptors left, %d at start", fd, fds0);
  if (ch != 0) VIOL("%d child processes left", ch);
}

/* Exit: 0 the fault fired and all is well, 10 the fault was not reached
 * (and all is well), 1 a violation.  (ASan: 23 for a leak.) */
static int child_main(int kind, long n) {
  int fds0, procs = 1;
  struct rlimit old;
  fds0 = probe_fds();
  if (kind == KIND_JSON) {
    atomic_store(&json_at, n);
    json_set_alloc_funcs(json_fault_malloc, free);
  }
  if (kind == KIND_NOFILE) {
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &old);
    rl = old;
    rl.rlim_cur = (rlim_t)(fds0 + n);
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  scenario(procs);
  if (kind == KIND_NOFILE) {
    /* Fault reached when the limit got in the way: a clear error seen. */
    int reached = clear_errors > 0;
    setrlimit(RLIMIT_NOFILE, &old);
    still_usable(procs);
    json_set_alloc_funcs(malloc, free);
    check_nothing_left(fds0);
    fprintf(stderr, "fault child: clear errors %d\n", clear_errors);
    return bad ? 1 : reached ? 0 : 10;
  }
  {
    /* One more event of this kind: true iff it is the Nth, i.e. the
     * scenario had N-1 of them and the fault was never reached. */
    /* Consume events of this kind until one is the Nth: if one is, the
     * scenario never reached the fault; if none is within N more, the
     * count was already past N (the fault fired in the scenario). */
    int not_reached = 0;
    long k;
    if (kind == KIND_JSON) {
      not_reached = atomic_load(&json_count) < n;
      atomic_store(&json_at, 0); /* disarmed: the fault fires once */
    } else
      for (k = 0; k < n + 1 && !not_reached; k++)
        not_reached = errand__fault(kind);
    still_usable(procs);
    json_set_alloc_funcs(malloc, free);
    check_nothing_left(fds0);
    fprintf(stderr, "fault child: clear errors %d%s\n", clear_errors,
            not_reached ? " (fault not reached)" : "");
    return bad ? 1 : not_reached ? 10 : 0;
  }
}

/* ------------------------------------------------------------------------ */
/* The parent                                                                */
/* ------------------------------------------------------------------------ */

/* Runs one child; returns its exit status (or 128 + signal); its output
 * goes to *log (malloc'ed). */
static int run_child(int kind, long n, char **log) {
  char nbuf[32], path[64];
  char *argv[5];
  posix_spawn_file_actions_t fa;
  pid_t pid;
  int st = 0, fdout;
  char tmpl[] = "/tmp/errand_fault_XXXXXX";
  snprintf(nbuf, sizeof nbuf, "%ld", n);
  snprintf(path, sizeof path, "/proc/self/exe");
  argv[0] = (char *)"test_fault";
  argv[1] = (char *)"--fault-child";
  argv[2] = (char *)kind_names[kind];
  argv[3] = nbuf;
  argv[4] = NULL;
  fdout = mkstemp(tmpl);
  if (fdout < 0) return -1;
  unlink(tmpl);
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fdout, 1);
  posix_spawn_file_actions_adddup2(&fa, fdout, 2);
  if (posix_spawn(&pid, path, &fa, NULL, argv, environ) != 0) {
    posix_spawn_file_actions_destroy(&fa);
    close(fdout);
    return -1;
  }
  posix_spawn_file_actions_destroy(&fa);
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  if (log) {
    off_t len = lseek(fdout, 0, SEEK_END);
    *log = (char *)calloc(1, (size_t)len + 1);
    if (*log) {
      ssize_t k = pread(fdout, *log, (size_t)len, 0);
      (void)k;
    }
  }
  close(fdout);
  if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
  return WEXITSTATUS(st);
}

static long stride(void) {
  const char *e = getenv("ERRAND_FAULT_STRIDE");
  double s = check_scale();
  if (e && *e) return strtol(e, NULL, 10) > 0 ? strtol(e, NULL, 10) : 1;
  if (s < 1.0) return (long)(2.0 / s + 0.5); /* 0.2: every 10th */
  return 1;
}

/* Distinct failures (the child's first complaint with digits blanked), so
 * one bug hit at many N is shown once and the sweep still goes on to the
 * end. */
#define MAXDISTINCT 64
static char *distinct[MAXDISTINCT];
static int ndistinct;

static int first_time(const char *log) {
  char key[300];
  const char *p = strstr(log ? log : "", "fault child: ");
  size_t k = 0;
  int i;
  if (!p) p = log ? log : "";
  for (; *p && *p != '\n' && k < sizeof key - 1; p++)
    key[k++] = (*p >= '0' && *p <= '9') ? '#' : *p;
  key[k] = 0;
  for (i = 0; i < ndistinct; i++)
    if (strcmp(distinct[i], key) == 0) return 0;
  if (ndistinct < MAXDISTINCT) distinct[ndistinct++] = strdup(key);
  return 1;
}

static void sweep(int kind) {
  /* Only the many allocation sites are sampled when scaled down. */
  long n, st = kind == KIND_ALLOC || kind == KIND_JSON ? stride() : 1;
  long runs = 0, fired = 0;
  long maxn = getenv("ERRAND_FAULT_MAX") ? strtol(getenv("ERRAND_FAULT_MAX"), NULL, 10)
                                         : 5000;
  long sites = -1, failed = 0;
  int misses = 0, i;
  uint64_t seed = check_seed(kind_names[kind]);
  long start = st > 1 ? 1 + (long)(seed % (uint64_t)st) : 1;
  int64_t t0 = check_now_ms();
  /* Wall-clock budget per kind (the watchdog allows 120 s per test). */
  double budget = getenv("ERRAND_FAULT_BUDGET")
                      ? strtod(getenv("ERRAND_FAULT_BUDGET"), NULL)
                      : 90.0;
  int out_of_time = 0;
  for (n = start; n <= maxn; n += st) {
    if (check_now_ms() - t0 > (int64_t)(budget * 1000)) {
      out_of_time = 1;
      printf("  %s: time budget (%.0f s) spent at N=%ld: partial sweep\n",
             kind_names[kind], budget, n);
      break;
    }
    char *log = NULL;
    int rc = run_child(kind, n, &log);
    runs++;
    if (rc == 0) {
      fired++;
      misses = 0;
    } else if (rc == 10) {
      if (sites < 0) sites = n - 1;
      if (++misses >= 2) {
        free(log);
        break;
      }
    } else {
      fired++;
      failed++;
      misses = 0;
      if (first_time(log))
        CHECK_FAILF("%s fault at N=%ld: child exit %d (replay: test_fault "
                    "--fault-child %s %ld)\n%s",
                    kind_names[kind], n, rc, kind_names[kind], n,
                    log ? log : "");
      else
        CHECK_FAILF("%s fault at N=%ld: child exit %d (same as above)",
                    kind_names[kind], n, rc);
    }
    free(log);
  }
  printf("FAULT_FIGURES kind=%s sites=%ld runs=%ld faults_injected=%ld "
         "failed=%ld stride=%ld seconds=%.1f\n",
         kind_names[kind], sites, runs, fired, failed, st,
         (double)(check_now_ms() - t0) / 1000.0);
  for (i = 0; i < ndistinct; i++) free(distinct[i]);
  ndistinct = 0;
  CHECK(sites >= 0 || out_of_time);
  CHECK(fired > 0);
}

TEST(every_allocation_fails_in_turn) { sweep(KIND_ALLOC); }
TEST(every_thread_start_fails_in_turn) { sweep(KIND_THREAD); }
TEST(every_worker_spawn_fails_in_turn) { sweep(KIND_SPAWN); }
TEST(descriptors_run_out) { sweep(KIND_NOFILE); }
TEST(every_json_allocation_fails_in_turn) { sweep(KIND_JSON); }

int main(int argc, char **argv) {
  int kind = -1;
  long n = 0;
  if (argc == 4 && strcmp(argv[1], "--fault-child") == 0) {
    char buf[32];
    int k;
    for (k = 0; k < NKINDS; k++)
      if (strcmp(argv[2], kind_names[k]) == 0) kind = k;
    n = strtol(argv[3], NULL, 10);
    if (kind < 0 || n < 1) return 2;
    /* Arm the fault: the counters read their variable once, at their
     * first use, which is this probe (count 1), so N+1 makes the
     * scenario's Nth event fail.  Then the variables go, so worker
     * processes this child starts run clean. */
    if (kind < KIND_NOFILE) {
      snprintf(buf, sizeof buf, "%ld", n + 1);
      setenv(kind_env[kind], buf, 1);
    }
    for (k = 0; k < 3; k++) (void)errand__fault(k);
    for (k = 0; k < 3; k++) unsetenv(kind_env[k]);
    alarm(120);
  } else {
    int k;
    for (k = 0; k < 3; k++) unsetenv(kind_env[k]);
  }
  if (errand_jobs_create(&fault_jobs) != 0 ||
      errand_jobs_register(fault_jobs, "echo", h_echo, NULL) != 0 ||
      errand_jobs_register(fault_jobs, "tick", h_tick, NULL) != 0) {
    if (kind >= 0) {
      /* A fault this early is the registry's: it must be clear. */
      const char *m = errand_last_error();
      int clear = m[0] != 0;
      fprintf(stderr, "fault child: registry: %s\n", m);
      errand_jobs_release(fault_jobs);
      return clear ? 0 : 1;
    }
    return 2;
  }
  errand_worker_main(fault_jobs); /* a worker process never returns */
  if (kind >= 0) {
    int rc = child_main(kind, n);
    errand_jobs_release(fault_jobs);
    return rc;
  }
  {
    int rc = check_run(argc, argv);
    errand_jobs_release(fault_jobs);
    return rc;
  }
}
