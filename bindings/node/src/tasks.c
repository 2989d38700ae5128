/*
 * tasks.c — task and job handles: start, watch, read, wait, cancel.
 *
 * A task handle is a JS object wrapping one reference to an errand task,
 * type-tagged so that no other object can be mistaken for it; the
 * reference is given back by release(), by Data() (errand_job_data releases
 * it) or, failing those, by the garbage collector.
 *
 * watch() subscribes a key to a task's events and completion on the
 * addon's loop; errand delivers events before the completion on the same
 * loop, so after onDone(key) no event for that key can follow and the JS
 * side can forget the key.
 */
#include "addon_int.h"

#include <stdlib.h>
#include <string.h>

static const napi_type_tag task_tag = {0x6572726e64746b31ull,
                                       0x9d2c5680b1e4f3a7ull};

static void task_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  task_wrap *w = data;
  if (w->t)
    errand_task_release(w->t);
  free(w);
}

napi_value addon_wrap_task(napi_env env, errand_task *t) {
  napi_value obj;
  task_wrap *w = calloc(1, sizeof *w);
  if (!w || napi_create_object(env, &obj) != napi_ok) {
    free(w);
    errand_task_release(t);
    napi_throw_error(env, "ERRAND_E_NOMEM", "out of memory");
    return NULL;
  }
  w->t = t;
  if (napi_wrap(env, obj, w, task_finalize, NULL, NULL) != napi_ok) {
    task_finalize(env, w, NULL);
    addon_throw_napi_failure(env, "napi_wrap");
    return NULL;
  }
  napi_type_tag_object(env, obj, &task_tag);
  return obj;
}

errand_task *addon_get_task(napi_env env, napi_value v, task_wrap **wrap) {
  napi_valuetype type;
  bool tagged = false;
  void *data = NULL;
  if (!v || napi_typeof(env, v, &type) != napi_ok || type != napi_object ||
      napi_check_object_type_tag(env, v, &task_tag, &tagged) != napi_ok ||
      !tagged || napi_unwrap(env, v, &data) != napi_ok || !data) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE",
                          "expected an errand task handle");
    return NULL;
  }
  task_wrap *w = data;
  if (!w->t) {
    napi_throw_error(env, "ERRAND_E_RELEASED",
                     "the task was released (after Data() or release()); "
                     "its handle can no longer be used");
    return NULL;
  }
  if (wrap)
    *wrap = w;
  return w->t;
}

/* ---- deliveries on the loop ---- */

void addon_then_cb(errand_task *t, void *arg) {
  addon *a = addon_current();
  if (!a)
    return;
  addon_release(a);
  napi_env env = a->env;
  errand_status st = ERRAND_STATUS_CREATED;
  errand_task_status(t, &st);
  const char *json = NULL;
  int code = 0;
  const char *msg = "";
  if (st == ERRAND_STATUS_RAN_TO_COMPLETION) {
    if (errand_job_result(t, &json) != 0)
      json = NULL; /* not a job: no JSON result */
  } else {
    errand_task_error(t, &code, &msg);
  }
  napi_value argv[5], nul;
  napi_get_null(env, &nul);
  argv[0] = addon_number(env, (double)(uintptr_t)arg);
  argv[1] = addon_number(env, st);
  argv[2] = json ? addon_string(env, json, strlen(json)) : nul;
  argv[3] = addon_number(env, code);
  argv[4] = addon_string(env, msg, msg ? strlen(msg) : 0);
  addon_call(a, a->on_done, 5, argv);
}

static void event_cb(errand_task *t, const char *name, const void *data,
                     size_t len, void *arg) {
  (void)t;
  addon *a = addon_current();
  if (!a)
    return;
  napi_env env = a->env;
  napi_value argv[3];
  argv[0] = addon_number(env, (double)(uintptr_t)arg);
  argv[1] = addon_string(env, name, strlen(name));
  argv[2] = addon_string(env, data, data ? len : 0);
  addon_call(a, a->on_event, 3, argv);
}

static bool get_key(napi_env env, napi_value v, uintptr_t *key) {
  int64_t k;
  if (!addon_get_int64(env, v, "key", &k))
    return false;
  if (k <= 0) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "key must be positive");
    return false;
  }
  *key = (uintptr_t)k;
  return true;
}

/* watch(handle, key, wantEvents) */
static napi_value js_watch(napi_env env, napi_callback_info info) {
  ADDON_ARGS(3);
  errand_task *t = addon_get_task(env, argv[0], NULL);
  uintptr_t key;
  if (!t || !get_key(env, argv[1], &key))
    return NULL;
  bool events = false;
  if (argv[2])
    napi_get_value_bool(env, argv[2], &events);
  int rc;
  if (events &&
      (rc = errand_task_on_event(t, a->loop, event_cb, (void *)key)) != 0)
    return addon_throw_errand(env, rc, "watch");
  if ((rc = errand_task_then(t, a->loop, addon_then_cb, (void *)key)) != 0)
    return addon_throw_errand(env, rc, "watch");
  addon_hold(a);
  return addon_undefined(env);
}

/* ---- jobStart(name, argsJson, options) ---- */

static bool get_command(napi_env env, napi_value v, char ***out) {
  bool is_array = false;
  uint32_t n = 0;
  if (napi_is_array(env, v, &is_array) != napi_ok || !is_array ||
      napi_get_array_length(env, v, &n) != napi_ok || n == 0 || n > 4096) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE",
                          "options.command must be a non-empty array of "
                          "strings");
    return false;
  }
  char **argv = calloc(n + 1, sizeof *argv);
  if (!argv) {
    napi_throw_error(env, "ERRAND_E_NOMEM", "out of memory");
    return false;
  }
  for (uint32_t i = 0; i < n; i++) {
    napi_value e;
    if (napi_get_element(env, v, i, &e) != napi_ok ||
        !addon_get_string(env, e, "options.command[i]", &argv[i])) {
      for (uint32_t k = 0; k < i; k++)
        free(argv[k]);
      free(argv);
      return false;
    }
  }
  *out = argv;
  return true;
}

static void free_command(char **argv) {
  if (!argv)
    return;
  for (char **p = argv; *p; p++)
    free(*p);
  free(argv);
}

static napi_value js_job_start(napi_env env, napi_callback_info info) {
  ADDON_ARGS(3);
  char *name = NULL, *args = NULL, *task_name = NULL, **command = NULL;
  napi_value result = NULL;
  errand_job_options o;
  memset(&o, 0, sizeof o);
  if (!addon_get_string(env, argv[0], "name", &name))
    goto out;
  if (!addon_is_nullish(env, argv[1]) &&
      !addon_get_string(env, argv[1], "args", &args))
    goto out;
  if (!addon_is_nullish(env, argv[2])) {
    napi_value opts = argv[2], v;
    napi_valuetype type;
    if (napi_typeof(env, opts, &type) != napi_ok || type != napi_object) {
      napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE",
                            "options must be an object");
      goto out;
    }
    int64_t mode = 0, prio = 0, delay = 0, qt = 0, rt = 0, grace = 0,
            retries = 0;
    if (!addon_get_optional_int64(env, opts, "mode", &mode) ||
        !addon_get_optional_int64(env, opts, "priority", &prio) ||
        !addon_get_optional_int64(env, opts, "delay", &delay) ||
        !addon_get_optional_int64(env, opts, "queueTimeout", &qt) ||
        !addon_get_optional_int64(env, opts, "runTimeout", &rt) ||
        !addon_get_optional_int64(env, opts, "killGrace", &grace) ||
        !addon_get_optional_int64(env, opts, "retries", &retries))
      goto out;
    if (mode < 0 || mode > 3 || prio < 0 || prio > 3 || retries < 0 ||
        retries > 1000) {
      napi_throw_range_error(env, "ERR_OUT_OF_RANGE",
                             "options.mode (0..3), options.priority (0..3) "
                             "or options.retries is out of range");
      goto out;
    }
    o.mode = (errand_job_mode)mode;
    o.post.priority = (errand_priority)prio;
    o.post.delay_ms = delay;
    o.post.queue_timeout_ms = qt;
    o.post.run_timeout_ms = rt;
    o.kill_grace_ms = grace;
    o.retries_on_crash = (int)retries;
    if (napi_get_named_property(env, opts, "taskName", &v) == napi_ok &&
        !addon_is_nullish(env, v)) {
      if (!addon_get_string(env, v, "options.taskName", &task_name))
        goto out;
      o.post.name = task_name;
    }
    if (napi_get_named_property(env, opts, "command", &v) == napi_ok &&
        !addon_is_nullish(env, v)) {
      if (!get_command(env, v, &command))
        goto out;
      o.command = (const char *const *)command;
    }
    if (napi_get_named_property(env, opts, "pool", &v) == napi_ok &&
        !addon_is_nullish(env, v)) {
      addon_pool *p = addon_get_pool(env, v);
      if (!p)
        goto out;
      o.pool = p->p;
    }
    if (napi_get_named_property(env, opts, "controller", &v) == napi_ok &&
        !addon_is_nullish(env, v)) {
      ctrl_wrap *c = addon_get_ctrl(env, v);
      if (!c)
        goto out;
      o.post.signal = c->s;
    }
    /* Subscribe before the job can run: a worker's first events (its
     * "errand.started") must not be lost. */
    if (napi_get_named_property(env, opts, "eventKey", &v) == napi_ok &&
        !addon_is_nullish(env, v)) {
      uintptr_t key;
      if (!get_key(env, v, &key))
        goto out;
      o.post.on_event = event_cb;
      o.post.event_loop = a->loop;
      o.post.event_arg = (void *)key;
    }
  }
  errand_task *t = NULL;
  int rc = errand_job_start(a->rt, a->jobs, name, args, &o, &t);
  if (rc) {
    addon_throw_errand(env, rc, NULL);
    goto out;
  }
  result = addon_wrap_task(env, t);
out:
  free(name);
  free(args);
  free(task_name);
  free_command(command);
  return result;
}

/* ---- reading ---- */

/* taskInfo(h) -> [id, status, flags, priority] */
static napi_value js_task_info(napi_env env, napi_callback_info info) {
  ADDON_ARGS(1);
  errand_task *t = addon_get_task(env, argv[0], NULL);
  if (!t)
    return NULL;
  uint64_t id = 0;
  errand_status st = 0;
  unsigned flags = 0;
  errand_priority p = 0;
  int rc = errand_task_id(t, &id);
  if (!rc)
    rc = errand_task_status(t, &st);
  if (!rc)
    rc = errand_task_flags(t, &flags);
  if (!rc)
    rc = errand_task_priority(t, &p);
  if (rc)
    return addon_throw_errand(env, rc, "task");
  napi_value arr;
  NAPI_OK(env, napi_create_array_with_length(env, 4, &arr));
  napi_set_element(env, arr, 0, addon_number(env, (double)id));
  napi_set_element(env, arr, 1, addon_number(env, st));
  napi_set_element(env, arr, 2, addon_number(env, flags));
  napi_set_element(env, arr, 3, addon_number(env, p));
  return arr;
}

static napi_value js_task_name(napi_env env, napi_callback_info info) {
  ADDON_ARGS(1);
  errand_task *t = addon_get_task(env, argv[0], NULL);
  if (!t)
    return NULL;
  const char *name = "";
  int rc = errand_task_name(t, &name);
  if (rc)
    return addon_throw_errand(env, rc, "task");
  return addon_string(env, name, strlen(name));
}

/* taskOutcome(h) -> [status, json|null, code, message] */
static napi_value js_task_outcome(napi_env env, napi_callback_info info) {
  ADDON_ARGS(1);
  errand_task *t = addon_get_task(env, argv[0], NULL);
  if (!t)
    return NULL;
  errand_status st = 0;
  int rc = errand_task_status(t, &st);
  if (rc)
    return addon_throw_errand(env, rc, "task");
  const char *json = NULL, *msg = "";
  int code = 0;
  if (st == ERRAND_STATUS_RAN_TO_COMPLETION) {
    if (errand_job_result(t, &json) != 0)
      json = NULL;
  } else if (st >= ERRAND_STATUS_CANCELED) {
    errand_task_error(t, &code, &msg);
  }
  napi_value arr, nul;
  napi_get_null(env, &nul);
  NAPI_OK(env, napi_create_array_with_length(env, 4, &arr));
  napi_set_element(env, arr, 0, addon_number(env, st));
  napi_set_element(env, arr, 1,
                   json ? addon_string(env, json, strlen(json)) : nul);
  napi_set_element(env, arr, 2, addon_number(env, code));
  napi_set_element(env, arr, 3, addon_string(env, msg, msg ? strlen(msg) : 0));
  return arr;
}

static napi_value js_task_cancel(napi_env env, napi_callback_info info) {
  ADDON_ARGS(1);
  errand_task *t = addon_get_task(env, argv[0], NULL);
  if (!t)
    return NULL;
  int rc = errand_task_cancel(t);
  if (rc)
    return addon_throw_errand(env, rc, "cancel");
  return addon_undefined(env);
}

/* taskRelease(h): idempotent. */
static napi_value js_task_release(napi_env env, napi_callback_info info) {
  ADDON_ARGS(1);
  napi_valuetype type;
  bool tagged = false;
  void *data = NULL;
  if (!argv[0] || napi_typeof(env, argv[0], &type) != napi_ok ||
      type != napi_object ||
      napi_check_object_type_tag(env, argv[0], &task_tag, &tagged) != napi_ok ||
      !tagged || napi_unwrap(env, argv[0], &data) != napi_ok || !data) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE",
                          "expected an errand task handle");
    return NULL;
  }
  task_wrap *w = data;
  if (w->busy) {
    napi_throw_error(env, "ERRAND_E_STATE",
                     "cannot release a job from inside its own Pending()");
    return NULL;
  }
  if (w->t)
    errand_task_release(w->t);
  w->t = NULL;
  return addon_undefined(env);
}

static bool get_timeout(napi_env env, napi_value v, int64_t *ms) {
  *ms = -1;
  if (addon_is_nullish(env, v))
    return true;
  napi_valuetype type;
  double d;
  if (napi_typeof(env, v, &type) != napi_ok || type != napi_number ||
      napi_get_value_double(env, v, &d) != napi_ok || d != d) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE",
                          "timeout must be a number of milliseconds");
    return false;
  }
  if (d < 0 || d > 9.0e15) /* negative or Infinity: forever */
    *ms = -1;
  else
    *ms = (int64_t)d;
  return true;
}

/* taskWait(h, ms) -> true when final, false on timeout */
static napi_value js_task_wait(napi_env env, napi_callback_info info) {
  ADDON_ARGS(2);
  errand_task *t = addon_get_task(env, argv[0], NULL);
  int64_t ms;
  if (!t || !get_timeout(env, argv[1], &ms))
    return NULL;
  int rc = errand_wait(t, ms);
  if (rc == ERRAND_E_TIMEOUT)
    return addon_bool(env, false);
  if (rc)
    return addon_throw_errand(env, rc, "wait");
  return addon_bool(env, true);
}

static errand_task **get_task_array(napi_env env, napi_value v, size_t *n) {
  bool is_array = false;
  uint32_t len = 0;
  if (!v || napi_is_array(env, v, &is_array) != napi_ok || !is_array ||
      napi_get_array_length(env, v, &len) != napi_ok) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE",
                          "tasks must be an array of task handles");
    return NULL;
  }
  errand_task **ts = calloc(len ? len : 1, sizeof *ts);
  if (!ts) {
    napi_throw_error(env, "ERRAND_E_NOMEM", "out of memory");
    return NULL;
  }
  for (uint32_t i = 0; i < len; i++) {
    napi_value e;
    if (napi_get_element(env, v, i, &e) != napi_ok ||
        !(ts[i] = addon_get_task(env, e, NULL))) {
      free(ts);
      return NULL;
    }
  }
  *n = len;
  return ts;
}

static napi_value js_wait_all(napi_env env, napi_callback_info info) {
  ADDON_ARGS(2);
  size_t n = 0;
  int64_t ms;
  errand_task **ts = get_task_array(env, argv[0], &n);
  if (!ts)
    return NULL;
  if (!get_timeout(env, argv[1], &ms)) {
    free(ts);
    return NULL;
  }
  int rc = errand_wait_all(ts, n, ms);
  free(ts);
  if (rc == ERRAND_E_TIMEOUT)
    return addon_bool(env, false);
  if (rc)
    return addon_throw_errand(env, rc, "waitAll");
  return addon_bool(env, true);
}

/* waitAny(handles, ms) -> index, or -1 on timeout */
static napi_value js_wait_any(napi_env env, napi_callback_info info) {
  ADDON_ARGS(2);
  size_t n = 0, index = 0;
  int64_t ms;
  errand_task **ts = get_task_array(env, argv[0], &n);
  if (!ts)
    return NULL;
  if (!get_timeout(env, argv[1], &ms)) {
    free(ts);
    return NULL;
  }
  if (n == 0) {
    free(ts);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE",
                           "waitAny needs at least one task");
    return NULL;
  }
  int rc = errand_wait_any(ts, n, ms, &index);
  free(ts);
  if (rc == ERRAND_E_TIMEOUT)
    return addon_number(env, -1);
  if (rc)
    return addon_throw_errand(env, rc, "waitAny");
  return addon_number(env, (double)index);
}

/* jobPid(h, waitMs): the worker's pid; waits up to waitMs for a worker to
 * take the job (0 if none did by then, or for thread jobs). */
static napi_value js_job_pid(napi_env env, napi_callback_info info) {
  ADDON_ARGS(2);
  errand_task *t = addon_get_task(env, argv[0], NULL);
  int64_t wait_ms = 0;
  if (!t || (argv[1] && !addon_is_nullish(env, argv[1]) &&
             !addon_get_int64(env, argv[1], "waitMs", &wait_ms)))
    return NULL;
  int pid = 0;
  int rc = errand_job_pid(t, &pid);
  if (rc)
    return addon_throw_errand(env, rc, "pid");
  /* errand has no "a worker took the job" notification (see README), so
   * poll: errand_wait returns at once when the job ends meanwhile. */
  for (int64_t waited = 0; pid == 0 && waited < wait_ms; waited++) {
    if (errand_wait(t, 1) == 0) {
      errand_job_pid(t, &pid);
      break;
    }
    errand_job_pid(t, &pid);
  }
  return addon_number(env, pid);
}

static napi_value js_job_output(napi_env env, napi_callback_info info) {
  ADDON_ARGS(1);
  errand_task *t = addon_get_task(env, argv[0], NULL);
  if (!t)
    return NULL;
  const char *out = "", *err = "";
  size_t out_len = 0, err_len = 0;
  int rc = errand_job_output(t, &out, &out_len, &err, &err_len);
  if (rc)
    return addon_throw_errand(env, rc, "output");
  napi_value arr;
  NAPI_OK(env, napi_create_array_with_length(env, 2, &arr));
  napi_set_element(env, arr, 0, addon_string(env, out, out_len));
  napi_set_element(env, arr, 1, addon_string(env, err, err_len));
  return arr;
}

typedef struct pending_call {
  napi_env env;
  napi_value fn;
  bool threw;
} pending_call;

static int pending_cb(void *arg) {
  pending_call *p = arg;
  napi_value global, result;
  napi_handle_scope hs;
  if (napi_open_handle_scope(p->env, &hs) != napi_ok)
    return 0;
  napi_get_global(p->env, &global);
  int go = 1;
  if (napi_call_function(p->env, global, p->fn, 0, NULL, &result) != napi_ok) {
    p->threw = true; /* the exception stays pending for the caller */
    go = 0;
  } else {
    napi_valuetype type;
    bool b = true;
    if (napi_typeof(p->env, result, &type) == napi_ok && type == napi_boolean &&
        napi_get_value_bool(p->env, result, &b) == napi_ok && !b)
      go = 0; /* `return false` stops the polling, as in seed 000 */
  }
  napi_close_handle_scope(p->env, hs);
  return go;
}

/* jobPending(h, fn, intervalMs): synchronous, on the JS thread. */
static napi_value js_job_pending(napi_env env, napi_callback_info info) {
  ADDON_ARGS(3);
  task_wrap *w = NULL;
  errand_task *t = addon_get_task(env, argv[0], &w);
  int64_t interval = 0;
  if (!t || !addon_get_function(env, argv[1], "fn") ||
      !addon_get_int64(env, argv[2], "interval", &interval))
    return NULL;
  if (interval < 0) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "interval must be >= 0 ms");
    return NULL;
  }
  pending_call p = {env, argv[1], false};
  w->busy++;
  int rc = errand_job_pending(t, interval, pending_cb, &p);
  w->busy--;
  if (p.threw)
    return NULL;
  if (rc)
    return addon_throw_errand(env, rc, "Pending");
  return addon_undefined(env);
}

/* jobData(h): waits, returns the result's JSON or throws the job's error;
 * the handle is released either way (seed 000). */
static napi_value js_job_data(napi_env env, napi_callback_info info) {
  ADDON_ARGS(1);
  task_wrap *w = NULL;
  errand_task *t = addon_get_task(env, argv[0], &w);
  if (!t)
    return NULL;
  if (w->busy) {
    napi_throw_error(env, "ERRAND_E_STATE",
                     "cannot call Data() from inside the job's own Pending()");
    return NULL;
  }
  int pid;
  int rc = errand_job_pid(t, &pid); /* is it a job? (nothing released) */
  if (rc)
    return addon_throw_errand(env, rc, "Data");
  char *json = NULL;
  rc = errand_job_data(t, &json);
  w->t = NULL; /* errand_job_data released our reference */
  if (rc) {
    const char *msg = errand_last_error();
    napi_value err =
        addon_make_error(env, rc, msg && *msg ? msg : errand_strerror(rc));
    if (err) {
      /* Tells the caller the job is gone too (unlike the errors above). */
      napi_set_named_property(env, err, "released", addon_bool(env, true));
      napi_throw(env, err);
    }
    return NULL;
  }
  napi_value s = addon_string(env, json, strlen(json));
  free(json);
  return s;
}

napi_value addon_init_tasks(napi_env env, napi_value exports, addon *a) {
  napi_property_descriptor props[] = {
      {"jobStart", NULL, js_job_start, NULL, NULL, NULL, napi_default, a},
      {"watch", NULL, js_watch, NULL, NULL, NULL, napi_default, a},
      {"taskInfo", NULL, js_task_info, NULL, NULL, NULL, napi_default, a},
      {"taskName", NULL, js_task_name, NULL, NULL, NULL, napi_default, a},
      {"taskOutcome", NULL, js_task_outcome, NULL, NULL, NULL, napi_default, a},
      {"taskCancel", NULL, js_task_cancel, NULL, NULL, NULL, napi_default, a},
      {"taskRelease", NULL, js_task_release, NULL, NULL, NULL, napi_default, a},
      {"taskWait", NULL, js_task_wait, NULL, NULL, NULL, napi_default, a},
      {"waitAll", NULL, js_wait_all, NULL, NULL, NULL, napi_default, a},
      {"waitAny", NULL, js_wait_any, NULL, NULL, NULL, napi_default, a},
      {"jobPid", NULL, js_job_pid, NULL, NULL, NULL, napi_default, a},
      {"jobOutput", NULL, js_job_output, NULL, NULL, NULL, napi_default, a},
      {"jobPending", NULL, js_job_pending, NULL, NULL, NULL, napi_default, a},
      {"jobData", NULL, js_job_data, NULL, NULL, NULL, napi_default, a},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
