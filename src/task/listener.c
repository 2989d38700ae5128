/*
 * listener.c — who to wake when a task ends or is asked to cancel.
 *
 * A task's listener list is protected by one of 64 stripe locks chosen by
 * the task's slot index (a "parking lot": no lock inside the 64-byte
 * record).  The ST_LISTENERS bit in the state word lets the finisher skip
 * the lock entirely when nobody ever listened, which is the common case.
 * Listening sets the bit with an atomic OR that also returns the status, so
 * it is totally ordered with the finisher's CAS: either the finisher sees
 * the bit, or the listener sees the final status and does not enlist.
 */
#include "task/task_int.h"

#include <sched.h>

#define STRIPES 64u

static pthread_mutex_t stripes[STRIPES];
static pthread_once_t stripes_once = PTHREAD_ONCE_INIT;

static void stripes_init(void) {
  for (unsigned i = 0; i < STRIPES; i++)
    errand__mutex_init_hot(&stripes[i]);
}

pthread_mutex_t *errand__task_stripe(errand__task *t) {
  pthread_once(&stripes_once, stripes_init);
  return &stripes[t->slot.index % STRIPES];
}

#define stripe errand__task_stripe

bool errand__listen(errand__task *t, errand__listener *l) {
  pthread_mutex_t *m = stripe(t);
  pthread_mutex_lock(m);
  uint32_t s = atomic_fetch_or(&t->state, ST_LISTENERS);
  if ((l->kinds & LISTEN_COMPLETE) && st_final(s)) {
    pthread_mutex_unlock(m);
    return false;
  }
  errand__task_cold *c = errand__task_cold_of(t);
  l->next = c->listeners;
  c->listeners = l;
  pthread_mutex_unlock(m);
  return true;
}

void errand__unlisten(errand__task *t, errand__listener *l) {
  pthread_mutex_t *m = stripe(t);
  pthread_mutex_lock(m);
  for (errand__listener **pp = &errand__task_cold_of(t)->listeners; *pp;
       pp = &(*pp)->next) {
    if (*pp == l) {
      *pp = l->next;
      break;
    }
  }
  pthread_mutex_unlock(m);
}

void errand__fire_complete(errand__task *t) {
  pthread_mutex_t *m = stripe(t);
  pthread_mutex_lock(m);
  errand__task_cold *c = errand__task_cold_of(t);
  errand__listener *l = c->listeners;
  c->listeners = NULL;
  /* The list was pushed newest first: reverse it so listeners fire in the
   * order they enlisted (a loop sees completion callbacks in that order). */
  errand__listener *fifo = NULL;
  while (l) {
    errand__listener *next = l->next;
    l->next = fifo;
    fifo = l;
    l = next;
  }
  /* Everything fires under the lock: a waiter unlistens under the same lock
   * before its stack frame (where its listener lives) goes away. */
  for (l = fifo; l;) {
    errand__listener *next = l->next;
    if (l->fire)
      l->fire(l, t); /* frees l; must not block */
    else
      errand__unpark(l->parker);
    l = next;
  }
  /* release: a late continuation that sees this also sees our queueing. */
  atomic_fetch_or_explicit(&t->state, ST_DISPATCHED, memory_order_release);
  pthread_mutex_unlock(m);
}

void errand__wait_dispatched(errand__task *t) {
  /* The final CAS sets ST_DISPATCHED itself when no listener was there;
   * otherwise fire_complete sets it when done.  The completer is between its
   * final CAS and the end of its dispatch: microseconds, unless it was
   * preempted. */
  for (unsigned i = 0; !(ld_acq(&t->state) & ST_DISPATCHED); i++) {
    if (i < 64)
      errand__cpu_relax();
    else
      sched_yield();
  }
}

void errand__fire_cancel(errand__task *t) {
  if (!(ld_acq(&t->state) & ST_LISTENERS))
    return;
  pthread_mutex_t *m = stripe(t);
  pthread_mutex_lock(m);
  for (errand__listener *l = errand__task_cold_of(t)->listeners; l; l = l->next)
    if (l->kinds & LISTEN_CANCEL) {
      if (l->on_cancel)
        l->on_cancel(l, t);
      else if (l->parker)
        errand__unpark(l->parker);
    }
  pthread_mutex_unlock(m);
}
