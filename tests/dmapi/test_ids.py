"""dmapi/ids.py: the one shape of an id, a cursor and a number in text, matched whole."""

import pytest

from dmportal.dmapi.ids import ID, ID_PATTERN, is_cursor, is_id, parse_number

DEVICE_ID = "0179b7c1e6a80000000000010010a3f5"


def test_an_id_is_32_lowercase_hex_characters():
    assert is_id(DEVICE_ID)
    assert ID.pattern == ID_PATTERN


@pytest.mark.parametrize(
    "value",
    [
        DEVICE_ID.upper(),
        DEVICE_ID[:-1],
        DEVICE_ID + "0",
        DEVICE_ID + "\n",  # `^...$` would take it: `$` matches before a final newline
        "\n" + DEVICE_ID,
        DEVICE_ID[:-1] + "g",
        DEVICE_ID[:-1] + "\u0663",  # an Arabic-Indic digit
        "",
        None,
        123,
        ["0" * 32],
    ],
)
def test_anything_else_is_not_an_id(value):
    assert not is_id(value)


@pytest.mark.parametrize("value", [DEVICE_ID, "abc", "A-b_9", "x" * 64])
def test_cursors(value):
    assert is_cursor(value)


@pytest.mark.parametrize("value", ["", "x" * 65, "a b", "a\n", "é", "../x", "²", None, 5])
def test_not_cursors(value):
    assert not is_cursor(value)


def test_numbers_are_ascii_digits_only():
    assert parse_number("0") == 0
    assert parse_number("0042") == 42
    assert parse_number("9" * 20) == int("9" * 20)
    # str.isdigit() says yes to each of these, and int() fails on the first (a 500 before).
    for text in ("²", "\u0663", "\uff11\uff12", "1²"):  # ², ٣, fullwidth 12, 1²
        assert text.isdigit()
        assert parse_number(text) is None
    for text in ("", "-1", "+1", " 1", "1 ", "1\n", "1.0", "1e3", "9" * 21, None, 7):
        assert parse_number(text) is None
