"""CSP violation reports (checklist A7): the policy names `/csp-report/`; the view takes the
browser's POST without a CSRF token, caps its size and rate, and logs one WARNING line per
report with the directive and the blocked URI, truncated and redacted; it answers 204."""

import json
import logging

import pytest
from django.core.cache import caches
from django.test import Client
from django.urls import resolve

from dmportal.core import views
from dmportal.core.logging import JsonFormatter
from tests.conftest import SENTINEL_KEY

pytestmark = pytest.mark.django_db

URL = "/csp-report/"


@pytest.fixture(autouse=True)
def fresh_counters():
    caches["default"].clear()  # the per-address report count


@pytest.fixture
def browser():
    """A browser as it sends reports: no CSRF token, not signed in."""
    return Client(enforce_csrf_checks=True)


def legacy_report(**fields):
    body = {
        "document-uri": "https://dmportal.example/devices/",
        "violated-directive": "script-src-elem",
        "effective-directive": "script-src-elem",
        "blocked-uri": "https://evil.example/x.js",
        "disposition": "enforce",
    }
    body.update(fields)
    return json.dumps({"csp-report": body})


def reporting_api_report(blocked="inline", directive="style-src-attr"):
    return {
        "type": "csp-violation",
        "age": 10,
        "url": "https://dmportal.example/devices/",
        "body": {
            "documentURL": "https://dmportal.example/devices/",
            "effectiveDirective": directive,
            "blockedURL": blocked,
            "disposition": "enforce",
        },
    }


def violations(caplog):
    return [r for r in caplog.records if r.name == "dmportal" and "CSP violation" in r.msg]


def test_the_policy_sends_reports_to_the_view(client):
    policy = client.get("/accounts/login/")["Content-Security-Policy"]
    assert f"report-uri {URL}" in policy
    assert resolve(URL).func is views.csp_report


def test_a_report_is_one_warning_line_and_204_without_csrf_or_session(browser, caplog):
    response = browser.post(URL, legacy_report(), content_type="application/csp-report")
    assert response.status_code == 204
    assert not response.cookies
    [record] = violations(caplog)
    assert record.levelno == logging.WARNING
    assert record.getMessage() == (
        "CSP violation: script-src-elem blocked https://evil.example/x.js on "
        "https://dmportal.example/devices/"
    )
    assert (record.directive, record.blocked_uri) == (
        "script-src-elem",
        "https://evil.example/x.js",
    )


def test_reporting_api_bodies_log_each_csp_report(browser, caplog):
    body = [
        reporting_api_report(),
        {"type": "deprecation", "body": {"id": "x"}},  # not a CSP report: ignored
        reporting_api_report("eval", "script-src"),
    ]
    response = browser.post(URL, json.dumps(body), content_type="application/reports+json")
    assert response.status_code == 204
    assert [(r.directive, r.blocked_uri) for r in violations(caplog)] == [
        ("style-src-attr", "inline"),
        ("script-src", "eval"),
    ]


def test_a_hostile_report_is_truncated_redacted_and_one_line(browser, caplog):
    blocked = f"https://x.example/?k={SENTINEL_KEY}&\r\nFAKE log line&" + "a" * 5000
    response = browser.post(
        URL,
        legacy_report(**{"blocked-uri": blocked, "effective-directive": "img-src\nFAKE"}),
        content_type="application/csp-report",
    )
    assert response.status_code == 204
    [record] = violations(caplog)
    assert SENTINEL_KEY not in record.getMessage()
    assert "ak_SENTINEL" not in record.blocked_uri
    assert "[redacted]" in record.blocked_uri
    assert len(record.blocked_uri) <= views.CSP_FIELD_CHARS
    assert len(JsonFormatter().format(record).splitlines()) == 1


def test_control_characters_in_a_report_are_not_logged(browser, caplog):
    blocked = "https://x.example/\x1b[31mred\x00\x7f\u2028" + "b" * 300
    response = browser.post(
        URL,
        legacy_report(**{"blocked-uri": blocked, "effective-directive": "img-src\tFAKE"}),
        content_type="application/csp-report",
    )
    assert response.status_code == 204
    [record] = violations(caplog)
    for value in (record.directive, record.blocked_uri, record.getMessage()):
        assert value.isprintable(), repr(value)  # no terminal escapes, NULs, line breaks
    assert record.blocked_uri.startswith("https://x.example/ [31mred")
    assert record.blocked_uri.endswith("b…")
    assert len(record.blocked_uri) == views.CSP_FIELD_CHARS


def test_a_report_over_16_kb_is_refused_unread(browser, caplog):
    body = legacy_report(**{"blocked-uri": "x" * views.CSP_REPORT_MAX_BYTES})
    response = browser.post(URL, body, content_type="application/csp-report")
    assert response.status_code == 413
    assert violations(caplog) == []


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (legacy_report(), "text/plain", 415),
        (legacy_report(), "application/x-www-form-urlencoded", 415),
        ("{not json", "application/csp-report", 400),
        (b"\xff\xfe", "application/csp-report", 400),
        ('{"something": "else"}', "application/csp-report", 400),
        ('{"csp-report": "a string"}', "application/csp-report", 400),
        ("[1, 2]", "application/reports+json", 400),
        ("[]", "application/reports+json", 400),
        ('"text"', "application/reports+json", 400),
        ("[" * 5000 + "]" * 5000, "application/reports+json", 400),
    ],
)
def test_what_is_not_a_report_gets_a_4xx_never_a_500(browser, caplog, body, content_type, status):
    assert browser.post(URL, body, content_type=content_type).status_code == status
    assert violations(caplog) == []


def test_reports_are_rate_limited_per_address(browser, caplog):
    for _ in range(views.CSP_REPORTS_PER_MINUTE):
        assert (
            browser.post(URL, legacy_report(), content_type="application/csp-report").status_code
            == 204
        )
    refused = browser.post(URL, legacy_report(), content_type="application/csp-report")
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) >= 1
    assert len(violations(caplog)) == views.CSP_REPORTS_PER_MINUTE
    other = browser.post(
        URL, legacy_report(), content_type="application/csp-report", REMOTE_ADDR="192.0.2.7"
    )
    assert other.status_code == 204


def test_only_post_is_accepted(browser):
    assert browser.get(URL).status_code == 405


def test_a_signed_in_browser_may_report_too(signed_in, caplog):
    response = signed_in.post(URL, legacy_report(), content_type="application/csp-report")
    assert response.status_code == 204
    assert len(violations(caplog)) == 1
