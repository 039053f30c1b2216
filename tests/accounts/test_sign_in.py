"""Sign-in, sessions, throttling, CSRF and the HTMX login redirect."""

import time
from importlib import import_module

import pytest
from django.contrib.auth.password_validation import validate_password
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.test import Client, override_settings
from django.utils import timezone
from freezegun import freeze_time

from dmportal import settings as production
from dmportal.accounts.models import ActivityEntry
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db
LOGIN = "/accounts/login/"


def login(client, username="alice", password=PASSWORD, **extra):
    return client.post(LOGIN, {"username": username, "password": password}, **extra)


def test_sign_in_and_out(client, user):
    response = login(client)
    assert response.status_code == 302
    assert client.get("/connections/").status_code == 200
    assert client.get("/accounts/logout/").status_code == 405  # logout is a POST
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/connections/").status_code == 302
    assert ActivityEntry.objects.filter(action="signin", result="ok").count() == 1
    assert ActivityEntry.objects.filter(action="signout").count() == 1


def test_the_session_key_changes_at_sign_in(client, user, settings):
    # Session fixation: a session key planted before sign-in must not become the signed-in one.
    planted = import_module(settings.SESSION_ENGINE).SessionStore()
    planted["planted"] = True
    planted.create()
    client.cookies["sessionid"] = planted.session_key
    login(client)
    after = client.cookies["sessionid"].value
    assert after != planted.session_key
    assert not Session.objects.filter(session_key=planted.session_key).exists()
    assert Session.objects.get(session_key=after).get_decoded()["_auth_user_id"] == str(user.pk)


def test_sign_out_ends_the_server_side_session_and_the_old_cookie(client, user):
    login(client)
    old = client.cookies["sessionid"].value
    assert client.post("/accounts/logout/").status_code == 302
    assert not Session.objects.filter(session_key=old).exists()
    replay = Client()
    replay.cookies["sessionid"] = old
    response = replay.get("/connections/")
    assert response.status_code == 302
    assert response["Location"] == f"{LOGIN}?next=/connections/"
    response = replay.get(
        "/connections/", HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL="http://testserver/activity/"
    )
    assert_sent_to_login(response, htmx=True, back="/activity/")


def assert_sent_to_login(response, *, htmx, back="/connections/"):
    """A page is redirected to the login page; an HTMX request gets HX-Redirect there (a 302
    would be followed by the browser and the login form swapped into the table)."""
    if htmx:
        assert response.status_code < 300
        assert response["HX-Redirect"] == f"{LOGIN}?next={back}"
        assert b"<form" not in response.content
    else:
        assert response.status_code == 302
        assert response["Location"] == f"{LOGIN}?next={back}"


def get_page(client, htmx):
    if htmx:
        return client.get(
            "/connections/",
            HTTP_HX_REQUEST="true",
            HTTP_HX_CURRENT_URL="http://testserver/connections/",
        )
    return client.get("/connections/")


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_an_idle_session_ends_after_the_idle_limit(client, user, settings, htmx):
    with freeze_time("2026-03-02 09:00:00") as clock:
        login(client)
        key = client.cookies["sessionid"].value
        clock.tick(settings.SESSION_COOKIE_AGE - 30)
        assert get_page(client, htmx).status_code == 200  # just inside: still signed in
        clock.tick(settings.SESSION_COOKIE_AGE + 1)  # then idle for longer than the limit
        assert_sent_to_login(get_page(client, htmx), htmx=htmx)
        assert not Session.objects.filter(session_key=key, expire_date__gt=timezone.now()).exists()


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_a_session_ends_after_the_absolute_limit_however_active(client, user, settings, htmx):
    limit = settings.SESSION_ABSOLUTE_HOURS * 3600
    step = settings.SESSION_COOKIE_AGE - 60  # never idle for long
    with freeze_time("2026-03-02 09:00:00") as clock:
        login(client)
        key = client.cookies["sessionid"].value
        elapsed = 0
        while elapsed + step < limit:
            clock.tick(step)
            elapsed += step
            assert get_page(client, htmx).status_code == 200, elapsed
        clock.tick(limit - elapsed + 1)
        assert_sent_to_login(get_page(client, htmx), htmx=htmx)
        assert not Session.objects.filter(session_key=key).exists()  # ended server-side too


def test_unknown_user_and_wrong_password_look_the_same(client, user):
    wrong = login(client, password="not the password at all")
    unknown = login(client, username="nobody-here")
    assert wrong.status_code == unknown.status_code == 200
    message = "Please enter a correct username and password"
    assert message in wrong.content.decode()
    assert message in unknown.content.decode()
    assert ActivityEntry.objects.filter(action="signin", result="failed").count() == 2


def test_failed_sign_ins_are_throttled_per_user_and_address(client, user, settings):
    for _ in range(settings.DMPORTAL_SIGNIN_FAILURES):
        login(client, password="wrong")
    locked = login(client)  # even the right password is refused while locked
    assert locked.status_code == 429
    assert "Too many failed sign-ins" in locked.content.decode()
    # A forged X-Forwarded-For does not reset the count (no proxy is trusted by default).
    assert login(client, HTTP_X_FORWARDED_FOR="203.0.113.9").status_code == 429
    # Another address is not locked out by this one's failures.
    other = Client(REMOTE_ADDR="198.51.100.7")
    assert login(other).status_code == 302


def test_a_foreign_next_is_ignored(client, user):
    for target in ("https://evil.example/", "//evil.example/x"):
        response = client.post(
            f"{LOGIN}?next={target}", {"username": "alice", "password": PASSWORD}
        )
        assert response.status_code == 302
        assert response["Location"] == "/", target
        client.post("/accounts/logout/")


def test_every_page_but_login_requires_sign_in(client):
    for path in ("/", "/devices/", "/connections/", "/team/", "/support/", "/preferences/"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith(f"{LOGIN}?next=")
    assert client.get(LOGIN).status_code == 200


def test_an_expired_session_on_htmx_gets_hx_redirect(client):
    response = client.get(
        "/devices/?after=" + "a" * 32,
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL="http://testserver/devices/?state__eq=registered",
    )
    assert response.status_code == 200
    assert response["HX-Redirect"] == f"{LOGIN}?next=/devices/?state__eq=registered"
    assert b"<form" not in response.content


def test_hx_redirect_never_points_elsewhere(client):
    response = client.get(
        "/devices/", HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL="https://evil.example/x"
    )
    assert response["HX-Redirect"] == f"{LOGIN}?next=/"


def test_a_password_change_signs_out_other_sessions(user):
    first, second = Client(), Client()
    login(first)
    login(second)
    response = first.post(
        "/accounts/password/",
        {
            "old_password": PASSWORD,
            "new_password1": "an even longer new passphrase 77",
            "new_password2": "an even longer new passphrase 77",
        },
    )
    assert response.status_code == 302
    assert first.get("/connections/").status_code == 200  # this session stays
    assert_sent_to_login(second.get("/connections/"), htmx=False)  # the other is signed out
    assert_sent_to_login(get_page(second, htmx=True), htmx=True)


def test_password_policy():
    with pytest.raises(ValidationError):
        validate_password("password1234")
    with pytest.raises(ValidationError):
        validate_password("short")
    validate_password("a sixty-four character passphrase is fine " + "x" * 22)


def test_argon2_is_the_first_hasher(user):
    assert "Argon2" in production.PASSWORD_HASHERS[0]
    with override_settings(PASSWORD_HASHERS=production.PASSWORD_HASHERS):
        user.set_password("another long passphrase 12")
        assert user.password.startswith("argon2")


def test_posts_without_a_csrf_token_are_refused(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post("/preferences/", {"timezone": "UTC"})
    assert response.status_code == 403
    assert "This form has expired" in response.content.decode()
    assert "<html" in response.content.decode()
    response = client.post("/preferences/", {"timezone": "UTC"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 403
    assert "<html" not in response.content.decode()


def test_a_token_from_the_page_is_accepted(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    page = client.get("/preferences/").content.decode()
    token = page.split('"X-CSRFToken": "')[1].split('"')[0]
    response = client.post("/preferences/", {"timezone": "Europe/Paris"}, HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 302
    forged = client.post("/preferences/", {"timezone": "UTC"}, HTTP_X_CSRFTOKEN="x" * 64)
    assert forged.status_code == 403


def test_idle_sessions_expire_and_activity_renews_them(client, user, settings):
    from django.contrib.sessions.models import Session

    from dmportal.accounts.signals import SESSION_SEEN_AT

    login(client)
    key = client.cookies["sessionid"].value
    first = Session.objects.get(session_key=key).expire_date
    client.get("/connections/")  # within a minute: no write
    assert Session.objects.get(session_key=key).expire_date == first
    session = client.session
    session[SESSION_SEEN_AT] = time.time() - 120
    session.save()
    before = Session.objects.get(session_key=key).expire_date
    client.get("/connections/")  # later activity pushes the expiry forward
    assert Session.objects.get(session_key=key).expire_date > before
    Session.objects.filter(session_key=key).update(expire_date="2000-01-01T00:00:00Z")
    assert client.get("/connections/").status_code == 302  # idle too long: signed out
