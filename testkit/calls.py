"""The hooks and the functions as the tests call them: mpifn.hooks with settings, time and
keys of the test's choosing (by default: default settings, the time of the call, and key
pairs and probe keys as the functions make and read them), and in-process HTTP calls to an
app made by the same factory as the deployed functions'."""

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mpifn import hooks, web
from mpifn.endpoints import App, Clock, create_app, system_clock
from mpifn.keys import FileKeys, Keys
from mpifn.probe import Prober, ProbeReport, ProbeRequest
from mpifn.settings import Settings
from mpifn.sshkeys import SshKeyPair, generate_key_pair

customize = hooks.customize


@dataclass(frozen=True)
class FixedKeys:
    """The same SSH key pair every time (made once, with the instance), and the probe keys of
    `files`. (The OpenSSH encoding of a private key holds random check bytes: only the pair
    itself kept can be the same.)"""

    files: FileKeys = field(default_factory=FileKeys)
    pair: SshKeyPair = field(default_factory=generate_key_pair)

    def new_ssh_key_pair(self) -> SshKeyPair:
        return self.pair

    def signing_key(self) -> bytes | None:
        return self.files.signing_key()

    def accepted_keys(self) -> list[bytes]:
        return self.files.accepted_keys()


def sync(
    request: Any, *, now: datetime | None = None, settings: Settings | None = None, keys: Keys | None = None
) -> dict[str, Any]:
    chosen = settings if settings is not None else Settings()
    return hooks.sync(request, chosen, now or datetime.now(UTC), keys or FileKeys.of(chosen))


def finalize(
    request: Any, *, now: datetime | None = None, settings: Settings | None = None, keys: Keys | None = None
) -> dict[str, Any]:
    chosen = settings if settings is not None else Settings()
    return hooks.finalize(request, chosen, now or datetime.now(UTC), keys or FileKeys.of(chosen))


# The probe's shared resources for the tests that call it in process (one per test process,
# as one per probe function).
PROBER = Prober()


def probe(request: ProbeRequest, settings: Settings, now: datetime | None = None) -> ProbeReport:
    return PROBER.probe(request, settings, FileKeys.of(settings), (now or datetime.now(UTC)).timestamp())


def app(settings: Settings | None = None, clock: Clock = system_clock, keys: Keys | None = None, **kwargs: Any) -> App:
    kwargs.setdefault("prober", PROBER)
    return create_app(settings if settings is not None else Settings(), clock, keys, **kwargs)


def post(
    app: App, function: str, body: Any, path: str = "/", method: str = "POST", query: dict[str, str] | None = None
) -> web.Reply:
    """One request to `function` of `app`, in process (a body not in bytes is sent as JSON)."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return app.answer(function, web.Call(method=method, path=path, headers={}, query=query or {}, body=raw))
