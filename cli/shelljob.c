/*
 * shelljob.c — the task that runs one shell command.
 *
 * The task posix_spawns `/bin/sh -c COMMAND` as the leader of a new process
 * group, with stdin on /dev/null, stdout and stderr on pipes and a third
 * pipe on descriptor 3 (ERRAND_PROGRESS_FD) for `progress N/M` lines, then
 * watches the pipes, the child (a pidfd where the kernel has them) and its
 * own cancellation in one poll() loop on the task's thread.  The idea that
 * makes "no child survives" hold: every signal goes to the whole group, and
 * the task does not return before the group is empty — after the shell
 * exits, leftovers it started in the background get SIGTERM, then SIGKILL
 * after the grace period, like a cancelled job.
 *
 * The task occupies its pool worker while the command runs, so the number
 * of workers is the number of commands running at once (--parallel).  It
 * talks to the main thread only through task events (start, progress, and
 * output lines with --tail) and through the cli_jobrun fields it fills
 * before it returns.
 */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define PROGRESS_FD 3
#define LINE_MAX_BYTES 4096
#define TICK_MS 50

const char *cli_signal_name(int sig) {
  switch (sig) {
  case SIGHUP:
    return "SIGHUP";
  case SIGINT:
    return "SIGINT";
  case SIGQUIT:
    return "SIGQUIT";
  case SIGILL:
    return "SIGILL";
  case SIGTRAP:
    return "SIGTRAP";
  case SIGABRT:
    return "SIGABRT";
  case SIGBUS:
    return "SIGBUS";
  case SIGFPE:
    return "SIGFPE";
  case SIGKILL:
    return "SIGKILL";
  case SIGUSR1:
    return "SIGUSR1";
  case SIGSEGV:
    return "SIGSEGV";
  case SIGUSR2:
    return "SIGUSR2";
  case SIGPIPE:
    return "SIGPIPE";
  case SIGALRM:
    return "SIGALRM";
  case SIGTERM:
    return "SIGTERM";
  case SIGXCPU:
    return "SIGXCPU";
  case SIGXFSZ:
    return "SIGXFSZ";
  default:
    return "signal";
  }
}

/* One pipe being read: its descriptor and a line buffer. */
typedef struct stream {
  int fd;            /* -1 once closed */
  int log_fd;        /* -1 = none */
  const char *event; /* event name for each line, NULL = no events */
  char line[LINE_MAX_BYTES];
  size_t n;
} stream;

static void emit_line(errand_task *self, stream *s) {
  if (s->event)
    errand_task_emit(self, s->event, s->line, s->n);
  s->n = 0;
}

/* Reads what is there; returns 1 at end of file. */
static int pump(errand_task *self, stream *s) {
  char buf[8192];
  for (;;) {
    ssize_t r = read(s->fd, buf, sizeof buf);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0 && errno == EAGAIN)
      return 0;
    if (r <= 0) {
      if (s->n)
        emit_line(self, s);
      return 1;
    }
    if (s->log_fd >= 0) {
      for (ssize_t off = 0; off < r;) {
        ssize_t w = write(s->log_fd, buf + off, (size_t)(r - off));
        if (w < 0 && errno == EINTR)
          continue;
        if (w <= 0)
          break; /* a full disk loses log text, not the job */
        off += w;
      }
    }
    if (!s->event)
      continue;
    for (ssize_t i = 0; i < r; i++) {
      if (buf[i] == '\n') {
        emit_line(self, s);
      } else {
        s->line[s->n++] = buf[i];
        if (s->n == sizeof s->line)
          emit_line(self, s);
      }
    }
  }
}

static int pipe_hi(int p[2]) {
  /* Move the ends above the descriptors the child gets (0..3), so the
   * dup2 file actions can never clobber one another. */
  int q[2];
  if (pipe2(q, O_CLOEXEC))
    return -1;
  for (int i = 0; i < 2; i++) {
    p[i] = fcntl(q[i], F_DUPFD_CLOEXEC, 10);
    close(q[i]);
  }
  if (p[0] < 0 || p[1] < 0) {
    if (p[0] >= 0)
      close(p[0]);
    if (p[1] >= 0)
      close(p[1]);
    return -1;
  }
  return 0;
}

static int open_log(const char *path) {
  if (!path)
    return -1;
  return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

static char **job_env(cli_jobrun *jr) {
  cli_runner *R = jr->R;
  char **env = calloc(R->base_envc + 5, sizeof *env);
  if (!env)
    return NULL;
  size_t n = 0;
  for (size_t i = 0; i < R->base_envc; i++)
    env[n++] = R->base_env[i];
  char tmp[128];
  snprintf(tmp, sizeof tmp, "ERRAND_PROGRESS_FD=%d", PROGRESS_FD);
  env[n++] = strdup(tmp);
  snprintf(tmp, sizeof tmp, "ERRAND_JOB_ID=%d", jr->spec->id);
  env[n++] = strdup(tmp);
  snprintf(tmp, sizeof tmp, "ERRAND_JOB_ATTEMPT=%d", jr->attempt);
  env[n++] = strdup(tmp);
  size_t nl = strlen(jr->spec->name) + 17;
  env[n] = malloc(nl);
  if (env[n])
    snprintf(env[n], nl, "ERRAND_JOB_NAME=%s", jr->spec->name);
  n++;
  for (size_t i = R->base_envc; i < n; i++)
    if (!env[i]) {
      for (size_t k = R->base_envc; k < n; k++)
        free(env[k]);
      free(env);
      return NULL;
    }
  return env;
}

static void env_free(cli_jobrun *jr, char **env) {
  if (!env)
    return;
  for (size_t i = jr->R->base_envc; env[i]; i++)
    free(env[i]);
  free(env);
}

static int pidfd_of(pid_t pid) {
#ifdef SYS_pidfd_open
  int fd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (fd >= 0)
    fcntl(fd, F_SETFD, FD_CLOEXEC);
  return fd;
#else
  (void)pid;
  return -1;
#endif
}

int cli_shell_task(errand_task *self, void *arg) {
  cli_jobrun *jr = arg;
  cli_runner *R = jr->R;
  jr->exit_code = -1;
  jr->term_sig = 0;
  /* Wait until the main thread listens to this attempt's events (it does
   * so right after posting; events nobody listens to are dropped). */
  while (!atomic_load(&jr->ready))
    if (errand_task_sleep(self, 1) == ERRAND_E_CANCELED)
      return ERRAND_E_CANCELED;
  if (errand_task_is_canceled(self) == 1)
    return ERRAND_E_CANCELED;

  int po[2] = {-1, -1}, pe[2] = {-1, -1}, pp[2] = {-1, -1};
  stream s[3];
  memset(s, 0, sizeof s);
  char **env = NULL;
  int rc = 0;
  if (pipe_hi(po) || pipe_hi(pe) || pipe_hi(pp)) {
    rc = errand_task_fail(self, ERRAND_E_SYSTEM, "cannot make a pipe: %s",
                          strerror(errno));
    goto out_pipes;
  }
  s[0] = (stream){.fd = po[0],
                  .log_fd = open_log(jr->out_path),
                  .event = R->opt->tail ? "cli.out" : NULL};
  s[1] = (stream){.fd = pe[0],
                  .log_fd = open_log(jr->err_path),
                  .event = R->opt->tail ? "cli.err" : NULL};
  s[2] = (stream){.fd = pp[0], .log_fd = -1, .event = "cli.progress"};
  if (jr->attempt > 1) {
    char hdr[80];
    int n = snprintf(hdr, sizeof hdr, "--- errand: attempt %d of %d ---\n",
                     jr->attempt, jr->max_attempts);
    for (int i = 0; i < 2; i++)
      if (s[i].log_fd >= 0 && write(s[i].log_fd, hdr, (size_t)n) < 0) {
        /* the log is best effort */
      }
  }

  env = job_env(jr);
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&at);
  sigset_t none, dfl;
  sigemptyset(&none);
  sigfillset(&dfl);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, po[1], 1);
  posix_spawn_file_actions_adddup2(&fa, pe[1], 2);
  posix_spawn_file_actions_adddup2(&fa, pp[1], PROGRESS_FD);
  posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                    POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&at, 0);
  posix_spawnattr_setsigmask(&at, &none);
  posix_spawnattr_setsigdefault(&at, &dfl);
  char *argv[] = {"/bin/sh", "-c", (char *)jr->spec->command, NULL};
  pid_t pid = -1;
  int sr = env ? posix_spawn(&pid, "/bin/sh", &fa, &at, argv, env) : ENOMEM;
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  close(po[1]);
  close(pe[1]);
  close(pp[1]);
  po[1] = pe[1] = pp[1] = -1;
  if (sr != 0) {
    rc = errand_task_fail(self, ERRAND_E_SYSTEM, "cannot start /bin/sh: %s",
                          strerror(sr));
    goto out;
  }
  atomic_store(&jr->pgid, (int)pid);
  for (int i = 0; i < 3; i++)
    fcntl(s[i].fd, F_SETFL, fcntl(s[i].fd, F_GETFL) | O_NONBLOCK);

  struct {
    int pid, attempt;
    int64_t mono, real;
  } start = {(int)pid, jr->attempt, cli_now_mono(), cli_now_real()};
  errand_task_emit(self, "cli.start", &start, sizeof start);

  int pidfd = pidfd_of(pid);
  int reaped = 0, wstatus = 0, canceled = 0, stage = 0;
  int64_t kill_at = 0, give_up_at = 0;
  int64_t grace_ns = R->opt->kill_grace_ms * 1000000;
  for (;;) {
    struct pollfd pf[4];
    int map[4], n = 0;
    for (int i = 0; i < 3; i++)
      if (s[i].fd >= 0) {
        pf[n] = (struct pollfd){.fd = s[i].fd, .events = POLLIN};
        map[n++] = i;
      }
    if (pidfd >= 0 && !reaped) {
      pf[n] = (struct pollfd){.fd = pidfd, .events = POLLIN};
      map[n++] = -1;
    }
    /* Without a pidfd, a child whose pipes are all closed is only seen by
     * waitpid: poll more often then. */
    int tick =
        (pidfd < 0 && !reaped && s[0].fd < 0 && s[1].fd < 0) ? 5 : TICK_MS;
    int pr = poll(pf, (nfds_t)n, tick);
    if (pr > 0)
      for (int k = 0; k < n; k++)
        if (map[k] >= 0 && pf[k].revents) {
          stream *st = &s[map[k]];
          if (pump(self, st)) {
            if (st->n)
              emit_line(self, st);
            close(st->fd);
            st->fd = -1;
          }
        }
    if (!reaped) {
      pid_t w = waitpid(pid, &wstatus, WNOHANG);
      if (w == pid || (w < 0 && errno == ECHILD))
        reaped = 1;
    }
    int64_t now = cli_now_mono();
    if (!canceled && errand_task_is_canceled(self) == 1) {
      canceled = 1;
      if (stage == 0) {
        kill(-pid, SIGTERM);
        stage = 1;
        kill_at = now + grace_ns;
      }
    }
    if (reaped) {
      /* errand is a child subreaper (run.c): what the shell left behind
       * becomes our child when the shell exits, and is reaped here, by
       * process group, so it never lingers as a zombie of the group. */
      for (;;) {
        siginfo_t si;
        si.si_pid = 0;
        if (waitid(P_PGID, (id_t)pid, &si, WEXITED | WNOHANG) != 0 ||
            si.si_pid == 0)
          break;
      }
      int group_alive = kill(-pid, 0) == 0;
      if (group_alive && stage == 0) {
        /* The shell is gone but something it started is still in its
         * group: that is not allowed to outlive the job. */
        kill(-pid, SIGTERM);
        stage = 1;
        kill_at = now + grace_ns;
      }
      if (!group_alive) {
        if (s[0].fd < 0 && s[1].fd < 0 && s[2].fd < 0)
          break;
        /* Someone outside the group (setsid) still holds a pipe: drain
         * briefly, then stop listening. */
        if (!give_up_at)
          give_up_at = now + 200 * 1000000LL;
        else if (now >= give_up_at)
          break;
      }
    }
    if (stage == 1 && now >= kill_at) {
      kill(-pid, SIGKILL);
      stage = 2;
    }
  }
  if (pidfd >= 0)
    close(pidfd);
  atomic_store(&jr->pgid, 0);

  if (WIFEXITED(wstatus))
    jr->exit_code = WEXITSTATUS(wstatus);
  else if (WIFSIGNALED(wstatus))
    jr->term_sig = WTERMSIG(wstatus);

  if (canceled)
    rc = ERRAND_E_CANCELED; /* the error is the cancel's reason */
  else if (WIFEXITED(wstatus) && jr->exit_code == 0)
    rc = 0;
  else if (WIFEXITED(wstatus))
    rc = errand_task_fail(self, ERRAND_E_FAILED, "exit code %d", jr->exit_code);
  else
    rc = errand_task_fail(self, ERRAND_E_FAILED, "killed by %s (%d)",
                          cli_signal_name(jr->term_sig), jr->term_sig);

out:
  for (int i = 0; i < 3; i++) {
    if (s[i].fd >= 0)
      close(s[i].fd);
    if (s[i].log_fd >= 0)
      close(s[i].log_fd);
  }
  env_free(jr, env);
  return rc;
out_pipes:
  for (int i = 0; i < 2; i++) {
    if (po[i] >= 0)
      close(po[i]);
    if (pe[i] >= 0)
      close(pe[i]);
    if (pp[i] >= 0)
      close(pp[i]);
  }
  return rc;
}
