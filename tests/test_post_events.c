/*
 * test_post_events.c — errand_post_options.on_event subscribes before the
 * task can run, so even the events it emits first are delivered, in order,
 * on the loop, before its completion callbacks.
 */
#include "helpers.h"

typedef struct seen {
  int n;
  int last;
  int in_order;
  pthread_t thread;
  int on_owner;
} seen;

static int emit_at_once(errand_task *self, void *arg) {
  char buf[16];
  (void)arg;
  for (int i = 0; i < 50; i++) {
    int len = snprintf(buf, sizeof buf, "%d", i);
    errand_task_emit(self, "n", buf, (size_t)len);
  }
  return 0;
}

static void on_event(errand_task *t, const char *name, const void *data,
                     size_t len, void *arg) {
  seen *s = arg;
  char buf[16] = {0};
  (void)t;
  (void)name;
  memcpy(buf, data, len < 15 ? len : 15);
  if (atoi(buf) != s->last + 1)
    s->in_order = 0;
  s->last = atoi(buf);
  s->n++;
  if (!pthread_equal(pthread_self(), s->thread))
    s->on_owner = 0;
}

TEST(events_emitted_at_once_all_arrive_when_subscribed_at_post) {
  for (int round = 0; round < check_iters(200); round++) {
    errand_runtime *rt = rt_new(2);
    errand_loop *loop = NULL;
    errand_task *t = NULL;
    seen s = {0, -1, 1, pthread_self(), 1};
    errand_post_options o = post_opts();
    REQUIRE(rt);
    REQUIRE_OK(errand_loop_create(rt, &loop));
    o.on_event = on_event;
    o.event_loop = loop;
    o.event_arg = &s;
    REQUIRE_OK(errand_post(rt, emit_at_once, NULL, &o, &t));
    CHECK_OK(errand_loop_run_until(loop, t, CHECK_LONG_MS));
    CHECK_EQ_INT(s.n, 50);
    CHECK_EQ_INT(s.in_order, 1);
    CHECK_EQ_INT(s.on_owner, 1);
    CHECK_OK(errand_task_release(t));
    CHECK_OK(errand_loop_destroy(loop));
    CHECK_OK(errand_runtime_destroy(rt));
  }
}

TEST(on_event_is_refused_by_post_batch) {
  errand_runtime *rt = rt_new(1);
  errand_post_options o = post_opts();
  void *args[1] = {NULL};
  seen s = {0, -1, 1, pthread_self(), 1};
  REQUIRE(rt);
  o.on_event = on_event;
  o.event_arg = &s;
  CHECK_RC(errand_post_batch(rt, emit_at_once, args, 1, &o, NULL),
           ERRAND_E_INVALID);
  CHECK_OK(errand_runtime_destroy(rt));
}

CHECK_MAIN()
