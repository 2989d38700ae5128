/*
 * sched.c — seed 004 on the JS thread: loop tasks, controllers, signals.
 *
 * scheduler.postTask posts a loop task (errand_loop_post) to the addon's
 * loop: errand orders the callbacks (priority, then FIFO; delays on its
 * timer; a signal's priority followed while queued; abort cancels queued
 * ones), and the task runs on the JS thread from the uv poll callback,
 * where it calls the onLoopTask dispatcher with its key.
 *
 * A TaskController is an errand controller.  Its priority-change listener
 * is registered with loop NULL, so errand calls it synchronously inside
 * errand_controller_set_priority, on the JS thread that called setPriority:
 * it records (previous, new) and the JS side dispatches the prioritychange
 * event before setPriority returns, as the Prioritized Task Scheduling spec
 * fires it.  Only the controller can change the priority, and the listener
 * state lives as long as the controller's wrapper, so the listener can
 * never see freed state.
 */
#include "addon_int.h"

#include <stdlib.h>
#include <string.h>

static const napi_type_tag ctrl_tag = {0x6572726e64637431ull,
                                       0x41f0c2d9e8b7a653ull};

static bool get_priority(napi_env env, napi_value v, errand_priority *out) {
  int64_t p = 0;
  if (!addon_is_nullish(env, v) && !addon_get_int64(env, v, "priority", &p))
    return false;
  if (p < 0 || p > 3) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE",
                           "priority must be 0 (default) to 3");
    return false;
  }
  *out = (errand_priority)p;
  return true;
}

/* ---- controllers ---- */

static void ctrl_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  ctrl_wrap *w = data;
  errand_signal_release(w->s);
  errand_controller_release(w->c);
  free(w);
}

ctrl_wrap *addon_get_ctrl(napi_env env, napi_value v) {
  napi_valuetype type;
  bool tagged = false;
  void *data = NULL;
  if (!v || napi_typeof(env, v, &type) != napi_ok || type != napi_object ||
      napi_check_object_type_tag(env, v, &ctrl_tag, &tagged) != napi_ok ||
      !tagged || napi_unwrap(env, v, &data) != napi_ok || !data) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE",
                          "expected an errand controller handle");
    return NULL;
  }
  return data;
}

static void on_priority(errand_signal *s, errand_priority previous,
                        errand_priority current, void *arg) {
  (void)s;
  ctrl_wrap *w = arg;
  w->changed = 1;
  w->prev = previous;
  w->cur = current;
}

static napi_value js_controller_create(napi_env env, napi_callback_info info) {
  ADDON_ARGS(1);
  errand_priority p;
  if (!get_priority(env, argv[0], &p))
    return NULL;
  ctrl_wrap *w = calloc(1, sizeof *w);
  if (!w) {
    napi_throw_error(env, "ERRAND_E_NOMEM", "out of memory");
    return NULL;
  }
  int rc = errand_controller_create(p, &w->c);
  if (!rc)
    rc = errand_controller_signal(w->c, &w->s);
  if (!rc)
    rc = errand_signal_on_priority_change(w->s, NULL, on_priority, w);
  if (rc) {
    addon_throw_errand(env, rc, "TaskController");
    errand_signal_release(w->s);
    errand_controller_release(w->c);
    free(w);
    return NULL;
  }
  napi_value obj;
  if (napi_create_object(env, &obj) != napi_ok ||
      napi_wrap(env, obj, w, ctrl_finalize, NULL, NULL) != napi_ok) {
    ctrl_finalize(env, w, NULL);
    addon_throw_napi_failure(env, "napi_wrap");
    return NULL;
  }
  napi_type_tag_object(env, obj, &ctrl_tag);
  return obj;
}

/* controllerAbort(c, reason) -> true, or false if it was already aborted */
static napi_value js_controller_abort(napi_env env, napi_callback_info info) {
  ADDON_ARGS(2);
  ctrl_wrap *w = addon_get_ctrl(env, argv[0]);
  if (!w)
    return NULL;
  char *reason = NULL;
  if (!addon_is_nullish(env, argv[1]) &&
      !addon_get_string(env, argv[1], "reason", &reason))
    return NULL;
  int rc = errand_controller_abort(w->c, ERRAND_E_CANCELED, reason);
  free(reason);
  if (rc == ERRAND_E_STATE)
    return addon_bool(env, false);
  if (rc)
    return addon_throw_errand(env, rc, "abort");
  return addon_bool(env, true);
}

/* controllerSetPriority(c, p) -> [previous, current] when errand reported a
 * change, null when it did not (same priority, or signal aborted). */
static napi_value js_controller_set_priority(napi_env env,
                                             napi_callback_info info) {
  ADDON_ARGS(2);
  ctrl_wrap *w = addon_get_ctrl(env, argv[0]);
  errand_priority p;
  if (!w || !get_priority(env, argv[1], &p))
    return NULL;
  if (p == ERRAND_PRIORITY_DEFAULT) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE",
                           "priority must be 1 (user-blocking) to 3");
    return NULL;
  }
  w->changed = 0;
  int rc = errand_controller_set_priority(w->c, p);
  if (rc && rc != ERRAND_E_STATE)
    return addon_throw_errand(env, rc, "setPriority");
  if (!w->changed) {
    napi_value nul;
    napi_get_null(env, &nul);
    return nul;
  }
  napi_value arr;
  NAPI_OK(env, napi_create_array_with_length(env, 2, &arr));
  napi_set_element(env, arr, 0, addon_number(env, w->prev));
  napi_set_element(env, arr, 1, addon_number(env, w->cur));
  return arr;
}

static napi_value js_controller_priority(napi_env env,
                                         napi_callback_info info) {
  ADDON_ARGS(1);
  ctrl_wrap *w = addon_get_ctrl(env, argv[0]);
  if (!w)
    return NULL;
  errand_priority p = 0;
  int rc = errand_signal_priority(w->s, &p);
  if (rc)
    return addon_throw_errand(env, rc, "priority");
  return addon_number(env, p);
}

/* ---- loop tasks ---- */

static int loop_task_fn(errand_task *self, void *arg) {
  addon *a = addon_current();
  if (!a)
    return errand_task_fail(self, ERRAND_E_STATE, "no JavaScript thread");
  napi_value argv[1];
  argv[0] = addon_number(a->env, (double)(uintptr_t)arg);
  napi_value r = addon_call(a, a->on_loop_task, 1, argv);
  bool ok = false;
  if (r)
    napi_get_value_bool(a->env, r, &ok);
  if (!ok) /* the callback threw: the JS side keeps the exception */
    return errand_task_fail(self, ERRAND_E_FAILED, "the callback threw");
  return 0;
}

/* loopPost(key, priority, delayMs, controller|null) */
static napi_value js_loop_post(napi_env env, napi_callback_info info) {
  ADDON_ARGS(4);
  int64_t key = 0, delay = 0;
  errand_priority p;
  if (!addon_get_int64(env, argv[0], "key", &key) ||
      !get_priority(env, argv[1], &p))
    return NULL;
  if (!addon_is_nullish(env, argv[2]) &&
      !addon_get_int64(env, argv[2], "delay", &delay))
    return NULL;
  if (key <= 0) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "key must be positive");
    return NULL;
  }
  if (delay < 0)
    delay = 0;
  errand_post_options o;
  memset(&o, 0, sizeof o);
  o.priority = p;
  o.delay_ms = delay;
  if (!addon_is_nullish(env, argv[3])) {
    ctrl_wrap *w = addon_get_ctrl(env, argv[3]);
    if (!w)
      return NULL;
    o.signal = w->s;
  }
  errand_task *t = NULL;
  int rc =
      errand_loop_post(a->loop, loop_task_fn, (void *)(uintptr_t)key, &o, &t);
  if (rc)
    return addon_throw_errand(env, rc, "postTask");
  rc = errand_task_then(t, a->loop, addon_then_cb, (void *)(uintptr_t)key);
  if (rc) {
    errand_task_cancel(t);
    errand_task_release(t);
    return addon_throw_errand(env, rc, "postTask");
  }
  errand_task_release(t);
  addon_hold(a);
  return addon_undefined(env);
}

napi_value addon_init_sched(napi_env env, napi_value exports, addon *a) {
  napi_property_descriptor props[] = {
      {"loopPost", NULL, js_loop_post, NULL, NULL, NULL, napi_default, a},
      {"controllerCreate", NULL, js_controller_create, NULL, NULL, NULL,
       napi_default, a},
      {"controllerAbort", NULL, js_controller_abort, NULL, NULL, NULL,
       napi_default, a},
      {"controllerSetPriority", NULL, js_controller_set_priority, NULL, NULL,
       NULL, napi_default, a},
      {"controllerPriority", NULL, js_controller_priority, NULL, NULL, NULL,
       napi_default, a},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
