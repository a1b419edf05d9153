#!/bin/sh
# The C example in README.md builds against an installed copy with nothing
# but pkg-config and prints exactly what the README says it prints.
# usage: check-example.sh README.md DESTDIR
set -eu
readme=$1 dest=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
awk '/^```c$/{f=1;next} /^```$/{if(f){exit}} f' "$readme" > "$work/example.c"
awk '/^\$ cc plan.c/{f=1;next} /^```$/{if(f){exit}} f' "$readme" > "$work/expected"
[ -s "$work/example.c" ] && [ -s "$work/expected" ] || { echo "check-readme: example not found in $readme"; exit 1; }
PKG_CONFIG_PATH="$dest/usr/local/lib/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$dest" \
    sh -c 'cc -std=c99 -Wall -Werror "$0/example.c" $(pkg-config --cflags --libs libmcphub-cluster) -o "$0/example"' "$work"
LD_LIBRARY_PATH="$dest/usr/local/lib" "$work/example" > "$work/actual"
if ! diff -u "$work/expected" "$work/actual"; then
    echo "check-readme: the README's example prints something else"
    exit 1
fi
echo "check-readme: README example builds with pkg-config and prints what the README shows"
