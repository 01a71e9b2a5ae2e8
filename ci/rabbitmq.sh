#!/usr/bin/env bash
# A private RabbitMQ node for the interconnection tests: Debian's rabbitmq-server, started by
# hand as the calling user, listening on 127.0.0.1 only, with the plugins pyfate's rabbitmq
# federation needs (management: pyfate creates users, vhosts, queues and federation upstreams
# through the HTTP API; federation: the `replication` mode) and an administrator user.
#
#   ci/rabbitmq.sh start|stop DIR
#
# Environment: MQ_PORT (5672), MQ_MNG_PORT (15672), MQ_DIST_PORT (25672), MQ_USER/MQ_PASSWORD
# (fate/fate), MQ_NODE (ferroflow-<MQ_PORT>@localhost). Everything lives under DIR.
# Debian's /usr/sbin wrappers switch to the `rabbitmq` user, which cannot write DIR; the
# package's own scripts in /usr/lib/rabbitmq/bin run as the caller.
set -euo pipefail
cmd="${1:?usage: ci/rabbitmq.sh start|stop DIR}"
DIR="${2:?usage: ci/rabbitmq.sh start|stop DIR}"
MQ_PORT="${MQ_PORT:-5672}"
MQ_MNG_PORT="${MQ_MNG_PORT:-15672}"
MQ_DIST_PORT="${MQ_DIST_PORT:-25672}"
MQ_USER="${MQ_USER:-fate}"
MQ_PASSWORD="${MQ_PASSWORD:-fate}"
BIN="${RABBITMQ_BIN:-/usr/lib/rabbitmq/bin}"

export RABBITMQ_NODENAME="${MQ_NODE:-ferroflow-$MQ_PORT@localhost}"
export RABBITMQ_CONFIG_FILE="$DIR/rabbitmq"
export RABBITMQ_ENABLED_PLUGINS_FILE="$DIR/enabled_plugins"
export RABBITMQ_MNESIA_BASE="$DIR/mnesia"
export RABBITMQ_LOG_BASE="$DIR/log"
export RABBITMQ_PID_FILE="$DIR/rabbit.pid"
export RABBITMQ_DIST_PORT="$MQ_DIST_PORT"
export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
export RABBITMQ_NODE_PORT="$MQ_PORT"
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
export RABBITMQ_CONF_ENV_FILE="$DIR/rabbitmq-env.conf"
export ERL_EPMD_ADDRESS=127.0.0.1
export ERL_CRASH_DUMP="$DIR/erl_crash.dump"
ctl() { "$BIN/rabbitmqctl" -n "$RABBITMQ_NODENAME" -q "$@"; }

case "$cmd" in
start)
    [ -x "$BIN/rabbitmq-server" ] || { echo "rabbitmq-server is not installed (apt-get install rabbitmq-server)" >&2; exit 1; }
    mkdir -p "$DIR/log" "$DIR/mnesia"
    : >"$RABBITMQ_CONF_ENV_FILE"
    cat >"$DIR/rabbitmq.conf" <<CONF
listeners.tcp.1 = 127.0.0.1:$MQ_PORT
management.tcp.ip = 127.0.0.1
management.tcp.port = $MQ_MNG_PORT
log.console = false
log.file.level = warning
CONF
    echo "[rabbitmq_management,rabbitmq_federation,rabbitmq_federation_management]." >"$RABBITMQ_ENABLED_PLUGINS_FILE"
    setsid nohup "$BIN/rabbitmq-server" >"$DIR/log/console.log" 2>&1 </dev/null &
    echo $! >"$DIR/server.pid"
    # await_startup waits for a node that exists; before that it fails at once.
    for _ in $(seq 1 120); do
        ctl await_startup >/dev/null 2>&1 && break
        kill -0 "$(cat "$DIR/server.pid")" 2>/dev/null || { tail -30 "$DIR/log/console.log" >&2; exit 1; }
        sleep 0.5
    done
    ctl await_startup
    ctl list_users | awk '{print $1}' | grep -qx "$MQ_USER" || ctl add_user "$MQ_USER" "$MQ_PASSWORD"
    ctl set_user_tags "$MQ_USER" administrator
    ctl set_permissions -p / "$MQ_USER" ".*" ".*" ".*"
    for _ in $(seq 1 120); do
        curl -sf -u "$MQ_USER:$MQ_PASSWORD" "http://127.0.0.1:$MQ_MNG_PORT/api/overview" >/dev/null && break
        sleep 0.5
    done
    curl -sf -u "$MQ_USER:$MQ_PASSWORD" "http://127.0.0.1:$MQ_MNG_PORT/api/overview" >/dev/null
    echo "rabbitmq $RABBITMQ_NODENAME: amqp 127.0.0.1:$MQ_PORT, management 127.0.0.1:$MQ_MNG_PORT"
    ;;
stop)
    ctl stop "$RABBITMQ_PID_FILE" >/dev/null 2>&1 || true
    if [ -f "$DIR/server.pid" ]; then
        p="$(cat "$DIR/server.pid")"
        for _ in $(seq 1 40); do kill -0 "$p" 2>/dev/null || break; sleep 0.25; done
        kill -KILL -- "-$p" 2>/dev/null || true
        rm -f "$DIR/server.pid"
    fi
    ;;
*) echo "usage: ci/rabbitmq.sh start|stop DIR" >&2; exit 2 ;;
esac
