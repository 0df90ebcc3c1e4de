#!/bin/bash
# tests/run.sh - the whole test suite, on a fresh Debian 12 machine or a
# developer's: installs the missing packages, builds into build/ (or
# $SLUICE_BUILD_DIR), starts a throwaway PostgreSQL server and a throwaway
# Apache Kafka broker (tests/support/kafka.sh: KRaft, jars from Maven Central, cached
# in ~/.cache/sluice) and runs every meson test suite (unit, pg, integration,
# cratedb, avro, debezium, faults) against them, then the fuzzing, the live
# Debezium CDC test and the fault soak (tests/soak/run.sh --short).  The
# tests that inject request errors into Kafka's protocol
# (faults_kafka_errors) run against librdkafka's mock cluster in their own
# process, whatever is set here.
#
# Environment: SLUICE_TEST_BOOTSTRAP=host:port[,...] runs the Kafka tests
# against an existing cluster instead of a throwaway broker;
# SLUICE_TEST_KAFKA=mock runs them against librdkafka's mock cluster (fast,
# for development; not what CI runs); SLUICE_TEST_DSN runs them against an
# existing PostgreSQL database instead of a throwaway server;
# SLUICE_SOAK=0 skips the fault soak; SLUICE_FUZZ_SECONDS bounds the
# fuzzing that follows the tests (default 240 seconds across all harnesses,
# 0 skips it; see tests/fuzz/run.sh).  Extra
# arguments go to `meson test` (e.g. `tests/run.sh --suite integration`),
# and skip the fuzzing, the librdkafka matrix and the container test.
#
# After the suites, with a real broker: the tests that depend most on
# librdkafka (SASL and TLS on Kafka 3 and 4, compression codecs and group
# commits, dead letters to topics, groups, restarts; SLUICE_RDKAFKA_TESTS)
# run again with sluice built against a current librdkafka (Debian 13's
# source package built here, tests/support/librdkafka.sh, cached in
# ~/.cache/sluice; SLUICE_RDKAFKA_CURRENT=0 skips it), the suites above
# having run against Debian 12's 2.0.2; then the container test
# (docker/test.sh: the image built and run against the same servers;
# SLUICE_DOCKER=0 skips it).
set -euo pipefail
cd "$(dirname "$0")/.."
. tests/support/prepare.sh

build=${SLUICE_BUILD_DIR:-build}
sluice_install_packages
sluice_build "$build"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/sluice-tests.XXXXXX")
chmod 755 "$tmp"
cleanup() {
    tests/support/kafka.sh stop "$tmp/kafka" || true
    tests/support/pgserver.sh stop "$tmp/pg" || true
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
    line=$(tests/support/pgserver.sh start "$tmp/pg")
    export SLUICE_TEST_DSN=${line#SLUICE_TEST_DSN=}
    echo "   $SLUICE_TEST_DSN"
fi

if [ -n "${SLUICE_TEST_BOOTSTRAP:-}" ]; then
    echo "== Kafka: using SLUICE_TEST_BOOTSTRAP=$SLUICE_TEST_BOOTSTRAP"
elif [ "${SLUICE_TEST_KAFKA:-}" = mock ]; then
    echo "== Kafka: librdkafka's mock cluster (SLUICE_TEST_KAFKA=mock)"
else
    echo "== starting Apache Kafka"
    t0=$SECONDS
    line=$(tests/support/kafka.sh start "$tmp/kafka")
    export SLUICE_TEST_BOOTSTRAP=${line#SLUICE_TEST_BOOTSTRAP=}
    echo "   $SLUICE_TEST_BOOTSTRAP ($((SECONDS - t0)) s, broker log in $tmp/kafka/broker-1/server.log)"
fi

echo "== meson test"
t0=$SECONDS
status=0
meson test -C "$build" --print-errorlogs --num-processes 2 "$@" || status=$?
echo "== meson test took $((SECONDS - t0)) s"
if [ $status != 0 ] && [ -f "$tmp/kafka/broker-1/server.log" ]; then
    echo "== last lines of the broker's log"
    tail -n 40 "$tmp/kafka/broker-1/server.log"
fi

rdkafka_tests=${SLUICE_RDKAFKA_TESTS:-faults_broker_security faults_broker_compat faults_broker_deadletter
integration_group integration_restart}
if [ $# -eq 0 ] && [ -n "${SLUICE_TEST_BOOTSTRAP:-}" ] && [ "${SLUICE_RDKAFKA_CURRENT:-1}" != 0 ]; then
    echo "== the same broker, a current librdkafka (tests/support/librdkafka.sh): $(echo $rdkafka_tests)"
    t0=$SECONDS
    targets="src/sluice:executable"
    for t in $rdkafka_tests; do
        # faults_broker_security is built from tests/faults/test_broker_security.c
        targets="$targets tests/${t%%_*}/test_$t"
    done
    # shellcheck disable=SC2086
    if rdk_prefix=$(tests/support/librdkafka.sh) &&
        sluice_build_librdkafka "$build-librdkafka" "$rdk_prefix" -- $targets; then
        # shellcheck disable=SC2086
        meson test -C "$build-librdkafka" --no-rebuild --print-errorlogs --num-processes 2 $rdkafka_tests ||
            status=1
    else
        echo "FAIL: building against a current librdkafka"
        status=1
    fi
    echo "   ($((SECONDS - t0)) s)"
fi

if [ $# -eq 0 ] && [ "${SLUICE_DOCKER:-1}" != 0 ]; then
    echo "== the container image (docker/test.sh)"
    t0=$SECONDS
    docker/test.sh "$build" || status=1
    echo "   ($((SECONDS - t0)) s)"
fi

if [ $# -eq 0 ]; then
    echo "== fuzzing (tests/fuzz/run.sh)"
    bash tests/fuzz/run.sh || status=1
fi

# Debezium capturing a live PostgreSQL database in Kafka Connect, replicated
# by sluice (tests/debezium/cdc.sh): needs a real broker; skipped when only
# some suites were asked for.  SLUICE_CDC=0 skips it, SLUICE_CDC=1 runs it
# with suite arguments too; SLUICE_CDC_AVRO=0 leaves out the Avro feed
# (Apicurio Registry and its converter, fetched through Maven on first use).
if [ -n "${SLUICE_TEST_BOOTSTRAP:-}" ] && { [ $# -eq 0 ] || [ "${SLUICE_CDC:-}" = 1 ]; } &&
    [ "${SLUICE_CDC:-}" != 0 ]; then
    echo "== Debezium CDC from a live database (tests/debezium/cdc.sh)"
    t0=$SECONDS
    tests/debezium/cdc.sh "$build" || status=1
    echo "   ($((SECONDS - t0)) s)"
fi
# The randomized fault soak (tests/soak/run.sh --short, docs/soak.md): every
# seed of tests/soak/seeds.txt for its minutes, then a random one for a
# minute, against servers of its own.  Skipped when only some suites were
# asked for; SLUICE_SOAK=0 skips it, SLUICE_SOAK=1 runs it with suite
# arguments too.
if { [ $# -eq 0 ] || [ "${SLUICE_SOAK:-}" = 1 ]; } && [ "${SLUICE_SOAK:-}" != 0 ]; then
    echo "== fault soak (tests/soak/run.sh --short)"
    t0=$SECONDS
    tests/soak/run.sh --short --build "$build" || status=1
    echo "   ($((SECONDS - t0)) s)"
fi
exit $status
