/*
 * test_post.c — items 1, 2 and 3:
 *  1. create a runtime (default / chosen worker count, 1 works), post with
 *     every option, reference-counted handles, fire-and-forget;
 *  2. id, name, status and flags readable at any moment from any thread;
 *  3. inside a task: result with its free function, fail with a formatted
 *     message, is_canceled, cancellable sleep/wait, children on itself.
 */
#include "helpers.h"

static int return_code_task(errand_task *self, void *arg);

/* --------------------------------------------------------------------- */
/* 1. Runtime and posting                                                 */
/* --------------------------------------------------------------------- */

TEST(runtime_default_workers_is_online_cpus) {
  errand_runtime *rt = NULL;
  errand_stats st;
  int n = -1;
  REQUIRE_OK(errand_runtime_create(NULL, &rt));
  CHECK_OK(errand_runtime_workers(rt, &n));
  CHECK_EQ_INT(n, check_ncpu());
  if (CHECK_OK(errand_runtime_stats(rt, &st))) CHECK_EQ_INT(st.workers, n);
  CHECK_OK(errand_runtime_destroy(rt));

  rt = rt_new(0); /* zeroed options: same default */
  REQUIRE(rt);
  CHECK_OK(errand_runtime_workers(rt, &n));
  CHECK_EQ_INT(n, check_ncpu());
  CHECK_OK(errand_runtime_destroy(rt));
}

TEST(runtime_worker_count_is_settable) {
  const int counts[] = {1, 2, 3, 7};
  size_t i;
  for (i = 0; i < sizeof counts / sizeof counts[0]; i++) {
    int n = -1;
    errand_runtime *rt = rt_new(counts[i]);
    REQUIRE(rt);
    CHECK_OK(errand_runtime_workers(rt, &n));
    CHECK_EQ_INT(n, counts[i]);
    CHECK_OK(errand_runtime_destroy(rt));
  }
}

/* N tasks that each hold their worker, posted back to back onto N idle
 * workers: every one of them starts (no wake-up is lost, no worker stays
 * parked while work waits).  Regression test for a lost wake-up seen while
 * the scheduler was written.  Idle workers that never spin, spin a moment
 * or spin long (spin_us) meet the posts parked, parking or spinning. */
TEST(n_tasks_posted_at_once_start_on_n_workers) {
  int rounds = check_iters(40), r;
  check_rng rng;
  check_rng_init(&rng, check_seed("n tasks on n workers"));
  for (r = 0; r < rounds && !check_failed(); r++) {
    enum { MAXW = 6 };
    int w = 2 + (int)check_rng_below(&rng, MAXW - 1), i;
    gate g;
    errand_task *t[MAXW];
    errand_runtime_options o;
    errand_runtime *rt;
    static const int spins[] = {-1, 0, 1, 5000};
    memset(&o, 0, sizeof o);
    o.workers = w;
    o.max_compensating = -1;
    o.spin_us = spins[check_rng_below(&rng, 4)];
    rt = rt_new_opts(&o);
    REQUIRE(rt);
    gate_init(&g);
    if (check_rng_below(&rng, 2)) check_sleep_ms(2); /* workers parked */
    for (i = 0; i < w; i++) REQUIRE_OK(errand_post(rt, gate_task, &g, NULL, &t[i]));
    if (!CHECK(check_wait_count(&g.started, w, CHECK_LONG_MS)))
      printf("  round %d: %d of %d tasks started on %d workers\n", r,
             atomic_load(&g.started), w, w);
    gate_open(&g);
    CHECK_OK(errand_wait_all(t, (size_t)w, -1));
    for (i = 0; i < w; i++) CHECK_OK(errand_task_release(t[i]));
    CHECK_OK(errand_runtime_destroy(rt));
  }
}

typedef struct where {
  atomic_int ran;
  pthread_t thread;
  errand_task *current;
  errand_task *self;
} where;

static int where_task(errand_task *self, void *arg) {
  where *w = (where *)arg;
  w->thread = pthread_self();
  w->current = errand_task_current();
  w->self = self;
  atomic_fetch_add(&w->ran, 1);
  return 0;
}

TEST(one_worker_runs_a_posted_task_on_another_thread) {
  where w;
  errand_task *t = NULL;
  errand_runtime *rt = rt_new(1);
  REQUIRE(rt);
  memset(&w, 0, sizeof w);
  atomic_init(&w.ran, 0);
  REQUIRE_OK(errand_post(rt, where_task, &w, NULL, &t));
  CHECK_OK(errand_wait(t, -1));
  CHECK_EQ_INT(atomic_load(&w.ran), 1);
  CHECK(!pthread_equal(w.thread, pthread_self()));
  CHECK(w.current == w.self); /* errand_task_current inside = self */
  CHECK(w.self == t);
  CHECK(errand_task_current() == NULL);
  CHECK_EQ_INT(status_of(t), ERRAND_STATUS_RAN_TO_COMPLETION);
  CHECK_OK(errand_task_release(t));
  CHECK_OK(errand_runtime_destroy(rt));
}

TEST(post_options_priority_name_mode_are_kept) {
  static const errand_priority prios[] = {
      ERRAND_PRIORITY_DEFAULT, ERRAND_PRIORITY_USER_BLOCKING,
      ERRAND_PRIORITY_USER_VISIBLE, ERRAND_PRIORITY_BACKGROUND};
  static const errand_priority want[] = {
      ERRAND_PRIORITY_USER_VISIBLE, ERRAND_PRIORITY_USER_BLOCKING,
      ERRAND_PRIORITY_USER_VISIBLE, ERRAND_PRIORITY_BACKGROUND};
  errand_runtime *rt = rt_new(2);
  size_t i;
  int mode;
  REQUIRE(rt);
  for (mode = 0; mode < 2; mode++) {
    for (i = 0; i < 4; i++) {
      char name[32];
      const char *got = NULL;
      errand_priority p = ERRAND_PRIORITY_DEFAULT;
      errand_task *t = NULL;
      errand_post_options o = post_opts();
      snprintf(name, sizeof name, "task-%d-%zu", mode, i);
      o.priority = prios[i];
      o.mode = (errand_mode)mode;
      o.name = name;
      REQUIRE_OK(errand_post(rt, noop_task, NULL, &o, &t));
      /* The name is copied: scribbling on the caller's buffer changes
       * nothing. */
      memset(name, 'X', sizeof name - 1);
      CHECK_OK(errand_task_priority(t, &p));
      CHECK_EQ_INT(p, want[i]);
      CHECK_OK(errand_wait(t, -1));
      CHECK_OK(errand_task_name(t, &got));
      snprintf(name, sizeof name, "task-%d-%zu", mode, i);
      CHECK_EQ_STR(got, name);
      CHECK_EQ_INT(status_of(t), ERRAND_STATUS_RAN_TO_COMPLETION);
      CHECK_OK(errand_task_release(t));
    }
  }
  CHECK_OK(errand_runtime_destroy(rt));
}

TEST(unnamed_task_has_empty_name) {
  errand_task *t = NULL;
  const char *name = NULL;
  errand_runtime *rt = rt_new(1);
  REQUIRE(rt);
  REQUIRE_OK(errand_post(rt, noop_task, NULL, NULL, &t));
  CHECK_OK(errand_task_name(t, &name));
  CHECK_EQ_STR(name, "");
  CHECK_OK(errand_wait(t, -1));
  CHECK_OK(errand_task_release(t));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* Fire-and-forget: the task outlives the caller's handle and still runs to
 * its end (it sleeps so the release certainly comes first). */
typedef struct ff {
  atomic_int started, finished, freed_arg, freed_result;
} ff;

static void ff_free_arg(void *p) { atomic_fetch_add(&((ff *)p)->freed_arg, 1); }
static void ff_free_result(void *p) {
  atomic_fetch_add(&((ff *)p)->freed_result, 1);
}

static int ff_task(errand_task *self, void *arg) {
  ff *f = (ff *)arg;
  atomic_fetch_add(&f->started, 1);
  check_sleep_ms(30);
  CHECK_OK(errand_task_set_result(self, f, ff_free_result));
  atomic_fetch_add(&f->finished, 1);
  return 0;
}

TEST(fire_and_forget_runs_to_the_end_and_frees_everything) {
  enum { N = 8 };
  ff f;
  int i;
  errand_post_options o = post_opts();
  errand_runtime *rt = rt_new(2);
  REQUIRE(rt);
  atomic_init(&f.started, 0);
  atomic_init(&f.finished, 0);
  atomic_init(&f.freed_arg, 0);
  atomic_init(&f.freed_result, 0);
  o.arg_free = ff_free_arg;
  for (i = 0; i < N; i++) {
    if (i % 2 == 0) {
      CHECK_OK(errand_post(rt, ff_task, &f, &o, NULL)); /* out = NULL */
    } else {
      errand_task *t = NULL;
      if (CHECK_OK(errand_post(rt, ff_task, &f, &o, &t)))
        CHECK_OK(errand_task_release(t)); /* post and release at once */
    }
  }
  /* Nobody holds a handle; they still finish. */
  CHECK(check_wait_count(&f.finished, N, CHECK_LONG_MS));
  CHECK_OK(errand_runtime_destroy(rt));
  CHECK_EQ_INT(atomic_load(&f.started), N);
  CHECK_EQ_INT(atomic_load(&f.finished), N);
  CHECK_EQ_INT(atomic_load(&f.freed_arg), N);
  /* A result nobody reads is freed when the last handle goes. */
  CHECK_EQ_INT(atomic_load(&f.freed_result), N);
}

TEST(fire_and_forget_tasks_run_before_destroy_returns) {
  enum { N = 20 };
  ff f;
  int i;
  errand_runtime *rt = rt_new(1);
  REQUIRE(rt);
  atomic_init(&f.started, 0);
  atomic_init(&f.finished, 0);
  atomic_init(&f.freed_arg, 0);
  atomic_init(&f.freed_result, 0);
  for (i = 0; i < N; i++) CHECK_OK(errand_post(rt, ff_task, &f, NULL, NULL));
  CHECK_OK(errand_runtime_destroy(rt)); /* drains */
  CHECK_EQ_INT(atomic_load(&f.finished), N);
  CHECK_EQ_INT(atomic_load(&f.freed_result), N);
}

TEST(retain_and_release_count_references) {
  ff f;
  errand_task *t = NULL;
  errand_runtime *rt = rt_new(1);
  REQUIRE(rt);
  atomic_init(&f.started, 0);
  atomic_init(&f.finished, 0);
  atomic_init(&f.freed_arg, 0);
  atomic_init(&f.freed_result, 0);
  REQUIRE_OK(errand_post(rt, ff_task, &f, NULL, &t));
  CHECK_OK(errand_task_retain(t));
  CHECK_OK(errand_task_retain(t));
  CHECK_OK(errand_wait(t, -1));
  CHECK_OK(errand_task_release(t));
  CHECK_OK(errand_task_release(t));
  /* One reference left: the handle still works and the result is alive. */
  CHECK_EQ_INT(status_of(t), ERRAND_STATUS_RAN_TO_COMPLETION);
  {
    void *v = NULL;
    CHECK_OK(errand_task_result(t, &v));
    CHECK(v == &f);
  }
  CHECK_EQ_INT(atomic_load(&f.freed_result), 0);
  CHECK_OK(errand_task_release(t));
  CHECK_OK(errand_runtime_destroy(rt));
  CHECK_EQ_INT(atomic_load(&f.freed_result), 1);
}

/* arg_free runs once after the function returned. */
typedef struct af {
  atomic_int fn_done;
  atomic_int freed;
  atomic_int freed_before_fn_done;
} af;

static void af_free(void *p) {
  af *a = (af *)p;
  if (!atomic_load(&a->fn_done)) atomic_store(&a->freed_before_fn_done, 1);
  atomic_fetch_add(&a->freed, 1);
}

static int af_task(errand_task *self, void *arg) {
  af *a = (af *)arg;
  (void)self;
  check_sleep_ms(5);
  CHECK_EQ_INT(atomic_load(&a->freed), 0);
  atomic_store(&a->fn_done, 1);
  return 0;
}

TEST(arg_free_is_called_once_after_the_function) {
  int mode;
  for (mode = 0; mode < 2; mode++) {
    af a;
    errand_task *t = NULL;
    errand_post_options o = post_opts();
    errand_runtime *rt = rt_new(1);
    REQUIRE(rt);
    atomic_init(&a.fn_done, 0);
    atomic_init(&a.freed, 0);
    atomic_init(&a.freed_before_fn_done, 0);
    o.arg_free = af_free;
    o.mode = (errand_mode)mode;
    REQUIRE_OK(errand_post(rt, af_task, &a, &o, &t));
    CHECK_OK(errand_wait(t, -1));
    CHECK_OK(errand_task_release(t));
    CHECK_OK(errand_runtime_destroy(rt));
    CHECK_EQ_INT(atomic_load(&a.freed), 1);
    CHECK_EQ_INT(atomic_load(&a.freed_before_fn_done), 0);
  }
}

static void *batch_args[16];
static atomic_int batch_seen[16];

static int batch_task(errand_task *self, void *arg) {
  int i = (int)(intptr_t)arg;
  (void)self;
  if (i >= 0 && i < 16) atomic_fetch_add(&batch_seen[i], 1);
  return 0;
}

TEST(post_batch_posts_n_tasks_with_their_args) {
  errand_task *out[16];
  errand_post_options o = post_opts();
  errand_stats st;
  int i;
  uint64_t prev = 0;
  errand_runtime *rt = rt_new(2);
  REQUIRE(rt);
  for (i = 0; i < 16; i++) {
    batch_args[i] = (void *)(intptr_t)i;
    atomic_store(&batch_seen[i], 0);
    out[i] = NULL;
  }
  o.name = "batch";
  o.priority = ERRAND_PRIORITY_BACKGROUND;
  REQUIRE_OK(errand_post_batch(rt, batch_task, batch_args, 16, &o, out));
  CHECK_OK(errand_wait_all(out, 16, -1));
  for (i = 0; i < 16; i++) {
    const char *name = NULL;
    errand_priority p;
    uint64_t id = id_of(out[i]);
    CHECK_EQ_INT(atomic_load(&batch_seen[i]), 1);
    CHECK(id > prev); /* increasing in post order */
    prev = id;
    CHECK_OK(errand_task_name(out[i], &name));
    CHECK_EQ_STR(name, "batch");
    CHECK_OK(errand_task_priority(out[i], &p));
    CHECK_EQ_INT(p, ERRAND_PRIORITY_BACKGROUND);
    CHECK_OK(errand_task_release(out[i]));
  }
  /* out may be NULL: fire-and-forget batch. */
  for (i = 0; i < 16; i++) atomic_store(&batch_seen[i], 0);
  CHECK_OK(errand_post_batch(rt, batch_task, batch_args, 16, NULL, NULL));
  CHECK_OK(errand_runtime_shutdown(rt, ERRAND_SHUTDOWN_DRAIN, -1));
  for (i = 0; i < 16; i++) CHECK_EQ_INT(atomic_load(&batch_seen[i]), 1);
  if (CHECK_OK(errand_runtime_stats(rt, &st))) CHECK_EQ_INT(st.posted, 32);
  CHECK_OK(errand_runtime_destroy(rt));
}

/* A batch posted from outside the pool is numbered and counted as one:
 * consecutive ids, and the posted and queued counters exact while it waits
 * behind a held worker, with and without per-task options (a queue
 * timeout gives each task a timer that may fire at once). */
TEST(post_batch_from_outside_has_consecutive_ids_and_exact_counts) {
  enum { N = 100 };
  static void *args[N];
  errand_task *out[N], *timed[N], *hold[1];
  errand_post_options o = post_opts();
  errand_stats st;
  gate g;
  int i;
  errand_runtime *rt = rt_new(1);
  REQUIRE(rt);
  gate_init(&g);
  REQUIRE(hold_workers(rt, &g, 1, hold));
  REQUIRE_OK(errand_post_batch(rt, noop_task, args, N, NULL, out));
  for (i = 1; i < N; i++) CHECK_EQ_INT(id_of(out[i]), id_of(out[i - 1]) + 1);
  o.queue_timeout_ms = 60000;
  REQUIRE_OK(errand_post_batch(rt, noop_task, args, N, &o, timed));
  CHECK(id_of(timed[0]) > id_of(out[N - 1]));
  CHECK_OK(errand_runtime_stats(rt, &st));
  CHECK_EQ_INT(st.posted, 1 + 2 * N);
  CHECK_EQ_INT(st.queued[ERRAND_PRIORITY_USER_VISIBLE - 1], 2 * N);
  CHECK_EQ_INT(status_of(out[N - 1]), ERRAND_STATUS_WAITING_TO_RUN);
  gate_open(&g);
  CHECK_OK(errand_wait_all(out, N, -1));
  CHECK_OK(errand_wait_all(timed, N, -1));
  CHECK_OK(errand_runtime_shutdown(rt, ERRAND_SHUTDOWN_DRAIN, -1));
  CHECK_OK(errand_runtime_stats(rt, &st));
  CHECK_EQ_INT(st.queued[ERRAND_PRIORITY_USER_VISIBLE - 1], 0);
  CHECK_EQ_INT(st.succeeded, 1 + 2 * N);
  CHECK_EQ_INT(st.running, 0);
  for (i = 0; i < N; i++) {
    CHECK_OK(errand_task_release(out[i]));
    CHECK_OK(errand_task_release(timed[i]));
  }
  CHECK_OK(errand_task_release(hold[0]));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* Handles held by the hundred thousand, posted from two threads at once:
 * the task table grows by several segments at a time (in huge pages where
 * the kernel has them), and every handle must still name its own task,
 * across each boundary between segments and between mappings. */
static int index_task(errand_task *self, void *arg) {
  return errand_task_set_result(self, arg, NULL);
}

typedef struct many_poster {
  errand_runtime *rt;
  size_t first, n;
  errand_task **out;
  int batch;
} many_poster;

static void *post_many(void *arg) {
  many_poster *p = (many_poster *)arg;
  if (p->batch) {
    void **args = malloc(p->n * sizeof *args);
    if (!CHECK(args != NULL)) return NULL;
    for (size_t i = 0; i < p->n; i++)
      args[i] = (void *)(uintptr_t)(p->first + i + 1);
    CHECK_OK(errand_post_batch(p->rt, index_task, args, p->n, NULL, p->out));
    free(args);
    return NULL;
  }
  for (size_t i = 0; i < p->n; i++)
    if (!CHECK_OK(errand_post(p->rt, index_task, (void *)(uintptr_t)(p->first + i + 1), NULL,
                              &p->out[i])))
      break;
  return NULL;
}

TEST(every_handle_names_its_task_with_many_thousands_alive) {
  /* 80,000 task records fill more than one mapping of the task table
   * (17 segments of 4,096 after the first), so 2 x 80,000 cross at least
   * two boundaries between mappings whatever earlier tests left. */
  enum { PER = 80000 };
  check_rng rng;
  check_rng_init(&rng, check_seed("many handles"));
  errand_task **h = calloc(2 * PER, sizeof *h);
  errand_runtime *rt = rt_new(2);
  REQUIRE(h && rt);
  many_poster p[2];
  pthread_t th[2];
  for (int k = 0; k < 2; k++) {
    p[k] = (many_poster){rt, (size_t)k * PER, PER, h + (size_t)k * PER,
                         check_rng_below(&rng, 2) == 0};
    REQUIRE(thread_start(&th[k], post_many, &p[k]));
  }
  for (int k = 0; k < 2; k++) pthread_join(th[k], NULL);
  CHECK_OK(errand_wait_all(h, 2 * PER, -1));
  size_t wrong = 0;
  for (size_t i = 0; i < 2 * PER; i++) {
    void *v = NULL;
    if (errand_task_result(h[i], &v) != 0 || v != (void *)(uintptr_t)(i + 1)) wrong++;
  }
  CHECK_EQ_INT(wrong, 0);
  for (size_t i = 0; i < 2 * PER; i++) CHECK_OK(errand_task_release(h[i]));
  /* Released handles stay recognisably released once errand has let go
   * of their tasks too: a worker drops its own reference just after the
   * task turns final (and wakes its waiters), so only after destroy, which
   * joins the workers, is that sure. */
  CHECK_OK(errand_runtime_destroy(rt));
  void *v = NULL;
  CHECK_EQ_INT(errand_task_result(h[0], &v), ERRAND_E_RELEASED);
  CHECK_EQ_INT(errand_task_result(h[2 * PER - 1], &v), ERRAND_E_RELEASED);
  free(h);
}

/* --------------------------------------------------------------------- */
/* 2. Id, name, status, flags                                             */
/* --------------------------------------------------------------------- */

TEST(ids_start_at_1_and_increase_in_post_order_per_runtime) {
  int r;
  for (r = 0; r < 2; r++) { /* a second runtime starts at 1 again */
    errand_task *t[10];
    int i;
    errand_runtime *rt = rt_new(2);
    REQUIRE(rt);
    for (i = 0; i < 10; i++) REQUIRE_OK(errand_post(rt, noop_task, NULL, NULL, &t[i]));
    for (i = 0; i < 10; i++) CHECK_EQ_INT(id_of(t[i]), i + 1);
    CHECK_OK(errand_wait_all(t, 10, -1));
    for (i = 0; i < 10; i++) CHECK_OK(errand_task_release(t[i]));
    CHECK_OK(errand_runtime_destroy(rt));
  }
}

typedef struct id_poster {
  errand_runtime *rt;
  int n;
  uint64_t *ids;
} id_poster;

static void *post_ids(void *arg) {
  id_poster *p = (id_poster *)arg;
  int i;
  for (i = 0; i < p->n; i++) {
    errand_task *t = NULL;
    p->ids[i] = 0;
    if (!CHECK_OK(errand_post(p->rt, noop_task, NULL, NULL, &t))) break;
    CHECK_OK(errand_task_id(t, &p->ids[i]));
    CHECK_OK(errand_task_release(t));
  }
  return NULL;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

TEST(ids_are_unique_when_posting_from_many_threads) {
  enum { T = 4 };
  int n = check_iters(2000), i, k;
  pthread_t th[T];
  id_poster p[T];
  uint64_t *all = calloc((size_t)(n * T), sizeof *all);
  errand_runtime *rt = rt_new(2);
  REQUIRE(all && rt);
  for (k = 0; k < T; k++) {
    p[k].rt = rt;
    p[k].n = n;
    p[k].ids = all + (size_t)k * (size_t)n;
    REQUIRE(thread_start(&th[k], post_ids, &p[k]));
  }
  for (k = 0; k < T; k++) pthread_join(th[k], NULL);
  for (k = 0; k < T; k++) /* increasing per posting thread */
    for (i = 1; i < n; i++) CHECK(p[k].ids[i] > p[k].ids[i - 1]);
  qsort(all, (size_t)(n * T), sizeof *all, cmp_u64);
  for (i = 0; i < n * T; i++) {
    /* ids 1..n*T, each once */
    if (!CHECK_EQ_INT(all[i], i + 1)) break;
  }
  CHECK_OK(errand_runtime_destroy(rt));
  free(all);
}

/* Tasks that post from inside the pool, on every worker at once: pool
 * workers number their posts from blocks of their own, and the ids must
 * stay unique across workers and against posts from outside. */
typedef struct inner_poster {
  errand_runtime *rt;
  int n;
  uint64_t *ids;
  check_rng rng; /* when to yield: varies the interleaving */
} inner_poster;

static int post_ids_task(errand_task *self, void *arg) {
  (void)self;
  inner_poster *p = (inner_poster *)arg;
  for (int i = 0; i < p->n; i++) {
    errand_task *t = NULL;
    p->ids[i] = 0;
    if (errand_post(p->rt, noop_task, NULL, NULL, &t) != 0) return ERRAND_E_FAILED;
    if (errand_task_id(t, &p->ids[i]) != 0) return ERRAND_E_FAILED;
    errand_task_release(t);
    if (check_rng_below(&p->rng, 64) == 0) sched_yield();
  }
  return 0;
}

TEST(ids_are_unique_when_tasks_post_from_every_worker) {
  enum { T = 6 };
  int n = check_iters(3000), i, k;
  errand_runtime *rt = rt_new(2);
  uint64_t *all = calloc((size_t)(n * T + 2 * T), sizeof *all);
  REQUIRE(all && rt);
  inner_poster p[T];
  errand_task *outer[T];
  uint64_t seed = check_seed("ids from every worker");
  for (k = 0; k < T; k++) {
    p[k] = (inner_poster){.rt = rt, .n = n, .ids = all + (size_t)k * (size_t)n};
    check_rng_init(&p[k].rng, seed + (uint64_t)k);
    REQUIRE_OK(errand_post(rt, post_ids_task, &p[k], NULL, &outer[k]));
    /* posts from outside, interleaved with the workers' */
    errand_task *o = NULL;
    REQUIRE_OK(errand_post(rt, noop_task, NULL, NULL, &o));
    CHECK_OK(errand_task_id(o, &all[(size_t)n * T + (size_t)k]));
    CHECK_OK(errand_task_id(outer[k], &all[(size_t)n * T + T + (size_t)k]));
    CHECK_OK(errand_task_release(o));
  }
  CHECK_OK(errand_wait_all(outer, T, -1));
  for (k = 0; k < T; k++) {
    errand_status st = ERRAND_STATUS_CREATED;
    CHECK_OK(errand_task_status(outer[k], &st));
    CHECK_EQ_INT(st, ERRAND_STATUS_RAN_TO_COMPLETION);
    for (i = 1; i < n; i++) /* increasing per posting task */
      if (!CHECK(p[k].ids[i] > p[k].ids[i - 1])) break;
    CHECK_OK(errand_task_release(outer[k]));
  }
  size_t total = (size_t)(n * T + 2 * T);
  qsort(all, total, sizeof *all, cmp_u64);
  CHECK(all[0] >= 1);
  for (size_t j = 1; j < total; j++)
    if (!CHECK(all[j] != all[j - 1])) break;
  CHECK_OK(errand_runtime_destroy(rt));
  free(all);
}

/* A second thread reads status and flags while the task moves. */
typedef struct reader {
  errand_task *t;
  atomic_int stop;
  atomic_int reads;
  atomic_int bad;
} reader;

static int flags_for(int s) {
  switch (s) {
  case ERRAND_STATUS_RAN_TO_COMPLETION:
    return ERRAND_FLAG_COMPLETED | ERRAND_FLAG_SUCCEEDED;
  case ERRAND_STATUS_FAULTED:
    return ERRAND_FLAG_COMPLETED | ERRAND_FLAG_FAULTED;
  case ERRAND_STATUS_CANCELED:
    return ERRAND_FLAG_COMPLETED | ERRAND_FLAG_CANCELED;
  default:
    return 0;
  }
}

static void *read_loop(void *arg) {
  reader *r = (reader *)arg;
  int last = -1;
  while (!atomic_load(&r->stop)) {
    errand_status s;
    unsigned f;
    uint64_t id;
    const char *name;
    if (errand_task_status(r->t, &s) != 0 || errand_task_flags(r->t, &f) != 0 ||
        errand_task_id(r->t, &id) != 0 || errand_task_name(r->t, &name) != 0) {
      atomic_fetch_add(&r->bad, 1);
      break;
    }
    if ((int)s < last) atomic_fetch_add(&r->bad, 1); /* went backwards */
    last = (int)s;
    if (id != 1 || strcmp(name, "watched") != 0) atomic_fetch_add(&r->bad, 1);
    /* Flags are read after the status, so if the status was final the
     * flags must match it. */
    if (is_final_status((int)s) && f != (unsigned)flags_for((int)s))
      atomic_fetch_add(&r->bad, 1);
    atomic_fetch_add(&r->reads, 1);
  }
  return NULL;
}

TEST(status_and_flags_are_readable_from_another_thread_at_any_moment) {
  gate g;
  errand_task *t = NULL;
  errand_post_options o = post_opts();
  reader r;
  pthread_t th;
  errand_runtime *rt = rt_new(1);
  REQUIRE(rt);
  gate_init(&g);
  o.name = "watched";
  REQUIRE_OK(errand_post(rt, gate_task, &g, &o, &t)); /* id 1 */
  r.t = t;
  atomic_init(&r.stop, 0);
  atomic_init(&r.reads, 0);
  atomic_init(&r.bad, 0);
  REQUIRE(thread_start(&th, read_loop, &r));
  REQUIRE(check_wait_count(&g.started, 1, CHECK_LONG_MS));
  CHECK_EQ_INT(status_of(t), ERRAND_STATUS_RUNNING);
  CHECK_EQ_INT(flags_of(t), 0);
  /* The reader must have read the running task before it ends (a sleep
   * alone is no promise on a loaded machine). */
  REQUIRE(check_wait_count(&r.reads, 1, CHECK_LONG_MS));
  check_sleep_ms(20);
  gate_open(&g);
  CHECK_OK(errand_wait(t, -1));
  check_sleep_ms(5);
  atomic_store(&r.stop, 1);
  pthread_join(th, NULL);
  CHECK_EQ_INT(atomic_load(&r.bad), 0);
  CHECK_EQ_INT(status_of(t), ERRAND_STATUS_RAN_TO_COMPLETION);
  CHECK_EQ_INT(flags_of(t), ERRAND_FLAG_COMPLETED | ERRAND_FLAG_SUCCEEDED);
  CHECK_OK(errand_task_release(t));
  CHECK_OK(errand_runtime_destroy(rt));
}

TEST(queued_task_is_waiting_to_run_with_no_flags) {
  gate g;
  errand_task *hold[1], *t = NULL;
  errand_runtime *rt = rt_new(1);
  REQUIRE(rt);
  gate_init(&g);
  REQUIRE(hold_workers(rt, &g, 1, hold));
  REQUIRE_OK(errand_post(rt, noop_task, NULL, NULL, &t));
  CHECK_EQ_INT(status_of(t), ERRAND_STATUS_WAITING_TO_RUN);
  CHECK_EQ_INT(flags_of(t), 0);
  {
    void *v;
    int code;
    const char *m;
    CHECK_RC(errand_task_result(t, &v), ERRAND_E_PENDING);
    CHECK_RC(errand_task_error(t, &code, &m), ERRAND_E_PENDING);
  }
  gate_open(&g);
  CHECK_OK(errand_wait(t, -1));
  CHECK_EQ_INT(status_of(t), ERRAND_STATUS_RAN_TO_COMPLETION);
  CHECK_OK(errand_task_release(t));
  CHECK_OK(errand_task_release(hold[0]));
  CHECK_OK(errand_runtime_destroy(rt));
}

TEST(the_four_flags_match_the_final_status) {
  errand_task *ok = NULL, *bad = NULL, *can = NULL;
  gate g;
  errand_task *hold[1];
  errand_runtime *rt = rt_new(1);
  REQUIRE(rt);
  gate_init(&g);
  REQUIRE(hold_workers(rt, &g, 1, hold));
  REQUIRE_OK(errand_post(rt, noop_task, NULL, NULL, &ok));
  REQUIRE_OK(errand_post(rt, noop_task, NULL, NULL, &can));
  REQUIRE_OK(errand_post(rt, return_code_task, (void *)(intptr_t)3, NULL, &bad));
  CHECK_OK(errand_task_cancel(can));
  gate_open(&g);
  CHECK_OK(errand_wait(ok, -1));
  CHECK_OK(errand_wait(bad, -1));
  CHECK_EQ_INT(status_of(ok), ERRAND_STATUS_RAN_TO_COMPLETION);
  CHECK_EQ_INT(status_of(bad), ERRAND_STATUS_FAULTED);
  CHECK_EQ_INT(flags_of(bad), ERRAND_FLAG_COMPLETED | ERRAND_FLAG_FAULTED);
  CHECK_EQ_INT(flags_of(ok), ERRAND_FLAG_COMPLETED | ERRAND_FLAG_SUCCEEDED);
  CHECK_EQ_INT(flags_of(can), ERRAND_FLAG_COMPLETED | ERRAND_FLAG_CANCELED);
  CHECK_EQ_INT(status_of(can), ERRAND_STATUS_CANCELED);
  CHECK_OK(errand_task_release(ok));
  CHECK_OK(errand_task_release(bad));
  CHECK_OK(errand_task_release(can));
  CHECK_OK(errand_task_release(hold[0]));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* --------------------------------------------------------------------- */
/* 3. Inside the task                                                     */
/* --------------------------------------------------------------------- */

static atomic_int freed_values;
static void free_value(void *v) {
  atomic_fetch_add(&freed_values, 1);
  free(v);
}

static int result_task(errand_task *self, void *arg) {
  char *s = malloc(16);
  (void)arg;
  if (!s) return ERRAND_E_NOMEM;
  strcpy(s, "forty-two");
  return errand_task_set_result(self, s, free_value);
}

TEST(task_returns_a_value_freed_with_its_function_when_last_handle_goes) {
  errand_task *t = NULL;
  void *v = NULL;
  int code = -1;
  const char *m = NULL;
  errand_runtime *rt = rt_new(2);
  REQUIRE(rt);
  atomic_store(&freed_values, 0);
  REQUIRE_OK(errand_post(rt, result_task, NULL, NULL, &t));
  CHECK_OK(errand_wait(t, -1));
  CHECK_OK(errand_task_result(t, &v));
  CHECK(v != NULL);
  if (v) CHECK_EQ_STR((const char *)v, "forty-two");
  CHECK_OK(errand_task_error(t, &code, &m));
  CHECK_EQ_INT(code, 0);
  CHECK_EQ_STR(m, "");
  CHECK_EQ_INT(atomic_load(&freed_values), 0);
  CHECK_OK(errand_task_retain(t));
  CHECK_OK(errand_task_release(t));
  CHECK_EQ_INT(atomic_load(&freed_values), 0); /* one handle still held */
  CHECK_OK(errand_task_release(t));
  /* errand may hold its own reference a moment longer, but not forever:
   * nothing is kept once the task is final and every handle is gone. */
  CHECK(check_wait_count(&freed_values, 1, CHECK_LONG_MS));
  CHECK_OK(errand_runtime_destroy(rt));
  CHECK_EQ_INT(atomic_load(&freed_values), 1);
}

static int replace_result_task(errand_task *self, void *arg) {
  char *a = malloc(4), *b = malloc(4);
  (void)arg;
  if (!a || !b) {
    free(a);
    free(b);
    return ERRAND_E_NOMEM;
  }
  strcpy(a, "a");
  strcpy(b, "b");
  CHECK_OK(errand_task_set_result(self, a, free_value));
  CHECK_OK(errand_task_set_result(self, b, free_value));
  /* The replaced value was freed at once. */
  CHECK_EQ_INT(atomic_load(&freed_values), 1);
  return 0;
}

TEST(replacing_a_result_frees_the_old_one_at_once) {
  errand_task *t = NULL;
  void *v = NULL;
  errand_runtime *rt = rt_new(1);
  REQUIRE(rt);
  atomic_store(&freed_values, 0);
  REQUIRE_OK(errand_post(rt, replace_result_task, NULL, NULL, &t));
  CHECK_OK(errand_wait(t, -1));
  CHECK_OK(errand_task_result(t, &v));
  if (CHECK(v != NULL)) CHECK_EQ_STR((const char *)v, "b");
  CHECK_OK(errand_task_release(t));
  CHECK_OK(errand_runtime_destroy(rt));
  CHECK_EQ_INT(atomic_load(&freed_values), 2);
}

TEST(task_without_result_gives_null_value) {
  errand_task *t = NULL;
  void *v = (void *)1;
  errand_runtime *rt = rt_new(1);
  REQUIRE(rt);
  REQUIRE_OK(errand_post(rt, noop_task, NULL, NULL, &t));
  CHECK_OK(errand_wait(t, -1));
  CHECK_OK(errand_task_result(t, &v));
  CHECK(v == NULL);
  CHECK_OK(errand_task_release(t));
  CHECK_OK(errand_runtime_destroy(rt));
}

static int fail_task(errand_task *self, void *arg) {
  int x = (int)(intptr_t)arg;
  return errand_task_fail(self, 42, "bad input %d (%s)", x, "seven");
}

/* A task's rarely used fields (name, result, error, parent, listeners) live
 * apart from the record every task uses, and a record is reused as soon as
 * it is freed.  Here every record a plain task gets was, just before, a
 * task that used all of them: the plain task must show none of it. */
enum { DIRTY_N = 24 };

static int dirty_task(errand_task *self, void *arg) {
  int kind = (int)(intptr_t)arg % 3;
  if (kind == 1) return errand_task_fail(self, 42, "dirty %d", kind);
  if (kind == 2) return ERRAND_E_CANCELED; /* ends CANCELED, with an error */
  return result_task(self, NULL);
}

static void check_clean(errand_task *t, int i) {
  const char *name = NULL, *m = NULL;
  void *v = (void *)1;
  int code = -1;
  errand_status st = ERRAND_STATUS_CREATED;
  CHECK_OK(errand_task_status(t, &st));
  if (!CHECK_EQ_INT(st, ERRAND_STATUS_RAN_TO_COMPLETION)) return;
  CHECK_OK(errand_task_name(t, &name));
  if (name && *name) CHECK_FAILF("plain task %d is named '%s'", i, name);
  CHECK_OK(errand_task_result(t, &v));
  if (v) CHECK_FAILF("plain task %d has a result", i);
  CHECK_OK(errand_task_error(t, &code, &m));
  CHECK_EQ_INT(code, 0);
  CHECK_EQ_STR(m, "");
  CHECK_EQ_INT(errand_task_is_canceled(t), 0);
}

/* Runs on the runtime's only worker, so that the dirty tasks run inline in
 * its waits and every record is freed, and taken again, on this thread. */
static int reuse_driver(errand_task *self, void *arg) {
  errand_runtime *rt = arg;
  errand_task *t[DIRTY_N];
  char name[32];
  int i;
  atomic_store(&freed_values, 0);
  for (i = 0; i < DIRTY_N; i++) {
    errand_post_options o = {0};
    /* Every other one with options: a task without any may still write
     * a result or an error. */
    if (i % 2) {
      snprintf(name, sizeof name, "dirty-%d", i);
      o.name = name;
      o.parent = self;
    }
    if (!CHECK_OK(errand_post(rt, dirty_task, (void *)(intptr_t)i, &o, &t[i])))
      return ERRAND_E_FAILED;
  }
  /* errand_wait_all enlists a listener on every task it waits for. */
  CHECK_OK(errand_wait_all(t, DIRTY_N, CHECK_LONG_MS));
  /* Most records are free now; one whose queue node is still in a deque
   * (run here out of turn) is freed when this worker next pops it. */
  for (i = 0; i < DIRTY_N; i++) CHECK_OK(errand_task_release(t[i]));

  for (i = 0; i < DIRTY_N; i++)
    if (!CHECK_OK(errand_post(rt, noop_task, NULL, NULL, &t[i])))
      return ERRAND_E_FAILED;
  CHECK_OK(errand_wait_all(t, DIRTY_N, CHECK_LONG_MS));
  for (i = 0; i < DIRTY_N; i++) {
    check_clean(t[i], i);
    CHECK_OK(errand_task_release(t[i]));
  }
  /* A record that held an error: cancelled before it starts, a plain task
   * says only "canceled". */
  for (i = 0; i < DIRTY_N; i++) {
    errand_post_options o = {0};
    o.name = "again";
    CHECK_OK(errand_post(rt, fail_task, NULL, &o, &t[i]));
  }
  CHECK_OK(errand_wait_all(t, DIRTY_N, CHECK_LONG_MS));
  for (i = 0; i < DIRTY_N; i++) CHECK_OK(errand_task_release(t[i]));
  for (i = 0; i < DIRTY_N; i++) {
    errand_task *c = NULL;
    const char *m = NULL;
    int code = -1;
    if (!CHECK_OK(errand_post(rt, noop_task, NULL, NULL, &c))) break;
    CHECK_OK(errand_task_cancel(c)); /* queued: this worker is busy here */
    CHECK_OK(errand_task_error(c, &code, &m));
    CHECK_EQ_INT(code, ERRAND_E_CANCELED);
    CHECK_EQ_STR(m, "canceled");
    CHECK_OK(errand_task_release(c));
  }
  return 0;
}

TEST(a_reused_task_record_shows_nothing_of_the_task_before_it) {
  int rounds = check_iters(20), r;
  for (r = 0; r < rounds && !check_failed(); r++) {
    errand_task *d = NULL;
    errand_runtime_options ro = {0};
    errand_runtime *rt;
    ro.workers = 1;
    ro.max_compensating = -1; /* no other thread runs (and frees) them */
    rt = rt_new_opts(&ro);
    REQUIRE(rt);
    REQUIRE_OK(errand_post(rt, reuse_driver, rt, NULL, &d));
    CHECK_OK(errand_wait(d, CHECK_LONG_MS));
    /* Its attached children: some of them failed (one faults it). */
    errand_status st = ERRAND_STATUS_CREATED;
    CHECK_OK(errand_task_status(d, &st));
    CHECK_EQ_INT(st, ERRAND_STATUS_FAULTED);
    CHECK_OK(errand_task_release(d));
    CHECK_OK(errand_runtime_destroy(rt));
    CHECK_EQ_INT(atomic_load(&freed_values), DIRTY_N / 3);
  }
}

TEST(task_fails_with_code_and_formatted_message) {
  int mode;
  for (mode = 0; mode < 2; mode++) {
    errand_task *t = NULL;
    errand_post_options o = post_opts();
    void *v;
    int code = 0;
    const char *m = NULL;
    errand_runtime *rt = rt_new(1);
    REQUIRE(rt);
    o.mode = (errand_mode)mode;
    REQUIRE_OK(errand_post(rt, fail_task, (void *)(intptr_t)7, &o, &t));
    CHECK_OK(errand_wait(t, -1));
    CHECK_EQ_INT(status_of(t), ERRAND_STATUS_FAULTED);
    CHECK_EQ_INT(flags_of(t), ERRAND_FLAG_COMPLETED | ERRAND_FLAG_FAULTED);
    CHECK_RC(errand_task_result(t, &v), ERRAND_E_FAILED);
    CHECK_OK(errand_task_error(t, &code, &m));
    CHECK_EQ_INT(code, 42);
    CHECK_EQ_STR(m, "bad input 7 (seven)");
    CHECK_OK(errand_task_release(t));
    CHECK_OK(errand_runtime_destroy(rt));
  }
}

static int fail_zero_task(errand_task *self, void *arg) {
  int rc = errand_task_fail(self, 0, "zero becomes failed");
  (void)arg;
  CHECK_RC(rc, ERRAND_E_FAILED);
  return rc;
}

TEST(fail_with_code_0_becomes_E_FAILED) {
  errand_task *t = NULL;
  int code = 0;
  errand_runtime *rt = rt_new(1);
  REQUIRE(rt);
  REQUIRE_OK(errand_post(rt, fail_zero_task, NULL, NULL, &t));
  CHECK_OK(errand_wait(t, -1));
  CHECK_EQ_INT(status_of(t), ERRAND_STATUS_FAULTED);
  CHECK_OK(errand_task_error(t, &code, NULL));
  CHECK_EQ_INT(code, ERRAND_E_FAILED);
  CHECK_EQ_STR(error_msg_of(t), "zero becomes failed");
  CHECK_OK(errand_task_release(t));
  CHECK_OK(errand_runtime_destroy(rt));
}

static int long_message_task(errand_task *self, void *arg) {
  (void)arg;
  return errand_task_fail(self, 5, "%0*d|end", 5000, 1);
}

TEST(long_fail_message_is_kept_or_cut_but_never_overflows) {
  errand_task *t = NULL;
  const char *m;
  errand_runtime *rt = rt_new(1);
  REQUIRE(rt);
  REQUIRE_OK(errand_post(rt, long_message_task, NULL, NULL, &t));
  CHECK_OK(errand_wait(t, -1));
  CHECK_EQ_INT(status_of(t), ERRAND_STATUS_FAULTED);
  m = error_msg_of(t);
  CHECK(strlen(m) >= 64);          /* the text is kept... */
  CHECK(strncmp(m, "0000", 4) == 0); /* ...from its start */
  CHECK_OK(errand_task_release(t));
  CHECK_OK(errand_runtime_destroy(rt));
}

static int return_code_task(errand_task *self, void *arg) {
  (void)self;
  return (int)(intptr_t)arg;
}

TEST(returning_a_code_faults_and_returning_E_CANCELED_cancels) {
  errand_task *f = NULL, *c = NULL;
  int code = 0;
  errand_runtime *rt = rt_new(1);
  REQUIRE(rt);
  REQUIRE_OK(errand_post(rt, return_code_task, (void *)(intptr_t)1234, NULL, &f));
  REQUIRE_OK(errand_post(rt, return_code_task,
                         (void *)(intptr_t)ERRAND_E_CANCELED, NULL, &c));
  CHECK_OK(errand_wait(f, -1));
  CHECK_OK(errand_wait(c, -1));
  CHECK_EQ_INT(status_of(f), ERRAND_STATUS_FAULTED);
  CHECK_OK(errand_task_error(f, &code, NULL));
  CHECK_EQ_INT(code, 1234);
  CHECK_EQ_INT(status_of(c), ERRAND_STATUS_CANCELED);
  CHECK_EQ_INT(flags_of(c), ERRAND_FLAG_COMPLETED | ERRAND_FLAG_CANCELED);
  {
    void *v;
    CHECK_RC(errand_task_result(c, &v), ERRAND_E_CANCELED);
  }
  CHECK_OK(errand_task_release(f));
  CHECK_OK(errand_task_release(c));
  CHECK_OK(errand_runtime_destroy(rt));
}

/* is_canceled goes 0 -> 1; sleep is cut short by a cancellation. */
typedef struct canc {
  atomic_int started;
  atomic_int before;     /* is_canceled before the request */
  atomic_int after;      /* is_canceled after it */
  atomic_int sleep_rc;
  atomic_int go;
} canc;

static int cancel_check_task(errand_task *self, void *arg) {
  canc *c = (canc *)arg;
  atomic_store(&c->before, errand_task_is_canceled(self));
  atomic_store(&c->started, 1);
  while (errand_task_is_canceled(self) == 0) check_sleep_us(200);
  atomic_store(&c->after, errand_task_is_canceled(self));
  return ERRAND_E_CANCELED;
}

TEST(task_sees_its_cancellation) {
  canc c;
  errand_task *t = NULL;
  errand_runtime *rt = rt_new(1);
  REQUIRE(rt);
  memset(&c, 0, sizeof c);
  atomic_init(&c.before, -9);
  atomic_init(&c.after, -9);
  REQUIRE_OK(errand_post(rt, cancel_check_task, &c, NULL, &t));
  REQUIRE(check_wait_flag(&c.started, CHECK_LONG_MS));
  CHECK_EQ_INT(errand_task_is_canceled(t), 0);
  CHECK_OK(errand_task_cancel(t));
  CHECK_OK(errand_wait(t, -1));
  CHECK_EQ_INT(atomic_load(&c.before), 0);
  CHECK_EQ_INT(atomic_load(&c.after), 1);
  CHECK_EQ_INT(status_of(t), ERRAND_STATUS_CANCELED);
  CHECK_OK(errand_task_release(t));
  CHECK_OK(errand_runtime_destroy(rt));
}

static int long_sleep_task(errand_task *self, void *arg) {
  canc *c = (canc *)arg;
  int rc;
  atomic_store(&c->started, 1);
  rc = errand_task_sleep(self, 600000); /* ten minutes */
  atomic_store(&c->sleep_rc, rc);
  return rc;
}

TEST(cancel_interrupts_errand_task_sleep) {
  int mode;
  for (mode = 0; mode < 2; mode++) {
    canc c;
    errand_task *t = NULL;
    errand_post_options o = post_opts();
    errand_runtime *rt = rt_new(1);
    REQUIRE(rt);
    memset(&c, 0, sizeof c);
    atomic_init(&c.sleep_rc, -1);
    o.mode = (errand_mode)mode;
    REQUIRE_OK(errand_post(rt, long_sleep_task, &c, &o, &t));
    REQUIRE(check_wait_flag(&c.started, CHECK_LONG_MS));
    check_sleep_ms(10); /* most likely inside the sleep by now */
    CHECK_OK(errand_task_cancel(t));
    /* Generous "does not hang" bound: far below the ten-minute sleep. */
    CHECK_OK(errand_wait(t, CHECK_LONG_MS));
    CHECK_RC(atomic_load(&c.sleep_rc), ERRAND_E_CANCELED);
    CHECK_EQ_INT(status_of(t), ERRAND_STATUS_CANCELED);
    CHECK_OK(errand_task_release(t));
    CHECK_OK(errand_runtime_destroy(rt));
  }
}

static int short_sleep_task(errand_task *self, void *arg) {
  int64_t t0 = check_now_ns();
  int rc = errand_task_sleep(self, 30);
  (void)arg;
  CHECK_OK(rc);
  CHECK(check_now_ns() - t0 >= 30 * 1000000LL); /* not before 30 ms */
  CHECK_OK(errand_task_sleep(self, 0));
  return rc;
}

TEST(sleep_returns_0_after_at_least_its_time) {
  errand_task *t = NULL;
  errand_runtime *rt = rt_new(1);
  REQUIRE(rt);
  REQUIRE_OK(errand_post(rt, short_sleep_task, NULL, NULL, &t));
  CHECK_OK(errand_wait(t, -1));
  CHECK_EQ_INT(status_of(t), ERRAND_STATUS_RAN_TO_COMPLETION);
  CHECK_OK(errand_task_release(t));
  CHECK_OK(errand_runtime_destroy(rt));
}

typedef struct waiter_arg {
  gate *g;
  errand_task *target;
  atomic_int started;
  atomic_int wait_rc;
} waiter_arg;

static int wait_forever_task(errand_task *self, void *arg) {
  waiter_arg *w = (waiter_arg *)arg;
  int rc;
  (void)self;
  atomic_store(&w->started, 1);
  rc = errand_wait(w->target, -1);
  atomic_store(&w->wait_rc, rc);
  return rc;
}

TEST(cancel_interrupts_errand_wait_inside_a_task) {
  int mode;
  for (mode = 0; mode < 2; mode++) {
    gate g;
    waiter_arg w;
    errand_task *target, *t = NULL;
    errand_post_options o = post_opts();
    errand_runtime *rt = rt_new(2);
    REQUIRE(rt);
    gate_init(&g);
    /* The target must be running on a worker of its own first: a waiter
     * that got to it while it was still queued would run it inline (as
     * errand_wait does for a queued task it needs), and then sit inside
     * the gate where no cancellation can reach it. */
    REQUIRE(hold_workers(rt, &g, 1, &target));
    w.g = &g;
    w.target = target;
    atomic_init(&w.started, 0);
    atomic_init(&w.wait_rc, -1);
    o.mode = (errand_mode)mode;
    REQUIRE_OK(errand_post(rt, wait_forever_task, &w, &o, &t));
    REQUIRE(check_wait_flag(&w.started, CHECK_LONG_MS));
    check_sleep_ms(10);
    CHECK_OK(errand_task_cancel(t));
    CHECK_OK(errand_wait(t, CHECK_LONG_MS));
    CHECK_RC(atomic_load(&w.wait_rc), ERRAND_E_CANCELED);
    CHECK_EQ_INT(status_of(t), ERRAND_STATUS_CANCELED);
    /* Cancelling the waiter did not touch the task it waited for. */
    CHECK_EQ_INT(status_of(target), ERRAND_STATUS_RUNNING);
    gate_open(&g);
    CHECK_OK(errand_wait(target, -1));
    CHECK_EQ_INT(status_of(target), ERRAND_STATUS_RAN_TO_COMPLETION);
    CHECK_OK(errand_task_release(t));
    CHECK_OK(errand_task_release(target));
    CHECK_OK(errand_runtime_destroy(rt));
  }
}

/* A task posts children attached to itself; it is not final before them. */
typedef struct fam {
  gate *g;
  atomic_int children_posted;
  atomic_int post_rc;
} fam;

static errand_runtime *fam_rt;

static int family_task2(errand_task *self, void *arg) {
  fam *f = (fam *)arg;
  int i;
  for (i = 0; i < 3; i++) {
    errand_post_options o = post_opts();
    int rc;
    o.parent = self;
    rc = errand_post(fam_rt, gate_task, f->g, &o, NULL);
    if (rc != 0) atomic_store(&f->post_rc, rc);
    else atomic_fetch_add(&f->children_posted, 1);
  }
  return 0;
}

TEST(task_posts_children_attached_to_itself) {
  gate g;
  fam f;
  errand_task *t = NULL;
  errand_runtime *rt = rt_new(4);
  REQUIRE(rt);
  fam_rt = rt;
  gate_init(&g);
  f.g = &g;
  atomic_init(&f.children_posted, 0);
  atomic_init(&f.post_rc, 0);
  REQUIRE_OK(errand_post(rt, family_task2, &f, NULL, &t));
  CHECK(check_wait_count(&g.started, 3, CHECK_LONG_MS));
  /* Its function returned, the children still hold it. */
  CHECK_EQ_INT(wait_status_leaves(t, ERRAND_STATUS_RUNNING, CHECK_LONG_MS),
               ERRAND_STATUS_WAITING_FOR_CHILDREN);
  /* Read once the function returned: a child may start (on a worker that
   * was looking for work) before errand_post returns to its parent. */
  CHECK_EQ_INT(atomic_load(&f.post_rc), 0);
  CHECK_EQ_INT(atomic_load(&f.children_posted), 3);
  CHECK_RC(errand_wait(t, 0), ERRAND_E_TIMEOUT);
  gate_open(&g);
  CHECK_OK(errand_wait(t, -1));
  CHECK_EQ_INT(atomic_load(&g.finished), 3);
  CHECK_EQ_INT(status_of(t), ERRAND_STATUS_RAN_TO_COMPLETION);
  CHECK_OK(errand_task_release(t));
  CHECK_OK(errand_runtime_destroy(rt));
}

CHECK_MAIN()
