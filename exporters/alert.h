/* alert.h — the alerts claudemon pushes: which conditions become which alert (names, labels,
 * severities of DESIGN.md's "Alerts" contract), the state machine that fires, holds, resolves
 * and re-sends them, and the bytes of an Alertmanager v2 or webhook request. No I/O: the
 * daemon sends the bytes through its HTTP client and reports the result with alerts_sent().
 *
 * How the daemon drives it (one thread, the loop's):
 *
 *   alerts_opts_from_config(&o, cfg); a = alerts_new(&o);
 *   alerts_restore(a, rows, n);                 // rows kept by storage since the last run
 *   on every judgement (and at least every resend interval):
 *     alerts_update(a, inputs, n, now);         // the full set of conditions that hold now
 *     if (alerts_generation(a) changed) store the rows of alerts_export(a, &rows)
 *   on a timer (alerts_next_due_ms tells when), for each receiver i:
 *     if (alerts_due(a, i, now, &body))          // or alerts_webhook_body() for the webhook
 *       POST body; ... later, once: alerts_sent(a, i, ok, now); free(body)
 *
 * Receivers are numbered 0..n_receivers-1; alerts_opts_from_config() numbers the
 * Alertmanagers first (alerting.alertmanager[i] is receiver i) and the webhook last. */
#ifndef CLAUDEMON_ALERT_H
#define CLAUDEMON_ALERT_H

#include "agent/config.h"
#include "agent/model.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ALERT_NAME_PLATFORM_INCIDENT "ClaudePlatformIncident"
#define ALERT_NAME_HEADROOM_LOW "ClaudeRateLimitHeadroomLow"
#define ALERT_NAME_HEARTBEAT "ClaudeMonitorHeartbeat"

/* A key's rate limit is "low on headroom" when remaining < ALERT_HEADROOM_THRESHOLD × limit
 * for one of its resources. The shipped Prometheus rules use the same ratio. */
#define ALERT_HEADROOM_THRESHOLD 0.1

/* At most this many alerts go into one request body; the rest are due right after. */
#define ALERT_BATCH_MAX 500

/* One condition that holds now, filled by the daemon from the classifier's verdict, findings
 * and key states. Contract with the daemon:
 *  - one input per failing key for per-key causes (key set), one keyless input for a platform
 *    or network verdict and for each status-page finding;
 *  - during a platform incident (a keyless input that maps to ClaudePlatformIncident) it does
 *    not pass per-key inputs of platform-side causes (overloaded, server_error, and timeout or
 *    edge_error, which are the incident's symptoms then); alerts_update() drops them anyway,
 *    and resolves at once (no hold-down) the per-key alerts of such causes still firing;
 *  - ClaudeRateLimitHeadroomLow: one input per key with headroom_low set, cause rate_limited,
 *    scope local, when alert_headroom_is_low() holds for one of its resources. It is dropped
 *    while the same key has a rate_limited input: the limit is already hit.
 * Strings are borrowed for the duration of alerts_update(); they are redacted (anything
 * key-shaped, every registered secret) and sanitised before they go anywhere. */
struct alert_input {
  enum scope scope;
  enum cause cause;
  const char *key;         /* configured key name; NULL unless about one key */
  const char *summary;     /* one line; NULL gives a default from the alert's name */
  const char *description; /* evidence: HTTP status, error type and message, request id,
                              since when, healthy keys, incident name and link; may be NULL */
  int64_t onset_ms;        /* Unix ms the condition really began (the first failing probe);
                              <= 0 means now */
  bool maintenance;        /* a scheduled maintenance is in progress: ClaudePlatformIncident
                              is downgraded to severity info */
  bool headroom_low;       /* this is ClaudeRateLimitHeadroomLow about key, not a failure */
};

/* alert_name_for returns the alertname of a condition, or NULL when it raises no alert
 * (cause ok). Platform causes (incident, maintenance, overloaded, server_error) give
 * ClaudePlatformIncident; network, timeout and edge_error give ClaudeNetworkUnreachable, or
 * ClaudePlatformIncident when the classifier judged them platform (scope platform); unknown
 * gives ClaudeKeyUnknownError and dns_interception ClaudeDNSInterception (both extend
 * DESIGN.md's table). key does not change the name today; it is accepted so callers need not
 * care. The result is a static string. */
const char *alert_name_for(enum scope scope, enum cause cause, const char *key);

/* alert_scope_of returns the scope label of an alertname (DESIGN.md's table), SCOPE_NONE for
 * the heartbeat and for names it does not know. */
enum scope alert_scope_of(const char *alertname);

/* alert_severity_of returns the severity label of an alertname: "critical", "warning",
 * "info" or "none" (heartbeat); ClaudePlatformIncident is "info" when maintenance is true.
 * NULL for a name it does not know. */
const char *alert_severity_of(const char *alertname, bool maintenance);

/* alert_headroom_is_low is true when limit > 0, remaining >= 0 and remaining is under
 * threshold × limit. */
bool alert_headroom_is_low(int64_t remaining, int64_t limit, double threshold);

/* alert_fingerprint returns the fingerprint of a label set: FNV-1a 64 over the labels sorted
 * by name, each name and value followed by a 0xff byte — the same number Prometheus and
 * Alertmanager compute, so our fingerprint is the one Alertmanager's UI shows. names and
 * values have n entries each, in any order. */
uint64_t alert_fingerprint(const char *const *names, const char *const *values, size_t n);

struct alerts_opts {
  int64_t resend_interval_ms; /* firing (and recently resolved) alerts re-sent this often;
                                 <= 0 gives 60 s. endsAt of a firing alert is 4 × this */
  int64_t hold_down_ms;       /* flap hold-down, see alerts_update(); <= 0 gives
                                 max(5 min, 4 × resend_interval) */
  int64_t resolved_keep_ms;   /* resolved alerts are re-sent this long; <= 0 gives 15 min */
  const char *external_url;   /* generatorURL = this + "/api/v1/status"; NULL: none */
  const char *runbook_url;    /* runbook_url annotation = this + "#" + cause; NULL: none */
  const char *vantage;        /* vantage annotation; NULL: none */
  size_t n_receivers;         /* Alertmanagers and webhooks, each scheduled on its own */
};

/* alerts_opts_from_config fills o from the config: resend interval, external_url (whose
 * default, http://<listen>, the config parser fills in), runbook_url, vantage, and
 * n_receivers = the Alertmanagers + 1 when a webhook is configured (the webhook is the last
 * receiver). The hold-down also covers the
 * keys' probe intervals: max(5 min, 4 × resend, 3 × the longest of the keys' shortest probe
 * intervals), so a key whose state flips on every probe holds its alert. Strings point into
 * c; alerts_new() copies them. */
void alerts_opts_from_config(struct alerts_opts *o, const struct config *c);

struct alerts;

/* alerts_new creates the alert state (empty; the heartbeat starts with the first
 * alerts_update()). It copies what it keeps of o. Free with alerts_free(). */
struct alerts *alerts_new(const struct alerts_opts *o);
/* alerts_free frees a; alerts_free(NULL) does nothing. */
void alerts_free(struct alerts *a);

/* alerts_update takes the full set of conditions that hold at now_ms (in[0..n-1]; inputs
 * raising no alert are ignored, duplicates merged) and moves every alert:
 *  - a new condition fires with startsAt = its onset_ms; ClaudeMonitorHeartbeat always fires;
 *  - a condition that goes away resolves at once (endsAt = now) when it had held steadily
 *    for the hold-down; a younger one (it fired or came back less than a hold-down ago) is
 *    held firing until it has stayed away for a whole hold-down, then resolved with endsAt =
 *    when it went away — so a key that flips between ok and failing sends one firing
 *    notification and nothing more until it settles;
 *  - a condition that comes back within a hold-down of going away is the same alert again
 *    (same startsAt); after that it is a new one.
 * Summary and description of an alert follow its latest input (sent with the next resend). */
void alerts_update(struct alerts *a, const struct alert_input *in, size_t n, int64_t now_ms);

/* alerts_due returns true and *json (malloc'd, the caller frees) when something is due for
 * receiver at now_ms: the Alertmanager v2 `POST /api/v2/alerts` body, a JSON array of
 * {labels, annotations, startsAt, endsAt, generatorURL}. Due: alerts that changed since the
 * receiver last got them, and every resend_interval everything firing and recently resolved
 * (alerts half-way to their resend ride along, so they stay in step). Returns false (and
 * *json = NULL) when nothing is due, while the receiver backs off after a failure, and while
 * a request is in flight. Every true must be followed, once, by alerts_sent(). */
bool alerts_due(struct alerts *a, size_t receiver, int64_t now_ms, char **json);

/* alerts_webhook_body is alerts_due for a webhook receiver: the same alerts in the body
 * {"version":"1","sender":"claudemon","status":"firing"|"resolved","sentAt":...,
 *  "externalURL":...,"alerts":[{"status","fingerprint","labels","annotations","startsAt",
 *  "endsAt","generatorURL"}]}. Sign it with alerts_hmac_sha256_hex(). */
bool alerts_webhook_body(struct alerts *a, size_t receiver, int64_t now_ms, char **json);

/* alerts_sent records the result of the request of the last alerts_due() or
 * alerts_webhook_body() for receiver: ok (a 2xx) marks its alerts delivered; a failure leaves
 * them due and backs the receiver off (1 s, doubling, capped at resend_interval). Other
 * receivers are never held up. A request not reported within 5 minutes counts as failed. */
void alerts_sent(struct alerts *a, size_t receiver, bool ok, int64_t now_ms);

/* alerts_next_due_ms returns the Unix ms at which alerts_due() for receiver may next have
 * something (<= now: at once), or INT64_MAX when nothing is pending. For arming a timer. */
int64_t alerts_next_due_ms(const struct alerts *a, size_t receiver);

/* alerts_hmac_sha256_hex writes HMAC-SHA256(secret, body) as 64 hex digits and a NUL into
 * out: the webhook's `X-Claudemon-Signature: sha256=<hex>` header. */
void alerts_hmac_sha256_hex(const char *secret, const void *body, size_t len, char out[65]);

/* Persistence: what storage keeps so that a restart re-sends firing alerts with their
 * original startsAt (Alertmanager merges them: no new notification). */
enum alert_state { ALERT_STATE_FIRING, ALERT_STATE_RESOLVED };
const char *alert_state_name(enum alert_state s);             /* "firing", "resolved" */
int alert_state_parse(const char *name, enum alert_state *s); /* 0 or UTIL_EINVAL */

#define ALERT_FINGERPRINT_LEN 16 /* hex digits */

struct alert_record {
  char fingerprint[ALERT_FINGERPRINT_LEN + 1]; /* alert_fingerprint() in %016x */
  char *labels;                                /* JSON object of strings, keys sorted (owned) */
  char *annotations;                           /* JSON object of strings (owned) */
  int64_t starts_at_ms;
  int64_t ends_at_ms; /* when it resolved; -1 while firing */
  enum alert_state state;
};

/* alerts_export returns the number of alerts and *out, an array of records (firing and
 * recently resolved; not the heartbeat) the caller frees with alert_records_free(). *out is
 * NULL when there are none. */
size_t alerts_export(const struct alerts *a, struct alert_record **out);
/* alert_records_free frees n records and the array; NULL does nothing. */
void alert_records_free(struct alert_record *r, size_t n);

/* alerts_restore loads records kept by a previous run, before the first alerts_update():
 * firing ones keep their startsAt and are re-sent at once; resolved ones are re-sent until
 * resolved_keep after their endsAt. Records with unreadable JSON are skipped with a warning;
 * the fingerprint is recomputed from the labels; the heartbeat is never restored. */
void alerts_restore(struct alerts *a, const struct alert_record *r, size_t n);

/* alerts_generation changes whenever what alerts_export() would return changes in anything
 * but annotations (an alert fired, resolved, came back or was dropped). */
uint64_t alerts_generation(const struct alerts *a);

#endif
