"""check.py - the soak's invariants on what was stored.

Model: a consumer of its own (assigned every partition, never in a group)
reads every route's topic and the dead-letter topic from the beginning and
keeps, per partition, what each offset holds (from the soak.* headers).

Checked on a snapshot (one REPEATABLE READ transaction per database):
- exactly-once routes (PostgreSQL): for each partition with stored offset O
  in sluice.offsets, the table holds exactly the last value per key of the
  records before O (deletes remove), the insert route exactly one row per
  good record before O and none after; a dead letter for exactly the bad
  records before O, each once, in the route's dlq_table (or the one it used
  before a reload); Kafka's committed offset never beyond O.
- at-least-once (the CrateDB stand-in): for each partition with committed
  offset C, each key's row is at least as new as its last record before C,
  and is the content of one of its records; the dead-letter topic holds
  every bad record before C.
- every row in the table of its own route (a route column), with content
  equal to what its record says.
At the end, with the producer stopped and every offset at the high
watermark, the same with equality everywhere."""

import decimal
import threading

import psycopg2
from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING

import feed


class Entry:
    __slots__ = ("offset", "key", "seq", "op", "level", "refused")

    def __init__(self, offset, key, seq, op, level, refused=False):
        self.offset, self.key, self.seq, self.op, self.level = offset, key, seq, op, level
        self.refused = refused      # a bad record only the database refuses


class Model:
    """What Kafka holds, read back by a consumer outside the group."""

    def __init__(self, bootstrap, topics, dlq_topic, group):
        self.topics = topics        # route -> topic
        self.route_of = {t: r for r, t in topics.items()}
        self.dlq_topic = dlq_topic
        self.parts = {}             # (topic, partition) -> [Entry] in offset order
        self.next = {}              # (topic, partition) -> next offset read
        self.dead = {}              # (topic, partition, offset) -> copies in the dead-letter topic
        self.lock = threading.Lock()
        self.errors = []
        conf = {"bootstrap.servers": bootstrap, "group.id": group + "_model", "enable.auto.commit": False,
                "enable.partition.eof": False, "reconnect.backoff.max.ms": 1000,
                "log_level": 2}
        self.consumer = Consumer(conf)
        tps = [TopicPartition(t, p, OFFSET_BEGINNING) for t in list(topics.values()) + [dlq_topic]
               for p in range(feed.PARTITIONS)]
        self.consumer.assign(tps)
        for tp in tps:
            self.parts[(tp.topic, tp.partition)] = []
            self.next[(tp.topic, tp.partition)] = 0
        # committed offsets of sluice's group (read only: never subscribes)
        self.group_reader = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                                      "enable.auto.commit": False, "log_level": 2})
        self.stop_ev = threading.Event()
        self.thread = threading.Thread(target=self.run, name="model", daemon=True)

    def run(self):
        while not self.stop_ev.is_set():
            msgs = self.consumer.consume(500, 0.5)
            with self.lock:
                for m in msgs:
                    if m.error():
                        continue
                    self.take(m)

    def take(self, m):
        tp = (m.topic(), m.partition())
        h = dict((k, v.decode() if v is not None else None) for k, v in (m.headers() or []))
        if m.topic() == self.dlq_topic:
            k = (h.get("sluice.topic"), int(h.get("sluice.partition", -1)), int(h.get("sluice.offset", -1)))
            self.dead[k] = self.dead.get(k, 0) + 1
            self.next[tp] = m.offset() + 1
            return
        if m.offset() != self.next[tp]:
            # compaction is off and transactions are not used: offsets are dense
            self.errors.append("model: %s[%d] jumped from offset %d to %d" % (tp[0], tp[1], self.next[tp],
                                                                               m.offset()))
        key = int(h["soak.key"]) if "soak.key" in h else None
        e = Entry(m.offset(), key, int(h["soak.seq"]), h["soak.op"], int(h["soak.level"]), "soak.refused" in h)
        if key is not None and key % feed.PARTITIONS != m.partition():
            self.errors.append("model: key %d in %s[%d]" % (key, tp[0], tp[1]))
        self.parts[tp].append(e)
        self.next[tp] = m.offset() + 1

    def start(self):
        self.thread.start()

    def stop(self):
        self.stop_ev.set()
        self.thread.join()
        self.consumer.close()
        self.group_reader.close()

    def high_watermarks(self, timeout=10):
        out = {}
        for t in list(self.topics.values()) + [self.dlq_topic]:
            for p in range(feed.PARTITIONS):
                lo, hi = self.consumer.get_watermark_offsets(TopicPartition(t, p), timeout=timeout, cached=False)
                out[(t, p)] = hi
        return out

    def committed(self, timeout=10):
        tps = [TopicPartition(t, p) for t in self.topics.values() for p in range(feed.PARTITIONS)]
        return {(tp.topic, tp.partition): tp.offset for tp in self.group_reader.committed(tps, timeout=timeout)}


def fmt_row(r):
    return "{" + ", ".join("%s=%r" % (k, r[k]) for k in sorted(r)) + "}"


class Checker:
    def __init__(self, model, pg_dsn, crate_dsn, schema, crate_schema, group, dlq_tables):
        self.model = model
        self.pg_dsn, self.crate_dsn = pg_dsn, crate_dsn
        self.schema, self.crate_schema, self.group = schema, crate_schema, group
        self.dlq_tables = dlq_tables
        self.events_checked = {}    # partition -> offsets below this were checked row by row
        self.events_seen = {}       # partition -> {offset} of rows seen
        self.last_stored = {}       # (topic, partition) -> last stored offset seen
        self.rounds = 0
        self.skipped = 0

    # -- helpers

    def expected_at(self, tp, upto):
        """key -> last Entry (upsert or delete) of tp before offset upto."""
        state = {}
        for e in self.model.parts[tp]:
            if e.offset >= upto:
                break
            if e.op in ("u", "d", "t"):
                state[e.key] = e
        return state

    def compare(self, route, key, e, got, fails, where):
        """Does row @got (dict or None) match entry @e (None: no row)?"""
        if e is None or e.op in ("d", "t"):
            if got is not None:
                fails.append("%s: %s key %d: a row %s where %s" % (
                    where, route, key, fmt_row(got),
                    "nothing was written" if e is None else "offset %d deleted it" % e.offset))
            return
        want = feed.row(route, key, e.seq, e.level if route in feed.EVOLVING else 0)
        if got is None:
            fails.append("%s: %s key %d: no row, but offset %d (seq %d) wrote one" % (where, route, key, e.offset,
                                                                                      e.seq))
            return
        diff = []
        for col, v in want.items():
            g = got.get(col)
            if col == "amount":
                ok = g is not None and decimal.Decimal(g) == decimal.Decimal(v)
            else:
                ok = g == v
            if not ok:
                diff.append("%s=%r (want %r)" % (col, g, v))
        for col, g in got.items():
            if col.startswith("extra") and col not in want and g is not None:
                diff.append("%s=%r (want NULL)" % (col, g))
        if diff:
            fails.append("%s: %s key %d, offset %d (seq %d): %s" % (where, route, key, e.offset, e.seq,
                                                                    ", ".join(diff)))

    @staticmethod
    def rows(cur, qtable, keycol="id"):
        cur.execute("SELECT * FROM %s" % qtable)
        names = [d[0] for d in cur.description]
        out = {}
        for t in cur.fetchall():
            r = dict(zip(names, t))
            for k, v in list(r.items()):
                if isinstance(v, decimal.Decimal):
                    r[k] = str(v)
            out[r.pop(keycol)] = r
        return out

    @staticmethod
    def table_exists(cur, schema, table):
        cur.execute("SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = %s",
                    (schema, table))
        return cur.fetchone() is not None

    def stored(self, cur):
        """sluice.offsets of the group (none before the first write)."""
        if not self.table_exists(cur, "sluice", "offsets"):
            return {}
        cur.execute("SELECT topic, partition, next_offset FROM sluice.offsets WHERE group_id = %s", (self.group,))
        return {(t, p): o for t, p, o in cur.fetchall()}

    # -- the check

    def check(self, final=False):
        """One round; a list of failures (empty when every invariant held)."""
        fails = list(self.model.errors)
        with self.model.lock:
            fails += self.check_pg(final)
            fails += self.check_crate(final)
        self.rounds += 1
        return fails

    def check_pg(self, final):
        fails = []
        m = self.model
        # Kafka's committed offsets first: the stored ones can only be ahead
        committed = m.committed()
        conn = psycopg2.connect(self.pg_dsn, connect_timeout=5)
        try:
            conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
            cur = conn.cursor()
            cur.execute("SET statement_timeout = '20s'")
            stored = self.stored(cur)
            tables = {}
            for route in ("orders", "accounts", "customers"):
                tables[route] = self.rows(cur, '"%s".%s' % (self.schema, route)) \
                    if self.table_exists(cur, self.schema, route) else {}
            dead = {}
            for t in self.dlq_tables:
                if not self.table_exists(cur, self.schema, t):
                    continue
                cur.execute('SELECT route, topic, partition, kafka_offset FROM "%s".%s' % (self.schema, t))
                for route, topic, part, off in cur.fetchall():
                    dead.setdefault((topic, part, off), []).append((t, route))
            cur.execute('SELECT k_partition, count(*), count(DISTINCT k_offset), max(k_offset), '
                        'min(k_topic), max(k_topic) FROM "%s".events GROUP BY k_partition' % self.schema)
            ev_counts = {r[0]: r[1:] for r in cur.fetchall()}
            # events rows not yet checked one by one
            ev_rows = []
            for p in range(feed.PARTITIONS):
                tp = (m.topics["events"], p)
                hi = stored.get(tp, 0)
                lo = self.events_checked.get(p, 0)
                if hi > lo:
                    cur.execute('SELECT k_partition, k_offset, seq, route, val, amount FROM "%s".events '
                                'WHERE k_partition = %%s AND k_offset >= %%s' % self.schema, (p, lo))
                    ev_rows += cur.fetchall()
            conn.rollback()
        finally:
            conn.close()

        for (topic, p), o in stored.items():
            route = m.route_of.get(topic)
            if route is None:
                fails.append("sluice.offsets has %s[%d] = %d, a topic of no route" % (topic, p, o))
                continue
            prev = self.last_stored.get((topic, p), 0)
            if o < prev:
                fails.append("%s[%d]: stored offset went back from %d to %d" % (topic, p, prev, o))
            self.last_stored[(topic, p)] = o
            c = committed.get((topic, p), -1)
            if c is not None and c > o:
                fails.append("%s[%d]: Kafka's committed offset %d is past the stored offset %d" % (topic, p, c, o))
            if o > m.next[(topic, p)]:
                if final:
                    fails.append("%s[%d]: stored offset %d beyond what the topic holds (%d read)" % (
                        topic, p, o, m.next[(topic, p)]))
                self.skipped += 1
                continue
        for route in ("orders", "accounts", "customers", "events"):
            topic = m.topics[route]
            for p in range(feed.PARTITIONS):
                tp = (topic, p)
                o = stored.get(tp, 0)
                if o > m.next[tp]:
                    continue
                where = "%s[%d] stored offset %d" % (topic, p, o)
                if route == "events":
                    fails += self.check_events(p, tp, o, ev_counts.get(p), ev_rows, where)
                else:
                    exp = self.expected_at(tp, o)
                    got = {k: r for k, r in tables[route].items() if k % feed.PARTITIONS == p}
                    for key in set(exp) | set(got):
                        self.compare(route, key, exp.get(key), got.get(key), fails, where)
                # dead letters: exactly the bad records before o, each once, from this route
                last_of = {}
                for e in m.parts[tp]:
                    if e.offset < o and e.op != "bad":
                        last_of[e.key] = e.offset
                for e in m.parts[tp]:
                    if e.op != "bad" or e.offset >= o:
                        continue
                    d = dead.get((topic, p, e.offset), [])
                    if not d and e.refused and last_of.get(e.key, -1) > e.offset:
                        # upsert mode: a later record of its key in the same
                        # batch superseded it before the database saw it
                        # (docs/delivery.md); the model cannot see batches
                        continue
                    if len(d) != 1 or d[0][1] != route:
                        fails.append("%s: bad record at offset %d has %d dead letter(s) %r (want 1 of route %s)" % (
                            where, e.offset, len(d), d, route))
        good = {}
        for tp, entries in m.parts.items():
            for e in entries:
                good[(tp[0], tp[1], e.offset)] = e.op
        for (topic, p, off), d in dead.items():
            o = stored.get((topic, p), 0)
            op = good.get((topic, p, off))
            if off >= o:
                fails.append("dead letter of %s[%d]@%d past the stored offset %d (%r)" % (topic, p, off, o, d))
            elif op is not None and op != "bad":
                fails.append("dead letter of %s[%d]@%d, a good record (op %s): %r" % (topic, p, off, op, d))
        return fails

    def check_events(self, p, tp, o, counts, ev_rows, where):
        fails = []
        goods = [e for e in self.model.parts[tp] if e.offset < o and e.op == "u"]
        n, distinct, mx = (counts[0], counts[1], counts[2]) if counts else (0, 0, None)
        if counts and (counts[3] != tp[0] or counts[4] != tp[0]):
            fails.append("%s: events rows name topics %s..%s" % (where, counts[3], counts[4]))
        if n != len(goods) or distinct != n:
            fails.append("%s: events holds %d row(s) (%d distinct offsets) for partition %d, want %d" % (
                where, n, distinct, p, len(goods)))
        if mx is not None and mx >= o:
            fails.append("%s: events holds offset %d, past the stored offset" % (where, mx))
        byoff = {e.offset: e for e in self.model.parts[tp]}
        lo = self.events_checked.get(p, 0)
        for kp, ko, seq, route, val, amt in ev_rows:
            if kp != p or ko >= o:
                continue
            e = byoff.get(ko)
            want = feed.row("events", 0, e.seq, 0) if e is not None and e.op == "u" else None
            if want is None:
                fails.append("%s: events row for offset %d, which holds %s" % (
                    where, ko, "nothing" if e is None else "a %s record" % e.op))
            elif (seq, route, val) != (want["seq"], want["route"], want["val"]) or \
                    decimal.Decimal(amt) != decimal.Decimal(want["amount"]):
                fails.append("%s: events row at offset %d is (%r, %r, %r, %r), want %r" % (
                    where, ko, seq, route, val, amt, want))
        if not fails:
            self.events_checked[p] = max(lo, o)
        return fails

    def check_crate(self, final):
        fails = []
        m = self.model
        route = "items"
        topic = m.topics[route]
        committed = m.committed()
        conn = psycopg2.connect(self.crate_dsn, connect_timeout=5)
        try:
            cur = conn.cursor()
            got_all = self.rows(cur, '"%s".items' % self.crate_schema) \
                if self.table_exists(cur, self.crate_schema, "items") else {}
            conn.rollback()
        finally:
            conn.close()
        # read after the rows: a row may come from any record below these
        hw = m.high_watermarks()
        for p in range(feed.PARTITIONS):
            tp = (topic, p)
            c = committed.get(tp)
            c = 0 if c is None or c < 0 else c
            if c > m.next[tp]:
                self.skipped += 1
                continue
            where = "%s[%d] committed offset %d" % (topic, p, c)
            entries = m.parts[tp]
            byseq = {e.seq: e for e in entries if e.op == "u"}
            bykey = {}
            for x in entries:
                bykey.setdefault(x.key, []).append(x)
            exp = self.expected_at(tp, c)
            got = {k: r for k, r in got_all.items() if k % feed.PARTITIONS == p}
            for key in set(exp) | set(got):
                e, g = exp.get(key), got.get(key)
                if final:
                    self.compare(route, key, e, g, fails, where)
                    continue
                later = [x for x in bykey.get(key, []) if e is None or x.offset > e.offset]
                unseen = m.next[tp] < hw.get(tp, 0)     # records the model has not read yet
                if g is None:
                    if e is not None and e.op == "u" and not any(x.op in ("d", "t") for x in later) and not unseen:
                        fails.append("%s: %s key %d: no row, but offset %d (seq %d) wrote one" % (
                            where, route, key, e.offset, e.seq))
                    continue
                x = byseq.get(g.get("seq"))
                if x is None or x.key != key:
                    if unseen:
                        continue    # a record the model has not read yet
                    fails.append("%s: %s key %d: row %s is no record's" % (where, route, key, fmt_row(g)))
                    continue
                if e is not None and x.offset < e.offset:
                    fails.append("%s: %s key %d: row from offset %d, older than offset %d before the commit" % (
                        where, route, key, x.offset, e.offset))
                self.compare(route, key, x, g, fails, where)
            # bad records before the commit are in the dead-letter topic
            for e in entries:
                if e.op == "bad" and e.offset < c and final and m.dead.get((topic, p, e.offset), 0) < 1:
                    fails.append("%s: bad record at offset %d not in the dead-letter topic" % (where, e.offset))
        for (t, p, off), n in m.dead.items():
            e = None
            for x in m.parts.get((t, p), []):
                if x.offset == off:
                    e = x
                    break
            if e is not None and e.op != "bad":
                fails.append("dead-letter topic holds %s[%d]@%d, a good record (%s)" % (t, p, off, e.op))
        return fails

    def caught_up(self):
        """True when every partition's stored (PostgreSQL routes) or
        committed (CrateDB route) offset is at the high watermark, and the
        model has read everything; else a string saying what lags."""
        m = self.model
        hw = m.high_watermarks()
        conn = psycopg2.connect(self.pg_dsn, connect_timeout=5)
        try:
            stored = self.stored(conn.cursor())
        finally:
            conn.close()
        committed = m.committed()
        lag = []
        for route, topic in m.topics.items():
            for p in range(feed.PARTITIONS):
                tp = (topic, p)
                have = committed.get(tp) if route == "items" else stored.get(tp, 0)
                if have is None or have < 0:
                    have = 0
                if have != hw[tp]:
                    lag.append("%s[%d] %d/%d" % (topic, p, have, hw[tp]))
        with m.lock:
            for tp, h in hw.items():
                if m.next[tp] < h:
                    lag.append("model %s[%d] %d/%d" % (tp[0], tp[1], m.next[tp], h))
        return True if not lag else ", ".join(lag)
