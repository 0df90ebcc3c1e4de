#!/bin/bash
# cdc_sinks.sh - sluice beside Debezium's JDBC sink connector on one Debezium
# feed: records/s each takes to apply the same topic to PostgreSQL, and
# sluice on the same rows as plain JSON.
#
#   bench/cdc_sinks.sh BUILD_DIR [ROWS] [UPDATES]
#
# Needs SLUICE_TEST_BOOTSTRAP (a real broker, tests/support/kafka.sh).  Starts a
# PostgreSQL server (wal_level=logical) and a Kafka Connect worker
# (tests/support/connect.sh).  The Debezium PostgreSQL connector (JsonConverter with
# schemas) snapshots ROWS rows (default 100000) of a table, then streams
# UPDATES updates (default 50000) of distinct rows.  The table
# (SLUICE_CDC_SHAPE): `issue` (default), bench-debezium's bigint key, text,
# numeric(12,2), timestamptz, jsonb; or `wide`, a bigint key and 39 columns
# cycling through text, numeric(12,2), timestamptz, bigint, integer, boolean
# and jsonb.  Once the whole feed is in Kafka (the Connect worker then
# stopped and the connector's replication slot dropped), each sink reads it
# from the start into a database of its own, one after the other: sluice
# (one worker, its default batch limits: 30,000 rows or 8 MiB; or
# SLUICE_CDC_BATCH_ROWS rows), then the sluice of SLUICE_CDC_BUILD2 when
# set (another build: bench/run.sh --cdc builds one against the current
# librdkafka); sluice on plain JSON: as many records
# in the feed's order (each row as the snapshot read it, then each updated
# row's final state, as `row_to_json` writes them) on a topic of their own,
# `format: json` (SLUICE_CDC_PLAIN=0 leaves it out); then, in a Connect
# worker started again, the JDBC sink with each setting of
# SLUICE_JDBC_SETTINGS (';'-separated runs of space-separated KEY=VALUE,
# default: its defaults; batch.size=5000; batch.size=5000
# use.reduction.buffer=true).  sluice and sluice on plain JSON run
# SLUICE_CDC_RUNS times each (default 3), each run into a database of its
# own, and their ratios take the median run; a CHECKPOINT comes before every
# sink's run.  Time runs from the sink's start (for the
# JDBC sink: its registration) to the moment its target holds the source's
# final rows: one connection polls every 0.1 s for the row of the topic's
# last record as the source has it (each sink applies the one partition in
# order, and that row has its final value only from the last record on),
# then confirms with a checksum of the whole table (polling whole tables
# took a fifth of a 2-core machine's CPU from the sink being timed).  Each
# target is then compared with the source (EXCEPT ALL both ways).  The last
# lines give sluice's ratio to the best JDBC setting (goal 10 x; each
# build's), and to plain JSON (goal 0.5 x), marked met or MISSED, and the
# load average.
# Under sluice's line, its sluice_direct_records_total and
# sluice_direct_declined_total: how many
# events the direct reader took, and why the others took the general path.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:?usage: cdc_sinks.sh BUILD_DIR [ROWS] [UPDATES]}" && pwd)
rows=${2:-100000}
updates=${3:-50000}
bootstrap=${SLUICE_TEST_BOOTSTRAP:?SLUICE_TEST_BOOTSTRAP (a real Kafka broker) is required}
settings=${SLUICE_JDBC_SETTINGS:-"-;batch.size=5000;batch.size=5000 use.reduction.buffer=true"}
# sluice's batch section: its defaults, or SLUICE_CDC_BATCH_ROWS rows a batch
sluice_batch=""
[ -z "${SLUICE_CDC_BATCH_ROWS:-}" ] || sluice_batch=$'batch:\n  max_rows: '"$SLUICE_CDC_BATCH_ROWS"$'\n'
shape=${SLUICE_CDC_SHAPE:-issue}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
export PGOPTIONS="-c client_min_messages=warning"

work=$(mktemp -d "${TMPDIR:-/tmp}/sluice-cdcbench.XXXXXX")
chmod 755 "$work"
run=$(basename "$work" | tr -dc 'a-zA-Z0-9' | tr 'A-Z' 'a-z')
sluice_pid=""
cleanup() {
    set +e
    [ -n "$sluice_pid" ] && kill -TERM "$sluice_pid" 2>/dev/null && wait "$sluice_pid" 2>/dev/null
    "$root/tests/support/connect.sh" stop "$work/connect"
    "$root/tests/support/pgserver.sh" stop "$work/pg"
    rm -rf "$work"
}
trap cleanup EXIT

SLUICE_PG_CONF=$'wal_level=logical\nmax_wal_senders=10\nmax_replication_slots=10' \
    "$root/tests/support/pgserver.sh" start "$work/pg" >/dev/null
base=$(cat "$work/pg/dsn")
base=${base/dbname=sluice_test/}
dsn() { echo "$base dbname=$1"; }
q() { local db=$1; shift; "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 "$(dsn "$db")" "$@"; }

q postgres -c "CREATE DATABASE src"
# the table's columns, "name type value-expression" a line (g: the row number)
if [ "$shape" = wide ]; then
    columns=$(for i in $(seq 1 39); do
        c=$(printf 'c%02d' "$i")
        case $((i % 7)) in
            1) echo "$c text 'v$i ' || g" ;;
            2) echo "$c numeric(12,2) ((g * $i) % 100000) / 100.0" ;;
            3) echo "$c timestamptz '2025-01-01 00:00:00+00'::timestamptz + (g + $i) * interval '1 second'" ;;
            4) echo "$c bigint g * $i" ;;
            5) echo "$c integer (g + $i) % 1000000" ;;
            6) echo "$c boolean (g + $i) % 3 = 0" ;;
            0) echo "$c jsonb jsonb_build_object('g', g, 'c', $i)" ;;
        esac
    done)
    update_set="c02 = c02 + 1, c07 = c07 || '{\"u\": 1}'"
else
    [ "$shape" = issue ] || { echo "cdc_sinks: SLUICE_CDC_SHAPE is issue or wide" >&2; exit 2; }
    columns="name text 'name ' || g
amount numeric(12,2) (g % 100000) / 100.0
at timestamptz '2025-01-01 00:00:00+00'::timestamptz + g * interval '1 second'
doc jsonb jsonb_build_object('g', g, 'tag', 't' || (g % 7))"
    update_set="amount = amount + 1, doc = doc || '{\"u\": 1}'"
fi
ddl=$(echo "$columns" | awk '{printf ", %s %s", $1, $2}')
# the snapshot's rows again: ", (expr)::type AS name" per column
snapshot_row=$(echo "$columns" | awk '{n = $1; t = $2; $1 = ""; $2 = ""; sub(/^ +/, ""); printf ", (%s)::%s AS %s", $0, t, n}')
values=$(echo "$columns" | cut -d' ' -f3- | paste -sd, - | sed 's/,/, /g')
# every column read as the source's type (the JDBC sink creates json for jsonb)
cols="id::bigint$(echo "$columns" | awk '{printf ", %s::%s", $1, $2}')"
q src <<EOF
CREATE SCHEMA app;
CREATE TABLE app.bench (id bigint PRIMARY KEY$ddl);
INSERT INTO app.bench SELECT g, $values FROM generate_series(1, $rows) g;
EOF
prefix=bench_$run
q src -c "CREATE PUBLICATION ${prefix}_pub FOR TABLE app.bench"
"$root/tests/support/connect.sh" start "$work/connect" --bootstrap "$bootstrap" >/dev/null
"$root/tests/support/connect.sh" source "$work/connect" "$prefix" "$(dsn src)" 'app\.bench' json
q src -c "UPDATE app.bench SET $update_set WHERE id IN (SELECT (g::bigint * 7919) % $rows + 1 FROM generate_series(1, $updates) g)"
total_events=$((rows + $(q src -At -c "SELECT count(DISTINCT (g::bigint * 7919) % $rows + 1) FROM generate_series(1, $updates) g")))
# the feed is complete once the topic holds every event (kcat: end offset)
topic=${prefix}.app.bench
end=0
for _ in $(seq 1 2400); do
    end=$(kcat -b "$bootstrap" -Q -t "$topic:0:-1" 2>/dev/null | awk '{print $NF}')
    [ "${end:-0}" -ge "$total_events" ] && break
    sleep 0.5
done
[ "${end:-0}" -ge "$total_events" ] || { echo "cdc_sinks: $topic holds $end of $total_events events" >&2; exit 1; }
"$root/tests/support/connect.sh" delete "$work/connect" "$prefix"
# sluice runs without the Connect worker (it needs none); the JDBC sink's
# runs start it again.  The connector's replication slot goes: kept, it
# would hold every target's WAL from here on (all three in this cluster).
"$root/tests/support/connect.sh" stop "$work/connect"
for _ in $(seq 1 100); do
    [ "$(q src -At -c "SELECT count(*) FROM pg_replication_slots WHERE active")" = 0 ] && break
    sleep 0.2
done
q src -At -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots" >/dev/null
echo "feed: $rows snapshot reads + $((total_events - rows)) updates = $total_events events on ${prefix}.app.bench" \
     "($shape: $(echo "$columns" | wc -l) columns besides the key)"

checksum() { q "$1" -At -c "SELECT count(*), sum(hashtext(concat_ws('|', $cols))) FROM $2"; }
want=$(checksum src app.bench)
# the key of the feed's last event: once a sink (each applies its one
# partition in order) shows that row as the source has it, it has applied
# everything, which the whole-table checksum then confirms
last_id=$(kcat -b "$bootstrap" -C -t "$topic" -o -1 -c 1 -e -f '%k' |
    python3 -c 'import json, sys; k = json.load(sys.stdin); print(k.get("payload", k)["id"])')

# wait_target DB TABLE START [ID] - nanoseconds from START until DB's TABLE
# matches the source.  One connection polls every 0.1 s for row ID (the
# last event's; default last_id) as the source has it, cheap whatever the
# table's size, and only then compares whole tables; a full-table checksum
# every 0.5 s instead would take CPU from the sink it times.
wait_target() {
    /usr/bin/python3 - "$(dsn "$1")" "$2" "$3" "${4:-$last_id}" "$cols" "$want" "$(dsn src)" <<'PY'
import sys, time
import psycopg2
dsn, table, start, last, cols, want, src = sys.argv[1:]
start = int(start)
def one(c, sql):
    with c.cursor() as cur:
        cur.execute(sql)
        r = cur.fetchone()
        return "|".join("" if v is None else str(v) for v in r) if r else None
row = "SELECT hashtext(concat_ws('|', %s)) FROM %%s WHERE id = %d" % (cols, int(last))
s = psycopg2.connect(src)
want_row = one(s, row % "app.bench")
s.close()
c = None
deadline = time.time() + 1800
while time.time() < deadline:
    try:
        if c is None:
            c = psycopg2.connect(dsn)
            c.autocommit = True
        if one(c, row % table) == want_row:
            at = time.time_ns()
            if one(c, "SELECT count(*), sum(hashtext(concat_ws('|', %s))) FROM %s" % (cols, table)) == want:
                print(at - start)
                sys.exit(0)
            time.sleep(0.4)  # not yet (or never): whole tables every 0.5 s
    except psycopg2.Error:
        c = None  # the table may not exist yet
    time.sleep(0.1)
print("cdc_sinks: %s never matched the source" % table, file=sys.stderr)
sys.exit(1)
PY
}
diffs() {
    q "$1" -At -c "SELECT (SELECT count(*) FROM (SELECT * FROM app.bench EXCEPT ALL SELECT $cols FROM $2) a) || ' ' ||
                          (SELECT count(*) FROM (SELECT $cols FROM $2 EXCEPT ALL SELECT * FROM app.bench) b)"
}
copy_source() {
    "$PGBIN/pg_dump" -n app "$(dsn src)" | q "$1" >/dev/null
}
rate() { python3 -c "import sys; print('%d' % ($total_events / ($1 / 1e9)))"; }

# median FILE - the median of the numbers in FILE, one a line (of an even
# count, the mean of the middle two)
median() { sort -n "$1" | awk '{v[NR] = $1} END {m = int((NR + 1) / 2); printf "%.0f\n", NR % 2 ? v[m] : (v[m] + v[m + 1]) / 2}'; }
# PostgreSQL's dirty buffers written out before each sink's run, so that no
# checkpoint the last run (or the feed) made due lands in the next one
checkpoint() { q postgres -c CHECKPOINT; }

# sluice_runs BUILD NAME - SLUICE_CDC_RUNS runs (default 3) of BUILD's
# sluice, each into a database of its own, each line naming the librdkafka
# it ran with (its sluice_build_info); the ratios take the median, left in
# sluice_ns (one run of this size varies by some 15 % on a 2-core machine
# shared with the broker and the server), the librdkafka in sluice_rdk
nruns=${SLUICE_CDC_RUNS:-3}
sluice_runs() {
    local bld=$1 name=$2 n db admin_port start ns metrics direct rdk=""
    : >"$work/sluice.ns"
    for n in $(seq 1 "$nruns"); do
        db=t_sluice$n
        q postgres -c "CREATE DATABASE $db"
        q "$db" -c "CREATE SCHEMA r_app"
        admin_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
        cat >"$work/sluice.yaml" <<EOF
admin:
  listen: 127.0.0.1:$admin_port
kafka:
  bootstrap.servers: $bootstrap
  group.id: bench-$run-$name-$n
  auto.offset.reset: earliest
targets:
  pg:
    type: postgresql
    dsn: "$(dsn "$db")"
routes:
  - topic_pattern: '^${prefix}\.app\..*'
    target: pg
    table: r_app.\${source.table}
    format: debezium
    auto_create: true
${sluice_batch}workers: 1
EOF
        checkpoint
        start=$(date +%s%N)
        "$bld/src/sluice" -c "$work/sluice.yaml" >"$work/$name-$n.log" 2>&1 &
        sluice_pid=$!
        ns=$(wait_target "$db" r_app.bench "$start")
        # which records the direct reader took, and why the others took the
        # general path; which librdkafka sluice runs with
        metrics=$(python3 -c "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:$admin_port/metrics').read().decode())" || true)
        direct=$(echo "$metrics" | grep -E '^sluice_direct_(records|declined)_total' | tr '\n' ' ' || true)
        rdk=$(echo "$metrics" | sed -n 's/^sluice_build_info{.*librdkafka="\([^"]*\)".*/\1/p')
        kill -TERM "$sluice_pid"; wait "$sluice_pid" || true; sluice_pid=""
        copy_source "$db"
        printf '%-45s %8.1f s %9s events/s  differences (missing extra): %s\n' "sluice (librdkafka ${rdk:-?}), run $n of $nruns" \
            "$(python3 -c "print($ns/1e9)")" "$(rate "$ns")" "$(diffs "$db" r_app.bench)"
        echo "  ${direct:-(no direct-reader counters)}"
        echo "$ns" >>"$work/sluice.ns"
        q postgres -c "DROP DATABASE $db"
    done
    sluice_ns=$(median "$work/sluice.ns")
    sluice_rdk=${rdk:-?}
    printf '%-45s %8.1f s %9s events/s\n' "sluice (librdkafka $sluice_rdk, median of $nruns)" \
        "$(python3 -c "print($sluice_ns/1e9)")" "$(rate "$sluice_ns")"
}
sluice_runs "$build" sluice
sluice_rate=$(rate "$sluice_ns")
rdk1=$sluice_rdk
# SLUICE_CDC_BUILD2: a second build of sluice (bench/run.sh --cdc: against
# the current librdkafka, as the container image ships it), as many runs
rate2=0
if [ -n "${SLUICE_CDC_BUILD2:-}" ]; then
    sluice_runs "$(cd "$SLUICE_CDC_BUILD2" && pwd)" sluice2
    rate2=$(rate "$sluice_ns")
    rdk2=$sluice_rdk
fi
# sluice on plain JSON: the same rows, as many records, in the feed's
# order: each row as the snapshot read it (the table's value expressions
# again, cast to its types), then each updated row's final state; as many
# runs, the median taken
plain_rate=0
if [ "${SLUICE_CDC_PLAIN:-1}" != 0 ]; then
    ptopic=plain_$run
    # the broker creates no topic by itself (tests/support/kafka.sh): its admin tool does
    mkdir -p "$work/kafka"
    printf 'brokers=1\nsasl=0\nversion=%s\n' "${SLUICE_KAFKA_VERSION:-4.4.0}" >"$work/kafka/cluster"
    echo "$bootstrap" >"$work/kafka/bootstrap"
    "$root/tests/support/kafka.sh" topic "$work/kafka" "$ptopic" 1 1
    {
        q src -At -c "COPY (SELECT id, row_to_json(b) FROM (SELECT g::bigint AS id$snapshot_row
                            FROM generate_series(1, $rows) g) b ORDER BY id) TO STDOUT"
        q src -At -c "COPY (SELECT id, row_to_json(b) FROM app.bench b
                            WHERE id IN (SELECT (g::bigint * 7919) % $rows + 1 FROM generate_series(1, $updates) g)
                            ORDER BY id) TO STDOUT"
    } | kcat -P -b "$bootstrap" -t "$ptopic" -K $'\t' -X linger.ms=50
    pend=$(kcat -b "$bootstrap" -Q -t "$ptopic:0:-1" 2>/dev/null | awk '{print $NF}')
    plast=$(kcat -b "$bootstrap" -C -t "$ptopic" -o -1 -c 1 -e -f '%k')
    : >"$work/plain.ns"
    for n in $(seq 1 "$nruns"); do
        db=t_plain$n
        q postgres -c "CREATE DATABASE $db"
        q "$db" -c "CREATE SCHEMA r_app; CREATE TABLE r_app.bench (id bigint PRIMARY KEY$ddl)"
        cat >"$work/plain.yaml" <<EOF
kafka:
  bootstrap.servers: $bootstrap
  group.id: bench-plain-$run-$n
  auto.offset.reset: earliest
targets:
  pg:
    type: postgresql
    dsn: "$(dsn "$db")"
routes:
  - topics: [$ptopic]
    target: pg
    table: r_app.bench
    format: json
${sluice_batch}workers: 1
EOF
        checkpoint
        start=$(date +%s%N)
        "$build/src/sluice" -c "$work/plain.yaml" >"$work/plain-$n.log" 2>&1 &
        sluice_pid=$!
        ns=$(wait_target "$db" r_app.bench "$start" "$plast")
        kill -TERM "$sluice_pid"; wait "$sluice_pid" || true; sluice_pid=""
        copy_source "$db"
        printf '%-45s %8.1f s %9s records/s differences (missing extra): %s\n' \
            "sluice, plain JSON ($pend records), run $n" "$(python3 -c "print($ns/1e9)")" \
            "$(python3 -c "print('%d' % ($pend / ($ns / 1e9)))")" "$(diffs "$db" r_app.bench)"
        echo "$ns" >>"$work/plain.ns"
        q postgres -c "DROP DATABASE $db"
    done
    ns=$(median "$work/plain.ns")
    plain_rate=$(python3 -c "print('%d' % ($pend / ($ns / 1e9)))")
    printf '%-45s %8.1f s %9s records/s\n' "sluice, plain JSON (median of $nruns)" "$(python3 -c "print($ns/1e9)")" "$plain_rate"
fi

best_rate=0
best_setting=""

"$root/tests/support/connect.sh" start "$work/connect" --bootstrap "$bootstrap" >/dev/null
n=0
IFS=';' read -ra runs <<<"$settings"
for s in "${runs[@]}"; do
    n=$((n + 1))
    db=t_jdbc$n
    q postgres -c "CREATE DATABASE $db"
    q "$db" -c "CREATE SCHEMA r_app"
    # shellcheck disable=SC2086
    [ "$s" = - ] && s=""
    checkpoint
    start=$(date +%s%N)
    # shellcheck disable=SC2086
    "$root/tests/support/connect.sh" sink "$work/connect" "jdbc_${run}_$n" "$(dsn $db)" "${prefix}\\.app\\..*" \
        'collection.name.format=r_app.${source.table}' $s
    ns=$(wait_target "$db" r_app.bench "$start")
    "$root/tests/support/connect.sh" delete "$work/connect" "jdbc_${run}_$n"
    copy_source "$db"
    printf '%-45s %8.1f s %9s events/s  differences (missing extra): %s\n' "JDBC sink ${s:-(defaults)}" \
        "$(python3 -c "print($ns/1e9)")" "$(rate "$ns")" "$(diffs "$db" r_app.bench)"
    if [ "$(rate "$ns")" -gt "$best_rate" ]; then
        best_rate=$(rate "$ns")
        best_setting=${s:-(defaults)}
    fi
done
"$root/tests/support/connect.sh" stop "$work/connect"

# ratio NUM DEN GOAL - "N.NN x (goal G x: met|MISSED)"
ratio() {
    python3 -c "r = $1 / $2 if $2 else 0; print('%.2f x (goal $3 x: %s)' % (r, 'met' if r >= $3 else 'MISSED'))"
}
echo "sluice (librdkafka $rdk1) / the JDBC sink's best ($best_setting): $(ratio "$sluice_rate" "$best_rate" 10)"
[ "$rate2" = 0 ] || echo "sluice (librdkafka $rdk2) / the JDBC sink's best ($best_setting): $(ratio "$rate2" "$best_rate" 10)"
[ "$plain_rate" = 0 ] || echo "sluice on the Debezium feed / sluice on plain JSON (librdkafka $rdk1 both): $(ratio "$sluice_rate" "$plain_rate" 0.5)"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)"
