# prepare.sh - sourced by tests/run.sh and tests/demo.sh: install the Debian
# packages sluice needs (when some are missing) and build it with meson.

SLUICE_PACKAGES="build-essential pkg-config meson ninja-build librdkafka-dev libpq-dev
libjansson-dev libavro-dev libcurl4-openssl-dev check libyaml-dev postgresql
python3-psycopg2 python3-confluent-kafka kcat valgrind git libmicrohttpd-dev libsystemd-dev
prometheus curl systemd python3-yaml clang-14 libclang-rt-14-dev default-jre-headless maven
openssl libprotobuf-dev libprotoc-dev protobuf-compiler python3-venv"

# sluice_install_packages - apt-get install whatever of SLUICE_PACKAGES is
# missing (as root, or through sudo); nothing when all are installed.
sluice_install_packages() {
    local missing="" p sudo=""
    for p in $SLUICE_PACKAGES; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
            missing="$missing $p"
        fi
    done
    if [ -z "$missing" ]; then
        echo "== packages: all installed"
        return 0
    fi
    if [ "$(id -u)" != 0 ]; then
        if command -v sudo >/dev/null; then
            sudo="sudo"
        else
            echo "missing packages:$missing; run as root or install them" >&2
            return 1
        fi
    fi
    echo "== packages: installing$missing"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q
    # shellcheck disable=SC2086
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $SLUICE_PACKAGES
}

# sluice_build DIR - configure DIR once, then build everything in it.
sluice_build() {
    local dir=$1
    if [ ! -f "$dir/build.ninja" ]; then
        echo "== meson setup $dir"
        meson setup "$dir"
    fi
    echo "== building in $dir"
    meson compile -C "$dir"
}

# sluice_build_librdkafka DIR PREFIX [MESON-OPTION...] -- TARGET... -
# configure DIR against the librdkafka unpacked in PREFIX
# (tests/support/librdkafka.sh; found first by pkg-config, and by the
# run-time linker through an rpath: the C linker's and the C++ linker's,
# which links the daemon, src/format/protobuf_reflect.cc being C++) and
# build the TARGETs in it; fails unless the daemon loads that librdkafka.
sluice_build_librdkafka() {
    local dir=$1 prefix=$2 libdir opts=()
    shift 2
    while [ $# -gt 0 ] && [ "$1" != -- ]; do
        opts+=("$1")
        shift
    done
    [ "${1:-}" = -- ] && shift
    libdir=$(dirname "$(ls "$prefix"/usr/lib/*/pkgconfig/rdkafka.pc)")/..
    libdir=$(cd "$libdir" && pwd)
    if [ ! -f "$dir/build.ninja" ]; then
        echo "== meson setup $dir (librdkafka in $prefix)"
        PKG_CONFIG_PATH=$libdir/pkgconfig meson setup "$dir" -Dc_link_args="-Wl,-rpath,$libdir" \
            -Dcpp_link_args="-Wl,-rpath,$libdir" "${opts[@]}"
    fi
    echo "== building in $dir: $*"
    meson compile -C "$dir" "$@" || return 1
    local loads
    loads=$(ldd "$dir/src/sluice" | grep -o 'librdkafka.so[^ ]* => [^ ]*')
    echo "   sluice loads $loads"
    case $loads in
    *" => $libdir/"*) ;;
    *)
        echo "sluice_build_librdkafka: $dir/src/sluice does not load the librdkafka in $libdir" \
            "(a build directory configured before both linkers had the rpath: remove $dir)" >&2
        return 1
        ;;
    esac
}
