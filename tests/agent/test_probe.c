/* Tests of agent/probe.c: the pure parser fed with every entry of the fixtures
 * (anthropic_api_error_bodies.json, anthropic_api_response_headers.json) and with
 * hand-made hostile answers (mistyped fields, oversized text, bad numbers and dates); the
 * map from curl codes to transport errors; the Anthropic address ranges; the token budget;
 * and whole probes through fetch against the in-process stub (what is sent, what is kept,
 * that the key never reaches a log line). */
#include "agent/fetch.h"
#include "agent/log.h"
#include "agent/probe.h"
#include "agent/util.h"

#include "http_stub.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>
#include <curl/curl.h>

static const char test_key[] =
    "sk-ant-api03-TESTKEYzq8xT2vLk9PmN4rB7wYc1HdF6gJs3KaE5uVoXiQ0lRtM-bnCy_UjWe2PzAhGf8DkLq4"
    "Sx9NvTm1Ri7Bo3YcKd6Hw-AA";

static char *read_fixture(const char *name) {
  const char *dir = getenv("CLAUDEMON_FIXTURES");
  char *path = xasprintf("%s/%s", dir ? dir : "tests/fixtures", name);
  FILE *fp = fopen(path, "rb");
  if (!fp) fail_msg("cannot open fixture %s", path);
  free(path);
  fseek(fp, 0, SEEK_END);
  long n = ftell(fp);
  fseek(fp, 0, SEEK_SET);
  char *buf = xmalloc((size_t)n + 1);
  assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
  buf[n] = '\0';
  fclose(fp);
  return buf;
}

static const char *jstr(const cJSON *o, const char *name) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void sanitized(char *dst, size_t n, const char *src) {
  util_sanitize(dst, n, src, src ? strlen(src) : 0);
}

/* ---- fixtures: error bodies ------------------------------------------------------------ */

static void test_fixture_error_bodies(void **state) {
  (void)state;
  char *text = read_fixture("anthropic_api_error_bodies.json");
  cJSON *root = cJSON_Parse(text);
  assert_non_null(root);
  const cJSON *entries = cJSON_GetObjectItemCaseSensitive(root, "entries");
  assert_true(cJSON_IsArray(entries));
  int n = 0, api = 0, html = 0;
  const cJSON *e;
  cJSON_ArrayForEach(e, entries) {
    int status = cJSON_GetObjectItemCaseSensitive(e, "http_status")->valueint;
    const char *raw = jstr(e, "body_raw");
    assert_non_null(raw);
    for (int kind = 0; kind < PROBE__COUNT; kind++) {
      struct probe_result r;
      probe_result_init(&r, 7, (enum probe_kind)kind);
      assert_int_equal(
          probe_parse_response((enum probe_kind)kind, status, NULL, 0, raw, strlen(raw), &r), 0);
      assert_int_equal(r.http_status, status);
      assert_int_equal(r.key_index, 7);
      const cJSON *parsed = cJSON_GetObjectItemCaseSensitive(e, "body_parsed");
      const cJSON *err = cJSON_GetObjectItemCaseSensitive(parsed, "error");
      const char *type = jstr(parsed, "type");
      if (cJSON_IsObject(parsed) && type && strcmp(type, "error") == 0 && cJSON_IsObject(err)) {
        char want[MODEL_ERROR_MESSAGE_MAX];
        assert_int_equal(r.body_kind, BODY_API_ERROR);
        assert_string_equal(r.error_type, jstr(err, "type"));
        sanitized(want, sizeof(want), jstr(err, "message"));
        assert_string_equal(r.error_message, want);
        const char *rid = jstr(parsed, "request_id");
        assert_string_equal(r.request_id, rid ? rid : "");
        assert_string_equal(r.error_code, "");
        if (kind == 0) api++;
      } else if (raw[0] == '<') {
        assert_int_equal(r.body_kind, BODY_HTML);
        assert_string_equal(r.error_type, "");
        if (kind == 0) html++;
      } else {
        /* The event-stream error: not JSON, not HTML. */
        assert_int_equal(r.body_kind, BODY_OTHER);
      }
      assert_int_equal(r.retry_after_s, -1);
      assert_int_equal(r.ratelimit[RL_REQUESTS].limit, -1);
    }
    n++;
  }
  print_message("%d error bodies: %d API envelopes, %d HTML pages\n", n, api, html);
  assert_true(n >= 12);
  assert_true(api >= 10);
  assert_true(html >= 1);
  cJSON_Delete(root);
  free(text);
}

/* ---- fixtures: header sets ------------------------------------------------------------- */

static const char *const rl_prefix[RL__COUNT] = {"requests", "tokens", "input-tokens",
                                                 "output-tokens"};

static void test_fixture_headers(void **state) {
  (void)state;
  char *text = read_fixture("anthropic_api_response_headers.json");
  cJSON *root = cJSON_Parse(text);
  assert_non_null(root);
  const cJSON *e;
  int n = 0;
  cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(root, "entries")) {
    int status = cJSON_GetObjectItemCaseSensitive(e, "http_status")->valueint;
    const cJSON *hs = cJSON_GetObjectItemCaseSensitive(e, "headers");
    struct probe_header h[64];
    size_t nh = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, hs) {
      assert_true(nh < 64);
      h[nh].name = it->string;
      h[nh].value = it->valuestring;
      nh++;
    }
    struct probe_result r;
    probe_result_init(&r, 0, PROBE_MESSAGES);
    assert_int_equal(probe_parse_response(PROBE_MESSAGES, status, h, nh, NULL, 0, &r), 0);
    assert_int_equal(r.http_status, status);
    assert_int_equal(r.body_kind, BODY_NONE);
    const char *rid = jstr(hs, "request-id");
    assert_string_equal(r.request_id, rid ? rid : "");
    const char *org = jstr(hs, "anthropic-organization-id");
    assert_string_equal(r.organization_id, org ? org : "");
    const char *ws = jstr(hs, "anthropic-workspace-id");
    assert_string_equal(r.workspace_id, ws ? ws : "");
    const char *ra = jstr(hs, "retry-after");
    assert_int_equal(r.retry_after_s, ra ? atoll(ra) : -1);
    for (int k = 0; k < RL__COUNT; k++) {
      char name[96];
      snprintf(name, sizeof(name), "anthropic-ratelimit-%s-limit", rl_prefix[k]);
      const char *v = jstr(hs, name);
      assert_int_equal(r.ratelimit[k].limit, v ? atoll(v) : -1);
      snprintf(name, sizeof(name), "anthropic-ratelimit-%s-remaining", rl_prefix[k]);
      v = jstr(hs, name);
      assert_int_equal(r.ratelimit[k].remaining, v ? atoll(v) : -1);
      snprintf(name, sizeof(name), "anthropic-ratelimit-%s-reset", rl_prefix[k]);
      v = jstr(hs, name);
      int64_t want = -1;
      if (v) assert_int_equal(util_parse_time(v, &want), 0);
      assert_int_equal(r.ratelimit[k].reset_ms, want);
    }
    n++;
  }
  assert_true(n >= 7);
  /* Spot checks against the values themselves, not only the parser's own reading. */
  struct probe_header one[] = {{"anthropic-ratelimit-input-tokens-reset", "2025-06-02T15:15:48Z"},
                               {"anthropic-ratelimit-input-tokens-remaining", "0"},
                               {"retry-after", "16"}};
  struct probe_result r;
  probe_result_init(&r, 0, PROBE_MESSAGES);
  assert_int_equal(probe_parse_response(PROBE_MESSAGES, 429, one, 3, NULL, 0, &r), 0);
  assert_int_equal(r.ratelimit[RL_INPUT_TOKENS].reset_ms, 1748877348000LL);
  assert_int_equal(r.ratelimit[RL_INPUT_TOKENS].remaining, 0);
  assert_int_equal(r.retry_after_s, 16);
  cJSON_Delete(root);
  free(text);
}

/* ---- bodies of each probe kind --------------------------------------------------------- */

static struct probe_result parse(enum probe_kind kind, int status, const char *body) {
  struct probe_result r;
  probe_result_init(&r, 0, kind);
  probe_parse_response(kind, status, NULL, 0, body, body ? strlen(body) : 0, &r);
  return r;
}

static void test_expected_bodies(void **state) {
  (void)state;
  struct probe_result r;
  r = parse(PROBE_MODELS, 200,
            "{\"data\":[{\"type\":\"model\",\"id\":\"claude-haiku-4-5\"}],\"has_more\":true}");
  assert_int_equal(r.body_kind, BODY_EXPECTED);
  r = parse(PROBE_MODELS, 200, "\r\n {\"data\":[]}\r\n");
  assert_int_equal(r.body_kind, BODY_EXPECTED);
  r = parse(PROBE_MODELS, 200, "{\"data\":[]}<html>");
  assert_int_equal(r.body_kind, BODY_OTHER);
  r = parse(PROBE_MODELS, 200, "{\"data\":{}}");
  assert_int_equal(r.body_kind, BODY_OTHER_JSON);
  r = parse(PROBE_MODELS, 200, "{\"models\":[]}");
  assert_int_equal(r.body_kind, BODY_OTHER_JSON);
  r = parse(PROBE_MODELS, 500, "{\"data\":[]}"); /* the right shape with a wrong status */
  assert_int_equal(r.body_kind, BODY_OTHER_JSON);
  r = parse(PROBE_COUNT_TOKENS, 200, "{\"input_tokens\":9}");
  assert_int_equal(r.body_kind, BODY_EXPECTED);
  assert_int_equal(r.input_tokens, 9);
  r = parse(PROBE_COUNT_TOKENS, 200, "{\"input_tokens\":\"9\"}");
  assert_int_equal(r.body_kind, BODY_OTHER_JSON);
  assert_int_equal(r.input_tokens, -1);
  r = parse(
      PROBE_MESSAGES, 200,
      "{\"id\":\"msg_01\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[{\"type\":"
      "\"text\",\"text\":\"P\"}],\"stop_reason\":\"max_tokens\",\"usage\":{\"input_tokens\":8,"
      "\"output_tokens\":1}}");
  assert_int_equal(r.body_kind, BODY_EXPECTED);
  assert_int_equal(r.input_tokens, 8);
  assert_int_equal(r.output_tokens, 1);
  r = parse(PROBE_MESSAGES, 200, "{\"type\":\"message\",\"usage\":{\"input_tokens\":-3}}");
  assert_int_equal(r.body_kind, BODY_EXPECTED);
  assert_int_equal(r.input_tokens, -1);
  assert_int_equal(r.output_tokens, -1);
  /* A 200 that is not the API's answer: captive portal, truncated JSON, nothing. */
  r = parse(PROBE_MESSAGES, 200, "\xef\xbb\xbf  <!DOCTYPE html><html>Login</html>");
  assert_int_equal(r.body_kind, BODY_HTML);
  r = parse(PROBE_MESSAGES, 200, "{\"type\":\"message\",\"usage\":{\"inp");
  assert_int_equal(r.body_kind, BODY_OTHER);
  r = parse(PROBE_MODELS, 200, "");
  assert_int_equal(r.body_kind, BODY_NONE);
  r = parse(PROBE_MODELS, 200, "[1,2]");
  assert_int_equal(r.body_kind, BODY_OTHER_JSON);
  r = parse(PROBE_MODELS, 200, "null");
  assert_int_equal(r.body_kind, BODY_OTHER_JSON);
  /* content-type says HTML though the body does not start with '<'. */
  struct probe_header ct[] = {{"content-type", "text/html; charset=utf-8"}};
  probe_result_init(&r, 0, PROBE_MODELS);
  probe_parse_response(PROBE_MODELS, 403, ct, 1, "Access denied", 13, &r);
  assert_int_equal(r.body_kind, BODY_HTML);
}

static void test_hostile_bodies(void **state) {
  (void)state;
  struct probe_result r;
  /* Every field of the envelope with the wrong type: absent, never a crash. */
  r = parse(PROBE_MESSAGES, 400,
            "{\"type\":\"error\",\"error\":{\"type\":5,\"message\":null,\"details\":\"x\"},"
            "\"request_id\":7}");
  assert_int_equal(r.body_kind, BODY_API_ERROR);
  assert_string_equal(r.error_type, "");
  assert_string_equal(r.error_message, "");
  assert_string_equal(r.error_code, "");
  assert_string_equal(r.request_id, "");
  r = parse(PROBE_MESSAGES, 400, "{\"type\":\"error\",\"error\":\"oops\"}");
  assert_int_equal(r.body_kind, BODY_OTHER_JSON);
  r = parse(PROBE_MESSAGES, 400,
            "{\"type\":\"error\",\"error\":{\"details\":{\"error_code\":[]}}}");
  assert_int_equal(r.body_kind, BODY_API_ERROR);
  assert_string_equal(r.error_code, "");
  /* The edge's imitation: kept as evidence, but not the API's envelope. */
  r = parse(PROBE_MESSAGES, 403,
            "{\"error\":{\"type\":\"forbidden\",\"message\":\"Request not allowed\"}}");
  assert_int_equal(r.body_kind, BODY_OTHER_JSON);
  assert_string_equal(r.error_type, "forbidden");
  assert_string_equal(r.error_message, "Request not allowed");
  /* details.error_code of a tier spend cap. */
  r = parse(PROBE_MESSAGES, 429,
            "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"spend "
            "limit\",\"details\":{\"error_code\":\"enforced_spend_limit_reached\"}},"
            "\"request_id\":\"req_1\"}");
  assert_string_equal(r.error_code, "enforced_spend_limit_reached");
  assert_string_equal(r.request_id, "req_1");
  /* Control characters, escapes and a message far over the buffer. */
  size_t big = 5000;
  char *body = xmalloc(big + 200);
  int k = snprintf(body, big + 200,
                   "{\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":"
                   "\"a\\u0000b\\n\\tc\\u001b[31m ");
  memset(body + k, 'x', big);
  strcpy(body + k + big, "\"}}");
  r = parse(PROBE_MESSAGES, 500, body);
  assert_int_equal(r.body_kind, BODY_API_ERROR);
  assert_true(strlen(r.error_message) < MODEL_ERROR_MESSAGE_MAX);
  for (const char *p = r.error_message; *p; p++)
    assert_true((unsigned char)*p >= 0x20);
  free(body);
  /* A header request-id wins over the body's. */
  struct probe_header h[] = {{"request-id", "req_header"}};
  probe_result_init(&r, 0, PROBE_MODELS);
  const char *b = "{\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"m\"},"
                  "\"request_id\":\"req_body\"}";
  probe_parse_response(PROBE_MODELS, 500, h, 1, b, strlen(b), &r);
  assert_string_equal(r.request_id, "req_header");
  /* A body with an embedded NUL is not JSON. */
  probe_result_init(&r, 0, PROBE_MODELS);
  probe_parse_response(PROBE_MODELS, 200, NULL, 0, "{\"data\":[]}\0junk", 16, &r);
  assert_int_not_equal(r.body_kind, BODY_EXPECTED);
  assert_int_equal(probe_parse_response(PROBE_MODELS, 200, NULL, 0, NULL, 0, NULL), UTIL_EINVAL);
}

static void test_header_values(void **state) {
  (void)state;
  struct probe_result r;
  /* retry-after as an HTTP date, counted from the answer's own date. */
  struct probe_header d[] = {{"date", "Tue, 26 Mar 2024 19:59:59 GMT"},
                             {"retry-after", "Tue, 26 Mar 2024 20:00:29 GMT"}};
  probe_result_init(&r, 0, PROBE_MODELS);
  assert_int_equal(probe_parse_response(PROBE_MODELS, 429, d, 2, NULL, 0, &r), 0);
  assert_int_equal(r.retry_after_s, 30);
  struct probe_header past[] = {{"date", "Tue, 26 Mar 2024 19:59:59 GMT"},
                                {"retry-after", "Tue, 26 Mar 2024 19:00:00 GMT"}};
  probe_result_init(&r, 0, PROBE_MODELS);
  assert_int_equal(probe_parse_response(PROBE_MODELS, 429, past, 2, NULL, 0, &r), 0);
  assert_int_equal(r.retry_after_s, 0);
  struct probe_header frac[] = {{"retry-after", "1.2"}};
  probe_result_init(&r, 0, PROBE_MODELS);
  assert_int_equal(probe_parse_response(PROBE_MODELS, 529, frac, 1, NULL, 0, &r), 0);
  assert_int_equal(r.retry_after_s, 2);
  /* Malformed values: reported, left absent, the rest still read. */
  struct probe_header bad[] = {{"retry-after", "soon"},
                               {"anthropic-ratelimit-requests-limit", "50x"},
                               {"anthropic-ratelimit-requests-remaining", "-1"},
                               {"anthropic-ratelimit-requests-reset", "tomorrow"},
                               {"anthropic-ratelimit-tokens-limit", "99999999999999999999999"},
                               {"anthropic-ratelimit-priority-input-tokens-limit", "5"},
                               {"request-id", "req_\x01\x02ok"}};
  probe_result_init(&r, 0, PROBE_MODELS);
  assert_int_equal(probe_parse_response(PROBE_MODELS, 429, bad, UTIL_ARRAY_LEN(bad), NULL, 0, &r),
                   UTIL_EPARSE);
  assert_int_equal(r.retry_after_s, -1);
  assert_int_equal(r.ratelimit[RL_REQUESTS].limit, -1);
  assert_int_equal(r.ratelimit[RL_REQUESTS].remaining, -1);
  assert_int_equal(r.ratelimit[RL_REQUESTS].reset_ms, -1);
  assert_int_equal(r.ratelimit[RL_TOKENS].limit, -1);
  assert_string_equal(r.request_id, "req_ ok");
  /* An oversized id is cut to its buffer. */
  char longid[400];
  memset(longid, 'r', sizeof(longid) - 1);
  longid[sizeof(longid) - 1] = '\0';
  struct probe_header l[] = {{"request-id", longid}, {"anthropic-organization-id", longid}};
  probe_result_init(&r, 0, PROBE_MODELS);
  probe_parse_response(PROBE_MODELS, 200, l, 2, NULL, 0, &r);
  assert_int_equal(strlen(r.request_id), MODEL_REQUEST_ID_MAX - 1);
  assert_int_equal(strlen(r.organization_id), MODEL_ORG_ID_MAX - 1);
}

/* ---- transport map ----------------------------------------------------------------------- */

static void test_transport_map(void **state) {
  (void)state;
  struct {
    int code;
    bool truncated, via_proxy;
    int proxy_status;
    enum transport_error want;
  } cases[] = {
      {CURLE_OK, false, false, 0, TRANSPORT_OK},
      {CURLE_COULDNT_RESOLVE_HOST, false, false, 0, TRANSPORT_DNS},
      {CURLE_COULDNT_CONNECT, false, false, 0, TRANSPORT_CONNECT},
      {CURLE_COULDNT_CONNECT, false, true, 0, TRANSPORT_PROXY},
      {CURLE_COULDNT_RESOLVE_PROXY, false, true, 0, TRANSPORT_PROXY},
      {CURLE_PROXY, false, true, 0, TRANSPORT_PROXY},
      {CURLE_RECV_ERROR, false, true, 407, TRANSPORT_PROXY},
      {CURLE_SSL_CONNECT_ERROR, false, false, 0, TRANSPORT_TLS},
      {CURLE_PEER_FAILED_VERIFICATION, false, false, 0, TRANSPORT_TLS},
      {CURLE_SSL_CACERT_BADFILE, false, false, 0, TRANSPORT_TLS},
      {CURLE_OPERATION_TIMEDOUT, false, false, 0, TRANSPORT_TIMEOUT},
      {CURLE_SEND_ERROR, false, false, 0, TRANSPORT_SEND},
      {CURLE_RECV_ERROR, false, false, 0, TRANSPORT_RECV},
      {CURLE_PARTIAL_FILE, false, false, 0, TRANSPORT_RECV},
      {CURLE_GOT_NOTHING, false, false, 0, TRANSPORT_RECV},
      {CURLE_HTTP2_STREAM, false, false, 0, TRANSPORT_RECV},
      {CURLE_WRITE_ERROR, true, false, 0, TRANSPORT_OK},
      {CURLE_WRITE_ERROR, false, false, 0, TRANSPORT_OTHER},
      {CURLE_ABORTED_BY_CALLBACK, false, false, 0, TRANSPORT_OTHER},
      {CURLE_OUT_OF_MEMORY, false, false, 0, TRANSPORT_OTHER},
  };
  for (size_t i = 0; i < UTIL_ARRAY_LEN(cases); i++) {
    enum transport_error t = probe_transport_from_curl(cases[i].code, cases[i].truncated,
                                                       cases[i].via_proxy, cases[i].proxy_status);
    if (t != cases[i].want)
      fail_msg("curl code %d (truncated %d, proxy %d/%d): got %s, want %s", cases[i].code,
               cases[i].truncated, cases[i].via_proxy, cases[i].proxy_status,
               transport_error_name(t), transport_error_name(cases[i].want));
  }
}

/* ---- addresses ----------------------------------------------------------------------------- */

static void test_anthropic_ranges(void **state) {
  (void)state;
  assert_true(probe_peer_is_anthropic("160.79.104.10"));
  assert_true(probe_peer_is_anthropic("160.79.104.0"));
  assert_true(probe_peer_is_anthropic("160.79.105.255"));
  assert_false(probe_peer_is_anthropic("160.79.106.0"));
  assert_false(probe_peer_is_anthropic("160.79.103.255"));
  assert_true(probe_peer_is_anthropic("153.61.224.1"));
  assert_true(probe_peer_is_anthropic("153.61.227.255"));
  assert_false(probe_peer_is_anthropic("153.61.228.0"));
  assert_true(probe_peer_is_anthropic("2607:6bc0::10"));
  assert_true(probe_peer_is_anthropic("2607:6BC0:0:ffff::1"));
  assert_false(probe_peer_is_anthropic("2607:6bc0:1::1"));
  assert_true(probe_peer_is_anthropic("::ffff:160.79.104.7"));
  assert_false(probe_peer_is_anthropic("104.18.32.47"));
  assert_false(probe_peer_is_anthropic("127.0.0.1"));
  assert_false(probe_peer_is_anthropic(""));
  assert_false(probe_peer_is_anthropic(NULL));
  assert_false(probe_peer_is_anthropic("not an address"));
  assert_false(probe_peer_is_anthropic("160.79.104.10/8"));

  struct probe_result r;
  probe_result_init(&r, 0, PROBE_MODELS);
  util_copy(r.peer, sizeof(r.peer), "10.9.8.7");
  assert_true(probe_peer_intercepted("https://api.anthropic.com", &r));
  assert_true(probe_peer_intercepted("https://API.anthropic.com./", &r));
  assert_false(probe_peer_intercepted("http://127.0.0.1:8080", &r));
  assert_false(probe_peer_intercepted("https://api.anthropic.com.evil.example", &r));
  r.via_proxy = true;
  assert_false(probe_peer_intercepted("https://api.anthropic.com", &r));
  r.via_proxy = false;
  util_copy(r.peer, sizeof(r.peer), "160.79.104.10");
  assert_false(probe_peer_intercepted("https://api.anthropic.com", &r));
  r.peer[0] = '\0';
  assert_false(probe_peer_intercepted("https://api.anthropic.com", &r));
}

/* ---- token budget ---------------------------------------------------------------------------- */

static int count_lines(const char *buf, const char *needle) {
  int n = 0;
  for (const char *p = buf; (p = strstr(p, needle)); p++)
    n++;
  return n;
}

static void test_budget(void **state) {
  (void)state;
  char *logbuf = NULL;
  size_t loglen = 0;
  FILE *mem = open_memstream(&logbuf, &loglen);
  log_set_stream(mem);
  log_set_level(LOG_INFO);
  struct probe_budget *b = probe_budget_new(2);
  assert_int_equal(probe_budget_set(b, 0, "prod", 100), 0);
  assert_int_equal(probe_budget_set(b, 1, "free", 0), 0);
  assert_int_equal(probe_budget_set(b, 2, "x", 1), UTIL_EINVAL);
  int64_t nov = 1795845600000LL; /* 2026-11-28 */
  int64_t dec = 1796169600000LL; /* 2026-12-02 */
  assert_true(probe_budget_allows(b, 0, nov));
  probe_budget_add(b, 0, nov, 60);
  assert_true(probe_budget_allows(b, 0, nov));
  probe_budget_add(b, 0, nov, 45);
  assert_int_equal(probe_budget_spent(b, 0, nov), 105);
  for (int i = 0; i < 5; i++)
    assert_false(probe_budget_allows(b, 0, nov + i));
  probe_budget_add(b, 1, nov, 1000000);
  assert_true(probe_budget_allows(b, 1, nov)); /* no cap */
  assert_true(probe_budget_allows(b, 0, dec)); /* a new month */
  assert_int_equal(probe_budget_spent(b, 0, dec), 0);
  assert_true(probe_budget_allows(b, 5, nov)); /* unknown keys are not capped */
  probe_budget_free(b);
  probe_budget_free(NULL);
  log_set_stream(NULL);
  log_set_level(LOG_ERROR);
  fclose(mem);
  assert_int_equal(count_lines(logbuf, "token budget reached"), 1);
  assert_non_null(strstr(logbuf, "key=prod"));
  assert_int_equal(count_lines(logbuf, "resume"), 1);
  free(logbuf);
}

/* ---- whole probes against the stub ------------------------------------------------------- */

struct penv {
  uv_loop_t loop;
  struct stub srv;
  struct fetch *f;
  struct probe_result r[4];
  int n;
  bool done, closed;
  int want;
};

static struct stub_reply api_route(struct stub *s, const struct stub_request *req) {
  (void)s;
  const char *hdrs = "Content-Type: application/json\r\n"
                     "request-id: req_011CSLsW7mFqvHHnzrKdKjAE\r\n"
                     "anthropic-organization-id: 36562039-1ae4-48e6-ae28-1e517e3d2d12\r\n"
                     "Anthropic-Ratelimit-Requests-Limit: 1000\r\n"
                     "anthropic-ratelimit-requests-remaining: 999\r\n"
                     "anthropic-ratelimit-requests-reset: 2025-08-21T12:40:59Z\r\n";
  bool has_key = strstr(req->head, "x-api-key: sk-ant-api03-TESTKEY") != NULL;
  if (!has_key)
    return stub_text(STUB_REPLY, 401, "Content-Type: application/json\r\n",
                     "{\"type\":\"error\",\"error\":{\"type\":\"authentication_error\","
                     "\"message\":\"x-api-key header is required\"},\"request_id\":\"req_x\"}");
  if (strcmp(req->target, "/base/v1/models?limit=1") == 0)
    return stub_text(STUB_REPLY, 200, hdrs, "{\"data\":[{\"id\":\"claude-x\"}],\"has_more\":true}");
  if (strcmp(req->target, "/base/v1/messages/count_tokens") == 0)
    return stub_text(STUB_REPLY, 200, hdrs, "{\"input_tokens\":8}");
  if (strcmp(req->target, "/base/v1/messages") == 0)
    return stub_text(STUB_REPLY, 200, hdrs,
                     "{\"type\":\"message\",\"usage\":{\"input_tokens\":8,\"output_tokens\":1}}");
  if (strcmp(req->target, "/busy/v1/models?limit=1") == 0)
    return stub_text(STUB_REPLY, 529, "Content-Type: application/json\r\nretry-after: 30\r\n",
                     "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":"
                     "\"Overloaded\"}}");
  return stub_text(STUB_REPLY, 404, NULL, "no");
}

static void on_probe(struct probe_result *r, void *arg) {
  struct penv *e = arg;
  e->r[e->n++] = *r;
  if (e->n >= e->want) e->done = true;
}

static void on_pclosed(void *arg) {
  ((struct penv *)arg)->closed = true;
}

static void penv_init(struct penv *e) {
  memset(e, 0, sizeof(*e));
  assert_int_equal(uv_loop_init(&e->loop), 0);
  assert_int_equal(stub_start(&e->srv, &e->loop, api_route, e), 0);
  struct fetch_opts o;
  fetch_opts_init(&o);
  assert_int_equal(fetch_new(&e->loop, &o, &e->f), 0);
}

static void penv_finish(struct penv *e) {
  fetch_close(e->f, on_pclosed, e);
  stub_close(&e->srv);
  uv_run(&e->loop, UV_RUN_DEFAULT);
  assert_true(e->closed);
  assert_int_equal(uv_loop_close(&e->loop), 0);
}

static void test_probe_models(void **state) {
  (void)state;
  char *logbuf = NULL;
  size_t loglen = 0;
  FILE *mem = open_memstream(&logbuf, &loglen);
  log_set_stream(mem);
  log_set_level(LOG_DEBUG);
  struct penv e;
  penv_init(&e);
  char *base = xasprintf("http://127.0.0.1:%d/base/", e.srv.port);
  struct probe_target t = {.base_url = base, .version = "2023-06-01", .timeout_ms = 5000};
  e.want = 1;
  char *key = xstrdup(test_key);
  assert_int_equal(probe_start(e.f, &t, 3, PROBE_MODELS, key, on_probe, &e), 0);
  /* The caller may wipe its key at once: nothing of probe_start keeps the pointer. */
  explicit_bzero(key, strlen(key));
  free(key);
  int64_t before = util_now_ms();
  assert_true(stub_run_until(&e.loop, &e.done, 5000));
  struct probe_result *r = &e.r[0];
  assert_int_equal(r->key_index, 3);
  assert_int_equal(r->kind, PROBE_MODELS);
  assert_int_equal(r->transport, TRANSPORT_OK);
  assert_int_equal(r->http_status, 200);
  assert_int_equal(r->body_kind, BODY_EXPECTED);
  assert_string_equal(r->request_id, "req_011CSLsW7mFqvHHnzrKdKjAE");
  assert_string_equal(r->organization_id, "36562039-1ae4-48e6-ae28-1e517e3d2d12");
  assert_int_equal(r->ratelimit[RL_REQUESTS].limit, 1000);
  assert_int_equal(r->ratelimit[RL_REQUESTS].remaining, 999);
  assert_string_equal(r->peer, "127.0.0.1");
  assert_false(r->via_proxy);
  assert_false(r->truncated);
  assert_int_equal(r->curl_code, 0);
  assert_string_equal(r->curl_error, "");
  assert_true(r->total_s > 0.0 && r->total_s >= r->ttfb_s && r->ttfb_s >= r->connect_s);
  assert_true(r->started_ms > 0 && r->started_ms <= before);
  assert_int_equal(r->cause, CAUSE_UNKNOWN); /* left to the classifier */
  const char *head = e.srv.last_head;
  assert_non_null(strstr(head, "GET /base/v1/models?limit=1 HTTP/1.1\r\n"));
  assert_non_null(strstr(head, "anthropic-version: 2023-06-01\r\n"));
  assert_non_null(strstr(head, "content-type: application/json\r\n"));
  assert_non_null(strstr(head, "User-Agent: claudemon/" CLAUDEMON_VERSION "\r\n"));
  char *line = xasprintf("x-api-key: %s\r\n", test_key);
  assert_non_null(strstr(head, line));
  free(line);
  penv_finish(&e);
  log_set_stream(NULL);
  log_set_level(LOG_ERROR);
  fclose(mem);
  assert_null(strstr(logbuf, "TESTKEY"));
  free(logbuf);
  free(base);
}

static void test_probe_post_kinds_and_budget(void **state) {
  (void)state;
  struct penv e;
  penv_init(&e);
  char *base = xasprintf("http://127.0.0.1:%d/base", e.srv.port);
  struct probe_budget *b = probe_budget_new(1);
  probe_budget_set(b, 0, "prod", 18);
  struct probe_target t = {
      .base_url = base, .model = "claude-haiku-4-5", .timeout_ms = 5000, .budget = b};
  e.want = 1;
  assert_int_equal(probe_start(e.f, &t, 0, PROBE_COUNT_TOKENS, test_key, on_probe, &e), 0);
  assert_true(stub_run_until(&e.loop, &e.done, 5000));
  assert_non_null(strstr(e.srv.last_head, "POST /base/v1/messages/count_tokens HTTP/1.1\r\n"));
  assert_non_null(strstr(e.srv.last_head, "anthropic-version: 2023-06-01\r\n"));
  assert_string_equal(e.srv.last_body,
                      "{\"model\":\"claude-haiku-4-5\",\"messages\":[{\"role\":\"user\","
                      "\"content\":\"ping\"}]}");
  assert_int_equal(e.r[0].body_kind, BODY_EXPECTED);
  assert_int_equal(e.r[0].input_tokens, 8);
  assert_int_equal(probe_budget_spent(b, 0, util_now_ms()), 0); /* count_tokens is free */

  e.done = false;
  e.want = 2;
  assert_int_equal(probe_start(e.f, &t, 0, PROBE_MESSAGES, test_key, on_probe, &e), 0);
  assert_true(stub_run_until(&e.loop, &e.done, 5000));
  assert_non_null(strstr(e.srv.last_head, "POST /base/v1/messages HTTP/1.1\r\n"));
  assert_string_equal(e.srv.last_body,
                      "{\"model\":\"claude-haiku-4-5\",\"max_tokens\":1,\"messages\":[{\"role\":"
                      "\"user\",\"content\":\"ping\"}]}");
  assert_int_equal(e.r[1].body_kind, BODY_EXPECTED);
  assert_int_equal(e.r[1].input_tokens, 8);
  assert_int_equal(e.r[1].output_tokens, 1);
  assert_int_equal(probe_budget_spent(b, 0, util_now_ms()), 9);
  assert_true(probe_budget_allows(b, 0, util_now_ms()));
  e.done = false;
  e.want = 3;
  assert_int_equal(probe_start(e.f, &t, 0, PROBE_MESSAGES, test_key, on_probe, &e), 0);
  assert_true(stub_run_until(&e.loop, &e.done, 5000));
  assert_int_equal(probe_budget_spent(b, 0, util_now_ms()), 18);
  log_set_level((enum log_level)(LOG_ERROR + 1)); /* the refusal line is tested in test_budget */
  assert_false(probe_budget_allows(b, 0, util_now_ms()));
  log_set_level(LOG_ERROR);
  /* A model is required for the POST kinds; the kind must be known. */
  t.model = NULL;
  assert_int_equal(probe_start(e.f, &t, 0, PROBE_MESSAGES, test_key, on_probe, &e), UTIL_EINVAL);
  assert_int_equal(probe_start(e.f, &t, 0, PROBE__COUNT, test_key, on_probe, &e), UTIL_EINVAL);
  assert_int_equal(probe_start(e.f, &t, 0, PROBE_MODELS, NULL, on_probe, &e), UTIL_EINVAL);
  probe_budget_free(b);
  penv_finish(&e);
  free(base);
}

static void test_probe_overloaded_and_auth(void **state) {
  (void)state;
  struct penv e;
  penv_init(&e);
  char *busy = xasprintf("http://127.0.0.1:%d/busy", e.srv.port);
  char *base = xasprintf("http://127.0.0.1:%d/base", e.srv.port);
  struct probe_target t = {.base_url = busy, .timeout_ms = 5000};
  e.want = 2;
  assert_int_equal(probe_start(e.f, &t, 0, PROBE_MODELS, test_key, on_probe, &e), 0);
  t.base_url = base;
  assert_int_equal(probe_start(e.f, &t, 1, PROBE_MODELS, "sk-ant-wrong", on_probe, &e), 0);
  assert_true(stub_run_until(&e.loop, &e.done, 5000));
  struct probe_result *busy_r = e.r[0].key_index == 0 ? &e.r[0] : &e.r[1];
  struct probe_result *auth_r = e.r[0].key_index == 0 ? &e.r[1] : &e.r[0];
  assert_int_equal(busy_r->http_status, 529);
  assert_int_equal(busy_r->body_kind, BODY_API_ERROR);
  assert_string_equal(busy_r->error_type, "overloaded_error");
  assert_int_equal(busy_r->retry_after_s, 30);
  assert_int_equal(auth_r->http_status, 401);
  assert_string_equal(auth_r->error_type, "authentication_error");
  assert_string_equal(auth_r->request_id, "req_x");
  penv_finish(&e);
  free(busy);
  free(base);
}

/* A proxy that refuses connections: the failure is the proxy's, not the API's. */
static void test_probe_proxy_down(void **state) {
  (void)state;
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  char *proxy = xasprintf("http://127.0.0.1:%d", stub_free_port());
  struct fetch_opts o;
  fetch_opts_init(&o);
  o.proxy = proxy;
  struct fetch *f;
  assert_int_equal(fetch_new(&loop, &o, &f), 0);
  free(proxy);
  struct penv e;
  memset(&e, 0, sizeof(e));
  e.want = 1;
  unsetenv("no_proxy");
  unsetenv("NO_PROXY");
  struct probe_target t = {.base_url = "https://api.anthropic.com", .timeout_ms = 5000};
  assert_int_equal(probe_start(f, &t, 0, PROBE_MODELS, test_key, on_probe, &e), 0);
  assert_true(stub_run_until(&loop, &e.done, 5000));
  assert_int_equal(e.r[0].transport, TRANSPORT_PROXY);
  assert_true(e.r[0].via_proxy);
  assert_int_equal(e.r[0].http_status, 0);
  assert_int_equal(e.r[0].body_kind, BODY_NONE);
  assert_int_equal(e.r[0].curl_code, CURLE_COULDNT_CONNECT);
  assert_true(e.r[0].curl_error[0] != '\0');
  assert_false(probe_peer_intercepted(t.base_url, &e.r[0]));
  fetch_close(f, on_pclosed, &e);
  uv_run(&loop, UV_RUN_DEFAULT);
  assert_true(e.closed);
  assert_int_equal(uv_loop_close(&loop), 0);
}

/* A peer that answers a TLS handshake with plain text: the failure is TLS, with curl's own
 * words kept. */
static void test_probe_tls_failure(void **state) {
  (void)state;
  struct penv e;
  penv_init(&e);
  e.srv.greeting = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
  char *base = xasprintf("https://127.0.0.1:%d", e.srv.port);
  struct probe_target t = {.base_url = base, .timeout_ms = 5000};
  e.want = 1;
  assert_int_equal(probe_start(e.f, &t, 0, PROBE_MODELS, test_key, on_probe, &e), 0);
  assert_true(stub_run_until(&e.loop, &e.done, 5000));
  print_message("TLS against plain text: curl %d (%s)\n", e.r[0].curl_code, e.r[0].curl_error);
  assert_int_equal(e.r[0].transport, TRANSPORT_TLS);
  assert_int_equal(e.r[0].http_status, 0);
  assert_true(e.r[0].curl_error[0] != '\0');
  assert_string_equal(e.r[0].peer, "127.0.0.1");
  penv_finish(&e);
  free(base);
}

int main(void) {
  log_set_level(LOG_ERROR);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fixture_error_bodies),
      cmocka_unit_test(test_fixture_headers),
      cmocka_unit_test(test_expected_bodies),
      cmocka_unit_test(test_hostile_bodies),
      cmocka_unit_test(test_header_values),
      cmocka_unit_test(test_transport_map),
      cmocka_unit_test(test_anthropic_ranges),
      cmocka_unit_test(test_budget),
      cmocka_unit_test(test_probe_models),
      cmocka_unit_test(test_probe_post_kinds_and_budget),
      cmocka_unit_test(test_probe_overloaded_and_auth),
      cmocka_unit_test(test_probe_proxy_down),
      cmocka_unit_test(test_probe_tls_failure),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
