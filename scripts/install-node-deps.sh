#!/bin/sh
# Install what the real-node suite (tests/e2e_node) and `make images` with
# buildah need on a Debian (bookworm) machine: containerd and runc, the CNI
# plugins (bridge, host-local, portmap, loopback), iptables and conntrack for
# kube-proxy and kubelet, buildah to build the images, mmdebstrap to make their
# Debian base, gcc and static libc for the pod sandbox binary.
# kubelet, kube-proxy, crictl and CoreDNS come from scripts/build-tools.sh.
#
# Idempotent and non-interactive: packages already present are skipped.
# Usage: scripts/install-node-deps.sh   (as root)
set -eu

APT_PACKAGES="containerd runc containernetworking-plugins iptables conntrack iproute2 buildah mmdebstrap ca-certificates gcc libc6-dev"

missing=""
for p in $APT_PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done

if [ -z "$missing" ]; then
    echo "install-node-deps: apt packages present"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "install-node-deps: need root to install:$missing" >&2
    exit 1
fi
echo "install-node-deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Debian starts containerd as a service when systemd runs; the suite starts its
# own with its own state, so a service that cannot start is no error here.
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
