"""End to end: `claudemon run` pushing alerts to a REAL Alertmanager (issue: alert delivery).

Each test starts prometheus-alertmanager on loopback (clustering off, storage in a temporary
folder) whose only route goes to a webhook receiver inside this test that records every
notification; the fake upstream plays the API and the status page. What is asserted is what
an on-call engineer would see: the alerts in Alertmanager's API (GET /api/v2/alerts) and the
notifications it sends. Every wait is on an observable event (Alertmanager's /-/ready and
/api/v2/alerts, the notifications, claudemon's /metrics and log, the fake's request counts),
never a fixed sleep.

Timing: Alertmanager groups by (alertname, key) with group_wait = group_interval = 1s and
repeat_interval = 1h, so one alert is one group and a notification follows a change within
about a second; claudemon probes every 300 ms to 1 s, judges every second and (here) re-sends
every 2 s, so a firing alert's endsAt is 8 s ahead.

CLAUDEMON_TEST_DUMP=1 writes each agent's log to stderr at the end of each test."""

import datetime
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lib import harness  # noqa: E402

AM_BIN = os.environ.get("CLAUDEMON_ALERTMANAGER_BIN") or shutil.which(
    "prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"
RESEND_S = 2          # alerting.resend_interval
AUTH = "ClaudeKeyAuthFailing"
PLATFORM = "ClaudePlatformIncident"
HEARTBEAT = "ClaudeMonitorHeartbeat"
VANTAGE = "e2e-vantage"
FIXED_REQUEST_ID = "req_011CE2EAuthFailingAbCdEfGh"


def parse_time(s):
    """RFC 3339 with any number of fractional digits (Alertmanager prints nanoseconds)."""
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)", s)
    if not m:
        raise ValueError("not an RFC 3339 time: %r" % s)
    base = datetime.datetime.fromisoformat(m.group(1) + ("+00:00" if m.group(3) == "Z" else m.group(3)))
    return base.timestamp() + (float(m.group(2)) if m.group(2) else 0.0)


# --------------------------------------------------------------------------------------
# a recording HTTP endpoint: Alertmanager's webhook receiver, or a stand-in Alertmanager
# --------------------------------------------------------------------------------------

class Recorder:
    """An HTTP server on a free loopback port that answers every POST with 200 and keeps
    (time received, path, raw body, parsed JSON) of each, in order."""

    def __init__(self):
        self.posts = []
        self.cond = threading.Condition()
        rec = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n)
                try:
                    doc = json.loads(raw)
                except ValueError:
                    doc = None
                with rec.cond:
                    rec.posts.append((time.time(), self.path, raw, doc))
                    rec.cond.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1},
                                       daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def bodies(self):
        with self.cond:
            return [raw for _, _, raw, _ in self.posts]

    def docs(self):
        with self.cond:
            return [doc for _, _, _, doc in self.posts]

    def notifications(self, alertname, key=None, status=None):
        """Webhook notifications from Alertmanager holding alert `alertname` (of `key`, and
        with alert status `status` when given): a list of (notification, alert)."""
        out = []
        for doc in self.docs():
            for a in (doc or {}).get("alerts", []):
                labels = a.get("labels", {})
                if labels.get("alertname") != alertname or (key is not None and labels.get("key") != key):
                    continue
                if status is not None and a.get("status") != status:
                    continue
                out.append((doc, a))
        return out

    def pushes(self):
        """As a stand-in Alertmanager: every alert claudemon POSTed, in order, each with
        "_resolved" added: its endsAt was not ahead of when it arrived."""
        out = []
        with self.cond:
            posts = list(self.posts)
        for t, path, _, doc in posts:
            if path == "/api/v2/alerts" and isinstance(doc, list):
                for a in doc:
                    out.append(dict(a, _resolved=parse_time(a["endsAt"]) <= t + 0.5))
        return out


# --------------------------------------------------------------------------------------
# a real Alertmanager
# --------------------------------------------------------------------------------------

class Alertmanager:
    def __init__(self, directory, webhook_url):
        self.dir = Path(directory)
        self.port = harness.free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        cfg = self.dir / "alertmanager.yml"
        cfg.write_text(
            "route:\n"
            "  receiver: recorder\n"
            "  group_by: [alertname, key]\n"
            "  group_wait: 1s\n"
            "  group_interval: 1s\n"
            "  repeat_interval: 1h\n"
            "receivers:\n"
            "  - name: recorder\n"
            "    webhook_configs:\n"
            "      - url: %s/notify\n"
            "        send_resolved: true\n" % webhook_url, encoding="utf-8")
        self.log_path = self.dir / "alertmanager.log"
        self._log = open(self.log_path, "wb")
        # harness's own spawn: it dies with the test process, like the fake and the agent.
        self.proc = harness.spawn(
            [AM_BIN, "--config.file=%s" % cfg, "--storage.path=%s" % (self.dir / "am-data"),
             "--web.listen-address=127.0.0.1:%d" % self.port, "--cluster.listen-address=",
             "--log.level=debug"],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT)

        def ready():
            if self.proc.poll() is not None:
                raise AssertionError("alertmanager exited:\n" + self.log_text())
            try:
                return harness.http_get(self.url + "/-/ready", timeout=2)[0] == 200
            except OSError:
                return False
        harness.wait_until(ready, 20, message=lambda: "alertmanager not ready:\n" + self.log_text()[-3000:])

    def close(self):
        harness.reap(self.proc)
        self._log.close()

    def log_text(self):
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def alerts_raw(self):
        status, _, body = harness.http_get(self.url + "/api/v2/alerts", timeout=5)
        if status != 200:
            raise AssertionError("GET /api/v2/alerts -> %d" % status)
        return body

    def alerts(self, alertname=None, key=None):
        """Active alerts (Alertmanager lists no alert whose endsAt has passed)."""
        out = []
        for a in json.loads(self.alerts_raw()):
            labels = a["labels"]
            if alertname is not None and labels.get("alertname") != alertname:
                continue
            if key is not None and labels.get("key") != key:
                continue
            out.append(a)
        return out


# --------------------------------------------------------------------------------------
# the tests
# --------------------------------------------------------------------------------------

class AlertmanagerEndToEnd(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not (os.path.isfile(AM_BIN) and os.access(AM_BIN, os.X_OK)):
            raise unittest.SkipTest("prometheus-alertmanager is not installed "
                                    "(packaging/setup.sh --test installs it)")
        harness.claudemon_bin()  # SkipTest when there is no binary

    def setUp(self):
        tmp = tempfile.TemporaryDirectory(prefix="claudemon-am-")
        self.addCleanup(tmp.cleanup)
        self.dir = tmp.name
        self.receiver = Recorder()
        self.addCleanup(self.receiver.close)
        self.am = Alertmanager(self.dir, self.receiver.url)
        self.addCleanup(self.am.close)
        self.dead_port = harness.free_port()  # nobody listens there
        self.listen_port = harness.free_port()
        self.metrics_url = "http://127.0.0.1:%d/metrics" % self.listen_port
        self.keys = {}
        self.env = {}
        self.agents = []

    def tearDown(self):
        for a in self.agents:
            a.close()
            if os.environ.get("CLAUDEMON_TEST_DUMP"):
                sys.stderr.write("\n--- agent stderr ---\n%s\n" % a.log_text())
        # Nothing key-shaped left the agent: not in any notification, not in Alertmanager.
        secrets = list(self.keys.values())
        if secrets:
            harness.assert_no_secret(self, self.receiver.bodies(), secrets, "webhook notifications")
            try:
                harness.assert_no_secret(self, self.am.alerts_raw(), secrets, "/api/v2/alerts")
            except OSError:
                pass
            for a in self.agents:
                harness.assert_no_secret(self, a.log_text() + a.stdout_text(), secrets, "agent log")

    # ---- set-up helpers ----

    def scenario(self, behaviours, status_page="operational"):
        keys = {}
        for label, b in behaviours.items():
            key = self.keys.setdefault(label, harness.fake_key(label))
            self.env["KEY_" + label.upper()] = key
            keys[key] = {"label": label, "behaviour": b}
        return {"default": "ok", "keys": keys, "status_page": status_page}

    def config(self, up, labels, interval="1s", hold_down="2s", classifier=None,
               extra_alertmanagers=(), name="claudemon.yml"):
        ams = [self.am.url, "http://127.0.0.1:%d" % self.dead_port] + list(extra_alertmanagers)
        lines = [
            "listen: 127.0.0.1:%d" % self.listen_port,
            "database: %s" % os.path.join(self.dir, "claudemon.db"),
            "vantage: %s" % VANTAGE,
            "api:",
            "  base_url: %s" % up.api_url,
            "  timeout: 3s",
            "  min_interval: 200ms",
            "status_page:",
            "  url: %s" % up.status_url,
            "  interval: 1s",
            "  timeout: 2s",
            "classifier: { %s }" % (classifier or "fail_after: 1, window: 1, recover_after: 1"),
            "alerting:",
            "  alertmanager: [%s]" % ", ".join(ams),
            "  resend_interval: %ds" % RESEND_S,
            "  hold_down: %s" % hold_down,
            "keys:",
        ]
        for label in labels:
            lines += ["  - name: %s" % label, "    key_env: KEY_%s" % label.upper(),
                      "    probes:", "      models: { interval: %s }" % interval]
        return harness.write_config(self.dir, "\n".join(lines) + "\n", name=name)

    def start_agent(self, cfg):
        a = harness.Agent(cfg, env=self.env).start()
        self.agents.append(a)
        a.wait_for_http("http://127.0.0.1:%d/-/healthy" % self.listen_port, timeout=15)
        return a

    def sent(self, receiver, result):
        vals = harness.metric_values(harness.get_metrics(self.metrics_url),
                                     "claudemon_alerts_sent_total",
                                     {"receiver": receiver, "result": result})
        return vals[0] if vals else 0.0

    def wait_am(self, predicate, timeout=20, what="alertmanager condition", agent=None):
        """Poll Alertmanager's active alerts until predicate(alerts) is truthy; returns it."""
        last = {}

        def probe():
            if agent is not None:
                agent.assert_running()
            last["a"] = self.am.alerts()
            return predicate(last["a"])
        try:
            return harness.wait_until(probe, timeout, message=lambda: "%s; alertmanager has: %s" % (
                what, json.dumps([a["labels"] for a in last.get("a", [])])))
        except AssertionError as e:
            tail = "\n".join(agent.lines[-30:]) if agent is not None else ""
            raise AssertionError("%s\nagent stderr tail:\n%s" % (e, tail)) from None

    def wait_notified(self, alertname, key=None, status="firing", count=1, timeout=20, agent=None):
        def probe():
            if agent is not None:
                agent.assert_running()
            got = self.receiver.notifications(alertname, key, status)
            return got if len(got) >= count else None
        return harness.wait_until(probe, timeout, message=lambda: "%d %s notification(s) of %s key=%s; got: %s" % (
            count, status, alertname, key,
            [(n.get("status"), [a["labels"] for a in n.get("alerts", [])]) for n in self.receiver.docs()]))

    def wait_pushes(self, agent, n, timeout=15):
        """Wait until Alertmanager has accepted n more requests from the agent: a window of
        re-sends (every 2 s), in which Alertmanager evaluates its groups every second, so a
        notification that should not happen would have."""
        base = self.sent("alertmanager_0", "ok")
        agent.wait_for_metric(self.metrics_url, "claudemon_alerts_sent_total",
                              {"receiver": "alertmanager_0", "result": "ok"},
                              lambda v: v >= base + n, timeout=timeout)

    # ---- scenarios ----

    def test_auth_failure_fires_once_and_resolves_explicitly(self):
        """Scenarios 1 and 2: a 401 key is one ClaudeKeyAuthFailing with the contract's labels
        and the evidence in annotations; an unreachable second Alertmanager neither blocks the
        first nor goes uncounted; the recovery resolves the alert at once, long before its
        endsAt would have expired it."""
        sc = self.scenario({"prod": {"name": "auth_invalid", "request_id": FIXED_REQUEST_ID},
                            "staging": "ok"})
        with harness.FakeUpstream(sc) as up:
            agent = self.start_agent(self.config(up, ["prod", "staging"]))
            alerts = self.wait_am(lambda al: al if any(a["labels"]["alertname"] == AUTH for a in al)
                                  and any(a["labels"]["alertname"] == HEARTBEAT for a in al) else None,
                                  what="ClaudeKeyAuthFailing and the heartbeat", agent=agent)

            auth = [a for a in alerts if a["labels"]["alertname"] == AUTH]
            self.assertEqual(len(auth), 1, auth)
            a = auth[0]
            self.assertEqual(a["labels"], {"alertname": AUTH, "scope": "local", "cause": "auth_invalid",
                                           "severity": "critical", "key": "prod"})
            self.assertEqual(a["status"]["state"], "active")
            ann = a["annotations"]
            self.assertTrue({"summary", "description", "advice", "vantage"} <= set(ann), ann)
            self.assertIn("prod", ann["summary"])
            self.assertIn("401", ann["description"])
            self.assertIn(FIXED_REQUEST_ID, ann["description"])
            self.assertIn("invalid x-api-key", ann["description"])
            self.assertTrue(ann["advice"].strip())
            self.assertEqual(ann["vantage"], VANTAGE)
            self.assertTrue(a["generatorURL"].endswith("/api/v1/status"), a["generatorURL"])
            # startsAt is the first failing probe, not when Alertmanager got it.
            first_401 = min(r["ts"] for r in up.requests(1000, label="prod", endpoint="models")
                            if r["status"] == 401)
            self.assertAlmostEqual(parse_time(a["startsAt"]), first_401, delta=1.0)

            hb = [x for x in alerts if x["labels"]["alertname"] == HEARTBEAT]
            self.assertEqual(len(hb), 1, hb)
            self.assertEqual(hb[0]["labels"], {"alertname": HEARTBEAT, "scope": "none", "cause": "ok",
                                               "severity": "none"})
            # Nothing about the healthy key.
            self.assertEqual([x["labels"] for x in alerts if x["labels"].get("key") == "staging"], [])

            # One notification for it, and still one after several re-sends.
            got = self.wait_notified(AUTH, "prod", agent=agent)
            self.assertEqual(got[0][1]["labels"]["key"], "prod")
            self.wait_notified(HEARTBEAT, agent=agent)
            self.wait_pushes(agent, 3)
            self.assertEqual(len(self.receiver.notifications(AUTH, "prod")), 1,
                             self.receiver.notifications(AUTH, "prod"))

            # The dead second Alertmanager is counted as errors; the first kept getting ok.
            self.assertGreaterEqual(self.sent("alertmanager_1", "error"), 1)
            self.assertEqual(self.sent("alertmanager_1", "ok"), 0)
            self.assertGreaterEqual(self.sent("alertmanager_0", "ok"), 3)
            self.assertEqual(self.sent("alertmanager_0", "error"), 0)

            # ---- scenario 2: the key recovers ----
            ends = [parse_time(self.am.alerts(AUTH, "prod")[0]["endsAt"])]
            up.set_key("prod", "ok")
            t_fixed = time.time()

            def gone(al):
                mine = [x for x in al if x["labels"]["alertname"] == AUTH]
                for x in mine:
                    ends.append(parse_time(x["endsAt"]))
                return not mine
            self.wait_am(gone, timeout=15, what="ClaudeKeyAuthFailing resolved", agent=agent)
            t_gone = time.time()
            # Resolved by the agent, not expired: its last endsAt was still ahead.
            self.assertLess(t_gone, max(ends) - 1.0,
                            "the alert vanished only when its endsAt ran out (%.1fs after the fix)"
                            % (t_gone - t_fixed))
            resolved = self.wait_notified(AUTH, "prod", status="resolved", agent=agent)
            self.assertEqual(len(resolved), 1)
            r_end = parse_time(resolved[0][1]["endsAt"])
            self.assertLess(r_end, max(ends) - 1.0)
            self.assertGreater(r_end, t_fixed - 2.0)
            self.assertEqual(len(self.receiver.notifications(AUTH, "prod", "firing")), 1)
            # The heartbeat keeps firing.
            self.assertEqual(len(self.am.alerts(HEARTBEAT)), 1)
            self.assertEqual(agent.stop(), 0)

    def test_all_keys_overloaded_is_one_platform_incident(self):
        """Scenario 3: every key answers 529 while the status page is green: one
        ClaudePlatformIncident (scope=platform, no key label) and no per-key alert."""
        labels = ["a", "b", "c"]
        sc = self.scenario({l: "ok" for l in labels})
        with harness.FakeUpstream(sc) as up:
            agent = self.start_agent(self.config(up, labels, interval="5s"))
            # Healthy first, so the incident begins while the agent runs (keys cross into
            # failure one probe at a time, as they do in life), not at its start.
            self.wait_notified(HEARTBEAT, agent=agent)
            for l in labels:
                agent.wait_for_metric(self.metrics_url, "claudemon_key_up", {"key": l}, 1)
            up.patch_scenario({"labels": {l: {"behaviour": "overloaded"} for l in labels}})
            self.wait_am(lambda al: any(a["labels"]["alertname"] == PLATFORM for a in al),
                         what="ClaudePlatformIncident", agent=agent)
            self.wait_notified(PLATFORM, agent=agent)
            # Give per-key alerts every chance to show up: several more pushes.
            self.wait_pushes(agent, 3)
            alerts = self.am.alerts()
            plat = [a for a in alerts if a["labels"]["alertname"] == PLATFORM]
            self.assertEqual(len(plat), 1, [a["labels"] for a in alerts])
            self.assertEqual(plat[0]["labels"], {"alertname": PLATFORM, "scope": "platform",
                                                 "cause": "overloaded", "severity": "warning"})
            self.assertIn("529", plat[0]["annotations"].get("description", ""))
            self.assertEqual(plat[0]["annotations"].get("vantage"), VANTAGE)
            keyed = [a["labels"] for a in alerts if "key" in a["labels"]]
            self.assertEqual(keyed, [], "per-key alerts during a platform incident")
            # Nor was any per-key alert ever notified (not even briefly, before the quorum).
            notified = {(a["labels"]["alertname"], a["labels"].get("key"))
                        for d in self.receiver.docs() for a in (d or {}).get("alerts", [])}
            self.assertEqual(notified, {(PLATFORM, None), (HEARTBEAT, None)})
            self.assertEqual(len(self.receiver.notifications(PLATFORM)), 1)
            self.assertEqual(agent.stop(), 0)

    def test_one_key_overloaded_alone_alerts_per_key(self):
        """The other side of scenario 3: one key's 529s while the other keys answer are a
        per-key ClaudePlatformIncident (scope=platform, key label), sent once the other keys
        have been probed and still no incident is declared."""
        sc = self.scenario({"a": "overloaded", "b": "ok", "c": "ok"})
        with harness.FakeUpstream(sc) as up:
            agent = self.start_agent(self.config(up, ["a", "b", "c"]))
            got = self.wait_am(lambda al: [x for x in al if x["labels"]["alertname"] == PLATFORM],
                               what="per-key ClaudePlatformIncident", agent=agent)
            self.assertEqual([x["labels"] for x in got],
                             [{"alertname": PLATFORM, "scope": "platform", "cause": "overloaded",
                               "severity": "warning", "key": "a"}])
            self.assertIn("529", got[0]["annotations"]["description"])
            self.wait_notified(PLATFORM, "a", agent=agent)
            self.assertEqual(agent.stop(), 0)

    def test_flapping_key_notifies_once(self):
        """Scenario 4: a key that alternates 401 and 200 on every probe gives one firing
        notification over ~20 probes, with one startsAt, and no resolved one."""
        sc = self.scenario({"flappy": ["auth_invalid", "ok"], "steady": "ok"})
        with harness.FakeUpstream(sc) as up:
            agent = self.start_agent(self.config(up, ["flappy", "steady"], interval="300ms",
                                                 hold_down="30s"))
            self.wait_notified(AUTH, "flappy", agent=agent)
            starts = {self.wait_am(lambda al: [a for a in al if a["labels"]["alertname"] == AUTH],
                                   agent=agent)[0]["startsAt"]}
            base = up.stats()["requests"]["by_label_endpoint"].get("flappy", {}).get("models", 0)
            mark = agent.mark()
            up.wait_for_requests(base + 20, label="flappy", endpoint="models", timeout=20)
            # and Alertmanager has seen the agent's latest word on it
            self.wait_pushes(agent, 2)
            # The key really flapped: the classifier moved it both ways, again and again.
            transitions = [l for l in agent.lines[mark:]
                           if "flappy" in l and ("key recovered" in l or "key failing" in l)]
            self.assertGreaterEqual(len(transitions), 4, "the key did not flap:\n" + "\n".join(transitions))
            for a in self.am.alerts(AUTH, "flappy"):
                starts.add(a["startsAt"])
            self.assertEqual(len(starts), 1, starts)
            self.assertEqual(len(self.receiver.notifications(AUTH, "flappy", "firing")), 1,
                             [d for d in self.receiver.docs()])
            self.assertEqual(self.receiver.notifications(AUTH, "flappy", "resolved"), [])
            self.assertEqual(agent.stop(), 0)

    def test_restart_keeps_startsat_and_does_not_renotify(self):
        """Scenario 5: SIGTERM while an alert fires, start again on the same database: the
        agent re-sends the same alert with the same startsAt (seen by a recording stand-in
        Alertmanager as well as the real one), never resolves it meanwhile, and no new
        notification goes out. The failing key is probed last (5 s spread), so the first
        judgements after the restart run before it has been probed again."""
        sniff = Recorder()
        self.addCleanup(sniff.close)
        sc = self.scenario({"prod": "auth_invalid", "staging": "ok"})
        with harness.FakeUpstream(sc) as up:
            cfg = self.config(up, ["staging", "prod"], interval="5s", extra_alertmanagers=[sniff.url])
            agent = self.start_agent(cfg)
            self.wait_notified(AUTH, "prod", agent=agent)
            first = self.am.alerts(AUTH, "prod")
            self.assertEqual(len(first), 1)
            starts = first[0]["startsAt"]
            harness.wait_until(lambda: any(p["labels"].get("alertname") == AUTH for p in sniff.pushes()),
                               10, message="the stand-in Alertmanager got nothing")
            sent_starts = {p["startsAt"] for p in sniff.pushes() if p["labels"].get("alertname") == AUTH}
            self.assertEqual(len(sent_starts), 1, sent_starts)
            self.assertAlmostEqual(parse_time(next(iter(sent_starts))), parse_time(starts), delta=0.002)
            self.assertEqual(agent.stop(), 0)

            n_before = len(sniff.pushes())
            agent2 = self.start_agent(cfg)
            agent2.wait_for_log(r"alerts restored", timeout=10)
            # The new process's pushes reach both; then a few more for Alertmanager to settle.
            harness.wait_until(lambda: any(p["labels"].get("alertname") == AUTH
                                           for p in sniff.pushes()[n_before:]),
                               15, message="no push after the restart")
            # Ready: every key has been probed again; then the judgements that move alerts.
            agent2.wait_for_http("http://127.0.0.1:%d/-/ready" % self.listen_port, timeout=15)
            self.wait_pushes(agent2, 2)
            after = [p for p in sniff.pushes()[n_before:] if p["labels"].get("alertname") == AUTH]
            self.assertEqual({p["startsAt"] for p in after}, sent_starts,
                             "startsAt changed across the restart")
            self.assertEqual([p for p in after if p["_resolved"]], [],
                             "the restored alert was resolved before its key was probed again")
            now_am = self.am.alerts(AUTH, "prod")
            self.assertEqual(len(now_am), 1)
            self.assertEqual(now_am[0]["startsAt"], starts)
            self.assertEqual(len(self.receiver.notifications(AUTH, "prod", "firing")), 1,
                             self.receiver.docs())
            self.assertEqual(self.receiver.notifications(AUTH, "prod", "resolved"), [])
            self.assertEqual(agent2.stop(), 0)


if __name__ == "__main__":
    unittest.main()
