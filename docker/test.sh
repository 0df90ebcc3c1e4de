#!/bin/bash
# docker/test.sh - the container image, tested as a user runs it: Debian's
# container engine (installed and started here when missing, stopped again
# at the end), the base image pulled or, where the registry cannot be
# reached, made with debootstrap (tests/support/debian_root.sh, cached in
# ~/.cache/sluice) and imported under the exact tag docker/Dockerfile names;
# then docker/Dockerfile built, and the image run against a real PostgreSQL
# and Apache Kafka (SLUICE_TEST_DSN and SLUICE_TEST_BOOTSTRAP as tests/run.sh
# sets them, or throwaway servers started here):
#   - as uid 10001, a read-only root, every capability dropped, no new
#     privileges, 256 MiB: the records land in the table, the health check
#     turns healthy, `docker stop` exits 0 with every offset committed (in
#     sluice.offsets and in Kafka);
#   - a topic whose every record is bad (on_error: dlq) across three
#     `docker stop`/`docker start` cycles: each cycle keeps the dead letters
#     of the one before and adds to them, and at the end every record is a
#     dead letter and committed;
#   - the compose files: `docker compose config` (or docker-compose), the
#     images they name pulled where the machine can (those it cannot are
#     named), and the demo's own sluice configuration run in the image
#     against the CrateDB stand-in (tests/cratedb/crate_server.py) with only
#     its host names and ports pointed at the throwaway servers.
# Prints the image's size and build time.  tests/run.sh runs it unless
# SLUICE_DOCKER=0.
#   docker/test.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=${1:-build}
image=sluice:test
t_start=$SECONDS
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sluice-docker.XXXXXX")
chmod 755 "$tmp"
dockerd_pid=
started_pg=
started_kafka=
crate_pid=
containers=()
cleanup() {
    local c
    for c in "${containers[@]}"; do docker rm -f "$c" >/dev/null 2>&1 || true; done
    [ -z "$crate_pid" ] || kill "$crate_pid" 2>/dev/null || true
    [ -z "$started_kafka" ] || tests/support/kafka.sh stop "$tmp/kafka" || true
    [ -z "$started_pg" ] || tests/support/pgserver.sh stop "$tmp/pg" || true
    if [ -n "$dockerd_pid" ]; then
        kill "$dockerd_pid" 2>/dev/null || true
        wait "$dockerd_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
# wait_until SECONDS CONDITION: evaluate the shell text CONDITION every 0.5 s
# until it is true; false after SECONDS
wait_until() {
    local end=$((SECONDS + $1))
    until eval "$2"; do
        [ $SECONDS -lt $end ] || return 1
        sleep 0.5
    done
}

# --- the engine -------------------------------------------------------------
if ! command -v dockerd >/dev/null; then
    echo "== installing docker.io"
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends \
        docker.io >/dev/null
fi
if ! docker info >/dev/null 2>&1; then
    echo "== starting dockerd (log: $tmp/dockerd.log)"
    dockerd --pidfile "$tmp/dockerd.pid" > "$tmp/dockerd.log" 2>&1 &
    dockerd_pid=$!
    wait_until 60 'docker info >/dev/null 2>&1' || { tail -n 20 "$tmp/dockerd.log"; fail "dockerd did not start"; }
fi
echo "== $(docker version --format 'docker {{.Server.Version}}')"
compose=
if docker compose version >/dev/null 2>&1; then
    compose="docker compose"
elif command -v docker-compose >/dev/null; then
    compose=docker-compose
fi

# --- the base image -----------------------------------------------------------
for base in $(sed -n 's/^FROM \([^ ]*\).*/\1/p' docker/Dockerfile | sort -u); do
    docker image inspect "$base" >/dev/null 2>&1 && continue
    if timeout 60 docker pull -q "$base" >/dev/null 2>&1; then
        echo "== pulled $base"
        continue
    fi
    echo "== $base cannot be pulled here: made with debootstrap --variant=minbase and imported as $base"
    tarball=$(tests/support/debian_root.sh)
    docker import -c 'CMD ["bash"]' "$tarball" "$base" >/dev/null
done

# --- the build ----------------------------------------------------------------
echo "== docker build -f docker/Dockerfile -t $image ."
t0=$SECONDS
docker build --network host -f docker/Dockerfile -t "$image" . > "$tmp/build.log" 2>&1 ||
    { tail -n 40 "$tmp/build.log"; fail "docker build"; }
size=$(docker image inspect -f '{{.Size}}' "$image")
echo "   built in $((SECONDS - t0)) s (layers cached: $(grep -c 'Using cache' "$tmp/build.log" || true)); image size $((size / 1000000)) MB"
rdk=$(docker run --rm --entrypoint /bin/sh "$image" -c "dpkg-query -W -f='\${Version}' librdkafka1")
echo "   librdkafka in the image: $rdk"

# --- the servers ----------------------------------------------------------------
if [ -z "${SLUICE_TEST_DSN:-}" ]; then
    line=$(tests/support/pgserver.sh start "$tmp/pg")
    export SLUICE_TEST_DSN=${line#SLUICE_TEST_DSN=}
    started_pg=1
fi
if [ -z "${SLUICE_TEST_BOOTSTRAP:-}" ]; then
    line=$(tests/support/kafka.sh start "$tmp/kafka")
    export SLUICE_TEST_BOOTSTRAP=${line#SLUICE_TEST_BOOTSTRAP=}
    started_kafka=1
fi
sql() { PGOPTIONS="-c client_min_messages=warning" psql -X -q -t -A "$SLUICE_TEST_DSN" -c "$1"; }
# create_topic NAME PARTITIONS (the test broker creates no topic by itself)
create_topic() {
    /usr/bin/python3 - "$SLUICE_TEST_BOOTSTRAP" "$1" "$2" <<'EOF'
import sys
from confluent_kafka.admin import AdminClient, NewTopic
admin = AdminClient({"bootstrap.servers": sys.argv[1]})
for f in admin.create_topics([NewTopic(sys.argv[2], int(sys.argv[3]), 1)]).values():
    f.result(30)
EOF
}
tag=$$_$RANDOM
run_opts=(--network host --read-only --cap-drop ALL --security-opt no-new-privileges --memory 256m)

# --- rows land, healthy, docker stop exits 0 with the offsets committed ------------
topic=docker_orders_$tag
table=docker_orders_$tag
n=20000
sql "CREATE TABLE public.$table (id bigint PRIMARY KEY, amount numeric, note text)"
cat > "$tmp/orders.yaml" <<EOF
kafka:
  bootstrap.servers: $SLUICE_TEST_BOOTSTRAP
  group.id: docker-$tag
targets:
  pg:
    type: postgresql
    dsn: "$SLUICE_TEST_DSN"
routes:
  - name: orders
    topics: [$topic]
    target: pg
    table: public.$table
    format: json
admin:
  listen: 0.0.0.0:$((20000 + RANDOM % 20000))
EOF
admin_port=$(sed -n 's/.*listen: 0.0.0.0:\([0-9]*\)/\1/p' "$tmp/orders.yaml")
seq 1 $n | awk '{printf "%d|{\"id\":%d,\"amount\":%d.5,\"note\":\"n%d\"}\n", $1, $1, $1 % 1000, $1}' > "$tmp/orders.txt"
create_topic "$topic" 4
kcat -P -b "$SLUICE_TEST_BOOTSTRAP" -t "$topic" -K '|' -l "$tmp/orders.txt"
chmod 644 "$tmp/orders.yaml"
name=sluice-orders-$tag
containers+=("$name")
# the image's HEALTHCHECK curls 127.0.0.1:9464; here the port is another
docker run -d --name "$name" "${run_opts[@]}" -v "$tmp/orders.yaml:/etc/sluice/sluice.yaml:ro" \
    --health-cmd "curl -fsS -o /dev/null http://127.0.0.1:$admin_port/healthz || exit 1" \
    --health-interval 2s --health-start-period 30s "$image" >/dev/null
t0=$SECONDS
user=$(docker exec "$name" sh -c 'id -u; id -g')
caps=$(docker exec "$name" sh -c 'grep CapEff /proc/1/status')
wait_until 120 '[ "$(sql "SELECT count(*) FROM public.$table")" = $n ]' ||
    { docker logs "$name" 2>&1 | tail -n 20; fail "$(sql "SELECT count(*) FROM public.$table") of $n rows after 120 s"; }
echo "ok: $n records stored in $((SECONDS - t0)) s (the container's start included)"
[ "$(echo $user)" = "10001 10001" ] || fail "the container runs as uid/gid $(echo $user), not 10001 10001"
[ "$caps" = "CapEff:	0000000000000000" ] || fail "capabilities left: $caps"
docker exec "$name" sh -c 'touch /x' 2>/dev/null && fail "the root file system is writable"
echo "ok: uid/gid $(echo $user), $caps, the root file system read-only"
wait_until 60 '[ "$(docker inspect -f "{{.State.Health.Status}}" "$name")" = healthy ]' ||
    fail "health: $(docker inspect -f '{{.State.Health.Status}}' "$name")"
echo "ok: health check healthy"
docker stop -t 30 "$name" >/dev/null
rc=$(docker inspect -f '{{.State.ExitCode}}' "$name")
[ "$rc" = 0 ] || { docker logs "$name" 2>&1 | tail -n 20; fail "docker stop: exit $rc"; }
# every partition's next offset stored with the rows, and committed in Kafka
stored=$(sql "SELECT coalesce(sum(next_offset), 0) FROM sluice.offsets WHERE group_id = 'docker-$tag'")
[ "$stored" = $n ] || fail "sluice.offsets holds $stored of $n"
docker run --rm --network host -v "$tmp/orders.yaml:/etc/sluice/sluice.yaml:ro" "$image" \
    status -c /etc/sluice/sluice.yaml --json > "$tmp/status.json"
committed=$(/usr/bin/python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(sum(p["committed_offset"] or 0 for p in d["partitions"]))' "$tmp/status.json" 2>/dev/null || echo "?")
[ "$committed" = $n ] || { cat "$tmp/status.json"; fail "committed in Kafka: $committed of $n"; }
echo "ok: docker stop exited 0; offsets $n stored in sluice.offsets and committed in Kafka"
# --- a topic of only bad records: progress across three docker stop/start ---------
topic=docker_bad_$tag
table=docker_bad_$tag
n=20000
sql "CREATE TABLE public.$table (id bigint PRIMARY KEY, amount numeric NOT NULL CHECK (amount > 0))"
cat > "$tmp/bad.yaml" <<EOF
kafka:
  bootstrap.servers: $SLUICE_TEST_BOOTSTRAP
  group.id: docker-bad-$tag
targets:
  pg:
    type: postgresql
    dsn: "$SLUICE_TEST_DSN"
routes:
  - name: bad
    topics: [$topic]
    target: pg
    table: public.$table
    format: json
    on_error: dlq
    dlq_table: public.${table}_dead
batch:
  max_rows: $n
EOF
chmod 644 "$tmp/bad.yaml"
seq 1 $n | awk '{printf "%d|{\"id\":%d,\"amount\":-1}\n", $1, $1}' > "$tmp/bad.txt"
create_topic "$topic" 1
kcat -P -b "$SLUICE_TEST_BOOTSTRAP" -t "$topic" -K '|' -l "$tmp/bad.txt"
name=sluice-bad-$tag
containers+=("$name")
docker create --name "$name" "${run_opts[@]}" -v "$tmp/bad.yaml:/etc/sluice/sluice.yaml:ro" "$image" >/dev/null
before=0
for cycle in 1 2 3; do
    docker start "$name" >/dev/null
    # the whole batch is refused: sluice isolates the bad rows one by one
    wait_until 120 '[ "$(docker logs "$name" 2>&1 | grep -c "isolating the failing rows")" -ge $cycle ]' ||
        { docker logs "$name" 2>&1 | tail -n 20; fail "cycle $cycle: no isolation of bad rows"; }
    # an operator's stop comes at any moment: here some seconds into the
    # isolation (what is asserted is only that the stop keeps its work)
    sleep 5
    t0=$SECONDS
    docker stop -t 30 "$name" >/dev/null
    rc=$(docker inspect -f '{{.State.ExitCode}}' "$name")
    [ "$rc" = 0 ] || { docker logs "$name" 2>&1 | tail -n 20; fail "cycle $cycle: docker stop: exit $rc"; }
    stored=$(sql "SELECT coalesce(sum(next_offset), 0) FROM sluice.offsets WHERE group_id = 'docker-bad-$tag'")
    dead=$(sql "SELECT count(*) || ' ' || count(DISTINCT kafka_offset) FROM public.${table}_dead")
    echo "   cycle $cycle: docker stop in $((SECONDS - t0)) s, exit 0; offset $stored stored; dead letters (all, distinct): $dead"
    [ "$stored" -gt "$before" ] || fail "cycle $cycle: no progress (offset $stored, $before before)"
    [ "$dead" = "$stored $stored" ] || fail "cycle $cycle: $dead dead letters for offset $stored"
    before=$stored
done
[ "$(sql "SELECT count(*) FROM public.$table")" = 0 ] || fail "bad records stored"
echo "ok: a topic of only bad records: three docker stop/start cycles, each exit 0 and each adding dead letters ($before of $n)"

# --- the Kubernetes pod's configuration and Secret, mounted as the kubelet does ------
# The ConfigMap's sluice.yaml (mode 0644) and the Secret's files root-owned
# with the volume's defaultMode, given fsGroup as their group with read for
# it (a read-only volume); the container as runAsUser:runAsGroup with fsGroup
# as a supplementary group, read-only root, no capabilities.
k8s=$tmp/k8s
mkdir -p "$k8s"
pod=$(/usr/bin/python3 - docker/kubernetes/sluice.yaml "$k8s" <<'EOF'
import os, sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
kind = lambda k: [d for d in docs if d["kind"] == k]
dep = kind("Deployment")[0]["spec"]["template"]["spec"]
sc = dep.get("securityContext", {})
vols = {v["name"]: v for v in dep["volumes"]}
c = dep["containers"][0]
out = sys.argv[2]
for m in c["volumeMounts"]:
    v = vols[m["name"]]
    if "configMap" in v:
        cm = [d for d in kind("ConfigMap") if d["metadata"]["name"] == v["configMap"]["name"]][0]
        for item in v["configMap"]["items"]:
            path = os.path.join(out, m["mountPath"].lstrip("/"), item["path"])
            os.makedirs(os.path.dirname(path), exist_ok=True)
            open(path, "w").write(cm["data"][item["key"]])
            os.chmod(path, 0o644)
    if "secret" in v:
        sec = [d for d in kind("Secret") if d["metadata"]["name"] == v["secret"]["secretName"]][0]
        d = os.path.join(out, m["mountPath"].lstrip("/"))
        os.makedirs(d, exist_ok=True)
        mode = v["secret"].get("defaultMode", 0o644)
        fs = sc.get("fsGroup")
        for k, val in sec["stringData"].items():
            path = os.path.join(d, k)
            open(path, "w").write(val)
            os.chown(path, 0, fs if fs is not None else 0)
            os.chmod(path, mode | 0o440 if fs is not None else mode)
print(sc["runAsUser"], sc.get("runAsGroup", 0), sc.get("fsGroup", ""))
EOF
) || fail "reading docker/kubernetes/sluice.yaml"
read -r k_uid k_gid k_fs <<< "$pod"
k_opts=(--user "$k_uid:$k_gid" ${k_fs:+--group-add "$k_fs"} --read-only --cap-drop ALL
        --security-opt no-new-privileges -v "$k8s/etc/sluice:/etc/sluice:ro")
out=$(docker run --rm "${k_opts[@]}" "$image" --check --offline -c /etc/sluice/sluice.yaml 2>&1) ||
    fail "the pod's configuration, as uid $k_uid gid $k_gid with fsGroup ${k_fs:-none}: $out"
echo "ok: the Kubernetes pod (uid $k_uid, gid $k_gid, fsGroup ${k_fs:-none}) reads its Secret" \
    "($(stat -c '%a %U:%g' "$k8s"/etc/sluice/secrets/*)): $(echo "$out" | tail -n 1)"

# --- the compose demo's own sluice configuration, against the CrateDB stand-in ----
# docker/sluice.yaml as the compose file mounts it, with only its addresses
# (and, for a broker and database shared between runs, its group, topic and
# admin port) pointed at this test's servers; docker/init.json creates the
# table as cratedb-init does; the records are the compose file's example.
crate_out=$tmp/crate.out
/usr/bin/python3 tests/cratedb/crate_server.py --dsn "$SLUICE_TEST_DSN" > "$crate_out" 2>&1 &
crate_pid=$!
wait_until 30 'grep -q SLUICE_TEST_CRATEDB_URL= "$crate_out"' || { cat "$crate_out"; fail "the CrateDB stand-in did not start"; }
crate_url=$(sed -n 's/^SLUICE_TEST_CRATEDB_URL=//p' "$crate_out")
# CrateDB's default schema exists on every CrateDB; the stand-in's database needs it made
sql "CREATE SCHEMA IF NOT EXISTS doc; DROP TABLE IF EXISTS doc.readings, doc.sluice_dead"
if ! curl -sf -H 'Content-Type: application/json' -d @docker/init.json "$crate_url/_sql" > "$tmp/init.out"; then
    # the stand-in learns CrateDB's table designs (generated columns,
    # PARTITIONED BY, CLUSTERED BY) with the CrateDB work on generated key
    # columns; until then this part cannot run, and says so
    echo "note: NOT RUN: the compose demo's configuration against the CrateDB stand-in: the stand-in refuses" \
        "docker/init.json's table: $(curl -s -H 'Content-Type: application/json' -d @docker/init.json "$crate_url/_sql")"
else
topic=readings_$tag
demo_port=$((20000 + RANDOM % 20000))
sed -e "s#bootstrap.servers: kafka:9092#bootstrap.servers: $SLUICE_TEST_BOOTSTRAP#" \
    -e "s#group.id: sluice-crate#group.id: sluice-crate-$tag#" -e "s#url: http://cratedb:4200#url: $crate_url#" \
    -e "s#topics: \[readings\]#topics: [$topic]#" -e "s#listen: 0.0.0.0:9464#listen: 0.0.0.0:$demo_port#" \
    docker/sluice.yaml > "$tmp/demo.yaml"
chmod 644 "$tmp/demo.yaml"
{ diff docker/sluice.yaml "$tmp/demo.yaml" || true; } | grep '^>' | sed 's/^>/   changed:/'
create_topic "$topic" 4
# the compose file's example record, for 10 devices over 3 months (key: the primary key but month)
for d in 0 1 2 3 4 5 6 7 8 9; do
    for m in 0 1 2; do
        ts=$((1717200000000 + m * 2678400000 + d * 1000))
        printf '{"device":"d%d","ts":%d}|{"device":"d%d","ts":%d,"temp":2%d.5,"loc":[13.4,52.5]}\n' $d $ts $d $ts $m
    done
done > "$tmp/readings.txt"
kcat -P -b "$SLUICE_TEST_BOOTSTRAP" -t "$topic" -K '|' -l "$tmp/readings.txt"
name=sluice-demo-$tag
containers+=("$name")
docker run -d --name "$name" "${run_opts[@]}" -v "$tmp/demo.yaml:/etc/sluice/sluice.yaml:ro" "$image" >/dev/null
demo_rows() { sql "SELECT count(*) FROM doc.readings"; }
demo_dead() {
        if [ "$(sql "SELECT to_regclass('doc.sluice_dead') IS NOT NULL")" = t ]; then
            sql "SELECT count(*) FROM doc.sluice_dead"
        else
            echo 0
        fi
    }
wait_until 120 '[ "$(demo_rows)" = 30 ] || [ "$(demo_dead)" != 0 ]' || true
rows=$(demo_rows) dead=$(demo_dead)
docker stop -t 30 "$name" >/dev/null
rc=$(docker inspect -f '{{.State.ExitCode}}' "$name")
if [ "$rows" != 30 ] || [ "$dead" != 0 ] || [ "$rc" != 0 ]; then
    docker logs "$name" 2>&1 | tail -n 15
    fail "the compose demo's configuration: $rows of 30 readings stored, $dead dead letters, exit $rc"
fi
echo "ok: the compose demo's configuration stored the 30 demo readings in doc.readings (the stand-in), no dead letter, exit 0:"
sql "SELECT device, count(*), min(month)::date, max(month)::date FROM doc.readings GROUP BY device ORDER BY device LIMIT 3" |
    sed 's/^/   /'
fi

# --- the compose files ------------------------------------------------------------
if [ -z "$compose" ]; then
    echo "note: neither docker compose nor docker-compose: the compose files are not checked here"
else
    unpullable=()
    for f in docker/compose.yaml docker/debezium/compose.yaml; do
        $compose -f "$f" config -q || fail "$compose -f $f config"
        echo "ok: $compose -f $f config"
        for img in $(/usr/bin/python3 -c '
import sys, yaml
print(" ".join(s["image"] for s in yaml.safe_load(open(sys.argv[1]))["services"].values() if "image" in s))' "$f"); do
            docker image inspect "$img" >/dev/null 2>&1 || timeout 60 docker pull -q "$img" >/dev/null 2>&1 ||
                unpullable+=("$img")
        done
    done
    [ ${#unpullable[@]} = 0 ] ||
        echo "note: images this machine cannot pull (those services are not run here): $(printf '%s\n' "${unpullable[@]}" | sort -u | tr '\n' ' ')"
fi
echo "docker/test.sh: image $((size / 1000000)) MB, librdkafka $rdk, $((SECONDS - t_start)) s in all"
echo "1 passed, 0 failed"
