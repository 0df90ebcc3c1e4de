#!/usr/bin/python3
"""soak.py - a randomized fault soak of sluice (see docs/soak.md).

Starts its own PostgreSQL servers, Kafka broker, schema registry and CrateDB
stand-in, two sluice daemons of one consumer group (workers: 2) over five
routes, a producer writing keyed records of known content, and a nemesis
that injects faults picked from the seed; checks the invariants of check.py
every few seconds and at the end.  Usually run through tests/soak/run.sh.

    soak.py --build DIR [--minutes N] [--seed S] [--replay FILE] [--work DIR]

Exit status 0 when every invariant held, 1 on a failure (its message names
the seed), 2 when the environment could not be set up."""

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import psycopg2  # noqa: E402

import check  # noqa: E402
import feed  # noqa: E402
import nemesis  # noqa: E402
import servers  # noqa: E402
from servers import ROOT, Broker, Child, PgServer, Sluice, free_port  # noqa: E402

PY = "/usr/bin/python3"
MiB = 1 << 20
# seconds the drain allows for writing the backlog once the group is whole
# (the default drain before the rebalance timeout counted was 180 s in all)
DRAIN_WRITE_S = 120
# librdkafka's word that a consumer was not polled for max.poll.interval.ms
MAXPOLL = re.compile(r"maximum poll interval \(\d+ ?ms\) exceeded")


def log(msg):
    print("%s %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


class Env:
    """The servers every session of one run shares."""

    def __init__(self, work):
        self.work = work
        self.pg = PgServer(os.path.join(work, "pg"))
        self.pgcrate = PgServer(os.path.join(work, "pgcrate"))
        self.broker = Broker(os.path.join(work, "kafka"))
        self.registry = None
        self.crate = None
        self.control = None

    def start(self):
        log("starting PostgreSQL (two servers), Kafka, the schema registry and the CrateDB stand-in in %s" %
            self.work)
        # The test servers commit asynchronously (tests/support/pgserver.sh):
        # a server stopped with -m immediate then loses commits it had
        # acknowledged, which no exactly-once sink can survive.  The nemesis
        # does that to the sink's server, so it commits synchronously.
        self.pg.start("synchronous_commit = on")
        self.pgcrate.start()
        self.broker.start()
        rport, cport = free_port(), free_port()
        self.registry_url = "http://127.0.0.1:%d" % rport
        self.registry = Child("registry", [PY, os.path.join(ROOT, "tests/avro/registry_server.py"), "--port",
                                           str(rport)], os.path.join(self.work, "registry.log"),
                              self.registry_url + "/subjects")
        self.registry.start()
        self.crate_url = "http://127.0.0.1:%d" % cport
        self.crate = Child("crate", [PY, os.path.join(ROOT, "tests/cratedb/crate_server.py"), "--dsn",
                                     self.pgcrate.dsn, "--port", str(cport)], os.path.join(self.work, "crate.log"),
                           self.crate_url + "/")
        self.crate.start()
        # the control for /healthz latency (tests/soak/control_http.c),
        # built without sanitizers whatever the daemons' build
        ctl_bin = os.path.join(self.work, "control_http")
        subprocess.run(["cc", "-O2", "-o", ctl_bin, os.path.join(ROOT, "tests/soak/control_http.c")], check=True)
        self.control_url = "http://127.0.0.1:%d/" % free_port()
        self.control = Child("control", [ctl_bin, self.control_url.split(":")[-1].rstrip("/")],
                             os.path.join(self.work, "control.log"), self.control_url)
        self.control.start()
        log("PostgreSQL %s; Kafka %s; registry %s; CrateDB stand-in %s; control %s" % (
            self.pg.dsn, self.broker.bootstrap, self.registry_url, self.crate_url, self.control_url))

    def stop(self):
        for d in servers.DAEMONS:
            if d.alive():
                d.signal(signal.SIGKILL, "kill9")
                d.wait(30)
        for c in (self.crate, self.registry, self.control):
            if c:
                c.stop()
        self.broker.stop()
        self.pg.stop()
        self.pgcrate.stop()


class Failure(Exception):
    pass


class Session:
    """One seeded soak: its own schema, topics, group and daemons."""

    statement_timeout = "2s"
    shutdown_timeout_s = 10
    session_timeout_ms = 10000
    # The rebalance timeout: how long the group coordinator waits for every
    # member it knows to join again.  A broker killed -9 in the middle of a
    # rebalance reloads the group with its last generation's members; their
    # clients have meanwhile dropped those member ids (their sessions timed
    # out) and join as new members, and the coordinator waits for the old
    # ones until this passes (seed 635048454: nothing consumed for 3.5 min
    # at librdkafka's default of 300 s).  sluice polls its consumer far more
    # often: at least every 100 ms while idle, every 5 ms while a write is in
    # flight, every 50 ms while one is retried (with its partitions paused);
    # the longest it does not is one write attempt, bounded here by
    # connect_timeout_ms (5 s) plus statement_timeout_ms (2 s) a statement.
    # watch() fails the soak on librdkafka's "maximum poll interval
    # exceeded".
    max_poll_interval_ms = 60000

    def __init__(self, env, args, seed, minutes, index):
        self.env, self.args, self.seed, self.minutes = env, args, seed, minutes
        self.rng = random.Random(seed)
        self.tag = "s%d_%d" % (seed, index)
        self.dir = os.path.join(env.work, self.tag)
        os.makedirs(self.dir, exist_ok=True)
        self.schema = "soak_" + self.tag
        self.group = "soak_" + self.tag
        self.topics = {r: "soak_%s_%s" % (self.tag, r) for r in feed.ROUTES}
        self.dlq_topic = "soak_%s_items_dlq" % self.tag
        self.pg, self.broker, self.crate = env.pg, env.broker, env.crate
        self.failures = []
        self.fail_lock = threading.Lock()
        self.stop_ev = threading.Event()
        self.slow_clients_max = args.slow_clients
        self.options = self.base_options()
        self.binary = os.path.join(args.build, "src", "sluice")
        self.sanitized = self.build_sanitizers()
        self.rss_max = {}
        self.health_max = 0.0          # the slowest /healthz
        self.health_excess = (0.0, 0.0, 0.0)  # the most a /healthz took beyond its control: excess, took, control
        self.scrapes = 0
        self.coordinator_spells = []   # (start, end) when the group coordinator did not answer
        self.coordinator_since = None  # the spell going on
        self.reloads = {"applied": 0, "rejected": 0}

    # ---- reporting

    def log(self, msg):
        log("[seed %d] %s" % (self.seed, msg))

    def fail(self, msg):
        with self.fail_lock:
            self.failures.append(msg)
        log("[seed %d] FAILURE: %s" % (self.seed, msg))
        if not self.args.keep_going:
            self.stop_ev.set()
            if hasattr(self, "nem"):
                self.nem.stop_ev.set()

    # ---- configuration

    def build_sanitizers(self):
        try:
            out = subprocess.run(["meson", "introspect", "--buildoptions", self.args.build],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout
            for o in json.loads(out):
                if o["name"] == "b_sanitize":
                    return o["value"] if o["value"] != "none" else ""
        except Exception:
            pass
        return ""

    @staticmethod
    def base_options():
        return {"max_rows": 500, "max_bytes": "1MiB", "linger_ms": "50ms", "initial_backoff_ms": "100ms",
                "max_backoff_ms": "2s", "log_level": "info", "dlq_table": "dead_a", "shutdown_timeout": "10s"}

    def random_options(self, r):
        """Options a reload may change without changing what ends in the
        tables (the dead-letter table alternates: the checker reads both)."""
        return {"max_rows": r.choice([1, 7, 100, 500, 5000]),
                "max_bytes": r.choice(["1KiB", "64KiB", "1MiB"]),
                "linger_ms": r.choice(["0ms", "5ms", "50ms", "500ms"]),
                "initial_backoff_ms": r.choice(["10ms", "100ms", "500ms"]),
                "max_backoff_ms": r.choice(["1s", "2s", "5s"]),
                "log_level": r.choice(["info", "debug", "warn"]),
                "dlq_table": r.choice(["dead_a", "dead_b"]),
                "shutdown_timeout": r.choice(["10s", "15s"])}

    def config_text(self, admin_port, workers, o, broken=None):
        s = self.schema
        group = self.group + ("_other" if broken == "group" else "")
        text = """# sluice soak, seed {seed}: written by tests/soak/soak.py
kafka:
  bootstrap.servers: {bootstrap}
  group.id: {group}
  auto.offset.reset: earliest
  session.timeout.ms: {session_timeout_ms}
  heartbeat.interval.ms: 1000
  max.poll.interval.ms: {max_poll_interval_ms}
  queued.max.messages.kbytes: 4096
  statistics.interval.ms: 2000
  reconnect.backoff.max.ms: 2000
targets:
  pg:
    type: postgresql
    dsn: "{dsn}"
    delivery: exactly-once
    connect_timeout_ms: 5s
    statement_timeout_ms: {stmt}
  crate:
    type: cratedb
    url: {crate}
    schema: {s}
schema_registry:
  url: {registry}
  timeout_ms: 5s
routes:
  - name: orders
    topics: [{t_orders}]
    target: pg
    table: {s}.orders
    format: json
    mode: upsert
    delete_on_tombstone: true
    on_error: dlq
    dlq_table: {s}.{dlq}
  - name: events
    topics: [{t_events}]
    target: {events_target}
    table: {s}.events
    format: json
    mode: insert
    add_columns:
      k_topic: kafka.topic
      k_partition: kafka.partition
      k_offset: kafka.offset
    on_error: dlq
    dlq_table: {s}.{dlq}
  - name: accounts
    topics: [{t_accounts}]
    target: pg
    table: {s}.accounts
    format: avro
    mode: upsert
    delete_on_tombstone: true
    auto_evolve: true
    on_error: dlq
    dlq_table: {s}.{dlq}
  - name: customers
    topics: [{t_customers}]
    target: pg
    table: {s}.${{source.table}}
    format: debezium
    auto_create: true
    auto_evolve: true
    on_error: dlq
    dlq_table: {s}.{dlq}
  - name: items
    {items_topics}
    target: crate
    table: items
    format: json
    mode: upsert
    delete_on_tombstone: true
    on_error: dlq
    dlq_topic: {dlq_topic}
batch:
  max_rows: {max_rows}
  max_bytes: {max_bytes}
  linger_ms: {linger_ms}
retry:
  initial_backoff_ms: {initial_backoff_ms}
  max_backoff_ms: {max_backoff_ms}
workers: {workers}
log_level: {log_level}
shutdown_timeout: {shutdown_timeout}
admin:
  listen: 127.0.0.1:{admin}
  stall_timeout: 60s
""".format(seed=self.seed, bootstrap=self.broker.bootstrap, group=group, dsn=self.pg.dsn,
           stmt=self.statement_timeout, session_timeout_ms=self.session_timeout_ms,
           max_poll_interval_ms=self.max_poll_interval_ms, crate=self.env.crate_url, s=s, registry=self.env.registry_url,
           t_orders=self.topics["orders"], t_events=self.topics["events"], t_accounts=self.topics["accounts"],
           t_customers=self.topics["customers"], dlq_topic=self.dlq_topic, admin=admin_port,
           workers=workers + (1 if broken == "workers" else 0),
           events_target="crate" if broken == "route-target" else "pg",
           items_topics="topics: [%s%s]" % (self.topics["items"], ", soak_other" if broken == "topics" else ""),
           dlq=o["dlq_table"], **{k: v for k, v in o.items() if k != "dlq_table"})
        if self.args.kafka_debug:
            # librdkafka's debug lines are logged at sluice's debug level
            text = text.replace("  reconnect.backoff.max.ms: 2000\n",
                                "  reconnect.backoff.max.ms: 2000\n  debug: %s\n" % self.args.kafka_debug, 1)
            text = re.sub(r"(?m)^log_level: \w+$", "log_level: debug", text)
        if broken == "syntax":
            text = text.replace("routes:\n", "routes: [\n", 1)
        elif broken == "unknown-key":
            text = text.replace("    mode: insert\n", "    mode: insert\n    frobnicate: 3\n", 1)
        return text

    def write_configs(self, o, broken=None):
        self.options = o if broken is None else self.options
        for p, workers in ((self.procs[0], 2), (self.procs[1], 2), (self.third, 1)):
            tmp = p.config + ".tmp"
            with open(tmp, "w") as f:
                f.write(self.config_text(p.admin_port, workers, o, broken))
            os.rename(tmp, p.config)

    # ---- set-up

    def setup(self):
        self.log("seed %d, %.1f minute(s), sluice %s%s; work in %s" % (
            self.seed, self.minutes, self.binary, " (%s)" % self.sanitized if self.sanitized else "", self.dir))
        conn = psycopg2.connect(self.pg.dsn)
        conn.autocommit = True
        cur = conn.cursor()
        s = self.schema
        cur.execute('CREATE SCHEMA "%s"' % s)
        cur.execute('CREATE TABLE "%s".orders (id bigint PRIMARY KEY, seq bigint NOT NULL, route text NOT NULL, '
                    'val text, amount numeric(12,2) CHECK (amount >= 0))' % s)
        cur.execute('CREATE TABLE "%s".events (seq bigint NOT NULL, route text NOT NULL, val text, amount numeric,'
                    ' k_topic text, k_partition integer, k_offset bigint)' % s)
        cur.execute('CREATE TABLE "%s".accounts (id bigint PRIMARY KEY, seq bigint NOT NULL, route text NOT NULL, '
                    'val text, bal bigint)' % s)
        conn.close()
        conn = psycopg2.connect(self.env.pgcrate.dsn)
        conn.autocommit = True
        cur = conn.cursor()
        cur.execute('CREATE SCHEMA "%s"' % s)
        cur.execute('CREATE TABLE "%s".items (id bigint PRIMARY KEY, seq bigint, route text, val text)' % s)
        conn.close()
        self.broker.topics(list(self.topics.values()) + [self.dlq_topic], feed.PARTITIONS)

        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "abort_on_error=0:detect_leaks=1:quarantine_size_mb=32")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        env.setdefault("TSAN_OPTIONS", "halt_on_error=0:second_deadlock_stack=1")
        # what TSan reports inside the uninstrumented librdkafka is
        # suppressed as the test suites do, when the tree has the list
        supp = os.path.join(ROOT, "tests", "support", "tsan.supp")
        if os.path.exists(supp) and "suppressions=" not in env["TSAN_OPTIONS"]:
            env["TSAN_OPTIONS"] += ":suppressions=" + supp
        # a TSan build sees librdkafka's C11 threads and locks only through
        # the build's preload that maps them onto pthreads (tests/support/)
        preload = os.path.join(self.args.build, "tests", "support", "libsluice-c11threads.so")
        if "thread" in self.sanitized and os.path.exists(preload) and "LD_PRELOAD" not in env:
            env["LD_PRELOAD"] = preload
            self.log("TSan: preloading %s" % preload)
        self.procs = [Sluice("sluice-%d" % i, self.binary, os.path.join(self.dir, "sluice-%d.yaml" % i),
                             free_port(), self.dir, env) for i in (1, 2)]
        self.third = Sluice("sluice-3", self.binary, os.path.join(self.dir, "sluice-3.yaml"), free_port(), self.dir,
                            env)
        self.write_configs(self.options)
        # the bound on resident memory (docs/soak.md): sluice's own rows (2 x
        # workers x batch.max_bytes), librdkafka's prefetch queue per worker
        # (queued.max.messages.kbytes) and the fetch in flight, above a base
        self.rss_bound = {2: self.rss_for(2), 1: self.rss_for(1)}

        self.model = check.Model(self.broker.bootstrap, self.topics, self.dlq_topic, self.group)
        self.model.start()
        self.checker = check.Checker(self.model, self.pg.dsn, self.env.pgcrate.dsn, self.schema, self.schema,
                                     self.group, ["dead_a", "dead_b"])
        self.feed = feed.Feed(random.Random(self.rng.getrandbits(64)), self.broker.bootstrap, self.topics,
                              self.env.registry_url, self.args.rate, self.log)
        self.nem = nemesis.Nemesis(self, random.Random(self.rng.getrandbits(64)), self.args.disable)

    def rss_for(self, workers):
        base = 64 * MiB
        per_worker = 2 * 1 * MiB + 4096 * 1024 + 8 * MiB
        bound = base + workers * per_worker
        if "address" in self.sanitized:
            bound = bound * 3 + 256 * MiB       # shadow memory, quarantine, redzones
        elif "thread" in self.sanitized:
            bound = bound * 5 + 256 * MiB
        return bound

    # ---- the daemons

    def stop_proc(self, p, how):
        if how == "kill9":
            p.signal(signal.SIGKILL, "kill9")
            p.wait(30)
            return
        # the database held or down keeps the write in flight from finishing,
        # the broker down keeps the group from being left: both may let
        # shutdown_timeout pass, and then sluice exits 1 (docs/operations.md)
        held = bool({"pg", "broker"} & self.nem.busy)
        # A signal that comes before main() has run (the loader, and a
        # sanitizer's start-up, take a while) meets no handler: SIGTERM's
        # default action kills the process (-15; seeds 1237614536 and
        # 1269158644, a SIGTERM right after a restart).  sluice sets its
        # handler on the first line of main(): wait until the kernel shows
        # it caught (/proc/PID/status, SigCgt).
        deadline = time.time() + 30
        while p.alive() and not p.catches(signal.SIGTERM) and time.time() < deadline:
            time.sleep(0.02)
        sent, sent_wall = time.monotonic(), time.time()
        p.signal(signal.SIGTERM, "sigterm")
        rc = p.wait(self.shutdown_timeout_s - 3)
        if rc is None:
            self.dump_stacks(p, "%.0f s after SIGTERM" % (time.monotonic() - sent))
            rc = p.wait(23)
        if rc is None:
            self.fail("%s did not exit within %d s of SIGTERM (shutdown_timeout %d s)" % (
                p.name, self.shutdown_timeout_s + 20, self.shutdown_timeout_s))
            p.signal(signal.SIGKILL, "kill9")
            p.wait(30)
            return
        if rc == 0:
            return
        if rc == 1 and "shutdown_timeout" in p.log_text() and (held or {"pg", "broker"} & self.nem.busy):
            self.log("%s exited 1 after SIGTERM: shutdown_timeout passed while the database or the broker was "
                     "down" % p.name)
            return
        held_join = self.rebalance_held(sent_wall)
        if rc == 1 and "shutdown_timeout" in p.log_text() and held_join:
            self.log("%s exited 1 after SIGTERM: shutdown_timeout passed while the group coordinator held a "
                     "rebalance (%s) that began before the SIGTERM and outlasted it" % (p.name, held_join))
            return
        mute = self.coordinator_mute(sent)
        if rc == 1 and "shutdown_timeout" in p.log_text() and mute:
            self.log("%s exited 1 after SIGTERM: shutdown_timeout passed while the group coordinator, up, did "
                     "not answer for %.1f s" % (p.name, mute))
            return
        self.fail("%s exited %d after SIGTERM; its log ends:\n%s" % (p.name, rc, p.log_tail()))

    def hup_all(self, expect_reject=False):
        want = {}
        for p in self.procs + [self.third]:
            if p.alive():
                before = self.reload_counts(p)
                if before is None:
                    continue
                gen = p.generation
                if p.signal(signal.SIGHUP, None):
                    want[p.name] = (p, gen, before)
        deadline = time.time() + 60
        while want and time.time() < deadline and not self.stop_ev.is_set():
            for name, (p, gen, before) in list(want.items()):
                if not p.alive() or p.generation != gen:
                    del want[name]
                    continue
                now = self.reload_counts(p)
                if now is None:
                    continue
                if now["rejected"] > before["rejected"]:
                    if not expect_reject:
                        self.fail("%s rejected a valid reload; its log ends:\n%s" % (p.name, p.log_tail(8)))
                    del want[name]
                elif now["applied"] > before["applied"]:
                    if expect_reject:
                        self.fail("%s applied an invalid configuration" % p.name)
                    del want[name]
            time.sleep(0.2)
        for name, (p, gen, before) in want.items():
            if p.alive() and p.generation == gen and not self.stop_ev.is_set():
                self.fail("%s did not take its SIGHUP within 60 s (sluice_config_reloads_total unchanged)" % name)

    # ---- observation

    def http(self, p, path, timeout):
        return urllib.request.urlopen("http://127.0.0.1:%d%s" % (p.admin_port, path), timeout=timeout)

    def wait_configured(self, p, timeout=60):
        """Until daemon @p (when running) has read its configuration: its
        admin server, which it opens only after, answers at all.  A daemon
        just started may not have read its file yet (seed 509688686: started
        at the end of a SIGTERM action, it read the invalid file the next
        action wrote a moment later, and refused every valid reload after)."""
        deadline = time.time() + timeout
        while p.alive() and time.time() < deadline:
            try:
                self.http(p, "/healthz", 2).read()
                return
            except urllib.error.HTTPError:
                return  # answered: not ready, but configured
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)

    def dump_stacks(self, p, when):
        """Every thread's stack of a daemon slow to stop, into the session's
        directory (gdb, when installed): where its shutdown waits."""
        path = os.path.join(self.dir, "%s-stacks-%d.txt" % (p.name, int(time.time())))
        try:
            out = subprocess.run(["gdb", "-p", str(p.proc.pid), "-batch", "-ex", "thread apply all bt"],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=20).stdout
        except (OSError, subprocess.TimeoutExpired) as e:
            out = "gdb: %s" % e
        with open(path, "w") as f:
            f.write("%s, %s\n%s" % (p.name, when, out))
        self.log("%s still running %s: its threads' stacks in %s" % (p.name, when, path))

    def watch_coordinator(self):
        """Every second, the group's committed offset of one partition
        asked of the group coordinator (an OffsetFetch, which does not join
        the group): when it did not answer within 2 s (a broker just
        restarted on a loaded machine can take many seconds), kept as
        (start, end) spells."""
        from confluent_kafka import Consumer, TopicPartition
        c = Consumer({"bootstrap.servers": self.broker.bootstrap, "group.id": self.group,
                      "enable.auto.commit": False, "log_level": 2})
        tp = [TopicPartition(self.topics["orders"], 0)]
        while not self.stop_ev.wait(1.0):
            t0 = time.monotonic()
            try:
                c.committed(tp, timeout=2)
                if self.coordinator_since is not None:
                    self.coordinator_spells.append((self.coordinator_since, time.monotonic()))
                self.coordinator_since = None
            except Exception:
                if self.coordinator_since is None:
                    self.coordinator_since = t0
        c.close()

    def rebalance_held(self, sent):
        """The rebalance of the group in progress at @sent (wall clock) and
        still at the daemon's exit, from the broker's log, as text; None if
        there was none.  A member rejoining has its JoinGroup held by the
        coordinator until the rebalance completes: until every member it
        knows has joined, each gone one dropped at its session timeout, or,
        in a group the broker reloaded after its own kill -9, at the
        rebalance timeout (max.poll.interval.ms).  The broker reads one
        request of a connection at a time, so the LeaveGroup
        rd_kafka_consumer_close() sends behind that JoinGroup is not read
        before it completes (seed 1747242098, seen with --kafka-debug cgrp:
        "LeaveGroup response received" a moment after "Stabilized group")."""
        path = os.path.join(self.broker.dir, "broker-1", "server.log")
        start = None
        g = re.escape(self.group)
        pat = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3})\] INFO .*"
                         r"(?:(Preparing to rebalance|Stabilized) group %s |\[GroupId=%s\] (Unloading))" % (g, g))
        try:
            with open(path, errors="replace") as f:
                for line in f:
                    m = pat.match(line)
                    if not m:
                        continue
                    t = time.mktime(time.strptime(m.group(1), "%Y-%m-%d %H:%M:%S")) + int(m.group(2)) / 1000.0
                    if t > time.time():
                        break
                    if m.group(4):
                        start = None  # the broker gave the group up (stopping, killed): reloaded anew
                    elif m.group(3) == "Stabilized":
                        if start is not None and t >= sent:
                            return None  # completed after the SIGTERM, before the exit
                        start = None
                    elif start is None:
                        start = t
        except OSError:
            return None
        if start is None or start > sent:
            return None
        return "preparing since %.1f s before the SIGTERM" % (sent - start)

    def coordinator_mute(self, since):
        """Seconds since @since (monotonic) during which the coordinator
        did not answer, in its longest spell (one still going counts)."""
        now = time.monotonic()
        longest = 0.0
        going = [(self.coordinator_since, now)] if self.coordinator_since is not None else []
        for a, b in self.coordinator_spells + going:
            longest = max(longest, min(b, now) - max(a, since))
        return longest if longest >= 5.0 else 0.0

    def control_latency(self):
        """Seconds the control server took to answer (10 when it did not)."""
        t0 = time.monotonic()
        try:
            urllib.request.urlopen(self.env.control_url, timeout=10).read()
            return time.monotonic() - t0
        except Exception:
            return 10.0

    def metrics(self, p):
        try:
            text = self.http(p, "/metrics", 5).read().decode()
        except Exception:
            return None
        out = {}
        for line in text.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$", line)
            if not m:
                self.fail("%s: /metrics line is not in the Prometheus text format: %r" % (p.name, line))
                continue
            out[m.group(1)] = float(m.group(2))
        return out

    def reload_counts(self, p):
        m = self.metrics(p)
        if m is None:
            return None
        return {r: m.get('sluice_config_reloads_total{result="%s"}' % r, 0) for r in ("applied", "rejected")}

    def scrape(self, p):
        gen = p.generation
        m = self.metrics(p)
        if m is None or p.generation != gen:
            return
        self.scrapes += 1
        prev = getattr(p, "last_scrape", None)
        if prev and prev[0] == gen:
            for k, v in m.items():
                if k.split("{")[0].endswith("_total") and k in prev[1] and v < prev[1][k]:
                    self.fail("%s: counter %s went back from %s to %s" % (p.name, k, prev[1][k], v))
        p.last_scrape = (gen, m)

    def watch(self):
        """Every second: each daemon alive (or stopped by the nemesis),
        /healthz within 1 s of the control, resident memory within its bound, no sanitizer
        report in its log."""
        while not self.stop_ev.is_set():
            for p, workers in ((self.procs[0], 2), (self.procs[1], 2), (self.third, 1)):
                if p.proc is None:
                    continue
                rc = p.proc.poll()
                if rc is not None:
                    if p.expect_exit is None and not getattr(p, "reported", None) == p.generation:
                        p.reported = p.generation
                        self.fail("%s exited %d unasked; its log ends:\n%s" % (p.name, rc, p.log_tail()))
                    continue
                rss = p.rss_bytes()
                if rss:
                    self.rss_max[p.name] = max(self.rss_max.get(p.name, 0), rss)
                    if rss > self.rss_bound[workers]:
                        self.fail("%s: resident memory %d MiB above the bound of %d MiB" % (
                            p.name, rss // MiB, self.rss_bound[workers] // MiB))
                if p.expect_exit:
                    continue
                # /healthz within 1 s of what the machine costs a request
                # at that moment: a trivial server's latency (the control)
                # asked by this thread just before and just after
                before = self.control_latency()
                t0 = time.monotonic()
                try:
                    body = self.http(p, "/healthz", 10).read().decode()
                    took = time.monotonic() - t0
                    control = max(before, self.control_latency())
                    p.admin_up = p.generation
                    self.health_max = max(self.health_max, took)
                    if took - control > self.health_excess[0]:
                        self.health_excess = (took - control, took, control)
                    if took - control > 1.0:
                        self.fail("%s: /healthz took %.2f s, %.2f s more than the control's %.3f s" % (
                            p.name, took, took - control, control))
                    if not body.startswith("ok"):
                        self.fail("%s: /healthz said %r" % (p.name, body))
                except urllib.error.HTTPError as e:
                    self.fail("%s: /healthz answered %d: %s" % (p.name, e.code, e.read()[:200]))
                except Exception as e:
                    took = time.monotonic() - t0
                    if getattr(p, "admin_up", None) == p.generation and p.alive() and not p.expect_exit:
                        self.fail("%s: /healthz did not answer (%s after %.2f s; the control's %.3f s before)" % (
                            p.name, e, took, before))
                    elif time.time() - p.started_at > 30 and p.alive():
                        self.fail("%s: /healthz not answering 30 s after start (%s)" % (p.name, e))
            for p in self.procs + [self.third]:
                rep = p.sanitizer_report()
                if rep and getattr(p, "sanitizer_seen", None) is None:
                    p.sanitizer_seen = True
                    self.fail("%s: sanitizer report:\n%s" % (p.name, rep))
                m = MAXPOLL.search(p.log_text(True))
                if m and getattr(p, "maxpoll_seen", None) is None:
                    p.maxpoll_seen = True
                    self.fail("%s did not poll its consumer within max.poll.interval.ms (%d ms): %s" % (
                        p.name, self.max_poll_interval_ms, p.log_text(True)[m.start() - 200:m.end() + 100]))
            self.stop_ev.wait(1.0)

    def check_loop(self):
        while not self.stop_ev.wait(5.0):
            try:
                fails = self.checker.check()
            except (psycopg2.Error, Exception) as e:
                # the database restarting, the broker down: try again next round
                if isinstance(e, (psycopg2.OperationalError, psycopg2.InterfaceError)) or "KafkaError" in repr(e):
                    continue
                self.fail("checker: %s\n%s" % (e, traceback.format_exc()))
                continue
            for f in fails[:20]:
                self.fail(f)

    # ---- the run

    def run(self):
        self.setup()
        self.feed.start()
        for p in self.procs:
            p.start()
        threads = [threading.Thread(target=self.watch, name="watch", daemon=True),
                   threading.Thread(target=self.check_loop, name="check", daemon=True),
                   threading.Thread(target=self.watch_coordinator, name="coordinator", daemon=True)]
        for t in threads:
            t.start()
        until = time.time() + self.minutes * 60
        nt = threading.Thread(target=self.nem.run, args=(until,), name="nemesis", daemon=True)
        nt.start()
        while nt.is_alive():
            nt.join(1.0)
        self.log("nemesis done: %s" % ", ".join("%s %d" % kv for kv in sorted(self.nem.counts.items())))
        self.finish(threads)
        return not self.failures

    def drain_timeout(self):
        """How long the daemons get to catch up once the producer stops:
        the last rebalance may wait for a member that is gone, up to the
        session timeout (one killed -9) or the rebalance timeout (a group
        the broker reloaded after its own kill -9), then the backlog is
        written (DRAIN_WRITE_S)."""
        if self.args.drain_timeout:
            return self.args.drain_timeout
        return (self.max_poll_interval_ms + self.session_timeout_ms) // 1000 + DRAIN_WRITE_S

    def finish(self, threads):
        """Heal, drain, check with equality, stop every daemon with SIGTERM."""
        left = self.feed.stop()
        if left:
            self.fail("%d record(s) never acknowledged by the broker" % left)
        if self.feed.delivery_errors:
            self.log("producer: %d delivery error(s), e.g. %s" % (len(self.feed.delivery_errors),
                                                                  self.feed.delivery_errors[0]))
        if not self.failures:
            for p in self.procs:
                if not p.alive():
                    p.start()
            if self.third.alive():
                self.stop_proc(self.third, "sigterm")
            # write the valid file once more and let every daemon converge
            drain = self.drain_timeout()
            deadline = time.time() + drain
            state = None
            while time.time() < deadline and not self.stop_ev.is_set():
                try:
                    state = self.checker.caught_up()
                except Exception as e:
                    state = str(e)
                if state is True:
                    break
                time.sleep(1)
            if state is not True and not self.failures:
                self.fail("not caught up %d s after the producer stopped: %s" % (drain, state))
        if not self.failures:
            for f in self.checker.check(final=True)[:40]:
                self.fail("final: " + f)
        self.stop_ev.set()
        for t in threads:
            t.join()
        self.nem.stop_ev.set()
        for p in self.procs + [self.third]:
            if p.alive():
                p.signal(signal.SIGTERM, "sigterm")
                rc = p.wait(self.shutdown_timeout_s + 20)
                if rc is None:
                    p.signal(signal.SIGKILL, "kill9")
                    p.wait(30)
                    if not self.failures or self.args.keep_going:
                        self.fail("%s did not stop within %d s of SIGTERM at the end" % (
                            p.name, self.shutdown_timeout_s + 20))
                elif rc != 0:
                    self.fail("%s exited %d after the final SIGTERM; its log ends:\n%s" % (p.name, rc, p.log_tail()))
            rep = p.sanitizer_report()
            if rep and getattr(p, "sanitizer_seen", None) is None:
                p.sanitizer_seen = True
                self.fail("%s: sanitizer report:\n%s" % (p.name, rep))
        self.model.stop()
        self.summary()

    def summary(self):
        self.log("%d record(s) produced; %d check round(s), %d partition check(s) deferred for the model; "
                 "%d scrape(s); slowest /healthz %.3f s; most beyond the control %.3f s (%.3f s against %.3f s)" % (
                     self.feed.produced, self.checker.rounds, self.checker.skipped, self.scrapes, self.health_max,
                     *self.health_excess))
        self.log("peak resident memory: %s (bound %d MiB for workers: 2, %d MiB for workers: 1)" % (
            ", ".join("%s %d MiB" % (k, v // MiB) for k, v in sorted(self.rss_max.items())),
            self.rss_bound[2] // MiB, self.rss_bound[1] // MiB))
        if self.failures:
            self.log("FAILED: seed %d, %d failure(s); logs in %s; replay: tests/soak/run.sh --seed %d "
                     "--minutes %g --build %s" % (self.seed, len(self.failures), self.dir, self.seed, self.minutes,
                                                  self.args.build))
            for f in self.failures[:10]:
                print("  - seed %d: %s" % (self.seed, f.splitlines()[0]))
        else:
            self.log("passed: seed %d" % self.seed)


def read_seeds(path, long_ones):
    """(seed, minutes) of a seed list: SEED MINUTES [long] what it found.
    A seed marked long (its failure came late in a long run) is replayed
    only with --long-seeds."""
    out = []
    with open(path) as f:
        for line in f:
            words = line.split("#", 1)[0].split()
            if len(words) >= 2 and (long_ones or words[2:3] != ["long"]):
                out.append((int(words[0]), float(words[1])))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--seed", type=int)
    ap.add_argument("--replay", help="a seed list (tests/soak/seeds.txt): run each of its seeds for its minutes "
                                     "first")
    ap.add_argument("--long-seeds", action="store_true", help="with --replay, also the seeds marked long")
    ap.add_argument("--work", help="directory for servers and logs (default: a new one under TMPDIR)")
    ap.add_argument("--rate", type=float, default=30, help="records per second per route")
    ap.add_argument("--slow-clients", type=int, default=40,
                    help="most slow admin clients at once (more than sluice's 32 connections in all)")
    ap.add_argument("--disable", default="", help="nemesis actions left out, comma-separated")
    ap.add_argument("--enable", default="", help="actions left out for a known defect, put back")
    ap.add_argument("--drain-timeout", type=int, default=0,
                    help="seconds to catch up after the producer stops (default: the daemons' rebalance timeout "
                         "plus session timeout plus %d s)" % DRAIN_WRITE_S)
    ap.add_argument("--keep-going", action="store_true", help="do not stop at the first failure")
    ap.add_argument("--keep", action="store_true", help="keep the work directory when the run passes")
    ap.add_argument("--kafka-debug", metavar="CONTEXTS",
                    help="librdkafka's debug contexts for the daemons (e.g. cgrp), logged with log_level: debug")
    ap.add_argument("--pause-on-failure", type=int, default=0, metavar="SECONDS",
                    help="leave the servers up this long after a failure, for a look")
    args = ap.parse_args()
    args.build = os.path.abspath(args.build)
    args.disable = [x for x in args.disable.split(",") if x]
    enable = [x for x in args.enable.split(",") if x]
    for name, why in nemesis.KNOWN.items():
        if name not in enable:
            log("nemesis action %s left out: %s" % (name, why))
            args.disable.append(name)
    if not os.access(os.path.join(args.build, "src", "sluice"), os.X_OK):
        print("soak: no sluice in %s/src (build it first)" % args.build, file=sys.stderr)
        return 2
    # SIGTERM tears the servers down as an interrupt does
    signal.signal(signal.SIGTERM, lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
    plan = read_seeds(args.replay, args.long_seeds) if args.replay else []
    if args.seed is not None or not plan or args.minutes > 0:
        seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 1 << 31)
        if args.minutes > 0:
            plan.append((seed, args.minutes))
    log("soak plan: %s" % ", ".join("seed %d for %g min" % sp for sp in plan))
    work = args.work or tempfile.mkdtemp(prefix="sluice-soak.", dir=os.environ.get("TMPDIR", "/tmp"))
    os.makedirs(work, exist_ok=True)
    os.chmod(work, 0o755)
    env = Env(work)
    ok = True
    try:
        try:
            env.start()
        except Exception as e:
            print("soak: could not start the servers: %s" % e, file=sys.stderr)
            return 2
        for i, (seed, minutes) in enumerate(plan):
            s = Session(env, args, seed, minutes, i)
            try:
                if not s.run():
                    ok = False
                    break
            except Exception:
                traceback.print_exc()
                print("soak: seed %d: the harness failed" % seed)
                ok = False
                break
        if not ok and args.pause_on_failure:
            log("servers left up for %d s: PostgreSQL %s, CrateDB's database %s" % (
                args.pause_on_failure, env.pg.dsn, env.pgcrate.dsn))
            time.sleep(args.pause_on_failure)
    except KeyboardInterrupt:
        ok = False
        log("interrupted")
    finally:
        env.stop()
        if ok and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            log("work directory kept: %s" % work)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
