#!/bin/bash
# record_avro.sh - record the Debezium Avro events of
# tests/debezium/data/pg_avro.* from a live capture: Debezium's PostgreSQL
# connector in Kafka Connect with Apicurio Registry's Avro converter
# (tests/support/connect.sh source ... avro), on a real broker.
#
#   tests/debezium/cdc/record_avro.sh
#
# Needs SLUICE_TEST_BOOTSTRAP (tests/support/kafka.sh) and kcat.  The source is
# app.types of cdc/source.sql with the changes cdc/stream.sql makes to it,
# and app.tdoc, a table whose body is stored out of line (unchanged-TOAST
# updates).  Writes, in tests/debezium/data:
#   pg_avro.schemas.json  {"id": "schema text", ...}: every schema the
#                         records name, by the id the registry gave it;
#   pg_avro.events        one record a line: TABLE KEY VALUE, each hex of
#                         the record's bytes in Confluent's wire format
#                         (magic byte, 4-byte id, Avro), "-" for none;
#   pg_avro.expected      the source tables afterwards, one row a line:
#                         TABLE ROW, ROW a JSON string: the row's text with
#                         json as jsonb and the enum as text (TimeZone UTC).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
out=$root/tests/debezium/data
bootstrap=${SLUICE_TEST_BOOTSTRAP:?record_avro: SLUICE_TEST_BOOTSTRAP (a real Kafka broker) is required}
command -v kcat >/dev/null || { echo "record_avro: kcat is needed" >&2; exit 1; }
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
export PGOPTIONS="-c client_min_messages=warning -c TimeZone=UTC"

work=$(mktemp -d "${TMPDIR:-/tmp}/sluice-record-avro.XXXXXX")
chmod 755 "$work"
prefix=fx_$(basename "$work" | tr -dc 'a-zA-Z0-9' | tr 'A-Z' 'a-z')
cleanup() {
    set +e
    "$root/tests/support/connect.sh" stop "$work/connect"
    "$root/tests/support/registry.sh" stop "$work/registry"
    "$root/tests/support/pgserver.sh" stop "$work/pg"
    rm -rf "$work"
}
trap cleanup EXIT

SLUICE_PG_CONF=$'wal_level=logical\nmax_wal_senders=5\nmax_replication_slots=5' \
    "$root/tests/support/pgserver.sh" start "$work/pg" >/dev/null
dsn=$(cat "$work/pg/dsn")
dsn="${dsn/dbname=sluice_test/} dbname=src"
"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 "${dsn/dbname=src/dbname=postgres}" -c "CREATE DATABASE src"
psql_src() { "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 "$dsn" "$@"; }
psql_src -f "$here/source.sql" >/dev/null
psql_src >/dev/null <<'EOF'
CREATE TABLE app.tdoc (id integer PRIMARY KEY, title text, body text);
ALTER TABLE app.tdoc ALTER COLUMN body SET STORAGE EXTERNAL;
INSERT INTO app.tdoc SELECT g, 'doc ' || g, repeat(chr(64 + g), 2100) FROM generate_series(1, 3) g;
EOF
psql_src -c "CREATE PUBLICATION ${prefix}_pub FOR ALL TABLES WITH (publish_via_partition_root = true)"

"$root/tests/support/registry.sh" start "$work/registry" >/dev/null
"$root/tests/support/connect.sh" start "$work/connect" --bootstrap "$bootstrap" \
    --registry "$(cat "$work/registry/url")" >/dev/null
"$root/tests/support/connect.sh" source "$work/connect" "$prefix" "$dsn" 'app\.types,app\.tdoc' avro

# count TOPIC - the records in TOPIC so far
count() {
    kcat -b "$bootstrap" -C -t "$1" -o beginning -e -q -f 'x\n' 2>/dev/null | wc -l
}
# wait_for TOPIC N - until TOPIC holds N records
wait_for() {
    local i
    for i in $(seq 1 600); do
        [ "$(count "$1")" -ge "$2" ] && return 0
        sleep 0.2
    done
    echo "record_avro: $1 holds $(count "$1") records, not $2" >&2
    exit 1
}
wait_for "$prefix.app.types" 4
wait_for "$prefix.app.tdoc" 3
# the changes cdc/stream.sql makes to app.types
awk 'BEGIN { RS = ";\n" } /app\.types/ { sub(/^(--[^\n]*\n)+/, ""); print $0 ";" }' \
    "$here/stream.sql" >"$work/types.sql"
psql_src -f "$work/types.sql" >/dev/null
psql_src >/dev/null <<'EOF'
UPDATE app.tdoc SET title = title || ' v2' WHERE id = 1;           -- body unchanged (TOAST)
UPDATE app.tdoc SET body = body || 'tail', title = NULL WHERE id = 2;
DELETE FROM app.tdoc WHERE id = 3;
EOF
# types: 1 insert, 1 + 2 updates, 1 delete + tombstone, a key change
# (delete, tombstone, create); tdoc: 2 updates, a delete and its tombstone
wait_for "$prefix.app.types" $((4 + 1 + 3 + 2 + 3))
wait_for "$prefix.app.tdoc" $((3 + 2 + 2))

python3 - "$bootstrap" "$prefix" "$(cat "$work/registry/url")" "$out" <<'EOF'
import json, subprocess, sys, urllib.request
bootstrap, prefix, registry, out = sys.argv[1:]
ids = set()
lines = []
for table in ("types", "tdoc"):
    raw = subprocess.run(["kcat", "-b", bootstrap, "-C", "-t", f"{prefix}.app.{table}", "-o", "beginning",
                          "-e", "-q", "-f", "%K:%k%S:%s"], check=True, capture_output=True).stdout
    pos = 0
    while pos < len(raw):
        parts = []
        for _ in range(2):
            colon = raw.index(b":", pos)
            n = int(raw[pos:colon])
            pos = colon + 1
            if n < 0:
                parts.append("-")
                continue
            b = raw[pos:pos + n]
            pos += n
            assert b[0] == 0, "not Confluent's wire format"
            ids.add(int.from_bytes(b[1:5], "big"))
            parts.append(b.hex())
        lines.append(f"{table} {parts[0]} {parts[1]}")
schemas = {}
for i in sorted(ids):
    with urllib.request.urlopen(f"{registry}/apis/ccompat/v7/schemas/ids/{i}") as r:
        schemas[str(i)] = json.load(r)["schema"]
with open(f"{out}/pg_avro.schemas.json", "w") as f:
    json.dump(schemas, f, indent=1)
    f.write("\n")
with open(f"{out}/pg_avro.events", "w") as f:
    f.write("\n".join(lines) + "\n")
print(f"record_avro: {len(lines)} records, {len(schemas)} schemas", file=sys.stderr)
EOF
{
    psql_src -At -c "SELECT 'types ' || to_json(row(id, si, i, bi, n, n2, r, d, b, t, vc, c, by, u, j::jsonb, jb, dt, tm,
                                                  ttz, ts, tstz, iv, ai, at, e::text)::text) FROM app.types ORDER BY id"
    psql_src -At -c "SELECT 'tdoc ' || to_json(row(id, title, body)::text) FROM app.tdoc ORDER BY id"
} >"$out/pg_avro.expected"
echo "record_avro: wrote $out/pg_avro.{schemas.json,events,expected}" >&2
