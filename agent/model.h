/* model.h — the words of DESIGN.md as C types, shared by every part: causes and scopes,
 * probe kinds, what one probe observed (struct probe_result), what the status page said
 * (struct status_snapshot) and the evidence kept beside a key's failure. No behaviour
 * beyond names, parsing and fixed tables; the classifier owns the rules.
 *
 * Ownership: probe_result and evidence are plain values (fixed buffers, copy with =).
 * A status_snapshot owns its arrays: status_snapshot_free() / status_snapshot_copy(). */
#ifndef CLAUDEMON_MODEL_H
#define CLAUDEMON_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Scopes (contract: exactly these). */
#define MODEL_SCOPE_MAP(X)                                                                         \
  X(NONE, "none")                                                                                  \
  X(LOCAL, "local")                                                                                \
  X(NETWORK, "network")                                                                            \
  X(PLATFORM, "platform")

enum scope {
#define MODEL_SCOPE_ENUM(id, name) SCOPE_##id,
  MODEL_SCOPE_MAP(MODEL_SCOPE_ENUM)
#undef MODEL_SCOPE_ENUM
      SCOPE__COUNT
};

/* Causes (contract). Columns: id, name, default scope, severity (higher is more severe; the
 * order of DESIGN.md for a key's several probe kinds), flaky (needs fail_after of window
 * results before a key takes it), per_probe (a probe can have it; the others are verdict
 * and finding causes only). */
#define MODEL_CAUSE_MAP(X)                                                                         \
  X(OK, "ok", NONE, 0, false, true)                                                                \
  X(AUTH_INVALID, "auth_invalid", LOCAL, 12, false, true)                                          \
  X(PERMISSION, "permission", LOCAL, 10, false, true)                                              \
  X(QUOTA, "quota", LOCAL, 9, false, true)                                                         \
  X(ACCOUNT_DISABLED, "account_disabled", LOCAL, 11, false, true)                                  \
  X(RATE_LIMITED, "rate_limited", LOCAL, 7, true, true)                                            \
  X(REQUEST_INVALID, "request_invalid", LOCAL, 8, false, true)                                     \
  X(KEY_UNAVAILABLE, "key_unavailable", LOCAL, 13, false, true)                                    \
  X(OVERLOADED, "overloaded", PLATFORM, 2, true, true)                                             \
  X(SERVER_ERROR, "server_error", PLATFORM, 3, true, true)                                         \
  X(EDGE_ERROR, "edge_error", NETWORK, 5, true, true)                                              \
  X(TIMEOUT, "timeout", NETWORK, 4, true, true)                                                    \
  X(NETWORK, "network", NETWORK, 6, true, true)                                                    \
  X(UNKNOWN, "unknown", LOCAL, 1, false, true)                                                     \
  X(INCIDENT, "incident", PLATFORM, 0, false, false)                                               \
  X(MAINTENANCE, "maintenance", PLATFORM, 0, false, false)                                         \
  X(STATUS_PAGE_UNREACHABLE, "status_page_unreachable", NETWORK, 0, false, false)                  \
  X(STATUS_MISMATCH, "status_mismatch", PLATFORM, 0, false, false)                                 \
  X(DNS_INTERCEPTION, "dns_interception", NETWORK, 0, false, false)

enum cause {
#define MODEL_CAUSE_ENUM(id, name, scope, sev, flaky, per_probe) CAUSE_##id,
  MODEL_CAUSE_MAP(MODEL_CAUSE_ENUM)
#undef MODEL_CAUSE_ENUM
      CAUSE__COUNT
};

/* The number of causes a single probe can have (CAUSE_OK .. CAUSE_UNKNOWN). */
#define CAUSE__PROBE_COUNT (CAUSE_UNKNOWN + 1)

const char *cause_name(enum cause c);
/* cause_parse maps a name back; returns 0 or UTIL_EINVAL. */
int cause_parse(const char *name, enum cause *c);
/* cause_scope is the cause's scope from the table (timeout: network; the classifier may
 * decide platform across keys). */
enum scope cause_scope(enum cause c);
/* cause_severity orders a key's several probe causes (key_unavailable highest, ok 0). */
int cause_severity(enum cause c);
/* cause_is_flaky: needs fail_after of window results to take effect on a key. */
bool cause_is_flaky(enum cause c);
/* cause_is_platform_side: overloaded, server_error (and timeout only when judged so). */
bool cause_is_platform_side(enum cause c);
/* cause_advice is the short advice for a person: what to check next. Never NULL. */
const char *cause_advice(enum cause c);

const char *scope_name(enum scope s);
int scope_parse(const char *name, enum scope *s);

/* Probe kinds (contract names). */
#define MODEL_PROBE_MAP(X)                                                                         \
  X(MODELS, "models")                                                                              \
  X(COUNT_TOKENS, "count_tokens")                                                                  \
  X(MESSAGES, "messages")

enum probe_kind {
#define MODEL_PROBE_ENUM(id, name) PROBE_##id,
  MODEL_PROBE_MAP(MODEL_PROBE_ENUM)
#undef MODEL_PROBE_ENUM
      PROBE__COUNT
};

const char *probe_kind_name(enum probe_kind k);
int probe_kind_parse(const char *name, enum probe_kind *k);

/* What the body of an answer was. */
enum body_kind {
  BODY_NONE,       /* no body, or no answer */
  BODY_EXPECTED,   /* 2xx: the JSON the endpoint promises (models list, token count, message) */
  BODY_API_ERROR,  /* the API's error envelope {"type":"error","error":{...}} */
  BODY_OTHER_JSON, /* JSON of another shape */
  BODY_HTML,       /* an HTML page (edge, proxy, captive portal) */
  BODY_OTHER       /* anything else: garbage, truncated JSON, text */
};
const char *body_kind_name(enum body_kind b);

/* How a transfer failed before a complete answer arrived (from curl's code). */
enum transport_error {
  TRANSPORT_OK,      /* a complete HTTP answer arrived (any status) */
  TRANSPORT_DNS,     /* name resolution failed */
  TRANSPORT_CONNECT, /* TCP connect refused or unreachable */
  TRANSPORT_TLS,     /* handshake or certificate failure */
  TRANSPORT_PROXY,   /* the proxy refused, failed or could not be reached */
  TRANSPORT_TIMEOUT, /* no complete answer within the probe timeout */
  TRANSPORT_SEND,    /* connection reset / broken while sending */
  TRANSPORT_RECV,    /* connection reset / closed while receiving (a partial answer) */
  TRANSPORT_OTHER
};
const char *transport_error_name(enum transport_error t);

/* Rate-limit resources of the anthropic-ratelimit-* headers. */
#define MODEL_RL_MAP(X)                                                                            \
  X(REQUESTS, "requests")                                                                          \
  X(TOKENS, "tokens")                                                                              \
  X(INPUT_TOKENS, "input_tokens")                                                                  \
  X(OUTPUT_TOKENS, "output_tokens")

enum rl_resource {
#define MODEL_RL_ENUM(id, name) RL_##id,
  MODEL_RL_MAP(MODEL_RL_ENUM)
#undef MODEL_RL_ENUM
      RL__COUNT
};
const char *rl_resource_name(enum rl_resource r);

struct ratelimit {
  int64_t limit;     /* -1 when the header was absent */
  int64_t remaining; /* -1 when absent */
  int64_t reset_ms;  /* Unix ms, -1 when absent */
};

/* Text sizes of the captured fields (truncated to fit, control characters stripped). */
#define MODEL_ERROR_TYPE_MAX 64
#define MODEL_ERROR_MESSAGE_MAX 256
#define MODEL_ERROR_CODE_MAX 64
#define MODEL_REQUEST_ID_MAX 64
#define MODEL_ORG_ID_MAX 80
#define MODEL_PEER_MAX 64
#define MODEL_CURL_ERROR_MAX 160

/* What one probe observed. Filled by the probe engine; cause by classify_probe(). */
struct probe_result {
  uint32_t key_index; /* index of the key in the config's key list */
  enum probe_kind kind;
  int64_t planned_ms; /* Unix ms the scheduler meant to start it */
  int64_t started_ms; /* Unix ms it started */
  double total_s;     /* whole transfer time (curl's TOTAL_TIME), 0 when not started */
  double dns_s, connect_s, tls_s, ttfb_s; /* curl's cumulative timing breakdown */
  int http_status;                        /* 0 when no answer */
  enum transport_error transport;
  int curl_code; /* CURLcode, 0 when the transfer completed */
  char curl_error[MODEL_CURL_ERROR_MAX];
  bool via_proxy; /* a proxy was used (config or environment) */
  bool truncated; /* the body was cut at the size cap */
  enum body_kind body_kind;
  char error_type[MODEL_ERROR_TYPE_MAX];       /* error.type, "" when none */
  char error_message[MODEL_ERROR_MESSAGE_MAX]; /* error.message, sanitised, "" when none */
  char error_code[MODEL_ERROR_CODE_MAX];       /* error.details.error_code, "" when none */
  char request_id[MODEL_REQUEST_ID_MAX];       /* request-id header or body request_id */
  char organization_id[MODEL_ORG_ID_MAX];      /* anthropic-organization-id */
  char workspace_id[MODEL_ORG_ID_MAX];         /* anthropic-workspace-id */
  char peer[MODEL_PEER_MAX];                   /* peer IP address */
  int64_t retry_after_s;                       /* retry-after in seconds, -1 when absent */
  struct ratelimit ratelimit[RL__COUNT];
  int64_t input_tokens;  /* messages/count_tokens usage, -1 when unknown */
  int64_t output_tokens; /* -1 when unknown */
  bool retried;          /* check: this is the result of a second attempt */
  enum cause cause;      /* set by classify_probe() */
};

/* probe_result_init clears r and sets every "absent" marker (-1). */
void probe_result_init(struct probe_result *r, uint32_t key_index, enum probe_kind kind);

/* The evidence kept beside a key's failure: its first failing probe. */
struct evidence {
  int64_t at_ms; /* when that probe started; -1 when none */
  enum probe_kind kind;
  enum cause cause;
  int http_status;
  char error_type[MODEL_ERROR_TYPE_MAX];
  char error_message[MODEL_ERROR_MESSAGE_MAX];
  char error_code[MODEL_ERROR_CODE_MAX];
  char request_id[MODEL_REQUEST_ID_MAX];
  char curl_error[MODEL_CURL_ERROR_MAX];
};
void evidence_from_result(struct evidence *e, const struct probe_result *r);

/* Status page (Atlassian Statuspage v2 summary.json). Unknown enum values map to
 * *_UNKNOWN, never to operational. */
#define MODEL_COMPONENT_STATUS_MAP(X)                                                              \
  X(OPERATIONAL, "operational")                                                                    \
  X(DEGRADED_PERFORMANCE, "degraded_performance")                                                  \
  X(PARTIAL_OUTAGE, "partial_outage")                                                              \
  X(MAJOR_OUTAGE, "major_outage")                                                                  \
  X(UNDER_MAINTENANCE, "under_maintenance")                                                        \
  X(UNKNOWN, "unknown")

enum component_status {
#define MODEL_CS_ENUM(id, name) COMPONENT_##id,
  MODEL_COMPONENT_STATUS_MAP(MODEL_CS_ENUM)
#undef MODEL_CS_ENUM
      COMPONENT__COUNT
};
const char *component_status_name(enum component_status s);
enum component_status component_status_parse(const char *s); /* unknown → COMPONENT_UNKNOWN */

#define MODEL_INDICATOR_MAP(X)                                                                     \
  X(NONE, "none")                                                                                  \
  X(MINOR, "minor")                                                                                \
  X(MAJOR, "major")                                                                                \
  X(CRITICAL, "critical")                                                                          \
  X(MAINTENANCE, "maintenance")                                                                    \
  X(UNKNOWN, "unknown")

enum indicator {
#define MODEL_IND_ENUM(id, name) INDICATOR_##id,
  MODEL_INDICATOR_MAP(MODEL_IND_ENUM)
#undef MODEL_IND_ENUM
      INDICATOR__COUNT
};
const char *indicator_name(enum indicator i);
enum indicator indicator_parse(const char *s); /* also parses incident impacts */

#define MODEL_SP_ID_MAX 32
#define MODEL_SP_NAME_MAX 160
#define MODEL_SP_URL_MAX 256
#define MODEL_SP_TEXT_MAX 512

struct status_component {
  char id[MODEL_SP_ID_MAX];
  char name[MODEL_SP_NAME_MAX];
  char group_id[MODEL_SP_ID_MAX]; /* "" when not in a group */
  bool is_group;
  enum component_status status;
  bool watched;       /* matched by status_page.components */
  int64_t updated_ms; /* the component's own updated_at, -1 when absent */
};

/* An unresolved incident or a scheduled maintenance. */
struct status_incident {
  char id[MODEL_SP_ID_MAX];
  char name[MODEL_SP_NAME_MAX];
  char status[MODEL_SP_ID_MAX]; /* investigating, identified, monitoring, scheduled, in_progress,
                                   ... */
  enum indicator impact;        /* none, minor, major, critical, maintenance, unknown */
  char shortlink[MODEL_SP_URL_MAX];
  int64_t created_ms, updated_ms, started_ms;   /* -1 when absent */
  int64_t scheduled_for_ms, scheduled_until_ms; /* maintenances; -1 otherwise */
  char latest_update[MODEL_SP_TEXT_MAX];        /* body of the newest incident update */
  char (*component_ids)[MODEL_SP_ID_MAX];       /* affected components (owned) */
  size_t n_components;
  bool affects_watched; /* one of component_ids is watched */
};

struct status_snapshot {
  bool reachable;                /* the last poll succeeded */
  int64_t polled_ms;             /* Unix ms of the last poll attempt; -1 never */
  int64_t fetched_ms;            /* Unix ms the data below was fetched; -1 never */
  char error[MODEL_SP_TEXT_MAX]; /* why the last poll failed ("" when it did not) */
  enum indicator indicator;
  char description[MODEL_SP_NAME_MAX]; /* status.description */
  int64_t page_updated_ms;             /* page.updated_at, -1 when absent */
  struct status_component *components;
  size_t n_components;
  struct status_incident *incidents; /* unresolved incidents */
  size_t n_incidents;
  struct status_incident *maintenances; /* scheduled and in-progress maintenances */
  size_t n_maintenances;
};

/* status_snapshot_init sets an empty, never-polled snapshot. */
void status_snapshot_init(struct status_snapshot *s);
/* status_snapshot_free frees the arrays (not s itself) and re-inits s. */
void status_snapshot_free(struct status_snapshot *s);
/* status_snapshot_copy deep-copies src into dst (dst is overwritten, not freed first). */
void status_snapshot_copy(struct status_snapshot *dst, const struct status_snapshot *src);

#endif
