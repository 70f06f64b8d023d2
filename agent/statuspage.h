/* statuspage.h — reading an Atlassian Statuspage v2 summary.json into a struct
 * status_snapshot (agent/model.h), and the few rules the daemon, the classifier, the metrics
 * and storage apply to snapshots: which components are watched, what a failed poll keeps,
 * the worst incident on a watched component, whether a maintenance is in progress, and what
 * changed between two polls. Pure: no I/O, no clock, no logging; the probe engine fetches
 * the page and passes the body in. See docs/statuspage.md. */
#ifndef CLAUDEMON_STATUSPAGE_H
#define CLAUDEMON_STATUSPAGE_H

#include "agent/model.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* statuspage_parse parses body (len bytes, need not be NUL-terminated) as a summary.json.
 *
 * watch holds n_watch entries of status_page.components: each matches a component by id
 * (exactly) or by name (ASCII case-insensitively); watching a group watches its members.
 * An empty list watches nothing. now_ms becomes polled_ms and fetched_ms.
 *
 * On success it returns 0 and fills *out (reachable, error "", the page indicator and
 * description, page.updated_at, components, unresolved incidents, scheduled maintenances);
 * err then holds "" or one line listing what was tolerated (components skipped for lack of
 * an id, fields of the wrong type, unparsable times), worth a log line but not a failure.
 *
 * On failure (empty body, not JSON, truncated JSON, not an object, no "components" array:
 * a status.json is refused this way) it returns UTIL_EPARSE, writes the reason into err, and
 * leaves *out empty — no data, reachable false, polled_ms now_ms, error the same reason —
 * ready for statuspage_carry() and valid to free.
 *
 * *out is overwritten, not freed first; the caller frees it with status_snapshot_free().
 * err may be NULL when errsz is 0. */
int statuspage_parse(const char *body, size_t len, const char *const *watch, size_t n_watch,
                     int64_t now_ms, struct status_snapshot *out, char *err, size_t errsz);

/* statuspage_failed sets *out to the snapshot of a poll that got no usable page (a transfer
 * error, an HTTP error status): no data, reachable false, polled_ms now_ms, error reason
 * (sanitised). *out is overwritten, not freed first. */
void statuspage_failed(struct status_snapshot *out, int64_t now_ms, const char *reason);

/* statuspage_carry applies a failed poll to the daemon's current snapshot: last_good keeps
 * all its data (components, incidents, maintenances, indicator) and its fetched_ms, so the
 * age of the data stays visible; it takes reachable false, the failed poll's polled_ms and
 * its error. failed_poll is only read; the caller still frees it. A successful poll instead
 * replaces the current snapshot (free the old one, move the new one in). */
void statuspage_carry(struct status_snapshot *last_good, const struct status_snapshot *failed_poll);

/* statuspage_watched_degraded is true when a watched component is degraded_performance,
 * partial_outage, major_outage, or unknown (a value we cannot read is never healthy).
 * under_maintenance is not degraded: see statuspage_maintenance_in_progress(). It looks at
 * the data whatever its age; check reachable and fetched_ms for staleness. */
bool statuspage_watched_degraded(const struct status_snapshot *s);

/* statuspage_worst_incident returns the unresolved incident (not a maintenance) that
 * affects a watched component with the highest impact (critical > major > minor > unknown
 * > none), the longest-running one on a tie; NULL when none. The pointer lives as long as
 * s's arrays. */
const struct status_incident *statuspage_worst_incident(const struct status_snapshot *s);

/* statuspage_maintenance_in_progress is true when a maintenance whose status is
 * in_progress or verifying affects a watched component, or a watched component is
 * under_maintenance. Scheduled (future) maintenances do not count. */
bool statuspage_maintenance_in_progress(const struct status_snapshot *s);

#define STATUSPAGE_CHANGE_MAP(X)                                                                   \
  X(INDICATOR, "indicator")                                                                        \
  X(COMPONENT_ADDED, "component_added")                                                            \
  X(COMPONENT_STATUS, "component_status")                                                          \
  X(COMPONENT_REMOVED, "component_removed")                                                        \
  X(INCIDENT_OPENED, "incident_opened")                                                            \
  X(INCIDENT_UPDATED, "incident_updated")                                                          \
  X(INCIDENT_RESOLVED, "incident_resolved")

enum statuspage_change_kind {
#define STATUSPAGE_CHANGE_ENUM(id, name) STATUSPAGE_CHANGE_##id,
  STATUSPAGE_CHANGE_MAP(STATUSPAGE_CHANGE_ENUM)
#undef STATUSPAGE_CHANGE_ENUM
      STATUSPAGE_CHANGE__COUNT
};

/* statuspage_change_kind_name returns "component_status", "incident_opened", ... */
const char *statuspage_change_kind_name(enum statuspage_change_kind k);

/* One change between two snapshots. Plain value (fixed buffers) but for incident, which
 * points into the snapshot it came from. */
struct statuspage_change {
  enum statuspage_change_kind kind;
  int64_t at_ms;            /* when the page says it happened (see statuspage_diff) */
  char id[MODEL_SP_ID_MAX]; /* component or incident id; "" for the indicator */
  char name[MODEL_SP_NAME_MAX];
  bool watched;                   /* component watched, or incident affects_watched */
  bool maintenance;               /* incident kinds: it is a scheduled maintenance */
  enum component_status from, to; /* COMPONENT_STATUS; ADDED sets to, REMOVED sets from */
  enum indicator indicator_from, indicator_to; /* INDICATOR */
  char status[MODEL_SP_ID_MAX]; /* incident kinds: its status (the last seen, if resolved) */
  enum indicator impact;        /* incident kinds */
  const struct status_incident *incident; /* in new (opened, updated) or old (resolved) */
};

/* statuspage_diff lists what changed from old to new into changes (at most max entries;
 * changes may be NULL when max is 0) and returns how many changes there are in all, which
 * may be more than max: the page indicator; components added, removed or changing status;
 * incidents and maintenances opened, updated (status, impact, name, updated_at, latest
 * update or affected components changed) or resolved (gone from the unresolved list).
 * Order: indicator, components in new's order, removed components, incidents, maintenances.
 *
 * at_ms is the page's own time when it has one — the component's updated_at, the
 * incident's created_at (opened) or updated_at (updated) — and otherwise, as for
 * resolutions that summary.json no longer shows, new's page.updated_at, else new's
 * fetched_ms.
 *
 * A new snapshot that is not reachable yields no changes (a failed poll says nothing about
 * the page). An old snapshot that never held data (fetched_ms -1: the first poll after
 * start) makes every component "added" and every incident "opened"; storage can treat a
 * diff against such a snapshot as its baseline. Fast for 10,000 components (n log n). */
size_t statuspage_diff(const struct status_snapshot *old, const struct status_snapshot *new,
                       struct statuspage_change *changes, size_t max);

#endif
