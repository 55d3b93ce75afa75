"""Where the hooks get key material: a new SSH key pair for a job's first sync, and the
probe's signing keys. The hooks take a `Keys` as an argument; the HTTP edge gives them
`FileKeys`, tests a source of their own."""

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from mpifn.errors import Misconfigured
from mpifn.settings import Settings
from mpifn.sshkeys import SshKeyPair, generate_key_pair


class Keys(Protocol):
    def new_ssh_key_pair(self) -> SshKeyPair:
        """A key pair for a job that has none yet."""
        ...

    def signing_key(self) -> bytes | None:
        """The key sync signs launchers' probe fields with; None when signing is off."""
        ...

    def accepted_keys(self) -> list[bytes]:
        """The keys the probe accepts: the signing key and, during a rotation, the previous one."""
        ...


@dataclass(frozen=True)
class FileKeys:
    """Key pairs from the system's random source; probe keys read from their files on every
    call, so that a rotated Secret counts without a restart."""

    probe_key_file: str = ""
    previous_probe_key_file: str = ""

    @classmethod
    def of(cls, settings: Settings) -> "FileKeys":
        return cls(settings.probe_key_file, settings.previous_probe_key_file)

    def new_ssh_key_pair(self) -> SshKeyPair:
        return generate_key_pair()

    def signing_key(self) -> bytes | None:
        return _read_key(self.probe_key_file, "MPIFN_PROBE_KEY_FILE")

    def accepted_keys(self) -> list[bytes]:
        keys = [self.signing_key()]
        # The manifests name the previous key's file always; it exists only during a rotation.
        if self.previous_probe_key_file and Path(self.previous_probe_key_file).exists():
            keys.append(_read_key(self.previous_probe_key_file, "MPIFN_PREVIOUS_PROBE_KEY_FILE"))
        return [key for key in keys if key is not None]


def _read_key(path: str, variable: str) -> bytes | None:
    if not path:
        return None
    try:
        key = Path(path).read_bytes().strip()
    except OSError as error:
        raise Misconfigured(f"the probe key file {path} ({variable}) cannot be read ({error.strerror})") from None
    if len(key) < 16:
        raise Misconfigured(
            f"the probe key file {path} ({variable}) holds {len(key)} bytes; use at least 16 random bytes"
        )
    return key
