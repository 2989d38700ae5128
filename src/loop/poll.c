/*
 * poll.c — seed 000's Pending: call a function on a loop every interval
 * while a task runs.
 *
 * One poller rides the runtime's timer thread: each tick queues it on the
 * loop, the owner calls the function, and only then is the next tick armed,
 * so ticks never pile up behind a slow callback.
 */
#include "loop/loop_int.h"

#include <stdlib.h>

typedef struct poller {
  errand__item it;
  errand__task *t;    /* one reference */
  errand__loop *loop; /* one reference */
  int64_t interval_ms;
  errand_poll_fn fn;
  void *arg;
} poller;

static void poller_free(poller *p) {
  errand__task_unref(p->t);
  errand__loop_unref(p->loop);
  free(p);
}

static void tick(void *ctx, uint64_t tag);

static bool arm(poller *p) {
  if (st_final(ld_acq(&p->t->state)))
    return false;
  /* The task is not final, so its runtime is alive (and a loop keeps its
   * runtime from being destroyed). */
  errand__sched *s = p->t->rt->sched;
  if (errand__timer_reserve(s, 1) != 0)
    return false;
  errand__timer_add(s, errand__now_ns() + (uint64_t)p->interval_ms * 1000000u,
                    tick, p, 0, NULL);
  return true;
}

static void item_drop(errand__item *it) {
  poller_free(container_of(it, poller, it));
}

static void item_run(errand__item *it) {
  poller *p = container_of(it, poller, it);
  if (!st_final(ld_acq(&p->t->state)) &&
      p->fn(errand__task_handle(p->t), p->arg) != 0 && arm(p))
    return;
  poller_free(p);
}

static void tick(void *ctx, uint64_t tag) {
  (void)tag;
  poller *p = ctx;
  errand__loop_push(p->loop, &p->it); /* dropped if the loop is closed */
}

int errand_task_poll(errand_task *th, errand_loop *lh, int64_t interval_ms,
                     errand_poll_fn fn, void *arg) {
  errand__loop_init();
  int code;
  errand__task *t = errand__task_get(th, &code);
  if (!t)
    return code;
  if (!fn)
    return errand__err(ERRAND_E_INVALID, "fn is NULL");
  if (interval_ms < 1 || interval_ms > (INT64_C(1) << 40))
    return errand__err(ERRAND_E_INVALID, "interval_ms %lld out of range",
                       (long long)interval_ms);
  errand__loop *l = errand__loop_get(lh, &code);
  if (!l)
    return code;
  poller *p = errand__calloc(1, sizeof *p);
  if (!p)
    return errand__err(ERRAND_E_NOMEM, "no memory for a poller");
  errand__ref_inc(t);
  errand__ref_inc(l);
  p->t = t;
  p->loop = l;
  p->interval_ms = interval_ms;
  p->fn = fn;
  p->arg = arg;
  p->it.run = item_run;
  p->it.drop = item_drop;
  if (!arm(p))
    poller_free(p); /* already final (or no timer): nothing to poll */
  return 0;
}
