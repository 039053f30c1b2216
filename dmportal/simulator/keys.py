"""API keys and access keys in the real format, and the bearer-key check.

A key is ``ak_1`` + base64(account id, unpadded) + the key's object ID + a 32-character
mixed-case secret, like the example in the spec (``ApiKeyInfoResp.key``). The docs say the last
32 characters are the secret: only the create response shows them; every later read shows the
key without that tail.
"""

from __future__ import annotations

import base64
import random
import secrets
import string
from dataclasses import dataclass

from . import errors

SECRET_ALPHABET = string.ascii_letters + string.digits
SECRET_LEN = 32


def public_part(account_id: str, key_id: str) -> str:
    prefix = base64.b64encode(account_id.encode()).decode().rstrip("=")
    return f"ak_1{prefix}{key_id}"


def new_secret(rng: random.Random | None = None) -> str:
    """A secret with at least one upper-case letter, so no key is ever all lower-case hex."""
    while True:
        if rng is None:
            secret = "".join(secrets.choice(SECRET_ALPHABET) for _ in range(SECRET_LEN))
        else:
            secret = "".join(rng.choice(SECRET_ALPHABET) for _ in range(SECRET_LEN))
        if any(c.isupper() for c in secret):
            return secret


@dataclass(frozen=True)
class Principal:
    """The caller behind a bearer key."""

    kind: str  # "api-key" | "access-key"
    key_id: str
    groups: tuple[str, ...]
    is_admin: bool


def parse_bearer(header: str | None) -> str:
    if not header:
        raise errors.ApiError(401, "invalid_auth", "Authorization header missing.")
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise errors.ApiError(
            401, "invalid_auth", "Authentication failure: the authorization header is invalid."
        )
    return token
