/* main.c — the command line: parses the command and its options and hands over to the
 * module that does the work (daemon, check, history). Exit codes are DESIGN.md's: 0 ok,
 * 1 check found a problem, 2 bad config or usage, 3 database unreadable. Never prints a
 * secret: everything user-facing goes through log.c or prints only configured names. */
#include "agent/cli.h"
#include "agent/log.h"
#include "agent/util.h"

#include <stdio.h>
#include <string.h>

static const char usage_text[] =
    "usage: claudemon COMMAND [OPTIONS]\n"
    "\n"
    "Watches the Claude API with your keys and tells platform incidents from local failures.\n"
    "\n"
    "commands:\n"
    "  run [-c FILE]                 run the daemon (default config without -c)\n"
    "  check [-c FILE] [--format table|json]\n"
    "                                probe every key once, poll the status page, judge\n"
    "  check-config FILE             validate a config file\n"
    "  history [-c FILE | --database PATH] [--key NAME] [--since T] [--until T] [--failing]\n"
    "          [--format table|json]\n"
    "                                key transitions with evidence, incidents beside them\n"
    "  incidents [-c FILE | --database PATH] [--since T] [--until T] [--format table|json]\n"
    "                                status page incidents beside our platform verdicts\n"
    "  version                       versions of claudemon and its libraries\n"
    "\n"
    "common options: --log-level debug|info|warn|error, -h/--help\n"
    "Run 'claudemon COMMAND --help' for a command's options.\n";

int main(int argc, char **argv) {
  if (argc < 2) {
    fputs(usage_text, stderr);
    return 2;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
    fputs(usage_text, stdout);
    return 0;
  }
  if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0)
    return cli_version(argc - 1, argv + 1);
  if (strcmp(cmd, "run") == 0) return cli_run(argc - 1, argv + 1);
  if (strcmp(cmd, "check") == 0) return cli_check(argc - 1, argv + 1);
  if (strcmp(cmd, "check-config") == 0) return cli_check_config(argc - 1, argv + 1);
  if (strcmp(cmd, "history") == 0) return cli_history(argc - 1, argv + 1);
  if (strcmp(cmd, "incidents") == 0) return cli_incidents(argc - 1, argv + 1);
  fprintf(stderr, "claudemon: unknown command '%s'\n\n%s", cmd, usage_text);
  return 2;
}
