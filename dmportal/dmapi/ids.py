"""The shapes of what the API names things with: one pattern each, always matched whole.

An id is 32 lowercase hexadecimal characters; a cursor (`after`) is an id or another short
token of ASCII letters, digits, `_` and `-`. Both are checked with `fullmatch`, never `match`
with `^...$` (whose `$` also matches before a trailing newline) and never with `str.isdigit`
or `\\d` (which accept "²" or Arabic-Indic digits). `NUMBER` is the same rule for the plain
numbers that arrive as text (header values, dmportal's own database cursors).
"""

import re

ID_PATTERN = "[0-9a-f]{32}"  # also the URL converter's regex (core/converters.py)
ID = re.compile(ID_PATTERN)
CURSOR = re.compile("[A-Za-z0-9_-]{1,64}")
NUMBER = re.compile("[0-9]{1,20}")


def is_id(value):
    """Whether `value` is a Device Management id (a string of exactly 32 lowercase hex)."""
    return isinstance(value, str) and ID.fullmatch(value) is not None


def is_cursor(value):
    return isinstance(value, str) and CURSOR.fullmatch(value) is not None


def parse_number(value):
    """A non-negative whole number written in ASCII digits (at most 20), else None."""
    if isinstance(value, str) and NUMBER.fullmatch(value):
        return int(value)
    return None
