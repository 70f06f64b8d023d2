/* floor.c — the libcurl floor of the probe benchmark: a program that does nothing but the
 * requests claudemon's `models` probe sends (GET /v1/models?limit=1 with x-api-key,
 * anthropic-version and content-type, Accept-Encoding as claudemon asks) through one curl
 * multi handle whose connection cache is capped like claudemon's
 * (CURLMOPT_MAX_HOST_CONNECTIONS), driven by a curl_multi_poll() loop. No classifier, no
 * storage, no metrics, no event library: whatever claudemon spends above this program is
 * the price of being a monitoring agent rather than a request loop.
 *
 * Keys are spread as claudemon's scheduler spreads them — key i first due at
 * frac(i * 0.618...) * min(interval, SPREAD_MS), the golden-ratio sequence of
 * sched_spread_offset() — or, with SPREAD_MS 0, evenly over the whole interval (key i at
 * i * interval / n). Each then runs on its own grid; a key still in flight when it is due
 * again skips that turn (counted), as in claudemon. An easy handle and its header list
 * exist only while a transfer runs (handles wait in a free list for the next one), as in
 * claudemon. It never takes a key from its arguments: keys come from a file, one a line,
 * and are never printed.
 *
 *   probe_floor URL KEYS_FILE INTERVAL_MS DURATION_MS [MAX_HOST_CONNECTIONS [SPREAD_MS]]
 *
 * Prints `first_rss_kb=N` once the first response is complete, then at the end (after
 * DURATION_MS, or at SIGTERM/SIGINT) `done probes=N errors=N skipped=N vmhwm_kb=N`.
 * tests/bench/probe_bench.py measures its CPU and memory from the outside like the other
 * contenders. Exit 0, or 2 on bad arguments or a setup failure. */
#include <curl/curl.h>

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct floor_key {
  const char *key;
  int64_t due_ms; /* monotonic ms of the next run */
  int in_flight;
};

/* An easy handle lives only while its transfer does (and then waits in a free list for
 * the next one), as claudemon's do: n keys cost n small records, not n easy handles. */
struct floor_xfer {
  CURL *easy;
  struct curl_slist *headers;
  struct floor_key *k;
  struct floor_xfer *next_free;
};

static volatile sig_atomic_t floor_stop;

static void on_signal(int sig) {
  (void)sig;
  floor_stop = 1;
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* status_kb returns the value of a "Name:   N kB" line of /proc/self/status, or -1. */
static long status_kb(const char *name) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long v = -1;
  size_t n = strlen(name);
  while (fgets(line, sizeof(line), f)) {
    if (strncmp(line, name, n) == 0 && line[n] == ':') {
      v = strtol(line + n + 1, NULL, 10);
      break;
    }
  }
  fclose(f);
  return v;
}

/* The body is only counted: the floor parses nothing. */
static size_t on_body(char *ptr, size_t size, size_t nmemb, void *arg) {
  (void)ptr;
  (void)arg;
  return size * nmemb;
}

/* free_headers wipes the x-api-key line before the list goes back to the heap. */
static void free_headers(struct curl_slist *l) {
  for (struct curl_slist *p = l; p; p = p->next)
    memset(p->data, 0, strlen(p->data));
  curl_slist_free_all(l);
}

static int by_due(const void *a, const void *b) {
  const struct floor_key *x = a, *y = b;
  return x->due_ms < y->due_ms ? -1 : x->due_ms > y->due_ms;
}

/* read_keys reads one key per line; returns the count (keys in *out, owned), -1 on error. */
static long read_keys(const char *path, char ***out) {
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  char **keys = NULL;
  size_t n = 0, cap = 0;
  char line[512];
  while (fgets(line, sizeof(line), f)) {
    line[strcspn(line, "\r\n")] = '\0';
    if (!line[0]) continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 64;
      char **grown = realloc(keys, cap * sizeof(*keys));
      if (!grown) abort();
      keys = grown;
    }
    keys[n] = strdup(line);
    if (!keys[n]) abort();
    n++;
  }
  fclose(f);
  *out = keys;
  return (long)n;
}

int main(int argc, char **argv) {
  int rc = 2;
  char **keys = NULL;
  long n = 0;
  struct floor_key *k = NULL;
  CURLM *multi = NULL;
  struct floor_xfer *free_list = NULL;
  if (argc < 5) {
    fprintf(stderr,
            "usage: %s URL KEYS_FILE INTERVAL_MS DURATION_MS [MAX_HOST_CONNECTIONS [SPREAD_MS]]\n",
            argv[0]);
    return 2;
  }
  const char *url = argv[1];
  int64_t interval = strtoll(argv[3], NULL, 10);
  int64_t duration = strtoll(argv[4], NULL, 10);
  long max_host = argc > 5 ? strtol(argv[5], NULL, 10) : 8;
  int64_t spread = argc > 6 ? strtoll(argv[6], NULL, 10) : 0;
  n = read_keys(argv[2], &keys);
  if (n <= 0 || interval < 1 || duration < 1 || max_host < 1 || spread < 0) {
    fprintf(stderr, "probe_floor: bad arguments or no keys in %s\n", argv[2]);
    goto out;
  }
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) goto out;
  multi = curl_multi_init();
  if (!multi) goto out;
  curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, max_host);
  curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, max_host);
  curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, max_host);

  k = calloc((size_t)n, sizeof(*k));
  if (!k) abort();
  int64_t start = now_ms();
  int64_t window = spread < interval ? spread : interval;
  for (long i = 0; i < n; i++) {
    k[i].key = keys[i];
    if (spread > 0) {
      uint64_t frac = (uint64_t)i * 0x9E3779B97F4A7C15ull; /* as sched_spread_offset() */
      k[i].due_ms = start + (int64_t)((frac >> 32) * (uint64_t)window >> 32);
    } else {
      k[i].due_ms = start + (int64_t)((double)i * (double)interval / (double)n);
    }
  }
  /* The loop below starts keys in array order on a rotating grid: sort by first due time
   * (phases never change, so the order holds for every round). */
  qsort(k, (size_t)n, sizeof(*k), by_due);

  long probes = 0, errors = 0, skipped = 0;
  int first = 1;
  size_t next = 0; /* keys are due in index order within each interval */
  while (!floor_stop && now_ms() - start < duration) {
    int64_t t = now_ms();
    /* Start everything due; the due times are in index order on a rotating grid. */
    for (long scanned = 0; scanned < n && k[next].due_ms <= t; scanned++) {
      struct floor_key *e = &k[next];
      if (e->in_flight) {
        skipped++;
      } else {
        struct floor_xfer *x = free_list;
        if (x) {
          free_list = x->next_free;
        } else {
          x = calloc(1, sizeof(*x));
          if (!x) abort();
          x->easy = curl_easy_init();
          if (!x->easy) abort();
          curl_easy_setopt(x->easy, CURLOPT_URL, url);
          curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, on_body);
          curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
          curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, 10000L);
          curl_easy_setopt(x->easy, CURLOPT_ACCEPT_ENCODING, "");
          curl_easy_setopt(x->easy, CURLOPT_PRIVATE, (void *)x);
        }
        char hdr[600];
        snprintf(hdr, sizeof(hdr), "x-api-key: %s", e->key);
        x->headers = curl_slist_append(NULL, hdr);
        x->headers = curl_slist_append(x->headers, "anthropic-version: 2023-06-01");
        x->headers = curl_slist_append(x->headers, "content-type: application/json");
        memset(hdr, 0, sizeof(hdr));
        if (!x->headers) abort();
        x->k = e;
        curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, x->headers);
        if (curl_multi_add_handle(multi, x->easy) == CURLM_OK) e->in_flight = 1;
      }
      e->due_ms += interval;
      next = (next + 1) % (size_t)n;
    }
    int running = 0;
    curl_multi_perform(multi, &running);
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(multi, &left))) {
      if (m->msg != CURLMSG_DONE) continue;
      struct floor_xfer *x = NULL;
      curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&x);
      long status = 0;
      curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
      if (m->data.result != CURLE_OK || status != 200) errors++;
      probes++;
      curl_multi_remove_handle(multi, m->easy_handle);
      if (x) {
        x->k->in_flight = 0;
        x->k = NULL;
        free_headers(x->headers);
        x->headers = NULL;
        x->next_free = free_list;
        free_list = x;
      }
      if (first) {
        first = 0;
        printf("first_rss_kb=%ld\n", status_kb("VmRSS"));
        fflush(stdout);
      }
    }
    int64_t wait = k[next].due_ms - now_ms();
    if (wait > 1000) wait = 1000;
    if (wait < 0) wait = 0;
    curl_multi_poll(multi, NULL, 0, (int)wait, NULL);
  }
  printf("done probes=%ld errors=%ld skipped=%ld vmhwm_kb=%ld\n", probes, errors, skipped,
         status_kb("VmHWM"));
  fflush(stdout);
  rc = 0;

out:
  /* Transfers still running at the end are dropped with the multi handle. */
  while (free_list) {
    struct floor_xfer *x = free_list;
    free_list = x->next_free;
    curl_easy_cleanup(x->easy);
    free(x);
  }
  if (multi) curl_multi_cleanup(multi);
  free(k);
  for (long i = 0; i < n; i++) {
    memset(keys[i], 0, strlen(keys[i]));
    free(keys[i]);
  }
  free(keys);
  curl_global_cleanup();
  return rc;
}
