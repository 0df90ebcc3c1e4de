#!/bin/bash
# tests/soak/run.sh - a randomized fault soak of sluice (docs/soak.md).
#
#   tests/soak/run.sh [--minutes N] [--seed S] [--build DIR] [--short] [soak.py options]
#
# Builds DIR (default build/; e.g. build-asan for an ASan/UBSan build, set
# up with `meson setup build-asan -Db_sanitize=address,undefined`) and runs
# tests/soak/soak.py: its own PostgreSQL, Kafka broker, schema registry and
# CrateDB stand-in, two sluice daemons of one group, a producer and a
# nemesis, for N minutes (default 10) under seed S (default: a random one,
# printed).  --short is what tests/run.sh runs: every seed of
# tests/soak/seeds.txt for its minutes, then a random seed for half a minute.
# Exit status 0 when every invariant held; on a failure the seed is printed
# with the command that replays it, and the work directory is kept.
set -euo pipefail
cd "$(dirname "$0")/../.."

build=build
args=()
short=0
minutes=10
while [ $# -gt 0 ]; do
    case $1 in
    --build) build=$2; shift 2 ;;
    --minutes) minutes=$2; shift 2 ;;
    --short) short=1; shift ;;
    *) args+=("$1"); shift ;;
    esac
done

. tests/support/prepare.sh
if [ ! -f "$build/build.ninja" ]; then
    sluice_install_packages
    sluice_build "$build"
else
    # and, in a TSan build, the preload that shows it librdkafka's threads
    ninja -C "$build" src/sluice $(ninja -C "$build" -t targets all |
        sed -n 's|^\(tests/support/libsluice-c11threads.so\):.*|\1|p') >/dev/null
fi

if [ $short = 1 ]; then
    exec /usr/bin/python3 tests/soak/soak.py --build "$build" --replay tests/soak/seeds.txt --minutes 0.5 "${args[@]}"
fi
exec /usr/bin/python3 tests/soak/soak.py --build "$build" --minutes "$minutes" "${args[@]}"
