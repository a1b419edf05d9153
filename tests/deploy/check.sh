#!/bin/sh
# make check-deploy (part of make check): the files under deploy/ checked
# against the daemons, and run as far as this machine allows; examples/demo.sh
# started, used and stopped.  The work is in check.py (next to this file);
# this script finds a python3 with PyYAML for it, installing python3-yaml
# with apt-get when it runs as root and none has it.
#
#   usage: tests/deploy/check.sh [BUILD_DIR]
#          MCPHUB_DEPLOY_KEEP=1 ...   keep the logs and scratch files
#          MCPHUB_DEPLOY_QUICK=1 ...  skip the Dockerfile build stage (about 20 s)
#
# Ends with "check-deploy: N passed, N failed, N skipped"; exits non-zero on a
# failure.  Bounded: the whole run is killed after MCPHUB_DEPLOY_TIMEOUT
# seconds (default 300).
set -u
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-build}

say() { printf 'check-deploy: %s\n' "$*"; }

# A python3 that has yaml, else any python3 (the YAML parts are then skipped).
find_python() {
    for py in python3 /usr/bin/python3 /usr/local/bin/python3; do
        command -v "$py" >/dev/null 2>&1 || continue
        if "$py" -c 'import yaml' 2>/dev/null; then
            echo "$py"
            return 0
        fi
    done
    return 1
}

py=$(find_python)
if [ -z "$py" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "installing python3-yaml (to parse the YAML files)"
        apt-get update -qq >/dev/null 2>&1
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-yaml >/dev/null 2>&1
        py=$(find_python)
    fi
fi
if [ -z "$py" ]; then
    if command -v python3 >/dev/null 2>&1; then
        say "no python3 with PyYAML here and not root: the YAML checks will be skipped (apt-get install python3-yaml)"
        py=python3
    else
        say "skipped: python3 is needed (apt-get install python3 python3-yaml)"
        echo "check-deploy: 0 passed, 0 failed, 1 skipped"
        exit 0
    fi
fi

exec timeout -k 10 "${MCPHUB_DEPLOY_TIMEOUT:-300}" "$py" "$here/check.py" "$build"
