/* metrics.h — the Prometheus metrics of the daemon: a registry of counters, gauges and
 * histograms that the daemon updates as things happen, and their text exposition (format
 * 0.0.4) for /metrics. The families, types and labels are DESIGN.md's metrics contract;
 * docs/metrics.md lists every one.
 *
 * Labels carry configured names (keys, alert receivers) and enumerations only — never an
 * API key, a URL or an error message. Every label value is redacted (log_redact) and
 * escaped once, when it is registered, so rendering allocates nothing per sample.
 *
 * Not thread-safe: everything runs on the loop thread. Indices are those of the config's
 * key list; the daemon builds a new struct metrics when a reload changes the keys. */
#ifndef CLAUDEMON_METRICS_H
#define CLAUDEMON_METRICS_H

#include "agent/config.h"
#include "agent/model.h"
#include "exporters/httpd.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The Content-Type of the text exposition, exactly. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct metrics;

/* metrics_new makes a registry for n_keys keys named key_names[i] (copied). In
 * CONFIG_PER_KEY_MINIMAL mode the only per-key series are claudemon_key_up,
 * claudemon_key_cause and claudemon_key_failing_since_timestamp_seconds, so 10,000 keys
 * stay scrapeable. Every key starts with cause "unknown" (not yet probed). */
struct metrics *metrics_new(size_t n_keys, const char *const *key_names, enum config_per_key mode);

/* metrics_free frees m; metrics_free(NULL) does nothing. */
void metrics_free(struct metrics *m);

/* metrics_build_info sets the sqlite label of claudemon_build_info (the daemon passes the
 * version storage reports; this module does not include <sqlite3.h>). The version, libcurl
 * and libuv labels are filled by metrics_new. Until called, sqlite is "unknown". */
void metrics_build_info(struct metrics *m, const char *sqlite_version);

/* metrics_probe_done counts one finished probe: claudemon_probes_total{key,probe,cause}
 * (full mode) and claudemon_probe_duration_seconds{probe}. cause must be a per-probe cause
 * (CAUSE_OK..CAUSE_UNKNOWN). Returns 0 or UTIL_EINVAL (bad index, kind or cause). */
int metrics_probe_done(struct metrics *m, size_t key_index, enum probe_kind kind, enum cause cause,
                       double duration_s);

/* metrics_tokens adds the tokens a messages probe spent (negative values count as 0).
 * Full mode only; returns 0 or UTIL_EINVAL. */
int metrics_tokens(struct metrics *m, size_t key_index, int64_t input, int64_t output);

/* metrics_sched_lag observes how late a probe started against its plan (seconds). */
void metrics_sched_lag(struct metrics *m, double seconds);

/* metrics_storage sets the storage writer's health: its error count since start (a
 * counter: pass the running total) and its queue length now. */
void metrics_storage(struct metrics *m, uint64_t errors_total, uint64_t queue_length);

/* metrics_alert_sent counts one alert push to receiver (a configured name such as
 * "alertmanager_0" or "webhook", never a URL): result "ok" or "error". Both series of a
 * receiver appear at its first push. At most 64 receivers are tracked. */
void metrics_alert_sent(struct metrics *m, const char *receiver, bool ok);

/* metrics_key_state sets a key's state after hysteresis: its current cause (any per-probe
 * cause), whether it is failing, since when (Unix ms, -1 when not failing) and when it was
 * last probed (Unix ms, -1 never). Returns 0 or UTIL_EINVAL. */
int metrics_key_state(struct metrics *m, size_t key_index, enum cause cause, bool failing,
                      int64_t failing_since_ms, int64_t last_probe_ms);

/* metrics_key_ratelimit sets the key's rate-limit gauges from its last probe's
 * anthropic-ratelimit-* headers (-1 = absent: that series is not exported). Full mode
 * only; returns 0 or UTIL_EINVAL. */
int metrics_key_ratelimit(struct metrics *m, size_t key_index,
                          const struct ratelimit rl[RL__COUNT]);

/* metrics_status copies what the status page metrics need from s (s is not kept):
 * claudemon_status_page_up (s->reachable), the indicator, every watched component and the
 * unresolved incidents counted by impact. */
void metrics_status(struct metrics *m, const struct status_snapshot *s);

/* metrics_status_page_up sets claudemon_status_page_up alone, for a failed poll that
 * leaves the last snapshot's indicator and components in place. */
void metrics_status_page_up(struct metrics *m, bool up);

/* metrics_verdict sets the current verdict; claudemon_verdict is absent until the first
 * call. */
void metrics_verdict(struct metrics *m, enum scope scope, enum cause cause);

/* metrics_platform_incident sets whether a platform incident is declared now. */
void metrics_platform_incident(struct metrics *m, bool declared);

/* metrics_detection_lead sets the lead time of the last platform incident (seconds,
 * positive when we were first); absent until the first call. */
void metrics_detection_lead(struct metrics *m, double seconds);

/* metrics_render writes the whole exposition into *out (malloc'd, NUL-terminated; the
 * caller frees it) and its length into *len. It reads /proc/self for the process_*
 * families. Returns 0. */
int metrics_render(struct metrics *m, char **out, size_t *len);

/* metrics_serve is an httpd_handler_cb for /metrics: arg is the struct metrics. */
void metrics_serve(void *arg, const struct httpd_request *req, struct httpd_response *res);

#endif
