#!/usr/bin/env python3
"""docs/grafana-dashboard.json: valid JSON, every panel has a query, every
sluice_* / process_* series it queries is one sluice exports (the family
table in src/metrics.c), and each PromQL expression parses (promtool's rule
checker).

usage: check_dashboard.py SOURCE_ROOT
"""
import json
import os
import re
import subprocess
import sys
import tempfile

root = sys.argv[1]
with open(os.path.join(root, "docs/grafana-dashboard.json")) as f:
    dash = json.load(f)
with open(os.path.join(root, "src/metrics.c")) as f:
    src = f.read()
names = set(re.findall(r'\{"(sluice_[a-z_]+)", (?:COUNTER|GAUGE|HISTOGRAM)', src))
hist = set(re.findall(r'\{"(sluice_[a-z_]+)", HISTOGRAM', src))
known = set(names) | {h + s for h in hist for s in ("_bucket", "_sum", "_count")}
known |= {"sluice_build_info", "process_resident_memory_bytes", "process_cpu_seconds_total",
          "process_start_time_seconds"}
failures = 0
exprs = []
for p in dash["panels"]:
    if not p.get("targets"):
        print(f"FAIL: panel {p['title']} has no query")
        failures += 1
    for t in p.get("targets", []):
        exprs.append(t["expr"])
        for n in re.findall(r"\b((?:sluice|process)_[a-z_]+)\b", t["expr"]):
            if n not in known:
                print(f"FAIL: panel {p['title']}: {n} is not a metric sluice exports")
                failures += 1
titles = " ".join(p["title"].lower() for p in dash["panels"])
for must in ("lag", "rows written", "flush latency", "errors", "dead letters"):
    if must not in titles:
        print(f"FAIL: no panel for {must}")
        failures += 1
# the expressions parse: as recording rules, with Grafana's variables filled in
rules = {"groups": [{"name": "dashboard", "rules": [
    {"record": f"dashboard:expr{i}",
     "expr": e.replace("$__rate_interval", "5m").replace("$job", ".*").replace("$instance", ".*")}
    for i, e in enumerate(exprs)]}]}
with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
    json.dump(rules, f)
r = subprocess.run(["promtool", "check", "rules", f.name], capture_output=True, text=True)
os.unlink(f.name)
if r.returncode:
    print("FAIL: promtool check rules:", r.stdout, r.stderr)
    failures += 1
print(f"{len(exprs)} queries checked; " + (f"{failures} failed" if failures else "all good"))
sys.exit(1 if failures else 0)
