/*
 * loop_poll.c — errand's loop in a plain poll(2) event loop.
 *
 * Pool tasks report progress and return values; the main thread watches the
 * loop's file descriptor next to whatever else it watches (here: nothing
 * else, with a timeout as a stand-in for timers) and runs what is pending
 * when it becomes readable.  Every callback runs on the main thread.
 */
#include <poll.h>
#include <string.h>

#include "loop_example.h"

int main(void) {
  errand_runtime *rt = NULL;
  errand_loop *loop = NULL;
  example ex;
  int fd = -1, rc, rounds = 0;
  if ((rc = errand_runtime_create(NULL, &rt)) != 0 ||
      (rc = errand_loop_create(rt, &loop)) != 0 ||
      (rc = errand_loop_fd(loop, &fd)) != 0) {
    fprintf(stderr, "error: %s\n", errand_strerror(rc));
    return 2;
  }
  if (example_start(&ex, rt, loop) != 0) return 2;
  while (!example_done(&ex) && rounds < 3000) { /* at most ~30 s */
    struct pollfd p;
    p.fd = fd;
    p.events = POLLIN;
    p.revents = 0;
    if (poll(&p, 1, 10) > 0 && (p.revents & POLLIN))
      errand_loop_run_pending(loop, 0, NULL);
    else
      rounds++;
  }
  rc = example_finish(&ex);
  errand_loop_destroy(loop);
  errand_runtime_destroy(rt);
  return rc;
}
