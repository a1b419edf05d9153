#!/bin/sh
# The worker benchmark: MCP tools/call (echo) through mcphub-workerd to the
# C example server, next to the same server driven over stdio with no
# gateway (the floor), in one run.
#
#   bench/run-worker.sh            (from anywhere; builds what it needs)
#
# Each repetition measures, in this order: worker at 1 in flight, floor at
# 1, worker at 32, floor at 32.  Figures are medians over the repetitions.
# Worker and server CPU per call come from utime+stime in /proc/<pid>/stat,
# read before and after each run.  Timing on 2 shared cores is noisy, and
# nothing here asserts on time: it prints figures and the issue's targets.
# Everything it starts is killed on exit; past BUDGET seconds it stops
# repeating (the whole run stays under 3 minutes).
#
# Environment: B (build dir, default build), REPS (5), CALLS1 (20000 calls
# at 1 in flight), CALLS32 (100000 at 32), SESSIONS (8, at 32 in flight),
# PAYLOAD (64 bytes of echo text), PORT (3199), BUDGET (150), BUILD (1; 0 to
# use what is built).
set -u
cd "$(dirname "$0")/.." || exit 2

B=${B:-build}
REPS=${REPS:-5}
CALLS1=${CALLS1:-20000}
CALLS32=${CALLS32:-100000}
SESSIONS=${SESSIONS:-8}
PAYLOAD=${PAYLOAD:-64}
PORT=${PORT:-3199}
BUDGET=${BUDGET:-150}
BUILD=${BUILD:-1}

LOADGEN=$B/bench/loadgen
FLOOR=$B/bench/stdio_floor
WORKERD=$B/mcphub-workerd
case $B in /*) SERVER=$B ;; *) SERVER=$(pwd)/$B ;; esac
SERVER=$SERVER/examples/servers/mcp-example-server   # absolute: the worker runs it
URL=http://127.0.0.1:$PORT/mcp/example
HZ=$(getconf CLK_TCK)
START=$(date +%s)
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)   # others' work on a shared machine skews everything

if [ "$BUILD" != 0 ]; then
    make -s all "$LOADGEN" "$FLOOR" >/dev/null || { echo "run-worker: build failed" >&2; exit 2; }
fi
for f in "$LOADGEN" "$FLOOR" "$WORKERD" "$SERVER"; do
    [ -x "$f" ] || { echo "run-worker: $f is missing" >&2; exit 2; }
done

tmp=$(mktemp -d)
wpid=
cleanup() {
    if [ -n "$wpid" ] && kill -0 "$wpid" 2>/dev/null; then
        kill -TERM "$wpid" 2>/dev/null
        i=0
        while kill -0 "$wpid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
        kill -KILL "$wpid" 2>/dev/null
        wait "$wpid" 2>/dev/null
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# utime + stime of a process, in clock ticks ("pid (comm) state ..." : the
# fields after the comm start at state, so utime and stime are 12 and 13).
ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
# A number from a one-line JSON object.
jget() { printf '%s\n' "$1" | sed -n "s/.*\"$2\":\([-0-9.]*\).*/\1/p"; }
per_call() { awk -v d="$1" -v hz="$HZ" -v n="$2" 'BEGIN { printf "%.2f", d * 1e6 / hz / n }'; }

# ---- the worker ----
if "$LOADGEN" --url "$URL" --calls 1 --timeout 1 >/dev/null 2>&1; then
    echo "run-worker: something already answers on port $PORT (set PORT)" >&2
    exit 2
fi
printf '{"mcpServers":{"example":{"command":"%s"}}}\n' "$SERVER" > "$tmp/settings.json"
"$WORKERD" -c "$tmp/settings.json" --standalone --host 127.0.0.1 --port "$PORT" -q \
    > "$tmp/worker.log" 2>&1 &
wpid=$!
i=0
until "$LOADGEN" --url "$URL" --calls 1 --timeout 1 >/dev/null 2>&1; do
    i=$((i + 1))
    if [ $i -ge 50 ] || ! kill -0 "$wpid" 2>/dev/null; then
        echo "run-worker: the worker did not come up; its log:" >&2
        cat "$tmp/worker.log" >&2
        exit 1
    fi
    sleep 0.1
done
kill -0 "$wpid" 2>/dev/null || { echo "run-worker: the worker exited" >&2; cat "$tmp/worker.log" >&2; exit 1; }
spid=$(awk '{print $1}' "/proc/$wpid/task/$wpid/children" 2>/dev/null)
[ -n "$spid" ] || spid=$(pgrep -P "$wpid" | head -n 1)
[ -n "$spid" ] || { echo "run-worker: cannot find the worker's replica" >&2; exit 1; }

# warm-up: caches, the allocator's arenas, the TCP stack
timeout 60 "$LOADGEN" --url "$URL" --sessions "$SESSIONS" --inflight 32 --calls 5000 \
    --payload "$PAYLOAD" >/dev/null || { echo "run-worker: warm-up failed" >&2; exit 1; }
timeout 60 "$FLOOR" --server "$SERVER" --inflight 32 --calls 5000 --payload "$PAYLOAD" \
    >/dev/null || { echo "run-worker: floor warm-up failed" >&2; exit 1; }

# One row per run: calls/s p50 p99 p99.9 errors worker-CPU server-CPU client-CPU (µs/call)
run_worker() { # inflight sessions calls
    w0=$(ticks "$wpid"); s0=$(ticks "$spid")
    out=$(timeout 60 "$LOADGEN" --url "$URL" --sessions "$2" --inflight "$1" --calls "$3" \
          --payload "$PAYLOAD" --json)
    w1=$(ticks "$wpid"); s1=$(ticks "$spid")
    [ -n "$out" ] || { echo "run-worker: loadgen failed" >&2; exit 1; }
    echo "$(jget "$out" calls_per_s) $(jget "$out" p50_us) $(jget "$out" p99_us)" \
         "$(jget "$out" p999_us) $(jget "$out" errors) $(per_call $((w1 - w0)) "$3")" \
         "$(per_call $((s1 - s0)) "$3") $(jget "$out" client_cpu_us_per_call)" >> "$tmp/worker-$1"
}
run_floor() { # inflight calls
    out=$(timeout 60 "$FLOOR" --server "$SERVER" --inflight "$1" --calls "$2" \
          --payload "$PAYLOAD" --json)
    [ -n "$out" ] || { echo "run-worker: stdio_floor failed" >&2; exit 1; }
    echo "$(jget "$out" calls_per_s) $(jget "$out" p50_us) $(jget "$out" p99_us)" \
         "$(jget "$out" p999_us) $(jget "$out" errors) 0" \
         "$(jget "$out" server_cpu_us_per_call) $(jget "$out" client_cpu_us_per_call)" \
         >> "$tmp/floor-$1"
}

reps=0
while [ $reps -lt "$REPS" ] && [ $(($(date +%s) - START)) -lt "$BUDGET" ]; do
    run_worker 1 1 "$CALLS1"
    run_floor 1 "$CALLS1"
    run_worker 32 "$SESSIONS" "$CALLS32"
    run_floor 32 "$CALLS32"
    reps=$((reps + 1))
done
kill -0 "$wpid" 2>/dev/null || { echo "run-worker: the worker died; its log:" >&2;
                                  cat "$tmp/worker.log" >&2; exit 1; }

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

echo "worker benchmark: $(date -u +%Y-%m-%d), $(nproc) cores, $(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1)"
echo "load average before the run: $LOAD"
echo "echo payload $PAYLOAD bytes; $CALLS1 calls at 1 in flight (1 session), $CALLS32 at 32 ($SESSIONS sessions); medians of $reps runs"
echo
printf '%-22s %9s %8s %8s %9s %6s %12s %12s %12s\n' "" "calls/s" "p50 µs" "p99 µs" "p99.9 µs" \
    "errors" "worker CPU" "server CPU" "client CPU"
for n in 1 32; do
    for who in worker floor; do
        medians "$tmp/$who-$n" > "$tmp/median-$who-$n"
        read -r rate p50 p99 p999 errs wcpu scpu ccpu < "$tmp/median-$who-$n"
        printf '%-22s %9.0f %8.1f %8.1f %9.1f %6d %9.2f µs %9.2f µs %9.2f µs\n' \
            "$(printf '%-7s %2d in flight' "$who" "$n")" \
            "$rate" "$p50" "$p99" "$p999" "$errs" "$wcpu" "$scpu" "$ccpu"
    done
done
echo "(floor: the server over stdio, no gateway.  CPU columns: µs of CPU per call of"
echo " mcphub-workerd alone, of the example server, of the client: loadgen or stdio_floor.)"
echo

# Against the issue's targets (reported, not asserted).
read -r _ wp50 _ _ _ wcpu1 _ _ < "$tmp/median-worker-1"
read -r _ fp50 _ _ _ _ _ _ < "$tmp/median-floor-1"
read -r wrate _ _ _ _ wcpu32 wsrv32 _ < "$tmp/median-worker-32"
read -r frate _ _ _ _ _ fsrv32 _ < "$tmp/median-floor-32"
awk -v wp50="$wp50" -v fp50="$fp50" -v wcpu1="$wcpu1" -v wcpu32="$wcpu32" -v wrate="$wrate" \
    -v frate="$frate" -v ws="$wsrv32" -v fs="$fsrv32" 'BEGIN {
    printf "worker CPU per call:     %.2f µs at 1 in flight, %.2f µs at 32   (target <= 12)\n", wcpu1, wcpu32
    printf "calls/s at 32 in flight: %.0f through the worker, %.0f floor = %.2fx   (target >= 20000)\n", wrate, frate, wrate / frate
    printf "p50 at 1 in flight:      %.1f µs worker, %.1f µs floor: +%.1f µs   (target <= +60)\n", wp50, fp50, wp50 - fp50
    printf "server CPU per call at 32: %.2f µs behind the worker, %.2f µs on the floor\n", ws, fs
}'
