/* statuspage.c — owns the reading of an Atlassian Statuspage v2 summary.json and the rules
 * applied to the resulting struct status_snapshot: watched components, carrying data over
 * a failed poll, the worst watched incident, maintenances in progress and the diff between
 * two polls that storage records.
 *
 * The body comes from the network and is never trusted: every field is read through a
 * helper that checks its JSON type, a missing or mistyped field costs that field only (and
 * is counted for the caller's log line), and only a body that is not a JSON object with a
 * "components" array is refused. Enum values we do not know become *_UNKNOWN, never
 * operational. Text that reaches tables, labels and logs (names, update bodies, the error)
 * is sanitised here.
 *
 * It must never do I/O, read the clock or log: the probe engine fetches and the daemon
 * logs. Snapshots it fills own their arrays (status_snapshot_free()); struct
 * statuspage_change entries point into the snapshots they were computed from. */
#include "agent/statuspage.h"
#include "agent/util.h"

#include <cJSON.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* What a parse tolerated; reported in err on success. */
struct problems {
  size_t components_skipped; /* not an object, or no id */
  size_t incidents_skipped;  /* not an object, or no id */
  size_t mistyped;           /* a field present with the wrong JSON type */
  size_t bad_times;          /* a time string util_parse_time refused */
  size_t duplicates;         /* a component or incident whose id an earlier one has */
};

/* The watch list and what it resolved to, while a page is parsed. */
struct watch_ctx {
  const char *const *watch;
  size_t n_watch;
  struct id_ref *watched; /* sorted ids of the page's watched components (owned) */
  size_t n_watched;
};

static void set_err(char *err, size_t errsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errsz, const char *fmt, ...) {
  if (!err || errsz == 0) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errsz, fmt, ap);
  va_end(ap);
}

/* Type-checking readers. A member that is absent or JSON null is "absent" and not a
 * problem (Statuspage uses null for unset fields, trimmed copies drop fields); a member of
 * another type is counted as mistyped and treated as absent. */

static const cJSON *get_member(const cJSON *obj, const char *name) {
  return cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, name) : NULL;
}

static bool is_absent(const cJSON *v) {
  return v == NULL || cJSON_IsNull(v);
}

static const char *get_string(const cJSON *obj, const char *name, struct problems *pb) {
  const cJSON *v = get_member(obj, name);
  if (is_absent(v)) return NULL;
  if (!cJSON_IsString(v) || v->valuestring == NULL) {
    pb->mistyped++;
    return NULL;
  }
  return v->valuestring;
}

static const cJSON *get_object(const cJSON *obj, const char *name, struct problems *pb) {
  const cJSON *v = get_member(obj, name);
  if (is_absent(v)) return NULL;
  if (!cJSON_IsObject(v)) {
    pb->mistyped++;
    return NULL;
  }
  return v;
}

static const cJSON *get_array(const cJSON *obj, const char *name, struct problems *pb) {
  const cJSON *v = get_member(obj, name);
  if (is_absent(v)) return NULL;
  if (!cJSON_IsArray(v)) {
    pb->mistyped++;
    return NULL;
  }
  return v;
}

/* get_bool returns the member's value, or dflt when absent or mistyped. */
static bool get_bool(const cJSON *obj, const char *name, bool dflt, struct problems *pb) {
  const cJSON *v = get_member(obj, name);
  if (is_absent(v)) return dflt;
  if (!cJSON_IsBool(v)) {
    pb->mistyped++;
    return dflt;
  }
  return cJSON_IsTrue(v);
}

/* get_time returns the member as Unix ms, or -1 when absent, mistyped or unparsable. */
static int64_t get_time(const cJSON *obj, const char *name, struct problems *pb) {
  const char *s = get_string(obj, name, pb);
  int64_t ms;
  if (!s) return -1;
  if (util_parse_time(s, &ms) != 0) {
    pb->bad_times++;
    return -1;
  }
  return ms;
}

/* copy_text copies a string from the page, sanitised; NULL gives "". */
static void copy_text(char *dst, size_t dstsz, const char *src) {
  util_sanitize(dst, dstsz, src, src ? strlen(src) : 0);
}

static const char *json_type_name(const cJSON *v) {
  if (cJSON_IsObject(v)) return "an object";
  if (cJSON_IsArray(v)) return "an array";
  if (cJSON_IsString(v)) return "a string";
  if (cJSON_IsNumber(v)) return "a number";
  if (cJSON_IsBool(v)) return "a boolean";
  if (cJSON_IsNull(v)) return "null";
  return "an unknown type";
}

/* Id indexes. Everything that matches ids (duplicates, watched components, the diff)
 * goes through a sorted index, so a page of 10,000 components — or a hostile one with
 * 100,000 affected-component entries — costs n log n, never n squared, on the loop. */

struct id_ref {
  const char *id; /* into the array indexed */
  size_t pos;     /* position in that array */
};

static int cmp_id_ref(const void *a, const void *b) {
  const struct id_ref *x = a, *y = b;
  int c = strcmp(x->id, y->id);
  if (c) return c;
  return (x->pos > y->pos) - (x->pos < y->pos);
}

static int cmp_id_key(const void *key, const void *elem) {
  return strcmp(key, ((const struct id_ref *)elem)->id);
}

/* id_index indexes the ids of n elements of stride bytes, each holding its id at id_off;
 * with keep, only those keep says (NULL: all). Returns NULL for none; the caller frees. */
static struct id_ref *id_index(const void *base, size_t n, size_t stride, size_t id_off,
                               bool (*keep)(const void *), size_t *n_out) {
  struct id_ref *idx = n ? xmalloc(n * sizeof(*idx)) : NULL;
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    const char *el = (const char *)base + i * stride;
    if (keep && !keep(el)) continue;
    idx[k].id = el + id_off;
    idx[k++].pos = i;
  }
  if (k) qsort(idx, k, sizeof(*idx), cmp_id_ref);
  *n_out = k;
  if (k == 0) {
    free(idx);
    idx = NULL;
  }
  return idx;
}

static const struct id_ref *id_find(const struct id_ref *idx, size_t n, const char *id) {
  return idx ? bsearch(id, idx, n, sizeof(*idx), cmp_id_key) : NULL;
}

/* drop_duplicates removes, in place and keeping the order, every element whose id an
 * earlier element has, calling release on each dropped one; returns the new count. */
static size_t drop_duplicates(void *base, size_t n, size_t stride, size_t id_off,
                              void (*release)(void *), size_t *dropped) {
  size_t n_idx;
  struct id_ref *idx = id_index(base, n, stride, id_off, NULL, &n_idx);
  bool *drop = NULL;
  for (size_t i = 1; i < n_idx; i++) {
    if (strcmp(idx[i].id, idx[i - 1].id) != 0) continue;
    if (!drop) drop = xcalloc(n, sizeof(*drop));
    drop[idx[i].pos] = true; /* sorted by (id, pos): the first of a run is kept */
  }
  free(idx);
  if (!drop) return n;
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    char *el = (char *)base + i * stride;
    if (drop[i]) {
      if (release) release(el);
      (*dropped)++;
      continue;
    }
    if (o != i) memcpy((char *)base + o * stride, el, stride);
    o++;
  }
  free(drop);
  return o;
}

/* Watching. */

static bool watch_entry_matches(const char *w, const char *id, const char *name) {
  if (!w || !*w) return false;
  if (id && strcmp(w, id) == 0) return true;
  return name && *name && strcasecmp(w, name) == 0;
}

static bool watch_list_matches(const struct watch_ctx *wc, const char *id, const char *name) {
  for (size_t i = 0; i < wc->n_watch; i++)
    if (watch_entry_matches(wc->watch[i], id, name)) return true;
  return false;
}

static bool is_watched_group(const void *el) {
  const struct status_component *c = el;
  return c->watched && c->is_group;
}

static bool is_watched(const void *el) {
  return ((const struct status_component *)el)->watched;
}

/* mark_watched sets watched on the components the list names, then on the members of
 * watched groups (a member names its group by id in group_id), and indexes the watched
 * components' ids into wc for the incidents. */
static void mark_watched(struct status_component *c, size_t n, struct watch_ctx *wc) {
  for (size_t i = 0; i < n; i++)
    c[i].watched = watch_list_matches(wc, c[i].id, c[i].name);
  size_t n_groups;
  struct id_ref *groups = id_index(c, n, sizeof(*c), offsetof(struct status_component, id),
                                   is_watched_group, &n_groups);
  for (size_t i = 0; groups && i < n; i++)
    if (c[i].group_id[0] && id_find(groups, n_groups, c[i].group_id)) c[i].watched = true;
  free(groups);
  wc->watched =
      id_index(c, n, sizeof(*c), offsetof(struct status_component, id), is_watched, &wc->n_watched);
}

/* component_is_watched: an affected component of an incident, by id and (when the incident
 * names it) name. The page's own watched components count too, so group membership does. */
static bool component_is_watched(const struct watch_ctx *wc, const char *id, const char *name) {
  return watch_list_matches(wc, id, name) || id_find(wc->watched, wc->n_watched, id) != NULL;
}

/* Components. */

/* parse_component fills *c from one element of "components"; false when it has no id. */
static bool parse_component(const cJSON *item, struct status_component *c, struct problems *pb) {
  memset(c, 0, sizeof(*c));
  if (!cJSON_IsObject(item)) return false;
  const char *id = get_string(item, "id", pb);
  if (!id || !*id) return false;
  copy_text(c->id, sizeof(c->id), id);
  if (!c->id[0]) return false; /* nothing but control characters */
  copy_text(c->name, sizeof(c->name), get_string(item, "name", pb));
  copy_text(c->group_id, sizeof(c->group_id), get_string(item, "group_id", pb));
  /* A group lists its members' ids in "components"; use that when "group" is missing. */
  bool has_members = cJSON_IsArray(get_member(item, "components"));
  c->is_group = get_bool(item, "group", has_members, pb);
  const char *status = get_string(item, "status", pb);
  c->status = component_status_parse(status);
  c->updated_ms = get_time(item, "updated_at", pb);
  c->watched = false;
  return true;
}

/* Incidents and maintenances. */

struct id_list {
  char (*ids)[MODEL_SP_ID_MAX];
  size_t n, cap;
  bool watched;
};

static void id_list_add(struct id_list *l, const struct watch_ctx *wc, const char *id,
                        const char *name) {
  char buf[MODEL_SP_ID_MAX];
  if (!id || !*id) return;
  copy_text(buf, sizeof(buf), id);
  if (!buf[0]) return;
  if (component_is_watched(wc, buf, name)) l->watched = true;
  if (l->n == l->cap) {
    l->cap = l->cap ? l->cap * 2 : 4;
    l->ids = xrealloc(l->ids, l->cap * sizeof(*l->ids));
  }
  memcpy(l->ids[l->n++], buf, sizeof(buf));
}

/* add_component_refs adds the components of an incident's "components" (component
 * objects; bare id strings are accepted too) or an update's "affected_components"
 * (objects with "code" and "name"). */
static void add_component_refs(struct id_list *l, const struct watch_ctx *wc, const cJSON *arr,
                               const char *id_field, struct problems *pb) {
  const cJSON *it;
  cJSON_ArrayForEach(it, arr) {
    if (cJSON_IsString(it)) {
      id_list_add(l, wc, it->valuestring, NULL);
    } else if (cJSON_IsObject(it)) {
      id_list_add(l, wc, get_string(it, id_field, pb), get_string(it, "name", pb));
    } else {
      pb->mistyped++;
    }
  }
}

/* update_time is when an incident update was published: display_at, else created_at. */
static int64_t update_time(const cJSON *u, struct problems *pb) {
  int64_t t = get_time(u, "display_at", pb);
  return t >= 0 ? t : get_time(u, "created_at", pb);
}

/* parse_updates reads incident_updates: the body of the newest update, and the affected
 * components of the newest update that lists any. Statuspage lists updates newest first;
 * times decide when present, and the earlier element wins a tie. */
static void parse_updates(const cJSON *item, struct status_incident *inc, struct id_list *l,
                          const struct watch_ctx *wc, struct problems *pb) {
  const cJSON *updates = get_array(item, "incident_updates", pb);
  const cJSON *newest = NULL, *newest_affected = NULL, *u;
  int64_t newest_t = -1, newest_affected_t = -1;
  cJSON_ArrayForEach(u, updates) {
    if (!cJSON_IsObject(u)) {
      pb->mistyped++;
      continue;
    }
    int64_t t = update_time(u, pb);
    if (!newest || t > newest_t) {
      newest = u;
      newest_t = t;
    }
    const cJSON *aff = get_array(u, "affected_components", pb);
    if (cJSON_GetArraySize(aff) > 0 && (!newest_affected || t > newest_affected_t)) {
      newest_affected = aff;
      newest_affected_t = t;
    }
  }
  if (newest)
    copy_text(inc->latest_update, sizeof(inc->latest_update), get_string(newest, "body", pb));
  if (newest_affected) add_component_refs(l, wc, newest_affected, "code", pb);
}

/* parse_incident fills *inc from one element of "incidents" or "scheduled_maintenances".
 * Returns false when it has no id (skipped) or is already over (skip quietly: summary.json
 * should not list those, but a cache may). */
static bool parse_incident(const cJSON *item, bool maintenance, const struct watch_ctx *wc,
                           struct status_incident *inc, bool *skipped, struct problems *pb) {
  memset(inc, 0, sizeof(*inc));
  *skipped = false;
  if (!cJSON_IsObject(item)) {
    *skipped = true;
    return false;
  }
  const char *id = get_string(item, "id", pb);
  if (!id || !*id) {
    *skipped = true;
    return false;
  }
  copy_text(inc->id, sizeof(inc->id), id);
  if (!inc->id[0]) {
    *skipped = true;
    return false;
  }
  const char *status = get_string(item, "status", pb);
  copy_text(inc->status, sizeof(inc->status), status && *status ? status : "unknown");
  if (maintenance ? strcmp(inc->status, "completed") == 0
                  : strcmp(inc->status, "resolved") == 0 || strcmp(inc->status, "postmortem") == 0)
    return false;
  copy_text(inc->name, sizeof(inc->name), get_string(item, "name", pb));
  inc->impact = indicator_parse(get_string(item, "impact", pb));
  copy_text(inc->shortlink, sizeof(inc->shortlink), get_string(item, "shortlink", pb));
  inc->created_ms = get_time(item, "created_at", pb);
  inc->updated_ms = get_time(item, "updated_at", pb);
  inc->started_ms = get_time(item, "started_at", pb);
  inc->scheduled_for_ms = maintenance ? get_time(item, "scheduled_for", pb) : -1;
  inc->scheduled_until_ms = maintenance ? get_time(item, "scheduled_until", pb) : -1;

  struct id_list l = {0};
  add_component_refs(&l, wc, get_array(item, "components", pb), "id", pb);
  parse_updates(item, inc, &l, wc, pb);
  size_t repeats = 0; /* the same component in both lists is no problem */
  l.n = drop_duplicates(l.ids, l.n, sizeof(*l.ids), 0, NULL, &repeats);
  inc->component_ids = l.ids;
  inc->n_components = l.n;
  /* An incident that names no component may be about any of them, the watched ones
   * included: count it as affecting them rather than miss it. */
  inc->affects_watched = l.n == 0 ? wc->n_watch > 0 : l.watched;
  return true;
}

static void release_incident(void *el) {
  free(((struct status_incident *)el)->component_ids);
}

/* parse_incident_list reads an array of incidents or maintenances into *v / *n. */
static void parse_incident_list(const cJSON *arr, bool maintenance, const struct watch_ctx *wc,
                                struct status_incident **v, size_t *n, struct problems *pb) {
  int size = cJSON_GetArraySize(arr);
  *v = NULL;
  *n = 0;
  if (size <= 0) return;
  *v = xcalloc((size_t)size, sizeof(**v));
  const cJSON *it;
  cJSON_ArrayForEach(it, arr) {
    bool skipped;
    if (parse_incident(it, maintenance, wc, &(*v)[*n], &skipped, pb))
      (*n)++;
    else if (skipped)
      pb->incidents_skipped++;
  }
  *n = drop_duplicates(*v, *n, sizeof(**v), offsetof(struct status_incident, id), release_incident,
                       &pb->duplicates);
  if (*n == 0) {
    free(*v);
    *v = NULL;
  }
}

/* describe_problems writes the tolerated problems as one line, or "". */
static void describe_problems(const struct problems *pb, char *err, size_t errsz) {
  char buf[256] = "";
  size_t o = 0;
  const struct {
    size_t n;
    const char *what;
  } rows[] = {
      {pb->components_skipped, "component(s) skipped (not an object or no id)"},
      {pb->incidents_skipped, "incident(s) skipped (not an object or no id)"},
      {pb->mistyped, "field(s) of the wrong type ignored"},
      {pb->bad_times, "unparsable time(s) ignored"},
      {pb->duplicates, "duplicate id(s) dropped (the first one kept)"},
  };
  for (size_t i = 0; i < UTIL_ARRAY_LEN(rows); i++) {
    if (rows[i].n == 0 || o >= sizeof(buf)) continue;
    int w = snprintf(buf + o, sizeof(buf) - o, "%s%zu %s", o ? "; " : "", rows[i].n, rows[i].what);
    if (w > 0) o += (size_t)w;
  }
  set_err(err, errsz, "%s", buf);
}

/* ends_inside reports whether body stops inside a string, an object or an array: the mark
 * of a truncated transfer, told apart from malformed JSON whatever cJSON's error position
 * (it points at the start of an unterminated string, not at the end of the body). */
static bool ends_inside(const char *body, size_t len) {
  size_t depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < len; i++) {
    char c = body[i];
    if (in_string) {
      if (c == '\\')
        i++;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      depth++;
    } else if (c == '}' || c == ']') {
      if (depth == 0) return false;
      depth--;
    }
  }
  return in_string || depth > 0;
}

/* describe_not_json explains why cJSON refused the body. */
static void describe_not_json(const char *body, size_t len, const char *stop, char *err,
                              size_t errsz) {
  size_t pos = stop && stop >= body && stop <= body + len ? (size_t)(stop - body) : 0;
  size_t i = 0;
  while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n'))
    i++;
  char head[48];
  util_sanitize(head, sizeof(head), body + i, len - i < 40 ? len - i : 40);
  if (i < len && body[i] == '<')
    set_err(err, errsz, "not JSON: the body looks like HTML (\"%s\")", head);
  else if (i < len && (body[i] == '{' || body[i] == '[') && ends_inside(body + i, len - i))
    set_err(err, errsz, "truncated JSON: the body (%zu bytes) ends inside the document", len);
  else
    set_err(err, errsz, "not JSON: malformed at byte %zu of %zu (starts \"%s\")", pos, len, head);
}

static bool only_space(const char *p, const char *end) {
  for (; p < end; p++)
    if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') return false;
  return true;
}

int statuspage_parse(const char *body, size_t len, const char *const *watch, size_t n_watch,
                     int64_t now_ms, struct status_snapshot *out, char *err, size_t errsz) {
  int rc = UTIL_EPARSE;
  char *copy = NULL;
  cJSON *root = NULL;
  const cJSON *components, *status;
  const char *stop = NULL;
  struct problems pb = {0};
  struct watch_ctx wc = {watch, watch ? n_watch : 0, NULL, 0};
  char reason[MODEL_SP_TEXT_MAX] = "";
  int size;

  status_snapshot_init(out);
  set_err(err, errsz, "%s", "");
  if (!body || len == 0 || only_space(body, body + len)) {
    set_err(reason, sizeof(reason), "empty body");
    goto out;
  }
  /* cJSON is given a NUL-terminated copy even though it takes a length: several cJSON
   * releases read one byte past a string that ends in a backslash at the end of the
   * buffer, and a copy of a summary (tens of kB) costs nothing next to the fetch. */
  copy = xmalloc(len + 1);
  memcpy(copy, body, len);
  copy[len] = '\0';
  root = cJSON_ParseWithLengthOpts(copy, len, &stop, false);
  if (!root) {
    describe_not_json(copy, len, stop, reason, sizeof(reason));
    goto out;
  }
  if (stop && !only_space(stop, copy + len)) {
    set_err(reason, sizeof(reason), "not JSON: unexpected data after the document at byte %zu",
            (size_t)(stop - copy));
    goto out;
  }
  if (!cJSON_IsObject(root)) {
    set_err(reason, sizeof(reason), "not a Statuspage summary: the JSON is %s, not an object",
            json_type_name(root));
    goto out;
  }
  components = get_member(root, "components");
  status = get_object(root, "status", &pb);
  if (is_absent(components)) {
    if (status)
      set_err(reason, sizeof(reason),
              "no \"components\" array: this looks like a status.json, not a summary.json "
              "(page indicator \"%s\"); poll /api/v2/summary.json",
              indicator_name(indicator_parse(get_string(status, "indicator", &pb))));
    else
      set_err(reason, sizeof(reason), "no \"components\" array: not a Statuspage summary.json");
    goto out;
  }
  if (!cJSON_IsArray(components)) {
    set_err(reason, sizeof(reason), "\"components\" is %s, not an array",
            json_type_name(components));
    goto out;
  }

  out->indicator = indicator_parse(get_string(status, "indicator", &pb));
  copy_text(out->description, sizeof(out->description), get_string(status, "description", &pb));
  out->page_updated_ms = get_time(get_object(root, "page", &pb), "updated_at", &pb);

  size = cJSON_GetArraySize(components);
  if (size > 0) {
    out->components = xcalloc((size_t)size, sizeof(*out->components));
    const cJSON *it;
    cJSON_ArrayForEach(it, components) {
      if (parse_component(it, &out->components[out->n_components], &pb))
        out->n_components++;
      else
        pb.components_skipped++;
    }
    out->n_components =
        drop_duplicates(out->components, out->n_components, sizeof(*out->components),
                        offsetof(struct status_component, id), NULL, &pb.duplicates);
    if (out->n_components == 0) {
      free(out->components);
      out->components = NULL;
    }
  }
  mark_watched(out->components, out->n_components, &wc);

  parse_incident_list(get_array(root, "incidents", &pb), false, &wc, &out->incidents,
                      &out->n_incidents, &pb);
  parse_incident_list(get_array(root, "scheduled_maintenances", &pb), true, &wc, &out->maintenances,
                      &out->n_maintenances, &pb);

  out->reachable = true;
  out->polled_ms = now_ms;
  out->fetched_ms = now_ms;
  out->error[0] = '\0';
  describe_problems(&pb, err, errsz);
  rc = 0;

out:
  free(wc.watched);
  cJSON_Delete(root);
  free(copy);
  if (rc != 0) {
    statuspage_failed(out, now_ms, reason);
    set_err(err, errsz, "%s", reason);
  }
  return rc;
}

void statuspage_failed(struct status_snapshot *out, int64_t now_ms, const char *reason) {
  status_snapshot_init(out);
  out->reachable = false;
  out->polled_ms = now_ms;
  copy_text(out->error, sizeof(out->error), reason && *reason ? reason : "status page poll failed");
}

void statuspage_carry(struct status_snapshot *last_good,
                      const struct status_snapshot *failed_poll) {
  last_good->reachable = false;
  last_good->polled_ms = failed_poll->polled_ms;
  util_copy(last_good->error, sizeof(last_good->error),
            failed_poll->error[0] ? failed_poll->error : "status page poll failed");
}

/* Helpers for the classifier and the metrics. */

bool statuspage_watched_degraded(const struct status_snapshot *s) {
  for (size_t i = 0; i < s->n_components; i++) {
    const struct status_component *c = &s->components[i];
    if (!c->watched) continue;
    switch (c->status) {
    case COMPONENT_DEGRADED_PERFORMANCE:
    case COMPONENT_PARTIAL_OUTAGE:
    case COMPONENT_MAJOR_OUTAGE:
    case COMPONENT_UNKNOWN:
      return true;
    case COMPONENT_OPERATIONAL:
    case COMPONENT_UNDER_MAINTENANCE:
    case COMPONENT__COUNT:
      break;
    }
  }
  return false;
}

static int impact_rank(enum indicator i) {
  switch (i) {
  case INDICATOR_CRITICAL:
    return 4;
  case INDICATOR_MAJOR:
    return 3;
  case INDICATOR_MINOR:
    return 2;
  case INDICATOR_UNKNOWN:
    return 1;
  case INDICATOR_NONE:
  case INDICATOR_MAINTENANCE:
  case INDICATOR__COUNT:
    break;
  }
  return 0;
}

/* started is when an incident began, for ties: started_at, else created_at. */
static int64_t started(const struct status_incident *inc) {
  return inc->started_ms >= 0 ? inc->started_ms : inc->created_ms;
}

const struct status_incident *statuspage_worst_incident(const struct status_snapshot *s) {
  const struct status_incident *worst = NULL;
  for (size_t i = 0; i < s->n_incidents; i++) {
    const struct status_incident *inc = &s->incidents[i];
    if (!inc->affects_watched) continue;
    if (!worst || impact_rank(inc->impact) > impact_rank(worst->impact)) {
      worst = inc;
      continue;
    }
    /* On a tie the longest-running one; an unknown start never wins over a known one. */
    if (impact_rank(inc->impact) == impact_rank(worst->impact) && started(inc) >= 0 &&
        (started(worst) < 0 || started(inc) < started(worst)))
      worst = inc;
  }
  return worst;
}

bool statuspage_maintenance_in_progress(const struct status_snapshot *s) {
  for (size_t i = 0; i < s->n_maintenances; i++) {
    const struct status_incident *m = &s->maintenances[i];
    if (m->affects_watched &&
        (strcmp(m->status, "in_progress") == 0 || strcmp(m->status, "verifying") == 0))
      return true;
  }
  for (size_t i = 0; i < s->n_components; i++)
    if (s->components[i].watched && s->components[i].status == COMPONENT_UNDER_MAINTENANCE)
      return true;
  return false;
}

/* The diff. */

static const char *const change_names[STATUSPAGE_CHANGE__COUNT] = {
#define STATUSPAGE_CHANGE_NAME(id, name) name,
    STATUSPAGE_CHANGE_MAP(STATUSPAGE_CHANGE_NAME)
#undef STATUSPAGE_CHANGE_NAME
};

const char *statuspage_change_kind_name(enum statuspage_change_kind k) {
  return (unsigned)k < STATUSPAGE_CHANGE__COUNT ? change_names[k] : "unknown";
}

/* A diff in progress: changes are counted always and written while there is room. */
struct diff {
  struct statuspage_change *changes;
  size_t max, n;
  int64_t fallback_ms; /* new's page.updated_at, else its fetched_ms */
};

static struct statuspage_change *diff_add(struct diff *d, enum statuspage_change_kind kind,
                                          int64_t at_ms) {
  size_t i = d->n++;
  if (!d->changes || i >= d->max) return NULL;
  struct statuspage_change *c = &d->changes[i];
  memset(c, 0, sizeof(*c));
  c->kind = kind;
  c->at_ms = at_ms >= 0 ? at_ms : d->fallback_ms;
  c->from = COMPONENT_UNKNOWN;
  c->to = COMPONENT_UNKNOWN;
  c->indicator_from = INDICATOR_UNKNOWN;
  c->indicator_to = INDICATOR_UNKNOWN;
  c->impact = INDICATOR_UNKNOWN;
  return c;
}

static struct id_ref *component_index(const struct status_snapshot *s, size_t *n) {
  return id_index(s->components, s->n_components, sizeof(*s->components),
                  offsetof(struct status_component, id), NULL, n);
}

static struct id_ref *incident_index(const struct status_incident *v, size_t n, size_t *n_out) {
  return id_index(v, n, sizeof(*v), offsetof(struct status_incident, id), NULL, n_out);
}

static void component_change(struct diff *d, enum statuspage_change_kind kind,
                             const struct status_component *c, const struct status_component *from,
                             const struct status_component *to) {
  /* c is never NULL, but `to` may be c itself: the analyzer, seeing `to` tested, took c
   * for possibly NULL too. Reading c first settles it. */
  bool watched = c->watched;
  struct statuspage_change *ch = diff_add(d, kind, to ? to->updated_ms : -1);
  if (!ch) return;
  util_copy(ch->id, sizeof(ch->id), c->id);
  util_copy(ch->name, sizeof(ch->name), c->name);
  ch->watched = watched;
  if (from) ch->from = from->status;
  if (to) ch->to = to->status;
}

static void diff_components(struct diff *d, const struct status_snapshot *old,
                            const struct status_snapshot *new) {
  size_t n_old, n_new;
  struct id_ref *old_idx = component_index(old, &n_old);
  struct id_ref *new_idx = component_index(new, &n_new);
  for (size_t i = 0; i < new->n_components; i++) {
    const struct status_component *nc = &new->components[i];
    const struct id_ref *hit = id_find(old_idx, n_old, nc->id);
    const struct status_component *oc = hit ? &old->components[hit->pos] : NULL;
    if (!oc)
      component_change(d, STATUSPAGE_CHANGE_COMPONENT_ADDED, nc, NULL, nc);
    else if (oc->status != nc->status)
      component_change(d, STATUSPAGE_CHANGE_COMPONENT_STATUS, nc, oc, nc);
  }
  for (size_t i = 0; i < old->n_components; i++) {
    const struct status_component *oc = &old->components[i];
    if (!id_find(new_idx, n_new, oc->id))
      component_change(d, STATUSPAGE_CHANGE_COMPONENT_REMOVED, oc, oc, NULL);
  }
  free(old_idx);
  free(new_idx);
}

/* same_components compares two lists of affected components as sets. */
static bool same_components(const struct status_incident *a, const struct status_incident *b) {
  if (a->n_components != b->n_components) return false;
  size_t na, nb;
  struct id_ref *ia =
      id_index(a->component_ids, a->n_components, sizeof(*a->component_ids), 0, NULL, &na);
  struct id_ref *ib =
      id_index(b->component_ids, b->n_components, sizeof(*b->component_ids), 0, NULL, &nb);
  bool same = na == nb;
  for (size_t i = 0; same && i < na; i++)
    same = strcmp(ia[i].id, ib[i].id) == 0;
  free(ia);
  free(ib);
  return same;
}

static bool incident_changed(const struct status_incident *a, const struct status_incident *b) {
  return strcmp(a->status, b->status) != 0 || a->impact != b->impact ||
         strcmp(a->name, b->name) != 0 || a->updated_ms != b->updated_ms ||
         a->scheduled_for_ms != b->scheduled_for_ms ||
         a->scheduled_until_ms != b->scheduled_until_ms ||
         strcmp(a->latest_update, b->latest_update) != 0 || !same_components(a, b);
}

static void incident_change(struct diff *d, enum statuspage_change_kind kind,
                            const struct status_incident *inc, bool maintenance, int64_t at_ms) {
  struct statuspage_change *ch = diff_add(d, kind, at_ms);
  if (!ch) return;
  util_copy(ch->id, sizeof(ch->id), inc->id);
  util_copy(ch->name, sizeof(ch->name), inc->name);
  util_copy(ch->status, sizeof(ch->status), inc->status);
  ch->watched = inc->affects_watched;
  ch->maintenance = maintenance;
  ch->impact = inc->impact;
  ch->incident = inc;
}

static void diff_incidents(struct diff *d, const struct status_incident *ov, size_t on,
                           const struct status_incident *nv, size_t nn, bool maintenance) {
  size_t n_old, n_new;
  struct id_ref *old_idx = incident_index(ov, on, &n_old);
  struct id_ref *new_idx = incident_index(nv, nn, &n_new);
  for (size_t i = 0; i < nn; i++) {
    const struct id_ref *hit = id_find(old_idx, n_old, nv[i].id);
    if (!hit)
      incident_change(d, STATUSPAGE_CHANGE_INCIDENT_OPENED, &nv[i], maintenance, nv[i].created_ms);
    else if (incident_changed(&ov[hit->pos], &nv[i]))
      incident_change(d, STATUSPAGE_CHANGE_INCIDENT_UPDATED, &nv[i], maintenance, nv[i].updated_ms);
  }
  for (size_t i = 0; i < on; i++)
    if (!id_find(new_idx, n_new, ov[i].id))
      incident_change(d, STATUSPAGE_CHANGE_INCIDENT_RESOLVED, &ov[i], maintenance, -1);
  free(old_idx);
  free(new_idx);
}

size_t statuspage_diff(const struct status_snapshot *old, const struct status_snapshot *new,
                       struct statuspage_change *changes, size_t max) {
  struct diff d = {changes, max, 0, -1};
  if (!new->reachable) return 0;
  d.fallback_ms = new->page_updated_ms >= 0 ? new->page_updated_ms : new->fetched_ms;
  bool baseline = old->fetched_ms < 0;
  if (baseline || old->indicator != new->indicator) {
    struct statuspage_change *ch = diff_add(&d, STATUSPAGE_CHANGE_INDICATOR, -1);
    if (ch) {
      ch->indicator_from = old->indicator;
      ch->indicator_to = new->indicator;
      ch->watched = true;
    }
  }
  diff_components(&d, old, new);
  diff_incidents(&d, old->incidents, old->n_incidents, new->incidents, new->n_incidents, false);
  diff_incidents(&d, old->maintenances, old->n_maintenances, new->maintenances, new->n_maintenances,
                 true);
  return d.n;
}
