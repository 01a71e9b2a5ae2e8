#!/usr/bin/env bash
# Creates (or checks) a thin Python environment with FATE's client, fate_client 2.2.0 (the
# `flow` CLI, the `FlowClient` SDK and the pipeline SDK), for the compatibility suite
# (compat/fate_client). No pyfate, no torch: fate_client is installed without its
# dependencies, then only what the CLI and the SDKs import (about 200 MB; importing the
# pipeline SDK prints a warning that torch is missing, which is harmless).
#
#   ci/fate-client-venv.sh VENV_DIR        prints the venv's python on its last line
#
# Made once and kept: a venv whose marker names the same packages is reused as it is.
# Environment: PYTHON (a CPython 3.10 or 3.11; default python3.10, else python3.11, else
# python3), FRESH=1 (remove the venv first).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=ci/python.sh
. "$HERE/python.sh"
VENV="${1:?usage: ci/fate-client-venv.sh VENV_DIR}"
CLIENT=(fate-client==2.2.0)
DEPS=(click pandas psutil "requests<2.26" requests-toolbelt "ruamel.yaml==0.16.13" networkx
    "pydantic==1.10.12" setuptools "urllib3<2")

log() { printf '== fate_client venv: %s\n' "$*" >&2; }

want="${CLIENT[*]} ${DEPS[*]}"
marker="$VENV/.ferroflow-fate-client"
if [ "${FRESH:-0}" = 1 ]; then rm -rf "$VENV"; fi
if [ -f "$marker" ] && [ "$(cat "$marker")" = "$want" ] && [ -x "$VENV/bin/python" ]; then
    log "reusing $VENV"
else
    start=$(date +%s)
    rm -rf "$VENV"
    PYTHON="${PYTHON:-$(pick_python python3.10 python3.11 python3)}"
    log "creating $VENV with $("$PYTHON" --version 2>&1)"
    mkdir -p "$(dirname "$VENV")"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q --no-deps "${CLIENT[@]}"
    "$VENV/bin/python" -m pip install -q "${DEPS[@]}"
    echo "$want" >"$marker"
    log "installed in $(($(date +%s) - start)) s"
fi
"$VENV/bin/python" -c 'import importlib.metadata as m, fate_client.flow_cli.flow, fate_client.flow_sdk
print("fate_client", m.version("fate_client"))' >&2
echo "$VENV/bin/python"
