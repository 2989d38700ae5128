/*
 * platform_int.h — the only place errand talks to the operating system.
 *
 * Everything above this layer reads as portable C11: threads, a futex-style
 * wait/wake on a 32-bit word, a monotonic clock and the CPU count.  Linux
 * gets the real futex; other POSIX systems would get a condvar-backed
 * emulation here without anything above changing.
 */
#ifndef ERRAND_PLATFORM_INT_H
#define ERRAND_PLATFORM_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- fault injection for tests (fault.c) ---- */
enum {
  ERRAND__FAULT_ALLOC,
  ERRAND__FAULT_THREAD,
  ERRAND__FAULT_SPAWN,
  ERRAND__FAULT_FORK, /* in the fork server */
  ERRAND__FAULT_REAP
};
/* True when this call should fail (see fault.c for the variables). */
bool errand__fault(int kind);

/* ---- allocation (core/alloc.c): every allocation in errand goes through
 * these, so tests can make any one of them fail (ERRAND_FAIL_ALLOC=N). ---- */
void *errand__malloc(size_t n);
void *errand__calloc(size_t n, size_t size);
void *errand__realloc(void *p, size_t n);
void *errand__aligned_alloc(size_t align, size_t n);
char *errand__strdup(const char *s);
char *errand__strndup(const char *s, size_t n);
/* Zeroed memory that is never given back (slot segments), mapped and
 * faulted in with one call (platform/pages.c), so a growing table does
 * not take a page fault per page as it fills.  A size that is a multiple
 * of errand__huge_page_size() comes aligned to it and, where the kernel
 * has transparent huge pages, in huge pages that fault in as they are
 * first written (one fault per huge page).  Fails like the others. */
void *errand__alloc_prefaulted(size_t n);
/* Zeroed, page-aligned memory that is faulted in page by page as it is
 * first written.  Fails like the others. */
void *errand__alloc_lazy(size_t n);
/* Faults in [p, p + n) of memory from errand__alloc_lazy now, in one call
 * (p page-aligned).  Where the kernel cannot, the pages fault in as they
 * are first written, as before. */
void errand__populate(void *p, size_t n);
/* Gives back memory from errand__alloc_prefaulted or errand__alloc_lazy (n:
 * the size asked for). */
void errand__free_pages(void *p, size_t n);
size_t errand__huge_page_size(void);

/* Blocks while *addr == expected, up to timeout_ns (negative = forever).
 * Returns 0 when woken (or *addr differed), or -1 on timeout.  Spurious
 * returns are allowed: callers always re-check their condition. */
int errand__futex_wait(_Atomic uint32_t *addr, uint32_t expected,
                       int64_t timeout_ns);

/* Wakes up to n threads blocked on addr (n < 0: all). */
void errand__futex_wake(_Atomic uint32_t *addr, int n);

/* Thread-locals read on every post and run.  The initial-exec model makes
 * them a single load instead of a call to __tls_get_addr in PIC code; they
 * are few and small (well inside the static TLS glibc keeps for libraries
 * that are dlopen'ed, as the Node addon is). */
#if defined(__GNUC__) || defined(__clang__)
#define ERRAND__HOT_TLS _Thread_local __attribute__((tls_model("initial-exec")))
#else
#define ERRAND__HOT_TLS _Thread_local
#endif

/* Monotonic clock in nanoseconds. */
uint64_t errand__now_ns(void);

/* A cheap timestamp for measuring durations (the TSC where it is constant
 * and non-stop, else the monotonic clock), and its conversion of a
 * difference of two stamps to nanoseconds.  Not comparable with
 * errand__now_ns. */
uint64_t errand__stamp(void);
uint64_t errand__stamp_ns(uint64_t stamp_delta);
/* A stamp handed from the end of one measured span to the start of the
 * next on the same thread, when nothing but the scheduler's pick ran in
 * between: a pool worker going from one task to the next reads the clock
 * once per task instead of twice.  keep(0) forgets it; resume returns it
 * (0: none) and forgets it. */
void errand__stamp_keep(uint64_t stamp);
uint64_t errand__stamp_resume(void);
void errand__stamp_init(void);

/* Online CPUs, at least 1. */
int errand__cpu_count(void);

/* Initialises a mutex that guards a short critical section taken by many
 * threads (run queues, idle list, listener stripes).  Where the C library
 * has one (glibc), it is an adaptive mutex: a contended lock spins for
 * about as long as the holder keeps it before sleeping, so a poster that
 * meets a worker in the queue costs no futex round trip (1M posts, one
 * worker: 311-349 -> 130-144 ns per task). */
void errand__mutex_init_hot(pthread_mutex_t *m);
#ifdef PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP
#define ERRAND__MUTEX_HOT_INITIALIZER PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP
#else
#define ERRAND__MUTEX_HOT_INITIALIZER PTHREAD_MUTEX_INITIALIZER
#endif

/* Starts a joinable thread with the given name (shown by ps/top/gdb).
 * Blocks every signal in the new thread so the host's handlers run on the
 * host's threads.  Returns 0 or an errno value. */
int errand__thread_start(pthread_t *t, void *(*fn)(void *), void *arg,
                         const char *name);
void errand__thread_join(pthread_t t);
/* Moves the calling thread to another CPU it is allowed on, leaving the
 * set it is allowed on as it was.  false: there is none, or the system
 * does not let a thread choose (then nothing changed). */
bool errand__thread_move_off_cpu(void);

/* A wake-up descriptor for event loops (eventfd on Linux): readable while
 * signalled.  Returns the fd or -1. */
int errand__wakefd_open(void);
void errand__wakefd_signal(int fd);
void errand__wakefd_drain(int fd);
/* Waits until fd is readable or timeout_ms passes (negative = forever). */
void errand__wakefd_wait(int fd, int64_t timeout_ms);
void errand__wakefd_close(int fd);
/* Waits until fd is readable (0) or the wake descriptor stopfd is
 * signalled (-1). */
int errand__wait_readable(int fd, int stopfd);
/* Waits up to timeout_ms (negative: forever) for fd to be readable (or
 * at its end, or in error: a read says which); false when the time ran
 * out. */
bool errand__fd_wait_readable(int fd, int64_t timeout_ms);

/* ---- child processes (spawn.c) ---- */
typedef struct errand__child {
  int pid;
  int pidfd; /* -1 where the kernel has no pidfd_open */
  int sock;  /* our end of the protocol socket */
  /* The read end of the reply pipe (-1: none), where a worker may write
   * its frames instead of on the socket: a pipe's reader is woken by
   * writes only, so a round trip costs fewer and cheaper wake-ups. */
  int reply;
  /* The write end of the run pipe (-1: none), where a worker that reads it
   * takes our frames instead of from the socket: a pipe write and read
   * cost less than a send and recv on the socket.  run_keep is our copy of
   * its read end, never read: a pipe that keeps a reader cannot raise
   * SIGPIPE in the host when the worker is gone. */
  int run, run_keep;
  int out; /* read end of its stdout */
  int err; /* read end of its stderr */
} errand__child;

/* Starts argv (NULL: this program, /proc/self/exe) as a worker: the
 * protocol socket on fd 3, the reply pipe's write end on fd 4, the run
 * pipe's read end on fd 5, stdin /dev/null, stdout/stderr on pipes, in a
 * process group of its own, with every signal unblocked and at its
 * default, and ERRAND_WORKER=1 ERRAND_WORKER_FD=3 ERRAND_WORKER_REPLY_FD=4
 * ERRAND_WORKER_RUN_FD=5 ERRAND_PROTOCOL=1 ERRAND_WORKER_INDEX=index added
 * to the environment.  Every descriptor we keep is close-on-exec and,
 * but run_keep, non-blocking.  0, or an errno value with why filled in. */
int errand__spawn_worker(const char *const *argv, int index, errand__child *c,
                         char *why, size_t whylen);
/* Starts this program with vars added to its environment and fd3 on
 * descriptor 3 (stdin and stdout /dev/null, stderr the host's), in a
 * process group of its own, signals unblocked and at their defaults. */
int errand__spawn_self(const char *const *vars, int fd3, char *why,
                       size_t whylen, int *pid);
/* Signals the child's whole process group. */
void errand__child_kill(const errand__child *c, int sig);
/* Reaps the child if it exited: 1 with *status (as waitpid's), 0 if it
 * still runs.  Only ever waits for this pid. */
int errand__child_reap(errand__child *c, int *status, int block);
/* "exited with code 3", "killed by signal SIGSEGV" */
void errand__describe_status(int status, char *buf, size_t len);
/* Whether status (as waitpid's) is a death by SIGKILL: what a kill -9 or
 * the kernel's OOM killer does, never the program's own failure. */
bool errand__status_is_sigkill(int status);
/* Resident set size of pid in bytes (0 if unknown). */
uint64_t errand__rss_of(int pid);

/* ---- the fork server (forkserver.c) ---- */
/* What the server says, one fixed struct per message. */
enum {
  ERRAND__FS_HELLO = 1,  /* pid = the server's */
  ERRAND__FS_FORKED = 2, /* seq's worker is pid */
  ERRAND__FS_FAILED = 3, /* seq's fork failed: value = errno */
  ERRAND__FS_EXIT = 4    /* pid ended: value = its wait status */
};
typedef struct errand__fsmsg {
  int32_t type;
  uint32_t seq;
  int32_t pid;
  int32_t value;
} errand__fsmsg;

/* Starts this program as a fork server: s->sock is its control socket
 * (non-blocking), s->pid and s->pidfd (-1 if none) are the server's.  It
 * says FS_HELLO first if the program calls errand_worker_main. */
int errand__forkserver_start(errand__child *s, char *why, size_t whylen);
/* Asks the server for a worker: makes its channels (c->sock, c->out,
 * c->err as errand__spawn_worker does) and sends them with this thread's
 * current directory and the environment.  c->pid stays 0 until FS_FORKED
 * or FS_FAILED with this seq.  0; ERRAND__FS_GONE when the server has
 * exited (its end of file may not have been read yet); -1 when it cannot
 * take this request (its socket is full, the environment too large): exec
 * the worker instead; or an errno value with why filled in. */
enum { ERRAND__FS_GONE = -2 };
int errand__forkserver_request(int ctl, uint32_t seq, int index,
                               errand__child *c, char *why, size_t whylen);
/* Lets the server reap pid (after FS_EXIT): only then may the pid be
 * reused, so the host can signal it until it sends this.  0 when sent;
 * EAGAIN when the socket has no room now (send it again once it has);
 * another errno value when the server is gone (its zombies go with it). */
int errand__forkserver_reap(int ctl, int pid);
/* The next message: 1 with *m, 0 when none is waiting, -1 when the server
 * is gone (or said something that is not a message). */
int errand__forkserver_read(int ctl, errand__fsmsg *m);
/* pidfd_open(pid), close-on-exec: the descriptor or -1. */
int errand__pidfd_open(int pid);
/* Whether the process of pidfd has ended (a zombie counts); false when
 * pidfd is -1. */
bool errand__pidfd_ended(int pidfd);
/* The wait status of an ended process through its pidfd where the kernel
 * keeps it (Linux 6.15 and later): 0 with *status; 1 when the kernel will
 * have it once the process's parent (init, for an orphan) has reaped it,
 * which it has not yet; -1 when it cannot tell. */
int errand__pidfd_exit_status(int pidfd, int *status);
/* The server's loop (errand_worker_main with ERRAND_WORKER=fork-server):
 * returns only in a forked child, with descriptors 1, 2 and 3 in place,
 * the requested environment and directory, and *index set. */
int errand__forkserver_main(int ctl, int *index);

/* One pause instruction: spinning politely. */
static inline void errand__cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

#endif
