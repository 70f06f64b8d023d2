/* log.h — the one place that writes log lines: logfmt on stderr ("ts=... level=info
 * msg=\"...\" key=prod"). Every line passes through a redactor that replaces each
 * registered secret and anything shaped like an Anthropic key with "[REDACTED]", so no
 * caller can leak a secret by mistake. Also the "complain" helper that logs a repeated
 * failure with backoff and its recovery once. */
#ifndef CLAUDEMON_LOG_H
#define CLAUDEMON_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* log_set_level sets the lowest level written (default LOG_INFO). */
void log_set_level(enum log_level level);
/* log_parse_level parses "debug", "info", "warn" or "error"; returns 0 or UTIL_EINVAL. */
int log_parse_level(const char *s, enum log_level *level);
/* log_set_stream redirects output (tests); NULL restores stderr. */
void log_set_stream(FILE *f);

/* log_add_secret registers a secret (copied) that must never appear in a line; secrets
 * shorter than 6 bytes are ignored. log_clear_secrets forgets them all. */
void log_add_secret(const char *secret);
void log_clear_secrets(void);

/* log_write writes one line: msg (quoted) and then fields, a printf-style list of
 * "name=value" pairs separated by spaces. Values that may hold spaces or quotes must be
 * passed through log_q(). */
void log_write(enum log_level level, const char *msg, const char *fields, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(msg, ...) log_write(LOG_DEBUG, msg, __VA_ARGS__)
#define log_info(msg, ...) log_write(LOG_INFO, msg, __VA_ARGS__)
#define log_warn(msg, ...) log_write(LOG_WARN, msg, __VA_ARGS__)
#define log_error(msg, ...) log_write(LOG_ERROR, msg, __VA_ARGS__)

/* log_q returns v quoted for logfmt when it needs it (spaces, quotes, '=', empty),
 * control characters escaped. The result lives in one of 8 rotating thread-local buffers:
 * use it within the same log_write call. */
const char *log_q(const char *v);

/* log_redact rewrites buf (NUL-terminated, capacity bufsz) in place with every secret
 * replaced. Exposed for tests and for other sinks of text that leaves the process. */
void log_redact(char *buf, size_t bufsz);

/* A complaint: one repeated failure (a key failing, the status page down, the database
 * locked). log_complain returns true when the failure should be logged now: the first time,
 * then after 1, 2, 4, ... minutes up to an hour. log_recover returns true once when a
 * failure that was complained about clears. */
struct log_complaint {
  int64_t next_ms;     /* wall time after which the next complaint is due */
  int64_t interval_ms; /* current backoff */
  uint32_t suppressed; /* failures not logged since the last complaint */
  bool active;
};
bool log_complain(struct log_complaint *c, int64_t now_ms);
bool log_recover(struct log_complaint *c);

#endif
