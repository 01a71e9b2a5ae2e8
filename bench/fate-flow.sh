#!/usr/bin/env bash
# The real FATE Flow 2.2, standalone (one server for parties 9999 and 10000, SQLite,
# standalone computing/federation/storage), on 127.0.0.1, for the side-by-side benchmarks.
#
#   bench/fate-flow.sh up|down HOME
#
# Environment: FATE_FLOW_PYTHON (a venv with fate_flow 2.2.0: ci/fate-flow-venv.sh; one site
# per venv, since `fate_flow init` writes HOME's paths into the installed package), PORT
# (HTTP, default 29380; gRPC PORT-20).
# `up` writes HOME/flow.pid and HOME/cold_start_ms: launch of the server process → first
# answered `/v2/site/info/query` (polled every 20 ms). The server and its task processes share
# one process group, which `down` ends.
set -euo pipefail
cmd="${1:?usage: bench/fate-flow.sh up|down HOME}"
HOME_DIR="${2:?usage: bench/fate-flow.sh up|down HOME}"
PORT="${PORT:-29380}"
PIDFILE="$HOME_DIR/flow.pid"

down() {
    [ -f "$PIDFILE" ] || return 0
    local pid
    pid="$(cat "$PIDFILE")"
    kill -TERM -- "-$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    rm -f "$PIDFILE"
}

up() {
    local py="${FATE_FLOW_PYTHON:?FATE_FLOW_PYTHON: a venv with fate_flow 2.2.0}" pkg
    down
    rm -rf "$HOME_DIR"
    mkdir -p "$HOME_DIR/logs"
    pkg="$("$py" -c 'import fate_flow, os; print(os.path.dirname(fate_flow.__file__))')"
    sed -i 's|^DEFAULT_SERVER_CONF_PATH.*|DEFAULT_SERVER_CONF_PATH = ""|' "$pkg/settings.py"
    "$py" -m fate_flow.commands.server_cli init --ip 127.0.0.1 --port "$PORT" --home "$HOME_DIR" >/dev/null
    "$py" - "$HOME_DIR/conf/service_conf.yaml" "$((PORT - 20))" <<'PY'
import sys
from ruamel import yaml
path, grpc = sys.argv[1], int(sys.argv[2])
c = yaml.safe_load(open(path))
c["fateflow"].update(host="127.0.0.1", grpc_port=grpc)
assert c["default_engines"] == {"computing": "standalone", "federation": "standalone", "storage": "standalone"}
assert c["database"]["engine"] == "sqlite"
yaml.safe_dump(c, open(path, "w"), default_flow_style=False)
PY
    cd "$HOME_DIR"
    local t0 t1
    t0="$(date +%s%N)"
    setsid nohup "$py" "$pkg/fate_flow_server.py" >"$HOME_DIR/logs/console.log" 2>"$HOME_DIR/logs/error.log" </dev/null &
    echo $! >"$PIDFILE"
    for _ in $(seq 1 3000); do
        if curl -s -o /dev/null "http://127.0.0.1:$PORT/v2/site/info/query"; then
            t1="$(date +%s%N)"
            echo $(( (t1 - t0) / 1000000 )) >"$HOME_DIR/cold_start_ms"
            echo "FATE Flow $("$py" -c 'import importlib.metadata as m; print(m.version("fate_flow"))') on 127.0.0.1:$PORT (pid $(cat "$PIDFILE")), up in $(cat "$HOME_DIR/cold_start_ms") ms"
            return 0
        fi
        kill -0 "$(cat "$PIDFILE")" 2>/dev/null || { tail -30 "$HOME_DIR/logs/error.log" >&2; exit 1; }
        sleep 0.02
    done
    echo "FATE Flow did not answer on $PORT" >&2
    exit 1
}

case "$cmd" in
up) up ;;
down) down ;;
*) echo "usage: bench/fate-flow.sh up|down HOME" >&2; exit 2 ;;
esac
