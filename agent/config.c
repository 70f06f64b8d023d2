/* config.c — reads the YAML configuration (libyaml's document API, so every node keeps its
 * line and column) into a struct config, fills in the defaults, validates every field and
 * collects every problem as "FILE:LINE:COL: message" instead of stopping at the first one.
 * It also holds the embedded default config, parsed through the very same code, and reads
 * secrets from the variables and files a config names.
 *
 * It must never hold, print or echo a secret: a config stores only the names of variables
 * and files; an inline secret is refused by its field name before its value is looked at,
 * and no message repeats a value that looks like a key. Secrets are read only by
 * config_read_secret(), into memory the caller wipes with config_secret_free().
 *
 * Everything here runs before the loop starts (or on reload, beside the running config):
 * it may block on the file system, never on the network. */
#include "agent/config.h"
#include "agent/log.h"
#include "agent/util.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#define CONFIG_MAX_FILE_BYTES ((size_t)16 * 1024 * 1024)
#define CONFIG_MAX_SECRET_BYTES ((size_t)64 * 1024)
#define CONFIG_MAX_MESSAGES 100 /* per list; the rest are counted, not kept */
#define CONFIG_EMBEDDED_NAME "<embedded>"
#define CONFIG_EMBEDDED_LABEL "default config" /* how messages name the embedded config */

/* The embedded default config: what `claudemon run` uses without -c. Every value equals the
 * default the parser fills in when a field is absent; keep the two and docs/config.md in
 * step (test_config.c checks the first two agree). */
static const char default_yaml[] = "# claudemon's embedded default config (docs/config.md).\n"
                                   "listen: 127.0.0.1:9464\n"
                                   "database: ./claudemon.db\n"
                                   "api:\n"
                                   "  base_url: https://api.anthropic.com\n"
                                   "  version: \"2023-06-01\"\n"
                                   "  timeout: 10s\n"
                                   "  max_transfers: 64\n"
                                   "  max_host_connections: 8\n"
                                   "  min_interval: 10s\n"
                                   "  max_body_bytes: 65536\n"
                                   "status_page:\n"
                                   "  enabled: true\n"
                                   "  url: https://status.claude.com/api/v2/summary.json\n"
                                   "  interval: 60s\n"
                                   "  timeout: 10s\n"
                                   "  components: [k8w3r06qmzrp]\n"
                                   "classifier:\n"
                                   "  fail_after: 3\n"
                                   "  window: 5\n"
                                   "  recover_after: 2\n"
                                   "  quorum: 0.5\n"
                                   "  mismatch_after: 5m\n"
                                   "retention:\n"
                                   "  probes: 14d\n"
                                   "  rollups: 400d\n"
                                   "keys:\n"
                                   "  - name: default\n"
                                   "    key_env: ANTHROPIC_API_KEY\n"
                                   "    probes:\n"
                                   "      models: { interval: 60s }\n"
                                   "alerting:\n"
                                   "  resend_interval: 60s\n"
                                   "metrics:\n"
                                   "  per_key: full\n";

/* ---- messages ---------------------------------------------------------------------------- */

struct msg {
  int line, col; /* 0 when the message is about the whole file */
  size_t seq;    /* order of arrival, so sorting by position is stable */
  char *text;    /* complete: "FILE:LINE:COL: ..." */
};

struct msgs {
  struct msg *v;
  size_t n, cap;
  size_t dropped; /* beyond CONFIG_MAX_MESSAGES */
};

/* Where a section sits, for the advice given when one of its fields holds a secret. */
enum section {
  SEC_ROOT,
  SEC_API,
  SEC_STATUS_PAGE,
  SEC_CLASSIFIER,
  SEC_RETENTION,
  SEC_KEY,
  SEC_PROBES,
  SEC_PROBE,
  SEC_ALERTING,
  SEC_WEBHOOK,
  SEC_METRICS,
  SEC_WEB
};

struct parser {
  const char *name; /* FILE as the user gave it: every message starts with it */
  bool embedded;    /* the default config: messages carry no line and column */
  char *base_dir;   /* folder relative paths are resolved against; NULL keeps them */
  yaml_document_t *doc;
  struct config *c;
  struct msgs errors, warnings;
  size_t seq;
};

static void msgs_free(struct msgs *m) {
  for (size_t i = 0; i < m->n; i++)
    free(m->v[i].text);
  free(m->v);
  memset(m, 0, sizeof(*m));
}

static void vadd(struct parser *p, struct msgs *m, bool warning, int line, int col, const char *fmt,
                 va_list ap) __attribute__((format(printf, 6, 0)));

static void vadd(struct parser *p, struct msgs *m, bool warning, int line, int col, const char *fmt,
                 va_list ap) {
  if (m->n >= CONFIG_MAX_MESSAGES) {
    m->dropped++;
    return;
  }
  char *body;
  if (vasprintf(&body, fmt, ap) < 0) abort();
  char *text;
  const char *kind = warning ? "warning: " : "";
  if (p->embedded)
    text = xasprintf("%s: %s%s", CONFIG_EMBEDDED_LABEL, kind, body);
  else if (line <= 0)
    text = xasprintf("%s: %s%s", p->name, kind, body);
  else
    text = xasprintf("%s:%d:%d: %s%s", p->name, line, col, kind, body);
  free(body);
  if (m->n == m->cap) {
    m->cap = m->cap ? 2 * m->cap : 8;
    m->v = xrealloc(m->v, m->cap * sizeof(*m->v));
  }
  m->v[m->n++] =
      (struct msg){.line = p->embedded ? 0 : line, .col = col, .seq = p->seq++, .text = text};
}

static int node_line(const yaml_node_t *n) {
  return n ? (int)n->start_mark.line + 1 : 0;
}

static int node_col(const yaml_node_t *n) {
  return n ? (int)n->start_mark.column + 1 : 0;
}

/* perr records an error about node n (NULL: about the whole file). */
static void perr(struct parser *p, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void perr(struct parser *p, const yaml_node_t *n, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vadd(p, &p->errors, false, node_line(n), node_col(n), fmt, ap);
  va_end(ap);
}

static void pwarn(struct parser *p, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void pwarn(struct parser *p, const yaml_node_t *n, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vadd(p, &p->warnings, true, node_line(n), node_col(n), fmt, ap);
  va_end(ap);
}

/* perr_at records an error at an explicit 1-based position (libyaml's own errors). */
static void perr_at(struct parser *p, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void perr_at(struct parser *p, int line, int col, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vadd(p, &p->errors, false, line, col, fmt, ap);
  va_end(ap);
}

static int msg_cmp(const void *a, const void *b) {
  const struct msg *x = a, *y = b;
  if (x->line != y->line) return x->line < y->line ? -1 : 1;
  if (x->col != y->col) return x->col < y->col ? -1 : 1;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* flush moves the messages, sorted by position, to the end of a diag list. */
static void flush(struct parser *p, struct msgs *m, bool warning, char ***list, size_t *n) {
  size_t extra = m->dropped ? 1 : 0;
  if (m->n + extra == 0) return;
  qsort(m->v, m->n, sizeof(*m->v), msg_cmp);
  *list = xrealloc(*list, (*n + m->n + extra) * sizeof(**list));
  for (size_t i = 0; i < m->n; i++) {
    (*list)[(*n)++] = m->v[i].text;
    m->v[i].text = NULL;
  }
  if (m->dropped)
    (*list)[(*n)++] =
        xasprintf("%s: %zu more %s not shown", p->embedded ? CONFIG_EMBEDDED_LABEL : p->name,
                  m->dropped, warning ? "warnings" : "errors");
  msgs_free(m);
}

void config_diag_free(struct config_diag *d) {
  if (!d) return;
  for (size_t i = 0; i < d->n_errors; i++)
    free(d->errors[i]);
  for (size_t i = 0; i < d->n_warnings; i++)
    free(d->warnings[i]);
  free(d->errors);
  free(d->warnings);
  memset(d, 0, sizeof(*d));
}

static void diag_add(char ***list, size_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void diag_add(char ***list, size_t *n, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *text;
  if (vasprintf(&text, fmt, ap) < 0) abort();
  va_end(ap);
  *list = xrealloc(*list, (*n + 1) * sizeof(**list));
  (*list)[(*n)++] = text;
}

/* ---- what may be echoed ------------------------------------------------------------------- */

/* looks_like_api_key: anything holding an Anthropic key prefix is treated as a key. */
static bool looks_like_api_key(const char *s) {
  return strstr(s, "sk-ant-") != NULL;
}

/* echo copies a value from the file into buf for a message, unless it could be a secret
 * (a key prefix, or a long unbroken token): then a placeholder stands in for it. */
static const char *echo(char *buf, size_t bufsz, const char *s) {
  size_t len = strlen(s);
  if (looks_like_api_key(s) || (len > 40 && !strpbrk(s, " /."))) {
    util_copy(buf, bufsz, "(value not shown)");
    return buf;
  }
  if (len > 48) len = 48;
  util_sanitize(buf, bufsz, s, len);
  if (strlen(s) > 48 && strlen(buf) + 4 < bufsz) strcat(buf, "...");
  return buf;
}

static const char msg_inline_key[] =
    "inline API keys are not allowed: put the key in an environment variable and name it "
    "with key_env, or in a file named with key_file";

/* ---- nodes -------------------------------------------------------------------------------- */

static yaml_node_t *node_at(struct parser *p, int id) {
  return yaml_document_get_node(p->doc, id);
}

static const char *scalar(const yaml_node_t *n) {
  return (const char *)n->data.scalar.value;
}

static bool is_null(const yaml_node_t *n) {
  if (!n) return true;
  if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return false;
  const char *v = scalar(n);
  return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") || !strcmp(v, "NULL");
}

static bool is_plain(const yaml_node_t *n) {
  return n->type == YAML_SCALAR_NODE && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
}

static bool is_number_text(const char *s) {
  if (!*s) return false;
  char *end;
  errno = 0;
  double d = strtod(s, &end);
  return !*end && !errno && isfinite(d) && !isspace((unsigned char)*s);
}

static bool parse_bool_text(const char *s, bool *b) {
  if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE")) {
    *b = true;
    return true;
  }
  if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE")) {
    *b = false;
    return true;
  }
  return false;
}

/* describe names what a node is, for "expected X, got Y". */
static const char *describe(const yaml_node_t *n) {
  if (is_null(n)) return "nothing";
  switch (n->type) {
  case YAML_MAPPING_NODE:
    return "a map";
  case YAML_SEQUENCE_NODE:
    return "a list";
  case YAML_SCALAR_NODE: {
    bool b;
    if (!is_plain(n)) return "a quoted string";
    if (parse_bool_text(scalar(n), &b)) return "a boolean";
    if (is_number_text(scalar(n))) return "a number";
    return "a string";
  }
  default:
    return "nothing";
  }
}

/* type_error reports a node of the wrong kind. A scalar that looks like a key gets the
 * inline-key message instead, so a key pasted in the wrong place is named as such. */
static void type_error(struct parser *p, const yaml_node_t *n, const char *path,
                       const char *expected) {
  if (n && n->type == YAML_SCALAR_NODE && looks_like_api_key(scalar(n))) {
    perr(p, n, "%s: %s", path, msg_inline_key);
    return;
  }
  perr(p, n, "%s: expected %s, got %s", path, expected, describe(n));
}

/* ---- maps and their fields ---------------------------------------------------------------- */

static size_t edit_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > 64 || lb > 64) return SIZE_MAX;
  size_t row[65];
  for (size_t j = 0; j <= lb; j++)
    row[j] = j;
  for (size_t i = 1; i <= la; i++) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= lb; j++) {
      size_t up = row[j];
      size_t cost = tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1]) ? 0 : 1;
      size_t best = diag + cost;
      if (up + 1 < best) best = up + 1;
      if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
      row[j] = best;
      diag = up;
    }
  }
  return row[lb];
}

static bool name_in(const char *name, const char *const *list) {
  for (size_t i = 0; list[i]; i++)
    if (!strcmp(name, list[i])) return true;
  return false;
}

static bool has_suffix(const char *s, const char *suffix) {
  size_t ls = strlen(s), lx = strlen(suffix);
  return ls >= lx && !strcmp(s + ls - lx, suffix);
}

/* inline_secret_advice returns the message for a field that would hold a secret inline,
 * or NULL. It is decided on the field's name alone: the value is never read. */
static const char *inline_secret_advice(enum section sec, const char *name) {
  static const char *const key_names[] = {"key",       "api_key",           "apikey", "x_api_key",
                                          "x-api-key", "anthropic_api_key", NULL};
  static const char *const password_names[] = {"password", "proxy_password", "basic_auth_password",
                                               NULL};
  static const char *const hmac_names[] = {"hmac_secret", "hmac_key", "secret", NULL};
  if (name_in(name, key_names)) return msg_inline_key;
  if (sec == SEC_WEBHOOK && !strcmp(name, "url"))
    return "inline webhook URLs are not allowed (they often carry a token): put the URL in "
           "an environment variable and name it with url_env, or in a file named with url_file";
  if ((sec == SEC_WEBHOOK || sec == SEC_ALERTING) && name_in(name, hmac_names))
    return "inline HMAC secrets are not allowed: put the secret in an environment variable "
           "and name it with hmac_secret_env, or in a file named with hmac_secret_file";
  if (sec == SEC_API && name_in(name, password_names))
    return "inline proxy passwords are not allowed: put the password in an environment "
           "variable and name it with proxy_password_env, or in a file named with "
           "proxy_password_file";
  if (sec == SEC_WEB && name_in(name, password_names))
    return "inline passwords are not allowed: put the password in an environment variable "
           "and name it with basic_auth_password_env, or in a file named with "
           "basic_auth_password_file";
  if (name_in(name, password_names) || name_in(name, hmac_names) || !strcmp(name, "token") ||
      has_suffix(name, "_password") || has_suffix(name, "_secret") || has_suffix(name, "_token"))
    return "inline secrets are not allowed: put the secret in an environment variable or a "
           "file and name it with the matching *_env or *_file field (see docs/config.md)";
  return NULL;
}

/* check_map validates a map's field names: unknown fields (with the closest known one),
 * inline secrets, duplicates. Returns true when n is a map to read fields from; false when
 * it is null (keep the defaults) or not a map (reported). */
static bool check_map(struct parser *p, const yaml_node_t *n, const char *path, enum section sec,
                      const char *const *fields) {
  if (is_null(n)) return false;
  if (n->type != YAML_MAPPING_NODE) {
    type_error(p, n, path, "a map (field: value lines)");
    return false;
  }
  int first_line[32] = {0}; /* per known field: line of its first occurrence */
  for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
    yaml_node_t *k = node_at(p, pr->key);
    if (!k || k->type != YAML_SCALAR_NODE) {
      perr(p, k, "%s: field names must be plain text, got %s", path, describe(k));
      continue;
    }
    const char *name = scalar(k);
    size_t idx = 0;
    while (fields[idx] && strcmp(fields[idx], name) != 0)
      idx++;
    if (fields[idx]) {
      if (idx < UTIL_ARRAY_LEN(first_line) && first_line[idx])
        perr(p, k, "duplicate field '%s' in %s (first at line %d)", name, path, first_line[idx]);
      else if (idx < UTIL_ARRAY_LEN(first_line))
        first_line[idx] = node_line(k);
      continue;
    }
    const char *advice = inline_secret_advice(sec, name);
    if (advice) {
      perr(p, k, "%s", advice);
      continue;
    }
    char shown[64];
    echo(shown, sizeof(shown), name);
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    for (size_t i = 0; fields[i]; i++) {
      size_t d = edit_distance(name, fields[i]);
      if (d < best_d) {
        best_d = d;
        best = fields[i];
      }
    }
    if (best && best_d <= 2 && best_d < strlen(name)) {
      perr(p, k, "unknown field '%s' (did you mean '%s'?)", shown, best);
    } else {
      char known[512] = "";
      for (size_t i = 0; fields[i]; i++) {
        if (i) strncat(known, ", ", sizeof(known) - strlen(known) - 1);
        strncat(known, fields[i], sizeof(known) - strlen(known) - 1);
      }
      perr(p, k, "unknown field '%s' in %s (known fields: %s)", shown, path, known);
    }
  }
  return true;
}

/* map_get returns the value of field name in map n (the first, if repeated), or NULL. */
static yaml_node_t *map_get(struct parser *p, const yaml_node_t *n, const char *name) {
  for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
    yaml_node_t *k = node_at(p, pr->key);
    if (k && k->type == YAML_SCALAR_NODE && !strcmp(scalar(k), name)) return node_at(p, pr->value);
  }
  return NULL;
}

/* ---- scalar fields ------------------------------------------------------------------------ */
/* Each getter leaves *out alone when the node is absent or null (the default stays) and
 * returns true; it returns false after reporting a problem. A getter that succeeds with a
 * value sets *out. */

/* get_scalar returns 1 with the text, 0 for absent/null, -1 after an error. */
static int get_scalar(struct parser *p, const yaml_node_t *n, const char *path,
                      const char *expected, const char **out) {
  if (is_null(n)) return 0;
  if (n->type != YAML_SCALAR_NODE) {
    type_error(p, n, path, expected);
    return -1;
  }
  if (strlen(scalar(n)) != n->data.scalar.length) {
    perr(p, n, "%s: contains a NUL character", path);
    return -1;
  }
  *out = scalar(n);
  return 1;
}

static bool get_string(struct parser *p, const yaml_node_t *n, const char *path, char **out) {
  const char *s;
  int r = get_scalar(p, n, path, "text", &s);
  if (r <= 0) return r == 0;
  if (looks_like_api_key(s)) {
    perr(p, n, "%s: this looks like an API key: %s", path, msg_inline_key);
    return false;
  }
  for (const char *q = s; *q; q++) {
    if ((unsigned char)*q < 0x20 || *q == 0x7f) {
      perr(p, n, "%s: contains a line break or control character", path);
      return false;
    }
  }
  if (!*s) {
    perr(p, n, "%s: is empty", path);
    return false;
  }
  free(*out);
  *out = xstrdup(s);
  return true;
}

static bool get_int(struct parser *p, const yaml_node_t *n, const char *path, int64_t min,
                    int64_t max, int64_t *out) {
  const char *s;
  char expected[96];
  snprintf(expected, sizeof(expected), "a whole number between %lld and %lld", (long long)min,
           (long long)max);
  int r = get_scalar(p, n, path, expected, &s);
  if (r <= 0) return r == 0;
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (!is_plain(n) || !isdigit((unsigned char)s[*s == '-' || *s == '+']) || *end) {
    type_error(p, n, path, expected);
    return false;
  }
  if (errno || v < min || v > max) {
    perr(p, n, "%s: must be between %lld and %lld", path, (long long)min, (long long)max);
    return false;
  }
  *out = v;
  return true;
}

static bool get_int32(struct parser *p, const yaml_node_t *n, const char *path, int min, int max,
                      int *out) {
  int64_t v = *out;
  if (!get_int(p, n, path, min, max, &v)) return false;
  *out = (int)v;
  return true;
}

static bool get_bool(struct parser *p, const yaml_node_t *n, const char *path, bool *out) {
  const char *s;
  int r = get_scalar(p, n, path, "true or false", &s);
  if (r <= 0) return r == 0;
  if (!is_plain(n) || !parse_bool_text(s, out)) {
    type_error(p, n, path, "true or false");
    return false;
  }
  return true;
}

static bool get_number(struct parser *p, const yaml_node_t *n, const char *path, double *out) {
  const char *s;
  int r = get_scalar(p, n, path, "a number", &s);
  if (r <= 0) return r == 0;
  if (!is_plain(n) || !is_number_text(s)) {
    type_error(p, n, path, "a number");
    return false;
  }
  *out = strtod(s, NULL);
  return true;
}

/* get_duration reads "500ms", "10s", "5m", "1h", "7d" (util_parse_duration); min_ms is the
 * smallest value that makes sense for the field. */
static bool get_duration(struct parser *p, const yaml_node_t *n, const char *path, int64_t min_ms,
                         int64_t *out) {
  const char *s;
  int r = get_scalar(p, n, path, "a duration such as 30s", &s);
  if (r <= 0) return r == 0;
  char shown[64];
  int64_t ms;
  int rc = util_parse_duration(s, &ms);
  if (rc == UTIL_ERANGE) {
    perr(p, n, "%s: duration '%s' is too long", path, echo(shown, sizeof(shown), s));
    return false;
  }
  if (rc) {
    perr(p, n,
         "%s: malformed duration '%s': write a whole number and a unit (ms, s, m, h or d), "
         "e.g. 30s",
         path, echo(shown, sizeof(shown), s));
    return false;
  }
  if (ms < min_ms) {
    char buf[32];
    perr(p, n, "%s: must be at least %s", path, util_format_duration(buf, sizeof(buf), min_ms));
    return false;
  }
  *out = ms;
  return true;
}

enum url_kind { URL_HTTP, URL_PROXY };

/* check_url validates s with libcurl's URL parser: an http(s) URL (or, for a proxy, also a
 * socks one) with a host and no credentials. On failure it writes the reason to why; the
 * URL itself is never written there, since URLs can carry tokens. */
static bool check_url(const char *s, enum url_kind kind, bool *has_credentials, char *why,
                      size_t whysz) {
  CURLU *u = curl_url();
  char *scheme = NULL, *host = NULL, *user = NULL, *password = NULL;
  bool ok = false;
  *has_credentials = false;
  if (!u) abort();
  CURLUcode rc = curl_url_set(u, CURLUPART_URL, s, CURLU_NON_SUPPORT_SCHEME);
  if (rc) {
    snprintf(why, whysz, "not a valid URL (%s)", curl_url_strerror(rc));
    goto out;
  }
  if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) || !scheme) {
    snprintf(why, whysz, "not a valid URL (no scheme)");
    goto out;
  }
  bool scheme_ok = !strcmp(scheme, "http") || !strcmp(scheme, "https");
  if (kind == URL_PROXY)
    scheme_ok = scheme_ok || !strcmp(scheme, "socks4") || !strcmp(scheme, "socks4a") ||
                !strcmp(scheme, "socks5") || !strcmp(scheme, "socks5h");
  if (!scheme_ok) {
    snprintf(why, whysz, "the scheme must be %s",
             kind == URL_PROXY ? "http, https, socks4, socks4a, socks5 or socks5h"
                               : "http or https");
    goto out;
  }
  if (curl_url_get(u, CURLUPART_HOST, &host, 0) || !host || !*host) {
    snprintf(why, whysz, "the URL has no host");
    goto out;
  }
  if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK ||
      curl_url_get(u, CURLUPART_PASSWORD, &password, 0) == CURLUE_OK) {
    *has_credentials = true;
    snprintf(why, whysz, "credentials in URLs are not allowed");
    goto out;
  }
  ok = true;
out:
  if (password) explicit_bzero(password, strlen(password));
  curl_free(password);
  curl_free(user);
  curl_free(host);
  curl_free(scheme);
  curl_url_cleanup(u);
  return ok;
}

static bool get_url(struct parser *p, const yaml_node_t *n, const char *path, enum url_kind kind,
                    char **out) {
  char *s = NULL;
  if (!get_string(p, n, path, &s)) return false;
  if (!s) return true;
  char why[160];
  bool creds;
  if (!check_url(s, kind, &creds, why, sizeof(why))) {
    if (creds && kind == URL_PROXY)
      perr(p, n,
           "%s: inline proxy credentials are not allowed: remove user:password@ from the URL, "
           "set api.proxy_user, and put the password in an environment variable named with "
           "proxy_password_env or in a file named with proxy_password_file",
           path);
    else if (creds)
      perr(p, n,
           "%s: credentials in URLs are not allowed: remove user:password@ from the URL "
           "(secrets come from *_env or *_file fields, see docs/config.md)",
           path);
    else
      perr(p, n, "%s: %s; write it as http://HOST[:PORT][/PATH] or https://...", path, why);
    explicit_bzero(s, strlen(s));
    free(s);
    return false;
  }
  free(*out);
  *out = s;
  return true;
}

/* join_path makes rel absolute against dir (NULL: rel is kept as written). */
static char *join_path(const char *dir, const char *rel) {
  if (rel[0] == '/' || !dir) return xstrdup(rel);
  while (rel[0] == '.' && rel[1] == '/') {
    rel += 2;
    while (*rel == '/')
      rel++;
  }
  if (!*rel || !strcmp(rel, ".")) return xstrdup(dir);
  return xasprintf("%s%s%s", dir, has_suffix(dir, "/") ? "" : "/", rel);
}

static bool get_path(struct parser *p, const yaml_node_t *n, const char *path, char **out) {
  char *s = NULL;
  if (!get_string(p, n, path, &s)) return false;
  if (!s) return true;
  free(*out);
  *out = join_path(p->base_dir, s);
  free(s);
  return true;
}

/* get_env_name reads the name of an environment variable (never its value). */
static bool get_env_name(struct parser *p, const yaml_node_t *n, const char *path, char **out) {
  char *s = NULL;
  if (!get_string(p, n, path, &s)) return false;
  if (!s) return true;
  bool ok = isalpha((unsigned char)s[0]) || s[0] == '_';
  for (const char *q = s; *q && ok; q++)
    ok = isalnum((unsigned char)*q) || *q == '_';
  if (!ok) {
    perr(p, n,
         "%s: must name an environment variable (letters, digits and '_', not starting with "
         "a digit), not hold the secret itself",
         path);
    free(s);
    return false;
  }
  free(*out);
  *out = s;
  return true;
}

static bool get_string_list(struct parser *p, const yaml_node_t *n, const char *path,
                            enum url_kind *url_kind, char ***out, size_t *n_out) {
  if (is_null(n)) return true;
  if (n->type != YAML_SEQUENCE_NODE) {
    type_error(p, n, path, "a list such as [a, b]");
    return false;
  }
  bool ok = true;
  size_t count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
  char **v = xcalloc(count ? count : 1, sizeof(*v));
  size_t k = 0;
  for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++) {
    yaml_node_t *item = node_at(p, *it);
    char where[128];
    snprintf(where, sizeof(where), "%s[%zu]", path, (size_t)(it - n->data.sequence.items.start));
    char *s = NULL;
    bool got = url_kind ? get_url(p, item, where, *url_kind, &s) : get_string(p, item, where, &s);
    if (got && !s) {
      type_error(p, item, where, url_kind ? "a URL" : "text");
      got = false;
    }
    if (!got) {
      ok = false;
      continue;
    }
    v[k++] = s;
  }
  for (size_t i = 0; i < *n_out; i++)
    free((*out)[i]);
  free(*out);
  *out = v;
  *n_out = k;
  return ok;
}

/* ---- secrets named by the config ---------------------------------------------------------- */

/* in_credentials_dir: systemd's LoadCredential= files live under $CREDENTIALS_DIRECTORY
 * (/run/credentials/UNIT/), readable by the service through an ACL that stat shows as group
 * read: their mode is systemd's business, not a misconfiguration. */
static bool in_credentials_dir(const char *file) {
  const char *dir = getenv("CREDENTIALS_DIRECTORY");
  size_t n = dir ? strlen(dir) : 0;
  if (n && strncmp(file, dir, n) == 0 && file[n] == '/') return true;
  return strncmp(file, "/run/credentials/", 17) == 0;
}

/* warn_secret_file warns when a file that holds a secret cannot be read or is open to
 * group or others. It names the file, never reads its content. */
static void warn_secret_file(struct parser *p, const yaml_node_t *n, const char *owner,
                             const char *kind, const char *file) {
  struct stat st;
  int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    pwarn(p, n, "%s: %s %s cannot be read: %s", owner, kind, file, strerror(errno));
    return;
  }
  if (fstat(fd, &st) == 0) {
    unsigned mode = (unsigned)(st.st_mode & 07777);
    if (!S_ISREG(st.st_mode))
      pwarn(p, n, "%s: %s %s is not a regular file", owner, kind, file);
    else if ((st.st_mode & (S_IRGRP | S_IROTH)) && !in_credentials_dir(file))
      pwarn(p, n, "%s: %s %s is readable by group or others (mode %04o): run chmod 600 on it",
            owner, kind, file, mode);
    else if (st.st_mode & (S_IWGRP | S_IWOTH))
      pwarn(p, n, "%s: %s %s is writable by group or others (mode %04o): run chmod 600 on it",
            owner, kind, file, mode);
  }
  close(fd);
}

/* warn_secret_env warns when a variable that should hold a secret is unset or empty. It
 * names the variable, never reads more than whether it has a value. */
static void warn_secret_env(struct parser *p, const yaml_node_t *n, const char *owner,
                            const char *var, const char *consequence) {
  const char *v = getenv(var);
  if (!v)
    pwarn(p, n, "%s: environment variable %s is not set%s", owner, var, consequence);
  else if (!*v)
    pwarn(p, n, "%s: environment variable %s is empty%s", owner, var, consequence);
}

/* get_secret_ref reads base_env / base_file of map m into ref. Both set is an error;
 * neither leaves ref empty (the caller decides whether that is allowed). */
static bool get_secret_ref(struct parser *p, const yaml_node_t *m, const char *section,
                           const char *base, struct config_secret_ref *ref) {
  char env_field[64], file_field[64], path[128];
  snprintf(env_field, sizeof(env_field), "%s_env", base);
  snprintf(file_field, sizeof(file_field), "%s_file", base);
  yaml_node_t *env = map_get(p, m, env_field), *file = map_get(p, m, file_field);
  bool ok = true;
  snprintf(path, sizeof(path), "%s.%s", section, env_field);
  ok &= get_env_name(p, env, path, &ref->env);
  snprintf(path, sizeof(path), "%s.%s", section, file_field);
  ok &= get_path(p, file, path, &ref->file);
  if (ref->env && ref->file) {
    perr(p, file, "%s: both %s and %s are set: use one", section, env_field, file_field);
    return false;
  }
  if (ref->env) warn_secret_env(p, env, section, ref->env, "");
  if (ref->file) warn_secret_file(p, file, section, "secret file", ref->file);
  return ok;
}

/* ---- sections ----------------------------------------------------------------------------- */

static bool valid_listen(const char *s) {
  const char *port;
  if (s[0] == '[') {
    const char *close = strchr(s, ']');
    if (!close || close == s + 1 || close[1] != ':') return false;
    port = close + 2;
  } else {
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || memchr(s, ':', (size_t)(colon - s))) return false;
    port = colon + 1;
  }
  size_t len = strlen(port);
  if (len < 1 || len > 5 || strspn(port, "0123456789") != len) return false;
  long v = strtol(port, NULL, 10);
  return v >= 1 && v <= 65535;
}

static void parse_api(struct parser *p, const yaml_node_t *n) {
  static const char *const fields[] = {"base_url",
                                       "version",
                                       "timeout",
                                       "proxy",
                                       "proxy_user",
                                       "proxy_password_env",
                                       "proxy_password_file",
                                       "max_transfers",
                                       "max_host_connections",
                                       "min_interval",
                                       "max_body_bytes",
                                       NULL};
  struct config *c = p->c;
  if (!check_map(p, n, "api", SEC_API, fields)) return;
  get_url(p, map_get(p, n, "base_url"), "api.base_url", URL_HTTP, &c->api.base_url);
  get_string(p, map_get(p, n, "version"), "api.version", &c->api.version);
  get_duration(p, map_get(p, n, "timeout"), "api.timeout", 1, &c->api.timeout_ms);
  get_url(p, map_get(p, n, "proxy"), "api.proxy", URL_PROXY, &c->api.proxy);
  get_string(p, map_get(p, n, "proxy_user"), "api.proxy_user", &c->api.proxy_user);
  get_secret_ref(p, n, "api", "proxy_password", &c->api.proxy_password);
  /* proxy_user without api.proxy is allowed: it applies to a proxy from HTTPS_PROXY too. */
  if ((c->api.proxy_password.env || c->api.proxy_password.file) && !c->api.proxy_user)
    perr(p, n, "api: a proxy password is named but api.proxy_user is not set");
  get_int32(p, map_get(p, n, "max_transfers"), "api.max_transfers", 1, 100000,
            &c->api.max_transfers);
  get_int32(p, map_get(p, n, "max_host_connections"), "api.max_host_connections", 1, 10000,
            &c->api.max_host_connections);
  get_duration(p, map_get(p, n, "min_interval"), "api.min_interval", 1, &c->api.min_interval_ms);
  get_int(p, map_get(p, n, "max_body_bytes"), "api.max_body_bytes", 1024, 64LL * 1024 * 1024,
          &c->api.max_body_bytes);
}

static void parse_status_page(struct parser *p, const yaml_node_t *n) {
  static const char *const fields[] = {"enabled", "url", "interval", "timeout", "components", NULL};
  struct config *c = p->c;
  if (!check_map(p, n, "status_page", SEC_STATUS_PAGE, fields)) return;
  get_bool(p, map_get(p, n, "enabled"), "status_page.enabled", &c->status_page.enabled);
  get_url(p, map_get(p, n, "url"), "status_page.url", URL_HTTP, &c->status_page.url);
  get_duration(p, map_get(p, n, "interval"), "status_page.interval", 1000,
               &c->status_page.interval_ms);
  get_duration(p, map_get(p, n, "timeout"), "status_page.timeout", 1, &c->status_page.timeout_ms);
  yaml_node_t *comp = map_get(p, n, "components");
  if (get_string_list(p, comp, "status_page.components", NULL, &c->status_page.components,
                      &c->status_page.n_components) &&
      comp && !is_null(comp) && c->status_page.n_components == 0)
    perr(p, comp,
         "status_page.components: is empty: name at least one component id or name, or set "
         "status_page.enabled: false");
}

static void parse_classifier(struct parser *p, const yaml_node_t *n) {
  static const char *const fields[] = {"fail_after", "window",         "recover_after",
                                       "quorum",     "mismatch_after", NULL};
  struct config *c = p->c;
  if (!check_map(p, n, "classifier", SEC_CLASSIFIER, fields)) return;
  yaml_node_t *fail_after = map_get(p, n, "fail_after"), *window = map_get(p, n, "window");
  bool ok = get_int32(p, fail_after, "classifier.fail_after", 1, 64, &c->classifier.fail_after);
  ok &= get_int32(p, window, "classifier.window", 1, 64, &c->classifier.window);
  if (ok && c->classifier.fail_after > c->classifier.window)
    perr(p, fail_after ? fail_after : window,
         "classifier.fail_after (%d) is greater than classifier.window (%d): a key fails after "
         "fail_after of the last window results, so fail_after must not exceed window",
         c->classifier.fail_after, c->classifier.window);
  get_int32(p, map_get(p, n, "recover_after"), "classifier.recover_after", 1, 64,
            &c->classifier.recover_after);
  yaml_node_t *quorum = map_get(p, n, "quorum");
  double q = c->classifier.quorum;
  if (get_number(p, quorum, "classifier.quorum", &q)) {
    if (!(q > 0.0 && q <= 1.0))
      perr(p, quorum,
           "classifier.quorum: must be greater than 0 and at most 1 (the share of keys that "
           "must fail platform-side), e.g. 0.5");
    else
      c->classifier.quorum = q;
  }
  get_duration(p, map_get(p, n, "mismatch_after"), "classifier.mismatch_after", 1,
               &c->classifier.mismatch_after_ms);
}

static void parse_retention(struct parser *p, const yaml_node_t *n) {
  static const char *const fields[] = {"probes", "rollups", NULL};
  struct config *c = p->c;
  if (!check_map(p, n, "retention", SEC_RETENTION, fields)) return;
  get_duration(p, map_get(p, n, "probes"), "retention.probes", 3600LL * 1000,
               &c->retention.probes_ms);
  get_duration(p, map_get(p, n, "rollups"), "retention.rollups", 3600LL * 1000,
               &c->retention.rollups_ms);
}

static void parse_alerting(struct parser *p, const yaml_node_t *n) {
  static const char *const fields[] = {
      "alertmanager", "resend_interval", "hold_down", "resolved_keep",
      "runbook_url",  "webhook",         NULL};
  static const char *const webhook_fields[] = {"url_env", "url_file", "hmac_secret_env",
                                               "hmac_secret_file", NULL};
  struct config *c = p->c;
  if (!check_map(p, n, "alerting", SEC_ALERTING, fields)) return;
  enum url_kind http = URL_HTTP;
  get_string_list(p, map_get(p, n, "alertmanager"), "alerting.alertmanager", &http,
                  &c->alerting.alertmanager, &c->alerting.n_alertmanager);
  get_duration(p, map_get(p, n, "resend_interval"), "alerting.resend_interval", 1000,
               &c->alerting.resend_interval_ms);
  get_duration(p, map_get(p, n, "hold_down"), "alerting.hold_down", 1000,
               &c->alerting.hold_down_ms);
  get_duration(p, map_get(p, n, "resolved_keep"), "alerting.resolved_keep", 1000,
               &c->alerting.resolved_keep_ms);
  get_url(p, map_get(p, n, "runbook_url"), "alerting.runbook_url", URL_HTTP,
          &c->alerting.runbook_url);
  yaml_node_t *wh = map_get(p, n, "webhook");
  if (!check_map(p, wh, "alerting.webhook", SEC_WEBHOOK, webhook_fields)) return;
  struct config_secret_ref *url = &c->alerting.webhook.url,
                           *hmac = &c->alerting.webhook.hmac_secret;
  bool ok = get_secret_ref(p, wh, "alerting.webhook", "url", url);
  ok &= get_secret_ref(p, wh, "alerting.webhook", "hmac_secret", hmac);
  if (ok && !url->env && !url->file)
    perr(p, wh,
         "alerting.webhook: no URL: name the variable holding it with url_env, or the file "
         "with url_file");
}

static void parse_metrics(struct parser *p, const yaml_node_t *n) {
  static const char *const fields[] = {"per_key", NULL};
  if (!check_map(p, n, "metrics", SEC_METRICS, fields)) return;
  yaml_node_t *v = map_get(p, n, "per_key");
  const char *s;
  char shown[64];
  int r = get_scalar(p, v, "metrics.per_key", "full or minimal", &s);
  if (r <= 0) return;
  if (!strcmp(s, "full"))
    p->c->metrics.per_key = CONFIG_PER_KEY_FULL;
  else if (!strcmp(s, "minimal"))
    p->c->metrics.per_key = CONFIG_PER_KEY_MINIMAL;
  else
    perr(p, v, "metrics.per_key: must be full or minimal, got '%s'", echo(shown, sizeof(shown), s));
}

static void parse_web(struct parser *p, const yaml_node_t *n) {
  static const char *const fields[] = {"tls_cert_file",
                                       "tls_key_file",
                                       "basic_auth_user",
                                       "basic_auth_password_env",
                                       "basic_auth_password_file",
                                       NULL};
  struct config *c = p->c;
  if (!check_map(p, n, "web", SEC_WEB, fields)) return;
  yaml_node_t *cert = map_get(p, n, "tls_cert_file"), *key = map_get(p, n, "tls_key_file");
  bool ok = get_path(p, cert, "web.tls_cert_file", &c->web.tls_cert_file);
  ok &= get_path(p, key, "web.tls_key_file", &c->web.tls_key_file);
  if (ok && !c->web.tls_cert_file != !c->web.tls_key_file)
    perr(p, c->web.tls_cert_file ? cert : key,
         "web: tls_cert_file and tls_key_file go together: set both to serve HTTPS, or "
         "neither");
  if (c->web.tls_key_file) warn_secret_file(p, key, "web", "TLS key file", c->web.tls_key_file);
  yaml_node_t *user = map_get(p, n, "basic_auth_user");
  ok = get_string(p, user, "web.basic_auth_user", &c->web.basic_auth_user);
  ok &= get_secret_ref(p, n, "web", "basic_auth_password", &c->web.basic_auth_password);
  bool has_password = c->web.basic_auth_password.env || c->web.basic_auth_password.file;
  if (ok && c->web.basic_auth_user && !has_password)
    perr(p, user,
         "web.basic_auth_user: is set but no password is named: add basic_auth_password_env "
         "or basic_auth_password_file");
  else if (ok && !c->web.basic_auth_user && has_password)
    perr(p, n, "web: a basic auth password is named but basic_auth_user is not set");
}

static void probe_defaults(struct config_probe probes[PROBE__COUNT]) {
  probes[PROBE_MODELS] = (struct config_probe){.enabled = true, .interval_ms = 60LL * 1000};
  probes[PROBE_COUNT_TOKENS] = (struct config_probe){
      .enabled = false, .interval_ms = 5LL * 60 * 1000, .model = xstrdup("claude-haiku-4-5")};
  probes[PROBE_MESSAGES] = (struct config_probe){
      .enabled = false, .interval_ms = 30LL * 60 * 1000, .model = xstrdup("claude-haiku-4-5")};
}

static void parse_probe(struct parser *p, const yaml_node_t *n, const char *label,
                        enum probe_kind kind, struct config_probe *pr) {
  static const char *const fields[PROBE__COUNT][5] = {
      [PROBE_MODELS] = {"enabled", "interval", NULL},
      [PROBE_COUNT_TOKENS] = {"enabled", "interval", "model", NULL},
      [PROBE_MESSAGES] = {"enabled", "interval", "model", "monthly_token_budget", NULL},
  };
  char path[192];
  snprintf(path, sizeof(path), "%s: probes.%s", label, probe_kind_name(kind));
  pr->pos = (struct config_pos){p->embedded ? 0 : node_line(n), p->embedded ? 0 : node_col(n)};
  /* Naming a probe enables it; `enabled: false` turns it off again. */
  pr->enabled = true;
  if (!check_map(p, n, path, SEC_PROBE, fields[kind])) {
    if (n && !is_null(n)) pr->enabled = false;
    return;
  }
  char fpath[224];
  snprintf(fpath, sizeof(fpath), "%s.enabled", path);
  get_bool(p, map_get(p, n, "enabled"), fpath, &pr->enabled);
  yaml_node_t *interval = map_get(p, n, "interval");
  snprintf(fpath, sizeof(fpath), "%s.interval", path);
  if (get_duration(p, interval, fpath, 1, &pr->interval_ms) && interval && !is_null(interval) &&
      pr->enabled && pr->interval_ms < p->c->api.min_interval_ms) {
    char a[32], b[32];
    perr(p, interval,
         "%s: %s is below api.min_interval (%s): use a longer interval, or (for tests only) "
         "lower the floor with api: { min_interval: %s }",
         fpath, util_format_duration(a, sizeof(a), pr->interval_ms),
         util_format_duration(b, sizeof(b), p->c->api.min_interval_ms), a);
  }
  if (kind != PROBE_MODELS) {
    snprintf(fpath, sizeof(fpath), "%s.model", path);
    get_string(p, map_get(p, n, "model"), fpath, &pr->model);
  }
  if (kind == PROBE_MESSAGES) {
    snprintf(fpath, sizeof(fpath), "%s.monthly_token_budget", path);
    get_int(p, map_get(p, n, "monthly_token_budget"), fpath, 0, INT64_MAX / 2,
            &pr->monthly_token_budget);
  }
}

static bool valid_key_name(const char *s) {
  size_t len = strlen(s);
  if (len < 1 || len > 64 || !isalnum((unsigned char)s[0])) return false;
  for (const char *q = s; *q; q++)
    if (!isalnum((unsigned char)*q) && !strchr("._-", *q)) return false;
  return true;
}

static void parse_key(struct parser *p, const yaml_node_t *n, size_t idx, struct config_key *k,
                      const yaml_node_t **name_node) {
  static const char *const fields[] = {
      "name", "key_env", "key_file", "expect_organization", "expect_workspace", "probes", NULL};
  static const char *const probes_fields[] = {"models", "count_tokens", "messages", NULL};
  char label[96];
  snprintf(label, sizeof(label), "keys[%zu]", idx);
  k->pos = (struct config_pos){p->embedded ? 0 : node_line(n), p->embedded ? 0 : node_col(n)};
  probe_defaults(k->probes);
  *name_node = NULL;
  if (is_null(n)) {
    type_error(p, n, label, "a map with name and key_env or key_file");
    return;
  }
  if (!check_map(p, n, label, SEC_KEY, fields)) return;

  char path[160];
  snprintf(path, sizeof(path), "%s: name", label);
  yaml_node_t *name = map_get(p, n, "name");
  if (is_null(name)) {
    perr(p, name ? name : n, "%s: missing required field 'name': every key needs a name", label);
  } else if (get_string(p, name, path, &k->name)) {
    if (!valid_key_name(k->name)) {
      perr(p, name,
           "%s: name must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter "
           "or digit",
           label);
      free(k->name);
      k->name = NULL;
    } else {
      snprintf(label, sizeof(label), "key '%s'", k->name);
      *name_node = name;
    }
  }

  yaml_node_t *env = map_get(p, n, "key_env"), *file = map_get(p, n, "key_file");
  snprintf(path, sizeof(path), "%s: key_env", label);
  bool ok = get_env_name(p, env, path, &k->key_env);
  snprintf(path, sizeof(path), "%s: key_file", label);
  ok &= get_path(p, file, path, &k->key_file);
  bool inline_key = false;
  for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
    yaml_node_t *kn = node_at(p, pr->key);
    if (kn && kn->type == YAML_SCALAR_NODE &&
        inline_secret_advice(SEC_KEY, scalar(kn)) == msg_inline_key)
      inline_key = true;
  }
  if (k->key_env && k->key_file) {
    perr(p, file, "%s: both key_env and key_file are set: use one", label);
  } else if (ok && !inline_key && !k->key_env && !k->key_file) {
    perr(p, n,
         "%s: neither key_env nor key_file is set: name the environment variable (key_env) or "
         "the file (key_file) that holds the key",
         label);
  } else if (k->key_env) {
    warn_secret_env(p, env, label, k->key_env,
                    ": the key will be reported as key_unavailable until it is set");
  } else if (k->key_file) {
    warn_secret_file(p, file, label, "key file", k->key_file);
  }
  snprintf(path, sizeof(path), "%s: expect_organization", label);
  get_string(p, map_get(p, n, "expect_organization"), path, &k->expect_organization);
  snprintf(path, sizeof(path), "%s: expect_workspace", label);
  get_string(p, map_get(p, n, "expect_workspace"), path, &k->expect_workspace);

  yaml_node_t *probes = map_get(p, n, "probes");
  snprintf(path, sizeof(path), "%s: probes", label);
  if (check_map(p, probes, path, SEC_PROBES, probes_fields)) {
    for (int kind = 0; kind < PROBE__COUNT; kind++) {
      yaml_node_t *pn = map_get(p, probes, probe_kind_name((enum probe_kind)kind));
      if (pn) parse_probe(p, pn, label, (enum probe_kind)kind, &k->probes[kind]);
    }
  }
  /* A default interval can also fall under a raised floor. */
  bool any = false;
  for (int kind = 0; kind < PROBE__COUNT; kind++) {
    struct config_probe *pr = &k->probes[kind];
    any |= pr->enabled;
    yaml_node_t *pn = probes && probes->type == YAML_MAPPING_NODE
                          ? map_get(p, probes, probe_kind_name((enum probe_kind)kind))
                          : NULL;
    yaml_node_t *in = pn && pn->type == YAML_MAPPING_NODE ? map_get(p, pn, "interval") : NULL;
    if (pr->enabled && !in && pr->interval_ms < p->c->api.min_interval_ms) {
      char a[32], b[32];
      perr(p, pn ? pn : n,
           "%s: probes.%s.interval (default %s) is below api.min_interval (%s): set a longer "
           "interval for this probe",
           label, probe_kind_name((enum probe_kind)kind),
           util_format_duration(a, sizeof(a), pr->interval_ms),
           util_format_duration(b, sizeof(b), p->c->api.min_interval_ms));
    }
  }
  if (!any) pwarn(p, n, "%s: every probe is disabled: the key will never be probed", label);
}

struct name_ref {
  const char *name;
  const yaml_node_t *node;
  size_t idx;
};

static int name_ref_cmp(const void *a, const void *b) {
  const struct name_ref *x = a, *y = b;
  int r = strcmp(x->name, y->name);
  if (r) return r;
  return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static void parse_keys(struct parser *p, const yaml_node_t *root, const yaml_node_t *n) {
  struct config *c = p->c;
  if (is_null(n)) {
    perr(p, n ? n : root,
         "missing required field 'keys': list at least one key, e.g. keys: [{ name: prod, "
         "key_env: ANTHROPIC_API_KEY }]");
    return;
  }
  if (n->type != YAML_SEQUENCE_NODE) {
    type_error(p, n, "keys", "a list of keys (- name: ...)");
    return;
  }
  size_t count = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
  if (!count) {
    perr(p, n, "keys: is empty: list at least one key with a name and key_env or key_file");
    return;
  }
  c->keys = xcalloc(count, sizeof(*c->keys));
  c->n_keys = count;
  struct name_ref *refs = xcalloc(count, sizeof(*refs));
  size_t n_refs = 0;
  for (size_t i = 0; i < count; i++) {
    const yaml_node_t *name_node;
    parse_key(p, node_at(p, n->data.sequence.items.start[i]), i, &c->keys[i], &name_node);
    if (name_node) refs[n_refs++] = (struct name_ref){c->keys[i].name, name_node, i};
  }
  /* Sorting finds duplicates in n log n, which matters with thousands of keys. */
  qsort(refs, n_refs, sizeof(*refs), name_ref_cmp);
  for (size_t i = 1; i < n_refs; i++) {
    size_t first = i - 1;
    while (i < n_refs && !strcmp(refs[i].name, refs[first].name)) {
      perr(p, refs[i].node, "duplicate key name '%s' (first defined at line %d)", refs[i].name,
           node_line(refs[first].node));
      i++;
    }
  }
  free(refs);
}

static void parse_root(struct parser *p, const yaml_node_t *root) {
  static const char *const fields[] = {
      "listen",     "external_url", "database", "vantage",  "log_level", "api", "status_page",
      "classifier", "retention",    "keys",     "alerting", "metrics",   "web", NULL};
  struct config *c = p->c;
  if (root->type != YAML_MAPPING_NODE) {
    type_error(p, root, "the top level", "a map of settings (listen:, keys:, ...)");
    return;
  }
  check_map(p, root, "the top level", SEC_ROOT, fields);

  yaml_node_t *listen = map_get(p, root, "listen");
  if (get_string(p, listen, "listen", &c->listen) && !valid_listen(c->listen))
    perr(p, listen,
         "listen: expected HOST:PORT with a port from 1 to 65535, e.g. "
         "127.0.0.1:9464 or [::1]:9464");
  get_url(p, map_get(p, root, "external_url"), "external_url", URL_HTTP, &c->external_url);
  get_path(p, map_get(p, root, "database"), "database", &c->database);
  if (c->database[0] != '/' && p->base_dir) { /* the default, beside the config file */
    char *abs = join_path(p->base_dir, c->database);
    free(c->database);
    c->database = abs;
  }
  get_string(p, map_get(p, root, "vantage"), "vantage", &c->vantage);
  yaml_node_t *level = map_get(p, root, "log_level");
  enum log_level lv;
  if (get_string(p, level, "log_level", &c->log_level) && c->log_level &&
      log_parse_level(c->log_level, &lv)) {
    char shown[64];
    perr(p, level, "log_level: must be debug, info, warn or error, got '%s'",
         echo(shown, sizeof(shown), c->log_level));
  }

  /* api first: the keys' intervals are checked against api.min_interval. */
  parse_api(p, map_get(p, root, "api"));
  parse_status_page(p, map_get(p, root, "status_page"));
  parse_classifier(p, map_get(p, root, "classifier"));
  parse_retention(p, map_get(p, root, "retention"));
  parse_alerting(p, map_get(p, root, "alerting"));
  parse_metrics(p, map_get(p, root, "metrics"));
  parse_web(p, map_get(p, root, "web"));
  parse_keys(p, root, map_get(p, root, "keys"));

  if (!c->external_url && c->listen) {
    c->external_url = xasprintf("http://%s", c->listen);
    if (!strncmp(c->listen, "0.0.0.0:", 8) || !strncmp(c->listen, "[::]:", 5))
      pwarn(p, listen,
            "external_url is not set and listen is a wildcard address: alert links will point "
            "at %s; set external_url to an address people can open",
            c->external_url);
  }
}

/* ---- loading ------------------------------------------------------------------------------ */

static struct config *config_new_defaults(void) {
  struct config *c = xcalloc(1, sizeof(*c));
  c->listen = xstrdup("127.0.0.1:9464");
  c->database = xstrdup("./claudemon.db");
  c->api.base_url = xstrdup("https://api.anthropic.com");
  c->api.version = xstrdup("2023-06-01");
  c->api.timeout_ms = 10LL * 1000;
  c->api.max_transfers = 64;
  c->api.max_host_connections = 8;
  c->api.min_interval_ms = 10LL * 1000;
  c->api.max_body_bytes = 65536;
  c->status_page.enabled = true;
  c->status_page.url = xstrdup("https://status.claude.com/api/v2/summary.json");
  c->status_page.interval_ms = 60LL * 1000;
  c->status_page.timeout_ms = 10LL * 1000;
  c->status_page.components = xcalloc(1, sizeof(char *));
  c->status_page.components[0] = xstrdup("k8w3r06qmzrp");
  c->status_page.n_components = 1;
  c->classifier.fail_after = 3;
  c->classifier.window = 5;
  c->classifier.recover_after = 2;
  c->classifier.quorum = 0.5;
  c->classifier.mismatch_after_ms = 5LL * 60 * 1000;
  c->retention.probes_ms = 14LL * 86400 * 1000;
  c->retention.rollups_ms = 400LL * 86400 * 1000;
  c->alerting.resend_interval_ms = 60LL * 1000;
  c->metrics.per_key = CONFIG_PER_KEY_FULL;
  return c;
}

static void secret_ref_free(struct config_secret_ref *r) {
  free(r->env);
  free(r->file);
}

void config_free(struct config *c) {
  if (!c) return;
  free(c->path);
  free(c->listen);
  free(c->external_url);
  free(c->database);
  free(c->vantage);
  free(c->log_level);
  free(c->api.base_url);
  free(c->api.version);
  free(c->api.proxy);
  free(c->api.proxy_user);
  secret_ref_free(&c->api.proxy_password);
  free(c->status_page.url);
  for (size_t i = 0; i < c->status_page.n_components; i++)
    free(c->status_page.components[i]);
  free(c->status_page.components);
  for (size_t i = 0; i < c->n_keys; i++) {
    struct config_key *k = &c->keys[i];
    free(k->name);
    free(k->key_env);
    free(k->key_file);
    free(k->expect_organization);
    free(k->expect_workspace);
    for (int j = 0; j < PROBE__COUNT; j++)
      free(k->probes[j].model);
  }
  free(c->keys);
  for (size_t i = 0; i < c->alerting.n_alertmanager; i++)
    free(c->alerting.alertmanager[i]);
  free(c->alerting.alertmanager);
  free(c->alerting.runbook_url);
  secret_ref_free(&c->alerting.webhook.url);
  secret_ref_free(&c->alerting.webhook.hmac_secret);
  free(c->web.tls_cert_file);
  free(c->web.tls_key_file);
  free(c->web.basic_auth_user);
  secret_ref_free(&c->web.basic_auth_password);
  free(c);
}

/* offset_pos turns a byte offset into a 1-based line and column (libyaml's reader errors
 * give only an offset). */
static void offset_pos(const char *text, size_t len, size_t off, int *line, int *col) {
  *line = 1;
  *col = 1;
  for (size_t i = 0; i < off && i < len; i++) {
    if (text[i] == '\n') {
      (*line)++;
      *col = 1;
    } else {
      (*col)++;
    }
  }
}

static void yaml_error(struct parser *p, const yaml_parser_t *yp, const char *text, size_t len) {
  int line = (int)yp->problem_mark.line + 1, col = (int)yp->problem_mark.column + 1;
  if (yp->error == YAML_READER_ERROR) offset_pos(text, len, yp->problem_offset, &line, &col);
  const char *problem = yp->problem ? yp->problem : "unknown problem";
  if (yp->context)
    perr_at(p, line, col, "not valid YAML: %s (%s that starts at line %d)", problem, yp->context,
            (int)yp->context_mark.line + 1);
  else
    perr_at(p, line, col, "not valid YAML: %s", problem);
}

/* load_text parses and validates text; it is the one path for files, strings and the
 * embedded default. */
static int load_text(const char *text, size_t len, const char *name, const char *abs_path,
                     const char *base_dir, bool embedded, struct config **out,
                     struct config_diag *diag) {
  struct parser p = {.name = name, .embedded = embedded};
  yaml_parser_t yp;
  yaml_document_t doc, extra;
  bool have_doc = false, have_extra = false, have_parser = false;
  int rc = UTIL_ECONFIG;

  *out = NULL;
  p.c = config_new_defaults();
  p.c->path = xstrdup(abs_path);
  p.base_dir = base_dir ? xstrdup(base_dir) : NULL;
  if (!yaml_parser_initialize(&yp)) abort();
  have_parser = true;
  yaml_parser_set_input_string(&yp, (const unsigned char *)text, len);
  if (!yaml_parser_load(&yp, &doc)) {
    yaml_error(&p, &yp, text, len);
    goto out;
  }
  have_doc = true;
  p.doc = &doc;
  yaml_node_t *root = yaml_document_get_root_node(&doc);
  if (!root || is_null(root)) {
    perr_at(&p, 1, 1,
            "the file is empty: a config needs at least a keys: list (see docs/config.md)");
    goto out;
  }
  if (!yaml_parser_load(&yp, &extra)) {
    yaml_error(&p, &yp, text, len);
    goto out;
  }
  have_extra = true;
  yaml_node_t *extra_root = yaml_document_get_root_node(&extra);
  if (extra_root) {
    perr_at(&p, (int)extra.start_mark.line + 1, (int)extra.start_mark.column + 1,
            "a second YAML document: a config file holds exactly one");
    goto out;
  }
  parse_root(&p, root);
  if (p.errors.n == 0 && p.errors.dropped == 0) rc = 0;

out:
  if (have_extra) yaml_document_delete(&extra);
  if (have_doc) yaml_document_delete(&doc);
  if (have_parser) yaml_parser_delete(&yp);
  flush(&p, &p.errors, false, &diag->errors, &diag->n_errors);
  flush(&p, &p.warnings, true, &diag->warnings, &diag->n_warnings);
  free(p.base_dir);
  if (rc == 0)
    *out = p.c;
  else
    config_free(p.c);
  return rc;
}

/* absolute returns path made absolute against the current directory, without resolving
 * symbolic links: relative paths in a config follow the folder the user named. */
static char *absolute(const char *path) {
  if (path[0] == '/') return xstrdup(path);
  char *cwd = getcwd(NULL, 0);
  if (!cwd) return xstrdup(path);
  char *abs = join_path(cwd, path);
  free(cwd);
  return abs;
}

static char *dir_of(const char *abs_path) {
  const char *slash = strrchr(abs_path, '/');
  if (!slash) return xstrdup(".");
  if (slash == abs_path) return xstrdup("/");
  return xstrndup(abs_path, (size_t)(slash - abs_path));
}

/* failure_errno is errno after a call that failed, never 0: read_all's callers take 0 for
 * success and read its buffer. (Read once: the analyzer takes each read of errno for a new
 * value, and so saw a failure returning 0.) */
static int failure_errno(void) {
  int e = errno;
  return e ? e : EIO;
}

/* read_all reads a whole file of at most max bytes into a NUL-terminated buffer. Returns 0,
 * or an errno value. */
static int read_all(const char *path, size_t max, char **out, size_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return failure_errno();
  struct stat st;
  int e = fstat(fd, &st) < 0 ? failure_errno() : S_ISDIR(st.st_mode) ? EISDIR : 0;
  if (e) {
    close(fd);
    return e;
  }
  size_t cap = 4096, n = 0;
  char *buf = xmalloc(cap);
  for (;;) {
    if (n + 1 >= cap) {
      if (cap > max + 1) {
        explicit_bzero(buf, n);
        free(buf);
        close(fd);
        return EFBIG;
      }
      char *bigger = xmalloc(cap * 2);
      memcpy(bigger, buf, n);
      explicit_bzero(buf, n); /* may be a secret: leave no copy behind */
      free(buf);
      buf = bigger;
      cap *= 2;
    }
    ssize_t r = read(fd, buf + n, cap - n - 1);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      e = failure_errno();
      explicit_bzero(buf, n);
      free(buf);
      close(fd);
      return e;
    }
    if (r == 0) break;
    n += (size_t)r;
  }
  close(fd);
  if (n > max) {
    explicit_bzero(buf, n);
    free(buf);
    return EFBIG;
  }
  buf[n] = '\0';
  *out = buf;
  *len = n;
  return 0;
}

int config_load(const char *path, struct config **out, struct config_diag *diag) {
  char *text = NULL;
  size_t len = 0;
  *out = NULL;
  if (!path || !*path) {
    diag_add(&diag->errors, &diag->n_errors, "no config file named");
    return UTIL_EINVAL;
  }
  int e = read_all(path, CONFIG_MAX_FILE_BYTES, &text, &len);
  if (e) {
    diag_add(&diag->errors, &diag->n_errors, "%s: cannot read config: %s", path, strerror(e));
    return UTIL_EIO;
  }
  char *abs = absolute(path);
  char *dir = dir_of(abs);
  int rc = load_text(text, len, path, abs, dir, false, out, diag);
  free(dir);
  free(abs);
  free(text);
  return rc;
}

int config_load_string(const char *text, const char *name, struct config **out,
                       struct config_diag *diag) {
  *out = NULL;
  if (!text || !name) return UTIL_EINVAL;
  char *abs = absolute(name);
  char *dir = dir_of(abs);
  int rc = load_text(text, strlen(text), name, abs, dir, false, out, diag);
  free(dir);
  free(abs);
  return rc;
}

int config_load_default(struct config **out, struct config_diag *diag) {
  return load_text(default_yaml, sizeof(default_yaml) - 1, CONFIG_EMBEDDED_NAME,
                   CONFIG_EMBEDDED_NAME, NULL, true, out, diag);
}

const char *config_default_text(void) {
  return default_yaml;
}

int config_key_index(const struct config *c, const char *name) {
  if (!c || !name) return -1;
  for (size_t i = 0; i < c->n_keys; i++)
    if (c->keys[i].name && !strcmp(c->keys[i].name, name)) return (int)i;
  return -1;
}

/* ---- reading secrets ---------------------------------------------------------------------- */

static void set_why(char *why, size_t whysz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_why(char *why, size_t whysz, const char *fmt, ...) {
  if (!why || !whysz) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, whysz, fmt, ap);
  va_end(ap);
}

/* finish_secret trims one final newline from s and checks what is left; on failure it
 * wipes s and says why, naming only where the secret came from. */
static int finish_secret(char *s, bool no_spaces, const char *source, char **out, char *why,
                         size_t whysz) {
  size_t len = strlen(s);
  if (len && s[len - 1] == '\n') s[--len] = '\0';
  if (len && s[len - 1] == '\r') s[--len] = '\0';
  const char *problem = NULL;
  if (!len) problem = "is empty";
  for (size_t i = 0; i < len && !problem; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (ch < 0x20 || ch == 0x7f)
      problem = "holds more than one line or a control character";
    else if (no_spaces && ch == ' ')
      problem = "holds a space (an API key has none)";
  }
  if (problem) {
    set_why(why, whysz, "%s %s", source, problem);
    config_secret_free(s);
    return UTIL_ESECRET;
  }
  /* A secret read from a file sits in a buffer of 4 KiB or more, and the daemon keeps
   * every key for its whole life: keep a copy of the right size, wipe the big one. */
  *out = xstrndup(s, len);
  config_secret_free(s);
  return 0;
}

static int read_ref(const struct config_secret_ref *ref, bool no_spaces, char **out, char *why,
                    size_t whysz) {
  char source[512];
  if (ref->env) {
    const char *v = getenv(ref->env);
    if (!v) {
      set_why(why, whysz, "environment variable %s is not set", ref->env);
      return UTIL_ESECRET;
    }
    snprintf(source, sizeof(source), "environment variable %s", ref->env);
    return finish_secret(xstrdup(v), no_spaces, source, out, why, whysz);
  }
  if (ref->file) {
    char *text = NULL;
    size_t len = 0;
    int e = read_all(ref->file, CONFIG_MAX_SECRET_BYTES, &text, &len);
    if (e) {
      set_why(why, whysz, "cannot read %s: %s", ref->file,
              e == EFBIG ? "larger than 64 KiB" : strerror(e));
      return UTIL_ESECRET;
    }
    if (strlen(text) != len) {
      set_why(why, whysz, "file %s holds a NUL byte", ref->file);
      config_secret_free(text);
      return UTIL_ESECRET;
    }
    snprintf(source, sizeof(source), "file %s", ref->file);
    return finish_secret(text, no_spaces, source, out, why, whysz);
  }
  set_why(why, whysz, "no environment variable or file is named for this secret");
  return UTIL_ESECRET;
}

int config_read_secret(const struct config_secret_ref *ref, char **out, char *why, size_t whysz) {
  *out = NULL;
  set_why(why, whysz, "%s", "");
  if (!ref) {
    set_why(why, whysz, "no secret configured");
    return UTIL_ESECRET;
  }
  return read_ref(ref, false, out, why, whysz);
}

int config_read_key(const struct config_key *k, char **out, char *why, size_t whysz) {
  *out = NULL;
  set_why(why, whysz, "%s", "");
  if (!k) {
    set_why(why, whysz, "no key configured");
    return UTIL_ESECRET;
  }
  /* The key's variable or file as a secret reference: its strings are only read. */
  struct config_secret_ref ref = {.env = k->key_env, .file = k->key_file};
  return read_ref(&ref, true, out, why, whysz);
}

void config_secret_free(char *secret) {
  if (!secret) return;
  explicit_bzero(secret, strlen(secret));
  free(secret);
}
