#!/bin/sh
# examples/embed-gateway.c builds outside the tree against an installed copy
# with nothing but pkg-config (libmcphub-cluster, plus libcurl for the
# gateway's own HTTP client), links the installed shared library, and runs:
# it starts, and answers an initialize with 503 once its only worker proved
# unreachable (the library's registry and balancer at work, from the .so).
#
# usage: tests/pkgconfig/check-embed.sh [DESTDIR]
#   DESTDIR: a tree where `make install-lib install-headers install-pc
#   DESTDIR=... PREFIX=/usr/local` was run (make check-pkgconfig makes one);
#   without it the script makes its own in a temporary directory.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
pid=
cleanup() {
    [ -z "$pid" ] || kill "$pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
if [ $# -ge 1 ]; then
    dest=$1
else
    dest=$work/dest
    make -C "$root" --no-print-directory -s install-lib install-headers install-pc \
        DESTDIR="$dest" PREFIX=/usr/local >/dev/null
fi

# libcurl is the embedder's own dependency: asked for without the sysroot.
curl_flags=$(pkg-config --cflags --libs libcurl)
PKG_CONFIG_PATH="$dest/usr/local/lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$dest" \
    sh -c 'cc -std=c99 -Wall -Wextra -Wpedantic -Werror "$1" \
               $(pkg-config --cflags --libs libmcphub-cluster) $2 -pthread -o "$0/embed-gateway"' \
    "$work" "$root/examples/embed-gateway.c" "$curl_flags"

export LD_LIBRARY_PATH="$dest/usr/local/lib"
so=$(ldd "$work/embed-gateway" | sed -n 's/.*libmcphub-cluster\.so[^ ]* => \([^ ]*\).*/\1/p')
case $so in
    "$dest"/*) ;;
    *) echo "check-embed: not linked against the installed libmcphub-cluster.so (${so:-none})"; exit 1 ;;
esac
"$work/embed-gateway" --help | grep -q '^usage: embed-gateway' ||
    { echo "check-embed: --help did not print the usage"; exit 1; }

# Run it against a worker that is not there (port 1 on loopback refuses).
: > "$work/log"
"$work/embed-gateway" --port 0 --check-interval 0 --worker w1=127.0.0.1:1/example \
    2> "$work/log" &
pid=$!
i=0
until port=$(sed -n 's/.*event=gateway_start .*port=\([0-9]*\).*/\1/p' "$work/log") && [ -n "$port" ]; do
    i=$((i + 1))
    [ $i -le 100 ] || { echo "check-embed: the gateway did not start"; cat "$work/log"; exit 1; }
    sleep 0.05
done
grep -q 'event=node_status node=w1 old=offline new=online reason=registered' "$work/log" ||
    { echo "check-embed: the worker was not registered"; cat "$work/log"; exit 1; }
what="starts, registers its worker"
if command -v curl >/dev/null; then
    # The forward fails, the registry marks w1 unhealthy, no replica is left: 503.
    got=$(curl -s -m 10 -o /dev/null -w '%{http_code}' -H 'content-type: application/json' \
          -H 'accept: application/json, text/event-stream' \
          -d '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}' \
          "http://127.0.0.1:$port/mcp/example" || true)
    if [ "$got" != 503 ] ||
       ! grep -q 'event=node_status node=w1 old=online new=unhealthy' "$work/log"; then
        echo "check-embed: initialize got HTTP '$got', not 503"; cat "$work/log"; exit 1
    fi
    what="$what, marks it down when it cannot be reached (503)"
fi
kill -TERM "$pid"
i=0
while kill -0 "$pid" 2>/dev/null; do
    i=$((i + 1))
    [ $i -le 100 ] || { echo "check-embed: the gateway did not stop on SIGTERM"; exit 1; }
    sleep 0.05
done
wait "$pid" || { echo "check-embed: the gateway exited with status $?"; exit 1; }
pid=
echo "check-embed: examples/embed-gateway.c builds with pkg-config against an installed copy, $what"
