/* report.h — the JSON and table documents of DESIGN.md's `check --format json` shape, shared
 * by `claudemon check` and the HTTP API's /api/v1/status: one entry per key and probe kind,
 * the status page summary, the verdict and the findings. Builds cJSON trees; never touches a
 * secret (keys are named by their configured names only). */
#ifndef CLAUDEMON_REPORT_H
#define CLAUDEMON_REPORT_H

#include "agent/model.h"

#include <cJSON.h>
#include <stdio.h>

/* report_probe_entry returns {"name","probe","cause",...} for one probe result of the key
 * named name (DESIGN.md's keys[] entry). */
cJSON *report_probe_entry(const char *name, const struct probe_result *r);

/* report_status_page returns the "status_page" object of a snapshot. */
cJSON *report_status_page(const struct status_snapshot *s);

/* report_time adds name: RFC 3339 time to obj, or null when unix_ms < 0. */
void report_time(cJSON *obj, const char *name, int64_t unix_ms);
/* report_str adds name: s to obj, or null when s is NULL or "". */
void report_str(cJSON *obj, const char *name, const char *s);

struct classifier;
struct finding;
struct judgement;

/* report_finding returns a verdict or finding {scope, cause, keys[], summary, evidence[],
 * advice, ...}; key names come from the classifier. */
cJSON *report_finding(const struct finding *f, const struct classifier *c);

/* report_judgement adds "verdict", "findings" and "platform" (incident declared, lead time)
 * of j to doc. */
void report_judgement(cJSON *doc, const struct judgement *j, const struct classifier *c);
#endif
