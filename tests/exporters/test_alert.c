/* Tests of exporters/alert.c: the alert table (names, scopes, severities, labels for every
 * cause), the Alertmanager and webhook payloads parsed back field by field, resend and
 * resolve timing, the heartbeat, platform-incident suppression, maintenance, flapping,
 * persistence across a restart, delivery backoff, the HMAC signature and the promise that no
 * key-shaped string reaches a payload. Time is simulated: every call gets its now_ms. */
#include "exporters/alert.h"

#include "agent/config.h"
#include "agent/log.h"
#include "agent/model.h"
#include "agent/util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cJSON.h>
#include <cmocka.h>

#define T0 1795845600000LL /* 2026-11-28T06:00:00Z */
#define SEC 1000LL
#define MIN (60 * SEC)
#define R (60 * SEC) /* resend interval of most tests */

static const char fake_key[] =
    "sk-ant-api03-Zq8xT2vLk9PmN4rB7wYc1HdF6gJs3KaE5uVoXiQ0lRtM-bnCy_UjWe2PzAhGf8DkLq4Sx9NvTm1Ri7Bo3"
    "YcKd6Hw-AA";

static struct alerts *mk(size_t n_receivers) {
  struct alerts_opts o = {.resend_interval_ms = R, .n_receivers = n_receivers};
  return alerts_new(&o);
}

static struct alert_input in_key(enum cause c, const char *key, int64_t onset) {
  struct alert_input in = {.scope = cause_scope(c), .cause = c, .key = key, .onset_ms = onset};
  return in;
}

/* due parses what alerts_due() returns for receiver r (NULL when nothing is due); with
 * ack it reports success at once. */
static cJSON *due(struct alerts *a, size_t r, int64_t now, bool ack) {
  char *json = NULL;
  if (!alerts_due(a, r, now, &json)) {
    assert_null(json);
    return NULL;
  }
  assert_non_null(json);
  cJSON *arr = cJSON_Parse(json);
  free(json);
  assert_true(cJSON_IsArray(arr));
  if (ack) alerts_sent(a, r, true, now);
  return arr;
}

static const char *str_field(const cJSON *o, const char *name) {
  const cJSON *f = cJSON_GetObjectItemCaseSensitive(o, name);
  if (!f) return NULL;
  assert_true(cJSON_IsString(f));
  return f->valuestring;
}

static const char *label(const cJSON *al, const char *name) {
  const cJSON *labels = cJSON_GetObjectItemCaseSensitive(al, "labels");
  assert_true(cJSON_IsObject(labels));
  return str_field(labels, name);
}

static const char *annotation(const cJSON *al, const char *name) {
  const cJSON *ann = cJSON_GetObjectItemCaseSensitive(al, "annotations");
  assert_true(cJSON_IsObject(ann));
  return str_field(ann, name);
}

/* find returns the alert named alertname (about key, or keyless when key is NULL). */
static const cJSON *find(const cJSON *arr, const char *alertname, const char *key) {
  const cJSON *al;
  cJSON_ArrayForEach(al, arr) {
    const char *k = label(al, "key");
    if (strcmp(label(al, "alertname"), alertname) == 0 &&
        ((!key && !k) || (key && k && strcmp(k, key) == 0)))
      return al;
  }
  return NULL;
}

static char *fmt(int64_t ms) {
  static char bufs[4][32];
  static unsigned n;
  char *b = bufs[n++ % 4];
  return util_format_time(b, 32, ms, true);
}

static bool is_resolved(const cJSON *al, int64_t now) {
  int64_t ends;
  assert_int_equal(util_parse_time(str_field(al, "endsAt"), &ends), 0);
  return ends <= now;
}

/* ---- names, scopes, severities, labels ------------------------------------------------ */

struct row {
  enum cause cause;
  enum scope scope; /* the input's scope */
  bool keyed;
  const char *alertname; /* NULL: no alert */
  const char *scope_label;
  const char *severity;
};

static const struct row table[] = {
    {CAUSE_OK, SCOPE_NONE, true, NULL, NULL, NULL},
    {CAUSE_AUTH_INVALID, SCOPE_LOCAL, true, "ClaudeKeyAuthFailing", "local", "critical"},
    {CAUSE_PERMISSION, SCOPE_LOCAL, true, "ClaudeKeyPermissionDenied", "local", "critical"},
    {CAUSE_QUOTA, SCOPE_LOCAL, true, "ClaudeQuotaExhausted", "local", "critical"},
    {CAUSE_ACCOUNT_DISABLED, SCOPE_LOCAL, true, "ClaudeAccountDisabled", "local", "critical"},
    {CAUSE_RATE_LIMITED, SCOPE_LOCAL, true, "ClaudeRateLimited", "local", "warning"},
    {CAUSE_REQUEST_INVALID, SCOPE_LOCAL, true, "ClaudeRequestInvalid", "local", "warning"},
    {CAUSE_KEY_UNAVAILABLE, SCOPE_LOCAL, true, "ClaudeKeyUnavailable", "local", "critical"},
    {CAUSE_UNKNOWN, SCOPE_LOCAL, true, "ClaudeKeyUnknownError", "local", "warning"},
    {CAUSE_OVERLOADED, SCOPE_PLATFORM, false, "ClaudePlatformIncident", "platform", "warning"},
    {CAUSE_SERVER_ERROR, SCOPE_PLATFORM, false, "ClaudePlatformIncident", "platform", "warning"},
    {CAUSE_OVERLOADED, SCOPE_PLATFORM, true, "ClaudePlatformIncident", "platform", "warning"},
    {CAUSE_INCIDENT, SCOPE_PLATFORM, false, "ClaudePlatformIncident", "platform", "warning"},
    {CAUSE_MAINTENANCE, SCOPE_PLATFORM, false, "ClaudePlatformIncident", "platform", "info"},
    {CAUSE_TIMEOUT, SCOPE_PLATFORM, false, "ClaudePlatformIncident", "platform", "warning"},
    {CAUSE_EDGE_ERROR, SCOPE_PLATFORM, false, "ClaudePlatformIncident", "platform", "warning"},
    {CAUSE_NETWORK, SCOPE_NETWORK, false, "ClaudeNetworkUnreachable", "network", "critical"},
    {CAUSE_TIMEOUT, SCOPE_NETWORK, false, "ClaudeNetworkUnreachable", "network", "critical"},
    {CAUSE_EDGE_ERROR, SCOPE_NETWORK, false, "ClaudeNetworkUnreachable", "network", "critical"},
    {CAUSE_STATUS_MISMATCH, SCOPE_PLATFORM, false, "ClaudeStatusMismatch", "platform", "warning"},
    {CAUSE_STATUS_PAGE_UNREACHABLE, SCOPE_NETWORK, false, "ClaudeStatusPageUnreachable", "network",
     "info"},
    {CAUSE_DNS_INTERCEPTION, SCOPE_NETWORK, false, "ClaudeDNSInterception", "network", "warning"},
};

static void check_labels(const cJSON *al, const char *alertname, const char *scope,
                         const char *cause, const char *severity, const char *key) {
  const cJSON *labels = cJSON_GetObjectItemCaseSensitive(al, "labels");
  assert_int_equal(cJSON_GetArraySize(labels), key ? 5 : 4);
  assert_string_equal(label(al, "alertname"), alertname);
  assert_string_equal(label(al, "scope"), scope);
  assert_string_equal(label(al, "cause"), cause);
  assert_string_equal(label(al, "severity"), severity);
  if (key) assert_string_equal(label(al, "key"), key);
}

static void test_table_every_cause(void **state) {
  (void)state;
  bool covered[CAUSE__COUNT] = {false};
  for (size_t i = 0; i < UTIL_ARRAY_LEN(table); i++) {
    const struct row *t = &table[i];
    covered[t->cause] = true;
    const char *key = t->keyed ? "prod" : NULL;
    const char *name = alert_name_for(t->scope, t->cause, key);
    if (!t->alertname) {
      assert_null(name);
      continue;
    }
    assert_non_null(name);
    assert_string_equal(name, t->alertname);
    struct alerts *a = mk(1);
    struct alert_input in = {.scope = t->scope, .cause = t->cause, .key = key, .onset_ms = T0};
    alerts_update(a, &in, 1, T0);
    cJSON *arr = due(a, 0, T0, true);
    assert_int_equal(cJSON_GetArraySize(arr), 2); /* it and the heartbeat */
    const cJSON *al = find(arr, t->alertname, key);
    assert_non_null(al);
    check_labels(al, t->alertname, t->scope_label, cause_name(t->cause), t->severity, key);
    cJSON_Delete(arr);
    alerts_free(a);
  }
  for (int c = 0; c < CAUSE__COUNT; c++) {
    if (!covered[c]) fail_msg("cause %s missing from the table", cause_name((enum cause)c));
  }
  /* The scope and severity functions agree with DESIGN.md's table. */
  assert_int_equal(alert_scope_of("ClaudeRateLimitHeadroomLow"), SCOPE_LOCAL);
  assert_string_equal(alert_severity_of("ClaudeRateLimitHeadroomLow", false), "warning");
  assert_string_equal(alert_severity_of("ClaudeMonitorHeartbeat", false), "none");
  assert_string_equal(alert_severity_of("ClaudePlatformIncident", true), "info");
  assert_string_equal(alert_severity_of("ClaudeKeyAuthFailing", true), "critical");
  assert_null(alert_severity_of("NoSuchAlert", false));
}

static void test_heartbeat_always(void **state) {
  (void)state;
  struct alerts *a = mk(1);
  assert_false(alerts_due(a, 0, T0, &(char *){NULL})); /* nothing before the first update */
  alerts_update(a, NULL, 0, T0);
  cJSON *arr = due(a, 0, T0, true);
  assert_int_equal(cJSON_GetArraySize(arr), 1);
  const cJSON *hb = find(arr, "ClaudeMonitorHeartbeat", NULL);
  assert_non_null(hb);
  check_labels(hb, "ClaudeMonitorHeartbeat", "none", "ok", "none", NULL);
  assert_string_equal(str_field(hb, "startsAt"), fmt(T0));
  assert_non_null(annotation(hb, "advice"));
  cJSON_Delete(arr);
  /* Still firing, same startsAt, whatever comes and goes. */
  struct alert_input in = in_key(CAUSE_AUTH_INVALID, "prod", T0);
  for (int i = 1; i <= 30; i++) {
    int64_t now = T0 + i * R;
    alerts_update(a, (i % 2) ? &in : NULL, (i % 2) ? 1 : 0, now);
    arr = due(a, 0, now, true);
    assert_non_null(arr);
    hb = find(arr, "ClaudeMonitorHeartbeat", NULL);
    assert_non_null(hb);
    assert_string_equal(str_field(hb, "startsAt"), fmt(T0));
    assert_false(is_resolved(hb, now));
    cJSON_Delete(arr);
  }
  /* Never exported: it belongs to the running process. */
  struct alert_record *rec;
  size_t n = alerts_export(a, &rec);
  for (size_t i = 0; i < n; i++)
    assert_null(strstr(rec[i].labels, "ClaudeMonitorHeartbeat"));
  alert_records_free(rec, n);
  alerts_free(a);
}

/* ---- payload ----------------------------------------------------------------------------- */

static void test_payload_fields(void **state) {
  (void)state;
  struct alerts_opts o = {.resend_interval_ms = R,
                          .external_url = "http://mon-1:9464/",
                          .runbook_url = "https://wiki.example/claudemon",
                          .vantage = "eu-office",
                          .n_receivers = 1};
  struct alerts *a = alerts_new(&o);
  struct alert_input in = {.scope = SCOPE_LOCAL,
                           .cause = CAUSE_AUTH_INVALID,
                           .key = "prod",
                           .summary = "Key 'prod' is rejected (401 invalid x-api-key)",
                           .description = "HTTP 401 authentication_error: invalid x-api-key\n"
                                          "request_id req_011CAbc\nfailing since 05:55",
                           .onset_ms = T0 - 5 * MIN};
  alerts_update(a, &in, 1, T0);
  cJSON *arr = due(a, 0, T0, true);
  const cJSON *al = find(arr, "ClaudeKeyAuthFailing", "prod");
  assert_non_null(al);
  /* Exactly these fields. */
  assert_int_equal(cJSON_GetArraySize(al), 5);
  check_labels(al, "ClaudeKeyAuthFailing", "local", "auth_invalid", "critical", "prod");
  assert_string_equal(str_field(al, "startsAt"), "2026-11-28T05:55:00Z");
  assert_string_equal(str_field(al, "endsAt"), fmt(T0 + 4 * R));
  assert_string_equal(str_field(al, "generatorURL"), "http://mon-1:9464/api/v1/status");
  const cJSON *ann = cJSON_GetObjectItemCaseSensitive(al, "annotations");
  assert_int_equal(cJSON_GetArraySize(ann), 5);
  assert_string_equal(annotation(al, "summary"), in.summary);
  assert_string_equal(annotation(al, "description"), in.description);
  assert_string_equal(annotation(al, "advice"), cause_advice(CAUSE_AUTH_INVALID));
  assert_string_equal(annotation(al, "runbook_url"), "https://wiki.example/claudemon#auth_invalid");
  assert_string_equal(annotation(al, "vantage"), "eu-office");
  assert_null(label(al, "vantage"));
  cJSON_Delete(arr);
  alerts_free(a);

  /* Nothing configured: no runbook, no vantage, no generatorURL; a default summary; control
   * characters in text are cleaned, line breaks of the description kept. */
  a = mk(1);
  struct alert_input bare = {.scope = SCOPE_LOCAL,
                             .cause = CAUSE_QUOTA,
                             .key = "batch\tjobs",
                             .description = "line one\x01\nline\ttwo\n",
                             .onset_ms = T0};
  alerts_update(a, &bare, 1, T0);
  arr = due(a, 0, T0, true);
  al = find(arr, "ClaudeQuotaExhausted", "batch jobs");
  assert_non_null(al);
  assert_int_equal(cJSON_GetArraySize(al), 4);
  assert_null(str_field(al, "generatorURL"));
  assert_null(annotation(al, "runbook_url"));
  assert_null(annotation(al, "vantage"));
  assert_string_equal(annotation(al, "summary"),
                      "Key 'batch jobs': credit balance or spend limit exhausted");
  assert_string_equal(annotation(al, "description"), "line one\nline two");
  cJSON_Delete(arr);
  alerts_free(a);
}

static void test_webhook_body(void **state) {
  (void)state;
  struct alerts_opts o = {.resend_interval_ms = R,
                          .external_url = "http://mon-1:9464",
                          .hold_down_ms = 2 * MIN,
                          .n_receivers = 1};
  struct alerts *a = alerts_new(&o);
  struct alert_input in = in_key(CAUSE_PERMISSION, "prod", T0);
  alerts_update(a, &in, 1, T0);
  char *json = NULL;
  assert_true(alerts_webhook_body(a, 0, T0, &json));
  alerts_sent(a, 0, true, T0);
  cJSON *root = cJSON_Parse(json);
  free(json);
  assert_true(cJSON_IsObject(root));
  assert_string_equal(str_field(root, "version"), "1");
  assert_string_equal(str_field(root, "sender"), "claudemon");
  assert_string_equal(str_field(root, "status"), "firing");
  assert_string_equal(str_field(root, "sentAt"), fmt(T0));
  assert_string_equal(str_field(root, "externalURL"), "http://mon-1:9464");
  const cJSON *alerts = cJSON_GetObjectItemCaseSensitive(root, "alerts");
  assert_int_equal(cJSON_GetArraySize(alerts), 2);
  const cJSON *al = find(alerts, "ClaudeKeyPermissionDenied", "prod");
  assert_non_null(al);
  assert_string_equal(str_field(al, "status"), "firing");
  const char *names[] = {"alertname", "cause", "key", "scope", "severity"};
  const char *values[] = {"ClaudeKeyPermissionDenied", "permission", "prod", "local", "critical"};
  char want[17];
  snprintf(want, sizeof(want), "%016llx", (unsigned long long)alert_fingerprint(names, values, 5));
  assert_string_equal(str_field(al, "fingerprint"), want);
  assert_string_equal(str_field(al, "generatorURL"), "http://mon-1:9464/api/v1/status");
  cJSON_Delete(root);

  /* Cleared after the hold-down: the next body says resolved. */
  alerts_update(a, &in, 1, T0 + 3 * MIN);
  cJSON_Delete(due(a, 0, T0 + 3 * MIN, true));
  alerts_update(a, NULL, 0, T0 + 3 * MIN + 1);
  assert_true(alerts_webhook_body(a, 0, T0 + 3 * MIN + 1, &json));
  alerts_sent(a, 0, true, T0 + 3 * MIN + 1);
  root = cJSON_Parse(json);
  free(json);
  alerts = cJSON_GetObjectItemCaseSensitive(root, "alerts");
  assert_int_equal(cJSON_GetArraySize(alerts), 1); /* the heartbeat is not due yet */
  assert_string_equal(str_field(cJSON_GetArrayItem(alerts, 0), "status"), "resolved");
  assert_string_equal(str_field(root, "status"), "resolved");
  cJSON_Delete(root);
  alerts_free(a);
}

static void test_fingerprint_matches_prometheus(void **state) {
  (void)state;
  /* Vectors of prometheus/common model/signature_test.go. */
  assert_true(alert_fingerprint(NULL, NULL, 0) == 14695981039346656037ULL);
  const char *n1[] = {"name", "fear"}, *v1[] = {"garland, briggs", "love is not enough"};
  assert_true(alert_fingerprint(n1, v1, 2) == 5799056148416392346ULL);
  const char *n2[] = {"fear", "name"}, *v2[] = {"love is not enough", "garland, briggs"};
  assert_true(alert_fingerprint(n2, v2, 2) == 5799056148416392346ULL);
}

/* ---- timing -------------------------------------------------------------------------- */

static void test_resend_timing(void **state) {
  (void)state;
  struct alerts *a = mk(1);
  struct alert_input in[2] = {in_key(CAUSE_AUTH_INVALID, "a", T0),
                              in_key(CAUSE_QUOTA, "b", T0 + 10 * SEC)};
  alerts_update(a, in, 1, T0);
  cJSON *arr = due(a, 0, T0, true);
  assert_int_equal(cJSON_GetArraySize(arr), 2);
  cJSON_Delete(arr);
  assert_null(due(a, 0, T0 + 1, true));
  assert_int_equal(alerts_next_due_ms(a, 0), T0 + R);
  assert_null(due(a, 0, T0 + R - 1, true));

  /* A new alert goes out at once, on its own. */
  alerts_update(a, in, 2, T0 + 10 * SEC);
  arr = due(a, 0, T0 + 10 * SEC, true);
  assert_int_equal(cJSON_GetArraySize(arr), 1);
  assert_non_null(find(arr, "ClaudeQuotaExhausted", "b"));
  cJSON_Delete(arr);

  /* At the resend, the young one rides along: from now on they travel together. */
  arr = due(a, 0, T0 + R, true);
  assert_int_equal(cJSON_GetArraySize(arr), 3);
  const cJSON *al = find(arr, "ClaudeKeyAuthFailing", "a");
  assert_string_equal(str_field(al, "startsAt"), fmt(T0));
  assert_string_equal(str_field(al, "endsAt"), fmt(T0 + R + 4 * R));
  cJSON_Delete(arr);
  for (int i = 2; i < 6; i++) {
    alerts_update(a, in, 2, T0 + i * R - 1);
    assert_null(due(a, 0, T0 + i * R - 1, true));
    arr = due(a, 0, T0 + i * R, true);
    assert_int_equal(cJSON_GetArraySize(arr), 3);
    cJSON_Delete(arr);
  }
  alerts_free(a);
}

static void test_resolve_at_once_and_resend(void **state) {
  (void)state;
  struct alerts_opts o = {.resend_interval_ms = R, .hold_down_ms = 5 * MIN, .n_receivers = 1};
  struct alerts *a = alerts_new(&o);
  struct alert_input in = in_key(CAUSE_ACCOUNT_DISABLED, "prod", T0 - MIN);
  int64_t now = T0;
  for (; now <= T0 + 6 * MIN; now += R) { /* held steadily longer than the hold-down */
    alerts_update(a, &in, 1, now);
    cJSON_Delete(due(a, 0, now, true));
  }
  int64_t cleared = now + 5 * SEC;
  alerts_update(a, NULL, 0, cleared);
  cJSON *arr = due(a, 0, cleared, true);
  assert_non_null(arr);
  const cJSON *al = find(arr, "ClaudeAccountDisabled", "prod");
  assert_non_null(al);
  assert_string_equal(str_field(al, "endsAt"), fmt(cleared));
  assert_string_equal(str_field(al, "startsAt"), fmt(T0 - MIN));
  assert_true(is_resolved(al, cleared));
  cJSON_Delete(arr);

  /* Re-sent while resolved, every resend interval, for 15 minutes; then gone. */
  int resends = 0;
  for (int64_t t = cleared + SEC; t <= cleared + 20 * MIN; t += SEC) {
    if (t % (10 * SEC) == 0) alerts_update(a, NULL, 0, t);
    arr = due(a, 0, t, true);
    if (!arr) continue;
    al = find(arr, "ClaudeAccountDisabled", "prod");
    if (al) {
      resends++;
      assert_string_equal(str_field(al, "endsAt"), fmt(cleared));
      assert_true(t < cleared + 15 * MIN);
    }
    cJSON_Delete(arr);
  }
  assert_int_equal(resends, 14);
  struct alert_record *rec;
  assert_int_equal(alerts_export(a, &rec), 0);
  assert_null(rec);
  alerts_free(a);
}

/* A receiver the way Alertmanager sees it: the status and startsAt of each label set. A
 * notification is a label set that shows up firing, or whose status or startsAt changes. */
struct sim {
  char *labels[64];
  bool firing[64];
  char starts[64][32];
  size_t n;
};

static int sim_deliver(struct sim *s, const cJSON *arr, int64_t now) {
  int notes = 0;
  const cJSON *al;
  cJSON_ArrayForEach(al, arr) {
    if (strcmp(label(al, "alertname"), "ClaudeMonitorHeartbeat") == 0) continue;
    char *l = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(al, "labels"));
    bool firing = !is_resolved(al, now);
    const char *starts = str_field(al, "startsAt");
    size_t i = 0;
    while (i < s->n && strcmp(s->labels[i], l) != 0)
      i++;
    if (i == s->n) {
      assert_true(s->n < 64);
      s->labels[s->n++] = l;
      s->firing[i] = firing;
      util_copy(s->starts[i], sizeof(s->starts[i]), starts);
      notes += firing;
      continue;
    }
    free(l);
    if (s->firing[i] != firing || strcmp(s->starts[i], starts) != 0) notes++;
    s->firing[i] = firing;
    util_copy(s->starts[i], sizeof(s->starts[i]), starts);
  }
  return notes;
}

static void sim_free(struct sim *s) {
  for (size_t i = 0; i < s->n; i++)
    free(s->labels[i]);
}

/* run drives a from `from` to `to`: an update every probe (60 s), the key failing on the
 * even probes of the first `flips` and ok after that, a delivery every 5 s. Returns the
 * notifications the receiver saw. */
static int run(struct alerts *a, struct sim *s, int64_t from, int64_t to, int flips) {
  int notes = 0;
  for (int64_t t = from; t < to; t += 5 * SEC) {
    if ((t - from) % MIN == 0) {
      int probe = (int)((t - from) / MIN);
      bool failing = probe < flips && probe % 2 == 0;
      /* Each failing stretch reports its own onset, as the classifier would. */
      struct alert_input in = in_key(CAUSE_AUTH_INVALID, "flappy", t);
      alerts_update(a, &in, failing ? 1 : 0, t);
    }
    cJSON *arr = due(a, 0, t, true);
    if (arr) notes += sim_deliver(s, arr, t);
    cJSON_Delete(arr);
  }
  return notes;
}

static void test_flapping_key_one_notification(void **state) {
  (void)state;
  struct alerts_opts o = {.resend_interval_ms = R, .n_receivers = 1}; /* default hold-down */
  struct alerts *a = alerts_new(&o);
  struct sim s = {0};
  /* 20 flips: failing, ok, failing, ... one probe each. */
  int notes = run(a, &s, T0, T0 + 20 * MIN, 20);
  assert_int_equal(notes, 1);
  assert_int_equal(s.n, 1);
  assert_true(s.firing[0]);
  assert_string_equal(s.starts[0], fmt(T0));
  /* It settles (ok from probe 20 on): one resolve, and then silence. */
  notes = run(a, &s, T0 + 20 * MIN, T0 + 40 * MIN, 0);
  assert_int_equal(notes, 1);
  assert_false(s.firing[0]);
  sim_free(&s);
  alerts_free(a);

  /* An alert that held for an hour and then starts flapping: its first clearing is a real
   * recovery (resolved at once), it comes back as the same alert (same startsAt), and the
   * flips after that are held: three notifications in all. */
  a = alerts_new(&o);
  struct sim s2 = {0};
  notes = 0;
  struct alert_input in = in_key(CAUSE_AUTH_INVALID, "flappy", T0);
  for (int64_t t = T0; t <= T0 + 60 * MIN; t += MIN) { /* steadily failing for an hour */
    alerts_update(a, &in, 1, t);
    cJSON *arr = due(a, 0, t, true);
    if (arr) notes += sim_deliver(&s2, arr, t);
    cJSON_Delete(arr);
  }
  notes = 0;
  int64_t start = T0 + 61 * MIN;
  for (int i = 0; i < 20; i++) {
    int64_t t = start + i * MIN;
    alerts_update(a, &in, i % 2 ? 1 : 0, t);
    for (int64_t u = t; u < t + MIN; u += 5 * SEC) {
      cJSON *arr = due(a, 0, u, true);
      if (arr) notes += sim_deliver(&s2, arr, u);
      cJSON_Delete(arr);
    }
  }
  assert_int_equal(notes, 2); /* resolved, then firing again */
  assert_true(s2.firing[0]);
  assert_string_equal(s2.starts[0], fmt(T0));
  sim_free(&s2);
  alerts_free(a);
}

static void test_comes_back_after_hold_down_is_new(void **state) {
  (void)state;
  struct alerts_opts o = {.resend_interval_ms = R, .hold_down_ms = 5 * MIN, .n_receivers = 1};
  struct alerts *a = alerts_new(&o);
  struct alert_input in = in_key(CAUSE_RATE_LIMITED, "k", T0);
  alerts_update(a, &in, 1, T0);
  cJSON_Delete(due(a, 0, T0, true));
  alerts_update(a, NULL, 0, T0 + MIN); /* young: held */
  cJSON *arr = due(a, 0, T0 + MIN, true);
  assert_non_null(arr); /* the heartbeat and the alert, still firing */
  assert_false(is_resolved(find(arr, "ClaudeRateLimited", "k"), T0 + MIN));
  cJSON_Delete(arr);
  alerts_update(a, NULL, 0, T0 + 6 * MIN); /* away a whole hold-down: resolved */
  arr = due(a, 0, T0 + 6 * MIN, true);
  const cJSON *al = find(arr, "ClaudeRateLimited", "k");
  assert_non_null(al);
  assert_string_equal(str_field(al, "endsAt"), fmt(T0 + MIN)); /* when it went away */
  cJSON_Delete(arr);
  /* Back 20 minutes later: a new alert with its own startsAt. */
  in.onset_ms = T0 + 26 * MIN;
  alerts_update(a, &in, 1, T0 + 26 * MIN);
  arr = due(a, 0, T0 + 26 * MIN, true);
  al = find(arr, "ClaudeRateLimited", "k");
  assert_non_null(al);
  assert_string_equal(str_field(al, "startsAt"), fmt(T0 + 26 * MIN));
  assert_false(is_resolved(al, T0 + 26 * MIN));
  cJSON_Delete(arr);
  alerts_free(a);
}

/* ---- suppression, maintenance, headroom ------------------------------------------------ */

static void test_platform_incident_suppresses_per_key(void **state) {
  (void)state;
  struct alert_input in[] = {
      {.scope = SCOPE_PLATFORM,
       .cause = CAUSE_INCIDENT,
       .onset_ms = T0,
       .summary = "Claude API: elevated errors",
       .description = "incident https://stspg.io/x"},
      {.scope = SCOPE_PLATFORM, .cause = CAUSE_OVERLOADED, .key = "a", .onset_ms = T0},
      {.scope = SCOPE_PLATFORM, .cause = CAUSE_SERVER_ERROR, .key = "b", .onset_ms = T0},
      {.scope = SCOPE_NETWORK, .cause = CAUSE_TIMEOUT, .key = "c", .onset_ms = T0},
      {.scope = SCOPE_LOCAL, .cause = CAUSE_AUTH_INVALID, .key = "d", .onset_ms = T0},
      {.scope = SCOPE_LOCAL, .cause = CAUSE_QUOTA, .key = "e", .onset_ms = T0},
  };
  struct alerts *a = mk(1);
  alerts_update(a, in, UTIL_ARRAY_LEN(in), T0);
  cJSON *arr = due(a, 0, T0, true);
  assert_int_equal(cJSON_GetArraySize(arr), 4);
  assert_non_null(find(arr, "ClaudePlatformIncident", NULL));
  assert_non_null(find(arr, "ClaudeKeyAuthFailing", "d"));
  assert_non_null(find(arr, "ClaudeQuotaExhausted", "e"));
  assert_non_null(find(arr, "ClaudeMonitorHeartbeat", NULL));
  assert_null(find(arr, "ClaudePlatformIncident", "a"));
  cJSON_Delete(arr);
  alerts_free(a);

  /* Without an incident, a single key's 529s are a per-key platform alert. */
  a = mk(1);
  alerts_update(a, &in[1], 1, T0);
  arr = due(a, 0, T0, true);
  const cJSON *al = find(arr, "ClaudePlatformIncident", "a");
  assert_non_null(al);
  check_labels(al, "ClaudePlatformIncident", "platform", "overloaded", "warning", "a");
  cJSON_Delete(arr);
  alerts_free(a);
}

/* A key's 529s alert on their own until enough keys fail for an incident; the incident then
 * covers that alert, which resolves at once instead of being held a hold-down beside it. */
static void test_incident_supersedes_per_key_at_once(void **state) {
  (void)state;
  struct alerts *a = mk(1);
  struct alert_input alone = {
      .scope = SCOPE_LOCAL, .cause = CAUSE_OVERLOADED, .key = "a", .onset_ms = T0};
  alerts_update(a, &alone, 1, T0);
  cJSON *arr = due(a, 0, T0, true);
  assert_non_null(find(arr, "ClaudePlatformIncident", "a"));
  cJSON_Delete(arr);

  /* Ten seconds later (well inside the hold-down) the incident is declared. */
  struct alert_input both[] = {
      {.scope = SCOPE_PLATFORM, .cause = CAUSE_OVERLOADED, .onset_ms = T0},
      {.scope = SCOPE_PLATFORM, .cause = CAUSE_OVERLOADED, .key = "a", .onset_ms = T0},
  };
  alerts_update(a, both, 2, T0 + 10 * SEC);
  arr = due(a, 0, T0 + 10 * SEC, true);
  const cJSON *keyed = find(arr, "ClaudePlatformIncident", "a");
  assert_non_null(keyed);
  assert_true(is_resolved(keyed, T0 + 10 * SEC));
  assert_string_equal(str_field(keyed, "endsAt"), fmt(T0 + 10 * SEC));
  const cJSON *inc = find(arr, "ClaudePlatformIncident", NULL);
  assert_non_null(inc);
  assert_false(is_resolved(inc, T0 + 10 * SEC));
  cJSON_Delete(arr);

  /* A per-key alert already held (it flapped away) resolves at once too, ending when it went. */
  struct alert_input net = {
      .scope = SCOPE_NETWORK, .cause = CAUSE_TIMEOUT, .key = "b", .onset_ms = T0 + 20 * SEC};
  alerts_update(a, &net, 1, T0 + 20 * SEC); /* the incident is over: b times out alone */
  arr = due(a, 0, T0 + 20 * SEC, true);
  assert_non_null(find(arr, "ClaudeNetworkUnreachable", "b"));
  cJSON_Delete(arr);
  alerts_update(a, NULL, 0, T0 + 25 * SEC); /* gone within the hold-down: held */
  arr = due(a, 0, T0 + 25 * SEC, true);
  assert_null(arr);
  alerts_update(a, both, 2, T0 + 30 * SEC);
  arr = due(a, 0, T0 + 30 * SEC, true);
  keyed = find(arr, "ClaudeNetworkUnreachable", "b");
  assert_non_null(keyed);
  assert_string_equal(str_field(keyed, "endsAt"), fmt(T0 + 25 * SEC));
  cJSON_Delete(arr);

  /* A key's 401 is not the platform's doing: an incident leaves it alone (held, as ever). */
  struct alert_input auth = {
      .scope = SCOPE_LOCAL, .cause = CAUSE_AUTH_INVALID, .key = "c", .onset_ms = T0 + 40 * SEC};
  alerts_update(a, &auth, 1, T0 + 40 * SEC);
  cJSON_Delete(due(a, 0, T0 + 40 * SEC, true));
  alerts_update(a, both, 2, T0 + 45 * SEC);
  arr = due(a, 0, T0 + 45 * SEC, true);
  assert_null(arr == NULL ? NULL : find(arr, "ClaudeKeyAuthFailing", "c"));
  cJSON_Delete(arr);
  alerts_free(a);
}

static void test_maintenance_is_info(void **state) {
  (void)state;
  struct alert_input in[] = {
      {.scope = SCOPE_PLATFORM, .cause = CAUSE_SERVER_ERROR, .onset_ms = T0, .maintenance = true},
      {.scope = SCOPE_LOCAL,
       .cause = CAUSE_AUTH_INVALID,
       .key = "d",
       .onset_ms = T0,
       .maintenance = true},
  };
  struct alerts *a = mk(1);
  alerts_update(a, in, 2, T0);
  cJSON *arr = due(a, 0, T0, true);
  check_labels(find(arr, "ClaudePlatformIncident", NULL), "ClaudePlatformIncident", "platform",
               "server_error", "info", NULL);
  check_labels(find(arr, "ClaudeKeyAuthFailing", "d"), "ClaudeKeyAuthFailing", "local",
               "auth_invalid", "critical", "d");
  cJSON_Delete(arr);
  alerts_free(a);
}

static void test_headroom(void **state) {
  (void)state;
  assert_true(alert_headroom_is_low(4, 50, ALERT_HEADROOM_THRESHOLD));
  assert_false(alert_headroom_is_low(5, 50, ALERT_HEADROOM_THRESHOLD));
  assert_false(alert_headroom_is_low(0, 0, ALERT_HEADROOM_THRESHOLD));
  assert_false(alert_headroom_is_low(-1, 50, ALERT_HEADROOM_THRESHOLD));
  struct alert_input in[] = {
      {.scope = SCOPE_LOCAL,
       .cause = CAUSE_RATE_LIMITED,
       .key = "a",
       .onset_ms = T0,
       .headroom_low = true,
       .description = "requests: 4 of 50 left"},
      {.scope = SCOPE_LOCAL,
       .cause = CAUSE_RATE_LIMITED,
       .key = "b",
       .onset_ms = T0,
       .headroom_low = true},
      {.scope = SCOPE_LOCAL, .cause = CAUSE_RATE_LIMITED, .key = "b", .onset_ms = T0},
      {.scope = SCOPE_LOCAL,
       .cause = CAUSE_RATE_LIMITED,
       .onset_ms = T0,
       .headroom_low = true}, /* keyless: meaningless, ignored */
  };
  struct alerts *a = mk(1);
  alerts_update(a, in, UTIL_ARRAY_LEN(in), T0);
  cJSON *arr = due(a, 0, T0, true);
  assert_int_equal(cJSON_GetArraySize(arr), 3);
  const cJSON *al = find(arr, "ClaudeRateLimitHeadroomLow", "a");
  check_labels(al, "ClaudeRateLimitHeadroomLow", "local", "rate_limited", "warning", "a");
  assert_string_not_equal(annotation(al, "advice"), cause_advice(CAUSE_RATE_LIMITED));
  assert_non_null(find(arr, "ClaudeRateLimited", "b"));
  assert_null(find(arr, "ClaudeRateLimitHeadroomLow", "b"));
  cJSON_Delete(arr);
  alerts_free(a);
}

static void test_duplicates_merge(void **state) {
  (void)state;
  struct alert_input in[] = {in_key(CAUSE_AUTH_INVALID, "a", T0 - MIN),
                             in_key(CAUSE_AUTH_INVALID, "a", T0 - 3 * MIN),
                             in_key(CAUSE_OK, "b", T0)};
  struct alerts *a = mk(1);
  alerts_update(a, in, 3, T0);
  cJSON *arr = due(a, 0, T0, true);
  assert_int_equal(cJSON_GetArraySize(arr), 2);
  assert_string_equal(str_field(find(arr, "ClaudeKeyAuthFailing", "a"), "startsAt"),
                      fmt(T0 - 3 * MIN));
  cJSON_Delete(arr);
  alerts_free(a);
}

/* ---- delivery ---------------------------------------------------------------------------- */

static void test_backoff_and_receivers_independent(void **state) {
  (void)state;
  struct alerts *a = mk(2);
  struct alert_input in = in_key(CAUSE_AUTH_INVALID, "a", T0);
  alerts_update(a, &in, 1, T0);
  cJSON *ok = due(a, 1, T0, true); /* receiver 1 fine throughout */
  assert_int_equal(cJSON_GetArraySize(ok), 2);
  cJSON_Delete(ok);

  int64_t t = T0;
  int64_t expect[] = {1, 2, 4, 8, 16, 32, 60, 60, 60}; /* seconds; capped at the resend */
  for (size_t i = 0; i < UTIL_ARRAY_LEN(expect); i++) {
    cJSON *arr = due(a, 0, t, false);
    assert_non_null(arr);
    assert_int_equal(cJSON_GetArraySize(arr), 2);
    cJSON_Delete(arr);
    assert_null(due(a, 0, t, false)); /* in flight: nothing more */
    alerts_sent(a, 0, false, t);
    assert_int_equal(alerts_next_due_ms(a, 0), t + expect[i] * SEC);
    assert_null(due(a, 0, t + expect[i] * SEC - 1, false));
    t += expect[i] * SEC;
  }
  /* Success resets the backoff; then the normal resend clock. */
  cJSON *arr = due(a, 0, t, true);
  assert_non_null(arr);
  cJSON_Delete(arr);
  assert_int_equal(alerts_next_due_ms(a, 0), t + R);
  /* Receiver 1 kept its own clock all along. */
  arr = due(a, 1, T0 + R, true);
  assert_int_equal(cJSON_GetArraySize(arr), 2);
  cJSON_Delete(arr);
  alerts_free(a);
}

static void test_lost_report_counts_as_failure(void **state) {
  (void)state;
  struct alerts *a = mk(1);
  alerts_update(a, NULL, 0, T0);
  cJSON_Delete(due(a, 0, T0, false));
  assert_null(due(a, 0, T0 + 4 * MIN, false));
  assert_null(due(a, 0, T0 + 5 * MIN, false)); /* given up on: backs off 1 s */
  cJSON *arr = due(a, 0, T0 + 5 * MIN + SEC, false);
  assert_non_null(arr);
  cJSON_Delete(arr);
  alerts_sent(a, 0, true, T0 + 5 * MIN + SEC);
  alerts_sent(a, 0, true, T0 + 5 * MIN + SEC); /* a stray second report is ignored */
  assert_int_equal(alerts_next_due_ms(a, 0), T0 + 5 * MIN + SEC + R);
  assert_false(alerts_due(a, 7, T0, &(char *){NULL})); /* no such receiver */
  alerts_free(a);
}

static void test_batches(void **state) {
  (void)state;
  enum { N = 1200 };
  struct alert_input *in = calloc(N, sizeof(*in));
  char(*names)[16] = calloc(N, sizeof(*names));
  for (int i = 0; i < N; i++) {
    snprintf(names[i], sizeof(names[i]), "key%04d", i);
    in[i] = in_key(CAUSE_AUTH_INVALID, names[i], T0);
  }
  struct alerts *a = mk(1);
  alerts_update(a, in, N, T0);
  size_t sizes[4] = {0};
  for (int i = 0; i < 4; i++) {
    cJSON *arr = due(a, 0, T0, true);
    sizes[i] = arr ? (size_t)cJSON_GetArraySize(arr) : 0;
    cJSON_Delete(arr);
  }
  assert_int_equal(sizes[0], ALERT_BATCH_MAX);
  assert_int_equal(sizes[1], ALERT_BATCH_MAX);
  assert_int_equal(sizes[2], N + 1 - 2 * ALERT_BATCH_MAX);
  assert_int_equal(sizes[3], 0);
  alerts_free(a);
  free(in);
  free(names);
}

/* ---- persistence ----------------------------------------------------------------------- */

static void test_restore_keeps_starts_at(void **state) {
  (void)state;
  struct alerts *a = mk(1);
  struct alert_input in[2] = {in_key(CAUSE_AUTH_INVALID, "prod", T0 - 10 * MIN),
                              in_key(CAUSE_QUOTA, "gone", T0 - 10 * MIN)};
  alerts_update(a, in, 2, T0);
  struct sim s = {0};
  cJSON *arr = due(a, 0, T0, true);
  assert_int_equal(sim_deliver(&s, arr, T0), 2);
  cJSON_Delete(arr);
  uint64_t gen = alerts_generation(a);
  alerts_update(a, in, 2, T0 + R); /* nothing changed but annotations */
  assert_true(alerts_generation(a) == gen);

  struct alert_record *rec;
  size_t n = alerts_export(a, &rec);
  assert_int_equal(n, 2);
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(rec[i].state, ALERT_STATE_FIRING);
    assert_int_equal(rec[i].ends_at_ms, -1);
    assert_int_equal(rec[i].starts_at_ms, T0 - 10 * MIN);
    assert_int_equal(strlen(rec[i].fingerprint), ALERT_FINGERPRINT_LEN);
    cJSON *l = cJSON_Parse(rec[i].labels);
    assert_true(cJSON_IsObject(l));
    assert_string_equal(cJSON_GetArrayItem(l, 0)->string, "alertname"); /* sorted */
    cJSON_Delete(l);
  }
  alerts_free(a);

  /* A corrupt row, a stale resolved row and a row with a wrong fingerprint join them. */
  struct alert_record extra[3] = {
      {.fingerprint = "0000000000000000",
       .labels = (char[]){"{\"alertname\":1}"},
       .annotations = (char[]){"{}"},
       .starts_at_ms = T0,
       .state = ALERT_STATE_FIRING},
      {.fingerprint = "1",
       .labels = (char[]){"{\"alertname\":\"ClaudeRateLimited\",\"cause\":"
                          "\"rate_limited\",\"key\":\"old\",\"scope\":"
                          "\"local\",\"severity\":\"warning\"}"},
       .annotations = (char[]){"{\"summary\":\"old\"}"},
       .starts_at_ms = T0 - 120 * MIN,
       .ends_at_ms = T0 - 100 * MIN,
       .state = ALERT_STATE_RESOLVED},
      {.fingerprint = "ffffffffffffffff",
       .labels = (char[]){"{\"severity\":\"warning\",\"alertname\":\"ClaudeRequestInvalid\","
                          "\"cause\":\"request_invalid\",\"key\":\"r\",\"scope\":\"local\"}"},
       .annotations = (char[]){"{\"summary\":\"r\"}"},
       .starts_at_ms = T0 - 5 * MIN,
       .state = ALERT_STATE_FIRING},
  };
  int64_t later = T0 + 60 * MIN;
  a = mk(1);
  alerts_restore(a, rec, n);
  alerts_restore(a, extra, 3);
  alerts_restore(a, rec, n); /* twice: no duplicates */
  alert_records_free(rec, n);
  in[0].onset_ms = later - MIN; /* the daemon's idea of the onset after a restart */
  alerts_update(a, in, 1, later);
  arr = due(a, 0, later, true);
  assert_int_equal(cJSON_GetArraySize(arr), 4); /* prod, gone (resolved), r (resolved), hb */
  const cJSON *al = find(arr, "ClaudeKeyAuthFailing", "prod");
  assert_string_equal(str_field(al, "startsAt"), fmt(T0 - 10 * MIN));
  assert_false(is_resolved(al, later));
  al = find(arr, "ClaudeQuotaExhausted", "gone");
  assert_true(is_resolved(al, later));
  assert_string_equal(str_field(al, "endsAt"), fmt(later));
  assert_true(is_resolved(find(arr, "ClaudeRequestInvalid", "r"), later));
  assert_null(find(arr, "ClaudeRateLimited", "old"));
  /* No duplicate notification for the alert that kept firing; the cleared one resolves. */
  assert_int_equal(sim_deliver(&s, arr, later), 1);
  cJSON_Delete(arr);
  sim_free(&s);
  alerts_free(a);

  assert_int_equal(alert_state_parse(alert_state_name(ALERT_STATE_RESOLVED),
                                     &(enum alert_state){ALERT_STATE_FIRING}),
                   0);
  assert_int_equal(alert_state_parse("pending", &(enum alert_state){ALERT_STATE_FIRING}),
                   UTIL_EINVAL);
}

/* ---- secrets ------------------------------------------------------------------------- */

static void test_hmac_rfc4231(void **state) {
  (void)state;
  char out[65];
  /* RFC 4231 test case 2. */
  const char data2[] = "what do ya want for nothing?";
  alerts_hmac_sha256_hex("Jefe", data2, strlen(data2), out);
  assert_string_equal(out, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  /* Test case 1: 20 bytes of 0x0b. */
  char key1[21];
  memset(key1, 0x0b, 20);
  key1[20] = '\0';
  alerts_hmac_sha256_hex(key1, "Hi There", 8, out);
  assert_string_equal(out, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}

/* key_shaped is true when s holds "sk-ant-" followed by 13 or more key characters. */
static bool key_shaped(const char *s) {
  for (const char *p = strstr(s, "sk-ant-"); p; p = strstr(p + 1, "sk-ant-")) {
    size_t n = 0;
    const char *q = p + 7;
    while ((*q >= 'a' && *q <= 'z') || (*q >= 'A' && *q <= 'Z') || (*q >= '0' && *q <= '9') ||
           *q == '-' || *q == '_')
      q++, n++;
    if (n >= 13) return true;
  }
  return false;
}

static void test_no_key_in_payload(void **state) {
  (void)state;
  log_set_stream(tmpfile()); /* keep the test output quiet */
  const char secret[] = "hunter2-webhook-url-token";
  log_add_secret(secret);
  char summary[512], description[1024], keyname[256];
  snprintf(summary, sizeof(summary), "Key rejected: %s", fake_key);
  snprintf(description, sizeof(description),
           "error: invalid x-api-key %s\nsent to https://hooks.example/%s\n%.40s", fake_key, secret,
           fake_key);
  snprintf(keyname, sizeof(keyname), "%s", fake_key);
  struct alerts_opts o = {.resend_interval_ms = R, .vantage = secret, .n_receivers = 2};
  struct alerts *a = alerts_new(&o);
  struct alert_input in[] = {
      {.scope = SCOPE_LOCAL,
       .cause = CAUSE_AUTH_INVALID,
       .key = keyname,
       .summary = summary,
       .description = description,
       .onset_ms = T0},
      {.scope = SCOPE_NETWORK, .cause = CAUSE_NETWORK, .summary = fake_key, .onset_ms = T0},
  };
  alerts_update(a, in, 2, T0);
  char *json = NULL;
  assert_true(alerts_due(a, 0, T0, &json));
  assert_false(key_shaped(json));
  assert_null(strstr(json, secret));
  assert_non_null(strstr(json, "[REDACTED]"));
  free(json);
  assert_true(alerts_webhook_body(a, 1, T0, &json));
  assert_false(key_shaped(json));
  assert_null(strstr(json, secret));
  free(json);
  struct alert_record *rec;
  size_t n = alerts_export(a, &rec);
  assert_int_equal(n, 2);
  for (size_t i = 0; i < n; i++) {
    assert_false(key_shaped(rec[i].labels));
    assert_false(key_shaped(rec[i].annotations));
    assert_null(strstr(rec[i].annotations, secret));
  }
  alert_records_free(rec, n);
  alerts_free(a);
  log_clear_secrets();
  log_set_stream(NULL);
}

/* ---- config -------------------------------------------------------------------------- */

static void test_opts_from_config(void **state) {
  (void)state;
  static char am1[] = "http://am-1:9093", am2[] = "http://am-2:9093";
  static char ext[] = "http://mon-1:9464", vantage[] = "eu";
  static char runbook[] = "https://wiki.example/claudemon", env[] = "CLAUDEMON_WEBHOOK_URL";
  struct config c;
  memset(&c, 0, sizeof(c));
  char *ams[] = {am1, am2};
  struct config_key keys[2];
  memset(keys, 0, sizeof(keys));
  keys[0].probes[PROBE_MODELS] = (struct config_probe){.enabled = true, .interval_ms = 60000};
  keys[0].probes[PROBE_MESSAGES] = (struct config_probe){.enabled = true, .interval_ms = 30 * MIN};
  keys[1].probes[PROBE_COUNT_TOKENS] =
      (struct config_probe){.enabled = true, .interval_ms = 4 * MIN};
  c.keys = keys;
  c.n_keys = 2;
  c.external_url = ext;
  c.vantage = vantage;
  c.alerting.alertmanager = ams;
  c.alerting.n_alertmanager = 2;
  c.alerting.resend_interval_ms = R;
  c.alerting.runbook_url = runbook;
  c.alerting.webhook.url.env = env;
  struct alerts_opts o;
  alerts_opts_from_config(&o, &c);
  assert_int_equal(o.n_receivers, 3);
  assert_int_equal(o.resend_interval_ms, R);
  assert_string_equal(o.external_url, "http://mon-1:9464");
  assert_string_equal(o.runbook_url, "https://wiki.example/claudemon");
  assert_string_equal(o.vantage, "eu");
  assert_int_equal(o.hold_down_ms, 12 * MIN); /* 3 × key 1's 4-minute probe */
  c.keys = NULL;
  c.n_keys = 0;
  c.alerting.webhook.url.env = NULL;
  alerts_opts_from_config(&o, &c);
  assert_int_equal(o.n_receivers, 2);
  assert_int_equal(o.hold_down_ms, 5 * MIN);
}

int main(void) {
  log_set_level(LOG_WARN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_table_every_cause),
      cmocka_unit_test(test_heartbeat_always),
      cmocka_unit_test(test_payload_fields),
      cmocka_unit_test(test_webhook_body),
      cmocka_unit_test(test_fingerprint_matches_prometheus),
      cmocka_unit_test(test_resend_timing),
      cmocka_unit_test(test_resolve_at_once_and_resend),
      cmocka_unit_test(test_flapping_key_one_notification),
      cmocka_unit_test(test_comes_back_after_hold_down_is_new),
      cmocka_unit_test(test_platform_incident_suppresses_per_key),
      cmocka_unit_test(test_incident_supersedes_per_key_at_once),
      cmocka_unit_test(test_maintenance_is_info),
      cmocka_unit_test(test_headroom),
      cmocka_unit_test(test_duplicates_merge),
      cmocka_unit_test(test_backoff_and_receivers_independent),
      cmocka_unit_test(test_lost_report_counts_as_failure),
      cmocka_unit_test(test_batches),
      cmocka_unit_test(test_restore_keeps_starts_at),
      cmocka_unit_test(test_hmac_rfc4231),
      cmocka_unit_test(test_no_key_in_payload),
      cmocka_unit_test(test_opts_from_config),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
