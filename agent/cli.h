/* cli.h — one entry point per command of DESIGN.md's command table. Each takes the
 * command's own argv (argv[0] is the command name) and returns the process exit code. */
#ifndef CLAUDEMON_CLI_H
#define CLAUDEMON_CLI_H

int cli_version(int argc, char **argv);
int cli_run(int argc, char **argv);
int cli_check(int argc, char **argv);
int cli_check_config(int argc, char **argv);
int cli_history(int argc, char **argv);
int cli_incidents(int argc, char **argv);

#endif
