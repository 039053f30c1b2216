"""Checking a new key with one call, without keeping it."""

from dataclasses import dataclass

from django.views.decorators.debug import sensitive_variables

from dmportal.accounts.services import make_client
from dmportal.dmapi import errors as api
from dmportal.dmapi import resources


@dataclass
class KeyCheck:
    """The outcome of one call made with a new key: ok, and what it reached or why it failed."""

    ok: bool
    account_name: str = ""
    account_id: str = ""
    message: str = ""
    request_id: str | None = None
    other_key: bool = False  # the pasted key is not the one being checked

    @property
    def detail(self):
        """For the activity log."""
        return self.message or f"reached account {self.account_id}"


@sensitive_variables("key")
def key_check(*, host, key):
    """One call (GET /v3/accounts/me) with `key` on `host` (the active connection's).

    The key lives only in this call's client: it is not stored, logged or recorded in the
    request's API calls (whose failures would otherwise be read as the connection's key being
    rejected).
    """
    try:
        client = make_client(host, key)
        account = resources.account_me(client)
    except api.AuthenticationFailed as exc:
        return KeyCheck(
            False,
            message="The API rejected the new key (HTTP 401). It may not be active yet, or it "
            "was not copied completely.",
            request_id=exc.request_id,
        )
    except api.ApiError as exc:
        return KeyCheck(False, message=exc.message, request_id=exc.request_id)
    return KeyCheck(
        True,
        account_name=str(account.get("display_name") or account.get("company") or "")[:200],
        account_id=str(account.get("id") or "")[:32],
        request_id=account.request_id,
    )
