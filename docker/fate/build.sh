#!/usr/bin/env bash
# Builds a FATE algorithm image on this machine, with no registry: a Debian bookworm root
# filesystem (debootstrap, from this host's own apt mirror), Python 3.11 with pyfate 2.2.0 in
# /opt/fate/venv (pins: ci/pyfate-constraints.txt, the reference install's freeze), the ferroflow binary
# as /usr/local/bin/ferroflow, imported with `docker import`. Its entry point is ferroflow's
# task wrapper for pyfate, `ferroflow task entrypoint` (CONFIG from the CONFIG variable, as
# every algorithm container gets it); its labels name pyfate's components, so registering it
# as a docker provider discovers them.
#
#   docker/fate/build.sh [TAG]            default TAG: fate:2.2.0
#
# Environment:
#   FERROFLOW_BIN  the ferroflow binary to put in (default: target/release/ferroflow under
#                  $CARGO_TARGET_DIR or ./target; built with cargo if absent)
#   WORK           build directory, kept between runs (default /var/tmp/ferroflow-fate-image)
#   SUITE          Debian suite (default bookworm; its python3 is 3.11, which pyfate 2.2 supports)
#   MIRROR         Debian mirror (default: the first one this host's apt uses)
#   FRESH=1        start from a new root filesystem
#
# Needs: root (debootstrap, chroot, mounts), debootstrap (installed with apt-get if missing),
# the docker CLI and a running daemon, about 12 GB free in $WORK (torch 2.5.1 from PyPI pulls
# its CUDA wheels, ~3 GB to download; no CPU-only torch is published on PyPI).
# Then: register it (`device: docker`, `metadata: {base_url: "", image: TAG}`) on each site and
# run DAGs with `provider: fate:2.2.0@docker`. See docs/containers.md.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
TAG="${1:-fate:2.2.0}"
WORK="${WORK:-/var/tmp/ferroflow-fate-image}"
SUITE="${SUITE:-bookworm}"
ROOT="$WORK/rootfs"
VENV=/opt/fate/venv

log() { printf '== %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (debootstrap and chroot need it)"
command -v docker >/dev/null || die "the docker CLI is needed"
docker version >/dev/null || die "the Docker daemon does not answer"
if ! command -v debootstrap >/dev/null; then
    log "installing debootstrap"
    apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null
fi

# The mirror this host's apt already uses (deb822 .sources or a one-line sources.list).
if [ -z "${MIRROR:-}" ]; then
    MIRROR="$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | grep -v security | head -n1 || true)"
    [ -n "$MIRROR" ] || MIRROR="$(awk '$1 == "deb" && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)"
    [ -n "$MIRROR" ] || die "no Debian mirror found in /etc/apt; set MIRROR"
fi

# The binary: a release build of this repository unless one is given.
if [ -z "${FERROFLOW_BIN:-}" ]; then
    FERROFLOW_BIN="${CARGO_TARGET_DIR:-$REPO/target}/release/ferroflow"
    if [ ! -x "$FERROFLOW_BIN" ]; then
        log "building ferroflow (release)"
        (cd "$REPO" && cargo build --release -p ferroflow)
    fi
fi
[ -x "$FERROFLOW_BIN" ] || die "no ferroflow binary at $FERROFLOW_BIN"

mkdir -p "$WORK"
if [ "${FRESH:-0}" = 1 ]; then rm -rf "$ROOT"; fi

if [ ! -f "$ROOT/.debootstrap-done" ]; then
    log "debootstrap $SUITE into $ROOT"
    rm -rf "$ROOT"
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates,libgomp1 \
        "$SUITE" "$ROOT" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
        || { tail -n 30 "$WORK/debootstrap.log" >&2; die "debootstrap failed"; }
    touch "$ROOT/.debootstrap-done"
fi

mounted=()
cleanup() {
    local i
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[$i]}" 2>/dev/null || true; done
}
trap cleanup EXIT
for d in proc dev sys; do
    mount --bind "/$d" "$ROOT/$d" && mounted+=("$ROOT/$d")
done
# pip's downloads are kept outside the root filesystem, so a second run downloads nothing.
mkdir -p "$WORK/pip-cache" "$ROOT/var/cache/pip"
mount --bind "$WORK/pip-cache" "$ROOT/var/cache/pip" && mounted+=("$ROOT/var/cache/pip")
# Name resolution and the host's certificate bundle (it may hold extra CAs the host trusts).
cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"
cp -L /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/ca-certificates.crt"
cp "$REPO/ci/pyfate-constraints.txt" "$ROOT/tmp/constraints.txt"

in_root() { chroot "$ROOT" /usr/bin/env -i PATH="$VENV/bin:/usr/local/bin:/usr/bin:/bin" HOME=/root \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_DEFAULT_TIMEOUT=180 \
    PIP_CACHE_DIR=/var/cache/pip "$@"; }

if [ ! -x "$ROOT$VENV/bin/python" ]; then
    log "python venv in $VENV"
    in_root python3 -m venv "$VENV"
fi
if ! in_root python -c 'import fate, torch' >/dev/null 2>&1; then
    # A compiler for the pinned packages with no wheel for Python 3.11 (mmh3 3.0.0),
    # removed again once pip is done.
    log "build tools for the wheels pip must compile"
    in_root apt-get update -qq
    in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        g++ python3-dev >/dev/null
    log "pip install pyfate 2.2.0 (torch 2.5.1 and its CUDA wheels: a few GB)"
    in_root pip install -q --upgrade pip
    in_root pip install -q -c /tmp/constraints.txt \
        pyfate==2.2.0 torch==2.5.1 "numpy<2"
    in_root env DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq --auto-remove \
        g++ python3-dev >/dev/null
fi
log "checking the install"
in_root python -c 'import importlib.metadata as m, fate.components, torch, numpy; print("pyfate", m.version("pyfate"), "torch", torch.__version__, "numpy", numpy.__version__)'

# pyfate's components, as labels component.<n>.name (what a site discovers at registration).
components="$(in_root python -m fate.components component list 2>/dev/null \
    | in_root python -c 'import sys, yaml; d = yaml.safe_load(sys.stdin) or {}; print("\n".join(d.get("buildin", []) + d.get("thirdparty", [])))' || true)"
[ -n "$components" ] || die "pyfate lists no components"

install -m 0755 "$FERROFLOW_BIN" "$ROOT/usr/local/bin/ferroflow"
in_root /usr/local/bin/ferroflow --version >/dev/null || die "ferroflow does not run in the root filesystem"
rm -rf "$ROOT/tmp/"* "$ROOT/root/.cache" "$ROOT/var/cache/apt/archives/"*.deb "$ROOT/var/lib/apt/lists/"*
: >"$ROOT/etc/resolv.conf"
cleanup
mounted=()

changes=(
    --change "ENV PATH=$VENV/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    --change "ENV FATE_PYTHON=$VENV/bin/python"
    --change "ENV HOME=/tmp"
    --change 'ENTRYPOINT ["/usr/local/bin/ferroflow", "task", "entrypoint"]'
    --change "LABEL org.opencontainers.image.title=fate org.opencontainers.image.version=2.2.0"
)
i=0
while read -r c; do
    [ -n "$c" ] || continue
    changes+=(--change "LABEL component.$i.name=$c")
    i=$((i + 1))
done <<<"$components"

log "importing $TAG ($i components)"
tar -C "$ROOT" --numeric-owner --exclude=./.debootstrap-done -cf - . | docker import "${changes[@]}" - "$TAG" >/dev/null
docker run --rm --network none --entrypoint "$VENV/bin/python" "$TAG" \
    -c "import importlib.metadata as m, fate.components; print(\"pyfate\", m.version(\"pyfate\"), \"in the image\")"
docker image ls "$TAG"
log "done: register it with device docker and image $TAG"
