#!/bin/bash
# e2e.sh - runs e2e.py (Protobuf and JSON Schema end to end) with the
# serializers' virtual environment (tests/support/serializers.sh) and one
# Apicurio Registry started here (tests/support/registry.sh), against the
# broker of SLUICE_TEST_BOOTSTRAP and the PostgreSQL of SLUICE_TEST_DSN;
# exit 77 (skipped) without them.
#   e2e.sh SLUICE_BINARY
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
support=$here/../support
if [ -z "${SLUICE_TEST_BOOTSTRAP:-}" ] || [ -z "${SLUICE_TEST_DSN:-}" ]; then
    echo "SKIP: needs SLUICE_TEST_BOOTSTRAP and SLUICE_TEST_DSN (tests/run.sh sets them)"
    exit 77
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/sluice-protobuf.XXXXXX")
trap 'bash "$support/registry.sh" stop "$work/registry"; rm -rf "$work"' EXIT
python=$(bash "$support/serializers.sh")
bash "$support/registry.sh" start "$work/registry" >/dev/null
"$python" "$here/e2e.py" "$1" "$(cat "$work/registry/url")" "$work"
