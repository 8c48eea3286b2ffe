#!/usr/bin/env bash
# The `security` suite: each check_*.sh next to this file reproduces one hole
# found by probing a fresh install (or one class of them) and shows it is now
# refused. Each check prints its own "NAME: N passed, M failed" line; this
# runner prints the totals and fails if any check failed or none ran.
#   tests/security/run.sh            every check
#   tests/security/run.sh NAME...    only check_NAME.sh
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root" || exit 1
export PATH="$HOME/.cargo/bin:$PATH"

checks=()
if [ $# -gt 0 ]; then
    for name in "$@"; do checks+=("$here/check_$name.sh"); done
else
    for f in "$here"/check_*.sh; do [ -e "$f" ] && checks+=("$f"); done
fi
[ ${#checks[@]} -gt 0 ] || { echo "security: 0 passed, 1 failed (no checks found)"; exit 1; }

failed=0
for check in "${checks[@]}"; do
    name=$(basename "$check" .sh)
    echo "--- $name"
    if bash "$check"; then echo "--- $name: ok"; else echo "--- $name: FAILED"; failed=$((failed + 1)); fi
done
echo "security checks: $(( ${#checks[@]} - failed )) of ${#checks[@]} scripts ok"
[ "$failed" -eq 0 ]
