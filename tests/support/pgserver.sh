#!/bin/bash
# pgserver.sh - a throwaway PostgreSQL 15 server for sluice's tests and demo.
#
#   tests/support/pgserver.sh start DIR [PORT]   initdb in DIR/data, start on 127.0.0.1
#                                        (a free port unless PORT is given),
#                                        create database sluice_test and print
#                                        SLUICE_TEST_DSN=host=127.0.0.1 port=N dbname=sluice_test user=postgres
#   tests/support/pgserver.sh stop DIR           stop the server started in DIR
#
# The cluster trusts local connections (tests only), runs with fsync off and
# keeps its socket, log and data inside DIR.  Run as root, the server runs as
# the postgres user (initdb refuses root) and DIR is handed to that user.
# The DSN is also written to DIR/dsn.  SLUICE_PG_CONF adds lines to the
# server's configuration (e.g. SLUICE_PG_CONF=wal_level=logical for a source
# database that Debezium captures).
set -euo pipefail

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}

. "$(cd "$(dirname "$0")" && pwd)/ports.sh"
die() { echo "pgserver: $*" >&2; exit 1; }

usage() {
    echo "usage: $0 start DIR [PORT] | stop DIR" >&2
    exit 2
}

# as_owner CMD... - run CMD as the server's owner (postgres when we are root).
as_owner() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

start() {
    local dir=$1 want_port=${2:-} port attempt sockdir
    [ -x "$PGBIN/initdb" ] || die "$PGBIN/initdb not found (apt-get install postgresql)"
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if [ -e "$dir/data/postmaster.pid" ]; then
        die "a server already runs in $dir (tests/support/pgserver.sh stop $dir)"
    fi
    if [ "$(id -u)" = 0 ]; then
        chown postgres: "$dir"
        chmod 700 "$dir"
        as_owner test -x "$dir" ||
            die "user postgres cannot reach $dir: make its parent directories traversable (chmod o+x)"
    fi

    rm -rf "$dir/data"
    as_owner "$PGBIN/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C \
        >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed in $dir"; }

    sockdir="$dir/sock"
    as_owner mkdir -p "$sockdir"
    # A Unix socket path is limited to 107 bytes; without one, TCP only.
    if [ ${#sockdir} -gt 90 ]; then
        sockdir=""
    fi

    for attempt in 1 2 3 4 5; do
        port=${want_port:-$(pick_port)}
        as_owner tee "$dir/data/sluice-test.conf" >/dev/null <<EOF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$sockdir'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
shared_buffers = 64MB
log_min_messages = warning
log_line_prefix = '%m [%p] %q%u@%d '
${SLUICE_PG_CONF:-}
EOF
        if ! as_owner grep -q "^include_if_exists = 'sluice-test.conf'" "$dir/data/postgresql.conf"; then
            echo "include_if_exists = 'sluice-test.conf'" | as_owner tee -a "$dir/data/postgresql.conf" >/dev/null
        fi
        if as_owner "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 start >/dev/null 2>&1; then
            break
        fi
        if [ -n "$want_port" ] || [ "$attempt" = 5 ]; then
            tail -n 20 "$dir/postgres.log" >&2 || true
            die "server did not start in $dir (port $port)"
        fi
    done

    "$PGBIN/psql" -X -q -h 127.0.0.1 -p "$port" -U postgres -d postgres \
        -c 'CREATE DATABASE sluice_test' >/dev/null ||
        die "could not create database sluice_test on port $port"

    local dsn="host=127.0.0.1 port=$port dbname=sluice_test user=postgres"
    echo "$dsn" | as_owner tee "$dir/dsn" >/dev/null
    echo "SLUICE_TEST_DSN=$dsn"
}

stop() {
    local dir=$1
    [ -d "$dir/data" ] || return 0
    if [ -e "$dir/data/postmaster.pid" ]; then
        as_owner "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null ||
            die "could not stop the server in $dir"
    fi
}

[ $# -ge 2 ] || usage
case $1 in
start) [ $# -le 3 ] || usage; start "$2" "${3:-}" ;;
stop) [ $# -eq 2 ] || usage; stop "$2" ;;
*) usage ;;
esac
