-- The target database: the same tables, kept equal to the source by sluice.
CREATE SCHEMA inventory;
CREATE TABLE inventory.customers (
    id int PRIMARY KEY,
    first_name text NOT NULL,
    last_name text NOT NULL,
    email text NOT NULL,
    biography text,
    updated_at timestamptz NOT NULL
);
CREATE TABLE inventory.orders (
    order_number bigint PRIMARY KEY,
    order_date date NOT NULL,
    purchaser int NOT NULL,
    quantity int NOT NULL,
    price numeric(10,2) NOT NULL,
    details jsonb,
    token uuid
);
