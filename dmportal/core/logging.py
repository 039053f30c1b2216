"""Log records carry dmportal's request id, are one line each, and never hold an API key.

Two formats, chosen by LOG_FORMAT: `json` (production: one JSON object per line with the UTC
time, level, logger, request id, message and every extra the code passed, such as the API
client's upstream request id, status and latency) and `text` (the readable line of the demo).
Either way a record is one line: CR, LF and other line breaks in a message (a typed user
name, an upstream error text) are escaped, so nobody can forge a log line; only a traceback
follows the text line, indented, as Python prints it.

The code never logs a key; redaction is the last line of defence for text that arrives from
elsewhere (a library's message, an exception string). It runs on the final text line, and in
JSON on every value (and key) before encoding, so that it never cuts into the JSON syntax.
"""

import contextvars
import json
import logging
import re
from datetime import UTC, datetime

current_request_id = contextvars.ContextVar("current_request_id", default="-")

SECRET_PATTERN = re.compile(r"(ak_[A-Za-z0-9]{6,}|(?i:bearer)\s+\S+)")
# What str.splitlines() treats as a line end, apart from the plain CR and LF.
LINE_BREAKS = str.maketrans(
    {
        "\r": "\\r",
        "\n": "\\n",
        "\v": "\\x0b",
        "\f": "\\x0c",
        "\x1c": "\\x1c",
        "\x1d": "\\x1d",
        "\x1e": "\\x1e",
        "\x85": "\\x85",
        "\u2028": "\\u2028",
        "\u2029": "\\u2029",
    }
)
# Attributes every LogRecord has; anything else on a record is an extra the code passed.
RECORD_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id"}


def redact(text):
    return SECRET_PATTERN.sub("[redacted]", text)


def one_line(text):
    return text.translate(LINE_BREAKS)


class RequestIdFilter(logging.Filter):
    """Puts the request id on the record: the id of the record's own request when it has one
    (Django logs a response's 4xx/5xx line after RequestIDMiddleware has returned), else the
    id of the request being handled, else `-`."""

    def filter(self, record):
        request = getattr(record, "request", None)
        record.request_id = getattr(request, "request_id", None) or current_request_id.get()
        return True


class RedactingFormatter(logging.Formatter):
    """The text line (LOG_FORMAT=text): formats a record, escapes line breaks in it, then
    redacts key-shaped text from the whole output (traceback included).

    Redacting here, not in a filter, leaves the record itself untouched: other handlers (and
    the test suite's own log watcher) see what the code really logged.
    """

    def formatMessage(self, record):
        return one_line(super().formatMessage(record))

    def format(self, record):
        return redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line (LOG_FORMAT=json): time (UTC, ISO 8601), level, logger,
    request_id, message, then the record's extras and, when there is one, the exception.

    Values that JSON cannot hold are written as their text. The output is ASCII: JSON escapes
    every control character and line break, so a record is always exactly one line.
    """

    def format(self, record):
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", None) or current_request_id.get(),
            "message": record.getMessage(),
        }
        for name, value in vars(record).items():
            if name not in RECORD_FIELDS and name not in entry:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        # Redacting every value before encoding is enough: the encoding only escapes what is
        # in them, and `_redacted` leaves nothing for a `default=` to turn into text.
        return json.dumps(_redacted(entry))


def _redacted(value):
    """`value` with every string in it (keys too) redacted, for JSON encoding; a set becomes a
    list, and anything else JSON cannot hold (bytes, an object) its redacted text."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {_redacted(str(k)): _redacted(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redacted(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return redact(str(value))
