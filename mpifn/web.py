"""The HTTP edge shared by the three functions: health paths, auth, size limit, JSON
errors and one structured log line per request. Nothing here knows about MPI."""

import hmac
import json
import logging
import os
import re
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from mpifn.errors import Forbidden, Misconfigured, RequestError
from mpifn.settings import Settings

HEALTH_PATHS = ("/_/health", "/_/ready", "/healthz")

_log = logging.getLogger("mpifn")


def configure_logging() -> None:
    """One line per message on stderr, unless someone configured the 'mpifn' logger first."""
    if not _log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        _log.addHandler(handler)
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
    """The value as compact JSON with sorted keys, UTF-8 (characters beyond ASCII as themselves)."""
    return Reply(status, orjson.dumps(value, option=orjson.OPT_SORT_KEYS))


def error_reply(status: int, message: str) -> Reply:
    return json_reply({"error": message, "status": status}, status)


def hook_handler(hook: Callable[[Any], Any]) -> Handler:
    """A Metacontroller hook: JSON request in, JSON response out."""

    def handle(payload: Any, _query: Mapping[str, str]) -> Reply:
        return json_reply(hook(payload))

    return handle


def respond(function: str, handler: Handler, call: Call, settings: Settings, accepts_get: bool = False) -> Reply:
    started = time.monotonic()
    job: dict[str, str] = {}
    reply = _dispatch(function, handler, call, settings, accepts_get, job)
    if call.path not in HEALTH_PATHS:
        _log.info(
            request_log_line(
                function,
                job.get("namespace", ""),
                job.get("name", ""),
                call.method,
                reply.status,
                round((time.monotonic() - started) * 1000, 2),
            )
        )
    return reply


def request_log_line(function: str, namespace: str, job: str, method: str, status: int, duration_ms: float) -> str:
    """The request's fields as one JSON object, keys sorted."""
    outcome = "ok" if status < 400 else "rejected" if status < 500 else "error"
    fields = {"duration_ms": duration_ms, "function": function, "job": job, "method": method,
              "namespace": namespace, "outcome": outcome, "status": status}  # fmt: skip
    return orjson.dumps(fields, option=orjson.OPT_SORT_KEYS).decode()


def _dispatch(
    function: str, handler: Handler, call: Call, settings: Settings, accepts_get: bool, job: dict[str, str]
) -> Reply:
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
            payload = decode(call.body)
        except ValueError as error:
            return error_reply(400, f"request body: {error}")
    job.update(_identity(payload))
    try:
        return handler(payload, call.query)
    except RequestError as error:
        return error_reply(400, str(error))
    except Forbidden as error:
        return error_reply(403, str(error))
    except Misconfigured as error:
        _log.error(json.dumps({"function": function, "misconfigured": str(error)}))
        return error_reply(500, f"{function}: {error}; nothing was changed")
    except Exception as error:
        # The type and where it was raised, never its message or the frames' locals: they
        # could quote request content, such as a private key.
        frames, omitted = traceback_frames(error)
        logged = {"function": function, "exception": type(error).__name__, "frames": frames}
        _log.error(json.dumps({**logged, "frames_omitted": omitted} if omitted else logged))
        return error_reply(500, f"{function}: internal error ({type(error).__name__}); nothing was changed")


MAX_FRAMES = 40  # of a traceback in the log: the innermost ones, where it was raised


def traceback_frames(error: BaseException) -> tuple[list[str], int]:
    """Each frame of the error's traceback as file:line:function, innermost last (the file
    relative to the import path it was found on); at most MAX_FRAMES, the innermost, and how
    many outer ones were left out. Neither source lines nor locals are read."""
    roots = sorted({os.path.join(entry, "") for entry in sys.path if entry}, key=len, reverse=True)
    frames = []
    for frame, line in traceback.walk_tb(error.__traceback__):
        path = frame.f_code.co_filename
        root = next((root for root in roots if path.startswith(root)), "")
        frames.append(f"{path[len(root) :]}:{line}:{frame.f_code.co_name}")
    return frames[-MAX_FRAMES:], max(len(frames) - MAX_FRAMES, 0)


# Digits as "0", everything else as " ".
_DIGITS_ONLY = bytes(0x30 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))
_LONG_DIGIT_RUN = re.compile(rb"[0-9]{19}")
_INTEGER_RANGE = range(-(2**63), 2**64)  # int64 and uint64; Kubernetes stores int64


def decode(body: bytes) -> Any:
    """A request body: strict JSON in UTF-8 (no NaN or Infinity, no number beyond a double,
    no lone surrogate) whose integers fit in 64 bits. Raises ValueError saying what is wrong."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise ValueError(f"not JSON ({error})") from None
    # orjson reads an integer beyond 64 bits as a float; such an integer has 19 digits or
    # more in a row. Only then does the standard library look at the integers (rare: a long
    # number in a string).
    if has_long_digit_run(body):
        try:
            json.loads(body, parse_int=integer_in_64_bits)
        except RecursionError:
            raise ValueError("nested too deeply to check its integers") from None
    return value


def has_long_digit_run(body: bytes) -> bool:
    """Whether `body` holds 19 digits in a row, without scanning every byte: any 19 bytes in
    a row hold four whose offsets are consecutive multiples of 4, so a run shows as four
    digits in a row among every fourth byte; only around those (few, but common in API
    objects: timestamps) is the run itself looked for."""
    sampled = body[::4].translate(_DIGITS_ONLY)
    at = sampled.find(b"0000")
    while at != -1:
        start = 4 * at  # a run covering it starts at most 3 bytes earlier
        if _LONG_DIGIT_RUN.search(body, max(start - 3, 0), start + 19):
            return True
        at = sampled.find(b"0000", at + 1)
    return False


def integer_in_64_bits(text: str) -> int:
    """The integer a JSON number or query value spells, if it fits in 64 bits; else ValueError."""
    number = int(text) if len(text) <= 20 else None  # 20 characters: 2**64 - 1, or -2**63
    if number is None or number not in _INTEGER_RANGE:
        shown = text if len(text) <= 24 else f"{text[:20]}... ({len(text)} characters)"
        raise ValueError(f"the integer {shown} does not fit in 64 bits (Kubernetes stores integers as int64)")
    return number


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


def from_flask(request: Any, max_body_bytes: int, path: str | None = None) -> Call:
    return Call(
        method=request.method,
        path=path if path is not None else request.path,
        headers=request.headers,
        query=_LazyQuery(request),
        # One byte over the limit is enough to know the body is too large.
        body=request.stream.read(_read_size(request.content_length, max_body_bytes)),
    )


class _LazyQuery(Mapping[str, str]):
    """request.args, parsed only when asked for: the hooks never read the query string."""

    def __init__(self, request: Any) -> None:
        self._request = request

    def _args(self) -> Mapping[str, str]:
        args: Mapping[str, str] = self._request.args
        return args

    def __getitem__(self, key: str) -> str:
        return self._args()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._args())

    def __len__(self) -> int:
        return len(self._args())


def _read_size(content_length: int | None, limit: int) -> int:
    """The stream ends at Content-Length: asking for no more spares an 8 MB buffer per call."""
    return limit + 1 if content_length is None else min(limit, content_length) + 1


def to_flask(reply: Reply) -> Any:
    import flask

    return flask.Response(reply.body, status=reply.status, content_type=reply.content_type)
