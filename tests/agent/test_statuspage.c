/* Tests of agent/statuspage.c: the real summary.json fixtures (CLAUDEMON_FIXTURES),
 * a status.json refused clearly, hand-made pages with unknown values, wrong types and
 * truncations, 10,000 components, maintenances, watched and unwatched incidents, carrying
 * data over a failed poll, and the diff storage records. */
#include "agent/model.h"
#include "agent/statuspage.h"
#include "agent/util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define NOW_MS 1788000000000LL /* 2026-08-29: any fixed time will do */
#define API_ID "k8w3r06qmzrp"

static const char *const watch_api[] = {API_ID};

/* read_fixture returns the whole file (not NUL-terminated on purpose: the parser takes a
 * length) and its size. */
static char *read_fixture(const char *name, size_t *len) {
  const char *dir = getenv("CLAUDEMON_FIXTURES");
  assert_non_null(dir);
  char path[1024];
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  FILE *f = fopen(path, "rb");
  if (!f) fail_msg("cannot open fixture %s", path);
  assert_int_equal(fseek(f, 0, SEEK_END), 0);
  long n = ftell(f);
  assert_true(n > 0);
  rewind(f);
  char *buf = xmalloc((size_t)n);
  assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
  fclose(f);
  *len = (size_t)n;
  return buf;
}

static int parse_str(const char *json, const char *const *watch, size_t n_watch,
                     struct status_snapshot *out, char *err, size_t errsz) {
  return statuspage_parse(json, strlen(json), watch, n_watch, NOW_MS, out, err, errsz);
}

static int64_t t(const char *s) {
  int64_t ms;
  assert_int_equal(util_parse_time(s, &ms), 0);
  return ms;
}

/* find_component fails the test when id is missing (and never returns NULL). */
static const struct status_component *find_component(const struct status_snapshot *s,
                                                     const char *id) {
  static const struct status_component missing;
  for (size_t i = 0; i < s->n_components; i++)
    if (strcmp(s->components[i].id, id) == 0) return &s->components[i];
  fail_msg("component %s not found", id);
  return &missing;
}

/* fill writes tmpl into dst with "@1" and "@2" replaced by a and b (test pages built from
 * one template without a non-literal printf format). */
static void fill(char *dst, size_t dstsz, const char *tmpl, const char *a, const char *b) {
  size_t o = 0;
  for (const char *p = tmpl; *p; p++) {
    const char *sub = NULL;
    if (p[0] == '@' && p[1] == '1') sub = a;
    if (p[0] == '@' && p[1] == '2') sub = b;
    if (sub) {
      size_t n = strlen(sub);
      assert_true(o + n < dstsz);
      memcpy(dst + o, sub, n);
      o += n;
      p++;
      continue;
    }
    assert_true(o + 1 < dstsz);
    dst[o++] = *p;
  }
  dst[o] = '\0';
}

static bool has_component(const struct status_incident *inc, const char *id) {
  for (size_t i = 0; i < inc->n_components; i++)
    if (strcmp(inc->component_ids[i], id) == 0) return true;
  return false;
}

/* assert_empty_failed checks the snapshot a refused body leaves. */
static void assert_empty_failed(const struct status_snapshot *s, const char *err) {
  assert_false(s->reachable);
  assert_int_equal(s->polled_ms, NOW_MS);
  assert_int_equal(s->fetched_ms, -1);
  assert_null(s->components);
  assert_int_equal(s->n_components, 0);
  assert_null(s->incidents);
  assert_int_equal(s->n_incidents, 0);
  assert_null(s->maintenances);
  assert_int_equal(s->n_maintenances, 0);
  assert_int_equal(s->indicator, INDICATOR_UNKNOWN);
  assert_true(err[0] != '\0');
  assert_string_equal(s->error, err);
}

static void test_anthropic_trimmed(void **state) {
  (void)state;
  size_t len;
  char *body = read_fixture("anthropic_summary_operational_2026-09-04_trimmed.json", &len);
  struct status_snapshot s;
  char err[256];
  assert_int_equal(statuspage_parse(body, len, watch_api, 1, NOW_MS, &s, err, sizeof(err)), 0);
  assert_string_equal(err, "");
  assert_true(s.reachable);
  assert_int_equal(s.polled_ms, NOW_MS);
  assert_int_equal(s.fetched_ms, NOW_MS);
  assert_string_equal(s.error, "");
  assert_int_equal(s.indicator, INDICATOR_NONE);
  assert_string_equal(s.description, "All Systems Operational");
  assert_int_equal(s.page_updated_ms, t("2026-09-04T12:03:36.857Z"));
  assert_int_equal(s.n_components, 6);
  size_t watched = 0;
  for (size_t i = 0; i < s.n_components; i++) {
    assert_int_equal(s.components[i].status, COMPONENT_OPERATIONAL);
    assert_false(s.components[i].is_group);
    assert_string_equal(s.components[i].group_id, "");
    assert_int_equal(s.components[i].updated_ms, -1); /* trimmed away */
    watched += s.components[i].watched;
  }
  assert_int_equal(watched, 1);
  const struct status_component *api = find_component(&s, API_ID);
  assert_true(api->watched);
  assert_string_equal(api->name, "Claude API (api.anthropic.com)");
  assert_string_equal(s.components[0].name, "claude.ai");
  assert_int_equal(s.n_incidents, 0);
  assert_int_equal(s.n_maintenances, 0);
  assert_false(statuspage_watched_degraded(&s));
  assert_null(statuspage_worst_incident(&s));
  assert_false(statuspage_maintenance_in_progress(&s));
  status_snapshot_free(&s);

  /* Names match case-insensitively, ids exactly. */
  const char *const by_name[] = {"claude api (API.ANTHROPIC.COM)", "K8W3R06QMZRP", ""};
  assert_int_equal(statuspage_parse(body, len, by_name, 3, NOW_MS, &s, err, sizeof(err)), 0);
  watched = 0;
  for (size_t i = 0; i < s.n_components; i++)
    watched += s.components[i].watched;
  assert_int_equal(watched, 1);
  assert_true(find_component(&s, API_ID)->watched);
  status_snapshot_free(&s);

  /* An empty watch list watches nothing. */
  assert_int_equal(statuspage_parse(body, len, NULL, 0, NOW_MS, &s, NULL, 0), 0);
  for (size_t i = 0; i < s.n_components; i++)
    assert_false(s.components[i].watched);
  status_snapshot_free(&s);
  free(body);
}

static void test_github_incident(void **state) {
  (void)state;
  size_t len;
  char *body = read_fixture("statuspage_github_summary_incident_2022-11-25.json", &len);
  struct status_snapshot s;
  char err[256];
  const char *const watch_packages[] = {"packages"};
  assert_int_equal(statuspage_parse(body, len, watch_packages, 1, NOW_MS, &s, err, sizeof(err)), 0);
  assert_string_equal(err, "");
  assert_int_equal(s.indicator, INDICATOR_MINOR);
  assert_string_equal(s.description, "Minor Service Outage");
  assert_int_equal(s.page_updated_ms, t("2022-11-25T15:50:05.892Z"));
  assert_int_equal(s.n_components, 11);
  const struct status_component *pk = find_component(&s, "st3j38cctv9l");
  assert_true(pk->watched);
  assert_int_equal(pk->status, COMPONENT_PARTIAL_OUTAGE);
  assert_int_equal(pk->updated_ms, t("2022-11-25T15:50:05.888Z"));
  assert_int_equal(s.n_incidents, 1);
  assert_int_equal(s.n_maintenances, 0);
  const struct status_incident *inc = &s.incidents[0];
  assert_string_equal(inc->id, "ljwdk6qml8z8");
  assert_string_equal(inc->name, "Incident with Packages and Pages");
  assert_string_equal(inc->status, "investigating");
  /* The incident's impact is major while the page indicator is minor: both are kept. */
  assert_int_equal(inc->impact, INDICATOR_MAJOR);
  assert_string_equal(inc->shortlink, "https://stspg.io/33vh8r7z43kh");
  assert_int_equal(inc->created_ms, t("2022-11-25T14:39:09.548Z"));
  assert_int_equal(inc->updated_ms, t("2022-11-25T15:50:04.970Z"));
  assert_int_equal(inc->started_ms, t("2022-11-25T14:39:09.542Z"));
  assert_int_equal(inc->scheduled_for_ms, -1);
  assert_int_equal(inc->scheduled_until_ms, -1);
  assert_string_equal(inc->latest_update, "Packages is now experiencing degraded performance. We "
                                          "are still investigating and will provide an update "
                                          "when we have one.");
  assert_int_equal(inc->n_components, 2);
  assert_true(has_component(inc, "st3j38cctv9l"));
  assert_true(has_component(inc, "vg70hn9s2tyj"));
  assert_true(inc->affects_watched);
  assert_ptr_equal(statuspage_worst_incident(&s), inc);
  assert_true(statuspage_watched_degraded(&s));
  assert_false(statuspage_maintenance_in_progress(&s));
  status_snapshot_free(&s);

  /* Watching a component the incident does not touch. */
  const char *const watch_git[] = {"8l4ygp009s5s"};
  assert_int_equal(statuspage_parse(body, len, watch_git, 1, NOW_MS, &s, err, sizeof(err)), 0);
  assert_int_equal(s.n_incidents, 1);
  assert_false(s.incidents[0].affects_watched);
  assert_null(statuspage_worst_incident(&s));
  assert_false(statuspage_watched_degraded(&s));
  status_snapshot_free(&s);
  free(body);
}

/* The status.json has the indicator but no components: it is refused, with a reason that
 * says what it is and what to poll instead. */
static void test_status_json_refused(void **state) {
  (void)state;
  size_t len;
  char *body = read_fixture("anthropic_status_json_2026-08-09.json", &len);
  struct status_snapshot s;
  char err[256];
  assert_int_equal(statuspage_parse(body, len, watch_api, 1, NOW_MS, &s, err, sizeof(err)),
                   UTIL_EPARSE);
  assert_non_null(strstr(err, "status.json"));
  assert_non_null(strstr(err, "\"components\""));
  assert_non_null(strstr(err, "summary.json"));
  assert_non_null(strstr(err, "\"none\""));
  assert_empty_failed(&s, err);
  status_snapshot_free(&s);
  status_snapshot_free(&s); /* freeing twice is safe: free re-inits */
  free(body);
}

static void test_unknown_values(void **state) {
  (void)state;
  struct status_snapshot s;
  char err[256];
  const char *json =
      "{\"status\":{\"indicator\":\"catastrophic\",\"description\":\"Hmm\"},"
      "\"components\":[{\"id\":\"" API_ID "\",\"name\":\"API\",\"status\":\"melting\"},"
      "{\"id\":\"other\",\"name\":\"Other\",\"status\":\"Operational\"},"
      "{\"id\":\"nostatus\",\"name\":\"No status\"}],"
      "\"incidents\":[{\"id\":\"i1\",\"name\":\"x\",\"status\":\"newfangled\","
      "\"impact\":\"apocalyptic\",\"components\":[{\"id\":\"" API_ID "\"}]}]}";
  assert_int_equal(parse_str(json, watch_api, 1, &s, err, sizeof(err)), 0);
  assert_int_equal(s.indicator, INDICATOR_UNKNOWN);
  assert_int_equal(find_component(&s, API_ID)->status, COMPONENT_UNKNOWN);
  /* Case matters: "Operational" is not a value Statuspage sends, so it is not operational. */
  assert_int_equal(find_component(&s, "other")->status, COMPONENT_UNKNOWN);
  assert_int_equal(find_component(&s, "nostatus")->status, COMPONENT_UNKNOWN);
  assert_int_equal(s.n_incidents, 1);
  assert_int_equal(s.incidents[0].impact, INDICATOR_UNKNOWN);
  assert_string_equal(s.incidents[0].status, "newfangled");
  /* A watched component we cannot read is never healthy. */
  assert_true(statuspage_watched_degraded(&s));
  assert_ptr_equal(statuspage_worst_incident(&s), &s.incidents[0]);
  status_snapshot_free(&s);

  /* Missing status object and page: unknown indicator, no description, no page time. */
  assert_int_equal(parse_str("{\"components\":[]}", watch_api, 1, &s, err, sizeof(err)), 0);
  assert_string_equal(err, "");
  assert_int_equal(s.indicator, INDICATOR_UNKNOWN);
  assert_string_equal(s.description, "");
  assert_int_equal(s.page_updated_ms, -1);
  assert_int_equal(s.n_components, 0);
  assert_true(s.reachable);
  assert_false(statuspage_watched_degraded(&s));
  status_snapshot_free(&s);
}

static void test_wrong_types(void **state) {
  (void)state;
  struct status_snapshot s;
  char err[512];
  const char *json =
      "{\"page\":[1],\"status\":\"none\","
      "\"components\":[{\"id\":123,\"name\":\"numeric id\"},5,\"str\",null,[],{\"name\":\"no id\"},"
      "{\"id\":\"ok1\",\"name\":{\"a\":1},\"status\":7,\"group\":\"yes\",\"group_id\":[],"
      "\"updated_at\":12},"
      "{\"id\":\"ok2\",\"name\":\"Fine\",\"status\":\"major_outage\",\"group\":false,"
      "\"group_id\":null,\"updated_at\":\"not a time\"}],"
      "\"incidents\":{\"id\":\"x\"},\"scheduled_maintenances\":\"none\"}";
  assert_int_equal(parse_str(json, watch_api, 1, &s, err, sizeof(err)), 0);
  assert_int_equal(s.indicator, INDICATOR_UNKNOWN);
  assert_int_equal(s.page_updated_ms, -1);
  assert_int_equal(s.n_components, 2);
  assert_string_equal(s.components[0].id, "ok1");
  assert_string_equal(s.components[0].name, "");
  assert_int_equal(s.components[0].status, COMPONENT_UNKNOWN);
  assert_false(s.components[0].is_group);
  assert_string_equal(s.components[0].group_id, "");
  assert_int_equal(s.components[0].updated_ms, -1);
  assert_int_equal(s.components[1].status, COMPONENT_MAJOR_OUTAGE);
  assert_int_equal(s.components[1].updated_ms, -1);
  assert_int_equal(s.n_incidents, 0);
  assert_null(s.incidents);
  assert_int_equal(s.n_maintenances, 0);
  /* 6 skipped components; wrong types: page, status, id 123, name, status 7, group,
   * group_id, updated_at 12, incidents, scheduled_maintenances; one unparsable time. */
  assert_non_null(strstr(err, "6 component(s) skipped"));
  assert_non_null(strstr(err, "10 field(s) of the wrong type"));
  assert_non_null(strstr(err, "1 unparsable time(s)"));
  status_snapshot_free(&s);

  /* Inside incidents and their updates. */
  json = "{\"components\":[{\"id\":\"" API_ID "\",\"name\":\"Claude API (api.anthropic.com)\","
         "\"status\":\"operational\"}],"
         "\"incidents\":[7,{\"name\":\"no id\"},"
         "{\"id\":\"i1\",\"name\":5,\"status\":[],\"impact\":{},\"shortlink\":1,"
         "\"created_at\":\"yesterday\",\"updated_at\":3,\"started_at\":true,"
         "\"components\":\"" API_ID "\",\"incident_updates\":{\"x\":1}},"
         "{\"id\":\"i2\",\"name\":\"Updates\",\"status\":\"identified\",\"impact\":\"minor\","
         "\"components\":[5,null,{\"id\":7}],"
         "\"incident_updates\":[5,{\"body\":7},{\"body\":\"older\",\"created_at\":"
         "\"2026-09-04T10:00:00Z\"},{\"body\":\"line\\u0007one\\n\\n  two\\t\","
         "\"display_at\":\"2026-09-04T11:00:00+00:00\",\"affected_components\":[{\"code\":9},"
         "\"xyz\",{\"code\":\"abc\",\"name\":\"claude api (api.anthropic.com)\"}]}]}]}";
  const char *const watch_name[] = {"Claude API (API.anthropic.com)"};
  assert_int_equal(parse_str(json, watch_name, 1, &s, err, sizeof(err)), 0);
  assert_int_equal(s.n_incidents, 2);
  const struct status_incident *i1 = &s.incidents[0], *i2 = &s.incidents[1];
  assert_string_equal(i1->id, "i1");
  assert_string_equal(i1->name, "");
  assert_string_equal(i1->status, "unknown");
  assert_int_equal(i1->impact, INDICATOR_UNKNOWN);
  assert_string_equal(i1->shortlink, "");
  assert_int_equal(i1->created_ms, -1);
  assert_int_equal(i1->updated_ms, -1);
  assert_int_equal(i1->started_ms, -1);
  assert_string_equal(i1->latest_update, "");
  assert_int_equal(i1->n_components, 0);
  assert_null(i1->component_ids);
  /* It names no component (its list was a string): it counts as affecting watched. */
  assert_true(i1->affects_watched);
  assert_string_equal(i2->latest_update, "line one two");
  assert_int_equal(i2->n_components, 2);
  assert_true(has_component(i2, "xyz"));
  assert_true(has_component(i2, "abc"));
  /* "abc" carries the watched name: a name in the watch list matches affected entries too. */
  assert_true(i2->affects_watched);
  assert_non_null(strstr(err, "2 incident(s) skipped"));
  assert_non_null(strstr(err, "unparsable time"));
  /* i1 is minor-less (unknown impact) and i2 minor: minor is worse than unknown. */
  assert_ptr_equal(statuspage_worst_incident(&s), i2);
  status_snapshot_free(&s);

  /* The top level refuses what it cannot work without. */
  assert_int_equal(parse_str("{\"components\":{\"id\":\"a\"}}", NULL, 0, &s, err, sizeof(err)),
                   UTIL_EPARSE);
  assert_non_null(strstr(err, "\"components\" is an object, not an array"));
  assert_empty_failed(&s, err);
  assert_int_equal(parse_str("{\"components\":null}", NULL, 0, &s, err, sizeof(err)), UTIL_EPARSE);
  assert_non_null(strstr(err, "no \"components\" array: not a Statuspage summary.json"));
  assert_empty_failed(&s, err);
}

static void test_not_json(void **state) {
  (void)state;
  struct status_snapshot s;
  char err[256];
  const struct {
    const char *body;
    size_t len;
    const char *want;
  } cases[] = {
      {NULL, 0, "empty body"},
      {"", 0, "empty body"},
      {" \r\n\t ", 5, "empty body"},
      {"<!DOCTYPE html><html><head><title>502 Bad Gateway</title>", 57, "looks like HTML"},
      {"Service Unavailable", 19, "not JSON"},
      {"[1,2,3]", 7, "the JSON is an array, not an object"},
      {"null", 4, "the JSON is null, not an object"},
      {"\"components\"", 12, "the JSON is a string, not an object"},
      {"{\"components\":[]} {}", 20, "unexpected data after the document"},
      {"{\"components\":[]}\0", 18, "unexpected data after the document"},
      {"{\"components\":[", 15, "truncated JSON"},
      {"{\"components\":[{\"id\":\"abc\\", 26, "truncated JSON"},
  };
  for (size_t i = 0; i < UTIL_ARRAY_LEN(cases); i++) {
    assert_int_equal(
        statuspage_parse(cases[i].body, cases[i].len, watch_api, 1, NOW_MS, &s, err, sizeof(err)),
        UTIL_EPARSE);
    if (!strstr(err, cases[i].want))
      fail_msg("case %zu: err \"%s\" lacks \"%s\"", i, err, cases[i].want);
    assert_empty_failed(&s, err);
    status_snapshot_free(&s);
  }
  /* err may be omitted; a tiny err buffer is truncated, not overrun. */
  assert_int_equal(statuspage_parse("x", 1, NULL, 0, NOW_MS, &s, NULL, 0), UTIL_EPARSE);
  assert_true(s.error[0] != '\0');
  char small[8];
  assert_int_equal(statuspage_parse("x", 1, NULL, 0, NOW_MS, &s, small, sizeof(small)),
                   UTIL_EPARSE);
  assert_int_equal(strlen(small), 7);
}

/* Every 97th byte of every summary fixture: each prefix is refused with a reason, leaves an
 * empty snapshot, and (under ASan) reads nothing past its length and leaks nothing. */
static void test_truncated_every_97th_byte(void **state) {
  (void)state;
  const char *names[] = {"anthropic_summary_operational_2026-09-04_trimmed.json",
                         "statuspage_github_summary_incident_2022-11-25.json",
                         "anthropic_status_json_2026-08-09.json"};
  size_t cuts = 0, truncated = 0;
  for (size_t f = 0; f < UTIL_ARRAY_LEN(names); f++) {
    size_t len;
    char *body = read_fixture(names[f], &len);
    for (size_t cut = 97; cut < len; cut += 97) {
      char *prefix = xmalloc(cut); /* exactly cut bytes: no NUL to lean on */
      memcpy(prefix, body, cut);
      struct status_snapshot s;
      char err[256];
      int rc = statuspage_parse(prefix, cut, watch_api, 1, NOW_MS, &s, err, sizeof(err));
      if (rc != UTIL_EPARSE) fail_msg("%s cut at %zu: rc %d", names[f], cut, rc);
      if (!strstr(err, "JSON")) fail_msg("%s cut at %zu: err \"%s\"", names[f], cut, err);
      truncated += strstr(err, "truncated") != NULL;
      assert_empty_failed(&s, err);
      status_snapshot_free(&s);
      free(prefix);
      cuts++;
    }
    free(body);
  }
  assert_true(cuts > 100);
  /* Nearly all cuts must be recognised as truncations (a cut inside a literal such as
   * "tru" may read as malformed near the end, which also says so). */
  if (truncated < cuts)
    fail_msg("%zu of %zu cuts not reported as truncated", cuts - truncated, cuts);
}

/* build_page writes a summary with n components; component i has status statuses[i % k]. */
static char *build_page(size_t n, const char *const *statuses, size_t k, size_t *len) {
  size_t cap = 256 + n * 128, o = 0;
  char *buf = xmalloc(cap);
  o += (size_t)snprintf(buf + o, cap - o,
                        "{\"page\":{\"updated_at\":\"2026-09-04T10:12:13.456Z\"},"
                        "\"status\":{\"indicator\":\"minor\",\"description\":\"x\"},"
                        "\"components\":[");
  for (size_t i = 0; i < n; i++)
    o += (size_t)snprintf(buf + o, cap - o,
                          "%s{\"id\":\"c%011zu\",\"name\":\"Component %zu\",\"status\":\"%s\","
                          "\"group\":false,\"group_id\":null}",
                          i ? "," : "", i, i, statuses[i % k]);
  o += (size_t)snprintf(buf + o, cap - o, "],\"incidents\":[],\"scheduled_maintenances\":[]}");
  assert_true(o < cap);
  *len = o;
  return buf;
}

static void test_ten_thousand_components(void **state) {
  (void)state;
  const char *const a[] = {"operational"};
  const char *const b[] = {"operational", "degraded_performance"};
  size_t len_a, len_b;
  char *page_a = build_page(10000, a, 1, &len_a);
  char *page_b = build_page(10000, b, 2, &len_b);
  const char *const watch[] = {"c00000009999", "COMPONENT 42"};
  struct status_snapshot sa, sb;
  char err[256];
  int64_t t0 = util_mono_ms();
  assert_int_equal(statuspage_parse(page_a, len_a, watch, 2, NOW_MS, &sa, err, sizeof(err)), 0);
  assert_int_equal(statuspage_parse(page_b, len_b, watch, 2, NOW_MS + 1, &sb, err, sizeof(err)), 0);
  size_t total = statuspage_diff(&sa, &sb, NULL, 0);
  int64_t elapsed = util_mono_ms() - t0;
  assert_int_equal(sa.n_components, 10000);
  size_t watched = 0;
  for (size_t i = 0; i < sa.n_components; i++)
    watched += sa.components[i].watched;
  assert_int_equal(watched, 2);
  assert_true(sa.components[9999].watched);
  assert_true(sa.components[42].watched);
  assert_false(statuspage_watched_degraded(&sa));
  assert_true(statuspage_watched_degraded(&sb)); /* component 9999 is odd: degraded */
  assert_int_equal(total, 5000);
  /* Generous for a loaded machine under sanitizers; a quadratic diff takes far longer. */
  /* Timing is reported, never asserted: speed belongs to benchmarks, not unit tests. */
  print_message("two parses and a diff of 10k components: %lld ms\n", (long long)elapsed);
  status_snapshot_free(&sa);
  status_snapshot_free(&sb);
  free(page_a);
  free(page_b);
}

#define ANTHROPIC_COMPONENTS                                                                       \
  "\"components\":[{\"id\":\"rwppv331jlwc\",\"name\":\"claude.ai\",\"status\":\"operational\"},"   \
  "{\"id\":\"" API_ID "\",\"name\":\"Claude API (api.anthropic.com)\",\"status\":\"@1\"}]"

static void test_maintenance_on_api(void **state) {
  (void)state;
  struct status_snapshot s;
  char err[256];
  char json[2048];
  const char *maint =
      "{\"status\":{\"indicator\":\"maintenance\",\"description\":\"Service Under "
      "Maintenance\"}," ANTHROPIC_COMPONENTS ",\"incidents\":[],\"scheduled_maintenances\":["
      "{\"id\":\"m1\",\"name\":\"API database upgrade\",\"status\":\"@2\","
      "\"impact\":\"maintenance\",\"shortlink\":\"https://stspg.io/m1\","
      "\"created_at\":\"2026-09-01T09:00:00.000Z\",\"updated_at\":\"2026-09-04T10:00:01.000Z\","
      "\"started_at\":\"2026-09-04T10:00:00.000Z\","
      "\"scheduled_for\":\"2026-09-04T10:00:00.000+00:00\","
      "\"scheduled_until\":\"2022-11-25T17:13:05.207-05:00\","
      "\"incident_updates\":[{\"body\":\"The scheduled maintenance is in progress.\","
      "\"created_at\":\"2026-09-04T10:00:01.000Z\",\"affected_components\":null}],"
      "\"components\":[{\"id\":\"" API_ID "\",\"name\":\"Claude API (api.anthropic.com)\"}]},"
      "{\"id\":\"m2\",\"name\":\"claude.ai upgrade\",\"status\":\"scheduled\","
      "\"impact\":\"maintenance\",\"scheduled_for\":\"2026-09-10T10:00:00Z\","
      "\"components\":[{\"id\":\"rwppv331jlwc\",\"name\":\"claude.ai\"}]},"
      "{\"id\":\"m3\",\"name\":\"done\",\"status\":\"completed\"}]}";

  fill(json, sizeof(json), maint, "under_maintenance", "in_progress");
  assert_int_equal(parse_str(json, watch_api, 1, &s, err, sizeof(err)), 0);
  assert_string_equal(err, "");
  assert_int_equal(s.indicator, INDICATOR_MAINTENANCE);
  assert_int_equal(s.n_maintenances, 2); /* m3 is completed: not listed */
  const struct status_incident *m1 = &s.maintenances[0];
  assert_string_equal(m1->id, "m1");
  assert_string_equal(m1->status, "in_progress");
  assert_int_equal(m1->impact, INDICATOR_MAINTENANCE);
  assert_int_equal(m1->scheduled_for_ms, t("2026-09-04T10:00:00Z"));
  /* A -05:00 offset: 17:13:05.207 there is 22:13:05.207 UTC. */
  assert_int_equal(m1->scheduled_until_ms, t("2022-11-25T22:13:05.207Z"));
  assert_int_equal(m1->started_ms, t("2026-09-04T10:00:00Z"));
  assert_string_equal(m1->latest_update, "The scheduled maintenance is in progress.");
  assert_true(m1->affects_watched);
  assert_false(s.maintenances[1].affects_watched);
  assert_true(statuspage_maintenance_in_progress(&s));
  /* Under maintenance is not degraded, and maintenances are not incidents. */
  assert_false(statuspage_watched_degraded(&s));
  assert_null(statuspage_worst_incident(&s));
  status_snapshot_free(&s);

  /* Verifying still counts; the component alone being under maintenance counts too. */
  fill(json, sizeof(json), maint, "operational", "verifying");
  assert_int_equal(parse_str(json, watch_api, 1, &s, err, sizeof(err)), 0);
  assert_true(statuspage_maintenance_in_progress(&s));
  status_snapshot_free(&s);
  fill(json, sizeof(json), maint, "under_maintenance", "scheduled");
  assert_int_equal(parse_str(json, watch_api, 1, &s, err, sizeof(err)), 0);
  assert_true(statuspage_maintenance_in_progress(&s));
  status_snapshot_free(&s);

  /* Only scheduled: nothing in progress yet. */
  fill(json, sizeof(json), maint, "operational", "scheduled");
  assert_int_equal(parse_str(json, watch_api, 1, &s, err, sizeof(err)), 0);
  assert_false(statuspage_maintenance_in_progress(&s));
  status_snapshot_free(&s);

  /* In progress, but on claude.ai only: not ours. */
  const char *const watch_other[] = {"rwppv331jlwc"};
  fill(json, sizeof(json), maint, "under_maintenance", "in_progress");
  assert_int_equal(parse_str(json, watch_other, 1, &s, err, sizeof(err)), 0);
  assert_false(s.maintenances[0].affects_watched);
  assert_false(statuspage_maintenance_in_progress(&s));
  status_snapshot_free(&s);
}

static void test_incident_watched_or_not(void **state) {
  (void)state;
  struct status_snapshot s;
  char err[256];
  char json[4096];
  const char *page =
      "{\"status\":{\"indicator\":\"major\"}," ANTHROPIC_COMPONENTS ",\"incidents\":["
      "{\"id\":\"ai\",\"name\":\"claude.ai down\",\"status\":\"investigating\","
      "\"impact\":\"critical\",\"started_at\":\"2026-09-04T09:00:00Z\","
      "\"components\":[{\"id\":\"rwppv331jlwc\",\"name\":\"claude.ai\"}]}"
      "@2]}";
  /* Only an incident on claude.ai, which we do not watch. */
  fill(json, sizeof(json), page, "operational", "");
  assert_int_equal(parse_str(json, watch_api, 1, &s, err, sizeof(err)), 0);
  assert_int_equal(s.n_incidents, 1);
  assert_false(s.incidents[0].affects_watched);
  assert_null(statuspage_worst_incident(&s));
  assert_false(statuspage_watched_degraded(&s));
  status_snapshot_free(&s);

  /* Add: a minor API incident, a major one naming no component (counts as ours), a second
   * major one that started earlier (wins the tie), a resolved one (dropped). */
  fill(json, sizeof(json), page, "partial_outage",
       ",{\"id\":\"api-minor\",\"status\":\"identified\",\"impact\":\"minor\","
       "\"components\":[{\"id\":\"" API_ID "\"}]},"
       "{\"id\":\"nocomp\",\"status\":\"investigating\",\"impact\":\"major\","
       "\"started_at\":\"2026-09-04T10:00:00Z\",\"components\":[]},"
       "{\"id\":\"api-major\",\"status\":\"monitoring\",\"impact\":\"major\","
       "\"started_at\":\"2026-09-04T08:00:00Z\","
       "\"components\":[],\"incident_updates\":[{\"body\":\"b\",\"affected_components\":"
       "[{\"code\":\"" API_ID "\",\"name\":\"Claude API (api.anthropic.com)\"}]}]},"
       "{\"id\":\"old\",\"status\":\"resolved\",\"impact\":\"critical\"}");
  assert_int_equal(parse_str(json, watch_api, 1, &s, err, sizeof(err)), 0);
  assert_int_equal(s.n_incidents, 4);
  assert_false(s.incidents[0].affects_watched);
  assert_true(s.incidents[1].affects_watched);
  assert_true(s.incidents[2].affects_watched);
  assert_int_equal(s.incidents[2].n_components, 0);
  assert_true(s.incidents[3].affects_watched);
  assert_true(has_component(&s.incidents[3], API_ID));
  const struct status_incident *worst = statuspage_worst_incident(&s);
  assert_non_null(worst);
  assert_string_equal(worst->id, "api-major");
  assert_true(statuspage_watched_degraded(&s));
  status_snapshot_free(&s);
}

/* Affected components: the union of incident.components and the newest update that lists
 * any, newest by time whatever the order of the list. */
static void test_newest_update(void **state) {
  (void)state;
  struct status_snapshot s;
  char err[256];
  const char *json = "{\"components\":[],\"incidents\":[{\"id\":\"i\",\"status\":\"investigating\","
                     "\"components\":[{\"id\":\"a\"},{\"id\":\"a\"}],\"incident_updates\":["
                     "{\"body\":\"first\",\"created_at\":\"2026-09-04T10:00:00Z\","
                     "\"affected_components\":[{\"code\":\"old\"}]},"
                     "{\"body\":\"second\",\"created_at\":\"2026-09-04T10:05:00Z\","
                     "\"affected_components\":[{\"code\":\"b\"},{\"code\":\"a\"}]},"
                     "{\"body\":\"third\",\"created_at\":\"2026-09-04T10:10:00Z\","
                     "\"affected_components\":null}]}]}";
  assert_int_equal(parse_str(json, NULL, 0, &s, err, sizeof(err)), 0);
  assert_int_equal(s.n_incidents, 1);
  assert_string_equal(s.incidents[0].latest_update, "third");
  assert_int_equal(s.incidents[0].n_components, 2);
  assert_true(has_component(&s.incidents[0], "a"));
  assert_true(has_component(&s.incidents[0], "b"));
  assert_false(has_component(&s.incidents[0], "old"));
  /* Nothing watched: even a component-less incident affects nothing watched. */
  assert_false(s.incidents[0].affects_watched);
  status_snapshot_free(&s);
}

static void test_groups_and_sanitising(void **state) {
  (void)state;
  struct status_snapshot s;
  char err[256];
  const char *json =
      "{\"components\":["
      "{\"id\":\"g1\",\"name\":\"API group\",\"status\":\"operational\",\"components\":[\"m1\"]},"
      "{\"id\":\"m1\",\"name\":\"Member\\r\\nInjected: yes\",\"status\":\"partial_outage\","
      "\"group_id\":\"g1\"},"
      "{\"id\":\"x1\",\"name\":\"Outside\",\"status\":\"major_outage\"},"
      "{\"id\":\"\\u0001\\u0002\",\"name\":\"control-only id\"}]}";
  const char *const watch[] = {"api GROUP"};
  assert_int_equal(parse_str(json, watch, 1, &s, err, sizeof(err)), 0);
  assert_int_equal(s.n_components, 3);
  assert_true(s.components[0].is_group); /* no "group" field: its member list says so */
  assert_true(s.components[0].watched);
  assert_true(s.components[1].watched); /* a member of a watched group */
  assert_string_equal(s.components[1].group_id, "g1");
  assert_string_equal(s.components[1].name, "Member Injected: yes");
  assert_false(s.components[2].watched);
  assert_true(statuspage_watched_degraded(&s));
  assert_non_null(strstr(err, "1 component(s) skipped"));
  status_snapshot_free(&s);
}

/* Duplicate ids keep the first; a page built to be slow (one incident naming 200,000
 * components, all watched-looking) stays fast: matching is n log n. */
static void test_duplicates_and_hostile_sizes(void **state) {
  (void)state;
  struct status_snapshot s;
  char err[256];
  const char *json =
      "{\"components\":[{\"id\":\"a\",\"name\":\"First\",\"status\":\"operational\"},"
      "{\"id\":\"b\",\"status\":\"operational\"},"
      "{\"id\":\"a\",\"name\":\"Second\",\"status\":\"major_outage\"}],"
      "\"incidents\":[{\"id\":\"i\",\"name\":\"one\",\"components\":[\"a\",\"b\",\"a\"]},"
      "{\"id\":\"i\",\"name\":\"two\"}]}";
  const char *const watch[] = {"a"};
  assert_int_equal(parse_str(json, watch, 1, &s, err, sizeof(err)), 0);
  assert_int_equal(s.n_components, 2);
  assert_string_equal(s.components[0].name, "First");
  assert_int_equal(s.components[0].status, COMPONENT_OPERATIONAL);
  assert_string_equal(s.components[1].id, "b");
  assert_int_equal(s.n_incidents, 1);
  assert_string_equal(s.incidents[0].name, "one");
  assert_int_equal(s.incidents[0].n_components, 2);
  assert_non_null(strstr(err, "2 duplicate id(s) dropped"));
  assert_int_equal(statuspage_diff(&s, &s, NULL, 0), 0);
  status_snapshot_free(&s);

  size_t n = 200000, cap = 64 + n * 16, o = 0;
  char *big = xmalloc(cap);
  o += (size_t)snprintf(big + o, cap - o,
                        "{\"components\":[],\"incidents\":[{\"id\":\"i\","
                        "\"components\":[");
  for (size_t i = 0; i < n; i++)
    o += (size_t)snprintf(big + o, cap - o, "%s\"c%zu\"", i ? "," : "", i % (n / 2));
  o += (size_t)snprintf(big + o, cap - o, "]}]}");
  assert_true(o < cap);
  int64_t t0 = util_mono_ms();
  assert_int_equal(statuspage_parse(big, o, watch, 1, NOW_MS, &s, err, sizeof(err)), 0);
  assert_int_equal(statuspage_diff(&s, &s, NULL, 0), 0);
  int64_t elapsed = util_mono_ms() - t0;
  assert_int_equal(s.incidents[0].n_components, n / 2);
  assert_false(s.incidents[0].affects_watched);
  print_message("200,000 affected components: %lld ms\n", (long long)elapsed);
  status_snapshot_free(&s);
  free(big);
}

static void test_carry_over_failed_poll(void **state) {
  (void)state;
  size_t len;
  char *body = read_fixture("statuspage_github_summary_incident_2022-11-25.json", &len);
  const char *const watch[] = {"Packages"};
  struct status_snapshot cur, failed, before;
  char err[256];
  assert_int_equal(statuspage_parse(body, len, watch, 1, NOW_MS, &cur, err, sizeof(err)), 0);
  status_snapshot_copy(&before, &cur);

  /* A transfer failure a minute later. */
  statuspage_failed(&failed, NOW_MS + 60000, "HTTP 503 from status.claude.com");
  statuspage_carry(&cur, &failed);
  status_snapshot_free(&failed);
  assert_false(cur.reachable);
  assert_string_equal(cur.error, "HTTP 503 from status.claude.com");
  assert_int_equal(cur.polled_ms, NOW_MS + 60000);
  assert_int_equal(cur.fetched_ms, NOW_MS); /* the data's age stays visible */
  assert_int_equal(cur.indicator, INDICATOR_MINOR);
  assert_int_equal(cur.n_components, 11);
  assert_int_equal(cur.n_incidents, 1);
  assert_string_equal(cur.incidents[0].id, "ljwdk6qml8z8");
  assert_true(statuspage_watched_degraded(&cur));
  assert_non_null(statuspage_worst_incident(&cur));
  /* A failed poll is no change in the page: the incident is not "resolved". */
  assert_int_equal(statuspage_diff(&before, &cur, NULL, 0), 0);

  /* A garbage body two minutes later: parse's own failed snapshot carries the same way. */
  assert_int_equal(
      statuspage_parse("<html>", 6, watch, 1, NOW_MS + 120000, &failed, err, sizeof(err)),
      UTIL_EPARSE);
  statuspage_carry(&cur, &failed);
  assert_int_equal(statuspage_diff(&before, &failed, NULL, 0), 0);
  status_snapshot_free(&failed);
  assert_int_equal(cur.polled_ms, NOW_MS + 120000);
  assert_int_equal(cur.fetched_ms, NOW_MS);
  assert_string_equal(cur.error, err);
  assert_int_equal(cur.n_incidents, 1);

  /* Carrying onto a never-polled snapshot leaves it without data, unreachable. */
  struct status_snapshot none;
  status_snapshot_init(&none);
  statuspage_failed(&failed, NOW_MS, "");
  statuspage_carry(&none, &failed);
  assert_false(none.reachable);
  assert_int_equal(none.fetched_ms, -1);
  assert_string_equal(none.error, "status page poll failed");
  assert_null(statuspage_worst_incident(&none));
  status_snapshot_free(&failed);
  status_snapshot_free(&none);

  /* The next good poll replaces the snapshot; its diff against the carried one is real. */
  struct status_snapshot next;
  assert_int_equal(
      parse_str("{\"status\":{\"indicator\":\"none\"},\"components\":[],\"incidents\":[]}", watch,
                1, &next, err, sizeof(err)),
      0);
  struct statuspage_change ch[32];
  size_t n = statuspage_diff(&cur, &next, ch, 32);
  assert_int_equal(n, 1 + 11 + 1); /* indicator, 11 components removed, incident resolved */
  assert_int_equal(ch[n - 1].kind, STATUSPAGE_CHANGE_INCIDENT_RESOLVED);
  status_snapshot_free(&cur);
  cur = next; /* move */
  assert_true(cur.reachable);
  status_snapshot_free(&cur);
  status_snapshot_free(&before);
  free(body);
}

static bool has_change(const struct statuspage_change *v, size_t n,
                       enum statuspage_change_kind kind, const char *id) {
  for (size_t i = 0; i < n; i++)
    if (v[i].kind == kind && strcmp(v[i].id, id) == 0) return true;
  return false;
}

/* find_change fails the test when the change is missing (and never returns NULL). */
static const struct statuspage_change *find_change(const struct statuspage_change *v, size_t n,
                                                   enum statuspage_change_kind kind,
                                                   const char *id) {
  static const struct statuspage_change missing;
  for (size_t i = 0; i < n; i++)
    if (v[i].kind == kind && strcmp(v[i].id, id) == 0) return &v[i];
  fail_msg("no %s change for %s", statuspage_change_kind_name(kind), id);
  return &missing;
}

static void test_diff(void **state) {
  (void)state;
  const char *old_json =
      "{\"page\":{\"updated_at\":\"2026-09-04T10:00:00Z\"},\"status\":{\"indicator\":\"minor\"},"
      "\"components\":["
      "{\"id\":\"" API_ID "\",\"name\":\"Claude API\",\"status\":\"degraded_performance\","
      "\"updated_at\":\"2026-09-04T09:58:00Z\"},"
      "{\"id\":\"rwppv331jlwc\",\"name\":\"claude.ai\",\"status\":\"operational\"},"
      "{\"id\":\"gone\",\"name\":\"Retired\",\"status\":\"operational\"}],"
      "\"incidents\":["
      "{\"id\":\"inc1\",\"name\":\"Elevated errors\",\"status\":\"investigating\","
      "\"impact\":\"minor\",\"created_at\":\"2026-09-04T09:57:00Z\","
      "\"updated_at\":\"2026-09-04T09:57:00Z\",\"components\":[{\"id\":\"" API_ID "\"}]},"
      "{\"id\":\"inc2\",\"name\":\"Login issues\",\"status\":\"monitoring\",\"impact\":\"minor\","
      "\"updated_at\":\"2026-09-04T09:30:00Z\",\"components\":[{\"id\":\"rwppv331jlwc\"}]},"
      "{\"id\":\"same\",\"name\":\"Unchanged\",\"status\":\"investigating\",\"impact\":\"none\","
      "\"updated_at\":\"2026-09-04T09:00:00Z\",\"components\":[{\"id\":\"rwppv331jlwc\"}]}],"
      "\"scheduled_maintenances\":[{\"id\":\"m1\",\"name\":\"Upgrade\",\"status\":\"scheduled\","
      "\"impact\":\"maintenance\",\"updated_at\":\"2026-09-01T00:00:00Z\"}]}";
  const char *new_json =
      "{\"page\":{\"updated_at\":\"2026-09-04T10:05:00Z\"},\"status\":{\"indicator\":\"major\"},"
      "\"components\":["
      "{\"id\":\"" API_ID "\",\"name\":\"Claude API\",\"status\":\"major_outage\","
      "\"updated_at\":\"2026-09-04T10:04:00Z\"},"
      "{\"id\":\"rwppv331jlwc\",\"name\":\"claude.ai\",\"status\":\"operational\"},"
      "{\"id\":\"fresh\",\"name\":\"New thing\",\"status\":\"operational\"}],"
      "\"incidents\":["
      "{\"id\":\"inc1\",\"name\":\"Elevated errors\",\"status\":\"identified\","
      "\"impact\":\"major\",\"created_at\":\"2026-09-04T09:57:00Z\","
      "\"updated_at\":\"2026-09-04T10:03:00Z\",\"components\":[{\"id\":\"" API_ID "\"}]},"
      "{\"id\":\"same\",\"name\":\"Unchanged\",\"status\":\"investigating\",\"impact\":\"none\","
      "\"updated_at\":\"2026-09-04T09:00:00Z\",\"components\":[{\"id\":\"rwppv331jlwc\"}]},"
      "{\"id\":\"inc3\",\"name\":\"Console slow\",\"status\":\"investigating\","
      "\"impact\":\"minor\",\"created_at\":\"2026-09-04T10:01:00Z\"}],"
      "\"scheduled_maintenances\":[]}";
  struct status_snapshot old, new, empty;
  char err[256];
  assert_int_equal(parse_str(old_json, watch_api, 1, &old, err, sizeof(err)), 0);
  assert_int_equal(statuspage_parse(new_json, strlen(new_json), watch_api, 1, NOW_MS + 60000, &new,
                                    err, sizeof(err)),
                   0);
  struct statuspage_change ch[16];
  size_t n = statuspage_diff(&old, &new, ch, UTIL_ARRAY_LEN(ch));
  /* indicator; API status; fresh added; gone removed; inc1 updated; inc3 opened; inc2
   * resolved; m1 resolved (ended). */
  assert_int_equal(n, 8);
  assert_int_equal(ch[0].kind, STATUSPAGE_CHANGE_INDICATOR);
  assert_int_equal(ch[0].indicator_from, INDICATOR_MINOR);
  assert_int_equal(ch[0].indicator_to, INDICATOR_MAJOR);
  assert_int_equal(ch[0].at_ms, t("2026-09-04T10:05:00Z"));

  const struct statuspage_change *c;
  c = find_change(ch, n, STATUSPAGE_CHANGE_COMPONENT_STATUS, API_ID);
  assert_int_equal(c->from, COMPONENT_DEGRADED_PERFORMANCE);
  assert_int_equal(c->to, COMPONENT_MAJOR_OUTAGE);
  assert_true(c->watched);
  assert_string_equal(c->name, "Claude API");
  assert_int_equal(c->at_ms, t("2026-09-04T10:04:00Z")); /* the component's own time */
  c = find_change(ch, n, STATUSPAGE_CHANGE_COMPONENT_ADDED, "fresh");
  assert_int_equal(c->to, COMPONENT_OPERATIONAL);
  assert_false(c->watched);
  assert_int_equal(c->at_ms, t("2026-09-04T10:05:00Z")); /* no own time: the page's */
  c = find_change(ch, n, STATUSPAGE_CHANGE_COMPONENT_REMOVED, "gone");
  assert_int_equal(c->from, COMPONENT_OPERATIONAL);
  assert_false(has_change(ch, n, STATUSPAGE_CHANGE_COMPONENT_STATUS, "rwppv331jlwc"));

  c = find_change(ch, n, STATUSPAGE_CHANGE_INCIDENT_UPDATED, "inc1");
  assert_string_equal(c->status, "identified");
  assert_int_equal(c->impact, INDICATOR_MAJOR);
  assert_true(c->watched);
  assert_false(c->maintenance);
  assert_int_equal(c->at_ms, t("2026-09-04T10:03:00Z"));
  assert_ptr_equal(c->incident, &new.incidents[0]);
  c = find_change(ch, n, STATUSPAGE_CHANGE_INCIDENT_OPENED, "inc3");
  assert_int_equal(c->at_ms, t("2026-09-04T10:01:00Z"));
  assert_true(c->watched); /* names no component */
  c = find_change(ch, n, STATUSPAGE_CHANGE_INCIDENT_RESOLVED, "inc2");
  assert_string_equal(c->status, "monitoring"); /* the last status seen */
  assert_false(c->watched);
  assert_ptr_equal(c->incident, &old.incidents[1]);
  assert_int_equal(c->at_ms, t("2026-09-04T10:05:00Z"));
  c = find_change(ch, n, STATUSPAGE_CHANGE_INCIDENT_RESOLVED, "m1");
  assert_true(c->maintenance);
  assert_false(has_change(ch, n, STATUSPAGE_CHANGE_INCIDENT_UPDATED, "same"));
  assert_string_equal(statuspage_change_kind_name(STATUSPAGE_CHANGE_INCIDENT_RESOLVED),
                      "incident_resolved");
  assert_string_equal(statuspage_change_kind_name((enum statuspage_change_kind)99), "unknown");

  /* Fewer slots than changes: the total is returned, nothing written past max. */
  struct statuspage_change few[4];
  memset(few, 0x5a, sizeof(few));
  assert_int_equal(statuspage_diff(&old, &new, few, 3), 8);
  assert_int_equal(few[0].kind, STATUSPAGE_CHANGE_INDICATOR);
  unsigned char *guard = (unsigned char *)&few[3];
  for (size_t i = 0; i < sizeof(few[3]); i++)
    assert_int_equal(guard[i], 0x5a);

  /* No change against itself. */
  assert_int_equal(statuspage_diff(&new, &new, ch, UTIL_ARRAY_LEN(ch)), 0);

  /* The first poll after start: a baseline, everything added or opened. */
  status_snapshot_init(&empty);
  n = statuspage_diff(&empty, &old, ch, UTIL_ARRAY_LEN(ch));
  assert_int_equal(n, 1 + 3 + 3 + 1);
  assert_int_equal(ch[0].kind, STATUSPAGE_CHANGE_INDICATOR);
  assert_int_equal(ch[0].indicator_from, INDICATOR_UNKNOWN);
  assert_int_equal(ch[1].kind, STATUSPAGE_CHANGE_COMPONENT_ADDED);
  assert_int_equal(ch[1].to, COMPONENT_DEGRADED_PERFORMANCE);
  assert_int_equal(ch[7].kind, STATUSPAGE_CHANGE_INCIDENT_OPENED);
  assert_true(ch[7].maintenance);

  status_snapshot_free(&old);
  status_snapshot_free(&new);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_anthropic_trimmed),
      cmocka_unit_test(test_github_incident),
      cmocka_unit_test(test_status_json_refused),
      cmocka_unit_test(test_unknown_values),
      cmocka_unit_test(test_wrong_types),
      cmocka_unit_test(test_not_json),
      cmocka_unit_test(test_truncated_every_97th_byte),
      cmocka_unit_test(test_ten_thousand_components),
      cmocka_unit_test(test_maintenance_on_api),
      cmocka_unit_test(test_incident_watched_or_not),
      cmocka_unit_test(test_newest_update),
      cmocka_unit_test(test_groups_and_sanitising),
      cmocka_unit_test(test_duplicates_and_hostile_sizes),
      cmocka_unit_test(test_carry_over_failed_poll),
      cmocka_unit_test(test_diff),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
