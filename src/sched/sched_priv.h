/*
 * sched_priv.h — the scheduler's structures, shared by the files of
 * src/sched only.
 */
#ifndef ERRAND_SCHED_PRIV_H
#define ERRAND_SCHED_PRIV_H

#include "sched/sched_int.h"

#include <pthread.h>

/* ---- Chase-Lev deque, fixed capacity (a full deque overflows to the
 * injection queue, so capacity bounds memory, not correctness). ---- */
#define ERRAND__DEQUE_CAP 1024u

typedef struct errand__deque {
  _Alignas(64) _Atomic int64_t top;
  _Alignas(64) _Atomic int64_t bottom;
  _Atomic(errand__node *) buf[ERRAND__DEQUE_CAP];
} errand__deque;

bool errand__deque_push(errand__deque *d, errand__node *n);
/* Owner only: newest first. */
errand__node *errand__deque_pop(errand__deque *d);
/* Owner only: pops the newest node if it is n. */
bool errand__deque_pop_if(errand__deque *d, errand__node *n);
/* Anyone: oldest first.  *lost is set when a race was lost (retry). */
errand__node *errand__deque_steal(errand__deque *d, bool *lost);
static inline bool errand__deque_empty(errand__deque *d) {
  return ld_acq(&d->bottom) <= ld_acq(&d->top);
}

struct errand__worker {
  errand__deque dq[ERRAND__LEVELS];
  /* Nodes this worker moved from the injection queue in one batch: older
   * than anything still injected, so every worker takes them (FIFO) before
   * the injection queue, and a worker busy with a long task cannot strand
   * them behind newer posts. */
  errand__deque inbox[ERRAND__LEVELS];
  /* Which batch each inbox holds (batches are numbered in the order they
   * left the injection queue, so the lowest number holds the oldest posts). */
  _Atomic uint64_t inbox_batch[ERRAND__LEVELS];
  errand__sched *s;
  int index;
  int comp_index; /* -1 for a regular worker, -2 for the urgent one */
  pthread_t thread;
  /* Embedded, not thread-local: others may unpark a worker before its
   * thread has started. */
  errand__parker parker;
  /* idle list, under s->idle_mu */
  bool in_idle;
  struct errand__worker *idle_next, *idle_prev;
  uint32_t skipped[ERRAND__LEVELS];
  /* s->l0_arrivals when this worker last found level 0 empty everywhere
   * (UINT64_MAX: never). */
  uint64_t l0_empty_at;
  uint64_t rng;
  int blocking_depth;
  /* Spins in a row that lost their CPU (see worker_main). */
  unsigned preempted_spins;
  errand__stats_block stats;
};

typedef struct errand__timer_entry {
  uint64_t deadline;
  uint64_t id;
  errand__timer_fn fn;
  void *ctx;
  uint64_t tag;
} errand__timer_entry;

typedef struct errand__dedicated {
  pthread_t thread;
  errand__sched *s;
  errand__node *node;
  _Atomic(errand__parker *) parker; /* the thread's own, once it runs */
  _Atomic int done;
  struct errand__dedicated *next;
} errand__dedicated;

struct errand__sched {
  errand__sched_config cfg;
  int nworkers;
  int nslots;             /* workers + urgent + compensating capacity */
  int comp_base;          /* slot of the first compensating worker */
  errand__worker *urgent; /* or NULL */
  _Atomic int urgent_parked;
  _Atomic(errand__worker *) *slots; /* written once each */
  _Atomic int nactive;              /* slots started so far */
  _Atomic int stop;

  /* Injection queue, per level: an intrusive multi-producer queue in post
   * order (posters append without a lock, see inj_push in sched.c) that
   * workers take from under inj_mu, with a list under inj_mu in front of
   * it for the nodes a priority change has moved (older than anything
   * still in the queue).  The queue is never walked as a whole: a worker
   * touches each node once, when it takes it (a stack that had to be
   * reversed first touched every node twice, and with a backlog the second
   * time it had left the cache).  inj_mask mirrors which levels may be
   * non-empty so empty checks need no lock (inj_nonempty also looks at the
   * queue's last node, for the moment a consumer has cleared a bit and not
   * yet seen a push). */
  pthread_mutex_t inj_mu;
  errand__node *inj_head[ERRAND__LEVELS], *inj_tail[ERRAND__LEVELS];
  /* The queue's oldest node, or its stub: under inj_mu. */
  errand__node *inj_first[ERRAND__LEVELS];
  /* Keeps the queue non-empty, so posters never touch inj_first: it sits
   * at the end when everything else has been taken. */
  errand__node inj_stub[ERRAND__LEVELS];
  _Atomic uint32_t inj_mask;
  uint64_t inj_batches; /* under inj_mu */
  /* Level-0 (user-blocking) nodes queued so far, each counted once it is
   * in place.  A worker that found level 0 empty does not probe it again
   * until this moves: otherwise every task would pay a look into every
   * worker's queues for a level that is almost always empty.  Its own
   * line: read before each task, written only by level-0 posts. */
  _Alignas(64) _Atomic uint64_t l0_arrivals;
  /* The queue's newest node (its stub when empty): posters' line. */
  _Alignas(64) _Atomic(errand__node *) inj_last[ERRAND__LEVELS];
  char inj_last_pad[64 - ERRAND__LEVELS * sizeof(void *)];

  /* workers looking for work without being parked; a post need not wake
   * anyone while one is */
  _Atomic int nspinning;
  int max_spinners; /* half the CPUs, at least 1 */
  bool wait_spin;   /* see errand__sched_wait_may_spin */

  /* idle workers, under idle_mu */
  pthread_mutex_t idle_mu;
  errand__worker *idle_head;
  _Atomic int nidle;

  /* blocking regions and compensating workers */
  _Atomic int nblocked;
  pthread_mutex_t comp_mu;
  int ncomp; /* started, under comp_mu */

  /* timers */
  pthread_mutex_t timer_mu;
  pthread_cond_t timer_cv;
  errand__timer_entry *heap;
  size_t nheap, capheap, reserved;
  uint64_t next_timer_id;
  bool timer_started, timer_stop, timer_flush;
  pthread_t timer_thread;

  /* dedicated threads */
  pthread_mutex_t ded_mu;
  errand__dedicated *ded_list;

  errand__stats_block shared_stats;
};

/* Wakes one idle worker if there is one. */
void errand__sched_notify(errand__sched *s, int n);
bool errand__sched_has_work(errand__sched *s);
void errand__timers_stop(errand__sched *s);
void errand__dedicated_join_all(errand__sched *s, bool only_done);

#endif
