"""End to end: `claudemon run` — the daemon on its default config with no key and no network,
and on a config against the fake upstream: endpoints, metrics, transitions with evidence in
the database and through `history`, the JSON API, a clean stop that flushes everything, and
no secret anywhere it writes."""

import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lib import harness  # noqa: E402


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


class DefaultConfig(unittest.TestCase):
    """README quick start: `claudemon run` without -c, no ANTHROPIC_API_KEY, no network."""

    def test_starts_serves_and_reports_key_unavailable(self):
        with tempfile.TemporaryDirectory() as d:
            cmd_env = harness.clean_env({})
            cmd_env.pop("ANTHROPIC_API_KEY", None)
            errf = open(os.path.join(d, "stderr.log"), "w+")
            # The default config has no -c, so this runs the binary by hand.
            proc = subprocess.Popen([os.path.abspath(harness.claudemon_bin()), "run"], cwd=d,
                                    env=cmd_env, stdout=subprocess.DEVNULL, stderr=errf)
            try:
                base = "http://127.0.0.1:9464"
                harness.wait_until(lambda: self._ok(base + "/-/healthy"), 15,
                                   message="default agent never served /-/healthy")
                samples = harness.wait_until(
                    lambda: self._metric(base, "claudemon_key_cause",
                                         {"key": "default", "cause": "key_unavailable"}), 15,
                    message="key_unavailable never exported")
                self.assertEqual(samples, 1.0)
                # No network: the status page is reported unreachable, not operational.
                up = harness.wait_until(
                    lambda: self._metric(base, "claudemon_status_page_up", {}) == 0.0, 20,
                    message="status page not reported down")
                self.assertTrue(up)
                status = json.loads(harness.http_get(base + "/api/v1/status")[2])
                self.assertEqual(status["keys"][0]["cause"], "key_unavailable")
                self.assertFalse(status["status_page"]["reachable"])
                # Not spinning: little CPU over two seconds of idling.
                c0 = cpu_seconds(proc.pid)
                t0 = time.monotonic()
                harness.wait_until(lambda: time.monotonic() - t0 >= 2.0, 5)
                self.assertLess(cpu_seconds(proc.pid) - c0, 0.5)
                self.assertTrue(os.path.exists(os.path.join(d, "claudemon.db")))
            finally:
                proc.terminate()
                try:
                    rc = proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    rc = "killed"
                errf.seek(0)
                err = errf.read()
                errf.close()
            self.assertEqual(rc, 0, err[-3000:])
            self.assertIn("ANTHROPIC_API_KEY", err)
            self.assertIn('msg=stopped', err)

    def _ok(self, url):
        try:
            return harness.http_get(url, timeout=1)[0] == 200
        except OSError:
            return False

    def _metric(self, base, name, labels):
        try:
            samples = harness.get_metrics(base + "/metrics", timeout=1)
        except OSError:
            return None
        vals = harness.metric_values(samples, name, labels)
        return vals[0] if vals else None


class AgainstFakeUpstream(unittest.TestCase):
    LABELS = ["prod", "staging", "batch"]

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.keys = {l: harness.fake_key(l) for l in self.LABELS}
        self.env = {"KEY_" + l.upper(): k for l, k in self.keys.items()}
        self.port = harness.free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.db = os.path.join(self.tmp.name, "claudemon.db")

    def config(self, up):
        lines = [f"listen: 127.0.0.1:{self.port}", "database: claudemon.db",
                 "vantage: test-rig", "api:", f"  base_url: {up.api_url}",
                 "  min_interval: 1s", "  timeout: 2s", "status_page:",
                 f"  url: {up.status_url}", "  interval: 2s",
                 "classifier: { fail_after: 2, window: 3, recover_after: 1 }", "keys:"]
        for l in self.LABELS:
            lines += [f"  - name: {l}", f"    key_env: KEY_{l.upper()}",
                      "    probes: { models: { interval: 1s } }"]
        return harness.write_config(self.tmp.name, "\n".join(lines) + "\n")

    def scenario(self):
        return {"default": "ok", "status_page": "operational",
                "keys": {k: {"label": l} for l, k in self.keys.items()}}

    def test_transition_evidence_history_and_clean_stop(self):
        secrets = list(self.keys.values())
        with harness.FakeUpstream(self.scenario()) as up:
            cfg = self.config(up)
            with harness.Agent(cfg, env=self.env) as agent:
                agent.wait_for_http(self.base + "/-/ready", timeout=20)
                agent.wait_for_metric(self.base + "/metrics", "claudemon_key_up",
                                      {"key": "prod"}, 1, timeout=15)
                agent.wait_for_metric(self.base + "/metrics", "claudemon_verdict",
                                      {"scope": "none", "cause": "ok"}, 1, timeout=15)
                # The key is revoked: a certain cause, effective at its first probe.
                up.set_key("prod", "auth_invalid")
                agent.wait_for_metric(self.base + "/metrics", "claudemon_key_cause",
                                      {"key": "prod", "cause": "auth_invalid"}, 1, timeout=15)
                since = agent.wait_for_metric(
                    self.base + "/metrics", "claudemon_key_failing_since_timestamp_seconds",
                    {"key": "prod"}, None, timeout=5)
                agent.wait_for_metric(self.base + "/metrics", "claudemon_verdict",
                                      {"scope": "local", "cause": "auth_invalid"}, 1, timeout=10)
                status = json.loads(harness.http_get(self.base + "/api/v1/status")[2])
                prod = [k for k in status["keys"] if k["name"] == "prod"][0]
                self.assertTrue(prod["failing"])
                self.assertEqual(prod["first_failure"]["http_status"], 401)
                self.assertEqual(prod["first_failure"]["error_message"], "invalid x-api-key")
                self.assertEqual(status["verdict"]["keys"], ["prod"])
                self.assertEqual(status["vantage"], "test-rig")
                # History over HTTP, from the store.
                # The transition reaches the database with the next flush (every 100 ms).
                def history():
                    doc = json.loads(harness.http_get(
                        self.base + "/api/v1/keys/prod/history?since=1h")[2])
                    t = doc["keys"][0]["transitions"]
                    return t if t and t[-1]["to"] == "auth_invalid" else None
                trans = harness.wait_until(history, 10, message="transition never stored")
                self.assertEqual(trans[-1]["http_status"], 401)
                # Recovery after recover_after good results.
                up.set_key("prod", "ok")
                agent.wait_for_metric(self.base + "/metrics", "claudemon_key_up",
                                      {"key": "prod"}, 1, timeout=15)
                metrics = harness.http_get(self.base + "/metrics")[2]
                api = harness.http_get(self.base + "/api/v1/status")[2]
                self.assertEqual(agent.stop(), 0)
                log = agent.log_text()
            harness.assert_no_secret(self, log, secrets, "daemon log")
            harness.assert_no_secret(self, metrics, secrets, "/metrics")
            harness.assert_no_secret(self, api, secrets, "/api/v1/status")
            with open(self.db, "rb") as f:
                harness.assert_no_secret(self, f.read(), secrets, "database file")
        self.assertIn('msg="key failing" key=prod', log)
        self.assertIn('msg="key recovered" key=prod', log)

        # Everything was flushed at stop: the CLI reads the transitions back.
        r = harness.run_cli(["history", "-c", cfg, "--key", "prod", "--format", "json"])
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = json.loads(r.stdout)
        tos = [t["to"] for t in doc["keys"][0]["transitions"]]
        self.assertEqual(tos[-2:], ["auth_invalid", "ok"], doc)
        failing = doc["keys"][0]["transitions"][-2]
        self.assertEqual(failing["error_type"], "authentication_error")
        self.assertTrue(failing["request_id"].startswith("req_"))
        self.assertAlmostEqual(harness_time(failing["at"]), since, delta=1.0)
        con = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
        try:
            self.assertEqual(con.execute("PRAGMA integrity_check").fetchone()[0], "ok")
            n = con.execute("SELECT count(*) FROM probes").fetchone()[0]
            self.assertGreater(n, 3)
        finally:
            con.close()

    def test_platform_overload_then_history_and_incident_commands(self):
        with harness.FakeUpstream(self.scenario()) as up:
            cfg = self.config(up)
            with harness.Agent(cfg, env=self.env) as agent:
                agent.wait_for_http(self.base + "/-/ready", timeout=20)
                for l in self.LABELS:
                    up.set_key(l, "overloaded")
                agent.wait_for_metric(self.base + "/metrics", "claudemon_platform_incident",
                                      {}, 1, timeout=20)
                agent.wait_for_metric(self.base + "/metrics", "claudemon_verdict",
                                      {"scope": "platform"}, 1, timeout=5)
                # Backoff: a failing platform is not hammered (1 s interval, backing off).
                s0 = up.stats()["requests"]["by_endpoint"]["models"]
                t0 = time.monotonic()
                harness.wait_until(lambda: time.monotonic() - t0 >= 4, 6)
                s1 = up.stats()["requests"]["by_endpoint"]["models"]
                self.assertLess(s1 - s0, 3 * 4, "probes did not back off")
                self.assertEqual(agent.stop(), 0)
        r = harness.run_cli(["incidents", "-c", cfg, "--format", "json"])
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = json.loads(r.stdout)
        self.assertTrue(doc["platform_verdicts"], doc)
        r = harness.run_cli(["history", "-c", cfg, "--failing"])
        self.assertEqual(r.returncode, 0, r.stderr)
        for l in self.LABELS:
            self.assertIn(l, r.stdout)

    def test_bad_config_exits_2_with_position(self):
        cfg = harness.write_config(self.tmp.name, "keys:\n  - name: a\n    key_env: A\n"
                                   "    probes: { models: { intervall: 60s } }\n")
        r = subprocess.run([harness.claudemon_bin(), "run", "-c", cfg], capture_output=True,
                           text=True, timeout=10)
        self.assertEqual(r.returncode, 2)
        self.assertRegex(r.stderr, r"claudemon.yaml:4:\d+: .*intervall.*did you mean 'interval'")


def harness_time(s):
    import datetime
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


if __name__ == "__main__":
    unittest.main()
