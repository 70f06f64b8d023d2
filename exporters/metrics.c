/* metrics.c — the metrics registry and its Prometheus text exposition (format 0.0.4).
 * It owns every counter, gauge and histogram the daemon exports, in plain arrays indexed
 * by key, probe kind and cause; the daemon's modules call the metrics_* setters as things
 * happen and metrics_render() turns the whole state into text in one pass over a growable
 * buffer: no allocation per sample, label values redacted and escaped once when they are
 * registered, numbers formatted by hand.
 *
 * It must never put an API key, a URL or an error message in a label (only configured
 * names and enumerations), never attach a timestamp to a sample, and never block: the
 * only I/O is reading a few /proc/self files for the process_* families at render time.
 * It knows nothing of HTTP beyond filling a struct httpd_response in metrics_serve(). */
#include "exporters/metrics.h"
#include "agent/log.h"
#include "agent/util.h"

#include <curl/curl.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#define METRICS_MAX_RECEIVERS 64
#define METRICS_MAX_BUCKETS 12

/* Buckets (upper bounds, seconds) and their pre-formatted "le" values. */
static const double probe_buckets[] = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
static const char *const probe_le[] = {"0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10"};
static const double lag_buckets[] = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10};
static const char *const lag_le[] = {"0.001", "0.005", "0.01", "0.05", "0.1",
                                     "0.5",   "1",     "5",    "10"};

struct metrics_hist {
  const double *bounds;
  const char *const *le;
  size_t n;                             /* finite buckets; +Inf is implicit */
  uint64_t counts[METRICS_MAX_BUCKETS]; /* per bucket, not cumulative */
  uint64_t count;
  double sum;
};

struct metrics_key {
  char *label; /* key="escaped name" */
  size_t label_len;
  enum cause cause; /* after hysteresis */
  bool failing;
  int64_t failing_since_ms; /* -1: not failing */
  int64_t last_probe_ms;    /* -1: never probed */
};

struct metrics_component {
  char *labels; /* component_id="...",component="..." */
  enum component_status status;
};

struct metrics_receiver {
  char *label; /* receiver="escaped name" */
  uint64_t ok, error;
};

struct metrics {
  enum config_per_key mode;
  size_t n_keys;
  struct metrics_key *keys;
  /* Full mode only (NULL in minimal mode). */
  uint64_t *probes;                  /* [key][PROBE__COUNT][CAUSE__PROBE_COUNT] */
  struct ratelimit (*rl)[RL__COUNT]; /* [key][resource] */
  uint64_t (*tokens)[2];             /* [key][input, output] */

  struct metrics_hist probe_duration[PROBE__COUNT];
  struct metrics_hist sched_lag;

  bool status_up;
  enum indicator indicator;
  struct metrics_component *components;
  size_t n_components;
  uint64_t incidents[INDICATOR__COUNT]; /* unresolved incidents by impact */

  bool have_verdict;
  enum scope verdict_scope;
  enum cause verdict_cause;
  bool platform_incident;
  bool have_lead;
  double lead_s;

  uint64_t storage_errors, storage_queue;
  struct metrics_receiver receivers[METRICS_MAX_RECEIVERS];
  size_t n_receivers;
  bool receivers_full_logged;

  char *build_info; /* the label set, without sqlite */
  char *sqlite_label;
  double start_time_s; /* process_start_time_seconds, < 0 when unknown */
  size_t last_size;    /* size of the previous render: the next one starts that big */
};

/* Growable output buffer. */

struct mbuf {
  char *p;
  size_t len, cap;
};

static void mb_grow(struct mbuf *b, size_t more) {
  size_t cap = b->cap ? b->cap : 4096;
  while (cap < b->len + more)
    cap *= 2;
  b->p = xrealloc(b->p, cap);
  b->cap = cap;
}

static inline void mb_put(struct mbuf *b, const char *s, size_t n) {
  if (b->len + n > b->cap) mb_grow(b, n);
  memcpy(b->p + b->len, s, n);
  b->len += n;
}

static inline void mb_puts(struct mbuf *b, const char *s) {
  mb_put(b, s, strlen(s));
}

static inline void mb_c(struct mbuf *b, char c) {
  if (b->len + 1 > b->cap) mb_grow(b, 1);
  b->p[b->len++] = c;
}

#define MB_LIT(b, lit) mb_put((b), (lit), sizeof(lit) - 1)

static void mb_u64(struct mbuf *b, uint64_t v) {
  char tmp[24];
  size_t i = sizeof(tmp);
  do {
    tmp[--i] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  mb_put(b, tmp + i, sizeof(tmp) - i);
}

static void mb_i64(struct mbuf *b, int64_t v) {
  if (v < 0) {
    mb_c(b, '-');
    mb_u64(b, (uint64_t)0 - (uint64_t)v);
  } else {
    mb_u64(b, (uint64_t)v);
  }
}

/* mb_ms_as_seconds writes Unix milliseconds as seconds with up to 3 decimals. */
static void mb_ms_as_seconds(struct mbuf *b, int64_t ms) {
  uint64_t u = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;
  if (ms < 0) mb_c(b, '-');
  mb_u64(b, u / 1000);
  unsigned frac = (unsigned)(u % 1000);
  if (frac) {
    char f[4] = {'.', (char)('0' + frac / 100), (char)('0' + frac / 10 % 10),
                 (char)('0' + frac % 10)};
    size_t n = 4;
    while (f[n - 1] == '0')
      n--;
    mb_put(b, f, n);
  }
}

/* mb_double writes the shortest text that parses back to v (Go's ParseFloat reads it). */
static void mb_double(struct mbuf *b, double v) {
  if (isnan(v)) {
    MB_LIT(b, "NaN");
    return;
  }
  if (isinf(v)) {
    if (v > 0)
      MB_LIT(b, "+Inf");
    else
      MB_LIT(b, "-Inf");
    return;
  }
  if (v == (double)(int64_t)v && fabs(v) < 1e15) {
    mb_i64(b, (int64_t)v);
    return;
  }
  char tmp[40];
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
    if (prec == 17 || strtod(tmp, NULL) == v) break;
  }
  mb_puts(b, tmp);
}

/* Label values. */

static size_t utf8_seq_len(const unsigned char *s) {
  unsigned char c = s[0];
  size_t n;
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf)
    n = 2;
  else if (c >= 0xe0 && c <= 0xef)
    n = 3;
  else if (c >= 0xf0 && c <= 0xf4)
    n = 4;
  else
    return 0;
  for (size_t i = 1; i < n; i++)
    if ((s[i] & 0xc0) != 0x80) return 0;
  return n;
}

/* label_value returns name="value" with value redacted (anything key-shaped or a
 * registered secret becomes [REDACTED]), made valid UTF-8 without control characters
 * other than newline, and escaped as the text format wants (\\, \", \n). */
static char *label_pair(const char *name, const char *value) {
  size_t vlen = strlen(value);
  size_t cap = vlen * 2 + 32;
  char *red = xmalloc(cap);
  memcpy(red, value, vlen + 1);
  log_redact(red, cap);
  struct mbuf b = {0};
  mb_puts(&b, name);
  MB_LIT(&b, "=\"");
  const unsigned char *s = (const unsigned char *)red;
  while (*s) {
    if (*s == '\\') {
      MB_LIT(&b, "\\\\");
      s++;
    } else if (*s == '"') {
      MB_LIT(&b, "\\\"");
      s++;
    } else if (*s == '\n') {
      MB_LIT(&b, "\\n");
      s++;
    } else if (*s < 0x20 || *s == 0x7f) {
      mb_c(&b, ' ');
      s++;
    } else {
      size_t n = utf8_seq_len(s);
      if (n == 0) {
        mb_c(&b, '?');
        s++;
      } else {
        mb_put(&b, (const char *)s, n);
        s += n;
      }
    }
  }
  mb_c(&b, '"');
  mb_c(&b, '\0');
  free(red);
  /* The buffer starts at 4 KiB; each key keeps its label for the process's life, so give
   * back the rest (40 MB at 10,000 keys otherwise). */
  return xrealloc(b.p, b.len);
}

/* Histograms. */

static void hist_init(struct metrics_hist *h, const double *bounds, const char *const *le,
                      size_t n) {
  memset(h, 0, sizeof(*h));
  h->bounds = bounds;
  h->le = le;
  h->n = n;
}

static void hist_observe(struct metrics_hist *h, double v) {
  if (isnan(v)) return;
  if (v < 0) v = 0;
  size_t i = 0;
  while (i < h->n && v > h->bounds[i])
    i++;
  if (i < h->n) h->counts[i]++;
  h->count++;
  h->sum += v;
}

/* hist_render writes the series of one histogram; labels is "" or `probe="models",`. */
static void hist_render(struct mbuf *b, const char *name, const char *labels,
                        const struct metrics_hist *h) {
  uint64_t cum = 0;
  for (size_t i = 0; i <= h->n; i++) {
    mb_puts(b, name);
    MB_LIT(b, "_bucket{");
    mb_puts(b, labels);
    MB_LIT(b, "le=\"");
    if (i < h->n) {
      cum += h->counts[i];
      mb_puts(b, h->le[i]);
      MB_LIT(b, "\"} ");
      mb_u64(b, cum);
    } else {
      MB_LIT(b, "+Inf\"} ");
      mb_u64(b, h->count);
    }
    mb_c(b, '\n');
  }
  size_t ll = strlen(labels);
  mb_puts(b, name);
  MB_LIT(b, "_sum");
  if (ll) {
    mb_c(b, '{');
    mb_put(b, labels, ll - 1); /* without the trailing comma */
    mb_c(b, '}');
  }
  mb_c(b, ' ');
  mb_double(b, h->sum);
  mb_c(b, '\n');
  mb_puts(b, name);
  MB_LIT(b, "_count");
  if (ll) {
    mb_c(b, '{');
    mb_put(b, labels, ll - 1);
    mb_c(b, '}');
  }
  mb_c(b, ' ');
  mb_u64(b, h->count);
  mb_c(b, '\n');
}

/* Construction. */

struct metrics *metrics_new(size_t n_keys, const char *const *key_names, enum config_per_key mode) {
  struct metrics *m = xcalloc(1, sizeof(*m));
  m->mode = mode;
  m->n_keys = n_keys;
  m->keys = xcalloc(n_keys ? n_keys : 1, sizeof(*m->keys));
  for (size_t i = 0; i < n_keys; i++) {
    struct metrics_key *k = &m->keys[i];
    k->label = label_pair("key", key_names && key_names[i] ? key_names[i] : "");
    k->label_len = strlen(k->label);
    k->cause = CAUSE_UNKNOWN;
    k->failing_since_ms = -1;
    k->last_probe_ms = -1;
  }
  if (mode == CONFIG_PER_KEY_FULL && n_keys > 0) {
    m->probes = xcalloc(n_keys * PROBE__COUNT * CAUSE__PROBE_COUNT, sizeof(*m->probes));
    m->rl = xmalloc(n_keys * sizeof(*m->rl));
    for (size_t i = 0; i < n_keys; i++)
      for (size_t r = 0; r < RL__COUNT; r++)
        m->rl[i][r] = (struct ratelimit){-1, -1, -1};
    m->tokens = xcalloc(n_keys, sizeof(*m->tokens));
  }
  for (size_t k = 0; k < PROBE__COUNT; k++)
    hist_init(&m->probe_duration[k], probe_buckets, probe_le, UTIL_ARRAY_LEN(probe_buckets));
  hist_init(&m->sched_lag, lag_buckets, lag_le, UTIL_ARRAY_LEN(lag_buckets));
  m->indicator = INDICATOR_UNKNOWN;

  const curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);
  char *v = label_pair("version", CLAUDEMON_VERSION);
  char *c = label_pair("libcurl", cv && cv->version ? cv->version : "unknown");
  char *u = label_pair("libuv", uv_version_string());
  m->build_info = xasprintf("%s,%s,%s", v, c, u);
  free(v);
  free(c);
  free(u);
  m->sqlite_label = label_pair("sqlite", "unknown");

  /* process_start_time_seconds: boot time (/proc/stat btime) plus the process's start in
   * clock ticks after boot (/proc/self/stat field 22), as Prometheus's client_golang. */
  m->start_time_s = -1;
  FILE *f = fopen("/proc/stat", "r");
  if (f) {
    char line[256];
    long long btime = -1;
    while (fgets(line, sizeof(line), f))
      if (sscanf(line, "btime %lld", &btime) == 1) break;
    fclose(f);
    f = fopen("/proc/self/stat", "r");
    if (f && btime >= 0) {
      char buf[1024];
      size_t n = fread(buf, 1, sizeof(buf) - 1, f);
      buf[n] = '\0';
      char *p = strrchr(buf, ')');
      unsigned long long start = 0;
      /* after ')': state(3) ... starttime(22) */
      if (p && sscanf(p + 1,
                      " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d "
                      "%*d %*d %*d %llu",
                      &start) == 1) {
        long tck = sysconf(_SC_CLK_TCK);
        if (tck > 0) m->start_time_s = (double)btime + (double)start / (double)tck;
      }
    }
    if (f) fclose(f);
  }
  return m;
}

void metrics_free(struct metrics *m) {
  if (!m) return;
  for (size_t i = 0; i < m->n_keys; i++)
    free(m->keys[i].label);
  free(m->keys);
  free(m->probes);
  free(m->rl);
  free(m->tokens);
  for (size_t i = 0; i < m->n_components; i++)
    free(m->components[i].labels);
  free(m->components);
  for (size_t i = 0; i < m->n_receivers; i++)
    free(m->receivers[i].label);
  free(m->build_info);
  free(m->sqlite_label);
  free(m);
}

void metrics_build_info(struct metrics *m, const char *sqlite_version) {
  if (!m) return;
  free(m->sqlite_label);
  m->sqlite_label =
      label_pair("sqlite", sqlite_version && *sqlite_version ? sqlite_version : "unknown");
}

/* Updates. */

int metrics_probe_done(struct metrics *m, size_t key_index, enum probe_kind kind, enum cause cause,
                       double duration_s) {
  if (!m || key_index >= m->n_keys || (unsigned)kind >= PROBE__COUNT ||
      (unsigned)cause >= CAUSE__PROBE_COUNT)
    return UTIL_EINVAL;
  if (m->probes) m->probes[(key_index * PROBE__COUNT + kind) * CAUSE__PROBE_COUNT + cause]++;
  hist_observe(&m->probe_duration[kind], duration_s);
  return 0;
}

int metrics_tokens(struct metrics *m, size_t key_index, int64_t input, int64_t output) {
  if (!m || key_index >= m->n_keys) return UTIL_EINVAL;
  if (!m->tokens) return 0;
  if (input > 0) m->tokens[key_index][0] += (uint64_t)input;
  if (output > 0) m->tokens[key_index][1] += (uint64_t)output;
  return 0;
}

void metrics_sched_lag(struct metrics *m, double seconds) {
  if (m) hist_observe(&m->sched_lag, seconds);
}

void metrics_storage(struct metrics *m, uint64_t errors_total, uint64_t queue_length) {
  if (!m) return;
  m->storage_errors = errors_total;
  m->storage_queue = queue_length;
}

void metrics_alert_sent(struct metrics *m, const char *receiver, bool ok) {
  if (!m || !receiver) return;
  /* A URL is never a receiver's name: refuse to export one even when a caller errs. */
  const char *name = strstr(receiver, "://") ? "invalid" : receiver;
  char *label = label_pair("receiver", name);
  struct metrics_receiver *r = NULL;
  for (size_t i = 0; i < m->n_receivers; i++)
    if (strcmp(m->receivers[i].label, label) == 0) r = &m->receivers[i];
  if (!r) {
    if (m->n_receivers == METRICS_MAX_RECEIVERS) {
      if (!m->receivers_full_logged)
        log_warn("too many alert receivers for metrics", "max=%d", METRICS_MAX_RECEIVERS);
      m->receivers_full_logged = true;
      free(label);
      return;
    }
    r = &m->receivers[m->n_receivers++];
    r->label = label;
    label = NULL;
  }
  free(label);
  if (ok)
    r->ok++;
  else
    r->error++;
}

int metrics_key_state(struct metrics *m, size_t key_index, enum cause cause, bool failing,
                      int64_t failing_since_ms, int64_t last_probe_ms) {
  if (!m || key_index >= m->n_keys || (unsigned)cause >= CAUSE__PROBE_COUNT) return UTIL_EINVAL;
  struct metrics_key *k = &m->keys[key_index];
  k->cause = cause;
  k->failing = failing;
  k->failing_since_ms = failing ? failing_since_ms : -1;
  k->last_probe_ms = last_probe_ms;
  return 0;
}

int metrics_key_ratelimit(struct metrics *m, size_t key_index,
                          const struct ratelimit rl[RL__COUNT]) {
  if (!m || key_index >= m->n_keys || !rl) return UTIL_EINVAL;
  if (!m->rl) return 0;
  memcpy(m->rl[key_index], rl, sizeof(m->rl[key_index]));
  return 0;
}

void metrics_status(struct metrics *m, const struct status_snapshot *s) {
  if (!m || !s) return;
  m->status_up = s->reachable;
  m->indicator = (unsigned)s->indicator < INDICATOR__COUNT ? s->indicator : INDICATOR_UNKNOWN;
  for (size_t i = 0; i < m->n_components; i++)
    free(m->components[i].labels);
  free(m->components);
  m->components = NULL;
  m->n_components = 0;
  size_t watched = 0;
  for (size_t i = 0; i < s->n_components; i++)
    watched += s->components[i].watched;
  if (watched) m->components = xcalloc(watched, sizeof(*m->components));
  for (size_t i = 0; i < s->n_components; i++) {
    const struct status_component *c = &s->components[i];
    /* The bound holds by the count above; it is here for the analyzer, which cannot tell
     * that both loops see the same flags. */
    if (!c->watched || m->n_components >= watched) continue;
    /* Text from outside: sanitised (control characters, invalid UTF-8) before escaping. */
    char id[MODEL_SP_ID_MAX], name[MODEL_SP_NAME_MAX];
    util_sanitize(id, sizeof(id), c->id, strnlen(c->id, sizeof(c->id)));
    util_sanitize(name, sizeof(name), c->name, strnlen(c->name, sizeof(c->name)));
    char *a = label_pair("component_id", id);
    char *b = label_pair("component", name);
    struct metrics_component *mc = &m->components[m->n_components++];
    mc->labels = xasprintf("%s,%s", a, b);
    mc->status = (unsigned)c->status < COMPONENT__COUNT ? c->status : COMPONENT_UNKNOWN;
    free(a);
    free(b);
  }
  memset(m->incidents, 0, sizeof(m->incidents));
  for (size_t i = 0; i < s->n_incidents; i++) {
    enum indicator imp = s->incidents[i].impact;
    m->incidents[(unsigned)imp < INDICATOR__COUNT ? imp : INDICATOR_UNKNOWN]++;
  }
}

void metrics_status_page_up(struct metrics *m, bool up) {
  if (m) m->status_up = up;
}

void metrics_verdict(struct metrics *m, enum scope scope, enum cause cause) {
  if (!m || (unsigned)scope >= SCOPE__COUNT || (unsigned)cause >= CAUSE__COUNT) return;
  m->have_verdict = true;
  m->verdict_scope = scope;
  m->verdict_cause = cause;
}

void metrics_platform_incident(struct metrics *m, bool declared) {
  if (m) m->platform_incident = declared;
}

void metrics_detection_lead(struct metrics *m, double seconds) {
  if (!m || isnan(seconds)) return;
  m->have_lead = true;
  m->lead_s = seconds;
}

/* Rendering. */

static void family(struct mbuf *b, const char *name, const char *type, const char *help) {
  MB_LIT(b, "# HELP ");
  mb_puts(b, name);
  mb_c(b, ' ');
  mb_puts(b, help);
  MB_LIT(b, "\n# TYPE ");
  mb_puts(b, name);
  mb_c(b, ' ');
  mb_puts(b, type);
  mb_c(b, '\n');
}

/* key_sample writes name{key="..."[,extra]} and leaves the value to the caller. */
static inline void key_sample(struct mbuf *b, const char *name, size_t name_len,
                              const struct metrics_key *k) {
  mb_put(b, name, name_len);
  mb_c(b, '{');
  mb_put(b, k->label, k->label_len);
}

#define KEY_SAMPLE(b, lit, k) key_sample((b), (lit), sizeof(lit) - 1, (k))

static void render_keys(struct metrics *m, struct mbuf *b) {
  bool full = m->mode == CONFIG_PER_KEY_FULL;

  family(b, "claudemon_key_up", "gauge", "1 when the key's current cause is ok.");
  for (size_t i = 0; i < m->n_keys; i++) {
    KEY_SAMPLE(b, "claudemon_key_up", &m->keys[i]);
    if (m->keys[i].cause == CAUSE_OK)
      MB_LIT(b, "} 1\n");
    else
      MB_LIT(b, "} 0\n");
  }

  if (full) {
    family(b, "claudemon_key_failing", "gauge", "1 while the key is failing after hysteresis.");
    for (size_t i = 0; i < m->n_keys; i++) {
      KEY_SAMPLE(b, "claudemon_key_failing", &m->keys[i]);
      if (m->keys[i].failing)
        MB_LIT(b, "} 1\n");
      else
        MB_LIT(b, "} 0\n");
    }
  }

  family(b, "claudemon_key_cause", "gauge",
         "The key's current cause after hysteresis: one series per key, value 1.");
  for (size_t i = 0; i < m->n_keys; i++) {
    KEY_SAMPLE(b, "claudemon_key_cause", &m->keys[i]);
    MB_LIT(b, ",cause=\"");
    mb_puts(b, cause_name(m->keys[i].cause));
    MB_LIT(b, "\"} 1\n");
  }

  family(b, "claudemon_key_failing_since_timestamp_seconds", "gauge",
         "Start of the key's current failure (Unix seconds); absent when healthy.");
  for (size_t i = 0; i < m->n_keys; i++) {
    const struct metrics_key *k = &m->keys[i];
    if (!k->failing || k->failing_since_ms < 0) continue;
    KEY_SAMPLE(b, "claudemon_key_failing_since_timestamp_seconds", k);
    MB_LIT(b, "} ");
    mb_ms_as_seconds(b, k->failing_since_ms);
    mb_c(b, '\n');
  }

  if (!full) return;

  family(b, "claudemon_key_last_probe_timestamp_seconds", "gauge",
         "When the key was last probed (Unix seconds); absent before its first probe.");
  for (size_t i = 0; i < m->n_keys; i++) {
    const struct metrics_key *k = &m->keys[i];
    if (k->last_probe_ms < 0) continue;
    KEY_SAMPLE(b, "claudemon_key_last_probe_timestamp_seconds", k);
    MB_LIT(b, "} ");
    mb_ms_as_seconds(b, k->last_probe_ms);
    mb_c(b, '\n');
  }

  family(b, "claudemon_probes_total", "counter",
         "Probes done, by key, probe kind and cause (series appear when first non-zero).");
  for (size_t i = 0; i < m->n_keys; i++) {
    const uint64_t *row = &m->probes[i * PROBE__COUNT * CAUSE__PROBE_COUNT];
    for (size_t kind = 0; kind < PROBE__COUNT; kind++) {
      for (size_t c = 0; c < CAUSE__PROBE_COUNT; c++) {
        uint64_t v = row[kind * CAUSE__PROBE_COUNT + c];
        if (!v) continue;
        KEY_SAMPLE(b, "claudemon_probes_total", &m->keys[i]);
        MB_LIT(b, ",probe=\"");
        mb_puts(b, probe_kind_name((enum probe_kind)kind));
        MB_LIT(b, "\",cause=\"");
        mb_puts(b, cause_name((enum cause)c));
        MB_LIT(b, "\"} ");
        mb_u64(b, v);
        mb_c(b, '\n');
      }
    }
  }
}

static void render_key_details(struct metrics *m, struct mbuf *b) {
  if (m->mode != CONFIG_PER_KEY_FULL) return;
  static const char *const names[2] = {"claudemon_ratelimit_limit",
                                       "claudemon_ratelimit_remaining"};
  static const char *const helps[2] = {
      "Rate limit of the key from its last anthropic-ratelimit-*-limit header.",
      "Remaining of the key's rate limit from its last anthropic-ratelimit-*-remaining header."};
  for (int which = 0; which < 2; which++) {
    family(b, names[which], "gauge", helps[which]);
    size_t nlen = strlen(names[which]);
    for (size_t i = 0; i < m->n_keys; i++) {
      for (size_t r = 0; r < RL__COUNT; r++) {
        int64_t v = which == 0 ? m->rl[i][r].limit : m->rl[i][r].remaining;
        if (v < 0) continue;
        key_sample(b, names[which], nlen, &m->keys[i]);
        MB_LIT(b, ",resource=\"");
        mb_puts(b, rl_resource_name((enum rl_resource)r));
        MB_LIT(b, "\"} ");
        mb_i64(b, v);
        mb_c(b, '\n');
      }
    }
  }

  family(b, "claudemon_probe_tokens_total", "counter",
         "Tokens spent by messages probes, by key and direction (series appear when first "
         "non-zero).");
  for (size_t i = 0; i < m->n_keys; i++) {
    if (!m->tokens[i][0] && !m->tokens[i][1]) continue;
    KEY_SAMPLE(b, "claudemon_probe_tokens_total", &m->keys[i]);
    MB_LIT(b, ",direction=\"input\"} ");
    mb_u64(b, m->tokens[i][0]);
    mb_c(b, '\n');
    KEY_SAMPLE(b, "claudemon_probe_tokens_total", &m->keys[i]);
    MB_LIT(b, ",direction=\"output\"} ");
    mb_u64(b, m->tokens[i][1]);
    mb_c(b, '\n');
  }
}

static void render_status(struct metrics *m, struct mbuf *b) {
  family(b, "claudemon_status_page_up", "gauge", "1 when the last status page poll succeeded.");
  MB_LIT(b, "claudemon_status_page_up ");
  mb_c(b, m->status_up ? '1' : '0');
  mb_c(b, '\n');

  family(b, "claudemon_status_indicator", "gauge",
         "Status page indicator as a StateSet: one series per value, 1 for the current one.");
  for (int i = 0; i < INDICATOR__COUNT; i++) {
    MB_LIT(b, "claudemon_status_indicator{indicator=\"");
    mb_puts(b, indicator_name((enum indicator)i));
    MB_LIT(b, "\"} ");
    mb_c(b, (int)m->indicator == i ? '1' : '0');
    mb_c(b, '\n');
  }

  family(b, "claudemon_status_component", "gauge",
         "Status of each watched status page component as a StateSet: one series per status, "
         "1 for the current one.");
  for (size_t c = 0; c < m->n_components; c++) {
    for (int s = 0; s < COMPONENT__COUNT; s++) {
      MB_LIT(b, "claudemon_status_component{");
      mb_puts(b, m->components[c].labels);
      MB_LIT(b, ",status=\"");
      mb_puts(b, component_status_name((enum component_status)s));
      MB_LIT(b, "\"} ");
      mb_c(b, (int)m->components[c].status == s ? '1' : '0');
      mb_c(b, '\n');
    }
  }

  family(b, "claudemon_status_incidents", "gauge", "Unresolved status page incidents, by impact.");
  for (int i = 0; i < INDICATOR__COUNT; i++) {
    MB_LIT(b, "claudemon_status_incidents{impact=\"");
    mb_puts(b, indicator_name((enum indicator)i));
    MB_LIT(b, "\"} ");
    mb_u64(b, m->incidents[i]);
    mb_c(b, '\n');
  }
}

static void render_verdict(struct metrics *m, struct mbuf *b) {
  family(b, "claudemon_verdict", "gauge",
         "The current verdict: one series labelled with its scope and cause, value 1.");
  if (m->have_verdict) {
    MB_LIT(b, "claudemon_verdict{scope=\"");
    mb_puts(b, scope_name(m->verdict_scope));
    MB_LIT(b, "\",cause=\"");
    mb_puts(b, cause_name(m->verdict_cause));
    MB_LIT(b, "\"} 1\n");
  }
  family(b, "claudemon_platform_incident", "gauge", "1 while a platform incident is declared.");
  MB_LIT(b, "claudemon_platform_incident ");
  mb_c(b, m->platform_incident ? '1' : '0');
  mb_c(b, '\n');
  family(b, "claudemon_detection_lead_seconds", "gauge",
         "Lead time of the last platform incident: the status page's publication minus our "
         "declaration (positive: we were first).");
  if (m->have_lead) {
    MB_LIT(b, "claudemon_detection_lead_seconds ");
    mb_double(b, m->lead_s);
    mb_c(b, '\n');
  }
}

static void render_internals(struct metrics *m, struct mbuf *b) {
  family(b, "claudemon_scheduler_lag_seconds", "histogram",
         "How late probes started against their plan.");
  hist_render(b, "claudemon_scheduler_lag_seconds", "", &m->sched_lag);

  family(b, "claudemon_storage_errors_total", "counter", "Storage writer errors.");
  MB_LIT(b, "claudemon_storage_errors_total ");
  mb_u64(b, m->storage_errors);
  mb_c(b, '\n');
  family(b, "claudemon_storage_queue_length", "gauge", "Rows waiting for the storage writer.");
  MB_LIT(b, "claudemon_storage_queue_length ");
  mb_u64(b, m->storage_queue);
  mb_c(b, '\n');

  family(b, "claudemon_alerts_sent_total", "counter",
         "Alert pushes by configured receiver name and result (ok, error).");
  for (size_t i = 0; i < m->n_receivers; i++) {
    const struct metrics_receiver *r = &m->receivers[i];
    MB_LIT(b, "claudemon_alerts_sent_total{");
    mb_puts(b, r->label);
    MB_LIT(b, ",result=\"ok\"} ");
    mb_u64(b, r->ok);
    MB_LIT(b, "\nclaudemon_alerts_sent_total{");
    mb_puts(b, r->label);
    MB_LIT(b, ",result=\"error\"} ");
    mb_u64(b, r->error);
    mb_c(b, '\n');
  }

  family(b, "claudemon_build_info", "gauge",
         "Versions of claudemon and of the libraries it runs with; always 1.");
  MB_LIT(b, "claudemon_build_info{");
  mb_puts(b, m->build_info);
  mb_c(b, ',');
  mb_puts(b, m->sqlite_label);
  MB_LIT(b, "} 1\n");
}

/* read_file_small reads a /proc file into buf; returns its length or -1. */
static ssize_t read_proc(const char *path, char *buf, size_t bufsz) {
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  size_t n = fread(buf, 1, bufsz - 1, f);
  fclose(f);
  buf[n] = '\0';
  return (ssize_t)n;
}

static void single_sample(struct mbuf *b, const char *name, const char *type, const char *help,
                          double v) {
  family(b, name, type, help);
  mb_puts(b, name);
  mb_c(b, ' ');
  mb_double(b, v);
  mb_c(b, '\n');
}

/* render_process writes the process_* families the way Prometheus's client libraries do;
 * a value that cannot be read is left out. */
static void render_process(struct metrics *m, struct mbuf *b) {
  char buf[4096];
  long tck = sysconf(_SC_CLK_TCK);
  long page = sysconf(_SC_PAGESIZE);
  if (read_proc("/proc/self/stat", buf, sizeof(buf)) > 0) {
    char *p = strrchr(buf, ')');
    unsigned long utime = 0, stime = 0, vsize = 0;
    if (p && tck > 0 &&
        sscanf(p + 1,
               " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d %*d "
               "%*d %*u %lu",
               &utime, &stime, &vsize) == 3) {
      single_sample(b, "process_cpu_seconds_total", "counter",
                    "Total user and system CPU time spent in seconds.",
                    (double)(utime + stime) / (double)tck);
      single_sample(b, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
                    (double)vsize);
    }
  }
  if (read_proc("/proc/self/statm", buf, sizeof(buf)) > 0) {
    unsigned long size = 0, resident = 0;
    if (page > 0 && sscanf(buf, "%lu %lu", &size, &resident) == 2)
      single_sample(b, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
                    (double)resident * (double)page);
  }
  DIR *d = opendir("/proc/self/fd");
  if (d) {
    uint64_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
      if (e->d_name[0] != '.') n++;
    closedir(d);
    if (n > 0) n--; /* the directory stream's own descriptor */
    single_sample(b, "process_open_fds", "gauge", "Number of open file descriptors.", (double)n);
  }
  if (read_proc("/proc/self/limits", buf, sizeof(buf)) > 0) {
    char *p = strstr(buf, "Max open files");
    unsigned long long soft = 0;
    if (p && sscanf(p + strlen("Max open files"), " %llu", &soft) == 1)
      single_sample(b, "process_max_fds", "gauge", "Maximum number of open file descriptors.",
                    (double)soft);
  }
  if (m->start_time_s >= 0)
    single_sample(b, "process_start_time_seconds", "gauge",
                  "Start time of the process since unix epoch in seconds.", m->start_time_s);
}

int metrics_render(struct metrics *m, char **out, size_t *len) {
  struct mbuf b = {0};
  mb_grow(&b, m->last_size ? m->last_size + m->last_size / 8 + 1024 : 16384);

  family(&b, "claudemon_probe_duration_seconds", "histogram",
         "Total probe time, all keys together, by probe kind.");
  for (int k = 0; k < PROBE__COUNT; k++) {
    char labels[48];
    snprintf(labels, sizeof(labels), "probe=\"%s\",", probe_kind_name((enum probe_kind)k));
    hist_render(&b, "claudemon_probe_duration_seconds", labels, &m->probe_duration[k]);
  }
  render_keys(m, &b);
  render_key_details(m, &b);
  render_status(m, &b);
  render_verdict(m, &b);
  render_internals(m, &b);
  render_process(m, &b);

  m->last_size = b.len;
  mb_c(&b, '\0');
  *out = b.p;
  *len = b.len - 1;
  return 0;
}

void metrics_serve(void *arg, const struct httpd_request *req, struct httpd_response *res) {
  (void)req;
  struct metrics *m = arg;
  metrics_render(m, &res->body, &res->len);
  res->status = 200;
  res->content_type = METRICS_CONTENT_TYPE;
}
