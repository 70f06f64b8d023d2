/* Tests of exporters/httpd.c: the server runs in a real libuv loop on the test's main
 * thread, and a client thread talks raw HTTP to it over blocking sockets. The client asks
 * the loop to do things (flip readiness, shut down) through a uv_async_t and waits on a
 * semaphore for the answer, so nothing here synchronises with sleeps. Every test closes
 * the server and checks that uv_loop_close() returns 0. */
#include "agent/log.h"
#include "agent/util.h"
#include "exporters/httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <uv.h>

#include <cmocka.h>

enum cmd { CMD_NONE, CMD_READY, CMD_DONE };

struct harness {
  uv_loop_t loop;
  uv_async_t async;
  uv_sem_t ack;
  enum cmd cmd;
  struct httpd *h;
  uint16_t port;
  int family; /* AF_INET or AF_INET6 */
  void (*client)(struct harness *);
  bool closed;
  char failure[512]; /* the client thread's first failed check: cmocka asserts only work
                        on the main thread */
};

#define FAIL(t, ...)                                                                               \
  do {                                                                                             \
    if (!(t)->failure[0]) {                                                                        \
      int n_ = snprintf((t)->failure, sizeof((t)->failure), "%s:%d: ", __FILE__, __LINE__);        \
      snprintf((t)->failure + n_, sizeof((t)->failure) - (size_t)n_, __VA_ARGS__);                 \
    }                                                                                              \
    return;                                                                                        \
  } while (0)
#define CHECK(t, cond)                                                                             \
  do {                                                                                             \
    if (!(cond)) FAIL(t, "check failed: %s", #cond);                                               \
  } while (0)
#define CHECK_INT(t, a, b)                                                                         \
  do {                                                                                             \
    long long a_ = (long long)(a), b_ = (long long)(b);                                            \
    if (a_ != b_) FAIL(t, "%s == %lld, expected %lld", #a, a_, b_);                                \
  } while (0)
#define CHECK_STR(t, a, b)                                                                         \
  do {                                                                                             \
    const char *a_ = (a), *b_ = (b);                                                               \
    if (strcmp(a_, b_) != 0) FAIL(t, "%s is \"%s\", expected \"%s\"", #a, a_, b_);                 \
  } while (0)

/* Loop side. */

static void on_closed(void *arg) {
  struct harness *t = arg;
  t->closed = true;
}

static void on_async(uv_async_t *a) {
  struct harness *t = a->data;
  if (t->cmd == CMD_READY) {
    httpd_set_ready(t->h, true);
  } else if (t->cmd == CMD_DONE) {
    httpd_close(t->h, on_closed, t);
    uv_close((uv_handle_t *)&t->async, NULL);
  }
  t->cmd = CMD_NONE;
  uv_sem_post(&t->ack);
}

/* Client side: ask the loop to do something and wait until it is done. */
static void ask(struct harness *t, enum cmd c) {
  t->cmd = c;
  uv_async_send(&t->async);
  uv_sem_wait(&t->ack);
}

static void *client_main(void *arg) {
  struct harness *t = arg;
  t->client(t);
  ask(t, CMD_DONE);
  return NULL;
}

static void echo_handler(void *arg, const struct httpd_request *req, struct httpd_response *res) {
  const char *tag = arg;
  const char *since = httpd_query_get(req, "since");
  const char *flag = httpd_query_get(req, "flag");
  res->status = 200;
  res->content_type = "text/x-test";
  res->body = xasprintf("%s %s %s path=%s query=%s since=%s flag=%s", tag, req->method, req->path,
                        req->path, req->query, since ? since : "(null)", flag ? flag : "(null)");
  res->len = strlen(res->body);
}

static void run_server(const struct httpd_opts *o, void (*client)(struct harness *)) {
  struct harness t = {0};
  t.client = client;
  assert_int_equal(uv_loop_init(&t.loop), 0);
  assert_int_equal(uv_async_init(&t.loop, &t.async, on_async), 0);
  t.async.data = &t;
  assert_int_equal(uv_sem_init(&t.ack, 0), 0);
  assert_int_equal(httpd_new(&t.loop, o, &t.h), 0);
  t.port = httpd_port(t.h);
  assert_int_not_equal(t.port, 0);
  t.family = strchr(o->listen, '[') ? AF_INET6 : AF_INET;
  static char tag_exact[] = "exact", tag_api[] = "api", tag_v1[] = "api-v1",
              tag_status[] = "status";
  assert_int_equal(httpd_route(t.h, "/exact", false, echo_handler, tag_exact), 0);
  assert_int_equal(httpd_route(t.h, "/api/", true, echo_handler, tag_api), 0);
  assert_int_equal(httpd_route(t.h, "/api/v1/", true, echo_handler, tag_v1), 0);
  assert_int_equal(httpd_route(t.h, "/api/v1/status", false, echo_handler, tag_status), 0);
  assert_int_equal(httpd_route(t.h, "relative", false, echo_handler, NULL), UTIL_EINVAL);

  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, client_main, &t), 0);
  assert_int_equal(uv_run(&t.loop, UV_RUN_DEFAULT), 0);
  pthread_join(th, NULL);
  if (t.failure[0]) fail_msg("%s", t.failure);
  assert_true(t.closed);
  assert_int_equal(uv_loop_close(&t.loop), 0);
  uv_sem_destroy(&t.ack);
}

/* connect_to returns a connected socket, or -1 with t->failure set. */
static int connect_to(struct harness *t) {
  int fd = socket(t->family, SOCK_STREAM, 0);
  if (fd < 0) {
    snprintf(t->failure, sizeof(t->failure), "socket: %s", strerror(errno));
    return -1;
  }
  /* A safety net against a hung test, not a synchronisation. */
  struct timeval tv = {.tv_sec = 10};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  int rc;
  if (t->family == AF_INET6) {
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(t->port)};
    a.sin6_addr = in6addr_loopback;
    rc = connect(fd, (struct sockaddr *)&a, sizeof(a));
  } else {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(t->port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    rc = connect(fd, (struct sockaddr *)&a, sizeof(a));
  }
  if (rc != 0) {
    snprintf(t->failure, sizeof(t->failure), "connect: %s", strerror(errno));
    close(fd);
    return -1;
  }
  return fd;
}

/* read_all reads until the server closes the connection. */
static char *read_all(int fd) {
  size_t cap = 4096, len = 0;
  char *buf = xmalloc(cap);
  buf[0] = '\0';
  if (fd < 0) return buf;
  for (;;) {
    if (len + 1024 > cap) buf = xrealloc(buf, cap *= 2);
    ssize_t n = recv(fd, buf + len, cap - len - 1, 0);
    if (n <= 0) break;
    len += (size_t)n;
  }
  buf[len] = '\0';
  return buf;
}

/* exchange sends raw bytes and returns everything the server answered before closing. */
static char *exchange(struct harness *t, const char *raw) {
  int fd = connect_to(t);
  size_t len = strlen(raw);
  if (fd >= 0 && send(fd, raw, len, MSG_NOSIGNAL) != (ssize_t)len)
    snprintf(t->failure, sizeof(t->failure), "send: %s", strerror(errno));
  char *resp = read_all(fd);
  if (fd >= 0) close(fd);
  return resp;
}

static int status_of(const char *resp) {
  int status = 0;
  if (sscanf(resp, "HTTP/1.%*d %d", &status) != 1) return 0;
  return status;
}

static const char *body_of(const char *resp) {
  const char *p = strstr(resp, "\r\n\r\n");
  return p ? p + 4 : "";
}

static char *get(struct harness *t, const char *target) {
  char req[512];
  snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
           target);
  return exchange(t, req);
}

/* The tests. */

static void client_builtin_and_routes(struct harness *t) {
  char *r = get(t, "/-/healthy");
  CHECK_INT(t, status_of(r), 200);
  CHECK_STR(t, body_of(r), "OK\n");
  free(r);

  r = get(t, "/-/ready");
  CHECK_INT(t, status_of(r), 503);
  free(r);
  ask(t, CMD_READY);
  r = get(t, "/-/ready");
  CHECK_INT(t, status_of(r), 200);
  free(r);

  r = get(t, "/nothing-here");
  CHECK_INT(t, status_of(r), 404);
  free(r);

  r = get(t, "/exact");
  CHECK_INT(t, status_of(r), 200);
  CHECK(t, strstr(r, "Content-Type: text/x-test\r\n"));
  CHECK_STR(t, body_of(r), "exact GET /exact path=/exact query= since=(null) flag=(null)");
  free(r);
  r = get(t, "/exact/more");
  CHECK_INT(t, status_of(r), 404);
  free(r);

  /* The longest prefix wins, an exact route beats every prefix; the query arrives raw
   * and httpd_query_get decodes it. */
  r = get(t, "/api/v1/history?since=2026-11-28T06%3A00%3A00Z&flag");
  CHECK_INT(t, status_of(r), 200);
  CHECK_STR(t, body_of(r),
            "api-v1 GET /api/v1/history path=/api/v1/history "
            "query=since=2026-11-28T06%3A00%3A00Z&flag "
            "since=2026-11-28T06:00:00Z flag=");
  free(r);
  r = get(t, "/api/other");
  CHECK_STR(t, body_of(r),
            "api GET /api/other path=/api/other query= since=(null) "
            "flag=(null)");
  free(r);
  r = get(t, "/api/v1/status");
  CHECK_INT(t, strncmp(body_of(r), "status GET", 10), 0);
  free(r);

  /* HEAD: the headers of GET, no body. */
  r = exchange(t, "HEAD /-/healthy HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  CHECK_INT(t, status_of(r), 200);
  CHECK_STR(t, body_of(r), "");
  free(r);

  /* Keep-alive: two requests on one connection, both answered. */
  int fd = connect_to(t);
  const char *two = "GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n"
                    "GET /exact HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  CHECK_INT(t, send(fd, two, strlen(two), MSG_NOSIGNAL), (ssize_t)strlen(two));
  r = read_all(fd);
  close(fd);
  CHECK(t, strstr(r, "OK\n"));
  CHECK(t, strstr(r, "exact GET /exact"));
  free(r);
}

static void test_builtin_and_routes(void **state) {
  (void)state;
  struct httpd_opts o = {.listen = "127.0.0.1:0"};
  run_server(&o, client_builtin_and_routes);
}

static void client_refusals(struct harness *t) {
  char *r = exchange(t, "POST /exact HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                        "Content-Type: application/x-www-form-urlencoded\r\n\r\na=b");
  CHECK_INT(t, status_of(r), 405);
  CHECK(t, strstr(r, "Allow: GET, HEAD\r\n"));
  free(r);

  r = exchange(t, "DELETE /-/healthy HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  CHECK_INT(t, status_of(r), 405);
  free(r);

  /* A body announced on a GET is refused before it is read. */
  r = exchange(t, "GET /exact HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\nabc");
  CHECK_INT(t, status_of(r), 400);
  free(r);
  r = exchange(t, "GET /exact HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                  "3\r\nabc\r\n0\r\n\r\n");
  CHECK_INT(t, status_of(r), 400);
  free(r);

  /* Malformed requests: libmicrohttpd's own 400, and the server lives on. */
  r = exchange(t, "GET /-/healthy HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n");
  CHECK_INT(t, status_of(r), 400);
  free(r);
  r = exchange(t, "GET  HTTP/1.1\r\nHost: x\r\n\r\n"); /* no target */
  CHECK_INT(t, status_of(r), 400);
  free(r);
  r = exchange(t, "GET /-/healthy HTTP/9.9\r\nHost: x\r\n\r\n");
  CHECK_INT(t, status_of(r), 505);
  free(r);
  r = exchange(t, "GET\r\n\r\n"); /* closed without an answer */
  CHECK(t, status_of(r) == 400 || r[0] == '\0');
  free(r);
  r = exchange(t, "GET /-/healthy HTTP/1.1\r\nHost: x\r\nBroken header line\r\n\r\n");
  CHECK_INT(t, status_of(r), 400);
  free(r);
  r = exchange(t, "\x01\x02\x03 \xff\xfe\r\n\r\n");
  CHECK(t, status_of(r) == 400 || r[0] == '\0');
  free(r);
  static const char tail[] = " HTTP/1.1\r\nHost: x\r\n\r\n";
  char big[40000];
  memset(big, 'a', sizeof(big));
  memcpy(big, "GET /", 5);
  memcpy(big + sizeof(big) - sizeof(tail), tail, sizeof(tail));
  r = exchange(t, big); /* request head above the connection memory limit */
  int s = status_of(r);
  CHECK(t, s == 414 || s == 431 || s == 400 || r[0] == '\0');
  free(r);

  r = get(t, "/-/healthy");
  CHECK_INT(t, status_of(r), 200);
  free(r);
}

static void test_refusals(void **state) {
  (void)state;
  struct httpd_opts o = {.listen = "127.0.0.1:0"};
  run_server(&o, client_refusals);
}

static double mono_s(void) {
  return (double)util_mono_ms() / 1000.0;
}

/* A client that trickles one header byte every 100 ms is never idle long enough for
 * libmicrohttpd's idle timeout; the exchange deadline must cut it anyway. */
static void client_slow(struct harness *t) {
  int fd = connect_to(t);
  const char *start = "GET /-/healthy HTTP/1.1\r\nHost: x\r\nX-Slow: ";
  CHECK_INT(t, send(fd, start, strlen(start), MSG_NOSIGNAL), (ssize_t)strlen(start));
  double t0 = mono_s();
  bool closed = false;
  while (mono_s() - t0 < 8) {
    if (send(fd, "a", 1, MSG_NOSIGNAL) != 1) {
      closed = true;
      break;
    }
    struct pollfd p = {.fd = fd, .events = POLLIN};
    if (poll(&p, 1, 100) > 0) { /* the cadence of the trickle, and the wait for EOF */
      char buf[512];
      ssize_t n;
      while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) {
      }
      closed = true;
      break;
    }
  }
  double elapsed = mono_s() - t0;
  close(fd);
  CHECK(t, closed);
  if (elapsed < 0.9 || elapsed > 3.5) FAIL(t, "cut after %.2f s, expected about 1 s", elapsed);

  /* The server still answers others. */
  char *r = get(t, "/-/healthy");
  CHECK_INT(t, status_of(r), 200);
  free(r);
}

static void test_slow_client_cut(void **state) {
  (void)state;
  struct httpd_opts o = {.listen = "127.0.0.1:0", .connection_timeout_s = 1};
  run_server(&o, client_slow);
}

/* keep_alive_get sends one keep-alive request on fd and reads its whole answer (the
 * healthy route's body ends the response). */
static bool keep_alive_get(int fd) {
  const char *req = "GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n";
  if (send(fd, req, strlen(req), MSG_NOSIGNAL) != (ssize_t)strlen(req)) return false;
  char buf[1024];
  size_t len = 0;
  while (len < sizeof(buf) - 1) {
    ssize_t n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
    if (n <= 0) return false;
    len += (size_t)n;
    buf[len] = '\0';
    if (strstr(buf, "\r\n\r\nOK\n")) return strncmp(buf, "HTTP/1.1 200", 12) == 0;
  }
  return false;
}

/* With a limit of 2 and two connections held open (each has had an answer, so the server
 * surely counts them), a third waits unanswered in the listen backlog; as soon as one of
 * the two closes, the third is served — not at the next timeout of the other one. */
static void client_limit(struct harness *t) {
  int a = connect_to(t), b = connect_to(t), c = -1;
  CHECK(t, a >= 0 && b >= 0);
  CHECK(t, keep_alive_get(a));
  CHECK(t, keep_alive_get(b));
  c = connect_to(t); /* completes in the kernel's backlog */
  CHECK(t, c >= 0);
  const char *req = "GET /-/healthy HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  CHECK(t, send(c, req, strlen(req), MSG_NOSIGNAL) == (ssize_t)strlen(req));
  /* Asserting that nothing happens needs a time limit: 300 ms without an answer. */
  struct pollfd p = {.fd = c, .events = POLLIN};
  CHECK_INT(t, poll(&p, 1, 300), 0);
  double t0 = mono_s();
  close(a);
  char *r = read_all(c);
  double waited = mono_s() - t0;
  close(c);
  close(b);
  int status = status_of(r);
  free(r);
  CHECK_INT(t, status, 200);
  if (waited > 3) FAIL(t, "the waiting connection was served %.1f s after a slot freed", waited);
}

static void test_connection_limit(void **state) {
  (void)state;
  struct httpd_opts o = {.listen = "127.0.0.1:0", .connection_limit = 2};
  run_server(&o, client_limit);
}

/* Connections still open when the server closes: httpd_close() stops libmicrohttpd, which
 * closes each of them and frees its record through the connection notification; whatever
 * is left is freed by httpd_free(). Both paths run here under ASan and valgrind (a record
 * freed twice or never shows up there); the client sees each connection end. */
static int held_fds[2] = {-1, -1};

static void client_hold_open(struct harness *t) {
  for (int i = 0; i < 2; i++) {
    held_fds[i] = connect_to(t);
    CHECK(t, held_fds[i] >= 0);
    CHECK(t, keep_alive_get(held_fds[i])); /* answered: the server surely tracks it */
  }
}

static void test_close_with_open_connections(void **state) {
  (void)state;
  struct httpd_opts o = {.listen = "127.0.0.1:0"};
  run_server(&o, client_hold_open);
  for (int i = 0; i < 2; i++) {
    char c;
    assert_true(held_fds[i] >= 0);
    assert_int_equal(recv(held_fds[i], &c, 1, 0), 0); /* EOF: closed by the server */
    close(held_fds[i]);
    held_fds[i] = -1;
  }
}

static const char auth_ok[] = "Authorization: Basic bW9uaXRvcjpzM2NyZXQtcGFzcw==\r\n";
static const char auth_bad[] = "Authorization: Basic bW9uaXRvcjp3cm9uZw==\r\n"; /* monitor:wrong */
static const char auth_user[] =
    "Authorization: Basic b3RoZXI6czNjcmV0LXBhc3M=\r\n"; /* other:s3cret-pass */

static void client_auth(struct harness *t) {
  char *r = get(t, "/-/healthy");
  CHECK_INT(t, status_of(r), 401);
  CHECK(t, strstr(r, "WWW-Authenticate: Basic realm=\"claudemon\""));
  free(r);
  char req[512];
  const char *cases[] = {auth_bad, auth_user, auth_ok};
  int want[] = {401, 401, 200};
  for (int i = 0; i < 3; i++) {
    snprintf(req, sizeof(req), "GET /-/healthy HTTP/1.1\r\nHost: x\r\n%sConnection: close\r\n\r\n",
             cases[i]);
    r = exchange(t, req);
    CHECK_INT(t, status_of(r), want[i]);
    free(r);
  }
}

static FILE *log_file; /* every log line of the tests, at debug level */

static void test_basic_auth(void **state) {
  (void)state;
  struct httpd_opts o = {
      .listen = "127.0.0.1:0", .basic_auth_user = "monitor", .basic_auth_password = "s3cret-pass"};
  run_server(&o, client_auth);
  /* The password never reaches a log line, even at debug level. */
  fflush(log_file);
  rewind(log_file);
  char line[2048];
  size_t lines = 0;
  while (fgets(line, sizeof(line), log_file)) {
    lines++;
    if (strstr(line, "s3cret") || strstr(line, "bW9uaXRvcjpzM2Ny")) fail_msg("leaked: %s", line);
  }
  assert_true(lines > 0);
}

static void client_v6(struct harness *t) {
  char *r = get(t, "/-/healthy");
  CHECK_INT(t, status_of(r), 200);
  free(r);
}

static void test_ipv6(void **state) {
  (void)state;
  /* Skip when the machine has no IPv6 loopback. */
  int fd = socket(AF_INET6, SOCK_STREAM, 0);
  struct sockaddr_in6 a = {.sin6_family = AF_INET6};
  a.sin6_addr = in6addr_loopback;
  bool have = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
  if (fd >= 0) close(fd);
  if (!have) skip();
  struct httpd_opts o = {.listen = "[::1]:0"};
  run_server(&o, client_v6);
}

static void test_bad_options(void **state) {
  (void)state;
  uv_loop_t loop;
  assert_int_equal(uv_loop_init(&loop), 0);
  struct httpd *h = (struct httpd *)&loop; /* must be reset to NULL on failure */
  const char *bad[] = {
      "",       "nope",    "127.0.0.1", "127.0.0.1:",   ":99999",          "127.0.0.1:12x",
      "::1:80", "[::1]80", "[]:80",     "127.0.0.1:-1", "127.0.0.1:123456"};
  for (size_t i = 0; i < UTIL_ARRAY_LEN(bad); i++) {
    struct httpd_opts o = {.listen = bad[i]};
    assert_int_equal(httpd_new(&loop, &o, &h), UTIL_EINVAL);
    assert_null(h);
  }
  struct httpd_opts o = {.listen = "127.0.0.1:0", .tls_cert_file = "/nonexistent/cert.pem"};
  assert_int_equal(httpd_new(&loop, &o, &h), UTIL_EINVAL); /* a cert without a key */
  o.tls_key_file = "/nonexistent/key.pem";
  assert_int_equal(httpd_new(&loop, &o, &h), UTIL_EIO);
  struct httpd_opts o2 = {.listen = "127.0.0.1:0", .basic_auth_user = "u"};
  assert_int_equal(httpd_new(&loop, &o2, &h), UTIL_EINVAL); /* a user without a password */

  /* The port taken: the second server cannot bind. */
  struct httpd *first = NULL;
  struct httpd_opts o3 = {.listen = "127.0.0.1:0"};
  assert_int_equal(httpd_new(&loop, &o3, &first), 0);
  char listen[32];
  snprintf(listen, sizeof(listen), "127.0.0.1:%u", (unsigned)httpd_port(first));
  struct httpd_opts o4 = {.listen = listen};
  assert_int_equal(httpd_new(&loop, &o4, &h), UTIL_EUV);
  assert_null(h);
  struct harness done = {0};
  httpd_close(first, on_closed, &done);
  assert_false(done.closed); /* done runs from the last close callback */
  httpd_close(NULL, NULL, NULL);
  assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
  assert_true(done.closed);
  assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void) {
  log_file = tmpfile();
  log_set_stream(log_file);
  log_set_level(LOG_DEBUG);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_builtin_and_routes),
      cmocka_unit_test(test_refusals),
      cmocka_unit_test(test_slow_client_cut),
      cmocka_unit_test(test_basic_auth),
      cmocka_unit_test(test_ipv6),
      cmocka_unit_test(test_bad_options),
      cmocka_unit_test(test_connection_limit),
      cmocka_unit_test(test_close_with_open_connections),
  };
  int rc = cmocka_run_group_tests(tests, NULL, NULL);
  log_set_stream(NULL);
  fclose(log_file);
  return rc;
}
