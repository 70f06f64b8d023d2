/* daemon.c — `claudemon run`: owns the loop and glues the modules onto it.
 *
 *   sched fires (key, kind) ─► probe_start ─► on_probe: classify_probe, sched_done,
 *       classifier_observe ─► transition? store + log ─► metrics, store_enqueue_probe
 *   status timer ─► poller ─► on_status: metrics, store_enqueue_status
 *   judge timer (1 s, when something changed, and every 10 s) ─► classifier_judge ─►
 *       metrics, verdict history, alerts_update (once ready: every key probed once)
 *   alert timer ─► alerts_due per receiver ─► fetch POST ─► alerts_sent, metrics
 *   flush timer (100 ms) ─► store_flush; maintain timer ─► store_maintain
 *   httpd ─► /metrics, /api/v1/..., /-/healthy, /-/ready
 *
 * Never blocks the loop: every transfer goes through fetch, SQLite writes are batched
 * (one transaction per flush, busy timeout of a few ms). Secrets: each key is read from its
 * variable or file at start (and retried while unavailable), registered with the log
 * redactor, handed to probe_start and wiped at exit; only its fingerprint and hint reach
 * the store. Shutdown (SIGTERM/SIGINT): stop scheduling, give in-flight probes a short
 * grace, flush every queued row, close every handle; uv_loop_close() must return 0. */
#include "agent/daemon.h"
#include "agent/classify.h"
#include "agent/fetch.h"
#include "agent/log.h"
#include "agent/poller.h"
#include "agent/probe.h"
#include "agent/report.h"
#include "agent/sched.h"
#include "agent/util.h"
#include "exporters/alert.h"
#include "exporters/httpd.h"
#include "exporters/metrics.h"
#include "storage/store.h"

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

#define DAEMON_FLUSH_MS 100
#define DAEMON_JUDGE_MS 1000
#define DAEMON_JUDGE_IDLE_MS 10000
#define DAEMON_ALERT_TICK_MS 1000
#define DAEMON_MAINTAIN_MS 60000
#define DAEMON_CHECKPOINT_MS 10000
#define DAEMON_READY_MAX_MS 30000
#define DAEMON_STOP_GRACE_MS 2000
#define DAEMON_HEADROOM_LOW 0.1

struct daemon;

/* A probe in flight: what on_probe needs that the result does not carry. */
struct daemon_probe {
  struct daemon *d;
  int64_t planned_ms;
  uint64_t generation; /* of the config it was started under */
};

struct daemon_receiver {
  char *name; /* "alertmanager_0", "webhook": the only name that reaches metrics */
  char *url;  /* POST target (a webhook URL is a secret: registered with the redactor) */
  bool webhook;
  bool busy; /* a request is in flight */
};

struct daemon {
  uv_loop_t loop;
  struct config *cfg;
  struct config *owned_cfg; /* cfg when a reload loaded it (the first one is the caller's) */
  uint64_t generation;      /* bumped by every reload */
  const char *config_path;
  int exit_code;
  bool stopping;

  /* Per key, indexed like cfg->keys. */
  char **secrets;   /* NULL while unavailable */
  char (*why)[256]; /* why a secret is unavailable */
  bool *first_done; /* the first probe of the key's cheapest kind ended */
  size_t n_first_pending;
  struct log_complaint *complaints; /* per key: failing probes logged with backoff */

  struct fetch *fetch;
  struct sched *sched;
  struct probe_budget *budget;
  struct poller *poller;
  struct classifier *cls;
  struct store *store;
  struct metrics *metrics;
  struct httpd *httpd;
  struct alerts *alerts;
  struct daemon_receiver *receivers;
  size_t n_receivers;
  char *hmac_secret;
  char *proxy_password;
  char *basic_auth_password;

  struct judgement judgement; /* the last one; at_ms 0 before the first */
  bool judge_dirty;
  int64_t last_judge_ms;
  bool status_done; /* the first status poll ended */
  bool ready;
  int64_t started_ms;
  uint64_t alerts_gen_stored;
  bool *dns_intercepted;                 /* per key: the last peer was outside Anthropic's ranges */
  char intercepted_peer[MODEL_PEER_MAX]; /* the last such peer */
  /* Per key: start of the probe that showed it failing with a cause several keys may share
   * (see shared_cause), -1 otherwise. Its per-key alert waits until every other key has
   * been probed since, or shared_cap_ms has passed. */
  int64_t *shared_since_ms;
  int64_t shared_cap_ms;
  struct log_complaint store_complaint;

  uv_timer_t flush_timer, judge_timer, status_timer, alert_timer, maintain_timer, ready_timer,
      stop_timer, watchdog_timer, checkpoint_timer;
  uv_work_t checkpoint_work; /* WAL checkpoints (the only fsync) run on a libuv worker */
  bool checkpoint_busy;
  int checkpoint_rc;
  char *db_path; /* the worker's own copy: a reload may free cfg meanwhile */
  uv_signal_t sig_term, sig_int, sig_hup;
  size_t open_handles;
};

static void handle_closed(uv_handle_t *h) {
  struct daemon *d = h->data;
  d->open_handles--;
}

static void close_handle(struct daemon *d, void *h) {
  uv_handle_t *handle = h;
  if (handle->data == d && !uv_is_closing(handle)) uv_close(handle, handle_closed);
}

static void timer_init(struct daemon *d, uv_timer_t *t) {
  uv_timer_init(&d->loop, t);
  t->data = d;
  d->open_handles++;
}

static const char *key_name(const struct daemon *d, uint32_t i) {
  return d->cfg->keys[i].name;
}

/* ---- readiness ------------------------------------------------------------------------- */

static void set_ready(struct daemon *d, const char *why) {
  if (d->ready) return;
  d->ready = true;
  d->judge_dirty = true; /* the first judgement that moves alerts */
  if (d->httpd) httpd_set_ready(d->httpd, true);
  uv_timer_stop(&d->ready_timer);
  log_info("ready", "reason=%s after_ms=%lld", log_q(why),
           (long long)(util_now_ms() - d->started_ms));
#ifdef HAVE_LIBSYSTEMD
  sd_notify(0, "READY=1\nSTATUS=probing");
#endif
}

static void check_ready(struct daemon *d) {
  if (!d->ready && d->n_first_pending == 0 && (d->status_done || !d->cfg->status_page.enabled))
    set_ready(d, "first status poll and first probe of every key done");
}

static void on_ready_timer(uv_timer_t *t) {
  set_ready(t->data, "start-up grace elapsed");
}

/* ---- transitions and key state ---------------------------------------------------------- */

static void publish_key(struct daemon *d, uint32_t i) {
  const struct key_state *k = classifier_key(d->cls, i);
  if (!k) return;
  enum cause cause = k->known ? k->cause : CAUSE_UNKNOWN;
  bool failing = k->failing_since_ms >= 0;
  metrics_key_state(d->metrics, i, cause, failing, k->failing_since_ms, k->last_probe_ms);
  metrics_key_ratelimit(d->metrics, i, k->ratelimit);
}

static void record_transition(struct daemon *d, const struct key_transition *t) {
  const char *name = key_name(d, t->key_index);
  if (t->cause_changed) {
    store_enqueue_transition(d->store, name, t->at_ms, t->from, t->to, &t->evidence);
    char at[40];
    util_format_time(at, sizeof(at), t->at_ms, true);
    if (t->to == CAUSE_OK) {
      log_info("key recovered", "key=%s from=%s at=%s", log_q(name), cause_name(t->from), at);
    } else {
      char status[16] = "";
      if (t->evidence.http_status > 0)
        snprintf(status, sizeof(status), "%d", t->evidence.http_status);
      log_warn(
          "key failing",
          "key=%s from=%s to=%s since=%s http_status=%s error_type=%s "
          "error=%s request_id=%s",
          log_q(name), cause_name(t->from), cause_name(t->to), at, log_q(status),
          log_q(t->evidence.error_type),
          log_q(t->evidence.error_message[0] ? t->evidence.error_message : t->evidence.curl_error),
          log_q(t->evidence.request_id));
    }
  }
  if (t->org_changed)
    log_warn("key reports another organization",
             "key=%s old_organization=%s "
             "new_organization=%s",
             log_q(name), log_q(t->old_org), log_q(t->new_org));
  d->judge_dirty = true;
}

/* ---- probes ----------------------------------------------------------------------------- */

static enum probe_kind cheapest_kind(const struct config_key *k) {
  for (int i = 0; i < PROBE__COUNT; i++)
    if (k->probes[i].enabled) return (enum probe_kind)i;
  return PROBE_MODELS;
}

static void first_probe_done(struct daemon *d, uint32_t key, enum probe_kind kind) {
  if (d->first_done[key] || kind != cheapest_kind(&d->cfg->keys[key])) return;
  d->first_done[key] = true;
  d->n_first_pending--;
  check_ready(d);
}

/* read_secret (re)reads key i's secret; true when it is available. */
static bool read_secret(struct daemon *d, uint32_t i, int64_t now_ms) {
  if (d->secrets[i]) return true;
  char *s = NULL;
  if (config_read_key(&d->cfg->keys[i], &s, d->why[i], sizeof(d->why[i])) != 0) return false;
  log_add_secret(s);
  d->secrets[i] = s;
  char fp[65], hint[32];
  util_sha256_hex(s, strlen(s), fp);
  util_key_hint(s, hint, sizeof(hint));
  store_key_seen(d->store, key_name(d, i), fp, hint, now_ms);
  log_info("key loaded", "key=%s hint=%s", log_q(key_name(d, i)), log_q(hint));
  return true;
}

static void on_probe(struct probe_result *r, void *arg) {
  struct daemon_probe *p = arg;
  struct daemon *d = p->d;
  uint32_t key = r->key_index;
  r->planned_ms = p->planned_ms;
  uint64_t generation = p->generation;
  free(p);
  /* Started under a config that a reload replaced: its key index may mean another key. */
  if (generation != d->generation) return;
  /* A probe cut short by the shutdown observed nothing: keep no result of it. */
  if (d->stopping && r->http_status == 0) return;

  classify_probe(r);
  if (!d->stopping)
    sched_done(d->sched, key, r->kind, -1, r->http_status, r->transport, r->retry_after_s);
  /* probe_start counted the tokens in d->budget already. */
  if (r->kind == PROBE_MESSAGES) metrics_tokens(d->metrics, key, r->input_tokens, r->output_tokens);
  metrics_probe_done(d->metrics, key, r->kind, r->cause, r->total_s);
  store_enqueue_probe(d->store, key_name(d, key), r);

  if (r->cause != CAUSE_OK) {
    if (log_complain(&d->complaints[key], util_now_ms()))
      log_info("probe failed", "key=%s probe=%s cause=%s http_status=%d error=%s request_id=%s",
               log_q(key_name(d, key)), probe_kind_name(r->kind), cause_name(r->cause),
               r->http_status, log_q(r->error_message[0] ? r->error_message : r->curl_error),
               log_q(r->request_id));
  } else if (log_recover(&d->complaints[key])) {
    log_info("probe ok again", "key=%s probe=%s", log_q(key_name(d, key)),
             probe_kind_name(r->kind));
  }

  bool intercepted = probe_peer_intercepted(d->cfg->api.base_url, r);
  if (intercepted && !d->dns_intercepted[key]) {
    log_warn("api.anthropic.com resolved outside Anthropic's published ranges", "key=%s peer=%s",
             log_q(key_name(d, key)), log_q(r->peer));
    util_copy(d->intercepted_peer, sizeof(d->intercepted_peer), r->peer);
  }
  d->dns_intercepted[key] = intercepted;

  struct key_transition t;
  if (classifier_observe(d->cls, r, &t)) record_transition(d, &t);
  publish_key(d, key);
  first_probe_done(d, key, r->kind);
  d->judge_dirty = true;
}

static void on_fire(uint32_t key, enum probe_kind kind, int64_t planned_ms, int64_t lag_ms,
                    void *arg) {
  struct daemon *d = arg;
  metrics_sched_lag(d->metrics, (double)lag_ms / 1000.0);
  int64_t now = util_now_ms();
  if (d->stopping) {
    sched_done(d->sched, key, kind, -1, 0, TRANSPORT_OK, -1);
    return;
  }
  if (!read_secret(d, key, now)) {
    struct key_transition t;
    if (classifier_key_unavailable(d->cls, key, now, d->why[key], &t)) {
      record_transition(d, &t);
      log_warn("key unavailable", "key=%s reason=%s", log_q(key_name(d, key)), log_q(d->why[key]));
    }
    publish_key(d, key);
    first_probe_done(d, key, kind);
    sched_done(d->sched, key, kind, -1, 0, TRANSPORT_OK, -1);
    return;
  }
  if (kind == PROBE_MESSAGES && !probe_budget_allows(d->budget, key, now)) {
    sched_done(d->sched, key, kind, -1, 0, TRANSPORT_OK, -1);
    return;
  }
  const struct config_key *k = &d->cfg->keys[key];
  struct probe_target t = {
      .base_url = d->cfg->api.base_url,
      .version = d->cfg->api.version,
      .model = k->probes[kind].model,
      .timeout_ms = d->cfg->api.timeout_ms,
      .budget = d->budget,
  };
  struct daemon_probe *p = xmalloc(sizeof(*p));
  p->d = d;
  p->planned_ms = planned_ms;
  p->generation = d->generation;
  int rc = probe_start(d->fetch, &t, key, kind, d->secrets[key], on_probe, p);
  if (rc != 0) {
    free(p);
    log_error("cannot start a probe", "key=%s probe=%s error=%s", log_q(k->name),
              probe_kind_name(kind), log_q(util_strerror(rc)));
    sched_done(d->sched, key, kind, -1, 0, TRANSPORT_OTHER, -1);
  }
}

/* ---- status page ------------------------------------------------------------------------ */

static void on_status(const struct status_snapshot *now, const struct status_snapshot *prev,
                      void *arg) {
  struct daemon *d = arg;
  (void)prev;
  metrics_status(d->metrics, now);
  store_enqueue_status(d->store, now);
  d->judge_dirty = true;
  if (!d->status_done) {
    d->status_done = true;
    check_ready(d);
  }
}

static void on_status_timer(uv_timer_t *t) {
  struct daemon *d = t->data;
  if (d->stopping) return;
  poller_poll(d->poller, on_status, d);
}

/* ---- judging and alerts ----------------------------------------------------------------- */

/* describe writes the evidence of finding f for an alert's description. */
static void describe(struct daemon *d, const struct finding *f, char *buf, size_t bufsz) {
  size_t o = 0;
  buf[0] = '\0';
#define APPEND(...)                                                                                \
  do {                                                                                             \
    if (o < bufsz) {                                                                               \
      int n_ = snprintf(buf + o, bufsz - o, __VA_ARGS__);                                          \
      if (n_ > 0) o += (size_t)n_;                                                                 \
    }                                                                                              \
  } while (0)
  APPEND("%s", f->summary ? f->summary : "");
  for (size_t i = 0; i < f->n_evidence; i++) {
    const struct evidence *e = &f->evidence[i];
    char at[40];
    util_format_time(at, sizeof(at), e->at_ms, false);
    APPEND("\nkey %s: %s", key_name(d, f->evidence_keys[i]), cause_name(e->cause));
    if (e->http_status > 0) APPEND(", HTTP %d", e->http_status);
    if (e->error_type[0]) APPEND(" %s", e->error_type);
    if (e->error_message[0])
      APPEND(": %s", e->error_message);
    else if (e->curl_error[0])
      APPEND(": %s", e->curl_error);
    if (e->request_id[0]) APPEND(" (request %s)", e->request_id);
    APPEND(", since %s", at);
  }
  if (f->incident_name[0])
    APPEND("\nincident: %s (%s) %s", f->incident_name, indicator_name(f->impact), f->incident_link);
  const struct judgement *j = &d->judgement;
  APPEND("\nkeys healthy: %zu of %zu", j->n_keys_ok, d->cfg->n_keys);
#undef APPEND
}

/* Platform-side per-key causes raise no alert of their own during a platform incident. */
static bool platform_side(enum cause c) {
  return cause_is_platform_side(c) || c == CAUSE_TIMEOUT;
}

/* Causes the classifier gathers over keys into one platform or network verdict once enough
 * keys share them. When the platform fails, keys cross into such a cause one probe at a
 * time; a judgement between the first and the second would otherwise send a per-key alert
 * that the incident supersedes a second later — a page for nothing. */
static bool shared_cause(enum cause c) {
  return c == CAUSE_OVERLOADED || c == CAUSE_SERVER_ERROR || c == CAUSE_TIMEOUT ||
         c == CAUSE_EDGE_ERROR || c == CAUSE_NETWORK;
}

/* The oldest last-probe start over the keys that get probed (their secret is loaded), and
 * the second oldest, so "every key but i" costs nothing per key. */
struct probe_ages {
  int64_t oldest, second;
  uint32_t oldest_key;
};

static void probe_ages(struct daemon *d, struct probe_ages *pa) {
  pa->oldest = pa->second = INT64_MAX;
  pa->oldest_key = UINT32_MAX;
  for (uint32_t i = 0; i < d->cfg->n_keys; i++) {
    const struct key_state *k = classifier_key(d->cls, i);
    if (!k || !d->secrets[i]) continue;
    if (k->last_probe_ms < pa->oldest) {
      pa->second = pa->oldest;
      pa->oldest = k->last_probe_ms;
      pa->oldest_key = i;
    } else if (k->last_probe_ms < pa->second) {
      pa->second = k->last_probe_ms;
    }
  }
}

/* shared_cap is three rounds of the slowest key's shortest probe interval, as the hold-down
 * counts. */
static int64_t shared_cap(const struct config *cfg) {
  int64_t cap = 0;
  for (size_t i = 0; i < cfg->n_keys; i++) {
    int64_t shortest = INT64_MAX;
    for (int k = 0; k < PROBE__COUNT; k++)
      if (cfg->keys[i].probes[k].enabled && cfg->keys[i].probes[k].interval_ms < shortest)
        shortest = cfg->keys[i].probes[k].interval_ms;
    if (shortest != INT64_MAX && 3 * shortest > cap) cap = 3 * shortest;
  }
  return cap;
}

/* shared_alert_due: may key i's per-key alert of a shared cause go out? Only once every
 * other key has been probed since i's failure showed (they had their chance to join a
 * platform or network verdict), or after shared_cap_ms (a key that is never probed, e.g. its
 * only probe is out of budget, must not silence the others). */
static bool shared_alert_due(struct daemon *d, uint32_t i, const struct probe_ages *pa,
                             int64_t now) {
  int64_t since = d->shared_since_ms[i];
  if (since < 0) return true;
  int64_t others = pa->oldest_key == i ? pa->second : pa->oldest;
  return others >= since || now - since >= d->shared_cap_ms;
}

static void push_input(struct alert_input **v, size_t *n, size_t *cap, struct alert_input in) {
  if (*n == *cap) {
    *cap = *cap ? *cap * 2 : 16;
    *v = xrealloc(*v, *cap * sizeof(**v));
  }
  (*v)[(*n)++] = in;
}

static void add_finding_inputs(struct daemon *d, const struct finding *f,
                               const struct probe_ages *pa, int64_t now, char **texts,
                               size_t *n_texts, struct alert_input **v, size_t *n, size_t *cap) {
  if (f->scope == SCOPE_NONE || f->cause == CAUSE_OK) return;
  char *desc = xmalloc(2048);
  describe(d, f, desc, 2048);
  texts[(*n_texts)++] = desc;
  struct alert_input in = {
      .scope = f->scope,
      .cause = f->cause,
      .summary = f->summary,
      .description = desc,
      .onset_ms = f->since_ms,
      .maintenance = f->cause == CAUSE_MAINTENANCE,
  };
  /* A local finding about keys (not a whole organization) alerts per key. */
  if (f->scope == SCOPE_LOCAL && f->n_keys > 0 && !f->organization_id[0]) {
    for (size_t i = 0; i < f->n_keys; i++) {
      const struct key_state *k = classifier_key(d->cls, f->keys[i]);
      if (shared_cause(f->cause) && !shared_alert_due(d, f->keys[i], pa, now)) continue;
      in.key = key_name(d, f->keys[i]);
      in.onset_ms = k && k->failing_since_ms >= 0 ? k->failing_since_ms : f->since_ms;
      push_input(v, n, cap, in);
    }
    return;
  }
  if (f->n_keys == 1 && f->scope != SCOPE_PLATFORM) in.key = key_name(d, f->keys[0]);
  push_input(v, n, cap, in);
}

static void update_alerts(struct daemon *d, int64_t now) {
  const struct judgement *j = &d->judgement;
  size_t cap = 0, n = 0, n_texts = 0;
  struct alert_input *v = NULL;
  char **texts = xcalloc(j->n_findings + 2, sizeof(*texts));
  for (uint32_t i = 0; i < d->cfg->n_keys; i++) {
    const struct key_state *k = classifier_key(d->cls, i);
    if (!k || !k->known || !shared_cause(k->cause))
      d->shared_since_ms[i] = -1;
    else if (d->shared_since_ms[i] < 0)
      d->shared_since_ms[i] = k->last_probe_ms;
  }
  struct probe_ages pa;
  probe_ages(d, &pa);
  add_finding_inputs(d, &j->verdict, &pa, now, texts, &n_texts, &v, &n, &cap);
  for (size_t i = 0; i < j->n_findings; i++) {
    if (j->platform_incident && j->findings[i].scope != SCOPE_PLATFORM &&
        platform_side(j->findings[i].cause))
      continue;
    add_finding_inputs(d, &j->findings[i], &pa, now, texts, &n_texts, &v, &n, &cap);
  }
  for (size_t i = 0; i < d->cfg->n_keys && d->cfg->metrics.per_key == CONFIG_PER_KEY_FULL; i++) {
    const struct key_state *k = classifier_key(d->cls, i);
    if (!k) continue;
    for (int r = 0; r < RL__COUNT; r++) {
      if (alert_headroom_is_low(k->ratelimit[r].remaining, k->ratelimit[r].limit,
                                DAEMON_HEADROOM_LOW)) {
        struct alert_input in = {.scope = SCOPE_LOCAL,
                                 .cause = CAUSE_RATE_LIMITED,
                                 .key = key_name(d, (uint32_t)i),
                                 .headroom_low = true,
                                 .onset_ms = now};
        push_input(&v, &n, &cap, in);
        break;
      }
    }
  }
  alerts_update(d->alerts, v, n, now);
  for (size_t i = 0; i < n_texts; i++)
    free(texts[i]);
  free(texts);
  free(v);
}

static bool same_verdict(const struct finding *a, const struct finding *b) {
  if (a->scope != b->scope || a->cause != b->cause || a->n_keys != b->n_keys) return false;
  for (size_t i = 0; i < a->n_keys; i++)
    if (a->keys[i] != b->keys[i]) return false;
  return true;
}

static void judge(struct daemon *d, int64_t now) {
  struct judgement j;
  const struct status_snapshot *sp =
      d->cfg->status_page.enabled ? poller_snapshot(d->poller) : NULL;
  if (classifier_judge(d->cls, sp, now, &j) != 0) return;
  uint32_t *dns = NULL;
  size_t n_dns = 0;
  for (uint32_t i = 0; i < d->cfg->n_keys; i++) {
    if (!d->dns_intercepted[i]) continue;
    dns = xrealloc(dns, (n_dns + 1) * sizeof(*dns));
    dns[n_dns++] = i;
  }
  judgement_add_dns_interception(&j, d->cls, dns, n_dns, d->intercepted_peer);
  free(dns);
  bool changed = d->judgement.at_ms == 0 || !same_verdict(&d->judgement.verdict, &j.verdict);
  judgement_free(&d->judgement);
  d->judgement = j;
  d->judge_dirty = false;
  d->last_judge_ms = now;
  metrics_verdict(d->metrics, j.verdict.scope, j.verdict.cause);
  metrics_platform_incident(d->metrics, j.platform_incident);
  if (j.has_lead) metrics_detection_lead(d->metrics, (double)j.lead_ms / 1000.0);
  if (changed) {
    const char **names = xcalloc(j.verdict.n_keys + 1, sizeof(*names));
    for (size_t i = 0; i < j.verdict.n_keys; i++)
      names[i] = key_name(d, j.verdict.keys[i]);
    struct store_verdict sv = {.at_ms = now,
                               .scope = j.verdict.scope,
                               .cause = j.verdict.cause,
                               .keys = names,
                               .n_keys = j.verdict.n_keys,
                               .summary = j.verdict.summary};
    store_enqueue_verdict(d->store, &sv);
    free(names);
    log_info("verdict", "scope=%s cause=%s keys=%zu summary=%s", scope_name(j.verdict.scope),
             cause_name(j.verdict.cause), j.verdict.n_keys, log_q(j.verdict.summary));
  }
  /* Alerts move only once every key has had its first probe (or the start-up grace is
   * over): before that a key not probed yet looks healthy, and an alert restored from the
   * last run would be resolved, then fired again a moment later. Restored alerts are still
   * re-sent meanwhile, as they are. */
  if (d->ready) update_alerts(d, now);
}

static void on_judge_timer(uv_timer_t *t) {
  struct daemon *d = t->data;
  int64_t now = util_now_ms();
  if (d->stopping) return;
  if (d->judge_dirty || now - d->last_judge_ms >= DAEMON_JUDGE_IDLE_MS) judge(d, now);
}

struct daemon_send {
  struct daemon *d;
  size_t receiver;
  uint64_t generation;
};

static void store_alerts(struct daemon *d) {
  uint64_t gen = alerts_generation(d->alerts);
  if (gen == d->alerts_gen_stored) return;
  d->alerts_gen_stored = gen;
  struct alert_record *recs = NULL;
  size_t n = alerts_export(d->alerts, &recs);
  for (size_t i = 0; i < n; i++) {
    struct store_alert sa = {0};
    util_copy(sa.fingerprint, sizeof(sa.fingerprint), recs[i].fingerprint);
    sa.alertname = NULL;
    sa.labels_json = recs[i].labels;
    sa.annotations_json = recs[i].annotations;
    sa.starts_ms = recs[i].starts_at_ms;
    sa.ends_ms = recs[i].ends_at_ms;
    sa.last_sent_ms = util_now_ms();
    sa.firing = recs[i].state == ALERT_STATE_FIRING;
    cJSON *labels = cJSON_Parse(recs[i].labels);
    const cJSON *an = labels ? cJSON_GetObjectItemCaseSensitive(labels, "alertname") : NULL;
    /* cJSON_IsString(NULL) is false; `an &&` says so to the analyzer, which cannot see it. */
    char *alertname = xstrdup(an && cJSON_IsString(an) ? an->valuestring : "");
    sa.alertname = alertname;
    store_enqueue_alert(d->store, &sa);
    free(alertname);
    cJSON_Delete(labels);
  }
  alert_records_free(recs, n);
}

static void on_sent(const struct fetch_response *r, void *arg) {
  struct daemon_send *s = arg;
  struct daemon *d = s->d;
  if (s->generation != d->generation) { /* the receivers were replaced by a reload */
    free(s);
    return;
  }
  struct daemon_receiver *rcv = &d->receivers[s->receiver];
  bool ok = !r->cancelled && r->curl_code == 0 && r->http_status >= 200 && r->http_status < 300;
  rcv->busy = false;
  alerts_sent(d->alerts, s->receiver, ok, util_now_ms());
  metrics_alert_sent(d->metrics, rcv->name, ok);
  if (!ok && !r->cancelled)
    log_warn("alert push failed", "receiver=%s http_status=%d error=%s", rcv->name, r->http_status,
             log_q(r->error));
  free(s);
  store_alerts(d);
}

static void send_alerts(struct daemon *d, int64_t now) {
  for (size_t i = 0; i < d->n_receivers; i++) {
    struct daemon_receiver *rcv = &d->receivers[i];
    if (rcv->busy) continue;
    char *body = NULL;
    bool due = rcv->webhook ? alerts_webhook_body(d->alerts, i, now, &body)
                            : alerts_due(d->alerts, i, now, &body);
    if (!due || !body) continue;
    struct fetch_header h[2];
    size_t nh = 0;
    char sig[80];
    h[nh++] = (struct fetch_header){"Content-Type", "application/json"};
    if (rcv->webhook && d->hmac_secret) {
      char hex[65];
      alerts_hmac_sha256_hex(d->hmac_secret, body, strlen(body), hex);
      snprintf(sig, sizeof(sig), "sha256=%s", hex);
      h[nh++] = (struct fetch_header){"X-Claudemon-Signature", sig};
    }
    struct fetch_request req = {.method = "POST",
                                .url = rcv->url,
                                .headers = h,
                                .n_headers = nh,
                                .body = body,
                                .body_len = strlen(body),
                                .timeout_ms = 10000};
    struct daemon_send *s = xmalloc(sizeof(*s));
    s->d = d;
    s->receiver = i;
    s->generation = d->generation;
    if (fetch_start(d->fetch, &req, on_sent, s) == 0) {
      rcv->busy = true;
    } else {
      free(s);
      alerts_sent(d->alerts, i, false, now);
      metrics_alert_sent(d->metrics, rcv->name, false);
    }
    free(body);
  }
  store_alerts(d);
}

static void on_alert_timer(uv_timer_t *t) {
  struct daemon *d = t->data;
  if (!d->stopping && d->judgement.at_ms != 0) send_alerts(d, util_now_ms());
}

/* ---- storage ---------------------------------------------------------------------------- */

static void on_flush_timer(uv_timer_t *t) {
  struct daemon *d = t->data;
  int rc = store_flush(d->store);
  struct store_stats st;
  store_stats(d->store, &st);
  metrics_storage(d->metrics, st.errors_total, st.queue_length);
  (void)rc;
}

static void on_maintain_timer(uv_timer_t *t) {
  struct daemon *d = t->data;
  struct store_retention r = {.probes_ms = d->cfg->retention.probes_ms,
                              .rollups_ms = d->cfg->retention.rollups_ms};
  bool more = false;
  store_maintain(d->store, util_now_ms(), &r, &more);
  if (more) uv_timer_start(&d->maintain_timer, on_maintain_timer, 1000, DAEMON_MAINTAIN_MS);
}

/* A WAL checkpoint copies committed pages into the database file and fsyncs: the one slow
 * step of SQLite in WAL mode with synchronous=NORMAL. It runs on a libuv worker thread with
 * its own connection (store_checkpoint), so the loop never waits for a disk. */
static void checkpoint_run(uv_work_t *w) {
  struct daemon *d = w->data;
  int64_t pages = 0;
  d->checkpoint_rc = store_checkpoint(d->db_path, &pages);
}

static void checkpoint_done(uv_work_t *w, int status) {
  struct daemon *d = w->data;
  (void)status;
  d->checkpoint_busy = false;
  if (d->checkpoint_rc != 0 && d->checkpoint_rc != UTIL_EDBBUSY)
    log_debug("checkpoint failed", "error=%s", log_q(util_strerror(d->checkpoint_rc)));
}

static void on_checkpoint_timer(uv_timer_t *t) {
  struct daemon *d = t->data;
  if (d->checkpoint_busy || d->stopping) return;
  d->checkpoint_work.data = d;
  if (uv_queue_work(&d->loop, &d->checkpoint_work, checkpoint_run, checkpoint_done) == 0)
    d->checkpoint_busy = true;
}

/* ---- HTTP API --------------------------------------------------------------------------- */

static void json_response(struct httpd_response *res, cJSON *doc, int status) {
  char *text = cJSON_PrintUnformatted(doc);
  cJSON_Delete(doc);
  res->status = status;
  res->content_type = "application/json";
  res->body = text;
  res->len = strlen(text);
}

static void error_response(struct httpd_response *res, int status, const char *msg) {
  cJSON *doc = cJSON_CreateObject();
  cJSON_AddStringToObject(doc, "error", msg);
  json_response(res, doc, status);
}

static cJSON *key_state_json(struct daemon *d, uint32_t i) {
  const struct key_state *k = classifier_key(d->cls, i);
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "name", key_name(d, i));
  cJSON_AddStringToObject(o, "cause", cause_name(k->known ? k->cause : CAUSE_UNKNOWN));
  cJSON_AddBoolToObject(o, "failing", k->failing_since_ms >= 0);
  report_time(o, "failing_since", k->failing_since_ms);
  report_time(o, "last_probe_at", k->last_probe_ms);
  report_str(o, "organization_id", k->organization_id);
  report_str(o, "workspace_id", k->workspace_id);
  if (k->failing_since_ms >= 0) {
    cJSON *e = cJSON_AddObjectToObject(o, "first_failure");
    report_time(e, "at", k->first_failure.at_ms);
    cJSON_AddStringToObject(e, "probe", probe_kind_name(k->first_failure.kind));
    cJSON_AddStringToObject(e, "cause", cause_name(k->first_failure.cause));
    cJSON_AddNumberToObject(e, "http_status", k->first_failure.http_status);
    report_str(e, "error_type", k->first_failure.error_type);
    report_str(e, "error_message", k->first_failure.error_message);
    report_str(e, "request_id", k->first_failure.request_id);
  }
  cJSON *l = cJSON_AddObjectToObject(o, "last");
  report_time(l, "at", k->last.at_ms);
  cJSON_AddStringToObject(l, "probe", probe_kind_name(k->last.kind));
  cJSON_AddStringToObject(l, "cause", cause_name(k->last.cause));
  if (k->last.http_status > 0) cJSON_AddNumberToObject(l, "http_status", k->last.http_status);
  report_str(l, "error_message",
             k->last.error_message[0] ? k->last.error_message : k->last.curl_error);
  report_str(l, "request_id", k->last.request_id);
  cJSON_AddStringToObject(o, "advice", cause_advice(k->known ? k->cause : CAUSE_UNKNOWN));
  return o;
}

static void serve_status(void *arg, const struct httpd_request *req, struct httpd_response *res) {
  struct daemon *d = arg;
  (void)req;
  if (d->judgement.at_ms == 0) judge(d, util_now_ms());
  cJSON *doc = cJSON_CreateObject();
  report_time(doc, "checked_at", d->judgement.at_ms);
  report_str(doc, "vantage", d->cfg->vantage);
  cJSON *keys = cJSON_AddArrayToObject(doc, "keys");
  for (uint32_t i = 0; i < d->cfg->n_keys; i++)
    cJSON_AddItemToArray(keys, key_state_json(d, i));
  if (d->cfg->status_page.enabled)
    cJSON_AddItemToObject(doc, "status_page", report_status_page(poller_snapshot(d->poller)));
  else
    cJSON_AddNullToObject(doc, "status_page");
  report_judgement(doc, &d->judgement, d->cls);
  json_response(res, doc, 200);
}

static int query_range(const struct httpd_request *req, struct store_query *q) {
  int64_t now = util_now_ms();
  const char *since = httpd_query_get(req, "since"), *until = httpd_query_get(req, "until");
  q->since_ms = -1;
  q->until_ms = -1;
  if (since && util_parse_since(since, now, &q->since_ms) != 0) return -1;
  if (until && util_parse_since(until, now, &q->until_ms) != 0) return -1;
  return 0;
}

static void serve_store(struct httpd_response *res, int rc, cJSON *doc) {
  if (rc == UTIL_ENOENT) {
    error_response(res, 404, "no such key");
  } else if (rc != 0 || !doc) {
    cJSON_Delete(doc);
    error_response(res, 503, "database unavailable");
  } else {
    json_response(res, doc, 200);
  }
}

static void serve_keys(void *arg, const struct httpd_request *req, struct httpd_response *res) {
  struct daemon *d = arg;
  const char *rest = req->path + strlen("/api/v1/keys");
  if (*rest == '\0' || strcmp(rest, "/") == 0) {
    cJSON *doc = cJSON_CreateObject();
    cJSON *keys = cJSON_AddArrayToObject(doc, "keys");
    for (uint32_t i = 0; i < d->cfg->n_keys; i++)
      cJSON_AddItemToArray(keys, key_state_json(d, i));
    json_response(res, doc, 200);
    return;
  }
  /* /api/v1/keys/NAME/history */
  char name[128];
  const char *slash = strchr(rest + 1, '/');
  if (!slash || strcmp(slash, "/history") != 0 || (size_t)(slash - rest - 1) >= sizeof(name)) {
    error_response(res, 404, "not found: try /api/v1/keys or /api/v1/keys/NAME/history");
    return;
  }
  memcpy(name, rest + 1, (size_t)(slash - rest - 1));
  name[slash - rest - 1] = '\0';
  struct store_query q = {.key = name};
  if (query_range(req, &q) != 0) {
    error_response(res, 400, "since/until: RFC 3339 or a duration like 24h");
    return;
  }
  cJSON *doc = NULL;
  int rc = store_history(d->store, &q, &doc);
  serve_store(res, rc, doc);
}

static void serve_incidents(void *arg, const struct httpd_request *req,
                            struct httpd_response *res) {
  struct daemon *d = arg;
  struct store_query q = {0};
  if (query_range(req, &q) != 0) {
    error_response(res, 400, "since/until: RFC 3339 or a duration like 24h");
    return;
  }
  cJSON *doc = NULL;
  int rc = store_incidents(d->store, &q, &doc);
  serve_store(res, rc, doc);
}

static void serve_history(void *arg, const struct httpd_request *req, struct httpd_response *res) {
  struct daemon *d = arg;
  struct store_query q = {.key = httpd_query_get(req, "key")};
  if (query_range(req, &q) != 0) {
    error_response(res, 400, "since/until: RFC 3339 or a duration like 24h");
    return;
  }
  cJSON *doc = NULL;
  int rc = httpd_query_get(req, "failing") ? store_failing(d->store, &q, &doc)
                                           : store_history(d->store, &q, &doc);
  serve_store(res, rc, doc);
}

/* ---- alert receivers ------------------------------------------------------------------ */

static void receivers_free(struct daemon_receiver *v, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(v[i].name);
    config_secret_free(v[i].url);
  }
  free(v);
}

/* build_receivers makes the receivers of config c (Alertmanagers first, the webhook last, as
 * alerts_opts_from_config numbers them) and reads the webhook's secrets. On error nothing is
 * returned and nothing leaks. */
static int build_receivers(const struct config *c, struct daemon_receiver **out, size_t *n_out,
                           char **hmac_out) {
  bool webhook = c->alerting.webhook.url.env || c->alerting.webhook.url.file;
  size_t n = c->alerting.n_alertmanager + (webhook ? 1 : 0);
  struct daemon_receiver *v = xcalloc(n ? n : 1, sizeof(*v));
  char *hmac = NULL;
  char why[256];
  for (size_t i = 0; i < c->alerting.n_alertmanager; i++) {
    const char *base = c->alerting.alertmanager[i];
    size_t len = strlen(base);
    if (len && base[len - 1] == '/') len--;
    v[i].name = xasprintf("alertmanager_%zu", i);
    v[i].url = xasprintf("%.*s/api/v2/alerts", (int)len, base);
  }
  if (webhook) {
    struct daemon_receiver *r = &v[n - 1];
    r->name = xstrdup("webhook");
    r->webhook = true;
    if (config_read_secret(&c->alerting.webhook.url, &r->url, why, sizeof(why)) != 0) {
      log_error("webhook URL unavailable", "reason=%s", log_q(why));
      goto fail;
    }
    log_add_secret(r->url);
    if ((c->alerting.webhook.hmac_secret.env || c->alerting.webhook.hmac_secret.file)) {
      if (config_read_secret(&c->alerting.webhook.hmac_secret, &hmac, why, sizeof(why)) != 0) {
        log_error("webhook HMAC secret unavailable", "reason=%s", log_q(why));
        goto fail;
      }
      log_add_secret(hmac);
    }
  }
  *out = v;
  *n_out = n;
  *hmac_out = hmac;
  return 0;
fail:
  receivers_free(v, n);
  return UTIL_ESECRET;
}

/* ---- signals and shutdown --------------------------------------------------------------- */

static void closed_cb(void *arg) {
  struct daemon *d = arg;
  d->open_handles--;
}

static void finish_stop(struct daemon *d) {
  /* Grace over: what is still in flight ends now (results without an answer are dropped). */
  if (d->fetch) fetch_cancel_all(d->fetch);
  /* Flush everything still queued: a few batches at most. */
  for (int i = 0; i < 100; i++) {
    struct store_stats st;
    store_stats(d->store, &st);
    if (st.queue_length == 0) break;
    if (store_flush(d->store) != 0) break;
  }
  struct store_stats st;
  store_stats(d->store, &st);
  if (st.queue_length) log_error("rows not written at exit", "queued=%zu", st.queue_length);
  close_handle(d, &d->flush_timer);
  close_handle(d, &d->judge_timer);
  close_handle(d, &d->status_timer);
  close_handle(d, &d->alert_timer);
  close_handle(d, &d->maintain_timer);
  close_handle(d, &d->ready_timer);
  close_handle(d, &d->stop_timer);
  close_handle(d, &d->watchdog_timer);
  close_handle(d, &d->checkpoint_timer);
  close_handle(d, &d->sig_term);
  close_handle(d, &d->sig_int);
  close_handle(d, &d->sig_hup);
  d->open_handles += 2;
  httpd_close(d->httpd, closed_cb, d);
  d->httpd = NULL;
  fetch_close(d->fetch, closed_cb, d);
  d->fetch = NULL;
}

static void on_stop_timer(uv_timer_t *t) {
  finish_stop(t->data);
}

static void sched_closed(void *arg) {
  struct daemon *d = arg;
  d->open_handles--;
  /* Give in-flight probes a short grace, then stop. */
  if (d->fetch && fetch_pending(d->fetch) > 0)
    uv_timer_start(&d->stop_timer, on_stop_timer, DAEMON_STOP_GRACE_MS, 0);
  else
    finish_stop(d);
}

static void begin_stop(struct daemon *d, const char *why) {
  if (d->stopping) return;
  d->stopping = true;
  log_info("stopping", "reason=%s", why);
  if (d->httpd) httpd_set_ready(d->httpd, false); /* load balancers drain us first */
#ifdef HAVE_LIBSYSTEMD
  sd_notify(0, "STOPPING=1");
#endif
  uv_timer_stop(&d->judge_timer);
  uv_timer_stop(&d->status_timer);
  uv_timer_stop(&d->alert_timer);
  uv_timer_stop(&d->maintain_timer);
  uv_timer_stop(&d->ready_timer);
  uv_timer_stop(&d->watchdog_timer);
  uv_timer_stop(&d->checkpoint_timer);
  d->open_handles++;
  sched_close(d->sched, sched_closed, d);
  d->sched = NULL;
}

/* restart_only lists what a reload cannot change on a running daemon: the listen address and
 * its TLS/auth, the database, and the HTTP client's settings. next keeps the running values
 * (so d->cfg always describes what runs) and each difference is logged. */
static void keep_restart_only(const struct config *cur, struct config *next) {
#define KEEP_STR(field)                                                                            \
  do {                                                                                             \
    const char *a_ = cur->field, *b_ = next->field;                                                \
    if ((a_ == NULL) != (b_ == NULL) || (a_ && strcmp(a_, b_) != 0)) {                             \
      log_warn("reload: this setting needs a restart; the running value stays", "field=%s",        \
               #field);                                                                            \
      free(next->field);                                                                           \
      next->field = a_ ? xstrdup(a_) : NULL;                                                       \
    }                                                                                              \
  } while (0)
#define KEEP_NUM(field)                                                                            \
  do {                                                                                             \
    if (cur->field != next->field) {                                                               \
      log_warn("reload: this setting needs a restart; the running value stays", "field=%s",        \
               #field);                                                                            \
      next->field = cur->field;                                                                    \
    }                                                                                              \
  } while (0)
  KEEP_STR(listen);
  KEEP_STR(database);
  KEEP_STR(web.tls_cert_file);
  KEEP_STR(web.tls_key_file);
  KEEP_STR(web.basic_auth_user);
  KEEP_STR(api.proxy);
  KEEP_STR(api.proxy_user);
  KEEP_NUM(api.max_transfers);
  KEEP_NUM(api.max_host_connections);
  KEEP_NUM(api.max_body_bytes);
#undef KEEP_STR
#undef KEEP_NUM
}

static bool same_source(const struct config_key *a, const struct config_key *b) {
  bool env = (a->key_env == NULL) == (b->key_env == NULL) &&
             (!a->key_env || strcmp(a->key_env, b->key_env) == 0);
  bool file = (a->key_file == NULL) == (b->key_file == NULL) &&
              (!a->key_file || strcmp(a->key_file, b->key_file) == 0);
  return env && file;
}

/* reload re-reads the config on SIGHUP. The new config and every object that depends on it
 * are built aside; only when all of that succeeded are they swapped in. Keys keep their state
 * by name (cause, failing-since, evidence, secrets, token spend); added keys start unknown,
 * removed keys are forgotten. Probes in flight under the old config are dropped when they
 * end (their key index may now name another key). */
static void reload(struct daemon *d) {
  const char *where = d->config_path ? d->config_path : "<embedded>";
  struct config *next = NULL;
  struct config_diag diag = {0};
  int rc = d->config_path ? config_load(d->config_path, &next, &diag)
                          : config_load_default(&next, &diag);
  for (size_t i = 0; i < diag.n_errors; i++)
    log_error("reload: config error", "error=%s", log_q(diag.errors[i]));
  for (size_t i = 0; i < diag.n_warnings; i++)
    log_warn("reload: config warning", "warning=%s", log_q(diag.warnings[i]));
  config_diag_free(&diag);
  if (rc != 0) {
    log_error("reload refused: the running config stays", "path=%s", log_q(where));
    return;
  }
  keep_restart_only(d->cfg, next);

  /* Build aside: receivers (reads secrets), then the classifier's new key list. */
  struct daemon_receiver *receivers = NULL;
  size_t n_receivers = 0;
  char *hmac = NULL;
  if (build_receivers(next, &receivers, &n_receivers, &hmac) != 0) {
    log_error("reload refused: the running config stays", "path=%s", log_q(where));
    config_free(next);
    return;
  }
  size_t n = next->n_keys;
  const char **names = xcalloc(n + 1, sizeof(*names));
  const char **orgs = xcalloc(n + 1, sizeof(*orgs));
  for (size_t i = 0; i < n; i++) {
    names[i] = next->keys[i].name;
    orgs[i] = next->keys[i].expect_organization;
  }
  struct classify_params cp;
  classify_params_from_config(&cp, next);
  if (classifier_rekey(d->cls, &cp, n, names, orgs) != 0) {
    log_error("reload refused: invalid classifier settings", "path=%s", log_q(where));
    receivers_free(receivers, n_receivers);
    config_secret_free(hmac);
    free(names);
    free(orgs);
    config_free(next);
    return;
  }

  /* From here nothing fails: swap. */
  int64_t now = util_now_ms();
  size_t nn = n ? n : 1;
  char **secrets = xcalloc(nn, sizeof(*secrets));
  char(*why)[256] = xcalloc(nn, sizeof(*why));
  bool *first_done = xcalloc(nn, sizeof(*first_done));
  struct log_complaint *complaints = xcalloc(nn, sizeof(*complaints));
  bool *dns = xcalloc(nn, sizeof(*dns));
  int64_t *shared = xmalloc(nn * sizeof(*shared));
  for (size_t i = 0; i < nn; i++)
    shared[i] = -1;
  struct probe_budget *budget = probe_budget_new(n);
  size_t kept = 0;
  for (size_t i = 0; i < n; i++) {
    const struct config_key *k = &next->keys[i];
    probe_budget_set(budget, (uint32_t)i, k->name, k->probes[PROBE_MESSAGES].monthly_token_budget);
    first_done[i] = true; /* readiness is about start-up only */
    for (size_t j = 0; j < d->cfg->n_keys; j++) {
      const struct config_key *o = &d->cfg->keys[j];
      if (strcmp(o->name, k->name) != 0) continue;
      kept++;
      if (same_source(o, k)) {
        secrets[i] = d->secrets[j];
        d->secrets[j] = NULL;
      }
      complaints[i] = d->complaints[j];
      dns[i] = d->dns_intercepted[j];
      shared[i] = d->shared_since_ms[j];
      int64_t spent = probe_budget_spent(d->budget, (uint32_t)j, now);
      if (spent > 0) probe_budget_add(budget, (uint32_t)i, now, spent);
      break;
    }
  }
  for (size_t j = 0; j < d->cfg->n_keys; j++)
    config_secret_free(d->secrets[j]);
  free(d->secrets);
  free(d->why);
  free(d->first_done);
  free(d->complaints);
  free(d->dns_intercepted);
  free(d->shared_since_ms);
  probe_budget_free(d->budget);
  d->secrets = secrets;
  d->why = why;
  d->first_done = first_done;
  d->complaints = complaints;
  d->dns_intercepted = dns;
  d->shared_since_ms = shared;
  d->shared_cap_ms = shared_cap(next);
  d->budget = budget;

  struct metrics *m = metrics_new(n, names, next->metrics.per_key);
  metrics_build_info(m, store_sqlite_version());
  httpd_route(d->httpd, "/metrics", false, metrics_serve, m);
  metrics_free(d->metrics);
  d->metrics = m;
  free(names);
  free(orgs);

  struct alert_record *recs = NULL;
  size_t n_recs = alerts_export(d->alerts, &recs);
  struct alerts_opts ao;
  alerts_opts_from_config(&ao, next);
  ao.n_receivers = n_receivers;
  struct alerts *alerts = alerts_new(&ao);
  alerts_restore(alerts, recs, n_recs);
  alert_records_free(recs, n_recs);
  alerts_free(d->alerts);
  d->alerts = alerts;
  d->alerts_gen_stored = alerts_generation(alerts);
  receivers_free(d->receivers, d->n_receivers);
  config_secret_free(d->hmac_secret);
  d->receivers = receivers;
  d->n_receivers = n_receivers;
  d->hmac_secret = hmac;

  /* The scheduler is rebuilt: every key restarts its phase, spread over a few seconds. */
  d->generation++;
  d->open_handles++;
  sched_close(d->sched, closed_cb, d);
  d->sched = sched_new(&d->loop, on_fire, d);
  for (size_t i = 0; i < n; i++)
    for (int k = 0; k < PROBE__COUNT; k++) {
      const struct config_probe *p = &next->keys[i].probes[k];
      if (p->enabled)
        sched_add(d->sched, (uint32_t)i, (enum probe_kind)k, p->interval_ms, SCHED_SPREAD);
    }

  poller_set_config(d->poller, next);
  uv_timer_stop(&d->status_timer);
  if (next->status_page.enabled)
    uv_timer_start(&d->status_timer, on_status_timer, 0, (uint64_t)next->status_page.interval_ms);

  struct config *old_owned = d->owned_cfg;
  d->cfg = next;
  d->owned_cfg = next;
  config_free(old_owned);

  for (uint32_t i = 0; i < n; i++)
    publish_key(d, i);
  metrics_status(d->metrics, poller_snapshot(d->poller));
  judgement_free(&d->judgement);
  d->judge_dirty = true;
  judge(d, now);
  log_info("config reloaded", "path=%s keys=%zu kept=%zu added=%zu", log_q(where), n, kept,
           n - kept);
}

static void on_signal(uv_signal_t *s, int signum) {
  struct daemon *d = s->data;
  if (signum == SIGHUP) {
    if (!d->stopping) reload(d);
    return;
  }
  begin_stop(d, signum == SIGTERM ? "SIGTERM" : "SIGINT");
}

static void on_watchdog(uv_timer_t *t) {
  (void)t;
#ifdef HAVE_LIBSYSTEMD
  sd_notify(0, "WATCHDOG=1");
#endif
}

/* ---- start ------------------------------------------------------------------------------ */

static void log_startup(struct daemon *d) {
  const struct config *c = d->cfg;
  log_info("starting claudemon",
           "version=%s config=%s keys=%zu listen=%s database=%s "
           "api=%s status_page=%s alertmanagers=%zu libuv=%s sqlite=%s",
           CLAUDEMON_VERSION, log_q(c->path), c->n_keys, log_q(c->listen), log_q(c->database),
           log_q(c->api.base_url), log_q(c->status_page.enabled ? c->status_page.url : "disabled"),
           c->alerting.n_alertmanager, uv_version_string(), store_sqlite_version());
  for (size_t i = 0; i < c->n_keys && i < 50; i++) {
    const struct config_key *k = &c->keys[i];
    char kinds[128] = "";
    size_t o = 0;
    for (int p = 0; p < PROBE__COUNT; p++) {
      if (!k->probes[p].enabled) continue;
      char iv[32];
      util_format_duration(iv, sizeof(iv), k->probes[p].interval_ms);
      int n = snprintf(kinds + o, sizeof(kinds) - o, "%s%s/%s", o ? "," : "",
                       probe_kind_name((enum probe_kind)p), iv);
      if (n > 0 && (size_t)n < sizeof(kinds) - o) o += (size_t)n;
    }
    log_info("key configured", "key=%s source=%s probes=%s", log_q(k->name),
             log_q(k->key_env ? k->key_env : k->key_file), log_q(kinds));
  }
  if (c->n_keys > 50) log_info("more keys configured", "count=%zu", c->n_keys - 50);
}

static int daemon_start(struct daemon *d) {
  const struct config *c = d->cfg;
  char why[512];
  int rc;

  struct store_options so;
  store_options_init(&so);
  so.checkpoint_pages = 0; /* checkpoints run off the loop: on_checkpoint_timer */
  d->db_path = xstrdup(c->database);
  rc = store_open(c->database, &so, &d->store, why, sizeof(why));
  if (rc != 0) {
    log_error("cannot open the database", "path=%s reason=%s", log_q(c->database), log_q(why));
    return rc;
  }

  if ((c->api.proxy_password.env || c->api.proxy_password.file) &&
      config_read_secret(&c->api.proxy_password, &d->proxy_password, why, sizeof(why)) != 0) {
    log_error("proxy password unavailable", "reason=%s", log_q(why));
    return UTIL_ESECRET;
  }
  if (d->proxy_password) log_add_secret(d->proxy_password);
  if ((c->web.basic_auth_password.env || c->web.basic_auth_password.file) &&
      config_read_secret(&c->web.basic_auth_password, &d->basic_auth_password, why, sizeof(why)) !=
          0) {
    log_error("basic auth password unavailable", "reason=%s", log_q(why));
    return UTIL_ESECRET;
  }
  if (d->basic_auth_password) log_add_secret(d->basic_auth_password);
  if ((rc = build_receivers(c, &d->receivers, &d->n_receivers, &d->hmac_secret)) != 0) return rc;

  struct fetch_opts fo;
  fetch_opts_init(&fo);
  fo.max_transfers = c->api.max_transfers;
  fo.max_host_connections = c->api.max_host_connections;
  fo.max_body_bytes = (size_t)c->api.max_body_bytes;
  fo.proxy = c->api.proxy;
  fo.proxy_user = c->api.proxy_user;
  fo.proxy_password = d->proxy_password;
  if ((rc = fetch_new(&d->loop, &fo, &d->fetch)) != 0) {
    log_error("cannot start the HTTP client", "error=%s", log_q(util_strerror(rc)));
    return rc;
  }

  struct classify_params cp;
  classify_params_from_config(&cp, c);
  if ((rc = classifier_new(&cp, c->n_keys, &d->cls)) != 0) {
    log_error("invalid classifier settings", "error=%s", log_q(util_strerror(rc)));
    return rc;
  }
  const char **names = xcalloc(c->n_keys + 1, sizeof(*names));
  d->budget = probe_budget_new(c->n_keys);
  for (size_t i = 0; i < c->n_keys; i++) {
    names[i] = c->keys[i].name;
    classifier_set_key(d->cls, i, c->keys[i].name, c->keys[i].expect_organization);
    probe_budget_set(d->budget, (uint32_t)i, c->keys[i].name,
                     c->keys[i].probes[PROBE_MESSAGES].monthly_token_budget);
  }
  /* Resume each key where the last run left it: "failing since" survives a restart. */
  struct store_key_state *last = NULL;
  size_t n_last = 0;
  if (store_last_states(d->store, &last, &n_last) == 0) {
    for (size_t j = 0; j < n_last; j++) {
      int i = config_key_index(c, last[j].name);
      if (i < 0 || last[j].cause == CAUSE_UNKNOWN || last[j].cause == CAUSE_KEY_UNAVAILABLE)
        continue;
      classifier_seed(d->cls, (size_t)i, last[j].cause, last[j].since_ms, &last[j].evidence);
    }
    store_key_states_free(last, n_last);
  }
  d->metrics = metrics_new(c->n_keys, names, c->metrics.per_key);
  free(names);
  metrics_build_info(d->metrics, store_sqlite_version());

  struct alerts_opts ao;
  alerts_opts_from_config(&ao, c);
  ao.n_receivers = d->n_receivers;
  d->alerts = alerts_new(&ao);
  struct store_alert *firing = NULL;
  size_t n_firing = 0;
  if (store_alerts_firing(d->store, &firing, &n_firing) == 0 && n_firing) {
    struct alert_record *recs = xcalloc(n_firing, sizeof(*recs));
    for (size_t i = 0; i < n_firing; i++) {
      util_copy(recs[i].fingerprint, sizeof(recs[i].fingerprint), firing[i].fingerprint);
      recs[i].labels = firing[i].labels_json;
      recs[i].annotations = firing[i].annotations_json;
      recs[i].starts_at_ms = firing[i].starts_ms;
      recs[i].ends_at_ms = firing[i].firing ? -1 : firing[i].ends_ms;
      recs[i].state = firing[i].firing ? ALERT_STATE_FIRING : ALERT_STATE_RESOLVED;
    }
    alerts_restore(d->alerts, recs, n_firing);
    free(recs);
    log_info("alerts restored", "firing=%zu", n_firing);
  }
  store_alerts_free(firing, n_firing);
  d->alerts_gen_stored = alerts_generation(d->alerts);

  struct httpd_opts ho = {
      .listen = c->listen,
      .tls_cert_file = c->web.tls_cert_file,
      .tls_key_file = c->web.tls_key_file,
      .basic_auth_user = c->web.basic_auth_user,
      .basic_auth_password = d->basic_auth_password,
  };
  if ((rc = httpd_new(&d->loop, &ho, &d->httpd)) != 0) {
    log_error("cannot serve HTTP", "listen=%s error=%s", log_q(c->listen),
              log_q(util_strerror(rc)));
    return rc;
  }
  httpd_route(d->httpd, "/metrics", false, metrics_serve, d->metrics);
  for (uint32_t i = 0; i < c->n_keys; i++)
    publish_key(d, i);
  httpd_route(d->httpd, "/api/v1/status", false, serve_status, d);
  httpd_route(d->httpd, "/api/v1/keys", true, serve_keys, d);
  httpd_route(d->httpd, "/api/v1/incidents", false, serve_incidents, d);
  httpd_route(d->httpd, "/api/v1/history", false, serve_history, d);
  log_info("listening", "address=%s port=%u", log_q(c->listen), (unsigned)httpd_port(d->httpd));

  d->poller = poller_new(d->fetch, c);
  d->sched = sched_new(&d->loop, on_fire, d);
  d->n_first_pending = c->n_keys;
  for (size_t i = 0; i < c->n_keys; i++) {
    for (int k = 0; k < PROBE__COUNT; k++) {
      const struct config_probe *p = &c->keys[i].probes[k];
      if (p->enabled)
        sched_add(d->sched, (uint32_t)i, (enum probe_kind)k, p->interval_ms, SCHED_SPREAD);
    }
  }

  timer_init(d, &d->flush_timer);
  timer_init(d, &d->judge_timer);
  timer_init(d, &d->status_timer);
  timer_init(d, &d->alert_timer);
  timer_init(d, &d->maintain_timer);
  timer_init(d, &d->ready_timer);
  timer_init(d, &d->stop_timer);
  timer_init(d, &d->watchdog_timer);
  timer_init(d, &d->checkpoint_timer);
  uv_timer_start(&d->flush_timer, on_flush_timer, DAEMON_FLUSH_MS, DAEMON_FLUSH_MS);
  uv_timer_start(&d->judge_timer, on_judge_timer, DAEMON_JUDGE_MS, DAEMON_JUDGE_MS);
  uv_timer_start(&d->alert_timer, on_alert_timer, DAEMON_ALERT_TICK_MS, DAEMON_ALERT_TICK_MS);
  uv_timer_start(&d->maintain_timer, on_maintain_timer, DAEMON_MAINTAIN_MS, DAEMON_MAINTAIN_MS);
  uv_timer_start(&d->checkpoint_timer, on_checkpoint_timer, DAEMON_CHECKPOINT_MS,
                 DAEMON_CHECKPOINT_MS);
  uv_timer_start(&d->ready_timer, on_ready_timer, DAEMON_READY_MAX_MS, 0);
  if (c->status_page.enabled)
    uv_timer_start(&d->status_timer, on_status_timer, 0, (uint64_t)c->status_page.interval_ms);
#ifdef HAVE_LIBSYSTEMD
  uint64_t wd_us = 0;
  if (sd_watchdog_enabled(0, &wd_us) > 0 && wd_us > 0)
    uv_timer_start(&d->watchdog_timer, on_watchdog, wd_us / 2000, wd_us / 2000);
#endif
  (void)on_watchdog;

  uv_signal_init(&d->loop, &d->sig_term);
  uv_signal_init(&d->loop, &d->sig_int);
  uv_signal_init(&d->loop, &d->sig_hup);
  d->sig_term.data = d->sig_int.data = d->sig_hup.data = d;
  d->open_handles += 3;
  uv_signal_start(&d->sig_term, on_signal, SIGTERM);
  uv_signal_start(&d->sig_int, on_signal, SIGINT);
  uv_signal_start(&d->sig_hup, on_signal, SIGHUP);
  if (c->n_keys == 0) check_ready(d);
  return 0;
}

int daemon_run(struct config *cfg, const char *config_path) {
  struct daemon *d = xcalloc(1, sizeof(*d));
  d->cfg = cfg;
  d->config_path = config_path;
  d->started_ms = util_now_ms();
  size_t n = cfg->n_keys ? cfg->n_keys : 1;
  d->secrets = xcalloc(n, sizeof(*d->secrets));
  d->why = xcalloc(n, sizeof(*d->why));
  d->first_done = xcalloc(n, sizeof(*d->first_done));
  d->complaints = xcalloc(n, sizeof(*d->complaints));
  d->dns_intercepted = xcalloc(n, sizeof(*d->dns_intercepted));
  d->shared_since_ms = xmalloc(n * sizeof(*d->shared_since_ms));
  for (size_t i = 0; i < n; i++)
    d->shared_since_ms[i] = -1;
  d->shared_cap_ms = shared_cap(cfg);
  signal(SIGPIPE, SIG_IGN);
  uv_loop_init(&d->loop);
  log_startup(d);

  int rc = daemon_start(d);
  if (rc == 0) {
    uv_run(&d->loop, UV_RUN_DEFAULT);
    log_info("stopped", "%s", "");
  } else {
    d->exit_code = 2;
    /* Close whatever started. */
    if (d->sched) {
      d->open_handles++;
      sched_close(d->sched, closed_cb, d);
    }
    if (d->httpd) {
      d->open_handles++;
      httpd_close(d->httpd, closed_cb, d);
    }
    if (d->fetch) {
      d->open_handles++;
      fetch_close(d->fetch, closed_cb, d);
    }
    uv_run(&d->loop, UV_RUN_DEFAULT);
  }
  if (uv_loop_close(&d->loop) != 0) log_error("event loop did not close cleanly", "%s", "");

  judgement_free(&d->judgement);
  poller_free(d->poller);
  alerts_free(d->alerts);
  metrics_free(d->metrics);
  classifier_free(d->cls);
  probe_budget_free(d->budget);
  store_free(d->store);
  receivers_free(d->receivers, d->n_receivers);
  config_secret_free(d->hmac_secret);
  config_secret_free(d->proxy_password);
  config_secret_free(d->basic_auth_password);
  for (size_t i = 0; i < d->cfg->n_keys; i++)
    config_secret_free(d->secrets[i]);
  config_free(d->owned_cfg);
  free(d->db_path);
  log_clear_secrets();
  free(d->secrets);
  free(d->why);
  free(d->first_done);
  free(d->complaints);
  free(d->dns_intercepted);
  free(d->shared_since_ms);
  int code = d->exit_code;
  free(d);
  return code;
}
