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
  bool closed;
  bool signaled;
} errand__loop;

void errand__loop_init(void);
errand__loop *errand__loop_get(errand_loop *h, int *code);
void errand__loop_unref(errand__loop *l);
/* Queues it; false (and it is dropped) if the loop is closed. */
bool errand__loop_push(errand__loop *l, errand__item *it);
bool errand__loop_is_owner(errand__loop *l);

#endif
