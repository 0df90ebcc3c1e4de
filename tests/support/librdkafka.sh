#!/bin/bash
# librdkafka.sh - a current librdkafka for Debian 12: Debian 13's source
# package (trixie), built on this machine with Debian 12's build dependencies
# and its own tests off, then unpacked into a prefix that sluice builds and
# runs against.  Nothing is installed system-wide: the build and the prefix
# live in ~/.cache/sluice/librdkafka-trixie (or $SLUICE_CACHE), reused on
# every later run.  Prints the prefix on its last line.
#   tests/support/librdkafka.sh            build (once) and print the prefix
# Then sluice_build_librdkafka (tests/support/prepare.sh) builds sluice
# against it, with an rpath for both of meson's linkers (the daemon is
# linked by the C++ one), and checks that the daemon loads it.
# Debian 12 ships librdkafka 2.0.2: it cannot log in with SASL/SCRAM to
# Kafka 4.x brokers (docs/kafka.md has the measured matrix).
set -euo pipefail
cache=${SLUICE_CACHE:-$HOME/.cache/sluice}/librdkafka-trixie
prefix=$cache/prefix
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
if [ -f "$prefix/.done" ]; then
    echo "$prefix"
    exit 0
fi
sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo
mkdir -p "$cache"
cd "$cache"

# trixie's sources through an apt of our own (the machine's apt lists stay
# as they are): Debian's archive, the keyring Debian 12 already has
apt_dir=$cache/apt
mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial"
cat > "$apt_dir/sources.list" <<'EOF'
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main
EOF
apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=/nonexistent"
          -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache::Archives=$apt_dir/archives")
if ! ls src/librdkafka_*.dsc >/dev/null 2>&1; then
    echo "== librdkafka: fetching Debian 13's source package" >&2
    apt-get "${apt_opts[@]}" update -q >&2
    rm -rf src && mkdir src
    (cd src && apt-get "${apt_opts[@]}" source --download-only librdkafka >&2)
fi
dsc=$(ls src/librdkafka_*.dsc | head -n1)

# Debian 12's build dependencies of that package (dpkg-checkbuilddeps names
# what is missing; the versions trixie asks for are met by bookworm's)
need="build-essential dpkg-dev debhelper fakeroot liblz4-dev libsasl2-dev libssl-dev libcurl4-openssl-dev
zlib1g-dev libzstd-dev python3 rapidjson-dev"
missing=""
for p in $need; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "== librdkafka: installing build dependencies:$missing" >&2
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends $missing >&2
fi

echo "== librdkafka: building $(basename "$dsc" .dsc) (tests off)" >&2
rm -rf build && mkdir build
dpkg-source -x "$dsc" build/tree >&2
t0=$SECONDS
# dpkg-checkbuilddeps would ask for trixie's debhelper-compat; -d skips the
# check, the list above is what the build really uses
(cd build/tree && DEB_BUILD_OPTIONS="nocheck nodoc parallel=$(nproc)" dpkg-buildpackage -b -us -uc -d >&2) \
    > build/build.log 2>&1 || { tail -n 40 build/build.log >&2; exit 1; }
echo "== librdkafka: built in $((SECONDS - t0)) s" >&2
rm -rf "$prefix" && mkdir -p "$prefix"
for deb in build/librdkafka1_*.deb build/librdkafka++1_*.deb build/librdkafka-dev_*.deb; do
    dpkg-deb -x "$deb" "$prefix"
done
mkdir -p "$cache/debs" && cp build/*.deb "$cache/debs/"
# the .pc files name /usr: point them at the unpacked tree
sed -i -E "s#^(prefix|libdir|includedir)=/usr#\1=$prefix/usr#" "$prefix"/usr/lib/"$multiarch"/pkgconfig/rdkafka*.pc
touch "$prefix/.done"
echo "$prefix"
