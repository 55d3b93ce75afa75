"""The HTTP edge's shortcuts give exactly what the standard library would."""

import io
import json

import pytest

from mpifn import web


@pytest.mark.parametrize(
    ("function", "namespace", "job", "method", "status", "duration"),
    [
        ("sync", "default", "hello", "POST", 200, 0.66),
        ("probe", "", "", "GET", 405, 12.0),
        ("finalize", 'q"\\\n', "é\u2028\U0001f600", "PoST", 500, 1e-05),
        ("sync", "a", "b", "POST", 401, 123456.78),
    ],
)
def test_the_log_line_is_json_dumps_of_the_fields(function, namespace, job, method, status, duration):
    outcome = "ok" if status < 400 else "rejected" if status < 500 else "error"
    fields = {"function": function, "namespace": namespace, "job": job, "method": method, "status": status,
              "outcome": outcome, "duration_ms": duration}  # fmt: skip
    assert web.request_log_line(function, namespace, job, method, status, duration) == json.dumps(
        fields, sort_keys=True
    )


@pytest.mark.parametrize(
    "body",
    [b'{"a":1}', b"\xef\xbb\xbf{}", '{"a":"\u00e9"}'.encode("utf-16"), b'{"a":NaN}', b"[1,", b"\xff", b"",
     b'{"a":"\\ud800"}', b"-Infinity", b"1e400"],
)  # fmt: skip
def test_the_shared_decoder_is_json_loads(body):
    def outcome(decode):
        try:
            return "ok", decode(body)
        except ValueError as error:
            return type(error).__name__, str(error)

    assert outcome(web._decode) == outcome(lambda raw: json.loads(raw, parse_constant=web._not_json))


def test_the_direct_log_line_is_what_logging_would_write(monkeypatch):
    assert web._handler is not None, "the mpifn logger was configured before mpifn.web was imported"
    direct, through_logging = io.StringIO(), io.StringIO()
    monkeypatch.setattr(web._handler, "stream", direct)
    web._log_line('{"x": 1}')
    monkeypatch.setattr(web._handler, "stream", through_logging)
    web._log.info('{"x": 1}')
    assert direct.getvalue() == through_logging.getvalue() == '{"x": 1}\n'
