/*
 * plain_pool.c — the floor: the mutex + condvar pool a newcomer writes in an
 * afternoon.  One lock, one FIFO list of malloc'd nodes, one condvar for
 * "work or stop", one for "all done".
 */
#include <pthread.h>
#include <stdlib.h>

#include "../peer.h"

typedef struct job {
  struct job *next;
  void *arg;
} job;
typedef struct pool {
  pthread_mutex_t mu;
  pthread_cond_t work, idle;
  job *head, *tail;
  size_t pending; /* queued + running */
  int stop, n;
  bench_task_fn fn;
  pthread_t *threads;
} pool;

static void *worker(void *p_) {
  pool *p = p_;
  pthread_mutex_lock(&p->mu);
  for (;;) {
    while (!p->head && !p->stop)
      pthread_cond_wait(&p->work, &p->mu);
    if (!p->head)
      break; /* stop and nothing queued */
    job *j = p->head;
    p->head = j->next;
    if (!p->head)
      p->tail = NULL;
    pthread_mutex_unlock(&p->mu);
    p->fn(j->arg);
    free(j);
    pthread_mutex_lock(&p->mu);
    if (--p->pending == 0)
      pthread_cond_broadcast(&p->idle);
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

static void *plain_create(int workers, bench_task_fn fn) {
  pool *p = calloc(1, sizeof *p);
  if (!p)
    return NULL;
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->work, NULL);
  pthread_cond_init(&p->idle, NULL);
  p->fn = fn;
  p->threads = calloc((size_t)workers, sizeof *p->threads);
  for (p->n = 0; p->n < workers; p->n++)
    if (pthread_create(&p->threads[p->n], NULL, worker, p) != 0)
      break;
  return p;
}

static int plain_post(void *p_, void *arg) {
  pool *p = p_;
  job *j = malloc(sizeof *j);
  if (!j)
    return -1;
  j->next = NULL;
  j->arg = arg;
  pthread_mutex_lock(&p->mu);
  if (p->tail)
    p->tail->next = j;
  else
    p->head = j;
  p->tail = j;
  p->pending++;
  pthread_cond_signal(&p->work);
  pthread_mutex_unlock(&p->mu);
  return 0;
}

static int plain_wait_all(void *p_) {
  pool *p = p_;
  pthread_mutex_lock(&p->mu);
  while (p->pending)
    pthread_cond_wait(&p->idle, &p->mu);
  pthread_mutex_unlock(&p->mu);
  return 0;
}

static void plain_destroy(void *p_) {
  pool *p = p_;
  pthread_mutex_lock(&p->mu);
  p->stop = 1;
  pthread_cond_broadcast(&p->work);
  pthread_mutex_unlock(&p->mu);
  for (int i = 0; i < p->n; i++)
    pthread_join(p->threads[i], NULL);
  free(p->threads);
  free(p);
}

static const char *plain_version(void) {
  return "this tree";
}

const bench_peer bench_peer_plain = {
    .id = "plain",
    .version = plain_version,
    .label = "plain pool",
    .note = "~80-line mutex+condvar FIFO pool (bench/peers/plain_pool.c)",
    .create = plain_create,
    .destroy = plain_destroy,
    .post = plain_post,
    .wait_all = plain_wait_all,
};
