"""Encryption of stored API keys: the only module that encrypts or decrypts them.

Fernet (AES-128-CBC + HMAC-SHA256) through MultiFernet over DMPORTAL_ENCRYPTION_KEYS, newest
first: new tokens use the first key, any listed key decrypts, and `rotate` re-encrypts with
the first key. SECRET_KEY is not an input. The plaintext inside a token is a small JSON
envelope naming the owner, so a ciphertext copied into another user's row does not decrypt
for them.
"""

import base64
import binascii
import json
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.views.decorators.debug import sensitive_variables


class EncryptionNotConfigured(Exception):
    pass


UNREADABLE = "The stored key cannot be decrypted with the configured keys."


class DecryptionFailed(Exception):
    """The token cannot be read with the configured keys, or belongs to someone else."""


def key_problems(keys):
    """Human-readable problems with a list of Fernet keys (empty list when they are fine)."""
    if not keys:
        return ["DMPORTAL_ENCRYPTION_KEYS is empty: stored API keys cannot be encrypted."]
    problems = []
    for index, key in enumerate(keys, start=1):
        try:
            raw = base64.urlsafe_b64decode(key.encode("ascii"))
        except (binascii.Error, ValueError, UnicodeEncodeError):
            raw = b""
        if len(raw) != 32:
            problems.append(
                f"DMPORTAL_ENCRYPTION_KEYS entry {index} is not a Fernet key "
                "(32 url-safe base64-encoded bytes; make one with "
                "`python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'`)."
            )
    return problems


@lru_cache(maxsize=4)
def _multi_fernet(keys):
    problems = key_problems(list(keys))
    if problems:
        raise EncryptionNotConfigured(" ".join(problems))
    return MultiFernet([Fernet(key) for key in keys])


def _fernet():
    return _multi_fernet(tuple(settings.DMPORTAL_ENCRYPTION_KEYS))


@sensitive_variables("api_key", "envelope")
def encrypt_api_key(api_key, *, owner_id):
    envelope = json.dumps({"owner": owner_id, "key": api_key}).encode()
    return _fernet().encrypt(envelope).decode("ascii")


@sensitive_variables("envelope", "data")
def decrypt_api_key(token, *, owner_id):
    try:
        envelope = _fernet().decrypt(token.encode("ascii"))
        data = json.loads(envelope)
    except (InvalidToken, ValueError, UnicodeError, AttributeError) as exc:
        raise DecryptionFailed(
            "The stored key cannot be decrypted with the configured keys."
        ) from exc
    if not isinstance(data, dict) or data.get("owner") != owner_id or not data.get("key"):
        raise DecryptionFailed("The stored key does not belong to this user.")
    return data["key"]


def rotate_token(token):
    """The same plaintext encrypted with the newest key (raises DecryptionFailed)."""
    try:
        return _fernet().rotate(token.encode("ascii")).decode("ascii")
    except (InvalidToken, UnicodeError, AttributeError) as exc:
        raise DecryptionFailed(
            "The stored key cannot be decrypted with the configured keys."
        ) from exc


CANARY = b"dmportal encryption canary"


def canary_token():
    """A new readiness canary (models.EncryptionCanary), encrypted with the newest key."""
    return _fernet().encrypt(CANARY).decode("ascii")


def canary_readable(token):
    """Whether the configured keys decrypt the canary `token` to the canary text.

    Raises EncryptionNotConfigured when there are no usable keys at all.
    """
    try:
        return _fernet().decrypt(token.encode("ascii")) == CANARY
    except (InvalidToken, UnicodeError, AttributeError):
        return False


def key_hint(api_key):
    """What a page may show of a key: the prefix and its last four characters."""
    return f"ak_…{api_key[-4:]}"
