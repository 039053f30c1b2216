"""The circuit breaker (checklist E9), with a fake clock: nothing here waits.

It counts calls (a call's retries are part of it), per base URL; transport failures and a
gateway's 502/503/504 open it, any other answer (500 included) closes it; open, it fails at
once without sending; after its window, one trial call goes through, and only its outcome
decides."""

import contextlib
import logging
import threading

import pytest
import requests
import responses

from dmportal.dmapi import ApiClient, CircuitBreaker, SessionPool, shared_breaker
from dmportal.dmapi import errors as api
from dmportal.dmapi.client import is_outage
from tests.conftest import SENTINEL_KEY, envelope
from tests.scripted_server import Reply, ScriptedServer

BASE = "https://api.example.test"
OTHER = "https://api.other.test"
DEVICES = f"{BASE}/v3/devices/"
LIST = envelope([])


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def breaker(clock):
    return CircuitBreaker(failures=3, seconds=30, clock=clock)


def client(breaker, base=BASE, **kwargs):
    kwargs.setdefault("sleep", lambda s: None)
    return ApiClient(base, SENTINEL_KEY, pool=SessionPool(), breaker=breaker, **kwargs)


@responses.activate
def test_opens_after_n_failed_calls_in_a_row_and_then_sends_nothing(breaker):
    responses.get(DEVICES, status=503)
    c = client(breaker, max_retries=0)
    for _ in range(3):
        with pytest.raises(api.ServerError):
            c.page("/v3/devices/")
    assert len(responses.calls) == 3
    with pytest.raises(api.CircuitOpen) as info:
        c.page("/v3/devices/")
    assert len(responses.calls) == 3  # failed at once: nothing was sent
    error = info.value
    assert isinstance(error, api.TransportError)
    assert (error.failures, error.seconds, error.retry_after) == (3, 30, 30)
    assert "stopped calling it for 30 s after 3 failures in a row" in str(error)
    assert SENTINEL_KEY not in str(error)


@responses.activate
def test_a_call_is_counted_once_whatever_its_retries(breaker):
    responses.get(DEVICES, status=503)  # retried twice: three attempts, one failed call
    c = client(breaker)
    for _ in range(2):
        with pytest.raises(api.ServerError):
            c.page("/v3/devices/")
    assert len(responses.calls) == 6
    assert not breaker.is_open(c.base_url)


@pytest.mark.parametrize(
    ("status", "error"),
    [(401, api.AuthenticationFailed), (403, api.PermissionDenied), (404, api.NotFound),
     (429, api.RateLimited), (400, api.BadRequest)],
)  # fmt: skip
@responses.activate
def test_4xx_answers_never_open_it(breaker, status, error):
    # A user's revoked key (or a rate limit) says nothing about the service being down.
    responses.get(DEVICES, status=status, headers={"Retry-After": "3600"})
    c = client(breaker)
    for _ in range(10):
        with pytest.raises(error):
            c.page("/v3/devices/")
    assert len(responses.calls) == 10
    assert not breaker.is_open(c.base_url)


@responses.activate
def test_a_4xx_a_500_or_an_unreadable_answer_resets_the_count(breaker):
    c = client(breaker, max_retries=0)
    for answer in (
        {"status": 503},
        {"status": 503},
        {"status": 401},
        {"status": 502},
        {"status": 504},
        {"status": 200, "body": "<html>", "content_type": "text/html"},
        {"status": 503},
        {"status": 503},
        {"status": 500},
        {"status": 503},
        {"status": 503},
    ):
        responses.get(DEVICES, **answer)
    for _ in range(11):
        with pytest.raises(api.ApiError):
            c.page("/v3/devices/")
    assert len(responses.calls) == 11
    assert not breaker.is_open(c.base_url)


@responses.activate
def test_a_flapping_service_whose_retries_succeed_never_opens_it(breaker):
    # U28: alternating 503 and 200; each call's retry absorbs the 503.
    for _ in range(10):
        responses.get(DEVICES, status=503)
        responses.get(DEVICES, json=LIST)
    c = client(breaker)
    for _ in range(10):
        assert c.page("/v3/devices/").items == []
    assert len(responses.calls) == 20
    assert not breaker.is_open(c.base_url)


@pytest.mark.parametrize("status", [500, 501, 505, 507])
@pytest.mark.parametrize("method", ["POST", "GET"])
@responses.activate
def test_500_and_other_answers_about_one_request_never_open_it(breaker, method, status):
    # The breaker is shared by every user of the host: a buggy endpoint answering one user's
    # writes with 500 says the service is up, and must not make everyone's pages fail fast.
    responses.add(method, DEVICES, status=status, json={"type": "internal_error"})
    c = client(breaker)
    for _ in range(10):
        with pytest.raises(api.ServerError):
            c.request(method, "/v3/devices/")
    assert len(responses.calls) == 10
    assert not breaker.is_open(c.base_url)


@pytest.mark.parametrize("status", [502, 503, 504])
@pytest.mark.parametrize("method", ["POST", "GET"])
@responses.activate
def test_gateway_errors_open_it(breaker, method, status):
    responses.add(method, DEVICES, status=status, body="<html>Bad gateway</html>")
    c = client(breaker, max_retries=0)
    for _ in range(3):
        with pytest.raises(api.ServerError):
            c.request(method, "/v3/devices/")
    with pytest.raises(api.CircuitOpen):
        c.request(method, "/v3/devices/")
    assert len(responses.calls) == 3


@pytest.mark.parametrize(
    ("failure", "error"),
    [
        (requests.exceptions.ConnectionError("Connection refused"), api.ConnectionFailed),
        (requests.exceptions.ConnectionError("Connection reset by peer"), api.ConnectionFailed),
        (requests.exceptions.ConnectionError("Failed to resolve 'api'"), api.ConnectionFailed),
        (requests.exceptions.ConnectTimeout("connect timed out"), api.Timeout),
        (requests.exceptions.SSLError("certificate verify failed"), api.TLSFailure),
    ],
    ids=["refused", "reset", "dns", "connect-timeout", "tls"],
)
@responses.activate
def test_transport_failures_open_it(breaker, failure, error):
    responses.get(DEVICES, body=failure)
    c = client(breaker, max_retries=0)
    for _ in range(3):
        with pytest.raises(error):
            c.page("/v3/devices/")
    with pytest.raises(api.CircuitOpen):
        c.page("/v3/devices/")
    assert len(responses.calls) == 3


def test_truncated_answers_open_it(breaker):
    server = ScriptedServer()
    try:
        server.script([Reply(200, LIST, action="truncate")] * 3)
        c = ApiClient(
            server.base_url,
            SENTINEL_KEY,
            ca_bundle=server.ca_path,
            pool=SessionPool(),
            breaker=breaker,
            max_retries=0,
        )
        for _ in range(3):
            with pytest.raises(api.ConnectionFailed):
                c.page("/v3/devices/")
        with pytest.raises(api.CircuitOpen):
            c.page("/v3/devices/")
        assert len(server.requests) == 3
    finally:
        server.close()


@pytest.mark.parametrize(
    ("error", "outage"),
    [
        (api.ServerError(status=500), False),
        (api.ServerError(status=501), False),
        (api.ServerError(status=599), False),
        (api.UnexpectedStatus(status=302), False),
        (api.AuthenticationFailed(status=401), False),
        (api.RateLimited(status=429, retry_after=3600), False),
        (api.MalformedResponse(status=200), False),
        (api.ServerError(status=502), True),
        (api.ServerError(status=503), True),
        (api.ServerError(status=504), True),
        (api.ConnectionFailed(type="connect_error"), True),
        (api.ConnectionFailed(type="connection_error"), True),
        (api.Timeout(type="read_timeout"), False),  # maybe one user's large page
        (api.Timeout(type="connect_timeout"), True),
        (api.TLSFailure(type="tls_error"), True),
    ],
    ids=repr,
)
def test_what_counts_as_an_outage(error, outage):
    assert is_outage(error) is outage


@responses.activate
def test_after_the_window_one_trial_call_goes_and_its_success_closes_it(breaker, clock):
    responses.get(DEVICES, status=503)
    c = client(breaker, max_retries=0)
    for _ in range(3):
        with pytest.raises(api.ServerError):
            c.page("/v3/devices/")
    clock.advance(29.5)
    with pytest.raises(api.CircuitOpen) as info:
        c.page("/v3/devices/")
    assert info.value.retry_after == 1
    assert len(responses.calls) == 3
    clock.advance(0.5)
    responses.replace(responses.GET, DEVICES, json=LIST)
    assert c.page("/v3/devices/").items == []  # the trial
    assert not breaker.is_open(c.base_url)
    assert c.page("/v3/devices/").items == []
    assert len(responses.calls) == 5


@responses.activate
def test_a_failed_trial_opens_it_for_another_window(breaker, clock):
    responses.get(DEVICES, status=502, json={})
    c = client(breaker, max_retries=0)
    for _ in range(3):
        with pytest.raises(api.ServerError):
            c.page("/v3/devices/")
    clock.advance(30)
    with pytest.raises(api.ServerError):
        c.page("/v3/devices/")  # the trial, sent
    assert len(responses.calls) == 4
    clock.advance(29)
    with pytest.raises(api.CircuitOpen):
        c.page("/v3/devices/")
    clock.advance(1)
    with pytest.raises(api.ServerError):
        c.page("/v3/devices/")  # the next trial
    assert len(responses.calls) == 5


def open_it(breaker, base):
    for _ in range(breaker.failures):
        breaker.record(base, failed=True, trial=breaker.allow(base))
    assert breaker.is_open(base)


def test_while_a_trial_is_on_its_way_other_calls_fail_fast(breaker, clock):
    base = "https://api.example.test"
    open_it(breaker, base)
    clock.advance(30)
    trial = breaker.allow(base)
    assert trial is not None
    with pytest.raises(api.CircuitOpen):
        breaker.allow(base)
    breaker.record(base, failed=False, trial=trial)
    assert breaker.allow(base) is None  # closed: ordinary calls
    assert breaker.allow(base) is None


@pytest.mark.parametrize("failed", [None, False, True], ids=["no-verdict", "answer", "failure"])
def test_a_call_sent_before_it_opened_does_not_end_the_trial(breaker, clock, failed):
    base = "https://api.example.test"
    slow = breaker.allow(base)  # sent while closed; still on its way when the trial starts
    open_it(breaker, base)
    clock.advance(30)
    trial = breaker.allow(base)
    breaker.record(base, failed=failed, trial=slow)  # the slow call ends during the trial
    clock.advance(60)  # however long the trial takes
    with pytest.raises(api.CircuitOpen):
        breaker.allow(base)  # no second trial
    assert breaker.is_open(base)
    breaker.record(base, failed=True, trial=trial)  # the trial decides
    with pytest.raises(api.CircuitOpen) as info:
        breaker.allow(base)
    assert info.value.retry_after == 30  # open for a new window from the trial's failure


def test_concurrent_calls_during_the_trial_never_admit_a_second_one(breaker, clock):
    base = "https://api.example.test"
    slow = [breaker.allow(base) for _ in range(16)]  # sent while closed, all still on their way
    open_it(breaker, base)
    clock.advance(30)
    trial = breaker.allow(base)
    admitted = []

    def finish_and_call_again(token, failed):
        breaker.record(base, failed=failed, trial=token)
        clock.advance(31)
        with contextlib.suppress(api.CircuitOpen):
            admitted.append(breaker.allow(base))

    threads = [
        threading.Thread(target=finish_and_call_again, args=(token, (None, False, True)[i % 3]))
        for i, token in enumerate(slow)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert admitted == []
    breaker.record(base, failed=False, trial=trial)
    assert not breaker.is_open(base)


@responses.activate
def test_a_call_that_ends_during_the_trial_leaves_it_to_the_trial(breaker, clock):
    # Through the client: a slow call sent before the breaker opened answers while the trial
    # is on its way; only the trial's own outcome closes (or reopens) the breaker.
    c = client(breaker)
    trials = []

    def slow_answer(request):
        open_it(breaker, c.base_url)  # other calls fail meanwhile
        clock.advance(30)
        trials.append(breaker.allow(c.base_url))  # and another user's call is the trial
        return 200, {}, "{}"

    responses.add_callback(
        responses.POST, DEVICES, callback=slow_answer, content_type="application/json"
    )
    c.send("POST", "/v3/devices/", {})
    with pytest.raises(api.CircuitOpen):
        c.page("/v3/devices/")
    breaker.record(c.base_url, failed=False, trial=trials[0])
    responses.get(DEVICES, json=LIST)
    assert c.page("/v3/devices/").items == []


def test_a_trial_that_ends_without_a_verdict_lets_the_next_call_try(breaker, clock):
    class BrokenPool:
        def get(self, base_url, ca_bundle):
            raise RuntimeError("a bug, not the API")

    base = ApiClient(BASE, SENTINEL_KEY, breaker=breaker).base_url
    for _ in range(3):
        breaker.allow(base)
        breaker.record(base, failed=True)
    clock.advance(30)
    broken = ApiClient(BASE, SENTINEL_KEY, pool=BrokenPool(), breaker=breaker)
    with pytest.raises(RuntimeError):
        broken.page("/v3/devices/")
    breaker.allow(base)  # not stuck open behind a trial that will never report


@responses.activate
def test_each_base_url_has_its_own_circuit(breaker):
    responses.get(DEVICES, body=requests.exceptions.ConnectionError("Connection refused"))
    responses.get(f"{OTHER}/v3/devices/", json=LIST)
    down, up = client(breaker, max_retries=0), client(breaker, OTHER)
    for _ in range(3):
        with pytest.raises(api.ConnectionFailed):
            down.page("/v3/devices/")
    with pytest.raises(api.CircuitOpen):
        down.page("/v3/devices/")
    assert up.page("/v3/devices/").items == []


@responses.activate
def test_zero_failures_turns_it_off(clock):
    responses.get(DEVICES, status=503)
    c = client(CircuitBreaker(failures=0, seconds=30, clock=clock), max_retries=0)
    for _ in range(10):
        with pytest.raises(api.ServerError):
            c.page("/v3/devices/")
    assert len(responses.calls) == 10


@pytest.mark.parametrize(("failures", "seconds"), [(-1, 30), (1.5, 30), (True, 30), (5, 0)])
def test_nonsense_settings_are_refused(failures, seconds):
    with pytest.raises(ValueError, match="must be"):
        CircuitBreaker(failures=failures, seconds=seconds)


@responses.activate
def test_a_call_that_fails_fast_is_logged_and_observed_as_not_sent(breaker, caplog):
    caplog.set_level(logging.INFO, logger="dmportal.dmapi")
    responses.get(DEVICES, status=503, headers={"X-Request-ID": "up-1"})
    seen = []
    c = client(breaker, observer=seen.append, max_retries=0)
    for _ in range(4):
        with pytest.raises(api.ApiError):
            c.page("/v3/devices/", limit=5)
    assert [r.error for r in seen] == ["ServerError"] * 3 + ["CircuitOpen"]
    assert (seen[-1].attempts, seen[-1].status, seen[-1].request_id) == (0, None, None)
    opened = [r for r in caplog.records if "Circuit open" in r.getMessage()]
    assert len(opened) == 1
    assert opened[0].levelno == logging.WARNING
    assert "api.example.test" in opened[0].getMessage()
    assert SENTINEL_KEY not in caplog.text


def test_the_shared_breaker_is_one_per_process_and_setting():
    assert shared_breaker(5, 30) is shared_breaker(5, 30.0)
    assert shared_breaker(3, 30) is not shared_breaker(5, 30)
    assert ApiClient(BASE, SENTINEL_KEY).breaker is shared_breaker()


def test_the_portal_builds_clients_on_the_breaker_of_its_settings(settings):
    from dmportal.accounts.services import make_client

    settings.DMPORTAL_API_BREAKER_FAILURES = 7
    settings.DMPORTAL_API_BREAKER_SECONDS = 12
    made = make_client(BASE, SENTINEL_KEY)
    assert made.breaker is shared_breaker(7, 12)
    assert (made.breaker.failures, made.breaker.seconds) == (7, 12.0)


def test_concurrent_failures_open_it_once(breaker, caplog):
    caplog.set_level(logging.WARNING, logger="dmportal.dmapi")
    base = "https://api.example.test"

    def fail():
        for _ in range(20):
            try:
                trial = breaker.allow(base)
            except api.CircuitOpen:
                continue
            breaker.record(base, failed=True, trial=trial)

    threads = [threading.Thread(target=fail) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert breaker.is_open(base)
    assert len([r for r in caplog.records if "Circuit open" in r.getMessage()]) == 1


# -- one user's slow pages (issue 14) ----------------------------------------------------------


@responses.activate
def test_one_users_read_timeouts_open_their_circuit_not_everyones(breaker):
    """The breaker is shared by every user of the host, and a read timeout is as likely one
    user's unusually large or heavy page as an outage: read timeouts count per (host, user),
    so they fail fast only that user's calls. Failures that are the host's (no connection, a
    gateway's 502/503/504) still count for the host, whoever's calls they were."""
    responses.get(DEVICES, body=requests.exceptions.ReadTimeout("read timed out"))
    slow = client(breaker, max_retries=0, breaker_scope="user 1")
    for _ in range(3):
        with pytest.raises(api.Timeout):
            slow.page("/v3/devices/")
    with pytest.raises(api.CircuitOpen) as info:
        slow.page("/v3/devices/")  # their own next call fails fast
    assert "your" in str(info.value)
    assert len(responses.calls) == 3
    responses.replace(responses.GET, DEVICES, json=LIST)
    client(breaker, breaker_scope="user 2").page("/v3/devices/")  # everyone else: through
    assert not breaker.is_open(BASE)
    # An answer to another user does not close the slow user's circuit: its window does.
    with pytest.raises(api.CircuitOpen):
        slow.page("/v3/devices/")


@responses.activate
def test_host_failures_of_several_users_open_the_hosts_circuit(breaker):
    responses.get(DEVICES, body=requests.exceptions.ConnectionError("Connection refused"))
    for n in range(3):
        with pytest.raises(api.ConnectionFailed):
            client(breaker, max_retries=0, breaker_scope=f"user {n}").page("/v3/devices/")
    with pytest.raises(api.CircuitOpen):
        client(breaker, breaker_scope="user 9").page("/v3/devices/")
    assert breaker.is_open(BASE)


@responses.activate
def test_read_timeouts_without_a_user_never_open_it(breaker):
    responses.get(DEVICES, body=requests.exceptions.ReadTimeout("read timed out"))
    c = client(breaker, max_retries=0)
    for _ in range(5):
        with pytest.raises(api.Timeout):
            c.page("/v3/devices/")
    assert len(responses.calls) == 5


def test_the_portal_gives_each_users_client_its_own_scope(signed_in, rf, user):
    from dmportal.accounts.services import api_client

    request = rf.get("/")
    request.user = user
    assert api_client(request).breaker_scope == f"user {user.pk}"


@pytest.mark.django_db
def test_one_users_slow_large_pages_leave_the_dashboard_working_for_the_others(
    signed_in, other_user, api, settings
):
    from django.test import Client
    from responses import matchers

    from tests.conftest import make_connection

    api.get(
        DEVICES,
        body=requests.exceptions.ReadTimeout("read timed out"),
        match=[matchers.query_param_matcher({"limit": "1000"}, strict_match=False)],
    )
    api.get(
        DEVICES,
        json=LIST,
        match=[matchers.query_param_matcher({"limit": "50"}, strict_match=False)],
    )
    for _ in range(settings.DMPORTAL_API_BREAKER_FAILURES):
        assert signed_in.get("/devices/?limit=1000", HTTP_HX_REQUEST="true").status_code == 504
    make_connection(other_user, key="ak_" + "B" * 40)
    colleague = Client()
    colleague.force_login(other_user)
    assert colleague.get("/devices/", HTTP_HX_REQUEST="true").status_code == 200
    # The slow user's own pages fail fast meanwhile, saying why.
    mine = signed_in.get("/devices/", HTTP_HX_REQUEST="true")
    assert mine.status_code == 503
    assert "Your requests are paused for a moment" in mine.content.decode()
