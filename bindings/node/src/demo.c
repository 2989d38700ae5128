/*
 * demo.c — the C handlers the addon registers, for the seeds' examples.
 *
 * They run on errand's threads (pool or dedicated), never touch Node, and
 * take their arguments as a JSON array:
 *
 *   demo.sum      [n = 100000, start = 10]   start + n, counted one by one
 *                                            (seed 001's background loop)
 *   demo.fail     [message, code = 7]        fails ("I am a failing task")
 *   demo.sleep    [ms, value = null]         sleeps (cancelable), returns value
 *   demo.echo     [value]                    returns value (or all args)
 *   demo.progress [steps = 3, ms = 10]       emits "progress" {step, of}
 *                                            each step, returns steps
 *   demo.task     [ms, result, error]        seed 003's task-n: sleeps, then
 *                                            fails with `error` if it is a
 *                                            string, else returns `result`
 */
#include "addon_int.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

static json_t *parse_args(errand_job *job, const char *args, int *rc) {
  json_error_t e;
  json_t *a = json_loads(args, 0, &e);
  if (!a || !json_is_array(a)) {
    json_decref(a);
    *rc = errand_job_fail(job, ERRAND_E_INVALID,
                          "expects its arguments as a JSON array");
    return NULL;
  }
  return a;
}

static json_int_t int_arg(json_t *a, size_t i, json_int_t dflt) {
  json_t *v = json_array_get(a, i);
  if (json_is_integer(v))
    return json_integer_value(v);
  if (json_is_real(v))
    return (json_int_t)json_real_value(v);
  return dflt;
}

static int return_json(errand_job *job, json_t *v) {
  char *text = json_dumps(v ? v : json_null(), JSON_COMPACT | JSON_ENCODE_ANY);
  if (!text)
    return errand_job_fail(job, ERRAND_E_NOMEM, "out of memory");
  int rc = errand_job_return(job, text);
  free(text);
  return rc;
}

static int demo_sum(errand_job *job, const char *args, void *arg) {
  (void)arg;
  int rc = 0;
  json_t *a = parse_args(job, args, &rc);
  if (!a)
    return rc;
  json_int_t n = int_arg(a, 0, 100000), count = int_arg(a, 1, 10);
  json_decref(a);
  volatile json_int_t c = count; /* the seed's loop, really counted */
  for (json_int_t i = 0; i < n; i++)
    c = c + 1;
  char buf[32];
  snprintf(buf, sizeof buf, "%lld", (long long)c);
  return errand_job_return(job, buf);
}

static int demo_fail(errand_job *job, const char *args, void *arg) {
  (void)arg;
  int rc = 0;
  json_t *a = parse_args(job, args, &rc);
  if (!a)
    return rc;
  const char *msg = json_string_value(json_array_get(a, 0));
  int code = (int)int_arg(a, 1, ERRAND_E_FAILED);
  rc = errand_job_fail(job, code ? code : ERRAND_E_FAILED, "%s",
                       msg ? msg : "I am a failing task");
  json_decref(a);
  return rc;
}

static int demo_sleep(errand_job *job, const char *args, void *arg) {
  (void)arg;
  int rc = 0;
  json_t *a = parse_args(job, args, &rc);
  if (!a)
    return rc;
  rc = errand_job_sleep(job, int_arg(a, 0, 0));
  if (!rc)
    rc = return_json(job, json_array_get(a, 1));
  json_decref(a);
  return rc;
}

static int demo_echo(errand_job *job, const char *args, void *arg) {
  (void)arg;
  json_t *a = json_loads(args, 0, NULL);
  if (!a)
    return errand_job_fail(job, ERRAND_E_INVALID, "arguments are not JSON");
  int rc = return_json(job, json_is_array(a) && json_array_size(a) == 1
                                ? json_array_get(a, 0)
                                : a);
  json_decref(a);
  return rc;
}

static int demo_progress(errand_job *job, const char *args, void *arg) {
  (void)arg;
  int rc = 0;
  json_t *a = parse_args(job, args, &rc);
  if (!a)
    return rc;
  json_int_t steps = int_arg(a, 0, 3), ms = int_arg(a, 1, 10);
  json_decref(a);
  for (json_int_t i = 1; i <= steps; i++) {
    if ((rc = errand_job_sleep(job, ms)))
      return rc;
    char buf[96];
    snprintf(buf, sizeof buf, "{\"step\":%lld,\"of\":%lld}", (long long)i,
             (long long)steps);
    errand_job_progress(job, "progress", buf);
  }
  char buf[32];
  snprintf(buf, sizeof buf, "%lld", (long long)steps);
  return errand_job_return(job, buf);
}

static int demo_task(errand_job *job, const char *args, void *arg) {
  (void)arg;
  int rc = 0;
  json_t *a = parse_args(job, args, &rc);
  if (!a)
    return rc;
  rc = errand_job_sleep(job, int_arg(a, 0, 0)); /* SLEEP 3 -- work */
  if (!rc) {
    const char *err = json_string_value(json_array_get(a, 2));
    if (err) /* THROW '...' */
      rc = errand_job_fail(job, ERRAND_E_FAILED, "%s", err);
    else /* RETURN '...' (or no RETURN: null) */
      rc = return_json(job, json_array_get(a, 1));
  }
  json_decref(a);
  return rc;
}

int addon_register_demo_handlers(errand_jobs *jobs) {
  static const struct {
    const char *name;
    errand_job_fn fn;
  } h[] = {
      {"demo.sum", demo_sum},           {"demo.fail", demo_fail},
      {"demo.sleep", demo_sleep},       {"demo.echo", demo_echo},
      {"demo.progress", demo_progress}, {"demo.task", demo_task},
  };
  for (size_t i = 0; i < sizeof h / sizeof h[0]; i++) {
    int rc = errand_jobs_register(jobs, h[i].name, h[i].fn, NULL);
    if (rc)
      return rc;
  }
  return 0;
}
