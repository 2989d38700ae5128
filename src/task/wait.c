/*
 * wait.c — wait for one, all or any tasks, with a timeout.
 *
 * A waiter enlists one listener per task (and a cancel listener on its own
 * task and its ancestors), re-checks, then parks.  On a pool worker it first
 * runs queued work instead (newest local task first, so fork-join stays
 * depth-first and a worker never blocks on a task that sits in its own
 * queue); that is what lets recursive fork-join finish with one worker.
 * A worker that waits also enters the idle list, so a post wakes it to help.
 */
#include "task/task_int.h"

#include <stdlib.h>

/* Deepest nesting of help-while-wait before a waiter just blocks: bounds
 * stack use when waits nest inside helped tasks. */
#define MAX_HELP_DEPTH 200
#define MAX_CANCEL_CHAIN 8
/* Pauses a thread spins before it parks in errand_wait (a worker: once it
 * finds nothing to help with): at most ~45 us (the same as a pool worker
 * spins for work), at least a microsecond or two. */
#define WAIT_SPIN_MAX 2048
#define WAIT_SPIN_MIN 32

/* This thread's spin: doubled after a wait that ended within about what
 * the longest spin covers (WAIT_SPIN_NEAR_NS), halved after a longer one,
 * so a thread whose waits are long soon stops burning CPU on them and one
 * whose results are close keeps catching them (and gets back to it after
 * a few long waits, e.g. a worker process starting). */
#define WAIT_SPIN_NEAR_NS 50000u
static ERRAND__HOT_TLS int wait_spin = WAIT_SPIN_MAX;

static ERRAND__HOT_TLS int help_depth;

/* Runs a queued pool task of w's runtime right here, on the waiting worker
 * (as TBB and .NET's task inlining do): the waiter needs it anyway, and it
 * may sit behind lower-level work in some worker's deque where no priority
 * change can reach it.  The node left in its queue is dropped when popped
 * (its status is no longer WAITING_TO_RUN), so we run it under a reference
 * of our own. */
static inline bool try_inline(errand__task *t, errand__worker *w,
                              bool newest_only) {
  uint32_t s = ld_acq(&t->state);
  if (st_status(s) != ERRAND_STATUS_WAITING_TO_RUN || !(s & ST_QUEUED) ||
      (s & ST_DEDICATED) ||
      ((s & ST_AUX) && errand__task_cold_of(t)->aux->loop) ||
      errand__sched_worker_self(t->rt->sched) != w)
    return false;
  /* Usually (fork-join) it is the newest node of our own deque: take it
   * out properly, and no stale node is left behind. */
  bool popped = errand__sched_pop_if_newest(w, st_level(s), &t->node);
  if (!popped && newest_only)
    return false;
  if (!popped)
    errand__ref_inc(t); /* the node stays queued and keeps its RUN ref */
  help_depth++;
  errand__task_run_node(t->rt, &t->node);
  help_depth--;
  return true;
}

static bool any_final(errand__task *const *ts, size_t n, size_t *index) {
  for (size_t i = 0; i < n; i++) {
    if (st_final(ld_acq(&ts[i]->state))) {
      if (index)
        *index = i;
      return true;
    }
  }
  return false;
}

int errand__wait_any_rec(errand__task *const *ts, size_t n, uint64_t deadline,
                         bool poll, bool spin, size_t *index) {
  if (any_final(ts, n, index))
    return 0;
  if (poll)
    return ERRAND_E_TIMEOUT;
  errand__task *self = errand__task_current_rec();
  errand__worker *w = errand__sched_worker_current();
  errand__parker *parker =
      w ? errand__sched_worker_parker(w) : errand__parker_self();

  errand__listener small[4];
  errand__listener *ls = n <= 4 ? small : errand__malloc(n * sizeof *ls);
  if (!ls)
    return errand__err(ERRAND_E_NOMEM, "no memory for %zu waiters", n);
  errand__listener cl[MAX_CANCEL_CHAIN];
  errand__task *chain[MAX_CANCEL_CHAIN];
  size_t nchain = 0;
  bool registered = false;
  int rc = 0;

  /* No priority inversion through waiting: a task that waits raises the
   * queued tasks it waits for to its own level while it waits. */
  unsigned my_level = self ? st_level(ld_acq(&self->state)) : ERRAND__LEVELS;
  uint8_t small_raised[4];
  uint8_t *raised = n <= 4 ? small_raised : errand__calloc(n, 1);
  if (raised) {
    for (size_t i = 0; i < n; i++) {
      uint32_t s = ld_acq(&ts[i]->state);
      raised[i] = 0;
      if (st_status(s) == ERRAND_STATUS_WAITING_TO_RUN &&
          st_level(s) > my_level) {
        errand__task_relevel(ts[i], my_level);
        raised[i] = 1;
      }
    }
  }

  for (;;) {
    if (any_final(ts, n, index))
      break;
    if (self && errand__task_is_canceled(self)) {
      rc = errand__err(ERRAND_E_CANCELED, "the waiting task was canceled");
      break;
    }
    uint64_t now = 0;
    if (deadline && (now = errand__now_ns()) >= deadline) {
      rc = errand__err(ERRAND_E_TIMEOUT, "wait timed out");
      break;
    }
    bool can_help = w && help_depth < MAX_HELP_DEPTH;
    if (can_help) {
      bool ran = false;
      for (size_t i = 0; i < n && !ran; i++)
        ran = try_inline(ts[i], w, false);
      if (ran)
        continue;
      errand__node *node = errand__sched_find_work(w, true);
      if (node) {
        help_depth++;
        errand__sched_run_node(w, node);
        help_depth--;
        continue;
      }
    }
    if (!registered) {
      registered = true;
      bool done = false;
      for (size_t i = 0; i < n; i++) {
        ls[i] = (errand__listener){.kinds = LISTEN_COMPLETE, .parker = parker};
        if (!errand__listen(ts[i], &ls[i])) {
          ls[i].kinds = 0; /* not enlisted */
          done = true;
        }
      }
      for (errand__task *a = self; a && nchain < MAX_CANCEL_CHAIN;
           a = errand__task_parent(a)) {
        cl[nchain] =
            (errand__listener){.kinds = LISTEN_CANCEL, .parker = parker};
        errand__listen(a, &cl[nchain]);
        chain[nchain++] = a;
      }
      if (done)
        continue;
      continue; /* re-check after enlisting, before parking */
    }
    if (can_help) {
      errand__sched_idle_enter(w);
      /* A post that came before we were idle would not wake us. */
      errand__node *node = errand__sched_find_work(w, true);
      if (node) {
        errand__sched_idle_leave(w);
        /* Its post may have woken nobody: pass a wake-up on if more is
         * queued. */
        errand__sched_pass_wake(w);
        help_depth++;
        errand__sched_run_node(w, node);
        help_depth--;
        continue;
      }
    }
    /* Deep cancel chains are not all enlisted: look again now and then. */
    uint64_t dl = deadline;
    if (self && errand__task_parent(self) && nchain == MAX_CANCEL_CHAIN) {
      uint64_t soon = (now ? now : errand__now_ns()) + 10000000u;
      if (!dl || soon < dl)
        dl = soon;
    }
    /* A thread outside the pool waiting for one process job waits for its
     * worker's answer itself (errand__aux.drive). */
    errand__aux *aux = n == 1 && !w && !self ? errand__task_aux(ts[0]) : NULL;
    if (aux) {
      errand__drive_fn drive = ld_acq(&aux->drive);
      if (drive && drive(ts[0], dl))
        continue;
    }
    /* A thread waiting for one task spins a little first: a result that
     * is microseconds away (a process job's round trip, a fork-join child
     * another worker stole) then costs it no sleep and wake-up.  A worker
     * spins on its parker too: it is on the idle list, so a post unparks
     * it as it would a sleeping one, and it goes to help at once.  Without
     * this, fork-join on 2 workers (fib(30), cutoff 10) parked a waiter
     * whenever the child it waited for was stolen, and paid a futex wake
     * (tens of us under a hypervisor) to resume: on a 2-CPU VM its 90th
     * percentile run took 1.5-1.9 ms against 1.1-1.6 with the spin.  Not
     * in a pool with more workers than CPUs: there a spinner takes a CPU
     * from a worker running what it waits for (4 workers on 2 CPUs: the
     * median run went from 1.19 to 1.32 ms with every waiter spinning, and
     * from 1.08 to 1.36 with one at a time). */
    if (spin && (!w || errand__sched_wait_may_spin(w))) {
      uint64_t t0 = errand__now_ns();
      errand__spin_for_unpark(parker, wait_spin);
      errand__park(parker, dl);
      if (errand__now_ns() - t0 < WAIT_SPIN_NEAR_NS)
        wait_spin = wait_spin < WAIT_SPIN_MAX ? wait_spin * 2 : WAIT_SPIN_MAX;
      else
        wait_spin = wait_spin > WAIT_SPIN_MIN ? wait_spin / 2 : WAIT_SPIN_MIN;
    } else {
      errand__park(parker, dl);
    }
    if (can_help)
      errand__sched_idle_leave(w);
  }
  if (registered) {
    for (size_t i = 0; i < n; i++)
      if (ls[i].kinds)
        errand__unlisten(ts[i], &ls[i]);
    for (size_t i = 0; i < nchain; i++)
      errand__unlisten(chain[i], &cl[i]);
  }
  if (raised) {
    for (size_t i = 0; i < n; i++)
      if (raised[i] && st_level(ld_acq(&ts[i]->state)) == my_level)
        errand__task_relevel(ts[i], errand__task_natural_level(ts[i]));
    if (raised != small_raised)
      free(raised);
  }
  if (ls != small)
    free(ls);
  return rc;
}

/* ---- public ---- */

static int lookup_all(errand_task *const *hs, size_t n, errand__task **out) {
  for (size_t i = 0; i < n; i++) {
    int code;
    out[i] = errand__task_get(hs[i], &code);
    if (!out[i])
      return errand__err(code, "tasks[%zu]: %s", i, errand_last_error());
  }
  return 0;
}

/* Fork-join's wait: the task is the newest node of the waiting worker's own
 * deque.  Run it here without setting up a full wait (no listeners, no
 * raised levels: a task run at once needs neither).  Anything else, or a
 * waiter whose own task is being cancelled, takes the general path. */
static bool run_own_newest(errand__task *t) {
  errand__worker *w = errand__sched_worker_current();
  if (!w || help_depth >= MAX_HELP_DEPTH)
    return false;
  errand__task *self = errand__task_current_rec();
  if (self && errand__task_is_canceled(self))
    return false;
  return try_inline(t, w, true);
}

int errand_wait(errand_task *h, int64_t timeout_ms) {
  int code;
  errand__task *t = errand__task_get(h, &code);
  if (!t)
    return code;
  if (timeout_ms != 0 && run_own_newest(t) && st_final(ld_acq(&t->state)))
    return 0;
  return errand__wait_any_rec(&t, 1, errand__deadline(timeout_ms),
                              timeout_ms == 0, true, NULL);
}

int errand_wait_all(errand_task *const *tasks, size_t n, int64_t timeout_ms) {
  if (n == 0)
    return 0;
  if (!tasks)
    return errand__err(ERRAND_E_INVALID, "tasks is NULL");
  errand__task *small[16];
  errand__task **ts = n <= 16 ? small : errand__malloc(n * sizeof *ts);
  if (!ts)
    return errand__err(ERRAND_E_NOMEM, "no memory to wait for %zu tasks", n);
  int rc = lookup_all(tasks, n, ts);
  uint64_t deadline = errand__deadline(timeout_ms);
  /* All = one at a time: one listener however many tasks.  Which one
   * decides how often the waiter sleeps: waiting for each in array order
   * wakes it once per task that ends after it looked (W4 in bench/: 20,000
   * wake-ups, each taking a CPU from a worker, 1.16x the background
   * work's time).  Tasks end roughly in post order (FIFO within a level)
   * or newest first (posted by a worker), so wait for the newest not yet
   * final, then the oldest, in turn, skipping those that ended meanwhile:
   * in either order the second wait finds the rest done (W1 with
   * post_batch: 283-337 -> 153-165 ns per task for the newest first). */
  size_t lo = 0, hi = n; /* the tasks outside [lo, hi) are final */
  for (bool newest = true; rc == 0; newest = !newest) {
    while (lo < hi && st_final(ld_acq(&ts[lo]->state)))
      lo++;
    while (hi > lo && st_final(ld_acq(&ts[hi - 1]->state)))
      hi--;
    if (lo == hi)
      break;
    rc = errand__wait_any_rec(&ts[newest ? hi - 1 : lo], 1, deadline,
                              timeout_ms == 0, false, NULL);
  }
  if (ts != small)
    free(ts);
  return rc;
}

int errand_wait_any(errand_task *const *tasks, size_t n, int64_t timeout_ms,
                    size_t *index) {
  if (!tasks || n == 0)
    return errand__err(ERRAND_E_INVALID, "wait_any needs at least one task");
  errand__task *small[16];
  errand__task **ts = n <= 16 ? small : errand__malloc(n * sizeof *ts);
  if (!ts)
    return errand__err(ERRAND_E_NOMEM, "no memory to wait for %zu tasks", n);
  int rc = lookup_all(tasks, n, ts);
  if (rc == 0)
    rc = errand__wait_any_rec(ts, n, errand__deadline(timeout_ms),
                              timeout_ms == 0, false, index);
  if (ts != small)
    free(ts);
  return rc;
}

int errand_task_sleep(errand_task *h, int64_t ms) {
  int code;
  errand__task *t = errand__task_get(h, &code);
  if (!t)
    return code;
  if (errand__task_current_rec() != t)
    return errand__err(ERRAND_E_WRONG_THREAD,
                       "errand_task_sleep: only task %llu's own function may "
                       "sleep on it",
                       (unsigned long long)t->id);
  if (ms < 0)
    return errand__err(ERRAND_E_INVALID, "sleep of %lld ms", (long long)ms);
  errand__worker *w = errand__sched_worker_current();
  errand__parker *parker =
      w ? errand__sched_worker_parker(w) : errand__parker_self();
  uint64_t deadline = errand__deadline(ms);
  errand__listener cl[MAX_CANCEL_CHAIN];
  errand__task *chain[MAX_CANCEL_CHAIN];
  size_t nchain = 0;
  for (errand__task *a = t; a && nchain < MAX_CANCEL_CHAIN;
       a = errand__task_parent(a)) {
    cl[nchain] = (errand__listener){.kinds = LISTEN_CANCEL, .parker = parker};
    errand__listen(a, &cl[nchain]);
    chain[nchain++] = a;
  }
  int rc = 0;
  for (;;) {
    if (errand__task_is_canceled(t)) {
      rc = ERRAND_E_CANCELED;
      break;
    }
    uint64_t now = errand__now_ns();
    if (now >= deadline)
      break;
    uint64_t dl = deadline;
    if (nchain == MAX_CANCEL_CHAIN && now + 10000000u < dl)
      dl = now + 10000000u;
    errand__park(parker, dl);
  }
  for (size_t i = 0; i < nchain; i++)
    errand__unlisten(chain[i], &cl[i]);
  return rc;
}
