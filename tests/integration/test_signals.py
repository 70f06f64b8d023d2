"""Signals: SIGHUP reloads the config (keys added and removed without losing the others'
state; an invalid config is refused and the old one kept), SIGTERM/SIGINT stop cleanly
within a few seconds with every result flushed, even while probes hang."""

import os
import signal
import sqlite3
import sys
import tempfile
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lib import harness  # noqa: E402


class Signals(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        self.keys = {l: harness.fake_key(l) for l in ["alpha", "beta", "gamma"]}
        self.env = {"KEY_" + l.upper(): k for l, k in self.keys.items()}
        self.port = harness.free_port()
        self.base = f"http://127.0.0.1:{self.port}"

    def write(self, up, labels, extra=""):
        lines = [f"listen: 127.0.0.1:{self.port}", "database: claudemon.db", "api:",
                 f"  base_url: {up.api_url}", "  min_interval: 1s", "  timeout: 2s",
                 "status_page:", f"  url: {up.status_url}", "  interval: 5s", "keys:"]
        for l in labels:
            lines += [f"  - name: {l}", f"    key_env: KEY_{l.upper()}",
                      "    probes: { models: { interval: 1s } }"]
        return harness.write_config(self.tmp.name, "\n".join(lines) + "\n" + extra)

    def scenario(self):
        return {"default": "ok", "status_page": "operational",
                "keys": {k: {"label": l} for l, k in self.keys.items()}}

    def test_sighup_adds_and_removes_keys_keeping_state(self):
        sc = self.scenario()
        sc["keys"][self.keys["alpha"]]["behaviour"] = "auth_invalid"
        with harness.FakeUpstream(sc) as up:
            cfg = self.write(up, ["alpha", "beta"])
            with harness.Agent(cfg, env=self.env) as agent:
                m = self.base + "/metrics"
                agent.wait_for_metric(m, "claudemon_key_cause",
                                      {"key": "alpha", "cause": "auth_invalid"}, 1, timeout=15)
                since = agent.wait_for_metric(
                    m, "claudemon_key_failing_since_timestamp_seconds", {"key": "alpha"}, None)
                agent.wait_for_metric(m, "claudemon_key_up", {"key": "beta"}, 1, timeout=15)

                # An invalid config is refused; the running one stays.
                mark = agent.mark()
                bad = self.write(up, ["alpha", "beta"], extra="bogus_field: 1\n")
                self.assertEqual(bad, cfg)
                os.kill(agent.pid, signal.SIGHUP)
                agent.wait_for_log(r"reload refused", since=mark)
                agent.wait_for_log(r"unknown field 'bogus_field'", since=mark)
                self.assertTrue(agent.running())
                agent.wait_for_metric(m, "claudemon_key_up", {"key": "beta"}, 1)

                # alpha stays, beta goes, gamma arrives.
                mark = agent.mark()
                self.write(up, ["gamma", "alpha"])
                os.kill(agent.pid, signal.SIGHUP)
                agent.wait_for_log(r'msg="config reloaded" .*kept=1 added=1', since=mark)
                agent.wait_for_metric(m, "claudemon_key_up", {"key": "gamma"}, 1, timeout=15)
                agent.wait_for_metric_absent(m, "claudemon_key_up", {"key": "beta"})
                # alpha's failure is the same failure: same since-when, no new transition.
                self.assertEqual(agent.wait_for_metric(
                    m, "claudemon_key_failing_since_timestamp_seconds", {"key": "alpha"}, None),
                    since)
                agent.wait_for_metric(m, "claudemon_key_cause",
                                      {"key": "alpha", "cause": "auth_invalid"}, 1)
                self.assertEqual(agent.stop(), 0)
                log = agent.log_text()
            harness.assert_no_secret(self, log, list(self.keys.values()), "daemon log")
        self.assertEqual(log.count('msg="key failing" key=alpha'), 1, log)

    def test_restart_keeps_failing_since(self):
        sc = self.scenario()
        sc["keys"][self.keys["alpha"]]["behaviour"] = "auth_invalid"
        with harness.FakeUpstream(sc) as up:
            cfg = self.write(up, ["alpha", "beta"])
            m = self.base + "/metrics"
            since = []
            for run in range(2):
                with harness.Agent(cfg, env=self.env) as agent:
                    agent.wait_for_metric(m, "claudemon_key_cause",
                                          {"key": "alpha", "cause": "auth_invalid"}, 1,
                                          timeout=15)
                    up.wait_for_requests(2 * (run + 1), label="alpha")
                    since.append(agent.wait_for_metric(
                        m, "claudemon_key_failing_since_timestamp_seconds", {"key": "alpha"},
                        None))
                    self.assertEqual(agent.stop(), 0)
                    log = agent.log_text()
        self.assertEqual(since[0], since[1])
        self.assertNotIn('msg="key failing" key=alpha', log, "no new transition after restart")

    def test_sigterm_with_hanging_probes_stops_fast_and_flushes(self):
        sc = self.scenario()
        with harness.FakeUpstream(sc) as up:
            cfg = self.write(up, ["alpha", "beta"])
            with harness.Agent(cfg, env=self.env) as agent:
                m = self.base + "/metrics"
                agent.wait_for_metric(m, "claudemon_key_up", {"key": "alpha"}, 1, timeout=15)
                up.set_key("beta", "permission")
                agent.wait_for_metric(m, "claudemon_key_cause",
                                      {"key": "beta", "cause": "permission"}, 1, timeout=15)
                up.set_key("alpha", {"name": "hang"})
                up.wait_for_stats(lambda s: s.get("open_connections", 0) >= 1, timeout=10)
                t0 = time.monotonic()
                rc = agent.stop(signal.SIGINT, timeout=10)
                elapsed = time.monotonic() - t0
        self.assertEqual(rc, 0)
        self.assertLess(elapsed, 5.0)
        con = sqlite3.connect(f"file:{os.path.join(self.tmp.name, 'claudemon.db')}?mode=ro",
                              uri=True)
        try:
            rows = con.execute(
                "SELECT k.name, t.from_cause, t.to_cause FROM key_transitions t "
                "JOIN keys k ON k.id = t.key_id ORDER BY t.id").fetchall()
            self.assertIn(("beta", "permission"), [(r[0], r[2]) for r in rows])
            self.assertEqual(con.execute("PRAGMA integrity_check").fetchone()[0], "ok")
        finally:
            con.close()


if __name__ == "__main__":
    unittest.main()
