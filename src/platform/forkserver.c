/*
 * forkserver.c — fresh worker processes by fork from a clean copy of the
 * program, instead of an exec per one-shot job.
 *
 * Exec'ing the host program costs what its dynamic linking costs: a host
 * that links a few large libraries pays ~0.8 ms per start where /bin/true
 * pays 0.2.  So one-shot process jobs whose worker is the program itself
 * go through a fork server (as Python's multiprocessing "forkserver" and
 * Android's zygote do): the program is started once with
 * ERRAND_WORKER=fork-server; errand_worker_main turns it into a
 * single-threaded server that forks a child per request.  The child is
 * exactly what an exec'd worker is when errand_worker_main starts serving
 * (the program's main() has run up to that call and nothing else), gets
 * the host's current directory and environment of the moment of the
 * request, and goes on as a worker on the socket the host sent.  The
 * child for the next request is forked as soon as one is handed out (the
 * spare), so a job waits for no fork.
 *
 * The server is the child's parent, so it learns every exit status; it
 * reports it and keeps the child a zombie until the host says REAP, so a
 * pid the host holds is never reused under it.  Messages are fixed
 * structs on a SOCK_SEQPACKET socket: both ends are the same program.
 */
#include "platform_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

enum { FS_FDS = 4 }; /* per fork: socket, stdout, stderr, current dir */
#define FS_ENV_MAX (60u * 1024u)

typedef struct fs_request {
  int32_t type;
  uint32_t seq;
  int32_t index; /* FORK: ERRAND_WORKER_INDEX; REAP: the pid */
  uint32_t envlen;
} fs_request;

enum { REQ_FORK = 1, REQ_REAP = 2 };

static int cloexec_nonblock(int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
    return -1;
  return fcntl(fd, F_SETFD, FD_CLOEXEC);
}

static void close_all(int *fds, int n) {
  for (int i = 0; i < n; i++)
    if (fds[i] >= 0)
      close(fds[i]);
}

/* ------------------------------------------------------------------ */
/* host side                                                           */

int errand__forkserver_start(errand__child *s, char *why, size_t whylen) {
  memset(s, 0, sizeof *s);
  s->pid = -1;
  s->pidfd = s->sock = s->reply = s->run = s->run_keep = s->out = s->err = -1;
  if (errand__fault(ERRAND__FAULT_SPAWN)) {
    snprintf(why, whylen,
             "cannot start errand's fork server: injected failure "
             "(ERRAND_FAIL_SPAWN)");
    return EAGAIN;
  }
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
    int e = errno;
    snprintf(why, whylen, "cannot create the fork server's socket: %s",
             strerror(e));
    return e;
  }
  /* LD_BIND_NOW: the server resolves every symbol once, at its start;
   * lazily, each forked worker would run the dynamic linker again for
   * every function it calls first (perf: do_lookup_x, check_match and
   * _dl_fixup in every worker).  Workers get the host's environment of the
   * moment instead of the server's, so it goes no further. */
  const char *vars[] = {"ERRAND_WORKER=fork-server", "ERRAND_WORKER_FD=3",
                        "LD_BIND_NOW=1", NULL};
  int rc = errand__spawn_self(vars, sv[1], why, whylen, &s->pid);
  close(sv[1]);
  if (rc != 0) {
    close(sv[0]);
    return rc;
  }
  s->sock = sv[0];
  cloexec_nonblock(s->sock);
  s->pidfd = errand__pidfd_open(s->pid);
  return 0;
}

/* environ minus errand's worker variables, NUL-separated, into buf. */
static size_t pack_env(char *buf, size_t cap) {
  size_t n = 0;
  for (char **e = environ; e && *e; e++) {
    if (strncmp(*e, "ERRAND_WORKER", 13) == 0 ||
        strncmp(*e, "ERRAND_PROTOCOL=", 16) == 0)
      continue;
    size_t l = strlen(*e) + 1;
    if (n + l > cap)
      return (size_t)-1;
    memcpy(buf + n, *e, l);
    n += l;
  }
  return n;
}

int errand__forkserver_request(int ctl, uint32_t seq, int index,
                               errand__child *c, char *why, size_t whylen) {
  memset(c, 0, sizeof *c);
  c->pid = 0; /* until the server says which */
  c->pidfd = c->sock = c->reply = c->run = c->run_keep = c->out = c->err = -1;
  if (errand__fault(ERRAND__FAULT_SPAWN)) {
    snprintf(why, whylen,
             "cannot start a worker: injected failure (ERRAND_FAIL_SPAWN)");
    return EAGAIN;
  }
  int sv[2] = {-1, -1}, po[2] = {-1, -1}, pe[2] = {-1, -1}, cwd = -1;
  int rc = 0;
  char *msg = errand__malloc(sizeof(fs_request) + FS_ENV_MAX);
  if (!msg) {
    snprintf(why, whylen, "no memory for the worker's environment");
    return ENOMEM;
  }
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
      pipe2(po, O_CLOEXEC) < 0 || pipe2(pe, O_CLOEXEC) < 0 ||
      (cwd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) {
    rc = errno;
    snprintf(why, whylen, "cannot create the worker's channels: %s",
             strerror(rc));
    goto fail;
  }
  size_t envlen = pack_env(msg + sizeof(fs_request), FS_ENV_MAX);
  if (envlen == (size_t)-1) {
    rc = -1; /* too large for one message: the caller execs this one */
    goto fail;
  }
  fs_request rq = {REQ_FORK, seq, index, (uint32_t)envlen};
  memcpy(msg, &rq, sizeof rq);
  int fds[FS_FDS] = {sv[1], po[1], pe[1], cwd};
  union {
    char buf[CMSG_SPACE(sizeof fds)];
    struct cmsghdr align;
  } u;
  struct iovec iov = {msg, sizeof rq + envlen};
  struct msghdr mh = {.msg_iov = &iov,
                      .msg_iovlen = 1,
                      .msg_control = u.buf,
                      .msg_controllen = sizeof u.buf};
  struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN(sizeof fds);
  memcpy(CMSG_DATA(cm), fds, sizeof fds);
  ssize_t k;
  while ((k = sendmsg(ctl, &mh, MSG_NOSIGNAL)) < 0 && errno == EINTR)
    ;
  if (k < 0) {
    /* EAGAIN, EMSGSIZE: the caller execs this one. */
    rc = errno == EPIPE || errno == ECONNRESET ? ERRAND__FS_GONE : -1;
    goto fail;
  }
  close(sv[1]);
  close(po[1]);
  close(pe[1]);
  close(cwd);
  free(msg);
  c->sock = sv[0];
  c->out = po[0];
  c->err = pe[0];
  cloexec_nonblock(c->sock);
  cloexec_nonblock(c->out);
  cloexec_nonblock(c->err);
  return 0;
fail:
  free(msg);
  close_all(sv, 2);
  close_all(po, 2);
  close_all(pe, 2);
  if (cwd >= 0)
    close(cwd);
  return rc;
}

int errand__forkserver_reap(int ctl, int pid) {
  fs_request rq = {REQ_REAP, 0, pid, 0};
  if (errand__fault(ERRAND__FAULT_REAP))
    return EAGAIN;
  ssize_t k;
  while ((k = send(ctl, &rq, sizeof rq, MSG_NOSIGNAL | MSG_DONTWAIT)) < 0 &&
         errno == EINTR)
    ;
  if (k == (ssize_t)sizeof rq)
    return 0;
  if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
    return EAGAIN;
  return k < 0 ? errno : EIO;
}

int errand__forkserver_read(int ctl, errand__fsmsg *m) {
  for (;;) {
    ssize_t k = recv(ctl, m, sizeof *m, MSG_DONTWAIT);
    if (k < 0 && errno == EINTR)
      continue;
    if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return 0;
    if (k == (ssize_t)sizeof *m && m->type >= ERRAND__FS_HELLO &&
        m->type <= ERRAND__FS_EXIT)
      return 1;
    return -1; /* end of file, an error, or not a message of ours */
  }
}

int errand__pidfd_exit_status(int pidfd, int *status) {
  /* Linux 6.15's PIDFD_GET_INFO with PIDFD_INFO_EXIT (linux/pidfd.h; the
   * C library's headers may be older than the kernel): the wait status of
   * a process that is not our child, read through a pidfd opened before it
   * ended.  Older kernels say EINVAL or ENOTTY. */
  struct {
    uint64_t mask, cgroupid;
    uint32_t pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
    int32_t exit_code;
  } info = {.mask = 1u << 3};
  _Static_assert(sizeof info == 64, "PIDFD_INFO_SIZE_VER0");
  unsigned long req = (3ul << 30) | ((unsigned long)sizeof info << 16) |
                      (0xFFul << 8) | 11ul; /* _IOWR(0xFF, 11, info) */
  if (ioctl(pidfd, req, &info) != 0)
    return -1;
  if (!(info.mask & (1u << 3)))
    return 1; /* a zombie still: the kernel fills it in at the reap */
  *status = info.exit_code;
  return 0;
}

/* ------------------------------------------------------------------ */
/* server side                                                         */

typedef struct fs_child {
  int pid;
  bool reported;
} fs_child;

static int reply(int ctl, int type, uint32_t seq, int pid, int value) {
  errand__fsmsg m = {type, seq, pid, value};
  ssize_t k;
  /* Blocking: a host that does not read is a host stuck for good, and
   * this process has nothing else to do. */
  while ((k = send(ctl, &m, sizeof m, MSG_NOSIGNAL)) < 0 && errno == EINTR)
    ;
  return k == (ssize_t)sizeof m ? 0 : -1;
}

/* waitid's siginfo as the int waitpid would have given. */
static int wait_status_of(const siginfo_t *si) {
  switch (si->si_code) {
  case CLD_EXITED:
    return (si->si_status & 0xff) << 8;
  case CLD_DUMPED:
    return (si->si_status & 0x7f) | 0x80;
  default:
    return si->si_status & 0x7f;
  }
}

static void report_exits(int ctl, fs_child *kids, int n) {
  for (int i = 0; i < n; i++) {
    if (kids[i].reported)
      continue;
    siginfo_t si;
    memset(&si, 0, sizeof si);
    /* WNOWAIT: the child stays a zombie, its pid reserved, until REAP. */
    if (waitid(P_PID, (id_t)kids[i].pid, &si, WEXITED | WNOHANG | WNOWAIT) ==
            0 &&
        si.si_pid == kids[i].pid) {
      kids[i].reported = true;
      if (reply(ctl, ERRAND__FS_EXIT, 0, kids[i].pid, wait_status_of(&si)))
        _exit(0);
    }
  }
}

/* Moves fd to target (closing what was there), the copy without
 * close-on-exec: the worker's descriptors 1, 2 and 3. */
static void place(int fd, int target) {
  if (fd == target) {
    fcntl(fd, F_SETFD, 0);
    return;
  }
  dup2(fd, target);
  close(fd);
}

/* In the new child: become the worker the request asked for. */
static void become_worker(int fds[FS_FDS], char *env, size_t envlen) {
  /* Every received descriptor is above 3 (0..3 are open in the server:
   * /dev/null, /dev/null, stderr, the control socket), so the moves below
   * never overwrite one another; stdin stays /dev/null. */
  if (fchdir(fds[3]) != 0)
    _exit(126);
  close(fds[3]);
  place(fds[1], 1);
  place(fds[2], 2);
  place(fds[0], 3);
  clearenv();
  for (size_t i = 0; i < envlen;) {
    size_t l = strlen(env + i);
    if (l && strchr(env + i, '='))
      putenv(env + i); /* env lives as long as the process */
    i += l + 1;
  }
}

/* Receives one request on sock into msg (cap bytes; one more for a NUL):
 * its length, with its descriptors in fds[*nfds], 0 at end of file, or -1
 * on an error.  MSG_CTRUNC leaves *nfds short. */
static ssize_t recv_request(int sock, char *msg, size_t cap, int fds[FS_FDS],
                            int *nfds, bool *truncated) {
  union {
    char buf[CMSG_SPACE(sizeof(int) * FS_FDS)];
    struct cmsghdr align;
  } u;
  struct iovec iov = {msg, cap};
  struct msghdr mh = {.msg_iov = &iov,
                      .msg_iovlen = 1,
                      .msg_control = u.buf,
                      .msg_controllen = sizeof u.buf};
  ssize_t k;
  while ((k = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
    ;
  *nfds = 0;
  for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); k > 0 && cm;
       cm = CMSG_NXTHDR(&mh, cm))
    if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
      size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < n; i++) {
        int fd;
        memcpy(&fd, CMSG_DATA(cm) + i * sizeof fd, sizeof fd);
        if (*nfds < FS_FDS)
          fds[(*nfds)++] = fd;
        else
          close(fd);
      }
    }
  *truncated = (mh.msg_flags & MSG_CTRUNC) != 0;
  return k;
}

/* Passes a request on to the spare: its bytes and its descriptors. */
static int forward(int sock, const char *msg, size_t len, const int *fds,
                   int nfds) {
  union {
    char buf[CMSG_SPACE(sizeof(int) * FS_FDS)];
    struct cmsghdr align;
  } u;
  struct iovec iov = {(void *)msg, len};
  struct msghdr mh = {.msg_iov = &iov,
                      .msg_iovlen = 1,
                      .msg_control = u.buf,
                      .msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds)};
  struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
  memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)nfds);
  ssize_t k;
  while ((k = sendmsg(sock, &mh, MSG_NOSIGNAL)) < 0 && errno == EINTR)
    ;
  return k == (ssize_t)len ? 0 : -1;
}

/* The spare: a child forked ahead of the next request, so that a job does
 * not wait for a fork (Android's zygote keeps such a pool of unspecialised
 * processes for the same reason).  It waits for its request on sock, then
 * becomes the worker the request asks for, exactly as a child forked for
 * the request would (the server's state is the same either way).  The
 * server's death ends it: sock reaches its end. */
static void spare_main(int sock, int *index) {
  char *msg = malloc(sizeof(fs_request) + FS_ENV_MAX + 1);
  int fds[FS_FDS];
  int nfds;
  bool truncated;
  ssize_t k = msg ? recv_request(sock, msg, sizeof(fs_request) + FS_ENV_MAX,
                                 fds, &nfds, &truncated)
                  : -1;
  fs_request rq;
  if (k < (ssize_t)sizeof rq || nfds != FS_FDS || truncated)
    _exit(0);
  memcpy(&rq, msg, sizeof rq);
  if (rq.type != REQ_FORK || rq.envlen != (size_t)k - sizeof rq)
    _exit(2);
  close(sock);
  msg[k] = '\0';
  become_worker(fds, msg + sizeof rq, rq.envlen);
  *index = rq.index;
}

typedef struct fs_server {
  int ctl, sfd;
  sigset_t old; /* the signal mask a worker gets */
  fs_child *kids;
  int nkids, cap;
  int spare_pid, spare_sock; /* 0 / -1: none */
} fs_server;

/* A new process for a request (spare = false: the request's descriptors
 * are fds) or for the next one (spare = true): the pid, 0 in the child
 * (which returns as a worker from errand__forkserver_main), -1 with errno
 * when fork failed. */
static int fork_child(fs_server *sv, bool spare, int *spare_sock) {
  int ch[2] = {-1, -1};
  if (spare && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ch) < 0)
    return -1;
  pid_t pid = errand__fault(ERRAND__FAULT_FORK) ? (errno = EAGAIN, -1) : fork();
  if (pid == 0) {
    sigprocmask(SIG_SETMASK, &sv->old, NULL);
    close(sv->sfd);
    close(sv->ctl);
    if (sv->spare_sock >= 0)
      close(sv->spare_sock);
    setpgid(0, 0);
    if (spare) {
      close(ch[0]);
      /* Keep 3 taken (the control socket was there), as in the server:
       * descriptors it receives must land above 3 (become_worker). */
      int hold = open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (hold >= 0 && hold != 3)
        close(hold);
    }
    *spare_sock = ch[1];
    return 0;
  }
  int e = errno;
  if (spare) {
    close(ch[1]);
    if (pid < 0)
      close(ch[0]);
    else
      *spare_sock = ch[0];
  }
  errno = e;
  return pid;
}

static void spare_gone(fs_server *sv) {
  if (sv->spare_pid <= 0)
    return;
  kill(sv->spare_pid, SIGKILL);
  waitpid(sv->spare_pid, NULL, 0);
  close(sv->spare_sock);
  sv->spare_pid = 0;
  sv->spare_sock = -1;
}

/* The server ends (the host is gone or broke the rules): its spare with
 * it, so that no process outlives errand. */
static _Noreturn void leave(fs_server *sv, int code) {
  spare_gone(sv);
  _exit(code);
}

int errand__forkserver_main(int ctl, int *index) {
  /* 0..2 open, so no descriptor received lands there (see become_worker). */
  for (int fd = 0; fd <= 2; fd++)
    if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) != fd)
      _exit(3);
  fs_server sv = {.ctl = ctl, .spare_sock = -1};
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, &sv.old);
  sv.sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sv.sfd < 0 || reply(ctl, ERRAND__FS_HELLO, 0, (int)getpid(), 1))
    _exit(3);
  char *msg = NULL;
  for (;;) {
    struct pollfd pf[2] = {{ctl, POLLIN, 0}, {sv.sfd, POLLIN, 0}};
    if (poll(pf, 2, -1) < 0) {
      if (errno == EINTR)
        continue;
      leave(&sv, 3);
    }
    if (pf[1].revents) {
      struct signalfd_siginfo ssi;
      while (read(sv.sfd, &ssi, sizeof ssi) == (ssize_t)sizeof ssi)
        ;
      /* A spare that died waiting (a kill from outside) is nobody's. */
      siginfo_t si;
      memset(&si, 0, sizeof si);
      if (sv.spare_pid > 0 &&
          waitid(P_PID, (id_t)sv.spare_pid, &si, WEXITED | WNOHANG) == 0 &&
          si.si_pid == sv.spare_pid) {
        close(sv.spare_sock);
        sv.spare_pid = 0;
        sv.spare_sock = -1;
      }
      report_exits(ctl, sv.kids, sv.nkids);
    }
    if (!pf[0].revents)
      continue;
    if (!msg && !(msg = malloc(sizeof(fs_request) + FS_ENV_MAX + 1)))
      leave(&sv, 3);
    int fds[FS_FDS] = {-1, -1, -1, -1};
    int nfds;
    bool truncated;
    ssize_t k = recv_request(ctl, msg, sizeof(fs_request) + FS_ENV_MAX, fds,
                             &nfds, &truncated);
    if (k <= 0)
      leave(&sv, 0); /* the host is gone or done with us */
    fs_request rq;
    if ((size_t)k < sizeof rq)
      leave(&sv, 2);
    memcpy(&rq, msg, sizeof rq);
    if (rq.type == REQ_REAP) {
      close_all(fds, nfds);
      for (int i = 0; i < sv.nkids; i++)
        if (sv.kids[i].pid == rq.index) {
          waitpid(sv.kids[i].pid, NULL, WNOHANG);
          sv.kids[i] = sv.kids[--sv.nkids];
          break;
        }
      continue;
    }
    if (rq.type != REQ_FORK || rq.envlen != (size_t)k - sizeof rq)
      leave(&sv, 2);
    if (nfds != FS_FDS || truncated) {
      close_all(fds, nfds);
      if (reply(ctl, ERRAND__FS_FAILED, rq.seq, 0, EMFILE))
        leave(&sv, 0);
      continue;
    }
    if (sv.nkids == sv.cap) {
      int ncap = sv.cap ? 2 * sv.cap : 16;
      fs_child *nk = realloc(sv.kids, (size_t)ncap * sizeof *nk);
      if (!nk) {
        close_all(fds, nfds);
        if (reply(ctl, ERRAND__FS_FAILED, rq.seq, 0, ENOMEM))
          leave(&sv, 0);
        continue;
      }
      sv.kids = nk;
      sv.cap = ncap;
    }
    /* The spare takes it if it is there and alive; else a fork now. */
    int pid = -1, e = 0;
    if (sv.spare_pid > 0) {
      if (forward(sv.spare_sock, msg, (size_t)k, fds, nfds) == 0) {
        pid = sv.spare_pid;
        close(sv.spare_sock);
        sv.spare_pid = 0;
        sv.spare_sock = -1;
      } else {
        spare_gone(&sv);
      }
    }
    if (pid < 0) {
      int unused;
      pid = fork_child(&sv, false, &unused);
      e = errno;
      if (pid == 0) {
        msg[k] = '\0';
        become_worker(fds, msg + sizeof rq, rq.envlen);
        free(sv.kids);
        *index = rq.index;
        return 0;
      }
    }
    close_all(fds, nfds);
    if (pid < 0) {
      if (reply(ctl, ERRAND__FS_FAILED, rq.seq, 0, e))
        leave(&sv, 0);
      continue;
    }
    sv.kids[sv.nkids++] = (fs_child){pid, false};
    if (reply(ctl, ERRAND__FS_FORKED, rq.seq, pid, 0))
      leave(&sv, 0);
    /* The next job's process, forked while this one starts. */
    if (sv.spare_pid <= 0) {
      int ch = -1;
      int sp = fork_child(&sv, true, &ch);
      if (sp == 0) {
        free(msg);
        free(sv.kids);
        spare_main(ch, index);
        return 0;
      }
      if (sp > 0) {
        sv.spare_pid = sp;
        sv.spare_sock = ch;
      }
    }
  }
}
