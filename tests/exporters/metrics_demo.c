/* metrics_demo — a test driver for tests/integration/test_metrics_tools.py: it fills a
 * struct metrics with keys in several causes, a status page snapshot, a verdict, alert
 * pushes and probe timings, serves it through httpd on /metrics, prints the bound port on
 * stdout and runs until SIGTERM or SIGINT. It also plants traps the real tools must never
 * see: a key named with a (registered, key-shaped) secret, and an alert receiver given as
 * a URL.
 *
 *   metrics_demo [--listen ADDR] [--minimal] [--tls CERT KEY] [--auth USER PASSWORD_FILE]
 *
 * Exit status 0 when the loop closed cleanly (uv_loop_close() returned 0). */
#include "agent/log.h"
#include "agent/model.h"
#include "agent/util.h"
#include "exporters/httpd.h"
#include "exporters/metrics.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

/* A fake key (never valid), registered as a secret as the daemon does with real ones. */
static const char demo_secret[] = "sk-ant-api03-DEMOdemoDEMOdemoDEMOdemoDEMOdemoDEMOdemo-AA";

enum { K_PROD, K_BAD, K_STAGING, K_QUOTA, K_RATE, K_EDGE, K_ESCAPE, K_TRAP, K__COUNT };

struct demo {
  uv_signal_t sigterm, sigint;
  struct httpd *h;
};

static void on_httpd_closed(void *arg) {
  (void)arg;
}

static void on_signal(uv_signal_t *s, int signum) {
  struct demo *d = s->data;
  (void)signum;
  httpd_close(d->h, on_httpd_closed, NULL);
  d->h = NULL;
  uv_close((uv_handle_t *)&d->sigterm, NULL);
  uv_close((uv_handle_t *)&d->sigint, NULL);
}

static void fill(struct metrics *m) {
  int64_t now = util_now_ms();
  struct ratelimit rl[RL__COUNT] = {
      [RL_REQUESTS] = {50, 49, now + 1000},
      [RL_TOKENS] = {-1, -1, -1},
      [RL_INPUT_TOKENS] = {40000, 39990, now + 1000},
      [RL_OUTPUT_TOKENS] = {8000, 8000, now + 1000},
  };
  static const enum cause causes[K__COUNT] = {
      [K_PROD] = CAUSE_OK,     [K_BAD] = CAUSE_AUTH_INVALID,  [K_STAGING] = CAUSE_OK,
      [K_QUOTA] = CAUSE_QUOTA, [K_RATE] = CAUSE_RATE_LIMITED, [K_EDGE] = CAUSE_EDGE_ERROR,
      [K_ESCAPE] = CAUSE_OK,   [K_TRAP] = CAUSE_PERMISSION};
  for (size_t i = 0; i < K__COUNT; i++) {
    enum cause c = causes[i];
    bool failing = c != CAUSE_OK && c != CAUSE_RATE_LIMITED;
    metrics_key_state(m, i, c, failing, failing ? now - 3600 * 1000 : -1, now - 5000);
    for (int n = 0; n < 3; n++) {
      metrics_probe_done(m, i, PROBE_MODELS, c, 0.12 + 0.1 * n);
      metrics_probe_done(m, i, PROBE_COUNT_TOKENS, c == CAUSE_EDGE_ERROR ? CAUSE_TIMEOUT : c, 0.4);
    }
    metrics_key_ratelimit(m, i, rl);
    metrics_sched_lag(m, 0.003 * (double)i);
  }
  metrics_probe_done(m, K_PROD, PROBE_MESSAGES, CAUSE_OK, 1.7);
  metrics_tokens(m, K_PROD, 12, 1);

  struct status_snapshot s;
  status_snapshot_init(&s);
  struct status_component comps[2] = {
      {.id = "k8w3r06qmzrp",
       .name = "Claude API (api.anthropic.com)",
       .status = COMPONENT_OPERATIONAL,
       .watched = true},
      {.id = "rwppv331jlwc", .name = "claude.ai", .status = COMPONENT_DEGRADED_PERFORMANCE}};
  struct status_incident inc = {.impact = INDICATOR_MINOR};
  s.reachable = true;
  s.polled_ms = s.fetched_ms = now;
  s.indicator = INDICATOR_MINOR;
  s.components = comps;
  s.n_components = 2;
  s.incidents = &inc;
  s.n_incidents = 1;
  metrics_status(m, &s);
  metrics_verdict(m, SCOPE_LOCAL, CAUSE_AUTH_INVALID);
  metrics_platform_incident(m, false);
  metrics_detection_lead(m, 94.25);
  metrics_storage(m, 0, 2);
  metrics_alert_sent(m, "alertmanager_0", true);
  metrics_alert_sent(m, "webhook", false);
  metrics_alert_sent(m, "https://hooks.example.com/services/T000/B000/XXXX", true);
  metrics_build_info(m, "3.40.1");
}

static char *read_password(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return NULL;
  char buf[256];
  char *p = fgets(buf, sizeof(buf), f);
  fclose(f);
  if (!p) return NULL;
  buf[strcspn(buf, "\r\n")] = '\0';
  return xstrdup(buf);
}

int main(int argc, char **argv) {
  struct httpd_opts o = {.listen = "127.0.0.1:0"};
  enum config_per_key mode = CONFIG_PER_KEY_FULL;
  char *password = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc) {
      o.listen = argv[++i];
    } else if (strcmp(argv[i], "--minimal") == 0) {
      mode = CONFIG_PER_KEY_MINIMAL;
    } else if (strcmp(argv[i], "--tls") == 0 && i + 2 < argc) {
      o.tls_cert_file = argv[++i];
      o.tls_key_file = argv[++i];
    } else if (strcmp(argv[i], "--auth") == 0 && i + 2 < argc) {
      o.basic_auth_user = argv[++i];
      password = read_password(argv[++i]);
      if (!password) {
        fprintf(stderr, "metrics_demo: cannot read the password file\n");
        return 2;
      }
      log_add_secret(password);
      o.basic_auth_password = password;
    } else {
      fprintf(stderr, "usage: metrics_demo [--listen ADDR] [--minimal] [--tls CERT KEY] "
                      "[--auth USER PASSWORD_FILE]\n");
      return 2;
    }
  }
  log_add_secret(demo_secret);
  char trap_name[128];
  snprintf(trap_name, sizeof(trap_name), "pasted-%s", demo_secret);
  const char *names[K__COUNT] = {[K_PROD] = "prod",
                                 [K_BAD] = "bad",
                                 [K_STAGING] = "staging",
                                 [K_QUOTA] = "quota-key",
                                 [K_RATE] = "ratelimited",
                                 [K_EDGE] = "edge eu-west",
                                 [K_ESCAPE] = "team \"a\\b\"",
                                 [K_TRAP] = trap_name};
  struct metrics *m = metrics_new(K__COUNT, names, mode);
  fill(m);

  uv_loop_t loop;
  if (uv_loop_init(&loop) != 0) return 1;
  struct demo d = {0};
  int rc = httpd_new(&loop, &o, &d.h);
  if (password) {
    memset(password, 0, strlen(password));
    free(password);
  }
  if (rc != 0) {
    fprintf(stderr, "metrics_demo: %s\n", util_strerror(rc));
    metrics_free(m);
    uv_loop_close(&loop);
    return 1;
  }
  httpd_route(d.h, "/metrics", false, metrics_serve, m);
  httpd_set_ready(d.h, true);
  uv_signal_init(&loop, &d.sigterm);
  uv_signal_init(&loop, &d.sigint);
  d.sigterm.data = d.sigint.data = &d;
  uv_signal_start(&d.sigterm, on_signal, SIGTERM);
  uv_signal_start(&d.sigint, on_signal, SIGINT);
  printf("%u\n", (unsigned)httpd_port(d.h));
  fflush(stdout);

  uv_run(&loop, UV_RUN_DEFAULT);
  metrics_free(m);
  rc = uv_loop_close(&loop);
  if (rc != 0) fprintf(stderr, "metrics_demo: uv_loop_close: %s\n", uv_strerror(rc));
  log_clear_secrets();
  return rc == 0 ? 0 : 1;
}
