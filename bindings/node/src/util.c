/*
 * util.c — argument checking, errors and calls into JavaScript.
 *
 * Misuse from JavaScript must never crash the process: every argument is
 * type-checked here (a TypeError names the argument) and every errand
 * failure becomes an Error carrying errand's code name and detail text.
 */
#include "addon_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void addon_throw_napi_failure(napi_env env, const char *what) {
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending)
    return;
  const napi_extended_error_info *info = NULL;
  napi_get_last_error_info(env, &info);
  char buf[256];
  snprintf(buf, sizeof buf, "errand addon: %s failed%s%s", what,
           info && info->error_message ? ": " : "",
           info && info->error_message ? info->error_message : "");
  napi_throw_error(env, "ERRAND_E_NAPI", buf);
}

napi_value addon_make_error(napi_env env, int rc, const char *message) {
  napi_value code, msg, err, errnum;
  const char *name = errand_errname(rc);
  if (napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code) != napi_ok ||
      napi_create_string_utf8(env, message ? message : "", NAPI_AUTO_LENGTH,
                              &msg) != napi_ok ||
      napi_create_error(env, code, msg, &err) != napi_ok)
    return NULL;
  if (napi_create_int32(env, rc, &errnum) == napi_ok)
    napi_set_named_property(env, err, "errno", errnum);
  return err;
}

napi_value addon_throw_errand(napi_env env, int rc, const char *prefix) {
  const char *detail = errand_last_error();
  if (!detail || !*detail)
    detail = errand_strerror(rc);
  char buf[1200];
  snprintf(buf, sizeof buf, "%s%s%s", prefix ? prefix : "", prefix ? ": " : "",
           detail);
  napi_value err = addon_make_error(env, rc, buf);
  if (err)
    napi_throw(env, err);
  else
    napi_throw_error(env, errand_errname(rc), buf);
  return NULL;
}

static void throw_type(napi_env env, const char *what, const char *want) {
  char buf[256];
  snprintf(buf, sizeof buf, "%s must be %s", what, want);
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", buf);
}

bool addon_get_string(napi_env env, napi_value v, const char *what,
                      char **out) {
  napi_valuetype t;
  if (!v || napi_typeof(env, v, &t) != napi_ok || t != napi_string) {
    throw_type(env, what, "a string");
    return false;
  }
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok) {
    throw_type(env, what, "a string");
    return false;
  }
  char *s = malloc(len + 1);
  if (!s) {
    napi_throw_error(env, "ERRAND_E_NOMEM", "out of memory");
    return false;
  }
  napi_get_value_string_utf8(env, v, s, len + 1, &len);
  if (strlen(s) != len) { /* an embedded NUL would silently cut the text */
    free(s);
    throw_type(env, what, "a string without NUL characters");
    return false;
  }
  *out = s;
  return true;
}

bool addon_get_int64(napi_env env, napi_value v, const char *what,
                     int64_t *out) {
  napi_valuetype t;
  double d;
  if (!v || napi_typeof(env, v, &t) != napi_ok || t != napi_number ||
      napi_get_value_double(env, v, &d) != napi_ok || d != d) {
    throw_type(env, what, "a number");
    return false;
  }
  if (d > 9.0e15 || d < -9.0e15) {
    char buf[200];
    snprintf(buf, sizeof buf, "%s is out of range", what);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", buf);
    return false;
  }
  *out = (int64_t)d;
  return true;
}

bool addon_is_nullish(napi_env env, napi_value v) {
  napi_valuetype t;
  if (!v || napi_typeof(env, v, &t) != napi_ok)
    return true;
  return t == napi_undefined || t == napi_null;
}

bool addon_get_optional_int64(napi_env env, napi_value obj, const char *key,
                              int64_t *out) {
  napi_value v;
  if (napi_get_named_property(env, obj, key, &v) != napi_ok)
    return false;
  if (addon_is_nullish(env, v))
    return true;
  char what[96];
  snprintf(what, sizeof what, "options.%s", key);
  return addon_get_int64(env, v, what, out);
}

bool addon_get_function(napi_env env, napi_value v, const char *what) {
  napi_valuetype t;
  if (!v || napi_typeof(env, v, &t) != napi_ok || t != napi_function) {
    throw_type(env, what, "a function");
    return false;
  }
  return true;
}

napi_value addon_undefined(napi_env env) {
  napi_value v = NULL;
  napi_get_undefined(env, &v);
  return v;
}

napi_value addon_bool(napi_env env, bool b) {
  napi_value v = NULL;
  napi_get_boolean(env, b, &v);
  return v;
}

napi_value addon_number(napi_env env, double d) {
  napi_value v = NULL;
  napi_create_double(env, d, &v);
  return v;
}

napi_value addon_string(napi_env env, const char *s, size_t len) {
  napi_value v = NULL;
  napi_create_string_utf8(env, s ? s : "", s ? len : 0, &v);
  return v;
}

napi_value addon_call(addon *a, napi_ref fn, size_t argc, napi_value *argv) {
  napi_env env = a->env;
  napi_value f, global, result = NULL;
  if (!fn || napi_get_reference_value(env, fn, &f) != napi_ok || !f ||
      napi_get_global(env, &global) != napi_ok)
    return NULL;
  napi_status st = napi_call_function(env, global, f, argc, argv, &result);
  if (st != napi_ok) {
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) {
      napi_value exc;
      if (napi_get_and_clear_last_exception(env, &exc) == napi_ok)
        napi_fatal_exception(env, exc);
    }
    return NULL;
  }
  return result;
}

addon *addon_args(napi_env env, napi_callback_info info, size_t *argc,
                  napi_value *argv) {
  void *data = NULL;
  if (napi_get_cb_info(env, info, argc, argv, NULL, &data) != napi_ok)
    return NULL;
  addon *a = data;
  if (!a || a->closing) {
    napi_throw_error(env, "ERRAND_E_SHUTDOWN",
                     "errand: the addon is shutting down");
    return NULL;
  }
  return a;
}
