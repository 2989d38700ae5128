/*
 * worker.c — the worker side: a process errand started serves jobs from a
 * registry over the protocol socket (docs/protocol.md).
 *
 * The main thread reads the socket itself while no handler runs, so a RUN
 * starts without a thread hand-off (a resident round trip is two process
 * wake-ups, not three).  A handler that asks about cancellation
 * (errand_job_is_canceled, errand_job_sleep) wakes a reader thread, made
 * the first time one asks, that reads the socket until the handler
 * returns, so a CANCEL reaches it; the main thread takes the socket back
 * before it reads again.  A handler that never asks is stopped by the
 * SIGTERM that comes with every cancel.  End of file on the socket means
 * the host is gone: exit.
 */
#include "proc/proc_int.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct errand__wjob {
  int fd;  /* frames from the host: the run pipe it gave, or the socket */
  int wfd; /* frames to the host: fd, or the reply pipe the host gave */
  pthread_mutex_t wmu; /* one frame at a time on the socket */
  pthread_mutex_t mu;
  pthread_cond_t cv;
  uint64_t cur;  /* running job id, 0 when idle */
  bool canceled; /* for cur */
  /* The socket's bytes.  The main thread reads them while the reader is
   * not active; the reader only while it is (the hand-off is under mu). */
  errand__buf in;
  /* The reader thread (under mu): reader_on asks it to read, active says
   * it does; stopfd takes it out of its poll. */
  bool has_reader, reader_on, active;
  int stopfd;
  pthread_t reader;
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
    ssize_t k = write(w->wfd, b.data + off, b.len - off);
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

static void read_more(struct errand__wjob *w) {
  for (;;) {
    if (errand__buf_reserve(&w->in, 65536))
      _exit(3);
    ssize_t k = read(w->fd, w->in.data + w->in.len, 65536);
    if (k < 0 && errno == EINTR)
      continue;
    if (k < 0 && errno == EAGAIN) { /* someone made it non-blocking */
      errand__fd_wait_readable(w->fd, -1);
      continue;
    }
    if (k <= 0)
      _exit(0); /* the host is gone */
    w->in.len += (size_t)k;
    return;
  }
}

static void bad_frame(const char *why) {
  fprintf(stderr, "errand worker: bad frame from the host: %s\n", why);
  _exit(2);
}

/* The reader's part while a handler runs: CANCELs for it; a RUN, PING or
 * BYE after the job went idle is left for the main thread (and ends the
 * reading).  False when it must stop. */
static bool reader_take_frames(struct errand__wjob *w) {
  for (;;) {
    size_t at = w->in.pos;
    errand__frame f;
    const char *why = "";
    int r = errand__frame_next(&w->in, ERRAND__WORKER_ACCEPTS,
                               ERRAND__FRAME_MAX_PAYLOAD, &f, &why);
    if (r == ERRAND__FRAME_BAD)
      bad_frame(why);
    if (r == ERRAND__FRAME_NEED_MORE)
      return true;
    pthread_mutex_lock(&w->mu);
    uint64_t cur = w->cur;
    if (f.type == ERRAND__F_CANCEL && f.id && f.id == cur) {
      w->canceled = true;
      pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    if (f.type == ERRAND__F_CANCEL || (f.type == ERRAND__F_PING && cur))
      continue; /* a PING while busy gets no PONG (§3) */
    if (f.type == ERRAND__F_RUN && cur) {
      fprintf(stderr, "errand worker: RUN while busy\n");
      _exit(2);
    }
    w->in.pos = at; /* the next job's: the main thread's to read */
    return false;
  }
}

static void *reader(void *arg) {
  struct errand__wjob *w = arg;
  pthread_mutex_lock(&w->mu);
  for (;;) {
    while (!w->reader_on)
      pthread_cond_wait(&w->cv, &w->mu);
    errand__wakefd_drain(w->stopfd);
    w->active = true;
    pthread_mutex_unlock(&w->mu);
    bool go = reader_take_frames(w);
    while (go && errand__wait_readable(w->fd, w->stopfd) == 0) {
      read_more(w);
      go = reader_take_frames(w);
    }
    pthread_mutex_lock(&w->mu);
    w->active = false;
    w->reader_on = false;
    pthread_cond_broadcast(&w->cv);
  }
  return NULL;
}

/* From the handler (the main thread): a CANCEL must reach it from now on. */
static void want_reader(struct errand__wjob *w) {
  pthread_mutex_lock(&w->mu);
  if (!w->reader_on && w->cur) {
    if (!w->has_reader) {
      if ((w->stopfd = errand__wakefd_open()) < 0 ||
          pthread_create(&w->reader, NULL, reader, w) != 0)
        _exit(3);
      w->has_reader = true;
    }
    w->reader_on = true;
    pthread_cond_broadcast(&w->cv);
  }
  pthread_mutex_unlock(&w->mu);
}

/* After the handler: the socket is the main thread's again. */
static void stop_reader(struct errand__wjob *w) {
  pthread_mutex_lock(&w->mu);
  w->reader_on = false;
  if (w->active) {
    errand__wakefd_signal(w->stopfd);
    while (w->active)
      pthread_cond_wait(&w->cv, &w->mu);
  }
  pthread_mutex_unlock(&w->mu);
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
  const char *rfds = getenv("ERRAND_WORKER_REPLY_FD");
  const char *qfds = getenv("ERRAND_WORKER_RUN_FD");
  const char *idx = getenv("ERRAND_WORKER_INDEX");
  char *end;
  long fd = fds ? strtol(fds, &end, 10) : 3;
  int index = idx ? (int)strtol(idx, &end, 10) : 0;
  long wfd = rfds ? strtol(rfds, &end, 10) : fd;
  if (wfd < 0 || wfd > INT_MAX || fcntl((int)wfd, F_GETFD) < 0)
    wfd = fd; /* no usable reply pipe: both ways on the socket */
  long rfd = qfds ? strtol(qfds, &end, 10) : -1;
  if (rfd < 0 || rfd > INT_MAX || fcntl((int)rfd, F_GETFD) < 0)
    rfd = -1; /* no usable run pipe: the host's frames on the socket */
  /* Programs a handler starts are not workers. */
  unsetenv("ERRAND_WORKER");
  unsetenv("ERRAND_WORKER_FD");
  unsetenv("ERRAND_WORKER_REPLY_FD");
  unsetenv("ERRAND_WORKER_RUN_FD");
  unsetenv("ERRAND_PROTOCOL");
  unsetenv("ERRAND_WORKER_INDEX");
  fcntl((int)fd, F_SETFD, FD_CLOEXEC);
  fcntl((int)wfd, F_SETFD, FD_CLOEXEC);
  if (rfd >= 0)
    fcntl((int)rfd, F_SETFD, FD_CLOEXEC);
  signal(SIGPIPE, SIG_IGN);
  if (fork_server) {
    if (rfd >= 0)
      close((int)rfd); /* its children have sockets of their own */
    rfd = -1;
    /* Comes back only in a fresh child, on its own socket (pool.c asks
     * for one per one-shot job). */
    errand__forkserver_main((int)fd, &index);
    fd = wfd = 3;
    fcntl((int)fd, F_SETFD, FD_CLOEXEC);
  }
  static struct errand__wjob w;
  w.fd = rfd >= 0 ? (int)rfd : (int)fd;
  w.wfd = (int)wfd;
  w.stopfd = -1;
  pthread_mutex_init(&w.wmu, NULL);
  pthread_mutex_init(&w.mu, NULL);
  pthread_cond_init(&w.cv, NULL);
  /* "in": where we read the host's frames (docs/protocol.md, HELLO). */
  if (send_json(&w, ERRAND__F_HELLO, 0,
                json_pack("{s:i,s:i,s:s}", "protocol", ERRAND__PROTOCOL_VERSION,
                          "pid", (int)getpid(), "in",
                          rfd >= 0 ? "pipe" : "socket")))
    _exit(0);
  uint64_t run_id = 0;
  char *run = NULL;
  size_t run_len = 0;
  bool run_canceled = false;
  for (;;) {
    /* Every whole frame read so far, a RUN's CANCEL in the same chunk too,
     * before the job starts. */
    errand__frame f;
    const char *why = "";
    int r;
    while ((r = errand__frame_next(&w.in, ERRAND__WORKER_ACCEPTS,
                                   ERRAND__FRAME_MAX_PAYLOAD, &f, &why)) ==
           ERRAND__FRAME_OK) {
      if (f.type == ERRAND__F_RUN) {
        if (run || f.id == 0) {
          fprintf(stderr, "errand worker: RUN while busy\n");
          _exit(2);
        }
        if (!(run = errand__malloc(f.len + 1)))
          _exit(3);
        memcpy(run, f.payload, f.len);
        run[f.len] = '\0';
        run_len = f.len;
        run_id = f.id;
        run_canceled = false;
      } else if (f.type == ERRAND__F_CANCEL) {
        if (run && f.id == run_id)
          run_canceled = true;
      } else if (f.type == ERRAND__F_PING) {
        send_frame(&w, ERRAND__F_PONG, 0, NULL, 0);
      } else if (f.type == ERRAND__F_BYE) {
        fflush(stdout);
        fflush(stderr);
        _exit(0);
      }
    }
    if (r == ERRAND__FRAME_BAD)
      bad_frame(why);
    if (run) {
      pthread_mutex_lock(&w.mu);
      w.cur = run_id;
      w.canceled = run_canceled;
      pthread_mutex_unlock(&w.mu);
      run_one(&w, jobs, index, run_id, run, run_len);
      stop_reader(&w);
      free(run);
      run = NULL;
      continue;
    }
    errand__buf_compact(&w.in);
    /* With our frames on the socket too: poll, then read.  A read blocked
     * on a Unix socket is also woken each time the host reads what we
     * wrote (the socket has one wait queue for both directions), which
     * costs a resident round trip a sleep and a wake-up more than it
     * needs; poll waits for input only.  With them on the reply pipe,
     * nothing but the host's frames wakes the read. */
    if (w.wfd == w.fd)
      errand__fd_wait_readable(w.fd, -1);
    read_more(&w);
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
  want_reader(w);
  pthread_mutex_lock(&w->mu);
  int c = w->canceled;
  pthread_mutex_unlock(&w->mu);
  return c;
}

int errand__wjob_sleep(errand_job *job, int64_t ms) {
  struct errand__wjob *w = job->w;
  if (ms < 0)
    return errand__err(ERRAND_E_INVALID, "negative sleep");
  want_reader(w);
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
