#!/bin/sh
# mpifn-worker: entrypoint of an MPIJob worker.
#
# Runs OpenSSH's sshd in the foreground as the current (non-root) user, so the
# job's launcher can start MPI daemons here over ssh with the job's key pair.
#
# Environment:
#   MPIFN_SSH_PORT     port sshd listens on (default 2222)
#   MPIFN_SSH_KEY_DIR  folder of the job's Secret <job>-ssh, holding
#                      ssh-publickey (default /etc/mpi/ssh)
#   MPIFN_SSHD_DIR     writable folder for host keys, authorized_keys and the
#                      sshd config (default $HOME/.mpifn-sshd); it must be
#                      owned by this user and not group/world writable, and so
#                      must every folder between it and $HOME (sshd StrictModes)
#   MPIFN_SSHD_LOG_LEVEL  sshd LogLevel (default INFO)
#   MPIFN_SSHD         sshd binary (default /usr/sbin/sshd; absolute path,
#                      sshd re-executes itself)
#
# Extra arguments are passed on to sshd (e.g. -d for debugging).
set -eu

log() {
    printf 'mpifn-worker: %s\n' "$*" >&2
}

die() {
    log "error: $*"
    exit 1
}

port="${MPIFN_SSH_PORT:-2222}"
key_dir="${MPIFN_SSH_KEY_DIR:-/etc/mpi/ssh}"
home="${HOME:-}"
if [ -z "$home" ]; then
    home="$(cd ~ 2>/dev/null && pwd)" || die "HOME is not set"
fi
state_dir="${MPIFN_SSHD_DIR:-$home/.mpifn-sshd}"
log_level="${MPIFN_SSHD_LOG_LEVEL:-INFO}"
sshd="${MPIFN_SSHD:-/usr/sbin/sshd}"
user="$(id -un)"

case "$port" in
    '' | *[!0-9]*) die "MPIFN_SSH_PORT must be a port number, got '$port'" ;;
esac
if [ "$port" -lt 1 ] || [ "$port" -gt 65535 ]; then
    die "MPIFN_SSH_PORT out of range: $port"
fi
if [ "$(id -u)" -eq 0 ]; then
    die "refusing to run as root; run as the image's non-root user (mpiuser)"
fi
[ -x "$sshd" ] || die "sshd not found at $sshd (install openssh-server)"
command -v ssh-keygen >/dev/null 2>&1 || die "ssh-keygen not found (install openssh-client)"

pub="$key_dir/ssh-publickey"
[ -r "$pub" ] || die "cannot read the job's public key $pub (is the Secret <job>-ssh mounted at $key_dir?)"

umask 077
mkdir -p "$state_dir"
chmod 700 "$state_dir"

# Only the job's key may log in. Rewritten on every start: the Secret is the
# source of truth.
authorized="$state_dir/authorized_keys"
grep -v '^[[:space:]]*$' "$pub" >"$authorized.tmp" || die "$pub is empty"
chmod 600 "$authorized.tmp"
mv "$authorized.tmp" "$authorized"

# The host key is per worker and kept across restarts of the container
# (ed25519 only: instant to make, and every OpenSSH client of the launcher
# speaks it).
hostkey="$state_dir/ssh_host_ed25519_key"
if [ ! -s "$hostkey" ]; then
    rm -f "$hostkey" "$hostkey.pub"
    ssh-keygen -q -t ed25519 -N '' -C "mpifn-worker@$(hostname 2>/dev/null || echo worker)" -f "$hostkey" >/dev/null ||
        die "ssh-keygen could not write $hostkey"
fi

config="$state_dir/sshd_config"
cat >"$config.tmp" <<EOF
# Written by mpifn-worker; sshd runs as user $user without root.
Port $port
HostKey $hostkey
PidFile $state_dir/sshd.pid
AuthorizedKeysFile $authorized
AllowUsers $user
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
HostbasedAuthentication no
PermitRootLogin no
UsePAM no
StrictModes yes
PermitUserEnvironment no
PrintMotd no
PrintLastLog no
UseDNS no
X11Forwarding no
AllowAgentForwarding no
AllowTcpForwarding yes
MaxStartups 1000:30:2000
MaxSessions 100
LoginGraceTime 30
ClientAliveInterval 30
ClientAliveCountMax 4
LogLevel $log_level
Subsystem sftp internal-sftp
EOF
mv "$config.tmp" "$config"

"$sshd" -t -f "$config" || die "sshd rejected its configuration $config"

log "user $user, port $port, key $(cut -d' ' -f1 "$authorized" | head -n 1) from $pub, state in $state_dir"
exec "$sshd" -D -e -f "$config" "$@"
