"""All three functions in one process under the OpenFaaS gateway layout
/function/<name>, for `make run`, curl and the end-to-end tests."""

from typing import Any

import functions_framework

from mpifn import web
from mpifn.endpoints import FUNCTIONS

PREFIX = "/function/"


@functions_framework.http
def gateway(request: Any) -> Any:
    path = request.path
    if path in web.HEALTH_PATHS:
        return web.to_flask(web.Reply(200, b"ok\n", "text/plain"))
    name, _, rest = path.removeprefix(PREFIX).partition("/")
    function = FUNCTIONS.get(name) if path.startswith(PREFIX) else None
    if function is None:
        known = ", ".join(f"{PREFIX}{n}" for n in sorted(FUNCTIONS))
        return web.to_flask(web.error_reply(404, f"no function at {path}; try {known}"))
    call = web.from_flask(request, path="/" + rest if rest else "/")
    route, handler = function.handler_for(call.path)
    return web.to_flask(web.respond(route, handler, call, function.accepts_get))
