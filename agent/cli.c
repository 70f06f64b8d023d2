/* cli.c — option parsing of each command and the commands that are only glue (version,
 * check-config). The daemon lives in daemon.c, the one-shot check in check.c, the history
 * readers in storage/. Exit codes per DESIGN.md. */
#include "agent/cli.h"
#include "agent/config.h"
#include "agent/log.h"
#include "agent/util.h"

#include <cJSON.h>
#include <curl/curl.h>
#include <microhttpd.h>
#include <sqlite3.h>
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
  printf("sqlite %s\n", sqlite3_libversion());
  printf("cjson %s\n", cJSON_Version());
  printf("libyaml %s\n", yaml_get_version_string());
  printf("libmicrohttpd %s\n", MHD_get_version());
  return 0;
}

static int not_yet(const char *cmd) {
  fprintf(stderr, "claudemon %s: not yet implemented\n", cmd);
  return 2;
}

int cli_run(int argc, char **argv) {
  (void)argc;
  (void)argv;
  return not_yet("run");
}

int cli_check(int argc, char **argv) {
  (void)argc;
  (void)argv;
  return not_yet("check");
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

int cli_history(int argc, char **argv) {
  (void)argc;
  (void)argv;
  return not_yet("history");
}

int cli_incidents(int argc, char **argv) {
  (void)argc;
  (void)argv;
  return not_yet("incidents");
}
