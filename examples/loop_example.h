/*
 * loop_example.h — the part the three loop examples share (loop_poll.c,
 * loop_libuv.c, loop_glib.c): pool tasks that report progress and return a
 * value, and the callbacks that receive both on the host loop's thread
 * (seed 001: `perform` on a pool thread, `complete` on the main thread).
 *
 * Each example creates a runtime and an errand loop, calls
 * example_start(), watches errand_loop_fd() with its own event loop, calls
 * errand_loop_run_pending() whenever the fd is readable, stops when
 * example_done() says so and returns example_finish().
 */
#ifndef ERRAND_LOOP_EXAMPLE_H
#define ERRAND_LOOP_EXAMPLE_H

#include <errand.h>

#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define EXAMPLE_TASKS 4
#define EXAMPLE_STEPS 3

typedef struct example {
  pthread_t main_thread;
  errand_task *tasks[EXAMPLE_TASKS];
  int last_percent[EXAMPLE_TASKS]; /* progress seen so far, per task */
  int completions;
  int failures; /* anything unexpected */
} example;

/* perform: runs on a pool thread, reports progress, returns n * n. */
static int example_perform(errand_task *self, void *arg) {
  int n = (int)(intptr_t)arg, step;
  int *value;
  for (step = 1; step <= EXAMPLE_STEPS; step++) {
    int percent = step * 100 / EXAMPLE_STEPS;
    errand_task_sleep(self, 5); /* some work */
    if (errand_task_emit(self, "progress", &percent, sizeof percent) != 0)
      return errand_task_fail(self, ERRAND_E_FAILED, "emit failed");
  }
  value = malloc(sizeof *value);
  if (!value) return errand_task_fail(self, ERRAND_E_NOMEM, "out of memory");
  *value = n * n;
  return errand_task_set_result(self, value, free);
}

static int example_on_main(example *ex, const char *what) {
  if (pthread_equal(pthread_self(), ex->main_thread)) return 1;
  fprintf(stderr, "error: %s ran off the main thread\n", what);
  ex->failures++;
  return 0;
}

/* A progress event, on the loop's thread, in the order the task sent it. */
static void example_on_progress(errand_task *task, const char *name,
                                const void *data, size_t len, void *arg) {
  example *ex = (example *)arg;
  uint64_t id = 0;
  int percent, i;
  if (!example_on_main(ex, "a progress event")) return;
  if (len != sizeof percent) {
    ex->failures++;
    return;
  }
  memcpy(&percent, data, sizeof percent);
  errand_task_id(task, &id);
  for (i = 0; i < EXAMPLE_TASKS; i++) {
    if (ex->tasks[i] != task) continue;
    if (percent <= ex->last_percent[i]) ex->failures++; /* out of order */
    ex->last_percent[i] = percent;
  }
  printf("task %llu %s %d%%\n", (unsigned long long)id, name, percent);
}

/* complete: callback(err, value), on the loop's thread. */
static void example_on_complete(int err, const char *message, void *value,
                                void *arg) {
  example *ex = (example *)arg;
  if (!example_on_main(ex, "a completion")) return;
  ex->completions++;
  if (err) {
    printf("task failed: %s\n", message);
    ex->failures++;
    return;
  }
  printf("task done: %d\n", *(int *)value);
}

/* Posts the tasks and subscribes on loop.  Returns 0 or an errand code. */
static int example_start(example *ex, errand_runtime *rt, errand_loop *loop) {
  int i, rc;
  memset(ex, 0, sizeof *ex);
  ex->main_thread = pthread_self();
  for (i = 0; i < EXAMPLE_TASKS; i++) {
    rc = errand_post(rt, example_perform, (void *)(intptr_t)(i + 1), NULL,
                     &ex->tasks[i]);
    if (rc == 0)
      rc = errand_task_on_event(ex->tasks[i], loop, example_on_progress, ex);
    if (rc == 0)
      rc = errand_task_callback(ex->tasks[i], loop, example_on_complete, ex);
    if (rc != 0) {
      fprintf(stderr, "error: %s (%s)\n", errand_strerror(rc),
              errand_last_error());
      return rc;
    }
  }
  return 0;
}

static int example_done(const example *ex) {
  return ex->completions == EXAMPLE_TASKS || ex->failures > 0;
}

/* Checks everything arrived; releases the tasks.  The exit status. */
static int example_finish(example *ex) {
  int i;
  for (i = 0; i < EXAMPLE_TASKS; i++) {
    if (ex->last_percent[i] != 100) {
      fprintf(stderr, "error: task %d: last progress %d%%, want 100%%\n", i,
              ex->last_percent[i]);
      ex->failures++;
    }
    errand_task_release(ex->tasks[i]);
  }
  if (ex->completions != EXAMPLE_TASKS) {
    fprintf(stderr, "error: %d completions, want %d\n", ex->completions,
            EXAMPLE_TASKS);
    ex->failures++;
  }
  printf("%s: %d completions, every callback on the main thread\n",
         ex->failures ? "FAILED" : "ok", ex->completions);
  return ex->failures ? 1 : 0;
}

#endif
