#!/usr/bin/python3
"""The hand-written Kafka-to-PostgreSQL consumer that sluice is compared with.

Written the way integration guides show it: a confluent_kafka consumer with
auto-commit off polls a batch of records, the batch is upserted with
psycopg2's execute_values (deduplicated per key first, because PostgreSQL
refuses ON CONFLICT DO UPDATE on the same key twice in one statement), the
transaction commits, then the offsets are committed to Kafka.  Runs until
SIGTERM/SIGINT.

  python_consumer.py BOOTSTRAP GROUP TOPIC DSN TABLE [--batch N]
"""
import argparse
import json
import signal

import psycopg2
import psycopg2.extras
from confluent_kafka import Consumer, KafkaException

COLUMNS = ["id", "device", "ts", "temp", "ok"]

running = True


def stop(signum, frame):
    global running
    running = False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bootstrap")
    ap.add_argument("group")
    ap.add_argument("topic")
    ap.add_argument("dsn")
    ap.add_argument("table")
    ap.add_argument("--batch", type=int, default=1000, help="records per poll")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    consumer = Consumer({
        "bootstrap.servers": args.bootstrap,
        "group.id": args.group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    })
    consumer.subscribe([args.topic])
    conn = psycopg2.connect(args.dsn)
    cols = ", ".join(COLUMNS)
    updates = ", ".join("%s = EXCLUDED.%s" % (c, c) for c in COLUMNS[1:])
    sql = "INSERT INTO %s (%s) VALUES %%s ON CONFLICT (id) DO UPDATE SET %s" % (args.table, cols, updates)

    try:
        while running:
            msgs = consumer.consume(num_messages=args.batch, timeout=1.0)
            if not msgs:
                continue
            rows = {}
            for m in msgs:
                if m.error():
                    raise KafkaException(m.error())
                v = json.loads(m.value())
                rows[v["id"]] = tuple(v.get(c) for c in COLUMNS)  # last one per key wins
            with conn.cursor() as cur:
                psycopg2.extras.execute_values(cur, sql, list(rows.values()), page_size=len(rows))
            conn.commit()
            consumer.commit(asynchronous=False)
    finally:
        consumer.close()
        conn.close()


if __name__ == "__main__":
    main()
