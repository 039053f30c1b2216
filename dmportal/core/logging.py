"""Log records carry dmportal's request id, and never an API key.

The code never logs a key; `RedactSecretsFilter` is the last line of defence for text that
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


class RedactSecretsFilter(logging.Filter):
    def filter(self, record):
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            if SECRET_PATTERN.search(text):
                record.exc_info = None
                record.exc_text = redact(text)
        return True
