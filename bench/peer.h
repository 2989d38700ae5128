/*
 * peer.h — the small interface every pool adapter implements (bench/peers/).
 *
 * A measurement runs in a child process of its own (fork), so an adapter may
 * keep process-wide state (libuv's thread-pool size, oneTBB's
 * global_control, the trampoline's task function) without hurting the next
 * measurement.  One pool per process, created and used by one thread (the
 * "poster": the main thread of the child), except that tasks run on the
 * pool's threads.
 *
 * Each op does what a user of that library would naturally write; where a
 * library has no call for something (e.g. GLib has no "wait until all pushed
 * tasks ran"), the adapter says how it fills the gap in `note`.
 */
#ifndef BENCH_PEER_H
#define BENCH_PEER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef void (*bench_task_fn)(void *arg);

enum bench_prio { BENCH_PRIO_BACKGROUND = 0, BENCH_PRIO_USER_BLOCKING = 1 };

typedef struct bench_peer {
  const char *id;    /* short name used on the command line: "uv" */
  const char *label; /* table label: "libuv" */
  const char *note;  /* how the adapter maps the workloads (one line) */
  /* Version text of the library (may be NULL). */
  const char *(*version)(void);

  /* A pool with `workers` threads whose tasks all run fn(arg).  NULL when the
   * peer has no thread pool (serial, OpenMP).  Returns NULL on failure. */
  void *(*create)(int workers, bench_task_fn fn);
  void (*destroy)(void *pool);
  /* Optional: room for n handles/requests, called before timing. */
  void (*reserve)(void *pool, size_t n);
  /* Post one task.  0 on success. */
  int (*post)(void *pool, void *arg);
  /* Post with a priority; NULL when the peer only has FIFO order. */
  int (*post_prio)(void *pool, void *arg, int prio);
  /* Post n tasks in one call; NULL when the peer has no such call. */
  int (*post_batch)(void *pool, void *const *args, size_t n);
  /* Wait until every task posted so far has run.  0 on success. */
  int (*wait_all)(void *pool);

  /* W2 fork-join: fib(n) with a task for fib(n-1), fib(n-2) inline, then a
   * join; below or at `cutoff` plain recursion.  Uses `workers` threads.
   * NULL when the peer cannot fork-join (a blocking join inside a FIFO pool
   * deadlocks once every worker waits).  Sets up, runs a small warm-up,
   * then times fib(n) alone into *elapsed_ns.  Returns fib(n), or -1. */
  long (*fib)(int workers, int n, int cutoff, uint64_t *elapsed_ns);
} bench_peer;

/* The adapters (each defined in bench/peers/<id>.c when its library was
 * found; bench_peer_find() only returns the built ones). */
extern const bench_peer bench_peer_errand;
extern const bench_peer bench_peer_errand_batch;
extern const bench_peer bench_peer_errand_ff;
extern const bench_peer bench_peer_plain;
extern const bench_peer bench_peer_uv;
extern const bench_peer bench_peer_glib;
extern const bench_peer bench_peer_glib_sort;
extern const bench_peer bench_peer_tbb;
extern const bench_peer bench_peer_omp;
extern const bench_peer bench_peer_serial;

/* Returns the adapter with that id if it was built, else NULL. */
const bench_peer *bench_peer_find(const char *id);
/* The built adapters, in table order. */
size_t bench_peer_count(void);
const bench_peer *bench_peer_at(size_t i);

/* Serial fib, the reference for W2 (peers/serial.c). */
long bench_fib_serial(int n);

#ifdef __cplusplus
}
#endif
#endif
