#!/usr/bin/env python3
"""probe_bench.py — what a probe costs: claudemon against blackbox_exporter, one curl
process per probe, and a libcurl floor (tests/bench/floor.c), side by side, against the
project's fake upstream on loopback over plain HTTP. Driven by tests/bench/probe_bench.sh
(which builds the binaries and writes RESULTS.md); see docs/benchmarks.md.

Every contender sends the same request — GET /v1/models?limit=1 with x-api-key (a fake key
per probed key), anthropic-version and content-type — at the same rate (N keys per
interval), to its own fresh fake upstream. Each contender runs a warm-up, then a measured
window; for the window we take from the outside:

  - CPU: user+system time of the contender's process (/proc/PID/stat; the per-thread
    /proc/PID/task/*/schedstat sum, in ns, when it agrees: ticks are 10 ms and the floor
    spends less than that on hundreds of probes). curl: rusage of each child (os.wait4).
  - probes: requests the fake upstream answered (its /_fake/stats), against the expected
    N * window / interval.
  - memory: VmHWM of /proc/PID/status at the end (peak RSS); curl: the median maxrss of
    20 more curl processes run under /usr/bin/time (see run_curl for why not ours).
  - connections: TCP connections the fake accepted over the whole run.
  - claudemon only: scheduler lag p50/p99 and probe duration p50/p99 from the
    claudemon_scheduler_lag_seconds / claudemon_probe_duration_seconds histograms (the
    difference of two scrapes of /metrics, one at each end of the window; one of the two
    scrapes is inside the window and so in its CPU, as a Prometheus scrape would be).
  - the fake upstream itself: its CPU in the window and whether it answered what was
    expected, so a slow fake never passes for a slow contender.

Python 3.11 standard library only.

    probe_bench.py --claudemon BIN --floor BIN [--sizes 100,1000,10000] [--json OUT]
                   [--markdown OUT] [--quick]
"""

import argparse
import concurrent.futures
import datetime as dt
import http.client
import json
import os
import pathlib
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "lib"))
import harness  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
MODELS_PATH = "/v1/models?limit=1"
VERSION = "2023-06-01"
MAX_HOST_CONNECTIONS = 8
BLACKBOX = "prometheus-blackbox-exporter"
# claudemon spreads first runs over min(interval, this) and keeps each key's phase
# (agent/sched.h); the floor is told to do the same, so both send the same pattern.
SCHED_SPREAD_MS = 5000

# (keys, interval s, warm-up s, window s). The window is a whole number of intervals:
# claudemon spreads first runs over min(interval, 5 s) and every key keeps its phase, so
# its load comes in one burst per interval and a window must hold whole bursts.
PLANS = {
    100: (100, 10, 6, 20),
    1000: (1000, 10, 6, 20),
    10000: (10000, 60, 8, 60),
}
QUICK = {
    100: (100, 10, 4, 10),
    1000: (1000, 10, 4, 10),
    10000: (10000, 60, 8, 60),
}
BLACKBOX_SIZES = (100, 1000)
CURL_PROBES = 300
CURL_RATE = 30.0  # curl processes started per second
CURL_RSS_RUNS = 20  # curl processes run under /usr/bin/time for their peak RSS
GNU_TIME = "/usr/bin/time"


# ---------------------------------------------------------------------------------------
# /proc readings
# ---------------------------------------------------------------------------------------

def proc_stat_cpu(pid):
    """user+system seconds of the whole process (live and exited threads), 1/TICK resolution."""
    with open("/proc/%d/stat" % pid) as f:
        data = f.read()
    fields = data[data.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def proc_sched_cpu(pid):
    """(seconds on CPU of the live threads, in ns precision, set of their tids)."""
    total = 0
    tids = set()
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                total += int(f.read().split()[0])
            tids.add(tid)
        except (OSError, ValueError, IndexError):
            pass
    return total / 1e9, tids


def proc_status_kb(pid, name):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(name + ":"):
                return int(line.split()[1])
    return -1


class CpuSnap:
    def __init__(self, pid):
        self.pid = pid
        self.stat = proc_stat_cpu(pid)
        self.sched, self.tids = proc_sched_cpu(pid)


def cpu_delta(a, b):
    """CPU seconds between two snapshots: the precise per-thread sum when the same threads
    were there at both ends and the tick count does not say more was spent (threads that
    came and went), else the tick count."""
    stat = b.stat - a.stat
    sched = b.sched - a.sched
    if a.tids == b.tids and stat <= sched + 2.5 / TICK:
        return sched, "schedstat"
    return max(stat, sched), "stat"


# ---------------------------------------------------------------------------------------
# fake upstream
# ---------------------------------------------------------------------------------------

def start_fake():
    """A fresh fake that answers any key with `ok`. No key is registered in the scenario:
    the fake would otherwise redact every header against every key, and at 10,000 keys it
    would be the bottleneck."""
    return harness.FakeUpstream({"default": "ok", "unknown_key": "ok", "status_page": "operational"}).start()


def fake_counts(up):
    s = up.stats()
    return s["requests"]["by_endpoint"].get("models", 0), s["connections"]["api"], s


# ---------------------------------------------------------------------------------------
# a measured window
# ---------------------------------------------------------------------------------------

class Window:
    """Snapshots of (contender, fake) at the start and end of a measured window."""

    def __init__(self, pid, up):
        self.pid = pid
        self.up = up

    def begin(self):
        self.t0 = time.monotonic()
        self.c0 = CpuSnap(self.pid)
        self.f0 = CpuSnap(self.up.proc.pid)
        self.p0, self.conn0, _ = fake_counts(self.up)

    def end(self):
        self.t1 = time.monotonic()
        self.c1 = CpuSnap(self.pid)
        self.f1 = CpuSnap(self.up.proc.pid)
        self.p1, self.conn1, self.stats = fake_counts(self.up)

    def result(self, expected_rate):
        secs = self.t1 - self.t0
        cpu, how = cpu_delta(self.c0, self.c1)
        fcpu, _ = cpu_delta(self.f0, self.f1)
        probes = self.p1 - self.p0
        expected = expected_rate * secs
        return {
            "window_s": round(secs, 2),
            "cpu_s": cpu,
            "cpu_source": how,
            "probes": probes,
            "expected": round(expected),
            "cpu_s_per_1000": cpu / probes * 1000 if probes else None,
            "fake_cpu_s": fcpu,
            "fake_cpu_util": fcpu / secs,
            "fake_errors": self.stats.get("errors", 0),
            "fake_non_200": sum(v for k, v in self.stats["requests"]["by_status"].items() if k != "200"),
            "connections_total": self.conn1,
            "connections_window": self.conn1 - self.conn0,
            "open_connections": self.stats.get("open_connections"),
        }


def sleep_until(t):
    while True:
        left = t - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(left, 0.5))


# ---------------------------------------------------------------------------------------
# Prometheus histograms
# ---------------------------------------------------------------------------------------

def histogram(samples, name):
    """{le: cumulative count} of an unlabelled (or summed over labels) histogram."""
    out = {}
    for n, labels, v in samples:
        if n == name + "_bucket":
            le = float("inf") if labels["le"] == "+Inf" else float(labels["le"])
            out[le] = out.get(le, 0.0) + v
    return out


def hist_delta(a, b):
    return {le: b.get(le, 0.0) - a.get(le, 0.0) for le in b}


def hist_quantile(q, buckets):
    """Prometheus' histogram_quantile(): linear interpolation inside the bucket."""
    les = sorted(buckets)
    if not les:
        return None
    total = buckets[les[-1]]
    if total <= 0:
        return None
    rank = q * total
    prev_le, prev_c = 0.0, 0.0
    for le in les:
        c = buckets[le]
        if c >= rank:
            if le == float("inf"):
                return prev_le
            if c == prev_c:
                return le
            return prev_le + (le - prev_le) * (rank - prev_c) / (c - prev_c)
        prev_le, prev_c = le, c
    return les[-1]


def hist_bucket_quantile(q, buckets):
    """The upper bound of the bucket that holds the q-quantile (what the histogram can
    say for sure: "at least q of them took at most this")."""
    les = sorted(buckets)
    if not les or buckets[les[-1]] <= 0:
        return None
    rank = q * buckets[les[-1]]
    for le in les:
        if buckets[le] >= rank:
            return le
    return les[-1]


def counter_sum(samples, name):
    return sum(v for n, _, v in samples if n == name)


# ---------------------------------------------------------------------------------------
# contenders
# ---------------------------------------------------------------------------------------

def write_keys(d, n):
    """n fake keys: one file per key (0600) and one file with all of them (for the floor)."""
    kd = pathlib.Path(d) / "keys"
    kd.mkdir(mode=0o700)
    keys = [harness.fake_key("bench-%05d" % i) for i in range(n)]
    for i, k in enumerate(keys):
        p = kd / ("k%05d" % i)
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(k + "\n")
    allp = pathlib.Path(d) / "all-keys"
    fd = os.open(allp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(keys) + "\n")
    return keys, kd, allp


class Scrapers:
    """k threads, each GETting /metrics once a second (as Prometheus servers would), to
    measure the scheduler lag while the agent is scraped (issue: exporter benchmark)."""

    def __init__(self, url, k):
        self.url, self.k = url, k
        self.stop = threading.Event()
        self.threads = []
        self.ok = 0
        self.failed = 0
        self.max_s = 0.0
        self.lock = threading.Lock()

    def _loop(self):
        nxt = time.monotonic()
        while not self.stop.is_set():
            t = time.monotonic()
            try:
                status, _, _ = harness.http_get(self.url, timeout=10)
                good = status == 200
            except OSError:
                good = False
            dt = time.monotonic() - t
            with self.lock:
                self.ok += good
                self.failed += not good
                self.max_s = max(self.max_s, dt)
            nxt += 1.0
            self.stop.wait(max(0.0, nxt - time.monotonic()))

    def __enter__(self):
        for _ in range(self.k):
            th = threading.Thread(target=self._loop, daemon=True)
            th.start()
            self.threads.append(th)
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for th in self.threads:
            th.join(15)


def run_claudemon(binary, n, plan, log, perf=None, scrapers=0):
    n, interval, warm, window = plan
    per_key = "minimal" if n >= 10000 else "full"
    with tempfile.TemporaryDirectory(prefix="probe-bench-") as d:
        keys, kd, _ = write_keys(d, n)
        port = harness.free_port()
        up = start_fake()
        try:
            lines = [
                "listen: 127.0.0.1:%d" % port,
                "database: %s/claudemon.db" % d,
                "log_level: warn",
                "api:",
                "  base_url: %s" % up.api_url,
                "  min_interval: 1s",
                "  timeout: 10s",
                "  max_host_connections: %d" % MAX_HOST_CONNECTIONS,
                "status_page:",
                "  enabled: false",
                "metrics:",
                "  per_key: %s" % per_key,
                "keys:",
            ]
            for i in range(n):
                lines += ["  - name: k%05d" % i, "    key_file: %s/k%05d" % (kd, i),
                          "    probes: { models: { interval: %ds } }" % interval]
            cfg = harness.write_config(d, "\n".join(lines) + "\n")
            base = "http://127.0.0.1:%d" % port
            t_start = time.monotonic()
            agent = harness.Agent(cfg, cwd=d, bin=binary).start()
            try:
                agent.wait_for_http(base + "/-/healthy", timeout=60)
                pid = agent.pid
                startup_cpu = proc_stat_cpu(pid)
                # The first round (a burst over min(interval, 5 s)) must be over before the
                # window opens, or the window holds more than its whole intervals.
                up.wait_for_stats(lambda st: st["requests"]["by_endpoint"].get("models", 0) >= n,
                                  timeout=120, message="claudemon's first round of probes")
                first_round_s = time.monotonic() - t_start
                sleep_until(max(t_start + warm, time.monotonic() + 1.0))
                w = Window(pid, up)
                m0 = harness.get_metrics(base + "/metrics", timeout=30)
                scr = Scrapers(base + "/metrics", scrapers) if scrapers else None
                if scr:
                    scr.__enter__()
                w.begin()
                prof = None
                if perf:
                    # Only the window: the steady state, not the start (config, key files).
                    prof = subprocess.Popen(["perf", "record", "-q", "-F", "999", "--call-graph",
                                             "dwarf,16384", "-p", str(pid), "-o", "%s-%d.data" % (perf, n)],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                sleep_until(w.t0 + window)
                w.end()
                if scr:
                    scr.__exit__(None, None, None)
                if prof:
                    prof.send_signal(signal.SIGINT)
                    prof.wait(60)
                m1 = harness.get_metrics(base + "/metrics", timeout=30)
                r = w.result(n / interval)
                r["vmhwm_kb"] = proc_status_kb(pid, "VmHWM")
                r["vmrss_kb"] = proc_status_kb(pid, "VmRSS")
                r["rssanon_kb"] = proc_status_kb(pid, "RssAnon")
                lag = hist_delta(histogram(m0, "claudemon_scheduler_lag_seconds"),
                                 histogram(m1, "claudemon_scheduler_lag_seconds"))
                dur = hist_delta(histogram(m0, "claudemon_probe_duration_seconds"),
                                 histogram(m1, "claudemon_probe_duration_seconds"))
                r["lag_p50_ms"] = _ms(hist_quantile(0.5, lag))
                r["lag_p99_ms"] = _ms(hist_quantile(0.99, lag))
                r["lag_max_bucket_ms"] = _ms(_max_bucket(lag))
                r["lag_p99_bucket_ms"] = _ms(hist_bucket_quantile(0.99, lag))
                r["duration_p50_bucket_ms"] = _ms(hist_bucket_quantile(0.5, dur))
                r["duration_p99_bucket_ms"] = _ms(hist_bucket_quantile(0.99, dur))
                r["claudemon_probes"] = (counter_sum(m1, "claudemon_probes_total") -
                                         counter_sum(m0, "claudemon_probes_total")) if per_key == "full" else None
                r["startup_cpu_s"] = startup_cpu
                r["first_round_s"] = first_round_s
                r["per_key"] = per_key
                if scr:
                    r["scrapers"] = scrapers
                    r["scrapes_ok"] = scr.ok
                    r["scrapes_failed"] = scr.failed
                    r["scrape_max_ms"] = round(scr.max_s * 1000, 1)
                if not agent.running():
                    raise RuntimeError("claudemon exited: %s" % agent.log_text()[-2000:])
                warn = [l for l in agent.lines if "level=error" in l or "level=warn" in l]
                r["log_warnings"] = len(warn)
                if warn:
                    log("  claudemon logged %d warnings/errors, first: %s" % (len(warn), warn[0][:300]))
            finally:
                agent.close()
        finally:
            up.close()
    r.update(n=n, interval_s=interval)
    return r


def _max_bucket(h):
    """The upper bound of the highest non-empty bucket of a delta histogram."""
    les = sorted(h)
    prev = 0.0
    top = None
    for le in les:
        if h[le] > prev:
            top = le
        prev = h[le]
    return top


def _ms(v):
    if v is None:
        return None
    if v == float("inf"):
        return float("inf")
    return v * 1000.0


def run_floor(binary, n, plan, log):
    n, interval, warm, window = plan
    with tempfile.TemporaryDirectory(prefix="probe-bench-") as d:
        _, _, allp = write_keys(d, n)
        up = start_fake()
        try:
            total_ms = int((warm + window + 5) * 1000)
            t_start = time.monotonic()
            p = harness._spawn([binary, up.api_url + MODELS_PATH, str(allp), str(interval * 1000),
                                str(total_ms), str(MAX_HOST_CONNECTIONS), str(SCHED_SPREAD_MS)],
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            try:
                first = harness._read_line(p.stdout.fileno(), time.monotonic() + 30)
                first_rss = int(first.split("=", 1)[1])
                sleep_until(t_start + warm)
                w = Window(p.pid, up)
                w.begin()
                sleep_until(w.t0 + window)
                w.end()
                if scr:
                    scr.__exit__(None, None, None)
                r = w.result(n / interval)
                r["vmhwm_kb"] = proc_status_kb(p.pid, "VmHWM")
                r["vmrss_kb"] = proc_status_kb(p.pid, "VmRSS")
                r["rssanon_kb"] = proc_status_kb(p.pid, "RssAnon")
                r["first_rss_kb"] = first_rss
                p.send_signal(signal.SIGTERM)
                out, err = p.communicate(timeout=20)
                r["floor_summary"] = out.decode().strip().splitlines()[-1] if out else ""
            finally:
                harness._reap(p)
        finally:
            up.close()
    r.update(n=n, interval_s=interval)
    return r


def blackbox_config(path, keys):
    # JSON is YAML: no YAML library needed, and every key is quoted.
    modules = {}
    for i, k in enumerate(keys):
        modules["k%05d" % i] = {
            "prober": "http",
            "timeout": "10s",
            "http": {
                "method": "GET",
                "headers": {"x-api-key": k, "anthropic-version": VERSION,
                            "content-type": "application/json"},
                "valid_status_codes": [200],
                "preferred_ip_protocol": "ip4",
            },
        }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"modules": modules}, f)


class ScrapeLoop:
    """Scrapes blackbox_exporter's /probe for every key on its own grid (key i at
    i * interval / n + k * interval), as Prometheus would with one target per key, through
    a pool of threads each holding a keep-alive connection to the exporter."""

    def __init__(self, port, target, n, interval, workers=32):
        self.port = port
        self.target = urllib.parse.quote(target, safe="")
        self.n = n
        self.interval = interval
        self.pool = concurrent.futures.ThreadPoolExecutor(workers)
        self.local = threading.local()
        self.stop = threading.Event()
        self.ok = 0
        self.failed = 0
        self.late = 0
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.t0 = time.monotonic()
        self.thread.start()
        return self

    def _conn(self):
        c = getattr(self.local, "conn", None)
        if c is None:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
            self.local.conn = c
        return c

    def _scrape(self, i):
        path = "/probe?target=%s&module=k%05d" % (self.target, i)
        for attempt in (0, 1):
            c = self._conn()
            try:
                c.request("GET", path)
                r = c.getresponse()
                body = r.read()
                good = r.status == 200 and b"\nprobe_success 1" in body
                with self.lock:
                    if good:
                        self.ok += 1
                    else:
                        self.failed += 1
                return
            except (OSError, http.client.HTTPException):
                c.close()
                self.local.conn = None
                if attempt:
                    with self.lock:
                        self.failed += 1

    def _run(self):
        step = self.interval / self.n
        k = 0
        while not self.stop.is_set():
            due = self.t0 + k * step
            left = due - time.monotonic()
            if left > 0:
                if self.stop.wait(left):
                    break
            elif left < -1.0:
                self.late += 1
            self.pool.submit(self._scrape, k % self.n)
            k += 1

    def close(self):
        self.stop.set()
        self.thread.join(5)
        self.pool.shutdown(wait=True, cancel_futures=True)


def run_blackbox(binary, n, plan, log):
    n, interval, warm, window = plan
    with tempfile.TemporaryDirectory(prefix="probe-bench-") as d:
        keys, _, _ = write_keys(d, n)
        cfg = os.path.join(d, "blackbox.yml")
        blackbox_config(cfg, keys)
        up = start_fake()
        port = harness.free_port()
        try:
            p = harness._spawn([binary, "--config.file=" + cfg,
                                "--web.listen-address=127.0.0.1:%d" % port, "--log.level=warn"],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=open(os.path.join(d, "blackbox.log"), "wb"))
            loop = None
            try:
                harness.wait_until(lambda: harness.http_get("http://127.0.0.1:%d/-/healthy" % port,
                                                            timeout=1)[0] == 200, timeout=30,
                                   message="blackbox_exporter did not start")
                t_start = time.monotonic()
                loop = ScrapeLoop(port, up.api_url + MODELS_PATH, n, interval).start()
                sleep_until(t_start + warm)
                w = Window(p.pid, up)
                w.begin()
                sleep_until(w.t0 + window)
                w.end()
                if scr:
                    scr.__exit__(None, None, None)
                r = w.result(n / interval)
                r["vmhwm_kb"] = proc_status_kb(p.pid, "VmHWM")
                r["vmrss_kb"] = proc_status_kb(p.pid, "VmRSS")
                r["rssanon_kb"] = proc_status_kb(p.pid, "RssAnon")
                loop.close()
                r["scrapes_ok"] = loop.ok
                r["scrapes_failed"] = loop.failed
                r["scrapes_late"] = loop.late
                if loop.failed:
                    log("  blackbox_exporter: %d scrapes failed" % loop.failed)
            finally:
                if loop is not None:
                    loop.close()
                harness._reap(p)
        finally:
            up.close()
    r.update(n=n, interval_s=interval)
    return r


def run_curl(binary, count, rate, log):
    """count probes, one curl process each, started rate per second one after another;
    CPU and peak RSS from each child's rusage."""
    up = start_fake()
    keys = [harness.fake_key("bench-%05d" % i) for i in range(count)]
    url = up.api_url + MODELS_PATH
    cpu = []
    maxrss = []
    failed = 0
    env = harness.clean_env({"HOME": "/nonexistent"})  # no ~/.curlrc
    try:
        f0 = CpuSnap(up.proc.pid)
        p0, c0, _ = fake_counts(up)
        t0 = time.monotonic()
        for i, k in enumerate(keys):
            sleep_until(t0 + i / rate)
            # The key goes in through the config on stdin, never the command line.
            conf = ('url = "%s"\nheader = "x-api-key: %s"\nheader = "anthropic-version: %s"\n'
                    'header = "content-type: application/json"\ncompressed\nsilent\n'
                    'output = "/dev/null"\nwrite-out = "%%{http_code}"\n' % (url, k, VERSION))
            p = subprocess.Popen([binary, "-K", "-"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, env=env)
            p.stdin.write(conf.encode())
            p.stdin.close()
            out = p.stdout.read()
            p.stdout.close()
            _, status, ru = os.wait4(p.pid, 0)
            p.returncode = os.waitstatus_to_exitcode(status)
            cpu.append(ru.ru_utime + ru.ru_stime)
            maxrss.append(ru.ru_maxrss)
            if p.returncode != 0 or out.strip() != b"200":
                failed += 1
        secs = time.monotonic() - t0
        f1 = CpuSnap(up.proc.pid)
        p1, c1, stats = fake_counts(up)
        # A child's ru_maxrss starts from the RSS of the process that forked it (the kernel
        # carries the old image's high-water mark across exec), so the loop above would
        # report this Python process. /usr/bin/time is small: its children's maxrss is
        # curl's own.
        rss = []
        for k in keys[:CURL_RSS_RUNS]:
            conf = ('url = "%s"\nheader = "x-api-key: %s"\nheader = "anthropic-version: %s"\n'
                    'header = "content-type: application/json"\ncompressed\nsilent\n'
                    'output = "/dev/null"\n' % (url, k, VERSION))
            r = subprocess.run([GNU_TIME, "-f", "maxrss_kb=%M", binary, "-K", "-"], input=conf.encode(),
                               capture_output=True, env=env, timeout=30)
            for line in r.stderr.decode(errors="replace").splitlines():
                if line.startswith("maxrss_kb="):
                    rss.append(int(line.split("=", 1)[1]))
    finally:
        up.close()
    fcpu, _ = cpu_delta(f0, f1)
    probes = p1 - p0
    total = sum(cpu)
    return {
        "n": count, "window_s": round(secs, 2), "cpu_s": total, "cpu_source": "rusage",
        "probes": probes, "expected": count, "failed": failed,
        "cpu_s_per_1000": total / probes * 1000 if probes else None,
        "vmhwm_kb": int(statistics.median(rss)) if rss else None,
        "vmhwm_kb_max": max(rss) if rss else None,
        "maxrss_kb_wait4_median": int(statistics.median(maxrss)),
        "fake_cpu_s": fcpu, "fake_cpu_util": fcpu / secs, "fake_errors": stats.get("errors", 0),
        "fake_non_200": sum(v for k, v in stats["requests"]["by_status"].items() if k != "200"),
        "connections_total": c1, "connections_window": c1 - c0, "rate_per_s": rate,
    }


# ---------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------

def fmt(v, nd=2):
    if v is None:
        return "—"
    if isinstance(v, float) and v == float("inf"):
        return "+Inf"
    if isinstance(v, float):
        return ("%%.%df" % nd) % v
    return str(v)


def ratio(a, b):
    if a is None or b in (None, 0):
        return "—"
    return "%.2f" % (a / b)


def mib(kb):
    return None if kb is None else kb / 1024.0


def keeps_up(r):
    """The fake kept up when it answered at least 95% of what was expected without errors
    and was not using its whole core (it is one Python process: one core at most)."""
    got = r["probes"] / r["expected"] if r.get("expected") else 0
    return got >= 0.95 and r["fake_errors"] == 0 and r["fake_non_200"] == 0 and r["fake_cpu_util"] < 0.8


def render(res, machine, quick):
    cm, bb, fl, cu = res["claudemon"], res["blackbox"], res["floor"], res["curl"]
    sizes = sorted(cm)
    out = []
    out.append("| N keys | interval | measure | claudemon | blackbox_exporter | curl (1 process/probe) | "
               "libcurl floor | claudemon / blackbox | claudemon / curl | claudemon / floor |")
    out.append("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for n in sizes:
        c = cm[n]
        b = bb.get(n)
        f = fl.get(n)
        cpu = [c["cpu_s_per_1000"], b["cpu_s_per_1000"] if b else None, cu["cpu_s_per_1000"],
               f["cpu_s_per_1000"] if f else None]
        rss = [mib(c["vmhwm_kb"]), mib(b["vmhwm_kb"]) if b else None, mib(cu["vmhwm_kb"]),
               mib(f["vmhwm_kb"]) if f else None]
        conns = [c["connections_total"], b["connections_total"] if b else None,
                 cu["connections_total"], f["connections_total"] if f else None]
        probes = ["%d / %d" % (x["probes"], x["expected"]) if x else None for x in (c, b, cu, f)]
        iv = "%d s" % c["interval_s"]
        out.append("| %d | %s | CPU s per 1,000 probes | %s | %s | %s | %s | %s | %s | %s |" % (
            n, iv, *(fmt(x, 3) for x in cpu), ratio(cpu[0], cpu[1]), ratio(cpu[0], cpu[2]),
            ratio(cpu[0], cpu[3])))
        out.append("| %d | %s | peak RSS MiB | %s | %s | %s | %s | %s | %s | %s |" % (
            n, iv, *(fmt(x, 1) for x in rss), ratio(rss[0], rss[1]), ratio(rss[0], rss[2]),
            ratio(rss[0], rss[3])))
        anon = [mib(c.get("rssanon_kb")), mib(b.get("rssanon_kb")) if b else None, None,
                mib(f.get("rssanon_kb")) if f else None]
        out.append("| %d | %s | RssAnon MiB at the end (heap, stacks: no library text) | %s | %s | %s | %s | %s | | %s |" % (
            n, iv, *(fmt(x, 1) for x in anon), ratio(anon[0], anon[1]), ratio(anon[0], anon[3])))
        out.append("| %d | %s | TCP connections | %s | %s | %s | %s | | | |" % (
            n, iv, *(fmt(x) for x in conns)))
        out.append("| %d | %s | probes answered / expected | %s | %s | %s | %s | | | |" % (
            n, iv, *(fmt(x) for x in probes)))
    table = "\n".join(out)

    # claudemon's own figures
    lag = ["| N keys | interval | per_key | window s | probes | scheduler lag p50 ms | p99 ms | "
           "p99 bucket | max bucket | probe duration p50 / p99 bucket | startup CPU s | "
           "floor RSS after 1st request MiB |",
           "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]

    def le(v):
        return "—" if v is None else "+Inf" if v == float("inf") else "≤ %g ms" % v

    for n in sizes:
        c = cm[n]
        f = fl.get(n)
        lag.append("| %d | %d s | %s | %s | %d | %s | %s | %s | %s | %s / %s | %s | %s |" % (
            n, c["interval_s"], c["per_key"], fmt(c["window_s"], 1), c["probes"], fmt(c["lag_p50_ms"], 1),
            fmt(c["lag_p99_ms"], 1), le(c["lag_p99_bucket_ms"]), le(c["lag_max_bucket_ms"]),
            le(c["duration_p50_bucket_ms"]), le(c["duration_p99_bucket_ms"]), fmt(c["startup_cpu_s"], 2),
            fmt(mib(f["first_rss_kb"]), 1) if f else "—"))
    lagt = "\n".join(lag)

    # the fake upstream
    fk = ["| run | window s | answered / expected | fake CPU (share of one core) | non-200 | kept up |",
          "|---|---:|---:|---:|---:|---|"]
    runs = [("claudemon N=%d" % n, cm[n]) for n in sizes] + \
           [("blackbox N=%d" % n, bb[n]) for n in sorted(bb)] + \
           [("curl %d probes" % cu["n"], cu)] + [("floor N=%d" % n, fl[n]) for n in sorted(fl)]
    all_ok = True
    for name, r in runs:
        ok = keeps_up(r)
        all_ok &= ok
        fk.append("| %s | %s | %d / %d | %.0f%% | %d | %s |" % (
            name, fmt(r["window_s"], 1), r["probes"], r["expected"], 100 * r["fake_cpu_util"],
            r["fake_non_200"], "yes" if ok else "**no**"))
    fakt = "\n".join(fk)

    # targets (reported, not asserted)
    tg = []

    def target(name, ok, detail):
        tg.append("- %s %s: %s" % ("met" if ok else "**missed**", name, detail))

    for n in sizes:
        c, f, b = cm[n], fl.get(n), bb.get(n)
        if b and c["cpu_s_per_1000"] and b["cpu_s_per_1000"]:
            r = c["cpu_s_per_1000"] / b["cpu_s_per_1000"]
            target("CPU ≤ 0.05 × blackbox_exporter (N=%d)" % n, r <= 0.05, "%.3f ×" % r)
        if f and c["cpu_s_per_1000"] and f["cpu_s_per_1000"]:
            r = c["cpu_s_per_1000"] / f["cpu_s_per_1000"]
            target("CPU ≤ 1.25 × floor (N=%d)" % n, r <= 1.25, "%.2f ×" % r)
    if 100 in cm and 100 in fl:
        d = (cm[100]["vmhwm_kb"] - fl[100]["vmhwm_kb"]) / 1024
        target("peak RSS within 4 MB of the floor (N=100)", d <= 4 * 1000 * 1000 / 1048576, "%+.1f MiB" % d)
    if 1000 in cm and 1000 in bb:
        r = cm[1000]["vmhwm_kb"] / bb[1000]["vmhwm_kb"]
        target("peak RSS ≤ 0.7 × blackbox_exporter (N=1000)", r <= 0.7, "%.2f ×" % r)
    if 10000 in cm:
        c = cm[10000]
        target("peak RSS ≤ 64 MB (N=10000)", c["vmhwm_kb"] * 1024 <= 64e6, "%.1f MiB" % mib(c["vmhwm_kb"]))
        p99 = c["lag_p99_ms"]
        target("scheduler lag p99 < 250 ms (N=10000, 60 s)", p99 is not None and p99 < 250,
               "%s ms" % fmt(p99, 1))
    conns = {n: cm[n]["connections_total"] for n in sizes}
    target("connections bounded by api.max_host_connections (%d), independent of N" % MAX_HOST_CONNECTIONS,
           all(v <= MAX_HOST_CONNECTIONS for v in conns.values()),
           ", ".join("N=%d: %d" % kv for kv in conns.items()))
    tgt = "\n".join(tg)

    verdict = ("The fake upstream kept up in every run (≥ 95% of the expected requests answered, "
               "no errors, under 80% of its one core)." if all_ok else
               "**The fake upstream did not keep up in every run (see the table): those figures "
               "measure the fake as much as the contender.**")
    return table, lagt, fakt, tgt, verdict


def machine_info():
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": cpu, "kernel": "%s %s" % (platform.system(), platform.release()),
            "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}


def versions(blackbox, curl):
    out = {}
    for name, cmd in (("blackbox_exporter", [blackbox, "--version"]), ("curl", [curl, "--version"])):
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            out[name] = (r.stdout or r.stderr).splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            out[name] = "unknown"
    return out


def main():
    ap = argparse.ArgumentParser(description="claudemon vs blackbox_exporter, curl and the libcurl floor")
    ap.add_argument("--claudemon", required=True)
    ap.add_argument("--floor", required=True)
    ap.add_argument("--blackbox", default=shutil.which(BLACKBOX) or "/usr/bin/" + BLACKBOX)
    ap.add_argument("--curl", default=shutil.which("curl") or "/usr/bin/curl")
    ap.add_argument("--sizes", default="100,1000,10000")
    ap.add_argument("--only", default="claudemon,blackbox,curl,floor")
    ap.add_argument("--quick", action="store_true", help="shorter windows (a smoke run)")
    ap.add_argument("--perf", metavar="PREFIX",
                    help="perf record claudemon in each window into PREFIX-N.data (perturbs its CPU)")
    ap.add_argument("--scrapers", type=int, default=0,
                    help="K clients scrape claudemon's /metrics every second during its window")
    ap.add_argument("--json", help="write every figure as JSON here")
    ap.add_argument("--markdown", help="write the report (Markdown, no heading) here")
    args = ap.parse_args()
    for a in ("claudemon", "floor", "blackbox", "curl"):
        setattr(args, a, os.path.abspath(getattr(args, a)))
    sizes = [int(s) for s in args.sizes.split(",") if s]
    only = set(args.only.split(","))
    plans = QUICK if args.quick else PLANS

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    res = {"claudemon": {}, "blackbox": {}, "floor": {}, "curl": None}
    machine = machine_info()
    t0 = time.monotonic()
    for n in sizes:
        plan = plans[n]
        if "claudemon" in only:
            log("claudemon  N=%d interval=%ds ..." % (n, plan[1]))
            res["claudemon"][n] = run_claudemon(args.claudemon, n, plan, log, args.perf,
                                                args.scrapers)
            log("  %s" % json.dumps(res["claudemon"][n]))
        if "floor" in only:
            log("floor      N=%d ..." % n)
            res["floor"][n] = run_floor(args.floor, n, plan, log)
            log("  %s" % json.dumps(res["floor"][n]))
        if "blackbox" in only and n in BLACKBOX_SIZES:
            log("blackbox   N=%d ..." % n)
            res["blackbox"][n] = run_blackbox(args.blackbox, n, plan, log)
            log("  %s" % json.dumps(res["blackbox"][n]))
    if "curl" in only:
        log("curl       %d probes, %g/s ..." % (CURL_PROBES, CURL_RATE))
        res["curl"] = run_curl(args.curl, CURL_PROBES, CURL_RATE, log)
        log("  %s" % json.dumps(res["curl"]))
    res["machine"] = machine
    res["versions"] = versions(args.blackbox, args.curl)
    res["elapsed_s"] = round(time.monotonic() - t0, 1)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1, default=str)
    if not (res["claudemon"] and res["curl"]):
        return 0
    table, lagt, fakt, tgt, verdict = render(res, machine, args.quick)
    text = "\n\n".join([table, "claudemon's own figures in the measured window (p50/p99 interpolated in "
                        "the histogram buckets as histogram_quantile() does; the bucket columns are "
                        "what the buckets say for sure):", lagt,
                        "The fake upstream (one Python process) in each run:", fakt, verdict,
                        "Targets (reported, not asserted):", tgt])
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
