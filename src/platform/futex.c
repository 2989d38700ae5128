/*
 * futex.c — wait/wake on a 32-bit word.
 *
 * All of errand's blocking (parked workers, waiters, sleeping tasks) ends in
 * these two calls, so the hot paths never touch a pthread condvar.  The word
 * itself is always an atomic that the caller re-checks: the kernel call is
 * only the sleep, never the synchronisation (which also keeps TSan's view of
 * happens-before exact).
 */
#include "platform_int.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int errand__futex_wait(_Atomic uint32_t *addr, uint32_t expected,
                       int64_t timeout_ns) {
  struct timespec ts, *tsp = NULL;
  if (timeout_ns >= 0) {
    ts.tv_sec = (time_t)(timeout_ns / 1000000000);
    ts.tv_nsec = (long)(timeout_ns % 1000000000);
    tsp = &ts;
  }
  /* FUTEX_PRIVATE: the words live in this process only. */
  long rc = syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_PRIVATE, expected,
                    tsp, NULL, 0);
  if (rc == -1 && errno == ETIMEDOUT)
    return -1;
  return 0;
}

void errand__futex_wake(_Atomic uint32_t *addr, int n) {
  syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE_PRIVATE, n < 0 ? INT_MAX : n,
          NULL, NULL, 0);
}
