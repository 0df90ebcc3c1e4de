#!/bin/bash
# cdc_sinks.sh - sluice beside Debezium's JDBC sink connector on one Debezium
# feed: records/s each takes to apply the same topic to PostgreSQL.
#
#   bench/cdc_sinks.sh BUILD_DIR [ROWS] [UPDATES]
#
# Needs SLUICE_TEST_BOOTSTRAP (a real broker, tests/support/kafka.sh).  Starts a
# PostgreSQL server (wal_level=logical) and a Kafka Connect worker
# (tests/support/connect.sh).  The Debezium PostgreSQL connector (JsonConverter with
# schemas) snapshots ROWS rows (default 100000) of a table shaped like
# bench-debezium's (bigint key, text, numeric(12,2), timestamptz, jsonb), then
# streams UPDATES updates (default 50000).  Once the whole feed is in Kafka,
# each sink reads it from the start into a database of its own, one after
# the other: sluice (one worker, batch.max_rows 5000), then the JDBC sink
# with each setting of SLUICE_JDBC_SETTINGS (';'-separated runs of
# space-separated KEY=VALUE, default: its defaults; batch.size=5000;
# batch.size=5000 use.reduction.buffer=true).  Time runs from the sink's
# start (for the JDBC sink: its registration) to the moment its target holds
# the source's final rows, polled every 0.5 s.  Each target is then compared
# with the source (EXCEPT ALL both ways).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:?usage: cdc_sinks.sh BUILD_DIR [ROWS] [UPDATES]}" && pwd)
rows=${2:-100000}
updates=${3:-50000}
bootstrap=${SLUICE_TEST_BOOTSTRAP:?SLUICE_TEST_BOOTSTRAP (a real Kafka broker) is required}
settings=${SLUICE_JDBC_SETTINGS:-"-;batch.size=5000;batch.size=5000 use.reduction.buffer=true"}
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
q src <<EOF
CREATE SCHEMA app;
CREATE TABLE app.bench (id bigint PRIMARY KEY, name text, amount numeric(12,2), at timestamptz, doc jsonb);
INSERT INTO app.bench
SELECT g, 'name ' || g, (g % 100000) / 100.0, '2025-01-01 00:00:00+00'::timestamptz + g * interval '1 second',
       jsonb_build_object('g', g, 'tag', 't' || (g % 7))
FROM generate_series(1, $rows) g;
EOF
prefix=bench_$run
q src -c "CREATE PUBLICATION ${prefix}_pub FOR TABLE app.bench"
"$root/tests/support/connect.sh" start "$work/connect" --bootstrap "$bootstrap" >/dev/null
"$root/tests/support/connect.sh" source "$work/connect" "$prefix" "$(dsn src)" 'app\.bench' json
q src -c "UPDATE app.bench SET amount = amount + 1, doc = doc || '{\"u\": 1}' WHERE id IN (SELECT (g * 7919) % $rows + 1 FROM generate_series(1, $updates) g)"
total_events=$((rows + $(q src -At -c "SELECT count(DISTINCT (g * 7919) % $rows + 1) FROM generate_series(1, $updates) g")))
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
echo "feed: $rows snapshot reads + $((total_events - rows)) updates = $total_events events on ${prefix}.app.bench"

checksum() { q "$1" -At -c "SELECT count(*), sum(amount::numeric), sum(hashtext(name || doc::jsonb::text)) FROM $2"; }
want=$(checksum src app.bench)

# wait_target DB TABLE START - seconds from START until DB's TABLE matches the source
wait_target() {
    local db=$1 table=$2 start=$3 i got=""
    for i in $(seq 1 3600); do
        got=$(checksum "$db" "$table" 2>/dev/null || true)
        if [ "$got" = "$want" ]; then
            echo "$(( $(date +%s%N) - start ))"
            return 0
        fi
        sleep 0.5
    done
    echo "cdc_sinks: $db.$table never matched the source ($got vs $want)" >&2
    return 1
}
# the target's columns read as the source's types
cols="id::bigint, name::text, amount::numeric(12,2), at::timestamptz, doc::jsonb"
diffs() {
    q "$1" -At -c "SELECT (SELECT count(*) FROM (SELECT * FROM app.bench EXCEPT ALL SELECT $cols FROM $2) a) || ' ' ||
                          (SELECT count(*) FROM (SELECT $cols FROM $2 EXCEPT ALL SELECT * FROM app.bench) b)"
}
copy_source() {
    "$PGBIN/pg_dump" -n app "$(dsn src)" | q "$1" >/dev/null
}
rate() { python3 -c "import sys; print('%d' % ($total_events / ($1 / 1e9)))"; }

# sluice
q postgres -c "CREATE DATABASE t_sluice"
q t_sluice -c "CREATE SCHEMA r_app"
cat >"$work/sluice.yaml" <<EOF
kafka:
  bootstrap.servers: $bootstrap
  group.id: bench-$run
  auto.offset.reset: earliest
targets:
  pg:
    type: postgresql
    dsn: "$(dsn t_sluice)"
routes:
  - topic_pattern: '^${prefix}\.app\..*'
    target: pg
    table: r_app.\${source.table}
    format: debezium
    auto_create: true
batch:
  max_rows: 5000
  linger_ms: 100
workers: 1
EOF
start=$(date +%s%N)
"$build/src/sluice" -c "$work/sluice.yaml" >"$work/sluice.log" 2>&1 &
sluice_pid=$!
ns=$(wait_target t_sluice r_app.bench "$start")
kill -TERM "$sluice_pid"; wait "$sluice_pid" || true; sluice_pid=""
copy_source t_sluice
printf '%-45s %8.1f s %9s events/s  differences (missing extra): %s\n' "sluice" "$(python3 -c "print($ns/1e9)")" "$(rate "$ns")" "$(diffs t_sluice r_app.bench)"

n=0
IFS=';' read -ra runs <<<"$settings"
for s in "${runs[@]}"; do
    n=$((n + 1))
    db=t_jdbc$n
    q postgres -c "CREATE DATABASE $db"
    q "$db" -c "CREATE SCHEMA r_app"
    # shellcheck disable=SC2086
    [ "$s" = - ] && s=""
    start=$(date +%s%N)
    # shellcheck disable=SC2086
    "$root/tests/support/connect.sh" sink "$work/connect" "jdbc_${run}_$n" "$(dsn $db)" "${prefix}\\.app\\..*" \
        'collection.name.format=r_app.${source.table}' $s
    ns=$(wait_target "$db" r_app.bench "$start")
    "$root/tests/support/connect.sh" delete "$work/connect" "jdbc_${run}_$n"
    copy_source "$db"
    printf '%-45s %8.1f s %9s events/s  differences (missing extra): %s\n' "JDBC sink ${s:-(defaults)}" \
        "$(python3 -c "print($ns/1e9)")" "$(rate "$ns")" "$(diffs "$db" r_app.bench)"
done
