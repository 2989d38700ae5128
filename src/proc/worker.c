/*
 * worker.c — the worker side: a process errand started serves jobs from a
 * registry over the protocol socket (docs/protocol.md).
 *
 * Two threads: the main thread runs one handler at a time; a reader thread
 * keeps reading the socket meanwhile, so a CANCEL reaches a running handler
 * (through errand_job_is_canceled / errand_job_sleep) and PINGs are
 * answered.  End of file on the socket means the host is gone: exit.
 */
#include "proc/proc_int.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct errand__wjob {
  int fd;
  pthread_mutex_t wmu; /* one frame at a time on the socket */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  uint64_t cur;  /* running job id, 0 when idle */
  bool canceled; /* for cur */
  bool bye;
  bool has_run;
  bool run_canceled; /* a CANCEL for the RUN not yet started */
  uint64_t run_id;
  char *run_payload;
  size_t run_len;
};

static int send_frame(struct errand__wjob *w, uint8_t type, uint64_t id,
                      const void *p, size_t n) {
  errand__buf b = {0};
  if (errand__frame_encode(&b, type, id, p, n)) {
    errand__buf_free(&b);
    return -1;
  }
  pthread_mutex_lock(&w->wmu);
  size_t off = 0;
  int rc = 0;
  while (off < b.len) {
    ssize_t k = write(w->fd, b.data + off, b.len - off);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0) {
      rc = -1;
      break;
    }
    off += (size_t)k;
  }
  pthread_mutex_unlock(&w->wmu);
  errand__buf_free(&b);
  return rc;
}

static int send_json(struct errand__wjob *w, uint8_t type, uint64_t id,
                     json_t *v) {
  char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
  json_decref(v);
  if (!s)
    return -1;
  int rc = send_frame(w, type, id, s, strlen(s));
  free(s);
  return rc;
}

static void *reader(void *arg) {
  struct errand__wjob *w = arg;
  errand__buf in = {0};
  for (;;) {
    if (errand__buf_reserve(&in, 65536))
      _exit(3);
    ssize_t k = read(w->fd, in.data + in.len, 65536);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0)
      _exit(0); /* the host is gone */
    in.len += (size_t)k;
    errand__frame f;
    const char *why = "";
    int r;
    while ((r = errand__frame_next(&in, ERRAND__WORKER_ACCEPTS,
                                   ERRAND__FRAME_MAX_PAYLOAD, &f, &why)) ==
           ERRAND__FRAME_OK) {
      pthread_mutex_lock(&w->mu);
      switch (f.type) {
      case ERRAND__F_RUN:
        if (w->has_run || w->cur || f.id == 0) {
          pthread_mutex_unlock(&w->mu);
          fprintf(stderr, "errand worker: RUN while busy\n");
          _exit(2);
        }
        w->run_payload = errand__malloc(f.len + 1);
        if (!w->run_payload)
          _exit(3);
        memcpy(w->run_payload, f.payload, f.len);
        w->run_payload[f.len] = '\0';
        w->run_len = f.len;
        w->run_id = f.id;
        w->run_canceled = false;
        w->has_run = true;
        pthread_cond_broadcast(&w->cv);
        break;
      case ERRAND__F_CANCEL:
        if (f.id && f.id == w->cur) {
          w->canceled = true;
          pthread_cond_broadcast(&w->cv);
        } else if (f.id && w->has_run && f.id == w->run_id) {
          w->run_canceled = true; /* the main thread has not taken it yet */
        }
        break;
      case ERRAND__F_BYE:
        w->bye = true;
        pthread_cond_broadcast(&w->cv);
        break;
      default:
        break;
      }
      pthread_mutex_unlock(&w->mu);
      if (f.type == ERRAND__F_PING)
        send_frame(w, ERRAND__F_PONG, 0, NULL, 0);
    }
    if (r == ERRAND__FRAME_BAD) {
      fprintf(stderr, "errand worker: bad frame from the host: %s\n", why);
      _exit(2);
    }
    errand__buf_compact(&in);
  }
  return NULL;
}

static void send_error(struct errand__wjob *w, uint64_t id, int code,
                       const char *msg) {
  send_json(w, ERRAND__F_ERROR, id,
            json_pack("{s:i,s:s}", "code", code ? code : ERRAND_E_FAILED,
                      "message", msg ? msg : ""));
}

/* Before the job's last frame: the host may send the next RUN as soon as
 * it reads it, so the worker must already count as idle. */
static void idle(struct errand__wjob *w) {
  pthread_mutex_lock(&w->mu);
  w->cur = 0;
  pthread_mutex_unlock(&w->mu);
}

static void run_one(struct errand__wjob *w, errand__jobs *jobs, int index,
                    uint64_t id, const char *payload, size_t len) {
  json_t *v;
  int prc = errand__json_parse(payload, len, JSON_ALLOW_NUL, &v);
  const char *name = NULL;
  json_t *args = NULL;
  if (prc == ERRAND_E_NOMEM) {
    idle(w);
    send_error(w, id, ERRAND_E_NOMEM, "no memory in the worker to read RUN");
  } else if ((name = json_string_value(json_object_get(v, "name"))) &&
             (args = json_object_get(v, "args")) &&
             (json_is_array(args) || json_is_object(args))) {
    char *argtext = json_dumps(args, JSON_COMPACT | JSON_ENCODE_ANY);
    errand_job_fn fn;
    void *arg;
    char why[512];
    if (!argtext) {
      idle(w);
      send_error(w, id, ERRAND_E_NOMEM, "no memory for the arguments");
    } else if (errand__jobs_resolve(jobs, name, &fn, &arg, why, sizeof why)) {
      idle(w);
      send_error(w, id, ERRAND_E_INVALID, why);
    } else {
      errand_job job = {.kind = JOB_PROCESS, .w = w, .worker_index = index};
      int rc = errand__job_run_handler(&job, fn, arg, argtext);
      /* Output first: the host attributes it to this job until RESULT. */
      fflush(stdout);
      fflush(stderr);
      idle(w);
      if (rc == 0)
        send_frame(w, ERRAND__F_RESULT, id, job.result, strlen(job.result));
      else
        send_error(w, id, rc,
                   job.fail_message ? job.fail_message : errand_strerror(rc));
      free(job.result);
      free(job.fail_message);
    }
    free(argtext);
  } else {
    idle(w);
    send_error(w, id, ERRAND_E_INVALID, "RUN payload is not {name, args}");
  }
  json_decref(v);
}

int errand_worker_main(errand_jobs *jh) {
  const char *flag = getenv("ERRAND_WORKER");
  if (!flag)
    return 0;
  bool fork_server = strcmp(flag, "fork-server") == 0;
  if (!fork_server && strcmp(flag, "1") != 0)
    return 0;
  int code;
  errand__jobs *jobs = errand__jobs_get(jh, &code);
  if (!jobs) {
    fprintf(stderr, "errand worker: %s\n", errand_last_error());
    _exit(2);
  }
  const char *fds = getenv("ERRAND_WORKER_FD");
  const char *idx = getenv("ERRAND_WORKER_INDEX");
  char *end;
  long fd = fds ? strtol(fds, &end, 10) : 3;
  int index = idx ? (int)strtol(idx, &end, 10) : 0;
  /* Programs a handler starts are not workers. */
  unsetenv("ERRAND_WORKER");
  unsetenv("ERRAND_WORKER_FD");
  unsetenv("ERRAND_PROTOCOL");
  unsetenv("ERRAND_WORKER_INDEX");
  fcntl((int)fd, F_SETFD, FD_CLOEXEC);
  signal(SIGPIPE, SIG_IGN);
  if (fork_server) {
    /* Comes back only in a fresh child, on its own socket (pool.c asks
     * for one per one-shot job). */
    errand__forkserver_main((int)fd, &index);
    fd = 3;
    fcntl((int)fd, F_SETFD, FD_CLOEXEC);
  }
  static struct errand__wjob w;
  w.fd = (int)fd;
  pthread_mutex_init(&w.wmu, NULL);
  pthread_mutex_init(&w.mu, NULL);
  pthread_cond_init(&w.cv, NULL);
  if (send_json(&w, ERRAND__F_HELLO, 0,
                json_pack("{s:i,s:i}", "protocol", ERRAND__PROTOCOL_VERSION,
                          "pid", (int)getpid())))
    _exit(0);
  pthread_t rd;
  if (pthread_create(&rd, NULL, reader, &w) != 0)
    _exit(3);
  for (;;) {
    pthread_mutex_lock(&w.mu);
    while (!w.has_run && !w.bye)
      pthread_cond_wait(&w.cv, &w.mu);
    if (w.bye) {
      pthread_mutex_unlock(&w.mu);
      fflush(stdout);
      fflush(stderr);
      _exit(0);
    }
    uint64_t id = w.run_id;
    char *payload = w.run_payload;
    size_t len = w.run_len;
    w.run_payload = NULL;
    w.has_run = false;
    w.cur = id;
    w.canceled = w.run_canceled;
    pthread_mutex_unlock(&w.mu);
    run_one(&w, jobs, index, id, payload, len);
    free(payload);
  }
}

/* ---- the errand_job calls in a worker ---- */

int errand__wjob_progress(errand_job *job, const char *name, const char *json) {
  struct errand__wjob *w = job->w;
  json_t *data;
  int rc = errand__json_parse(json, strlen(json),
                              JSON_DECODE_ANY | JSON_ALLOW_NUL, &data);
  if (rc)
    return errand__err(rc, rc == ERRAND_E_NOMEM
                               ? "no memory to read the progress payload"
                               : "progress payload is not JSON");
  uint64_t id;
  pthread_mutex_lock(&w->mu);
  id = w->cur;
  pthread_mutex_unlock(&w->mu);
  json_t *msg = json_pack("{s:s,s:o}", "name", name, "data", data);
  if (!msg)
    return errand__err(ERRAND_E_NOMEM, "no memory for the progress frame");
  if (send_json(w, ERRAND__F_PROGRESS, id, msg))
    return errand__err(ERRAND_E_SYSTEM, "cannot write to the host");
  return 0;
}

int errand__wjob_is_canceled(errand_job *job) {
  struct errand__wjob *w = job->w;
  pthread_mutex_lock(&w->mu);
  int c = w->canceled;
  pthread_mutex_unlock(&w->mu);
  return c;
}

int errand__wjob_sleep(errand_job *job, int64_t ms) {
  struct errand__wjob *w = job->w;
  if (ms < 0)
    return errand__err(ERRAND_E_INVALID, "negative sleep");
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_sec += ms / 1000;
  ts.tv_nsec += (ms % 1000) * 1000000;
  if (ts.tv_nsec >= 1000000000) {
    ts.tv_sec++;
    ts.tv_nsec -= 1000000000;
  }
  int rc = 0;
  pthread_mutex_lock(&w->mu);
  while (!w->canceled && rc == 0)
    rc = pthread_cond_timedwait(&w->cv, &w->mu, &ts);
  int c = w->canceled;
  pthread_mutex_unlock(&w->mu);
  return c ? ERRAND_E_CANCELED : 0;
}
