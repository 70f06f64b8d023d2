/* store.h — claudemon's memory: every probe result (short retention), every key transition,
 * status page change, verdict and alert (kept), hourly roll-ups (kept long), in one SQLite
 * file. Two ways in:
 *
 *  - The daemon opens it read-write with store_open(), queues results from the loop with
 *    store_enqueue_*() (each copies what it needs and never touches the disk) and writes the
 *    queue with store_flush() from a timer, one transaction per batch. store_maintain()
 *    applies retention in small steps. A database that cannot be written (locked, full,
 *    read-only, vanished) never blocks the loop for more than the busy timeout: the flush
 *    fails, the queue is kept (bounded: the oldest raw probe rows go first, never
 *    transitions, status page changes, verdicts or alerts) and the next flush retries.
 *  - The CLI and the HTTP API read it with store_open_readonly() (or the daemon's own
 *    handle) and the store_history()/store_failing()/store_incidents() queries, which return
 *    cJSON documents in DESIGN.md's `history --format json` shape.
 *
 * The store never sees an API key: keys are named by their configured name and identified
 * by a fingerprint (SHA-256 hex) and a hint, both computed by the caller. Free text that came
 * from outside (error messages, curl errors) passes through log_redact() before it is kept.
 *
 * Threads: a struct store is used by one thread at a time (the loop's). Times are Unix
 * milliseconds everywhere, in the API and in the database. */
#ifndef CLAUDEMON_STORE_H
#define CLAUDEMON_STORE_H

#include "agent/model.h"

#include <cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The schema version this build writes (PRAGMA user_version). */
#define STORE_SCHEMA_VERSION 1

struct store;

struct store_options {
  size_t queue_max;     /* rows held in memory while the database cannot be written (100000) */
  size_t batch_max;     /* rows written by one store_flush (1000: a few ms of the loop) */
  size_t maintain_max;  /* rows deleted by one store_maintain (2000) */
  size_t merge_max;     /* roll-up rows merged by one store_maintain (125): each writes a page
                           of its own in the key-ordered long table, so they are few */
  int busy_timeout_ms;  /* how long a flush waits for a lock held by someone else (50) */
  int cache_kib;        /* SQLite page cache of the writer (16384) */
  int checkpoint_pages; /* WAL pages after which a commit checkpoints (1000); 0: never on
                           commit, the daemon calls store_checkpoint from a worker thread */
};

/* store_options_init fills o with the defaults above. */
void store_options_init(struct store_options *o);

/* store_open opens (creating it when missing) the database at path for writing: WAL,
 * synchronous=NORMAL, foreign keys on, then runs the forward migrations up to
 * STORE_SCHEMA_VERSION. opt may be NULL (defaults). Returns 0 and *out, or:
 *   UTIL_EDBVERSION  the file was written by a newer claudemon (it is left untouched);
 *   UTIL_EDBBUSY     locked by someone else;
 *   UTIL_EDB/EIO     not a database, not a claudemon database, unreadable, cannot migrate.
 * When why is not NULL it receives a sentence for people ("database /x.db has schema
 * version 7; this claudemon understands up to 1: upgrade claudemon"). A file that is
 * read-only but already current opens: writes then fail in store_flush (counted, logged)
 * until it is writable again, so the daemon keeps probing and alerting. */
int store_open(const char *path, const struct store_options *opt, struct store **out, char *why,
               size_t whysz);

/* store_open_readonly opens an existing database for the queries only (SQLITE_OPEN_READONLY,
 * query_only): it never blocks the daemon's writes (WAL readers do not). Returns 0 and
 * *out, UTIL_ENOENT (no such file), UTIL_EDBVERSION (newer, or older than this build: run
 * the daemon of this version once to migrate it) or UTIL_EDB/UTIL_EIO, with why as above. */
int store_open_readonly(const char *path, struct store **out, char *why, size_t whysz);

/* store_free closes the database and frees the store and its queue. Rows still queued are
 * lost: call store_flush first on shutdown. store_free(NULL) does nothing. */
void store_free(struct store *s);

/* store_path returns the file the store was opened on. */
const char *store_path(const struct store *s);

/* store_sqlite_version returns the linked SQLite's version ("3.40.1"). */
const char *store_sqlite_version(void);

/* ---- Writing (the daemon, on the loop) -------------------------------------------------- */

/* store_enqueue_probe queues one probe result of the key named key (its configured name).
 * Copies what it keeps. Returns 0, UTIL_EINVAL (no name, or a read-only store) or UTIL_EFULL
 * (the queue is full of rows that are never dropped: this probe row was dropped). When the
 * queue is full the oldest queued probe row is dropped to make room (counted). */
int store_enqueue_probe(struct store *s, const char *key, const struct probe_result *r);

/* store_enqueue_transition queues a change of a key's cause after hysteresis: at_ms is when
 * it happened (the first failing probe of a failure, the first good probe of a recovery),
 * from/to the key's causes, ev the evidence (its first failing probe; may be NULL). */
int store_enqueue_transition(struct store *s, const char *key, int64_t at_ms, enum cause from,
                             enum cause to, const struct evidence *ev);

/* store_key_seen queues what the daemon learnt about a key when it read its secret: its
 * fingerprint (util_sha256_hex of the key) and hint (util_key_hint). When the store flushes
 * it, a key never seen gets a "first_seen" event and a new fingerprint under the same name a
 * "fingerprint_changed" event (logged at info). Never pass the key itself. */
int store_key_seen(struct store *s, const char *key, const char *fingerprint, const char *hint,
                   int64_t now_ms);

/* store_enqueue_status queues what changed on the status page since the last snapshot this
 * store saw (it keeps the last component statuses and unresolved incidents, loaded from the
 * database at open): component status transitions, new or updated incidents and
 * maintenances with their newest update, and incidents that left the unresolved list
 * (resolved at the snapshot's fetch time). An unreachable snapshot changes nothing. Call it
 * after every poll. */
int store_enqueue_status(struct store *s, const struct status_snapshot *snap);

/* A verdict as recorded: the daemon queues one each time the verdict changes; the previous
 * one ends then. Platform verdicts are "the platform incidents we declared": their at_ms is
 * the declared time the lead time is measured from. */
struct store_verdict {
  int64_t at_ms;
  enum scope scope;
  enum cause cause;
  const char *const *keys; /* names of the keys involved */
  size_t n_keys;
  const char *summary;
};
/* store_enqueue_verdict queues a new verdict (copied); the one in force ends at v->at_ms. */
int store_enqueue_verdict(struct store *s, const struct store_verdict *v);

/* An alert as sent to Alertmanager, one row per firing episode (fingerprint + starts_ms):
 * queue it each time it is sent or resolved, so a restart resumes firing alerts with their
 * original startsAt. Strings are JSON text built by the alert module (no secrets). */
#define STORE_ALERT_FP_MAX 72
struct store_alert {
  char fingerprint[STORE_ALERT_FP_MAX]; /* hash of the labels */
  char *alertname;                      /* owned in results; borrowed when enqueued */
  char *labels_json;                    /* {"alertname":...,"scope":...} */
  char *annotations_json;               /* {"summary":...} */
  int64_t starts_ms;
  int64_t ends_ms;      /* -1 when none */
  int64_t last_sent_ms; /* -1 when never */
  bool firing;          /* false: resolved */
};
/* store_enqueue_alert queues an alert's state (copied): inserted, or updated when the same
 * fingerprint and starts_ms were recorded before. */
int store_enqueue_alert(struct store *s, const struct store_alert *a);

/* store_flush writes queued rows (at most batch_max, oldest first) in one transaction.
 * Returns 0 (written, or nothing to write) or an error: UTIL_EDBBUSY (locked by someone
 * else beyond the busy timeout), UTIL_EIO (the file vanished or was replaced, or an I/O
 * error: the store reopens the path on the next flush), UTIL_EDB (full, read-only, ...).
 * On error nothing is lost: the rows stay queued and the next call retries; the failure is
 * counted and logged with backoff. Rows the database rejects one by one (a constraint) are
 * dropped, logged and counted so that one bad row cannot stall the queue. Call it from a
 * timer (every ~100 ms) and once more before store_free. */
int store_flush(struct store *s);

/* Retention (DESIGN.md `retention`): 0 keeps for ever. */
struct store_retention {
  int64_t probes_ms;  /* raw probe rows, default 14 days */
  int64_t rollups_ms; /* hourly roll-ups, default 400 days */
};

/* store_maintain does a bounded step of housekeeping in one short transaction: it merges
 * the roll-ups of finished hours (all but the current and the previous one; store_flush adds
 * every probe to its hour's roll-up in a small table kept hot for writing) into the long
 * table, ordered by key for reading (at most merge_max rows), and deletes at most
 * maintain_max rows older than the retention, oldest first. *more (may be NULL) is set when
 * a budget ran out: call again at a later tick. Call it every few seconds. */
int store_maintain(struct store *s, int64_t now_ms, const struct store_retention *r, bool *more);

struct store_stats {
  uint64_t errors_total;   /* failed flushes and maintenance runs */
  uint64_t dropped_total;  /* probe rows dropped from a full queue */
  uint64_t rejected_total; /* rows the database refused one by one (a bug: see the log) */
  uint64_t written_total;  /* rows committed */
  uint64_t flushes_total;  /* successful flushes that wrote something */
  size_t queue_length;     /* rows waiting to be written */
  int64_t last_flush_us;   /* duration of the last successful flush that wrote something */
  int last_error;          /* code of the last failed flush, 0 after a success */
};
/* store_stats fills out with the writer's health (claudemon_storage_* metrics). */
void store_stats(const struct store *s, struct store_stats *out);

/* ---- At daemon start -------------------------------------------------------------------- */

/* store_alerts_firing returns the alerts last recorded as firing, oldest first, as an array
 * the caller frees with store_alerts_free. */
int store_alerts_firing(struct store *s, struct store_alert **out, size_t *n);
/* store_alerts_free frees what store_alerts_firing returned; NULL does nothing. */
void store_alerts_free(struct store_alert *v, size_t n);

/* Each key's last transition: its cause after hysteresis, since when, and the evidence. */
struct store_key_state {
  char *name;       /* owned */
  enum cause cause; /* the transition's "to" (CAUSE_UNKNOWN for a name this build lacks) */
  enum cause from;
  int64_t since_ms;
  struct evidence evidence;
};
/* store_last_states returns one entry per key that has a transition (by name), freed with
 * store_key_states_free. The daemon seeds its key states with it so that "failing since"
 * survives a restart. */
int store_last_states(struct store *s, struct store_key_state **out, size_t *n);
/* store_key_states_free frees what store_last_states returned; NULL does nothing. */
void store_key_states_free(struct store_key_state *v, size_t n);

/* ---- Reading (CLI, HTTP API) ------------------------------------------------------------ */

/* The queries read what was committed: on the daemon's own handle, rows still queued are not
 * seen yet (they will be within a flush interval). */

struct store_query {
  const char *key;  /* one key's name, or NULL for all */
  int64_t since_ms; /* -1: from the beginning */
  int64_t until_ms; /* -1: up to now */
};

/* store_history returns (the caller frees with cJSON_Delete):
 *   {"keys":[{"key":"prod","hint":..,"transitions":[{"at","from","to","cause","probe",
 *     "http_status","error_type","error_message","error_code","request_id"}],
 *     "events":[{"at","event","fingerprint","hint"}]}],
 *    "incidents":[...], "platform_verdicts":[...]}
 * transitions oldest first, keys by name; a key appears when it has a transition or event
 * in the range, or when it is the one asked for. Incidents overlap the range; platform
 * verdicts too, each with the incident it matched and the detection lead time. Returns 0,
 * UTIL_ENOENT (q->key names no known key) or UTIL_EDB. */
int store_history(struct store *s, const struct store_query *q, cJSON **out);

/* store_failing returns the keys failing now (last transition to a cause other than ok),
 * the earliest failure first, in the history shape plus "cause", "failing_since" and
 * "last_probe" per key, each key with that one transition as evidence; "incidents" are the
 * unresolved ones and "platform_verdicts" the one in force, if any. */
int store_failing(struct store *s, const struct store_query *q, cJSON **out);

/* store_incidents returns {"incidents":[...with "updates"],"platform_verdicts":[...]} for
 * incidents and maintenances overlapping the range, each with the platform verdict we
 * declared for it ("declared_at") and "lead_seconds" = published (its created_at) minus
 * declared: positive when we were first. */
int store_incidents(struct store *s, const struct store_query *q, cJSON **out);

/* store_key_rollups returns one key's hourly roll-ups (q->key required):
 *   {"key":"prod","hours":[{"hour","probe","probes","causes":{"ok":58,...},
 *     "latency_avg_seconds","latency_max_seconds","latency_buckets":[..8]}]}
 * Bucket upper bounds: 0.1, 0.25, 0.5, 1, 2.5, 5, 10 s and +Inf (not cumulative). */
int store_key_rollups(struct store *s, const struct store_query *q, cJSON **out);

/* store_checkpoint copies the WAL back into the database file (a PASSIVE checkpoint: it
 * neither waits for nor blocks the writer) through a connection of its own, so it may run on
 * a worker thread (uv_queue_work) while the loop goes on writing; it never touches a struct
 * store. The checkpoint is the only step that fsyncs (WAL, synchronous=NORMAL): with
 * checkpoint_pages = 0 and this every few seconds, no fsync runs on the loop. *wal_pages
 * (may be NULL) receives the WAL's size in pages, -1 when unknown. */
int store_checkpoint(const char *path, int64_t *wal_pages);

/* ---- Raw access: tests, the benchmark and tools; never from the daemon ------------------- */

/* store_exec runs SQL text (several statements allowed). Returns 0, UTIL_EDBBUSY or
 * UTIL_EDB. */
int store_exec(struct store *s, const char *sql);
/* store_query_int64 runs a query and returns its first column of its first row (0 when it
 * returns no row). */
int store_query_int64(struct store *s, const char *sql, int64_t *out);

#endif
