/* log.c — logfmt lines to stderr, each one redacted before it is written. Owns the
 * registry of secrets (copies, freed by log_clear_secrets). Single writer per line: a line
 * is formatted into a buffer and written with one fwrite, so lines from the storage thread
 * never interleave with the loop's. */
#include "agent/log.h"
#include "agent/util.h"

#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define LOG_LINE_MAX 4096

static enum log_level min_level = LOG_INFO;
static FILE *out_stream;
static pthread_mutex_t secrets_lock = PTHREAD_MUTEX_INITIALIZER;
static char **secrets;
static size_t n_secrets;

static const char *level_names[] = {"debug", "info", "warn", "error"};

void log_set_level(enum log_level level) {
  min_level = level;
}

int log_parse_level(const char *s, enum log_level *level) {
  for (size_t i = 0; i < UTIL_ARRAY_LEN(level_names); i++) {
    if (strcmp(s, level_names[i]) == 0) {
      *level = (enum log_level)i;
      return 0;
    }
  }
  if (strcmp(s, "warning") == 0) {
    *level = LOG_WARN;
    return 0;
  }
  return UTIL_EINVAL;
}

void log_set_stream(FILE *f) {
  out_stream = f;
}

void log_add_secret(const char *secret) {
  if (!secret || strlen(secret) < 6) return;
  pthread_mutex_lock(&secrets_lock);
  for (size_t i = 0; i < n_secrets; i++) {
    if (strcmp(secrets[i], secret) == 0) {
      pthread_mutex_unlock(&secrets_lock);
      return;
    }
  }
  secrets = xrealloc(secrets, (n_secrets + 1) * sizeof(*secrets));
  secrets[n_secrets++] = xstrdup(secret);
  pthread_mutex_unlock(&secrets_lock);
}

void log_clear_secrets(void) {
  pthread_mutex_lock(&secrets_lock);
  for (size_t i = 0; i < n_secrets; i++) {
    /* Overwrite before freeing: a freed copy of a key must not linger in the heap. */
    memset(secrets[i], 0, strlen(secrets[i]));
    free(secrets[i]);
  }
  free(secrets);
  secrets = NULL;
  n_secrets = 0;
  pthread_mutex_unlock(&secrets_lock);
}

static const char redacted[] = "[REDACTED]";

/* replace_at replaces len bytes at buf+pos with "[REDACTED]" within capacity bufsz. */
static size_t replace_at(char *buf, size_t bufsz, size_t pos, size_t len) {
  size_t total = strlen(buf);
  size_t rlen = sizeof(redacted) - 1;
  size_t tail = total - pos - len;
  if (pos + rlen + tail + 1 > bufsz) tail = bufsz - 1 > pos + rlen ? bufsz - 1 - pos - rlen : 0;
  if (pos + rlen >= bufsz) {
    buf[pos] = '\0';
    return pos;
  }
  memmove(buf + pos + rlen, buf + pos + len, tail);
  memcpy(buf + pos, redacted, rlen);
  buf[pos + rlen + tail] = '\0';
  return pos + rlen;
}

static bool key_char(char c) {
  return isalnum((unsigned char)c) || c == '-' || c == '_';
}

void log_redact(char *buf, size_t bufsz) {
  pthread_mutex_lock(&secrets_lock);
  for (size_t i = 0; i < n_secrets; i++) {
    char *p;
    size_t slen = strlen(secrets[i]);
    size_t from = 0;
    while ((p = strstr(buf + from, secrets[i])) != NULL)
      from = replace_at(buf, bufsz, (size_t)(p - buf), slen);
  }
  pthread_mutex_unlock(&secrets_lock);
  /* Anything shaped like an Anthropic key (sk-ant-...), registered or not. */
  size_t from = 0;
  char *p;
  while ((p = strstr(buf + from, "sk-ant-")) != NULL) {
    size_t pos = (size_t)(p - buf), len = 7;
    while (key_char(buf[pos + len]))
      len++;
    if (len >= 20)
      from = replace_at(buf, bufsz, pos, len);
    else
      from = pos + len;
  }
}

const char *log_q(const char *v) {
  static _Thread_local char bufs[8][512];
  static _Thread_local unsigned next;
  char *b = bufs[next++ % 8];
  if (!v) v = "";
  bool plain = *v != '\0';
  for (const char *p = v; *p && plain; p++)
    if (*p == ' ' || *p == '"' || *p == '=' || *p == '\\' || (unsigned char)*p < 0x20)
      plain = false;
  if (plain) {
    util_copy(b, sizeof(bufs[0]), v);
    return b;
  }
  size_t o = 0;
  b[o++] = '"';
  for (const char *p = v; *p && o + 6 < sizeof(bufs[0]); p++) {
    unsigned char c = (unsigned char)*p;
    if (c == '"' || c == '\\') {
      b[o++] = '\\';
      b[o++] = (char)c;
    } else if (c == '\n') {
      b[o++] = '\\';
      b[o++] = 'n';
    } else if (c < 0x20 || c == 0x7f) {
      b[o++] = ' ';
    } else {
      b[o++] = (char)c;
    }
  }
  b[o++] = '"';
  b[o] = '\0';
  return b;
}

void log_write(enum log_level level, const char *msg, const char *fields, ...) {
  if (level < min_level) return;
  char line[LOG_LINE_MAX];
  char ts[32];
  util_format_time(ts, sizeof(ts), util_now_ms(), true);
  int n = snprintf(line, sizeof(line), "ts=%s level=%s msg=%s", ts, level_names[level], log_q(msg));
  if (n < 0) return;
  size_t len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
  if (fields && *fields && len + 2 < sizeof(line)) {
    line[len++] = ' ';
    va_list ap;
    va_start(ap, fields);
    vsnprintf(line + len, sizeof(line) - len, fields, ap);
    va_end(ap);
  }
  log_redact(line, sizeof(line) - 1);
  len = strlen(line);
  line[len++] = '\n';
  FILE *f = out_stream ? out_stream : stderr;
  fwrite(line, 1, len, f);
  fflush(f);
}

bool log_complain(struct log_complaint *c, int64_t now_ms) {
  if (!c->active) {
    c->active = true;
    c->interval_ms = 60LL * 1000;
    c->next_ms = now_ms + c->interval_ms;
    c->suppressed = 0;
    return true;
  }
  if (now_ms < c->next_ms) {
    c->suppressed++;
    return false;
  }
  c->interval_ms *= 2;
  if (c->interval_ms > 3600LL * 1000) c->interval_ms = 3600LL * 1000;
  c->next_ms = now_ms + c->interval_ms;
  c->suppressed = 0;
  return true;
}

bool log_recover(struct log_complaint *c) {
  if (!c->active) return false;
  c->active = false;
  c->suppressed = 0;
  return true;
}
