# Sourced by the venv scripts. pick_python CANDIDATE...: the first candidate on PATH that is a
# CPython 3.10 or 3.11, the versions FATE 2.2's packages support.
pick_python() {
    local c
    for c in "$@"; do
        if command -v "$c" >/dev/null 2>&1 &&
            "$c" -c 'import sys; assert sys.version_info[:2] in ((3, 10), (3, 11))' >/dev/null 2>&1; then
            command -v "$c"
            return
        fi
    done
    echo "no CPython 3.10 or 3.11 among $*; set PYTHON" >&2
    return 1
}
