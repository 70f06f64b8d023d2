/* sched.c — the probe scheduler: one uv_timer_t armed for the earliest due time of a
 * binary min-heap holding every (key, probe kind) entry that waits. It owns the plan of
 * each entry (interval, phase, backoff level, running or waiting) and each key's last probe
 * time; it never runs a probe itself (the fire callback does) and never blocks. The rule of
 * the next due time is the pure function sched_plan_next(), tested without a loop.
 *
 * An entry is in the heap while it waits and out of it while its probe runs (from fire to
 * sched_done), so a slow upstream can never pile up probes of one entry. Costs: O(log n)
 * per fire and per sched_done, one timer for everything.
 *
 * Lifetime: sched_close() stops the timer and frees everything in its close callback. */
#include "agent/sched.h"

#include "agent/log.h"
#include "agent/util.h"

#include <stdlib.h>
#include <string.h>

#define SCHED_MAX_KEYS (1u << 24)
#define NOT_IN_HEAP SIZE_MAX

struct sched_entry {
  uint32_t key;
  enum probe_kind kind;
  int64_t interval_ms; /* between planned starts, before backoff */
  int64_t due_ms;      /* loop clock; -1 while running */
  int64_t planned_ms;  /* loop clock the current or last run was planned for */
  unsigned backoff;    /* level: interval * 2^backoff, capped */
  bool running;
  size_t heap_idx; /* NOT_IN_HEAP while running */
};

struct sched_keyslot {
  struct sched_entry *e[PROBE__COUNT];
  int64_t last_probe_ms; /* Unix ms of the last fire of any kind, -1 never */
};

struct sched {
  uv_loop_t *loop;
  uv_timer_t timer;
  sched_fire_cb fire;
  void *arg;
  struct sched_keyslot *keys; /* indexed by key */
  size_t n_keys;              /* slots allocated */
  struct sched_entry **heap;
  size_t heap_n, heap_cap;
  size_t n_entries;
  uint64_t spread_n; /* entries spread so far */
  bool closing;
  void (*done)(void *arg);
  void *done_arg;
};

/* ---- pure rules --------------------------------------------------------------------- */

int64_t sched_spread_offset(uint64_t n, int64_t interval_ms) {
  int64_t window = interval_ms < SCHED_SPREAD_MS ? interval_ms : SCHED_SPREAD_MS;
  if (window <= 1) return 0;
  /* frac(n * (sqrt(5) - 1) / 2) in 32.32 fixed point: exact, and the same on every
   * machine. */
  const uint64_t golden = 0x9E3779B97F4A7C15ull; /* 2^64 / phi */
  uint64_t frac = n * golden;                    /* wraps: the fractional part */
  return (int64_t)((frac >> 32) * (uint64_t)window >> 32);
}

enum sched_outcome sched_classify_outcome(int http_status, enum transport_error t) {
  if (t == TRANSPORT_TIMEOUT) return SCHED_OUTCOME_PLATFORM;
  if (http_status >= 500 && http_status <= 599) return SCHED_OUTCOME_PLATFORM;
  return SCHED_OUTCOME_PLAIN;
}

int64_t sched_effective_interval(int64_t interval_ms, unsigned backoff) {
  if (interval_ms < 1) interval_ms = 1;
  if (backoff > SCHED_BACKOFF_MAX_LEVEL) backoff = SCHED_BACKOFF_MAX_LEVEL;
  if (interval_ms > INT64_MAX / 16) return interval_ms;
  int64_t eff = interval_ms << backoff;
  int64_t cap = interval_ms > SCHED_BACKOFF_CAP_MS ? interval_ms : SCHED_BACKOFF_CAP_MS;
  return eff < cap ? eff : cap;
}

int64_t sched_plan_next(int64_t planned_ms, int64_t now_ms, int64_t interval_ms, unsigned *backoff,
                        int http_status, enum transport_error t, int64_t retry_after_s) {
  unsigned b = backoff ? *backoff : 0;
  if (sched_classify_outcome(http_status, t) == SCHED_OUTCOME_PLATFORM)
    b = b < SCHED_BACKOFF_MAX_LEVEL ? b + 1 : SCHED_BACKOFF_MAX_LEVEL;
  else
    b = 0;
  if (backoff) *backoff = b;
  int64_t eff = sched_effective_interval(interval_ms, b);
  int64_t earliest = now_ms + 1;
  if (retry_after_s > 0 && (http_status == 429 || (http_status >= 500 && http_status <= 599))) {
    int64_t ra = retry_after_s < SCHED_RETRY_AFTER_MAX_S ? retry_after_s : SCHED_RETRY_AFTER_MAX_S;
    if (now_ms + ra * 1000 > earliest) earliest = now_ms + ra * 1000;
  }
  if (planned_ms > now_ms) planned_ms = now_ms; /* never plan from the future */
  int64_t due = planned_ms + eff;
  if (due < earliest) {
    /* Keep the entry's phase: step whole intervals past the earliest allowed time. */
    int64_t k = (earliest - planned_ms + eff - 1) / eff;
    due = planned_ms + k * eff;
  }
  return due;
}

/* ---- heap ---------------------------------------------------------------------------- */

static bool before(const struct sched_entry *a, const struct sched_entry *b) {
  if (a->due_ms != b->due_ms) return a->due_ms < b->due_ms;
  if (a->key != b->key) return a->key < b->key;
  return a->kind < b->kind;
}

static void heap_set(struct sched *s, size_t i, struct sched_entry *e) {
  s->heap[i] = e;
  e->heap_idx = i;
}

static void heap_up(struct sched *s, size_t i) {
  struct sched_entry *e = s->heap[i];
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (!before(e, s->heap[p])) break;
    heap_set(s, i, s->heap[p]);
    i = p;
  }
  heap_set(s, i, e);
}

static void heap_down(struct sched *s, size_t i) {
  struct sched_entry *e = s->heap[i];
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= s->heap_n) break;
    if (c + 1 < s->heap_n && before(s->heap[c + 1], s->heap[c])) c++;
    if (!before(s->heap[c], e)) break;
    heap_set(s, i, s->heap[c]);
    i = c;
  }
  heap_set(s, i, e);
}

static void heap_push(struct sched *s, struct sched_entry *e) {
  if (s->heap_n == s->heap_cap) {
    s->heap_cap = s->heap_cap ? s->heap_cap * 2 : 64;
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): the element is a pointer, as wanted */
    s->heap = xrealloc(s->heap, s->heap_cap * sizeof(*s->heap));
  }
  heap_set(s, s->heap_n++, e);
  heap_up(s, e->heap_idx);
}

static void heap_remove(struct sched *s, struct sched_entry *e) {
  size_t i = e->heap_idx;
  if (i == NOT_IN_HEAP) return;
  e->heap_idx = NOT_IN_HEAP;
  struct sched_entry *last = s->heap[--s->heap_n];
  if (i == s->heap_n) return;
  heap_set(s, i, last);
  heap_up(s, i);
  heap_down(s, last->heap_idx);
}

/* ---- timer --------------------------------------------------------------------------- */

static void on_timer(uv_timer_t *t);

static void rearm(struct sched *s) {
  if (s->closing) return;
  if (s->heap_n == 0) {
    uv_timer_stop(&s->timer);
    return;
  }
  int64_t now = (int64_t)uv_now(s->loop);
  int64_t delay = s->heap[0]->due_ms - now;
  int rc = uv_timer_start(&s->timer, on_timer, delay > 0 ? (uint64_t)delay : 0, 0);
  if (rc < 0) log_error("uv_timer_start failed", "error=%s", log_q(uv_strerror(rc)));
}

static void on_timer(uv_timer_t *t) {
  struct sched *s = t->data;
  int64_t now = (int64_t)uv_now(s->loop);
  int64_t wall = util_now_ms();
  /* Entries planned again from inside a fire callback are due after now, so this loop
   * ends. */
  while (!s->closing && s->heap_n > 0 && s->heap[0]->due_ms <= now) {
    struct sched_entry *e = s->heap[0];
    heap_remove(s, e);
    int64_t lag = now - e->due_ms;
    e->running = true;
    e->planned_ms = e->due_ms;
    e->due_ms = -1;
    s->keys[e->key].last_probe_ms = wall;
    /* e may be freed by the callback (sched_remove_key): read nothing of it after. */
    s->fire(e->key, e->kind, wall - lag, lag, s->arg);
  }
  rearm(s);
}

/* ---- public API ---------------------------------------------------------------------- */

struct sched *sched_new(uv_loop_t *loop, sched_fire_cb fire, void *arg) {
  struct sched *s = xcalloc(1, sizeof(*s));
  s->loop = loop;
  s->fire = fire;
  s->arg = arg;
  int rc = uv_timer_init(loop, &s->timer);
  if (rc < 0) { /* uv_timer_init cannot fail on unix; keep the promise anyway */
    log_error("uv_timer_init failed", "error=%s", log_q(uv_strerror(rc)));
    abort();
  }
  s->timer.data = s;
  return s;
}

static struct sched_entry *lookup(const struct sched *s, uint32_t key, enum probe_kind kind) {
  if (!s || key >= s->n_keys || kind < 0 || kind >= PROBE__COUNT) return NULL;
  return s->keys[key].e[kind];
}

int sched_add(struct sched *s, uint32_t key, enum probe_kind kind, int64_t interval_ms,
              int64_t first_delay_ms) {
  if (!s || s->closing || key >= SCHED_MAX_KEYS || kind < 0 || kind >= PROBE__COUNT ||
      interval_ms < 1 || (first_delay_ms < 0 && first_delay_ms != SCHED_SPREAD))
    return UTIL_EINVAL;
  if (key >= s->n_keys) {
    size_t n = s->n_keys ? s->n_keys : 16;
    while (n <= key)
      n *= 2;
    s->keys = xrealloc(s->keys, n * sizeof(*s->keys));
    for (size_t i = s->n_keys; i < n; i++) {
      memset(&s->keys[i], 0, sizeof(s->keys[i]));
      s->keys[i].last_probe_ms = -1;
    }
    s->n_keys = n;
  }
  if (s->keys[key].e[kind]) return UTIL_EINVAL;
  if (first_delay_ms == SCHED_SPREAD)
    first_delay_ms = sched_spread_offset(s->spread_n++, interval_ms);
  struct sched_entry *e = xcalloc(1, sizeof(*e));
  e->key = key;
  e->kind = kind;
  e->interval_ms = interval_ms;
  e->due_ms = (int64_t)uv_now(s->loop) + first_delay_ms;
  e->planned_ms = e->due_ms;
  e->heap_idx = NOT_IN_HEAP;
  s->keys[key].e[kind] = e;
  s->n_entries++;
  heap_push(s, e);
  if (s->heap[0] == e) rearm(s);
  return 0;
}

void sched_remove_key(struct sched *s, uint32_t key) {
  if (!s || key >= s->n_keys) return;
  bool top = false;
  for (int k = 0; k < PROBE__COUNT; k++) {
    struct sched_entry *e = s->keys[key].e[k];
    if (!e) continue;
    if (e->heap_idx == 0) top = true;
    heap_remove(s, e);
    free(e);
    s->keys[key].e[k] = NULL;
    s->n_entries--;
  }
  if (top) rearm(s);
}

void sched_done(struct sched *s, uint32_t key, enum probe_kind kind, int64_t now_ms,
                int http_status, enum transport_error t, int64_t retry_after_s) {
  struct sched_entry *e = lookup(s, key, kind);
  if (!e || !e->running || s->closing) return;
  if (now_ms < 0) now_ms = (int64_t)uv_now(s->loop);
  e->running = false;
  e->due_ms = sched_plan_next(e->planned_ms, now_ms, e->interval_ms, &e->backoff, http_status, t,
                              retry_after_s);
  heap_push(s, e);
  if (s->heap[0] == e) rearm(s);
}

static void on_close(uv_handle_t *h) {
  struct sched *s = h->data;
  void (*done)(void *) = s->done;
  void *arg = s->done_arg;
  for (size_t k = 0; k < s->n_keys; k++)
    for (int i = 0; i < PROBE__COUNT; i++)
      free(s->keys[k].e[i]);
  free(s->keys);
  free(s->heap);
  free(s);
  if (done) done(arg);
}

void sched_close(struct sched *s, void (*done)(void *arg), void *arg) {
  if (!s) {
    if (done) done(arg);
    return;
  }
  if (s->closing) return;
  s->closing = true;
  s->done = done;
  s->done_arg = arg;
  uv_timer_stop(&s->timer);
  uv_close((uv_handle_t *)&s->timer, on_close);
}

int64_t sched_last_probe_ms(const struct sched *s, uint32_t key) {
  if (!s || key >= s->n_keys) return -1;
  return s->keys[key].last_probe_ms;
}

int sched_get_info(const struct sched *s, uint32_t key, enum probe_kind kind,
                   struct sched_info *out) {
  const struct sched_entry *e = lookup(s, key, kind);
  if (!e) return UTIL_ENOENT;
  out->interval_ms = e->interval_ms;
  out->due_ms = e->due_ms;
  out->planned_ms = e->planned_ms;
  out->backoff = e->backoff;
  out->running = e->running;
  return 0;
}

size_t sched_size(const struct sched *s) {
  return s ? s->n_entries : 0;
}
