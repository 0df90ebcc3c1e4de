#!/bin/bash
# check_systemd.sh - configs/sluice.service passes `systemd-analyze verify`
# without a single complaint (unknown keys are only warnings there, so any
# output fails), its hardening keeps the exposure below 2.0 by
# `systemd-analyze security`, and its ExecStartPre/ExecStart run.
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
echo "1 passed, 0 failed"
