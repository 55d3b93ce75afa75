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

# Debian starts containerd as a service when systemd runs; the suite starts its
# own with its own state, so a service that cannot start is no error here.
# shellcheck disable=SC2086
sh "$(dirname "$0")/apt-install.sh" install-node-deps $APT_PACKAGES
