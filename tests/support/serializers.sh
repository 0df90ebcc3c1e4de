#!/bin/bash
# serializers.sh - a Python virtual environment with confluent-kafka's
# schema-registry serializers from PyPI (tests/support/serializers.txt,
# pinned), made once in SLUICE_KAFKA_CACHE (default ~/.cache/sluice) with
# Debian's python3 and pip; prints the path of its python.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${SLUICE_KAFKA_CACHE:-$HOME/.cache/sluice}
req=$here/serializers.txt
venv=$cache/pyvenv-serializers-$(sha256sum "$req" | cut -c1-12)
mkdir -p "$cache"
exec 9>"$cache/.pyvenv-serializers.lock"
flock 9
if [ ! -e "$venv/.complete" ]; then
    rm -rf "$venv"
    echo "serializers.sh: making $venv (pip, $req)" >&2
    /usr/bin/python3 -m venv "$venv" >&2
    "$venv/bin/pip" install -q --disable-pip-version-check --no-deps -r "$req" >&2 ||
        { rm -rf "$venv"; echo "serializers.sh: pip install failed" >&2; exit 1; }
    touch "$venv/.complete"
fi
echo "$venv/bin/python"
