#!/bin/bash
# kafka.sh - a throwaway Apache Kafka cluster (KRaft) for sluice's tests and
# benchmark, as tests/support/pgserver.sh gives a throwaway PostgreSQL.
#
#   tests/support/kafka.sh start DIR [--brokers N] [--sasl]
#       fetch Apache Kafka through Maven (once, into a cache), format KRaft
#       storage in DIR and start one combined broker+controller (N=1, the
#       default) or N nodes that are each broker and controller, the N of them
#       forming the controller quorum; free loopback ports; wait until every
#       broker answers metadata requests, then print
#       SLUICE_TEST_BOOTSTRAP=127.0.0.1:port[,...] and write it to DIR/bootstrap.
#       --sasl adds a SASL_SSL listener (SCRAM-SHA-512 and PLAIN, one user; a
#       certificate from a test CA made here with openssl, in DIR/tls) and
#       prints the client properties for it (SLUICE_TEST_SASL_*), also
#       written to DIR/sasl.env.  DIR/tls/server.pem and server.key (for
#       127.0.0.1 and localhost, signed by DIR/tls/ca.pem) serve other test
#       servers too.
#   tests/support/kafka.sh stop DIR          stop every broker started in DIR
#   tests/support/kafka.sh kill DIR I        SIGKILL broker I (1-based)
#   tests/support/kafka.sh restart DIR I     start broker I again on its ports and data
#   tests/support/kafka.sh topic DIR NAME PARTITIONS RF [key=value ...]
#       create a topic with the broker's own admin tool (topic configs after RF)
#   tests/support/kafka.sh controller DIR    print the node id of the active controller
#   tests/support/kafka.sh fetch             only fetch the jars (prints their directory)
#
# Broker I keeps its configuration, data and log in DIR/broker-I
# (server.properties, data/, server.log, stdout.log), its pid in
# DIR/broker-I.pid.
#
# Environment: SLUICE_KAFKA_VERSION (default 4.4.0; any release of
# org.apache.kafka:kafka_2.13 on Maven Central, e.g. 3.9.1),
# SLUICE_KAFKA_CACHE (default ~/.cache/sluice), SLUICE_KAFKA_HEAP (default
# 512m per broker), SLUICE_KAFKA_START_TIMEOUT (seconds, default 120).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
version=${SLUICE_KAFKA_VERSION:-4.4.0}
cache=${SLUICE_KAFKA_CACHE:-$HOME/.cache/sluice}/kafka-$version
heap=${SLUICE_KAFKA_HEAP:-512m}
start_timeout=${SLUICE_KAFKA_START_TIMEOUT:-120}

# SCRAM credentials of the SASL listener (a test cluster's, printed on start).
sasl_user=sluice
sasl_password=sluice-test-secret

. "$(cd "$(dirname "$0")" && pwd)/ports.sh"
die() { echo "kafka.sh: $*" >&2; exit 1; }

usage() {
    cat >&2 <<EOF
usage: $0 start DIR [--brokers N] [--sasl] | stop DIR | kill DIR I | restart DIR I
       $0 topic DIR NAME PARTITIONS RF [key=value ...] | controller DIR | fetch
EOF
    exit 2
}

# fetch_jars - the broker's jars and a log4j2 binding, copied by Maven from
# tests/support/kafka/pom.xml into $cache/libs once; later runs reuse them.
fetch_jars() {
    [ -f "$cache/complete" ] && return 0
    command -v mvn >/dev/null || die "mvn not found (apt-get install maven)"
    command -v java >/dev/null || die "java not found (apt-get install default-jre-headless)"
    mkdir -p "$(dirname "$cache")"
    local tmp
    tmp=$(mktemp -d "$(dirname "$cache")/.kafka-$version.XXXXXX")
    echo "kafka.sh: fetching Apache Kafka $version through Maven into $cache" >&2
    if ! mvn -q -B -f "$here/kafka/pom.xml" -Dkafka.version="$version" \
        dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp/libs" >&2; then
        rm -rf "$tmp"
        die "could not fetch org.apache.kafka:kafka_2.13:$version"
    fi
    # Kafka 3.x brings a log4j 1 binding of its own: log4j2's binding is the one used.
    rm -f "$tmp"/libs/slf4j-reload4j-*.jar "$tmp"/libs/slf4j-log4j12-*.jar
    touch "$tmp/complete"
    rm -rf "$cache"
    mv "$tmp" "$cache" 2>/dev/null || { rm -rf "$tmp"; [ -f "$cache/complete" ] || die "could not fill $cache"; }
}

# java_run CLASS ARGS... - a short-lived tool class of the broker's jars.
java_run() {
    java -Xmx256m -XX:TieredStopAtLevel=1 -Xshare:auto \
        -Dlog4j2.configurationFile="$here/kafka/log4j2-tools.properties" \
        -cp "$cache/libs/*" "$@"
}

# make_tls DIR - a test CA and a broker certificate for 127.0.0.1/localhost
# signed by it, in DIR/tls: ca.pem (clients' ssl.ca.location), ca.key,
# broker.p12 (the brokers' keystore).  Also a server certificate for
# PostgreSQL tests (server.pem, server.key) from the same CA.
make_tls() {
    local t=$1/tls
    mkdir -p "$t"
    (
        cd "$t"
        openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=sluice test CA" \
            -keyout ca.key -out ca.pem 2>/dev/null
        openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
            -keyout server.key -out server.csr 2>/dev/null
        printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >san.ext
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
            -extfile san.ext -out server.pem 2>/dev/null
        openssl pkcs12 -export -in server.pem -inkey server.key -certfile ca.pem \
            -name broker -passout pass:sluice-keystore -out broker.p12
        chmod 600 ca.key server.key
    ) || die "could not make the test CA in $t"
}

# write_config DIR I - DIR/broker-I/server.properties from DIR/cluster.
write_config() {
    local dir=$1 i=$2 b=$dir/broker-$i
    # shellcheck disable=SC1091
    . "$dir/cluster"
    local bport cport sport voters="" j
    bport=$(sed -n "${i}p" "$dir/ports.broker")
    cport=$(sed -n "${i}p" "$dir/ports.controller")
    for j in $(seq 1 "$brokers"); do
        voters="$voters${voters:+,}$j@127.0.0.1:$(sed -n "${j}p" "$dir/ports.controller")"
    done
    local rf=$((brokers < 3 ? brokers : 3)) isr=$((brokers < 2 ? 1 : 2))
    local listeners="PLAINTEXT://127.0.0.1:$bport,CONTROLLER://127.0.0.1:$cport"
    local advertised="PLAINTEXT://127.0.0.1:$bport"
    if [ "$sasl" = 1 ]; then
        sport=$(sed -n "${i}p" "$dir/ports.sasl")
        listeners="$listeners,SASL_SSL://127.0.0.1:$sport"
        advertised="$advertised,SASL_SSL://127.0.0.1:$sport"
    fi
    mkdir -p "$b"
    cat >"$b/server.properties" <<EOF
# Written by tests/support/kafka.sh: node $i of a $brokers-node test cluster.
process.roles=broker,controller
node.id=$i
controller.quorum.voters=$voters
controller.listener.names=CONTROLLER
listeners=$listeners
advertised.listeners=$advertised
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL
log.dirs=$b/data

# Settings that differ from a production broker, and why:
# - tests create every topic explicitly, with a stated partition count and
#   replication factor; a topic that springs into being must fail the test
auto.create.topics.enable=false
# - a group's first rebalance starts at once instead of waiting 3 s for more
#   members (each test starts its members itself and waits for them)
group.initial.rebalance.delay.ms=0
# - internal topics are replicated as far as this cluster allows (a single
#   node cannot hold the production default of 3 replicas)
offsets.topic.replication.factor=$rf
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=$isr
# - 10 offsets partitions instead of 50: the first group of a fresh
#   cluster finds its coordinator in a second, not after 50 partitions load
offsets.topic.num.partitions=10
# - two cores are shared by the whole machine: fewer threads than a server's
num.network.threads=2
num.io.threads=2
background.threads=4
num.replica.fetchers=1
# - the hostile-input tests produce records up to 32 MiB to check that
#   sluice bounds them; the production default is 1 MiB
message.max.bytes=33554432
replica.fetch.max.bytes=33554432
# - the log cleaner looks for work every second (production: 15 s) so that
#   compaction tests finish in seconds; each such topic sets its own
#   segment.ms, min.cleanable.dirty.ratio and delete.retention.ms
log.cleaner.backoff.ms=1000
# - a restarted node is back within the tests' time limits: no delay before
#   shutting down cleanly, short controlled-shutdown retries
controlled.shutdown.max.retries=1
EOF
    if [ "$sasl" = 1 ]; then
        cat >>"$b/server.properties" <<EOF

# The SASL_SSL listener: SCRAM-SHA-512 (users stored in the cluster's
# metadata, added when the storage was formatted) and PLAIN (the same user
# and password, from this file) over TLS with the test CA's certificate.
sasl.enabled.mechanisms=SCRAM-SHA-512,PLAIN
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$sasl_user="$sasl_password";
ssl.keystore.type=PKCS12
ssl.keystore.location=$dir/tls/broker.p12
ssl.keystore.password=sluice-keystore
ssl.key.password=sluice-keystore
EOF
    fi
}

# launch DIR I - start broker I in the background; its pid in DIR/broker-I.pid.
launch() {
    local dir=$1 i=$2 b=$1/broker-$2
    # -Xms=-Xmx: the heap is claimed at start, so memory use is known up front
    # (Kafka's own scripts default to 1 GiB; these brokers hold test data only).
    setsid java -Xms"$heap" -Xmx"$heap" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
        -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent \
        -Djava.awt.headless=true -Dkafka.logs.dir="$b" \
        -Dlog4j2.configurationFile="$here/kafka/log4j2.properties" \
        -cp "$cache/libs/*" kafka.Kafka "$b/server.properties" \
        >>"$b/stdout.log" 2>&1 </dev/null &
    echo $! >"$dir/broker-$i.pid"
}

running() {
    local pidfile=$1
    [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

# wait_metadata DIR - until a metadata request answers with every broker of
# DIR, or fail with the tail of the logs; returns 1 (after stopping the
# others) when a broker could not bind its port, so that start can retry.
wait_metadata() {
    local dir=$1 deadline=$((SECONDS + start_timeout)) i n
    # shellcheck disable=SC1091
    . "$dir/cluster"
    command -v kcat >/dev/null || die "kcat not found (apt-get install kcat)"
    while :; do
        for i in $(seq 1 "$brokers"); do
            running "$dir/broker-$i.pid" || {
                if grep -q "Address already in use" "$dir/broker-$i/server.log" 2>/dev/null; then
                    echo "kafka.sh: broker $i found its port taken; starting again on other ports" >&2
                    stop "$dir"
                    return 1
                fi
                tail -n 30 "$dir/broker-$i/stdout.log" "$dir/broker-$i/server.log" >&2 2>/dev/null || true
                die "broker $i exited during start (log in $dir/broker-$i)"
            }
        done
        n=$({ kcat -b "$(cat "$dir/bootstrap")" -L -m 3 2>/dev/null || true; } | sed -n 's/^ *\([0-9]*\) brokers:$/\1/p' | head -n1) 
        [ "${n:-0}" -ge "$brokers" ] && return 0
        [ $SECONDS -lt "$deadline" ] || {
            tail -n 30 "$dir/broker-1/server.log" >&2 2>/dev/null || true
            die "the cluster in $dir did not answer metadata requests within ${start_timeout}s"
        }
        sleep 0.2
    done
}

# start_attempt DIR BROKERS SASL - pick ports, format and launch; returns 1
# when a port was taken meanwhile (nothing left running).
start_attempt() {
    local dir=$1 brokers=$2 sasl=$3 i
    rm -rf "$dir"/broker-* "$dir"/tls
    printf 'brokers=%s\nsasl=%s\nversion=%s\n' "$brokers" "$sasl" "$version" >"$dir/cluster"
    pick_ports $((brokers * (2 + sasl))) >"$dir/ports.all"
    head -n "$brokers" "$dir/ports.all" >"$dir/ports.broker"
    sed -n "$((brokers + 1)),$((2 * brokers))p" "$dir/ports.all" >"$dir/ports.controller"
    sed -n "$((2 * brokers + 1)),\$p" "$dir/ports.all" >"$dir/ports.sasl"
    [ "$sasl" = 1 ] && make_tls "$dir"

    local cluster_id
    cluster_id=$(head -c16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=' | sed 's/^-/A/')
    local scram=()
    [ "$sasl" = 1 ] && scram=(--add-scram "SCRAM-SHA-512=[name=$sasl_user,password=$sasl_password]")
    local pids=()
    for i in $(seq 1 "$brokers"); do
        write_config "$dir" "$i"
        java_run kafka.tools.StorageTool format -t "$cluster_id" -c "$dir/broker-$i/server.properties" \
            "${scram[@]}" >"$dir/broker-$i/format.log" 2>&1 &
        pids+=($!)
    done
    for i in $(seq 1 "$brokers"); do
        wait "${pids[$((i - 1))]}" || { cat "$dir/broker-$i/format.log" >&2; die "formatting storage of broker $i failed"; }
    done

    sed 's|^|127.0.0.1:|' "$dir/ports.broker" | paste -sd, - >"$dir/bootstrap"
    for i in $(seq 1 "$brokers"); do
        launch "$dir" "$i"
    done
    wait_metadata "$dir" || return 1
}

start() {
    local dir=$1 brokers=1 sasl=0 i t0
    shift
    while [ $# -gt 0 ]; do
        case $1 in
        --brokers) [ $# -ge 2 ] || usage; brokers=$2; shift 2 ;;
        --sasl) sasl=1; shift ;;
        *) usage ;;
        esac
    done
    [[ $brokers =~ ^[1-9][0-9]?$ ]] || die "--brokers wants a number from 1 to 99"
    t0=$(date +%s%N)
    fetch_jars
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    for i in $(seq 1 "$brokers"); do
        running "$dir/broker-$i.pid" && die "a broker already runs in $dir (tests/support/kafka.sh stop $dir)"
    done
    local attempt
    for attempt in 1 2 3; do
        start_attempt "$dir" "$brokers" "$sasl" && break
        [ "$attempt" != 3 ] || die "no free ports for the cluster in $dir after 3 attempts"
    done
    local ms=$((($(date +%s%N) - t0) / 1000000))
    echo "kafka.sh: Apache Kafka $version, $brokers broker(s) up in $((ms / 1000)).$(printf %03d $((ms % 1000)))s (logs in $dir/broker-*)" >&2
    echo "SLUICE_TEST_BOOTSTRAP=$(cat "$dir/bootstrap")"
    if [ "$sasl" = 1 ]; then
        {
            echo "SLUICE_TEST_SASL_BOOTSTRAP=$(sed 's|^|127.0.0.1:|' "$dir/ports.sasl" | paste -sd, -)"
            echo "SLUICE_TEST_SASL_PROTOCOL=SASL_SSL"
            echo "SLUICE_TEST_SASL_MECHANISM=SCRAM-SHA-512"
            echo "SLUICE_TEST_SASL_USERNAME=$sasl_user"
            echo "SLUICE_TEST_SASL_PASSWORD=$sasl_password"
            echo "SLUICE_TEST_SASL_CA=$dir/tls/ca.pem"
        } >"$dir/sasl.env"
        cat "$dir/sasl.env"
    fi
}

# stop_one DIR I SIGNAL - send SIGNAL to broker I and wait until it is gone.
stop_one() {
    local dir=$1 i=$2 sig=$3 pid n
    [ -f "$dir/broker-$i.pid" ] || return 0
    pid=$(cat "$dir/broker-$i.pid")
    if kill -0 "$pid" 2>/dev/null; then
        kill "-$sig" "$pid" 2>/dev/null || true
        for n in $(seq 1 600); do
            kill -0 "$pid" 2>/dev/null || break
            # a clean stop that hangs (e.g. the quorum is gone) ends in SIGKILL
            [ "$n" = 300 ] && kill -KILL "$pid" 2>/dev/null
            sleep 0.1
        done
    fi
    rm -f "$dir/broker-$i.pid"
}

stop() {
    local dir=$1 i
    [ -f "$dir/cluster" ] || return 0
    # shellcheck disable=SC1091
    . "$dir/cluster"
    # all at once: a node that waits for its quorum would wait for the others
    for i in $(seq 1 "$brokers"); do
        stop_one "$dir" "$i" TERM &
    done
    wait
}

node_arg() {
    local dir=$1 i=$2
    [ -f "$dir/cluster" ] || die "no cluster in $dir"
    # shellcheck disable=SC1091
    . "$dir/cluster"
    [[ $i =~ ^[0-9]+$ ]] && [ "$i" -ge 1 ] && [ "$i" -le "$brokers" ] || die "no broker $i in $dir (1..$brokers)"
}

kill_one() {
    node_arg "$1" "$2"
    stop_one "$1" "$2" KILL
}

restart_one() {
    local dir=$1 i=$2
    node_arg "$dir" "$i"
    running "$dir/broker-$i.pid" && die "broker $i in $dir still runs"
    # shellcheck disable=SC1091
    . "$dir/cluster"
    version=$version
    cache=${SLUICE_KAFKA_CACHE:-$HOME/.cache/sluice}/kafka-$version
    launch "$dir" "$i"
    local deadline=$((SECONDS + start_timeout)) port
    port=$(sed -n "${i}p" "$dir/ports.broker")
    until { kcat -b "127.0.0.1:$port" -L -m 3 2>/dev/null || true; } | grep -q "broker $i at 127.0.0.1:$port"; do
        running "$dir/broker-$i.pid" || die "broker $i exited during restart (log in $dir/broker-$i)"
        [ $SECONDS -lt "$deadline" ] || die "broker $i did not come back within ${start_timeout}s"
        sleep 0.2
    done
}

topic() {
    local dir=$1 name=$2 parts=$3 rf=$4 cfg=()
    shift 4
    [ -f "$dir/cluster" ] || die "no cluster in $dir"
    # shellcheck disable=SC1091
    . "$dir/cluster"
    cache=${SLUICE_KAFKA_CACHE:-$HOME/.cache/sluice}/kafka-$version
    local c
    for c in "$@"; do cfg+=(--config "$c"); done
    java_run org.apache.kafka.tools.TopicCommand --bootstrap-server "$(cat "$dir/bootstrap")" \
        --create --topic "$name" --partitions "$parts" --replication-factor "$rf" "${cfg[@]}" >/dev/null
}

controller() {
    local dir=$1 id
    [ -f "$dir/cluster" ] || die "no cluster in $dir"
    # shellcheck disable=SC1091
    . "$dir/cluster"
    cache=${SLUICE_KAFKA_CACHE:-$HOME/.cache/sluice}/kafka-$version
    id=$(java_run org.apache.kafka.tools.MetadataQuorumCommand --bootstrap-server "$(cat "$dir/bootstrap")" \
        describe --status | sed -n 's/^LeaderId:[[:space:]]*//p')
    [ -n "$id" ] || die "no active controller in $dir"
    echo "$id"
}

[ $# -ge 1 ] || usage
case $1 in
start) [ $# -ge 2 ] || usage; shift; start "$@" ;;
stop) [ $# -eq 2 ] || usage; stop "$2" ;;
kill) [ $# -eq 3 ] || usage; kill_one "$2" "$3" ;;
restart) [ $# -eq 3 ] || usage; restart_one "$2" "$3" ;;
topic) [ $# -ge 5 ] || usage; shift; topic "$@" ;;
controller) [ $# -eq 2 ] || usage; controller "$2" ;;
fetch) fetch_jars; echo "$cache/libs" ;;
*) usage ;;
esac
