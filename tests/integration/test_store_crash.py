"""Crash safety of the store: a writer (tests/storage/store_crash_writer.c, the real
storage/store.c) is killed with SIGKILL at random moments; after each kill the database must
open, pass PRAGMA integrity_check, and hold every batch the writer reported committed, whole
(its transition and all its probe rows), and the claudemon CLI must read it.

Default: 5 rounds (the suite). The long run, not in the default suite:

    CLAUDEMON_CRASH_ROUNDS=100 CLAUDEMON_STORE_CRASH_WRITER=build/tests/store_crash_writer \
    CLAUDEMON_BIN=build/claudemon python3 -m unittest -v tests/integration/test_store_crash.py

CLAUDEMON_CRASH_SEED replays a run (the seed is printed on failure).
"""

import json
import os
import random
import sqlite3
import subprocess
import tempfile
import time
import unittest

BATCH = 200


class StoreCrashTest(unittest.TestCase):
    def setUp(self):
        self.writer = os.environ.get("CLAUDEMON_STORE_CRASH_WRITER")
        self.cli = os.environ.get("CLAUDEMON_BIN")
        if not self.writer or not os.path.exists(self.writer):
            self.skipTest("CLAUDEMON_STORE_CRASH_WRITER is not set (run through ctest)")
        self.rounds = int(os.environ.get("CLAUDEMON_CRASH_ROUNDS", "5"))
        self.seed = int(os.environ.get("CLAUDEMON_CRASH_SEED", str(time.time_ns() % 1000003)))
        self.rng = random.Random(self.seed)

    def check_database(self, db, committed, round_no):
        where = f"round {round_no}, seed {self.seed}"
        con = sqlite3.connect(db, timeout=5)
        try:
            self.assertEqual(con.execute("PRAGMA integrity_check").fetchone()[0], "ok", where)
            present = {
                int(rid[len("crash-"):]): n
                for rid, n in con.execute(
                    "SELECT request_id, count(*) FROM key_transitions GROUP BY request_id")
            }
            missing = sorted(committed - set(present))
            self.assertEqual(missing, [], f"committed batches lost ({where})")
            # Every batch in the file is whole: one transition and all of its probe rows.
            probes = dict(con.execute(
                "SELECT request_id, count(*) FROM probes GROUP BY request_id"))
            for bid, n in present.items():
                self.assertEqual(n, 1, f"batch {bid} has {n} transitions ({where})")
                self.assertEqual(probes.get(f"crash-{bid}"), BATCH,
                                 f"batch {bid} is not whole ({where})")
            self.assertEqual(set(probes), {f"crash-{b}" for b in present}, where)
            rolled = con.execute(
                "SELECT (SELECT coalesce(sum(n_ok + n_rate_limited), 0) FROM rollups) + "
                "(SELECT coalesce(sum(n_ok + n_rate_limited), 0) FROM rollups_recent)").fetchone()[0]
            self.assertEqual(rolled, BATCH * len(present), f"roll-ups disagree ({where})")
            return max(present) if present else -1
        finally:
            con.close()

    def test_sigkill_keeps_committed_batches(self):
        with tempfile.TemporaryDirectory() as d:
            db = os.path.join(d, "crash.db")
            committed = set()
            next_id = 0
            for round_no in range(self.rounds):
                p = subprocess.Popen([self.writer, db, str(next_id), str(BATCH)],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                want = self.rng.randint(1, 25)
                seen = 0
                for line in p.stdout:
                    if line.startswith("committed "):
                        committed.add(int(line.split()[1]))
                        seen += 1
                        if seen >= want:
                            break
                # Not a synchronisation: this only moves the kill to a random point of the
                # writer's next batches (mid-insert, mid-commit, mid-checkpoint).
                time.sleep(self.rng.random() * 0.03)
                p.kill()
                rest, err = p.communicate()
                for line in rest.splitlines():
                    if line.startswith("committed "):
                        committed.add(int(line.split()[1]))
                self.assertEqual(p.returncode, -9,
                                 f"writer ended by itself ({err.strip()}; seed {self.seed})")
                self.assertGreaterEqual(seen, want, f"writer stopped early: {err.strip()}")
                last = self.check_database(db, committed, round_no)
                next_id = last + 1

            if self.cli and os.path.exists(self.cli):
                key = f"k{max(committed) % 10}"
                out = subprocess.run([self.cli, "history", "--database", db, "--key", key,
                                      "--format", "json"], capture_output=True, text=True,
                                     timeout=60)
                self.assertEqual(out.returncode, 0, out.stderr)
                doc = json.loads(out.stdout)
                self.assertEqual(doc["keys"][0]["key"], key)
                self.assertGreater(len(doc["keys"][0]["transitions"]), 0)


if __name__ == "__main__":
    unittest.main()
