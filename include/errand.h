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
  X(E_WRONG_THREAD, 11, "call not allowed on this thread")                   \
  X(E_WORKER_DIED, 12, "the worker process died")                            \
  X(E_PROTOCOL, 13, "the worker broke errand's protocol")

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
typedef struct errand_loop errand_loop;
typedef struct errand_controller errand_controller;
typedef struct errand_signal errand_signal;

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
  /* 1: one more thread that runs only user-blocking tasks, so they start at
   * once even while every worker is busy with lower work (as libdispatch's
   * QoS threads do; see "Priorities" below).  0 = off. */
  int urgent_worker;
  /* How long a worker that ran out of work keeps looking for more before
   * it sleeps, in microseconds (at most half the CPUs look at once).  A
   * task posted meanwhile starts within a microsecond or two instead of
   * after a wake-up (several microseconds, more under load or a
   * hypervisor); the price is that CPU time, once per lull.  A looking
   * worker that keeps losing its CPU to another thread (typically the one
   * that posts, woken on the same CPU) moves itself to another CPU the
   * thread may run on; the set of CPUs it may run on stays as it was.
   * One that just woke a thread (the caller waiting for the task it ran)
   * yields its CPU once, in case the kernel queued that thread behind it.
   * 0 = 200, -1 = never look (sleep at once; a worker waiting in
   * errand_wait does not spin either), else 1..1000000. */
  int spin_us;
  /* The queue-wait and run-time histograms of errand_runtime_stats time a
   * sample of the tasks: one in this many, counted per posting thread.
   * Timing a task takes three reads of the clock, a third of the cost of
   * an empty fork-join task on a machine where a read costs 10 ns; a
   * sample estimates the same quantiles (closer the more tasks ran).
   * 0 = 8, 1 = every task, -1 = none, else 1..65536. */
  int timing_sample;
  int reserved_int[2];
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
 * Its loops must be destroyed first (E_STATE otherwise).
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

/* Receives the events a task emits (see errand_task_emit); data is borrowed
 * for the call. */
typedef void (*errand_event_fn)(errand_task *task, const char *name,
                                const void *data, size_t len, void *arg);

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
  /* Bind the task to a signal (borrowed for the call; errand keeps its own
   * reference).  Aborting the signal cancels the task with the abort reason
   * as its error.  With priority left at 0 the task takes the signal's
   * priority and follows its changes while queued; with a priority given,
   * the signal only aborts.  Posting to an aborted signal gives a task that
   * is CANCELED at once and never runs. */
  errand_signal *signal;
  /* Subscribe to the task's events before it can run, so none is missed:
   * on_event(task, name, data, len, event_arg) on event_loop (NULL: on the
   * emitting thread; for a process job, the thread that read the worker's
   * frame: errand's, or one waiting for the job, see errand_wait).  Not for
   * errand_post_batch. */
  errand_event_fn on_event;
  errand_loop *event_loop;
  void *event_arg;
  uint64_t reserved[4];
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
 * or hold room for n handles.  All or nothing: on error no task was posted.
 * The first tasks may run before the call returns: from outside the pool,
 * a batch of pool tasks whose options ask for no per-task record (no name,
 * arg_free, timeout, delay or parent) is queued in slices as it is built,
 * so a long one keeps the workers busy from its start.
 * Options with a signal or on_event are refused (E_INVALID): post those one
 * by one. */
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

/* Id: unique within its runtime, from 1 up, and increasing in the order one
 * thread posts.  Tasks posted from outside the pool are numbered in the
 * order they were posted; a pool worker takes ids in blocks, so the ids of
 * tasks that tasks post are not comparable across workers. */
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
 * code 0 and "".  E_PENDING if not final.  The error matches how the task
 * ended.  CANCELED: the reason its cancellation was requested with (a
 * signal's abort, a run timeout), else its own errand_task_fail message,
 * else "canceled".  FAULTED: its own failure, else "child task N faulted:
 * ..." for the attached child that faulted it.  A task that runs to
 * completion or faults after a cancellation request is not reported with
 * the request's reason. */
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

/* Emits an event from a running task: name (copied) and len bytes of data
 * (copied; may be NULL when len is 0).  Subscribers get it on their loop, in
 * emit order, and always before the task's completion callbacks on that
 * loop.  Only from self's own function (E_WRONG_THREAD otherwise).  E_NOMEM
 * when it could not be queued for some subscriber (the others have it). */
ERRAND_EXPORT int errand_task_emit(errand_task *self, const char *name,
                                   const void *data, size_t len);

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
 * In errand_wait a thread spins up to some tens of microseconds before it
 * sleeps (a result that close costs no sleep and wake-up); the spin shrinks
 * for a thread whose results keep coming later than that, so a loop of
 * long waits does not burn CPU.  A pool worker spins once it finds no work
 * to run, and only in a pool with no more workers than CPUs and a spin_us
 * other than -1.  wait_all and wait_any do not spin.  A thread that is
 * neither a pool worker nor a task, waiting for one running process job
 * (errand_wait, or wait_all one task at a time), reads the answer of the
 * job's worker process itself instead of sleeping until errand's
 * supervisor thread has read it: a resident round trip then costs two
 * wake-ups, as a pipe echo does.
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
/* Signals and controllers (seed 004's TaskController / TaskSignal)          */
/* ------------------------------------------------------------------------ */

/* A controller owns one signal and is the only one that can abort it or
 * change its priority; anyone holding the signal can bind tasks to it and
 * listen to it.  Both are reference counted handles. */

/* Creates a controller whose signal has priority (0 = user-visible). */
ERRAND_EXPORT int errand_controller_create(errand_priority priority,
                                           errand_controller **out);
/* NULL does nothing.  Releasing the controller does not abort its signal. */
ERRAND_EXPORT int errand_controller_release(errand_controller *c);
/* A new reference to the controller's signal (release it when done). */
ERRAND_EXPORT int errand_controller_signal(errand_controller *c,
                                           errand_signal **out);
/* Aborts the signal once (later calls return E_STATE and change nothing):
 * every bound task that has not started is CANCELED with (code, reason) as
 * its error and never runs; running ones see the cancellation.  Abort
 * listeners are called once.  code 0 means ERRAND_E_CANCELED; reason NULL
 * means "aborted". */
ERRAND_EXPORT int errand_controller_abort(errand_controller *c, int code,
                                          const char *reason);
/* Changes the signal's priority: every bound task that follows it and is
 * still queued moves to the new level, keeping post order among the tasks
 * of that level; then priority-change listeners get (previous, new).  The
 * same priority again is a no-op without an event.  E_STATE after abort. */
ERRAND_EXPORT int errand_controller_set_priority(errand_controller *c,
                                                 errand_priority priority);

ERRAND_EXPORT int errand_signal_retain(errand_signal *s);
/* NULL does nothing. */
ERRAND_EXPORT int errand_signal_release(errand_signal *s);
ERRAND_EXPORT int errand_signal_priority(errand_signal *s,
                                         errand_priority *out);
/* *out = 1 if the signal was aborted, else 0. */
ERRAND_EXPORT int errand_signal_aborted(errand_signal *s, int *out);
/* The abort reason: E_STATE if the signal is not aborted.  message is
 * borrowed while you hold s. */
ERRAND_EXPORT int errand_signal_reason(errand_signal *s, int *code,
                                       const char **message);

/* Listener kinds and their callbacks.  loop NULL: the callback runs on the
 * thread that aborts / changes the priority, before that call returns;
 * otherwise it runs on the loop's thread.  A listener lives as long as the
 * signal. */
typedef void (*errand_abort_fn)(errand_signal *s, int code,
                                const char *reason, void *arg);
typedef void (*errand_priority_fn)(errand_signal *s, errand_priority previous,
                                   errand_priority current, void *arg);
/* If the signal is already aborted, fn is called at once (as above). */
ERRAND_EXPORT int errand_signal_on_abort(errand_signal *s, errand_loop *loop,
                                         errand_abort_fn fn, void *arg);
ERRAND_EXPORT int errand_signal_on_priority_change(errand_signal *s,
                                                   errand_loop *loop,
                                                   errand_priority_fn fn,
                                                   void *arg);

/* ------------------------------------------------------------------------ */
/* Loops: delivery on the owner's thread (seed 001's `complete`)             */
/* ------------------------------------------------------------------------ */

/* A loop is a queue of things to run on one thread — its owner, the thread
 * that created it: completion callbacks, task events, poll ticks and tasks
 * posted to it with errand_loop_post.  Its file descriptor is readable while
 * it has something ready, so it fits any event loop (poll, epoll, libuv's
 * uv_poll_t, GLib's g_unix_fd_add, Node).  Calls marked "owner" below return
 * E_WRONG_THREAD on any other thread. */
ERRAND_EXPORT int errand_loop_create(errand_runtime *rt, errand_loop **out);
/* Owner.  Frees everything still queued without running it; a callback never
 * runs after this.  Tasks posted to the loop and not yet run end CANCELED.
 * NULL does nothing. */
ERRAND_EXPORT int errand_loop_destroy(errand_loop *loop);
/* The descriptor to watch for readability (owned by the loop: do not close
 * or read it). */
ERRAND_EXPORT int errand_loop_fd(errand_loop *loop, int *fd);
/* Owner.  Runs what is ready, at most max items (0 = 64): deliveries first,
 * in arrival order, then loop tasks by priority, FIFO within a level.  Then
 * returns (so one busy level cannot freeze the owner); *ran (may be NULL)
 * gets the count.  The fd stays readable if more is ready. */
ERRAND_EXPORT int errand_loop_run_pending(errand_loop *loop, int max, int *ran);
/* Owner.  For programs without an event loop: runs the loop until t is final
 * (and its completion callbacks on this loop ran) or timeout_ms passes. */
ERRAND_EXPORT int errand_loop_run_until(errand_loop *loop, errand_task *t,
                                        int64_t timeout_ms);

/* Posts fn to run on the loop's thread (from any thread), with the options
 * of errand_post (mode and parent are not allowed: E_INVALID).  Same handle,
 * statuses, waiting and cancellation as a pool task. */
ERRAND_EXPORT int errand_loop_post(errand_loop *loop, errand_fn fn, void *arg,
                                   const errand_post_options *opts,
                                   errand_task **out);

/* ------------------------------------------------------------------------ */
/* Continuations, events and polling                                         */
/* ------------------------------------------------------------------------ */

/* Runs once when t is final.  task is a borrowed handle valid during the
 * call: read its status, result and error. */
typedef void (*errand_then_fn)(errand_task *task, void *arg);
/* loop NULL: on a pool thread of t's runtime; if t is already final (its
 * runtime may be gone), fn runs at once on the calling thread, before this
 * returns.  On a loop: queued after every continuation registered before.
 * Errors: E_INVALID, E_RELEASED, E_NOMEM. */
ERRAND_EXPORT int errand_task_then(errand_task *t, errand_loop *loop,
                                   errand_then_fn fn, void *arg);

/* Node-style completion: err is 0 and value the result on success;
 * otherwise err is the error code (ERRAND_E_CANCELED for a cancel) and
 * message its text, value NULL.  message and value are borrowed for the
 * call. */
typedef void (*errand_callback_fn)(int err, const char *message, void *value,
                                   void *arg);
ERRAND_EXPORT int errand_task_callback(errand_task *t, errand_loop *loop,
                                       errand_callback_fn cb, void *arg);

/* Subscribes fn to t's events, on loop (NULL: on the emitting thread,
 * synchronously; see errand_post_options.on_event for process jobs).
 * Events emitted before this call are not delivered: to miss none,
 * subscribe at post time (errand_post_options.on_event). */
ERRAND_EXPORT int errand_task_on_event(errand_task *t, errand_loop *loop,
                                       errand_event_fn fn, void *arg);

/* Seed 000's Pending: calls fn on the loop every interval_ms while t is not
 * final; fn returning 0 stops the polling (the task is not touched).  The
 * polling also stops once t is final. */
typedef int (*errand_poll_fn)(errand_task *task, void *arg);
ERRAND_EXPORT int errand_task_poll(errand_task *t, errand_loop *loop,
                                   int64_t interval_ms, errand_poll_fn fn,
                                   void *arg);

/* ------------------------------------------------------------------------ */
/* Named jobs (seeds 000, 002, 003)                                          */
/* ------------------------------------------------------------------------ */

/* A job is a task started by a handler's name with JSON arguments, so it can
 * run on a pool thread, on a thread of its own, in a one-shot child process
 * or in a pool of resident worker processes, with the same code.  Its
 * result is JSON text; its progress events are (name, JSON text) events of
 * the task (errand_task_on_event). */

typedef struct errand_jobs errand_jobs;         /* a registry of handlers */
typedef struct errand_job errand_job;           /* a running job (handler's view) */
typedef struct errand_procpool errand_procpool; /* resident worker processes */

/* A handler.  args is the JSON text the job was started with (an array or
 * an object).  Return 0 after errand_job_return (or with no result: JSON
 * null), or a non-zero code (with errand_job_fail for a message).  job is
 * valid until the handler returns.  In a worker process the handler runs on
 * the worker's main thread. */
typedef int (*errand_job_fn)(errand_job *job, const char *args, void *arg);

ERRAND_EXPORT int errand_jobs_create(errand_jobs **out);
/* Frees the registry.  Jobs still running keep what they need.  NULL does
 * nothing.  Not while another thread registers or starts jobs with it. */
ERRAND_EXPORT int errand_jobs_release(errand_jobs *jobs);
/* Registers (or replaces) name -> fn.  name is copied (1..255 bytes, no
 * '#').  Register everything before starting jobs or serving as a worker. */
ERRAND_EXPORT int errand_jobs_register(errand_jobs *jobs, const char *name,
                                       errand_job_fn fn, void *arg);
/* Loads a shared object and lets it register its handlers: the module
 * exports `int errand_module_init(errand_jobs *jobs)`.  path as given to
 * dlopen (use a path with a '/').  Errors: E_INVALID with dlerror's text. */
ERRAND_EXPORT int errand_jobs_load_module(errand_jobs *jobs, const char *path);

/* Call this first thing in main() of a program that starts process jobs
 * whose worker is the program itself (the default): in a worker process
 * errand started, it serves jobs with the given registry and exits, never
 * returning; anywhere else it returns 0 at once.  For one-shot jobs errand
 * starts the program once as a fork server (docs/protocol.md §9): this call
 * then forks a fresh worker per job, which sees the host's current
 * directory and environment of the moment the job starts, and state of
 * the program's main() only up to this call, as an exec'd worker would
 * (one such process waits forked ahead for the next job, so a job does not
 * wait for a fork). */
ERRAND_EXPORT int errand_worker_main(errand_jobs *jobs);

typedef enum errand_job_mode {
  ERRAND_JOB_POOL = 0,      /* a pool thread (seed 003's TASK) */
  ERRAND_JOB_DEDICATED = 1, /* a thread of its own (seed 003's WORK) */
  ERRAND_JOB_PROCESS = 2,   /* a fresh child process, gone after the job */
  ERRAND_JOB_WORKER = 3     /* a resident worker process of a procpool */
} errand_job_mode;

typedef struct errand_job_options {
  errand_job_mode mode;
  /* Priority, delay, name (defaults to the job's name), signal, timeouts,
   * parent.  post.mode is ignored (mode above decides).  For process jobs
   * the run timeout counts from when a worker process takes the job (time
   * waiting for a free worker is queue time), and kills the worker: SIGTERM,
   * then SIGKILL after kill_grace_ms. */
  errand_post_options post;
  /* ERRAND_JOB_WORKER: the pool (required). */
  errand_procpool *pool;
  /* ERRAND_JOB_PROCESS: the worker program and its arguments (NULL-ended);
   * NULL = this program re-executed (see errand_worker_main). */
  const char *const *command;
  /* Time between SIGTERM and SIGKILL on cancel or timeout.  0 = 2000 ms. */
  int64_t kill_grace_ms;
  /* Process jobs: how many times a job whose worker died is started again
   * on a fresh worker before it is reported as quarantined.  0 = never. */
  int retries_on_crash;
  int reserved_int[3];
  uint64_t reserved[6];
} errand_job_options;

/* Starts the job name(args).  args: JSON text of an array or an object
 * (NULL = []).  *out owns one reference to the job's task (out may be NULL).
 * Errors: E_INVALID (unknown name, args not valid JSON or not an array or
 * object, bad options) with the reason in errand_last_error(), plus those of
 * errand_post.  For file:// names (a module path, "file://jobs/timer.so" or
 * "file://jobs/timer.so#handler"), the module is loaded where the job runs.
 * An ERRAND_JOB_WORKER job started while a worker of its pool is idle and
 * no job of its priority or a higher one is queued there is normally sent
 * to that worker by the calling thread itself, before errand_job_start
 * returns (unless errand's supervisor thread is busy with the pool at that
 * moment: then it sends it). */
ERRAND_EXPORT int errand_job_start(errand_runtime *rt, errand_jobs *jobs,
                                   const char *name, const char *args,
                                   const errand_job_options *opts,
                                   errand_task **out);

/* The job's result as JSON text (borrowed while you hold t).  Errors as
 * errand_task_result: E_PENDING, E_FAILED, E_CANCELED. */
ERRAND_EXPORT int errand_job_result(errand_task *t, const char **json);

/* The pid of the process that runs (or last ran) the job: 0 for thread
 * jobs and before a worker took it. */
ERRAND_EXPORT int errand_job_pid(errand_task *t, int *pid);

/* What the job's process wrote on stdout and stderr while it ran the job
 * (up to 1 MiB each; longer output keeps its first MiB).  Borrowed while you
 * hold t; empty for thread jobs.  Complete once the task is final. */
ERRAND_EXPORT int errand_job_output(errand_task *t, const char **out,
                                    size_t *out_len, const char **err,
                                    size_t *err_len);

/* Seed 000's Job.Pending: calls fn(arg) on this thread every interval_ms
 * while the job is not final, until fn returns 0.  Returns 0. */
ERRAND_EXPORT int errand_job_pending(errand_task *t, int64_t interval_ms,
                                     int (*fn)(void *arg), void *arg);
/* Seed 000's Job.Data: waits until the job is final, then gives its result
 * (*json is malloc'ed, free it) or returns its error code (message in
 * errand_last_error()), and in both cases releases t: t is invalid after
 * (E_RELEASED). */
ERRAND_EXPORT int errand_job_data(errand_task *t, char **json);

/* ---- inside a handler ---- */

/* Sets the result (JSON text, copied; must be valid JSON). */
ERRAND_EXPORT int errand_job_return(errand_job *job, const char *json);
/* Records an error message and returns code (0 becomes ERRAND_E_FAILED). */
ERRAND_EXPORT int errand_job_fail(errand_job *job, int code, const char *fmt,
                                  ...) ERRAND_PRINTF(3, 4);
/* Emits a progress event: name and a JSON payload (NULL = null). */
ERRAND_EXPORT int errand_job_progress(errand_job *job, const char *name,
                                      const char *json);
/* 1 when the job was asked to stop, else 0. */
ERRAND_EXPORT int errand_job_is_canceled(errand_job *job);
/* Sleeps; returns E_CANCELED at once when the job is asked to stop. */
ERRAND_EXPORT int errand_job_sleep(errand_job *job, int64_t ms);
/* Index of the worker process in its pool (0.. ; -1 in a thread). */
ERRAND_EXPORT int errand_job_worker_index(errand_job *job);

/* ---- resident worker pools (seed 002's ChildPoolJob) ---- */

typedef struct errand_procpool_options {
  int min_workers;      /* started at once and kept; 0..max */
  int max_workers;      /* 0 = online CPUs */
  int recycle_after;    /* jobs per worker before it is replaced; 0 = never */
  uint64_t recycle_rss; /* bytes of RSS above which a worker is replaced
                           after its job; 0 = never */
  int64_t idle_timeout_ms; /* workers above min exit after this idle; 0 =
                              30000, negative = never */
  const char *const *command; /* worker program; NULL = this program */
  int64_t kill_grace_ms;      /* 0 = 2000 */
  uint64_t reserved[8];
} errand_procpool_options;

/* Creates a pool of worker processes serving jobs of the registry (for
 * this program as the worker) or the given command.  Workers get
 * ERRAND_WORKER_INDEX in their environment.  The runtime must outlive the
 * pool. */
ERRAND_EXPORT int errand_procpool_create(errand_runtime *rt, errand_jobs *jobs,
                                         const errand_procpool_options *opts,
                                         errand_procpool **out);
/* Cancels queued jobs, stops every worker (SIGTERM, then SIGKILL after the
 * grace) and reaps it.  NULL does nothing. */
ERRAND_EXPORT int errand_procpool_destroy(errand_procpool *pool);
/* Live worker processes now. */
ERRAND_EXPORT int errand_procpool_size(errand_procpool *pool, int *out);

/* ------------------------------------------------------------------------ */
/* Numbers                                                                   */
/* ------------------------------------------------------------------------ */

#define ERRAND_HIST_BUCKETS 40

/* A snapshot; counters are totals since the runtime was created.  Histogram
 * bucket i counts durations d (nanoseconds) with 2^i <= d < 2^(i+1) (bucket
 * 0 also holds d < 1).  The histograms count the timed tasks only: one in
 * errand_runtime_options.timing_sample (8 unless set), so a thread that
 * posts 800 tasks puts 100 in each; every other counter counts every task.
 * A pool worker that goes straight from one timed task to the next reads
 * the clock once between them, so the next task's run time includes the
 * worker's pick of it (tens of nanoseconds) and its queue wait leaves that
 * out. */
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
 * Background work and user-blocking latency: workers are never preempted,
 * so with every worker busy a user-blocking task waits for one of them to
 * finish its current task.  With urgent_worker = 1 a spare thread takes
 * user-blocking tasks as soon as they are posted and is parked otherwise;
 * lower levels keep every regular worker.
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
