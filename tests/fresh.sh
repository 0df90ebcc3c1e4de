#!/bin/bash
# fresh.sh - the README's promise, checked: its two commands on a minimal
# Debian 12.  A root made with `debootstrap --variant=minbase` plus git and
# ca-certificates (tests/support/debian_root.sh, cached in ~/.cache/sluice),
# unpacked anew for every run; the host's locally added certificate
# authorities copied in (/usr/local/share/ca-certificates: networks with an
# intercepting proxy need them for apt, Maven and pip); a clone of this
# repository's HEAD (commit first: uncommitted changes are not in it); then,
# inside the root as root, `bash tests/demo.sh` and `bash tests/run.sh`
# exactly as the README writes them, each command's time and result
# reported.  Nothing else is installed beforehand: whatever the commands
# need, they must install themselves.
#
# The container test (docker/test.sh) is left out inside the root
# (SLUICE_DOCKER=0): it needs the machine's own container engine, which a
# second engine started inside a chroot would fight over; the machine's suite
# runs it.  Needs root (chroot, mounts) and about 4 GB of disk; takes about
# as long as the suite plus the package installation.
#   tests/fresh.sh            the root under /var/tmp (SLUICE_FRESH_DIR)
set -uo pipefail
cd "$(dirname "$0")/.."
src=$PWD
[ "$(id -u)" = 0 ] || { echo "fresh.sh needs root (debootstrap, chroot, mounts)" >&2; exit 2; }
tarball=$(tests/support/debian_root.sh git,ca-certificates) || exit 1
base=${SLUICE_FRESH_DIR:-/var/tmp}
mkdir -p "$base"
root=$(mktemp -d "$base/sluice-fresh.XXXXXX")
mounted=()
cleanup() {
    local i
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[i]}" 2>/dev/null || true; done
    [ -n "${SLUICE_FRESH_KEEP:-}" ] || rm -rf --one-file-system "$root"
}
trap cleanup EXIT
echo "== a minimal Debian 12 root in $root (from $(basename "$tarball"))"
tar -C "$root" -xf "$tarball"
chmod 755 "$root" # its / (mktemp's 0700, which tar may restore, lets no other user run anything)
# the host's name resolution and locally added certificate authorities
cp -L /etc/resolv.conf "$root/etc/resolv.conf"
cas=$(find /usr/local/share/ca-certificates -name '*.crt' 2>/dev/null | wc -l)
if [ "$cas" -gt 0 ]; then
    cp -r /usr/local/share/ca-certificates/. "$root/usr/local/share/ca-certificates/"
fi
mount_in() { # TYPE SOURCE TARGET [OPTIONS]
    mkdir -p "$root$3"
    mount -t "$1" ${4:+-o "$4"} "$2" "$root$3" && mounted+=("$root$3")
}
mount_in proc proc /proc
mount_in sysfs sys /sys
mount_in devtmpfs udev /dev 2>/dev/null || { mount --bind /dev "$root/dev" && mounted+=("$root/dev"); }
mount_in devpts devpts /dev/pts newinstance,ptmxmode=0666
mount_in tmpfs shm /dev/shm mode=1777
mount_in tmpfs tmp /tmp mode=1777
inside() { # COMMAND: run in the root as root, with a login-like environment
    chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin SLUICE_DOCKER=0 \
        /bin/bash -c "$1"
}
echo "== $cas locally added certificate authorities: update-ca-certificates"
inside "update-ca-certificates >/dev/null" || { echo "FAIL: update-ca-certificates"; exit 1; }
echo "== git clone of $(git -C "$src" rev-parse --short HEAD) ($(git -C "$src" log -1 --format=%s | cut -c1-60)...)"
git clone -q --no-hardlinks "$src" "$root/root/sluice"
present=$(inside 'for p in gcc meson java mvn psql kcat ps kill; do [ -x "$(type -P $p)" ] && echo -n "$p "; done')
[ -z "$present" ] || { echo "FAIL: the root is not minimal: it has $present"; exit 1; }
echo "== none of gcc, meson, java, mvn, psql, kcat, ps, /bin/kill in the root"

status=0
results=()
for cmd in "bash tests/demo.sh" "bash tests/run.sh"; do
    echo "================ $cmd (in the minimal root)"
    t0=$SECONDS
    inside "cd /root/sluice && $cmd" 2>&1 | tee "$root/fresh-${cmd//[ \/.]/_}.log"
    rc=${PIPESTATUS[0]}
    results+=("$(printf '%-20s %s in %d s' "$cmd" "$([ "$rc" = 0 ] && echo ok || echo "FAILED (exit $rc)")" \
        $((SECONDS - t0)))")
    [ "$rc" = 0 ] || status=1
done
echo "================ tests/fresh.sh: the README's commands on a minimal Debian 12"
printf '%s\n' "${results[@]}"
exit $status
