/* config.h — the configuration: YAML (libyaml) into struct config, validated, with errors
 * and warnings that name FILE:LINE:COL. Also the embedded default config that
 * `claudemon run` uses without -c, and the reading of secrets from *_env / *_file.
 *
 * Ownership: config_load() returns a struct config the caller frees with config_free().
 * A config never holds a secret: only the names of the variables and files that do;
 * config_read_secret() returns one on demand, to be wiped and freed by the caller. */
#ifndef CLAUDEMON_CONFIG_H
#define CLAUDEMON_CONFIG_H

#include "agent/model.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Where a value came from, for messages about it. */
struct config_pos {
  int line; /* 1-based, 0 when not from a file */
  int col;  /* 1-based */
};

struct config_probe {
  bool enabled;
  int64_t interval_ms;          /* between probe starts */
  char *model;                  /* messages/count_tokens: model to name (owned) */
  int64_t monthly_token_budget; /* messages: tokens per calendar month, 0 = no cap */
  struct config_pos pos;
};

struct config_key {
  char *name;                /* configured name: the only way a key is named anywhere */
  char *key_env;             /* environment variable holding the key, or NULL */
  char *key_file;            /* file holding the key (absolute), or NULL */
  char *expect_organization; /* optional anthropic-organization-id the key must report */
  char *expect_workspace;    /* optional anthropic-workspace-id */
  struct config_probe probes[PROBE__COUNT];
  struct config_pos pos;
};

enum config_per_key { CONFIG_PER_KEY_FULL, CONFIG_PER_KEY_MINIMAL };

struct config_secret_ref { /* a secret named by env var or file, never inline */
  char *env;               /* variable name, or NULL */
  char *file;              /* absolute path, or NULL */
};

struct config {
  char *path;         /* the file loaded (absolute), "<embedded>" for the default */
  char *listen;       /* host:port of the HTTP server, default 127.0.0.1:9464 */
  char *external_url; /* base of links in alerts; default http://<listen> */
  char *database;     /* SQLite file (absolute, or relative to the cwd for the default) */
  char *vantage;      /* optional free text */
  char *log_level;    /* optional: debug, info, warn, error */
  struct {
    char *base_url; /* default https://api.anthropic.com */
    char *version;  /* anthropic-version, default 2023-06-01 */
    int64_t timeout_ms;
    char *proxy;      /* optional proxy URL without credentials */
    char *proxy_user; /* optional */
    struct config_secret_ref proxy_password;
    int max_transfers;
    int max_host_connections;
    int64_t min_interval_ms;
    int64_t max_body_bytes; /* responses are cut here, default 64 KiB */
  } api;
  struct {
    bool enabled; /* default true */
    char *url;    /* summary.json */
    int64_t interval_ms;
    int64_t timeout_ms;
    char **components; /* ids or names to watch */
    size_t n_components;
  } status_page;
  struct {
    int fail_after;
    int window;
    int recover_after;
    double quorum;
    int64_t mismatch_after_ms; /* probes failing platform-side this long with a green page */
  } classifier;
  struct {
    int64_t probes_ms;  /* raw probe rows, default 14d */
    int64_t rollups_ms; /* hourly roll-ups, default 400d */
  } retention;
  struct config_key *keys;
  size_t n_keys;
  struct {
    char **alertmanager; /* base URLs */
    size_t n_alertmanager;
    int64_t resend_interval_ms;
    int64_t hold_down_ms;     /* flap damping; 0: max(5m, 4 x resend, 3 x shortest interval) */
    int64_t resolved_keep_ms; /* resolved alerts are re-sent this long; 0: 15m */
    char *runbook_url;
    struct {
      struct config_secret_ref url;
      struct config_secret_ref hmac_secret;
    } webhook;
  } alerting;
  struct {
    enum config_per_key per_key;
  } metrics;
  struct {
    char *tls_cert_file;
    char *tls_key_file;
    char *basic_auth_user;
    struct config_secret_ref basic_auth_password;
  } web;
};

/* Diagnostics: every message is complete ("FILE:LINE:COL: message"), owned by diag. */
struct config_diag {
  char **errors;
  size_t n_errors;
  char **warnings;
  size_t n_warnings;
};
void config_diag_free(struct config_diag *d);

/* config_load parses and validates the file at path. Returns 0 and *out, or UTIL_ECONFIG
 * (diag holds at least one error) or UTIL_EIO (unreadable; diag says why). Warnings (an
 * unset key_env variable, a secret file readable by others) go to diag either way. */
int config_load(const char *path, struct config **out, struct config_diag *diag);

/* config_load_default loads the embedded default config (DESIGN.md: key from
 * ANTHROPIC_API_KEY, ./claudemon.db, listen 127.0.0.1:9464, the real API and status page). */
int config_load_default(struct config **out, struct config_diag *diag);
/* config_default_text returns the YAML text of the embedded default config (static). */
const char *config_default_text(void);

/* config_load_string parses YAML text as if read from a file named name (tests). */
int config_load_string(const char *text, const char *name, struct config **out,
                       struct config_diag *diag);

/* config_free frees c; config_free(NULL) does nothing. */
void config_free(struct config *c);

/* config_read_secret reads a secret from its variable or file, trimmed of a final newline.
 * Returns 0 and *out (the caller wipes it with config_secret_free), or UTIL_ESECRET with a
 * reason in why ("environment variable ANTHROPIC_API_KEY is not set") that never holds the
 * secret. */
int config_read_secret(const struct config_secret_ref *ref, char **out, char *why, size_t whysz);
/* config_read_key is config_read_secret for a key's key_env/key_file. */
int config_read_key(const struct config_key *k, char **out, char *why, size_t whysz);
/* config_secret_free overwrites and frees a secret; NULL does nothing. */
void config_secret_free(char *secret);

/* config_key_index returns the index of the key named name, or -1. */
int config_key_index(const struct config *c, const char *name);

#endif
