/* fuzz_probe.c — libFuzzer target for probe_parse_response() (agent/probe.c): any bytes as
 * an API answer. Input: byte 0 picks the probe kind, bytes 1-2 the HTTP status, then header
 * lines "name: value" up to an empty line, then the body. Beyond "no crash, no leak, no
 * undefined behaviour" it checks the parser's promises: every kept text is NUL-terminated
 * and free of control characters, absent numbers stay -1, BODY_EXPECTED only for a 2xx,
 * an API error only with an error type or an empty one. Also feeds the NO_PROXY matcher
 * and the address check. Build and run: docs/probes.md. */
#include "agent/fetch.h"
#include "agent/model.h"
#include "agent/probe.h"
#include "agent/util.h"

#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (!(cond)) __builtin_trap();                                                                 \
  } while (0)

static void check_text(const char *s, size_t cap) {
  CHECK(memchr(s, '\0', cap) != NULL);
  for (const char *p = s; *p; p++)
    CHECK((unsigned char)*p >= 0x20 && *p != 0x7f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 3) return 0;
  enum probe_kind kind = (enum probe_kind)(data[0] % PROBE__COUNT);
  int status = ((int)data[1] << 8 | data[2]) % 1000;
  const char *p = (const char *)data + 3;
  const char *end = (const char *)data + size;

  /* Header lines, each copied to its own NUL-terminated string pair. */
  struct probe_header h[32];
  char *mem[32];
  size_t n = 0;
  while (p < end && n < 32) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *le = nl ? nl : end;
    if (le == p) { /* the empty line */
      p = nl ? nl + 1 : end;
      break;
    }
    size_t len = (size_t)(le - p);
    char *line = xstrndup(p, len);
    char *colon = strchr(line, ':');
    if (colon) {
      *colon = '\0';
      char *v = colon + 1;
      while (*v == ' ')
        v++;
      for (char *q = line; *q; q++)
        *q = (char)tolower((unsigned char)*q);
      h[n].name = line;
      h[n].value = v;
      mem[n++] = line;
    } else {
      free(line);
    }
    p = nl ? nl + 1 : end;
  }
  size_t body_len = (size_t)(end - p);
  char *body = xmalloc(body_len + 1);
  memcpy(body, p, body_len);
  body[body_len] = '\0';

  struct probe_result r;
  probe_result_init(&r, 1, kind);
  int rc = probe_parse_response(kind, status, h, n, body, body_len, &r);
  CHECK(rc == 0 || rc == UTIL_EPARSE);
  CHECK(r.http_status == status);
  CHECK(r.body_kind >= BODY_NONE && r.body_kind <= BODY_OTHER);
  if (r.body_kind == BODY_EXPECTED) CHECK(status >= 200 && status < 300);
  if (body_len == 0) CHECK(r.body_kind == BODY_NONE);
  check_text(r.error_type, sizeof(r.error_type));
  check_text(r.error_message, sizeof(r.error_message));
  check_text(r.error_code, sizeof(r.error_code));
  check_text(r.request_id, sizeof(r.request_id));
  check_text(r.organization_id, sizeof(r.organization_id));
  check_text(r.workspace_id, sizeof(r.workspace_id));
  CHECK(r.retry_after_s >= -1);
  CHECK(r.input_tokens >= -1 && r.output_tokens >= -1);
  for (int i = 0; i < RL__COUNT; i++) {
    CHECK(r.ratelimit[i].limit >= -1);
    CHECK(r.ratelimit[i].remaining >= -1);
  }
  CHECK(r.key_index == 1 && r.kind == kind && r.cause == CAUSE_UNKNOWN);

  /* The body as a host name, a NO_PROXY list and an address. */
  (void)fetch_noproxy_match(body, "localhost, .example.com 10.0.0.0/8 ::1");
  (void)fetch_noproxy_match("api.anthropic.com", body);
  (void)probe_peer_is_anthropic(body);

  free(body);
  for (size_t i = 0; i < n; i++)
    free(mem[i]);
  return 0;
}
