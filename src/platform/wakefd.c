/*
 * wakefd.c — the descriptor a loop hands to the host's event loop.
 *
 * An eventfd: one descriptor, no pipe pair, and a counter that a writer
 * can bump any number of times before the reader drains it.
 */
#include "platform_int.h"

#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

int errand__wakefd_open(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

void errand__wakefd_signal(int fd) {
  uint64_t one = 1;
  while (write(fd, &one, sizeof one) < 0 && errno == EINTR)
    ;
}

void errand__wakefd_drain(int fd) {
  uint64_t v;
  while (read(fd, &v, sizeof v) < 0 && errno == EINTR)
    ;
}

void errand__wakefd_wait(int fd, int64_t timeout_ms) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  int t =
      timeout_ms < 0 ? -1 : (timeout_ms > 1000000 ? 1000000 : (int)timeout_ms);
  poll(&p, 1, t);
}

void errand__wakefd_close(int fd) { close(fd); }

int errand__wait_readable(int fd, int stopfd) {
  struct pollfd p[2] = {{.fd = fd, .events = POLLIN},
                        {.fd = stopfd, .events = POLLIN}};
  for (;;) {
    int n = poll(p, 2, -1);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 || p[1].revents)
      return -1;
    if (p[0].revents)
      return 0; /* readable, shut or in error: read() says which */
  }
}

bool errand__fd_wait_readable(int fd, int64_t timeout_ms) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  int t = timeout_ms < 0         ? -1
          : timeout_ms > 1000000 ? 1000000
                                 : (int)timeout_ms;
  int n;
  while ((n = poll(&p, 1, t)) < 0 && errno == EINTR)
    ;
  return n > 0;
}
