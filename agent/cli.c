/* cli.c — option parsing of each command and the commands that are only glue (version,
 * check-config). The daemon lives in daemon.c, the one-shot check in check.c, the history
 * readers in storage/. Exit codes per DESIGN.md. */
#include "agent/cli.h"
#include "agent/config.h"
#include "agent/daemon.h"
#include "agent/log.h"
#include "agent/util.h"
#include "storage/store.h"

#include <cJSON.h>
#include <curl/curl.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>
#include <yaml.h>

static bool wants_help(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) return true;
  return false;
}

int cli_version(int argc, char **argv) {
  if (wants_help(argc, argv)) {
    puts("usage: claudemon version\nPrints the versions of claudemon and its linked libraries.");
    return 0;
  }
  const curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);
  bool http2 = (cv->features & CURL_VERSION_HTTP2) != 0;
  printf("claudemon %s\n", CLAUDEMON_VERSION);
  printf("libuv %s\n", uv_version_string());
  printf("libcurl %s (%s, http2 %s)\n", cv->version, cv->ssl_version ? cv->ssl_version : "no TLS",
         http2 ? "yes" : "no");
  printf("sqlite %s\n", store_sqlite_version());
  printf("cjson %s\n", cJSON_Version());
  printf("libyaml %s\n", yaml_get_version_string());
  printf("libmicrohttpd %s\n", MHD_get_version());
  return 0;
}

static const char run_usage[] =
    "usage: claudemon run [-c FILE] [--log-level debug|info|warn|error]\n"
    "\n"
    "Runs the agent until SIGTERM or SIGINT (SIGHUP re-reads the config). Without -c it runs\n"
    "the embedded default config: one key from ANTHROPIC_API_KEY, the database\n"
    "./claudemon.db, HTTP on 127.0.0.1:9464, the real API and status page.\n"
    "\n"
    "exit status: 0 after a clean stop; 2 bad config, or the database or listen address\n"
    "cannot be used.\n";

int cli_run(int argc, char **argv) {
  const char *config_path = NULL, *level = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      fputs(run_usage, stdout);
      return 0;
    } else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
      config_path = argv[++i];
    } else if (strcmp(argv[i], "--log-level") == 0 && i + 1 < argc) {
      level = argv[++i];
    } else {
      fprintf(stderr, "claudemon run: unexpected argument '%s'\n\n%s", argv[i], run_usage);
      return 2;
    }
  }
  struct config *cfg = NULL;
  struct config_diag diag = {0};
  int rc = config_path ? config_load(config_path, &cfg, &diag) : config_load_default(&cfg, &diag);
  for (size_t i = 0; i < diag.n_errors; i++)
    fprintf(stderr, "%s\n", diag.errors[i]);
  for (size_t i = 0; i < diag.n_warnings; i++)
    log_warn("config warning", "warning=%s", log_q(diag.warnings[i]));
  config_diag_free(&diag);
  if (rc != 0) return 2;
  if (!level) level = cfg->log_level;
  if (level) {
    enum log_level lvl;
    if (log_parse_level(level, &lvl) != 0) {
      fprintf(stderr, "claudemon run: unknown log level '%s'\n", level);
      config_free(cfg);
      return 2;
    }
    log_set_level(lvl);
  }
  int code = daemon_run(cfg, config_path);
  config_free(cfg);
  return code;
}

static const char check_config_usage[] =
    "usage: claudemon check-config FILE\n"
    "Validates a config file. Errors and warnings (an unset key_env variable, a key file\n"
    "readable by others) go to stderr as FILE:LINE:COL: message; a valid file prints\n"
    "'FILE: ok (N keys)'. Exit 0 valid, 2 invalid or usage error.\n";

int cli_check_config(int argc, char **argv) {
  const char *file = NULL;
  bool options_done = false;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!options_done && (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)) {
      fputs(check_config_usage, stdout);
      return 0;
    }
    if (!options_done && strcmp(a, "--") == 0) {
      options_done = true;
    } else if (!options_done && a[0] == '-' && a[1]) {
      fprintf(stderr, "claudemon check-config: unknown option '%s'\n%s", a, check_config_usage);
      return 2;
    } else if (file) {
      fprintf(stderr, "claudemon check-config: one FILE only\n%s", check_config_usage);
      return 2;
    } else {
      file = a;
    }
  }
  if (!file) {
    fputs(check_config_usage, stderr);
    return 2;
  }
  struct config *c = NULL;
  struct config_diag d = {0};
  int rc = config_load(file, &c, &d);
  /* The messages name files, variables and positions only: config.c never echoes secrets. */
  for (size_t i = 0; i < d.n_errors; i++)
    fprintf(stderr, "%s\n", d.errors[i]);
  for (size_t i = 0; i < d.n_warnings; i++)
    fprintf(stderr, "%s\n", d.warnings[i]);
  if (rc == 0) printf("%s: ok (%zu key%s)\n", file, c->n_keys, c->n_keys == 1 ? "" : "s");
  config_free(c);
  config_diag_free(&d);
  return rc == 0 ? 0 : 2;
}
