/* Tests of storage/store.c and the history/incidents commands (agent/history.c), on real
 * SQLite files in a temporary folder: migrations, refusing a newer schema, batched writes,
 * a locked, read-only or vanished database, the queue bound, retention, roll-ups, the
 * history/failing/incidents documents field by field, alerts and last states for a restart,
 * and that a key never reaches the file. */
#include "agent/cli.h"
#include "agent/log.h"
#include "agent/model.h"
#include "agent/util.h"
#include "storage/store.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/fs.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#define T0 1795845600000LL /* 2026-11-28T06:00:00Z */
#define MIN_MS 60000LL
#define HOUR_MS 3600000LL
#define DAY_MS 86400000LL

static const char fake_key[] =
    "sk-ant-api03-Zq8xT2vLk9PmN4rB7wYc1HdF6gJs3KaE5uVoXiQ0lRtM-bnCy_UjWe2PzAhGf8DkLq4Sx9NvTm1Ri7Bo3"
    "YcKd6Hw-AA";

static char tmpdir[256];
static int file_seq;

/* ---- Helpers ---------------------------------------------------------------------------- */

static char *db_path(void) {
  return xasprintf("%s/t%d.db", tmpdir, ++file_seq);
}

static struct store *open_rw(const char *path) {
  struct store *s = NULL;
  char why[256] = "";
  int err = store_open(path, NULL, &s, why, sizeof(why));
  if (err) fail_msg("store_open(%s): %s: %s", path, util_strerror(err), why);
  return s;
}

static struct store *open_ro(const char *path) {
  struct store *s = NULL;
  char why[256] = "";
  int err = store_open_readonly(path, &s, why, sizeof(why));
  if (err) fail_msg("store_open_readonly(%s): %s: %s", path, util_strerror(err), why);
  return s;
}

static int64_t q64(struct store *s, const char *sql) {
  int64_t v = -12345;
  int err = store_query_int64(s, sql, &v);
  if (err) fail_msg("query failed (%s): %s", util_strerror(err), sql);
  return v;
}

static void probe(struct probe_result *r, enum probe_kind kind, enum cause cause, int64_t at,
                  int status, const char *request_id, double total_s) {
  probe_result_init(r, 0, kind);
  r->cause = cause;
  r->started_ms = at;
  r->planned_ms = at;
  r->http_status = status;
  r->total_s = total_s;
  r->dns_s = total_s / 10;
  r->body_kind = status == 200 ? BODY_EXPECTED : BODY_API_ERROR;
  util_copy(r->request_id, sizeof(r->request_id), request_id);
  util_copy(r->organization_id, sizeof(r->organization_id), "3f1c0000-aaaa-bbbb-cccc-000000000001");
  util_copy(r->peer, sizeof(r->peer), "160.79.104.10");
  if (cause == CAUSE_AUTH_INVALID) {
    util_copy(r->error_type, sizeof(r->error_type), "authentication_error");
    util_copy(r->error_message, sizeof(r->error_message), "invalid x-api-key");
  }
  r->ratelimit[RL_REQUESTS].remaining = 49;
}

static void evidence(struct evidence *e, enum cause cause, int64_t at, int status, const char *type,
                     const char *msg, const char *request_id) {
  memset(e, 0, sizeof(*e));
  e->at_ms = at;
  e->kind = PROBE_MODELS;
  e->cause = cause;
  e->http_status = status;
  util_copy(e->error_type, sizeof(e->error_type), type);
  util_copy(e->error_message, sizeof(e->error_message), msg);
  util_copy(e->request_id, sizeof(e->request_id), request_id);
}

static void flush_ok(struct store *s) {
  int err = store_flush(s);
  if (err) fail_msg("store_flush: %s", util_strerror(err));
}

static const char *jstr(const cJSON *o, const char *name) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
  if (!v) fail_msg("no member %s", name);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double jnum(const cJSON *o, const char *name) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
  if (!cJSON_IsNumber(v)) fail_msg("member %s is not a number", name);
  return v->valuedouble;
}

static bool jnull(const cJSON *o, const char *name) {
  return cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, name));
}

static const cJSON *jarr(const cJSON *o, const char *name) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
  if (!cJSON_IsArray(v)) fail_msg("member %s is not an array", name);
  return v;
}

static char *read_all(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  *len = 0;
  if (!f) return NULL;
  char *buf = NULL;
  size_t cap = 0;
  for (;;) {
    buf = xrealloc(buf, cap + 65536);
    size_t n = fread(buf + cap, 1, 65536, f);
    cap += n;
    if (n < 65536) break;
  }
  fclose(f);
  *len = cap;
  return buf;
}

/* set_readonly makes a file read-only even for root (the immutable flag), or undoes it.
 * Returns false where that is impossible (then the test is skipped). */
static bool set_readonly(const char *path, bool on) {
  if (geteuid() != 0) return chmod(path, on ? 0444 : 0644) == 0;
  int fd = open(path, O_RDONLY);
  if (fd < 0) return false;
  int flags = 0;
  bool ok = ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0;
  if (ok) {
    flags = on ? (flags | FS_IMMUTABLE_FL) : (flags & ~FS_IMMUTABLE_FL);
    ok = ioctl(fd, FS_IOC_SETFLAGS, &flags) == 0;
  }
  close(fd);
  return ok;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  set_readonly(path, false);
  remove(path);
  return 0;
}

static int group_setup(void **state) {
  (void)state;
  snprintf(tmpdir, sizeof(tmpdir), "%s/claudemon-store-XXXXXX",
           getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  if (!mkdtemp(tmpdir)) return -1;
  log_set_level(LOG_ERROR); /* the failure paths log warnings on purpose */
  return 0;
}

static int group_teardown(void **state) {
  (void)state;
  nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  return 0;
}

/* capture runs a command with stdout going to a file and returns its exit code; *out gets
 * what it printed. */
static int capture(int (*fn)(int, char **), int argc, char **argv, char **out) {
  char *path = xasprintf("%s/stdout-%d", tmpdir, ++file_seq);
  fflush(stdout);
  int saved = dup(1);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  assert_true(saved >= 0 && fd >= 0);
  dup2(fd, 1);
  close(fd);
  int code = fn(argc, argv);
  fflush(stdout);
  dup2(saved, 1);
  close(saved);
  size_t len;
  char *text = read_all(path, &len);
  text = xrealloc(text, len + 1);
  text[len] = '\0';
  *out = text;
  unlink(path);
  free(path);
  return code;
}

/* cmd runs a command with the NULL-terminated arguments (copied: commands take char **). */
static int cmd(int (*fn)(int, char **), char **out, ...) {
  char *argv[32];
  int argc = 0;
  va_list ap;
  va_start(ap, out);
  const char *a;
  while ((a = va_arg(ap, const char *)) != NULL && argc < 31)
    argv[argc++] = xstrdup(a);
  va_end(ap);
  argv[argc] = NULL;
  int code = capture(fn, argc, argv, out);
  for (int i = 0; i < argc; i++)
    free(argv[i]);
  return code;
}

/* ---- Schema ----------------------------------------------------------------------------- */

static void test_migrate_from_empty(void **state) {
  (void)state;
  char *path = db_path();
  struct store *s = open_rw(path);
  assert_int_equal(q64(s, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
  assert_int_equal(q64(s, "PRAGMA application_id"), 0x434c4d4e);
  assert_int_equal(q64(s, "PRAGMA foreign_keys"), 1);
  assert_int_equal(q64(s, "PRAGMA synchronous"), 1); /* NORMAL */
  assert_int_equal(q64(s, "SELECT count(*) FROM pragma_journal_mode WHERE journal_mode='wal'"), 1);
  static const char *const tables[] = {
      "keys",      "key_events",       "probes",   "key_transitions", "status_components",
      "incidents", "incident_updates", "verdicts", "alerts",          "rollups"};
  for (size_t i = 0; i < UTIL_ARRAY_LEN(tables); i++) {
    char *sql =
        xasprintf("SELECT count(*) FROM sqlite_master WHERE type='table' AND name='%s'", tables[i]);
    if (q64(s, sql) != 1) fail_msg("table %s missing", tables[i]);
    free(sql);
  }
  /* "When did key X start failing" and "30 days of key X" are index lookups. */
  assert_int_equal(q64(s, "SELECT count(*) FROM sqlite_master WHERE name='key_transitions_key_at'"),
                   1);
  store_free(s);
  /* Opening again runs no migration and keeps the version. */
  s = open_rw(path);
  assert_int_equal(q64(s, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
  store_free(s);
  free(path);
}

static void test_refuse_newer_version(void **state) {
  (void)state;
  char *path = db_path();
  struct store *s = open_rw(path);
  assert_int_equal(store_exec(s, "PRAGMA user_version = 99"), 0);
  store_free(s);
  size_t len_before, len_after;
  char *before = read_all(path, &len_before);
  struct stat sb_before, sb_after;
  assert_int_equal(stat(path, &sb_before), 0);

  char why[512] = "";
  s = (struct store *)1;
  assert_int_equal(store_open(path, NULL, &s, why, sizeof(why)), UTIL_EDBVERSION);
  assert_null(s);
  assert_non_null(strstr(why, "schema version 99"));
  assert_non_null(strstr(why, "newer claudemon"));
  assert_non_null(strstr(why, "upgrade claudemon"));
  why[0] = '\0';
  assert_int_equal(store_open_readonly(path, &s, why, sizeof(why)), UTIL_EDBVERSION);
  assert_non_null(strstr(why, "newer claudemon"));

  char *after = read_all(path, &len_after);
  assert_int_equal(stat(path, &sb_after), 0);
  assert_int_equal(len_before, len_after);
  assert_memory_equal(before, after, len_before);
  assert_true(sb_before.st_mtim.tv_sec == sb_after.st_mtim.tv_sec &&
              sb_before.st_mtim.tv_nsec == sb_after.st_mtim.tv_nsec);
  free(before);
  free(after);
  free(path);
}

static void test_refuse_foreign_database(void **state) {
  (void)state;
  char *path = db_path();
  struct store *s = open_rw(path);
  /* Make it look like someone else's database: no application id, other tables. */
  assert_int_equal(store_exec(s, "PRAGMA application_id = 0; PRAGMA user_version = 0"), 0);
  store_free(s);
  char why[256] = "";
  assert_int_equal(store_open(path, NULL, &s, why, sizeof(why)), UTIL_EDB);
  assert_non_null(strstr(why, "not a claudemon database"));
  free(path);

  /* A missing file for the reader is "not found", not created. */
  path = db_path();
  assert_int_equal(store_open_readonly(path, &s, why, sizeof(why)), UTIL_ENOENT);
  assert_int_equal(access(path, F_OK), -1);
  free(path);
}

/* ---- Writing ---------------------------------------------------------------------------- */

static void test_batch_write(void **state) {
  (void)state;
  char *path = db_path();
  struct store_options opt;
  store_options_init(&opt);
  opt.batch_max = 2000;
  struct store *s = NULL;
  char why[256];
  assert_int_equal(store_open(path, &opt, &s, why, sizeof(why)), 0);
  struct store *reader = open_ro(path);
  struct probe_result r;
  for (int i = 0; i < 1000; i++) {
    char rid[32];
    snprintf(rid, sizeof(rid), "req_%04d", i);
    probe(&r, PROBE_MODELS, CAUSE_OK, T0 + i * 1000, 200, rid, 0.2);
    assert_int_equal(store_enqueue_probe(s, i % 2 ? "prod" : "staging", &r), 0);
  }
  struct evidence ev;
  evidence(&ev, CAUSE_AUTH_INVALID, T0, 401, "authentication_error", "invalid x-api-key", "req_x");
  assert_int_equal(store_enqueue_transition(s, "prod", T0, CAUSE_OK, CAUSE_AUTH_INVALID, &ev), 0);

  /* Enqueueing writes nothing: the loop never touches the disk. */
  assert_int_equal(q64(reader, "SELECT count(*) FROM probes"), 0);
  struct store_stats st;
  store_stats(s, &st);
  assert_int_equal(st.queue_length, 1001);

  flush_ok(s);
  store_stats(s, &st);
  assert_int_equal(st.queue_length, 0);
  assert_int_equal(st.written_total, 1001);
  assert_int_equal(st.flushes_total, 1);
  assert_int_equal(q64(reader, "SELECT count(*) FROM probes"), 1000);
  assert_int_equal(q64(reader, "SELECT count(*) FROM key_transitions"), 1);
  assert_int_equal(q64(reader, "SELECT count(*) FROM keys"), 2);
  /* Fields as stored: NULL for what was absent, microseconds for latencies. */
  assert_int_equal(q64(reader, "SELECT total_us FROM probes WHERE request_id='req_0001'"), 200000);
  assert_int_equal(q64(reader, "SELECT dns_us FROM probes WHERE request_id='req_0001'"), 20000);
  assert_int_equal(q64(reader, "SELECT http_status FROM probes WHERE request_id='req_0001'"), 200);
  assert_int_equal(q64(reader, "SELECT at FROM probes WHERE request_id='req_0001'"), T0 + 1000);
  assert_int_equal(q64(reader, "SELECT count(*) FROM probes WHERE transport IS NULL AND body IS "
                               "NULL AND curl_code IS NULL AND retry_after_s IS NULL AND "
                               "rl_requests_remaining = 49 AND kind = 'models' AND cause = 'ok'"),
                   1000);
  assert_int_equal(q64(reader, "SELECT last_seen FROM keys WHERE name='prod'"), T0 + 999000);
  /* A batch larger than batch_max goes in several flushes, oldest first. */
  store_free(s);
  opt.batch_max = 300;
  assert_int_equal(store_open(path, &opt, &s, why, sizeof(why)), 0);
  for (int i = 0; i < 700; i++) {
    probe(&r, PROBE_MODELS, CAUSE_OK, T0 + DAY_MS + i, 200, "req_b", 0.1);
    assert_int_equal(store_enqueue_probe(s, "prod", &r), 0);
  }
  flush_ok(s);
  store_stats(s, &st);
  assert_int_equal(st.queue_length, 400);
  assert_int_equal(q64(reader, "SELECT max(at) FROM probes"), T0 + DAY_MS + 299);
  flush_ok(s);
  flush_ok(s);
  store_stats(s, &st);
  assert_int_equal(st.queue_length, 0);
  assert_int_equal(q64(reader, "SELECT count(*) FROM probes WHERE request_id='req_b'"), 700);
  store_free(reader);
  store_free(s);
  free(path);
}

static void test_busy_database(void **state) {
  (void)state;
  char *path = db_path();
  struct store *s = open_rw(path);
  struct store *holder = open_rw(path);
  char *logbuf = NULL;
  size_t loglen = 0;
  FILE *logf = open_memstream(&logbuf, &loglen);
  log_set_stream(logf);
  log_set_level(LOG_INFO);

  assert_int_equal(store_exec(holder, "BEGIN IMMEDIATE"), 0);
  struct probe_result r;
  probe(&r, PROBE_MODELS, CAUSE_OK, T0, 200, "req_busy", 0.1);
  assert_int_equal(store_enqueue_probe(s, "prod", &r), 0);
  struct evidence ev;
  evidence(&ev, CAUSE_QUOTA, T0, 400, "invalid_request_error", "credit balance is too low", "r1");
  assert_int_equal(store_enqueue_transition(s, "prod", T0, CAUSE_OK, CAUSE_QUOTA, &ev), 0);

  int64_t t0 = util_mono_ms();
  assert_int_equal(store_flush(s), UTIL_EDBBUSY);
  assert_int_equal(store_flush(s), UTIL_EDBBUSY);
  /* The busy timeout is short: two failed flushes must not stall the loop for long. */
  assert_true(util_mono_ms() - t0 < 1000);
  struct store_stats st;
  store_stats(s, &st);
  assert_int_equal(st.errors_total, 2);
  assert_int_equal(st.queue_length, 2);
  assert_int_equal(st.last_error, UTIL_EDBBUSY);

  assert_int_equal(store_exec(holder, "COMMIT"), 0);
  flush_ok(s);
  store_stats(s, &st);
  assert_int_equal(st.queue_length, 0);
  assert_int_equal(st.last_error, 0);
  assert_int_equal(q64(holder, "SELECT count(*) FROM probes WHERE request_id='req_busy'"), 1);
  assert_int_equal(q64(holder, "SELECT count(*) FROM key_transitions WHERE to_cause='quota'"), 1);

  /* Two failures, one complaint (backoff), then the recovery once. */
  fflush(logf);
  size_t complaints = 0;
  for (const char *p = logbuf; (p = strstr(p, "database write failed")) != NULL; p++)
    complaints++;
  assert_int_equal(complaints, 1);
  assert_non_null(strstr(logbuf, "database writes resumed"));
  log_set_stream(NULL);
  log_set_level(LOG_ERROR);
  fclose(logf);
  free(logbuf);
  store_free(holder);
  store_free(s);
  free(path);
}

static void test_readonly_file(void **state) {
  (void)state;
  char *path = db_path();
  struct store *s = open_rw(path);
  store_free(s);
  if (!set_readonly(path, true)) {
    free(path);
    skip();
  }
  s = open_rw(path); /* a current, read-only file opens: the daemon keeps probing */
  struct probe_result r;
  probe(&r, PROBE_MODELS, CAUSE_OK, T0, 200, "req_ro", 0.1);
  assert_int_equal(store_enqueue_probe(s, "prod", &r), 0);
  int err = store_flush(s);
  assert_true(err == UTIL_EDB || err == UTIL_EIO);
  err = store_flush(s);
  assert_true(err == UTIL_EDB || err == UTIL_EIO);
  struct store_stats st;
  store_stats(s, &st);
  assert_int_equal(st.errors_total, 2);
  assert_int_equal(st.queue_length, 1);
  assert_true(set_readonly(path, false));
  flush_ok(s);
  store_stats(s, &st);
  assert_int_equal(st.queue_length, 0);
  assert_int_equal(q64(s, "SELECT count(*) FROM probes WHERE request_id='req_ro'"), 1);
  store_free(s);
  free(path);
}

static void test_full_database(void **state) {
  (void)state;
  char *path = db_path();
  struct store_options opt;
  store_options_init(&opt);
  opt.batch_max = 100000;
  struct store *s = NULL;
  char why[256];
  assert_int_equal(store_open(path, &opt, &s, why, sizeof(why)), 0);
  /* A disk that fills up: the database may not grow past its current size plus a little. */
  int64_t pages = q64(s, "PRAGMA page_count");
  char *sql = xasprintf("PRAGMA max_page_count = %lld", (long long)pages + 8);
  assert_int_equal(store_exec(s, sql), 0);
  free(sql);
  struct probe_result r;
  struct evidence ev;
  evidence(&ev, CAUSE_AUTH_INVALID, T0, 401, "authentication_error", "invalid x-api-key", "r");
  assert_int_equal(store_enqueue_transition(s, "prod", T0, CAUSE_OK, CAUSE_AUTH_INVALID, &ev), 0);
  for (int i = 0; i < 3000; i++) {
    probe(&r, PROBE_MODELS, CAUSE_OK, T0 + i, 200, "req_full", 0.1);
    assert_int_equal(store_enqueue_probe(s, "prod", &r), 0);
  }
  assert_int_equal(store_flush(s), UTIL_EDB);
  struct store_stats st;
  store_stats(s, &st);
  assert_int_equal(st.queue_length, 3001);
  assert_int_equal(st.errors_total, 1);
  /* Nothing of the failed batch is in the file: all or nothing. */
  assert_int_equal(q64(s, "SELECT count(*) FROM probes"), 0);
  assert_int_equal(q64(s, "SELECT count(*) FROM key_transitions"), 0);
  /* Space again: the same rows go in. */
  assert_int_equal(store_exec(s, "PRAGMA max_page_count = 1073741823"), 0);
  flush_ok(s);
  assert_int_equal(q64(s, "SELECT count(*) FROM probes"), 3000);
  assert_int_equal(q64(s, "SELECT count(*) FROM key_transitions"), 1);
  store_free(s);
  free(path);
}

static void test_vanished_file(void **state) {
  (void)state;
  char *path = db_path();
  struct store *s = open_rw(path);
  struct probe_result r;
  probe(&r, PROBE_MODELS, CAUSE_OK, T0, 200, "req_1", 0.1);
  assert_int_equal(store_enqueue_probe(s, "prod", &r), 0);
  flush_ok(s);
  char *wal = xasprintf("%s-wal", path), *shm = xasprintf("%s-shm", path);
  assert_int_equal(unlink(path), 0);
  unlink(wal);
  unlink(shm);
  probe(&r, PROBE_MODELS, CAUSE_OK, T0 + 1, 200, "req_2", 0.1);
  assert_int_equal(store_enqueue_probe(s, "prod", &r), 0);
  assert_int_equal(store_flush(s), UTIL_EIO);
  struct store_stats st;
  store_stats(s, &st);
  assert_int_equal(st.queue_length, 1);
  assert_int_equal(st.errors_total, 1);
  /* The next flush writes into a new file at the same path. */
  flush_ok(s);
  struct store *reader = open_ro(path);
  assert_int_equal(q64(reader, "SELECT count(*) FROM probes"), 1);
  assert_int_equal(q64(reader, "SELECT count(*) FROM probes WHERE request_id='req_2'"), 1);
  store_free(reader);
  store_free(s);
  free(wal);
  free(shm);
  free(path);
}

static void test_queue_bound(void **state) {
  (void)state;
  char *path = db_path();
  struct store_options opt;
  store_options_init(&opt);
  opt.queue_max = 10;
  struct store *s = NULL;
  char why[256];
  assert_int_equal(store_open(path, &opt, &s, why, sizeof(why)), 0);
  struct probe_result r;
  struct evidence ev;
  evidence(&ev, CAUSE_AUTH_INVALID, T0, 401, "authentication_error", "invalid x-api-key", "r");
  for (int i = 0; i < 3; i++)
    assert_int_equal(store_enqueue_transition(s, "prod", T0 + i, CAUSE_OK, CAUSE_AUTH_INVALID, &ev),
                     0);
  for (int i = 0; i < 20; i++) {
    char rid[16];
    snprintf(rid, sizeof(rid), "p%02d", i);
    probe(&r, PROBE_MODELS, CAUSE_OK, T0 + i, 200, rid, 0.1);
    assert_int_equal(store_enqueue_probe(s, "prod", &r), 0);
  }
  /* A transition arriving at a full queue pushes out a probe, never another transition. */
  assert_int_equal(store_enqueue_transition(s, "prod", T0 + 50, CAUSE_AUTH_INVALID, CAUSE_OK, NULL),
                   0);
  struct store_stats st;
  store_stats(s, &st);
  assert_int_equal(st.queue_length, 10);
  assert_int_equal(st.dropped_total, 14);
  flush_ok(s);
  assert_int_equal(q64(s, "SELECT count(*) FROM key_transitions"), 4);
  assert_int_equal(q64(s, "SELECT count(*) FROM probes"), 6);
  /* The newest probes survived. */
  assert_int_equal(q64(s, "SELECT count(*) FROM probes WHERE request_id >= 'p14'"), 6);

  /* A queue full of rows that are never dropped takes more of them, and refuses probes. */
  for (int i = 0; i < 12; i++)
    assert_int_equal(store_enqueue_transition(s, "prod", T0 + 100 + i, CAUSE_OK, CAUSE_QUOTA, &ev),
                     0);
  probe(&r, PROBE_MODELS, CAUSE_OK, T0 + 200, 200, "late", 0.1);
  assert_int_equal(store_enqueue_probe(s, "prod", &r), UTIL_EFULL);
  store_stats(s, &st);
  assert_int_equal(st.queue_length, 12);
  assert_int_equal(st.dropped_total, 15);
  flush_ok(s);
  assert_int_equal(q64(s, "SELECT count(*) FROM key_transitions"), 16);
  store_free(s);
  free(path);
}

static void test_invalid_arguments(void **state) {
  (void)state;
  char *path = db_path();
  struct store *s = open_rw(path);
  struct probe_result r;
  probe(&r, PROBE_MODELS, CAUSE_OK, T0, 200, "x", 0.1);
  assert_int_equal(store_enqueue_probe(s, "", &r), UTIL_EINVAL);
  assert_int_equal(store_enqueue_probe(s, NULL, &r), UTIL_EINVAL);
  assert_int_equal(store_key_seen(s, "prod", fake_key, "hint", T0), UTIL_EINVAL);
  assert_int_equal(store_key_seen(s, "prod", "abc", "hint", T0), UTIL_EINVAL);
  store_free(s);
  struct store *ro = open_ro(path);
  assert_int_equal(store_enqueue_probe(ro, "prod", &r), UTIL_EINVAL);
  assert_int_equal(store_flush(ro), UTIL_EINVAL);
  store_free(ro);
  store_free(NULL);
  free(path);
}

struct checkpointer {
  const char *path;
  volatile bool stop;
  int runs, errors, busy, last_error;
  int64_t wal_pages;
};

static void *checkpoint_thread(void *arg) {
  struct checkpointer *c = arg;
  while (!c->stop || c->runs == 0) {
    int64_t pages = -1;
    int rc = store_checkpoint(c->path, &pages);
    if (rc == UTIL_EDBBUSY) /* another checkpoint or a lock in the way: the daemon retries */
      c->busy++;
    else if (rc != 0)
      c->errors++, c->last_error = rc;
    else if (pages > c->wal_pages)
      c->wal_pages = pages;
    c->runs++;
  }
  return NULL;
}

static void test_checkpoint_off_the_loop(void **state) {
  (void)state;
  char *path = db_path();
  struct store_options opt;
  store_options_init(&opt);
  opt.checkpoint_pages = 0; /* commits never checkpoint: a worker does */
  struct store *s = NULL;
  char why[256];
  assert_int_equal(store_open(path, &opt, &s, why, sizeof(why)), 0);
  struct stat sb;
  assert_int_equal(stat(path, &sb), 0);
  off_t empty_size = sb.st_size; /* the schema only: rows go to the WAL */
  struct checkpointer c = {.path = path, .wal_pages = -1};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, checkpoint_thread, &c), 0);
  struct probe_result r;
  for (int b = 0; b < 50; b++) {
    for (int i = 0; i < 100; i++) {
      probe(&r, PROBE_MODELS, CAUSE_OK, T0 + b * 1000 + i, 200, "req_cp", 0.1);
      assert_int_equal(store_enqueue_probe(s, i % 2 ? "a" : "b", &r), 0);
    }
    flush_ok(s); /* never refused by the checkpointer */
  }
  c.stop = true;
  assert_int_equal(pthread_join(th, NULL), 0);
  if (c.errors) fail_msg("checkpoint failed %d times: %s", c.errors, util_strerror(c.last_error));
  assert_true(c.runs > c.busy); /* at least one checkpoint went through */
  assert_true(c.wal_pages > 0);
  int64_t pages = -1;
  assert_int_equal(store_checkpoint(path, &pages), 0);
  assert_true(pages > 0);
  assert_int_equal(stat(path, &sb), 0);
  assert_true(sb.st_size > empty_size + 100 * 1024); /* the rows reached the database file */
  assert_int_equal(q64(s, "SELECT count(*) FROM probes"), 5000);
  assert_int_equal(q64(s, "PRAGMA wal_autocheckpoint"), 0);
  store_free(s);
  assert_int_equal(store_checkpoint("/nonexistent/claudemon.db", NULL), UTIL_EIO);
  struct store *ro = open_ro(path);
  assert_int_equal(q64(ro, "SELECT sum(n_ok) FROM rollups_recent"), 5000);
  assert_int_equal(
      q64(ro, "SELECT count(*) FROM pragma_integrity_check WHERE integrity_check = 'ok'"), 1);
  store_free(ro);
  free(path);
}

/* ---- Retention and roll-ups ------------------------------------------------------------- */

static void test_retention(void **state) {
  (void)state;
  char *path = db_path();
  struct store_options opt;
  store_options_init(&opt);
  opt.maintain_max = 7;
  struct store *s = NULL;
  char why[256];
  assert_int_equal(store_open(path, &opt, &s, why, sizeof(why)), 0);
  int64_t now = T0 + 30 * DAY_MS;
  struct probe_result r;
  /* 3 keys: 10 old probes each (20 days ago), 5 recent ones (1 day ago). */
  static const char *const keys[] = {"a", "b", "c"};
  for (size_t k = 0; k < 3; k++) {
    for (int i = 0; i < 10; i++) {
      probe(&r, PROBE_MODELS, CAUSE_OK, now - 20 * DAY_MS + i * MIN_MS, 200, "old", 0.1);
      assert_int_equal(store_enqueue_probe(s, keys[k], &r), 0);
    }
    for (int i = 0; i < 5; i++) {
      probe(&r, PROBE_MODELS, CAUSE_OK, now - DAY_MS + i * MIN_MS, 200, "new", 0.1);
      assert_int_equal(store_enqueue_probe(s, keys[k], &r), 0);
    }
  }
  struct evidence ev;
  evidence(&ev, CAUSE_AUTH_INVALID, now - 300 * DAY_MS, 401, "authentication_error", "x", "r");
  assert_int_equal(
      store_enqueue_transition(s, "a", now - 300 * DAY_MS, CAUSE_OK, CAUSE_AUTH_INVALID, &ev), 0);
  flush_ok(s);
  assert_int_equal(q64(s, "SELECT count(*) FROM rollups_recent"), 6);

  struct store_retention ret = {.probes_ms = 14 * DAY_MS, .rollups_ms = 400 * DAY_MS};
  bool more = true;
  int calls = 0;
  int64_t before = q64(s, "SELECT count(*) FROM probes");
  while (more) {
    assert_int_equal(store_maintain(s, now, &ret, &more), 0);
    int64_t after = q64(s, "SELECT count(*) FROM probes");
    /* Small batches: never more than maintain_max rows per call. */
    assert_true(before - after <= 7);
    before = after;
    assert_true(++calls < 50);
  }
  assert_true(calls >= 5); /* 30 old rows at 7 per call */
  assert_int_equal(q64(s, "SELECT count(*) FROM probes"), 15);
  assert_int_equal(q64(s, "SELECT count(*) FROM probes WHERE request_id='old'"), 0);
  /* Roll-ups (merged into the long table meanwhile) and transitions outlive the raw rows. */
  assert_int_equal(q64(s, "SELECT count(*) FROM rollups"), 6);
  assert_int_equal(q64(s, "SELECT count(*) FROM rollups_recent"), 0);
  assert_int_equal(q64(s, "SELECT sum(n_ok) FROM rollups"), 45);
  assert_int_equal(q64(s, "SELECT count(*) FROM key_transitions"), 1);

  /* Roll-ups go too after their own (longer) retention. */
  ret.rollups_ms = 10 * DAY_MS;
  more = true;
  for (calls = 0; more && calls < 50; calls++)
    assert_int_equal(store_maintain(s, now, &ret, &more), 0);
  assert_int_equal(q64(s, "SELECT count(*) FROM rollups"), 3);
  assert_int_equal(q64(s, "SELECT count(*) FROM key_transitions"), 1);
  store_free(s);
  free(path);
}

static void test_rollups(void **state) {
  (void)state;
  char *path = db_path();
  struct store *s = open_rw(path);
  struct probe_result r;
  int64_t h = T0 + 2 * HOUR_MS; /* 08:00 */
  probe(&r, PROBE_MODELS, CAUSE_OK, h + 1000, 200, "a", 0.05);
  store_enqueue_probe(s, "prod", &r);
  probe(&r, PROBE_MODELS, CAUSE_OK, h + 2000, 200, "b", 0.3);
  store_enqueue_probe(s, "prod", &r);
  probe(&r, PROBE_MODELS, CAUSE_AUTH_INVALID, h + 3000, 401, "c", 12.0);
  store_enqueue_probe(s, "prod", &r);
  probe(&r, PROBE_MESSAGES, CAUSE_OK, h + 4000, 200, "d", 0.9);
  r.input_tokens = 8;
  r.output_tokens = 1;
  store_enqueue_probe(s, "prod", &r);
  probe(&r, PROBE_MODELS, CAUSE_NETWORK, h + HOUR_MS + 5, 0, "", 0);
  r.transport = TRANSPORT_DNS;
  r.curl_code = 6;
  util_copy(r.curl_error, sizeof(r.curl_error), "Could not resolve host: api.anthropic.com");
  store_enqueue_probe(s, "prod", &r);
  flush_ok(s);
  /* A later flush adds to the same hour's row. */
  probe(&r, PROBE_MODELS, CAUSE_OK, h + 59 * MIN_MS, 200, "e", 3.0);
  store_enqueue_probe(s, "prod", &r);
  flush_ok(s);

  /* The hours being written live in rollups_recent until store_maintain merges them. */
  assert_int_equal(q64(s, "SELECT count(*) FROM rollups_recent"), 3);
  assert_int_equal(q64(s, "SELECT count(*) FROM rollups"), 0);
  const char *w = "FROM rollups_recent WHERE kind='models' AND hour=1795852800000";
  char *sql;
#define ROLLUP_EQ(col, v)                                                                          \
  sql = xasprintf("SELECT " col " %s", w);                                                         \
  assert_int_equal(q64(s, sql), v);                                                                \
  free(sql)
  ROLLUP_EQ("n_ok", 3);
  ROLLUP_EQ("n_auth_invalid", 1);
  ROLLUP_EQ("n_network", 0);
  ROLLUP_EQ("latency_n", 4);
  ROLLUP_EQ("latency_sum_us", 50000 + 300000 + 12000000 + 3000000);
  ROLLUP_EQ("latency_max_us", 12000000);
  ROLLUP_EQ("lat_le_100ms", 1);
  ROLLUP_EQ("lat_le_500ms", 1);
  ROLLUP_EQ("lat_le_5s", 1);
  ROLLUP_EQ("lat_gt_10s", 1);
  ROLLUP_EQ("lat_le_1s", 0);
#undef ROLLUP_EQ
  assert_int_equal(q64(s, "SELECT n_network FROM rollups_recent WHERE hour=1795856400000"), 1);
  assert_int_equal(q64(s, "SELECT latency_n FROM rollups_recent WHERE hour=1795856400000"), 0);
  assert_int_equal(q64(s, "SELECT tokens_in FROM rollups_recent WHERE kind='messages'"), 8);
  assert_int_equal(q64(s, "SELECT tokens_out FROM rollups_recent WHERE kind='messages'"), 1);

  /* At 09:30 nothing is finished yet (08:00 is the previous hour); at 10:30 08:00 is. */
  struct store_retention keep = {0, 0};
  bool more = true;
  assert_int_equal(store_maintain(s, h + 90 * MIN_MS, &keep, &more), 0);
  assert_false(more);
  assert_int_equal(q64(s, "SELECT count(*) FROM rollups"), 0);
  assert_int_equal(store_maintain(s, h + 150 * MIN_MS, &keep, &more), 0);
  assert_int_equal(q64(s, "SELECT count(*) FROM rollups"), 2);
  assert_int_equal(q64(s, "SELECT count(*) FROM rollups_recent"), 1); /* 09:00 */
  assert_int_equal(q64(s, "SELECT latency_sum_us FROM rollups WHERE kind='models'"),
                   50000 + 300000 + 12000000 + 3000000);
  /* A late probe of 08:00 (a backlog flushed after an outage) lands in rollups_recent: the
   * reader adds both tables up, and the next merge adds it to the merged row. */
  probe(&r, PROBE_MODELS, CAUSE_RATE_LIMITED, h + 30 * MIN_MS, 429, "late", 20.0);
  store_enqueue_probe(s, "prod", &r);
  flush_ok(s);
  assert_int_equal(q64(s, "SELECT count(*) FROM probes WHERE transport='dns' AND curl_code=6 AND "
                          "curl_error LIKE 'Could not resolve%' AND http_status IS NULL"),
                   1);

  struct store_query q = {.key = "prod", .since_ms = h + 30 * MIN_MS, .until_ms = h + 2 * HOUR_MS};
  cJSON *doc = NULL;
  assert_int_equal(store_key_rollups(s, &q, &doc), 0);
  const cJSON *hours = jarr(doc, "hours");
  assert_int_equal(cJSON_GetArraySize(hours), 3);
  const cJSON *h0 = cJSON_GetArrayItem(hours, 1); /* 08:00 models (after messages) */
  assert_string_equal(jstr(h0, "hour"), "2026-11-28T08:00:00Z");
  assert_string_equal(jstr(h0, "probe"), "models");
  assert_int_equal((int)jnum(h0, "probes"), 5);
  const cJSON *causes = cJSON_GetObjectItemCaseSensitive(h0, "causes");
  assert_int_equal((int)jnum(causes, "ok"), 3);
  assert_int_equal((int)jnum(causes, "auth_invalid"), 1);
  assert_int_equal((int)jnum(causes, "rate_limited"), 1);
  assert_null(cJSON_GetObjectItemCaseSensitive(causes, "network"));
  assert_true(jnum(h0, "latency_max_seconds") == 20.0);
  assert_int_equal(cJSON_GetArraySize(jarr(h0, "latency_buckets")), 8);
  const cJSON *h1 = cJSON_GetArrayItem(hours, 2);
  assert_true(jnull(h1, "latency_avg_seconds"));
  cJSON_Delete(doc);
  assert_int_equal(store_maintain(s, h + 150 * MIN_MS, &keep, &more), 0);
  assert_int_equal(q64(s, "SELECT count(*) FROM rollups"), 2);
  assert_int_equal(q64(s, "SELECT n_rate_limited FROM rollups WHERE kind='models'"), 1);
  assert_int_equal(q64(s, "SELECT latency_max_us FROM rollups WHERE kind='models'"), 20000000);
  assert_int_equal(q64(s, "SELECT n_ok FROM rollups WHERE kind='models'"), 3);
  q.key = "nobody";
  assert_int_equal(store_key_rollups(s, &q, &doc), UTIL_ENOENT);
  store_free(s);
  free(path);
}

/* ---- Reading ---------------------------------------------------------------------------- */

/* fill_history writes a small, known past: prod fails at 05:41:07 and recovers at 06:30,
 * staging fails at 05:50 (still failing), dev fails at 05:00 (still failing), an incident
 * published at 05:55 (we declared at 05:51) resolved at 07:00, a maintenance. */
static void fill_history(struct store *s) {
  struct evidence ev;
  int64_t t_prod = T0 - 18 * MIN_MS - 53000; /* 05:41:07 */
  evidence(&ev, CAUSE_AUTH_INVALID, t_prod, 401, "authentication_error", "invalid x-api-key",
           "req_011CProd");
  assert_int_equal(store_enqueue_transition(s, "prod", t_prod, CAUSE_OK, CAUSE_AUTH_INVALID, &ev),
                   0);
  evidence(&ev, CAUSE_OK, T0 + 30 * MIN_MS, 200, "", "", "req_011CBack");
  assert_int_equal(
      store_enqueue_transition(s, "prod", T0 + 30 * MIN_MS, CAUSE_AUTH_INVALID, CAUSE_OK, &ev), 0);
  evidence(&ev, CAUSE_OVERLOADED, T0 - 10 * MIN_MS, 529, "overloaded_error", "Overloaded",
           "req_011CStag");
  assert_int_equal(
      store_enqueue_transition(s, "staging", T0 - 10 * MIN_MS, CAUSE_OK, CAUSE_OVERLOADED, &ev), 0);
  evidence(&ev, CAUSE_QUOTA, T0 - HOUR_MS, 400, "invalid_request_error",
           "Your credit balance is too low to access the Anthropic API.", "req_011CDev");
  assert_int_equal(
      store_enqueue_transition(s, "dev", T0 - HOUR_MS, CAUSE_UNKNOWN, CAUSE_QUOTA, &ev), 0);

  const char *plat_keys[] = {"staging", "prod"};
  struct store_verdict v = {.at_ms = T0 - 9 * MIN_MS,
                            .scope = SCOPE_PLATFORM,
                            .cause = CAUSE_OVERLOADED,
                            .keys = plat_keys,
                            .n_keys = 2,
                            .summary = "2 of 3 keys overloaded"};
  assert_int_equal(store_enqueue_verdict(s, &v), 0);
  struct store_verdict v2 = {.at_ms = T0 + 40 * MIN_MS,
                             .scope = SCOPE_LOCAL,
                             .cause = CAUSE_QUOTA,
                             .summary = "dev out of credit"};
  const char *dev[] = {"dev"};
  v2.keys = dev;
  v2.n_keys = 1;
  assert_int_equal(store_enqueue_verdict(s, &v2), 0);

  struct status_snapshot snap;
  status_snapshot_init(&snap);
  snap.reachable = true;
  snap.fetched_ms = T0 - 4 * MIN_MS;
  struct status_component comps[2];
  memset(comps, 0, sizeof(comps));
  util_copy(comps[0].id, sizeof(comps[0].id), "k8w3r06qmzrp");
  util_copy(comps[0].name, sizeof(comps[0].name), "Claude API (api.anthropic.com)");
  comps[0].status = COMPONENT_PARTIAL_OUTAGE;
  util_copy(comps[1].id, sizeof(comps[1].id), "yyzkbfz2thpt");
  util_copy(comps[1].name, sizeof(comps[1].name), "claude.ai");
  comps[1].status = COMPONENT_OPERATIONAL;
  snap.components = comps;
  snap.n_components = 2;
  struct status_incident inc[2];
  memset(inc, 0, sizeof(inc));
  char affected[1][MODEL_SP_ID_MAX] = {"k8w3r06qmzrp"};
  util_copy(inc[0].id, sizeof(inc[0].id), "inc123");
  util_copy(inc[0].name, sizeof(inc[0].name), "Elevated errors on Claude API");
  util_copy(inc[0].status, sizeof(inc[0].status), "investigating");
  inc[0].impact = INDICATOR_MAJOR;
  util_copy(inc[0].shortlink, sizeof(inc[0].shortlink), "https://stspg.io/abc");
  inc[0].created_ms = T0 - 5 * MIN_MS;
  inc[0].updated_ms = T0 - 5 * MIN_MS;
  inc[0].started_ms = T0 - 5 * MIN_MS;
  inc[0].scheduled_for_ms = inc[0].scheduled_until_ms = -1;
  util_copy(inc[0].latest_update, sizeof(inc[0].latest_update), "We are investigating.");
  inc[0].component_ids = affected;
  inc[0].n_components = 1;
  util_copy(inc[1].id, sizeof(inc[1].id), "mnt456");
  util_copy(inc[1].name, sizeof(inc[1].name), "Database maintenance");
  util_copy(inc[1].status, sizeof(inc[1].status), "scheduled");
  inc[1].impact = INDICATOR_MAINTENANCE;
  inc[1].created_ms = T0 - 2 * DAY_MS;
  inc[1].updated_ms = T0 - 2 * DAY_MS;
  inc[1].started_ms = -1;
  inc[1].scheduled_for_ms = T0 + DAY_MS;
  inc[1].scheduled_until_ms = T0 + DAY_MS + HOUR_MS;
  snap.incidents = &inc[0];
  snap.n_incidents = 1;
  snap.maintenances = &inc[1];
  snap.n_maintenances = 1;
  assert_int_equal(store_enqueue_status(s, &snap), 0);
  /* The same snapshot again records nothing new. */
  snap.fetched_ms = T0 - 3 * MIN_MS;
  struct store_stats st;
  store_stats(s, &st);
  size_t queued = st.queue_length;
  assert_int_equal(store_enqueue_status(s, &snap), 0);
  store_stats(s, &st);
  assert_int_equal(st.queue_length, queued);
  /* An update, then the page recovers and the incident leaves the list at 07:00. */
  snap.fetched_ms = T0 + 20 * MIN_MS;
  util_copy(inc[0].status, sizeof(inc[0].status), "monitoring");
  inc[0].updated_ms = T0 + 20 * MIN_MS;
  util_copy(inc[0].latest_update, sizeof(inc[0].latest_update), "A fix has been implemented.");
  comps[0].status = COMPONENT_OPERATIONAL;
  assert_int_equal(store_enqueue_status(s, &snap), 0);
  snap.fetched_ms = T0 + HOUR_MS;
  snap.n_incidents = 0;
  assert_int_equal(store_enqueue_status(s, &snap), 0);
  /* Unreachable: changes nothing. */
  snap.reachable = false;
  snap.n_maintenances = 0;
  assert_int_equal(store_enqueue_status(s, &snap), 0);
  flush_ok(s);
}

static void test_history_json(void **state) {
  (void)state;
  char *path = db_path();
  struct store *w = open_rw(path);
  fill_history(w);
  assert_int_equal(q64(w, "SELECT count(*) FROM status_components"), 3);
  assert_int_equal(q64(w, "SELECT count(*) FROM incident_updates"), 2);
  struct store *s = open_ro(path);

  struct store_query q = {.key = NULL, .since_ms = -1, .until_ms = -1};
  cJSON *doc = NULL;
  assert_int_equal(store_history(s, &q, &doc), 0);
  const cJSON *keys = jarr(doc, "keys");
  assert_int_equal(cJSON_GetArraySize(keys), 3);
  assert_string_equal(jstr(cJSON_GetArrayItem(keys, 0), "key"), "dev");
  const cJSON *prod = cJSON_GetArrayItem(keys, 1);
  assert_string_equal(jstr(prod, "key"), "prod");
  const cJSON *tr = jarr(prod, "transitions");
  assert_int_equal(cJSON_GetArraySize(tr), 2);
  const cJSON *t0 = cJSON_GetArrayItem(tr, 0);
  assert_string_equal(jstr(t0, "at"), "2026-11-28T05:41:07Z");
  assert_string_equal(jstr(t0, "from"), "ok");
  assert_string_equal(jstr(t0, "to"), "auth_invalid");
  assert_string_equal(jstr(t0, "cause"), "auth_invalid");
  assert_string_equal(jstr(t0, "probe"), "models");
  assert_int_equal((int)jnum(t0, "http_status"), 401);
  assert_string_equal(jstr(t0, "error_type"), "authentication_error");
  assert_string_equal(jstr(t0, "error_message"), "invalid x-api-key");
  assert_string_equal(jstr(t0, "request_id"), "req_011CProd");
  assert_true(jnull(t0, "error_code"));
  const cJSON *t1 = cJSON_GetArrayItem(tr, 1);
  assert_string_equal(jstr(t1, "at"), "2026-11-28T06:30:00Z");
  assert_string_equal(jstr(t1, "to"), "ok");
  assert_true(jnull(t1, "error_type"));

  const cJSON *incs = jarr(doc, "incidents");
  assert_int_equal(cJSON_GetArraySize(incs), 2);
  const cJSON *mnt = cJSON_GetArrayItem(incs, 0); /* created two days before */
  assert_string_equal(jstr(mnt, "id"), "mnt456");
  assert_string_equal(jstr(mnt, "kind"), "maintenance");
  assert_string_equal(jstr(mnt, "status"), "scheduled");
  assert_true(jnull(mnt, "resolved_at"));
  assert_true(jnull(mnt, "lead_seconds"));
  const cJSON *inc = cJSON_GetArrayItem(incs, 1);
  assert_string_equal(jstr(inc, "id"), "inc123");
  assert_string_equal(jstr(inc, "kind"), "incident");
  assert_string_equal(jstr(inc, "name"), "Elevated errors on Claude API");
  assert_string_equal(jstr(inc, "impact"), "major");
  assert_string_equal(jstr(inc, "status"), "resolved");
  assert_string_equal(jstr(inc, "shortlink"), "https://stspg.io/abc");
  assert_string_equal(jstr(inc, "created_at"), "2026-11-28T05:55:00Z");
  assert_string_equal(jstr(inc, "updated_at"), "2026-11-28T06:20:00Z");
  assert_string_equal(jstr(inc, "resolved_at"), "2026-11-28T07:00:00Z");
  assert_string_equal(cJSON_GetArrayItem(jarr(inc, "components"), 0)->valuestring, "k8w3r06qmzrp");
  assert_string_equal(jstr(inc, "declared_at"), "2026-11-28T05:51:00Z");
  assert_true(jnum(inc, "lead_seconds") == 240.0);
  assert_null(cJSON_GetObjectItemCaseSensitive(inc, "updates")); /* only in `incidents` */

  const cJSON *pv = jarr(doc, "platform_verdicts");
  assert_int_equal(cJSON_GetArraySize(pv), 1);
  const cJSON *v = cJSON_GetArrayItem(pv, 0);
  assert_string_equal(jstr(v, "at"), "2026-11-28T05:51:00Z");
  assert_string_equal(jstr(v, "ended_at"), "2026-11-28T06:40:00Z");
  assert_string_equal(jstr(v, "cause"), "overloaded");
  assert_string_equal(cJSON_GetArrayItem(jarr(v, "keys"), 0)->valuestring, "staging");
  assert_string_equal(jstr(v, "summary"), "2 of 3 keys overloaded");
  assert_string_equal(jstr(v, "incident_id"), "inc123");
  assert_true(jnum(v, "lead_seconds") == 240.0);
  cJSON_Delete(doc);

  /* One key, a range: only what falls in it. */
  q.key = "prod";
  q.since_ms = T0;
  q.until_ms = T0 + 2 * HOUR_MS;
  assert_int_equal(store_history(s, &q, &doc), 0);
  keys = jarr(doc, "keys");
  assert_int_equal(cJSON_GetArraySize(keys), 1);
  tr = jarr(cJSON_GetArrayItem(keys, 0), "transitions");
  assert_int_equal(cJSON_GetArraySize(tr), 1);
  assert_string_equal(jstr(cJSON_GetArrayItem(tr, 0), "to"), "ok");
  /* inc123 overlaps, and the maintenance announced two days before is still unresolved. */
  assert_int_equal(cJSON_GetArraySize(jarr(doc, "incidents")), 2);
  cJSON_Delete(doc);

  /* A range with nothing: the key asked for still appears, empty. */
  q.since_ms = T0 + 10 * DAY_MS;
  q.until_ms = -1;
  assert_int_equal(store_history(s, &q, &doc), 0);
  keys = jarr(doc, "keys");
  assert_int_equal(cJSON_GetArraySize(keys), 1);
  assert_int_equal(cJSON_GetArraySize(jarr(cJSON_GetArrayItem(keys, 0), "transitions")), 0);
  /* Only what is still unresolved reaches into the future. */
  assert_int_equal(cJSON_GetArraySize(jarr(doc, "incidents")), 1);
  assert_int_equal(cJSON_GetArraySize(jarr(doc, "platform_verdicts")), 0); /* ended at 06:40 */
  cJSON_Delete(doc);
  q.key = "nobody";
  assert_int_equal(store_history(s, &q, &doc), UTIL_ENOENT);
  assert_null(doc);
  store_free(s);
  store_free(w);
  free(path);
}

static void test_failing(void **state) {
  (void)state;
  char *path = db_path();
  struct store *w = open_rw(path);
  fill_history(w);
  struct probe_result r;
  probe(&r, PROBE_MODELS, CAUSE_QUOTA, T0 + 50 * MIN_MS, 400, "req_last", 0.2);
  store_enqueue_probe(w, "dev", &r);
  flush_ok(w);
  struct store *s = open_ro(path);
  struct store_query q = {.since_ms = -1, .until_ms = -1};
  cJSON *doc = NULL;
  assert_int_equal(store_failing(s, &q, &doc), 0);
  const cJSON *keys = jarr(doc, "keys");
  /* prod recovered; dev and staging fail, the earliest failure first. */
  assert_int_equal(cJSON_GetArraySize(keys), 2);
  const cJSON *dev = cJSON_GetArrayItem(keys, 0);
  assert_string_equal(jstr(dev, "key"), "dev");
  assert_string_equal(jstr(dev, "cause"), "quota");
  assert_string_equal(jstr(dev, "failing_since"), "2026-11-28T05:00:00Z");
  assert_string_equal(jstr(dev, "last_probe"), "2026-11-28T06:50:00Z");
  const cJSON *ev = cJSON_GetArrayItem(jarr(dev, "transitions"), 0);
  assert_string_equal(jstr(ev, "from"), "unknown");
  assert_string_equal(jstr(ev, "to"), "quota");
  assert_int_equal((int)jnum(ev, "http_status"), 400);
  assert_string_equal(jstr(ev, "error_message"),
                      "Your credit balance is too low to access the Anthropic API.");
  assert_string_equal(jstr(ev, "request_id"), "req_011CDev");
  const cJSON *stag = cJSON_GetArrayItem(keys, 1);
  assert_string_equal(jstr(stag, "key"), "staging");
  assert_string_equal(jstr(stag, "failing_since"), "2026-11-28T05:50:00Z");
  assert_true(jnull(stag, "last_probe"));
  /* Only the maintenance is unresolved on the page; no platform verdict is in force (the
   * local one is). */
  assert_int_equal(cJSON_GetArraySize(jarr(doc, "incidents")), 1);
  assert_string_equal(jstr(cJSON_GetArrayItem(jarr(doc, "incidents"), 0), "id"), "mnt456");
  assert_int_equal(cJSON_GetArraySize(jarr(doc, "platform_verdicts")), 0);
  cJSON_Delete(doc);
  q.key = "prod";
  assert_int_equal(store_failing(s, &q, &doc), 0);
  assert_int_equal(cJSON_GetArraySize(jarr(doc, "keys")), 0);
  cJSON_Delete(doc);

  /* The daemon's view at start: every key's last transition. */
  struct store_key_state *states = NULL;
  size_t n = 0;
  assert_int_equal(store_last_states(w, &states, &n), 0);
  assert_int_equal(n, 3);
  assert_string_equal(states[0].name, "dev");
  assert_int_equal(states[0].cause, CAUSE_QUOTA);
  assert_int_equal(states[0].from, CAUSE_UNKNOWN);
  assert_int_equal(states[0].since_ms, T0 - HOUR_MS);
  assert_int_equal(states[0].evidence.http_status, 400);
  assert_string_equal(states[0].evidence.request_id, "req_011CDev");
  assert_string_equal(states[1].name, "prod");
  assert_int_equal(states[1].cause, CAUSE_OK);
  assert_int_equal(states[1].since_ms, T0 + 30 * MIN_MS);
  assert_string_equal(states[2].name, "staging");
  assert_int_equal(states[2].cause, CAUSE_OVERLOADED);
  assert_string_equal(states[2].evidence.error_type, "overloaded_error");
  store_key_states_free(states, n);
  store_free(s);
  store_free(w);
  free(path);
}

static void test_incidents_lead(void **state) {
  (void)state;
  char *path = db_path();
  struct store *w = open_rw(path);
  fill_history(w);
  /* A platform verdict with no incident, and an incident we never declared. */
  const char *k[] = {"prod"};
  struct store_verdict v = {.at_ms = T0 + 5 * DAY_MS,
                            .scope = SCOPE_PLATFORM,
                            .cause = CAUSE_SERVER_ERROR,
                            .keys = k,
                            .n_keys = 1,
                            .summary = "server errors"};
  assert_int_equal(store_enqueue_verdict(w, &v), 0);
  struct store_verdict none = {
      .at_ms = T0 + 5 * DAY_MS + HOUR_MS, .scope = SCOPE_NONE, .cause = CAUSE_OK};
  assert_int_equal(store_enqueue_verdict(w, &none), 0);
  struct status_snapshot snap;
  status_snapshot_init(&snap);
  snap.reachable = true;
  snap.fetched_ms = T0 + 6 * DAY_MS;
  struct status_incident inc;
  memset(&inc, 0, sizeof(inc));
  util_copy(inc.id, sizeof(inc.id), "inc789");
  util_copy(inc.name, sizeof(inc.name), "Slow responses");
  util_copy(inc.status, sizeof(inc.status), "identified");
  inc.impact = INDICATOR_MINOR;
  inc.created_ms = T0 + 6 * DAY_MS - 10 * MIN_MS;
  inc.updated_ms = inc.created_ms;
  inc.started_ms = inc.scheduled_for_ms = inc.scheduled_until_ms = -1;
  snap.incidents = &inc;
  snap.n_incidents = 1;
  assert_int_equal(store_enqueue_status(w, &snap), 0);
  flush_ok(w);
  struct store *s = open_ro(path);
  struct store_query q = {.since_ms = T0 - DAY_MS, .until_ms = -1};
  cJSON *doc = NULL;
  assert_int_equal(store_incidents(s, &q, &doc), 0);
  assert_null(cJSON_GetObjectItemCaseSensitive(doc, "keys"));
  const cJSON *incs = jarr(doc, "incidents");
  assert_int_equal(cJSON_GetArraySize(incs), 3);
  const cJSON *i0 = cJSON_GetArrayItem(incs, 0);
  assert_string_equal(jstr(i0, "id"), "mnt456");
  assert_string_equal(jstr(i0, "status"), "completed"); /* left the list at T0 + 6 days */
  assert_string_equal(jstr(i0, "resolved_at"), "2026-12-04T06:00:00Z");
  const cJSON *i1 = cJSON_GetArrayItem(incs, 1);
  assert_string_equal(jstr(i1, "id"), "inc123");
  assert_true(jnum(i1, "lead_seconds") == 240.0);
  const cJSON *ups = jarr(i1, "updates");
  assert_int_equal(cJSON_GetArraySize(ups), 2);
  assert_string_equal(jstr(cJSON_GetArrayItem(ups, 0), "body"), "We are investigating.");
  assert_string_equal(jstr(cJSON_GetArrayItem(ups, 1), "status"), "monitoring");
  assert_string_equal(jstr(cJSON_GetArrayItem(ups, 1), "at"), "2026-11-28T06:20:00Z");
  const cJSON *i2 = cJSON_GetArrayItem(incs, 2);
  assert_string_equal(jstr(i2, "id"), "inc789");
  assert_true(jnull(i2, "resolved_at"));
  assert_string_equal(jstr(i2, "status"), "identified");
  assert_true(jnull(i2, "declared_at"));
  assert_true(jnull(i2, "lead_seconds"));
  assert_int_equal(cJSON_GetArraySize(jarr(i2, "updates")), 0);
  const cJSON *pv = jarr(doc, "platform_verdicts");
  assert_int_equal(cJSON_GetArraySize(pv), 2);
  const cJSON *lonely = cJSON_GetArrayItem(pv, 1);
  assert_string_equal(jstr(lonely, "cause"), "server_error");
  assert_true(jnull(lonely, "incident_id"));
  assert_string_equal(jstr(lonely, "ended_at"), "2026-12-03T07:00:00Z");
  cJSON_Delete(doc);

  /* Late detection: the page published before we declared gives a negative lead. */
  v.at_ms = T0 + 6 * DAY_MS - 5 * MIN_MS;
  v.cause = CAUSE_OVERLOADED;
  store_free(s);
  assert_int_equal(store_enqueue_verdict(w, &v), 0);
  flush_ok(w);
  s = open_ro(path);
  q.since_ms = T0 + 6 * DAY_MS - HOUR_MS;
  assert_int_equal(store_incidents(s, &q, &doc), 0);
  incs = jarr(doc, "incidents");
  assert_int_equal(cJSON_GetArraySize(incs), 2); /* the maintenance completed in the range */
  assert_string_equal(jstr(cJSON_GetArrayItem(incs, 1), "id"), "inc789");
  assert_true(jnum(cJSON_GetArrayItem(incs, 1), "lead_seconds") == -300.0);
  cJSON_Delete(doc);
  /* Unresolved incidents and the verdict in force are what --failing shows beside keys. */
  assert_int_equal(store_failing(s, NULL, &doc), 0);
  incs = jarr(doc, "incidents");
  assert_int_equal(cJSON_GetArraySize(incs), 1);
  assert_string_equal(jstr(cJSON_GetArrayItem(incs, 0), "id"), "inc789");
  pv = jarr(doc, "platform_verdicts");
  assert_int_equal(cJSON_GetArraySize(pv), 1);
  assert_string_equal(jstr(cJSON_GetArrayItem(pv, 0), "incident_id"), "inc789");
  cJSON_Delete(doc);
  store_free(s);
  store_free(w);
  free(path);
}

static void test_status_components_after_restart(void **state) {
  (void)state;
  char *path = db_path();
  struct store *w = open_rw(path);
  fill_history(w);
  store_free(w);
  /* A restart loads the last recorded state: the same page records nothing. */
  w = open_rw(path);
  struct status_snapshot snap;
  status_snapshot_init(&snap);
  snap.reachable = true;
  snap.fetched_ms = T0 + 2 * HOUR_MS;
  struct status_component comps[2];
  memset(comps, 0, sizeof(comps));
  util_copy(comps[0].id, sizeof(comps[0].id), "k8w3r06qmzrp");
  util_copy(comps[0].name, sizeof(comps[0].name), "Claude API (api.anthropic.com)");
  comps[0].status = COMPONENT_OPERATIONAL;
  util_copy(comps[1].id, sizeof(comps[1].id), "yyzkbfz2thpt");
  util_copy(comps[1].name, sizeof(comps[1].name), "claude.ai");
  comps[1].status = COMPONENT_MAJOR_OUTAGE;
  snap.components = comps;
  snap.n_components = 2;
  assert_int_equal(store_enqueue_status(w, &snap), 0);
  struct store_stats st;
  store_stats(w, &st);
  /* Only claude.ai changed, and the maintenance left the list. */
  assert_int_equal(st.queue_length, 2);
  flush_ok(w);
  assert_int_equal(q64(w, "SELECT count(*) FROM status_components WHERE component_id="
                          "'yyzkbfz2thpt' AND status='major_outage'"),
                   1);
  store_free(w);
  free(path);
}

static void test_alerts_resume(void **state) {
  (void)state;
  char *path = db_path();
  struct store *w = open_rw(path);
  char name[] = "ClaudeKeyAuthFailing",
       labels[] = "{\"alertname\":\"ClaudeKeyAuthFailing\","
                  "\"key\":\"prod\"}",
       ann[] = "{\"summary\":\"Key 'prod' is rejected\"}";
  struct store_alert a = {.alertname = name,
                          .labels_json = labels,
                          .annotations_json = ann,
                          .starts_ms = T0,
                          .ends_ms = -1,
                          .last_sent_ms = T0,
                          .firing = true};
  util_copy(a.fingerprint, sizeof(a.fingerprint), "3b5d1c2e9f0a7b64");
  assert_int_equal(store_enqueue_alert(w, &a), 0);
  /* Resent a minute later: the same episode, its startsAt kept. */
  a.last_sent_ms = T0 + MIN_MS;
  assert_int_equal(store_enqueue_alert(w, &a), 0);
  char name2[] = "ClaudeRateLimited";
  struct store_alert b = {.alertname = name2,
                          .starts_ms = T0 - HOUR_MS,
                          .ends_ms = T0,
                          .last_sent_ms = T0,
                          .firing = false};
  util_copy(b.fingerprint, sizeof(b.fingerprint), "aaaa");
  assert_int_equal(store_enqueue_alert(w, &b), 0);
  flush_ok(w);
  store_free(w);

  w = open_rw(path);
  struct store_alert *v = NULL;
  size_t n = 0;
  assert_int_equal(store_alerts_firing(w, &v, &n), 0);
  assert_int_equal(n, 1);
  assert_string_equal(v[0].fingerprint, "3b5d1c2e9f0a7b64");
  assert_string_equal(v[0].alertname, "ClaudeKeyAuthFailing");
  assert_int_equal(v[0].starts_ms, T0);
  assert_int_equal(v[0].last_sent_ms, T0 + MIN_MS);
  assert_int_equal(v[0].ends_ms, -1);
  assert_string_equal(v[0].labels_json, labels);
  assert_string_equal(v[0].annotations_json, ann);
  assert_true(v[0].firing);
  store_alerts_free(v, n);
  /* Resolved: no longer resumed, kept as history. */
  a.firing = false;
  a.ends_ms = T0 + 2 * MIN_MS;
  assert_int_equal(store_enqueue_alert(w, &a), 0);
  flush_ok(w);
  assert_int_equal(store_alerts_firing(w, &v, &n), 0);
  assert_int_equal(n, 0);
  store_alerts_free(v, n);
  assert_int_equal(q64(w, "SELECT count(*) FROM alerts"), 2);
  store_free(w);
  free(path);
}

static bool contains(const char *hay, size_t len, const char *needle) {
  return memmem(hay, len, needle, strlen(needle)) != NULL;
}

static void test_key_never_stored(void **state) {
  (void)state;
  char *path = db_path();
  struct store *w = open_rw(path);
  char fp[65], hint[32], fp2[65];
  util_sha256_hex(fake_key, strlen(fake_key), fp);
  util_key_hint(fake_key, hint, sizeof(hint));
  assert_int_equal(store_key_seen(w, "prod", fp, hint, T0), 0);
  /* Outside text quoting the key (a relay echoing the header) is redacted before it is kept. */
  struct probe_result r;
  probe(&r, PROBE_MODELS, CAUSE_EDGE_ERROR, T0, 403, "", 0.1);
  snprintf(r.error_message, sizeof(r.error_message), "blocked request with x-api-key %s", fake_key);
  snprintf(r.curl_error, sizeof(r.curl_error), "proxy said %s", fake_key);
  r.transport = TRANSPORT_PROXY;
  assert_int_equal(store_enqueue_probe(w, "prod", &r), 0);
  struct evidence ev;
  evidence_from_result(&ev, &r);
  assert_int_equal(store_enqueue_transition(w, "prod", T0, CAUSE_OK, CAUSE_EDGE_ERROR, &ev), 0);
  flush_ok(w);
  /* A rotated key under the same name: an event. */
  util_sha256_hex("another-key-entirely-0123456789", 31, fp2);
  assert_int_equal(store_key_seen(w, "prod", fp2, "...89", T0 + HOUR_MS), 0);
  assert_int_equal(store_key_seen(w, "prod", fp2, "...89", T0 + 2 * HOUR_MS), 0); /* no event */
  flush_ok(w);
  assert_int_equal(q64(w, "SELECT count(*) FROM key_events"), 2);
  assert_int_equal(q64(w, "SELECT count(*) FROM key_events WHERE event='fingerprint_changed'"), 1);
  cJSON *doc = NULL;
  struct store_query q = {.key = "prod", .since_ms = -1, .until_ms = -1};
  assert_int_equal(store_history(w, &q, &doc), 0);
  const cJSON *events = jarr(cJSON_GetArrayItem(jarr(doc, "keys"), 0), "events");
  assert_int_equal(cJSON_GetArraySize(events), 2);
  assert_string_equal(jstr(cJSON_GetArrayItem(events, 0), "event"), "first_seen");
  assert_string_equal(jstr(cJSON_GetArrayItem(events, 0), "hint"), hint);
  assert_string_equal(jstr(cJSON_GetArrayItem(events, 1), "event"), "fingerprint_changed");
  assert_string_equal(jstr(cJSON_GetArrayItem(events, 1), "fingerprint"), fp2);
  cJSON_Delete(doc);
  /* Keep the WAL around (no checkpoint on close would hide nothing: scan both). */
  store_free(w);

  static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
  /* The middle of the key: what the hint does not show. */
  char middle[64];
  util_copy(middle, sizeof(middle), fake_key + 16);
  middle[40] = '\0';
  bool found_fp = false;
  for (size_t i = 0; i < UTIL_ARRAY_LEN(suffixes); i++) {
    char *f = xasprintf("%s%s", path, suffixes[i]);
    size_t len;
    char *bytes = read_all(f, &len);
    if (bytes) {
      if (contains(bytes, len, fake_key)) fail_msg("the key is in %s", f);
      if (contains(bytes, len, middle)) fail_msg("part of the key is in %s", f);
      if (contains(bytes, len, fp)) found_fp = true;
      assert_false(contains(bytes, len, "x-api-key sk-ant-api03"));
    }
    free(bytes);
    free(f);
  }
  assert_true(found_fp); /* the scan looks at the right bytes */
  struct store *s = open_ro(path);
  assert_int_equal(q64(s, "SELECT count(*) FROM probes WHERE error_message LIKE '%[REDACTED]%' "
                          "AND curl_error LIKE '%[REDACTED]%'"),
                   1);
  store_free(s);
  free(path);
}

static void test_reader_never_blocked(void **state) {
  (void)state;
  char *path = db_path();
  struct store *w = open_rw(path);
  fill_history(w);
  struct store *holder = open_rw(path);
  struct store *s = open_ro(path);
  /* A writer holds the write lock with uncommitted rows: the reader answers at once, from the
   * last committed state. */
  assert_int_equal(store_exec(holder, "BEGIN IMMEDIATE; DELETE FROM key_transitions;"), 0);
  int64_t t0 = util_mono_ms();
  cJSON *doc = NULL;
  assert_int_equal(store_history(s, NULL, &doc), 0);
  assert_true(util_mono_ms() - t0 < 500);
  assert_int_equal(cJSON_GetArraySize(jarr(doc, "keys")), 3);
  cJSON_Delete(doc);
  assert_int_equal(store_exec(holder, "ROLLBACK"), 0);
  /* The reader cannot write. */
  assert_int_equal(store_exec(s, "DELETE FROM key_transitions"), UTIL_EDB);
  store_free(s);
  store_free(holder);
  store_free(w);
  free(path);
}

/* ---- The commands ----------------------------------------------------------------------- */

static void test_cli_history(void **state) {
  (void)state;
  char *path = db_path();
  struct store *w = open_rw(path);
  fill_history(w);
  store_free(w);
  char *out = NULL;

  assert_int_equal(cmd(cli_history, &out, "history", "--database", path, "--key", "prod", "--since",
                       "2026-11-28T00:00:00Z", "--format", "json", NULL),
                   0);
  cJSON *doc = cJSON_Parse(out);
  assert_non_null(doc);
  const cJSON *keys = jarr(doc, "keys");
  assert_int_equal(cJSON_GetArraySize(keys), 1);
  const cJSON *t0 = cJSON_GetArrayItem(jarr(cJSON_GetArrayItem(keys, 0), "transitions"), 0);
  assert_string_equal(jstr(t0, "at"), "2026-11-28T05:41:07Z");
  assert_string_equal(jstr(t0, "to"), "auth_invalid");
  assert_int_equal(cJSON_GetArraySize(jarr(doc, "incidents")), 2);
  assert_int_equal(cJSON_GetArraySize(jarr(doc, "platform_verdicts")), 1);
  cJSON_Delete(doc);
  free(out);

  char *dbopt = xasprintf("--database=%s", path);
  assert_int_equal(cmd(cli_history, &out, "history", dbopt, "--failing", NULL), 0);
  /* A table for people: a header, aligned columns, both failing keys with evidence. */
  const char *line = strstr(out, "KEY ");
  assert_non_null(line);
  assert_non_null(strstr(out, "FAILING SINCE"));
  const char *dev = strstr(out, "\ndev ");
  const char *stag = strstr(out, "\nstaging ");
  assert_non_null(dev);
  assert_non_null(stag);
  assert_true(dev < stag);
  assert_int_equal(strstr(line, "CAUSE") - line, strstr(dev + 1, "quota") - (dev + 1));
  assert_non_null(strstr(out, "req_011CDev"));
  assert_non_null(strstr(out, "Your credit balance is too low"));
  free(out);

  assert_int_equal(cmd(cli_history, &out, "history", "--database", path, NULL), 0);
  assert_non_null(strstr(out, "2026-11-28T05:41:07Z"));
  assert_non_null(strstr(out, "inc123"));
  assert_non_null(strstr(out, "+4m0s"));
  free(out);

  assert_int_equal(
      cmd(cli_incidents, &out, "incidents", "--database", path, "--format", "json", NULL), 0);
  doc = cJSON_Parse(out);
  assert_non_null(doc);
  assert_int_equal(cJSON_GetArraySize(jarr(doc, "incidents")), 2);
  assert_true(jnum(cJSON_GetArrayItem(jarr(doc, "incidents"), 1), "lead_seconds") == 240.0);
  cJSON_Delete(doc);
  free(out);

  /* Exit codes: 2 usage, 3 database missing or unreadable. */
  char *missing = xasprintf("%s/none.db", tmpdir);
  assert_int_equal(cmd(cli_history, &out, "history", "--database", missing, NULL), 3);
  free(out);
  assert_int_equal(cmd(cli_history, &out, "history", "--database", path, "--bogus", NULL), 2);
  free(out);
  assert_int_equal(
      cmd(cli_history, &out, "history", "--database", path, "--since", "yesterday", NULL), 2);
  free(out);
  assert_int_equal(cmd(cli_history, &out, "history", "--database", path, "--format", "xml", NULL),
                   2);
  free(out);
  assert_int_equal(cmd(cli_history, &out, "history", "--database", path, "--key", "nobody", NULL),
                   2);
  free(out);
  assert_int_equal(cmd(cli_incidents, &out, "incidents", "--database", path, "--key", "prod", NULL),
                   2);
  free(out);
  assert_int_equal(cmd(cli_history, &out, "history", "--database", NULL), 2);
  free(out);
  char *notdb = xasprintf("%s/garbage.db", tmpdir);
  FILE *f = fopen(notdb, "w");
  fputs("this is not a database, just some text that is long enough to have a header......", f);
  fclose(f);
  assert_int_equal(cmd(cli_history, &out, "history", "--database", notdb, NULL), 3);
  free(out);
  assert_int_equal(cmd(cli_history, &out, "history", "--help", NULL), 0);
  assert_non_null(strstr(out, "--database PATH"));
  free(out);
  free(notdb);
  free(missing);
  free(dbopt);
  free(path);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_migrate_from_empty),
      cmocka_unit_test(test_refuse_newer_version),
      cmocka_unit_test(test_refuse_foreign_database),
      cmocka_unit_test(test_batch_write),
      cmocka_unit_test(test_busy_database),
      cmocka_unit_test(test_readonly_file),
      cmocka_unit_test(test_full_database),
      cmocka_unit_test(test_vanished_file),
      cmocka_unit_test(test_queue_bound),
      cmocka_unit_test(test_invalid_arguments),
      cmocka_unit_test(test_checkpoint_off_the_loop),
      cmocka_unit_test(test_retention),
      cmocka_unit_test(test_rollups),
      cmocka_unit_test(test_history_json),
      cmocka_unit_test(test_failing),
      cmocka_unit_test(test_incidents_lead),
      cmocka_unit_test(test_status_components_after_restart),
      cmocka_unit_test(test_alerts_resume),
      cmocka_unit_test(test_key_never_stored),
      cmocka_unit_test(test_reader_never_blocked),
      cmocka_unit_test(test_cli_history),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
