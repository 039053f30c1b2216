"""How values read on every page (templatetags/dm.py): times, ids, states, the empty result of
a filtered list."""

import re
from datetime import UTC, datetime, timedelta

from django.test import RequestFactory
from django.utils import timezone

from dmportal.core.templatetags.dm import (
    badge,
    dotted,
    expiry,
    format_when,
    ident,
    state_word,
    typed_filters,
)
from dmportal.team.forms import GroupFilterForm, UserFilterForm

NOW = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


def test_a_time_after_now_is_marked_as_a_future_time():
    """Issue 15 item 6: the API's "last bootstrap" in 16 hours read as any other time."""
    html = format_when(NOW + timedelta(hours=16), UTC, NOW)
    assert 'class="future"' in html
    assert "(in 16 hours: in the future)" in html
    assert "the API's clock or data is off" in html


def test_a_past_time_and_a_small_clock_difference_are_not_marked():
    for moment in (NOW - timedelta(days=2), NOW + timedelta(seconds=90)):
        html = format_when(moment, UTC, NOW)
        assert "future" not in html
    assert "(2 days ago)" in format_when(NOW - timedelta(days=2), UTC, NOW)


def test_an_expiry_ahead_is_not_a_future_time_and_says_one_figure():
    later = timezone.now() + timedelta(days=400)
    soon = timezone.now() + timedelta(days=28, hours=12)
    assert "future" not in expiry(later.isoformat())
    assert "(in 13 months)" in expiry(later.isoformat())
    html = expiry(soon.isoformat())
    assert "expires within 29 days" in html
    assert "(in " not in html  # not "in 28 days" beside "within 29 days"
    assert "expired 3 days ago" in expiry((timezone.now() - timedelta(days=3)).isoformat())


def test_an_expiry_within_a_day_is_singular_and_the_warning_can_start_later():
    within_hours = (timezone.now() + timedelta(hours=5)).isoformat()
    assert "expires within a day" in expiry(within_hours)
    assert "1 days" not in expiry(within_hours)
    # An invitation (valid for 30 days) warns in its last week, not from the day it is sent.
    fresh = (timezone.now() + timedelta(days=20)).isoformat()
    assert "expires within" not in expiry(fresh, 7)
    assert "(in 20 days)" in expiry(fresh, 7)
    assert "expires within 6 days" in expiry(
        (timezone.now() + timedelta(days=5, hours=3)).isoformat(), 7
    )


def test_a_dotted_code_breaks_after_its_dots_only():
    html = dotted("connector.device.registration-updated")
    assert html == '<code class="dotted">connector.<wbr>device.<wbr>registration-updated</code>'
    assert re.sub(r"<[^>]+>", "", html) == "connector.device.registration-updated"
    assert "&lt;b&gt;" in dotted("<b>.x")
    assert "—" in dotted("")


def test_an_id_is_one_code_element_whose_text_is_the_whole_id():
    value = "01a23e08f17d001000000000000007d0"
    html = ident(value)
    assert html == ('<code class="id"><span>01a23e08f17d00100000000000</span>0007d0</code>')
    assert re.sub(r"<[^>]+>", "", html) == value  # read, selected and copied whole
    assert ident("short") == '<code class="id"><span></span>short</code>'
    assert ident("") == '<code class="id none"><span></span>—</code>'
    assert "&lt;b&gt;" in ident("<b>" + "x" * 40)  # escaped, in both parts
    assert ident("x" * 40 + "</b>").endswith("&lt;/b&gt;</code>")


def test_one_spelling_of_each_state():
    assert state_word("ACTIVE") == state_word("active") == "active"
    assert state_word("cloud_enrolling") == "cloud enrolling"
    assert badge("INVITED") == '<span class="badge b-invited">invited</span>'
    assert badge("cloud_enrolling") == (
        '<span class="badge b-cloud_enrolling">cloud enrolling</span>'
    )
    # the filters say the same words as the badges
    assert dict(UserFilterForm().fields["status__in"].choices)["ACTIVE"] == "active"


def test_the_text_filters_in_use_are_named_for_the_fixes():
    form = GroupFilterForm(RequestFactory().get("/", {"name__eq": "operators"}).GET)
    assert form.is_valid()
    assert typed_filters(form) == [("Name", "operators")]
    assert typed_filters(GroupFilterForm(RequestFactory().get("/").GET)) == []


def test_every_result_of_the_activity_log_has_a_badge_colour_in_both_themes():
    """Rev 15: a write whose outcome is not known ("unknown", core/writes.py) was a grey badge
    among the green and red ones, though it may have happened. Colours come from the theme's
    variables, so the dark theme has its own."""
    from pathlib import Path

    css = (Path(__file__).resolve().parents[2] / "static" / "dmportal.css").read_text()
    rules = re.findall(r"([^{}]+)\{([^{}]*)\}", css)
    for result in ("ok", "failed", "unknown"):
        css_class = re.search(r'class="badge (b-\w+)"', badge(result))[1]
        declarations = [
            body for selector, body in rules if re.search(rf"\.{css_class}\b", selector)
        ]
        assert any(re.search(r"(^|;)\s*color:\s*var\(--\w+\)", d) for d in declarations), result
