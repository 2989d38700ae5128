/*
 * signal.c — controllers and signals (seed 004's TaskController and
 * TaskSignal, and the AbortController behaviour).
 *
 * The signal is the meeting point of three things that may happen at once:
 * tasks being posted with it, the controller aborting it, and the
 * controller changing its priority.  All three take the signal's mutex, so
 * a task is either bound before an abort (and cancelled by it) or sees the
 * abort when it binds (and is cancelled at once); and a task is queued
 * either before a priority change (and moved by it) or after (at the new
 * level).  Callbacks run with no lock held.
 */
#include "signal/signal_int.h"

#include <stdlib.h>

void (*errand__sig_deliver)(errand__sig_listener *l, errand__signal *s,
                            int code, const char *reason, unsigned prev,
                            unsigned cur);
/* Set by the loop layer: where loop tasks go and what ends with them. */
bool (*errand__loop_submit_hook)(errand__task *t);
void (*errand__loop_final_hook)(errand__task *t);

errand__signal *errand__signal_get(errand_signal *h, int *code) {
  errand__signal *s = errand__table_get(&errand__signal_table, h, code);
  if (!s)
    errand__err(*code,
                *code == ERRAND_E_INVALID
                    ? "signal handle is NULL"
                    : "signal handle was released or is not a signal handle");
  return s;
}

errand_signal *errand__signal_handle(errand__signal *s) {
  return errand__handle_of(&errand__signal_table, s);
}

void errand__signal_unref(errand__signal *s) {
  if (!errand__ref_dec(s))
    return;
  free(s->reason);
  errand__sig_listener *l = s->listeners;
  while (l) {
    errand__sig_listener *next = l->next;
    free(l);
    l = next;
  }
  pthread_mutex_destroy(&s->mu);
  errand__table_free(&errand__signal_table, s);
}

static errand__controller *controller_get(errand_controller *h, int *code) {
  errand__controller *c = errand__table_get(&errand__controller_table, h, code);
  if (!c)
    errand__err(
        *code,
        *code == ERRAND_E_INVALID
            ? "controller handle is NULL"
            : "controller handle was released or is not a controller handle");
  return c;
}

/* ---- the task hooks ---- */

static void unlink_locked(errand__signal *s, errand__task *t) {
  errand__aux *a = errand__task_aux(t);
  if (a->sig_prev)
    errand__task_aux(a->sig_prev)->sig_next = a->sig_next;
  else if (s->bound == t)
    s->bound = a->sig_next;
  else
    return; /* never linked (posted to an aborted signal) */
  if (a->sig_next)
    errand__task_aux(a->sig_next)->sig_prev = a->sig_prev;
  a->sig_prev = a->sig_next = NULL;
}

static bool hook_bind(errand__task *t) {
  errand__aux *aux = errand__task_aux(t);
  errand__signal *s = aux->signal;
  pthread_mutex_lock(&s->mu);
  if (ld_acq(&s->aborted)) {
    pthread_mutex_unlock(&s->mu);
    errand__task_end_unstarted(t, ERRAND_STATUS_CANCELED, s->reason->code, "%s",
                               s->reason->message);
    return false;
  }
  /* The level read at post may be stale: a priority change may have come
   * in between.  Under the lock it cannot change again before we queue. */
  if (!(ld_acq(&t->state) & ST_FIXED))
    errand__task_set_level_bits(t, ld_rlx(&s->level), true);
  aux->sig_prev = NULL;
  aux->sig_next = s->bound;
  if (s->bound)
    errand__task_aux(s->bound)->sig_prev = t;
  s->bound = t;
  pthread_mutex_unlock(&s->mu);
  return true;
}

static void hook_submit(errand__task *t) {
  errand__aux *aux = errand__task_aux(t);
  errand__signal *s = aux->signal;
  uint32_t st = ld_acq(&t->state);
  if ((st & ST_DEDICATED) && !aux->loop) {
    if (errand__sched_start_dedicated(t->rt->sched, &t->node) != 0) {
      errand__task_end_unstarted(t, ERRAND_STATUS_FAULTED, ERRAND_E_SYSTEM,
                                 "could not start a dedicated thread");
      errand__task_unref(t); /* RUN */
    }
    return;
  }
  /* Under the signal's lock the level cannot change between reading it and
   * queueing the task. */
  if (s)
    pthread_mutex_lock(&s->mu);
  st = ld_acq(&t->state);
  bool queued = true;
  if (aux->loop)
    queued = errand__loop_submit_hook(t);
  else
    errand__sched_submit(t->rt->sched, &t->node, st_level(st),
                         s && !(st & ST_FIXED));
  if (s)
    pthread_mutex_unlock(&s->mu);
  if (!queued) {
    errand__task_end_unstarted(t, ERRAND_STATUS_CANCELED, ERRAND_E_CANCELED,
                               "canceled: its loop was destroyed");
    errand__task_unref(t); /* RUN */
  }
}

/* Unbinds at the end; the pointer (and the reference) stay until the
 * record goes, since a stale queue node may still be looked at. */
static void hook_final(errand__task *t) {
  errand__signal *s = errand__task_aux(t)->signal;
  if (s) {
    pthread_mutex_lock(&s->mu);
    unlink_locked(s, t);
    pthread_mutex_unlock(&s->mu);
  }
}

static void hook_drop(errand__task *t) {
  errand__aux *aux = errand__task_aux(t);
  if (aux->signal)
    errand__signal_unref(aux->signal);
  if (aux->loop)
    errand__loop_final_hook(t);
}

static void hook_loop_relevel_unset(errand__task *t) { (void)t; }

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static void do_init(void) {
  errand__tables_init();
  errand__table_set_size(&errand__signal_table, sizeof(errand__signal));
  errand__table_set_size(&errand__controller_table, sizeof(errand__controller));
  errand__task_hooks.bind = hook_bind;
  errand__task_hooks.submit = hook_submit;
  errand__task_hooks.final = hook_final;
  errand__task_hooks.drop = hook_drop;
  if (!errand__task_hooks.loop_relevel)
    errand__task_hooks.loop_relevel = hook_loop_relevel_unset;
}
void errand__signal_init(void) { pthread_once(&init_once, do_init); }

/* ---- listeners ---- */

void errand__sig_call(errand__sig_listener *l, errand__signal *s, int code,
                      const char *reason, unsigned prev, unsigned cur) {
  if (l->kind == SIG_ABORT)
    l->on_abort(errand__signal_handle(s), code, reason, l->arg);
  else
    l->on_priority(errand__signal_handle(s), (errand_priority)(prev + 1),
                   (errand_priority)(cur + 1), l->arg);
}

static void dispatch(errand__sig_listener *l, errand__signal *s, int code,
                     const char *reason, unsigned prev, unsigned cur) {
  if (l->loop && errand__sig_deliver)
    errand__sig_deliver(l, s, code, reason, prev, cur);
  else
    errand__sig_call(l, s, code, reason, prev, cur);
}

/* Listeners are only ever pushed at the head and freed with the signal,
 * so a snapshot of the head can be walked without the lock.  They were
 * pushed newest first; call them oldest first. */
static void fire(errand__signal *s, errand__sig_listener *head, int kind,
                 int code, const char *reason, unsigned prev, unsigned cur) {
  size_t n = 0;
  for (errand__sig_listener *l = head; l; l = l->next)
    n += l->kind == kind;
  if (!n)
    return;
  errand__sig_listener *small[16];
  errand__sig_listener **v = n <= 16 ? small : errand__malloc(n * sizeof *v);
  if (!v) { /* no memory: call newest first rather than not at all */
    for (errand__sig_listener *l = head; l; l = l->next)
      if (l->kind == kind)
        dispatch(l, s, code, reason, prev, cur);
    return;
  }
  size_t i = n;
  for (errand__sig_listener *l = head; l; l = l->next)
    if (l->kind == kind)
      v[--i] = l;
  for (i = 0; i < n; i++)
    dispatch(v[i], s, code, reason, prev, cur);
  if (v != small)
    free(v);
}

static int add_listener(errand_signal *h, errand_loop *loop, int kind,
                        errand_abort_fn on_abort, errand_priority_fn on_prio,
                        void *arg) {
  errand__signal_init();
  int code;
  errand__signal *s = errand__signal_get(h, &code);
  if (!s)
    return code;
  if (!on_abort && !on_prio)
    return errand__err(ERRAND_E_INVALID, "callback is NULL");
  void *lp = NULL;
  if (loop) {
    lp = errand__table_get(&errand__loop_table, loop, &code);
    if (!lp)
      return errand__err(code, "loop handle is NULL, released or not a loop");
  }
  errand__sig_listener *l = errand__calloc(1, sizeof *l);
  if (!l)
    return errand__err(ERRAND_E_NOMEM, "no memory for a listener");
  l->kind = kind;
  l->loop = loop; /* the handle: the loop layer checks it at delivery */
  (void)lp;
  l->on_abort = on_abort;
  l->on_priority = on_prio;
  l->arg = arg;
  pthread_mutex_lock(&s->mu);
  l->next = s->listeners;
  s->listeners = l;
  bool now = kind == SIG_ABORT && ld_acq(&s->aborted);
  pthread_mutex_unlock(&s->mu);
  if (now)
    dispatch(l, s, s->reason->code, s->reason->message, 0, 0);
  return 0;
}

int errand_signal_on_abort(errand_signal *s, errand_loop *loop,
                           errand_abort_fn fn, void *arg) {
  if (!fn)
    return errand__err(ERRAND_E_INVALID, "fn is NULL");
  return add_listener(s, loop, SIG_ABORT, fn, NULL, arg);
}

int errand_signal_on_priority_change(errand_signal *s, errand_loop *loop,
                                     errand_priority_fn fn, void *arg) {
  if (!fn)
    return errand__err(ERRAND_E_INVALID, "fn is NULL");
  return add_listener(s, loop, SIG_PRIORITY, NULL, fn, arg);
}

/* ---- controllers ---- */

int errand_controller_create(errand_priority priority,
                             errand_controller **out) {
  errand__signal_init();
  if (!out)
    return errand__err(ERRAND_E_INVALID, "out is NULL");
  if ((unsigned)priority > ERRAND_PRIORITY_BACKGROUND)
    return errand__err(ERRAND_E_INVALID,
                       "priority %d is not an errand_priority", (int)priority);
  errand__signal *s = errand__table_alloc(&errand__signal_table, 1);
  if (!s)
    return errand__err(ERRAND_E_NOMEM, "no memory for a signal");
  pthread_mutex_init(&s->mu, NULL);
  st_rlx(&s->level, priority ? (uint32_t)priority - 1u : 1u);
  errand__controller *c = errand__table_alloc(&errand__controller_table, 1);
  if (!c) {
    errand__signal_unref(s);
    return errand__err(ERRAND_E_NOMEM, "no memory for a controller");
  }
  c->sig = s;
  *out = errand__handle_of(&errand__controller_table, c);
  return 0;
}

int errand_controller_release(errand_controller *h) {
  if (!h)
    return 0;
  int code;
  errand__controller *c = controller_get(h, &code);
  if (!c)
    return code;
  if (errand__ref_dec(c)) {
    errand__signal_unref(c->sig);
    errand__table_free(&errand__controller_table, c);
  }
  return 0;
}

int errand_controller_signal(errand_controller *h, errand_signal **out) {
  int code;
  errand__controller *c = controller_get(h, &code);
  if (!c)
    return code;
  if (!out)
    return errand__err(ERRAND_E_INVALID, "out is NULL");
  errand__ref_inc(c->sig);
  *out = errand__signal_handle(c->sig);
  return 0;
}

int errand_controller_abort(errand_controller *h, int code,
                            const char *reason) {
  int rc;
  errand__controller *c = controller_get(h, &rc);
  if (!c)
    return rc;
  errand__signal *s = c->sig;
  if (code == 0)
    code = ERRAND_E_CANCELED;
  errand__error *e = errand__error_new(code, "%s", reason ? reason : "aborted");
  if (!e)
    return errand__err(ERRAND_E_NOMEM, "no memory for the abort reason");
  pthread_mutex_lock(&s->mu);
  if (ld_acq(&s->aborted)) {
    pthread_mutex_unlock(&s->mu);
    free(e);
    return errand__err(ERRAND_E_STATE, "the signal was already aborted");
  }
  s->reason = e;
  st_rel(&s->aborted, 1);
  /* Take the bound tasks out under the lock, cancel them outside it (a
   * cancel ends the task, and ending unbinds it under this lock). */
  size_t n = 0;
  for (errand__task *t = s->bound; t; t = errand__task_aux(t)->sig_next)
    n++;
  errand__task **ts = n ? errand__malloc(n * sizeof *ts) : NULL;
  size_t k = 0;
  for (errand__task *t = s->bound; t; t = errand__task_aux(t)->sig_next) {
    /* Mark every bound task (reason first) before anyone can see the
     * abort: a worker about to start one then fails its start CAS and
     * cancels it instead, with this reason. */
    errand__task_request_cancel(t, e->code, e->message);
    if (ts) {
      errand__ref_inc(t);
      ts[k++] = t;
    }
  }
  errand__sig_listener *head = s->listeners;
  pthread_mutex_unlock(&s->mu);
  if (n && !ts) {
    /* No memory for the list: cancel under the lock's protection instead,
     * one at a time, restarting after each (each cancel may unlink). */
    for (;;) {
      pthread_mutex_lock(&s->mu);
      errand__task *t = s->bound;
      while (t && st_status(ld_acq(&t->state)) != ERRAND_STATUS_WAITING_TO_RUN)
        t = errand__task_aux(t)->sig_next;
      if (t)
        errand__ref_inc(t);
      else /* only running ones left: wake their sleeps and waits */
        for (errand__task *r = s->bound; r; r = errand__task_aux(r)->sig_next)
          errand__fire_cancel(r);
      pthread_mutex_unlock(&s->mu);
      if (!t)
        break;
      errand__task_cancel(t, e->code, e->message);
      errand__task_unref(t);
    }
  }
  for (size_t i = 0; i < k; i++) {
    errand__task_cancel(ts[i], e->code, e->message);
    errand__task_unref(ts[i]);
  }
  free(ts);
  fire(s, head, SIG_ABORT, e->code, e->message, 0, 0);
  return 0;
}

static bool pick_bound(void *arg, errand__node *n) {
  errand__task *t = container_of(n, errand__task, node);
  errand__aux *aux = errand__task_aux(t);
  return aux && aux->signal == arg && !(ld_rlx(&t->state) & ST_FIXED);
}

int errand_controller_set_priority(errand_controller *h,
                                   errand_priority priority) {
  int rc;
  errand__controller *c = controller_get(h, &rc);
  if (!c)
    return rc;
  if (priority < ERRAND_PRIORITY_USER_BLOCKING ||
      priority > ERRAND_PRIORITY_BACKGROUND)
    return errand__err(ERRAND_E_INVALID, "priority %d is not a level",
                       (int)priority);
  errand__signal *s = c->sig;
  unsigned level = (unsigned)priority - 1u;
  pthread_mutex_lock(&s->mu);
  if (ld_acq(&s->aborted)) {
    pthread_mutex_unlock(&s->mu);
    return errand__err(ERRAND_E_STATE, "the signal was aborted");
  }
  unsigned prev = ld_rlx(&s->level);
  if (prev == level) {
    pthread_mutex_unlock(&s->mu);
    return 0;
  }
  st_rel(&s->level, level);
  errand__sched *scheds[8];
  size_t nsched = 0;
  for (errand__task *t = s->bound; t; t = errand__task_aux(t)->sig_next) {
    if (ld_acq(&t->state) & ST_FIXED)
      continue;
    /* Level and natural level both follow the signal. */
    uint32_t st = errand__task_set_level_bits(t, level, true);
    if (st_status(st) != ERRAND_STATUS_WAITING_TO_RUN)
      continue;
    if (errand__task_aux(t)->loop) {
      errand__task_hooks.loop_relevel(t);
      continue;
    }
    errand__sched *sc = t->rt->sched;
    size_t i = 0;
    while (i < nsched && scheds[i] != sc)
      i++;
    if (i == nsched) {
      if (nsched < 8)
        scheds[nsched++] = sc;
      else
        errand__sched_requeue(sc, pick_bound, s, level);
    }
  }
  for (size_t i = 0; i < nsched; i++)
    errand__sched_requeue(scheds[i], pick_bound, s, level);
  errand__sig_listener *head = s->listeners;
  pthread_mutex_unlock(&s->mu);
  fire(s, head, SIG_PRIORITY, 0, NULL, prev, level);
  return 0;
}

/* ---- signals ---- */

int errand_signal_retain(errand_signal *h) {
  int code;
  void *obj;
  if (!errand__ref_inc_checked(&errand__signal_table, h, &obj, &code))
    return errand__err(code, "signal handle is NULL, released or not a signal");
  return 0;
}

int errand_signal_release(errand_signal *h) {
  if (!h)
    return 0;
  int code;
  errand__signal *s = errand__signal_get(h, &code);
  if (!s)
    return code;
  errand__signal_unref(s);
  return 0;
}

int errand_signal_priority(errand_signal *h, errand_priority *out) {
  int code;
  errand__signal *s = errand__signal_get(h, &code);
  if (!s)
    return code;
  if (!out)
    return errand__err(ERRAND_E_INVALID, "out is NULL");
  *out = (errand_priority)(ld_acq(&s->level) + 1);
  return 0;
}

int errand_signal_aborted(errand_signal *h, int *out) {
  int code;
  errand__signal *s = errand__signal_get(h, &code);
  if (!s)
    return code;
  if (!out)
    return errand__err(ERRAND_E_INVALID, "out is NULL");
  *out = ld_acq(&s->aborted) ? 1 : 0;
  return 0;
}

int errand_signal_reason(errand_signal *h, int *code, const char **message) {
  int rc;
  errand__signal *s = errand__signal_get(h, &rc);
  if (!s)
    return rc;
  if (!ld_acq(&s->aborted))
    return errand__err(ERRAND_E_STATE, "the signal is not aborted");
  if (code)
    *code = s->reason->code;
  if (message)
    *message = s->reason->message;
  return 0;
}
