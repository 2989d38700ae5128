/*
 * signal_int.h — layer 3: controllers and signals.
 *
 * A signal is a shared, reference-counted record: an abort flag with its
 * reason, a priority level, the list of tasks bound to it and its
 * listeners.  Its mutex is taken before any scheduler or loop lock (it is
 * held while bound tasks are queued or moved, so a priority change and a
 * post never interleave).
 */
#ifndef ERRAND_SIGNAL_INT_H
#define ERRAND_SIGNAL_INT_H

#include "task/task_int.h"

typedef struct errand__sig_listener errand__sig_listener;

typedef struct errand__signal {
  errand__slot slot;
  pthread_mutex_t mu;
  _Atomic uint32_t level;
  _Atomic int aborted;
  errand__error *reason; /* set once, before aborted */
  errand__task *bound;   /* tasks bound to it, via aux->sig_next */
  errand__sig_listener *listeners;
} errand__signal;

typedef struct errand__controller {
  errand__slot slot;
  errand__signal *sig; /* one reference */
} errand__controller;

/* How the loop layer is told to deliver a signal listener's call on its
 * loop; NULL loop means "call now". */
typedef void (*errand__sig_call_fn)(errand__sig_listener *l, errand__signal *s,
                                    int kind, int code, const char *reason,
                                    unsigned prev, unsigned cur);
struct errand__sig_listener {
  errand__sig_listener *next;
  int kind; /* SIG_ABORT or SIG_PRIORITY */
  void *loop;
  errand_abort_fn on_abort;
  errand_priority_fn on_priority;
  void *arg;
};
enum { SIG_ABORT = 1, SIG_PRIORITY = 2 };

/* Set by the loop layer: queues a listener call on l->loop. */
extern void (*errand__sig_deliver)(errand__sig_listener *l, errand__signal *s,
                                   int code, const char *reason, unsigned prev,
                                   unsigned cur);

/* Set by the loop layer.  submit returns false when the loop is closed
 * (the caller then ends the task, outside its locks). */
extern bool (*errand__loop_submit_hook)(errand__task *t);
/* The task's record goes: drop its loop reference. */
extern void (*errand__loop_final_hook)(errand__task *t);

void errand__signal_init(void);

errand__signal *errand__signal_get(errand_signal *h, int *code);
void errand__signal_unref(errand__signal *s);
errand_signal *errand__signal_handle(errand__signal *s);
/* Calls one listener now (on this thread). */
void errand__sig_call(errand__sig_listener *l, errand__signal *s, int code,
                      const char *reason, unsigned prev, unsigned cur);

#endif
