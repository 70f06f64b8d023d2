/* httpd.c — the only file that knows HTTP serving. It owns one libmicrohttpd daemon run
 * without a thread of its own (MHD_USE_EPOLL, external polling): libmicrohttpd's epoll fd
 * is watched by a uv_poll_t and MHD_run() is called from it and from a uv_timer_t armed
 * with MHD_get_timeout() after every run, so every handler runs on the loop thread.
 *
 * It must never block the loop (handlers are quick and synchronous; bodies of requests are
 * refused, not read), never keep the basic-auth password (only its SHA-256, compared in
 * constant time), and never let a client hold a connection for ever: libmicrohttpd's idle
 * timeout does not stop a client that trickles a byte a second, so each connection also
 * has an absolute deadline per exchange, enforced by a reaper timer with shutdown(2) on
 * the socket (libmicrohttpd still owns and closes the fd).
 *
 * Lifetime: httpd_new() starts serving; httpd_close() stops the daemon at once, closes the
 * three handles and frees the struct in the last close callback. */
#include "exporters/httpd.h"
#include "agent/log.h"
#include "agent/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#define HTTPD_DEFAULT_TIMEOUT_S 10
#define HTTPD_DEFAULT_CONN_LIMIT 256
#define HTTPD_DEFAULT_MEMORY_LIMIT ((size_t)32 * 1024)
#define HTTPD_TLS_FILE_MAX ((off_t)1024 * 1024)
#define HTTPD_REALM "claudemon"
#define HTTPD_TEXT "text/plain; charset=utf-8"

struct httpd_route_entry {
  char *path;
  size_t len;
  bool prefix;
  httpd_handler_cb cb;
  void *arg;
};

/* One TCP connection, from libmicrohttpd's connection notifications. */
struct httpd_conn {
  struct httpd_conn *prev, *next;
  int fd;
  int64_t deadline_ms; /* monotonic; the current exchange must be over by then */
  bool cut;            /* shut down by the reaper */
};

/* One request: created by the URI log callback (the only place the raw URI is seen),
 * freed by the request-completed callback. */
struct httpd_req_state {
  char *uri;   /* raw request target */
  bool called; /* the access handler ran once (headers received) */
};

struct httpd {
  uv_loop_t *loop;
  struct MHD_Daemon *mhd;
  uv_poll_t poll;    /* libmicrohttpd's epoll fd */
  uv_timer_t timer;  /* MHD_get_timeout() */
  uv_timer_t reaper; /* exchange deadlines */
  int open_handles;  /* closed asynchronously; h is freed when this reaches 0 */
  bool closing;
  bool starting; /* libmicrohttpd messages are warnings while starting, debug after */
  bool ready;
  uint16_t port;
  int64_t timeout_ms;
  struct httpd_route_entry *routes;
  size_t n_routes;
  char *tls_cert;  /* PEM text, kept for the daemon's life */
  char *tls_key;   /* wiped before it is freed */
  char *auth_user; /* NULL: no auth */
  char auth_user_hash[65];
  char auth_pass_hash[65];
  struct httpd_conn *conns;
  size_t n_conns;
  bool conn_closed; /* a connection closed during the last MHD_run() */
  void (*done)(void *);
  void *done_arg;
};

static void wipe(void *p, size_t n) {
  volatile unsigned char *v = p;
  while (n--)
    *v++ = 0;
}

/* on_mhd_log is libmicrohttpd's logger: fmt is its own printf format. */
__attribute__((format(printf, 2, 0))) static void on_mhd_log(void *cls, const char *fmt,
                                                             va_list ap) {
  struct httpd *h = cls;
  char buf[512];
  vsnprintf(buf, sizeof(buf), fmt, ap);
  size_t n = strlen(buf);
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
    buf[--n] = '\0';
  /* Every malformed request makes libmicrohttpd talk: only its start-up failures (bind,
   * TLS) are worth more than debug. */
  if (h->starting)
    log_warn("libmicrohttpd", "error=%s", log_q(buf));
  else
    log_debug("libmicrohttpd", "error=%s", log_q(buf));
}

/* Listen address parsing: "host:port", "[v6]:port", ":port". */
static int parse_listen(const char *listen, char *host, size_t hostsz, uint16_t *port) {
  if (!listen || !*listen) return UTIL_EINVAL;
  const char *colon;
  if (listen[0] == '[') {
    const char *close = strchr(listen, ']');
    if (!close || close[1] != ':') return UTIL_EINVAL;
    size_t n = (size_t)(close - listen - 1);
    if (n == 0 || n >= hostsz) return UTIL_EINVAL;
    memcpy(host, listen + 1, n);
    host[n] = '\0';
    colon = close + 1;
  } else {
    colon = strrchr(listen, ':');
    if (!colon) return UTIL_EINVAL;
    size_t n = (size_t)(colon - listen);
    if (n >= hostsz || memchr(listen, ':', n)) return UTIL_EINVAL; /* bare v6 needs [] */
    memcpy(host, listen, n);
    host[n] = '\0';
  }
  const char *p = colon + 1;
  if (!*p || strlen(p) > 5) return UTIL_EINVAL;
  unsigned long v = 0;
  for (; *p; p++) {
    if (*p < '0' || *p > '9') return UTIL_EINVAL;
    v = v * 10 + (unsigned long)(*p - '0');
  }
  if (v > 65535) return UTIL_EINVAL;
  *port = (uint16_t)v;
  return 0;
}

static int resolve_listen(const char *host, uint16_t port, struct sockaddr_storage *ss, bool *v6) {
  memset(ss, 0, sizeof(*ss));
  if (!*host) { /* all interfaces, IPv6 and IPv4 */
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
    a->sin6_family = AF_INET6;
    a->sin6_addr = in6addr_any;
    a->sin6_port = htons(port);
    *v6 = true;
    return 0;
  }
  struct addrinfo hints = {
      .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
  struct addrinfo *res = NULL;
  int rc = getaddrinfo(host, NULL, &hints, &res);
  if (rc != 0 || !res) {
    log_error("cannot resolve the listen host", "host=%s error=%s", log_q(host),
              log_q(gai_strerror(rc)));
    return UTIL_EINVAL;
  }
  if (res->ai_family == AF_INET6) {
    memcpy(ss, res->ai_addr, sizeof(struct sockaddr_in6));
    ((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
    *v6 = true;
  } else {
    memcpy(ss, res->ai_addr, sizeof(struct sockaddr_in));
    ((struct sockaddr_in *)ss)->sin_port = htons(port);
    *v6 = false;
  }
  freeaddrinfo(res);
  return 0;
}

static int read_small_file(const char *path, char **out) {
  int err = UTIL_EIO;
  char *buf = NULL;
  struct stat st = {0};
  FILE *f = fopen(path, "rb");
  if (!f) goto out;
  if (fstat(fileno(f), &st) != 0 || st.st_size <= 0 || st.st_size > HTTPD_TLS_FILE_MAX) goto out;
  size_t n = (size_t)st.st_size;
  buf = xmalloc(n + 1);
  if (fread(buf, 1, n, f) != n) goto out;
  buf[n] = '\0';
  *out = buf;
  buf = NULL;
  err = 0;
out:
  if (err)
    log_error("cannot read a TLS file", "path=%s errno=%s", log_q(path), log_q(strerror(errno)));
  if (buf) { /* it may hold part of a private key */
    wipe(buf, (size_t)st.st_size);
    free(buf);
  }
  if (f) fclose(f);
  return err;
}

/* Connection deadlines. */

static void conn_unlink(struct httpd *h, struct httpd_conn *c) {
  if (c->prev)
    c->prev->next = c->next;
  else
    h->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  h->n_conns--;
}

static void on_connection(void *cls, struct MHD_Connection *connection, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe) {
  struct httpd *h = cls;
  if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
    struct httpd_conn *c = xcalloc(1, sizeof(*c));
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
    c->fd = ci ? ci->connect_fd : -1;
    c->deadline_ms = util_mono_ms() + h->timeout_ms;
    c->next = h->conns;
    if (h->conns) h->conns->prev = c;
    h->conns = c;
    h->n_conns++;
    *socket_context = c;
  } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED && *socket_context) {
    struct httpd_conn *c = *socket_context;
    conn_unlink(h, c);
    free(c);
    *socket_context = NULL;
    h->conn_closed = true;
  }
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *connection) {
  (void)cls;
  (void)connection;
  struct httpd_req_state *rs = xcalloc(1, sizeof(*rs));
  rs->uri = xstrdup(uri ? uri : "");
  return rs;
}

static void on_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  struct httpd *h = cls;
  (void)toe;
  struct httpd_req_state *rs = *con_cls;
  if (rs) {
    free(rs->uri);
    free(rs);
    *con_cls = NULL;
  }
  /* The exchange is over: the next one gets a fresh deadline. */
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  if (ci && ci->socket_context) {
    struct httpd_conn *c = ci->socket_context;
    c->deadline_ms = util_mono_ms() + h->timeout_ms;
  }
}

/* Driving libmicrohttpd from the loop. */

static void on_timer(uv_timer_t *t);
static void on_reaper(uv_timer_t *t);

static void httpd__run(struct httpd *h) {
  if (h->closing) return;
  h->conn_closed = false;
  MHD_run(h->mhd);
  MHD_UNSIGNED_LONG_LONG to = 0;
  if (h->conn_closed) {
    /* At the connection limit libmicrohttpd takes its listen socket out of its epoll set
     * and puts it back only at the start of a later MHD_run(): run again at once, or the
     * clients waiting in the backlog would wait for some other timeout. */
    uv_timer_start(&h->timer, on_timer, 0, 0);
  } else if (MHD_get_timeout(h->mhd, &to) == MHD_YES) {
    /* 0 means there is work pending now: the timer then fires on the next loop turn. */
    uv_timer_start(&h->timer, on_timer, (uint64_t)to, 0);
  } else {
    uv_timer_stop(&h->timer);
  }
  if (h->n_conns > 0 && !uv_is_active((uv_handle_t *)&h->reaper)) {
    uint64_t every = (uint64_t)h->timeout_ms / 4;
    if (every < 50) every = 50;
    if (every > 1000) every = 1000;
    uv_timer_start(&h->reaper, on_reaper, every, every);
  } else if (h->n_conns == 0) {
    uv_timer_stop(&h->reaper);
  }
}

static void on_poll(uv_poll_t *p, int status, int events) {
  (void)events;
  struct httpd *h = p->data;
  if (status < 0) log_warn("httpd poll error", "error=%s", log_q(uv_strerror(status)));
  httpd__run(h);
}

static void on_timer(uv_timer_t *t) {
  httpd__run(t->data);
}

static void on_reaper(uv_timer_t *t) {
  struct httpd *h = t->data;
  int64_t now = util_mono_ms();
  bool any = false;
  for (struct httpd_conn *c = h->conns; c; c = c->next) {
    if (c->cut || c->fd < 0 || now < c->deadline_ms) continue;
    /* shutdown, not close: the fd stays libmicrohttpd's, which sees EOF and cleans up. */
    shutdown(c->fd, SHUT_RDWR);
    c->cut = true;
    any = true;
    log_debug("httpd connection cut", "reason=%s", "exchange_timeout");
  }
  if (any) httpd__run(h);
}

/* Requests. */

static enum MHD_Result queue_text(struct MHD_Connection *conn, unsigned status, const char *text,
                                  const char *allow) {
  struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), (void *)(uintptr_t)text,
                                                           MHD_RESPMEM_PERSISTENT);
  if (!r) return MHD_NO;
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, HTTPD_TEXT);
  if (allow) MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
  enum MHD_Result ret = MHD_queue_response(conn, status, r);
  MHD_destroy_response(r);
  return ret;
}

static bool ct_equal(const char *a, const char *b, size_t n) {
  unsigned char d = 0;
  for (size_t i = 0; i < n; i++)
    d |= (unsigned char)(a[i] ^ b[i]);
  return d == 0;
}

/* authorized checks basic auth: both the user and the password are hashed and compared
 * in constant time, and both comparisons always run. */
static bool authorized(struct httpd *h, struct MHD_Connection *conn) {
  if (!h->auth_user) return true;
  char *pass = NULL;
  char *user = MHD_basic_auth_get_username_password(conn, &pass);
  char uh[65], ph[65];
  util_sha256_hex(user ? user : "", user ? strlen(user) : 0, uh);
  util_sha256_hex(pass ? pass : "", pass ? strlen(pass) : 0, ph);
  bool ok_user = ct_equal(uh, h->auth_user_hash, 64);
  bool ok_pass = ct_equal(ph, h->auth_pass_hash, 64);
  if (pass) {
    wipe(pass, strlen(pass));
    MHD_free(pass);
  }
  if (user) MHD_free(user);
  return user != NULL && ok_user && ok_pass;
}

static const struct httpd_route_entry *find_route(const struct httpd *h, const char *path) {
  const struct httpd_route_entry *best = NULL;
  size_t plen = strlen(path);
  for (size_t i = 0; i < h->n_routes; i++) {
    const struct httpd_route_entry *r = &h->routes[i];
    if (!r->prefix) {
      if (r->len == plen && memcmp(r->path, path, plen) == 0) return r;
    } else if (r->len <= plen && memcmp(r->path, path, r->len) == 0) {
      if (!best || r->len > best->len) best = r;
    }
  }
  return best;
}

static bool has_body(struct MHD_Connection *conn) {
  const char *te =
      MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
  if (te) return true;
  const char *cl =
      MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
  return cl && strcmp(cl, "0") != 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls) {
  struct httpd *h = cls;
  (void)version;
  (void)upload_data;
  struct httpd_req_state *rs = *con_cls;
  if (!rs) return MHD_NO; /* cannot happen: on_uri always sets it */
  bool get = strcmp(method, MHD_HTTP_METHOD_GET) == 0;
  bool head = strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
  if (!rs->called) {
    rs->called = true;
    /* Refusals go out on the first call, before any body is read: libmicrohttpd then
     * discards the rest of the request and closes the connection. */
    if (!get && !head)
      return queue_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n", "GET, HEAD");
    if (has_body(conn))
      return queue_text(conn, MHD_HTTP_BAD_REQUEST, "request bodies are not accepted\n", NULL);
    return MHD_YES; /* the answer goes out on the next call, when the request is complete */
  }
  if (*upload_data_size != 0) { /* not announced, still a body: drop the connection */
    *upload_data_size = 0;
    return MHD_NO;
  }
  if (!authorized(h, conn)) {
    struct MHD_Response *r = MHD_create_response_from_buffer(
        strlen("unauthorized\n"), (void *)(uintptr_t) "unauthorized\n", MHD_RESPMEM_PERSISTENT);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, HTTPD_TEXT);
    enum MHD_Result ret = MHD_queue_basic_auth_fail_response(conn, HTTPD_REALM, r);
    MHD_destroy_response(r);
    return ret;
  }
  const struct httpd_route_entry *route = find_route(h, url);
  if (!route) return queue_text(conn, MHD_HTTP_NOT_FOUND, "not found\n", NULL);

  const char *q = strchr(rs->uri, '?');
  struct httpd_request req = {.method = method, .path = url, .query = q ? q + 1 : "", .conn = conn};
  struct httpd_response res = {0};
  route->cb(route->arg, &req, &res);
  if (res.status < 100 || res.status > 599) res.status = 500;
  struct MHD_Response *r;
  if (res.body && res.len > 0) {
    r = MHD_create_response_from_buffer_with_free_callback(res.len, res.body, free);
  } else {
    free(res.body);
    r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
  }
  if (!r) return MHD_NO;
  MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                          res.content_type ? res.content_type : HTTPD_TEXT);
  MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
  enum MHD_Result ret = MHD_queue_response(conn, (unsigned)res.status, r);
  MHD_destroy_response(r);
  return ret;
}

/* Built-in routes. */

static void text_response(struct httpd_response *res, int status, const char *text) {
  res->status = status;
  res->body = xstrdup(text);
  res->len = strlen(text);
}

static void on_healthy(void *arg, const struct httpd_request *req, struct httpd_response *res) {
  (void)arg;
  (void)req;
  text_response(res, 200, "OK\n");
}

static void on_ready(void *arg, const struct httpd_request *req, struct httpd_response *res) {
  struct httpd *h = arg;
  (void)req;
  if (h->ready)
    text_response(res, 200, "OK\n");
  else
    text_response(res, 503, "not ready\n");
}

/* Life cycle. */

static void httpd_free(struct httpd *h) {
  for (size_t i = 0; i < h->n_routes; i++)
    free(h->routes[i].path);
  free(h->routes);
  /* MHD_stop_daemon() has closed every connection by now, so the list is normally empty.
   * Walked with a saved next, not popped through conn_unlink(): the analyzer cannot see
   * that the head's prev is NULL and reported a use after free on the popping loop. */
  for (struct httpd_conn *c = h->conns, *next; c; c = next) {
    next = c->next;
    free(c);
  }
  h->conns = NULL;
  h->n_conns = 0;
  if (h->tls_key) {
    wipe(h->tls_key, strlen(h->tls_key));
    free(h->tls_key);
  }
  free(h->tls_cert);
  free(h->auth_user);
  wipe(h->auth_pass_hash, sizeof(h->auth_pass_hash));
  free(h);
}

static void on_handle_closed(uv_handle_t *handle) {
  struct httpd *h = handle->data;
  if (--h->open_handles > 0) return;
  void (*done)(void *) = h->done;
  void *arg = h->done_arg;
  httpd_free(h);
  if (done) done(arg);
}

static struct MHD_Daemon *start_daemon(struct httpd *h, unsigned flags, const struct sockaddr *sa,
                                       unsigned timeout_s, unsigned limit, size_t memory) {
  struct MHD_OptionItem tls[] = {
      {MHD_OPTION_HTTPS_MEM_CERT, 0, h->tls_cert},
      {MHD_OPTION_HTTPS_MEM_KEY, 0, h->tls_key},
      {MHD_OPTION_END, 0, NULL},
  };
  return MHD_start_daemon(flags, 0, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER,
                          on_mhd_log, h, MHD_OPTION_SOCK_ADDR, sa, MHD_OPTION_CONNECTION_TIMEOUT,
                          timeout_s, MHD_OPTION_CONNECTION_LIMIT, limit,
                          MHD_OPTION_CONNECTION_MEMORY_LIMIT, memory, MHD_OPTION_URI_LOG_CALLBACK,
                          on_uri, h, MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
                          MHD_OPTION_NOTIFY_CONNECTION, on_connection, h, MHD_OPTION_ARRAY,
                          h->tls_cert ? tls : tls + 2, MHD_OPTION_END);
}

int httpd_new(uv_loop_t *loop, const struct httpd_opts *o, struct httpd **out) {
  int err = UTIL_EINVAL;
  struct httpd *h = NULL;
  char host[256];
  uint16_t port = 0;
  *out = NULL;
  if (!loop || !o || parse_listen(o->listen, host, sizeof(host), &port) != 0) {
    log_error("invalid listen address", "listen=%s", log_q(o && o->listen ? o->listen : ""));
    goto out;
  }
  if ((o->tls_cert_file == NULL) != (o->tls_key_file == NULL)) {
    log_error("TLS needs both a certificate and a key file", "listen=%s", log_q(o->listen));
    goto out;
  }
  if ((o->basic_auth_user == NULL) != (o->basic_auth_password == NULL)) {
    log_error("basic auth needs both a user and a password", "listen=%s", log_q(o->listen));
    goto out;
  }
  if (o->tls_cert_file && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
    log_error("libmicrohttpd was built without TLS", "version=%s", MHD_get_version());
    goto out;
  }
  struct sockaddr_storage ss;
  bool v6 = false;
  if ((err = resolve_listen(host, port, &ss, &v6)) != 0) goto out;

  h = xcalloc(1, sizeof(*h));
  h->loop = loop;
  unsigned timeout_s = o->connection_timeout_s ? o->connection_timeout_s : HTTPD_DEFAULT_TIMEOUT_S;
  unsigned limit = o->connection_limit ? o->connection_limit : HTTPD_DEFAULT_CONN_LIMIT;
  size_t memory =
      o->connection_memory_limit ? o->connection_memory_limit : HTTPD_DEFAULT_MEMORY_LIMIT;
  h->timeout_ms = (int64_t)timeout_s * 1000;
  if (o->tls_cert_file) {
    if ((err = read_small_file(o->tls_cert_file, &h->tls_cert)) != 0) goto out;
    if ((err = read_small_file(o->tls_key_file, &h->tls_key)) != 0) goto out;
  }
  if (o->basic_auth_user) {
    h->auth_user = xstrdup(o->basic_auth_user);
    util_sha256_hex(o->basic_auth_user, strlen(o->basic_auth_user), h->auth_user_hash);
    util_sha256_hex(o->basic_auth_password, strlen(o->basic_auth_password), h->auth_pass_hash);
  }

  unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
  if (h->tls_cert) flags |= MHD_USE_TLS;
  h->starting = true;
  if (v6 && !*host) {
    h->mhd = start_daemon(h, flags | MHD_USE_DUAL_STACK, (struct sockaddr *)&ss, timeout_s, limit,
                          memory);
    if (!h->mhd) { /* no IPv6 on this host: all IPv4 interfaces then */
      struct sockaddr_in *a = (struct sockaddr_in *)&ss;
      memset(&ss, 0, sizeof(ss));
      a->sin_family = AF_INET;
      a->sin_addr.s_addr = htonl(INADDR_ANY);
      a->sin_port = htons(port);
      h->mhd = start_daemon(h, flags, (struct sockaddr *)&ss, timeout_s, limit, memory);
    }
  } else {
    h->mhd = start_daemon(h, flags | (v6 ? MHD_USE_IPv6 : 0), (struct sockaddr *)&ss, timeout_s,
                          limit, memory);
  }
  h->starting = false;
  if (!h->mhd) {
    log_error("cannot start the HTTP server", "listen=%s", log_q(o->listen));
    err = UTIL_EUV;
    goto out;
  }
  const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_BIND_PORT);
  h->port = di ? di->port : port;
  di = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_EPOLL_FD);
  if (!di) {
    err = UTIL_EUV;
    goto out;
  }
  int rc = uv_poll_init(loop, &h->poll, di->epoll_fd);
  if (rc < 0) {
    log_error("cannot watch the HTTP server", "error=%s", log_q(uv_strerror(rc)));
    err = UTIL_EUV;
    goto out;
  }
  /* From here the handles exist and h is freed only through their close callbacks. */
  uv_timer_init(loop, &h->timer);
  uv_timer_init(loop, &h->reaper);
  h->poll.data = h->timer.data = h->reaper.data = h;
  h->open_handles = 3;
  uv_poll_start(&h->poll, UV_READABLE, on_poll);
  httpd_route(h, "/-/healthy", false, on_healthy, h);
  httpd_route(h, "/-/ready", false, on_ready, h);
  httpd__run(h);
  log_info("HTTP server listening", "listen=%s port=%u tls=%s auth=%s", log_q(o->listen),
           (unsigned)h->port, h->tls_cert ? "true" : "false", h->auth_user ? "true" : "false");
  *out = h;
  return 0;
out:
  if (h) {
    if (h->mhd) MHD_stop_daemon(h->mhd);
    httpd_free(h);
  }
  return err;
}

int httpd_route(struct httpd *h, const char *path, bool prefix, httpd_handler_cb cb, void *arg) {
  if (!h || !path || path[0] != '/' || !cb) return UTIL_EINVAL;
  for (size_t i = 0; i < h->n_routes; i++) {
    struct httpd_route_entry *r = &h->routes[i];
    if (r->prefix == prefix && strcmp(r->path, path) == 0) {
      r->cb = cb;
      r->arg = arg;
      return 0;
    }
  }
  h->routes = xrealloc(h->routes, (h->n_routes + 1) * sizeof(*h->routes));
  h->routes[h->n_routes++] = (struct httpd_route_entry){
      .path = xstrdup(path), .len = strlen(path), .prefix = prefix, .cb = cb, .arg = arg};
  return 0;
}

const char *httpd_query_get(const struct httpd_request *req, const char *name) {
  if (!req || !req->conn || !name) return NULL;
  const char *value = NULL;
  size_t value_len = 0;
  if (MHD_lookup_connection_value_n(req->conn, MHD_GET_ARGUMENT_KIND, name, strlen(name), &value,
                                    &value_len) != MHD_YES)
    return NULL;
  return value ? value : "";
}

uint16_t httpd_port(const struct httpd *h) {
  return h ? h->port : 0;
}

void httpd_set_ready(struct httpd *h, bool ready) {
  if (!h) return;
  if (h->ready != ready) log_info("readiness changed", "ready=%s", ready ? "true" : "false");
  h->ready = ready;
}

void httpd_close(struct httpd *h, void (*done)(void *), void *arg) {
  if (!h) {
    if (done) done(arg);
    return;
  }
  if (h->closing) return;
  h->closing = true;
  h->done = done;
  h->done_arg = arg;
  /* Stop watching the epoll fd before libmicrohttpd closes it. */
  uv_poll_stop(&h->poll);
  MHD_stop_daemon(h->mhd);
  h->mhd = NULL;
  uv_close((uv_handle_t *)&h->poll, on_handle_closed);
  uv_close((uv_handle_t *)&h->timer, on_handle_closed);
  uv_close((uv_handle_t *)&h->reaper, on_handle_closed);
}
