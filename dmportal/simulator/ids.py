"""IDs and timestamps in the shapes the real service uses.

IDs are 32 lowercase hex characters: a 12-hex-digit millisecond timestamp, a 4-digit object kind
and a 16-digit sequence. Because the timestamp leads, IDs sort in creation order, which is what
lets a list cursor (``after=<id>``) be located by bisection even when that item has been deleted.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, date, datetime, timedelta

ID_RE = re.compile(r"^[0-9a-f]{32}$")

KIND_ACCOUNT = 0x0001
KIND_DEVICE = 0x0010
KIND_EVENT = 0x0011
KIND_DEVICE_GROUP = 0x0012
KIND_DEVICE_QUERY = 0x0013
KIND_USER = 0x0020
KIND_POLICY_GROUP = 0x0021
KIND_API_KEY = 0x0022
KIND_INVITATION = 0x0023
KIND_APPLICATION = 0x0024
KIND_ACCESS_KEY = 0x0025
KIND_REQUEST = 0x0030
KIND_METRIC = 0x0040

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DAY_MS = 86_400_000


def make_id(ms: int, kind: int, seq: int) -> str:
    return f"{ms:012x}{kind:04x}{seq:016x}"


def id_ms(object_id: str) -> int:
    return int(object_id[:12], 16)


def is_id(value: str) -> bool:
    return bool(ID_RE.match(value))


def to_ms(dt: datetime) -> int:
    return (dt - EPOCH) // timedelta(milliseconds=1)


def from_ms(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


# time.gmtime + strftime is several times faster than datetime arithmetic, which matters when
# seeding 100,000 devices with half a dozen timestamps each.
def iso_us(ms: int) -> str:
    """Device-directory style: ``2017-05-22T12:37:55.576000Z`` (fixed width, sorts as text)."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + f".{ms % 1000:03d}000Z"


def iso_s(ms: int) -> str:
    """IAM style: ``2018-02-13T09:35:20Z``."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms // 1000))


def iso_date(ms: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ms // 1000))


def parse_date(value: str) -> date:
    if len(value) != 10:
        raise ValueError(value)
    return date.fromisoformat(value)


_DT_FORMS = (
    re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?Z$"),
    re.compile(r"^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})()Z$"),
)


def parse_datetime(value: str) -> datetime:
    """Parse the three documented filter forms (with/without fraction, and the compact form)."""
    for form in _DT_FORMS:
        m = form.match(value)
        if m:
            y, mo, d, h, mi, s, frac = m.groups()
            micro = int((frac or "0")[:6].ljust(6, "0"))
            return datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), micro, tzinfo=UTC)
    raise ValueError(value)


def canonical_us(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
