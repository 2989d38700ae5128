/*
 * spawn.c — start worker processes and reap them.
 *
 * posix_spawn, not fork: it is safe from a threaded host and cheap (vfork
 * under glibc).  The worker gets a process group of its own so a cancel
 * or a timeout can stop everything it started; we only ever wait for our
 * own pids (through a pidfd where the kernel has one), so the host's own
 * children are never reaped by errand.
 */
#include "platform_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static int set_flags(int fd) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
    return -1;
  return fcntl(fd, F_SETFD, FD_CLOEXEC);
}

static bool is_worker_var(const char *e) {
  return strncmp(e, "ERRAND_WORKER=", 14) == 0 ||
         strncmp(e, "ERRAND_WORKER_FD=", 17) == 0 ||
         strncmp(e, "ERRAND_WORKER_REPLY_FD=", 23) == 0 ||
         strncmp(e, "ERRAND_WORKER_RUN_FD=", 21) == 0 ||
         strncmp(e, "ERRAND_PROTOCOL=", 16) == 0 ||
         strncmp(e, "ERRAND_WORKER_INDEX=", 20) == 0;
}

/* environ minus any ERRAND_WORKER* plus vars (NULL-ended). */
static char **make_env(const char *const *vars) {
  size_t n = 0, m = 0;
  for (char **e = environ; e && *e; e++)
    n++;
  while (vars[m])
    m++;
  char **env = errand__malloc((n + m + 1) * sizeof *env);
  if (!env)
    return NULL;
  size_t k = 0;
  for (char **e = environ; e && *e; e++)
    if (!is_worker_var(*e))
      env[k++] = *e;
  for (size_t i = 0; i < m; i++)
    env[k++] = (char *)vars[i];
  env[k] = NULL;
  return env;
}

/* A descriptor that is none of 0..5, so the dup2s below never collide and
 * always clear close-on-exec on their target. */
static int above5(int fd) {
  if (fd > 5)
    return fd;
  int nfd = fcntl(fd, F_DUPFD_CLOEXEC, 6);
  close(fd);
  return nfd;
}

/* This program's file.  readlink, not /proc/self/exe itself: under a tool
 * such as valgrind the latter is the tool, and readlink gives the program
 * (and a path keeps working if /proc goes away later). */
static char self_exe[4096];
static pthread_once_t self_once = PTHREAD_ONCE_INIT;
static void read_self(void) {
  ssize_t n = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
  if (n <= 0 || (size_t)n >= sizeof self_exe - 1)
    snprintf(self_exe, sizeof self_exe, "/proc/self/exe");
  else
    self_exe[n] = '\0';
}
static const char *self_path(void) {
  pthread_once(&self_once, read_self);
  return self_exe;
}

/* Starts argv (NULL: this program) with fd3 on descriptor 3 (and fd4 on 4,
 * fd5 on 5, unless -1), out and err
 * on 1 and 2 (-1: /dev/null for out, the host's stderr for err, or
 * /dev/null if it has none), stdin /dev/null, vars added to the
 * environment, in a process group of its own with every signal unblocked
 * and at its default.  0 or an errno value with why filled in. */
static int spawn_with(const char *const *argv, const char *const *vars, int fd3,
                      int fd4, int fd5, int out, int err, int *pidp, char *why,
                      size_t whylen) {
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  bool fa_init = false, at_init = false;
  int rc;
  char **env = make_env(vars);
  if (!env) {
    snprintf(why, whylen, "no memory for the worker's environment");
    return ENOMEM;
  }
  if ((rc = posix_spawn_file_actions_init(&fa)) != 0)
    goto fail;
  fa_init = true;
  if ((rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY,
                                             0)) ||
      (rc = out >= 0 ? posix_spawn_file_actions_adddup2(&fa, out, 1)
                     : posix_spawn_file_actions_addopen(&fa, 1, "/dev/null",
                                                        O_WRONLY, 0)) ||
      (rc = err >= 0 ? posix_spawn_file_actions_adddup2(&fa, err, 2)
            : fcntl(2, F_GETFD) < 0 ? posix_spawn_file_actions_addopen(
                                          &fa, 2, "/dev/null", O_WRONLY, 0)
                                    : 0) ||
      (rc = posix_spawn_file_actions_adddup2(&fa, fd3, 3)) ||
      (rc = fd4 >= 0 ? posix_spawn_file_actions_adddup2(&fa, fd4, 4) : 0) ||
      (rc = fd5 >= 0 ? posix_spawn_file_actions_adddup2(&fa, fd5, 5) : 0))
    goto fail;
  if ((rc = posix_spawnattr_init(&at)) != 0)
    goto fail;
  at_init = true;
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  /* errand's threads block every signal; the worker must not inherit that
   * (SIGTERM has to work), nor the host's handlers. */
  if ((rc = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP |
                                              POSIX_SPAWN_SETSIGMASK |
                                              POSIX_SPAWN_SETSIGDEF)) ||
      (rc = posix_spawnattr_setpgroup(&at, 0)) ||
      (rc = posix_spawnattr_setsigmask(&at, &none)) ||
      (rc = posix_spawnattr_setsigdefault(&at, &all)))
    goto fail;
  const char *self_argv[] = {program_invocation_short_name, NULL};
  const char *path = argv ? argv[0] : self_path();
  char *const *args = (char *const *)(argv ? argv : self_argv);
  pid_t pid;
  rc = argv && !strchr(path, '/')
           ? posix_spawnp(&pid, path, &fa, &at, args, env)
           : posix_spawn(&pid, path, &fa, &at, args, env);
  if (rc == 0)
    *pidp = pid;
fail:
  if (rc)
    snprintf(why, whylen, "cannot start worker %s: %s",
             argv ? argv[0] : "(this program)", strerror(rc));
  if (fa_init)
    posix_spawn_file_actions_destroy(&fa);
  if (at_init)
    posix_spawnattr_destroy(&at);
  free(env);
  return rc;
}

int errand__spawn_self(const char *const *vars, int fd3, char *why,
                       size_t whylen, int *pid) {
  int fd = fcntl(fd3, F_DUPFD_CLOEXEC, 4); /* dup2 to 3 clears CLOEXEC */
  if (fd < 0) {
    int e = errno;
    snprintf(why, whylen, "cannot place the fork server's socket: %s",
             strerror(e));
    return e;
  }
  int rc = spawn_with(NULL, vars, fd, -1, -1, -1, -1, pid, why, whylen);
  close(fd);
  return rc;
}

int errand__spawn_worker(const char *const *argv, int index, errand__child *c,
                         char *why, size_t whylen) {
  int sv[2] = {-1, -1}, pr[2] = {-1, -1}, pq[2] = {-1, -1}, po[2] = {-1, -1},
      pe[2] = {-1, -1};
  int rc = 0;
  char idxbuf[48];
  memset(c, 0, sizeof *c);
  c->pid = -1;
  c->pidfd = c->sock = c->reply = c->run = c->run_keep = c->out = c->err = -1;
  if (errand__fault(ERRAND__FAULT_SPAWN)) {
    snprintf(why, whylen,
             "cannot start a worker: injected failure "
             "(ERRAND_FAIL_SPAWN)");
    return EAGAIN;
  }
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
      pipe2(pr, O_CLOEXEC) < 0 || pipe2(pq, O_CLOEXEC) < 0 ||
      pipe2(po, O_CLOEXEC) < 0 || pipe2(pe, O_CLOEXEC) < 0) {
    rc = errno;
    snprintf(why, whylen, "cannot create the worker's channels: %s",
             strerror(rc));
    goto fail;
  }
  sv[1] = above5(sv[1]);
  pr[1] = above5(pr[1]);
  pq[0] = above5(pq[0]);
  po[1] = above5(po[1]);
  pe[1] = above5(pe[1]);
  if (sv[1] < 0 || pr[1] < 0 || pq[0] < 0 || po[1] < 0 || pe[1] < 0) {
    rc = errno;
    snprintf(why, whylen, "cannot place the worker's channels: %s",
             strerror(rc));
    goto fail;
  }
  snprintf(idxbuf, sizeof idxbuf, "ERRAND_WORKER_INDEX=%d", index);
  const char *vars[] = {"ERRAND_WORKER=1",
                        "ERRAND_WORKER_FD=3",
                        "ERRAND_WORKER_REPLY_FD=4",
                        "ERRAND_WORKER_RUN_FD=5",
                        "ERRAND_PROTOCOL=1",
                        idxbuf,
                        NULL};
  int pid;
  if ((rc = spawn_with(argv, vars, sv[1], pr[1], pq[0], po[1], pe[1], &pid, why,
                       whylen)))
    goto fail;
  c->pid = pid;
  c->pidfd = errand__pidfd_open(pid);
  c->sock = sv[0];
  c->reply = pr[0];
  c->run = pq[1];
  /* Kept, never read: with a reader left, a write to the run pipe of a
   * worker that is gone fails (or fills the pipe) instead of raising
   * SIGPIPE in the host. */
  c->run_keep = pq[0];
  c->out = po[0];
  c->err = pe[0];
  close(sv[1]);
  close(pr[1]);
  close(po[1]);
  close(pe[1]);
  set_flags(c->sock);
  set_flags(c->reply);
  set_flags(c->run);
  /* run_keep stays blocking: it shares its file status flags with the
   * worker's end. */
  set_flags(c->out);
  set_flags(c->err);
  return 0;
fail:
  for (int i = 0; i < 2; i++) {
    if (sv[i] >= 0)
      close(sv[i]);
    if (pr[i] >= 0)
      close(pr[i]);
    if (pq[i] >= 0)
      close(pq[i]);
    if (po[i] >= 0)
      close(po[i]);
    if (pe[i] >= 0)
      close(pe[i]);
  }
  return rc ? rc : EIO;
}

int errand__pidfd_open(int pid) {
  int fd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (fd >= 0)
    fcntl(fd, F_SETFD, FD_CLOEXEC);
  return fd;
}

bool errand__pidfd_ended(int pidfd) {
  struct pollfd p = {.fd = pidfd, .events = POLLIN};
  return pidfd >= 0 && poll(&p, 1, 0) > 0;
}

void errand__child_kill(const errand__child *c, int sig) {
  if (c->pid > 0) {
    /* The group first (grandchildren), then the pid itself in case it
     * left the group. */
    kill(-c->pid, sig);
    kill(c->pid, sig);
  }
}

int errand__child_reap(errand__child *c, int *status, int block) {
  if (c->pid <= 0)
    return 1;
  for (;;) {
    pid_t r = waitpid(c->pid, status, block ? 0 : WNOHANG);
    if (r == c->pid)
      return 1;
    if (r == 0)
      return 0;
    if (errno == EINTR)
      continue;
    /* ECHILD: someone else reaped it (a host that waits for any child). */
    *status = 0;
    return 1;
  }
}

void errand__describe_status(int status, char *buf, size_t len) {
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    const char *abbrev = sigabbrev_np(sig);
    snprintf(buf, len, "killed by signal SIG%s (%d)", abbrev ? abbrev : "?",
             sig);
  } else if (WIFEXITED(status)) {
    snprintf(buf, len, "exited with code %d", WEXITSTATUS(status));
  } else {
    snprintf(buf, len, "ended with status 0x%x", (unsigned)status);
  }
}

bool errand__status_is_sigkill(int status) {
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

uint64_t errand__rss_of(int pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/statm", pid);
  FILE *f = fopen(path, "re");
  if (!f)
    return 0;
  unsigned long size = 0, rss = 0;
  int n = fscanf(f, "%lu %lu", &size, &rss);
  fclose(f);
  return n == 2 ? (uint64_t)rss * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}
