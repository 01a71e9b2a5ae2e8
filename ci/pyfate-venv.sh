#!/usr/bin/env bash
# Creates (or checks) the Python environment FATE's real algorithms run in under ferroflow:
# pyfate 2.2.0 (the algorithms, provider `fate`) and fate_client 2.2.0 (the `flow` CLI and the
# pipeline SDK the end-to-end tests drive) and pika (pyfate's RabbitMQ federation, for jobs
# across sites) and pyspark (pyfate's Spark computing backend and the Spark the tests run: its
# package holds a whole Spark, `bin/spark-submit` and the jars), pinned by
# ci/pyfate-constraints.txt (the reference
# install's freeze: without it pip backtracks through torch versions for a long time). No
# fate_flow package: ferroflow plays FATE Flow's task wrapper itself.
#
#   ci/pyfate-venv.sh VENV_DIR        prints the venv's python on its last line
#
# Made once and kept: a venv whose marker names the same constraints is reused as it is
# (seconds); otherwise it is made from nothing. PyPI publishes only torch's CUDA build for
# Linux, so the first install downloads about 3 GB (the nvidia-* wheels).
#
# Environment: PYTHON (a CPython 3.11 or 3.10; default python3.11, else python3.10, else
# python3), FRESH=1 (remove the venv first).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=ci/python.sh
. "$HERE/python.sh"
VENV="${1:?usage: ci/pyfate-venv.sh VENV_DIR}"
CONSTRAINTS="$HERE/pyfate-constraints.txt"
PACKAGES=(pyfate==2.2.0 fate-client==2.2.0 torch==2.5.1 transformers==4.37.2 accelerate==0.27.2 "numpy<2" pika==1.3.2)
# Added to a venv made before them as well (a small download next to torch's), so an existing
# venv is completed rather than made again.
ADDED=(pyspark==3.5.3 py4j==0.10.9.7)

log() { printf '== pyfate venv: %s\n' "$*" >&2; }

want="$(sha256sum "$CONSTRAINTS" | cut -c1-16) ${PACKAGES[*]}"
marker="$VENV/.ferroflow-pyfate"
if [ "${FRESH:-0}" = 1 ]; then rm -rf "$VENV"; fi
if [ -f "$marker" ] && [ "$(cat "$marker")" = "$want" ] && [ -x "$VENV/bin/python" ]; then
    log "reusing $VENV"
else
    start=$(date +%s)
    rm -rf "$VENV"
    PYTHON="${PYTHON:-$(pick_python python3.11 python3.10 python3)}"
    log "creating $VENV with $("$PYTHON" --version 2>&1)"
    mkdir -p "$(dirname "$VENV")"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    log "installing ${PACKAGES[*]} (first time: about 3 GB to download)"
    # mmh3 3.0.0 has no wheel for Python 3.11: pip compiles it (gcc and the Python headers).
    "$VENV/bin/python" -m pip install -q -c "$CONSTRAINTS" "${PACKAGES[@]}"
    echo "$want" >"$marker"
    log "installed in $(($(date +%s) - start)) s"
fi
if ! "$VENV/bin/python" -c 'import importlib.metadata as m, sys
sys.exit(m.version("pyspark") != "3.5.3")' 2>/dev/null; then
    log "installing ${ADDED[*]}"
    "$VENV/bin/python" -m pip install -q "${ADDED[@]}"
fi
"$VENV/bin/python" -c 'import importlib.metadata as m, fate.components, fate_client, torch
print("pyfate", m.version("pyfate"), "fate_client", m.version("fate_client"), "torch", torch.__version__,
      "pyspark", m.version("pyspark"))' >&2
echo "$VENV/bin/python"
