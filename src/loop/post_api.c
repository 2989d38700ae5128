/*
 * post_api.c — errand_post and errand_post_batch: the public post calls
 * live here, in the first layer that knows every option they take
 * (signals, and event subscriptions made before the task can run).
 */
#include "loop/loop_int.h"

int errand_post(errand_runtime *h, errand_fn fn, void *arg,
                const errand_post_options *opts, errand_task **out) {
  if (!opts && fn) {
    /* The common post (every fork in fork-join): nothing to check,
     * subscribe or bind. */
    errand__rt *rt;
    int rc = errand__rt_for_post(h, &rt);
    return rc ? rc : errand__task_post_plain(rt, fn, arg, out);
  }
  return errand__post_ext(h, fn, arg, opts, NULL, NULL, false, out);
}

int errand__post_ext(errand_runtime *h, errand_fn fn, void *arg,
                     const errand_post_options *opts, void *ext,
                     void (*ext_free)(void *), bool run_here,
                     errand_task **out) {
  static const errand_post_options defaults;
  const errand_post_options *o = opts ? opts : &defaults;
  errand__signal_init();
  if (!fn)
    return errand__err(ERRAND_E_INVALID, "fn is NULL");
  int rc = errand__check_post_options(o);
  if (rc)
    return rc;
  /* Set when errand__rt_for_post succeeds; gcc -O3 with LTO cannot tell. */
  errand__rt *rt = NULL;
  if ((rc = errand__rt_for_post(h, &rt)))
    return rc;
  errand__post_target tg = {
      .ext = ext, .ext_free = ext_free, .run_here = run_here};
  if ((rc = errand__post_subscription(o, &tg)))
    return rc;
  errand__signal *s = NULL;
  if (o->signal) {
    if (!(s = errand__signal_get(o->signal, &rc))) {
      errand__post_subscription_drop(&tg);
      return errand__err(rc, "signal: %s", errand_last_error());
    }
    errand__ref_inc(s); /* the task's */
    tg.signal = s;
    tg.signal_level = ld_acq(&s->level);
  }
  rc = errand__task_post(rt, fn, arg, o,
                         s || ext || run_here || o->on_event ? &tg : NULL, out);
  if (rc) {
    errand__post_subscription_drop(&tg);
    if (s)
      errand__signal_unref(s);
  }
  return rc;
}

int errand_post_batch(errand_runtime *h, errand_fn fn, void *const *args,
                      size_t n, const errand_post_options *opts,
                      errand_task **out) {
  static const errand_post_options defaults;
  const errand_post_options *o = opts ? opts : &defaults;
  errand__signal_init();
  if (!fn)
    return errand__err(ERRAND_E_INVALID, "fn is NULL");
  if (n && !args)
    return errand__err(ERRAND_E_INVALID, "args is NULL");
  int rc = errand__check_post_options(o);
  if (rc)
    return rc;
  if (o->signal || o->on_event)
    return errand__err(ERRAND_E_INVALID,
                       "errand_post_batch takes neither a signal nor "
                       "on_event: post those tasks one by one");
  errand__rt *rt;
  if ((rc = errand__rt_for_post(h, &rt)))
    return rc;
  return errand__task_post_batch(rt, fn, args, n, o, out);
}
