"""Self-test of the fake upstream and of the harness helpers.

    python3 -m unittest tests/fake_upstream/test_fake_upstream.py      (from the repo root)
"""

import email.utils
import http.client
import json
import os
import pathlib
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "lib"))
import harness  # noqa: E402

FAKE = str(pathlib.Path(__file__).resolve().parent / "fake_upstream.py")
REQ_ID = re.compile(r"^req_011C[1-9A-HJ-NP-Za-km-z]{20}$")
RFC3339_S = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
RFC3339_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
API_COMPONENT = "k8w3r06qmzrp"
ORG = "0d0e7a3b-52f1-4c7e-9a51-3f6f2f7c1b9e"
WS = "wrkspc_01JwQvzr7rXLA5AGx3HKfFUJ"
MSG_BODY = json.dumps({"model": "claude-haiku-4-5", "max_tokens": 1,
                       "messages": [{"role": "user", "content": "ping"}]})
K_PROD = harness.fake_key("prod")
K_DEV = harness.fake_key("dev")
K_OTHER = harness.fake_key("other")
ALL_KEYS = [K_PROD, K_DEV, K_OTHER]

PATHS = {"models": ("GET", "/v1/models?limit=1", None),
         "count_tokens": ("POST", "/v1/messages/count_tokens", MSG_BODY),
         "messages": ("POST", "/v1/messages", MSG_BODY)}


def base_scenario(**over):
    sc = {"default": "ok",
          "keys": {K_PROD: {"label": "prod", "org": ORG, "workspace": WS, "behaviour": "ok"},
                   K_DEV: {"label": "dev", "behaviour": "ok"}},
          "status_page": "operational"}
    sc.update(over)
    return sc


class FakeTestCase(unittest.TestCase):
    up = None

    @classmethod
    def setUpClass(cls):
        cls.up = harness.FakeUpstream(base_scenario()).start()

    @classmethod
    def tearDownClass(cls):
        cls.up.close()

    def setUp(self):
        self.up.set_scenario(base_scenario())
        self.up.reset_stats()

    def api(self, endpoint="models", key=K_PROD, version="2023-06-01", headers=None, conn=None):
        method, path, body = PATHS[endpoint]
        h = {"content-type": "application/json"}
        if key is not None:
            h["x-api-key"] = key
        if version is not None:
            h["anthropic-version"] = version
        h.update(headers or {})
        own = conn is None
        c = conn or http.client.HTTPConnection("127.0.0.1", self.up.api_port, timeout=10)
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            data = r.read()
            hdrs = {}
            for k, v in r.getheaders():
                hdrs[k.lower()] = v
            return r.status, hdrs, data
        finally:
            if own:
                c.close()

    def set_key(self, behaviour, key_label="prod"):
        self.up.set_key(key_label, behaviour)

    def raw(self, request_bytes, port=None, timeout=5):
        s = socket.create_connection(("127.0.0.1", port or self.up.api_port), timeout=timeout)
        s.sendall(request_bytes)
        return s

    def raw_api_request(self, endpoint="models", key=K_PROD):
        method, path, body = PATHS[endpoint]
        body = (body or "").encode()
        return (("%s %s HTTP/1.1\r\nHost: x\r\nx-api-key: %s\r\nanthropic-version: 2023-06-01\r\n"
                 "content-type: application/json\r\ncontent-length: %d\r\n\r\n" % (method, path, key, len(body)))
                .encode() + body)


# ------------------------------------------------------------------------------------------

class TestProcess(unittest.TestCase):
    def test_listening_line_and_clean_exit(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            p = subprocess.Popen([sys.executable, FAKE, "--port", "0", "--status-port", "0"],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                line = p.stdout.readline()
                self.assertRegex(line, r"^listening api_port=\d+ status_port=\d+\n$")
                api, st = [int(x.split("=")[1]) for x in line.split()[1:]]
                self.assertNotEqual(api, st)
                self.assertEqual(harness.http_get("http://127.0.0.1:%d/api/v2/summary.json" % st)[0], 200)
                p.send_signal(sig)
                self.assertEqual(p.wait(10), 0)
                self.assertEqual(p.stdout.read(), "")  # exactly one line on stdout
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait()
                p.stdout.close()
                p.stderr.close()

    def test_bad_scenario_exits_2(self):
        with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
            json.dump({"default": "no_such_behaviour"}, f)
            f.flush()
            r = subprocess.run([sys.executable, FAKE, "--scenario", f.name], capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 2)
        self.assertIn("no_such_behaviour", r.stderr)
        self.assertEqual(r.stdout, "")


class TestOk(FakeTestCase):
    def test_models(self):
        st, h, body = self.api("models")
        self.assertEqual(st, 200)
        d = json.loads(body)
        self.assertEqual(len(d["data"]), 1)
        m = d["data"][0]
        self.assertEqual(set(m), {"type", "id", "display_name", "created_at"})
        self.assertEqual(m["type"], "model")
        self.assertTrue(d["has_more"])
        self.assertEqual(d["first_id"], m["id"])
        self.assertEqual(d["last_id"], m["id"])
        self.assertRegex(h["request-id"], REQ_ID)
        self.assertEqual(h["anthropic-organization-id"], ORG)
        self.assertEqual(h["anthropic-workspace-id"], WS)
        self.assertEqual(h["content-type"], "application/json")
        self.assertEqual(int(h["content-length"]), len(body))
        for res in ("requests", "tokens", "input-tokens", "output-tokens"):
            self.assertGreater(int(h["anthropic-ratelimit-%s-limit" % res]), 0)
            self.assertGreater(int(h["anthropic-ratelimit-%s-remaining" % res]), 0)
            self.assertRegex(h["anthropic-ratelimit-%s-reset" % res], RFC3339_S)
        self.assertNotIn("retry-after", h)

    def test_count_tokens_and_messages(self):
        st, h, body = self.api("count_tokens")
        self.assertEqual(st, 200)
        self.assertEqual(json.loads(body), {"input_tokens": 8})
        st, h, body = self.api("messages")
        self.assertEqual(st, 200)
        d = json.loads(body)
        self.assertEqual(d["type"], "message")
        self.assertEqual(d["role"], "assistant")
        self.assertEqual(d["model"], "claude-haiku-4-5-20251001")
        self.assertEqual(d["stop_reason"], "max_tokens")
        self.assertRegex(d["id"], r"^msg_01")
        self.assertEqual(d["usage"]["input_tokens"], 8)
        self.assertEqual(d["usage"]["output_tokens"], 1)
        self.assertIn("anthropic-ratelimit-tokens-remaining", h)

    def test_params_tokens_and_ratelimit_override(self):
        self.set_key({"name": "ok", "input_tokens": 12, "output_tokens": 1,
                      "ratelimit": {"requests": {"limit": 50, "remaining": 2}, "input_tokens": None}})
        st, h, body = self.api("messages")
        self.assertEqual(json.loads(body)["usage"]["input_tokens"], 12)
        self.assertEqual(h["anthropic-ratelimit-requests-remaining"], "2")
        self.assertNotIn("anthropic-ratelimit-input-tokens-limit", h)
        self.set_key({"name": "ok", "ratelimit": False})
        st, h, body = self.api("models")
        self.assertFalse([k for k in h if k.startswith("anthropic-ratelimit")])

    def test_default_org_and_no_workspace(self):
        st, h, _ = self.api("models", key=K_DEV)
        self.assertEqual(st, 200)
        self.assertRegex(h["anthropic-organization-id"], r"^[0-9a-f-]{36}$")
        self.assertNotIn("anthropic-workspace-id", h)

    def test_invalid_body_is_400(self):
        c = http.client.HTTPConnection("127.0.0.1", self.up.api_port, timeout=5)
        c.request("POST", "/v1/messages", body='{"model":"x","messages":[]}',
                  headers={"x-api-key": K_PROD, "anthropic-version": "2023-06-01"})
        r = c.getresponse()
        d = json.loads(r.read())
        c.close()
        self.assertEqual(r.status, 400)
        self.assertEqual(d["error"]["message"], "max_tokens: Field required")

    def test_gzip(self):
        self.up.patch_scenario({"gzip": True})
        st, h, body = self.api("models", headers={"accept-encoding": "gzip"})
        self.assertEqual(h.get("content-encoding"), "gzip")
        import gzip
        self.assertIn("data", json.loads(gzip.decompress(body)))


class TestApiChecks(FakeTestCase):
    def test_missing_key(self):
        st, h, body = self.api(key=None)
        self.assertEqual(st, 401)
        d = json.loads(body)
        self.assertEqual(d["error"], {"type": "authentication_error", "message": "x-api-key header is required"})
        self.assertEqual(d["request_id"], h["request-id"])
        self.assertNotIn("anthropic-organization-id", h)

    def test_bearer(self):
        st, h, body = self.api(key=None, headers={"authorization": "Bearer " + K_PROD})
        self.assertEqual(st, 401)
        self.assertEqual(json.loads(body)["error"]["message"], "OAuth authentication is currently not supported.")
        req = self.up.requests(1)[0]
        self.assertEqual(req["label"], "prod")
        self.assertEqual(req["headers"]["authorization"], "Bearer prod")

    def test_missing_version(self):
        st, h, body = self.api(version=None)
        self.assertEqual(st, 400)
        self.assertEqual(json.loads(body)["error"]["message"], "anthropic-version: header is required")

    def test_duplicate_version_header(self):
        s = self.raw(b"GET /v1/models?limit=1 HTTP/1.1\r\nHost: x\r\nx-api-key: " + K_PROD.encode() +
                     b"\r\nanthropic-version: 2023-06-01\r\nanthropic-version: 2023-06-01\r\nconnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
        self.assertTrue(data.startswith(b"HTTP/1.1 400 "))
        body = json.loads(data.split(b"\r\n\r\n", 1)[1])
        self.assertEqual(body["error"]["message"], 'anthropic-version: "2023-06-01, 2023-06-01" is not a valid version')

    def test_unknown_key_and_default(self):
        st, _, _ = self.api(key=K_OTHER)
        self.assertEqual(st, 200)  # default
        self.up.patch_scenario({"unknown_key": "auth_invalid"})
        st, h, body = self.api(key=K_OTHER)
        self.assertEqual(st, 401)
        self.assertEqual(self.up.requests(1)[0]["label"], "unknown")
        self.assertEqual(self.api(key=K_PROD)[0], 200)

    def test_unknown_path(self):
        status, _, body = harness.http_get(self.up.api_url + "/v1/nope")
        self.assertEqual(status, 404)
        self.assertEqual(json.loads(body)["error"]["type"], "not_found_error")


ERROR_CASES = {
    # name: (status, error.type, message (exact or regex), details)
    "auth_invalid": (401, "authentication_error", "invalid x-api-key", None),
    "permission": (403, "permission_error", None, None),
    "billing": (402, "billing_error", None, None),
    "credit_low": (400, "invalid_request_error",
                   "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing "
                   "to upgrade or purchase credits.", None),
    "usage_limit": (400, "invalid_request_error",
                    "You have reached your specified API usage limits. You will regain access on 2026-12-01 "
                    "at 00:00 UTC.", None),
    "spend_limit": (429, "rate_limit_error", None, {"error_code": "enforced_spend_limit_reached"}),
    "account_disabled": (400, "invalid_request_error", "This organization has been disabled.", None),
    "rate_limited": (429, "rate_limit_error", None, None),
    "model_not_found": (404, "not_found_error", "model: claude-haiku-4-5", None),
    "bad_version": (400, "invalid_request_error", 'anthropic-version: "2023-06-01" is not a valid version', None),
    "too_large": (413, "request_too_large", None, None),
    "overloaded": (529, "overloaded_error", "Overloaded", None),
    "server_error": (500, "api_error", "Internal server error", None),
    "gateway_timeout": (504, "timeout_error", None, None),
    "unknown_error_type": (418, None, None, None),
}
KNOWN_TYPES = {"invalid_request_error", "authentication_error", "permission_error", "not_found_error",
               "request_too_large", "rate_limit_error", "api_error", "overloaded_error", "billing_error",
               "timeout_error"}


class TestErrors(FakeTestCase):
    def test_error_behaviours(self):
        for name, (status, etype, message, details) in ERROR_CASES.items():
            with self.subTest(name):
                self.set_key(name)
                st, h, body = self.api("messages")
                self.assertEqual(st, status)
                d = json.loads(body)
                self.assertEqual(d["type"], "error")
                self.assertEqual(set(d), {"type", "error", "request_id"})
                if etype:
                    self.assertEqual(d["error"]["type"], etype)
                else:
                    self.assertNotIn(d["error"]["type"], KNOWN_TYPES)
                if message:
                    self.assertEqual(d["error"]["message"], message)
                else:
                    self.assertTrue(d["error"]["message"])
                self.assertEqual(d["error"].get("details"), details)
                self.assertRegex(h["request-id"], REQ_ID)
                self.assertEqual(d["request_id"], h["request-id"])
                self.assertEqual(h["content-type"], "application/json")
                if name == "auth_invalid":
                    self.assertNotIn("anthropic-organization-id", h)
                else:
                    self.assertEqual(h["anthropic-organization-id"], ORG)
                has_rl = "anthropic-ratelimit-requests-limit" in h
                self.assertEqual(has_rl, status == 429, "ratelimit headers only on 200/429")

    def test_rate_limited_retry_after(self):
        self.set_key("rate_limited")
        st, h, body = self.api()
        self.assertEqual(h["retry-after"], "30")
        self.assertEqual(h["anthropic-ratelimit-requests-remaining"], "0")
        self.assertEqual(h["x-should-retry"], "true")
        self.set_key({"name": "rate_limited", "retry_after": 7, "resource": "input_tokens"})
        st, h, body = self.api()
        self.assertEqual(h["retry-after"], "7")
        self.assertEqual(h["anthropic-ratelimit-input-tokens-remaining"], "0")
        self.assertNotEqual(h["anthropic-ratelimit-requests-remaining"], "0")
        self.set_key({"name": "rate_limited", "retry_after": None})
        st, h, body = self.api()
        self.assertEqual(st, 429)
        self.assertNotIn("retry-after", h)

    def test_body_request_id_variants(self):
        self.set_key({"name": "auth_invalid", "body_request_id": "missing"})
        st, h, body = self.api()
        self.assertEqual(json.loads(body), {"type": "error", "error": {"type": "authentication_error",
                                                                      "message": "invalid x-api-key"}})
        self.set_key({"name": "overloaded", "body_request_id": "null"})
        self.assertIsNone(json.loads(self.api()[2])["request_id"])

    def test_model_not_found_on_models_endpoint_and_overrides(self):
        self.set_key({"name": "model_not_found", "model": "claude-3-5-sonnet-latest"})
        self.assertEqual(json.loads(self.api("models")[2])["error"]["message"], "model: claude-3-5-sonnet-latest")
        self.set_key({"name": "unknown_error_type", "status": 400, "error_type": "brand_new_error",
                      "message": "new", "headers": {"x-extra": "1"}})
        st, h, body = self.api()
        self.assertEqual((st, json.loads(body)["error"]["type"], h["x-extra"]), (400, "brand_new_error", "1"))


class TestEdgeAndTransport(FakeTestCase):
    def assert_edge(self, h):
        self.assertNotIn("request-id", h)
        self.assertNotIn("anthropic-organization-id", h)
        self.assertEqual(h["server"], "cloudflare")
        self.assertRegex(h["cf-ray"], r"^[0-9a-f]{16}-[A-Z]{3}$")

    def test_edge_pages(self):
        for name, status, needle in (("edge_502", 502, b"<center>cloudflare</center>"),
                                     ("edge_503", 503, b"503 Service Temporarily Unavailable"),
                                     ("edge_520", 520, b"520: Web server is returning an unknown error"),
                                     ("edge_403", 403, b"Sorry, you have been blocked")):
            with self.subTest(name):
                self.set_key(name)
                st, h, body = self.api("messages")
                self.assertEqual(st, status)
                self.assertIn(needle, body)
                self.assertTrue(h["content-type"].startswith("text/html"))
                self.assert_edge(h)
        self.set_key("edge_502")
        self.assertEqual(self.api()[2], b"<html>\n<head><title>502 Bad Gateway</title></head>\n<body>\n"
                         b"<center><h1>502 Bad Gateway</h1></center>\n<hr><center>cloudflare</center>\n"
                         b"</body>\n</html>\n")
        # an edge answer does not care about the key or version
        self.assertEqual(self.api(key=K_PROD, version=None)[0], 502)

    def test_edge_403_json(self):
        self.set_key("edge_403_json")
        st, h, body = self.api()
        self.assertEqual(st, 403)
        self.assertEqual(json.loads(body), {"error": {"type": "forbidden", "message": "Request not allowed"}})
        self.assertEqual(h.get("transfer-encoding"), "chunked")
        self.assert_edge(h)

    def test_garbage_and_other_json(self):
        self.set_key("garbage_200")
        st, h, body = self.api()
        self.assertEqual(st, 200)
        self.assertRaises(ValueError, json.loads, body)
        self.assertIn("request-id", h)
        self.set_key("other_json_200")
        st, h, body = self.api()
        d = json.loads(body)
        self.assertEqual(st, 200)
        self.assertNotIn("data", d)
        self.assertNotIn("type", d)

    def test_truncated(self):
        self.set_key("truncated")
        c = http.client.HTTPConnection("127.0.0.1", self.up.api_port, timeout=5)
        c.request("GET", "/v1/models?limit=1", headers={"x-api-key": K_PROD, "anthropic-version": "2023-06-01"})
        r = c.getresponse()
        self.assertEqual(r.status, 200)
        with self.assertRaises(http.client.IncompleteRead):
            r.read()
        c.close()

    def test_oversized(self):
        self.set_key("oversized")
        t0 = time.monotonic()
        st, h, body = self.api("models")
        self.assertEqual(st, 200)
        self.assertEqual(len(body), int(h["content-length"]))
        self.assertGreaterEqual(len(body), 10 * 1024 * 1024 - 200)
        self.assertLessEqual(len(body), 10 * 1024 * 1024)
        self.assertIn("data", json.loads(body))
        self.assertLess(time.monotonic() - t0, 5)
        self.set_key({"name": "oversized", "size": 100000})
        self.assertIn("content", json.loads(self.api("messages")[2]))

    def test_endless(self):
        self.set_key({"name": "endless", "interval": 0.005})
        s = self.raw(self.raw_api_request())
        data = b""
        while len(data) < 64 * 1024:
            chunk = s.recv(65536)
            self.assertTrue(chunk, "the fake ended an endless body")
            data += chunk
        head = data.split(b"\r\n\r\n", 1)[0].lower()
        self.assertIn(b"transfer-encoding: chunked", head)
        self.assertNotIn(b"content-length", head)
        self.assertNotIn(b"\r\n0\r\n\r\n", data)
        s.close()
        self.up.wait_for_stats(lambda st: st["open_connections"] == 0, timeout=5)

    def test_slow(self):
        self.set_key({"name": "slow", "delay": 0.3})
        t0 = time.monotonic()
        st, _, _ = self.api()
        self.assertEqual(st, 200)
        self.assertGreaterEqual(time.monotonic() - t0, 0.3)
        self.set_key({"name": "server_error", "delay": 0.2})
        t0 = time.monotonic()
        self.assertEqual(self.api()[0], 500)
        self.assertGreaterEqual(time.monotonic() - t0, 0.2)

    def test_hang(self):
        self.set_key("hang")
        s = self.raw(self.raw_api_request(), timeout=0.3)
        self.assertRaises(socket.timeout, s.recv, 1)
        self.up.wait_for_stats(lambda st: st["open_connections"] == 1, timeout=5)
        s.close()  # the fake lets go when the client goes away
        self.up.wait_for_stats(lambda st: st["open_connections"] == 0, timeout=5)
        self.set_key({"name": "hang", "timeout": 0.2})  # ... or after its timeout
        s = self.raw(self.raw_api_request(), timeout=5)
        self.assertEqual(s.recv(1), b"")
        s.close()

    def test_reset(self):
        self.set_key("reset")
        s = self.raw(self.raw_api_request())
        with self.assertRaises(ConnectionResetError):
            s.recv(1)
            s.recv(1)
        s.close()

    def test_close(self):
        self.set_key("close")
        s = self.raw(self.raw_api_request())
        self.assertEqual(s.recv(1), b"")
        s.close()

    def test_raw(self):
        self.set_key({"name": "raw", "status": 302, "headers": {"location": "https://example.invalid/"},
                      "body": "moved"})
        st, h, body = self.api()
        self.assertEqual((st, h["location"], body), (302, "https://example.invalid/", b"moved"))
        self.assertNotIn("request-id", h)


class TestScenario(FakeTestCase):
    def test_cycle_per_key_and_endpoint(self):
        self.set_key(["ok", "server_error", {"name": "rate_limited", "retry_after": 1}])
        self.assertEqual([self.api("models")[0] for _ in range(4)], [200, 500, 429, 200])
        self.assertEqual(self.api("count_tokens")[0], 200)  # its own cycle
        self.assertEqual(self.api("models", key=K_DEV)[0], 200)

    def test_per_endpoint_override(self):
        self.up.set_key("prod", "ok", messages="credit_low")
        self.assertEqual(self.api("models")[0], 200)
        self.assertEqual(self.api("count_tokens")[0], 200)
        self.assertEqual(self.api("messages")[0], 400)

    def test_patch_merges(self):
        self.up.patch_scenario({"keys": {K_PROD: {"models": "permission"}}})
        st, h, _ = self.api("models")
        self.assertEqual(st, 403)
        self.assertEqual(h["anthropic-organization-id"], ORG)  # org kept by the merge
        self.up.patch_scenario({"keys": {K_PROD: {"models": None}}})  # null deletes
        self.assertEqual(self.api("models")[0], 200)
        self.up.patch_scenario({"keys": {K_OTHER: {"label": "other", "behaviour": "billing"}}})
        self.assertEqual(self.api(key=K_OTHER)[0], 402)

    def test_bad_scenarios_rejected(self):
        for bad in ({"default": "nope"}, {"keys": {K_PROD: {"behaviour": {"delay": 1}}}},
                    {"status_page": "sideways"}, {"keys": {K_PROD: {"behaviour": []}}}):
            with self.assertRaises(AssertionError):
                self.up.set_scenario(bad)
        with self.assertRaises(AssertionError):
            self.up.patch_scenario({"labels": {"nobody": {"behaviour": "ok"}}})
        self.assertEqual(self.api()[0], 200)  # the old scenario stays

    def test_get_scenario_is_redacted(self):
        status, _, body = harness.http_get(self.up.api_url + "/_fake/scenario")
        self.assertEqual(status, 200)
        harness.assert_no_secret(self, body, ALL_KEYS)
        self.assertIn(b"<key:prod>", body)


class TestStatusPage(FakeTestCase):
    def summary(self, url=None, headers=None):
        st, h, body = harness.http_get(url or self.up.status_url, headers=headers)
        return st, h, body

    def comp(self, d, cid=API_COMPONENT):
        return next(c for c in d["components"] if c["id"] == cid)

    def test_operational(self):
        st, h, body = self.summary()
        self.assertEqual(st, 200)
        self.assertTrue(h["content-type"].startswith("application/json"))
        d = json.loads(body)
        self.assertEqual(d["status"], {"indicator": "none", "description": "All Systems Operational"})
        self.assertEqual(len(d["components"]), 6)
        self.assertEqual(self.comp(d)["name"], "Claude API (api.anthropic.com)")
        self.assertEqual(self.comp(d)["status"], "operational")
        self.assertEqual((d["incidents"], d["scheduled_maintenances"]), ([], []))
        self.assertRegex(d["page"]["updated_at"], RFC3339_MS)
        # also served on the API port
        self.assertEqual(json.loads(self.summary(self.up.status_url_on_api_port)[2]), d)
        # status.json
        st, _, body = harness.http_get(self.up.status_base + "/api/v2/status.json")
        self.assertEqual(set(json.loads(body)), {"page", "status"})

    def test_degraded(self):
        self.up.set_status_page("degraded")
        d = json.loads(self.summary()[2])
        self.assertEqual(self.comp(d)["status"], "degraded_performance")
        self.assertEqual(d["status"]["indicator"], "minor")
        self.assertEqual(len(d["incidents"]), 1)

    def test_major_outage(self):
        self.up.set_status_page({"name": "major_outage", "incident_created_at": "2026-11-28T06:00:01.123Z",
                                 "incident_updated_at": -5})
        d = json.loads(self.summary()[2])
        self.assertEqual(self.comp(d)["status"], "major_outage")
        self.assertIn(d["status"]["indicator"], ("major", "critical"))
        (inc,) = d["incidents"]
        self.assertEqual(inc["impact"], "major")
        self.assertIsNone(inc["resolved_at"])
        self.assertTrue(inc["shortlink"].startswith("https://stspg.io/"))
        self.assertEqual(inc["created_at"], "2026-11-28T06:00:01.123Z")
        self.assertRegex(inc["updated_at"], RFC3339_MS)
        upd_age = time.time() - email.utils.parsedate_to_datetime(
            time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.strptime(inc["updated_at"][:19], "%Y-%m-%dT%H:%M:%S"))
        ).timestamp()
        self.assertTrue(0 <= upd_age < 30, upd_age)
        codes = [a["code"] for u in inc["incident_updates"] for a in u["affected_components"]]
        self.assertIn(API_COMPONENT, codes)
        self.assertEqual([c["id"] for c in inc["components"]], [API_COMPONENT])
        self.up.set_status_page({"name": "major_outage", "indicator": "critical"})
        self.assertEqual(json.loads(self.summary()[2])["status"]["indicator"], "critical")

    def test_partial_other_component(self):
        self.up.set_status_page("partial_other_component")
        d = json.loads(self.summary()[2])
        self.assertEqual(self.comp(d)["status"], "operational")
        (inc,) = d["incidents"]
        self.assertNotIn(API_COMPONENT, [c["id"] for c in inc["components"]])
        self.assertEqual(self.comp(d, "rwppv331jlwc")["status"], "partial_outage")

    def test_maintenance(self):
        self.up.set_status_page("maintenance")
        d = json.loads(self.summary()[2])
        self.assertEqual(self.comp(d)["status"], "under_maintenance")
        self.assertEqual(d["status"]["indicator"], "maintenance")
        (m,) = d["scheduled_maintenances"]
        self.assertEqual(m["status"], "in_progress")
        self.assertEqual(m["components"][0]["id"], API_COMPONENT)
        self.assertEqual(d["incidents"], [])

    def test_unknown_enum(self):
        self.up.set_status_page("unknown_enum")
        d = json.loads(self.summary()[2])
        self.assertNotIn(self.comp(d)["status"], ("operational", "degraded_performance", "partial_outage",
                                                  "major_outage", "under_maintenance"))
        self.assertNotIn(d["status"]["indicator"], ("none", "minor", "major", "critical", "maintenance"))

    def test_broken_pages(self):
        self.up.set_status_page("garbage")
        st, _, body = self.summary()
        self.assertEqual(st, 200)
        self.assertRaises(ValueError, json.loads, body)
        self.up.set_status_page("truncated_json")
        st, _, body = self.summary()
        self.assertEqual(st, 200)
        self.assertTrue(body.startswith(b'{"page"'))
        self.assertRaises(ValueError, json.loads, body)
        self.up.set_status_page("not_found")
        st, h, body = self.summary()
        self.assertEqual(st, 404)
        self.assertTrue(h["content-type"].startswith("text/html"))
        self.up.set_status_page("server_error")
        self.assertEqual(self.summary()[0], 503)

    def test_slow_hang_reset(self):
        self.up.set_status_page({"name": "slow", "delay": 0.3, "then": "degraded"})
        t0 = time.monotonic()
        d = json.loads(self.summary()[2])
        self.assertGreaterEqual(time.monotonic() - t0, 0.3)
        self.assertEqual(d["status"]["indicator"], "minor")
        self.up.set_status_page("hang")
        with self.assertRaises(socket.timeout):
            harness.http_get(self.up.status_url, timeout=0.3)
        self.up.set_status_page("reset")
        with self.assertRaises(ConnectionResetError):
            harness.http_get(self.up.status_url)

    def test_down_and_back(self):
        # a keep-alive connection to the status port, open before it goes down
        c = http.client.HTTPConnection("127.0.0.1", self.up.status_port, timeout=5)
        c.request("GET", "/api/v2/summary.json")
        c.getresponse().read()
        self.up.set_status_page("down")
        self.assertEqual(self.up.stats()["status_listener"], "down")
        with self.assertRaises(ConnectionRefusedError):
            harness.http_get(self.up.status_url)
        with self.assertRaises((ConnectionError, http.client.HTTPException, OSError)):
            c.request("GET", "/api/v2/summary.json")
            c.getresponse().read()
        c.close()
        # the API port is unaffected; its copy of the page drops the connection
        self.assertEqual(self.api()[0], 200)
        with self.assertRaises((ConnectionError, http.client.HTTPException)):
            harness.http_get(self.up.status_url_on_api_port)
        self.up.set_status_page("operational")
        self.assertEqual(self.summary()[0], 200)  # same port again
        self.assertEqual(self.up.stats()["status_listener"], "up")

    def test_conditional_requests(self):
        st, h, body = self.summary()
        etag, lm = h["etag"], h["last-modified"]
        self.assertEqual(self.summary(headers={"if-none-match": etag})[0], 304)
        self.assertEqual(self.summary(headers={"if-modified-since": lm})[0], 304)
        st, h304, body304 = self.summary(headers={"if-none-match": etag})
        self.assertEqual((body304, h304["etag"]), (b"", etag))
        self.assertEqual(self.summary(headers={"if-none-match": '"other"'})[0], 200)
        # same scenario set again: nothing changes
        self.up.patch_scenario({"status_page": "operational", "default": "ok"})
        self.assertEqual(self.summary(headers={"if-none-match": etag})[0], 304)
        # the scenario changes: new body, new ETag, later Last-Modified
        self.up.set_status_page("major_outage")
        st, h2, body2 = self.summary(headers={"if-none-match": etag, "if-modified-since": lm})
        self.assertEqual(st, 200)
        self.assertNotEqual(h2["etag"], etag)
        self.assertGreater(email.utils.parsedate_to_datetime(h2["last-modified"]),
                           email.utils.parsedate_to_datetime(lm))
        self.assertEqual(self.summary(headers={"if-modified-since": lm})[0], 200)
        self.assertEqual(self.summary(headers={"if-modified-since": h2["last-modified"]})[0], 304)
        self.assertEqual(self.summary()[2], body2)  # stable while the scenario stays

    def test_status_cycle(self):
        self.up.set_status_page(["operational", "major_outage"])
        inds = [json.loads(self.summary()[2])["status"]["indicator"] for _ in range(3)]
        self.assertEqual(inds, ["none", "major", "none"])


class TestCountingAndControl(FakeTestCase):
    def test_keep_alive_counts_one_connection(self):
        c = http.client.HTTPConnection("127.0.0.1", self.up.api_port, timeout=5)
        for ep in ("models", "count_tokens", "messages", "models", "models"):
            self.assertEqual(self.api(ep, conn=c)[0], 200)
        sc = http.client.HTTPConnection("127.0.0.1", self.up.status_port, timeout=5)
        for _ in range(3):
            sc.request("GET", "/api/v2/summary.json")
            sc.getresponse().read()
        s = self.up.stats()
        self.assertEqual(s["connections"]["api"], 1)
        self.assertEqual(s["connections"]["status"], 1)
        self.assertEqual(s["open_connections"], 2)
        self.assertEqual(s["requests"]["total"], 8)
        self.assertEqual(s["requests"]["by_endpoint"], {"models": 3, "count_tokens": 1, "messages": 1, "status": 3})
        self.assertEqual(s["requests"]["by_label"], {"prod": 5, "status": 3})
        self.assertEqual(s["requests"]["by_behaviour"], {"ok": 5, "status:operational": 3})
        self.assertEqual(s["requests"]["by_label_endpoint"]["prod"]["models"], 3)
        reqs = self.up.requests(10)
        self.assertEqual(len({r["conn"] for r in reqs if r["port"] == "api"}), 1)
        c.close()
        sc.close()
        self.up.wait_for_stats(lambda st: st["open_connections"] == 0, timeout=5)
        self.up.reset_stats()
        s = self.up.stats()
        self.assertEqual((s["connections"]["api"], s["requests"]["total"]), (0, 0))
        self.assertEqual(self.up.requests(10), [])

    def test_requests_log_never_has_keys(self):
        self.api("messages", headers={"x-custom": "copy " + K_PROD})
        self.api("models", key=K_OTHER)
        self.api("models", key=K_DEV, headers={"authorization": "Bearer " + K_DEV})
        reqs = self.up.requests(3)
        self.assertEqual([r["label"] for r in reqs], ["prod", "unknown", "dev"])
        r0 = reqs[0]
        self.assertEqual(r0["method"], "POST")
        self.assertEqual(r0["path"], "/v1/messages")
        self.assertEqual(r0["headers"]["x-api-key"], "prod")
        self.assertEqual(r0["headers"]["anthropic-version"], "2023-06-01")
        self.assertEqual(r0["body_size"], len(MSG_BODY))
        self.assertEqual(json.loads(r0["body"])["max_tokens"], 1)
        self.assertRegex(r0["time"], RFC3339_MS)
        self.assertEqual(reqs[1]["headers"]["x-api-key"], "<unknown key>")
        self.assertEqual(len(self.up.requests(10, label="dev")), 1)
        everything = json.dumps([reqs, self.up.stats()])
        harness.assert_no_secret(self, everything, ALL_KEYS, "requests log")

    def test_control_connections_not_counted(self):
        for _ in range(3):
            self.up.stats()
        self.assertEqual(self.up.stats()["connections"]["api"], 0)
        self.assertGreaterEqual(self.up.stats()["connections"]["control"], 3)

    def test_many_keep_alive_connections(self):
        conns = []
        try:
            for _ in range(300):
                c = http.client.HTTPConnection("127.0.0.1", self.up.api_port, timeout=10)
                conns.append(c)
                self.assertEqual(self.api("models", conn=c)[0], 200)
            s = self.up.stats()
            self.assertEqual(s["connections"]["api"], 300)
            self.assertEqual(s["open_connections"], 300)
        finally:
            for c in conns:
                c.close()
        self.up.wait_for_stats(lambda st: st["open_connections"] == 0, timeout=10)

    def test_idle_timeout_closes_keep_alive(self):
        self.up.patch_scenario({"idle_timeout": 0.2})
        s = self.raw(self.raw_api_request())
        self.assertTrue(s.recv(65536).startswith(b"HTTP/1.1 200"))
        self.assertEqual(s.recv(1), b"")  # the fake closed the idle connection
        s.close()

    def test_rate(self):
        c = http.client.HTTPConnection("127.0.0.1", self.up.api_port, timeout=5)
        n = 1000
        t0 = time.monotonic()
        for _ in range(n):
            self.api("models", conn=c)
        rate = n / (time.monotonic() - t0)
        c.close()
        # a sanity floor, not the benchmark (see README): it catches Nagle/delayed-ACK stalls
        # (~25 requests/s) without failing on a machine busy with parallel builds
        self.assertGreater(rate, 100, "only %.0f requests/s" % rate)


class TestRobustness(FakeTestCase):
    def exchange(self, data, port=None):
        s = self.raw(data, port)
        out = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
        except ConnectionResetError:
            pass
        s.close()
        return out

    def test_malformed_requests(self):
        self.assertTrue(self.exchange(b"garbage\r\n\r\n").startswith(b"HTTP/1.1 400"))
        self.assertTrue(self.exchange(b"GET / SPDY/9\r\n\r\n").startswith(b"HTTP/1.1 400"))
        self.assertTrue(self.exchange(b"GET / HTTP/1.1\r\nno colon here\r\n\r\n").startswith(b"HTTP/1.1 400"))
        self.assertTrue(self.exchange(b"POST /v1/messages HTTP/1.1\r\ncontent-length: -5\r\n\r\n")
                        .startswith(b"HTTP/1.1 400"))
        self.assertTrue(self.exchange(b"GET / HTTP/1.1\r\nx: " + b"a" * 70000 + b"\r\n\r\n")
                        .startswith(b"HTTP/1.1 4"))
        self.assertTrue(self.exchange(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(64))
                        .startswith(b"HTTP/1.1 400"))  # a TLS hello on the plain port
        # clients that go away mid-request or mid-answer
        s = self.raw(b"POST /v1/messages HTTP/1.1\r\ncontent-length: 100\r\n\r\n{\"mod")
        s.close()
        s = self.raw(b"GET /v1/models HTTP/1.1\r\nx-api")
        s.close()
        self.set_key("oversized")
        s = self.raw(self.raw_api_request())
        s.recv(100)
        s.close()
        self.set_key("ok")
        self.assertEqual(self.api()[0], 200)
        self.assertEqual(self.up.stats()["errors"], 0)
        self.assertNotIn("Traceback", self.up.log_text())

    def test_expect_100_continue_and_chunked_upload(self):
        body = MSG_BODY.encode()
        s = self.raw(("POST /v1/messages HTTP/1.1\r\nHost: x\r\nx-api-key: %s\r\nanthropic-version: 2023-06-01\r\n"
                      "content-type: application/json\r\ncontent-length: %d\r\nexpect: 100-continue\r\n\r\n"
                      % (K_PROD, len(body))).encode())
        self.assertEqual(s.recv(25), b"HTTP/1.1 100 Continue\r\n\r\n")
        s.sendall(body)
        self.assertTrue(s.recv(20).startswith(b"HTTP/1.1 200"))
        s.close()
        chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
        out = self.exchange(("POST /v1/messages HTTP/1.1\r\nHost: x\r\nx-api-key: %s\r\nanthropic-version: "
                             "2023-06-01\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n" % K_PROD)
                            .encode() + chunked)
        self.assertTrue(out.startswith(b"HTTP/1.1 200"), out[:100])

    def test_http10_closes(self):
        out = self.exchange(b"GET /api/v2/summary.json HTTP/1.0\r\n\r\n", self.up.status_port)
        self.assertTrue(out.startswith(b"HTTP/1.1 200"))
        self.assertIn(b"connection: close", out.lower())


class TestLogsNeverHaveKeys(unittest.TestCase):
    def test_verbose_log(self):
        with harness.FakeUpstream(base_scenario(), verbose=True) as up:
            for k in ALL_KEYS:
                harness.http_get(up.api_url + "/v1/models?limit=1",
                                 headers={"x-api-key": k, "anthropic-version": "2023-06-01"})
            harness.http_request("POST", up.api_url + "/_fake/scenario", body={"default": K_PROD})  # rejected
            up.patch_scenario({"labels": {"prod": {"behaviour": "auth_invalid"}}})
            log = up.log_text()
        self.assertIn("label=prod", log)
        self.assertIn("label=unknown", log)
        harness.assert_no_secret(self, log, ALL_KEYS, "fake_upstream log")


class TestHarnessHelpers(unittest.TestCase):
    def test_fake_key(self):
        k = harness.fake_key("prod")
        self.assertRegex(k, r"^sk-ant-api03-[A-Za-z0-9_-]{86}AA$")
        self.assertEqual(k, harness.fake_key("prod"))
        self.assertNotEqual(k, harness.fake_key("dev"))

    def test_assert_no_secret(self):
        k = harness.fake_key("x")
        harness.assert_no_secret(self, "key %s is fine" % harness.key_hint(k), [k])
        harness.assert_no_secret(self, b"nothing here", k)
        for leak in (k, k[10:40], "prefix" + k[30:60] + "suffix"):
            with self.assertRaises(AssertionError) as cm:
                harness.assert_no_secret(None, "text " + leak, [k])
            self.assertNotIn(k[20:40], str(cm.exception))
        with self.assertRaises(AssertionError):
            harness.assert_no_secret(None, {"nested": [k.encode().decode()]}, [k])

    def test_parse_metrics(self):
        text = ('# HELP claudemon_key_up x\n# TYPE claudemon_key_up gauge\n'
                'claudemon_key_up{key="prod"} 1\nclaudemon_key_up{key="a\\"b\\\\c"} 0\n'
                'claudemon_build_info{version="0.1",libcurl="8.1"} 1 1700000000000\n'
                'process_start_time_seconds 1.7e9\nh_bucket{le="+Inf"} 3\nx NaN\n')
        s = harness.parse_metrics(text)
        self.assertEqual(harness.metric_values(s, "claudemon_key_up", {"key": "prod"}), [1.0])
        self.assertEqual(harness.metric_values(s, "claudemon_key_up", {"key": 'a"b\\c'}), [0.0])
        self.assertEqual(harness.metric_values(s, "process_start_time_seconds"), [1.7e9])
        self.assertEqual(harness.metric_values(s, "h_bucket", {"le": "+Inf"}), [3.0])
        self.assertEqual(len(harness.metric_values(s, "claudemon_key_up")), 2)

    def test_free_port_and_config(self):
        p = harness.free_port()
        self.assertTrue(1024 < p < 65536)
        with tempfile.TemporaryDirectory() as d:
            path = harness.write_config(d, """
                listen: 127.0.0.1:1
                keys:
                  - name: prod
                """)
            with open(path) as f:
                self.assertEqual(f.read(), "listen: 127.0.0.1:1\nkeys:\n  - name: prod\n")
            self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)

    def test_clean_env(self):
        os.environ["ANTHROPIC_API_KEY"] = "x"
        os.environ["HTTPS_PROXY"] = "http://proxy.invalid:1"
        try:
            env = harness.clean_env({"PROD_KEY": "k", "HOME": None})
        finally:
            del os.environ["ANTHROPIC_API_KEY"], os.environ["HTTPS_PROXY"]
        self.assertNotIn("ANTHROPIC_API_KEY", env)
        self.assertNotIn("HTTPS_PROXY", env)
        self.assertNotIn("HOME", env)
        self.assertEqual(env["PROD_KEY"], "k")

    def test_fake_process_is_killed(self):
        up = harness.FakeUpstream({})
        with self.assertRaises(RuntimeError):
            with up:
                pid = up.proc.pid
                raise RuntimeError("a failing test")
        self.assertIsNotNone(up.proc.poll())
        with self.assertRaises(ProcessLookupError):
            os.kill(pid, 0)

    def test_agent_with_a_stand_in_binary(self):
        # Agent and run_cli against a tiny shell script standing in for claudemon
        with tempfile.TemporaryDirectory() as d:
            port = harness.free_port()
            stub = os.path.join(d, "claudemon")
            with open(stub, "w") as f:
                f.write("#!/bin/sh\n"
                        "if [ \"$1\" = run ]; then\n"
                        "  echo \"starting with $3\" >&2\n"
                        "  trap 'echo bye >&2; exit 0' TERM\n"
                        "  exec 3>&1\n"
                        "  %s -c 'import http.server,sys\n"
                        "class H(http.server.BaseHTTPRequestHandler):\n"
                        "  def do_GET(s):\n"
                        "    b=b\"claudemon_key_up{key=\\\"prod\\\"} 1\\n\"; s.send_response(200); "
                        "s.send_header(\"content-length\",str(len(b))); s.end_headers(); s.wfile.write(b)\n"
                        "  def log_message(s,*a): pass\n"
                        "print(\"ready\", file=sys.stderr, flush=True)\n"
                        "http.server.HTTPServer((\"127.0.0.1\", %d), H).serve_forever()' &\n"
                        "  wait $!\n"
                        "else echo \"args: $*\"; echo \"key=$PROD_KEY\" >&2; exit 3; fi\n" % (sys.executable, port))
            os.chmod(stub, 0o755)
            old = os.environ.get("CLAUDEMON_BIN")
            os.environ["CLAUDEMON_BIN"] = stub
            try:
                r = harness.run_cli(["check", "-c", "x.yaml"], env={"PROD_KEY": "v"})
                self.assertEqual((r.returncode, r.stdout, r.stderr), (3, "args: check -c x.yaml\n", "key=v\n"))
                cfg = harness.write_config(d, "listen: 127.0.0.1:%d\n" % port)
                with harness.Agent(cfg) as a:
                    a.wait_for_log(r"^starting with .*claudemon\.yaml$", timeout=5)
                    a.wait_for_log("ready", timeout=10)
                    url = "http://127.0.0.1:%d/metrics" % port
                    a.wait_for_http(url, timeout=10)
                    self.assertEqual(a.wait_for_metric(url, "claudemon_key_up", {"key": "prod"}, 1, timeout=5), 1)
                    self.assertEqual(a.wait_for_metric(url, "claudemon_key_up", {}, lambda v: v > 0), 1)
                    with self.assertRaises(AssertionError):
                        a.wait_for_metric(url, "claudemon_key_up", {"key": "prod"}, 0, timeout=0.3)
                    with self.assertRaises(AssertionError):
                        a.wait_for_log("never printed", timeout=0.2)
                    self.assertEqual(a.stop(), 0)
                    a.wait_for_log("^bye$", timeout=2)
            finally:
                if old is None:
                    os.environ.pop("CLAUDEMON_BIN", None)
                else:
                    os.environ["CLAUDEMON_BIN"] = old


if __name__ == "__main__":
    unittest.main()
