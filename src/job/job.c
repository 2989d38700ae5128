/*
 * job.c — starting named jobs, the handler's calls, and reading a job.
 *
 * Thread modes run the handler in the task's own function; process modes
 * hand the job record to proc/ (a worker process runs the handler there).
 * Either way the result is JSON text kept in the job record and set as the
 * task's result, so errand_task_result and errand_job_result agree.
 */
#include "job/job_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void errand__jobrec_free(void *p) {
  errand__jobrec *r = p;
  if (r->pj)
    errand__procjob_free(r->pj);
  free(r->name);
  free(r->args);
  free(r->result);
  free(r->out);
  free(r->err);
  pthread_mutex_destroy(&r->out_mu);
  free(r);
}

void errand__jobrec_append_output(errand__jobrec *r, int which, const char *p,
                                  size_t n) {
  pthread_mutex_lock(&r->out_mu);
  char **buf = which == 1 ? &r->out : &r->err;
  size_t *len = which == 1 ? &r->out_len : &r->err_len;
  size_t *cap = which == 1 ? &r->out_cap : &r->err_cap;
  if (*len + n > ERRAND__OUTPUT_MAX)
    n = ERRAND__OUTPUT_MAX - *len; /* keep the first MiB */
  if (n) {
    if (*len + n + 1 > *cap) {
      size_t c = *cap ? *cap : 4096;
      while (c < *len + n + 1)
        c *= 2;
      char *nb = errand__realloc(*buf, c);
      if (!nb)
        n = 0;
      else {
        *buf = nb;
        *cap = c;
      }
    }
    if (n) {
      memcpy(*buf + *len, p, n);
      *len += n;
      (*buf)[*len] = '\0';
    }
  }
  pthread_mutex_unlock(&r->out_mu);
}

/* The job record of a job's task, or NULL if t is not a job. */
static errand__jobrec *rec_of(errand__task *t) {
  errand__aux *aux = errand__task_aux(t);
  return aux && aux->ext_free == errand__jobrec_free ? aux->ext : NULL;
}

int errand__job_run_handler(errand_job *job, errand_job_fn fn, void *arg,
                            const char *args) {
  int rc = fn(job, args, arg);
  if (rc == 0 && !job->result && !(job->result = errand__strdup("null")))
    rc = ERRAND_E_NOMEM;
  return rc;
}

static int thread_main(errand_task *self, void *arg) {
  errand__jobrec *r = arg;
  errand_job job = {.kind = JOB_THREAD,
                    .task = errand__task_current_rec(),
                    .rec = r,
                    .worker_index = -1};
  int rc = errand__job_run_handler(&job, r->fn, r->fn_arg, r->args);
  if (rc == 0) {
    r->result = job.result;
    errand__task_set_result_any(job.task, r->result, NULL);
  } else {
    free(job.result);
    if (job.fail_message)
      errand_task_fail(self, rc, "%s", job.fail_message);
  }
  free(job.fail_message);
  return rc;
}

int errand_job_start(errand_runtime *rth, errand_jobs *jh, const char *name,
                     const char *args, const errand_job_options *opts,
                     errand_task **out) {
  static const errand_job_options defaults;
  const errand_job_options *o = opts ? opts : &defaults;
  int code;
  errand__jobs *j = errand__jobs_get(jh, &code);
  if (!j)
    return code;
  errand__rt *rt = errand__rt_get(rth, &code);
  if (!rt)
    return code;
  if (!name || !*name)
    return errand__err(ERRAND_E_INVALID, "job name is empty");
  if ((unsigned)o->mode > ERRAND_JOB_WORKER)
    return errand__err(ERRAND_E_INVALID, "mode %d is not an errand_job_mode",
                       (int)o->mode);
  if (o->kill_grace_ms < 0 || o->retries_on_crash < 0)
    return errand__err(ERRAND_E_INVALID,
                       "kill_grace_ms and retries_on_crash must be >= 0");
  if (o->mode == ERRAND_JOB_WORKER && !o->pool)
    return errand__err(ERRAND_E_INVALID, "ERRAND_JOB_WORKER needs a pool");
  if (!args)
    args = "[]";
  int jrc = errand__json_check(args, true);
  if (jrc)
    return errand__err(jrc,
                       jrc == ERRAND_E_NOMEM
                           ? "job %s: no memory to check its arguments"
                           : "job %s: arguments are not a JSON array or object",
                       name);
  errand__jobrec *r = errand__calloc(1, sizeof *r);
  if (!r || !(r->name = errand__strdup(name)) ||
      !(r->args = errand__strdup(args))) {
    if (r) {
      free(r->name);
      free(r);
    }
    return errand__err(ERRAND_E_NOMEM, "no memory for a job");
  }
  pthread_mutex_init(&r->out_mu, NULL);
  r->mode = o->mode;
  /* Where this program runs the job (a thread here, or itself
   * re-executed) the name must resolve now; a worker pool checks for its
   * own workers (see errand__proc_start); another program decides. */
  bool external = (o->mode == ERRAND_JOB_PROCESS && o->command);
  if (!external && o->mode != ERRAND_JOB_WORKER) {
    /* This program runs it (here or re-executed): the name must resolve. */
    char why[512];
    int rc = errand__jobs_resolve(j, name, &r->fn, &r->fn_arg, why, sizeof why);
    if (rc) {
      errand__jobrec_free(r);
      return errand__err(rc, "%s", why);
    }
  }
  if (o->mode == ERRAND_JOB_PROCESS || o->mode == ERRAND_JOB_WORKER) {
    int rc = errand__proc_start(rt, j, r, o, out);
    if (rc)
      errand__jobrec_free(r);
    return rc;
  }
  errand_post_options po = o->post;
  po.mode = o->mode == ERRAND_JOB_DEDICATED ? ERRAND_MODE_DEDICATED
                                            : ERRAND_MODE_POOL;
  if (!po.name)
    po.name = name;
  int rc = errand__post_ext(rth, thread_main, r, &po, r, errand__jobrec_free,
                            false, out);
  if (rc)
    errand__jobrec_free(r);
  return rc;
}

/* ---- reading a job ---- */

#define GET_JOB(h, t, r)                                                       \
  int code_;                                                                   \
  errand__task *t = errand__task_get((h), &code_);                             \
  if (!t)                                                                      \
    return code_;                                                              \
  errand__jobrec *r = rec_of(t);                                               \
  if (!r)                                                                      \
    return errand__err(ERRAND_E_INVALID, "task %llu is not a job",             \
                       (unsigned long long)t->id);

int errand_job_result(errand_task *h, const char **json) {
  GET_JOB(h, t, r);
  if (!json)
    return errand__err(ERRAND_E_INVALID, "json is NULL");
  void *v;
  int rc = errand_task_result(h, &v);
  if (rc)
    return rc;
  *json = r->result ? r->result : "null";
  return 0;
}

int errand_job_pid(errand_task *h, int *pid) {
  GET_JOB(h, t, r);
  if (!pid)
    return errand__err(ERRAND_E_INVALID, "pid is NULL");
  *pid = ld_acq(&r->pid);
  return 0;
}

int errand_job_output(errand_task *h, const char **out, size_t *out_len,
                      const char **err, size_t *err_len) {
  GET_JOB(h, t, r);
  pthread_mutex_lock(&r->out_mu);
  if (out)
    *out = r->out ? r->out : "";
  if (out_len)
    *out_len = r->out_len;
  if (err)
    *err = r->err ? r->err : "";
  if (err_len)
    *err_len = r->err_len;
  pthread_mutex_unlock(&r->out_mu);
  return 0;
}

int errand_job_pending(errand_task *h, int64_t interval_ms,
                       int (*fn)(void *arg), void *arg) {
  GET_JOB(h, t, r);
  (void)r;
  if (!fn || interval_ms < 0)
    return errand__err(ERRAND_E_INVALID, "fn is NULL or interval negative");
  for (;;) {
    if (st_final(ld_acq(&t->state)))
      return 0;
    if (fn(arg) == 0)
      return 0;
    int rc = errand_wait(h, interval_ms);
    if (rc != 0 && rc != ERRAND_E_TIMEOUT)
      return rc;
  }
}

int errand_job_data(errand_task *h, char **json) {
  GET_JOB(h, t, r);
  if (!json)
    return errand__err(ERRAND_E_INVALID, "json is NULL");
  int rc = errand_wait(h, -1);
  if (rc) {
    errand_task_release(h);
    return rc;
  }
  unsigned st = st_status(ld_acq(&t->state));
  if (st == ERRAND_STATUS_RAN_TO_COMPLETION) {
    *json = errand__strdup(r->result ? r->result : "null");
    rc = *json ? 0 : errand__err(ERRAND_E_NOMEM, "no memory for the result");
  } else {
    int code = 0;
    const char *msg = "";
    errand_task_error(h, &code, &msg);
    rc = errand__err(code ? code : ERRAND_E_FAILED, "%s", msg);
  }
  errand_task_release(h);
  return rc;
}

/* ---- inside a handler ---- */

int errand_job_return(errand_job *job, const char *json) {
  if (!job)
    return errand__err(ERRAND_E_INVALID, "job is NULL");
  int jrc = errand__json_check(json, false);
  if (jrc)
    return errand__err(jrc, jrc == ERRAND_E_NOMEM
                                ? "no memory to check the result"
                                : "result is not valid JSON");
  char *copy = errand__strdup(json);
  if (!copy)
    return errand__err(ERRAND_E_NOMEM, "no memory for the result");
  free(job->result);
  job->result = copy;
  return 0;
}

int errand_job_fail(errand_job *job, int code, const char *fmt, ...) {
  if (!job)
    return errand__err(ERRAND_E_INVALID, "job is NULL");
  if (code == 0)
    code = ERRAND_E_FAILED;
  char buf[1024];
  if (fmt) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
  } else {
    snprintf(buf, sizeof buf, "%s", errand_strerror(code));
  }
  free(job->fail_message);
  job->fail_message = errand__strdup(buf);
  job->fail_code = code;
  return code;
}

int errand_job_progress(errand_job *job, const char *name, const char *json) {
  if (!job || !name)
    return errand__err(ERRAND_E_INVALID, "job or name is NULL");
  if (!json)
    json = "null";
  int jrc = errand__json_check(json, false);
  if (jrc)
    return errand__err(jrc, jrc == ERRAND_E_NOMEM
                                ? "no memory to check the progress payload"
                                : "progress payload is not valid JSON");
  if (job->kind == JOB_PROCESS)
    return errand__wjob_progress(job, name, json);
  return errand__task_emit_any(job->task, name, json, strlen(json));
}

int errand_job_is_canceled(errand_job *job) {
  if (!job)
    return 0;
  if (job->kind == JOB_PROCESS)
    return errand__wjob_is_canceled(job);
  return errand__task_is_canceled(job->task) ? 1 : 0;
}

int errand_job_sleep(errand_job *job, int64_t ms) {
  if (!job)
    return errand__err(ERRAND_E_INVALID, "job is NULL");
  if (job->kind == JOB_PROCESS)
    return errand__wjob_sleep(job, ms);
  return errand_task_sleep(errand__task_handle(job->task), ms);
}

int errand_job_worker_index(errand_job *job) {
  return job ? job->worker_index : -1;
}
