/*
 * errand.h — the whole public contract of liberrand.
 *
 * errand runs work in the background: post a function, go on, and later
 * look at its status, cancel it, wait for it (or for all / any of a set, with
 * a timeout) and read its result or its error.
 *
 * Conventions that hold for every function below unless it says otherwise:
 *
 *  - Every function that can fail returns an int: 0 (ERRAND_OK) on success or
 *    one of the ERRAND_E_* codes.  errand_strerror() turns a code into text and
 *    errand_last_error() gives the detail message of the last failed call on
 *    the calling thread.  errno is never the API.
 *  - Handles (errand_runtime *, errand_task *) are opaque.  They are checked
 *    on every call: NULL gives ERRAND_E_INVALID; a handle that was released
 *    (or was never returned by errand) gives ERRAND_E_RELEASED — never a crash.
 *    Handles are generation-checked values, not pointers to memory you may
 *    read, so the check is reliable even after errand has reused the storage.
 *  - Handles are reference counted.  Each errand_task * you receive owns one
 *    reference; give it back with errand_task_release().  Releasing NULL does
 *    nothing.  A handle may be used from any thread; releasing the same
 *    reference twice, or releasing while another thread of yours still uses
 *    that same reference, is your bug (errand will report ERRAND_E_RELEASED
 *    where it can see it).
 *  - Strings you pass are copied; strings errand returns are borrowed and
 *    stay valid while you hold the handle they came from.
 *  - Callbacks never run while errand holds one of its internal locks, so a
 *    callback may call any errand function, including releasing its own task.
 *
 * Thread-safety: every function may be called from any thread at any time
 * unless its comment says otherwise.
 */
#ifndef ERRAND_H
#define ERRAND_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ERRAND_VERSION_MAJOR 0
#define ERRAND_VERSION_MINOR 1
#define ERRAND_VERSION_PATCH 0

#if defined(__GNUC__) || defined(__clang__)
#define ERRAND_EXPORT __attribute__((visibility("default")))
#define ERRAND_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define ERRAND_EXPORT
#define ERRAND_PRINTF(fmt, args)
#endif

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */
/* ------------------------------------------------------------------------ */

/* One list generates the enum, the names and the messages. */
#define ERRAND_ERROR_MAP(X)                                                    \
  X(OK, 0, "success")                                                         \
  X(E_INVALID, 1, "invalid argument")                                         \
  X(E_RELEASED, 2, "handle was released or is not an errand handle")          \
  X(E_NOMEM, 3, "out of memory")                                              \
  X(E_SHUTDOWN, 4, "runtime is shutting down")                                \
  X(E_TIMEOUT, 5, "timed out")                                                \
  X(E_CANCELED, 6, "canceled")                                                \
  X(E_FAILED, 7, "task failed")                                               \
  X(E_PENDING, 8, "task has not completed yet")                               \
  X(E_STATE, 9, "operation not allowed in the object's current state")        \
  X(E_SYSTEM, 10, "operating system call failed")                             \
  X(E_WRONG_THREAD, 11, "call not allowed on this thread")

typedef enum errand_error {
#define ERRAND__ENUM(name, value, text) ERRAND_##name = value,
  ERRAND_ERROR_MAP(ERRAND__ENUM)
#undef ERRAND__ENUM
      ERRAND_ERROR_COUNT_
} errand_error;

/* Text for any code (also for codes a task invented: "task failed (code N)"
 * style text is returned for unknown ones).  Never NULL, static storage. */
ERRAND_EXPORT const char *errand_strerror(int code);

/* The symbolic name of a code, e.g. "ERRAND_E_TIMEOUT"; "ERRAND_E_UNKNOWN"
 * for codes errand does not define.  Never NULL, static storage. */
ERRAND_EXPORT const char *errand_errname(int code);

/* Detail message of the last call on this thread that failed (empty string
 * if none).  Thread-local; valid until the next failing errand call on this
 * thread. */
ERRAND_EXPORT const char *errand_last_error(void);

/* ------------------------------------------------------------------------ */
/* Enumerations                                                              */
/* ------------------------------------------------------------------------ */

/* The three levels of seed 004.  0 means "not given": user-visible, or the
 * signal's priority where a signal is given. */
typedef enum errand_priority {
  ERRAND_PRIORITY_DEFAULT = 0,
  ERRAND_PRIORITY_USER_BLOCKING = 1,
  ERRAND_PRIORITY_USER_VISIBLE = 2,
  ERRAND_PRIORITY_BACKGROUND = 3
} errand_priority;

/* "user-blocking", "user-visible", "background"; NULL for other values. */
ERRAND_EXPORT const char *errand_priority_name(errand_priority p);

/* Where a task runs: a pool worker (seed 003's TASK) or a thread of its own
 * that exits when the task ends (seed 003's WORK, for long work). */
typedef enum errand_mode {
  ERRAND_MODE_POOL = 0,
  ERRAND_MODE_DEDICATED = 1
} errand_mode;

/* The seven statuses of seed 003.  A status never goes backwards and a final
 * one (the last three) never changes. */
typedef enum errand_status {
  ERRAND_STATUS_CREATED = 0,
  ERRAND_STATUS_WAITING_TO_RUN = 1, /* queued, or waiting for its delay */
  ERRAND_STATUS_RUNNING = 2,
  ERRAND_STATUS_WAITING_FOR_CHILDREN = 3, /* its function returned; attached
                                             children are not all final */
  ERRAND_STATUS_RAN_TO_COMPLETION = 4,
  ERRAND_STATUS_CANCELED = 5,
  ERRAND_STATUS_FAULTED = 6
} errand_status;

/* Seed 003's spelling: "Created", "WaitingToRun", "Running",
 * "WaitingForChildrenToComplete", "RanToCompletion", "Canceled", "Faulted";
 * NULL for other values. */
ERRAND_EXPORT const char *errand_status_name(errand_status s);

/* The four flags of seed 003, as bits. */
enum {
  ERRAND_FLAG_COMPLETED = 1u << 0, /* in a final status */
  ERRAND_FLAG_SUCCEEDED = 1u << 1, /* RAN_TO_COMPLETION */
  ERRAND_FLAG_FAULTED = 1u << 2,   /* FAULTED */
  ERRAND_FLAG_CANCELED = 1u << 3   /* CANCELED */
};

/* ------------------------------------------------------------------------ */
/* Runtime                                                                   */
/* ------------------------------------------------------------------------ */

typedef struct errand_runtime errand_runtime;
typedef struct errand_task errand_task;

/* Zero-initialise, then set what you need; zero always means "default".
 * The reserved room lets later versions add fields without breaking you. */
typedef struct errand_runtime_options {
  /* Pool workers.  0 = the number of online CPUs.  1..1024. */
  int workers;
  /* Aging rule against starvation (see "Priorities" below).  0 = 64.
   * 1..1000000. */
  int aging_burst;
  /* Most extra workers started to keep parallelism while pool tasks are
   * inside errand_blocking_begin/end.  0 = 4 * workers, -1 = none. */
  int max_compensating;
  int reserved_int[5];
  uint64_t reserved[8];
} errand_runtime_options;

/* Creates a runtime and starts its workers.  opts may be NULL (all
 * defaults).  On success *out owns the runtime; give it back with
 * errand_runtime_destroy().
 * Errors: E_INVALID (NULL out, option out of range), E_NOMEM, E_SYSTEM
 * (a thread could not be started). */
ERRAND_EXPORT int errand_runtime_create(const errand_runtime_options *opts,
                                        errand_runtime **out);

/* Number of pool workers (not counting compensating ones). */
ERRAND_EXPORT int errand_runtime_workers(errand_runtime *rt, int *out);

typedef enum errand_shutdown_mode {
  /* Stop taking posts, let every queued and delayed task run. */
  ERRAND_SHUTDOWN_DRAIN = 0,
  /* Stop taking posts, cancel queued and delayed tasks (they never run),
   * request cancellation of running ones. */
  ERRAND_SHUTDOWN_CANCEL = 1
} errand_shutdown_mode;

/* Stops the runtime: from now on posts fail with E_SHUTDOWN.  Waits up to
 * timeout_ms (negative = forever, 0 = do not wait) for every task to be
 * final.  Returns 0 when all are final, E_TIMEOUT otherwise (the runtime stays
 * usable for waiting and for another shutdown call, which may use the other
 * mode).  Must not be called from one of the runtime's own tasks
 * (E_WRONG_THREAD). */
ERRAND_EXPORT int errand_runtime_shutdown(errand_runtime *rt,
                                          errand_shutdown_mode mode,
                                          int64_t timeout_ms);

/* Drains (as ERRAND_SHUTDOWN_DRAIN with no deadline, unless a shutdown
 * already finished), joins every thread errand started and frees the runtime.
 * Task handles you still hold stay valid for reading status, result and
 * error, and must still be released.  NULL does nothing and returns 0.
 * Must not be called from one of the runtime's own tasks (E_WRONG_THREAD). */
ERRAND_EXPORT int errand_runtime_destroy(errand_runtime *rt);

/* ------------------------------------------------------------------------ */
/* Posting tasks                                                             */
/* ------------------------------------------------------------------------ */

/* A task's function.  Runs on a pool worker or on its dedicated thread.
 * self is a borrowed handle to the running task (valid until the function
 * returns; retain it to keep it longer).  Return 0 for success (with a value
 * set by errand_task_set_result, or none), ERRAND_E_CANCELED to end as
 * CANCELED, or any other non-zero code to end as FAULTED (use
 * errand_task_fail to attach a message).  Any errand call is allowed inside. */
typedef int (*errand_fn)(errand_task *self, void *arg);

/* Frees a value (a result, or the argument given with arg_free). */
typedef void (*errand_free_fn)(void *value);

typedef struct errand_post_options {
  /* 0 = user-visible. */
  errand_priority priority;
  errand_mode mode;
  /* Minimum delay before the task may start.  0 = none. */
  int64_t delay_ms;
  /* Copied.  NULL = no name (errand_task_name gives ""). */
  const char *name;
  /* Attach to this task: it will not be final before this one is, and a
   * fault here faults it.  Borrowed for the call only. */
  errand_task *parent;
  /* Longest time the task may wait to start (counted from the post, delay
   * included); past it the task is CANCELED with E_TIMEOUT and never runs.
   * 0 = no limit. */
  int64_t queue_timeout_ms;
  /* Longest time the task may run; past it cancellation is requested (the
   * task sees errand_task_is_canceled and its sleeps/waits return) and, if it
   * ends as CANCELED, its error says the run timeout expired.  0 = none. */
  int64_t run_timeout_ms;
  /* Called once with arg when errand is done with it: after the function
   * returned, or when the task ends without running.  NULL = arg is yours. */
  errand_free_fn arg_free;
  uint64_t reserved[8];
} errand_post_options;

/* Posts fn(self, arg) to run in the background.  opts may be NULL.
 * out may be NULL (fire-and-forget: the task still runs to its end);
 * otherwise *out owns one reference to the new task.
 * Errors: E_INVALID (NULL fn, option out of range), E_RELEASED (rt or
 * parent), E_STATE (parent already final), E_SHUTDOWN, E_NOMEM, E_SYSTEM
 * (dedicated thread could not start).  On error arg_free is NOT called: arg
 * stays yours. */
ERRAND_EXPORT int errand_post(errand_runtime *rt, errand_fn fn, void *arg,
                              const errand_post_options *opts,
                              errand_task **out);

/* Posts n tasks that share one function and one set of options (args[i]
 * goes to the i-th).  Cheaper than n calls of errand_post.  out may be NULL
 * or hold room for n handles.  All or nothing: on error no task was posted. */
ERRAND_EXPORT int errand_post_batch(errand_runtime *rt, errand_fn fn,
                                    void *const *args, size_t n,
                                    const errand_post_options *opts,
                                    errand_task **out);

/* ------------------------------------------------------------------------ */
/* Task handles                                                              */
/* ------------------------------------------------------------------------ */

/* Takes one more reference (give it back with errand_task_release). */
ERRAND_EXPORT int errand_task_retain(errand_task *t);

/* Gives back one reference.  When the last one goes (yours and errand's),
 * the task's result is freed with its free function.  NULL does nothing. */
ERRAND_EXPORT int errand_task_release(errand_task *t);

/* Id: unique within its runtime, increasing in post order, starting at 1. */
ERRAND_EXPORT int errand_task_id(errand_task *t, uint64_t *out);

/* Name given at post ("" if none).  Borrowed while you hold t. */
ERRAND_EXPORT int errand_task_name(errand_task *t, const char **out);

/* Status at this moment. */
ERRAND_EXPORT int errand_task_status(errand_task *t, errand_status *out);

/* The ERRAND_FLAG_* bits at this moment. */
ERRAND_EXPORT int errand_task_flags(errand_task *t, unsigned *out);

/* Current priority (it may be raised while a higher-priority waiter waits). */
ERRAND_EXPORT int errand_task_priority(errand_task *t, errand_priority *out);

/* The value set by the task.  Borrowed while you hold t.
 * Errors: E_PENDING (not final), E_FAILED (FAULTED), E_CANCELED. */
ERRAND_EXPORT int errand_task_result(errand_task *t, void **value);

/* The error of a FAULTED or CANCELED task: *code (may be NULL) and *message
 * (may be NULL; borrowed while you hold t).  A task that succeeded gives
 * code 0 and "".  E_PENDING if not final. */
ERRAND_EXPORT int errand_task_error(errand_task *t, int *code,
                                    const char **message);

/* Requests cancellation.  A task that has not started never runs and is
 * CANCELED at once (its waiters wake).  A running one sees the request
 * (errand_task_is_canceled, and its errand_task_sleep / errand_wait* return
 * E_CANCELED) and ends as it actually ends.  Requests reach attached children
 * too.  Any number of calls; a final task is left as it is. */
ERRAND_EXPORT int errand_task_cancel(errand_task *t);

/* ------------------------------------------------------------------------ */
/* Inside a task (self is the handle passed to errand_fn)                    */
/* ------------------------------------------------------------------------ */

/* The task running on this thread (borrowed), or NULL. */
ERRAND_EXPORT errand_task *errand_task_current(void);

/* Sets the value the task ends with; free_fn (may be NULL) frees it when the
 * last handle goes, or at once if a later call replaces it.
 * E_WRONG_THREAD unless called from self's own function. */
ERRAND_EXPORT int errand_task_set_result(errand_task *self, void *value,
                                         errand_free_fn free_fn);

/* Records an error message (printf-style) and returns code, so a task can
 * `return errand_task_fail(self, 42, "bad input %d", x);`.  code 0 is turned
 * into ERRAND_E_FAILED.  Only meaningful from self's own function; from any
 * other thread it returns E_WRONG_THREAD and records nothing. */
ERRAND_EXPORT int errand_task_fail(errand_task *self, int code,
                                   const char *fmt, ...) ERRAND_PRINTF(3, 4);

/* 1 if cancellation was requested for self (or an ancestor it is attached
 * to, or the runtime is shutting down in cancel mode), else 0.  Negative
 * error code for a bad handle. */
ERRAND_EXPORT int errand_task_is_canceled(errand_task *self);

/* Sleeps ms milliseconds; returns 0, or E_CANCELED at once when self is
 * canceled.  From a thread that is not running self: E_WRONG_THREAD. */
ERRAND_EXPORT int errand_task_sleep(errand_task *self, int64_t ms);

/* Marks the calling pool task as blocked outside errand (I/O, a lock...).
 * While at least one worker is inside such a region the runtime may start a
 * compensating worker so the pool keeps its parallelism.  Calls nest; each
 * begin needs one end.  From any other thread they do nothing and return 0. */
ERRAND_EXPORT int errand_blocking_begin(void);
ERRAND_EXPORT int errand_blocking_end(void);

/* ------------------------------------------------------------------------ */
/* Waiting                                                                   */
/* ------------------------------------------------------------------------ */

/* timeout_ms: 0 = poll, negative = forever.  From a pool worker, waiting
 * runs other queued work meanwhile (so fork-join works with one worker).
 * Inside a task that gets canceled, waits return E_CANCELED at once.
 * Returns 0 when the condition holds, else E_TIMEOUT / E_CANCELED /
 * E_INVALID / E_RELEASED. */
ERRAND_EXPORT int errand_wait(errand_task *t, int64_t timeout_ms);

/* All n tasks final.  n may be 0.  Any NULL or released entry: E_INVALID or
 * E_RELEASED before anything waits. */
ERRAND_EXPORT int errand_wait_all(errand_task *const *tasks, size_t n,
                                  int64_t timeout_ms);

/* At least one of the n (n >= 1) tasks is final; *index (may be NULL) gets
 * the position of one that is (the lowest such position at that moment). */
ERRAND_EXPORT int errand_wait_any(errand_task *const *tasks, size_t n,
                                  int64_t timeout_ms, size_t *index);

/* ------------------------------------------------------------------------ */
/* Numbers                                                                   */
/* ------------------------------------------------------------------------ */

#define ERRAND_HIST_BUCKETS 40

/* A snapshot; counters are totals since the runtime was created.  Histogram
 * bucket i counts durations d (nanoseconds) with 2^i <= d < 2^(i+1) (bucket
 * 0 also holds d < 1). */
typedef struct errand_stats {
  uint64_t queued[3]; /* waiting to run, per level (index = priority - 1) */
  uint64_t delayed;   /* waiting for their delay */
  uint64_t running;   /* pool and dedicated tasks running now */
  uint64_t dedicated_running;
  uint64_t posted;
  uint64_t succeeded;
  uint64_t faulted;
  uint64_t canceled;
  int workers;              /* pool workers */
  int compensating_workers; /* extra workers alive now */
  uint64_t queue_wait_ns[ERRAND_HIST_BUCKETS];
  uint64_t run_time_ns[ERRAND_HIST_BUCKETS];
  uint64_t reserved[8];
} errand_stats;

/* Fills *out.  Cheap enough to poll (it sums per-worker counters; no lock).
 * Counters are read one by one, so a snapshot taken while tasks move may be
 * off by the tasks in flight. */
ERRAND_EXPORT int errand_runtime_stats(errand_runtime *rt, errand_stats *out);

/* The duration (ns) below which the fraction q (0..1) of a histogram's
 * samples fall, taken as the upper edge of the bucket; 0 if empty. */
ERRAND_EXPORT uint64_t errand_hist_quantile(const uint64_t *hist, double q);

/*
 * Priorities and aging
 * --------------------
 * Workers take tasks in strict level order (user-blocking, then
 * user-visible, then background) and, inside a level, oldest first for tasks
 * posted from outside the pool.  Tasks posted by a pool task go to that
 * worker's own queue: a worker runs them oldest first too, except while it
 * waits inside errand_wait* (help-while-wait), when it takes its newest one
 * first so fork-join stays depth-first; other workers steal the oldest.
 *
 * Aging rule, so no level starves: each worker counts, per level L, how many
 * times in a row it took a task of a higher level while L had queued work;
 * when that count reaches aging_burst (default 64) it takes one task of L
 * next and resets the count.  So under any flood of higher work, a queued
 * background task waits for at most about aging_burst picks of each worker.
 */

#ifdef __cplusplus
}
#endif
#endif /* ERRAND_H */
