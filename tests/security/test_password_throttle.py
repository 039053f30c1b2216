"""Issue 14, finding 2 and its "also": one throttle for every place a password is checked.

The password-change page (Django's stock view) checked the old password with no throttle, no
counter and no activity entry: 30 wrong guesses, then the right one, worked. The password
page's failure counter was read and written back on the session, so 16 parallel wrong
answers left it at 1. Now sign-in, the password page and the password change go through
accounts/throttle.py: counted in the database (atomically, so parallel guesses are counted
one by one and no more than the limit are ever hashed), per (user name, address), per user
name from any address (doubling pauses, never a lock-out for good) and per address across
user names; and the hashing itself is capped per process (accounts/hashers.py).
"""

import json
import os
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.hashers import make_password
from django.test import Client

from dmportal.accounts import hashers
from dmportal.accounts.models import ActivityEntry, PasswordFailures
from dmportal.accounts.reauth import RECENT_AUTH_SECONDS
from dmportal.accounts.signals import SESSION_AUTH_AT
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]
LOGIN = "/accounts/login/"
CHANGE = "/accounts/password/"
CONFIRM = "/accounts/confirm-password/"
NEW = "a new passphrase for alice, 2026"


def login(client, username="alice", password=PASSWORD, **extra):
    return client.post(LOGIN, {"username": username, "password": password}, **extra)


def change(client, old):
    return client.post(CHANGE, {"old_password": old, "new_password1": NEW, "new_password2": NEW})


def signed_out(client):
    return client.get("/connections/")["Location"].startswith("/accounts/login/")


def pause_over(seconds=2 * 86400, **match):
    """As if `seconds` had passed since the rows' last failure (by default: long ago)."""
    for row in PasswordFailures.objects.filter(**match):
        row.last_at -= timedelta(seconds=seconds)
        row.save(update_fields=["last_at"])


# -- the password change ---------------------------------------------------------------------


def test_wrong_old_passwords_are_throttled_audited_and_sign_the_session_out(client, user):
    client.force_login(user)
    limit = django_settings.DMPORTAL_SIGNIN_FAILURES
    for n in range(limit - 1):
        response = change(client, f"guess {n}")
        assert response.status_code == 200
        assert "Your old password was entered incorrectly" in response.content.decode()
    last = change(client, "one guess too many")
    assert last.status_code == 302
    assert signed_out(client)
    assert change(client, PASSWORD).status_code == 302  # to the login page: nothing changed
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
    failed = ActivityEntry.objects.filter(action="password.change", result="failed")
    assert failed.count() == limit
    # The guesses count for signing in too: paused for this user from this address.
    assert login(Client()).status_code == 429


def test_a_password_change_is_audited_and_signs_out_the_other_sessions(client, user):
    client.force_login(user)
    other = Client()
    other.force_login(user)
    assert change(client, PASSWORD).status_code == 302
    assert ActivityEntry.objects.filter(action="password.change", result="ok").count() == 1
    assert client.get("/connections/").status_code == 200  # this session goes on
    assert signed_out(other)


# -- one count for every password check ------------------------------------------------------


def test_sign_in_the_password_page_and_the_change_share_one_count(client, user):
    assert login(Client(), password="wrong 1").status_code == 200
    assert login(Client(), password="wrong 2").status_code == 200
    client.force_login(user)
    session = client.session
    session[SESSION_AUTH_AT] = 0
    session.save()
    assert client.post(CONFIRM, {"password": "wrong 3"}).status_code == 200
    assert change(client, "wrong 4").status_code == 200
    assert change(client, "wrong 5").status_code == 302  # the fifth: signed out
    assert signed_out(client)
    assert login(Client()).status_code == 429


def test_the_right_password_starts_the_count_again(user):
    for n in range(django_settings.DMPORTAL_SIGNIN_FAILURES - 1):
        login(Client(), password=f"wrong {n}")
    assert login(Client()).status_code == 302
    for n in range(django_settings.DMPORTAL_SIGNIN_FAILURES - 1):
        assert login(Client(), password=f"wrong again {n}").status_code == 200


def test_a_pause_ends_so_nobody_is_locked_out_for_good(user):
    for n in range(django_settings.DMPORTAL_SIGNIN_FAILURES):
        login(Client(), password=f"wrong {n}")
    assert login(Client()).status_code == 429
    for scope in ("pair", "name", "address"):
        pause_over(scope=scope)
    assert login(Client()).status_code == 302


def test_the_admin_login_goes_through_the_same_throttle(user):
    """Second reading of issue 14: django-axes counted every authenticate() (its backend), the
    admin's login included; its replacement counted only dmportal's own forms, so /admin/login/
    took any number of guesses. The backend now counts every check made outside them."""
    user.is_staff = True
    user.save()

    def admin_login(client, password):
        return client.post(
            "/admin/login/?next=/admin/", {"username": "alice", "password": password}
        )

    for n in range(django_settings.DMPORTAL_SIGNIN_FAILURES + 5):
        assert admin_login(Client(), f"wrong {n}").status_code == 200
    assert PasswordFailures.objects.get(scope="pair").count == (
        django_settings.DMPORTAL_SIGNIN_FAILURES
    )
    refused = admin_login(Client(), PASSWORD)  # even the right password, while paused
    assert refused.status_code == 200
    assert "_auth_user_id" not in refused.wsgi_request.session
    assert login(Client()).status_code == 429  # and dmportal's sign-in is paused as well
    for scope in ("pair", "name", "address"):
        pause_over(scope=scope)
    assert admin_login(Client(), PASSWORD).status_code == 302
    assert not PasswordFailures.objects.filter(scope__in=("pair", "name")).exists()


def test_a_check_inside_the_sign_in_form_is_counted_once(user):
    login(Client(), password="wrong")
    assert PasswordFailures.objects.get(scope="pair").count == 1


# -- per user name, from many addresses; per address, across user names -----------------------


def test_guessing_one_user_name_from_many_addresses_is_slowed_down(user, settings):
    settings.DMPORTAL_SIGNIN_NAME_FAILURES = 6
    for n in range(6):  # one guess per address: the pair rule never sees more than one
        assert login(Client(REMOTE_ADDR=f"203.0.113.{n}"), password="wrong").status_code == 200
    paused = login(Client(REMOTE_ADDR="203.0.113.99"), password="wrong")
    assert paused.status_code == 429
    first = int(paused["Retry-After"])
    pause_over(first + 1, scope="name")  # the pause passed: one more guess, a longer pause
    assert login(Client(REMOTE_ADDR="203.0.113.98"), password="wrong").status_code == 200
    longer = int(login(Client(REMOTE_ADDR="203.0.113.97"), password="wrong")["Retry-After"])
    assert longer == 2 * first
    PasswordFailures.objects.filter(scope="name").update(count=60)
    capped = int(login(Client(REMOTE_ADDR="203.0.113.96"), password="wrong")["Retry-After"])
    assert capped <= settings.DMPORTAL_SIGNIN_COOLOFF_MINUTES * 60


def test_the_users_own_address_is_not_slowed_by_guesses_from_elsewhere(user, settings):
    settings.DMPORTAL_SIGNIN_NAME_FAILURES = 3
    home = "198.51.100.5"
    assert login(Client(REMOTE_ADDR=home)).status_code == 302  # signed in from here before
    for n in range(10):
        login(Client(REMOTE_ADDR=f"203.0.113.{n}"), password="wrong")
    assert login(Client(REMOTE_ADDR="203.0.113.200")).status_code == 429
    assert login(Client(REMOTE_ADDR=home)).status_code == 302


def test_one_address_guessing_many_user_names_is_paused(user, settings):
    settings.DMPORTAL_SIGNIN_ADDRESS_FAILURES = 8
    for n in range(8):
        assert login(Client(), username=f"user{n}", password="wrong").status_code in (200, 429)
    assert login(Client()).status_code == 429  # even alice's right password, from there
    assert login(Client(REMOTE_ADDR="198.51.100.7")).status_code == 302  # elsewhere: fine


def test_the_throttle_keeps_no_typed_name_or_address(user):
    login(Client(REMOTE_ADDR="203.0.113.7"), username="someone@example.com", password="x")
    stored = repr(list(PasswordFailures.objects.values()))
    assert "someone" not in stored
    assert "203.0.113.7" not in stored


# -- parallel guesses, on a real database ------------------------------------------------------


@pytest.fixture
def database_url(tmp_path):
    """An empty database for a dmportal process of its own: a SQLite file (as in production,
    WAL), or on the PostgreSQL profile a scratch PostgreSQL database."""
    if django_settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        from tests.deploy.conftest import scratch_database

        with scratch_database("dmportal_throttle") as url:
            yield url
    else:
        yield f"sqlite:///{tmp_path / 'throttle.sqlite3'}"


def parallel(database_url, scenario, threads=16):
    env = {**os.environ, "DATABASE_URL": database_url, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    done = subprocess.run(
        [sys.executable, "-m", "tests.security.parallel_passwords", scenario, str(threads)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["errors"] == []
    assert all(status < 500 for status in result["statuses"]), result
    return result


def test_parallel_wrong_answers_on_the_password_page_are_each_counted(database_url):
    """16 wrong answers at once in one session: no more than the limit are hashed, each of
    them is counted, and the session is signed out."""
    result = parallel(database_url, "reauth")
    limit = django_settings.DMPORTAL_SIGNIN_FAILURES
    assert 1 <= result["checked"] <= limit
    assert result["counts"]["pair"] == result["checked"]
    assert result["sessions"] == 0  # signed out


def test_parallel_wrong_sign_ins_hash_no_more_than_the_limit(database_url):
    result = parallel(database_url, "signin")
    limit = django_settings.DMPORTAL_SIGNIN_FAILURES
    assert result["checked"] == limit
    assert result["counts"] == {"pair": limit, "name": limit, "address": limit}
    assert result["statuses"].count(429) == 16 - (limit - 1)


def test_parallel_failures_are_counted_exactly(database_url):
    """16 wrong sign-ins at once, each for another user name from one address (under every
    limit): the address's count is exactly 16, none lost to a race."""
    result = parallel(database_url, "names")
    assert result["checked"] == 16
    assert result["counts"]["address"] == 16
    assert result["failed_entries"] == 16


# -- hashing capped per process ----------------------------------------------------------------


def test_no_more_passwords_are_hashed_at_once_than_the_cap(settings, monkeypatch):
    settings.DMPORTAL_PASSWORD_HASHES = 2
    settings.DMPORTAL_PASSWORD_HASH_WAIT = 30
    running, peak, lock = [0], [0], threading.Lock()
    release = threading.Event()
    started = threading.Semaphore(0)

    def hash_slowly(self, password, encoded):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        started.release()
        release.wait(timeout=30)
        with lock:
            running[0] -= 1
        return False

    monkeypatch.setattr(hashers.Argon2PasswordHasher, "verify", hash_slowly)
    hasher = hashers.BoundedArgon2PasswordHasher()
    workers = [threading.Thread(target=hasher.verify, args=("x", "y")) for _ in range(8)]
    for worker in workers:
        worker.start()
    assert started.acquire(timeout=30)
    assert started.acquire(timeout=30)  # two are hashing; the others wait for a slot
    release.set()
    for worker in workers:
        worker.join(timeout=30)
    assert peak[0] == 2


def test_when_every_slot_stays_busy_the_check_is_refused_and_not_counted(
    client, user, settings, monkeypatch
):
    settings.PASSWORD_HASHERS = ["dmportal.accounts.hashers.BoundedArgon2PasswordHasher"]
    settings.DMPORTAL_PASSWORD_HASHES = 1
    settings.DMPORTAL_PASSWORD_HASH_WAIT = 0.01
    user.password = make_password(PASSWORD)
    user.save()
    slots = hashers.hashing_slots()
    assert slots.acquire(timeout=1)  # another request is hashing, and stays
    try:
        response = login(client)
    finally:
        slots.release()
    assert response.status_code == 503
    assert "checking many passwords" in response.content.decode()
    assert not PasswordFailures.objects.filter(count__gt=0).exists()
    assert login(client).status_code == 302


def test_the_production_hasher_is_argon2_behind_the_cap():
    from dmportal import settings as production

    assert production.PASSWORD_HASHERS[0] == "dmportal.accounts.hashers.BoundedArgon2PasswordHasher"
    assert hashers.BoundedArgon2PasswordHasher.algorithm == "argon2"  # stored hashes stay valid
    assert RECENT_AUTH_SECONDS == 300


def test_a_row_deleted_by_a_parallel_right_password_is_created_again(db, monkeypatch):
    """Between creating a rule's row and locking it, a parallel sign-in with the right
    password may delete it (attempt_succeeded): the attempt creates it again and is counted,
    never a 500 (seen on PostgreSQL in the soak test's parallel sign-ins)."""
    from dmportal.accounts import throttle

    real = PasswordFailures.objects.get_or_create
    deleted = []

    def then_deleted(**kwargs):
        made = real(**kwargs)
        if kwargs["scope"] == "pair" and not deleted:
            PasswordFailures.objects.filter(scope="pair").delete()  # the parallel success
            deleted.append(True)
        return made

    monkeypatch.setattr(PasswordFailures.objects, "get_or_create", then_deleted)
    attempt, wait = throttle.attempt_count("alice", "192.0.2.7")
    assert deleted
    assert wait == 0
    assert attempt.pair_count == 1
    assert PasswordFailures.objects.get(scope="pair").count == 1
