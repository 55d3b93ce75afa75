#!/usr/bin/env bash
# Build, push or export the project's four images:
#   $REGISTRY/mpibase:$TAG                 images/mpibase
#   $REGISTRY/{sync,finalize,probe}:$TAG   functions/Dockerfile, each with its
#                                          function's folder as context and
#                                          mpifn/ copied in, as faas-cli does
#
# Usage: scripts/images.sh build | push | archive DIR
#   archive DIR writes one image archive per image into DIR (for
#   `ctr -n k8s.io images import`, `docker load`, `kind load image-archive`).
# Environment:
#   REGISTRY (default docker.io/mpifn), TAG (default 0.1.0)
#   BUILDER        docker, podman or buildah (default: the first one that works)
#   PIP_CA_BUNDLE  a CA bundle for pip inside the build (behind a TLS-intercepting
#                  proxy), given to the build as the secret pip-ca
#   BUILD_PULL     never: build only from local base images (podman, buildah)
set -euo pipefail
cd "$(dirname "$0")/.."

REGISTRY="${REGISTRY:-docker.io/mpifn}"
TAG="${TAG:-0.1.0}"
FUNCTIONS=(sync finalize probe)
CONTEXTS=build/images

log() { printf '[images] %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

detect_builder() {
    if [[ -n "${BUILDER:-}" ]]; then
        command -v "$BUILDER" >/dev/null || die "BUILDER=$BUILDER is not installed"
        echo "$BUILDER"
    elif command -v docker >/dev/null && docker info >/dev/null 2>&1; then
        echo docker
    elif command -v podman >/dev/null; then
        echo podman
    elif command -v buildah >/dev/null; then
        echo buildah
    else
        die "no image builder: install docker, podman or buildah (or set BUILDER)"
    fi
}

image() { echo "$REGISTRY/$1:$TAG"; }

# build NAME CONTEXT
build() {
    local name="$1" context="$2" args=()
    [[ -z "${PIP_CA_BUNDLE:-}" ]] || args+=(--secret "id=pip-ca,src=$PIP_CA_BUNDLE")
    case "$B" in
    docker) ;;
    podman) args+=(--format docker) ;;
    # SHELL and HEALTHCHECK only exist in the docker format; chroot isolation
    # keeps buildah from setting up container networking on the host
    buildah) args+=(--format docker --isolation chroot --layers) ;;
    esac
    [[ "${BUILD_PULL:-}" != never || "$B" == docker ]] || args+=(--pull=never)
    local start=$SECONDS
    if [[ "$B" == buildah ]]; then
        buildah bud "${args[@]}" -t "$name" "$context" >&2
    else
        "$B" build "${args[@]}" -t "$name" "$context" >&2
    fi
    log "built $name in $((SECONDS - start))s"
}

# the build context of one function, as faas-cli's shrinkwrap lays it out
function_context() {
    local fn="$1" dir="$CONTEXTS/$1"
    rm -rf "$dir"
    mkdir -p "$dir"
    cp -L "functions/$fn/Dockerfile" "functions/$fn/main.py" "$dir/"
    tar -c --exclude=__pycache__ mpifn | tar -x -C "$dir"
    echo "$dir"
}

build_all() {
    build "$(image mpibase)" images/mpibase
    local fn
    for fn in "${FUNCTIONS[@]}"; do
        build "$(image "$fn")" "$(function_context "$fn")"
    done
}

all_images() {
    image mpibase
    local fn
    for fn in "${FUNCTIONS[@]}"; do image "$fn"; done
}

push_all() {
    local name
    for name in $(all_images); do
        "$B" push "$name" >&2
        log "pushed $name"
    done
}

archive_all() {
    local dir="$1" name file
    mkdir -p "$dir"
    for name in $(all_images); do
        file="$dir/$(basename "${name%%:*}").tar"
        rm -f "$file"
        case "$B" in
        docker) docker save -o "$file" "$name" ;;
        podman) podman save --format oci-archive -o "$file" "$name" ;;
        buildah) buildah push --quiet "$name" "oci-archive:$file:$name" >/dev/null ;;
        esac
        echo "$file"
    done
}

B=$(detect_builder)
case "${1:-}" in
build) log "builder: $B"; build_all ;;
push) push_all ;;
archive) [[ -n "${2:-}" ]] || die "usage: scripts/images.sh archive DIR"; archive_all "$2" ;;
*) die "usage: scripts/images.sh build | push | archive DIR" ;;
esac
