/* poller.c — the status page poller: one conditional GET of summary.json at a time through
 * fetch, parsed by statuspage.c. Owns the current snapshot and the validators (ETag,
 * Last-Modified) of the last good answer. Never blocks: everything runs in fetch callbacks
 * on the loop. A failure is logged with backoff (log_complain) and its recovery once. */
#include "agent/poller.h"
#include "agent/log.h"
#include "agent/statuspage.h"
#include "agent/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct poller {
  struct fetch *fetch;
  const struct config *cfg;
  struct status_snapshot snap; /* current: last good data, reachable or not */
  char *etag;                  /* validators of the last good answer (owned) */
  char *last_modified;
  bool busy;
  poller_done_cb cb;
  void *arg;
  struct log_complaint complaint;
};

struct poller *poller_new(struct fetch *f, const struct config *cfg) {
  struct poller *p = xcalloc(1, sizeof(*p));
  p->fetch = f;
  p->cfg = cfg;
  status_snapshot_init(&p->snap);
  return p;
}

static void set_validator(char **slot, const char *v) {
  free(*slot);
  *slot = v && *v && strlen(v) < 256 ? xstrdup(v) : NULL;
}

void poller_set_config(struct poller *p, const struct config *cfg) {
  if (strcmp(p->cfg->status_page.url, cfg->status_page.url) != 0) {
    set_validator(&p->etag, NULL);
    set_validator(&p->last_modified, NULL);
  }
  p->cfg = cfg;
}

void poller_free(struct poller *p) {
  if (!p) return;
  status_snapshot_free(&p->snap);
  free(p->etag);
  free(p->last_modified);
  free(p);
}

const struct status_snapshot *poller_snapshot(const struct poller *p) {
  return &p->snap;
}

static const char *header(const struct fetch_response *r, const char *name) {
  for (size_t i = 0; i < r->n_headers; i++)
    if (strcmp(r->headers[i].name, name) == 0) return r->headers[i].value;
  return NULL;
}

static void on_page(const struct fetch_response *r, void *arg) {
  struct poller *p = arg;
  int64_t now = util_now_ms();
  struct status_snapshot prev, next;
  status_snapshot_copy(&prev, &p->snap);
  char reason[MODEL_SP_TEXT_MAX] = "";

  if (r->cancelled) {
    util_copy(reason, sizeof(reason), "poll cancelled");
  } else if (r->curl_code != 0 && !(r->truncated && r->http_status > 0)) {
    snprintf(reason, sizeof(reason), "%s", r->error && *r->error ? r->error : "transfer failed");
  } else if (r->http_status == 304 && p->snap.fetched_ms >= 0) {
    /* Unchanged: the data we hold is current. */
    p->snap.reachable = true;
    p->snap.polled_ms = now;
    p->snap.fetched_ms = now;
    p->snap.error[0] = '\0';
  } else if (r->http_status != 200) {
    snprintf(reason, sizeof(reason), "HTTP %d from the status page", r->http_status);
  } else if (r->truncated) {
    snprintf(reason, sizeof(reason), "status page answer larger than %lld bytes",
             (long long)p->cfg->api.max_body_bytes);
  } else {
    char err[256] = "";
    const char *const *watch = (const char *const *)p->cfg->status_page.components;
    if (statuspage_parse(r->body, r->body_len, watch, p->cfg->status_page.n_components, now, &next,
                         err, sizeof(err)) == 0) {
      status_snapshot_free(&p->snap);
      p->snap = next;
      p->snap.reachable = true;
      p->snap.polled_ms = now;
      p->snap.fetched_ms = now;
      set_validator(&p->etag, header(r, "etag"));
      set_validator(&p->last_modified, header(r, "last-modified"));
    } else {
      status_snapshot_free(&next);
      snprintf(reason, sizeof(reason), "status page answer unusable: %s", err);
    }
  }

  if (reason[0]) {
    struct status_snapshot failed;
    statuspage_failed(&failed, now, reason);
    statuspage_carry(&p->snap, &failed);
    status_snapshot_free(&failed);
    if (log_complain(&p->complaint, now))
      log_warn("status page poll failed", "url=%s reason=%s", log_q(p->cfg->status_page.url),
               log_q(reason));
  } else if (log_recover(&p->complaint)) {
    log_info("status page reachable again", "url=%s", log_q(p->cfg->status_page.url));
  }

  p->busy = false;
  poller_done_cb cb = p->cb;
  p->cb = NULL;
  if (cb) cb(&p->snap, &prev, p->arg);
  status_snapshot_free(&prev);
}

int poller_poll(struct poller *p, poller_done_cb cb, void *arg) {
  if (p->busy) return UTIL_EAGAIN;
  struct fetch_header hdrs[3];
  size_t n = 0;
  hdrs[n++] = (struct fetch_header){"Accept", "application/json"};
  if (p->etag && p->snap.fetched_ms >= 0) {
    hdrs[n++] = (struct fetch_header){"If-None-Match", p->etag};
  }
  if (p->last_modified && p->snap.fetched_ms >= 0) {
    hdrs[n++] = (struct fetch_header){"If-Modified-Since", p->last_modified};
  }
  struct fetch_request req = {
      .method = "GET",
      .url = p->cfg->status_page.url,
      .headers = hdrs,
      .n_headers = n,
      .timeout_ms = p->cfg->status_page.timeout_ms,
  };
  p->cb = cb;
  p->arg = arg;
  int rc = fetch_start(p->fetch, &req, on_page, p);
  if (rc == 0) p->busy = true;
  return rc;
}
