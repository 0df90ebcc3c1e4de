-- source.sql - the source database that Debezium captures in sluice's CDC
-- test (tests/debezium/cdc.sh): every type the PostgreSQL connector maps,
-- a composite key, a table without a primary key, a partitioned table, and
-- the rows that exist before the connector's snapshot.
CREATE TYPE public.mood AS ENUM ('sad', 'ok', 'happy', 'it''s "complicated"');
CREATE SCHEMA app;
CREATE SCHEMA logs;

CREATE TABLE app.types (
    id   integer PRIMARY KEY,
    si   smallint,
    i    integer,
    bi   bigint,
    n    numeric,               -- no declared scale: VariableScaleDecimal
    n2   numeric(14,3),         -- declared scale: Decimal
    r    real,
    d    double precision,
    b    boolean,
    t    text,
    vc   varchar(20),
    c    char(5),
    by   bytea,
    u    uuid,
    j    json,
    jb   jsonb,
    dt   date,
    tm   time,
    ttz  timetz,
    ts   timestamp,
    tstz timestamptz,
    iv   interval,
    ai   integer[],
    at   text[],
    e    public.mood
);

-- a composite primary key
CREATE TABLE app.orders (
    region text,
    id     bigint,
    amount numeric(12,2),
    note   varchar(200),
    placed timestamptz,
    PRIMARY KEY (region, id)
);

-- a table that gets truncated (the ExtractNewRecordState form drops
-- truncate events, so its feed leaves this table out)
CREATE TABLE app.trunc (
    id integer PRIMARY KEY,
    v  text
);

-- a wide text column for unchanged-TOAST updates, REPLICA IDENTITY DEFAULT
CREATE TABLE app.docs (
    id    integer PRIMARY KEY,
    title text,
    body  text,
    n     integer
);
-- the same under REPLICA IDENTITY FULL
CREATE TABLE app.docs_full (
    id    integer PRIMARY KEY,
    title text,
    body  text,
    n     integer
);
ALTER TABLE app.docs_full REPLICA IDENTITY FULL;

-- a partitioned table: Debezium sees the parent (publish_via_partition_root)
CREATE TABLE app.meas (
    id   bigint,
    at   date,
    val  double precision,
    tag  text,
    PRIMARY KEY (id, at)
) PARTITION BY RANGE (at);
CREATE TABLE app.meas_p2025 PARTITION OF app.meas FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE app.meas_p2026 PARTITION OF app.meas FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');

-- no primary key: REPLICA IDENTITY FULL carries whole rows in updates and
-- deletes; eid is unique (the route's key)
CREATE TABLE logs.events (
    eid   uuid NOT NULL UNIQUE,
    kind  text,
    seen  timestamp,
    data  jsonb
);
ALTER TABLE logs.events REPLICA IDENTITY FULL;

-- rows before the snapshot
INSERT INTO app.types VALUES
 (1, 32767, 2147483647, 9223372036854775807, 123456789012345678901234567890.123456789, 12345678901.123,
  3.5, 1.0000000000000002, true, 'plain', 'varchar', 'ab',
  '\x00ff10', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{"a": [1, 2, {"b": null}]}', '{"k": "v", "n": 1.5}',
  '1969-07-20', '23:59:59.999999', '12:00:00.5+00', '2024-02-29 13:14:15.123456', '2024-02-29 13:14:15.654321+00',
  '1 year 2 mons 3 days 04:05:06.789', '{1,2,3}', '{"a b","c,d","e\"f",NULL}', 'happy'),
 (2, -32768, -2147483648, -9223372036854775808, -0.000000001, -99999999999.999,
  -1.25, -2.5e-300, false, 'quotes '' " \ and unicode é ✓', '', '     ',
  '\x', '00000000-0000-0000-0000-000000000000', 'null', 'null',
  '0001-01-01', '00:00:00', '00:00:00+00', '1900-01-01 00:00:00', '1960-06-30 23:59:59.000001+00',
  '-3 days -00:00:01', '{}', '{}', 'it''s "complicated"'),
 (3, 0, 0, 9007199254740993, 0, 0,
  0, 0, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL),
 (4, 1, 1, -9007199254740993, 1e-20, 0.001,
  1e30, 1e-300, true, repeat('x', 10), 'x', 'abcde',
  decode(repeat('ab', 300), 'hex'), gen_random_uuid(), '[]', '[1, "two", false]',
  '2262-04-11', '12:34:56.000001', '23:59:59.999999+00', '1970-01-01 00:00:00', '1970-01-01 00:00:00+00',
  '0', '{-1,0,1}', '{""}', 'sad');

INSERT INTO app.orders
SELECT CASE WHEN g % 3 = 0 THEN 'eu' WHEN g % 3 = 1 THEN 'us' ELSE 'ap' END, g,
       (g * 13.37)::numeric(12,2), 'order ' || g, '2025-01-01 00:00:00+00'::timestamptz + g * interval '1 minute 1.5 seconds'
FROM generate_series(1, 300) g;

INSERT INTO app.trunc SELECT g, 'before ' || g FROM generate_series(1, 40) g;
INSERT INTO app.docs SELECT g, 'doc ' || g, repeat(md5(g::text), 400), 0 FROM generate_series(1, 20) g;
INSERT INTO app.docs_full SELECT g, 'doc ' || g, repeat(md5(g::text), 400), 0 FROM generate_series(1, 20) g;

INSERT INTO app.meas SELECT g, date '2025-01-01' + (g * 7 % 700), g / 7.0, 'm' || g FROM generate_series(1, 200) g;

INSERT INTO logs.events SELECT gen_random_uuid(), 'boot', '2025-03-04 05:06:07.000008', jsonb_build_object('g', g)
FROM generate_series(1, 50) g;
