"""The /metrics exposition against the real Prometheus tools.

tests/exporters/metrics_demo (CLAUDEMON_METRICS_DEMO) fills the metrics registry with keys in
several causes and serves it through httpd; this file checks what it serves with:
  - `promtool check metrics` (Debian package prometheus): no complaint at all;
  - python3-prometheus-client's text parser: every family and sample parses back, label
    values unescape to the configured names;
  - a real Prometheus server on loopback (its own config and data dir) that scrapes the demo
    over plain HTTP and over TLS with basic auth, until PromQL sees
    claudemon_key_cause{key="bad",cause="auth_invalid"} == 1;
and checks that nothing key- or URL-shaped is ever exposed.

Waiting is always polling an observable event (a port printed, a target up, a query result)
until a deadline, never a fixed sleep.
"""

import atexit
import http.client
import json
import os
import re
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

try:
    from prometheus_client.parser import text_string_to_metric_families
except ImportError:  # python3-prometheus-client is installed for Debian's own python3
    sys.path.append("/usr/lib/python3/dist-packages")
    from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[2]
DEMO = os.environ.get("CLAUDEMON_METRICS_DEMO") or str(REPO / "build" / "tests" / "metrics_demo")
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DEMO_SECRET = "sk-ant-api03-DEMOdemoDEMOdemoDEMOdemoDEMOdemoDEMOdemo-AA"

_children = []


def _kill_children():
    for p in _children:
        if p.poll() is None:
            p.kill()


atexit.register(_kill_children)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what, fn, timeout=60.0, every=0.1):
    """Polls fn until it returns a true value; fails with `what` at the deadline."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            v = fn()
            if v:
                return v
        except (OSError, urllib.error.URLError, ValueError) as e:
            last = e
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what} (last error: {last})")


class Demo:
    """metrics_demo as a child process; .port is the port it printed."""

    def __init__(self, *args):
        self.proc = subprocess.Popen([DEMO, *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        _children.append(self.proc)
        ready, _, _ = select.select([self.proc.stdout], [], [], 30)
        line = self.proc.stdout.readline() if ready else ""
        if not line.strip().isdigit():
            self.proc.kill()
            raise AssertionError(f"metrics_demo printed no port: {line!r} "
                                 f"{self.proc.stderr.read()}")
        self.port = int(line)

    def stop(self):
        """SIGTERM; returns (exit status, stderr)."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            _, err = self.proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return self.proc.returncode, err


def fetch(url, context=None, auth=None, method="GET"):
    req = urllib.request.Request(url, method=method)
    if auth:
        import base64
        req.add_header("Authorization",
                       "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=10, context=context) as r:
            return r.status, r.headers, r.read().decode("utf-8")
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode("utf-8", "replace")


def assert_nothing_secret(test, text, values=None):
    """No key, no fragment of the demo's secret, no URL in text; and no label value (from
    the exposition text, or given) that looks like a long opaque token."""
    test.assertNotIn("sk-ant", text)
    test.assertNotIn(DEMO_SECRET[13:33], text)
    test.assertNotIn("://", text)
    test.assertNotIn("hooks.example.com", text)
    if values is None:
        values = re.findall(r'="((?:[^"\\]|\\.)*)"', text)
    test.assertTrue(values)
    for value in values:
        test.assertIsNone(re.search(r"[A-Za-z0-9_-]{40,}", value), value)


@unittest.skipUnless(os.path.exists(DEMO), "metrics_demo not built")
class MetricsToolsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="claudemon-metrics-")
        cls.demo = Demo()
        status, headers, body = fetch(f"http://127.0.0.1:{cls.demo.port}/metrics")
        assert status == 200, status
        cls.headers, cls.body = headers, body

    @classmethod
    def tearDownClass(cls):
        code, err = cls.demo.stop()
        cls.tmp.cleanup()
        # The demo exits 0 only when uv_loop_close() returned 0 after httpd_close().
        assert code == 0, f"metrics_demo exited {code}: {err}"
        assert DEMO_SECRET not in err

    def test_content_type_and_head(self):
        self.assertEqual(self.headers["Content-Type"], CONTENT_TYPE)
        status, headers, body = fetch(f"http://127.0.0.1:{self.demo.port}/metrics", method="HEAD")
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], CONTENT_TYPE)
        self.assertEqual(body, "")
        self.assertEqual(fetch(f"http://127.0.0.1:{self.demo.port}/-/ready")[0], 200)
        self.assertEqual(fetch(f"http://127.0.0.1:{self.demo.port}/-/healthy")[0], 200)

    def test_promtool_check_metrics(self):
        for args in ([], ["--minimal"]):
            body = self.body
            if args:
                d = Demo(*args)
                try:
                    status, _, body = fetch(f"http://127.0.0.1:{d.port}/metrics")
                    self.assertEqual(status, 200)
                finally:
                    self.assertEqual(d.stop()[0], 0)
            r = subprocess.run([PROMTOOL, "check", "metrics"], input=body, text=True,
                               capture_output=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertEqual((r.stdout + r.stderr).strip(), "", "promtool complained")

    def test_python_parser(self):
        families = {f.name: f for f in text_string_to_metric_families(self.body)}
        # The parser strips _total from counter family names.
        expect = {
            "claudemon_key_up": "gauge", "claudemon_key_failing": "gauge",
            "claudemon_key_cause": "gauge",
            "claudemon_key_failing_since_timestamp_seconds": "gauge",
            "claudemon_key_last_probe_timestamp_seconds": "gauge",
            "claudemon_probes": "counter", "claudemon_probe_duration_seconds": "histogram",
            "claudemon_ratelimit_limit": "gauge", "claudemon_ratelimit_remaining": "gauge",
            "claudemon_probe_tokens": "counter", "claudemon_status_page_up": "gauge",
            "claudemon_status_indicator": "gauge", "claudemon_status_component": "gauge",
            "claudemon_status_incidents": "gauge", "claudemon_verdict": "gauge",
            "claudemon_platform_incident": "gauge", "claudemon_detection_lead_seconds": "gauge",
            "claudemon_scheduler_lag_seconds": "histogram",
            "claudemon_storage_errors": "counter", "claudemon_storage_queue_length": "gauge",
            "claudemon_alerts_sent": "counter", "claudemon_build_info": "gauge",
            "process_cpu_seconds": "counter", "process_resident_memory_bytes": "gauge",
            "process_virtual_memory_bytes": "gauge", "process_open_fds": "gauge",
            "process_max_fds": "gauge", "process_start_time_seconds": "gauge",
        }
        for name, typ in expect.items():
            self.assertIn(name, families)
            self.assertEqual(families[name].type, typ, name)

        def samples(family):
            return [(s.name, s.labels, s.value) for s in families[family].samples]

        causes = {s[1]["key"]: s[1]["cause"] for s in samples("claudemon_key_cause")}
        self.assertEqual(causes["bad"], "auth_invalid")
        self.assertEqual(causes["prod"], "ok")
        self.assertEqual(causes['team "a\\b"'], "ok")  # escaped on the wire, exact here
        self.assertEqual(causes["edge eu-west"], "edge_error")
        self.assertEqual(causes["pasted-[REDACTED]"], "permission")
        self.assertTrue(all(v == 1 for _, _, v in samples("claudemon_key_cause")))
        up = {s[1]["key"]: s[2] for s in samples("claudemon_key_up")}
        self.assertEqual(up["prod"], 1)
        self.assertEqual(up["bad"], 0)
        # StateSets: one series per state, exactly one is 1.
        ind = {s[1]["indicator"]: s[2] for s in samples("claudemon_status_indicator")}
        self.assertEqual(sorted(ind), sorted(["none", "minor", "major", "critical",
                                              "maintenance", "unknown"]))
        self.assertEqual([k for k, v in ind.items() if v == 1], ["minor"])
        comp = samples("claudemon_status_component")
        self.assertEqual(len(comp), 6)  # one watched component, six states
        self.assertEqual([s[1]["status"] for s in comp if s[2] == 1], ["operational"])
        verdict = samples("claudemon_verdict")
        self.assertEqual(verdict, [("claudemon_verdict",
                                    {"scope": "local", "cause": "auth_invalid"}, 1.0)])
        build = samples("claudemon_build_info")[0][1]
        self.assertEqual(sorted(build), ["libcurl", "libuv", "sqlite", "version"])
        recv = {(s[1]["receiver"], s[1]["result"]): s[2] for s in samples("claudemon_alerts_sent")
                if s[0].endswith("_total")}
        self.assertEqual(recv[("alertmanager_0", "ok")], 1)
        self.assertEqual(recv[("webhook", "error")], 1)
        self.assertEqual(recv[("invalid", "ok")], 1)  # a URL given as a receiver name
        # No sample carries a timestamp.
        self.assertTrue(all(s.timestamp is None for f in families.values() for s in f.samples))

    def test_nothing_secret(self):
        assert_nothing_secret(self, self.body)

    def test_prometheus_scrapes(self):
        tmp = Path(self.tmp.name)
        # A second demo behind TLS and basic auth, as an exporter's web config would be.
        cert, key = tmp / "cert.pem", tmp / "key.pem"
        r = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                            "-keyout", str(key), "-out", str(cert), "-days", "1",
                            "-subj", "/CN=localhost",
                            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        pwfile = tmp / "password"
        pwfile.write_text("correct horse battery\n")
        secure = Demo("--tls", str(cert), str(key), "--auth", "prom", str(pwfile))
        try:
            ctx = ssl.create_default_context(cafile=str(cert))
            base = f"https://127.0.0.1:{secure.port}"
            self.assertEqual(fetch(base + "/metrics", ctx)[0], 401)
            self.assertEqual(fetch(base + "/metrics", ctx, ("prom", "wrong"))[0], 401)
            status, headers, body = fetch(base + "/metrics", ctx, ("prom", "correct horse battery"))
            self.assertEqual(status, 200)
            self.assertEqual(headers["Content-Type"], CONTENT_TYPE)
            self.assertIn('claudemon_key_cause{key="bad",cause="auth_invalid"} 1\n', body)
            with self.assertRaises((OSError, http.client.HTTPException)):  # plain HTTP to TLS
                urllib.request.urlopen(f"http://127.0.0.1:{secure.port}/metrics", timeout=10)
            self._scrape_with_prometheus(tmp, cert, pwfile, secure.port)
        finally:
            code, err = secure.stop()
            self.assertEqual(code, 0, err)
            self.assertNotIn("correct horse", err)

    def _scrape_with_prometheus(self, tmp, cert, pwfile, secure_port):
        port = free_port()
        (tmp / "prometheus.yml").write_text(textwrap.dedent(f"""\
            global:
              scrape_interval: 1s
              scrape_timeout: 1s
            scrape_configs:
              - job_name: plain
                static_configs: [{{targets: ["127.0.0.1:{self.demo.port}"]}}]
              - job_name: secure
                scheme: https
                tls_config: {{ca_file: "{cert}"}}
                basic_auth: {{username: prom, password_file: "{pwfile}"}}
                static_configs: [{{targets: ["127.0.0.1:{secure_port}"]}}]
            """))
        log = open(tmp / "prometheus.log", "w")
        prom = subprocess.Popen([PROMETHEUS, f"--config.file={tmp / 'prometheus.yml'}",
                                 f"--storage.tsdb.path={tmp / 'data'}",
                                 f"--web.listen-address=127.0.0.1:{port}"],
                                stdout=log, stderr=subprocess.STDOUT)
        _children.append(prom)
        api = f"http://127.0.0.1:{port}/api/v1"
        try:
            def targets_up():
                _, _, body = fetch(api + "/targets")
                active = json.loads(body)["data"]["activeTargets"]
                health = {t["labels"]["job"]: (t["health"], t["lastError"]) for t in active}
                if any(h == "down" for h, _ in health.values()):
                    raise ValueError(f"a target is down: {health}")
                return len(health) == 2 and all(h == "up" for h, _ in health.values())

            try:
                wait_for("both targets up", targets_up, timeout=120)
            except AssertionError:
                log.flush()
                raise AssertionError((tmp / "prometheus.log").read_text()[-3000:])

            def query(q):
                _, _, body = fetch(api + "/query?" + urllib.parse.urlencode({"query": q}))
                data = json.loads(body)
                self.assertEqual(data["status"], "success", body)
                return data["data"]["result"]

            for job in ("plain", "secure"):
                q = f'claudemon_key_cause{{job="{job}",key="bad",cause="auth_invalid"}} == 1'
                res = wait_for(f"{q} in Prometheus", lambda: query(q), timeout=60)
                self.assertEqual(len(res), 1)
                self.assertEqual(res[0]["value"][1], "1")
            # The escaped name arrives intact; up and StateSets are queryable.
            res = query('claudemon_key_up{job="plain",key="team \\"a\\\\b\\""}')
            self.assertEqual([r["value"][1] for r in res], ["1"])
            res = query('claudemon_status_indicator{job="plain"} == 1')
            self.assertEqual([r["metric"]["indicator"] for r in res], ["minor"])
            res = query('count(claudemon_key_failing{job="plain"} == 1)')
            self.assertEqual(res[0]["value"][1], "4")
            # Every label value Prometheus stored from us is free of secrets.
            _, _, series = fetch(api + "/series?" + urllib.parse.urlencode(
                {"match[]": '{__name__=~"claudemon_.+"}'}))
            values = [v for m in json.loads(series)["data"] for k, v in m.items()
                      if k != "__name__"]
            assert_nothing_secret(self, series, values)
        finally:
            prom.send_signal(signal.SIGTERM)
            try:
                prom.wait(timeout=30)
            except subprocess.TimeoutExpired:
                prom.kill()
                prom.wait()
            log.close()


if __name__ == "__main__":
    unittest.main()
