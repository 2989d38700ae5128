/*
 * loop_int.h — layer 4: the owner-thread delivery queue.
 *
 * A loop holds two queues under one mutex: deliveries (completion
 * callbacks, events, poll ticks, signal listener calls), run in arrival
 * order, and loop tasks, one FIFO per level.  Anything pushed makes the
 * wake descriptor readable; the owner drains it and runs a bounded batch.
 * The loop mutex is a leaf: nothing else is locked while it is held.
 */
#ifndef ERRAND_LOOP_INT_H
#define ERRAND_LOOP_INT_H

#include "signal/signal_int.h"

typedef struct errand__item {
  struct errand__item *next;
  /* Runs on the owner thread, then frees the item. */
  void (*run)(struct errand__item *it);
  /* Frees the item without running it (loop destroyed). */
  void (*drop)(struct errand__item *it);
} errand__item;

typedef struct errand__loop {
  errand__slot slot;
  errand__rt *rt;
  pthread_t owner;
  int fd;
  pthread_mutex_t mu;
  errand__item *head, *tail;
  errand__node *thead[ERRAND__LEVELS], *ttail[ERRAND__LEVELS];
  bool closed;      /* under mu */
  _Atomic int dead; /* destroyed: the handle reads as released at once,
                       even while tasks and items still hold references */
  bool signaled;
} errand__loop;

void errand__loop_init(void);
errand__loop *errand__loop_get(errand_loop *h, int *code);
void errand__loop_unref(errand__loop *l);
/* Queues it; false (and it is dropped) if the loop is closed. */
bool errand__loop_push(errand__loop *l, errand__item *it);
bool errand__loop_is_owner(errand__loop *l);
/* errand_post with an attachment freed with the task's record (ext_free is
 * not called when the post fails: ext stays the caller's). */
int errand__post_ext(errand_runtime *h, errand_fn fn, void *arg,
                     const errand_post_options *opts, void *ext,
                     void (*ext_free)(void *), bool run_here,
                     errand_task **out);
/* For errand_post_options.on_event: checks event_loop, makes the
 * subscriber and has tg attach it to the task before it is scheduled.  0,
 * or the error to return.  A post that fails after it calls
 * errand__post_subscription_drop (which does nothing when there is none). */
int errand__post_subscription(const errand_post_options *o,
                              errand__post_target *tg);
void errand__post_subscription_drop(errand__post_target *tg);
/* Subscribes fn to t's events on l (NULL: on the emitter).  0 or E_NOMEM. */
int errand__subscribe(errand__task *t, errand__loop *l, errand_event_fn fn,
                      void *arg);
/* errand_task_then with a function that frees arg when the continuation is
 * dropped without running (its loop was destroyed). */
int errand__task_then_ex(errand__task *t, errand__loop *l, errand_then_fn fn,
                         void *arg, void (*drop_arg)(void *));
/* Emits an event of t from the thread that owns t's run (its function, or
 * the supervisor of a process job). */
int errand__task_emit_any(errand__task *t, const char *name, const void *data,
                          size_t len);

#endif
