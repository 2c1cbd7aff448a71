#!/usr/bin/env bash
# Creates (or reuses) the Python virtualenv for tests/python, outside the clone, at
#   ${TECHPOTLI_CACHE:-/var/cache/techpotli}/venv
# and installs tests/python/requirements.txt into it. The install is skipped when
# the venv's stamp matches the hash of the requirements and the base interpreter.
#
# Sourced: exports TECHPOTLI_VENV and TECHPOTLI_PYTHON (the venv's interpreter)
#          and leaves the caller's shell options alone.
# Run:     prints the venv's interpreter path on stdout.
#
# Overrides: TECHPOTLI_CACHE (cache root), TECHPOTLI_PYTHON_BASE (interpreter the
# venv is made from; default python3), TECHPOTLI_PY_REQUIREMENTS (requirements file relative
# to the repository; default tests/python/requirements.txt) with TECHPOTLI_VENV_NAME (the
# venv's directory under the cache; default venv) — e.g. the newest-client venv.

_techpotli_python_env() {
    local root cache venv req base stamp want have
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd) || return 1
    cache=${TECHPOTLI_CACHE:-/var/cache/techpotli}
    venv="$cache/${TECHPOTLI_VENV_NAME:-venv}"
    req="$root/${TECHPOTLI_PY_REQUIREMENTS:-tests/python/requirements.txt}"
    base=${TECHPOTLI_PYTHON_BASE:-python3}
    stamp="$venv/.techpotli-requirements.sha256"

    if [ ! -f "$req" ]; then
        echo "python-env: $req not found" >&2
        return 1
    fi
    if ! command -v "$base" >/dev/null 2>&1; then
        echo "python-env: base interpreter '$base' not found (set TECHPOTLI_PYTHON_BASE)" >&2
        return 1
    fi
    mkdir -p "$cache" || return 1

    # The stamp covers the requirements and the exact base interpreter, so a
    # change to either rebuilds the venv.
    want=$({
        sha256sum "$req" | cut -d' ' -f1
        "$base" -c 'import sys; print(sys.version, sys.executable)'
    } | sha256sum | cut -d' ' -f1) || return 1

    # One run at a time touches the venv (flock is released when fd 9 closes).
    (
        if command -v flock >/dev/null 2>&1; then
            flock 9
        fi
        have=$(cat "$stamp" 2>/dev/null || true)
        if [ "$have" = "$want" ] && "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
            exit 0
        fi
        echo "python-env: building $venv from $req" >&2
        rm -rf "$venv"
        "$base" -m venv "$venv" || exit 1
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
            --no-input -r "$req" >&2 || exit 1
        echo "$want" >"$stamp"
    ) 9>"$venv.lock" || {
        echo "python-env: failed to prepare $venv" >&2
        return 1
    }

    export TECHPOTLI_VENV="$venv"
    export TECHPOTLI_PYTHON="$venv/bin/python"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -euo pipefail
    _techpotli_python_env
    echo "$TECHPOTLI_PYTHON"
else
    _techpotli_python_env
fi
