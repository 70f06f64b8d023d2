"""End to end: `claudemon check` against the fake upstream, for the scenarios an on-call
engineer meets (issue: classifier and probe engine). Each test runs the real binary, reads
its JSON and asserts the verdict, the per-key causes and the exit status, and that no key
ever appears in what it printed."""

import datetime
import json
import os
import sys
import tempfile
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lib import harness  # noqa: E402

LABELS = ["prod", "staging", "batch"]


def iso(ts):
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.000Z")


class CheckScenarios(unittest.TestCase):
    def setUp(self):
        self.keys = {label: harness.fake_key(label) for label in LABELS}
        self.env = {"KEY_" + label.upper(): key for label, key in self.keys.items()}
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)

    def scenario(self, behaviours=None, status_page="operational", extra=None):
        behaviours = behaviours or {}
        keys = {}
        for label, key in self.keys.items():
            conf = {"label": label}
            b = behaviours.get(label, "ok")
            if isinstance(b, dict) and "name" not in b:
                conf.update(b)
            else:
                conf["behaviour"] = b
            keys[key] = conf
        sc = {"default": "ok", "keys": keys, "status_page": status_page}
        sc.update(extra or {})
        return sc

    def config(self, up, probes="models: { interval: 10s }", status_url=None, timeout="3s",
               api_url=None):
        lines = [
            "api:",
            f"  base_url: {api_url or up.api_url}",
            f"  timeout: {timeout}",
            "  min_interval: 1s",
            "status_page:",
            f"  url: {status_url or up.status_url}",
            "  timeout: 3s",
            "keys:",
        ]
        for label in LABELS:
            lines += [f"  - name: {label}", f"    key_env: KEY_{label.upper()}",
                      "    probes:", f"      {probes}"]
        return harness.write_config(self.tmp.name, "\n".join(lines) + "\n")

    def check(self, cfg, fmt="json"):
        r = harness.run_cli(["check", "-c", cfg, "--format", fmt], env=self.env, timeout=60)
        harness.assert_no_secret(self, r.stdout + r.stderr, list(self.keys.values()),
                                 "check output")
        doc = json.loads(r.stdout) if fmt == "json" else r.stdout
        return r.returncode, doc, r.stderr

    def causes(self, doc):
        return {(e["name"], e["probe"]): e["cause"] for e in doc["keys"]}

    def test_all_healthy_exits_0(self):
        with harness.FakeUpstream(self.scenario()) as up:
            rc, doc, err = self.check(self.config(up))
        self.assertEqual(rc, 0, err)
        self.assertEqual(doc["verdict"]["scope"], "none")
        self.assertEqual(doc["verdict"]["cause"], "ok")
        self.assertTrue(all(c == "ok" for c in self.causes(doc).values()))
        self.assertTrue(doc["status_page"]["reachable"])
        api = [c for c in doc["status_page"]["components"] if c["id"] == "k8w3r06qmzrp"]
        self.assertEqual(api[0]["status"], "operational")
        self.assertTrue(api[0]["watched"])
        entry = doc["keys"][0]
        self.assertEqual(entry["ratelimit"]["requests"]["limit"], 50)
        self.assertTrue(entry["request_id"].startswith("req_"))

    def test_one_bad_key_is_local(self):
        with harness.FakeUpstream(self.scenario({"prod": "auth_invalid"})) as up:
            rc, doc, err = self.check(self.config(up))
            sent = up.requests(20, endpoint="models")
        self.assertEqual(rc, 1, err)
        self.assertEqual(self.causes(doc)[("prod", "models")], "auth_invalid")
        v = doc["verdict"]
        self.assertEqual((v["scope"], v["cause"], v["keys"]), ("local", "auth_invalid", ["prod"]))
        self.assertIn("not the platform", v["summary"])
        self.assertEqual(v["evidence"][0]["http_status"], 401)
        # The probe sends the documented headers.
        hdrs = {k.lower(): v for k, v in sent["requests"][0]["headers"].items()} \
            if isinstance(sent, dict) else {k.lower(): v for k, v in sent[0]["headers"].items()}
        self.assertEqual(hdrs.get("anthropic-version"), "2023-06-01")
        self.assertIn("x-api-key", hdrs)

    def test_all_keys_529_with_green_page_is_platform(self):
        with harness.FakeUpstream(self.scenario({l: "overloaded" for l in LABELS})) as up:
            rc, doc, err = self.check(self.config(up))
            stats = up.stats()
        self.assertEqual(rc, 1, err)
        v = doc["verdict"]
        self.assertEqual(v["scope"], "platform", v)
        self.assertEqual(sorted(v["keys"]), sorted(LABELS))
        self.assertTrue(doc["platform"]["incident"])
        self.assertTrue(all(e["retried"] for e in doc["keys"]), "flaky causes are retried once")
        # Two attempts per key, never more.
        self.assertEqual(stats["requests"]["by_endpoint"].get("models"), 2 * len(LABELS))
        # The page is green: our probes are ahead of it.
        mismatch_or_platform = {f["cause"] for f in doc["findings"]} | {v["cause"]}
        self.assertTrue(mismatch_or_platform & {"overloaded", "status_mismatch"})

    def test_major_outage_posted_names_the_incident(self):
        created = time.time() - 600
        sp = {"name": "major_outage", "incident_created_at": iso(created),
              "incident_updated_at": iso(created + 60)}
        with harness.FakeUpstream(self.scenario({l: "server_error" for l in LABELS},
                                                status_page=sp)) as up:
            rc, doc, err = self.check(self.config(up))
        self.assertEqual(rc, 1, err)
        v = doc["verdict"]
        self.assertEqual((v["scope"], v["cause"]), ("platform", "incident"), v)
        self.assertIn("incident", v)
        self.assertTrue(v["incident"]["shortlink"])
        self.assertTrue(doc["status_page"]["incidents"])
        # The page published ten minutes before we looked: negative lead.
        self.assertLess(doc["platform"]["detection_lead_seconds"], 0)

    def test_our_network_down_is_network(self):
        port = harness.free_port()  # nothing listens there
        with harness.FakeUpstream(self.scenario()) as up:
            cfg = self.config(up, api_url=f"http://127.0.0.1:{port}",
                              status_url=f"http://127.0.0.1:{port}/api/v2/summary.json")
            rc, doc, err = self.check(cfg)
        self.assertEqual(rc, 1, err)
        self.assertEqual(doc["verdict"]["scope"], "network", doc["verdict"])
        self.assertTrue(all(c == "network" for c in self.causes(doc).values()))
        self.assertFalse(doc["status_page"]["reachable"])
        self.assertEqual(doc["keys"][0]["transport"], "connect")

    def test_credit_exhausted_on_messages_probe(self):
        sc = self.scenario({"prod": {"models": "ok", "messages": "credit_low"}})
        with harness.FakeUpstream(sc) as up:
            rc, doc, err = self.check(self.config(
                up, probes="models: { interval: 10s }\n      messages: { interval: 1h }"))
        self.assertEqual(rc, 1, err)
        causes = self.causes(doc)
        self.assertEqual(causes[("prod", "models")], "ok")
        self.assertEqual(causes[("prod", "messages")], "quota")
        self.assertEqual(doc["verdict"]["cause"], "quota")
        self.assertEqual(doc["verdict"]["scope"], "local")
        msg = [e for e in doc["keys"] if e["name"] == "prod" and e["probe"] == "messages"][0]
        self.assertIn("credit balance is too low", msg["error_message"])

    def test_tier_spend_cap_is_quota_not_rate_limit(self):
        with harness.FakeUpstream(self.scenario({"batch": "spend_limit"})) as up:
            rc, doc, err = self.check(self.config(up))
        self.assertEqual(rc, 1, err)
        e = [e for e in doc["keys"] if e["name"] == "batch"][0]
        self.assertEqual(e["http_status"], 429)
        self.assertEqual(e["error_code"], "enforced_spend_limit_reached")
        self.assertEqual(e["cause"], "quota")
        self.assertFalse(e["retried"], "a 429 is never retried")

    def test_hanging_key_times_out_without_delaying_others(self):
        with harness.FakeUpstream(self.scenario({"prod": "hang"})) as up:
            t0 = time.monotonic()
            rc, doc, err = self.check(self.config(up, timeout="1s"))
            elapsed = time.monotonic() - t0
        self.assertEqual(rc, 1, err)
        causes = self.causes(doc)
        self.assertEqual(causes[("prod", "models")], "timeout")
        self.assertEqual(causes[("staging", "models")], "ok")
        prod = [e for e in doc["keys"] if e["name"] == "prod"][0]
        # Timed out within its timeout plus a second, twice (one retry, after a 1 s pause).
        self.assertLess(prod["latency_seconds"], 2.0)
        self.assertLess(elapsed, 8.0)
        staging = [e for e in doc["keys"] if e["name"] == "staging"][0]
        self.assertLess(staging["latency_seconds"], 0.5)

    def test_edge_html_502_is_edge_error(self):
        with harness.FakeUpstream(self.scenario({"staging": "edge_502"})) as up:
            rc, doc, err = self.check(self.config(up))
        e = [e for e in doc["keys"] if e["name"] == "staging"][0]
        self.assertEqual(e["cause"], "edge_error")
        self.assertEqual(e["body"], "html")
        self.assertIsNone(e["request_id"])

    def test_garbage_and_oversized_answers_are_survived(self):
        sc = self.scenario({"prod": "garbage_200", "staging": "oversized", "batch": "truncated"})
        with harness.FakeUpstream(sc) as up:
            rc, doc, err = self.check(self.config(up))
        self.assertEqual(rc, 1, err)
        by = {e["name"]: e for e in doc["keys"]}
        self.assertEqual(by["prod"]["cause"], "edge_error")
        self.assertTrue(by["staging"]["truncated"])
        self.assertNotEqual(by["staging"]["cause"], "ok")
        self.assertIn(by["batch"]["cause"], ("network", "edge_error"))

    def test_status_page_garbage_is_unreachable_not_operational(self):
        with harness.FakeUpstream(self.scenario(status_page="garbage")) as up:
            rc, doc, err = self.check(self.config(up))
        self.assertFalse(doc["status_page"]["reachable"])
        self.assertIn("status_page_unreachable", {f["cause"] for f in doc["findings"]})
        # Status-page-only findings do not fail the check.
        self.assertEqual(rc, 0, doc)

    def test_200_keys_use_a_handful_of_connections(self):
        keys = {harness.fake_key(f"k{i}"): {"label": f"k{i}"} for i in range(200)}
        with harness.FakeUpstream({"default": "ok", "keys": keys,
                                   "status_page": "operational"}) as up:
            lines = ["api:", f"  base_url: {up.api_url}", "  min_interval: 1s",
                     "  max_host_connections: 4", "status_page:", f"  url: {up.status_url}",
                     "keys:"]
            env = {}
            for i, key in enumerate(keys):
                lines += [f"  - name: k{i}", f"    key_env: K{i}"]
                env[f"K{i}"] = key
            cfg = harness.write_config(self.tmp.name, "\n".join(lines) + "\n")
            r = harness.run_cli(["check", "-c", cfg, "--format", "json"], env=env, timeout=60)
            stats = up.stats()
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        self.assertEqual(stats["requests"]["by_endpoint"]["models"], 200)
        self.assertLessEqual(stats["connections"]["api"], 6, stats["connections"])

    def test_table_output(self):
        with harness.FakeUpstream(self.scenario({"prod": "permission"})) as up:
            rc, out, err = self.check(self.config(up), fmt="table")
        self.assertEqual(rc, 1)
        self.assertIn("permission", out)
        self.assertIn("verdict: local permission", out)

    def test_unset_key_is_key_unavailable(self):
        del self.env["KEY_STAGING"]
        with harness.FakeUpstream(self.scenario()) as up:
            rc, doc, err = self.check(self.config(up))
        self.assertEqual(rc, 1)
        self.assertEqual(self.causes(doc)[("staging", "models")], "key_unavailable")
        self.assertIn("KEY_STAGING", err)


if __name__ == "__main__":
    unittest.main()
