/*
 * probes.h — leak probes shared by the tests (header only; everything is
 * static inline so an unused probe costs nothing).
 *
 * Many tests check that errand leaves nothing behind — threads, descriptors,
 * child processes — by reading /proc (Linux) before and after and comparing
 * the counts.  This is the one copy of those readers.
 */
#ifndef ERRAND_TEST_PROBES_H
#define ERRAND_TEST_PROBES_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Entries of the directory `path` whose names do not start with '.', or -1
 * if it cannot be read. */
static inline int probe_count_dir(const char *path) {
  DIR *d = opendir(path);
  struct dirent *e;
  int n = 0;
  if (!d)
    return -1;
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.')
      n++;
  closedir(d);
  return n;
}

/* Open descriptors of this process, not counting the one used to count;
 * -1 if /proc/self/fd cannot be read. */
static inline int probe_fds(void) {
  int n = probe_count_dir("/proc/self/fd");
  return n < 0 ? -1 : n - 1;
}

/* All threads of this process (sanitizer helper threads included), or -1. */
static inline int probe_threads(void) {
  return probe_count_dir("/proc/self/task");
}

/* Threads errand started that are still alive, or -1: errand names every
 * thread it starts "errand-..." (sanitizer runtimes start helper threads of
 * their own, so the total count is not a good measure there). */
static inline int probe_errand_threads(void) {
  DIR *d = opendir("/proc/self/task");
  struct dirent *e;
  int n = 0;
  if (!d)
    return -1;
  while ((e = readdir(d)) != NULL) {
    char path[300], comm[64] = "";
    FILE *f;
    if (e->d_name[0] == '.')
      continue;
    snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
    f = fopen(path, "re");
    if (!f)
      continue;
    if (!fgets(comm, sizeof comm, f))
      comm[0] = 0;
    fclose(f);
    if (strncmp(comm, "errand", 6) == 0)
      n++;
  }
  closedir(d);
  return n;
}

/* Which descendants probe_children counts. */
enum {
  PROBE_ANY,   /* live or zombie */
  PROBE_LIVE,  /* not a zombie */
  PROBE_ZOMBIE /* a zombie (ended, not reaped yet) */
};

/* Descendants of this process (children, and theirs: one-shot workers are
 * forked by errand's fork server, a child of the host) in the state
 * `which` (PROBE_*) right now, or -1 if /proc cannot be read.  With pids ==
 * NULL, max is ignored and the result is how many there are.  With pids !=
 * NULL, the pids of the first `max` found are stored in pids and the
 * result is how many were stored (at most max), so pids[0 .. result-1] are
 * all valid. */
static inline int probe_children(int which, int *pids, int max) {
  enum { PROBE_MAXPROC = 4096 };
  int pid_of[PROBE_MAXPROC], ppid_of[PROBE_MAXPROC];
  char st_of[PROBE_MAXPROC], mine[PROBE_MAXPROC];
  DIR *d = opendir("/proc");
  struct dirent *e;
  int n = 0, np = 0, i, grew;
  if (!d)
    return -1;
  while (np < PROBE_MAXPROC && (e = readdir(d)) != NULL) {
    char path[300], buf[512];
    FILE *f;
    char *p, st;
    int ppid;
    if (e->d_name[0] < '0' || e->d_name[0] > '9')
      continue;
    snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
    f = fopen(path, "re");
    if (!f)
      continue;
    if (!fgets(buf, sizeof buf, f))
      buf[0] = 0;
    fclose(f);
    /* "pid (comm) S ppid ...": comm may hold spaces and ')', so parse from
     * the last ')'. */
    p = strrchr(buf, ')');
    if (!p || sscanf(p + 2, "%c %d", &st, &ppid) != 2)
      continue;
    pid_of[np] = (int)strtol(e->d_name, NULL, 10);
    ppid_of[np] = ppid;
    st_of[np] = st;
    mine[np] = ppid == (int)getpid();
    np++;
  }
  closedir(d);
  do { /* grandchildren and deeper: until nothing new joins */
    grew = 0;
    for (i = 0; i < np; i++) {
      int k;
      if (mine[i])
        continue;
      for (k = 0; k < np; k++)
        if (mine[k] && st_of[k] != 'Z' && pid_of[k] == ppid_of[i]) {
          mine[i] = 1;
          grew = 1;
          break;
        }
    }
  } while (grew);
  for (i = 0; i < np && (pids == NULL || n < max); i++) {
    if (!mine[i])
      continue;
    if (which == PROBE_LIVE && st_of[i] == 'Z')
      continue;
    if (which == PROBE_ZOMBIE && st_of[i] != 'Z')
      continue;
    if (pids)
      pids[n] = pid_of[i];
    n++;
  }
  return n;
}

/* Whether pid is errand's fork server (the host's program started with
 * ERRAND_WORKER=fork-server, which forks one-shot workers): its
 * environment says so, and it is our child.  (Its children, the workers
 * and the spare it forks ahead, show the environment it was started with
 * in /proc too.) */
/* The parent of pid, or -1. */
static inline int probe_parent(int pid) {
  char path[64], buf[1024];
  size_t n;
  FILE *f;
  int ppid = -1;
  char *p;
  snprintf(path, sizeof path, "/proc/%d/stat", pid);
  if (!(f = fopen(path, "re")))
    return -1;
  n = fread(buf, 1, sizeof buf - 1, f);
  buf[n] = 0;
  fclose(f);
  p = strrchr(buf, ')'); /* after the command name */
  if (p) sscanf(p + 1, " %*c %d", &ppid);
  return ppid;
}

static inline int probe_is_fork_server(int pid) {
  char path[64], buf[8192];
  size_t n, i;
  FILE *f;
  if (probe_parent(pid) != (int)getpid())
    return 0;
  snprintf(path, sizeof path, "/proc/%d/environ", pid);
  if (!(f = fopen(path, "re")))
    return 0;
  n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  for (i = 0; i < n; i += strlen(buf + i) + 1)
    if (strcmp(buf + i, "ERRAND_WORKER=fork-server") == 0)
      return 1;
  return 0;
}

/* Polls f() until it returns want or `ms` milliseconds pass; returns the
 * last value.  A joined thread can stay listed in /proc/self/task for a
 * moment after pthread_join returns (the kernel wakes the joiner before it
 * reaps the task), so a count taken right after a shutdown must be
 * allowed to settle. */
static inline int probe_settle(int (*f)(void), int want, long ms) {
  struct timespec nap = {0, 2 * 1000 * 1000};
  long waited = 0;
  int v;
  while ((v = f()) != want && waited < ms) {
    nanosleep(&nap, NULL);
    waited += 2;
  }
  return v;
}

#endif
