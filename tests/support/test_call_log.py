"""The recent-calls log: written once per request, bounded per user, never a key, findable
by request id; and its page."""

from datetime import UTC, datetime

import pytest
import requests
from django.db import connection as db
from django.test import Client
from django.test.utils import CaptureQueriesContext

from dmportal.accounts.services import user_preferences
from dmportal.dmapi import CallRecord
from dmportal.support.models import ApiCall
from dmportal.support.services import call_log_save
from tests.conftest import (
    API,
    SENTINEL_KEY,
    device,
    envelope,
    error_body,
    joined_ids,
    make_connection,
)

pytestmark = pytest.mark.django_db
DEVICES = f"{API}/v3/devices/"
ACCOUNT = "a" * 32


def make_call(user, n=0, **fields):
    values = {
        "user": user,
        "connection_label": "Acme production",
        "api_host": API,
        "account_id": ACCOUNT,
        "method": "GET",
        "path": f"/v3/devices/?n={n}",
        "status": 200,
        "duration_ms": 12,
        "upstream_request_id": f"up{n:030d}",
        "request_id": f"dm{n:030d}",
    }
    values.update(fields)
    return ApiCall.objects.create(**values)


# -- writing the log -----------------------------------------------------------------------------


def test_each_api_call_of_a_request_is_stored_with_both_request_ids(signed_in, api, user):
    api.get(DEVICES, json=envelope([device(1)], total=1), headers={"X-Request-ID": "up-list-1"})
    response = signed_in.get("/devices/?state__eq=registered")
    assert response.status_code == 200
    call = ApiCall.objects.get()
    assert call.user == user
    assert (call.connection_label, call.account_id) == ("Acme production", ACCOUNT)
    assert call.method == "GET"
    assert call.path == (
        "/v3/devices/?state__eq=registered&limit=50&order=DESC&include=total_count"
    )
    assert call.status == 200
    assert call.error == ""
    assert call.attempts == 1
    assert call.duration_ms >= 0
    assert call.upstream_request_id == "up-list-1"
    assert call.request_id == response["X-Request-ID"]


def test_a_failed_call_is_stored_with_its_error(signed_in, api):
    api.get(DEVICES, status=500, json=error_body(500, "internal_error", request_id="up-500"))
    response = signed_in.get("/devices/")
    assert response.status_code == 502
    call = ApiCall.objects.get()
    assert (call.status, call.error, call.upstream_request_id) == (500, "ServerError", "up-500")
    assert call.request_id == response["X-Request-ID"]


def test_a_call_that_got_no_answer_is_stored_without_status(signed_in, api):
    api.get(DEVICES, body=requests.exceptions.ConnectionError("refused"))
    signed_in.get("/devices/")
    call = ApiCall.objects.get()
    assert call.status is None
    assert call.error == "ConnectionFailed"
    assert call.attempts == 3  # a GET is retried twice on a connection failure
    assert call.upstream_request_id == ""


def test_the_log_never_holds_the_key(signed_in, api):
    api.get(DEVICES, json=envelope([device(1)], total=1))
    api.get(f"{API}/v3/devices/{1:032x}/", status=404, json=error_body(404, "not_found"))
    signed_in.get("/devices/")
    signed_in.get(f"/devices/{1:032x}/")
    signed_in.get("/support/search/", {"q": "SN-1"})
    rows = list(ApiCall.objects.values())
    assert len(rows) == 6
    for row in rows:
        for value in row.values():
            assert SENTINEL_KEY not in str(value)
            assert "ak_" not in str(value)
            assert "Bearer" not in str(value)
    assert api.calls[0].request.headers["Authorization"] == f"Bearer {SENTINEL_KEY}"


def test_requests_without_api_calls_and_anonymous_requests_write_nothing(client, signed_in):
    signed_in.get("/support/")
    Client().get("/accounts/login/")
    assert ApiCall.objects.count() == 0


def test_the_log_is_bounded_per_user_keeping_the_newest(
    signed_in, api, user, other_user, settings, monkeypatch
):
    monkeypatch.setattr("dmportal.support.services.PRUNE_EVERY", 1)
    settings.DMPORTAL_CALL_LOG_SIZE = 5
    make_call(other_user, 99)
    api.get(DEVICES, json=envelope([], total=0))
    request_ids = [signed_in.get("/devices/")["X-Request-ID"] for _ in range(8)]
    kept = list(ApiCall.objects.filter(user=user).values_list("request_id", flat=True))
    assert kept == list(reversed(request_ids[-5:]))
    assert ApiCall.objects.filter(user=other_user).count() == 1  # someone else's log is theirs


def test_saving_costs_one_insert_and_one_indexed_lookup(user, connection, settings, monkeypatch):
    monkeypatch.setattr("dmportal.support.services.PRUNE_EVERY", 1)
    settings.DMPORTAL_CALL_LOG_SIZE = 3

    class Request:
        api_calls = [
            CallRecord("GET", f"/v3/devices/?n={n}", 200, 1.5, f"up{n}", 1) for n in range(2)
        ]
        request_id = "f" * 32
        _dm_connection = connection

    Request.user = user
    started = datetime(2025, 1, 1, tzinfo=UTC)
    with CaptureQueriesContext(db) as queries:
        call_log_save(Request, started)
    assert len(queries) == 2  # INSERT (both rows) + SELECT of the cut-off id
    with CaptureQueriesContext(db) as queries:
        call_log_save(Request, started)
    assert len(queries) == 3  # now over the limit: + one DELETE
    assert ApiCall.objects.count() == 3


def test_trimming_happens_once_per_batch_and_keeps_the_log_bounded(user, connection, settings):
    from dmportal.support.services import PRUNE_EVERY

    settings.DMPORTAL_CALL_LOG_SIZE = 10

    class Request:
        api_calls = [CallRecord("GET", "/v3/devices/", 200, 1.0, "up", 1)]
        request_id = "e" * 32
        _dm_connection = connection

    Request.user = user
    started = datetime(2025, 1, 1, tzinfo=UTC)
    lookups = 0
    for _ in range(3 * PRUNE_EVERY):
        with CaptureQueriesContext(db) as queries:
            call_log_save(Request, started)
        lookups += sum("OFFSET" in q["sql"] for q in queries)
        assert ApiCall.objects.filter(user=user).count() <= 10 + PRUNE_EVERY
    assert lookups == 3  # one trim per PRUNE_EVERY rows, not one per request


def test_a_failure_to_write_the_log_does_not_fail_the_page(signed_in, api, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("database is locked")

    monkeypatch.setattr(ApiCall.objects, "bulk_create", broken)
    api.get(DEVICES, json=envelope([], total=0))
    assert signed_in.get("/devices/").status_code == 200


# -- the page ------------------------------------------------------------------------------------


def test_the_page_lists_your_calls_newest_first_with_copyable_ids(signed_in, user, other_user):
    for n in range(3):
        make_call(user, n)
    make_call(other_user, 7)
    response = signed_in.get("/support/calls/")
    assert response.status_code == 200
    html = response.content.decode()
    assert html.index(f"up{2:030d}") < html.index(f"up{1:030d}") < html.index(f"up{0:030d}")
    assert f"up{7:030d}" not in html  # another user's call, not searched for
    assert f'data-copy="up{2:030d}"' in html
    assert f'data-copy="dm{2:030d}"' in html
    assert SENTINEL_KEY not in html


def test_the_errors_filter_shows_only_failed_calls(signed_in, user):
    make_call(user, 1)
    make_call(user, 2, status=404, error="NotFound")
    make_call(user, 3, status=None, error="Timeout", upstream_request_id="")
    html = signed_in.get("/support/calls/?status=errors").content.decode()
    assert f"up{1:030d}" not in html
    assert f"up{2:030d}" in html
    assert "Timeout" in html
    assert "no answer" in html


@pytest.mark.parametrize(
    "typed", [f"up{5:030d}", f"dm{5:030d}", f"  UP{5:030d} ", f"up{5:030d}"[:10]]
)
def test_a_call_is_found_by_either_request_id_or_its_start(signed_in, user, typed):
    make_call(user, 5)
    make_call(user, 6, upstream_request_id="zz" * 16, request_id="yy" * 16)
    # A typed id that is not as the list says it (spaces, capitals) goes to the canonical URL.
    html = signed_in.get("/support/calls/", {"q": typed}, follow=True).content.decode()
    assert f"up{5:030d}" in html
    assert "zz" * 16 not in html


def test_a_request_id_search_finds_colleagues_calls_on_the_same_account_only(
    signed_in, django_user_model
):
    colleague = django_user_model.objects.create_user("carol", password="x" * 20)
    outsider = django_user_model.objects.create_user("dave", password="x" * 20)
    make_call(colleague, 1, upstream_request_id="shared-screenshot-id")
    make_call(outsider, 2, upstream_request_id="shared-screenshot-id-2", account_id="b" * 32)
    html = joined_ids(signed_in.get("/support/calls/", {"q": "shared-screenshot"}).content.decode())
    assert "shared-screenshot-id<" in html.replace("</code>", "<")
    assert "by carol" in html
    assert "shared-screenshot-id-2" not in html
    assert "dave" not in html


def test_no_match_says_what_is_kept(signed_in, user):
    make_call(user, 1)
    html = signed_in.get("/support/calls/", {"q": "nothing"}).content.decode()
    assert "No call has a request id starting with" in html
    assert "keeps the last 500 calls of each user" in html


def test_load_more_uses_a_keyset_cursor(signed_in, user):
    calls = [make_call(user, n) for n in range(60)]
    html = signed_in.get("/support/calls/?status=errors").content.decode()
    assert "No failed API calls" in html
    html = signed_in.get("/support/calls/").content.decode()
    assert html.count('<tr class="failed"') + html.count("<tr>\n<td") == 50
    cursor = calls[10].id  # the 50th newest
    assert f"/support/calls/?after={cursor}" in html
    response = signed_in.get(
        f"/support/calls/?after={cursor}", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="calls-pager"
    )
    rows = response.content.decode()
    assert "<form" not in rows
    assert rows.count("<tr>") == 10
    assert f"up{9:030d}" in rows
    assert f"up{10:030d}" not in rows
    assert 'id="calls-pager"' not in rows  # the end
    assert "HX-Push-Url" not in response


def test_load_more_keeps_the_filters(signed_in, user):
    for n in range(55):
        make_call(user, n, status=500, error="ServerError")
    html = signed_in.get("/support/calls/?status=errors").content.decode()
    assert "/support/calls/?status=errors&amp;after=" in html


def test_a_filter_submit_returns_the_listing_and_pushes_its_url(signed_in, user):
    make_call(user, 1, status=500, error="ServerError")
    response = signed_in.get(
        "/support/calls/", {"status": "errors", "q": ""}, HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="listing">')
    assert response["HX-Push-Url"] == "/support/calls/?status=errors"


@pytest.mark.parametrize("query", ["after=abc", "after=1%3Bdrop", "q=%3Cscript%3E", "status=x"])
def test_bad_parameters_are_refused(signed_in, user, query):
    make_call(user, 1)
    response = signed_in.get(f"/support/calls/?{query}")
    assert response.status_code == 400
    assert "<script>" not in response.content.decode()


def test_times_are_shown_in_the_users_time_zone_with_utc_on_hover(signed_in, user):
    prefs = user_preferences(user)
    prefs.timezone = "Asia/Tokyo"
    prefs.save()
    make_call(user, 1, created_at=datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC))
    html = signed_in.get("/support/calls/").content.decode()
    assert 'title="2025-01-02 03:04:05 UTC">2025-01-02 12:04 ' in html
    prefs.timezone = "UTC"
    prefs.save()
    html = signed_in.get("/support/calls/").content.decode()
    assert 'title="2025-01-02 03:04:05 UTC">2025-01-02 03:04 ' in html


def test_the_support_home_shows_your_recent_failed_calls(signed_in, user, other_user):
    make_call(user, 1)
    make_call(user, 2, status=403, error="PermissionDenied")
    make_call(other_user, 3, status=500, error="ServerError")
    html = signed_in.get("/support/").content.decode()
    assert f"up{2:030d}" in html
    assert f"up{1:030d}" not in html
    assert f"up{3:030d}" not in html
    assert 'id="header-search"' in html
    assert 'action="/support/search/"' in html


def test_a_connection_switch_does_not_hide_your_own_calls(signed_in, user):
    other = make_connection(user, label="Second", account_id="c" * 32)
    make_call(user, 1, connection_label="Second", account_id=other.account_id)
    html = signed_in.get("/support/calls/").content.decode()
    assert f"up{1:030d}" in html
