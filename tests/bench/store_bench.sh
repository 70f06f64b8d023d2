#!/bin/sh
# tests/bench/store_bench.sh — the storage benchmark: builds store_bench (Release) in
# build-bench/, generates a year of watching 1,000 keys at one probe a minute in a scratch
# database and measures ingest, retention and the history queries; then writes the
# "## Storage" section of tests/bench/RESULTS.md (date, machine, figures), leaving the other
# sections alone.
#
#   sh tests/bench/store_bench.sh                      # the full year: ~5 GB in $TMPDIR
#   sh tests/bench/store_bench.sh --probe-days 2       # fewer raw days; the size is extrapolated
#
# Options are store_bench's: --keys N, --probe-days D (14), --rollup-days D (365), --runs N.
# It runs on one core for a few minutes: not part of the test suite.
set -eu
cd "$(dirname "$0")/../.."
root=$(pwd)
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DCLAUDEMON_TESTS=ON >/dev/null
cmake --build build-bench -j2 --target store_bench --target claudemon >/dev/null

dir=$(mktemp -d "${TMPDIR:-/tmp}/claudemon-bench.XXXXXX")
trap 'rm -rf "$dir"' EXIT INT TERM
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
body=$(./build-bench/tests/bench/store_bench "$dir" "$@")
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
mem=$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)
fs=$(df -T "$dir" | awk 'NR == 2 {print $2}')
sqlite=$(./build-bench/claudemon version | awk '/^sqlite/ {print $2}')
section=$(mktemp)
trap 'rm -rf "$dir" "$section"' EXIT INT TERM
{
  echo "## Storage"
  echo
  echo "$(date -u +%Y-%m-%d), $(uname -srm), $cpu, $(nproc) CPUs, $mem, $fs, SQLite $sqlite;"
  echo "load average $load_before before and $load_after after (the machine is shared)."
  echo "Command: \`sh tests/bench/store_bench.sh${*:+ $*}\`"
  echo
  echo "$body"
  echo
  echo "Queries ran with the file in the OS page cache (a running daemon's state); a cold cache"
  echo "adds a few page reads per lookup. Wall times include waiting for a CPU on a shared"
  echo "machine; the CPU figures are the process's own time."
  echo
} >"$section"

results=tests/bench/RESULTS.md
[ -f "$results" ] || printf '# Benchmark results\n\n' >"$results"
python3 - "$results" "$section" <<'PY'
import re, sys
path, new = sys.argv[1], open(sys.argv[2]).read().rstrip() + "\n\n"
text = open(path).read()
m = re.search(r"^## Storage\n.*?(?=^## |\Z)", text, flags=re.S | re.M)
text = text[:m.start()] + new + text[m.end():] if m else text.rstrip() + "\n\n" + new
open(path, "w").write(text.rstrip() + "\n")
PY
echo "wrote the Storage section of $root/$results"
