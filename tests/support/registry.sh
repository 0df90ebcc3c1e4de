#!/bin/bash
# registry.sh - a throwaway Confluent-compatible schema registry (Apicurio
# Registry, in-memory storage) for sluice's Avro CDC tests.
#
#   tests/support/registry.sh start DIR
#       fetch Apicurio Registry through Maven (once, into a cache), start it
#       on a free loopback port and wait until its Confluent-compatible API
#       answers; prints SLUICE_REGISTRY_URL=http://127.0.0.1:N (the server's
#       root) and writes it to DIR/url.  That API is at URL/apis/ccompat/v7,
#       Apicurio's own at URL/apis/registry/v2.  Log in DIR/registry.log.
#   tests/support/registry.sh stop DIR       stop the registry started in DIR
#   tests/support/registry.sh fetch          only fetch it (prints its directory)
#
# Environment: SLUICE_REGISTRY_VERSION (default 2.6.13.Final: any release of
# io.apicurio:apicurio-registry-app whose "all" archive is on Maven Central;
# 3.x releases need Java 21, given by SLUICE_REGISTRY_JAVA), SLUICE_KAFKA_CACHE
# (default ~/.cache/sluice), SLUICE_REGISTRY_HEAP (default 192m),
# SLUICE_REGISTRY_START_TIMEOUT (seconds, default 120).
set -euo pipefail

version=${SLUICE_REGISTRY_VERSION:-2.6.13.Final}
cache=${SLUICE_KAFKA_CACHE:-$HOME/.cache/sluice}
home=$cache/apicurio-registry-$version
heap=${SLUICE_REGISTRY_HEAP:-192m}
java=${SLUICE_REGISTRY_JAVA:-java}
start_timeout=${SLUICE_REGISTRY_START_TIMEOUT:-120}

. "$(cd "$(dirname "$0")" && pwd)/ports.sh"
die() { echo "registry.sh: $*" >&2; exit 1; }

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//' >&2
    exit 2
}

# fetch - the registry's "all" archive (a Quarkus application) through Maven,
# unpacked into $home once; later runs reuse it.
fetch() {
    [ -e "$home/.complete" ] && return 0
    command -v mvn >/dev/null || die "mvn not found (apt-get install maven)"
    local dl=$cache/downloads tmp
    mkdir -p "$dl"
    echo "registry.sh: fetching io.apicurio:apicurio-registry-app:$version through Maven into $home" >&2
    mvn -q -B dependency:copy -Dartifact="io.apicurio:apicurio-registry-app:$version:tar.gz:all" \
        -DoutputDirectory="$dl" >"$dl/mvn-apicurio-registry.log" 2>&1 ||
        { tail -n 30 "$dl/mvn-apicurio-registry.log" >&2; die "could not fetch io.apicurio:apicurio-registry-app:$version"; }
    tmp=$(mktemp -d "$cache/.apicurio-registry-$version.XXXXXX")
    tar xzf "$dl/apicurio-registry-app-$version-all.tar.gz" -C "$tmp" || { rm -rf "$tmp"; die "could not unpack the archive"; }
    touch "$tmp/.complete"
    rm -rf "$home"
    mv "$tmp" "$home" 2>/dev/null || { rm -rf "$tmp"; [ -e "$home/.complete" ] || die "could not fill $home"; }
    # the archive is kept only until it is unpacked
    rm -f "$dl/apicurio-registry-app-$version-all.tar.gz"
}

# runner - the application's jar: 2.x ships a runner jar, 3.x a fast-jar
# layout started by quarkus-run.jar.
runner() {
    local j
    for j in "$home"/*-runner.jar "$home/quarkus-run.jar"; do
        [ -e "$j" ] && { echo "$j"; return 0; }
    done
    die "no runnable jar in $home"
}

start() {
    mkdir -p "$DIR"
    DIR=$(cd "$DIR" && pwd)
    if [ -e "$DIR/pid" ] && kill -0 "$(cat "$DIR/pid")" 2>/dev/null; then
        die "a registry already runs in $DIR (tests/support/registry.sh stop $DIR)"
    fi
    fetch
    local port pid jar deadline
    port=$(pick_port)
    jar=$(runner)
    echo "http://127.0.0.1:$port" >"$DIR/url"
    # In-memory storage (the default of the app's build); the registry
    # listens on loopback only and keeps nothing across restarts.
    nohup "$java" -Xms32m -Xmx"$heap" -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -XX:CICompilerCount=1 \
        -Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port="$port" \
        -Dquarkus.log.file.enable=false -Dquarkus.log.console.color=false \
        -jar "$jar" >>"$DIR/registry.log" 2>&1 &
    pid=$!
    echo "$pid" >"$DIR/pid"
    deadline=$((SECONDS + start_timeout))
    # ready when the Confluent-compatible API lists its subjects
    until curl -sf "http://127.0.0.1:$port/apis/ccompat/v7/subjects" >/dev/null 2>&1; do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 30 "$DIR/registry.log" >&2 || true
            rm -f "$DIR/pid"
            die "the registry in $DIR exited"
        fi
        [ $SECONDS -lt $deadline ] || { stop; die "the registry did not answer on port $port within ${start_timeout}s"; }
        sleep 0.2
    done
    echo "SLUICE_REGISTRY_URL=http://127.0.0.1:$port"
}

stop() {
    [ -e "$DIR/pid" ] || return 0
    local pid i
    pid=$(cat "$DIR/pid")
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        for i in $(seq 1 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.2
        done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$DIR/pid"
}

[ $# -ge 1 ] || usage
case $1 in
fetch) [ $# -eq 1 ] || usage; fetch; echo "$home" ;;
start) [ $# -eq 2 ] || usage; DIR=$2; start ;;
stop) [ $# -eq 2 ] || usage; DIR=$2; stop ;;
*) usage ;;
esac
