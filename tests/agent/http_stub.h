/* http_stub.h — a minimal HTTP/1.1 server on the test's own libuv loop, for the tests of
 * agent/fetch.c and agent/probe.c: accept, read a request (head and Content-Length body),
 * and answer as the test's route function says — a canned answer (kept alive or closed),
 * silence (hang), a TCP reset, or an endless body. It counts connections (accepted and
 * open at once) and requests, and keeps the last request for assertions. Single-threaded
 * like the code under test, so no sleeps and no races: everything is an event on the loop.
 *
 * Header-only (static functions) so each test binary stays one file. */
#ifndef CLAUDEMON_TEST_HTTP_STUB_H
#define CLAUDEMON_TEST_HTTP_STUB_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <uv.h>

#define STUB_UNUSED __attribute__((unused))

enum stub_action {
  STUB_REPLY,       /* write raw, keep the connection for the next request */
  STUB_REPLY_CLOSE, /* write raw, then close */
  STUB_HANG,        /* answer nothing, keep the connection open */
  STUB_RESET,       /* close with a TCP RST */
  STUB_ENDLESS      /* write raw (a head without length), then body bytes for ever */
};

struct stub_reply {
  enum stub_action action;
  char *raw; /* malloc'ed; the stub frees it */
  size_t raw_len;
};

struct stub_request {
  const char *method, *target; /* "GET", "/v1/models?limit=1" */
  const char *head;            /* the whole head, NUL-terminated */
  const char *body;
  size_t body_len;
};

struct stub;
typedef struct stub_reply (*stub_route_cb)(struct stub *s, const struct stub_request *req);

struct stub_conn {
  uv_tcp_t tcp;
  struct stub *s;
  char *buf;
  size_t len, cap;
  bool closing, endless;
  struct stub_conn *next;
};

struct stub {
  uv_loop_t *loop;
  uv_tcp_t listener;
  int port;
  stub_route_cb route;
  void *arg;
  int accepted; /* connections accepted in all */
  int open;     /* open now */
  int max_open; /* most open at once */
  int requests;
  char last_head[16384];
  char last_body[4096];
  const char *greeting; /* written as soon as a connection is accepted (not TLS, say) */
  struct stub_conn *conns;
  bool closed;
  int pending_closes;
};

struct stub_write {
  uv_write_t req;
  char *data;
  struct stub_conn *c;
  bool close_after;
};

static STUB_UNUSED char *stub_strdup(const char *s) {
  size_t n = strlen(s);
  char *p = malloc(n + 1);
  memcpy(p, s, n + 1);
  return p;
}

/* stub_text builds a reply from a status line, extra header lines and a body (with
 * Content-Length). */
static STUB_UNUSED struct stub_reply stub_text(enum stub_action a, int status, const char *headers,
                                               const char *body) {
  size_t blen = body ? strlen(body) : 0;
  size_t n = 256 + (headers ? strlen(headers) : 0) + blen;
  char *raw = malloc(n);
  int len = snprintf(raw, n, "HTTP/1.1 %d X\r\n%sContent-Length: %zu\r\n\r\n%s", status,
                     headers ? headers : "", blen, body ? body : "");
  return (struct stub_reply){a, raw, (size_t)len};
}

static void stub_conn_closed(uv_handle_t *h) {
  struct stub_conn *c = h->data;
  struct stub *s = c->s;
  struct stub_conn **pp = &s->conns;
  while (*pp && *pp != c)
    pp = &(*pp)->next;
  if (*pp) *pp = c->next;
  free(c->buf);
  free(c);
  s->open--;
  s->pending_closes--;
}

static void stub_conn_close(struct stub_conn *c, bool reset) {
  if (c->closing) return;
  c->closing = true;
  c->s->pending_closes++;
  if (reset && uv_tcp_close_reset(&c->tcp, stub_conn_closed) == 0) return;
  uv_close((uv_handle_t *)&c->tcp, stub_conn_closed);
}

static void stub_write(struct stub_conn *c, char *data, size_t len, bool close_after);

static void stub_written(uv_write_t *req, int status) {
  struct stub_write *w = (struct stub_write *)req;
  struct stub_conn *c = w->c;
  free(w->data);
  bool close_after = w->close_after;
  free(w);
  if (c->closing) return;
  if (status < 0 || close_after) {
    stub_conn_close(c, false);
    return;
  }
  if (c->endless) {
    size_t n = 16384;
    char *chunk = malloc(n);
    memset(chunk, 'a', n);
    stub_write(c, chunk, n, false);
  }
}

static void stub_write(struct stub_conn *c, char *data, size_t len, bool close_after) {
  struct stub_write *w = calloc(1, sizeof(*w));
  w->data = data;
  w->c = c;
  w->close_after = close_after;
  uv_buf_t b = uv_buf_init(data, (unsigned)len);
  if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, stub_written) < 0) {
    free(data);
    free(w);
    stub_conn_close(c, false);
  }
}

/* stub_handle answers every complete request in c's buffer. */
static void stub_handle(struct stub_conn *c) {
  struct stub *s = c->s;
  while (!c->closing) {
    char *end = NULL;
    for (size_t i = 0; i + 3 < c->len; i++)
      if (memcmp(c->buf + i, "\r\n\r\n", 4) == 0) {
        end = c->buf + i;
        break;
      }
    if (!end) return;
    size_t head_len = (size_t)(end - c->buf) + 4;
    size_t body_len = 0;
    for (char *p = c->buf; p < end; p++) {
      if ((p == c->buf || p[-1] == '\n') && strncasecmp(p, "content-length:", 15) == 0)
        body_len = strtoul(p + 15, NULL, 10);
    }
    if (c->len < head_len + body_len) return;
    char *head = malloc(head_len + 1);
    memcpy(head, c->buf, head_len);
    head[head_len] = '\0';
    char method[16] = "", target[2048] = "";
    sscanf(head, "%15s %2047s", method, target);
    struct stub_request req = {method, target, head, c->buf + head_len, body_len};
    s->requests++;
    snprintf(s->last_head, sizeof(s->last_head), "%s", head);
    size_t bl = body_len < sizeof(s->last_body) - 1 ? body_len : sizeof(s->last_body) - 1;
    memcpy(s->last_body, c->buf + head_len, bl);
    s->last_body[bl] = '\0';
    struct stub_reply r = s->route(s, &req);
    free(head);
    memmove(c->buf, c->buf + head_len + body_len, c->len - head_len - body_len);
    c->len -= head_len + body_len;
    switch (r.action) {
    case STUB_REPLY:
    case STUB_REPLY_CLOSE:
      stub_write(c, r.raw, r.raw_len, r.action == STUB_REPLY_CLOSE);
      break;
    case STUB_ENDLESS:
      c->endless = true;
      stub_write(c, r.raw, r.raw_len, false);
      return;
    case STUB_HANG:
      free(r.raw);
      return;
    case STUB_RESET:
      free(r.raw);
      stub_conn_close(c, true);
      return;
    }
  }
}

static void stub_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b) {
  struct stub_conn *c = h->data;
  (void)suggested;
  if (c->cap - c->len < 65536) {
    c->cap = c->cap * 2 + 65536;
    c->buf = realloc(c->buf, c->cap);
  }
  *b = uv_buf_init(c->buf + c->len, (unsigned)(c->cap - c->len));
}

static void stub_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b) {
  struct stub_conn *c = st->data;
  (void)b;
  if (n < 0) {
    stub_conn_close(c, false);
    return;
  }
  c->len += (size_t)n;
  if (!c->endless) stub_handle(c);
}

static void stub_accept(uv_stream_t *l, int status) {
  struct stub *s = l->data;
  if (status < 0 || s->closed) return;
  struct stub_conn *c = calloc(1, sizeof(*c));
  c->s = s;
  uv_tcp_init(s->loop, &c->tcp);
  c->tcp.data = c;
  c->next = s->conns;
  s->conns = c;
  s->open++;
  if (uv_accept(l, (uv_stream_t *)&c->tcp) < 0) {
    stub_conn_close(c, false);
    return;
  }
  s->accepted++;
  if (s->open > s->max_open) s->max_open = s->open;
  uv_read_start((uv_stream_t *)&c->tcp, stub_alloc, stub_read);
  if (s->greeting) stub_write(c, stub_strdup(s->greeting), strlen(s->greeting), false);
}

/* stub_start listens on 127.0.0.1 (a free port, in s->port). Returns 0 or a uv error. */
static STUB_UNUSED int stub_start(struct stub *s, uv_loop_t *loop, stub_route_cb route, void *arg) {
  memset(s, 0, sizeof(*s));
  s->loop = loop;
  s->route = route;
  s->arg = arg;
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", 0, &a);
  int rc = uv_tcp_init(loop, &s->listener);
  if (rc) return rc;
  s->listener.data = s;
  rc = uv_tcp_bind(&s->listener, (const struct sockaddr *)&a, 0);
  if (!rc) rc = uv_listen((uv_stream_t *)&s->listener, 512, stub_accept);
  struct sockaddr_storage ss;
  int len = sizeof(ss);
  if (!rc) rc = uv_tcp_getsockname(&s->listener, (struct sockaddr *)&ss, &len);
  if (!rc) s->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
  return rc;
}

static void stub_listener_closed(uv_handle_t *h) {
  struct stub *s = h->data;
  s->pending_closes--;
}

/* stub_close closes the listener and every connection (asynchronously). */
static STUB_UNUSED void stub_close(struct stub *s) {
  if (s->closed) return;
  s->closed = true;
  s->pending_closes++;
  uv_close((uv_handle_t *)&s->listener, stub_listener_closed);
  for (struct stub_conn *c = s->conns; c; c = c->next)
    stub_conn_close(c, false);
}

/* stub_free_port returns a port on 127.0.0.1 that was free a moment ago (nothing listens:
 * a connection there is refused). */
static STUB_UNUSED int stub_free_port(void) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  uv_tcp_t t;
  uv_tcp_init(&loop, &t);
  struct sockaddr_in a;
  uv_ip4_addr("127.0.0.1", 0, &a);
  uv_tcp_bind(&t, (const struct sockaddr *)&a, 0);
  struct sockaddr_storage ss;
  int len = sizeof(ss);
  int port = 0;
  if (uv_tcp_getsockname(&t, (struct sockaddr *)&ss, &len) == 0)
    port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  return port;
}

/* A deadline for a test: run the loop until *flag or timeout_ms passed. Returns *flag. */
static void stub_deadline_cb(uv_timer_t *t) {
  *(bool *)t->data = true;
}

static STUB_UNUSED bool stub_run_until(uv_loop_t *loop, const bool *flag, uint64_t timeout_ms) {
  uv_timer_t t;
  bool expired = false;
  uv_timer_init(loop, &t);
  t.data = &expired;
  uv_timer_start(&t, stub_deadline_cb, timeout_ms, 0);
  while (!*flag && !expired)
    uv_run(loop, UV_RUN_ONCE);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(loop, UV_RUN_NOWAIT);
  return *flag;
}

#endif
