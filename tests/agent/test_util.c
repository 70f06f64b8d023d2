/* Tests of agent/util.c, agent/log.c and agent/model.c: time and duration parsing, the
 * sanitiser, key hints, redaction of secrets in log lines, the complaint backoff. */
#include "agent/log.h"
#include "agent/model.h"
#include "agent/util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static const char fake_key[] =
    "sk-ant-api03-Zq8xT2vLk9PmN4rB7wYc1HdF6gJs3KaE5uVoXiQ0lRtM-bnCy_UjWe2PzAhGf8DkLq4Sx9NvTm1Ri7Bo3"
    "YcKd6Hw-AA";

static void test_parse_time(void **state) {
  (void)state;
  int64_t ms;
  assert_int_equal(util_parse_time("2026-11-28T06:00:00Z", &ms), 0);
  assert_int_equal(ms, 1795845600000LL);
  assert_int_equal(util_parse_time("2026-11-28T07:00:00.250+01:00", &ms), 0);
  assert_int_equal(ms, 1795845600250LL);
  assert_int_equal(util_parse_time("1970-01-01T00:00:00Z", &ms), 0);
  assert_int_equal(ms, 0);
  assert_int_equal(util_parse_time("2026-11-28", &ms), UTIL_EPARSE);
  assert_int_equal(util_parse_time("2026-13-28T06:00:00Z", &ms), UTIL_EPARSE);
  assert_int_equal(util_parse_time("2026-11-28T06:00:00", &ms), UTIL_EPARSE);
  char buf[32];
  assert_string_equal(util_format_time(buf, sizeof(buf), 1795845600000LL, true),
                      "2026-11-28T06:00:00Z");
  assert_string_equal(util_format_time(buf, sizeof(buf), 1795845600250LL, true),
                      "2026-11-28T06:00:00.250Z");
}

static void test_parse_duration(void **state) {
  (void)state;
  int64_t ms;
  assert_int_equal(util_parse_duration("500ms", &ms), 0);
  assert_int_equal(ms, 500);
  assert_int_equal(util_parse_duration("60s", &ms), 0);
  assert_int_equal(ms, 60000);
  assert_int_equal(util_parse_duration("15m", &ms), 0);
  assert_int_equal(ms, 900000);
  assert_int_equal(util_parse_duration("1h", &ms), 0);
  assert_int_equal(ms, 3600000);
  assert_int_equal(util_parse_duration("7d", &ms), 0);
  assert_int_equal(ms, 604800000);
  assert_int_equal(util_parse_duration("10", &ms), UTIL_EPARSE);
  assert_int_equal(util_parse_duration("-1s", &ms), UTIL_EPARSE);
  assert_int_equal(util_parse_duration("1.5s", &ms), UTIL_EPARSE);
  assert_int_equal(util_parse_duration("s", &ms), UTIL_EPARSE);
  assert_int_equal(util_parse_duration("99999999999999999999d", &ms), UTIL_ERANGE);
  assert_int_equal(util_parse_since("90m", 10000000, &ms), 0);
  assert_int_equal(ms, 10000000 - 5400000);
}

static void test_sanitize(void **state) {
  (void)state;
  char out[16];
  const char in[] = "a\nb\t\x01  c\xff d";
  util_sanitize(out, sizeof(out), in, sizeof(in) - 1);
  assert_string_equal(out, "a b c d");
  util_sanitize(out, 6, "h\xc3\xa9llo", 6);
  assert_string_equal(out, "h\xc3\xa9ll");
  util_sanitize(out, 3, "h\xc3\xa9llo", 6); /* never half a character */
  assert_string_equal(out, "h");
}

static void test_key_hint(void **state) {
  (void)state;
  char hint[32];
  util_key_hint(fake_key, hint, sizeof(hint));
  assert_string_equal(hint, "sk-ant-api03-Zq8...w-AA");
  char fp[65];
  util_sha256_hex("abc", 3, fp);
  assert_string_equal(fp, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_log_redacts(void **state) {
  (void)state;
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  assert_non_null(f);
  log_set_stream(f);
  log_add_secret("hunter2-webhook-secret");
  log_info("probe failed", "key=prod detail=%s other=%s", log_q(fake_key),
           log_q("https://hooks.example/hunter2-webhook-secret/x"));
  log_info("unregistered key shape", "v=xsk-ant-api03-abcdefghijklmnopqrstuvwxyz0123");
  fflush(f);
  log_set_stream(NULL);
  fclose(f);
  assert_null(strstr(buf, "Zq8xT2vLk9"));
  assert_null(strstr(buf, "hunter2"));
  assert_null(strstr(buf, "abcdefghijklmnop"));
  assert_non_null(strstr(buf, "[REDACTED]"));
  assert_non_null(strstr(buf, "msg=\"probe failed\" key=prod"));
  free(buf);
  log_clear_secrets();
}

static void test_complaint_backoff(void **state) {
  (void)state;
  struct log_complaint c = {0};
  int64_t t = 1000000;
  int logged = 0;
  for (int minute = 0; minute < 24 * 60; minute++)
    if (log_complain(&c, t + (int64_t)minute * 60000)) logged++;
  /* A failure every minute for a day is logged a few dozen times, not 1,440. */
  assert_true(logged < 40);
  assert_true(logged > 5);
  assert_true(log_recover(&c));
  assert_false(log_recover(&c));
}

static void test_cause_table(void **state) {
  (void)state;
  enum cause c;
  assert_int_equal(cause_parse("auth_invalid", &c), 0);
  assert_int_equal(c, CAUSE_AUTH_INVALID);
  assert_string_equal(cause_name(CAUSE_STATUS_PAGE_UNREACHABLE), "status_page_unreachable");
  assert_int_equal(cause_scope(CAUSE_OVERLOADED), SCOPE_PLATFORM);
  assert_int_equal(cause_scope(CAUSE_EDGE_ERROR), SCOPE_NETWORK);
  /* DESIGN.md's severity order, most severe first. */
  const enum cause order[] = {CAUSE_KEY_UNAVAILABLE,
                              CAUSE_AUTH_INVALID,
                              CAUSE_ACCOUNT_DISABLED,
                              CAUSE_PERMISSION,
                              CAUSE_QUOTA,
                              CAUSE_REQUEST_INVALID,
                              CAUSE_RATE_LIMITED,
                              CAUSE_NETWORK,
                              CAUSE_EDGE_ERROR,
                              CAUSE_TIMEOUT,
                              CAUSE_SERVER_ERROR,
                              CAUSE_OVERLOADED,
                              CAUSE_UNKNOWN,
                              CAUSE_OK};
  for (size_t i = 1; i < UTIL_ARRAY_LEN(order); i++)
    assert_true(cause_severity(order[i - 1]) > cause_severity(order[i]));
  assert_int_equal(component_status_parse("operational"), COMPONENT_OPERATIONAL);
  assert_int_equal(component_status_parse("sort_of_fine"), COMPONENT_UNKNOWN);
  assert_int_equal(indicator_parse(NULL), INDICATOR_UNKNOWN);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_time),  cmocka_unit_test(test_parse_duration),
      cmocka_unit_test(test_sanitize),    cmocka_unit_test(test_key_hint),
      cmocka_unit_test(test_log_redacts), cmocka_unit_test(test_complaint_backoff),
      cmocka_unit_test(test_cause_table),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
