/* httpd.h — the HTTP server of the daemon: libmicrohttpd driven by the daemon's own libuv
 * loop on the loop's thread (no thread of its own), serving GET and HEAD on the `listen`
 * address, with optional TLS and basic auth. Callers register routes; a route's handler
 * fills a struct httpd_response and never sees libmicrohttpd. Built-in routes: /-/healthy
 * (always 200 "OK") and /-/ready (200 once httpd_set_ready(h, true), else 503).
 *
 * Limits every connection obeys: one request/response exchange must complete within
 * connection_timeout_s of the previous one (or of the connect), so a client that trickles
 * bytes is cut off; at most connection_limit connections at once; a request with a body,
 * or with a method other than GET and HEAD, is refused (405 / 400); a malformed request
 * gets libmicrohttpd's own 400. */
#ifndef CLAUDEMON_HTTPD_H
#define CLAUDEMON_HTTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct httpd;

struct httpd_opts {
  const char *listen;          /* "host:port", "[v6]:port" or ":port"; port 0 = any free */
  const char *tls_cert_file;   /* PEM certificate chain; NULL (with tls_key_file) = plain HTTP */
  const char *tls_key_file;    /* PEM private key, unencrypted */
  const char *basic_auth_user; /* NULL = no authentication */
  const char *basic_auth_password; /* the secret itself, read by the caller from its *_env or
                                    *_file; httpd keeps only its SHA-256 */
  unsigned connection_timeout_s;   /* per exchange, 0 = 10 s */
  unsigned connection_limit;       /* 0 = 256 */
  size_t connection_memory_limit;  /* bytes per connection for the request head, 0 = 32 KiB */
};

/* What a handler sees. Strings live until the handler returns. */
struct httpd_request {
  const char *method; /* "GET" or "HEAD" (HEAD: fill the body anyway, httpd drops it) */
  const char *path;   /* percent-decoded path, without the query */
  const char *query;  /* the raw query after '?', "" when none */
  void *conn;         /* private to httpd */
};

/* What a handler fills. httpd frees body (which must come from malloc/xmalloc). */
struct httpd_response {
  int status;               /* HTTP status; 0 is taken as 500 */
  const char *content_type; /* static string; NULL = "text/plain; charset=utf-8" */
  char *body;               /* may be NULL when len is 0 */
  size_t len;
};

/* httpd_handler_cb runs on the loop thread, inside libmicrohttpd's processing: it must not
 * block, and must not call httpd_close(). */
typedef void (*httpd_handler_cb)(void *arg, const struct httpd_request *req,
                                 struct httpd_response *res);

/* httpd_new parses o->listen, reads the TLS files, binds and starts serving on loop.
 * Returns 0 and *out, or UTIL_EINVAL (bad listen address or options), UTIL_EIO (TLS files
 * unreadable), UTIL_EUV (bind failed: address in use, no permission); the reason is
 * logged. Strings in o are copied. */
int httpd_new(uv_loop_t *loop, const struct httpd_opts *o, struct httpd **out);

/* httpd_route maps path to cb. With prefix, every path that starts with path matches (the
 * longest prefix wins; an exact route beats any prefix). A later route for the same path
 * replaces the earlier. Returns 0 or UTIL_EINVAL (path not starting with '/'). */
int httpd_route(struct httpd *h, const char *path, bool prefix, httpd_handler_cb cb, void *arg);

/* httpd_query_get returns the percent-decoded value of the query parameter name, "" when
 * it is present without a value, NULL when absent. Valid until the handler returns. */
const char *httpd_query_get(const struct httpd_request *req, const char *name);

/* httpd_port is the TCP port actually bound (the free port picked when listen said 0). */
uint16_t httpd_port(const struct httpd *h);

/* httpd_set_ready sets what /-/ready answers: 200 when ready, 503 otherwise (initially). */
void httpd_set_ready(struct httpd *h, bool ready);

/* httpd_close stops serving at once (open connections are dropped), closes its libuv
 * handles and frees h in the last close callback, then calls done(arg) (done may be
 * NULL). httpd_close(NULL, ...) calls done at once. */
void httpd_close(struct httpd *h, void (*done)(void *), void *arg);

#endif
