#!/bin/bash
# tests/run.sh - the whole test suite, on a fresh Debian 12 machine or a
# developer's: installs the missing packages, builds into build/ (or
# $SLUICE_BUILD_DIR), starts a throwaway PostgreSQL server and runs every
# meson test suite (unit, pg, integration, cratedb, avro, debezium) against
# it and librdkafka's mock Kafka cluster.
#
# Environment: SLUICE_TEST_BOOTSTRAP=host:port runs the Kafka tests against a
# real cluster instead of the mock; SLUICE_TEST_DSN runs them against an
# existing PostgreSQL database instead of a throwaway server;
# SLUICE_FUZZ_SECONDS bounds the fuzzing that follows the tests (default 240
# seconds across all harnesses, 0 skips it; see tests/fuzz/run.sh).  Extra
# arguments go to `meson test` (e.g. `tests/run.sh --suite integration`),
# and skip the fuzzing.
set -euo pipefail
cd "$(dirname "$0")/.."
. tests/support/prepare.sh

build=${SLUICE_BUILD_DIR:-build}
sluice_install_packages
sluice_build "$build"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/sluice-tests.XXXXXX")
chmod 755 "$tmp"
cleanup() {
    tests/pgserver.sh stop "$tmp/pg" || true
    rm -rf "$tmp"
}
trap cleanup EXIT

# Tests write their configurations and daemon logs under TMPDIR.
export TMPDIR="$tmp/work"
mkdir -p "$TMPDIR"

if [ -n "${SLUICE_TEST_DSN:-}" ]; then
    echo "== PostgreSQL: using SLUICE_TEST_DSN=$SLUICE_TEST_DSN"
else
    echo "== starting PostgreSQL"
    line=$(tests/pgserver.sh start "$tmp/pg")
    export SLUICE_TEST_DSN=${line#SLUICE_TEST_DSN=}
    echo "   $SLUICE_TEST_DSN"
fi

echo "== meson test"
status=0
meson test -C "$build" --print-errorlogs --num-processes 2 "$@" || status=$?

if [ $# -eq 0 ]; then
    echo "== fuzzing (tests/fuzz/run.sh)"
    bash tests/fuzz/run.sh || status=1
fi
exit $status
