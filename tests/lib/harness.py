"""Integration-test harness for claudemon (Python 3.11 standard library only).

Use from a unittest file under tests/:

    import pathlib, sys
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "lib"))
    import harness

    class T(unittest.TestCase):
        def test_bad_key(self):
            key = harness.fake_key("prod")
            with harness.FakeUpstream({"keys": {key: {"label": "prod", "behaviour": "auth_invalid"}}}) as up, \\
                 tempfile.TemporaryDirectory() as d:
                cfg = harness.write_config(d, f'''
                    listen: 127.0.0.1:{harness.free_port()}
                    api: {{ base_url: "{up.api_url}" }}
                    ...''')
                r = harness.run_cli(["check", "-c", cfg, "--format", "json"], env={"PROD_KEY": key})
                harness.assert_no_secret(self, r.stdout + r.stderr, [key])

Every process started here (the fake, claudemon) is killed when its context manager exits,
at interpreter exit, and — through PR_SET_PDEATHSIG (setpriv) and the fake's
--exit-with-parent — when the test process itself dies. Start them from the main thread:
PDEATHSIG fires when the *thread* that started the child ends.

Waiting is always "poll an observable event until a deadline", never a fixed sleep.
"""

import atexit
import base64
import hashlib
import http.client
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import unittest
import urllib.parse
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
FAKE_UPSTREAM = REPO_ROOT / "tests" / "fake_upstream" / "fake_upstream.py"
POLL_INTERVAL = 0.05

# --------------------------------------------------------------------------------------
# process bookkeeping: nothing we start outlives the test process
# --------------------------------------------------------------------------------------

_live = set()
_live_lock = threading.Lock()
_SETPRIV = shutil.which("setpriv") if not os.environ.get("CLAUDEMON_TEST_NO_PDEATHSIG") else None


def _spawn(cmd, **kw):
    """Popen in its own session (so we can kill its whole group), dying with us."""
    if _SETPRIV:
        cmd = [_SETPRIV, "--pdeathsig", "KILL", "--"] + list(cmd)
    proc = subprocess.Popen(cmd, start_new_session=True, **kw)
    with _live_lock:
        _live.add(proc)
    return proc


def _kill(proc, sig=signal.SIGKILL):
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            proc.send_signal(sig)
        except (ProcessLookupError, OSError):
            pass


def _reap(proc, term_timeout=5.0):
    """Stop a process we started: SIGTERM, then SIGKILL of its group. Returns its exit code."""
    try:
        if proc.poll() is None:
            try:
                proc.send_signal(signal.SIGTERM)
            except OSError:
                pass
            try:
                proc.wait(term_timeout)
            except subprocess.TimeoutExpired:
                pass
        # whatever is left in its process group goes too
        _kill(proc, signal.SIGKILL)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
    finally:
        with _live_lock:
            _live.discard(proc)
    return proc.returncode


# Public names for tests that start a helper server of their own (Prometheus, Alertmanager).
spawn = _spawn
reap = _reap


def _close_pipes(proc):
    for f in (proc.stdin, proc.stdout, proc.stderr):
        if f is not None:
            try:
                f.close()
            except (OSError, ValueError):
                pass


@atexit.register
def _kill_all():
    with _live_lock:
        procs = list(_live)
    for p in procs:
        _kill(p, signal.SIGKILL)
        try:
            p.wait(2)
        except Exception:
            pass


def wait_until(predicate, timeout=10.0, interval=POLL_INTERVAL, message=None):
    """Poll predicate() until it returns a truthy value (returned) or the deadline passes
    (AssertionError). Exceptions from predicate count as "not yet"; the last one is reported."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            v = predicate()
            if v:
                return v
        except Exception as e:  # noqa: BLE001 - reported on timeout
            last_exc = e
        if time.monotonic() >= deadline:
            msg = message() if callable(message) else (message or "condition not met")
            if last_exc is not None:
                msg += " (last error: %r)" % (last_exc,)
            raise AssertionError("timed out after %.1fs: %s" % (timeout, msg))
        time.sleep(interval)


# --------------------------------------------------------------------------------------
# keys and secrets
# --------------------------------------------------------------------------------------

_KEY_SEED = os.environ.get("CLAUDEMON_TEST_KEY_SEED") or os.urandom(16).hex()


def fake_key(label):
    """A real-looking but fake API key, deterministic per label within one test run:
    'sk-ant-api03-' + 86 url-safe characters + 'AA' (101 characters)."""
    raw = hashlib.shake_256(("claudemon-test\0%s\0%s" % (_KEY_SEED, label)).encode()).digest(64)
    body = base64.urlsafe_b64encode(raw).decode().rstrip("=")[:86]
    return "sk-ant-api03-" + body + "AA"


def key_hint(key):
    """The console-style hint the design allows in output: first 16 characters, '...', last four."""
    return key[:16] + "..." + key[-4:]


def _as_bytes(data):
    if data is None:
        return b""
    if isinstance(data, bytes):
        return data
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    if isinstance(data, str):
        return data.encode("utf-8", "surrogateescape")
    if isinstance(data, (list, tuple)):
        return b"\n".join(_as_bytes(x) for x in data)
    return json.dumps(data, default=str).encode()


def find_secret(data, secrets):
    """Return (secret_index, offset) of the first leak found, or None.

    A leak is the whole secret, or any 12-character window of its part that the hint does not
    show (after the first 16 characters, before the last four): a leaked piece of 17 characters
    or more is always caught, the allowed hint (`key_hint`) never is."""
    if isinstance(secrets, (str, bytes)):
        secrets = [secrets]
    hay = _as_bytes(data)
    for i, s in enumerate(secrets):
        sb = _as_bytes(s)
        if not sb:
            continue
        off = hay.find(sb)
        if off >= 0:
            return i, off
        middle_start, middle_end = 16, len(sb) - 4
        for start in range(middle_start, max(middle_start, middle_end - 12) + 1, 5):
            window = sb[start:start + 12]
            if len(window) < 12:
                break
            off = hay.find(window)
            if off >= 0:
                return i, off
    return None


def assert_no_secret(testcase, text_or_bytes, secrets, what="output"):
    """Fail the test when any secret (or a long piece of it) appears in text_or_bytes (str,
    bytes, a list of them, or any JSON-serialisable object). The failure message never
    contains the secret."""
    found = find_secret(text_or_bytes, secrets)
    if found is None:
        return
    if isinstance(secrets, (str, bytes)):
        secrets = [secrets]
    i, off = found
    hay = _as_bytes(text_or_bytes)
    ctx = hay[max(0, off - 40): off + 60]
    for s in secrets:
        sb = _as_bytes(s)
        ctx = ctx.replace(sb, b"<SECRET>")
        for start in range(0, len(sb) - 8):
            ctx = ctx.replace(sb[start:start + 8], b"<S>")
    msg = "secret #%d (%s) leaked into %s at offset %d; context: %r" % (
        i, key_hint(str(secrets[i])) if len(str(secrets[i])) > 24 else "short secret", what, off, ctx)
    if testcase is not None:
        testcase.fail(msg)
    raise AssertionError(msg)


# --------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------

def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_config(directory, yaml_text, name="claudemon.yaml", mode=0o600):
    """Write a (dedented) config file into directory and return its path as a str."""
    path = Path(directory) / name
    path.write_text(textwrap.dedent(yaml_text).lstrip("\n"), encoding="utf-8")
    os.chmod(path, mode)
    return str(path)


def claudemon_bin():
    """$CLAUDEMON_BIN, else build/claudemon or build/agent/claudemon in the repo; SkipTest if none."""
    b = os.environ.get("CLAUDEMON_BIN")
    if b:
        return b
    for cand in (REPO_ROOT / "build" / "claudemon", REPO_ROOT / "build" / "agent" / "claudemon"):
        if cand.is_file() and os.access(cand, os.X_OK):
            return str(cand)
    raise unittest.SkipTest("CLAUDEMON_BIN is not set and no built claudemon was found")


_STRIP_ENV = re.compile(r"^(ANTHROPIC_.*|CLAUDEMON_(?!BIN$|TEST_).*|https?_proxy|all_proxy|no_proxy)$",
                        re.IGNORECASE)


def clean_env(env=None):
    """The environment for claudemon: ours minus ANTHROPIC_*, CLAUDEMON_* (but CLAUDEMON_BIN)
    and proxy variables, plus env (a value of None removes a variable)."""
    out = {k: v for k, v in os.environ.items() if not _STRIP_ENV.match(k)}
    for k, v in (env or {}).items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = str(v)
    return out


def run_cli(args, env=None, timeout=30, input=None, cwd=None):
    """Run `$CLAUDEMON_BIN args...`; returns a CompletedProcess with text stdout/stderr.
    On timeout the process group is killed and AssertionError raised."""
    cmd = [claudemon_bin()] + [str(a) for a in args]
    proc = _spawn(cmd, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env(env), cwd=cwd)
    try:
        out, err = proc.communicate(input.encode() if isinstance(input, str) else input, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(proc)
        out, err = proc.communicate()
        raise AssertionError("claudemon %s did not finish within %ss\nstdout: %s\nstderr: %s" % (
            " ".join(map(str, args)), timeout, out.decode(errors="replace")[-2000:],
            err.decode(errors="replace")[-2000:]))
    finally:
        if proc.poll() is None:
            _kill(proc)
        with _live_lock:
            _live.discard(proc)
    return subprocess.CompletedProcess(cmd, proc.returncode, out.decode("utf-8", "replace"),
                                       err.decode("utf-8", "replace"))


def http_request(method, url, body=None, headers=None, timeout=5.0):
    """One HTTP request without any proxy. Returns (status, headers: dict lower-case, body: bytes).
    Raises OSError when the connection fails."""
    u = urllib.parse.urlsplit(url)
    conn_cls = http.client.HTTPSConnection if u.scheme == "https" else http.client.HTTPConnection
    conn = conn_cls(u.hostname, u.port, timeout=timeout)
    try:
        path = (u.path or "/") + ("?" + u.query if u.query else "")
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            headers = dict(headers or {})
            headers.setdefault("content-type", "application/json")
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        data = r.read()
        hdrs = {}
        for k, v in r.getheaders():
            k = k.lower()
            hdrs[k] = hdrs[k] + ", " + v if k in hdrs else v
        return r.status, hdrs, data
    finally:
        conn.close()


def http_get(url, timeout=5.0, headers=None):
    """GET url -> (status, headers dict with lower-case names, body bytes)."""
    return http_request("GET", url, headers=headers, timeout=timeout)


# --------------------------------------------------------------------------------------
# Prometheus text exposition (minimal parser)
# --------------------------------------------------------------------------------------

_NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def _parse_labels(s, i):
    """Parse '{a="x",b="y"}' starting at s[i] == '{'. Returns (dict, index after '}')."""
    labels = {}
    i += 1
    n = len(s)
    while True:
        while i < n and s[i] in " \t,":
            i += 1
        if i < n and s[i] == "}":
            return labels, i + 1
        m = _NAME_RE.match(s, i)
        if not m:
            raise ValueError("bad label name at %d: %r" % (i, s))
        name = m.group(0)
        i = m.end()
        while i < n and s[i] in " \t":
            i += 1
        if i >= n or s[i] != "=":
            raise ValueError("expected '=' in %r" % s)
        i += 1
        while i < n and s[i] in " \t":
            i += 1
        if i >= n or s[i] != '"':
            raise ValueError("expected '\"' in %r" % s)
        i += 1
        val = []
        while i < n and s[i] != '"':
            c = s[i]
            if c == "\\" and i + 1 < n:
                nxt = s[i + 1]
                val.append({"n": "\n", "\\": "\\", '"': '"'}.get(nxt, "\\" + nxt))
                i += 2
            else:
                val.append(c)
                i += 1
        if i >= n:
            raise ValueError("unterminated label value in %r" % s)
        labels[name] = "".join(val)
        i += 1


def parse_metrics(text):
    """-> list of (name, labels: dict, value: float). Comments (# HELP/# TYPE) are skipped."""
    samples = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = _NAME_RE.match(line)
        if not m:
            raise ValueError("bad metric line: %r" % line)
        name = m.group(0)
        i = m.end()
        labels = {}
        if i < len(line) and line[i] == "{":
            labels, i = _parse_labels(line, i)
        rest = line[i:].split()
        if not rest:
            raise ValueError("metric line without a value: %r" % line)
        samples.append((name, labels, float(rest[0])))
    return samples


def get_metrics(url, timeout=5.0):
    status, _, body = http_get(url, timeout=timeout)
    if status != 200:
        raise AssertionError("GET %s -> %d" % (url, status))
    return parse_metrics(body.decode("utf-8", "replace"))


def metric_values(samples, name, labels=None):
    """Values of the samples called name whose labels include all of `labels`."""
    labels = labels or {}
    return [v for n, l, v in samples if n == name and all(l.get(k) == str(x) for k, x in labels.items())]


def _value_ok(v, expected):
    if expected is None:
        return True
    if callable(expected):
        return bool(expected(v))
    return abs(v - float(expected)) <= 1e-9 * max(1.0, abs(float(expected)))


# --------------------------------------------------------------------------------------
# the fake upstream
# --------------------------------------------------------------------------------------

def _read_line(fd, deadline):
    buf = b""
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no line within the deadline (got %r)" % buf)
        r, _, _ = select.select([fd], [], [], left)
        if r:
            chunk = os.read(fd, 4096)
            if not chunk:
                raise EOFError("stream closed (got %r)" % buf)
            buf += chunk
    return buf.split(b"\n", 1)[0].decode()


class FakeUpstream:
    """The fake api.anthropic.com + status page, as a subprocess on free ports.

        with FakeUpstream({"keys": {key: {"label": "prod"}}}) as up:
            up.api_url, up.status_url, up.patch_scenario({...}), up.stats(), up.requests(10)
    """

    def __init__(self, scenario=None, verbose=False, api_port=0, status_port=0, startup_timeout=15.0):
        self.scenario = scenario or {}
        self.verbose = verbose
        self._want_api_port = api_port
        self._want_status_port = status_port
        self.startup_timeout = startup_timeout
        self.proc = None
        self.api_port = None
        self.status_port = None
        self._dir = None
        self._log = None

    # ---- lifecycle ----
    def start(self):
        self._dir = tempfile.mkdtemp(prefix="fake-upstream-")
        scen = os.path.join(self._dir, "scenario.json")
        with open(scen, "w", encoding="utf-8") as f:
            json.dump(self.scenario, f)
        os.chmod(scen, 0o600)
        self.log_path = os.path.join(self._dir, "fake_upstream.log")
        self._log = open(self.log_path, "wb")
        cmd = [sys.executable, str(FAKE_UPSTREAM), "--host", "127.0.0.1",
               "--port", str(self._want_api_port), "--status-port", str(self._want_status_port),
               "--scenario", scen, "--exit-with-parent"]
        if self.verbose:
            cmd.append("--verbose")
        self.proc = _spawn(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._log)
        try:
            line = _read_line(self.proc.stdout.fileno(), time.monotonic() + self.startup_timeout)
            m = re.fullmatch(r"listening api_port=(\d+) status_port=(\d+)", line.strip())
            if not m:
                raise AssertionError("unexpected first line from fake_upstream: %r" % line)
        except (TimeoutError, EOFError, AssertionError) as e:
            self.close()
            raise AssertionError("fake_upstream did not start: %s\n%s" % (e, self.log_text()))
        self.api_port, self.status_port = int(m.group(1)), int(m.group(2))
        # keep draining stdout (it prints nothing more, but never let a pipe fill up)
        threading.Thread(target=self._drain, args=(self.proc.stdout,), daemon=True).start()
        return self

    @staticmethod
    def _drain(stream):
        try:
            while stream.read(65536):
                pass
        except (OSError, ValueError):
            pass

    def close(self):
        if self.proc is not None:
            self.returncode = _reap(self.proc)
            _close_pipes(self.proc)
        if self._log is not None:
            try:
                self._log.close()
            except OSError:
                pass
        self._log_cache = self.log_text()
        if self._dir and not os.environ.get("CLAUDEMON_TEST_KEEP"):
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()
        return False

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def log_text(self):
        """The fake's stderr so far (it names keys only by label: tests may grep it for keys)."""
        if getattr(self, "_dir", None):
            try:
                with open(os.path.join(self._dir, "fake_upstream.log"), "rb") as f:
                    return f.read().decode("utf-8", "replace")
            except OSError:
                return ""
        return getattr(self, "_log_cache", "")

    # ---- addresses ----
    @property
    def api_url(self):
        return "http://127.0.0.1:%d" % self.api_port

    @property
    def status_base(self):
        return "http://127.0.0.1:%d" % self.status_port

    @property
    def status_url(self):
        return self.status_base + "/api/v2/summary.json"

    @property
    def status_url_on_api_port(self):
        return self.api_url + "/api/v2/summary.json"

    # ---- control API ----
    def _control(self, method, path, body=None):
        status, _, data = http_request(method, self.api_url + path, body=body, timeout=15)
        if status != 200:
            raise AssertionError("fake_upstream %s %s -> %d %s" % (method, path, status,
                                                                  data.decode(errors="replace")))
        return json.loads(data) if data else None

    def set_scenario(self, scenario):
        self.scenario = scenario
        return self._control("POST", "/_fake/scenario", scenario)

    def patch_scenario(self, patch):
        return self._control("PATCH", "/_fake/scenario", patch)

    def set_key(self, label, behaviour=None, **fields):
        """Change the key with this label: set_key("prod", "auth_invalid") or
        set_key("prod", messages="credit_low")."""
        conf = dict(fields)
        if behaviour is not None:
            conf["behaviour"] = behaviour
        return self.patch_scenario({"labels": {label: conf}})

    def set_status_page(self, status):
        return self.patch_scenario({"status_page": status})

    def stats(self):
        return self._control("GET", "/_fake/stats")

    def requests(self, n=100, **filters):
        """The last n requests received (x-api-key replaced by the key's label).
        filters: label=, endpoint= (models|count_tokens|messages|status|other), port= (api|status)."""
        q = {"limit": n}
        q.update(filters)
        return self._control("GET", "/_fake/requests?" + urllib.parse.urlencode(q))

    def reset_stats(self):
        return self._control("POST", "/_fake/reset_stats")

    def wait_for_stats(self, predicate, timeout=10.0, message="fake_upstream stats condition"):
        """Poll stats() until predicate(stats) is truthy; returns those stats."""
        last = {}

        def check():
            last["s"] = self.stats()
            return last["s"] if predicate(last["s"]) else None

        return wait_until(check, timeout, message=lambda: "%s; last stats: %s" % (
            message, json.dumps(last.get("s"))[:2000]))

    def wait_for_requests(self, count, timeout=10.0, label=None, endpoint=None):
        """Wait until at least count requests (optionally of a label and/or endpoint) arrived."""
        def pred(s):
            r = s["requests"]
            if label is not None and endpoint is not None:
                return r["by_label_endpoint"].get(label, {}).get(endpoint, 0) >= count
            if label is not None:
                return r["by_label"].get(label, 0) >= count
            if endpoint is not None:
                return r["by_endpoint"].get(endpoint, 0) >= count
            return r["total"] >= count
        return self.wait_for_stats(pred, timeout, "%d requests (label=%s endpoint=%s)" % (count, label, endpoint))


# --------------------------------------------------------------------------------------
# claudemon run
# --------------------------------------------------------------------------------------

class Agent:
    """`claudemon run -c CONFIG` as a subprocess; stderr (and stdout) lines are captured.

        with Agent(cfg, env={"PROD_KEY": key}) as a:
            a.wait_for_http("http://127.0.0.1:%d/-/ready" % port)
            a.wait_for_metric(url + "/metrics", "claudemon_key_up", {"key": "prod"}, 1)
            self.assertEqual(a.stop(), 0)
    """

    def __init__(self, config_path, env=None, args=None, bin=None, cwd=None):
        self.config_path = str(config_path)
        self.env = env
        self.args = [str(a) for a in (args or [])]
        self.bin = bin
        self.cwd = cwd
        self.proc = None
        self.lines = []        # stderr lines
        self.stdout_lines = []
        self._cond = threading.Condition()
        self._readers = []

    def start(self):
        cmd = [self.bin or claudemon_bin(), "run", "-c", self.config_path] + self.args
        self.proc = _spawn(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=clean_env(self.env), cwd=self.cwd)
        for stream, sink in ((self.proc.stderr, self.lines), (self.proc.stdout, self.stdout_lines)):
            t = threading.Thread(target=self._reader, args=(stream, sink), daemon=True)
            t.start()
            self._readers.append(t)
        return self

    def _reader(self, stream, sink):
        try:
            for raw in iter(stream.readline, b""):
                with self._cond:
                    sink.append(raw.decode("utf-8", "replace").rstrip("\r\n"))
                    self._cond.notify_all()
        except (OSError, ValueError):
            pass
        finally:
            with self._cond:
                self._cond.notify_all()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self):
        if self.proc is not None:
            _reap(self.proc, term_timeout=10)
            for t in self._readers:
                t.join(2)
            _close_pipes(self.proc)

    # ---- state ----
    @property
    def pid(self):
        return self.proc.pid

    @property
    def returncode(self):
        return self.proc.poll() if self.proc else None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def log_text(self):
        with self._cond:
            return "\n".join(self.lines)

    def stdout_text(self):
        with self._cond:
            return "\n".join(self.stdout_lines)

    def mark(self):
        """The current number of stderr lines; pass as since= to wait for a *new* line."""
        with self._cond:
            return len(self.lines)

    def _tail(self, n=40):
        with self._cond:
            return "\n".join(self.lines[-n:])

    def _exited_msg(self):
        return "claudemon exited with %s; stderr tail:\n%s" % (self.proc.poll(), self._tail())

    def assert_running(self):
        if not self.running():
            raise AssertionError(self._exited_msg())

    # ---- waits ----
    def wait_for_log(self, regex, timeout=10.0, since=0):
        """Wait for a stderr line (from index `since`) matching regex; returns the re.Match."""
        rx = re.compile(regex)
        deadline = time.monotonic() + timeout
        i = since
        with self._cond:
            while True:
                while i < len(self.lines):
                    m = rx.search(self.lines[i])
                    if m:
                        return m
                    i += 1
                readers_done = all(not t.is_alive() for t in self._readers)
                left = deadline - time.monotonic()
                if left <= 0 or readers_done:
                    break
                self._cond.wait(min(left, 0.5))
        why = "exited (%s)" % self.proc.poll() if readers_done else "timed out after %.1fs" % timeout
        raise AssertionError("no stderr line matching %r: %s; stderr tail:\n%s" % (regex, why, self._tail()))

    def wait_for_http(self, url, timeout=10.0, status=200):
        """Poll url until it answers (with `status`, or anything when status=None);
        returns (status, headers, body)."""
        last = {}

        def probe():
            self.assert_running()
            try:
                r = http_get(url, timeout=2)
            except OSError as e:
                last["e"] = repr(e)
                return None
            last["e"] = "status %d" % r[0]
            return r if status is None or r[0] == status else None

        return self._wait(probe, timeout, lambda: "%s not answering %s (last: %s)" % (url, status, last.get("e")))

    def wait_for_metric(self, url, name, labels=None, value=None, timeout=10.0):
        """Poll the /metrics url until a sample `name` with (at least) `labels` has `value`
        (a number, a predicate, or None for "present"). Returns the matching value."""
        last = {}

        def probe():
            self.assert_running()
            samples = get_metrics(url, timeout=2)
            vals = metric_values(samples, name, labels)
            last["v"] = [(l, v) for n, l, v in samples if n == name][:20]
            for v in vals:
                if _value_ok(v, value):
                    return (v,)
            return None

        return self._wait(probe, timeout, lambda: "metric %s%s == %s; seen: %s" % (
            name, labels or {}, getattr(value, "__name__", value), last.get("v")))[0]

    def wait_for_metric_absent(self, url, name, labels=None, timeout=10.0):
        def probe():
            self.assert_running()
            return not metric_values(get_metrics(url, timeout=2), name, labels)
        self._wait(probe, timeout, "metric %s%s still present" % (name, labels or {}))

    def _wait(self, probe, timeout, message):
        try:
            return wait_until(probe, timeout, message=message)
        except AssertionError as e:
            if not self.running():
                raise AssertionError("%s\n%s" % (e, self._exited_msg())) from None
            raise AssertionError("%s\nstderr tail:\n%s" % (e, self._tail())) from None

    http_get = staticmethod(http_get)

    # ---- stop ----
    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Send sig and wait for the exit; returns the exit code (negative: killed by a signal).
        If it does not exit within timeout it is killed and AssertionError raised."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                _reap(self.proc, term_timeout=0)
                raise AssertionError("claudemon did not exit within %ss of signal %s; stderr tail:\n%s"
                                     % (timeout, sig, self._tail()))
        rc = self.proc.returncode
        _reap(self.proc, term_timeout=0)  # its process group, if anything is left
        for t in self._readers:
            t.join(2)
        return rc
