/* fetch.h — the asynchronous HTTP client of claudemon: libcurl's multi interface driven by
 * the daemon's libuv loop. One struct fetch per loop; any number of requests in flight,
 * at most max_transfers of them inside curl at once (the rest wait in fetch's own queue),
 * connections kept alive and shared (HTTP/1.1 keep-alive and HTTP/2 multiplexing), DNS and
 * TLS sessions cached. Every answer is bounded: the body is cut at max_body_bytes, header
 * lines beyond the caps are dropped, and no request outlives its timeout.
 *
 * Threads: none of its own; every function must be called on the loop's thread and every
 * callback runs there. (curl's threaded resolver runs getaddrinfo in a helper thread; that
 * is curl's business and blocks nothing.)
 *
 * Ownership: fetch_new() returns an object closed with fetch_close(), which ends every
 * transfer (their callbacks run, with cancelled set), closes every libuv handle and frees
 * the object in the last close callback. The request given to fetch_start() is copied; the
 * response given to a callback lives only during that call. Request headers (which hold
 * secrets: x-api-key) live only in curl's header list and are wiped when the transfer
 * ends. */
#ifndef CLAUDEMON_FETCH_H
#define CLAUDEMON_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

struct fetch;

struct fetch_opts {
  int max_transfers;          /* transfers inside curl at once; more wait in a queue (64) */
  int max_host_connections;   /* connections per host (8) */
  int max_total_connections;  /* connections in all (0: 4 * max_host_connections) */
  int64_t maxage_conn_s;      /* an idle connection is reused for this long (600) */
  size_t max_body_bytes;      /* a longer body is cut here, truncated set (64 KiB) */
  size_t max_headers;         /* header lines kept per answer; more are dropped (64) */
  size_t max_header_line;     /* a longer header line is dropped (8 KiB) */
  size_t max_header_bytes;    /* all header bytes of an answer; beyond, the transfer is cut,
                                 truncated set (64 KiB) */
  const char *proxy;          /* explicit proxy URL (copied), NULL: HTTPS_PROXY etc. */
  const char *proxy_user;     /* optional proxy user name (copied) */
  const char *proxy_password; /* optional proxy password (copied, wiped at close) */
  const char *user_agent;     /* default "claudemon/VERSION" (copied) */
  bool http2;                 /* offer HTTP/2 over TLS (true) */
};

/* fetch_opts_init fills o with the defaults given beside each field. */
void fetch_opts_init(struct fetch_opts *o);

/* A header: in a request, the name as sent; in a response, the name lower-cased and the
 * value without surrounding white space. */
struct fetch_header {
  const char *name;
  const char *value;
};

struct fetch_request {
  const char *method;                 /* "GET", "POST", "HEAD", ... (NULL: GET) */
  const char *url;                    /* http:// or https:// only */
  const struct fetch_header *headers; /* added to the request; values may be secrets */
  size_t n_headers;
  const void *body; /* request body (copied), NULL for none */
  size_t body_len;
  int64_t timeout_ms; /* whole transfer, from the moment curl starts it */
};

struct fetch_response {
  int curl_code;                      /* CURLcode; 0 when a whole answer arrived */
  const char *error;                  /* curl's error text, "" when curl_code is 0 */
  int http_status;                    /* final status, 0 when no status line arrived */
  int proxy_status;                   /* status of a proxy's CONNECT answer, 0 when none */
  const struct fetch_header *headers; /* headers of the final answer */
  size_t n_headers;
  const char *body; /* NUL-terminated (the NUL is not counted) */
  size_t body_len;
  bool truncated;       /* body or headers cut at a cap (curl_code then says
                           CURLE_WRITE_ERROR: our doing, not the peer's) */
  bool headers_dropped; /* header lines beyond max_headers/max_header_line */
  bool cancelled;       /* ended by fetch_cancel_all or fetch_close */
  bool via_proxy;       /* the transfer was meant to use a proxy */
  const char *peer;     /* IP address connected to (the proxy's when
                           via_proxy), "" when none */
  long num_connects;    /* new connections this transfer made (0: reused) */
  double dns_s, connect_s, tls_s, ttfb_s, total_s; /* curl's cumulative times */
  int64_t queued_ms;                               /* time spent in fetch's queue before curl */
};

/* fetch_done_cb is called exactly once for every request fetch_start accepted, never from
 * inside fetch_start. r lives only during the call. The callback may call fetch_start,
 * fetch_cancel_all and fetch_close. */
typedef void (*fetch_done_cb)(const struct fetch_response *r, void *arg);

/* fetch_new creates a client on loop. Returns 0 and *out, or UTIL_EINVAL (bad option) or
 * UTIL_EHTTP / UTIL_EUV (curl or libuv refused to start; logged). */
int fetch_new(uv_loop_t *loop, const struct fetch_opts *o, struct fetch **out);

/* fetch_start queues a request. Returns 0 (cb will be called), UTIL_EINVAL (bad request,
 * or the client is closing) or UTIL_EHTTP (curl refused an option; logged). */
int fetch_start(struct fetch *f, const struct fetch_request *req, fetch_done_cb cb, void *arg);

/* fetch_cancel_all ends every queued and running transfer: each callback runs with
 * cancelled set before fetch_cancel_all returns (or, when called from inside a fetch
 * callback, right after that callback returns). */
void fetch_cancel_all(struct fetch *f);

/* fetch_close cancels everything as fetch_cancel_all does, closes every connection and
 * libuv handle, frees f and then calls done(arg) (done may be NULL). After done, the loop
 * holds nothing of fetch's. fetch_close(NULL, ...) calls done at once. */
void fetch_close(struct fetch *f, void (*done)(void *arg), void *arg);

/* fetch_pending returns the number of requests accepted and not yet called back. */
size_t fetch_pending(const struct fetch *f);

/* fetch_proxy_for tells whether a request to url would go through a proxy, by the rules
 * curl applies: the explicit proxy (config) or the scheme's *_proxy / ALL_PROXY
 * environment variables, unless NO_PROXY (or no_proxy) matches the host. curl 7.88 cannot
 * report it after the fact (CURLINFO_USED_PROXY arrived in 8.7.0), so fetch decides it
 * before the transfer. */
bool fetch_proxy_for(const char *url, const char *explicit_proxy);

/* fetch_noproxy_match tells whether host matches a NO_PROXY list ("*", or names and
 * domains separated by commas or spaces, a leading dot optional, IP addresses with an
 * optional /bits). Exposed for tests. */
bool fetch_noproxy_match(const char *host, const char *list);

#endif
