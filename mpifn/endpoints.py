"""The three functions as HTTP handlers, made by one factory with what they read from
outside the request: the settings, the clock and the key source.

`create_app` is the edge: the functions-framework entry points (functions/<name>/main.py),
`make run` (mpifn.serve, through mpifn.gateway) and the tests each make their app with it,
the tests passing their own settings, clock and keys. Nothing else reads the environment,
the clock or key files on a request's behalf."""

import os
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mpifn import api, hooks, web
from mpifn.errors import RequestError
from mpifn.keys import FileKeys, Keys
from mpifn.settings import Settings, settings_from
from mpifn.web import Call, Handler, Reply, hook_handler, json_reply

if TYPE_CHECKING:
    from mpifn.probe import Prober

Clock = Callable[[], datetime]
FUNCTION_NAMES = ("sync", "finalize", "probe")
_NUMERIC_QUERY_FIELDS = ("replicas", "minReplicas", "slots", "sshPort", "timeoutSeconds", "expires")
GATEWAY_PREFIX = "/function/"


# sync and finalize only compute; the probe waits on the network.
COMPUTE_ONLY = ("sync", "finalize")


def server_defaults(function: str, environ: MutableMapping[str, str]) -> None:
    """Puts the server settings `function` runs best with into `environ`, for its entry point
    to call at import: functions-framework reads THREADS (gunicorn's threads per worker) when
    it starts the server, after importing the entry point. sync and finalize get one thread,
    which gunicorn serves with its plain sync worker: under concurrent calls that spends about
    45 % less CPU per call than functions-framework's default of four threads per core, which
    only contend for the GIL (BENCHMARKS.md 2e). An explicit THREADS wins."""
    if function in COMPUTE_ONLY:
        environ.setdefault("THREADS", "1")


def system_clock() -> datetime:
    return datetime.now(UTC)


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


@dataclass(frozen=True)
class App:
    settings: Settings
    functions: Mapping[str, Function]

    def answer(self, name: str, call: Call) -> Reply:
        """Function `name`'s reply to one request (a route of it when the path names one)."""
        function = self.functions[name]
        route, handler = function.handler_for(call.path)
        return web.respond(route, handler, call, self.settings, function.accepts_get)

    def view(self, name: str) -> Callable[[Any], Any]:
        """The functions-framework (Flask) view of function `name`."""
        self.functions[name]  # a KeyError now, not on the first request

        def view(request: Any) -> Any:
            return web.to_flask(self.answer(name, web.from_flask(request, self.settings.max_body_bytes)))

        return view

    def gateway(self, request: Any) -> Any:
        """Every function under the OpenFaaS gateway's layout, /function/<name>[/route]."""
        path = request.path
        if path in web.HEALTH_PATHS:
            return web.to_flask(Reply(200, b"ok\n", "text/plain"))
        name, _, rest = path.removeprefix(GATEWAY_PREFIX).partition("/")
        if not path.startswith(GATEWAY_PREFIX) or name not in self.functions:
            known = ", ".join(f"{GATEWAY_PREFIX}{n}" for n in sorted(self.functions))
            return web.to_flask(web.error_reply(404, f"no function at {path}; try {known}"))
        call = web.from_flask(request, self.settings.max_body_bytes, path="/" + rest if rest else "/")
        return web.to_flask(self.answer(name, call))


def create_app(
    settings: Settings | None = None,
    clock: Clock = system_clock,
    keys: Keys | None = None,
    functions: Iterable[str] = FUNCTION_NAMES,
    prober: "Prober | None" = None,
) -> App:
    """The functions named, reading the settings (default: this process's environment), the
    time (`clock`, once per request) and keys (default: FileKeys, from the settings' files).
    A probe function gets `prober`, or one made now: the open-file limit is raised and the
    resolver pool made once, here."""
    settings = settings if settings is not None else settings_from(os.environ)
    keys = keys if keys is not None else FileKeys.of(settings)
    web.configure_logging()
    made: dict[str, Function] = {}
    for name in functions:
        if name == "sync":
            made[name] = Function(
                "sync",
                hook_handler(lambda request: hooks.sync(request, settings, clock(), keys)),
                routes={api.CUSTOMIZE_PATH: hook_handler(hooks.customize)},
            )
        elif name == "finalize":
            finalize = hook_handler(lambda request: hooks.finalize(request, settings, clock(), keys))
            made[name] = Function("finalize", finalize)
        elif name == "probe":
            made[name] = Function("probe", probe_handler(settings, clock, keys, prober), accepts_get=True)
        else:
            raise ValueError(f"no function {name!r}; the functions are {', '.join(FUNCTION_NAMES)}")
    return App(settings, made)


def probe_handler(settings: Settings, clock: Clock, keys: Keys, prober: "Prober | None") -> Handler:
    """POST a job identity (or GET it as query parameters); `?format=text` answers the
    hostfile with the unreachable workers as comments."""
    # Imported here: the socket code is not needed to start sync or finalize.
    from mpifn import probe

    shared = prober if prober is not None else probe.Prober()

    def handle(payload: Any, query: Mapping[str, str]) -> Reply:
        if isinstance(payload, dict):
            payload = {key: value for key, value in payload.items() if key != "format"}
            for name in _NUMERIC_QUERY_FIELDS:
                if isinstance(payload.get(name), str):
                    payload[name] = _number(name, payload[name])
        request = probe.parse_probe_request(payload, settings)
        report = shared.probe(request, settings, keys, clock().timestamp())
        if query.get("format") == "text":
            return Reply(200, probe.report_text(report).encode(), "text/plain; charset=utf-8")
        return json_reply(probe.report_json(report))

    return handle


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
