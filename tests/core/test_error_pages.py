"""Every fault the simulator can inject becomes a clear page or fragment with request ids,
never a Django 500 or a traceback. DEBUG is off, as in production."""

import logging
import re
import socket

import pytest
import trustme
from django.conf import settings

from dmportal.core.logging import RequestIdFilter
from tests.conftest import first_device_id, make_connection, shown_ids, use_simulator
from tests.faults.table import FAULTS, FIELDS

pytestmark = pytest.mark.django_db

HEX32 = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def portal(client, user, settings, fresh_simulator):
    use_simulator(settings, fresh_simulator)
    settings.DMPORTAL_API_TIMEOUT = 1
    make_connection(user, key=fresh_simulator.keys.admin, host=fresh_simulator.base_url)
    client.force_login(user)
    return client


def check_error(response, status, title, upstream_shown):
    html = response.content.decode()
    assert response.status_code == status, html[:500]
    assert title in html
    assert "Traceback" not in html
    assert 'File "' not in html
    own = response["X-Request-ID"]
    assert own in html  # dmportal's own request id, always
    assert "Copy request ids" in html
    ids = shown_ids(html)
    if upstream_shown:
        assert any(HEX32.fullmatch(i) and i != own for i in ids), ids
    else:
        assert "the service sent no request id" in html
    return html


@pytest.mark.parametrize(FIELDS, FAULTS)
def test_full_page(portal, fresh_simulator, fault, attempts, status, title, upstream):
    fresh_simulator.faults.add(fault=fault, path_prefix="/v3/devices/", count=attempts)
    html = check_error(portal.get("/devices/"), status, title, upstream)
    assert "<html" in html
    assert 'id="listing"' in html  # the filter form is still there


@pytest.mark.parametrize(FIELDS, FAULTS)
def test_htmx_fragment(portal, fresh_simulator, fault, attempts, status, title, upstream):
    fresh_simulator.faults.add(fault=fault, path_prefix="/v3/devices/", count=attempts)
    response = portal.get("/devices/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="listing")
    html = check_error(response, status, title, upstream)
    assert "<html" not in html


@pytest.mark.parametrize(FIELDS, FAULTS[:3])
def test_load_more_errors_go_to_the_status_line(
    portal, fresh_simulator, fault, attempts, status, title, upstream
):
    fresh_simulator.faults.add(fault=fault, path_prefix="/v3/devices/", count=attempts)
    response = portal.get(
        "/devices/?after=" + "0" * 32, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="devices-pager"
    )
    check_error(response, status, title, upstream)
    assert response["HX-Retarget"] == "#devices-status"
    assert response["HX-Reswap"] == "innerHTML"


def test_a_missing_device_and_a_failing_device_page(portal, fresh_simulator):
    check_error(portal.get("/devices/" + "0" * 31 + "9/"), 404, "That device does not exist", True)
    listing = portal.get("/devices/?limit=2").content.decode()
    real_id = first_device_id(listing)
    fresh_simulator.faults.add(fault="500", path_prefix=f"/v3/devices/{real_id}/", count=1)
    check_error(portal.get(f"/devices/{real_id}/"), 502, "service failed", True)
    assert portal.get(f"/devices/{real_id}/").status_code == 200


def test_a_failing_panel_shows_its_own_error(portal, fresh_simulator):
    listing = portal.get("/devices/?limit=2").content.decode()
    device_id = first_device_id(listing)
    assert portal.get(f"/devices/{device_id}/").status_code == 200
    fresh_simulator.faults.add(fault="503", path_prefix="/v3/device-events/", count=3)
    panel = portal.get(
        f"/devices/{device_id}/events/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="events-panel"
    )
    html = check_error(panel, 503, "busy", True)
    assert "<html" not in html


def test_tls_failure(portal, settings, tmp_path):
    other = tmp_path / "other.pem"
    other.write_bytes(trustme.CA().cert_pem.bytes())
    settings.DMPORTAL_API_CA_BUNDLE = str(other)
    check_error(portal.get("/devices/"), 502, "certificate could not be verified", False)


def test_connection_refused(client, user, settings, fresh_simulator):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    host = f"https://127.0.0.1:{port}"
    settings.DMPORTAL_API_HOSTS = [host]
    settings.DMPORTAL_API_CA_BUNDLE = str(fresh_simulator.ca_cert_path)
    make_connection(user, host=host)
    client.force_login(user)
    check_error(client.get("/devices/"), 502, "could not be reached", False)


def test_a_long_retry_after_is_said_in_minutes(portal, fresh_simulator):
    fresh_simulator.faults.add(fault="429:3600", path_prefix="/v3/devices/", count=1)
    response = portal.get("/devices/")
    assert "about 60 minutes" in response.content.decode()
    assert response["Retry-After"] == "3600"


def test_djangos_own_404_is_styled_with_the_request_id(signed_in):
    response = signed_in.get("/no/such/page/")
    html = response.content.decode()
    assert response.status_code == 404
    assert "Page not found" in html
    assert response["X-Request-ID"] in html
    fragment = signed_in.get("/no/such/page/", HTTP_HX_REQUEST="true")
    assert "<html" not in fragment.content.decode()
    for shown in (html, fragment.content.decode()):  # the error partial of every other error
        assert 'data-error-kind="page_not_found"' in shown
        assert "Copy request ids" in shown
        assert "Upstream request id" not in shown  # dmportal's own page: nothing upstream


def test_an_unhandled_exception_is_a_styled_500_logged_once(signed_in, monkeypatch, caplog):
    def explode(*args, **kwargs):
        raise RuntimeError("unexpected")

    monkeypatch.setattr("dmportal.devices.views.resources.device_page", explode)
    caplog.handler.addFilter(RequestIdFilter())
    signed_in.raise_request_exception = False
    response = signed_in.get("/devices/")
    html = response.content.decode()
    assert response.status_code == 500
    assert "dmportal failed" in html
    assert response["X-Request-ID"] in html
    assert "Traceback" not in html
    assert "unexpected" not in html
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert errors[0].request_id == response["X-Request-ID"]
    fragment = signed_in.get("/devices/", HTTP_HX_REQUEST="true")
    assert fragment.status_code == 500
    assert "<html" not in fragment.content.decode()


def test_api_log_lines_carry_both_request_ids(portal, caplog):
    caplog.set_level(logging.INFO)
    caplog.handler.addFilter(RequestIdFilter())
    response = portal.get("/devices/?limit=2")
    records = [r for r in caplog.records if r.name == "dmportal.dmapi"]
    assert len(records) == 1
    assert records[0].request_id == response["X-Request-ID"]
    assert HEX32.search(records[0].getMessage())  # the upstream request id


def test_log_lines_redact_key_shaped_text_without_touching_the_record():
    from dmportal.core.logging import RedactingFormatter

    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "key %s and %s", ("ak_" + "Q" * 40, "Bearer abc.def"), None
    )
    line = RedactingFormatter("%(message)s").format(record)
    assert line == "key [redacted] and [redacted]"
    assert record.getMessage() == f"key ak_{'Q' * 40} and Bearer abc.def"


def test_a_404_on_a_list_speaks_of_the_list(portal, fresh_simulator):
    fresh_simulator.faults.add(fault="404", path_prefix="/v3/devices/", count=1)
    check_error(portal.get("/devices/"), 404, "The API could not find this list", True)


# -- dmportal's own refusals and failures ---------------------------------------------------------


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_a_query_string_that_is_not_utf8_is_refused_by_dmportal_not_the_api(signed_in, api, htmx):
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    response = signed_in.get("/devices/?name__in=%FF", **headers)
    html = response.content.decode()
    assert response.status_code == 400
    assert "dmportal refused this request" in html
    assert "not UTF-8), so nothing was searched" in html
    assert "The API said" not in html  # nothing was sent upstream: the API said nothing
    assert "none: nothing was sent to Device Management" in html
    assert "the service sent no request id" not in html
    assert response["X-Request-ID"] in html
    assert ("<html" in html) is not htmx
    assert len(api.calls) == 0


def test_a_request_the_client_refused_to_send_does_not_quote_the_api(signed_in, api):
    # dmapi's InvalidRequest is raised before sending: its words are dmportal's own.
    response = signed_in.get("/devices/", {"after": "no/such/cursor"})
    html = response.content.decode()
    assert response.status_code == 400
    assert "That request is not valid" in html
    assert "The “load more” cursor in this link is not an id." in html
    assert "The API said" not in html
    assert "none: nothing was sent to Device Management" in html
    assert len(api.calls) == 0


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_the_500_handler_needs_no_query(rf, user, htmx, django_assert_num_queries):
    """The database (or the session, the user, the header) may be what failed: the 500 page
    and fragment are drawn from the request alone."""
    from django.contrib.auth.middleware import AuthenticationMiddleware
    from django.contrib.sessions.middleware import SessionMiddleware

    from dmportal.core.views import server_error

    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    request = rf.get("/devices/", **headers)
    request.COOKIES[settings.SESSION_COOKIE_NAME] = "a" * 32  # loading it would be a query
    SessionMiddleware(lambda r: None).process_request(request)
    AuthenticationMiddleware(lambda r: None).process_request(request)
    request.request_id = "f" * 32
    try:
        raise RuntimeError("internal detail")
    except RuntimeError:
        with django_assert_num_queries(0):
            response = server_error(request)
    html = response.content.decode()
    assert response.status_code == 500
    assert "dmportal failed" in html
    assert "f" * 32 in html
    assert "Copy request ids" in html  # the request-ids box of every other error page
    assert "internal detail" not in html
    assert "no-store" in response["Cache-Control"]
    assert ("<html" in html) is not htmx


def test_djangos_log_line_of_an_error_answer_carries_its_request_id(signed_in, caplog):
    # Django logs a 4xx/5xx answer ("Not Found: ...") once every middleware has returned.
    caplog.handler.addFilter(RequestIdFilter())
    response = signed_in.get("/no/such/page/")
    [line] = [r for r in caplog.records if r.name == "django.request"]
    assert line.getMessage() == "Not Found: /no/such/page/"
    assert line.request_id == response["X-Request-ID"]
