"""The three functions as HTTP handlers: what each does with a decoded request."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mpifn import api, hooks, web
from mpifn import settings as operator_settings
from mpifn.errors import RequestError
from mpifn.web import Handler, Reply, hook_handler, json_reply

_NUMERIC_QUERY_FIELDS = ("replicas", "minReplicas", "slots", "sshPort", "timeoutSeconds", "expires")


def probe_handler(payload: Any, query: Mapping[str, str]) -> Reply:
    """POST a job identity (or GET it as query parameters); `?format=text` answers the
    hostfile with the unreachable workers as comments."""
    if isinstance(payload, dict):
        payload = {key: value for key, value in payload.items() if key != "format"}
        for field in _NUMERIC_QUERY_FIELDS:
            if isinstance(payload.get(field), str):
                payload[field] = _number(field, payload[field])
    # Imported here: asyncio and the socket code are not needed to start sync or finalize.
    from mpifn import probe

    settings = operator_settings.current()
    report = probe.probe(probe.parse_probe_request(payload, settings), settings)
    if query.get("format") == "text":
        return Reply(200, probe.report_text(report).encode(), "text/plain; charset=utf-8")
    return json_reply(probe.report_json(report))


def _number(field: str, text: str) -> int | float | str:
    """A query value as the number it spells (the schema then judges it), else unchanged.
    Integers follow the JSON body's rule: beyond 64 bits is a bad request."""
    try:
        int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text
    try:
        return web.integer_in_64_bits(text.strip())
    except ValueError as error:
        raise RequestError(f"probe.{field}: {error}") from None


@dataclass(frozen=True)
class Function:
    name: str
    handler: Handler
    accepts_get: bool = False
    routes: Mapping[str, Handler] = field(default_factory=dict)  # more hooks under the function's URL

    def handler_for(self, path: str) -> tuple[str, Handler]:
        """(name for the log, handler) of a request path: a route, else the function itself."""
        route = self.routes.get(path.rstrip("/"))
        return (f"{self.name}{path.rstrip('/')}", route) if route else (self.name, self.handler)


FUNCTIONS = {
    function.name: function
    for function in (
        Function("sync", hook_handler(hooks.sync), routes={api.CUSTOMIZE_PATH: hook_handler(hooks.customize)}),
        Function("finalize", hook_handler(hooks.finalize)),
        Function("probe", probe_handler, accepts_get=True),
    )
}


def entry_point(name: str) -> Any:
    """The functions-framework view of one function, for functions/<name>/main.py."""
    function = FUNCTIONS[name]
    return web.flask_view(function.handler_for, function.accepts_get)
