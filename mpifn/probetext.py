"""The text contract between the probe, the launcher's init step and the status, in one place.

1. The probe's answer to `?format=text`, written by `probe_answer` (mpifn.probe), read by
   images/mpibase/mpifn-launcher-init.sh:

       # mpifn probe <namespace>/<name>: <n> of <replicas> workers reachable, <needed> needed
       # unreachable <host>: <reason> (<detail>)       one line per worker left out
       <the hostfile: one line per reachable worker, in the MPI flavour's format>

   The script takes every line not starting with `#` as the hostfile, the summary after
   `# mpifn probe <namespace>/<name>: ` and each worker left out after `# unreachable `.

2. The init step's verdict, its termination message, written by the script and read by
   `read_verdict` (mpifn.pods, for the job's status):

       mpifn-init: <outcome>: <summary>
       unreachable <host>: <reason> (<detail>)         at most MAX_VERDICT_LINES of them
       and <n> more unreachable                        when there were more

A detail never holds a line break (the probe writes one line per worker). Both sides are
tested against this module: the probe's text (tests/test_probetext.py), and the real script
fed the probe's text, its verdict read back (tests/e2e_mpi/test_launcher_init.py)."""

import re
from collections.abc import Iterable
from dataclasses import dataclass

SUMMARY_PREFIX = "# mpifn probe "
UNREACHABLE_PREFIX = "# unreachable "
VERDICT_PREFIX = "mpifn-init: "
REASONS = ("no-dns", "refused", "timeout", "not-ssh", "error")
OUTCOMES = ("ok", "too-few-workers", "probe-failed", "config-error")
MAX_VERDICT_LINES = 15  # the script's: Kubernetes keeps 4096 bytes of a termination message


@dataclass(frozen=True)
class Unreachable:
    worker: str  # the pod name when the host is the worker's DNS name, else the host
    reason: str  # one of REASONS
    detail: str


@dataclass(frozen=True)
class InitVerdict:
    """The launcher init step's termination message: which workers it used and which not."""

    outcome: str  # one of OUTCOMES (or "failed", when the step ended without a verdict)
    summary: str
    unreachable: tuple[Unreachable, ...]
    more: int  # unreachable workers the message had no room for


def summary(reachable: int, replicas: int, needed: int) -> str:
    return f"{reachable} of {replicas} workers reachable, {needed} needed"


def probe_answer(
    namespace: str,
    name: str,
    replicas: int,
    min_replicas: int,
    reachable: int,
    unreachable: Iterable[tuple[str, str, str]],
    hostfile: str,
) -> str:
    """The probe's text answer: `unreachable` holds (host, reason, detail) per worker left out."""
    lines = [f"{SUMMARY_PREFIX}{namespace}/{name}: {summary(reachable, replicas, min_replicas)}"]
    lines += [f"{UNREACHABLE_PREFIX}{host}: {reason} ({detail})" for host, reason, detail in unreachable]
    return "\n".join(lines) + "\n" + hostfile


def read_verdict(message: str) -> InitVerdict | None:
    """The init step's termination message; None when it is not one."""
    lines = message.splitlines()
    head = _HEAD.match(lines[0]) if lines else None
    if head is None:
        return None
    unreachable, more = [], 0
    for line in lines[1:]:
        found = _UNREACHABLE.match(line)
        if found:
            host, reason, detail = found.groups()
            unreachable.append(Unreachable(host.split(".", 1)[0], reason, detail))
        elif counted := _MORE.match(line):
            more = int(counted.group(1))
    return InitVerdict(head.group(1), head.group(2), tuple(unreachable), more)


_HEAD = re.compile(rf"^{re.escape(VERDICT_PREFIX)}([a-z-]+): (.*)$")
_UNREACHABLE = re.compile(r"^unreachable (\S+): (\S+) \((.*)\)$")
_MORE = re.compile(r"^and (\d+) more unreachable$")
