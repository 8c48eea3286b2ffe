#!/usr/bin/env bash
# Validates the checked-in OpenAPI document (crates/wrenn-cp/openapi.json)
# against the OpenAPI specification with openapi-spec-validator, installed
# into a virtual environment under target/ (kept between runs).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
venv="$root/target/openapi-venv"
document="$root/crates/wrenn-cp/openapi.json"
validator_version=0.9.0

if ! "$venv/bin/pip" show openapi-spec-validator 2>/dev/null | grep -qx "Version: $validator_version"; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "openapi-spec-validator==$validator_version"
fi

if "$venv/bin/openapi-spec-validator" "$document"; then
    echo "openapi: 1 passed, 0 failed"
else
    echo "openapi: 0 passed, 1 failed"
    exit 1
fi
