"""Log records carry dmportal's request id, and never an API key.

The code never logs a key; `RedactingFormatter` is the last line of defence for text that
arrives from elsewhere (a library's message, an exception string).
"""

import contextvars
import logging
import re

current_request_id = contextvars.ContextVar("current_request_id", default="-")

SECRET_PATTERN = re.compile(r"(ak_[A-Za-z0-9]{6,}|(?i:bearer)\s+\S+)")


def redact(text):
    return SECRET_PATTERN.sub("[redacted]", text)


class RequestIdFilter(logging.Filter):
    def filter(self, record):
        record.request_id = current_request_id.get()
        return True


class RedactingFormatter(logging.Formatter):
    """Formats a record, then redacts key-shaped text from the line.

    Redacting here, not in a filter, leaves the record itself untouched: other handlers (and
    the test suite's own log watcher) see what the code really logged.
    """

    def format(self, record):
        return redact(super().format(record))
