/* cli.c — option parsing of each command and the commands that are only glue (version,
 * check-config). The daemon lives in daemon.c, the one-shot check in check.c, the history
 * and incidents commands in history.c (their queries in storage/). Exit codes per
 * DESIGN.md. */
#include "agent/cli.h"
#include "agent/log.h"
#include "agent/util.h"
#include "storage/store.h"

#include <cJSON.h>
#include <curl/curl.h>
#include <microhttpd.h>
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

int cli_check_config(int argc, char **argv) {
  (void)argc;
  (void)argv;
  return not_yet("check-config");
}
