#!/bin/bash
# tests/fuzz/run.sh - build sluice's libFuzzer harnesses (tests/fuzz/
# fuzz_decode.c) with clang, AddressSanitizer and UndefinedBehaviorSanitizer
# into build-fuzz/, then run each for a share of a fixed time budget,
# starting from the committed corpus (seeds and every input that once
# crashed).  Fails on any crash, sanitizer report, leak, input slower than
# 25 s, or more than 1 GB of memory for one input.
#
# Environment:
#   SLUICE_FUZZ_SECONDS    total fuzzing time across all harnesses (default
#                          240; 0 skips fuzzing)
#   SLUICE_FUZZ_TARGETS    the harnesses to run (default: all of them)
#   SLUICE_FUZZ_BUILD_DIR  build directory (default build-fuzz)
#   SLUICE_FUZZ_CC         the clang to use (default clang-14)
#   SLUICE_FUZZ_KEEP       a directory to keep the grown corpora in (default:
#                          a temporary one, removed)
# Crash reproducers go to $SLUICE_FUZZ_ARTIFACTS (default build-fuzz/artifacts/);
# one is replayed with `build-fuzz/tests/fuzz/fuzz_<target> FILE`.
set -euo pipefail
cd "$(dirname "$0")/../.."

total=${SLUICE_FUZZ_SECONDS:-240}
if [ "$total" = 0 ]; then
    echo "== fuzzing skipped (SLUICE_FUZZ_SECONDS=0)"
    exit 0
fi
targets=${SLUICE_FUZZ_TARGETS:-json avro connect_json debezium_json debezium_avro protobuf json_transforms}
build=${SLUICE_FUZZ_BUILD_DIR:-build-fuzz}
cc=${SLUICE_FUZZ_CC:-clang-14}
cxx=${SLUICE_FUZZ_CXX:-clang++-14}  # src/format/protobuf_reflect.cc
artifacts=${SLUICE_FUZZ_ARTIFACTS:-$build/artifacts}

if [ ! -f "$build/build.ninja" ]; then
    echo "== meson setup $build (fuzz harnesses, $cc, ASan + UBSan)"
    CC=$cc CXX=$cxx meson setup "$build" -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false \
        -Dc_args=-fno-sanitize-recover=all -Dcpp_args=-fno-sanitize-recover=all
fi
ninja_targets=""
for t in $targets; do
    ninja_targets="$ninja_targets tests/fuzz/fuzz_$t"
done
# shellcheck disable=SC2086
ninja -C "$build" -j2 $ninja_targets

keep=${SLUICE_FUZZ_KEEP:-}
work=$(mktemp -d "${TMPDIR:-/tmp}/sluice-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$artifacts"
n=$(echo $targets | wc -w)
per=$(( total / n ))
[ "$per" -ge 1 ] || per=1
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0
for t in $targets; do
    case $t in
        avro|debezium_avro) dict=tests/fuzz/avro.dict ;;
        *) dict=tests/fuzz/json.dict ;;
    esac
    grown=${keep:+$keep/$t}
    grown=${grown:-$work/$t}
    mkdir -p "$grown"
    echo "== fuzz_$t: ${per}s"
    log=$work/$t.log
    if ! "$build/tests/fuzz/fuzz_$t" "$grown" "tests/fuzz/corpus/$t" \
        -max_total_time="$per" -rss_limit_mb=1024 -malloc_limit_mb=1024 -timeout=25 -max_len=16384 \
        -dict="$dict" -print_final_stats=1 \
        -artifact_prefix="$artifacts/$t-" >"$log" 2>&1; then
        status=1
        echo "!! fuzz_$t failed; the end of its log:"
        tail -60 "$log"
        ls -l "$artifacts" | grep -- "$t-" || true
    fi
    grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb|^#[0-9]+ *DONE" "$log" | tail -3 || true
    grep -E "cov: [0-9]+" "$log" | tail -1 | sed 's/^/   last: /' || true
done
exit $status
