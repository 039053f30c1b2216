"""Checklist B1 and B2: the password policy, and sign-in throttling that neither a forged
X-Forwarded-For nor a shared proxy address can defeat, with no hint of which users exist."""

import re

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import Client

from dmportal import settings as production
from dmportal.accounts.models import ActivityEntry
from tests.conftest import PASSWORD, joined_ids

pytestmark = pytest.mark.django_db
LOGIN = "/accounts/login/"
PROXY = "10.0.0.1"  # the reverse proxy's own address, as dmportal's peer


def login(client, username="alice", password=PASSWORD, **extra):
    return client.post(LOGIN, {"username": username, "password": password}, **extra)


# -- B1 ---------------------------------------------------------------------------------------


def test_the_production_validators_are_length_and_blocklists_not_composition_rules():
    names = [v["NAME"].rsplit(".", 1)[1] for v in production.AUTH_PASSWORD_VALIDATORS]
    assert set(names) <= {
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    }
    assert {"UserAttributeSimilarityValidator", "CommonPasswordValidator"} <= set(names)
    minimum = next(
        v
        for v in production.AUTH_PASSWORD_VALIDATORS
        if v["NAME"].endswith("MinimumLength") or v["NAME"].endswith("MinimumLengthValidator")
    )
    assert minimum["OPTIONS"]["min_length"] >= 12


@pytest.mark.parametrize("password", ["password1234", "123456789012345", "eleven char"])
def test_weak_passwords_are_refused(user, password):
    with pytest.raises(ValidationError):
        validate_password(password, user=user)


def test_a_long_passphrase_is_accepted_whole_through_the_change_form(client, user):
    passphrase = "my " + "very long and perfectly memorable passphrase " * 3 + "ÿ ✓"  # > 128
    assert len(passphrase) > 128
    client.force_login(user)
    response = client.post(
        "/accounts/password/",
        {"old_password": PASSWORD, "new_password1": passphrase, "new_password2": passphrase},
    )
    assert response.status_code == 302
    client.post("/accounts/logout/")
    assert login(client, password=passphrase[:-1]).status_code == 200  # not truncated
    assert login(client, password=passphrase).status_code == 302


def test_a_weak_new_password_is_a_form_error_and_changes_nothing(client, user):
    client.force_login(user)
    response = client.post(
        "/accounts/password/",
        {
            "old_password": PASSWORD,
            "new_password1": "password1234",
            "new_password2": "password1234",
        },
    )
    assert response.status_code == 200
    assert "This password is too common" in response.content.decode()
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


# -- B2: nothing tells which accounts exist ----------------------------------------------------


def normalised(response, username):
    """A response's body and headers with what must differ per request taken out: the
    request id, the CSRF token and the user name typed into the form (echoed back)."""
    body = joined_ids(response.content.decode())
    body = re.sub(r"[0-9a-f]{32}", "<id>", body)
    body = re.sub(r"[A-Za-z0-9]{64}", "<token>", body)
    body = body.replace(f'value="{username}"', 'value="<username>"')
    headers = {
        k: v for k, v in response.items() if k not in ("X-Request-ID", "Expires", "Content-Length")
    }
    csp = headers.pop("Content-Security-Policy", "")
    headers["csp"] = sorted(d.strip() for d in csp.split(";"))  # directives in any order
    return response.status_code, body, headers, sorted(response.cookies)


def test_an_unknown_user_and_a_wrong_password_get_identical_answers(user):
    wrong = login(Client(), password="not the password at all")
    unknown = login(Client(), username="nobody-here", password="not the password at all")
    assert normalised(wrong, "alice") == normalised(unknown, "nobody-here")
    assert wrong.status_code == 200
    assert "Please enter a correct username and password" in wrong.content.decode()


def test_an_unknown_user_is_locked_out_after_as_many_attempts_as_a_real_one(user, settings):
    limit = settings.DMPORTAL_SIGNIN_FAILURES
    real, ghost = Client(), Client()
    for attempt in range(limit - 1):
        assert login(real, password="wrong").status_code == 200, attempt
        assert login(ghost, username="nobody-here", password="wrong").status_code == 200
    locked_real = login(real, password="wrong")
    locked_ghost = login(ghost, username="nobody-here", password="wrong")
    assert locked_real.status_code == locked_ghost.status_code == 429
    assert normalised(locked_real, "alice") == normalised(locked_ghost, "nobody-here")


# -- B2: throttling that a forged X-Forwarded-For does not reset -------------------------------


def test_rotating_forwarded_for_values_do_not_reset_the_count(user, settings):
    assert settings.DMPORTAL_PROXY_COUNT == 0  # the default: no proxy is trusted
    client = Client(REMOTE_ADDR="198.51.100.7")
    statuses = [
        login(client, password="wrong", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}").status_code
        for n in range(settings.DMPORTAL_SIGNIN_FAILURES)
    ]
    assert statuses == [200] * (settings.DMPORTAL_SIGNIN_FAILURES - 1) + [429]
    for n in range(10, 13):  # locked, whatever the header says, even with the right password
        assert login(client, HTTP_X_FORWARDED_FOR=f"203.0.113.{n}").status_code == 429
    addresses = set(ActivityEntry.objects.values_list("ip_address", flat=True))
    assert addresses == {"198.51.100.7"}


def behind_proxy(client_address):
    """A browser behind the trusted proxy: the proxy appends the address it saw."""
    return Client(REMOTE_ADDR=PROXY), client_address


def test_behind_a_trusted_proxy_the_real_client_is_counted_not_its_claims(user, settings):
    settings.DMPORTAL_PROXY_COUNT = 1
    attacker = Client(REMOTE_ADDR=PROXY)
    statuses = [
        # The attacker sends its own X-Forwarded-For; the proxy appends the real address.
        login(
            attacker, password="wrong", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}, 203.0.113.66"
        ).status_code
        for n in range(settings.DMPORTAL_SIGNIN_FAILURES)
    ]
    assert statuses == [200] * (settings.DMPORTAL_SIGNIN_FAILURES - 1) + [429]
    spoofed = "192.0.2.99, 203.0.113.66"
    assert login(attacker, HTTP_X_FORWARDED_FOR=spoofed).status_code == 429
    # Someone else behind the same proxy is not locked out by the attacker's failures.
    colleague = Client(REMOTE_ADDR=PROXY)
    assert login(colleague, HTTP_X_FORWARDED_FOR="198.51.100.20").status_code == 302
    recorded = ActivityEntry.objects.values_list("ip_address", flat=True)
    assert set(recorded) == {"203.0.113.66", "198.51.100.20"}  # never the proxy, never a claim


@pytest.mark.parametrize(
    ("forwarded", "expected"),
    [
        (None, PROXY),  # not through the proxy: the peer's address
        ("", PROXY),
        ("not-an-address", PROXY),
        ("203.0.113.5", "203.0.113.5"),
        ("192.0.2.1, 203.0.113.5", "203.0.113.5"),
        ("  192.0.2.1 ,2001:db8::1 ", "2001:db8::1"),
    ],
)
def test_the_client_address_behind_one_proxy(rf, settings, forwarded, expected):
    from dmportal.core.addresses import client_address

    settings.DMPORTAL_PROXY_COUNT = 1
    extra = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded is not None else {}
    assert client_address(rf.get("/", REMOTE_ADDR=PROXY, **extra)) == expected


def test_with_two_proxies_the_second_entry_from_the_right_is_the_client(rf, settings):
    from dmportal.core.addresses import client_address

    settings.DMPORTAL_PROXY_COUNT = 2
    request = rf.get("/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.5, 10.0.0.2")
    assert client_address(request) == "203.0.113.5"
    short = rf.get("/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="203.0.113.5")
    assert client_address(short) == PROXY
