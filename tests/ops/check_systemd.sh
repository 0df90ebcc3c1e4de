#!/bin/bash
# check_systemd.sh - configs/sluice.service passes `systemd-analyze verify`
# without a single complaint (unknown keys are only warnings there, so any
# output fails), its hardening keeps the exposure below 2.0 by
# `systemd-analyze security`, and its ExecStartPre, ExecStart and ExecReload
# run as the unit would run them, as far as a machine without systemd as PID 1
# allows (as root; otherwise that part is skipped):
#   - the files installed as docs/operations.md installs them (root-owned,
#     the configuration 644, the password 600), and LoadCredential='s copy of
#     the password in the credentials directory, owned by the service's user;
#   - DynamicUser=: an unused uid/gid of systemd's dynamic range, no
#     supplementary groups; NoNewPrivileges=, CapabilityBoundingSet= and
#     AmbientCapabilities= by setpriv; ProtectSystem=strict (the root file
#     system read-only) and ProtectHome= (/home, /root empty) in a mount
#     namespace of its own;
#   - Type=notify: READY=1 awaited on a NOTIFY_SOCKET; ExecReload='s command
#     line run with MAINPID set, the reload seen in the log; SIGTERM, exit 0.
# Not approximated: the system-call filter, PrivateUsers=, PrivateDevices=,
# PrivateTmp=, ProtectProc= and the other kernel-level restrictions; and the
# paths /etc/sluice and /run/credentials are moved under a temporary
# directory (the unit's command lines and the configuration are rewritten to
# match).  ExecStart and ExecReload need SLUICE_TEST_DSN and
# SLUICE_TEST_BOOTSTRAP (tests/run.sh sets them); without them only
# ExecStartPre runs.
#   check_systemd.sh SOURCE_ROOT SLUICE_BINARY
set -euo pipefail
root=$1
sluice=$(realpath "$2")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# the unit names /usr/bin/sluice; verify checks the binary exists
sed "s#/usr/bin/sluice#$sluice#g" "$root/configs/sluice.service" > "$tmp/sluice.service"
out=$(systemd-analyze verify "$tmp/sluice.service" 2>&1) || { echo "FAIL: verify: $out"; exit 1; }
if [ -n "$out" ]; then
    echo "FAIL: systemd-analyze verify complained:"
    echo "$out"
    exit 1
fi
echo "ok: systemd-analyze verify"
for key in Type=notify DynamicUser=yes ProtectSystem=strict NoNewPrivileges=yes WatchdogSec= ExecReload= \
           LoadCredential=; do
    grep -q "^$key" "$tmp/sluice.service" || { echo "FAIL: $key missing"; exit 1; }
done
if ! systemd-analyze security --offline=true --threshold=20 "$tmp/sluice.service" > "$tmp/security.txt" 2>&1; then
    tail -3 "$tmp/security.txt"
    echo "FAIL: exposure above 2.0"
    exit 1
fi
grep "Overall exposure" "$tmp/security.txt"
# TimeoutStopSec must leave room for the default shutdown_timeout (25 s)
stop=$(sed -n 's/^TimeoutStopSec=\([0-9]*\)s$/\1/p' "$tmp/sluice.service")
[ "$stop" -gt 25 ] || { echo "FAIL: TimeoutStopSec=${stop}s is not above shutdown_timeout 25s"; exit 1; }
if [ "$(id -u)" != 0 ] || ! command -v setpriv >/dev/null || ! unshare -m true 2>/dev/null; then
    echo "skipped: running the unit's command lines needs root, setpriv and unshare"
    echo "1 passed, 0 failed"
    exit 0
fi
# the first free uid of systemd's dynamic range (61184-65519)
uid=61184
while getent passwd $uid >/dev/null || getent group $uid >/dev/null; do uid=$((uid + 1)); done
chmod 755 "$tmp"
etc=$tmp/etc/sluice
creds=$tmp/run/credentials/sluice.service
install -d -m 755 "$tmp/etc" "$etc"        # ConfigurationDirectoryMode=
# the configuration: the example, its password from the credential
sed 's#password=${PGPASSWORD:-}#password=${file:/run/credentials/sluice.service/pg-password}#' \
    "$root/configs/sluice.yaml" > "$tmp/sluice.yaml"
grep -q 'file:/run/credentials/sluice.service/pg-password' "$tmp/sluice.yaml" ||
    { echo "FAIL: configs/sluice.yaml has no password=\${PGPASSWORD:-} to read from the credential"; exit 1; }
live=
if [ -n "${SLUICE_TEST_DSN:-}" ] && [ -n "${SLUICE_TEST_BOOTSTRAP:-}" ]; then
    live=1
    # the live start: the throwaway servers, one route into a new table
    cat > "$tmp/sluice.yaml" <<EOF
kafka:
  bootstrap.servers: $SLUICE_TEST_BOOTSTRAP
  group.id: sluice-systemd-check-$$
targets:
  pg:
    type: postgresql
    dsn: "$SLUICE_TEST_DSN password=\${file:/run/credentials/sluice.service/pg-password}"
routes:
  - topics: [sluice_systemd_check_$$]
    target: pg
    table: public.sluice_systemd_check_$$
    format: json
EOF
    psql -q "$SLUICE_TEST_DSN" -c "CREATE TABLE public.sluice_systemd_check_$$ (id int PRIMARY KEY)" ||
        { echo "FAIL: cannot create the table"; exit 1; }
    # the test broker creates no topic by itself
    /usr/bin/python3 -c '
import sys
from confluent_kafka.admin import AdminClient, NewTopic
a = AdminClient({"bootstrap.servers": sys.argv[1]})
for f in a.create_topics([NewTopic(sys.argv[2], 1, 1)]).values():
    f.result(30)' "$SLUICE_TEST_BOOTSTRAP" "sluice_systemd_check_$$" || { echo "FAIL: cannot create the topic"; exit 1; }
fi
install -m 644 "$tmp/sluice.yaml" "$etc/sluice.yaml"
printf 'secret\n' > "$tmp/pw" && install -m 600 "$tmp/pw" "$etc/pg-password"
# LoadCredential=: systemd copies the file, readable by the service's user only
install -d -m 755 "$tmp/run" "$tmp/run/credentials"
install -d -m 500 -o $uid -g $uid "$creds"
install -m 400 -o $uid -g $uid "$etc/pg-password" "$creds/pg-password"
sed -i -e "s#/etc/sluice/#$etc/#g" -e "s#/run/credentials/#$tmp/run/credentials/#g" \
    "$tmp/sluice.service" "$etc/sluice.yaml"

# one command line of the unit
unit_cmd() { sed -n "s/^$1=//p" "$tmp/sluice.service"; }
# run "$@" as the unit's user in its sandbox (as approximated above)
sandboxed() {
    unshare -m --propagation private -- /bin/sh -c '
        mount -t tmpfs -o ro tmpfs /home && mount -t tmpfs -o ro tmpfs /root &&
        mount -o remount,bind,ro / || exit 1
        uid=$1; shift
        exec setpriv --reuid=$uid --regid=$uid --clear-groups --no-new-privs \
            --inh-caps=-all --ambient-caps=-all --bounding-set=-all -- "$@"' sandboxed $uid "$@"
}

# ExecStartPre, with the configuration as installed, then as it would be at
# mode 640 (root's group): the dynamic user must fail to read that one
pre=$(unit_cmd ExecStartPre)
# shellcheck disable=SC2086
if ! out=$(sandboxed $pre 2>&1); then
    echo "FAIL: ExecStartPre as uid $uid: $pre"
    echo "$out"
    exit 1
fi
echo "ok: ExecStartPre as uid $uid (DynamicUser=), read-only root: $(echo "$out" | tail -n1)"
chmod 640 "$etc/sluice.yaml"
# shellcheck disable=SC2086
if out=$(sandboxed $pre 2>&1) || ! echo "$out" | grep -q "Permission denied"; then
    echo "FAIL: a configuration of mode 640 did not fail with Permission denied: $out"
    exit 1
fi
chmod 644 "$etc/sluice.yaml"
echo "ok: at mode 640 the dynamic user could not read it: $(echo "$out" | tail -n1)"

if [ -z "$live" ]; then
    echo "skipped: ExecStart and ExecReload (no SLUICE_TEST_DSN and SLUICE_TEST_BOOTSTRAP)"
    echo "1 passed, 0 failed"
    exit 0
fi
# Type=notify: a datagram socket the service's user may send to
sock=$tmp/notify
python3 -c '
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
os.chmod(sys.argv[1], 0o666)
open(sys.argv[2], "w").close()
while True:
    m = s.recv(4096).decode()
    with open(sys.argv[2], "a") as f:
        f.write(m.replace("\n", " ") + "\n")
' "$sock" "$tmp/notified" &
listener=$!
main=
mainpid=
trap '[ -z "$mainpid" ] || kill -9 $mainpid 2>/dev/null; kill $listener 2>/dev/null; rm -rf "$tmp"
      psql -q "$SLUICE_TEST_DSN" -c "DROP TABLE IF EXISTS public.sluice_systemd_check_$$"' EXIT
wait_for() { # FILE PATTERN SECONDS
    local end=$((SECONDS + $3))
    until [ -f "$1" ] && grep -q -- "$2" "$1"; do
        [ $SECONDS -lt $end ] || return 1
        sleep 0.2
    done
}
end=$((SECONDS + 10))
until [ -S "$sock" ] && [ -f "$tmp/notified" ]; do
    [ $SECONDS -lt $end ] || { echo "FAIL: the notify socket did not start"; exit 1; }
    sleep 0.2
done
start=$(unit_cmd ExecStart)
# shellcheck disable=SC2086
NOTIFY_SOCKET=$sock sandboxed $start > "$tmp/sluice.log" 2>&1 &
main=$!
# the main process: the descendant of $main that runs sluice (unshare, sh
# and setpriv exec into it)
find_main() {
    local p=$1 c
    for _ in 1 2 3 4 5; do
        [ "$(cat /proc/"$p"/comm 2>/dev/null)" = sluice ] && { echo "$p"; return; }
        c=$(cat /proc/"$p"/task/*/children 2>/dev/null | tr ' ' '\n' | grep . | head -n1)
        [ -n "$c" ] || return 1
        p=$c
    done
}
if ! wait_for "$tmp/notified" "READY=1" 120; then
    echo "FAIL: no READY=1 from ExecStart within 120 s:"
    tail -n 30 "$tmp/sluice.log"
    exit 1
fi
mainpid=$(find_main $main) || { echo "FAIL: no sluice process under $main"; exit 1; }
echo "ok: ExecStart as uid $(stat -c %u /proc/"$mainpid"): READY=1"
[ "$(stat -c %u /proc/"$mainpid")" = "$uid" ] || { echo "FAIL: MAINPID $mainpid does not run as uid $uid"; exit 1; }
reload=$(unit_cmd ExecReload)
# systemd sets MAINPID in ExecReload's environment
eval "MAINPID=$mainpid sandboxed $reload" || { echo "FAIL: ExecReload: $reload"; exit 1; }
if ! wait_for "$tmp/sluice.log" "reload" 30; then
    echo "FAIL: ExecReload ($reload) did not make sluice reload:"
    tail -n 20 "$tmp/sluice.log"
    exit 1
fi
echo "ok: ExecReload ($reload): $(grep reload "$tmp/sluice.log" | head -n1)"
kill -TERM "$mainpid"
rc=0
wait $main || rc=$?
mainpid=
[ $rc = 0 ] || { echo "FAIL: exit $rc after SIGTERM:"; tail -n 20 "$tmp/sluice.log"; exit 1; }
echo "ok: SIGTERM: exit 0"
echo "1 passed, 0 failed"
