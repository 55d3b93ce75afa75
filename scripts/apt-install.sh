#!/bin/sh
# Install the Debian packages named that are not installed yet (as root,
# non-interactive); the install-*-deps.sh scripts share it.
# Usage: scripts/apt-install.sh WHO PACKAGE...   (WHO prefixes the messages)
set -eu
who="$1"
shift

missing=""
for p in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done

if [ -z "$missing" ]; then
    echo "$who: apt packages present"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "$who: need root to install:$missing" >&2
    exit 1
fi
echo "$who: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
