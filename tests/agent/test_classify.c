/* Tests of agent/classify.c, written to be read as the classifier's documentation:
 *   (a) one probe -> its cause: a table of every case of the API documentation, plus every
 *       real error body and header set in tests/fixtures/ (read from the files);
 *   (b) every key plus the status page -> verdict and findings: a table of judgements;
 *   (c) a key's results over time -> its cause after hysteresis, failing-since, the evidence
 *       of the first failing probe, recovery time; the platform incident's lead time. */
#include "agent/classify.h"
#include "agent/util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#define NOW 1795845600000LL /* 2026-11-28T06:00:00Z */
#define MIN 60000LL

/* ---- (a) one probe ----------------------------------------------------------------------- */

struct probe_case {
  const char *what; /* the case, in the words of the API documentation or the fixture */
  enum transport_error transport;
  int status;
  enum body_kind body;
  const char *type, *message, *code, *request_id;
  enum cause want;
};

#define API(st, ty, msg) TRANSPORT_OK, st, BODY_API_ERROR, ty, msg
#define RID "req_011CeGphKfhi1XAd3tJp1z1E"

static const struct probe_case probe_cases[] = {
    /* 2xx */
    {"200 with the models list", TRANSPORT_OK, 200, BODY_EXPECTED, "", "", "", RID, CAUSE_OK},
    {"200 HTML page (captive portal)", TRANSPORT_OK, 200, BODY_HTML, "", "", "", "",
     CAUSE_EDGE_ERROR},
    {"200 JSON of another shape, even with a request-id", TRANSPORT_OK, 200, BODY_OTHER_JSON, "",
     "", "", RID, CAUSE_EDGE_ERROR},
    {"200 with a streaming error event we never asked for", TRANSPORT_OK, 200, BODY_OTHER, "", "",
     "", "", CAUSE_EDGE_ERROR},
    /* 401 */
    {"401 invalid x-api-key, old body without request_id",
     API(401, "authentication_error", "invalid x-api-key"), "", "", CAUSE_AUTH_INVALID},
    {"401 x-api-key header is required",
     API(401, "authentication_error", "x-api-key header is required"), "", RID, CAUSE_AUTH_INVALID},
    {"401 OAuth token sent as Bearer",
     API(401, "authentication_error", "OAuth authentication is currently not supported."), "", RID,
     CAUSE_AUTH_INVALID},
    {"401 CORS refused for the organization: not the key",
     API(401, "authentication_error",
         "CORS requests are not allowed for this Organization because of its settings."),
     "", RID, CAUSE_REQUEST_INVALID},
    /* 402, 403 */
    {"402 billing_error", API(402, "billing_error", "Billing error"), "", RID, CAUSE_QUOTA},
    {"403 permission_error", API(403, "permission_error", "Permission denied"), "", RID,
     CAUSE_PERMISSION},
    {"403 permission_error without request_id is still the API",
     API(403, "permission_error", "Permission denied"), "", "", CAUSE_PERMISSION},
    {"403 edge block {\"error\":{\"type\":\"forbidden\"}} without request-id", TRANSPORT_OK, 403,
     BODY_OTHER_JSON, "", "", "", "", CAUSE_EDGE_ERROR},
    {"403 HTML page without request-id", TRANSPORT_OK, 403, BODY_HTML, "", "", "", "",
     CAUSE_EDGE_ERROR},
    /* 400: one type, many conditions told apart by the message */
    {"400 credit balance too low",
     API(400, "invalid_request_error",
         "Your credit balance is too low to access the Anthropic API. Please go to Plans & "
         "Billing to upgrade or purchase credits."),
     "", RID, CAUSE_QUOTA},
    {"400 organization spend limit set by the customer",
     API(400, "invalid_request_error",
         "You have reached your specified API usage limits. You will regain access on "
         "2026-12-01 at 00:00 UTC."),
     "", RID, CAUSE_QUOTA},
    {"400 workspace spend limit",
     API(400, "invalid_request_error",
         "You have reached your specified workspace API usage limits. You will regain access on "
         "2025-06-01 at 00:00 UTC."),
     "", "", CAUSE_QUOTA},
    {"400 organization disabled",
     API(400, "invalid_request_error", "This organization has been disabled."), "", RID,
     CAUSE_ACCOUNT_DISABLED},
    {"400 anthropic-version missing",
     API(400, "invalid_request_error", "anthropic-version: header is required"), "", "",
     CAUSE_REQUEST_INVALID},
    {"400 anthropic-version duplicated by a proxy",
     API(400, "invalid_request_error",
         "anthropic-version: \"2023-06-01, 2023-06-01\" is not a valid version"),
     "", "", CAUSE_REQUEST_INVALID},
    /* other 4xx */
    {"404 unknown model", API(404, "not_found_error", "model: claude-3-5-sonnet-latest"), "", RID,
     CAUSE_REQUEST_INVALID},
    {"409 conflict_error", API(409, "conflict_error", "Conflict"), "", RID, CAUSE_REQUEST_INVALID},
    {"413 request_too_large", API(413, "request_too_large", "Request exceeds the maximum size"), "",
     RID, CAUSE_REQUEST_INVALID},
    {"413 from the edge, HTML", TRANSPORT_OK, 413, BODY_HTML, "", "", "", "", CAUSE_EDGE_ERROR},
    /* 429 */
    {"429 rate limit with retry-after",
     API(429, "rate_limit_error",
         "This request would exceed the rate limit for your organization of 50,000 input "
         "tokens per minute."),
     "", RID, CAUSE_RATE_LIMITED},
    {"429 acceleration limit",
     API(429, "rate_limit_error",
         "Your organization's usage increased too quickly (acceleration limit)."),
     "", RID, CAUSE_RATE_LIMITED},
    {"429 tier monthly spend cap (enforced_spend_limit_reached)",
     API(429, "rate_limit_error",
         "You have reached your API usage limits: your organization has crossed its monthly API "
         "usage threshold, set based on your organization's API tier. You will regain access on "
         "2026-09-01 at 00:00 UTC."),
     "enforced_spend_limit_reached", RID, CAUSE_QUOTA},
    {"429 with the error code alone", API(429, "rate_limit_error", "Rate limited"),
     "enforced_spend_limit_reached", RID, CAUSE_QUOTA},
    {"429 Claude Code workspace spend limit",
     API(429, "rate_limit_error", "You have reached your specified workspace API usage limits."),
     "", RID, CAUSE_QUOTA},
    /* 5xx */
    {"500 api_error", API(500, "api_error", "Internal server error"), "", RID, CAUSE_SERVER_ERROR},
    {"500 api_error, old body without request_id", API(500, "api_error", "Internal server error"),
     "", "", CAUSE_SERVER_ERROR},
    {"504 timeout_error", API(504, "timeout_error", "Request timeout"), "", RID,
     CAUSE_SERVER_ERROR},
    {"529 overloaded_error without request_id", API(529, "overloaded_error", "Overloaded"), "", "",
     CAUSE_OVERLOADED},
    {"502 without a body but with a request-id", TRANSPORT_OK, 502, BODY_NONE, "", "", "", RID,
     CAUSE_SERVER_ERROR},
    {"529 with a truncated body and a request-id", TRANSPORT_OK, 529, BODY_OTHER, "", "", "", RID,
     CAUSE_OVERLOADED},
    {"502 Cloudflare HTML without request-id", TRANSPORT_OK, 502, BODY_HTML, "", "", "", "",
     CAUSE_EDGE_ERROR},
    {"520 Cloudflare unknown error", TRANSPORT_OK, 520, BODY_HTML, "", "", "", "",
     CAUSE_EDGE_ERROR},
    {"503 plain text from a proxy", TRANSPORT_OK, 503, BODY_OTHER, "", "", "", "",
     CAUSE_EDGE_ERROR},
    /* an error.type never seen falls back on the status */
    {"new type on 503", API(503, "brand_new_error", "?"), "", RID, CAUSE_SERVER_ERROR},
    {"new type on 529", API(529, "brand_new_error", "?"), "", RID, CAUSE_OVERLOADED},
    {"new type on 401", API(401, "brand_new_error", "?"), "", RID, CAUSE_AUTH_INVALID},
    {"new type on 429", API(429, "brand_new_error", "?"), "", RID, CAUSE_RATE_LIMITED},
    {"new type on 418", API(418, "brand_new_error", "?"), "", RID, CAUSE_REQUEST_INVALID},
    /* other statuses */
    {"302 from a captive portal", TRANSPORT_OK, 302, BODY_HTML, "", "", "", "", CAUSE_EDGE_ERROR},
    {"302 with a request-id", TRANSPORT_OK, 302, BODY_NONE, "", "", "", RID, CAUSE_UNKNOWN},
    {"a complete transfer without a status", TRANSPORT_OK, 0, BODY_NONE, "", "", "", "",
     CAUSE_UNKNOWN},
    /* transport */
    {"no answer within the timeout", TRANSPORT_TIMEOUT, 0, BODY_NONE, "", "", "", "",
     CAUSE_TIMEOUT},
    {"DNS", TRANSPORT_DNS, 0, BODY_NONE, "", "", "", "", CAUSE_NETWORK},
    {"connect refused", TRANSPORT_CONNECT, 0, BODY_NONE, "", "", "", "", CAUSE_NETWORK},
    {"TLS handshake", TRANSPORT_TLS, 0, BODY_NONE, "", "", "", "", CAUSE_NETWORK},
    {"proxy", TRANSPORT_PROXY, 0, BODY_NONE, "", "", "", "", CAUSE_NETWORK},
    {"reset while sending", TRANSPORT_SEND, 0, BODY_NONE, "", "", "", "", CAUSE_NETWORK},
    {"reset while receiving, partial 200", TRANSPORT_RECV, 200, BODY_OTHER, "", "", "", RID,
     CAUSE_NETWORK},
    {"other curl failure", TRANSPORT_OTHER, 0, BODY_NONE, "", "", "", "", CAUSE_NETWORK},
};

static void fill_probe(struct probe_result *r, const struct probe_case *pc) {
  probe_result_init(r, 0, PROBE_MODELS);
  r->transport = pc->transport;
  r->http_status = pc->status;
  r->body_kind = pc->body;
  util_copy(r->error_type, sizeof(r->error_type), pc->type);
  util_copy(r->error_message, sizeof(r->error_message), pc->message);
  util_copy(r->error_code, sizeof(r->error_code), pc->code);
  util_copy(r->request_id, sizeof(r->request_id), pc->request_id);
}

static void test_probe_table(void **state) {
  (void)state;
  assert_true(UTIL_ARRAY_LEN(probe_cases) >= 25);
  int failures = 0;
  for (size_t i = 0; i < UTIL_ARRAY_LEN(probe_cases); i++) {
    const struct probe_case *pc = &probe_cases[i];
    struct probe_result r;
    fill_probe(&r, pc);
    classify_probe(&r);
    if (r.cause != pc->want) {
      print_error("%s: got %s, want %s\n", pc->what, cause_name(r.cause), cause_name(pc->want));
      failures++;
    }
  }
  assert_int_equal(failures, 0);
}

static char *read_fixture(const char *name) {
  const char *dir = getenv("CLAUDEMON_FIXTURES");
  char path[1024];
  snprintf(path, sizeof(path), "%s/%s", dir ? dir : "tests/fixtures", name);
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = xmalloc((size_t)n + 1);
  size_t got = fread(buf, 1, (size_t)n, f);
  buf[got] = '\0';
  fclose(f);
  return buf;
}

static const char *json_str(const cJSON *o, const char *name) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
  return cJSON_IsString(v) ? v->valuestring : "";
}

/* The cause of every real error body in the fixture, by its source. */
static const struct {
  const char *source_has;
  enum cause want;
} fixture_bodies[] = {
    {"cline/cline/issues/12", CAUSE_AUTH_INVALID},
    {"n8n-io/n8n/issues/37930", CAUSE_AUTH_INVALID},
    {"claude-code/issues/6131", CAUSE_AUTH_INVALID},
    {"claude-code/issues/88711", CAUSE_QUOTA},
    {"PipedreamHQ/pipedream/issues/9697", CAUSE_REQUEST_INVALID},
    {"9router/issues/2357", CAUSE_REQUEST_INVALID},
    {"continuedev/continue/issues/12161", CAUSE_REQUEST_INVALID},
    {"claude-code/issues/51610", CAUSE_PERMISSION},
    {"claude-code/issues/22780", CAUSE_SERVER_ERROR},
    {"claude-code/issues/5184", CAUSE_OVERLOADED},
    {"anthropic-sdk-go/blob/main/error_type_test.go", CAUSE_EDGE_ERROR}, /* 200 + SSE error */
    {"claude-code/issues/1101", CAUSE_EDGE_ERROR},                       /* Cloudflare 502 */
};

/* What the probe engine would capture from a body: its kind and the error fields. */
static void capture_body(struct probe_result *r, const char *raw) {
  cJSON *j = cJSON_Parse(raw);
  const cJSON *err = j ? cJSON_GetObjectItemCaseSensitive(j, "error") : NULL;
  if (j && strcmp(json_str(j, "type"), "error") == 0 && cJSON_IsObject(err)) {
    r->body_kind = BODY_API_ERROR;
    util_copy(r->error_type, sizeof(r->error_type), json_str(err, "type"));
    util_copy(r->error_message, sizeof(r->error_message), json_str(err, "message"));
    const cJSON *details = cJSON_GetObjectItemCaseSensitive(err, "details");
    if (cJSON_IsObject(details))
      util_copy(r->error_code, sizeof(r->error_code), json_str(details, "error_code"));
    util_copy(r->request_id, sizeof(r->request_id), json_str(j, "request_id"));
  } else if (j) {
    r->body_kind = BODY_OTHER_JSON;
  } else {
    r->body_kind = raw[0] == '<' ? BODY_HTML : BODY_OTHER;
  }
  cJSON_Delete(j);
}

static void test_fixture_error_bodies(void **state) {
  (void)state;
  char *text = read_fixture("anthropic_api_error_bodies.json");
  assert_non_null(text);
  cJSON *doc = cJSON_Parse(text);
  assert_non_null(doc);
  const cJSON *entries = cJSON_GetObjectItemCaseSensitive(doc, "entries");
  assert_true(cJSON_IsArray(entries));
  int n = 0, failures = 0;
  const cJSON *e;
  cJSON_ArrayForEach(e, entries) {
    const char *source = json_str(e, "source");
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(e, "http_status");
    struct probe_result r;
    probe_result_init(&r, 0, PROBE_MESSAGES);
    r.transport = TRANSPORT_OK;
    r.http_status = cJSON_IsNumber(st) ? st->valueint : 0;
    capture_body(&r, json_str(e, "body_raw"));
    classify_probe(&r);
    size_t k = 0;
    while (k < UTIL_ARRAY_LEN(fixture_bodies) && !strstr(source, fixture_bodies[k].source_has))
      k++;
    if (k == UTIL_ARRAY_LEN(fixture_bodies)) {
      print_error("fixture entry %s has no expected cause in this test\n", source);
      failures++;
    } else if (r.cause != fixture_bodies[k].want) {
      print_error("%s (%d): got %s, want %s\n", source, r.http_status, cause_name(r.cause),
                  cause_name(fixture_bodies[k].want));
      failures++;
    }
    n++;
  }
  assert_int_equal(n, (int)UTIL_ARRAY_LEN(fixture_bodies));
  assert_int_equal(failures, 0);
  cJSON_Delete(doc);
  free(text);
}

/* The header fixture: 200s with the promised body are ok; 429s are rate limits, kept as such
 * with or without retry-after, and never retried by `check`; the edge 403 (no request-id, no
 * anthropic-* headers, {"error":{"type":"forbidden"}}) did not come from the API. */
static void test_fixture_headers(void **state) {
  (void)state;
  char *text = read_fixture("anthropic_api_response_headers.json");
  assert_non_null(text);
  cJSON *doc = cJSON_Parse(text);
  assert_non_null(doc);
  const cJSON *e;
  int n = 0;
  cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(doc, "entries")) {
    const cJSON *h = cJSON_GetObjectItemCaseSensitive(e, "headers");
    int st = cJSON_GetObjectItemCaseSensitive(e, "http_status")->valueint;
    struct probe_result r;
    probe_result_init(&r, 0, PROBE_MESSAGES);
    r.transport = TRANSPORT_OK;
    r.http_status = st;
    util_copy(r.request_id, sizeof(r.request_id), json_str(h, "request-id"));
    util_copy(r.organization_id, sizeof(r.organization_id),
              json_str(h, "anthropic-organization-id"));
    const char *ra = json_str(h, "retry-after");
    r.retry_after_s = ra[0] ? atoll(ra) : -1;
    enum cause want;
    if (st == 200) {
      r.body_kind = BODY_EXPECTED;
      want = CAUSE_OK;
    } else if (st == 429) {
      capture_body(&r, "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":"
                       "\"Number of request tokens has exceeded your per-minute rate limit\"}}");
      want = CAUSE_RATE_LIMITED;
    } else {
      capture_body(&r, "{\"error\":{\"type\":\"forbidden\",\"message\":\"Request not allowed\"}}");
      want = CAUSE_EDGE_ERROR;
    }
    classify_probe(&r);
    if (r.cause != want)
      print_error("%s: got %s, want %s\n", json_str(e, "source"), cause_name(r.cause),
                  cause_name(want));
    assert_int_equal(r.cause, want);
    if (st == 429) assert_false(classify_should_retry(&r));
    n++;
  }
  assert_int_equal(n, 7);
  cJSON_Delete(doc);
  free(text);
}

/* `check` retries a flaky cause once after a short pause; never a 429, never when retry-after
 * asks for more than a few seconds, never twice. */
static void test_should_retry(void **state) {
  (void)state;
  static const struct {
    const char *what;
    enum cause cause;
    int status;
    int64_t retry_after_s;
    bool retried;
    bool want;
    int64_t pause_ms;
  } cases[] = {
      {"529 overloaded", CAUSE_OVERLOADED, 529, -1, false, true, 1000},
      {"529 with retry-after 3", CAUSE_OVERLOADED, 529, 3, false, true, 3000},
      {"529 with retry-after 30", CAUSE_OVERLOADED, 529, 30, false, false, 1000},
      {"529 that was already a retry", CAUSE_OVERLOADED, 529, -1, true, false, 1000},
      {"500 api_error", CAUSE_SERVER_ERROR, 500, -1, false, true, 1000},
      {"timeout", CAUSE_TIMEOUT, 0, -1, false, true, 1000},
      {"DNS", CAUSE_NETWORK, 0, -1, false, true, 1000},
      {"Cloudflare 502", CAUSE_EDGE_ERROR, 502, -1, false, true, 1000},
      {"429 rate limit", CAUSE_RATE_LIMITED, 429, 2, false, false, 2000},
      {"429 spend cap", CAUSE_QUOTA, 429, -1, false, false, 1000},
      {"429 from the edge", CAUSE_EDGE_ERROR, 429, -1, false, false, 1000},
      {"401", CAUSE_AUTH_INVALID, 401, -1, false, false, 1000},
      {"ok", CAUSE_OK, 200, -1, false, false, 1000},
  };
  for (size_t i = 0; i < UTIL_ARRAY_LEN(cases); i++) {
    struct probe_result r;
    probe_result_init(&r, 0, PROBE_MODELS);
    r.cause = cases[i].cause;
    r.http_status = cases[i].status;
    r.retry_after_s = cases[i].retry_after_s;
    r.retried = cases[i].retried;
    if (classify_should_retry(&r) != cases[i].want) print_error("%s\n", cases[i].what);
    assert_int_equal(classify_should_retry(&r), cases[i].want);
    assert_int_equal(classify_retry_pause_ms(&r), cases[i].pause_ms);
  }
}

/* ---- (b) judgements ---------------------------------------------------------------------- */

/* Result templates: what a key's probe saw. */
enum tpl {
  T_NONE, /* no result yet */
  T_OK,
  T_401,
  T_403,
  T_400_CREDIT,
  T_400_DISABLED,
  T_429,
  T_429_SPEND,
  T_529,
  T_500,
  T_EDGE502,
  T_TIMEOUT,
  T_DNS,
  T_UNAVAILABLE, /* the secret could not be read */
};

static void tpl_fill(struct probe_result *r, enum tpl t) {
  r->transport = TRANSPORT_OK;
  r->body_kind = BODY_API_ERROR;
  util_copy(r->request_id, sizeof(r->request_id), "req_011CX");
  switch (t) {
  case T_OK:
    r->http_status = 200;
    r->body_kind = BODY_EXPECTED;
    break;
  case T_401:
    r->http_status = 401;
    util_copy(r->error_type, sizeof(r->error_type), "authentication_error");
    util_copy(r->error_message, sizeof(r->error_message), "invalid x-api-key");
    break;
  case T_403:
    r->http_status = 403;
    util_copy(r->error_type, sizeof(r->error_type), "permission_error");
    util_copy(r->error_message, sizeof(r->error_message), "Permission denied");
    break;
  case T_400_CREDIT:
    r->http_status = 400;
    util_copy(r->error_type, sizeof(r->error_type), "invalid_request_error");
    util_copy(r->error_message, sizeof(r->error_message),
              "Your credit balance is too low to access the Anthropic API.");
    break;
  case T_400_DISABLED:
    r->http_status = 400;
    util_copy(r->error_type, sizeof(r->error_type), "invalid_request_error");
    util_copy(r->error_message, sizeof(r->error_message), "This organization has been disabled.");
    break;
  case T_429:
    r->http_status = 429;
    r->retry_after_s = 16;
    util_copy(r->error_type, sizeof(r->error_type), "rate_limit_error");
    util_copy(r->error_message, sizeof(r->error_message), "Rate limited");
    break;
  case T_429_SPEND:
    r->http_status = 429;
    util_copy(r->error_type, sizeof(r->error_type), "rate_limit_error");
    util_copy(r->error_message, sizeof(r->error_message), "You have reached your API usage limits");
    util_copy(r->error_code, sizeof(r->error_code), "enforced_spend_limit_reached");
    break;
  case T_529:
    r->http_status = 529;
    util_copy(r->error_type, sizeof(r->error_type), "overloaded_error");
    util_copy(r->error_message, sizeof(r->error_message), "Overloaded");
    break;
  case T_500:
    r->http_status = 500;
    util_copy(r->error_type, sizeof(r->error_type), "api_error");
    util_copy(r->error_message, sizeof(r->error_message), "Internal server error");
    break;
  case T_EDGE502:
    r->http_status = 502;
    r->body_kind = BODY_HTML;
    r->request_id[0] = '\0';
    break;
  case T_TIMEOUT:
    r->transport = TRANSPORT_TIMEOUT;
    r->body_kind = BODY_NONE;
    r->request_id[0] = '\0';
    util_copy(r->curl_error, sizeof(r->curl_error), "Operation timed out after 10000 milliseconds");
    break;
  case T_DNS:
    r->transport = TRANSPORT_DNS;
    r->body_kind = BODY_NONE;
    r->request_id[0] = '\0';
    util_copy(r->curl_error, sizeof(r->curl_error), "Could not resolve host: api.anthropic.com");
    break;
  default:
    break;
  }
}

/* Status pages. The watched component is the API; claude.ai is not watched. */
enum page {
  PG_NONE,                 /* status page not watched (NULL snapshot) */
  PG_GREEN,                /* reachable, everything operational */
  PG_INCIDENT,             /* an unresolved incident on the API, the API partial_outage */
  PG_INCIDENT_UNWATCHED,   /* an incident on claude.ai only */
  PG_DEGRADED,             /* the API partial_outage, no incident posted yet */
  PG_MAINT,                /* a maintenance in progress on the API */
  PG_MAINT_UNWATCHED,      /* a maintenance in progress on claude.ai */
  PG_UNREACHABLE_GREEN,    /* the last poll failed; the last good data (5m old) was green */
  PG_UNREACHABLE_INCIDENT, /* the last poll failed; the last good data held the incident */
  PG_UNREACHABLE_NODATA,   /* polls fail and the caller has no data to pass */
};

#define API_ID "k8w3r06qmzrp"
#define WEB_ID "rwppv331jlwc"
#define INCIDENT_CREATED (NOW - 20 * MIN)

static void add_incident(struct status_incident **v, size_t *n, const char *id, const char *name,
                         const char *status, enum indicator impact, const char *component,
                         bool watched, int64_t created_ms) {
  *v = xrealloc(*v, (*n + 1) * sizeof(**v));
  struct status_incident *in = &(*v)[(*n)++];
  memset(in, 0, sizeof(*in));
  util_copy(in->id, sizeof(in->id), id);
  util_copy(in->name, sizeof(in->name), name);
  util_copy(in->status, sizeof(in->status), status);
  snprintf(in->shortlink, sizeof(in->shortlink), "https://stspg.io/%s", id);
  in->impact = impact;
  in->created_ms = in->updated_ms = in->started_ms = created_ms;
  in->scheduled_for_ms = in->scheduled_until_ms = -1;
  in->component_ids = xmalloc(sizeof(*in->component_ids));
  util_copy(in->component_ids[0], sizeof(in->component_ids[0]), component);
  in->n_components = 1;
  in->affects_watched = watched;
}

/* make_page fills *sp and returns it, or NULL for PG_NONE. */
static struct status_snapshot *make_page(struct status_snapshot *sp, enum page pg, int64_t now) {
  status_snapshot_init(sp);
  if (pg == PG_NONE) return NULL;
  sp->reachable = true;
  sp->polled_ms = sp->fetched_ms = now - 30000;
  sp->page_updated_ms = INCIDENT_CREATED;
  sp->indicator = INDICATOR_NONE;
  sp->components = xcalloc(2, sizeof(*sp->components));
  sp->n_components = 2;
  util_copy(sp->components[0].id, sizeof(sp->components[0].id), API_ID);
  util_copy(sp->components[0].name, sizeof(sp->components[0].name),
            "Claude API (api.anthropic.com)");
  sp->components[0].watched = true;
  util_copy(sp->components[1].id, sizeof(sp->components[1].id), WEB_ID);
  util_copy(sp->components[1].name, sizeof(sp->components[1].name), "claude.ai");
  switch (pg) {
  case PG_INCIDENT:
  case PG_UNREACHABLE_INCIDENT:
    sp->components[0].status = COMPONENT_PARTIAL_OUTAGE;
    sp->indicator = INDICATOR_MINOR;
    add_incident(&sp->incidents, &sp->n_incidents, "abc123", "Elevated errors on Claude API",
                 "investigating", INDICATOR_MAJOR, API_ID, true, INCIDENT_CREATED);
    break;
  case PG_INCIDENT_UNWATCHED:
    sp->components[1].status = COMPONENT_MAJOR_OUTAGE;
    sp->indicator = INDICATOR_MAJOR;
    add_incident(&sp->incidents, &sp->n_incidents, "web999", "claude.ai is down", "identified",
                 INDICATOR_CRITICAL, WEB_ID, false, INCIDENT_CREATED);
    break;
  case PG_DEGRADED:
    sp->components[0].status = COMPONENT_PARTIAL_OUTAGE;
    sp->indicator = INDICATOR_MINOR;
    break;
  case PG_MAINT:
  case PG_MAINT_UNWATCHED: {
    bool api = pg == PG_MAINT;
    sp->components[api ? 0 : 1].status = COMPONENT_UNDER_MAINTENANCE;
    sp->indicator = INDICATOR_MAINTENANCE;
    add_incident(&sp->maintenances, &sp->n_maintenances, "mnt42", "Scheduled database maintenance",
                 "in_progress", INDICATOR_MAINTENANCE, api ? API_ID : WEB_ID, api, now - 10 * MIN);
    sp->maintenances[0].scheduled_for_ms = now - 10 * MIN;
    sp->maintenances[0].scheduled_until_ms = now + 50 * MIN;
    break;
  }
  default:
    break;
  }
  if (pg == PG_UNREACHABLE_GREEN || pg == PG_UNREACHABLE_INCIDENT || pg == PG_UNREACHABLE_NODATA) {
    sp->reachable = false;
    sp->polled_ms = now - 10000;
    sp->fetched_ms = now - 5 * MIN;
    util_copy(sp->error, sizeof(sp->error), "HTTP 503 from status.claude.com");
  }
  if (pg == PG_UNREACHABLE_NODATA) { /* nothing but the failure */
    free(sp->components);
    sp->components = NULL;
    sp->n_components = 0;
    sp->fetched_ms = -1;
    sp->page_updated_ms = -1;
    sp->indicator = INDICATOR_UNKNOWN;
  }
  return sp;
}

struct key_spec {
  const char *name;
  const char *org; /* anthropic-organization-id it reports ("" none) */
  enum tpl tpl;
  const char *expect_org; /* expect_organization, or NULL */
};

struct judge_case {
  const char *what;
  struct key_spec keys[8]; /* up to the first with name NULL */
  enum page page;
  enum page page_before; /* judged before_ms earlier too (PG_NONE: not) */
  int64_t before_ms;
  double quorum;           /* 0: 0.5 */
  const char *verdict;     /* "scope/cause:key,key" */
  const char *findings[4]; /* the same, most important first */
  const char *summary;     /* the verdict's exact summary, or NULL */
  const char *summary_has; /* a part of it, or NULL */
  const char *finding_has; /* a part of the first finding's summary, or NULL */
  const char *incident;    /* the verdict's incident name, or NULL */
};

#define K(n, t)                                                                                    \
  { n, "org-a", t, NULL }
#define KO(n, o, t)                                                                                \
  { n, o, t, NULL }

static const struct judge_case judge_cases[] = {
    {"all is well",
     {K("a", T_OK), K("b", T_OK), K("c", T_OK), K("d", T_OK)},
     PG_GREEN,
     .verdict = "none/ok:",
     .summary = "All 4 keys are healthy and the status page is operational."},
    {"no key has a result yet",
     {K("a", T_NONE), K("b", T_NONE)},
     PG_GREEN,
     .verdict = "none/ok:",
     .summary = "No key has a result yet; the status page is operational."},
    {"status page not watched, keys fine",
     {K("a", T_OK), K("b", T_OK)},
     PG_NONE,
     .verdict = "none/ok:",
     .summary = "Both keys are healthy and the status page is not watched."},
    {"one key of one, rejected",
     {K("prod", T_401)},
     PG_GREEN,
     .verdict = "local/auth_invalid:prod",
     .summary = "Key 'prod' is rejected (401 invalid x-api-key); it is the only key configured and "
                "the status page is operational: the problem is this key, not the platform."},
    {"one key of one, overloaded: a quorum of one",
     {K("prod", T_529)},
     PG_GREEN,
     .verdict = "platform/overloaded:prod",
     .summary = "Key 'prod' fails platform-side (529 Overloaded) while the status page shows no "
                "incident yet: a platform incident, declared before the status page confirms it."},
    {"one key rejected, its siblings healthy",
     {K("prod", T_401), K("b", T_OK), K("c", T_OK), K("d", T_OK)},
     PG_GREEN,
     .verdict = "local/auth_invalid:prod",
     .summary = "Key 'prod' is rejected (401 invalid x-api-key); 3 other keys are healthy and the "
                "status page is operational: the problem is this key, not the platform."},
    {"quorum exactly met: 2 of 4 overloaded",
     {K("a", T_529), K("b", T_529), K("c", T_OK), K("d", T_OK)},
     PG_GREEN,
     .verdict = "platform/overloaded:a,b",
     .summary_has = "2 of 4 keys fail platform-side at the same time (529 Overloaded)"},
    {"quorum just missed: 1 of 4 overloaded",
     {K("a", T_529), K("b", T_OK), K("c", T_OK), K("d", T_OK)},
     PG_GREEN,
     .verdict = "local/overloaded:a",
     .summary_has = "not platform-wide"},
    {"quorum just missed: 2 of 5 is below half",
     {K("a", T_529), K("b", T_529), K("c", T_OK), K("d", T_OK), K("e", T_OK)},
     PG_GREEN,
     .verdict = "local/overloaded:a,b"},
    {"quorum needs two keys: 1 of 2 is half but one key",
     {K("a", T_500), K("b", T_OK)},
     PG_GREEN,
     .verdict = "local/server_error:a"},
    {"quorum 0.75 met: 3 of 4",
     {K("a", T_500), K("b", T_500), K("c", T_529), K("d", T_OK)},
     PG_GREEN,
     .quorum = 0.75,
     .verdict = "platform/server_error:a,b,c"},
    {"quorum 0.75 just missed: 2 of 3",
     {K("a", T_500), K("b", T_500), K("c", T_OK)},
     PG_GREEN,
     .quorum = 0.75,
     .verdict = "local/server_error:a,b"},
    {"incident on the watched component, all keys fail",
     {K("a", T_529), K("b", T_529), K("c", T_529), K("d", T_529)},
     PG_INCIDENT,
     .verdict = "platform/incident:a,b,c,d",
     .incident = "Elevated errors on Claude API",
     .summary = "The status page reports 'Elevated errors on Claude API' (major impact, "
                "https://stspg.io/abc123) and all 4 keys fail platform-side (529 Overloaded): wait "
                "for the platform; there is nothing to fix on our side."},
    {"the page confirms a single failing key",
     {K("a", T_500), K("b", T_OK), K("c", T_OK), K("d", T_OK)},
     PG_INCIDENT,
     .verdict = "platform/incident:a",
     .incident = "Elevated errors on Claude API"},
    {"incident only on an unwatched component",
     {K("a", T_529), K("b", T_OK), K("c", T_OK), K("d", T_OK)},
     PG_INCIDENT_UNWATCHED,
     .verdict = "local/overloaded:a"},
    {"incident only on an unwatched component, keys fine",
     {K("a", T_OK), K("b", T_OK)},
     PG_INCIDENT_UNWATCHED,
     .verdict = "none/ok:",
     .summary = "Both keys are healthy and the status page is operational."},
    {"watched component partial outage before any incident is posted",
     {K("a", T_500), K("b", T_500), K("c", T_OK)},
     PG_DEGRADED,
     .verdict = "platform/incident:a,b",
     .incident = "Claude API (api.anthropic.com)",
     .summary_has = "The status page shows Claude API (api.anthropic.com) as partial_outage and 2 "
                    "of 3 keys fail platform-side"},
    {"maintenance in progress explains the failures",
     {K("a", T_500), K("b", T_500), K("c", T_500)},
     PG_MAINT,
     .verdict = "platform/maintenance:a,b,c",
     .incident = "Scheduled database maintenance",
     .summary_has = "expect errors until it ends"},
    {"maintenance on an unwatched component, keys fine",
     {K("a", T_OK), K("b", T_OK)},
     PG_MAINT_UNWATCHED,
     .verdict = "none/ok:"},
    {"maintenance on an unwatched component does not explain failures",
     {K("a", T_500), K("b", T_OK), K("c", T_OK)},
     PG_MAINT_UNWATCHED,
     .verdict = "local/server_error:a"},
    {"everything times out and the status page is unreachable too",
     {K("a", T_TIMEOUT), K("b", T_TIMEOUT), K("c", T_TIMEOUT)},
     PG_UNREACHABLE_NODATA,
     .verdict = "network/timeout:a,b,c",
     .summary = "All 3 keys fail at transport level (Operation timed out after 10000 "
                "milliseconds) and the status page is unreachable too: the problem is this host's "
                "network path (DNS, proxy, firewall), not the platform."},
    {"DNS fails everywhere, the status page too",
     {K("a", T_DNS), K("b", T_DNS)},
     PG_UNREACHABLE_NODATA,
     .verdict = "network/network:a,b",
     .summary_has = "(Could not resolve host: api.anthropic.com) and the status page is "
                    "unreachable too"},
    {"every key times out while the status page answers green",
     {K("a", T_TIMEOUT), K("b", T_TIMEOUT), K("c", T_TIMEOUT)},
     PG_GREEN,
     .verdict = "network/timeout:a,b,c",
     .summary_has = "while the status page answers"},
    {"timeouts beside overloaded keys are platform-side",
     {K("a", T_529), K("b", T_529), K("c", T_TIMEOUT), K("d", T_TIMEOUT)},
     PG_GREEN,
     .verdict = "platform/overloaded:a,b,c,d"},
    {"timeouts confirmed by the status page",
     {K("a", T_TIMEOUT), K("b", T_TIMEOUT), K("c", T_TIMEOUT)},
     PG_INCIDENT,
     .verdict = "platform/incident:a,b,c"},
    {"Cloudflare 502s during an incident are the platform's",
     {K("a", T_EDGE502), K("b", T_EDGE502), K("c", T_OK)},
     PG_INCIDENT,
     .verdict = "platform/incident:a,b"},
    {"Cloudflare 502s with a green page are the path's",
     {K("a", T_EDGE502), K("b", T_EDGE502), K("c", T_EDGE502)},
     PG_GREEN,
     .verdict = "network/edge_error:a,b,c",
     .summary_has = "(HTTP 502 without a request-id)"},
    {"a 401 during an incident is still a key problem",
     {K("a", T_529), K("b", T_529), K("c", T_529), K("d", T_401)},
     PG_INCIDENT,
     .verdict = "platform/incident:a,b,c",
     .findings = {"local/auth_invalid:d"},
     .finding_has = "Key 'd' is rejected (401 invalid x-api-key); 3 other keys fail platform-side "
                    "and the status page shows 'Elevated errors on Claude API': the problem is "
                    "this key, apart from the platform incident."},
    {"platform first even when local failures touch more keys",
     {K("a", T_529), K("b", T_401), K("c", T_401), K("d", T_401)},
     PG_INCIDENT,
     .verdict = "platform/incident:a",
     .findings = {"local/auth_invalid:b,c,d"}},
    {"status page unreachable while the API answers",
     {K("a", T_OK), K("b", T_OK), K("c", T_OK)},
     PG_UNREACHABLE_GREEN,
     .verdict = "none/ok:",
     .findings = {"network/status_page_unreachable:"},
     .summary = "All 3 keys are healthy and the status page is unreachable.",
     .finding_has = "The status page could not be fetched (HTTP 503 from status.claude.com) while "
                    "the API answers; its last good data is 5m0s old. This is not an incident"},
    {"an unreachable page keeps its open incident",
     {K("a", T_529), K("b", T_529), K("c", T_529)},
     PG_UNREACHABLE_INCIDENT,
     .verdict = "platform/incident:a,b,c",
     .findings = {"network/status_page_unreachable:"},
     .incident = "Elevated errors on Claude API",
     .summary_has = "at its last successful poll 5m0s ago",
     .finding_has = "still showed 'Elevated errors on Claude API' unresolved"},
    {"the classifier remembers the incident when the caller has no data",
     {K("a", T_529), K("b", T_529)},
     PG_UNREACHABLE_NODATA,
     PG_INCIDENT,
     2 * MIN,
     .verdict = "platform/incident:a,b",
     .findings = {"network/status_page_unreachable:"},
     .incident = "Elevated errors on Claude API"},
    {"probes fail platform-side for longer than mismatch_after while the page is green",
     {K("a", T_529), K("b", T_529), K("c", T_529)},
     PG_GREEN,
     PG_GREEN,
     11 * MIN,
     .verdict = "platform/overloaded:a,b,c",
     .findings = {"platform/status_mismatch:a,b,c"},
     .finding_has = "The probes have failed platform-side for 11m0s (all 3 keys, 529 Overloaded) "
                    "but the status page still shows no incident"},
    {"probes fail platform-side, page green, not yet long enough",
     {K("a", T_529), K("b", T_529), K("c", T_529)},
     PG_GREEN,
     PG_GREEN,
     5 * MIN,
     .verdict = "platform/overloaded:a,b,c"},
    {"page red on a watched component while every key is fine, for long",
     {K("a", T_OK), K("b", T_OK), K("c", T_OK)},
     PG_INCIDENT,
     PG_INCIDENT,
     11 * MIN,
     .verdict = "none/ok:",
     .findings = {"platform/status_mismatch:"},
     .summary = "All 3 keys are healthy and the status page shows 'Elevated errors on Claude API', "
                "but the probes see nothing of it.",
     .finding_has = "for at least 11m0s, but all 3 keys are healthy"},
    {"page red while every key is fine, just now",
     {K("a", T_OK), K("b", T_OK)},
     PG_INCIDENT,
     .verdict = "none/ok:"},
    {"a whole organization out of credit is one finding",
     {KO("a1", "org-a", T_400_CREDIT), KO("a2", "org-a", T_400_CREDIT),
      KO("a3", "org-a", T_400_CREDIT), KO("b1", "org-b", T_OK)},
     PG_GREEN,
     .verdict = "local/quota:a1,a2,a3",
     .summary_has =
         "All 3 keys of organization org-a are out of credit or over a spend limit ('a1': "
         "400 Your credit balance is too low to access the Anthropic API.); 1 other key "
         "is healthy"},
    {"an organization rate-limited together is one finding",
     {KO("a1", "org-a", T_429), KO("a2", "org-a", T_429), KO("b1", "org-b", T_OK)},
     PG_GREEN,
     .verdict = "local/rate_limited:a1,a2",
     .summary_has = "the organization's rate limits are used up by its traffic as a whole"},
    {"one key rate-limited while its organization's siblings are fine",
     {KO("a1", "org-a", T_429), KO("a2", "org-a", T_OK), KO("a3", "org-a", T_OK)},
     PG_GREEN,
     .verdict = "local/rate_limited:a1",
     .summary = "Key 'a1' is rate limited (429 Rate limited); 2 other keys of its organization are "
                "fine and the status page is operational: its workspace's rate limit or its own "
                "traffic, not the organization's limits and not the platform."},
    {"the tier's spend cap (429) on a whole organization",
     {KO("a1", "org-a", T_429_SPEND), KO("a2", "org-a", T_429_SPEND), KO("b1", "org-b", T_OK)},
     PG_GREEN,
     .verdict = "local/quota:a1,a2",
     .summary_has = "organization org-a"},
    {"a disabled organization",
     {KO("a1", "org-a", T_400_DISABLED), KO("a2", "org-a", T_400_DISABLED)},
     PG_GREEN,
     .verdict = "local/account_disabled:a1,a2"},
    {"two local causes: the one with most keys first",
     {K("a", T_401), K("b", T_401), KO("c", "org-c", T_400_CREDIT), K("d", T_OK)},
     PG_GREEN,
     .verdict = "local/auth_invalid:a,b",
     .findings = {"local/quota:c"},
     .summary_has = "Keys 'a' and 'b' are rejected ('a': 401 invalid x-api-key); 1 of 2 other "
                    "keys is healthy"},
    {"as many keys each: the more severe first",
     {K("a", T_403), K("b", T_401), K("c", T_OK)},
     PG_GREEN,
     .verdict = "local/auth_invalid:b",
     .findings = {"local/permission:a"}},
    {"a key answering for the wrong organization",
     {{"a", "org-a", T_OK, "org-expected"}, K("b", T_OK)},
     PG_GREEN,
     .verdict = "local/permission:a",
     .summary_has = "Key 'a' is denied permission (key reports organization org-a, expected "
                    "org-expected)"},
    {"a key whose secret cannot be read",
     {K("a", T_UNAVAILABLE), K("b", T_OK)},
     PG_GREEN,
     .verdict = "local/key_unavailable:a",
     .summary_has = "(environment variable ANTHROPIC_API_KEY is not set)"},
    {"one key cannot resolve the API while the others can",
     {K("a", T_DNS), K("b", T_OK), K("c", T_OK)},
     PG_GREEN,
     .verdict = "local/network:a"},
    {"network before local",
     {K("a", T_DNS), K("b", T_DNS), K("c", T_DNS), K("d", T_401)},
     PG_UNREACHABLE_NODATA,
     .verdict = "network/network:a,b,c",
     .findings = {"local/auth_invalid:d"}},
    {"an incident on the page does not make DNS failures the platform's",
     {K("a", T_DNS), K("b", T_DNS)},
     PG_INCIDENT,
     .verdict = "network/network:a,b"},
};

static void finding_str(char *buf, size_t sz, const struct classifier *c, const struct finding *f) {
  int n = snprintf(buf, sz, "%s/%s:", scope_name(f->scope), cause_name(f->cause));
  for (size_t i = 0; i < f->n_keys && n > 0 && (size_t)n < sz; i++)
    n += snprintf(buf + n, sz - (size_t)n, "%s%s", i ? "," : "",
                  classifier_key(c, f->keys[i])->name);
}

static int run_judge_case(const struct judge_case *jc) {
  struct classify_params p;
  classify_params_default(&p);
  p.fail_after = 1; /* every result counts at once: the cases are about judging, not time */
  p.window = 1;
  p.recover_after = 1;
  if (jc->quorum > 0) p.quorum = jc->quorum;
  size_t n = 0;
  while (n < UTIL_ARRAY_LEN(jc->keys) && jc->keys[n].name)
    n++;
  struct classifier *c = NULL;
  assert_int_equal(classifier_new(&p, n, &c), 0);
  int64_t t0 = NOW - (jc->before_ms ? jc->before_ms : 0) - MIN;
  for (size_t i = 0; i < n; i++) {
    const struct key_spec *ks = &jc->keys[i];
    assert_int_equal(classifier_set_key(c, i, ks->name, ks->expect_org), 0);
    if (ks->tpl == T_NONE) continue;
    if (ks->tpl == T_UNAVAILABLE) {
      classifier_key_unavailable(c, i, t0, "environment variable ANTHROPIC_API_KEY is not set",
                                 NULL);
      continue;
    }
    struct probe_result r;
    probe_result_init(&r, (uint32_t)i, PROBE_MODELS);
    r.started_ms = t0;
    util_copy(r.organization_id, sizeof(r.organization_id), ks->org);
    tpl_fill(&r, ks->tpl);
    classify_probe(&r);
    classifier_observe(c, &r, NULL);
  }

  struct status_snapshot snap;
  struct judgement j;
  if (jc->before_ms) {
    struct status_snapshot *sp = make_page(&snap, jc->page_before, NOW - jc->before_ms);
    assert_int_equal(classifier_judge(c, sp, NOW - jc->before_ms, &j), 0);
    judgement_free(&j);
    status_snapshot_free(&snap);
  }
  struct status_snapshot *sp = make_page(&snap, jc->page, NOW);
  assert_int_equal(classifier_judge(c, sp, NOW, &j), 0);

  int bad = 0;
  char got[256];
  finding_str(got, sizeof(got), c, &j.verdict);
  if (strcmp(got, jc->verdict) != 0) {
    print_error("%s: verdict %s, want %s\n", jc->what, got, jc->verdict);
    bad++;
  }
  size_t nf = 0;
  while (nf < UTIL_ARRAY_LEN(jc->findings) && jc->findings[nf])
    nf++;
  if (j.n_findings != nf) {
    print_error("%s: %zu findings, want %zu\n", jc->what, j.n_findings, nf);
    bad++;
  }
  for (size_t i = 0; i < j.n_findings; i++) {
    finding_str(got, sizeof(got), c, &j.findings[i]);
    if (i >= nf || strcmp(got, jc->findings[i]) != 0) {
      print_error("%s: finding %zu is %s (%s), want %s\n", jc->what, i, got, j.findings[i].summary,
                  i < nf ? jc->findings[i] : "none");
      bad++;
    }
    if (!j.findings[i].summary || !j.findings[i].summary[0]) bad++;
  }
  const char *s = j.verdict.summary ? j.verdict.summary : "";
  if ((jc->summary && strcmp(s, jc->summary) != 0) ||
      (jc->summary_has && !strstr(s, jc->summary_has))) {
    print_error("%s: summary\n  got  %s\n  want %s\n", jc->what, s,
                jc->summary ? jc->summary : jc->summary_has);
    bad++;
  }
  if (jc->finding_has && (j.n_findings == 0 || !strstr(j.findings[0].summary, jc->finding_has))) {
    print_error("%s: finding summary\n  got  %s\n  want %s\n", jc->what,
                j.n_findings ? j.findings[0].summary : "(none)", jc->finding_has);
    bad++;
  }
  if (jc->incident && strcmp(j.verdict.incident_name, jc->incident) != 0) {
    print_error("%s: incident '%s', want '%s'\n", jc->what, j.verdict.incident_name, jc->incident);
    bad++;
  }
  /* Every key finding carries evidence from its keys and the advice of its cause. */
  if (j.verdict.n_keys && (j.verdict.n_evidence == 0 || j.verdict.evidence[0].at_ms != t0)) {
    print_error("%s: verdict evidence missing\n", jc->what);
    bad++;
  }
  if (!j.verdict.advice || strcmp(j.verdict.advice, cause_advice(j.verdict.cause)) != 0) bad++;
  /* The summary never ends without its full stop. */
  if (!s[0] || s[strlen(s) - 1] != '.') {
    print_error("%s: summary '%s' is not a sentence\n", jc->what, s);
    bad++;
  }
  judgement_free(&j);
  status_snapshot_free(&snap);
  classifier_free(c);
  return bad;
}

static void test_judge_table(void **state) {
  (void)state;
  assert_true(UTIL_ARRAY_LEN(judge_cases) >= 30);
  int bad = 0;
  for (size_t i = 0; i < UTIL_ARRAY_LEN(judge_cases); i++)
    bad += run_judge_case(&judge_cases[i]);
  assert_int_equal(bad, 0);
}

/* ---- (c) hysteresis and time ------------------------------------------------------------- */

static struct classifier *new_classifier(size_t n, int fail_after, int window, int recover_after) {
  struct classify_params p;
  classify_params_default(&p);
  p.fail_after = fail_after;
  p.window = window;
  p.recover_after = recover_after;
  struct classifier *c = NULL;
  assert_int_equal(classifier_new(&p, n, &c), 0);
  for (size_t i = 0; i < n; i++) {
    char name[32];
    snprintf(name, sizeof(name), "k%zu", i);
    classifier_set_key(c, i, name, NULL);
  }
  return c;
}

/* feed gives key `key` a result of template t at time `at` (seconds after NOW) with the
 * request id "req_<at>", and returns whether a transition was reported. */
static bool feed(struct classifier *c, uint32_t key, enum probe_kind kind, enum tpl t, int at,
                 struct key_transition *tr) {
  struct probe_result r;
  probe_result_init(&r, key, kind);
  r.started_ms = NOW + at * 1000LL;
  tpl_fill(&r, t);
  snprintf(r.request_id, sizeof(r.request_id), "req_%d", at);
  classify_probe(&r);
  return classifier_observe(c, &r, tr);
}

static void test_params(void **state) {
  (void)state;
  struct classify_params p;
  classify_params_default(&p);
  assert_int_equal(p.fail_after, 3);
  assert_int_equal(p.window, 5);
  assert_int_equal(p.recover_after, 2);
  struct classifier *c = NULL;
  struct classify_params bad = p;
  bad.fail_after = 6; /* more than the window */
  assert_int_equal(classifier_new(&bad, 1, &c), UTIL_EINVAL);
  assert_null(c);
  bad = p;
  bad.window = CLASSIFY_WINDOW_MAX + 1;
  assert_int_equal(classifier_new(&bad, 1, &c), UTIL_EINVAL);
  bad = p;
  bad.quorum = 0;
  assert_int_equal(classifier_new(&bad, 1, &c), UTIL_EINVAL);
  bad = p;
  bad.recover_after = 0;
  assert_int_equal(classifier_new(&bad, 1, &c), UTIL_EINVAL);
  assert_int_equal(classifier_new(&p, 2, &c), 0);
  assert_int_equal(classifier_set_key(c, 2, "x", NULL), UTIL_EINVAL);
  assert_null(classifier_key(c, 2));
  assert_string_equal(classifier_key(c, 1)->name, "key1");
  assert_false(classifier_key(c, 0)->known);
  assert_int_equal(classifier_key(c, 0)->cause, CAUSE_UNKNOWN);
  classifier_free(c);
  classifier_free(NULL);
  judgement_free(NULL);
}

/* 3 of the last 5 for a flaky cause; failing since its first failing probe; recovery after 2
 * consecutive good results, at the first of them. */
static void test_flaky_fail_after_and_recovery(void **state) {
  (void)state;
  struct classifier *c = new_classifier(1, 3, 5, 2);
  struct key_transition t;
  assert_true(feed(c, 0, PROBE_MODELS, T_OK, 0, &t)); /* first settled result */
  assert_int_equal(t.from, CAUSE_UNKNOWN);
  assert_int_equal(t.to, CAUSE_OK);
  assert_int_equal(t.at_ms, NOW);

  assert_false(feed(c, 0, PROBE_MODELS, T_500, 60, &t));  /* 1 of 5 */
  assert_false(feed(c, 0, PROBE_MODELS, T_OK, 120, &t));  /* one good is not a recovery run */
  assert_false(feed(c, 0, PROBE_MODELS, T_500, 180, &t)); /* 2 of 5 */
  assert_int_equal(classifier_key(c, 0)->cause, CAUSE_OK);
  assert_int_equal(classifier_key(c, 0)->failing_since_ms, -1);
  assert_true(feed(c, 0, PROBE_MODELS, T_500, 240, &t)); /* 3 of 5 */
  assert_true(t.cause_changed);
  assert_int_equal(t.from, CAUSE_OK);
  assert_int_equal(t.to, CAUSE_SERVER_ERROR);
  assert_int_equal(t.at_ms, NOW + 60000); /* the first failing probe, not the one that tipped */
  assert_string_equal(t.evidence.request_id, "req_60");
  assert_int_equal(t.evidence.http_status, 500);
  const struct key_state *k = classifier_key(c, 0);
  assert_int_equal(k->cause, CAUSE_SERVER_ERROR);
  assert_int_equal(k->failing_since_ms, NOW + 60000);
  assert_string_equal(k->first_failure.request_id, "req_60");
  assert_string_equal(k->first_failure.error_message, "Internal server error");
  assert_int_equal(k->last_probe_ms, NOW + 240000);
  assert_string_equal(k->last.request_id, "req_240");

  assert_false(feed(c, 0, PROBE_MODELS, T_OK, 300, &t)); /* 1 good: still failing */
  assert_int_equal(classifier_key(c, 0)->cause, CAUSE_SERVER_ERROR);
  assert_true(feed(c, 0, PROBE_MODELS, T_OK, 360, &t)); /* 2 good: recovered */
  assert_int_equal(t.from, CAUSE_SERVER_ERROR);
  assert_int_equal(t.to, CAUSE_OK);
  assert_int_equal(t.at_ms, NOW + 300000); /* the first good probe of the run */
  assert_int_equal(k->recovered_ms, NOW + 300000);
  assert_int_equal(k->failing_since_ms, -1);
  assert_int_equal(k->first_failure.at_ms, -1);
  classifier_free(c);
}

/* A single failure forgotten after recover_after good results never moves the key; and a new
 * failure after it begins at its own first probe. */
static void test_blip_is_forgotten(void **state) {
  (void)state;
  struct classifier *c = new_classifier(1, 3, 5, 2);
  struct key_transition t;
  int transitions = 0;
  transitions += feed(c, 0, PROBE_MODELS, T_OK, 0, &t);
  transitions += feed(c, 0, PROBE_MODELS, T_529, 60, &t);
  for (int i = 2; i < 8; i++)
    transitions += feed(c, 0, PROBE_MODELS, T_OK, i * 60, &t);
  assert_int_equal(transitions, 1); /* unknown -> ok only */
  assert_int_equal(classifier_key(c, 0)->cause, CAUSE_OK);

  /* ok ok | 529 ok ok | 529 529 529: failing since the second run's first probe */
  assert_false(feed(c, 0, PROBE_MODELS, T_529, 600, &t));
  assert_false(feed(c, 0, PROBE_MODELS, T_OK, 660, &t));
  assert_false(feed(c, 0, PROBE_MODELS, T_OK, 720, &t));
  assert_false(feed(c, 0, PROBE_MODELS, T_529, 780, &t));
  assert_false(feed(c, 0, PROBE_MODELS, T_529, 840, &t));
  assert_true(feed(c, 0, PROBE_MODELS, T_529, 900, &t));
  assert_int_equal(t.to, CAUSE_OVERLOADED);
  assert_int_equal(t.at_ms, NOW + 780000);
  assert_string_equal(t.evidence.request_id, "req_780");
  classifier_free(c);
}

/* Alternating results: the key fails once (3 of 5) and stays failing while no two good results
 * follow each other; it does not flap. */
static void test_flapping_is_damped(void **state) {
  (void)state;
  struct classifier *c = new_classifier(1, 3, 5, 2);
  struct key_transition t;
  int transitions = 0, at = 0;
  transitions += feed(c, 0, PROBE_MODELS, T_OK, at, &t);
  for (int i = 0; i < 10; i++) {
    at += 60;
    transitions += feed(c, 0, PROBE_MODELS, T_TIMEOUT, at, &t);
    at += 60;
    transitions += feed(c, 0, PROBE_MODELS, T_OK, at, &t);
  }
  assert_int_equal(transitions, 2); /* unknown -> ok, ok -> timeout */
  const struct key_state *k = classifier_key(c, 0);
  assert_int_equal(k->cause, CAUSE_TIMEOUT);
  assert_int_equal(k->failing_since_ms, NOW + 60000);
  at += 60;
  assert_true(feed(c, 0, PROBE_MODELS, T_OK, at, &t));
  assert_int_equal(t.to, CAUSE_OK);
  assert_int_equal(t.at_ms, NOW + (at - 60) * 1000LL);
  classifier_free(c);
}

/* Two flaky causes mixed: the key takes the one with most results and a tie keeps it. */
static void test_mixed_flaky_causes(void **state) {
  (void)state;
  struct classifier *c = new_classifier(1, 3, 5, 2);
  struct key_transition t;
  feed(c, 0, PROBE_MODELS, T_OK, 0, &t);
  feed(c, 0, PROBE_MODELS, T_500, 60, &t);
  feed(c, 0, PROBE_MODELS, T_529, 120, &t);
  assert_true(feed(c, 0, PROBE_MODELS, T_529, 180, &t));
  assert_int_equal(t.to, CAUSE_OVERLOADED);
  assert_int_equal(t.at_ms, NOW + 60000); /* failing since the 500 */
  assert_int_equal(t.evidence.http_status, 500);
  /* window: 500 529 529 500 → 2:2, the key keeps overloaded */
  assert_false(feed(c, 0, PROBE_MODELS, T_500, 240, &t));
  assert_int_equal(classifier_key(c, 0)->cause, CAUSE_OVERLOADED);
  /* window: 529 529 500 500 500 (the ok fell out): server errors lead */
  assert_true(feed(c, 0, PROBE_MODELS, T_500, 300, &t));
  assert_int_equal(t.from, CAUSE_OVERLOADED);
  assert_int_equal(t.to, CAUSE_SERVER_ERROR);
  assert_int_equal(t.at_ms, NOW + 300000);
  assert_int_equal(classifier_key(c, 0)->failing_since_ms, NOW + 60000); /* same failure */
  classifier_free(c);
}

/* Certain causes take effect at the first result and still need recover_after to clear. */
static void test_certain_causes_at_once(void **state) {
  (void)state;
  static const enum tpl certain[] = {T_401, T_403, T_400_CREDIT, T_400_DISABLED, T_429_SPEND};
  static const enum cause want[] = {CAUSE_AUTH_INVALID, CAUSE_PERMISSION, CAUSE_QUOTA,
                                    CAUSE_ACCOUNT_DISABLED, CAUSE_QUOTA};
  for (size_t i = 0; i < UTIL_ARRAY_LEN(certain); i++) {
    struct classifier *c = new_classifier(1, 3, 5, 2);
    struct key_transition t;
    feed(c, 0, PROBE_MODELS, T_OK, 0, &t);
    assert_true(feed(c, 0, PROBE_MODELS, certain[i], 60, &t));
    assert_int_equal(t.to, want[i]);
    assert_int_equal(t.at_ms, NOW + 60000);
    assert_int_equal(classifier_key(c, 0)->failing_since_ms, NOW + 60000);
    assert_false(feed(c, 0, PROBE_MODELS, T_OK, 120, &t));
    assert_true(feed(c, 0, PROBE_MODELS, T_OK, 180, &t));
    assert_int_equal(t.at_ms, NOW + 120000);
    classifier_free(c);
  }
  /* A rate limit is flaky: one 429 is not a rate-limited key. */
  struct classifier *c = new_classifier(1, 3, 5, 2);
  struct key_transition t;
  feed(c, 0, PROBE_MODELS, T_OK, 0, &t);
  assert_false(feed(c, 0, PROBE_MODELS, T_429, 60, &t));
  assert_int_equal(classifier_key(c, 0)->cause, CAUSE_OK);
  assert_int_equal(classifier_key(c, 0)->retry_after_s, 16);
  classifier_free(c);
}

/* A key probed by several kinds has the most severe of their causes. */
static void test_kinds_most_severe(void **state) {
  (void)state;
  struct classifier *c = new_classifier(1, 3, 5, 1);
  struct key_transition t;
  assert_true(feed(c, 0, PROBE_MODELS, T_OK, 0, &t));
  assert_true(feed(c, 0, PROBE_MESSAGES, T_400_CREDIT, 10, &t)); /* only messages sees credit */
  assert_int_equal(t.to, CAUSE_QUOTA);
  assert_false(feed(c, 0, PROBE_MODELS, T_OK, 60, &t));
  assert_true(feed(c, 0, PROBE_MODELS, T_401, 120, &t));
  assert_int_equal(t.from, CAUSE_QUOTA);
  assert_int_equal(t.to, CAUSE_AUTH_INVALID);
  assert_int_equal(t.at_ms, NOW + 120000);
  assert_int_equal(classifier_key(c, 0)->failing_since_ms, NOW + 10000); /* one failure */
  assert_true(feed(c, 0, PROBE_MODELS, T_OK, 180, &t)); /* models recovers, messages does not */
  assert_int_equal(t.to, CAUSE_QUOTA);
  assert_int_equal(t.at_ms, NOW + 10000); /* shown by messages' first failing probe */
  assert_string_equal(t.evidence.request_id, "req_10");
  assert_true(feed(c, 0, PROBE_MESSAGES, T_OK, 240, &t));
  assert_int_equal(t.to, CAUSE_OK);
  assert_int_equal(classifier_key(c, 0)->recovered_ms, NOW + 240000);
  classifier_free(c);
}

/* The organization id: a change is an event; a mismatch with expect_organization is a
 * permission failure with a clear message. */
static void test_organization(void **state) {
  (void)state;
  struct classify_params p;
  classify_params_default(&p);
  struct classifier *c = NULL;
  assert_int_equal(classifier_new(&p, 1, &c), 0);
  classifier_set_key(c, 0, "prod", "org-1");
  struct probe_result r;
  probe_result_init(&r, 0, PROBE_MODELS);
  r.started_ms = NOW;
  tpl_fill(&r, T_OK);
  util_copy(r.organization_id, sizeof(r.organization_id), "org-1");
  util_copy(r.workspace_id, sizeof(r.workspace_id), "wrkspc_1");
  r.ratelimit[RL_REQUESTS].limit = 50;
  r.ratelimit[RL_REQUESTS].remaining = 49;
  classify_probe(&r);
  struct key_transition t;
  assert_true(classifier_observe(c, &r, &t));
  assert_false(t.org_changed);
  const struct key_state *k = classifier_key(c, 0);
  assert_string_equal(k->organization_id, "org-1");
  assert_string_equal(k->workspace_id, "wrkspc_1");
  assert_int_equal(k->ratelimit[RL_REQUESTS].limit, 50);
  assert_int_equal(k->ratelimit[RL_REQUESTS].remaining, 49);
  assert_int_equal(k->ratelimit[RL_TOKENS].limit, -1);

  /* An error answer without the header keeps the last known organization. */
  r.started_ms = NOW + 60000;
  tpl_fill(&r, T_429);
  r.organization_id[0] = '\0';
  classify_probe(&r);
  assert_false(classifier_observe(c, &r, &t));
  assert_string_equal(k->organization_id, "org-1");

  r.started_ms = NOW + 120000;
  tpl_fill(&r, T_OK);
  r.error_type[0] = r.error_message[0] = '\0';
  util_copy(r.organization_id, sizeof(r.organization_id), "org-2");
  classify_probe(&r);
  assert_true(classifier_observe(c, &r, &t));
  assert_true(t.org_changed);
  assert_string_equal(t.old_org, "org-1");
  assert_string_equal(t.new_org, "org-2");
  assert_true(t.cause_changed); /* and the key now answers for the wrong organization */
  assert_int_equal(t.to, CAUSE_PERMISSION);
  assert_string_equal(t.evidence.error_message, "key reports organization org-2, expected org-1");
  assert_int_equal(k->cause, CAUSE_PERMISSION);
  assert_string_equal(k->first_failure.error_message,
                      "key reports organization org-2, expected org-1");
  classifier_free(c);

  /* Without an expectation the change is only an event. */
  c = new_classifier(1, 3, 5, 2);
  feed(c, 0, PROBE_MODELS, T_OK, 0, &t);
  probe_result_init(&r, 0, PROBE_MODELS);
  tpl_fill(&r, T_OK);
  util_copy(r.organization_id, sizeof(r.organization_id), "org-a");
  classify_probe(&r);
  classifier_observe(c, &r, &t);
  util_copy(r.organization_id, sizeof(r.organization_id), "org-b");
  assert_true(classifier_observe(c, &r, &t));
  assert_true(t.org_changed);
  assert_false(t.cause_changed);
  classifier_free(c);
}

static void test_key_unavailable(void **state) {
  (void)state;
  struct classifier *c = new_classifier(1, 3, 5, 2);
  struct key_transition t;
  assert_true(classifier_key_unavailable(c, 0, NOW, "key file /run/x is unreadable", &t));
  assert_int_equal(t.from, CAUSE_UNKNOWN);
  assert_int_equal(t.to, CAUSE_KEY_UNAVAILABLE);
  assert_int_equal(t.at_ms, NOW);
  assert_string_equal(t.evidence.error_message, "key file /run/x is unreadable");
  assert_int_equal(classifier_key(c, 0)->failing_since_ms, NOW);
  assert_false(classifier_key_unavailable(c, 0, NOW + 60000, "still", &t)); /* no change */
  assert_int_equal(classifier_key(c, 0)->failing_since_ms, NOW);
  /* The next probe proves the secret was read: the key has that probe's cause. */
  assert_true(feed(c, 0, PROBE_MODELS, T_OK, 120, &t));
  assert_int_equal(t.from, CAUSE_KEY_UNAVAILABLE);
  assert_int_equal(t.to, CAUSE_OK);
  assert_int_equal(t.at_ms, NOW + 120000);
  assert_int_equal(classifier_key(c, 0)->failing_since_ms, -1);
  assert_false(classifier_key(c, 0)->unavailable);
  classifier_free(c);
}

/* `check`: one round, no hysteresis: a single timeout is the key's cause. */
static void test_once(void **state) {
  (void)state;
  struct classify_params p;
  classify_params_default(&p);
  p.once = true;
  struct classifier *c = NULL;
  assert_int_equal(classifier_new(&p, 2, &c), 0);
  struct key_transition t;
  assert_true(feed(c, 0, PROBE_MODELS, T_TIMEOUT, 0, &t));
  assert_int_equal(t.to, CAUSE_TIMEOUT);
  assert_true(feed(c, 1, PROBE_MODELS, T_OK, 0, &t));
  assert_true(feed(c, 0, PROBE_MODELS, T_OK, 5, &t)); /* the retry succeeded */
  assert_int_equal(t.to, CAUSE_OK);
  struct judgement j;
  assert_int_equal(classifier_judge(c, NULL, NOW + 6000, &j), 0);
  assert_int_equal(j.verdict.scope, SCOPE_NONE);
  assert_int_equal(j.n_keys_known, 2);
  assert_int_equal(j.n_keys_ok, 2);
  judgement_free(&j);
  classifier_free(c);
}

/* Lead time: we declare a platform incident at the quorum; the page publishes 4 minutes later:
 * lead +240 s, kept after the incident ends. Next time the page is first: a negative lead. */
static void test_lead_time(void **state) {
  (void)state;
  struct classifier *c = new_classifier(4, 1, 1, 1);
  struct key_transition t;
  struct status_snapshot snap;
  struct judgement j;
  for (uint32_t i = 0; i < 4; i++)
    feed(c, i, PROBE_MODELS, i < 2 ? T_529 : T_OK, 0, &t);

  assert_int_equal(classifier_judge(c, make_page(&snap, PG_GREEN, NOW), NOW, &j), 0);
  status_snapshot_free(&snap);
  assert_int_equal(j.verdict.scope, SCOPE_PLATFORM);
  assert_int_equal(j.verdict.cause, CAUSE_OVERLOADED);
  assert_true(j.platform_incident);
  assert_int_equal(j.declared_ms, NOW);
  assert_int_equal(j.page_published_ms, -1);
  assert_false(j.has_lead);
  judgement_free(&j);

  /* Five minutes later the page shows an incident it created at NOW + 4m. */
  make_page(&snap, PG_INCIDENT, NOW + 5 * MIN);
  snap.incidents[0].created_ms = NOW + 4 * MIN;
  assert_int_equal(classifier_judge(c, &snap, NOW + 5 * MIN, &j), 0);
  status_snapshot_free(&snap);
  assert_int_equal(j.verdict.cause, CAUSE_INCIDENT);
  assert_int_equal(j.declared_ms, NOW); /* kept while the incident lasts */
  assert_int_equal(j.page_published_ms, NOW + 4 * MIN);
  assert_true(j.has_lead);
  assert_int_equal(j.lead_ms, 240000);
  judgement_free(&j);

  /* Recovered: no incident, the last lead stays. */
  for (uint32_t i = 0; i < 2; i++)
    feed(c, i, PROBE_MODELS, T_OK, 1800, &t);
  assert_int_equal(
      classifier_judge(c, make_page(&snap, PG_GREEN, NOW + 31 * MIN), NOW + 31 * MIN, &j), 0);
  status_snapshot_free(&snap);
  assert_int_equal(j.verdict.scope, SCOPE_NONE);
  assert_false(j.platform_incident);
  assert_true(j.has_lead);
  assert_int_equal(j.lead_ms, 240000);
  assert_int_equal(j.declared_ms, NOW);
  judgement_free(&j);

  /* An hour later the page is first: its incident was created 10 minutes before our keys
   * fail. */
  int64_t t2 = NOW + 60 * MIN;
  for (uint32_t i = 0; i < 4; i++)
    feed(c, i, PROBE_MODELS, T_500, 3600, &t);
  make_page(&snap, PG_INCIDENT, t2);
  snap.incidents[0].created_ms = t2 - 10 * MIN;
  assert_int_equal(classifier_judge(c, &snap, t2, &j), 0);
  status_snapshot_free(&snap);
  assert_true(j.platform_incident);
  assert_int_equal(j.declared_ms, t2);
  assert_int_equal(j.page_published_ms, t2 - 10 * MIN);
  assert_int_equal(j.lead_ms, -600000);
  assert_int_equal(j.verdict.since_ms, t2); /* the keys' first failing probe */
  judgement_free(&j);
  classifier_free(c);
}

/* A component change without an incident dates the publication by the page's updated_at. */
static void test_lead_from_component(void **state) {
  (void)state;
  struct classifier *c = new_classifier(2, 1, 1, 1);
  struct key_transition t;
  struct status_snapshot snap;
  struct judgement j;
  feed(c, 0, PROBE_MODELS, T_500, 0, &t);
  feed(c, 1, PROBE_MODELS, T_500, 0, &t);
  assert_int_equal(classifier_judge(c, make_page(&snap, PG_GREEN, NOW), NOW, &j), 0);
  status_snapshot_free(&snap);
  judgement_free(&j);
  make_page(&snap, PG_DEGRADED, NOW + 2 * MIN);
  snap.page_updated_ms = NOW + 90000;
  assert_int_equal(classifier_judge(c, &snap, NOW + 2 * MIN, &j), 0);
  status_snapshot_free(&snap);
  assert_int_equal(j.verdict.cause, CAUSE_INCIDENT);
  assert_int_equal(j.verdict.impact, INDICATOR_MAJOR); /* partial_outage */
  assert_int_equal(j.lead_ms, 90000);
  judgement_free(&j);
  classifier_free(c);
}

/* Ten thousand keys judged in one call: one finding per cause, names cut short, no pairwise
 * work (this test would crawl if the grouping compared every key with every other). */
static void test_many_keys(void **state) {
  (void)state;
  enum { N = 10000 };
  struct classifier *c = new_classifier(N, 1, 1, 1);
  struct key_transition t;
  for (uint32_t i = 0; i < N; i++) {
    struct probe_result r;
    probe_result_init(&r, i, PROBE_MODELS);
    r.started_ms = NOW;
    tpl_fill(&r, i % 100 == 0 ? T_401 : i % 2 ? T_OK : T_400_CREDIT);
    snprintf(r.organization_id, sizeof(r.organization_id), "org-%u", i / 2);
    classify_probe(&r);
    classifier_observe(c, &r, &t);
  }
  struct judgement j;
  assert_int_equal(classifier_judge(c, NULL, NOW, &j), 0);
  assert_int_equal(j.verdict.scope, SCOPE_LOCAL);
  assert_int_equal(j.verdict.cause, CAUSE_QUOTA);
  assert_int_equal(j.verdict.n_keys, N / 2 - N / 100);
  assert_non_null(strstr(j.verdict.summary, "Keys 'k2', 'k4', 'k6', 'k8', 'k10' and 4895 more"));
  assert_int_equal(j.n_findings, 1);
  assert_int_equal(j.findings[0].cause, CAUSE_AUTH_INVALID);
  assert_int_equal(j.findings[0].n_keys, N / 100);
  assert_int_equal(j.n_keys_ok, N / 2);
  judgement_free(&j);
  classifier_free(c);
}

/* A restart: the key's remembered failure goes on (same since-when, no new transition), and
 * a remembered flaky cause holds until fail_after results decide. */
static void test_seed_after_restart(void **state) {
  (void)state;
  struct classifier *c = new_classifier(2, 3, 5, 2);
  struct evidence ev;
  memset(&ev, 0, sizeof(ev));
  ev.at_ms = NOW - 3600 * 1000LL;
  ev.cause = CAUSE_AUTH_INVALID;
  ev.http_status = 401;
  assert_int_equal(classifier_seed(c, 0, CAUSE_AUTH_INVALID, ev.at_ms, &ev), 0);
  assert_int_equal(classifier_seed(c, 1, CAUSE_OVERLOADED, NOW - 60000, NULL), 0);
  struct key_transition tr;
  assert_false(feed(c, 0, PROBE_MODELS, T_401, 1, &tr));
  const struct key_state *k = classifier_key(c, 0);
  assert_int_equal(k->cause, CAUSE_AUTH_INVALID);
  assert_int_equal(k->failing_since_ms, NOW - 3600 * 1000LL);
  assert_int_equal(k->first_failure.http_status, 401);
  /* Flaky: the first 529 decides nothing, so the remembered cause stays. */
  assert_false(feed(c, 1, PROBE_MODELS, T_529, 1, &tr));
  assert_int_equal(classifier_key(c, 1)->cause, CAUSE_OVERLOADED);
  assert_int_equal(classifier_key(c, 1)->failing_since_ms, NOW - 60000);
  /* A seed is refused once the key has results. */
  assert_int_equal(classifier_seed(c, 0, CAUSE_OK, NOW, NULL), UTIL_EINVAL);
  classifier_free(c);
}

/* A reload: keys keep their state by name; new names start unknown. */
static void test_rekey_keeps_state_by_name(void **state) {
  (void)state;
  struct classifier *c = new_classifier(2, 3, 5, 2);
  struct key_transition tr;
  assert_true(feed(c, 0, PROBE_MODELS, T_401, 1, &tr));
  assert_true(feed(c, 1, PROBE_MODELS, T_OK, 1, &tr));
  int64_t since = classifier_key(c, 0)->failing_since_ms;
  struct classify_params p;
  classify_params_default(&p);
  const char *names[] = {"new", "k0"};
  assert_int_equal(classifier_rekey(c, &p, 2, names, NULL), 0);
  assert_int_equal(classifier_n_keys(c), 2);
  assert_string_equal(classifier_key(c, 0)->name, "new");
  assert_false(classifier_key(c, 0)->known);
  assert_string_equal(classifier_key(c, 1)->name, "k0");
  assert_int_equal(classifier_key(c, 1)->cause, CAUSE_AUTH_INVALID);
  assert_int_equal(classifier_key(c, 1)->failing_since_ms, since);
  assert_false(feed(c, 1, PROBE_MODELS, T_401, 2, &tr)); /* the same failure goes on */
  p.window = 0;
  assert_int_equal(classifier_rekey(c, &p, 1, names, NULL), UTIL_EINVAL);
  assert_int_equal(classifier_n_keys(c), 2); /* unchanged */
  classifier_free(c);
}

/* DNS interception is a network finding beside the verdict, never the verdict itself. */
static void test_dns_interception_finding(void **state) {
  (void)state;
  struct classifier *c = new_classifier(2, 3, 5, 2);
  struct key_transition tr;
  feed(c, 0, PROBE_MODELS, T_OK, 1, &tr);
  feed(c, 1, PROBE_MODELS, T_OK, 1, &tr);
  struct judgement j;
  assert_int_equal(classifier_judge(c, NULL, NOW + 2000, &j), 0);
  size_t before = j.n_findings;
  const uint32_t keys[] = {1};
  judgement_add_dns_interception(&j, c, keys, 1, "203.0.113.7");
  assert_int_equal(j.n_findings, before + 1);
  const struct finding *f = &j.findings[before];
  assert_int_equal(f->scope, SCOPE_NETWORK);
  assert_int_equal(f->cause, CAUSE_DNS_INTERCEPTION);
  assert_int_equal(f->n_keys, 1);
  assert_int_equal(f->keys[0], 1);
  assert_non_null(strstr(f->summary, "'k1'"));
  assert_non_null(strstr(f->summary, "203.0.113.7"));
  assert_int_equal(j.verdict.scope, SCOPE_NONE);
  judgement_add_dns_interception(&j, c, keys, 0, "x"); /* no keys: nothing added */
  assert_int_equal(j.n_findings, before + 1);
  judgement_free(&j);
  classifier_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_probe_table),
      cmocka_unit_test(test_seed_after_restart),
      cmocka_unit_test(test_dns_interception_finding),
      cmocka_unit_test(test_rekey_keeps_state_by_name),
      cmocka_unit_test(test_fixture_error_bodies),
      cmocka_unit_test(test_fixture_headers),
      cmocka_unit_test(test_should_retry),
      cmocka_unit_test(test_judge_table),
      cmocka_unit_test(test_params),
      cmocka_unit_test(test_flaky_fail_after_and_recovery),
      cmocka_unit_test(test_blip_is_forgotten),
      cmocka_unit_test(test_flapping_is_damped),
      cmocka_unit_test(test_mixed_flaky_causes),
      cmocka_unit_test(test_certain_causes_at_once),
      cmocka_unit_test(test_kinds_most_severe),
      cmocka_unit_test(test_organization),
      cmocka_unit_test(test_key_unavailable),
      cmocka_unit_test(test_once),
      cmocka_unit_test(test_lead_time),
      cmocka_unit_test(test_lead_from_component),
      cmocka_unit_test(test_many_keys),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
