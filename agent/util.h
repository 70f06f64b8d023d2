/* util.h — what every module of claudemon shares and nothing else: the one list of error
 * codes, the allocation wrappers that abort on out-of-memory, time (Unix milliseconds,
 * RFC 3339, durations) and bounded string copies. No I/O, no state. */
#ifndef CLAUDEMON_UTIL_H
#define CLAUDEMON_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The one error list. Functions return 0 or one of these (negative). */
#define UTIL_ERRNO_MAP(X)                                                                          \
  X(INVAL, "invalid argument")                                                                     \
  X(NOMEM, "out of memory")                                                                        \
  X(IO, "input/output error")                                                                      \
  X(NOENT, "not found")                                                                            \
  X(PARSE, "parse error")                                                                          \
  X(CONFIG, "invalid configuration")                                                               \
  X(RANGE, "value out of range")                                                                   \
  X(HTTP, "HTTP transfer failed")                                                                  \
  X(DB, "database error")                                                                          \
  X(DBBUSY, "database is locked")                                                                  \
  X(DBVERSION, "database is from a newer claudemon")                                               \
  X(FULL, "queue full")                                                                            \
  X(SECRET, "secret unavailable")                                                                  \
  X(AGAIN, "try again")                                                                            \
  X(UV, "event loop error")

enum util_err {
  UTIL_OK = 0,
#define UTIL_ERR_ENUM(name, text) UTIL_E##name,
  UTIL_E__FIRST = -1000,
  UTIL_ERRNO_MAP(UTIL_ERR_ENUM)
#undef UTIL_ERR_ENUM
};

/* util_strerror returns a static description of an error code from the list above. */
const char *util_strerror(int err);

/* xmalloc and friends abort the process (after a message on stderr) when memory runs out:
 * out-of-memory is not an error we travel as a code. */
void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* xasprintf returns a newly allocated formatted string; the caller frees it. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* util_copy copies src into dst (size dstsz, > 0), truncating, always NUL-terminating.
 * It returns true when the whole of src fitted. src may be NULL (gives ""). */
bool util_copy(char *dst, size_t dstsz, const char *src);

/* util_sanitize copies at most dstsz-1 bytes of src into dst, replacing control characters
 * (and invalid UTF-8 lead bytes) with a space and collapsing runs of whitespace, so the
 * result is safe for a log line, a label value or a table cell. */
void util_sanitize(char *dst, size_t dstsz, const char *src, size_t srclen);

/* util_now_ms returns the wall clock in Unix milliseconds. */
int64_t util_now_ms(void);
/* util_mono_ms returns a monotonic clock in milliseconds (for intervals, not dates). */
int64_t util_mono_ms(void);

/* util_format_time writes Unix milliseconds as RFC 3339 UTC ("2026-11-28T06:00:00Z", or
 * with ".123" when with_ms and the milliseconds are not zero). buf needs 32 bytes. A
 * negative time gives "". Returns buf. */
char *util_format_time(char *buf, size_t bufsz, int64_t unix_ms, bool with_ms);

/* util_parse_time parses an RFC 3339 timestamp (with a fraction and a Z or +hh:mm offset)
 * into Unix milliseconds. Returns 0 or UTIL_EPARSE. */
int util_parse_time(const char *s, int64_t *unix_ms);

/* util_parse_duration parses "500ms", "10s", "15m", "1h", "7d" (a non-negative integer and a
 * unit; the unit is required) into milliseconds. Returns 0, UTIL_EPARSE or UTIL_ERANGE. */
int util_parse_duration(const char *s, int64_t *ms);

/* util_parse_since parses a time given on the command line: RFC 3339, or a duration
 * ("90m", "24h", "7d") meaning that long before now_ms. */
int util_parse_since(const char *s, int64_t now_ms, int64_t *unix_ms);

/* util_format_duration writes a duration for people ("2h3m", "45s", "120ms"). */
char *util_format_duration(char *buf, size_t bufsz, int64_t ms);

/* util_sha256_hex writes the SHA-256 of data as 64 hex digits plus NUL into out[65]. */
void util_sha256_hex(const void *data, size_t len, char out[65]);

/* util_key_hint writes the console-style hint of an API key: its first 16 characters,
 * "...", its last four ("sk-ant-api03-AbC...wXyZ"); a key shorter than 24 characters gives
 * "..." and its last two at most. out needs 32 bytes. */
void util_key_hint(const char *key, char *out, size_t outsz);

#define UTIL_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
