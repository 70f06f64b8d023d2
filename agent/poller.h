/* poller.h — polls the status page: GET summary.json through fetch with conditional
 * requests (If-None-Match / If-Modified-Since), parses it with statuspage_parse, and keeps
 * the last good snapshot. A failed poll keeps the last good data (incidents included) with
 * reachable=false, the reason and its age, so an open incident is never forgotten because
 * the page went away. One poll in flight at a time. */
#ifndef CLAUDEMON_POLLER_H
#define CLAUDEMON_POLLER_H

#include "agent/config.h"
#include "agent/fetch.h"
#include "agent/model.h"

struct poller;

/* poller_done_cb: a poll ended. now is the current snapshot (the new page, or the last good
 * data marked unreachable), prev the one before this poll. Both live during the call only. */
typedef void (*poller_done_cb)(const struct status_snapshot *now,
                               const struct status_snapshot *prev, void *arg);

/* poller_new polls cfg->status_page.url through f (both outlive the poller). */
struct poller *poller_new(struct fetch *f, const struct config *cfg);
/* poller_set_config points p at a reloaded config (which must outlive p); a changed URL
 * drops the conditional-request validators. The next poll uses it. */
void poller_set_config(struct poller *p, const struct config *cfg);
/* poller_free frees p; a poll in flight must have ended (close fetch first). NULL: nothing. */
void poller_free(struct poller *p);
/* poller_poll starts a poll; cb runs when it ends. Returns 0, UTIL_EAGAIN (one is in
 * flight) or an error from fetch_start. */
int poller_poll(struct poller *p, poller_done_cb cb, void *arg);
/* poller_snapshot returns the current snapshot (never-polled before the first poll). */
const struct status_snapshot *poller_snapshot(const struct poller *p);

#endif
