/* check.c — `claudemon check`: probe every key once with every enabled kind, poll the
 * status page once, judge, print a table or DESIGN.md's JSON, exit 0 (every key ok and the
 * verdict's scope none), 1 (anything else) or 2 (bad config or usage).
 *
 * Runs its own libuv loop to completion: every probe and the poll go out at once through
 * fetch (bounded by api.max_transfers), a flaky answer is retried once after a short pause
 * as a careful person would (classify_should_retry), then fetch is closed and the loop
 * drains. Keys are read from their variables or files, handed to probe_start and wiped;
 * nothing printed ever holds one. */
#include "agent/classify.h"
#include "agent/cli.h"
#include "agent/config.h"
#include "agent/fetch.h"
#include "agent/log.h"
#include "agent/poller.h"
#include "agent/probe.h"
#include "agent/report.h"
#include "agent/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

struct check;

struct check_slot {
  struct check *check;
  uint32_t key;
  enum probe_kind kind;
  struct probe_result result;
  bool running;
  uv_timer_t retry_timer; /* used when a retry is waiting */
  bool timer_open;
};

struct check {
  uv_loop_t loop;
  struct config *cfg;
  struct fetch *fetch;
  struct poller *poller;
  char **secrets;           /* per key; NULL when unavailable */
  char (*why)[256];         /* per key: why the secret is unavailable */
  struct check_slot *slots; /* one per key and enabled kind */
  size_t n_slots;
  size_t pending; /* slots and the poll not yet finished */
  bool closing;
};

static void maybe_finish(struct check *c);

static void fetch_closed(void *arg) {
  (void)arg;
}

static void timer_closed(uv_handle_t *h) {
  struct check_slot *s = h->data;
  s->timer_open = false;
}

static void slot_start(struct check_slot *s);

static void on_retry_timer(uv_timer_t *t) {
  struct check_slot *s = t->data;
  uv_close((uv_handle_t *)t, timer_closed);
  slot_start(s);
}

static void on_probe(struct probe_result *r, void *arg) {
  struct check_slot *s = arg;
  struct check *c = s->check;
  bool retried = s->result.retried;
  s->result = *r;
  s->result.retried = retried;
  s->running = false;
  classify_probe(&s->result);
  if (!retried && !c->closing && classify_should_retry(&s->result)) {
    int64_t pause = classify_retry_pause_ms(&s->result);
    log_debug("retrying a flaky answer once", "key=%s probe=%s cause=%s pause_ms=%lld",
              log_q(c->cfg->keys[s->key].name), probe_kind_name(s->kind),
              cause_name(s->result.cause), (long long)pause);
    s->result.retried = true;
    if (uv_timer_init(&c->loop, &s->retry_timer) == 0) {
      s->timer_open = true;
      s->retry_timer.data = s;
      if (uv_timer_start(&s->retry_timer, on_retry_timer, (uint64_t)pause, 0) == 0) return;
      uv_close((uv_handle_t *)&s->retry_timer, timer_closed);
    }
    s->result.retried = false;
  }
  c->pending--;
  maybe_finish(c);
}

static void slot_start(struct check_slot *s) {
  struct check *c = s->check;
  const struct config_key *k = &c->cfg->keys[s->key];
  struct probe_target t = {
      .base_url = c->cfg->api.base_url,
      .version = c->cfg->api.version,
      .model = k->probes[s->kind].model,
      .timeout_ms = c->cfg->api.timeout_ms,
  };
  bool retried = s->result.retried;
  int rc = probe_start(c->fetch, &t, s->key, s->kind, c->secrets[s->key], on_probe, s);
  if (rc == 0) {
    s->running = true;
    return;
  }
  probe_result_init(&s->result, s->key, s->kind);
  s->result.retried = retried;
  s->result.started_ms = util_now_ms();
  s->result.transport = TRANSPORT_OTHER;
  snprintf(s->result.curl_error, sizeof(s->result.curl_error), "could not start the probe: %s",
           util_strerror(rc));
  classify_probe(&s->result);
  c->pending--;
  maybe_finish(c);
}

static void on_status(const struct status_snapshot *now, const struct status_snapshot *prev,
                      void *arg) {
  (void)now;
  (void)prev;
  struct check *c = arg;
  c->pending--;
  maybe_finish(c);
}

static void maybe_finish(struct check *c) {
  if (c->pending > 0 || c->closing) return;
  c->closing = true;
  fetch_close(c->fetch, fetch_closed, c);
  c->fetch = NULL;
}

/* ---- output ------------------------------------------------------------------------------ */

static const char *dash(const char *s) {
  return s && *s ? s : "-";
}

static void print_table(struct check *c, const struct classifier *cls, const struct judgement *j,
                        const struct status_snapshot *sp) {
  printf("%-16s %-13s %-17s %-5s %-22s %-9s %s\n", "KEY", "PROBE", "CAUSE", "HTTP", "ERROR TYPE",
         "LATENCY", "REQUEST ID");
  for (size_t i = 0; i < c->n_slots; i++) {
    const struct check_slot *s = &c->slots[i];
    const struct probe_result *r = &s->result;
    char http[16] = "-", lat[32] = "-";
    if (r->http_status > 0) snprintf(http, sizeof(http), "%d", r->http_status);
    if (r->total_s > 0) snprintf(lat, sizeof(lat), "%.3fs", r->total_s);
    printf("%-16s %-13s %-17s %-5s %-22s %-9s %s%s\n", c->cfg->keys[s->key].name,
           probe_kind_name(s->kind), cause_name(r->cause), http, dash(r->error_type), lat,
           dash(r->request_id), r->retried ? " (retried)" : "");
    if (r->cause != CAUSE_OK) {
      const char *detail = r->error_message[0] ? r->error_message : r->curl_error;
      if (*detail) printf("    %s\n", detail);
    }
  }
  printf("\nstatus page: ");
  if (!c->cfg->status_page.enabled) {
    printf("disabled\n");
  } else if (!sp->reachable) {
    printf("unreachable (%s)\n", dash(sp->error));
  } else {
    printf("%s", indicator_name(sp->indicator));
    for (size_t i = 0; i < sp->n_components; i++)
      if (sp->components[i].watched)
        printf("; %s: %s", sp->components[i].name, component_status_name(sp->components[i].status));
    printf("\n");
  }
  for (size_t i = 0; i < sp->n_incidents; i++)
    printf("  incident: %s (%s, %s) %s\n", sp->incidents[i].name,
           indicator_name(sp->incidents[i].impact), sp->incidents[i].status,
           sp->incidents[i].shortlink);
  for (size_t i = 0; i < sp->n_maintenances; i++)
    printf("  maintenance: %s (%s)\n", sp->maintenances[i].name, sp->maintenances[i].status);
  printf("\nverdict: %s %s\n  %s\n", scope_name(j->verdict.scope), cause_name(j->verdict.cause),
         j->verdict.summary ? j->verdict.summary : "");
  if (j->verdict.cause != CAUSE_OK) printf("  advice: %s\n", j->verdict.advice);
  if (j->n_findings) printf("findings:\n");
  for (size_t i = 0; i < j->n_findings; i++)
    printf("  - %s %s: %s\n", scope_name(j->findings[i].scope), cause_name(j->findings[i].cause),
           j->findings[i].summary ? j->findings[i].summary : "");
  (void)cls;
}

static void print_json(struct check *c, const struct classifier *cls, const struct judgement *j,
                       const struct status_snapshot *sp) {
  cJSON *doc = cJSON_CreateObject();
  report_time(doc, "checked_at", j->at_ms);
  cJSON *keys = cJSON_AddArrayToObject(doc, "keys");
  for (size_t i = 0; i < c->n_slots; i++)
    cJSON_AddItemToArray(
        keys, report_probe_entry(c->cfg->keys[c->slots[i].key].name, &c->slots[i].result));
  if (c->cfg->status_page.enabled)
    cJSON_AddItemToObject(doc, "status_page", report_status_page(sp));
  else
    cJSON_AddNullToObject(doc, "status_page");
  report_judgement(doc, j, cls);
  char *text = cJSON_Print(doc);
  puts(text);
  free(text);
  cJSON_Delete(doc);
}

/* ---- the command ------------------------------------------------------------------------- */

static const char check_usage[] =
    "usage: claudemon check [-c FILE] [--format table|json] [--log-level LEVEL]\n"
    "\n"
    "Probes every configured key once with each enabled probe kind, polls the status page\n"
    "once, and judges: is it us or them? A flaky answer (5xx, 529, timeout, network) is\n"
    "retried once after a short pause; a 429 never is.\n"
    "\n"
    "exit status: 0 every key ok and nothing wrong on our side or the platform's;\n"
    "             1 anything else; 2 bad config or usage.\n";

static int judge_and_print(struct check *c, bool json) {
  struct classify_params p;
  classify_params_from_config(&p, c->cfg);
  p.once = true;
  struct classifier *cls = NULL;
  if (classifier_new(&p, c->cfg->n_keys, &cls) != 0) return 2;
  for (size_t i = 0; i < c->cfg->n_keys; i++)
    classifier_set_key(cls, i, c->cfg->keys[i].name, c->cfg->keys[i].expect_organization);
  int64_t now = util_now_ms();
  for (size_t i = 0; i < c->cfg->n_keys; i++)
    if (!c->secrets[i]) classifier_key_unavailable(cls, i, now, c->why[i], NULL);
  for (size_t i = 0; i < c->n_slots; i++)
    if (c->secrets[c->slots[i].key]) classifier_observe(cls, &c->slots[i].result, NULL);
  const struct status_snapshot *sp = poller_snapshot(c->poller);
  struct judgement j;
  if (classifier_judge(cls, c->cfg->status_page.enabled ? sp : NULL, now, &j) != 0) {
    classifier_free(cls);
    return 2;
  }
  uint32_t *dns = xcalloc(c->cfg->n_keys + 1, sizeof(*dns));
  size_t n_dns = 0;
  const char *peer = NULL;
  for (size_t i = 0; i < c->n_slots; i++) {
    const struct probe_result *r = &c->slots[i].result;
    if (!probe_peer_intercepted(c->cfg->api.base_url, r)) continue;
    if (n_dns == 0 || dns[n_dns - 1] != r->key_index) dns[n_dns++] = r->key_index;
    peer = r->peer;
  }
  judgement_add_dns_interception(&j, cls, dns, n_dns, peer);
  free(dns);
  if (json)
    print_json(c, cls, &j, sp);
  else
    print_table(c, cls, &j, sp);
  fflush(stdout);
  bool all_ok = j.verdict.scope == SCOPE_NONE;
  for (size_t i = 0; i < c->cfg->n_keys && all_ok; i++) {
    const struct key_state *k = classifier_key(cls, i);
    if (!k || k->cause != CAUSE_OK) all_ok = false;
  }
  judgement_free(&j);
  classifier_free(cls);
  return all_ok ? 0 : 1;
}

int cli_check(int argc, char **argv) {
  const char *config_path = NULL, *format = "table";
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      fputs(check_usage, stdout);
      return 0;
    } else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
      config_path = argv[++i];
    } else if (strcmp(argv[i], "--format") == 0 && i + 1 < argc) {
      format = argv[++i];
    } else if (strcmp(argv[i], "--log-level") == 0 && i + 1 < argc) {
      enum log_level lvl;
      if (log_parse_level(argv[++i], &lvl) != 0) {
        fprintf(stderr, "claudemon check: unknown log level '%s'\n", argv[i]);
        return 2;
      }
      log_set_level(lvl);
    } else {
      fprintf(stderr, "claudemon check: unexpected argument '%s'\n\n%s", argv[i], check_usage);
      return 2;
    }
  }
  bool json = strcmp(format, "json") == 0;
  if (!json && strcmp(format, "table") != 0) {
    fprintf(stderr, "claudemon check: --format must be table or json\n");
    return 2;
  }
  if (!config_path) log_set_level(LOG_WARN);

  struct check c = {0};
  struct config_diag diag = {0};
  int rc =
      config_path ? config_load(config_path, &c.cfg, &diag) : config_load_default(&c.cfg, &diag);
  for (size_t i = 0; i < diag.n_errors; i++)
    fprintf(stderr, "%s\n", diag.errors[i]);
  for (size_t i = 0; i < diag.n_warnings; i++)
    fprintf(stderr, "%s\n", diag.warnings[i]);
  config_diag_free(&diag);
  if (rc != 0) return 2;

  int status = 2;
  uv_loop_init(&c.loop);
  c.secrets = xcalloc(c.cfg->n_keys, sizeof(*c.secrets));
  c.why = xcalloc(c.cfg->n_keys, sizeof(*c.why));
  for (size_t i = 0; i < c.cfg->n_keys; i++) {
    if (config_read_key(&c.cfg->keys[i], &c.secrets[i], c.why[i], sizeof(c.why[i])) == 0)
      log_add_secret(c.secrets[i]);
    for (int k = 0; k < PROBE__COUNT; k++)
      if (c.cfg->keys[i].probes[k].enabled) c.n_slots++;
  }
  c.slots = xcalloc(c.n_slots ? c.n_slots : 1, sizeof(*c.slots));

  char *proxy_password = NULL;
  char why[256];
  if ((c.cfg->api.proxy_password.env || c.cfg->api.proxy_password.file) &&
      config_read_secret(&c.cfg->api.proxy_password, &proxy_password, why, sizeof(why)) != 0) {
    fprintf(stderr, "claudemon check: proxy password: %s\n", why);
    goto out;
  }
  if (proxy_password) log_add_secret(proxy_password);
  struct fetch_opts fo;
  fetch_opts_init(&fo);
  fo.max_transfers = c.cfg->api.max_transfers;
  fo.max_host_connections = c.cfg->api.max_host_connections;
  fo.max_body_bytes = (size_t)c.cfg->api.max_body_bytes;
  fo.proxy = c.cfg->api.proxy;
  fo.proxy_user = c.cfg->api.proxy_user;
  fo.proxy_password = proxy_password;
  if (fetch_new(&c.loop, &fo, &c.fetch) != 0) {
    fprintf(stderr, "claudemon check: cannot start the HTTP client\n");
    goto out;
  }
  c.poller = poller_new(c.fetch, c.cfg);

  size_t n = 0;
  c.pending = c.n_slots + (c.cfg->status_page.enabled ? 1 : 0) + 1;
  for (size_t i = 0; i < c.cfg->n_keys; i++) {
    for (int k = 0; k < PROBE__COUNT; k++) {
      if (!c.cfg->keys[i].probes[k].enabled) continue;
      struct check_slot *s = &c.slots[n++];
      s->check = &c;
      s->key = (uint32_t)i;
      s->kind = (enum probe_kind)k;
      probe_result_init(&s->result, s->key, s->kind);
      if (!c.secrets[i]) {
        s->result.started_ms = util_now_ms();
        s->result.cause = CAUSE_KEY_UNAVAILABLE;
        util_copy(s->result.error_message, sizeof(s->result.error_message), c.why[i]);
        c.pending--;
        continue;
      }
      slot_start(s);
    }
  }
  if (c.cfg->status_page.enabled && poller_poll(c.poller, on_status, &c) != 0) c.pending--;
  c.pending--; /* the start-up guard: nothing finishes before every request is out */
  maybe_finish(&c);
  uv_run(&c.loop, UV_RUN_DEFAULT);
  status = judge_and_print(&c, json);

out:
  if (c.fetch) {
    fetch_close(c.fetch, fetch_closed, &c);
    uv_run(&c.loop, UV_RUN_DEFAULT);
  }
  poller_free(c.poller);
  if (uv_loop_close(&c.loop) != 0) log_warn("event loop did not close cleanly", "%s", "");
  for (size_t i = 0; i < c.cfg->n_keys; i++)
    config_secret_free(c.secrets[i]);
  config_secret_free(proxy_password);
  log_clear_secrets();
  free(c.secrets);
  free(c.why);
  free(c.slots);
  config_free(c.cfg);
  return status;
}
