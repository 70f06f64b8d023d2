/* fuzz_statuspage.c — libFuzzer target for agent/statuspage.c: any byte string as a
 * summary.json body. Beyond "no crash, no leak, no undefined behaviour" it checks the
 * parser's promises: a refused body leaves an empty, unreachable snapshot with a reason; an
 * accepted one is reachable with NUL-terminated text; every helper, the copy, the carry and
 * the diff run on whatever was parsed. Build and run: docs/statuspage.md. */
#include "agent/model.h"
#include "agent/statuspage.h"
#include "agent/util.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (!(cond)) __builtin_trap();                                                                 \
  } while (0)

static void check_text(const char *s, size_t cap) {
  CHECK(memchr(s, '\0', cap) != NULL);
  for (const char *p = s; *p; p++)
    CHECK((unsigned char)*p >= 0x20 && *p != 0x7f); /* sanitised: no control characters */
}

static void check_incidents(const struct status_incident *v, size_t n) {
  for (size_t i = 0; i < n; i++) {
    check_text(v[i].id, sizeof(v[i].id));
    CHECK(v[i].id[0] != '\0');
    check_text(v[i].name, sizeof(v[i].name));
    check_text(v[i].latest_update, sizeof(v[i].latest_update));
    CHECK((unsigned)v[i].impact < INDICATOR__COUNT);
    CHECK((v[i].n_components == 0) == (v[i].component_ids == NULL));
    for (size_t k = 0; k < v[i].n_components; k++)
      check_text(v[i].component_ids[k], MODEL_SP_ID_MAX);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const char *const watch[] = {"k8w3r06qmzrp", "Claude API (api.anthropic.com)", "g"};
  struct status_snapshot s, copy, base;
  char err[256];
  int rc = statuspage_parse((const char *)data, size, watch, 3, 1000, &s, err, sizeof(err));
  check_text(err, sizeof(err));
  if (rc != 0) {
    CHECK(rc == UTIL_EPARSE);
    CHECK(!s.reachable && s.fetched_ms == -1 && s.polled_ms == 1000);
    CHECK(s.components == NULL && s.incidents == NULL && s.maintenances == NULL);
    CHECK(err[0] != '\0');
    status_snapshot_free(&s);
    return 0;
  }
  CHECK(s.reachable && s.fetched_ms == 1000);
  CHECK((unsigned)s.indicator < INDICATOR__COUNT);
  check_text(s.description, sizeof(s.description));
  for (size_t i = 0; i < s.n_components; i++) {
    check_text(s.components[i].id, sizeof(s.components[i].id));
    CHECK(s.components[i].id[0] != '\0');
    check_text(s.components[i].name, sizeof(s.components[i].name));
    CHECK((unsigned)s.components[i].status < COMPONENT__COUNT);
  }
  check_incidents(s.incidents, s.n_incidents);
  check_incidents(s.maintenances, s.n_maintenances);

  (void)statuspage_watched_degraded(&s);
  (void)statuspage_maintenance_in_progress(&s);
  const struct status_incident *worst = statuspage_worst_incident(&s);
  CHECK(!worst || (worst >= s.incidents && worst < s.incidents + s.n_incidents));

  /* The diff against itself is empty; against the never-polled snapshot it is a baseline
   * whose count does not depend on the room given. */
  struct statuspage_change changes[8];
  CHECK(statuspage_diff(&s, &s, changes, 8) == 0);
  status_snapshot_init(&base);
  size_t n = statuspage_diff(&base, &s, changes, 8);
  CHECK(n == statuspage_diff(&base, &s, NULL, 0));
  CHECK(statuspage_diff(&s, &base, NULL, 0) == 0); /* base is not reachable */

  status_snapshot_copy(&copy, &s);
  struct status_snapshot failed;
  statuspage_failed(&failed, 2000, "fuzz");
  statuspage_carry(&copy, &failed);
  CHECK(!copy.reachable && copy.fetched_ms == 1000 && copy.n_incidents == s.n_incidents);
  status_snapshot_free(&failed);
  status_snapshot_free(&copy);
  status_snapshot_free(&s);
  return 0;
}
