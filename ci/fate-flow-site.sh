#!/usr/bin/env bash
# One real FATE Flow 2.2 site in multi-party mode (federation rabbitmq) on 127.0.0.1, for the
# interconnection tests: its commands go to a proxy, which is where ferroflow stands.
#
#   ci/fate-flow-site.sh up|down HOME
#
# Environment:
#   FATE_FLOW_PYTHON  python of a venv holding fate_flow 2.2.0 (ci/fate-flow-venv.sh). One
#                     site per venv: `fate_flow init` writes the home's paths into the package.
#   PARTY_ID HTTP_PORT GRPC_PORT
#   PROXY             nginx (HTTP, dest-party-id header) or osx (gRPC unaryCall)
#   PROXY_HOST PROXY_PORT   where the proxy listens (ferroflow's HTTP or gRPC port)
#   MQ_HOST MQ_PORT MQ_MNG_PORT MQ_USER MQ_PASSWORD
#   MQ_ROUTES         "9999=127.0.0.1:5672,10000=127.0.0.1:5672" (rabbitmq_route_table.yaml)
#   SITE_AUTH         1: `authentication.site: true` (commands between sites signed and verified)
set -euo pipefail
cmd="${1:?usage: ci/fate-flow-site.sh up|down HOME}"
HOME_DIR="${2:?usage: ci/fate-flow-site.sh up|down HOME}"
PIDFILE="$HOME_DIR/flow.pid"

down() {
    [ -f "$PIDFILE" ] || return 0
    local pid
    pid="$(cat "$PIDFILE")"
    kill -TERM -- "-$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    # The server and its task processes share its process group (setsid below).
    kill -KILL -- "-$pid" 2>/dev/null || true
    rm -f "$PIDFILE"
}

up() {
    : "${FATE_FLOW_PYTHON:?}" "${PARTY_ID:?}" "${HTTP_PORT:?}" "${GRPC_PORT:?}" "${PROXY:?}" "${PROXY_PORT:?}"
    local py="$FATE_FLOW_PYTHON" pkg
    down
    rm -rf "$HOME_DIR"
    mkdir -p "$HOME_DIR/logs"
    pkg="$("$py" -c 'import fate_flow, os; print(os.path.dirname(fate_flow.__file__))')"
    # `init` copies the package's conf into HOME only while the package points at none.
    sed -i 's|^DEFAULT_SERVER_CONF_PATH.*|DEFAULT_SERVER_CONF_PATH = ""|' "$pkg/settings.py"
    "$py" -m fate_flow.commands.server_cli init --ip 127.0.0.1 --port "$HTTP_PORT" --home "$HOME_DIR" >/dev/null
    "$py" - "$HOME_DIR/conf" <<PY
import os, sys
from ruamel import yaml
conf = sys.argv[1]
path = os.path.join(conf, "service_conf.yaml")
c = yaml.safe_load(open(path))
c["party_id"] = "$PARTY_ID"
c["fateflow"].update(host="127.0.0.1", http_port=$HTTP_PORT, grpc_port=$GRPC_PORT, proxy_name="$PROXY")
c["default_engines"] = {"computing": "standalone", "federation": "rabbitmq", "storage": "standalone"}
fed = c.get("federation") or {}
proxy_host = "${PROXY_HOST:-127.0.0.1}"
fed["nginx"] = {"host": proxy_host, "http_port": $PROXY_PORT, "grpc_port": $PROXY_PORT, "protocol": "http"}
fed["osx"] = {"host": proxy_host, "port": $PROXY_PORT, "mode": "stream"}
fed["rabbitmq"] = {"host": "${MQ_HOST:-127.0.0.1}", "port": ${MQ_PORT:-5672}, "mng_port": ${MQ_MNG_PORT:-15672},
                   "user": "${MQ_USER:-fate}", "password": "${MQ_PASSWORD:-fate}", "route_table": None,
                   "mode": "replication"}
c["federation"] = fed
if "${SITE_AUTH:-0}" == "1":
    auth = c.get("authentication") or {}
    auth["site"] = True
    c["authentication"] = auth
yaml.safe_dump(c, open(path, "w"), default_flow_style=False)
routes = {}
for item in "${MQ_ROUTES:-}".split(","):
    if item:
        party, _, hp = item.partition("=")
        host, _, port = hp.rpartition(":")
        routes[int(party)] = {"host": host, "port": int(port)}
yaml.safe_dump(routes, open(os.path.join(conf, "rabbitmq_route_table.yaml"), "w"), default_flow_style=False)
PY
    cd "$HOME_DIR"
    setsid nohup "$py" "$pkg/fate_flow_server.py" >"$HOME_DIR/logs/console.log" 2>"$HOME_DIR/logs/error.log" </dev/null &
    echo $! >"$PIDFILE"
    for _ in $(seq 1 240); do
        if curl -s -o /dev/null "http://127.0.0.1:$HTTP_PORT/v2/site/info/query"; then
            echo "FATE Flow party $PARTY_ID on 127.0.0.1:$HTTP_PORT (gRPC $GRPC_PORT), proxy $PROXY at ${PROXY_HOST:-127.0.0.1}:$PROXY_PORT"
            return 0
        fi
        kill -0 "$(cat "$PIDFILE")" 2>/dev/null || { tail -30 "$HOME_DIR/logs/error.log" >&2; exit 1; }
        sleep 0.5
    done
    echo "FATE Flow did not answer on $HTTP_PORT" >&2
    exit 1
}

case "$cmd" in
up) up ;;
down) down ;;
*) echo "usage: ci/fate-flow-site.sh up|down HOME" >&2; exit 2 ;;
esac
