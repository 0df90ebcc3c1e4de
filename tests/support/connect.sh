#!/bin/bash
# connect.sh - a throwaway Kafka Connect worker (standalone) with Debezium's
# PostgreSQL source and JDBC sink connectors, for sluice's CDC tests.
#
#   tests/support/connect.sh start DIR --bootstrap B [--registry URL]
#       start a standalone worker on the Kafka cluster B, REST on 127.0.0.1
#       (a free port); prints SLUICE_CONNECT_URL=http://127.0.0.1:N and
#       writes it to DIR/url.  Offsets are kept in DIR/offsets.dat.
#       --registry puts Apicurio Registry's Avro converter on the plugin path
#       for the avro converter below, writing to the Apicurio Registry at URL
#       (its root, as tests/support/registry.sh prints).
#   tests/support/connect.sh source DIR NAME DSN TABLES [CONVERTER]
#       register a Debezium PostgreSQL source connector NAME for the database
#       DSN (libpq key=value form, as tests/support/pgserver.sh prints; the server
#       needs wal_level=logical).  pgoutput, slot NAME and publication
#       NAME_pub of its own (FOR ALL TABLES, so tables created later are
#       captured too), topics NAME.<schema>.<table>.  TABLES is the
#       connector's table.include.list (comma-separated regular expressions).
#       CONVERTER: json (JsonConverter, schemas on; the default), noschema
#       (schemas off, decimal.handling.mode=string), unwrap (schemas on and
#       the ExtractNewRecordState transform, deletes rewritten to
#       __deleted=true), avro (keys and values in Avro through the registry
#       given to start, in Confluent's wire format: a zero byte and the
#       schema's 4-byte content id, which the registry's Confluent-compatible
#       API resolves).  Topics have one partition, but those of tables
#       named toast_p2 and toast_full_p2 two (sluice's CDC test: the two
#       events of a primary key change in different partitions).  Waits
#       until the connector and its task run.
#   tests/support/connect.sh sink DIR NAME DSN TOPICS [KEY=VALUE...]
#       register Debezium's JDBC sink connector NAME writing the topics that
#       match the regular expression TOPICS into DSN (upsert on the record
#       key, deletes applied, basic schema evolution); KEY=VALUE pairs
#       override its settings (batch.size=..., use.reduction.buffer=...).
#   tests/support/connect.sh wait DIR NAME     wait until NAME and its task run
#   tests/support/connect.sh heal DIR          restart the tasks that failed resuming
#                                      after a restart (below); exit 2 if a
#                                      connector failed otherwise, 3 (the
#                                      names on stdout) if one is stalled
#   tests/support/connect.sh status DIR NAME   one line: NAME's state and its tasks'
#                                      (with the start of a failed task's trace)
#   tests/support/connect.sh delete DIR NAME   remove connector NAME
#   tests/support/connect.sh restart DIR       stop the worker and start it again with
#                                      the connectors registered so far
#   tests/support/connect.sh stop DIR          stop the worker
#
# The jars come from Maven Central through mvn into a cache outside the tree
# (${SLUICE_KAFKA_CACHE:-~/.cache/sluice}, the cache of tests/support/kafka.sh): Kafka Connect ${SLUICE_KAFKA_VERSION}
# (connect-runtime, the same release family as tests/support/kafka.sh's broker), the
# Debezium PostgreSQL connector ${SLUICE_DEBEZIUM_VERSION} and the JDBC sink; with
# --registry, Apicurio Registry's converter ${SLUICE_APICURIO_VERSION} (from
# tests/support/registry/converter-pom.xml).
# The worker's heap: SLUICE_CONNECT_HEAP, default 1g.  Under the CDC test's
# four source connectors (one with Apicurio's converter) a 384 MiB heap ran
# with its old generation full before each collection; the heap has room,
# and the worker exits at the first OutOfMemoryError rather than run on
# with a thread lost to it.  A worker that does not stop within 60 s is
# killed after its threads are dumped into DIR/connect.out.
set -euo pipefail

KAFKA_VERSION=${SLUICE_KAFKA_VERSION:-4.4.0}
DEBEZIUM_VERSION=${SLUICE_DEBEZIUM_VERSION:-3.6.1.Final}
# The JDBC sink's 3.6.1.Final archive is not on Maven Central; 3.6.0.Final is.
JDBC_SINK_VERSION=${SLUICE_JDBC_SINK_VERSION:-3.6.0.Final}
# Apicurio's Avro converter; 2.6.x runs on Java 17 like the worker (3.x
# needs Java 21).
APICURIO_VERSION=${SLUICE_APICURIO_VERSION:-2.6.13.Final}
CACHE=${SLUICE_KAFKA_CACHE:-$HOME/.cache/sluice}
HEAP=${SLUICE_CONNECT_HEAP:-1g}
HERE=$(cd "$(dirname "$0")" && pwd)

. "$(cd "$(dirname "$0")" && pwd)/ports.sh"
die() { echo "connect: $*" >&2; exit 1; }

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//' >&2
    exit 2
}

# fetch_jars - Kafka Connect's classpath into $CACHE/connect-$KAFKA_VERSION/libs,
# Debezium's plugin archives unpacked under $CACHE/debezium-$DEBEZIUM_VERSION/plugins.
fetch_jars() {
    command -v mvn >/dev/null || die "mvn not found (apt-get install maven)"
    local libs=$CACHE/connect-$KAFKA_VERSION/libs
    local plugins=$CACHE/debezium-$DEBEZIUM_VERSION/plugins
    local dl=$CACHE/downloads
    mkdir -p "$dl"
    if [ ! -e "$libs/.complete" ]; then
        echo "connect: fetching Kafka Connect $KAFKA_VERSION into $libs" >&2
        rm -rf "$libs"
        mvn -q -B -f "$HERE/connect/pom.xml" -Dkafka.version="$KAFKA_VERSION" \
            dependency:copy-dependencies -DoutputDirectory="$libs" >"$dl/mvn-connect.log" 2>&1 ||
            { tail -n 30 "$dl/mvn-connect.log" >&2; die "could not fetch Kafka Connect"; }
        touch "$libs/.complete"
    fi
    if [ ! -e "$plugins/.complete" ]; then
        rm -rf "$plugins"
        mkdir -p "$plugins"
        local a v
        for a in "debezium-connector-postgres:$DEBEZIUM_VERSION" "debezium-connector-jdbc:$JDBC_SINK_VERSION"; do
            v=${a#*:}
            a=${a%%:*}
            echo "connect: fetching io.debezium:$a:$v (plugin archive)" >&2
            mvn -q -B dependency:copy -Dartifact="io.debezium:$a:$v:tar.gz:plugin" \
                -DoutputDirectory="$dl" >"$dl/mvn-$a.log" 2>&1 ||
                { tail -n 30 "$dl/mvn-$a.log" >&2; die "could not fetch io.debezium:$a:$v"; }
            tar xzf "$dl/$a-$v-plugin.tar.gz" -C "$plugins"
        done
        touch "$plugins/.complete"
    fi
    echo "$libs" "$plugins"
}

# fetch_converter - Apicurio Registry's Avro converter and its dependencies,
# as one plugin under $CACHE/apicurio-converter-$APICURIO_VERSION/plugins.
fetch_converter() {
    local plugins=$CACHE/apicurio-converter-$APICURIO_VERSION/plugins
    local dl=$CACHE/downloads
    if [ ! -e "$plugins/.complete" ]; then
        echo "connect: fetching io.apicurio:apicurio-registry-utils-converter:$APICURIO_VERSION into $plugins" >&2
        rm -rf "$plugins"
        mkdir -p "$dl"
        mvn -q -B -f "$HERE/registry/converter-pom.xml" -Dapicurio.version="$APICURIO_VERSION" \
            dependency:copy-dependencies -DoutputDirectory="$plugins/apicurio-avro-converter" \
            >"$dl/mvn-apicurio-converter.log" 2>&1 ||
            { tail -n 30 "$dl/mvn-apicurio-converter.log" >&2; die "could not fetch Apicurio's converter"; }
        touch "$plugins/.complete"
    fi
    echo "$plugins"
}

# rest METHOD PATH [BODY] - one call to DIR's worker; prints the response body,
# fails on an HTTP status of 400 and above.
rest() {
    local method=$1 path=$2 body=${3:-}
    local url
    url=$(cat "$DIR/url")
    if [ -n "$body" ]; then
        curl -sS -f -X "$method" -H 'Content-Type: application/json' --data "$body" "$url$path"
    else
        curl -sS -f -X "$method" "$url$path"
    fi
}

launch() {
    local libs plugins pid
    read -r libs plugins < <(fetch_jars)
    local connectors=()
    if [ -d "$DIR/connectors" ]; then
        local f
        for f in "$DIR"/connectors/*.json; do
            [ -e "$f" ] && connectors+=("$f")
        done
    fi
    # shellcheck disable=SC2086
    nohup java -Xms64m -Xmx"$HEAP" -XX:+UseSerialGC -XX:CICompilerCount=2 -XX:+ExitOnOutOfMemoryError \
        -Dlog4j2.configurationFile="$DIR/log4j2.properties" \
        -cp "$libs/*" org.apache.kafka.connect.cli.ConnectStandalone \
        "$DIR/worker.properties" "${connectors[@]}" >>"$DIR/connect.out" 2>&1 &
    pid=$!
    echo "$pid" >"$DIR/pid"
    local i
    for i in $(seq 1 240); do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 30 "$DIR/connect.log" "$DIR/connect.out" >&2 || true
            die "the worker in $DIR exited"
        fi
        if curl -sf "$(cat "$DIR/url")/connector-plugins" >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.5
    done
    die "the worker in $DIR did not answer on $(cat "$DIR/url") within 120 s"
}

start() {
    local bootstrap="" registry=""
    while [ $# -gt 0 ]; do
        case $1 in
        --bootstrap) bootstrap=$2; shift 2 ;;
        --registry) registry=$2; shift 2 ;;
        *) usage ;;
        esac
    done
    [ -n "$bootstrap" ] || usage
    mkdir -p "$DIR"
    DIR=$(cd "$DIR" && pwd)
    if [ -e "$DIR/pid" ] && kill -0 "$(cat "$DIR/pid")" 2>/dev/null; then
        die "a worker already runs in $DIR (tests/support/connect.sh stop $DIR)"
    fi
    local port
    port=$(pick_port)
    echo "http://127.0.0.1:$port" >"$DIR/url"
    local plugins
    read -r _ plugins < <(fetch_jars)
    rm -f "$DIR/registry"
    if [ -n "$registry" ]; then
        plugins="$plugins,$(fetch_converter)"
        echo "$registry" >"$DIR/registry"
    fi
    cat >"$DIR/worker.properties" <<EOF
bootstrap.servers=$bootstrap
listeners=http://127.0.0.1:$port
rest.advertised.host.name=127.0.0.1
plugin.path=$plugins
plugin.discovery=hybrid_warn
offset.storage.file.filename=$DIR/offsets.dat
offset.flush.interval.ms=1000
key.converter=org.apache.kafka.connect.json.JsonConverter
value.converter=org.apache.kafka.connect.json.JsonConverter
# Headers keep their Connect schema: Debezium's JDBC sink reads the
# __debezium.newkey header (a struct) of a primary key change, and fails on
# the schemaless form the default SimpleHeaderConverter gives back.
header.converter=org.apache.kafka.connect.json.JsonConverter
header.converter.schemas.enable=true
# small, frequent requests: the tests' feeds are small
producer.linger.ms=5
consumer.max.poll.records=2000
EOF
    cat >"$DIR/log4j2.properties" <<EOF
rootLogger.level=INFO
rootLogger.appenderRef.file.ref=file
appender.file.type=File
appender.file.name=file
appender.file.fileName=$DIR/connect.log
appender.file.layout.type=PatternLayout
appender.file.layout.pattern=%d{ISO8601} %p [%t] %c{1}: %m%n
logger.reflections.name=org.reflections
logger.reflections.level=ERROR
EOF
    launch
    echo "SLUICE_CONNECT_URL=$(cat "$DIR/url")"
}

stop() {
    [ -e "$DIR/pid" ] || return 0
    local pid i
    pid=$(cat "$DIR/pid")
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        for i in $(seq 1 120); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.5
        done
        if kill -0 "$pid" 2>/dev/null; then
            echo "connect: the worker in $DIR did not stop within 60 s; killing it (its threads: $DIR/connect.out)" >&2
            # where it hangs, for the record
            jcmd "$pid" Thread.print >>"$DIR/connect.out" 2>&1 || true
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$DIR/pid"
}

# dsn_get DSN KEY DEFAULT - the value of KEY in a libpq key=value string.
dsn_get() {
    local kv
    for kv in $1; do
        if [ "${kv%%=*}" = "$2" ]; then echo "${kv#*=}"; return; fi
    done
    echo "$3"
}

# register NAME KEY=VALUE... - keep the connector's configuration in
# DIR/connectors (a restarted standalone worker is given these files) and
# create it.
register() {
    local name=$1 json
    shift
    json=$(python3 -c '
import json, sys
print(json.dumps(dict(kv.split("=", 1) for kv in sys.argv[1:]), indent=1))' "$@")
    mkdir -p "$DIR/connectors"
    # ConnectStandalone reads {"name": ..., "config": {...}} files.
    python3 -c 'import json, sys; print(json.dumps({"name": sys.argv[1], "config": json.loads(sys.argv[2])}))' \
        "$name" "$json" >"$DIR/connectors/$name.json"
    rest PUT "/connectors/$name/config" "$json" >/dev/null ||
        die "could not create connector $name (see $DIR/connect.log)"
    wait_running "$name"
}

# A task of Debezium's PostgreSQL connector can fail while it looks for
# where to resume streaming after the worker's restart, with "Message with
# LSN ... not present among LSNs seen in the location phase" (Debezium
# 3.6.1, when the source database is written during the restart).  Nothing
# was committed past the task's stored offset, so a restart of the task
# resumes the stream from there without a loss: that failure is answered
# with one, as an operator would (at most 5 times per connector), and
# logged; any other failure is fatal.  The failure can repeat on the same
# LSN however often the task restarts (the stored offset and the slot are
# unchanged between restarts): after the fifth the connector is "stalled",
# and heal names it, for the caller to judge without its events.
RESUME_FAILURE='not present among LSNs seen in the location phase'

# connector_state NAME - 0 running, 1 not yet, 2 failed (the trace on
# stderr), 3 failed resuming (as above, the task restarted), 4 failed
# resuming again after 5 restarts: stalled (the trace on stderr once).
connector_state() {
    local name=$1 status rc=1 n
    [ ! -e "$DIR/stalled.$name" ] || return 4
    status=$(rest GET "/connectors/$name/status" 2>/dev/null || true)
    [ -n "$status" ] || return 1
    echo "$status" | python3 -c '
import json, sys
s = json.load(sys.stdin)
ok = s["connector"]["state"] == "RUNNING" and s["tasks"] and all(t["state"] == "RUNNING" for t in s["tasks"])
failed = s["connector"]["state"] == "FAILED" or any(t["state"] == "FAILED" for t in s["tasks"])
trace = "".join(t.get("trace", "") for t in s["tasks"]) or s["connector"].get("trace", "")
if failed:
    print(trace[:3000], file=sys.stderr)
    sys.exit(3 if sys.argv[1] in trace else 2)
sys.exit(0 if ok else 1)' "$RESUME_FAILURE" 2>"$DIR/state.err" && rc=0 || rc=$?
    if [ $rc = 3 ]; then
        n=$(($(cat "$DIR/restarts.$name" 2>/dev/null || echo 0) + 1))
        if [ "$n" -gt 5 ]; then
            cat "$DIR/state.err" >&2
            echo "connect: the task of $name failed to resume streaming after 5 restarts; it is stalled" >&2
            : >"$DIR/stalled.$name"
            return 4
        fi
        echo "$n" >"$DIR/restarts.$name"
        echo "connect: the task of $name failed to resume streaming (Debezium: \"$RESUME_FAILURE\"); restarting it ($n)" >&2
        rest POST "/connectors/$name/restart?includeTasks=true&onlyFailed=true" >/dev/null ||
            die "could not restart the task of $name"
    elif [ $rc = 2 ]; then
        cat "$DIR/state.err" >&2
    fi
    return $rc
}

wait_running() {
    local name=$1 i rc
    for i in $(seq 1 240); do
        connector_state "$name" && rc=0 || rc=$?
        [ $rc = 0 ] && return 0
        [ $rc = 2 ] && die "connector $name failed (see $DIR/connect.log)"
        [ $rc = 4 ] && return 4
        sleep 0.5
    done
    die "connector $name is not running after 120 s: $(rest GET "/connectors/$name/status" 2>&1 || true)"
}

# heal - every registered connector: a task that failed resuming is
# restarted (above); exits 2 when one failed otherwise, 3 when one is
# stalled (its name on stdout, one per line).
heal() {
    local f rc name stalled=0
    for f in "$DIR"/connectors/*.json; do
        [ -e "$f" ] || continue
        name=$(basename "$f" .json)
        connector_state "$name" && rc=0 || rc=$?
        [ $rc = 2 ] && exit 2
        if [ $rc = 4 ]; then
            echo "$name"
            stalled=1
        fi
    done
    [ $stalled = 0 ] || exit 3
    return 0
}

source_connector() {
    [ $# -ge 3 ] && [ $# -le 4 ] || usage
    local name=$1 dsn=$2 tables=$3 converter=${4:-json}
    local slot=${name//[^a-zA-Z0-9_]/_}
    slot=${slot,,}
    local conv=() kv=(key.converter=org.apache.kafka.connect.json.JsonConverter
        value.converter=org.apache.kafka.connect.json.JsonConverter)
    case $converter in
    json) conv=(key.converter.schemas.enable=true value.converter.schemas.enable=true
        decimal.handling.mode=precise) ;;
    noschema) conv=(key.converter.schemas.enable=false value.converter.schemas.enable=false
        decimal.handling.mode=string) ;;
    unwrap) conv=(key.converter.schemas.enable=true value.converter.schemas.enable=true
        decimal.handling.mode=precise
        transforms=unwrap
        transforms.unwrap.type=io.debezium.transforms.ExtractNewRecordState
        transforms.unwrap.delete.tombstone.handling.mode=rewrite
        transforms.unwrap.add.fields=op,schema,table,lsn,source.ts_ms) ;;
    avro)
        [ -e "$DIR/registry" ] || die "the avro converter needs a worker started with --registry"
        local registry side
        registry=$(cat "$DIR/registry")
        kv=()
        for side in key value; do
            # Confluent's wire format: no headers, the 4-byte handler, and
            # content ids (what /apis/ccompat/v7/schemas/ids/{id} looks up).
            kv+=("$side.converter=io.apicurio.registry.utils.converter.AvroConverter"
                "$side.converter.apicurio.registry.url=$registry/apis/registry/v2"
                "$side.converter.apicurio.registry.auto-register=true"
                "$side.converter.apicurio.registry.find-latest=true"
                "$side.converter.apicurio.registry.as-confluent=true"
                "$side.converter.apicurio.registry.headers.enabled=false"
                "$side.converter.apicurio.registry.use-id=contentId")
        done
        conv=(decimal.handling.mode=precise) ;;
    *) die "unknown converter $converter (json, noschema, unwrap, avro)" ;;
    esac
    register "$name" \
        connector.class=io.debezium.connector.postgresql.PostgresConnector \
        tasks.max=1 \
        plugin.name=pgoutput \
        database.hostname="$(dsn_get "$dsn" host 127.0.0.1)" \
        database.port="$(dsn_get "$dsn" port 5432)" \
        database.user="$(dsn_get "$dsn" user postgres)" \
        database.password="$(dsn_get "$dsn" password "")" \
        database.dbname="$(dsn_get "$dsn" dbname postgres)" \
        topic.prefix="$name" \
        table.include.list="$tables" \
        slot.name="$slot" \
        publication.name="${slot}_pub" \
        publication.autocreate.mode=all_tables \
        snapshot.mode=initial \
        skipped.operations=none \
        tombstones.on.delete=true \
        time.precision.mode=adaptive \
        interval.handling.mode=string \
        topic.creation.default.replication.factor=1 \
        topic.creation.default.partitions=1 \
        topic.creation.groups=two \
        'topic.creation.two.include=.*\.toast(_full)?_p2$' \
        topic.creation.two.partitions=2 \
        topic.creation.two.replication.factor=1 \
        "${kv[@]}" \
        "${conv[@]}"
}

sink_connector() {
    [ $# -ge 3 ] || usage
    local name=$1 dsn=$2 topics=$3
    shift 3
    local kv
    for kv in "$@"; do
        [[ $kv == *=* ]] || die "sink: $kv is not KEY=VALUE"
    done
    register "$name" \
        connector.class=io.debezium.connector.jdbc.JdbcSinkConnector \
        tasks.max=1 \
        topics.regex="$topics" \
        connection.url="jdbc:postgresql://$(dsn_get "$dsn" host 127.0.0.1):$(dsn_get "$dsn" port 5432)/$(dsn_get "$dsn" dbname postgres)" \
        connection.username="$(dsn_get "$dsn" user postgres)" \
        connection.password="$(dsn_get "$dsn" password "")" \
        insert.mode=upsert \
        primary.key.mode=record_key \
        delete.enabled=true \
        truncate.enabled=true \
        schema.evolution=basic \
        consumer.override.auto.offset.reset=earliest \
        key.converter=org.apache.kafka.connect.json.JsonConverter \
        value.converter=org.apache.kafka.connect.json.JsonConverter \
        key.converter.schemas.enable=true \
        value.converter.schemas.enable=true \
        "$@"
}

[ $# -ge 2 ] || usage
cmd=$1
DIR=$2
shift 2
case $cmd in
start) start "$@" ;;
stop) [ $# -eq 0 ] || usage; stop ;;
restart)
    [ $# -eq 0 ] || usage
    DIR=$(cd "$DIR" && pwd)
    stop
    launch
    for f in "$DIR"/connectors/*.json; do
        [ -e "$f" ] || continue
        n=$(basename "$f" .json)
        # a stalled connector is reported by heal, to the caller's judgement
        wait_running "$n" || [ $? = 4 ]
    done
    ;;
source) source_connector "$@" ;;
sink) sink_connector "$@" ;;
wait) [ $# -eq 1 ] || usage; wait_running "$1" ;;
heal) [ $# -eq 0 ] || usage; heal ;;
status)
    [ $# -eq 1 ] || usage
    rest GET "/connectors/$1/status" | python3 -c '
import json, sys
s = json.load(sys.stdin)
tasks = ", ".join("task %s %s%s" % (t["id"], t["state"], (": " + t["trace"][:400]) if t.get("trace") else "")
                  for t in s["tasks"])
print("%s: connector %s, %s" % (s["name"], s["connector"]["state"], tasks or "no task"))'
    ;;
delete) [ $# -eq 1 ] || usage; rest DELETE "/connectors/$1" >/dev/null; rm -f "$DIR/connectors/$1.json" ;;
*) usage ;;
esac
