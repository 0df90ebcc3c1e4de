#!/usr/bin/python3
"""Instructions per record by stage, from a callgrind profile of sluice.

    bench/profile.py [--records N] [--distinct N] [--keep-profile FILE]
    bench/profile.py --from callgrind.out.PID --records N

Runs bench/bench.py's W1 step (or with --format its Avro or Debezium
variant; sluice only, one repetition, 100,000 records
by default) with sluice under `valgrind --tool=callgrind`, then prints the
inclusive instruction counts of each stage of the record path divided by the
number of records.  Instruction counts do not depend on the machine's load,
so the table compares revisions on a busy machine too.  See docs/benchmark.md.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# (stage, functions whose inclusive counts add up to it, functions subtracted)
STAGES = [
    ("decode (general path: JSON/Avro into a tree)", ["sl_decode"], []),
    ("map (general path: tree into the row's cells)", ["sl_map_change"], []),
    # sl_cells_map: the direct readers behind cells.h (JSON, Avro); older
    # revisions called the JSON one, sl_json_cells_map, directly
    ("decode+map (direct reader)", ["sl_cells_map|sl_json_cells_map"], []),
    ("free the tree", ["sl_change_clear"], []),
    ("row into its own allocation", ["sl_rowbuilder_finish"], []),
    ("batch (collapse per key)", ["sl_batch_add"], []),
    ("free the batch's rows", ["sl_batch_clear"], []),
    ("COPY bytes", ["copy_rows", "copy_rows.constprop.0", "copy_rows.isra.0"], []),
    ("write (SQL, libpq, waiting excluded)", ["pg_write"],
     ["copy_rows", "copy_rows.constprop.0", "copy_rows.isra.0"]),
    ("poll (librdkafka, worker thread)", ["rd_kafka_consumer_poll"], []),
    ("message destroy", ["rd_kafka_message_destroy"], []),
]
DECODE_TO_COPY = {"decode (general path: JSON/Avro into a tree)", "map (general path: tree into the row's cells)",
                  "decode+map (direct reader)", "free the tree", "row into its own allocation",
                  "batch (collapse per key)", "free the batch's rows", "COPY bytes"}


def inclusive(profile):
    out = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", profile],
                         capture_output=True, text=True, check=True).stdout
    total, funcs = None, {}
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+)\s+\(.*?\)\s+(.*)$", line)
        if not m:
            continue
        n = int(m.group(1).replace(",", ""))
        what = m.group(2)
        if what.startswith("PROGRAM TOTALS"):
            total = n
            continue
        name = what.split(" [")[0].split(":")[-1]
        funcs[name] = max(funcs.get(name, 0), n)
    return total, funcs


def table(profile, records):
    total, f = inclusive(profile)
    rows = []
    chain = 0
    for stage, plus, minus in STAGES:
        # "a|b": the first of these names the profile has
        n = sum(next((f[a] for a in p.split("|") if a in f), 0) for p in plus)
        if minus:
            n -= max([f.get(m, 0) for m in minus] + [0])
        if n <= 0:
            continue
        if stage in DECODE_TO_COPY:
            chain += n
        rows.append((stage, n / records))
    lines = ["| stage | instructions per record |", "|---|---:|"]
    lines += ["| %s | %.0f |" % (s, v) for s, v in rows]
    lines.append("| **decode to COPY bytes** (the stages above marked as such) | **%.0f** |" % (chain / records))
    lines.append("| whole process (all threads, startup included) | %.0f |" % (total / records))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=100000)
    ap.add_argument("--distinct", type=int, default=20000)
    ap.add_argument("--format", choices=["json", "avro", "debezium"], default="json",
                    help="W1 in JSON (step w1), in Avro (w1avro) or as Debezium change events with schemas (w1dbz)")
    ap.add_argument("--from", dest="src", help="summarise an existing callgrind profile")
    ap.add_argument("--keep-profile", help="where to keep the callgrind profile")
    ap.add_argument("--build", default=os.environ.get("SLUICE_BENCH_BUILD_DIR", os.path.join(ROOT, "build-bench")))
    a, rest = ap.parse_known_args()
    if a.src:
        print(table(a.src, a.records))
        return 0
    tmp = tempfile.mkdtemp(prefix="sluice-profile.")
    prefix = os.path.join(tmp, "callgrind")
    cmd = [sys.executable, os.path.join(HERE, "bench.py"), "--sluice", os.path.join(a.build, "src", "sluice"),
           "--bench-kafka", os.path.join(a.build, "bench", "bench-kafka"),
           "--only", {"json": "w1", "avro": "w1avro", "debezium": "w1dbz"}[a.format],
           "--contenders", "debezium" if a.format == "debezium" else "sluice", "--reps", "1",
           "--records", str(a.records), "--distinct", str(a.distinct), "--out", os.path.join(tmp, "bench.md"),
           "--sluice-wrapper", "valgrind --tool=callgrind --callgrind-out-file=%s.%%p" % prefix] + rest
    subprocess.run(cmd, check=True)
    profiles = [os.path.join(tmp, p) for p in os.listdir(tmp) if p.startswith("callgrind.")]
    if len(profiles) != 1:
        sys.exit("expected one profile in %s" % tmp)
    print(table(profiles[0], a.records))
    if a.keep_profile:
        os.replace(profiles[0], a.keep_profile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
