"""A real Prometheus scrapes the real agent (running against the fake upstream) and evaluates
the shipped alerting rules: the test queries Prometheus's HTTP API for a bad key's cause, the
platform verdict, and the rule-based alert for the bad key. No key reaches Prometheus."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lib import harness  # noqa: E402

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
RULES = harness.REPO_ROOT / "packaging" / "prometheus" / "claudemon-rules.yml"


class PrometheusScrapesAgent(unittest.TestCase):
    def test_scrape_query_and_rules(self):
        keys = {l: harness.fake_key(l) for l in ["good", "bad"]}
        env = {"KEY_" + l.upper(): k for l, k in keys.items()}
        scenario = {"default": "ok", "status_page": "operational",
                    "keys": {keys["good"]: {"label": "good"},
                             keys["bad"]: {"label": "bad", "behaviour": "auth_invalid"}}}
        with tempfile.TemporaryDirectory() as d, harness.FakeUpstream(scenario) as up:
            agent_port = harness.free_port()
            cfg = harness.write_config(d, "\n".join([
                f"listen: 127.0.0.1:{agent_port}", "database: claudemon.db", "api:",
                f"  base_url: {up.api_url}", "  min_interval: 1s", "status_page:",
                f"  url: {up.status_url}", "keys:",
                "  - name: good", "    key_env: KEY_GOOD", "    probes: { models: { interval: 2s } }",
                "  - name: bad", "    key_env: KEY_BAD", "    probes: { models: { interval: 2s } }",
            ]) + "\n")
            prom_port = harness.free_port()
            pdir = Path(d) / "prom"
            pdir.mkdir()
            (pdir / "prometheus.yml").write_text(
                "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
                f"rule_files: ['{RULES}']\n"
                "scrape_configs:\n"
                "  - job_name: claudemon\n"
                f"    static_configs: [{{targets: ['127.0.0.1:{agent_port}']}}]\n")
            with harness.Agent(cfg, env=env) as agent:
                agent.wait_for_http(f"http://127.0.0.1:{agent_port}/-/ready", timeout=20)
                log = open(pdir / "prometheus.log", "w")
                prom = harness.spawn([PROMETHEUS, f"--config.file={pdir / 'prometheus.yml'}",
                                       f"--storage.tsdb.path={pdir / 'data'}",
                                       f"--web.listen-address=127.0.0.1:{prom_port}"],
                                      stdout=log, stderr=subprocess.STDOUT)
                try:
                    api = f"http://127.0.0.1:{prom_port}/api/v1"

                    def query(q):
                        try:
                            status, _, body = harness.http_get(
                                api + "/query?" + urllib.parse.urlencode({"query": q}), timeout=2)
                        except OSError:
                            return None
                        if status != 200:
                            return None
                        return json.loads(body)["data"]["result"] or None

                    res = harness.wait_until(
                        lambda: query('claudemon_key_cause{key="bad",cause="auth_invalid"} == 1'),
                        60, message="bad key's cause never reached Prometheus")
                    self.assertEqual(res[0]["metric"]["job"], "claudemon")
                    res = harness.wait_until(
                        lambda: query('claudemon_verdict{scope="local",cause="auth_invalid"} == 1'),
                        30, message="verdict never reached Prometheus")
                    self.assertEqual(len(res), 1)
                    self.assertTrue(query('claudemon_key_up{key="good"} == 1'))

                    def firing():
                        try:
                            _, _, body = harness.http_get(api + "/alerts", timeout=2)
                        except OSError:
                            return None
                        alerts = json.loads(body)["data"]["alerts"]
                        hit = [a for a in alerts if a["labels"]["alertname"] ==
                               "ClaudeKeyAuthFailing" and a["labels"].get("key") == "bad"]
                        return hit or None

                    hit = harness.wait_until(firing, 30,
                                             message="shipped rule ClaudeKeyAuthFailing not raised")
                    self.assertEqual(hit[0]["labels"]["scope"], "local")
                    self.assertEqual(hit[0]["labels"]["severity"], "critical")

                    # Switch every key to 529: the platform verdict reaches Prometheus.
                    up.set_key("good", "overloaded")
                    up.set_key("bad", "overloaded")
                    harness.wait_until(
                        lambda: query('claudemon_verdict{scope="platform"} == 1'), 60,
                        message="platform verdict never reached Prometheus")

                    _, _, series = harness.http_get(api + "/series?" + urllib.parse.urlencode(
                        {"match[]": '{__name__=~"claudemon_.+"}'}))
                    harness.assert_no_secret(self, series, list(keys.values()),
                                             "series stored by Prometheus")
                finally:
                    harness.reap(prom)
                    log.close()
                self.assertEqual(agent.stop(), 0)


if __name__ == "__main__":
    unittest.main()
