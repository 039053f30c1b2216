"""Template helpers shared by every page: times, copy buttons, badges, upstream text.

They run once per table cell, so they are written to be cheap (no template includes).
"""

import json
import math
import zoneinfo
from datetime import UTC, datetime
from html import escape

from django import forms, template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

from dmportal.dmapi.errors import clean_text
from dmportal.dmapi.ids import is_id

register = template.Library()
PLAIN_LENGTH = 500


@register.filter
def plain(value):
    """Upstream text for display: control and direction-override characters become spaces
    (a U+202E must not reverse the text after it), and at most 500 characters are shown.
    Escaping is still the template's (or the caller's) job. Text that is printable and fits,
    nearly every value, skips clean_text's per-character work: table cells call this by the
    thousand."""
    if value is None or value == "":
        return ""
    text = value if isinstance(value, str) else str(value)
    if len(text) <= PLAIN_LENGTH and text.isprintable():
        return text.strip()
    return clean_text(text, PLAIN_LENGTH)


def parse_when(value):
    """An aware datetime from an API value: RFC 3339 string, epoch milliseconds, or datetime."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(value / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str):
        text = value.strip()
        if len(text) == 10:  # a date: midnight UTC
            text += "T00:00:00Z"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


UNITS = (
    (90 * 60, 60, "minute"),
    (36 * 3600, 3600, "hour"),
    (45 * 86400, 86400, "day"),
    (548 * 86400, 30.44 * 86400, "month"),
    (float("inf"), 365.25 * 86400, "year"),
)


def relative(moment, now=None):
    """ "3 days ago", "in 2 months", "just now"."""
    return relative_seconds(((now or timezone.now()) - moment).total_seconds())


def relative_seconds(seconds):
    """`relative` from a number of seconds (positive: in the past)."""
    future = seconds < 0
    seconds = abs(seconds)
    if seconds < 45:
        return "just now"
    if seconds < 90:
        text = "1 minute"
    else:
        for limit, size, unit in UNITS:  # noqa: B007 - the loop finds the unit
            if seconds < limit:
                break
        count = max(1, round(seconds / size))
        text = f"{count} {unit}{'' if count == 1 else 's'}"
    return f"in {text}" if future else f"{text} ago"


@register.filter
def when(value, style="full"):
    """<time> in the user's time zone with the relative time, and the exact UTC on hover.

    Every time shown with `when` is one that has happened (created, last used, last
    bootstrap...): one after now is marked as a time in the future (the API's clock or data is
    off). Times expected ahead, such as expiry dates, go through `expiry`."""
    return format_when(value, timezone.get_current_timezone(), timezone.now(), style)


# How far ahead of dmportal's clock a past event may be before it is called a future time:
# clocks of two machines differ by a little.
CLOCK_SKEW = 120


def format_when(value, zone, now, style="full", *, past=True):
    """`when` with the zone and "now" given, for tables that format thousands of times.

    Every piece of the HTML comes from formatting a datetime, never from the upstream text,
    so nothing needs escaping. Built from the datetime's fields rather than with strftime:
    a 1,000-row table formats 2,000 of these (6 µs each with strftime, 2 µs like this).
    `past=False` for times that may be ahead (an expiry): they are not marked as future.
    """
    moment = parse_when(value)
    if moment is None:
        return SafeString(NEVER if style == "never" else DASH)
    utc = moment.astimezone(UTC)
    local = utc if zone is UTC or zone is ZONE_UTC else moment.astimezone(zone)
    day = f"{local.year:04d}-{TWO[local.month]}-{TWO[local.day]}"
    shown = day if style == "date" else f"{day} {TWO[local.hour]}:{TWO[local.minute]}"
    utc_day = f"{utc.year:04d}-{TWO[utc.month]}-{TWO[utc.day]}"
    utc_time = f"{TWO[utc.hour]}:{TWO[utc.minute]}:{TWO[utc.second]}"
    seconds = (now - moment).total_seconds()
    if past and seconds < -CLOCK_SKEW:
        return SafeString(
            f'<time datetime="{utc_day}T{utc_time}Z" class="future" title="{utc_day} {utc_time} '
            f"UTC: after the current time, so the API's clock or data is off\">{shown} "
            f'<span class="rel">({relative_seconds(seconds)}: in the future)</span></time>'
        )
    return SafeString(
        f'<time datetime="{utc_day}T{utc_time}Z" title="{utc_day} {utc_time} UTC">'
        f'{shown} <span class="rel">({relative_seconds(seconds)})</span></time>'
    )


TWO = [f"{number:02d}" for number in range(100)]
ZONE_UTC = zoneinfo.ZoneInfo("UTC")
NEVER = '<span class="none">never</span>'
DASH = '<span class="none">—</span>'


@register.filter
def days_until(value):
    """Whole days from now until a date/datetime (negative when past); None if unknown."""
    moment = parse_when(value)
    if moment is None:
        return None
    return (moment - timezone.now()).days


ID_TAIL = 6  # the characters kept at the end when an id is shortened


@register.filter
def ident(value):
    """An identifier (id, request id, endpoint name...) on one line in a monospace face.

    Where its box is too narrow it is shortened in the middle, never broken across lines: the
    start is cut with an ellipsis and the last characters stay (the part that differs between
    ids of one account); hovering shows the whole id (static/dmportal.js adds the title then,
    rather than every id carrying it twice), and copying the text copies all of it (the CSS
    only hides it). (Per table cell: kept cheap, 13 bytes more than a plain <code>.)"""
    return SafeString(ident_html(plain(value)))


def ident_html(text):
    """The markup of `ident`, the same shape for every value (the start in a span, then the
    last characters; an empty value is a dash in the same shape)."""
    if not text:
        return '<code class="id none"><span></span>—</code>'
    start, end = escape(text[:-ID_TAIL]), escape(text[-ID_TAIL:])
    return f'<code class="id"><span>{start}</span>{end}</code>'


@register.filter
def dotted(value):
    """A dotted code ("connector.device.registration-updated", an event type) in monospace that
    may break after its dots and at its hyphens, never inside a word ("registr / ation")."""
    if value in (None, ""):
        return SafeString(DASH)
    parts = [escape(part) for part in str(value).split(".")]
    return SafeString(f'<code class="dotted">{".<wbr>".join(parts)}</code>')


@register.simple_tag
def copy(value, label="value"):
    """A button that copies `value` to the clipboard (static/dmportal.js handles the click)."""
    if value in (None, ""):
        return ""
    return format_html(
        '<button type="button" class="copy" data-copy="{}" aria-label="Copy {}" '
        'title="Copy {}">Copy</button>',
        value,
        label,
        label,
    )


def state_word(value):
    """The one spelling of a state or status, the same on badges and in the filters: lower case
    words ("ACTIVE" and "active" are one state; "cloud_enrolling" reads "cloud enrolling")."""
    return str(value).replace("_", " ").lower()


@register.filter
def badge(value):
    """A status word as a badge; the CSS colours it by value. (Per table cell: kept cheap.)"""
    if value in (None, ""):
        return SafeString(DASH)
    raw = str(value)
    word = escape(state_word(raw))
    return SafeString(f'<span class="badge b-{word.replace(" ", "_")}">{word}</span>')


TEXT_FILTER_KINDS = ("values", "eq")


def text_filters(form):
    """The filters of a list form that match typed text (exactly, case-sensitively)."""
    fields = getattr(form, "fields", {})
    return [
        (name, field)
        for name, field in fields.items()
        if getattr(field, "kind", None) in TEXT_FILTER_KINDS and isinstance(field, forms.CharField)
    ]


@register.filter
def has_text_filters(form):
    return bool(text_filters(form))


@register.filter
def typed_filters(form):
    """[(label, text)] of the text filters in use, for the fixes an empty result offers."""
    if not getattr(form, "is_bound", False) or form.errors:
        return []
    typed = []
    for name, field in text_filters(form):
        value = form.cleaned_data.get(name)
        if isinstance(value, list | tuple):
            value = ", ".join(str(v) for v in value)
        if value:
            typed.append((field.label or name, str(value)[:200]))
    return typed


@register.filter
def get(mapping, key):
    """mapping[key] for keys a template cannot spell (hyphens, variables)."""
    try:
        return mapping.get(key)
    except AttributeError:
        return None


@register.filter
def api_id(value):
    """The value if it is a Device Management id (32 hex), else "": ids from the API are
    untrusted, and only a real id may be put into one of our URLs."""
    return value if is_id(value) else ""


EXPIRY_WARNING_DAYS = 30


@register.filter
def expiry(value, warn_days=EXPIRY_WARNING_DAYS):
    """An expiry date: with a warning instead of the relative time when it is past or within
    `warn_days` (30: a certificate; an invitation, itself valid for 30 days, warns in its last
    week) (one figure, not "in 28 days" beside "expires within 29 days")."""
    moment = parse_when(value)
    if moment is None:
        return format_html('<span class="none">{}</span>', "—")
    now = timezone.now()
    days = (moment - now).total_seconds() / 86400
    zone = timezone.get_current_timezone()
    if days < 0:
        return format_html(
            '{} <strong class="expiry-past" data-expiry="past">expired {}</strong>',
            _date_only(moment, zone),
            relative_seconds((now - moment).total_seconds()),
        )
    if days <= int(warn_days):
        left = max(1, math.ceil(days))
        return format_html(
            '{} <strong class="expiry-warning" data-expiry="soon">expires within {}</strong>',
            _date_only(moment, zone),
            "a day" if left == 1 else f"{left} days",
        )
    return format_when(moment, zone, now, "date", past=False)


def _date_only(moment, zone):
    local = moment.astimezone(zone)
    utc = moment.astimezone(UTC)
    return format_html(
        '<time datetime="{}" title="{} UTC">{}</time>',
        utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        utc.strftime("%Y-%m-%d %H:%M:%S"),
        local.strftime("%Y-%m-%d"),
    )


@register.filter
def pretty_json(value):
    """Indented JSON text (escaped by the template like any other text)."""
    try:
        return json.dumps(value, indent=2, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return str(value)


EXECUTION_MODES = {0: "unspecified", 1: "development", 5: "production"}


@register.filter
def execution_mode(value):
    if isinstance(value, bool) or not isinstance(value, int):
        return "—" if value is None else str(value)
    return f"{value} ({EXECUTION_MODES.get(value, 'unknown')})"


@register.filter
def yesno_api(value):
    if value is True:
        return "yes"
    if value is False:
        return "no"
    return "—"
