/*
 * addon_int.h — shared state and helpers of errand's Node addon.
 *
 * One `addon` per Node environment (the main thread and each worker_thread
 * get their own): one errand runtime, one registry of C handlers, and one
 * errand loop owned by the JS thread whose descriptor is watched by a
 * uv_poll handle on Node's own event loop.  Everything errand delivers to
 * JavaScript (completions, job events, loop tasks) runs from that poll
 * callback, on the JS thread, and reaches JS through three dispatcher
 * functions registered once by lib/native.js (onLoopTask, onDone, onEvent)
 * with a plain integer key: no per-task napi references, so nothing of
 * Node's has to be freed from an errand thread.
 *
 * The addon uses only include/errand.h (no src/ internals).
 */
#ifndef ERRAND_NODE_ADDON_INT_H
#define ERRAND_NODE_ADDON_INT_H

#define NAPI_VERSION 8
#include <node_api.h>
#include <uv.h>

#include <errand.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct addon_pool addon_pool;

typedef struct addon {
  napi_env env;
  errand_runtime *rt;
  errand_jobs *jobs;
  errand_loop *loop;
  uv_poll_t *poll;     /* watches errand_loop_fd(loop) */
  int64_t outstanding; /* completions still to deliver: keeps Node alive */
  napi_ref on_loop_task, on_done, on_event; /* set by setup() */
  napi_ref resource; /* async resource for callback scopes */
  napi_async_context actx;
  napi_async_cleanup_hook_handle cleanup;
  addon_pool *pools; /* live procpools, destroyed at env cleanup */
  bool closing;
} addon;

/* ---- util.c ---- */

/* Every napi call that "cannot fail" still gets checked: on failure a
 * generic error is thrown (unless one is pending) and NULL returned. */
#define NAPI_OK(env, call)                                                     \
  do {                                                                         \
    if ((call) != napi_ok) {                                                   \
      addon_throw_napi_failure(env, #call);                                    \
      return NULL;                                                             \
    }                                                                          \
  } while (0)

void addon_throw_napi_failure(napi_env env, const char *what);
/* Throws an Error for errand code rc: message = errand_last_error() (or
 * errand_strerror(rc)), .code = errand_errname(rc), .errno = rc.  Returns
 * NULL so callers can `return addon_throw_errand(env, rc, prefix);`. */
napi_value addon_throw_errand(napi_env env, int rc, const char *prefix);
/* Builds (does not throw) an Error with the given code and message. */
napi_value addon_make_error(napi_env env, int rc, const char *message);

/* The addon of a JS call, with its arguments in argv (argc in: room, out:
 * how many were passed); throws ERRAND_E_SHUTDOWN and returns NULL once the
 * addon is closing, so no export touches a runtime being torn down. */
addon *addon_args(napi_env env, napi_callback_info info, size_t *argc,
                  napi_value *argv);
/* The prologue of an export taking n arguments: argv[0..n) (NULL where not
 * passed) and `a`, or return NULL with the exception pending. */
#define ADDON_ARGS(n)                                                          \
  size_t argc = (n);                                                           \
  napi_value argv[(n) > 0 ? (n) : 1];                                          \
  for (size_t i_ = 0; i_ < (n); i_++)                                          \
    argv[i_] = NULL;                                                           \
  addon *a = addon_args(env, info, &argc, argv);                               \
  if (!a)                                                                      \
    return NULL;                                                               \
  (void)a;

/* Argument helpers: each throws a TypeError naming `what` and returns false
 * when the value has the wrong type. */
bool addon_get_string(napi_env env, napi_value v, const char *what,
                      char **out); /* malloc'ed */
bool addon_get_int64(napi_env env, napi_value v, const char *what,
                     int64_t *out);
bool addon_get_optional_int64(napi_env env, napi_value obj, const char *key,
                              int64_t *out); /* absent/undefined: untouched */
bool addon_get_function(napi_env env, napi_value v, const char *what);
bool addon_is_nullish(napi_env env, napi_value v);

napi_value addon_undefined(napi_env env);
napi_value addon_bool(napi_env env, bool b);
napi_value addon_number(napi_env env, double d);
napi_value addon_string(napi_env env, const char *s, size_t len);

/* Calls one of the registered dispatchers with argc args; a JS exception
 * becomes an uncaught exception of the process (napi_fatal_exception), as
 * an exception in any other Node callback would. */
napi_value addon_call(addon *a, napi_ref fn, size_t argc, napi_value *argv);

/* ---- addon.c: the loop bridge and the keep-alive count ---- */
void addon_hold(addon *a);    /* one more completion to wait for */
void addon_release(addon *a); /* it was delivered */
/* The addon whose loop is being run on this thread (set while the uv poll
 * callback runs errand_loop_run_pending), else NULL. */
addon *addon_current(void);

/* The completion delivery of watch() and loopPost(): calls onDone(key,
 * status, json, code, message) and drops the keep-alive hold. */
void addon_then_cb(errand_task *t, void *arg);

/* ---- handles: type-tagged wrapped objects ---- */
typedef struct task_wrap {
  errand_task *t; /* NULL once released (Data(), release()) */
  int busy;       /* inside Pending(): must not be released meanwhile */
} task_wrap;

typedef struct ctrl_wrap {
  errand_controller *c;
  errand_signal *s;
  int changed; /* set by the priority-change listener */
  errand_priority prev, cur;
} ctrl_wrap;

struct addon_pool {
  errand_procpool *p; /* NULL once destroyed */
  addon *a;           /* NULL once unlinked at env cleanup */
  addon_pool *prev, *next;
};

napi_value addon_wrap_task(napi_env env, errand_task *t);
/* The live errand task of a task handle; throws (TypeError for a value that
 * is not a task handle, Error for a released one) and returns NULL. */
errand_task *addon_get_task(napi_env env, napi_value v, task_wrap **wrap);
ctrl_wrap *addon_get_ctrl(napi_env env, napi_value v);
addon_pool *addon_get_pool(napi_env env, napi_value v);

/* ---- exported functions, by file ---- */
napi_value addon_init_tasks(napi_env env, napi_value exports, addon *a);
napi_value addon_init_sched(napi_env env, napi_value exports, addon *a);
napi_value addon_init_pools(napi_env env, napi_value exports, addon *a);
void addon_destroy_pools(addon *a);
int addon_register_demo_handlers(errand_jobs *jobs);

#endif
