/* metrics_bench — how long metrics_render() takes and how big /metrics is, for the two
 * sizes DESIGN.md cares about: 1,000 keys with full per-key detail and 10,000 keys in
 * minimal mode. Each key gets a realistic state (most ok, every 10th failing with
 * auth_invalid, every 7th rate limited, probe counts, rate-limit headers, tokens for every
 * 5th), the render is warmed once, then timed `runs` times; the median, min and max are
 * printed as Markdown table rows (tests/bench/metrics_bench.sh puts them in RESULTS.md).
 *
 *   metrics_bench [runs]        default 50 */
#include "agent/log.h"
#include "agent/model.h"
#include "agent/util.h"
#include "exporters/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void fill(struct metrics *m, size_t n) {
  int64_t now = util_now_ms();
  struct ratelimit rl[RL__COUNT];
  for (size_t r = 0; r < RL__COUNT; r++)
    rl[r] = (struct ratelimit){4000, 3999, now + 1000};
  for (size_t i = 0; i < n; i++) {
    enum cause c = i % 10 == 0 ? CAUSE_AUTH_INVALID : i % 7 == 0 ? CAUSE_RATE_LIMITED : CAUSE_OK;
    bool failing = c == CAUSE_AUTH_INVALID;
    metrics_key_state(m, i, c, failing, failing ? now - 3600000 : -1, now - (int64_t)(i % 60000));
    for (int k = 0; k < 10; k++)
      metrics_probe_done(m, i, PROBE_MODELS, c, 0.1 + 0.01 * k);
    metrics_probe_done(m, i, PROBE_MODELS, CAUSE_OK, 0.2);
    metrics_probe_done(m, i, PROBE_COUNT_TOKENS, CAUSE_OK, 0.3);
    metrics_key_ratelimit(m, i, rl);
    if (i % 5 == 0) {
      metrics_probe_done(m, i, PROBE_MESSAGES, CAUSE_OK, 0.9);
      metrics_tokens(m, i, 12, 1);
    }
  }
}

static size_t count_series(const char *text) {
  size_t n = 0;
  for (const char *p = text; *p;) {
    if (*p != '#') n++;
    const char *nl = strchr(p, '\n');
    if (!nl) break;
    p = nl + 1;
  }
  return n;
}

static void bench(size_t n, enum config_per_key mode, int runs) {
  char **names = xcalloc(n, sizeof(*names));
  for (size_t i = 0; i < n; i++)
    names[i] = xasprintf("team-%03zu-key-%05zu", i % 97, i);
  struct metrics *m = metrics_new(n, (const char *const *)names, mode);
  fill(m, n);
  char *out;
  size_t len;
  metrics_render(m, &out, &len); /* warm: page cache of /proc, buffer size */
  size_t series = count_series(out);
  free(out);
  double *t = xcalloc((size_t)runs, sizeof(*t));
  for (int r = 0; r < runs; r++) {
    double t0 = now_s();
    metrics_render(m, &out, &len);
    t[r] = now_s() - t0;
    free(out);
  }
  qsort(t, (size_t)runs, sizeof(*t), cmp_double);
  printf("| %zu | %s | %.2f | %.2f | %.2f | %zu | %.1f | %zu |\n", n,
         mode == CONFIG_PER_KEY_FULL ? "full" : "minimal", t[runs / 2] * 1000, t[0] * 1000,
         t[runs - 1] * 1000, len, (double)len / 1024.0, series);
  free(t);
  metrics_free(m);
  for (size_t i = 0; i < n; i++)
    free(names[i]);
  free(names);
}

int main(int argc, char **argv) {
  int runs = argc > 1 ? atoi(argv[1]) : 50;
  if (runs < 1) runs = 50;
  log_set_level(LOG_ERROR);
  printf("| keys | per_key | median ms | min ms | max ms | bytes | KiB | series |\n");
  printf("|---:|---|---:|---:|---:|---:|---:|---:|\n");
  bench(1000, CONFIG_PER_KEY_FULL, runs);
  bench(10000, CONFIG_PER_KEY_MINIMAL, runs);
  bench(10000, CONFIG_PER_KEY_FULL, runs);
  return 0;
}
