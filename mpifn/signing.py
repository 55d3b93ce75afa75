"""Signed probe requests: sync signs the job fields it puts into a launcher; the probe answers
only requests whose fields carry a valid, unexpired signature. HMAC-SHA256 with a key only
the functions hold (a mounted Secret file); no key configured means no signing and an open probe."""

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from mpifn.errors import Forbidden
from mpifn.settings import Settings

_PURPOSE = "mpifn-probe-v1"  # a signature made for anything else never verifies here


@dataclass(frozen=True, kw_only=True)
class SignedJob:
    """What a signature covers: the job, the workers the probe may contact, and until when.
    Built by keyword only: two fields of one type swapped would sign another job."""

    namespace: str
    name: str
    uid: str
    replicas: int
    min_replicas: int
    slots: int
    ssh_port: int
    expires: int  # Unix seconds

    def message(self) -> bytes:
        """The signed bytes: the fields in this order (the order of every signature made so far)."""
        fields = (self.namespace, self.name, self.uid, self.replicas, self.min_replicas, self.slots, self.ssh_port)
        return json.dumps([_PURPOSE, *fields, self.expires], separators=(",", ":")).encode()


Signed = tuple[SignedJob, str]  # signed fields and their signature


def signature(job: SignedJob, key: bytes) -> str:
    return hmac.new(key, job.message(), hashlib.sha256).hexdigest()


def ticket_lifetime(settings: Settings, active_deadline_seconds: int | None) -> int:
    """How long a launcher's signature stays valid: MPIFN_PROBE_TICKET_SECONDS, or the
    job's own deadline plus the init step's when that is longer."""
    return max(settings.probe_ticket_seconds, (active_deadline_seconds or 0) + settings.init_deadline_seconds)


def check(job: SignedJob, given: str, keys: list[bytes], now: float) -> None:
    """Raise Forbidden unless `given` signs exactly these fields with an accepted key and
    has not expired. No keys: the probe is open and nothing is checked."""
    if not keys:
        return
    if not given:
        raise Forbidden(
            "probe: this probe answers only signed requests (fields uid, expires and signature, "
            "which sync gives each launcher); unsigned request refused"
        )
    if not any(hmac.compare_digest(signature(job, key), given) for key in keys):
        raise Forbidden(
            "probe: signature does not match namespace, name, uid, replicas, minReplicas, slots, "
            "sshPort and expires (altered, forged, signed for another job, or with a key no longer "
            "accepted); nothing was contacted"
        )
    if job.expires <= now:
        raise Forbidden(
            f"probe: the signed request expired at {_utc(job.expires)} (it is {_utc(int(now))}); "
            "a launcher made again by sync gets a new one; nothing was contacted"
        )


def _utc(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def outdated(signed: Signed | None, keys: list[bytes], now: float) -> bool:
    """Whether a launcher signed like this (None: not signed) would be refused by a probe
    holding `keys`."""
    if not keys:
        return False
    if signed is None:
        return True
    try:
        check(*signed, keys, now)
    except Forbidden:
        return True
    return False
