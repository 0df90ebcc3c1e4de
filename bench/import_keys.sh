#!/bin/bash
# bench/import_keys.sh - time `sluice import-connect` on a connector file of
# N keys (default 40,000): the importer indexes its keys once, where it once
# searched them all for every key added (40,000 keys took 4.9 s).
# Usage: bench/import_keys.sh [N] [BUILD_DIR]
set -euo pipefail
n=${1:-40000}
build=${2:-build}
dir=$(mktemp -d "${TMPDIR:-/tmp}/sluice-import-keys.XXXXXX")
trap 'rm -rf "$dir"' EXIT
{
    echo "name=bench"
    echo "connector.class=io.confluent.connect.jdbc.JdbcSinkConnector"
    echo "connection.url=jdbc:postgresql://db/app"
    echo "topics=t"
    for ((i = 0; i < n; i++)); do echo "x.unknown.$i=$i"; done
} >"$dir/in.properties"
start=$(date +%s%N)
"$build/src/sluice" import-connect "$dir/in.properties" >/dev/null 2>&1 || true
end=$(date +%s%N)
echo "import-connect, $n keys: $(((end - start) / 1000000)) ms"
