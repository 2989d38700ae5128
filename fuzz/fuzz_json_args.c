/*
 * fuzz_json_args.c — libFuzzer target for job arguments as the job layer
 * reads them: errand_job_start's check (src/job/json.c, jansson) and the
 * round trip of the arguments to the handler and back, through the public
 * API, on a runtime made once (pool threads, a registered "echo" handler).
 *
 * The input is the arguments text (cut at its first NUL byte, as a C string
 * is).  Checks (abort on failure), besides ASan/UBSan/leaks:
 *   - errand_job_start either starts the job or fails with ERRAND_E_INVALID
 *     and a non-empty errand_last_error() naming the job — never another
 *     code, never a crash;
 *   - it starts the job exactly when the text is one JSON array or object
 *     (a reference check with jansson, the library errand uses);
 *   - a started job ends RAN_TO_COMPLETION and its result (echo) is the
 *     arguments, byte for byte (errand_job_return takes what
 *     errand_job_start took);
 *   - arguments errand_job_start takes can be sent to a worker process: the
 *     host's RUN payload {"name":..,"args":..} can be built from them
 *     (src/proc/pool.c, assign) and the worker's reader takes it back
 *     (src/proc/worker.c, run_one) as an array or object.
 *     ERRAND_FUZZ_LENIENT=1 skips this last check (it fails on "\u0000"
 *     in a string until the host and the worker parse with JSON_ALLOW_NUL
 *     as errand_job_start does).
 */
#include <errand.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "fuzz_json_args: check failed at %s:%d: %s\n",          \
              __FILE__, __LINE__, #cond);                                      \
      abort();                                                                 \
    }                                                                          \
  } while (0)

static errand_runtime *rt;
static errand_jobs *jobs;
static int lenient;

static int h_echo(errand_job *job, const char *args, void *arg) {
  (void)arg;
  return errand_job_return(job, args);
}

static void setup(void) {
  errand_runtime_options o;
  memset(&o, 0, sizeof o);
  o.workers = 1;
  CHECK(errand_runtime_create(&o, &rt) == 0);
  CHECK(errand_jobs_create(&jobs) == 0);
  CHECK(errand_jobs_register(jobs, "echo", h_echo, NULL) == 0);
  const char *l = getenv("ERRAND_FUZZ_LENIENT");
  lenient = l && *l && *l != '0';
}

/* The reference: one JSON array or object, as errand_job_start documents. */
static int reference_accepts(const char *text) {
  json_error_t e;
  json_t *v = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
  int ok = v && (json_is_array(v) || json_is_object(v));
  json_decref(v);
  return ok;
}

/* What the host and a worker do with the arguments of a process job: the
 * host puts the checked text in the RUN payload as it is (pool.c assign),
 * the worker parses it and hands the handler its compact text (worker.c
 * run_one). */
static void crosses_a_process(const char *args) {
  size_t n = strlen(args) + 32;
  char *payload = malloc(n);
  CHECK(payload != NULL);
  snprintf(payload, n, "{\"name\":\"echo\",\"args\":%s}", args);
  json_t *v = json_loadb(payload, strlen(payload), JSON_ALLOW_NUL, NULL);
  const char *name = NULL;
  json_t *wargs = NULL;
  CHECK(v != NULL);
  CHECK(json_unpack(v, "{s:s,s:o}", "name", &name, "args", &wargs) == 0);
  CHECK(json_is_array(wargs) || json_is_object(wargs));
  char *text = json_dumps(wargs, JSON_COMPACT | JSON_ENCODE_ANY);
  CHECK(text != NULL);
  CHECK(reference_accepts(text));
  free(text);
  json_decref(v);
  free(payload);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!rt)
    setup();
  if (size > 1 << 16)
    return 0;
  char *text = malloc(size + 1);
  CHECK(text != NULL);
  memcpy(text, data, size);
  text[size] = '\0';

  errand_job_options o;
  memset(&o, 0, sizeof o);
  o.mode = ERRAND_JOB_POOL;
  errand_task *t = NULL;
  int rc = errand_job_start(rt, jobs, "echo", text, &o, &t);
  int want = reference_accepts(text);
  if (rc != 0) {
    CHECK(rc == ERRAND_E_INVALID);
    CHECK(errand_last_error()[0] != '\0');
    CHECK(strstr(errand_last_error(), "echo") != NULL);
    CHECK(!want);
    CHECK(t == NULL);
  } else {
    CHECK(want);
    CHECK(t != NULL);
    CHECK(errand_wait(t, -1) == 0);
    errand_status s;
    CHECK(errand_task_status(t, &s) == 0);
    if (s != ERRAND_STATUS_RAN_TO_COMPLETION) {
      const char *m = NULL;
      int code = 0;
      errand_task_error(t, &code, &m);
      fprintf(stderr, "fuzz_json_args: echo ended %s: %d %s\n",
              errand_status_name(s), code, m ? m : "");
      CHECK(s == ERRAND_STATUS_RAN_TO_COMPLETION);
    }
    const char *res = NULL;
    CHECK(errand_job_result(t, &res) == 0);
    CHECK(strcmp(res, text) == 0);
    CHECK(errand_task_release(t) == 0);
    if (!lenient)
      crosses_a_process(text);
  }
  free(text);
  return 0;
}
