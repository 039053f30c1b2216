"""Issue 14, finding 5: the guard that makes a secret-creating form single-use lived in each
worker's own memory when no CACHE_URL is set (the default), so a double submit landing on two
gunicorn workers created two secrets. It is in the database now, which every worker shares
with or without CACHE_URL (on the PostgreSQL + Redis profile too)."""

import re

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.core.cache import cache
from django.test import RequestFactory

from dmportal.core import once
from tests.conftest import envelope
from tests.factories import GROUP_DEVS, GROUPS, api_key, url, user

pytestmark = pytest.mark.django_db
SECRET = "ak_1PUBLICPART" + "9" * 32 + "SeCrEtSeCrEtSeCrEtSeCrEtSeCrEt42"


def another_worker():
    """What a second gunicorn worker without CACHE_URL knows of the first one's memory:
    nothing (its own, empty, per-process cache)."""
    cache.clear()


def test_a_token_raced_on_two_workers_lets_only_one_through():
    first = RequestFactory().post("/")
    first.session = SessionStore()
    token = once.once_issue(first)
    # The second request read the session before the first one saved it.
    second = RequestFactory().post("/")
    second.session = SessionStore()
    second.session[once.ONCE_SESSION_KEY] = list(first.session[once.ONCE_SESSION_KEY])
    assert once.once_consume(first, token) == "ok"
    another_worker()
    assert once.once_consume(second, token) == "spent"


def test_a_double_submit_on_two_workers_creates_one_key(signed_in, api):
    api.get(url("/v3/users"), json=envelope([user(1), user(2)]))
    api.get(url("/v3/policy-groups"), json=envelope(GROUPS))
    api.post(url("/v3/api-keys"), status=201, json={**api_key(9, name="Robot"), "key": SECRET})
    html = signed_in.get("/team/api-keys/new/").content.decode()
    token = re.search(r'name="once" value="([^"]+)"', html).group(1)
    form = {"once": token, "name": "Robot", "owner": user(2)["id"], "groups": [GROUP_DEVS]}
    # Both requests carry the session as it was before either was answered.
    session = signed_in.session
    before = dict(session.items())
    first = signed_in.post("/team/api-keys/new/", form)
    assert first.status_code == 201
    session = signed_in.session
    session.clear()
    session.update(before)
    session.save()
    another_worker()
    second = signed_in.post("/team/api-keys/new/", form)
    assert second.status_code == 409
    assert [c.request.method for c in api.calls].count("POST") == 1
    assert SECRET not in second.content.decode()
