"""The client decodes answers with orjson, and reads exactly what the standard library reads."""

import json

import pytest

from dmportal.dmapi.client import decode_json


@pytest.mark.parametrize(
    "body",
    [
        b'{"data": [{"id": "a", "n": 1, "x": 1.5, "ok": true, "none": null}], "has_more": false}',
        '{"name": "Zürich ☃"}'.encode(),
        b'{"nan": NaN}',  # not JSON, but what the standard library has always read
        b'{"a": 1, "a": 2}',
        b"[]",
    ],
)
def test_every_answer_reads_as_the_standard_library_reads_it(body):
    decoded, expected = decode_json(body), json.loads(body)
    if body == b'{"nan": NaN}':
        assert decoded["nan"] != decoded["nan"]  # NaN, read by the fallback
    else:
        assert decoded == expected


def test_the_one_difference_an_integer_beyond_64_bits_is_a_float():
    assert decode_json(b'{"big": 123456789012345678901234567890}') == {"big": 1.2345678901234568e29}


@pytest.mark.parametrize("body", [b"", b"{", b"<html>", b'{"a": }', b"\xff\xfe"])
def test_invalid_json_is_a_value_error(body):
    with pytest.raises(ValueError, match=r"\w"):  # what the client turns into MalformedResponse
        decode_json(body)
