"""Checklist G1, G2 and G5: no key in any log line, debug print or error report, and one
logged ERROR with a generic answer for anything a view did not expect.

G1 runs the whole flow against the simulator over real HTTPS (so `requests`, urllib3 and
`http.client` do their real work) with the root logger at DEBUG and `http.client`'s own debug
printing switched on, and captures both the log records and what was printed.
"""

import http.client
import logging
import re
import sys
from functools import partial

import pytest
import requests
from django.core.signals import got_request_exception
from django.views.debug import ExceptionReporter

from dmportal.core.logging import RequestIdFilter
from tests.conftest import API, PASSWORD, SENTINEL_KEY, device, envelope, first_device_id

pytestmark = pytest.mark.django_db
ANY_KEY = re.compile(r"ak_[A-Za-z0-9]{20,}")


def test_the_whole_flow_at_debug_level_logs_and_prints_no_key(
    client, user, sim, caplog, capsys, monkeypatch
):
    secret = sim.keys.admin
    caplog.set_level(logging.DEBUG)
    for name in ("urllib3", "requests", "dmportal", "django"):
        caplog.set_level(logging.DEBUG, logger=name)
    monkeypatch.setattr(http.client.HTTPConnection, "debuglevel", 1)

    assert (
        client.post("/accounts/login/", {"username": "alice", "password": PASSWORD}).status_code
        == 302
    )
    added = client.post(
        "/connections/add/", {"label": "Sim", "api_host": sim.base_url, "api_key": secret}
    )
    assert added.status_code == 302, added.content.decode()[:500]
    listing = client.get("/devices/?limit=5")
    assert listing.status_code == 200
    device_id = first_device_id(listing.content.decode())
    htmx = {"HTTP_HX_REQUEST": "true"}
    pages = [
        client.get(f"/devices/{device_id}/"),
        client.get(f"/devices/{device_id}/events/", **htmx),
        client.get(f"/support/devices/{device_id}/"),
        client.get("/team/users/"),
        client.get("/support/calls/"),
    ]
    assert all(p.status_code == 200 for p in pages), [p.status_code for p in pages]
    sim.faults.add(fault="500", path_prefix="/v3/devices/", count=1)
    assert client.get("/devices/").status_code == 502  # a failure path too
    assert (
        client.post(
            "/connections/add/",
            {"label": "Bad", "api_host": sim.base_url, "api_key": "ak_" + "Z" * 40},
        ).status_code
        == 200
    )  # a rejected key: logged, not stored
    client.post("/accounts/logout/")
    # The debug switch really is on in this process: a plain `requests` call prints itself.
    requests.get(
        f"{sim.base_url}/v3/devices/",
        headers={"X-Probe": "printed"},
        verify=str(sim.ca_cert_path),
        timeout=5,
    )

    printed = capsys.readouterr()
    assert "X-Probe: printed" in printed.out  # http.client really was printing...
    for text in (caplog.text, printed.out, printed.err):
        assert secret not in text  # ...but never the key
        assert ANY_KEY.search(text) is None
    records = "\n".join(f"{r.getMessage()} {r.args!r} {vars(r)!r}" for r in caplog.records)
    assert ANY_KEY.search(records) is None
    assert len(caplog.records) > 20  # the debug logging did run


def report_html_and_text(client, path, data=None):
    """The request's exception (a POST of `data`, else a GET) as Django's error reports show
    it (mail_admins, DEBUG)."""
    seen = []

    def grab(sender, request, **kwargs):
        seen.append((request, sys.exc_info()))

    got_request_exception.connect(grab)
    try:
        send = client.get if data is None else partial(client.post, data=data)
        with pytest.raises(RuntimeError):
            send(path)
    finally:
        got_request_exception.disconnect(grab)
    request, exc_info = seen[0]
    reporter = ExceptionReporter(request, *exc_info, is_email=True)
    return reporter.get_traceback_html(), reporter.get_traceback_text()


@pytest.fixture
def broken_transport(monkeypatch):
    """Every API call fails inside `requests` with an exception nothing expects."""

    def broken(self, request, **kwargs):
        raise RuntimeError("the transport broke")

    monkeypatch.setattr(requests.adapters.HTTPAdapter, "send", broken)


def test_an_error_report_from_the_key_form_holds_no_key(client, user, broken_transport):
    client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    html, text = report_html_and_text(
        client, "/connections/add/", {"label": "x", "api_host": API, "api_key": SENTINEL_KEY}
    )
    for report in (html, text):
        assert "the transport broke" in report  # a real report of that failure...
        assert "connection_add" in report
        assert SENTINEL_KEY not in report  # ...with the key out of POST data and every frame
        assert ANY_KEY.search(report) is None
    assert "key_verify" in html  # the frames of the key check, whose locals held the key


def test_an_error_report_from_a_page_using_a_stored_key_holds_no_key(
    client, user, connection, broken_transport
):
    client.force_login(user)
    html, text = report_html_and_text(client, "/devices/")
    assert "_send" in html  # the client's frame, whose headers held the key
    assert SENTINEL_KEY not in html
    assert SENTINEL_KEY not in text


FRAGMENTS = [
    # (what raises, URL, HTMX target)
    ("dmportal.devices.views.resources.device_page", "/devices/", "listing"),
    (
        "dmportal.devices.views.resources.device_page",
        "/devices/?after=" + "0" * 32,
        "devices-pager",
    ),
    ("dmportal.devices.views.resources.device_event_page", f"/devices/{'a' * 32}/events/", ""),
    (
        "dmportal.devices.views.resources.device_group_page",
        f"/devices/{'a' * 32}/groups/?id__in={'b' * 32}",
        "",
    ),
]


@pytest.mark.parametrize(("target", "url", "hx_target"), FRAGMENTS)
def test_a_fragment_view_that_raises_is_a_500_fragment_logged_once(
    signed_in, monkeypatch, caplog, target, url, hx_target
):
    def explode(*args, **kwargs):
        raise RuntimeError("unexpected failure in a fragment")

    monkeypatch.setattr(target, explode)
    caplog.handler.addFilter(RequestIdFilter())
    signed_in.raise_request_exception = False
    headers = {"HTTP_HX_REQUEST": "true"}
    if hx_target:
        headers["HTTP_HX_TARGET"] = hx_target
    response = signed_in.get(url, **headers)
    html = response.content.decode()
    assert response.status_code == 500
    assert "<html" not in html  # a fragment, for the swap
    assert 'role="alert"' in html
    assert response["X-Request-ID"] in html
    assert "unexpected failure" not in html
    assert "Traceback" not in html
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert errors[0].request_id == response["X-Request-ID"]
    assert errors[0].exc_info is not None  # with the stack trace
    assert "unexpected failure in a fragment" in caplog.text


def test_the_500_page_is_logged_once_with_the_same_id(signed_in, monkeypatch, caplog, api):
    api.get(f"{API}/v3/devices/", json=envelope([device(1)], total=1))

    def explode(*args, **kwargs):
        raise RuntimeError("template tag failed")

    monkeypatch.setattr("dmportal.devices.templatetags.device_rows.rows_html", explode)
    caplog.handler.addFilter(RequestIdFilter())
    signed_in.raise_request_exception = False
    response = signed_in.get("/devices/")
    assert response.status_code == 500
    assert response["X-Request-ID"] in response.content.decode()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [e.request_id for e in errors] == [response["X-Request-ID"]]
