/*
 * pool.c — worker process pools and their supervisor.
 *
 * One supervisor thread per pool owns every worker: it spawns them, sends
 * RUN frames, reads their frames and output, reaps them through pidfds,
 * and turns whatever happens (a result, an error, a crash, garbage on the
 * socket, a hang past a timeout, a cancel) into the end of exactly one
 * job.  A worker that dies or misbehaves faults only its own job; the pool
 * replaces it.  One-shot process jobs use the same machinery with workers
 * that serve a single job.
 *
 * The direct lane: a round trip through the supervisor costs two more
 * wake-ups (the caller's post wakes it to send RUN, the RESULT wakes it
 * before it wakes the waiter) than a process echo needs.  So a job started
 * while a resident worker is idle and nothing is queued ahead of it is
 * sent by the starting thread itself (job_fn), and a thread that waits for
 * one job reads its worker's answer itself (proc_drive, errand__aux.drive).
 * Everything that touches workers is under io_mu, held by the supervisor
 * whenever it is not asleep in epoll_wait and by those threads while they
 * send or read; a worker whose socket a waiter is polling has `reader` set
 * and the supervisor leaves that socket alone.  What ends a job or reaches
 * the user (a progress event) is queued under io_mu and carried out after
 * it is released, in order (flush_actions).
 *
 * Lock order: io_mu, then mu; a task's stripe lock and the parkers come
 * after both.
 */
#include "proc/proc_int.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

enum { W_STARTING, W_IDLE, W_BUSY, W_STOPPING };
enum {
  TAG_SOCK,
  TAG_OUT,
  TAG_ERR,
  TAG_PIDFD,
  TAG_REPLY,
  TAG_RUN,
  TAG_WAKE,
  TAG_FS,
  TAG_FSPID
};
/* The fork server of a one-shot pool (see platform/forkserver.c). */
enum {
  FS_NONE,     /* not running: started by the next one-shot worker */
  FS_STARTING, /* started, no FS_HELLO yet */
  FS_UP,
  FS_OFF /* a server never said FS_HELLO: exec every worker */
};

#define HELLO_TIMEOUT_NS (10ull * 1000000000u)
#define SHUT_GRACE_NS (200ull * 1000000u)

typedef struct pworker pworker;
typedef struct evtag {
  pworker *w;
  int kind;
} evtag;

struct pworker {
  pworker *next;
  errand__child c;
  int index;
  int state;
  errand__procjob *job;
  int jobs_done;
  errand__buf in, out;
  bool want_out;     /* a frame waits to be written (EPOLLOUT) */
  uint32_t sock_ep;  /* the events its socket's epoll entry asks for */
  uint32_t reply_ep; /* and its reply pipe's */
  uint32_t run_ep;   /* and its run pipe's (0: not in epoll) */
  /* Its frames come on the reply pipe (it said HELLO there); the socket
   * then carries ours only.  Until HELLO both are read. */
  bool on_pipe;
  /* It reads our frames from the run pipe (its HELLO said "in":"pipe"):
   * they go there, not on the socket. */
  bool run_pipe;
  /* Its socket became readable while a waiter held it (on_pipe): the
   * waiter looks when it lets go (the socket's entry is edge-triggered). */
  bool sock_news;
  /* Set by a waiter whose poll saw its stdout or stderr empty after the
   * frame it reads arrived: no read of them at the job's end. */
  bool out_quiet, err_quiet;
  uint64_t deadline;
  int kill_stage; /* 0 none, 1 SIGTERM sent, 2 SIGKILL sent */
  bool said_hello;
  bool reader; /* a waiter polls its socket (proc_drive): not ours to read */
  char reason[256];
  int reason_code;
  bool exited;
  int wstatus;
  char **argv; /* NULL: this program */
  evtag tags[6];
  /* Forked by the pool's fork server: its pid comes in FS_FORKED and its
   * exit in FS_EXIT; an orphan (the server died first) ends by its pidfd. */
  bool forked, orphan, start_failed, status_unknown;
  bool sock_shut; /* its socket ended while it was not stopping */
  uint32_t fs_seq;
  int pending_sig; /* a signal asked for before the pid was known */
  /* An orphan that ended and that init has not reaped yet: its status is
   * asked for again at reap_check until reap_giveup. */
  uint64_t reap_check, reap_giveup;
};

/* Something to carry out once io_mu is released (flush_actions). */
typedef struct pact {
  struct pact *next;
  int kind; /* ACT_END (the pact embedded in its job), ACT_EMIT */
  errand__procjob *j;
  int rc;
  char *name, *text; /* ACT_EMIT */
} pact;
enum { ACT_END, ACT_EMIT };

struct errand__procjob {
  errand__procjob *next;
  errand__task *t; /* one reference while the pool has the job */
  errand__jobrec *rec;
  errand__pool *pool;
  unsigned level;
  int retries, deaths;
  char deathlog[256];
  int64_t grace_ms;
  /* The job's run timeout, kept out of the task's options until job_fn
   * (see errand__proc_start). */
  int64_t run_timeout_ms;
  char **argv; /* one-shot command, NULL: the pool's */
  _Atomic int cancel;
  bool cancel_sent;
  errand__listener lis;
  pworker *w;
  pact end; /* its end, queued once */
  char end_msg[512];
};

struct errand__pool {
  errand__slot slot;
  errand__rt *rt;
  errand__jobs *jobs;
  int min, max, recycle_after;
  uint64_t recycle_rss;
  int64_t idle_ms, grace_ms;
  char **argv;
  bool oneshot;
  pthread_mutex_t io_mu;   /* every worker and the supervisor's state */
  pact *acts, **acts_tail; /* under io_mu */
  bool flushing;           /* under io_mu: a thread runs the actions */
  uint64_t sup_wake; /* under io_mu: when the supervisor wakes (0: never) */
  pthread_mutex_t mu;
  errand__procjob *qh[ERRAND__LEVELS], *qt[ERRAND__LEVELS]; /* under mu */
  bool stopping;                                            /* under mu */
  int epfd, wakefd;
  evtag waketag;
  pthread_t thread;
  uint64_t cleanup_id; /* its runtime's at-destroy entry */
  uint64_t cancel_id;  /* its runtime's on-cancel entry */
  bool rt_canceling;   /* under mu: the runtime shuts down in cancel mode */
  /* supervisor only */
  struct {
    errand__child c; /* sock: the control socket */
    int state;       /* FS_* */
    int deaths;      /* servers in a row that died before a worker said
                        HELLO: after 3, exec workers (FS_OFF) */
    uint32_t seq;
    evtag tags[2];
    /* REAPs the socket had no room for, sent once it has (fs_reap). */
    int *reaps;
    int nreaps, capreaps;
  } fs;
  pworker *workers;
  /* Workers in a row that died before their HELLO: by their own failure
   * (an exit, a crash, a HELLO that never came), and by a SIGKILL errand
   * did not send (see bury). */
  int start_failures, start_kills;
  _Atomic int size;
  bool *index_used;
};

static uint64_t now_ns(void) { return errand__now_ns(); }

/* ---- commands ---- */

static char **argv_copy(const char *const *argv) {
  if (!argv)
    return NULL;
  size_t n = 0;
  while (argv[n])
    n++;
  char **c = errand__calloc(n + 1, sizeof *c);
  if (!c)
    return NULL;
  for (size_t i = 0; i < n; i++)
    if (!(c[i] = errand__strdup(argv[i]))) {
      for (size_t k = 0; k < i; k++)
        free(c[k]);
      free(c);
      return NULL;
    }
  return c;
}

static void argv_free(char **a) {
  if (!a)
    return;
  for (char **p = a; *p; p++)
    free(*p);
  free(a);
}

static bool argv_equal(char **a, char **b) {
  if (!a || !b)
    return a == b;
  for (; *a && *b; a++, b++)
    if (strcmp(*a, *b) != 0)
      return false;
  return !*a && !*b;
}

/* ---- ending jobs ---- */

static void act_push(errand__pool *p, pact *a) {
  a->next = NULL;
  *p->acts_tail = a;
  p->acts_tail = &a->next;
}

/* Under io_mu: j ends once io_mu is released (flush_actions). */
static void end_job(errand__procjob *j, int rc, const char *msg) {
  j->end = (pact){.kind = ACT_END, .j = j, .rc = rc};
  if (msg)
    snprintf(j->end_msg, sizeof j->end_msg, "%s", msg);
  else
    j->end_msg[0] = '\0';
  act_push(j->pool, &j->end);
}

static void end_job_now(errand__procjob *j, int rc, const char *msg) {
  errand__task *t = j->t;
  j->t = NULL;
  errand__unlisten(t, &j->lis);
  if (rc == 0)
    errand__task_set_result_any(t, j->rec->result, NULL);
  errand__task_finish(t, rc, msg);
  errand__task_unref(t); /* the pool's */
}

/* Carries out the queued actions, with io_mu released, in the order they
 * were queued: one thread at a time, so a job's progress events are
 * delivered before its end even when several threads queue.  A thread
 * that finds another one at it leaves its actions to that one. */
static void flush_actions(errand__pool *p) {
  pthread_mutex_lock(&p->io_mu);
  if (p->flushing) {
    pthread_mutex_unlock(&p->io_mu);
    return;
  }
  p->flushing = true;
  while (p->acts) {
    pact *a = p->acts;
    p->acts = NULL;
    p->acts_tail = &p->acts;
    pthread_mutex_unlock(&p->io_mu);
    while (a) {
      pact *next = a->next;
      if (a->kind == ACT_END) {
        end_job_now(a->j, a->rc, a->j->end_msg[0] ? a->j->end_msg : NULL);
      } else {
        errand__task_emit_any(a->j->t, a->name, a->text, strlen(a->text));
        free(a->text);
        free(a);
      }
      a = next;
    }
    pthread_mutex_lock(&p->io_mu);
  }
  p->flushing = false;
  pthread_mutex_unlock(&p->io_mu);
}

static void cancel_end(errand__procjob *j, const char *what) {
  errand__error *e = errand__task_cancel_reason(j->t);
  char msg[512];
  if (e && what)
    snprintf(msg, sizeof msg, "%s; %s", e->message, what);
  else
    snprintf(msg, sizeof msg, "%s", e ? e->message : "canceled");
  int code = e ? e->code : ERRAND_E_CANCELED;
  /* A cancel ends as CANCELED; the code in the error keeps the reason
   * (ERRAND_E_TIMEOUT for a timeout). */
  errand__task_set_error(j->t, code, msg);
  end_job(j, ERRAND_E_CANCELED, NULL);
}

/* ---- sending ---- */

static void ep_want(errand__pool *p, int fd, evtag *tag, uint32_t *cur,
                    uint32_t want) {
  if (fd < 0 || *cur == want)
    return;
  struct epoll_event ev = {.events = want, .data.ptr = tag};
  epoll_ctl(p->epfd, EPOLL_CTL_MOD, fd, &ev);
  *cur = want;
}

/* Keeps the epoll entries of the worker's channels in step with what we
 * want of them: its frames in, and out while a frame of ours waits to be
 * written; no frames in while a waiter polls for them (proc_drive).  An
 * entry that asks for nothing is one-shot: epoll reports a hang-up even to
 * an entry that asks for nothing, and we must not spin on a channel that
 * is not ours to read. */
static void sock_watch(errand__pool *p, pworker *w) {
  uint32_t in = w->reader ? 0u : (uint32_t)EPOLLIN;
  uint32_t out = w->want_out ? (uint32_t)EPOLLOUT : 0u;
  if (w->run_pipe && (out || w->run_ep)) {
    if (!w->run_ep) {
      struct epoll_event ev = {.events = out, .data.ptr = &w->tags[TAG_RUN]};
      epoll_ctl(p->epfd, EPOLL_CTL_ADD, w->c.run, &ev);
      w->run_ep = out;
    }
    ep_want(p, w->c.run, &w->tags[TAG_RUN], &w->run_ep,
            out ? out : (uint32_t)EPOLLONESHOT);
    out = 0;
  }
  if (w->on_pipe) {
    /* Edge-triggered: a waiter need not take the socket from us, which
     * would cost two more epoll_ctl per round trip; nothing but garbage
     * or its end comes on it (sock_news). */
    ep_want(p, w->c.sock, &w->tags[TAG_SOCK], &w->sock_ep,
            EPOLLIN | EPOLLET | out);
    ep_want(p, w->c.reply, &w->tags[TAG_REPLY], &w->reply_ep,
            in ? in : (uint32_t)EPOLLONESHOT);
  } else {
    ep_want(p, w->c.sock, &w->tags[TAG_SOCK], &w->sock_ep,
            in | out ? in | out : (uint32_t)EPOLLONESHOT);
  }
}

/* The descriptor the worker's frames come on. */
static int frames_fd(const pworker *w) {
  return w->on_pipe ? w->c.reply : w->c.sock;
}

static void watch(errand__pool *p, pworker *w, bool out) {
  w->want_out = out;
  sock_watch(p, w);
}

static void flush_out(errand__pool *p, pworker *w) {
  while (w->out.pos < w->out.len) {
    /* On the socket send, not write: a worker that is gone must not kill
     * us by SIGPIPE (the run pipe cannot: we keep a reader of it). */
    ssize_t k =
        w->run_pipe
            ? write(w->c.run, w->out.data + w->out.pos, w->out.len - w->out.pos)
            : send(w->c.sock, w->out.data + w->out.pos, w->out.len - w->out.pos,
                   MSG_NOSIGNAL | MSG_DONTWAIT);
    if (k < 0 && errno == EINTR)
      continue;
    if (k < 0)
      break; /* EAGAIN: wait for EPOLLOUT; other errors: the reap says */
    w->out.pos += (size_t)k;
  }
  errand__buf_compact(&w->out);
  bool pending = w->out.len > 0;
  if (pending != w->want_out)
    watch(p, w, pending);
}

static void send_frame(errand__pool *p, pworker *w, uint8_t type, uint64_t id,
                       const void *d, size_t n) {
  if (errand__frame_encode(&w->out, type, id, d, n) == 0)
    flush_out(p, w);
}

/* ---- workers ---- */

/* A forked worker whose pid is not known yet gets the signal when it is;
 * if its server has not even said hello, the server is what hangs. */
static void signal_worker(errand__pool *p, pworker *w, int sig) {
  if (!w->forked || w->c.pid > 0) {
    errand__child_kill(&w->c, sig);
    return;
  }
  if (sig == SIGKILL || !w->pending_sig)
    w->pending_sig = sig;
  if (p->fs.state != FS_UP && p->fs.c.pid > 0)
    errand__child_kill(&p->fs.c, SIGKILL);
}

static void kill_worker(errand__pool *p, pworker *w, int sig, int code,
                        const char *reason) {
  if (reason && !w->reason[0]) {
    snprintf(w->reason, sizeof w->reason, "%s", reason);
    w->reason_code = code;
  }
  signal_worker(p, w, sig);
  w->state = W_STOPPING;
  int64_t grace = w->job && w->job->grace_ms ? w->job->grace_ms : p->grace_ms;
  if (sig == SIGKILL) {
    w->kill_stage = 2;
    w->deadline = 0;
  } else {
    w->kill_stage = 1;
    w->deadline = now_ns() + (uint64_t)grace * 1000000u;
  }
}

static void say_bye(errand__pool *p, pworker *w) {
  send_frame(p, w, ERRAND__F_BYE, 0, NULL, 0);
  w->state = W_STOPPING;
  w->deadline = now_ns() + (uint64_t)p->grace_ms * 1000000u;
}

static int take_index(errand__pool *p) {
  for (int i = 0; i < p->max; i++)
    if (!p->index_used[i]) {
      p->index_used[i] = true;
      return i;
    }
  return 0;
}

/* ---- the fork server ---- */

static void close_fd(errand__pool *p, int *fd) {
  if (*fd >= 0) {
    epoll_ctl(p->epfd, EPOLL_CTL_DEL, *fd, NULL);
    close(*fd);
    *fd = -1;
  }
}

static void close_run(errand__pool *p, pworker *w) {
  close_fd(p, &w->c.run);
  close_fd(p, &w->c.run_keep);
  w->run_pipe = false;
  w->run_ep = 0;
}

static void close_sock(errand__pool *p, pworker *w) {
  close_fd(p, &w->c.sock);
  close_fd(p, &w->c.reply);
  close_run(p, w);
  w->sock_ep = w->reply_ep = 0;
}

static void watch_fd(errand__pool *p, int fd, evtag *tag) {
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = tag};
  epoll_ctl(p->epfd, EPOLL_CTL_ADD, fd, &ev);
}

static pworker *forked_worker(errand__pool *p, bool by_seq, uint32_t seq,
                              int pid) {
  for (pworker *w = p->workers; w; w = w->next)
    if (w->forked && !w->exited &&
        (by_seq ? w->c.pid == 0 && w->fs_seq == seq : w->c.pid == pid))
      return w;
  return NULL;
}

static void fs_down(errand__pool *p);

/* The server's socket in epoll: for writing too while REAPs wait. */
static void fs_watch(errand__pool *p, uint32_t events) {
  struct epoll_event ev = {.events = events, .data.ptr = &p->fs.tags[0]};
  epoll_ctl(p->epfd, EPOLL_CTL_MOD, p->fs.c.sock, &ev);
}

/* Sends the waiting REAPs the socket has room for, oldest first. */
static void fs_flush_reaps(errand__pool *p) {
  int sent = 0;
  while (sent < p->fs.nreaps &&
         errand__forkserver_reap(p->fs.c.sock, p->fs.reaps[sent]) != EAGAIN)
    sent++; /* (or the server is gone: its end of file buries it) */
  if (!sent)
    return;
  p->fs.nreaps -= sent;
  if (p->fs.nreaps)
    memmove(p->fs.reaps, p->fs.reaps + sent,
            (size_t)p->fs.nreaps * sizeof *p->fs.reaps);
  else
    fs_watch(p, EPOLLIN);
}

/* Lets the server reap pid.  A REAP its socket has no room for now (a
 * burst of exits the server has not caught up with) waits and goes once
 * there is: dropped, its worker would stay the server's zombie as long
 * as the pool lives. */
static void fs_reap(errand__pool *p, int pid) {
  if (!p->fs.nreaps && errand__forkserver_reap(p->fs.c.sock, pid) != EAGAIN)
    return;
  if (p->fs.nreaps == p->fs.capreaps) {
    int cap = p->fs.capreaps ? 2 * p->fs.capreaps : 16;
    int *r = errand__realloc(p->fs.reaps, (size_t)cap * sizeof *r);
    if (!r)
      return; /* no memory: it stays a zombie until the server goes */
    p->fs.reaps = r;
    p->fs.capreaps = cap;
  }
  if (!p->fs.nreaps)
    fs_watch(p, EPOLLIN | EPOLLOUT);
  p->fs.reaps[p->fs.nreaps++] = pid;
}

/* Asks the fork server for w (starting the server first when there is
 * none): 0, -1 when this worker is to be exec'd instead, or an errno value
 * with why (the job fails, as a failed spawn). */
static int fs_spawn(errand__pool *p, char **argv, int index, pworker *w,
                    char *why, size_t whylen) {
  if (!p->oneshot || argv || p->fs.state == FS_OFF)
    return -1;
  if (p->fs.state == FS_NONE) {
    int rc = errand__forkserver_start(&p->fs.c, why, whylen);
    if (rc)
      return rc;
    p->fs.state = FS_STARTING;
    p->fs.tags[0] = (evtag){NULL, TAG_FS};
    p->fs.tags[1] = (evtag){NULL, TAG_FSPID};
    watch_fd(p, p->fs.c.sock, &p->fs.tags[0]);
    if (p->fs.c.pidfd >= 0)
      watch_fd(p, p->fs.c.pidfd, &p->fs.tags[1]);
  }
  uint32_t seq = ++p->fs.seq;
  int rc =
      errand__forkserver_request(p->fs.c.sock, seq, index, &w->c, why, whylen);
  if (rc == ERRAND__FS_GONE) {
    /* It died since we last looked, its end of file still unread: bury it
     * now and ask its replacement, as the next job would.  Once: a server
     * that dies before it is up turns the fork server off (fs_down). */
    fs_down(p);
    return p->fs.state == FS_NONE ? fs_spawn(p, argv, index, w, why, whylen)
                                  : -1;
  }
  if (rc == 0) {
    w->forked = true;
    w->fs_seq = seq;
  }
  return rc;
}

/* The pid of a forked worker is known: it may take a job once it said
 * HELLO too. */
static void became_idle(errand__pool *p, pworker *w) {
  w->state = W_IDLE;
  w->said_hello = true;
  p->start_failures = p->start_kills = 0;
  if (w->forked)
    p->fs.deaths = 0;
  w->deadline = p->idle_ms > 0 ? now_ns() + (uint64_t)p->idle_ms * 1000000u : 0;
}

static void fail_one_queued(errand__pool *p, pworker *w, int code,
                            const char *what);

/* The server is gone (or must go): reap it; workers it never forked end
 * (their jobs stay queued, as after a death at start); those it forked
 * are orphans from now on, watched through their pidfds. */
static void fs_down(errand__pool *p) {
  int st = 0;
  errand__child_kill(&p->fs.c, SIGKILL);
  errand__child_reap(&p->fs.c, &st, 1);
  close_fd(p, &p->fs.c.sock);
  close_fd(p, &p->fs.c.pidfd);
  p->fs.c.pid = -1;
  p->fs.nreaps = 0; /* its zombies went to init with it */
  bool was_up = p->fs.state == FS_UP;
  p->fs.state = was_up && ++p->fs.deaths < 3 ? FS_NONE : FS_OFF;
  bool counted = false;
  for (pworker *w = p->workers; w; w = w->next) {
    if (!w->forked || w->exited)
      continue;
    if (w->c.pid == 0) {
      /* Never forked, so no job of its own.  A server that came up and
       * died is not the worker program failing: the job it was for
       * waits for the next worker.  One that never came up is that
       * program not serving (bury says so, as for an exec'd worker),
       * once: its one death is one failed start, however many workers
       * were waiting for it (a kill -9 of a starting server must not
       * read as two failures in a row and fault an innocent job). */
      w->exited = true;
      w->wstatus = st;
      w->start_failed = was_up || counted;
      counted = true;
    } else {
      w->orphan = true;
      if (w->c.pidfd >= 0)
        watch_fd(p, w->c.pidfd, &w->tags[TAG_PIDFD]);
    }
  }
}

#define REAP_POLL_NS (1000000ull)       /* 1 ms */
#define REAP_PATIENCE_NS (200000000ull) /* 200 ms */

/* An orphan ended: the kernel may still know how, once init has reaped
 * it (a moment later, or never where the process 1 of a container does
 * not reap): ask again every millisecond for a while (timers). */
static void orphan_ended(errand__pool *p, pworker *w) {
  int rc = errand__pidfd_exit_status(w->c.pidfd, &w->wstatus);
  uint64_t now = now_ns();
  if (rc == 1 && !w->reap_giveup) {
    epoll_ctl(p->epfd, EPOLL_CTL_DEL, w->c.pidfd, NULL); /* stays readable */
    w->reap_giveup = now + REAP_PATIENCE_NS;
  }
  if (rc == 1 && now < w->reap_giveup) {
    w->reap_check = now + REAP_POLL_NS;
    return;
  }
  w->reap_check = 0;
  if (rc != 0)
    w->status_unknown = true;
  w->exited = true;
  close_fd(p, &w->c.pidfd);
}

static void fs_read(errand__pool *p) {
  for (;;) {
    errand__fsmsg m;
    int r = errand__forkserver_read(p->fs.c.sock, &m);
    if (r == 0)
      return;
    if (r < 0)
      return fs_down(p);
    pworker *w;
    switch (m.type) {
    case ERRAND__FS_HELLO:
      p->fs.state = FS_UP;
      break;
    case ERRAND__FS_FORKED:
      if (!(w = forked_worker(p, true, m.seq, 0)) || m.pid <= 0)
        break; /* gone already: it ends on its closed socket */
      w->c.pid = m.pid;
      w->c.pidfd = errand__pidfd_open(m.pid);
      if (w->pending_sig)
        errand__child_kill(&w->c, w->pending_sig);
      else if (w->said_hello && w->state == W_STARTING)
        became_idle(p, w);
      break;
    case ERRAND__FS_FAILED:
      if (!(w = forked_worker(p, true, m.seq, 0)))
        break;
      /* As a failed spawn: the job it was for fails with why. */
      snprintf(w->reason, sizeof w->reason,
               "cannot start a worker: fork failed: %s", strerror(m.value));
      w->reason_code = m.value == ENOMEM ? ERRAND_E_NOMEM : ERRAND_E_SYSTEM;
      w->exited = true;
      w->start_failed = true;
      fail_one_queued(p, w, w->reason_code, w->reason);
      break;
    case ERRAND__FS_EXIT:
      if ((w = forked_worker(p, false, 0, m.pid))) {
        w->wstatus = m.value;
        w->exited = true;
      } else {
        fs_reap(p, m.pid);
      }
      break;
    }
  }
}

#define FS_STOP_NS (1000ull * 1000000u) /* 1 s */

/* The pool goes.  Its waiting REAPs go first, then our end of file; the
 * server reads the REAPs, reaps those workers and exits, and its end of
 * the socket closes with it: that end of file says it is done, pidfd or
 * not.  (Waiting on its pidfd alone, a kernel or sandbox without
 * pidfd_open meant no wait at all: the server was killed with REAPs
 * unread, and their zombies left for init.)  Its messages are read
 * meanwhile, so that it never blocks on a full socket while we wait for
 * room in the other direction.  One that takes longer than FS_STOP_NS is
 * killed. */
static void fs_stop(errand__pool *p) {
  if (p->fs.c.pid <= 0)
    return;
  uint64_t end = now_ns() + FS_STOP_NS;
  bool shut = false;
  while (p->fs.c.sock >= 0) {
    if (!shut) {
      fs_flush_reaps(p);
      if (!p->fs.nreaps && !(shut = shutdown(p->fs.c.sock, SHUT_WR) == 0))
        break;
    }
    errand__fsmsg m;
    int r;
    while ((r = errand__forkserver_read(p->fs.c.sock, &m)) > 0)
      ; /* no worker is left to tell about */
    if (r < 0)
      break; /* its end closed */
    uint64_t now = now_ns();
    if (now >= end)
      break;
    struct pollfd q = {p->fs.c.sock, (short)(POLLIN | (shut ? 0 : POLLOUT)), 0};
    poll(&q, 1, (int)((end - now) / 1000000u) + 1);
  }
  fs_down(p);
}

/* NULL with why and *code (E_NOMEM or E_SYSTEM) when it cannot start. */
static pworker *spawn(errand__pool *p, char **argv, char *why, size_t whylen,
                      int *code) {
  *code = ERRAND_E_NOMEM;
  pworker *w = errand__calloc(1, sizeof *w);
  if (!w) {
    snprintf(why, whylen, "no memory for a worker");
    return NULL;
  }
  int index = p->oneshot ? 0 : take_index(p);
  int err = fs_spawn(p, argv, index, w, why, whylen);
  if (err < 0)
    err = errand__spawn_worker((const char *const *)argv, index, &w->c, why,
                               whylen);
  if (err != 0) {
    *code = err == ENOMEM ? ERRAND_E_NOMEM : ERRAND_E_SYSTEM;
    if (!p->oneshot)
      p->index_used[index] = false;
    free(w);
    return NULL;
  }
  w->index = index;
  w->argv = argv;
  w->state = W_STARTING;
  w->deadline = now_ns() + HELLO_TIMEOUT_NS;
  /* A forked worker's pidfd is watched only once it is an orphan. */
  int fds[5] = {w->c.sock, w->c.out, w->c.err, w->forked ? -1 : w->c.pidfd,
                w->c.reply};
  for (int k = 0; k < 5; k++) {
    w->tags[k] = (evtag){w, k};
    if (fds[k] < 0)
      continue;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &w->tags[k]};
    epoll_ctl(p->epfd, EPOLL_CTL_ADD, fds[k], &ev);
  }
  w->tags[TAG_RUN] = (evtag){w, TAG_RUN}; /* in epoll only when needed */
  w->sock_ep = w->reply_ep = EPOLLIN;
  w->next = p->workers;
  p->workers = w;
  atomic_fetch_add(&p->size, 1);
  return w;
}

static void drain_pipe(errand__pool *p, pworker *w, int kind) {
  int *fd = kind == TAG_OUT ? &w->c.out : &w->c.err;
  char buf[16384];
  while (*fd >= 0) {
    ssize_t k = read(*fd, buf, sizeof buf);
    if (k < 0 && errno == EINTR)
      continue;
    if (k == 0) {
      close_fd(p, fd);
      break;
    }
    if (k < 0)
      break;
    if (w->job)
      errand__jobrec_append_output(w->job->rec, kind == TAG_OUT ? 1 : 2, buf,
                                   (size_t)k);
  }
}

static void after_job(errand__pool *p, pworker *w) {
  w->jobs_done++;
  if (p->oneshot || (p->recycle_after && w->jobs_done >= p->recycle_after) ||
      (p->recycle_rss && errand__rss_of(w->c.pid) > p->recycle_rss)) {
    say_bye(p, w);
    return;
  }
  w->state = W_IDLE;
  w->deadline = p->idle_ms > 0 ? now_ns() + (uint64_t)p->idle_ms * 1000000u : 0;
}

static void protocol_error(errand__pool *p, pworker *w, const char *what) {
  char r[256];
  snprintf(r, sizeof r, "protocol error: %s", what);
  kill_worker(p, w, SIGKILL, ERRAND_E_PROTOCOL, r);
}

/* A frame's payload as a JSON object: 0 with *v set, E_INVALID with *v
 * NULL (the worker broke the protocol), or E_NOMEM (the host could not read
 * it; the worker did nothing wrong). */
static int read_json(const errand__frame *f, json_t **v) {
  return errand__json_parse((const char *)f->payload, f->len, JSON_ALLOW_NUL,
                            v);
}

/* ERROR's payload {code, message}: a non-zero int code and a string. */
static bool error_of(json_t *v, int *code, const char **msg) {
  json_t *c = json_object_get(v, "code");
  *msg = json_string_value(json_object_get(v, "message"));
  if (!json_is_integer(c) || !*msg || json_integer_value(c) == 0 ||
      json_integer_value(c) < INT_MIN || json_integer_value(c) > INT_MAX)
    return false;
  *code = (int)json_integer_value(c);
  return true;
}

/* f came on the reply pipe when on_reply. */
static void on_frame(errand__pool *p, pworker *w, const errand__frame *f,
                     bool on_reply) {
  if (f->type == ERRAND__F_HELLO) {
    if (w->state != W_STARTING || f->id != 0)
      return protocol_error(p, w, "unexpected HELLO");
    json_t *v;
    if (read_json(f, &v) == ERRAND_E_NOMEM)
      return kill_worker(p, w, SIGKILL, ERRAND_E_NOMEM,
                         "no memory to read the worker's HELLO");
    /* json_object_get, not json_unpack: unpacking an object allocates,
     * and a failed allocation must not read as a broken protocol. */
    json_t *jp = json_object_get(v, "protocol");
    if (!json_is_integer(jp) || json_integer_value(jp) != 1) {
      json_decref(v);
      return protocol_error(p, w, "HELLO without protocol 1");
    }
    const char *in = json_string_value(json_object_get(v, "in"));
    bool run_pipe = in && strcmp(in, "pipe") == 0;
    json_decref(v);
    if (run_pipe && w->c.run < 0)
      return protocol_error(p, w, "HELLO says it reads a run pipe it has not");
    if (on_reply)
      w->on_pipe = true;
    else
      close_fd(p, &w->c.reply); /* it writes on the socket */
    if (run_pipe)
      w->run_pipe = true;
    else
      close_run(p, w); /* it reads the socket */
    sock_watch(p, w);
    if (w->forked && w->c.pid <= 0)
      w->said_hello = true; /* idle when FS_FORKED says its pid */
    else
      became_idle(p, w);
    return;
  }
  if (f->type == ERRAND__F_PONG) /* the host sends no PING */
    return protocol_error(p, w, "PONG without a PING");
  errand__procjob *j = w->job;
  if (!j || f->id != j->t->id)
    return protocol_error(p, w, "frame for a job the worker is not running");
  if (f->type == ERRAND__F_PROGRESS) {
    json_t *v;
    const char *name = NULL;
    json_t *data = NULL;
    /* Progress is news, not work: one the host has no memory to read is
     * dropped (the job goes on), as errand_task_emit would refuse it. */
    if (read_json(f, &v) == ERRAND_E_NOMEM)
      return;
    if (v) {
      name = json_string_value(json_object_get(v, "name"));
      data = json_object_get(v, "data");
    }
    if (!name) {
      json_decref(v);
      return protocol_error(p, w, "PROGRESS is not {name, data}");
    }
    char *text = data ? json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY)
                      : errand__strdup("null");
    size_t nl = strlen(name) + 1;
    pact *a =
        text && !ld_acq(&j->cancel) ? errand__malloc(sizeof *a + nl) : NULL;
    if (a) {
      /* Delivered once io_mu is released: a subscriber may be called on
       * this thread, and it may start jobs on this pool. */
      *a = (pact){
          .kind = ACT_EMIT, .j = j, .name = (char *)(a + 1), .text = text};
      memcpy(a->name, name, nl);
      act_push(p, a);
    } else {
      free(text);
    }
    json_decref(v);
    return;
  }
  /* RESULT or ERROR: the job's end.  Output written before it is in the
   * pipes now: take it while the job is still attached. */
  if (!w->out_quiet)
    drain_pipe(p, w, TAG_OUT);
  if (!w->err_quiet)
    drain_pipe(p, w, TAG_ERR);
  w->job = NULL;
  j->w = NULL;
  if (ld_acq(&j->cancel)) {
    cancel_end(j, NULL);
  } else if (f->type == ERRAND__F_RESULT) {
    /* The worker did its part; a host out of memory faults only this job
     * and keeps the worker. */
    int rc = errand__json_parse((const char *)f->payload, f->len,
                                JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (rc == ERRAND_E_INVALID) {
      end_job(j, ERRAND_E_PROTOCOL, "protocol error: RESULT is not JSON");
      return protocol_error(p, w, "RESULT is not JSON");
    }
    if (rc == 0 &&
        !(j->rec->result = errand__strndup((const char *)f->payload, f->len)))
      rc = ERRAND_E_NOMEM;
    if (rc)
      end_job(j, rc, "no memory in the host for the job's result");
    else
      end_job(j, 0, NULL);
  } else {
    json_t *v;
    int code = 0;
    const char *msg = NULL;
    if (read_json(f, &v) == ERRAND_E_NOMEM) {
      end_job(j, ERRAND_E_NOMEM, "no memory in the host for the job's error");
    } else if (!error_of(v, &code, &msg)) {
      json_decref(v);
      end_job(j, ERRAND_E_PROTOCOL,
              "protocol error: ERROR is not {code, message}");
      return protocol_error(p, w, "ERROR is not {code, message}");
    } else {
      end_job(j, code, msg);
      json_decref(v);
    }
  }
  if (w->state == W_BUSY)
    after_job(p, w);
}

static void read_frames(errand__pool *p, pworker *w, int *fd);

/* The worker's end of the channel *fd is closed. */
static void sock_ended(errand__pool *p, pworker *w, int *fd) {
  /* Frames it wrote on its pipe before the socket ended (a HELLO, a last
   * RESULT) are still to be read: a stream that carries both has them
   * before its end, two channels do not keep that order. */
  if (fd == &w->c.sock && w->c.reply >= 0)
    read_frames(p, w, &w->c.reply);
  close_sock(p, w); /* its exit will be reaped */
  if (w->state != W_STOPPING && !w->exited) {
    /* A worker that shut its socket can never answer: it should be
     * exiting (a crash, an exit); if it lives on, it goes. */
    w->sock_shut = true;
    w->deadline = now_ns() + SHUT_GRACE_NS;
  }
}

/* Reads the worker's frames on *fd (its socket or its reply pipe) and
 * handles them. */
static void read_frames(errand__pool *p, pworker *w, int *fd) {
  /* Its frames come on the pipe: anything on the socket is not one. */
  bool stray = w->on_pipe && fd == &w->c.sock;
  while (*fd >= 0 && w->kill_stage < 2) {
    if (errand__buf_reserve(&w->in, 65536))
      return kill_worker(p, w, SIGKILL, ERRAND_E_NOMEM,
                         "no memory in the host for the worker's frames");
    ssize_t k = read(*fd, w->in.data + w->in.len, 65536);
    if (k < 0 && errno == EINTR)
      continue;
    if (k == 0 && fd == &w->c.reply && !w->on_pipe) {
      close_fd(p, fd); /* a worker that writes on its socket may close it */
      return;
    }
    if (k == 0)
      return sock_ended(p, w, fd);
    if (k < 0)
      return;
    if (stray)
      return protocol_error(p, w,
                            "bytes on the protocol socket from a worker that "
                            "writes its frames on the reply pipe");
    w->in.len += (size_t)k;
    /* Less than we asked for: nothing more is waiting (a read would only
     * say EAGAIN, and more coming later makes the channel readable again). */
    bool drained = (size_t)k < 65536;
    errand__frame f;
    const char *why = "";
    int r = ERRAND__FRAME_NEED_MORE;
    while (w->kill_stage < 2 &&
           (r = errand__frame_next(&w->in, ERRAND__HOST_ACCEPTS,
                                   ERRAND__FRAME_MAX_PAYLOAD, &f, &why)) ==
               ERRAND__FRAME_OK)
      on_frame(p, w, &f, fd == &w->c.reply);
    if (w->kill_stage < 2 && r == ERRAND__FRAME_BAD)
      return protocol_error(p, w, why);
    errand__buf_compact(&w->in);
    if (drained)
      return;
  }
}

/* Reads the frames of a worker on the channel they come on; both until
 * its HELLO said which. */
static void read_sock(errand__pool *p, pworker *w) {
  if (w->c.reply >= 0)
    read_frames(p, w, &w->c.reply);
  if (!w->on_pipe)
    read_frames(p, w, &w->c.sock);
}

static void requeue_front(errand__pool *p, errand__procjob *j) {
  pthread_mutex_lock(&p->mu);
  j->next = p->qh[j->level];
  p->qh[j->level] = j;
  if (!p->qt[j->level])
    p->qt[j->level] = j;
  pthread_mutex_unlock(&p->mu);
}

/* The worker is gone: end (or retry) its job, forget it. */
/* A worker that never said HELLO was started for the oldest queued job
 * that wants its command: that job fails with what happened, so a broken
 * worker program ends jobs instead of being restarted forever. */
static void fail_one_queued(errand__pool *p, pworker *w, int code,
                            const char *what) {
  errand__procjob *j = NULL;
  pthread_mutex_lock(&p->mu);
  for (unsigned l = 0; l < ERRAND__LEVELS && !j; l++) {
    errand__procjob **pp = &p->qh[l], *prev = NULL;
    for (; *pp; prev = *pp, pp = &(*pp)->next) {
      char **want = (*pp)->argv ? (*pp)->argv : p->argv;
      if (argv_equal(want, w->argv)) {
        j = *pp;
        *pp = j->next;
        if (p->qt[l] == j)
          p->qt[l] = prev;
        j->next = NULL;
        break;
      }
    }
  }
  pthread_mutex_unlock(&p->mu);
  if (j)
    end_job(j, code, what);
}

static void describe_end(const pworker *w, char *buf, size_t len) {
  if (w->status_unknown)
    snprintf(buf, len,
             "ended; its exit status is unknown (errand's fork server "
             "ended before it)");
  else
    errand__describe_status(w->wstatus, buf, len);
}

static void bury(errand__pool *p, pworker *w, bool stopping) {
  if (w->c.sock >= 0)
    read_sock(p, w); /* a last RESULT may be waiting */
  drain_pipe(p, w, TAG_OUT);
  drain_pipe(p, w, TAG_ERR);
  if (!w->said_hello && !stopping && !w->start_failed) {
    char desc[96], what[300];
    describe_end(w, desc, sizeof desc);
    if (w->reason[0])
      snprintf(what, sizeof what, "%s", w->reason);
    else
      snprintf(what, sizeof what,
               "worker process %s before saying HELLO (is it an errand "
               "worker?)",
               desc);
    /* One death at start may be the world; two in a row is the worker
     * program: from then on each one ends a job.  A SIGKILL that errand
     * did not send is more likely the world (a kill -9, the OOM killer
     * busy elsewhere), so those end a job only after 8 in a row: a program
     * the OOM killer stops at every start still fails its jobs, and a kill
     * of a starting worker now and then does not fault an innocent one. */
    bool killed = !w->reason[0] &&
                  (w->status_unknown || errand__status_is_sigkill(w->wstatus));
    if (killed ? ++p->start_kills >= 8 : ++p->start_failures >= 2)
      fail_one_queued(p, w, ERRAND_E_WORKER_DIED, what);
  }
  errand__procjob *j = w->job;
  if (j) {
    w->job = NULL;
    j->w = NULL;
    char desc[96];
    describe_end(w, desc, sizeof desc);
    char what[160];
    snprintf(what, sizeof what, "worker process %s", desc);
    if (ld_acq(&j->cancel)) {
      cancel_end(j, what);
    } else if (w->reason[0]) {
      end_job(j, w->reason_code, w->reason);
    } else {
      j->deaths++;
      size_t l = strlen(j->deathlog);
      snprintf(j->deathlog + l, sizeof j->deathlog - l, "%s%s", l ? ", " : "",
               desc);
      if (j->deaths <= j->retries && !stopping) {
        requeue_front(p, j);
      } else if (j->retries > 0) {
        char msg[400];
        snprintf(msg, sizeof msg, "quarantined after %d worker deaths: %s",
                 j->deaths, j->deathlog);
        end_job(j, ERRAND_E_WORKER_DIED, msg);
      } else {
        end_job(j, ERRAND_E_WORKER_DIED, what);
      }
    }
  }
  close_sock(p, w);
  close_fd(p, &w->c.out);
  close_fd(p, &w->c.err);
  close_fd(p, &w->c.pidfd);
  if (w->forked && !w->orphan && w->c.pid > 0 && p->fs.c.sock >= 0)
    fs_reap(p, w->c.pid);
  pworker **pp = &p->workers;
  while (*pp != w)
    pp = &(*pp)->next;
  *pp = w->next;
  if (!p->oneshot)
    p->index_used[w->index] = false;
  if (w->argv != p->argv)
    argv_free(w->argv);
  errand__buf_free(&w->in);
  errand__buf_free(&w->out);
  free(w);
  atomic_fetch_sub(&p->size, 1);
}

/* A forked worker's exit comes from its server (or its pidfd). */
static void check_exit(pworker *w) {
  if (!w->exited && !w->forked &&
      errand__child_reap(&w->c, &w->wstatus, 0) == 1)
    w->exited = true;
}

/* ---- dispatch ---- */

static errand__procjob *peek_locked(errand__pool *p, unsigned *level) {
  for (unsigned l = 0; l < ERRAND__LEVELS; l++)
    if (p->qh[l]) {
      *level = l;
      return p->qh[l];
    }
  return NULL;
}

static void pop_locked(errand__pool *p, unsigned l) {
  errand__procjob *j = p->qh[l];
  p->qh[l] = j->next;
  if (!p->qh[l])
    p->qt[l] = NULL;
  j->next = NULL;
}

static void assign(errand__pool *p, pworker *w, errand__procjob *j) {
  w->job = j;
  j->w = w;
  w->state = W_BUSY;
  w->deadline = 0;
  st_rel(&j->rec->pid, w->c.pid);
  /* The arguments were checked at start: put their text in as it is
   * (parsing and printing them again could only lose something, such as
   * a \u0000). */
  json_t *jname = json_string(j->rec->name);
  char *name = jname ? json_dumps(jname, JSON_ENCODE_ANY) : NULL;
  json_decref(jname);
  size_t tl = name ? strlen(name) + strlen(j->rec->args) + 20 : 0;
  char *text = name ? errand__malloc(tl) : NULL;
  if (text)
    snprintf(text, tl, "{\"name\":%s,\"args\":%s}", name, j->rec->args);
  free(name);
  if (!text) {
    w->job = NULL;
    j->w = NULL;
    w->state = W_IDLE;
    end_job(j, ERRAND_E_NOMEM, "no memory for the RUN frame");
    return;
  }
  send_frame(p, w, ERRAND__F_RUN, j->t->id, text, strlen(text));
  free(text);
  /* Time in the pool's queue is not run time. */
  errand__task_restart_run_timer(j->t);
}

static void dispatch(errand__pool *p) {
  for (;;) {
    pthread_mutex_lock(&p->mu);
    unsigned l;
    errand__procjob *j = peek_locked(p, &l);
    if (!j || p->stopping) {
      pthread_mutex_unlock(&p->mu);
      return;
    }
    char **want = j->argv ? j->argv : p->argv;
    pworker *idle = NULL;
    int alive = 0, starting = 0, queued = 0;
    for (errand__procjob *q = p->qh[l]; q; q = q->next)
      queued++;
    for (pworker *w = p->workers; w; w = w->next) {
      if (w->state != W_STOPPING)
        alive++;
      if (w->state == W_STARTING && argv_equal(w->argv, want))
        starting++;
      if (!idle && w->state == W_IDLE && argv_equal(w->argv, want))
        idle = w;
    }
    if (idle) {
      pop_locked(p, l);
      pthread_mutex_unlock(&p->mu);
      assign(p, idle, j);
      continue;
    }
    if (alive >= p->max || starting >= queued) {
      pthread_mutex_unlock(&p->mu);
      return; /* wait for a worker to start or free up */
    }
    char **argv =
        want == p->argv ? p->argv : argv_copy((const char *const *)want);
    char why[256] = "no memory for the worker's command";
    int code = ERRAND_E_NOMEM;
    pworker *w =
        (want && !argv) ? NULL : spawn(p, argv, why, sizeof why, &code);
    if (!w) {
      if (argv != p->argv)
        argv_free(argv);
      pop_locked(p, l);
      pthread_mutex_unlock(&p->mu);
      end_job(j, code, why);
      continue;
    }
    pthread_mutex_unlock(&p->mu);
    return; /* the job goes out when the worker says HELLO */
  }
}

/* ---- the supervisor ---- */

/* stopping: the pool goes (its workers too); canceling: the runtime cancels
 * everything (the workers stay until the pool goes). */
static void handle_cancels(errand__pool *p, bool stopping, bool canceling) {
  errand__procjob *done = NULL;
  pthread_mutex_lock(&p->mu);
  for (unsigned l = 0; l < ERRAND__LEVELS; l++) {
    errand__procjob **pp = &p->qh[l], *prev = NULL;
    while (*pp) {
      errand__procjob *j = *pp;
      if (stopping || canceling || ld_acq(&j->cancel)) {
        *pp = j->next;
        if (p->qt[l] == j)
          p->qt[l] = prev;
        j->next = done;
        done = j;
      } else {
        prev = j;
        pp = &j->next;
      }
    }
  }
  pthread_mutex_unlock(&p->mu);
  while (done) {
    errand__procjob *j = done;
    done = j->next;
    if ((stopping || canceling) && !ld_acq(&j->cancel))
      errand__task_request_cancel(
          j->t, ERRAND_E_SHUTDOWN,
          stopping ? "canceled: its process pool was destroyed"
                   : "canceled: runtime shut down");
    cancel_end(j, NULL);
  }
  for (pworker *w = p->workers; w; w = w->next) {
    errand__procjob *j = w->job;
    if (j && (stopping || canceling) && !ld_acq(&j->cancel)) {
      errand__task_request_cancel(
          j->t, ERRAND_E_SHUTDOWN,
          stopping ? "canceled: its process pool was destroyed"
                   : "canceled: runtime shut down");
      st_rel(&j->cancel, 1);
    }
    if (j && ld_acq(&j->cancel) && !j->cancel_sent) {
      j->cancel_sent = true;
      send_frame(p, w, ERRAND__F_CANCEL, j->t->id, NULL, 0);
      kill_worker(p, w, SIGTERM, 0, NULL);
    }
    if (stopping && !w->job && w->state != W_STOPPING) {
      if (w->state == W_IDLE)
        say_bye(p, w);
      else
        kill_worker(p, w, SIGTERM, 0, NULL);
    }
  }
}

static uint64_t timers(errand__pool *p, bool stopping) {
  uint64_t now = now_ns(), next = 0;
  int idle_above_min = 0;
  for (pworker *w = p->workers; w; w = w->next)
    if (w->state == W_IDLE || w->state == W_BUSY || w->state == W_STARTING)
      idle_above_min++;
  idle_above_min -= p->min;
  for (pworker *w = p->workers; w; w = w->next) {
    if (w->reap_check && now >= w->reap_check)
      orphan_ended(p, w);
    if (w->exited) {
      next = now; /* buried on the next turn, without sleeping */
      continue;
    }
    if (w->reap_check && (!next || w->reap_check < next))
      next = w->reap_check;
    if (w->deadline && now >= w->deadline) {
      w->deadline = 0;
      if (w->sock_shut && !w->kill_stage) {
        /* One that did exit is buried when its end is known (its pidfd,
         * its fork server, or init's reap of an orphan), however late. */
        if (!w->reap_check && !errand__pidfd_ended(w->c.pidfd))
          kill_worker(p, w, SIGKILL, ERRAND_E_PROTOCOL,
                      "protocol error: the worker shut its protocol socket "
                      "but did not exit");
      } else if (w->state == W_STARTING) {
        kill_worker(p, w, SIGKILL, ERRAND_E_PROTOCOL,
                    "protocol error: no HELLO within 10 s");
      } else if (w->state == W_IDLE) {
        if (idle_above_min > 0 && !stopping) {
          idle_above_min--;
          say_bye(p, w);
        }
      } else if (w->state == W_STOPPING) {
        kill_worker(p, w, w->kill_stage >= 1 ? SIGKILL : SIGTERM, 0, NULL);
      }
    }
    if (w->deadline && (!next || w->deadline < next))
      next = w->deadline;
    /* A busy worker's idle timeout will be idle_ms from its job's end at
     * the earliest: look again by then, so that a waiter who ends its job
     * (proc_drive) and sets that timeout need not wake us for it. */
    if (w->state == W_BUSY && p->idle_ms > 0) {
      uint64_t idle = now + (uint64_t)p->idle_ms * 1000000u;
      if (!next || idle < next)
        next = idle;
    }
    if (!w->forked && w->c.pidfd < 0 &&
        (w->state == W_STOPPING || w->c.sock < 0)) {
      /* No pidfd: poll for the exit. */
      uint64_t soon = now + 10000000u;
      if (!next || soon < next)
        next = soon;
    }
  }
  return next;
}

static void keep_minimum(errand__pool *p) {
  /* After three workers in a row died at start, workers start only for
   * jobs (each failure ends one), not to keep the minimum. */
  if (p->oneshot || p->start_failures >= 3 || p->start_kills >= 8)
    return;
  int alive = 0;
  for (pworker *w = p->workers; w; w = w->next)
    if (w->state != W_STOPPING)
      alive++;
  while (alive++ < p->min) {
    char why[256];
    int code;
    if (!spawn(p, p->argv, why, sizeof why, &code))
      break; /* jobs that need a worker will report it */
  }
}

static void handle_event(errand__pool *p, const struct epoll_event *e) {
  evtag *tag = e->data.ptr;
  if (tag->kind == TAG_WAKE) {
    errand__wakefd_drain(p->wakefd);
    return;
  }
  if (tag->kind == TAG_FS || tag->kind == TAG_FSPID) {
    if (p->fs.c.sock < 0)
      return; /* a stale event of a server already buried */
    if (tag->kind == TAG_FSPID) {
      fs_down(p);
      return;
    }
    if (e->events & EPOLLOUT)
      fs_flush_reaps(p);
    fs_read(p);
    return;
  }
  pworker *w = tag->w;
  switch (tag->kind) {
  case TAG_SOCK:
    /* (An event from before a waiter took the socket: it reads it.) */
    if (w->reader) {
      w->sock_news = w->on_pipe;
      break;
    }
    if (e->events & EPOLLOUT)
      flush_out(p, w);
    if (e->events & (EPOLLIN | EPOLLHUP | EPOLLERR))
      read_frames(p, w, &w->c.sock);
    break;
  case TAG_REPLY:
    if (!w->reader)
      read_frames(p, w, &w->c.reply);
    break;
  case TAG_RUN: /* EPOLLERR cannot come: we keep a reader */
    if (e->events & EPOLLOUT)
      flush_out(p, w);
    break;
  case TAG_OUT:
  case TAG_ERR:
    drain_pipe(p, w, tag->kind);
    break;
  case TAG_PIDFD:
    if (w->forked) {
      orphan_ended(p, w);
      break;
    }
    check_exit(w);
    if (w->c.pidfd >= 0 && w->exited)
      close_fd(p, &w->c.pidfd);
    break;
  }
}

static void *supervisor(void *arg) {
  errand__pool *p = arg;
  struct epoll_event ev[32];
  int n = 0;
  pthread_mutex_lock(&p->io_mu);
  for (;;) {
    /* No worker is freed but here, so the events still name live ones. */
    for (int i = 0; i < n; i++)
      handle_event(p, &ev[i]);
    pthread_mutex_lock(&p->mu);
    bool stopping = p->stopping, canceling = p->rt_canceling;
    pthread_mutex_unlock(&p->mu);
    /* The dead first: a burial frees a slot (or requeues a job to retry)
     * that the dispatch below must see, before we sleep again. */
    for (pworker *w = p->workers, *next; w; w = next) {
      next = w->next;
      /* A worker with a pidfd says it exited through epoll (TAG_PIDFD):
       * no waitpid per worker on every turn of this loop. */
      if (w->c.pidfd < 0)
        check_exit(w);
      /* An orphan without a pidfd (no pidfd_open, or no descriptor left
       * for one) counts as ended when its socket is shut or it was sent
       * SIGKILL: nothing else can tell, and it is no worker any more. */
      if (w->orphan && !w->exited && w->c.pidfd < 0 &&
          (w->c.sock < 0 || w->kill_stage >= 2)) {
        w->exited = true;
        w->status_unknown = true;
      }
      /* One a waiter polls is buried once it let go (it wakes us). */
      if (w->exited && !w->reader)
        bury(p, w, stopping);
    }
    handle_cancels(p, stopping, canceling);
    if (!stopping)
      keep_minimum(p);
    dispatch(p);
    if (stopping && !p->workers) {
      fs_stop(p);
      break;
    }
    uint64_t next = timers(p, stopping);
    p->sup_wake = next;
    int timeout = -1;
    if (next) {
      uint64_t now = now_ns();
      timeout = next <= now ? 0 : (int)((next - now) / 1000000u) + 1;
    }
    pthread_mutex_unlock(&p->io_mu);
    flush_actions(p);
    n = epoll_wait(p->epfd, ev, 32, timeout);
    pthread_mutex_lock(&p->io_mu);
  }
  pthread_mutex_unlock(&p->io_mu);
  flush_actions(p);
  return NULL;
}

/* ---- jobs enter the pool ---- */

static void on_cancel(errand__listener *l, errand__task *t) {
  (void)t;
  errand__procjob *j = container_of(l, errand__procjob, lis);
  st_rel(&j->cancel, 1);
  errand__wakefd_signal(j->pool->wakefd);
}

static void pool_unref(errand__pool *p);

/* Under io_mu and mu: an idle worker that j may have at once (the
 * direct lane), or NULL.  Never past a queued job of j's level or a
 * higher one: those go first, through the supervisor. */
static pworker *lendable(errand__pool *p, const errand__procjob *j) {
  if (p->oneshot)
    return NULL;
  for (unsigned l = 0; l <= j->level; l++)
    if (p->qh[l])
      return NULL;
  for (pworker *w = p->workers; w; w = w->next)
    if (w->state == W_IDLE && !w->exited && !w->reader && !w->kill_stage &&
        !w->sock_shut && !w->want_out && w->c.sock >= 0 &&
        argv_equal(w->argv, p->argv))
      return w;
  return NULL;
}

/* Under io_mu, after a waiter handled w: whether the supervisor must look
 * (a burial, a kill, a timer earlier than the one it sleeps for, a queued
 * job for the worker that just came free). */
static bool needs_supervisor(errand__pool *p, const pworker *w) {
  if (w->exited || w->c.sock < 0 || w->kill_stage || w->want_out ||
      (w->state != W_IDLE && w->state != W_BUSY))
    return true;
  if (w->deadline && (!p->sup_wake || w->deadline < p->sup_wake))
    return true;
  pthread_mutex_lock(&p->mu);
  bool queued = false;
  for (unsigned l = 0; l < ERRAND__LEVELS; l++)
    queued |= p->qh[l] != NULL;
  pthread_mutex_unlock(&p->mu);
  return queued;
}

/* Longest a waiter polls a worker's socket before it looks at the task
 * again: every end of a running job comes with the socket readable (a
 * frame, or the end of the stream when the worker dies), but a process the
 * worker started may hold the socket open past its death. */
#define DRIVE_POLL_MS 50

/* errand__aux.drive of a process job: the waiter reads the answer of the
 * job's worker itself, instead of the supervisor reading it and waking the
 * waiter. */
static bool proc_drive(errand__task *t, uint64_t deadline) {
  errand__jobrec *rec = errand__task_aux(t)->ext;
  errand__procjob *j = rec->pj;
  errand__pool *p = j->pool;
  pthread_mutex_lock(&p->io_mu);
  pworker *w = j->w;
  if (!w || w->job != j || w->state != W_BUSY || w->reader || w->exited ||
      w->kill_stage || w->want_out || w->c.sock < 0) {
    pthread_mutex_unlock(&p->io_mu);
    return false;
  }
  w->reader = true; /* the supervisor leaves its socket (and w) alone */
  sock_watch(p, w);
  /* The frames first: poll looks at its descriptors in order, so output
   * the worker wrote before a frame that is here is seen here too, and an
   * empty stdout or stderr needs no read at the job's end. */
  struct pollfd pf[4] = {{.fd = frames_fd(w), .events = POLLIN},
                         {.fd = w->c.out, .events = POLLIN},
                         {.fd = w->c.err, .events = POLLIN},
                         {.fd = w->on_pipe ? w->c.sock : -1, .events = POLLIN}};
  pthread_mutex_unlock(&p->io_mu);
  int64_t ms = DRIVE_POLL_MS;
  if (deadline) {
    uint64_t now = now_ns();
    int64_t left =
        now >= deadline ? 0 : (int64_t)((deadline - now) / 1000000u) + 1;
    if (left < ms)
      ms = left;
  }
  int n;
  while ((n = poll(pf, 4, (int)ms)) < 0 && errno == EINTR)
    ;
  pthread_mutex_lock(&p->io_mu);
  w->reader = false;
  if (n > 0 && pf[0].revents) {
    w->out_quiet = !pf[1].revents;
    w->err_quiet = !pf[2].revents;
    read_sock(p, w);
    w->out_quiet = w->err_quiet = false;
  } else if (n > 0) {
    drain_pipe(p, w, TAG_OUT); /* output mid-job: taken, or we would spin */
    drain_pipe(p, w, TAG_ERR);
  }
  if ((n > 0 && pf[3].revents) || w->sock_news) {
    w->sock_news = false;
    read_frames(p, w, &w->c.sock); /* garbage, or its end */
  }
  sock_watch(p, w);
  /* Under io_mu: the supervisor cannot have gone (and closed wakefd)
   * while w was not buried. */
  if (needs_supervisor(p, w))
    errand__wakefd_signal(p->wakefd);
  pthread_mutex_unlock(&p->io_mu);
  flush_actions(p);
  return true;
}

static int job_fn(errand_task *self, void *arg) {
  errand__procjob *j = arg;
  errand__pool *p = j->pool;
  errand__task *t = errand__task_current_rec();
  j->lis = (errand__listener){.kinds = LISTEN_CANCEL, .on_cancel = on_cancel};
  errand__listen(t, &j->lis);
  if (errand__task_is_canceled(t)) {
    errand__unlisten(t, &j->lis);
    return ERRAND_E_CANCELED;
  }
  /* The direct lane needs io_mu; if the supervisor holds it, the job
   * takes the queue rather than wait for it. */
  bool io = !p->oneshot && pthread_mutex_trylock(&p->io_mu) == 0;
  pthread_mutex_lock(&p->mu);
  if (p->stopping) {
    pthread_mutex_unlock(&p->mu);
    if (io)
      pthread_mutex_unlock(&p->io_mu);
    errand__unlisten(t, &j->lis);
    return errand_task_fail(self, ERRAND_E_SHUTDOWN,
                            "the process pool is being destroyed");
  }
  errand__ref_inc(t);
  j->t = t;
  j->level = st_level(ld_acq(&t->state));
  st_rel(&errand__task_aux(t)->drive, proc_drive);
  /* Its run timeout starts when a worker takes it (assign). */
  errand__task_aux(t)->run_timeout_ms = j->run_timeout_ms;
  /* Deferred before the supervisor can see it: it may end the run at once. */
  errand__task_defer(t);
  pworker *w = io ? lendable(p, j) : NULL;
  if (w) {
    pthread_mutex_unlock(&p->mu);
    /* t may end (and go) from here on: p stays, j's reference holds it
     * until the flush is done. */
    errand__ref_inc(p);
    assign(p, w, j);
    pthread_mutex_unlock(&p->io_mu);
    flush_actions(p); /* assign may have failed the job */
    pool_unref(p);
    return 0;
  }
  j->next = NULL;
  if (p->qt[j->level])
    p->qt[j->level]->next = j;
  else
    p->qh[j->level] = j;
  p->qt[j->level] = j;
  /* Under mu: the pool cannot be stopped (and wakefd closed) meanwhile. */
  errand__wakefd_signal(p->wakefd);
  pthread_mutex_unlock(&p->mu);
  if (io)
    pthread_mutex_unlock(&p->io_mu);
  return 0;
}

void errand__procjob_free(errand__procjob *j) {
  argv_free(j->argv);
  pool_unref(j->pool);
  free(j);
}

/* ---- pools ---- */

static pthread_once_t once = PTHREAD_ONCE_INIT;
static void init_once(void) {
  errand__table_set_size(&errand__procpool_table, sizeof(errand__pool));
}

static errand__pool *pool_get(errand_procpool *h, int *code) {
  pthread_once(&once, init_once);
  errand__pool *p = errand__table_get(&errand__procpool_table, h, code);
  if (!p)
    errand__err(*code, *code == ERRAND_E_INVALID
                           ? "process pool handle is NULL"
                           : "process pool handle was released or is not a "
                             "process pool");
  return p;
}

static void pool_unref(errand__pool *p) {
  if (!errand__ref_dec(p))
    return;
  argv_free(p->argv);
  free(p->index_used);
  free(p->fs.reaps);
  errand__jobs_unref(p->jobs);
  pthread_mutex_destroy(&p->mu);
  pthread_mutex_destroy(&p->io_mu);
  errand__table_free(&errand__procpool_table, p);
}

static void pool_stop(errand__pool *p) {
  errand__rt_cancel_at_destroy(p->rt, p->cancel_id);
  pthread_mutex_lock(&p->mu);
  p->stopping = true;
  pthread_mutex_unlock(&p->mu);
  errand__wakefd_signal(p->wakefd);
  errand__thread_join(p->thread);
  close(p->epfd);
  errand__wakefd_close(p->wakefd);
}

static void pool_on_rt_cancel(void *arg) {
  errand__pool *p = arg;
  pthread_mutex_lock(&p->mu);
  p->rt_canceling = true;
  pthread_mutex_unlock(&p->mu);
  errand__wakefd_signal(p->wakefd);
}

static int pool_new(errand__rt *rt, errand__jobs *jobs,
                    const errand_procpool_options *o, bool oneshot,
                    errand__pool **out) {
  pthread_once(&once, init_once);
  int cpus = errand__cpu_count();
  int max = o->max_workers ? o->max_workers : (oneshot ? 2 * cpus : cpus);
  if (oneshot && max < 4)
    max = 4;
  errand__pool *p = errand__table_alloc(&errand__procpool_table, 1);
  if (!p)
    return errand__err(ERRAND_E_NOMEM, "no memory for a process pool");
  pthread_mutex_init(&p->mu, NULL);
  pthread_mutex_init(&p->io_mu, NULL);
  p->acts_tail = &p->acts;
  p->rt = rt;
  p->jobs = jobs;
  errand__ref_inc(jobs);
  p->min = oneshot ? 0 : o->min_workers;
  p->max = max;
  p->recycle_after = o->recycle_after;
  p->recycle_rss = o->recycle_rss;
  p->idle_ms = oneshot ? -1 : (o->idle_timeout_ms ? o->idle_timeout_ms : 30000);
  p->grace_ms = o->kill_grace_ms ? o->kill_grace_ms : 2000;
  p->oneshot = oneshot;
  p->epfd = -1;
  p->wakefd = -1;
  p->fs.c.pid = -1;
  p->fs.c.sock = p->fs.c.pidfd = p->fs.c.out = p->fs.c.err = -1;
  p->fs.c.reply = p->fs.c.run = p->fs.c.run_keep = -1;
  p->index_used = errand__calloc((size_t)max, sizeof *p->index_used);
  if ((o->command && !(p->argv = argv_copy(o->command))) || !p->index_used)
    goto nomem;
  p->epfd = epoll_create1(EPOLL_CLOEXEC);
  p->wakefd = errand__wakefd_open();
  if (p->epfd < 0 || p->wakefd < 0)
    goto sys;
  p->waketag = (evtag){NULL, TAG_WAKE};
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &p->waketag};
  epoll_ctl(p->epfd, EPOLL_CTL_ADD, p->wakefd, &ev);
  if (errand__rt_on_cancel(rt, pool_on_rt_cancel, p, &p->cancel_id))
    goto nomem_fds;
  if (errand__thread_start(&p->thread, supervisor, p, "errand-procs") != 0) {
    errand__rt_cancel_at_destroy(rt, p->cancel_id);
    goto sys;
  }
  *out = p;
  return 0;
sys:
  if (p->epfd >= 0)
    close(p->epfd);
  if (p->wakefd >= 0)
    errand__wakefd_close(p->wakefd);
  pool_unref(p);
  return errand__err(ERRAND_E_SYSTEM, "cannot start the process pool");
nomem_fds:
  close(p->epfd);
  errand__wakefd_close(p->wakefd);
nomem:
  pool_unref(p);
  return errand__err(ERRAND_E_NOMEM, "no memory for a process pool");
}

/* Pools die with their runtime at the latest (after its drain). */
static void pool_at_destroy(void *arg) {
  errand__pool *p = arg;
  pool_stop(p);
  pool_unref(p);
}

int errand_procpool_create(errand_runtime *rth, errand_jobs *jh,
                           const errand_procpool_options *opts,
                           errand_procpool **out) {
  static const errand_procpool_options defaults;
  const errand_procpool_options *o = opts ? opts : &defaults;
  int code;
  errand__rt *rt = errand__rt_get(rth, &code);
  if (!rt)
    return code;
  errand__jobs *jobs = errand__jobs_get(jh, &code);
  if (!jobs)
    return code;
  if (!out)
    return errand__err(ERRAND_E_INVALID, "out is NULL");
  if (o->max_workers < 0 || o->max_workers > 1024 || o->min_workers < 0 ||
      (o->max_workers && o->min_workers > o->max_workers) ||
      o->recycle_after < 0 || o->kill_grace_ms < 0)
    return errand__err(ERRAND_E_INVALID, "process pool options out of range");
  if (!o->max_workers && o->min_workers > errand__cpu_count())
    return errand__err(ERRAND_E_INVALID,
                       "min_workers %d above the default max (CPUs)",
                       o->min_workers);
  errand__pool *p;
  int rc = pool_new(rt, jobs, o, false, &p);
  if (rc)
    return rc;
  errand__ref_inc(p); /* the runtime's, for pool_at_destroy */
  if (errand__rt_at_destroy(rt, pool_at_destroy, p, &p->cleanup_id)) {
    pool_stop(p);
    pool_unref(p);
    pool_unref(p);
    return errand__err(ERRAND_E_NOMEM, "no memory for a process pool");
  }
  errand__wakefd_signal(p->wakefd); /* start the minimum */
  *out = errand__handle_of(&errand__procpool_table, p);
  return 0;
}

int errand_procpool_destroy(errand_procpool *h) {
  if (!h)
    return 0;
  int code;
  errand__pool *p = pool_get(h, &code);
  if (!p)
    return code;
  if (errand__rt_cancel_at_destroy(p->rt, p->cleanup_id)) {
    pool_stop(p);
    pool_unref(p); /* the runtime's */
  }
  pool_unref(p); /* the caller's */
  return 0;
}

int errand_procpool_size(errand_procpool *h, int *out) {
  int code;
  errand__pool *p = pool_get(h, &code);
  if (!p)
    return code;
  if (!out)
    return errand__err(ERRAND_E_INVALID, "out is NULL");
  *out = ld_acq(&p->size);
  return 0;
}

/* One implicit one-shot pool per (runtime, registry). */
static pthread_mutex_t oneshot_mu = PTHREAD_MUTEX_INITIALIZER;
typedef struct oneshot_entry {
  struct oneshot_entry *next;
  errand__rt *rt;
  errand__jobs *jobs;
  errand__pool *pool;
} oneshot_entry;
static oneshot_entry *oneshots;

static void oneshot_at_destroy(void *arg) {
  oneshot_entry *e = arg;
  pthread_mutex_lock(&oneshot_mu);
  for (oneshot_entry **pp = &oneshots; *pp; pp = &(*pp)->next)
    if (*pp == e) {
      *pp = e->next;
      break;
    }
  pthread_mutex_unlock(&oneshot_mu);
  pool_stop(e->pool);
  pool_unref(e->pool);
  free(e);
}

static int oneshot_pool(errand__rt *rt, errand__jobs *jobs,
                        errand__pool **out) {
  pthread_mutex_lock(&oneshot_mu);
  for (oneshot_entry *e = oneshots; e; e = e->next)
    if (e->rt == rt && e->jobs == jobs) {
      *out = e->pool;
      errand__ref_inc(e->pool);
      pthread_mutex_unlock(&oneshot_mu);
      return 0;
    }
  static const errand_procpool_options defaults;
  oneshot_entry *e = errand__calloc(1, sizeof *e);
  int rc = e ? pool_new(rt, jobs, &defaults, true, &e->pool)
             : errand__err(ERRAND_E_NOMEM, "no memory");
  if (rc == 0) {
    uint64_t id;
    if (errand__rt_at_destroy(rt, oneshot_at_destroy, e, &id)) {
      pool_stop(e->pool);
      pool_unref(e->pool);
      rc = errand__err(ERRAND_E_NOMEM, "no memory");
    }
  }
  if (rc) {
    free(e);
    pthread_mutex_unlock(&oneshot_mu);
    return rc;
  }
  e->rt = rt;
  e->jobs = jobs;
  e->next = oneshots;
  oneshots = e;
  errand__ref_inc(e->pool);
  *out = e->pool;
  pthread_mutex_unlock(&oneshot_mu);
  return 0;
}

int errand__proc_start(errand__rt *rt, errand__jobs *jobs, errand__jobrec *rec,
                       const errand_job_options *o, errand_task **out) {
  errand__pool *p;
  int rc;
  if (o->mode == ERRAND_JOB_WORKER) {
    if (!(p = pool_get(o->pool, &rc)))
      return rc;
    if (p->rt != rt)
      return errand__err(ERRAND_E_INVALID,
                         "the pool belongs to another runtime");
    if (!p->argv) {
      /* Its workers are this program: the name must resolve here too. */
      errand_job_fn fn;
      void *arg;
      char why[512];
      if ((rc = errand__jobs_resolve(p->jobs, rec->name, &fn, &arg, why,
                                     sizeof why)))
        return errand__err(rc, "%s", why);
    }
    errand__ref_inc(p);
  } else if ((rc = oneshot_pool(rt, jobs, &p))) {
    return rc;
  }
  errand__procjob *j = errand__calloc(1, sizeof *j);
  if (!j) {
    pool_unref(p);
    return errand__err(ERRAND_E_NOMEM, "no memory for a job");
  }
  j->pool = p;
  j->rec = rec;
  j->retries = o->retries_on_crash;
  j->grace_ms = o->kill_grace_ms;
  if (o->mode == ERRAND_JOB_PROCESS && o->command &&
      !(j->argv = argv_copy(o->command))) {
    errand__procjob_free(j);
    return errand__err(ERRAND_E_NOMEM, "no memory for the command");
  }
  rec->pj = j;
  errand_post_options po = o->post;
  po.mode = ERRAND_MODE_POOL;
  /* The run timeout counts from the moment a worker process takes the job
   * (assign), not from job_fn: a timer started for job_fn could fire
   * before job_fn stops it, on a thread held up that long, and time out
   * a job that never reached a worker.  So the task gets it only then. */
  if ((rc = errand__check_post_options(&po))) {
    rec->pj = NULL, errand__procjob_free(j);
    return rc;
  }
  j->run_timeout_ms = po.run_timeout_ms;
  po.run_timeout_ms = 0;
  if (!po.name)
    po.name = rec->name;
  /* job_fn only hands the job to the pool's queue: run it on this thread
   * (run_here) rather than wake a pool thread for it. */
  rc = errand__post_ext(errand__handle_of(&errand__runtime_table, rt), job_fn,
                        j, &po, rec, errand__jobrec_free, true, out);
  if (rc)
    rec->pj = NULL, errand__procjob_free(j);
  return rc;
}
