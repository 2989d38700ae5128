/*
 * thread.c — threads, the clock and the CPU count.
 */
#include "platform_int.h"

#include <signal.h>
#include <time.h>
#include <unistd.h>

uint64_t errand__now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int errand__cpu_count(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : (n > 1024 ? 1024 : (int)n);
}

int errand__thread_start(pthread_t *t, void *(*fn)(void *), void *arg,
                         const char *name) {
  sigset_t all, old;
  sigfillset(&all);
  /* The new thread inherits this mask: errand's threads never take the
   * host's signals (SIGINT, SIGCHLD...). */
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int rc = pthread_create(t, NULL, fn, arg);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc == 0 && name) {
    char buf[16]; /* the kernel's limit, terminator included */
    size_t i = 0;
    for (; name[i] && i < sizeof buf - 1; i++)
      buf[i] = name[i];
    buf[i] = '\0';
    pthread_setname_np(*t, buf);
  }
  return rc;
}

void errand__thread_join(pthread_t t) { pthread_join(t, NULL); }
