/* Tests of exporters/metrics.c: the text exposition (HELP and TYPE for every family, no
 * timestamps, label escaping, StateSets), the per-key series of full and minimal mode,
 * counters that appear when first non-zero, histograms, redaction of anything key- or
 * URL-shaped, and the render of 1,000 keys. */
#include "agent/log.h"
#include "agent/model.h"
#include "agent/util.h"
#include "exporters/metrics.h"

#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

/* noinline: GCC 12 at -O3 inlines this and then mistakes the returned buffer for a pointer
 * to the local `out` (-Wdangling-pointer false positive). */
__attribute__((noinline)) static char *render(struct metrics *m) {
  char *out = NULL;
  size_t len = 0;
  assert_int_equal(metrics_render(m, &out, &len), 0);
  assert_non_null(out);
  assert_int_equal(strlen(out), len);
  return out;
}

/* has_line: text holds exactly this line. */
static bool has_line(const char *text, const char *line) {
  size_t n = strlen(line);
  for (const char *p = text; (p = strstr(p, line)) != NULL; p++)
    if ((p == text || p[-1] == '\n') && p[n] == '\n') return true;
  return false;
}

#define assert_line(text, line)                                                                    \
  do {                                                                                             \
    if (!has_line((text), (line))) fail_msg("missing line: %s", (line));                           \
  } while (0)
#define assert_no_line(text, line)                                                                 \
  do {                                                                                             \
    if (has_line((text), (line))) fail_msg("unexpected line: %s", (line));                         \
  } while (0)

/* count_samples counts sample lines whose text starts with prefix. */
static size_t count_samples(const char *text, const char *prefix) {
  size_t n = 0, plen = strlen(prefix);
  for (const char *p = text; *p;) {
    if (strncmp(p, prefix, plen) == 0) n++;
    const char *nl = strchr(p, '\n');
    if (!nl) break;
    p = nl + 1;
  }
  return n;
}

static size_t count_all_samples(const char *text) {
  size_t n = 0;
  for (const char *p = text; *p;) {
    if (*p != '#') n++;
    const char *nl = strchr(p, '\n');
    if (!nl) break;
    p = nl + 1;
  }
  return n;
}

/* check_exposition parses the text as the 0.0.4 format and fails on: a sample of a family
 * without HELP and TYPE before it, a family declared twice or split, a label value not
 * properly quoted or escaped, a timestamp (anything after the value), a value that is not
 * a number, a missing final newline. Returns the number of samples. */
static size_t check_exposition(const char *text) {
  char family[128] = "", type[16] = "", help_for[128] = "";
  char seen[128][128];
  size_t n_seen = 0, samples = 0;
  size_t len = strlen(text);
  assert_true(len > 0 && text[len - 1] == '\n');
  for (const char *line = text; *line;) {
    const char *nl = strchr(line, '\n');
    size_t ll = (size_t)(nl - line);
    char buf[4096];
    assert_true(ll < sizeof(buf));
    memcpy(buf, line, ll);
    buf[ll] = '\0';
    line = nl + 1;
    char name[128];
    if (strncmp(buf, "# HELP ", 7) == 0) {
      assert_int_equal(sscanf(buf + 7, "%127s", help_for), 1);
      for (size_t i = 0; i < n_seen; i++)
        if (strcmp(seen[i], help_for) == 0) fail_msg("family declared twice: %s", help_for);
      assert_true(n_seen < 128);
      strcpy(seen[n_seen++], help_for);
      assert_true(strlen(buf) > 8 + strlen(help_for)); /* a text follows */
      continue;
    }
    if (strncmp(buf, "# TYPE ", 7) == 0) {
      assert_int_equal(sscanf(buf + 7, "%127s %15s", family, type), 2);
      if (strcmp(family, help_for) != 0) fail_msg("TYPE without HELP: %s", buf);
      if (strcmp(type, "gauge") && strcmp(type, "counter") && strcmp(type, "histogram"))
        fail_msg("bad type: %s", buf);
      continue;
    }
    if (buf[0] == '#') fail_msg("stray comment: %s", buf);
    /* A sample: name, optional {labels}, one space, a value, nothing else. */
    size_t i = 0;
    while (isalnum((unsigned char)buf[i]) || buf[i] == '_' || buf[i] == ':')
      i++;
    assert_true(i > 0 && i < sizeof(name));
    memcpy(name, buf, i);
    name[i] = '\0';
    bool ok = strcmp(name, family) == 0;
    if (!ok && strcmp(type, "histogram") == 0) {
      size_t fl = strlen(family);
      ok = strncmp(name, family, fl) == 0 &&
           (!strcmp(name + fl, "_bucket") || !strcmp(name + fl, "_sum") ||
            !strcmp(name + fl, "_count"));
    }
    if (!ok) fail_msg("sample outside its family (%s): %s", family, buf);
    if (buf[i] == '{') {
      i++;
      while (buf[i] != '}') {
        size_t start = i;
        while (isalnum((unsigned char)buf[i]) || buf[i] == '_')
          i++;
        if (i == start || buf[i] != '=' || buf[i + 1] != '"') fail_msg("bad label: %s", buf);
        i += 2;
        while (buf[i] != '"') {
          if (buf[i] == '\0') fail_msg("unterminated label value: %s", buf);
          if (buf[i] == '\\') {
            if (buf[i + 1] != '\\' && buf[i + 1] != '"' && buf[i + 1] != 'n')
              fail_msg("bad escape: %s", buf);
            i++;
          }
          i++;
        }
        i++;
        if (buf[i] == ',')
          i++;
        else if (buf[i] != '}')
          fail_msg("bad label list: %s", buf);
      }
      i++;
    }
    if (buf[i] != ' ') fail_msg("no value: %s", buf);
    const char *value = buf + i + 1;
    if (strchr(value, ' ')) fail_msg("a timestamp or junk after the value: %s", buf);
    if (strcmp(value, "+Inf") && strcmp(value, "-Inf") && strcmp(value, "NaN")) {
      char *end;
      strtod(value, &end);
      if (*value == '\0' || *end != '\0') fail_msg("bad value: %s", buf);
    }
    samples++;
  }
  return samples;
}

static const char *const names3[] = {"prod", "staging", "batch"};

static void test_fresh_registry(void **state) {
  (void)state;
  struct metrics *m = metrics_new(3, names3, CONFIG_PER_KEY_FULL);
  char *t = render(m);
  check_exposition(t);
  /* Every contract family is declared. */
  const char *families[] = {"claudemon_key_up",
                            "claudemon_key_failing",
                            "claudemon_key_cause",
                            "claudemon_key_failing_since_timestamp_seconds",
                            "claudemon_key_last_probe_timestamp_seconds",
                            "claudemon_probes_total",
                            "claudemon_probe_duration_seconds",
                            "claudemon_ratelimit_limit",
                            "claudemon_ratelimit_remaining",
                            "claudemon_probe_tokens_total",
                            "claudemon_status_page_up",
                            "claudemon_status_indicator",
                            "claudemon_status_component",
                            "claudemon_status_incidents",
                            "claudemon_verdict",
                            "claudemon_platform_incident",
                            "claudemon_detection_lead_seconds",
                            "claudemon_scheduler_lag_seconds",
                            "claudemon_storage_errors_total",
                            "claudemon_storage_queue_length",
                            "claudemon_alerts_sent_total",
                            "claudemon_build_info",
                            "process_cpu_seconds_total",
                            "process_resident_memory_bytes",
                            "process_open_fds",
                            "process_max_fds",
                            "process_start_time_seconds",
                            "process_virtual_memory_bytes"};
  const char *types[] = {"gauge",     "gauge", "gauge",   "gauge",   "gauge",   "counter",
                         "histogram", "gauge", "gauge",   "counter", "gauge",   "gauge",
                         "gauge",     "gauge", "gauge",   "gauge",   "gauge",   "histogram",
                         "counter",   "gauge", "counter", "gauge",   "counter", "gauge",
                         "gauge",     "gauge", "gauge",   "gauge"};
  for (size_t i = 0; i < UTIL_ARRAY_LEN(families); i++) {
    char line[160];
    snprintf(line, sizeof(line), "# TYPE %s %s", families[i], types[i]);
    assert_line(t, line);
  }
  /* Before any probe: cause unknown, down, not failing; no per-key counters yet. */
  assert_line(t, "claudemon_key_up{key=\"prod\"} 0");
  assert_line(t, "claudemon_key_cause{key=\"prod\",cause=\"unknown\"} 1");
  assert_line(t, "claudemon_key_failing{key=\"batch\"} 0");
  assert_int_equal(count_samples(t, "claudemon_probes_total{"), 0);
  assert_int_equal(count_samples(t, "claudemon_key_failing_since_timestamp_seconds{"), 0);
  assert_int_equal(count_samples(t, "claudemon_key_last_probe_timestamp_seconds{"), 0);
  assert_int_equal(count_samples(t, "claudemon_verdict{"), 0);
  assert_int_equal(count_samples(t, "claudemon_detection_lead_seconds"), 0);
  assert_line(t, "claudemon_status_page_up 0");
  assert_line(t, "claudemon_status_indicator{indicator=\"unknown\"} 1");
  assert_line(t, "claudemon_platform_incident 0");
  assert_line(t, "claudemon_storage_errors_total 0");
  /* process_*: read from /proc and plausible. */
  const char *p = strstr(t, "\nprocess_open_fds ");
  assert_non_null(p);
  assert_true(atoi(p + strlen("\nprocess_open_fds ")) >= 3);
  p = strstr(t, "\nprocess_start_time_seconds ");
  assert_non_null(p);
  double start = strtod(p + strlen("\nprocess_start_time_seconds "), NULL);
  double now = (double)util_now_ms() / 1000.0;
  assert_true(start > now - 3600 && start <= now + 1);
  p = strstr(t, "\nprocess_resident_memory_bytes ");
  assert_non_null(p);
  assert_true(strtod(p + strlen("\nprocess_resident_memory_bytes "), NULL) > 100000);
  /* build_info: the four labels, sqlite from the daemon. */
  assert_non_null(strstr(t, "claudemon_build_info{version=\"" CLAUDEMON_VERSION "\",libcurl=\""));
  assert_non_null(strstr(t, ",sqlite=\"unknown\"} 1\n"));
  metrics_build_info(m, "3.40.1");
  free(t);
  t = render(m);
  assert_non_null(strstr(t, ",sqlite=\"3.40.1\"} 1\n"));
  free(t);
  metrics_free(m);
  metrics_free(NULL);
}

static void test_label_escaping(void **state) {
  (void)state;
  const char *const names[] = {"quo\"te",
                               "back\\slash",
                               "new\nline",
                               "tab\there",
                               "ünïcødé",
                               "bad\xff"
                               "byte"};
  struct metrics *m = metrics_new(6, names, CONFIG_PER_KEY_MINIMAL);
  char *t = render(m);
  check_exposition(t);
  assert_line(t, "claudemon_key_up{key=\"quo\\\"te\"} 0");
  assert_line(t, "claudemon_key_up{key=\"back\\\\slash\"} 0");
  assert_line(t, "claudemon_key_up{key=\"new\\nline\"} 0");
  assert_line(t, "claudemon_key_up{key=\"tab here\"} 0");
  assert_line(t, "claudemon_key_up{key=\"ünïcødé\"} 0");
  assert_line(t, "claudemon_key_up{key=\"bad?byte\"} 0");

  /* Component names come from outside: sanitised, then escaped. */
  struct status_snapshot s;
  status_snapshot_init(&s);
  struct status_component comps[1] = {{.id = "k8w3r06qmzrp",
                                       .name = "API \"v1\" \\ edge",
                                       .status = COMPONENT_OPERATIONAL,
                                       .watched = true}};
  s.components = comps;
  s.n_components = 1;
  s.reachable = true;
  s.indicator = INDICATOR_NONE;
  metrics_status(m, &s);
  free(t);
  t = render(m);
  check_exposition(t);
  assert_line(t, "claudemon_status_component{component_id=\"k8w3r06qmzrp\","
                 "component=\"API \\\"v1\\\" \\\\ edge\",status=\"operational\"} 1");
  free(t);
  metrics_free(m);
}

static void test_no_secrets_in_labels(void **state) {
  (void)state;
  static const char key[] = "sk-ant-api03-Zq8xT2vLk9PmN4rB7wYc1HdF6gJs3KaE5uVoXiQ0lRtM-bnCy_UjWe2"
                            "PzAhGf8DkLq4Sx9NvTm1Ri7Bo3YcKd6Hw-AA";
  char named_like_key[160];
  snprintf(named_like_key, sizeof(named_like_key), "oops-%s", key);
  log_add_secret("hunter2-webhook-secret");
  const char *const names[] = {named_like_key, "has hunter2-webhook-secret inside"};
  struct metrics *m = metrics_new(2, names, CONFIG_PER_KEY_FULL);
  metrics_alert_sent(m, "https://hooks.example.com/T000/B000/XXXX", false);
  metrics_alert_sent(m, "webhook", true);
  metrics_alert_sent(m, "webhook", true);
  metrics_alert_sent(m, "alertmanager_0", false);
  char *t = render(m);
  check_exposition(t);
  assert_null(strstr(t, "sk-ant-"));
  assert_null(strstr(t, "hunter2"));
  assert_null(strstr(t, "hooks.example.com"));
  assert_null(strstr(t, "://"));
  assert_line(t, "claudemon_key_up{key=\"oops-[REDACTED]\"} 0");
  assert_line(t, "claudemon_alerts_sent_total{receiver=\"invalid\",result=\"error\"} 1");
  assert_line(t, "claudemon_alerts_sent_total{receiver=\"webhook\",result=\"ok\"} 2");
  assert_line(t, "claudemon_alerts_sent_total{receiver=\"webhook\",result=\"error\"} 0");
  assert_line(t, "claudemon_alerts_sent_total{receiver=\"alertmanager_0\",result=\"ok\"} 0");
  free(t);
  metrics_free(m);
  log_clear_secrets();
}

static void test_key_state_and_statesets(void **state) {
  (void)state;
  struct metrics *m = metrics_new(3, names3, CONFIG_PER_KEY_FULL);
  assert_int_equal(metrics_key_state(m, 0, CAUSE_OK, false, -1, 1795845600000LL), 0);
  assert_int_equal(
      metrics_key_state(m, 1, CAUSE_AUTH_INVALID, true, 1795845000250LL, 1795845600500LL), 0);
  assert_int_equal(metrics_key_state(m, 3, CAUSE_OK, false, -1, -1), UTIL_EINVAL);
  assert_int_equal(metrics_key_state(m, 0, CAUSE_INCIDENT, false, -1, -1), UTIL_EINVAL);
  /* "not failing" wins over a stray failing_since. */
  assert_int_equal(metrics_key_state(m, 2, CAUSE_RATE_LIMITED, false, 1795845000000LL, -1), 0);
  metrics_verdict(m, SCOPE_LOCAL, CAUSE_AUTH_INVALID);
  metrics_platform_incident(m, true);
  metrics_detection_lead(m, 42.5);
  struct status_snapshot s;
  status_snapshot_init(&s);
  struct status_component comps[3] = {
      {.id = "k8w3r06qmzrp",
       .name = "Claude API (api.anthropic.com)",
       .status = COMPONENT_PARTIAL_OUTAGE,
       .watched = true},
      {.id = "rwppv331jlwc", .name = "claude.ai", .status = COMPONENT_MAJOR_OUTAGE},
      {.id = "yyzkbfz2thpt", .name = "Console", .status = COMPONENT_OPERATIONAL, .watched = true}};
  struct status_incident incs[3] = {
      {.impact = INDICATOR_MAJOR}, {.impact = INDICATOR_MAJOR}, {.impact = INDICATOR_MINOR}};
  s.reachable = true;
  s.indicator = INDICATOR_MAJOR;
  s.components = comps;
  s.n_components = 3;
  s.incidents = incs;
  s.n_incidents = 3;
  metrics_status(m, &s);

  char *t = render(m);
  check_exposition(t);
  assert_line(t, "claudemon_key_up{key=\"prod\"} 1");
  assert_line(t, "claudemon_key_up{key=\"staging\"} 0");
  assert_line(t, "claudemon_key_failing{key=\"staging\"} 1");
  assert_line(t, "claudemon_key_failing{key=\"batch\"} 0");
  assert_line(t, "claudemon_key_cause{key=\"staging\",cause=\"auth_invalid\"} 1");
  assert_line(t, "claudemon_key_cause{key=\"batch\",cause=\"rate_limited\"} 1");
  assert_int_equal(count_samples(t, "claudemon_key_cause{"), 3);
  assert_line(t, "claudemon_key_failing_since_timestamp_seconds{key=\"staging\"} 1795845000.25");
  assert_int_equal(count_samples(t, "claudemon_key_failing_since_timestamp_seconds{"), 1);
  assert_line(t, "claudemon_key_last_probe_timestamp_seconds{key=\"prod\"} 1795845600");
  assert_line(t, "claudemon_key_last_probe_timestamp_seconds{key=\"staging\"} 1795845600.5");
  assert_int_equal(count_samples(t, "claudemon_key_last_probe_timestamp_seconds{"), 2);

  /* StateSets: every state has a series, exactly one is 1. */
  assert_int_equal(count_samples(t, "claudemon_status_indicator{"), INDICATOR__COUNT);
  assert_line(t, "claudemon_status_indicator{indicator=\"major\"} 1");
  assert_line(t, "claudemon_status_indicator{indicator=\"none\"} 0");
  assert_line(t, "claudemon_status_indicator{indicator=\"unknown\"} 0");
  assert_int_equal(count_samples(t, "claudemon_status_component{"), 2 * COMPONENT__COUNT);
  assert_line(t, "claudemon_status_component{component_id=\"k8w3r06qmzrp\",component=\"Claude API "
                 "(api.anthropic.com)\",status=\"partial_outage\"} 1");
  assert_line(t, "claudemon_status_component{component_id=\"k8w3r06qmzrp\",component=\"Claude API "
                 "(api.anthropic.com)\",status=\"operational\"} 0");
  assert_line(t, "claudemon_status_component{component_id=\"yyzkbfz2thpt\",component=\"Console\","
                 "status=\"operational\"} 1");
  assert_null(strstr(t, "rwppv331jlwc")); /* not watched */
  size_t ones = 0;
  for (const char *p = t; (p = strstr(p, "claudemon_status_component{")) != NULL; p++)
    ones += strncmp(strchr(p, '}'), "} 1\n", 4) == 0;
  assert_int_equal(ones, 2);
  assert_line(t, "claudemon_status_incidents{impact=\"major\"} 2");
  assert_line(t, "claudemon_status_incidents{impact=\"minor\"} 1");
  assert_line(t, "claudemon_status_incidents{impact=\"critical\"} 0");
  assert_line(t, "claudemon_status_page_up 1");
  assert_line(t, "claudemon_verdict{scope=\"local\",cause=\"auth_invalid\"} 1");
  assert_int_equal(count_samples(t, "claudemon_verdict{"), 1);
  assert_line(t, "claudemon_platform_incident 1");
  assert_line(t, "claudemon_detection_lead_seconds 42.5");

  /* A failed poll alone: the last known states stay. */
  metrics_status_page_up(m, false);
  free(t);
  t = render(m);
  assert_line(t, "claudemon_status_page_up 0");
  assert_line(t, "claudemon_status_indicator{indicator=\"major\"} 1");
  assert_line(t, "claudemon_status_incidents{impact=\"major\"} 2");

  /* A new snapshot replaces the old one; the page becoming unreachable shows. */
  s.reachable = false;
  s.n_components = 1;
  s.n_incidents = 0;
  s.indicator = (enum indicator)99; /* out of range: unknown, never none */
  metrics_status(m, &s);
  metrics_verdict(m, SCOPE_PLATFORM, CAUSE_OVERLOADED);
  free(t);
  t = render(m);
  check_exposition(t);
  assert_line(t, "claudemon_status_page_up 0");
  assert_line(t, "claudemon_status_indicator{indicator=\"unknown\"} 1");
  assert_int_equal(count_samples(t, "claudemon_status_component{"), COMPONENT__COUNT);
  assert_line(t, "claudemon_status_incidents{impact=\"major\"} 0");
  assert_line(t, "claudemon_verdict{scope=\"platform\",cause=\"overloaded\"} 1");
  assert_int_equal(count_samples(t, "claudemon_verdict{"), 1);
  free(t);
  metrics_free(m);
}

static void test_counters_appear_when_nonzero(void **state) {
  (void)state;
  struct metrics *m = metrics_new(3, names3, CONFIG_PER_KEY_FULL);
  char *t = render(m);
  assert_int_equal(count_samples(t, "claudemon_probes_total{"), 0);
  assert_int_equal(count_samples(t, "claudemon_probe_tokens_total{"), 0);
  assert_line(t, "# TYPE claudemon_probes_total counter");
  free(t);
  assert_int_equal(metrics_probe_done(m, 1, PROBE_MODELS, CAUSE_AUTH_INVALID, 0.2), 0);
  assert_int_equal(metrics_probe_done(m, 1, PROBE_MODELS, CAUSE_AUTH_INVALID, 0.3), 0);
  assert_int_equal(metrics_probe_done(m, 0, PROBE_MESSAGES, CAUSE_OK, 1.5), 0);
  assert_int_equal(metrics_probe_done(m, 3, PROBE_MODELS, CAUSE_OK, 0.1), UTIL_EINVAL);
  assert_int_equal(metrics_probe_done(m, 0, PROBE__COUNT, CAUSE_OK, 0.1), UTIL_EINVAL);
  assert_int_equal(metrics_probe_done(m, 0, PROBE_MODELS, CAUSE_STATUS_MISMATCH, 0.1), UTIL_EINVAL);
  assert_int_equal(metrics_tokens(m, 0, 12, 1), 0);
  assert_int_equal(metrics_tokens(m, 0, 8, -1), 0);
  assert_int_equal(metrics_tokens(m, 7, 8, 1), UTIL_EINVAL);
  t = render(m);
  check_exposition(t);
  assert_int_equal(count_samples(t, "claudemon_probes_total{"), 2);
  assert_line(t,
              "claudemon_probes_total{key=\"staging\",probe=\"models\",cause=\"auth_invalid\"} 2");
  assert_line(t, "claudemon_probes_total{key=\"prod\",probe=\"messages\",cause=\"ok\"} 1");
  assert_line(t, "claudemon_probe_tokens_total{key=\"prod\",direction=\"input\"} 20");
  assert_line(t, "claudemon_probe_tokens_total{key=\"prod\",direction=\"output\"} 1");
  assert_int_equal(count_samples(t, "claudemon_probe_tokens_total{"), 2);
  free(t);
  metrics_free(m);
}

static void test_histograms(void **state) {
  (void)state;
  struct metrics *m = metrics_new(1, names3, CONFIG_PER_KEY_FULL);
  metrics_probe_done(m, 0, PROBE_MODELS, CAUSE_OK, 0.05); /* on a bound: le="0.05" */
  metrics_probe_done(m, 0, PROBE_MODELS, CAUSE_OK, 0.3);
  metrics_probe_done(m, 0, PROBE_MODELS, CAUSE_OK, 30); /* above every bound */
  metrics_probe_done(m, 0, PROBE_MODELS, CAUSE_OK, -1); /* clock step: counted as 0 */
  metrics_sched_lag(m, 0.002);
  metrics_sched_lag(m, 0.75);
  char *t = render(m);
  check_exposition(t);
  assert_line(t, "claudemon_probe_duration_seconds_bucket{probe=\"models\",le=\"0.05\"} 2");
  assert_line(t, "claudemon_probe_duration_seconds_bucket{probe=\"models\",le=\"0.25\"} 2");
  assert_line(t, "claudemon_probe_duration_seconds_bucket{probe=\"models\",le=\"0.5\"} 3");
  assert_line(t, "claudemon_probe_duration_seconds_bucket{probe=\"models\",le=\"10\"} 3");
  assert_line(t, "claudemon_probe_duration_seconds_bucket{probe=\"models\",le=\"+Inf\"} 4");
  assert_line(t, "claudemon_probe_duration_seconds_sum{probe=\"models\"} 30.35");
  assert_line(t, "claudemon_probe_duration_seconds_count{probe=\"models\"} 4");
  assert_line(t, "claudemon_probe_duration_seconds_count{probe=\"messages\"} 0");
  assert_line(t, "claudemon_probe_duration_seconds_bucket{probe=\"count_tokens\",le=\"+Inf\"} 0");
  assert_line(t, "claudemon_scheduler_lag_seconds_bucket{le=\"0.001\"} 0");
  assert_line(t, "claudemon_scheduler_lag_seconds_bucket{le=\"0.005\"} 1");
  assert_line(t, "claudemon_scheduler_lag_seconds_bucket{le=\"1\"} 2");
  assert_line(t, "claudemon_scheduler_lag_seconds_sum 0.752");
  assert_line(t, "claudemon_scheduler_lag_seconds_count 2");
  metrics_storage(m, 3, 17);
  free(t);
  t = render(m);
  assert_line(t, "claudemon_storage_errors_total 3");
  assert_line(t, "claudemon_storage_queue_length 17");
  free(t);
  metrics_free(m);
}

static void test_ratelimit(void **state) {
  (void)state;
  struct metrics *m = metrics_new(2, names3, CONFIG_PER_KEY_FULL);
  struct ratelimit rl[RL__COUNT] = {
      [RL_REQUESTS] = {50, 49, 1795845601000LL},
      [RL_TOKENS] = {-1, -1, -1},
      [RL_INPUT_TOKENS] = {40000, 0, -1},
      [RL_OUTPUT_TOKENS] = {8000, -1, -1},
  };
  assert_int_equal(metrics_key_ratelimit(m, 1, rl), 0);
  assert_int_equal(metrics_key_ratelimit(m, 2, rl), UTIL_EINVAL);
  char *t = render(m);
  check_exposition(t);
  assert_line(t, "claudemon_ratelimit_limit{key=\"staging\",resource=\"requests\"} 50");
  assert_line(t, "claudemon_ratelimit_remaining{key=\"staging\",resource=\"requests\"} 49");
  assert_line(t, "claudemon_ratelimit_limit{key=\"staging\",resource=\"input_tokens\"} 40000");
  assert_line(t, "claudemon_ratelimit_remaining{key=\"staging\",resource=\"input_tokens\"} 0");
  assert_line(t, "claudemon_ratelimit_limit{key=\"staging\",resource=\"output_tokens\"} 8000");
  assert_int_equal(count_samples(t, "claudemon_ratelimit_limit{"), 3);
  assert_int_equal(count_samples(t, "claudemon_ratelimit_remaining{"), 2);
  assert_null(strstr(t, "resource=\"tokens\""));
  free(t);
  metrics_free(m);
}

/* make_names returns n names "key-00000"... (free with free_names). */
static char **make_names(size_t n) {
  char **names = xcalloc(n, sizeof(*names));
  for (size_t i = 0; i < n; i++)
    names[i] = xasprintf("key-%05zu", i);
  return names;
}

static void free_names(char **names, size_t n) {
  for (size_t i = 0; i < n; i++)
    free(names[i]);
  free(names);
}

/* fill gives key i a state: every 10th failing with auth_invalid, every 7th rate limited
 * (not failing yet), the rest ok, each with a probe count and rate-limit headers. */
static void fill(struct metrics *m, size_t n) {
  struct ratelimit rl[RL__COUNT];
  for (size_t r = 0; r < RL__COUNT; r++)
    rl[r] = (struct ratelimit){1000, 999, 1795845601000LL};
  for (size_t i = 0; i < n; i++) {
    enum cause c = i % 10 == 0 ? CAUSE_AUTH_INVALID : i % 7 == 0 ? CAUSE_RATE_LIMITED : CAUSE_OK;
    bool failing = c == CAUSE_AUTH_INVALID;
    metrics_key_state(m, i, c, failing, failing ? 1795845000000LL : -1, 1795845600000LL);
    metrics_probe_done(m, i, PROBE_MODELS, c, 0.2);
    metrics_key_ratelimit(m, i, rl);
  }
}

static void test_minimal_mode(void **state) {
  (void)state;
  const size_t n = 100;
  char **names = make_names(n);
  struct metrics *m = metrics_new(n, (const char *const *)names, CONFIG_PER_KEY_MINIMAL);
  fill(m, n);
  assert_int_equal(metrics_tokens(m, 0, 5, 5), 0); /* accepted, not exported */
  char *t = render(m);
  check_exposition(t);
  size_t failing = (n + 9) / 10;
  /* Per key: key_up, key_cause, and failing_since for the failing ones. Nothing else. */
  assert_int_equal(count_samples(t, "claudemon_key_up{"), n);
  assert_int_equal(count_samples(t, "claudemon_key_cause{"), n);
  assert_int_equal(count_samples(t, "claudemon_key_failing_since_timestamp_seconds{"), failing);
  size_t with_key = 0;
  for (const char *p = t; (p = strstr(p, "key=\"")) != NULL; p++)
    with_key++;
  assert_int_equal(with_key, 2 * n + failing);
  assert_null(strstr(t, "claudemon_key_failing{"));
  assert_null(strstr(t, "claudemon_probes_total"));
  assert_null(strstr(t, "claudemon_ratelimit_"));
  assert_null(strstr(t, "claudemon_probe_tokens_total"));
  assert_null(strstr(t, "claudemon_key_last_probe"));
  /* The aggregate histograms still count every probe. */
  char line[128];
  snprintf(line, sizeof(line), "claudemon_probe_duration_seconds_count{probe=\"models\"} %zu", n);
  assert_line(t, line);
  free(t);
  metrics_free(m);
  free_names(names, n);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_render_1000_keys(void **state) {
  (void)state;
  const size_t n = 1000;
  char **names = make_names(n);
  struct metrics *m = metrics_new(n, (const char *const *)names, CONFIG_PER_KEY_FULL);
  fill(m, n);
  char *t = render(m); /* warm: sizes the buffer */
  size_t samples = check_exposition(t);
  free(t);
  /* Per key: up, failing, cause, last_probe, one probes_total, 4+4 rate limits = 13, plus
   * failing_since for every 10th; then fewer than 100 series that do not depend on keys. */
  size_t per_key = 13 * n + n / 10;
  assert_true(samples > per_key);
  if (samples >= per_key + 100) fail_msg("%zu samples, expected about %zu", samples, per_key);
  double best = 1e9;
  for (int i = 0; i < 5; i++) {
    double t0 = now_s();
    t = render(m);
    double dt = now_s() - t0;
    if (dt < best) best = dt;
    assert_int_equal(count_all_samples(t), samples);
    free(t);
  }
  /* Speed is measured by tests/bench/metrics_bench, not asserted here. */
  print_message("render of 1,000 keys: %.1f ms\n", best * 1000);
  metrics_free(m);
  free_names(names, n);
}

static void test_serve(void **state) {
  (void)state;
  struct metrics *m = metrics_new(3, names3, CONFIG_PER_KEY_FULL);
  struct httpd_request req = {.method = "GET", .path = "/metrics", .query = ""};
  struct httpd_response res = {0};
  metrics_serve(m, &req, &res);
  assert_int_equal(res.status, 200);
  assert_string_equal(res.content_type, "text/plain; version=0.0.4; charset=utf-8");
  assert_non_null(res.body);
  assert_int_equal(strlen(res.body), res.len);
  assert_non_null(strstr(res.body, "claudemon_key_up{key=\"batch\"} 0\n"));
  free(res.body);
  metrics_free(m);
}

int main(void) {
  log_set_level(LOG_ERROR);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fresh_registry),
      cmocka_unit_test(test_label_escaping),
      cmocka_unit_test(test_no_secrets_in_labels),
      cmocka_unit_test(test_key_state_and_statesets),
      cmocka_unit_test(test_counters_appear_when_nonzero),
      cmocka_unit_test(test_histograms),
      cmocka_unit_test(test_ratelimit),
      cmocka_unit_test(test_minimal_mode),
      cmocka_unit_test(test_render_1000_keys),
      cmocka_unit_test(test_serve),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
