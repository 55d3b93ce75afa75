"""The HTTP edge's decoder reads what the standard library reads, or refuses as documented; its
log line is one JSON object."""

import json

import pytest

from mpifn import web
from mpifn.settings import Settings


@pytest.mark.parametrize(
    ("function", "namespace", "job", "method", "status", "duration"),
    [
        ("sync", "default", "hello", "POST", 200, 0.66),
        ("probe", "", "", "GET", 405, 12.0),
        ("finalize", 'q"\\\n', "é\u2028\U0001f600", "PoST", 500, 1e-05),
        ("sync", "a", "b", "POST", 401, 123456.78),
    ],
)
def test_the_log_line_is_one_json_object_of_the_fields(function, namespace, job, method, status, duration):
    outcome = "ok" if status < 400 else "rejected" if status < 500 else "error"
    fields = {"function": function, "namespace": namespace, "job": job, "method": method, "status": status,
              "outcome": outcome, "duration_ms": duration}  # fmt: skip
    line = web.request_log_line(function, namespace, job, method, status, duration)
    assert "\n" not in line and json.loads(line) == fields
    assert list(json.loads(line)) == sorted(fields)


@pytest.mark.parametrize(
    "body",
    [b'{"a":1}', b' [1, -2.5, 1e-05, "\\u00e9\\ud83d\\ude00", "\xc3\xa9", true, null, {}] ', b'{"a":1,"a":2}',
     b"18446744073709551615", b"-9223372036854775808", b'{"uid":"12345678901234567890123"}', b"1.7976931348623157e308",
     b"123456789012345678901234.5"],
)  # fmt: skip
def test_the_decoder_reads_what_json_loads_reads(body):
    assert web.decode(body) == json.loads(body)
    assert repr(web.decode(body)) == repr(json.loads(body))  # the same types: 1 stays int, 1.0 float


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b'{"a":NaN}', "not JSON (unexpected character"),
        (b"-Infinity", "not JSON ("),
        (b"1e400", "not JSON (number is infinity"),
        (b'{"a":"\\ud800"}', "not JSON ("),
        (b"\xef\xbb\xbf{}", "not JSON (UTF-8 byte order mark"),
        ('{"a":"\u00e9"}'.encode("utf-16"), "not JSON ("),
        (b'"\xff"', "not JSON (str is not valid UTF-8"),
        (b"[1,", "not JSON ("),
        (b"", "not JSON ("),
        (b"[" * 2000, "not JSON (depth limit exceeded"),
        (b'{"replicas":18446744073709551616}', "the integer 18446744073709551616 does not fit in 64 bits"),
        (b"[-9223372036854775809]", "the integer -9223372036854775809 does not fit in 64 bits"),
        (b'{"a":[0,' + b"7" * 300 + b"]}", "the integer 77777777777777777777... (300 characters) does not fit"),
    ],
)
def test_the_decoder_refuses_what_no_kubernetes_object_holds(body, error):
    with pytest.raises(ValueError) as raised:
        web.decode(body)
    assert str(raised.value).startswith(error), raised.value


def test_an_integer_beyond_64_bits_is_a_400_saying_so():
    reply = web.respond("sync", lambda payload, query: web.json_reply(payload), web.Call("POST", "/", {}, {}, b"[2e3,"
                        b"123456789012345678901]"), Settings())  # fmt: skip
    assert (reply.status, json.loads(reply.body)["error"]) == (
        400,
        "request body: the integer 123456789012345678901 does not fit in 64 bits (Kubernetes stores integers as int64)",
    )


def test_answers_are_utf8_json_with_sorted_keys():
    assert web.json_reply({"b": "é\u2028\x7f\n", "a": [1, 2.5, None, True]}).body == (
        '{"a":[1,2.5,null,true],"b":"é\u2028\x7f\\n"}'.encode()
    )
