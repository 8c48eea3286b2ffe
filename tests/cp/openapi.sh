#!/usr/bin/env bash
# Validates the checked-in OpenAPI document (crates/wrenn-cp/openapi.json)
# against the OpenAPI specification with openapi-spec-validator, installed
# into a virtual environment under target/ (kept between runs).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
document="$root/crates/wrenn-cp/openapi.json"
validator_version=0.9.0

. "$root/tests/lib/venv.sh"
venv=$(venv_ready "$root/target/openapi-venv" "openapi-spec-validator==$validator_version") || {
    echo "openapi: pip install openapi-spec-validator==$validator_version failed" >&2
    echo "openapi: 0 passed, 1 failed"
    exit 1
}

if "$venv/bin/openapi-spec-validator" "$document"; then
    echo "openapi: 1 passed, 0 failed"
else
    echo "openapi: 0 passed, 1 failed"
    exit 1
fi
