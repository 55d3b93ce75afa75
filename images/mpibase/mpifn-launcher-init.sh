#!/bin/sh
# mpifn-launcher-init: init step of an MPIJob launcher.
#
# Asks the mpifn probe function which workers of this job answer ssh, retries
# with backoff until at least MPIFN_MIN_REPLICAS do or the deadline passes,
# then writes the MPI hostfile. Needs only POSIX sh and curl.
#
# Environment (set by the sync function on the launcher's init container):
#   MPIFN_PROBE_URL               probe function URL (required), e.g.
#                                 http://gateway.openfaas:8080/function/probe
#   MPIFN_JOB_NAME                MPIJob name (required)
#   MPIFN_JOB_NAMESPACE           MPIJob namespace (required)
#   MPIFN_REPLICAS                number of workers (required)
#   MPIFN_MIN_REPLICAS            workers needed to start (default: replicas)
#   MPIFN_SLOTS                   slots per worker (default 1)
#   MPIFN_SSH_PORT                workers' sshd port (default 2222)
#   MPIFN_MPI_IMPLEMENTATION      OpenMPI | MPICH | IntelMPI (default OpenMPI)
#   MPIFN_PROBE_TIMEOUT_SECONDS   timeout of one probe call (default 10)
#   MPIFN_INIT_DEADLINE_SECONDS   overall deadline of this step (default 300)
#   MPIFN_HOSTFILE                where to write the hostfile
#                                 (default /etc/mpi/hostfile)
#   MPIFN_PROBE_SIGNATURE         sync's signature of this job's probe fields,
#   MPIFN_PROBE_EXPIRES           when it expires (Unix time) and the job uid
#   MPIFN_JOB_UID                 it covers; sent along when set (a probe with a
#                                 key refuses requests without them: HTTP 403)
#   MPIFN_TERMINATION_LOG         where the verdict goes when the file exists
#                                 (default /dev/termination-log, which the
#                                 kubelet creates: the verdict becomes the init
#                                 container's termination message in the pod
#                                 status, which the sync function reads)
#
# Exit status: 0 when the hostfile was written; 1 when too few workers
# answered before the deadline (the message names each unreachable worker and
# why) or the probe never answered; 2 on a configuration error.
#
# The probe's text answer it reads, and the verdict it writes, are the contract in
# mpifn/probetext.py (its docstring; tests hold both sides to it).
# The verdict (first line, then at most MAX_VERDICT_LINES workers left out):
#   mpifn-init: <ok|too-few-workers|probe-failed|config-error>: <summary>
#   unreachable <host>: <refused|timeout|not-ssh|no-dns|error> (<detail>)
#   and <n> more unreachable
set -eu

PROG=mpifn-launcher-init
TERMINATION_LOG="${MPIFN_TERMINATION_LOG:-/dev/termination-log}"
MAX_VERDICT_LINES=15   # Kubernetes keeps 4096 bytes of a termination message

verdict() {
    # verdict OUTCOME SUMMARY [PROBE_ANSWER]: the termination message, when there is
    # a file for it (never created here: outside a pod there is none)
    [ -f "$TERMINATION_LOG" ] && [ -w "$TERMINATION_LOG" ] || return 0
    {
        printf 'mpifn-init: %s: %s\n' "$1" "$2" | head -n 1 | cut -c1-300
        if [ -n "${3:-}" ] && [ -s "$3" ]; then
            sed -n 's/^# unreachable /unreachable /p' "$3" | head -n "$MAX_VERDICT_LINES" | cut -c1-200
            left=$(grep -c '^# unreachable ' "$3" || true)
            [ "$left" -le "$MAX_VERDICT_LINES" ] || printf 'and %d more unreachable\n' "$((left - MAX_VERDICT_LINES))"
        fi
    } >"$TERMINATION_LOG" 2>/dev/null || true
}

log() {
    printf '%s: %s\n' "$PROG" "$*"
}

config_error() {
    printf '%s: configuration error: %s\n' "$PROG" "$*" >&2
    verdict config-error "$*"
    exit 2
}

require() {
    # require NAME VALUE: VALUE must not be empty
    [ -n "$2" ] || config_error "$1 is not set"
}

require_int() {
    # require_int NAME VALUE MIN
    case "$2" in
        '' | *[!0-9]*) config_error "$1 must be a whole number, got '$2'" ;;
    esac
    # strip leading zeros so that sh arithmetic does not read octal
    _v=$(printf '%s' "$2" | sed 's/^0*//')
    [ -n "$_v" ] || _v=0
    [ "$_v" -ge "$3" ] || config_error "$1 must be at least $3, got $2"
}

require_name() {
    # Kubernetes names: DNS-1123 characters only (also keeps the JSON body safe)
    case "$2" in
        '' | *[!a-z0-9.-]*) config_error "$1 must be a Kubernetes name ([a-z0-9.-]), got '$2'" ;;
    esac
}

now() {
    date +%s
}

PROBE_URL="${MPIFN_PROBE_URL:-}"
JOB="${MPIFN_JOB_NAME:-}"
NAMESPACE="${MPIFN_JOB_NAMESPACE:-}"
REPLICAS="${MPIFN_REPLICAS:-}"
MIN_REPLICAS="${MPIFN_MIN_REPLICAS:-$REPLICAS}"
SLOTS="${MPIFN_SLOTS:-1}"
SSH_PORT="${MPIFN_SSH_PORT:-2222}"
IMPL="${MPIFN_MPI_IMPLEMENTATION:-OpenMPI}"
PROBE_TIMEOUT="${MPIFN_PROBE_TIMEOUT_SECONDS:-10}"
DEADLINE_SECONDS="${MPIFN_INIT_DEADLINE_SECONDS:-300}"
HOSTFILE="${MPIFN_HOSTFILE:-/etc/mpi/hostfile}"
SIGNATURE="${MPIFN_PROBE_SIGNATURE:-}"

require MPIFN_PROBE_URL "$PROBE_URL"
require_name MPIFN_JOB_NAME "$JOB"
require_name MPIFN_JOB_NAMESPACE "$NAMESPACE"
require_int MPIFN_REPLICAS "$REPLICAS" 1
require_int MPIFN_MIN_REPLICAS "$MIN_REPLICAS" 1
require_int MPIFN_SLOTS "$SLOTS" 1
require_int MPIFN_SSH_PORT "$SSH_PORT" 1
require_int MPIFN_PROBE_TIMEOUT_SECONDS "$PROBE_TIMEOUT" 1
require_int MPIFN_INIT_DEADLINE_SECONDS "$DEADLINE_SECONDS" 1
require MPIFN_HOSTFILE "$HOSTFILE"
REPLICAS=$((REPLICAS + 0))
MIN_REPLICAS=$((MIN_REPLICAS + 0))
SLOTS=$((SLOTS + 0))
SSH_PORT=$((SSH_PORT + 0))
PROBE_TIMEOUT=$((PROBE_TIMEOUT + 0))
DEADLINE_SECONDS=$((DEADLINE_SECONDS + 0))
[ "$SSH_PORT" -le 65535 ] || config_error "MPIFN_SSH_PORT out of range: $SSH_PORT"
[ "$MIN_REPLICAS" -le "$REPLICAS" ] ||
    config_error "MPIFN_MIN_REPLICAS ($MIN_REPLICAS) is more than MPIFN_REPLICAS ($REPLICAS)"
case "$IMPL" in
    OpenMPI | MPICH | IntelMPI) ;;
    *) config_error "MPIFN_MPI_IMPLEMENTATION must be OpenMPI, MPICH or IntelMPI, got '$IMPL'" ;;
esac
command -v curl >/dev/null 2>&1 || config_error "curl is not installed"
SIGNED=""
if [ -n "$SIGNATURE" ]; then
    case "$SIGNATURE" in
        *[!0-9a-f]*) config_error "MPIFN_PROBE_SIGNATURE must be 64 hex digits, got '$SIGNATURE'" ;;
    esac
    [ "${#SIGNATURE}" -eq 64 ] || config_error "MPIFN_PROBE_SIGNATURE must be 64 hex digits, got '$SIGNATURE'"
    require_int MPIFN_PROBE_EXPIRES "${MPIFN_PROBE_EXPIRES:-}" 0
    case "${MPIFN_JOB_UID:-}" in
        *[!a-z0-9-]*) config_error "MPIFN_JOB_UID must be a Kubernetes uid ([a-z0-9-]), got '${MPIFN_JOB_UID:-}'" ;;
    esac
    SIGNED=$(printf ',"uid":"%s","expires":%s,"signature":"%s"' \
        "${MPIFN_JOB_UID:-}" "$(printf '%s' "$MPIFN_PROBE_EXPIRES" | sed 's/^0*\(.\)/\1/')" "$SIGNATURE")
fi

case "$PROBE_URL" in
    *\?*) URL="$PROBE_URL&format=text" ;;
    *) URL="$PROBE_URL?format=text" ;;
esac

WORK=$(mktemp -d "${TMPDIR:-/tmp}/mpifn-init.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
ANSWER="$WORK/answer"
LAST="$WORK/last"      # last answer of the probe with status 200
ERRORS="$WORK/curl.err"

START=$(now)
END=$((START + DEADLINE_SECONDS))
MAX_ATTEMPTS=10000     # a bound on top of the deadline
attempt=0
backoff=1
last_problem=""
code=""

log "job $NAMESPACE/$JOB: need $MIN_REPLICAS of $REPLICAS workers ($IMPL, $SLOTS slots each, ssh port $SSH_PORT); deadline ${DEADLINE_SECONDS}s; probe $PROBE_URL${SIGNED:+ (signed request)}"

print_unreachable() {
    # print_unreachable FILE PREFIX: the "# unreachable" lines of a probe answer
    sed -n 's/^# unreachable //p' "$1" | while IFS= read -r line; do
        printf '%s%s\n' "$2" "$line"
    done
}

while [ "$attempt" -lt "$MAX_ATTEMPTS" ]; do
    attempt=$((attempt + 1))
    remaining=$((END - $(now)))
    [ "$remaining" -ge 1 ] || break

    # The probe's own deadline fits in what is left of ours.
    timeout=$PROBE_TIMEOUT
    if [ "$timeout" -ge "$remaining" ]; then
        timeout=$((remaining > 1 ? remaining - 1 : 1))
    fi
    max_time=$((timeout + 5))
    if [ "$max_time" -gt "$remaining" ]; then
        max_time=$remaining
    fi
    body=$(printf '{"namespace":"%s","name":"%s","replicas":%d,"minReplicas":%d,"slots":%d,"sshPort":%d,"mpiImplementation":"%s","timeoutSeconds":%d%s}' \
        "$NAMESPACE" "$JOB" "$REPLICAS" "$MIN_REPLICAS" "$SLOTS" "$SSH_PORT" "$IMPL" "$timeout" "$SIGNED")

    : >"$ANSWER"
    code=$(curl --silent --show-error --noproxy '*' \
        --connect-timeout "$max_time" --max-time "$max_time" \
        -X POST -H 'Content-Type: application/json' -H 'Accept: text/plain' \
        --data "$body" -o "$ANSWER" -w '%{http_code}' "$URL" 2>"$ERRORS") || code="curl-failed"

    if [ "$code" = "200" ]; then
        cp "$ANSWER" "$LAST"
        hosts=$(grep -v -e '^#' -e '^[[:space:]]*$' "$ANSWER" || true)
        if [ -n "$hosts" ]; then
            found=$(printf '%s\n' "$hosts" | wc -l | tr -d ' ')
        else
            found=0
        fi
        summary=$(sed -n 's/^# mpifn probe [^:]*: //p' "$ANSWER" | head -n 1)
        [ -n "$summary" ] || summary="$found of $REPLICAS workers reachable"
        if [ "$found" -ge "$MIN_REPLICAS" ]; then
            elapsed=$(($(now) - START))
            log "probe answered on attempt $attempt after ${elapsed}s: $summary"
            if grep -q '^# unreachable ' "$ANSWER"; then
                log "excluded from the hostfile (not reachable over ssh):"
                print_unreachable "$ANSWER" "  "
            else
                log "no worker excluded"
            fi
            dir=$(dirname "$HOSTFILE")
            mkdir -p "$dir"
            tmp="$HOSTFILE.tmp.$$"
            printf '%s\n' "$hosts" >"$tmp"
            chmod 644 "$tmp"
            mv -f "$tmp" "$HOSTFILE"
            log "wrote $HOSTFILE: $found workers x $SLOTS slots = $((found * SLOTS)) slots ($IMPL format):"
            sed 's/^/  /' "$HOSTFILE"
            verdict ok "$summary" "$ANSWER"
            exit 0
        fi
        last_problem="only $found of $REPLICAS workers reachable, $MIN_REPLICAS needed"
        log "attempt $attempt: $summary; waiting"
        print_unreachable "$ANSWER" "  "
    else
        if [ "$code" = "curl-failed" ]; then
            last_problem="probe call failed: $(tr '\n' ' ' <"$ERRORS")"
        else
            last_problem="probe answered HTTP $code: $(head -c 300 "$ANSWER" | tr '\n' ' ')"
        fi
        log "attempt $attempt: $last_problem; retrying"
    fi

    remaining=$((END - $(now)))
    [ "$remaining" -ge 1 ] || break
    pause=$backoff
    [ "$pause" -le "$remaining" ] || pause=$remaining
    sleep "$pause"
    backoff=$((backoff * 2))
    [ "$backoff" -le 16 ] || backoff=16
done

elapsed=$(($(now) - START))
if [ -s "$LAST" ]; then
    summary=$(sed -n 's/^# mpifn probe [^:]*: //p' "$LAST" | head -n 1)
    printf '%s: error: too few workers reachable for job %s/%s after %ss (%s attempts): %s\n' \
        "$PROG" "$NAMESPACE" "$JOB" "$elapsed" "$attempt" "${summary:-$last_problem}" >&2
    if grep -q '^# unreachable ' "$LAST"; then
        printf '%s: unreachable workers:\n' "$PROG" >&2
        print_unreachable "$LAST" "  " >&2
    fi
    if [ -n "$last_problem" ] && [ "$code" != "200" ]; then
        printf '%s: last probe call: %s\n' "$PROG" "$last_problem" >&2
    fi
    verdict too-few-workers "${summary:-$last_problem} (after ${elapsed}s)" "$LAST"
else
    printf '%s: error: the probe %s never answered for job %s/%s within %ss (%s attempts): %s\n' \
        "$PROG" "$PROBE_URL" "$NAMESPACE" "$JOB" "$elapsed" "$attempt" "$last_problem" >&2
    verdict probe-failed "$PROBE_URL never answered within ${elapsed}s: $last_problem"
fi
printf '%s: no hostfile written; mpirun will not start\n' "$PROG" >&2
exit 1
