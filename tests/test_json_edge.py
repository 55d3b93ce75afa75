"""The HTTP edge's JSON (orjson) against the standard library's, which it replaced: the
same values read, the same answer bytes, except for the documented differences:
characters beyond ASCII are written as UTF-8 instead of \\u escapes, a number with a
fraction or exponent may be written in another notation of the same double, and bodies
no Kubernetes object can be (integers beyond 64 bits, NaN, lone surrogates) get a 400."""

import json
import re
from datetime import UTC, datetime
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from mpifn import web
from mpifn.settings import Settings
from testkit import calls
from tests.support.hypothesis_profiles import for_properties
from tests.test_properties import settled_requests

INT64_MIN, UINT64_MAX = -(2**63), 2**64 - 1
text = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(INT64_MIN, UINT64_MAX)
    | st.sampled_from([INT64_MIN, 2**63 - 1, 2**63, UINT64_MAX, 0])
    | st.floats(allow_nan=False, allow_infinity=False)
    | text
    | st.from_regex(r"\A-?[0-9]{15,40}\Z")  # long numbers inside strings are only text
)
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4), max_leaves=24
)
beyond_64_bits = st.integers(2**64, 10**300) | st.integers(-(10**300), INT64_MIN - 1)


def holds_float(value: Any) -> bool:
    if isinstance(value, dict):
        return any(holds_float(item) for item in value.values())
    if isinstance(value, list):
        return any(holds_float(item) for item in value)
    return isinstance(value, float)


def standard_answer(value: Any, ensure_ascii: bool = True) -> bytes:
    """What the edge answered before: the standard library's compact, key-sorted JSON."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=ensure_ascii).encode()


@for_properties()
@given(value=json_values, ensure_ascii=st.booleans(), indent=st.sampled_from([None, 2]))
def test_the_edge_reads_every_body_as_the_standard_library_does(value, ensure_ascii, indent):
    body = json.dumps(value, ensure_ascii=ensure_ascii, indent=indent).encode()
    assert repr(web.decode(body)) == repr(json.loads(body))  # same values and types, same key order


@for_properties()
@given(value=json_values)
def test_answers_are_the_standard_librarys_bytes_but_for_utf8_and_float_notation(value):
    answer = web.json_reply(value).body
    assert repr(json.loads(answer)) == repr(json.loads(standard_answer(value)))
    if not holds_float(value):
        assert answer == standard_answer(value, ensure_ascii=False)
        if answer.isascii() and b"\x7f" not in answer:
            assert answer == standard_answer(value)


@for_properties(share=0.25)
@given(case=settled_requests())
def test_sync_answers_are_byte_identical_to_the_standard_librarys(case):
    request, _ = case
    body = json.dumps(request).encode()
    settings, now = Settings(), datetime(2026, 11, 28, 12, 30, tzinfo=UTC)
    before = standard_answer(calls.sync(json.loads(body), settings=settings, now=now), ensure_ascii=False)
    assert web.json_reply(calls.sync(web.decode(body), settings=settings, now=now)).body == before


@for_properties()
@given(value=json_values, big=beyond_64_bits, where=st.sampled_from(["list", "object", "alone"]))
def test_an_integer_beyond_64_bits_anywhere_is_a_400(value, big, where):
    document = {"list": [value, big], "object": {"spec": {"replicas": big}, "x": value}, "alone": big}[where]
    reply = web.respond("sync", lambda payload, query: web.json_reply(payload), web.Call("POST", "/", {}, {},
                        json.dumps(document).encode()), Settings())  # fmt: skip
    assert reply.status == 400
    assert "does not fit in 64 bits" in json.loads(reply.body)["error"]


@for_properties()
@given(st.lists(st.sampled_from([b"0", b"7", b"9", b"-", b":", b"T", b'"', b"12345", b"9999999999"]), max_size=80))
def test_the_long_digit_run_check_is_exactly_a_search_for_19_digits(parts):
    body = b"".join(parts)
    assert web.has_long_digit_run(body) == (re.search(rb"[0-9]{19}", body) is not None)


def test_timestamps_dense_with_digits_are_no_long_digit_run():
    """API objects are full of them (managedFields, conditions): the standard library's second
    reading of the body is for 19 digits in a row only."""
    stamps = [{"time": f"2026-12-06T16:{minute:02d}:03Z", "uid": "12345671234567"} for minute in range(60)]
    body = json.dumps({"managedFields": stamps}).encode()
    assert b"0000" in body[::4].translate(web._DIGITS_ONLY)  # what the check looked at before
    assert not web.has_long_digit_run(body)
    assert web.has_long_digit_run(body.replace(b"12345671234567", b"1234567123456712345", 1))
