/* probe.h — the API probes: build the request of each probe kind (models, count_tokens,
 * messages), run it through fetch, and turn the answer into a struct probe_result. Also the
 * pure parser of an answer (tested from the fixtures), the map from curl's codes to
 * enum transport_error, the check of the peer address against Anthropic's published
 * inbound ranges, and the monthly token budget of messages probes.
 *
 * Secrets: the API key passed to probe_start() goes into curl's header list and nowhere
 * else; it is never logged, stored or copied (the header list is wiped after the
 * transfer). The cause of a result is left to the classifier (classify_probe()). */
#ifndef CLAUDEMON_PROBE_H
#define CLAUDEMON_PROBE_H

#include "agent/fetch.h"
#include "agent/model.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A response header as probe_parse_response reads it: name lower-cased. */
struct probe_header {
  const char *name;
  const char *value;
};

struct probe_budget;

/* What a probe talks to. The strings are read during probe_start only. */
struct probe_target {
  const char *base_url;        /* "https://api.anthropic.com" (a trailing / is fine) */
  const char *version;         /* anthropic-version, NULL: "2023-06-01" */
  const char *model;           /* model named by count_tokens and messages */
  int64_t timeout_ms;          /* whole transfer */
  struct probe_budget *budget; /* optional: tokens spent by messages probes go here */
};

/* probe_done_cb receives the filled result (cause left CAUSE_UNKNOWN for the classifier).
 * r lives only during the call: copy it (plain value) to keep it. */
typedef void (*probe_done_cb)(struct probe_result *r, void *arg);

/* probe_start runs one probe of kind for key_index with api_key (read during the call
 * only). Returns 0 (cb will be called, never from inside probe_start), UTIL_EINVAL (bad
 * target or kind, or fetch is closing) or UTIL_EHTTP. */
int probe_start(struct fetch *f, const struct probe_target *t, uint32_t key_index,
                enum probe_kind kind, const char *api_key, probe_done_cb cb, void *arg);

/* probe_parse_response fills the answer's part of r (http_status, body_kind, error_*,
 * request_id, organization_id, workspace_id, retry_after_s, ratelimit, input/output
 * tokens) from a status, the response headers (names lower-cased) and the body. Pure: no
 * I/O, no clock, except that a retry-after given as an HTTP date is counted from the
 * answer's own date header, or from the wall clock when there is none. Fields the answer
 * lacks keep what probe_result_init set. Returns 0, or UTIL_EPARSE when a field that was
 * present was malformed (a ratelimit number, a retry-after, a reset time) — r is filled
 * as far as possible either way; UTIL_EINVAL when r is NULL. */
int probe_parse_response(enum probe_kind kind, int http_status, const struct probe_header *headers,
                         size_t n_headers, const char *body, size_t body_len,
                         struct probe_result *r);

/* probe_transport_from_curl maps a CURLcode to enum transport_error (docs/probes.md has the
 * table). truncated: the body was cut by our own cap (CURLE_WRITE_ERROR then means a
 * complete-enough answer, TRANSPORT_OK). via_proxy: a connect failure is the proxy's.
 * proxy_status: the proxy's CONNECT answer (>= 300 means the proxy refused). */
enum transport_error probe_transport_from_curl(int curl_code, bool truncated, bool via_proxy,
                                               int proxy_status);

/* probe_fill_from_response fills r from a fetch response (transport, timings, peer,
 * via_proxy, truncated, curl code and text, then probe_parse_response). Exposed so
 * `claudemon check` and tests can reuse it. */
void probe_fill_from_response(enum probe_kind kind, const struct fetch_response *resp,
                              struct probe_result *r);

/* probe_peer_is_anthropic tells whether ip (textual IPv4 or IPv6) lies in Anthropic's
 * published inbound ranges: 160.79.104.0/23, 153.61.224.0/22, 2607:6bc0::/48. */
bool probe_peer_is_anthropic(const char *ip);

/* probe_peer_intercepted tells whether r suggests DNS interception: the target is the
 * real api.anthropic.com, no proxy was used, a peer address is known and it is outside
 * Anthropic's ranges. A finding for the classifier, not a cause. */
bool probe_peer_intercepted(const char *base_url, const struct probe_result *r);

/* The token budget of messages probes: tokens (input + output) spent per key in the
 * current calendar month (UTC). A key with a monthly_token_budget stops its messages
 * probes when the budget is reached; the refusal is logged once per key and month. */
struct probe_budget *probe_budget_new(size_t n_keys);
void probe_budget_free(struct probe_budget *b);
/* probe_budget_set sets key's name (for the log line, copied) and monthly budget (0: no
 * cap). Returns 0 or UTIL_EINVAL (key out of range). */
int probe_budget_set(struct probe_budget *b, uint32_t key, const char *name, int64_t monthly);
/* probe_budget_add counts tokens spent by key at now_ms (Unix ms); also restores the
 * month's spend from storage at start. A new month starts from 0. */
void probe_budget_add(struct probe_budget *b, uint32_t key, int64_t now_ms, int64_t tokens);
/* probe_budget_spent returns key's spend in the month of now_ms. */
int64_t probe_budget_spent(const struct probe_budget *b, uint32_t key, int64_t now_ms);
/* probe_budget_allows tells whether key may run a messages probe at now_ms: true when it
 * has no budget or has not reached it. */
bool probe_budget_allows(struct probe_budget *b, uint32_t key, int64_t now_ms);

#endif
