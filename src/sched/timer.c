/*
 * timer.c — delays and timeouts: one binary min-heap and one thread per
 * scheduler, started the first time a timer is added.
 *
 * Timers are rare next to posts (only delayed tasks and tasks with a queue
 * or run timeout have one), so a mutex-protected heap is enough, and
 * cancelling is a linear scan of the heap.  Callbacks run on the timer
 * thread with no lock held.
 */
#include "sched/sched_priv.h"

#include <stdlib.h>
#include <time.h>

static bool before(const errand__timer_entry *a, const errand__timer_entry *b) {
  return a->deadline < b->deadline ||
         (a->deadline == b->deadline && a->id < b->id);
}

static void sift_up(errand__timer_entry *h, size_t i) {
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (!before(&h[i], &h[p]))
      break;
    errand__timer_entry t = h[i];
    h[i] = h[p];
    h[p] = t;
    i = p;
  }
}

static void sift_down(errand__timer_entry *h, size_t n, size_t i) {
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < n && before(&h[l], &h[m]))
      m = l;
    if (r < n && before(&h[r], &h[m]))
      m = r;
    if (m == i)
      return;
    errand__timer_entry t = h[i];
    h[i] = h[m];
    h[m] = t;
    i = m;
  }
}

static void remove_at(errand__sched *s, size_t i) {
  s->heap[i] = s->heap[--s->nheap];
  if (i < s->nheap) {
    sift_down(s->heap, s->nheap, i);
    sift_up(s->heap, i);
  }
}

static void *timer_main(void *arg) {
  errand__sched *s = arg;
  pthread_mutex_lock(&s->timer_mu);
  for (;;) {
    if (s->nheap == 0) {
      if (s->timer_stop)
        break;
      pthread_cond_wait(&s->timer_cv, &s->timer_mu);
      continue;
    }
    uint64_t now = errand__now_ns();
    if (s->timer_flush || s->timer_stop || s->heap[0].deadline <= now) {
      errand__timer_entry e = s->heap[0];
      remove_at(s, 0);
      pthread_mutex_unlock(&s->timer_mu);
      e.fn(e.ctx, e.tag);
      pthread_mutex_lock(&s->timer_mu);
      continue;
    }
    uint64_t d = s->heap[0].deadline;
    struct timespec ts = {.tv_sec = (time_t)(d / 1000000000u),
                          .tv_nsec = (long)(d % 1000000000u)};
    pthread_cond_timedwait(&s->timer_cv, &s->timer_mu, &ts);
  }
  pthread_mutex_unlock(&s->timer_mu);
  return NULL;
}

int errand__timer_reserve(errand__sched *s, size_t n) {
  int rc = 0;
  pthread_mutex_lock(&s->timer_mu);
  if (s->timer_stop) {
    rc = ERRAND_E_SHUTDOWN;
    goto out;
  }
  if (!s->timer_started) {
    if (errand__thread_start(&s->timer_thread, timer_main, s, "errand-timer") !=
        0) {
      rc = ERRAND_E_SYSTEM;
      goto out;
    }
    s->timer_started = true;
  }
  size_t need = s->nheap + s->reserved + n;
  if (need > s->capheap) {
    size_t cap = s->capheap ? s->capheap : 64;
    while (cap < need)
      cap *= 2;
    errand__timer_entry *h = errand__realloc(s->heap, cap * sizeof *h);
    if (!h) {
      rc = ERRAND_E_NOMEM;
      goto out;
    }
    s->heap = h;
    s->capheap = cap;
  }
  s->reserved += n;
out:
  pthread_mutex_unlock(&s->timer_mu);
  return rc;
}

void errand__timer_unreserve(errand__sched *s, size_t n) {
  pthread_mutex_lock(&s->timer_mu);
  s->reserved -= n;
  pthread_mutex_unlock(&s->timer_mu);
}

void errand__timer_add(errand__sched *s, uint64_t deadline_ns,
                       errand__timer_fn fn, void *ctx, uint64_t tag,
                       _Atomic uint64_t *id_out) {
  pthread_mutex_lock(&s->timer_mu);
  /* Room was reserved, so this cannot fail. */
  s->reserved--;
  uint64_t id = ++s->next_timer_id;
  if (id_out)
    st_rlx(id_out, id); /* the mutex publishes it to the timer thread */
  s->heap[s->nheap] = (errand__timer_entry){deadline_ns, id, fn, ctx, tag};
  sift_up(s->heap, s->nheap++);
  if (s->heap[0].id == id)
    pthread_cond_signal(&s->timer_cv);
  pthread_mutex_unlock(&s->timer_mu);
}

bool errand__timer_cancel(errand__sched *s, uint64_t id) {
  bool found = false;
  pthread_mutex_lock(&s->timer_mu);
  for (size_t i = 0; i < s->nheap; i++) {
    if (s->heap[i].id == id) {
      remove_at(s, i);
      found = true;
      break;
    }
  }
  pthread_mutex_unlock(&s->timer_mu);
  return found;
}

void errand__timer_flush(errand__sched *s) {
  pthread_mutex_lock(&s->timer_mu);
  s->timer_flush = true;
  pthread_cond_signal(&s->timer_cv);
  pthread_mutex_unlock(&s->timer_mu);
}

void errand__timers_stop(errand__sched *s) {
  pthread_mutex_lock(&s->timer_mu);
  s->timer_stop = true;
  bool started = s->timer_started;
  pthread_cond_signal(&s->timer_cv);
  pthread_mutex_unlock(&s->timer_mu);
  /* The thread fires what is left (owners discard) and exits. */
  if (started)
    errand__thread_join(s->timer_thread);
}
