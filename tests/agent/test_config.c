/* Tests of agent/config.c: defaults (embedded and in a file), relative paths, every refusal
 * with its exact FILE:LINE:COL, warnings about secrets, reading secrets from variables and
 * files, and that no message ever repeats a secret written inline. */
#include "agent/config.h"
#include "agent/util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

static struct config_diag diag;
static char fake_key[13 + 90 + 1]; /* "sk-ant-api03-" and 90 random letters */
static char tmpdir[] = "/tmp/claudemon-test-config-XXXXXX";

static void make_fake_key(void) {
  static const char letters[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  uint32_t x = 2463534242u;
  memcpy(fake_key, "sk-ant-api03-", 13);
  for (int i = 0; i < 90; i++) {
    x ^= x << 13; /* xorshift: reproducible but random-looking */
    x ^= x >> 17;
    x ^= x << 5;
    fake_key[13 + i] = letters[x % 52];
  }
  fake_key[103] = '\0';
}

static void dump_diag(void) {
  for (size_t i = 0; i < diag.n_errors; i++)
    print_message("  error: %s\n", diag.errors[i]);
  for (size_t i = 0; i < diag.n_warnings; i++)
    print_message("  warning: %s\n", diag.warnings[i]);
}

/* load parses text as file "t.yml" (relative: resolved against the cwd). */
static int load(const char *text, struct config **c) {
  config_diag_free(&diag);
  return config_load_string(text, "t.yml", c, &diag);
}

static bool has_words(const char *msg, const char *prefix, va_list ap) {
  if (strncmp(msg, prefix, strlen(prefix)) != 0) return false;
  const char *w;
  while ((w = va_arg(ap, const char *)))
    if (!strstr(msg, w)) return false;
  return true;
}

/* find returns whether one message of list starts with prefix and holds every word (a
 * NULL-terminated list). */
static bool find(char **list, size_t n, const char *prefix, ...) {
  for (size_t i = 0; i < n; i++) {
    va_list ap;
    va_start(ap, prefix);
    bool ok = has_words(list[i], prefix, ap);
    va_end(ap);
    if (ok) return true;
  }
  return false;
}

#define assert_error(prefix, ...)                                                                  \
  do {                                                                                             \
    if (!find(diag.errors, diag.n_errors, prefix, __VA_ARGS__, (const char *)NULL)) {              \
      print_message("no error starting with '%s' and holding the words; got:\n", prefix);          \
      dump_diag();                                                                                 \
      fail();                                                                                      \
    }                                                                                              \
  } while (0)

#define assert_warning(prefix, ...)                                                                \
  do {                                                                                             \
    if (!find(diag.warnings, diag.n_warnings, prefix, __VA_ARGS__, (const char *)NULL)) {          \
      print_message("no warning starting with '%s' and holding the words; got:\n", prefix);        \
      dump_diag();                                                                                 \
      fail();                                                                                      \
    }                                                                                              \
  } while (0)

/* refused loads text, expects it refused, and checks one error. */
#define refused(text, prefix, ...)                                                                 \
  do {                                                                                             \
    struct config *c_ = (struct config *)1;                                                        \
    int rc_ = load(text, &c_);                                                                     \
    if (rc_ != UTIL_ECONFIG) dump_diag();                                                          \
    assert_int_equal(rc_, UTIL_ECONFIG);                                                           \
    assert_null(c_);                                                                               \
    assert_error(prefix, __VA_ARGS__);                                                             \
  } while (0)

static struct config *accepted(const char *text) {
  struct config *c = NULL;
  int rc = load(text, &c);
  if (rc) dump_diag();
  assert_int_equal(rc, 0);
  assert_non_null(c);
  assert_int_equal(diag.n_errors, 0);
  return c;
}

/* no_message_holds checks no error or warning holds s or a 24-byte piece of it. */
static void no_message_holds(const char *s) {
  size_t len = strlen(s);
  char piece[25];
  for (size_t off = 0; off + 24 <= len; off += 8) {
    memcpy(piece, s + off, 24);
    piece[24] = '\0';
    for (size_t i = 0; i < diag.n_errors; i++) {
      if (strstr(diag.errors[i], piece)) print_message("leaked in: %s\n", diag.errors[i]);
      assert_null(strstr(diag.errors[i], piece));
    }
    for (size_t i = 0; i < diag.n_warnings; i++)
      assert_null(strstr(diag.warnings[i], piece));
  }
}

static char *write_file(const char *name, const char *content, mode_t mode) {
  char *path = xasprintf("%s/%s", tmpdir, name);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(content, f);
  fclose(f);
  assert_int_equal(chmod(path, mode), 0);
  return path;
}

#define KEY "keys: [{name: prod, key_env: CFGTEST_KEY}]\n"

/* ---- defaults ----------------------------------------------------------------------------- */

static void check_defaults(const struct config *c) {
  assert_string_equal(c->listen, "127.0.0.1:9464");
  assert_string_equal(c->external_url, "http://127.0.0.1:9464");
  assert_null(c->vantage);
  assert_null(c->log_level);
  assert_string_equal(c->api.base_url, "https://api.anthropic.com");
  assert_string_equal(c->api.version, "2023-06-01");
  assert_int_equal(c->api.timeout_ms, 10000);
  assert_null(c->api.proxy);
  assert_null(c->api.proxy_user);
  assert_null(c->api.proxy_password.env);
  assert_null(c->api.proxy_password.file);
  assert_int_equal(c->api.max_transfers, 64);
  assert_int_equal(c->api.max_host_connections, 8);
  assert_int_equal(c->api.min_interval_ms, 10000);
  assert_int_equal(c->api.max_body_bytes, 65536);
  assert_true(c->status_page.enabled);
  assert_string_equal(c->status_page.url, "https://status.claude.com/api/v2/summary.json");
  assert_int_equal(c->status_page.interval_ms, 60000);
  assert_int_equal(c->status_page.timeout_ms, 10000);
  assert_int_equal(c->status_page.n_components, 1);
  assert_string_equal(c->status_page.components[0], "k8w3r06qmzrp");
  assert_int_equal(c->classifier.fail_after, 3);
  assert_int_equal(c->classifier.window, 5);
  assert_int_equal(c->classifier.recover_after, 2);
  assert_true(c->classifier.quorum > 0.4999 && c->classifier.quorum < 0.5001);
  assert_int_equal(c->classifier.mismatch_after_ms, 300000);
  assert_int_equal(c->retention.probes_ms, 14LL * 86400000);
  assert_int_equal(c->retention.rollups_ms, 400LL * 86400000);
  assert_int_equal(c->alerting.n_alertmanager, 0);
  assert_int_equal(c->alerting.resend_interval_ms, 60000);
  assert_null(c->alerting.runbook_url);
  assert_null(c->alerting.webhook.url.env);
  assert_null(c->alerting.webhook.url.file);
  assert_null(c->alerting.webhook.hmac_secret.env);
  assert_int_equal(c->metrics.per_key, CONFIG_PER_KEY_FULL);
  assert_null(c->web.tls_cert_file);
  assert_null(c->web.tls_key_file);
  assert_null(c->web.basic_auth_user);
  assert_int_equal(c->n_keys, 1);
  const struct config_key *k = &c->keys[0];
  assert_null(k->key_file);
  assert_null(k->expect_organization);
  assert_null(k->expect_workspace);
  assert_true(k->probes[PROBE_MODELS].enabled);
  assert_int_equal(k->probes[PROBE_MODELS].interval_ms, 60000);
  assert_false(k->probes[PROBE_COUNT_TOKENS].enabled);
  assert_int_equal(k->probes[PROBE_COUNT_TOKENS].interval_ms, 300000);
  assert_string_equal(k->probes[PROBE_COUNT_TOKENS].model, "claude-haiku-4-5");
  assert_false(k->probes[PROBE_MESSAGES].enabled);
  assert_int_equal(k->probes[PROBE_MESSAGES].interval_ms, 1800000);
  assert_string_equal(k->probes[PROBE_MESSAGES].model, "claude-haiku-4-5");
  assert_int_equal(k->probes[PROBE_MESSAGES].monthly_token_budget, 0);
}

static void test_embedded_default(void **state) {
  (void)state;
  struct config *c = NULL;
  unsetenv("ANTHROPIC_API_KEY");
  config_diag_free(&diag);
  assert_int_equal(config_load_default(&c, &diag), 0);
  check_defaults(c);
  assert_string_equal(c->path, "<embedded>");
  assert_string_equal(c->database, "./claudemon.db"); /* relative to the cwd */
  assert_string_equal(c->keys[0].name, "default");
  assert_string_equal(c->keys[0].key_env, "ANTHROPIC_API_KEY");
  assert_int_equal(c->keys[0].pos.line, 0); /* not from a file */
  assert_int_equal(diag.n_warnings, 1);
  assert_warning("default config: warning: ", "ANTHROPIC_API_KEY", "not set");
  config_free(c);

  setenv("ANTHROPIC_API_KEY", fake_key, 1);
  config_diag_free(&diag);
  assert_int_equal(config_load_default(&c, &diag), 0);
  assert_int_equal(diag.n_warnings, 0);
  config_free(c);
  unsetenv("ANTHROPIC_API_KEY");
  assert_non_null(strstr(config_default_text(), "key_env: ANTHROPIC_API_KEY"));
}

static void test_file_defaults(void **state) {
  (void)state;
  setenv("CFGTEST_KEY", "x", 1);
  struct config_diag d = {0};
  struct config *c = NULL;
  assert_int_equal(config_load_string(KEY, "/etc/claudemon/claudemon.yml", &c, &d), 0);
  check_defaults(c);
  assert_string_equal(c->path, "/etc/claudemon/claudemon.yml");
  assert_string_equal(c->database, "/etc/claudemon/claudemon.db");
  assert_string_equal(c->keys[0].name, "prod");
  assert_int_equal(c->keys[0].pos.line, 1);
  assert_int_equal(c->keys[0].pos.col, 8);
  assert_int_equal(d.n_warnings, 0);
  assert_int_equal(config_key_index(c, "prod"), 0);
  assert_int_equal(config_key_index(c, "nope"), -1);
  assert_int_equal(config_key_index(NULL, "prod"), -1);
  config_free(c);
  config_diag_free(&d);
  config_free(NULL);
  config_diag_free(NULL);
}

static void test_external_url_follows_listen(void **state) {
  (void)state;
  struct config *c = accepted("listen: '[::1]:9000'\n" KEY);
  assert_string_equal(c->external_url, "http://[::1]:9000");
  config_free(c);
  c = accepted("listen: 0.0.0.0:9464\n" KEY);
  assert_warning("t.yml:1:9: warning: ", "external_url", "wildcard");
  config_free(c);
  c = accepted("listen: 0.0.0.0:9464\nexternal_url: https://mon.example/claudemon\n" KEY);
  assert_string_equal(c->external_url, "https://mon.example/claudemon");
  assert_int_equal(diag.n_warnings, 0);
  config_free(c);
}

static void test_relative_paths(void **state) {
  (void)state;
  setenv("CFGTEST_KEY", "x", 1);
  struct config_diag d = {0};
  struct config *c = NULL;
  const char *text = "database: data/claudemon.db\n"
                     "web: { tls_cert_file: ./tls/cert.pem, tls_key_file: /abs/key.pem }\n"
                     "alerting: { webhook: { url_env: CFGTEST_KEY, hmac_secret_file: hmac } }\n"
                     "keys:\n"
                     "  - { name: a, key_file: ./keys/a }\n"
                     "  - { name: b, key_file: ../b }\n";
  assert_int_equal(config_load_string(text, "/srv/mon/claudemon.yml", &c, &d), 0);
  assert_string_equal(c->database, "/srv/mon/data/claudemon.db");
  assert_string_equal(c->web.tls_cert_file, "/srv/mon/tls/cert.pem");
  assert_string_equal(c->web.tls_key_file, "/abs/key.pem");
  assert_string_equal(c->alerting.webhook.hmac_secret.file, "/srv/mon/hmac");
  assert_string_equal(c->keys[0].key_file, "/srv/mon/keys/a");
  assert_string_equal(c->keys[1].key_file, "/srv/mon/../b");
  config_free(c);
  config_diag_free(&d);

  /* A relative config name is resolved against the cwd. */
  char *cwd = getcwd(NULL, 0);
  assert_int_equal(config_load_string(KEY, "conf/c.yml", &c, &d), 0);
  char *want = xasprintf("%s/conf/c.yml", cwd);
  assert_string_equal(c->path, want);
  free(want);
  want = xasprintf("%s/conf/claudemon.db", cwd);
  assert_string_equal(c->database, want);
  free(want);
  free(cwd);
  config_free(c);
  config_diag_free(&d);

  /* A real file: paths follow its folder, not the cwd. */
  char *path = write_file("rel.yml", "database: db.sqlite\n" KEY, 0600);
  assert_int_equal(config_load(path, &c, &d), 0);
  want = xasprintf("%s/db.sqlite", tmpdir);
  assert_string_equal(c->database, want);
  assert_string_equal(c->path, path);
  free(want);
  unlink(path);
  free(path);
  config_free(c);
  config_diag_free(&d);
}

static void test_probes(void **state) {
  (void)state;
  struct config *c = accepted("keys:\n"
                              "  - name: a\n"
                              "    key_env: CFGTEST_KEY\n"
                              "    probes:\n"
                              "      models: { enabled: false }\n"
                              "      count_tokens:\n"
                              "      messages: { interval: 1h, monthly_token_budget: 200000 }\n"
                              "  - name: b\n"
                              "    key_env: CFGTEST_KEY\n"
                              "    probes: { count_tokens: { interval: 2m, model: claude-x } }\n");
  const struct config_key *a = &c->keys[0], *b = &c->keys[1];
  assert_false(a->probes[PROBE_MODELS].enabled);
  assert_true(a->probes[PROBE_COUNT_TOKENS].enabled);
  assert_int_equal(a->probes[PROBE_COUNT_TOKENS].interval_ms, 300000);
  assert_true(a->probes[PROBE_MESSAGES].enabled);
  assert_int_equal(a->probes[PROBE_MESSAGES].interval_ms, 3600000);
  assert_string_equal(a->probes[PROBE_MESSAGES].model, "claude-haiku-4-5");
  assert_int_equal(a->probes[PROBE_MESSAGES].monthly_token_budget, 200000);
  assert_int_equal(a->probes[PROBE_MESSAGES].pos.line, 7);
  assert_true(b->probes[PROBE_MODELS].enabled);
  assert_true(b->probes[PROBE_COUNT_TOKENS].enabled);
  assert_int_equal(b->probes[PROBE_COUNT_TOKENS].interval_ms, 120000);
  assert_string_equal(b->probes[PROBE_COUNT_TOKENS].model, "claude-x");
  assert_false(b->probes[PROBE_MESSAGES].enabled);
  config_free(c);

  c = accepted("keys: [{name: a, key_env: CFGTEST_KEY, probes: {models: {enabled: false}}}]\n");
  assert_warning("t.yml:1:8: warning: ", "key 'a'", "every probe is disabled");
  config_free(c);
}

static void test_example_config(void **state) {
  (void)state;
  const char *src = getenv("CLAUDEMON_SOURCE_DIR");
  if (!src) skip();
  char *path = xasprintf("%s/packaging/claudemon.example.yml", src);
  struct config *c = NULL;
  config_diag_free(&diag);
  int rc = config_load(path, &c, &diag);
  if (rc) dump_diag();
  assert_int_equal(rc, 0);
  assert_int_equal(c->n_keys, 2);
  assert_true(c->keys[0].probes[PROBE_COUNT_TOKENS].enabled);
  assert_true(c->keys[0].probes[PROBE_MESSAGES].enabled);
  assert_int_equal(c->keys[0].probes[PROBE_MESSAGES].monthly_token_budget, 200000);
  assert_false(c->keys[1].probes[PROBE_MESSAGES].enabled);
  assert_string_equal(c->keys[1].key_file, "/run/credentials/claudemon.service/batch");
  assert_int_equal(c->alerting.n_alertmanager, 1);
  assert_string_equal(c->alerting.webhook.url.env, "CLAUDEMON_WEBHOOK_URL");
  assert_string_equal(c->log_level, "info");
  config_free(c);
  free(path);
}

/* ---- refusals, one by one ----------------------------------------------------------------- */

static void test_unknown_fields(void **state) {
  (void)state;
  refused("keys:\n  - name: a\n    key_env: CFGTEST_KEY\n    probes:\n"
          "      models: { intervall: 60s }\n",
          "t.yml:5:17: ", "unknown field 'intervall' (did you mean 'interval'?)");
  refused("listn: 127.0.0.1:1\n" KEY,
          "t.yml:1:1: ", "unknown field 'listn' (did you mean 'listen'?)");
  refused(KEY "api: { timeuot: 5s }\n",
          "t.yml:2:8: ", "unknown field 'timeuot' (did you mean 'timeout'?)");
  refused(KEY "frobnicate: 1\n", "t.yml:2:1: ", "unknown field 'frobnicate' in the top level",
          "known fields: listen");
  /* count_tokens has no budget; models has no model. */
  refused("keys: [{name: a, key_env: K, probes: {models: {model: x}}}]\n",
          "t.yml:1:48: ", "unknown field 'model'", "in key 'a': probes.models");
}

static void test_duplicate_field(void **state) {
  (void)state;
  refused(KEY "api:\n  timeout: 5s\n  timeout: 6s\n",
          "t.yml:4:3: ", "duplicate field 'timeout' in api (first at line 3)");
}

static void test_wrong_types(void **state) {
  (void)state;
  refused(KEY "api: [a, b]\n", "t.yml:2:6: ", "api: expected a map", "got a list");
  refused(KEY "api: { max_transfers: lots }\n", "t.yml:2:23: ", "api.max_transfers",
          "expected a whole number", "got a string");
  refused(KEY "api: { max_transfers: \"64\" }\n", "t.yml:2:23: ", "api.max_transfers",
          "got a quoted string");
  refused(KEY "api: { max_transfers: 0 }\n", "t.yml:2:23: ", "api.max_transfers", "between 1 and");
  refused(KEY "classifier: { quorum: half }\n", "t.yml:2:23: ", "classifier.quorum",
          "expected a number");
  refused(KEY "listen: { host: x }\n", "t.yml:2:9: ", "listen: expected text", "got a map");
  refused(KEY "status_page: { enabled: yes }\n", "t.yml:2:25: ", "status_page.enabled",
          "expected true or false");
  refused(KEY "status_page: { components: k8w3r06qmzrp }\n",
          "t.yml:2:28: ", "status_page.components", "expected a list");
  refused("keys: { name: a }\n", "t.yml:1:7: ", "keys: expected a list", "got a map");
  refused("keys: [prod]\n", "t.yml:1:8: ", "keys[0]: expected a map", "got a string");
  refused("- a\n- b\n", "t.yml:1:1: ", "the top level: expected a map", "got a list");
  refused(KEY "metrics: { per_key: some }\n", "t.yml:2:21: ", "metrics.per_key", "full or minimal");
  refused(KEY "log_level: loud\n", "t.yml:2:12: ", "log_level", "debug, info, warn or error");
  refused(KEY "listen: localhost\n", "t.yml:2:9: ", "listen: expected HOST:PORT");
  refused(KEY "listen: 127.0.0.1:99999\n", "t.yml:2:9: ", "listen: expected HOST:PORT");
}

static void test_missing_required(void **state) {
  (void)state;
  refused("keys:\n  - key_env: CFGTEST_KEY\n", "t.yml:2:5: ", "keys[0]",
          "missing required field 'name'");
  refused("keys:\n  - name:\n    key_env: K\n", "t.yml:2:10: ", "keys[0]",
          "missing required field 'name'");
  refused("listen: 127.0.0.1:1\n", "t.yml:1:1: ", "missing required field 'keys'");
  refused("keys: []\n", "t.yml:1:7: ", "keys: is empty");
  refused("keys: [{name: 'bad name', key_env: K}]\n", "t.yml:1:15: ", "keys[0]", "letters, digits");
}

static void test_duplicate_key_names(void **state) {
  (void)state;
  refused("keys:\n"
          "  - name: prod\n"
          "    key_env: A\n"
          "  - name: other\n"
          "    key_env: B\n"
          "  - name: prod\n"
          "    key_env: C\n",
          "t.yml:6:11: ", "duplicate key name 'prod' (first defined at line 2)");
  assert_int_equal(diag.n_errors, 1);
}

static void test_key_env_and_key_file(void **state) {
  (void)state;
  refused("keys:\n  - name: a\n    key_env: K\n    key_file: /k\n", "t.yml:4:15: ", "key 'a'",
          "both key_env and key_file");
  refused("keys:\n  - name: a\n", "t.yml:2:5: ", "key 'a'", "neither key_env nor key_file");
  refused("keys: [{name: a, key_env: MY-KEY}]\n", "t.yml:1:27: ", "key_env",
          "must name an environment variable");
}

static void test_min_interval(void **state) {
  (void)state;
  const char *low = "keys:\n"
                    "  - name: a\n"
                    "    key_env: CFGTEST_KEY\n"
                    "    probes: { models: { interval: 1s } }\n";
  refused(low, "t.yml:4:35: ", "key 'a': probes.models.interval", "below api.min_interval (10s)",
          "min_interval");
  /* Lowering the floor, as the tests of other modules do, makes it valid. */
  char *text = xasprintf("api: { min_interval: 500ms }\n%s", low);
  struct config *c = accepted(text);
  assert_int_equal(c->keys[0].probes[PROBE_MODELS].interval_ms, 1000);
  config_free(c);
  free(text);
  /* A raised floor also catches a default interval. */
  refused("api: { min_interval: 2m }\n" KEY, "t.yml:2:8: ", "probes.models.interval (default 1m",
          "below api.min_interval (2m");
  /* A disabled probe's interval does not matter. */
  c = accepted(
      "keys: [{name: a, key_env: K, probes: {messages: {enabled: false, interval: 1s}}}]\n");
  config_free(c);
}

static void test_durations(void **state) {
  (void)state;
  refused(KEY "api: { timeout: 10 }\n", "t.yml:2:17: ", "api.timeout", "malformed duration '10'",
          "ms, s, m, h or d");
  refused(KEY "status_page: { interval: 1.5m }\n", "t.yml:2:26: ", "status_page.interval",
          "malformed duration");
  refused(KEY "retention: { probes: ten days }\n", "t.yml:2:22: ", "retention.probes",
          "malformed duration");
  refused(KEY "api: { timeout: 0s }\n", "t.yml:2:17: ", "api.timeout", "at least");
  refused(KEY "retention: { rollups: 99999999999999999d }\n", "t.yml:2:23: ", "too long");
}

static void test_urls(void **state) {
  (void)state;
  refused(KEY "api: { base_url: 'ftp://api.example' }\n", "t.yml:2:18: ", "api.base_url",
          "http or https");
  refused(KEY "api: { base_url: not a url }\n", "t.yml:2:18: ", "api.base_url", "not a valid URL");
  refused(KEY "status_page: { url: 'http://' }\n", "t.yml:2:21: ", "status_page.url");
  refused(KEY "alerting: { alertmanager: [http://am:9093, 'gopher://x'] }\n",
          "t.yml:2:44: ", "alerting.alertmanager[1]", "http or https");
  refused(KEY "external_url: mon-1:9464\n", "t.yml:2:15: ", "external_url");
  refused(KEY "alerting: { runbook_url: 'https://u:hunter2secret@wiki.example/' }\n",
          "t.yml:2:26: ", "alerting.runbook_url", "credentials in URLs are not allowed");
  no_message_holds("hunter2secret");
  struct config *c = accepted(KEY "api: { proxy: 'socks5h://proxy:1080' }\n");
  assert_string_equal(c->api.proxy, "socks5h://proxy:1080");
  config_free(c);
}

static void test_classifier_rules(void **state) {
  (void)state;
  refused(KEY "classifier: { quorum: 0 }\n", "t.yml:2:23: ", "classifier.quorum",
          "greater than 0 and at most 1");
  refused(KEY "classifier: { quorum: 1.01 }\n", "t.yml:2:23: ", "classifier.quorum");
  refused(KEY "classifier: { quorum: -0.5 }\n", "t.yml:2:23: ", "classifier.quorum");
  struct config *c = accepted(KEY "classifier: { quorum: 1 }\n");
  assert_true(c->classifier.quorum > 0.999);
  config_free(c);
  refused(KEY "classifier: { fail_after: 4, window: 3 }\n",
          "t.yml:2:27: ", "classifier.fail_after (4) is greater than classifier.window (3)");
  refused(KEY "classifier: { fail_after: 6 }\n",
          "t.yml:2:27: ", "greater than classifier.window (5)");
}

static void test_empty_and_not_yaml(void **state) {
  (void)state;
  refused("", "t.yml:1:1: ", "empty");
  refused("# just a comment\n\n", "t.yml:1:1: ", "empty");
  refused("---\n", "t.yml:1:1: ", "empty");
  refused("listen: [1, 2\n", "t.yml:2:1: ", "not valid YAML", "did not find expected ',' or ']'");
  refused("keys:\n  - name: a\n   key_env: X\n", "t.yml:3:4: ", "not valid YAML");
  refused("keys:\n\t- name: a\n", "t.yml:2:1: ", "not valid YAML");
  refused("a: \xff\n", "t.yml:1:4: ", "not valid YAML", "UTF-8");
  refused(KEY "---\nlisten: x\n", "t.yml:2:1: ", "second YAML document");
}

static void test_unreadable_file(void **state) {
  (void)state;
  struct config *c = (struct config *)1;
  config_diag_free(&diag);
  char *missing = xasprintf("%s/missing.yml", tmpdir);
  assert_int_equal(config_load(missing, &c, &diag), UTIL_EIO);
  assert_null(c);
  char *want = xasprintf("%s: cannot read config: No such file or directory", missing);
  assert_int_equal(diag.n_errors, 1);
  assert_string_equal(diag.errors[0], want);
  free(want);
  free(missing);
  config_diag_free(&diag);
  assert_int_equal(config_load(tmpdir, &c, &diag), UTIL_EIO);
  assert_error(tmpdir, "Is a directory");
}

static void test_collects_every_error(void **state) {
  (void)state;
  refused("api: { timeout: x }\n"
          "classifier: { quorum: 2 }\n"
          "keys:\n"
          "  - name: a\n",
          "t.yml:1:17: ", "api.timeout");
  assert_int_equal(diag.n_errors, 3);
  assert_true(strncmp(diag.errors[1], "t.yml:2:23: ", 12) == 0);
  assert_true(strncmp(diag.errors[2], "t.yml:4:5: ", 11) == 0);
}

static void test_error_cap(void **state) {
  (void)state;
  size_t cap = 64 * 1024, len = 0;
  char *text = xmalloc(cap);
  len += (size_t)snprintf(text, cap, "%s", KEY);
  for (int i = 0; i < 150; i++)
    len += (size_t)snprintf(text + len, cap - len, "zz%d: 1\n", i);
  refused(text, "t.yml:2:1: ", "unknown field 'zz0'");
  assert_int_equal(diag.n_errors, 101);
  assert_string_equal(diag.errors[100], "t.yml: 50 more errors not shown");
  free(text);
}

static void test_pairs_that_go_together(void **state) {
  (void)state;
  refused(KEY "web: { tls_cert_file: /c.pem }\n", "t.yml:2:23: ", "tls_cert_file and tls_key_file");
  refused(KEY "web: { basic_auth_user: prom }\n", "t.yml:2:25: ", "web.basic_auth_user",
          "basic_auth_password_env");
  refused(KEY "web: { basic_auth_password_env: P }\n", "t.yml:2:6: ", "basic_auth_user is not set");
  refused(KEY "alerting: { webhook: { hmac_secret_env: H } }\n",
          "t.yml:2:22: ", "alerting.webhook: no URL");
  refused(KEY "alerting: { webhook: { url_env: U, url_file: /u } }\n",
          "t.yml:2:46: ", "both url_env and url_file");
  refused(KEY "api: { proxy_password_env: P }\n", "t.yml:2:6: ", "api.proxy_user is not set");
  refused(KEY "status_page: { components: [] }\n", "t.yml:2:28: ", "status_page.components",
          "is empty");
}

/* ---- inline secrets ----------------------------------------------------------------------- */

/* subst returns fmt with its one "%s" replaced by s. */
static char *subst(const char *fmt, const char *s) {
  const char *at = strstr(fmt, "%s");
  assert_non_null(at);
  return xasprintf("%.*s%s%s", (int)(at - fmt), fmt, s, at + 2);
}

static void test_inline_secrets_refused(void **state) {
  (void)state;
  static const struct {
    const char *fmt; /* %s is the secret */
    const char *prefix;
    const char *words;
  } cases[] = {
      {"keys:\n  - name: a\n    key: %s\n", "t.yml:3:5: ", "inline API keys are not allowed"},
      {"keys:\n  - name: a\n    api_key: \"%s\"\n", "t.yml:3:5: ", "key_env"},
      {"keys:\n  - name: a\n    key_env: %s\n", "t.yml:3:14: ", "inline API keys"},
      {"keys:\n  - name: a\n    key_env: K\n    expect_organization: %s\n",
       "t.yml:4:26: ", "looks like an API key"},
      {"keys: [%s]\n", "t.yml:1:8: ", "inline API keys"},
      {"keys:\n  - %s\n", "t.yml:2:5: ", "inline API keys"},
      {KEY "alerting:\n  webhook:\n    url: https://hooks.example/%s\n",
       "t.yml:4:5: ", "inline webhook URLs are not allowed"},
      {KEY "alerting:\n  webhook:\n    url_env: U\n    hmac_secret: %s\n",
       "t.yml:5:5: ", "hmac_secret_env"},
      {KEY "web:\n  basic_auth_user: u\n  password: %s\n",
       "t.yml:4:3: ", "basic_auth_password_file"},
      {KEY "api:\n  proxy_password: %s\n", "t.yml:3:3: ", "proxy_password_env"},
      {KEY "api:\n  proxy: 'http://user:%s@proxy:3128'\n", "t.yml:3:10: ", "not allowed"},
      {KEY "api:\n  proxy: 'http://%s@proxy:3128'\n", "t.yml:3:10: ", "not allowed"},
      {KEY "%s: 1\n", "t.yml:2:1: ", "unknown field '(value not shown)'"},
      {KEY "vantage: %s\n", "t.yml:2:10: ", "looks like an API key"},
      {KEY "database_password: %s\n", "t.yml:2:1: ", "inline secrets are not allowed"},
  };
  for (size_t i = 0; i < UTIL_ARRAY_LEN(cases); i++) {
    char *text = subst(cases[i].fmt, fake_key);
    print_message("case %zu\n", i);
    refused(text, cases[i].prefix, cases[i].words);
    no_message_holds(fake_key);
    free(text);
  }
  /* A proxy password that does not look like a key gets the proxy advice. */
  refused(KEY "api:\n  proxy: 'http://user:Hunter2Hunter2Hunter2Hunter2@proxy:3128'\n",
          "t.yml:3:10: ", "api.proxy: inline proxy credentials are not allowed", "proxy_user",
          "proxy_password_env");
  no_message_holds("Hunter2Hunter2Hunter2Hunter2");
}

/* ---- warnings ----------------------------------------------------------------------------- */

static void test_warnings(void **state) {
  (void)state;
  unsetenv("CFGTEST_UNSET");
  struct config *c = accepted("keys:\n  - name: a\n    key_env: CFGTEST_UNSET\n");
  assert_int_equal(diag.n_warnings, 1);
  assert_warning("t.yml:3:14: warning: ", "key 'a'", "environment variable CFGTEST_UNSET",
                 "not set");
  config_free(c);
  setenv("CFGTEST_UNSET", "", 1);
  c = accepted("keys:\n  - name: a\n    key_env: CFGTEST_UNSET\n");
  assert_warning("t.yml:3:14: warning: ", "CFGTEST_UNSET", "is empty");
  config_free(c);
  unsetenv("CFGTEST_UNSET");

  char *loose = write_file("loose.key", fake_key, 0644);
  char *tight = write_file("tight.key", fake_key, 0600);
  char *text =
      xasprintf("keys:\n"
                "  - { name: loose, key_file: %s }\n"
                "  - { name: tight, key_file: %s }\n"
                "  - { name: gone, key_file: %s/gone.key }\n"
                "alerting: { webhook: { url_env: CFGTEST_UNSET, hmac_secret_file: %s } }\n",
                loose, tight, tmpdir, loose);
  c = accepted(text);
  assert_int_equal(diag.n_warnings, 4);
  assert_warning("t.yml:2:30: warning: ", "key 'loose'", loose, "readable by group or others",
                 "0644");
  assert_warning("t.yml:4:29: warning: ", "key 'gone'", "gone.key", "cannot be read",
                 "No such file");
  assert_warning("t.yml:5:33: warning: ", "CFGTEST_UNSET");
  assert_warning("t.yml:5:66: warning: ", "alerting.webhook", loose, "readable by group");
  assert_false(find(diag.warnings, diag.n_warnings, "", "tight", (const char *)NULL));
  no_message_holds(fake_key); /* the file's content is never shown */
  config_free(c);
  free(text);

  /* systemd's credentials (LoadCredential=) are group-readable through an ACL: no warning. */
  setenv("CREDENTIALS_DIRECTORY", tmpdir, 1);
  text = xasprintf("keys:\n  - { name: cred, key_file: %s }\n", loose);
  c = accepted(text);
  assert_int_equal(diag.n_warnings, 0);
  config_free(c);
  free(text);
  unsetenv("CREDENTIALS_DIRECTORY");
  unlink(loose);
  unlink(tight);
  free(loose);
  free(tight);
}

/* ---- reading secrets ---------------------------------------------------------------------- */

static void test_read_key_env(void **state) {
  (void)state;
  char name[] = "a", var[] = "CFGTEST_SECRET";
  struct config_key k = {.name = name, .key_env = var};
  char *s = (char *)1;
  char why[200];
  unsetenv("CFGTEST_SECRET");
  assert_int_equal(config_read_key(&k, &s, why, sizeof(why)), UTIL_ESECRET);
  assert_null(s);
  assert_string_equal(why, "environment variable CFGTEST_SECRET is not set");
  setenv("CFGTEST_SECRET", "", 1);
  assert_int_equal(config_read_key(&k, &s, why, sizeof(why)), UTIL_ESECRET);
  assert_string_equal(why, "environment variable CFGTEST_SECRET is empty");
  char *with_nl = xasprintf("%s\n", fake_key);
  setenv("CFGTEST_SECRET", with_nl, 1);
  assert_int_equal(config_read_key(&k, &s, why, sizeof(why)), 0);
  assert_string_equal(s, fake_key);
  config_secret_free(s);
  free(with_nl);
  setenv("CFGTEST_SECRET", "sk-ant-two\nlines", 1);
  assert_int_equal(config_read_key(&k, &s, why, sizeof(why)), UTIL_ESECRET);
  assert_null(strstr(why, "sk-ant"));
  assert_non_null(strstr(why, "CFGTEST_SECRET"));
  unsetenv("CFGTEST_SECRET");
  config_secret_free(NULL);
}

static void test_read_key_file(void **state) {
  (void)state;
  char why[400];
  char *s = NULL;
  char *content = xasprintf("%s\n", fake_key);
  char *tight = write_file("k600", content, 0600);
  char *loose = write_file("k644", content, 0644);
  char name[] = "a";
  struct config_key k = {.name = name, .key_file = tight};
  assert_int_equal(config_read_key(&k, &s, why, sizeof(why)), 0);
  assert_string_equal(s, fake_key); /* trailing newline trimmed */
  config_secret_free(s);
  k.key_file = loose; /* a loose mode is a warning at load, not a refusal to read */
  assert_int_equal(config_read_key(&k, &s, why, sizeof(why)), 0);
  assert_string_equal(s, fake_key);
  config_secret_free(s);

  char *crlf = write_file("crlf", "abcdefgh\r\n", 0600);
  k.key_file = crlf;
  assert_int_equal(config_read_key(&k, &s, why, sizeof(why)), 0);
  assert_string_equal(s, "abcdefgh");
  config_secret_free(s);

  char *empty = write_file("empty", "", 0600);
  k.key_file = empty;
  assert_int_equal(config_read_key(&k, &s, why, sizeof(why)), UTIL_ESECRET);
  assert_null(s);
  assert_non_null(strstr(why, empty));
  assert_non_null(strstr(why, "is empty"));

  char *nl_only = write_file("nl", "\n", 0600);
  k.key_file = nl_only;
  assert_int_equal(config_read_key(&k, &s, why, sizeof(why)), UTIL_ESECRET);
  assert_non_null(strstr(why, "is empty"));

  char *two = xasprintf("%s\n%s\n", fake_key, fake_key);
  char *twolines = write_file("two", two, 0600);
  k.key_file = twolines;
  assert_int_equal(config_read_key(&k, &s, why, sizeof(why)), UTIL_ESECRET);
  assert_non_null(strstr(why, "more than one line"));
  assert_null(strstr(why, "sk-ant"));

  char *missing = xasprintf("%s/nope", tmpdir);
  k.key_file = missing;
  assert_int_equal(config_read_key(&k, &s, why, sizeof(why)), UTIL_ESECRET);
  char *want = xasprintf("cannot read %s: No such file or directory", missing);
  assert_string_equal(why, want);
  free(want);

  /* Generic secrets read the same way; a webhook URL may hold spaces in no case, but an
   * HMAC passphrase may. */
  char *pass = write_file("pass", "correct horse battery\n", 0600);
  struct config_secret_ref ref = {.file = pass};
  assert_int_equal(config_read_secret(&ref, &s, why, sizeof(why)), 0);
  assert_string_equal(s, "correct horse battery");
  config_secret_free(s);
  k.key_file = pass;
  assert_int_equal(config_read_key(&k, &s, why, sizeof(why)), UTIL_ESECRET);
  assert_non_null(strstr(why, "space"));
  struct config_secret_ref none = {0};
  assert_int_equal(config_read_secret(&none, &s, why, sizeof(why)), UTIL_ESECRET);
  setenv("CFGTEST_HOOK", "https://hooks.example/T0/B0/xyz", 1);
  char var[] = "CFGTEST_HOOK";
  struct config_secret_ref env = {.env = var};
  assert_int_equal(config_read_secret(&env, &s, NULL, 0), 0);
  assert_string_equal(s, "https://hooks.example/T0/B0/xyz");
  config_secret_free(s);
  unsetenv("CFGTEST_HOOK");

  const char *files[] = {tight, loose, crlf, empty, nl_only, twolines, pass};
  for (size_t i = 0; i < UTIL_ARRAY_LEN(files); i++)
    unlink(files[i]);
  free(tight);
  free(loose);
  free(crlf);
  free(empty);
  free(nl_only);
  free(twolines);
  free(two);
  free(missing);
  free(pass);
  free(content);
}

static int setup(void **state) {
  (void)state;
  make_fake_key();
  if (!mkdtemp(tmpdir)) return -1;
  setenv("CFGTEST_KEY", "x", 1);
  setenv("K", "x", 1);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  config_diag_free(&diag);
  rmdir(tmpdir);
  return 0;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_embedded_default),
      cmocka_unit_test(test_file_defaults),
      cmocka_unit_test(test_external_url_follows_listen),
      cmocka_unit_test(test_relative_paths),
      cmocka_unit_test(test_probes),
      cmocka_unit_test(test_example_config),
      cmocka_unit_test(test_unknown_fields),
      cmocka_unit_test(test_duplicate_field),
      cmocka_unit_test(test_wrong_types),
      cmocka_unit_test(test_missing_required),
      cmocka_unit_test(test_duplicate_key_names),
      cmocka_unit_test(test_key_env_and_key_file),
      cmocka_unit_test(test_min_interval),
      cmocka_unit_test(test_durations),
      cmocka_unit_test(test_urls),
      cmocka_unit_test(test_classifier_rules),
      cmocka_unit_test(test_empty_and_not_yaml),
      cmocka_unit_test(test_unreadable_file),
      cmocka_unit_test(test_collects_every_error),
      cmocka_unit_test(test_error_cap),
      cmocka_unit_test(test_pairs_that_go_together),
      cmocka_unit_test(test_inline_secrets_refused),
      cmocka_unit_test(test_warnings),
      cmocka_unit_test(test_read_key_env),
      cmocka_unit_test(test_read_key_file),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
