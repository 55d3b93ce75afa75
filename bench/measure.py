"""What every benchmark shares: the sync function called in process, and a report row."""

from typing import Any

from mpifn import web
from mpifn.endpoints import create_app
from mpifn.settings import Settings

Row = dict[str, Any]
SYNC = create_app(Settings(), functions=["sync"])


def sync_call(body: bytes) -> bytes:
    """What the sync function does with one request body: decode, decide, encode."""
    reply = SYNC.answer("sync", web.Call("POST", "/", {}, {}, body))
    if reply.status != 200:
        raise RuntimeError(f"sync answered {reply.status}: {reply.body[:200]!r}")
    return reply.body


def row(item: str, what: str, value: float, unit: str, target: str, ok: bool | None) -> Row:
    return {"item": item, "measure": what, "value": value, "unit": unit, "target": target, "ok": ok}
