#!/usr/bin/python3
"""sluice's benchmark driver (bench/run.sh is the one-command entry point).

Measures, side by side on the same Kafka workload and the same PostgreSQL:
  sluice      time from start until every offset is committed, checked
              against the final table state (row count and checksum);
  ceiling     the same rows already decoded, loaded by psql: COPY into a
              staging table plus one INSERT .. SELECT DISTINCT ON .. ON
              CONFLICT DO UPDATE (no Kafka, no JSON);
  python      bench/python_consumer.py, the hand-written consumer, with
              Debian's confluent-kafka and with the current one from PyPI
              (in a virtual environment kept in ~/.cache/sluice);
on a real Kafka broker (tests/support/kafka.sh), sluice on W1 also on librdkafka's
mock cluster for comparison; and the variants: W1 in Avro (Confluent wire format, schema from a local
registry) against W1 in JSON, W1 as Debezium change events (JsonConverter with
schemas, step w1dbz) against W1 in JSON, W1 through a three-transform chain against W1
without it (step w1tx), delivery exactly-once vs at-least-once, mode
insert into a keyless table, workers 1/2/4, a 40-column row,
produce-to-visible latency at a steady rate, peak RSS and RSS over time with
a 4M backlog against 1M, and a callgrind profile (instructions per record by
stage).  Every goal of docs/benchmark.md is marked met or missed, and a plot
is written beside the results.  Each measurement is repeated (--reps, default 3) and the median
reported.  See docs/benchmark.md.
"""
import argparse
import datetime
import hashlib
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import psycopg2
from confluent_kafka import Consumer, KafkaException, TopicPartition

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PGBIN = os.environ.get("PGBIN", "/usr/lib/postgresql/15/bin")
PYTHON = "/usr/bin/python3"
REGISTRY_SERVER = os.path.join(ROOT, "tests", "avro", "registry_server.py")
STEPS = ["w1", "w1avro", "w1protobuf", "w1dbz", "w1tx", "delivery", "insert", "workers", "wide", "latency", "rss", "profile"]
VENV = os.path.join(os.environ.get("SLUICE_CACHE", os.path.expanduser("~/.cache/sluice")), "bench-venv")


def log(msg):
    print(msg, flush=True)


class BenchError(Exception):
    pass


# ---------------------------------------------------------------- PostgreSQL

class Postgres:
    """A DSN to use, or a throwaway server started with tests/support/pgserver.sh."""

    def __init__(self, dsn, workdir):
        self.dir = None
        if dsn:
            self.dsn = dsn
        else:
            self.dir = os.path.join(workdir, "pg")
            out = subprocess.run([os.path.join(ROOT, "tests", "support", "pgserver.sh"), "start", self.dir],
                                 check=True, capture_output=True, text=True).stdout
            line = [l for l in out.splitlines() if l.startswith("SLUICE_TEST_DSN=")][0]
            self.dsn = line.split("=", 1)[1]
            # commit timestamps give the exact moment a row became visible
            self.execute("ALTER SYSTEM SET track_commit_timestamp = on")
            ctl = [os.path.join(PGBIN, "pg_ctl"), "-D", os.path.join(self.dir, "data"),
                   "-l", os.path.join(self.dir, "postgres.log"), "-w", "-t", "60", "restart"]
            if os.getuid() == 0:
                ctl = ["runuser", "-u", "postgres", "--"] + ctl
            subprocess.run(ctl, check=True, stdout=subprocess.DEVNULL)
        self.conn = psycopg2.connect(self.dsn)
        self.conn.autocommit = True

    def execute(self, sql, args=None):
        conn = psycopg2.connect(self.dsn)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute(sql, args)
        finally:
            conn.close()

    def query(self, sql, args=None):
        with self.conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall()

    def run(self, sql, args=None):
        with self.conn.cursor() as cur:
            cur.execute(sql, args)

    def md5_of(self, sql):
        h = hashlib.md5()

        class Sink:
            def write(self, data):
                h.update(data.encode() if isinstance(data, str) else data)

        with self.conn.cursor() as cur:
            cur.copy_expert("COPY (%s) TO STDOUT WITH (FORMAT csv)" % sql, Sink())
        return h.hexdigest()

    def cpu_seconds(self):
        """CPU time used so far by the server we started (postmaster, its live
        children and those it has reaped); None for a server we did not start."""
        if not self.dir:
            return None
        try:
            with open(os.path.join(self.dir, "data", "postmaster.pid")) as f:
                master = int(f.readline())
            tick = os.sysconf("SC_CLK_TCK")
            total = 0
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                try:
                    with open("/proc/%s/stat" % pid) as f:
                        fields = f.read().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                ppid = int(fields[1])
                if int(pid) == master:
                    total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
                elif ppid == master:
                    total += int(fields[11]) + int(fields[12])
            return total / tick
        except (OSError, ValueError):
            return None

    def stop(self):
        self.conn.close()
        if self.dir:
            subprocess.run([os.path.join(ROOT, "tests", "support", "pgserver.sh"), "stop", self.dir], check=False)


# ---------------------------------------------------------------- Kafka

class Kafka:
    """A real Kafka cluster: one started with tests/support/kafka.sh (KRaft, one
    broker) in the work directory, or an existing one (--bootstrap)."""

    def __init__(self, bootstrap, workdir):
        self.dir = None
        if bootstrap:
            self.bootstrap = bootstrap
            return
        self.dir = os.path.join(workdir, "kafka")
        log("== starting Kafka (tests/support/kafka.sh)")
        out = subprocess.run(["bash", os.path.join(ROOT, "tests", "support", "kafka.sh"), "start", self.dir],
                             check=True, capture_output=True, text=True).stdout
        line = [l for l in out.splitlines() if l.startswith("SLUICE_TEST_BOOTSTRAP=")][0]
        self.bootstrap = line.split("=", 1)[1]
        log("   %s" % self.bootstrap)
        # the first group on a new cluster creates __consumer_offsets: not
        # inside the first measurement
        c = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "bench-warmup"})
        deadline = time.monotonic() + 120
        try:
            while True:
                try:
                    c.committed([TopicPartition("bench-warmup", 0)], timeout=30)
                    break
                except KafkaException:  # "not coordinator" while the topic is being created
                    if time.monotonic() > deadline:
                        self.stop()
                        raise
                    time.sleep(0.5)
        finally:
            c.close()

    def describe(self):
        from confluent_kafka.admin import AdminClient
        md = AdminClient({"bootstrap.servers": self.bootstrap}).list_topics(timeout=10)
        return "%d broker(s) at %s" % (len(md.brokers), self.bootstrap)

    def stop(self):
        if self.dir:
            subprocess.run(["bash", os.path.join(ROOT, "tests", "support", "kafka.sh"), "stop", self.dir], check=False,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def pypi_python():
    """The venv's python with the current confluent-kafka from PyPI (made
    once, kept in the cache), or None when it cannot be made."""
    py = os.path.join(VENV, "bin", "python")
    try:
        if not os.path.exists(py):
            log("== making %s (confluent-kafka from PyPI)" % VENV)
            os.makedirs(os.path.dirname(VENV), exist_ok=True)
            # the system site packages give it psycopg2 from Debian
            subprocess.run([PYTHON, "-m", "venv", "--system-site-packages", VENV], check=True)
            subprocess.run([py, "-m", "pip", "install", "-q", "--upgrade", "confluent-kafka"], check=True)
        ver = subprocess.run([py, "-c", "import confluent_kafka as c; v = c.version(); "
                                  "print(v[0] if isinstance(v, tuple) else v, c.libversion()[0])"],
                             check=True, capture_output=True, text=True).stdout.split()
        return py, ver[0], ver[1]
    except (subprocess.CalledProcessError, OSError, IndexError) as e:
        log("   cannot use PyPI's confluent-kafka: %s" % e)
        shutil.rmtree(VENV, ignore_errors=True)
        return None


class RssSampler:
    """Samples a process's resident set (VmRSS) every 100 ms."""

    def __init__(self, pid):
        self.pid, self.samples, self.t0 = pid, [], time.monotonic()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.done.wait(0.1):
            try:
                with open("/proc/%d/status" % self.pid) as f:
                    for line in f:
                        if line.startswith("VmRSS:"):
                            self.samples.append((time.monotonic() - self.t0, int(line.split()[1]) / 1024.0))
            except OSError:
                return

    def stop(self):
        self.done.set()
        self.thread.join()
        return self.samples


# ---------------------------------------------------------------- schema registry

class Registry:
    """tests/avro/registry_server.py on a free port: the Confluent Schema
    Registry endpoints sluice uses, enough for the Avro workload."""

    def __init__(self):
        self.proc = subprocess.Popen([PYTHON, REGISTRY_SERVER, "--port", "0"], stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()  # "port N" once it listens
        if not line.startswith("port "):
            self.stop()
            raise BenchError("the schema registry did not start (%r)" % line)
        self.url = "http://127.0.0.1:%d" % int(line.split()[1])

    def register(self, subject, schema, schema_type=None):
        body = {"schema": schema}
        if schema_type:
            body["schemaType"] = schema_type
        req = urllib.request.Request("%s/subjects/%s/versions" % (self.url, subject),
                                     data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/vnd.schemaregistry.v1+json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.load(resp)["id"]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait()


# ---------------------------------------------------------------- workloads

def column_defs(columns):
    """Table columns of a workload: (name, SQL type, canonical SQL expression)."""
    cols = [("id", "bigint", "id"), ("device", "text", "device"),
            ("ts", "timestamptz", "(extract(epoch FROM ts) * 1000)::bigint"),
            ("temp", "double precision", "round(temp * 10)::bigint"), ("ok", "boolean", "ok")]
    kinds = [("bigint", "{c}"), ("text", "{c}"), ("double precision", "round({c} * 10)::bigint"), ("boolean", "{c}")]
    for c in range(5, columns):
        typ, expr = kinds[c % 4]
        name = "c%02d" % c
        cols.append((name, typ, expr.format(c=name)))
    return cols


class Workload:
    """A bench-kafka process holding one topic with the workload in it: JSON
    values, or with registry the same records in Avro (Confluent wire format),
    their schema registered there first, or with debezium the same rows as
    Debezium change events (JsonConverter with schemas)."""

    def __init__(self, args, name, records, distinct, columns, workdir, files=True, registry=None, kafka=None,
                 debezium=False, wire="avro"):
        self.name, self.records, self.distinct, self.columns = name, records, distinct, columns
        # on a real cluster (kafka) topics outlive the run: give them this run's name
        self.topic = "bench%d-%s" % (os.getpid(), name) if kafka else name
        self.cluster = "real" if kafka else "mock"
        self.partitions = args.partitions
        self.format = wire if registry else "debezium" if debezium else "json"
        # the CSV feeds the ceiling, which runs on the JSON workload only
        self.csv = os.path.join(workdir, name + ".csv") if files and self.format == "json" else None
        self.expected = os.path.join(workdir, name + ".expected") if files else None
        cmd = [args.bench_kafka, "-n", str(records), "-d", str(distinct), "-c", str(columns),
               "-p", str(self.partitions), "-t", self.topic]
        if kafka:
            cmd += ["--bootstrap", kafka.bootstrap]
        if self.csv:
            cmd += ["--csv", self.csv]
        if self.expected:
            cmd += ["--expected", self.expected]
        if registry:
            schema = subprocess.run([args.bench_kafka, "--%s-schema" % wire, "-c", str(columns)], check=True,
                                    capture_output=True, text=True).stdout.strip()
            schema_id = registry.register(self.topic + "-value", schema, "PROTOBUF" if wire == "protobuf" else None)
            cmd += ["--" + wire, str(schema_id)]
        if debezium:
            cmd += ["--debezium"]
        log("== producing %s: %d records, %d distinct ids, %d columns, %d partitions (lz4, %s, %s cluster)"
            % (name, records, distinct, columns, self.partitions, self.format, self.cluster))
        t0 = time.monotonic()
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.info = {}
        while "bootstrap" not in self.info:
            line = self.proc.stdout.readline()
            if not line:
                raise BenchError("bench-kafka exited with %s" % self.proc.wait())
            k, _, v = line.strip().partition("=")
            self.info[k] = v
        self.bootstrap = self.info["bootstrap"]
        self.bytes = int(self.info["produced"].split("bytes=")[1].split()[0]) if records else 0
        log("   %s, %.1f MB of %s, watermarks checked, in %.1f s"
            % (self.bootstrap, self.bytes / 1e6, {"avro": "Avro", "protobuf": "Protobuf", "debezium": "Debezium JSON"}.get(
                self.format, "JSON"), time.monotonic() - t0))
        self.expected_md5 = None
        if self.expected:
            with open(self.expected, "rb") as f:
                self.expected_md5 = hashlib.md5(f.read()).hexdigest()
            with open(self.expected) as f:
                self.expected_rows = sum(1 for _ in f)
        self._plain = None

    def plain_csv(self):
        """The records without partition and offset, for a plain COPY."""
        if not self._plain:
            self._plain = self.csv + ".plain"
            with open(self.csv) as src, open(self._plain, "w") as dst:
                for line in src:
                    dst.write(line.rsplit(",", 2)[0] + "\n")
        return self._plain

    def steady(self, rate, seconds):
        self.proc.stdin.write("rate %g %g\n" % (rate, seconds))
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line.startswith("steady"):
            raise BenchError("bench-kafka: %r" % line)
        f = dict(kv.split("=") for kv in line.split()[1:])
        return int(f["first_id"]), int(f["count"])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                self.proc.wait()


# ---------------------------------------------------------------- the bench

class Bench:
    def __init__(self, args, pg, workdir):
        self.args, self.pg, self.workdir = args, pg, workdir
        self.tag = "bench%d" % os.getpid()
        self.results = {}      # key -> list of run dicts
        self.notes = []
        self.failures = []
        self.seq = 0
        self.registry = None   # a Registry when a workload is in Avro
        self.w1_bytes = self.w1avro_bytes = self.w1protobuf_bytes = self.w1dbz_bytes = 0
        self.pypi = None       # (python, confluent-kafka version, librdkafka version) from PyPI
        self.pypi_key = "python (PyPI)"
        self.kafka = None      # the real cluster, or None for the mock cluster only
        self.profile = None    # the stage table of step profile
        self.plot = None       # path of the plot written with the results

    # -- tables

    def table(self, wl, suffix=""):
        return "public.%s_%s%s" % (self.tag, wl.name, suffix)

    def create_table(self, table, wl, keyed=True):
        cols = column_defs(wl.columns)
        defs = ", ".join("%s %s" % (n, t) for n, t, _ in cols)
        if keyed:
            defs += ", PRIMARY KEY (id)"
        self.pg.run("DROP TABLE IF EXISTS %s" % table)
        self.pg.run("CREATE TABLE %s (%s)" % (table, defs))
        self.pg.run("CHECKPOINT")

    def drop_tables(self):
        for (name,) in self.pg.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                                     "AND tablename LIKE %s", (self.tag + "\\_%",)):
            self.pg.run("DROP TABLE IF EXISTS public.%s" % name)

    def check_upsert_state(self, table, wl):
        n = self.pg.query("SELECT count(*) FROM %s" % table)[0][0]
        exprs = ", ".join(e for _, _, e in column_defs(wl.columns))
        md5 = self.pg.md5_of("SELECT %s FROM %s ORDER BY id" % (exprs, table))
        if n != wl.expected_rows or md5 != wl.expected_md5:
            return "final state wrong: %d rows (expected %d), checksum %s (expected %s)" % (
                n, wl.expected_rows, md5, wl.expected_md5)
        return None

    def check_insert_state(self, table, wl):
        exprs = ", ".join(e for _, _, e in column_defs(wl.columns))
        # the expected multiset: every record of the CSV, loaded the same way
        n = self.pg.query("SELECT count(*) FROM %s" % table)[0][0]
        if n != wl.records:
            return "%d rows, expected %d" % (n, wl.records)
        got = self.pg.md5_of("SELECT %s FROM %s ORDER BY %s" % (
            exprs, table, ", ".join(str(i + 1) for i in range(len(column_defs(wl.columns))))))
        if not hasattr(wl, "insert_md5"):
            ref = self.table(wl, "_ref")
            self.create_table(ref, wl, keyed=False)
            with open(wl.plain_csv()) as f, self.pg.conn.cursor() as cur:
                cur.copy_expert("COPY %s FROM STDIN WITH (FORMAT csv)" % ref, f)
            wl.insert_md5 = self.pg.md5_of("SELECT %s FROM %s ORDER BY %s" % (
                exprs, ref, ", ".join(str(i + 1) for i in range(len(column_defs(wl.columns))))))
            self.pg.run("DROP TABLE %s" % ref)
        if got != wl.insert_md5:
            return "rows differ from the produced records (checksum %s, expected %s)" % (got, wl.insert_md5)
        return None

    # -- completion

    def kafka_committed(self, wl, group):
        c = Consumer({"bootstrap.servers": wl.bootstrap, "group.id": group, "enable.auto.commit": False})
        try:
            tps = c.committed([TopicPartition(wl.topic, p) for p in range(wl.partitions)], timeout=10)
            return sum(max(tp.offset, 0) for tp in tps)
        finally:
            c.close()

    def wait_done(self, proc, wl, group, exactly_once, timeout):
        """Poll until every offset is committed; returns the monotonic time.
        self.first_commit: (time, offsets) of the first poll that saw any."""
        self.first_commit = None
        deadline = time.monotonic() + timeout
        c = Consumer({"bootstrap.servers": wl.bootstrap, "group.id": group, "enable.auto.commit": False})
        tps = [TopicPartition(wl.topic, p) for p in range(wl.partitions)]
        try:
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    raise BenchError("exited early with status %s" % proc.returncode)
                if exactly_once:
                    done = 0
                    if self.pg.query("SELECT to_regclass('sluice.offsets') IS NOT NULL")[0][0]:
                        done = self.pg.query("SELECT coalesce(sum(next_offset), 0) FROM sluice.offsets "
                                             "WHERE group_id = %s AND topic = %s", (group, wl.topic))[0][0]
                        done = int(done)
                else:
                    done = sum(max(tp.offset, 0) for tp in c.committed(tps, timeout=10))
                now = time.monotonic()
                if done > 0 and not self.first_commit:
                    self.first_commit = (now, done)
                if done >= wl.records:
                    return now
                time.sleep(0.05)
        finally:
            c.close()
        raise BenchError("not done after %d s" % timeout)

    def group(self, what):
        self.seq += 1
        return "%s-%s-%d" % (self.tag, what, self.seq)

    def timeout(self, wl):
        return max(120, wl.records / 2000)

    # -- the three contenders

    def overrides(self, cfg):
        """--kafka-conf and the batch options, for every run of sluice."""
        for kv in self.args.kafka_conf:
            k, _, v = kv.partition("=")
            cfg["kafka"][k] = v
        batch = {k: v for k, v in (("max_rows", self.args.batch_rows), ("max_bytes", self.args.batch_bytes),
                                   ("linger_ms", self.args.linger_ms)) if v is not None}
        if batch:
            cfg["batch"] = batch

    def run_sluice(self, wl, table, delivery="exactly-once", mode="upsert", workers=None, what="sluice",
                   transforms=None):
        group = self.group(what)
        route = {"topics": [wl.topic], "target": "pg", "table": table, "format": wl.format, "mode": mode}
        if transforms:
            route["transforms"] = transforms
        if mode == "upsert":
            route["key"] = ["id"]
        cfg = {"kafka": {"bootstrap.servers": wl.bootstrap, "group.id": group, "auto.offset.reset": "earliest"},
               "targets": {"pg": {"type": "postgresql", "dsn": self.pg.dsn, "delivery": delivery}},
               "routes": [route]}
        self.overrides(cfg)
        if wl.format in ("avro", "protobuf"):
            cfg["schema_registry"] = {"url": self.registry.url}
        if workers is not None:
            cfg["workers"] = workers
        path = os.path.join(self.workdir, group + ".yaml")
        with open(path, "w") as f:
            json.dump(cfg, f, indent=1)  # JSON is YAML
        logpath = os.path.join(self.workdir, group + ".log")
        with open(logpath, "w") as logf:
            pg0 = self.pg.cpu_seconds()
            t0 = time.monotonic()
            proc = subprocess.Popen(self.args.wrapper + [self.args.sluice, "-c", path], stdout=logf,
                                    stderr=subprocess.STDOUT)
            rss = RssSampler(proc.pid)
            try:
                t1 = self.wait_done(proc, wl, group, delivery == "exactly-once", self.timeout(wl))
                err = None
            except Exception as e:  # the process must not outlive a failed run
                t1, err = time.monotonic(), str(e)
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            pg1 = self.pg.cpu_seconds()
            _, status, ru = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            series = rss.stop()
        run = {"seconds": t1 - t0, "rss_mib": ru.ru_maxrss / 1024.0, "cpu_s": ru.ru_utime + ru.ru_stime,
               "log": logpath, "rss_series": series}
        self.add_phases(run, wl, t1, pg0, pg1)
        if not err:
            err = (self.check_upsert_state if mode == "upsert" else self.check_insert_state)(table, wl)
        if not err and proc.returncode != 0:
            err = "exit status %d after SIGTERM" % proc.returncode
        return self.finish(run, wl, err, logpath)

    def run_ceiling(self, wl, table, mode="upsert"):
        cols = [n for n, _, _ in column_defs(wl.columns)]
        if mode == "upsert":
            updates = ", ".join("%s = EXCLUDED.%s" % (c, c) for c in cols[1:])
            script = ("BEGIN;\n"
                      "CREATE TEMP TABLE bench_stage (LIKE %s, part int, off bigint) ON COMMIT DROP;\n"
                      "\\copy bench_stage FROM '%s' WITH (FORMAT csv)\n"
                      "INSERT INTO %s (%s) SELECT DISTINCT ON (id) %s FROM bench_stage ORDER BY id, off DESC\n"
                      "  ON CONFLICT (id) DO UPDATE SET %s;\n"
                      "COMMIT;\n") % (table, wl.csv, table, ", ".join(cols), ", ".join(cols), updates)
        else:
            script = "\\copy %s FROM '%s' WITH (FORMAT csv)\n" % (table, wl.plain_csv())
        pg0 = self.pg.cpu_seconds()
        t0 = time.monotonic()
        p = subprocess.run([os.path.join(PGBIN, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", self.pg.dsn],
                           input=script, text=True, capture_output=True)
        t1 = time.monotonic()
        pg1 = self.pg.cpu_seconds()
        err = "psql: %s" % p.stderr.strip() if p.returncode else None
        if not err:
            err = (self.check_upsert_state if mode == "upsert" else self.check_insert_state)(table, wl)
        run = {"seconds": t1 - t0}
        if pg0 is not None and pg1 is not None:
            run["pg_cpu_s"] = pg1 - pg0
        return self.finish(run, wl, err, None)

    def run_python(self, wl, table, python=PYTHON):
        group = self.group("python")
        logpath = os.path.join(self.workdir, group + ".log")
        with open(logpath, "w") as logf:
            pg0 = self.pg.cpu_seconds()
            t0 = time.monotonic()
            proc = subprocess.Popen([python, os.path.join(HERE, "python_consumer.py"), wl.bootstrap, group,
                                     wl.topic, self.pg.dsn, table], stdout=logf, stderr=subprocess.STDOUT)
            try:
                t1 = self.wait_done(proc, wl, group, False, self.timeout(wl) * 5)
                err = None
            except Exception as e:  # the process must not outlive a failed run
                t1, err = time.monotonic(), str(e)
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            pg1 = self.pg.cpu_seconds()
            _, status, ru = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
        run = {"seconds": t1 - t0, "rss_mib": ru.ru_maxrss / 1024.0, "cpu_s": ru.ru_utime + ru.ru_stime}
        self.add_phases(run, wl, t1, pg0, pg1)
        if not err:
            err = self.check_upsert_state(table, wl)
        return self.finish(run, wl, err, logpath)

    def add_phases(self, run, wl, t1, pg0, pg1):
        """Startup (until the first committed offset) and the rate after it."""
        if self.first_commit and t1 > self.first_commit[0]:
            tf, done = self.first_commit
            run["after_first"] = (wl.records - done) / (t1 - tf)
        if pg0 is not None and pg1 is not None:
            run["pg_cpu_s"] = pg1 - pg0

    def finish(self, run, wl, err, logpath):
        run["rate"] = wl.records / run["seconds"]
        run["error"] = err
        if err:
            tail = ""
            if logpath:
                with open(logpath, errors="replace") as f:
                    tail = "".join(f.readlines()[-15:])
            self.failures.append(err)
            log("   FAILED: %s\n%s" % (err, tail))
        return run

    def record(self, key, run):
        self.results.setdefault(key, []).append(run)
        extra = ""
        if "after_first" in run:
            extra += ", %.0f/s after the first commit" % run["after_first"]
        if "rss_mib" in run:
            extra += ", peak RSS %.1f MiB, CPU %.1f s" % (run["rss_mib"], run["cpu_s"])
        if "pg_cpu_s" in run:
            extra += ", PostgreSQL CPU %.1f s" % run["pg_cpu_s"]
        log("   %-28s %7.2f s  %9.0f records/s%s%s" % (key, run["seconds"], run["rate"], extra,
                                                     "  (FAILED)" if run["error"] else ""))

    def median(self, key, field="rate"):
        vals = [r[field] for r in self.results.get(key, []) if not r["error"]]
        return statistics.median(vals) if vals else None

    # -- steps

    def step_w1(self, wl, reps, avro=None, mock=None, protobuf=None):
        """Step w1 with workload wl, step w1avro with avro, step w1protobuf with
        protobuf (any may be None).  Each repetition runs sluice on the Avro
        and Protobuf variants right after sluice on JSON, into the same table,
        so that the formats share the machine's busy and quiet moments alike."""
        t = "public.%s_w1" % self.tag
        for i in range(reps):
            log("-- %s, repetition %d of %d" % ("+".join(w.name for w in (wl, avro, protobuf) if w), i + 1, reps))
            if wl and "sluice" in self.args.contenders:
                self.create_table(t, wl)
                self.record("sluice", self.run_sluice(wl, t))
            if avro:
                self.create_table(t, avro)
                self.record("sluice avro", self.run_sluice(avro, t, what="avro"))
            if protobuf:
                self.create_table(t, protobuf)
                self.record("sluice protobuf", self.run_sluice(protobuf, t, what="protobuf"))
            if not wl:
                continue
            if "ceiling" in self.args.contenders:
                self.create_table(t, wl)
                self.record("ceiling", self.run_ceiling(wl, t))
            if "python" in self.args.contenders:
                self.create_table(t, wl)
                self.record("python", self.run_python(wl, t))
                if self.pypi:
                    self.create_table(t, wl)
                    self.record(self.pypi_key, self.run_python(wl, t, python=self.pypi[0]))
            if mock and "sluice" in self.args.contenders:
                self.create_table(t, mock)
                self.record("sluice [mock]", self.run_sluice(mock, t, what="mock"))

    DBZ_KEY, DBZ_JSON_KEY = "sluice debezium", "sluice json (beside debezium)"

    def step_w1dbz(self, wl, dbz, reps):
        """Step w1dbz: sluice on W1 as Debezium change events with schemas
        (`format: debezium`), each repetition right after sluice on W1 in
        plain JSON into the same table, so that both share the machine's
        busy and quiet moments alike; the JSON run only with contender
        sluice (bench/profile.py --format debezium leaves it out)."""
        t = "public.%s_w1dbz" % self.tag
        for i in range(reps):
            log("-- w1dbz, repetition %d of %d" % (i + 1, reps))
            if wl and "sluice" in self.args.contenders:
                self.create_table(t, wl)
                self.record(self.DBZ_JSON_KEY, self.run_sluice(wl, t))
            self.create_table(t, dbz)
            self.record(self.DBZ_KEY, self.run_sluice(dbz, t, what="dbz"))

    TX_KEY, TX_PLAIN_KEY = "sluice transforms", "sluice json (beside transforms)"
    # Step w1tx's chain: every record is tested, rebuilt and converted, and
    # the stored rows stay those of W1, so the usual check applies.
    TX_CHAIN = [{"type": "filter", "field": "temp", "predicate": "lt", "value": "-1000"},
                {"type": "replace_field", "exclude": ["unused"]},
                {"type": "timestamp_converter", "field": "ts", "target_type": "timestamp"}]

    def step_w1tx(self, wl, reps):
        """Step w1tx: sluice on W1 with a three-transform chain (filter,
        replace_field, timestamp_converter), each repetition right after
        sluice on W1 without it into the same table."""
        t = "public.%s_w1tx" % self.tag
        for i in range(reps):
            log("-- w1tx, repetition %d of %d" % (i + 1, reps))
            self.create_table(t, wl)
            self.record(self.TX_PLAIN_KEY, self.run_sluice(wl, t))
            self.create_table(t, wl)
            self.record(self.TX_KEY, self.run_sluice(wl, t, what="tx", transforms=self.TX_CHAIN))

    def step_delivery(self, wl, reps):
        t = self.table(wl)
        for i in range(reps):
            log("-- delivery, repetition %d of %d" % (i + 1, reps))
            if len([r for r in self.results.get("sluice", [])]) <= i:
                self.create_table(t, wl)
                self.record("sluice", self.run_sluice(wl, t))
            self.create_table(t, wl)
            self.record("sluice at-least-once", self.run_sluice(wl, t, delivery="at-least-once", what="alo"))

    def step_insert(self, wl, reps):
        t = self.table(wl, "_log")
        for i in range(reps):
            log("-- mode insert (keyless table), repetition %d of %d" % (i + 1, reps))
            self.create_table(t, wl, keyed=False)
            self.record("sluice insert", self.run_sluice(wl, t, mode="insert", what="insert"))
            self.create_table(t, wl, keyed=False)
            self.record("ceiling insert (COPY)", self.run_ceiling(wl, t, mode="insert"))

    def step_workers(self, wl, reps):
        t = self.table(wl)
        for i in range(reps):
            log("-- workers, repetition %d of %d" % (i + 1, reps))
            for n in (1, 2, 4):
                self.create_table(t, wl)
                self.record("sluice workers=%d" % n, self.run_sluice(wl, t, workers=n, what="w%d" % n))

    def step_wide(self, wl, reps):
        t = self.table(wl)
        for i in range(reps):
            log("-- %d columns, repetition %d of %d" % (wl.columns, i + 1, reps))
            self.create_table(t, wl)
            self.record("sluice %d columns" % wl.columns, self.run_sluice(wl, t, what="wide"))
            self.create_table(t, wl)
            self.record("ceiling %d columns" % wl.columns, self.run_ceiling(wl, t))

    def step_profile(self, wl):
        """sluice under callgrind on a small W1: instructions per record by stage."""
        import importlib.util
        spec = importlib.util.spec_from_file_location("stage_profile", os.path.join(HERE, "profile.py"))
        stage_profile = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(stage_profile)
        tmp = os.path.join(self.workdir, "callgrind")
        os.makedirs(tmp, exist_ok=True)
        saved = self.args.wrapper
        self.args.wrapper = ["valgrind", "--tool=callgrind", "--callgrind-out-file=%s/out.%%p" % tmp]
        t = self.table(wl, "_profile")
        log("-- profile (callgrind, %d records)" % wl.records)
        try:
            self.create_table(t, wl)
            run = self.run_sluice(wl, t, what="profile")
        finally:
            self.args.wrapper = saved
        outs = [os.path.join(tmp, f) for f in os.listdir(tmp)]
        if run["error"] or len(outs) != 1:
            self.failures.append("profile: %s" % (run["error"] or "no callgrind output"))
            return
        self.profile = stage_profile.table(outs[0], wl.records)
        log(self.profile)

    def step_rss(self, wl, reps):
        t = self.table(wl)
        for i in range(reps):
            log("-- %d-record backlog, repetition %d of %d" % (wl.records, i + 1, reps))
            self.create_table(t, wl)
            self.record("sluice %gM backlog" % (wl.records / 1e6), self.run_sluice(wl, t, what="rss"))

    def step_latency(self, wl, reps):
        """Produce at a steady rate into a running sluice (default settings
        unless --linger-ms, --batch-rows, --batch-bytes or --kafka-conf say otherwise);
        latency = commit time of the row's transaction - produce time in ts."""
        t = self.table(wl)
        self.create_table(t, wl)
        commit_ts = self.pg.query("SHOW track_commit_timestamp")[0][0] == "on"
        if not commit_ts:
            self.pg.run("ALTER TABLE %s ADD COLUMN vis timestamptz DEFAULT clock_timestamp()" % t)
            self.notes.append("latency: track_commit_timestamp is off on this server, so visibility is the "
                              "row's insert time (clock_timestamp() default), slightly before its commit")
        vis = "pg_xact_commit_timestamp(xmin)" if commit_ts else "vis"
        group = self.group("latency")
        cfg = {"kafka": {"bootstrap.servers": wl.bootstrap, "group.id": group, "auto.offset.reset": "earliest"},
               "targets": {"pg": {"type": "postgresql", "dsn": self.pg.dsn}},
               "routes": [{"topics": [wl.topic], "target": "pg", "table": t, "format": "json", "key": ["id"]}]}
        self.overrides(cfg)
        path = os.path.join(self.workdir, group + ".yaml")
        with open(path, "w") as f:
            json.dump(cfg, f, indent=1)
        logpath = os.path.join(self.workdir, group + ".log")
        logf = open(logpath, "w")
        proc = subprocess.Popen([self.args.sluice, "-c", path], stdout=logf, stderr=subprocess.STDOUT)

        def wait_rows(first, count, timeout):
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    raise BenchError("sluice exited with status %s" % proc.returncode)
                if self.pg.query("SELECT count(*) FROM %s WHERE id >= %%s" % t, (first,))[0][0] >= count:
                    return
                time.sleep(0.1)
            raise BenchError("records not visible after %d s" % timeout)

        try:
            first, count = wl.steady(1000, 1)  # warm-up: sluice has joined the group and writes
            wait_rows(first, count, 120)
            for i in range(reps):
                first, count = wl.steady(self.args.latency_rate, self.args.latency_seconds)
                wait_rows(first, count, 120)
                p50, p99, mx, n = self.pg.query(
                    "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY l), "
                    "percentile_cont(0.99) WITHIN GROUP (ORDER BY l), max(l), count(*) FROM "
                    "(SELECT extract(epoch FROM %s - ts) * 1000 AS l FROM %s WHERE id >= %%s AND id < %%s) s"
                    % (vis, t), (first, first + count))[0]
                run = {"seconds": float(self.args.latency_seconds), "rate": count / self.args.latency_seconds,
                       "p50_ms": float(p50), "p99_ms": float(p99), "max_ms": float(mx), "error": None}
                self.results.setdefault("latency", []).append(run)
                log("   latency at %d records/s: p50 %.1f ms, p99 %.1f ms, max %.1f ms (%d records)"
                    % (self.args.latency_rate, run["p50_ms"], run["p99_ms"], run["max_ms"], n))
        except BenchError as e:
            self.failures.append("latency: %s" % e)
            log("   FAILED: %s" % e)
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            proc.wait()
            logf.close()

    # -- report

    def versions(self):
        v = {}
        v["sluice"] = subprocess.run([self.args.sluice, "--version"], capture_output=True,
                                     text=True).stdout.strip()
        rev = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"], capture_output=True, text=True)
        if self.args.revision:
            v["sluice"] += " (%s)" % self.args.revision
        elif rev.returncode == 0:
            v["sluice"] += " (git %s)" % rev.stdout.strip()
        v["PostgreSQL"] = self.pg.query("SHOW server_version")[0][0]
        v["librdkafka"] = self.librdkafka
        import confluent_kafka
        v["python"] = "Python %s, confluent-kafka %s, psycopg2 %s" % (
            platform.python_version(), confluent_kafka.version()[0], psycopg2.__version__.split()[0])
        return v

    def goals(self):
        """Each goal of docs/benchmark.md, met, missed or not measured."""
        out = []

        def goal(text, value, ok, shown):
            state = "not measured" if value is None else ("met" if ok(value) else "MISSED")
            out.append("- %s: **%s**%s" % (text, state, "" if value is None else " (%s)" % shown(value)))

        def rat(num, den):
            n, d = self.median(num), self.median(den)
            return n / d if n and d else None

        x = lambda v: "%.2f x" % v
        r = rat("sluice", "ceiling")
        goal("sluice >= 0.5 x the ceiling (W1)", r, lambda v: v >= 0.5, x)
        goal("stretch: sluice >= 0.8 x the ceiling", r, lambda v: v >= 0.8, x)
        goal("sluice >= 4 x the Python consumer (Debian's confluent-kafka)", rat("sluice", "python"),
             lambda v: v >= 4, x)
        goal("sluice >= 4 x the Python consumer (PyPI's confluent-kafka)", rat("sluice", self.pypi_key),
             lambda v: v >= 4, x)
        wide = [k for k in self.results if k.startswith("sluice") and k.endswith("columns")]
        goal("40 columns >= 0.4 x its ceiling", rat(wide[0], "ceiling" + wide[0][6:]) if wide else None,
             lambda v: v >= 0.4, x)
        goal("mode insert >= 0.5 x COPY", rat("sluice insert", "ceiling insert (COPY)"), lambda v: v >= 0.5, x)
        goal("Avro >= JSON", rat("sluice avro", "sluice"), lambda v: v >= 1.0, x)
        goal("Protobuf >= JSON", rat("sluice protobuf", "sluice"), lambda v: v >= 1.0, x)
        goal("Debezium JSON with schemas >= 0.5 x plain JSON (W1, real broker)", rat(self.DBZ_KEY, self.DBZ_JSON_KEY),
             lambda v: v >= 0.5, x)
        goal("three transforms >= 0.8 x without (W1, step w1tx)", rat(self.TX_KEY, self.TX_PLAIN_KEY),
             lambda v: v >= 0.8, x)
        ipr = None
        if self.profile:
            for line in self.profile.splitlines():
                if "decode to COPY bytes" in line:
                    ipr = float(line.split("|")[2].strip(" *").replace(",", ""))
        goal("instructions per record, decode to COPY bytes <= 12,000", ipr, lambda v: v <= 12000,
             lambda v: "%.0f" % v)
        big = [k for k in self.results if k.endswith("backlog")]
        peak = max([self.median(k, "rss_mib") or 0 for k in ["sluice"] + big]) or None
        goal("peak RSS <= 64 MiB", peak, lambda v: v <= 64, lambda v: "%.1f MiB" % v)
        r1, r4 = self.median("sluice", "rss_mib"), self.median(big[0], "rss_mib") if big else None
        goal("peak RSS flat from a 1M to a %s backlog (within 10%%)" % (big[0].split()[1] if big else "4M"),
             r4 / r1 if r1 and r4 else None, lambda v: v <= 1.1, x)
        lat = self.results.get("latency")
        goal("p99 produce-to-visible <= 50 ms at %d records/s" % self.args.latency_rate,
             statistics.median(r["p99_ms"] for r in lat) if lat else None, lambda v: v <= 50,
             lambda v: "%.1f ms" % v)
        goal("exactly-once within 10% of at-least-once", rat("sluice", "sluice at-least-once"),
             lambda v: v >= 0.9, x)
        w1, w2 = self.results.get("sluice workers=1", []), self.results.get("sluice workers=2", [])
        pairs = list(zip(w1, w2))
        faster = [b["rate"] > a["rate"] and not a["error"] and not b["error"] for a, b in pairs]
        slowest = max([r["seconds"] for r in w1 + w2] or [0])
        goal("workers: 2 faster than workers: 1 in every run, no stalls", sum(faster) if pairs else None,
             lambda v: v == len(pairs) and slowest < 3 * min(r["seconds"] for r in w1 + w2),
             lambda v: "faster in %d of %d runs; slowest run %.1f s" % (v, len(pairs), slowest))
        return out

    def make_plot(self, path):
        """records/s per contender (W1) and RSS over time of the backlog runs."""
        try:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError as e:
            self.notes.append("no plot: %s" % e)
            return None
        keys = [k for k in self.results if k != "latency" and self.median(k)
                and (k in ("sluice", "sluice avro", "sluice protobuf", self.DBZ_KEY, self.DBZ_JSON_KEY, "ceiling", "python", self.pypi_key, "sluice [mock]")
                     or k.startswith("sluice workers") or k.endswith("columns") or "insert" in k)]
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 5))
        ax1.barh(keys[::-1], [self.median(k) / 1000 for k in keys[::-1]], color="tab:blue")
        ax1.set_xlabel("thousand records/s (median)")
        ax1.set_title("Throughput per contender")
        big = [k for k in self.results if k.endswith("backlog")]
        for k in big + ["sluice"]:
            for i, r in enumerate(self.results.get(k, [])):
                if r.get("rss_series"):
                    ax2.plot([t for t, _ in r["rss_series"]], [m for _, m in r["rss_series"]],
                             label="%s, run %d" % (k, i + 1), linewidth=1)
        ax2.axhline(64, color="tab:red", linestyle="--", linewidth=1, label="64 MiB goal")
        ax2.set_xlabel("seconds since start")
        ax2.set_ylabel("RSS MiB")
        ax2.set_title("sluice RSS over time")
        ax2.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(path, dpi=90)
        plt.close(fig)
        return path

    def report(self, started):
        a = self.args
        lines = []
        w = lines.append
        cpu = "unknown"
        try:
            with open("/proc/cpuinfo") as f:
                cpu = [l.split(":", 1)[1].strip() for l in f if l.startswith("model name")][0]
        except (OSError, IndexError):
            pass
        w("# sluice benchmark, %s on %s" % (started.strftime("%Y-%m-%d %H:%M"), socket.gethostname()))
        w("")
        w("- machine: %d cores (%s), %s, load average %s at the start, %s at the end"
          % (os.cpu_count(), cpu, platform.platform(), self.load_start, "%.2f %.2f %.2f" % os.getloadavg()))
        for k, v in self.versions().items():
            w("- %s: %s" % (k, v))
        if self.pypi:
            w("- python (PyPI): confluent-kafka %s (librdkafka %s) from PyPI, in %s" % (
                self.pypi[1], self.pypi[2], VENV))
        pgset = self.pg.query("SELECT string_agg(name || '=' || current_setting(name), ', ' ORDER BY name) "
                              "FROM pg_settings "
                              "WHERE name IN ('fsync', 'synchronous_commit', 'shared_buffers', "
                              "'full_page_writes', 'track_commit_timestamp')")[0][0]
        w("- PostgreSQL on the same machine, %s" % pgset)
        if self.kafka:
            w("- Kafka: Apache Kafka %s (tests/support/kafka.sh: KRaft, one broker, on the same machine), %d partitions, "
              "lz4; `[mock]` rows and the mock column: librdkafka's mock cluster (1 broker, in-process with the "
              "producer)" % (self.kafka_version, a.partitions))
        else:
            w("- Kafka: librdkafka's mock cluster (1 broker, in-process with the producer), %d partitions, lz4"
              % a.partitions)
        if self.w1_bytes:
            w("- W1: %d JSON records (~%d bytes each), %d distinct ids, keyed by id" % (
                a.records, self.w1_bytes // max(a.records, 1), a.distinct))
        if self.w1avro_bytes:
            w("- W1 Avro (`sluice avro`): the same %d records in Avro, Confluent wire format (~%d bytes each), "
              "schema registered in tests/avro/registry_server.py; sluice reads them with `format: avro`, "
              "otherwise configured as for JSON" % (a.records, self.w1avro_bytes // max(a.records, 1)))
        if self.w1protobuf_bytes:
            w("- W1 Protobuf (`sluice protobuf`): the same %d records in Protobuf, Confluent wire format (~%d bytes "
              "each), schema (.proto text, ts a google.protobuf.Timestamp) registered in tests/avro/registry_server.py; "
              "sluice reads them with `format: protobuf`, otherwise configured as for JSON"
              % (a.records, self.w1protobuf_bytes // max(a.records, 1)))
        if self.w1dbz_bytes:
            w("- W1 Debezium (`%s`): the same %d records as Debezium change events of the PostgreSQL connector "
              "under JsonConverter with schemas (~%d bytes each, most of it the envelope's Connect schema, the "
              "same in every event; keys are Connect JSON too); sluice reads them with `format: debezium`, "
              "otherwise configured as for JSON; each run follows a run on the plain JSON records (`%s`)"
              % (self.DBZ_KEY, a.records, self.w1dbz_bytes // max(a.records, 1), self.DBZ_JSON_KEY))
        w("- each measurement repeated %d times, the median reported; sluice and the Python consumer are timed "
          "from process start until every offset is committed (sluice.offsets for exactly-once, the group's "
          "Kafka offsets otherwise), then the table is checked (row count and checksum of the final state)"
          % a.reps)
        batch = ", ".join("%s=%s" % kv for kv in (("max_rows", a.batch_rows), ("max_bytes", a.batch_bytes),
                                                  ("linger_ms", a.linger_ms)) if kv[1] is not None)
        w("- sluice settings: %s" % (batch or "batch defaults") + ", workers default (1) unless stated")
        w("")
        mockcol = self.kafka is not None and any(k.endswith(" [mock]") for k in self.results)
        w("| measurement | records/s (median) | after 1st commit /s | runs (s) | peak RSS MiB | CPU s "
          "| PostgreSQL CPU s |%s" % (" mock cluster: records/s | runs (s) |" if mockcol else ""))
        w("|---|---:|---:|---|---:|---:|---:|%s" % ("---:|---|" if mockcol else ""))
        for key, runs in self.results.items():
            if key == "latency" or (mockcol and key.endswith(" [mock]")):
                continue
            med = self.median(key)
            def m(field, fmt):
                v = self.median(key, field) if all(field in r for r in runs) else None
                return fmt % v if v is not None else "-"
            extra = ""
            if mockcol:
                mk = key + " [mock]"
                mm = self.median(mk)
                extra = " %s | %s |" % ("%.0f" % mm if mm else ("FAILED" if mk in self.results else "-"),
                                        ", ".join("%.2f%s" % (r["seconds"], "!" if r["error"] else "")
                                                  for r in self.results.get(mk, [])) or "-")
            w("| %s | %s | %s | %s | %s | %s | %s |%s" % (
                key, "%.0f" % med if med else "FAILED", m("after_first", "%.0f"),
                ", ".join("%.2f%s" % (r["seconds"], "!" if r["error"] else "") for r in runs),
                m("rss_mib", "%.1f"), m("cpu_s", "%.1f"), m("pg_cpu_s", "%.1f"), extra))
        w("")
        ratios = []

        def ratio(label, num, den, fmt="%.2f x"):
            n, d = self.median(num), self.median(den)
            if n and d:
                ratios.append("- %s: %s" % (label, fmt % (n / d)))

        ratio("sluice / ceiling", "sluice", "ceiling")
        ratio("sluice Avro / JSON throughput (W1)", "sluice avro", "sluice")
        ratio("sluice Protobuf / JSON throughput (W1)", "sluice protobuf", "sluice")
        ratio("sluice Debezium JSON with schemas / plain JSON throughput (W1, step w1dbz, goal >= 0.5)",
              self.DBZ_KEY, self.DBZ_JSON_KEY)
        ratio("sluice with three transforms / without (W1, step w1tx, goal >= 0.8)", self.TX_KEY, self.TX_PLAIN_KEY)
        ratio("sluice / python consumer", "sluice", "python")
        ratio("sluice / python consumer (PyPI)", "sluice", self.pypi_key)
        ratio("sluice, real broker / mock cluster", "sluice", "sluice [mock]")
        ratio("exactly-once / at-least-once throughput", "sluice", "sluice at-least-once")
        ratio("sluice insert / COPY", "sluice insert", "ceiling insert (COPY)")
        wide = [k for k in self.results if k.startswith("sluice") and k.endswith("columns")]
        if wide:
            ratio("sluice / ceiling, %s" % wide[0][7:], wide[0], "ceiling" + wide[0][6:])
        r1, r2 = self.median("sluice", "rss_mib"), None
        big = [k for k in self.results if k.endswith("backlog")]
        if big:
            r2 = self.median(big[0], "rss_mib")
        if r1 and r2:
            ratios.append("- peak RSS, %s / 1M backlog: %.1f / %.1f MiB = %.2f x" % (big[0].split()[1], r2, r1, r2 / r1))
        lat = self.results.get("latency")
        if lat:
            batch = ", ".join("%s=%s" % kv for kv in (("max_rows", a.batch_rows), ("max_bytes", a.batch_bytes),
                                                      ("linger_ms", a.linger_ms)) if kv[1] is not None)
            settings = ", ".join(x for x in (batch, " ".join(a.kafka_conf)) if x) or "default settings"
            ratios.append("- produce-to-visible latency at %d records/s, %s: p50 %.1f ms, "
                          "p99 %.1f ms (median of %d passes of %g s; p99 per pass: %s)" % (
                              a.latency_rate, settings, statistics.median(r["p50_ms"] for r in lat),
                              statistics.median(r["p99_ms"] for r in lat), len(lat), a.latency_seconds,
                              ", ".join("%.1f" % r["p99_ms"] for r in lat)))
        lines += ratios
        if self.profile:
            w("")
            w("Instructions per record by stage (callgrind, W1, %s records; bench/profile.py):" % (
                "{:,}".format(a.profile_records)))
            w("")
            lines.append(self.profile)
        w("")
        w("## Goals")
        w("")
        lines += self.goals()
        if self.plot:
            w("")
            w("![records/s per contender, RSS over time](%s)" % os.path.basename(self.plot))
        if self.notes or self.failures:
            w("")
            for n in self.notes:
                w("- note: %s" % n)
            for f in self.failures:
                w("- FAILURE: %s" % f)
        return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description="sluice benchmark (see docs/benchmark.md)")
    ap.add_argument("--smoke", action="store_true",
                    help="tiny run (20k records, one repetition) that fails unless every final state is right")
    ap.add_argument("--only", default=",".join(STEPS),
                    help="comma-separated steps: %s (default: all)" % ",".join(STEPS))
    ap.add_argument("--contenders", default="sluice,ceiling,python",
                    help="for step w1: any of sluice,ceiling,python")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--records", type=int, default=1000000)
    ap.add_argument("--distinct", type=int, default=200000)
    ap.add_argument("--partitions", type=int, default=16)
    ap.add_argument("--wide-columns", type=int, default=40)
    ap.add_argument("--wide-records", type=int, default=250000,
                    help="records of the wide workload (the mock cluster holds 5 MiB per partition)")
    ap.add_argument("--backlog", type=int, default=4000000, help="records of the large backlog (step rss)")
    ap.add_argument("--profile-records", type=int, default=100000, help="records of the callgrind run (step profile)")
    ap.add_argument("--kafka", choices=["real", "mock"],
                    help="the cluster the measurements run on: Apache Kafka from tests/support/kafka.sh (the default, "
                         "except with --smoke; sluice on W1 also runs on the mock cluster, for comparison) or "
                         "librdkafka's mock cluster only")
    ap.add_argument("--bootstrap", help="an existing Kafka cluster to use instead of starting one")
    ap.add_argument("--kafka-conf", action="append", default=[], metavar="KEY=VALUE",
                    help="a librdkafka property for sluice's consumer (repeatable), e.g. fetch.max.bytes=1048576")
    ap.add_argument("--no-pypi", action="store_true",
                    help="skip the Python consumer with PyPI's confluent-kafka (needs PyPI the first time)")
    ap.add_argument("--latency-rate", type=int, default=10000)
    ap.add_argument("--latency-seconds", type=float, default=10)
    ap.add_argument("--batch-rows", type=int, help="batch.max_rows for sluice (default: sluice's)")
    ap.add_argument("--batch-bytes", help="batch.max_bytes for sluice (default: sluice's)")
    ap.add_argument("--linger-ms", type=int, help="batch.linger_ms for sluice (default: sluice's)")
    ap.add_argument("--dsn", default=os.environ.get("SLUICE_TEST_DSN"),
                    help="PostgreSQL to use (default: $SLUICE_TEST_DSN, else a throwaway server)")
    ap.add_argument("--sluice", default=os.path.join(ROOT, "build-bench", "src", "sluice"))
    ap.add_argument("--bench-kafka", default=os.path.join(ROOT, "build-bench", "bench", "bench-kafka"))
    ap.add_argument("--out", help="results file (default: bench/results/DATE-HOST.md; none with --smoke)")
    ap.add_argument("--revision", help="revision of sluice to name in the results (default: git describe)")
    ap.add_argument("--sluice-wrapper", default="",
                    help="command prefix for sluice, e.g. 'valgrind --tool=callgrind' (profiling; numbers then "
                         "mean nothing)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (configs, logs, CSV)")
    args = ap.parse_args()
    if args.smoke:
        args.records, args.distinct, args.reps = 20000, 2000, 1
        args.wide_records, args.backlog, args.profile_records = 5000, 40000, 2000
        args.no_pypi = True
        if args.only == ",".join(STEPS):
            args.only = "w1,w1avro,w1protobuf,insert"
    have_kafka = args.bootstrap or os.path.exists(os.path.join(ROOT, "tests", "support", "kafka.sh"))
    if not args.kafka:
        args.kafka = "real" if have_kafka and (args.bootstrap or not args.smoke) else "mock"
        if not have_kafka:
            log("== no tests/support/kafka.sh in this tree: measuring on librdkafka's mock cluster only")
    if args.kafka == "real" and not have_kafka:
        ap.error("no tests/support/kafka.sh to start Kafka with: use --bootstrap or --kafka mock")
    args.contenders = args.contenders.split(",")
    args.wrapper = args.sluice_wrapper.split()
    steps = args.only.split(",")
    for s in steps:
        if s not in STEPS:
            ap.error("unknown step %r (steps: %s)" % (s, ", ".join(STEPS)))

    started = datetime.datetime.now()
    workdir = tempfile.mkdtemp(prefix="sluice-bench.")
    os.chmod(workdir, 0o755)
    pg = None
    workloads = []
    bench = None
    kafka = None
    try:
        pg = Postgres(args.dsn, workdir)
        bench = Bench(args, pg, workdir)
        bench.load_start = "%.2f %.2f %.2f" % os.getloadavg()
        if args.kafka == "real":
            kafka = Kafka(args.bootstrap, workdir)
            bench.kafka = kafka
            bench.kafka_version = subprocess.run(
                ["bash", "-c", "ls %s 2>/dev/null | sed -n 's/^kafka-//p' | head -1" % os.path.join(
                    os.environ.get("SLUICE_KAFKA_CACHE", os.path.expanduser("~/.cache/sluice")))],
                capture_output=True, text=True).stdout.strip() or "?"
        if "w1" in steps and "python" in args.contenders and not args.no_pypi:
            bench.pypi = pypi_python()
            if bench.pypi:
                bench.pypi_key = "python (PyPI %s)" % bench.pypi[1]
        out = None
        if not args.smoke or args.out:
            out = args.out or os.path.join(HERE, "results", "%s-%s.md" % (started.strftime("%Y-%m-%d"),
                                                                           socket.gethostname()))
            os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)

        def partial():
            """The results so far, so that an interrupted run leaves them."""
            if not out:
                return
            try:
                text = bench.report(started)
            except Exception:  # noqa: a partial report is best effort
                return
            with open(out, "w") as f:
                f.write(text + "\n(partial: the run has not finished)\n")

        w1 = avro = mock = dbz = protobuf = None
        if set(steps) & {"w1avro", "w1protobuf"}:
            bench.registry = Registry()
        if "w1protobuf" in steps:
            protobuf = Workload(args, "w1protobuf", args.records, args.distinct, 5, workdir, registry=bench.registry,
                                kafka=kafka, wire="protobuf")
            workloads.append(protobuf)
            bench.w1protobuf_bytes = protobuf.bytes
        if "w1avro" in steps:
            avro = Workload(args, "w1avro", args.records, args.distinct, 5, workdir, registry=bench.registry,
                            kafka=kafka)
            workloads.append(avro)
            bench.w1avro_bytes = avro.bytes
        if set(steps) & {"w1", "w1dbz", "w1tx", "delivery", "insert", "workers", "rss"}:
            w1 = Workload(args, "w1", args.records, args.distinct, 5, workdir, kafka=kafka)
            workloads.append(w1)
            bench.librdkafka = w1.info["librdkafka"]
            bench.w1_bytes = w1.bytes
        if "w1" in steps and kafka:
            mock = Workload(args, "w1", args.records, args.distinct, 5, workdir, files=False)
            workloads.append(mock)
            mock.expected_md5, mock.expected_rows = w1.expected_md5, w1.expected_rows
        if w1 and avro and (w1.expected_md5, w1.expected_rows) != (avro.expected_md5, avro.expected_rows):
            raise BenchError("the Avro and JSON workloads differ in their final state")
        if w1 and protobuf and (w1.expected_md5, w1.expected_rows) != (protobuf.expected_md5, protobuf.expected_rows):
            raise BenchError("the Protobuf and JSON workloads differ in their final state")
        if "w1dbz" in steps:
            dbz = Workload(args, "w1dbz", args.records, args.distinct, 5, workdir, kafka=kafka, debezium=True)
            workloads.append(dbz)
            bench.w1dbz_bytes = dbz.bytes
            if (w1.expected_md5, w1.expected_rows) != (dbz.expected_md5, dbz.expected_rows):
                raise BenchError("the Debezium and JSON workloads differ in their final state")
        if "w1" in steps or avro or protobuf:
            bench.step_w1(w1 if "w1" in steps else None, args.reps, avro, mock, protobuf)
            partial()
        if dbz:
            bench.step_w1dbz(w1, dbz, args.reps)
            partial()
            dbz.stop()
        if mock:
            mock.stop()
        if avro:
            avro.stop()
        if protobuf:
            protobuf.stop()
        if w1:
            for s in ("w1tx", "delivery", "insert", "workers"):
                if s in steps:
                    getattr(bench, "step_" + s)(w1, args.reps)
                    partial()
            w1.stop()
        if "wide" in steps:
            wl = Workload(args, "wide", args.wide_records, max(1, args.wide_records // 5), args.wide_columns, workdir,
                          kafka=kafka)
            workloads.append(wl)
            bench.step_wide(wl, args.reps)
            partial()
            wl.stop()
        if "rss" in steps:
            wl = Workload(args, "backlog", args.backlog, args.distinct, 5, workdir, kafka=kafka)
            workloads.append(wl)
            bench.step_rss(wl, args.reps)
            partial()
            wl.stop()
        if "latency" in steps:
            wl = Workload(args, "lat", 0, 0, 5, workdir, files=False, kafka=kafka)
            workloads.append(wl)
            bench.step_latency(wl, args.reps)
            partial()
            wl.stop()
        if "profile" in steps:
            wl = Workload(args, "profile", args.profile_records, max(1, args.profile_records // 5), 5, workdir,
                          kafka=kafka)
            workloads.append(wl)
            bench.step_profile(wl)
            partial()
            wl.stop()
        if not hasattr(bench, "librdkafka"):
            bench.librdkafka = workloads[0].info.get("librdkafka", "?") if workloads else "?"
        if out:
            bench.plot = bench.make_plot(os.path.splitext(out)[0] + ".png")
        text = bench.report(started)
        log("")
        log(text)
        if out:
            with open(out, "w") as f:
                f.write(text)
            log("results written to %s" % out)
    except (BenchError, subprocess.CalledProcessError, psycopg2.Error) as e:
        log("bench: %s" % e)
        return 1
    finally:
        for wl in workloads:
            wl.stop()
        if bench and bench.registry:
            bench.registry.stop()
        if bench and pg:
            try:
                bench.drop_tables()
            except psycopg2.Error:
                pass
        if pg:
            pg.stop()
        if kafka:
            kafka.stop()
        if args.keep:
            log("work directory kept: %s" % workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    if bench and bench.failures:
        log("bench: %d measurement(s) failed" % len(bench.failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
