/* store_bench — what a year of watching KEYS keys at one probe a minute costs the store:
 * generates it directly in a database (raw probes for the retention, a year of hourly
 * roll-ups, transitions, incidents, verdicts), then measures through the public API what the
 * daemon and the CLI pay: one flush of 10,000 probe rows, the steady-state flush, a
 * retention step, "when did key X start failing" and a 30-day history of one key. Prints a
 * Markdown section on stdout (tests/bench/store_bench.sh puts it into RESULTS.md); progress
 * on stderr.
 *
 * usage: store_bench DIR [--keys N] [--probe-days D] [--rollup-days D] [--runs N]
 * The database is DIR/bench.db, removed first. Bulk generation uses SQL through store_exec
 * (the benchmark may: it is not the daemon); every measurement goes through store.h. */
#include "agent/log.h"
#include "agent/model.h"
#include "agent/util.h"
#include "storage/store.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MIN_MS 60000LL
#define HOUR_MS 3600000LL
#define DAY_MS 86400000LL

static int64_t now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* cpu_us: this process's CPU time, which the other loads of a shared machine do not
 * inflate (the wall time they do). */
static int64_t cpu_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

/* median of n samples (sorted in place). */
static double median_us(int64_t *v, size_t n) {
  qsort(v, n, sizeof(*v), cmp_i64);
  return n % 2 ? (double)v[n / 2] : ((double)v[n / 2 - 1] + (double)v[n / 2]) / 2.0;
}

static void die(const char *what, int err) {
  fprintf(stderr, "store_bench: %s: %s\n", what, util_strerror(err));
  exit(1);
}

static void exec(struct store *s, const char *sql) {
  int err = store_exec(s, sql);
  if (err) {
    fprintf(stderr, "store_bench: SQL failed: %.200s\n", sql);
    die("store_exec", err);
  }
}

static int64_t q64(struct store *s, const char *sql) {
  int64_t v = 0;
  int err = store_query_int64(s, sql, &v);
  if (err) die(sql, err);
  return v;
}

static int64_t file_size(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0 ? (int64_t)sb.st_size : 0;
}

/* A realistic probe result: what one `models` probe of key k leaves behind. */
static void fake_probe(struct probe_result *r, int k, int64_t at, int64_t seq) {
  probe_result_init(r, (uint32_t)k, PROBE_MODELS);
  r->started_ms = at;
  r->planned_ms = at;
  bool limited = seq % 500 == 0;
  r->cause = limited ? CAUSE_RATE_LIMITED : CAUSE_OK;
  r->http_status = limited ? 429 : 200;
  r->body_kind = limited ? BODY_API_ERROR : BODY_EXPECTED;
  r->total_s = 0.15 + (double)(seq % 97) / 1000.0;
  r->dns_s = 0.002;
  r->connect_s = 0.012;
  r->tls_s = 0.035;
  r->ttfb_s = r->total_s - 0.001;
  snprintf(r->request_id, sizeof(r->request_id), "req_011C%08X%016lld", (unsigned)k,
           (long long)seq);
  snprintf(r->organization_id, sizeof(r->organization_id), "%08x-aaaa-bbbb-cccc-%012x", k % 50,
           k % 50);
  snprintf(r->workspace_id, sizeof(r->workspace_id), "wrkspc_01%020d", k % 200);
  util_copy(r->peer, sizeof(r->peer), "160.79.104.10");
  r->ratelimit[RL_REQUESTS].limit = 4000;
  r->ratelimit[RL_REQUESTS].remaining = 3999;
  r->ratelimit[RL_TOKENS].remaining = 400000;
  if (limited) {
    util_copy(r->error_type, sizeof(r->error_type), "rate_limit_error");
    util_copy(r->error_message, sizeof(r->error_message),
              "Number of request tokens has exceeded your per-minute rate limit");
    r->retry_after_s = 12;
  }
}

static void key_name(char *buf, size_t n, int k) {
  snprintf(buf, n, "key-%04d", k);
}

struct opts {
  const char *dir;
  int keys;
  int probe_days;
  int rollup_days;
  int runs;
};

int main(int argc, char **argv) {
  struct opts o = {.keys = 1000, .probe_days = 14, .rollup_days = 365, .runs = 200};
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--keys") == 0 && i + 1 < argc)
      o.keys = atoi(argv[++i]);
    else if (strcmp(argv[i], "--probe-days") == 0 && i + 1 < argc)
      o.probe_days = atoi(argv[++i]);
    else if (strcmp(argv[i], "--rollup-days") == 0 && i + 1 < argc)
      o.rollup_days = atoi(argv[++i]);
    else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
      o.runs = atoi(argv[++i]);
    else if (!o.dir)
      o.dir = argv[i];
    else {
      fprintf(stderr, "usage: store_bench DIR [--keys N] [--probe-days D] [--rollup-days D] "
                      "[--runs N]\n");
      return 2;
    }
  }
  if (!o.dir || o.keys < 10 || o.probe_days < 0 || o.rollup_days < 1 || o.runs < 1) {
    fprintf(stderr, "usage: store_bench DIR [--keys N>=10] [--probe-days D] [--rollup-days D] "
                    "[--runs N]\n");
    return 2;
  }
  log_set_level(LOG_WARN);
  char *path = xasprintf("%s/bench.db", o.dir);
  char *wal = xasprintf("%s-wal", path), *shm = xasprintf("%s-shm", path);
  unlink(path);
  unlink(wal);
  unlink(shm);

  int64_t now = util_now_ms();
  now -= now % MIN_MS;
  struct store *s = NULL;
  char why[512];
  struct store_options opt;
  store_options_init(&opt);
  opt.batch_max = 10000;
  opt.queue_max = 20000;
  int err = store_open(path, &opt, &s, why, sizeof(why));
  if (err) die(why, err);

  /* ---- 1. Ingest into an empty database: one flush of 10,000 probe rows. ---- */
  struct probe_result r;
  char name[32];
  int64_t seq = 0, t_enqueue = 0;
  int flush_runs = 10;
  int64_t *flush_us = xcalloc((size_t)flush_runs, sizeof(*flush_us));
  int64_t *flush_cpu = xcalloc((size_t)flush_runs, sizeof(*flush_cpu));
  int64_t ingest_at = now - (int64_t)o.probe_days * DAY_MS - DAY_MS; /* deleted by retention */
  for (int run = 0; run < flush_runs; run++) {
    for (int i = 0; i < 10000; i++) {
      int k = (int)(seq % o.keys);
      key_name(name, sizeof(name), k);
      fake_probe(&r, k, ingest_at + (seq / o.keys) * MIN_MS, seq);
      seq++;
      int64_t t0 = now_us();
      if ((err = store_enqueue_probe(s, name, &r)) != 0) die("enqueue", err);
      t_enqueue += now_us() - t0;
    }
    int64_t t0 = now_us();
    int64_t c0 = cpu_us();
    if ((err = store_flush(s)) != 0) die("flush", err);
    flush_us[run] = now_us() - t0;
    flush_cpu[run] = cpu_us() - c0;
  }
  double flush_empty_us = median_us(flush_us, (size_t)flush_runs);
  double flush_empty_cpu = median_us(flush_cpu, (size_t)flush_runs);
  double enqueue_ns = (double)t_enqueue * 1000.0 / (double)(flush_runs * 10000);
  fprintf(stderr, "flush of 10,000 rows into an empty database: %.1f ms\n", flush_empty_us / 1e3);

  /* ---- 2. Generate a year in the database. ---- */
  int64_t t_gen = now_us();
  int64_t year_start = now - (int64_t)o.rollup_days * DAY_MS;
  year_start -= year_start % HOUR_MS;
  /* Keys exist already (the ingest above created them all). */
  if (q64(s, "SELECT count(*) FROM keys") != o.keys) die("keys", UTIL_EINVAL);
  /* Raw probes: one a minute per key for the retention, in time order as the daemon writes
   * them, one transaction per day. */
  int64_t t_probes = now_us();
  for (int d = o.probe_days; d > 0; d--) {
    int64_t day = now - (int64_t)d * DAY_MS;
    char *sql = xasprintf(
        "BEGIN; WITH RECURSIVE m(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM m WHERE i < 1439) "
        "INSERT INTO probes(at, key_id, kind, cause, http_status, error_type, error_message, "
        "request_id, organization_id, workspace_id, total_us, dns_us, connect_us, tls_us, "
        "ttfb_us, body, peer, via_proxy, retry_after_s, rl_requests_remaining, "
        "rl_tokens_remaining) SELECT %lld + m.i * 60000 + k.id * 53, k.id, 'models', "
        "CASE WHEN (k.id * 7 + m.i) %% 500 = 0 THEN 'rate_limited' ELSE 'ok' END, "
        "CASE WHEN (k.id * 7 + m.i) %% 500 = 0 THEN 429 ELSE 200 END, "
        "CASE WHEN (k.id * 7 + m.i) %% 500 = 0 THEN 'rate_limit_error' END, "
        "CASE WHEN (k.id * 7 + m.i) %% 500 = 0 THEN 'Number of request tokens has exceeded "
        "your per-minute rate limit' END, printf('req_011C%%08X%%016d', k.id, %lld + m.i), "
        "printf('%%08x-aaaa-bbbb-cccc-%%012x', k.id %% 50, k.id %% 50), "
        "printf('wrkspc_01%%020d', k.id %% 200), 150000 + (k.id * 31 + m.i * 17) %% 97000, "
        "2000, 12000, 35000, 149000 + (k.id * 31 + m.i * 17) %% 97000, "
        "CASE WHEN (k.id * 7 + m.i) %% 500 = 0 THEN 'api_error' END, '160.79.104.10', 0, "
        "CASE WHEN (k.id * 7 + m.i) %% 500 = 0 THEN 12 END, 3999, 400000 FROM m, keys k; COMMIT;",
        (long long)day, (long long)(day / MIN_MS));
    exec(s, sql);
    free(sql);
    fprintf(stderr, "probes: day %d of %d\n", o.probe_days - d + 1, o.probe_days);
  }
  t_probes = now_us() - t_probes;
  /* Hourly roll-ups for the year, one row per key and hour. */
  int64_t t_rollups = now_us();
  {
    char *sql = xasprintf(
        "BEGIN; WITH RECURSIVE h(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM h WHERE i < %d) "
        "INSERT OR IGNORE INTO rollups(key_id, hour, kind, n_ok, n_rate_limited, latency_n, "
        "latency_sum_us, latency_max_us, lat_le_100ms, lat_le_250ms, lat_le_500ms, lat_le_1s) "
        "SELECT k.id, %lld + h.i * 3600000, 'models', 59 + (k.id + h.i) %% 2, "
        "1 - (k.id + h.i) %% 2, 60, 60 * 180000, 400000 + h.i %% 1000, 2, 40, 17, 1 "
        "FROM keys k, h; COMMIT;",
        o.rollup_days * 24 - 1, (long long)year_start);
    exec(s, sql);
    free(sql);
  }
  t_rollups = now_us() - t_rollups;
  fprintf(stderr, "roll-ups: done\n");
  /* Transitions: about two a week per key (rate limits coming and going), and one key in ten
   * failing now (auth_invalid since a few hours). */
  {
    char *sql = xasprintf(
        "BEGIN; WITH RECURSIVE t(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM t WHERE i < %d) "
        "INSERT INTO key_transitions(at, key_id, from_cause, to_cause, cause, probe, http_status, "
        "error_type, error_message, request_id) SELECT %lld + t.i * 302400000 + k.id * 1000, "
        "k.id, CASE WHEN t.i %% 2 THEN 'rate_limited' ELSE 'ok' END, "
        "CASE WHEN t.i %% 2 THEN 'ok' ELSE 'rate_limited' END, "
        "CASE WHEN t.i %% 2 THEN 'ok' ELSE 'rate_limited' END, 'models', "
        "CASE WHEN t.i %% 2 THEN 200 ELSE 429 END, "
        "CASE WHEN t.i %% 2 THEN NULL ELSE 'rate_limit_error' END, "
        "CASE WHEN t.i %% 2 THEN NULL ELSE 'Number of request tokens has exceeded your "
        "per-minute rate limit' END, printf('req_011C%%08X%%08d', k.id, t.i) FROM keys k, t; "
        "INSERT INTO key_transitions(at, key_id, from_cause, to_cause, cause, probe, "
        "http_status, error_type, error_message, request_id) SELECT %lld - k.id * 60000, k.id, "
        "'ok', 'auth_invalid', 'auth_invalid', 'models', 401, 'authentication_error', "
        "'invalid x-api-key', printf('req_011CFAIL%%08X', k.id) FROM keys k WHERE k.id %% 10 = 0; "
        "COMMIT;",
        o.rollup_days * 2 / 7 - 1, (long long)year_start, (long long)(now - HOUR_MS));
    exec(s, sql);
    free(sql);
  }
  /* Status page and verdicts: ~10 incidents a month, each with 3 updates and a platform
   * verdict declared 4 minutes before it was published; 1,000 local verdicts. */
  {
    int n_inc = o.rollup_days / 3;
    char *sql = xasprintf(
        "BEGIN; WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < %d) "
        "INSERT INTO incidents(id, kind, name, impact, status, shortlink, created_at, updated_at, "
        "resolved_at, first_seen, components) SELECT printf('inc%%08d', i), 'incident', "
        "'Elevated errors on Claude API', 'major', 'resolved', 'https://stspg.io/x', "
        "%lld + i * 259200000, %lld + i * 259200000 + 3600000, %lld + i * 259200000 + 5400000, "
        "%lld + i * 259200000 + 60000, '[\"k8w3r06qmzrp\"]' FROM n; "
        "INSERT INTO incident_updates(incident_id, at, status, body) SELECT id, created_at + "
        "u * 1200000, 'investigating', 'We are investigating elevated error rates.' FROM "
        "incidents, (SELECT 0 AS u UNION ALL SELECT 1 UNION ALL SELECT 2); "
        "INSERT INTO verdicts(at, ended_at, scope, cause, keys, summary) SELECT created_at - "
        "240000, created_at + 3000000, 'platform', 'overloaded', '[\"key-0001\",\"key-0002\"]', "
        "'most keys overloaded' FROM incidents; "
        "INSERT INTO status_components(at, component_id, name, status) SELECT created_at, "
        "'k8w3r06qmzrp', 'Claude API (api.anthropic.com)', 'partial_outage' FROM incidents; "
        "INSERT INTO status_components(at, component_id, name, status) SELECT resolved_at, "
        "'k8w3r06qmzrp', 'Claude API (api.anthropic.com)', 'operational' FROM incidents; "
        "WITH RECURSIVE v(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM v WHERE i < 999) "
        "INSERT INTO verdicts(at, ended_at, scope, cause, keys, summary) SELECT %lld + i * "
        "%lld, %lld + i * %lld + 600000, 'local', 'rate_limited', '[\"key-0003\"]', "
        "'one key rate limited' FROM v; COMMIT;",
        n_inc - 1, (long long)year_start, (long long)year_start, (long long)year_start,
        (long long)year_start, (long long)year_start, (long long)(o.rollup_days * DAY_MS / 1000),
        (long long)year_start, (long long)(o.rollup_days * DAY_MS / 1000));
    exec(s, sql);
    free(sql);
  }
  exec(s, "PRAGMA wal_checkpoint(TRUNCATE)");
  t_gen = now_us() - t_gen;
  int64_t n_probes = q64(s, "SELECT count(*) FROM probes");
  int64_t n_rollups = q64(s, "SELECT count(*) FROM rollups");
  int64_t n_transitions = q64(s, "SELECT count(*) FROM key_transitions");
  int64_t n_incidents = q64(s, "SELECT count(*) FROM incidents");
  int64_t page_size = q64(s, "PRAGMA page_size");
  int64_t probe_pages = q64(s, "SELECT count(*) FROM dbstat WHERE name IN ('probes', "
                               "'probes_at')");
  int64_t rollup_pages = q64(
      s, "SELECT count(*) FROM dbstat WHERE name IN ('rollups', 'rollups_hour', 'rollups_recent')");
  int64_t db_bytes = file_size(path) + file_size(wal);
  fprintf(stderr, "generated in %.0f s: %lld probes, %lld roll-ups, %lld transitions, %lld MB\n",
          (double)t_gen / 1e6, (long long)n_probes, (long long)n_rollups, (long long)n_transitions,
          (long long)(db_bytes >> 20));

  /* ---- 3. Ingest into the full database. ---- */
  int64_t live_at = now;
  for (int run = 0; run < flush_runs; run++) {
    for (int i = 0; i < 10000; i++) {
      int k = (int)(seq % o.keys);
      key_name(name, sizeof(name), k);
      fake_probe(&r, k, live_at + (seq / o.keys) * MIN_MS, seq);
      seq++;
      if ((err = store_enqueue_probe(s, name, &r)) != 0) die("enqueue", err);
    }
    int64_t t0 = now_us(), c0 = cpu_us();
    if ((err = store_flush(s)) != 0) die("flush", err);
    flush_us[run] = now_us() - t0;
    flush_cpu[run] = cpu_us() - c0;
  }
  double flush_full_us = median_us(flush_us, (size_t)flush_runs);
  double flush_full_cpu = median_us(flush_cpu, (size_t)flush_runs);
  /* The default batch (batch_max = 1,000): what one tick costs while a backlog drains. */
  int batch_runs = 20;
  int64_t *batch_us = xcalloc((size_t)batch_runs, sizeof(*batch_us));
  int64_t *batch_cpu = xcalloc((size_t)batch_runs, sizeof(*batch_cpu));
  for (int run = 0; run < batch_runs; run++) {
    for (int i = 0; i < 1000; i++) {
      int k = (int)(seq % o.keys);
      key_name(name, sizeof(name), k);
      fake_probe(&r, k, live_at + (seq / o.keys) * MIN_MS, seq);
      seq++;
      if ((err = store_enqueue_probe(s, name, &r)) != 0) die("enqueue", err);
    }
    int64_t t0 = now_us(), c0 = cpu_us();
    if ((err = store_flush(s)) != 0) die("flush", err);
    batch_us[run] = now_us() - t0;
    batch_cpu[run] = cpu_us() - c0;
  }
  double batch_med_us = median_us(batch_us, (size_t)batch_runs);
  double batch_med_cpu = median_us(batch_cpu, (size_t)batch_runs);
  /* Steady state: 1,000 keys at one probe a minute and a flush every 100 ms is ~2 rows;
   * 3,000 flushes (5 minutes of the daemon) include the WAL checkpoints they cause. */
  int small_runs = 3000;
  int64_t *small_us = xcalloc((size_t)small_runs, sizeof(*small_us));
  for (int run = 0; run < small_runs; run++) {
    for (int i = 0; i < 2; i++) {
      int k = (int)(seq % o.keys);
      key_name(name, sizeof(name), k);
      fake_probe(&r, k, live_at + (seq / o.keys) * MIN_MS, seq);
      seq++;
      store_enqueue_probe(s, name, &r);
    }
    int64_t t0 = now_us();
    if ((err = store_flush(s)) != 0) die("flush", err);
    small_us[run] = now_us() - t0;
  }
  double flush_small_us = median_us(small_us, (size_t)small_runs);
  double flush_small_p99 = (double)small_us[(size_t)small_runs * 99 / 100];
  double flush_small_max = (double)small_us[small_runs - 1];
  fprintf(stderr, "flush of 10,000 rows into the full database: %.1f ms\n", flush_full_us / 1e3);

  /* The same with checkpoints off the loop: commits never checkpoint (checkpoint_pages = 0)
   * and store_checkpoint runs every 100 flushes (10 s), as a worker thread would. */
  store_free(s);
  opt.checkpoint_pages = 0;
  if ((err = store_open(path, &opt, &s, why, sizeof(why))) != 0) die(why, err);
  int64_t *cp_us = xcalloc((size_t)small_runs / 100 + 1, sizeof(*cp_us));
  size_t n_cp = 0;
  for (int run = 0; run < small_runs; run++) {
    for (int i = 0; i < 2; i++) {
      int k = (int)(seq % o.keys);
      key_name(name, sizeof(name), k);
      fake_probe(&r, k, live_at + (seq / o.keys) * MIN_MS, seq);
      seq++;
      store_enqueue_probe(s, name, &r);
    }
    int64_t t0 = now_us();
    if ((err = store_flush(s)) != 0) die("flush", err);
    small_us[run] = now_us() - t0;
    if (run % 100 == 99) {
      t0 = now_us();
      if ((err = store_checkpoint(path, NULL)) != 0) die("store_checkpoint", err);
      cp_us[n_cp++] = now_us() - t0;
    }
  }
  double nocp_small_us = median_us(small_us, (size_t)small_runs);
  double nocp_small_p99 = (double)small_us[(size_t)small_runs * 99 / 100];
  double nocp_small_max = (double)small_us[small_runs - 1];
  double cp_med_us = median_us(cp_us, n_cp);
  double cp_max_us = (double)cp_us[n_cp - 1];

  /* ---- 4. Retention: one step deletes maintain_max rows (the ingest of step 1 is old). ---- */
  struct store_retention ret = {.probes_ms = (int64_t)o.probe_days * DAY_MS + HOUR_MS,
                                .rollups_ms = 400 * DAY_MS};
  int maint_runs = 10;
  int64_t *maint_us = xcalloc((size_t)maint_runs, sizeof(*maint_us));
  int64_t *maint_cpu = xcalloc((size_t)maint_runs, sizeof(*maint_cpu));
  int64_t before = q64(s, "SELECT count(*) FROM probes");
  for (int run = 0; run < maint_runs; run++) {
    bool more = false;
    int64_t t0 = now_us(), c0 = cpu_us();
    if ((err = store_maintain(s, now, &ret, &more)) != 0) die("maintain", err);
    maint_us[run] = now_us() - t0;
    maint_cpu[run] = cpu_us() - c0;
  }
  int64_t after = q64(s, "SELECT count(*) FROM probes");
  double maint_med_us = median_us(maint_us, (size_t)maint_runs);
  double maint_med_cpu = median_us(maint_cpu, (size_t)maint_runs);

  /* ---- 5. Queries. ---- */
  int64_t *q_us = xcalloc((size_t)o.runs, sizeof(*q_us));
  int64_t *q_cpu = xcalloc((size_t)o.runs, sizeof(*q_cpu));
  cJSON *doc = NULL;
  /* "When did key X start failing?" on the daemon's handle (the HTTP API's case). */
  for (int run = 0; run < o.runs; run++) {
    key_name(name, sizeof(name), (run * 10 + 9) % o.keys); /* key id % 10 == 0: failing */
    struct store_query q = {.key = name, .since_ms = -1, .until_ms = -1};
    int64_t t0 = now_us(), c0 = cpu_us();
    if ((err = store_failing(s, &q, &doc)) != 0) die("store_failing", err);
    q_us[run] = now_us() - t0;
    q_cpu[run] = cpu_us() - c0;
    if (run == 0 && cJSON_GetArraySize(cJSON_GetObjectItem(doc, "keys")) != 1)
      die("store_failing: expected a failing key", UTIL_EINVAL);
    cJSON_Delete(doc);
  }
  double failing_us = median_us(q_us, (size_t)o.runs);
  double failing_cpu = median_us(q_cpu, (size_t)o.runs);
  /* The same from a fresh read-only handle each time (the CLI's case, without exec). */
  for (int run = 0; run < o.runs; run++) {
    key_name(name, sizeof(name), (run * 10 + 9) % o.keys);
    struct store_query q = {.key = name, .since_ms = -1, .until_ms = -1};
    int64_t t0 = now_us(), c0 = cpu_us();
    struct store *ro = NULL;
    if ((err = store_open_readonly(path, &ro, why, sizeof(why))) != 0) die(why, err);
    if ((err = store_failing(ro, &q, &doc)) != 0) die("store_failing", err);
    store_free(ro);
    q_us[run] = now_us() - t0;
    q_cpu[run] = cpu_us() - c0;
    cJSON_Delete(doc);
  }
  double failing_cli_us = median_us(q_us, (size_t)o.runs);
  double failing_cli_cpu = median_us(q_cpu, (size_t)o.runs);
  /* A 30-day history of one key: transitions and events, incidents and verdicts beside. */
  size_t hist_transitions = 0;
  for (int run = 0; run < o.runs; run++) {
    key_name(name, sizeof(name), (run * 7) % o.keys);
    struct store_query q = {.key = name, .since_ms = now - 30 * DAY_MS, .until_ms = -1};
    int64_t t0 = now_us(), c0 = cpu_us();
    if ((err = store_history(s, &q, &doc)) != 0) die("store_history", err);
    q_us[run] = now_us() - t0;
    q_cpu[run] = cpu_us() - c0;
    if (run == 0)
      hist_transitions = (size_t)cJSON_GetArraySize(cJSON_GetObjectItem(
          cJSON_GetArrayItem(cJSON_GetObjectItem(doc, "keys"), 0), "transitions"));
    cJSON_Delete(doc);
  }
  double history_us = median_us(q_us, (size_t)o.runs);
  double history_cpu = median_us(q_cpu, (size_t)o.runs);
  /* A 30-day hourly series of one key (720 roll-up rows). */
  size_t series_rows = 0;
  for (int run = 0; run < o.runs; run++) {
    key_name(name, sizeof(name), (run * 7) % o.keys);
    struct store_query q = {.key = name, .since_ms = now - 30 * DAY_MS, .until_ms = -1};
    int64_t t0 = now_us(), c0 = cpu_us();
    if ((err = store_key_rollups(s, &q, &doc)) != 0) die("store_key_rollups", err);
    q_us[run] = now_us() - t0;
    q_cpu[run] = cpu_us() - c0;
    if (run == 0) series_rows = (size_t)cJSON_GetArraySize(cJSON_GetObjectItem(doc, "hours"));
    cJSON_Delete(doc);
  }
  double series_us = median_us(q_us, (size_t)o.runs);
  double series_cpu = median_us(q_cpu, (size_t)o.runs);
  /* Every failing key at once (history --failing without --key). */
  int all_runs = o.runs < 20 ? o.runs : 20;
  for (int run = 0; run < all_runs; run++) {
    int64_t t0 = now_us(), c0 = cpu_us();
    if ((err = store_failing(s, NULL, &doc)) != 0) die("store_failing", err);
    q_us[run] = now_us() - t0;
    q_cpu[run] = cpu_us() - c0;
    cJSON_Delete(doc);
  }
  double failing_all_us = median_us(q_us, (size_t)all_runs);
  /* Incidents of the whole year with lead times. */
  for (int run = 0; run < all_runs; run++) {
    struct store_query q = {.since_ms = now - 365 * DAY_MS, .until_ms = -1};
    int64_t t0 = now_us(), c0 = cpu_us();
    if ((err = store_incidents(s, &q, &doc)) != 0) die("store_incidents", err);
    q_us[run] = now_us() - t0;
    q_cpu[run] = cpu_us() - c0;
    cJSON_Delete(doc);
  }
  double incidents_us = median_us(q_us, (size_t)all_runs);
  store_free(s);

  /* ---- Report. ---- */
  double full_probes = (double)o.keys * 1440.0 * 14.0;
  double per_probe_bytes = n_probes ? (double)(probe_pages * page_size) / (double)n_probes : 0;
  double per_rollup_bytes = n_rollups ? (double)(rollup_pages * page_size) / (double)n_rollups : 0;
  double other_bytes = (double)db_bytes - (double)(probe_pages + rollup_pages) * (double)page_size;
  double year_rollups = (double)o.keys * 24.0 * 365.0;
  double extrapolated = full_probes * per_probe_bytes + year_rollups * per_rollup_bytes +
                        (other_bytes > 0 ? other_bytes : 0);
  printf("Generated: %d keys, %lld raw probe rows (%d days at one a minute), %lld hourly "
         "roll-ups (%d days), %lld transitions, %lld incidents with 3 updates and a platform "
         "verdict each, 1,000 local verdicts. Generation took %.0f s (probes %.0f s, roll-ups "
         "%.0f s).\n\n",
         o.keys, (long long)n_probes, o.probe_days, (long long)n_rollups, o.rollup_days,
         (long long)n_transitions, (long long)n_incidents, (double)t_gen / 1e6,
         (double)t_probes / 1e6, (double)t_rollups / 1e6);
  printf("| measure | result | target |\n|---|---|---|\n");
  printf("| database size as generated | %.2f GB (%.0f B per raw probe row with its index, "
         "%.0f B per roll-up row) | — |\n",
         (double)db_bytes / 1e9, per_probe_bytes, per_rollup_bytes);
  if (o.probe_days != 14 || o.rollup_days != 365)
    printf("| size extrapolated to 14 days of raw probes and 365 days of roll-ups | %.2f GB | — "
           "|\n",
           extrapolated / 1e9);
  printf("| one flush of 10,000 probe rows, empty database | %.1f ms wall, %.1f ms CPU (%.0f "
         "rows/s) | ≥ 50,000 rows/s |\n",
         flush_empty_us / 1e3, flush_empty_cpu / 1e3, 10000.0 / (flush_empty_us / 1e6));
  printf("| one flush of 10,000 probe rows, full database | %.1f ms wall, %.1f ms CPU (%.0f "
         "rows/s) | ≥ 50,000 rows/s |\n",
         flush_full_us / 1e3, flush_full_cpu / 1e3, 10000.0 / (flush_full_us / 1e6));
  printf("| one flush of 1,000 probe rows (the default batch_max), full database | %.1f ms "
         "wall, %.1f ms CPU | — |\n",
         batch_med_us / 1e3, batch_med_cpu / 1e3);
  printf("| steady-state flush (2 rows: 1,000 keys/min at 100 ms ticks), %d flushes | %.2f ms "
         "median, %.2f ms p99, %.2f ms max (a WAL checkpoint) | — |\n",
         small_runs, flush_small_us / 1e3, flush_small_p99 / 1e3, flush_small_max / 1e3);
  printf("| the same with checkpoint_pages = 0 (checkpoints on a worker) | %.2f ms median, "
         "%.2f ms p99, %.2f ms max | — |\n",
         nocp_small_us / 1e3, nocp_small_p99 / 1e3, nocp_small_max / 1e3);
  printf("| store_checkpoint every 10 s (on the worker, not the loop) | %.1f ms median, %.1f ms "
         "max | — |\n",
         cp_med_us / 1e3, cp_max_us / 1e3);
  printf("| store_enqueue_probe (copying one result into the queue) | %.0f ns per row | — |\n",
         enqueue_ns);
  printf("| one maintenance step (store_maintain: merge finished hours, delete at most %zu old "
         "rows) | %.1f ms median, %.1f ms CPU (deleted %lld rows in %d steps) | — |\n",
         opt.maintain_max, maint_med_us / 1e3, maint_med_cpu / 1e3, (long long)(before - after),
         maint_runs);
  printf("| \"when did key X start failing\" (store_failing, one key, daemon handle) | %.3f ms "
         "median (CPU %.3f ms) | < 5 ms |\n",
         failing_us / 1e3, failing_cpu / 1e3);
  printf("| the same from a fresh read-only handle (the CLI: open, query, close) | %.3f ms "
         "median (CPU %.3f ms) | < 5 ms |\n",
         failing_cli_us / 1e3, failing_cli_cpu / 1e3);
  printf("| 30-day history of one key (store_history: %zu transitions, incidents, verdicts) | "
         "%.3f ms median (CPU %.3f ms) | < 5 ms |\n",
         hist_transitions, history_us / 1e3, history_cpu / 1e3);
  printf("| 30-day hourly series of one key (store_key_rollups, %zu rows) | %.3f ms median "
         "(CPU %.3f ms) | < 5 ms |\n",
         series_rows, series_us / 1e3, series_cpu / 1e3);
  printf("| every failing key (store_failing, all %d keys) | %.1f ms median | — |\n", o.keys,
         failing_all_us / 1e3);
  printf("| a year of incidents with lead times (store_incidents) | %.1f ms median | — |\n",
         incidents_us / 1e3);
  free(small_us);
  free(batch_us);
  free(batch_cpu);
  free(cp_us);
  free(maint_us);
  free(maint_cpu);
  free(q_us);
  free(q_cpu);
  free(flush_us);
  free(flush_cpu);
  free(path);
  free(wal);
  free(shm);
  return 0;
}
