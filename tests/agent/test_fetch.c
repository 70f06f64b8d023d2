/* Tests of agent/fetch.c through a real libuv loop against an in-process HTTP stub
 * (http_stub.h): keep-alive reuse, timeouts next to a healthy transfer, resets, endless
 * bodies cut at the cap, oversized headers, refused connections, DNS failure, proxies and
 * NO_PROXY, the connection cap, and closing with transfers in flight — each ending with
 * uv_loop_close() == 0, so no handle is left behind. */
#include "agent/fetch.h"
#include "agent/log.h"
#include "agent/util.h"

#include "http_stub.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>

/* A finished transfer, copied out of the callback (the response dies with it). */
struct got {
  bool done;
  int curl_code;
  int http_status;
  char error[256];
  char *body;
  size_t body_len;
  bool truncated, headers_dropped, cancelled, via_proxy;
  long num_connects;
  char peer[64];
  char header_x[64]; /* value of x-test, "" when absent */
  bool has_huge;     /* x-huge header present */
  size_t n_headers;
  double total_s;
  uint64_t done_at_ms; /* uv_hrtime in ms */
  int order;
};

struct env {
  uv_loop_t loop;
  struct stub srv;
  struct fetch *f;
  bool closed;
  int n_done;
  int want;
  bool all_done;
};

static int done_counter;

static void record(const struct fetch_response *r, struct got *g) {
  g->done = true;
  g->curl_code = r->curl_code;
  g->http_status = r->http_status;
  snprintf(g->error, sizeof(g->error), "%s", r->error);
  g->body = malloc(r->body_len + 1);
  memcpy(g->body, r->body, r->body_len + 1);
  g->body_len = r->body_len;
  g->truncated = r->truncated;
  g->headers_dropped = r->headers_dropped;
  g->cancelled = r->cancelled;
  g->via_proxy = r->via_proxy;
  g->num_connects = r->num_connects;
  snprintf(g->peer, sizeof(g->peer), "%s", r->peer);
  g->n_headers = r->n_headers;
  g->total_s = r->total_s;
  g->done_at_ms = uv_hrtime() / 1000000;
  g->order = done_counter++;
  for (size_t i = 0; i < r->n_headers; i++) {
    if (strcmp(r->headers[i].name, "x-test") == 0)
      snprintf(g->header_x, sizeof(g->header_x), "%s", r->headers[i].value);
    if (strcmp(r->headers[i].name, "x-huge") == 0) g->has_huge = true;
  }
}

struct slot {
  struct env *e;
  struct got g;
};

static void on_done(const struct fetch_response *r, void *arg) {
  struct slot *s = arg;
  record(r, &s->g);
  s->e->n_done++;
  if (s->e->n_done >= s->e->want) s->e->all_done = true;
}

static void on_closed(void *arg) {
  ((struct env *)arg)->closed = true;
}

/* The routes the stub knows, by path. */
static struct stub_reply route(struct stub *s, const struct stub_request *req) {
  (void)s;
  const char *p = req->target;
  if (strncmp(p, "http://", 7) == 0) { /* a proxied request: absolute form */
    const char *slash = strchr(p + 7, '/');
    p = slash ? slash : "/";
  }
  if (strcmp(p, "/ok") == 0)
    return stub_text(STUB_REPLY, 200, "X-Test: yes\r\nContent-Type: application/json\r\n",
                     "{\"ok\":true}");
  if (strcmp(p, "/echo") == 0) {
    char *body = malloc(req->body_len + 1);
    memcpy(body, req->body, req->body_len);
    body[req->body_len] = '\0';
    struct stub_reply r = stub_text(STUB_REPLY, 201, NULL, body);
    free(body);
    return r;
  }
  if (strcmp(p, "/hang") == 0) return (struct stub_reply){STUB_HANG, NULL, 0};
  if (strcmp(p, "/reset") == 0) return (struct stub_reply){STUB_RESET, NULL, 0};
  if (strcmp(p, "/endless") == 0) {
    const char *head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n";
    return (struct stub_reply){STUB_ENDLESS, stub_strdup(head), strlen(head)};
  }
  if (strcmp(p, "/hugeline") == 0) { /* one 20 KiB header line, over max_header_line */
    size_t n = 20 * 1024;
    char *h = malloc(n + 64);
    memcpy(h, "X-Huge: ", 8);
    memset(h + 8, 'h', n);
    memcpy(h + 8 + n, "\r\nX-Test: after\r\n", 18);
    struct stub_reply r = stub_text(STUB_REPLY, 200, h, "{}");
    free(h);
    return r;
  }
  if (strcmp(p, "/manyheaders") == 0) { /* 200 lines of 1 KiB: 200 KiB of headers */
    size_t line = 1024, n = 200;
    char *h = malloc(line * n + 1);
    for (size_t i = 0; i < n; i++) {
      char *l = h + i * line;
      int k = snprintf(l, line, "X-Fill-%03zu: ", i);
      memset(l + k, 'f', line - (size_t)k - 2);
      memcpy(l + line - 2, "\r\n", 2);
    }
    h[line * n] = '\0';
    struct stub_reply r = stub_text(STUB_REPLY, 200, h, "{}");
    free(h);
    return r;
  }
  return stub_text(STUB_REPLY, 404, NULL, "not found");
}

static void env_init(struct env *e, const struct fetch_opts *o) {
  memset(e, 0, sizeof(*e));
  done_counter = 0;
  assert_int_equal(uv_loop_init(&e->loop), 0);
  assert_int_equal(stub_start(&e->srv, &e->loop, route, e), 0);
  struct fetch_opts def;
  fetch_opts_init(&def);
  assert_int_equal(fetch_new(&e->loop, o ? o : &def, &e->f), 0);
}

/* env_finish closes fetch and the stub, drains the loop and checks nothing is left. */
static void env_finish(struct env *e) {
  fetch_close(e->f, on_closed, e);
  stub_close(&e->srv);
  uv_run(&e->loop, UV_RUN_DEFAULT);
  assert_true(e->closed);
  assert_int_equal(uv_loop_close(&e->loop), 0);
}

static char *url(struct env *e, const char *path) {
  return xasprintf("http://127.0.0.1:%d%s", e->srv.port, path);
}

static void start(struct env *e, const char *path, int64_t timeout_ms, struct slot *s) {
  char *u = url(e, path);
  struct fetch_request req = {.url = u, .timeout_ms = timeout_ms};
  s->e = e;
  assert_int_equal(fetch_start(e->f, &req, on_done, s), 0);
  free(u);
}

static void got_free(struct got *g) {
  free(g->body);
}

/* ---- keep-alive ------------------------------------------------------------------------ */

static void on_first(const struct fetch_response *r, void *arg) {
  struct slot *s = arg;
  record(r, &s->g);
  /* Started from inside the callback: the connection is back in the cache by now. */
  start(s->e, "/ok", 5000, s + 1);
}

static void test_keepalive_reuse(void **state) {
  (void)state;
  struct env e;
  env_init(&e, NULL);
  struct slot s[2] = {{&e, {0}}, {&e, {0}}};
  e.want = 1;
  char *u = url(&e, "/ok");
  struct fetch_request req = {.url = u, .timeout_ms = 5000};
  assert_int_equal(fetch_start(e.f, &req, on_first, &s[0]), 0);
  free(u);
  assert_true(stub_run_until(&e.loop, &e.all_done, 10000));
  assert_int_equal(s[0].g.curl_code, 0);
  assert_int_equal(s[0].g.http_status, 200);
  assert_string_equal(s[0].g.body, "{\"ok\":true}");
  assert_string_equal(s[0].g.header_x, "yes"); /* names lower-cased */
  assert_string_equal(s[0].g.peer, "127.0.0.1");
  assert_int_equal(s[0].g.num_connects, 1);
  assert_false(s[0].g.via_proxy);
  assert_true(s[0].g.total_s > 0.0);
  assert_int_equal(s[1].g.curl_code, 0);
  assert_int_equal(s[1].g.http_status, 200);
  assert_int_equal(s[1].g.num_connects, 0); /* reused */
  assert_int_equal(e.srv.accepted, 1);
  assert_int_equal(e.srv.requests, 2);
  assert_int_equal(fetch_pending(e.f), 0);
  got_free(&s[0].g);
  got_free(&s[1].g);
  env_finish(&e);
}

/* ---- a hang times out while another transfer completes --------------------------------- */

static void test_hang_times_out_beside_ok(void **state) {
  (void)state;
  struct env e;
  env_init(&e, NULL);
  struct slot s[2];
  memset(s, 0, sizeof(s));
  e.want = 2;
  uint64_t t0 = uv_hrtime() / 1000000;
  start(&e, "/hang", 500, &s[0]);
  start(&e, "/ok", 5000, &s[1]);
  assert_true(stub_run_until(&e.loop, &e.all_done, 5000));
  assert_int_equal(s[0].g.curl_code, CURLE_OPERATION_TIMEDOUT);
  assert_int_equal(s[0].g.http_status, 0);
  uint64_t took = s[0].g.done_at_ms - t0;
  print_message("hang ended after %llu ms (timeout 500 ms)\n", (unsigned long long)took);
  assert_true(took >= 450);
  assert_true(took < 1500);
  assert_int_equal(s[1].g.curl_code, 0);
  assert_int_equal(s[1].g.http_status, 200);
  assert_true(s[1].g.order < s[0].g.order); /* the healthy one did not wait for the hang */
  got_free(&s[0].g);
  got_free(&s[1].g);
  env_finish(&e);
}

/* ---- reset, endless body, oversized headers ------------------------------------------- */

static void test_reset(void **state) {
  (void)state;
  struct env e;
  env_init(&e, NULL);
  struct slot s;
  memset(&s, 0, sizeof(s));
  e.want = 1;
  start(&e, "/reset", 5000, &s);
  assert_true(stub_run_until(&e.loop, &e.all_done, 5000));
  print_message("reset: curl %d (%s)\n", s.g.curl_code, s.g.error);
  assert_true(s.g.curl_code == CURLE_RECV_ERROR || s.g.curl_code == CURLE_GOT_NOTHING);
  assert_int_equal(s.g.http_status, 0);
  assert_true(s.g.error[0] != '\0');
  got_free(&s.g);
  env_finish(&e);
}

static void test_endless_body_cut(void **state) {
  (void)state;
  struct fetch_opts o;
  fetch_opts_init(&o);
  o.max_body_bytes = 4096;
  struct env e;
  env_init(&e, &o);
  struct slot s[2];
  memset(s, 0, sizeof(s));
  e.want = 2;
  start(&e, "/endless", 10000, &s[0]);
  start(&e, "/ok", 10000, &s[1]);
  assert_true(stub_run_until(&e.loop, &e.all_done, 10000));
  assert_int_equal(s[0].g.curl_code, CURLE_WRITE_ERROR);
  assert_true(s[0].g.truncated);
  assert_int_equal(s[0].g.http_status, 200);
  assert_int_equal(s[0].g.body_len, 4096);
  assert_int_equal(strlen(s[0].g.body), 4096);
  assert_non_null(strstr(s[0].g.error, "max_body_bytes"));
  /* An answer exactly as long as it says is not truncated. */
  assert_false(s[1].g.truncated);
  got_free(&s[0].g);
  got_free(&s[1].g);
  env_finish(&e);
}

static void test_oversized_headers(void **state) {
  (void)state;
  struct env e;
  env_init(&e, NULL);
  struct slot s[2];
  memset(s, 0, sizeof(s));
  e.want = 2;
  start(&e, "/hugeline", 5000, &s[0]);
  start(&e, "/manyheaders", 5000, &s[1]);
  assert_true(stub_run_until(&e.loop, &e.all_done, 5000));
  /* One line over max_header_line is dropped; the answer is whole otherwise. */
  assert_int_equal(s[0].g.curl_code, 0);
  assert_int_equal(s[0].g.http_status, 200);
  assert_true(s[0].g.headers_dropped);
  assert_false(s[0].g.has_huge);
  assert_string_equal(s[0].g.header_x, "after");
  assert_string_equal(s[0].g.body, "{}");
  /* 200 KiB of headers: over max_header_bytes, the transfer is cut. */
  print_message("many headers: curl %d (%s)\n", s[1].g.curl_code, s[1].g.error);
  assert_int_equal(s[1].g.curl_code, CURLE_WRITE_ERROR);
  assert_true(s[1].g.truncated);
  assert_true(s[1].g.n_headers <= 64);
  assert_non_null(strstr(s[1].g.error, "max_header_bytes"));
  got_free(&s[0].g);
  got_free(&s[1].g);
  env_finish(&e);
}

/* ---- refused, DNS ------------------------------------------------------------------------ */

static void start_url(struct env *e, const char *u, int64_t timeout_ms, struct slot *s) {
  struct fetch_request req = {.url = u, .timeout_ms = timeout_ms};
  s->e = e;
  assert_int_equal(fetch_start(e->f, &req, on_done, s), 0);
}

static void test_refused_and_dns(void **state) {
  (void)state;
  struct env e;
  env_init(&e, NULL);
  struct slot s[2];
  memset(s, 0, sizeof(s));
  e.want = 2;
  char *refused = xasprintf("http://127.0.0.1:%d/", stub_free_port());
  start_url(&e, refused, 5000, &s[0]);
  start_url(&e, "http://claudemon-test.invalid/", 5000, &s[1]);
  free(refused);
  assert_true(stub_run_until(&e.loop, &e.all_done, 10000));
  assert_int_equal(s[0].g.curl_code, CURLE_COULDNT_CONNECT);
  assert_int_equal(s[0].g.http_status, 0);
  assert_int_equal(s[1].g.curl_code, CURLE_COULDNT_RESOLVE_HOST);
  assert_non_null(strstr(s[1].g.error, "claudemon-test.invalid"));
  got_free(&s[0].g);
  got_free(&s[1].g);
  env_finish(&e);
}

/* ---- request body and headers reach the server ------------------------------------------ */

static void test_post_and_headers(void **state) {
  (void)state;
  struct env e;
  env_init(&e, NULL);
  struct slot s;
  memset(&s, 0, sizeof(s));
  e.want = 1;
  char *u = url(&e, "/echo");
  const struct fetch_header h[] = {{"x-api-key", "sk-ant-test-secret-value"},
                                   {"content-type", "application/json"}};
  struct fetch_request req = {.method = "POST",
                              .url = u,
                              .headers = h,
                              .n_headers = 2,
                              .body = "{\"a\":1}",
                              .body_len = 7,
                              .timeout_ms = 5000};
  s.e = &e;
  assert_int_equal(fetch_start(e.f, &req, on_done, &s), 0);
  free(u);
  assert_true(stub_run_until(&e.loop, &e.all_done, 5000));
  assert_int_equal(s.g.http_status, 201);
  assert_string_equal(s.g.body, "{\"a\":1}");
  assert_non_null(strstr(e.srv.last_head, "POST /echo HTTP/1.1\r\n"));
  assert_non_null(strstr(e.srv.last_head, "x-api-key: sk-ant-test-secret-value\r\n"));
  assert_non_null(strstr(e.srv.last_head, "User-Agent: claudemon/"));
  got_free(&s.g);
  env_finish(&e);
}

static void test_bad_requests(void **state) {
  (void)state;
  struct env e;
  env_init(&e, NULL);
  struct slot s = {&e, {0}};
  struct fetch_request req = {.url = "ftp://example.invalid/", .timeout_ms = 1000};
  assert_int_equal(fetch_start(e.f, &req, on_done, &s), UTIL_EINVAL);
  req.url = "http://example.invalid/";
  req.timeout_ms = 0;
  assert_int_equal(fetch_start(e.f, &req, on_done, &s), UTIL_EINVAL);
  req.timeout_ms = 1000;
  const struct fetch_header inj[] = {{"x-a", "v\r\nx-injected: 1"}};
  req.headers = inj;
  req.n_headers = 1;
  assert_int_equal(fetch_start(e.f, &req, on_done, &s), UTIL_EINVAL);
  req.n_headers = 0;
  req.method = "get";
  assert_int_equal(fetch_start(e.f, &req, on_done, &s), UTIL_EINVAL);
  struct fetch_opts o;
  fetch_opts_init(&o);
  o.max_transfers = 0;
  struct fetch *f2 = NULL;
  assert_int_equal(fetch_new(&e.loop, &o, &f2), UTIL_EINVAL);
  assert_null(f2);
  assert_int_equal(fetch_pending(e.f), 0);
  env_finish(&e);
}

/* ---- closing with transfers in flight -------------------------------------------------- */

struct close_env {
  struct env e;
  struct slot s[5];
  bool close_started;
};

static struct stub_reply route_close(struct stub *srv, const struct stub_request *req) {
  struct close_env *c = srv->arg;
  (void)req;
  /* Three transfers reached the server, two wait in fetch's queue: close now. */
  if (srv->requests == 3 && !c->close_started) {
    c->close_started = true;
    assert_int_equal(fetch_pending(c->e.f), 5);
    fetch_close(c->e.f, on_closed, &c->e);
    stub_close(srv);
  }
  return (struct stub_reply){STUB_HANG, NULL, 0};
}

static void test_close_in_flight(void **state) {
  (void)state;
  struct close_env *c = calloc(1, sizeof(*c));
  struct env *e = &c->e;
  assert_int_equal(uv_loop_init(&e->loop), 0);
  assert_int_equal(stub_start(&e->srv, &e->loop, route_close, c), 0);
  struct fetch_opts o;
  fetch_opts_init(&o);
  o.max_transfers = 3;
  assert_int_equal(fetch_new(&e->loop, &o, &e->f), 0);
  for (int i = 0; i < 5; i++)
    start(e, "/hang", 30000, &c->s[i]);
  assert_int_equal(fetch_pending(e->f), 5);
  uv_run(&e->loop, UV_RUN_DEFAULT);
  assert_true(c->close_started);
  assert_true(e->closed);
  for (int i = 0; i < 5; i++) {
    assert_true(c->s[i].g.done);
    assert_true(c->s[i].g.cancelled);
    assert_int_equal(c->s[i].g.curl_code, CURLE_ABORTED_BY_CALLBACK);
    got_free(&c->s[i].g);
  }
  assert_int_equal(e->srv.requests, 3);
  assert_int_equal(uv_loop_close(&e->loop), 0);
  free(c);
}

/* A callback that closes fetch while other transfers are still running. */
static void on_done_then_close(const struct fetch_response *r, void *arg) {
  struct slot *s = arg;
  record(r, &s->g);
  fetch_close(s->e->f, on_closed, s->e);
  stub_close(&s->e->srv);
}

static void test_close_from_callback(void **state) {
  (void)state;
  struct env e;
  env_init(&e, NULL);
  struct slot s[3];
  memset(s, 0, sizeof(s));
  start(&e, "/hang", 30000, &s[1]);
  start(&e, "/hang", 30000, &s[2]);
  char *u = url(&e, "/ok");
  struct fetch_request req = {.url = u, .timeout_ms = 5000};
  s[0].e = &e;
  assert_int_equal(fetch_start(e.f, &req, on_done_then_close, &s[0]), 0);
  free(u);
  uv_run(&e.loop, UV_RUN_DEFAULT);
  assert_true(e.closed);
  assert_int_equal(s[0].g.http_status, 200);
  assert_true(s[1].g.cancelled);
  assert_true(s[2].g.cancelled);
  for (int i = 0; i < 3; i++)
    got_free(&s[i].g);
  assert_int_equal(uv_loop_close(&e.loop), 0);
}

/* ---- the connection cap ---------------------------------------------------------------- */

static void test_connection_cap(void **state) {
  (void)state;
  enum { N = 200 };
  struct fetch_opts o;
  fetch_opts_init(&o);
  o.max_host_connections = 4;
  struct env e;
  env_init(&e, &o);
  struct slot *s = calloc(N, sizeof(*s));
  e.want = N;
  for (int i = 0; i < N; i++)
    start(&e, "/ok", 20000, &s[i]);
  assert_true(stub_run_until(&e.loop, &e.all_done, 30000));
  int ok = 0;
  for (int i = 0; i < N; i++) {
    if (s[i].g.curl_code == 0 && s[i].g.http_status == 200) ok++;
    got_free(&s[i].g);
  }
  print_message("200 transfers: %d ok, %d connections, at most %d open at once\n", ok,
                e.srv.accepted, e.srv.max_open);
  assert_int_equal(ok, N);
  assert_true(e.srv.accepted <= 4);
  assert_true(e.srv.max_open <= 4);
  assert_int_equal(e.srv.requests, N);
  free(s);
  env_finish(&e);
}

/* ---- queue: more requests than max_transfers, cancel_all --------------------------------- */

static void test_queue_and_cancel_all(void **state) {
  (void)state;
  struct fetch_opts o;
  fetch_opts_init(&o);
  o.max_transfers = 2;
  struct env e;
  env_init(&e, &o);
  struct slot s[6];
  memset(s, 0, sizeof(s));
  e.want = 4;
  for (int i = 0; i < 4; i++)
    start(&e, "/ok", 5000, &s[i]);
  assert_true(stub_run_until(&e.loop, &e.all_done, 5000));
  for (int i = 0; i < 4; i++) {
    assert_int_equal(s[i].g.http_status, 200);
    assert_int_equal(s[i].g.order, i); /* FIFO */
  }
  assert_true(e.srv.max_open <= 2);
  /* Now two that hang: cancel them both. */
  for (int i = 4; i < 6; i++)
    start(&e, "/hang", 30000, &s[i]);
  while (e.srv.requests < 6)
    uv_run(&e.loop, UV_RUN_ONCE);
  fetch_cancel_all(e.f);
  assert_true(s[4].g.cancelled && s[5].g.cancelled);
  assert_int_equal(fetch_pending(e.f), 0);
  for (int i = 0; i < 6; i++)
    got_free(&s[i].g);
  env_finish(&e);
}

/* ---- proxies ------------------------------------------------------------------------------ */

static void test_noproxy_match(void **state) {
  (void)state;
  assert_true(fetch_noproxy_match("api.anthropic.com", "*"));
  assert_true(fetch_noproxy_match("api.anthropic.com", "anthropic.com"));
  assert_true(fetch_noproxy_match("api.anthropic.com", ".anthropic.com"));
  assert_true(fetch_noproxy_match("API.Anthropic.com", "localhost, anthropic.com"));
  assert_true(fetch_noproxy_match("api.anthropic.com", "localhost api.anthropic.com"));
  assert_false(fetch_noproxy_match("api.anthropic.com", "thropic.com"));
  assert_false(fetch_noproxy_match("api.anthropic.com", "localhost,127.0.0.1"));
  assert_false(fetch_noproxy_match("api.anthropic.com", ""));
  assert_true(fetch_noproxy_match("10.1.2.3", "10.0.0.0/8"));
  assert_false(fetch_noproxy_match("11.1.2.3", "10.0.0.0/8"));
  assert_true(fetch_noproxy_match("127.0.0.1", "127.0.0.1"));
  assert_true(fetch_noproxy_match("[::1]", "::1"));
  assert_true(fetch_noproxy_match("2607:6bc0::10", "2607:6bc0::/48"));
  assert_false(fetch_noproxy_match("10.1.2.3", "example.com"));
}

static void test_proxy_for_env(void **state) {
  (void)state;
  const char *vars[] = {"http_proxy", "https_proxy", "HTTPS_PROXY", "all_proxy",
                        "ALL_PROXY",  "no_proxy",    "NO_PROXY",    "HTTP_PROXY"};
  for (size_t i = 0; i < UTIL_ARRAY_LEN(vars); i++)
    unsetenv(vars[i]);
  assert_false(fetch_proxy_for("https://api.anthropic.com/v1/models", NULL));
  assert_true(fetch_proxy_for("https://api.anthropic.com/v1/models", "http://proxy:3128"));
  assert_false(fetch_proxy_for("https://api.anthropic.com/v1/models", ""));
  setenv("HTTPS_PROXY", "http://proxy:3128", 1);
  assert_true(fetch_proxy_for("https://api.anthropic.com/v1/models", NULL));
  assert_false(fetch_proxy_for("http://api.anthropic.com/v1/models", NULL));
  setenv("HTTP_PROXY", "http://proxy:3128", 1); /* curl ignores it (httpoxy) */
  assert_false(fetch_proxy_for("http://api.anthropic.com/v1/models", NULL));
  setenv("NO_PROXY", ".anthropic.com", 1);
  assert_false(fetch_proxy_for("https://api.anthropic.com/v1/models", NULL));
  assert_false(fetch_proxy_for("https://api.anthropic.com/v1/models", "http://proxy:3128"));
  assert_true(fetch_proxy_for("https://status.claude.com/", NULL));
  for (size_t i = 0; i < UTIL_ARRAY_LEN(vars); i++)
    unsetenv(vars[i]);
  setenv("all_proxy", "socks5://proxy:1080", 1);
  assert_true(fetch_proxy_for("http://example.com/", NULL));
  unsetenv("all_proxy");
}

/* The stub acts as an HTTP proxy: curl sends it the absolute URL of a host that does not
 * resolve, so the answer can only have come through the proxy. With NO_PROXY naming that
 * host, curl goes direct and the name fails — and via_proxy agrees each time. */
static void test_through_proxy(void **state) {
  (void)state;
  unsetenv("no_proxy");
  unsetenv("NO_PROXY");
  struct env tmp;
  memset(&tmp, 0, sizeof(tmp));
  assert_int_equal(uv_loop_init(&tmp.loop), 0);
  assert_int_equal(stub_start(&tmp.srv, &tmp.loop, route, &tmp), 0);
  char *proxy = xasprintf("http://127.0.0.1:%d", tmp.srv.port);
  struct fetch_opts o;
  fetch_opts_init(&o);
  o.proxy = proxy;
  assert_int_equal(fetch_new(&tmp.loop, &o, &tmp.f), 0);
  free(proxy);
  struct slot s[2];
  memset(s, 0, sizeof(s));
  tmp.want = 1;
  start_url(&tmp, "http://upstream.claudemon-test.invalid/ok", 5000, &s[0]);
  assert_true(stub_run_until(&tmp.loop, &tmp.all_done, 5000));
  assert_int_equal(s[0].g.curl_code, 0);
  assert_int_equal(s[0].g.http_status, 200);
  assert_true(s[0].g.via_proxy);
  assert_non_null(strstr(tmp.srv.last_head, "GET http://upstream.claudemon-test.invalid/ok"));

  setenv("NO_PROXY", "claudemon-test.invalid", 1);
  tmp.all_done = false;
  tmp.want = 2;
  start_url(&tmp, "http://upstream.claudemon-test.invalid/ok", 5000, &s[1]);
  assert_true(stub_run_until(&tmp.loop, &tmp.all_done, 5000));
  unsetenv("NO_PROXY");
  assert_int_equal(s[1].g.curl_code, CURLE_COULDNT_RESOLVE_HOST);
  assert_false(s[1].g.via_proxy);
  got_free(&s[0].g);
  got_free(&s[1].g);
  env_finish(&tmp);
}

int main(void) {
  log_set_level(LOG_ERROR);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_keepalive_reuse),
      cmocka_unit_test(test_hang_times_out_beside_ok),
      cmocka_unit_test(test_reset),
      cmocka_unit_test(test_endless_body_cut),
      cmocka_unit_test(test_oversized_headers),
      cmocka_unit_test(test_refused_and_dns),
      cmocka_unit_test(test_post_and_headers),
      cmocka_unit_test(test_bad_requests),
      cmocka_unit_test(test_close_in_flight),
      cmocka_unit_test(test_close_from_callback),
      cmocka_unit_test(test_connection_cap),
      cmocka_unit_test(test_queue_and_cancel_all),
      cmocka_unit_test(test_noproxy_match),
      cmocka_unit_test(test_proxy_for_env),
      cmocka_unit_test(test_through_proxy),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
