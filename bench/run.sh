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

exec /usr/bin/python3 bench/bench.py --sluice "$build/src/sluice" --bench-kafka "$build/bench/bench-kafka" "$@"
