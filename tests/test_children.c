/*
 * test_children.c — item 9: a task with attached children is
 * WAITING_FOR_CHILDREN after its function returns and becomes final only
 * when every child is final; a faulted child faults the parent, whose
 * message names the child's error.
 */
#include "helpers.h"

static errand_runtime *g_rt;

typedef struct family {
  gate *g;            /* children wait here */
  int nkids;
  int parent_rc;      /* what the parent function returns */
  const char *parent_msg;
  atomic_int parent_done;
} family;

static int parent_fn(errand_task *self, void *arg) {
  family *f = (family *)arg;
  int i;
  for (i = 0; i < f->nkids; i++) {
    errand_post_options o = post_opts();
    o.parent = self;
    /* children are fire-and-forget: the parent still waits for them */
    if (!CHECK_OK(errand_post(g_rt, gate_task, f->g, &o, NULL)))
      return ERRAND_E_FAILED;
  }
  atomic_store(&f->parent_done, 1);
  if (f->parent_rc) return errand_task_fail(self, f->parent_rc, "%s", f->parent_msg);
  return errand_task_set_result(self, (void *)0x77, NULL);
}

TEST(parent_waits_for_children_in_WAITING_FOR_CHILDREN) {
  gate g;
  family f;
  errand_task *t = NULL;
  void *v = NULL;
  errand_runtime *rt = rt_new(4);
  REQUIRE(rt);
  g_rt = rt;
  gate_init(&g);
  f.g = &g;
  f.nkids = 3;
  f.parent_rc = 0;
  f.parent_msg = "";
  atomic_init(&f.parent_done, 0);
  REQUIRE_OK(errand_post(rt, parent_fn, &f, NULL, &t));
  REQUIRE(check_wait_flag(&f.parent_done, CHECK_LONG_MS));
  CHECK_EQ_INT(wait_status_leaves(t, ERRAND_STATUS_RUNNING, CHECK_LONG_MS),
               ERRAND_STATUS_WAITING_FOR_CHILDREN);
  CHECK_EQ_INT(flags_of(t), 0);
  CHECK_RC(errand_wait(t, 0), ERRAND_E_TIMEOUT);
  CHECK_RC(errand_wait(t, 20), ERRAND_E_TIMEOUT);
  CHECK_RC(errand_task_result(t, &v), ERRAND_E_PENDING);
  check_sleep_ms(20);
  CHECK_EQ_INT(status_of(t), ERRAND_STATUS_WAITING_FOR_CHILDREN);
  gate_open(&g);
  CHECK_OK(errand_wait(t, -1));
  CHECK_EQ_INT(atomic_load(&g.finished), 3);
  CHECK_EQ_INT(status_of(t), ERRAND_STATUS_RAN_TO_COMPLETION);
  CHECK_OK(errand_task_result(t, &v));
  CHECK(v == (void *)0x77); /* the parent's own value is kept */
  CHECK_OK(errand_task_release(t));
  CHECK_OK(errand_runtime_destroy(rt));
}

TEST(parent_that_faults_itself_still_waits_for_children) {
  gate g;
  family f;
  errand_task *t = NULL;
  int code = 0;
  errand_runtime *rt = rt_new(3);
  REQUIRE(rt);
  g_rt = rt;
  gate_init(&g);
  f.g = &g;
  f.nkids = 2;
  f.parent_rc = 31;
  f.parent_msg = "parent broke";
  atomic_init(&f.parent_done, 0);
  REQUIRE_OK(errand_post(rt, parent_fn, &f, NULL, &t));
  REQUIRE(check_wait_flag(&f.parent_done, CHECK_LONG_MS));
  CHECK_EQ_INT(wait_status_leaves(t, ERRAND_STATUS_RUNNING, CHECK_LONG_MS),
               ERRAND_STATUS_WAITING_FOR_CHILDREN);
  gate_open(&g);
  CHECK_OK(errand_wait(t, -1));
  CHECK_EQ_INT(atomic_load(&g.finished), 2);
  CHECK_EQ_INT(status_of(t), ERRAND_STATUS_FAULTED);
  CHECK_OK(errand_task_error(t, &code, NULL));
  CHECK_EQ_INT(code, 31);
  CHECK(strstr(error_msg_of(t), "parent broke") != NULL);
  CHECK_OK(errand_task_release(t));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* A child faults: the parent, which itself succeeded, ends FAULTED and its
 * message contains the child's message. */
typedef struct faulty {
  gate *g;
  int depth; /* > 0: post one child one level down; 0: fail */
} faulty;

static int faulty_fn(errand_task *self, void *arg) {
  faulty *f = (faulty *)arg;
  if (f->depth == 0) {
    while (!atomic_load(&f->g->open)) check_sleep_us(200);
    return errand_task_fail(self, 4242, "child exploded at depth %d", 0);
  } else {
    errand_post_options o = post_opts();
    faulty *next = f + 1; /* an array, one entry per level */
    o.parent = self;
    if (!CHECK_OK(errand_post(g_rt, faulty_fn, next, &o, NULL)))
      return ERRAND_E_FAILED;
    return 0;
  }
}

static void faulted_child(int depth) {
  gate g;
  faulty f[5];
  errand_task *t = NULL;
  int i;
  void *v;
  errand_runtime *rt = rt_new(2);
  if (!rt) return;
  g_rt = rt;
  gate_init(&g);
  for (i = 0; i <= depth; i++) {
    f[i].g = &g;
    f[i].depth = depth - i;
  }
  if (!CHECK_OK(errand_post(rt, faulty_fn, &f[0], NULL, &t))) return;
  check_sleep_ms(10);
  CHECK(!is_final_status(status_of(t)));
  gate_open(&g);
  CHECK_OK(errand_wait(t, -1));
  CHECK_EQ_INT(status_of(t), ERRAND_STATUS_FAULTED);
  CHECK_EQ_INT(flags_of(t), ERRAND_FLAG_COMPLETED | ERRAND_FLAG_FAULTED);
  CHECK_RC(errand_task_result(t, &v), ERRAND_E_FAILED);
  if (!CHECK(strstr(error_msg_of(t), "child exploded at depth 0") != NULL))
    printf("  parent message: \"%s\"\n", error_msg_of(t));
  CHECK(error_code_of(t) != 0);
  CHECK_OK(errand_task_release(t));
  CHECK_OK(errand_runtime_destroy(rt));
}

TEST(faulted_child_faults_the_parent_with_the_childs_message) {
  faulted_child(1);
}

TEST(faulted_grandchild_faults_every_ancestor) { faulted_child(3); }

/* A child attached from outside (the parent handle is borrowed for the
 * post only). */
TEST(child_attached_from_outside_holds_the_parent) {
  gate pg, cg;
  errand_task *parent, *child = NULL;
  errand_post_options o = post_opts();
  errand_runtime *rt = rt_new(2);
  REQUIRE(rt);
  gate_init(&pg);
  gate_init(&cg);
  parent = post_gate(rt, &pg);
  REQUIRE(parent);
  REQUIRE(check_wait_count(&pg.started, 1, CHECK_LONG_MS));
  o.parent = parent;
  REQUIRE_OK(errand_post(rt, gate_task, &cg, &o, &child));
  gate_open(&pg);
  CHECK_EQ_INT(wait_status_leaves(parent, ERRAND_STATUS_RUNNING, CHECK_LONG_MS),
               ERRAND_STATUS_WAITING_FOR_CHILDREN);
  CHECK_EQ_INT(wait_status_leaves(parent, ERRAND_STATUS_RUNNING, 0),
               ERRAND_STATUS_WAITING_FOR_CHILDREN);
  CHECK_RC(errand_wait(parent, 10), ERRAND_E_TIMEOUT);
  gate_open(&cg);
  CHECK_OK(errand_wait(parent, -1));
  CHECK_EQ_INT(status_of(child), ERRAND_STATUS_RAN_TO_COMPLETION);
  CHECK_EQ_INT(status_of(parent), ERRAND_STATUS_RAN_TO_COMPLETION);
  CHECK_OK(errand_task_release(child));
  CHECK_OK(errand_task_release(parent));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* A parent that is WAITING_FOR_CHILDREN is not final: another child may
 * still be attached, and it holds the parent too. */
TEST(child_attached_while_parent_waits_for_children) {
  gate pg, c1, c2;
  errand_task *parent, *k1 = NULL, *k2 = NULL;
  errand_post_options o = post_opts();
  errand_runtime *rt = rt_new(3);
  REQUIRE(rt);
  gate_init(&pg);
  gate_init(&c1);
  gate_init(&c2);
  parent = post_gate(rt, &pg);
  REQUIRE(parent);
  REQUIRE(check_wait_count(&pg.started, 1, CHECK_LONG_MS));
  o.parent = parent;
  REQUIRE_OK(errand_post(rt, gate_task, &c1, &o, &k1));
  gate_open(&pg);
  REQUIRE_EQ_INT(wait_status_leaves(parent, ERRAND_STATUS_RUNNING, CHECK_LONG_MS),
                 ERRAND_STATUS_WAITING_FOR_CHILDREN);
  REQUIRE_OK(errand_post(rt, gate_task, &c2, &o, &k2));
  gate_open(&c1);
  CHECK_OK(errand_wait(k1, -1));
  check_sleep_ms(10);
  CHECK_EQ_INT(status_of(parent), ERRAND_STATUS_WAITING_FOR_CHILDREN);
  gate_open(&c2);
  CHECK_OK(errand_wait(parent, -1));
  CHECK_EQ_INT(status_of(k2), ERRAND_STATUS_RAN_TO_COMPLETION);
  CHECK_EQ_INT(status_of(parent), ERRAND_STATUS_RAN_TO_COMPLETION);
  CHECK_OK(errand_task_release(k1));
  CHECK_OK(errand_task_release(k2));
  CHECK_OK(errand_task_release(parent));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* Many children, some of them dedicated, some delayed; the parent is final
 * only after all of them, and never before any of them. */
typedef struct tree {
  atomic_int kids_final;
  int nkids;
} tree;

static int leaf_fn(errand_task *self, void *arg) {
  tree *tr = (tree *)arg;
  (void)self;
  check_sleep_us(100);
  atomic_fetch_add(&tr->kids_final, 1);
  return 0;
}

static int wide_parent(errand_task *self, void *arg) {
  tree *tr = (tree *)arg;
  int i;
  for (i = 0; i < tr->nkids; i++) {
    errand_post_options o = post_opts();
    o.parent = self;
    o.mode = i % 10 == 0 ? ERRAND_MODE_DEDICATED : ERRAND_MODE_POOL;
    o.delay_ms = i % 7 == 0 ? 5 : 0;
    if (!CHECK_OK(errand_post(g_rt, leaf_fn, tr, &o, NULL))) return ERRAND_E_FAILED;
  }
  return 0;
}

TEST(parent_is_final_only_after_every_child) {
  int rounds = check_iters(30), r;
  errand_runtime *rt = rt_new(3);
  REQUIRE(rt);
  g_rt = rt;
  for (r = 0; r < rounds && !check_failed(); r++) {
    tree tr;
    errand_task *t = NULL;
    atomic_init(&tr.kids_final, 0);
    tr.nkids = 50;
    REQUIRE_OK(errand_post(rt, wide_parent, &tr, NULL, &t));
    CHECK_OK(errand_wait(t, -1));
    CHECK_EQ_INT(atomic_load(&tr.kids_final), tr.nkids);
    CHECK_EQ_INT(status_of(t), ERRAND_STATUS_RAN_TO_COMPLETION);
    CHECK_OK(errand_task_release(t));
  }
  CHECK_OK(errand_runtime_destroy(rt));
}

/* A child sees an ancestor's cancellation (errand_task_is_canceled). */
typedef struct cancel_kin {
  gate *g;
  atomic_int child_saw;
  atomic_int child_started;
} cancel_kin;

static int cancel_child(errand_task *self, void *arg) {
  cancel_kin *k = (cancel_kin *)arg;
  atomic_store(&k->child_started, 1);
  while (errand_task_is_canceled(self) == 0) check_sleep_us(200);
  atomic_store(&k->child_saw, 1);
  return ERRAND_E_CANCELED;
}

static int cancel_parent(errand_task *self, void *arg) {
  errand_post_options o = post_opts();
  o.parent = self;
  if (!CHECK_OK(errand_post(g_rt, cancel_child, arg, &o, NULL))) return ERRAND_E_FAILED;
  return 0; /* returns at once: the cancel comes while it waits for the child */
}

TEST(cancel_of_a_parent_waiting_for_children_reaches_them) {
  cancel_kin k;
  errand_task *t = NULL;
  errand_runtime *rt = rt_new(2);
  REQUIRE(rt);
  g_rt = rt;
  atomic_init(&k.child_saw, 0);
  atomic_init(&k.child_started, 0);
  REQUIRE_OK(errand_post(rt, cancel_parent, &k, NULL, &t));
  REQUIRE(check_wait_flag(&k.child_started, CHECK_LONG_MS));
  REQUIRE_EQ_INT(wait_status_leaves(t, ERRAND_STATUS_RUNNING, CHECK_LONG_MS),
                 ERRAND_STATUS_WAITING_FOR_CHILDREN);
  CHECK_OK(errand_task_cancel(t));
  CHECK_OK(errand_wait(t, CHECK_LONG_MS));
  CHECK_EQ_INT(atomic_load(&k.child_saw), 1);
  CHECK(is_final_status(status_of(t)));
  CHECK_OK(errand_task_release(t));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* Statuses of a parent move forward only, sampled while children run. */
TEST(parent_status_never_goes_backwards) {
  int rounds = check_iters(40), r;
  errand_runtime *rt = rt_new(2);
  REQUIRE(rt);
  g_rt = rt;
  for (r = 0; r < rounds && !check_failed(); r++) {
    tree tr;
    errand_task *t = NULL;
    int last = -1;
    atomic_init(&tr.kids_final, 0);
    tr.nkids = 20;
    REQUIRE_OK(errand_post(rt, wide_parent, &tr, NULL, &t));
    for (;;) {
      int s = status_of(t);
      if (!CHECK(s >= last)) break;
      last = s;
      if (is_final_status(s)) break;
    }
    CHECK_EQ_INT(last, ERRAND_STATUS_RAN_TO_COMPLETION);
    CHECK_EQ_INT(atomic_load(&tr.kids_final), tr.nkids);
    CHECK_OK(errand_task_release(t));
  }
  CHECK_OK(errand_runtime_destroy(rt));
}

/* A child attached from outside at the very moment its parent's function
 * returns: either the post fails with E_STATE (the parent had ended) or the
 * child holds the parent, which then ends only after it.  Never both, and
 * never a parent that ends twice or waits for a child that is not there. */
typedef struct spinner {
  atomic_int started;
  uint64_t spin;
} spinner;

static int spin_parent(errand_task *self, void *arg) {
  (void)self;
  spinner *sp = (spinner *)arg;
  atomic_store(&sp->started, 1);
  volatile uint64_t n = sp->spin;
  while (n > 0) n--;
  return 0;
}

static int count_child(errand_task *self, void *arg) {
  (void)self;
  atomic_fetch_add((atomic_int *)arg, 1);
  return 0;
}

TEST(attach_racing_the_parents_end_holds_it_or_fails) {
  enum { MAXK = 64 };
  int rounds = check_iters(300), r, won = 0, lost = 0;
  /* one worker: the parent keeps its core while the posts come */
  errand_runtime *rt = rt_new(1);
  REQUIRE(rt);
  check_rng rng;
  check_rng_init(&rng, check_seed("attach racing the end"));
  /* The parent spins for [0, hi) rounds after it starts; hi follows the
   * race, whatever this machine's speed and load: up when the parent ended
   * before the first post, down when the first post got in. */
  uint64_t hi = 1000;
  for (r = 0; r < rounds && !check_failed(); r++) {
    spinner sp = {.spin = check_rng_below(&rng, hi)};
    atomic_int ran;
    atomic_init(&ran, 0);
    errand_task *p = NULL, *kids[MAXK];
    int nk = 0, rc = 0;
    REQUIRE_OK(errand_post(rt, spin_parent, &sp, NULL, &p));
    while (!atomic_load(&sp.started)) sched_yield();
    errand_post_options o = post_opts();
    o.parent = p;
    /* Once one child is in, the parent waits for it, so the rest get in
     * too (up to MAXK) unless the children all end first. */
    while (nk < MAXK &&
           (rc = errand_post(rt, count_child, &ran, &o, &kids[nk])) == 0)
      nk++;
    if (nk < MAXK) CHECK_EQ_INT(rc, ERRAND_E_STATE);
    CHECK_OK(errand_wait(p, CHECK_LONG_MS));
    CHECK_EQ_INT(status_of(p), ERRAND_STATUS_RAN_TO_COMPLETION);
    /* final parent: every child that got in is final and has run */
    CHECK_EQ_INT(atomic_load(&ran), nk);
    for (int i = 0; i < nk; i++) {
      CHECK_EQ_INT(status_of(kids[i]), ERRAND_STATUS_RAN_TO_COMPLETION);
      CHECK_OK(errand_task_release(kids[i]));
    }
    CHECK_OK(errand_task_release(p));
    if (nk > 0) {
      won++;
      if (hi > 16) hi -= hi / 5;
    } else {
      lost++;
      if (hi < (1u << 22)) hi += hi / 4;
    }
  }
  printf("  %d rounds: the first attach won %d, lost %d\n", rounds, won, lost);
  CHECK(won > 0 && lost > 0); /* the race was run both ways */
  CHECK_OK(errand_runtime_destroy(rt));
}

/* A parent whose cancellation was requested (its signal aborted) while an
 * attached child fails: the parent's error follows its final status.  It
 * ends as its function ends: returning 0 leaves it FAULTED by the child,
 * with the child's message; returning E_CANCELED leaves it CANCELED, with
 * the abort's reason, whichever came first, the abort or the child's
 * fault. */
typedef struct abort_kin {
  int child_first; /* the child faults before the abort */
  int parent_rc;   /* what the parent returns once both happened */
  gate child_gate;
  atomic_int posted, aborted;
} abort_kin;

static int exploding_child(errand_task *self, void *arg) {
  gate *g = (gate *)arg;
  atomic_fetch_add(&g->started, 1);
  while (!atomic_load(&g->open)) check_sleep_us(200);
  return errand_task_fail(self, 4343, "child exploded");
}

static int abort_parent(errand_task *self, void *arg) {
  abort_kin *k = (abort_kin *)arg;
  errand_post_options o = post_opts();
  errand_task *c = NULL;
  o.parent = self;
  if (!CHECK_OK(errand_post(g_rt, exploding_child, &k->child_gate, &o, &c)))
    return ERRAND_E_FAILED;
  /* Running before the abort, so the abort cannot end it unstarted. */
  while (!atomic_load(&k->child_gate.started)) check_sleep_us(200);
  if (k->child_first) {
    gate_open(&k->child_gate);
    CHECK(wait_status(c, ERRAND_STATUS_FAULTED, CHECK_LONG_MS));
  }
  atomic_store(&k->posted, 1);
  CHECK(check_wait_flag(&k->aborted, CHECK_LONG_MS));
  CHECK_EQ_INT(errand_task_is_canceled(self), 1);
  gate_open(&k->child_gate);
  CHECK(wait_status(c, ERRAND_STATUS_FAULTED, CHECK_LONG_MS));
  CHECK_OK(errand_task_release(c));
  return k->parent_rc;
}

static void aborted_parent_with_a_faulted_child(int child_first,
                                                int parent_rc) {
  abort_kin k;
  errand_controller *ctl = NULL;
  errand_signal *sig = NULL;
  errand_task *t = NULL;
  errand_post_options o = post_opts();
  errand_runtime *rt = rt_new(2);
  REQUIRE(rt);
  g_rt = rt;
  memset(&k, 0, sizeof k);
  k.child_first = child_first;
  k.parent_rc = parent_rc;
  gate_init(&k.child_gate);
  atomic_init(&k.posted, 0);
  atomic_init(&k.aborted, 0);
  REQUIRE_OK(errand_controller_create(ERRAND_PRIORITY_USER_VISIBLE, &ctl));
  REQUIRE_OK(errand_controller_signal(ctl, &sig));
  o.signal = sig;
  REQUIRE_OK(errand_post(rt, abort_parent, &k, &o, &t));
  REQUIRE(check_wait_flag(&k.posted, CHECK_LONG_MS));
  CHECK_OK(errand_controller_abort(ctl, 0, "stop it"));
  atomic_store(&k.aborted, 1);
  CHECK_OK(errand_wait(t, CHECK_LONG_MS));
  if (parent_rc == 0) {
    CHECK_EQ_INT(status_of(t), ERRAND_STATUS_FAULTED);
    CHECK_EQ_INT(error_code_of(t), 4343);
    if (!CHECK(strstr(error_msg_of(t), "child exploded") != NULL))
      printf("  parent message: \"%s\"\n", error_msg_of(t));
  } else {
    CHECK_EQ_INT(status_of(t), ERRAND_STATUS_CANCELED);
    CHECK_EQ_INT(error_code_of(t), ERRAND_E_CANCELED);
    if (!CHECK_EQ_STR(error_msg_of(t), "stop it"))
      printf("  parent message: \"%s\"\n", error_msg_of(t));
  }
  CHECK_OK(errand_task_release(t));
  CHECK_OK(errand_signal_release(sig));
  CHECK_OK(errand_controller_release(ctl));
  CHECK_OK(errand_runtime_destroy(rt));
}

TEST(aborted_parent_that_returns_0_is_faulted_by_its_child) {
  aborted_parent_with_a_faulted_child(0, 0);
  aborted_parent_with_a_faulted_child(1, 0);
}

TEST(aborted_parent_that_returns_canceled_keeps_the_abort_reason) {
  aborted_parent_with_a_faulted_child(0, ERRAND_E_CANCELED);
  aborted_parent_with_a_faulted_child(1, ERRAND_E_CANCELED);
}

CHECK_MAIN()
