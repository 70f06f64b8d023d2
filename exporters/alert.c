/* alert.c — owns the alerts claudemon pushes: the table from conditions to alertnames,
 * labels and severities, each alert's life (firing, held while it flaps, resolved, dropped),
 * the per-receiver delivery bookkeeping (what each Alertmanager or webhook has got, when it
 * is due again, backoff after a failure) and the JSON of the requests. It never does I/O
 * beyond log lines: the daemon sends the bytes and reports back. It never sees a secret on
 * purpose, and every text that leaves it passes through log_redact() first, so a key pasted
 * into an error message cannot reach a payload.
 *
 * Lifetime: struct alerts owns every alert (sorted by fingerprint) and copies of the strings
 * of its options; inputs are borrowed for one alerts_update() call. */
#include "exporters/alert.h"

#include "agent/log.h"
#include "agent/util.h"

#include <cJSON.h>
#include <ctype.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

#define MINUTE_MS (60 * 1000LL)
#define DEFAULT_RESEND_MS (60 * 1000LL)
#define DEFAULT_HOLD_MIN_MS (5 * MINUTE_MS)
#define DEFAULT_KEEP_MS (15 * MINUTE_MS)
#define BACKOFF_FIRST_MS 1000LL
#define INFLIGHT_TIMEOUT_MS (5 * MINUTE_MS)

/* Bounds of what we put into a payload; an Alertmanager keeps every alert in memory. */
#define SUMMARY_MAX 320
#define DESCRIPTION_MAX 4096
#define LABEL_VALUE_MAX 256

/* The alert table: DESIGN.md's "Alerts" contract plus two names it lacks (unknown,
 * dns_interception). title is the default summary. */
struct alert_def {
  const char *name;
  enum scope scope;
  const char *severity;
  const char *title;
};

static const struct alert_def alert_defs[] = {
    {ALERT_NAME_PLATFORM_INCIDENT, SCOPE_PLATFORM, "warning",
     "The Claude API is having a platform incident"},
    {"ClaudeKeyAuthFailing", SCOPE_LOCAL, "critical", "The API rejects the key"},
    {"ClaudeKeyPermissionDenied", SCOPE_LOCAL, "critical", "The key is not permitted"},
    {"ClaudeQuotaExhausted", SCOPE_LOCAL, "critical", "Credit balance or spend limit exhausted"},
    {"ClaudeAccountDisabled", SCOPE_LOCAL, "critical", "The organization is disabled"},
    {"ClaudeRateLimited", SCOPE_LOCAL, "warning", "Requests are rate limited"},
    {ALERT_NAME_HEADROOM_LOW, SCOPE_LOCAL, "warning", "Rate-limit headroom is low"},
    {"ClaudeRequestInvalid", SCOPE_LOCAL, "warning", "The API refuses the probe request"},
    {"ClaudeKeyUnavailable", SCOPE_LOCAL, "critical", "The key's secret cannot be read"},
    {"ClaudeKeyUnknownError", SCOPE_LOCAL, "warning", "The API answers with an unrecognised error"},
    {"ClaudeNetworkUnreachable", SCOPE_NETWORK, "critical",
     "The Claude API is unreachable from this network"},
    {"ClaudeDNSInterception", SCOPE_NETWORK, "warning",
     "api.anthropic.com resolves outside Anthropic's addresses"},
    {"ClaudeStatusMismatch", SCOPE_PLATFORM, "warning", "Probes and the status page disagree"},
    {"ClaudeStatusPageUnreachable", SCOPE_NETWORK, "info", "The status page cannot be fetched"},
    {ALERT_NAME_HEARTBEAT, SCOPE_NONE, "none", "claudemon is running"},
};

static const char heartbeat_description[] =
    "Always firing while claudemon runs: route it to a dead-man's switch, which alerts when "
    "it stops arriving.";
static const char heartbeat_advice[] =
    "If this alert stops arriving, claudemon is down or cannot reach its receiver: check the "
    "service, its logs and its path to the receiver.";
static const char headroom_advice[] =
    "The key is close to its rate limit: spread or reduce the load, or ask for a higher limit "
    "before requests start failing with 429.";

static const struct alert_def *def_find(const char *name) {
  if (!name) return NULL;
  for (size_t i = 0; i < UTIL_ARRAY_LEN(alert_defs); i++)
    if (strcmp(alert_defs[i].name, name) == 0) return &alert_defs[i];
  return NULL;
}

const char *alert_name_for(enum scope scope, enum cause cause, const char *key) {
  (void)key;
  switch (cause) {
  case CAUSE_OK:
    return NULL;
  case CAUSE_INCIDENT:
  case CAUSE_MAINTENANCE:
  case CAUSE_OVERLOADED:
  case CAUSE_SERVER_ERROR:
    return ALERT_NAME_PLATFORM_INCIDENT;
  case CAUSE_NETWORK:
  case CAUSE_TIMEOUT:
  case CAUSE_EDGE_ERROR:
    return scope == SCOPE_PLATFORM ? ALERT_NAME_PLATFORM_INCIDENT : "ClaudeNetworkUnreachable";
  case CAUSE_AUTH_INVALID:
    return "ClaudeKeyAuthFailing";
  case CAUSE_PERMISSION:
    return "ClaudeKeyPermissionDenied";
  case CAUSE_QUOTA:
    return "ClaudeQuotaExhausted";
  case CAUSE_ACCOUNT_DISABLED:
    return "ClaudeAccountDisabled";
  case CAUSE_RATE_LIMITED:
    return "ClaudeRateLimited";
  case CAUSE_REQUEST_INVALID:
    return "ClaudeRequestInvalid";
  case CAUSE_KEY_UNAVAILABLE:
    return "ClaudeKeyUnavailable";
  case CAUSE_UNKNOWN:
    return "ClaudeKeyUnknownError";
  case CAUSE_STATUS_MISMATCH:
    return "ClaudeStatusMismatch";
  case CAUSE_STATUS_PAGE_UNREACHABLE:
    return "ClaudeStatusPageUnreachable";
  case CAUSE_DNS_INTERCEPTION:
    return "ClaudeDNSInterception";
  case CAUSE__COUNT:
    break;
  }
  return "ClaudeKeyUnknownError"; /* an out-of-range cause is still something to look at */
}

enum scope alert_scope_of(const char *alertname) {
  const struct alert_def *d = def_find(alertname);
  return d ? d->scope : SCOPE_NONE;
}

const char *alert_severity_of(const char *alertname, bool maintenance) {
  const struct alert_def *d = def_find(alertname);
  if (!d) return NULL;
  if (maintenance && strcmp(d->name, ALERT_NAME_PLATFORM_INCIDENT) == 0) return "info";
  return d->severity;
}

bool alert_headroom_is_low(int64_t remaining, int64_t limit, double threshold) {
  if (limit <= 0 || remaining < 0) return false;
  return (double)remaining < threshold * (double)limit;
}

/* The fingerprint of Prometheus' common/model (LabelSet.Fingerprint): FNV-1a 64. */
#define FNV_OFFSET 14695981039346656037ULL
#define FNV_PRIME 1099511628211ULL

static uint64_t fnv_add(uint64_t h, const char *s) {
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    h ^= *p;
    h *= FNV_PRIME;
  }
  return h;
}

static uint64_t fnv_sep(uint64_t h) {
  h ^= 0xff;
  return h * FNV_PRIME;
}

uint64_t alert_fingerprint(const char *const *names, const char *const *values, size_t n) {
  /* Insertion sort of indices: label sets are a handful of entries. */
  size_t *order = xmalloc(n * sizeof(*order));
  for (size_t i = 0; i < n; i++) {
    size_t j = i;
    while (j > 0 && strcmp(names[order[j - 1]], names[i]) > 0) {
      order[j] = order[j - 1];
      j--;
    }
    order[j] = i;
  }
  uint64_t h = FNV_OFFSET;
  for (size_t i = 0; i < n; i++) {
    h = fnv_sep(fnv_add(h, names[order[i]]));
    h = fnv_sep(fnv_add(h, values[order[i]]));
  }
  free(order);
  return h;
}

/* ---- alerts ---------------------------------------------------------------------------- */

/* An alert's life. HELD is a vanished condition still sent as firing (it may be flapping);
 * receivers see firing or resolved only. */
enum alert_phase { PHASE_FIRING, PHASE_HELD, PHASE_RESOLVED };

static const char *const phase_names[] = {"firing", "held", "resolved"};

struct alert_pair {
  char *name;
  char *value;
};

/* One receiver's view of one alert. */
struct alert_rx {
  uint64_t sent_version;     /* version the receiver acknowledged; 0 none */
  uint64_t inflight_version; /* version in the request in flight; 0 none */
  int64_t last_sent_ms;      /* when sent_version was last sent; -1 never */
};

struct alert {
  uint64_t fp;
  char fp_hex[ALERT_FINGERPRINT_LEN + 1];
  struct alert_pair *labels; /* sorted by name */
  size_t n_labels;
  struct alert_pair *annotations;
  size_t n_annotations;
  const char *alertname; /* points into labels */
  const char *key;       /* points into labels; NULL when not about one key */
  enum alert_phase phase;
  int64_t starts_ms;
  int64_t ends_ms;         /* resolved: endsAt; -1 otherwise */
  int64_t stable_since_ms; /* it (re)appeared then and has held since */
  int64_t vanished_ms;     /* held: when it went away */
  int64_t resolved_at_ms;  /* resolved: when we resolved it (the keep period runs from here) */
  uint64_t version;        /* bumped on every change receivers must hear about */
  bool heartbeat;
  bool seen; /* scratch for alerts_update */
  struct alert_rx rx[];
};

struct alert_receiver {
  bool inflight;
  int64_t inflight_ms;
  int64_t backoff_ms;  /* 0 after a success */
  int64_t retry_at_ms; /* not before this after a failure */
  struct log_complaint complaint;
};

struct alerts {
  int64_t resend_ms, hold_ms, keep_ms;
  char *generator_url; /* NULL when no external_url */
  char *external_url;
  char *runbook_url;
  char *vantage;
  size_t n_rx;
  struct alert_receiver *rx;
  struct alert **v; /* sorted by fp */
  size_t n, cap;
  int64_t started_ms; /* first alerts_update; -1 before */
  uint64_t generation;
};

static char *dup_or_null(const char *s) {
  return s && *s ? xstrdup(s) : NULL;
}

static char *strip_slash(char *s) {
  size_t len = s ? strlen(s) : 0;
  while (len > 0 && s[len - 1] == '/')
    s[--len] = '\0';
  return s;
}

void alerts_opts_from_config(struct alerts_opts *o, const struct config *c) {
  memset(o, 0, sizeof(*o));
  o->resend_interval_ms = c->alerting.resend_interval_ms;
  o->external_url = c->external_url;
  o->runbook_url = c->alerting.runbook_url;
  o->vantage = c->vantage;
  o->n_receivers = c->alerting.n_alertmanager;
  if (c->alerting.webhook.url.env || c->alerting.webhook.url.file) o->n_receivers++;
  int64_t resend = o->resend_interval_ms > 0 ? o->resend_interval_ms : DEFAULT_RESEND_MS;
  int64_t hold = DEFAULT_HOLD_MIN_MS;
  if (4 * resend > hold) hold = 4 * resend;
  for (size_t i = 0; i < c->n_keys; i++) {
    int64_t shortest = 0;
    for (int k = 0; k < PROBE__COUNT; k++) {
      const struct config_probe *p = &c->keys[i].probes[k];
      if (p->enabled && p->interval_ms > 0 && (shortest == 0 || p->interval_ms < shortest))
        shortest = p->interval_ms;
    }
    if (3 * shortest > hold) hold = 3 * shortest;
  }
  o->hold_down_ms = c->alerting.hold_down_ms > 0 ? c->alerting.hold_down_ms : hold;
  o->resolved_keep_ms = c->alerting.resolved_keep_ms;
}

struct alerts *alerts_new(const struct alerts_opts *o) {
  struct alerts *a = xcalloc(1, sizeof(*a));
  a->resend_ms = o->resend_interval_ms > 0 ? o->resend_interval_ms : DEFAULT_RESEND_MS;
  a->hold_ms = o->hold_down_ms > 0 ? o->hold_down_ms : DEFAULT_HOLD_MIN_MS;
  if (o->hold_down_ms <= 0 && 4 * a->resend_ms > a->hold_ms) a->hold_ms = 4 * a->resend_ms;
  a->keep_ms = o->resolved_keep_ms > 0 ? o->resolved_keep_ms : DEFAULT_KEEP_MS;
  a->external_url = strip_slash(dup_or_null(o->external_url));
  if (a->external_url) a->generator_url = xasprintf("%s/api/v1/status", a->external_url);
  a->runbook_url = dup_or_null(o->runbook_url);
  a->vantage = dup_or_null(o->vantage);
  a->n_rx = o->n_receivers;
  a->rx = xcalloc(a->n_rx ? a->n_rx : 1, sizeof(*a->rx));
  a->started_ms = -1;
  return a;
}

static void pairs_free(struct alert_pair *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(p[i].name);
    free(p[i].value);
  }
  free(p);
}

static void alert_free(struct alert *al) {
  if (!al) return;
  pairs_free(al->labels, al->n_labels);
  pairs_free(al->annotations, al->n_annotations);
  free(al);
}

void alerts_free(struct alerts *a) {
  if (!a) return;
  for (size_t i = 0; i < a->n; i++)
    alert_free(a->v[i]);
  free(a->v);
  free(a->rx);
  free(a->external_url);
  free(a->generator_url);
  free(a->runbook_url);
  free(a->vantage);
  free(a);
}

uint64_t alerts_generation(const struct alerts *a) {
  return a->generation;
}

static const char *label_get(const struct alert *al, const char *name) {
  for (size_t i = 0; i < al->n_labels; i++)
    if (strcmp(al->labels[i].name, name) == 0) return al->labels[i].value;
  return NULL;
}

/* alert_set_phase is the one place an alert changes phase: it logs the change and bumps the
 * generation (and the version when receivers must hear about it). */
static void alert_set_phase(struct alerts *a, struct alert *al, enum alert_phase to,
                            int64_t now_ms) {
  enum alert_phase from = al->phase;
  al->phase = to;
  bool visible = (from == PHASE_RESOLVED) != (to == PHASE_RESOLVED);
  if (visible) al->version++;
  a->generation++;
  if (to == PHASE_RESOLVED) al->resolved_at_ms = now_ms;
  /* Holding and flapping back are invisible to receivers; at info level they would write a
   * line per probe for a flapping key. */
  char since[32];
  log_write(visible ? LOG_INFO : LOG_DEBUG, "alert state",
            "alertname=%s key=%s fingerprint=%s from=%s to=%s starts_at=%s", al->alertname,
            log_q(al->key ? al->key : ""), al->fp_hex, phase_names[from], phase_names[to],
            util_format_time(since, sizeof(since), al->starts_ms, false));
}

/* ---- text hygiene ---------------------------------------------------------------------- */

/* clean_text returns a copy of s fit for a payload: every secret and key-shaped string
 * redacted (before anything can cut one in half), control characters replaced, at most max
 * bytes. multiline keeps line breaks (descriptions hold one piece of evidence per line). */
static char *clean_text(const char *s, size_t max, bool multiline) {
  if (!s) s = "";
  size_t len = strlen(s);
  /* A registered secret is at least 6 bytes and "[REDACTED]" 10: twice the length fits. */
  size_t cap = 2 * len + 16;
  char *red = xmalloc(cap);
  memcpy(red, s, len + 1);
  log_redact(red, cap);
  char *out = xmalloc(max + 1);
  size_t o = 0;
  const char *p = red;
  while (*p && o < max) {
    const char *nl = multiline ? strchr(p, '\n') : NULL;
    size_t seg = nl ? (size_t)(nl - p) : strlen(p);
    if (o > 0 && multiline) out[o++] = '\n';
    if (o >= max) break;
    util_sanitize(out + o, max + 1 - o, p, seg);
    o += strlen(out + o);
    if (!nl) break;
    p = nl + 1;
  }
  out[o] = '\0';
  while (o > 0 && out[o - 1] == '\n')
    out[--o] = '\0';
  free(red);
  return out;
}

/* ---- inputs into label sets ------------------------------------------------------------ */

/* What one input becomes: its label set (sorted by name) and fingerprint. */
struct prepared {
  const struct alert_input *in; /* NULL for the heartbeat */
  const char *alertname;
  const char *names[5];
  const char *values[5];
  size_t n_labels;
  char *key; /* cleaned key label value (owned), NULL when keyless */
  uint64_t fp;
  int64_t onset_ms;
  bool drop;
};

static void prepare(struct prepared *p, const struct alert_input *in, const char *alertname,
                    enum cause cause, bool maintenance, const char *key) {
  memset(p, 0, sizeof(*p));
  p->in = in;
  p->alertname = alertname;
  if (key && *key) p->key = clean_text(key, LABEL_VALUE_MAX, false);
  if (p->key && !*p->key) { /* a name of nothing but control characters */
    free(p->key);
    p->key = xstrdup("_");
  }
  /* Built in name order: alertname, cause, key, scope, severity. */
  size_t n = 0;
  p->names[n] = "alertname", p->values[n++] = alertname;
  p->names[n] = "cause", p->values[n++] = cause_name(cause);
  if (p->key) p->names[n] = "key", p->values[n++] = p->key;
  p->names[n] = "scope", p->values[n++] = scope_name(alert_scope_of(alertname));
  p->names[n] = "severity", p->values[n++] = alert_severity_of(alertname, maintenance);
  p->n_labels = n;
  p->fp = alert_fingerprint(p->names, p->values, n);
}

static int prepared_cmp(const void *x, const void *y) {
  const struct prepared *a = x, *b = y;
  if (a->fp != b->fp) return a->fp < b->fp ? -1 : 1;
  /* Equal label sets: the earlier input first, so it is the one kept. */
  if (a->in && b->in) return a->in < b->in ? -1 : a->in > b->in;
  return (a->in != NULL) - (b->in != NULL);
}

/* An input about one key whose cause is the platform's side of an incident. timeout and
 * edge_error count: during a declared incident they are its symptoms. */
static bool per_key_platform_side(const struct alert_input *in) {
  if (!in->key || !*in->key) return false;
  switch (in->cause) {
  case CAUSE_OVERLOADED:
  case CAUSE_SERVER_ERROR:
  case CAUSE_TIMEOUT:
  case CAUSE_EDGE_ERROR:
  case CAUSE_INCIDENT:
  case CAUSE_MAINTENANCE:
    return true;
  default:
    return in->scope == SCOPE_PLATFORM;
  }
}

static void set_pair(struct alert_pair *p, const char *name, char *value) {
  p->name = xstrdup(name);
  p->value = value;
}

/* annotations_for builds the annotations of a prepared input: summary, description, advice,
 * runbook_url, vantage. */
static void annotations_for(const struct alerts *a, const struct prepared *p,
                            struct alert_pair **out, size_t *n_out) {
  struct alert_pair *ann = xcalloc(5, sizeof(*ann));
  size_t n = 0;
  const struct alert_def *d = def_find(p->alertname);
  const char *summary = p->in ? p->in->summary : NULL;
  const char *description = p->in ? p->in->description : heartbeat_description;
  char *s;
  if (summary && *summary)
    s = clean_text(summary, SUMMARY_MAX, false);
  else if (p->key) /* "Key 'prod': the API rejects the key", as the shipped rules say it */
    s = xasprintf("Key '%s': %c%s", p->key, tolower((unsigned char)d->title[0]), d->title + 1);
  else
    s = xstrdup(d->title);
  set_pair(&ann[n++], "summary", s);
  if (description && *description)
    set_pair(&ann[n++], "description", clean_text(description, DESCRIPTION_MAX, true));
  const char *advice = !p->in                ? heartbeat_advice
                       : p->in->headroom_low ? headroom_advice
                                             : cause_advice(p->in->cause);
  set_pair(&ann[n++], "advice", xstrdup(advice));
  if (a->runbook_url && p->in)
    set_pair(&ann[n++], "runbook_url",
             xasprintf("%s#%s", a->runbook_url, cause_name(p->in->cause)));
  if (a->vantage) set_pair(&ann[n++], "vantage", clean_text(a->vantage, SUMMARY_MAX, false));
  *out = ann;
  *n_out = n;
}

static struct alert *alert_create(const struct alerts *a, const struct prepared *p) {
  struct alert *al = xcalloc(1, sizeof(*al) + a->n_rx * sizeof(al->rx[0]));
  al->fp = p->fp;
  snprintf(al->fp_hex, sizeof(al->fp_hex), "%016llx", (unsigned long long)p->fp);
  al->labels = xcalloc(p->n_labels, sizeof(*al->labels));
  al->n_labels = p->n_labels;
  for (size_t i = 0; i < p->n_labels; i++)
    set_pair(&al->labels[i], p->names[i], xstrdup(p->values[i]));
  al->alertname = label_get(al, "alertname");
  al->key = label_get(al, "key");
  al->heartbeat = p->in == NULL;
  al->ends_ms = -1;
  al->vanished_ms = -1;
  al->resolved_at_ms = -1;
  al->version = 1;
  for (size_t r = 0; r < a->n_rx; r++)
    al->rx[r].last_sent_ms = -1;
  return al;
}

static void alert_set_annotations(const struct alerts *a, struct alert *al,
                                  const struct prepared *p) {
  pairs_free(al->annotations, al->n_annotations);
  annotations_for(a, p, &al->annotations, &al->n_annotations);
}

/* fire starts al (new, or back after a hold-down) at the condition's onset. */
static void fire(struct alerts *a, struct alert *al, int64_t onset_ms, int64_t now_ms,
                 bool is_new) {
  int64_t starts = onset_ms > 0 && onset_ms <= now_ms ? onset_ms : now_ms;
  /* A startsAt inside the previous firing would make Alertmanager reopen that one. */
  if (!is_new && al->ends_ms >= 0 && starts <= al->ends_ms) starts = al->ends_ms + 1;
  if (starts > now_ms) starts = now_ms;
  al->starts_ms = starts;
  al->ends_ms = -1;
  al->stable_since_ms = now_ms;
  al->vanished_ms = -1;
  if (is_new) {
    a->generation++;
    char since[32];
    log_info("alert state", "alertname=%s key=%s fingerprint=%s from=none to=firing starts_at=%s",
             al->alertname, log_q(al->key ? al->key : ""), al->fp_hex,
             util_format_time(since, sizeof(since), al->starts_ms, false));
  } else {
    alert_set_phase(a, al, PHASE_FIRING, now_ms);
  }
}

/* present moves an existing alert whose condition holds now. */
static void present(struct alerts *a, struct alert *al, int64_t onset_ms, int64_t now_ms) {
  switch (al->phase) {
  case PHASE_FIRING:
    break;
  case PHASE_HELD: /* it flapped back: the same alert, its settling starts over */
    al->stable_since_ms = now_ms;
    al->vanished_ms = -1;
    alert_set_phase(a, al, PHASE_FIRING, now_ms);
    break;
  case PHASE_RESOLVED:
    if (now_ms - al->resolved_at_ms < a->hold_ms) { /* back within the hold-down: reopen */
      al->ends_ms = -1;
      al->stable_since_ms = now_ms;
      alert_set_phase(a, al, PHASE_FIRING, now_ms);
    } else {
      fire(a, al, onset_ms, now_ms, false);
    }
    break;
  }
}

/* absent moves an existing alert whose condition no longer holds. */
static void absent(struct alerts *a, struct alert *al, int64_t now_ms) {
  if (al->phase != PHASE_FIRING) return;
  if (now_ms - al->stable_since_ms >= a->hold_ms) {
    al->ends_ms = now_ms;
    alert_set_phase(a, al, PHASE_RESOLVED, now_ms);
  } else {
    al->vanished_ms = now_ms;
    alert_set_phase(a, al, PHASE_HELD, now_ms);
  }
}

/* covered_by_incident: al is a per-key alert of a platform-side cause (what
 * per_key_platform_side() drops while a platform incident is declared). */
static bool covered_by_incident(const struct alert *al) {
  if (!al->key || al->heartbeat) return false;
  if (strcmp(al->alertname, ALERT_NAME_PLATFORM_INCIDENT) == 0) return true;
  const char *cause = label_get(al, "cause");
  return cause && (strcmp(cause, "timeout") == 0 || strcmp(cause, "edge_error") == 0);
}

/* superseded resolves at once a per-key alert that a declared platform incident now covers:
 * it did not go away, so holding it against flapping would only keep a second page firing
 * beside the incident's for a whole hold-down. */
static void superseded(struct alerts *a, struct alert *al, int64_t now_ms) {
  if (al->phase == PHASE_RESOLVED) return;
  al->ends_ms = al->phase == PHASE_HELD ? al->vanished_ms : now_ms;
  alert_set_phase(a, al, PHASE_RESOLVED, now_ms);
}

/* tick applies what time alone does: held alerts that stayed away a whole hold-down resolve
 * (endsAt = when they went away); resolved ones are dropped after the keep period. */
static void tick(struct alerts *a, int64_t now_ms) {
  size_t o = 0;
  for (size_t i = 0; i < a->n; i++) {
    struct alert *al = a->v[i];
    if (al->phase == PHASE_HELD && now_ms - al->vanished_ms >= a->hold_ms) {
      al->ends_ms = al->vanished_ms;
      alert_set_phase(a, al, PHASE_RESOLVED, now_ms);
    }
    if (al->phase == PHASE_RESOLVED && now_ms - al->resolved_at_ms >= a->keep_ms) {
      alert_free(al);
      a->generation++;
      continue;
    }
    a->v[o++] = al;
  }
  a->n = o;
}

static void push(struct alert ***v, size_t *n, size_t *cap, struct alert *al) {
  if (*n == *cap) {
    *cap = *cap ? 2 * *cap : 16;
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): the element is a pointer, as wanted */
    *v = xrealloc(*v, *cap * sizeof(**v));
  }
  (*v)[(*n)++] = al;
}

static int str_ptr_cmp(const void *x, const void *y) {
  return strcmp(*(const char *const *)x, *(const char *const *)y);
}

static bool is_platform_incident(const char *alertname) {
  return alertname && strcmp(alertname, ALERT_NAME_PLATFORM_INCIDENT) == 0;
}

void alerts_update(struct alerts *a, const struct alert_input *in, size_t n, int64_t now_ms) {
  if (a->started_ms < 0) a->started_ms = now_ms;
  struct prepared *p = xcalloc(n + 1, sizeof(*p));
  const char **limited = xcalloc(n + 1, sizeof(*limited));
  size_t np = 0, nlimited = 0;

  /* Is a platform incident declared, and which keys are rate limited already? */
  bool incident = false;
  for (size_t i = 0; i < n; i++) {
    bool keyed = in[i].key && *in[i].key;
    if (in[i].headroom_low) continue;
    if (!keyed && is_platform_incident(alert_name_for(in[i].scope, in[i].cause, NULL)))
      incident = true;
    if (keyed && in[i].cause == CAUSE_RATE_LIMITED) limited[nlimited++] = in[i].key;
  }
  qsort(limited, nlimited, sizeof(*limited), str_ptr_cmp);

  for (size_t i = 0; i < n; i++) {
    const struct alert_input *x = &in[i];
    const char *name =
        x->headroom_low ? ALERT_NAME_HEADROOM_LOW : alert_name_for(x->scope, x->cause, x->key);
    if (!name) continue;
    if (incident && per_key_platform_side(x)) continue;
    if (x->headroom_low &&
        (!x->key || !*x->key || bsearch(&x->key, limited, nlimited, sizeof(*limited), str_ptr_cmp)))
      continue;
    enum cause cause = x->headroom_low ? CAUSE_RATE_LIMITED : x->cause;
    prepare(&p[np], x, name, cause, x->maintenance || x->cause == CAUSE_MAINTENANCE, x->key);
    p[np].onset_ms = x->onset_ms;
    np++;
  }
  prepare(&p[np], NULL, ALERT_NAME_HEARTBEAT, CAUSE_OK, false, NULL);
  p[np].onset_ms = a->started_ms;
  np++;

  /* The same label set twice: keep the first input, with the earliest onset of them all. */
  qsort(p, np, sizeof(*p), prepared_cmp);
  for (size_t i = 1, kept = 0; i < np; i++) {
    if (p[i].fp != p[kept].fp) {
      kept = i;
      continue;
    }
    p[i].drop = true;
    if (p[i].onset_ms > 0 && (p[kept].onset_ms <= 0 || p[i].onset_ms < p[kept].onset_ms))
      p[kept].onset_ms = p[i].onset_ms;
  }

  /* Merge the sorted inputs with the sorted alerts into a new sorted array. */
  struct alert **v = NULL;
  size_t nv = 0, cap = 0, i = 0, j = 0;
  while (i < a->n || j < np) {
    if (j < np && p[j].drop) {
      j++;
      continue;
    }
    if (j >= np || (i < a->n && a->v[i]->fp < p[j].fp)) {
      if (incident && covered_by_incident(a->v[i]))
        superseded(a, a->v[i], now_ms);
      else
        absent(a, a->v[i], now_ms);
      push(&v, &nv, &cap, a->v[i++]);
    } else if (i >= a->n || p[j].fp < a->v[i]->fp) {
      struct alert *al = alert_create(a, &p[j]);
      alert_set_annotations(a, al, &p[j]);
      fire(a, al, p[j].onset_ms, now_ms, true);
      push(&v, &nv, &cap, al);
      j++;
    } else {
      struct alert *al = a->v[i++];
      alert_set_annotations(a, al, &p[j]);
      present(a, al, p[j].onset_ms, now_ms);
      push(&v, &nv, &cap, al);
      j++;
    }
  }
  free(a->v);
  a->v = v;
  a->n = nv;
  a->cap = cap;
  for (size_t k = 0; k < np; k++)
    free(p[k].key);
  free(p);
  free(limited);
  tick(a, now_ms);
}

/* ---- delivery -------------------------------------------------------------------------- */

static bool rx_changed(const struct alert *al, size_t r) {
  return al->rx[r].sent_version != al->version;
}

/* rx_resend_at is when al is next due for receiver r by the resend clock, INT64_MAX when
 * never (a resolved alert past its keep period). */
static int64_t rx_resend_at(const struct alerts *a, const struct alert *al, size_t r,
                            int64_t every_ms) {
  if (rx_changed(al, r) || al->rx[r].last_sent_ms < 0) return INT64_MIN;
  int64_t t = al->rx[r].last_sent_ms + every_ms;
  if (al->phase == PHASE_RESOLVED && t >= al->resolved_at_ms + a->keep_ms) return INT64_MAX;
  return t;
}

static void add_pairs(cJSON *obj, const char *name, const struct alert_pair *p, size_t n) {
  cJSON *o = cJSON_AddObjectToObject(obj, name);
  for (size_t i = 0; i < n; i++)
    cJSON_AddStringToObject(o, p[i].name, p[i].value);
}

static cJSON *alert_json(const struct alerts *a, const struct alert *al, int64_t now_ms,
                         bool webhook) {
  char t[32];
  cJSON *o = cJSON_CreateObject();
  bool resolved = al->phase == PHASE_RESOLVED;
  if (webhook) {
    cJSON_AddStringToObject(o, "status", resolved ? "resolved" : "firing");
    cJSON_AddStringToObject(o, "fingerprint", al->fp_hex);
  }
  add_pairs(o, "labels", al->labels, al->n_labels);
  add_pairs(o, "annotations", al->annotations, al->n_annotations);
  cJSON_AddStringToObject(o, "startsAt", util_format_time(t, sizeof(t), al->starts_ms, true));
  /* Firing: an expiry 4 resend intervals ahead, as Prometheus does, so an alert we stop
   * sending resolves by itself; resolved: when it ended. */
  int64_t ends = resolved ? al->ends_ms : now_ms + 4 * a->resend_ms;
  cJSON_AddStringToObject(o, "endsAt", util_format_time(t, sizeof(t), ends, true));
  if (a->generator_url) cJSON_AddStringToObject(o, "generatorURL", a->generator_url);
  return o;
}

static void receiver_failed(struct alerts *a, size_t r, int64_t now_ms) {
  struct alert_receiver *rx = &a->rx[r];
  int64_t cap = a->resend_ms > BACKOFF_FIRST_MS ? a->resend_ms : BACKOFF_FIRST_MS;
  rx->backoff_ms = rx->backoff_ms ? 2 * rx->backoff_ms : BACKOFF_FIRST_MS;
  if (rx->backoff_ms > cap) rx->backoff_ms = cap;
  rx->retry_at_ms = now_ms + rx->backoff_ms;
  for (size_t i = 0; i < a->n; i++)
    a->v[i]->rx[r].inflight_version = 0;
  rx->inflight = false;
  if (log_complain(&rx->complaint, now_ms)) {
    char b[32];
    log_warn("alert delivery failed", "receiver=%zu retry_in=%s suppressed=%u", r,
             util_format_duration(b, sizeof(b), rx->backoff_ms), rx->complaint.suppressed);
  }
}

/* collect picks what is due for receiver r into a JSON array (NULL when nothing) and marks
 * it in flight. */
static cJSON *collect(struct alerts *a, size_t r, int64_t now_ms, bool webhook, bool *any_firing) {
  if (r >= a->n_rx) return NULL;
  struct alert_receiver *rx = &a->rx[r];
  if (rx->inflight) {
    if (now_ms - rx->inflight_ms < INFLIGHT_TIMEOUT_MS) return NULL;
    log_warn("alert request never reported; counted as failed", "receiver=%zu", r);
    receiver_failed(a, r, now_ms);
  }
  if (now_ms < rx->retry_at_ms) return NULL;
  tick(a, now_ms);

  /* Anything due at all? Then alerts half-way to their resend ride along. */
  bool due = false;
  for (size_t i = 0; i < a->n && !due; i++)
    due = rx_resend_at(a, a->v[i], r, a->resend_ms) <= now_ms;
  if (!due) return NULL;

  cJSON *arr = cJSON_CreateArray();
  size_t count = 0;
  *any_firing = false;
  /* Changes first, so a full batch never starves a new or resolved alert. */
  for (int pass = 0; pass < 2; pass++) {
    for (size_t i = 0; i < a->n && count < ALERT_BATCH_MAX; i++) {
      struct alert *al = a->v[i];
      if (al->rx[r].inflight_version) continue;
      bool pick =
          pass == 0 ? rx_changed(al, r) : rx_resend_at(a, al, r, a->resend_ms / 2) <= now_ms;
      if (!pick) continue;
      cJSON_AddItemToArray(arr, alert_json(a, al, now_ms, webhook));
      al->rx[r].inflight_version = al->version;
      if (al->phase != PHASE_RESOLVED) *any_firing = true;
      count++;
    }
  }
  rx->inflight = true;
  rx->inflight_ms = now_ms;
  return arr;
}

static char *print(cJSON *root) {
  char *s = cJSON_PrintUnformatted(root);
  if (!s) abort(); /* cJSON fails only when out of memory */
  cJSON_Delete(root);
  return s;
}

bool alerts_due(struct alerts *a, size_t receiver, int64_t now_ms, char **json) {
  bool firing;
  *json = NULL;
  cJSON *arr = collect(a, receiver, now_ms, false, &firing);
  if (!arr) return false;
  *json = print(arr);
  return true;
}

bool alerts_webhook_body(struct alerts *a, size_t receiver, int64_t now_ms, char **json) {
  bool firing = false;
  *json = NULL;
  cJSON *arr = collect(a, receiver, now_ms, true, &firing);
  if (!arr) return false;
  char t[32];
  cJSON *root = cJSON_CreateObject();
  cJSON_AddStringToObject(root, "version", "1");
  cJSON_AddStringToObject(root, "sender", "claudemon");
  cJSON_AddStringToObject(root, "status", firing ? "firing" : "resolved");
  /* Signed with the body: a receiver can refuse replays of old bodies. */
  cJSON_AddStringToObject(root, "sentAt", util_format_time(t, sizeof(t), now_ms, true));
  if (a->external_url) cJSON_AddStringToObject(root, "externalURL", a->external_url);
  cJSON_AddItemToObject(root, "alerts", arr);
  *json = print(root);
  return true;
}

void alerts_sent(struct alerts *a, size_t receiver, bool ok, int64_t now_ms) {
  if (receiver >= a->n_rx) return;
  struct alert_receiver *rx = &a->rx[receiver];
  if (!rx->inflight) return; /* a late report of a request already counted as failed */
  if (!ok) {
    receiver_failed(a, receiver, now_ms);
    return;
  }
  for (size_t i = 0; i < a->n; i++) {
    struct alert_rx *x = &a->v[i]->rx[receiver];
    if (!x->inflight_version) continue;
    x->sent_version = x->inflight_version;
    /* The resend clock runs from when the request was made, so resends stay regular. */
    x->last_sent_ms = rx->inflight_ms;
    x->inflight_version = 0;
  }
  rx->inflight = false;
  rx->backoff_ms = 0;
  rx->retry_at_ms = 0;
  if (log_recover(&rx->complaint)) log_info("alert delivery recovered", "receiver=%zu", receiver);
}

int64_t alerts_next_due_ms(const struct alerts *a, size_t receiver) {
  if (receiver >= a->n_rx) return INT64_MAX;
  const struct alert_receiver *rx = &a->rx[receiver];
  if (rx->inflight) return rx->inflight_ms + INFLIGHT_TIMEOUT_MS;
  int64_t next = INT64_MAX;
  for (size_t i = 0; i < a->n; i++) {
    const struct alert *al = a->v[i];
    int64_t t = rx_resend_at(a, al, receiver, a->resend_ms);
    if (t < next) next = t;
    /* A held alert resolving is a change to send. */
    if (al->phase == PHASE_HELD && al->vanished_ms + a->hold_ms < next)
      next = al->vanished_ms + a->hold_ms;
  }
  if (next == INT64_MAX) return next;
  return next > rx->retry_at_ms ? next : rx->retry_at_ms;
}

void alerts_hmac_sha256_hex(const char *secret, const void *body, size_t len, char out[65]) {
  static const char hex[] = "0123456789abcdef";
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), body, len, md, &mdlen) || mdlen != 32)
    abort(); /* only when OpenSSL cannot allocate */
  for (size_t i = 0; i < 32; i++) {
    out[2 * i] = hex[md[i] >> 4];
    out[2 * i + 1] = hex[md[i] & 15];
  }
  out[64] = '\0';
}

/* ---- persistence ----------------------------------------------------------------------- */

const char *alert_state_name(enum alert_state s) {
  return s == ALERT_STATE_RESOLVED ? "resolved" : "firing";
}

int alert_state_parse(const char *name, enum alert_state *s) {
  if (name && strcmp(name, "firing") == 0) {
    *s = ALERT_STATE_FIRING;
    return 0;
  }
  if (name && strcmp(name, "resolved") == 0) {
    *s = ALERT_STATE_RESOLVED;
    return 0;
  }
  return UTIL_EINVAL;
}

static char *pairs_json(const struct alert_pair *p, size_t n) {
  cJSON *o = cJSON_CreateObject();
  for (size_t i = 0; i < n; i++)
    cJSON_AddStringToObject(o, p[i].name, p[i].value);
  return print(o);
}

size_t alerts_export(const struct alerts *a, struct alert_record **out) {
  *out = NULL;
  size_t n = 0;
  for (size_t i = 0; i < a->n; i++)
    n += !a->v[i]->heartbeat;
  if (n == 0) return 0;
  struct alert_record *r = xcalloc(n, sizeof(*r));
  size_t k = 0;
  for (size_t i = 0; i < a->n; i++) {
    const struct alert *al = a->v[i];
    if (al->heartbeat) continue;
    util_copy(r[k].fingerprint, sizeof(r[k].fingerprint), al->fp_hex);
    r[k].labels = pairs_json(al->labels, al->n_labels);
    r[k].annotations = pairs_json(al->annotations, al->n_annotations);
    r[k].starts_at_ms = al->starts_ms;
    r[k].state = al->phase == PHASE_RESOLVED ? ALERT_STATE_RESOLVED : ALERT_STATE_FIRING;
    r[k].ends_at_ms = r[k].state == ALERT_STATE_RESOLVED ? al->ends_ms : -1;
    k++;
  }
  *out = r;
  return n;
}

void alert_records_free(struct alert_record *r, size_t n) {
  if (!r) return;
  for (size_t i = 0; i < n; i++) {
    free(r[i].labels);
    free(r[i].annotations);
  }
  free(r);
}

/* parse_pairs reads a JSON object whose values are all strings. Returns 0 or UTIL_EPARSE. */
static int parse_pairs(const char *json, struct alert_pair **out, size_t *n_out) {
  int err = UTIL_EPARSE;
  struct alert_pair *p = NULL;
  size_t n = 0;
  cJSON *root = json ? cJSON_Parse(json) : NULL;
  if (!cJSON_IsObject(root)) goto out;
  p = xcalloc((size_t)cJSON_GetArraySize(root) + 1, sizeof(*p));
  const cJSON *it;
  cJSON_ArrayForEach(it, root) {
    if (!it->string || !*it->string || !cJSON_IsString(it) || !it->valuestring) goto out;
    for (size_t i = 0; i < n; i++)
      if (strcmp(p[i].name, it->string) == 0) goto out;
    set_pair(&p[n++], it->string, xstrdup(it->valuestring));
  }
  err = 0;
out:
  cJSON_Delete(root);
  if (err) {
    pairs_free(p, n);
    return err;
  }
  *out = p;
  *n_out = n;
  return 0;
}

static int pair_cmp(const void *x, const void *y) {
  const struct alert_pair *a = x, *b = y;
  return strcmp(a->name, b->name);
}

static int alert_ptr_cmp(const void *x, const void *y) {
  const struct alert *a = *(struct alert *const *)x, *b = *(struct alert *const *)y;
  return a->fp < b->fp ? -1 : a->fp > b->fp;
}

/* restore_one builds the alert of one stored record, or returns NULL (unreadable, or the
 * heartbeat, which belongs to the running process). */
static struct alert *restore_one(const struct alerts *a, const struct alert_record *r) {
  struct alert *al = NULL;
  struct alert_pair *labels = NULL, *ann = NULL;
  size_t nl = 0, na = 0;
  const char **names = NULL, **values = NULL;
  if (parse_pairs(r->labels, &labels, &nl) || nl == 0 || parse_pairs(r->annotations, &ann, &na) ||
      r->starts_at_ms <= 0) {
    log_warn("stored alert unreadable; skipped", "fingerprint=%s", log_q(r->fingerprint));
    goto out;
  }
  qsort(labels, nl, sizeof(*labels), pair_cmp);
  names = xcalloc(nl, sizeof(*names));
  values = xcalloc(nl, sizeof(*values));
  for (size_t k = 0; k < nl; k++) {
    names[k] = labels[k].name;
    values[k] = labels[k].value;
  }
  al = xcalloc(1, sizeof(*al) + a->n_rx * sizeof(al->rx[0]));
  al->labels = labels;
  al->n_labels = nl;
  al->annotations = ann;
  al->n_annotations = na;
  labels = ann = NULL;
  nl = na = 0;
  al->alertname = label_get(al, "alertname");
  if (!al->alertname || strcmp(al->alertname, ALERT_NAME_HEARTBEAT) == 0) {
    alert_free(al);
    al = NULL;
    goto out;
  }
  al->key = label_get(al, "key");
  al->fp = alert_fingerprint(names, values, al->n_labels);
  snprintf(al->fp_hex, sizeof(al->fp_hex), "%016llx", (unsigned long long)al->fp);
  if (strcmp(al->fp_hex, r->fingerprint) != 0)
    log_warn("stored alert fingerprint differs from its labels; recomputed",
             "stored=%s fingerprint=%s", log_q(r->fingerprint), al->fp_hex);
  al->starts_ms = r->starts_at_ms;
  /* It held until the restart as far as we know: if it is gone now, it resolves at once. */
  al->stable_since_ms = r->starts_at_ms;
  al->vanished_ms = -1;
  al->version = 1;
  for (size_t k = 0; k < a->n_rx; k++)
    al->rx[k].last_sent_ms = -1;
  if (r->state == ALERT_STATE_RESOLVED) {
    al->phase = PHASE_RESOLVED;
    al->ends_ms = r->ends_at_ms >= r->starts_at_ms ? r->ends_at_ms : r->starts_at_ms;
    al->resolved_at_ms = al->ends_ms;
  } else {
    al->phase = PHASE_FIRING;
    al->ends_ms = -1;
    al->resolved_at_ms = -1;
  }
out:
  free(names);
  free(values);
  pairs_free(labels, nl);
  pairs_free(ann, na);
  return al;
}

void alerts_restore(struct alerts *a, const struct alert_record *r, size_t n) {
  size_t before = a->n;
  for (size_t i = 0; i < n; i++) {
    struct alert *al = restore_one(a, &r[i]);
    if (al) push(&a->v, &a->n, &a->cap, al);
  }
  if (a->n == before) return;
  /* Sorted again; of two alerts with one label set, the one already there (or stored
   * first) stays. qsort is not stable, so order equal fingerprints by position first. */
  for (size_t i = before; i < a->n; i++)
    a->v[i]->seen = false;
  for (size_t i = 0; i < before; i++)
    a->v[i]->seen = true;
  /* NOLINTNEXTLINE(bugprone-sizeof-expression): the element is a pointer, as wanted */
  qsort(a->v, a->n, sizeof(*a->v), alert_ptr_cmp);
  size_t o = 0;
  for (size_t i = 0; i < a->n; i++) {
    if (o > 0 && a->v[o - 1]->fp == a->v[i]->fp) {
      /* Prefer the live one over a stored duplicate. */
      if (a->v[i]->seen && !a->v[o - 1]->seen) {
        alert_free(a->v[o - 1]);
        a->v[o - 1] = a->v[i];
      } else {
        alert_free(a->v[i]);
      }
      continue;
    }
    a->v[o++] = a->v[i];
  }
  log_info("alerts restored", "count=%zu", o - before);
  a->n = o;
  a->generation++;
}
