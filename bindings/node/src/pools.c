/*
 * pools.c — resident worker process pools (seed 002's ChildPoolJob).
 *
 * A pool wrapper is linked into its addon so the env cleanup hook can stop
 * every pool before the runtime goes (errand requires the runtime to
 * outlive its pools); a pool the program dropped is stopped by the garbage
 * collector.  Destroying twice is harmless.
 */
#include "addon_int.h"

#include <stdlib.h>
#include <string.h>

static const napi_type_tag pool_tag = {0x6572726e64706c31ull,
                                       0x7c1d9e0b52a4f836ull};

static void unlink_pool(addon_pool *p) {
  if (!p->a)
    return;
  if (p->prev)
    p->prev->next = p->next;
  else
    p->a->pools = p->next;
  if (p->next)
    p->next->prev = p->prev;
  p->prev = p->next = NULL;
  p->a = NULL;
}

static void stop_pool(addon_pool *p) {
  unlink_pool(p);
  if (p->p)
    errand_procpool_destroy(p->p);
  p->p = NULL;
}

void addon_destroy_pools(addon *a) {
  while (a->pools)
    stop_pool(a->pools);
}

static void pool_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  addon_pool *p = data;
  stop_pool(p);
  free(p);
}

addon_pool *addon_get_pool(napi_env env, napi_value v) {
  napi_valuetype type;
  bool tagged = false;
  void *data = NULL;
  if (!v || napi_typeof(env, v, &type) != napi_ok || type != napi_object ||
      napi_check_object_type_tag(env, v, &pool_tag, &tagged) != napi_ok ||
      !tagged || napi_unwrap(env, v, &data) != napi_ok || !data) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE",
                          "expected an errand process pool handle");
    return NULL;
  }
  addon_pool *p = data;
  if (!p->p) {
    napi_throw_error(env, "ERRAND_E_RELEASED",
                     "the process pool was destroyed");
    return NULL;
  }
  return p;
}

/* poolCreate({command, min, max, recycleAfter, recycleRss, idleTimeout,
 *             killGrace}) */
static napi_value js_pool_create(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1] = {NULL};
  addon *a = addon_args(env, info, &argc, argv);
  if (!a)
    return NULL;
  napi_valuetype type;
  if (!argv[0] || napi_typeof(env, argv[0], &type) != napi_ok ||
      type != napi_object) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE",
                          "options must be an object");
    return NULL;
  }
  napi_value opts = argv[0], cmd;
  int64_t min = 0, max = 0, recycle = 0, rss = 0, idle = 0, grace = 0;
  if (!addon_get_optional_int64(env, opts, "min", &min) ||
      !addon_get_optional_int64(env, opts, "max", &max) ||
      !addon_get_optional_int64(env, opts, "recycleAfter", &recycle) ||
      !addon_get_optional_int64(env, opts, "recycleRss", &rss) ||
      !addon_get_optional_int64(env, opts, "idleTimeout", &idle) ||
      !addon_get_optional_int64(env, opts, "killGrace", &grace))
    return NULL;
  if (min < 0 || max < 0 || min > 4096 || max > 4096 || recycle < 0 ||
      recycle > 1000000000 || rss < 0 || grace < 0) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "pool option out of range");
    return NULL;
  }
  bool is_array = false;
  uint32_t n = 0;
  if (napi_get_named_property(env, opts, "command", &cmd) != napi_ok ||
      napi_is_array(env, cmd, &is_array) != napi_ok || !is_array ||
      napi_get_array_length(env, cmd, &n) != napi_ok || n == 0 || n > 4096) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE",
                          "options.command must be a non-empty array of "
                          "strings");
    return NULL;
  }
  char **argvs = calloc(n + 1, sizeof *argvs);
  addon_pool *p = calloc(1, sizeof *p);
  napi_value result = NULL;
  if (!argvs || !p) {
    napi_throw_error(env, "ERRAND_E_NOMEM", "out of memory");
    goto out;
  }
  for (uint32_t i = 0; i < n; i++) {
    napi_value e;
    if (napi_get_element(env, cmd, i, &e) != napi_ok ||
        !addon_get_string(env, e, "options.command[i]", &argvs[i]))
      goto out;
  }
  errand_procpool_options o;
  memset(&o, 0, sizeof o);
  o.min_workers = (int)min;
  o.max_workers = (int)max;
  o.recycle_after = (int)recycle;
  o.recycle_rss = (uint64_t)rss;
  o.idle_timeout_ms = idle;
  o.kill_grace_ms = grace;
  o.command = (const char *const *)argvs;
  int rc = errand_procpool_create(a->rt, a->jobs, &o, &p->p);
  if (rc) {
    addon_throw_errand(env, rc, "ChildPoolJob");
    goto out;
  }
  napi_value obj;
  if (napi_create_object(env, &obj) != napi_ok ||
      napi_wrap(env, obj, p, pool_finalize, NULL, NULL) != napi_ok) {
    errand_procpool_destroy(p->p);
    addon_throw_napi_failure(env, "napi_wrap");
    goto out;
  }
  napi_type_tag_object(env, obj, &pool_tag);
  p->a = a;
  p->next = a->pools;
  if (a->pools)
    a->pools->prev = p;
  a->pools = p;
  p = NULL; /* owned by the wrapper now */
  result = obj;
out:
  if (argvs) {
    for (uint32_t i = 0; i < n; i++)
      free(argvs[i]);
    free(argvs);
  }
  free(p);
  return result;
}

static napi_value js_pool_destroy(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1] = {NULL};
  addon *a = addon_args(env, info, &argc, argv);
  if (!a)
    return NULL;
  addon_pool *p = addon_get_pool(env, argv[0]);
  if (!p)
    return NULL;
  stop_pool(p);
  return addon_undefined(env);
}

static napi_value js_pool_size(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1] = {NULL};
  addon *a = addon_args(env, info, &argc, argv);
  if (!a)
    return NULL;
  addon_pool *p = addon_get_pool(env, argv[0]);
  if (!p)
    return NULL;
  int n = 0;
  int rc = errand_procpool_size(p->p, &n);
  if (rc)
    return addon_throw_errand(env, rc, "size");
  return addon_number(env, n);
}

napi_value addon_init_pools(napi_env env, napi_value exports, addon *a) {
  napi_property_descriptor props[] = {
      {"poolCreate", NULL, js_pool_create, NULL, NULL, NULL, napi_default, a},
      {"poolDestroy", NULL, js_pool_destroy, NULL, NULL, NULL, napi_default, a},
      {"poolSize", NULL, js_pool_size, NULL, NULL, NULL, napi_default, a},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
