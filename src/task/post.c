/*
 * post.c — errand_post and errand_post_batch.
 *
 * Everything that can fail (validation, the record, the name copy, timer
 * room, the parent link) happens before the task is handed to the
 * scheduler, so a failed post leaves nothing behind and an accepted one
 * cannot fail half-way.
 */
#include "task/task_int.h"

#include <stdlib.h>
#include <string.h>

#define MAX_MS (INT64_C(1) << 40) /* about 35 years: beyond is a bug */

int errand__check_post_options(const errand_post_options *o) {
  if ((unsigned)o->priority > ERRAND_PRIORITY_BACKGROUND)
    return errand__err(ERRAND_E_INVALID,
                       "priority %d is not an errand_priority",
                       (int)o->priority);
  if ((unsigned)o->mode > ERRAND_MODE_DEDICATED)
    return errand__err(ERRAND_E_INVALID, "mode %d is not an errand_mode",
                       (int)o->mode);
  if (o->delay_ms < 0 || o->delay_ms > MAX_MS)
    return errand__err(ERRAND_E_INVALID, "delay_ms %lld out of range",
                       (long long)o->delay_ms);
  if (o->queue_timeout_ms < 0 || o->queue_timeout_ms > MAX_MS)
    return errand__err(ERRAND_E_INVALID, "queue_timeout_ms %lld out of range",
                       (long long)o->queue_timeout_ms);
  if (o->run_timeout_ms < 0 || o->run_timeout_ms > MAX_MS)
    return errand__err(ERRAND_E_INVALID, "run_timeout_ms %lld out of range",
                       (long long)o->run_timeout_ms);
  return 0;
}

static bool needs_aux(const errand_post_options *o,
                      const errand__post_target *tg) {
  return o->name || o->arg_free || o->queue_timeout_ms || o->run_timeout_ms ||
         o->delay_ms || (tg && (tg->signal || tg->loop || tg->ext));
}

/* Takes one pending token on parent, unless it already ended.  Then marks
 * the parent attached: a parent whose function returns finds no mark and
 * ends in one CAS on its state without looking at pending (end_run); the
 * mark makes that CAS fail.  If the parent ended first, the token goes back
 * (nobody counts pending down after that end). */
static bool attach(errand__task *parent) {
  _Atomic uint32_t *pending = &errand__task_cold_w(parent)->pending_less1;
  uint32_t p = ld_acq(pending);
  do {
    if (p == UINT32_MAX) /* pending 0 */
      return false;
  } while (!atomic_compare_exchange_weak(pending, &p, p + 1));
  if (st_final(atomic_fetch_or(&parent->state, ST_ATTACHED))) {
    atomic_fetch_sub(pending, 1);
    return false;
  }
  return true;
}

/* Builds a task that is not yet scheduled.  On error nothing remains. */
/* Ids a pool worker takes from the runtime's counter at a time.  Each post
 * from a worker then needs no shared write: in fork-join both workers post
 * all the time, and the counter's line bouncing between their cores cost
 * more than any other step of a post (fib(30), 2 workers: 63-102 -> 58-61
 * ms, alternating runs). */
#define ID_BLOCK 256u

static ERRAND__HOT_TLS uint64_t id_next, id_end;

/* Unique within the runtime and increasing in the order one thread posts.
 * Posts from outside the pool take the counter directly, so they are also
 * numbered in the order they were posted (the injection queue keeps that
 * order when it moves tasks between levels). */
static uint64_t next_id(errand__rt *rt) {
  if (!errand__sched_is_worker(rt->sched))
    return atomic_fetch_add(&rt->next_id, 1) + 1;
  if (id_next == id_end) {
    id_next = atomic_fetch_add(&rt->next_id, ID_BLOCK) + 1;
    id_end = id_next + ID_BLOCK;
  }
  return id_next++;
}

/* build and schedule are inlined into each caller, so that the post
 * without options (errand__task_post_plain) has them with its options
 * known to be zero, and none of their branches on options left. */
#define POST_INLINE __attribute__((always_inline)) inline

/* A build that takes a fresh slot (see build's slot). */
#define NO_SLOT UINT32_MAX

/* id: the task's id, or 0 to take the next one.  slot: a slot reserved
 * with errand__table_reserve (then a task without options cannot fail to
 * build), or NO_SLOT. */
static POST_INLINE int build(errand__rt *rt, errand_fn fn, void *arg,
                             const errand_post_options *o,
                             const errand__post_target *tg,
                             errand__task *parent, bool want_handle,
                             uint64_t id, uint32_t slot, errand__task **out) {
  /* LIFE + RUN + the caller's handle + the queue timer's */
  uint32_t refs =
      2u + (want_handle ? 1u : 0u) + (o->queue_timeout_ms ? 1u : 0u);
  errand__task *t =
      slot == NO_SLOT
          ? errand__table_alloc(&errand__task_table, refs)
          : errand__table_alloc_reserved(&errand__task_table, slot, refs);
  if (!t)
    return errand__err(ERRAND_E_NOMEM, "no memory for a task record");
  errand__aux *aux = NULL;
  if (needs_aux(o, tg)) {
    aux = errand__calloc(1, sizeof *aux);
    if (!aux || (o->name && !(aux->name = errand__strdup(o->name)))) {
      free(aux);
      while (!errand__ref_dec(t))
        ;
      errand__table_free(&errand__task_table, t);
      return errand__err(ERRAND_E_NOMEM, "no memory for task options");
    }
    aux->arg_free = o->arg_free;
    aux->queue_timeout_ms = o->queue_timeout_ms;
    aux->run_timeout_ms = o->run_timeout_ms;
    if (tg) {
      aux->signal = tg->signal;
      aux->loop = tg->loop;
      aux->ext = tg->ext;
      aux->ext_free = tg->ext_free;
    }
  }
  /* Only a task with options or a parent writes its cold part here. */
  if (aux || parent) {
    errand__task_cold *c = errand__task_cold_of(t);
    c->aux = aux;
    c->parent = parent;
  }
  unsigned level = o->priority        ? (unsigned)o->priority - 1u
                   : tg && tg->signal ? tg->signal_level
                                      : 1u;
  t->rt = rt;
  t->fn = fn;
  t->arg = arg;
  t->id = id ? id : next_id(rt);
  uint32_t s = ERRAND_STATUS_WAITING_TO_RUN | (level << ST_LEVEL_SHIFT) |
               (level << ST_BASE_SHIFT) | (o->priority ? ST_FIXED : 0) |
               (o->mode == ERRAND_MODE_DEDICATED ? ST_DEDICATED : 0) |
               (o->delay_ms ? ST_DELAYED : 0) | (aux ? ST_AUX : 0) |
               (parent ? ST_PARENT : 0);
  st_rlx(&t->state, s);
  *out = t;
  return 0;
}

/* Frees a built task that was never scheduled. */
static void unbuild(errand__task *t) {
  while (!errand__ref_dec(t))
    ;
  errand__task_free(t);
}

/* Posts left before this thread's next timed one (see timing_sample):
 * a countdown, so the choice costs no division and no shared write. */
static ERRAND__HOT_TLS int timing_left;

/* Whether the task being posted is one the histograms time. */
static bool timed_post(const errand__rt *rt) {
  if (rt->timing_every <= 1)
    return rt->timing_every == 1;
  if (--timing_left > 0)
    return false;
  timing_left = rt->timing_every;
  return true;
}

static int timers_needed(const errand_post_options *o) {
  return (o->delay_ms ? 1 : 0) + (o->queue_timeout_ms ? 1 : 0);
}

/* Hands a built task to the scheduler: cannot fail except for a dedicated
 * thread that cannot start, which faults the task.  aux is the task's
 * options (errand__task_aux(t)), passed in so that a caller that knows it
 * built none has every branch on them folded away. */
static POST_INLINE void schedule(errand__rt *rt, errand__task *t,
                                 const errand_post_options *o, errand__aux *aux,
                                 uint64_t now, bool run_here) {
  if (!now && (o->queue_timeout_ms || o->delay_ms))
    now = errand__now_ns();
  bool hooked = aux && (aux->signal || aux->loop);
  bool owned;
  errand__stats_block *b = errand__stats_self(rt->sched, &owned);
  errand__stat_add(b, owned, &b->posted, 1);
  if (timed_post(rt))
    t->t_ready = errand__stamp();
  if (aux && aux->signal && !errand__task_hooks.bind(t)) {
    int nt = timers_needed(o);
    if (nt)
      errand__timer_unreserve(rt->sched, (size_t)nt);
    if (o->queue_timeout_ms)
      errand__task_unref(t); /* the queue timer's, never added */
    errand__task_unref(t);   /* RUN */
    return;
  }
  if (o->queue_timeout_ms)
    errand__timer_add(rt->sched, now + (uint64_t)o->queue_timeout_ms * 1000000u,
                      errand__task_timer_fired, t, TIMER_QUEUE,
                      &aux->queue_timer);
  if (o->delay_ms) {
    errand__stat_add(b, owned, &b->delayed_in, 1);
    /* Last touch of t here: once the timer is in, it may run and end. */
    errand__timer_add(rt->sched, now + (uint64_t)o->delay_ms * 1000000u,
                      errand__task_timer_fired, t, TIMER_DELAY,
                      &aux->delay_timer);
    return;
  }
  bool to_thread = o->mode == ERRAND_MODE_DEDICATED && !(aux && aux->loop);
  if (!aux) {
    /* Nothing else can see this task yet (no timer, no signal, the handle
     * is not returned): count it as queued without a CAS. */
    uint32_t s = ld_rlx(&t->state) | ST_QUEUED;
    st_rlx(&t->state, s);
    errand__stat_add(b, owned, &b->enqueued[st_level(s)], 1);
  } else if (!to_thread) {
    errand__task_mark_queued(t, false);
  }
  if (hooked) {
    errand__task_hooks.submit(t);
    return;
  }
  if (to_thread) {
    if (errand__sched_start_dedicated(rt->sched, &t->node) != 0) {
      errand__task_end_unstarted(t, ERRAND_STATUS_FAULTED, ERRAND_E_SYSTEM,
                                 "could not start a dedicated thread");
      errand__task_unref(t); /* RUN */
    }
    return;
  }
  /* Only when a worker is idle, i.e. when the task would start at once
   * anyway: with every worker busy it waits its turn like any task. */
  if (run_here && errand__sched_has_idle(rt->sched)) {
    errand__task_run_node(rt, &t->node); /* takes RUN */
    return;
  }
  errand__sched_submit(rt->sched, &t->node, st_level(ld_rlx(&t->state)), false);
}

int errand__rt_for_post(errand_runtime *h, errand__rt **out) {
  int code;
  errand__rt *rt = errand__rt_get(h, &code);
  if (!rt)
    return code;
  int phase = ld_acq(&rt->phase);
  /* While draining, the runtime's own tasks may still post (their children
   * are part of the work being drained). */
  if (phase == RT_CANCELING ||
      (phase == RT_DRAINING && !errand__sched_is_own_thread(rt->sched)))
    return errand__err(ERRAND_E_SHUTDOWN, "the runtime is shutting down");
  *out = rt;
  return 0;
}

static int get_parent(errand__rt *rt, const errand_post_options *o,
                      errand__task **parent) {
  *parent = NULL;
  if (!o->parent)
    return 0;
  int code;
  errand__task *p = errand__task_get(o->parent, &code);
  if (!p)
    return errand__err(code, "parent: %s", errand_last_error());
  if (p->rt != rt)
    return errand__err(ERRAND_E_INVALID, "parent belongs to another runtime");
  if (!attach(p))
    return errand__err(ERRAND_E_STATE, "parent task %llu has already completed",
                       (unsigned long long)p->id);
  *parent = p;
  return 0;
}

static void detach(errand__task *parent) {
  /* Only reached before the child was scheduled: give the token back. */
  if (parent)
    errand__task_drop_pending(parent);
}

int errand__task_post(errand__rt *rt, errand_fn fn, void *arg,
                      const errand_post_options *o,
                      const errand__post_target *tg, errand_task **out) {
  int rc;
  int nt = timers_needed(o);
  if (nt && (rc = errand__timer_reserve(rt->sched, (size_t)nt)))
    return errand__err(rc, "no room for the task's timers");
  errand__task *parent;
  if ((rc = get_parent(rt, o, &parent))) {
    if (nt)
      errand__timer_unreserve(rt->sched, (size_t)nt);
    return rc;
  }
  errand__task *t = NULL;
  if ((rc = build(rt, fn, arg, o, tg, parent, out != NULL, 0, NO_SLOT, &t))) {
    detach(parent);
    if (nt)
      errand__timer_unreserve(rt->sched, (size_t)nt);
    return rc;
  }
  if (tg && tg->before)
    tg->before(t, tg->before_ctx);
  if (out)
    *out = errand__task_handle(t);
  schedule(rt, t, o, errand__task_aux(t), 0, tg && tg->run_here);
  return 0;
}

/* Zero options, as a post without options has: the posts that pass these
 * get build and schedule with every branch on options folded away. */
static const errand_post_options no_options;

int errand__task_post_plain(errand__rt *rt, errand_fn fn, void *arg,
                            errand_task **out) {
  errand__task *t = NULL;
  int rc =
      build(rt, fn, arg, &no_options, NULL, NULL, out != NULL, 0, NO_SLOT, &t);
  if (rc)
    return rc;
  if (out)
    *out = errand__task_handle(t);
  schedule(rt, t, &no_options, NULL, 0, false); /* build gave it no aux */
  return 0;
}

errand__task *errand__internal_prepare(errand__rt *rt, errand_fn fn,
                                       void *arg) {
  errand__task *t = NULL;
  /* !t never holds after a build that returned 0; saying so keeps gcc,
   * with build inlined, from warning of a write through a NULL t. */
  if (build(rt, fn, arg, &no_options, NULL, NULL, false, 0, NO_SLOT, &t) || !t)
    return NULL;
  atomic_fetch_or(&t->state, ST_INTERNAL);
  return t;
}

void errand__internal_schedule(errand__task *t) {
  schedule(t->rt, t, &no_options, errand__task_aux(t), 0, false);
}

void errand__internal_discard(errand__task *t) { unbuild(t); }

/* Appends t to the chain *head..*tail that a batch builds before it
 * queues it. */
static void chain_add(errand__task **head, errand__task **tail,
                      errand__task *t) {
  st_rlx(&t->node.next, NULL);
  if (*tail)
    st_rlx(&(*tail)->node.next, &t->node);
  else
    *head = t;
  *tail = t;
}

/* The task after t in such a chain, or NULL. */
static errand__task *chain_next(errand__task *t) {
  errand__node *n = ld_rlx(&t->node.next);
  return n ? container_of(n, errand__task, node) : NULL;
}

/* Tasks of a streamed batch built and queued at a time: workers start on
 * the first slice while the rest is built (a batch of a million no longer
 * waits for its last record before its first task can run), and a slice
 * is still in the cache when a worker takes it. */
#define STREAM_SLICE 256

/* errand_post_batch of tasks without options that need a record of their
 * own or a parent, posted from outside the pool: every slot is reserved
 * first, so nothing after that can fail (all or nothing still holds), and
 * the batch is queued slice by slice as it is built. */
static int post_batch_streamed(errand__rt *rt, errand_fn fn, void *const *args,
                               size_t n, const errand_post_options *o,
                               errand_task **out) {
  uint32_t *slots = errand__table_reserve(&errand__task_table, n);
  if (!slots)
    return errand__err(ERRAND_E_NOMEM, "no memory for %zu task records", n);
  uint64_t id0 = atomic_fetch_add(&rt->next_id, (uint64_t)n) + 1;
  unsigned level = o->priority ? (unsigned)o->priority - 1u : 1u;
  bool owned;
  errand__stats_block *b = errand__stats_self(rt->sched, &owned);
  /* Counted as posted before any of it can run (a drain compares ends
   * with posts). */
  errand__stat_add(b, owned, &b->posted, n);
  for (size_t k = 0; k < n; k += STREAM_SLICE) {
    size_t end = n - k < STREAM_SLICE ? n : k + STREAM_SLICE;
    errand__task *head = NULL, *tail = NULL;
    for (size_t i = k; i < end; i++) {
      errand__task *t = NULL;
      /* Cannot fail: a reserved slot, and no options record to allocate. */
      (void)build(rt, fn, args[i], o, NULL, NULL, out != NULL, id0 + i,
                  slots[i], &t);
      if (out)
        out[i] = errand__task_handle(t);
      if (timed_post(rt))
        t->t_ready = errand__stamp();
      /* Plain: nothing else can see the task before its slice is queued. */
      st_rlx(&t->state, ld_rlx(&t->state) | ST_QUEUED);
      chain_add(&head, &tail, t);
    }
    errand__stat_add(b, owned, &b->enqueued[level], end - k);
    errand__sched_submit_chain(rt->sched, &head->node, &tail->node, end - k,
                               level);
  }
  free(slots);
  return 0;
}

int errand__task_post_batch(errand__rt *rt, errand_fn fn, void *const *args,
                            size_t n, const errand_post_options *o,
                            errand_task **out) {
  int rc;
  if (n == 0)
    return 0;
  /* needs_aux covers the delay and the timeouts too. */
  if (o->mode == ERRAND_MODE_POOL && !o->parent && !needs_aux(o, NULL) &&
      !errand__sched_is_worker(rt->sched))
    return post_batch_streamed(rt, fn, args, n, o, out);
  size_t nt = (size_t)timers_needed(o) * n;
  if (nt && (rc = errand__timer_reserve(rt->sched, nt)))
    return errand__err(rc, "no room for the tasks' timers");
  errand__task *parent = NULL;
  size_t built = 0, attached = 0;
  errand__task *head = NULL, *tail = NULL;
  /* From outside the pool, one step of the shared id counter for the whole
   * batch instead of one per task (its ids are consecutive; a failed batch
   * leaves a gap, as a failed post does).  Workers take ids in blocks
   * anyway. */
  uint64_t id0 = errand__sched_is_worker(rt->sched)
                     ? 0
                     : atomic_fetch_add(&rt->next_id, (uint64_t)n) + 1;
  for (; built < n; built++) {
    errand__task *p;
    if ((rc = get_parent(rt, o, &p)))
      break;
    attached += p ? 1 : 0;
    parent = p;
    errand__task *t = NULL;
    if ((rc = build(rt, fn, args[built], o, NULL, parent, out != NULL,
                    id0 ? id0 + built : 0, NO_SLOT, &t))) {
      detach(p);
      attached -= p ? 1 : 0;
      break;
    }
    chain_add(&head, &tail, t);
  }
  if (rc) {
    for (errand__task *t = head; t;) {
      errand__task *next = chain_next(t);
      unbuild(t);
      t = next;
    }
    for (size_t i = 0; i < attached; i++)
      detach(parent);
    if (nt)
      errand__timer_unreserve(rt->sched, nt);
    return rc;
  }
  uint64_t now = errand__now_ns();
  bool chain = !o->delay_ms && o->mode == ERRAND_MODE_POOL &&
               !errand__sched_worker_self(rt->sched);
  unsigned level = o->priority ? (unsigned)o->priority - 1u : 1u;
  bool owned;
  errand__stats_block *b = errand__stats_self(rt->sched, &owned);
  /* A chain is counted once, as posted before any of it can run (a drain
   * compares ends with posts) and as queued before it is queued. */
  uint64_t unseen = 0; /* tasks nothing else can see yet (no aux) */
  if (chain)
    errand__stat_add(b, owned, &b->posted, n);
  size_t i = 0;
  for (errand__task *t = head; t; i++) {
    errand__task *next = chain_next(t);
    if (out)
      out[i] = errand__task_handle(t);
    if (chain) {
      errand__aux *aux = errand__task_aux(t);
      if (timed_post(rt))
        t->t_ready = errand__stamp();
      if (o->queue_timeout_ms)
        errand__timer_add(
            rt->sched, now + (uint64_t)o->queue_timeout_ms * 1000000u,
            errand__task_timer_fired, t, TIMER_QUEUE, &aux->queue_timer);
      if (aux) {
        errand__task_mark_queued(t, false); /* its timer may have fired */
      } else {
        st_rlx(&t->state, ld_rlx(&t->state) | ST_QUEUED);
        unseen++;
      }
    } else {
      schedule(rt, t, o, errand__task_aux(t), now, false);
    }
    t = next;
  }
  if (chain) {
    if (unseen)
      errand__stat_add(b, owned, &b->enqueued[level], unseen);
    errand__sched_submit_chain(rt->sched, &head->node, &tail->node, n, level);
  }
  return 0;
}
