/*
 * deque.c — the work-stealing deque (Chase & Lev, in the C11 form of Lê et
 * al., "Correct and Efficient Work-Stealing for Weak Memory Models").
 *
 * The owner pushes and pops at the bottom; anyone steals at the top.  The
 * fences of the paper are folded into seq_cst operations on top and bottom:
 * the same ordering, and ThreadSanitizer understands it (it does not model
 * standalone fences).
 */
#include "sched/sched_priv.h"

#define MASK (ERRAND__DEQUE_CAP - 1)

bool errand__deque_push(errand__deque *d, errand__node *n) {
  int64_t b = ld_rlx(&d->bottom);
  /* acquire: slots freed by thieves are really free before we reuse them. */
  int64_t t = ld_acq(&d->top);
  if (b - t >= (int64_t)ERRAND__DEQUE_CAP)
    return false;
  st_rlx(&d->buf[b & MASK], n);
  /* release: the node (and what it points to) is visible to a thief that
   * reads this bottom. */
  st_rel(&d->bottom, b + 1);
  return true;
}

errand__node *errand__deque_pop(errand__deque *d) {
  int64_t b = ld_rlx(&d->bottom) - 1;
  atomic_store(&d->bottom, b); /* seq_cst: ordered before the load of top */
  int64_t t = atomic_load(&d->top);
  if (t > b) {
    st_rlx(&d->bottom, b + 1);
    return NULL;
  }
  errand__node *n = ld_rlx(&d->buf[b & MASK]);
  if (t == b) {
    /* Last element: race the thieves for it. */
    if (!atomic_compare_exchange_strong(&d->top, &t, t + 1))
      n = NULL;
    st_rlx(&d->bottom, b + 1);
  }
  return n;
}

errand__node *errand__deque_steal(errand__deque *d, bool *lost) {
  int64_t t = atomic_load(&d->top);
  int64_t b = atomic_load(&d->bottom); /* seq_cst: after the load of top */
  if (t >= b)
    return NULL;
  errand__node *n = ld_rlx(&d->buf[t & MASK]);
  if (!atomic_compare_exchange_strong(&d->top, &t, t + 1)) {
    *lost = true;
    return NULL;
  }
  return n;
}
