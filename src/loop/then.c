/*
 * then.c — continuations: run something once a task is final, on a loop
 * or on the pool.
 *
 * A continuation is a completion listener that owns itself: when the task
 * ends it is either queued on its loop as a delivery or posted to the pool
 * as an internal task, and it holds a reference to the task (so the
 * callback can read its result) until it has run or been dropped.
 */
#include "loop/loop_int.h"

#include <stdlib.h>

typedef struct cont {
  errand__listener lis;
  errand__item it;
  errand__task *t;    /* one reference */
  errand__loop *loop; /* one reference, or NULL for the pool */
  errand_then_fn then_fn;
  errand_callback_fn cb_fn;
  void *arg;
  void (*drop_arg)(void *arg); /* when dropped without running */
  errand__task *pool_task;     /* loop NULL: built ahead, run at the end */
} cont;

static void cont_free(cont *c) {
  errand__task_unref(c->t);
  if (c->loop)
    errand__loop_unref(c->loop);
  free(c);
}

static void cont_call(cont *c) {
  errand_task *h = errand__task_handle(c->t);
  if (c->then_fn) {
    c->then_fn(h, c->arg);
    return;
  }
  unsigned st = st_status(ld_acq(&c->t->state));
  if (st == ERRAND_STATUS_RAN_TO_COMPLETION) {
    c->cb_fn(0, NULL, errand__task_cold_of(c->t)->result, c->arg);
    return;
  }
  errand__error *e = ld_acq(&errand__task_cold_of(c->t)->err);
  int code =
      e ? e->code
        : (st == ERRAND_STATUS_CANCELED ? ERRAND_E_CANCELED : ERRAND_E_FAILED);
  c->cb_fn(code ? code : ERRAND_E_FAILED,
           e ? e->message : errand_strerror(code), NULL, c->arg);
}

static void item_run(errand__item *it) {
  cont *c = container_of(it, cont, it);
  cont_call(c);
  cont_free(c);
}

static void item_drop(errand__item *it) {
  cont *c = container_of(it, cont, it);
  if (c->drop_arg)
    c->drop_arg(c->arg);
  cont_free(c);
}

static int pool_run(errand_task *self, void *arg) {
  (void)self;
  cont *c = arg;
  cont_call(c);
  cont_free(c);
  return 0;
}

static void dispatch(cont *c) {
  if (c->loop) {
    errand__loop_push(c->loop, &c->it);
    return;
  }
  /* The task is final but its runtime still counts it as running until
   * this returns, so the runtime is alive to take the post. */
  errand__internal_schedule(c->pool_task);
}

static void fire(errand__listener *l, errand__task *t) {
  (void)t;
  dispatch(container_of(l, cont, lis));
}

static int add_rec(errand__task *t, errand__loop *l, errand_then_fn then_fn,
                   errand_callback_fn cb_fn, void *arg,
                   void (*drop_arg)(void *)) {
  cont *c = errand__calloc(1, sizeof *c);
  if (!c)
    return errand__err(ERRAND_E_NOMEM, "no memory for a continuation");
  errand__ref_inc(t);
  c->t = t;
  if (l)
    errand__ref_inc(l);
  c->loop = l;
  c->then_fn = then_fn;
  c->cb_fn = cb_fn;
  c->arg = arg;
  c->drop_arg = drop_arg;
  c->it.run = item_run;
  c->it.drop = item_drop;
  c->lis.kinds = LISTEN_COMPLETE;
  c->lis.fire = fire;
  if (!l && !st_final(ld_acq(&t->state))) {
    /* Not final, so its runtime is alive to build the task in. */
    c->pool_task = errand__internal_prepare(t->rt, pool_run, c);
    if (!c->pool_task) {
      cont_free(c);
      return errand__err(ERRAND_E_NOMEM, "no memory for a continuation");
    }
  }
  if (errand__listen(t, &c->lis))
    return 0;
  if (c->pool_task)
    errand__internal_discard(c->pool_task);
  /* Already final.  Its runtime may be gone, so without a loop the
   * callback runs here and now.  On a loop, queue it once the completer
   * has queued the continuations registered before it became final. */
  if (l) {
    errand__wait_dispatched(t);
    errand__loop_push(l, &c->it);
  } else {
    cont_call(c);
    cont_free(c);
  }
  return 0;
}

int errand__task_then_ex(errand__task *t, errand__loop *l, errand_then_fn fn,
                         void *arg, void (*drop_arg)(void *)) {
  return add_rec(t, l, fn, NULL, arg, drop_arg);
}

static int add(errand_task *th, errand_loop *lh, errand_then_fn then_fn,
               errand_callback_fn cb_fn, void *arg) {
  errand__loop_init();
  int code;
  errand__task *t = errand__task_get(th, &code);
  if (!t)
    return code;
  if (!then_fn && !cb_fn)
    return errand__err(ERRAND_E_INVALID, "callback is NULL");
  errand__loop *l = NULL;
  if (lh && !(l = errand__loop_get(lh, &code)))
    return code;
  return add_rec(t, l, then_fn, cb_fn, arg, NULL);
}

int errand_task_then(errand_task *t, errand_loop *loop, errand_then_fn fn,
                     void *arg) {
  if (!fn)
    return errand__err(ERRAND_E_INVALID, "fn is NULL");
  return add(t, loop, fn, NULL, arg);
}

int errand_task_callback(errand_task *t, errand_loop *loop,
                         errand_callback_fn cb, void *arg) {
  if (!cb)
    return errand__err(ERRAND_E_INVALID, "cb is NULL");
  return add(t, loop, NULL, cb, arg);
}
