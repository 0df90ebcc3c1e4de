"""feed.py - the soak's records: what each route's topic receives, and the
row each record must leave behind.

Every record carries headers that say what it is (soak.seq, soak.key,
soak.op, soak.level), so that the checker rebuilds its model from what Kafka
actually holds, and the expected row is a pure function of them (row()).
Keys are spread over partitions by the soak itself (key % partitions), and a
record's sequence number grows with its offset within a partition.

Routes (see soak.py for their configuration):
  orders     JSON, upsert, tombstones delete, PostgreSQL, dlq_table
  events     JSON, insert (no key), PostgreSQL, kafka.* columns, dlq_table
  accounts   Avro (Confluent wire format, the test registry), upsert,
             auto_evolve, PostgreSQL, dlq_table
  customers  Debezium JSON change events with schemas, auto_create and
             auto_evolve, PostgreSQL, dlq_table
  items      JSON, upsert, the CrateDB stand-in (at-least-once), dlq_topic
"""

import json
import os
import random
import struct
import sys
import threading
import time
import urllib.request

from confluent_kafka import Producer

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from avrobin import string as avro_str, zigzag as zz  # noqa: E402

PARTITIONS = 4
KEYS = 200              # keys per keyed route
UPSERT_ROUTES = ("orders", "accounts", "customers", "items")
ROUTES = ("orders", "events", "accounts", "customers", "items")
EVOLVING = ("accounts", "customers")    # routes whose schema gains fields


def text_val(route, key, seq):
    """The text column of a record: quotes, a backslash, a tab and non-ASCII
    now and then, so that every encoding path is exercised."""
    v = "%s-%d-%d" % (route, key, seq)
    if seq % 5 == 0:
        v += " \u00e9\u4e2d\"'\\\t;--"
    return v


def amount(seq):
    return "%d.%02d" % (seq % 1000, seq % 97)


def extra_val(i, seq):
    return "x%d-%d" % (i, seq)


def row(route, key, seq, level):
    """The row a good upsert or insert record leaves: column -> value
    (strings; amount a decimal string; extras only up to level)."""
    r = {"seq": seq, "route": route, "val": text_val(route, key, seq)}
    if route in ("orders", "events"):
        r["amount"] = amount(seq)
    if route in ("accounts", "customers"):
        r["bal"] = seq * 3
    for i in range(1, level + 1):
        r["extra%d" % i] = extra_val(i, seq)
    return r


# ---- Avro (Confluent wire format), written by hand: the soak needs only
# records of longs, strings and [null, string] unions.

def account_schema(level):
    fields = [{"name": "id", "type": "long"}, {"name": "seq", "type": "long"},
              {"name": "route", "type": "string"}, {"name": "val", "type": "string"},
              {"name": "bal", "type": "long"}]
    for i in range(1, level + 1):
        fields.append({"name": "extra%d" % i, "type": ["null", "string"], "default": None})
    return {"type": "record", "name": "Account", "namespace": "soak", "fields": fields}


def account_avro(schema_id, key, seq, level):
    r = row("accounts", key, seq, level)
    body = zz(key) + zz(seq) + avro_str("accounts") + avro_str(r["val"]) + zz(r["bal"])
    for i in range(1, level + 1):
        body += zz(1) + avro_str(r["extra%d" % i])
    return b"\x00" + struct.pack(">i", schema_id) + body


# ---- Debezium change events (JSON with schemas, as Kafka Connect's
# JsonConverter writes them)

def dbz_row_schema(level, name):
    fields = [{"type": "int64", "optional": False, "field": "id"},
              {"type": "int64", "optional": False, "field": "seq"},
              {"type": "string", "optional": False, "field": "route"},
              {"type": "string", "optional": True, "field": "val"},
              {"type": "int64", "optional": True, "field": "bal"}]
    for i in range(1, level + 1):
        fields.append({"type": "string", "optional": True, "field": "extra%d" % i})
    return {"type": "struct", "fields": fields, "optional": True, "name": "soak.public.customers.Value",
            "field": name}


def dbz_value(key, seq, level, op):
    source = {"type": "struct", "optional": False, "name": "io.debezium.connector.postgresql.Source",
              "field": "source", "fields": [
                  {"type": "string", "optional": False, "field": "connector"},
                  {"type": "string", "optional": False, "field": "name"},
                  {"type": "int64", "optional": False, "field": "ts_ms"},
                  {"type": "string", "optional": False, "field": "schema"},
                  {"type": "string", "optional": False, "field": "table"},
                  {"type": "int64", "optional": True, "field": "lsn"}]}
    schema = {"type": "struct", "optional": False, "name": "soak.public.customers.Envelope", "fields": [
        dbz_row_schema(level, "before"), dbz_row_schema(level, "after"), source,
        {"type": "string", "optional": False, "field": "op"},
        {"type": "int64", "optional": True, "field": "ts_ms"}]}
    r = row("customers", key, seq, level)
    full = {"id": key, "seq": seq, "route": "customers", "val": r["val"], "bal": r["bal"]}
    for i in range(1, level + 1):
        full["extra%d" % i] = r["extra%d" % i]
    payload = {"before": None, "after": full, "op": op, "ts_ms": 1700000000000 + seq,
               "source": {"connector": "postgresql", "name": "soak", "ts_ms": 1700000000000 + seq,
                          "schema": "public", "table": "customers", "lsn": seq}}
    if op == "d":
        payload["before"] = {"id": key, "seq": seq, "route": "customers"}
        payload["after"] = None
    return json.dumps({"schema": schema, "payload": payload}).encode()


def dbz_key(key):
    return json.dumps({"schema": {"type": "struct", "optional": False, "name": "soak.public.customers.Key",
                                  "fields": [{"type": "int64", "optional": False, "field": "id"}]},
                       "payload": {"id": key}}).encode()


class Feed:
    """Produces records to every route's topic at a steady rate from one
    thread (so that within a partition sequence numbers grow with offsets),
    through an idempotent producer that retries through broker outages."""

    def __init__(self, rng, bootstrap, topics, registry_url, rate, log):
        self.rng = rng
        self.topics = topics            # route -> topic
        self.registry = registry_url
        self.rate = rate                # records per second per route
        self.log = log
        self.level = {r: 0 for r in ROUTES}
        self.schema_ids = {}            # level -> registry id (accounts)
        self.pending_bad = {r: 0 for r in ROUTES}
        self.seq = 0
        self.produced = 0
        self.delivery_errors = []
        self.lock = threading.Lock()
        self.stop_ev = threading.Event()
        self.producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
                                  "linger.ms": 5, "message.timeout.ms": 900000,
                                  "reconnect.backoff.max.ms": 1000, "log_level": 2})
        self.thread = None

    def register(self, level):
        if level in self.schema_ids:
            return self.schema_ids[level]
        body = json.dumps({"schema": json.dumps(account_schema(level))}).encode()
        req = urllib.request.Request("%s/subjects/%s-value/versions" % (self.registry, self.topics["accounts"]),
                                     data=body, headers={"Content-Type": "application/vnd.schemaregistry.v1+json"})
        sid = json.load(urllib.request.urlopen(req, timeout=10))["id"]
        self.schema_ids[level] = sid
        return sid

    # the nemesis' levers
    def evolve(self, route):
        with self.lock:
            self.level[route] += 1
            if route == "accounts":
                self.register(self.level[route])
            return self.level[route]

    def inject_bad(self, route, n):
        with self.lock:
            self.pending_bad[route] += n

    def _delivered(self, err, msg):
        if err is not None:
            self.delivery_errors.append("%s: %s" % (msg.topic(), err))

    def _send(self, route, partition, key, value, op, seq, level, db_bad=False):
        headers = [("soak.seq", str(seq)), ("soak.op", op), ("soak.level", str(level))]
        if db_bad:
            headers.append(("soak.refused", "1"))  # decodes and maps: the database refuses it
        if key is not None:
            headers.append(("soak.key", str(key)))
        kbytes = None
        if key is not None:
            kbytes = dbz_key(key) if route == "customers" else json.dumps({"id": key}).encode()
        while True:
            try:
                self.producer.produce(self.topics[route], value=value, key=kbytes, partition=partition,
                                      headers=headers, on_delivery=self._delivered)
                break
            except BufferError:
                self.producer.poll(0.1)
        self.produced += 1

    def _bad_value(self, route, key, seq):
        """A record that route must dead-letter (and that changes nothing)."""
        kind = self.rng.randrange(3)
        if route == "orders":
            return [b'{"id": %d, "seq": ' % key,
                    json.dumps({"id": key, "seq": seq, "route": "orders", "val": "neg", "amount": -1}).encode(),
                    json.dumps({"id": key, "seq": "not a number", "route": "orders"}).encode()][kind]
        if route == "events":
            return [b"\xff\xfe not utf-8",
                    json.dumps({"seq": seq, "route": "events", "val": "nul \u0000 inside"}).encode(),
                    b"[1, 2, 3]"][kind]
        if route == "accounts":
            sid = self.register(self.level["accounts"])
            return [b"\x00" + struct.pack(">i", sid) + zz(key),               # truncated datum
                    b"\x07" + struct.pack(">i", sid) + b"garbage",            # wrong magic byte
                    b"\x00" + struct.pack(">i", sid) + zz(key) + zz(seq) + zz(-5)][kind]  # string length < 0
        if route == "customers":
            return [b'{"schema": {"type": "struct"', b'{"payload": {"op": "c", "after": 17}}',
                    json.dumps({"payload": {"op": "q", "after": {"id": key}}}).encode()][kind]
        return [b"{{{", b'"just a string"', b'{"id": "abc"}'][kind]

    def one(self, route):
        with self.lock:
            self.seq += 1
            seq = self.seq
            level = self.level[route]
            bad = self.pending_bad[route] > 0 or self.rng.random() < 0.003
            if self.pending_bad[route] > 0:
                self.pending_bad[route] -= 1
            if route == "events":
                key = None
                partition = seq % PARTITIONS
                kind = "bad" if bad else "u"
                value = self._bad_value(route, 0, seq) if bad else json.dumps(
                    {"seq": seq, "route": "events", "val": text_val("events", 0, seq),
                     "amount": float(amount(seq))}).encode()
                self._send(route, partition, key, value, kind, seq, level)
                return
            key = self.rng.randrange(1, KEYS + 1)
            partition = key % PARTITIONS
            if bad:
                value = self._bad_value(route, key, seq)
                self._send(route, partition, key, value, "bad", seq, level, db_bad=b'"amount": -1' in value)
                return
            op = "d" if self.rng.random() < 0.08 else "u"
            if op == "d":
                if route == "customers":
                    # a Debezium delete event, then its tombstone
                    self._send(route, partition, key, dbz_value(key, seq, level, "d"), "d", seq, level)
                    self.seq += 1
                    seq = self.seq
                self._send(route, partition, key, None, "t", seq, level)
                return
            if route == "accounts":
                value = account_avro(self.register(level), key, seq, level)
            elif route == "customers":
                value = dbz_value(key, seq, level, self.rng.choice("cur"))
            else:
                r = row(route, key, seq, level)
                obj = {"id": key, "seq": seq, "route": route, "val": r["val"]}
                if route == "orders":
                    obj["amount"] = float(r["amount"])
                for i in range(1, level + 1):
                    obj["extra%d" % i] = r["extra%d" % i]
                value = json.dumps(obj).encode()
            self._send(route, partition, key, value, "u", seq, level)

    def run(self):
        period = 1.0 / (self.rate * len(ROUTES))
        nxt = time.time()
        i = 0
        while not self.stop_ev.is_set():
            self.one(ROUTES[i % len(ROUTES)])
            i += 1
            self.producer.poll(0)
            nxt += period
            delay = nxt - time.time()
            if delay > 0:
                time.sleep(delay)
            elif delay < -5:
                nxt = time.time()   # fell behind (a broker outage): do not burst

    def start(self):
        self.register(0)
        self.thread = threading.Thread(target=self.run, name="feed", daemon=True)
        self.thread.start()

    def stop(self, timeout=300):
        """Stop producing and wait until every record is acknowledged; the
        number left unacknowledged."""
        self.stop_ev.set()
        if self.thread:
            self.thread.join()
        return self.producer.flush(timeout)
