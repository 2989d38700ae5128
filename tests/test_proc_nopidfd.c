/*
 * test_proc_nopidfd.c — process jobs where the kernel gives no pidfd (a
 * kernel before 5.3, a sandbox that filters pidfd_open, or valgrind): the
 * whole process starts under a seccomp filter that fails pidfd_open with
 * ENOSYS (workers and the fork server inherit it), and errand must still
 * run jobs, end them, and reap every process it started itself.  The first
 * REAP the host sends its fork server finds the socket full
 * (ERRAND_FAIL_REAP=1): it must go later, not be lost.
 */
#include "test_job_common.h"

#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434 /* the same number on every architecture */
#endif

static bool filtered; /* the filter is in place */

static void no_pidfd_open(errand_jobs *jobs) {
  struct sock_filter f[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_pidfd_open, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = {(unsigned short)(sizeof f / sizeof f[0]), f};
  (void)jobs;
  setenv("ERRAND_FAIL_REAP", "1", 1); /* read once, by the host */
  /* Whatever errand leaves to be reaped by someone else (a fork server
   * killed with zombies of its own) becomes our child, and stays a zombie
   * that the checks below see, where init would have reaped it unseen. */
  prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  /* A worker re-executed from this program has it already (a filter
   * survives exec); a second copy changes nothing. */
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
      prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0)
    filtered = syscall(SYS_pidfd_open, (int)getpid(), 0) < 0 &&
               errno == ENOSYS;
}

/* Where seccomp is not available, a test here has nothing to test. */
#define SKIP_UNLESS_FILTERED()                                                \
  do {                                                                        \
    if (!filtered) {                                                          \
      printf("  (no seccomp filter here: skipped)\n");                       \
      return;                                                                 \
    }                                                                         \
  } while (0)

static bool pid_vanishes(int pid, int64_t timeout_ms) {
  int64_t end = check_now_ms() + timeout_ms;
  while (pid_exists(pid)) {
    if (check_now_ms() >= end) return false;
    check_sleep_ms(2);
  }
  return true;
}

/* The first REAP of this process "finds the socket full": it must still
 * reach the server, which reaps the worker while the pool lives (dropped,
 * the worker would stay the server's zombie until the pool goes). */
TEST(a_reap_that_finds_the_socket_full_is_sent_later) {
  errand_runtime *rt;
  errand_job_options o = job_opts(ERRAND_JOB_PROCESS);
  int k;
  SKIP_UNLESS_FILTERED();
  rt = rt_new(2);
  REQUIRE(rt);
  for (k = 0; k < 3; k++) {
    errand_task *t = start_job(rt, "add", "[1,2]", &o);
    int pid = 0;
    if (t && wait_final(t)) {
      CHECK_EQ_STR(result_of(t), "3");
      pid = pid_of(t);
    }
    if (!CHECK(pid > 0 && pid_vanishes(pid, CHECK_LONG_MS)))
      printf("  job %d: pid %d, state '%c'\n", k, pid,
             pid > 0 && pid_state(pid) ? pid_state(pid) : '?');
    errand_task_release(t);
  }
  CHECK_OK(errand_runtime_destroy(rt));
  CHECK_EQ_INT(probe_children(PROBE_ZOMBIE, NULL, 0), 0);
}

/* The scenario of test_proc_basic's shutdown test, where it failed under
 * valgrind: one-shot jobs (from the fork server) and resident ones, busy
 * when the runtime shuts down; one ignores SIGTERM. */
TEST(shutdown_reaps_every_worker_without_pidfd) {
  errand_runtime *rt;
  errand_procpool *pool = NULL;
  errand_procpool_options po;
  errand_task *t[6] = {0};
  int pids[6] = {0}, fds_before;
  SKIP_UNLESS_FILTERED();
  rt = rt_new(2);
  REQUIRE(rt);
  fds_before = probe_fds();
  memset(&po, 0, sizeof po);
  po.min_workers = 1;
  po.max_workers = 3;
  po.kill_grace_ms = 200;
  CHECK_OK(errand_procpool_create(rt, jc_jobs, &po, &pool));
  REQUIRE(pool);
  start_six_hanging(rt, pool, t, pids);
  CHECK_OK(errand_procpool_destroy(pool));
  cancel_six_and_check_clean(rt, t, pids, 0, fds_before);
}

/* Without a pidfd, how a worker ended still comes through: its exit code
 * and its signal, from the fork server for a one-shot job and from
 * waitpid for a resident worker. */
TEST(a_crash_is_reported_without_pidfd) {
  errand_runtime *rt;
  errand_procpool *pool = NULL;
  errand_procpool_options po;
  int m;
  SKIP_UNLESS_FILTERED();
  rt = rt_new(2);
  REQUIRE(rt);
  memset(&po, 0, sizeof po);
  po.max_workers = 1;
  CHECK_OK(errand_procpool_create(rt, jc_jobs, &po, &pool));
  REQUIRE(pool);
  for (m = 0; m < 2; m++) {
    errand_job_options o = job_opts(m ? ERRAND_JOB_WORKER : ERRAND_JOB_PROCESS);
    errand_task *t;
    o.pool = pool;
    t = start_job(rt, "segv", "[]", &o);
    if (t && wait_final(t)) {
      CHECK_EQ_INT(status_of(t), ERRAND_STATUS_FAULTED);
      CHECK_EQ_INT(error_code_of(t), ERRAND_E_WORKER_DIED);
      if (!CHECK(strstr(error_msg_of(t), "SIGSEGV") != NULL))
        printf("  %s: %s\n", mode_name(o.mode), error_msg_of(t));
    }
    errand_task_release(t);
    t = start_job(rt, "add", "[2,3]", &o);
    if (t && wait_final(t)) CHECK_EQ_STR(result_of(t), "5");
    errand_task_release(t);
  }
  CHECK_OK(errand_procpool_destroy(pool));
  CHECK_OK(errand_runtime_destroy(rt));
  CHECK_EQ_INT(probe_children(PROBE_ZOMBIE, NULL, 0), 0);
}

JOB_TEST_MAIN_WITH(no_pidfd_open)
