/*
 * test_soak.c — the randomised soak (issue "hostile conditions", item 1).
 *
 * Several client threads at once post, cancel, wait (one / all / any, with
 * timeouts and forever), abort signals, change their priorities, attach
 * children, register continuations and shut the runtime down, on pool,
 * dedicated, loop and process jobs, for a bounded time cut in rounds.  After
 * each round (runtime shut down and destroyed) the invariants are checked:
 *
 *   - every task reached exactly one final status, consistent with its flags,
 *     its error, its result and what its continuations saw; a task that never
 *     ran is CANCELED; none ran twice; arg_free ran exactly once;
 *   - every waiter woke (a forever-waiter thread per round; the watchdog
 *     turns a lost wake-up into a failure), and a wait that returned 0 saw
 *     the task(s) final;
 *   - every continuation ran exactly once, on the right thread (its loop's
 *     owner, or an errand thread); events arrived in emit order, all of
 *     them, and none after the task's completion callback on that loop;
 *   - signal listeners: one abort event per aborted signal, one priority
 *     event per effective change, chained previous -> current;
 *   - nothing leaked: threads, descriptors and child processes are back to
 *     what they were before the round (memory: LeakSanitizer in the ASan
 *     build).
 *
 * Tests: soak_pool, soak_dedicated, soak_loop, soak_process, soak_mixed.
 *
 * Environment:
 *   ERRAND_SOAK_SECONDS  seconds per mode (default 4 x ERRAND_TEST_SCALE,
 *                        at least 1).  scripts/soak runs a long one.
 *   ERRAND_TEST_SEED     replays a seed: the seed fixes every thread's
 *                        sequence of operations and arguments per round (the
 *                        interleaving of threads is the OS's).  The seed is
 *                        printed at the start of each mode.
 *   ERRAND_SOAK_THREADS  client threads (default 4).
 * Each mode prints a "SOAK_FIGURES" line (operations by kind, tasks by final
 * status, events, callbacks, violations) that scripts/soak sums up.
 */
/* ERRAND_TEST_LABELS: soak */
#include <poll.h>
#include <pthread.h>
#include <sys/wait.h>

#include "helpers.h"
#include "probes.h"

/* ------------------------------------------------------------------------ */
/* Figures                                                                   */
/* ------------------------------------------------------------------------ */

enum {
  OP_POST,
  OP_POST_BATCH,
  OP_LOOP_POST,
  OP_JOB_THREAD,
  OP_JOB_PROCESS,
  OP_JOB_WORKER,
  OP_CHILD,
  OP_CANCEL,
  OP_WAIT,
  OP_WAIT_ALL,
  OP_WAIT_ANY,
  OP_WAIT_FOREVER,
  OP_ABORT,
  OP_SET_PRIORITY,
  OP_THEN,
  OP_CALLBACK,
  OP_RETAIN_RELEASE,
  OP_READ,
  OP_SHUTDOWN,
  NOPS
};
static const char *const op_names[NOPS] = {
    "post",     "post_batch", "loop_post",  "job_thread",    "job_process",
    "job_worker", "child",    "cancel",     "wait",          "wait_all",
    "wait_any", "wait_forever", "abort",    "set_priority",  "then",
    "callback", "retain_release", "read",   "shutdown"};

typedef struct figures {
  atomic_llong ops[NOPS];
  atomic_llong refused[NOPS]; /* allowed errors (E_SHUTDOWN, E_STATE...) */
  atomic_llong tasks, ok, canceled, faulted, never_ran;
  atomic_llong events, callbacks, sync_then, rounds, violations;
} figures;

static figures F; /* the current mode */

/* Totals over every mode, for the final line. */
static long long total_ops, total_tasks, total_violations, total_rounds;

#define VIOLATION(...)                                                         \
  do {                                                                         \
    atomic_fetch_add(&F.violations, 1);                                        \
    CHECK_FAILF(__VA_ARGS__);                                                  \
  } while (0)

/* ------------------------------------------------------------------------ */
/* Threads' roles (for "on the right thread")                                */
/* ------------------------------------------------------------------------ */

enum { ROLE_ERRAND = 0, ROLE_MAIN, ROLE_CLIENT, ROLE_OWNER, ROLE_WAITER };
static _Thread_local int my_role; /* 0: a thread errand started */
/* Set around errand_task_then/callback with a NULL loop: errand runs the
 * continuation right there when the task is already final. */
static _Thread_local int registering;

/* ------------------------------------------------------------------------ */
/* Task records                                                              */
/* ------------------------------------------------------------------------ */

enum {
  B_QUICK,    /* result = malloc'ed idx*7 */
  B_SLEEP,    /* errand_task_sleep(param) */
  B_FAIL,     /* errand_task_fail(1000 + idx % 100) */
  B_EMIT,     /* param events, then B_QUICK */
  B_CHILDREN, /* posts param attached children, may wait for them */
  B_SPIN,     /* polls is_canceled up to param ms */
  B_WAITOTHER,/* waits on another record's task, bounded */
  B_NBEH
};

enum { K_TASK, K_LOOP_TASK, K_JOB, K_CHILD };

#define MAXCHILD 6

typedef struct rec {
  int idx;
  int kind;
  int beh;
  int param;
  int job_mode; /* K_JOB: errand_job_mode */
  int parent;   /* index or -1 */
  int loop_events; /* subscribed at post on the loop */
  int sync_events; /* subscribed at post, NULL loop */
  int has_arg_free;
  int fire_and_forget;
  int expect_canceled_at_once; /* posted to an aborted signal */
  int abort_code;
  const char *abort_reason;
  _Atomic(errand_task *) h; /* the record's own reference, published */
  atomic_int runs, frees, ret, wrong_thread;
  atomic_int emitted, ev_loop, ev_sync, ev_after_done, ev_order, ev_wrong_thread;
  atomic_int loop_done; /* a completion callback on the loop ran */
  atomic_int cb_expected, cb_got, cb_bad; /* cb_bad: BAD_* bits */
  atomic_int seen_status; /* first status a callback saw, -1 none */
  atomic_int nchild;   /* tracked children (at most MAXCHILD) */
  atomic_int attached; /* every child ever attached */
  atomic_int child[MAXCHILD];
} rec;

enum {
  BAD_LOOP_THREAD = 1,  /* a loop continuation off the owner thread */
  BAD_POOL_THREAD = 2,  /* a pool continuation on a thread of ours */
  BAD_NOT_FINAL = 4,    /* the task was not final in its continuation */
  BAD_STATUS_CHANGED = 8,
  BAD_CHILD_NOT_FINAL = 16,
  BAD_CB_ARGS = 32,     /* errand_callback_fn's (err, message, value) */
  BAD_CB_RESULT = 64
};

#define TAG_POOL 1u /* low bit of a callback's arg: registered with NULL loop */

/* ------------------------------------------------------------------------ */
/* Round state                                                               */
/* ------------------------------------------------------------------------ */

#define NCTL 4

typedef struct ctl_state {
  errand_controller *c;
  errand_signal *s;
  int owner;            /* client thread that aborts / changes it */
  int prio;             /* its priority as the owner set it */
  int aborted;
  int abort_code;
  char reason[64];
  atomic_int expect_prio_events; /* per listener */
  atomic_int prio_loop, prio_sync, abort_loop, abort_sync;
  atomic_int chain_loop, chain_sync; /* last "current" seen */
  atomic_int chain_bad, listener_wrong_thread;
} ctl_state;

typedef struct round {
  int mode;
  uint64_t seed;
  int rno;
  errand_runtime *rt;
  errand_loop *loop;
  errand_procpool *pool;
  pthread_t owner_thread;
  atomic_int loop_ready;
  atomic_int stop_clients;
  atomic_int owner_drain; /* main -> owner: all final, drain and destroy */
  atomic_int owner_done;
  atomic_int shutdown_done_by_client;
  int64_t deadline_ms;
  rec *recs;
  int cap;
  atomic_int n;
  ctl_state ctl[NCTL];
  int nthreads;
  atomic_llong loop_cb_expected, loop_cb_got;
} round_t;

static round_t *R; /* the current round (task functions read it) */
static errand_jobs *soak_jobs;

static rec *rec_new(int kind, int beh, int param) {
  int i = atomic_fetch_add(&R->n, 1);
  rec *r;
  if (i >= R->cap) {
    atomic_fetch_sub(&R->n, 1);
    return NULL;
  }
  /* Zeroed by calloc: no memset, other threads may already read r->h
   * (NULL until published). */
  r = &R->recs[i];
  r->idx = i;
  r->kind = kind;
  r->beh = beh;
  r->param = param;
  r->parent = -1;
  atomic_init(&r->seen_status, -1);
  atomic_init(&r->ret, -12345);
  return r;
}

/* Only the records whose index is below n were fully set up before n
 * moved on; a record is usable once its handle is published. */
static errand_task *rec_handle(int i) {
  if (i < 0 || i >= atomic_load(&R->n)) return NULL;
  return atomic_load_explicit(&R->recs[i].h, memory_order_acquire);
}

static void arg_free_fn(void *p) { atomic_fetch_add(&((rec *)p)->frees, 1); }

static void result_free(void *p) { free(p); }

/* ------------------------------------------------------------------------ */
/* Callbacks                                                                 */
/* ------------------------------------------------------------------------ */

static rec *untag(void *arg, unsigned *tags) {
  uintptr_t v = (uintptr_t)arg;
  *tags = (unsigned)(v & 3u);
  return (rec *)(v & ~(uintptr_t)3u);
}

static void cb_common(rec *r, unsigned tags, errand_task *t) {
  int on_loop = !(tags & TAG_POOL);
  errand_status s;
  atomic_fetch_add(&F.callbacks, 1);
  if (on_loop) {
    if (my_role != ROLE_OWNER) atomic_fetch_or(&r->cb_bad, BAD_LOOP_THREAD);
    atomic_store(&r->loop_done, 1);
    atomic_fetch_add(&R->loop_cb_got, 1);
  } else if (registering) {
    /* Run inside the registering call: the task was final already. */
    atomic_fetch_add(&F.sync_then, 1);
  } else if (my_role != ROLE_ERRAND) {
    atomic_fetch_or(&r->cb_bad, BAD_POOL_THREAD);
  }
  if (t) {
    if (errand_task_status(t, &s) != 0 || !is_final_status((int)s)) {
      atomic_fetch_or(&r->cb_bad, BAD_NOT_FINAL);
    } else {
      int expect = -1;
      if (!atomic_compare_exchange_strong(&r->seen_status, &expect, (int)s) &&
          expect != (int)s)
        atomic_fetch_or(&r->cb_bad, BAD_STATUS_CHANGED);
      /* Attached children are final before their parent is. */
      {
        int k, nc = atomic_load(&r->nchild);
        for (k = 0; k < nc && k < MAXCHILD; k++) {
          errand_task *c = rec_handle(atomic_load(&r->child[k]));
          errand_status cs;
          if (c && (errand_task_status(c, &cs) != 0 ||
                    !is_final_status((int)cs)))
            atomic_fetch_or(&r->cb_bad, BAD_CHILD_NOT_FINAL);
        }
      }
    }
  }
  atomic_fetch_add(&r->cb_got, 1);
}

static void then_fn(errand_task *t, void *arg) {
  unsigned tags;
  rec *r = untag(arg, &tags);
  cb_common(r, tags, t);
}

static void callback_fn(int err, const char *message, void *value, void *arg) {
  unsigned tags;
  rec *r = untag(arg, &tags);
  errand_task *h = atomic_load(&r->h);
  /* err 0 <=> success; message is text on failure. */
  if (err != 0 && (!message || value != NULL))
    atomic_fetch_or(&r->cb_bad, BAD_CB_ARGS);
  if (err == 0 && r->kind != K_JOB && r->beh == B_QUICK && value &&
      *(int *)value != r->idx * 7)
    atomic_fetch_or(&r->cb_bad, BAD_CB_RESULT);
  cb_common(r, tags, h);
  if (h) {
    errand_status s;
    if (errand_task_status(h, &s) == 0 &&
        ((err == 0) != (s == ERRAND_STATUS_RAN_TO_COMPLETION)))
      atomic_fetch_or(&r->cb_bad, BAD_CB_ARGS);
  }
}

static void event_fn(errand_task *t, const char *name, const void *data,
                     size_t len, void *arg) {
  rec *r = (rec *)arg;
  int on_loop = r->loop_events;
  int n;
  (void)t;
  atomic_fetch_add(&F.events, 1);
  if (on_loop) {
    if (my_role != ROLE_OWNER) atomic_fetch_add(&r->ev_wrong_thread, 1);
    if (atomic_load(&r->loop_done)) atomic_fetch_add(&r->ev_after_done, 1);
  }
  /* data: the event's number, as text "N" (tasks) or {"n":N} (jobs). */
  {
    char buf[64];
    const char *p;
    size_t k = len < sizeof buf - 1 ? len : sizeof buf - 1;
    memcpy(buf, data ? data : "", data ? k : 0);
    buf[data ? k : 0] = 0;
    p = strchr(buf, ':');
    n = (int)strtol(p ? p + 1 : buf, NULL, 10);
  }
  if (strcmp(name, "tick") != 0) atomic_fetch_add(&r->ev_order, 1);
  {
    atomic_int *cnt = on_loop ? &r->ev_loop : &r->ev_sync;
    int got = atomic_fetch_add(cnt, 1);
    if (got != n) atomic_fetch_add(&r->ev_order, 1);
  }
}

/* Registers a continuation; counted so the owner knows when all ran. */
static void add_cont(rec *r, int use_loop, int callback_style) {
  errand_task *h = atomic_load(&r->h);
  uintptr_t arg = (uintptr_t)r;
  errand_status s;
  int rc;
  if (!h) return;
  if (!use_loop) arg |= TAG_POOL;
  (void)s;
  registering = 1;
  atomic_fetch_add(&r->cb_expected, 1);
  if (use_loop) atomic_fetch_add(&R->loop_cb_expected, 1);
  rc = callback_style
           ? errand_task_callback(h, use_loop ? R->loop : NULL, callback_fn,
                                  (void *)arg)
           : errand_task_then(h, use_loop ? R->loop : NULL, then_fn,
                              (void *)arg);
  registering = 0;
  atomic_fetch_add(&F.ops[callback_style ? OP_CALLBACK : OP_THEN], 1);
  if (rc != 0) {
    atomic_fetch_sub(&r->cb_expected, 1);
    if (use_loop) atomic_fetch_sub(&R->loop_cb_expected, 1);
    VIOLATION("then/callback on task %d: %s (%s)", r->idx,
              errand_errname(rc), errand_last_error());
  }
}

/* ------------------------------------------------------------------------ */
/* The task function                                                         */
/* ------------------------------------------------------------------------ */

static int post_task(check_rng *g, int kind, int beh, int param,
                     int parent_idx, int from_task);

static int task_fn(errand_task *self, void *arg) {
  rec *r = (rec *)arg;
  int rc = 0;
  if (atomic_fetch_add(&r->runs, 1) != 0)
    VIOLATION("task %d ran twice", r->idx);
  if (r->kind == K_LOOP_TASK ? my_role != ROLE_OWNER : my_role != ROLE_ERRAND)
    atomic_fetch_add(&r->wrong_thread, 1);
  if (errand_task_current() != self) atomic_fetch_add(&r->wrong_thread, 1);
  switch (r->beh) {
  case B_QUICK:
  quick: {
    int *v = (int *)malloc(sizeof *v);
    if (!v) return errand_task_fail(self, ERRAND_E_NOMEM, "malloc");
    *v = r->idx * 7;
    if (errand_task_set_result(self, v, result_free) != 0) {
      free(v);
      VIOLATION("set_result: %s", errand_last_error());
    }
    break;
  }
  case B_SLEEP:
    rc = errand_task_sleep(self, r->param);
    if (rc != 0 && rc != ERRAND_E_CANCELED) {
      VIOLATION("sleep: %s", errand_errname(rc));
      rc = 0;
    }
    break;
  case B_FAIL:
    rc = errand_task_fail(self, 1000 + r->idx % 100, "fail %d", r->idx);
    break;
  case B_EMIT: {
    int i;
    for (i = 0; i < r->param; i++) {
      char buf[16];
      int n = snprintf(buf, sizeof buf, "%d", i);
      if (errand_task_emit(self, "tick", buf, (size_t)n) == 0)
        atomic_fetch_add(&r->emitted, 1);
      else
        VIOLATION("emit: %s", errand_last_error());
    }
    goto quick;
  }
  case B_CHILDREN: {
    check_rng g;
    int i, nk = 0;
    errand_task *kids[MAXCHILD];
    check_rng_init(&g, R->seed ^ (uint64_t)r->idx * 0x9E37u);
    for (i = 0; i < r->param && i < MAXCHILD; i++) {
      int beh = (int)check_rng_below(&g, 3); /* quick, sleep, fail */
      int ci = post_task(&g, K_CHILD, beh == 2 ? B_FAIL : beh,
                         (int)check_rng_below(&g, 5), r->idx, 1);
      if (ci >= 0) kids[nk++] = rec_handle(ci);
    }
    if (nk && check_rng_below(&g, 2)) {
      int w = errand_wait_all(kids, (size_t)nk, (int64_t)check_rng_below(&g, 20));
      if (w != 0 && w != ERRAND_E_TIMEOUT && w != ERRAND_E_CANCELED)
        VIOLATION("wait_all in a task: %s", errand_errname(w));
      if (w == 0) {
        for (i = 0; i < nk; i++)
          if (!is_final_status(status_of(kids[i])))
            VIOLATION("wait_all returned 0 with a child not final");
      }
    }
    /* Not allowed from a task. */
    if (check_rng_below(&g, 8) == 0) {
      int s = errand_runtime_shutdown(R->rt, ERRAND_SHUTDOWN_DRAIN, 0);
      if (s != ERRAND_E_WRONG_THREAD)
        VIOLATION("shutdown from a task gave %s", errand_errname(s));
    }
    break;
  }
  case B_SPIN: {
    int64_t end = check_now_ms() + r->param;
    while (check_now_ms() < end) {
      int c = errand_task_is_canceled(self);
      if (c < 0) VIOLATION("is_canceled: %s", errand_errname(c));
      if (c == 1) {
        rc = ERRAND_E_CANCELED;
        break;
      }
      check_sleep_us(300);
    }
    break;
  }
  case B_WAITOTHER: {
    int n = atomic_load(&R->n);
    errand_task *o = n > 0 ? rec_handle(r->param % n) : NULL;
    if (o && atomic_load(&R->recs[r->param % n].h) != NULL) {
      int w = errand_wait(o, 5);
      if (w != 0 && w != ERRAND_E_TIMEOUT && w != ERRAND_E_CANCELED)
        VIOLATION("wait in a task: %s", errand_errname(w));
      if (w == 0 && !is_final_status(status_of(o)))
        VIOLATION("wait returned 0, task not final");
    }
    break;
  }
  }
  atomic_store(&r->ret, rc);
  return rc;
}

/* ------------------------------------------------------------------------ */
/* The job handler (threads and worker processes alike)                      */
/* ------------------------------------------------------------------------ */

/* args: [idx, beh, param] */
static int soak_job(errand_job *job, const char *args, void *arg) {
  long idx = 0, beh = 0, param = 0;
  char buf[64];
  (void)arg;
  if (sscanf(args, "[%ld,%ld,%ld]", &idx, &beh, &param) != 3)
    return errand_job_fail(job, ERRAND_E_INVALID, "bad args %s", args);
  switch (beh) {
  case B_FAIL:
    return errand_job_fail(job, 1000 + (int)(idx % 100), "fail %ld", idx);
  case B_SLEEP:
  case B_SPIN:
    if (errand_job_sleep(job, param) == ERRAND_E_CANCELED)
      return ERRAND_E_CANCELED;
    break;
  case B_EMIT: {
    long i;
    for (i = 0; i < param; i++) {
      snprintf(buf, sizeof buf, "{\"n\":%ld}", i);
      if (errand_job_progress(job, "tick", buf) != 0)
        return errand_job_fail(job, 99, "progress failed");
    }
    break;
  }
  default:
    break;
  }
  snprintf(buf, sizeof buf, "%ld", idx * 7);
  return errand_job_return(job, buf);
}

/* ------------------------------------------------------------------------ */
/* Posting                                                                   */
/* ------------------------------------------------------------------------ */

static int rand_prio(check_rng *g) { return (int)check_rng_below(g, 4); }

/* Allowed refusals: the runtime shuts down, the parent is final. */
static int allowed_refusal(int rc, int has_parent) {
  return rc == ERRAND_E_SHUTDOWN || (has_parent && rc == ERRAND_E_STATE);
}

static void fill_opts(check_rng *g, errand_post_options *o, rec *r,
                      int allow_dedicated, int *ctl_used) {
  memset(o, 0, sizeof *o);
  o->priority = (errand_priority)rand_prio(g);
  if (allow_dedicated && check_rng_below(g, 4) == 0)
    o->mode = ERRAND_MODE_DEDICATED;
  if (check_rng_below(g, 5) == 0) o->delay_ms = (int64_t)check_rng_below(g, 15);
  if (check_rng_below(g, 3) == 0) o->name = "soak";
  if (check_rng_below(g, 8) == 0)
    o->queue_timeout_ms = 1 + (int64_t)check_rng_below(g, 30);
  if (check_rng_below(g, 8) == 0)
    o->run_timeout_ms = 1 + (int64_t)check_rng_below(g, 40);
  *ctl_used = -1;
  if (check_rng_below(g, 3) == 0) {
    int c = (int)check_rng_below(g, NCTL);
    o->signal = R->ctl[c].s;
    *ctl_used = c;
  }
  if (r) {
    int ev = (int)check_rng_below(g, 4);
    if (ev == 1 || (ev == 2 && R->loop)) {
      o->on_event = event_fn;
      o->event_arg = r;
      if (ev == 2) {
        o->event_loop = R->loop;
        r->loop_events = 1;
      } else {
        r->sync_events = 1;
      }
    }
  }
}

/* Posts one task (K_TASK / K_CHILD / K_LOOP_TASK); returns its index or -1.
 * from_task: called from a task function (its handle goes into the
 * parent's child list). */
static int post_task(check_rng *g, int kind, int beh, int param,
                     int parent_idx, int from_task) {
  errand_post_options o;
  rec *r = rec_new(kind, beh, param);
  errand_task *h = NULL;
  int ctl, rc, ff;
  int op = kind == K_LOOP_TASK ? OP_LOOP_POST
           : kind == K_CHILD   ? OP_CHILD
                               : OP_POST;
  if (!r) return -1;
  fill_opts(g, &o, r, kind != K_LOOP_TASK, &ctl);
  if (kind == K_LOOP_TASK) o.mode = ERRAND_MODE_POOL;
  if (R->mode == 1 && kind == K_TASK && check_rng_below(g, 2))
    o.mode = ERRAND_MODE_DEDICATED;
  r->has_arg_free = 1;
  o.arg_free = arg_free_fn;
  if (parent_idx >= 0) {
    /* From a task: the running task itself (a borrowed handle). */
    o.parent = from_task ? errand_task_current() : rec_handle(parent_idx);
    if (o.parent) r->parent = parent_idx;
  }
  ff = !from_task && !o.on_event && check_rng_below(g, 10) == 0;
  r->fire_and_forget = ff;
  if (kind == K_LOOP_TASK)
    rc = errand_loop_post(R->loop, task_fn, r, &o, ff ? NULL : &h);
  else
    rc = errand_post(R->rt, task_fn, r, &o, ff ? NULL : &h);
  atomic_fetch_add(&F.ops[op], 1);
  if (rc != 0) {
    if (allowed_refusal(rc, o.parent != NULL)) {
      atomic_fetch_add(&F.refused[op], 1);
    } else {
      VIOLATION("post (kind %d) failed: %s (%s)", kind, errand_errname(rc),
                errand_last_error());
    }
    r->has_arg_free = 0; /* the arg stays ours: no free expected */
    r->kind = -1;        /* not a task */
    return -1;
  }
  if (!ff) atomic_store_explicit(&r->h, h, memory_order_release);
  if (r->parent >= 0) {
    rec *p = &R->recs[r->parent];
    int k = atomic_fetch_add(&p->nchild, 1);
    atomic_fetch_add(&p->attached, 1);
    if (k < MAXCHILD)
      atomic_store(&p->child[k], r->idx);
    else
      atomic_fetch_sub(&p->nchild, 1);
  }
  if (r->loop_events && !ff) add_cont(r, 1, 0);
  return r->idx;
}

static void post_batch(check_rng *g) {
  void *args[8];
  errand_task *out[8];
  rec *rs[8];
  errand_post_options o;
  int n = 1 + (int)check_rng_below(g, 8), i, ctl, rc;
  for (i = 0; i < n; i++) {
    rs[i] = rec_new(K_TASK, (int)check_rng_below(g, 3) == 2 ? B_FAIL : B_QUICK,
                    0);
    if (!rs[i]) {
      n = i;
      break;
    }
    rs[i]->beh = rs[i]->beh == B_FAIL ? B_FAIL : B_QUICK;
    rs[i]->has_arg_free = 1;
    args[i] = rs[i];
  }
  if (n == 0) return;
  fill_opts(g, &o, NULL, R->mode != 2, &ctl);
  o.signal = NULL; /* errand_post_batch takes no signal (E_INVALID) */
  o.arg_free = arg_free_fn;
  rc = errand_post_batch(R->rt, task_fn, args, (size_t)n, &o, out);
  atomic_fetch_add(&F.ops[OP_POST_BATCH], 1);
  if (rc != 0) {
    if (allowed_refusal(rc, 0))
      atomic_fetch_add(&F.refused[OP_POST_BATCH], 1);
    else
      VIOLATION("post_batch: %s (%s)", errand_errname(rc), errand_last_error());
    for (i = 0; i < n; i++) {
      rs[i]->has_arg_free = 0;
      rs[i]->kind = -1;
    }
    return;
  }
  for (i = 0; i < n; i++)
    atomic_store_explicit(&rs[i]->h, out[i], memory_order_release);
}

static void start_job(check_rng *g, int mode) {
  static const int behs[] = {B_QUICK, B_QUICK, B_FAIL, B_SLEEP, B_EMIT};
  int beh = behs[check_rng_below(g, 5)];
  int param = beh == B_SLEEP ? (int)check_rng_below(g, 60)
              : beh == B_EMIT ? (int)check_rng_below(g, 6)
                              : 0;
  rec *r = rec_new(K_JOB, beh, param);
  errand_job_options o;
  errand_task *h = NULL;
  char args[96];
  int ctl, rc;
  int op = mode == ERRAND_JOB_PROCESS  ? OP_JOB_PROCESS
           : mode == ERRAND_JOB_WORKER ? OP_JOB_WORKER
                                       : OP_JOB_THREAD;
  if (!r) return;
  memset(&o, 0, sizeof o);
  o.mode = (errand_job_mode)mode;
  o.pool = R->pool;
  o.kill_grace_ms = 200;
  r->job_mode = mode;
  fill_opts(g, &o.post, r, 0, &ctl);
  o.post.mode = ERRAND_MODE_POOL;
  if (mode >= ERRAND_JOB_PROCESS) {
    /* Run timeouts kill the worker: keep them sensible, not 1 ms. */
    if (o.post.run_timeout_ms) o.post.run_timeout_ms += 20;
  }
  snprintf(args, sizeof args, "[%d,%d,%d]", r->idx, beh, param);
  rc = errand_job_start(R->rt, soak_jobs, "soakjob", args, &o, &h);
  atomic_fetch_add(&F.ops[op], 1);
  if (rc != 0) {
    if (allowed_refusal(rc, 0))
      atomic_fetch_add(&F.refused[op], 1);
    else
      VIOLATION("job_start (mode %d): %s (%s)", mode, errand_errname(rc),
                errand_last_error());
    r->kind = -1;
    return;
  }
  atomic_store_explicit(&r->h, h, memory_order_release);
  if (r->loop_events) add_cont(r, 1, 0);
}

/* ------------------------------------------------------------------------ */
/* Client threads                                                            */
/* ------------------------------------------------------------------------ */

typedef struct client {
  int id;
  pthread_t th;
  check_rng g;
} client;

static errand_task *random_handle(check_rng *g, int *idx) {
  int n = atomic_load(&R->n);
  int tries;
  for (tries = 0; tries < 4 && n > 0; tries++) {
    int i = (int)check_rng_below(g, (uint64_t)n);
    errand_task *h = rec_handle(i);
    if (h) {
      if (idx) *idx = i;
      return h;
    }
  }
  return NULL;
}

static void check_wait_rc(int rc, const char *what) {
  if (rc != 0 && rc != ERRAND_E_TIMEOUT)
    VIOLATION("%s: %s (%s)", what, errand_errname(rc), errand_last_error());
}

static void ctl_abort(client *c, int k) {
  ctl_state *cs = &R->ctl[k];
  int code = (int)check_rng_below(&c->g, 3) == 0 ? 0 : 500 + k;
  char reason[64];
  int rc;
  snprintf(reason, sizeof reason, "soak abort %d/%d", R->rno, k);
  rc = errand_controller_abort(cs->c, code, check_rng_below(&c->g, 4) ? reason
                                                                        : NULL);
  atomic_fetch_add(&F.ops[OP_ABORT], 1);
  if (cs->aborted) {
    if (rc != ERRAND_E_STATE) VIOLATION("second abort gave %s", errand_errname(rc));
    atomic_fetch_add(&F.refused[OP_ABORT], 1);
    return;
  }
  if (rc != 0) {
    VIOLATION("abort: %s", errand_errname(rc));
    return;
  }
  cs->aborted = 1;
  cs->abort_code = code ? code : ERRAND_E_CANCELED;
  /* The reason we passed (or errand's "aborted"). */
  {
    const char *m = NULL;
    int got = 0;
    if (errand_signal_reason(cs->s, &got, &m) != 0 || !m)
      VIOLATION("signal_reason after abort");
    else {
      snprintf(cs->reason, sizeof cs->reason, "%s", m);
      if (got != cs->abort_code)
        VIOLATION("abort code %d, reason says %d", cs->abort_code, got);
    }
  }
  /* Posting to an aborted signal: CANCELED at once, never runs. */
  {
    rec *r = rec_new(K_TASK, B_QUICK, 0);
    errand_post_options o = post_opts();
    errand_task *h = NULL;
    if (!r) return;
    o.signal = cs->s;
    o.arg_free = arg_free_fn;
    r->has_arg_free = 1;
    r->expect_canceled_at_once = 1;
    rc = errand_post(R->rt, task_fn, r, &o, &h);
    atomic_fetch_add(&F.ops[OP_POST], 1);
    if (rc != 0) {
      r->has_arg_free = 0;
      r->kind = -1;
      if (!allowed_refusal(rc, 0))
        VIOLATION("post to aborted signal: %s", errand_errname(rc));
      return;
    }
    if (status_of(h) != ERRAND_STATUS_CANCELED) {
      VIOLATION("task posted to an aborted signal is %s",
                errand_status_name((errand_status)status_of(h)));
    } else {
      const char *m = NULL;
      int ecode = 0;
      errand_task_error(h, &ecode, &m);
      if (ecode != cs->abort_code || !m || strcmp(m, cs->reason) != 0)
        VIOLATION("task posted to aborted signal: error %d \"%s\", want %d "
                  "\"%s\"",
                  ecode, m ? m : "(null)", cs->abort_code, cs->reason);
    }
    atomic_store_explicit(&r->h, h, memory_order_release);
  }
}

static void ctl_set_priority(client *c, int k) {
  ctl_state *cs = &R->ctl[k];
  int p = 1 + (int)check_rng_below(&c->g, 3);
  int rc = errand_controller_set_priority(cs->c, (errand_priority)p);
  atomic_fetch_add(&F.ops[OP_SET_PRIORITY], 1);
  if (cs->aborted) {
    if (rc != ERRAND_E_STATE)
      VIOLATION("set_priority after abort gave %s", errand_errname(rc));
    atomic_fetch_add(&F.refused[OP_SET_PRIORITY], 1);
    return;
  }
  if (rc != 0) {
    VIOLATION("set_priority: %s", errand_errname(rc));
    return;
  }
  if (p != cs->prio) atomic_fetch_add(&cs->expect_prio_events, 1);
  cs->prio = p;
  {
    errand_priority now;
    if (errand_signal_priority(cs->s, &now) != 0 || (int)now != p)
      VIOLATION("signal priority %d after set %d", (int)now, p);
  }
}

static void *client_main(void *arg) {
  client *c = (client *)arg;
  my_role = ROLE_CLIENT;
  while (!atomic_load(&R->stop_clients) && check_now_ms() < R->deadline_ms) {
    uint64_t x = check_rng_below(&c->g, 1000);
    int mode = R->mode; /* 0 pool 1 dedicated 2 loop 3 process 4 mixed */
    if (atomic_load(&R->n) >= R->cap) break;
    if (x < 300) {
      /* post something for this mode */
      int which = mode == 4 ? (int)check_rng_below(&c->g, 4) : mode;
      int beh = (int)check_rng_below(&c->g, B_NBEH);
      int param = beh == B_SLEEP   ? (int)check_rng_below(&c->g, 25)
                  : beh == B_SPIN  ? (int)check_rng_below(&c->g, 15)
                  : beh == B_EMIT  ? (int)check_rng_below(&c->g, 6)
                  : beh == B_CHILDREN ? 1 + (int)check_rng_below(&c->g, 3)
                  : beh == B_WAITOTHER ? (int)check_rng_below(&c->g, 100000)
                                       : 0;
      if (which == 3) {
        uint64_t y = check_rng_below(&c->g, 10);
        start_job(&c->g, y < 2 ? ERRAND_JOB_PROCESS
                         : y < 8 ? ERRAND_JOB_WORKER
                         : y < 9 ? ERRAND_JOB_POOL
                                 : ERRAND_JOB_DEDICATED);
      } else if (which == 2) {
        if (beh == B_CHILDREN || beh == B_WAITOTHER) beh = B_QUICK;
        if (beh == B_SLEEP || beh == B_SPIN) param %= 4; /* the owner's time */
        post_task(&c->g, K_LOOP_TASK, beh, param, -1, 0);
      } else {
        post_task(&c->g, K_TASK, beh, param, -1, 0);
      }
    } else if (x < 330) {
      if (mode != 3) post_batch(&c->g);
    } else if (x < 370) {
      if (mode != 3 || check_rng_below(&c->g, 4) == 0)
        start_job(&c->g, check_rng_below(&c->g, 2) ? ERRAND_JOB_POOL
                                                    : ERRAND_JOB_DEDICATED);
    } else if (x < 420) {
      int pi = -1;
      if (random_handle(&c->g, &pi) && mode != 2 && mode != 3 &&
          R->recs[pi].kind != K_LOOP_TASK)
        post_task(&c->g, K_CHILD, (int)check_rng_below(&c->g, 3), 2, pi, 0);
    } else if (x < 520) {
      errand_task *h = random_handle(&c->g, NULL);
      if (h) {
        int rc = errand_task_cancel(h);
        atomic_fetch_add(&F.ops[OP_CANCEL], 1);
        if (rc != 0) VIOLATION("cancel: %s", errand_errname(rc));
      }
    } else if (x < 600) {
      errand_task *h = random_handle(&c->g, NULL);
      if (h) {
        int rc = errand_wait(h, (int64_t)check_rng_below(&c->g, 10));
        atomic_fetch_add(&F.ops[OP_WAIT], 1);
        check_wait_rc(rc, "wait");
        if (rc == 0 && !is_final_status(status_of(h)))
          VIOLATION("wait gave 0 on a task that is not final");
      }
    } else if (x < 640) {
      errand_task *hs[8];
      int k = 0, i, want = 1 + (int)check_rng_below(&c->g, 8), rc;
      for (i = 0; i < want; i++) {
        errand_task *h = random_handle(&c->g, NULL);
        if (h) hs[k++] = h;
      }
      rc = errand_wait_all(hs, (size_t)k, (int64_t)check_rng_below(&c->g, 10));
      atomic_fetch_add(&F.ops[OP_WAIT_ALL], 1);
      check_wait_rc(rc, "wait_all");
      if (rc == 0)
        for (i = 0; i < k; i++)
          if (!is_final_status(status_of(hs[i])))
            VIOLATION("wait_all gave 0 with a task not final");
    } else if (x < 680) {
      errand_task *hs[8];
      int k = 0, i, want = 1 + (int)check_rng_below(&c->g, 8), rc;
      size_t at = 9999;
      for (i = 0; i < want; i++) {
        errand_task *h = random_handle(&c->g, NULL);
        if (h) hs[k++] = h;
      }
      if (k > 0) {
        rc = errand_wait_any(hs, (size_t)k, (int64_t)check_rng_below(&c->g, 10),
                             &at);
        atomic_fetch_add(&F.ops[OP_WAIT_ANY], 1);
        check_wait_rc(rc, "wait_any");
        if (rc == 0 && (at >= (size_t)k || !is_final_status(status_of(hs[at]))))
          VIOLATION("wait_any gave 0 with index %zu not final", at);
      }
    } else if (x < 700) {
      int k = (int)check_rng_below(&c->g, NCTL);
      if (R->ctl[k].owner == c->id) {
        if (check_rng_below(&c->g, 6) == 0)
          ctl_abort(c, k);
        else
          ctl_set_priority(c, k);
      }
    } else if (x < 780) {
      int i = -1;
      if (random_handle(&c->g, &i)) {
        int use_loop = R->loop && check_rng_below(&c->g, 2);
        add_cont(&R->recs[i], use_loop, (int)check_rng_below(&c->g, 2));
      }
    } else if (x < 820) {
      errand_task *h = random_handle(&c->g, NULL);
      if (h) {
        int rc = errand_task_retain(h);
        atomic_fetch_add(&F.ops[OP_RETAIN_RELEASE], 1);
        if (rc == 0) rc = errand_task_release(h);
        if (rc != 0) VIOLATION("retain/release: %s", errand_errname(rc));
      }
    } else if (x < 998) {
      errand_task *h = random_handle(&c->g, NULL);
      if (h) {
        errand_status s;
        unsigned fl;
        errand_priority p;
        uint64_t id;
        atomic_fetch_add(&F.ops[OP_READ], 1);
        if (errand_task_status(h, &s) || errand_task_flags(h, &fl) ||
            errand_task_priority(h, &p) || errand_task_id(h, &id) || id == 0)
          VIOLATION("reading a held task failed: %s", errand_last_error());
      }
    } else {
      /* Shut down while the others still post (once a round). */
      int expect = 0;
      /* Late in the round, so the round is not all refusals. */
      if (check_now_ms() > R->deadline_ms - 60 &&
          atomic_compare_exchange_strong(&R->shutdown_done_by_client, &expect,
                                         1)) {
        int rc = errand_runtime_shutdown(
            R->rt,
            check_rng_below(&c->g, 2) ? ERRAND_SHUTDOWN_DRAIN
                                      : ERRAND_SHUTDOWN_CANCEL,
            (int64_t)check_rng_below(&c->g, 20));
        atomic_fetch_add(&F.ops[OP_SHUTDOWN], 1);
        if (rc != 0 && rc != ERRAND_E_TIMEOUT)
          VIOLATION("shutdown from a client: %s", errand_errname(rc));
      }
    }
  }
  return NULL;
}

/* Waits forever on random tasks: each wait must come back. */
static void *waiter_main(void *arg) {
  check_rng *g = (check_rng *)arg;
  my_role = ROLE_WAITER;
  while (!atomic_load(&R->stop_clients) && check_now_ms() < R->deadline_ms) {
    errand_task *h = random_handle(g, NULL);
    if (!h) {
      check_sleep_us(500);
      continue;
    }
    {
      int rc = errand_wait(h, -1);
      atomic_fetch_add(&F.ops[OP_WAIT_FOREVER], 1);
      if (rc != 0)
        VIOLATION("wait(-1): %s", errand_errname(rc));
      else if (!is_final_status(status_of(h)))
        VIOLATION("wait(-1) returned, task not final");
    }
  }
  return NULL;
}

/* ------------------------------------------------------------------------ */
/* The loop's owner                                                          */
/* ------------------------------------------------------------------------ */

static void prio_listener(errand_signal *s, errand_priority prev,
                          errand_priority cur, void *arg) {
  uintptr_t v = (uintptr_t)arg;
  ctl_state *cs = &R->ctl[v >> 1];
  int on_loop = !(v & 1);
  atomic_int *chain = on_loop ? &cs->chain_loop : &cs->chain_sync;
  (void)s;
  atomic_fetch_add(on_loop ? &cs->prio_loop : &cs->prio_sync, 1);
  if (on_loop && my_role != ROLE_OWNER)
    atomic_fetch_add(&cs->listener_wrong_thread, 1);
  if (prev == cur || (int)prev != atomic_load(chain))
    atomic_fetch_add(&cs->chain_bad, 1);
  atomic_store(chain, (int)cur);
  if (on_loop) atomic_fetch_add(&R->loop_cb_got, 1);
}

static void abort_listener(errand_signal *s, int code, const char *reason,
                           void *arg) {
  uintptr_t v = (uintptr_t)arg;
  ctl_state *cs = &R->ctl[v >> 1];
  int on_loop = !(v & 1);
  (void)s;
  atomic_fetch_add(on_loop ? &cs->abort_loop : &cs->abort_sync, 1);
  if (on_loop && my_role != ROLE_OWNER)
    atomic_fetch_add(&cs->listener_wrong_thread, 1);
  if (code == 0 || !reason) atomic_fetch_add(&cs->chain_bad, 1);
  if (on_loop) atomic_fetch_add(&R->loop_cb_got, 1);
}

static void *owner_main(void *arg) {
  int rc;
  (void)arg;
  my_role = ROLE_OWNER;
  rc = errand_loop_create(R->rt, &R->loop);
  if (rc != 0) {
    VIOLATION("loop_create: %s", errand_errname(rc));
    R->loop = NULL;
    atomic_store(&R->loop_ready, 1);
    return NULL;
  }
  atomic_store(&R->loop_ready, 1);
  {
    int fd = -1;
    int64_t drain_end = 0;
    errand_loop_fd(R->loop, &fd);
    for (;;) {
      struct pollfd p = {fd, POLLIN, 0};
      int ran = 0;
      poll(&p, 1, 5);
      rc = errand_loop_run_pending(R->loop, 0, &ran);
      if (rc != 0) VIOLATION("run_pending: %s", errand_errname(rc));
      if (atomic_load(&R->owner_drain)) {
        if (!drain_end) drain_end = check_now_ms() + 20000;
        /* Everything is final: every loop callback registered so far must
         * arrive. */
        if (atomic_load(&R->loop_cb_got) >= atomic_load(&R->loop_cb_expected) &&
            ran == 0)
          break;
        if (check_now_ms() > drain_end) {
          VIOLATION("loop callbacks lost: %lld expected, %lld ran",
                    (long long)atomic_load(&R->loop_cb_expected),
                    (long long)atomic_load(&R->loop_cb_got));
          break;
        }
      }
    }
  }
  rc = errand_loop_destroy(R->loop);
  if (rc != 0) VIOLATION("loop_destroy: %s", errand_errname(rc));
  atomic_store(&R->owner_done, 1);
  return NULL;
}

/* ------------------------------------------------------------------------ */
/* Leak probes                                                               */
/* ------------------------------------------------------------------------ */

/* Direct children of this process, live or zombie (probe_settle() wants a
 * function of no arguments). */
static int count_children(void) { return probe_children(PROBE_ANY, NULL, 0); }

/* ------------------------------------------------------------------------ */
/* Checking a round                                                          */
/* ------------------------------------------------------------------------ */

static void check_rec(rec *r) {
  errand_task *h = atomic_load(&r->h);
  int runs = atomic_load(&r->runs);
  if (r->kind < 0) return; /* the post was refused */
  atomic_fetch_add(&F.tasks, 1);
  if (runs > 1) VIOLATION("task %d ran %d times", r->idx, runs);
  if (atomic_load(&r->wrong_thread))
    VIOLATION("task %d ran on the wrong thread", r->idx);
  if (r->has_arg_free && atomic_load(&r->frees) != 1)
    VIOLATION("task %d: arg_free ran %d times", r->idx, atomic_load(&r->frees));
  if (runs == 0 && r->kind != K_JOB) atomic_fetch_add(&F.never_ran, 1);
  if (!h) {
    /* fire-and-forget: it still ran or was canceled, and freed its arg */
    return;
  }
  {
    errand_status s;
    unsigned fl = 0;
    int code = -1, rc;
    const char *msg = NULL;
    if (errand_task_status(h, &s) != 0) {
      VIOLATION("task %d: status unreadable: %s", r->idx, errand_last_error());
      return;
    }
    if (!is_final_status((int)s)) {
      VIOLATION("task %d not final after shutdown: %s", r->idx,
                errand_status_name(s));
      return;
    }
    if (s == ERRAND_STATUS_RAN_TO_COMPLETION) atomic_fetch_add(&F.ok, 1);
    if (s == ERRAND_STATUS_CANCELED) atomic_fetch_add(&F.canceled, 1);
    if (s == ERRAND_STATUS_FAULTED) atomic_fetch_add(&F.faulted, 1);
    errand_task_flags(h, &fl);
    {
      unsigned want = ERRAND_FLAG_COMPLETED |
                      (s == ERRAND_STATUS_RAN_TO_COMPLETION ? ERRAND_FLAG_SUCCEEDED
                       : s == ERRAND_STATUS_FAULTED         ? ERRAND_FLAG_FAULTED
                                                            : ERRAND_FLAG_CANCELED);
      if (fl != want)
        VIOLATION("task %d: flags 0x%x for %s", r->idx, fl,
                  errand_status_name(s));
    }
    if (errand_task_error(h, &code, &msg) != 0 || !msg) {
      VIOLATION("task %d: error unreadable", r->idx);
      return;
    }
    if ((s == ERRAND_STATUS_RAN_TO_COMPLETION) != (code == 0))
      VIOLATION("task %d: %s with error code %d (\"%s\")", r->idx,
                errand_status_name(s), code, msg);
    if (s != ERRAND_STATUS_RAN_TO_COMPLETION && !msg[0])
      VIOLATION("task %d: %s without a message", r->idx, errand_status_name(s));
    {
      int seen = atomic_load(&r->seen_status);
      if (seen >= 0 && seen != (int)s)
        VIOLATION("task %d: a callback saw %s, now %s", r->idx,
                  errand_status_name((errand_status)seen),
                  errand_status_name(s));
    }
    if (r->kind != K_JOB) {
      if (runs == 0 && s != ERRAND_STATUS_CANCELED)
        VIOLATION("task %d never ran but is %s (%d \"%s\")", r->idx,
                  errand_status_name(s), code, msg);
      if (runs == 1) {
        int ret = atomic_load(&r->ret);
        if (s == ERRAND_STATUS_RAN_TO_COMPLETION && ret != 0)
          VIOLATION("task %d returned %d but succeeded", r->idx, ret);
        if (r->beh == B_FAIL && s != ERRAND_STATUS_FAULTED)
          VIOLATION("task %d failed but is %s", r->idx, errand_status_name(s));
        if (r->beh == B_FAIL && s == ERRAND_STATUS_FAULTED &&
            atomic_load(&r->attached) == 0) {
          char want[32];
          snprintf(want, sizeof want, "fail %d", r->idx);
          if (code != 1000 + r->idx % 100 || strcmp(msg, want) != 0)
            VIOLATION("task %d: fault %d \"%s\", want %d \"%s\"", r->idx, code,
                      msg, 1000 + r->idx % 100, want);
        }
        if (s == ERRAND_STATUS_FAULTED && r->beh != B_FAIL &&
            r->beh != B_CHILDREN && atomic_load(&r->attached) == 0)
          VIOLATION("task %d (beh %d) FAULTED: %d \"%s\"", r->idx, r->beh, code,
                    msg);
      }
      if (s == ERRAND_STATUS_RAN_TO_COMPLETION &&
          (r->beh == B_QUICK || r->beh == B_EMIT)) {
        void *v = NULL;
        if (errand_task_result(h, &v) != 0 || !v || *(int *)v != r->idx * 7)
          VIOLATION("task %d: wrong result", r->idx);
      }
      if (s == ERRAND_STATUS_RAN_TO_COMPLETION) {
        int k, nc = atomic_load(&r->nchild);
        for (k = 0; k < nc && k < MAXCHILD; k++) {
          errand_task *c = rec_handle(atomic_load(&r->child[k]));
          if (c && status_of(c) == ERRAND_STATUS_FAULTED)
            VIOLATION("task %d succeeded with a faulted child", r->idx);
        }
      }
    } else {
      /* A job: thread or process; runs are not visible here. */
      const char *j = NULL;
      if (s == ERRAND_STATUS_RAN_TO_COMPLETION) {
        char want[32];
        snprintf(want, sizeof want, "%d", r->idx * 7);
        if (r->beh == B_FAIL)
          VIOLATION("job %d failed but succeeded", r->idx);
        if (errand_job_result(h, &j) != 0 || strcmp(j, want) != 0)
          VIOLATION("job %d result %s, want %s", r->idx, j ? j : "?", want);
        if (r->beh == B_EMIT && (r->loop_events || r->sync_events)) {
          int got = atomic_load(r->loop_events ? &r->ev_loop : &r->ev_sync);
          if (got != r->param)
            VIOLATION("job %d: %d progress events of %d", r->idx, got,
                      r->param);
        }
      } else if (s == ERRAND_STATUS_FAULTED) {
        /* Its own failure, or (attached children) a child's. */
        if (atomic_load(&r->attached) ? strstr(msg, "child task") == NULL &&
                                            code != 1000 + r->idx % 100
                                      : r->beh != B_FAIL ||
                                            code != 1000 + r->idx % 100)
          VIOLATION("job %d (beh %d, mode %d) FAULTED: %d \"%s\"", r->idx,
                    r->beh, r->job_mode, code, msg);
      }
    }
    if (r->expect_canceled_at_once && s != ERRAND_STATUS_CANCELED)
      VIOLATION("task %d on an aborted signal is %s", r->idx,
                errand_status_name(s));
    if (r->expect_canceled_at_once && runs)
      VIOLATION("task %d on an aborted signal ran", r->idx);
    /* Events: all of them, in order, none after the completion callback. */
    if (r->kind != K_JOB && (r->loop_events || r->sync_events)) {
      int got = atomic_load(r->loop_events ? &r->ev_loop : &r->ev_sync);
      if (got != atomic_load(&r->emitted))
        VIOLATION("task %d: %d events delivered of %d emitted", r->idx, got,
                  atomic_load(&r->emitted));
    }
    if (atomic_load(&r->ev_order))
      VIOLATION("task %d: events out of order", r->idx);
    if (atomic_load(&r->ev_after_done))
      VIOLATION("task %d: %d events after its completion callback", r->idx,
                atomic_load(&r->ev_after_done));
    if (atomic_load(&r->ev_wrong_thread))
      VIOLATION("task %d: loop events on the wrong thread", r->idx);
    rc = 0;
    (void)rc;
  }
  if (atomic_load(&r->cb_got) != atomic_load(&r->cb_expected))
    VIOLATION("task %d: %d callbacks ran of %d registered", r->idx,
              atomic_load(&r->cb_got), atomic_load(&r->cb_expected));
  if (atomic_load(&r->cb_bad))
    VIOLATION("task %d (kind %d beh %d): bad continuations, BAD_* bits 0x%x",
              r->idx, r->kind, r->beh, atomic_load(&r->cb_bad));
}

static void check_ctl(ctl_state *cs, int k) {
  int want = atomic_load(&cs->expect_prio_events);
  if (atomic_load(&cs->prio_loop) != want || atomic_load(&cs->prio_sync) != want)
    VIOLATION("controller %d: priority events loop %d sync %d, want %d", k,
              atomic_load(&cs->prio_loop), atomic_load(&cs->prio_sync), want);
  if (atomic_load(&cs->abort_loop) != cs->aborted ||
      atomic_load(&cs->abort_sync) != cs->aborted)
    VIOLATION("controller %d: abort events loop %d sync %d, aborted %d", k,
              atomic_load(&cs->abort_loop), atomic_load(&cs->abort_sync),
              cs->aborted);
  if (atomic_load(&cs->chain_bad))
    VIOLATION("controller %d: priority events do not chain", k);
  if (atomic_load(&cs->listener_wrong_thread))
    VIOLATION("controller %d: loop listener on the wrong thread", k);
}

/* ------------------------------------------------------------------------ */
/* A round                                                                   */
/* ------------------------------------------------------------------------ */

static void run_round(int mode, uint64_t seed, int rno, int64_t until_ms) {
  static round_t rd;
  check_rng g;
  client cl[16];
  check_rng wg;
  pthread_t waiter;
  errand_runtime_options ro;
  int nthreads, i, rc;
  int th0 = probe_errand_threads(), fd0 = probe_fds(), ch0 = count_children();
  int64_t round_ms;

  memset(&rd, 0, sizeof rd);
  R = &rd;
  rd.mode = mode;
  rd.seed = seed ^ ((uint64_t)rno * 0x100000001B3ull);
  rd.rno = rno;
  check_rng_init(&g, rd.seed);
  {
    const char *e = getenv("ERRAND_SOAK_THREADS");
    nthreads = e && *e ? atoi(e) : 4;
    if (nthreads < 1) nthreads = 1;
    if (nthreads > 16) nthreads = 16;
  }
  rd.nthreads = nthreads;
  rd.cap = check_iters(mode == 3 ? 1500 : 6000);
  if (rd.cap < 200) rd.cap = 200;
  rd.recs = (rec *)calloc((size_t)rd.cap, sizeof(rec));
  if (!rd.recs) {
    CHECK_FAILF("no memory for records");
    return;
  }

  memset(&ro, 0, sizeof ro);
  ro.workers = 1 + (int)check_rng_below(&g, 4);
  ro.aging_burst = check_rng_below(&g, 2) ? 0 : 1 + (int)check_rng_below(&g, 8);
  ro.urgent_worker = (int)check_rng_below(&g, 2);
  ro.max_compensating = check_rng_below(&g, 3) == 0 ? -1 : 0;
  rc = errand_runtime_create(&ro, &rd.rt);
  if (rc != 0) {
    VIOLATION("runtime_create: %s", errand_errname(rc));
    free(rd.recs);
    return;
  }
  if (mode == 3 || mode == 4) {
    errand_procpool_options po;
    memset(&po, 0, sizeof po);
    po.min_workers = (int)check_rng_below(&g, 2);
    po.max_workers = 2 + (int)check_rng_below(&g, 2);
    po.recycle_after = check_rng_below(&g, 2) ? 0 : 1 + (int)check_rng_below(&g, 10);
    po.kill_grace_ms = 200;
    rc = errand_procpool_create(rd.rt, soak_jobs, &po, &rd.pool);
    if (rc != 0) VIOLATION("procpool_create: %s", errand_errname(rc));
  }
  for (i = 0; i < NCTL; i++) {
    ctl_state *cs = &rd.ctl[i];
    cs->prio = 1 + (int)check_rng_below(&g, 3);
    cs->owner = i % nthreads;
    atomic_init(&cs->chain_loop, cs->prio);
    atomic_init(&cs->chain_sync, cs->prio);
    if (errand_controller_create((errand_priority)cs->prio, &cs->c) != 0 ||
        errand_controller_signal(cs->c, &cs->s) != 0)
      VIOLATION("controller: %s", errand_last_error());
  }
  if (pthread_create(&rd.owner_thread, NULL, owner_main, NULL) != 0) {
    CHECK_FAILF("pthread_create");
    return;
  }
  while (!atomic_load(&rd.loop_ready)) check_sleep_us(100);
  for (i = 0; i < NCTL; i++) {
    ctl_state *cs = &rd.ctl[i];
    void *a_loop = (void *)((uintptr_t)i << 1), *a_sync =
                                                    (void *)(((uintptr_t)i << 1) | 1);
    if (rd.loop) {
      atomic_fetch_add(&rd.loop_cb_expected, 0);
      if (errand_signal_on_priority_change(cs->s, rd.loop, prio_listener,
                                           a_loop) ||
          errand_signal_on_abort(cs->s, rd.loop, abort_listener, a_loop))
        VIOLATION("signal listeners: %s", errand_last_error());
    }
    if (errand_signal_on_priority_change(cs->s, NULL, prio_listener, a_sync) ||
        errand_signal_on_abort(cs->s, NULL, abort_listener, a_sync))
      VIOLATION("signal listeners: %s", errand_last_error());
    if (!rd.loop) {
      /* count the loop ones as if they ran, to keep check_ctl simple */
    }
  }

  round_ms = 200 + (int64_t)check_rng_below(&g, 600);
  rd.deadline_ms = check_now_ms() + round_ms;
  if (rd.deadline_ms > until_ms) rd.deadline_ms = until_ms;
  for (i = 0; i < nthreads; i++) {
    cl[i].id = i;
    check_rng_init(&cl[i].g, rd.seed + 7919u * (uint64_t)(i + 1));
    if (pthread_create(&cl[i].th, NULL, client_main, &cl[i]) != 0) {
      CHECK_FAILF("pthread_create");
      nthreads = i;
      break;
    }
  }
  check_rng_init(&wg, rd.seed + 104729u);
  pthread_create(&waiter, NULL, waiter_main, &wg);
  for (i = 0; i < nthreads; i++) pthread_join(cl[i].th, NULL);
  atomic_store(&rd.stop_clients, 1);
  pthread_join(waiter, NULL);

  /* Loop listeners count as loop callbacks the owner must wait for. */
  if (rd.loop)
    for (i = 0; i < NCTL; i++)
      atomic_fetch_add(&rd.loop_cb_expected,
                       atomic_load(&rd.ctl[i].expect_prio_events) +
                           rd.ctl[i].aborted);

  /* Shutdown: every task final, within the deadline. */
  rc = errand_runtime_shutdown(rd.rt,
                               check_rng_below(&g, 2) ? ERRAND_SHUTDOWN_DRAIN
                                                      : ERRAND_SHUTDOWN_CANCEL,
                               30000);
  atomic_fetch_add(&F.ops[OP_SHUTDOWN], 1);
  if (rc != 0) {
    VIOLATION("round %d: final shutdown: %s", rno, errand_errname(rc));
    errand_runtime_shutdown(rd.rt, ERRAND_SHUTDOWN_CANCEL, -1);
  }
  for (i = 0; i < atomic_load(&rd.n); i++) {
    errand_task *h = atomic_load(&rd.recs[i].h);
    if (h && !is_final_status(status_of(h)))
      VIOLATION("round %d: task %d not final after shutdown returned 0", rno,
                i);
  }
  /* Continuations registered on the pool run on errand's threads: wait for
   * them (bounded) before the loop goes. */
  {
    int64_t end = check_now_ms() + 20000;
    for (;;) {
      long long exp = 0, got = 0;
      for (i = 0; i < atomic_load(&rd.n); i++) {
        exp += atomic_load(&rd.recs[i].cb_expected);
        got += atomic_load(&rd.recs[i].cb_got);
      }
      if (got >= exp || check_now_ms() > end) break;
      check_sleep_ms(2);
    }
  }
  atomic_store(&rd.owner_drain, 1);
  pthread_join(rd.owner_thread, NULL);

  if (rd.pool) {
    rc = errand_procpool_destroy(rd.pool);
    if (rc != 0) VIOLATION("procpool_destroy: %s", errand_errname(rc));
  }
  rc = errand_runtime_destroy(rd.rt);
  if (rc != 0) VIOLATION("runtime_destroy: %s", errand_errname(rc));

  for (i = 0; i < atomic_load(&rd.n); i++) check_rec(&rd.recs[i]);
  if (rd.loop)
    for (i = 0; i < NCTL; i++) check_ctl(&rd.ctl[i], i);

  /* Release everything; then a released handle reads as released. */
  {
    errand_task *last = NULL;
    for (i = 0; i < atomic_load(&rd.n); i++) {
      errand_task *h = atomic_load(&rd.recs[i].h);
      if (h) {
        rc = errand_task_release(h);
        if (rc != 0) VIOLATION("release: %s", errand_errname(rc));
        last = h;
      }
    }
    if (last) {
      errand_status s;
      int64_t end = check_now_ms() + 5000;
      while ((rc = errand_task_status(last, &s)) == 0 && check_now_ms() < end)
        check_sleep_us(500);
      if (rc != ERRAND_E_RELEASED)
        VIOLATION("a released task after destroy: %s", errand_errname(rc));
    }
  }
  for (i = 0; i < NCTL; i++) {
    errand_signal_release(rd.ctl[i].s);
    errand_controller_release(rd.ctl[i].c);
  }

  /* Leaks: threads, descriptors, processes. */
  {
    int th = probe_settle(probe_errand_threads, th0, 5000);
    int fd = probe_settle(probe_fds, fd0, 5000);
    int ch = probe_settle(count_children, ch0, 5000);
    if (th != th0) VIOLATION("round %d: %d threads, %d before", rno, th, th0);
    if (fd != fd0) VIOLATION("round %d: %d descriptors, %d before", rno, fd, fd0);
    if (ch != ch0) VIOLATION("round %d: %d child processes, %d before", rno, ch, ch0);
  }
  atomic_fetch_add(&F.rounds, 1);
  free(rd.recs);
  R = NULL;
}

static const char *const mode_names[] = {"pool", "dedicated", "loop",
                                         "process", "mixed"};

static void soak(int mode) {
  double secs;
  const char *e = getenv("ERRAND_SOAK_SECONDS");
  uint64_t seed;
  int64_t start, until;
  int rno = 0, k;
  long long ops = 0;
  my_role = ROLE_MAIN;
  memset(&F, 0, sizeof F);
  secs = e && *e ? strtod(e, NULL) : 4.0 * check_scale();
  if (!(secs >= 1.0)) secs = 1.0;
  seed = check_seed(mode_names[mode]);
  start = check_now_ms();
  until = start + (int64_t)(secs * 1000);
  while (check_now_ms() < until && check_failed() < 20) {
    run_round(mode, seed, rno++, until + 100000);
    if (check_failed())
      printf("  (failure in round %d of seed %" PRIu64 ")\n", rno - 1, seed);
  }
  for (k = 0; k < NOPS; k++) ops += atomic_load(&F.ops[k]);
  printf("SOAK_FIGURES mode=%s seconds=%.1f rounds=%lld ops=%lld tasks=%lld "
         "ok=%lld canceled=%lld faulted=%lld never_ran=%lld events=%lld "
         "callbacks=%lld sync_then=%lld violations=%lld",
         mode_names[mode], (double)(check_now_ms() - start) / 1000.0,
         (long long)atomic_load(&F.rounds), ops, (long long)atomic_load(&F.tasks),
         (long long)atomic_load(&F.ok), (long long)atomic_load(&F.canceled),
         (long long)atomic_load(&F.faulted),
         (long long)atomic_load(&F.never_ran), (long long)atomic_load(&F.events),
         (long long)atomic_load(&F.callbacks),
         (long long)atomic_load(&F.sync_then),
         (long long)atomic_load(&F.violations));
  for (k = 0; k < NOPS; k++)
    printf(" %s=%lld/%lld", op_names[k], (long long)atomic_load(&F.ops[k]),
           (long long)atomic_load(&F.refused[k]));
  printf("\n");
  total_ops += ops;
  total_tasks += atomic_load(&F.tasks);
  total_violations += atomic_load(&F.violations);
  total_rounds += atomic_load(&F.rounds);
}

TEST(soak_pool) { soak(0); }
TEST(soak_dedicated) { soak(1); }
TEST(soak_loop) { soak(2); }
TEST(soak_process) { soak(3); }
TEST(soak_mixed) { soak(4); }

int main(int argc, char **argv) {
  int rc;
  if (errand_jobs_create(&soak_jobs) != 0 ||
      errand_jobs_register(soak_jobs, "soakjob", soak_job, NULL) != 0) {
    fprintf(stderr, "registry: %s\n", errand_last_error());
    return 2;
  }
  errand_worker_main(soak_jobs); /* a worker process never returns */
  {
    /* Warm up (sanitizer runtimes start helper threads lazily), so the
     * first round's thread count is not off by one of theirs. */
    errand_runtime *rt = NULL;
    errand_task *t = NULL;
    if (errand_runtime_create(NULL, &rt) == 0) {
      if (errand_post(rt, noop_task, NULL, NULL, &t) == 0) {
        errand_wait(t, -1);
        errand_task_release(t);
      }
      errand_runtime_destroy(rt);
    }
    check_sleep_ms(200);
  }
  {
    /* The watchdog covers one mode: give a long soak the time it asks. */
    const char *e = getenv("ERRAND_SOAK_SECONDS");
    if (e && *e && !getenv("ERRAND_TEST_WATCHDOG")) {
      char buf[32];
      snprintf(buf, sizeof buf, "%d", (int)strtod(e, NULL) + 120);
      setenv("ERRAND_TEST_WATCHDOG", buf, 1);
    }
  }
  rc = check_run(argc, argv);
  printf("SOAK_TOTAL rounds=%lld ops=%lld tasks=%lld violations=%lld\n",
         total_rounds, total_ops, total_tasks, total_violations);
  errand_jobs_release(soak_jobs);
  return rc;
}
