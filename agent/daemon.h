/* daemon.h — `claudemon run`: the long-running agent that glues every module onto one
 * libuv loop. */
#ifndef CLAUDEMON_DAEMON_H
#define CLAUDEMON_DAEMON_H

#include "agent/config.h"

/* daemon_run runs the agent on cfg (owned by the caller, kept for the daemon's life; a
 * reload replaces the daemon's own copy) until SIGTERM or SIGINT. config_path is the file
 * to re-read on SIGHUP (NULL: the embedded default). Returns the exit status: 0 after a
 * clean stop, 2 when start-up fails (database, listen address). */
int daemon_run(struct config *cfg, const char *config_path);

#endif
