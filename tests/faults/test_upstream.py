"""Upstream API faults (reliability checklist §2.1 and §1 E): what a signed-in person sees on a
full page and on an HTMX fragment, with both request ids, no traceback and no key, and that
the next request works. The whole stack runs: the HTTPS simulator's fault injection, a
scripted TLS server (tests/scripted_server.py) for socket-level faults, `responses` for
upstream data.

Catalogue id, fault, and the tests that cover it (bare names: this module; paths: under tests/).

U1   DNS failure
       test_dns_failure_is_unreachable_and_retried_twice
U2   connection refused
       test_refused_and_connect_timeout_end_to_end[closed_port];
       dmapi/test_client.py::test_connection_refused_is_retried_then_reported,
       core/test_error_pages.py::test_connection_refused
U3   connect timeout
       test_refused_and_connect_timeout_end_to_end[blackhole]
U4   accepts, never answers (GET; and a write: "outcome unknown")
       test_simulator_faults_end_to_end[stall],
       test_a_write_that_gets_no_answer_has_an_unknown_outcome[stall];
       dmapi/test_client.py::test_a_stalled_response_times_out
U5   slow drip
       test_a_slow_drip_is_cut_by_the_whole_response_deadline, test_a_drip_ends_in_a_timeout_page;
       dmapi/test_client.py::test_a_slow_drip_is_cut_by_the_deadline
U6   TCP reset (GET retried; a write not, "outcome unknown")
       test_simulator_faults_end_to_end[reset],
       test_a_write_that_gets_no_answer_has_an_unknown_outcome[reset];
       dmapi/test_client.py::test_reset_get_is_retried, ::test_reset_post_is_not_retried
U7   truncated body
       test_simulator_faults_end_to_end[truncated];
       dmapi/test_client.py::test_a_truncated_body_is_a_connection_failure
U8   200 with invalid JSON, HTML, an empty body, a wrong content type (a write: "outcome unknown")
       test_simulator_faults_end_to_end[non_json, wrong_content_type, empty],
       test_an_unreadable_body_is_logged_by_length_not_content,
       test_a_write_answered_2xx_with_an_unreadable_body_has_an_unknown_outcome;
       dmapi/test_client.py::test_malformed_successful_responses
U9   unexpected schema
       test_odd_shapes_of_devices_are_shown_not_a_500,
       test_a_list_that_says_more_without_an_id_is_unreadable;
       devices/test_device_detail.py::test_tolerates_missing_and_odd_fields
U10  has_more forever, a repeated cursor, empty data with has_more
       test_a_load_more_answered_with_the_same_page_stops_and_says_so,
       test_an_empty_first_page_that_claims_more_says_the_list_stops,
       test_an_empty_load_more_page_that_claims_more_stops,
       test_has_more_forever_costs_one_call_per_click;
       dmapi/test_pages.py::test_iterate_stops_* (dmapi.iterate, for code that walks a list)
U11  400 validation_error with fields
       devices/test_device_list.py::test_api_validation_error_is_mapped_onto_the_form_field,
       devices/test_device_detail.py::test_edit_maps_api_validation_errors_onto_fields_and_keeps_input
U12  401, key revoked upstream
       test_simulator_faults_end_to_end[401], test_a_revoked_key_never_opens_the_breaker;
       core/test_error_pages.py::test_full_page[401],
       accounts/test_connections.py (key_rejected_at),
       dmapi/test_breaker.py::test_4xx_answers_never_open_it
U13  403
       test_simulator_faults_end_to_end[403], core/test_error_pages.py::test_full_page[403],
       devices/test_device_detail.py::test_edit_shows_other_failures_on_the_form
U14  404
       core/test_error_pages.py::test_a_missing_device_and_a_failing_device_page,
       core/test_error_pages.py::test_a_404_on_a_list_speaks_of_the_list
U15  409
       team/test_refused_writes.py::test_a_refused_write_shows_the_error_and_keeps_the_form
       [create a group, add members to a group, invite, a duplicate, create an application]
U16  429 with Retry-After: 1
       dmapi/test_client.py::test_get_is_retried_on_429_honouring_retry_after
U17  429 with Retry-After: 3600 or a far HTTP-date
       test_simulator_faults_end_to_end[429:3600], test_odd_retry_after_values_are_never_a_500;
       dmapi/test_client.py::test_a_long_retry_after_is_reported_not_waited_for,
       core/test_error_pages.py::test_a_long_retry_after_is_said_in_minutes
U18  malformed Retry-After (soon, -5)
       test_odd_retry_after_values_are_never_a_500;
       dmapi/test_client.py::test_malformed_retry_after_falls_back_to_backoff,
       dmapi/test_client.py::test_retry_after_parsing
U19  500 with an error object
       test_simulator_faults_end_to_end[500]; dmapi/test_client.py::test_500_is_not_retried
U20  502/504 HTML page from a load balancer
       test_simulator_faults_end_to_end[502_html];
       dmapi/test_client.py::test_error_classes_from_a_bare_status_with_only_the_header
U21  503 without Retry-After
       test_simulator_faults_end_to_end[503];
       dmapi/test_client.py::test_get_is_retried_on_gateway_errors_with_capped_backoff,
       dmapi/test_client.py::test_writes_are_never_retried
U22  301/302/307/308 to another host
       test_a_redirect_is_not_followed_and_the_other_host_gets_nothing
U23  TLS: unknown CA, a certificate for another host, an expired certificate
       test_tls_failures_are_refused_and_never_retried, test_tls_failures_end_to_end;
       dmapi/test_client.py::test_an_untrusted_certificate_is_a_tls_failure_and_not_retried
U24  50 MB body, gzip bomb
       test_a_50_mb_body_is_refused_without_reading_it,
       test_an_unsized_flood_is_cut_at_the_byte_budget,
       test_a_gzip_bomb_is_cut_at_the_byte_budget, test_a_50_mb_body_end_to_end
U25  hostile strings: markup, htmx attributes, {{ }}, U+202E, CR/LF, NUL, 100 KB
       test_hostile_strings_in_the_device_list, test_hostile_strings_on_the_device_page,
       test_hostile_strings_in_an_api_error;
       devices/test_device_list.py::test_upstream_strings_are_escaped,
       team/test_groups.py::test_a_direction_override_in_a_name_cannot_reverse_the_text_after_it
U26  neither X-Request-ID nor request_id
       test_no_request_id_anywhere_still_shows_ours;
       dmapi/test_client.py::test_error_without_any_request_id
U27  slow upstream under concurrent load
       the bounded load test (tests/load/)
U28  flapping upstream
       dmapi/test_breaker.py::test_a_flapping_service_whose_retries_succeed_never_opens_it

E1   timeouts and a whole-response deadline
       U3-U5 above;
       test_budgets.py::test_gunicorn_settings_are_threaded_and_outlast_the_api_deadline
E2   narrow, bounded retries
       U16-U21 above (attempts counted at the simulator and the scripted server)
E3   one pooled session, the key per request, trust_env off
       dmapi/test_client.py::test_concurrent_users_each_send_their_own_key,
       dmapi/test_client.py::test_netrc_cannot_replace_the_authorization_header,
       dmapi/test_client.py::test_connections_are_reused_across_calls
E4   TLS always verified
       U23 above; dmapi/test_client.py::test_environment_ca_bundle_does_not_override_ours
E5   allow-listed hosts, ids checked, redirects not followed
       U22 above; dmapi/test_client.py::test_ids_are_checked_before_they_reach_a_path,
       dmapi/test_client.py::test_non_https_base_urls_are_refused
E6   total error parsing
       U8, U9, U20, U26 above; dmapi/test_client.py::test_error_classes_*
E7   statuses map to pages
       test_simulator_faults_end_to_end;
       core/test_error_pages.py::test_full_page, core/test_error_pages.py::test_htmx_fragment
E8   pagination cannot loop
       U10 above
E9   bounded resources, circuit breaker
       U24 above; test_the_circuit_breaker_end_to_end, test_a_revoked_key_never_opens_the_breaker,
       test_a_buggy_endpoint_answering_500_never_opens_the_breaker;
       dmapi/test_breaker.py; core/test_ratelimit.py (the per-user limit)
E10  cached upstream data per user
       nothing from the API is cached: every page calls it with the signed-in user's own key
       (dmapi/test_client.py::test_one_session_is_shared_by_clients_of_different_keys)
"""

import email.utils
import gzip
import html
import json
import logging
import re
import socket
import time
import tracemalloc
from html.parser import HTMLParser

import pytest

from dmportal.dmapi import ApiClient, SessionPool, shared_breaker
from dmportal.dmapi import errors as api
from dmportal.dmapi.client import MAX_BODY_BYTES
from tests.conftest import API, device, envelope, error_body, make_connection, shown_ids
from tests.faults.table import FAULTS, FIELDS
from tests.scripted_server import Reply, ScriptedServer

pytestmark = pytest.mark.django_db

DEVICES = f"{API}/v3/devices/"
HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "listing"}
LOAD_MORE = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "devices-pager"}
KEY_SHAPED = re.compile(r"ak_[A-Za-z0-9]{20,}")
DEVICE_JSON = device(1, name="Leeds boiler")


def shows_error(response, status, title, upstream=None, *, fragment=False):
    """The page or fragment says what happened, with dmportal's request id and the upstream one
    (`upstream`: the id, True for "some id", False for "none sent"), and leaks nothing."""
    body = response.content.decode()
    assert response.status_code == status, body[:800]
    assert title in html.unescape(body), body[:800]
    assert "Traceback" not in body
    assert 'File "' not in body
    assert not KEY_SHAPED.search(body)
    assert not KEY_SHAPED.search(str(response.headers))
    own = response["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", own)
    shown = shown_ids(body)
    assert own in shown
    if upstream is False:
        assert "the service sent no request id" in body
    elif upstream is True:
        assert any(i != own for i in shown), shown
    elif upstream is not None:
        assert upstream in shown
    assert ("<html" in body) is not fragment
    return body


def still_works(client):
    """The next request after a fault is served normally."""
    response = client.get("/devices/")
    assert response.status_code == 200, response.content[:500]
    assert 'id="devices-table"' in response.content.decode()


@pytest.fixture
def server():
    server = ScriptedServer()
    yield server
    server.close()


def portal_on(client, user, settings, base_url, ca_path, *, timeout=1.0):
    """`client` signed in as `user`, whose one connection is to `base_url`."""
    settings.DMPORTAL_API_HOSTS = [base_url]
    settings.DMPORTAL_API_CA_BUNDLE = ca_path
    settings.DMPORTAL_API_TIMEOUT = timeout
    make_connection(user, host=base_url)
    client.force_login(user)
    return client


def list_body(*items, has_more=False):
    return envelope(list(items), has_more=has_more)


def device_list_reply():
    return Reply(200, list_body(dict(DEVICE_JSON)))


# -- the simulator's faults, whole stack ---------------------------------------------------------


@pytest.mark.parametrize(FIELDS, FAULTS)
def test_simulator_faults_end_to_end(
    sim_client, sim, settings, fault, attempts, status, title, upstream
):
    settings.DMPORTAL_API_TIMEOUT = 1
    sim.faults.add(fault=fault, path_prefix="/v3/devices/", count=2 * attempts)
    before = sim.stats()["requests_total"]
    shows_error(sim_client.get("/devices/"), status, title, upstream)
    shows_error(sim_client.get("/devices/", **HTMX), status, title, upstream, fragment=True)
    # Retries are bounded and only where they belong (a 429 asking for an hour is not waited
    # for, nor retried): exactly the faulty answers reached the simulator.
    assert sim.stats()["requests_total"] - before == 2 * attempts
    still_works(sim_client)


def test_an_unreadable_body_is_logged_by_length_not_content(sim_client, sim, caplog):
    caplog.set_level(logging.INFO)
    sim.faults.add(fault="non_json", path_prefix="/v3/devices/", count=1)
    shows_error(sim_client.get("/devices/"), 502, "unreadable response", True)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "bytes" in text
    assert "<html" not in text.lower()


# -- connecting ---------------------------------------------------------------------------------


def test_dns_failure_is_unreachable_and_retried_twice(client, user, settings, caplog):
    caplog.set_level(logging.INFO, logger="dmportal.dmapi")
    portal = portal_on(client, user, settings, "https://dm.invalid", None)
    body = shows_error(portal.get("/devices/"), 502, "could not be reached", False)
    assert "could not be resolved" in body
    shows_error(portal.get("/devices/", **HTMX), 502, "could not be reached", False, fragment=True)
    calls = [r.getMessage() for r in caplog.records if r.name == "dmportal.dmapi"]
    assert len(calls) == 2
    assert all("3 attempts" in c and "ConnectionFailed" in c for c in calls)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("dm.invalid" in w for w in warnings)
    assert not KEY_SHAPED.search(caplog.text)
    assert portal.get("/connections/").status_code == 200  # the rest of dmportal still works


@pytest.fixture
def blackhole():
    """A port whose listen queue is full: connecting to it times out (nothing ever answers)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    filler = socket.create_connection(listener.getsockname())  # takes the one queue slot
    yield f"https://127.0.0.1:{listener.getsockname()[1]}"
    filler.close()
    listener.close()


@pytest.fixture
def closed_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"https://127.0.0.1:{probe.getsockname()[1]}"


@pytest.mark.parametrize(
    ("target", "status", "title"),
    [
        ("closed_port", 502, "could not be reached"),
        ("blackhole", 504, "did not answer in time"),
    ],
)
def test_refused_and_connect_timeout_end_to_end(
    request, client, user, settings, server, caplog, target, status, title
):
    caplog.set_level(logging.INFO, logger="dmportal.dmapi")
    base_url = request.getfixturevalue(target)
    portal = portal_on(client, user, settings, base_url, server.ca_path, timeout=0.3)
    shows_error(portal.get("/devices/"), status, title, False)
    shows_error(portal.get("/devices/", **HTMX), status, title, False, fragment=True)
    calls = [r.getMessage() for r in caplog.records if r.name == "dmportal.dmapi"]
    assert len(calls) == 2
    assert all("3 attempts" in c for c in calls)  # connection failures are retried, twice


# -- answering slowly ---------------------------------------------------------------------------


def dripping_list():
    # 300 bytes at one every 0.3 s: each byte comes well within the read timeout, so only the
    # whole-response deadline can end it.
    body = json.dumps({**list_body(), "pad": "x" * 250}).encode()
    return Reply(200, body, action="drip")


def test_a_slow_drip_is_cut_by_the_whole_response_deadline(server):
    server.script([dripping_list()])
    client = ApiClient(
        server.base_url, "ak_" + "D" * 40, ca_bundle=server.ca_path, timeout=1, pool=SessionPool()
    )
    with pytest.raises(api.Timeout) as info:
        client.page("/v3/devices/")
    assert "The whole response did not arrive within 1 s" in str(info.value)
    assert len(server.requests) == 1  # a read timeout is not retried


def test_a_drip_ends_in_a_timeout_page(client, user, settings, server):
    portal = portal_on(client, user, settings, server.base_url, server.ca_path)
    server.script([dripping_list(), dripping_list()])
    shows_error(portal.get("/devices/"), 504, "did not answer in time", False)
    shows_error(
        portal.get("/devices/", **HTMX), 504, "did not answer in time", False, fragment=True
    )
    assert len(server.requests) == 2
    server.script([device_list_reply()])
    still_works(portal)


@pytest.mark.parametrize("action", ["stall", "reset"])
def test_a_write_that_gets_no_answer_has_an_unknown_outcome(client, user, settings, server, action):
    from dmportal.accounts.models import ActivityEntry

    portal = portal_on(client, user, settings, server.base_url, server.ca_path, timeout=0.5)
    device_id = DEVICE_JSON["id"]
    server.script([Reply(200, dict(DEVICE_JSON)), Reply(action=action)])
    response = portal.post(f"/devices/{device_id}/edit/", {"name": "New name"})
    body = response.content.decode()
    assert "The outcome of this change is unknown" in body
    assert "may or may not have been made" in body
    assert "Reload the page" in body
    assert 'value="New name"' in body  # what was typed is kept
    assert response["X-Request-ID"] in body
    assert "Traceback" not in body
    assert [r.method for r in server.requests] == ["GET", "PUT"]  # the write was not retried
    # Not "failed": it may have been made.
    assert ActivityEntry.objects.get(action="device.update").result == "unknown"


def test_a_write_answered_2xx_with_an_unreadable_body_has_an_unknown_outcome(
    client, user, settings, server
):
    from dmportal.accounts.models import ActivityEntry

    portal = portal_on(client, user, settings, server.base_url, server.ca_path)
    device_id = DEVICE_JSON["id"]
    html = Reply(200, b"<html>Saved</html>", headers={"Content-Type": "text/html"})
    server.script([Reply(200, dict(DEVICE_JSON)), html])
    response = portal.post(f"/devices/{device_id}/edit/", {"name": "New name"})
    body = response.content.decode()
    assert "The outcome of this change is unknown" in body
    assert "accepted the change" in body
    assert 'value="New name"' in body
    assert ActivityEntry.objects.get(action="device.update").result == "unknown"


# -- what the answer says -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "retry_after", "our_status", "title"),
    [
        (429, "soon", 429, "Rate limited: retry in a few seconds"),
        (429, "-5", 429, "Rate limited: retry in a few seconds"),
        (503, "soon", 503, "The Device Management service is busy"),
        (503, "-5", 503, "The Device Management service is busy"),
        (429, "http-date", 429, "Rate limited: retry in about 24 hours"),
    ],
)
def test_odd_retry_after_values_are_never_a_500(
    client, user, settings, server, status, retry_after, our_status, title
):
    if retry_after == "http-date":
        retry_after = email.utils.formatdate(time.time() + 86400 + 30, usegmt=True)
    portal = portal_on(client, user, settings, server.base_url, server.ca_path)
    reply = Reply(status, error_body(status, "too_many"), headers={"Retry-After": retry_after})
    server.script([reply] * 3)
    shows_error(portal.get("/devices/"), our_status, title, "up-req-1")
    # An unusable value falls back to the capped backoff (three attempts); an hour or a day is
    # reported at once, never waited for.
    assert len(server.requests) == (1 if "hours" in title else 3)
    server.script([device_list_reply()])
    still_works(portal)


def test_no_request_id_anywhere_still_shows_ours(client, user, settings, server):
    portal = portal_on(client, user, settings, server.base_url, server.ca_path)
    server.script([Reply(500, b"")] * 2)
    shows_error(portal.get("/devices/"), 502, "service failed", False)
    shows_error(portal.get("/devices/", **HTMX), 502, "service failed", False, fragment=True)
    server.script([device_list_reply()])
    still_works(portal)


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_not_followed_and_the_other_host_gets_nothing(
    client, user, settings, server, status
):
    elsewhere = ScriptedServer(ca=server.ca)  # a second listener the API points at
    try:
        portal = portal_on(client, user, settings, server.base_url, server.ca_path)
        moved = Reply(status, b"", headers={"Location": f"{elsewhere.base_url}/v3/devices/"})
        server.script([moved, moved])
        body = shows_error(portal.get("/devices/"), 502, "which is never followed", False)
        assert f"HTTP {status}" in body
        shows_error(portal.get("/devices/", **HTMX), 502, "never followed", False, fragment=True)
        assert len(server.requests) == 2  # not retried either
        assert elsewhere.connections == 0
        assert elsewhere.requests == []
        assert elsewhere.base_url not in body
    finally:
        elsewhere.close()
    server.script([device_list_reply()])
    still_works(portal)


# -- TLS ----------------------------------------------------------------------------------------

TLS_CASES = {
    "unknown CA": ({}, False, "unable to get local issuer certificate"),
    "wrong host": ({"cert_hosts": ["api.other.test"]}, True, "mismatch"),
    "expired": ({"cert_expired": True}, True, "certificate has expired"),
}


@pytest.fixture(params=list(TLS_CASES))
def bad_tls(request):
    options, trusted_ca, reason = TLS_CASES[request.param]
    server = ScriptedServer(**options)
    untrusted = ScriptedServer()  # only its CA file is used: a CA that signed nothing here
    yield server, (server.ca_path if trusted_ca else untrusted.ca_path), reason
    untrusted.close()
    server.close()


def test_tls_failures_are_refused_and_never_retried(bad_tls):
    server, ca_path, reason = bad_tls
    client = ApiClient(
        server.base_url, "ak_" + "T" * 40, ca_bundle=ca_path, pool=SessionPool(), sleep=None
    )
    with pytest.raises(api.TLSFailure) as info:
        client.page("/v3/devices/")
    assert reason in str(info.value)
    assert server.connections == 1  # one handshake, not retried (sleep=None would fail)
    assert server.requests == []  # nothing, the key least of all, was sent


def test_tls_failures_end_to_end(client, user, settings, bad_tls, caplog):
    server, ca_path, reason = bad_tls
    portal = portal_on(client, user, settings, server.base_url, ca_path)
    body = shows_error(portal.get("/devices/"), 502, "certificate could not be verified", False)
    assert reason in body
    shows_error(portal.get("/devices/", **HTMX), 502, "certificate", False, fragment=True)
    assert server.requests == []
    logged = [r for r in caplog.records if "TLSFailure" in r.getMessage()]
    assert len(logged) == 2
    assert all(r.levelno == logging.WARNING and reason in r.getMessage() for r in logged)


# -- too much -----------------------------------------------------------------------------------

FIFTY_MB = 50 * 1024 * 1024


def grown_while(call):
    """Peak Python memory allocated while `call()` ran, in bytes (and what it raised)."""
    tracemalloc.start()
    try:
        try:
            call()
        except api.ApiError as exc:
            error = exc
        else:
            error = None
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, error


def live_client(server):
    return ApiClient(
        server.base_url, "ak_" + "M" * 40, ca_bundle=server.ca_path, pool=SessionPool()
    )


def test_a_50_mb_body_is_refused_without_reading_it(server):
    server.script([Reply(200, action="flood", size=FIFTY_MB)])
    peak, error = grown_while(lambda: live_client(server).page("/v3/devices/"))
    assert isinstance(error, api.MalformedResponse)
    assert "larger than 10 MB" in str(error)
    assert peak < 2 * 1024 * 1024  # announced too large: not one body byte was kept
    assert len(server.requests) == 1


def test_an_unsized_flood_is_cut_at_the_byte_budget(server):
    server.script([Reply(200, action="flood_unsized", size=FIFTY_MB)])
    peak, error = grown_while(lambda: live_client(server).page("/v3/devices/"))
    assert isinstance(error, api.MalformedResponse)
    assert "larger than 10 MB" in str(error)
    assert peak < MAX_BODY_BYTES + 4 * 1024 * 1024  # the budget, not the 50 MB
    assert server.bytes_sent < FIFTY_MB  # the connection was dropped, not drained


def test_a_gzip_bomb_is_cut_at_the_byte_budget(server):
    bomb = gzip.compress(b" " * FIFTY_MB, compresslevel=9)  # ~50 KB on the wire
    assert len(bomb) < 100_000
    server.script([Reply(200, bomb, headers={"Content-Encoding": "gzip"})])
    peak, error = grown_while(lambda: live_client(server).page("/v3/devices/"))
    assert isinstance(error, api.MalformedResponse)
    assert peak < MAX_BODY_BYTES + 4 * 1024 * 1024


def test_a_50_mb_body_end_to_end(client, user, settings, server):
    portal = portal_on(client, user, settings, server.base_url, server.ca_path)
    server.script([Reply(200, action="flood", size=FIFTY_MB)] * 2)
    body = shows_error(portal.get("/devices/"), 502, "unreadable response", False)
    assert "larger than 10 MB" in body
    shows_error(portal.get("/devices/", **HTMX), 502, "unreadable", False, fragment=True)
    server.script([device_list_reply()])
    still_works(portal)


# -- what the data says -------------------------------------------------------------------------

HOSTILE = {
    "script": "<script>alert(1)</script>",
    "img": '"><img src=x onerror=alert(2)>',
    "htmx": '<a hx-get="/logout" hx-trigger="load">x</a>',
    "template": "{{7*7}}{% debug %}",
    "bidi": "evil\u202etxt.exe",
    "crlf": "line1\r\nline2",
    "nul": "nul\x00byte",
}
LONG_NAME = "N" * 100_000


class Elements(HTMLParser):
    """Every element and attribute of a page, as a browser's parser would see them."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.tags = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def nothing_injected(body):
    """No element or attribute from the hostile strings made it into the page."""
    elements = Elements(body).tags
    for tag, attrs in elements:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        assert attrs.get("hx-get") != "/logout", (tag, attrs)
        assert not (tag == "script" and "src" not in attrs), (tag, attrs)
        assert tag != "img"
    assert "<script>alert" not in body
    for bad in ("\u202e", "\x00", "line1\r\nline2"):
        assert bad not in body
    assert "N" * 1000 not in body  # a 100 KB name is cut for display


def hostile_devices():
    items = [device(i, name=value, description=value) for i, value in enumerate(HOSTILE.values())]
    items.append(device(len(HOSTILE), name=LONG_NAME, serial_number=HOSTILE["img"]))
    return items


def test_hostile_strings_in_the_device_list(signed_in, api):
    items = hostile_devices()
    api.get(DEVICES, json=envelope(items, has_more=True, total=99))
    for response in (
        signed_in.get("/devices/"),
        signed_in.get("/devices/", **HTMX),
        signed_in.get(f"/devices/?after={'0' * 32}", **LOAD_MORE),
    ):
        assert response.status_code == 200
        body = response.content.decode()
        nothing_injected(body)
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
        assert HOSTILE["template"] in html.unescape(body)  # shown as text, never evaluated
        assert "evil txt.exe" in body  # the override is neutralised, the text kept
        assert "line1  line2" in body


def test_hostile_strings_on_the_device_page(signed_in, api):
    device_id = "0" * 31 + "7"
    for value in [*HOSTILE.values(), LONG_NAME]:
        api.upsert(
            api.GET,
            f"{API}/v3/devices/{device_id}/",
            json=device(7, id=device_id, name=value, description=value),
        )
        response = signed_in.get(f"/devices/{device_id}/")
        assert response.status_code == 200
        shown, raw = response.content.decode().split('<details class="raw">')
        nothing_injected(shown)
        title = re.search(r"<title>(.*?)</title>", shown, re.S).group(1)
        assert len(title) < 600
        if value == HOSTILE["template"]:
            assert value in html.unescape(shown)  # shown as text, never evaluated
        # "All fields as the API returned them": JSON-escaped text in a <pre>, uncut.
        nothing_injected(raw.replace("N" * 1000, ""))


def test_hostile_strings_in_an_api_error(signed_in, api):
    body = error_body(
        400,
        HOSTILE["img"],
        message=" ".join(HOSTILE.values()) + LONG_NAME,
        request_id=HOSTILE["script"],
        fields=[(HOSTILE["htmx"], HOSTILE["script"]), ("name", HOSTILE["bidi"])],
    )
    api.get(DEVICES, status=400, json=body)
    for response in (signed_in.get("/devices/"), signed_in.get("/devices/", **HTMX)):
        page = response.content.decode()
        assert response.status_code == 400
        nothing_injected(page)
        assert response["X-Request-ID"] in page
        assert "Traceback" not in page


def test_odd_shapes_of_devices_are_shown_not_a_500(signed_in, api):
    odd = [
        {"id": "0" * 32, "name": None, "state": None, "created_at": None},
        {"id": "1" * 32, "name": 12345, "state": ["registered"], "created_at": "yesterday"},
        {"id": 42, "name": {"nested": {"deeper": [1, 2, {"x": None}]}}, "updated_at": 10**30},
        {"name": "no id at all", "lifecycle_status": True, "serial_number": 1.5e300},
        {"id": "2" * 32, "extra": "fields", "groups": "not a list", "custom_attributes": [1]},
    ]
    api.get(DEVICES, json=envelope(odd, total="many"))
    for response in (signed_in.get("/devices/"), signed_in.get("/devices/", **HTMX)):
        body = response.content.decode()
        assert response.status_code == 200, body[:500]
        assert "12345" in body
        assert "no id at all" in body
        assert 'href="/devices/42/"' not in body
    api.get(f"{API}/v3/devices/{'2' * 32}/", json=odd[4])
    assert signed_in.get(f"/devices/{'2' * 32}/").status_code == 200


def test_a_list_that_says_more_without_an_id_is_unreadable(signed_in, api):
    api.get(
        DEVICES, json=envelope([{"name": "no id"}], has_more=True), headers={"X-Request-ID": "u9"}
    )
    shows_error(signed_in.get("/devices/"), 502, "unreadable response", "u9")


# -- lists that do not end ----------------------------------------------------------------------


def test_a_load_more_answered_with_the_same_page_stops_and_says_so(signed_in, api):
    items = [device(i) for i in range(3)]
    api.get(DEVICES, json=envelope(items, has_more=True, total=9), headers={"X-Request-ID": "r1"})
    first = signed_in.get("/devices/").content.decode()
    cursor = items[-1]["id"]
    assert f"after={cursor}" in first
    # The API ignores `after` and answers the same page again.
    rows = signed_in.get(f"/devices/?after={cursor}", **LOAD_MORE)
    body = rows.content.decode()
    assert rows.status_code == 200
    assert "Load more" not in body
    assert "The list stops here: the API sent the page it was asked to continue from again" in body
    assert "r1" in shown_ids(body)
    assert len(api.calls) == 2


def test_an_empty_first_page_that_claims_more_says_the_list_stops(signed_in, api):
    api.get(DEVICES, json=envelope([], has_more=True, total=10), headers={"X-Request-ID": "r2"})
    for response in (signed_in.get("/devices/"), signed_in.get("/devices/", **HTMX)):
        body = response.content.decode()
        assert response.status_code == 200
        assert "The list stops here: the API said there is more but sent an empty page" in body
        assert "here yet" not in body  # not presented as an empty account
        assert "Load more" not in body
    assert len(api.calls) == 2


def test_an_empty_load_more_page_that_claims_more_stops(signed_in, api):
    api.get(DEVICES, json=envelope([], has_more=True))
    body = signed_in.get(f"/devices/?after={'0' * 32}", **LOAD_MORE).content.decode()
    assert "The list stops here: the API said there is more but sent an empty page" in body
    assert "Load more" not in body
    assert len(api.calls) == 1


def test_has_more_forever_costs_one_call_per_click(signed_in, api):
    # dmportal never walks a list by itself: each "load more" is one call, and each answer
    # offers the next one, however long the API keeps saying there is more.
    counter = iter(range(1, 10**6))

    def endless(request):
        return 200, {}, json.dumps(envelope([device(next(counter))], has_more=True))

    api.add_callback(api.GET, DEVICES, callback=endless, content_type="application/json")
    cursor = "0" * 32
    for clicks in range(1, 6):
        body = signed_in.get(f"/devices/?after={cursor}", **LOAD_MORE).content.decode()
        cursor = re.search(r"after=([0-9a-f]{32})", body).group(1)
        assert len(api.calls) == clicks


# -- the circuit breaker ------------------------------------------------------------------------


def test_the_circuit_breaker_end_to_end(sim_client, sim, settings, monkeypatch):
    settings.DMPORTAL_API_BREAKER_FAILURES = 3
    settings.DMPORTAL_API_BREAKER_SECONDS = 30
    breaker = shared_breaker(3, 30)
    now = [5000.0]
    monkeypatch.setattr(breaker, "clock", lambda: now[0])
    sim.faults.add(fault="502_html", path_prefix="/v3/devices/")  # a gateway: the API is down
    before = sim.stats()["requests_total"]
    for _ in range(3):
        shows_error(sim_client.get("/devices/"), 503, "The Device Management service is busy", True)
    assert sim.stats()["requests_total"] - before == 3 * 3  # each call retried twice
    title = "Device Management is unavailable"
    said = "dmportal stopped calling it for 30 s after 3 failures in a row"
    page = sim_client.get("/devices/")
    assert said in shows_error(page, 503, title, False)
    assert page["Retry-After"] == "30"
    assert said in shows_error(
        sim_client.get("/devices/", **HTMX), 503, title, False, fragment=True
    )
    assert sim.stats()["requests_total"] - before == 3 * 3  # failed fast: nothing was sent
    # The service recovers; after the window one trial call goes, and its success closes it.
    sim.faults.clear()
    now[0] += 29
    shows_error(sim_client.get("/devices/"), 503, title, False)
    now[0] += 1
    still_works(sim_client)
    still_works(sim_client)
    assert sim.stats()["requests_total"] - before == 3 * 3 + 2


def test_a_buggy_endpoint_answering_500_never_opens_the_breaker(sim_client, sim, settings):
    # The breaker is shared by every user of the API host: a 500 is an answer about one
    # request (the service is up), and must not make every user's pages fail fast.
    settings.DMPORTAL_API_BREAKER_FAILURES = 2
    sim.faults.add(fault="500", path_prefix="/v3/devices/", count=5)
    before = sim.stats()["requests_total"]
    for _ in range(5):
        shows_error(sim_client.get("/devices/"), 502, "The Device Management service failed", True)
    assert sim.stats()["requests_total"] - before == 5  # all sent: none failed fast
    still_works(sim_client)


def test_a_revoked_key_never_opens_the_breaker(sim_client, sim, settings):
    settings.DMPORTAL_API_BREAKER_FAILURES = 2
    sim.faults.add(fault="401", path_prefix="/v3/devices/", count=5)
    for _ in range(5):
        shows_error(sim_client.get("/devices/"), 403, "The API key was rejected", True)
    still_works(sim_client)
