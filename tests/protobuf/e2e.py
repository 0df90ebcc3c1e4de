"""e2e.py - `format: protobuf` and `format: json-schema` end to end: records
written by confluent-kafka's own serializers (produce.py) to the real
broker, schemas in the real registry (Apicurio, tests/support/registry.sh),
the daemon creating, evolving and filling PostgreSQL tables; every check is
on the stored rows and columns.

    e2e.py SLUICE_BINARY REGISTRY_URL WORKDIR

Environment: SLUICE_TEST_BOOTSTRAP, SLUICE_TEST_DSN.  Run by e2e.sh."""
import json
import os
import re
import signal
import subprocess
import sys
import time

from confluent_kafka.admin import AdminClient, NewTopic

HERE = os.path.dirname(os.path.abspath(__file__))
DEADLINE = 120  # seconds for the daemon to store what was produced


def psql(sql):
    out = subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-F", "|",
                          os.environ["SLUICE_TEST_DSN"], "-c", sql],
                         check=True, capture_output=True, text=True)
    return out.stdout.strip()


def produce(registry, topic, spec, work):
    path = os.path.join(work, f"{topic}-{len(os.listdir(work))}.json")
    with open(path, "w") as f:
        json.dump(spec, f)
    run = subprocess.run([sys.executable, os.path.join(HERE, "produce.py"), os.environ["SLUICE_TEST_BOOTSTRAP"],
                          registry, topic, path], capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"FAIL: produce.py {path}:\n{run.stderr[-3000:]}")


def protoc(name, work):
    out = os.path.join(work, name.replace(".proto", ".desc"))
    subprocess.run(["protoc", "-I", os.path.join(HERE, "proto"), "--include_imports",
                    f"--descriptor_set_out={out}", name], check=True)
    return out


def wait_for(what, sql, want, daemon, log):
    """Poll @sql until it answers @want, the daemon still running."""
    deadline = time.monotonic() + DEADLINE
    got = None
    while time.monotonic() < deadline:
        if daemon.poll() is not None:
            sys.exit(f"FAIL: sluice exited ({daemon.returncode}) before {what}:\n{open(log, errors='replace').read()[-3000:]}")
        try:
            got = psql(sql)
        except subprocess.CalledProcessError:
            got = None  # the table is not created yet
        if got == want:
            return
        time.sleep(0.2)
    sys.exit(f"FAIL: {what}: {sql}\n  got  {got!r}\n  want {want!r}\n{open(log, errors='replace').read()[-3000:]}")


def check(what, sql, want):
    got = psql(sql)
    if got != want:
        sys.exit(f"FAIL: {what}: {sql}\n  got  {got!r}\n  want {want!r}")
    print(f"ok: {what}")


def main():
    sluice, registry, work = sys.argv[1:4]
    ccompat = registry + "/apis/ccompat/v7"
    suffix = str(os.getpid())
    pb_topic, js_topic = f"pb_orders_{suffix}", f"js_orders_{suffix}"
    admin = AdminClient({"bootstrap.servers": os.environ["SLUICE_TEST_BOOTSTRAP"]})
    for f in admin.create_topics([NewTopic(t, 1, 1) for t in (pb_topic, js_topic)]).values():
        f.result(30)

    v1 = protoc("order.proto", work)
    v2 = protoc("order_v2.proto", work)

    # Protobuf, version 1: every kind of field; the well-known types
    # registered as references too (skip.known.types false), common.proto
    # always one.
    full = {"id": 1, "customer": "ann", "qty": -3, "u32": 4000000000, "u64": "18446744073709551615",
            "s32": -5, "s64": "-9000000000", "f32": 7, "f64": "8", "sf32": -9, "sf64": "-10",
            "ratio": 0.5, "price": 12.25, "paid": True, "blob": "AP8=", "status": "STATUS_SHIPPED",
            "shipTo": {"street": "Main 1", "city": "Oslo"}, "tags": ["a", "b"], "lines": ["1", "2", "3"],
            "counts": {"x": 1}, "card": "4111", "created": "2024-05-01T12:00:00.123456Z",
            "ttl": "3600.5s", "maybe": "42", "note": "hi", "extra": {"k": [1, "two", None, True]},
            "opt": 0, "firstItem": {"sku": "s1", "n": 2}, "items": [{"sku": "s2", "n": 3}]}
    produce(ccompat, pb_topic, {
        "format": "protobuf", "descriptors": v1, "value": "sluice.test.Order", "key": "sluice.test.OrderKey",
        "skip_known_types": False,
        "records": [
            {"key": {"id": 1}, "value": full},
            {"key": {"id": 2}, "value": {"id": 2, "customer": "bob", "voucher": "77"}},
            {"key": {"id": 3}, "value": {"id": 3, "customer": "cy"}},
        ]}, work)

    # JSON Schema, version 1
    js_key = {"title": "OrderKey", "type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]}
    js_v1 = {"$schema": "http://json-schema.org/draft-07/schema#", "title": "Order", "type": "object",
             "properties": {
                 "id": {"type": "integer"},
                 "customer": {"type": "string"},
                 "price": {"type": "number"},
                 "paid": {"type": ["boolean", "null"]},
                 "created": {"type": "string", "format": "date-time"},
                 "day": {"type": "string", "format": "date"},
                 "ref": {"type": "string", "format": "uuid"},
                 "tags": {"type": "array", "items": {"type": "string"}},
                 "ship_to": {"$ref": "#/definitions/Address"},
             },
             "required": ["id", "customer", "created"],
             "definitions": {"Address": {"type": "object", "properties": {"city": {"type": "string"}}}}}
    produce(ccompat, js_topic, {
        "format": "json-schema", "value_schema": js_v1, "key_schema": js_key,
        "records": [
            {"key": {"id": 1}, "value": {"id": 1, "customer": "ann", "price": 9.5, "paid": True,
                                         "created": "2024-05-01T12:00:00Z", "day": "2024-05-01",
                                         "ref": "0b0f1c2e-3a4b-4c5d-8e9f-a0b1c2d3e4f5",
                                         "tags": ["x", "y"], "ship_to": {"city": "Oslo"}}},
            {"key": {"id": 2}, "value": {"id": 2, "customer": "bob", "created": "2024-05-02T00:00:00Z"}},
        ]}, work)

    config = os.path.join(work, "sluice.yaml")
    log = os.path.join(work, "sluice.log")
    with open(config, "w") as f:
        f.write(f"""kafka:
  bootstrap.servers: {os.environ['SLUICE_TEST_BOOTSTRAP']}
  group.id: e2e-{suffix}
targets:
  pg:
    type: postgresql
    dsn: "{os.environ['SLUICE_TEST_DSN']}"
schema_registry:
  url: {ccompat}
batch:
  linger_ms: 100
routes:
  - name: pb
    topics: [{pb_topic}]
    target: pg
    table: {pb_topic}
    format: protobuf
    key_format: protobuf
    delete_on_tombstone: true
    auto_create: true
    auto_evolve: true
  - name: js
    topics: [{js_topic}]
    target: pg
    table: {js_topic}
    format: json-schema
    key_format: json-schema
    delete_on_tombstone: true
    auto_create: true
    auto_evolve: true
""")
    with open(log, "w") as logf:
        daemon = subprocess.Popen([sluice, "-c", config], stdout=logf, stderr=subprocess.STDOUT)
    try:
        wait_for("protobuf v1 rows", f"SELECT count(*) FROM {pb_topic}", "3", daemon, log)
        wait_for("json-schema v1 rows", f"SELECT count(*) FROM {js_topic}", "2", daemon, log)

        check("protobuf column types", f"""SELECT string_agg(column_name || ' ' || data_type || ' ' || is_nullable, ', '
                ORDER BY ordinal_position) FROM information_schema.columns WHERE table_name = '{pb_topic}'""",
              "id bigint NO, customer text YES, qty integer YES, u32 bigint YES, u64 numeric YES, s32 integer YES, "
              "s64 bigint YES, f32 bigint YES, f64 numeric YES, sf32 integer YES, sf64 bigint YES, ratio real YES, "
              "price double precision YES, paid boolean YES, blob bytea YES, status text YES, ship_to jsonb YES, "
              "tags ARRAY YES, lines ARRAY YES, counts jsonb YES, card text YES, voucher bigint YES, "
              "created timestamp with time zone YES, ttl text YES, maybe bigint YES, note text YES, "
              "extra jsonb YES, opt integer YES, first_item jsonb YES, items jsonb YES")
        check("protobuf primary key from the key message", f"""SELECT string_agg(a.attname, ',') FROM pg_index i
                JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
                WHERE i.indrelid = '{pb_topic}'::regclass AND i.indisprimary""", "id")
        check("protobuf scalars", f"""SELECT customer, qty, u32, u64, s32, s64, f32, f64, sf32, sf64, ratio, price, paid,
                encode(blob, 'hex'), status FROM {pb_topic} WHERE id = 1""",
              "ann|-3|4000000000|18446744073709551615|-5|-9000000000|7|8|-9|-10|0.5|12.25|t|00ff|STATUS_SHIPPED")
        check("protobuf nested, repeated, map, oneof", f"""SELECT ship_to, tags, lines, counts, card, voucher,
                first_item, items FROM {pb_topic} WHERE id = 1""",
              '{"city": "Oslo", "street": "Main 1"}|{a,b}|{1,2,3}|{"x": 1}|4111||{"n": 2, "sku": "s1"}|'
              '[{"n": 3, "sku": "s2"}]')
        check("protobuf well-known types", f"""SELECT created AT TIME ZONE 'UTC', ttl, maybe, note, extra, opt
                FROM {pb_topic} WHERE id = 1""",
              '2024-05-01 12:00:00.123456|PT3600.5S|42|hi|{"k": [1, "two", null, true]}|0')
        check("protobuf defaults and unset fields", f"""SELECT id, customer, qty, paid, encode(blob, 'hex'), status,
                ship_to IS NULL, card IS NULL, voucher, created IS NULL, maybe IS NULL, opt IS NULL, tags
                FROM {pb_topic} WHERE id = 2""",
              "2|bob|0|f||STATUS_UNKNOWN|t|t|77|t|t|t|{}")

        check("json-schema column types", f"""SELECT string_agg(column_name || ' ' || data_type || ' ' || is_nullable, ', '
                ORDER BY ordinal_position) FROM information_schema.columns WHERE table_name = '{js_topic}'""",
              "id bigint NO, customer text YES, price double precision YES, paid boolean YES, "
              "created timestamp with time zone YES, day date YES, ref uuid YES, tags ARRAY YES, ship_to jsonb YES")
        check("json-schema values", f"""SELECT id, customer, price, paid, created AT TIME ZONE 'UTC', day, ref, tags,
                ship_to FROM {js_topic} ORDER BY id""",
              "1|ann|9.5|t|2024-05-01 12:00:00|2024-05-01|0b0f1c2e-3a4b-4c5d-8e9f-a0b1c2d3e4f5|{x,y}|"
              '{"city": "Oslo"}\n2|bob|||2024-05-02 00:00:00||||')

        # Version 2 of each schema: a field added (a column under
        # auto_evolve), a key updated, a key deleted by a tombstone.
        produce(ccompat, pb_topic, {
            "format": "protobuf", "descriptors": v2, "value": "sluice.test.Order", "key": "sluice.test.OrderKey",
            "records": [
                {"key": {"id": 1}, "value": {"id": 1, "customer": "ann2", "region": "north"}},
                {"key": {"id": 4}, "value": {"id": 4, "customer": "dee", "region": "south"}},
                {"key": {"id": 3}, "value": None},
            ]}, work)
        js_v2 = json.loads(json.dumps(js_v1))
        js_v2["properties"]["region"] = {"type": "string"}
        produce(ccompat, js_topic, {
            "format": "json-schema", "value_schema": js_v2, "key_schema": js_key,
            "records": [
                {"key": {"id": 1}, "value": {"id": 1, "customer": "ann2", "created": "2024-05-03T00:00:00Z",
                                             "region": "north"}},
                {"key": {"id": 2}, "value": None},
            ]}, work)
        wait_for("protobuf v2 rows", f"SELECT string_agg(id || ':' || customer || ':' || coalesce(region, '-'), ' '"
                 f" ORDER BY id) FROM {pb_topic}", "1:ann2:north 2:bob:- 4:dee:south", daemon, log)
        wait_for("json-schema v2 rows", f"SELECT string_agg(id || ':' || customer || ':' || coalesce(region, '-'), ' '"
                 f" ORDER BY id) FROM {js_topic}", "1:ann2:north", daemon, log)
        check("protobuf v2 record replaces the row", f"SELECT qty, tags, ship_to IS NULL FROM {pb_topic} WHERE id = 1",
              "0|{}|t")
    finally:
        daemon.send_signal(signal.SIGTERM)
        rc = daemon.wait(60)
    if rc != 0:
        sys.exit(f"FAIL: sluice exited {rc}:\n{open(log, errors='replace').read()[-3000:]}")
    errors = [l for l in open(log) if " ERROR " in l]
    if errors:
        sys.exit("FAIL: sluice logged errors:\n" + "".join(errors[:10]))
    print("ok: sluice stopped cleanly")
    evolution(sluice, ccompat, work, suffix, admin)


def expect(what, got, want):
    if got != want:
        sys.exit(f"FAIL: {what}:\n  got  {got!r}\n  want {want!r}")
    print(f"ok: {what}")


def columns(table):
    return psql(f"""SELECT string_agg(column_name || ' ' || data_type || ' ' || is_nullable, ', '
                ORDER BY ordinal_position) FROM information_schema.columns WHERE table_name = '{table}'""")


def evolution(sluice, ccompat, work, suffix, admin):
    """auto_evolve: widen from Protobuf (int32 -> int64 widens, int64 ->
    string refused) and JSON Schema (an integer's range widened), and a
    JSON Schema whose fields come from schemas it references."""
    pb, js = f"pb_widen_{suffix}", f"js_widen_{suffix}"
    for f in admin.create_topics([NewTopic(t, 1, 1) for t in (pb, js)]).values():
        f.result(30)
    wkey = "sluice.test.widen.ReadingKey"
    produce(ccompat, pb, {"format": "protobuf", "descriptors": protoc("widen_v1.proto", work),
                          "value": "sluice.test.widen.Reading", "key": wkey,
                          "records": [{"key": {"id": 1}, "value": {"id": 1, "n": 5}}]}, work)
    # the referenced schema, registered under its own subject: a whole
    # schema (units.json) and one of its definitions (dates.json#/...);
    # "$schema" tells the registry (Apicurio) the content is JSON Schema
    draft = "http://json-schema.org/draft-07/schema#"
    refs = [{"name": "units.json", "subject": f"units_{suffix}",
             "schema": {"$schema": draft, "type": "integer", "minimum": 0, "maximum": 100}},
            {"name": "dates.json", "subject": f"dates_{suffix}",
             "schema": {"$schema": draft, "definitions": {"Day": {"type": "string", "format": "date"}}}}]
    js_v1 = {"title": "Reading", "type": "object",
             "properties": {"id": {"type": "integer"},
                            "n": {"type": "integer", "minimum": -2147483648, "maximum": 2147483647},
                            "pct": {"$ref": "units.json"}, "day": {"$ref": "dates.json#/definitions/Day"}},
             "required": ["id"]}
    js_key = {"title": "ReadingKey", "type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"]}
    produce(ccompat, js, {"format": "json-schema", "value_schema": js_v1, "key_schema": js_key,
                          "value_references": refs,
                          "records": [{"key": {"id": 1}, "value": {"id": 1, "n": 5, "pct": 40, "day": "2024-05-01"}}]},
            work)
    config = os.path.join(work, "widen.yaml")
    log = os.path.join(work, "widen.log")
    with open(config, "w") as f:
        f.write(f"""kafka:
  bootstrap.servers: {os.environ['SLUICE_TEST_BOOTSTRAP']}
  group.id: widen-{suffix}
targets:
  pg:
    type: postgresql
    dsn: "{os.environ['SLUICE_TEST_DSN']}"
schema_registry:
  url: {ccompat}
batch:
  linger_ms: 100
routes:
  - name: pbw
    topics: [{pb}]
    target: pg
    table: {pb}
    format: protobuf
    key_format: protobuf
    auto_create: true
    auto_evolve: widen
  - name: jsw
    topics: [{js}]
    target: pg
    table: {js}
    format: json-schema
    key_format: json-schema
    auto_create: true
    auto_evolve: widen
""")
    with open(log, "w") as logf:
        daemon = subprocess.Popen([sluice, "-c", config], stdout=logf, stderr=subprocess.STDOUT)
    try:
        wait_for("protobuf widen v1 row", f"SELECT count(*) FROM {pb}", "1", daemon, log)
        wait_for("json-schema widen v1 row", f"SELECT count(*) FROM {js}", "1", daemon, log)
        expect("protobuf int32 is integer", columns(pb), "id bigint NO, n integer YES")
        expect("json-schema ranges and references decide the types", columns(js),
              "id bigint NO, n integer YES, pct smallint YES, day date YES")
        produce(ccompat, pb, {"format": "protobuf", "descriptors": protoc("widen_v2.proto", work),
                              "value": "sluice.test.widen.Reading", "key": wkey,
                              "records": [{"key": {"id": 2}, "value": {"id": 2, "n": "5000000000"}}]}, work)
        js_v2 = json.loads(json.dumps(js_v1))
        del js_v2["properties"]["n"]["maximum"]
        produce(ccompat, js, {"format": "json-schema", "value_schema": js_v2, "key_schema": js_key,
                              "value_references": refs,
                              "records": [{"key": {"id": 2}, "value": {"id": 2, "n": 5000000000}}]}, work)
        wait_for("protobuf int64 row", f"SELECT string_agg(id || ':' || n, ' ' ORDER BY id) FROM {pb}",
                 "1:5 2:5000000000", daemon, log)
        wait_for("json-schema wider range row", f"SELECT string_agg(id || ':' || n, ' ' ORDER BY id) FROM {js}",
                 "1:5 2:5000000000", daemon, log)
        expect("protobuf int32 -> int64 widened the column", columns(pb), "id bigint NO, n bigint YES")
        expect("json-schema wider range widened the column", columns(js),
              "id bigint NO, n bigint YES, pct smallint YES, day date YES")
        text = open(log, errors="replace").read()
        for table in (pb, js):
            ddl = f'ALTER TABLE "public"."{table}" ALTER COLUMN "n" TYPE bigint'
            if ddl not in text:
                sys.exit(f"FAIL: no '{ddl}' in the log:\n{text[-3000:]}")
        print("ok: the widening DDL is logged")
        # int64 -> string: another kind, refused before the record
        produce(ccompat, pb, {"format": "protobuf", "descriptors": protoc("widen_v3.proto", work),
                              "value": "sluice.test.widen.Reading", "key": wkey,
                              "records": [{"key": {"id": 3}, "value": {"id": 3, "n": "x"}}]}, work)
        want = re.compile(re.escape(f'{pb}[0]@2: pbw: field "n" of schema id ') + r"\d+" +
                          re.escape(f' is string (text) but column "public"."{pb}"."n" is bigint: '
                                    "sluice never changes a column's kind; alter the table or the schema"))
        deadline = time.monotonic() + DEADLINE
        while not want.search(open(log, errors="replace").read()):
            if time.monotonic() > deadline:
                sys.exit(f"FAIL: no refusal of int64 -> string in the log:\n"
                         f"{open(log, errors='replace').read()[-3000:]}")
            time.sleep(0.2)
        print("ok: int64 -> string refused, naming the field, both types and the record")
        check("the refused record is not stored", f"SELECT count(*) FROM {pb}", "2")
        expect("the refused kind change left the column", columns(pb), "id bigint NO, n bigint YES")
    finally:
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(60)
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": os.environ["SLUICE_TEST_BOOTSTRAP"], "group.id": f"widen-{suffix}"})
    committed = c.committed([TopicPartition(pb, 0)], 30)[0].offset
    c.close()
    if committed > 2:
        sys.exit(f"FAIL: offset {committed} committed past the refused record (offset 2)")
    print(f"ok: committed offset {committed}, not past the refused record")


if __name__ == "__main__":
    main()
