#!/bin/sh
# tests/run.sh — the README's test command: installs what the build and the tests need
# (packaging/setup.sh --test), then builds twice and runs the whole suite in each build:
#   build/       warnings as errors
#   build-asan/  AddressSanitizer + UndefinedBehaviorSanitizer, warnings as errors
# The static analysis (ctest's "lint": clang-tidy and cppcheck) runs in build/ only.
# Exits non-zero when anything fails. `.ci/run` calls exactly this.
set -eu
cd "$(dirname "$0")/.."
sh packaging/setup.sh --test

jobs=$(nproc 2>/dev/null || echo 2)
status=0
for variant in build build-asan; do
  flags="-DCLAUDEMON_WERROR=ON"
  [ "$variant" = build-asan ] && flags="$flags -DCLAUDEMON_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug"
  echo "== $variant: configure and build"
  # shellcheck disable=SC2086
  cmake -S . -B "$variant" $flags >/dev/null
  cmake --build "$variant" -j"$jobs" >/dev/null
  # tests/lint.sh (ctest label lint) reads the sources, not the build: once is enough.
  skip=""
  [ "$variant" = build-asan ] && skip="-LE lint"
  echo "== $variant: tests"
  # shellcheck disable=SC2086
  ctest --test-dir "$variant" --output-on-failure -j"$jobs" $skip || status=1
done
exit $status
