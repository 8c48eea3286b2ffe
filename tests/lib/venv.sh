# Python virtual environments for the test scripts, kept between runs.
#   . tests/lib/venv.sh
#   venv=$(venv_ready "$root/target/NAME-venv" "pkg==1.2" -r requirements.txt) || fail ...
#
# venv_ready DIR PIP_INSTALL_ARGS... makes DIR a virtual environment holding
# exactly what `pip install PIP_INSTALL_ARGS` installs and prints its physical
# path. It is made again when the arguments, a requirements file they name,
# the interpreter or the environment's own path changed, or when a previous
# attempt was left half-made.
#
# Why the physical path: a venv's console scripts (pip, mypy, schemathesis)
# carry the absolute path they were made at in their `#!` line. CI links a
# fresh clone's target/ to a shared cache (.ci/run), so a venv made through
# one clone's path would be found, and fail to start, through the next one.
# Made and used through the cache's own path, it works from every clone.

venv_ready() { # DIR PIP_INSTALL_ARGS...
    local dir parent
    parent=$(dirname "$1")
    mkdir -p "$parent" || return 1
    dir="$(cd "$parent" && pwd -P)/$(basename "$1")"
    shift
    local want arg
    want=$(
        printf '%s\n' "$dir" "$(python3 -VV)" "$@"
        for arg in "$@"; do [ -f "$arg" ] && cat "$arg"; done
    )
    want=$(printf '%s' "$want" | sha256sum | cut -c1-32)
    if [ -x "$dir/bin/python" ] && [ "$(cat "$dir/.wrenn-venv" 2>/dev/null)" = "$want" ]; then
        echo "$dir"
        return 0
    fi
    rm -rf "$dir" &&
        python3 -m venv "$dir" &&
        "$dir/bin/python" -m pip install -q --disable-pip-version-check "$@" >&2 &&
        echo "$want" >"$dir/.wrenn-venv" &&
        echo "$dir"
}
