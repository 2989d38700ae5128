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

bool errand__deque_pop_if(errand__deque *d, errand__node *n) {
  int64_t b = ld_rlx(&d->bottom);
  /* Only the owner changes bottom, so this peek is stable; a thief may take
   * the node meanwhile, which pop then sees. */
  if (b <= ld_acq(&d->top) || ld_rlx(&d->buf[(b - 1) & MASK]) != n)
    return false;
  errand__node *got = errand__deque_pop(d);
  if (got == n)
    return true;
  if (got) /* cannot happen: the newest was n and only we pop */
    errand__deque_push(d, got);
  return false;
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
