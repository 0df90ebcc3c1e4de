-- source.sql - the source database that Debezium captures in sluice's CDC
-- test (tests/debezium/cdc.sh): every type the PostgreSQL connector maps,
-- a composite key, a table without a primary key, a partitioned table,
-- out-of-line (TOAST) values whose rows change their primary key, a schema
-- as replicas keep it (foreign keys, BEFORE UPDATE triggers, a domain,
-- tsvector, text[], 36 partitions), and the rows that exist before the
-- connector's snapshot.
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

-- out-of-line values whose rows change their primary key (stream.sql):
-- under REPLICA IDENTITY DEFAULT and FULL, on topics of one partition and
-- of two (tests/support/connect.sh gives tables named *_p2 two partitions).
-- STORAGE EXTERNAL: bodies over 2 kB are stored out of line, uncompressed.
CREATE TABLE app.toast_p1 (id integer PRIMARY KEY, title text, body text, n integer);
CREATE TABLE app.toast_p2 (LIKE app.toast_p1 INCLUDING ALL);
CREATE TABLE app.toast_full_p1 (LIKE app.toast_p1 INCLUDING ALL);
CREATE TABLE app.toast_full_p2 (LIKE app.toast_p1 INCLUDING ALL);
ALTER TABLE app.toast_p1 ALTER COLUMN body SET STORAGE EXTERNAL;
ALTER TABLE app.toast_p2 ALTER COLUMN body SET STORAGE EXTERNAL;
ALTER TABLE app.toast_full_p1 ALTER COLUMN body SET STORAGE EXTERNAL;
ALTER TABLE app.toast_full_p2 ALTER COLUMN body SET STORAGE EXTERNAL;
ALTER TABLE app.toast_full_p1 REPLICA IDENTITY FULL;
ALTER TABLE app.toast_full_p2 REPLICA IDENTITY FULL;

-- a schema as replicas keep it: books reference authors (their topics are
-- applied independently), BEFORE UPDATE triggers rewrite last_update, a
-- domain, an enum, tsvector, text[]; the noschema feed's target is this
-- schema itself (pg_dump), written with session_replication_role: replica
CREATE DOMAIN app.posint AS integer CHECK (VALUE > 0);
CREATE TABLE app.authors (
    id          integer PRIMARY KEY,
    name        text NOT NULL,
    last_update timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE app.books (
    id          integer PRIMARY KEY,
    author_id   integer NOT NULL REFERENCES app.authors (id) ON DELETE CASCADE,
    pages       app.posint,
    mood        public.mood,
    tags        text[],
    tsv         tsvector,
    last_update timestamptz NOT NULL DEFAULT now()
);
CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS
$$BEGIN NEW.last_update := clock_timestamp(); RETURN NEW; END$$;
CREATE TRIGGER touch BEFORE UPDATE ON app.authors FOR EACH ROW EXECUTE FUNCTION app.touch();
CREATE TRIGGER touch BEFORE UPDATE ON app.books FOR EACH ROW EXECUTE FUNCTION app.touch();
-- dozens of partitions: one a month over three years
CREATE TABLE app.readings (
    id bigint,
    at date,
    v  double precision,
    PRIMARY KEY (id, at)
) PARTITION BY RANGE (at);
DO $$
BEGIN
  FOR i IN 0..35 LOOP
    EXECUTE format('CREATE TABLE app.%I PARTITION OF app.readings FOR VALUES FROM (%L) TO (%L)',
                   'readings_p' || i, date '2024-01-01' + make_interval(months => i),
                   date '2024-01-01' + make_interval(months => i + 1));
  END LOOP;
END $$;

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

-- about 6.4 kB of incompressible text a row
CREATE FUNCTION pg_temp.body(g integer) RETURNS text LANGUAGE sql AS
$$SELECT string_agg(md5((g * 1000 + i)::text), '') FROM generate_series(1, 200) i$$;
INSERT INTO app.toast_p1 SELECT g, 'toast ' || g, pg_temp.body(g), 0 FROM generate_series(1, 30) g;
INSERT INTO app.toast_p2 SELECT * FROM app.toast_p1;
INSERT INTO app.toast_full_p1 SELECT * FROM app.toast_p1;
INSERT INTO app.toast_full_p2 SELECT * FROM app.toast_p1;

INSERT INTO app.authors SELECT g, 'author ' || g, '2025-01-01 00:00:00+00' FROM generate_series(1, 10) g;
INSERT INTO app.books
SELECT g, g % 10 + 1, g * 10, (ARRAY['sad', 'ok', 'happy'])[g % 3 + 1]::public.mood,
       ARRAY['tag ' || g, 'a,b', 'q"uote', NULL], to_tsvector('english', 'the quick brown fox ' || g),
       '2025-01-01 00:00:00+00'
FROM generate_series(1, 40) g;
INSERT INTO app.readings SELECT g, date '2024-01-01' + (g * 11 % 1090), g * 0.25 FROM generate_series(1, 300) g;
