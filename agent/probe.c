/* probe.c — the API probes. It owns what each probe kind sends (method, path, body,
 * headers), the reading of an answer into struct probe_result (a pure function, fed by the
 * fixtures in the tests), the map from curl's codes to enum transport_error, the check of
 * a peer address against Anthropic's published inbound ranges and the monthly token budget
 * of messages probes.
 *
 * It must never log, store or copy an API key: the key goes from the caller straight into
 * fetch's request headers (curl's header list, wiped after the transfer). Everything read
 * from an answer is outside input: JSON fields are read through helpers that check their
 * type (a missing or mistyped field is absent, never a NULL dereference), and every text
 * kept is sanitised and truncated to the fixed buffers of struct probe_result. It does not
 * judge: the cause is the classifier's. */
#include "agent/probe.h"

#include "agent/log.h"
#include "agent/util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#define PROBE_DEFAULT_VERSION "2023-06-01"
#define PROBE_PROMPT "ping"

/* ---- JSON helpers: a field of the wrong type is treated as absent --------------------- */

/* cJSON_Is*(NULL) is false; the explicit `v &&` below is for the static analyzer, which
 * cannot see into cJSON and otherwise reports a NULL dereference. */

static const cJSON *json_object(const cJSON *o, const char *name) {
  const cJSON *v = cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, name) : NULL;
  return cJSON_IsObject(v) ? v : NULL;
}

static const char *json_string(const cJSON *o, const char *name) {
  const cJSON *v = cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, name) : NULL;
  return v && cJSON_IsString(v) && v->valuestring ? v->valuestring : NULL;
}

static bool json_has_array(const cJSON *o, const char *name) {
  const cJSON *v = cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, name) : NULL;
  return cJSON_IsArray(v);
}

/* json_count reads a non-negative whole number (a token count). */
static bool json_count(const cJSON *o, const char *name, int64_t *out) {
  const cJSON *v = cJSON_IsObject(o) ? cJSON_GetObjectItemCaseSensitive(o, name) : NULL;
  if (!v || !cJSON_IsNumber(v)) return false;
  double d = v->valuedouble;
  if (!isfinite(d) || d < 0 || d > 9.0e15 || floor(d) != d) return false;
  *out = (int64_t)d;
  return true;
}

static void keep_text(char *dst, size_t dstsz, const char *src) {
  util_sanitize(dst, dstsz, src, src ? strlen(src) : 0);
}

/* ---- headers ----------------------------------------------------------------------- */

struct rl_header {
  const char *name;
  enum rl_resource res;
  int field; /* 0 limit, 1 remaining, 2 reset */
};

#define RL_HEADERS(res_id, prefix)                                                                 \
  {"anthropic-ratelimit-" prefix "-limit", RL_##res_id, 0},                                        \
      {"anthropic-ratelimit-" prefix "-remaining", RL_##res_id, 1}, {                              \
    "anthropic-ratelimit-" prefix "-reset", RL_##res_id, 2                                         \
  }

static const struct rl_header rl_headers[] = {
    RL_HEADERS(REQUESTS, "requests"),
    RL_HEADERS(TOKENS, "tokens"),
    RL_HEADERS(INPUT_TOKENS, "input-tokens"),
    RL_HEADERS(OUTPUT_TOKENS, "output-tokens"),
};

/* parse_count reads a whole non-negative decimal number, nothing else. */
static bool parse_count(const char *s, int64_t *out) {
  if (!s || !isdigit((unsigned char)*s)) return false;
  errno = 0;
  char *end;
  long long v = strtoll(s, &end, 10);
  while (*end == ' ' || *end == '\t')
    end++;
  if (errno || *end) return false;
  *out = v;
  return true;
}

/* parse_http_date reads an HTTP date (IMF-fixdate, RFC 850 or asctime; curl_getdate knows
 * them all) into Unix seconds. */
static bool parse_http_date(const char *s, int64_t *out) {
  if (!s || !*s) return false;
  time_t t = curl_getdate(s, NULL);
  if (t == (time_t)-1) return false;
  *out = (int64_t)t;
  return true;
}

/* parse_retry_after reads delay-seconds (a fraction is rounded up) or an HTTP date, counted
 * from the answer's date (date_s, -1 when none: the wall clock). */
static bool parse_retry_after(const char *v, int64_t date_s, int64_t *out) {
  if (!v) return false;
  while (*v == ' ' || *v == '\t')
    v++;
  if (isdigit((unsigned char)*v)) {
    errno = 0;
    char *end;
    double d = strtod(v, &end);
    while (*end == ' ' || *end == '\t')
      end++;
    if (errno || *end || !isfinite(d) || d < 0 || d > 1e12) return false;
    *out = (int64_t)ceil(d);
    return true;
  }
  int64_t at;
  if (!parse_http_date(v, &at)) return false;
  int64_t ref = date_s >= 0 ? date_s : util_now_ms() / 1000;
  *out = at > ref ? at - ref : 0;
  return true;
}

static bool looks_like_html(const char *body, size_t len, const char *content_type) {
  if (content_type && strcasestr(content_type, "text/html")) return true;
  size_t i = 0;
  if (len >= 3 && (unsigned char)body[0] == 0xef && (unsigned char)body[1] == 0xbb &&
      (unsigned char)body[2] == 0xbf)
    i = 3; /* a UTF-8 byte order mark */
  while (i < len && isspace((unsigned char)body[i]))
    i++;
  return i < len && body[i] == '<';
}

static bool status_ok(int s) {
  return s >= 200 && s < 300;
}

static void parse_body(enum probe_kind kind, const char *body, size_t body_len,
                       const char *content_type, struct probe_result *r) {
  if (!body || body_len == 0) {
    r->body_kind = BODY_NONE;
    return;
  }
  if (looks_like_html(body, body_len, content_type)) {
    r->body_kind = BODY_HTML;
    return;
  }
  /* Trailing bytes after the JSON value (other than white space) make it "not JSON": an
   * answer with garbage appended is not the API's. */
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts(body, body_len, &end, false);
  if (root && end) {
    while (end < body + body_len && isspace((unsigned char)*end))
      end++;
    if (end != body + body_len) {
      cJSON_Delete(root);
      root = NULL;
    }
  }
  if (!root) {
    r->body_kind = BODY_OTHER; /* text, garbage, an event stream, JSON cut at the cap */
    return;
  }
  if (!cJSON_IsObject(root)) {
    r->body_kind = BODY_OTHER_JSON;
    goto out;
  }
  const char *type = json_string(root, "type");
  const cJSON *err = json_object(root, "error");
  if (err) {
    /* Kept from any JSON with an error object (an edge's imitation too): it is evidence.
     * Only the API's own envelope counts as BODY_API_ERROR. */
    keep_text(r->error_type, sizeof(r->error_type), json_string(err, "type"));
    keep_text(r->error_message, sizeof(r->error_message), json_string(err, "message"));
    keep_text(r->error_code, sizeof(r->error_code),
              json_string(json_object(err, "details"), "error_code"));
  }
  if (!r->request_id[0])
    keep_text(r->request_id, sizeof(r->request_id), json_string(root, "request_id"));

  if (err && type && strcmp(type, "error") == 0) {
    r->body_kind = BODY_API_ERROR;
    goto out;
  }
  bool expected = false;
  switch (kind) {
  case PROBE_MODELS:
    expected = json_has_array(root, "data");
    break;
  case PROBE_COUNT_TOKENS:
    expected = json_count(root, "input_tokens", &r->input_tokens);
    break;
  case PROBE_MESSAGES: {
    expected = type && strcmp(type, "message") == 0;
    const cJSON *usage = json_object(root, "usage");
    json_count(usage, "input_tokens", &r->input_tokens);
    json_count(usage, "output_tokens", &r->output_tokens);
    break;
  }
  default:
    break;
  }
  r->body_kind = expected && status_ok(r->http_status) ? BODY_EXPECTED : BODY_OTHER_JSON;
out:
  cJSON_Delete(root);
}

int probe_parse_response(enum probe_kind kind, int http_status, const struct probe_header *headers,
                         size_t n_headers, const char *body, size_t body_len,
                         struct probe_result *r) {
  if (!r) return UTIL_EINVAL;
  int err = 0;
  r->http_status = http_status;
  const char *content_type = NULL, *retry_after = NULL;
  int64_t date_s = -1;
  for (size_t i = 0; headers && i < n_headers; i++) {
    const char *name = headers[i].name, *value = headers[i].value;
    if (!name || !value) continue;
    if (strcmp(name, "request-id") == 0) {
      keep_text(r->request_id, sizeof(r->request_id), value);
    } else if (strcmp(name, "anthropic-organization-id") == 0) {
      keep_text(r->organization_id, sizeof(r->organization_id), value);
    } else if (strcmp(name, "anthropic-workspace-id") == 0) {
      keep_text(r->workspace_id, sizeof(r->workspace_id), value);
    } else if (strcmp(name, "retry-after") == 0) {
      retry_after = value;
    } else if (strcmp(name, "content-type") == 0) {
      content_type = value;
    } else if (strcmp(name, "date") == 0) {
      if (!parse_http_date(value, &date_s)) date_s = -1;
    } else if (strncmp(name, "anthropic-ratelimit-", 20) == 0) {
      for (size_t k = 0; k < UTIL_ARRAY_LEN(rl_headers); k++) {
        if (strcmp(name, rl_headers[k].name) != 0) continue;
        struct ratelimit *rl = &r->ratelimit[rl_headers[k].res];
        int64_t v;
        bool ok;
        if (rl_headers[k].field == 2) {
          ok = util_parse_time(value, &v) == 0;
          if (ok) rl->reset_ms = v;
        } else {
          ok = parse_count(value, &v);
          if (ok) *(rl_headers[k].field == 0 ? &rl->limit : &rl->remaining) = v;
        }
        if (!ok) err = UTIL_EPARSE;
        break;
      }
    }
  }
  if (retry_after) {
    int64_t s;
    if (parse_retry_after(retry_after, date_s, &s))
      r->retry_after_s = s;
    else
      err = UTIL_EPARSE;
  }
  parse_body(kind, body, body_len, content_type, r);
  return err;
}

/* ---- transport --------------------------------------------------------------------- */

enum transport_error probe_transport_from_curl(int curl_code, bool truncated, bool via_proxy,
                                               int proxy_status) {
  if (via_proxy && proxy_status >= 300) return TRANSPORT_PROXY;
  switch ((CURLcode)curl_code) {
  case CURLE_OK:
    return TRANSPORT_OK;
  case CURLE_WRITE_ERROR:
    /* Only our own caps end a transfer this way (we never fail a write otherwise). */
    return truncated ? TRANSPORT_OK : TRANSPORT_OTHER;
  case CURLE_COULDNT_RESOLVE_HOST:
    return TRANSPORT_DNS;
  case CURLE_COULDNT_RESOLVE_PROXY:
  case CURLE_PROXY:
    return TRANSPORT_PROXY;
  case CURLE_COULDNT_CONNECT:
    return via_proxy ? TRANSPORT_PROXY : TRANSPORT_CONNECT;
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_ENGINE_NOTFOUND:
  case CURLE_SSL_ENGINE_SETFAILED:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CIPHER:
  case CURLE_USE_SSL_FAILED:
  case CURLE_SSL_ENGINE_INITFAILED:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_SHUTDOWN_FAILED:
  case CURLE_SSL_CRL_BADFILE:
  case CURLE_SSL_ISSUER_ERROR:
  case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
  case CURLE_SSL_INVALIDCERTSTATUS:
  case CURLE_SSL_CLIENTCERT:
    return TRANSPORT_TLS;
  case CURLE_OPERATION_TIMEDOUT:
    return TRANSPORT_TIMEOUT;
  case CURLE_SEND_ERROR:
    return TRANSPORT_SEND;
  case CURLE_RECV_ERROR:
  case CURLE_PARTIAL_FILE:
  case CURLE_GOT_NOTHING:
  case CURLE_WEIRD_SERVER_REPLY:
  case CURLE_HTTP2:
  case CURLE_HTTP2_STREAM:
  case CURLE_BAD_CONTENT_ENCODING:
    return TRANSPORT_RECV;
  default:
    return TRANSPORT_OTHER;
  }
}

void probe_fill_from_response(enum probe_kind kind, const struct fetch_response *resp,
                              struct probe_result *r) {
  r->transport = resp->cancelled ? TRANSPORT_OTHER
                                 : probe_transport_from_curl(resp->curl_code, resp->truncated,
                                                             resp->via_proxy, resp->proxy_status);
  r->curl_code = resp->curl_code;
  keep_text(r->curl_error, sizeof(r->curl_error), resp->error);
  r->via_proxy = resp->via_proxy;
  r->truncated = resp->truncated;
  keep_text(r->peer, sizeof(r->peer), resp->peer);
  r->dns_s = resp->dns_s;
  r->connect_s = resp->connect_s;
  r->tls_s = resp->tls_s;
  r->ttfb_s = resp->ttfb_s;
  r->total_s = resp->total_s;
  size_t n = resp->n_headers;
  struct probe_header *hs = n ? xcalloc(n, sizeof(*hs)) : NULL;
  for (size_t i = 0; i < n; i++) {
    hs[i].name = resp->headers[i].name;
    hs[i].value = resp->headers[i].value;
  }
  if (probe_parse_response(kind, resp->http_status, hs, n, resp->body, resp->body_len, r) != 0)
    log_debug("malformed field in API answer", "probe=%s http_status=%d", probe_kind_name(kind),
              resp->http_status);
  free(hs);
}

/* ---- addresses --------------------------------------------------------------------- */

struct net_range {
  int family;
  const char *prefix;
  int bits;
};

/* Anthropic's published inbound ranges (API documentation, "IP addresses"). */
static const struct net_range anthropic_inbound[] = {
    {AF_INET, "160.79.104.0", 23},
    {AF_INET, "153.61.224.0", 22},
    {AF_INET6, "2607:6bc0::", 48},
};

static bool prefix_match(const unsigned char *a, const unsigned char *b, int bits) {
  for (int i = 0; i < bits; i++) {
    unsigned char m = (unsigned char)(0x80u >> (i % 8));
    if ((a[i / 8] & m) != (b[i / 8] & m)) return false;
  }
  return true;
}

bool probe_peer_is_anthropic(const char *ip) {
  if (!ip || !*ip) return false;
  unsigned char addr[16], net[16];
  int family = strchr(ip, ':') ? AF_INET6 : AF_INET;
  if (inet_pton(family, ip, addr) != 1) return false;
  if (family == AF_INET6) {
    /* An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is the IPv4 address. */
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (memcmp(addr, mapped, 12) == 0) {
      memmove(addr, addr + 12, 4);
      family = AF_INET;
    }
  }
  for (size_t i = 0; i < UTIL_ARRAY_LEN(anthropic_inbound); i++) {
    const struct net_range *n = &anthropic_inbound[i];
    if (n->family != family) continue;
    if (inet_pton(n->family, n->prefix, net) == 1 && prefix_match(addr, net, n->bits)) return true;
  }
  return false;
}

bool probe_peer_intercepted(const char *base_url, const struct probe_result *r) {
  if (!base_url || !r || r->via_proxy || !r->peer[0]) return false;
  bool real = false;
  char *host = NULL;
  CURLU *u = curl_url();
  if (!u) return false;
  if (curl_url_set(u, CURLUPART_URL, base_url, 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
    size_t n = strlen(host);
    if (n && host[n - 1] == '.') n--;
    real = n == 17 && strncasecmp(host, "api.anthropic.com", 17) == 0;
  }
  curl_free(host);
  curl_url_cleanup(u);
  return real && !probe_peer_is_anthropic(r->peer);
}

/* ---- token budget ------------------------------------------------------------------ */

struct budget_key {
  char *name;
  int64_t monthly; /* 0: no cap */
  int64_t spent;   /* in month */
  int month;       /* year * 12 + month of spent, -1 before the first count */
  bool refused;    /* the refusal of this month was logged */
};

struct probe_budget {
  struct budget_key *keys;
  size_t n;
};

static int month_of(int64_t now_ms) {
  time_t t = (time_t)(now_ms / 1000);
  struct tm tm;
  if (!gmtime_r(&t, &tm)) return -1;
  return (tm.tm_year + 1900) * 12 + tm.tm_mon;
}

static struct budget_key *budget_roll(const struct probe_budget *b, uint32_t key, int64_t now_ms) {
  if (!b || key >= b->n) return NULL;
  struct budget_key *k = &b->keys[key];
  int m = month_of(now_ms);
  if (m != k->month) {
    if (k->refused)
      log_info("messages probes resume: new month of the token budget", "key=%s",
               log_q(k->name ? k->name : "?"));
    k->month = m;
    k->spent = 0;
    k->refused = false;
  }
  return k;
}

struct probe_budget *probe_budget_new(size_t n_keys) {
  struct probe_budget *b = xcalloc(1, sizeof(*b));
  b->n = n_keys;
  b->keys = n_keys ? xcalloc(n_keys, sizeof(*b->keys)) : NULL;
  for (size_t i = 0; i < n_keys; i++)
    b->keys[i].month = -1;
  return b;
}

void probe_budget_free(struct probe_budget *b) {
  if (!b) return;
  for (size_t i = 0; i < b->n; i++)
    free(b->keys[i].name);
  free(b->keys);
  free(b);
}

int probe_budget_set(struct probe_budget *b, uint32_t key, const char *name, int64_t monthly) {
  if (!b || key >= b->n || monthly < 0) return UTIL_EINVAL;
  free(b->keys[key].name);
  b->keys[key].name = name ? xstrdup(name) : NULL;
  b->keys[key].monthly = monthly;
  return 0;
}

void probe_budget_add(struct probe_budget *b, uint32_t key, int64_t now_ms, int64_t tokens) {
  struct budget_key *k = budget_roll(b, key, now_ms);
  if (k && tokens > 0) k->spent += tokens;
}

int64_t probe_budget_spent(const struct probe_budget *b, uint32_t key, int64_t now_ms) {
  if (!b || key >= b->n) return 0;
  const struct budget_key *k = &b->keys[key];
  return k->month == month_of(now_ms) ? k->spent : 0;
}

bool probe_budget_allows(struct probe_budget *b, uint32_t key, int64_t now_ms) {
  struct budget_key *k = budget_roll(b, key, now_ms);
  if (!k || k->monthly <= 0 || k->spent < k->monthly) return true;
  if (!k->refused) {
    k->refused = true;
    log_warn("messages probes paused: monthly token budget reached",
             "key=%s spent=%lld budget=%lld", log_q(k->name ? k->name : "?"), (long long)k->spent,
             (long long)k->monthly);
  }
  return false;
}

/* ---- running a probe --------------------------------------------------------------- */

struct probe_call {
  probe_done_cb cb;
  void *arg;
  struct probe_budget *budget;
  uint32_t key_index;
  enum probe_kind kind;
  int64_t started_ms;
};

static void on_fetched(const struct fetch_response *resp, void *arg) {
  struct probe_call *c = arg;
  struct probe_result r;
  probe_result_init(&r, c->key_index, c->kind);
  r.started_ms = c->started_ms;
  probe_fill_from_response(c->kind, resp, &r);
  if (c->kind == PROBE_MESSAGES && c->budget) {
    int64_t spent =
        (r.input_tokens > 0 ? r.input_tokens : 0) + (r.output_tokens > 0 ? r.output_tokens : 0);
    probe_budget_add(c->budget, c->key_index, util_now_ms(), spent);
  }
  probe_done_cb cb = c->cb;
  void *cb_arg = c->arg;
  free(c);
  cb(&r, cb_arg);
}

/* build_body returns the JSON body of a POST probe (caller frees), NULL on bad input. */
static char *build_body(enum probe_kind kind, const char *model) {
  char *out = NULL;
  cJSON *root = cJSON_CreateObject();
  cJSON *msgs = NULL, *msg = NULL;
  if (!root) goto out;
  if (!cJSON_AddStringToObject(root, "model", model)) goto out;
  if (kind == PROBE_MESSAGES && !cJSON_AddNumberToObject(root, "max_tokens", 1)) goto out;
  msgs = cJSON_AddArrayToObject(root, "messages");
  msg = cJSON_CreateObject();
  if (!msgs || !msg) goto out;
  if (!cJSON_AddStringToObject(msg, "role", "user") ||
      !cJSON_AddStringToObject(msg, "content", PROBE_PROMPT))
    goto out;
  if (!cJSON_AddItemToArray(msgs, msg)) goto out;
  msg = NULL;
  out = cJSON_PrintUnformatted(root);
out:
  cJSON_Delete(msg);
  cJSON_Delete(root);
  return out;
}

int probe_start(struct fetch *f, const struct probe_target *t, uint32_t key_index,
                enum probe_kind kind, const char *api_key, probe_done_cb cb, void *arg) {
  if (!f || !t || !t->base_url || !api_key || !cb || t->timeout_ms < 1 || kind < 0 ||
      kind >= PROBE__COUNT)
    return UTIL_EINVAL;
  if (kind != PROBE_MODELS && (!t->model || !*t->model)) return UTIL_EINVAL;
  int err = 0;
  char *url = NULL, *body = NULL;
  size_t blen = strlen(t->base_url);
  while (blen > 0 && t->base_url[blen - 1] == '/')
    blen--;
  static const char *const paths[PROBE__COUNT] = {
      [PROBE_MODELS] = "/v1/models?limit=1",
      [PROBE_COUNT_TOKENS] = "/v1/messages/count_tokens",
      [PROBE_MESSAGES] = "/v1/messages",
  };
  url = xasprintf("%.*s%s", (int)blen, t->base_url, paths[kind]);
  if (kind != PROBE_MODELS) {
    body = build_body(kind, t->model);
    if (!body) {
      err = UTIL_EINVAL;
      goto out;
    }
  }
  const struct fetch_header headers[] = {
      {"x-api-key", api_key},
      {"anthropic-version", t->version ? t->version : PROBE_DEFAULT_VERSION},
      {"content-type", "application/json"},
      {"accept", "application/json"},
  };
  struct fetch_request req = {
      .method = kind == PROBE_MODELS ? "GET" : "POST",
      .url = url,
      .headers = headers,
      .n_headers = UTIL_ARRAY_LEN(headers),
      .body = body,
      .body_len = body ? strlen(body) : 0,
      .timeout_ms = t->timeout_ms,
  };
  struct probe_call *c = xcalloc(1, sizeof(*c));
  c->cb = cb;
  c->arg = arg;
  c->budget = t->budget;
  c->key_index = key_index;
  c->kind = kind;
  c->started_ms = util_now_ms();
  err = fetch_start(f, &req, on_fetched, c);
  if (err) free(c);
out:
  free(url);
  free(body);
  return err;
}
