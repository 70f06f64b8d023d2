/* store.c — the only file that talks to SQLite. It owns the schema and its migrations, the
 * in-memory queue the loop fills between flushes, the batched writer, retention, and every
 * query the CLI and the HTTP API run (they get cJSON documents, never a statement).
 *
 * Must never: block the loop for longer than the busy timeout plus one bounded batch
 * (BEGIN IMMEDIATE fails fast when someone else holds the write lock); lose a queued row on
 * a failed flush (rows leave the queue only after COMMIT); drop anything but raw probe rows
 * when the queue is full; keep a secret (the store is given names, fingerprints and hints
 * only, and free text from outside is passed through log_redact before it is queued);
 * modify a database written by a newer claudemon.
 *
 * Statements are prepared once at open into an array indexed by enum stmt and always
 * reset (and their bindings cleared) after use, on every path. Parameters are named; the
 * index of each name is cached per statement by the address of the name's literal, so the
 * hot insert does not search the names on every row.
 *
 * Lifetime: a struct store owns its connection, its queue (struct qrow, one allocation per
 * row holding its strings) and small caches: key name -> id (rebuilt after any failed
 * transaction), the status page state last recorded (to store changes only). */
#include "storage/store.h"
#include "agent/log.h"
#include "agent/util.h"

#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* "CLMN": marks the file as claudemon's, so it never migrates someone else's database. */
#define STORE_APPLICATION_ID 0x434c4d4e
#define STORE_MAX_PARAMS 48
#define STORE_HOUR_MS (3600 * 1000LL)
/* A platform verdict matches a status page incident when it was in force between this long
 * before the incident was published and the incident's resolution. */
#define STORE_LEAD_WINDOW_MS (2 * STORE_HOUR_MS)
/* Keys visited by one store_maintain call. */
#define STORE_READER_BUSY_MS 2000

/* ---- Schema ----------------------------------------------------------------------------- */

/* The columns of the two roll-up tables (frozen with the migration that uses it). */
#define ROLLUP_DDL                                                                                 \
  "  key_id INTEGER NOT NULL REFERENCES keys(id),\n"                                               \
  "  hour INTEGER NOT NULL,       -- start of the hour\n"                                          \
  "  kind TEXT NOT NULL,\n"                                                                        \
  "  n_ok INTEGER NOT NULL DEFAULT 0, n_auth_invalid INTEGER NOT NULL DEFAULT 0,\n"                \
  "  n_permission INTEGER NOT NULL DEFAULT 0, n_quota INTEGER NOT NULL DEFAULT 0,\n"               \
  "  n_account_disabled INTEGER NOT NULL DEFAULT 0, n_rate_limited INTEGER NOT NULL DEFAULT 0,\n"  \
  "  n_request_invalid INTEGER NOT NULL DEFAULT 0,\n"                                              \
  "  n_key_unavailable INTEGER NOT NULL DEFAULT 0,\n"                                              \
  "  n_overloaded INTEGER NOT NULL DEFAULT 0, n_server_error INTEGER NOT NULL DEFAULT 0,\n"        \
  "  n_edge_error INTEGER NOT NULL DEFAULT 0, n_timeout INTEGER NOT NULL DEFAULT 0,\n"             \
  "  n_network INTEGER NOT NULL DEFAULT 0, n_unknown INTEGER NOT NULL DEFAULT 0,\n"                \
  "  latency_n INTEGER NOT NULL DEFAULT 0, latency_sum_us INTEGER NOT NULL DEFAULT 0,\n"           \
  "  latency_max_us INTEGER NOT NULL DEFAULT 0,\n"                                                 \
  "  lat_le_100ms INTEGER NOT NULL DEFAULT 0, lat_le_250ms INTEGER NOT NULL DEFAULT 0,\n"          \
  "  lat_le_500ms INTEGER NOT NULL DEFAULT 0, lat_le_1s INTEGER NOT NULL DEFAULT 0,\n"             \
  "  lat_le_2500ms INTEGER NOT NULL DEFAULT 0, lat_le_5s INTEGER NOT NULL DEFAULT 0,\n"            \
  "  lat_le_10s INTEGER NOT NULL DEFAULT 0, lat_gt_10s INTEGER NOT NULL DEFAULT 0,\n"              \
  "  tokens_in INTEGER NOT NULL DEFAULT 0, tokens_out INTEGER NOT NULL DEFAULT 0,\n"               \
  "  PRIMARY KEY (key_id, hour, kind)\n"

/* Forward migrations: migrations[v] takes a database from user_version v to v + 1. Never edit
 * one that has shipped: add the next. Times are Unix milliseconds; causes, kinds and scopes
 * are DESIGN.md's names (text, so the file does not depend on the order of our enums). */
static const char *const migrations[STORE_SCHEMA_VERSION] = {
    /* 0 -> 1 */
    "CREATE TABLE keys (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  name TEXT NOT NULL UNIQUE,   -- the configured name\n"
    "  fingerprint TEXT,            -- SHA-256 hex of the key; NULL until its secret was read\n"
    "  hint TEXT,                   -- console-style hint: first 16 characters ... last four\n"
    "  first_seen INTEGER NOT NULL,\n"
    "  last_seen INTEGER            -- start of its last probe\n"
    ");\n"
    "CREATE TABLE key_events (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  at INTEGER NOT NULL,\n"
    "  key_id INTEGER NOT NULL REFERENCES keys(id),\n"
    "  event TEXT NOT NULL,         -- first_seen | fingerprint_changed\n"
    "  fingerprint TEXT, hint TEXT, previous_fingerprint TEXT, previous_hint TEXT\n"
    ");\n"
    "CREATE INDEX key_events_key_at ON key_events(key_id, at);\n"
    "CREATE TABLE probes (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  at INTEGER NOT NULL,         -- probe start\n"
    "  key_id INTEGER NOT NULL REFERENCES keys(id),\n"
    "  kind TEXT NOT NULL,          -- models | count_tokens | messages\n"
    "  cause TEXT NOT NULL,\n"
    "  http_status INTEGER,         -- NULL: no answer\n"
    "  error_type TEXT, error_message TEXT, error_code TEXT, request_id TEXT,\n"
    "  organization_id TEXT, workspace_id TEXT,\n"
    "  total_us INTEGER, dns_us INTEGER, connect_us INTEGER, tls_us INTEGER, ttfb_us INTEGER,\n"
    "  curl_code INTEGER, curl_error TEXT,  -- NULL when the transfer completed\n"
    "  transport TEXT,              -- dns, connect, tls, proxy, timeout, ...; NULL: completed\n"
    "  body TEXT,                   -- api_error, html, other_json, other, none; NULL: expected\n"
    "  peer TEXT, via_proxy INTEGER NOT NULL DEFAULT 0,\n"
    "  retry_after_s INTEGER, rl_requests_remaining INTEGER, rl_tokens_remaining INTEGER,\n"
    "  input_tokens INTEGER, output_tokens INTEGER\n"
    ");\n"
    "CREATE INDEX probes_at ON probes(at);\n"
    "CREATE TABLE key_transitions (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  at INTEGER NOT NULL,\n"
    "  key_id INTEGER NOT NULL REFERENCES keys(id),\n"
    "  from_cause TEXT NOT NULL, to_cause TEXT NOT NULL,\n"
    "  cause TEXT, probe TEXT,      -- the evidence: the probe that made the change\n"
    "  http_status INTEGER, error_type TEXT, error_message TEXT, error_code TEXT,\n"
    "  request_id TEXT, curl_error TEXT\n"
    ");\n"
    "CREATE INDEX key_transitions_key_at ON key_transitions(key_id, at);\n"
    "CREATE TABLE status_components (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  at INTEGER NOT NULL,         -- when we saw the new status\n"
    "  component_id TEXT NOT NULL, name TEXT, status TEXT NOT NULL\n"
    ");\n"
    "CREATE INDEX status_components_component_at ON status_components(component_id, at);\n"
    "CREATE INDEX status_components_at ON status_components(at);\n"
    "CREATE TABLE incidents (\n"
    "  id TEXT PRIMARY KEY,         -- the status page's id\n"
    "  kind TEXT NOT NULL,          -- incident | maintenance\n"
    "  name TEXT, impact TEXT, status TEXT, shortlink TEXT,\n"
    "  created_at INTEGER, updated_at INTEGER, started_at INTEGER,\n"
    "  scheduled_for INTEGER, scheduled_until INTEGER,\n"
    "  resolved_at INTEGER,         -- when it left the page's unresolved list\n"
    "  first_seen INTEGER NOT NULL,\n"
    "  components TEXT              -- JSON array of affected component ids\n"
    ");\n"
    "CREATE INDEX incidents_created ON incidents(created_at);\n"
    "CREATE TABLE incident_updates (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  incident_id TEXT NOT NULL REFERENCES incidents(id),\n"
    "  at INTEGER NOT NULL, status TEXT, body TEXT,\n"
    "  UNIQUE (incident_id, at)\n"
    ");\n"
    "CREATE TABLE verdicts (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  at INTEGER NOT NULL,         -- declared\n"
    "  ended_at INTEGER,            -- NULL: in force\n"
    "  scope TEXT NOT NULL, cause TEXT NOT NULL,\n"
    "  keys TEXT NOT NULL,          -- JSON array of key names\n"
    "  summary TEXT\n"
    ");\n"
    "CREATE INDEX verdicts_scope_at ON verdicts(scope, at);\n"
    "CREATE INDEX verdicts_open ON verdicts(id) WHERE ended_at IS NULL;\n"
    "CREATE TABLE alerts (\n"
    "  fingerprint TEXT NOT NULL, starts_at INTEGER NOT NULL,\n"
    "  alertname TEXT NOT NULL, labels TEXT NOT NULL, annotations TEXT NOT NULL,\n"
    "  ends_at INTEGER, last_sent INTEGER,\n"
    "  state TEXT NOT NULL CHECK (state IN ('firing', 'resolved')),\n"
    "  PRIMARY KEY (fingerprint, starts_at)\n"
    ");\n"
    "CREATE INDEX alerts_firing ON alerts(starts_at) WHERE state = 'firing';\n"
    "CREATE TABLE rollups (         -- finished hours, key by key: one key's series is one "
    "range\n" ROLLUP_DDL ") WITHOUT ROWID;\n"
    "CREATE INDEX rollups_hour ON rollups(hour);\n"
    "CREATE TABLE rollups_recent (  -- the hours being written; merged into rollups "
    "later\n" ROLLUP_DDL ") WITHOUT ROWID;\n",
};

/* The roll-up's per-cause columns, in enum cause order (CAUSE_OK .. CAUSE_UNKNOWN). */
static const char *const rollup_cause_param[CAUSE__PROBE_COUNT] = {":n_ok",
                                                                   ":n_auth_invalid",
                                                                   ":n_permission",
                                                                   ":n_quota",
                                                                   ":n_account_disabled",
                                                                   ":n_rate_limited",
                                                                   ":n_request_invalid",
                                                                   ":n_key_unavailable",
                                                                   ":n_overloaded",
                                                                   ":n_server_error",
                                                                   ":n_edge_error",
                                                                   ":n_timeout",
                                                                   ":n_network",
                                                                   ":n_unknown"};
_Static_assert(CAUSE__PROBE_COUNT == 14,
               "a new per-probe cause needs a roll-up column: add a migration");

/* Latency histogram bounds in microseconds (the last bucket is everything above). */
static const int64_t rollup_bucket_us[] = {100000,  250000,  500000,  1000000,
                                           2500000, 5000000, 10000000};
#define ROLLUP_BUCKETS 8
static const char *const rollup_bucket_param[ROLLUP_BUCKETS] = {
    ":lat_le_100ms",  ":lat_le_250ms", ":lat_le_500ms", ":lat_le_1s",
    ":lat_le_2500ms", ":lat_le_5s",    ":lat_le_10s",   ":lat_gt_10s"};

#define ROLLUP_COLUMNS                                                                             \
  "n_ok, n_auth_invalid, n_permission, n_quota, n_account_disabled, n_rate_limited, "              \
  "n_request_invalid, n_key_unavailable, n_overloaded, n_server_error, n_edge_error, n_timeout, "  \
  "n_network, n_unknown, latency_n, latency_sum_us, latency_max_us, lat_le_100ms, lat_le_250ms, "  \
  "lat_le_500ms, lat_le_1s, lat_le_2500ms, lat_le_5s, lat_le_10s, lat_gt_10s, tokens_in, "         \
  "tokens_out"

/* Adding one roll-up row to another: a batch to the hour being written, a finished hour to
 * the long table (an hour can receive late rows after it was merged). */
#define ROLLUP_ADD                                                                                 \
  "ON CONFLICT(key_id, hour, kind) DO UPDATE SET "                                                 \
  "n_ok = n_ok + excluded.n_ok, n_auth_invalid = n_auth_invalid + excluded.n_auth_invalid, "       \
  "n_permission = n_permission + excluded.n_permission, n_quota = n_quota + excluded.n_quota, "    \
  "n_account_disabled = n_account_disabled + excluded.n_account_disabled, "                        \
  "n_rate_limited = n_rate_limited + excluded.n_rate_limited, "                                    \
  "n_request_invalid = n_request_invalid + excluded.n_request_invalid, "                           \
  "n_key_unavailable = n_key_unavailable + excluded.n_key_unavailable, "                           \
  "n_overloaded = n_overloaded + excluded.n_overloaded, "                                          \
  "n_server_error = n_server_error + excluded.n_server_error, "                                    \
  "n_edge_error = n_edge_error + excluded.n_edge_error, "                                          \
  "n_timeout = n_timeout + excluded.n_timeout, n_network = n_network + excluded.n_network, "       \
  "n_unknown = n_unknown + excluded.n_unknown, latency_n = latency_n + excluded.latency_n, "       \
  "latency_sum_us = latency_sum_us + excluded.latency_sum_us, "                                    \
  "latency_max_us = max(latency_max_us, excluded.latency_max_us), "                                \
  "lat_le_100ms = lat_le_100ms + excluded.lat_le_100ms, "                                          \
  "lat_le_250ms = lat_le_250ms + excluded.lat_le_250ms, "                                          \
  "lat_le_500ms = lat_le_500ms + excluded.lat_le_500ms, "                                          \
  "lat_le_1s = lat_le_1s + excluded.lat_le_1s, "                                                   \
  "lat_le_2500ms = lat_le_2500ms + excluded.lat_le_2500ms, "                                       \
  "lat_le_5s = lat_le_5s + excluded.lat_le_5s, lat_le_10s = lat_le_10s + excluded.lat_le_10s, "    \
  "lat_gt_10s = lat_gt_10s + excluded.lat_gt_10s, tokens_in = tokens_in + excluded.tokens_in, "    \
  "tokens_out = tokens_out + excluded.tokens_out"

#define TRANSITION_COLUMNS                                                                         \
  "at, from_cause, to_cause, cause, probe, http_status, error_type, error_message, error_code, "   \
  "request_id, curl_error"

#define INCIDENT_COLUMNS                                                                           \
  "id, kind, name, impact, status, shortlink, created_at, updated_at, resolved_at, components, "   \
  "first_seen"

enum stmt {
  ST_BEGIN,
  ST_COMMIT,
  ST_ROLLBACK,
  ST_KEY_GET,
  ST_KEY_INSERT,
  ST_KEY_SET_FP,
  ST_KEY_EVENT,
  ST_KEY_LAST_SEEN,
  ST_PROBE_INSERT,
  ST_ROLLUP_UPSERT,
  ST_ROLLUP_MERGE,
  ST_ROLLUP_MERGED,
  ST_TRANSITION_INSERT,
  ST_COMPONENT_INSERT,
  ST_INCIDENT_UPSERT,
  ST_INCIDENT_UPDATE,
  ST_INCIDENT_RESOLVE,
  ST_VERDICT_END,
  ST_VERDICT_INSERT,
  ST_ALERT_UPSERT,
  ST_MAINT_PROBES,
  ST_MAINT_ROLLUPS,
  ST_LOAD_COMPONENTS,
  ST_LOAD_INCIDENTS,
  ST_Q_KEY_BY_NAME,
  ST_Q_KEYS,
  ST_Q_TRANSITIONS,
  ST_Q_KEY_EVENTS,
  ST_Q_LAST_TRANSITION,
  ST_Q_LAST_STATES,
  ST_Q_INCIDENTS,
  ST_Q_INCIDENTS_OPEN,
  ST_Q_INCIDENT_UPDATES,
  ST_Q_VERDICTS,
  ST_Q_VERDICTS_OPEN,
  ST_Q_ALERTS_FIRING,
  ST_Q_ROLLUPS,
  ST_Q_ROLLUPS_RECENT,
  ST__COUNT
};

static const char *const stmt_sql[ST__COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_KEY_GET] = "SELECT id, fingerprint, hint FROM keys WHERE name = :name",
    [ST_KEY_INSERT] = "INSERT INTO keys(name, fingerprint, hint, first_seen) "
                      "VALUES(:name, :fingerprint, :hint, :at)",
    [ST_KEY_SET_FP] = "UPDATE keys SET fingerprint = :fingerprint, hint = :hint WHERE id = :id",
    [ST_KEY_EVENT] = "INSERT INTO key_events(at, key_id, event, fingerprint, hint, "
                     "previous_fingerprint, previous_hint) VALUES(:at, :key_id, :event, "
                     ":fingerprint, :hint, :previous_fingerprint, :previous_hint)",
    [ST_KEY_LAST_SEEN] = "UPDATE keys SET last_seen = max(coalesce(last_seen, 0), :at) "
                         "WHERE id = :id",
    [ST_PROBE_INSERT] =
        "INSERT INTO probes(at, key_id, kind, cause, http_status, error_type, error_message, "
        "error_code, request_id, organization_id, workspace_id, total_us, dns_us, connect_us, "
        "tls_us, ttfb_us, curl_code, curl_error, transport, body, peer, via_proxy, retry_after_s, "
        "rl_requests_remaining, rl_tokens_remaining, input_tokens, output_tokens) "
        "VALUES(:at, :key_id, :kind, :cause, :http_status, :error_type, :error_message, "
        ":error_code, :request_id, :organization_id, :workspace_id, :total_us, :dns_us, "
        ":connect_us, :tls_us, :ttfb_us, :curl_code, :curl_error, :transport, :body, :peer, "
        ":via_proxy, :retry_after_s, :rl_requests_remaining, :rl_tokens_remaining, "
        ":input_tokens, :output_tokens)",
    [ST_ROLLUP_UPSERT] =
        "INSERT INTO rollups_recent(key_id, hour, kind, " ROLLUP_COLUMNS ") "
        "VALUES(:key_id, :hour, :kind, :n_ok, :n_auth_invalid, :n_permission, :n_quota, "
        ":n_account_disabled, :n_rate_limited, :n_request_invalid, :n_key_unavailable, "
        ":n_overloaded, :n_server_error, :n_edge_error, :n_timeout, :n_network, :n_unknown, "
        ":latency_n, :latency_sum_us, :latency_max_us, :lat_le_100ms, :lat_le_250ms, "
        ":lat_le_500ms, :lat_le_1s, :lat_le_2500ms, :lat_le_5s, :lat_le_10s, :lat_gt_10s, "
        ":tokens_in, :tokens_out) " ROLLUP_ADD,
    [ST_ROLLUP_MERGE] = "INSERT INTO rollups(key_id, hour, kind, " ROLLUP_COLUMNS ") SELECT "
                        "key_id, hour, kind, " ROLLUP_COLUMNS " FROM rollups_recent WHERE "
                        "hour < :before ORDER BY hour, key_id, kind LIMIT :n " ROLLUP_ADD,
    [ST_ROLLUP_MERGED] = "DELETE FROM rollups_recent WHERE (key_id, hour, kind) IN (SELECT "
                         "key_id, hour, kind FROM rollups_recent WHERE hour < :before ORDER BY "
                         "hour, key_id, kind LIMIT :n)",
    [ST_TRANSITION_INSERT] =
        "INSERT INTO key_transitions(key_id, " TRANSITION_COLUMNS ") VALUES(:key_id, :at, "
        ":from_cause, :to_cause, :cause, :probe, :http_status, :error_type, :error_message, "
        ":error_code, :request_id, :curl_error)",
    [ST_COMPONENT_INSERT] = "INSERT INTO status_components(at, component_id, name, status) "
                            "VALUES(:at, :component_id, :name, :status)",
    [ST_INCIDENT_UPSERT] =
        "INSERT INTO incidents(id, kind, name, impact, status, shortlink, created_at, updated_at, "
        "started_at, scheduled_for, scheduled_until, first_seen, components) VALUES(:id, :kind, "
        ":name, :impact, :status, :shortlink, :created_at, :updated_at, :started_at, "
        ":scheduled_for, :scheduled_until, :seen, :components) "
        "ON CONFLICT(id) DO UPDATE SET kind = excluded.kind, name = excluded.name, "
        "impact = excluded.impact, status = excluded.status, shortlink = excluded.shortlink, "
        "created_at = coalesce(excluded.created_at, created_at), "
        "updated_at = coalesce(excluded.updated_at, updated_at), "
        "started_at = coalesce(excluded.started_at, started_at), "
        "scheduled_for = coalesce(excluded.scheduled_for, scheduled_for), "
        "scheduled_until = coalesce(excluded.scheduled_until, scheduled_until), "
        "resolved_at = NULL, components = excluded.components",
    [ST_INCIDENT_UPDATE] = "INSERT INTO incident_updates(incident_id, at, status, body) "
                           "VALUES(:id, :at, :status, :body) "
                           "ON CONFLICT(incident_id, at) DO NOTHING",
    [ST_INCIDENT_RESOLVE] = "UPDATE incidents SET resolved_at = :at, status = CASE kind WHEN "
                            "'maintenance' THEN 'completed' ELSE 'resolved' END "
                            "WHERE id = :id AND resolved_at IS NULL",
    [ST_VERDICT_END] = "UPDATE verdicts SET ended_at = max(at, :at) WHERE ended_at IS NULL",
    [ST_VERDICT_INSERT] = "INSERT INTO verdicts(at, scope, cause, keys, summary) "
                          "VALUES(:at, :scope, :cause, :keys, :summary)",
    [ST_ALERT_UPSERT] =
        "INSERT INTO alerts(fingerprint, starts_at, alertname, labels, annotations, ends_at, "
        "last_sent, state) VALUES(:fingerprint, :starts_at, :alertname, :labels, :annotations, "
        ":ends_at, :last_sent, :state) ON CONFLICT(fingerprint, starts_at) DO UPDATE SET "
        "alertname = excluded.alertname, labels = excluded.labels, "
        "annotations = excluded.annotations, ends_at = excluded.ends_at, "
        "last_sent = coalesce(excluded.last_sent, last_sent), state = excluded.state",
    [ST_MAINT_PROBES] = "DELETE FROM probes WHERE id IN (SELECT id FROM probes WHERE "
                        "at < :cutoff ORDER BY at LIMIT :n)",
    [ST_MAINT_ROLLUPS] = "DELETE FROM rollups WHERE (key_id, hour, kind) IN (SELECT key_id, "
                         "hour, kind FROM rollups WHERE hour < :cutoff ORDER BY hour "
                         "LIMIT :n)",
    [ST_LOAD_COMPONENTS] = "SELECT component_id, name, status FROM status_components WHERE id IN "
                           "(SELECT max(id) FROM status_components GROUP BY component_id)",
    [ST_LOAD_INCIDENTS] = "SELECT id, kind FROM incidents WHERE resolved_at IS NULL",
    [ST_Q_KEY_BY_NAME] = "SELECT id, name, hint, last_seen FROM keys WHERE name = :name",
    [ST_Q_KEYS] = "SELECT id, name, hint, last_seen FROM keys ORDER BY name",
    [ST_Q_TRANSITIONS] = "SELECT " TRANSITION_COLUMNS " FROM key_transitions WHERE key_id = "
                         ":key_id AND at >= :since AND at <= :until ORDER BY at, id",
    [ST_Q_KEY_EVENTS] = "SELECT at, event, fingerprint, hint FROM key_events WHERE key_id = "
                        ":key_id AND at >= :since AND at <= :until ORDER BY at, id",
    [ST_Q_LAST_TRANSITION] = "SELECT " TRANSITION_COLUMNS " FROM key_transitions WHERE key_id = "
                             ":key_id ORDER BY at DESC, id DESC LIMIT 1",
    [ST_Q_LAST_STATES] =
        "SELECT k.name, t.at, t.from_cause, t.to_cause, t.cause, t.probe, t.http_status, "
        "t.error_type, t.error_message, t.error_code, t.request_id, t.curl_error FROM keys k "
        "JOIN key_transitions t ON t.id = (SELECT id FROM key_transitions WHERE key_id = k.id "
        "ORDER BY at DESC, id DESC LIMIT 1) ORDER BY k.name",
    [ST_Q_INCIDENTS] = "SELECT " INCIDENT_COLUMNS " FROM incidents WHERE coalesce(created_at, "
                       "first_seen) <= :until AND (resolved_at IS NULL OR resolved_at >= :since) "
                       "ORDER BY coalesce(created_at, first_seen), id",
    [ST_Q_INCIDENTS_OPEN] = "SELECT " INCIDENT_COLUMNS " FROM incidents WHERE resolved_at IS "
                            "NULL ORDER BY coalesce(created_at, first_seen), id",
    [ST_Q_INCIDENT_UPDATES] = "SELECT at, status, body FROM incident_updates WHERE incident_id = "
                              ":id ORDER BY at, id",
    [ST_Q_VERDICTS] = "SELECT at, ended_at, cause, keys, summary FROM verdicts WHERE scope = "
                      "'platform' AND at <= :until AND (ended_at IS NULL OR ended_at >= :since) "
                      "ORDER BY at, id",
    [ST_Q_VERDICTS_OPEN] = "SELECT at, ended_at, cause, keys, summary FROM verdicts WHERE scope "
                           "= 'platform' AND ended_at IS NULL ORDER BY at, id",
    [ST_Q_ALERTS_FIRING] = "SELECT fingerprint, starts_at, alertname, labels, annotations, "
                           "ends_at, last_sent FROM alerts WHERE state = 'firing' "
                           "ORDER BY starts_at, fingerprint",
    [ST_Q_ROLLUPS] = "SELECT hour, kind, " ROLLUP_COLUMNS " FROM rollups WHERE key_id = "
                     ":key_id AND hour >= :since AND hour <= :until ORDER BY hour, kind",
    [ST_Q_ROLLUPS_RECENT] = "SELECT hour, kind, " ROLLUP_COLUMNS " FROM rollups_recent WHERE "
                            "key_id = :key_id AND hour >= :since AND hour <= :until "
                            "ORDER BY hour, kind",
};

/* ---- The queue -------------------------------------------------------------------------- */

enum qtype {
  Q_PROBE,
  Q_TRANSITION,
  Q_KEY_SEEN,
  Q_COMPONENT,
  Q_INCIDENT,
  Q_RESOLVE,
  Q_VERDICT,
  Q_ALERT
};

struct q_probe {
  const char *key;
  int64_t at_ms;
  int64_t total_us, dns_us, connect_us, tls_us, ttfb_us;             /* -1: not measured */
  int64_t retry_after_s, rl_requests_remaining, rl_tokens_remaining; /* -1: absent */
  int64_t input_tokens, output_tokens;                               /* -1: unknown */
  int http_status, curl_code;
  enum probe_kind kind;
  enum cause cause;
  enum transport_error transport;
  enum body_kind body;
  bool via_proxy;
  const char *error_type, *error_message, *error_code, *request_id;
  const char *organization_id, *workspace_id, *peer, *curl_error;
};

struct q_transition {
  const char *key;
  int64_t at_ms;
  enum cause from, to, cause;
  enum probe_kind probe;
  bool has_evidence;
  int http_status;
  const char *error_type, *error_message, *error_code, *request_id, *curl_error;
};

struct q_key_seen {
  const char *key, *fingerprint, *hint;
  int64_t at_ms;
};

struct q_component {
  int64_t at_ms;
  const char *id, *name, *status;
};

struct q_incident {
  int64_t seen_ms;
  bool maintenance;
  int64_t created_ms, updated_ms, started_ms, scheduled_for_ms, scheduled_until_ms;
  const char *id, *name, *status, *impact, *shortlink, *components, *update_body;
};

struct q_resolve {
  const char *id;
  int64_t at_ms;
};

struct q_verdict {
  int64_t at_ms;
  enum scope scope;
  enum cause cause;
  const char *keys, *summary;
};

struct q_alert {
  const char *fingerprint, *alertname, *labels, *annotations;
  int64_t starts_ms, ends_ms, last_sent_ms;
  bool firing;
};

/* One queued row and its strings, in one allocation (the pointers point into text). */
struct qrow {
  struct qrow *next;
  enum qtype type;
  union {
    struct q_probe probe;
    struct q_transition transition;
    struct q_key_seen key_seen;
    struct q_component component;
    struct q_incident incident;
    struct q_resolve resolve;
    struct q_verdict verdict;
    struct q_alert alert;
  } u;
  char text[];
};

struct qlist {
  struct qrow *head, *tail;
  size_t n;
};

/* ---- Caches ----------------------------------------------------------------------------- */

struct keymap_entry {
  char *name; /* NULL: empty slot */
  int64_t id;
  int64_t last_seen; /* newest probe of the batch being written */
  bool dirty;        /* last_seen to be written at the end of the batch */
};

struct keymap {
  struct keymap_entry *v;
  size_t cap, n;
};

struct comp_seen {
  char id[MODEL_SP_ID_MAX];
  char name[MODEL_SP_NAME_MAX];
  char status[MODEL_SP_ID_MAX];
};

struct inc_seen {
  char id[MODEL_SP_ID_MAX];
  uint64_t sig; /* hash of what we recorded; 0: unknown (loaded from the database) */
  bool seen;    /* scratch: in the snapshot being compared */
};

struct slot {
  sqlite3_stmt *st;
  const char *names[STORE_MAX_PARAMS]; /* addresses of the literals looked up */
  int idx[STORE_MAX_PARAMS];
  int n;
};

struct store {
  sqlite3 *db;
  char *path;
  bool readonly;
  struct store_options opt;
  struct slot st[ST__COUNT];
  bool have_identity;
  dev_t dev; /* the file we opened, to notice it vanished or was replaced */
  ino_t ino;

  struct qlist probes;    /* droppable */
  struct qlist important; /* never dropped */

  struct keymap keys;
  struct comp_seen *components;
  size_t n_components;
  struct inc_seen *incidents;
  size_t n_incidents;

  struct store_stats stats;
  struct log_complaint write_complaint;
  struct log_complaint drop_complaint;
};

/* ---- Small helpers ---------------------------------------------------------------------- */

static void set_why(char *why, size_t whysz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_why(char *why, size_t whysz, const char *fmt, ...) {
  if (!why || whysz == 0) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, whysz, fmt, ap);
  va_end(ap);
}

static int64_t mono_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* map_rc maps an SQLite result code to ours. */
static int map_rc(int rc) {
  switch (rc & 0xff) {
  case SQLITE_OK:
  case SQLITE_DONE:
  case SQLITE_ROW:
    return 0;
  case SQLITE_BUSY:
  case SQLITE_LOCKED:
    return UTIL_EDBBUSY;
  case SQLITE_IOERR:
  case SQLITE_CANTOPEN:
    return UTIL_EIO;
  case SQLITE_NOMEM:
    return UTIL_ENOMEM;
  default:
    return UTIL_EDB;
  }
}

/* needs_reopen: after these the connection is no good for writing, but a new one on the
 * same path may be (the file was fixed, made writable, replaced or recreated). */
static bool needs_reopen(int rc) {
  switch (rc & 0xff) {
  case SQLITE_READONLY:
  case SQLITE_IOERR:
  case SQLITE_CANTOPEN:
  case SQLITE_CORRUPT:
  case SQLITE_NOTADB:
    return true;
  default:
    return false;
  }
}

/* row_error: the database refused this row, not the batch; drop the row and go on. */
static bool row_error(int rc) {
  switch (rc & 0xff) {
  case SQLITE_CONSTRAINT:
  case SQLITE_MISMATCH:
  case SQLITE_TOOBIG:
  case SQLITE_RANGE:
    return true;
  default:
    return false;
  }
}

static uint64_t hash_str(uint64_t h, const char *s) {
  if (!s) s = "";
  for (; *s; s++) {
    h ^= (unsigned char)*s;
    h *= 1099511628211ULL;
  }
  h ^= 0xff; /* separator, so ("ab","c") and ("a","bc") differ */
  h *= 1099511628211ULL;
  return h;
}

static uint64_t hash_i64(uint64_t h, int64_t v) {
  for (int i = 0; i < 8; i++) {
    h ^= (uint64_t)(v >> (8 * i)) & 0xff;
    h *= 1099511628211ULL;
  }
  return h;
}

#define HASH_SEED 14695981039346656037ULL

/* ---- Key name -> id cache --------------------------------------------------------------- */

static void keymap_clear(struct keymap *m) {
  for (size_t i = 0; i < m->cap; i++)
    free(m->v[i].name);
  free(m->v);
  memset(m, 0, sizeof(*m));
}

static struct keymap_entry *keymap_slot(struct keymap_entry *v, size_t cap, const char *name) {
  size_t i = (size_t)hash_str(HASH_SEED, name) & (cap - 1);
  while (v[i].name && strcmp(v[i].name, name) != 0)
    i = (i + 1) & (cap - 1);
  return &v[i];
}

static struct keymap_entry *keymap_find(struct keymap *m, const char *name) {
  if (m->cap == 0) return NULL;
  struct keymap_entry *e = keymap_slot(m->v, m->cap, name);
  return e->name ? e : NULL;
}

static struct keymap_entry *keymap_add(struct keymap *m, const char *name, int64_t id) {
  if ((m->n + 1) * 2 > m->cap) {
    size_t cap = m->cap ? m->cap * 2 : 64;
    struct keymap_entry *v = xcalloc(cap, sizeof(*v));
    for (size_t i = 0; i < m->cap; i++)
      if (m->v[i].name) *keymap_slot(v, cap, m->v[i].name) = m->v[i];
    free(m->v);
    m->v = v;
    m->cap = cap;
  }
  struct keymap_entry *e = keymap_slot(m->v, m->cap, name);
  if (!e->name) {
    e->name = xstrdup(name);
    m->n++;
  }
  e->id = id;
  return e;
}

/* ---- Statements ------------------------------------------------------------------------- */

static struct slot *slot_of(struct store *s, enum stmt id) {
  return &s->st[id];
}

/* pidx returns the index of a named parameter, cached by the literal's address. A name the
 * statement lacks is a bug in this file: abort loudly rather than write a wrong row. */
static int pidx(struct slot *sl, const char *name) {
  for (int i = 0; i < sl->n; i++)
    if (sl->names[i] == name) return sl->idx[i];
  int idx = sqlite3_bind_parameter_index(sl->st, name);
  if (idx == 0) {
    fprintf(stderr, "claudemon: store: statement \"%s\" has no parameter %s\n", sqlite3_sql(sl->st),
            name);
    abort();
  }
  if (sl->n < STORE_MAX_PARAMS) {
    sl->names[sl->n] = name;
    sl->idx[sl->n] = idx;
    sl->n++;
  }
  return idx;
}

static int bind_i64(struct slot *sl, const char *name, int64_t v) {
  return sqlite3_bind_int64(sl->st, pidx(sl, name), v);
}

/* bind_opt binds NULL for a negative value ("absent" everywhere in model.h). */
static int bind_opt(struct slot *sl, const char *name, int64_t v) {
  if (v < 0) return sqlite3_bind_null(sl->st, pidx(sl, name));
  return sqlite3_bind_int64(sl->st, pidx(sl, name), v);
}

/* bind_text binds NULL for NULL or "". The text must outlive the step (it is not copied). */
static int bind_text(struct slot *sl, const char *name, const char *v) {
  if (!v || !*v) return sqlite3_bind_null(sl->st, pidx(sl, name));
  return sqlite3_bind_text(sl->st, pidx(sl, name), v, -1, SQLITE_STATIC);
}

/* done resets a statement after use: on every path, success or not. */
static void done(struct slot *sl) {
  sqlite3_reset(sl->st);
  sqlite3_clear_bindings(sl->st);
}

/* run steps a statement that returns no row, then resets it. Returns an SQLite code. */
static int run(struct slot *sl) {
  int rc = sqlite3_step(sl->st);
  done(sl);
  return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

#define TRY(expr)                                                                                  \
  do {                                                                                             \
    if ((rc = (expr)) != SQLITE_OK) goto out;                                                      \
  } while (0)

static const char *col_text(sqlite3_stmt *st, int i) {
  return (const char *)sqlite3_column_text(st, i);
}

/* col_time returns a time column, -1 when NULL. */
static int64_t col_time(sqlite3_stmt *st, int i) {
  return sqlite3_column_type(st, i) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, i);
}

/* ---- Opening ---------------------------------------------------------------------------- */

void store_options_init(struct store_options *o) {
  o->queue_max = 100000;
  o->batch_max = 1000;
  o->maintain_max = 2000;
  o->merge_max = 125;
  o->busy_timeout_ms = 50;
  o->cache_kib = 16384;
  o->checkpoint_pages = 1000;
}

const char *store_sqlite_version(void) {
  return sqlite3_libversion();
}

const char *store_path(const struct store *s) {
  return s->path;
}

static void db_close(struct store *s) {
  for (int i = 0; i < ST__COUNT; i++) {
    sqlite3_finalize(s->st[i].st);
    s->st[i].st = NULL;
    s->st[i].n = 0;
  }
  if (s->db) sqlite3_close(s->db);
  s->db = NULL;
  keymap_clear(&s->keys);
}

/* pragma_int reads an integer pragma. */
static int pragma_int(sqlite3 *db, const char *sql, int64_t *out) {
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
  if (rc == SQLITE_OK) {
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
      *out = sqlite3_column_int64(st, 0);
      rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
      *out = 0;
      rc = SQLITE_OK;
    }
  }
  sqlite3_finalize(st);
  return rc;
}

static int exec_sql(sqlite3 *db, const char *sql) {
  return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* check_version reads user_version and application_id and refuses what we must not touch.
 * Nothing is written before this returns 0. */
static int check_version(struct store *s, int64_t *version, char *why, size_t whysz) {
  int64_t appid = 0, tables = 0;
  int rc = pragma_int(s->db, "PRAGMA user_version", version);
  if (rc == SQLITE_OK) rc = pragma_int(s->db, "PRAGMA application_id", &appid);
  if (rc == SQLITE_OK) rc = pragma_int(s->db, "SELECT count(*) FROM sqlite_master", &tables);
  if (rc != SQLITE_OK) {
    set_why(why, whysz, "cannot read database %s: %s", s->path, sqlite3_errmsg(s->db));
    return map_rc(rc);
  }
  if (*version > STORE_SCHEMA_VERSION) {
    set_why(why, whysz,
            "database %s has schema version %lld, written by a newer claudemon; this one "
            "understands up to %d: upgrade claudemon (the file was not modified)",
            s->path, (long long)*version, STORE_SCHEMA_VERSION);
    return UTIL_EDBVERSION;
  }
  if ((appid != 0 && appid != STORE_APPLICATION_ID) || (appid == 0 && tables > 0)) {
    set_why(why, whysz, "%s is not a claudemon database (it holds other tables)", s->path);
    return UTIL_EDB;
  }
  return 0;
}

static int migrate(struct store *s, int64_t from, char *why, size_t whysz) {
  for (int64_t v = from; v < STORE_SCHEMA_VERSION; v++) {
    char *tail = xasprintf("PRAGMA user_version = %lld; PRAGMA application_id = %d;",
                           (long long)v + 1, STORE_APPLICATION_ID);
    int rc = exec_sql(s->db, "BEGIN IMMEDIATE");
    if (rc == SQLITE_OK) rc = exec_sql(s->db, migrations[v]);
    if (rc == SQLITE_OK) rc = exec_sql(s->db, tail);
    if (rc == SQLITE_OK) rc = exec_sql(s->db, "COMMIT");
    free(tail);
    if (rc != SQLITE_OK) {
      set_why(why, whysz, "cannot migrate database %s from version %lld: %s", s->path, (long long)v,
              sqlite3_errmsg(s->db));
      if (!sqlite3_get_autocommit(s->db)) exec_sql(s->db, "ROLLBACK");
      return map_rc(rc);
    }
    log_info("database migrated", "path=%s version=%lld", log_q(s->path), (long long)v + 1);
  }
  return 0;
}

static int prepare_all(struct store *s, char *why, size_t whysz) {
  for (int i = 0; i < ST__COUNT; i++) {
    int rc =
        sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i].st, NULL);
    if (rc != SQLITE_OK) {
      set_why(why, whysz, "cannot prepare statement %d on %s: %s", i, s->path,
              sqlite3_errmsg(s->db));
      return UTIL_EDB;
    }
  }
  return 0;
}

static void remember_identity(struct store *s) {
  struct stat sb;
  s->have_identity = stat(s->path, &sb) == 0;
  if (s->have_identity) {
    s->dev = sb.st_dev;
    s->ino = sb.st_ino;
  }
}

/* file_replaced: the path no longer names the file we hold open (deleted, moved, replaced).
 * SQLite would go on writing into the unlinked inode, losing everything silently. */
static bool file_replaced(struct store *s) {
  struct stat sb;
  if (stat(s->path, &sb) != 0) return true;
  return !s->have_identity || sb.st_dev != s->dev || sb.st_ino != s->ino;
}

static void load_status_caches(struct store *s);

/* db_open_rw opens s->path for writing and brings the schema up to date. first: the open
 * of store_open (a reopen after a failure stays quiet: the failing flushes are logged). */
static int db_open_rw(struct store *s, bool first, char *why, size_t whysz) {
  int64_t version = 0;
  char pragmas[256];
  int err = 0;
  int rc = sqlite3_open_v2(s->path, &s->db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
  if (rc != SQLITE_OK) {
    set_why(why, whysz, "cannot open database %s: %s", s->path,
            s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
    err = UTIL_EIO;
    goto out;
  }
  sqlite3_extended_result_codes(s->db, 1);
  sqlite3_busy_timeout(s->db, s->opt.busy_timeout_ms);
  if ((err = check_version(s, &version, why, whysz)) != 0) goto out;
  /* From here on the file is ours to change. WAL lets the CLI read while we write;
   * synchronous=NORMAL in WAL survives a crash of the process (not of the machine) without
   * losing a committed batch, and keeps fsyncs to checkpoints. */
  snprintf(pragmas, sizeof(pragmas),
           "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA cache_size = -%d; "
           "PRAGMA journal_size_limit = 67108864; PRAGMA temp_store = MEMORY; "
           "PRAGMA wal_autocheckpoint = %d;",
           s->opt.cache_kib, s->opt.checkpoint_pages);
  rc = exec_sql(s->db, "PRAGMA journal_mode = WAL");
  if (rc == SQLITE_OK) rc = exec_sql(s->db, pragmas);
  if (rc != SQLITE_OK) {
    set_why(why, whysz, "cannot set up database %s: %s", s->path, sqlite3_errmsg(s->db));
    err = map_rc(rc);
    goto out;
  }
  if ((err = migrate(s, version, why, whysz)) != 0) goto out;
  if ((err = prepare_all(s, why, whysz)) != 0) goto out;
  remember_identity(s);
  load_status_caches(s);
  if (first && sqlite3_db_readonly(s->db, "main") == 1)
    log_warn("database is read-only: results stay queued until it is writable", "path=%s",
             log_q(s->path));
out:
  if (err) db_close(s);
  return err;
}

static struct store *store_alloc(const char *path, const struct store_options *opt) {
  struct store *s = xcalloc(1, sizeof(*s));
  s->path = xstrdup(path);
  if (opt)
    s->opt = *opt;
  else
    store_options_init(&s->opt);
  if (s->opt.queue_max == 0) s->opt.queue_max = 1;
  if (s->opt.batch_max == 0) s->opt.batch_max = 1;
  if (s->opt.maintain_max == 0) s->opt.maintain_max = 1;
  if (s->opt.merge_max == 0) s->opt.merge_max = 1;
  if (s->opt.busy_timeout_ms < 0) s->opt.busy_timeout_ms = 0;
  if (s->opt.cache_kib <= 0) s->opt.cache_kib = 2048;
  if (s->opt.checkpoint_pages < 0) s->opt.checkpoint_pages = 0;
  return s;
}

int store_open(const char *path, const struct store_options *opt, struct store **out, char *why,
               size_t whysz) {
  *out = NULL;
  if (!path || !*path) {
    set_why(why, whysz, "no database path");
    return UTIL_EINVAL;
  }
  struct store *s = store_alloc(path, opt);
  int err = db_open_rw(s, true, why, whysz);
  if (err) {
    store_free(s);
    return err;
  }
  *out = s;
  return 0;
}

int store_open_readonly(const char *path, struct store **out, char *why, size_t whysz) {
  int64_t version = 0;
  int err = 0;
  struct stat sb;
  *out = NULL;
  if (!path || !*path) {
    set_why(why, whysz, "no database path");
    return UTIL_EINVAL;
  }
  if (stat(path, &sb) != 0) {
    set_why(why, whysz, "cannot open database %s: %s", path, strerror(errno));
    return errno == ENOENT ? UTIL_ENOENT : UTIL_EIO;
  }
  struct store *s = store_alloc(path, NULL);
  s->readonly = true;
  int rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
  if (rc != SQLITE_OK) {
    set_why(why, whysz, "cannot open database %s: %s", path,
            s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
    err = UTIL_EIO;
    goto out;
  }
  sqlite3_extended_result_codes(s->db, 1);
  sqlite3_busy_timeout(s->db, STORE_READER_BUSY_MS);
  if ((err = check_version(s, &version, why, whysz)) != 0) goto out;
  if (version == 0) {
    set_why(why, whysz, "%s is not a claudemon database (it is empty)", path);
    err = UTIL_EDB;
    goto out;
  }
  if (version < STORE_SCHEMA_VERSION) {
    set_why(why, whysz,
            "database %s has schema version %lld, older than this claudemon's %d: start the "
            "daemon of this version once to migrate it",
            path, (long long)version, STORE_SCHEMA_VERSION);
    err = UTIL_EDBVERSION;
    goto out;
  }
  if (exec_sql(s->db, "PRAGMA query_only = 1") != SQLITE_OK) {
    set_why(why, whysz, "cannot read database %s: %s", path, sqlite3_errmsg(s->db));
    err = UTIL_EDB;
    goto out;
  }
  err = prepare_all(s, why, whysz);
out:
  if (err) {
    store_free(s);
    return err;
  }
  *out = s;
  return 0;
}

static void qlist_free(struct qlist *l) {
  struct qrow *r = l->head;
  while (r) {
    struct qrow *next = r->next;
    free(r);
    r = next;
  }
  memset(l, 0, sizeof(*l));
}

void store_free(struct store *s) {
  if (!s) return;
  db_close(s);
  qlist_free(&s->probes);
  qlist_free(&s->important);
  free(s->components);
  free(s->incidents);
  free(s->path);
  free(s);
}

/* ---- Enqueueing ------------------------------------------------------------------------- */

/* qrow_pack copies tmp and the strings its fields at offs point to into one allocation and
 * points those fields at the copies. Empty strings become NULL. */
static struct qrow *qrow_pack(const struct qrow *tmp, const size_t *offs, size_t n) {
  size_t need = 0;
  for (size_t i = 0; i < n; i++) {
    const char *src = *(const char *const *)((const char *)tmp + offs[i]);
    if (src && *src) need += strlen(src) + 1;
  }
  struct qrow *r = xmalloc(sizeof(*r) + need);
  memcpy(r, tmp, sizeof(*r));
  char *p = r->text;
  for (size_t i = 0; i < n; i++) {
    const char **field = (const char **)((char *)r + offs[i]);
    const char *src = *field;
    if (src && *src) {
      size_t len = strlen(src) + 1;
      memcpy(p, src, len);
      *field = p;
      p += len;
    } else {
      *field = NULL;
    }
  }
  r->next = NULL;
  return r;
}

static void qlist_push(struct qlist *l, struct qrow *r) {
  r->next = NULL;
  if (l->tail)
    l->tail->next = r;
  else
    l->head = r;
  l->tail = r;
  l->n++;
}

static struct qrow *qlist_pop(struct qlist *l) {
  struct qrow *r = l->head;
  if (!r) return NULL;
  l->head = r->next;
  if (!l->head) l->tail = NULL;
  l->n--;
  return r;
}

static void note_drop(struct store *s) {
  s->stats.dropped_total++;
  if (log_complain(&s->drop_complaint, util_now_ms()))
    log_warn("storage queue full: dropping the oldest probe rows",
             "path=%s queued=%zu dropped_total=%llu", log_q(s->path), s->probes.n + s->important.n,
             (unsigned long long)s->stats.dropped_total);
}

/* enqueue adds a packed row. When the queue is full the oldest probe row makes room; rows
 * other than probes are never dropped (they are few: a full queue of them means the
 * database has been unwritable for very long, and they are what people look for later). */
static int enqueue(struct store *s, struct qrow *r) {
  if (s->probes.n + s->important.n >= s->opt.queue_max) {
    struct qrow *old = qlist_pop(&s->probes);
    if (old) {
      free(old);
      note_drop(s);
    } else if (r->type == Q_PROBE) {
      free(r);
      note_drop(s);
      return UTIL_EFULL;
    }
  }
  qlist_push(r->type == Q_PROBE ? &s->probes : &s->important, r);
  return 0;
}

static bool writable_store(const struct store *s) {
  return s && !s->readonly;
}

/* redacted copies outside text into buf with every secret removed. */
static const char *redacted(char *buf, size_t bufsz, const char *src) {
  if (!src || !*src) return NULL;
  util_copy(buf, bufsz, src);
  log_redact(buf, bufsz);
  return buf;
}

static int64_t seconds_to_us(double s) {
  if (!(s > 0)) return -1;
  return (int64_t)llround(s * 1e6);
}

int store_enqueue_probe(struct store *s, const char *key, const struct probe_result *r) {
  static const size_t offs[] = {
      offsetof(struct qrow, u.probe.key),           offsetof(struct qrow, u.probe.error_type),
      offsetof(struct qrow, u.probe.error_message), offsetof(struct qrow, u.probe.error_code),
      offsetof(struct qrow, u.probe.request_id),    offsetof(struct qrow, u.probe.organization_id),
      offsetof(struct qrow, u.probe.workspace_id),  offsetof(struct qrow, u.probe.peer),
      offsetof(struct qrow, u.probe.curl_error)};
  char msg[MODEL_ERROR_MESSAGE_MAX + 32], curl_error[MODEL_CURL_ERROR_MAX + 32];
  if (!writable_store(s) || !key || !*key || !r) return UTIL_EINVAL;
  struct qrow tmp;
  memset(&tmp, 0, sizeof(tmp));
  struct q_probe *p = &tmp.u.probe;
  tmp.type = Q_PROBE;
  p->key = key;
  p->at_ms = r->started_ms >= 0   ? r->started_ms
             : r->planned_ms >= 0 ? r->planned_ms
                                  : util_now_ms();
  p->kind = r->kind;
  p->cause = r->cause;
  p->http_status = r->http_status;
  p->transport = r->transport;
  p->curl_code = r->curl_code;
  p->body = r->body_kind;
  p->via_proxy = r->via_proxy;
  p->total_us = seconds_to_us(r->total_s);
  p->dns_us = seconds_to_us(r->dns_s);
  p->connect_us = seconds_to_us(r->connect_s);
  p->tls_us = seconds_to_us(r->tls_s);
  p->ttfb_us = seconds_to_us(r->ttfb_s);
  p->retry_after_s = r->retry_after_s;
  p->rl_requests_remaining = r->ratelimit[RL_REQUESTS].remaining;
  p->rl_tokens_remaining = r->ratelimit[RL_TOKENS].remaining;
  p->input_tokens = r->input_tokens;
  p->output_tokens = r->output_tokens;
  p->error_type = r->error_type;
  p->error_message = redacted(msg, sizeof(msg), r->error_message);
  p->error_code = r->error_code;
  p->request_id = r->request_id;
  p->organization_id = r->organization_id;
  p->workspace_id = r->workspace_id;
  p->peer = r->peer;
  p->curl_error = r->transport != TRANSPORT_OK || r->curl_code != 0
                      ? redacted(curl_error, sizeof(curl_error), r->curl_error)
                      : NULL;
  return enqueue(s, qrow_pack(&tmp, offs, UTIL_ARRAY_LEN(offs)));
}

int store_enqueue_transition(struct store *s, const char *key, int64_t at_ms, enum cause from,
                             enum cause to, const struct evidence *ev) {
  static const size_t offs[] = {offsetof(struct qrow, u.transition.key),
                                offsetof(struct qrow, u.transition.error_type),
                                offsetof(struct qrow, u.transition.error_message),
                                offsetof(struct qrow, u.transition.error_code),
                                offsetof(struct qrow, u.transition.request_id),
                                offsetof(struct qrow, u.transition.curl_error)};
  char msg[MODEL_ERROR_MESSAGE_MAX + 32], curl_error[MODEL_CURL_ERROR_MAX + 32];
  if (!writable_store(s) || !key || !*key || at_ms < 0) return UTIL_EINVAL;
  struct qrow tmp;
  memset(&tmp, 0, sizeof(tmp));
  struct q_transition *t = &tmp.u.transition;
  tmp.type = Q_TRANSITION;
  t->key = key;
  t->at_ms = at_ms;
  t->from = from;
  t->to = to;
  t->cause = to;
  if (ev) {
    t->has_evidence = true;
    t->cause = ev->cause;
    t->probe = ev->kind;
    t->http_status = ev->http_status;
    t->error_type = ev->error_type;
    t->error_message = redacted(msg, sizeof(msg), ev->error_message);
    t->error_code = ev->error_code;
    t->request_id = ev->request_id;
    t->curl_error = redacted(curl_error, sizeof(curl_error), ev->curl_error);
  }
  return enqueue(s, qrow_pack(&tmp, offs, UTIL_ARRAY_LEN(offs)));
}

int store_key_seen(struct store *s, const char *key, const char *fingerprint, const char *hint,
                   int64_t now_ms) {
  static const size_t offs[] = {offsetof(struct qrow, u.key_seen.key),
                                offsetof(struct qrow, u.key_seen.fingerprint),
                                offsetof(struct qrow, u.key_seen.hint)};
  if (!writable_store(s) || !key || !*key || !fingerprint || strlen(fingerprint) != 64)
    return UTIL_EINVAL;
  for (const char *p = fingerprint; *p; p++)
    if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) return UTIL_EINVAL;
  struct qrow tmp;
  memset(&tmp, 0, sizeof(tmp));
  tmp.type = Q_KEY_SEEN;
  tmp.u.key_seen.key = key;
  tmp.u.key_seen.fingerprint = fingerprint;
  tmp.u.key_seen.hint = hint;
  tmp.u.key_seen.at_ms = now_ms;
  return enqueue(s, qrow_pack(&tmp, offs, UTIL_ARRAY_LEN(offs)));
}

static int enqueue_component(struct store *s, int64_t at_ms, const struct status_component *c) {
  static const size_t offs[] = {offsetof(struct qrow, u.component.id),
                                offsetof(struct qrow, u.component.name),
                                offsetof(struct qrow, u.component.status)};
  struct qrow tmp;
  memset(&tmp, 0, sizeof(tmp));
  tmp.type = Q_COMPONENT;
  tmp.u.component.at_ms = at_ms;
  tmp.u.component.id = c->id;
  tmp.u.component.name = c->name;
  tmp.u.component.status = component_status_name(c->status);
  return enqueue(s, qrow_pack(&tmp, offs, UTIL_ARRAY_LEN(offs)));
}

static uint64_t incident_sig(const struct status_incident *in) {
  uint64_t h = HASH_SEED;
  h = hash_str(h, in->name);
  h = hash_str(h, in->status);
  h = hash_str(h, indicator_name(in->impact));
  h = hash_str(h, in->shortlink);
  h = hash_str(h, in->latest_update);
  h = hash_i64(h, in->created_ms);
  h = hash_i64(h, in->updated_ms);
  h = hash_i64(h, in->started_ms);
  h = hash_i64(h, in->scheduled_for_ms);
  h = hash_i64(h, in->scheduled_until_ms);
  for (size_t i = 0; i < in->n_components; i++)
    h = hash_str(h, in->component_ids[i]);
  return h | 1; /* never 0: 0 means "unknown" */
}

static int enqueue_incident(struct store *s, int64_t seen_ms, const struct status_incident *in,
                            bool maintenance) {
  static const size_t offs[] = {
      offsetof(struct qrow, u.incident.id),         offsetof(struct qrow, u.incident.name),
      offsetof(struct qrow, u.incident.status),     offsetof(struct qrow, u.incident.impact),
      offsetof(struct qrow, u.incident.shortlink),  offsetof(struct qrow, u.incident.components),
      offsetof(struct qrow, u.incident.update_body)};
  char body[MODEL_SP_TEXT_MAX + 32];
  cJSON *ids = cJSON_CreateArray();
  for (size_t i = 0; i < in->n_components; i++)
    cJSON_AddItemToArray(ids, cJSON_CreateString(in->component_ids[i]));
  char *components = cJSON_PrintUnformatted(ids);
  cJSON_Delete(ids);
  if (!components) abort(); /* cJSON only fails on out-of-memory */
  struct qrow tmp;
  memset(&tmp, 0, sizeof(tmp));
  struct q_incident *q = &tmp.u.incident;
  tmp.type = Q_INCIDENT;
  q->seen_ms = seen_ms;
  q->maintenance = maintenance;
  q->created_ms = in->created_ms;
  q->updated_ms = in->updated_ms;
  q->started_ms = in->started_ms;
  q->scheduled_for_ms = in->scheduled_for_ms;
  q->scheduled_until_ms = in->scheduled_until_ms;
  q->id = in->id;
  q->name = in->name;
  q->status = in->status;
  q->impact = indicator_name(in->impact);
  q->shortlink = in->shortlink;
  q->components = components;
  q->update_body = redacted(body, sizeof(body), in->latest_update);
  int err = enqueue(s, qrow_pack(&tmp, offs, UTIL_ARRAY_LEN(offs)));
  cJSON_free(components);
  return err;
}

static int enqueue_resolve(struct store *s, const char *id, int64_t at_ms) {
  static const size_t offs[] = {offsetof(struct qrow, u.resolve.id)};
  struct qrow tmp;
  memset(&tmp, 0, sizeof(tmp));
  tmp.type = Q_RESOLVE;
  tmp.u.resolve.id = id;
  tmp.u.resolve.at_ms = at_ms;
  return enqueue(s, qrow_pack(&tmp, offs, UTIL_ARRAY_LEN(offs)));
}

static struct inc_seen *inc_find(struct store *s, const char *id) {
  for (size_t i = 0; i < s->n_incidents; i++)
    if (strcmp(s->incidents[i].id, id) == 0) return &s->incidents[i];
  return NULL;
}

static int status_incidents(struct store *s, int64_t at, const struct status_incident *v, size_t n,
                            bool maintenance) {
  int err = 0;
  for (size_t i = 0; i < n; i++) {
    if (!v[i].id[0]) continue;
    uint64_t sig = incident_sig(&v[i]);
    struct inc_seen *seen = inc_find(s, v[i].id);
    if (!seen) {
      s->incidents = xrealloc(s->incidents, (s->n_incidents + 1) * sizeof(*s->incidents));
      seen = &s->incidents[s->n_incidents++];
      memset(seen, 0, sizeof(*seen));
      util_copy(seen->id, sizeof(seen->id), v[i].id);
    }
    seen->seen = true;
    if (seen->sig == sig) continue;
    seen->sig = sig;
    int e = enqueue_incident(s, at, &v[i], maintenance);
    if (e && !err) err = e;
  }
  return err;
}

int store_enqueue_status(struct store *s, const struct status_snapshot *snap) {
  if (!writable_store(s) || !snap) return UTIL_EINVAL;
  if (!snap->reachable || snap->fetched_ms < 0) return 0;
  int64_t at = snap->fetched_ms;
  int err = 0;
  for (size_t i = 0; i < snap->n_components; i++) {
    const struct status_component *c = &snap->components[i];
    if (!c->id[0]) continue;
    const char *status = component_status_name(c->status);
    struct comp_seen *seen = NULL;
    for (size_t k = 0; k < s->n_components && !seen; k++)
      if (strcmp(s->components[k].id, c->id) == 0) seen = &s->components[k];
    if (seen && strcmp(seen->status, status) == 0 && strcmp(seen->name, c->name) == 0) continue;
    if (!seen) {
      s->components = xrealloc(s->components, (s->n_components + 1) * sizeof(*s->components));
      seen = &s->components[s->n_components++];
      util_copy(seen->id, sizeof(seen->id), c->id);
    }
    util_copy(seen->name, sizeof(seen->name), c->name);
    util_copy(seen->status, sizeof(seen->status), status);
    int e = enqueue_component(s, at, c);
    if (e && !err) err = e;
  }
  for (size_t i = 0; i < s->n_incidents; i++)
    s->incidents[i].seen = false;
  int e = status_incidents(s, at, snap->incidents, snap->n_incidents, false);
  if (e && !err) err = e;
  e = status_incidents(s, at, snap->maintenances, snap->n_maintenances, true);
  if (e && !err) err = e;
  /* Summary.json lists unresolved incidents and upcoming or running maintenances only: one
   * that left the list was resolved (or completed) by the time of this snapshot. */
  size_t keep = 0;
  for (size_t i = 0; i < s->n_incidents; i++) {
    if (s->incidents[i].seen) {
      s->incidents[keep++] = s->incidents[i];
      continue;
    }
    e = enqueue_resolve(s, s->incidents[i].id, at);
    if (e && !err) err = e;
  }
  s->n_incidents = keep;
  return err;
}

int store_enqueue_verdict(struct store *s, const struct store_verdict *v) {
  static const size_t offs[] = {offsetof(struct qrow, u.verdict.keys),
                                offsetof(struct qrow, u.verdict.summary)};
  if (!writable_store(s) || !v || v->at_ms < 0) return UTIL_EINVAL;
  cJSON *keys = cJSON_CreateArray();
  for (size_t i = 0; i < v->n_keys; i++)
    if (v->keys[i]) cJSON_AddItemToArray(keys, cJSON_CreateString(v->keys[i]));
  char *keys_json = cJSON_PrintUnformatted(keys);
  cJSON_Delete(keys);
  if (!keys_json) abort();
  struct qrow tmp;
  memset(&tmp, 0, sizeof(tmp));
  tmp.type = Q_VERDICT;
  tmp.u.verdict.at_ms = v->at_ms;
  tmp.u.verdict.scope = v->scope;
  tmp.u.verdict.cause = v->cause;
  tmp.u.verdict.keys = keys_json;
  tmp.u.verdict.summary = v->summary;
  int err = enqueue(s, qrow_pack(&tmp, offs, UTIL_ARRAY_LEN(offs)));
  cJSON_free(keys_json);
  return err;
}

int store_enqueue_alert(struct store *s, const struct store_alert *a) {
  static const size_t offs[] = {
      offsetof(struct qrow, u.alert.fingerprint), offsetof(struct qrow, u.alert.alertname),
      offsetof(struct qrow, u.alert.labels), offsetof(struct qrow, u.alert.annotations)};
  if (!writable_store(s) || !a || !a->fingerprint[0] || !a->alertname || !*a->alertname ||
      a->starts_ms < 0)
    return UTIL_EINVAL;
  struct qrow tmp;
  memset(&tmp, 0, sizeof(tmp));
  tmp.type = Q_ALERT;
  tmp.u.alert.fingerprint = a->fingerprint;
  tmp.u.alert.alertname = a->alertname;
  tmp.u.alert.labels = a->labels_json && *a->labels_json ? a->labels_json : "{}";
  tmp.u.alert.annotations =
      a->annotations_json && *a->annotations_json ? a->annotations_json : "{}";
  tmp.u.alert.starts_ms = a->starts_ms;
  tmp.u.alert.ends_ms = a->ends_ms;
  tmp.u.alert.last_sent_ms = a->last_sent_ms;
  tmp.u.alert.firing = a->firing;
  return enqueue(s, qrow_pack(&tmp, offs, UTIL_ARRAY_LEN(offs)));
}

/* load_status_caches reads the last recorded status page state, so that a restart records
 * only what changed since. A failure leaves the caches empty: the next snapshot is then
 * recorded in full (harmless duplicates of unchanged component statuses). */
static void load_status_caches(struct store *s) {
  free(s->components);
  free(s->incidents);
  s->components = NULL;
  s->incidents = NULL;
  s->n_components = s->n_incidents = 0;
  struct slot *sl = slot_of(s, ST_LOAD_COMPONENTS);
  while (sqlite3_step(sl->st) == SQLITE_ROW) {
    s->components = xrealloc(s->components, (s->n_components + 1) * sizeof(*s->components));
    struct comp_seen *c = &s->components[s->n_components++];
    util_copy(c->id, sizeof(c->id), col_text(sl->st, 0));
    util_copy(c->name, sizeof(c->name), col_text(sl->st, 1));
    util_copy(c->status, sizeof(c->status), col_text(sl->st, 2));
  }
  done(sl);
  sl = slot_of(s, ST_LOAD_INCIDENTS);
  while (sqlite3_step(sl->st) == SQLITE_ROW) {
    s->incidents = xrealloc(s->incidents, (s->n_incidents + 1) * sizeof(*s->incidents));
    struct inc_seen *in = &s->incidents[s->n_incidents++];
    memset(in, 0, sizeof(*in));
    util_copy(in->id, sizeof(in->id), col_text(sl->st, 0));
  }
  done(sl);
}

/* ---- Flushing --------------------------------------------------------------------------- */

/* One roll-up row being accumulated from the batch: (key, hour, kind). */
struct rollup_acc {
  int64_t key_id, hour;
  enum probe_kind kind;
  bool used;
  int64_t n[CAUSE__PROBE_COUNT];
  int64_t latency_n, latency_sum_us, latency_max_us;
  int64_t bucket[ROLLUP_BUCKETS];
  int64_t tokens_in, tokens_out;
};

/* Open addressing, grown at half full: a batch has as many groups as keys (times kinds and
 * hours it spans), usually far fewer than rows. */
struct rollup_map {
  struct rollup_acc *v;
  size_t cap, n;
};

static struct rollup_acc *rollup_slot(struct rollup_acc *v, size_t cap, int64_t key_id,
                                      int64_t hour, enum probe_kind kind) {
  uint64_t h = hash_i64(hash_i64(hash_i64(HASH_SEED, key_id), hour), kind);
  size_t i = (size_t)h & (cap - 1);
  while (v[i].used && !(v[i].key_id == key_id && v[i].hour == hour && v[i].kind == kind))
    i = (i + 1) & (cap - 1);
  return &v[i];
}

static struct rollup_acc *rollup_get(struct rollup_map *m, int64_t key_id, int64_t hour,
                                     enum probe_kind kind) {
  if ((m->n + 1) * 2 > m->cap) {
    size_t cap = m->cap ? m->cap * 2 : 64;
    struct rollup_acc *v = xcalloc(cap, sizeof(*v));
    for (size_t i = 0; i < m->cap; i++)
      if (m->v[i].used) *rollup_slot(v, cap, m->v[i].key_id, m->v[i].hour, m->v[i].kind) = m->v[i];
    free(m->v);
    m->v = v;
    m->cap = cap;
  }
  struct rollup_acc *a = rollup_slot(m->v, m->cap, key_id, hour, kind);
  if (!a->used) {
    a->used = true;
    a->key_id = key_id;
    a->hour = hour;
    a->kind = kind;
    m->n++;
  }
  return a;
}

static void rollup_add(struct rollup_map *m, int64_t key_id, const struct q_probe *p) {
  int64_t hour = p->at_ms - ((p->at_ms % STORE_HOUR_MS) + STORE_HOUR_MS) % STORE_HOUR_MS;
  struct rollup_acc *a = rollup_get(m, key_id, hour, p->kind);
  a->n[(unsigned)p->cause < CAUSE__PROBE_COUNT ? p->cause : CAUSE_UNKNOWN]++;
  if (p->total_us >= 0) {
    a->latency_n++;
    a->latency_sum_us += p->total_us;
    if (p->total_us > a->latency_max_us) a->latency_max_us = p->total_us;
    size_t b = 0;
    while (b < ROLLUP_BUCKETS - 1 && p->total_us > rollup_bucket_us[b])
      b++;
    a->bucket[b]++;
  }
  if (p->input_tokens > 0) a->tokens_in += p->input_tokens;
  if (p->output_tokens > 0) a->tokens_out += p->output_tokens;
}

/* reject logs a row the database refused and lets the batch go on without it. */
static void reject(struct store *s, const char *what) {
  s->stats.rejected_total++;
  log_error("database refused a row: dropped", "path=%s row=%s sqlite=%s", log_q(s->path), what,
            log_q(sqlite3_errmsg(s->db)));
}

/* row_done ends the writing of one row: resets its statement and turns a row the database
 * refused on its own (a constraint, a type, a size: a bug, logged and counted) into success,
 * so one bad row never blocks the batch. Other errors (busy, full, I/O) are returned. */
static int row_done(struct store *s, struct slot *sl, int rc, const char *what) {
  done(sl);
  if (row_error(rc)) {
    reject(s, what);
    return SQLITE_OK;
  }
  return rc;
}

/* key_id finds (or creates) a key's row. at_ms is its first_seen when created. */
static int key_id(struct store *s, const char *name, int64_t at_ms, int64_t *id) {
  int rc = SQLITE_OK;
  struct keymap_entry *e = keymap_find(&s->keys, name);
  if (e) {
    *id = e->id;
    return SQLITE_OK;
  }
  struct slot *sl = slot_of(s, ST_KEY_GET);
  TRY(bind_text(sl, ":name", name));
  rc = sqlite3_step(sl->st);
  if (rc == SQLITE_ROW) {
    *id = sqlite3_column_int64(sl->st, 0);
    rc = SQLITE_OK;
  } else if (rc == SQLITE_DONE) {
    done(sl);
    sl = slot_of(s, ST_KEY_INSERT);
    TRY(bind_text(sl, ":name", name));
    TRY(bind_i64(sl, ":at", at_ms));
    TRY(run(sl));
    *id = sqlite3_last_insert_rowid(s->db);
  }
out:
  done(sl);
  if (rc == SQLITE_OK) keymap_add(&s->keys, name, *id);
  return rc;
}

static int write_probe(struct store *s, const struct q_probe *p, struct rollup_map *acc) {
  int64_t id = 0;
  int rc = key_id(s, p->key, p->at_ms, &id);
  if (rc != SQLITE_OK) return rc;
  struct slot *sl = slot_of(s, ST_PROBE_INSERT);
  TRY(bind_i64(sl, ":at", p->at_ms));
  TRY(bind_i64(sl, ":key_id", id));
  TRY(bind_text(sl, ":kind", probe_kind_name(p->kind)));
  TRY(bind_text(sl, ":cause", cause_name(p->cause)));
  TRY(bind_opt(sl, ":http_status", p->http_status > 0 ? p->http_status : -1));
  TRY(bind_text(sl, ":error_type", p->error_type));
  TRY(bind_text(sl, ":error_message", p->error_message));
  TRY(bind_text(sl, ":error_code", p->error_code));
  TRY(bind_text(sl, ":request_id", p->request_id));
  TRY(bind_text(sl, ":organization_id", p->organization_id));
  TRY(bind_text(sl, ":workspace_id", p->workspace_id));
  TRY(bind_opt(sl, ":total_us", p->total_us));
  TRY(bind_opt(sl, ":dns_us", p->dns_us));
  TRY(bind_opt(sl, ":connect_us", p->connect_us));
  TRY(bind_opt(sl, ":tls_us", p->tls_us));
  TRY(bind_opt(sl, ":ttfb_us", p->ttfb_us));
  TRY(bind_opt(sl, ":curl_code", p->curl_code != 0 ? p->curl_code : -1));
  TRY(bind_text(sl, ":curl_error", p->curl_error));
  TRY(bind_text(sl, ":transport",
                p->transport == TRANSPORT_OK ? NULL : transport_error_name(p->transport)));
  TRY(bind_text(sl, ":body", p->body == BODY_EXPECTED ? NULL : body_kind_name(p->body)));
  TRY(bind_text(sl, ":peer", p->peer));
  TRY(bind_i64(sl, ":via_proxy", p->via_proxy));
  TRY(bind_opt(sl, ":retry_after_s", p->retry_after_s));
  TRY(bind_opt(sl, ":rl_requests_remaining", p->rl_requests_remaining));
  TRY(bind_opt(sl, ":rl_tokens_remaining", p->rl_tokens_remaining));
  TRY(bind_opt(sl, ":input_tokens", p->input_tokens));
  TRY(bind_opt(sl, ":output_tokens", p->output_tokens));
  rc = run(sl);
  if (rc == SQLITE_OK) {
    rollup_add(acc, id, p);
    struct keymap_entry *e = keymap_find(&s->keys, p->key);
    if (e && (!e->dirty || p->at_ms > e->last_seen)) {
      e->last_seen = p->at_ms;
      e->dirty = true;
    }
  } else if (row_error(rc)) {
    reject(s, "probe");
    rc = SQLITE_OK;
  }
out:
  done(sl);
  return rc;
}

static int write_rollups(struct store *s, struct rollup_map *acc) {
  int rc = SQLITE_OK;
  struct slot *sl = slot_of(s, ST_ROLLUP_UPSERT);
  for (size_t i = 0; i < acc->cap; i++) {
    const struct rollup_acc *a = &acc->v[i];
    if (!a->used) continue;
    TRY(bind_i64(sl, ":key_id", a->key_id));
    TRY(bind_i64(sl, ":hour", a->hour));
    TRY(bind_text(sl, ":kind", probe_kind_name(a->kind)));
    for (int c = 0; c < CAUSE__PROBE_COUNT; c++)
      TRY(bind_i64(sl, rollup_cause_param[c], a->n[c]));
    TRY(bind_i64(sl, ":latency_n", a->latency_n));
    TRY(bind_i64(sl, ":latency_sum_us", a->latency_sum_us));
    TRY(bind_i64(sl, ":latency_max_us", a->latency_max_us));
    for (int b = 0; b < ROLLUP_BUCKETS; b++)
      TRY(bind_i64(sl, rollup_bucket_param[b], a->bucket[b]));
    TRY(bind_i64(sl, ":tokens_in", a->tokens_in));
    TRY(bind_i64(sl, ":tokens_out", a->tokens_out));
    rc = run(sl);
    if (rc != SQLITE_OK && row_error(rc)) {
      reject(s, "rollup");
      rc = SQLITE_OK;
    }
    if (rc != SQLITE_OK) goto out;
  }
out:
  done(sl);
  return rc;
}

static int write_last_seen(struct store *s) {
  int rc = SQLITE_OK;
  struct slot *sl = slot_of(s, ST_KEY_LAST_SEEN);
  for (size_t i = 0; i < s->keys.cap; i++) {
    struct keymap_entry *e = &s->keys.v[i];
    if (!e->name || !e->dirty) continue;
    TRY(bind_i64(sl, ":at", e->last_seen));
    TRY(bind_i64(sl, ":id", e->id));
    TRY(run(sl));
    e->dirty = false;
  }
out:
  done(sl);
  return rc;
}

static int write_transition(struct store *s, const struct q_transition *t) {
  int64_t id = 0;
  int rc = key_id(s, t->key, t->at_ms, &id);
  if (rc != SQLITE_OK) return rc;
  struct slot *sl = slot_of(s, ST_TRANSITION_INSERT);
  TRY(bind_i64(sl, ":key_id", id));
  TRY(bind_i64(sl, ":at", t->at_ms));
  TRY(bind_text(sl, ":from_cause", cause_name(t->from)));
  TRY(bind_text(sl, ":to_cause", cause_name(t->to)));
  TRY(bind_text(sl, ":cause", cause_name(t->cause)));
  TRY(bind_text(sl, ":probe", t->has_evidence ? probe_kind_name(t->probe) : NULL));
  TRY(bind_opt(sl, ":http_status", t->http_status > 0 ? t->http_status : -1));
  TRY(bind_text(sl, ":error_type", t->error_type));
  TRY(bind_text(sl, ":error_message", t->error_message));
  TRY(bind_text(sl, ":error_code", t->error_code));
  TRY(bind_text(sl, ":request_id", t->request_id));
  TRY(bind_text(sl, ":curl_error", t->curl_error));
  rc = run(sl);
out:
  return row_done(s, sl, rc, "transition");
}

static int write_key_seen(struct store *s, const struct q_key_seen *k) {
  int64_t id = 0;
  char *old_fp = NULL, *old_hint = NULL;
  bool found = false;
  const char *event = NULL;
  int rc = SQLITE_OK;
  struct slot *sl = slot_of(s, ST_KEY_GET);
  TRY(bind_text(sl, ":name", k->key));
  rc = sqlite3_step(sl->st);
  if (rc == SQLITE_ROW) {
    found = true;
    id = sqlite3_column_int64(sl->st, 0);
    if (col_text(sl->st, 1)) old_fp = xstrdup(col_text(sl->st, 1));
    if (col_text(sl->st, 2)) old_hint = xstrdup(col_text(sl->st, 2));
    rc = SQLITE_OK;
  } else if (rc == SQLITE_DONE) {
    rc = SQLITE_OK;
  }
  done(sl);
  if (rc != SQLITE_OK) goto out;
  if (!found) {
    sl = slot_of(s, ST_KEY_INSERT);
    TRY(bind_text(sl, ":name", k->key));
    TRY(bind_text(sl, ":fingerprint", k->fingerprint));
    TRY(bind_text(sl, ":hint", k->hint));
    TRY(bind_i64(sl, ":at", k->at_ms));
    TRY(run(sl));
    id = sqlite3_last_insert_rowid(s->db);
    keymap_add(&s->keys, k->key, id);
    event = "first_seen";
  } else if (!old_fp || strcmp(old_fp, k->fingerprint) != 0 ||
             strcmp(old_hint ? old_hint : "", k->hint ? k->hint : "") != 0) {
    sl = slot_of(s, ST_KEY_SET_FP);
    TRY(bind_text(sl, ":fingerprint", k->fingerprint));
    TRY(bind_text(sl, ":hint", k->hint));
    TRY(bind_i64(sl, ":id", id));
    TRY(run(sl));
    if (!old_fp)
      event = "first_seen";
    else if (strcmp(old_fp, k->fingerprint) != 0)
      event = "fingerprint_changed";
  }
  if (event) {
    sl = slot_of(s, ST_KEY_EVENT);
    TRY(bind_i64(sl, ":at", k->at_ms));
    TRY(bind_i64(sl, ":key_id", id));
    TRY(bind_text(sl, ":event", event));
    TRY(bind_text(sl, ":fingerprint", k->fingerprint));
    TRY(bind_text(sl, ":hint", k->hint));
    TRY(bind_text(sl, ":previous_fingerprint", old_fp));
    TRY(bind_text(sl, ":previous_hint", old_hint));
    TRY(run(sl));
    if (strcmp(event, "fingerprint_changed") == 0)
      log_info("key fingerprint changed", "key=%s hint=%s previous_hint=%s", log_q(k->key),
               log_q(k->hint), log_q(old_hint));
  }
out:
  done(sl);
  free(old_fp);
  free(old_hint);
  if (row_error(rc)) {
    reject(s, "key");
    rc = SQLITE_OK;
  }
  return rc;
}

static int write_component(struct store *s, const struct q_component *c) {
  int rc = SQLITE_OK;
  struct slot *sl = slot_of(s, ST_COMPONENT_INSERT);
  TRY(bind_i64(sl, ":at", c->at_ms));
  TRY(bind_text(sl, ":component_id", c->id));
  TRY(bind_text(sl, ":name", c->name));
  TRY(bind_text(sl, ":status", c->status));
  rc = run(sl);
out:
  return row_done(s, sl, rc, "component");
}

static int write_incident(struct store *s, const struct q_incident *in) {
  int rc = SQLITE_OK;
  struct slot *sl = slot_of(s, ST_INCIDENT_UPSERT);
  TRY(bind_text(sl, ":id", in->id));
  TRY(bind_text(sl, ":kind", in->maintenance ? "maintenance" : "incident"));
  TRY(bind_text(sl, ":name", in->name));
  TRY(bind_text(sl, ":impact", in->impact));
  TRY(bind_text(sl, ":status", in->status));
  TRY(bind_text(sl, ":shortlink", in->shortlink));
  TRY(bind_opt(sl, ":created_at", in->created_ms));
  TRY(bind_opt(sl, ":updated_at", in->updated_ms));
  TRY(bind_opt(sl, ":started_at", in->started_ms));
  TRY(bind_opt(sl, ":scheduled_for", in->scheduled_for_ms));
  TRY(bind_opt(sl, ":scheduled_until", in->scheduled_until_ms));
  TRY(bind_i64(sl, ":seen", in->seen_ms));
  TRY(bind_text(sl, ":components", in->components));
  TRY(run(sl));
  if (in->update_body) {
    sl = slot_of(s, ST_INCIDENT_UPDATE);
    TRY(bind_text(sl, ":id", in->id));
    TRY(bind_i64(sl, ":at", in->updated_ms >= 0 ? in->updated_ms : in->seen_ms));
    TRY(bind_text(sl, ":status", in->status));
    TRY(bind_text(sl, ":body", in->update_body));
    TRY(run(sl));
  }
out:
  return row_done(s, sl, rc, "incident");
}

static int write_resolve(struct store *s, const struct q_resolve *r) {
  int rc = SQLITE_OK;
  struct slot *sl = slot_of(s, ST_INCIDENT_RESOLVE);
  TRY(bind_text(sl, ":id", r->id));
  TRY(bind_i64(sl, ":at", r->at_ms));
  rc = run(sl);
out:
  done(sl);
  return rc;
}

static int write_verdict(struct store *s, const struct q_verdict *v) {
  int rc = SQLITE_OK;
  struct slot *sl = slot_of(s, ST_VERDICT_END);
  TRY(bind_i64(sl, ":at", v->at_ms));
  TRY(run(sl));
  sl = slot_of(s, ST_VERDICT_INSERT);
  TRY(bind_i64(sl, ":at", v->at_ms));
  TRY(bind_text(sl, ":scope", scope_name(v->scope)));
  TRY(bind_text(sl, ":cause", cause_name(v->cause)));
  TRY(bind_text(sl, ":keys", v->keys ? v->keys : "[]"));
  TRY(bind_text(sl, ":summary", v->summary));
  rc = run(sl);
out:
  return row_done(s, sl, rc, "verdict");
}

static int write_alert(struct store *s, const struct q_alert *a) {
  int rc = SQLITE_OK;
  struct slot *sl = slot_of(s, ST_ALERT_UPSERT);
  TRY(bind_text(sl, ":fingerprint", a->fingerprint));
  TRY(bind_i64(sl, ":starts_at", a->starts_ms));
  TRY(bind_text(sl, ":alertname", a->alertname));
  TRY(bind_text(sl, ":labels", a->labels ? a->labels : "{}"));
  TRY(bind_text(sl, ":annotations", a->annotations ? a->annotations : "{}"));
  TRY(bind_opt(sl, ":ends_at", a->ends_ms));
  TRY(bind_opt(sl, ":last_sent", a->last_sent_ms));
  TRY(bind_text(sl, ":state", a->firing ? "firing" : "resolved"));
  rc = run(sl);
out:
  return row_done(s, sl, rc, "alert");
}

static int write_row(struct store *s, const struct qrow *r, struct rollup_map *acc) {
  switch (r->type) {
  case Q_PROBE:
    return write_probe(s, &r->u.probe, acc);
  case Q_TRANSITION:
    return write_transition(s, &r->u.transition);
  case Q_KEY_SEEN:
    return write_key_seen(s, &r->u.key_seen);
  case Q_COMPONENT:
    return write_component(s, &r->u.component);
  case Q_INCIDENT:
    return write_incident(s, &r->u.incident);
  case Q_RESOLVE:
    return write_resolve(s, &r->u.resolve);
  case Q_VERDICT:
    return write_verdict(s, &r->u.verdict);
  case Q_ALERT:
    return write_alert(s, &r->u.alert);
  }
  return SQLITE_OK;
}

/* flush_failed records a failed batch: counted, logged with backoff, and the connection
 * dropped when only a new one can help. The queue is untouched. */
static int flush_failed(struct store *s, int rc, int err, const char *what) {
  if (s->db && !sqlite3_get_autocommit(s->db)) {
    sqlite3_stmt *rb = s->st[ST_ROLLBACK].st;
    if (rb) {
      sqlite3_step(rb);
      sqlite3_reset(rb);
    } else {
      exec_sql(s->db, "ROLLBACK");
    }
  }
  /* Ids handed out inside the rolled-back transaction are gone with it. */
  keymap_clear(&s->keys);
  s->stats.errors_total++;
  s->stats.last_error = err;
  if (log_complain(&s->write_complaint, util_now_ms()))
    log_warn("database write failed: results stay queued",
             "path=%s err=%s what=%s queued=%zu "
             "dropped_total=%llu",
             log_q(s->path), log_q(util_strerror(err)), log_q(what), s->probes.n + s->important.n,
             (unsigned long long)s->stats.dropped_total);
  if (s->db && (rc == 0 || needs_reopen(rc))) db_close(s);
  return err;
}

int store_flush(struct store *s) {
  char why[512];
  if (!writable_store(s)) return UTIL_EINVAL;
  if (s->probes.n + s->important.n == 0) return 0;
  int64_t t0 = mono_us();
  if (!s->db) {
    int err = db_open_rw(s, false, why, sizeof(why));
    if (err) return flush_failed(s, SQLITE_CANTOPEN, err, why);
    log_debug("database reopened", "path=%s", log_q(s->path));
  }
  if (file_replaced(s)) return flush_failed(s, 0, UTIL_EIO, "the file vanished or was replaced");

  int rc = run(slot_of(s, ST_BEGIN));
  if (rc != SQLITE_OK) return flush_failed(s, rc, map_rc(rc), sqlite3_errmsg(s->db));

  size_t budget = s->opt.batch_max, n_imp = 0, n_probes = 0;
  struct rollup_map acc = {0};

  for (struct qrow *r = s->important.head; r && budget > 0 && rc == SQLITE_OK; r = r->next) {
    rc = write_row(s, r, &acc);
    n_imp++;
    budget--;
  }
  for (struct qrow *r = s->probes.head; r && budget > 0 && rc == SQLITE_OK; r = r->next) {
    rc = write_row(s, r, &acc);
    n_probes++;
    budget--;
  }
  if (rc == SQLITE_OK) rc = write_rollups(s, &acc);
  if (rc == SQLITE_OK) rc = write_last_seen(s);
  free(acc.v);
  if (rc == SQLITE_OK) rc = run(slot_of(s, ST_COMMIT));
  if (rc != SQLITE_OK) return flush_failed(s, rc, map_rc(rc), sqlite3_errmsg(s->db));

  for (size_t i = 0; i < n_imp; i++)
    free(qlist_pop(&s->important));
  for (size_t i = 0; i < n_probes; i++)
    free(qlist_pop(&s->probes));
  s->stats.written_total += n_imp + n_probes;
  s->stats.flushes_total++;
  s->stats.last_flush_us = mono_us() - t0;
  s->stats.last_error = 0;
  if (log_recover(&s->write_complaint))
    log_info("database writes resumed", "path=%s queued=%zu", log_q(s->path),
             s->probes.n + s->important.n);
  log_recover(&s->drop_complaint);
  return 0;
}

void store_stats(const struct store *s, struct store_stats *out) {
  *out = s->stats;
  out->queue_length = s->probes.n + s->important.n;
}

/* ---- Retention -------------------------------------------------------------------------- */

/* delete_old runs one retention statement for at most *budget rows, oldest first, and
 * takes what it deleted from the budget. */
static int delete_old(struct store *s, enum stmt id, int64_t cutoff, size_t *budget) {
  int rc = SQLITE_OK;
  struct slot *sl = slot_of(s, id);
  TRY(bind_i64(sl, ":cutoff", cutoff));
  TRY(bind_i64(sl, ":n", (int64_t)*budget));
  TRY(run(sl));
  size_t n = (size_t)sqlite3_changes(s->db);
  *budget = n >= *budget ? 0 : *budget - n;
out:
  done(sl);
  return rc;
}

/* merge_hours moves at most n roll-up rows of finished hours (all but the current and the
 * previous one) from rollups_recent into the long table, oldest first. */
static int merge_hours(struct store *s, int64_t now_ms, size_t n, bool *more) {
  int rc = SQLITE_OK;
  int64_t before =
      now_ms - ((now_ms % STORE_HOUR_MS) + STORE_HOUR_MS) % STORE_HOUR_MS - STORE_HOUR_MS;
  struct slot *sl = slot_of(s, ST_ROLLUP_MERGE);
  TRY(bind_i64(sl, ":before", before));
  TRY(bind_i64(sl, ":n", (int64_t)n));
  TRY(run(sl));
  if ((size_t)sqlite3_changes(s->db) >= n) *more = true;
  sl = slot_of(s, ST_ROLLUP_MERGED);
  TRY(bind_i64(sl, ":before", before));
  TRY(bind_i64(sl, ":n", (int64_t)n));
  TRY(run(sl));
out:
  done(sl);
  return rc;
}

int store_maintain(struct store *s, int64_t now_ms, const struct store_retention *r, bool *more) {
  char why[512];
  bool again = false;
  size_t budget = s ? s->opt.maintain_max : 0;
  size_t merge_budget = s ? s->opt.merge_max : 0;
  if (more) *more = false;
  if (!writable_store(s) || !r) return UTIL_EINVAL;
  if (!s->db) {
    int err = db_open_rw(s, false, why, sizeof(why));
    if (err) return flush_failed(s, SQLITE_CANTOPEN, err, why);
  }
  int rc = run(slot_of(s, ST_BEGIN));
  if (rc != SQLITE_OK) return flush_failed(s, rc, map_rc(rc), sqlite3_errmsg(s->db));
  TRY(merge_hours(s, now_ms, merge_budget, &again));
  /* Oldest first through the time indexes. Raw probes are stored in time order, so the rows
   * deleted together sit on a few pages (deleting key by key would dirty a page per row).
   * Long roll-ups are stored key by key, for one key's series to be a single range read:
   * their deletion dirties a page per key, once an hour. */
  if (r->probes_ms > 0) TRY(delete_old(s, ST_MAINT_PROBES, now_ms - r->probes_ms, &budget));
  if (r->rollups_ms > 0 && budget > 0)
    TRY(delete_old(s, ST_MAINT_ROLLUPS, now_ms - r->rollups_ms, &budget));
  if (budget == 0) again = true;
  rc = run(slot_of(s, ST_COMMIT));
out:
  if (rc != SQLITE_OK) return flush_failed(s, rc, map_rc(rc), sqlite3_errmsg(s->db));
  if (more) *more = again;
  return 0;
}

/* ---- Reading: helpers ------------------------------------------------------------------- */

static void json_time(cJSON *o, const char *name, int64_t ms) {
  char buf[40];
  if (ms < 0)
    cJSON_AddNullToObject(o, name);
  else
    cJSON_AddStringToObject(o, name, util_format_time(buf, sizeof(buf), ms, true));
}

static void json_col_text(cJSON *o, const char *name, sqlite3_stmt *st, int i) {
  const char *v = col_text(st, i);
  if (v && *v)
    cJSON_AddStringToObject(o, name, v);
  else
    cJSON_AddNullToObject(o, name);
}

static void json_col_int(cJSON *o, const char *name, sqlite3_stmt *st, int i) {
  if (sqlite3_column_type(st, i) == SQLITE_NULL)
    cJSON_AddNullToObject(o, name);
  else
    cJSON_AddNumberToObject(o, name, (double)sqlite3_column_int64(st, i));
}

/* json_col_parsed adds a column holding JSON text we wrote; unparsable text stays a string
 * (never dropped silently). */
static void json_col_parsed(cJSON *o, const char *name, sqlite3_stmt *st, int i,
                            bool array_when_null) {
  const char *v = col_text(st, i);
  cJSON *j = v ? cJSON_Parse(v) : NULL;
  if (j)
    cJSON_AddItemToObject(o, name, j);
  else if (v)
    cJSON_AddStringToObject(o, name, v);
  else if (array_when_null)
    cJSON_AddItemToObject(o, name, cJSON_CreateArray());
  else
    cJSON_AddNullToObject(o, name);
}

/* transition_json renders a row of TRANSITION_COLUMNS starting at column c0. */
static cJSON *transition_json(sqlite3_stmt *st, int c0) {
  cJSON *t = cJSON_CreateObject();
  json_time(t, "at", col_time(st, c0));
  json_col_text(t, "from", st, c0 + 1);
  json_col_text(t, "to", st, c0 + 2);
  json_col_text(t, "cause", st, c0 + 3);
  json_col_text(t, "probe", st, c0 + 4);
  json_col_int(t, "http_status", st, c0 + 5);
  json_col_text(t, "error_type", st, c0 + 6);
  json_col_text(t, "error_message", st, c0 + 7);
  json_col_text(t, "error_code", st, c0 + 8);
  json_col_text(t, "request_id", st, c0 + 9);
  json_col_text(t, "curl_error", st, c0 + 10);
  return t;
}

static void range_of(const struct store_query *q, int64_t *since, int64_t *until) {
  *since = q && q->since_ms >= 0 ? q->since_ms : 0;
  *until = q && q->until_ms >= 0 ? q->until_ms : INT64_MAX;
}

static int read_rc(int rc) {
  return rc == SQLITE_DONE || rc == SQLITE_OK ? 0 : map_rc(rc);
}

/* A key row of ST_Q_KEYS / ST_Q_KEY_BY_NAME. */
struct key_row {
  int64_t id;
  char *name, *hint;
  int64_t last_seen;
};

static void key_rows_free(struct key_row *v, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(v[i].name);
    free(v[i].hint);
  }
  free(v);
}

/* load_keys returns the key asked for (UTIL_ENOENT when unknown) or all keys by name. */
static int load_keys(struct store *s, const char *name, struct key_row **out, size_t *n) {
  int rc;
  struct key_row *v = NULL;
  size_t count = 0;
  struct slot *sl = slot_of(s, name ? ST_Q_KEY_BY_NAME : ST_Q_KEYS);
  *out = NULL;
  *n = 0;
  if (name && (rc = bind_text(sl, ":name", name)) != SQLITE_OK) goto out;
  while ((rc = sqlite3_step(sl->st)) == SQLITE_ROW) {
    v = xrealloc(v, (count + 1) * sizeof(*v));
    v[count].id = sqlite3_column_int64(sl->st, 0);
    v[count].name = xstrdup(col_text(sl->st, 1) ? col_text(sl->st, 1) : "");
    v[count].hint = col_text(sl->st, 2) ? xstrdup(col_text(sl->st, 2)) : NULL;
    v[count].last_seen = col_time(sl->st, 3);
    count++;
  }
out:
  done(sl);
  int err = read_rc(rc);
  if (!err && name && count == 0) err = UTIL_ENOENT;
  if (err) {
    key_rows_free(v, count);
    return err;
  }
  *out = v;
  *n = count;
  return 0;
}

/* ---- Reading: incidents and platform verdicts ------------------------------------------- */

struct inc_row {
  cJSON *json;
  bool is_incident;
  int64_t created, end; /* end: resolved, or INT64_MAX */
  int verdict;          /* index of the matched platform verdict, -1 */
};

struct verdict_row {
  cJSON *json;
  int64_t at, end;
  int incident; /* index of the first incident matched to it, -1 */
};

static int load_incidents(struct store *s, enum stmt id, int64_t since, int64_t until,
                          bool with_updates, struct inc_row **out, size_t *n) {
  int rc;
  struct inc_row *v = NULL;
  size_t count = 0;
  struct slot *sl = slot_of(s, id);
  if (id == ST_Q_INCIDENTS) {
    TRY(bind_i64(sl, ":since", since));
    TRY(bind_i64(sl, ":until", until));
  }
  while ((rc = sqlite3_step(sl->st)) == SQLITE_ROW) {
    sqlite3_stmt *st = sl->st;
    cJSON *o = cJSON_CreateObject();
    json_col_text(o, "id", st, 0);
    json_col_text(o, "kind", st, 1);
    json_col_text(o, "name", st, 2);
    json_col_text(o, "impact", st, 3);
    json_col_text(o, "status", st, 4);
    json_col_text(o, "shortlink", st, 5);
    int64_t created = col_time(st, 6) >= 0 ? col_time(st, 6) : col_time(st, 10);
    json_time(o, "created_at", created);
    json_time(o, "updated_at", col_time(st, 7));
    json_time(o, "resolved_at", col_time(st, 8));
    json_col_parsed(o, "components", st, 9, true);
    v = xrealloc(v, (count + 1) * sizeof(*v));
    v[count].json = o;
    v[count].is_incident = col_text(st, 1) && strcmp(col_text(st, 1), "incident") == 0;
    v[count].created = created;
    v[count].end = col_time(st, 8) >= 0 ? col_time(st, 8) : INT64_MAX;
    v[count].verdict = -1;
    count++;
  }
out:
  done(sl);
  int err = read_rc(rc);
  for (size_t i = 0; !err && with_updates && i < count; i++) {
    cJSON *updates = cJSON_AddArrayToObject(v[i].json, "updates");
    sl = slot_of(s, ST_Q_INCIDENT_UPDATES);
    cJSON *idj = cJSON_GetObjectItemCaseSensitive(v[i].json, "id");
    if ((rc = bind_text(sl, ":id", cJSON_IsString(idj) ? idj->valuestring : "")) == SQLITE_OK) {
      while ((rc = sqlite3_step(sl->st)) == SQLITE_ROW) {
        cJSON *u = cJSON_CreateObject();
        json_time(u, "at", col_time(sl->st, 0));
        json_col_text(u, "status", sl->st, 1);
        json_col_text(u, "body", sl->st, 2);
        cJSON_AddItemToArray(updates, u);
      }
    }
    done(sl);
    err = read_rc(rc);
  }
  if (err) {
    for (size_t i = 0; i < count; i++)
      cJSON_Delete(v[i].json);
    free(v);
    return err;
  }
  *out = v;
  *n = count;
  return 0;
}

static int load_verdicts(struct store *s, enum stmt id, int64_t since, int64_t until,
                         struct verdict_row **out, size_t *n) {
  int rc;
  struct verdict_row *v = NULL;
  size_t count = 0;
  struct slot *sl = slot_of(s, id);
  if (id == ST_Q_VERDICTS) {
    TRY(bind_i64(sl, ":since", since));
    TRY(bind_i64(sl, ":until", until));
  }
  while ((rc = sqlite3_step(sl->st)) == SQLITE_ROW) {
    sqlite3_stmt *st = sl->st;
    cJSON *o = cJSON_CreateObject();
    json_time(o, "at", col_time(st, 0));
    json_time(o, "ended_at", col_time(st, 1));
    cJSON_AddStringToObject(o, "scope", "platform");
    json_col_text(o, "cause", st, 2);
    json_col_parsed(o, "keys", st, 3, true);
    json_col_text(o, "summary", st, 4);
    v = xrealloc(v, (count + 1) * sizeof(*v));
    v[count].json = o;
    v[count].at = col_time(st, 0);
    v[count].end = col_time(st, 1) >= 0 ? col_time(st, 1) : INT64_MAX;
    v[count].incident = -1;
    count++;
  }
out:
  done(sl);
  int err = read_rc(rc);
  if (err) {
    for (size_t i = 0; i < count; i++)
      cJSON_Delete(v[i].json);
    free(v);
    return err;
  }
  *out = v;
  *n = count;
  return 0;
}

/* match_lead pairs each status page incident with the earliest platform verdict in force
 * between STORE_LEAD_WINDOW_MS before it was published and its resolution, and sets
 * "declared_at" and "lead_seconds" (published - declared: positive when we were first) on
 * both sides. Maintenances are not matched: they are announced in advance. */
static void match_lead(struct inc_row *inc, size_t n_inc, struct verdict_row *ver, size_t n_ver) {
  for (size_t i = 0; i < n_inc; i++) {
    if (!inc[i].is_incident || inc[i].created < 0) continue;
    int best = -1;
    for (size_t k = 0; k < n_ver; k++) {
      if (ver[k].at > inc[i].end || ver[k].end < inc[i].created - STORE_LEAD_WINDOW_MS) continue;
      if (best < 0 || ver[k].at < ver[best].at) best = (int)k;
    }
    inc[i].verdict = best;
    if (best >= 0 && ver[best].incident < 0) ver[best].incident = (int)i;
  }
  for (size_t i = 0; i < n_inc; i++) {
    if (inc[i].verdict < 0) {
      cJSON_AddNullToObject(inc[i].json, "declared_at");
      cJSON_AddNullToObject(inc[i].json, "lead_seconds");
      continue;
    }
    const struct verdict_row *v = &ver[inc[i].verdict];
    json_time(inc[i].json, "declared_at", v->at);
    cJSON_AddNumberToObject(inc[i].json, "lead_seconds", (double)(inc[i].created - v->at) / 1000.0);
  }
  for (size_t k = 0; k < n_ver; k++) {
    /* incident is -1 or an index set above; the bound is only for the analyzer, which
     * cannot see that every verdict read back from SQLite starts at -1. */
    if (ver[k].incident < 0 || (size_t)ver[k].incident >= n_inc) {
      cJSON_AddNullToObject(ver[k].json, "incident_id");
      cJSON_AddNullToObject(ver[k].json, "lead_seconds");
      continue;
    }
    const struct inc_row *in = &inc[ver[k].incident];
    cJSON *id = cJSON_GetObjectItemCaseSensitive(in->json, "id");
    cJSON_AddItemToObject(ver[k].json, "incident_id", cJSON_Duplicate(id, true));
    cJSON_AddNumberToObject(ver[k].json, "lead_seconds",
                            (double)(in->created - ver[k].at) / 1000.0);
  }
}

/* add_incidents_and_verdicts appends "incidents" and "platform_verdicts" to doc. open_only:
 * the unresolved incidents and the verdict in force (store_failing). */
static int add_incidents_and_verdicts(struct store *s, cJSON *doc, int64_t since, int64_t until,
                                      bool open_only, bool with_updates) {
  struct inc_row *inc = NULL;
  struct verdict_row *ver = NULL;
  size_t n_inc = 0, n_ver = 0;
  int err;
  if (open_only) {
    err = load_incidents(s, ST_Q_INCIDENTS_OPEN, 0, 0, with_updates, &inc, &n_inc);
    if (!err) err = load_verdicts(s, ST_Q_VERDICTS_OPEN, 0, 0, &ver, &n_ver);
  } else {
    err = load_incidents(s, ST_Q_INCIDENTS, since, until, with_updates, &inc, &n_inc);
    /* Verdicts a little before the range can still be the declaration of an incident in it. */
    int64_t vsince = since > STORE_LEAD_WINDOW_MS ? since - STORE_LEAD_WINDOW_MS : 0;
    if (!err) err = load_verdicts(s, ST_Q_VERDICTS, vsince, until, &ver, &n_ver);
  }
  if (!err) {
    match_lead(inc, n_inc, ver, n_ver);
    cJSON *ia = cJSON_AddArrayToObject(doc, "incidents");
    for (size_t i = 0; i < n_inc; i++) {
      cJSON_AddItemToArray(ia, inc[i].json);
      inc[i].json = NULL;
    }
    cJSON *va = cJSON_AddArrayToObject(doc, "platform_verdicts");
    for (size_t k = 0; k < n_ver; k++) {
      if (!open_only && ver[k].end < since) continue; /* only there to match an incident */
      cJSON_AddItemToArray(va, ver[k].json);
      ver[k].json = NULL;
    }
  }
  for (size_t i = 0; i < n_inc; i++)
    cJSON_Delete(inc[i].json);
  for (size_t k = 0; k < n_ver; k++)
    cJSON_Delete(ver[k].json);
  free(inc);
  free(ver);
  return err;
}

/* ---- Reading: the public queries -------------------------------------------------------- */

static int key_history(struct store *s, const struct key_row *k, int64_t since, int64_t until,
                       bool always, cJSON *keys) {
  int rc;
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "key", k->name);
  if (k->hint)
    cJSON_AddStringToObject(o, "hint", k->hint);
  else
    cJSON_AddNullToObject(o, "hint");
  cJSON *ta = cJSON_AddArrayToObject(o, "transitions");
  cJSON *ea = cJSON_AddArrayToObject(o, "events");
  struct slot *sl = slot_of(s, ST_Q_TRANSITIONS);
  TRY(bind_i64(sl, ":key_id", k->id));
  TRY(bind_i64(sl, ":since", since));
  TRY(bind_i64(sl, ":until", until));
  while ((rc = sqlite3_step(sl->st)) == SQLITE_ROW)
    cJSON_AddItemToArray(ta, transition_json(sl->st, 0));
  if (rc != SQLITE_DONE) goto out;
  done(sl);
  sl = slot_of(s, ST_Q_KEY_EVENTS);
  TRY(bind_i64(sl, ":key_id", k->id));
  TRY(bind_i64(sl, ":since", since));
  TRY(bind_i64(sl, ":until", until));
  while ((rc = sqlite3_step(sl->st)) == SQLITE_ROW) {
    cJSON *e = cJSON_CreateObject();
    json_time(e, "at", col_time(sl->st, 0));
    json_col_text(e, "event", sl->st, 1);
    json_col_text(e, "fingerprint", sl->st, 2);
    json_col_text(e, "hint", sl->st, 3);
    cJSON_AddItemToArray(ea, e);
  }
out:
  done(sl);
  int err = read_rc(rc);
  if (!err && (always || cJSON_GetArraySize(ta) > 0 || cJSON_GetArraySize(ea) > 0))
    cJSON_AddItemToArray(keys, o);
  else
    cJSON_Delete(o);
  return err;
}

int store_history(struct store *s, const struct store_query *q, cJSON **out) {
  int64_t since, until;
  struct key_row *keys = NULL;
  size_t n_keys = 0;
  *out = NULL;
  if (!s || !s->db) return UTIL_EINVAL;
  range_of(q, &since, &until);
  int err = load_keys(s, q ? q->key : NULL, &keys, &n_keys);
  if (err) return err;
  cJSON *doc = cJSON_CreateObject();
  cJSON *ka = cJSON_AddArrayToObject(doc, "keys");
  for (size_t i = 0; i < n_keys && !err; i++)
    err = key_history(s, &keys[i], since, until, q && q->key, ka);
  if (!err) err = add_incidents_and_verdicts(s, doc, since, until, false, false);
  key_rows_free(keys, n_keys);
  if (err) {
    cJSON_Delete(doc);
    return err;
  }
  *out = doc;
  return 0;
}

struct failing_row {
  int64_t at;
  const char *name;
  cJSON *json;
};

static int cmp_failing(const void *a, const void *b) {
  const struct failing_row *x = a, *y = b;
  if (x->at != y->at) return x->at < y->at ? -1 : 1;
  return strcmp(x->name, y->name);
}

int store_failing(struct store *s, const struct store_query *q, cJSON **out) {
  struct key_row *keys = NULL;
  size_t n_keys = 0, n_fail = 0;
  struct failing_row *fail = NULL;
  int rc = SQLITE_OK;
  *out = NULL;
  if (!s || !s->db) return UTIL_EINVAL;
  int err = load_keys(s, q ? q->key : NULL, &keys, &n_keys);
  if (err) return err;
  struct slot *sl = slot_of(s, ST_Q_LAST_TRANSITION);
  for (size_t i = 0; i < n_keys; i++) {
    TRY(bind_i64(sl, ":key_id", keys[i].id));
    rc = sqlite3_step(sl->st);
    if (rc == SQLITE_ROW) {
      const char *to = col_text(sl->st, 2);
      if (to && strcmp(to, "ok") != 0) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "key", keys[i].name);
        if (keys[i].hint)
          cJSON_AddStringToObject(o, "hint", keys[i].hint);
        else
          cJSON_AddNullToObject(o, "hint");
        cJSON_AddStringToObject(o, "cause", to);
        json_time(o, "failing_since", col_time(sl->st, 0));
        json_time(o, "last_probe", keys[i].last_seen);
        cJSON *ta = cJSON_AddArrayToObject(o, "transitions");
        cJSON_AddItemToArray(ta, transition_json(sl->st, 0));
        cJSON_AddArrayToObject(o, "events");
        fail = xrealloc(fail, (n_fail + 1) * sizeof(*fail));
        fail[n_fail].at = col_time(sl->st, 0);
        fail[n_fail].name = keys[i].name;
        fail[n_fail].json = o;
        n_fail++;
      }
      rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
      rc = SQLITE_OK;
    } else {
      goto out;
    }
    done(sl);
  }
out:
  done(sl);
  err = read_rc(rc);
  cJSON *doc = NULL;
  if (!err) {
    if (n_fail > 1) qsort(fail, n_fail, sizeof(*fail), cmp_failing);
    doc = cJSON_CreateObject();
    cJSON *ka = cJSON_AddArrayToObject(doc, "keys");
    for (size_t i = 0; i < n_fail; i++) {
      cJSON_AddItemToArray(ka, fail[i].json);
      fail[i].json = NULL;
    }
    err = add_incidents_and_verdicts(s, doc, 0, INT64_MAX, true, false);
  }
  for (size_t i = 0; i < n_fail; i++)
    cJSON_Delete(fail[i].json);
  free(fail);
  key_rows_free(keys, n_keys);
  if (err) {
    cJSON_Delete(doc);
    return err;
  }
  *out = doc;
  return 0;
}

int store_incidents(struct store *s, const struct store_query *q, cJSON **out) {
  int64_t since, until;
  *out = NULL;
  if (!s || !s->db) return UTIL_EINVAL;
  range_of(q, &since, &until);
  cJSON *doc = cJSON_CreateObject();
  int err = add_incidents_and_verdicts(s, doc, since, until, false, true);
  if (err) {
    cJSON_Delete(doc);
    return err;
  }
  *out = doc;
  return 0;
}

/* One roll-up row as read: hour, kind and the ROLLUP_COLUMNS in their order. */
#define ROLLUP_VALUES (CAUSE__PROBE_COUNT + 3 + ROLLUP_BUCKETS + 2)
#define ROLLUP_LAT_N CAUSE__PROBE_COUNT
#define ROLLUP_LAT_SUM (CAUSE__PROBE_COUNT + 1)
#define ROLLUP_LAT_MAX (CAUSE__PROBE_COUNT + 2)
#define ROLLUP_BUCKET0 (CAUSE__PROBE_COUNT + 3)
#define ROLLUP_TOKENS_IN (ROLLUP_BUCKET0 + ROLLUP_BUCKETS)
#define ROLLUP_TOKENS_OUT (ROLLUP_TOKENS_IN + 1)

struct rollup_row {
  bool valid;
  int64_t hour;
  char kind[24];
  int64_t v[ROLLUP_VALUES];
};

/* rollup_next reads the next row of a roll-up query into r (r->valid false at the end). */
static int rollup_next(struct slot *sl, struct rollup_row *r) {
  int rc = sqlite3_step(sl->st);
  r->valid = rc == SQLITE_ROW;
  if (!r->valid) return rc == SQLITE_DONE ? SQLITE_OK : rc;
  r->hour = sqlite3_column_int64(sl->st, 0);
  util_copy(r->kind, sizeof(r->kind), col_text(sl->st, 1));
  for (int i = 0; i < ROLLUP_VALUES; i++)
    r->v[i] = sqlite3_column_int64(sl->st, 2 + i);
  return SQLITE_OK;
}

static int rollup_cmp(const struct rollup_row *a, const struct rollup_row *b) {
  if (a->hour != b->hour) return a->hour < b->hour ? -1 : 1;
  return strcmp(a->kind, b->kind);
}

static cJSON *rollup_json(const struct rollup_row *r) {
  static const char *const cause_names[CAUSE__COUNT] = {
#define STORE_CAUSE_NAME(id, name, scope, sev, flaky, per_probe) name,
      MODEL_CAUSE_MAP(STORE_CAUSE_NAME)
#undef STORE_CAUSE_NAME
  };
  cJSON *h = cJSON_CreateObject();
  json_time(h, "hour", r->hour);
  cJSON_AddStringToObject(h, "probe", r->kind);
  cJSON *causes = cJSON_CreateObject();
  int64_t total = 0;
  for (int c = 0; c < CAUSE__PROBE_COUNT; c++) {
    total += r->v[c];
    if (r->v[c]) cJSON_AddNumberToObject(causes, cause_names[c], (double)r->v[c]);
  }
  cJSON_AddNumberToObject(h, "probes", (double)total);
  cJSON_AddItemToObject(h, "causes", causes);
  if (r->v[ROLLUP_LAT_N] > 0) {
    cJSON_AddNumberToObject(h, "latency_avg_seconds",
                            (double)r->v[ROLLUP_LAT_SUM] / (double)r->v[ROLLUP_LAT_N] / 1e6);
    cJSON_AddNumberToObject(h, "latency_max_seconds", (double)r->v[ROLLUP_LAT_MAX] / 1e6);
  } else {
    cJSON_AddNullToObject(h, "latency_avg_seconds");
    cJSON_AddNullToObject(h, "latency_max_seconds");
  }
  cJSON *b = cJSON_AddArrayToObject(h, "latency_buckets");
  for (int k = 0; k < ROLLUP_BUCKETS; k++)
    cJSON_AddItemToArray(b, cJSON_CreateNumber((double)r->v[ROLLUP_BUCKET0 + k]));
  cJSON_AddNumberToObject(h, "tokens_in", (double)r->v[ROLLUP_TOKENS_IN]);
  cJSON_AddNumberToObject(h, "tokens_out", (double)r->v[ROLLUP_TOKENS_OUT]);
  return h;
}

int store_key_rollups(struct store *s, const struct store_query *q, cJSON **out) {
  int64_t since, until;
  struct key_row *keys = NULL;
  size_t n_keys = 0;
  int rc = SQLITE_OK;
  struct rollup_row a, b;
  *out = NULL;
  if (!s || !s->db || !q || !q->key) return UTIL_EINVAL;
  range_of(q, &since, &until);
  int err = load_keys(s, q->key, &keys, &n_keys);
  if (err) return err;
  cJSON *doc = cJSON_CreateObject();
  cJSON_AddStringToObject(doc, "key", keys[0].name);
  cJSON *hours = cJSON_AddArrayToObject(doc, "hours");
  /* Both tables in hour order, merged here: an hour that received late rows after it was
   * merged is in both and is added up (cheaper than a GROUP BY over a UNION). An hour
   * overlapping the range counts: its start may be before since. */
  struct slot *lo = slot_of(s, ST_Q_ROLLUPS), *re = slot_of(s, ST_Q_ROLLUPS_RECENT);
  struct slot *both[2] = {lo, re};
  for (int i = 0; i < 2; i++) {
    TRY(bind_i64(both[i], ":key_id", keys[0].id));
    TRY(bind_i64(both[i], ":since", since - since % STORE_HOUR_MS));
    TRY(bind_i64(both[i], ":until", until));
  }
  TRY(rollup_next(lo, &a));
  TRY(rollup_next(re, &b));
  while (a.valid || b.valid) {
    int cmp = !a.valid ? 1 : !b.valid ? -1 : rollup_cmp(&a, &b);
    if (cmp == 0) {
      for (int i = 0; i < ROLLUP_VALUES; i++)
        a.v[i] = i == ROLLUP_LAT_MAX ? (a.v[i] > b.v[i] ? a.v[i] : b.v[i]) : a.v[i] + b.v[i];
    }
    cJSON_AddItemToArray(hours, rollup_json(cmp <= 0 ? &a : &b));
    if (cmp <= 0) TRY(rollup_next(lo, &a));
    if (cmp >= 0) TRY(rollup_next(re, &b));
  }
out:
  done(lo);
  done(re);
  key_rows_free(keys, n_keys);
  err = read_rc(rc);
  if (err) {
    cJSON_Delete(doc);
    return err;
  }
  *out = doc;
  return 0;
}

/* ---- At daemon start -------------------------------------------------------------------- */

int store_alerts_firing(struct store *s, struct store_alert **out, size_t *n) {
  int rc;
  struct store_alert *v = NULL;
  size_t count = 0;
  *out = NULL;
  *n = 0;
  if (!s || !s->db) return UTIL_EINVAL;
  struct slot *sl = slot_of(s, ST_Q_ALERTS_FIRING);
  while ((rc = sqlite3_step(sl->st)) == SQLITE_ROW) {
    v = xrealloc(v, (count + 1) * sizeof(*v));
    struct store_alert *a = &v[count++];
    memset(a, 0, sizeof(*a));
    util_copy(a->fingerprint, sizeof(a->fingerprint), col_text(sl->st, 0));
    a->starts_ms = sqlite3_column_int64(sl->st, 1);
    a->alertname = xstrdup(col_text(sl->st, 2) ? col_text(sl->st, 2) : "");
    a->labels_json = xstrdup(col_text(sl->st, 3) ? col_text(sl->st, 3) : "{}");
    a->annotations_json = xstrdup(col_text(sl->st, 4) ? col_text(sl->st, 4) : "{}");
    a->ends_ms = col_time(sl->st, 5);
    a->last_sent_ms = col_time(sl->st, 6);
    a->firing = true;
  }
  done(sl);
  int err = read_rc(rc);
  if (err) {
    store_alerts_free(v, count);
    return err;
  }
  *out = v;
  *n = count;
  return 0;
}

void store_alerts_free(struct store_alert *v, size_t n) {
  for (size_t i = 0; v && i < n; i++) {
    free(v[i].alertname);
    free(v[i].labels_json);
    free(v[i].annotations_json);
  }
  free(v);
}

static enum cause parse_cause_or_unknown(const char *name) {
  enum cause c = CAUSE_UNKNOWN;
  if (!name || cause_parse(name, &c) != 0) c = CAUSE_UNKNOWN;
  return c;
}

int store_last_states(struct store *s, struct store_key_state **out, size_t *n) {
  int rc;
  struct store_key_state *v = NULL;
  size_t count = 0;
  *out = NULL;
  *n = 0;
  if (!s || !s->db) return UTIL_EINVAL;
  struct slot *sl = slot_of(s, ST_Q_LAST_STATES);
  while ((rc = sqlite3_step(sl->st)) == SQLITE_ROW) {
    sqlite3_stmt *st = sl->st;
    v = xrealloc(v, (count + 1) * sizeof(*v));
    struct store_key_state *k = &v[count++];
    memset(k, 0, sizeof(*k));
    k->name = xstrdup(col_text(st, 0) ? col_text(st, 0) : "");
    k->since_ms = sqlite3_column_int64(st, 1);
    k->from = parse_cause_or_unknown(col_text(st, 2));
    k->cause = parse_cause_or_unknown(col_text(st, 3));
    struct evidence *e = &k->evidence;
    e->at_ms = k->since_ms;
    e->cause = parse_cause_or_unknown(col_text(st, 4));
    e->kind = PROBE_MODELS;
    if (col_text(st, 5)) probe_kind_parse(col_text(st, 5), &e->kind);
    e->http_status = sqlite3_column_int(st, 6);
    util_copy(e->error_type, sizeof(e->error_type), col_text(st, 7));
    util_copy(e->error_message, sizeof(e->error_message), col_text(st, 8));
    util_copy(e->error_code, sizeof(e->error_code), col_text(st, 9));
    util_copy(e->request_id, sizeof(e->request_id), col_text(st, 10));
    util_copy(e->curl_error, sizeof(e->curl_error), col_text(st, 11));
  }
  done(sl);
  int err = read_rc(rc);
  if (err) {
    store_key_states_free(v, count);
    return err;
  }
  *out = v;
  *n = count;
  return 0;
}

void store_key_states_free(struct store_key_state *v, size_t n) {
  for (size_t i = 0; v && i < n; i++)
    free(v[i].name);
  free(v);
}

/* ---- Checkpoints off the loop ---------------------------------------------------------- */

int store_checkpoint(const char *path, int64_t *wal_pages) {
  sqlite3 *db = NULL;
  int log = -1, done_pages = -1;
  if (wal_pages) *wal_pages = -1;
  if (!path) return UTIL_EINVAL;
  /* Its own connection: this runs on a worker thread while the loop writes through the
   * store's. A PASSIVE checkpoint never waits for the writer nor blocks it. */
  int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
  if (rc == SQLITE_OK) {
    sqlite3_busy_timeout(db, 1000);
    /* A fresh connection learns that the file is in WAL mode only when it first reads it;
     * before that the checkpoint would be a silent no-op. */
    int64_t version = 0;
    rc = pragma_int(db, "PRAGMA user_version", &version);
  }
  if (rc == SQLITE_OK)
    rc = sqlite3_wal_checkpoint_v2(db, "main", SQLITE_CHECKPOINT_PASSIVE, &log, &done_pages);
  sqlite3_close(db);
  if (rc != SQLITE_OK) return map_rc(rc);
  if (wal_pages) *wal_pages = log;
  return 0;
}

/* ---- Raw access ------------------------------------------------------------------------- */

int store_exec(struct store *s, const char *sql) {
  if (!s || !s->db || !sql) return UTIL_EINVAL;
  char *msg = NULL;
  int rc = sqlite3_exec(s->db, sql, NULL, NULL, &msg);
  if (rc != SQLITE_OK) log_debug("store_exec failed", "sqlite=%s", log_q(msg ? msg : ""));
  sqlite3_free(msg);
  return rc == SQLITE_OK ? 0 : map_rc(rc);
}

int store_query_int64(struct store *s, const char *sql, int64_t *out) {
  if (!s || !s->db || !sql) return UTIL_EINVAL;
  int rc = pragma_int(s->db, sql, out);
  return rc == SQLITE_OK ? 0 : map_rc(rc);
}
