#!/bin/sh
# tests/bench/probe_bench.sh — what a probe costs: claudemon against Prometheus's
# blackbox_exporter, one curl process per probe and the libcurl floor (tests/bench/floor.c),
# all against the fake upstream on loopback. Builds claudemon and probe_floor in a Release
# build (build-release/, no sanitizers), installs prometheus-blackbox-exporter, curl and time with
# apt-get when they are missing (as packaging/setup.sh does), runs tests/bench/probe_bench.py
# (about 8 minutes on 2 cores) and writes its table to tests/bench/RESULTS.md under
# "## Probes: claudemon vs blackbox_exporter, curl and the libcurl floor", with the date and
# the machine. Other sections of RESULTS.md are left as they are. Not part of ctest.
#
#   tests/bench/probe_bench.sh [--quick] [--sizes 100,1000,10000] [--perf PREFIX]
#
# Arguments go to probe_bench.py; --quick shortens the windows for a smoke run (its figures
# are not written to RESULTS.md), --perf records claudemon with perf in each window.
set -eu
cd "$(dirname "$0")/../.."

pkgs=""
command -v prometheus-blackbox-exporter >/dev/null 2>&1 || pkgs="$pkgs prometheus-blackbox-exporter"
command -v curl >/dev/null 2>&1 || pkgs="$pkgs curl"
[ -x /usr/bin/time ] || pkgs="$pkgs time"
if [ -n "$pkgs" ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
      echo "probe_bench.sh: missing packages:$pkgs; run as root to install them" >&2
      exit 1
    fi
  fi
  echo "probe_bench.sh: installing:$pkgs" >&2
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >/dev/null
  # shellcheck disable=SC2086
  $SUDO apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
fi

cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DCLAUDEMON_TESTS=ON >/dev/null
cmake --build build-release -j2 --target claudemon probe_floor >/dev/null

quick=false
for a in "$@"; do [ "$a" = "--quick" ] && quick=true; done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 tests/bench/probe_bench.py --claudemon build-release/claudemon \
  --floor build-release/tests/bench/probe_floor --json "$tmp/results.json" \
  --markdown "$tmp/table.md" "$@"

if $quick; then
  echo "quick run: RESULTS.md left as it is"
  exit 0
fi

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
cc=$(${CC:-cc} --version 2>/dev/null | head -1)
bbv=$(prometheus-blackbox-exporter --version 2>&1 | head -1)
curlv=$(curl --version | head -1 | cut -d' ' -f1-2)
load=$(cut -d' ' -f1-3 /proc/loadavg)
title="## Probes: claudemon vs blackbox_exporter, curl and the libcurl floor"
section=$(cat <<EOF
$title

The same probe — \`GET /v1/models?limit=1\` with \`x-api-key\` (a fake key per probed key),
\`anthropic-version\` and \`content-type\` — at the same rate (N keys per interval), over
plain HTTP on loopback, each contender against its own fresh fake upstream
(\`tests/fake_upstream/fake_upstream.py\`). claudemon runs as shipped (classifier, SQLite
writes, metrics; status page off, \`per_key: minimal\` at 10,000 keys as DESIGN.md advises,
\`api.max_host_connections: 8\`). blackbox_exporter has one module per key (its headers are
per module) and is scraped by a Python loop, one \`/probe\` per key per interval. curl is
one process per probe (300 probes, 30 a second). The floor (\`tests/bench/floor.c\`) is
libcurl's multi interface and nothing else, with claudemon's connection cap and claudemon's
schedule (first runs spread over min(interval, 5 s), each key keeping its phase, so both
send the same bursts; blackbox_exporter's scrapes are spread evenly, as Prometheus spreads
targets). CPU is that of the contender's process (curl: the sum over its processes) in a
measured window of whole intervals after the first round; peak RSS is VmHWM (curl: the
median maxrss of one process under /usr/bin/time); RssAnon leaves out library text;
connections are those the fake accepted over the whole run.

- Date: $(date -u +%Y-%m-%dT%H:%M:%SZ)
- Machine: $(uname -srm), ${cpu:-unknown CPU}, $(nproc) CPUs (shared with other work; load
  average $load at the end of the run)
- Compiler: ${cc:-unknown}, CMake build type Release (-O3)
- Contenders: claudemon $(git describe --always --dirty 2>/dev/null || echo '?'), ${bbv}, ${curlv}
- Command: \`tests/bench/probe_bench.sh $*\`

$(cat "$tmp/table.md")
EOF
)

out=tests/bench/RESULTS.md
[ -f "$out" ] || printf '# Benchmark results\n' >"$out"
new=$(mktemp)
# Drop the old section (up to the next "## " heading), append the new one.
awk -v t="$title" '/^## /{skip = ($0 == t)} !skip' "$out" >"$new"
sed -e :a -e '/^\n*$/{$d;N;ba' -e '}' "$new" >"$out"
printf '\n%s\n' "$section" >>"$out"
rm -f "$new"
cp "$tmp/results.json" build-release/probe_bench.json
echo "written to $out (all figures: build-release/probe_bench.json)"
