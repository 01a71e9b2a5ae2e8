#!/usr/bin/env bash
# Creates (or checks) a Python environment with the real FATE Flow 2.2 server, for the
# interconnection tests, layered over the pyfate environment of ci/pyfate-venv.sh: it holds
# fate_flow 2.2.0 and its own dependencies (pinned by ci/pyfate-constraints.txt) and sees the
# pyfate environment's packages (pyfate, torch…) through a .pth file, so FATE Flow's task
# processes run the same algorithms without a second 6 GB install. fate_flow gets a venv of its
# own because `fate_flow init` writes the site's paths into the installed package.
#
#   ci/fate-flow-venv.sh VENV_DIR PYFATE_PYTHON     prints the venv's python on its last line
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${1:?usage: ci/fate-flow-venv.sh VENV_DIR PYFATE_PYTHON}"
BASE_PY="${2:?usage: ci/fate-flow-venv.sh VENV_DIR PYFATE_PYTHON}"
CONSTRAINTS="$HERE/pyfate-constraints.txt"
PACKAGES=(fate_flow==2.2.0 pika==1.3.2)

log() { printf '== fate_flow venv: %s\n' "$*" >&2; }

base_site="$("$BASE_PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
base_exe="$("$BASE_PY" -c 'import sys; print(getattr(sys, "_base_executable", sys.executable))')"
want="$(sha256sum "$CONSTRAINTS" | cut -c1-16) ${PACKAGES[*]} $base_site"
marker="$VENV/.ferroflow-fate-flow"
if [ -f "$marker" ] && [ "$(cat "$marker")" = "$want" ] && [ -x "$VENV/bin/python" ]; then
    log "reusing $VENV"
else
    rm -rf "$VENV"
    log "creating $VENV over $base_site"
    "$base_exe" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -c "$CONSTRAINTS" "${PACKAGES[@]}"
    site="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    # After the venv's own packages: fate_flow and its pins win, pyfate comes from the base.
    echo "$base_site" >"$site/zz-pyfate-base.pth"
    echo "$want" >"$marker"
fi
"$VENV/bin/python" -c 'import importlib.metadata as m, fate_flow, fate, pika
print("fate_flow", m.version("fate_flow"), "pyfate", m.version("pyfate"), "pika", pika.__version__)' >&2
echo "$VENV/bin/python"
