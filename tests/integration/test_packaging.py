"""Operations packaging, checked with the real tools wherever they exist on Debian 12:

  - systemd unit: `systemd-analyze verify` on the unit as the package installs it (in a
    throwaway root that holds the package's files, so ExecStart= and the man pages of
    Documentation= are really there) and as `make install` installs it under /usr/local;
    `systemd-analyze security --offline=true` for its exposure score;
  - Debian package: built with `cpack -G DEB` from the configured build dir
    (CLAUDEMON_BUILD_DIR), read back with `dpkg-deb -c/-f/-I`, its Depends checked against
    `dpkg-shlibdeps`, unpacked with `dpkg -x` (never `dpkg -i`: that would change this
    machine) and its binary run; `lintian` only when it is installed;
  - man pages: `groff -man -Tutf8 -ww` renders them without a warning, and they describe
    every command, option and config field the code and docs/config.md have;
  - Grafana dashboard: every metric name in every PromQL expression is a family of
    docs/metrics.md and of a real /metrics scrape (`claudemon run` against the fake upstream,
    plus metrics_demo for the families that need an event), every expression parses with
    `promtool`, and a real Prometheus scraping the agent answers the panels' queries;
  - container: the Dockerfile's package lists match setup.sh and the package's Depends, and
    its config passes `claudemon check-config` and listens on 0.0.0.0. (No Docker engine here:
    the image itself is not built.)

A test skips, saying why, only when a tool is not installed; packaging/setup.sh --test
installs all of them. Waiting is always polling an observable event until a deadline.
"""

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import unittest
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lib import harness  # noqa: E402

REPO = harness.REPO_ROOT
UNIT = REPO / "packaging" / "systemd" / "claudemon.service"
MAN1 = REPO / "packaging" / "man" / "claudemon.1"
MAN5 = REPO / "packaging" / "man" / "claudemon.yml.5"
DASHBOARD = REPO / "packaging" / "grafana" / "claudemon.json"
DOCKERFILE = REPO / "packaging" / "docker" / "Dockerfile"
DOCKER_CONFIG = REPO / "packaging" / "docker" / "claudemon.yml"
PACKAGE_CONFIG = REPO / "packaging" / "claudemon.yml"
MAX_EXPOSURE = 1.5  # systemd-analyze security: 1.1 now; fail if hardening is lost

# Where each tool comes from, for the skip message.
TOOL_PACKAGES = {"systemd-analyze": "systemd", "cpack": "cmake", "dpkg-deb": "dpkg",
                 "dpkg-shlibdeps": "dpkg-dev", "groff": "groff-base", "promtool": "prometheus",
                 "prometheus": "prometheus", "lintian": "lintian"}


def tool(name):
    path = shutil.which(name)
    if not path:
        raise unittest.SkipTest("%s is not installed (Debian package %s; packaging/setup.sh "
                                "--test installs it)" % (name, TOOL_PACKAGES.get(name, name)))
    return path


def run(cmd, **kw):
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 300)
    return subprocess.run([str(c) for c in cmd], **kw)


def project_version():
    r = harness.run_cli(["version"])
    m = re.match(r"claudemon (\S+)\n", r.stdout)
    assert r.returncode == 0 and m, r.stdout + r.stderr
    return m.group(1)


def build_dir():
    b = os.environ.get("CLAUDEMON_BUILD_DIR")
    if not b:
        raise unittest.SkipTest("CLAUDEMON_BUILD_DIR is not set (ctest sets it to the build dir)")
    if not (Path(b) / "CPackConfig.cmake").is_file():
        raise AssertionError("%s has no CPackConfig.cmake: is include(CPack) gone from "
                             "CMakeLists.txt?" % b)
    return Path(b)


@contextlib.contextmanager
def manifest_kept(build):
    """Installs (cmake --install, cpack) rewrite BUILD/install_manifest.txt, the list an
    operator uninstalls a source install with: put it back as it was."""
    path = Path(build) / "install_manifest.txt"
    before = path.read_bytes() if path.exists() else None
    try:
        yield path
    finally:
        if before is None:
            path.unlink(missing_ok=True)
        else:
            path.write_bytes(before)


def host_unit_tree(root):
    """systemd-analyze verify --root=ROOT resolves the unit's dependencies (sysinit.target,
    network-online.target ...) inside ROOT: give it this machine's system units."""
    src = Path("/lib/systemd/system")
    if not (src / "sysinit.target").exists():
        raise unittest.SkipTest("no systemd units on this machine (%s)" % src)
    dst = Path(root) / "usr" / "lib" / "systemd" / "system"
    if not dst.exists():
        shutil.copytree(src, dst, symlinks=True)


def verify_unit(root, unit_path, man_dir):
    """systemd-analyze verify of unit_path inside root; returns (returncode, output)."""
    env = dict(os.environ, MANPATH=str(man_dir), SYSTEMD_LOG_COLOR="0", SYSTEMD_PAGER="")
    r = run([tool("systemd-analyze"), "verify", "--root=%s" % root, unit_path], env=env)
    return r.returncode, (r.stdout + r.stderr).strip()


# --------------------------------------------------------------------------------------
# The package, built once for the module
# --------------------------------------------------------------------------------------

_deb = {}


def package():
    """(path of the .deb, unpacked root): built with cpack from CLAUDEMON_BUILD_DIR into a
    temporary folder, unpacked with dpkg -x."""
    if "path" in _deb:
        return _deb["path"], _deb["root"]
    b = build_dir()
    cpack, dpkg = tool("cpack"), tool("dpkg")
    tool("dpkg-deb")
    tmp = tempfile.mkdtemp(prefix="claudemon-deb-")
    _deb["tmp"] = tmp
    with manifest_kept(b):
        r = run([cpack, "-G", "DEB", "--config", b / "CPackConfig.cmake", "-B", tmp], cwd=b)
    if r.returncode != 0:
        raise AssertionError("cpack failed:\n" + r.stdout[-3000:] + r.stderr[-3000:])
    debs = sorted(Path(tmp).glob("*.deb"))
    assert len(debs) == 1, "cpack made %s" % debs
    root = Path(tmp) / "root"
    r = run([dpkg, "-x", debs[0], root])
    assert r.returncode == 0, r.stderr
    _deb["path"], _deb["root"] = debs[0], root
    return debs[0], root


def tearDownModule():
    if "tmp" in _deb:
        shutil.rmtree(_deb["tmp"], ignore_errors=True)


# --------------------------------------------------------------------------------------
# systemd
# --------------------------------------------------------------------------------------

class SystemdUnit(unittest.TestCase):
    def test_security_exposure(self):
        r = run([tool("systemd-analyze"), "security", "--offline=true",
                 "--threshold=%d" % (MAX_EXPOSURE * 10), "--no-pager", UNIT],
                env=dict(os.environ, SYSTEMD_LOG_COLOR="0", SYSTEMD_COLORS="0"))
        out = r.stdout + r.stderr
        m = re.search(r"Overall exposure level for claudemon\.service: (\d+\.\d+)", out)
        self.assertIsNotNone(m, out[-3000:])
        exposure = float(m.group(1))
        print("systemd-analyze security: exposure %.1f" % exposure, file=sys.stderr)
        self.assertLessEqual(exposure, MAX_EXPOSURE, out)
        self.assertEqual(r.returncode, 0, out[-3000:])
        # What must never be given up, whatever the score says.
        for line in ("DynamicUser=yes", "NoNewPrivileges=yes", "CapabilityBoundingSet=\n",
                     "ProtectSystem=strict", "StateDirectory=claudemon", "Type=notify",
                     "WatchdogSec=", "NotifyAccess=main", "UMask=0077"):
            self.assertIn(line, UNIT.read_text())

    def test_threshold_catches_a_weak_unit(self):
        # The score check is not vacuous: the same unit without its hardening fails it.
        weak = "\n".join(l for l in UNIT.read_text().splitlines()
                         if not re.match(r"(Protect|Private|Restrict|SystemCall|Capability|"
                                         r"NoNewPrivileges|DynamicUser|MemoryDeny|Lock)", l))
        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / "claudemon.service"
            p.write_text(weak + "\n")
            r = run([tool("systemd-analyze"), "security", "--offline=true",
                     "--threshold=%d" % (MAX_EXPOSURE * 10), "--no-pager", p])
        self.assertNotEqual(r.returncode, 0, r.stdout[-2000:])

    def test_verify_unit_as_packaged(self):
        _, root = package()
        host_unit_tree(root)
        unit = "/lib/systemd/system/claudemon.service"
        self.assertTrue((root / unit.lstrip("/")).is_file())
        code, out = verify_unit(root, unit, root / "usr" / "share" / "man")
        self.assertEqual(code, 0, out)
        self.assertNotIn("claudemon.service", out)

    def test_verify_fails_without_binary_or_man_pages(self):
        # The verification above really looks at ExecStart= and Documentation=.
        _, root = package()
        host_unit_tree(root)
        with tempfile.TemporaryDirectory() as d:
            bare = Path(d)
            shutil.copytree(root / "lib", bare / "lib")
            host_unit_tree(bare)
            code, out = verify_unit(bare, "/lib/systemd/system/claudemon.service", bare)
        self.assertNotEqual(code, 0)
        self.assertIn("/usr/bin/claudemon", out)
        self.assertIn("claudemon(1)", out)

    def test_make_install_layout(self):
        """`make install` (cmake --install) under /usr/local: binary, man pages, docs, rules,
        dashboard, a unit whose paths name /usr/local, and a config kept on reinstall."""
        b = build_dir()
        with tempfile.TemporaryDirectory() as d, manifest_kept(b) as manifest_path:
            env = dict(os.environ, DESTDIR=d)
            r = run([tool("cmake"), "--install", b, "--prefix", "/usr/local"], env=env)
            self.assertEqual(r.returncode, 0, r.stdout[-2000:] + r.stderr[-2000:])
            root = Path(d)
            local = root / "usr" / "local"
            for rel in ("bin/claudemon", "share/man/man1/claudemon.1.gz",
                        "share/man/man5/claudemon.yml.5.gz", "etc/claudemon/claudemon.yml",
                        "lib/systemd/system/claudemon.service",
                        "share/claudemon/prometheus/claudemon-rules.yml",
                        "share/claudemon/alertmanager/alertmanager.yml",
                        "share/claudemon/grafana/claudemon.json",
                        "share/doc/claudemon/operations.md", "share/doc/claudemon/config.md",
                        "share/doc/claudemon/examples/claudemon.example.yml"):
                self.assertTrue((local / rel).is_file(), rel)
            unit = (local / "lib/systemd/system/claudemon.service").read_text()
            self.assertIn("ExecStart=/usr/local/bin/claudemon run -c "
                          "/usr/local/etc/claudemon/claudemon.yml\n", unit)
            self.assertIn("ExecReload=/usr/local/bin/claudemon check-config "
                          "/usr/local/etc/claudemon/claudemon.yml\n", unit)
            directives = "\n".join(l for l in unit.splitlines() if not l.startswith("#"))
            self.assertNotIn("/usr/bin/claudemon", directives)
            self.assertNotIn(" /etc/claudemon", directives)
            manifest = manifest_path.read_text().splitlines()  # paths without DESTDIR
            for rel in ("lib/systemd/system/claudemon.service", "etc/claudemon/claudemon.yml",
                        "bin/claudemon", "share/man/man1/claudemon.1.gz"):
                self.assertIn("/usr/local/" + rel, manifest)
            # systemd accepts it where it is installed (systemd searches /usr/local/lib too).
            if shutil.which("systemd-analyze"):
                host_unit_tree(root)
                code, out = verify_unit(root, "/usr/local/lib/systemd/system/claudemon.service",
                                        local / "share" / "man")
                self.assertEqual(code, 0, out)
            # An operator's edits survive a reinstall from source.
            cfg = local / "etc/claudemon/claudemon.yml"
            cfg.write_text(cfg.read_text() + "# edited by the operator\n")
            r = run([tool("cmake"), "--install", b, "--prefix", "/usr/local"], env=env)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertTrue(cfg.read_text().endswith("# edited by the operator\n"))


# --------------------------------------------------------------------------------------
# The Debian package
# --------------------------------------------------------------------------------------

DEPENDS = ["libc6", "libcjson1", "libcurl4", "libmicrohttpd12", "libsqlite3-0", "libssl3",
           "libsystemd0", "libuv1", "libyaml-0-2", "ca-certificates"]
# Runtimes that only a sanitizer build links; never part of a release package.
SANITIZER_RUNTIMES = re.compile(r"^(libasan\d+|libubsan\d+|liblsan\d+|libtsan\d+|libgcc-s1|"
                                r"libstdc\+\+6)$")


def dep_names(field):
    return [re.split(r"[\s(]", d.strip(), 1)[0] for d in field.split(",") if d.strip()]


class DebianPackage(unittest.TestCase):
    def test_contents(self):
        deb, _ = package()
        r = run([tool("dpkg-deb"), "-c", deb])
        self.assertEqual(r.returncode, 0, r.stderr)
        files = {}
        for line in r.stdout.splitlines():
            parts = line.split()
            files[parts[-1].lstrip(".")] = (parts[0], parts[1])
        expected = {
            "/usr/bin/claudemon": "-rwxr-xr-x",
            "/lib/systemd/system/claudemon.service": "-rw-r--r--",
            "/etc/claudemon/claudemon.yml": "-rw-r--r--",
            "/usr/share/man/man1/claudemon.1.gz": "-rw-r--r--",
            "/usr/share/man/man5/claudemon.yml.5.gz": "-rw-r--r--",
            "/usr/share/claudemon/prometheus/claudemon-rules.yml": "-rw-r--r--",
            "/usr/share/claudemon/prometheus/claudemon-rules.test.yml": "-rw-r--r--",
            "/usr/share/claudemon/alertmanager/alertmanager.yml": "-rw-r--r--",
            "/usr/share/claudemon/grafana/claudemon.json": "-rw-r--r--",
            "/usr/share/doc/claudemon/operations.md": "-rw-r--r--",
            "/usr/share/doc/claudemon/config.md": "-rw-r--r--",
            "/usr/share/doc/claudemon/metrics.md": "-rw-r--r--",
            "/usr/share/doc/claudemon/changelog.gz": "-rw-r--r--",
            "/usr/share/doc/claudemon/examples/claudemon.example.yml": "-rw-r--r--",
        }
        for path, mode in expected.items():
            self.assertIn(path, files)
            self.assertEqual(files[path], (mode, "root/root"), path)
        # Nothing from the build or test tree, nothing under /usr/local.
        for path in files:
            self.assertFalse(path.startswith("/usr/local"), path)
            self.assertNotRegex(path, r"test_|cmocka|metrics_demo|\.o$|\.a$")
        # The packaged files are the repository's.
        _, root = package()
        self.assertEqual((root / "etc/claudemon/claudemon.yml").read_text(),
                         PACKAGE_CONFIG.read_text())
        self.assertEqual((root / "lib/systemd/system/claudemon.service").read_text(),
                         UNIT.read_text())

    def test_control_fields(self):
        deb, _ = package()
        f = run([tool("dpkg-deb"), "-f", deb]).stdout
        fields = dict(re.findall(r"^([A-Za-z-]+): (.*)$", f, re.M))
        self.assertEqual(fields["Package"], "claudemon")
        self.assertEqual(fields["Version"], project_version())
        arch = run(["dpkg", "--print-architecture"]).stdout.strip()
        self.assertEqual(fields["Architecture"], arch)
        self.assertEqual(dep_names(fields["Depends"]), DEPENDS)
        self.assertEqual(fields["Section"], "net")
        for line in f.splitlines():  # the description: lines of at most 80 characters
            if line.startswith(" ") or line.startswith("Description:"):
                self.assertLessEqual(len(line), 80, line)
        # The conffile, and maintainer scripts that are executable and parse.
        with tempfile.TemporaryDirectory() as d:
            r = run([tool("dpkg-deb"), "-e", deb, d])
            self.assertEqual(r.returncode, 0, r.stderr)
            ctl = Path(d)
            self.assertEqual((ctl / "conffiles").read_text().split(),
                             ["/etc/claudemon/claudemon.yml"])
            for script in ("postinst", "prerm", "postrm"):
                p = ctl / script
                self.assertTrue(os.access(p, os.X_OK), script)
                self.assertEqual(run(["sh", "-n", p]).returncode, 0, script)
                code = "\n".join(l for l in p.read_text().splitlines()
                                 if not l.lstrip().startswith("#"))
                # Never enable or start on install: the service needs a key first.
                self.assertNotRegex(code, r"deb-systemd-invoke (start|restart)\b|"
                                          r"systemctl (--\S+ )*(enable|start)\b|"
                                          r"deb-systemd-helper enable", script)
        # The changelog's version is the package's.
        _, root = package()
        import gzip
        head = gzip.open(root / "usr/share/doc/claudemon/changelog.gz", "rt").readline()
        self.assertEqual(head.split()[:2], ["claudemon", "(%s)" % project_version()])

    def test_depends_cover_the_shared_libraries(self):
        """Every package dpkg-shlibdeps derives from the binary's DT_NEEDED entries is in
        Depends (and each Depends runtime library is really linked)."""
        shlibdeps = tool("dpkg-shlibdeps")
        _, root = package()
        with tempfile.TemporaryDirectory() as d:
            (Path(d) / "debian").mkdir()
            (Path(d) / "debian" / "control").write_text("")
            r = run([shlibdeps, "-O", root / "usr/bin/claudemon"], cwd=d)
        self.assertEqual(r.returncode, 0, r.stderr)
        m = re.search(r"shlibs:Depends=(.*)", r.stdout)
        self.assertIsNotNone(m, r.stdout)
        needed = [p for p in dep_names(m.group(1)) if not SANITIZER_RUNTIMES.match(p)]
        for p in needed:
            self.assertIn(p, DEPENDS, "the binary links a library of %s, which the package "
                                      "does not depend on" % p)
        self.assertEqual(sorted(set(DEPENDS) - set(needed)), ["ca-certificates"])

    def test_unpacked_binary_runs(self):
        _, root = package()
        binary = root / "usr/bin/claudemon"
        r = harness.run_cli(["version"], env={})
        r2 = run([binary, "version"], env=harness.clean_env())
        self.assertEqual(r2.returncode, 0, r2.stderr)
        self.assertEqual(r2.stdout.splitlines()[0], r.stdout.splitlines()[0])
        self.assertRegex(r2.stdout, r"(?m)^libcurl \S+ \(OpenSSL/3")
        # The shipped config is valid as installed (the credential is not there: a warning).
        r = run([binary, "check-config", root / "etc/claudemon/claudemon.yml"],
                env=harness.clean_env())
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("ok (1 key)", r.stdout)
        self.assertIn("/run/credentials/claudemon.service/prod", r.stderr)
        self.assertNotIn("error", r.stderr.lower())

    def test_lintian(self):
        lintian = tool("lintian")
        deb, _ = package()
        r = run([lintian, "--tag-display-limit", "0", deb], timeout=600)
        tags = re.findall(r"^([EW]): claudemon: (\S+)", r.stdout, re.M)
        # Known and owned by the project, not by packaging: no licence has been chosen yet
        # (so no copyright file) and the maintainer address is a placeholder
        # (-DCLAUDEMON_DEB_MAINTAINER sets it).
        known = {"no-copyright-file", "bogus-mail-host", "bogus-mail-host-in-debian-changelog"}
        unexpected = [t for t in tags if t[1] not in known]
        self.assertEqual(unexpected, [], r.stdout)


# --------------------------------------------------------------------------------------
# Man pages
# --------------------------------------------------------------------------------------

def render(page, wide=False):
    """groff's rendering; wide=True: one very long line per paragraph and no hyphenation, so
    text checks are not broken by line ends."""
    opts = ["-rLL=2000n", "-rHY=0"] if wide else []
    return run([tool("groff"), "-man", "-Tutf8", "-ww"] + opts + [page],
               env=dict(os.environ, LC_ALL="C.UTF-8"))


def plain(text):
    """groff's terminal output without overstrike and SGR sequences, with real hyphens."""
    text = re.sub(r".\x08", "", text)
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    return text.replace("\u2010", "-").replace("\u2212", "-")


def unwrapped(text):
    """Rendered text as one line."""
    return re.sub(r"\s+", " ", text)


class ManPages(unittest.TestCase):
    def test_render_without_warnings(self):
        for page in (MAN1, MAN5):
            r = render(page)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stderr, "", "%s: %s" % (page.name, r.stderr))
            self.assertGreater(len(r.stdout), 5000, page.name)
        # The check can fail: an unknown macro is a warning.
        with tempfile.TemporaryDirectory() as d:
            bad = Path(d) / "bad.1"
            bad.write_text(MAN1.read_text() + ".XY unknown macro\n")
            self.assertNotEqual(render(bad).stderr, "")
        if shutil.which("man"):
            r = run(["man", "-l", MAN1], env=dict(os.environ, MANWIDTH="80", MAN_KEEP_FORMATTING="0",
                                                 PAGER="cat", MANPAGER="cat"))
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("claudemon", r.stdout)

    def test_version_and_sections(self):
        v = project_version()
        for page, section in ((MAN1, "1"), (MAN5, "5")):
            th = re.search(r'^\.TH (\S+) (\d) "[^"]*" "claudemon ([^"]+)"', page.read_text(), re.M)
            self.assertIsNotNone(th, page.name)
            self.assertEqual(th.group(2), section)
            self.assertEqual(th.group(3), v, "%s names another version than the binary" % page.name)
        text = plain(render(MAN1).stdout)
        for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "OPTIONS", "EXIT STATUS",
                        "SIGNALS", "ENVIRONMENT", "FILES", "EXAMPLES", "SEE ALSO"):
            self.assertRegex(text, r"(?m)^%s$" % section)

    def test_every_command_option_and_exit_status(self):
        text = unwrapped(plain(render(MAN1, wide=True).stdout))
        main_help = harness.run_cli(["--help"]).stdout
        commands = re.findall(r"(?m)^  ([a-z-]+) ", main_help.split("commands:")[1])
        self.assertEqual(commands, ["run", "check", "check-config", "history", "incidents",
                                    "version"])
        for cmd in commands:
            self.assertRegex(text, r"claudemon %s\b" % re.escape(cmd))
            usage = harness.run_cli([cmd, "--help"]).stdout
            for opt in set(re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)", usage)):
                self.assertIn(opt, text, "claudemon %s %s is not in claudemon.1" % (cmd, opt))
        for word in ("SIGTERM", "SIGINT", "SIGHUP", "ANTHROPIC_API_KEY", "HTTPS_PROXY",
                     "/etc/claudemon/claudemon.yml", "/var/lib/claudemon/claudemon.db",
                     "/run/credentials/claudemon.service", "LoadCredential=",
                     "/-/ready", "/metrics", "logfmt", "[REDACTED]"):
            self.assertIn(word, text)
        exit_status = text.split("EXIT STATUS")[1].split("SIGNALS")[0]
        for code in ("0", "1", "2", "3"):
            self.assertRegex(exit_status, r"(^| )%s " % code)

    def test_every_config_field_with_its_default(self):
        """Each field of docs/config.md's tables is in claudemon.yml(5), with the default the
        table gives (where the default is a literal)."""
        doc = (REPO / "docs" / "config.md").read_text()
        fields_part = doc.split("## Fields")[1].split("## What is refused")[0]
        text = unwrapped(plain(render(MAN5, wide=True).stdout))
        text = text.split("TOP-LEVEL FIELDS")[1].split("WHAT IS REFUSED")[0]
        prefix, probe, checked = "", "", 0
        for line in fields_part.splitlines():
            h = re.match(r"### (.*)", line)
            if h:  # "### `api`" -> "api."; "### Top level" and "### `keys[]`" -> ""
                m = re.fullmatch(r"`([a-z_]+)`", h.group(1))
                prefix = m.group(1) + "." if m else ""
                continue
            if not (line.startswith("| `") or line.startswith("| |")):
                continue
            cols = [c.strip().replace("\0", "|")
                    for c in line.replace("\\|", "\0").strip().strip("|").split("|")]
            if len(cols) == 5:  # keys[].probes: | probe | field | type | default | meaning |
                probe = cols[0].strip("`") or probe
                names, typ, default = ["probes.%s.%s" % (probe, cols[1].strip("`"))], cols[2], cols[3]
            else:
                names = [prefix + n for n in re.findall(r"`([a-z_.]+)`", cols[0])]
                typ, default = cols[1], cols[2]
            if typ == "map":  # a section: described under its own heading
                continue
            for n in names:
                checked += 1
                m = re.search(re.escape(n) + r" (\(|/ )", text)
                self.assertIsNotNone(m, "claudemon.yml(5) does not describe %s" % n)
                lit = re.fullmatch(r"`([^`<]+)`(?: \(no cap\))?", default)
                if lit:
                    entry = text[m.start():m.start() + 200]
                    self.assertIn("default " + lit.group(1), entry,
                                  "%s: default %s not in %r" % (n, lit.group(1), entry))
        self.assertGreater(checked, 45)


# --------------------------------------------------------------------------------------
# Grafana dashboard
# --------------------------------------------------------------------------------------

PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and",
                "or", "unless", "offset", "inf", "nan"}
# Series that Prometheus makes itself for every target.
PROMETHEUS_SERIES = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}
GRAFANA_VARS = {"$__rate_interval": "15s", "$__interval": "15s", "$__range": "1h"}


def metric_names(expr):
    """The metric names an expression selects: everything that is an identifier and not a
    function, an aggregation, a keyword, a label name in by/on/without lists or inside
    braces, a string, a duration or a Grafana variable."""
    s = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    s = re.sub(r"'(?:[^'\\]|\\.)*'", "''", s)
    s = re.sub(r"\{[^}]*\}", " ", s)
    s = re.sub(r"\[[^\]]*\]", " ", s)
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    s = re.sub(r"\$\{?\w+\}?", " ", s)
    names = set()
    for m in re.finditer(r"(?<![\w:.])[a-zA-Z_:][\w:]*", s):
        if s[m.end():].lstrip().startswith("("):
            continue
        if m.group(0).lower() in PROMQL_WORDS:
            continue
        names.add(m.group(0))
    return names


def dashboard_queries(dash):
    """[(where, PromQL expression)] of every panel target and annotation, and the metric
    selectors of the template variables' label_values() queries."""
    out = []
    for p in dash["panels"]:
        for sub in [p] + p.get("panels", []):
            for t in sub.get("targets", []):
                out.append((sub["title"], t["expr"]))
    for a in dash.get("annotations", {}).get("list", []):
        if a.get("expr"):
            out.append(("annotation " + a["name"], a["expr"]))
    for v in dash.get("templating", {}).get("list", []):
        q = v.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        m = re.match(r"label_values\((.*),\s*\w+\)$", q or "")
        if m:
            out.append(("variable $" + v["name"], m.group(1)))
    return out


def substitute(expr):
    for k, v in GRAFANA_VARS.items():
        expr = expr.replace(k, v)
    return expr.replace("$job", "claudemon").replace("$instance", ".*").replace("$key", ".*")


def documented_series():
    """Series names of docs/metrics.md's families (histograms by _bucket/_sum/_count)."""
    names = set()
    for name, typ in re.findall(r"^\| `([a-z_]+)` \| ([a-z]+)", (REPO / "docs/metrics.md").read_text(), re.M):
        if typ == "histogram":
            names |= {name + "_bucket", name + "_sum", name + "_count"}
        else:
            names.add(name)
    return names


class GrafanaDashboard(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dash = json.loads(DASHBOARD.read_text())
        cls.queries = dashboard_queries(cls.dash)
        cls.used = set()
        for _, q in cls.queries:
            cls.used |= metric_names(q)

    def test_extractor(self):
        self.assertEqual(metric_names('histogram_quantile(0.95, sum by (le, probe) (rate('
                                      'claudemon_probe_duration_seconds_bucket{job=~"$job"}'
                                      '[$__rate_interval])))'),
                         {"claudemon_probe_duration_seconds_bucket"})
        self.assertEqual(metric_names('a_b / on (key) group_left (cause) c{x="y z"} or vector(0)'
                                      ' * 1e3 offset 5m'), {"a_b", "c"})

    def test_structure(self):
        d = self.dash
        self.assertGreaterEqual(d["schemaVersion"], 36)
        self.assertEqual([i["name"] for i in d["__inputs"]], ["DS_PROMETHEUS"])
        self.assertEqual(d["__inputs"][0]["pluginId"], "prometheus")
        ids, boxes = set(), []
        for p in d["panels"]:
            self.assertNotIn(p["id"], ids)
            ids.add(p["id"])
            g = p["gridPos"]
            self.assertLessEqual(g["x"] + g["w"], 24, p["title"])
            if p["type"] == "row":
                continue
            self.assertEqual(p["datasource"], {"type": "prometheus", "uid": "${DS_PROMETHEUS}"},
                             p["title"])
            for t in p["targets"]:
                self.assertEqual(t["datasource"]["uid"], "${DS_PROMETHEUS}")
            for b in boxes:  # no two panels overlap
                self.assertFalse(g["x"] < b["x"] + b["w"] and b["x"] < g["x"] + g["w"] and
                                 g["y"] < b["y"] + b["h"] and b["y"] < g["y"] + g["h"],
                                 "%s overlaps another panel" % p["title"])
            boxes.append(g)
        types = {p["title"]: p["type"] for p in d["panels"]}
        self.assertEqual(types["Verdict"], "stat")
        self.assertEqual(types["Cause per key"], "state-timeline")
        self.assertEqual(types["Watched components"], "state-timeline")
        # Every topic the dashboard is for has its series.
        for name in ("claudemon_verdict", "claudemon_platform_incident", "claudemon_key_cause",
                     "claudemon_status_component", "claudemon_status_incidents",
                     "claudemon_probe_duration_seconds_bucket", "claudemon_ratelimit_remaining",
                     "claudemon_ratelimit_limit", "claudemon_probe_tokens_total",
                     "claudemon_scheduler_lag_seconds_bucket", "claudemon_storage_errors_total",
                     "claudemon_storage_queue_length", "claudemon_alerts_sent_total", "up",
                     "process_cpu_seconds_total", "process_resident_memory_bytes"):
            self.assertIn(name, self.used)
        self.assertTrue(any("histogram_quantile" in q and "claudemon_probe_duration_seconds_bucket"
                            in q for _, q in self.queries))

    def test_metric_names_are_documented(self):
        unknown = self.used - documented_series() - PROMETHEUS_SERIES
        self.assertEqual(unknown, set(), "not families of docs/metrics.md")

    def test_expressions_parse(self):
        promtool = tool("promtool")
        with tempfile.TemporaryDirectory() as d:
            rules = {"groups": [{"name": "dashboard", "rules": [
                {"record": "dashboard:q%d" % i, "expr": substitute(q)}
                for i, (_, q) in enumerate(self.queries)]}]}
            p = Path(d) / "rules.yml"
            p.write_text(json.dumps(rules))  # JSON is YAML
            r = run([promtool, "check", "rules", p])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


class DashboardAgainstAgent(unittest.TestCase):
    """The dashboard against `claudemon run` on the fake upstream (two keys, one revoked; a
    messages probe so tokens are spent; an Alertmanager URL so alerts are pushed) and a real
    Prometheus scraping it every second."""

    @classmethod
    def setUpClass(cls):
        cls.dash = json.loads(DASHBOARD.read_text())
        cls.queries = dashboard_queries(cls.dash)
        cls.tmp = tempfile.TemporaryDirectory()
        cls.addClassCleanup(cls.tmp.cleanup)
        good, bad = harness.fake_key("good"), harness.fake_key("bad")
        cls.secrets = [good, bad]
        cls.up = harness.FakeUpstream({"default": "ok", "status_page": "operational",
                                       "keys": {good: {"label": "good"},
                                                bad: {"label": "bad", "behaviour": "auth_invalid"}}})
        cls.up.start()
        cls.addClassCleanup(cls.up.close)
        cls.port = harness.free_port()
        cls.base = "http://127.0.0.1:%d" % cls.port
        cfg = harness.write_config(cls.tmp.name, """
            listen: 127.0.0.1:%d
            database: claudemon.db
            api: { base_url: "%s", min_interval: 1s, timeout: 2s }
            status_page: { url: "%s", interval: 1s }
            alerting: { alertmanager: ["%s"], resend_interval: 1s }
            keys:
              - name: good
                key_env: KEY_GOOD
                probes:
                  models: { interval: 1s }
                  count_tokens: { interval: 1s }
                  messages: { interval: 1s }
              - name: bad
                key_env: KEY_BAD
                probes: { models: { interval: 1s } }
            """ % (cls.port, cls.up.api_url, cls.up.status_url, cls.up.api_url))
        cls.agent = harness.Agent(cfg, env={"KEY_GOOD": good, "KEY_BAD": bad})
        cls.agent.start()
        cls.addClassCleanup(cls.agent.close)
        cls.agent.wait_for_http(cls.base + "/-/ready", timeout=30)

    def scrape(self):
        return {n for n, _, _ in harness.get_metrics(self.base + "/metrics")}

    def test_metric_names_are_exported(self):
        used = set()
        for _, q in self.queries:
            used |= metric_names(q)
        used -= PROMETHEUS_SERIES
        # Families that appear only after an event this agent has not seen: the lead time of
        # a platform incident. metrics_demo (the same registry, filled) must export them.
        after_event = {"claudemon_detection_lead_seconds"}
        last = {}

        def all_there():
            last["missing"] = used - after_event - self.scrape()
            return not last["missing"]

        harness.wait_until(all_there, 30, message=lambda: "not exported by claudemon run: %s"
                           % sorted(last["missing"]))
        demo = os.environ.get("CLAUDEMON_METRICS_DEMO")
        if not demo:
            self.skipTest("CLAUDEMON_METRICS_DEMO is not set")
        proc = harness._spawn([demo], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            port = int(harness._read_line(proc.stdout.fileno(), time.monotonic() + 30))
            names = {n for n, _, _ in harness.get_metrics("http://127.0.0.1:%d/metrics" % port)}
            self.assertEqual(after_event - names, set(), "not exported by metrics_demo")
        finally:
            harness._reap(proc)
            harness._close_pipes(proc)

    def test_panels_answer_in_prometheus(self):
        prometheus = tool("prometheus")
        d = Path(self.tmp.name)
        port = harness.free_port()
        (d / "prometheus.yml").write_text(textwrap.dedent("""\
            global: { scrape_interval: 1s, scrape_timeout: 1s }
            scrape_configs:
              - job_name: claudemon
                static_configs: [{ targets: ["127.0.0.1:%d"] }]
            """ % self.port))
        log = open(d / "prometheus.log", "wb")
        self.addCleanup(log.close)
        prom = harness._spawn([prometheus, "--config.file=%s" % (d / "prometheus.yml"),
                               "--storage.tsdb.path=%s" % (d / "tsdb"),
                               "--web.listen-address=127.0.0.1:%d" % port],
                              stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        self.addCleanup(harness._reap, prom)
        api = "http://127.0.0.1:%d/api/v1" % port

        def query(q):
            status, _, body = harness.http_get(api + "/query?" + urllib.parse.urlencode({"query": q}))
            data = json.loads(body)
            if data.get("status") != "success":
                raise AssertionError("%s: %s" % (q, body[:500]))
            return data["data"]["result"]

        # Queries that legitimately have no answer on this scenario (no incident, nothing
        # unresolved on the page, no lead time yet).
        may_be_empty = {"Detection lead (last incident)", "Unresolved incidents",
                        "annotation Platform incidents"}
        state = {}

        def everything_answers():
            if prom.poll() is not None:
                raise AssertionError("prometheus exited: %s" % (d / "prometheus.log").read_text()[-2000:])
            # enough scrapes for rate() over the dashboard's windows
            r = query('count_over_time(up{job="claudemon"}[1m])')
            if not r or float(r[0]["value"][1]) < 8:
                state["empty"] = ["(waiting for scrapes)"]
                return False
            state["empty"] = [w for w, q in self.queries
                              if w not in may_be_empty and not w.startswith("variable")
                              and not query(substitute(q))]
            return not state["empty"]

        harness.wait_until(everything_answers, 90, interval=0.5,
                           message=lambda: "panels without data: %s" % state.get("empty"))
        # The answers say what the scenario is: one key revoked, a local verdict.
        verdict = query(substitute(dict(self.queries)["Verdict"]))
        self.assertEqual([(r["metric"]["scope"], r["metric"]["cause"]) for r in verdict],
                         [("local", "auth_invalid")])
        failing = query(substitute(dict(self.queries)["Failing keys now"]))
        self.assertEqual([(r["metric"]["key"], r["metric"]["cause"]) for r in failing],
                         [("bad", "auth_invalid")])
        causes = {r["metric"]["key"]: r["value"][1]
                  for r in query(substitute(dict(self.queries)["Cause per key"]))}
        self.assertEqual(causes, {"good": "0", "bad": "1"})  # value mappings: ok, auth_invalid
        # The template variables find the agent and its keys.
        for where, selector in self.queries:
            if not where.startswith("variable"):
                continue
            label = {"variable $job": "job", "variable $instance": "instance",
                     "variable $key": "key"}[where]
            status, _, body = harness.http_get(api + "/label/%s/values?" % label +
                                               urllib.parse.urlencode({"match[]": substitute(selector)}))
            self.assertTrue(json.loads(body)["data"], where)


# --------------------------------------------------------------------------------------
# Container
# --------------------------------------------------------------------------------------

def dockerfile_stages():
    """[(FROM line, [apt packages installed])] of the Dockerfile."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    stages = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("FROM "):
            stages.append([line, []])
        m = re.search(r"apt-get install ([^&]*)", line)
        if m and stages:
            stages[-1][1] += [w for w in m.group(1).split() if not w.startswith("-")]
    return [(s[0], s[1]) for s in stages]


class Container(unittest.TestCase):
    def test_build_and_runtime_packages(self):
        stages = dockerfile_stages()
        self.assertEqual(len(stages), 2)
        (build_from, build_pkgs), (run_from, run_pkgs) = stages
        self.assertEqual(build_from, "FROM debian:bookworm AS build")
        self.assertEqual(run_from, "FROM debian:bookworm-slim")
        setup = (REPO / "packaging" / "setup.sh").read_text()
        m = re.search(r'build_pkgs="([^"]*)"', setup)
        self.assertEqual(sorted(build_pkgs), sorted(m.group(1).split()))
        # The runtime stage installs exactly the package's Depends (libc6 is in the image).
        self.assertEqual(sorted(run_pkgs), sorted(set(DEPENDS) - {"libc6"}))

    def test_packages_exist_in_this_debian(self):
        stages = dockerfile_stages()
        names = stages[0][1] + stages[1][1]
        r = run(["apt-cache", "policy"] + names)
        if "Candidate:" not in r.stdout:
            self.skipTest("apt has no package lists here (apt-get update)")
        for name in names:
            m = re.search(r"^%s:\n\s+Installed: .*\n\s+Candidate: (\S+)" % re.escape(name),
                          r.stdout, re.M)
            self.assertIsNotNone(m, "apt knows no package %s" % name)
            self.assertNotEqual(m.group(1), "(none)", "no candidate for %s" % name)

    def test_image_files_and_user(self):
        text = DOCKERFILE.read_text()
        for src in re.findall(r"^COPY (?!--from)(\S+) ", text, re.M):
            if src != ".":
                self.assertTrue((REPO / src).exists(), src)
        self.assertIn("COPY packaging/docker/claudemon.yml /etc/claudemon/claudemon.yml", text)
        self.assertRegex(text, r"(?m)^USER \d+:\d+$")  # numeric: runAsNonRoot can check it
        self.assertRegex(text, r'(?m)^VOLUME \["/var/lib/claudemon"\]$')
        self.assertRegex(text, r"(?m)^EXPOSE 9464$")
        self.assertIn('CMD ["run", "-c", "/etc/claudemon/claudemon.yml"]', text)
        ignore = (DOCKERFILE.parent / "Dockerfile.dockerignore").read_text().split()
        for entry in (".git", "build", "build-*"):
            self.assertIn(entry, ignore)

    def test_container_config(self):
        r = harness.run_cli(["check-config", DOCKER_CONFIG], env={"ANTHROPIC_API_KEY": None})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("ok (1 key)", r.stdout)
        # Only the expected warning: the key comes from `docker run -e ANTHROPIC_API_KEY`.
        warnings = [l for l in r.stderr.splitlines() if l]
        self.assertEqual(len(warnings), 1, r.stderr)
        self.assertIn("ANTHROPIC_API_KEY", warnings[0])
        text = DOCKER_CONFIG.read_text()
        self.assertRegex(text, r"(?m)^listen: 0\.0\.0\.0:9464$")
        self.assertRegex(text, r"(?m)^database: /var/lib/claudemon/")

    def test_container_config_serves_on_all_interfaces(self):
        """The container's config as the image runs it, with a free port and a temporary
        database: bound to 0.0.0.0, it answers on 127.0.0.2 too, where a server bound to
        127.0.0.1 (the default config) would not."""
        with tempfile.TemporaryDirectory() as d:
            port = harness.free_port()
            text = DOCKER_CONFIG.read_text()
            text = text.replace("listen: 0.0.0.0:9464", "listen: 0.0.0.0:%d" % port)
            text = re.sub(r"(?m)^database: .*$", "database: %s/claudemon.db" % d, text)
            text += "status_page: { enabled: false }\n"
            cfg = harness.write_config(d, text)
            with harness.Agent(cfg, env={"ANTHROPIC_API_KEY": None}) as agent:
                agent.wait_for_log(r"msg=listening address=0\.0\.0\.0:%d" % port, timeout=20)
                for addr in ("127.0.0.1", "127.0.0.2"):
                    agent.wait_for_http("http://%s:%d/-/healthy" % (addr, port), timeout=10)
                self.assertEqual(agent.stop(), 0)

if __name__ == "__main__":
    unittest.main()
