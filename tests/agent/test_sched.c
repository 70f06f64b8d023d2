/* Tests of agent/sched.c: the pure rules (next due time with backoff, retry-after and
 * phase; the spread of first runs) without a loop, then the scheduler on a real libuv loop
 * with intervals of 20–50 ms: runs keep their phase, backoff doubles the gap, retry-after
 * postpones, a running entry is never fired twice, removal and close from inside a fire
 * callback, 10,000 keys on one timer, and uv_loop_close() == 0 at the end of each. */
#include "agent/log.h"
#include "agent/sched.h"
#include "agent/util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* ---- pure rules -------------------------------------------------------------------------- */

static void test_plan_success_keeps_phase(void **state) {
  (void)state;
  unsigned b = 0;
  /* On time: the next run is one interval after the planned one, not after "now". */
  assert_int_equal(sched_plan_next(1000, 1050, 100, &b, 200, TRANSPORT_OK, -1), 1100);
  assert_int_equal(b, 0);
  /* Late (the probe took 3.5 intervals): the next point of the same grid. */
  assert_int_equal(sched_plan_next(0, 350, 100, &b, 200, TRANSPORT_OK, -1), 400);
  /* Finished exactly on a grid point: the next one, never now. */
  assert_int_equal(sched_plan_next(0, 400, 100, &b, 200, TRANSPORT_OK, -1), 500);
  /* Skipped (budget): plain interval. */
  assert_int_equal(sched_plan_next(0, 1, 100, &b, 0, TRANSPORT_OK, -1), 100);
}

static void test_plan_retry_after(void **state) {
  (void)state;
  unsigned b = 0;
  /* 429 with retry-after 30 s, interval 1 s: at least 30 s later, still on the grid. */
  int64_t due = sched_plan_next(0, 10, 1000, &b, 429, TRANSPORT_OK, 30);
  print_message("429 retry-after 30 s at t=10 ms: next due %lld ms\n", (long long)due);
  assert_true(due >= 10 + 30000);
  assert_int_equal(due % 1000, 0);
  assert_int_equal(due, 31000);
  assert_int_equal(b, 0); /* rate limiting is not a platform failure */
  /* 529 with retry-after: backoff and retry-after both apply. */
  b = 0;
  due = sched_plan_next(0, 10, 1000, &b, 529, TRANSPORT_OK, 30);
  assert_true(due >= 30010);
  assert_int_equal(b, 1);
  assert_int_equal(due % 2000, 0);
  /* retry-after shorter than the interval changes nothing. */
  b = 0;
  assert_int_equal(sched_plan_next(0, 10, 60000, &b, 429, TRANSPORT_OK, 5), 60000);
  /* Absurd retry-after: capped at an hour. */
  b = 0;
  due = sched_plan_next(0, 10, 1000, &b, 429, TRANSPORT_OK, 1000000000);
  assert_true(due >= 10 + SCHED_RETRY_AFTER_MAX_S * 1000LL);
  assert_true(due <= 10 + SCHED_RETRY_AFTER_MAX_S * 1000LL + 1000);
  /* retry-after on a success or a 401 is not an instruction to wait. */
  b = 0;
  assert_int_equal(sched_plan_next(0, 10, 1000, &b, 200, TRANSPORT_OK, 30), 1000);
  assert_int_equal(sched_plan_next(0, 10, 1000, &b, 401, TRANSPORT_OK, 30), 1000);
}

static void test_plan_backoff(void **state) {
  (void)state;
  unsigned b = 0;
  int64_t planned = 0, interval = 1000;
  int64_t want_gap[] = {2000, 4000, 8000, 8000, 8000};
  for (size_t i = 0; i < UTIL_ARRAY_LEN(want_gap); i++) {
    int64_t due = sched_plan_next(planned, planned + 5, interval, &b, 503, TRANSPORT_OK, -1);
    assert_int_equal(due - planned, want_gap[i]);
    planned = due;
  }
  assert_int_equal(b, SCHED_BACKOFF_MAX_LEVEL);
  /* Back to normal on success. */
  int64_t due = sched_plan_next(planned, planned + 5, interval, &b, 200, TRANSPORT_OK, -1);
  assert_int_equal(due - planned, 1000);
  assert_int_equal(b, 0);
  /* Timeouts back off too; local causes and network failures do not. */
  b = 0;
  sched_plan_next(0, 5, interval, &b, 0, TRANSPORT_TIMEOUT, -1);
  assert_int_equal(b, 1);
  sched_plan_next(0, 5, interval, &b, 401, TRANSPORT_OK, -1);
  assert_int_equal(b, 0);
  b = 2;
  sched_plan_next(0, 5, interval, &b, 403, TRANSPORT_OK, -1);
  assert_int_equal(b, 0);
  b = 2;
  sched_plan_next(0, 5, interval, &b, 402, TRANSPORT_OK, -1);
  assert_int_equal(b, 0);
  b = 2;
  sched_plan_next(0, 5, interval, &b, 0, TRANSPORT_DNS, -1);
  assert_int_equal(b, 0);
  b = 0;
  sched_plan_next(0, 5, interval, &b, 529, TRANSPORT_OK, -1);
  assert_int_equal(b, 1);
  /* Caps: 8x, and never beyond 10 min unless the interval itself is longer. */
  assert_int_equal(sched_effective_interval(60000, 3), 480000);
  assert_int_equal(sched_effective_interval(300000, 3), SCHED_BACKOFF_CAP_MS);
  assert_int_equal(sched_effective_interval(1800000, 3), 1800000);
  assert_int_equal(sched_effective_interval(20, 9), 160);
  assert_int_equal(sched_classify_outcome(500, TRANSPORT_OK), SCHED_OUTCOME_PLATFORM);
  assert_int_equal(sched_classify_outcome(429, TRANSPORT_OK), SCHED_OUTCOME_PLAIN);
  assert_int_equal(sched_classify_outcome(0, TRANSPORT_CONNECT), SCHED_OUTCOME_PLAIN);
}

static int cmp64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

static void test_spread(void **state) {
  (void)state;
  enum { N = 1000 };
  int64_t off[N];
  for (int i = 0; i < N; i++) {
    off[i] = sched_spread_offset((uint64_t)i, 60000);
    assert_true(off[i] >= 0 && off[i] < SCHED_SPREAD_MS);
  }
  qsort(off, N, sizeof(off[0]), cmp64);
  int64_t min_gap = INT64_MAX;
  for (int i = 1; i < N; i++)
    if (off[i] - off[i - 1] < min_gap) min_gap = off[i] - off[i - 1];
  print_message("1000 keys over 5 s: smallest gap between first runs %lld ms\n",
                (long long)min_gap);
  assert_true(min_gap >= 1); /* never two in the same millisecond */
  assert_true(off[N - 1] - off[0] > 4900);
  /* The window shrinks to the interval. */
  for (int i = 0; i < 100; i++)
    assert_true(sched_spread_offset((uint64_t)i, 20) < 20);
  assert_int_equal(sched_spread_offset(5, 1), 0);
}

/* ---- on a real loop ------------------------------------------------------------------------ */

#define MAXFIRES 64

struct rec {
  int fires;
  int64_t planned_loop[MAXFIRES]; /* loop clock, from sched_get_info */
  int64_t fired_at[MAXFIRES];     /* uv_now at fire */
  int64_t lag[MAXFIRES];
  int64_t done_at[MAXFIRES];
};

struct tenv {
  uv_loop_t loop;
  struct sched *s;
  struct rec rec[4][PROBE__COUNT];
  int status[4];          /* answer to report per key */
  int64_t retry_after[4]; /* per key */
  bool hold[4];           /* do not report done */
  int stop_after;         /* key 0 fires; then stop */
  bool stop;
  bool closed;
  int remove_key_on_fire; /* -1 none */
  bool close_on_fire;
  int64_t max_lag;
  int64_t total_fires;
};

static void on_sched_closed(void *arg) {
  ((struct tenv *)arg)->closed = true;
}

static void on_fire(uint32_t key, enum probe_kind kind, int64_t planned_ms, int64_t lag_ms,
                    void *arg) {
  struct tenv *e = arg;
  assert_true(lag_ms >= 0);
  assert_true(planned_ms > 1600000000000LL); /* Unix ms */
  if (lag_ms > e->max_lag) e->max_lag = lag_ms;
  e->total_fires++;
  if (key < 4) {
    struct rec *r = &e->rec[key][kind];
    struct sched_info info;
    assert_int_equal(sched_get_info(e->s, key, kind, &info), 0);
    assert_true(info.running);
    assert_int_equal(info.due_ms, -1);
    if (r->fires < MAXFIRES) {
      r->planned_loop[r->fires] = info.planned_ms;
      r->fired_at[r->fires] = (int64_t)uv_now(&e->loop);
      r->lag[r->fires] = lag_ms;
    }
    r->fires++;
    if (e->close_on_fire) {
      sched_close(e->s, on_sched_closed, e);
      return;
    }
    if (e->remove_key_on_fire == (int)key) {
      sched_remove_key(e->s, key);
      return;
    }
    if (e->hold[key]) return;
    if (key == 0 && r->fires >= e->stop_after) e->stop = true;
    int64_t now = (int64_t)uv_now(&e->loop);
    if (r->fires <= MAXFIRES) r->done_at[r->fires - 1] = now;
    int status = e->status[key] ? e->status[key] : 200;
    sched_done(e->s, key, kind, now, status, TRANSPORT_OK, e->retry_after[key]);
    return;
  }
  sched_done(e->s, key, kind, -1, 200, TRANSPORT_OK, -1);
}

static void tenv_init(struct tenv *e) {
  memset(e, 0, sizeof(*e));
  e->remove_key_on_fire = -1;
  assert_int_equal(uv_loop_init(&e->loop), 0);
  e->s = sched_new(&e->loop, on_fire, e);
}

static void deadline_cb(uv_timer_t *t) {
  *(bool *)t->data = true;
}

static void run_until_stop(struct tenv *e, uint64_t timeout_ms) {
  uv_timer_t t;
  bool expired = false;
  uv_timer_init(&e->loop, &t);
  t.data = &expired;
  uv_timer_start(&t, deadline_cb, timeout_ms, 0);
  while (!e->stop && !expired)
    uv_run(&e->loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&e->loop, UV_RUN_NOWAIT); /* t lives on this stack: let its close finish */
  assert_false(expired);
}

static void tenv_finish(struct tenv *e) {
  if (!e->closed) sched_close(e->s, on_sched_closed, e);
  uv_run(&e->loop, UV_RUN_DEFAULT);
  assert_true(e->closed);
  assert_int_equal(uv_loop_close(&e->loop), 0);
}

static void test_loop_phase_and_lag(void **state) {
  (void)state;
  struct tenv e;
  tenv_init(&e);
  e.stop_after = 8;
  assert_int_equal(sched_add(e.s, 0, PROBE_MODELS, 25, 0), 0);
  assert_int_equal(sched_add(e.s, 1, PROBE_MODELS, 40, SCHED_SPREAD), 0);
  assert_int_equal(sched_add(e.s, 1, PROBE_MESSAGES, 50, SCHED_SPREAD), 0);
  assert_int_equal(sched_add(e.s, 2, PROBE_COUNT_TOKENS, 20, 10), 0);
  assert_int_equal(sched_add(e.s, 2, PROBE_COUNT_TOKENS, 20, 10), UTIL_EINVAL); /* exists */
  assert_int_equal(sched_add(e.s, 2, PROBE_MODELS, 0, 10), UTIL_EINVAL);
  assert_int_equal(sched_add(e.s, 2, PROBE_MODELS, 10, -5), UTIL_EINVAL);
  assert_int_equal(sched_size(e.s), 4);
  assert_int_equal(sched_last_probe_ms(e.s, 0), -1);
  int64_t before = util_now_ms();
  run_until_stop(&e, 5000);
  assert_true(sched_last_probe_ms(e.s, 0) >= before);
  assert_int_equal(sched_last_probe_ms(e.s, 3), -1);
  /* Planned times step by exactly one interval: each entry keeps its phase. */
  struct {
    int key;
    enum probe_kind kind;
    int64_t interval;
  } ent[] = {{0, PROBE_MODELS, 25},
             {1, PROBE_MODELS, 40},
             {1, PROBE_MESSAGES, 50},
             {2, PROBE_COUNT_TOKENS, 20}};
  for (size_t i = 0; i < UTIL_ARRAY_LEN(ent); i++) {
    struct rec *r = &e.rec[ent[i].key][ent[i].kind];
    assert_true(r->fires >= 2);
    for (int k = 1; k < r->fires && k < MAXFIRES; k++) {
      int64_t step = r->planned_loop[k] - r->planned_loop[k - 1];
      if (step % ent[i].interval != 0 || step <= 0)
        fail_msg("entry %zu: planned step %lld not a multiple of %lld", i, (long long)step,
                 (long long)ent[i].interval);
      assert_true(r->fired_at[k] >= r->planned_loop[k]); /* never early */
    }
  }
  print_message("max scheduler lag %lld ms\n", (long long)e.max_lag);
  assert_true(e.max_lag < 1000);
  tenv_finish(&e);
}

static void test_loop_backoff(void **state) {
  (void)state;
  struct tenv e;
  tenv_init(&e);
  e.status[0] = 503;
  e.stop_after = 5;
  assert_int_equal(sched_add(e.s, 0, PROBE_MODELS, 20, 0), 0);
  run_until_stop(&e, 5000);
  struct rec *r = &e.rec[0][PROBE_MODELS];
  int64_t want[] = {40, 80, 160, 160};
  for (int k = 1; k < 5; k++)
    assert_int_equal(r->planned_loop[k] - r->planned_loop[k - 1], want[k - 1]);
  struct sched_info info;
  assert_int_equal(sched_get_info(e.s, 0, PROBE_MODELS, &info), 0);
  assert_int_equal(info.backoff, SCHED_BACKOFF_MAX_LEVEL);
  tenv_finish(&e);
}

static void test_loop_retry_after(void **state) {
  (void)state;
  struct tenv e;
  tenv_init(&e);
  e.status[0] = 429;
  e.retry_after[0] = 1;
  e.stop_after = 2;
  assert_int_equal(sched_add(e.s, 0, PROBE_MODELS, 20, 0), 0);
  run_until_stop(&e, 5000);
  struct rec *r = &e.rec[0][PROBE_MODELS];
  int64_t waited = r->fired_at[1] - r->done_at[0];
  print_message("429 with retry-after 1 s: next probe %lld ms later (interval 20 ms)\n",
                (long long)waited);
  assert_true(waited >= 1000);
  assert_true(waited < 2000);
  tenv_finish(&e);
}

/* A running entry is not fired again however long its probe takes. */
static void test_loop_running_not_refired(void **state) {
  (void)state;
  struct tenv e;
  tenv_init(&e);
  e.hold[1] = true;
  e.stop_after = 10;
  assert_int_equal(sched_add(e.s, 0, PROBE_MODELS, 20, 0), 0);
  assert_int_equal(sched_add(e.s, 1, PROBE_MODELS, 20, 0), 0);
  run_until_stop(&e, 5000);
  assert_int_equal(e.rec[1][PROBE_MODELS].fires, 1);
  assert_int_equal(e.rec[0][PROBE_MODELS].fires, 10);
  /* Its late result plans the next run on its grid, after now. */
  int64_t now = (int64_t)uv_now(&e.loop);
  sched_done(e.s, 1, PROBE_MODELS, now, 200, TRANSPORT_OK, -1);
  struct sched_info info;
  assert_int_equal(sched_get_info(e.s, 1, PROBE_MODELS, &info), 0);
  assert_false(info.running);
  assert_true(info.due_ms > now);
  assert_int_equal((info.due_ms - e.rec[1][PROBE_MODELS].planned_loop[0]) % 20, 0);
  /* A second report for the same run is ignored. */
  sched_done(e.s, 1, PROBE_MODELS, now, 503, TRANSPORT_OK, -1);
  assert_int_equal(sched_get_info(e.s, 1, PROBE_MODELS, &info), 0);
  assert_int_equal(info.backoff, 0);
  tenv_finish(&e);
}

static void test_loop_remove_and_close_in_fire(void **state) {
  (void)state;
  struct tenv e;
  tenv_init(&e);
  e.remove_key_on_fire = 1;
  e.stop_after = 5;
  assert_int_equal(sched_add(e.s, 0, PROBE_MODELS, 20, 0), 0);
  assert_int_equal(sched_add(e.s, 1, PROBE_MODELS, 20, 0), 0);
  assert_int_equal(sched_add(e.s, 1, PROBE_COUNT_TOKENS, 20, 0), 0);
  run_until_stop(&e, 5000);
  assert_int_equal(sched_size(e.s), 1);
  assert_int_equal(e.rec[1][PROBE_MODELS].fires + e.rec[1][PROBE_COUNT_TOKENS].fires, 1);
  struct sched_info info;
  assert_int_equal(sched_get_info(e.s, 1, PROBE_MODELS, &info), UTIL_ENOENT);
  /* Removing a key whose probe runs: its late sched_done is ignored. */
  sched_done(e.s, 1, PROBE_MODELS, -1, 200, TRANSPORT_OK, -1);
  sched_remove_key(e.s, 77);
  /* Close from inside a fire callback. */
  e.close_on_fire = true;
  while (!e.closed)
    uv_run(&e.loop, UV_RUN_ONCE);
  uv_run(&e.loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&e.loop), 0);
}

/* 10,000 keys on one timer: every key fires its first run within the spread window and
 * keeps going; lag stays small. */
static void on_fire_many(uint32_t key, enum probe_kind kind, int64_t planned_ms, int64_t lag_ms,
                         void *arg) {
  (void)planned_ms;
  struct tenv *e = arg;
  if (lag_ms > e->max_lag) e->max_lag = lag_ms;
  e->total_fires++;
  sched_done(e->s, key, kind, -1, 200, TRANSPORT_OK, -1);
  if (e->total_fires >= 30000) e->stop = true;
}

static void test_loop_many_keys(void **state) {
  (void)state;
  enum { N = 10000 };
  struct tenv e;
  memset(&e, 0, sizeof(e));
  assert_int_equal(uv_loop_init(&e.loop), 0);
  e.s = sched_new(&e.loop, on_fire_many, &e);
  for (uint32_t k = 0; k < N; k++)
    assert_int_equal(sched_add(e.s, k, PROBE_MODELS, 200, SCHED_SPREAD), 0);
  assert_int_equal(sched_size(e.s), N);
  uint64_t t0 = uv_hrtime();
  run_until_stop(&e, 20000);
  double secs = (double)(uv_hrtime() - t0) / 1e9;
  int never = 0;
  for (uint32_t k = 0; k < N; k++)
    if (sched_last_probe_ms(e.s, k) < 0) never++;
  print_message("10000 keys every 200 ms: %lld fires in %.2f s, max lag %lld ms\n",
                (long long)e.total_fires, secs, (long long)e.max_lag);
  assert_int_equal(never, 0);
  assert_true(e.max_lag < 1000);
  for (uint32_t k = 0; k < N; k += 2)
    sched_remove_key(e.s, k);
  assert_int_equal(sched_size(e.s), N / 2);
  tenv_finish(&e);
}

int main(void) {
  log_set_level(LOG_ERROR);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_plan_success_keeps_phase),
      cmocka_unit_test(test_plan_retry_after),
      cmocka_unit_test(test_plan_backoff),
      cmocka_unit_test(test_spread),
      cmocka_unit_test(test_loop_phase_and_lag),
      cmocka_unit_test(test_loop_backoff),
      cmocka_unit_test(test_loop_retry_after),
      cmocka_unit_test(test_loop_running_not_refired),
      cmocka_unit_test(test_loop_remove_and_close_in_fire),
      cmocka_unit_test(test_loop_many_keys),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
