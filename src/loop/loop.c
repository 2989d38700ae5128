/*
 * loop.c — create, run and destroy loops; loop tasks' queues.
 *
 * The owner runs a bounded batch per call, deliveries first, then loop
 * tasks by level: the host's own event loop gets control back regularly
 * whatever errand has queued, and the descriptor stays readable while
 * anything is left.
 */
#include "loop/loop_int.h"

#include <stdlib.h>
#include <string.h>

#define DEFAULT_BATCH 64

errand__loop *errand__loop_get(errand_loop *h, int *code) {
  errand__loop *l = errand__table_get(&errand__loop_table, h, code);
  if (l && ld_acq(&l->dead)) {
    l = NULL;
    *code = ERRAND_E_RELEASED;
  }
  if (!l)
    errand__err(*code,
                *code == ERRAND_E_INVALID
                    ? "loop handle is NULL"
                    : "loop handle was released or is not a loop handle");
  return l;
}

void errand__loop_unref(errand__loop *l) {
  if (!errand__ref_dec(l))
    return;
  pthread_mutex_destroy(&l->mu);
  errand__table_free(&errand__loop_table, l);
}

bool errand__loop_is_owner(errand__loop *l) {
  return pthread_equal(l->owner, pthread_self());
}

static void wake_locked(errand__loop *l) {
  if (!l->signaled) {
    l->signaled = true;
    errand__wakefd_signal(l->fd);
  }
}

bool errand__loop_push(errand__loop *l, errand__item *it) {
  pthread_mutex_lock(&l->mu);
  if (l->closed) {
    pthread_mutex_unlock(&l->mu);
    it->drop(it);
    return false;
  }
  it->next = NULL;
  if (l->tail)
    l->tail->next = it;
  else
    l->head = it;
  l->tail = it;
  wake_locked(l);
  pthread_mutex_unlock(&l->mu);
  return true;
}

/* ---- loop tasks ---- */

static uint64_t seq_of(errand__node *n) {
  return container_of(n, errand__task, node)->id;
}

/* Inserts by post order (appends in the common case). */
static void insert_locked(errand__loop *l, errand__node *n, unsigned level) {
  uint64_t k = seq_of(n);
  errand__node *prev = l->ttail[level];
  if (prev && seq_of(prev) > k) {
    prev = NULL;
    for (errand__node *m = l->thead[level]; m && seq_of(m) < k;
         m = ld_rlx(&m->next))
      prev = m;
  }
  errand__node *next = prev ? ld_rlx(&prev->next) : l->thead[level];
  st_rlx(&n->next, next);
  if (prev)
    st_rlx(&prev->next, n);
  else
    l->thead[level] = n;
  if (!next)
    l->ttail[level] = n;
}

static bool hook_submit(errand__task *t) {
  errand__loop *l = errand__task_aux(t)->loop;
  pthread_mutex_lock(&l->mu);
  if (l->closed) {
    pthread_mutex_unlock(&l->mu);
    return false;
  }
  insert_locked(l, &t->node, st_level(ld_acq(&t->state)));
  wake_locked(l);
  pthread_mutex_unlock(&l->mu);
  return true;
}

static void hook_relevel(errand__task *t) {
  errand__loop *l = errand__task_aux(t)->loop;
  pthread_mutex_lock(&l->mu);
  for (unsigned lv = 0; lv < ERRAND__LEVELS; lv++) {
    errand__node *prev = NULL;
    for (errand__node *n = l->thead[lv]; n; prev = n, n = ld_rlx(&n->next)) {
      if (n != &t->node)
        continue;
      if (prev)
        st_rlx(&prev->next, ld_rlx(&n->next));
      else
        l->thead[lv] = ld_rlx(&n->next);
      if (l->ttail[lv] == n)
        l->ttail[lv] = prev;
      insert_locked(l, n, st_level(ld_acq(&t->state)));
      pthread_mutex_unlock(&l->mu);
      return;
    }
  }
  pthread_mutex_unlock(&l->mu); /* not queued (delayed, or running) */
}

static void hook_drop(errand__task *t) {
  errand__loop_unref(errand__task_aux(t)->loop);
}

static bool deliver_sig(errand__sig_listener *sl, errand__signal *s, int code,
                        const char *reason, unsigned prev, unsigned cur);

static void sig_deliver(errand__sig_listener *sl, errand__signal *s, int code,
                        const char *reason, unsigned prev, unsigned cur) {
  deliver_sig(sl, s, code, reason, prev, cur);
}

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static void do_init(void) {
  errand__signal_init();
  errand__table_set_size(&errand__loop_table, sizeof(errand__loop));
  errand__loop_submit_hook = hook_submit;
  errand__loop_final_hook = hook_drop;
  errand__task_hooks.loop_relevel = hook_relevel;
  errand__sig_deliver = sig_deliver;
}
void errand__loop_init(void) { pthread_once(&init_once, do_init); }

/* ---- signal listener calls on a loop ---- */

typedef struct sig_item {
  errand__item it;
  errand__sig_listener *sl;
  errand__signal *s; /* one reference */
  int code;
  unsigned prev, cur;
  char reason[];
} sig_item;

static void sig_item_drop(errand__item *it) {
  sig_item *si = (sig_item *)it;
  errand__signal_unref(si->s);
  free(si);
}

static void sig_item_run(errand__item *it) {
  sig_item *si = (sig_item *)it;
  errand__sig_call(si->sl, si->s, si->code, si->reason, si->prev, si->cur);
  sig_item_drop(it);
}

static bool deliver_sig(errand__sig_listener *sl, errand__signal *s, int code,
                        const char *reason, unsigned prev, unsigned cur) {
  int rc;
  errand__loop *l = errand__loop_get(sl->loop, &rc);
  if (!l)
    return false; /* the loop is gone: nobody to tell */
  size_t n = reason ? strlen(reason) : 0;
  sig_item *si = errand__malloc(sizeof *si + n + 1);
  if (!si)
    return false;
  si->it.run = sig_item_run;
  si->it.drop = sig_item_drop;
  si->sl = sl;
  si->s = s;
  errand__ref_inc(s);
  si->code = code;
  si->prev = prev;
  si->cur = cur;
  if (n)
    memcpy(si->reason, reason, n);
  si->reason[n] = '\0';
  return errand__loop_push(l, &si->it);
}

/* ---- public ---- */

int errand_loop_create(errand_runtime *h, errand_loop **out) {
  errand__loop_init();
  int code;
  errand__rt *rt = errand__rt_get(h, &code);
  if (!rt)
    return code;
  if (!out)
    return errand__err(ERRAND_E_INVALID, "out is NULL");
  errand__loop *l = errand__table_alloc(&errand__loop_table, 1);
  if (!l)
    return errand__err(ERRAND_E_NOMEM, "no memory for a loop");
  l->fd = errand__wakefd_open();
  if (l->fd < 0) {
    errand__ref_dec(l);
    errand__table_free(&errand__loop_table, l);
    return errand__err(ERRAND_E_SYSTEM, "could not create the loop's eventfd");
  }
  pthread_mutex_init(&l->mu, NULL);
  l->rt = rt;
  l->owner = pthread_self();
  atomic_fetch_add(&rt->loops, 1);
  *out = errand__handle_of(&errand__loop_table, l);
  return 0;
}

#define OWNER_ONLY(l)                                                          \
  if (!errand__loop_is_owner(l))                                               \
    return errand__err(ERRAND_E_WRONG_THREAD,                                  \
                       "only the thread that created the loop may do this");

int errand_loop_destroy(errand_loop *h) {
  if (!h)
    return 0;
  int code;
  errand__loop *l = errand__loop_get(h, &code);
  if (!l)
    return code;
  OWNER_ONLY(l);
  pthread_mutex_lock(&l->mu);
  if (l->closed) {
    pthread_mutex_unlock(&l->mu);
    return errand__err(ERRAND_E_RELEASED, "loop is being destroyed");
  }
  l->closed = true;
  st_rel(&l->dead, 1);
  errand__item *items = l->head;
  l->head = l->tail = NULL;
  errand__node *nodes[ERRAND__LEVELS];
  for (unsigned lv = 0; lv < ERRAND__LEVELS; lv++) {
    nodes[lv] = l->thead[lv];
    l->thead[lv] = l->ttail[lv] = NULL;
  }
  pthread_mutex_unlock(&l->mu);
  while (items) {
    errand__item *next = items->next;
    items->drop(items);
    items = next;
  }
  for (unsigned lv = 0; lv < ERRAND__LEVELS; lv++) {
    for (errand__node *n = nodes[lv]; n;) {
      errand__node *next = ld_rlx(&n->next);
      errand__task *t = container_of(n, errand__task, node);
      errand__task_end_unstarted(t, ERRAND_STATUS_CANCELED, ERRAND_E_CANCELED,
                                 "canceled: its loop was destroyed");
      errand__task_unref(t); /* RUN */
      n = next;
    }
  }
  errand__wakefd_close(l->fd);
  atomic_fetch_sub(&l->rt->loops, 1);
  errand__loop_unref(l);
  return 0;
}

int errand_loop_fd(errand_loop *h, int *fd) {
  int code;
  errand__loop *l = errand__loop_get(h, &code);
  if (!l)
    return code;
  if (!fd)
    return errand__err(ERRAND_E_INVALID, "fd is NULL");
  *fd = l->fd;
  return 0;
}

static int run_pending(errand__loop *l, int max, int *ran) {
  pthread_mutex_lock(&l->mu);
  if (l->signaled) {
    l->signaled = false;
    errand__wakefd_drain(l->fd);
  }
  pthread_mutex_unlock(&l->mu);
  int n = 0;
  while (n < max) {
    pthread_mutex_lock(&l->mu);
    if (l->closed) {
      pthread_mutex_unlock(&l->mu);
      break;
    }
    errand__item *it = l->head;
    if (it) {
      l->head = it->next;
      if (!l->head)
        l->tail = NULL;
      pthread_mutex_unlock(&l->mu);
      it->run(it);
      n++;
      continue;
    }
    errand__node *node = NULL;
    for (unsigned lv = 0; lv < ERRAND__LEVELS && !node; lv++) {
      node = l->thead[lv];
      if (node) {
        l->thead[lv] = ld_rlx(&node->next);
        if (!l->thead[lv])
          l->ttail[lv] = NULL;
      }
    }
    pthread_mutex_unlock(&l->mu);
    if (!node)
      break;
    errand__task_run_node(l->rt, node);
    n++;
  }
  pthread_mutex_lock(&l->mu);
  bool more = l->head;
  for (unsigned lv = 0; lv < ERRAND__LEVELS; lv++)
    more = more || l->thead[lv];
  if (more && !l->closed)
    wake_locked(l);
  pthread_mutex_unlock(&l->mu);
  if (ran)
    *ran = n;
  return 0;
}

int errand_loop_run_pending(errand_loop *h, int max, int *ran) {
  int code;
  errand__loop *l = errand__loop_get(h, &code);
  if (!l)
    return code;
  OWNER_ONLY(l);
  if (max < 0)
    return errand__err(ERRAND_E_INVALID, "max %d is negative", max);
  /* A callback may destroy the loop: keep it alive until we are done. */
  errand__ref_inc(l);
  int rc = run_pending(l, max ? max : DEFAULT_BATCH, ran);
  errand__loop_unref(l);
  return rc;
}

typedef struct until_mark {
  _Atomic int refs;
  _Atomic int done;
} until_mark;

static void until_release(until_mark *m) {
  if (atomic_fetch_sub(&m->refs, 1) == 1)
    free(m);
}

static void until_drop(void *arg) { until_release(arg); }

static void until_done(errand_task *t, void *arg) {
  (void)t;
  until_mark *m = arg;
  st_rel(&m->done, 1);
  until_release(m);
}

int errand_loop_run_until(errand_loop *h, errand_task *th, int64_t timeout_ms) {
  int code;
  errand__loop *l = errand__loop_get(h, &code);
  if (!l)
    return code;
  OWNER_ONLY(l);
  errand__task *t = errand__task_get(th, &code);
  if (!t)
    return code;
  until_mark *m = errand__calloc(1, sizeof *m);
  if (!m)
    return errand__err(ERRAND_E_NOMEM, "no memory");
  st_rlx(&m->refs, 2);
  /* The mark is queued on this loop after every completion callback that
   * was registered before it, so when it runs they all ran. */
  int rc = errand__task_then_ex(t, l, until_done, m, until_drop);
  if (rc) {
    free(m);
    return rc;
  }
  uint64_t deadline = errand__deadline(timeout_ms);
  errand__ref_inc(l);
  /* A loop that waits raises the pool task it waits for to user-blocking
   * (its own loop tasks it runs itself, in their order). */
  unsigned raised = 0;
  bool did_raise = false;
  errand__aux *aux = errand__task_aux(t);
  if (!(aux && aux->loop) &&
      st_status(ld_acq(&t->state)) == ERRAND_STATUS_WAITING_TO_RUN &&
      st_level(ld_acq(&t->state)) > raised) {
    errand__task_relevel(t, raised);
    did_raise = true;
  }
  rc = 0;
  while (!ld_acq(&m->done)) {
    int ran = 0;
    run_pending(l, DEFAULT_BATCH, &ran);
    if (ld_acq(&m->done))
      break;
    pthread_mutex_lock(&l->mu);
    bool closed = l->closed;
    pthread_mutex_unlock(&l->mu);
    if (closed) {
      rc = errand__err(ERRAND_E_STATE, "the loop was destroyed");
      break;
    }
    if (ran)
      continue;
    int64_t wait = -1;
    if (deadline) {
      uint64_t now = errand__now_ns();
      if (now >= deadline) {
        rc = errand__err(ERRAND_E_TIMEOUT, "run_until timed out");
        break;
      }
      wait = (int64_t)((deadline - now + 999999) / 1000000);
    }
    errand__wakefd_wait(l->fd, wait);
  }
  if (did_raise && st_level(ld_acq(&t->state)) == raised)
    errand__task_relevel(t, errand__task_natural_level(t));
  errand__loop_unref(l);
  until_release(m);
  return rc;
}
