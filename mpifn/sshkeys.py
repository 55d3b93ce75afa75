"""The job's SSH key pair (ed25519, OpenSSH encodings)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class SshKeyPair:
    private_key: str
    public_key: str

    def __repr__(self) -> str:  # keeps the private key out of logs and tracebacks
        return f"SshKeyPair(public_key={self.public_key!r})"


def generate_key_pair() -> SshKeyPair:
    # Imported here: cryptography is only needed on a job's first sync, not at start-up.
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    return SshKeyPair(private_key=private, public_key=f"{public} mpifn")
