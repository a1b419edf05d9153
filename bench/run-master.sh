#!/bin/sh
# The master benchmark: MCP tools/call (example-echo) through mcphub-masterd
# to mcphub-workerd to the C example server, in cluster mode on loopback,
# next to the same server driven over stdio with no gateway (the floor), in
# one run; then the master's memory idle and holding STREAMS sessions with
# open GET streams.
#
#   bench/run-master.sh            (from anywhere; builds what it needs)
#
# Each repetition measures, in this order: master at 1 in flight, floor at
# 1, master at 32, floor at 32.  Figures are medians over the repetitions.
# Master, worker and server CPU per call come from utime+stime in
# /proc/<pid>/stat, read before and after each run; RSS is VmRSS from
# /proc/<pid>/status.  Timing on 2 shared cores is noisy, and nothing here
# asserts on time or memory: it prints figures and the issue's aims.
# Everything it starts is killed on exit; past BUDGET seconds it stops
# repeating (the whole run stays under 4 minutes).
#
# Environment: B (build dir, default build), REPS (5), CALLS1 (20000 calls
# at 1 in flight), CALLS32 (100000 at 32), SESSIONS (8, at 32 in flight),
# PAYLOAD (64 bytes of echo text), PORT (3299, the master; the worker takes
# PORT-1), STREAMS (10000 idle sessions with GET streams; 0 skips), HOLD (5
# seconds they are held), BUDGET (150), BUILD (1; 0 to use what is built).
set -u
cd "$(dirname "$0")/.." || exit 2

B=${B:-build}
REPS=${REPS:-5}
CALLS1=${CALLS1:-20000}
CALLS32=${CALLS32:-100000}
SESSIONS=${SESSIONS:-8}
PAYLOAD=${PAYLOAD:-64}
PORT=${PORT:-3299}
WPORT=$((PORT - 1))
STREAMS=${STREAMS:-10000}
HOLD=${HOLD:-5}
BUDGET=${BUDGET:-150}
BUILD=${BUILD:-1}
TOKEN=bench-token-$$

LOADGEN=$B/bench/loadgen
FLOOR=$B/bench/stdio_floor
MASTERD=$B/mcphub-masterd
WORKERD=$B/mcphub-workerd
case $B in /*) SERVER=$B ;; *) SERVER=$(pwd)/$B ;; esac
SERVER=$SERVER/examples/servers/mcp-example-server   # absolute: the worker runs it
URL=http://127.0.0.1:$PORT/mcp
TOOL=example-echo                                     # server-tool, MCPHub's naming
HZ=$(getconf CLK_TCK)
START=$(date +%s)
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)   # others' work on a shared machine skews everything

if [ "$BUILD" != 0 ]; then # only what it runs: others' work in progress elsewhere cannot stop it
    make -s B="$B" "$MASTERD" "$WORKERD" "$B/examples/servers/mcp-example-server" "$LOADGEN" \
        "$FLOOR" >/dev/null || { echo "run-master: build failed" >&2; exit 2; }
fi
for f in "$LOADGEN" "$FLOOR" "$MASTERD" "$WORKERD" "$SERVER"; do
    [ -x "$f" ] || { echo "run-master: $f is missing" >&2; exit 2; }
done

# Each stream is an fd in the master and one in the load generator (which
# both inherit this limit): raise the soft limit as far as the hard one.
hard=$(ulimit -Hn)
[ "$hard" = unlimited ] && hard=1048576
ulimit -n "$hard" 2>/dev/null
NOFILE=$(ulimit -n)
if [ "$STREAMS" -gt 0 ] && [ "$NOFILE" -lt $((STREAMS + 64)) ]; then
    echo "run-master: fd limit $NOFILE is below STREAMS+64; the streams test will fall short" >&2
fi

tmp=$(mktemp -d)
mpid= wpid= spid= lpid=
stop() { # pid: TERM, then KILL after 5 s
    if [ -n "$1" ] && kill -0 "$1" 2>/dev/null; then
        kill -TERM "$1" 2>/dev/null
        i=0
        while kill -0 "$1" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
        kill -KILL "$1" 2>/dev/null
        wait "$1" 2>/dev/null
    fi
}
cleanup() {
    stop "$lpid"
    stop "$wpid"   # the worker stops its replica
    stop "$mpid"
    # in case the worker could not (and only if that pid is still the server)
    if [ -n "$spid" ] && grep -q mcp-example-server "/proc/$spid/cmdline" 2>/dev/null; then
        kill -KILL "$spid" 2>/dev/null
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# utime + stime of a process, in clock ticks ("pid (comm) state ..." : the
# fields after the comm start at state, so utime and stime are 12 and 13).
ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
# A number from a one-line JSON object.
jget() { printf '%s\n' "$1" | sed -n "s/.*\"$2\":\([-0-9.]*\).*/\1/p"; }
per_call() { awk -v d="$1" -v hz="$HZ" -v n="$2" 'BEGIN { printf "%.2f", d * 1e6 / hz / n }'; }
alive() {
    for p in "$mpid" "$wpid"; do
        kill -0 "$p" 2>/dev/null && continue
        wait "$p"; st=$?   # >128: killed by signal st-128
        [ "$p" = "$mpid" ] && who=master || who=worker
        echo "run-master: the $who died (status $st); the master's log:" >&2
        tail -n 20 "$tmp/master.log" >&2
        echo "the worker's log:" >&2; tail -n 20 "$tmp/worker.log" >&2
        exit 1
    done
}

# ---- the cluster: a master and one worker with one replica ----
for p in "$PORT" "$WPORT"; do
    if "$LOADGEN" --url "http://127.0.0.1:$p/mcp" --calls 1 --timeout 1 >/dev/null 2>&1 ||
       curl -s -m 1 -o /dev/null "http://127.0.0.1:$p/health" 2>/dev/null; then
        echo "run-master: something already answers on port $p (set PORT)" >&2
        exit 2
    fi
done
cat > "$tmp/settings.json" <<EOF
{"mcpServers":{"example":{"command":"$SERVER","replicas":1}},
 "cluster":{"enabled":true,"token":"$TOKEN",
            "master":{"heartbeatInterval":1000,"heartbeatTimeout":4000}}}
EOF
"$MASTERD" -c "$tmp/settings.json" --host 127.0.0.1 --port "$PORT" --node-id bench-master \
    --state-dir "$tmp/state" -q > "$tmp/master.log" 2>&1 &
mpid=$!
"$WORKERD" -c "$tmp/settings.json" --host 127.0.0.1 --port "$WPORT" --node-id bench-w1 \
    --master-url "http://127.0.0.1:$PORT" -q > "$tmp/worker.log" 2>&1 &
wpid=$!
# ready once a call goes through: worker registered, replica running, the
# catalog has its tools
i=0
until "$LOADGEN" --url "$URL" --tool "$TOOL" --calls 1 --timeout 2 >/dev/null 2>&1; do
    i=$((i + 1))
    alive
    if [ $i -ge 150 ]; then
        echo "run-master: no call went through in 15 s; the logs:" >&2
        cat "$tmp/master.log" "$tmp/worker.log" >&2
        exit 1
    fi
    sleep 0.1
done
alive
spid=$(awk '{print $1}' "/proc/$wpid/task/$wpid/children" 2>/dev/null)
[ -n "$spid" ] || spid=$(pgrep -P "$wpid" | head -n 1)
[ -n "$spid" ] || { echo "run-master: cannot find the worker's replica" >&2; exit 1; }

# ---- idle: settled, no client session, before any load ----
sleep 2
RSS_IDLE=$(rss_kib "$mpid")
WRSS_IDLE=$(rss_kib "$wpid")

# warm-up: caches, the allocator's arenas, the TCP stack
timeout 60 "$LOADGEN" --url "$URL" --tool "$TOOL" --sessions "$SESSIONS" --inflight 32 \
    --calls 5000 --payload "$PAYLOAD" >/dev/null || { echo "run-master: warm-up failed" >&2; exit 1; }
timeout 60 "$FLOOR" --server "$SERVER" --inflight 32 --calls 5000 --payload "$PAYLOAD" \
    >/dev/null || { echo "run-master: floor warm-up failed" >&2; exit 1; }

# One row per run: calls/s p50 p99 p99.9 errors master-CPU worker-CPU server-CPU client-CPU
run_master() { # inflight sessions calls
    m0=$(ticks "$mpid"); w0=$(ticks "$wpid"); s0=$(ticks "$spid")
    out=$(timeout 90 "$LOADGEN" --url "$URL" --tool "$TOOL" --sessions "$2" --inflight "$1" \
          --calls "$3" --payload "$PAYLOAD" --json)
    m1=$(ticks "$mpid"); w1=$(ticks "$wpid"); s1=$(ticks "$spid")
    [ -n "$out" ] || { echo "run-master: loadgen failed" >&2; alive; exit 1; }
    echo "$(jget "$out" calls_per_s) $(jget "$out" p50_us) $(jget "$out" p99_us)" \
         "$(jget "$out" p999_us) $(jget "$out" errors) $(per_call $((m1 - m0)) "$3")" \
         "$(per_call $((w1 - w0)) "$3") $(per_call $((s1 - s0)) "$3")" \
         "$(jget "$out" client_cpu_us_per_call)" >> "$tmp/master-$1"
}
run_floor() { # inflight calls
    out=$(timeout 60 "$FLOOR" --server "$SERVER" --inflight "$1" --calls "$2" \
          --payload "$PAYLOAD" --json)
    [ -n "$out" ] || { echo "run-master: stdio_floor failed" >&2; exit 1; }
    echo "$(jget "$out" calls_per_s) $(jget "$out" p50_us) $(jget "$out" p99_us)" \
         "$(jget "$out" p999_us) $(jget "$out" errors) 0 0" \
         "$(jget "$out" server_cpu_us_per_call) $(jget "$out" client_cpu_us_per_call)" \
         >> "$tmp/floor-$1"
}

reps=0
while [ $reps -lt "$REPS" ] && [ $(($(date +%s) - START)) -lt "$BUDGET" ]; do
    run_master 1 1 "$CALLS1"
    run_floor 1 "$CALLS1"
    run_master 32 "$SESSIONS" "$CALLS32"
    run_floor 32 "$CALLS32"
    reps=$((reps + 1))
done
alive
RSS_LOADED=$(rss_kib "$mpid")

# ---- STREAMS idle sessions, each holding a GET stream ----
SOPEN=0 SHELD=0 SLOST=0 SSECS=0 RSS_STREAMS=0 RSS_AFTER=0 MCPU_HOLD=0
if [ "$STREAMS" -gt 0 ]; then
    : > "$tmp/streams.out"   # exists before the loop below reads it
    timeout $((HOLD + 240)) "$LOADGEN" --url "$URL" --streams "$STREAMS" --hold "$HOLD" \
        --timeout 5 > "$tmp/streams.out" 2> "$tmp/streams.err" &
    lpid=$!
    i=0 # opening 10,000 takes a few seconds; bounded at 180
    while [ "$(wc -l < "$tmp/streams.out")" -lt 1 ] && kill -0 "$lpid" 2>/dev/null &&
          [ $i -lt 1800 ]; do
        sleep 0.1; i=$((i + 1))
    done
    line=$(sed -n 1p "$tmp/streams.out")
    SOPEN=$(jget "$line" opened); SSECS=$(jget "$line" open_seconds)
    # the largest of a few samples while they are held (HOLD should exceed
    # the 2 s this takes), and the master's CPU meanwhile
    m0=$(ticks "$mpid")
    for k in 1 2 3 4 5; do
        r=$(rss_kib "$mpid"); [ "${r:-0}" -gt "$RSS_STREAMS" ] && RSS_STREAMS=$r
        sleep 0.5
    done
    MCPU_HOLD=$(awk -v d=$(($(ticks "$mpid") - m0)) -v hz="$HZ" 'BEGIN { printf "%.2f", d / hz }')
    wait "$lpid" 2>/dev/null   # the hold ends, the streams close, the sessions are deleted
    lpid=
    line=$(sed -n 2p "$tmp/streams.out")
    SHELD=$(jget "$line" open); SLOST=$(jget "$line" closed_by_server)
    sleep 1
    alive
    RSS_AFTER=$(rss_kib "$mpid")
fi

# Median of each column (errors: the sum).
medians() {
    awk '{ for (i = 1; i <= NF; i++) v[i, NR] = $i; nf = NF }
         END {
             for (i = 1; i <= nf; i++) {
                 n = 0
                 for (r = 1; r <= NR; r++) a[++n] = v[i, r]
                 for (x = 2; x <= n; x++) { k = a[x]; y = x - 1
                     while (y > 0 && a[y] + 0 > k + 0) { a[y + 1] = a[y]; y-- }
                     a[y + 1] = k }
                 if (i == 5) { s = 0; for (r = 1; r <= n; r++) s += a[r]; m[i] = s }
                 else m[i] = n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
             }
             printf "%s", m[1]; for (i = 2; i <= nf; i++) printf " %s", m[i]; printf "\n"
         }' "$1"
}

echo "master benchmark: $(date -u +%Y-%m-%d), $(nproc) cores, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1)"
echo "load average before the run: $LOAD"
echo "cluster on loopback: mcphub-masterd -> mcphub-workerd -> example server (1 replica), tool $TOOL"
echo "echo payload $PAYLOAD bytes; $CALLS1 calls at 1 in flight (1 session), $CALLS32 at 32 ($SESSIONS sessions); medians of $reps runs"
echo
printf '%-22s %9s %8s %8s %9s %6s %11s %11s %11s %11s\n' "" "calls/s" "p50 µs" "p99 µs" \
    "p99.9 µs" "errors" "master CPU" "worker CPU" "server CPU" "client CPU"
for n in 1 32; do
    for who in master floor; do
        medians "$tmp/$who-$n" > "$tmp/median-$who-$n"
        read -r rate p50 p99 p999 errs mcpu wcpu scpu ccpu < "$tmp/median-$who-$n"
        if [ "$who" = floor ]; then mc="—"; wc="—"; else mc="$mcpu µs"; wc="$wcpu µs"; fi
        printf '%-22s %9.0f %8.1f %8.1f %9.1f %6d %11s %11s %8.2f µs %8.2f µs\n' \
            "$(printf '%-7s %2d in flight' "$who" "$n")" \
            "$rate" "$p50" "$p99" "$p999" "$errs" "$mc" "$wc" "$scpu" "$ccpu"
    done
done
echo "(floor: the server over stdio, no gateway.  CPU columns: µs of CPU per call of"
echo " mcphub-masterd, of mcphub-workerd, of the example server, of the client: loadgen"
echo " or stdio_floor.)"
echo

# Against the issue's aims (reported, not asserted).
read -r _ mp50 _ _ _ mcpu1 wcpu1 _ _ < "$tmp/median-master-1"
read -r _ fp50 _ _ _ _ _ _ _ < "$tmp/median-floor-1"
read -r mrate _ _ _ _ mcpu32 wcpu32 _ _ < "$tmp/median-master-32"
read -r frate _ _ _ _ _ _ _ _ < "$tmp/median-floor-32"
awk -v mp50="$mp50" -v fp50="$fp50" -v m1="$mcpu1" -v w1="$wcpu1" -v m32="$mcpu32" \
    -v w32="$wcpu32" -v mrate="$mrate" -v frate="$frate" 'BEGIN {
    printf "master + worker CPU per call: %.2f + %.2f = %.2f µs at 32 in flight, %.2f + %.2f = %.2f µs at 1   (aim <= 25)\n", m32, w32, m32 + w32, m1, w1, m1 + w1
    printf "calls/s at 32 in flight:      %.0f through the master, %.0f floor = %.2fx   (aim >= 20000)\n", mrate, frate, mrate / frate
    printf "p50 at 1 in flight:           %.1f µs master, %.1f µs floor: +%.1f µs   (aim <= +100)\n", mp50, fp50, mp50 - fp50
}'
echo "master RSS idle:              $(mib "$RSS_IDLE") MiB (no session, before any load; worker $(mib "$WRSS_IDLE") MiB)   (aim <= 10)"
echo "master RSS after the calls:   $(mib "$RSS_LOADED") MiB"
if [ "$STREAMS" -gt 0 ]; then
    echo "master RSS, $SHELD of $STREAMS GET streams held: $(mib "$RSS_STREAMS") MiB" \
         "(opened $SOPEN in $SSECS s; $SLOST closed by the master; master CPU ${MCPU_HOLD} s in 2.5 s of holding)   (aim <= 150)"
    echo "master RSS after they ended:  $(mib "$RSS_AFTER") MiB (sessions deleted; the heap is not returned to the system)"
    if [ "$SOPEN" != "$STREAMS" ]; then
        echo "streams: only $SOPEN of $STREAMS opened; the load generator said:"
        head -n 5 "$tmp/streams.err"
        grep -m 3 'fd_limit\|sessions\|limit' "$tmp/master.log"
    fi
fi
