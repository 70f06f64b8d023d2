/* model.c — names, parsing and fixed tables of the types in model.h. Pure; no state. */
#include "agent/model.h"
#include "agent/util.h"

#include <stdlib.h>
#include <string.h>

struct cause_row {
  const char *name;
  enum scope scope;
  int severity;
  bool flaky;
};

static const struct cause_row cause_rows[CAUSE__COUNT] = {
#define MODEL_CAUSE_ROW(id, name, scope, sev, flaky, per_probe) {name, SCOPE_##scope, sev, flaky},
    MODEL_CAUSE_MAP(MODEL_CAUSE_ROW)
#undef MODEL_CAUSE_ROW
};

static const char *const cause_advice_text[CAUSE__COUNT] = {
    [CAUSE_OK] = "Nothing to do.",
    [CAUSE_AUTH_INVALID] =
        "The API rejected this key: check it was not revoked, rotated or mistyped, "
        "and that it is sent as x-api-key (not as a Bearer token).",
    [CAUSE_PERMISSION] = "The key is not allowed to do this: check the key's workspace and "
                         "organization in the console and the expected organization in the config.",
    [CAUSE_QUOTA] = "The organization is out of credit or hit its spend limit: check the credit "
                    "balance and the spend limits under Plans & Billing in the console.",
    [CAUSE_ACCOUNT_DISABLED] = "The organization is disabled: contact Anthropic support; no key of "
                               "this organization will work.",
    [CAUSE_RATE_LIMITED] =
        "Requests are being rate limited: back off, honour retry-after, and check "
        "the organization's and workspace's rate limits and who else uses them.",
    [CAUSE_REQUEST_INVALID] =
        "The API refused the request itself: check the anthropic-version, the "
        "model name and any workspace or proxy headers.",
    [CAUSE_KEY_UNAVAILABLE] =
        "The key's secret could not be read: check the environment variable or "
        "key file named in the config, and its permissions.",
    [CAUSE_OVERLOADED] = "The API is overloaded: this is on the platform side; back off and retry "
                         "later, and follow the status page.",
    [CAUSE_SERVER_ERROR] =
        "The API answered with server errors: this is on the platform side; retry "
        "with backoff and follow the status page.",
    [CAUSE_EDGE_ERROR] =
        "The answer did not come from the API (an edge, proxy or relay page): check "
        "proxies, firewalls and DNS on the way, and the status page.",
    [CAUSE_TIMEOUT] =
        "No answer within the timeout: check the network path and proxy; if other keys "
        "time out too, follow the status page.",
    [CAUSE_NETWORK] =
        "The API could not be reached: check DNS, the proxy, the firewall and the VPN "
        "on this host's path to the API.",
    [CAUSE_UNKNOWN] = "An answer claudemon does not recognise: read the recorded status, error and "
                      "request id, and report it.",
    [CAUSE_INCIDENT] = "Anthropic is having an incident: wait for it to be resolved and follow the "
                       "incident's link; there is nothing to fix on our side.",
    [CAUSE_MAINTENANCE] = "A scheduled maintenance is in progress: expect errors until it ends.",
    [CAUSE_STATUS_PAGE_UNREACHABLE] = "The status page could not be fetched: check this host's "
                                      "outbound access to the status page; probes go on.",
    [CAUSE_STATUS_MISMATCH] =
        "Our probes and the status page disagree: compare the evidence with the "
        "status page before acting.",
    [CAUSE_DNS_INTERCEPTION] =
        "api.anthropic.com resolved outside Anthropic's published addresses: "
        "check DNS and any transparent proxy on the path.",
};

/* name_index returns the index of name in names[0..n), or -1 (also for a NULL name). */
static int name_index(const char *const *names, int n, const char *name) {
  for (int i = 0; name && i < n; i++)
    if (strcmp(name, names[i]) == 0) return i;
  return -1;
}

const char *cause_name(enum cause c) {
  return (unsigned)c < CAUSE__COUNT ? cause_rows[c].name : "unknown";
}

int cause_parse(const char *name, enum cause *c) {
  for (int i = 0; i < CAUSE__COUNT; i++) {
    if (strcmp(name, cause_rows[i].name) == 0) {
      *c = (enum cause)i;
      return 0;
    }
  }
  return UTIL_EINVAL;
}

enum scope cause_scope(enum cause c) {
  return (unsigned)c < CAUSE__COUNT ? cause_rows[c].scope : SCOPE_LOCAL;
}

int cause_severity(enum cause c) {
  return (unsigned)c < CAUSE__COUNT ? cause_rows[c].severity : 0;
}

bool cause_is_flaky(enum cause c) {
  return (unsigned)c < CAUSE__COUNT && cause_rows[c].flaky;
}

bool cause_is_platform_side(enum cause c) {
  return c == CAUSE_OVERLOADED || c == CAUSE_SERVER_ERROR;
}

const char *cause_advice(enum cause c) {
  return (unsigned)c < CAUSE__COUNT ? cause_advice_text[c] : cause_advice_text[CAUSE_UNKNOWN];
}

static const char *const scope_names[SCOPE__COUNT] = {
#define MODEL_SCOPE_NAME(id, name) name,
    MODEL_SCOPE_MAP(MODEL_SCOPE_NAME)
#undef MODEL_SCOPE_NAME
};

const char *scope_name(enum scope s) {
  return (unsigned)s < SCOPE__COUNT ? scope_names[s] : "none";
}

int scope_parse(const char *name, enum scope *s) {
  int i = name_index(scope_names, SCOPE__COUNT, name);
  if (i < 0) return UTIL_EINVAL;
  *s = (enum scope)i;
  return 0;
}

static const char *const probe_names[PROBE__COUNT] = {
#define MODEL_PROBE_NAME(id, name) name,
    MODEL_PROBE_MAP(MODEL_PROBE_NAME)
#undef MODEL_PROBE_NAME
};

const char *probe_kind_name(enum probe_kind k) {
  return (unsigned)k < PROBE__COUNT ? probe_names[k] : "unknown";
}

int probe_kind_parse(const char *name, enum probe_kind *k) {
  int i = name_index(probe_names, PROBE__COUNT, name);
  if (i < 0) return UTIL_EINVAL;
  *k = (enum probe_kind)i;
  return 0;
}

const char *body_kind_name(enum body_kind b) {
  static const char *const names[] = {"none",       "expected", "api_error",
                                      "other_json", "html",     "other"};
  return (unsigned)b < UTIL_ARRAY_LEN(names) ? names[b] : "other";
}

const char *transport_error_name(enum transport_error t) {
  static const char *const names[] = {"ok",      "dns",  "connect", "tls",  "proxy",
                                      "timeout", "send", "recv",    "other"};
  return (unsigned)t < UTIL_ARRAY_LEN(names) ? names[t] : "other";
}

static const char *const rl_names[RL__COUNT] = {
#define MODEL_RL_NAME(id, name) name,
    MODEL_RL_MAP(MODEL_RL_NAME)
#undef MODEL_RL_NAME
};

const char *rl_resource_name(enum rl_resource r) {
  return (unsigned)r < RL__COUNT ? rl_names[r] : "unknown";
}

void probe_result_init(struct probe_result *r, uint32_t key_index, enum probe_kind kind) {
  memset(r, 0, sizeof(*r));
  r->key_index = key_index;
  r->kind = kind;
  r->planned_ms = -1;
  r->started_ms = -1;
  r->retry_after_s = -1;
  r->input_tokens = -1;
  r->output_tokens = -1;
  for (int i = 0; i < RL__COUNT; i++) {
    r->ratelimit[i].limit = -1;
    r->ratelimit[i].remaining = -1;
    r->ratelimit[i].reset_ms = -1;
  }
  r->cause = CAUSE_UNKNOWN;
}

void evidence_from_result(struct evidence *e, const struct probe_result *r) {
  memset(e, 0, sizeof(*e));
  e->at_ms = r->started_ms;
  e->kind = r->kind;
  e->cause = r->cause;
  e->http_status = r->http_status;
  util_copy(e->error_type, sizeof(e->error_type), r->error_type);
  util_copy(e->error_message, sizeof(e->error_message), r->error_message);
  util_copy(e->error_code, sizeof(e->error_code), r->error_code);
  util_copy(e->request_id, sizeof(e->request_id), r->request_id);
  util_copy(e->curl_error, sizeof(e->curl_error), r->curl_error);
}

static const char *const cs_names[COMPONENT__COUNT] = {
#define MODEL_CS_NAME(id, name) name,
    MODEL_COMPONENT_STATUS_MAP(MODEL_CS_NAME)
#undef MODEL_CS_NAME
};

const char *component_status_name(enum component_status s) {
  return (unsigned)s < COMPONENT__COUNT ? cs_names[s] : "unknown";
}

enum component_status component_status_parse(const char *s) {
  int i = name_index(cs_names, COMPONENT_UNKNOWN, s);
  return i < 0 ? COMPONENT_UNKNOWN : (enum component_status)i;
}

static const char *const ind_names[INDICATOR__COUNT] = {
#define MODEL_IND_NAME(id, name) name,
    MODEL_INDICATOR_MAP(MODEL_IND_NAME)
#undef MODEL_IND_NAME
};

const char *indicator_name(enum indicator i) {
  return (unsigned)i < INDICATOR__COUNT ? ind_names[i] : "unknown";
}

enum indicator indicator_parse(const char *s) {
  int i = name_index(ind_names, INDICATOR_UNKNOWN, s);
  return i < 0 ? INDICATOR_UNKNOWN : (enum indicator)i;
}

void status_snapshot_init(struct status_snapshot *s) {
  memset(s, 0, sizeof(*s));
  s->polled_ms = -1;
  s->fetched_ms = -1;
  s->page_updated_ms = -1;
  s->indicator = INDICATOR_UNKNOWN;
}

static void incidents_free(struct status_incident *v, size_t n) {
  for (size_t i = 0; i < n; i++)
    free(v[i].component_ids);
  free(v);
}

void status_snapshot_free(struct status_snapshot *s) {
  if (!s) return;
  free(s->components);
  incidents_free(s->incidents, s->n_incidents);
  incidents_free(s->maintenances, s->n_maintenances);
  status_snapshot_init(s);
}

static struct status_incident *incidents_copy(const struct status_incident *v, size_t n) {
  if (n == 0) return NULL;
  struct status_incident *c = xmalloc(n * sizeof(*c));
  memcpy(c, v, n * sizeof(*c));
  for (size_t i = 0; i < n; i++) {
    if (v[i].n_components) {
      c[i].component_ids = xmalloc(v[i].n_components * sizeof(*c[i].component_ids));
      memcpy(c[i].component_ids, v[i].component_ids,
             v[i].n_components * sizeof(*c[i].component_ids));
    } else {
      c[i].component_ids = NULL;
    }
  }
  return c;
}

void status_snapshot_copy(struct status_snapshot *dst, const struct status_snapshot *src) {
  *dst = *src;
  dst->components = NULL;
  if (src->n_components) {
    dst->components = xmalloc(src->n_components * sizeof(*dst->components));
    memcpy(dst->components, src->components, src->n_components * sizeof(*dst->components));
  }
  dst->incidents = incidents_copy(src->incidents, src->n_incidents);
  dst->maintenances = incidents_copy(src->maintenances, src->n_maintenances);
}
