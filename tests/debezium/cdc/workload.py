#!/usr/bin/env python3
"""workload.py - a seeded random workload of transactions for sluice's CDC test.

    workload.py SEED TXNS PARTS OUTDIR

writes OUTDIR/part-1.sql .. part-PARTS.sql, TXNS transactions in all, each
of 1 to 8 mixed operations (inserts, updates, deletes, primary key updates,
unchanged-TOAST updates, TRUNCATEs of app.trunc) over the tables of source.sql and
evolve.sql.  The same SEED gives the same SQL.
"""
import random
import sys
import uuid


def q(s):
    return "NULL" if s is None else "'" + s.replace("'", "''") + "'"


class Workload:
    def __init__(self, seed):
        self.r = random.Random(seed)
        self.types_ids = {1, 2, 10, 30}
        self.next_id = 2000
        regions = ["eu", "us", "ap"]    # as source.sql, stream.sql and evolve.sql leave them
        self.orders = {(regions[g % 3], g + (10000 if g % 3 == 0 and g <= 30 else 0))
                       for g in range(1, 301) if g % 11}
        self.orders.add(("us", 2))
        self.docs = set(range(1, 20)) | {100}
        self.docs_full = set(range(1, 20))
        self.added = set(range(1, 31)) - {4}
        self.meas = set()
        self.events = []

    def text(self):
        r = self.r
        pool = ["", "plain", "quote ' and \" and \\", "unicodé ✓ 日本", "tab\tnl\n", "x" * r.randint(0, 60)]
        return r.choice(pool) if r.random() < 0.9 else None

    def num(self, scale):
        r = self.r
        v = r.randint(-10 ** 9, 10 ** 9)
        s = str(abs(v)).rjust(scale + 1, "0")
        return ("-" if v < 0 else "") + s[:-scale] + "." + s[-scale:] if scale else str(v)

    def ts(self):
        r = self.r
        return "'%04d-%02d-%02d %02d:%02d:%02d.%06d'" % (
            r.randint(1901, 2100), r.randint(1, 12), r.randint(1, 28),
            r.randint(0, 23), r.randint(0, 59), r.randint(0, 59), r.randint(0, 999999))

    def types_row(self, id_):
        r = self.r
        return "(%d, %d, %d, %d, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)" % (
            id_, r.randint(-32768, 32767), r.randint(-2 ** 31, 2 ** 31 - 1),
            r.choice([r.randint(-2 ** 63, 2 ** 63 - 1), 2 ** 53 + 1, -(2 ** 53) - 1]),
            r.choice(["'%s'" % self.num(r.randint(0, 12)), "NULL", "'0.000000000000000001'"]),
            "'%s'" % self.num(3),
            r.choice(["1.5", "-0.25", "3e10", "NULL"]),
            repr(r.uniform(-1e6, 1e6)),
            r.choice(["true", "false", "NULL"]),
            q(self.text()), q((self.text() or "")[:20]), q((self.text() or "")[:5]),
            r.choice(["NULL", "'\\x'", "'\\x%s'" % bytes(r.getrandbits(8) for _ in range(r.randint(1, 40))).hex()]),
            q(str(uuid.UUID(int=r.getrandbits(128)))),
            r.choice(["'null'", "NULL", "'{\"k\": %d}'" % r.randint(0, 9), "'[1, 2.5, \"s\"]'"]),
            r.choice(["'null'", "NULL", "'{\"k\": [%d, {\"z\": null}]}'" % r.randint(0, 9)]),
            "'%04d-%02d-%02d'" % (r.randint(1, 2200), r.randint(1, 12), r.randint(1, 28)),
            "'%02d:%02d:%02d.%06d'" % (r.randint(0, 23), r.randint(0, 59), r.randint(0, 59), r.randint(0, 999999)),
            "'%02d:%02d:%02d+00'" % (r.randint(0, 23), r.randint(0, 59), r.randint(0, 59)),
            self.ts(), self.ts() + "::timestamp AT TIME ZONE 'UTC'",
            "'%d days %d seconds'" % (r.randint(-400, 400), r.randint(0, 86399)),
            r.choice(["'{}'", "NULL", "'{%d,%d}'" % (r.randint(-99, 99), r.randint(-99, 99))]),
            r.choice(["'{}'", "NULL", "ARRAY[%s, 'b']" % q(self.text() or "a")]),
            r.choice(["'sad'", "'ok'", "'happy'", "NULL"]))

    def op(self, out):
        r = self.r
        table = r.choices(["types", "orders", "docs", "docs_full", "added", "meas", "events", "trunc"],
                          [3, 4, 2, 2, 1, 2, 2, 1])[0]
        x = r.random()
        if table == "types":
            if x < 0.4 or not self.types_ids:
                i = self.next_id
                self.next_id += 1
                self.types_ids.add(i)
                out.append("INSERT INTO app.types VALUES %s;" % self.types_row(i))
            elif x < 0.75:
                i = r.choice(sorted(self.types_ids))
                out.append("UPDATE app.types SET t = %s, bi = %d, n2 = %s, jb = %s, ts = %s WHERE id = %d;" % (
                    q(self.text()), r.randint(-2 ** 63, 2 ** 63 - 1), "'%s'" % self.num(3),
                    r.choice(["'null'", "NULL", "'{}'"]), self.ts(), i))
            elif x < 0.85:
                i = r.choice(sorted(self.types_ids))
                j = self.next_id
                self.next_id += 1
                self.types_ids.discard(i)
                self.types_ids.add(j)
                out.append("UPDATE app.types SET id = %d WHERE id = %d;" % (j, i))
            else:
                i = r.choice(sorted(self.types_ids))
                self.types_ids.discard(i)
                out.append("DELETE FROM app.types WHERE id = %d;" % i)
        elif table == "orders":
            if x < 0.45 or not self.orders:
                k = (r.choice(["eu", "us", "ap"]), r.randint(1, 5000))
                out.append("INSERT INTO app.orders VALUES (%s, %d, %s, %s, %s, %s, %s) "
                           "ON CONFLICT (region, id) DO UPDATE SET amount = EXCLUDED.amount;" % (
                               q(k[0]), k[1], self.num(2)[:12], q(self.text()), self.ts() + "::timestamptz",
                               q(r.choice(["new", "paid", None])), r.choice(["NULL", "1.5", "0.001"])))
                self.orders.add(k)
            elif x < 0.8:
                k = r.choice(sorted(self.orders))
                out.append("UPDATE app.orders SET amount = %s, status = %s WHERE region = %s AND id = %d;" % (
                    self.num(2)[:12], q(r.choice(["shipped", "lost", None])), q(k[0]), k[1]))
            elif x < 0.9:
                k = r.choice(sorted(self.orders))
                self.orders.discard(k)
                out.append("DELETE FROM app.orders WHERE region = %s AND id = %d;" % (q(k[0]), k[1]))
            else:
                k = r.choice(sorted(self.orders))
                n = (r.choice(["eu", "us", "ap"]), r.randint(5001, 10 ** 9))
                self.orders.discard(k)
                self.orders.add(n)
                out.append("UPDATE app.orders SET region = %s, id = %d WHERE region = %s AND id = %d;" % (
                    q(n[0]), n[1], q(k[0]), k[1]))
        elif table in ("docs", "docs_full"):
            ids = self.docs if table == "docs" else self.docs_full
            if x < 0.2 or not ids:
                i = self.next_id
                self.next_id += 1
                ids.add(i)
                out.append("INSERT INTO app.%s (id, title, body) VALUES (%d, %s, repeat(md5('%d'), %d));" % (
                    table, i, q(self.text()), i, r.randint(1, 600)))
            elif x < 0.8:
                i = r.choice(sorted(ids))
                out.append("UPDATE app.%s SET title = %s WHERE id = %d;" % (table, q(self.text()), i))
            elif x < 0.9:
                i = r.choice(sorted(ids))
                out.append("UPDATE app.%s SET body = repeat(md5(%s), %d) WHERE id = %d;" % (
                    table, q(str(r.random())), r.randint(1, 600), i))
            else:
                i = r.choice(sorted(ids))
                ids.discard(i)
                out.append("DELETE FROM app.%s WHERE id = %d;" % (table, i))
        elif table == "added":
            if x < 0.5 or not self.added:
                i = self.next_id
                self.next_id += 1
                self.added.add(i)
                out.append("INSERT INTO app.added (id, name) VALUES (%d, %s);" % (i, q(self.text())))
            elif x < 0.8:
                out.append("UPDATE app.added SET name = %s WHERE id = %d;" % (
                    q(self.text()), r.choice(sorted(self.added))))
            else:
                i = r.choice(sorted(self.added))
                self.added.discard(i)
                out.append("DELETE FROM app.added WHERE id = %d;" % i)
        elif table == "meas":
            if x < 0.5 or not self.meas:
                k = (self.next_id, "2025-%02d-%02d" % (r.randint(1, 12), r.randint(1, 28)))
                self.next_id += 1
                self.meas.add(k)
                out.append("INSERT INTO app.meas VALUES (%d, '%s', %s, %s);" % (
                    k[0], k[1], repr(r.uniform(-1, 1)), q(self.text())))
            elif x < 0.8:
                k = r.choice(sorted(self.meas))
                n = (k[0], "2026-%02d-%02d" % (r.randint(1, 12), r.randint(1, 28)))
                self.meas.discard(k)
                self.meas.add(n)
                out.append("UPDATE app.meas SET at = '%s', val = val + 1 WHERE id = %d AND at = '%s';" % (
                    n[1], k[0], k[1]))
            else:
                k = r.choice(sorted(self.meas))
                self.meas.discard(k)
                out.append("DELETE FROM app.meas WHERE id = %d AND at = '%s';" % k)
        elif table == "trunc":
            if x < 0.97:
                i = r.randint(1, 300)
                out.append("INSERT INTO app.trunc VALUES (%d, %s) ON CONFLICT (id) DO UPDATE SET v = EXCLUDED.v;" % (
                    i, q(self.text())))
            else:
                out.append("TRUNCATE app.trunc;")
        else:
            if x < 0.6 or not self.events:
                e = str(uuid.UUID(int=r.getrandbits(128)))
                self.events.append(e)
                out.append("INSERT INTO logs.events VALUES ('%s', %s, %s, '{\"r\": %d}');" % (
                    e, q(self.text()), self.ts(), r.randint(0, 999)))
            elif x < 0.85:
                out.append("UPDATE logs.events SET kind = %s WHERE eid = '%s';" % (
                    q(self.text()), r.choice(self.events)))
            else:
                e = self.events.pop(r.randrange(len(self.events)))
                out.append("DELETE FROM logs.events WHERE eid = '%s';" % e)


def main():
    seed, txns, parts, outdir = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    w = Workload(seed)
    per = (txns + parts - 1) // parts
    done = 0
    for p in range(1, parts + 1):
        with open("%s/part-%d.sql" % (outdir, p), "w") as f:
            f.write("\\set ON_ERROR_STOP on\n")
            for _ in range(min(per, txns - done)):
                ops = []
                for _ in range(w.r.randint(1, 8)):
                    w.op(ops)
                f.write("BEGIN;\n" + "\n".join(ops) + "\nCOMMIT;\n")
                done += 1


if __name__ == "__main__":
    main()
