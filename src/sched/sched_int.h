/*
 * sched_int.h — layer 1: worker threads, run queues, parking, timers and
 * dedicated threads.
 *
 * The scheduler moves opaque nodes: it knows a node's level only when it is
 * handed one, and it gives every node back through the run callback of its
 * owner (the task layer).  It knows nothing of statuses, results or names.
 *
 * Lock order inside this layer: injection lock, then idle lock; timer lock
 * and dedicated lock are leaves.  No lock here is held while a node runs.
 */
#ifndef ERRAND_SCHED_INT_H
#define ERRAND_SCHED_INT_H

#include "core/core_int.h"

enum { ERRAND__LEVELS = 3 };

/* Atomic: the injection queue's posters link the node before theirs while
 * a worker may be reading that link (see inj_push in sched.c).  Everyone
 * else uses it through relaxed loads and stores, which cost what plain
 * ones do. */
typedef struct errand__node {
  _Atomic(struct errand__node *) next;
} errand__node;

typedef struct errand__sched errand__sched;
typedef struct errand__worker errand__worker;

/* Runs (or discards) a node; called on a worker, a dedicated thread, or the
 * thread that stops the scheduler. */
typedef void (*errand__run_fn)(void *ctx, errand__node *n);
/* Post-order key of a node, to keep FIFO order when nodes move levels. */
typedef uint64_t (*errand__seq_fn)(errand__node *n);
/* True for a node whose level may change while queued: it must stay in the
 * injection queue, where errand__sched_requeue can find it. */
typedef bool (*errand__movable_fn)(errand__node *n);

typedef struct errand__sched_config {
  int workers;          /* >= 1 */
  int aging_burst;      /* >= 1 */
  int max_compensating; /* >= 0 */
  bool urgent;          /* one extra worker for level 0 only */
  uint64_t spin_ns;     /* an idle worker looks this long before parking */
  errand__run_fn run;
  errand__seq_fn seq;
  errand__movable_fn movable;
  void *ctx;
} errand__sched_config;

/* ---- per-thread counters, summed on read (the task layer keeps them:
 * it knows when a task really enters and leaves a queue) ---- */
typedef struct errand__stats_block {
  _Atomic uint64_t posted;
  _Atomic uint64_t enqueued[ERRAND__LEVELS];
  _Atomic uint64_t dequeued[ERRAND__LEVELS];
  _Atomic uint64_t delayed_in, delayed_out;
  _Atomic uint64_t ded_started, ded_ended;
  _Atomic uint64_t succeeded, faulted, canceled;
  /* Starts and ends of tasks not timed: a timed one lands in a histogram
   * bucket instead. */
  _Atomic uint64_t untimed_started, untimed_ended;
  _Atomic uint64_t wait_hist[ERRAND_HIST_BUCKETS];
  _Atomic uint64_t run_hist[ERRAND_HIST_BUCKETS];
} errand__stats_block;

/* This thread's worker's block and the scheduler it belongs to (NULL on
 * every thread that is not a pool worker). */
extern ERRAND__HOT_TLS errand__stats_block *errand__tl_stats;
extern ERRAND__HOT_TLS const errand__sched *errand__tl_stats_of;
errand__stats_block *errand__sched_shared_stats(errand__sched *s);

/* Whether the calling thread is one of s's pool workers. */
static inline bool errand__sched_is_worker(const errand__sched *s) {
  return errand__tl_stats_of == s;
}

/* The block the calling thread writes to: its worker's own (owned = true,
 * single writer) or the shared one for every other thread.  Inline: a task
 * counts itself several times on its way through. */
static inline errand__stats_block *errand__stats_self(errand__sched *s,
                                                      bool *owned) {
  errand__stats_block *b = errand__tl_stats;
  /* b is never NULL when the scheduler matches; saying so keeps gcc's LTO
   * from warning about a write through a NULL block. */
  if (b && errand__tl_stats_of == s) {
    *owned = true;
    return b;
  }
  *owned = false;
  return errand__sched_shared_stats(s);
}

/* Release, so that a reader who sees a count (acquire) also sees what the
 * counted task did: a drain that finds every task final then sees every
 * task's writes.  (Free on x86: a plain store and a locked add anyway.) */
static inline void errand__stat_add(errand__stats_block *b, bool owned,
                                    _Atomic uint64_t *field, uint64_t v) {
  (void)b;
  if (owned)
    st_rel(field, ld_rlx(field) + v);
  else
    atomic_fetch_add_explicit(field, v, memory_order_release);
}

static inline unsigned errand__hist_bucket(uint64_t ns) {
  if (ns < 2)
    return 0;
  unsigned b = 63u - (unsigned)__builtin_clzll(ns);
  return b >= ERRAND_HIST_BUCKETS ? ERRAND_HIST_BUCKETS - 1 : b;
}

/* ---- lifecycle ---- */
int errand__sched_create(const errand__sched_config *cfg, errand__sched **out);
/* Stops the workers, the timer thread and joins every thread; nodes still
 * queued (or in timers) are handed to run one last time so their owner can
 * discard them. */
void errand__sched_stop(errand__sched *s);
void errand__sched_destroy(errand__sched *s);
int errand__sched_workers(errand__sched *s);

/* ---- queues ---- */
/* Queues n at level (0 = highest).  From a worker of s it goes to that
 * worker's own deque, from anywhere else (or when movable: a node whose
 * level may change later) to the injection queue. */
void errand__sched_submit(errand__sched *s, errand__node *n, unsigned level,
                          bool movable);
/* Queues a chain of count nodes (linked by next) at one level, from
 * outside: one lock, one wake-up round. */
void errand__sched_submit_chain(errand__sched *s, errand__node *head,
                                errand__node *tail, size_t count,
                                unsigned level);
/* Starts a thread of its own for n.  Returns 0 or E_SYSTEM/E_NOMEM. */
int errand__sched_start_dedicated(errand__sched *s, errand__node *n);
/* Moves the injected nodes for which pick() says yes to level new_level,
 * keeping post order.  Returns how many moved. */
size_t errand__sched_requeue(errand__sched *s,
                             bool (*pick)(void *, errand__node *), void *arg,
                             unsigned new_level);

/* ---- the calling thread ---- */
/* The worker of s running on this thread, or NULL. */
errand__worker *errand__sched_worker_self(errand__sched *s);
/* The worker (of any scheduler) running on this thread, or NULL. */
errand__worker *errand__sched_worker_current(void);
/* Unparks every worker and dedicated thread of s (they re-check whatever
 * they wait for): used when the runtime starts cancelling everything. */
void errand__sched_wake_all(errand__sched *s);
/* True on any thread errand started for s (worker or dedicated). */
bool errand__sched_is_own_thread(errand__sched *s);
/* True when some worker is idle (parked or spinning) right now: a task
 * posted now would start at once.  A hint: it may change the next moment. */
bool errand__sched_has_idle(errand__sched *s);

/* ---- helping while waiting ---- */
/* One attempt to find a node for w (newest local first when lifo). */
errand__node *errand__sched_find_work(errand__worker *w, bool lifo);
void errand__sched_run_node(errand__worker *w, errand__node *n);
/* Pops n from w's own deque at level if it is the newest node there. */
bool errand__sched_pop_if_newest(errand__worker *w, unsigned level,
                                 errand__node *n);
/* A worker about to park outside its main loop (while waiting) registers
 * as idle so that posts wake it; leave unregisters it. */
void errand__sched_idle_enter(errand__worker *w);
void errand__sched_idle_leave(errand__worker *w);
errand__parker *errand__sched_worker_parker(errand__worker *w);
/* Wakes an idle worker if work is queued (after w took work whose post may
 * have woken nobody). */
void errand__sched_pass_wake(errand__worker *w);
/* Whether w, idle in a wait, may spin before it parks: only in a pool
 * with no more workers than CPUs (else a spinner takes a CPU from a worker
 * running what it waits for) that spins at all (spin_ns not 0). */
bool errand__sched_wait_may_spin(errand__worker *w);
errand__sched *errand__sched_of(errand__worker *w);

/* ---- blocking regions ---- */
void errand__sched_blocking_begin(errand__worker *w);
void errand__sched_blocking_end(errand__worker *w);

/* ---- timers (one thread per scheduler, started on first use) ---- */
typedef void (*errand__timer_fn)(void *ctx, uint64_t tag);
/* Makes room for n more timers (starting the timer thread if needed), so
 * that the next n calls of errand__timer_add cannot fail.  Returns 0 or
 * E_NOMEM / E_SYSTEM / E_SHUTDOWN. */
int errand__timer_reserve(errand__sched *s, size_t n);
/* Gives back n reservations that will not be used. */
void errand__timer_unreserve(errand__sched *s, size_t n);
/* Adds a timer using one reservation.  Its non-zero id is stored in *id
 * (if not NULL) before the timer can fire. */
void errand__timer_add(errand__sched *s, uint64_t deadline_ns,
                       errand__timer_fn fn, void *ctx, uint64_t tag,
                       _Atomic uint64_t *id);
/* True if the timer was removed before firing (its fn will never run). */
bool errand__timer_cancel(errand__sched *s, uint64_t id);
/* From now on every timer fires at once (cancel-mode shutdown). */
void errand__timer_flush(errand__sched *s);

/* ---- numbers ---- */
void errand__sched_stats(errand__sched *s, errand_stats *out);

#endif
