"""Bad user and browser input (reliability checklist §2.2): each gets a clear 4xx message or
form error, nothing is sent upstream for it, and nothing is written or lost.

Catalogue id, input, and the tests that cover it (bare names: this module; paths: under tests/).

I1   API key empty or whitespace only
       accounts/test_connections.py::test_things_that_are_not_keys_are_refused_before_any_request
I2   key pasted with spaces or a newline around it
       accounts/test_connections.py::test_pasted_whitespace_and_bearer_prefix_are_removed
I3   key with CR/LF/TAB/NUL, non-ASCII, emoji
       test_tabs_and_emoji_in_a_key_are_refused_before_any_request (TAB, emoji);
       accounts/test_connections.py::test_things_that_are_not_keys_are_refused_before_any_request
       (CR/LF, NUL, Cyrillic)
I4   key of 10 KB
       accounts/test_connections.py::test_things_that_are_not_keys_are_refused_before_any_request
I5   wrong shape: sk_..., "Bearer ak_...", a JSON blob
       accounts/test_connections.py::test_things_that_are_not_keys_are_refused_before_any_request,
       accounts/test_connections.py::test_pasted_whitespace_and_bearer_prefix_are_removed
I6   well-formed but revoked key
       accounts/test_connections.py::test_a_rejected_key_says_so_with_the_request_id
I7   ids ../api-keys, ..%2F, %2e%2e, a/b, x?y, #, 33 hex characters
       test_ids_that_are_not_ids_are_404_before_any_call
I8   limit -1, 0, 1, 1001, 1e12, abc, " 5"
       test_page_sizes_out_of_range_are_400_with_the_forms_message,
       test_a_page_size_with_spaces_is_normalised
I9   order desc, DROP TABLE
       test_order_is_normalised_or_refused
I10  cursor <script>, 1 KB, unicode
       test_cursors_that_are_not_ids_are_400_and_never_reflected;
       devices/test_device_list.py::test_a_bad_cursor_is_refused_without_calling_the_api
I11  duplicate parameters
       test_a_repeated_parameter_follows_one_rule
I12  unknown parameters
       test_unknown_parameters_are_dropped_not_forwarded
I13  markup in filter text
       test_markup_in_a_filter_is_sent_encoded_and_shown_escaped
I14  no CSRF token, plain form POST and HTMX POST
       test_a_write_without_a_csrf_token_is_403_and_sends_nothing,
       test_adding_a_connection_without_a_csrf_token_stores_nothing;
       accounts/test_sign_in.py::test_posts_without_a_csrf_token_are_refused
I15  valid token, foreign Origin
       test_a_valid_token_from_a_foreign_origin_is_403
I16  forged HX-Request on a direct GET
       test_a_forged_hx_request_gets_a_fragment_still_signed_in_and_varied
I17  expired, forged or deleted session on an HTMX request
       test_a_forged_or_deleted_session_on_htmx_gets_hx_redirect;
       accounts/test_sign_in.py::test_an_expired_session_on_htmx_gets_hx_redirect
I18  next=//evil.example or https://evil.example
       accounts/test_sign_in.py::test_a_foreign_next_is_ignored,
       accounts/test_sign_in.py::test_hx_redirect_never_points_elsewhere,
       accounts/test_connections.py::test_confirm_password_ignores_foreign_next
I19  password guessing, rotating X-Forwarded-For
       accounts/test_sign_in.py::test_failed_sign_ins_are_throttled_per_user_and_address,
       security/test_auth.py::test_rotating_forwarded_for_values_do_not_reset_the_count
I20  more than 1000 form fields, oversized body
       test_too_many_fields_or_too_large_a_body_is_400_and_sends_nothing;
       security/test_platform.py::test_a_refused_request_shows_a_generic_400_with_the_request_id
I21  Host: evil.example
       test_a_foreign_host_gets_the_400_page_with_the_request_id;
       core/test_headers.py::test_a_foreign_host_header_is_refused_with_the_headers
I22  double submission of a write
       test_adding_the_same_connection_twice_stores_one,
       test_removing_a_connection_twice_removes_it_once;
       team/test_api_keys.py::test_reloading_the_create_post_creates_nothing_and_shows_no_secret
I23  many tabs polling
       test_no_page_polls: dmportal has no polling, so an open tab makes no requests of its own;
       the per-user limit: core/test_ratelimit.py::
       test_over_the_limit_is_our_own_429_page_with_retry_after_and_ids
I24  someone else's connection id
       test_someone_elses_connection_id_is_404_and_their_key_is_never_used

Also asked by issue 9: over-long and malformed filter values
(test_filter_values_longer_than_the_form_allows_are_400_with_its_message,
test_values_a_list_does_not_offer_are_400_with_the_forms_message), a forged API host
(test_a_forged_api_host_is_never_stored_or_called, test_a_stored_host_no_longer_allowed_is_never_
called; accounts/test_connections.py::test_a_forged_host_is_refused_without_a_request), forged
hidden fields (test_forged_hidden_fields_of_the_device_form_are_ignored;
team/test_api_keys.py::test_a_form_that_was_never_issued_creates_nothing), non-UTF-8 URLs
(test_a_path_that_is_not_utf8_is_404, test_a_query_string_that_is_not_utf8_is_400_and_searches_
nothing; and UTF-8 itself still works: test_a_query_string_in_utf8_is_searched_as_typed) and
very long URLs (test_very_long_urls_are_refused_or_dropped_without_a_call; behind
gunicorn, a request line longer than 4094 bytes, its default limit_request_line, is answered
"400 Request Line is too large" by gunicorn before dmportal sees it).
"""

import json
import logging
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.sessions.models import Session
from django.test import Client

from dmportal.accounts.models import ActivityEntry, Connection, Preferences
from tests.conftest import API, SENTINEL_KEY, device, envelope, make_connection

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
DEVICES = f"{API}/v3/devices/"
DEVICE_ID = f"{7:032x}"
HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "listing"}
ACCOUNT = {"id": "a" * 32, "display_name": "Acme Corp", "object": "account"}
ME_KEY = {"id": "b" * 32, "account_id": "a" * 32, "object": "api-key", "name": "k"}
OTHER_KEY = "ak_" + "Z" * 40


def sent(api, index=-1):
    """The query parameters of an upstream call, one value each."""
    return {k: v[-1] for k, v in parse_qs(urlsplit(api.calls[index].request.url).query).items()}


ARABIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


def refused(response, status, *words, ids=True):
    """A clear error of ours: the status, the words, dmportal's request id (on pages and error
    boxes; a form's own errors are shown on the form), no traceback."""
    html = response.content.decode()
    assert response.status_code == status, html[:400]
    for word in words:
        assert word in html, word
    if ids:
        assert response["X-Request-ID"] in html
    assert "Traceback" not in html
    return html


def csrf_client(user):
    """A browser that is signed in and whose CSRF checks are enforced; returns it and the
    token its pages carry for htmx (`hx-headers`)."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    page = client.get("/preferences/").content.decode()
    return client, page.split('"X-CSRFToken": "')[1].split('"')[0]


# -- keys (I3) ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    ["ak_0123456789abcdef\t0123456789abcdef0123", "ak_0123456789abcdef0123456789abcdef🔑"],
)
def test_tabs_and_emoji_in_a_key_are_refused_before_any_request(client, user, api, key):
    client.force_login(user)
    response = client.post("/connections/add/", {"label": "L", "api_host": API, "api_key": key})
    assert "does not look like an API key" in response.content.decode()
    assert len(api.calls) == 0
    assert not Connection.objects.exists()


# -- ids and list parameters (I7-I13) ----------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/devices/../api-keys/",
        "/devices/..%2Fapi-keys/",
        "/devices/%2e%2e/",
        "/devices/a/b/",
        "/devices/x%3Fy/",
        "/devices/%23/",
        "/devices/" + "a" * 33 + "/",
        "/devices/" + "A" * 32 + "/",  # ids are lower case
        "/device-groups/" + "0" * 31 + "/devices/",
    ],
)
def test_ids_that_are_not_ids_are_404_before_any_call(signed_in, api, path):
    refused(signed_in.get(path), 404, "Page not found")
    assert len(api.calls) == 0


@pytest.mark.parametrize("limit", ["-1", "0", "1", "1001", "1e12", "abc", "5.5"])
def test_page_sizes_out_of_range_are_400_with_the_forms_message(signed_in, api, limit):
    html = refused(signed_in.get("/devices/", {"limit": limit}), 400, "The page size is")
    assert f'value="{limit}"' in html  # what was typed stays in the form
    fragment = signed_in.get("/devices/", {"limit": limit}, **HTMX)
    refused(fragment, 400, "The page size is", ids=False)
    assert "<html" not in fragment.content.decode()
    assert len(api.calls) == 0


def test_a_page_size_with_spaces_is_normalised(signed_in, api):
    response = signed_in.get("/devices/", {"limit": " 5"})
    assert response.status_code == 302
    assert response["Location"] == "/devices/?limit=5"
    assert len(api.calls) == 0


def test_order_is_normalised_or_refused(signed_in, api):
    response = signed_in.get("/devices/", {"order": "asc"})
    assert response["Location"] == "/devices/?order=ASC"
    html = refused(
        signed_in.get("/devices/", {"order": "DROP TABLE devices;--"}),
        400,
        "DROP TABLE DEVICES;-- is not one of the available choices",
    )
    assert "Select a valid choice" in html
    assert len(api.calls) == 0


@pytest.mark.parametrize(
    "after", ["<script>alert(1)</script>", "a" * 1024, "ééééééééééééééééééééééééééééééé1"]
)
def test_cursors_that_are_not_ids_are_400_and_never_reflected(signed_in, api, after):
    for headers in ({}, {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "devices-pager"}):
        html = refused(signed_in.get("/devices/", {"after": after}, **headers), 400, "cursor")
        assert after not in html
    assert len(api.calls) == 0


@pytest.mark.parametrize(
    ("path", "after"),
    [
        ("/devices/", "a" * 32 + "\n"),
        ("/support/calls/", "²"),  # str.isdigit() says yes, int() says no: it was a 500
        ("/support/calls/", "\u0661\u0662"),  # Arabic-Indic digits: int() reads them, we do not
        ("/support/calls/", "12\n"),
        ("/activity/", "²-1"),
        ("/activity/", "\u0661-\u0661"),
        ("/activity/", "1-1\n"),
    ],
)
def test_cursors_are_ascii_and_whole_or_400(signed_in, api, path, after):
    for headers in ({}, {"HTTP_HX_REQUEST": "true"}):
        refused(signed_in.get(path, {"after": after}, **headers), 400, "cursor")
    assert len(api.calls) == 0


def test_a_repeated_parameter_follows_one_rule(signed_in, api):
    """One value per setting: the last one wins (Django's `QueryDict.get`); a filter that
    takes several values merges all of them (a plain form repeats a multi-select's name)."""
    response = signed_in.get("/devices/?limit=10&limit=1000&order=ASC&order=DESC")
    assert response["Location"] == "/devices/?limit=1000"
    api.get(DEVICES, json=envelope([device(1)], total=1))
    signed_in.get(
        "/devices/?limit=10&limit=1000&state__in=registered&state__in=bootstrapped", **HTMX
    )
    assert sent(api)["limit"] == "1000"
    assert sent(api)["state__in"] == "registered,bootstrapped"


def test_unknown_parameters_are_refused_by_name_not_forwarded(signed_in, api):
    """Never dropped in silence (issue 16), never forwarded: refused, naming each."""
    query = "foo=bar&include=secret_stuff&fields=key&name__in=Boiler"
    for headers in ({}, HTMX):
        response = signed_in.get(f"/devices/?{query}", **headers)
        assert response.status_code == 400
        html = response.content.decode()
        for name in ("foo", "include", "fields"):
            assert f"“{name}” is not a filter of this list" in html
    assert len(api.calls) == 0


def test_markup_in_a_filter_is_sent_encoded_and_shown_escaped(signed_in, api):
    payload = '"><img src=x onerror=alert(1)> {{7*7}}'
    api.get(DEVICES, json=envelope([], total=0))
    response = signed_in.get("/devices/", {"name__in": payload}, **HTMX)
    html = response.content.decode()
    assert sent(api)["name__eq"] == payload
    assert "<img src=x" not in html
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in html
    assert "49" not in html


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"name__in": "x" * 100_000}, "at most 20000 characters"),
        ({"created_at__gte": "2025-01-01" + "0" * 40}, "at most 40 characters"),
        ({"name__in": "y" * 513}, "longer than 512 characters"),
        ({"id__in": ",".join(f"{n:032x}" for n in range(101))}, "At most 100 values"),
        ({"id__in": "../api-keys"}, "is not a device id"),
        ({"created_at__gte": "yesterday"}, "Enter a date like 2025-01-31"),
    ],
)
def test_filter_values_longer_than_the_form_allows_are_400_with_its_message(
    signed_in, api, query, message
):
    html = refused(signed_in.get("/devices/", query), 400, message, "nothing was searched")
    value = next(iter(query.values()))
    assert f'value="{value.split(",")[0]}' in html  # what was typed is kept in its field
    refused(signed_in.get("/devices/", query, **HTMX), 400, message, ids=False)
    assert len(api.calls) == 0


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"operator_suspended__eq": "maybe"}, "Select a valid choice"),
        ({"state__in": "exploded"}, "“exploded” is not one of the known values"),
    ],
)
def test_values_a_list_does_not_offer_are_400_with_the_forms_message(
    signed_in, api, query, message
):
    refused(signed_in.get("/devices/", query), 400, message, "nothing was searched")
    assert len(api.calls) == 0


# -- URLs (non-UTF-8, very long) ----------------------------------------------------------------


@pytest.mark.parametrize("path", ["/devices/%FF/", "/devices/%C0%AF/", "/%FF", "/team/%C0%AF"])
def test_a_path_that_is_not_utf8_is_404(signed_in, api, path):
    refused(signed_in.get(path), 404, "Page not found")
    assert len(api.calls) == 0


@pytest.mark.parametrize(
    "url",
    [
        "/devices/?name__in=%FF",
        "/devices/?name__in=%C0%AF",
        "/devices/?%FF=1",
        "/support/search/?q=%C0%AFetc%2Fpasswd",
        "/activity/?after=%FF",
    ],
)
def test_a_query_string_that_is_not_utf8_is_400_and_searches_nothing(signed_in, api, url):
    refused(signed_in.get(url), 400, "not UTF-8", "nothing was searched")
    fragment = signed_in.get(url, **HTMX)
    refused(fragment, 400, "not UTF-8")
    assert "<html" not in fragment.content.decode()
    assert len(api.calls) == 0


def test_a_query_string_in_utf8_is_searched_as_typed(signed_in, api):
    api.get(DEVICES, json=envelope([], total=0))
    signed_in.get("/devices/?name__in=K%C3%BChlraum", **HTMX)
    assert sent(api)["name__eq"] == "Kühlraum"


def test_very_long_urls_are_refused_or_dropped_without_a_call(signed_in, api):
    # 100 KB of unknown parameters: refused, naming a few of them.
    response = signed_in.get("/devices/?" + "&".join(f"p{n}={'v' * 95}" for n in range(1000)))
    refused(response, 400, "… and 995 more parameters like these.")
    # A 100 KB filter value: the form's own limit (see the test above); a 10 KB path segment:
    # no such page.
    refused(signed_in.get("/devices/", {"serial_number__in": "s" * 100_000}), 400, "at most")
    refused(signed_in.get("/devices/" + "a" * 10_000 + "/"), 404, "Page not found")
    assert len(api.calls) == 0


# -- forged fields, hosts and ids -----------------------------------------------------------------


def test_forged_hidden_fields_of_the_device_form_are_ignored(signed_in, api):
    api.get(f"{API}/v3/devices/{DEVICE_ID}/", json=device(7))
    api.put(f"{API}/v3/devices/{DEVICE_ID}/", json=device(7, name="N"))
    response = signed_in.post(
        f"/devices/{DEVICE_ID}/edit/",
        {
            "name": "N",
            "attr_key_7": "injected",  # only five attribute rows exist
            "attr_value_7": "x",
            "id": "f" * 32,
            "host_gateway": "e" * 32,
            "custom_attributes": '{"evil": 1}',
        },
    )
    assert response.status_code == 302
    put = [c for c in api.calls if c.request.method == "PUT"]
    assert len(put) == 1
    assert put[0].request.url == f"{API}/v3/devices/{DEVICE_ID}/"
    assert json.loads(put[0].request.body) == {
        "name": "N",
        "description": "",
        "custom_attributes": {},
    }


@pytest.mark.parametrize(
    "host", ["https://evil.example", f"{API}.evil.example", f"{API}@evil.example", "http://x"]
)
def test_a_forged_api_host_is_never_stored_or_called(signed_in, user, connection, api, host):
    response = signed_in.post(
        "/connections/add/", {"label": "Other", "api_host": host, "api_key": SENTINEL_KEY}
    )
    assert "is not one of the available choices" in response.content.decode()
    # The edit form has no host: a posted one changes nothing.
    response = signed_in.post(
        f"/connections/{connection.pk}/", {"label": "Renamed", "api_host": host, "api_key": ""}
    )
    assert response.status_code == 302
    connection.refresh_from_db()
    assert (connection.label, connection.api_host) == ("Renamed", API)
    assert Connection.objects.count() == 1
    assert len(api.calls) == 0


def test_a_stored_host_no_longer_allowed_is_never_called(signed_in, connection, api, settings):
    settings.DMPORTAL_API_HOSTS = ["https://api.eu-west-1.example.test"]
    refused(signed_in.get("/devices/"), 409, "not one of the API hosts")
    refused(signed_in.get("/devices/", **HTMX), 409, "not one of the API hosts")
    assert len(api.calls) == 0


def test_someone_elses_connection_id_is_404_and_their_key_is_never_used(
    client, user, other_user, api
):
    theirs = make_connection(other_user, label="Theirs", key=OTHER_KEY)
    mine = make_connection(user, label="Mine")
    client.force_login(user)
    for response in (
        client.post("/connections/switch/", {"connection": theirs.pk, "next": "/devices/"}),
        client.post("/connections/switch/", {"connection": "1 OR 1=1"}),
        # Its own id in Arabic-Indic digits: int() reads it, dmportal's id rule does not.
        client.post("/connections/switch/", {"connection": str(mine.pk).translate(ARABIC)}),
        client.get(f"/connections/{theirs.pk}/"),
        client.post(f"/connections/{theirs.pk}/", {"label": "Mine now", "api_key": ""}),
        client.post(f"/connections/{theirs.pk}/remove/"),
    ):
        refused(response, 404, "Page not found")
    theirs.refresh_from_db()
    assert theirs.label == "Theirs"
    assert Preferences.objects.get(user=user).active_connection_id in (None, mine.pk)
    api.get(DEVICES, json=envelope([device(1)], total=1))
    assert client.get("/devices/").status_code == 200
    assert [c.request.headers["Authorization"] for c in api.calls] == [f"Bearer {SENTINEL_KEY}"]


# -- CSRF (I14, I15) ------------------------------------------------------------------------------


def test_a_write_without_a_csrf_token_is_403_and_sends_nothing(user, connection, api, caplog):
    client, token = csrf_client(user)
    before = ActivityEntry.objects.count()
    edit = f"/devices/{DEVICE_ID}/edit/"
    data = {"name": "Changed", "description": ""}
    page = client.post(edit, data)
    refused(page, 403, "This form has expired", "Nothing was changed")
    assert "<html" in page.content.decode()
    fragment = client.post(edit, data, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="main")
    refused(fragment, 403, "This form has expired")
    assert "<html" not in fragment.content.decode()
    for shown in (page, fragment):  # drawn by the error partial of every other failure
        refused(shown, 403, 'data-error-kind="csrf"', "Copy request ids")
        assert "Upstream request id" not in shown.content.decode()  # nothing went upstream
    for wrong in ("x" * 64, token[:-1] + ("a" if token[-1] != "a" else "b"), token[:32]):
        refused(client.post(edit, data, HTTP_X_CSRFTOKEN=wrong), 403, "This form has expired")
        refused(client.post(edit, {**data, "csrfmiddlewaretoken": wrong}), 403)
    assert len(api.calls) == 0
    assert ActivityEntry.objects.count() == before
    reasons = [r.getMessage() for r in caplog.records if r.name == "django.security.csrf"]
    assert any("CSRF token missing" in r for r in reasons)
    assert any("CSRF token from the 'X-Csrftoken' HTTP header incorrect" in r for r in reasons)
    assert any("CSRF token from POST incorrect" in r for r in reasons)


def test_adding_a_connection_without_a_csrf_token_stores_nothing(user, api):
    client, _ = csrf_client(user)
    response = client.post(
        "/connections/add/", {"label": "New", "api_host": API, "api_key": SENTINEL_KEY}
    )
    html = refused(response, 403, "This form has expired")
    assert SENTINEL_KEY not in html
    assert len(api.calls) == 0
    assert not Connection.objects.exists()


def test_a_valid_token_from_a_foreign_origin_is_403(user, connection, api, caplog):
    client, token = csrf_client(user)
    edit = f"/devices/{DEVICE_ID}/edit/"
    data = {"name": "Changed", "description": ""}
    for origin in ("https://evil.example", "http://testserver.evil.example", "null"):
        response = client.post(edit, data, HTTP_X_CSRFTOKEN=token, HTTP_ORIGIN=origin)
        refused(response, 403, "This form has expired")
    assert len(api.calls) == 0
    reasons = [r.getMessage() for r in caplog.records if r.name == "django.security.csrf"]
    assert any("Origin checking failed - https://evil.example" in r for r in reasons)
    # The same token from dmportal's own origin is accepted: the origin was the reason.
    api.get(f"{API}/v3/devices/{DEVICE_ID}/", json=device(7))
    api.put(f"{API}/v3/devices/{DEVICE_ID}/", json=device(7, name="Changed"))
    ok = client.post(edit, data, HTTP_X_CSRFTOKEN=token, HTTP_ORIGIN="http://testserver")
    assert ok.status_code == 302
    assert [c.request.method for c in api.calls] == ["GET", "PUT"]


# -- HTMX and sessions (I16, I17) -----------------------------------------------------------------


def test_a_forged_hx_request_gets_a_fragment_still_signed_in_and_varied(signed_in, client, api):
    api.get(DEVICES, json=envelope([device(1)], total=1))
    response = signed_in.get("/devices/", **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert SENTINEL_KEY not in html
    assert "HX-Request" in response["Vary"]
    assert "no-store" in response["Cache-Control"]
    signed_in.post("/accounts/logout/")
    anonymous = signed_in.get("/devices/", **HTMX)
    assert anonymous["HX-Redirect"].startswith("/accounts/login/?next=")
    assert len(api.calls) == 1


def test_a_forged_or_deleted_session_on_htmx_gets_hx_redirect(client, user, api, settings):
    client.cookies[settings.SESSION_COOKIE_NAME] = "forged" + "x" * 26
    response = client.get("/devices/", **HTMX)
    assert (response.status_code, response["HX-Redirect"][:22]) == (200, "/accounts/login/?next=")
    assert b"<form" not in response.content
    client.force_login(user)
    Session.objects.all().delete()  # signed out elsewhere, or by an administrator
    response = client.get("/devices/", **HTMX)
    assert response["HX-Redirect"].startswith("/accounts/login/?next=")
    assert len(api.calls) == 0


# -- Django's own refusals (I20, I21) -------------------------------------------------------------


def test_too_many_fields_or_too_large_a_body_is_400_and_sends_nothing(user, connection, api):
    # As in production, the CSRF check reads the form first: the view never runs.
    client, token = csrf_client(user)
    edit = f"/devices/{DEVICE_ID}/edit/"
    before = ActivityEntry.objects.count()
    fields = {f"attr_key_{n}": "x" for n in range(1001)}
    page = client.post(edit, fields, HTTP_X_CSRFTOKEN=token)
    refused(page, 400, "dmportal refused this request", "more than 1000 fields", "Nothing was")
    fragment = client.post(edit, fields, HTTP_X_CSRFTOKEN=token, HTTP_HX_REQUEST="true")
    refused(fragment, 400, "dmportal refused this request")
    assert "<html" not in fragment.content.decode()
    big = {"name": "n", "description": "d" * (3 * 1024 * 1024)}
    refused(client.post(edit, big, HTTP_X_CSRFTOKEN=token), 400, "larger than the 2560 KB")
    assert len(api.calls) == 0
    assert ActivityEntry.objects.count() == before


def test_a_foreign_host_gets_the_400_page_with_the_request_id(client):
    html = refused(client.get("/accounts/login/", HTTP_HOST="evil.example"), 400, "host name")
    assert "evil.example" not in html


# -- double submission (I22) ----------------------------------------------------------------------


def test_adding_the_same_connection_twice_stores_one(client, user, api):
    client.force_login(user)
    for path in ("accounts/me", "api-keys/me"):
        api.get(f"{API}/v3/{path}", json=ACCOUNT if path == "accounts/me" else ME_KEY)
    data = {"label": "Acme", "api_host": API, "api_key": SENTINEL_KEY}
    assert client.post("/connections/add/", data).status_code == 302
    again = client.post("/connections/add/", data)
    assert "You already have a connection with this label" in again.content.decode()
    assert Connection.objects.filter(user=user).count() == 1
    results = list(ActivityEntry.objects.filter(action="connection.add").values_list("result"))
    assert sorted(results) == [("failed",), ("ok",)]
    assert {c.request.method for c in api.calls} == {"GET"}  # checking a key writes nothing


def test_removing_a_connection_twice_removes_it_once(signed_in, connection):
    first = signed_in.post(f"/connections/{connection.pk}/remove/")
    assert first.status_code == 302
    refused(signed_in.post(f"/connections/{connection.pk}/remove/"), 404, "Page not found")
    assert not Connection.objects.exists()
    assert ActivityEntry.objects.filter(action="connection.remove").count() == 1


# The only pages that poll: a background job's progress, while the job runs (the polled views
# read dmportal's database only, never the API: tests/jobs/test_views.py).
POLLING = {"jobs/job_list.html", "jobs/job_detail.html"}


def test_no_page_polls_but_a_running_jobs_progress():
    """dmportal does not poll (no `hx-trigger="every …"`, no `load delay`), so tabs left open
    make no requests of their own (I23); the one exception is a job's progress, and only while
    the job is queued or running: the trigger is inside an `{% if %}` that drops it once
    nothing runs, so a tab left open stops polling."""
    templates = list((ROOT / "templates").rglob("*.html"))
    assert templates
    for template in templates:
        text = template.read_text()
        name = str(template.relative_to(ROOT / "templates"))
        for line in text.splitlines():
            if re.search(r"hx-trigger=\"[^\"]*every\s", line):
                assert name in POLLING, template
                assert re.search(r"\{% if [^%]*(active)[^%]*%\}.*every\s.*\{% endif %\}", line), (
                    line
                )
        assert "setInterval" not in text, template
    script = (ROOT / "static" / "dmportal.js").read_text()
    assert "setInterval" not in script


@pytest.fixture(autouse=True)
def _quiet_csrf_log(caplog):
    caplog.set_level(logging.WARNING, logger="django.security.csrf")
