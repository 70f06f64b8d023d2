/* report.c — builds the JSON documents that `check` prints and /api/v1/status serves, in
 * DESIGN.md's shape. Pure: cJSON trees in memory; the caller prints and frees them. */
#include "agent/report.h"
#include "agent/classify.h"
#include "agent/util.h"

void report_time(cJSON *obj, const char *name, int64_t unix_ms) {
  char buf[40];
  if (unix_ms < 0) {
    cJSON_AddNullToObject(obj, name);
    return;
  }
  cJSON_AddStringToObject(obj, name, util_format_time(buf, sizeof(buf), unix_ms, true));
}

void report_str(cJSON *obj, const char *name, const char *s) {
  if (!s || !*s)
    cJSON_AddNullToObject(obj, name);
  else
    cJSON_AddStringToObject(obj, name, s);
}

static void add_int_or_null(cJSON *obj, const char *name, int64_t v) {
  if (v < 0)
    cJSON_AddNullToObject(obj, name);
  else
    cJSON_AddNumberToObject(obj, name, (double)v);
}

static cJSON *ratelimit_json(const struct probe_result *r) {
  cJSON *rl = cJSON_CreateObject();
  for (int i = 0; i < RL__COUNT; i++) {
    const struct ratelimit *x = &r->ratelimit[i];
    if (x->limit < 0 && x->remaining < 0 && x->reset_ms < 0) {
      cJSON_AddNullToObject(rl, rl_resource_name((enum rl_resource)i));
      continue;
    }
    cJSON *o = cJSON_AddObjectToObject(rl, rl_resource_name((enum rl_resource)i));
    add_int_or_null(o, "limit", x->limit);
    add_int_or_null(o, "remaining", x->remaining);
    report_time(o, "reset", x->reset_ms);
  }
  return rl;
}

cJSON *report_probe_entry(const char *name, const struct probe_result *r) {
  cJSON *e = cJSON_CreateObject();
  cJSON_AddStringToObject(e, "name", name);
  cJSON_AddStringToObject(e, "probe", probe_kind_name(r->kind));
  cJSON_AddStringToObject(e, "cause", cause_name(r->cause));
  if (r->http_status > 0)
    cJSON_AddNumberToObject(e, "http_status", r->http_status);
  else
    cJSON_AddNullToObject(e, "http_status");
  report_str(e, "error_type", r->error_type);
  report_str(e, "error_message", r->error_message);
  report_str(e, "error_code", r->error_code);
  report_str(e, "request_id", r->request_id);
  report_str(e, "organization_id", r->organization_id);
  report_str(e, "workspace_id", r->workspace_id);
  cJSON_AddNumberToObject(e, "latency_seconds", (double)(int64_t)(r->total_s * 1000.0) / 1000.0);
  cJSON_AddBoolToObject(e, "retried", r->retried);
  cJSON_AddItemToObject(e, "ratelimit", ratelimit_json(r));
  add_int_or_null(e, "retry_after_seconds", r->retry_after_s);
  report_time(e, "started_at", r->started_ms);
  cJSON_AddStringToObject(e, "transport", transport_error_name(r->transport));
  report_str(e, "curl_error", r->curl_error);
  cJSON_AddStringToObject(e, "body", body_kind_name(r->body_kind));
  cJSON_AddBoolToObject(e, "truncated", r->truncated);
  cJSON_AddBoolToObject(e, "via_proxy", r->via_proxy);
  report_str(e, "peer", r->peer);
  cJSON *t = cJSON_AddObjectToObject(e, "timings");
  cJSON_AddNumberToObject(t, "dns", r->dns_s);
  cJSON_AddNumberToObject(t, "connect", r->connect_s);
  cJSON_AddNumberToObject(t, "tls", r->tls_s);
  cJSON_AddNumberToObject(t, "first_byte", r->ttfb_s);
  cJSON_AddNumberToObject(t, "total", r->total_s);
  if (r->input_tokens >= 0 || r->output_tokens >= 0) {
    cJSON *u = cJSON_AddObjectToObject(e, "tokens");
    add_int_or_null(u, "input", r->input_tokens);
    add_int_or_null(u, "output", r->output_tokens);
  }
  cJSON_AddStringToObject(e, "advice", cause_advice(r->cause));
  return e;
}

static cJSON *incident_json(const struct status_incident *in) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "id", in->id);
  cJSON_AddStringToObject(o, "name", in->name);
  cJSON_AddStringToObject(o, "status", in->status);
  cJSON_AddStringToObject(o, "impact", indicator_name(in->impact));
  report_str(o, "shortlink", in->shortlink);
  report_time(o, "created_at", in->created_ms);
  report_time(o, "updated_at", in->updated_ms);
  if (in->scheduled_for_ms >= 0 || in->scheduled_until_ms >= 0) {
    report_time(o, "scheduled_for", in->scheduled_for_ms);
    report_time(o, "scheduled_until", in->scheduled_until_ms);
  }
  cJSON *c = cJSON_AddArrayToObject(o, "components");
  for (size_t i = 0; i < in->n_components; i++)
    cJSON_AddItemToArray(c, cJSON_CreateString(in->component_ids[i]));
  cJSON_AddBoolToObject(o, "affects_watched", in->affects_watched);
  report_str(o, "latest_update", in->latest_update);
  return o;
}

cJSON *report_status_page(const struct status_snapshot *s) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddBoolToObject(o, "reachable", s->reachable);
  cJSON_AddStringToObject(o, "indicator", indicator_name(s->indicator));
  report_str(o, "description", s->description);
  report_time(o, "fetched_at", s->fetched_ms);
  report_str(o, "error", s->error);
  cJSON *comps = cJSON_AddArrayToObject(o, "components");
  for (size_t i = 0; i < s->n_components; i++) {
    const struct status_component *c = &s->components[i];
    if (c->is_group) continue;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "id", c->id);
    cJSON_AddStringToObject(j, "name", c->name);
    cJSON_AddStringToObject(j, "status", component_status_name(c->status));
    cJSON_AddBoolToObject(j, "watched", c->watched);
    cJSON_AddItemToArray(comps, j);
  }
  cJSON *inc = cJSON_AddArrayToObject(o, "incidents");
  for (size_t i = 0; i < s->n_incidents; i++)
    cJSON_AddItemToArray(inc, incident_json(&s->incidents[i]));
  cJSON *mnt = cJSON_AddArrayToObject(o, "maintenances");
  for (size_t i = 0; i < s->n_maintenances; i++)
    cJSON_AddItemToArray(mnt, incident_json(&s->maintenances[i]));
  return o;
}

static cJSON *evidence_json(const struct evidence *e, const char *key) {
  cJSON *o = cJSON_CreateObject();
  if (key) cJSON_AddStringToObject(o, "key", key);
  cJSON_AddStringToObject(o, "probe", probe_kind_name(e->kind));
  cJSON_AddStringToObject(o, "cause", cause_name(e->cause));
  report_time(o, "at", e->at_ms);
  if (e->http_status > 0)
    cJSON_AddNumberToObject(o, "http_status", e->http_status);
  else
    cJSON_AddNullToObject(o, "http_status");
  report_str(o, "error_type", e->error_type);
  report_str(o, "error_message", e->error_message);
  report_str(o, "error_code", e->error_code);
  report_str(o, "request_id", e->request_id);
  if (e->curl_error[0]) cJSON_AddStringToObject(o, "curl_error", e->curl_error);
  return o;
}

static const char *key_name(const struct classifier *c, uint32_t i) {
  const struct key_state *k = classifier_key(c, i);
  return k && k->name ? k->name : "?";
}

cJSON *report_finding(const struct finding *f, const struct classifier *c) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "scope", scope_name(f->scope));
  cJSON_AddStringToObject(o, "cause", cause_name(f->cause));
  cJSON *keys = cJSON_AddArrayToObject(o, "keys");
  for (size_t i = 0; i < f->n_keys; i++)
    cJSON_AddItemToArray(keys, cJSON_CreateString(key_name(c, f->keys[i])));
  cJSON_AddStringToObject(o, "summary", f->summary ? f->summary : "");
  cJSON *ev = cJSON_AddArrayToObject(o, "evidence");
  for (size_t i = 0; i < f->n_evidence; i++)
    cJSON_AddItemToArray(ev, evidence_json(&f->evidence[i], key_name(c, f->evidence_keys[i])));
  cJSON_AddStringToObject(o, "advice", f->advice ? f->advice : cause_advice(f->cause));
  report_time(o, "since", f->since_ms);
  if (f->organization_id[0]) cJSON_AddStringToObject(o, "organization_id", f->organization_id);
  if (f->incident_id[0]) {
    cJSON *inc = cJSON_AddObjectToObject(o, "incident");
    cJSON_AddStringToObject(inc, "id", f->incident_id);
    cJSON_AddStringToObject(inc, "name", f->incident_name);
    report_str(inc, "shortlink", f->incident_link);
    cJSON_AddStringToObject(inc, "impact", indicator_name(f->impact));
  }
  return o;
}

void report_judgement(cJSON *doc, const struct judgement *j, const struct classifier *c) {
  cJSON_AddItemToObject(doc, "verdict", report_finding(&j->verdict, c));
  cJSON *fs = cJSON_AddArrayToObject(doc, "findings");
  for (size_t i = 0; i < j->n_findings; i++)
    cJSON_AddItemToArray(fs, report_finding(&j->findings[i], c));
  cJSON *p = cJSON_AddObjectToObject(doc, "platform");
  cJSON_AddBoolToObject(p, "incident", j->platform_incident);
  report_time(p, "declared_at", j->declared_ms);
  report_time(p, "page_published_at", j->page_published_ms);
  if (j->has_lead)
    cJSON_AddNumberToObject(p, "detection_lead_seconds", (double)j->lead_ms / 1000.0);
  else
    cJSON_AddNullToObject(p, "detection_lead_seconds");
}
