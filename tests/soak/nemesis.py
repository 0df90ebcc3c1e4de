"""nemesis.py - the faults a soak injects, picked at random from the seed.

Every action names the resources it holds (a daemon, the database, the
broker, the configuration files); two actions that share one never overlap,
others may run at the same time (a table lock while a consumer joins is the
kind of meeting the soak is for).  The schedule (which action, its
parameters, the pauses) comes from the seed alone; how it interleaves with
the daemons' own work does not, so a seed replays the same faults, not the
same microseconds."""

import random
import socket
import threading
import time

import psycopg2

import feed


# Actions left out until the defect they hit is fixed in main: each names
# it.  A run lists them at its start; --enable NAME puts one back.
KNOWN = {}


class Action:
    def __init__(self, name, weight, resources, fn):
        self.name, self.weight, self.resources, self.fn = name, weight, resources, fn


class Nemesis:
    def __init__(self, session, rng, disabled=()):
        self.s = session
        self.rng = rng
        self.busy = set()
        self.lock = threading.Lock()
        self.threads = []
        self.counts = {}
        self.stop_ev = threading.Event()
        a = [
            Action("reload", 6, {"config"}, self.reload),
            # no daemon starts while an invalid file is on disk: it would
            # run with it, and refuse every valid reload after (seed 108645612)
            Action("reload-invalid", 4, {"config", "proc", "third"}, self.reload_invalid),
            Action("join-leave", 4, {"third"}, self.join_leave),
            Action("sigterm", 3, {"proc"}, self.sigterm),
            Action("kill9", 3, {"proc"}, self.kill9),
            Action("pg-restart", 2, {"pg"}, self.pg_restart),
            Action("lock-table", 4, {"pg"}, self.lock_table),
            Action("broker-kill", 2, {"broker"}, self.broker_kill),
            Action("crate-kill", 2, {"crate"}, self.crate_kill),
            Action("new-fields", 3, set(), self.new_fields),
            Action("bad-records", 4, set(), self.bad_records),
            Action("slow-admin", 3, {"admin"}, self.slow_admin),
            Action("scrape", 5, set(), self.scrape),
        ]
        self.actions = [x for x in a if x.name not in disabled]

    def log(self, msg):
        self.s.log("nemesis: " + msg)

    # ---- scheduling

    def run(self, until):
        while not self.stop_ev.is_set() and time.time() < until:
            pause = self.rng.uniform(1.0, 8.0)
            act = self.rng.choices(self.actions, [x.weight for x in self.actions])[0]
            # each action's parameters come from its own generator, drawn now,
            # so that what it does is fixed by the seed whatever it waits for
            arng = random.Random(self.rng.getrandbits(64))
            if self.stop_ev.wait(pause):
                break
            got = False
            while not self.stop_ev.is_set() and not got:
                with self.lock:
                    if not (act.resources & self.busy) and len(self.threads_alive()) < 3:
                        self.busy |= act.resources
                        got = True
                        break
                self.stop_ev.wait(0.2)
            if not got or time.time() >= until:
                # stopped, or the soak's time ran out while it waited
                if got:
                    with self.lock:
                        self.busy -= act.resources
                break
            self.counts[act.name] = self.counts.get(act.name, 0) + 1
            t = threading.Thread(target=self.wrap, args=(act, arng), name="nemesis-" + act.name, daemon=True)
            self.threads.append(t)
            t.start()
        self.stop_ev.set()
        for t in self.threads:
            t.join()

    def threads_alive(self):
        return [t for t in self.threads if t.is_alive()]

    def wrap(self, act, arng):
        try:
            act.fn(arng)
        except Exception as e:
            self.s.fail("nemesis action %s raised %s: %s" % (act.name, type(e).__name__, e))
        finally:
            with self.lock:
                self.busy -= act.resources

    def wait(self, seconds):
        """Sleep, but wake up at once when the soak ends."""
        self.stop_ev.wait(seconds)

    # ---- actions

    def reload(self, r):
        opts = self.s.random_options(r)
        self.log("SIGHUP with %s" % opts)
        self.s.write_configs(opts)
        self.s.hup_all()

    def reload_invalid(self, r):
        kind = r.choice(["syntax", "unknown-key", "group", "workers", "topics", "route-target"])
        for p in self.s.procs:
            self.s.wait_configured(p)
        self.log("SIGHUP with an invalid file (%s)" % kind)
        self.s.write_configs(self.s.options, broken=kind)
        self.s.hup_all(expect_reject=True)
        self.s.write_configs(self.s.options)

    def join_leave(self, r):
        stay = r.uniform(5, 40)
        how = r.choice(["sigterm", "kill9"])
        self.log("a third consumer joins for %.0f s, then leaves by %s" % (stay, how))
        p = self.s.third
        p.start()
        self.wait(stay)
        self.s.stop_proc(p, how)

    def pick_proc(self, r):
        return self.s.procs[r.randrange(len(self.s.procs))]

    def sigterm(self, r):
        p = self.pick_proc(r)
        down = r.uniform(0, 5)
        self.log("SIGTERM %s, down %.1f s" % (p.name, down))
        self.s.stop_proc(p, "sigterm")
        self.wait(down)
        p.start()

    def kill9(self, r):
        p = self.pick_proc(r)
        down = r.uniform(0, 10)
        self.log("kill -9 %s, down %.1f s" % (p.name, down))
        self.s.stop_proc(p, "kill9")
        self.wait(down)
        p.start()

    def pg_restart(self, r):
        if r.random() < 0.5:
            self.log("PostgreSQL restart (fast)")
            self.s.pg.ctl("restart -m fast")
        else:
            down = r.uniform(1, 8)
            self.log("PostgreSQL stop (immediate), down %.1f s" % down)
            self.s.pg.ctl("stop -m immediate")
            self.wait(down)
            self.s.pg.ctl("start")

    def lock_table(self, r):
        table = r.choice(["orders", "events", "accounts", "customers"])
        hold = r.uniform(3, 12)
        self.log("lock %s for %.1f s (statement timeout %s)" % (table, hold, self.s.statement_timeout))
        conn = psycopg2.connect(self.s.pg.dsn, connect_timeout=5)
        try:
            cur = conn.cursor()
            cur.execute("SELECT 1 FROM information_schema.tables WHERE table_schema = %s AND table_name = %s",
                        (self.s.schema, table))
            if cur.fetchone() is None:
                self.log("lock: %s does not exist yet" % table)
                return
            cur.execute('LOCK TABLE "%s".%s IN ACCESS EXCLUSIVE MODE' % (self.s.schema, table))
            self.wait(hold)
            conn.rollback()
        finally:
            conn.close()

    def broker_kill(self, r):
        down = r.uniform(2, 15)
        self.log("broker kill -9, down %.1f s" % down)
        self.s.broker.kill()
        self.wait(down)
        self.s.broker.restart()
        self.log("broker back")

    def crate_kill(self, r):
        down = r.uniform(1, 8)
        self.log("CrateDB stand-in killed, down %.1f s" % down)
        self.s.crate.kill()
        self.wait(down)
        self.s.crate.start()

    def new_fields(self, r):
        route = r.choice(list(feed.EVOLVING) + ["orders", "items"])
        level = self.s.feed.evolve(route)
        self.log("records of %s gain field extra%d" % (route, level))

    def bad_records(self, r):
        route = r.choice(list(feed.ROUTES))
        n = r.randint(1, 8)
        self.log("%d bad record(s) into %s" % (n, route))
        self.s.feed.inject_bad(route, n)

    def slow_admin(self, r):
        procs = [p for p in self.s.procs if p.alive()]
        if not procs:
            return
        p = procs[r.randrange(len(procs))]
        n = r.randint(1, self.s.slow_clients_max)
        hold = r.uniform(3, 20)
        self.log("%d slow admin client(s) on %s for %.0f s" % (n, p.name, hold))
        socks = []
        try:
            for i in range(n):
                try:
                    # four per source address (sluice's limit per client),
                    # none from 127.0.0.1, where /healthz is asked from: a
                    # liveness probe comes from elsewhere than a slow client
                    sk = socket.create_connection(("127.0.0.1", p.admin_port), timeout=2,
                                                  source_address=("127.0.0.%d" % (2 + i // 4), 0))
                    sk.sendall(b"GET /metrics HTTP/1.1\r\n")
                    socks.append(sk)
                except OSError:
                    pass
            end = time.time() + hold
            while time.time() < end and not self.stop_ev.is_set():
                for sk in socks:
                    try:
                        sk.sendall(b"X-Slow: 1\r\n")
                    except OSError:
                        pass
                self.wait(1.0)
        finally:
            for sk in socks:
                sk.close()

    def scrape(self, r):
        for p in self.s.procs + [self.s.third]:
            if p.alive():
                self.s.scrape(p)
