/* store_crash_writer — the victim of tests/integration/test_store_crash.py: writes batches
 * through the real store (one transition with request id "crash-N" and BATCH probe rows
 * with the same request id per batch) and prints "committed N" after each flush returned
 * 0, until it is killed. The test kills it with SIGKILL at random moments and checks that
 * every batch it reported is in the database, whole, and counted once in the roll-ups
 * (which it merges now and then through store_maintain).
 *
 * usage: store_crash_writer DB FIRST_ID [BATCH] */
#include "agent/model.h"
#include "agent/util.h"
#include "storage/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: store_crash_writer DB FIRST_ID [BATCH]\n");
    return 2;
  }
  long long id = atoll(argv[2]);
  int batch = argc > 3 ? atoi(argv[3]) : 200;
  struct store *s = NULL;
  char why[512] = "";
  int err = store_open(argv[1], NULL, &s, why, sizeof(why));
  if (err) {
    fprintf(stderr, "store_crash_writer: %s\n", why);
    return 3;
  }
  int64_t t = util_now_ms();
  for (;; id++) {
    char key[16], rid[32];
    snprintf(key, sizeof(key), "k%lld", id % 10);
    snprintf(rid, sizeof(rid), "crash-%lld", id);
    for (int i = 0; i < batch; i++) {
      struct probe_result r;
      probe_result_init(&r, 0, PROBE_MODELS);
      r.started_ms = t++;
      r.cause = i % 7 ? CAUSE_OK : CAUSE_RATE_LIMITED;
      r.http_status = i % 7 ? 200 : 429;
      r.total_s = 0.1 + (i % 10) * 0.05;
      util_copy(r.request_id, sizeof(r.request_id), rid);
      store_enqueue_probe(s, key, &r);
    }
    struct evidence ev;
    memset(&ev, 0, sizeof(ev));
    ev.at_ms = t;
    ev.cause = id % 2 ? CAUSE_AUTH_INVALID : CAUSE_OK;
    ev.http_status = id % 2 ? 401 : 200;
    util_copy(ev.request_id, sizeof(ev.request_id), rid);
    store_enqueue_transition(s, key, t, id % 2 ? CAUSE_OK : CAUSE_AUTH_INVALID, ev.cause, &ev);
    while ((err = store_flush(s)) != 0) {
      if (err != UTIL_EDBBUSY) {
        fprintf(stderr, "store_crash_writer: flush: %s\n", util_strerror(err));
        store_free(s);
        return 1;
      }
    }
    printf("committed %lld\n", id);
    fflush(stdout);
    /* Merge the roll-ups now and then (as if three hours had passed), so that kills land in
     * merges too: a merged hour must be counted once, never twice or not at all. */
    if (id % 3 == 0) {
      struct store_retention keep = {0, 0};
      while ((err = store_maintain(s, t + 3 * 3600 * 1000LL, &keep, NULL)) == UTIL_EDBBUSY) {
      }
      if (err) {
        fprintf(stderr, "store_crash_writer: maintain: %s\n", util_strerror(err));
        store_free(s);
        return 1;
      }
    }
  }
}
