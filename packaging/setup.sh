#!/bin/sh
# packaging/setup.sh — installs, with apt-get, everything claudemon's build and test suite
# need on Debian 12. Idempotent: when every package is already there it does nothing and
# prints nothing. Run as root (or through sudo when it is available).
#
#   packaging/setup.sh          build + run dependencies
#   packaging/setup.sh --test   ... plus what the test suite uses (Prometheus tools, python,
#                               systemd-analyze, dpkg-shlibdeps, groff for the packaging tests,
#                               clang-tidy and cppcheck for tests/lint.sh)
set -eu

build_pkgs="gcc make cmake pkg-config ca-certificates
  libuv1-dev libcurl4-openssl-dev libcjson-dev libsqlite3-dev libyaml-dev
  libmicrohttpd-dev libsystemd-dev libssl-dev"
test_pkgs="libcmocka-dev python3 python3-prometheus-client python3-yaml prometheus
  prometheus-alertmanager sqlite3 curl procps valgrind openssl
  systemd dpkg-dev groff-base man-db clang-tidy cppcheck"

pkgs=$build_pkgs
[ "${1:-}" = "--test" ] && pkgs="$pkgs $test_pkgs"

missing=""
for p in $pkgs; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done
[ -z "$missing" ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
    echo "setup.sh: missing packages:$missing; run as root to install them" >&2
    exit 1
  fi
fi
echo "setup.sh: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
