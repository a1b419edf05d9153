#!/bin/sh
# Fault tests across network namespaces (tests/README.md, "Faults across
# hosts"): builds five namespaces -- a master, three workers and a client --
# joined by veths to a bridge in a sixth, the router, on 10.231.0.0/24
# (addresses that exist only on those veths, inside those namespaces:
# nothing is added to the root namespace, no traffic leaves them), then runs
# tests/interop/faults-client.mjs with node's test runner in the client
# namespace.  That script starts the daemons in their namespaces and breaks
# things; this one removes every namespace (and with them every veth and
# the bridge) and every process left in them, also when a test fails or
# the run is interrupted.
#
#   usage: tests/integration/faults.sh [BUILD_DIR [TAP_FILE]]
#          (tests/integration/run calls it when it runs as root)
#
# Needs root (it skips, with a message, otherwise), ip (iproute2), node and
# the npm packages of tests/interop, and nft (Debian package nftables,
# installed with apt-get when missing).  Builds BUILD_DIR/tests/helpers/
# delay_proxy when it is missing.  Writes node's TAP report to TAP_FILE
# (tests/integration/run reads the counts there); without TAP_FILE it ends
# with "N passed, N failed" (node's counts; a TODO test, a known gap, is
# neither).  Exits non-zero on a failure.  MCPHUB_FAULTS_TIMEOUT (default
# 420 s) bounds the node script.
set -u

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-build}
case $build in /*) ;; *) build=$root/$build ;; esac
tap=${2:-}
tap_given=$tap
timeout_s=${MCPHUB_FAULTS_TIMEOUT:-420}
net=10.231.0

say() { printf 'faults: %s\n' "$*"; }
# The closing line, when no caller counts from the TAP file.
total() { [ -n "$tap_given" ] || echo "$1 passed, $2 failed"; }

if [ "$(id -u)" != 0 ]; then
    say "skipped: the fault tests need root (network namespaces, veths, nftables)"
    total 0 0
    exit 0
fi
if ! command -v ip >/dev/null; then
    say "skipped: ip (iproute2) is missing"
    total 0 0
    exit 0
fi
if ! command -v nft >/dev/null && command -v apt-get >/dev/null; then
    say "installing Debian's nftables"
    apt-get update -qq >/dev/null 2>&1
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nftables >/dev/null 2>&1 ||
        say "apt-get install nftables failed: the loss scenario will fail"
fi
for bin in "$build/mcphub-masterd" "$build/mcphub-workerd" "$build/examples/servers/mcp-example-server"; do
    if [ ! -x "$bin" ]; then
        say "$bin is missing: run make all first"
        total 0 1
        exit 1
    fi
done
proxy=$build/tests/helpers/delay_proxy
if [ ! -x "$proxy" ] || [ -n "$(find "$root/tests/helpers/delay_proxy.c" -newer "$proxy")" ]; then
    make -C "$root" --no-print-directory -s B="$build" "$proxy" >/dev/null || {
        say "cannot build $proxy"
        total 0 1
        exit 1
    }
fi

# ---- the namespaces -------------------------------------------------------------------------

# Names carry this shell's pid: runs side by side never meet, and a run
# that was killed before its cleanup is recognised and removed by the next.
prefix=mcphub-f$$
hosts="master w1 w2 w3 client"
addr_of() {
    case $1 in master) echo "$net.10" ;; w1) echo "$net.11" ;; w2) echo "$net.12" ;;
               w3) echo "$net.13" ;; client) echo "$net.20" ;; esac
}
router=$prefix-router
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mcphub-faults.XXXXXX")
[ -n "$tap" ] || tap=$tmp/faults.tap
keep=${MCPHUB_IT_KEEP:-0}

# Kill every process in namespace $1; prints how many there were.
kill_ns() {
    pids=$(ip netns pids "$1" 2>/dev/null)
    n=0
    for p in $pids; do
        kill -KILL "$p" 2>/dev/null && n=$((n + 1))
    done
    echo "$n"
}

remove_ns() {
    for ns in "$@"; do
        ip netns list 2>/dev/null | grep -q "^$ns\( \|$\)" || continue
        kill_ns "$ns" >/dev/null
        # A killed process may take a moment to leave its namespace.
        i=0
        while [ -n "$(ip netns pids "$ns" 2>/dev/null)" ] && [ $i -lt 50 ]; do
            sleep 0.1; i=$((i + 1))
        done
        ip netns del "$ns" 2>/dev/null || say "could not remove namespace $ns"
    done
}

all_ns() { echo "$router"; for h in $hosts; do echo "$prefix-$h"; done; }

runner=
cleanup() {
    # timeout leads a process group: node and what it started outside the namespaces
    [ -z "$runner" ] || kill -KILL "-$runner" 2>/dev/null
    # shellcheck disable=SC2046  # a list of names
    remove_ns $(all_ns)
    [ "$keep" = 1 ] || rm -rf "$tmp"
}
trap cleanup EXIT
trap 'cleanup; exit 129' HUP
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

# Leftovers of a run whose shell is gone (killed before its trap ran).
for ns in $(ip netns list 2>/dev/null | sed -n 's/^\(mcphub-f[0-9]*-[a-z0-9]*\).*/\1/p'); do
    owner=$(echo "$ns" | sed 's/^mcphub-f\([0-9]*\)-.*/\1/')
    if [ "$owner" != "$$" ] && ! kill -0 "$owner" 2>/dev/null; then
        say "removing $ns, left by an earlier run"
        remove_ns "$ns"
    fi
done

setup() {
    ip netns add "$router" || return 1
    ip -n "$router" link set lo up || return 1
    ip -n "$router" link add br0 type bridge || return 1
    ip -n "$router" link set br0 up || return 1
    for h in $hosts; do
        ns=$prefix-$h
        a=$(addr_of "$h")
        ip netns add "$ns" || return 1
        ip -n "$ns" link set lo up || return 1
        # Created inside the router, its peer straight into the host's
        # namespace: neither end ever exists in the root namespace.
        ip -n "$router" link add "v-$h" type veth peer name eth0 netns "$ns" || return 1
        ip -n "$router" link set "v-$h" master br0 || return 1
        ip -n "$router" link set "v-$h" up || return 1
        ip -n "$ns" addr add "$a/24" dev eth0 || return 1
        ip -n "$ns" link set eth0 up || return 1
    done
}
if ! setup; then
    say "could not build the namespaces"
    total 0 1
    exit 1
fi
say "namespaces $prefix-{master,w1,w2,w3,client} on $net.0/24, bridge br0 in $router"

# ---- the run ------------------------------------------------------------------------------

start=$(date +%s)
FAULTS_NET=$net FAULTS_NS_ROUTER=$router FAULTS_NS_MASTER=$prefix-master \
FAULTS_NS_W1=$prefix-w1 FAULTS_NS_W2=$prefix-w2 FAULTS_NS_W3=$prefix-w3 \
MCPHUB_DELAY_PROXY=$proxy MCPHUB_BUILD=$build MCPHUB_IT_TMP=$tmp \
    timeout -k 5 "$timeout_s" ip netns exec "$prefix-client" node --test \
    --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$tap" "$root/tests/interop/faults-client.mjs" &
# In the background: a signal's trap runs at once, not after the script.
runner=$!
wait "$runner"
rc=$?
runner=

p=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$tap" 2>/dev/null | tail -1)
x=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$tap" 2>/dev/null | tail -1)
c=$(sed -n 's/^# cancelled \([0-9]*\)$/\1/p' "$tap" 2>/dev/null | tail -1)
t=$(sed -n 's/^# todo \([0-9]*\)$/\1/p' "$tap" 2>/dev/null | tail -1)
p=${p:-0} x=$((${x:-0} + ${c:-0}))
if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    say "killed after the ${timeout_s}s timeout"
    x=$((x + 1))
elif [ "$rc" != 0 ] && [ "$x" = 0 ]; then
    say "exit status $rc with no failed test"
    x=1
fi
# Nothing may be left running in the namespaces (the script stops what it started).
left=0
for ns in $(all_ns); do
    n=$(kill_ns "$ns")
    left=$((left + n))
done
if [ "$left" != 0 ]; then
    say "$left process(es) left behind in the namespaces"
    x=$((x + 1))
fi
if [ "$x" != 0 ]; then
    keep=1
    say "logs and settings kept in $tmp"
fi
say "$p passed, $x failed, ${t:-0} todo (known gaps) in $(($(date +%s) - start)) s"
total "$p" "$x"
[ "$x" = 0 ]
