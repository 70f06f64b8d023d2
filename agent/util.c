/* util.c — error texts, allocation wrappers, time and string helpers shared by every
 * module. Pure functions: no I/O beyond the abort message of an allocation failure, no
 * global state. Never sees a secret except util_key_hint's and util_sha256_hex's input,
 * which it does not keep. */
#include "agent/util.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *util_strerror(int err) {
  switch (err) {
  case UTIL_OK:
    return "success";
#define UTIL_ERR_CASE(name, text)                                                                  \
  case UTIL_E##name:                                                                               \
    return text;
    UTIL_ERRNO_MAP(UTIL_ERR_CASE)
#undef UTIL_ERR_CASE
  default:
    return "unknown error";
  }
}

static void oom(size_t n) {
  fprintf(stderr, "claudemon: out of memory (%zu bytes)\n", n);
  abort();
}

void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) oom(n);
  return p;
}

void *xcalloc(size_t count, size_t size) {
  void *p = calloc(count ? count : 1, size ? size : 1);
  if (!p) oom(count * size);
  return p;
}

void *xrealloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (!q) oom(n);
  return q;
}

char *xstrdup(const char *s) {
  return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n) {
  size_t len = strnlen(s, n);
  char *p = xmalloc(len + 1);
  memcpy(p, s, len);
  p[len] = '\0';
  return p;
}

char *xasprintf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) oom(0);
  char *p = xmalloc((size_t)n + 1);
  va_start(ap, fmt);
  vsnprintf(p, (size_t)n + 1, fmt, ap);
  va_end(ap);
  return p;
}

bool util_copy(char *dst, size_t dstsz, const char *src) {
  if (!src) src = "";
  size_t len = strlen(src);
  bool fits = len < dstsz;
  if (!fits) len = dstsz - 1;
  memcpy(dst, src, len);
  dst[len] = '\0';
  return fits;
}

void util_sanitize(char *dst, size_t dstsz, const char *src, size_t srclen) {
  size_t o = 0;
  bool space = false;
  if (!src) srclen = 0;
  for (size_t i = 0; i < srclen && o + 1 < dstsz; i++) {
    unsigned char c = (unsigned char)src[i];
    if (c == '\0') break;
    if (c < 0x20 || c == 0x7f || c == 0xc0 || c == 0xc1 || c >= 0xf5) {
      c = ' ';
    }
    if (c == ' ') {
      if (space || o == 0) continue;
      space = true;
    } else {
      space = false;
    }
    /* Never cut a UTF-8 sequence in half at the end of the buffer. */
    if (c >= 0xc2) {
      size_t need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
      if (o + need >= dstsz || i + need > srclen) break;
      bool ok = true;
      for (size_t k = 1; k < need; k++)
        if (((unsigned char)src[i + k] & 0xc0) != 0x80) ok = false;
      if (!ok) {
        dst[o++] = ' ';
        space = true;
        continue;
      }
      memcpy(dst + o, src + i, need);
      o += need;
      i += need - 1;
      continue;
    }
    if (c >= 0x80) { /* a stray continuation byte */
      c = ' ';
      if (space) continue;
      space = true;
    }
    dst[o++] = (char)c;
  }
  while (o > 0 && dst[o - 1] == ' ')
    o--;
  if (dstsz) dst[o] = '\0';
}

int64_t util_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t util_mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *util_format_time(char *buf, size_t bufsz, int64_t unix_ms, bool with_ms) {
  if (unix_ms < 0) {
    util_copy(buf, bufsz, "");
    return buf;
  }
  time_t secs = (time_t)(unix_ms / 1000);
  int ms = (int)(unix_ms % 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  if (with_ms && ms)
    snprintf(buf, bufsz, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
  else
    snprintf(buf, bufsz, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

static int digits(const char **p, int n, int *out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (!isdigit((unsigned char)(*p)[i])) return -1;
    v = v * 10 + ((*p)[i] - '0');
  }
  *p += n;
  *out = v;
  return 0;
}

int util_parse_time(const char *s, int64_t *unix_ms) {
  int y, mo, d, h, mi, sec, ms = 0;
  const char *p = s;
  if (!s) return UTIL_EPARSE;
  if (digits(&p, 4, &y) || *p++ != '-' || digits(&p, 2, &mo) || *p++ != '-' || digits(&p, 2, &d) ||
      (*p != 'T' && *p != 't' && *p != ' '))
    return UTIL_EPARSE;
  p++;
  if (digits(&p, 2, &h) || *p++ != ':' || digits(&p, 2, &mi) || *p++ != ':' || digits(&p, 2, &sec))
    return UTIL_EPARSE;
  if (*p == '.') {
    p++;
    int scale = 100, n = 0;
    while (isdigit((unsigned char)*p)) {
      if (n < 3) ms += (*p - '0') * scale;
      scale /= 10;
      n++;
      p++;
    }
    if (n == 0) return UTIL_EPARSE;
  }
  int offset_min = 0;
  if (*p == 'Z' || *p == 'z') {
    p++;
  } else if (*p == '+' || *p == '-') {
    int sign = *p == '-' ? -1 : 1, oh, om;
    p++;
    if (digits(&p, 2, &oh) || *p++ != ':' || digits(&p, 2, &om)) return UTIL_EPARSE;
    offset_min = sign * (oh * 60 + om);
  } else {
    return UTIL_EPARSE;
  }
  if (*p != '\0') return UTIL_EPARSE;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return UTIL_EPARSE;
  /* Days from civil (Howard Hinnant's algorithm): no timegm, no TZ dependence. */
  int yy = y - (mo <= 2);
  int era = (yy >= 0 ? yy : yy - 399) / 400;
  int yoe = yy - era * 400;
  int doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  int64_t days = (int64_t)era * 146097 + doe - 719468;
  int64_t secs =
      days * 86400 + (int64_t)h * 3600 + (int64_t)mi * 60 + sec - (int64_t)offset_min * 60;
  *unix_ms = secs * 1000 + ms;
  return 0;
}

int util_parse_duration(const char *s, int64_t *ms) {
  if (!s || !isdigit((unsigned char)*s)) return UTIL_EPARSE;
  errno = 0;
  char *end;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno) return UTIL_ERANGE;
  int64_t unit;
  if (strcmp(end, "ms") == 0)
    unit = 1;
  else if (strcmp(end, "s") == 0)
    unit = 1000;
  else if (strcmp(end, "m") == 0)
    unit = 60LL * 1000;
  else if (strcmp(end, "h") == 0)
    unit = 3600LL * 1000;
  else if (strcmp(end, "d") == 0)
    unit = 86400LL * 1000;
  else
    return UTIL_EPARSE;
  if (v > (unsigned long long)(INT64_MAX / unit)) return UTIL_ERANGE;
  *ms = (int64_t)v * unit;
  return 0;
}

int util_parse_since(const char *s, int64_t now_ms, int64_t *unix_ms) {
  int64_t d;
  if (util_parse_duration(s, &d) == 0) {
    *unix_ms = now_ms - d;
    return 0;
  }
  return util_parse_time(s, unix_ms);
}

char *util_format_duration(char *buf, size_t bufsz, int64_t ms) {
  if (ms < 0) ms = 0;
  if (ms < 1000) {
    snprintf(buf, bufsz, "%lldms", (long long)ms);
    return buf;
  }
  long long s = ms / 1000, d = s / 86400, h = s % 86400 / 3600, m = s % 3600 / 60, sec = s % 60;
  if (d)
    snprintf(buf, bufsz, "%lldd%lldh", d, h);
  else if (h)
    snprintf(buf, bufsz, "%lldh%lldm", h, m);
  else if (m)
    snprintf(buf, bufsz, "%lldm%llds", m, sec);
  else
    snprintf(buf, bufsz, "%llds", sec);
  return buf;
}

void util_sha256_hex(const void *data, size_t len, char out[65]) {
  unsigned char md[32];
  unsigned int mdlen = 0;
  static const char hex[] = "0123456789abcdef";
  if (!EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) || mdlen != 32) abort();
  for (size_t i = 0; i < 32; i++) {
    out[2 * i] = hex[md[i] >> 4];
    out[2 * i + 1] = hex[md[i] & 15];
  }
  out[64] = '\0';
}

void util_key_hint(const char *key, char *out, size_t outsz) {
  size_t len = key ? strlen(key) : 0;
  if (len >= 24)
    snprintf(out, outsz, "%.16s...%s", key, key + len - 4);
  else if (len >= 8)
    snprintf(out, outsz, "...%s", key + len - 2);
  else
    util_copy(out, outsz, "...");
}
