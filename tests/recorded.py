"""Recorded Device Management API payloads: tests/fixtures/dm_api/recorded/*.json.

Each is an answer of the simulator (which follows the 2020-10-26 spec), recorded once with its
`sim_revision` bookkeeping removed: a device, a device list of two, a user, and the error
bodies of a 400 validation error, a 401 and a 404. Tests take a fresh copy and change only the
fields they are about: `recorded("device", name="Boiler")`.
"""

import copy
import json
from functools import cache
from pathlib import Path

RECORDED = Path(__file__).parent / "fixtures" / "dm_api" / "recorded"


@cache
def _load(name):
    return json.loads((RECORDED / f"{name}.json").read_text())


def recorded(payload, /, **fields):
    """A deep copy of the recorded payload named `payload`, with `fields` set on it."""
    body = copy.deepcopy(_load(payload))
    body.update(fields)
    return body
