-- The source database: what Debezium captures.
CREATE SCHEMA inventory;
CREATE TABLE inventory.customers (
    id int PRIMARY KEY,
    first_name text NOT NULL,
    last_name text NOT NULL,
    email text NOT NULL,
    biography text,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE inventory.orders (
    order_number bigint PRIMARY KEY,
    order_date date NOT NULL,
    purchaser int NOT NULL REFERENCES inventory.customers (id),
    quantity int NOT NULL,
    price numeric(10,2) NOT NULL,
    details jsonb,
    token uuid
);
INSERT INTO inventory.customers (id, first_name, last_name, email) VALUES
    (1001, 'Sally', 'Thomas', 'sally.thomas@acme.com'),
    (1002, 'George', 'Bailey', 'gbailey@foobar.com'),
    (1003, 'Edward', 'Walker', 'ed@walker.com'),
    (1004, 'Anne', 'Kretchmar', 'annek@noanswer.org');
INSERT INTO inventory.orders VALUES
    (10001, '2016-01-16', 1001, 1, 19.99, '{"gift": true}', gen_random_uuid()),
    (10002, '2016-01-17', 1002, 2, 5.00, NULL, gen_random_uuid()),
    (10003, '2016-02-19', 1002, 2, 120.50, '{"note": "leave at the door"}', gen_random_uuid());
