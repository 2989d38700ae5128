/*
 * events.c — events a running task emits, delivered to subscribers.
 *
 * A subscriber is a listener of kind LISTEN_EVENT on the task.  Emitting
 * walks the listeners under the task's stripe lock and queues one copy of
 * the event per loop subscriber, so each loop sees the task's events in
 * emit order; completion callbacks are queued later (when the task ends),
 * so they come after every event on the same loop.
 */
#include "loop/loop_int.h"

#include <stdlib.h>
#include <string.h>

typedef struct sub {
  errand__listener lis;
  errand__loop *loop; /* one reference, or NULL: call on the emitter */
  errand_event_fn fn;
  void *arg;
} sub;

typedef struct ev_item {
  errand__item it;
  errand__task *t; /* one reference */
  errand__loop *loop;
  errand_event_fn fn;
  void *arg;
  size_t len;
  char *name;
  char data[];
} ev_item;

static void ev_drop(errand__item *it) {
  ev_item *e = container_of(it, ev_item, it);
  errand__task_unref(e->t);
  free(e);
}

static void ev_run(errand__item *it) {
  ev_item *e = container_of(it, ev_item, it);
  e->fn(errand__task_handle(e->t), e->name, e->len ? e->data : NULL, e->len,
        e->arg);
  ev_drop(it);
}

/* Under the stripe lock: queue for loops, collect the direct ones. */
static bool on_event(errand__listener *l, errand__task *t, const char *name,
                     const void *data, size_t len) {
  sub *s = container_of(l, sub, lis);
  if (!s->loop)
    return true; /* called after the lock is released, see emit */
  size_t nl = strlen(name);
  ev_item *e = errand__malloc(sizeof *e + len + nl + 1);
  if (!e)
    return false; /* no memory: this subscriber misses it, emit says so */
  e->it.run = ev_run;
  e->it.drop = ev_drop;
  errand__ref_inc(t);
  e->t = t;
  e->fn = s->fn;
  e->arg = s->arg;
  e->len = len;
  if (len)
    memcpy(e->data, data, len);
  e->name = e->data + len;
  memcpy(e->name, name, nl + 1);
  errand__loop_push(s->loop, &e->it);
  return true;
}

static void sub_free(sub *s) {
  if (s->loop)
    errand__loop_unref(s->loop);
  free(s);
}

static void sub_fire(errand__listener *l, errand__task *t) {
  (void)t;
  sub_free(container_of(l, sub, lis));
}

static sub *sub_new(errand__loop *l, errand_event_fn fn, void *arg) {
  sub *s = errand__calloc(1, sizeof *s);
  if (!s)
    return NULL;
  if (l)
    errand__ref_inc(l);
  s->loop = l;
  s->fn = fn;
  s->arg = arg;
  s->lis.kinds = LISTEN_COMPLETE | LISTEN_EVENT;
  s->lis.fire = sub_fire; /* at the end: frees it */
  s->lis.event = on_event;
  return s;
}

static void sub_attach(errand__task *t, sub *s) {
  if (!errand__listen(t, &s->lis))
    sub_fire(&s->lis, t); /* already final: no event will come */
}

int errand__subscribe(errand__task *t, errand__loop *l, errand_event_fn fn,
                      void *arg) {
  sub *s = sub_new(l, fn, arg);
  if (!s)
    return errand__err(ERRAND_E_NOMEM, "no memory for a subscriber");
  sub_attach(t, s);
  return 0;
}

static void attach_prepared(errand__task *t, void *ctx) { sub_attach(t, ctx); }

int errand__post_subscription(const errand_post_options *o,
                              errand__post_target *tg) {
  if (!o->on_event)
    return 0;
  errand__loop_init();
  int rc;
  errand__loop *el = NULL;
  if (o->event_loop && !(el = errand__loop_get(o->event_loop, &rc)))
    return errand__err(rc, "event_loop: %s", errand_last_error());
  /* Made now, while the post can still fail cleanly: once the task is
   * built nothing may fail, or an emit would find no subscriber. */
  sub *s = sub_new(el, o->on_event, o->event_arg);
  if (!s)
    return errand__err(ERRAND_E_NOMEM, "no memory for the on_event subscriber");
  tg->before = attach_prepared;
  tg->before_ctx = s;
  return 0;
}

void errand__post_subscription_drop(errand__post_target *tg) {
  if (tg->before == attach_prepared) {
    sub_free(tg->before_ctx);
    tg->before = NULL;
    tg->before_ctx = NULL;
  }
}

int errand_task_on_event(errand_task *th, errand_loop *lh, errand_event_fn fn,
                         void *arg) {
  errand__loop_init();
  int code;
  errand__task *t = errand__task_get(th, &code);
  if (!t)
    return code;
  if (!fn)
    return errand__err(ERRAND_E_INVALID, "fn is NULL");
  errand__loop *l = NULL;
  if (lh && !(l = errand__loop_get(lh, &code)))
    return code;
  return errand__subscribe(t, l, fn, arg);
}

int errand_task_emit(errand_task *h, const char *name, const void *data,
                     size_t len) {
  int code;
  errand__task *t = errand__task_get(h, &code);
  if (!t)
    return code;
  if (errand__task_current_rec() != t)
    return errand__err(ERRAND_E_WRONG_THREAD,
                       "only task %llu's own function may emit its events",
                       (unsigned long long)t->id);
  return errand__task_emit_any(t, name, data, len);
}

int errand__task_emit_any(errand__task *t, const char *name, const void *data,
                          size_t len) {
  errand_task *h = errand__task_handle(t);
  if (!name)
    return errand__err(ERRAND_E_INVALID, "name is NULL");
  if (len && !data)
    return errand__err(ERRAND_E_INVALID, "data is NULL with len %zu", len);
  if (!(ld_acq(&t->state) & ST_LISTENERS))
    return 0; /* nobody listens */
  pthread_mutex_t *m = errand__task_stripe(t);
  pthread_mutex_lock(m);
  errand__listener *head = errand__task_cold_of(t)->listeners;
  size_t n = 0;
  for (errand__listener *l = head; l; l = l->next)
    n += (l->kinds & LISTEN_EVENT) != 0;
  errand__listener *small[16];
  errand__listener **ls = n <= 16 ? small : errand__malloc(n * sizeof *ls);
  if (!ls) {
    pthread_mutex_unlock(m);
    return errand__err(ERRAND_E_NOMEM, "no memory to deliver an event");
  }
  size_t k = 0;
  for (errand__listener *l = head; l; l = l->next)
    if (l->kinds & LISTEN_EVENT)
      ls[k++] = l;
  /* The list is newest first: queue for the oldest subscriber first, and
   * keep the direct ones (in the same order) for after the unlock. */
  size_t nd = 0, missed = 0;
  for (size_t i = n; i-- > 0;) {
    if (container_of(ls[i], sub, lis)->loop) {
      if (!ls[i]->event(ls[i], t, name, data, len))
        missed++;
    } else
      ls[nd++] = ls[i];
  }
  pthread_mutex_unlock(m);
  /* Direct subscribers stay listed until the task ends, which cannot
   * happen while its own function is emitting. */
  for (size_t i = 0; i < nd; i++) {
    sub *s = container_of(ls[i], sub, lis);
    s->fn(h, name, data, len, s->arg);
  }
  if (ls != small)
    free(ls);
  if (missed)
    return errand__err(ERRAND_E_NOMEM,
                       "no memory to queue event %s for %zu subscriber(s)",
                       name, missed);
  return 0;
}
