/*
 * seed003_return_value.c — seed 003's "return a value or an error"
 * (return-value-or-error.djs) written with errand.
 *
 * Three pool tasks (seed 003's EXECUTE TASK) each print "[TASK n] НАЧАЛО",
 * sleep, print "[TASK n] КОНЕЦ" and end: task 1 and task 3 return a string,
 * task 2 fails with "[TASK 2] ERROR".  The main thread waits for all of them
 * (WAIT ALL) and prints each task's Id, Status, the four flags and Result in
 * the seed's layout, where a faulted task's Result is the error kept as text
 * the way .NET prints it: "One or more errors occurred. (<message>)".
 *
 *   seed003_return_value [sleep_ms]     (default 3000, as the seed's SLEEP 3;
 *                                        or env SEED003_SLEEP_MS)
 *
 * Every line is prefixed with "[YYYY-MM-DD HH:MM:SS] " like the seed's
 * output.  The lines of the three tasks interleave as the threads run, as
 * they do in the seed; the table after WAIT ALL is always the same.
 *
 * tests/test_seed003.c includes this file with SEED003_NO_MAIN defined and
 * checks the output line by line.
 */
#include <errand.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One whole line, with the seed's timestamp prefix.  Lines from the tasks
 * and from main never mix inside a line (flockfile). */
static void seed003_say(FILE *out, const char *fmt, ...)
    ERRAND_PRINTF(2, 3);
static void seed003_say(FILE *out, const char *fmt, ...) {
  char stamp[32];
  time_t now = time(NULL);
  struct tm tm;
  va_list ap;
  localtime_r(&now, &tm);
  strftime(stamp, sizeof stamp, "[%Y-%m-%d %H:%M:%S] ", &tm);
  flockfile(out);
  fputs(stamp, out);
  va_start(ap, fmt);
  vfprintf(out, fmt, ap);
  va_end(ap);
  fputc('\n', out);
  fflush(out);
  funlockfile(out);
}

typedef struct seed003_job {
  int n;
  int64_t sleep_ms;
  FILE *out;
} seed003_job;

/* task-n.djs */
static int seed003_task(errand_task *self, void *arg) {
  seed003_job *job = (seed003_job *)arg;
  char *value;
  int rc;
  seed003_say(job->out, "[TASK %d] НАЧАЛО", job->n);
  rc = errand_task_sleep(self, job->sleep_ms); /* SLEEP 3 -- work */
  if (rc != 0) return rc;                      /* canceled */
  seed003_say(job->out, "[TASK %d] КОНЕЦ", job->n);
  if (job->n == 2) /* THROW '[TASK 2] ERROR' */
    return errand_task_fail(self, ERRAND_E_FAILED, "[TASK %d] ERROR", job->n);
  /* RETURN '[TASK n] RETURN' */
  value = malloc(32);
  if (!value) return errand_task_fail(self, ERRAND_E_NOMEM, "out of memory");
  snprintf(value, 32, "[TASK %d] RETURN", job->n);
  return errand_task_set_result(self, value, free);
}

static const char *seed003_bool(unsigned flags, unsigned bit) {
  return (flags & bit) ? "true" : "false";
}

/* PRINT 'Result      = ' + @task.Result, as seed 003 shows it. */
static void seed003_result_text(errand_task *t, char *buf, size_t size) {
  errand_status status = ERRAND_STATUS_CREATED;
  void *value = NULL;
  const char *message = "";
  errand_task_status(t, &status);
  if (status == ERRAND_STATUS_RAN_TO_COMPLETION) {
    errand_task_result(t, &value);
    snprintf(buf, size, "%s", value ? (const char *)value : "null");
  } else if (status == ERRAND_STATUS_FAULTED) {
    errand_task_error(t, NULL, &message);
    snprintf(buf, size, "One or more errors occurred. (%s)", message);
  } else if (status == ERRAND_STATUS_CANCELED) {
    snprintf(buf, size, "One or more errors occurred. (A task was canceled.)");
  } else {
    snprintf(buf, size, "null");
  }
}

/* return-value-or-error.djs; 0 on success, else an errand error code. */
static int seed003_run(FILE *out, int64_t sleep_ms) {
  enum { N = 3 };
  errand_runtime_options ro;
  errand_runtime *rt = NULL;
  errand_task *tasks[N] = {NULL, NULL, NULL}; /* DECLARE @tasks array */
  seed003_job jobs[N];
  int i, rc;

  /* Enough pool workers for the three sleepers to run side by side, as the
   * .NET pool does in the seed. */
  memset(&ro, 0, sizeof ro);
  ro.workers = N;
  rc = errand_runtime_create(&ro, &rt);
  if (rc != 0) return rc;

  seed003_say(out, "[MAIN] НАЧАЛО");
  for (i = 0; i < N; i++) { /* EXECUTE TASK 'file://task-n.djs' INTO @tasks */
    errand_post_options o;
    char name[32];
    memset(&o, 0, sizeof o);
    snprintf(name, sizeof name, "task-%d.djs", i + 1);
    o.name = name;
    o.mode = ERRAND_MODE_POOL;
    jobs[i].n = i + 1;
    jobs[i].sleep_ms = sleep_ms;
    jobs[i].out = out;
    rc = errand_post(rt, seed003_task, &jobs[i], &o, &tasks[i]);
    if (rc != 0) goto done;
  }

  seed003_say(out, "[MAIN] WAIT ALL");
  rc = errand_wait_all(tasks, N, -1); /* WAIT ALL @tasks */
  if (rc != 0) goto done;

  for (i = 0; i < N; i++) { /* FOR @task IN @tasks */
    uint64_t id = 0;
    errand_status status = ERRAND_STATUS_CREATED;
    unsigned flags = 0;
    char result[512];
    errand_task_id(tasks[i], &id);
    errand_task_status(tasks[i], &status);
    errand_task_flags(tasks[i], &flags);
    seed003_result_text(tasks[i], result, sizeof result);
    seed003_say(out, "***");
    seed003_say(out, "Id          = %llu", (unsigned long long)id);
    seed003_say(out, "Status      = %s", errand_status_name(status));
    seed003_say(out, "IsFaulted   = %s", seed003_bool(flags, ERRAND_FLAG_FAULTED));
    seed003_say(out, "IsCanceled  = %s", seed003_bool(flags, ERRAND_FLAG_CANCELED));
    seed003_say(out, "IsCompleted = %s", seed003_bool(flags, ERRAND_FLAG_COMPLETED));
    seed003_say(out, "IsSucceeded = %s", seed003_bool(flags, ERRAND_FLAG_SUCCEEDED));
    seed003_say(out, "Result      = %s", result);
  }
  seed003_say(out, "[MAIN] КОНЕЦ");

done:
  for (i = 0; i < N; i++) errand_task_release(tasks[i]); /* NULL is fine */
  {
    int rc2 = errand_runtime_destroy(rt);
    if (rc == 0) rc = rc2;
  }
  return rc;
}

#ifndef SEED003_NO_MAIN
int main(int argc, char **argv) {
  const char *s = argc > 1 ? argv[1] : getenv("SEED003_SLEEP_MS");
  int64_t sleep_ms = 3000;
  int rc;
  if (s && *s) {
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (!end || *end != '\0' || v < 0) {
      fprintf(stderr, "usage: %s [sleep_ms]\n", argv[0]);
      return 2;
    }
    sleep_ms = (int64_t)v;
  }
  rc = seed003_run(stdout, sleep_ms);
  if (rc != 0) {
    fprintf(stderr, "seed003_return_value: %s (%s)\n", errand_strerror(rc),
            errand_last_error());
    return 1;
  }
  return 0;
}
#endif
