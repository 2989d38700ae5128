/*
 * test_placement.c — where errand puts its work in memory and on the CPUs
 * when that decides how soon a task starts: the task table's first
 * segment is faulted in a step at a time ahead of the tasks that fill it,
 * and an idle worker looking for work does not stay on the CPU of the
 * thread that posts.
 */
#include <pthread.h>
#include <sched.h>
#include <sys/mman.h>
#include <time.h>

#include "core/core_int.h"
#include "helpers.h"

#define STEP ERRAND__POPULATE_STEP

static size_t resident_pages(const char *p, size_t bytes) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE), n = 0;
  unsigned char vec[256];
  if (bytes / page > sizeof vec || mincore((void *)p, bytes, vec) != 0)
    return (size_t)-1;
  for (size_t i = 0; i < bytes / page; i++) n += vec[i] & 1;
  return n;
}

static int kernel_populates(void) {
#ifdef MADV_POPULATE_WRITE
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  void *p = mmap(NULL, page, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return 0;
  int ok = madvise(p, page, MADV_POPULATE_WRITE) == 0;
  munmap(p, page);
  return ok;
#else
  return 0;
#endif
}

/* First in the file: it needs a task table no task has used yet. */
TEST(the_first_tasks_fault_in_their_slots_a_step_ahead_and_no_further) {
  if (!kernel_populates()) {
    printf("  (kernel without MADV_POPULATE_WRITE: skipped)\n");
    return;
  }
  errand_runtime *rt = rt_new(1);
  REQUIRE(rt);
  errand_task *first = NULL;
  REQUIRE_OK(errand_post(rt, noop_task, NULL, NULL, &first));
  CHECK_OK(errand_wait(first, -1));
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  const char *seg0 = atomic_load(&errand__task_table.segs[0]);
  REQUIRE(seg0 != NULL);
  /* One task: its step is resident, none of the segment beyond it. */
  CHECK_EQ_INT(resident_pages(seg0, STEP), STEP / page);
  CHECK_EQ_INT(resident_pages(seg0 + STEP, STEP), 0);

  /* Enough live tasks to fill the first step: the second comes in whole,
   * the third not at all. */
  size_t n = STEP / errand__task_table.elem_size + 8;
  errand_task **h = calloc(n, sizeof *h);
  REQUIRE(h);
  for (size_t i = 0; i < n; i++)
    REQUIRE_OK(errand_post(rt, noop_task, NULL, NULL, &h[i]));
  CHECK_EQ_INT(resident_pages(seg0 + STEP, STEP), STEP / page);
  CHECK_EQ_INT(resident_pages(seg0 + 2 * STEP, STEP), 0);
  for (size_t i = 0; i < n; i++) {
    CHECK_OK(errand_wait(h[i], -1));
    CHECK_OK(errand_task_release(h[i]));
  }
  free(h);
  CHECK_OK(errand_task_release(first));
  errand_runtime_destroy(rt);
}

typedef struct pin_arg {
  int cpu;
  cpu_set_t allowed;
} pin_arg;

/* Moves the worker running it onto one CPU, and lets it run anywhere
 * again: it stays there until something moves it. */
static int settle_on_cpu(errand_task *self, void *arg) {
  (void)self;
  pin_arg *a = arg;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(a->cpu, &one);
  CHECK_EQ_INT(sched_setaffinity(0, sizeof one, &one), 0);
  CHECK_EQ_INT(sched_getcpu(), a->cpu);
  CHECK_EQ_INT(sched_setaffinity(0, sizeof a->allowed, &a->allowed), 0);
  return 0;
}

static int note_cpu(errand_task *self, void *arg) {
  (void)self;
  *(int *)arg = sched_getcpu();
  return 0;
}

/* A poster that sleeps between posts is woken on the CPU its sleep began
 * on, and if the worker looking for work runs there, the poster takes the
 * CPU from it: each task then waits for the poster to sleep again, and the
 * kernel may leave the two together for tens of milliseconds while other
 * CPUs idle.  The worker must notice and move. */
TEST(a_looking_worker_that_keeps_losing_its_cpu_to_the_poster_moves) {
  cpu_set_t allowed;
  REQUIRE_EQ_INT(sched_getaffinity(0, sizeof allowed, &allowed), 0);
  if (CPU_COUNT(&allowed) < 2) {
    printf("  (fewer than 2 CPUs to run on: skipped)\n");
    return;
  }
  int c0 = 0;
  while (!CPU_ISSET(c0, &allowed)) c0++;
  errand_runtime *rt = rt_new(1); /* one worker: it is the one looking */
  REQUIRE(rt);
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(c0, &one);
  REQUIRE_EQ_INT(sched_setaffinity(0, sizeof one, &one), 0); /* the poster */

  enum { ROUNDS = 3, POSTS = 50 };
  for (int r = 0; r < ROUNDS; r++) {
    pin_arg a = {.cpu = c0, .allowed = allowed};
    errand_task *pin = NULL;
    REQUIRE_OK(errand_post(rt, settle_on_cpu, &a, NULL, &pin));
    CHECK_OK(errand_wait(pin, -1));
    CHECK_OK(errand_task_release(pin));
    int cpu[POSTS];
    errand_task *h[POSTS];
    for (int i = 0; i < POSTS; i++) {
      struct timespec gap = {0, 100000}; /* 100 µs, as W3 posts */
      nanosleep(&gap, NULL);
      cpu[i] = -1;
      REQUIRE_OK(errand_post(rt, note_cpu, &cpu[i], NULL, &h[i]));
    }
    int elsewhere = 0;
    for (int i = 0; i < POSTS; i++) {
      CHECK_OK(errand_wait(h[i], -1));
      CHECK_OK(errand_task_release(h[i]));
      elsewhere += cpu[i] >= 0 && cpu[i] != c0;
    }
    if (!CHECK(elsewhere > 0))
      printf("  round %d: all %d tasks ran on the poster's CPU %d\n", r,
             POSTS, c0);
  }
  CHECK_EQ_INT(sched_setaffinity(0, sizeof allowed, &allowed), 0);
  errand_runtime_destroy(rt);
}

CHECK_MAIN()
