#!/usr/bin/env bash
# Make the base images `make images` builds FROM, from Debian packages, for
# machines that reach a Debian mirror but no image registry (CI, tests/e2e_node):
#
# - debian:bookworm-slim: a minbase bookworm rootfs made by mmdebstrap, close
#   to the published slim image (merged /usr, the same dpkg path excludes and
#   apt cache settings), with this machine's Debian sources;
# - the pod sandbox ("pause") image of the real-node suite: one static binary
#   built from tests/e2e_node/pause.c.
#
# Each rootfs is cached outside the repository, keyed by the day it was made
# (the distribution moves with its security updates), and imported into
# buildah's local storage under the name a Dockerfile's FROM uses.
#
# Usage: scripts/base-images.sh
# Environment:
#   MPIFN_IMAGE_CACHE      cache folder (default $HOME/.cache/mpifn-images)
#   MPIFN_DEBIAN_SOURCES   apt sources the rootfs is made from and keeps
#                          (default /etc/apt/sources.list.d/debian.sources)
#   MPIFN_BASE_DATE        cache key (default: today, UTC, YYYYMMDD)
#   PAUSE_IMAGE            name of the sandbox image (default localhost/mpifn/pause:1.0)
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE="${MPIFN_IMAGE_CACHE:-$HOME/.cache/mpifn-images}"
SOURCES="${MPIFN_DEBIAN_SOURCES:-/etc/apt/sources.list.d/debian.sources}"
DAY="${MPIFN_BASE_DATE:-$(date -u +%Y%m%d)}"
SLIM_IMAGE=docker.io/library/debian:bookworm-slim
PAUSE_IMAGE="${PAUSE_IMAGE:-localhost/mpifn/pause:1.0}"
mkdir -p "$CACHE"

log() { printf '[base-images] %s\n' "$*" >&2; }

[[ -f "$SOURCES" ]] || { log "no apt sources at $SOURCES: set MPIFN_DEBIAN_SOURCES to a deb822 .sources file of bookworm"; exit 1; }

# The slim image's trimming: no docs but copyrights, no man pages, no
# translations; apt keeps no package caches and compressed lists.
SLIM_DPKG=(
    'path-exclude=/usr/share/doc/*'
    'path-include=/usr/share/doc/*/copyright'
    'path-exclude=/usr/share/man/*'
    'path-exclude=/usr/share/groff/*'
    'path-exclude=/usr/share/info/*'
    'path-exclude=/usr/share/lintian/*'
    'path-exclude=/usr/share/linda/*'
    'path-exclude=/usr/share/locale/*'
)
SLIM_APT=(
    'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; }'
    'APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; }'
    'Dir::Cache::pkgcache ""'
    'Dir::Cache::srcpkgcache ""'
    'Acquire::GzipIndexes "true"'
    'Acquire::Languages "none"'
    'Apt::AutoRemove::SuggestsImportant "false"'
)

slim_rootfs() {
    local tar="$CACHE/debian-bookworm-slim-$DAY.tar"
    if [[ -s "$tar" ]]; then
        log "cached: $tar"
    else
        local args=(--variant=minbase --format=tar --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr)
        local o
        for o in "${SLIM_DPKG[@]}"; do args+=("--dpkgopt=$o"); done
        for o in "${SLIM_APT[@]}"; do args+=("--aptopt=$o"); done
        # like the published image: no apt lists, no logs of the bootstrap ($1 is
        # the rootfs, expanded by the hook's own shell)
        # shellcheck disable=SC2016
        args+=(--customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/log/apt/* "$1"/var/log/dpkg.log "$1"/var/cache/ldconfig/aux-cache')
        local start=$SECONDS
        mmdebstrap "${args[@]}" bookworm "$tar.part" "$SOURCES" >&2
        mv "$tar.part" "$tar"
        log "made $tar in $((SECONDS - start))s"
    fi
    echo "$tar"
}

pause_rootfs() {
    local src=tests/e2e_node/pause.c
    local sum
    sum=$(sha256sum "$src" | cut -c1-12)
    local dir="$CACHE/pause-$sum"
    if [[ ! -x "$dir/pause" ]]; then
        mkdir -p "$dir"
        gcc -static -Os -Wall -Werror -o "$dir/pause.part" "$src"
        strip "$dir/pause.part"
        mv "$dir/pause.part" "$dir/pause"
    fi
    echo "$dir/pause"
}

# import NAME CACHE_FILE CONFIG... : a one-layer image in buildah's storage,
# made again only when the cache file changed or the image is gone (a stamp
# in the cache keeps which file made which image ID)
import() {
    local name="$1" file="$2"; shift 2
    local key stamp
    key="$(basename "$(dirname "$file")")/$(basename "$file")"
    stamp="$CACHE/imported-$(printf '%s' "$name" | tr -c 'A-Za-z0-9.-' '_')"
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$key $(buildah images --noheading --no-trunc --format '{{.ID}}' "$name" 2>/dev/null)" ]]; then
        log "$name is current ($key)"
        return
    fi
    local c
    c=$(buildah from scratch)
    # shellcheck disable=SC2064
    trap "buildah rm $c >/dev/null" RETURN
    buildah add "$c" "$file" "${ADD_DEST:-/}" >/dev/null
    buildah config "$@" "$c"
    buildah commit --quiet --format docker --rm "$c" "$name" >/dev/null
    trap - RETURN
    echo "$key $(buildah images --noheading --no-trunc --format '{{.ID}}' "$name")" >"$stamp"
    log "imported $name from $file"
}

command -v buildah >/dev/null || { log "buildah is not installed (apt-get install buildah, or run scripts/install-node-deps.sh)"; exit 1; }
command -v mmdebstrap >/dev/null || { log "mmdebstrap is not installed (apt-get install mmdebstrap, or run scripts/install-node-deps.sh)"; exit 1; }

import "$SLIM_IMAGE" "$(slim_rootfs)" \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --cmd bash
ADD_DEST=/pause import "$PAUSE_IMAGE" "$(pause_rootfs)" --entrypoint '["/pause"]' --user 65535:65535
