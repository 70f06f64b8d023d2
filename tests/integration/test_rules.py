"""Tests of the shipped alerting configuration with the real Prometheus tools.

packaging/prometheus/claudemon-rules.yml: `promtool check rules`, `promtool test rules` with
claudemon-rules.test.yml, and the contract: every alertname of DESIGN.md (and every one
exporters/alert.c can push) has a rule with the same scope and severity labels.
packaging/alertmanager/alertmanager.yml: `amtool check-config`, the routing of each kind of
alert (`amtool config routes test`), and, on a real Alertmanager on loopback, that it accepts
alerts of claudemon's shape and that the inhibit rules mute what they should and nothing else.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.request

import yaml

SRC = os.environ.get("CLAUDEMON_SOURCE_DIR") or os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
RULES = os.path.join(SRC, "packaging", "prometheus", "claudemon-rules.yml")
RULES_TEST = os.path.join(SRC, "packaging", "prometheus", "claudemon-rules.test.yml")
AM_CONFIG = os.path.join(SRC, "packaging", "alertmanager", "alertmanager.yml")
ALERT_C = os.path.join(SRC, "exporters", "alert.c")
DOCS = os.path.join(SRC, "docs", "alerting.md")

# DESIGN.md's "Alerts" table, plus the two names exporters/alert.c adds (unknown,
# dns_interception). alertname: (scope, severity).
CONTRACT = {
    "ClaudePlatformIncident": ("platform", "warning"),
    "ClaudeKeyAuthFailing": ("local", "critical"),
    "ClaudeKeyPermissionDenied": ("local", "critical"),
    "ClaudeQuotaExhausted": ("local", "critical"),
    "ClaudeAccountDisabled": ("local", "critical"),
    "ClaudeRateLimited": ("local", "warning"),
    "ClaudeRateLimitHeadroomLow": ("local", "warning"),
    "ClaudeRequestInvalid": ("local", "warning"),
    "ClaudeKeyUnavailable": ("local", "critical"),
    "ClaudeKeyUnknownError": ("local", "warning"),
    "ClaudeNetworkUnreachable": ("network", "critical"),
    "ClaudeDNSInterception": ("network", "warning"),
    "ClaudeStatusMismatch": ("platform", "warning"),
    "ClaudeStatusPageUnreachable": ("network", "info"),
    "ClaudeMonitorHeartbeat": ("none", "none"),
}
PROMETHEUS_ONLY = {"ClaudeMonitorDown", "ClaudeMonitorAbsent", "ClaudeKeyNotProbed"}


def tool(name):
    path = shutil.which(name)
    if not path:
        raise AssertionError(f"{name} not found: run packaging/setup.sh --test")
    return path


def run(*argv, timeout=60):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


def rules():
    with open(RULES, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    return [(g["name"], r) for g in doc["groups"] for r in g["rules"]]


class PrometheusRules(unittest.TestCase):
    def test_check_rules(self):
        p = run(tool("promtool"), "check", "rules", RULES)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("SUCCESS", p.stdout)

    def test_unit_tests_pass(self):
        p = run(tool("promtool"), "test", "rules", RULES_TEST)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def test_every_alert_has_a_tested_rule(self):
        names = {r["alert"] for _, r in rules()}
        self.assertEqual(names, set(CONTRACT) | PROMETHEUS_ONLY)
        with open(RULES_TEST, encoding="utf-8") as f:
            tested = {t["alertname"] for case in yaml.safe_load(f)["tests"]
                      for t in case.get("alert_rule_test", []) if t.get("exp_alerts")}
        self.assertEqual(tested, names, "every alert needs a promtool case where it fires")

    def test_mirrors_carry_the_pushed_labels(self):
        for group, r in rules():
            if r["alert"] in PROMETHEUS_ONLY:
                self.assertEqual(group, "claudemon-scrape")
                continue
            self.assertEqual(group, "claudemon")
            scope, severity = CONTRACT[r["alert"]]
            labels = r.get("labels", {})
            expr = r["expr"]
            if r["alert"] == "ClaudePlatformIncident" and labels.get("severity") == "info":
                severity = "info"  # during a scheduled maintenance
            self.assertEqual(labels.get("severity"), severity, r["alert"])
            # scope comes from a static label or from claudemon_verdict{scope="..."}.
            self.assertTrue(labels.get("scope") == scope or f'scope="{scope}"' in expr,
                            f"{r['alert']}: scope {scope}")
            # No agent-specific labels survive: the mirror aggregates them away.
            self.assertRegex(expr.strip(), r"^(max|min)\b", r["alert"])
            self.assertNotIn("instance", labels)
            self.assertNotIn("vantage", labels)
            for name in ("summary", "description", "advice"):
                self.assertIn(name, r.get("annotations", {}), f"{r['alert']}: {name}")

    def test_rules_cover_what_the_agent_pushes(self):
        with open(ALERT_C, encoding="utf-8") as f:
            pushed = set(re.findall(r'"(Claude[A-Za-z]+)"', f.read()))
        pushed |= {"ClaudePlatformIncident", "ClaudeRateLimitHeadroomLow",
                   "ClaudeMonitorHeartbeat"}  # ALERT_NAME_* macros
        self.assertEqual(pushed, set(CONTRACT))

    def test_docs_list_every_alert(self):
        with open(DOCS, encoding="utf-8") as f:
            docs = f.read()
        for name in set(CONTRACT) | PROMETHEUS_ONLY:
            self.assertIn(f"`{name}`", docs)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AlertmanagerConfig(unittest.TestCase):
    def test_check_config(self):
        p = run(tool("amtool"), "check-config", AM_CONFIG)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("SUCCESS", p.stdout)

    def test_routes(self):
        cases = [
            ("pager", "alertname=ClaudeKeyAuthFailing scope=local cause=auth_invalid "
                      "severity=critical key=prod"),
            ("pager", "alertname=ClaudeRateLimited scope=local cause=rate_limited "
                      "severity=warning key=prod"),
            ("pager", "alertname=ClaudeNetworkUnreachable scope=network cause=network "
                      "severity=critical"),
            ("pager", "alertname=ClaudeMonitorDown scope=local severity=warning "
                      "instance=mon-1:9464 job=claudemon"),
            ("low-urgency", "alertname=ClaudePlatformIncident scope=platform cause=incident "
                            "severity=warning"),
            ("low-urgency", "alertname=ClaudePlatformIncident scope=platform "
                            "cause=maintenance severity=info"),
            ("low-urgency", "alertname=ClaudeStatusPageUnreachable scope=network "
                            "cause=status_page_unreachable severity=info"),
            ("low-urgency", "alertname=ClaudeStatusMismatch scope=platform "
                            "cause=status_mismatch severity=warning"),
            ("deadmans-switch", "alertname=ClaudeMonitorHeartbeat scope=none cause=ok "
                                "severity=none"),
        ]
        for receiver, labels in cases:
            with self.subTest(labels=labels):
                p = run(tool("amtool"), "config", "routes", "test",
                        f"--config.file={AM_CONFIG}", f"--verify.receivers={receiver}",
                        *labels.split())
                self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
                self.assertEqual(p.stdout.strip(), receiver)

    def test_live_accept_and_inhibit(self):
        """A real Alertmanager takes alerts in the shape claudemon sends and inhibits a key's
        platform-side alert during an incident, but not a key's 401."""
        binary = tool("prometheus-alertmanager")
        with open(AM_CONFIG, encoding="utf-8") as f:
            cfg = yaml.safe_load(f)
        # Same routes and inhibit rules; receivers that send nothing (no network, no secrets).
        cfg["receivers"] = [{"name": r["name"]} for r in cfg["receivers"]]
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "alertmanager.yml")
            with open(path, "w", encoding="utf-8") as f:
                yaml.safe_dump(cfg, f)
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            log = open(os.path.join(tmp, "am.log"), "w", encoding="utf-8")
            am = subprocess.Popen(
                [binary, f"--config.file={path}", f"--storage.path={tmp}/data",
                 f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
                stdout=log, stderr=subprocess.STDOUT)
            try:
                self.wait_for(lambda: self.get(base + "/-/ready") is not None, am, tmp)
                now = time.time()
                alerts = [
                    self.alert("ClaudePlatformIncident", "platform", "incident", "warning",
                               None, now),
                    self.alert("ClaudePlatformIncident", "platform", "overloaded", "warning",
                               "k1", now),
                    self.alert("ClaudeKeyAuthFailing", "local", "auth_invalid", "critical",
                               "k2", now),
                    self.alert("ClaudeRateLimited", "local", "rate_limited", "warning", "k3",
                               now),
                    self.alert("ClaudeRateLimitHeadroomLow", "local", "rate_limited",
                               "warning", "k3", now),
                    self.alert("ClaudeRateLimitHeadroomLow", "local", "rate_limited",
                               "warning", "k4", now),
                ]
                req = urllib.request.Request(base + "/api/v2/alerts",
                                             data=json.dumps(alerts).encode(),
                                             headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(req, timeout=10) as r:
                    self.assertEqual(r.status, 200)

                def states():
                    got = json.loads(self.get(base + "/api/v2/alerts") or "[]")
                    return {(a["labels"]["alertname"], a["labels"].get("key")):
                            (a["status"]["state"], bool(a["status"]["inhibitedBy"]))
                            for a in got}

                # The inhibitor learns of source alerts asynchronously: wait for it.
                self.wait_for(lambda: states().get(("ClaudePlatformIncident", "k1"),
                                                   ("", False))[1], am, tmp)
                s = states()
                self.assertEqual(len(s), 6, s)
                self.assertEqual(s[("ClaudePlatformIncident", "k1")], ("suppressed", True))
                self.assertEqual(s[("ClaudeRateLimitHeadroomLow", "k3")], ("suppressed", True))
                self.assertEqual(s[("ClaudePlatformIncident", None)], ("active", False))
                self.assertEqual(s[("ClaudeKeyAuthFailing", "k2")], ("active", False))
                self.assertEqual(s[("ClaudeRateLimited", "k3")], ("active", False))
                self.assertEqual(s[("ClaudeRateLimitHeadroomLow", "k4")], ("active", False))
            finally:
                am.terminate()
                am.wait(timeout=10)
                log.close()

    @staticmethod
    def alert(name, scope, cause, severity, key, now):
        labels = {"alertname": name, "scope": scope, "cause": cause, "severity": severity}
        if key:
            labels["key"] = key
        fmt = "%Y-%m-%dT%H:%M:%S.000Z"
        return {"labels": labels,
                "annotations": {"summary": name, "description": "test",
                                "advice": "none", "vantage": "test"},
                "startsAt": time.strftime(fmt, time.gmtime(now - 60)),
                "endsAt": time.strftime(fmt, time.gmtime(now + 240)),
                "generatorURL": "http://mon-1:9464/api/v1/status"}

    @staticmethod
    def get(url):
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return r.read().decode()
        except OSError:
            return None

    def wait_for(self, cond, proc, tmp, deadline_s=30):
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            if proc.poll() is not None:
                with open(os.path.join(tmp, "am.log"), encoding="utf-8") as f:
                    self.fail("alertmanager exited:\n" + f.read())
            if cond():
                return
            time.sleep(0.05)  # polling interval, not synchronisation: cond() decides
        self.fail("timed out waiting for alertmanager")


if __name__ == "__main__":
    unittest.main()
