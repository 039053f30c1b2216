"""Encryption of stored API keys: round trip, owner binding, rotation, failing closed."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection as db

from dmportal.accounts import crypto
from dmportal.accounts.models import Connection
from tests.conftest import SENTINEL_KEY, make_connection

ROOT = Path(__file__).resolve().parents[2]


def test_round_trip():
    token = crypto.encrypt_api_key(SENTINEL_KEY, owner_id=7)
    assert SENTINEL_KEY not in token
    assert crypto.decrypt_api_key(token, owner_id=7) == SENTINEL_KEY


def test_tokens_differ_each_time():
    assert crypto.encrypt_api_key(SENTINEL_KEY, owner_id=7) != crypto.encrypt_api_key(
        SENTINEL_KEY, owner_id=7
    )


def test_a_ciphertext_moved_to_another_owner_does_not_decrypt():
    token = crypto.encrypt_api_key(SENTINEL_KEY, owner_id=7)
    with pytest.raises(crypto.DecryptionFailed):
        crypto.decrypt_api_key(token, owner_id=8)


@pytest.mark.parametrize("token", ["", "garbage", "gAAAAABkZXJwAA==", "é"])
def test_garbage_does_not_decrypt(token):
    with pytest.raises(crypto.DecryptionFailed):
        crypto.decrypt_api_key(token, owner_id=1)


def test_a_wrong_encryption_key_is_reported_not_returned(settings):
    token = crypto.encrypt_api_key(SENTINEL_KEY, owner_id=1)
    settings.DMPORTAL_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(crypto.DecryptionFailed) as info:
        crypto.decrypt_api_key(token, owner_id=1)
    assert token not in str(info.value)


def test_secret_key_is_not_an_input(settings):
    token = crypto.encrypt_api_key(SENTINEL_KEY, owner_id=1)
    settings.SECRET_KEY = "a-completely-different-secret-key-0123456789-abcdefghijkl"
    assert crypto.decrypt_api_key(token, owner_id=1) == SENTINEL_KEY


@pytest.mark.django_db
def test_rotation_re_encrypts_with_the_newest_key(settings, user):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.DMPORTAL_ENCRYPTION_KEYS = [old]
    connection = make_connection(user)
    before = connection.key_ciphertext
    settings.DMPORTAL_ENCRYPTION_KEYS = [new, old]  # a new key in front
    call_command("rotate_encryption_keys")
    settings.DMPORTAL_ENCRYPTION_KEYS = [new]  # the old key dropped
    connection.refresh_from_db()
    assert connection.key_ciphertext != before
    assert crypto.decrypt_api_key(connection.key_ciphertext, owner_id=user.pk) == SENTINEL_KEY
    call_command("rotate_encryption_keys")  # running it again is harmless
    connection.refresh_from_db()
    assert crypto.decrypt_api_key(connection.key_ciphertext, owner_id=user.pk) == SENTINEL_KEY


REPLACED_KEY = "ak_REPLACED" + "7" * 40


def interleave(monkeypatch, during_rotation):
    """Run `during_rotation(pk)` once, after the rotation read a row's ciphertext and before
    it writes the re-encrypted one back: a user's request landing in between."""
    real = crypto.rotate_token
    done = set()

    def rotate(token):
        rotated = real(token)
        row = Connection.objects.filter(key_ciphertext=token).first()  # None: the canary
        pk = row.pk if row else None
        if row is not None and pk not in done:
            done.add(pk)
            during_rotation(pk)
        return rotated

    monkeypatch.setattr(crypto, "rotate_token", rotate)


@pytest.mark.django_db
def test_a_key_replaced_during_the_rotation_is_kept_not_restored(settings, user, monkeypatch):
    """Issue 14, finding 6: the rotation wrote back the ciphertext it had read, over the key the
    user had just put in its place (their old, possibly compromised key came back). It updates
    a row only if the ciphertext is still the one it read, and reads the row again if not."""
    from dmportal.accounts.services import KeyFacts, connection_update

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.DMPORTAL_ENCRYPTION_KEYS = [old]
    connection = make_connection(user)
    other = make_connection(user, label="Acme staging")
    settings.DMPORTAL_ENCRYPTION_KEYS = [new, old]
    facts = KeyFacts(account_id="a" * 32, account_name="Acme", key_id="1" * 32)

    def replace(pk):
        if pk == connection.pk:
            row = Connection.objects.get(pk=pk)
            connection_update(row, label=row.label, api_key=REPLACED_KEY, facts=facts)

    interleave(monkeypatch, replace)
    call_command("rotate_encryption_keys")
    settings.DMPORTAL_ENCRYPTION_KEYS = [new]  # the old key dropped: every row must read
    for row, key in ((connection, REPLACED_KEY), (other, SENTINEL_KEY)):
        row.refresh_from_db()
        assert crypto.decrypt_api_key(row.key_ciphertext, owner_id=user.pk) == key


@pytest.mark.django_db
def test_a_connection_removed_during_the_rotation_stays_removed(settings, user, monkeypatch):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.DMPORTAL_ENCRYPTION_KEYS = [old]
    make_connection(user)
    settings.DMPORTAL_ENCRYPTION_KEYS = [new, old]
    interleave(monkeypatch, lambda pk: Connection.objects.filter(pk=pk).delete())
    call_command("rotate_encryption_keys")
    assert not Connection.objects.exists()


@pytest.mark.django_db
def test_rotation_reports_keys_it_cannot_read(settings, user, capsys):
    make_connection(user)
    settings.DMPORTAL_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(CommandError, match="could not be decrypted"):
        call_command("rotate_encryption_keys")


@pytest.mark.django_db
def test_the_database_holds_no_plaintext_key(user):
    make_connection(user)
    with db.cursor() as cursor:
        cursor.execute("SELECT * FROM accounts_connection")
        rows = cursor.fetchall()
    assert rows
    assert SENTINEL_KEY not in repr(rows)
    assert Connection.objects.get().key_hint == "ak_…CRET"


@pytest.mark.parametrize(
    ("keys", "problem"),
    [([], "empty"), (["short"], "not a Fernet key"), (["x" * 44], "not a Fernet key")],
)
def test_key_problems(keys, problem):
    assert problem in " ".join(crypto.key_problems(keys))


def start_django(**env):
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DMPORTAL", "SECRET"))}
    base.update(
        {"DJANGO_SETTINGS_MODULE": "dmportal.settings", "DMPORTAL_ENV_FILE": "/nonexistent"}
    )
    base.update(env)
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=base,
        capture_output=True,
        text=True,
        check=False,
    )


def test_production_start_up_fails_without_secret_key():
    result = start_django(DEBUG="false", DMPORTAL_ENCRYPTION_KEYS=Fernet.generate_key().decode())
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_production_start_up_fails_without_encryption_keys():
    result = start_django(DEBUG="false", SECRET_KEY="s" * 50)
    assert result.returncode != 0
    assert "DMPORTAL_ENCRYPTION_KEYS is not set" in result.stderr


def test_start_up_fails_with_a_malformed_encryption_key():
    result = start_django(DEBUG="false", SECRET_KEY="s" * 50, DMPORTAL_ENCRYPTION_KEYS="nope")
    assert result.returncode != 0
    assert "is not a Fernet key" in result.stderr


def test_start_up_refuses_a_plain_http_api_host():
    result = start_django(
        DEBUG="false",
        SECRET_KEY="s" * 50,
        DMPORTAL_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        DMPORTAL_API_HOSTS="http://api.example.test",
    )
    assert result.returncode != 0
    assert "is not https://" in result.stderr


def test_production_starts_with_both_secrets():
    result = start_django(
        DEBUG="false", SECRET_KEY="s" * 50, DMPORTAL_ENCRYPTION_KEYS=Fernet.generate_key().decode()
    )
    assert result.returncode == 0, result.stderr
