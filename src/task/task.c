/*
 * task.c — a task's life: run, end, fail, cancel, children, and the public
 * calls that read a handle.
 *
 * One rule makes the state machine safe: only a CAS from a non-final status
 * may change the status, and whoever wins the CAS to a final status runs
 * errand__task_complete exactly once (listeners, parent, counters, LIFE
 * reference).  Cancel of a queued task and the worker about to start it
 * race on the same word, so exactly one of them wins.
 */
#include "task/task_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ERRAND__HOT_TLS errand__task *tl_current;
/* Set by errand__task_defer: the running task's run was handed off. */
static ERRAND__HOT_TLS errand__task *tl_deferred;

errand__hooks errand__task_hooks;

errand__task *errand__task_current_rec(void) { return tl_current; }

static pthread_once_t tables_once = PTHREAD_ONCE_INIT;
static void tables_init_once(void);
void errand__tables_init(void) { pthread_once(&tables_once, tables_init_once); }

errand__task *errand__task_get_failed(int code) {
  errand__err(code, code == ERRAND_E_INVALID
                        ? "task handle is NULL"
                        : "task handle was released or is not a task handle");
  return NULL;
}

errand__rt *errand__rt_get_failed(int code) {
  errand__err(code, code == ERRAND_E_INVALID
                        ? "runtime handle is NULL"
                        : "runtime handle was released or is not a runtime "
                          "handle");
  return NULL;
}

uint64_t errand__task_seq(errand__node *n) {
  return container_of(n, errand__task, node)->id;
}

/* A task whose level follows a signal must stay where requeue finds it. */
bool errand__task_movable(errand__node *n) {
  errand__task *t = container_of(n, errand__task, node);
  errand__aux *aux = errand__task_aux(t);
  return aux && aux->signal && !(ld_rlx(&t->state) & ST_FIXED);
}

unsigned errand__task_natural_level(errand__task *t) {
  uint32_t s = ld_acq(&t->state);
  return (s & ST_BASE_MASK) >> ST_BASE_SHIFT;
}

/* The counters take the runtime from their callers, which mostly have it
 * at hand: finding it from the task is one load more on every count. */
static void stat_level(errand__rt *rt, bool enq, unsigned level) {
  bool owned;
  errand__stats_block *b = errand__stats_self(rt->sched, &owned);
  errand__stat_add(b, owned, enq ? &b->enqueued[level] : &b->dequeued[level],
                   1);
}

bool errand__task_mark_queued(errand__task *t, bool from_delay) {
  uint32_t s = ld_acq(&t->state);
  for (;;) {
    if (st_status(s) != ERRAND_STATUS_WAITING_TO_RUN ||
        (from_delay && !(s & ST_DELAYED)))
      return false;
    if (atomic_compare_exchange_weak(&t->state, &s,
                                     (s & ~ST_DELAYED) | ST_QUEUED))
      break;
  }
  errand__rt *rt = t->rt;
  if (from_delay) {
    bool owned;
    errand__stats_block *b = errand__stats_self(rt->sched, &owned);
    errand__stat_add(b, owned, &b->delayed_out, 1);
  }
  stat_level(rt, true, st_level(s));
  return true;
}

/* A task leaves the waiting phase: uncount it from where it was counted.
 * b is the calling thread's block (errand__stats_self). */
static void stat_unwait(errand__stats_block *b, bool owned, uint32_t old) {
  if (old & ST_QUEUED)
    errand__stat_add(b, owned, &b->dequeued[st_level(old)], 1);
  if (old & ST_DELAYED)
    errand__stat_add(b, owned, &b->delayed_out, 1);
}

uint32_t errand__task_set_level_bits(errand__task *t, unsigned level,
                                     bool also_base) {
  uint32_t s = ld_acq(&t->state), ns;
  do {
    if (st_final(s))
      return s;
    ns = (s & ~ST_LEVEL_MASK) | (level << ST_LEVEL_SHIFT);
    if (also_base)
      ns = (ns & ~ST_BASE_MASK) | (level << ST_BASE_SHIFT);
  } while (!atomic_compare_exchange_weak(&t->state, &s, ns));
  if ((s & ST_QUEUED) && st_status(s) == ERRAND_STATUS_WAITING_TO_RUN &&
      st_level(s) != level) {
    errand__rt *rt = t->rt;
    stat_level(rt, false, st_level(s));
    stat_level(rt, true, level);
  }
  return s;
}

static bool pick_one(void *arg, errand__node *n) {
  return n == &((errand__task *)arg)->node;
}

void errand__task_relevel(errand__task *t, unsigned level) {
  uint32_t s = ld_acq(&t->state);
  if (st_status(s) != ERRAND_STATUS_WAITING_TO_RUN || st_level(s) == level)
    return;
  s = errand__task_set_level_bits(t, level, false);
  if (st_status(s) != ERRAND_STATUS_WAITING_TO_RUN)
    return;
  errand__aux *aux = errand__task_aux(t);
  if (aux && aux->loop)
    errand__task_hooks.loop_relevel(t);
  else if (!(s & ST_DEDICATED))
    errand__sched_requeue(t->rt->sched, pick_one, t, level);
}

/* ---- references ---- */

void errand__task_unref(errand__task *t) { errand__task_unref_n(t, 1); }

void errand__task_unref_n(errand__task *t, uint32_t n) {
  if (!errand__ref_sub(t, n))
    return;
  errand__task_free(t);
}

void errand__task_free(errand__task *t) {
  if (ld_rlx(&t->state) & ST_COLD_USED) {
    errand__task_cold *c = errand__task_cold_of(t);
    if (c->result_free && c->result)
      c->result_free(c->result);
    free(ld_rlx(&c->err));
    errand__aux *aux = c->aux;
    if (aux) {
      free(ld_rlx(&aux->cancel_reason));
      if (aux->signal || aux->loop)
        errand__task_hooks.drop(t);
      free(aux->name);
      if (aux->ext_free)
        aux->ext_free(aux->ext);
      free(aux);
    }
    memset(c, 0, sizeof *c); /* see errand__task_cold */
  }
  errand__table_free(&errand__task_table, t);
}

/* ---- ending ---- */

static void stat_final(errand__rt *rt, unsigned status) {
  bool owned;
  errand__stats_block *b = errand__stats_self(rt->sched, &owned);
  _Atomic uint64_t *f = status == ERRAND_STATUS_RAN_TO_COMPLETION
                            ? &b->succeeded
                        : status == ERRAND_STATUS_FAULTED ? &b->faulted
                                                          : &b->canceled;
  errand__stat_add(b, owned, f, 1);
}

static void finalize(errand__task *t);

/* Everything that follows a final status, exactly once per task; drops
 * LIFE (and, when drops is 2, the caller's RUN with it). */
static void complete(errand__task *t, unsigned status, uint32_t old_state,
                     uint32_t drops) {
  errand__task *parent = errand__task_parent(t);
  errand__aux *aux = errand__task_aux(t);
  if (old_state & ST_LISTENERS)
    errand__fire_complete(t);
  if (parent) {
    if (status == ERRAND_STATUS_FAULTED) {
      errand__error *ce = ld_acq(&errand__task_cold_of(t)->err);
      const char *name = aux && aux->name ? aux->name : "";
      errand__error *pe = errand__error_new(
          ce ? ce->code : ERRAND_E_FAILED, "child task %llu%s%s%s faulted: %s",
          (unsigned long long)t->id, *name ? " '" : "", name, *name ? "'" : "",
          ce ? ce->message : "failed");
      if (pe)
        pe->from_child = true;
      errand__error *expect = NULL;
      /* The first error a parent gets stays (its own wins, see fail). */
      if (pe && !atomic_compare_exchange_strong(
                    &errand__task_cold_w(parent)->err, &expect, pe))
        free(pe);
      atomic_fetch_or(&parent->state, ST_CHILD_FAULT);
    }
  }
  if (aux && (aux->signal || aux->loop))
    errand__task_hooks.final(t);
  /* The counters are this task's last touch of its runtime: a drain that
   * sees them may free the scheduler. */
  stat_final(t->rt, status);
  if (parent && errand__task_pending_drop(parent))
    finalize(parent);
  errand__task_unref_n(t, drops); /* LIFE (+ RUN) */
}

/* A task ending CANCELED gets the reason its cancellation was requested
 * with as its error, unless it recorded one of its own (a child's fault
 * gives way: the parent did not end by it). */
static void take_cancel_reason(errand__task *t) {
  errand__task_cold *c = errand__task_cold_of(t);
  errand__error *cur = ld_acq(&c->err);
  if (cur && !cur->from_child)
    return;
  errand__aux *aux = errand__task_aux(t);
  errand__error *r = aux ? atomic_exchange(&aux->cancel_reason, NULL) : NULL;
  if (!r && !(r = errand__error_new(ERRAND_E_CANCELED, "canceled")))
    return; /* no memory: errand_task_error says "canceled" */
  c = errand__task_cold_w(t);
  while (!atomic_compare_exchange_weak(&c->err, &cur, r)) {
    if (cur && !cur->from_child) {
      free(r);
      return;
    }
  }
  free(cur);
}

/* Makes t final once pending reached 0 (the function returned and every
 * attached child is final).  own: how the function ended, or OWN_NONE to
 * take it from the state. */
static bool finalize_own(errand__task *t, unsigned own, uint32_t drops,
                         bool unless_attached) {
  uint32_t s = ld_acq(&t->state);
  if (unless_attached && (s & ST_ATTACHED))
    return false;
  if (own == OWN_NONE)
    own = (s & ST_OWN_MASK) >> ST_OWN_SHIFT;
  unsigned status = own == OWN_FAULTED     ? ERRAND_STATUS_FAULTED
                    : own == OWN_CANCELED  ? ERRAND_STATUS_CANCELED
                    : (s & ST_CHILD_FAULT) ? ERRAND_STATUS_FAULTED
                                           : ERRAND_STATUS_RAN_TO_COMPLETION;
  if (status == ERRAND_STATUS_CANCELED)
    take_cancel_reason(t);
  /* With no listener enlisted, nothing will be dispatched: say so in the
   * same CAS (late continuations wait for ST_DISPATCHED). */
  while (!atomic_compare_exchange_weak(
      &t->state, &s,
      (s & ~(ST_STATUS_MASK | ST_OWN_MASK)) | status | (own << ST_OWN_SHIFT) |
          ((s & ST_LISTENERS) ? 0 : ST_DISPATCHED)))
    if (unless_attached && (s & ST_ATTACHED))
      return false;
  complete(t, status, s, drops);
  return true;
}

static void finalize(errand__task *t) { finalize_own(t, OWN_NONE, 1, false); }

void errand__task_drop_pending(errand__task *t) {
  if (errand__task_pending_drop(t))
    finalize(t);
}

static void cancel_timer(errand__task *t, _Atomic uint64_t *id) {
  uint64_t v = ld_rlx(id);
  if (v && errand__timer_cancel(t->rt->sched, v))
    errand__task_unref(t); /* the timer's reference */
}

bool errand__task_end_unstarted(errand__task *t, unsigned status, int code,
                                const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  errand__error *e = errand__error_newv(code, fmt, ap);
  va_end(ap);
  errand__error *expect = NULL;
  errand__aux *aux = errand__task_aux(t);
  /* A reason given with an earlier cancellation request wins over this
   * one: finalize makes it the error (take_cancel_reason). */
  bool mine =
      e &&
      !(status == ERRAND_STATUS_CANCELED && aux &&
        ld_acq(&aux->cancel_reason)) &&
      atomic_compare_exchange_strong(&errand__task_cold_w(t)->err, &expect, e);
  if (e && !mine)
    free(e);
  uint32_t s = ld_acq(&t->state);
  for (;;) {
    if (st_status(s) > ERRAND_STATUS_WAITING_TO_RUN) {
      /* It started (or ended) first: take our reason back if still there. */
      expect = e;
      if (mine && atomic_compare_exchange_strong(&errand__task_cold_of(t)->err,
                                                 &expect, NULL))
        free(e);
      return false;
    }
    /* Leave WAITING_TO_RUN first (so no worker can start it), through the
     * "function done" status; finalize() picks the final status once every
     * attached child is final, exactly as after a run. */
    uint32_t own =
        status == ERRAND_STATUS_CANCELED ? OWN_CANCELED : OWN_FAULTED;
    uint32_t ns =
        (s & ~(ST_STATUS_MASK | ST_OWN_MASK | ST_QUEUED | ST_DELAYED)) |
        ERRAND_STATUS_WAITING_FOR_CHILDREN | (own << ST_OWN_SHIFT);
    if (atomic_compare_exchange_weak(&t->state, &s, ns))
      break;
  }
  bool owned;
  errand__stats_block *b = errand__stats_self(t->rt->sched, &owned);
  stat_unwait(b, owned, s);
  /* Timers first: finalize() may drop the last reference the timers do not
   * hold, and the runtime must not be touched after the final counters. */
  if (aux) {
    cancel_timer(t, &aux->delay_timer);
    cancel_timer(t, &aux->queue_timer);
    if (aux->arg_free)
      aux->arg_free(t->arg);
  }
  if (errand__task_pending_drop(t))
    finalize(t);
  return true;
}

uint32_t errand__task_request_cancel(errand__task *t, int code,
                                     const char *reason) {
  uint32_t s = ld_acq(&t->state);
  if (st_final(s))
    return s;
  /* The reason goes first: whoever sees the request bit finds it.  It is
   * kept aside (every task given a reason has aux: a signal, a timeout, a
   * job), so that a task that then succeeds or faults is not reported with
   * it. */
  errand__aux *aux = errand__task_aux(t);
  _Atomic(errand__error *) *slot = !reason ? NULL
                                   : aux   ? &aux->cancel_reason
                                           : &errand__task_cold_w(t)->err;
  if (slot && !ld_acq(slot)) {
    errand__error *e = errand__error_new(code, "%s", reason);
    errand__error *expect = NULL;
    if (e && !atomic_compare_exchange_strong(slot, &expect, e))
      free(e);
  }
  return atomic_fetch_or(&t->state, ST_CANCEL_REQ);
}

void errand__task_cancel(errand__task *t, int code, const char *reason) {
  uint32_t s = errand__task_request_cancel(t, code, reason);
  if (st_final(s))
    return;
  if (st_status(s) <= ERRAND_STATUS_WAITING_TO_RUN &&
      errand__task_end_unstarted(t, ERRAND_STATUS_CANCELED, code, "%s",
                                 reason ? reason : "canceled"))
    return;
  errand__fire_cancel(t);
}

/* ---- running ---- */

/* Count a start (ns: its queue wait) or an end (ns: its run time) in b,
 * the calling thread's block; a task that is not timed is counted outside
 * the histograms.  The caller finds b once for both: a run starts and
 * ends on one thread. */
static void stat_start(errand__stats_block *b, bool owned, bool ded, bool timed,
                       uint64_t ns) {
  if (ded)
    errand__stat_add(b, owned, &b->ded_started, 1);
  errand__stat_add(
      b, owned,
      timed ? &b->wait_hist[errand__hist_bucket(ns)] : &b->untimed_started, 1);
}

static void stat_end(errand__stats_block *b, bool owned, bool ded, bool timed,
                     uint64_t ns) {
  errand__stat_add(
      b, owned,
      timed ? &b->run_hist[errand__hist_bucket(ns)] : &b->untimed_ended, 1);
  if (ded)
    errand__stat_add(b, owned, &b->ded_ended, 1);
}

/* Ends a run; returns how many references (RUN) the caller still drops. */
static uint32_t end_run(errand__task *t, int rc) {
  unsigned own = rc == 0                   ? OWN_OK
                 : rc == ERRAND_E_CANCELED ? OWN_CANCELED
                                           : OWN_FAULTED;
  if (own == OWN_FAULTED && !ld_acq(&errand__task_cold_of(t)->err)) {
    errand__error *e =
        rc > 0 && rc < ERRAND_ERROR_COUNT_
            ? errand__error_new(rc, "%s", errand_strerror(rc))
            : errand__error_new(rc, "task failed with code %d", rc);
    errand__error *expect = NULL;
    if (e && !atomic_compare_exchange_strong(&errand__task_cold_w(t)->err,
                                             &expect, e))
      free(e);
  }
  /* The common case: no child ever attached.  One CAS on the state makes
   * the task final.  An attach takes its pending token and then marks the
   * state, so a child whose mark lands first makes this CAS fail and its
   * parent waits for it below; one whose mark comes after finds the parent
   * final and gives its token back (see attach in post.c). */
  if (finalize_own(t, own, 2, true))
    return 0;
  uint32_t s = ld_acq(&t->state);
  bool children = ld_acq(&errand__task_cold_of(t)->pending_less1) > 0;
  for (;;) {
    uint32_t ns = (s & ~ST_OWN_MASK) | (own << ST_OWN_SHIFT);
    if (children)
      ns = (ns & ~ST_STATUS_MASK) | ERRAND_STATUS_WAITING_FOR_CHILDREN;
    if (atomic_compare_exchange_weak(&t->state, &s, ns))
      break;
  }
  if (errand__task_pending_drop(t))
    finalize(t);
  return 1;
}

void errand__task_run_node(void *ctx, errand__node *n) {
  errand__rt *rt = ctx;
  errand__task *t = container_of(n, errand__task, node);
  uint32_t s = ld_acq(&t->state);
  for (;;) {
    if (st_status(s) != ERRAND_STATUS_WAITING_TO_RUN) {
      errand__task_unref(t); /* RUN: cancelled while queued */
      return;
    }
    if (!(s & ST_INTERNAL) && (ld_acq(&rt->phase) == RT_CANCELING ||
                               errand__task_cancel_requested(t))) {
      errand__error *ce = errand__task_cancel_reason(t);
      errand__task_end_unstarted(
          t, ERRAND_STATUS_CANCELED, ce ? ce->code : ERRAND_E_CANCELED, "%s",
          ld_acq(&rt->phase) == RT_CANCELING ? "canceled: runtime shut down"
          : ce                               ? ce->message
                                             : "canceled");
      s = ld_acq(&t->state);
      continue; /* now final: drops RUN above */
    }
    if (atomic_compare_exchange_weak(
            &t->state, &s,
            (s & ~(ST_STATUS_MASK | ST_QUEUED | ST_DELAYED)) |
                ERRAND_STATUS_RUNNING))
      break;
  }
  bool owned;
  errand__stats_block *b = errand__stats_self(rt->sched, &owned);
  bool ded = s & ST_DEDICATED;
  stat_unwait(b, owned, s);
  errand__task *prev = tl_current;
  /* A pool worker going straight from one timed task to this one starts
   * the clock where the last one stopped it (see errand__stamp_keep): the
   * pick in between counts as this task's run, not its wait.  Not when
   * this task became ready after that stamp: its wait would come out
   * negative.  Taken (and so forgotten) whether this task is timed or not:
   * a stamp kept from before an untimed task would add that task's run to
   * the next one's. */
  uint64_t kept = prev ? 0 : errand__stamp_resume();
  uint64_t t0 = 0;
  if (t->t_ready) {
    t0 = kept && kept >= t->t_ready ? kept : errand__stamp();
    stat_start(b, owned, ded, true, errand__stamp_ns(t0 - t->t_ready));
  } else {
    stat_start(b, owned, ded, false, 0);
  }
  errand__aux *aux = errand__task_aux(t);
  if (aux) {
    cancel_timer(t, &aux->queue_timer);
    if (aux->run_timeout_ms > 0 && errand__timer_reserve(rt->sched, 1) == 0) {
      errand__ref_inc(t);
      errand__timer_add(
          rt->sched,
          errand__now_ns() + (uint64_t)aux->run_timeout_ms * 1000000u,
          errand__task_timer_fired, t, TIMER_RUN, &aux->run_timer);
    }
  }
  tl_current = t;
  tl_deferred = NULL;
  int rc = t->fn(errand__task_handle(t), t->arg);
  tl_current = prev;
  if (tl_deferred == t) {
    /* The run goes on elsewhere and its RUN reference went with it: t may
     * already be ended and freed, so not one more look at it. */
    tl_deferred = NULL;
    return;
  }
  if (aux && aux->arg_free)
    aux->arg_free(t->arg);
  if (aux)
    cancel_timer(t, &aux->run_timer);
  if (t0) {
    uint64_t t1 = errand__stamp();
    stat_end(b, owned, ded, true, errand__stamp_ns(t1 - t0));
    if (!prev && errand__sched_is_worker(rt->sched))
      errand__stamp_keep(t1);
  } else {
    stat_end(b, owned, ded, false, 0);
  }
  uint32_t run_ref = end_run(t, rc);
  if (run_ref)
    errand__task_unref(t); /* RUN */
}

void errand__task_restart_run_timer(errand__task *t) {
  errand__aux *aux = errand__task_aux(t);
  if (!aux || aux->run_timeout_ms <= 0)
    return;
  cancel_timer(t, &aux->run_timer);
  if (errand__timer_reserve(t->rt->sched, 1) != 0)
    return; /* keeps running without its timeout rather than failing */
  errand__ref_inc(t);
  errand__timer_add(t->rt->sched,
                    errand__now_ns() + (uint64_t)aux->run_timeout_ms * 1000000u,
                    errand__task_timer_fired, t, TIMER_RUN, &aux->run_timer);
}

void errand__task_defer(errand__task *t) {
  errand__task_aux(t)->t_start = t->t_ready ? errand__stamp() : 0;
  atomic_fetch_or(&t->state, ST_DEFERRED);
  tl_deferred = t;
}

void errand__task_finish(errand__task *t, int rc, const char *error) {
  atomic_fetch_and(&t->state, ~ST_DEFERRED);
  if (rc != 0 && error)
    errand__task_set_error(t, rc, error);
  errand__aux *aux = errand__task_aux(t);
  cancel_timer(t, &aux->run_timer);
  uint64_t t_start = aux->t_start;
  bool owned;
  errand__stats_block *b = errand__stats_self(t->rt->sched, &owned);
  stat_end(b, owned, ld_rlx(&t->state) & ST_DEDICATED, t_start != 0,
           t_start ? errand__stamp_ns(errand__stamp() - t_start) : 0);
  uint32_t run_ref = end_run(t, rc);
  if (run_ref)
    errand__task_unref(t); /* RUN */
}

static void set_result(errand__task *t, void *value, errand_free_fn free_fn) {
  errand__task_cold *c = errand__task_cold_of(t);
  if (c->result_free && c->result && c->result != value)
    c->result_free(c->result);
  if (value || free_fn) {
    c = errand__task_cold_w(t);
    c->result = value;
    c->result_free = free_fn;
  } else if (c->result || c->result_free) {
    c->result = NULL;
    c->result_free = NULL;
  }
}

void errand__task_set_result_any(errand__task *t, void *value,
                                 errand_free_fn free_fn) {
  set_result(t, value, free_fn);
}

void errand__task_set_error(errand__task *t, int code, const char *message) {
  errand__error *e = errand__error_new(code ? code : ERRAND_E_FAILED, "%s",
                                       message ? message : "failed");
  if (e)
    free(atomic_exchange(&errand__task_cold_w(t)->err, e));
}

/* A dedicated task leaves its delay straight for its thread. */
static bool clear_delayed(errand__task *t) {
  uint32_t s = ld_acq(&t->state);
  do {
    if (st_status(s) != ERRAND_STATUS_WAITING_TO_RUN || !(s & ST_DELAYED))
      return false;
  } while (!atomic_compare_exchange_weak(&t->state, &s, s & ~ST_DELAYED));
  bool owned;
  errand__stats_block *b = errand__stats_self(t->rt->sched, &owned);
  errand__stat_add(b, owned, &b->delayed_out, 1);
  return true;
}

void errand__task_timer_fired(void *ctx, uint64_t kind) {
  errand__task *t = ctx;
  errand__rt *rt = t->rt;
  if (kind == TIMER_DELAY) {
    uint32_t s = ld_acq(&t->state);
    bool ded = (s & ST_DEDICATED) && !errand__task_aux(t)->loop;
    /* Before it is marked queued: from then on another worker may inline
     * it and read this. */
    if (t->t_ready)
      t->t_ready = errand__stamp();
    /* Leaving the delay: count it as queued unless cancelled meanwhile. */
    if (ded ? !clear_delayed(t) : !errand__task_mark_queued(t, true)) {
      errand__task_unref(t); /* RUN: it was cancelled while delayed */
      return;
    }
    if (errand__task_aux(t)->signal || errand__task_aux(t)->loop) {
      errand__task_hooks.submit(t);
      return;
    }
    if (s & ST_DEDICATED) {
      if (errand__sched_start_dedicated(rt->sched, &t->node) != 0) {
        errand__task_end_unstarted(t, ERRAND_STATUS_FAULTED, ERRAND_E_SYSTEM,
                                   "could not start a dedicated thread");
        errand__task_unref(t); /* RUN */
      }
      return;
    }
    errand__sched_submit(rt->sched, &t->node, st_level(s), false);
    return;
  }
  if (kind == TIMER_QUEUE) {
    if (st_status(ld_acq(&t->state)) == ERRAND_STATUS_WAITING_TO_RUN)
      errand__task_end_unstarted(
          t, ERRAND_STATUS_CANCELED, ERRAND_E_TIMEOUT,
          "queue timeout of %lld ms expired",
          (long long)errand__task_aux(t)->queue_timeout_ms);
  } else if (kind == TIMER_RUN) {
    if (st_status(ld_acq(&t->state)) == ERRAND_STATUS_RUNNING) {
      char msg[64];
      snprintf(msg, sizeof msg, "run timeout of %lld ms expired",
               (long long)errand__task_aux(t)->run_timeout_ms);
      errand__task_cancel(t, ERRAND_E_TIMEOUT, msg);
    }
  }
  errand__task_unref(t); /* the timer's reference */
}

/* ---- public: reading a handle ---- */

int errand_task_retain(errand_task *h) {
  int code;
  void *obj;
  if (!errand__ref_inc_checked(&errand__task_table, h, &obj, &code))
    return errand__err(
        code, code == ERRAND_E_INVALID
                  ? "task handle is NULL"
                  : "task handle was released or is not a task handle");
  return 0;
}

int errand_task_release(errand_task *h) {
  if (!h)
    return 0;
  int code;
  errand__task *t = errand__task_get(h, &code);
  if (!t)
    return code;
  errand__task_unref(t);
  return 0;
}

#define GET_TASK(h, t)                                                         \
  int code_;                                                                   \
  errand__task *t = errand__task_get((h), &code_);                             \
  if (!t)                                                                      \
    return code_;

int errand_task_id(errand_task *h, uint64_t *out) {
  GET_TASK(h, t);
  if (!out)
    return errand__err(ERRAND_E_INVALID, "out is NULL");
  *out = t->id;
  return 0;
}

int errand_task_name(errand_task *h, const char **out) {
  GET_TASK(h, t);
  if (!out)
    return errand__err(ERRAND_E_INVALID, "out is NULL");
  errand__aux *aux = errand__task_aux(t);
  *out = aux && aux->name ? aux->name : "";
  return 0;
}

int errand_task_status(errand_task *h, errand_status *out) {
  GET_TASK(h, t);
  if (!out)
    return errand__err(ERRAND_E_INVALID, "out is NULL");
  *out = (errand_status)st_status(ld_acq(&t->state));
  return 0;
}

int errand_task_flags(errand_task *h, unsigned *out) {
  GET_TASK(h, t);
  if (!out)
    return errand__err(ERRAND_E_INVALID, "out is NULL");
  unsigned st = st_status(ld_acq(&t->state)), f = 0;
  if (st >= ERRAND_STATUS_RAN_TO_COMPLETION)
    f |= ERRAND_FLAG_COMPLETED;
  if (st == ERRAND_STATUS_RAN_TO_COMPLETION)
    f |= ERRAND_FLAG_SUCCEEDED;
  if (st == ERRAND_STATUS_FAULTED)
    f |= ERRAND_FLAG_FAULTED;
  if (st == ERRAND_STATUS_CANCELED)
    f |= ERRAND_FLAG_CANCELED;
  *out = f;
  return 0;
}

int errand_task_priority(errand_task *h, errand_priority *out) {
  GET_TASK(h, t);
  if (!out)
    return errand__err(ERRAND_E_INVALID, "out is NULL");
  *out = (errand_priority)(st_level(ld_acq(&t->state)) + 1);
  return 0;
}

int errand_task_result(errand_task *h, void **value) {
  GET_TASK(h, t);
  if (!value)
    return errand__err(ERRAND_E_INVALID, "value is NULL");
  unsigned st = st_status(ld_acq(&t->state));
  if (st < ERRAND_STATUS_RAN_TO_COMPLETION)
    return errand__err(ERRAND_E_PENDING, "task %llu has not completed",
                       (unsigned long long)t->id);
  if (st == ERRAND_STATUS_FAULTED)
    return errand__err(ERRAND_E_FAILED, "task %llu faulted",
                       (unsigned long long)t->id);
  if (st == ERRAND_STATUS_CANCELED)
    return errand__err(ERRAND_E_CANCELED, "task %llu was canceled",
                       (unsigned long long)t->id);
  *value = errand__task_cold_of(t)->result;
  return 0;
}

int errand_task_error(errand_task *h, int *code, const char **message) {
  GET_TASK(h, t);
  unsigned st = st_status(ld_acq(&t->state));
  if (st < ERRAND_STATUS_RAN_TO_COMPLETION)
    return errand__err(ERRAND_E_PENDING, "task %llu has not completed",
                       (unsigned long long)t->id);
  errand__error *e = st == ERRAND_STATUS_RAN_TO_COMPLETION
                         ? NULL
                         : ld_acq(&errand__task_cold_of(t)->err);
  if (code)
    *code =
        e ? e->code : (st == ERRAND_STATUS_CANCELED ? ERRAND_E_CANCELED : 0);
  if (message)
    *message =
        e ? e->message : (st == ERRAND_STATUS_CANCELED ? "canceled" : "");
  return 0;
}

int errand_task_cancel(errand_task *h) {
  GET_TASK(h, t);
  errand__task_cancel(t, ERRAND_E_CANCELED, NULL);
  return 0;
}

/* ---- public: inside a task ---- */

errand_task *errand_task_current(void) {
  return tl_current ? errand__task_handle(tl_current) : NULL;
}

static int require_self(errand__task *t) {
  if (tl_current != t)
    return errand__err(ERRAND_E_WRONG_THREAD,
                       "only task %llu's own function may do this",
                       (unsigned long long)t->id);
  return 0;
}

int errand_task_set_result(errand_task *h, void *value,
                           errand_free_fn free_fn) {
  GET_TASK(h, t);
  int rc = require_self(t);
  if (rc)
    return rc;
  set_result(t, value, free_fn);
  return 0;
}

int errand_task_fail(errand_task *h, int code, const char *fmt, ...) {
  GET_TASK(h, t);
  int rc = require_self(t);
  if (rc)
    return rc;
  if (code == 0)
    code = ERRAND_E_FAILED;
  /* Ending as canceled after a cancel with a reason (a timeout, a signal's
   * abort): that reason is the error, not the task's words about it. */
  if (code == ERRAND_E_CANCELED && (ld_acq(&t->state) & ST_CANCEL_REQ) &&
      errand__task_cancel_reason(t))
    return code;
  errand__error *e;
  if (fmt) {
    va_list ap;
    va_start(ap, fmt);
    e = errand__error_newv(code, fmt, ap);
    va_end(ap);
  } else {
    e = errand__error_new(code, "%s", errand_strerror(code));
  }
  /* Otherwise its own message replaces a cancel reason or a child's
   * error. */
  free(atomic_exchange(&errand__task_cold_w(t)->err, e));
  return code;
}

int errand_task_is_canceled(errand_task *h) {
  int code;
  errand__task *t = errand__task_get(h, &code);
  if (!t)
    return -code; /* negative: told apart from 0 and 1 */
  return errand__task_is_canceled(t) ? 1 : 0;
}

/* ---- names ---- */

const char *errand_priority_name(errand_priority p) {
  switch (p) {
  case ERRAND_PRIORITY_USER_BLOCKING:
    return "user-blocking";
  case ERRAND_PRIORITY_USER_VISIBLE:
    return "user-visible";
  case ERRAND_PRIORITY_BACKGROUND:
    return "background";
  default:
    return NULL;
  }
}

const char *errand_status_name(errand_status s) {
  static const char *const names[] = {
      "Created",         "WaitingToRun",
      "Running",         "WaitingForChildrenToComplete",
      "RanToCompletion", "Canceled",
      "Faulted"};
  return (unsigned)s < sizeof names / sizeof *names ? names[s] : NULL;
}

static void tables_init_once(void) {
  errand__table_set_size(&errand__task_table, sizeof(errand__task));
  errand__table_set_cold(&errand__task_table, sizeof(errand__task_cold));
  errand__table_set_size(&errand__runtime_table, sizeof(errand__rt));
}
