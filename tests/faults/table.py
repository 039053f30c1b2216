"""The simulator's faults and what a signed-in person sees for each: defined once, for
core/test_error_pages.py (page, fragment and "load more" of one list) and
faults/test_upstream.py (the whole stack, with every attempt counted at the simulator)."""

from typing import NamedTuple


class Fault(NamedTuple):
    fault: str  # the simulator's name for it (dmportal/simulator/faults.py)
    attempts: int  # answers one GET consumes (gateway errors and lost connections are retried)
    status: int  # dmportal's status
    title: str  # words of the page's title
    upstream: bool  # whether an upstream request id is shown


FAULTS = [
    Fault("500", 1, 502, "The Device Management service failed", True),
    Fault("502_html", 3, 503, "The Device Management service is busy", True),
    Fault("503", 3, 503, "The Device Management service is busy", True),
    Fault("429:3600", 1, 429, "Rate limited: retry in about 60 minutes", True),
    Fault("401", 1, 403, "The API key was rejected", True),
    Fault("403", 1, 403, "This API key is not allowed to do this", True),
    Fault("stall", 1, 504, "did not answer in time", False),
    Fault("reset", 3, 502, "could not be reached", False),
    Fault("truncated", 3, 502, "could not be reached", True),  # headers (with the id) arrived
    Fault("non_json", 1, 502, "unreadable response", True),
    Fault("wrong_content_type", 1, 502, "unreadable response", True),
    Fault("empty", 1, 502, "unreadable response", True),
]
FIELDS = ",".join(Fault._fields)
