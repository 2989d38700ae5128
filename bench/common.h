/*
 * common.h — small helpers shared by every workload and peer adapter:
 * clocks, CPU time, RSS, busy-spins, a completion counter, per-thread task
 * counters, and the "emit a metric" channel from a measurement child.
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t bench_now_ns(void);

/* Sleeps until the CLOCK_MONOTONIC instant deadline_ns (absolute). */
void bench_sleep_until_ns(uint64_t deadline_ns);

/* Sleeps until tick i (from 0) of a schedule that starts at t0_ns with
 * one tick every spacing_us: the first tick is one spacing after t0_ns.
 * Absolute, so one late wake-up does not shift the ticks after it. */
void bench_sleep_until_tick(uint64_t t0_ns, long i, int spacing_us);

/* Busy-waits for ns nanoseconds (the "~50 µs of work" of W4). */
void bench_spin_ns(uint64_t ns);

/* Asks for 1 ns timer slack on the calling thread so 100 µs sleeps are
 * ~100 µs and not ~150 µs (Linux' default slack is 50 µs). */
void bench_tight_timers(void);

/* calloc that also writes every page of the block now.  Latency
 * workloads stamp the post time into such a block and then store it: a
 * page faulted in by that store (10-15 µs on the 2-CPU VM) would count as
 * the pool's latency.  A plain memset after calloc does not help: the
 * compiler may drop it. */
void *bench_calloc_touched(size_t n, size_t size);

/* CPU time (user+system, ns; getrusage, so µs resolution) of the whole
 * process / of the calling thread. */
uint64_t bench_cpu_process_ns(void);
uint64_t bench_cpu_thread_ns(void);

/* Resident set size in bytes, from /proc/self/statm. */
uint64_t bench_rss_bytes(void);

/* Online CPUs. */
int bench_ncpu(void);

/* ---- per-thread task counters (cheap, contention-free "did it run") ---- */
/* Adds one to the calling thread's counter. */
void bench_count_task(void);
/* Sum of every thread's counter. */
uint64_t bench_counted_tasks(void);
void bench_reset_counted_tasks(void);

/* ---- a completion counter, for pools with no "wait for all" of their own.
 * add() is called by the (single) poster thread only, done() by each task,
 * wait() by the poster: it returns once every task added so far is done. */
void bench_pending_add(uint64_t n);
void bench_pending_done(void);
void bench_pending_wait(void);

/* ---- reporting from a measurement child to the driver ----
 * A measurement runs in a forked child; it reports "name value" lines on a
 * pipe (or on stdout for the node helper).  These write to that channel. */
void bench_emit(const char *name, double value);
void bench_emit_text(const char *name, const char *text); /* "@name text" */
void bench_set_emit_fd(int fd);
int bench_emit_fd(void);

/* Fails the measurement: prints to stderr, emits "@error", exits 2. */
void bench_fail(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2), noreturn))
#endif
    ;

/* Sorting and quantiles over a double array (sorts in place). */
void bench_sort(double *v, size_t n);
double bench_quantile_sorted(const double *v, size_t n, double q);

#ifdef __cplusplus
}
#endif
#endif
