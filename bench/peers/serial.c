/* serial.c — plain recursive fib, W2's reference time (no threads). */
#include "../common.h"
#include "../peer.h"

long bench_fib_serial(int n) {
  return n < 2 ? n : bench_fib_serial(n - 1) + bench_fib_serial(n - 2);
}

static long serial_fib(int workers, int n, int cutoff, uint64_t *elapsed_ns) {
  (void)workers;
  (void)cutoff;
  volatile int nn = n; /* keep the compiler from folding the call */
  uint64_t t0 = bench_now_ns();
  long r = bench_fib_serial(nn);
  *elapsed_ns = bench_now_ns() - t0;
  return r;
}

static const char *serial_version(void) {
#ifdef __clang__
  return __VERSION__;
#else
  return "gcc " __VERSION__;
#endif
}

const bench_peer bench_peer_serial = {
    .id = "serial",
    .version = serial_version,
    .label = "serial",
    .note = "plain recursion on the calling thread",
    .fib = serial_fib,
};
