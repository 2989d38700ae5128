/*
 * test_job_common.h — handlers and helpers shared by the named-job and
 * process-worker tests (test_job*.c, test_proc*.c, test_seed000.c,
 * test_seed002.c).  Header only: every test executable has its own copy.
 *
 * A test file that runs process jobs whose worker is the test program itself
 * must build the same registry in the worker as in the host, so it uses
 * JOB_TEST_MAIN() instead of CHECK_MAIN():
 *
 *   int main(argc, argv) {
 *     jobs = test_registry();            // the same handlers everywhere
 *     errand_worker_main(jobs);          // a worker: serves jobs, never returns
 *     return check_run(argc, argv);      // the host: runs the tests
 *   }
 *
 * The handlers (all take JSON text; small hand parsing, no JSON library):
 *   echo        result = args
 *   add         args = array of integers, result = their sum
 *   fail        errand_job_fail(42, "no: <args>")
 *   progress    {"count":N[,"sleep_ms":S]}: N events "tick" {"n":i}, then
 *               result {"done":N}
 *   pid         result = getpid()
 *   index       result = [errand_job_worker_index, ERRAND_WORKER_INDEX or -1]
 *   print       "out:<args>\n" on stdout, "err:<args>\n" on stderr, null
 *   sleep       {"ms":N[,"say":1]}: errand_job_sleep (cooperative); when
 *               canceled returns E_CANCELED (with "say": through
 *               errand_job_fail with its own message)
 *   hang        sleeps forever ignoring cancellation (only a kill ends it)
 *   hang_noterm ignores SIGTERM, then hangs (SIGKILL after the grace ends it)
 *   segv        raise(SIGSEGV) with the default action
 *   abort       abort()
 *   exit        {"code":N}: _exit(N)
 *   garbage     raw bytes on the protocol descriptor, then hangs
 *   spawn_sleep starts `sleep 1000` (a grandchild), emits "child" {"pid":P},
 *               then hangs
 *   grow        {"mb":N}: touches N MiB it keeps (for recycle_rss), null
 *   mixed       {"kind":K,"i":I}: does what kind K says (for the crash mix)
 */
#ifndef ERRAND_TEST_JOB_COMMON_H
#define ERRAND_TEST_JOB_COMMON_H

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "helpers.h"
#include "probes.h"

extern char **environ;

/* ------------------------------------------------------------------------ */
/* Tiny JSON helpers for the flat objects the tests pass                     */
/* ------------------------------------------------------------------------ */

/* The integer member "key" of a flat JSON object, or def. */
static inline long long jint(const char *json, const char *key,
                             long long def) {
  char pat[64];
  const char *p;
  snprintf(pat, sizeof pat, "\"%s\"", key);
  p = json ? strstr(json, pat) : NULL;
  if (!p) return def;
  p += strlen(pat);
  while (*p == ' ' || *p == ':') p++;
  if (*p != '-' && (*p < '0' || *p > '9')) return def;
  return strtoll(p, NULL, 10);
}

/* Copies the string member "key" (no escapes) into buf; 1 if found. */
static inline int jstr(const char *json, const char *key, char *buf,
                       size_t len) {
  char pat[64];
  const char *p, *q;
  snprintf(pat, sizeof pat, "\"%s\"", key);
  p = json ? strstr(json, pat) : NULL;
  if (!p || len == 0) return 0;
  p += strlen(pat);
  while (*p == ' ' || *p == ':') p++;
  if (*p != '"') return 0;
  p++;
  q = strchr(p, '"');
  if (!q) return 0;
  if ((size_t)(q - p) >= len) return 0;
  memcpy(buf, p, (size_t)(q - p));
  buf[q - p] = 0;
  return 1;
}

/* ------------------------------------------------------------------------ */
/* Handlers                                                                  */
/* ------------------------------------------------------------------------ */

static inline void jc_sleep_forever(void) {
  for (;;) check_sleep_ms(1000);
}

static inline int h_echo(errand_job *job, const char *args, void *arg) {
  (void)arg;
  return errand_job_return(job, args);
}

static inline int h_add(errand_job *job, const char *args, void *arg) {
  long long sum = 0;
  const char *p = args;
  char buf[32];
  (void)arg;
  if (*p != '[')
    return errand_job_fail(job, ERRAND_E_INVALID, "add wants an array");
  p++;
  while (*p) {
    char *end;
    long long v;
    while (*p == ' ' || *p == ',') p++;
    if (*p == ']') break;
    v = strtoll(p, &end, 10);
    if (end == p)
      return errand_job_fail(job, ERRAND_E_INVALID, "add wants integers");
    sum += v;
    p = end;
  }
  snprintf(buf, sizeof buf, "%lld", sum);
  return errand_job_return(job, buf);
}

static inline int h_fail(errand_job *job, const char *args, void *arg) {
  (void)arg;
  return errand_job_fail(job, 42, "no: %s", args);
}

static inline int h_progress(errand_job *job, const char *args, void *arg) {
  long long n = jint(args, "count", 3), sleep_ms = jint(args, "sleep_ms", 0);
  char buf[64];
  long long i;
  (void)arg;
  for (i = 0; i < n; i++) {
    int rc;
    snprintf(buf, sizeof buf, "{\"n\":%lld}", i);
    rc = errand_job_progress(job, "tick", buf);
    if (rc) return rc;
    if (sleep_ms > 0 && errand_job_sleep(job, sleep_ms) != 0)
      return errand_job_fail(job, ERRAND_E_CANCELED, "progress canceled");
  }
  snprintf(buf, sizeof buf, "{\"done\":%lld}", n);
  return errand_job_return(job, buf);
}

static inline int h_pid(errand_job *job, const char *args, void *arg) {
  char buf[32];
  (void)args;
  (void)arg;
  snprintf(buf, sizeof buf, "%d", (int)getpid());
  return errand_job_return(job, buf);
}

static inline int h_index(errand_job *job, const char *args, void *arg) {
  char buf[64];
  const char *e = getenv("ERRAND_WORKER_INDEX");
  (void)args;
  (void)arg;
  /* errand_worker_main takes the variable out of its own environment (so
   * programs a job starts are not workers); the index the job sees is
   * errand_job_worker_index. */
  snprintf(buf, sizeof buf, "[%d,%s]", errand_job_worker_index(job),
           e ? e : "-1");
  return errand_job_return(job, buf);
}

static inline int h_print(errand_job *job, const char *args, void *arg) {
  (void)job;
  (void)arg;
  printf("out:%s\n", args);
  fprintf(stderr, "err:%s\n", args);
  return 0;
}

static inline int h_sleep(errand_job *job, const char *args, void *arg) {
  int rc = errand_job_sleep(job, jint(args, "ms", 1000));
  (void)arg;
  if (rc == ERRAND_E_CANCELED) {
    if (jint(args, "say", 0))
      return errand_job_fail(job, ERRAND_E_CANCELED, "sleep canceled");
    return rc; /* the cancel's own reason stays */
  }
  return errand_job_return(job, "\"slept\"");
}

static inline int h_hang(errand_job *job, const char *args, void *arg) {
  (void)job;
  (void)args;
  (void)arg;
  jc_sleep_forever();
  return 0;
}

static inline int h_hang_noterm(errand_job *job, const char *args,
                                void *arg) {
  (void)args;
  (void)arg;
  signal(SIGTERM, SIG_IGN);
  errand_job_progress(job, "ignoring", "\"SIGTERM\"");
  jc_sleep_forever();
  return 0;
}

/* The default action, whatever handler a sanitizer runtime installed. */
static inline void jc_die_of(int sig) {
  signal(sig, SIG_DFL);
  raise(sig);
  _exit(99); /* not reached */
}

static inline int h_segv(errand_job *job, const char *args, void *arg) {
  (void)job;
  (void)args;
  (void)arg;
  jc_die_of(SIGSEGV);
  return 0;
}

static inline int h_abort(errand_job *job, const char *args, void *arg) {
  (void)job;
  (void)args;
  (void)arg;
  signal(SIGABRT, SIG_DFL);
  abort();
}

static inline int h_exit(errand_job *job, const char *args, void *arg) {
  (void)job;
  (void)arg;
  fflush(stdout);
  _exit((int)jint(args, "code", 3));
}

/* The descriptor errand's worker writes its frames on: the reply pipe its
 * host gave it, else the protocol socket (3); and the one it reads the
 * host's on: the run pipe, else the socket.  Noted before
 * errand_worker_main, which takes the variables out of the environment. */
static int jc_frames_fd = 3, jc_input_fd = 3;
static inline void jc_note_frames_fd(void) {
  const char *e = getenv("ERRAND_WORKER_REPLY_FD");
  if (e) jc_frames_fd = atoi(e);
  e = getenv("ERRAND_WORKER_RUN_FD");
  if (e) jc_input_fd = atoi(e);
}

static inline int h_garbage(errand_job *job, const char *args, void *arg) {
  /* A frame header that claims 4 GiB - 1: the host must stop at the
   * length, without waiting for the body. */
  static const unsigned char junk[] = {0xff, 0xff, 0xff, 0xff, 0x03, 0, 0,
                                       0,    0,    0,    0,    0,    1};
  (void)job;
  (void)args;
  (void)arg;
  if (write(jc_frames_fd, junk, sizeof junk) < 0) _exit(98);
  jc_sleep_forever();
  return 0;
}

static inline int h_spawn_sleep(errand_job *job, const char *args,
                                void *arg) {
  char *argv[] = {(char *)"sleep", (char *)"1000", NULL};
  pid_t pid;
  char buf[64];
  (void)args;
  (void)arg;
  if (posix_spawnp(&pid, "sleep", NULL, NULL, argv, environ) != 0)
    return errand_job_fail(job, ERRAND_E_SYSTEM, "cannot spawn sleep");
  snprintf(buf, sizeof buf, "{\"pid\":%d}", (int)pid);
  errand_job_progress(job, "child", buf);
  jc_sleep_forever();
  return 0;
}

static char *jc_grown; /* kept: the point is to raise the RSS */

static inline int h_grow(errand_job *job, const char *args, void *arg) {
  size_t n = (size_t)jint(args, "mb", 64) << 20;
  char *p;
  (void)arg;
  p = (char *)malloc(n);
  if (!p) return errand_job_fail(job, ERRAND_E_NOMEM, "no memory");
  memset(p, 1, n);
  free(jc_grown);
  jc_grown = p;
  return 0;
}

/* Kinds of the crash mix (test_proc_crash.c). */
enum { MIX_OK, MIX_FAIL, MIX_SEGV, MIX_ABORT, MIX_EXIT, MIX_HANG, MIX_GARBAGE,
       MIX_KINDS };

static inline int h_mixed(errand_job *job, const char *args, void *arg) {
  int kind = (int)jint(args, "kind", 0);
  long long i = jint(args, "i", 0);
  char buf[64];
  (void)arg;
  switch (kind) {
  case MIX_OK:
    snprintf(buf, sizeof buf, "{\"i\":%lld,\"sq\":%lld}", i, i * i);
    return errand_job_return(job, buf);
  case MIX_FAIL:
    return errand_job_fail(job, 1000 + (int)(i % 1000), "job %lld failed", i);
  case MIX_SEGV:
    jc_die_of(SIGSEGV);
    break;
  case MIX_ABORT:
    signal(SIGABRT, SIG_DFL);
    abort();
  case MIX_EXIT:
    _exit(7);
  case MIX_HANG:
    jc_sleep_forever();
    break;
  case MIX_GARBAGE:
    return h_garbage(job, args, arg);
  }
  return errand_job_fail(job, 1, "unknown kind %d", kind);
}

/* A handler that waits (in-process only) until jc_go is set: thread-mode
 * tests use it to subscribe before anything is emitted. */
static atomic_int jc_go;

static inline int h_progress_after_go(errand_job *job, const char *args,
                                      void *arg) {
  while (!atomic_load(&jc_go)) check_sleep_us(200);
  return h_progress(job, args, arg);
}

/* ------------------------------------------------------------------------ */
/* The registry                                                              */
/* ------------------------------------------------------------------------ */

static errand_jobs *jc_jobs;

static inline errand_jobs *test_registry(void) {
  static const struct {
    const char *name;
    errand_job_fn fn;
  } table[] = {
      {"echo", h_echo},
      {"add", h_add},
      {"fail", h_fail},
      {"progress", h_progress},
      {"pid", h_pid},
      {"index", h_index},
      {"print", h_print},
      {"sleep", h_sleep},
      {"hang", h_hang},
      {"hang_noterm", h_hang_noterm},
      {"segv", h_segv},
      {"abort", h_abort},
      {"exit", h_exit},
      {"garbage", h_garbage},
      {"spawn_sleep", h_spawn_sleep},
      {"grow", h_grow},
      {"mixed", h_mixed},
      {"progress_after_go", h_progress_after_go},
  };
  errand_jobs *jobs = NULL;
  size_t i;
  if (errand_jobs_create(&jobs) != 0) {
    fprintf(stderr, "errand_jobs_create: %s\n", errand_last_error());
    exit(2);
  }
  for (i = 0; i < sizeof table / sizeof table[0]; i++)
    if (errand_jobs_register(jobs, table[i].name, table[i].fn, NULL) != 0) {
      fprintf(stderr, "register %s: %s\n", table[i].name, errand_last_error());
      exit(2);
    }
  return jobs;
}

/* main() of a test file whose process jobs re-execute it.
 * JOB_TEST_MAIN_WITH(fn): fn(jobs) registers the file's own handlers too
 * (in the host and in its workers alike). */
#define JOB_TEST_MAIN_WITH(extra)                                              \
  int main(int argc, char **argv) {                                            \
    int rc_;                                                                   \
    void (*extra_)(errand_jobs *) = (extra);                                   \
    jc_jobs = test_registry();                                                 \
    if (extra_) extra_(jc_jobs);                                               \
    jc_note_frames_fd();                                                       \
    errand_worker_main(jc_jobs); /* a worker never comes back */              \
    rc_ = check_run(argc, argv);                                               \
    errand_jobs_release(jc_jobs);                                              \
    return rc_;                                                                \
  }
#define JOB_TEST_MAIN() JOB_TEST_MAIN_WITH(NULL)

/* ------------------------------------------------------------------------ */
/* Starting and reading jobs                                                 */
/* ------------------------------------------------------------------------ */

static inline errand_job_options job_opts(errand_job_mode mode) {
  errand_job_options o;
  memset(&o, 0, sizeof o);
  o.mode = mode;
  return o;
}

static inline const char *mode_name(errand_job_mode m) {
  switch (m) {
  case ERRAND_JOB_POOL: return "pool-thread";
  case ERRAND_JOB_DEDICATED: return "dedicated-thread";
  case ERRAND_JOB_PROCESS: return "one-shot-process";
  case ERRAND_JOB_WORKER: return "worker-pool";
  }
  return "?";
}

/* Starts a job; NULL (and a recorded failure) if the start fails. */
static inline errand_task *start_job(errand_runtime *rt, const char *name,
                                     const char *args,
                                     const errand_job_options *o) {
  errand_task *t = NULL;
  int rc = errand_job_start(rt, jc_jobs, name, args, o, &t);
  if (!CHECK_OK(rc)) {
    fprintf(stderr, "  (job %s %s)\n", name, args ? args : "NULL");
    return NULL;
  }
  return t;
}

/* Waits (bounded) for t; 1 if final. */
static inline int wait_final(errand_task *t) {
  return CHECK_OK(errand_wait(t, CHECK_LONG_MS));
}

/* The result text of a finished job ("" on failure). */
static inline const char *result_of(errand_task *t) {
  const char *j = NULL;
  if (!CHECK_OK(errand_job_result(t, &j))) {
    int code = 0;
    const char *m = "";
    errand_task_error(t, &code, &m);
    fprintf(stderr, "  (job error %d: %s)\n", code, m ? m : "");
    return "";
  }
  return j ? j : "";
}

/* After errand_job_data the caller's reference is gone; errand may hold
 * its own a moment longer (its pool, its threads), so poll (bounded) until
 * the handle reads as released.  1 if it does. */
static inline int wait_released(errand_task *t) {
  int64_t end = check_now_ms() + CHECK_LONG_MS;
  errand_status s;
  int rc;
  while ((rc = errand_task_status(t, &s)) == 0 && check_now_ms() < end)
    check_sleep_us(500);
  return CHECK_RC(rc, ERRAND_E_RELEASED);
}

static inline int pid_of(errand_task *t) {
  int pid = -1;
  CHECK_OK(errand_job_pid(t, &pid));
  return pid;
}

/* ------------------------------------------------------------------------ */
/* Events through a loop                                                     */
/* ------------------------------------------------------------------------ */

typedef struct ev_log {
  pthread_t owner;
  int n;
  int wrong_thread;
  char names[64][32];
  char data[64][96];
} ev_log;

static inline void ev_cb(errand_task *t, const char *name, const void *data,
                         size_t len, void *arg) {
  ev_log *l = (ev_log *)arg;
  (void)t;
  if (!pthread_equal(pthread_self(), l->owner)) l->wrong_thread++;
  if (l->n < 64) {
    size_t k = len < 95 ? len : 95;
    snprintf(l->names[l->n], sizeof l->names[l->n], "%s", name);
    if (data && k) memcpy(l->data[l->n], data, k);
    l->data[l->n][k] = 0;
  }
  l->n++;
}

static inline void ev_log_init(ev_log *l) {
  memset(l, 0, sizeof *l);
  l->owner = pthread_self();
}

/* ------------------------------------------------------------------------ */
/* Processes and descriptors                                                 */
/* ------------------------------------------------------------------------ */

/* 1 if pid exists (zombies included). */
static inline int pid_exists(int pid) {
  return pid > 0 && (kill(pid, 0) == 0 || errno != ESRCH);
}

/* The state letter of /proc/<pid>/stat ('Z' for a zombie), or 0. */
static inline char pid_state(int pid) {
  char path[64], buf[512];
  FILE *f;
  char *p;
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  f = fopen(path, "re");
  if (!f) return 0;
  if (!fgets(buf, sizeof buf, f)) buf[0] = 0;
  fclose(f);
  p = strrchr(buf, ')');
  return p && p[1] == ' ' ? p[2] : 0;
}

/* Polls until pid is dead — gone (ESRCH), or a zombie waiting for a parent
 * that is not us (a grandchild reparented to an init that reaps lazily) —
 * or timeout_ms passes; 1 if dead. */
static inline int wait_pid_gone(int pid, int64_t timeout_ms) {
  int64_t end = check_now_ms() + timeout_ms;
  while (pid_exists(pid) && pid_state(pid) != 'Z') {
    if (check_now_ms() > end) return 0;
    check_sleep_ms(5);
  }
  return 1;
}

/* The jobs of the shutdown tests: six that hang until killed, three in
 * pool's resident workers and three one-shot, one of each kind ignoring
 * SIGTERM (grace 200 ms).  Returns once each runs, with its pid in pids
 * (a failed check for one that does not). */
static inline void start_six_hanging(errand_runtime *rt, errand_procpool *pool,
                                     errand_task *t[6], int pids[6]) {
  int i;
  for (i = 0; i < 6; i++) {
    errand_job_options o =
        job_opts(i < 3 ? ERRAND_JOB_WORKER : ERRAND_JOB_PROCESS);
    o.pool = pool;
    o.kill_grace_ms = 200;
    t[i] = start_job(rt, i % 3 == 2 ? "hang_noterm" : "hang", "[]", &o);
    pids[i] = 0;
  }
  for (i = 0; i < 6; i++) {
    int64_t end = check_now_ms() + CHECK_LONG_MS;
    while (t[i] && (pids[i] = pid_of(t[i])) == 0 && check_now_ms() < end)
      check_sleep_ms(2);
    CHECK(pids[i] > 0);
  }
}

/* After the runtime is destroyed: no process of those jobs is left, not
 * even a zombie (which one and its state if it is); releases them. */
static inline void check_six_gone(errand_task *t[6], const int pids[6]) {
  int i;
  for (i = 0; i < 6; i++) {
    if (!CHECK(!pid_exists(pids[i])))
      printf("  job %d: pid %d still there, state '%c'\n", i, pids[i],
             pid_state(pids[i]) ? pid_state(pids[i]) : '?');
    errand_task_release(t[i]);
  }
}

/* The end of the shutdown scenario: a cancel-mode shutdown of rt (if it
 * fails, the one-shot jobs t[3..6) are cancelled so that the destroy,
 * which drains, cannot hang), t[first..6) seen CANCELED, the runtime
 * destroyed, and nothing of the six left (check_six_gone): no child of
 * ours, live or zombie, and no descriptor beyond fds_before. */
static inline void cancel_six_and_check_clean(errand_runtime *rt,
                                              errand_task *t[6],
                                              const int pids[6], int first,
                                              int fds_before) {
  int i;
  if (!CHECK_OK(errand_runtime_shutdown(rt, ERRAND_SHUTDOWN_CANCEL, 10000)))
    for (i = 3; i < 6; i++)
      if (t[i]) errand_task_cancel(t[i]);
  for (i = first; i < 6; i++) {
    if (!t[i]) continue;
    errand_wait(t[i], CHECK_LONG_MS);
    CHECK_EQ_INT(status_of(t[i]), ERRAND_STATUS_CANCELED);
  }
  CHECK_OK(errand_runtime_destroy(rt));
  check_six_gone(t, pids);
  CHECK_EQ_INT(probe_children(PROBE_ZOMBIE, NULL, 0), 0);
  CHECK_EQ_INT(probe_children(PROBE_LIVE, NULL, 0), 0);
  CHECK_EQ_INT(probe_fds(), fds_before);
}

/* The timer module (examples/jobs/timer.c), built as
 * <build>/examples/jobs/timer.so.  Returns 0 (and prints why) if it is not
 * there, so the module tests can skip in a tree built without examples. */
static inline int timer_module_path(char *buf, size_t len) {
  const char *b = getenv("ERRAND_BINARY_DIR");
  struct stat st;
  if (!b) {
    printf("  (ERRAND_BINARY_DIR not set: module test skipped)\n");
    return 0;
  }
  snprintf(buf, len, "%s/examples/jobs/timer.so", b);
  if (stat(buf, &st) != 0) {
    printf("  (%s not built: module test skipped)\n", buf);
    return 0;
  }
  return 1;
}

#endif /* ERRAND_TEST_JOB_COMMON_H */
