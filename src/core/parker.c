/*
 * parker.c — one sleep/wake word per thread.
 *
 * A thread parks on its own word; anyone who wants it awake unparks that
 * word.  A notification that arrives before the park is kept, so the classic
 * "check condition, then sleep" race cannot lose a wake-up: every waiter in
 * errand registers itself first, re-checks its condition, then parks.
 */
#include "core/core_int.h"

#include <sched.h>
#include <stdint.h>

enum { EMPTY = 0, NOTIFIED = 1, PARKED = 2 };

static ERRAND__HOT_TLS errand__parker self_parker;

/* Whether this thread unparked a thread since errand__yield_if_woke last
 * looked.  The kernel may queue the thread it wakes on the waker's CPU
 * while another CPU idles, and does not preempt the waker for it.  If the
 * waker then spins (a worker looking for work after the task whose caller
 * it woke; a caller waiting right after the post that woke a worker), the
 * woken thread waits out the whole spin: a post and wait of an empty task
 * on 1 worker took 210 us, the worker's 200 us spin, instead of a few. */
static ERRAND__HOT_TLS bool woke;

errand__parker *errand__parker_self(void) { return &self_parker; }

uint64_t errand__deadline(int64_t timeout_ms) {
  if (timeout_ms < 0)
    return 0; /* forever */
  uint64_t now = errand__now_ns();
  if (timeout_ms > INT64_MAX / 2000000)
    timeout_ms = INT64_MAX / 2000000;
  return now + (uint64_t)timeout_ms * 1000000u;
}

void errand__park(errand__parker *p, uint64_t deadline_ns) {
  uint32_t expected = NOTIFIED;
  /* acquire: whatever the unparker did before unparking is visible now. */
  if (atomic_compare_exchange_strong_explicit(&p->state, &expected, EMPTY,
                                              memory_order_acquire,
                                              memory_order_relaxed))
    return;
  expected = EMPTY;
  if (!atomic_compare_exchange_strong_explicit(&p->state, &expected, PARKED,
                                               memory_order_acquire,
                                               memory_order_relaxed)) {
    /* It became NOTIFIED in between. */
    atomic_exchange_explicit(&p->state, EMPTY, memory_order_acquire);
    return;
  }
  for (;;) {
    int64_t timeout = -1;
    if (deadline_ns) {
      uint64_t now = errand__now_ns();
      if (now >= deadline_ns)
        break;
      timeout = (int64_t)(deadline_ns - now);
    }
    errand__futex_wait(&p->state, PARKED, timeout);
    if (ld_acq(&p->state) == NOTIFIED)
      break;
  }
  atomic_exchange_explicit(&p->state, EMPTY, memory_order_acquire);
}

bool errand__yield_if_woke(void) {
  if (!woke)
    return false;
  woke = false;
  sched_yield();
  return true;
}

/* How often a thread spinning in errand__spin_for_unpark offers its CPU: the
 * thread that will unpark it may be queued there, behind the spin (a
 * worker that was spinning on the waiter's CPU when the waiter posted:
 * nobody was woken, so errand__yield_if_woke does not see it). */
#define PARK_SPIN_YIELD_NS 10000u

void errand__spin_for_unpark(errand__parker *p, int rounds) {
  errand__yield_if_woke();
  uint64_t yielded = errand__stamp();
  for (int i = 0; i < rounds; i++) {
    errand__cpu_relax();
    if ((i & 15) != 15)
      continue;
    if (atomic_load_explicit(&p->state, memory_order_relaxed) == NOTIFIED)
      break;
    uint64_t now = errand__stamp();
    if (errand__stamp_ns(now - yielded) >= PARK_SPIN_YIELD_NS) {
      sched_yield();
      yielded = errand__stamp();
    }
  }
}

void errand__unpark(errand__parker *p) {
  /* release: pairs with the acquire in errand__park. */
  uint32_t was =
      atomic_exchange_explicit(&p->state, NOTIFIED, memory_order_release);
  if (was == PARKED)
    errand__futex_wake(&p->state, 1);
  /* Also when it was not parked yet: it may be spinning or about to, on
   * a CPU it shares with us. */
  if (was != NOTIFIED)
    woke = true;
}
