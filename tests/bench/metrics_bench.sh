#!/bin/sh
# tests/bench/metrics_bench.sh — builds tests/bench/metrics_bench in an optimised build
# (build-bench/, RelWithDebInfo as shipped, no sanitizers) and writes its figures — render
# time of /metrics (median of 50) and its size, for 1,000 keys in full mode and 10,000 keys
# in minimal mode — to tests/bench/RESULTS.md under "## Metrics", with the date and the
# machine. Other sections of RESULTS.md are left as they are.
#
#   tests/bench/metrics_bench.sh [runs]     default 50
set -eu
cd "$(dirname "$0")/../.."
runs=${1:-50}

cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCLAUDEMON_TESTS=ON >/dev/null
cmake --build build-bench -j2 --target metrics_bench >/dev/null
table=$(./build-bench/tests/metrics_bench "$runs")

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
cc=$(${CC:-cc} --version 2>/dev/null | head -1)
section=$(cat <<EOF
## Metrics

\`metrics_render()\` of the whole exposition (what \`/metrics\` serves), median of $runs runs
after one warm-up render; the max is usually the first render after a free of the previous
multi-megabyte buffer (page faults). Series counts include the ~70 series that do not depend
on keys. Each key: 1 in 10 failing (auth_invalid), 1 in 7 rate limited, probe counters for
two or three probe kinds, all four rate-limit resources, tokens for 1 in 5.

- Date: $(date -u +%Y-%m-%dT%H:%M:%SZ)
- Machine: $(uname -srm), ${cpu:-unknown CPU}, $(nproc) CPUs (shared with other work)
- Compiler: ${cc:-unknown}, CMake build type RelWithDebInfo (-O2 -g)
- Command: \`tests/bench/metrics_bench.sh $runs\`

$table

Targets: under 20 ms for 1,000 keys in full mode and for 10,000 keys in minimal mode. The
last row (10,000 keys in full mode) shows why minimal mode exists: ten times the series for
the same keys.
EOF
)

out=tests/bench/RESULTS.md
[ -f "$out" ] || printf '# Benchmark results\n' >"$out"
tmp=$(mktemp)
# Drop the old "## Metrics" section (up to the next "## " heading), append the new one.
awk '/^## /{skip = ($0 == "## Metrics")} !skip' "$out" >"$tmp"
# Trim trailing blank lines, then append.
sed -e :a -e '/^\n*$/{$d;N;ba' -e '}' "$tmp" >"$out"
printf '\n%s\n' "$section" >>"$out"
rm -f "$tmp"
printf '%s\n' "$table"
echo "written to $out"
