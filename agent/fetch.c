/* fetch.c — the only file that glues libcurl to libuv. It owns one curl multi handle (the
 * connection cache), one curl share (DNS cache and TLS sessions), one uv_timer_t for curl's
 * timeouts and one uv_poll_t per socket curl watches: the pattern of curl's multi-uv.c
 * example, hardened. Every curl and libuv call is checked; a poll error reaches curl as
 * CURL_CSELECT_ERR; curl_multi_info_read is drained after every action.
 *
 * A transfer (struct fetch_xfer) moves QUEUED → RUNNING → DONE and is then called back and
 * freed. QUEUED ones wait in fetch's own FIFO while max_transfers are inside curl; their
 * easy handle is made only when they enter curl, so a long queue costs a few hundred bytes
 * per request. Callbacks run only from settle(), never from inside curl (curl forbids its
 * API in its own callbacks) and never from inside fetch_start.
 *
 * It must never block the loop, never follow redirects (an API that redirects is evidence,
 * and the key must not travel to another host) and never keep a request header beyond its
 * transfer: header lists are wiped before they are freed, because x-api-key is one of them.
 * Answers are bounded: the body at max_body_bytes, header lines at max_headers and
 * max_header_line, all header bytes at max_header_bytes.
 *
 * Lifetime: fetch_close() ends every transfer, cleans up curl, closes every uv handle and
 * frees the struct in the last close callback, then calls the caller's done. */
#include "agent/fetch.h"

#include "agent/log.h"
#include "agent/util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#define FETCH_BODY_MIN_ALLOC 1024

enum xfer_state { XFER_QUEUED, XFER_RUNNING, XFER_DONE };

struct fetch_xfer;

struct xfer_list {
  struct fetch_xfer *head, *tail;
  size_t n;
};

struct fetch_xfer {
  struct fetch *f;
  struct fetch_xfer *prev, *next; /* in exactly one of f's lists */
  enum xfer_state state;
  fetch_done_cb cb;
  void *arg;
  CURL *easy;                     /* made when the transfer enters curl */
  struct curl_slist *req_headers; /* holds secrets: wiped before it is freed */
  char *method;
  char *url;
  char *post; /* request body, NULL for none */
  size_t post_len;
  int64_t timeout_ms;
  int64_t queued_at, started_at; /* uv_now() */
  bool via_proxy;
  int result; /* CURLcode once DONE */
  bool cancelled;
  bool truncated;
  bool headers_dropped;
  char errbuf[CURL_ERROR_SIZE];
  char *body; /* NUL-terminated, at most max_body_bytes */
  size_t body_len, body_cap;
  struct fetch_header *headers; /* each name points to one allocation "name\0value\0" */
  size_t n_headers;
  size_t header_bytes; /* all header bytes seen, for max_header_bytes */
};

struct fetch_sock {
  uv_poll_t poll;
  struct fetch *f;
  curl_socket_t fd;
  int events; /* what curl last asked for (UV_READABLE | UV_WRITABLE) */
  bool closing;
  struct fetch_sock *prev, *next;
};

struct fetch {
  uv_loop_t *loop;
  CURLM *multi; /* NULL once cleaned up at close */
  CURLSH *share;
  uv_timer_t timer;
  struct fetch_sock *socks; /* open poll handles */
  struct xfer_list queue, running, done;
  size_t max_transfers;
  size_t max_body_bytes, max_headers, max_header_line, max_header_bytes;
  long maxage_conn_s;
  bool http2;
  char *proxy, *proxy_user, *proxy_password, *user_agent;
  bool settling;
  bool closing;
  bool cleaned;       /* curl is cleaned up, uv handles are closing */
  int pending_closes; /* uv handles whose close callback has not run */
  void (*close_done)(void *arg);
  void *close_arg;
};

static void settle(struct fetch *f);

/* ---- small helpers ---------------------------------------------------------------- */

static void list_push(struct xfer_list *l, struct fetch_xfer *x) {
  x->next = NULL;
  x->prev = l->tail;
  if (l->tail)
    l->tail->next = x;
  else
    l->head = x;
  l->tail = x;
  l->n++;
}

static void list_remove(struct xfer_list *l, struct fetch_xfer *x) {
  if (x->prev)
    x->prev->next = x->next;
  else
    l->head = x->next;
  if (x->next)
    x->next->prev = x->prev;
  else
    l->tail = x->prev;
  x->prev = x->next = NULL;
  l->n--;
}

static struct fetch_xfer *list_pop(struct xfer_list *l) {
  struct fetch_xfer *x = l->head;
  if (x) list_remove(l, x);
  return x;
}

static void wipe_free(char *s) {
  if (!s) return;
  explicit_bzero(s, strlen(s));
  free(s);
}

/* wipe_slist overwrites every line of a header list before freeing it: a request's header
 * list is the only place an API key lives during a transfer. */
static void wipe_slist(struct curl_slist *l) {
  for (struct curl_slist *p = l; p; p = p->next)
    if (p->data) explicit_bzero(p->data, strlen(p->data));
  curl_slist_free_all(l);
}

static void xfer_free(struct fetch_xfer *x) {
  if (!x) return;
  if (x->easy) curl_easy_cleanup(x->easy);
  wipe_slist(x->req_headers);
  free(x->method);
  free(x->url);
  if (x->post) explicit_bzero(x->post, x->post_len);
  free(x->post);
  free(x->body);
  for (size_t i = 0; i < x->n_headers; i++)
    free((char *)(uintptr_t)x->headers[i].name);
  free(x->headers);
  free(x);
}

static void xfer_clear_headers(struct fetch_xfer *x) {
  for (size_t i = 0; i < x->n_headers; i++)
    free((char *)(uintptr_t)x->headers[i].name);
  x->n_headers = 0;
}

/* ---- NO_PROXY and proxy detection --------------------------------------------------- */

static bool cidr_match(const char *host, const char *token, size_t toklen) {
  char addr[64];
  const char *slash = memchr(token, '/', toklen);
  size_t alen = slash ? (size_t)(slash - token) : toklen;
  if (alen == 0 || alen >= sizeof(addr)) return false;
  memcpy(addr, token, alen);
  addr[alen] = '\0';
  unsigned char h[16], t[16];
  int family = strchr(addr, ':') ? AF_INET6 : AF_INET;
  size_t nbytes = family == AF_INET6 ? 16 : 4;
  if (inet_pton(family, host, h) != 1 || inet_pton(family, addr, t) != 1) return false;
  long bits = (long)nbytes * 8;
  if (slash) {
    char *end;
    size_t blen = toklen - alen - 1;
    char bbuf[8];
    if (blen == 0 || blen >= sizeof(bbuf)) return false;
    memcpy(bbuf, slash + 1, blen);
    bbuf[blen] = '\0';
    bits = strtol(bbuf, &end, 10);
    if (*end || bits < 0 || bits > (long)nbytes * 8) return false;
  }
  for (long i = 0; i < bits; i++) {
    unsigned char m = (unsigned char)(0x80u >> (i % 8));
    if ((h[i / 8] & m) != (t[i / 8] & m)) return false;
  }
  return true;
}

bool fetch_noproxy_match(const char *host, const char *list) {
  if (!host || !list || !*host) return false;
  char name[256];
  size_t hlen = strlen(host);
  if (host[0] == '[' && hlen > 2 && host[hlen - 1] == ']') { /* an IPv6 literal of a URL */
    host++;
    hlen -= 2;
  }
  if (hlen > 0 && host[hlen - 1] == '.') hlen--;
  if (hlen == 0 || hlen >= sizeof(name)) return false;
  memcpy(name, host, hlen);
  name[hlen] = '\0';
  unsigned char tmp[16];
  bool is_ip = inet_pton(AF_INET, name, tmp) == 1 || inet_pton(AF_INET6, name, tmp) == 1;

  const char *p = list;
  while (*p) {
    while (*p == ',' || *p == ' ' || *p == '\t')
      p++;
    const char *tok = p;
    while (*p && *p != ',' && *p != ' ' && *p != '\t')
      p++;
    size_t tlen = (size_t)(p - tok);
    if (tlen == 0) continue;
    if (tlen == 1 && tok[0] == '*') return true;
    if (is_ip) {
      if (cidr_match(name, tok, tlen)) return true;
      continue;
    }
    if (tok[0] == '.') {
      tok++;
      tlen--;
    }
    if (tlen > 0 && tok[tlen - 1] == '.') tlen--;
    if (tlen == 0 || tlen > hlen) continue;
    if (strncasecmp(name + hlen - tlen, tok, tlen) != 0) continue;
    if (tlen == hlen || name[hlen - tlen - 1] == '.') return true;
  }
  return false;
}

static const char *env_nonempty(const char *name) {
  const char *v = getenv(name);
  return v && *v ? v : NULL;
}

bool fetch_proxy_for(const char *url, const char *explicit_proxy) {
  bool via = false;
  char *scheme = NULL, *host = NULL;
  CURLU *u = curl_url();
  if (!u) return false;
  if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) goto out;
  if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK) goto out;
  if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) goto out;
  /* curl reads no_proxy before NO_PROXY and lets a match override every proxy. */
  const char *np = getenv("no_proxy");
  if (!np) np = getenv("NO_PROXY");
  if (np && fetch_noproxy_match(host, np)) goto out;
  if (explicit_proxy) {
    via = *explicit_proxy != '\0'; /* "" means: no proxy, not even from the environment */
    goto out;
  }
  /* curl ignores HTTP_PROXY in capitals (httpoxy); it reads https_proxy, then HTTPS_PROXY. */
  const char *env = NULL;
  if (strcasecmp(scheme, "http") == 0) {
    env = env_nonempty("http_proxy");
  } else if (strcasecmp(scheme, "https") == 0) {
    env = env_nonempty("https_proxy");
    if (!env) env = env_nonempty("HTTPS_PROXY");
  }
  if (!env) env = env_nonempty("all_proxy");
  if (!env) env = env_nonempty("ALL_PROXY");
  via = env != NULL;
out:
  curl_free(scheme);
  curl_free(host);
  curl_url_cleanup(u);
  return via;
}

/* ---- curl callbacks of one transfer ------------------------------------------------- */

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp) {
  struct fetch_xfer *x = userp;
  size_t len = size * nmemb;
  size_t max = x->f->max_body_bytes;
  size_t room = max - x->body_len;
  size_t take = len < room ? len : room;
  if (take > 0) {
    if (x->body_len + take + 1 > x->body_cap) {
      size_t cap = x->body_cap ? x->body_cap : FETCH_BODY_MIN_ALLOC;
      while (cap < x->body_len + take + 1)
        cap *= 2;
      if (cap > max + 1) cap = max + 1;
      x->body = xrealloc(x->body, cap);
      x->body_cap = cap;
    }
    memcpy(x->body + x->body_len, data, take);
    x->body_len += take;
    x->body[x->body_len] = '\0';
  }
  if (take < len) {
    /* Returning less than len makes curl end the transfer with CURLE_WRITE_ERROR: an
     * endless or oversized answer costs at most max_body_bytes. */
    x->truncated = true;
    return take;
  }
  return len;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userp) {
  struct fetch_xfer *x = userp;
  struct fetch *f = x->f;
  size_t len = size * nmemb;
  x->header_bytes += len;
  if (x->header_bytes > f->max_header_bytes) {
    x->truncated = true;
    return 0; /* ends the transfer: CURLE_WRITE_ERROR */
  }
  if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
    /* A status line starts a new answer (after a 100 Continue, say): keep the last only. */
    xfer_clear_headers(x);
    return len;
  }
  size_t n = len;
  while (n > 0 && (data[n - 1] == '\r' || data[n - 1] == '\n'))
    n--;
  if (n == 0) return len; /* the blank line that ends the headers */
  if (data[0] == ' ' || data[0] == '\t' || n > f->max_header_line ||
      x->n_headers >= f->max_headers) {
    /* Folded continuation lines are obsolete (RFC 9112) and none we read uses them. */
    x->headers_dropped = true;
    return len;
  }
  const char *colon = memchr(data, ':', n);
  if (!colon || colon == data) {
    x->headers_dropped = true;
    return len;
  }
  size_t nlen = (size_t)(colon - data);
  while (nlen > 0 && (data[nlen - 1] == ' ' || data[nlen - 1] == '\t'))
    nlen--;
  const char *v = colon + 1;
  const char *end = data + n;
  while (v < end && (*v == ' ' || *v == '\t'))
    v++;
  while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
    end--;
  size_t vlen = (size_t)(end - v);
  char *mem = xmalloc(nlen + 1 + vlen + 1);
  for (size_t i = 0; i < nlen; i++)
    mem[i] = (char)tolower((unsigned char)data[i]);
  mem[nlen] = '\0';
  memcpy(mem + nlen + 1, v, vlen);
  mem[nlen + 1 + vlen] = '\0';
  if (!x->headers) x->headers = xcalloc(f->max_headers, sizeof(*x->headers));
  x->headers[x->n_headers].name = mem;
  x->headers[x->n_headers].value = mem + nlen + 1;
  x->n_headers++;
  return len;
}

/* ---- starting, finishing and calling back ------------------------------------------ */

#define SETOPT(opt, val)                                                                           \
  do {                                                                                             \
    if (rc == CURLE_OK) {                                                                          \
      rc = curl_easy_setopt(e, opt, val);                                                          \
      if (rc != CURLE_OK) what = #opt;                                                             \
    }                                                                                              \
  } while (0)

/* xfer_begin makes the transfer's easy handle and hands it to curl. Returns 0, or a
 * CURLcode (> 0) in x->result with errbuf filled; the caller then finishes x. */
static int xfer_begin(struct fetch *f, struct fetch_xfer *x) {
  CURLcode rc = CURLE_OK;
  const char *what = NULL;
  CURL *e = curl_easy_init();
  if (!e) {
    rc = CURLE_OUT_OF_MEMORY;
    what = "curl_easy_init";
    goto out;
  }
  x->easy = e;
  SETOPT(CURLOPT_PRIVATE, (void *)x);
  SETOPT(CURLOPT_ERRORBUFFER, x->errbuf);
  SETOPT(CURLOPT_URL, x->url);
  SETOPT(CURLOPT_PROTOCOLS_STR, "http,https");
  SETOPT(CURLOPT_NOSIGNAL, 1L);
  SETOPT(CURLOPT_FOLLOWLOCATION, 0L);
  SETOPT(CURLOPT_TIMEOUT_MS, (long)x->timeout_ms);
  SETOPT(CURLOPT_WRITEFUNCTION, on_body);
  SETOPT(CURLOPT_WRITEDATA, (void *)x);
  SETOPT(CURLOPT_HEADERFUNCTION, on_header);
  SETOPT(CURLOPT_HEADERDATA, (void *)x);
  SETOPT(CURLOPT_HTTPHEADER, x->req_headers);
  SETOPT(CURLOPT_USERAGENT, f->user_agent);
  SETOPT(CURLOPT_SHARE, f->share);
  SETOPT(CURLOPT_ACCEPT_ENCODING, ""); /* what curl can decode; the body cap applies after */
  SETOPT(CURLOPT_MAXAGE_CONN, f->maxage_conn_s);
  SETOPT(CURLOPT_HTTP_VERSION,
         f->http2 ? (long)CURL_HTTP_VERSION_2TLS : (long)CURL_HTTP_VERSION_1_1);
  /* Over TLS, wait for a connection's ALPN answer (h2 or not) rather than open another
   * one. Never over plain http: there the connection's kind is learnt only from its first
   * answer, so one hanging transfer would hold every other one back. */
  if (strncasecmp(x->url, "https://", 8) == 0) SETOPT(CURLOPT_PIPEWAIT, 1L);
  SETOPT(CURLOPT_TCP_KEEPALIVE, 1L);
  SETOPT(CURLOPT_TCP_KEEPIDLE, 60L);
  SETOPT(CURLOPT_TCP_KEEPINTVL, 30L);
  SETOPT(CURLOPT_SUPPRESS_CONNECT_HEADERS, 1L);
#if LIBCURL_VERSION_NUM >= 0x075700
  /* A transfer that ends (timeout, cancel) while curl's resolver thread still waits on
   * getaddrinfo would otherwise join that thread, blocking the loop for as long as the
   * name server takes; with QUICK_EXIT curl detaches it and it frees itself. */
  SETOPT(CURLOPT_QUICK_EXIT, 1L);
#endif
  if (f->proxy) SETOPT(CURLOPT_PROXY, f->proxy);
  if (f->proxy_user) SETOPT(CURLOPT_PROXYUSERNAME, f->proxy_user);
  if (f->proxy_password) SETOPT(CURLOPT_PROXYPASSWORD, f->proxy_password);
  if (strcmp(x->method, "GET") == 0) {
    SETOPT(CURLOPT_HTTPGET, 1L);
  } else if (strcmp(x->method, "HEAD") == 0) {
    SETOPT(CURLOPT_NOBODY, 1L);
  } else {
    if (strcmp(x->method, "POST") != 0) SETOPT(CURLOPT_CUSTOMREQUEST, x->method);
    SETOPT(CURLOPT_POST, 1L);
    SETOPT(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->post_len);
    SETOPT(CURLOPT_POSTFIELDS, x->post ? x->post : "");
  }
  if (rc != CURLE_OK) goto out;
  x->started_at = (int64_t)uv_now(f->loop);
  CURLMcode mc = curl_multi_add_handle(f->multi, e);
  if (mc != CURLM_OK) {
    log_error("curl_multi_add_handle failed", "error=%s", log_q(curl_multi_strerror(mc)));
    rc = CURLE_FAILED_INIT;
    what = "curl_multi_add_handle";
    goto out;
  }
  x->state = XFER_RUNNING;
  return 0;
out:
  log_error("transfer setup failed", "call=%s error=%s", what ? what : "?",
            log_q(curl_easy_strerror(rc)));
  if (!x->errbuf[0])
    snprintf(x->errbuf, sizeof(x->errbuf), "%s: %s", what ? what : "setup", curl_easy_strerror(rc));
  x->result = (int)rc;
  return (int)rc;
}

static double info_secs(CURL *e, CURLINFO what) {
  curl_off_t us = 0;
  if (curl_easy_getinfo(e, what, &us) != CURLE_OK || us < 0) return 0.0;
  return (double)us / 1e6;
}

/* xfer_complete calls x's callback with everything curl knows about it and frees x. */
static void xfer_complete(struct fetch *f, struct fetch_xfer *x) {
  struct fetch_response r;
  memset(&r, 0, sizeof(r));
  r.curl_code = x->result;
  r.headers = x->headers;
  r.n_headers = x->n_headers;
  r.body = x->body ? x->body : "";
  r.body_len = x->body_len;
  r.truncated = x->truncated;
  r.headers_dropped = x->headers_dropped;
  r.cancelled = x->cancelled;
  r.via_proxy = x->via_proxy;
  r.peer = "";
  r.queued_ms = (x->easy ? x->started_at : (int64_t)uv_now(f->loop)) - x->queued_at;
  if (x->easy) {
    long code = 0, proxy_code = 0, conns = 0;
    char *ip = NULL;
    if (curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK)
      r.http_status = (int)code;
    if (curl_easy_getinfo(x->easy, CURLINFO_HTTP_CONNECTCODE, &proxy_code) == CURLE_OK)
      r.proxy_status = (int)proxy_code;
    if (curl_easy_getinfo(x->easy, CURLINFO_NUM_CONNECTS, &conns) == CURLE_OK)
      r.num_connects = conns;
    if (curl_easy_getinfo(x->easy, CURLINFO_PRIMARY_IP, &ip) == CURLE_OK && ip) r.peer = ip;
#if LIBCURL_VERSION_NUM >= 0x080700
    long used_proxy = 0;
    if (curl_easy_getinfo(x->easy, CURLINFO_USED_PROXY, &used_proxy) == CURLE_OK)
      r.via_proxy = used_proxy != 0;
#endif
    r.dns_s = info_secs(x->easy, CURLINFO_NAMELOOKUP_TIME_T);
    r.connect_s = info_secs(x->easy, CURLINFO_CONNECT_TIME_T);
    r.tls_s = info_secs(x->easy, CURLINFO_APPCONNECT_TIME_T);
    r.ttfb_s = info_secs(x->easy, CURLINFO_STARTTRANSFER_TIME_T);
    r.total_s = info_secs(x->easy, CURLINFO_TOTAL_TIME_T);
  }
  char text[CURL_ERROR_SIZE + 64];
  if (x->cancelled) {
    r.error = "cancelled";
  } else if (x->truncated && x->result == CURLE_WRITE_ERROR) {
    snprintf(text, sizeof(text), "answer cut at the size cap (%s)",
             x->header_bytes > f->max_header_bytes ? "max_header_bytes" : "max_body_bytes");
    r.error = text;
  } else if (x->result != CURLE_OK) {
    r.error = x->errbuf[0] ? x->errbuf : curl_easy_strerror((CURLcode)x->result);
  } else {
    r.error = "";
  }
  x->cb(&r, x->arg);
  xfer_free(x);
}

/* xfer_finish moves a transfer that ended (or never began) to the done list. */
static void xfer_finish(struct fetch *f, struct fetch_xfer *x) {
  x->state = XFER_DONE;
  list_push(&f->done, x);
}

static void pump(struct fetch *f) {
  while (!f->closing && f->queue.n > 0 && f->running.n < f->max_transfers) {
    struct fetch_xfer *x = list_pop(&f->queue);
    if (xfer_begin(f, x) == 0)
      list_push(&f->running, x);
    else
      xfer_finish(f, x);
  }
}

static void sock_close_cb(uv_handle_t *h);
static void timer_close_cb(uv_handle_t *h);

static void sock_close(struct fetch *f, struct fetch_sock *sk) {
  if (sk->closing) return;
  sk->closing = true;
  if (sk->prev)
    sk->prev->next = sk->next;
  else
    f->socks = sk->next;
  if (sk->next) sk->next->prev = sk->prev;
  sk->prev = sk->next = NULL;
  f->pending_closes++;
  uv_close((uv_handle_t *)&sk->poll, sock_close_cb);
}

static void final_free(struct fetch *f) {
  void (*done)(void *) = f->close_done;
  void *arg = f->close_arg;
  free(f->proxy);
  free(f->proxy_user);
  wipe_free(f->proxy_password);
  free(f->user_agent);
  free(f);
  curl_global_cleanup();
  if (done) done(arg);
}

static void close_cb_common(struct fetch *f) {
  if (--f->pending_closes == 0 && f->cleaned) final_free(f);
}

static void sock_close_cb(uv_handle_t *h) {
  struct fetch_sock *sk = h->data;
  struct fetch *f = sk->f;
  free(sk);
  close_cb_common(f);
}

static void timer_close_cb(uv_handle_t *h) {
  close_cb_common(h->data);
}

/* maybe_finish_close runs once every transfer of a closing client has been called back:
 * it takes the poll handles away from curl first (so curl's cleanup cannot reach a freed
 * one), lets curl close its connections, then closes the timer and the polls. */
static void maybe_finish_close(struct fetch *f) {
  if (!f->closing || f->settling || f->cleaned) return;
  if (f->queue.n || f->running.n || f->done.n) return;
  f->cleaned = true;
  for (struct fetch_sock *sk = f->socks; sk; sk = sk->next) {
    uv_poll_stop(&sk->poll);
    curl_multi_assign(f->multi, sk->fd, NULL);
  }
  while (f->socks)
    sock_close(f, f->socks);
  CURLMcode mc = curl_multi_cleanup(f->multi);
  if (mc != CURLM_OK)
    log_error("curl_multi_cleanup failed", "error=%s", log_q(curl_multi_strerror(mc)));
  f->multi = NULL;
  while (f->socks) /* any curl opened during cleanup */
    sock_close(f, f->socks);
  CURLSHcode sc = curl_share_cleanup(f->share);
  if (sc != CURLSHE_OK)
    log_error("curl_share_cleanup failed", "error=%s", log_q(curl_share_strerror(sc)));
  f->share = NULL;
  uv_timer_stop(&f->timer);
  f->pending_closes++;
  uv_close((uv_handle_t *)&f->timer, timer_close_cb);
}

/* settle starts queued transfers while there is room and calls back the finished ones,
 * one at a time, until nothing is left to do. A callback may start, cancel or close:
 * calls nested inside a callback only move transfers between lists and leave the calling
 * back to the outermost settle. */
static void settle(struct fetch *f) {
  if (f->settling) return;
  f->settling = true;
  for (;;) {
    pump(f);
    struct fetch_xfer *x = list_pop(&f->done);
    if (!x) break;
    xfer_complete(f, x);
  }
  f->settling = false;
  maybe_finish_close(f);
}

static void check_multi_info(struct fetch *f) {
  CURLMsg *m;
  int left = 0;
  while (f->multi && (m = curl_multi_info_read(f->multi, &left))) {
    if (m->msg != CURLMSG_DONE) continue;
    CURL *e = m->easy_handle;
    CURLcode result = m->data.result; /* m is invalid after remove_handle */
    char *priv = NULL;
    curl_easy_getinfo(e, CURLINFO_PRIVATE, &priv);
    struct fetch_xfer *x = (struct fetch_xfer *)(void *)priv;
    CURLMcode mc = curl_multi_remove_handle(f->multi, e);
    if (mc != CURLM_OK)
      log_error("curl_multi_remove_handle failed", "error=%s", log_q(curl_multi_strerror(mc)));
    if (!x || x->state != XFER_RUNNING) {
      log_error("finished transfer unknown to fetch", "state=%d", x ? (int)x->state : -1);
      continue;
    }
    x->result = (int)result;
    list_remove(&f->running, x);
    xfer_finish(f, x);
  }
}

static void socket_action(struct fetch *f, curl_socket_t fd, int flags) {
  if (!f->multi) return;
  int running = 0;
  CURLMcode mc = curl_multi_socket_action(f->multi, fd, flags, &running);
  if (mc != CURLM_OK)
    log_error("curl_multi_socket_action failed", "error=%s", log_q(curl_multi_strerror(mc)));
  check_multi_info(f);
  settle(f);
}

/* ---- libuv callbacks and curl's multi callbacks ------------------------------------- */

static void on_poll(uv_poll_t *h, int status, int events) {
  struct fetch_sock *sk = h->data;
  struct fetch *f = sk->f;
  int flags = 0;
  if (status < 0) {
    /* libuv reports POLLERR/POLLHUP as an error without saying which direction was ready.
     * curl alone would turn a bare CURL_CSELECT_ERR into "select/poll returned error"
     * (CURLE_SEND_ERROR) even for a reset while receiving; with the directions curl asked
     * for beside it, curl reads or writes the socket and reports the real errno. */
    flags = CURL_CSELECT_ERR;
    if (sk->events & UV_READABLE) flags |= CURL_CSELECT_IN;
    if (sk->events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
  } else {
    if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
  }
  socket_action(f, sk->fd, flags);
  /* libuv stops a poll handle that reported an error; when curl still wants the socket
   * (it did not remove it), watch it again so the transfer ends by curl's verdict or its
   * timeout, not by silence. */
  if (status < 0 && !sk->closing && !f->cleaned && sk->events) {
    int rc = uv_poll_start(&sk->poll, sk->events, on_poll);
    if (rc < 0) log_error("uv_poll_start failed", "error=%s", log_q(uv_strerror(rc)));
  }
}

static void on_timeout(uv_timer_t *t) {
  struct fetch *f = t->data;
  socket_action(f, CURL_SOCKET_TIMEOUT, 0);
}

static int on_curl_socket(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp) {
  (void)easy;
  struct fetch *f = userp;
  struct fetch_sock *sk = socketp;
  if (what == CURL_POLL_REMOVE) {
    if (sk) {
      sk->events = 0;
      if (f->multi && !f->cleaned) curl_multi_assign(f->multi, s, NULL);
      sock_close(f, sk);
    }
    return 0;
  }
  if (f->cleaned) return 0;
  if (!sk) {
    sk = xcalloc(1, sizeof(*sk));
    sk->f = f;
    sk->fd = s;
    int rc = uv_poll_init_socket(f->loop, &sk->poll, s);
    if (rc < 0) {
      log_error("uv_poll_init_socket failed", "fd=%d error=%s", (int)s, log_q(uv_strerror(rc)));
      free(sk);
      return -1;
    }
    sk->poll.data = sk;
    sk->next = f->socks;
    if (f->socks) f->socks->prev = sk;
    f->socks = sk;
    CURLMcode mc = curl_multi_assign(f->multi, s, sk);
    if (mc != CURLM_OK) {
      log_error("curl_multi_assign failed", "error=%s", log_q(curl_multi_strerror(mc)));
      sock_close(f, sk);
      return -1;
    }
  }
  int events = 0;
  if (what & CURL_POLL_IN) events |= UV_READABLE;
  if (what & CURL_POLL_OUT) events |= UV_WRITABLE;
  sk->events = events;
  int rc = uv_poll_start(&sk->poll, events, on_poll);
  if (rc < 0) {
    log_error("uv_poll_start failed", "fd=%d error=%s", (int)s, log_q(uv_strerror(rc)));
    return -1;
  }
  return 0;
}

static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp) {
  (void)multi;
  struct fetch *f = userp;
  if (f->cleaned) return 0;
  if (timeout_ms < 0) {
    uv_timer_stop(&f->timer);
    return 0;
  }
  /* A zero timeout means "act now"; calling socket_action from here would re-enter curl,
   * so the timer fires on the next loop iteration instead (as multi-uv.c does). */
  int rc = uv_timer_start(&f->timer, on_timeout, (uint64_t)timeout_ms, 0);
  if (rc < 0) {
    log_error("uv_timer_start failed", "error=%s", log_q(uv_strerror(rc)));
    return -1;
  }
  return 0;
}

/* ---- public API ---------------------------------------------------------------------- */

void fetch_opts_init(struct fetch_opts *o) {
  memset(o, 0, sizeof(*o));
  o->max_transfers = 64;
  o->max_host_connections = 8;
  o->max_total_connections = 0;
  o->maxage_conn_s = 600;
  o->max_body_bytes = (size_t)64 * 1024;
  o->max_headers = 64;
  o->max_header_line = (size_t)8 * 1024;
  o->max_header_bytes = (size_t)64 * 1024;
  o->http2 = true;
}

#define MSETOPT(opt, val)                                                                          \
  do {                                                                                             \
    if (mc == CURLM_OK) {                                                                          \
      mc = curl_multi_setopt(f->multi, opt, val);                                                  \
      if (mc != CURLM_OK) what = #opt;                                                             \
    }                                                                                              \
  } while (0)

int fetch_new(uv_loop_t *loop, const struct fetch_opts *o, struct fetch **out) {
  *out = NULL;
  if (!loop || !o || o->max_transfers < 1 || o->max_host_connections < 1 ||
      o->max_total_connections < 0 || o->maxage_conn_s < 1 || o->max_body_bytes < 1 ||
      o->max_headers < 1 || o->max_header_line < 16 || o->max_header_bytes < 64)
    return UTIL_EINVAL;
  CURLcode gc = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (gc != CURLE_OK) {
    log_error("curl_global_init failed", "error=%s", log_q(curl_easy_strerror(gc)));
    return UTIL_EHTTP;
  }
  int err = UTIL_EHTTP;
  const char *what = NULL;
  struct fetch *f = xcalloc(1, sizeof(*f));
  f->loop = loop;
  f->max_transfers = (size_t)o->max_transfers;
  f->max_body_bytes = o->max_body_bytes;
  f->max_headers = o->max_headers;
  f->max_header_line = o->max_header_line;
  f->max_header_bytes = o->max_header_bytes;
  f->maxage_conn_s = (long)o->maxage_conn_s;
  f->http2 = o->http2;
  f->proxy = o->proxy ? xstrdup(o->proxy) : NULL;
  f->proxy_user = o->proxy_user ? xstrdup(o->proxy_user) : NULL;
  f->proxy_password = o->proxy_password ? xstrdup(o->proxy_password) : NULL;
  f->user_agent = xstrdup(o->user_agent ? o->user_agent : "claudemon/" CLAUDEMON_VERSION);

  f->share = curl_share_init();
  f->multi = curl_multi_init();
  if (!f->share || !f->multi) {
    what = "curl_multi_init";
    goto out;
  }
  /* One thread: the share needs no lock functions. Connections are shared by the multi
   * handle's own cache; the share adds DNS answers and TLS sessions. */
  CURLSHcode sc = curl_share_setopt(f->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
  if (sc == CURLSHE_OK)
    sc = curl_share_setopt(f->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
  if (sc != CURLSHE_OK) {
    log_error("curl_share_setopt failed", "error=%s", log_q(curl_share_strerror(sc)));
    goto out;
  }
  long total =
      o->max_total_connections ? o->max_total_connections : 4L * (long)o->max_host_connections;
  CURLMcode mc = CURLM_OK;
  MSETOPT(CURLMOPT_SOCKETFUNCTION, on_curl_socket);
  MSETOPT(CURLMOPT_SOCKETDATA, (void *)f);
  MSETOPT(CURLMOPT_TIMERFUNCTION, on_curl_timer);
  MSETOPT(CURLMOPT_TIMERDATA, (void *)f);
  MSETOPT(CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
  MSETOPT(CURLMOPT_MAX_HOST_CONNECTIONS, (long)o->max_host_connections);
  MSETOPT(CURLMOPT_MAX_TOTAL_CONNECTIONS, total);
  MSETOPT(CURLMOPT_MAXCONNECTS, total); /* the idle cache keeps every allowed connection */
  if (mc != CURLM_OK) {
    log_error("curl_multi_setopt failed", "option=%s error=%s", what,
              log_q(curl_multi_strerror(mc)));
    goto out;
  }
  int rc = uv_timer_init(loop, &f->timer);
  if (rc < 0) {
    log_error("uv_timer_init failed", "error=%s", log_q(uv_strerror(rc)));
    err = UTIL_EUV;
    goto out;
  }
  f->timer.data = f;
  *out = f;
  return 0;
out:
  if (what && !f->multi) log_error("curl initialisation failed", "call=%s", what);
  if (f->multi) curl_multi_cleanup(f->multi);
  if (f->share) curl_share_cleanup(f->share);
  f->multi = NULL;
  f->share = NULL;
  f->close_done = NULL;
  final_free(f);
  return err;
}

int fetch_start(struct fetch *f, const struct fetch_request *req, fetch_done_cb cb, void *arg) {
  if (!f || !req || !req->url || !cb || f->closing || req->timeout_ms < 1 ||
      (req->n_headers && !req->headers) || (req->body_len && !req->body))
    return UTIL_EINVAL;
  if (strncasecmp(req->url, "http://", 7) != 0 && strncasecmp(req->url, "https://", 8) != 0)
    return UTIL_EINVAL;
  const char *method = req->method ? req->method : "GET";
  for (const char *p = method; *p; p++)
    if (!isupper((unsigned char)*p)) return UTIL_EINVAL;
  if (!*method) return UTIL_EINVAL;

  struct fetch_xfer *x = xcalloc(1, sizeof(*x));
  x->f = f;
  x->cb = cb;
  x->arg = arg;
  x->method = xstrdup(method);
  x->url = xstrdup(req->url);
  x->timeout_ms = req->timeout_ms;
  x->queued_at = (int64_t)uv_now(f->loop);
  x->via_proxy = fetch_proxy_for(req->url, f->proxy);
  if (req->body) {
    x->post = xmalloc(req->body_len + 1);
    memcpy(x->post, req->body, req->body_len);
    x->post[req->body_len] = '\0';
    x->post_len = req->body_len;
  }
  /* "Name: value" is built in a scratch buffer that is wiped at once: curl_slist_append
   * copies it, and that copy (wiped in xfer_free) is the only one that lives on. */
  for (size_t i = 0; i < req->n_headers; i++) {
    const struct fetch_header *h = &req->headers[i];
    if (!h->name || !h->value || !*h->name || strpbrk(h->name, ":\r\n") ||
        strpbrk(h->value, "\r\n")) {
      xfer_free(x);
      return UTIL_EINVAL;
    }
    size_t n = strlen(h->name) + 2 + strlen(h->value) + 1;
    char *line = xmalloc(n);
    snprintf(line, n, "%s: %s", h->name, h->value);
    struct curl_slist *l = curl_slist_append(x->req_headers, line);
    explicit_bzero(line, n);
    free(line);
    if (!l) {
      xfer_free(x);
      return UTIL_EHTTP;
    }
    x->req_headers = l;
  }
  /* Keep FIFO order: a request starts at once only when nobody is waiting before it. */
  if (f->queue.n == 0 && f->running.n < f->max_transfers) {
    if (xfer_begin(f, x) != 0) {
      xfer_free(x);
      return UTIL_EHTTP;
    }
    list_push(&f->running, x);
  } else {
    x->state = XFER_QUEUED;
    list_push(&f->queue, x);
  }
  return 0;
}

void fetch_cancel_all(struct fetch *f) {
  if (!f) return;
  struct fetch_xfer *x;
  while ((x = list_pop(&f->running))) {
    if (f->multi) {
      CURLMcode mc = curl_multi_remove_handle(f->multi, x->easy);
      if (mc != CURLM_OK)
        log_error("curl_multi_remove_handle failed", "error=%s", log_q(curl_multi_strerror(mc)));
    }
    x->cancelled = true;
    x->result = CURLE_ABORTED_BY_CALLBACK;
    xfer_finish(f, x);
  }
  while ((x = list_pop(&f->queue))) {
    x->cancelled = true;
    x->result = CURLE_ABORTED_BY_CALLBACK;
    xfer_finish(f, x);
  }
  settle(f);
}

void fetch_close(struct fetch *f, void (*done)(void *arg), void *arg) {
  if (!f) {
    if (done) done(arg);
    return;
  }
  if (f->closing) return;
  f->closing = true;
  f->close_done = done;
  f->close_arg = arg;
  fetch_cancel_all(f); /* its settle() finishes the close when nothing is left */
}

size_t fetch_pending(const struct fetch *f) {
  return f ? f->queue.n + f->running.n + f->done.n : 0;
}
