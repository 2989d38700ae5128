/*
 * addon.c — the addon's instance, its loop bridge and its shutdown.
 *
 * The one idea: errand's loop is a queue with a readable descriptor, and
 * Node's event loop is libuv, so a uv_poll_t on that descriptor (Node-API
 * gives the uv loop through napi_get_uv_event_loop) is the whole bridge —
 * no helper thread, no threadsafe function.  The poll callback runs
 * errand_loop_run_pending one item at a time, each inside its own callback
 * scope, so process.nextTick and promise jobs run between two items exactly
 * as between two Node callbacks (a postTask callback is a macrotask).
 *
 * Keep-alive: the poll handle is unref'd while nothing is outstanding, so
 * the addon keeps Node's event loop alive only while it has work: a
 * completion, a job's events or a posted callback still to deliver.
 *
 * Shutdown (an async env cleanup hook, so the uv handle closes properly):
 * procpools, then runtime shutdown in cancel mode, then the loop (on its
 * owner, the JS thread), then the runtime.
 */
#include "addon_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static _Thread_local addon *current;

addon *addon_current(void) { return current; }

void addon_hold(addon *a) {
  if (a->outstanding++ == 0 && a->poll)
    uv_ref((uv_handle_t *)a->poll);
}

void addon_release(addon *a) {
  if (a->outstanding > 0 && --a->outstanding == 0 && a->poll)
    uv_unref((uv_handle_t *)a->poll);
}

/* Most items run per wake-up before Node gets control back. */
#define BATCH 64

static void on_readable(uv_poll_t *h, int status, int events) {
  (void)events;
  addon *a = h->data;
  if (status < 0 || !a || a->closing || !a->loop)
    return;
  napi_env env = a->env;
  napi_handle_scope hs;
  if (napi_open_handle_scope(env, &hs) != napi_ok)
    return;
  napi_value resource = NULL;
  napi_get_reference_value(env, a->resource, &resource);
  for (int i = 0; i < BATCH && !a->closing; i++) {
    napi_handle_scope item_hs;
    napi_callback_scope cs;
    int ran = 0;
    if (napi_open_handle_scope(env, &item_hs) != napi_ok)
      break;
    if (napi_open_callback_scope(env, resource, a->actx, &cs) != napi_ok) {
      napi_close_handle_scope(env, item_hs);
      break;
    }
    addon *saved = current;
    current = a;
    errand_loop_run_pending(a->loop, 1, &ran);
    current = saved;
    /* Closing the outermost callback scope runs nextTicks and microtasks. */
    napi_close_callback_scope(env, cs);
    napi_close_handle_scope(env, item_hs);
    if (!ran)
      break;
  }
  napi_close_handle_scope(env, hs);
}

/* ---- shutdown ---- */

static void on_poll_closed(uv_handle_t *h) {
  addon *a = h->data;
  free(h);
  napi_async_cleanup_hook_handle hook = a->cleanup;
  free(a);
  napi_remove_async_cleanup_hook(hook);
}

static void cleanup_hook(napi_async_cleanup_hook_handle hook, void *arg) {
  addon *a = arg;
  (void)hook;
  a->closing = true;
  addon_destroy_pools(a);
  if (a->rt)
    errand_runtime_shutdown(a->rt, ERRAND_SHUTDOWN_CANCEL, 3000);
  if (a->loop)
    errand_loop_destroy(a->loop); /* queued items are dropped, not run */
  a->loop = NULL;
  if (a->rt)
    errand_runtime_destroy(a->rt);
  a->rt = NULL;
  if (a->jobs)
    errand_jobs_release(a->jobs);
  a->jobs = NULL;
  napi_env env = a->env;
  if (a->on_loop_task)
    napi_delete_reference(env, a->on_loop_task);
  if (a->on_done)
    napi_delete_reference(env, a->on_done);
  if (a->on_event)
    napi_delete_reference(env, a->on_event);
  if (a->resource)
    napi_delete_reference(env, a->resource);
  if (a->actx)
    napi_async_destroy(env, a->actx);
  a->on_loop_task = a->on_done = a->on_event = a->resource = NULL;
  a->actx = NULL;
  uv_poll_stop(a->poll);
  uv_close((uv_handle_t *)a->poll, on_poll_closed);
}

/* ---- small exported functions ---- */

/* setup(onLoopTask, onDone, onEvent): the JS dispatchers (lib/native.js). */
static napi_value js_setup(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  addon *a = addon_args(env, info, &argc, argv);
  if (!a)
    return NULL;
  if (argc < 3 || !addon_get_function(env, argv[0], "onLoopTask") ||
      !addon_get_function(env, argv[1], "onDone") ||
      !addon_get_function(env, argv[2], "onEvent"))
    return NULL;
  napi_ref *slots[3] = {&a->on_loop_task, &a->on_done, &a->on_event};
  for (int i = 0; i < 3; i++) {
    if (*slots[i])
      napi_delete_reference(env, *slots[i]);
    *slots[i] = NULL;
    NAPI_OK(env, napi_create_reference(env, argv[i], 1, slots[i]));
  }
  return addon_undefined(env);
}

static void set_num(napi_env env, napi_value obj, const char *k, double v) {
  napi_set_named_property(env, obj, k, addon_number(env, v));
}

/* stats(): errand's counters plus the addon's own. */
static napi_value js_stats(napi_env env, napi_callback_info info) {
  size_t argc = 0;
  addon *a = addon_args(env, info, &argc, NULL);
  if (!a)
    return NULL;
  errand_stats s;
  memset(&s, 0, sizeof s);
  int rc = errand_runtime_stats(a->rt, &s);
  if (rc)
    return addon_throw_errand(env, rc, "stats");
  napi_value o;
  NAPI_OK(env, napi_create_object(env, &o));
  set_num(env, o, "outstanding", (double)a->outstanding);
  set_num(env, o, "workers", s.workers);
  set_num(env, o, "posted", (double)s.posted);
  set_num(env, o, "succeeded", (double)s.succeeded);
  set_num(env, o, "faulted", (double)s.faulted);
  set_num(env, o, "canceled", (double)s.canceled);
  set_num(env, o, "running", (double)s.running);
  set_num(env, o, "queued", (double)(s.queued[0] + s.queued[1] + s.queued[2]));
  set_num(env, o, "delayed", (double)s.delayed);
  return o;
}

/* loadModule(path): a shared object registering C handlers. */
static napi_value js_load_module(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  addon *a = addon_args(env, info, &argc, argv);
  if (!a)
    return NULL;
  char *path;
  if (!addon_get_string(env, argc ? argv[0] : NULL, "path", &path))
    return NULL;
  int rc = errand_jobs_load_module(a->jobs, path);
  free(path);
  if (rc)
    return addon_throw_errand(env, rc, "loadModule");
  return addon_undefined(env);
}

static napi_value make_names(napi_env env, const char *(*name)(int), int lo,
                             int hi) {
  napi_value arr;
  if (napi_create_array(env, &arr) != napi_ok)
    return NULL;
  for (int i = lo; i <= hi; i++) {
    const char *n = name(i);
    napi_set_element(env, arr, (uint32_t)(i - lo),
                     addon_string(env, n ? n : "", n ? strlen(n) : 0));
  }
  return arr;
}

static const char *status_name(int s) {
  return errand_status_name((errand_status)s);
}
static const char *priority_name(int p) {
  return errand_priority_name((errand_priority)p);
}

static int default_workers(void) {
  const char *env = getenv("ERRAND_NODE_WORKERS");
  if (env && *env) {
    int n = atoi(env);
    if (n >= 1 && n <= 1024)
      return n;
  }
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  /* At least 4: the seeds' examples sleep in pool tasks side by side. */
  return cpus < 4 ? 4 : (int)(cpus > 1024 ? 1024 : cpus);
}

static void fail_init(napi_env env, addon *a, int rc, const char *what) {
  addon_throw_errand(env, rc, what);
  if (a->loop)
    errand_loop_destroy(a->loop);
  if (a->rt)
    errand_runtime_destroy(a->rt);
  if (a->jobs)
    errand_jobs_release(a->jobs);
  free(a->poll);
  free(a);
}

NAPI_MODULE_INIT() {
  addon *a = calloc(1, sizeof *a);
  if (!a) {
    napi_throw_error(env, "ERRAND_E_NOMEM", "errand: out of memory");
    return NULL;
  }
  a->env = env;
  errand_runtime_options ro;
  memset(&ro, 0, sizeof ro);
  ro.workers = default_workers();
  int rc = errand_jobs_create(&a->jobs);
  if (!rc)
    rc = addon_register_demo_handlers(a->jobs);
  if (rc) {
    fail_init(env, a, rc, "errand: handler registry");
    return NULL;
  }
  if ((rc = errand_runtime_create(&ro, &a->rt))) {
    fail_init(env, a, rc, "errand: runtime");
    return NULL;
  }
  if ((rc = errand_loop_create(a->rt, &a->loop))) {
    fail_init(env, a, rc, "errand: loop");
    return NULL;
  }
  int fd = -1;
  errand_loop_fd(a->loop, &fd);
  uv_loop_t *uvl = NULL;
  a->poll = calloc(1, sizeof *a->poll);
  if (!a->poll || napi_get_uv_event_loop(env, &uvl) != napi_ok ||
      uv_poll_init(uvl, a->poll, fd) != 0) {
    fail_init(env, a, ERRAND_E_SYSTEM, "errand: cannot watch the loop");
    return NULL;
  }
  a->poll->data = a;
  uv_poll_start(a->poll, UV_READABLE, on_readable);
  uv_unref((uv_handle_t *)a->poll);

  napi_value resource, rname;
  if (napi_create_object(env, &resource) != napi_ok ||
      napi_create_reference(env, resource, 1, &a->resource) != napi_ok ||
      napi_create_string_utf8(env, "errand", NAPI_AUTO_LENGTH, &rname) !=
          napi_ok ||
      napi_async_init(env, resource, rname, &a->actx) != napi_ok ||
      napi_add_async_cleanup_hook(env, cleanup_hook, a, &a->cleanup) !=
          napi_ok) {
    /* The poll handle is initialised: it must be closed, not freed. */
    addon_throw_napi_failure(env, "errand: init");
    a->closing = true;
    errand_loop_destroy(a->loop);
    a->loop = NULL;
    errand_runtime_destroy(a->rt);
    errand_jobs_release(a->jobs);
    uv_close((uv_handle_t *)a->poll, (uv_close_cb)free);
    free(a);
    return NULL;
  }

  napi_property_descriptor props[] = {
      {"setup", NULL, js_setup, NULL, NULL, NULL, napi_default, a},
      {"stats", NULL, js_stats, NULL, NULL, NULL, napi_default, a},
      {"loadModule", NULL, js_load_module, NULL, NULL, NULL, napi_default, a},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  napi_set_named_property(env, exports, "statusNames",
                          make_names(env, status_name, ERRAND_STATUS_CREATED,
                                     ERRAND_STATUS_FAULTED));
  napi_set_named_property(env, exports, "priorityNames",
                          make_names(env, priority_name,
                                     ERRAND_PRIORITY_DEFAULT,
                                     ERRAND_PRIORITY_BACKGROUND));
  napi_value workers;
  int nw = 0;
  errand_runtime_workers(a->rt, &nw);
  napi_create_int32(env, nw, &workers);
  napi_set_named_property(env, exports, "workers", workers);
  addon_init_tasks(env, exports, a);
  addon_init_sched(env, exports, a);
  addon_init_pools(env, exports, a);
  return exports;
}
