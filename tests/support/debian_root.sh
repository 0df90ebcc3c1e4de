#!/bin/bash
# debian_root.sh - a minimal Debian 12 root file system made with
# `debootstrap --variant=minbase` from Debian's archive, kept as a tarball in
# ~/.cache/sluice (or $SLUICE_CACHE) and made again only when missing.  The
# container test imports it as the base image where the registry cannot be
# pulled (docker/test.sh); tests/fresh.sh runs the README's commands in it.
#   tests/support/debian_root.sh [EXTRA_PACKAGE,...]   prints the tarball's path
set -euo pipefail
extra=${1:-}
cache=${SLUICE_CACHE:-$HOME/.cache/sluice}
name=debian12-minbase${extra:+-${extra//,/-}}
tarball=$cache/$name.tar
if [ -f "$tarball" ]; then
    echo "$tarball"
    exit 0
fi
if ! command -v debootstrap >/dev/null; then
    echo "== installing debootstrap" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap >&2
fi
mkdir -p "$cache"
root=$(mktemp -d "$cache/$name.XXXXXX")
trap 'rm -rf "$root"' EXIT
echo "== debootstrap --variant=minbase bookworm${extra:+ (with $extra)}" >&2
t0=$SECONDS
debootstrap --variant=minbase ${extra:+--include="$extra"} bookworm "$root" http://deb.debian.org/debian >&2 \
    > "$root.log" 2>&1 || { tail -n 30 "$root.log" >&2; exit 1; }
# the security updates, as Debian's own images list them
cat > "$root/etc/apt/sources.list" <<'EOF'
deb http://deb.debian.org/debian bookworm main
deb http://deb.debian.org/debian bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
EOF
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
chmod 755 "$root" # mktemp's 0700 would become the root's /
tar -C "$root" --numeric-owner -cf "$tarball.tmp" .
mv "$tarball.tmp" "$tarball"
rm -f "$root.log"
echo "== root made in $((SECONDS - t0)) s: $tarball ($(du -h "$tarball" | cut -f1))" >&2
echo "$tarball"
