/*
 * tbb.cpp — oneTBB.
 *
 * Pool workloads: task_arena(workers, 0) — `workers` worker threads, the
 * posting thread is not one of them — and task_arena::enqueue(), oneTBB's
 * call for fire-and-forget work from outside.  oneTBB has no "wait for the
 * enqueued tasks", so each task counts itself done (an atomic decrement; the
 * poster sleeps on a futex).  Priorities (W4): one arena per level,
 * task_arena::priority::low for background and ::high for user-blocking;
 * workers move to the high arena between tasks.
 *
 * W2: tbb::task_group inside task_arena(workers) (the calling thread plus
 * workers-1 workers, oneTBB's usual setup), fib(n-1) run, fib(n-2) inline,
 * wait().
 */
#include <oneapi/tbb/global_control.h>
#include <oneapi/tbb/task_arena.h>
#include <oneapi/tbb/task_group.h>
#include <oneapi/tbb/version.h>

#include <memory>
#include <new>

#include "../common.h"
#include "../peer.h"

namespace {

bench_task_fn g_fn;

struct tbbpool {
  int workers;
  std::unique_ptr<tbb::global_control> gc;
  std::unique_ptr<tbb::task_arena> normal, low, high;
};

tbb::task_arena *arena_for(tbbpool *p, int which) {
  std::unique_ptr<tbb::task_arena> &slot = which == 0   ? p->normal
                                           : which == 1 ? p->low
                                                        : p->high;
  if (!slot) {
    tbb::task_arena::priority pr =
        which == 0   ? tbb::task_arena::priority::normal
        : which == 1 ? tbb::task_arena::priority::low
                     : tbb::task_arena::priority::high;
    slot.reset(new tbb::task_arena(p->workers, 0, pr));
    slot->initialize();
  }
  return slot.get();
}

void *tbb_create(int workers, bench_task_fn fn) {
  try {
    tbbpool *p = new tbbpool;
    p->workers = workers;
    /* oneTBB keeps (max_allowed_parallelism - 1) worker threads for the
     * process; +1 so `workers` of them exist besides the poster. */
    p->gc.reset(new tbb::global_control(
        tbb::global_control::max_allowed_parallelism, (size_t)workers + 1));
    g_fn = fn;
    arena_for(p, 0);
    return p;
  } catch (...) {
    return nullptr;
  }
}

int enqueue_in(tbbpool *p, int which, void *arg) {
  try {
    arena_for(p, which)->enqueue([arg] {
      g_fn(arg);
      bench_pending_done();
    });
  } catch (...) {
    return -1;
  }
  bench_pending_add(1);
  return 0;
}

int tbb_post(void *p, void *arg) {
  return enqueue_in(static_cast<tbbpool *>(p), 0, arg);
}

int tbb_post_prio(void *p, void *arg, int prio) {
  return enqueue_in(static_cast<tbbpool *>(p),
                    prio == BENCH_PRIO_USER_BLOCKING ? 2 : 1, arg);
}

int tbb_wait_all(void *) {
  bench_pending_wait();
  return 0;
}

void tbb_destroy(void *p) {
  delete static_cast<tbbpool *>(p);
}

long fib_tg(int n, int cutoff) {
  if (n < 2)
    return n;
  if (n <= cutoff)
    return bench_fib_serial(n);
  long x = 0;
  tbb::task_group tg;
  tg.run([&x, n, cutoff] { x = fib_tg(n - 1, cutoff); });
  long y = fib_tg(n - 2, cutoff);
  tg.wait();
  return x + y;
}

long tbb_fib(int workers, int n, int cutoff, uint64_t *elapsed_ns) {
  try {
    tbb::global_control gc(tbb::global_control::max_allowed_parallelism,
                           (size_t)workers);
    tbb::task_arena arena(workers);
    long r = -1;
    arena.execute([&] { r = fib_tg(n < 20 ? n : 20, cutoff); }); /* warm-up */
    uint64_t t0 = bench_now_ns();
    arena.execute([&] { r = fib_tg(n, cutoff); });
    *elapsed_ns = bench_now_ns() - t0;
    return r;
  } catch (...) {
    return -1;
  }
}

const char *tbb_version() {
  return TBB_runtime_version();
}

bench_peer make_peer() {
  bench_peer p{};
  p.id = "tbb";
  p.label = "oneTBB";
  p.note = "task_arena(workers,0)::enqueue + completion counter; W4: "
           "low/high-priority arenas; W2: task_group in task_arena(workers)";
  p.version = tbb_version;
  p.create = tbb_create;
  p.destroy = tbb_destroy;
  p.post = tbb_post;
  p.post_prio = tbb_post_prio;
  p.wait_all = tbb_wait_all;
  p.fib = tbb_fib;
  return p;
}

} // namespace

extern "C" const bench_peer bench_peer_tbb = make_peer();
