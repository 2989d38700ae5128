/*
 * test_urgent.c — the urgent worker (errand_runtime_options.urgent_worker):
 * with every regular worker busy, a user-blocking task still starts at
 * once, and nothing of a lower level runs on that thread.
 */
#include "helpers.h"

static int mark(errand_task *self, void *arg) {
  (void)self;
  atomic_fetch_add((atomic_int *)arg, 1);
  return 0;
}

TEST(user_blocking_starts_while_the_only_worker_is_busy) {
  gate g;
  errand_task *hold[1], *blk = NULL, *vis = NULL, *bkg = NULL;
  atomic_int ran_blk, ran_vis, ran_bkg;
  errand_runtime_options ro;
  errand_post_options o = post_opts();
  errand_runtime *rt;
  memset(&ro, 0, sizeof ro);
  ro.workers = 1;
  ro.urgent_worker = 1;
  rt = rt_new_opts(&ro);
  REQUIRE(rt);
  atomic_init(&ran_blk, 0);
  atomic_init(&ran_vis, 0);
  atomic_init(&ran_bkg, 0);
  gate_init(&g);
  REQUIRE(hold_workers(rt, &g, 1, hold));
  o.priority = ERRAND_PRIORITY_BACKGROUND;
  REQUIRE_OK(errand_post(rt, mark, &ran_bkg, &o, &bkg));
  o.priority = ERRAND_PRIORITY_USER_VISIBLE;
  REQUIRE_OK(errand_post(rt, mark, &ran_vis, &o, &vis));
  o.priority = ERRAND_PRIORITY_USER_BLOCKING;
  REQUIRE_OK(errand_post(rt, mark, &ran_blk, &o, &blk));
  /* The worker is still held: only the urgent thread can run it. */
  CHECK_OK(errand_wait(blk, CHECK_LONG_MS));
  CHECK_EQ_INT(atomic_load(&ran_blk), 1);
  check_sleep_ms(20);
  CHECK_EQ_INT(atomic_load(&ran_vis), 0);
  CHECK_EQ_INT(atomic_load(&ran_bkg), 0);
  CHECK_EQ_INT(status_of(vis), ERRAND_STATUS_WAITING_TO_RUN);
  gate_open(&g);
  CHECK_OK(errand_wait(vis, CHECK_LONG_MS));
  CHECK_OK(errand_wait(bkg, CHECK_LONG_MS));
  CHECK_EQ_INT(atomic_load(&ran_vis), 1);
  CHECK_EQ_INT(atomic_load(&ran_bkg), 1);
  CHECK_OK(errand_task_release(blk));
  CHECK_OK(errand_task_release(vis));
  CHECK_OK(errand_task_release(bkg));
  CHECK_OK(errand_task_release(hold[0]));
  CHECK_OK(errand_runtime_destroy(rt));
}

TEST(urgent_worker_option_is_checked) {
  errand_runtime_options ro;
  errand_runtime *rt = NULL;
  memset(&ro, 0, sizeof ro);
  ro.urgent_worker = 2;
  CHECK_RC(errand_runtime_create(&ro, &rt), ERRAND_E_INVALID);
  CHECK(rt == NULL);
}

CHECK_MAIN()
