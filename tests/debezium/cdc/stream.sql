-- stream.sql - changes streamed after the snapshot (tests/debezium/cdc.sh):
-- inserts, updates, deletes (tombstones follow), a primary key update, a
-- TRUNCATE, unchanged TOAST values under REPLICA IDENTITY DEFAULT and FULL,
-- primary key updates of rows with unchanged out-of-line values, changes of
-- the replica schema's tables.
INSERT INTO app.types (id, si, i, bi, n, n2, r, d, b, t, vc, c, by, u, j, jb, dt, tm, ttz, ts, tstz, iv, ai, at, e)
VALUES (10, 7, 8, 4611686018427387904, 3.14159265358979323846264338327950288, 0.5, 0.1, 0.1, true,
        E'line\nbreak\ttab', 'v', 'c', '\xdeadbeef', 'f47ac10b-58cc-4372-a567-0e02b2c3d479',
        '{"dup": 1, "dup": 2}', '{"nested": {"arr": [null, true]}}', '1899-12-31', '01:02:03.456789',
        '04:05:06.000007+00', '1999-12-31 23:59:59.999999', '2038-01-19 03:14:08.5+00', '1 day',
        '{42}', '{"x"}', 'ok');
UPDATE app.types SET t = 'changed', n = -n, jb = 'null', j = NULL WHERE id = 1;
UPDATE app.types SET bi = bi / 2, b = NOT b WHERE id IN (2, 4);
DELETE FROM app.types WHERE id = 3;
-- primary key update: a delete of the old key and a create of the new one
UPDATE app.types SET id = 30 WHERE id = 4;
UPDATE app.orders SET id = id + 10000 WHERE region = 'eu' AND id <= 30;
UPDATE app.orders SET amount = amount * 2, note = NULL WHERE id % 7 = 0;
DELETE FROM app.orders WHERE id % 11 = 0;

-- unchanged TOAST: body is not touched, so pgoutput leaves it out (DEFAULT)
UPDATE app.docs SET n = n + 1, title = title || ' v2' WHERE id <= 10;
UPDATE app.docs SET body = body || 'tail' WHERE id = 1;
UPDATE app.docs_full SET n = n + 1, title = title || ' v2' WHERE id <= 10;
DELETE FROM app.docs WHERE id = 20;
DELETE FROM app.docs_full WHERE id = 20;

-- a partitioned table: a row moves between partitions
UPDATE app.meas SET at = date '2026-06-01', val = val + 1 WHERE id <= 5;
DELETE FROM app.meas WHERE id BETWEEN 100 AND 110;
INSERT INTO app.meas VALUES (1000, '2026-12-31', 'NaN', 'nan'), (1001, '2025-01-01', '-Infinity', NULL);

UPDATE logs.events SET kind = 'seen', data = data || '{"s": 1}' WHERE (data->>'g')::int % 5 = 0;
DELETE FROM logs.events WHERE (data->>'g')::int % 9 = 0;

UPDATE app.trunc SET v = 'updated' WHERE id <= 10;
TRUNCATE app.trunc;
INSERT INTO app.trunc VALUES (1, 'after truncate'), (2, NULL);
BEGIN;
INSERT INTO app.trunc VALUES (3, 'in the truncating transaction');
TRUNCATE app.trunc;
INSERT INTO app.trunc VALUES (4, 'after the second truncate');
COMMIT;

-- primary key updates of rows whose out-of-line body does not change: the
-- creates of the new keys carry the placeholder under DEFAULT
UPDATE app.toast_p1 SET id = id + 1000, n = n + 1 WHERE id <= 10;
UPDATE app.toast_p2 SET id = id + 1000, n = n + 1 WHERE id <= 10;
UPDATE app.toast_full_p1 SET id = id + 1000, n = n + 1 WHERE id <= 10;
UPDATE app.toast_full_p2 SET id = id + 1000, n = n + 1 WHERE id <= 10;
-- one row at a time, each its own transaction
UPDATE app.toast_p1 SET id = 2011 WHERE id = 11;
UPDATE app.toast_p2 SET id = 2011 WHERE id = 11;
UPDATE app.toast_full_p2 SET id = 2011 WHERE id = 11;
-- an update, then a key change of the same row in one transaction
BEGIN;
UPDATE app.toast_p1 SET body = body || 'changed' WHERE id = 12;
UPDATE app.toast_p1 SET id = 2012 WHERE id = 12;
COMMIT;
-- plain updates: the body keeps its stored value
UPDATE app.toast_p1 SET n = n + 5 WHERE id BETWEEN 20 AND 25;
UPDATE app.toast_p2 SET n = n + 5 WHERE id BETWEEN 20 AND 25;

-- the replica schema: a new author and a book of theirs in one transaction
-- (their topics are applied independently), updates whose last_update the
-- triggers rewrite, a delete that cascades, rows moving between partitions
BEGIN;
INSERT INTO app.authors VALUES (11, 'author 11');
INSERT INTO app.books (id, author_id, pages, mood, tags, tsv)
VALUES (41, 11, 99, 'happy', ARRAY['new'], to_tsvector('english', 'jumped over'));
COMMIT;
UPDATE app.books SET pages = pages + 1, tags = tags || 'x'::text WHERE id % 4 = 0;
UPDATE app.authors SET name = name || ' jr' WHERE id <= 3;
DELETE FROM app.authors WHERE id = 5;
UPDATE app.readings SET at = at + 200, v = -v WHERE id <= 20;
DELETE FROM app.readings WHERE id BETWEEN 100 AND 120;
