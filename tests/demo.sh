#!/bin/bash
# tests/demo.sh - sluice live, on a fresh Debian 12 machine: installs the
# missing packages, builds, starts a throwaway PostgreSQL and an in-memory
# Kafka cluster (sluice-mock-kafka), produces sample order events (updates of
# the same orders and one tombstone), runs `sluice -c configs/demo.yaml`
# until every event is committed, prints the resulting table, and cleans up.
set -euo pipefail
cd "$(dirname "$0")/.."
. tests/support/prepare.sh

build=${SLUICE_BUILD_DIR:-build}
sluice_install_packages
sluice_build "$build"
sluice="$build/src/sluice"
mock="$build/tests/tools/sluice-mock-kafka"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/sluice-demo.XXXXXX")
chmod 755 "$tmp"
sluice_pid=""
mock_pid=""
cleanup() {
    set +e
    [ -n "$sluice_pid" ] && kill "$sluice_pid" 2>/dev/null && wait "$sluice_pid" 2>/dev/null
    exec 3>&- 2>/dev/null                   # end of stdin stops the mock cluster
    [ -n "$mock_pid" ] && kill "$mock_pid" 2>/dev/null && wait "$mock_pid" 2>/dev/null
    tests/support/pgserver.sh stop "$tmp/pg"
    rm -rf "$tmp"
}
trap cleanup EXIT

echo "== starting a throwaway PostgreSQL"
line=$(tests/support/pgserver.sh start "$tmp/pg")
export SLUICE_DEMO_DSN=${line#SLUICE_TEST_DSN=}
psql() { command psql -X -q -v ON_ERROR_STOP=1 "$SLUICE_DEMO_DSN" "$@"; }
psql <<'SQL'
CREATE TABLE public.orders (
    id         bigint PRIMARY KEY,
    customer   text,
    status     text NOT NULL,
    total      numeric(10,2),
    items      jsonb,
    updated_at timestamptz
);
SQL

echo "== starting the mock Kafka cluster"
mkfifo "$tmp/mock.stdin"
"$mock" --topic orders:3 <"$tmp/mock.stdin" >"$tmp/mock.out" 2>"$tmp/mock.log" &
mock_pid=$!
exec 3>"$tmp/mock.stdin"
for _ in $(seq 1 100); do
    grep -q '^bootstrap=' "$tmp/mock.out" && break
    kill -0 "$mock_pid" 2>/dev/null || { cat "$tmp/mock.log" >&2; exit 1; }
    sleep 0.1
done
export SLUICE_DEMO_BOOTSTRAP=$(sed -n 's/^bootstrap=//p' "$tmp/mock.out")
[ -n "$SLUICE_DEMO_BOOTSTRAP" ] || { echo "the mock cluster did not start" >&2; exit 1; }
echo "   bootstrap.servers=$SLUICE_DEMO_BOOTSTRAP"

echo "== producing sample order events to topic 'orders'"
cat >"$tmp/events" <<'EVENTS'
1001|{"id":1001,"customer":{"name":"Ada Lovelace","tier":"gold"},"status":"created","total":42.50,"items":[{"sku":"BK-1","qty":1}],"updated_at":"2024-05-01T09:00:00Z"}
1002|{"id":1002,"customer":{"name":"Alan Turing"},"status":"created","total":18.00,"items":[{"sku":"PN-7","qty":3}],"updated_at":"2024-05-01T09:01:00Z"}
1003|{"id":1003,"customer":{"name":"Grace Hopper"},"status":"created","total":99.90,"items":[{"sku":"KB-2","qty":1},{"sku":"MS-4","qty":1}],"updated_at":"2024-05-01T09:02:00Z"}
1001|{"id":1001,"customer":{"name":"Ada Lovelace","tier":"gold"},"status":"paid","total":42.50,"items":[{"sku":"BK-1","qty":1}],"updated_at":"2024-05-01T09:05:00Z"}
1004|{"id":1004,"customer":{"name":"Edsger Dijkstra"},"status":"created","total":7.25,"items":[{"sku":"ST-9","qty":5}],"updated_at":"2024-05-01T09:06:00Z"}
1002|{"id":1002,"customer":{"name":"Alan Turing"},"status":"paid","total":18.00,"items":[{"sku":"PN-7","qty":3}],"updated_at":"2024-05-01T09:07:00Z"}
1005|{"id":1005,"customer":{"name":"Barbara Liskov"},"status":"created","total":250.00,"items":[{"sku":"MN-1","qty":1}],"updated_at":"2024-05-01T09:08:00Z"}
1003|{"id":1003,"customer":{"name":"Grace Hopper"},"status":"paid","total":99.90,"items":[{"sku":"KB-2","qty":1},{"sku":"MS-4","qty":1}],"updated_at":"2024-05-01T09:09:00Z"}
1006|{"id":1006,"customer":{"name":"Donald Knuth"},"status":"created","total":2.56,"items":[{"sku":"CK-1","qty":1}],"updated_at":"2024-05-01T09:10:00Z"}
1001|{"id":1001,"customer":{"name":"Ada Lovelace","tier":"gold"},"status":"shipped","total":42.50,"items":[{"sku":"BK-1","qty":1}],"updated_at":"2024-05-01T10:00:00Z"}
1004|{"id":1004,"customer":{"name":"Edsger Dijkstra"},"status":"cancelled","total":7.25,"items":[{"sku":"ST-9","qty":5}],"updated_at":"2024-05-01T10:01:00Z"}
1007|{"id":1007,"customer":{"name":"Frances Allen"},"status":"created","total":64.00,"items":[{"sku":"CP-3","qty":2}],"updated_at":"2024-05-01T10:02:00Z"}
1005|{"id":1005,"customer":{"name":"Barbara Liskov"},"status":"paid","total":250.00,"items":[{"sku":"MN-1","qty":1}],"updated_at":"2024-05-01T10:03:00Z"}
1002|{"id":1002,"customer":{"name":"Alan Turing"},"status":"shipped","total":18.00,"items":[{"sku":"PN-7","qty":3}],"updated_at":"2024-05-01T10:04:00Z"}
1008|{"id":1008,"customer":{"name":"Ken Thompson"},"status":"created","total":31.40,"items":[{"sku":"TT-1","qty":1}],"updated_at":"2024-05-01T10:05:00Z"}
1006|{"id":1006,"customer":{"name":"Donald Knuth"},"status":"paid","total":2.56,"items":[{"sku":"CK-1","qty":1}],"updated_at":"2024-05-01T10:06:00Z"}
1004|
1007|{"id":1007,"customer":{"name":"Frances Allen"},"status":"paid","total":64.00,"items":[{"sku":"CP-3","qty":2}],"updated_at":"2024-05-01T10:08:00Z"}
1003|{"id":1003,"customer":{"name":"Grace Hopper"},"status":"shipped","total":99.90,"items":[{"sku":"KB-2","qty":1},{"sku":"MS-4","qty":1}],"updated_at":"2024-05-01T10:09:00Z"}
1008|{"id":1008,"customer":{"name":"Ken Thompson"},"status":"paid","total":31.40,"items":[{"sku":"TT-1","qty":1}],"updated_at":"2024-05-01T10:10:00Z"}
EVENTS
# Same key, same partition (kcat's default partitioner); -Z: "1004|" is a tombstone.
kcat -P -b "$SLUICE_DEMO_BOOTSTRAP" -t orders -K '|' -Z -l "$tmp/events"
nevents=$(wc -l <"$tmp/events")
echo "   $nevents events (order 1004 is cancelled, then deleted by a tombstone)"

echo "== sluice --check -c configs/demo.yaml"
"$sluice" --check -c configs/demo.yaml

echo "== sluice -c configs/demo.yaml"
"$sluice" -c configs/demo.yaml 2>"$tmp/sluice.log" &
sluice_pid=$!
committed() {
    psql -At -c "SELECT coalesce(sum(next_offset), 0) FROM sluice.offsets WHERE group_id = 'sluice-demo' AND topic = 'orders'" 2>/dev/null || echo 0
}
deadline=$((SECONDS + 60))
until [ "$(committed)" = "$nevents" ]; do
    if ! kill -0 "$sluice_pid" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
        cat "$tmp/sluice.log" >&2
        echo "sluice did not commit the $nevents events" >&2
        exit 1
    fi
    sleep 0.2
done
kill -TERM "$sluice_pid"
status=0
wait "$sluice_pid" || status=$?
sluice_pid=""
sed 's/^/   /' "$tmp/sluice.log"
[ "$status" = 0 ] || { echo "sluice exited with status $status" >&2; exit 1; }

echo "== public.orders: the latest state of every order"
psql -c "SELECT id, customer, status, total, items, updated_at FROM public.orders ORDER BY id"
echo "== offsets stored with the rows (sluice.offsets)"
psql -c "SELECT topic, partition, next_offset FROM sluice.offsets WHERE group_id = 'sluice-demo' ORDER BY partition"
