#!/usr/bin/env bash
# make demo: a master and two workers of libmcphub-cluster on 127.0.0.1,
# serving examples/mcp_settings.json (our C example MCP server under the
# names "notes", two replicas, and "calc", one).  Stays in the foreground;
# Ctrl-C or SIGTERM stops every process it started and checks that none is
# left and that the ports are free again.
#
#   usage: examples/demo.sh [BUILD_DIR]          (make demo builds first)
#
# Environment (all optional):
#   MCPHUB_DEMO_PORT          master port, default 3000 (0: any free port)
#   MCPHUB_DEMO_WORKER1_PORT  first worker, default 3101 (0: any free port)
#   MCPHUB_DEMO_WORKER2_PORT  second worker, default 3102 (0: any free port)
#   MCPHUB_DEMO_SETTINGS      settings file, default examples/mcp_settings.json
#   MCPHUB_DEMO_DIR           logs and the master's state, default a new
#                             /tmp/mcphub-demo.XXXXXX (kept afterwards)
#   MCPHUB_DEMO_TIMEOUT       seconds to wait for the cluster, default 30
#   MCPHUB_DEMO_EVENTS        1 (default): print the master's cluster events
#                             as they happen; 0: quiet
#   MCPHUB_DEMO_DURATION      stop by itself after this many seconds (tests)
#   CLUSTER_TOKEN             the cluster token (default: the settings file's)
# shellcheck disable=SC2086,SC2046  # $roots, $left, ...: lists of pids, split on purpose
set -u

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
build=$(cd "$build" 2>/dev/null && pwd) || { echo "demo: no build directory ${1:-$root/build}: run make demo" >&2; exit 1; }
settings=${MCPHUB_DEMO_SETTINGS:-$root/examples/mcp_settings.json}
host=127.0.0.1
mport=${MCPHUB_DEMO_PORT:-3000}
w1port=${MCPHUB_DEMO_WORKER1_PORT:-3101}
w2port=${MCPHUB_DEMO_WORKER2_PORT:-3102}
ready_timeout=${MCPHUB_DEMO_TIMEOUT:-30}
events=${MCPHUB_DEMO_EVENTS:-1}
duration=${MCPHUB_DEMO_DURATION:-0}

say() { printf 'demo: %s\n' "$*"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

for p in "$mport" "$w1port" "$w2port" "$ready_timeout" "$duration"; do
    case $p in ''|*[!0-9]*) die "not a number: '$p' (MCPHUB_DEMO_* variables take numbers)" ;; esac
done
for bin in mcphub-masterd mcphub-workerd examples/servers/mcp-example-server; do
    [ -x "$build/$bin" ] || die "$build/$bin is missing: run make demo (it builds first)"
done
[ -r "$settings" ] || die "cannot read the settings file $settings"

# ---- ports ------------------------------------------------------------------------------

# True when something accepts connections on 127.0.0.1:$1.
port_busy() { timeout 2 bash -c "exec 3<>/dev/tcp/$host/$1" 2>/dev/null; }

busy=
for p in "$mport" "$w1port" "$w2port"; do
    [ "$p" = 0 ] && continue
    if port_busy "$p"; then
        busy="$busy $p"
    fi
done
if [ -n "$busy" ]; then
    die "port(s)$busy on $host already in use; stop what listens there (ss -ltnp) or choose
      other ports: MCPHUB_DEMO_PORT=4000 MCPHUB_DEMO_WORKER1_PORT=4101 MCPHUB_DEMO_WORKER2_PORT=4102 make demo"
fi
if [ "$mport" != 0 ] && { [ "$mport" = "$w1port" ] || [ "$mport" = "$w2port" ]; } ||
   { [ "$w1port" != 0 ] && [ "$w1port" = "$w2port" ]; }; then
    die "the three ports must differ (master $mport, workers $w1port and $w2port)"
fi

# ---- the token ----------------------------------------------------------------------------

# The first "token" after "cluster": in the settings file (the layout of
# ours); CLUSTER_TOKEN wins.  Passed to every daemon with --token, so that
# what we print is what they use.
token=${CLUSTER_TOKEN:-}
if [ -z "$token" ]; then
    token=$(awk '/"cluster"[[:space:]]*:/ { c = 1 }
                 c && match($0, /"token"[[:space:]]*:[[:space:]]*"[^"]*"/) {
                     s = substr($0, RSTART, RLENGTH); sub(/^"token"[[:space:]]*:[[:space:]]*"/, "", s)
                     sub(/"$/, "", s); print s; exit }' "$settings")
fi
if [ -z "$token" ]; then
    token=demo-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
fi

# ---- processes ----------------------------------------------------------------------------

dir=${MCPHUB_DEMO_DIR:-}
if [ -z "$dir" ]; then
    dir=$(mktemp -d "${TMPDIR:-/tmp}/mcphub-demo.XXXXXX") || die "cannot create a directory for the logs"
else
    mkdir -p "$dir" || die "cannot create $dir"
    rm -f "$dir"/master.log "$dir"/worker1.log "$dir"/worker2.log
    rm -rf "$dir/state"
fi
dir=$(cd "$dir" && pwd)
record=$dir/.pids # "pid starttime" of everything we started, and their descendants
: > "$record"

roots= # the daemons and the event follower, by pid
mpid='' w1pid='' w2pid='' follower='' sleeper=''
stopping=0

# Field 22 of /proc/PID/stat: the start time, which tells a reused pid apart.
starttime() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f20; }
alive() {
    local st
    st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
    [ -n "$st" ] && [ "$st" != Z ]
}

# Every descendant of the pids given, from /proc.
descendants() {
    cat /proc/[0-9]*/stat 2>/dev/null |
    sed -n 's/^\([0-9]*\) .*) [A-Za-z] \([0-9]*\) .*/\1 \2/p' | awk -v roots="$*" '
        { parent[$1] = $2 }
        END { n = split(roots, r, " "); for (i = 1; i <= n; i++) want[r[i]] = 1
              do { added = 0
                   for (p in parent) if (!(p in want) && (parent[p] in want)) { want[p] = 1; added = 1; print p } }
              while (added) }'
}

# Remember the roots and all their descendants (a worker's MCP servers) with
# their start times, so that even a process whose parent died is found.
remember_all() {
    local p s
    for p in $roots $(descendants $roots); do
        s=$(starttime "$p")
        [ -n "$s" ] || continue
        grep -q "^$p $s\$" "$record" 2>/dev/null || echo "$p $s" >> "$record"
    done
}

# The recorded processes still alive (same pid and start time).
still_running() {
    local p s
    while read -r p s; do
        [ -n "$p" ] || continue
        if [ "$(starttime "$p")" = "$s" ] && alive "$p"; then
            echo "$p"
        fi
    done < "$record"
}

# Start "$@" in the background, stderr to log $1; prints nothing.
start() {
    local log=$1
    shift
    PATH="$build/examples/servers:$PATH" MCPHUB_LOG_LEVEL=${MCPHUB_LOG_LEVEL:-info} \
        "$@" </dev/null >>"$dir/$log" 2>&1 &
    roots="$roots $!"
    remember_all
}

cleanup() {
    local left n p
    [ "$stopping" = 1 ] && return
    stopping=1
    trap '' INT TERM HUP
    [ -n "$roots" ] || return 0
    # Children started with & ignore SIGINT (bash does that without job
    # control): stop them by pid.
    [ -n "$sleeper" ] && kill "$sleeper" 2>/dev/null
    if [ -n "$follower" ]; then
        kill -TERM $(descendants "$follower") "$follower" 2>/dev/null
    fi
    echo
    say "stopping the master, the workers and their MCP servers ..."
    remember_all
    # Workers first: each stops its MCP servers; then the master.
    for p in $w1pid $w2pid; do kill -TERM "$p" 2>/dev/null; done
    for _ in $(seq 1 50); do
        alive "$w1pid" || alive "$w2pid" || break
        sleep 0.1
    done
    kill -TERM $roots 2>/dev/null
    for _ in $(seq 1 50); do
        [ -z "$(still_running)" ] && break
        sleep 0.1
    done
    left=$(still_running)
    if [ -n "$left" ]; then
        say "still running after 10 s, killing:$(for p in $left; do printf ' %s(%s)' "$p" "$(tr '\0' ' ' < /proc/$p/cmdline 2>/dev/null | cut -c1-60)"; done)"
        kill -KILL $left 2>/dev/null
        sleep 0.2
    fi
    left=$(still_running)
    n=$(wc -l < "$record")
    busy=
    for p in $mport $w1port $w2port; do
        port_busy "$p" && busy="$busy $p"
    done
    if [ -z "$left" ] && [ -z "$busy" ]; then
        say "stopped: all $n processes it started (daemons, MCP servers, log follower) are gone; ports $mport $w1port $w2port free"
    else
        say "WARNING: left running: ${left:-none}; ports still in use:${busy:- none}"
    fi
    say "logs kept in $dir"
    rm -f "$record"
}
trap 'cleanup; exit 0' INT TERM HUP
trap 'cleanup' EXIT

# A log line's port=N, once the daemon logged it (or "" after $2 seconds).
wait_port() {
    local log=$1 what=$2 pid=$3 p
    for _ in $(seq 1 $((ready_timeout * 10))); do
        p=$(sed -n "s/.*event=$what .* port=\([0-9]*\).*/\1/p" "$dir/$log" 2>/dev/null | head -1)
        if [ -n "$p" ]; then
            echo "$p"
            return 0
        fi
        alive "$pid" || return 1
        sleep 0.1
    done
    return 1
}

failed_start() {
    say "$1 did not start; the end of $dir/$2:" >&2
    tail -n 15 "$dir/$2" | sed 's/^/    /' >&2
    exit 1
}

# GET http://$host:$mport$1 with HTTP/1.0 over bash's /dev/tcp (no curl
# needed); prints the body.
http_get() {
    # shellcheck disable=SC2016  # expanded by the inner bash
    timeout 3 bash -c '
        exec 3<>"/dev/tcp/$0/$1" || exit 1
        printf "GET %s HTTP/1.0\r\nHost: %s:%s\r\nAuthorization: Bearer %s\r\n\r\n" "$2" "$0" "$1" "$3" >&3
        sed "1,/^\r*$/d" <&3' "$host" "$mport" "$1" "$token" 2>/dev/null
}
json_num() { sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p"; }

say "starting a master and two workers on $host with ${settings#"$root"/}"
start master.log "$build/mcphub-masterd" -c "$settings" --host "$host" --port "$mport" \
    --node-id master --token "$token" --state-dir "$dir/state"
mpid=${roots##* }
mport=$(wait_port master.log masterd_start "$mpid") || failed_start "the master" master.log

start worker1.log "$build/mcphub-workerd" -c "$settings" --host "$host" --port "$w1port" \
    --node-id worker1 --token "$token" --master-url "http://$host:$mport"
w1pid=${roots##* }
start worker2.log "$build/mcphub-workerd" -c "$settings" --host "$host" --port "$w2port" \
    --node-id worker2 --token "$token" --master-url "http://$host:$mport"
w2pid=${roots##* }
w1port=$(wait_port worker1.log workerd_start "$w1pid") || failed_start "worker1" worker1.log
w2port=$(wait_port worker2.log workerd_start "$w2pid") || failed_start "worker2" worker2.log

# Ready: both workers online and every desired replica running.
ready=0
health=
for _ in $(seq 1 $((ready_timeout * 5))); do
    health=$(http_get /health)
    online=$(printf '%s' "$health" | json_num online)
    desired=$(printf '%s' "$health" | json_num replicasDesired)
    running=$(printf '%s' "$health" | json_num replicasRunning)
    case $health in *'"status":"healthy"'*)
        if [ "${online:-0}" -ge 2 ] && [ "${desired:-0}" -gt 0 ] && [ "${running:-0}" -ge "${desired:-1}" ]; then
            # ... and the master knows every server's tools (its catalog
            # refreshes once a second), so that a client sees them all.
            servers=$(http_get /api/servers)
            total=$(printf '%s' "$servers" | grep -o '"status":"[a-z]*","tools":' | wc -l)
            with=$(printf '%s' "$servers" | grep -o '"status":"connected","tools":\[{' | wc -l)
            if [ "$total" -gt 0 ] && [ "$with" = "$total" ]; then
                ready=1
                break
            fi
        fi ;;
    esac
    for p in $roots; do
        alive "$p" || { say "a daemon (pid $p) exited" >&2; ready=-1; break 2; }
    done
    remember_all
    sleep 0.2
done
remember_all
if [ "$ready" != 1 ]; then
    say "the cluster did not become ready in ${ready_timeout}s; last /health: ${health:-no answer}" >&2
    for l in master.log worker1.log worker2.log; do
        echo "--- the end of $dir/$l" >&2
        tail -n 8 "$dir/$l" | sed 's/^/    /' >&2
    done
    exit 1
fi

base=http://$host:$mport
cat <<EOF

  libmcphub-cluster demo: a master and 2 workers, $desired replicas running
  (servers "notes" x2 and "calc" x1, from ${settings#"$root"/})

  MCP (Streamable HTTP)  $base/mcp         every server, tools named notes-echo, calc-add, ...
                         $base/mcp/demo    the group "demo";  $base/mcp/notes   one server
  MCP (legacy SSE)       $base/sse
  Dashboard              $base/
  Cluster API            curl -H 'Authorization: Bearer $token' $base/api/cluster/status
                         (also /api/cluster/nodes, /replicas, /sessions; /health, /metrics)
  Call a tool            curl -H 'Authorization: Bearer $token' -H 'Content-Type: application/json' \\
                           -d '{"toolName":"whoami","arguments":{}}' $base/api/tools/call/notes

  Client config to copy (Cursor ~/.cursor/mcp.json, Claude Code .mcp.json, ...):

    {
      "mcpServers": {
        "mcphub-demo": { "type": "http", "url": "$base/mcp" }
      }
    }

  Claude Desktop (claude_desktop_config.json) reaches it through mcp-remote:
    "mcphub-demo": { "command": "npx", "args": ["-y", "mcp-remote", "$base/mcp"] }

  Logs     $dir/master.log, worker1.log, worker2.log  (tail -f $dir/*.log)
  Workers  worker1 on port $w1port, worker2 on port $w2port;  cluster token: $token
  Failover kill -9 $w1pid   (worker1: watch the master move its replicas)
  Stop     Ctrl-C (stops every process the demo started)

EOF

if [ "$events" = 1 ]; then
    say "cluster events from the master's log, as they happen:"
    ( tail -n 0 -F --pid=$$ "$dir/master.log" 2>/dev/null |
      grep --line-buffered -E 'event=(node_[a-z_]+|replicas?_[a-z_]+|routes?_failover|routes_migrated|settings_reloaded|reload_[a-z_]+|health_check_failed|register_refused|server_(removed|rejected|start_failed)) ' |
      sed -u -e 's/^[^ ]*T\([0-9:]*\)\.[0-9]*Z level=[a-z]* event=/  \1 /' ) &
    follower=$!
    roots="$roots $follower"
fi

# Watch: a daemon that exits by itself ends the demo.
start_s=$(date +%s)
w1gone=0 w2gone=0
while :; do
    sleep 1 &
    sleeper=$!
    wait "$sleeper" 2>/dev/null
    sleeper=''
    remember_all
    if ! alive "$mpid"; then
        say "the master exited; the end of $dir/master.log:" >&2
        tail -n 10 "$dir/master.log" | sed 's/^/    /' >&2
        exit 1
    fi
    # A worker that dies is part of the show: the master moves its replicas.
    if [ "$w1gone" = 0 ] && ! alive "$w1pid"; then
        w1gone=1
        say "worker1 (pid $w1pid) exited; the master moves its replicas to worker2" >&2
    fi
    if [ "$w2gone" = 0 ] && ! alive "$w2pid"; then
        w2gone=1
        say "worker2 (pid $w2pid) exited; the master moves its replicas to worker1" >&2
    fi
    if [ "$w1gone" = 1 ] && [ "$w2gone" = 1 ]; then
        say "both workers are gone; stopping" >&2
        exit 1
    fi
    if [ "$duration" != 0 ] && [ $(($(date +%s) - start_s)) -ge "$duration" ]; then
        say "MCPHUB_DEMO_DURATION=${duration}s reached"
        exit 0
    fi
done
