"""The HTTP edge shared by the three functions: health paths, auth, size limit, JSON
errors and one structured log line per request. Nothing here knows about MPI."""

import hmac
import json
import logging
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mpifn import settings as operator_settings
from mpifn.errors import RequestError

HEALTH_PATHS = ("/_/health", "/_/ready", "/healthz")

_log = logging.getLogger("mpifn")
if not _log.handlers:
    _handler = logging.StreamHandler(sys.stderr)
    _handler.setFormatter(logging.Formatter("%(message)s"))
    _log.addHandler(_handler)
    _log.setLevel(logging.INFO)
    _log.propagate = False


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    content_type: str = "application/json"


@dataclass(frozen=True)
class Call:
    """One HTTP request, as the functions see it."""

    method: str
    path: str
    headers: Mapping[str, str]
    query: Mapping[str, str]
    body: bytes


Handler = Callable[[Any, Mapping[str, str]], Reply]


def json_reply(value: Any, status: int = 200) -> Reply:
    return Reply(status, json.dumps(value, sort_keys=True, separators=(",", ":")).encode())


def error_reply(status: int, message: str) -> Reply:
    return json_reply({"error": message, "status": status}, status)


def hook_handler(hook: Callable[[Any], Any]) -> Handler:
    """A Metacontroller hook: JSON request in, JSON response out."""

    def handle(payload: Any, _query: Mapping[str, str]) -> Reply:
        return json_reply(hook(payload))

    return handle


def respond(function: str, handler: Handler, call: Call, accepts_get: bool = False) -> Reply:
    started = time.monotonic()
    job: dict[str, str] = {}
    reply = _dispatch(function, handler, call, accepts_get, job)
    if call.path not in HEALTH_PATHS:
        _log.info(
            json.dumps(
                {
                    "function": function,
                    "namespace": job.get("namespace", ""),
                    "job": job.get("name", ""),
                    "method": call.method,
                    "status": reply.status,
                    "outcome": "ok" if reply.status < 400 else "rejected" if reply.status < 500 else "error",
                    "duration_ms": round((time.monotonic() - started) * 1000, 2),
                },
                sort_keys=True,
            )
        )
    return reply


def _dispatch(function: str, handler: Handler, call: Call, accepts_get: bool, job: dict[str, str]) -> Reply:
    settings = operator_settings.current()
    if call.path in HEALTH_PATHS:
        return Reply(200, b"ok\n", "text/plain")
    denied = _authorization_problem(call.headers, settings.auth_token_file)
    if denied:
        return error_reply(401, denied)
    if call.method == "GET" and accepts_get:
        payload: Any = dict(call.query)
    elif call.method != "POST":
        return error_reply(405, f"{function}: use POST with a JSON body (GET answers only {', '.join(HEALTH_PATHS)})")
    elif len(call.body) > settings.max_body_bytes:
        return error_reply(
            413,
            f"request body of {len(call.body)} bytes is over the limit of {settings.max_body_bytes} "
            "(MPIFN_MAX_BODY_BYTES)",
        )
    else:
        try:
            payload = json.loads(call.body, parse_constant=_not_json)
        except ValueError as error:
            return error_reply(400, f"request body: not JSON ({error})")
    job.update(_identity(payload))
    try:
        return handler(payload, call.query)
    except RequestError as error:
        return error_reply(400, str(error))
    except Exception as error:
        # Only the type: a message could quote request content, such as a private key.
        _log.error(json.dumps({"function": function, "exception": type(error).__name__}))
        return error_reply(500, f"{function}: internal error ({type(error).__name__}); nothing was changed")


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not a JSON value")


def _identity(payload: Any) -> dict[str, str]:
    if not isinstance(payload, dict):
        return {}
    source = payload.get("parent", {}).get("metadata", {}) if isinstance(payload.get("parent"), dict) else payload
    if not isinstance(source, dict):
        return {}
    return {key: source[key] for key in ("namespace", "name") if isinstance(source.get(key), str)}


def _authorization_problem(headers: Mapping[str, str], token_file: str) -> str | None:
    if not token_file:
        return None
    try:
        token = Path(token_file).read_text().strip()
    except OSError:
        return f"the token file {token_file} (MPIFN_AUTH_TOKEN_FILE) cannot be read; refusing every request"
    given = headers.get("Authorization", "")
    if not token or not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return "missing or wrong bearer token in the Authorization header"
    return None


def flask_view(function: str, handler: Handler, accepts_get: bool = False) -> Callable[[Any], Any]:
    """The functions-framework entry point of one function."""

    def view(request: Any) -> Any:
        return to_flask(respond(function, handler, from_flask(request), accepts_get))

    return view


def from_flask(request: Any, path: str | None = None) -> Call:
    limit = operator_settings.current().max_body_bytes
    return Call(
        method=request.method,
        path=path if path is not None else request.path,
        headers=request.headers,
        query=request.args,
        # One byte over the limit is enough to know the body is too large.
        body=request.stream.read(_read_size(request.content_length, limit)),
    )


def _read_size(content_length: int | None, limit: int) -> int:
    """The stream ends at Content-Length: asking for no more spares an 8 MB buffer per call."""
    return limit + 1 if content_length is None else min(limit, content_length) + 1


def to_flask(reply: Reply) -> Any:
    import flask

    return flask.Response(reply.body, status=reply.status, content_type=reply.content_type)
