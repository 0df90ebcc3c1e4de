"""servers.py - the processes a soak runs and breaks: PostgreSQL (two
servers: the sink's, and the one behind the CrateDB stand-in), an Apache
Kafka broker, the test schema registry, the CrateDB stand-in, and the sluice
daemons.  Each is started by the repository's own scripts (tests/support/pgserver.sh,
tests/support/kafka.sh, tests/avro/registry_server.py, tests/cratedb/crate_server.py)
and can be stopped, killed and restarted on the same ports and data."""

import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PGBIN = os.environ.get("PGBIN", "/usr/lib/postgresql/15/bin")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(cmd, timeout=300):
    """Run a repository script; its stdout, or an exception with its stderr."""
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(cmd), p.returncode, p.stderr.strip()[-2000:]))
    return p.stdout


class PgServer:
    """A throwaway PostgreSQL server (tests/support/pgserver.sh) in DIR."""

    def __init__(self, d):
        self.dir = d
        self.dsn = None

    def start(self, conf=""):
        """Start it; @conf adds lines to its configuration (SLUICE_PG_CONF)."""
        env = dict(os.environ, SLUICE_PG_CONF=conf) if conf else None
        p = subprocess.run(["bash", os.path.join(ROOT, "tests/support/pgserver.sh"), "start", self.dir],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=300, env=env)
        if p.returncode != 0:
            raise RuntimeError("pgserver.sh start failed (%d): %s" % (p.returncode, p.stderr.strip()[-2000:]))
        out = p.stdout
        self.dsn = out.strip().split("=", 1)[1]
        return self.dsn

    def ctl(self, action):
        cmd = [PGBIN + "/pg_ctl", "-D", self.dir + "/data", "-l", self.dir + "/postgres.log", "-w", "-t", "60"]
        cmd += action.split()
        if os.getuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--"] + cmd
        run(cmd, timeout=120)

    def stop(self):
        try:
            run(["bash", os.path.join(ROOT, "tests/support/pgserver.sh"), "stop", self.dir])
        except Exception as e:  # best effort at teardown
            print("soak: %s" % e, flush=True)


class Broker:
    """A one-node Apache Kafka cluster (tests/support/kafka.sh) in DIR."""

    def __init__(self, d):
        self.dir = d
        self.bootstrap = None

    def script(self, *args, timeout=600):
        # a broker restarted on a loaded machine may take minutes to load
        # its logs (tests/support/kafka.sh waits 120 s by default)
        os.environ.setdefault("SLUICE_KAFKA_START_TIMEOUT", "300")
        return run(["bash", os.path.join(ROOT, "tests/support/kafka.sh")] + list(args), timeout=timeout)

    def start(self):
        out = self.script("start", self.dir)
        self.bootstrap = out.strip().split("=", 1)[1]
        return self.bootstrap

    def topics(self, names, partitions):
        """Create topics (replication factor 1) through the admin API: the
        broker's own tool (tests/support/kafka.sh topic) takes seconds per topic."""
        from confluent_kafka.admin import AdminClient, NewTopic
        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        futures = admin.create_topics([NewTopic(n, partitions, 1) for n in names], operation_timeout=30)
        for n, f in futures.items():
            f.result(60)

    def kill(self):
        self.script("kill", self.dir, "1")

    def restart(self):
        self.script("restart", self.dir, "1")

    def stop(self):
        try:
            self.script("stop", self.dir)
        except Exception as e:
            print("soak: %s" % e, flush=True)


class Child:
    """A helper server run by python3 (the schema registry, the CrateDB
    stand-in) on a fixed port, so that a restart comes back where the
    daemons look for it."""

    def __init__(self, name, argv, logpath, ready_url):
        self.name, self.argv, self.logpath, self.ready_url = name, argv, logpath, ready_url
        self.proc = None

    def start(self):
        log = open(self.logpath, "ab")
        self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited at start (%d), see %s" % (self.name, self.proc.returncode, self.logpath))
            try:
                urllib.request.urlopen(self.ready_url, timeout=1).read()
                return
            except urllib.error.HTTPError:
                return  # it answers
            except Exception:
                time.sleep(0.1)
        raise RuntimeError("%s did not answer %s within 30 s" % (self.name, self.ready_url))

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


SANITIZER = re.compile(r"ERROR: (AddressSanitizer|LeakSanitizer|ThreadSanitizer)|WARNING: ThreadSanitizer|"
                       r"runtime error: |SUMMARY: (Address|Undefined|Thread|Leak)Sanitizer")


DAEMONS = []     # every Sluice made: killed when the soak is torn down


class Sluice:
    """One sluice daemon: its configuration file, admin port and log.  The
    process may be stopped and started again any number of times; every
    exit is recorded with the reason the soak had for it (None: unasked)."""

    def __init__(self, name, binary, config, admin_port, logdir, env):
        self.name, self.binary, self.config, self.admin_port = name, binary, config, admin_port
        self.logpath = os.path.join(logdir, name + ".log")
        self.env = env
        self.proc = None
        self.lock = threading.Lock()
        self.expect_exit = None     # why the soak stopped it: "sigterm", "kill9"
        self.started_at = 0.0
        self.generation = 0         # starts so far
        self.hups = 0               # SIGHUPs sent to the running process
        self.log_offset = 0         # where the running process's log starts
        DAEMONS.append(self)

    def start(self):
        with self.lock:
            assert self.proc is None or self.proc.poll() is not None
            log = open(self.logpath, "ab")
            self.log_offset = log.tell()
            log.write(("---- soak: start %d of %s ----\n" % (self.generation + 1, self.name)).encode())
            log.flush()
            self.proc = subprocess.Popen([self.binary, "-c", self.config], stdout=log, stderr=subprocess.STDOUT,
                                         env=self.env, start_new_session=True)
            log.close()
            self.expect_exit = None
            self.started_at = time.time()
            self.generation += 1
            self.hups = 0

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def pid(self):
        return self.proc.pid if self.proc else None

    def signal(self, sig, why):
        with self.lock:
            if not self.alive():
                return False
            if why:
                self.expect_exit = why
            if sig == signal.SIGHUP:
                self.hups += 1
            self.proc.send_signal(sig)
            return True

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def log_text(self, whole=False):
        try:
            with open(self.logpath, "rb") as f:
                if not whole:
                    f.seek(self.log_offset)
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, n=40):
        return "\n".join(self.log_text(True).splitlines()[-n:])

    def sanitizer_report(self):
        text = self.log_text(True)
        m = SANITIZER.search(text)
        if not m:
            return None
        start = text.rfind("\n", 0, max(0, m.start() - 1500)) + 1
        return text[start:m.start() + 4000]

    def catches(self, sig):
        """Whether the process has a handler for @sig (SigCgt in its
        /proc status; False when it cannot be read)."""
        try:
            with open("/proc/%d/status" % self.proc.pid) as f:
                for line in f:
                    if line.startswith("SigCgt:"):
                        return bool(int(line.split()[1], 16) >> (int(sig) - 1) & 1)
        except (OSError, ValueError, AttributeError):
            pass
        return False

    def rss_bytes(self):
        try:
            with open("/proc/%d/status" % self.proc.pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) * 1024
        except (OSError, AttributeError):
            return None
        return None
