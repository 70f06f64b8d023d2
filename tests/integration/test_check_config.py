"""`claudemon check-config FILE` run as a user would: exit codes, stdout, and the exact
FILE:LINE:COL messages on stderr, including that an inline key is refused without being
echoed."""
import os
import random
import string
import subprocess
import tempfile
import unittest

BIN = os.environ.get("CLAUDEMON_BIN", "build/claudemon")
SOURCE_DIR = os.environ.get("CLAUDEMON_SOURCE_DIR", ".")


def fake_key():
    rnd = random.Random(20261128)
    return "sk-ant-api03-" + "".join(rnd.choice(string.ascii_letters) for _ in range(90))


class CheckConfigTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="claudemon-check-config-")
        self.env = dict(os.environ, CLAUDEMON_TEST_KEY="x")

    def tearDown(self):
        self.tmp.cleanup()

    def write(self, name, text):
        path = os.path.join(self.tmp.name, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def run_check(self, *args):
        return subprocess.run([BIN, "check-config", *args], capture_output=True, text=True,
                              env=self.env, timeout=30, check=False)

    def test_valid(self):
        path = self.write("ok.yml", "keys:\n  - name: prod\n    key_env: CLAUDEMON_TEST_KEY\n")
        r = self.run_check(path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, f"{path}: ok (1 key)\n")
        self.assertEqual(r.stderr, "")

    def test_warning_keeps_exit_zero(self):
        self.env.pop("CLAUDEMON_UNSET_VAR", None)
        path = self.write("warn.yml", "keys:\n  - name: a\n    key_env: CLAUDEMON_UNSET_VAR\n"
                                      "  - name: b\n    key_env: CLAUDEMON_TEST_KEY\n")
        r = self.run_check(path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, f"{path}: ok (2 keys)\n")
        self.assertRegex(r.stderr, rf"^{path}:3:14: warning: key 'a': environment variable "
                                   r"CLAUDEMON_UNSET_VAR is not set")

    def test_unknown_field_with_suggestion(self):
        path = self.write("typo.yml", "keys:\n  - name: prod\n    key_env: CLAUDEMON_TEST_KEY\n"
                                      "    probes:\n      models: { intervall: 60s }\n")
        r = self.run_check(path)
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.stdout, "")
        self.assertEqual(r.stderr,
                         f"{path}:5:17: unknown field 'intervall' (did you mean 'interval'?)\n")

    def test_not_yaml(self):
        path = self.write("bad.yml", "listen: [1, 2\n")
        r = self.run_check(path)
        self.assertEqual(r.returncode, 2)
        self.assertTrue(r.stderr.startswith(f"{path}:2:1: not valid YAML: "), r.stderr)

    def test_empty_file(self):
        path = self.write("empty.yml", "")
        r = self.run_check(path)
        self.assertEqual(r.returncode, 2)
        self.assertTrue(r.stderr.startswith(f"{path}:1:1: the file is empty"), r.stderr)

    def test_missing_file(self):
        path = os.path.join(self.tmp.name, "missing.yml")
        r = self.run_check(path)
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.stderr, f"{path}: cannot read config: No such file or directory\n")

    def test_inline_key_refused_without_echo(self):
        key = fake_key()
        path = self.write("inline.yml", f"keys:\n  - name: prod\n    key: {key}\n")
        r = self.run_check(path)
        self.assertEqual(r.returncode, 2)
        self.assertIn(f"{path}:3:5: inline API keys are not allowed: put the key in an "
                      "environment variable and name it with key_env, or in a file named with "
                      "key_file", r.stderr)
        for i in range(0, len(key) - 16, 8):
            self.assertNotIn(key[i:i + 16], r.stderr + r.stdout)

    def test_several_errors_reported_together(self):
        path = self.write("many.yml", "api: { timeout: 10 }\nclassifier: { quorum: 2 }\n"
                                      "keys:\n  - key_env: CLAUDEMON_TEST_KEY\n")
        r = self.run_check(path)
        self.assertEqual(r.returncode, 2)
        lines = r.stderr.splitlines()
        self.assertEqual(len(lines), 3, r.stderr)
        self.assertTrue(lines[0].startswith(f"{path}:1:17: api.timeout: malformed duration"))
        self.assertTrue(lines[1].startswith(f"{path}:2:23: classifier.quorum"))
        self.assertTrue(lines[2].startswith(f"{path}:4:5: keys[0]: missing required field"))

    def test_example_config_is_valid(self):
        path = os.path.join(SOURCE_DIR, "packaging", "claudemon.example.yml")
        r = self.run_check(path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, f"{path}: ok (2 keys)\n")

    def test_docs_full_example_is_valid(self):
        with open(os.path.join(SOURCE_DIR, "docs", "config.md"), encoding="utf-8") as f:
            doc = f.read()
        section = doc.split("## Full example", 1)[1]
        example = section.split("```yaml\n", 1)[1].split("```", 1)[0]
        path = self.write("docs-example.yml", example)
        r = self.run_check(path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, f"{path}: ok (2 keys)\n")

    def test_usage(self):
        r = self.run_check("--help")
        self.assertEqual(r.returncode, 0)
        self.assertIn("usage: claudemon check-config FILE", r.stdout)
        r = self.run_check()
        self.assertEqual(r.returncode, 2)
        self.assertIn("usage:", r.stderr)
        r = self.run_check("a.yml", "b.yml")
        self.assertEqual(r.returncode, 2)
        r = self.run_check("--bogus")
        self.assertEqual(r.returncode, 2)


if __name__ == "__main__":
    unittest.main()
