/*
 * loop_post.c — a loop as an executor (seed 004's main-thread scheduler):
 * tasks that run on the loop's thread, with priorities, delays and signals.
 */
#include "loop/loop_int.h"

int errand_loop_post(errand_loop *lh, errand_fn fn, void *arg,
                     const errand_post_options *opts, errand_task **out) {
  static const errand_post_options defaults;
  const errand_post_options *o = opts ? opts : &defaults;
  errand__loop_init();
  int rc;
  errand__loop *l = errand__loop_get(lh, &rc);
  if (!l)
    return rc;
  if (!fn)
    return errand__err(ERRAND_E_INVALID, "fn is NULL");
  if ((rc = errand__check_post_options(o)))
    return rc;
  if (o->mode != ERRAND_MODE_POOL)
    return errand__err(ERRAND_E_INVALID,
                       "a loop task runs on its loop: mode must be 0");
  if (o->parent)
    return errand__err(ERRAND_E_INVALID, "a loop task cannot have a parent");
  errand__rt *rt = l->rt;
  if (ld_acq(&rt->phase) != RT_RUNNING)
    return errand__err(ERRAND_E_SHUTDOWN, "the runtime is shutting down");
  errand__post_target tg = {.loop = l};
  if ((rc = errand__post_subscription(o, &tg)))
    return rc;
  errand__signal *s = NULL;
  if (o->signal) {
    if (!(s = errand__signal_get(o->signal, &rc))) {
      errand__post_subscription_drop(&tg);
      return errand__err(rc, "signal: %s", errand_last_error());
    }
    errand__ref_inc(s);
    tg.signal = s;
    tg.signal_level = ld_acq(&s->level);
  }
  errand__ref_inc(l); /* the task's, dropped when it ends */
  rc = errand__task_post(rt, fn, arg, o, &tg, out);
  if (rc) {
    errand__post_subscription_drop(&tg);
    errand__loop_unref(l);
    if (s)
      errand__signal_unref(s);
  }
  return rc;
}
