"""exports/writers.py: CSV encoding (RFC 4180, UTF-8, UTC times), formula neutralisation,
JSON Lines, and the file's name."""

import csv
import io
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from dmportal.exports.sources import Column
from dmportal.exports.writers import cell, encode_rows, file_name, header, neutralise

COLUMNS = (Column("name", "Name"), Column("id", "ID"), Column("created_at", "Created"))


def parse(data):
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def test_csv_rows_are_rfc_4180_with_crlf_and_utf8():
    records = [
        {"name": 'Boiler "north", room 2\nsecond line', "id": "a" * 32, "created_at": None},
        {"name": "Kühlraum ☃", "id": "b" * 32, "created_at": "2025-01-02T03:04:05Z"},
    ]
    data = header(COLUMNS, "csv") + encode_rows(records, columns=COLUMNS, fmt="csv")
    assert data.startswith(b"Name,ID,Created\r\n")
    assert b'"Boiler ""north"", room 2\nsecond line"' in data  # quoted, quotes doubled
    assert data.endswith(b"2025-01-02T03:04:05Z\r\n")
    assert parse(data) == [
        ["Name", "ID", "Created"],
        ['Boiler "north", room 2\nsecond line', "a" * 32, ""],
        ["Kühlraum ☃", "b" * 32, "2025-01-02T03:04:05Z"],
    ]


@pytest.mark.parametrize(
    ("text", "written"),
    [
        ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
        ("+1+2", "'+1+2"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tTab", "'\tTab"),
        ("\rReturn", "'\rReturn"),
        ("Sensor = 1", "Sensor = 1"),
        ("", ""),
    ],
)
def test_a_cell_a_spreadsheet_would_read_as_a_formula_is_neutralised(text, written):
    assert cell(text) == written
    row = parse(encode_rows([{"name": text}], columns=COLUMNS[:1], fmt="csv"))
    assert row == [[written]]


def test_numbers_booleans_lists_and_objects_are_written_plainly():
    assert [cell(v) for v in (-3, 2.5, True, False, None)] == ["-3", "2.5", "true", "false", ""]
    assert cell(["g1", "=g2"]) == "g1; =g2"
    assert cell({"b": 1, "a": "x"}) == '{"a":"x","b":1}'
    assert cell(["=x"]) == "'=x"  # a list that starts with a formula, neutralised
    assert neutralise("=a") == "'=a"


def test_times_are_iso_8601_in_utc():
    assert cell("2025-01-02T03:04:05.123Z") == "2025-01-02T03:04:05.123Z"  # kept as sent
    assert cell("2025-01-02T05:04:05+02:00") == "2025-01-02T03:04:05Z"
    assert cell(datetime(2025, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2)))) == (
        "2025-01-02T03:04:05Z"
    )
    assert cell(datetime(2025, 1, 2, 3, 4, 5, 600, tzinfo=UTC)) == "2025-01-02T03:04:05.000600Z"


def test_json_lines_are_the_records_as_given_one_a_line():
    records = [
        {"id": "a", "some_future_field": {"nested": True}, "name": "Kühl\nraum"},
        {"id": "b"},
    ]
    data = encode_rows(records, columns=(), fmt="jsonl")
    lines = data.decode("utf-8").split("\n")
    assert lines[-1] == ""  # each record ends with a newline
    assert [json.loads(line) for line in lines[:-1]] == records
    assert "Kühl" in lines[0]  # UTF-8, not \\u escapes
    assert header(COLUMNS, "jsonl") == b""


MOMENT = datetime(2026, 12, 4, 15, 30, 59, tzinfo=UTC)


@pytest.mark.parametrize(
    ("prefix", "pairs", "fmt", "name"),
    [
        (
            "devices",
            [("state__eq", "registered")],
            "csv",
            "devices-state-registered-2026-12-04T1530Z.csv",
        ),
        ("devices", [], "jsonl", "devices-2026-12-04T1530Z.jsonl"),
        (
            "devices",
            [("state__in", "registered,bootstrapped"), ("order", "ASC")],
            "csv",
            "devices-state-registered-bootstrapped-oldest-first-2026-12-04T1530Z.csv",
        ),
        (
            "devices",
            [("created_at__gte", "2025-01-01T00:00:00Z"), ("limit", "20")],
            "csv",
            "devices-created_at-from-2025-01-01T00-00-00Z-2026-12-04T1530Z.csv",
        ),
        (
            "users",
            [("email__eq", "a/../b@x.io")],
            "csv",
            "users-email-a-..-b-x.io-2026-12-04T1530Z.csv",
        ),
        (
            "api-calls",
            [("q", "../../etc\x00/passwd")],
            "csv",
            "api-calls-q-..-..-etc-passwd-2026-12-04T1530Z.csv",
        ),
    ],
)
def test_the_file_name_says_what_it_holds(prefix, pairs, fmt, name):
    assert file_name(prefix, pairs, moment=MOMENT, fmt=fmt) == name


def test_a_long_file_name_is_cut():
    pairs = [("name__in", ",".join(f"sensor-{n}" for n in range(100)))]
    name = file_name("devices", pairs, moment=MOMENT, fmt="csv")
    assert len(name) <= 120 + len("-2026-12-04T1530Z.csv")
    assert name.endswith("-2026-12-04T1530Z.csv")
    assert "/" not in name
