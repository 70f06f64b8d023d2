/* sched.h — the scheduler of probes: when each (key, probe kind) runs next. One uv_timer_t
 * and a min-heap of due times drive every entry, so 10,000 keys cost one timer and a few
 * dozen bytes each. First runs are spread over min(interval, 5 s) by a low-discrepancy
 * sequence; after that each entry keeps its own phase (due times step on the grid
 * planned + k * interval), so keys never bunch up. An entry is fired, and then waits for
 * sched_done() before it is planned again: one probe per entry in flight at most.
 *
 * Backoff (sched_plan_next, a pure function): retry-after on 429 and 5xx is honoured (the
 * next run is no earlier); platform-side failures (5xx, 529, timeouts) double the interval
 * up to 8x (at most 10 min, never less than the interval); success and every other outcome
 * return to the plain interval.
 *
 * Clocks: the loop's clock (uv_now(), milliseconds) for plans and dues; fire callbacks also
 * get the planned time in Unix ms for struct probe_result.
 *
 * Ownership: sched_new() / sched_close(s, done, arg), freed in the timer's close callback. */
#ifndef CLAUDEMON_SCHED_H
#define CLAUDEMON_SCHED_H

#include "agent/model.h"

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

struct sched;

/* Passed as first_delay_ms to sched_add: let the scheduler spread first runs. */
#define SCHED_SPREAD (-1)
/* The window over which first runs are spread (capped by the interval). */
#define SCHED_SPREAD_MS 5000
/* Backoff: at most 2^3 = 8 times the interval, and at most 10 min (unless the interval
 * itself is longer). */
#define SCHED_BACKOFF_MAX_LEVEL 3
#define SCHED_BACKOFF_CAP_MS (10LL * 60 * 1000)
/* A retry-after beyond this is taken as this (a broken or hostile header must not stop
 * probing for days). */
#define SCHED_RETRY_AFTER_MAX_S 3600

/* sched_fire_cb: the entry is due. planned_ms is the Unix ms it was planned for, lag_ms how
 * late it fired (>= 0: feed claudemon_scheduler_lag_seconds). The callback must eventually
 * call sched_done(key, kind) — at once when it decides to skip the probe. It may call any
 * sched function. */
typedef void (*sched_fire_cb)(uint32_t key, enum probe_kind kind, int64_t planned_ms,
                              int64_t lag_ms, void *arg);

/* sched_new creates a scheduler on loop. Never fails (aborts on out-of-memory). */
struct sched *sched_new(uv_loop_t *loop, sched_fire_cb fire, void *arg);

/* sched_add plans (key, kind) every interval_ms (>= 1), the first run after first_delay_ms
 * (>= 0) or SCHED_SPREAD. Returns 0, UTIL_EINVAL (bad argument, or the entry exists:
 * remove the key first) or UTIL_EINVAL when closing. */
int sched_add(struct sched *s, uint32_t key, enum probe_kind kind, int64_t interval_ms,
              int64_t first_delay_ms);

/* sched_remove_key forgets every entry of key. A probe of key still running is forgotten
 * too: its sched_done is ignored. */
void sched_remove_key(struct sched *s, uint32_t key);

/* sched_done reports the outcome of the probe fired for (key, kind) and plans its next
 * run. now_ms is the loop's clock (uv_now(loop)); a negative value means "now".
 * http_status 0 with TRANSPORT_OK means "skipped" (plain interval). retry_after_s < 0:
 * none. Ignored when the entry is not running. */
void sched_done(struct sched *s, uint32_t key, enum probe_kind kind, int64_t now_ms,
                int http_status, enum transport_error t, int64_t retry_after_s);

/* sched_close stops everything; done(arg) runs once the timer is closed and s is freed. */
void sched_close(struct sched *s, void (*done)(void *arg), void *arg);

/* sched_last_probe_ms returns the Unix ms key was last fired (any kind), -1 never. */
int64_t sched_last_probe_ms(const struct sched *s, uint32_t key);

/* What the scheduler holds about one entry (for /api and tests). */
struct sched_info {
  int64_t interval_ms; /* configured */
  int64_t due_ms;      /* loop clock of the next run; -1 while running */
  int64_t planned_ms;  /* loop clock the current or last run was planned for */
  unsigned backoff;    /* 0: plain interval; n: interval * 2^n (capped) */
  bool running;        /* fired, sched_done not yet called */
};

/* sched_get_info returns 0 and *out, or UTIL_ENOENT when (key, kind) is not scheduled. */
int sched_get_info(const struct sched *s, uint32_t key, enum probe_kind kind,
                   struct sched_info *out);

/* sched_size returns the number of entries. */
size_t sched_size(const struct sched *s);

/* sched_spread_offset returns the first delay SCHED_SPREAD gives to the n-th entry added
 * (0-based) for an interval: the golden-ratio sequence frac(n * 0.618...) scaled to
 * min(interval, SCHED_SPREAD_MS). Consecutive entries land far apart, and n entries over a
 * window w are at least about w / (2.6 n) apart. Pure. */
int64_t sched_spread_offset(uint64_t n, int64_t interval_ms);

/* sched_backoff_class: how an outcome moves the backoff. */
enum sched_outcome {
  SCHED_OUTCOME_PLAIN,    /* success, local causes, network failures, skipped: interval */
  SCHED_OUTCOME_PLATFORM, /* 5xx (incl. 529) or timeout: back off */
};
enum sched_outcome sched_classify_outcome(int http_status, enum transport_error t);

/* sched_plan_next is the pure rule behind sched_done. planned_ms: when the run just done
 * was planned (loop clock); now_ms: now; *backoff: the entry's backoff level, updated.
 * Returns the next due time: the first point of the grid planned_ms + k * effective
 * interval (k >= 1) that is after now_ms and, for a retry-after on 429 or 5xx, no earlier
 * than now_ms + retry_after_s seconds. */
int64_t sched_plan_next(int64_t planned_ms, int64_t now_ms, int64_t interval_ms, unsigned *backoff,
                        int http_status, enum transport_error t, int64_t retry_after_s);

/* sched_effective_interval returns interval_ms with backoff applied (and capped). */
int64_t sched_effective_interval(int64_t interval_ms, unsigned backoff);

#endif
