/*
 * sched.c — workers, run queues, parking and waking.
 *
 * Each worker owns one work-stealing deque per level; posts from outside go
 * to a per-level injection FIFO.  A worker looks for work level by level
 * (its own deque, then the injection queue, then the other workers' deques)
 * so the order between levels is strict, and the aging rule in find_work
 * bounds how long a lower level can be passed over.
 *
 * Waking: a worker with nothing to do spins briefly, then registers in the
 * idle list, re-checks the queues and parks.  A poster publishes its node,
 * then (after a full fence) looks at the idle count: the fence on each side
 * means at least one of them sees the other, so no node is left behind a
 * sleeping pool, and a busy pool costs a poster one load.
 */
#include "sched/sched_priv.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ERRAND__HOT_TLS errand__worker *tl_worker;
static ERRAND__HOT_TLS errand__sched *tl_sched;

static errand__worker *slot(errand__sched *s, int i) {
  return ld_acq(&s->slots[i]);
}

ERRAND__HOT_TLS errand__stats_block *errand__tl_stats;
ERRAND__HOT_TLS const errand__sched *errand__tl_stats_of;

errand__stats_block *errand__sched_shared_stats(errand__sched *s) {
  return &s->shared_stats;
}

errand__worker *errand__sched_worker_self(errand__sched *s) {
  errand__worker *w = tl_worker;
  return (w && w->s == s) ? w : NULL;
}

bool errand__sched_is_own_thread(errand__sched *s) { return tl_sched == s; }

errand__worker *errand__sched_worker_current(void) { return tl_worker; }

void errand__sched_wake_all(errand__sched *s) {
  int na = ld_acq(&s->nactive);
  for (int i = 0; i < na; i++) {
    errand__worker *w = slot(s, i);
    if (w)
      errand__unpark(&w->parker);
  }
  pthread_mutex_lock(&s->ded_mu);
  for (errand__dedicated *d = s->ded_list; d; d = d->next) {
    errand__parker *p = ld_acq(&d->parker);
    if (p && !ld_acq(&d->done))
      errand__unpark(p);
  }
  pthread_mutex_unlock(&s->ded_mu);
}

errand__parker *errand__sched_worker_parker(errand__worker *w) {
  return &w->parker;
}

int errand__sched_workers(errand__sched *s) { return s->nworkers; }

errand__sched *errand__sched_of(errand__worker *w) { return w->s; }

/* ---- waking ---- */

bool errand__sched_has_idle(errand__sched *s) {
  return ld_rlx(&s->nspinning) > 0 || ld_rlx(&s->nidle) > 0;
}

void errand__sched_notify(errand__sched *s, int n) {
  /* seq_cst fence: our node is published before we read nspinning and
   * nidle; pairs with the fence in idle_enter (see the file comment). */
  atomic_thread_fence(memory_order_seq_cst);
  /* A spinning worker will find the node, and wakes a helper if it finds
   * more than one (see worker_main). */
  if (ld_rlx(&s->nspinning) > 0)
    return;
  while (n-- > 0 && ld_rlx(&s->nidle) > 0) {
    errand__worker *w = NULL;
    pthread_mutex_lock(&s->idle_mu);
    w = s->idle_head;
    if (w) {
      s->idle_head = w->idle_next;
      if (w->idle_next)
        w->idle_next->idle_prev = NULL;
      w->in_idle = false;
      fas_rlx(&s->nidle, 1);
      /* Unpark under the lock: w cannot leave the idle path (and so cannot
       * be stopped and freed) before we are done with it. */
      errand__unpark(&w->parker);
    }
    pthread_mutex_unlock(&s->idle_mu);
    if (!w)
      break;
  }
}

void errand__sched_idle_enter(errand__worker *w) {
  errand__sched *s = w->s;
  pthread_mutex_lock(&s->idle_mu);
  w->in_idle = true;
  w->idle_prev = NULL;
  w->idle_next = s->idle_head;
  if (s->idle_head)
    s->idle_head->idle_prev = w;
  s->idle_head = w;
  faa_rlx(&s->nidle, 1);
  pthread_mutex_unlock(&s->idle_mu);
  /* seq_cst fence: pairs with the one in notify before we re-check. */
  atomic_thread_fence(memory_order_seq_cst);
}

void errand__sched_idle_leave(errand__worker *w) {
  errand__sched *s = w->s;
  pthread_mutex_lock(&s->idle_mu);
  if (w->in_idle) {
    if (w->idle_prev)
      w->idle_prev->idle_next = w->idle_next;
    else
      s->idle_head = w->idle_next;
    if (w->idle_next)
      w->idle_next->idle_prev = w->idle_prev;
    w->in_idle = false;
    fas_rlx(&s->nidle, 1);
  }
  pthread_mutex_unlock(&s->idle_mu);
}

void errand__sched_pass_wake(errand__worker *w) {
  if (errand__sched_has_work(w->s))
    errand__sched_notify(w->s, 1);
}

bool errand__sched_wait_may_spin(errand__worker *w) { return w->s->wait_spin; }

/* Whether the injection queue may hold nodes at level: its mask bit, or
 * a push a consumer has not seen yet. */
static bool inj_nonempty(errand__sched *s, unsigned level) {
  return (ld_acq(&s->inj_mask) & (1u << level)) ||
         atomic_load(&s->inj_last[level]) != &s->inj_stub[level];
}

bool errand__sched_has_work(errand__sched *s) {
  for (unsigned l = 0; l < ERRAND__LEVELS; l++)
    if (inj_nonempty(s, l))
      return true;
  int na = ld_acq(&s->nactive);
  for (int i = 0; i < na; i++) {
    errand__worker *v = slot(s, i);
    if (!v)
      continue;
    for (unsigned l = 0; l < ERRAND__LEVELS; l++)
      if (!errand__deque_empty(&v->dq[l]) || !errand__deque_empty(&v->inbox[l]))
        return true;
  }
  return false;
}

/* ---- queues ---- */

static void wake_urgent(errand__sched *s, unsigned level);

/* Appends head..tail (linked, in post order) to the queue: one exchange
 * makes them the newest, and linking the node before them makes them
 * reachable.  Between the two a consumer cannot take them or anything
 * posted after them (queue_take_locked reports it as busy): the poster is
 * two instructions from done.  The exchange is seq_cst: with the mask load
 * after it, it pairs with inj_clear_if_empty_locked, so the bit never
 * stays clear over a pushed node.  release on the link: a consumer that
 * reads it sees the nodes' contents and their links to each other. */
static void inj_push(errand__sched *s, errand__node *head, errand__node *tail,
                     unsigned level) {
  st_rlx(&tail->next, NULL);
  errand__node *prev = atomic_exchange(&s->inj_last[level], tail);
  st_rel(&prev->next, head);
  /* Read first: workers poll this word, so do not dirty its line when the
   * bit is already set. */
  if (!(atomic_load(&s->inj_mask) & (1u << level)))
    atomic_fetch_or(&s->inj_mask, 1u << level);
}

/* Under inj_mu: takes the queue's oldest node.  NULL when it is empty, when
 * stop_at_movable and the oldest is movable (it stays first), or when the
 * oldest is not linked yet (*busy: a poster is between its exchange and
 * its link, see inj_push; taking it now would let that link land in a node
 * that may already have run and been freed). */
static errand__node *queue_take_locked(errand__sched *s, unsigned level,
                                       bool stop_at_movable, bool *busy) {
  errand__node *stub = &s->inj_stub[level];
  errand__node *n = s->inj_first[level];
  errand__node *next = ld_acq(&n->next);
  if (n == stub) {
    if (!next) {
      *busy = atomic_load(&s->inj_last[level]) != stub;
      return NULL;
    }
    s->inj_first[level] = n = next; /* the stub leaves until needed again */
    next = ld_acq(&n->next);
  }
  if (stop_at_movable && s->cfg.movable(n))
    return NULL;
  if (!next) {
    if (atomic_load(&s->inj_last[level]) != n) {
      *busy = true;
      return NULL;
    }
    /* n is the newest: the stub goes behind it so that the queue never
     * empties under posters, who only ever touch its last node. */
    inj_push(s, stub, stub, level);
    if (!(next = ld_acq(&n->next))) {
      *busy = true; /* a post came first: its link to n is on its way */
      return NULL;
    }
  }
  s->inj_first[level] = next;
  return n;
}

/* Under inj_mu: takes up to max nodes off the queue, oldest first, in a
 * tight loop for the common case; stops at what needs queue_take_locked
 * (the stub, the newest node, one not linked yet) and before a movable
 * one.  Returns how many it took. */
static int queue_take_run_locked(errand__sched *s, unsigned level,
                                 errand__node **out, int max) {
  errand__node *stub = &s->inj_stub[level], *n = s->inj_first[level], *next;
  int k = 0;
  while (k < max && n != stub && (next = ld_acq(&n->next)) &&
         !s->cfg.movable(n)) {
    out[k++] = n;
    n = next;
  }
  s->inj_first[level] = n;
  return k;
}

/* Under inj_mu: takes the first node of the list in front of the queue. */
static errand__node *list_pop_locked(errand__sched *s, unsigned level) {
  errand__node *n = s->inj_head[level];
  if (n) {
    s->inj_head[level] = ld_rlx(&n->next);
    if (!s->inj_head[level])
      s->inj_tail[level] = NULL;
  }
  return n;
}

/* Under inj_mu: the oldest injected node, from the list in front first. */
static errand__node *inj_take_locked(errand__sched *s, unsigned level,
                                     bool stop_at_movable, bool *busy) {
  errand__node *n = s->inj_head[level];
  if (!n)
    return queue_take_locked(s, level, stop_at_movable, busy);
  if (stop_at_movable && s->cfg.movable(n))
    return NULL;
  return list_pop_locked(s, level);
}

/* Under inj_mu, for the rare callers that must see every node (a priority
 * change, the scheduler's stop): waits out a post between its two steps. */
static errand__node *queue_take_all_locked(errand__sched *s, unsigned level) {
  for (;;) {
    bool busy = false;
    errand__node *n = queue_take_locked(s, level, false, &busy);
    if (n || !busy)
      return n;
    sched_yield();
  }
}

/* Under inj_mu: clears level's mask bit if the list and the queue are
 * empty, unless a push came in meanwhile.  seq_cst on both sides (here:
 * clear, then read the queue's last node; the poster: exchange it, then
 * read the mask) so that one of the two sees the other. */
static void inj_clear_if_empty_locked(errand__sched *s, unsigned level) {
  errand__node *stub = &s->inj_stub[level];
  if (s->inj_head[level] || s->inj_first[level] != stub || ld_rlx(&stub->next))
    return;
  atomic_fetch_and(&s->inj_mask, ~(1u << level));
  if (atomic_load(&s->inj_last[level]) != stub)
    atomic_fetch_or(&s->inj_mask, 1u << level);
}

/* After the node is in place (see l0_arrivals); release: a worker that
 * reads the new count then sees the node. */
static void count_arrivals(errand__sched *s, unsigned level) {
  if (level == 0)
    atomic_fetch_add_explicit(&s->l0_arrivals, 1, memory_order_release);
}

void errand__sched_submit(errand__sched *s, errand__node *n, unsigned level,
                          bool movable) {
  errand__worker *w = tl_worker;
  if (!movable && w && w->s == s && errand__deque_push(&w->dq[level], n)) {
    count_arrivals(s, level);
    errand__sched_notify(s, 1);
    wake_urgent(s, level);
    return;
  }
  inj_push(s, n, n, level);
  count_arrivals(s, level);
  errand__sched_notify(s, 1);
  wake_urgent(s, level);
}

void errand__sched_submit_chain(errand__sched *s, errand__node *head,
                                errand__node *tail, size_t count,
                                unsigned level) {
  if (!count)
    return;
  inj_push(s, head, tail, level);
  count_arrivals(s, level);
  errand__sched_notify(s, count > (size_t)s->nslots ? s->nslots : (int)count);
  wake_urgent(s, level);
}

/* Most nodes a worker moves from the injection queue to its own deque in
 * one lock round: amortises the lock over a burst of posts from outside. */
#define INJ_BATCH 32

static errand__node *inj_pop(errand__sched *s, unsigned level) {
  pthread_mutex_lock(&s->inj_mu);
  errand__node *n = list_pop_locked(s, level);
  if (!n)
    n = queue_take_all_locked(s, level);
  inj_clear_if_empty_locked(s, level);
  pthread_mutex_unlock(&s->inj_mu);
  return n;
}

static bool inboxes_empty(errand__sched *s, unsigned level) {
  int na = ld_acq(&s->nactive);
  for (int i = 0; i < na; i++) {
    errand__worker *v = slot(s, i);
    if (v && !errand__deque_empty(&v->inbox[level]))
      return false;
  }
  return true;
}

/* Under inj_mu: whether a level above `level` has injected work, in the
 * queue or in a batch some worker moved to its inbox. */
static bool higher_injected_locked(errand__sched *s, unsigned level) {
  for (unsigned k = 0; k < level; k++)
    if (inj_nonempty(s, k) || !inboxes_empty(s, k))
      return true;
  return false;
}

/* Under inj_mu: puts n and the batch taken behind it back in front of
 * level's queue, in their order (they were its oldest). */
static void put_back_locked(errand__sched *s, unsigned level, errand__node *n,
                            errand__node *const *batch, int nb) {
  errand__node *first = n, *last = n;
  for (int i = 0; i < nb; i++) {
    st_rlx(&last->next, batch[i]);
    last = batch[i];
  }
  st_rlx(&last->next, s->inj_head[level]);
  if (!s->inj_head[level])
    s->inj_tail[level] = last;
  s->inj_head[level] = first;
}

/* higher (NULL: no such check): give the nodes back and say so (*higher)
 * when a level above has injected work by the time they are taken.  A worker
 * looks at the levels one after another, so a post to a higher level can land
 * after it looked there and before it takes from a lower one; taking a node (an
 * acquire of its link) shows every post made before it, so one posted after the
 * higher one is never started first.  Without this, on one worker, a
 * user-blocking post and a background one right after it started in the wrong
 * order in 4 to 36 of 9,000 pairs next to two busy loops (test_priority), and
 * once in a CLI test on a busy host. */
static errand__node *inj_take(errand__worker *w, unsigned level, bool *retry,
                              bool *higher) {
  errand__sched *s = w->s;
  pthread_mutex_lock(&s->inj_mu);
  /* A batch that another worker moved while we waited for the lock is
   * older than anything still injected: take from it first. */
  if (!inboxes_empty(s, level)) {
    pthread_mutex_unlock(&s->inj_mu);
    *retry = true;
    return NULL;
  }
  /* n and up to INJ_BATCH nodes behind it (stopping at a movable one,
   * which must stay where requeue finds it) go to our inbox.  The mask bit
   * stays set until they are in the inbox, so a worker checking for work
   * before it parks sees them in one place or the other. */
  bool busy = false;
  errand__node *n = inj_take_locked(s, level, false, &busy);
  if (n) {
    errand__node *batch[INJ_BATCH];
    int nb = 0;
    for (;;) {
      if (!s->inj_head[level])
        nb += queue_take_run_locked(s, level, batch + nb, INJ_BATCH - nb);
      if (nb == INJ_BATCH ||
          !(batch[nb] = inj_take_locked(s, level, true, &busy)))
        break;
      nb++;
    }
    if (higher && higher_injected_locked(s, level)) {
      put_back_locked(s, level, n, batch, nb);
      *higher = true;
      n = NULL;
      nb = 0;
    }
    if (nb) {
      /* Every inbox is empty and only we push to ours: INJ_BATCH fit. */
      st_rel(&w->inbox_batch[level], ++s->inj_batches);
      for (int i = 0; i < nb; i++)
        errand__deque_push(&w->inbox[level], batch[i]);
    }
  }
  inj_clear_if_empty_locked(s, level);
  pthread_mutex_unlock(&s->inj_mu);
  return n;
}

/* A list of nodes being built under inj_mu. */
typedef struct node_list {
  errand__node *head, *tail;
} node_list;

static void list_add(node_list *l, errand__node *n) {
  st_rlx(&n->next, NULL);
  if (l->tail)
    st_rlx(&l->tail->next, n);
  else
    l->head = n;
  l->tail = n;
}

/* Empties level's list in front and its queue, in post order. */
static node_list take_level_all_locked(errand__sched *s, unsigned level) {
  node_list all = {s->inj_head[level], s->inj_tail[level]};
  s->inj_head[level] = s->inj_tail[level] = NULL;
  errand__node *n;
  while ((n = queue_take_all_locked(s, level)))
    list_add(&all, n);
  return all;
}

/* Merges two lists, each in post order, into one (stable: a's first on a
 * tie). */
static node_list merge_by_seq(errand__sched *s, errand__node *a,
                              errand__node *b) {
  node_list res = {NULL, NULL};
  while (a || b) {
    errand__node **src =
        (!b || (a && s->cfg.seq(a) <= s->cfg.seq(b))) ? &a : &b;
    errand__node *n = *src;
    *src = ld_rlx(&n->next);
    list_add(&res, n);
  }
  return res;
}

size_t errand__sched_requeue(errand__sched *s,
                             bool (*pick)(void *, errand__node *), void *arg,
                             unsigned new_level) {
  size_t moved = 0;
  pthread_mutex_lock(&s->inj_mu);
  errand__node *mhead = NULL;
  for (unsigned l = 0; l < ERRAND__LEVELS; l++) {
    if (l == new_level)
      continue;
    /* A level's nodes are in post order, so the ones picked are too:
     * append them, then merge with those of the other levels.  Linear in
     * the queue's length: a signal's priority change with thousands of
     * tasks queued must not cost their square (sorted insertion did).  The
     * others stay, now all in the list in front of the queue. */
    node_list all = take_level_all_locked(s, l), keep = {NULL, NULL},
              sub = {NULL, NULL};
    for (errand__node *n = all.head, *next; n; n = next) {
      next = ld_rlx(&n->next);
      if (pick(arg, n)) {
        list_add(&sub, n);
        moved++;
      } else {
        list_add(&keep, n);
      }
    }
    s->inj_head[l] = keep.head;
    s->inj_tail[l] = keep.tail;
    inj_clear_if_empty_locked(s, l);
    if (sub.head)
      mhead = merge_by_seq(s, mhead, sub.head).head;
  }
  if (mhead) {
    /* merge the moved nodes into the target level by post order */
    node_list target = take_level_all_locked(s, new_level);
    target = merge_by_seq(s, target.head, mhead);
    s->inj_head[new_level] = target.head;
    s->inj_tail[new_level] = target.tail;
    atomic_fetch_or_explicit(&s->inj_mask, 1u << new_level,
                             memory_order_release);
  }
  pthread_mutex_unlock(&s->inj_mu);
  if (moved) {
    count_arrivals(s, new_level);
    errand__sched_notify(s, 1);
    wake_urgent(s, new_level);
  }
  return moved;
}

static errand__node *steal_retry(errand__deque *d, int tries) {
  errand__node *n;
  bool lost;
  do {
    lost = false;
    n = errand__deque_steal(d, &lost);
  } while (!n && lost && --tries);
  return n;
}

/* Steals from the other workers' deques, starting at a random one so
 * thieves spread out. */
static errand__node *steal_level(errand__worker *w, unsigned l) {
  errand__sched *s = w->s;
  int na = ld_acq(&s->nactive);
  if (na <= 1)
    return NULL;
  w->rng ^= w->rng << 13; /* xorshift */
  w->rng ^= w->rng >> 7;
  w->rng ^= w->rng << 17;
  /* A multiply and a wrap instead of two divisions: this runs for every
   * level a worker finds empty before the task it takes, and a division
   * cost as much as the rest of the probe. */
  int start = (int)(((w->rng >> 32) * (uint64_t)na) >> 32);
  for (int i = 0, k = start; i < na; i++, k = k + 1 == na ? 0 : k + 1) {
    errand__worker *v = slot(s, k);
    if (!v || v == w)
      continue;
    errand__node *n = steal_retry(&v->dq[l], 4);
    if (n)
      return n;
  }
  return NULL;
}

/* The oldest batch in any worker's inbox at level l: every worker serves
 * them in the order they left the injection queue, so a batch sitting in
 * the inbox of a worker busy with a long task is not overtaken. */
static errand__node *take_oldest_inbox(errand__worker *w, unsigned l) {
  errand__sched *s = w->s;
  for (int attempt = 0; attempt < 8; attempt++) {
    errand__worker *best = NULL;
    uint64_t best_batch = UINT64_MAX;
    int na = ld_acq(&s->nactive);
    for (int i = 0; i < na; i++) {
      errand__worker *v = slot(s, i);
      if (!v || errand__deque_empty(&v->inbox[l]))
        continue;
      uint64_t b = ld_acq(&v->inbox_batch[l]);
      if (b < best_batch) {
        best_batch = b;
        best = v;
      }
    }
    if (!best)
      return NULL;
    errand__node *n = steal_retry(&best->inbox[l], best == w ? INT32_MAX : 4);
    if (n)
      return n;
  }
  return NULL;
}

/* One level, oldest external posts first: the inboxes (oldest batch
 * first), the injection queue, then tasks posted by pool tasks (own deque,
 * then others').  While helping (lifo), the own deque comes first, newest
 * first, so fork-join stays depth-first. */
static errand__node *take_level(errand__worker *w, unsigned l, bool lifo,
                                bool *higher) {
  errand__sched *s = w->s;
  errand__node *n = NULL;
  if (lifo && (n = errand__deque_pop(&w->dq[l])))
    return n;
  for (int round = 0; round < 4; round++) {
    if ((n = take_oldest_inbox(w, l)))
      return n;
    if (!(ld_acq(&s->inj_mask) & (1u << l)))
      break;
    bool retry = false;
    if ((n = inj_take(w, l, &retry, higher)))
      return n;
    if (higher && *higher)
      return NULL;
    if (!retry)
      break;
  }
  if (!lifo && (n = steal_retry(&w->dq[l], INT32_MAX)))
    return n;
  return steal_level(w, l);
}

static bool level_has_work(errand__worker *w, unsigned l) {
  return !errand__deque_empty(&w->dq[l]) ||
         !errand__deque_empty(&w->inbox[l]) ||
         (ld_rlx(&w->s->inj_mask) & (1u << l));
}

static bool level0_has_work(errand__sched *s) {
  if (inj_nonempty(s, 0))
    return true;
  int na = ld_acq(&s->nactive);
  for (int i = 0; i < na; i++) {
    errand__worker *v = slot(s, i);
    if (v &&
        (!errand__deque_empty(&v->dq[0]) || !errand__deque_empty(&v->inbox[0])))
      return true;
  }
  return false;
}

errand__node *errand__sched_find_work(errand__worker *w, bool lifo) {
  errand__sched *s = w->s;
  uint32_t burst = (uint32_t)s->cfg.aging_burst;
  /* Aging: a level passed over `burst` times gets the next pick. */
  for (unsigned l = ERRAND__LEVELS - 1; l >= 1; l--) {
    if (w->skipped[l] >= burst) {
      w->skipped[l] = 0;
      errand__node *n = take_level(w, l, lifo, NULL);
      if (n)
        return n;
    }
  }
  /* Top down; once more from the top when a level above got work while
   * we looked (see inj_take), and then without that check, so a busy
   * stream of higher posts cannot keep this look going. */
  bool strict = true;
look:
  for (unsigned l = 0; l < ERRAND__LEVELS; l++) {
    uint64_t arrivals = 0;
    if (l == 0) {
      arrivals = ld_acq(&s->l0_arrivals);
      if (arrivals == w->l0_empty_at)
        continue;
    }
    bool higher = false;
    errand__node *n = take_level(w, l, lifo, strict ? &higher : NULL);
    if (higher) {
      strict = false;
      w->l0_empty_at = UINT64_MAX; /* its arrival may not be counted yet */
      goto look;
    }
    /* Empty by this probe and by a second look (a probe may lose a race
     * for a node that is still there, or look at a batch while it moves):
     * only a new arrival can put work at level 0 now. */
    if (!n && l == 0 && !level0_has_work(s))
      w->l0_empty_at = arrivals;
    if (n) {
      for (unsigned k = l + 1; k < ERRAND__LEVELS; k++)
        if (level_has_work(w, k))
          w->skipped[k]++;
      return n;
    }
  }
  return NULL;
}

bool errand__sched_pop_if_newest(errand__worker *w, unsigned level,
                                 errand__node *n) {
  return errand__deque_pop_if(&w->dq[level], n);
}

void errand__sched_run_node(errand__worker *w, errand__node *n) {
  w->s->cfg.run(w->s->cfg.ctx, n);
}

/* ---- workers ---- */

static bool comp_allowed(errand__worker *w) {
  return w->comp_index < 0 || w->comp_index < ld_acq(&w->s->nblocked);
}

/* The urgent worker: user-blocking tasks only, parked otherwise. */
static void urgent_loop(errand__worker *w) {
  errand__sched *s = w->s;
  while (!ld_acq(&s->stop)) {
    errand__node *n = take_level(w, 0, false, NULL);
    if (n) {
      errand__sched_run_node(w, n);
      continue;
    }
    errand__stamp_keep(0);
    st_rel(&s->urgent_parked, 1);
    /* seq_cst fence: pairs with the one in notify (see wake_urgent). */
    atomic_thread_fence(memory_order_seq_cst);
    if (!level0_has_work(s) && !ld_acq(&s->stop))
      errand__park(&w->parker, 0);
    st_rel(&s->urgent_parked, 0);
  }
}

static void wake_urgent(errand__sched *s, unsigned level) {
  /* notify's fence came first: our node is published before this load. */
  if (level == 0 && s->urgent && ld_acq(&s->urgent_parked))
    errand__unpark(&s->urgent->parker);
}

/* A spinner that sees the clock jump this far between two looks was not
 * on its CPU meanwhile: one look is 32 pauses and a scan, under 2 us on
 * any CPU we know. */
#define PREEMPT_GAP_NS 5000u
/* After this many spins in a row that lost their CPU, the spinner moves
 * to another CPU.  The usual cause is a thread that posts from the same
 * CPU: the kernel wakes it where the spinner runs (the CPU looks busy, so
 * its idle neighbour goes unused), it takes the CPU from the spinner, and
 * every post then waits for the poster to sleep before it can start (on
 * a 2-CPU VM: W3's posts took 10 us instead of 1 for as long as the two
 * stayed together).  Three in a row tells this from a single stolen
 * slice. */
#define PREEMPTED_SPINS_TO_MOVE 3
/* A spinner that woke a thread (see errand__yield_if_woke) yields after
 * looking this long: a thread on another CPU (a caller whose task we ran,
 * posting its next) has posted by then, and finds us still looking rather
 * than in a system call. */
#define SPIN_YIELD_AFTER_NS 3000u

static void *worker_main(void *arg) {
  errand__worker *w = arg;
  errand__sched *s = w->s;
  tl_worker = w;
  tl_sched = s;
  errand__tl_stats = &w->stats;
  errand__tl_stats_of = s;
  if (w->comp_index == -2) {
    urgent_loop(w);
    return NULL;
  }
  bool woken = false;
  while (!ld_acq(&s->stop)) {
    if (!comp_allowed(w)) {
      /* A compensating worker not needed now sleeps outside the idle list
       * so posts wake workers that can take them. */
      errand__stamp_keep(0);
      errand__park(&w->parker, 0);
      continue;
    }
    errand__node *n = errand__sched_find_work(w, false);
    if (!n) {
      errand__stamp_keep(0); /* idle time is no task's run */
      /* Spin a while before parking: posts that come soon cost no wake-up.
       * The last spinner to find work wakes another worker if more is
       * queued, so a burst ramps the pool up one worker at a time. */
      /* At most half the CPUs spin (at least one): spinners beyond that
       * only take CPU from the threads that would post or finish work
       * (Go caps its spinning threads the same way). */
      /* For a time, not a count of pause instructions: one costs from 10
       * to 140 cycles depending on the CPU (and a virtual machine may move
       * from one kind to another). */
      bool spin = atomic_fetch_add(&s->nspinning, 1) < s->max_spinners &&
                  s->cfg.spin_ns;
      if (spin && w->preempted_spins >= PREEMPTED_SPINS_TO_MOVE) {
        w->preempted_spins = 0;
        errand__thread_move_off_cpu();
      }
      uint64_t t0 = spin ? errand__stamp() : 0, last = t0;
      bool preempted = false;
      for (unsigned i = 1; spin && !n && !ld_rlx(&s->stop); i++) {
        errand__cpu_relax();
        if ((i & 31) != 0)
          continue;
        uint64_t now = errand__stamp();
        /* A thread we woke that shares our CPU runs now (a lost CPU for
         * us, so three in a row move us), not after the spin. */
        if (errand__stamp_ns(now - t0) >= SPIN_YIELD_AFTER_NS &&
            errand__yield_if_woke())
          now = errand__stamp();
        preempted |= errand__stamp_ns(now - last) >= PREEMPT_GAP_NS;
        last = now;
        if ((n = errand__sched_find_work(w, false)) ||
            errand__stamp_ns(now - t0) >= s->cfg.spin_ns)
          break;
      }
      if (spin)
        w->preempted_spins = preempted ? w->preempted_spins + 1 : 0;
      if (atomic_fetch_sub(&s->nspinning, 1) == 1 && n &&
          errand__sched_has_work(s))
        errand__sched_notify(s, 1);
    } else if (woken && errand__sched_has_work(s)) {
      /* Woken for one node and there is more (a post wakes one worker;
       * nodes may also sit in a busy worker's deque): pass it on. */
      errand__sched_notify(s, 1);
    }
    woken = false;
    if (n) {
      errand__sched_run_node(w, n);
      continue;
    }
    errand__sched_idle_enter(w);
    if (errand__sched_has_work(s) || ld_acq(&s->stop)) {
      /* Work came while we stopped spinning (its posts saw a spinner and
       * woke nobody): take it, and pass a wake-up on if there is more,
       * as a woken worker does. */
      errand__sched_idle_leave(w);
      woken = true;
      continue;
    }
    errand__park(&w->parker, 0);
    errand__sched_idle_leave(w);
    woken = true;
    if (!comp_allowed(w) && errand__sched_has_work(s))
      errand__sched_notify(s, 1); /* pass on a wake-up we cannot use */
  }
  return NULL;
}

static int start_worker(errand__sched *s, int slot_index, int comp_index) {
  errand__worker *w = errand__aligned_alloc(64, (sizeof *w + 63) & ~(size_t)63);
  if (!w)
    return ERRAND_E_NOMEM;
  memset(w, 0, sizeof *w);
  w->s = s;
  w->index = slot_index;
  w->comp_index = comp_index;
  w->rng = 0x9e3779b97f4a7c15ull * (uint64_t)(slot_index + 1);
  w->l0_empty_at = UINT64_MAX;
  char name[24];
  if (comp_index == -2)
    snprintf(name, sizeof name, "errand-urgent");
  else if (comp_index < 0)
    snprintf(name, sizeof name, "errand-w%d", slot_index);
  else
    snprintf(name, sizeof name, "errand-c%d", comp_index);
  /* Publish the slot before the thread runs so thieves may see it. */
  st_rel(&s->slots[slot_index], w);
  int rc = errand__thread_start(&w->thread, worker_main, w, name);
  if (rc != 0) {
    st_rel(&s->slots[slot_index], NULL);
    free(w);
    return ERRAND_E_SYSTEM;
  }
  /* Slots are started in index order (compensating ones under comp_mu). */
  st_rel(&s->nactive, slot_index + 1);
  return 0;
}

int errand__sched_create(const errand__sched_config *cfg, errand__sched **out) {
  errand__sched *s = errand__calloc(1, sizeof *s);
  if (!s)
    return ERRAND_E_NOMEM;
  s->cfg = *cfg;
  s->nworkers = cfg->workers;
  s->comp_base = cfg->workers + (cfg->urgent ? 1 : 0);
  s->max_spinners = errand__cpu_count() / 2;
  if (s->max_spinners < 1)
    s->max_spinners = 1;
  s->wait_spin = cfg->spin_ns && cfg->workers <= errand__cpu_count();
  s->nslots = s->comp_base + cfg->max_compensating;
  s->slots = errand__calloc((size_t)s->nslots, sizeof *s->slots);
  if (!s->slots) {
    free(s);
    return ERRAND_E_NOMEM;
  }
  for (unsigned l = 0; l < ERRAND__LEVELS; l++) {
    s->inj_first[l] = &s->inj_stub[l];
    atomic_init(&s->inj_last[l], &s->inj_stub[l]);
  }
  errand__mutex_init_hot(&s->inj_mu);
  errand__mutex_init_hot(&s->idle_mu);
  pthread_mutex_init(&s->comp_mu, NULL);
  pthread_mutex_init(&s->timer_mu, NULL);
  pthread_mutex_init(&s->ded_mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&s->timer_cv, &ca);
  pthread_condattr_destroy(&ca);
  for (int i = 0; i < s->comp_base; i++) {
    int rc = start_worker(s, i, i < cfg->workers ? -1 : -2);
    if (rc == 0 && i >= cfg->workers)
      s->urgent = slot(s, i);
    if (rc != 0) {
      errand__sched_stop(s);
      errand__sched_destroy(s);
      return rc;
    }
  }
  *out = s;
  return 0;
}

void errand__sched_blocking_begin(errand__worker *w) {
  if (w->blocking_depth++ > 0)
    return;
  errand__sched *s = w->s;
  int nb = atomic_fetch_add(&s->nblocked, 1) + 1;
  pthread_mutex_lock(&s->comp_mu);
  if (s->ncomp < nb && s->ncomp < s->cfg.max_compensating) {
    if (start_worker(s, s->comp_base + s->ncomp, s->ncomp) == 0)
      s->ncomp++;
  } else if (nb - 1 < s->ncomp) {
    errand__worker *c = slot(s, s->comp_base + nb - 1);
    if (c)
      errand__unpark(&c->parker);
  }
  pthread_mutex_unlock(&s->comp_mu);
}

void errand__sched_blocking_end(errand__worker *w) {
  if (w->blocking_depth == 0 || --w->blocking_depth > 0)
    return;
  atomic_fetch_sub(&w->s->nblocked, 1);
}

/* ---- dedicated threads ---- */

static void *dedicated_main(void *arg) {
  errand__dedicated *d = arg;
  tl_sched = d->s;
  tl_worker = NULL;
  errand__tl_stats_of = NULL;
  st_rel(&d->parker, errand__parker_self());
  d->s->cfg.run(d->s->cfg.ctx, d->node);
  /* Under ded_mu: wake_all must not unpark this thread's parker once the
   * thread may be gone.  release: the joiner sees everything it did. */
  errand__sched *s = d->s;
  pthread_mutex_lock(&s->ded_mu);
  st_rel(&d->done, 1);
  pthread_mutex_unlock(&s->ded_mu);
  return NULL;
}

void errand__dedicated_join_all(errand__sched *s, bool only_done) {
  errand__dedicated *take = NULL;
  pthread_mutex_lock(&s->ded_mu);
  errand__dedicated **pp = &s->ded_list;
  while (*pp) {
    errand__dedicated *d = *pp;
    if (!only_done || ld_acq(&d->done)) {
      *pp = d->next;
      d->next = take;
      take = d;
    } else {
      pp = &d->next;
    }
  }
  pthread_mutex_unlock(&s->ded_mu);
  while (take) {
    errand__dedicated *d = take;
    take = d->next;
    errand__thread_join(d->thread);
    free(d);
  }
}

int errand__sched_start_dedicated(errand__sched *s, errand__node *n) {
  errand__dedicated_join_all(s, true); /* reap the finished ones */
  errand__dedicated *d = errand__calloc(1, sizeof *d);
  if (!d)
    return ERRAND_E_NOMEM;
  d->s = s;
  d->node = n;
  if (errand__thread_start(&d->thread, dedicated_main, d, "errand-work") != 0) {
    free(d);
    return ERRAND_E_SYSTEM;
  }
  /* Linked after pthread_create returned, so d->thread is set for joiners. */
  pthread_mutex_lock(&s->ded_mu);
  d->next = s->ded_list;
  s->ded_list = d;
  pthread_mutex_unlock(&s->ded_mu);
  return 0;
}

/* ---- stop ---- */

void errand__sched_stop(errand__sched *s) {
  errand__timers_stop(s);
  st_rel(&s->stop, 1);
  for (int i = 0; i < s->nslots; i++) {
    errand__worker *w = slot(s, i);
    if (w)
      errand__unpark(&w->parker);
  }
  for (int i = 0; i < s->nslots; i++) {
    errand__worker *w = slot(s, i);
    if (w)
      errand__thread_join(w->thread);
  }
  errand__dedicated_join_all(s, false);
  /* Hand what is still queued back to its owner to discard. */
  for (int i = 0; i < s->nslots; i++) {
    errand__worker *w = slot(s, i);
    if (!w)
      continue;
    for (unsigned l = 0; l < 2 * ERRAND__LEVELS; l++) {
      errand__deque *d =
          l < ERRAND__LEVELS ? &w->dq[l] : &w->inbox[l - ERRAND__LEVELS];
      errand__node *n;
      bool lost = false;
      while ((n = errand__deque_steal(d, &lost)) || lost) {
        lost = false;
        if (n)
          s->cfg.run(s->cfg.ctx, n);
      }
    }
  }
  for (unsigned l = 0; l < ERRAND__LEVELS; l++) {
    errand__node *n;
    while ((n = inj_pop(s, l)))
      s->cfg.run(s->cfg.ctx, n);
  }
}

void errand__sched_destroy(errand__sched *s) {
  for (int i = 0; i < s->nslots; i++)
    free(slot(s, i));
  free(s->slots);
  free(s->heap);
  pthread_mutex_destroy(&s->inj_mu);
  pthread_mutex_destroy(&s->idle_mu);
  pthread_mutex_destroy(&s->comp_mu);
  pthread_mutex_destroy(&s->timer_mu);
  pthread_mutex_destroy(&s->ded_mu);
  pthread_cond_destroy(&s->timer_cv);
  free(s);
}

/* ---- numbers ---- */

static void add_block(errand_stats *o, errand__stats_block *b, uint64_t *enq,
                      uint64_t *deq, uint64_t *din, uint64_t *dout,
                      uint64_t *st, uint64_t *en, uint64_t *dst,
                      uint64_t *den) {
  o->posted += ld_rlx(&b->posted);
  for (unsigned l = 0; l < ERRAND__LEVELS; l++) {
    enq[l] += ld_rlx(&b->enqueued[l]);
    deq[l] += ld_rlx(&b->dequeued[l]);
  }
  *din += ld_rlx(&b->delayed_in);
  *dout += ld_rlx(&b->delayed_out);
  *dst += ld_rlx(&b->ded_started);
  *den += ld_rlx(&b->ded_ended);
  o->succeeded += ld_acq(&b->succeeded);
  o->faulted += ld_acq(&b->faulted);
  o->canceled += ld_acq(&b->canceled);
  /* Every start lands in one wait bucket or in untimed_started, and every
   * end in one run bucket or in untimed_ended: together they count the
   * starts and ends. */
  *st += ld_rlx(&b->untimed_started);
  *en += ld_rlx(&b->untimed_ended);
  for (unsigned i = 0; i < ERRAND_HIST_BUCKETS; i++) {
    uint64_t wv = ld_rlx(&b->wait_hist[i]), rv = ld_rlx(&b->run_hist[i]);
    o->queue_wait_ns[i] += wv;
    o->run_time_ns[i] += rv;
    *st += wv;
    *en += rv;
  }
}

static uint64_t sub0(uint64_t a, uint64_t b) { return a > b ? a - b : 0; }

void errand__sched_stats(errand__sched *s, errand_stats *out) {
  memset(out, 0, sizeof *out);
  uint64_t enq[ERRAND__LEVELS] = {0}, deq[ERRAND__LEVELS] = {0};
  uint64_t din = 0, dout = 0, st = 0, en = 0, dst = 0, den = 0;
  int na = ld_acq(&s->nactive);
  for (int i = 0; i < na; i++) {
    errand__worker *w = slot(s, i);
    if (w)
      add_block(out, &w->stats, enq, deq, &din, &dout, &st, &en, &dst, &den);
  }
  add_block(out, &s->shared_stats, enq, deq, &din, &dout, &st, &en, &dst, &den);
  for (unsigned l = 0; l < ERRAND__LEVELS; l++)
    out->queued[l] = sub0(enq[l], deq[l]);
  out->delayed = sub0(din, dout);
  out->running = sub0(st, en);
  out->dedicated_running = sub0(dst, den);
  out->workers = s->nworkers;
  pthread_mutex_lock(&s->comp_mu);
  out->compensating_workers = s->ncomp;
  pthread_mutex_unlock(&s->comp_mu);
}
