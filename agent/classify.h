/* classify.h — the classifier: the rules of DESIGN.md's "Causes and scopes" and "Verdicts and
 * findings" as pure functions. Three layers:
 *
 *   1. classify_probe():     one probe's captured fields -> its cause.
 *   2. classifier_observe(): a key's results -> its cause after hysteresis, with failing-since,
 *                            the evidence of its first failing probe, and transitions to record.
 *   3. classifier_judge():   every key plus the status page -> a verdict and findings, with the
 *                            platform incident we declared and its detection lead time.
 *
 * No I/O, no libuv, no clock: every time comes in as an argument (Unix ms). One thread: a
 * classifier is used from the loop thread only. Summaries never hold a secret: they are built
 * from key names, organization ids and the sanitised fields of probe results.
 *
 * How the daemon calls it:
 *   - at start and on reload: classifier_new(), then classifier_set_key() for each configured key;
 *   - after each probe: classify_probe(&r); if (classifier_observe(c, &r, &t)) record t;
 *   - when a key's secret cannot be read: classifier_key_unavailable();
 *   - on a timer (and after a batch of results or a status poll): classifier_judge(), publish the
 *     judgement (metrics, alerts, /api), judgement_free().
 * `claudemon check` sets params.once (hysteresis cannot apply to one round), retries a probe
 * once when classify_should_retry() says so and observes the retry's result after the first:
 * in once mode the last result of a kind is that kind's cause. */
#ifndef CLAUDEMON_CLASSIFY_H
#define CLAUDEMON_CLASSIFY_H

#include "agent/model.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- 1. one probe ------------------------------------------------------------------------ */

/* classify_probe sets r->cause from the captured fields (transport, http_status, body_kind,
 * error_type, error_message, error_code, request_id). It never sets a verdict-only cause
 * (incident, maintenance, ...) and never CAUSE_KEY_UNAVAILABLE (no probe runs without a key).
 * The rules, in order, are listed in docs/classifier.md. */
void classify_probe(struct probe_result *r);

/* classify_should_retry tells `claudemon check` whether to probe once more after a short pause:
 * only a flaky cause (overloaded, server_error, edge_error, timeout, network), never a 429 (a
 * rate limit or a spend cap does not clear in seconds and a retry only adds to it), never when
 * retry-after asks for more than CLASSIFY_RETRY_MAX_WAIT_S, and never a result that was
 * already a retry. */
#define CLASSIFY_RETRY_MAX_WAIT_S 5
bool classify_should_retry(const struct probe_result *r);
/* classify_retry_pause_ms is how long to wait before that retry: retry-after when the answer
 * gave one (at most CLASSIFY_RETRY_MAX_WAIT_S), else one second. */
int64_t classify_retry_pause_ms(const struct probe_result *r);

/* ---- 2. keys, after hysteresis ----------------------------------------------------------- */

#define CLASSIFY_WINDOW_MAX 64 /* the largest window of results kept per key and probe kind */
#define CLASSIFY_EXAMPLES 3    /* evidence examples carried by one finding */

struct classify_params {
  int fail_after;            /* a flaky cause takes a probe kind after this many of ... */
  int window;                /* ... its last `window` results (1 <= fail_after <= window) */
  int recover_after;         /* consecutive good results that end a failure (>= 1) */
  double quorum;             /* share of keys with results failing platform-side (0 < q <= 1) */
  int64_t mismatch_after_ms; /* probes vs status page disagreement this long -> status_mismatch */
  bool once;                 /* one round (`check`): every result's cause is the key's cause at
                                once; no fail_after, no recover_after */
};

/* classify_params_default fills DESIGN.md's defaults: 3 of 5, recover after 2, quorum 0.5,
 * mismatch after 10 minutes, once false. */
void classify_params_default(struct classify_params *p);
/* classify_params_from_config fills p from the config's classifier section (once false). */
struct config;
void classify_params_from_config(struct classify_params *p, const struct config *c);

/* A change worth recording about one key: its cause after hysteresis changed (cause_changed,
 * from != to), its anthropic-organization-id changed (org_changed), or both. */
struct key_transition {
  uint32_t key_index;
  bool cause_changed;
  enum cause from; /* CAUSE_UNKNOWN before the key's first settled result */
  enum cause to;
  /* at_ms: a failure, when its first failing probe started; a recovery, when the first good
   * probe of the recovering run started; otherwise the start of the result. evidence: of the
   * probe at at_ms (a recovery: of the probe that completed it). */
  int64_t at_ms;
  struct evidence evidence;
  bool org_changed;
  char old_org[MODEL_ORG_ID_MAX];
  char new_org[MODEL_ORG_ID_MAX];
};

struct classify_kind; /* per probe kind hysteresis state, private to classify.c */

/* What the classifier knows about one key. Read it through classifier_key(); change it only
 * through classifier_observe() and classifier_key_unavailable(). */
struct key_state {
  char *name;                    /* configured name (owned) */
  char *expect_organization;     /* NULL when not configured (owned) */
  bool known;                    /* the key has a settled cause (at least one result counted) */
  enum cause cause;              /* after hysteresis: the most severe of its kinds' causes;
                                    CAUSE_UNKNOWN while !known */
  bool unavailable;              /* its secret could not be read (until its next probe result) */
  bool seeded;                   /* cause remembered from before a restart, until a kind decides */
  int64_t failing_since_ms;      /* start of the first failing probe of this failure; -1 healthy */
  struct evidence first_failure; /* that probe's evidence; at_ms -1 when healthy */
  int64_t recovered_ms;          /* start of the first good probe of the last recovery; -1 */
  int64_t last_probe_ms;         /* start of the last result; -1 before the first */
  struct evidence last;          /* the last result's evidence (its cause after the org check) */
  char organization_id[MODEL_ORG_ID_MAX];    /* last non-empty anthropic-organization-id */
  char workspace_id[MODEL_ORG_ID_MAX];       /* last non-empty anthropic-workspace-id */
  struct ratelimit ratelimit[RL__COUNT];     /* of the last result that had an HTTP answer */
  int64_t retry_after_s;                     /* of the last result, -1 when absent */
  struct classify_kind *kinds[PROBE__COUNT]; /* private; NULL for kinds never seen */
};

struct classifier;

/* classifier_new creates a classifier for n_keys keys (named "key0", "key1", ... until
 * classifier_set_key names them). Returns 0 and *out, or UTIL_EINVAL when the params are out of
 * range (fail_after, window, recover_after, quorum; window at most CLASSIFY_WINDOW_MAX). */
int classifier_new(const struct classify_params *p, size_t n_keys, struct classifier **out);
/* classifier_free frees c and every key state; NULL does nothing. */
void classifier_free(struct classifier *c);
/* classifier_set_key names key i and sets its expected organization (NULL or "" for none).
 * Both strings are copied. Returns 0 or UTIL_EINVAL (i out of range, name NULL). */
int classifier_set_key(struct classifier *c, size_t i, const char *name,
                       const char *expect_organization);
/* classifier_rekey replaces c's keys by names[0..n_keys) (a config reload): a key whose name
 * was already there keeps all its state (cause, windows, failing-since, evidence), a new name
 * starts unknown, a name no longer listed is forgotten; params become p (validated first:
 * UTIL_EINVAL leaves c unchanged). The platform incident memory is kept. Returns 0. */
int classifier_rekey(struct classifier *c, const struct classify_params *p, size_t n_keys,
                     const char *const *names, const char *const *expect_organizations);
/* classifier_seed gives key i, before its first result, the cause it had when the agent
 * last stopped (from the store): its failing-since and first-failure evidence survive a
 * restart, and a first result with the same cause is no transition. The remembered cause
 * holds until one of the key's probe kinds decides (flaky causes need fail_after results).
 * Returns 0, or UTIL_EINVAL (bad index or cause, or the key has results already). */
int classifier_seed(struct classifier *c, size_t i, enum cause cause, int64_t since_ms,
                    const struct evidence *first_failure);
size_t classifier_n_keys(const struct classifier *c);
/* classifier_key returns key i's state, or NULL when i is out of range. Valid until the next
 * call that changes c. */
const struct key_state *classifier_key(const struct classifier *c, size_t i);

/* classifier_observe feeds one classified result (classify_probe() has set r->cause) to its
 * key (r->key_index). When the key is expected to report an organization and an otherwise-ok
 * result reports another one, the result counts as CAUSE_PERMISSION with the message
 * "key reports organization X, expected Y". Returns true when *t holds something to record
 * (t->cause_changed and/or t->org_changed); t may be NULL. A result for a key index out of
 * range is ignored (false). */
bool classifier_observe(struct classifier *c, const struct probe_result *r,
                        struct key_transition *t);

/* classifier_key_unavailable marks key i as CAUSE_KEY_UNAVAILABLE at now_ms because its secret
 * could not be read; why (never the secret) becomes the evidence's message. The mark is
 * certain (no hysteresis) and lasts until the key's next probe result. Returns true when *t
 * holds a transition to record (t may be NULL). */
bool classifier_key_unavailable(struct classifier *c, size_t i, int64_t now_ms, const char *why,
                                struct key_transition *t);

/* ---- 3. verdict and findings ------------------------------------------------------------- */

/* One thing worth knowing, in DESIGN.md's shape {scope, cause, keys[], summary, evidence,
 * advice}. A finding owns keys and summary. */
struct finding {
  enum scope scope;
  enum cause cause;
  uint32_t *keys; /* key indexes, in key order (owned; NULL when n_keys is 0) */
  size_t n_keys;
  char *summary;      /* one sentence for a person (owned, never NULL in a judgement) */
  const char *advice; /* static text: cause_advice() */
  struct evidence evidence[CLASSIFY_EXAMPLES]; /* examples: each key's failing probe */
  uint32_t evidence_keys[CLASSIFY_EXAMPLES];   /* the key of each example */
  size_t n_evidence;
  char organization_id[MODEL_ORG_ID_MAX]; /* a finding about one whole organization */
  char incident_id[MODEL_SP_ID_MAX];      /* incident/maintenance, when the page names one */
  char incident_name[MODEL_SP_NAME_MAX];
  char incident_link[MODEL_SP_URL_MAX]; /* its shortlink */
  enum indicator impact;                /* the incident's impact; INDICATOR_NONE when no incident */
  int64_t since_ms;                     /* when this began (first failing probe, page publication,
                                           or our first sight of it); -1 unknown */
};

struct judgement {
  int64_t at_ms;            /* now_ms of the judgement */
  struct finding verdict;   /* what matters most; scope none and cause ok when all is well */
  struct finding *findings; /* everything else worth knowing, most important first (owned) */
  size_t n_findings;
  bool platform_incident;    /* a platform verdict is declared now */
  int64_t declared_ms;       /* when we declared the current or last platform incident; -1 */
  int64_t page_published_ms; /* when the status page published it (incident created_at,
                                else page updated_at, else our fetch time); -1 not yet */
  bool has_lead;             /* lead_ms is valid: the last incident was on the page too */
  int64_t lead_ms;           /* page_published_ms - declared_ms; > 0: we were first */
  size_t n_keys_known;       /* keys with a settled cause */
  size_t n_keys_ok;
};

/* classifier_judge judges every key of c and the status snapshot sp (NULL when the status
 * page is disabled) at now_ms. When the last poll failed the caller passes the last good
 * data with sp->reachable false; the classifier also remembers the last reachable snapshot
 * itself and falls back on it when sp holds no data. Updates c's incident memory (declared
 * time, lead). Returns 0 and fills *out (free with judgement_free), or UTIL_EINVAL. */
int classifier_judge(struct classifier *c, const struct status_snapshot *sp, int64_t now_ms,
                     struct judgement *out);
/* judgement_add_dns_interception appends a dns_interception finding (scope network) about
 * keys[0..n_keys) whose last answers came from peer, an address outside Anthropic's
 * published ranges while the target is the real api.anthropic.com without a proxy (the
 * probe engine decides that: probe_peer_intercepted). A finding, never a verdict. */
void judgement_add_dns_interception(struct judgement *j, const struct classifier *c,
                                    const uint32_t *keys, size_t n_keys, const char *peer);
/* judgement_free frees what a judgement owns and clears it; NULL does nothing. */
void judgement_free(struct judgement *j);

#endif
