/* history.c — the `history` and `incidents` commands: option parsing, finding the database
 * (--database, or the config's `database`), and printing what storage/ returns, as JSON for
 * tools or as aligned tables for people. The queries themselves live in storage/store.c and
 * are shared with the HTTP API; this file only renders their cJSON documents, so the table
 * and the JSON never disagree.
 *
 * Opens the database read-only: it never blocks or changes what a running daemon writes.
 * Exit codes (DESIGN.md): 0 done, 2 usage or config, 3 database missing or unreadable. */
#include "agent/cli.h"
#include "agent/config.h"
#include "agent/util.h"
#include "storage/store.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EXIT_USAGE 2
#define EXIT_DB 3
#define CELL_MAX 160 /* longer cells (messages, summaries) are cut for the table */

struct history_opts {
  const char *cmd;
  const char *config;
  const char *database;
  const char *key;
  const char *since;
  const char *until;
  bool failing;
  bool json;
};

static const char history_usage[] =
    "usage: claudemon history [-c FILE | --database PATH] [--key NAME] [--since T] [--until T]\n"
    "                         [--failing] [--format table|json]\n"
    "\n"
    "Key transitions with their evidence, and the status page incidents and our platform\n"
    "verdicts beside them.\n"
    "\n"
    "  -c FILE          read the database path from this config (default: the embedded\n"
    "                   config's ./claudemon.db)\n"
    "  --database PATH  read this database file directly\n"
    "  --key NAME       only this key\n"
    "  --since T        from T: RFC 3339 (2026-11-28T05:00:00Z) or a duration ago (90m, 24h, 7d)\n"
    "  --until T        up to T (same forms)\n"
    "  --failing        the keys failing now, since when and why (ignores --since/--until)\n"
    "  --format F       table (default, for people) or json (for tools)\n"
    "\n"
    "exit: 0 done, 2 usage or config error, 3 database missing or unreadable\n";

static const char incidents_usage[] =
    "usage: claudemon incidents [-c FILE | --database PATH] [--since T] [--until T]\n"
    "                           [--format table|json]\n"
    "\n"
    "Status page incidents and maintenances, each with the platform verdict we declared for\n"
    "it and the detection lead time (published minus declared: positive when we were first).\n"
    "\n"
    "  -c FILE          read the database path from this config\n"
    "  --database PATH  read this database file directly\n"
    "  --since T        from T: RFC 3339 or a duration ago (90m, 24h, 7d)\n"
    "  --until T        up to T\n"
    "  --format F       table (default) or json\n"
    "\n"
    "exit: 0 done, 2 usage or config error, 3 database missing or unreadable\n";

/* option_value matches "--name VALUE" and "--name=VALUE"; advances *i past a separate value. */
static int option_value(int argc, char **argv, int *i, const char *name, const char **out) {
  size_t len = strlen(name);
  const char *a = argv[*i];
  if (strncmp(a, name, len) != 0) return 0;
  if (a[len] == '=') {
    *out = a + len + 1;
    return 1;
  }
  if (a[len] != '\0') return 0;
  if (*i + 1 >= argc) return -1;
  *out = argv[++*i];
  return 1;
}

/* parse_opts returns 0, 1 for --help (printed), or EXIT_USAGE (explained on stderr). */
static int parse_opts(int argc, char **argv, bool is_history, struct history_opts *o) {
  static const char *const with_value[] = {"-c",      "--config", "--database", "--key",
                                           "--since", "--until",  "--format"};
  const char *usage = is_history ? history_usage : incidents_usage;
  memset(o, 0, sizeof(*o));
  o->cmd = is_history ? "history" : "incidents";
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = NULL;
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      fputs(usage, stdout);
      return 1;
    }
    if (is_history && strcmp(a, "--failing") == 0) {
      o->failing = true;
      continue;
    }
    bool matched = false;
    for (size_t k = 0; k < UTIL_ARRAY_LEN(with_value) && !matched; k++) {
      int m = option_value(argc, argv, &i, with_value[k], &v);
      if (m == 0) continue;
      if (m < 0) {
        fprintf(stderr, "claudemon %s: %s needs a value\n\n%s", o->cmd, with_value[k], usage);
        return EXIT_USAGE;
      }
      matched = true;
      switch (k) {
      case 0:
      case 1:
        o->config = v;
        break;
      case 2:
        o->database = v;
        break;
      case 3:
        if (!is_history) matched = false;
        o->key = v;
        break;
      case 4:
        o->since = v;
        break;
      case 5:
        o->until = v;
        break;
      default:
        if (strcmp(v, "json") == 0) {
          o->json = true;
        } else if (strcmp(v, "table") != 0) {
          fprintf(stderr, "claudemon %s: --format must be table or json, not '%s'\n", o->cmd, v);
          return EXIT_USAGE;
        }
      }
    }
    if (!matched) {
      fprintf(stderr, "claudemon %s: unknown option '%s'\n\n%s", o->cmd, a, usage);
      return EXIT_USAGE;
    }
  }
  if (o->config && o->database) {
    fprintf(stderr, "claudemon %s: give -c FILE or --database PATH, not both\n", o->cmd);
    return EXIT_USAGE;
  }
  return 0;
}

/* database_path finds the database: --database, else the config's (or the default's). */
static int database_path(const struct history_opts *o, char **out) {
  struct config *cfg = NULL;
  struct config_diag diag = {0};
  if (o->database) {
    *out = xstrdup(o->database);
    return 0;
  }
  int err = o->config ? config_load(o->config, &cfg, &diag) : config_load_default(&cfg, &diag);
  if (err || !cfg || !cfg->database) {
    for (size_t i = 0; i < diag.n_errors; i++)
      fprintf(stderr, "%s\n", diag.errors[i]);
    if (diag.n_errors == 0)
      fprintf(stderr, "claudemon %s: cannot load the config: %s\n", o->cmd, util_strerror(err));
    config_free(cfg);
    config_diag_free(&diag);
    return EXIT_USAGE;
  }
  *out = xstrdup(cfg->database);
  config_free(cfg);
  config_diag_free(&diag);
  return 0;
}

static int parse_time_opt(const char *cmd, const char *name, const char *v, int64_t now,
                          int64_t *out) {
  *out = -1;
  if (!v) return 0;
  if (util_parse_since(v, now, out) != 0) {
    fprintf(stderr,
            "claudemon %s: %s '%s' is neither an RFC 3339 time (2026-11-28T05:00:00Z) nor a "
            "duration (90m, 24h, 7d)\n",
            cmd, name, v);
    return EXIT_USAGE;
  }
  return 0;
}

/* ---- Tables ----------------------------------------------------------------------------- */

struct table {
  size_t ncols, nrows;
  char **cells; /* nrows * ncols, owned */
};

static void table_add(struct table *t, const char *const *cells) {
  t->cells = xrealloc(t->cells, (t->nrows + 1) * t->ncols * sizeof(*t->cells));
  for (size_t c = 0; c < t->ncols; c++) {
    char buf[CELL_MAX];
    const char *v = cells[c] ? cells[c] : "-";
    util_sanitize(buf, sizeof(buf), v, strlen(v));
    if (!buf[0]) util_copy(buf, sizeof(buf), "-");
    t->cells[t->nrows * t->ncols + c] = xstrdup(buf);
  }
  t->nrows++;
}

/* width counts characters, not bytes (UTF-8 continuation bytes do not count). */
static size_t width(const char *s) {
  size_t n = 0;
  for (; *s; s++)
    if (((unsigned char)*s & 0xc0) != 0x80) n++;
  return n;
}

static void table_free(struct table *t) {
  for (size_t i = 0; i < t->nrows * t->ncols; i++)
    free(t->cells[i]);
  free(t->cells);
  t->cells = NULL;
  t->nrows = 0;
}

/* table_print prints the rows with every column but the last padded to its widest cell,
 * then frees them. */
static void table_print(struct table *t, FILE *f) {
  size_t *w = xcalloc(t->ncols, sizeof(*w));
  for (size_t r = 0; r < t->nrows; r++)
    for (size_t c = 0; c < t->ncols; c++) {
      size_t n = width(t->cells[r * t->ncols + c]);
      if (n > w[c]) w[c] = n;
    }
  for (size_t r = 0; r < t->nrows; r++) {
    for (size_t c = 0; c < t->ncols; c++) {
      const char *v = t->cells[r * t->ncols + c];
      fputs(v, f);
      if (c + 1 < t->ncols)
        for (size_t pad = width(v); pad < w[c] + 2; pad++)
          fputc(' ', f);
    }
    fputc('\n', f);
  }
  free(w);
  table_free(t);
}

/* str returns a string member, or NULL when it is missing, null or not a string. */
static const char *str(const cJSON *o, const char *name) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* num writes a number member as an integer into buf; NULL when absent. */
static const char *num(const cJSON *o, const char *name, char *buf, size_t bufsz) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
  if (!cJSON_IsNumber(v)) return NULL;
  snprintf(buf, bufsz, "%.0f", v->valuedouble);
  return buf;
}

/* lead writes a signed lead time ("+4m12s", "-1h2m"); NULL when absent. */
static const char *lead(const cJSON *o, char *buf, size_t bufsz) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "lead_seconds");
  char d[32];
  if (!cJSON_IsNumber(v)) return NULL;
  int64_t ms = (int64_t)(v->valuedouble * 1000.0);
  util_format_duration(d, sizeof(d), ms < 0 ? -ms : ms);
  snprintf(buf, bufsz, "%s%s", ms < 0 ? "-" : "+", d);
  return buf;
}

static const char *joined(const cJSON *arr, char *buf, size_t bufsz) {
  const cJSON *it;
  size_t o = 0;
  buf[0] = '\0';
  cJSON_ArrayForEach(it, arr) {
    if (!cJSON_IsString(it)) continue;
    int n = snprintf(buf + o, bufsz - o, "%s%s", o ? "," : "", it->valuestring);
    if (n < 0 || (size_t)n >= bufsz - o) break;
    o += (size_t)n;
  }
  return buf[0] ? buf : NULL;
}

static void print_incidents(const cJSON *doc, FILE *f) {
  const cJSON *inc = cJSON_GetObjectItemCaseSensitive(doc, "incidents");
  const cJSON *ver = cJSON_GetObjectItemCaseSensitive(doc, "platform_verdicts");
  const cJSON *it;
  char lbuf[48], kbuf[CELL_MAX];
  if (cJSON_GetArraySize(inc) == 0) {
    fputs("No status page incidents in this range.\n", f);
  } else {
    struct table t = {.ncols = 8};
    const char *head[] = {"CREATED",  "RESOLVED", "KIND", "IMPACT",
                          "DECLARED", "LEAD",     "ID",   "NAME"};
    table_add(&t, head);
    cJSON_ArrayForEach(it, inc) {
      const char *row[] = {
          str(it, "created_at"),  str(it, "resolved_at") ? str(it, "resolved_at") : "unresolved",
          str(it, "kind"),        str(it, "impact"),
          str(it, "declared_at"), lead(it, lbuf, sizeof(lbuf)),
          str(it, "id"),          str(it, "name")};
      table_add(&t, row);
    }
    table_print(&t, f);
  }
  fputc('\n', f);
  if (cJSON_GetArraySize(ver) == 0) {
    fputs("No platform verdicts in this range.\n", f);
    return;
  }
  struct table t = {.ncols = 7};
  const char *head[] = {"DECLARED", "ENDED", "CAUSE", "KEYS", "INCIDENT", "LEAD", "SUMMARY"};
  table_add(&t, head);
  cJSON_ArrayForEach(it, ver) {
    const char *row[] = {str(it, "at"),
                         str(it, "ended_at") ? str(it, "ended_at") : "in force",
                         str(it, "cause"),
                         joined(cJSON_GetObjectItemCaseSensitive(it, "keys"), kbuf, sizeof(kbuf)),
                         str(it, "incident_id"),
                         lead(it, lbuf, sizeof(lbuf)),
                         str(it, "summary")};
    table_add(&t, row);
  }
  table_print(&t, f);
}

static void print_history(const cJSON *doc, FILE *f) {
  const cJSON *keys = cJSON_GetObjectItemCaseSensitive(doc, "keys"), *k, *tr;
  char hbuf[16];
  struct table t = {.ncols = 9};
  const char *head[] = {"KEY",  "AT",    "FROM",       "TO",     "PROBE",
                        "HTTP", "ERROR", "REQUEST ID", "MESSAGE"};
  table_add(&t, head);
  cJSON_ArrayForEach(k, keys) {
    cJSON_ArrayForEach(tr, cJSON_GetObjectItemCaseSensitive(k, "transitions")) {
      const char *msg = str(tr, "error_message") ? str(tr, "error_message") : str(tr, "curl_error");
      const char *row[] = {
          str(k, "key"),         str(tr, "at"),         str(tr, "from"),
          str(tr, "to"),         str(tr, "probe"),      num(tr, "http_status", hbuf, sizeof(hbuf)),
          str(tr, "error_type"), str(tr, "request_id"), msg};
      table_add(&t, row);
    }
    cJSON_ArrayForEach(tr, cJSON_GetObjectItemCaseSensitive(k, "events")) {
      const char *row[] = {str(k, "key"),    str(tr, "at"),   "-", "-", "-", "-",
                           str(tr, "event"), str(tr, "hint"), NULL};
      table_add(&t, row);
    }
  }
  if (t.nrows == 1) {
    fputs("No key transitions in this range.\n", f);
    table_free(&t);
  } else {
    table_print(&t, f);
  }
  fputc('\n', f);
  print_incidents(doc, f);
}

static void print_failing(const cJSON *doc, int64_t now, FILE *f) {
  const cJSON *keys = cJSON_GetObjectItemCaseSensitive(doc, "keys"), *k;
  char hbuf[16], fbuf[32];
  if (cJSON_GetArraySize(keys) == 0) {
    fputs("No key is failing.\n", f);
  } else {
    struct table t = {.ncols = 8};
    const char *head[] = {"KEY",  "CAUSE", "FAILING SINCE", "FOR",
                          "HTTP", "ERROR", "REQUEST ID",    "MESSAGE"};
    table_add(&t, head);
    cJSON_ArrayForEach(k, keys) {
      const cJSON *tr = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(k, "transitions"), 0);
      int64_t since = -1;
      const char *dur = NULL;
      if (str(k, "failing_since") && util_parse_time(str(k, "failing_since"), &since) == 0)
        dur = util_format_duration(fbuf, sizeof(fbuf), now - since);
      const char *msg = str(tr, "error_message") ? str(tr, "error_message") : str(tr, "curl_error");
      const char *row[] = {str(k, "key"),
                           str(k, "cause"),
                           str(k, "failing_since"),
                           dur,
                           num(tr, "http_status", hbuf, sizeof(hbuf)),
                           str(tr, "error_type"),
                           str(tr, "request_id"),
                           msg};
      table_add(&t, row);
    }
    table_print(&t, f);
  }
  fputc('\n', f);
  print_incidents(doc, f);
}

/* ---- Commands --------------------------------------------------------------------------- */

static int run_command(int argc, char **argv, bool is_history) {
  struct history_opts o;
  struct store *s = NULL;
  cJSON *doc = NULL;
  char *db = NULL;
  char why[512];
  int64_t now = util_now_ms();
  struct store_query q = {.since_ms = -1, .until_ms = -1};
  int code = parse_opts(argc, argv, is_history, &o);
  if (code == 1) return 0;
  if (code) return code;
  if ((code = parse_time_opt(o.cmd, "--since", o.since, now, &q.since_ms)) != 0) return code;
  if ((code = parse_time_opt(o.cmd, "--until", o.until, now, &q.until_ms)) != 0) return code;
  if ((code = database_path(&o, &db)) != 0) return code;
  q.key = o.key;

  why[0] = '\0';
  int err = store_open_readonly(db, &s, why, sizeof(why));
  if (err) {
    fprintf(stderr, "claudemon %s: %s\n", o.cmd, why[0] ? why : util_strerror(err));
    code = EXIT_DB;
    goto out;
  }
  if (!is_history)
    err = store_incidents(s, &q, &doc);
  else if (o.failing)
    err = store_failing(s, &q, &doc);
  else
    err = store_history(s, &q, &doc);
  if (err == UTIL_ENOENT) {
    fprintf(stderr, "claudemon %s: no key named '%s' in %s\n", o.cmd, o.key, db);
    code = EXIT_USAGE;
    goto out;
  }
  if (err) {
    fprintf(stderr, "claudemon %s: cannot read %s: %s\n", o.cmd, db, util_strerror(err));
    code = EXIT_DB;
    goto out;
  }
  if (o.json) {
    char *text = cJSON_Print(doc);
    if (!text) abort();
    puts(text);
    cJSON_free(text);
  } else if (!is_history) {
    print_incidents(doc, stdout);
  } else if (o.failing) {
    print_failing(doc, now, stdout);
  } else {
    print_history(doc, stdout);
  }
  fflush(stdout);
  code = 0;
out:
  cJSON_Delete(doc);
  store_free(s);
  free(db);
  return code;
}

int cli_history(int argc, char **argv) {
  return run_command(argc, argv, true);
}

int cli_incidents(int argc, char **argv) {
  return run_command(argc, argv, false);
}
