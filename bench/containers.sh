#!/usr/bin/env bash
# FATE's algorithms as local processes vs in containers (a benchmark, not a test): the FATE
# image's build time with a warm cache (its base layer on the daemon: a new binary on top,
# then nothing to do), then the pyfate container test's job — reader → psi → coordinated_lr →
# evaluation for guest, host and arbiter, once as local processes and twice in containers
# (the second time on a docker-only site, after its uploads in containers) — with its wall
# times, every task's run time and every task's start overhead (from the site's decision to
# launch it to its run's first api-3 call, as the site logs it). Figures for
# docs/performance.md ("Algorithm containers").
#
#   bench/containers.sh            needs the pyfate venv (ci/pyfate-venv.sh) and Docker
set -euo pipefail
cd "$(dirname "$0")/.."
cache="${FERROFLOW_CI_CACHE:-$HOME/.cache/ferroflow-ci}"
python="${FERROFLOW_PYFATE_PYTHON:-$(cat "$cache/venv-pyfate.python")}"
cargo build --workspace --all-targets --locked
bin="${CARGO_TARGET_DIR:-target}/debug/ferroflow"
tag=ferroflow-fate-bench:2.2.0

echo "== image, base there, new binary on top"
docker image rm -f "$tag" >/dev/null 2>&1 || true
t=$(date +%s.%N)
PYFATE_PYTHON="$python" FERROFLOW_BIN="$bin" docker/fate/build.sh "$tag" >/dev/null
echo "image build (warm base): $(echo "$(date +%s.%N) - $t" | bc) s"
t=$(date +%s.%N)
PYFATE_PYTHON="$python" FERROFLOW_BIN="$bin" docker/fate/build.sh "$tag" >/dev/null
echo "image build (up to date): $(echo "$(date +%s.%N) - $t" | bc) s"
docker image rm -f "$tag" >/dev/null

echo "== the same job as local processes and in containers"
FERROFLOW_PYFATE_PYTHON="$python" cargo test --workspace --test pyfate --locked -- \
    --ignored --nocapture containers::fate_in_containers 2>&1 |
    grep -E "local processes:|containers, run|task run times|start overheads|uploads in containers|ready in"
