"""Remembered refusals (team/services/sections.py), one-time tokens (core/once.py), the
new-key check (team/services/key_check.py) and names (team/services/names.py)."""

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.core.cache import cache
from django.test import RequestFactory

from dmportal.core import once
from dmportal.dmapi import errors as api
from dmportal.team.services import names, sections
from dmportal.team.services.key_check import key_check
from tests.benchmarks.processes import free_port
from tests.conftest import API, SENTINEL_KEY, error_body
from tests.factories import url

pytestmark = pytest.mark.django_db


@pytest.fixture
def request_for(user, connection):
    def make():
        request = RequestFactory().get("/team/")
        request.user = type(user).objects.get(pk=user.pk)  # fresh, as for every request
        request.session = SessionStore()
        request.request_id = "r" * 32
        return request

    return make


def test_a_refusal_is_remembered_per_connection_and_cleared_by_a_success(request_for, connection):
    request = request_for()
    denied = sections.denials(request)
    assert not denied["users"]
    with pytest.raises(api.PermissionDenied), sections.guard(request, "users"):
        raise api.PermissionDenied("no")
    assert denied["users"]
    assert "users" in denied
    assert denied.known() == [("users", "manage users")]
    stored = request.session[sections.DENIED_SESSION_KEY]
    assert list(stored) == [str(connection.pk)]
    with sections.guard(request, "users"):
        pass  # a call of the section succeeded
    assert not denied["users"]


def test_other_errors_are_not_refusals(request_for):
    request = request_for()
    with pytest.raises(api.NotFound), sections.guard(request, "users"):
        raise api.NotFound("gone")
    assert not sections.denials(request)["users"]


def test_replacing_the_connection_key_forgets_the_refusals(request_for, connection):
    request = request_for()
    sections.denials(request).note("applications")
    connection.key_hint = "ak_…9999"
    connection.save()
    fresh = request_for()
    fresh.session = request.session
    assert not sections.denials(fresh)["applications"]


def test_a_refusal_of_one_connection_does_not_apply_to_another(request_for, user):
    from tests.conftest import make_connection

    request = request_for()
    sections.denials(request).note("users")
    other = make_connection(user, label="Other", key="ak_" + "O" * 40)
    user.preferences.active_connection = other
    user.preferences.save()
    fresh = request_for()
    fresh.session = request.session
    assert not sections.denials(fresh)["users"]


def test_unknown_sections_are_ignored(request_for):
    request = request_for()
    sections.denials(request).note("nonsense")
    assert sections.denials(request).known() == []


def test_one_time_tokens(request_for):
    cache.clear()
    request = request_for()
    token = once.once_issue(request)
    assert once.once_consume(request, token) == "ok"
    assert once.once_consume(request, token) == "spent"
    assert once.once_consume(request, "never-issued") == "unknown"
    assert once.once_consume(request, "") == "unknown"


def test_a_released_token_is_neither_valid_nor_spent(request_for):
    cache.clear()
    request = request_for()
    token = once.once_issue(request)
    assert once.once_consume(request, token) == "ok"
    once.once_release(request, token)  # the create failed: nothing was made with it
    assert once.once_consume(request, token) == "unknown"


def test_a_token_raced_by_two_requests_lets_only_one_through(request_for):
    cache.clear()
    first = request_for()
    token = once.once_issue(first)
    # The second request read the session before the first one saved it.
    second = request_for()
    second.session[once.ONCE_SESSION_KEY] = list(first.session[once.ONCE_SESSION_KEY])
    assert once.once_consume(first, token) == "ok"
    assert once.once_consume(second, token) == "spent"


def test_the_tokens_do_not_depend_on_the_shared_cache(request_for, settings):
    settings.CACHES = {  # Redis (CACHE_URL) on a port where nothing listens
        **settings.CACHES,
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{free_port()}/0",
        },
    }
    request = request_for()
    token = once.once_issue(request)
    assert once.once_consume(request, token) == "ok"  # the guard is in the database
    assert once.once_consume(request, token) == "spent"  # a reload still creates nothing


def test_only_the_last_tokens_are_kept(request_for):
    request = request_for()
    tokens = [once.once_issue(request) for _ in range(once.ONCE_KEEP + 5)]
    assert request.session[once.ONCE_SESSION_KEY] == tokens[-once.ONCE_KEEP :]


def test_the_key_check_uses_the_new_key_once_and_records_nothing(api):
    new_key = "ak_" + "N" * 60
    api.get(url("/v3/accounts/me"), json={"id": "c" * 32, "display_name": "Acme"})
    # No request is given to the check: its call cannot be recorded among the connection's.
    check = key_check(host=API, key=new_key)
    assert check.ok
    assert check.account_name == "Acme"
    assert len(api.calls) == 1
    assert api.calls[0].request.headers["Authorization"] == f"Bearer {new_key}"


def test_a_failed_key_check_says_why(api):
    api.get(
        url("/v3/accounts/me"),
        status=401,
        json=error_body(401, "invalid_apikey", request_id="up-401"),
    )
    check = key_check(host=API, key="ak_" + "N" * 60)
    assert not check.ok
    assert "rejected" in check.message
    assert check.request_id == "up-401"


def test_group_names_degrade_to_nothing_when_refused(api):
    from dmportal.accounts.services import make_client

    api.get(url("/v3/policy-groups"), status=403, json=error_body(403, "access_denied"))
    assert names.group_names(make_client(API, SENTINEL_KEY)) == {}


@pytest.mark.parametrize(
    ("secure", "target", "kept"),
    [
        (False, "/team/api-keys/", True),
        (True, "/team/api-keys/", True),
        (True, "http://testserver/team/api-keys/", False),  # no step down from https
        (False, "https://evil.example/", False),
        (False, "//evil.example/", False),
    ],
)
def test_a_team_forms_next_stays_on_this_site_and_on_https(rf, secure, target, kept):
    from dmportal.team.views.common import safe_next

    request = rf.post("/team/api-keys/x/", {"next": target}, secure=secure)
    assert safe_next(request, "/default/") == (target if kept else "/default/")
