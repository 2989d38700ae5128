/*
 * task_int.h — layer 2: the task a caller holds, and the runtime around the
 * scheduler.
 *
 * A task is one 64-byte record in the handle table, plus a cold part that
 * only tasks with options, results, errors or listeners touch.  Everything
 * that changes after the post lives in one 32-bit state word changed by CAS
 * (status, cancel request, level, outcome bits), so a status read is one
 * load and the seven-status machine cannot go backwards: every transition
 * is a CAS from a non-final status.
 *
 * References: a posted task holds LIFE (dropped when it becomes final) and
 * RUN (dropped when the scheduler is done with its node: after it ran, or
 * when a cancelled node is popped), plus one per user handle and one per
 * pending timer.
 */
#ifndef ERRAND_TASK_INT_H
#define ERRAND_TASK_INT_H

#include "sched/sched_int.h"

/* ---- state word ---- */
#define ST_STATUS_MASK 0x7u
#define ST_CANCEL_REQ (1u << 3)
#define ST_LISTENERS (1u << 4)
#define ST_LEVEL_SHIFT 5u /* 2 bits: current level */
#define ST_LEVEL_MASK (3u << ST_LEVEL_SHIFT)
#define ST_BASE_SHIFT 7u /* 2 bits: level given at post */
#define ST_BASE_MASK (3u << ST_BASE_SHIFT)
#define ST_FIXED (1u << 9)
#define ST_DEDICATED (1u << 10)
#define ST_OWN_SHIFT 11u /* 2 bits: how the function itself ended */
#define ST_OWN_MASK (3u << ST_OWN_SHIFT)
#define ST_CHILD_FAULT (1u << 13)
#define ST_INTERNAL                                                            \
  (1u << 14)                     /* errand's own (continuations): runs even    \
                                    while the runtime cancels */
#define ST_QUEUED (1u << 15)     /* counted as queued at its level */
#define ST_DEFERRED (1u << 17)   /* its run ends by errand__task_finish */
#define ST_DISPATCHED (1u << 18) /* completion listeners all fired */
#define ST_DELAYED (1u << 16)    /* counted as waiting for its delay */
#define ST_ATTACHED (1u << 19)   /* a child ever attached (see attach) */
/* Which parts of errand__task_cold may hold something (see there). */
#define ST_AUX (1u << 20)    /* options: cold->aux */
#define ST_PARENT (1u << 21) /* a parent: cold->parent */
#define ST_COLD (1u << 22)   /* anything else written there */
#define ST_COLD_USED (ST_AUX | ST_PARENT | ST_COLD | ST_LISTENERS)

enum { OWN_NONE = 0, OWN_OK = 1, OWN_CANCELED = 2, OWN_FAULTED = 3 };

static inline unsigned st_status(uint32_t s) { return s & ST_STATUS_MASK; }
static inline bool st_final(uint32_t s) {
  return st_status(s) >= ERRAND_STATUS_RAN_TO_COMPLETION;
}
static inline unsigned st_level(uint32_t s) {
  return (s & ST_LEVEL_MASK) >> ST_LEVEL_SHIFT;
}

typedef struct errand__rt errand__rt;
typedef struct errand__listener errand__listener;
typedef struct errand__task errand__task;

struct errand__task;
/* See errand__aux.drive. */
typedef bool (*errand__drive_fn)(struct errand__task *t, uint64_t deadline);

/* Fields most tasks never use, allocated only when one is set. */
typedef struct errand__aux {
  char *name;
  errand_free_fn arg_free;
  int64_t queue_timeout_ms, run_timeout_ms;
  /* timer ids, 0 = none; set by the timer code before a timer can fire */
  _Atomic uint64_t delay_timer, queue_timer, run_timer;
  /* Owned by the upper layers, opaque here. */
  void *signal;                             /* bound signal, or NULL */
  struct errand__task *sig_prev, *sig_next; /* under the signal's lock */
  void *loop;                               /* runs on this loop, or NULL */
  /* An attachment that lives as long as the task record (job data). */
  void *ext;
  void (*ext_free)(void *ext);
  uint64_t t_start; /* run start stamp, for deferred runs */
  /* Set by whoever runs a deferred task (a process job's pool): a thread
   * outside the pool that would park waiting for this task alone calls it
   * instead.  It waits, until deadline (0: none) at the latest, for what
   * ends the task, handling it on the waiter's thread when it can (one
   * wake-up instead of two), and returns true; false when it cannot help
   * now (then the waiter parks). */
  _Atomic(errand__drive_fn) drive;
  /* The first reason given with a cancellation request (an abort, a run
   * timeout).  It becomes the task's error only if the task ends
   * CANCELED: one that runs to completion or faults ends as it ends. */
  _Atomic(errand__error *) cancel_reason;
} errand__aux;

/* The part of a task every task uses: one cache line, the only one a
 * worker takes from the poster's core for a task without options. */
struct errand__task {
  union {
    errand__slot slot; /* first: the handle table's header */
    /* The same members (so either may be read, C11 6.5.2.3): the state
     * lives in the header's spare word. */
    struct {
      _Atomic uint64_t refgen_;
      uint32_t index_;
      _Atomic uint32_t state;
    };
  };
  errand__node node;
  errand__rt *rt;
  errand_fn fn;
  void *arg;
  uint64_t id;
  /* errand__stamp when it became ready, for the wait histogram; 0 for a
   * task the histograms do not time (see timed_post in post.c). */
  uint64_t t_ready;
};

_Static_assert(sizeof(errand__task) == 64, "a task record is one cache line");
_Static_assert(offsetof(errand__task, state) == offsetof(errand__slot, word),
               "a task's state is its slot header's spare word");

/* The part of a task that only some tasks use, in the handle table's cold
 * memory (errand__task_cold): a result, an error, listeners, a parent,
 * options.  Zero until written; whoever writes a field first sets ST_COLD
 * (or a bit that implies it, see ST_COLD_USED) in the state, and the
 * record's last reference zeroes it again before the slot is reused.  Reads
 * need no bit: an unwritten field reads as zero.  The paths every task
 * takes test the state bits first, so a task that uses none of it never
 * touches its cache line. */
typedef struct errand__task_cold {
  /* Aligned: one line per cold part too. */
  _Alignas(64) errand__aux *aux; /* set at post (ST_AUX), never changed */
  struct errand__task *parent;   /* set at post (ST_PARENT), never changed */
  void *result;
  errand_free_fn result_free;
  _Atomic(errand__error *) err;
  errand__listener *listeners; /* under the task's stripe lock */
  /* How many things the task still waits for before it can be final, less
   * one: the function (until it returns) and each attached child that is
   * not final.  Kept less one so that the zero of fresh cold memory is
   * "the function only": a task that runs without children never touches
   * it (one that ends unstarted counts it down, and marks the state).  It
   * ends at UINT32_MAX (nothing left), and then never moves again. */
  _Atomic uint32_t pending_less1;
} errand__task_cold;

static inline errand__task_cold *errand__task_cold_of(const errand__task *t) {
  return (errand__task_cold *)errand__table_cold(&errand__task_table, t);
}
/* The cold part, marked as written (see errand__task_cold). */
static inline errand__task_cold *errand__task_cold_w(errand__task *t) {
  if (!(ld_rlx(&t->state) & ST_COLD))
    atomic_fetch_or_explicit(&t->state, ST_COLD, memory_order_relaxed);
  return errand__task_cold_of(t);
}
/* Drops one of what t waits for; true when that was the last. */
static inline bool errand__task_pending_drop(errand__task *t) {
  return atomic_fetch_sub(&errand__task_cold_w(t)->pending_less1, 1) == 0;
}
/* The task's options, or NULL when it was posted without any. */
static inline errand__aux *errand__task_aux(const errand__task *t) {
  return (ld_rlx(&t->state) & ST_AUX) ? errand__task_cold_of(t)->aux : NULL;
}
static inline struct errand__task *errand__task_parent(const errand__task *t) {
  return (ld_rlx(&t->state) & ST_PARENT) ? errand__task_cold_of(t)->parent
                                         : NULL;
}

enum { RT_RUNNING = 0, RT_DRAINING = 1, RT_CANCELING = 2 };

struct errand__rt {
  errand__slot slot;
  errand__sched *sched;
  int timing_every; /* time one task in this many; 0 = none */
  /* On a line of its own: every post writes it, and the fields around it
   * are read by every post. */
  _Alignas(64) _Atomic uint64_t next_id;
  _Alignas(64) _Atomic int phase;
  _Atomic int drained; /* a shutdown saw every task final */
  _Atomic int loops;   /* live loops: they must go before the runtime */
  pthread_mutex_t cleanup_mu;
  struct errand__cleanup *cleanups; /* run by destroy after the drain */
  uint64_t next_cleanup;
};

/* Registers fn(arg) to run when the runtime is destroyed, after its drain
 * and before its threads stop (process pools stop their workers there).
 * Returns 0 or E_NOMEM; *id names the entry. */
int errand__rt_at_destroy(errand__rt *rt, void (*fn)(void *), void *arg,
                          uint64_t *id);
/* Removes an entry; true if it was still there (then it will not run). */
bool errand__rt_cancel_at_destroy(errand__rt *rt, uint64_t id);
/* Registers fn(arg) to run when a shutdown enters cancel mode (process
 * pools cancel their jobs there); removed with errand__rt_cancel_at_destroy
 * too.  0 or E_NOMEM. */
int errand__rt_on_cancel(errand__rt *rt, void (*fn)(void *), void *arg,
                         uint64_t *id);

/* What the upper layers (signals, loops) plug into a task's life, so this
 * layer never includes theirs. */
typedef struct errand__hooks {
  /* At post, before anything is queued: binds a task to its signal.  False
   * when the signal was already aborted: the hook has then ended the task
   * (CANCELED, never runs). */
  bool (*bind)(errand__task *t);
  /* Queues a ready task that has a signal or a loop (instead of the
   * scheduler): at post, and when its delay ends. */
  void (*submit)(errand__task *t);
  /* A task with a signal or a loop became final. */
  void (*final)(errand__task *t);
  /* Its record is being freed: drop the references the upper layers keep
   * in aux (signal, loop). */
  void (*drop)(errand__task *t);
  /* A queued loop task changed level. */
  void (*loop_relevel)(errand__task *t);
} errand__hooks;
extern errand__hooks errand__task_hooks;

/* ---- lookups with the error message set ---- */
errand__task *errand__task_get_failed(int code);
/* Inline: every call that takes a task handle starts here. */
static inline errand__task *errand__task_get(errand_task *h, int *code) {
  errand__task *t = errand__table_get(&errand__task_table, h, code);
  return t ? t : errand__task_get_failed(*code);
}
errand__rt *errand__rt_get_failed(int code);
static inline errand__rt *errand__rt_get(errand_runtime *h, int *code) {
  errand__rt *rt = errand__table_get(&errand__runtime_table, h, code);
  return rt ? rt : errand__rt_get_failed(*code);
}
static inline errand_task *errand__task_handle(errand__task *t) {
  return errand__handle_of(&errand__task_table, t);
}
void errand__tables_init(void);

/* ---- lifecycle (task.c) ---- */
void errand__task_unref(errand__task *t);
void errand__task_unref_n(errand__task *t, uint32_t n);
/* Frees a record whose references are all gone (or were never handed out):
 * its cold part, its options, its slot. */
void errand__task_free(errand__task *t);
/* The scheduler's run callback. */
void errand__task_run_node(void *ctx, errand__node *n);
uint64_t errand__task_seq(errand__node *n);
bool errand__task_movable(errand__node *n);
/* Ends a task that never started (cancel, queue timeout, start failure).
 * Returns false when it already started or ended. */
bool errand__task_end_unstarted(errand__task *t, unsigned status, int code,
                                const char *fmt, ...) ERRAND_PRINTF(4, 5);
/* Records reason (if none yet) and sets the cancel request bit, without
 * ending anything: a worker about to start the task will see it.  Safe
 * under a signal's lock.  Returns the state before. */
uint32_t errand__task_request_cancel(errand__task *t, int code,
                                     const char *reason);
/* The reason of the first cancellation request that gave one, or NULL.
 * Valid while the task is not final (and the caller holds a reference). */
static inline errand__error *errand__task_cancel_reason(errand__task *t) {
  errand__aux *aux = errand__task_aux(t);
  errand__error *r = aux ? ld_acq(&aux->cancel_reason) : NULL;
  if (!r && (r = ld_acq(&errand__task_cold_of(t)->err)) && r->from_child)
    r = NULL;
  return r;
}
/* Requests cancellation of a running task with a reason (kept as its error
 * if it ends CANCELED), or cancels it if it has not started. */
void errand__task_cancel(errand__task *t, int code, const char *reason);
/* Whether cancellation was asked of t or of one of its ancestors. */
static inline bool errand__task_cancel_requested(const errand__task *t) {
  for (const errand__task *a = t; a; a = errand__task_parent(a))
    if (ld_acq(&a->state) & ST_CANCEL_REQ)
      return true;
  return false;
}
/* ... or of everything, by its runtime's shutdown.  Inline: a task that
 * waits asks it on every wait. */
static inline bool errand__task_is_canceled(errand__task *t) {
  return ld_acq(&t->rt->phase) == RT_CANCELING ||
         errand__task_cancel_requested(t);
}
/* Gives back one pending token (a child that will never exist). */
void errand__task_drop_pending(errand__task *t);
errand__task *errand__task_current_rec(void);
void errand__task_timer_fired(void *ctx, uint64_t kind);
enum { TIMER_DELAY = 1, TIMER_QUEUE = 2, TIMER_RUN = 3 };

/* Counts a waiting task as queued (or, from_delay, as leaving its delay
 * for the queue), just before it is handed to a queue.  False if it is no
 * longer waiting to run (then it must not be counted). */
bool errand__task_mark_queued(errand__task *t, bool from_delay);
/* Changes the level bits of a task that is not final, keeping the queue
 * counters right; returns the state before. */
uint32_t errand__task_set_level_bits(errand__task *t, unsigned level,
                                     bool also_base);

/* Moves a task that waits to run to level (0..2): its state says so at
 * once, and it is moved in the queue where the queue allows (the injection
 * queue, a loop).  No-op once it started. */
void errand__task_relevel(errand__task *t, unsigned level);
/* The level a queued task has when nobody raised it. */
unsigned errand__task_natural_level(errand__task *t);

/* ---- posting (post.c): the building blocks of every post call ---- */
typedef struct errand__post_target {
  void *signal; /* bound here (the caller holds a reference for it) */
  unsigned signal_level;
  void *loop; /* run on this loop (reference held for the task) */
  void *ext;  /* attachment, freed with the record by ext_free */
  void (*ext_free)(void *);
  /* Called once the task is built, before anything can run it. */
  void (*before)(errand__task *t, void *ctx);
  void *before_ctx;
  /* Run it on the posting thread before the post returns, instead of
   * queueing it, when it would start at once anyway (no delay, no signal,
   * a pool task, and a worker idle).  For short hand-offs to another queue
   * (process jobs): saves a pool thread's wake-up on the way. */
  bool run_here;
} errand__post_target;
int errand__task_post(errand__rt *rt, errand_fn fn, void *arg,
                      const errand_post_options *o,
                      const errand__post_target *target, errand_task **out);
/* errand__task_post with no options and no target: the common post (every
 * fork in fork-join), with nothing to check or look up. */
int errand__task_post_plain(errand__rt *rt, errand_fn fn, void *arg,
                            errand_task **out);
int errand__task_post_batch(errand__rt *rt, errand_fn fn, void *const *args,
                            size_t n, const errand_post_options *o,
                            errand_task **out);
/* Checks the options shared by every post call. */
int errand__check_post_options(const errand_post_options *o);
/* The runtime of a handle, if it accepts posts from this thread now. */
int errand__rt_for_post(errand_runtime *h, errand__rt **out);
/* An internal pool task that ignores the shutdown phase (a continuation
 * must run even while the runtime drains or cancels), built ahead so that
 * scheduling it later cannot fail. */
errand__task *errand__internal_prepare(errand__rt *rt, errand_fn fn, void *arg);
void errand__internal_schedule(errand__task *t);
void errand__internal_discard(errand__task *t);

/* ---- runs that end later (process jobs) ---- */
/* From the task's own function: its run does not end when the function
 * returns but when errand__task_finish is called (from any thread), which
 * may happen before the function returns.  So call it last, right before
 * handing the task to whoever finishes it.  The task needs an aux record
 * (post it with one) and no arg_free. */
void errand__task_defer(errand__task *t);
/* A deferred run really starts now (a worker process took the job): its run
 * timeout counts from here.  (A process job's task is posted without one, so
 * none runs while its job waits for a worker.) */
void errand__task_restart_run_timer(errand__task *t);
/* Ends a deferred run as the function returning rc would have; error is
 * the message for a failure (NULL: keep whatever was set). */
void errand__task_finish(errand__task *t, int rc, const char *error);
/* Sets the result of a running task from any thread (the caller owns the
 * task's run); value is freed with free_fn. */
void errand__task_set_result_any(errand__task *t, void *value,
                                 errand_free_fn free_fn);
/* Replaces a task's error message (from the thread that owns its run). */
void errand__task_set_error(errand__task *t, int code, const char *message);

/* ---- listeners (listener.c) ---- */
enum { LISTEN_COMPLETE = 1u, LISTEN_CANCEL = 2u, LISTEN_EVENT = 4u };
/* Note: a listener with fire set is freed by fire at completion. */
struct errand__listener {
  errand__listener *next;
  unsigned kinds;
  errand__parker *parker; /* unparked when fired, or: */
  /* called once after t is final, with no lock held; the listener is then
   * the callee's (it frees it) */
  void (*fire)(errand__listener *l, errand__task *t);
  /* LISTEN_CANCEL: called under the stripe lock when cancellation is
   * requested (must not block) — instead of unparking parker */
  void (*on_cancel)(errand__listener *l, errand__task *t);
  /* LISTEN_EVENT: called under the stripe lock for each event emitted */
  bool (*event)(errand__listener *l, errand__task *t, const char *name,
                const void *data, size_t len); /* false: no memory */
};
/* Adds l to t.  Returns false (and adds nothing) if l waits for completion
 * and t is already final. */
bool errand__listen(errand__task *t, errand__listener *l);
void errand__unlisten(errand__task *t, errand__listener *l);
/* The lock that guards t's listeners and event subscribers. */
pthread_mutex_t *errand__task_stripe(errand__task *t);
/* For a continuation that found t already final: returns once every
 * completion listener enlisted before t became final has fired, so what
 * the caller queues now comes after what they queued. */
void errand__wait_dispatched(errand__task *t);
/* Called once, by whoever made t final. */
void errand__fire_complete(errand__task *t);
void errand__fire_cancel(errand__task *t);

/* ---- waiting (wait.c) ---- */
/* Parks the calling thread until one of ts is final, or deadline, or the
 * caller's own task is cancelled.  Helps run queued work on a worker.
 * spin: a thread outside the pool spins (adaptively) before parking. */
int errand__wait_any_rec(errand__task *const *ts, size_t n, uint64_t deadline,
                         bool poll, bool spin, size_t *index);

#endif
