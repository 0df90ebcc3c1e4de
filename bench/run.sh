#!/bin/bash
# bench/run.sh - sluice's benchmark in one command, on a fresh Debian 12
# machine or a developer's: installs the missing packages, builds a release
# build in build-bench/ (or $SLUICE_BENCH_BUILD_DIR), then runs bench/bench.py,
# which starts a throwaway PostgreSQL and a real Kafka broker (tests/support/kafka.sh;
# librdkafka's mock cluster as a second column) and measures sluice against
# the database's own ingest ceiling and a hand-written Python consumer (with
# Debian's confluent-kafka and with PyPI's, in a venv under ~/.cache/sluice).
# Results go to bench/results/DATE-HOST.md, a plot beside them (.png).
#
#   bench/run.sh                      everything (about 15 minutes on 2 cores)
#   bench/run.sh --smoke              a few seconds, fails unless the tables are right
#   bench/run.sh --only w1 --reps 1   a subset; `bench/run.sh --help` lists the options
#   bench/run.sh --cdc                sluice beside Debezium's JDBC sink (bench/cdc_sinks.sh) at
#                                     1,000,000 events (650,000 snapshot rows + 350,000 updates), on
#                                     the issue's 5-column table and a 40-column one, against the JDBC
#                                     sink's best setting and plain JSON; report in
#                                     bench/results/DATE-HOST-cdc.md (SLUICE_CDC_ROWS, SLUICE_CDC_UPDATES
#                                     and SLUICE_JDBC_SETTINGS change it); sluice runs twice over:
#                                     built against Debian 12's librdkafka, and against the current
#                                     one the container image ships (Debian 13's source package,
#                                     tests/support/librdkafka.sh; SLUICE_CDC_RDKAFKA=0 leaves it out)
#
# See docs/benchmark.md for what is measured and how.
set -euo pipefail
cd "$(dirname "$0")/.."
. tests/support/prepare.sh

build=${SLUICE_BENCH_BUILD_DIR:-build-bench}
# the benchmark also needs: a venv for the current confluent-kafka from PyPI, the plot
SLUICE_PACKAGES="$SLUICE_PACKAGES python3-venv python3-matplotlib"
sluice_install_packages
if [ ! -f "$build/build.ninja" ]; then
    echo "== meson setup $build (release)"
    meson setup "$build" -Dbuildtype=release
fi
echo "== building in $build"
meson compile -C "$build"

if [ "${1:-}" = --cdc ]; then
    # bench/cdc_sinks.sh for both shapes, into a report of its own
    mkdir -p bench/results
    report=bench/results/$(date -u +%Y-%m-%d)-$(hostname -s)-cdc.md
    n=2
    while [ -e "$report" ]; do  # an earlier report of the day stays
        report=bench/results/$(date -u +%Y-%m-%d)-$(hostname -s)-cdc-$n.md
        n=$((n + 1))
    done
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/sluice-bench-cdc.XXXXXX")
    trap 'tests/support/kafka.sh stop "$tmp/kafka" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
    if [ -z "${SLUICE_TEST_BOOTSTRAP:-}" ]; then
        line=$(tests/support/kafka.sh start "$tmp/kafka")
        export SLUICE_TEST_BOOTSTRAP=${line#SLUICE_TEST_BOOTSTRAP=}
    fi
    export SLUICE_JDBC_SETTINGS=${SLUICE_JDBC_SETTINGS:-"batch.size=5000 use.reduction.buffer=true;batch.size=30000 use.reduction.buffer=true"}
    if [ "${SLUICE_CDC_RDKAFKA:-1}" != 0 ]; then
        rdk_prefix=$(tests/support/librdkafka.sh)
        sluice_build_librdkafka "$build-librdkafka" "$rdk_prefix" -Dbuildtype=release -- src/sluice:executable
        export SLUICE_CDC_BUILD2=$build-librdkafka
    fi
    rows=${SLUICE_CDC_ROWS:-650000}
    updates=${SLUICE_CDC_UPDATES:-350000}
    {
        echo "# sluice beside Debezium's JDBC sink: $(date -u '+%Y-%m-%d %H:%M UTC'), $(hostname -s), $(nproc) cores"
        echo
        echo "sluice $(git rev-parse --short HEAD 2>/dev/null || echo '?') (release builds, its default batch limits; against Debian 12's librdkafka${SLUICE_CDC_BUILD2:+ and against the current one}), bench/cdc_sinks.sh, $rows snapshot rows + $updates updates;"
        echo "JDBC sink settings: $SLUICE_JDBC_SETTINGS. Goals (issue 23): sluice >= 10 x the JDBC sink's best setting,"
        echo ">= 0.5 x sluice on plain JSON. Load average before: $(cut -d' ' -f1-3 /proc/loadavg)."
    } >"$report"
    status=0
    for shape in issue wide; do
        { echo; echo "## $shape table"; echo; echo '```'; } >>"$report"
        SLUICE_CDC_SHAPE=$shape bench/cdc_sinks.sh "$build" "$rows" "$updates" 2>&1 | tee -a "$report" || status=1
        echo '```' >>"$report"
    done
    echo "== report: $report"
    exit $status
fi

exec /usr/bin/python3 bench/bench.py --sluice "$build/src/sluice" --bench-kafka "$build/bench/bench-kafka" "$@"
