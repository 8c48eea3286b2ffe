# What the SDKs' live scripts (sdk/<lang>/scripts/e2e.sh) share (sourced,
# not run): the stack's environment, a scratch directory, and the tally
# whose last line is `NAME: N passed, M failed`.
#   . "$(dirname "${BASH_SOURCE[0]}")/../../scripts/e2e-lib.sh"
#   e2e_begin sdk-python      # needs WRENN_BASE_URL, WRENN_API_KEY; sets WORK
#   tally "a step" "$rc"      # one step, passed when RC is 0
#   e2e_installed "$rc"       # after installing the SDK: stops on failure
#   e2e_scenario LOG "$rc"    # adds the scenario's own `scenario: N passed, M failed`
#   e2e_add P F               # adds counts found some other way
#   e2e_finish                # the closing line; non-zero when a step failed
# tests/sdk/run.sh provides the stack (WRENN_BASE_URL, WRENN_API_KEY,
# WRENN_ADMIN_TOKEN, WRENN_DOMAIN and its CA).

e2e_begin() { # NAME
    e2e_name=$1
    : "${WRENN_BASE_URL:?}" "${WRENN_API_KEY:?}"
    WORK="$(mktemp -d)"
    trap 'rm -rf "$WORK"' EXIT
    passed=0
    failed=0
}

tally() { # NAME RC
  if [[ "$2" -eq 0 ]]; then
    passed=$((passed + 1))
    echo "ok $1"
  else
    failed=$((failed + 1))
    echo "FAILED $1 (exit $2)"
  fi
}

e2e_add() { # PASSED FAILED
  passed=$((passed + $1))
  failed=$((failed + $2))
}

e2e_installed() { # RC of installing the SDK: nothing else can run without it
  if [[ "$1" -ne 0 ]]; then
    echo "$e2e_name: $passed passed, $((failed + 1)) failed"
    exit 1
  fi
}

e2e_scenario() { # LOG RC: the scenario's closing line, or one failure
  local line sp sf
  line=$(grep -E '^scenario: [0-9]+ passed, [0-9]+ failed' "$1" | tail -n1 || true)
  if [[ -n "$line" ]]; then
    read -r sp sf < <(sed -E 's/^scenario: ([0-9]+) passed, ([0-9]+) failed/\1 \2/' <<<"$line")
    e2e_add "$sp" "$sf"
    [[ "$2" -eq 0 || "$sf" -gt 0 ]] || failed=$((failed + 1))
  else
    failed=$((failed + 1))
  fi
}

e2e_finish() {
  echo "$e2e_name: $passed passed, $failed failed"
  [[ "$failed" -eq 0 ]]
}
