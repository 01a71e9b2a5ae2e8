#!/usr/bin/env bash
# Builds a FATE algorithm image from the pyfate venv this machine already has (the one
# `ci/pyfate-venv.sh` makes for the tests), with no registry and no base image, in two layers:
#
# 1. the base, `ferroflow-fate-base:<key>`: the venv's Python (its whole prefix, at
#    /opt/python), the venv (at /opt/fate/venv) and the host's shared libraries every ELF file
#    of both loads (the `ldd` closure), in an otherwise empty root filesystem, imported as one
#    layer. <key> is a digest of the venv's packages (`pip freeze`), its Python and this
#    recipe: the base is made again only when one of them changes, and stays on the daemon.
# 2. the image TAG on top of it (one `docker commit` of the binary): the `ferroflow`
#    binary as /usr/local/bin/ferroflow, entry point `ferroflow task entrypoint` (the task
#    wrapper for pyfate: CONFIG from the CONFIG variable, as every algorithm container gets
#    it), user 65532, and labels `component.<n>.name` for pyfate's components, so registering
#    the image as a docker provider discovers them. Seconds when the base exists.
#
#   docker/fate/build.sh [TAG]            default TAG: fate:2.2.0; prints TAG on its last line
#
# Environment:
#   PYFATE_PYTHON  the venv's python (default: the path in ~/.cache/ferroflow-ci/venv-pyfate.python)
#   FERROFLOW_BIN  the ferroflow binary to put in (default: target/release/ferroflow under
#                  $CARGO_TARGET_DIR or ./target; built with cargo if absent)
#   WORK           staging directory (default ~/.cache/ferroflow-ci/fate-image; files are
#                  hard links into the venv, so it costs little space)
#
# torch: PyPI publishes only torch's CUDA build for Linux, and libtorch links the CUDA
# libraries (`nvidia-*` wheels, 2.7 GB) even on a CPU, so they stay in the image (~6 GB).
# Needs the docker CLI and a running daemon. See docs/containers.md.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
TAG="${1:-fate:2.2.0}"
WORK="${WORK:-$HOME/.cache/ferroflow-ci/fate-image}"
# Changes to what goes into the base layer bump this, so that old bases are not reused.
RECIPE=1
UID_TASK=65532

log() { printf '== fate image: %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

command -v docker >/dev/null || die "the docker CLI is needed"
docker version >/dev/null || die "the Docker daemon does not answer"

if [ -z "${PYFATE_PYTHON:-}" ]; then
    f="$HOME/.cache/ferroflow-ci/venv-pyfate.python"
    [ -f "$f" ] || die "set PYFATE_PYTHON to a venv made by ci/pyfate-venv.sh"
    PYFATE_PYTHON="$(cat "$f")"
fi
[ -x "$PYFATE_PYTHON" ] || die "no python at $PYFATE_PYTHON"
VENV="$(cd "$(dirname "$PYFATE_PYTHON")/.." && pwd)"
[ -f "$VENV/pyvenv.cfg" ] || die "$VENV is not a venv"
PREFIX="$("$PYFATE_PYTHON" -c 'import sys; print(sys.base_prefix)')"
PYVER="$("$PYFATE_PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"

if [ -z "${FERROFLOW_BIN:-}" ]; then
    FERROFLOW_BIN="${CARGO_TARGET_DIR:-$REPO/target}/release/ferroflow"
    if [ ! -x "$FERROFLOW_BIN" ]; then
        log "building ferroflow (release)"
        (cd "$REPO" && cargo build --release -p ferroflow)
    fi
fi
[ -x "$FERROFLOW_BIN" ] || die "no ferroflow binary at $FERROFLOW_BIN"

mkdir -p "$WORK"
start=$(date +%s)
key="$( { echo "recipe $RECIPE"; "$PYFATE_PYTHON" --version; echo "$PREFIX";
          "$PYFATE_PYTHON" -m pip freeze --all 2>/dev/null; } | sha256sum | cut -c1-16)"
BASE="ferroflow-fate-base:$key"

# The host's shared libraries the ELF files under the given directories load (outside them).
lib_closure() {
    find "$@" -type f \( -name '*.so' -o -name '*.so.*' -o -perm -u+x \) -print0 2>/dev/null |
        xargs -0 -r -n 200 ldd 2>/dev/null |
        awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// && $2 ~ /^\(/ {print $1}' |
        sort -u | grep -v -e "^$VENV/" -e "^$PREFIX/" || true
}

# Copies host files (symbolic links followed) into a root filesystem at the same paths, plus
# the loader's usual path.
copy_libs() {
    local root="$1" lib
    while read -r lib; do
        [ -n "$lib" ] || continue
        mkdir -p "$root$(dirname "$lib")"
        cp -L "$lib" "$root$lib"
    done
}

if docker image inspect "$BASE" >/dev/null 2>&1; then
    log "base $BASE is there"
else
    log "base $BASE: $PREFIX and $VENV"
    stage="$WORK/base-$key"
    rm -rf "$WORK"/base-*
    root="$stage/rootfs"
    mkdir -p "$root/opt/fate" "$root/etc" "$root/tmp" "$root/usr/local/bin"
    chmod 1777 "$root/tmp"
    # Hard links: no copy of the 6 GB. Files are only ever replaced in the stage, never
    # written in place, so the venv is left as it is.
    cp -al "$PREFIX" "$root/opt/python"
    rm -rf "$root/opt/python/lib/python$PYVER/test" "$root/opt/python/share"
    cp -al "$VENV" "$root/opt/fate/venv"
    rm -f "$root/opt/fate/venv/bin/python"* "$root/opt/fate/venv/pyvenv.cfg" \
        "$root/opt/fate/venv/.ferroflow-pyfate"
    ln -s "/opt/python/bin/python$PYVER" "$root/opt/fate/venv/bin/python$PYVER"
    ln -s "python$PYVER" "$root/opt/fate/venv/bin/python"
    ln -s "python$PYVER" "$root/opt/fate/venv/bin/python3"
    sed -e "s|^home = .*|home = /opt/python/bin|" -e "/^executable/d" -e "/^command/d" \
        "$VENV/pyvenv.cfg" >"$root/opt/fate/venv/pyvenv.cfg"
    log "the shared libraries they load"
    lib_closure "$PREFIX" "$VENV" | copy_libs "$root"
    printf 'root:x:0:0:root:/root:/sbin/nologin\nfate:x:%s:%s:fate:/tmp:/sbin/nologin\n' \
        "$UID_TASK" "$UID_TASK" >"$root/etc/passwd"
    printf 'root:x:0:\nfate:x:%s:\n' "$UID_TASK" >"$root/etc/group"
    log "importing $BASE ($(du -sh --apparent-size "$root" | cut -f1))"
    tar -C "$root" --numeric-owner --owner=0 --group=0 -cf - . |
        docker import --change "LABEL ferroflow.fate-base=$key" - "$BASE" >/dev/null
    rm -rf "$stage"
fi

# The image: the binary, its libraries, the labels; nothing to do if TAG was made from the
# same base, binary and components.
components="$("$PYFATE_PYTHON" -m fate.components component list 2>/dev/null |
    "$PYFATE_PYTHON" -c 'import sys, yaml; d = yaml.safe_load(sys.stdin) or {}; print("\n".join(d.get("buildin", []) + d.get("thirdparty", [])))')"
[ -n "$components" ] || die "pyfate lists no components"
digest="$( { echo "$BASE"; sha256sum <"$FERROFLOW_BIN"; echo "$components"; } | sha256sum | cut -c1-16)"
if [ "$(docker image inspect -f '{{index .Config.Labels "ferroflow.digest"}}' "$TAG" 2>/dev/null)" = "$digest" ]; then
    log "$TAG is up to date ($(($(date +%s) - start)) s)"
    echo "$TAG"
    exit 0
fi
ctx="$WORK/top"
rm -rf "$ctx"
mkdir -p "$ctx/rootfs/usr/local/bin"
cp -L "$FERROFLOW_BIN" "$ctx/rootfs/usr/local/bin/ferroflow"
lib_closure "$ctx/rootfs/usr/local/bin" | copy_libs "$ctx/rootfs"
labels=(--change "LABEL org.opencontainers.image.title=fate org.opencontainers.image.version=2.2.0 ferroflow.digest=$digest")
i=0
while read -r c; do
    [ -n "$c" ] || continue
    labels+=(--change "LABEL component.$i.name=$c")
    i=$((i + 1))
done <<<"$components"
# One container, one commit (not `docker build`: the legacy builder commits a layer per
# instruction, and a commit compares the whole 6 GB tree on some storage drivers).
log "making $TAG on $BASE ($i components)"
tmp="ferroflow-fate-build-$$"
docker rm -f "$tmp" >/dev/null 2>&1 || true
docker create --name "$tmp" --entrypoint /bin/true "$BASE" >/dev/null
trap 'docker rm -f "$tmp" >/dev/null 2>&1 || true' EXIT
docker cp "$ctx/rootfs/." "$tmp:/"
docker commit "${labels[@]}" \
    --change "ENV PATH=/opt/fate/venv/bin:/usr/local/bin:/usr/bin:/bin" \
    --change "ENV LD_LIBRARY_PATH=/opt/python/lib FATE_PYTHON=/opt/fate/venv/bin/python HOME=/tmp" \
    --change "USER $UID_TASK:$UID_TASK" \
    --change 'ENTRYPOINT ["/usr/local/bin/ferroflow", "task", "entrypoint"]' \
    --change 'CMD []' \
    "$tmp" "$TAG" >/dev/null
docker rm -f "$tmp" >/dev/null
rm -rf "$ctx"
docker run --rm --network none --entrypoint /opt/fate/venv/bin/python "$TAG" \
    -c 'import importlib.metadata as m, fate.components, torch, lmdb; print("pyfate", m.version("pyfate"), "torch", torch.__version__, "in the image")' >&2
log "done in $(($(date +%s) - start)) s: $(docker image inspect -f '{{.Size}}' "$TAG" | awk '{printf "%.1f GB", $1/1e9}')"
echo "$TAG"
