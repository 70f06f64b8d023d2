/* classify.c — the classifier: one probe's fields to a cause, a key's results to a cause after
 * hysteresis, and all keys plus the status page to a verdict with findings (DESIGN.md's
 * "Causes and scopes" and "Verdicts and findings" contracts; docs/classifier.md for people).
 *
 * It owns the rules and the memory they need (per key and probe kind a window of recent causes;
 * per classifier the platform incident we declared, its lead time, the last reachable status
 * snapshot and the timers of the mismatch findings). It must never do I/O, read a clock, touch
 * libuv or see a secret: times come in as arguments, keys are named by their configured names,
 * and every text it writes is built from names, ids and fields the probe engine has already
 * sanitised. Everything is owned by the classifier and freed by classifier_free(); a judgement
 * owns its findings and is freed by judgement_free(). */
#include "agent/classify.h"
#include "agent/config.h"
#include "agent/util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- 1. one probe ------------------------------------------------------------------------ */

static bool has_text(const char *haystack, const char *needle) {
  return strcasestr(haystack, needle) != NULL;
}

/* The API says "credit balance is too low" (prepaid credit gone), "You have reached your
 * specified [workspace] API usage limits" (a spend limit the customer set) and "You have
 * reached your API usage limits: ... monthly API usage threshold" (the tier's cap). */
static bool message_says_quota(const char *m) {
  return has_text(m, "credit balance") || has_text(m, "usage limit") ||
         has_text(m, "spend limit") || has_text(m, "spending limit");
}

static bool message_says_disabled(const char *m) {
  return has_text(m, "organization has been disabled") || has_text(m, "organization is disabled");
}

/* A cause from the HTTP status alone: for an error.type we have never seen, and for answers
 * that carry a request-id but no error body. */
static enum cause cause_from_status(int status) {
  if (status == 401) return CAUSE_AUTH_INVALID;
  if (status == 402) return CAUSE_QUOTA;
  if (status == 403) return CAUSE_PERMISSION;
  if (status == 429) return CAUSE_RATE_LIMITED;
  if (status == 529) return CAUSE_OVERLOADED;
  if (status >= 500 && status <= 599) return CAUSE_SERVER_ERROR;
  if (status >= 400 && status <= 499) return CAUSE_REQUEST_INVALID;
  return CAUSE_UNKNOWN;
}

/* An answer in the API's error shape ({"type":"error","error":{...}}, request_id or not). */
static enum cause cause_of_api_error(const struct probe_result *r) {
  const char *type = r->error_type, *msg = r->error_message;
  int st = r->http_status;

  /* Several conditions share one type (400 invalid_request_error, 429 rate_limit_error) and
   * differ only by message or error code: those decide first. */
  if (strcmp(r->error_code, "enforced_spend_limit_reached") == 0) return CAUSE_QUOTA;
  if (st >= 400 && st <= 499) {
    if (message_says_disabled(msg)) return CAUSE_ACCOUNT_DISABLED;
    if (message_says_quota(msg)) return CAUSE_QUOTA;
  }
  if (strcmp(type, "authentication_error") == 0) {
    /* Documented: a 401 starting so is the organization refusing browser (Origin) requests,
     * not a problem with the key. */
    if (has_text(msg, "CORS requests are not allowed")) return CAUSE_REQUEST_INVALID;
    return CAUSE_AUTH_INVALID;
  }
  if (strcmp(type, "permission_error") == 0) return CAUSE_PERMISSION;
  if (strcmp(type, "billing_error") == 0) return CAUSE_QUOTA;
  if (strcmp(type, "rate_limit_error") == 0) return CAUSE_RATE_LIMITED;
  if (strcmp(type, "invalid_request_error") == 0 || strcmp(type, "not_found_error") == 0 ||
      strcmp(type, "request_too_large") == 0 || strcmp(type, "conflict_error") == 0)
    return CAUSE_REQUEST_INVALID;
  if (strcmp(type, "overloaded_error") == 0) return CAUSE_OVERLOADED;
  if (strcmp(type, "api_error") == 0 || strcmp(type, "timeout_error") == 0)
    return CAUSE_SERVER_ERROR;
  return cause_from_status(st); /* a type never seen */
}

void classify_probe(struct probe_result *r) {
  if (!r) return;
  switch (r->transport) {
  case TRANSPORT_OK:
    break;
  case TRANSPORT_TIMEOUT:
    r->cause = CAUSE_TIMEOUT;
    return;
  case TRANSPORT_DNS:
  case TRANSPORT_CONNECT:
  case TRANSPORT_TLS:
  case TRANSPORT_PROXY:
  case TRANSPORT_SEND:
  case TRANSPORT_RECV:
  case TRANSPORT_OTHER:
    r->cause = CAUSE_NETWORK;
    return;
  default:
    r->cause = CAUSE_UNKNOWN;
    return;
  }

  int st = r->http_status;
  if (st <= 0) {
    r->cause = CAUSE_UNKNOWN; /* "complete" without a status: keep the evidence, say so */
    return;
  }
  if (st >= 200 && st <= 299) {
    /* Only the JSON the endpoint promises is ok; anything else in a 2xx (a captive portal, a
     * relay's page, a streaming error we never asked for) did not come from the API. */
    r->cause = r->body_kind == BODY_EXPECTED ? CAUSE_OK : CAUSE_EDGE_ERROR;
    return;
  }
  if (r->body_kind == BODY_API_ERROR) {
    r->cause = cause_of_api_error(r);
    return;
  }
  /* Not the API's error shape. Without a request-id it did not come from the API at all (an
   * edge or proxy page, whatever its status); with one, the API answered without a usable
   * body and the status is all we have. */
  r->cause = r->request_id[0] ? cause_from_status(st) : CAUSE_EDGE_ERROR;
}

bool classify_should_retry(const struct probe_result *r) {
  if (!r || r->retried) return false;
  if (!cause_is_flaky(r->cause) || r->cause == CAUSE_RATE_LIMITED) return false;
  if (r->http_status == 429) return false;
  if (r->retry_after_s > CLASSIFY_RETRY_MAX_WAIT_S) return false;
  return true;
}

int64_t classify_retry_pause_ms(const struct probe_result *r) {
  if (r && r->retry_after_s > 0 && r->retry_after_s <= CLASSIFY_RETRY_MAX_WAIT_S)
    return r->retry_after_s * 1000;
  return 1000;
}

/* ---- 2. keys, after hysteresis ----------------------------------------------------------- */

/* Hysteresis of one probe kind of one key. A certain cause takes effect at once; a flaky one
 * needs fail_after flaky results among the last window results; a failure ends after
 * recover_after consecutive good results. A run of recover_after good results also forgets
 * the failures before it (the window restarts), so a failure is counted and dated from its
 * first failing probe after the last such run (pending): failing-since is that probe, not the
 * one that tipped the count. */
struct classify_kind {
  bool decided;     /* a cause is settled (the first ok, a certain failure, or fail_after) */
  enum cause cause; /* this kind's cause after hysteresis */
  uint8_t ring[CLASSIFY_WINDOW_MAX]; /* raw causes of the last results, oldest overwritten */
  int n, head;                       /* results in ring; next slot to write */
  int good_run;                      /* consecutive ok results, newest last */
  int64_t good_start_ms;             /* start of the first ok result of that run */
  bool has_pending;
  struct evidence pending; /* first failing probe of the current (or candidate) failure */
};

struct classifier {
  struct classify_params p;
  size_t n_keys;
  struct key_state *keys;
  /* The platform incident we declared (kept across judgements). */
  bool incident_active;
  int64_t declared_ms, published_ms;
  bool has_lead;
  int64_t lead_ms;
  /* Timers of the findings that need a disagreement to last: our first sight of it. */
  int64_t probe_mismatch_since_ms, page_mismatch_since_ms, page_unreachable_since_ms;
  struct status_snapshot last_good; /* the last reachable snapshot, for an unreachable page */
};

void classify_params_from_config(struct classify_params *p, const struct config *c) {
  classify_params_default(p);
  p->fail_after = c->classifier.fail_after;
  p->window = c->classifier.window;
  p->recover_after = c->classifier.recover_after;
  p->quorum = c->classifier.quorum;
  p->mismatch_after_ms = c->classifier.mismatch_after_ms;
}

void classify_params_default(struct classify_params *p) {
  memset(p, 0, sizeof(*p));
  p->fail_after = 3;
  p->window = 5;
  p->recover_after = 2;
  p->quorum = 0.5;
  p->mismatch_after_ms = 10LL * 60 * 1000;
  p->once = false;
}

static void evidence_clear(struct evidence *e) {
  memset(e, 0, sizeof(*e));
  e->at_ms = -1;
  e->cause = CAUSE_UNKNOWN;
}

static void key_state_init(struct key_state *k, size_t i) {
  memset(k, 0, sizeof(*k));
  k->name = xasprintf("key%zu", i);
  k->cause = CAUSE_UNKNOWN;
  k->failing_since_ms = -1;
  k->recovered_ms = -1;
  k->last_probe_ms = -1;
  k->retry_after_s = -1;
  evidence_clear(&k->first_failure);
  evidence_clear(&k->last);
  for (int r = 0; r < RL__COUNT; r++) {
    k->ratelimit[r].limit = -1;
    k->ratelimit[r].remaining = -1;
    k->ratelimit[r].reset_ms = -1;
  }
}

int classifier_new(const struct classify_params *p, size_t n_keys, struct classifier **out) {
  if (!p || !out) return UTIL_EINVAL;
  *out = NULL;
  if (p->window < 1 || p->window > CLASSIFY_WINDOW_MAX || p->fail_after < 1 ||
      p->fail_after > p->window || p->recover_after < 1 || !(p->quorum > 0.0) || p->quorum > 1.0 ||
      p->mismatch_after_ms < 0)
    return UTIL_EINVAL;
  struct classifier *c = xcalloc(1, sizeof(*c));
  c->p = *p;
  c->n_keys = n_keys;
  c->keys = n_keys ? xcalloc(n_keys, sizeof(*c->keys)) : NULL;
  for (size_t i = 0; i < n_keys; i++)
    key_state_init(&c->keys[i], i);
  c->declared_ms = c->published_ms = -1;
  c->probe_mismatch_since_ms = c->page_mismatch_since_ms = c->page_unreachable_since_ms = -1;
  status_snapshot_init(&c->last_good);
  *out = c;
  return 0;
}

void classifier_free(struct classifier *c) {
  if (!c) return;
  for (size_t i = 0; i < c->n_keys; i++) {
    free(c->keys[i].name);
    free(c->keys[i].expect_organization);
    for (int k = 0; k < PROBE__COUNT; k++)
      free(c->keys[i].kinds[k]);
  }
  free(c->keys);
  status_snapshot_free(&c->last_good);
  free(c);
}

int classifier_rekey(struct classifier *c, const struct classify_params *p, size_t n_keys,
                     const char *const *names, const char *const *expect_organizations) {
  if (!c || !p || (n_keys && !names)) return UTIL_EINVAL;
  struct classifier *check = NULL;
  int rc = classifier_new(p, 0, &check); /* validates p */
  if (rc != 0) return rc;
  classifier_free(check);
  struct key_state *keys = n_keys ? xcalloc(n_keys, sizeof(*keys)) : NULL;
  bool *taken = c->n_keys ? xcalloc(c->n_keys, sizeof(*taken)) : NULL;
  for (size_t i = 0; i < n_keys; i++) {
    size_t j = 0;
    while (j < c->n_keys && (taken[j] || strcmp(c->keys[j].name, names[i]) != 0))
      j++;
    if (j < c->n_keys) {
      keys[i] = c->keys[j]; /* moved: its name, windows and evidence come along */
      taken[j] = true;
    } else {
      key_state_init(&keys[i], i);
      free(keys[i].name);
      keys[i].name = xstrdup(names[i]);
    }
    const char *org = expect_organizations ? expect_organizations[i] : NULL;
    free(keys[i].expect_organization);
    keys[i].expect_organization = org && org[0] ? xstrdup(org) : NULL;
  }
  for (size_t j = 0; j < c->n_keys; j++) {
    if (taken[j]) continue;
    free(c->keys[j].name);
    free(c->keys[j].expect_organization);
    for (int k = 0; k < PROBE__COUNT; k++)
      free(c->keys[j].kinds[k]);
  }
  free(taken);
  free(c->keys);
  c->keys = keys;
  c->n_keys = n_keys;
  c->p = *p;
  return 0;
}

int classifier_seed(struct classifier *c, size_t i, enum cause cause, int64_t since_ms,
                    const struct evidence *first_failure) {
  if (!c || i >= c->n_keys || (unsigned)cause >= CAUSE__PROBE_COUNT) return UTIL_EINVAL;
  struct key_state *k = &c->keys[i];
  if (k->known) return UTIL_EINVAL; /* only before the key's first result */
  k->known = true;
  k->seeded = true;
  k->cause = cause;
  if (cause != CAUSE_OK) {
    k->failing_since_ms = since_ms;
    if (first_failure)
      k->first_failure = *first_failure;
    else
      k->first_failure.at_ms = since_ms;
  }
  return 0;
}

int classifier_set_key(struct classifier *c, size_t i, const char *name,
                       const char *expect_organization) {
  if (!c || i >= c->n_keys || !name) return UTIL_EINVAL;
  struct key_state *k = &c->keys[i];
  free(k->name);
  k->name = xstrdup(name);
  free(k->expect_organization);
  k->expect_organization =
      expect_organization && expect_organization[0] ? xstrdup(expect_organization) : NULL;
  return 0;
}

size_t classifier_n_keys(const struct classifier *c) {
  return c ? c->n_keys : 0;
}

const struct key_state *classifier_key(const struct classifier *c, size_t i) {
  return c && i < c->n_keys ? &c->keys[i] : NULL;
}

/* kind_dominant_flaky returns the flaky cause with most results in the window when there are at
 * least fail_after flaky results, else CAUSE_OK. A tie keeps the kind's current cause (so two
 * alternating flaky causes do not flap the key), else the most recent of the tied. */
static enum cause kind_dominant_flaky(const struct classify_kind *ks, int fail_after, int window) {
  int count[CAUSE__COUNT] = {0}, total = 0;
  for (int i = 0; i < ks->n; i++) {
    enum cause x = (enum cause)ks->ring[i];
    if (cause_is_flaky(x)) {
      count[x]++;
      total++;
    }
  }
  if (total < fail_after) return CAUSE_OK;
  int best = 0;
  for (int x = 0; x < CAUSE__COUNT; x++)
    if (count[x] > best) best = count[x];
  if (ks->decided && count[ks->cause] == best) return ks->cause;
  int size = ks->n;
  for (int back = 1; back <= size; back++) { /* newest first */
    int slot = (ks->head - back + window * 2) % window;
    enum cause x = (enum cause)ks->ring[slot];
    if (cause_is_flaky(x) && count[x] == best) return x;
  }
  return CAUSE_OK; /* not reached: total >= fail_after >= 1 */
}

static void kind_push(const struct classify_params *p, struct classify_kind *ks, enum cause cause,
                      const struct evidence *ev) {
  /* The ring holds exactly the last `window` results: slots beyond window are never used. */
  ks->ring[ks->head] = (uint8_t)cause;
  ks->head = (ks->head + 1) % p->window;
  if (ks->n < p->window) ks->n++;

  int recover_after = p->once ? 1 : p->recover_after;
  if (cause == CAUSE_OK) {
    if (ks->good_run == 0) ks->good_start_ms = ev->at_ms;
    ks->good_run++;
    if (!ks->decided) {
      ks->decided = true; /* nothing to recover from: the first ok settles it */
      ks->cause = CAUSE_OK;
    } else if (ks->cause != CAUSE_OK && ks->good_run >= recover_after) {
      ks->cause = CAUSE_OK;
    }
    if (ks->cause == CAUSE_OK && ks->good_run >= recover_after) {
      /* Healthy for a whole recovery run: earlier failures are forgotten, so a new failure is
       * counted, and dated, from its own first probe. */
      ks->has_pending = false;
      ks->n = ks->head = 0;
    }
    return;
  }

  ks->good_run = 0;
  bool failing = ks->decided && ks->cause != CAUSE_OK;
  if (p->once || !cause_is_flaky(cause)) {
    /* A certain cause starts its failure at this very probe, unless the kind is failing
     * already (then the failure goes on and keeps its start). */
    if (!failing || !ks->has_pending) {
      ks->pending = *ev;
      ks->has_pending = true;
    }
    ks->decided = true;
    ks->cause = cause;
    return;
  }
  if (!ks->has_pending) {
    ks->pending = *ev;
    ks->has_pending = true;
  }
  enum cause dominant = kind_dominant_flaky(ks, p->fail_after, p->window);
  if (dominant != CAUSE_OK) {
    ks->decided = true;
    ks->cause = dominant;
  }
}

/* key_recompute sets k->known and k->cause from its kinds; returns the kind the cause comes
 * from (NULL when unavailable or unknown). */
static const struct classify_kind *key_recompute(struct key_state *k) {
  if (k->unavailable) {
    k->known = true;
    k->cause = CAUSE_KEY_UNAVAILABLE;
    return NULL;
  }
  const struct classify_kind *src = NULL;
  for (int i = 0; i < PROBE__COUNT; i++) {
    const struct classify_kind *ks = k->kinds[i];
    if (!ks || !ks->decided) continue;
    if (!src || cause_severity(ks->cause) > cause_severity(src->cause)) src = ks;
  }
  if (!src && k->seeded) return NULL; /* the remembered cause holds until a kind decides */
  k->seeded = false;
  k->known = src != NULL;
  k->cause = src ? src->cause : CAUSE_UNKNOWN;
  return src;
}

/* key_settle compares the key's cause before and after one result (ev, of kind `updated`, or
 * an unavailability when updated is NULL) and fills the transition; failing-since, the
 * first-failure evidence and the recovery time change here only. */
static void key_settle(struct key_state *k, bool old_known, enum cause old,
                       const struct classify_kind *src, const struct classify_kind *updated,
                       bool cleared_unavailable, const struct evidence *ev,
                       struct key_transition *tr) {
  enum cause from = old_known ? old : CAUSE_UNKNOWN;
  enum cause to = k->known ? k->cause : CAUSE_UNKNOWN;
  if (from == to) return;
  bool was_failing = old_known && old != CAUSE_OK;
  bool failing = k->known && k->cause != CAUSE_OK;
  tr->cause_changed = true;
  tr->from = from;
  tr->to = to;
  const struct evidence *use = ev;
  if (failing && !was_failing) {
    if (src && src->has_pending) use = &src->pending; /* its first failing probe */
    k->failing_since_ms = use->at_ms;
    k->first_failure = *use;
    tr->at_ms = use->at_ms;
  } else if (failing) {
    /* Another failing cause: the probe that showed it, else the source kind's first failure. */
    if (ev->cause != to && src && src->has_pending) use = &src->pending;
    tr->at_ms = use->at_ms;
  } else {
    tr->at_ms = ev->at_ms;
    if (was_failing && to == CAUSE_OK && !cleared_unavailable && updated && updated->good_run > 0)
      tr->at_ms = updated->good_start_ms; /* the first good probe of the recovering run */
    if (was_failing) {
      if (to == CAUSE_OK) k->recovered_ms = tr->at_ms;
      k->failing_since_ms = -1;
      evidence_clear(&k->first_failure);
    }
  }
  tr->evidence = *use;
}

bool classifier_observe(struct classifier *c, const struct probe_result *r,
                        struct key_transition *t) {
  if (!c || !r || r->key_index >= c->n_keys || (unsigned)r->kind >= PROBE__COUNT) return false;
  struct key_state *k = &c->keys[r->key_index];
  struct key_transition tr;
  memset(&tr, 0, sizeof(tr));
  tr.key_index = r->key_index;

  struct evidence ev;
  evidence_from_result(&ev, r);
  enum cause cause = (unsigned)r->cause < CAUSE__PROBE_COUNT ? r->cause : CAUSE_UNKNOWN;
  if (cause == CAUSE_OK && k->expect_organization && r->organization_id[0] &&
      strcmp(r->organization_id, k->expect_organization) != 0) {
    cause = CAUSE_PERMISSION;
    snprintf(ev.error_message, sizeof(ev.error_message), "key reports organization %s, expected %s",
             r->organization_id, k->expect_organization);
  }
  ev.cause = cause;

  if (r->organization_id[0]) {
    if (k->organization_id[0] && strcmp(k->organization_id, r->organization_id) != 0) {
      tr.org_changed = true;
      util_copy(tr.old_org, sizeof(tr.old_org), k->organization_id);
      util_copy(tr.new_org, sizeof(tr.new_org), r->organization_id);
    }
    util_copy(k->organization_id, sizeof(k->organization_id), r->organization_id);
  }
  if (r->workspace_id[0]) util_copy(k->workspace_id, sizeof(k->workspace_id), r->workspace_id);
  k->last_probe_ms = r->started_ms;
  k->last = ev;
  if (r->http_status > 0) memcpy(k->ratelimit, r->ratelimit, sizeof(k->ratelimit));
  k->retry_after_s = r->retry_after_s;

  bool old_known = k->known;
  enum cause old = k->cause;
  bool cleared_unavailable = k->unavailable; /* a probe ran, so the secret was read */
  k->unavailable = false;
  if (!k->kinds[r->kind]) k->kinds[r->kind] = xcalloc(1, sizeof(struct classify_kind));
  struct classify_kind *ks = k->kinds[r->kind];
  kind_push(&c->p, ks, cause, &ev);
  const struct classify_kind *src = key_recompute(k);
  key_settle(k, old_known, old, src, ks, cleared_unavailable, &ev, &tr);

  if (t) *t = tr;
  return tr.cause_changed || tr.org_changed;
}

bool classifier_key_unavailable(struct classifier *c, size_t i, int64_t now_ms, const char *why,
                                struct key_transition *t) {
  if (!c || i >= c->n_keys) return false;
  struct key_state *k = &c->keys[i];
  struct key_transition tr;
  memset(&tr, 0, sizeof(tr));
  tr.key_index = (uint32_t)i;
  struct evidence ev;
  evidence_clear(&ev);
  ev.at_ms = now_ms;
  ev.kind = PROBE_MODELS;
  ev.cause = CAUSE_KEY_UNAVAILABLE;
  if (why) util_sanitize(ev.error_message, sizeof(ev.error_message), why, strlen(why));
  bool old_known = k->known;
  enum cause old = k->cause;
  k->unavailable = true;
  k->last = ev;
  key_recompute(k);
  key_settle(k, old_known, old, NULL, NULL, false, &ev, &tr);
  if (t) *t = tr;
  return tr.cause_changed;
}

/* ---- 3. verdict and findings ------------------------------------------------------------- */

/* A growing string for summaries. */
struct sb {
  char *s;
  size_t len, cap;
};

static void sb_printf(struct sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(struct sb *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (b->len + (size_t)n + 1 > b->cap) {
    b->cap = (b->len + (size_t)n + 1) * 2;
    b->s = xrealloc(b->s, b->cap);
  }
  va_start(ap, fmt);
  vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

static char *sb_take(struct sb *b) {
  if (!b->s) return xstrdup("");
  char *s = b->s;
  b->s = NULL;
  b->len = b->cap = 0;
  return s;
}

/* What the status page says about the watched components, as the rules need it. */
struct page_view {
  bool enabled;                           /* a snapshot was given at all */
  bool polled;                            /* a poll was attempted */
  bool reachable;                         /* the last poll succeeded */
  bool has_data;                          /* some data (fresh or remembered) */
  const struct status_snapshot *data;     /* that data, NULL when none */
  int64_t age_ms;                         /* of that data */
  const struct status_incident *incident; /* the worst unresolved watched incident */
  int64_t incident_created_ms;            /* the earliest created_at of those, -1 */
  const struct status_component *bad;     /* a non-operational watched component */
  const struct status_incident *maint;    /* an in-progress maintenance on a watched component */
  const struct status_component *maint_component; /* a watched component under maintenance */
  bool confirms;                                  /* incident or bad component */
  bool in_maint;
  bool green; /* data, and none of the above */
};

static int impact_rank(enum indicator i) {
  switch (i) {
  case INDICATOR_CRITICAL:
    return 4;
  case INDICATOR_MAJOR:
    return 3;
  case INDICATOR_MINOR:
    return 2;
  case INDICATOR_UNKNOWN:
    return 1;
  default:
    return 0;
  }
}

static bool incident_open(const struct status_incident *in) {
  return strcmp(in->status, "resolved") != 0 && strcmp(in->status, "postmortem") != 0 &&
         strcmp(in->status, "completed") != 0;
}

static void page_view_make(struct classifier *c, const struct status_snapshot *sp, int64_t now_ms,
                           struct page_view *pv) {
  memset(pv, 0, sizeof(*pv));
  pv->incident_created_ms = -1;
  if (!sp) return;
  pv->enabled = true;
  pv->reachable = sp->reachable;
  pv->polled = sp->reachable || sp->polled_ms >= 0 || sp->fetched_ms >= 0;
  if (sp->reachable && sp->fetched_ms >= 0 && sp->fetched_ms != c->last_good.fetched_ms) {
    status_snapshot_free(&c->last_good);
    status_snapshot_copy(&c->last_good, sp);
  }
  const struct status_snapshot *d = sp;
  if (!sp->reachable && c->last_good.fetched_ms > sp->fetched_ms) d = &c->last_good;
  if (!(d->reachable || d->fetched_ms >= 0)) return;
  pv->has_data = true;
  pv->data = d;
  pv->age_ms = d->fetched_ms >= 0 && now_ms > d->fetched_ms ? now_ms - d->fetched_ms : 0;

  for (size_t i = 0; i < d->n_incidents; i++) {
    const struct status_incident *in = &d->incidents[i];
    if (!in->affects_watched || !incident_open(in)) continue;
    if (!pv->incident || impact_rank(in->impact) > impact_rank(pv->incident->impact))
      pv->incident = in;
    if (in->created_ms >= 0 &&
        (pv->incident_created_ms < 0 || in->created_ms < pv->incident_created_ms))
      pv->incident_created_ms = in->created_ms;
  }
  for (size_t i = 0; i < d->n_components; i++) {
    const struct status_component *sc = &d->components[i];
    if (!sc->watched) continue;
    if (sc->status == COMPONENT_UNDER_MAINTENANCE) {
      if (!pv->maint_component) pv->maint_component = sc;
    } else if (sc->status != COMPONENT_OPERATIONAL) {
      if (!pv->bad) pv->bad = sc; /* unknown counts: never silently operational */
    }
  }
  for (size_t i = 0; i < d->n_maintenances; i++) {
    const struct status_incident *m = &d->maintenances[i];
    if (!m->affects_watched) continue;
    if (strcmp(m->status, "in_progress") == 0 || strcmp(m->status, "verifying") == 0 ||
        (m->scheduled_for_ms >= 0 && m->scheduled_for_ms <= now_ms &&
         (m->scheduled_until_ms < 0 || now_ms < m->scheduled_until_ms) && incident_open(m) &&
         strcmp(m->status, "scheduled") != 0)) {
      pv->maint = m;
      break;
    }
  }
  pv->confirms = pv->incident || pv->bad;
  pv->in_maint = pv->maint || pv->maint_component;
  pv->green = !pv->confirms && !pv->in_maint;
}

/* When the status page published what it shows: the incident's created_at, else the page's
 * updated_at (a component change moves it), else when we fetched it. */
static int64_t page_published(const struct page_view *pv) {
  if (pv->incident_created_ms >= 0) return pv->incident_created_ms;
  if (pv->data && pv->data->page_updated_ms >= 0) return pv->data->page_updated_ms;
  return pv->data ? pv->data->fetched_ms : -1;
}

static enum indicator component_impact(enum component_status s) {
  switch (s) {
  case COMPONENT_DEGRADED_PERFORMANCE:
    return INDICATOR_MINOR;
  case COMPONENT_PARTIAL_OUTAGE:
    return INDICATOR_MAJOR;
  case COMPONENT_MAJOR_OUTAGE:
    return INDICATOR_CRITICAL;
  case COMPONENT_UNDER_MAINTENANCE:
    return INDICATOR_MAINTENANCE;
  default:
    return INDICATOR_UNKNOWN;
  }
}

/* The page's state as a clause: "the status page is operational". */
static void sb_page(struct sb *b, const struct page_view *pv) {
  if (!pv->enabled) {
    sb_printf(b, "the status page is not watched");
  } else if (!pv->polled) {
    sb_printf(b, "the status page has not been polled yet");
  } else if (!pv->reachable) {
    sb_printf(b, "the status page is unreachable");
  } else if (pv->incident) {
    sb_printf(b, "the status page shows '%s'", pv->incident->name);
  } else if (pv->bad) {
    sb_printf(b, "the status page shows %s as %s", pv->bad->name,
              component_status_name(pv->bad->status));
  } else if (pv->in_maint) {
    sb_printf(b, "a scheduled maintenance is in progress on the status page");
  } else {
    sb_printf(b, "the status page is operational");
  }
}

/* A probe's evidence as a short parenthesis: "401 invalid x-api-key", "HTTP 502 without a
 * request-id", "Could not resolve host: api.anthropic.com". */
static void sb_evidence(struct sb *b, const struct evidence *e) {
  char msg[168];
  util_copy(msg, sizeof(msg), e->error_message);
  if (strlen(e->error_message) >= sizeof(msg)) memcpy(msg + sizeof(msg) - 4, "...", 4);
  if (e->cause == CAUSE_KEY_UNAVAILABLE ||
      (e->cause == CAUSE_PERMISSION && msg[0] && e->http_status >= 200 && e->http_status <= 299)) {
    sb_printf(b, "%s", msg[0] ? msg : "secret unavailable");
  } else if (e->http_status > 0) {
    if (msg[0])
      sb_printf(b, "%d %s", e->http_status, msg);
    else if (e->error_type[0])
      sb_printf(b, "%d %s", e->http_status, e->error_type);
    else if (e->http_status >= 200 && e->http_status <= 299)
      sb_printf(b, "HTTP %d with an unexpected body", e->http_status);
    else if (!e->request_id[0])
      sb_printf(b, "HTTP %d without a request-id", e->http_status);
    else
      sb_printf(b, "HTTP %d", e->http_status);
  } else if (e->curl_error[0]) {
    sb_printf(b, "%s", e->curl_error);
  } else if (e->cause == CAUSE_TIMEOUT) {
    sb_printf(b, "no answer within the timeout");
  } else {
    sb_printf(b, "no answer");
  }
}

/* The evidence that shows a key's current cause best: its first failing probe when that had
 * the cause, else its last result. */
static const struct evidence *key_evidence(const struct key_state *k) {
  if (k->first_failure.at_ms >= 0 && k->first_failure.cause == k->cause) return &k->first_failure;
  if (k->last.cause == k->cause) return &k->last;
  return k->first_failure.at_ms >= 0 ? &k->first_failure : &k->last;
}

static void sb_names(struct sb *b, const struct classifier *c, const uint32_t *keys, size_t n) {
  size_t shown = n > 5 ? 5 : n;
  for (size_t i = 0; i < shown; i++) {
    if (i > 0) sb_printf(b, i + 1 == shown && shown == n ? " and " : ", ");
    sb_printf(b, "'%s'", c->keys[keys[i]].name);
  }
  if (n > shown) sb_printf(b, " and %zu more", n - shown);
}

/* "Key 'a'" or "Keys 'a' and 'b'". */
static void sb_subject(struct sb *b, const struct classifier *c, const uint32_t *keys, size_t n) {
  sb_printf(b, n == 1 ? "Key " : "Keys ");
  sb_names(b, c, keys, n);
}

/* "all 4 keys", "3 of 4 keys", "key 'prod'" (the only one with a result). */
static void sb_count(struct sb *b, const struct classifier *c, const uint32_t *keys, size_t n,
                     size_t n_known) {
  if (n == 1 && n_known == 1)
    sb_printf(b, "key '%s'", c->keys[keys[0]].name);
  else if (n == n_known && n == 2)
    sb_printf(b, "both keys");
  else if (n == n_known)
    sb_printf(b, "all %zu keys", n);
  else
    sb_printf(b, "%zu of %zu keys", n, n_known);
}

/* Per cause, what a key "is" (singular, plural). */
static const char *cause_verb(enum cause c, bool plural) {
  switch (c) {
  case CAUSE_AUTH_INVALID:
    return plural ? "are rejected" : "is rejected";
  case CAUSE_PERMISSION:
    return plural ? "are denied permission" : "is denied permission";
  case CAUSE_QUOTA:
    return plural ? "are out of credit or over a spend limit"
                  : "is out of credit or over a spend limit";
  case CAUSE_ACCOUNT_DISABLED:
    return plural ? "belong to a disabled organization" : "belongs to a disabled organization";
  case CAUSE_RATE_LIMITED:
    return plural ? "are rate limited" : "is rate limited";
  case CAUSE_REQUEST_INVALID:
    return plural ? "have their requests refused as invalid"
                  : "has its requests refused as invalid";
  case CAUSE_KEY_UNAVAILABLE:
    return plural ? "have secrets that cannot be read" : "has a secret that cannot be read";
  case CAUSE_OVERLOADED:
    return plural ? "get overloaded answers" : "gets overloaded answers";
  case CAUSE_SERVER_ERROR:
    return plural ? "get server errors" : "gets server errors";
  case CAUSE_EDGE_ERROR:
    return plural ? "get answers that did not come from the API"
                  : "gets answers that did not come from the API";
  case CAUSE_TIMEOUT:
    return plural ? "time out" : "times out";
  case CAUSE_NETWORK:
    return "cannot reach the API"; /* the same verb in the singular and the plural */
  default:
    return plural ? "get answers claudemon does not recognise"
                  : "gets an answer claudemon does not recognise";
  }
}

/* A growing list of findings. */
struct flist {
  struct finding *v;
  size_t n, cap;
};

static struct finding *flist_add(struct flist *l, enum scope scope, enum cause cause,
                                 const uint32_t *keys, size_t n_keys) {
  if (l->n == l->cap) {
    l->cap = l->cap ? l->cap * 2 : 8;
    l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
  }
  struct finding *f = &l->v[l->n++];
  memset(f, 0, sizeof(*f));
  f->scope = scope;
  f->cause = cause;
  f->advice = cause_advice(cause);
  f->impact = INDICATOR_NONE;
  f->since_ms = -1;
  if (n_keys) {
    f->keys = xmalloc(n_keys * sizeof(*f->keys));
    memcpy(f->keys, keys, n_keys * sizeof(*f->keys));
    f->n_keys = n_keys;
  }
  return f;
}

static void finding_free(struct finding *f) {
  free(f->keys);
  free(f->summary);
  f->keys = NULL;
  f->summary = NULL;
}

/* finding_keys_evidence fills the examples and since_ms from the finding's keys. */
static void finding_keys_evidence(struct finding *f, const struct classifier *c) {
  for (size_t i = 0; i < f->n_keys; i++) {
    const struct key_state *k = &c->keys[f->keys[i]];
    if (f->n_evidence < CLASSIFY_EXAMPLES) {
      f->evidence[f->n_evidence] = *key_evidence(k);
      f->evidence_keys[f->n_evidence] = f->keys[i];
      f->n_evidence++;
    }
    if (k->failing_since_ms >= 0 && (f->since_ms < 0 || k->failing_since_ms < f->since_ms))
      f->since_ms = k->failing_since_ms;
  }
}

static void finding_incident(struct finding *f, const struct status_incident *in) {
  util_copy(f->incident_id, sizeof(f->incident_id), in->id);
  util_copy(f->incident_name, sizeof(f->incident_name), in->name);
  util_copy(f->incident_link, sizeof(f->incident_link), in->shortlink);
  f->impact = in->impact;
}

/* What the judge counts of the keys. */
struct key_sets {
  uint32_t *ok;                     /* healthy keys, in key order */
  size_t n_ok, n_known, n_platform; /* n_platform: overloaded or server_error */
};

static int scope_rank(enum scope s) {
  switch (s) {
  case SCOPE_PLATFORM:
    return 3;
  case SCOPE_NETWORK:
    return 2;
  case SCOPE_LOCAL:
    return 1;
  default:
    return 0;
  }
}

static int finding_cmp(const void *a, const void *b) {
  const struct finding *x = a, *y = b;
  if (scope_rank(x->scope) != scope_rank(y->scope))
    return scope_rank(y->scope) - scope_rank(x->scope);
  if (x->n_keys != y->n_keys) return x->n_keys > y->n_keys ? -1 : 1;
  if (cause_severity(x->cause) != cause_severity(y->cause))
    return cause_severity(y->cause) - cause_severity(x->cause);
  uint32_t kx = x->n_keys ? x->keys[0] : UINT32_MAX, ky = y->n_keys ? y->keys[0] : UINT32_MAX;
  if (kx != ky) return kx < ky ? -1 : 1;
  return (int)x->cause - (int)y->cause;
}

/* The cause most of these keys have; a tie goes to the first in `order`. */
static enum cause dominant_cause(const struct classifier *c, const uint32_t *keys, size_t n,
                                 const enum cause *order, size_t n_order) {
  enum cause best = order[0];
  size_t best_n = 0;
  for (size_t o = 0; o < n_order; o++) {
    size_t cnt = 0;
    for (size_t i = 0; i < n; i++)
      if (c->keys[keys[i]].cause == order[o]) cnt++;
    if (cnt > best_n) {
      best_n = cnt;
      best = order[o];
    }
  }
  return best;
}

static void add_platform_finding(struct flist *l, const struct classifier *c,
                                 const struct page_view *pv, const uint32_t *keys, size_t n,
                                 size_t n_known) {
  static const enum cause order[] = {CAUSE_SERVER_ERROR, CAUSE_OVERLOADED, CAUSE_TIMEOUT,
                                     CAUSE_EDGE_ERROR};
  enum cause cause = pv->confirms   ? CAUSE_INCIDENT
                     : pv->in_maint ? CAUSE_MAINTENANCE
                                    : dominant_cause(c, keys, n, order, UTIL_ARRAY_LEN(order));
  struct finding *f = flist_add(l, SCOPE_PLATFORM, cause, keys, n);
  finding_keys_evidence(f, c);
  struct sb b = {0};
  char age[32];
  util_format_duration(age, sizeof(age), pv->age_ms);
  bool one = n == 1;
  if (cause == CAUSE_INCIDENT && pv->incident) {
    finding_incident(f, pv->incident);
    sb_printf(&b, "The status page %s '%s' (%s impact", pv->reachable ? "reports" : "reported",
              pv->incident->name, indicator_name(pv->incident->impact));
    if (pv->incident->shortlink[0]) sb_printf(&b, ", %s", pv->incident->shortlink);
    sb_printf(&b, ")");
    if (!pv->reachable) sb_printf(&b, " at its last successful poll %s ago", age);
  } else if (cause == CAUSE_INCIDENT && pv->bad) { /* confirms: an incident or a bad component */
    util_copy(f->incident_name, sizeof(f->incident_name), pv->bad->name);
    f->impact = component_impact(pv->bad->status);
    sb_printf(&b, "The status page %s %s as %s", pv->reachable ? "shows" : "showed", pv->bad->name,
              component_status_name(pv->bad->status));
    if (!pv->reachable) sb_printf(&b, " at its last successful poll %s ago", age);
  } else if (cause == CAUSE_MAINTENANCE) {
    if (pv->maint) {
      finding_incident(f, pv->maint);
      sb_printf(&b, "The scheduled maintenance '%s' is in progress", pv->maint->name);
    } else {
      util_copy(f->incident_name, sizeof(f->incident_name), pv->maint_component->name);
      f->impact = INDICATOR_MAINTENANCE;
      sb_printf(&b, "%s is under scheduled maintenance", pv->maint_component->name);
    }
  }
  if (cause == CAUSE_INCIDENT || cause == CAUSE_MAINTENANCE) {
    sb_printf(&b, " and ");
    sb_count(&b, c, keys, n, n_known);
    sb_printf(&b, " %s platform-side (", one ? "fails" : "fail");
    sb_evidence(&b, &f->evidence[0]);
    if (cause == CAUSE_MAINTENANCE)
      sb_printf(&b, "): expect errors until it ends; there is nothing to fix on our side.");
    else
      sb_printf(&b, "): wait for the platform; there is nothing to fix on our side.");
  } else {
    char cap[160];
    struct sb cnt = {0};
    sb_count(&cnt, c, keys, n, n_known);
    util_copy(cap, sizeof(cap), cnt.s);
    free(cnt.s);
    if (cap[0] >= 'a' && cap[0] <= 'z') cap[0] = (char)(cap[0] - 'a' + 'A');
    sb_printf(&b, "%s %s platform-side%s (", cap, one ? "fails" : "fail",
              one ? "" : " at the same time");
    sb_evidence(&b, &f->evidence[0]);
    sb_printf(&b, ") while ");
    if (pv->enabled && pv->polled && pv->reachable)
      sb_printf(&b, "the status page shows no incident yet");
    else
      sb_page(&b, pv);
    sb_printf(&b, ": a platform incident, declared before the status page confirms it.");
  }
  f->summary = sb_take(&b);
}

static void add_network_finding(struct flist *l, const struct classifier *c,
                                const struct page_view *pv, const uint32_t *keys, size_t n,
                                size_t n_known) {
  static const enum cause order[] = {CAUSE_NETWORK, CAUSE_EDGE_ERROR, CAUSE_TIMEOUT};
  enum cause cause = dominant_cause(c, keys, n, order, UTIL_ARRAY_LEN(order));
  struct finding *f = flist_add(l, SCOPE_NETWORK, cause, keys, n);
  finding_keys_evidence(f, c);
  struct sb b = {0}, cnt = {0};
  sb_count(&cnt, c, keys, n, n_known);
  if (cnt.s[0] >= 'a' && cnt.s[0] <= 'z') cnt.s[0] = (char)(cnt.s[0] - 'a' + 'A');
  sb_printf(&b, "%s %s at transport level (", cnt.s, n == 1 ? "fails" : "fail");
  free(cnt.s);
  sb_evidence(&b, &f->evidence[0]);
  if (pv->enabled && pv->polled && !pv->reachable)
    sb_printf(&b, ") and the status page is unreachable too: the problem is this host's network "
                  "path (DNS, proxy, firewall), not the platform.");
  else if (pv->enabled && pv->reachable && !pv->green) {
    sb_printf(&b, ") although ");
    sb_page(&b, pv);
    sb_printf(&b, ": not reaching the API at all is this host's network path (DNS, proxy, "
                  "firewall), not the platform.");
  } else if (pv->enabled && pv->reachable)
    sb_printf(&b, ") while the status page answers and shows no incident: the problem is the "
                  "network path to the API (proxy, firewall, DNS), not the platform.");
  else
    sb_printf(&b, "): the problem is this host's network path to the API, not the platform as "
                  "far as can be seen.");
  f->summary = sb_take(&b);
}

/* What a local finding's summary says about the keys outside it. */
struct judge_ctx {
  const struct page_view *pv;
  size_t n_known;    /* keys with a settled cause */
  size_t n_ok;       /* healthy keys */
  size_t n_platform; /* keys in the platform finding */
  size_t n_network;  /* keys in the network finding */
};

/* "3 other keys are healthy and the status page is operational" for a group of n failing keys
 * that are not in the platform or network finding. */
static void sb_others(struct sb *b, const struct classifier *c, size_t n,
                      const struct judge_ctx *jx) {
  size_t others = jx->n_known - n;
  if (others == 0 && c->n_keys == 1)
    sb_printf(b, "it is the only key configured");
  else if (others == 0)
    sb_printf(b, "no other key has a result yet");
  else if (jx->n_ok == others)
    sb_printf(b, "%zu other key%s %s healthy", others, others == 1 ? "" : "s",
              others == 1 ? "is" : "are");
  else if (jx->n_platform == others)
    sb_printf(b, "%zu other key%s fail%s platform-side", others, others == 1 ? "" : "s",
              others == 1 ? "s" : "");
  else if (jx->n_network == others)
    sb_printf(b, "%zu other key%s fail%s at transport level", others, others == 1 ? "" : "s",
              others == 1 ? "s" : "");
  else if (jx->n_ok)
    sb_printf(b, "%zu of %zu other keys %s healthy", jx->n_ok, others,
              jx->n_ok == 1 ? "is" : "are");
  else
    sb_printf(b, "no other key is healthy");
  sb_printf(b, " and ");
  sb_page(b, jx->pv);
}

/* The example of a group: "401 invalid x-api-key" for one key, "'a': 401 invalid x-api-key"
 * for several. */
static void sb_example(struct sb *b, const struct classifier *c, const struct finding *f) {
  if (f->n_keys > 1) sb_printf(b, "'%s': ", c->keys[f->evidence_keys[0]].name);
  sb_evidence(b, &f->evidence[0]);
}

/* Local findings of one cause: one per whole organization when every key of it shares an
 * organization-level cause (quota, rate limit, disabled), and one for the remaining keys. */
/* Keys by organization, to find whole organizations without comparing every pair. */
struct org_key {
  const char *org;
  uint32_t key;
  size_t pos; /* in the group being judged */
};

static int org_key_cmp(const void *a, const void *b) {
  const struct org_key *x = a, *y = b;
  int r = strcmp(x->org, y->org);
  if (r) return r;
  return x->key < y->key ? -1 : x->key > y->key;
}

static void add_org_finding(struct flist *l, const struct classifier *c, const struct judge_ctx *jx,
                            enum cause cause, const char *org, const uint32_t *keys, size_t n) {
  struct finding *f = flist_add(l, SCOPE_LOCAL, cause, keys, n);
  util_copy(f->organization_id, sizeof(f->organization_id), org);
  finding_keys_evidence(f, c);
  struct sb b = {0};
  if (n == 2)
    sb_printf(&b, "Both keys of organization %s %s (", org, cause_verb(cause, true));
  else
    sb_printf(&b, "All %zu keys of organization %s %s (", n, org, cause_verb(cause, true));
  sb_example(&b, c, f);
  sb_printf(&b, "); ");
  sb_others(&b, c, n, jx);
  if (cause == CAUSE_RATE_LIMITED)
    sb_printf(&b, ": the organization's rate limits are used up by its traffic as a whole, "
                  "not one key and not the platform.");
  else
    sb_printf(&b, ": the problem is the organization's account, not the keys and not the "
                  "platform.");
  f->summary = sb_take(&b);
}

/* Local findings of one cause (keys in key order): one per whole organization when every key
 * of it with a settled cause shares an organization-level cause (quota, rate limit, disabled),
 * and one for the remaining keys. */
static void add_local_group(struct flist *l, const struct classifier *c, const struct judge_ctx *jx,
                            enum cause cause, const uint32_t *keys, size_t n) {
  bool *done = xcalloc(n + 1, sizeof(*done));
  uint32_t *rest = xmalloc(n * sizeof(*rest) + 1);
  size_t n_rest = 0;

  if (cause == CAUSE_QUOTA || cause == CAUSE_RATE_LIMITED || cause == CAUSE_ACCOUNT_DISABLED) {
    struct org_key *g = xmalloc(n * sizeof(*g) + 1);
    struct org_key *all = xmalloc(c->n_keys * sizeof(*all) + 1);
    size_t ng = 0, na = 0;
    for (size_t i = 0; i < n; i++)
      if (c->keys[keys[i]].organization_id[0])
        g[ng++] = (struct org_key){c->keys[keys[i]].organization_id, keys[i], i};
    for (size_t k = 0; k < c->n_keys; k++)
      if (c->keys[k].known && c->keys[k].organization_id[0])
        all[na++] = (struct org_key){c->keys[k].organization_id, (uint32_t)k, 0};
    if (ng > 1) qsort(g, ng, sizeof(*g), org_key_cmp);
    if (na > 1) qsort(all, na, sizeof(*all), org_key_cmp);
    size_t pa = 0;
    for (size_t s0 = 0, e0; s0 < ng; s0 = e0) {
      const char *org = g[s0].org;
      for (e0 = s0 + 1; e0 < ng && strcmp(g[e0].org, org) == 0; e0++)
        ;
      while (pa < na && strcmp(all[pa].org, org) < 0)
        pa++;
      size_t siblings = 0;
      while (pa + siblings < na && strcmp(all[pa + siblings].org, org) == 0)
        siblings++;
      size_t run = e0 - s0;
      if (run < 2 || run != siblings) continue;
      for (size_t i = s0; i < e0; i++) {
        rest[i - s0] = g[i].key; /* borrowed as scratch: sorted by key within the org */
        done[g[i].pos] = true;
      }
      add_org_finding(l, c, jx, cause, org, rest, run);
    }
    free(g);
    free(all);
  }
  for (size_t i = 0; i < n; i++)
    if (!done[i]) rest[n_rest++] = keys[i];

  if (n_rest) {
    struct finding *f = flist_add(l, SCOPE_LOCAL, cause, rest, n_rest);
    finding_keys_evidence(f, c);
    bool plural = n_rest > 1;
    struct sb b = {0};
    sb_subject(&b, c, rest, n_rest);
    sb_printf(&b, " %s (", cause_verb(cause, plural));
    sb_example(&b, c, f);
    sb_printf(&b, "); ");

    /* A single rate-limited key whose organization's other keys are fine: its own workspace or
     * traffic, not the organization's limit. */
    const char *org = c->keys[rest[0]].organization_id;
    size_t org_ok = 0;
    if (!plural && org[0])
      for (size_t k = 0; k < c->n_keys; k++)
        if (k != rest[0] && c->keys[k].known && c->keys[k].cause == CAUSE_OK &&
            strcmp(c->keys[k].organization_id, org) == 0)
          org_ok++;
    if (cause == CAUSE_RATE_LIMITED && org_ok) {
      sb_printf(&b, "%zu other key%s of its organization %s fine and ", org_ok,
                org_ok == 1 ? "" : "s", org_ok == 1 ? "is" : "are");
      sb_page(&b, jx->pv);
    } else {
      sb_others(&b, c, n_rest, jx);
    }

    const char *these = plural ? "these keys" : "this key";
    switch (cause) {
    case CAUSE_RATE_LIMITED:
      if (org_ok)
        sb_printf(&b, ": its workspace's rate limit or its own traffic, not the organization's "
                      "limits and not the platform.");
      else
        sb_printf(&b,
                  ": %s traffic or %s workspace's or organization's limits, not the "
                  "platform.",
                  plural ? "their" : "its", plural ? "their" : "its");
      break;
    case CAUSE_QUOTA:
    case CAUSE_ACCOUNT_DISABLED:
      sb_printf(&b,
                ": the problem is %s account (organization or workspace), not the "
                "platform.",
                plural ? "their" : "this key's");
      break;
    case CAUSE_OVERLOADED:
    case CAUSE_SERVER_ERROR:
      sb_printf(&b, ": not platform-wide; watch whether other keys follow.");
      break;
    case CAUSE_TIMEOUT:
    case CAUSE_NETWORK:
    case CAUSE_EDGE_ERROR:
      sb_printf(&b, ": a problem on %s path or a passing one, not the platform.",
                plural ? "these keys'" : "this key's");
      break;
    default:
      if (jx->n_platform)
        sb_printf(&b, ": the problem is %s, apart from the platform incident.", these);
      else
        sb_printf(&b, ": the problem is %s, not the platform.", these);
      break;
    }
    f->summary = sb_take(&b);
  }
  free(rest);
  free(done);
}

/* The keys (all in key order) to local findings, one group per cause. */
static void add_local_findings(struct flist *l, const struct classifier *c,
                               const struct judge_ctx *jx, const uint32_t *keys, size_t n) {
  uint32_t *grp = xmalloc(n * sizeof(*grp) + 1);
  for (int cause = 0; cause < CAUSE__PROBE_COUNT; cause++) {
    if (cause == CAUSE_OK) continue;
    size_t ng = 0;
    for (size_t i = 0; i < n; i++)
      if ((int)c->keys[keys[i]].cause == cause) grp[ng++] = keys[i];
    if (ng) add_local_group(l, c, jx, (enum cause)cause, grp, ng);
  }
  free(grp);
}

static void summary_all_well(struct finding *f, const struct classifier *c,
                             const struct page_view *pv, const struct key_sets *ks) {
  struct sb b = {0};
  if (ks->n_known == 0) {
    sb_printf(&b, "No key has a result yet; ");
  } else if (ks->n_known == 1 && c->n_keys == 1) {
    sb_printf(&b, "Key '%s' is healthy and ", c->keys[ks->ok[0]].name);
  } else if (ks->n_known == c->n_keys && ks->n_known == 2) {
    sb_printf(&b, "Both keys are healthy and ");
  } else if (ks->n_known == c->n_keys) {
    sb_printf(&b, "All %zu keys are healthy and ", ks->n_known);
  } else {
    sb_printf(&b, "All %zu keys with results are healthy (%zu not probed yet) and ", ks->n_known,
              c->n_keys - ks->n_known);
  }
  sb_page(&b, pv);
  if (pv->confirms && ks->n_known) sb_printf(&b, ", but the probes see nothing of it");
  sb_printf(&b, ".");
  f->summary = sb_take(&b);
}

static int key_index_cmp(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

int classifier_judge(struct classifier *c, const struct status_snapshot *sp, int64_t now_ms,
                     struct judgement *out) {
  if (!c || !out) return UTIL_EINVAL;
  memset(out, 0, sizeof(*out));
  out->at_ms = now_ms;

  struct page_view pv;
  page_view_make(c, sp, now_ms, &pv);

  /* Count the keys; the healthy ones are named in the all-is-well summary. */
  size_t nk = c->n_keys;
  struct key_sets ks = {0};
  ks.ok = xmalloc(nk * sizeof(*ks.ok) + 1);
  for (size_t i = 0; i < nk; i++) {
    const struct key_state *k = &c->keys[i];
    if (!k->known) continue;
    ks.n_known++;
    if (k->cause == CAUSE_OK) ks.ok[ks.n_ok++] = (uint32_t)i;
    if (k->cause == CAUSE_OVERLOADED || k->cause == CAUSE_SERVER_ERROR) ks.n_platform++;
  }
  out->n_keys_known = ks.n_known;
  out->n_keys_ok = ks.n_ok;

  /* Platform side: overloaded and server errors always; timeouts when another key shows a
   * platform cause or the page confirms; edge errors only when the page confirms. */
  bool timeout_platform = ks.n_platform > 0 || pv.confirms || pv.in_maint;
  bool edge_platform = pv.confirms || pv.in_maint;
  uint32_t *P = xmalloc(nk * sizeof(*P) + 1), *T = xmalloc(nk * sizeof(*T) + 1);
  uint32_t *L = xmalloc(nk * sizeof(*L) + 1);
  size_t nP = 0, nT = 0, nL = 0;
  for (size_t i = 0; i < nk; i++) {
    const struct key_state *k = &c->keys[i];
    if (!k->known || k->cause == CAUSE_OK) continue;
    uint32_t id = (uint32_t)i;
    if (k->cause == CAUSE_OVERLOADED || k->cause == CAUSE_SERVER_ERROR ||
        (k->cause == CAUSE_TIMEOUT && timeout_platform) ||
        (k->cause == CAUSE_EDGE_ERROR && edge_platform))
      P[nP++] = id;
    else if (k->cause == CAUSE_TIMEOUT || k->cause == CAUSE_EDGE_ERROR || k->cause == CAUSE_NETWORK)
      T[nT++] = id;
    else
      L[nL++] = id;
  }
  size_t required = nk == 1 ? 1 : 2;
  double need = c->p.quorum * (double)ks.n_known - 1e-9;
  bool quorum_met = nP >= required && (double)nP >= need;
  bool platform = nP > 0 && (pv.confirms || pv.in_maint || quorum_met);
  bool network = nT >= required && (double)nT >= need;

  struct flist keyf = {0};
  if (platform)
    add_platform_finding(&keyf, c, &pv, P, nP, ks.n_known);
  else
    for (size_t i = 0; i < nP; i++)
      L[nL++] = P[i];
  if (network)
    add_network_finding(&keyf, c, &pv, T, nT, ks.n_known);
  else
    for (size_t i = 0; i < nT; i++)
      L[nL++] = T[i];
  if (nL > 1) qsort(L, nL, sizeof(*L), key_index_cmp); /* groups list their keys in order */
  struct judge_ctx jx = {&pv, ks.n_known, ks.n_ok, platform ? nP : 0, network ? nT : 0};
  add_local_findings(&keyf, c, &jx, L, nL);
  if (keyf.n > 1) qsort(keyf.v, keyf.n, sizeof(*keyf.v), finding_cmp);

  /* The verdict is the key finding that matters most; the rest are findings. */
  struct flist rest = {0};
  if (keyf.n) {
    out->verdict = keyf.v[0];
    for (size_t i = 1; i < keyf.n; i++) {
      struct finding *f = flist_add(&rest, SCOPE_NONE, CAUSE_OK, NULL, 0);
      *f = keyf.v[i];
    }
  } else {
    memset(&out->verdict, 0, sizeof(out->verdict));
    out->verdict.scope = SCOPE_NONE;
    out->verdict.cause = CAUSE_OK;
    out->verdict.advice = cause_advice(CAUSE_OK);
    out->verdict.impact = INDICATOR_NONE;
    out->verdict.since_ms = -1;
    summary_all_well(&out->verdict, c, &pv, &ks);
  }
  free(keyf.v);

  /* Findings about the status page itself. */
  if (pv.enabled && pv.polled && !pv.reachable) {
    if (c->page_unreachable_since_ms < 0) c->page_unreachable_since_ms = now_ms;
    if (!network) {
      struct finding *f = flist_add(&rest, SCOPE_NETWORK, CAUSE_STATUS_PAGE_UNREACHABLE, NULL, 0);
      f->since_ms = c->page_unreachable_since_ms;
      struct sb b = {0};
      bool answers = ks.n_known > nT;
      sb_printf(&b, "The status page could not be fetched");
      if (sp->error[0]) sb_printf(&b, " (%s)", sp->error);
      if (answers) sb_printf(&b, " while the API answers");
      if (pv.has_data) {
        char age[32];
        util_format_duration(age, sizeof(age), pv.age_ms);
        sb_printf(&b, "; its last good data is %s old", age);
        if (pv.incident) {
          sb_printf(&b, " and still showed '%s' unresolved", pv.incident->name);
          finding_incident(f, pv.incident);
        }
      } else {
        sb_printf(&b, "; no data has been fetched yet");
      }
      sb_printf(&b, ". This is not an incident: probes go on.");
      f->summary = sb_take(&b);
    }
  } else {
    c->page_unreachable_since_ms = -1;
  }

  bool probe_mismatch = platform && !pv.confirms && !pv.in_maint && pv.reachable && pv.has_data;
  if (probe_mismatch) {
    if (c->probe_mismatch_since_ms < 0) c->probe_mismatch_since_ms = now_ms;
    int64_t lasted = now_ms - c->probe_mismatch_since_ms;
    if (lasted >= c->p.mismatch_after_ms && !c->p.once) {
      struct finding *f = flist_add(&rest, SCOPE_PLATFORM, CAUSE_STATUS_MISMATCH, P, nP);
      finding_keys_evidence(f, c);
      f->since_ms = c->probe_mismatch_since_ms;
      char d[32];
      util_format_duration(d, sizeof(d), lasted);
      struct sb b = {0};
      sb_printf(&b, "The probes have failed platform-side for %s (", d);
      sb_count(&b, c, P, nP, ks.n_known);
      sb_printf(&b, ", ");
      sb_evidence(&b, &f->evidence[0]);
      sb_printf(&b, ") but the status page still shows no incident on a watched component: "
                    "compare the evidence with the status page before acting.");
      f->summary = sb_take(&b);
    }
  } else {
    c->probe_mismatch_since_ms = -1;
  }

  bool page_mismatch = pv.confirms && pv.reachable && nP == 0 && ks.n_ok > 0;
  if (page_mismatch) {
    if (c->page_mismatch_since_ms < 0) c->page_mismatch_since_ms = now_ms;
    int64_t lasted = now_ms - c->page_mismatch_since_ms;
    if (lasted >= c->p.mismatch_after_ms && !c->p.once) {
      struct finding *f = flist_add(&rest, SCOPE_PLATFORM, CAUSE_STATUS_MISMATCH, NULL, 0);
      f->since_ms = c->page_mismatch_since_ms;
      char d[32];
      util_format_duration(d, sizeof(d), lasted);
      struct sb b = {0};
      if (pv.incident) {
        finding_incident(f, pv.incident);
        sb_printf(&b,
                  "The status page has reported '%s' (%s impact) on a watched component for "
                  "at least %s, ",
                  pv.incident->name, indicator_name(pv.incident->impact), d);
      } else {
        util_copy(f->incident_name, sizeof(f->incident_name), pv.bad->name);
        f->impact = component_impact(pv.bad->status);
        sb_printf(&b, "The status page has shown %s as %s for at least %s, ", pv.bad->name,
                  component_status_name(pv.bad->status), d);
      }
      if (ks.n_ok == ks.n_known)
        sb_printf(&b, "but all %zu keys are healthy", ks.n_ok);
      else
        sb_printf(&b, "but %zu of %zu keys are healthy and none fails platform-side", ks.n_ok,
                  ks.n_known);
      sb_printf(&b, ": the incident may not touch what the probes use; compare before acting.");
      f->summary = sb_take(&b);
    }
  } else {
    c->page_mismatch_since_ms = -1;
  }

  if (rest.n > 1) qsort(rest.v, rest.n, sizeof(*rest.v), finding_cmp);
  out->findings = rest.v;
  out->n_findings = rest.n;

  /* The platform incident we declared, and how far ahead of the page we were. */
  if (platform) {
    if (!c->incident_active) {
      c->incident_active = true;
      c->declared_ms = now_ms;
      c->published_ms = -1;
      c->has_lead = false;
    }
    if (c->published_ms < 0 && pv.confirms) {
      c->published_ms = page_published(&pv);
      if (c->published_ms >= 0) {
        c->has_lead = true;
        c->lead_ms = c->published_ms - c->declared_ms;
      }
    }
  } else {
    c->incident_active = false;
  }
  out->platform_incident = c->incident_active;
  out->declared_ms = c->declared_ms;
  out->page_published_ms = c->published_ms;
  out->has_lead = c->has_lead;
  out->lead_ms = c->has_lead ? c->lead_ms : 0;

  free(P);
  free(T);
  free(L);
  free(ks.ok);
  return 0;
}

void judgement_add_dns_interception(struct judgement *j, const struct classifier *c,
                                    const uint32_t *keys, size_t n_keys, const char *peer) {
  if (!j || !c || n_keys == 0) return;
  struct finding f;
  memset(&f, 0, sizeof(f));
  f.scope = SCOPE_NETWORK;
  f.cause = CAUSE_DNS_INTERCEPTION;
  f.keys = xmalloc(n_keys * sizeof(*f.keys));
  memcpy(f.keys, keys, n_keys * sizeof(*f.keys));
  f.n_keys = n_keys;
  const struct key_state *k = classifier_key(c, keys[0]);
  f.summary = xasprintf("api.anthropic.com answered key '%s'%s from %s, outside Anthropic's "
                        "published addresses: DNS or a transparent proxy on this host's path "
                        "redirects API traffic.",
                        k && k->name ? k->name : "?", n_keys > 1 ? " and others" : "",
                        peer && *peer ? peer : "an unknown address");
  f.advice = cause_advice(CAUSE_DNS_INTERCEPTION);
  f.impact = INDICATOR_NONE;
  f.since_ms = j->at_ms;
  j->findings = xrealloc(j->findings, (j->n_findings + 1) * sizeof(*j->findings));
  j->findings[j->n_findings++] = f;
}

void judgement_free(struct judgement *j) {
  if (!j) return;
  finding_free(&j->verdict);
  for (size_t i = 0; i < j->n_findings; i++)
    finding_free(&j->findings[i]);
  free(j->findings);
  memset(j, 0, sizeof(*j));
}
