#!/bin/sh
# The soak benchmark: a cluster on loopback (mcphub-masterd in cluster mode
# with a token, two mcphub-workerd, the C example server with 2 replicas)
# kept under load for SOAK_MINUTES, watching whether anything grows.
#
#   bench/run-soak.sh                              (30 minutes; not run in CI)
#   SOAK_MINUTES=3 SOAK_INTERVAL=10 bench/run-soak.sh       (a short run)
#
# Load, all the time: build/bench/loadgen in a loop of batches (tool
# example-echo, every answer checked), each batch opening its own sessions
# and DELETEing them at its end, cycling through SOAK_SESSIONS sessions per
# batch and alternating /mcp and /mcp/example.  Between samples, SOAK_CHURN
# session churn cycles with curl, no SDK: a Streamable HTTP session
# (initialize, notifications/initialized, tools/list, whoami, add, DELETE,
# then a POST on the deleted session must be 404), a legacy SSE session
# (GET /sse, the endpoint event, initialize and add over /messages, the
# answers on the stream, then the client hangs up) and one
# POST /api/tools/call/example with the token as bearer key.
#
# Every SOAK_INTERVAL seconds, for the master and each worker: VmRSS, open
# file descriptors (/proc/PID/fd), descendant processes; plus the master's
# session count (/api/cluster/status) and calls/s and errors of the last
# finished batch.  At the end: the table and a verdict per metric.  Samples
# taken before SOAK_WARMUP seconds are shown (marked *) but not judged; of
# the others, the median of the last third is compared with the median of
# the first third: RSS is flat when it grew by at most 10 % or 4 MiB
# (whichever is larger), fds by at most 8, descendants not at all (fewer is
# a failure too: a replica gone).  Anything else is GROWING, with the numbers.
#
# Exit status: 0 when every metric is flat and the load saw no error (no
# failed call, no failed churn step, no daemon died); 1 otherwise; 2 when
# the cluster could not be set up (or the run was too short to judge);
# 124 on the hard timeout (SOAK_TIMEOUT).  Everything it starts is stopped
# on exit (trap), also on Ctrl-C and on the hard timeout.
#
# Environment: SOAK_MINUTES (30; fractions allowed), SOAK_INTERVAL (30 s),
# SOAK_WARMUP (seconds not judged; default a tenth of the run, at least one
# interval), SOAK_TIMEOUT (hard limit for the whole script, default the run
# + 300 s), SOAK_CALLS (20000 calls per batch), SOAK_INFLIGHT (16),
# SOAK_SESSIONS ("1 4 8 16": sessions per batch, in turn), SOAK_CHURN (3
# cycles per interval), PAYLOAD (64 bytes of echo text), SOAK_KEEP (1: keep
# the logs and samples, and say where), B (build dir, default build), BUILD
# (1; 0 to use what is built).  Ports are picked by the kernel (--port 0)
# and read back from /proc.  With MCPHUB_IT_PIDFILE set, the daemons are
# recorded there as "pid starttime" (tests/integration/run's convention).
set -u
cd "$(dirname "$0")/.." || exit 2

B=${B:-build}
SOAK_MINUTES=${SOAK_MINUTES:-30}
SOAK_INTERVAL=${SOAK_INTERVAL:-30}
SOAK_CALLS=${SOAK_CALLS:-20000}
SOAK_INFLIGHT=${SOAK_INFLIGHT:-16}
SOAK_SESSIONS=${SOAK_SESSIONS:-"1 4 8 16"}
SOAK_CHURN=${SOAK_CHURN:-3}
SOAK_KEEP=${SOAK_KEEP:-0}
PAYLOAD=${PAYLOAD:-64}
BUILD=${BUILD:-1}

die() { echo "run-soak: $*" >&2; exit 2; }
isnum() { case $1 in '' | *[!0-9]*) return 1 ;; esac; }

DURATION=$(awk -v m="$SOAK_MINUTES" 'BEGIN { if (m + 0 > 0) printf "%d", m * 60 + 0.5 }')
isnum "$DURATION" && [ "$DURATION" -gt 0 ] || die "SOAK_MINUTES must be a positive number"
for v in SOAK_INTERVAL SOAK_CALLS SOAK_INFLIGHT SOAK_CHURN PAYLOAD; do
    eval "x=\$$v"
    isnum "$x" || die "$v must be a whole number"
done
[ "$SOAK_INTERVAL" -gt 0 ] && [ "$SOAK_CALLS" -gt 0 ] && [ "$SOAK_INFLIGHT" -gt 0 ] ||
    die "SOAK_INTERVAL, SOAK_CALLS and SOAK_INFLIGHT must be positive"
for s in $SOAK_SESSIONS; do isnum "$s" && [ "$s" -gt 0 ] || die "SOAK_SESSIONS: \"$s\""; done
[ -n "$(echo $SOAK_SESSIONS)" ] || die "SOAK_SESSIONS is empty"
if [ -z "${SOAK_WARMUP:-}" ]; then
    SOAK_WARMUP=$((DURATION / 10))
    [ "$SOAK_WARMUP" -lt "$SOAK_INTERVAL" ] && SOAK_WARMUP=$SOAK_INTERVAL
fi
isnum "$SOAK_WARMUP" || die "SOAK_WARMUP must be a whole number of seconds"
SOAK_TIMEOUT=${SOAK_TIMEOUT:-$((DURATION + 300))}
isnum "$SOAK_TIMEOUT" && [ "$SOAK_TIMEOUT" -gt 0 ] || die "SOAK_TIMEOUT must be positive"
BATCH_TIMEOUT=120   # one batch; loadgen itself gives up after 10 s without an answer

LOADGEN=$B/bench/loadgen
MASTERD=$B/mcphub-masterd
WORKERD=$B/mcphub-workerd
case $B in /*) SERVER=$B ;; *) SERVER=$(pwd)/$B ;; esac
SERVER=$SERVER/examples/servers/mcp-example-server   # absolute: the workers run it
TOKEN=soak-token-$$
TOOL=example-echo                                     # server-tool, MCPHub's naming

if [ "$BUILD" != 0 ]; then # only what it runs: others' work in progress elsewhere cannot stop it
    make -s B="$B" "$MASTERD" "$WORKERD" "$B/examples/servers/mcp-example-server" "$LOADGEN" \
        >/dev/null || die "build failed"
fi
for f in "$LOADGEN" "$MASTERD" "$WORKERD" "$SERVER"; do
    [ -x "$f" ] || die "$f is missing"
done
command -v curl >/dev/null || die "curl is needed"
command -v timeout >/dev/null || die "timeout (coreutils) is needed"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/mcphub-soak.XXXXXX") || die "mktemp failed"
mpid= w1pid= w2pid= looppid= dogpid= ssepid=
STATUS=2

stop() { # pid: TERM, then KILL after 5 s
    if [ -n "$1" ] && kill -0 "$1" 2>/dev/null; then
        kill -TERM "$1" 2>/dev/null
        i=0
        while kill -0 "$1" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
        kill -KILL "$1" 2>/dev/null
        wait "$1" 2>/dev/null
    fi
}
# Every descendant of $1, from /proc (as tests/integration/run does).
descendants() {
    cat /proc/[0-9]*/stat 2>/dev/null |
    sed -n 's/^\([0-9]*\) .*) [A-Za-z] \([0-9]*\) .*/\1 \2/p' | awk -v root="$1" '
        { parent[$1] = $2 }
        END { want[root] = 1
              do { added = 0
                   for (p in parent) if (!(p in want) && (parent[p] in want)) { want[p] = 1; added = 1; print p } }
              while (added) }'
}
cleanup() {
    trap '' INT TERM
    : > "$tmp/stop"
    # the load loop first (it would start a new batch), then its batch
    if [ -n "$looppid" ]; then
        kill -TERM "$looppid" 2>/dev/null
        wait "$looppid" 2>/dev/null
        lg=$(cat "$tmp/loadgen.pid" 2>/dev/null)   # timeout, running loadgen; if still that
        grep -q loadgen "/proc/$lg/cmdline" 2>/dev/null && stop "$lg"
    fi
    stop "$ssepid"
    # the replicas: the workers stop their own, but note them in case they cannot
    reps="$( [ -n "$w1pid" ] && descendants "$w1pid") $( [ -n "$w2pid" ] && descendants "$w2pid")"
    stop "$w1pid"
    stop "$w2pid"
    stop "$mpid"
    for p in $reps; do # only if that pid is still an example server
        grep -q mcp-example-server "/proc/$p/cmdline" 2>/dev/null && kill -KILL "$p" 2>/dev/null
    done
    if [ -n "$dogpid" ]; then
        kill -TERM "$dogpid" 2>/dev/null
        wait "$dogpid" 2>/dev/null
    fi
    if [ "$SOAK_KEEP" = 1 ] || [ "$STATUS" = 2 ]; then
        echo "run-soak: logs and samples kept in $tmp" >&2
    else
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'if [ -f "$tmp/timed-out" ]; then echo "run-soak: hard timeout (SOAK_TIMEOUT=${SOAK_TIMEOUT} s)" >&2; exit 124; fi; exit 143' TERM
trap 'exit 129' HUP

# The hard timeout: a watchdog that TERMs this script (whose trap stops
# everything); every command below is bounded, so the trap runs promptly.
(
    trap 'kill "$s" 2>/dev/null; exit 0' TERM
    sleep "$SOAK_TIMEOUT" &
    s=$!
    wait "$s" && : > "$tmp/timed-out" && kill -TERM $$
) &
dogpid=$!

record() { # pid: into $MCPHUB_IT_PIDFILE as "pid starttime", if set
    [ -n "${MCPHUB_IT_PIDFILE:-}" ] || return 0
    echo "$1 $(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f20)" >> "$MCPHUB_IT_PIDFILE"
}
# The TCP port $1 listens on: its socket inodes, looked up in /proc/net/tcp*.
listen_port() {
    for ino in $(ls -l "/proc/$1/fd" 2>/dev/null | sed -n 's/.*socket:\[\([0-9]*\)\].*/\1/p'); do
        hex=$(awk -v ino="$ino" '$4 == "0A" && $10 == ino { split($2, a, ":"); print a[2]; exit }' \
              /proc/net/tcp /proc/net/tcp6 2>/dev/null)
        if [ -n "$hex" ]; then printf '%d\n' "0x$hex"; return 0; fi
    done
    return 1
}
wait_port() { # pid name: its listening port, within 10 s
    i=0
    while [ $i -lt 100 ]; do
        kill -0 "$1" 2>/dev/null || break
        listen_port "$1" && return 0
        sleep 0.1; i=$((i + 1))
    done
    echo "run-soak: the $2 did not start listening; its log:" >&2
    tail -n 20 "$tmp/$2.log" >&2
    exit 2
}
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
nfds() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }
# A number from a one-line JSON object.
jget() { printf '%s\n' "$1" | sed -n "s/.*\"$2\":\([-0-9.]*\).*/\1/p"; }
api() { curl -s -m 5 -H "Authorization: Bearer $TOKEN" "$BASE$1"; }

# ---- the cluster: a master and two workers, 2 replicas of the example server ----
cat > "$tmp/settings.json" <<EOF
{"mcpServers":{"example":{"command":"$SERVER","replicas":2}},
 "cluster":{"enabled":true,"token":"$TOKEN",
            "master":{"heartbeatInterval":1000,"heartbeatTimeout":4000}}}
EOF
# -q: a soak of millions of calls must not log a line per request
"$MASTERD" -c "$tmp/settings.json" --host 127.0.0.1 --port 0 --node-id soak-master \
    --state-dir "$tmp/state" -q > "$tmp/master.log" 2>&1 &
mpid=$!
record "$mpid"
MPORT=$(wait_port "$mpid" master) || exit 2
BASE=http://127.0.0.1:$MPORT
"$WORKERD" -c "$tmp/settings.json" --host 127.0.0.1 --port 0 --node-id soak-w1 \
    --master-url "$BASE" -q > "$tmp/w1.log" 2>&1 &
w1pid=$!
record "$w1pid"
"$WORKERD" -c "$tmp/settings.json" --host 127.0.0.1 --port 0 --node-id soak-w2 \
    --master-url "$BASE" -q > "$tmp/w2.log" 2>&1 &
w2pid=$!
record "$w2pid"
W1PORT=$(wait_port "$w1pid" w1) || exit 2
W2PORT=$(wait_port "$w2pid" w2) || exit 2

DIED=
alive() { # sets DIED to the first daemon that is gone
    for p in "$mpid:master" "$w1pid:w1" "$w2pid:w2"; do
        kill -0 "${p%%:*}" 2>/dev/null && continue
        DIED=${p#*:}
        return 1
    done
    return 0
}
# ready once both replicas run (one per worker) and a call goes through
i=0
until api /api/cluster/replicas/example | grep -q '"running":2' &&
      timeout 10 "$LOADGEN" --url "$BASE/mcp" --tool "$TOOL" --calls 1 --timeout 2 >/dev/null 2>&1; do
    i=$((i + 1))
    if ! alive || [ $i -ge 60 ]; then
        [ -n "$DIED" ] && echo "run-soak: the $DIED died during start-up" >&2 ||
            echo "run-soak: the cluster was not ready in 60 s" >&2
        for f in master w1 w2; do echo "-- $f.log" >&2; tail -n 20 "$tmp/$f.log" >&2; done
        exit 2
    fi
    sleep 1
done

# ---- the load: loadgen batches back to back, until $tmp/stop exists ----
: > "$tmp/batches"
(
    trap - INT TERM
    n=0
    for s in $SOAK_SESSIONS; do n=$((n + 1)); done
    b=0
    while [ ! -f "$tmp/stop" ]; do
        k=$((b % n + 1)); set -- $SOAK_SESSIONS; eval "s=\${$k}"
        if [ $((b / n % 2)) = 0 ]; then path=/mcp; else path=/mcp/example; fi
        timeout "$BATCH_TIMEOUT" "$LOADGEN" --url "$BASE$path" --tool "$TOOL" --sessions "$s" \
            --inflight "$SOAK_INFLIGHT" --calls "$SOAK_CALLS" --payload "$PAYLOAD" --timeout 10 \
            --json > "$tmp/batch.out" 2> "$tmp/batch.err" &
        echo $! > "$tmp/loadgen.pid"
        wait $!
        rc=$?
        out=$(tail -n 1 "$tmp/batch.out")
        cps=$(jget "$out" calls_per_s) errs=$(jget "$out" errors)
        if [ -z "$cps" ] || [ -z "$errs" ]; then # no report: the whole batch failed
            cps=0 errs=$SOAK_CALLS
            [ -s "$tmp/batch.err" ] && sed "s/^/batch $b: /" "$tmp/batch.err" >> "$tmp/batch-errors.log"
        fi
        echo "$(date +%s) $b $s $path $cps $errs $rc" >> "$tmp/batches"
        b=$((b + 1))
    done
) &
looppid=$!

# ---- session churn without an SDK ----
CHURN_OK=0 CHURN_FAIL=0
churn_fail() { CHURN_FAIL=$((CHURN_FAIL + 1)); echo "$(date +%s) $*" >> "$tmp/churn-errors.log"; }
H_JSON='Content-Type: application/json'
H_ACCEPT='Accept: application/json, text/event-stream'
mcp_post() { # sid body [headers-file]: the answer body; status in $tmp/code
    curl -s -m 5 -X POST "$BASE/mcp" -H "$H_JSON" -H "$H_ACCEPT" \
        ${1:+-H "Mcp-Session-Id: $1"} -H 'MCP-Protocol-Version: 2025-06-18' \
        ${3:+-D "$3"} -w '\n%{http_code}' -d "$2" > "$tmp/resp" 2>/dev/null
    tail -n 1 "$tmp/resp" > "$tmp/code"
    sed '$d' "$tmp/resp"
}
code() { cat "$tmp/code"; }
churn_http() {
    out=$(mcp_post "" '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"run-soak","version":"0"}}}' "$tmp/hdr")
    sid=$(tr -d '\r' < "$tmp/hdr" | sed -n 's/^[Mm][Cc][Pp]-[Ss][Ee][Ss][Ss][Ii][Oo][Nn]-[Ii][Dd]: *//p')
    if [ "$(code)" != 200 ] || [ -z "$sid" ] || ! echo "$out" | grep -q '"protocolVersion"'; then
        churn_fail "http initialize: $(code) $out"; return
    fi
    ok=1
    mcp_post "$sid" '{"jsonrpc":"2.0","method":"notifications/initialized"}' >/dev/null
    [ "$(code)" = 202 ] || { ok=0; churn_fail "http notifications/initialized: $(code)"; }
    out=$(mcp_post "$sid" '{"jsonrpc":"2.0","id":2,"method":"tools/list"}')
    echo "$out" | grep -q '"example-whoami"' || { ok=0; churn_fail "http tools/list: $(code) $out"; }
    out=$(mcp_post "$sid" '{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"example-whoami","arguments":{}}}')
    echo "$out" | grep -q '"replica":"example-' || { ok=0; churn_fail "http whoami: $(code) $out"; }
    a=$(($(date +%s) % 1000))
    out=$(mcp_post "$sid" "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/call\",\"params\":{\"name\":\"example-add\",\"arguments\":{\"a\":$a,\"b\":7}}}")
    echo "$out" | grep -q "\"sum\":$((a + 7))[,}]" || { ok=0; churn_fail "http add: $(code) $out"; }
    c=$(curl -s -m 5 -o /dev/null -w '%{http_code}' -X DELETE "$BASE/mcp" -H "Mcp-Session-Id: $sid")
    [ "$c" = 200 ] || [ "$c" = 204 ] || { ok=0; churn_fail "http DELETE: $c"; }
    mcp_post "$sid" '{"jsonrpc":"2.0","id":5,"method":"tools/list"}' >/dev/null
    [ "$(code)" = 404 ] || { ok=0; churn_fail "http POST after DELETE: $(code), not 404"; }
    [ $ok = 1 ] && CHURN_OK=$((CHURN_OK + 1))
}
churn_sse() {
    f=$tmp/sse.out
    : > "$f"
    curl -s -N -m 15 "$BASE/sse" > "$f" 2>/dev/null &
    ssepid=$!
    i=0 ep=
    while [ $i -lt 50 ] && [ -z "$ep" ]; do
        ep=$(tr -d '\r' < "$f" | sed -n 's/^data: *\(\/.*\)$/\1/p' | head -n 1)
        [ -n "$ep" ] || { sleep 0.1; i=$((i + 1)); }
    done
    ok=0
    if [ -z "$ep" ]; then
        churn_fail "sse: no endpoint event in 5 s"
    else
        a=$(($(date +%s) % 1000))
        c1=$(curl -s -m 5 -o /dev/null -w '%{http_code}' -X POST "$BASE$ep" -H "$H_JSON" \
             -d '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2024-11-05","capabilities":{},"clientInfo":{"name":"run-soak","version":"0"}}}')
        c2=$(curl -s -m 5 -o /dev/null -w '%{http_code}' -X POST "$BASE$ep" -H "$H_JSON" \
             -d '{"jsonrpc":"2.0","method":"notifications/initialized"}')
        c3=$(curl -s -m 5 -o /dev/null -w '%{http_code}' -X POST "$BASE$ep" -H "$H_JSON" \
             -d "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":\"example-add\",\"arguments\":{\"a\":$a,\"b\":11}}}")
        i=0
        while [ $i -lt 50 ] && ! grep -q "\"sum\":$((a + 11))[,}]" "$f"; do sleep 0.1; i=$((i + 1)); done
        if [ "$c1$c2$c3" != 202202202 ]; then
            churn_fail "sse POSTs: $c1 $c2 $c3"
        elif ! grep -q '"protocolVersion"' "$f" || ! grep -q "\"sum\":$((a + 11))[,}]" "$f"; then
            churn_fail "sse: answers missing on the stream: $(tr '\n' ' ' < "$f" | cut -c1-300)"
        else
            ok=1
        fi
    fi
    stop "$ssepid"   # the client hangs up; the master must drop the session
    ssepid=
    [ $ok = 1 ] && CHURN_OK=$((CHURN_OK + 1))
}
churn_rest() {
    a=$(($(date +%s) % 1000))
    out=$(curl -s -m 5 -X POST "$BASE/api/tools/call/example" -H "Authorization: Bearer $TOKEN" \
          -H "$H_JSON" -d "{\"toolName\":\"add\",\"arguments\":{\"a\":$a,\"b\":3}}")
    if echo "$out" | grep -q '"success":true' && echo "$out" | grep -q "\"sum\":$((a + 3))[,}]"; then
        CHURN_OK=$((CHURN_OK + 1))
    else
        churn_fail "rest /api/tools/call/example: $out"
    fi
}

# ---- sampling ----
# samples: t warm m_rss m_fds m_ch w1_rss w1_fds w1_ch w2_rss w2_fds w2_ch sessions
#          batches cps errs churn_ok churn_fail
: > "$tmp/samples"
: > "$tmp/replica-pids"
LAST_BATCHES=0
sample() { # t
    row="$1 $([ "$1" -lt "$SOAK_WARMUP" ] && echo 1 || echo 0)"
    for p in "$mpid" "$w1pid" "$w2pid"; do
        kids=$(descendants "$p")
        [ "$p" = "$mpid" ] || echo "$p $kids" >> "$tmp/replica-pids"
        row="$row $(rss_kib "$p") $(nfds "$p") $(echo $kids | wc -w)"
    done
    sess=$(jget "$(api /api/cluster/status)" sessions)
    nb=$(wc -l < "$tmp/batches")
    last=$(tail -n 1 "$tmp/batches")
    set -- $last
    row="$row ${sess:--1} $((nb - LAST_BATCHES)) ${5:-0} ${6:-0} $CHURN_OK $CHURN_FAIL"
    LAST_BATCHES=$nb
    echo "$row" >> "$tmp/samples"
}

START_LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
# the first batch done before t=0: the load is on
i=0
while [ "$(wc -l < "$tmp/batches")" -lt 1 ] && [ $i -lt $((BATCH_TIMEOUT * 10)) ]; do
    sleep 0.1; i=$((i + 1))
done
echo "run-soak: cluster up (master :$MPORT, workers :$W1PORT :$W2PORT), load on;" \
     "${SOAK_MINUTES} min, a sample every ${SOAK_INTERVAL} s, warm-up ${SOAK_WARMUP} s" >&2
T0=$(date +%s)
k=0
while :; do
    now=$(date +%s)
    alive || break
    sample $((now - T0))
    [ $((now - T0)) -ge "$DURATION" ] && break
    k=$((k + 1))
    next=$((T0 + k * SOAK_INTERVAL))
    [ "$next" -gt $((T0 + DURATION)) ] && next=$((T0 + DURATION))
    c=0
    while [ $c -lt "$SOAK_CHURN" ] && [ "$(date +%s)" -lt "$next" ]; do
        churn_http; churn_sse; churn_rest
        c=$((c + 1))
    done
    now=$(date +%s)
    [ "$next" -gt "$now" ] && sleep $((next - now))
done

# stop the load: the batch under way finishes (bounded by BATCH_TIMEOUT)
: > "$tmp/stop"
wait "$looppid" 2>/dev/null
looppid=
[ -z "$DIED" ] && alive

# ---- the report ----
echo "soak: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1); load average before: $START_LOAD"
echo "cluster on loopback: mcphub-masterd (cluster mode, token) + 2 mcphub-workerd, example server x2 replicas"
echo "load: loadgen batches of $SOAK_CALLS calls of $TOOL ($PAYLOAD bytes), $SOAK_INFLIGHT in flight, sessions per batch \"$SOAK_SESSIONS\", /mcp and /mcp/example in turn; $SOAK_CHURN churn cycles (HTTP session, SSE session, REST call) per interval"
echo "run: $SOAK_MINUTES min, a sample every $SOAK_INTERVAL s, warm-up $SOAK_WARMUP s (rows marked * are not judged)"
echo
printf '%6s | %-17s | %-17s | %-17s | %5s | %5s %8s %6s | %s\n' "" "master" "worker w1" "worker w2" \
    "" "last batch" "" "" "churn"
printf '%6s | %8s %4s %3s | %8s %4s %3s | %8s %4s %3s | %5s | %5s %8s %6s | %s\n' "t s" \
    "RSS MiB" "fds" "ch" "RSS MiB" "fds" "ch" "RSS MiB" "fds" "ch" "sess" "batch" "calls/s" \
    "errors" "ok/failed"
awk '{ printf "%5d%s | %8.1f %4d %3d | %8.1f %4d %3d | %8.1f %4d %3d | %5s | %5d %8d %6d | %d/%d\n",
       $1, $2 ? "*" : " ", $3 / 1024, $4, $5, $6 / 1024, $7, $8, $9 / 1024, $10, $11,
       $12 < 0 ? "?" : $12, $13, $14, $15, $16, $17 }' "$tmp/samples"
echo "(RSS: VmRSS; fds: entries in /proc/PID/fd; ch: descendant processes; sess: the master's"
echo " sessions at that moment, batches under way included; batch: batches finished since the"
echo " previous sample; calls/s and errors: of the last finished batch; churn: cycle steps so far)"
echo

# Verdicts: median of the first and of the last third of the judged samples.
awk -v out="$tmp/verdict" '
function median(col, from, to,    n, i, j, x, a) {
    n = 0
    for (i = from; i <= to; i++) a[++n] = v[i, col]
    for (i = 2; i <= n; i++) { x = a[i]; j = i - 1
        while (j > 0 && a[j] > x) { a[j + 1] = a[j]; j-- }
        a[j + 1] = x }
    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
!$2 { n++; for (c = 1; c <= NF; c++) v[n, c] = $c + 0 }
END {
    if (n < 3) { printf "too few samples after the warm-up (%d; 3 needed): nothing judged\n", n
                 print "short" > out; exit }
    k = int(n / 3)
    printf "judged: %d samples from t=%d s to t=%d s; first third t=%d..%d s, last third t=%d..%d s\n",
           n, v[1, 1], v[n, 1], v[1, 1], v[k, 1], v[n - k + 1, 1], v[n, 1]
    split("master w1 w2", who, " ")
    bad = 0
    for (p = 1; p <= 3; p++) {
        base = 3 + (p - 1) * 3
        # RSS (KiB)
        f = median(base, 1, k); l = median(base, n - k + 1, n)
        tol = f * 0.10; if (tol < 4096) tol = 4096
        ok = l - f <= tol
        printf "%-6s RSS       first %7.1f MiB, last %7.1f MiB (%+.1f MiB, %+.1f %%; tolerance %.1f MiB)  %s\n",
               who[p], f / 1024, l / 1024, (l - f) / 1024, f ? (l - f) * 100 / f : 0, tol / 1024,
               ok ? "flat" : "GROWING"
        bad += !ok
        # fds
        f = median(base + 1, 1, k); l = median(base + 1, n - k + 1, n)
        ok = l - f <= 8
        printf "%-6s fds       first %7g,     last %7g     (%+g; tolerance 8)  %s\n",
               who[p], f, l, l - f, ok ? "flat" : "GROWING"
        bad += !ok
        # descendants
        f = median(base + 2, 1, k); l = median(base + 2, n - k + 1, n)
        ok = l == f
        printf "%-6s children  first %7g,     last %7g     (%+g; must be equal)  %s\n",
               who[p], f, l, l - f, ok ? "flat" : (l > f ? "GROWING" : "SHRANK")
        bad += !ok
    }
    f = median(14, 1, k); l = median(14, n - k + 1, n)
    printf "calls/s of the last batch: first third %g, last third %g (%+.0f %%; not judged: a shared machine)\n",
           f, l, f ? (l - f) * 100 / f : 0
    print (bad ? "growing" : "flat") > out
}' "$tmp/samples"
VERDICT=$(cat "$tmp/verdict" 2>/dev/null)

# the load's own health
NB=$(wc -l < "$tmp/batches")
read -r CALLS ERRS BADRC <<EOF
$(awk -v c="$SOAK_CALLS" '{ n += c; e += $6; if ($7 != 0) r++ } END { printf "%d %d %d\n", n, e, r }' "$tmp/batches")
EOF
echo "load: $NB batches, $CALLS calls, $ERRS errors ($BADRC batches with errors); churn: $CHURN_OK steps ok, $CHURN_FAIL failed"
if [ -s "$tmp/batch-errors.log" ]; then echo "loadgen said:"; head -n 5 "$tmp/batch-errors.log"; fi
if [ -s "$tmp/churn-errors.log" ]; then echo "churn failures:"; head -n 5 "$tmp/churn-errors.log"; fi
# replicas restarted: more than one set of child pids seen per worker
for p in "$w1pid" "$w2pid"; do
    sets=$(awk -v p="$p" '$1 == p { $1 = ""; print }' "$tmp/replica-pids" | sort -u | wc -l)
    [ "$sets" -gt 1 ] && echo "note: worker pid $p's replica processes changed during the run ($sets different sets)"
done
for f in master w1 w2; do
    if grep -q 'level=error' "$tmp/$f.log"; then
        echo "the $f logged errors (first 3):"; grep -m 3 'level=error' "$tmp/$f.log"
    fi
done

STATUS=0
[ "$VERDICT" = flat ] || STATUS=1
[ "$VERDICT" = short ] && STATUS=2
[ "$ERRS" -eq 0 ] && [ "$CHURN_FAIL" -eq 0 ] && [ "$BADRC" -eq 0 ] || { [ $STATUS = 0 ] && STATUS=1; }
if [ -n "$DIED" ]; then
    echo "the $DIED DIED during the run; its log:"
    tail -n 20 "$tmp/$DIED.log"
    [ $STATUS = 2 ] || STATUS=1
fi
case $STATUS in
    0) echo "verdict: flat (every metric within tolerance, no errors)" ;;
    1) echo "verdict: FAILED (see GROWING/SHRANK, errors or a dead daemon above)" ;;
    *) echo "verdict: not judged" ;;
esac
exit $STATUS
