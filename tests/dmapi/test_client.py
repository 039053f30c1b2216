"""The API client against `responses` (parsing and mapping) and against a scripted HTTPS
server (retries, connection failures, deadlines, TLS and connection reuse)."""

import logging
import socket
import threading
import time

import pytest
import responses

from dmportal.dmapi import ApiClient, SessionPool, resources
from dmportal.dmapi import errors as api
from dmportal.dmapi.client import parse_retry_after
from tests import conftest
from tests.conftest import SENTINEL_KEY, error_body
from tests.dmapi.test_errors import STATUS_CLASSES
from tests.recorded import recorded
from tests.scripted_server import Reply, ScriptedServer

BASE = "https://api.example.test"
ERROR_BODY = error_body(
    400,
    "validation_error",
    "One of the request fields has failed validation.",
    request_id="0161991d63150242ac12000600000000",
    fields=[("state__in", "Unknown state 'flying'.")],
)


def make_client(**kwargs):
    kwargs.setdefault("pool", SessionPool())
    kwargs.setdefault("sleep", lambda s: None)
    return ApiClient(BASE, SENTINEL_KEY, **kwargs)


def envelope(items, has_more=False, **extra):
    return {**conftest.envelope(items, has_more=has_more), **extra}


# -- what is sent ------------------------------------------------------------------------------


@responses.activate
def test_key_goes_only_in_the_authorization_header():
    responses.get(f"{BASE}/v3/devices/", json=envelope([]))
    make_client().page("/v3/devices/", limit=10)
    request = responses.calls[0].request
    assert request.headers["Authorization"] == f"Bearer {SENTINEL_KEY}"
    assert SENTINEL_KEY not in request.url
    assert request.url == f"{BASE}/v3/devices/?limit=10"


def test_key_is_never_set_on_the_shared_session():
    pool = SessionPool()
    client = ApiClient(BASE, SENTINEL_KEY, pool=pool)
    session = pool.get(client.base_url, None)
    assert "Authorization" not in session.headers
    assert session.trust_env is False
    assert SENTINEL_KEY not in repr(client)


@pytest.mark.parametrize(
    "base_url",
    ["http://api.example.test", "ftp://x", "api.example.test", "https://", "https://u:p@h", 42],
)
def test_non_https_base_urls_are_refused(base_url):
    with pytest.raises(api.InvalidRequest) as info:
        ApiClient(base_url, SENTINEL_KEY)
    assert SENTINEL_KEY not in str(info.value)


@pytest.mark.parametrize("key", ["", "ak_with space", "ak_new\nline", "ak_tab\t", "é" * 40])
def test_keys_unsafe_for_a_header_are_refused_without_echoing_them(key):
    with pytest.raises(api.InvalidRequest) as info:
        ApiClient(BASE, key)
    assert key.strip() == "" or key not in str(info.value)


@pytest.mark.parametrize("limit", [0, 1, 1001, 5000, -1, "50", True])
def test_page_size_is_validated_before_sending(limit):
    with responses.RequestsMock() as mock:  # would fail on any unexpected request
        with pytest.raises(api.InvalidRequest):
            make_client().page("/v3/devices/", limit=limit)
        assert len(mock.calls) == 0


@responses.activate
def test_list_parameters_and_filters_are_encoded():
    responses.get(f"{BASE}/v3/devices/", json=envelope([]))
    make_client().page(
        "/v3/devices/",
        limit=1000,
        order="DESC",
        after="0179b7c1e6a80000000000010010a3f5",
        include_total=True,
        filters={"state__in": ["registered", "bootstrapped"], "operator_suspended__eq": True},
    )
    params = responses.calls[0].request.params
    assert params == {
        "limit": "1000",
        "order": "DESC",
        "after": "0179b7c1e6a80000000000010010a3f5",
        "include": "total_count",
        "state__in": "registered,bootstrapped",
        "operator_suspended__eq": "true",
    }


@pytest.mark.parametrize("after", ["<script>", "a" * 65, "../x", "é", "a" * 32 + "\n", "²"])
def test_cursor_must_look_like_an_id(after):
    with pytest.raises(api.InvalidRequest):
        make_client().page("/v3/devices/", after=after)


@pytest.mark.parametrize(
    "bad_id", ["../api-keys", "%2e%2e%2f", "a/b", "x?y", "0" * 33, "ABC", "0" * 32 + "\n"]
)
def test_ids_are_checked_before_they_reach_a_path(bad_id):
    with responses.RequestsMock() as mock:
        with pytest.raises(api.InvalidRequest):
            resources.device_get(make_client(), bad_id)
        assert len(mock.calls) == 0


@responses.activate
def test_paths_are_those_of_the_spec():
    device = "0179b7c1e6a80000000000010010a3f5"
    responses.get(f"{BASE}/v3/devices/{device}/", json=recorded("device", id=device))
    responses.get(f"{BASE}/v3/users/{device}", json=recorded("user", id=device))
    responses.put(f"{BASE}/v3/devices/{device}/", json=recorded("device", id=device, name="n"))
    client = make_client()
    assert resources.device_get(client, device)["id"] == device
    assert resources.user_get(client, device)["id"] == device
    assert resources.device_update(client, device, {"name": "n"})["name"] == "n"
    assert responses.calls[2].request.body == b'{"name": "n"}'


# -- what comes back ---------------------------------------------------------------------------


@responses.activate
def test_page_value_and_next_cursor():
    items = [{"id": f"{i:032x}", "name": f"d{i}", "new_field": {"x": 1}} for i in range(3)]
    responses.get(
        f"{BASE}/v3/devices/",
        json=envelope(items, has_more=True, total_count=7, after=None),
        headers={"X-Request-ID": "abc123"},
    )
    page = make_client().page("/v3/devices/", include_total=True)
    assert page.items == items  # unknown fields are kept, not an error
    assert page.has_more is True
    assert page.total_count == 7
    assert page.next_cursor == f"{2:032x}"
    assert page.request_id == "abc123"


@responses.activate
def test_last_page_has_no_cursor_and_total_is_none_unless_asked():
    responses.get(f"{BASE}/v3/devices/", json=envelope([{"id": "a" * 32}]))
    page = make_client().page("/v3/devices/")
    assert page.next_cursor is None
    assert page.total_count is None


@responses.activate
def test_single_objects_keep_their_request_id():
    responses.get(f"{BASE}/v3/accounts/me", json={"id": "a" * 32}, headers={"X-Request-ID": "r-1"})
    account = resources.account_me(make_client())
    assert account["id"] == "a" * 32
    assert account.request_id == "r-1"


ERROR_CASES = [(s, cls) for s, cls in STATUS_CLASSES if 400 <= s < 600]  # the error answers


@pytest.mark.parametrize(("status", "cls"), ERROR_CASES)
@responses.activate
def test_error_classes_from_a_real_shaped_error_body(status, cls):
    body = {**ERROR_BODY, "code": status}
    responses.get(f"{BASE}/v3/devices/", status=status, json=body)
    with pytest.raises(cls) as info:
        make_client(max_retries=0).page("/v3/devices/")
    error = info.value
    assert error.status == status
    assert error.type == "validation_error"
    assert error.message == ERROR_BODY["message"]
    assert error.fields == (("state__in", "Unknown state 'flying'."),)
    assert error.request_id == ERROR_BODY["request_id"]
    assert ERROR_BODY["request_id"] in str(error)
    assert error.method == "GET"
    assert error.path == "/v3/devices/"


@pytest.mark.parametrize(("status", "cls"), ERROR_CASES)
@responses.activate
def test_error_classes_from_a_bare_status_with_only_the_header(status, cls):
    responses.get(
        f"{BASE}/v3/devices/",
        status=status,
        body="<html>Bad gateway</html>",
        content_type="text/html",
        headers={"X-Request-ID": "hdr-42"},
    )
    with pytest.raises(cls) as info:
        make_client(max_retries=0).page("/v3/devices/")
    assert info.value.request_id == "hdr-42"
    assert "hdr-42" in str(info.value)
    assert "<html>" not in str(info.value)  # the upstream HTML is never shown


@responses.activate
def test_error_without_any_request_id():
    responses.get(f"{BASE}/v3/devices/", status=500, body=b"")
    with pytest.raises(api.ServerError) as info:
        make_client(max_retries=0).page("/v3/devices/")
    assert info.value.request_id is None
    assert "request id" not in str(info.value)


@responses.activate
def test_redirects_are_not_followed():
    responses.get(
        f"{BASE}/v3/devices/",
        status=302,
        headers={"Location": "https://evil.example/steal"},
    )
    with pytest.raises(api.UnexpectedStatus):
        make_client().page("/v3/devices/")
    assert len(responses.calls) == 1


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"{not json", "application/json"),
        (b"<html>maintenance</html>", "text/html"),
        (b'{"object": "list", "data": []}', "text/html"),  # right body, wrong content type
        (b"", "application/json"),
        (b'{"object": "list"}', "application/json"),  # no data
        (b'{"data": [1, 2]}', "application/json"),  # items are not objects
        (b"[1, 2, 3]", "application/json"),
        (b'{"data": [{"name": "no id"}], "has_more": true}', "application/json"),
    ],
)
@responses.activate
def test_malformed_successful_responses(body, content_type):
    responses.get(f"{BASE}/v3/devices/", body=body, content_type=content_type)
    with pytest.raises(api.MalformedResponse):
        make_client().page("/v3/devices/")


@responses.activate
def test_upstream_text_is_cleaned_and_bounded():
    body = {**ERROR_BODY, "message": "line\r\nFAKE LOG LINE " + "x" * 5000}
    responses.get(f"{BASE}/v3/devices/", status=400, json=body)
    with pytest.raises(api.BadRequest) as info:
        make_client().page("/v3/devices/")
    assert "\n" not in info.value.message
    assert len(info.value.message) <= 300


# -- retries -----------------------------------------------------------------------------------


@responses.activate
def test_get_is_retried_on_429_honouring_retry_after():
    waits = []
    responses.get(f"{BASE}/v3/devices/", status=429, json=ERROR_BODY, headers={"Retry-After": "1"})
    responses.get(f"{BASE}/v3/devices/", json=envelope([]))
    page = make_client(sleep=waits.append).page("/v3/devices/")
    assert page.items == []
    assert waits == [1.0]
    assert len(responses.calls) == 2


@pytest.mark.parametrize("status", [502, 503, 504])
@responses.activate
def test_get_is_retried_on_gateway_errors_with_capped_backoff(status):
    waits = []
    for _ in range(3):
        responses.get(f"{BASE}/v3/devices/", status=status, json=ERROR_BODY)
    with pytest.raises(api.ServerError):
        make_client(sleep=waits.append, backoff=0.25, backoff_cap=2.0).page("/v3/devices/")
    assert len(responses.calls) == 3  # one try and two retries
    assert len(waits) == 2
    assert all(0 < w <= 2.0 for w in waits)


@responses.activate
def test_500_is_not_retried():
    responses.get(f"{BASE}/v3/devices/", status=500, json=ERROR_BODY)
    with pytest.raises(api.ServerError):
        make_client().page("/v3/devices/")
    assert len(responses.calls) == 1


@responses.activate
def test_a_long_retry_after_is_reported_not_waited_for():
    waits = []
    responses.get(
        f"{BASE}/v3/devices/", status=429, json=ERROR_BODY, headers={"Retry-After": "3600"}
    )
    with pytest.raises(api.RateLimited) as info:
        make_client(sleep=waits.append).page("/v3/devices/")
    assert waits == []
    assert info.value.retry_after == 3600
    assert len(responses.calls) == 1


@responses.activate
def test_malformed_retry_after_falls_back_to_backoff():
    waits = []
    responses.get(f"{BASE}/v3/devices/", status=503, headers={"Retry-After": "soon"})
    responses.get(f"{BASE}/v3/devices/", json=envelope([]))
    make_client(sleep=waits.append).page("/v3/devices/")
    assert len(waits) == 1
    assert 0 < waits[0] <= 2


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
@responses.activate
def test_writes_are_never_retried(method):
    responses.add(method, f"{BASE}/v3/api-keys", status=503, headers={"Retry-After": "1"})
    with pytest.raises(api.ServerError):
        make_client().request(method, "/v3/api-keys", json={"name": "k"})
    assert len(responses.calls) == 1


def test_retry_after_parsing():
    assert parse_retry_after("5") == 5
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470) == 10
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412490) == 0
    for bad in ("soon", "-5", "", None, "1.5e99", "²", "٣", "5\n5"):
        assert parse_retry_after(bad) is None


# -- logging -----------------------------------------------------------------------------------


@responses.activate
def test_each_call_is_logged_once_without_the_key(caplog):
    caplog.set_level(logging.DEBUG)
    responses.get(f"{BASE}/v3/devices/", json=envelope([]), headers={"X-Request-ID": "up-7"})
    responses.get(f"{BASE}/v3/users", status=401, json={**ERROR_BODY, "code": 401})
    client = make_client()
    client.page("/v3/devices/", limit=5)
    with pytest.raises(api.AuthenticationFailed):
        client.page("/v3/users")
    records = [r for r in caplog.records if r.name == "dmportal.dmapi"]
    assert len(records) == 2
    assert records[0].levelno == logging.INFO
    line = records[0].getMessage()
    assert "GET /v3/devices/?limit=5 -> 200" in line
    assert "up-7" in line
    assert "ms" in line
    assert SENTINEL_KEY not in caplog.text
    assert "Bearer" not in caplog.text


@responses.activate
def test_observer_sees_every_call():
    seen = []
    responses.get(f"{BASE}/v3/devices/", status=503)
    responses.get(f"{BASE}/v3/devices/", json=envelope([]), headers={"X-Request-ID": "r2"})
    make_client(observer=seen.append).page("/v3/devices/")
    assert len(seen) == 1
    record = seen[0]
    assert (record.method, record.path, record.status) == ("GET", "/v3/devices/", 200)
    assert record.attempts == 2
    assert record.request_id == "r2"
    assert record.error is None


# -- against a real HTTPS server ---------------------------------------------------------------


@pytest.fixture
def server():
    server = ScriptedServer()
    yield server
    server.close()


def live_client(server, **kwargs):
    kwargs.setdefault("pool", SessionPool())
    kwargs.setdefault("sleep", lambda s: None)
    return ApiClient(server.base_url, SENTINEL_KEY, ca_bundle=server.ca_path, **kwargs)


def test_connections_are_reused_across_calls(server):
    client = live_client(server)
    for _ in range(5):
        client.page("/v3/devices/")
    assert len(server.requests) == 5
    assert server.connections == 1


def test_one_session_is_shared_by_clients_of_different_keys(server):
    pool = SessionPool()
    for key in (SENTINEL_KEY, "ak_" + "B" * 40):
        ApiClient(server.base_url, key, ca_bundle=server.ca_path, pool=pool).page("/v3/x/")
    assert len(pool) == 1
    assert server.connections == 1
    sent = [r.headers["authorization"] for r in server.requests]
    assert sent == [f"Bearer {SENTINEL_KEY}", "Bearer ak_" + "B" * 40]


def test_concurrent_users_each_send_their_own_key(server):
    pool = SessionPool()
    keys = [f"ak_{chr(65 + i) * 40}" for i in range(6)]
    errors = []

    def work(key):
        try:
            client = ApiClient(server.base_url, key, ca_bundle=server.ca_path, pool=pool)
            for _ in range(5):
                client.page(f"/v3/devices/?who={key[-3:]}")
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in keys]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    for received in server.requests:
        who = received.path.split("who=")[1][:3]
        assert received.headers["authorization"].endswith(who)


def test_environment_ca_bundle_does_not_override_ours(server, monkeypatch, tmp_path):
    # These machines set REQUESTS_CA_BUNDLE; requests would otherwise prefer it.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    monkeypatch.setenv("CURL_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    live_client(server).page("/v3/devices/")
    assert len(server.requests) == 1


def test_netrc_cannot_replace_the_authorization_header(server, monkeypatch, tmp_path):
    (tmp_path / ".netrc").write_text("machine 127.0.0.1 login evil password stolen\n")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NETRC", str(tmp_path / ".netrc"))
    live_client(server).page("/v3/devices/")
    assert server.requests[0].headers["authorization"] == f"Bearer {SENTINEL_KEY}"


def test_an_untrusted_certificate_is_a_tls_failure_and_not_retried(server):
    client = ApiClient(server.base_url, SENTINEL_KEY, pool=SessionPool(), sleep=lambda s: None)
    with pytest.raises(api.TLSFailure) as info:
        client.page("/v3/devices/")
    assert "certificate" in str(info.value)
    assert server.requests == []  # nothing was sent over the unverified connection


def test_connection_refused_is_retried_then_reported(server):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    waits = []
    client = ApiClient(
        f"https://127.0.0.1:{port}",
        SENTINEL_KEY,
        ca_bundle=server.ca_path,
        pool=SessionPool(),
        sleep=waits.append,
    )
    started = time.monotonic()
    with pytest.raises(api.ConnectionFailed) as info:
        client.page("/v3/devices/")
    assert "refused" in str(info.value)
    assert len(waits) == 2
    assert time.monotonic() - started < 2


def test_reset_get_is_retried(server):
    server.script([Reply(action="reset"), Reply(200, {"object": "list", "data": []})])
    page = live_client(server).page("/v3/devices/")
    assert page.items == []
    assert len(server.requests) == 2


def test_reset_post_is_not_retried(server):
    server.script([Reply(action="reset")])
    with pytest.raises(api.ConnectionFailed):
        live_client(server).request("POST", "/v3/api-keys", json={"name": "x"})
    assert len(server.requests) == 1


def test_a_stalled_response_times_out(server):
    server.script([Reply(action="stall")])
    started = time.monotonic()
    with pytest.raises(api.Timeout):
        live_client(server, timeout=0.5).page("/v3/devices/")
    assert time.monotonic() - started < 2
    assert len(server.requests) == 1  # a read timeout is not retried


def test_a_slow_drip_is_cut_by_the_deadline(server):
    body = b'{"object": "list", "data": [], "has_more": false, "padding": "' + b"x" * 200 + b'"}'
    server.script([Reply(200, body, action="drip")])
    started = time.monotonic()
    with pytest.raises(api.Timeout):
        live_client(server, timeout=1.0).page("/v3/devices/")
    assert time.monotonic() - started < 2.5


def test_a_truncated_body_is_a_connection_failure(server):
    server.script([Reply(200, {"object": "list", "data": []}, action="truncate")] * 3)
    with pytest.raises(api.ConnectionFailed):
        live_client(server).page("/v3/devices/")


def test_a_too_large_body_is_refused(server, monkeypatch):
    monkeypatch.setattr("dmportal.dmapi.client.MAX_BODY_BYTES", 1000)
    server.script([Reply(200, {"object": "list", "data": [], "pad": "x" * 5000})])
    with pytest.raises(api.MalformedResponse):
        live_client(server).page("/v3/devices/")
