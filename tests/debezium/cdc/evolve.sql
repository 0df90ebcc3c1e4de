-- evolve.sql - schema changes mid-stream (tests/debezium/cdc.sh): a column
-- added, a table created, a column dropped, each followed by rows using it.
-- no DEFAULT: sluice adds columns without one, so rows written before
-- the change would read NULL in the target where the source reads the default
ALTER TABLE app.orders ADD COLUMN status text;
ALTER TABLE app.orders ADD COLUMN weight numeric(8,3);
INSERT INTO app.orders VALUES ('us', 2, 2.00, 'evolved', now(), 'paid', 1.250);
UPDATE app.orders SET status = 'shipped' WHERE id = 1;

CREATE TABLE app.added (
    id   bigint PRIMARY KEY,
    name text,
    at   timestamptz DEFAULT now()
);
INSERT INTO app.added (id, name) SELECT g, 'added ' || g FROM generate_series(1, 30) g;
UPDATE app.added SET name = NULL WHERE id = 3;
DELETE FROM app.added WHERE id = 4;

ALTER TABLE app.docs DROP COLUMN n;
INSERT INTO app.docs VALUES (100, 'after drop', 'short');
UPDATE app.docs SET title = 'after drop 2' WHERE id = 2;
