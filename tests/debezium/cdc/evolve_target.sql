-- evolve_target.sql - what a user does on a target fed without schemas
-- before evolve.sql runs on the source: sluice cannot learn new columns or
-- tables from schemaless events.
ALTER TABLE r_app.orders ADD COLUMN status text;
ALTER TABLE r_app.orders ADD COLUMN weight numeric(8,3);
CREATE TABLE r_app.added (
    id   bigint PRIMARY KEY,
    name text,
    at   timestamptz DEFAULT now()
);
