"""What an export file holds, row by row: CSV (UTF-8, a header row, RFC 4180 quoting, CRLF,
ISO 8601 UTC times, spreadsheet formulas neutralised) or JSON Lines (each record as the API
returned it, unknown fields kept), and the file's name.

A page of rows is encoded on its own (`encode_rows`) so that an export holds at most one
page in memory: each page becomes one part of the file (engine.py), and the parts are joined
at the end.
"""

import csv
import io
import json
import re
from datetime import UTC, datetime

FORMATS = {
    "csv": ("CSV", "csv", "text/csv; charset=utf-8"),
    "jsonl": ("JSON Lines", "jsonl", "application/jsonl; charset=utf-8"),
}

# OWASP's CSV injection advice: a cell that a spreadsheet would read as a formula (or as the
# start of one, after a tab or carriage return) is prefixed with a single quote.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
FORMULA_CHARS = frozenset(FORMULA_START)
API_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:?\d{2})")


def neutralise(text):
    return "'" + text if text.startswith(FORMULA_START) else text


def cell(value):
    """One CSV cell: text for any JSON value, times in ISO 8601 UTC, formulas neutralised.

    Called for every cell of an export (a million for 100,000 devices), so text, by far the
    most common value, is handled first and with the fewest steps."""
    if value.__class__ is str:
        if not value:
            return value
        if value[0] in FORMULA_CHARS:
            return "'" + value
        if value[-1] != "Z" and value[10:11] == "T" and API_TIME.fullmatch(value):
            return api_time(value)  # a time with an offset: to UTC
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)  # a number is written as one, never neutralised (-3 is a number)
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, list | tuple):
        return neutralise("; ".join(cell_text(v) for v in value))
    if isinstance(value, dict):
        return neutralise(
            json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        )
    return cell(str(value))


def api_time(text):
    """An API time as ISO 8601 UTC: as sent when it is in UTC already (its own precision
    kept) or when Python cannot read it; else converted to UTC."""
    if text.endswith("Z"):
        return text
    try:
        return iso_utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        return text


def cell_text(value):
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def iso_utc(moment):
    """2025-01-02T03:04:05Z (with its fraction of a second when it has one), always UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    text = moment.isoformat(timespec="microseconds" if moment.microsecond else "seconds")
    return text.replace("+00:00", "Z")


def header(columns, fmt):
    """The bytes the file starts with: the CSV header row (JSON Lines has none)."""
    if fmt != "csv":
        return b""
    return _csv_bytes([[neutralise(column.header) for column in columns]])


def encode_rows(records, *, columns, fmt, context=None):
    """The bytes of these records' rows: CSV rows of `columns`, or one JSON object a line."""
    if fmt == "jsonl":
        return "".join(
            json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=_json_value)
            + "\n"
            for record in records
        ).encode("utf-8")
    context = context or {}
    plain = [(column.key, column.value) for column in columns]
    rows = []
    for record in records:
        if isinstance(record, dict):
            get = record.get
            rows.append(
                [cell(value(record, context) if value else get(key)) for key, value in plain]
            )
        else:  # a row of dmportal's own (a model instance)
            rows.append([cell(column.value_of(record, context)) for column in columns])
    return _csv_bytes(rows)


def _csv_bytes(rows):
    out = io.StringIO()
    # RFC 4180: fields with a comma, quote or line break quoted, quotes doubled, CRLF lines.
    csv.writer(out, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL).writerows(rows)
    return out.getvalue().encode("utf-8")


def _json_value(value):
    if isinstance(value, datetime):
        return iso_utc(value)
    return str(value)


# -- the file's name -----------------------------------------------------------------------------

NAME_UNSAFE = re.compile(r"[^A-Za-z0-9._]+")
MAX_STEM = 120
OPERATORS = {"eq": "", "in": "", "neq": "not", "nin": "not", "gte": "from", "lte": "until"}


def file_name(prefix, pairs, *, moment, fmt):
    """`devices-state-registered-2026-12-04T1530Z.csv`: what the list is, its filters, when.

    `pairs` are the list's canonical query pairs (`state__eq`, `registered`); the name holds
    only letters, digits, dots, underscores and hyphens, and is cut to a sane length."""
    parts = [prefix]
    for key, value in pairs:
        if key in ("limit", "after"):
            continue
        if key == "order":
            parts.append("oldest-first" if value == "ASC" else "newest-first")
            continue
        field, _, op = key.rpartition("__") if "__" in key else (key, "", "")
        word = OPERATORS.get(op, op)
        parts.extend(p for p in (field or key, word, _slug(value)) if p)
    stem = "-".join(_slug(p) for p in parts if _slug(p))[:MAX_STEM].rstrip("-._")
    return f"{stem}-{moment.astimezone(UTC):%Y-%m-%dT%H%MZ}.{FORMATS[fmt][1]}"


def _slug(text):
    if isinstance(text, datetime):
        text = f"{text.astimezone(UTC):%Y-%m-%dT%H%M%SZ}"
    return NAME_UNSAFE.sub("-", str(text)).strip("-")
