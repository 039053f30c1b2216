"""Connections: choosing the active one, turning it into an API client, saving keys.

`connection_client(user=, connection=)` is the only function that decrypts a stored key: views
reach it through `api_client(request)` (for one request), background jobs with the job's user
and connection (while the job runs). The plaintext is held by the returned client and nowhere
else (not in the session, cache, logs, the page or a job's record).
"""

import logging
import re
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from dmportal.core.addresses import client_address
from dmportal.core.errors import ErrorTable
from dmportal.core.logging import redact
from dmportal.core.ratelimit import UserRateLimited, rate_check
from dmportal.dmapi import ApiClient, resources, shared_breaker
from dmportal.dmapi import errors as api

from . import crypto
from .errors import CredentialError, CredentialUnreadable, HostNotAllowed, NoConnection
from .models import ActivityEntry, Connection, EncryptionCanary, Preferences

log = logging.getLogger("dmportal.accounts")
# Every activity entry (sign-in and its failures, sign-out, connection and key changes, each
# API write) is also a log record here, for whoever collects the logs: INFO when it went
# through, WARNING when not. Pauses of the password throttle are logged by throttle.py.
audit_log = logging.getLogger("dmportal.audit")

API_KEY_FORMAT = re.compile(r"ak_[A-Za-z0-9]{32,250}")
LAST_USED_RESOLUTION = timedelta(minutes=1)
DUPLICATE_LABEL = "You already have a connection with this label."


class KeyCheckFailed(Exception):
    """The key could not be verified against the API; `message` says why, for the form."""

    def __init__(self, message, *, request_id=None, field="api_key"):
        super().__init__(message)
        self.message = message
        self.request_id = request_id
        self.field = field


def normalise_api_key(value):
    """The key as pasted, cleaned; raises ValueError with a message when it is not a key."""
    key = (value or "").strip()
    if key.lower().startswith("bearer "):
        key = key[7:].strip()
    if not key:
        raise ValueError("Enter the API key.")
    if len(key) > 256:
        raise ValueError("That is too long to be an API key (at most 256 characters).")
    if not key.startswith("ak_"):
        raise ValueError("Device Management API keys start with “ak_”.")
    if not API_KEY_FORMAT.fullmatch(key):
        raise ValueError(
            "That does not look like an API key: after “ak_” it has only letters and digits, "
            "at least 32 of them."
        )
    return key


def make_client(api_host, api_key, *, observer=None, user_id=None):
    return ApiClient(
        api_host,
        api_key,
        ca_bundle=settings.DMPORTAL_API_CA_BUNDLE,
        timeout=settings.DMPORTAL_API_TIMEOUT,
        observer=observer,
        # A user's slow pages open only that user's circuit (dmapi/breaker.py).
        breaker_scope=f"user {user_id}" if user_id is not None else None,
        breaker=shared_breaker(
            settings.DMPORTAL_API_BREAKER_FAILURES, settings.DMPORTAL_API_BREAKER_SECONDS
        ),
    )


# -- the active connection ---------------------------------------------------------------------


def user_preferences(user):
    try:
        return user.preferences  # cached on the user object after the first access
    except Preferences.DoesNotExist:
        prefs, _ = Preferences.objects.get_or_create(user=user)
        user.preferences = prefs
        return prefs


def request_preferences(request):
    """The signed-in user's Preferences for this request (None if they have none yet).

    Loaded once per request together with the active connection: every page needs both
    (the time zone, then the API client), and one query instead of two is ~0.15 ms of every
    page. Nothing is written here.
    """
    if not hasattr(request, "_dm_preferences"):
        prefs = None
        user = request.user
        if user.is_authenticated:
            # [:1] rather than first(): no ORDER BY to build, ~0.1 ms less of ORM work.
            found = Preferences.objects.select_related("active_connection").filter(user_id=user.pk)[
                :1
            ]
            prefs = found[0] if found else None
            if prefs is not None:
                user.preferences = prefs  # what user_preferences(user) returns from now on
        request._dm_preferences = prefs
    return request._dm_preferences


def active_connection(request):
    """The signed-in user's active connection (cached on the request), or None."""
    if hasattr(request, "_dm_connection"):
        return request._dm_connection
    connection = None
    user = request.user
    if user.is_authenticated:
        prefs = request_preferences(request) or user_preferences(user)
        if prefs.active_connection_id:
            connection = prefs.active_connection
            if connection is not None and connection.user_id != user.pk:
                connection = None  # never another user's connection
        if connection is None:
            connection = user.connections.order_by("label", "pk").first()
            if connection is not None:
                prefs.active_connection = connection
                prefs.save(update_fields=["active_connection"])
    request._dm_connection = connection
    request.connection = connection
    return connection


def connection_switch(*, user, connection):
    prefs = user_preferences(user)
    prefs.active_connection = connection
    prefs.save(update_fields=["active_connection"])


def api_client(request):
    """An API client for the request's active connection (through `connection_client`).

    Every call it makes is appended to `request.api_calls` (for the recent-calls log and call
    counting). Raises NoConnection, UserRateLimited (the per-user limit: core/ratelimit.py)
    or CredentialUnreadable, which the error middleware shows.
    """
    connection = active_connection(request)
    if connection is None:
        raise NoConnection(
            "You have no connection to a Device Management account yet. Add one with an API "
            "key to browse devices."
        )
    rate_check(request)
    if not hasattr(request, "api_calls"):
        request.api_calls = []
    return connection_client(
        user=request.user, connection=connection, observer=request.api_calls.append
    )


@sensitive_variables("api_key")
def connection_client(*, user, connection, observer=None):
    """An API client for one of `user`'s connections: the one place a stored key is decrypted.

    Views reach it through `api_client(request)`; background jobs call it with the job's user
    and connection, while the job runs. The plaintext is held by the returned client and
    nowhere else. Raises NoConnection (not this user's connection), HostNotAllowed or
    CredentialUnreadable.
    """
    if connection is None or connection.user_id != user.pk:
        raise NoConnection("That connection is not one of yours (or it was removed).")
    if connection.api_host not in settings.DMPORTAL_API_HOSTS:
        # Stored when it was allowed; the allow-list is what may be called now (nothing is).
        raise HostNotAllowed(
            f"The connection “{connection.label}” uses {connection.api_host}, which is not one "
            "of the API hosts this dmportal may call (DMPORTAL_API_HOSTS). Nothing was sent. "
            "Remove it and add it again with one of the listed hosts."
        )
    try:
        api_key = crypto.decrypt_api_key(connection.key_ciphertext, owner_id=connection.user_id)
    except (crypto.DecryptionFailed, crypto.EncryptionNotConfigured):
        log.warning(
            "Stored key %s of connection %s (user %s) cannot be decrypted",
            connection.key_hint,
            connection.pk,
            connection.user_id,
        )
        raise CredentialUnreadable(
            f"The stored API key of “{connection.label}” cannot be read with dmportal's "
            "encryption keys (they were changed or lost). Enter the key again to go on.",
            connection=connection,
        ) from None
    return make_client(connection.api_host, api_key, observer=observer, user_id=connection.user_id)


def connection_note_usage(request):
    """After a request: when the active connection was used, and whether the API rejected its
    key (so the connections page can say so). Runs once, in the request's own thread."""
    calls = getattr(request, "api_calls", None)
    connection = getattr(request, "_dm_connection", None)
    if calls and connection is not None:
        connection_note_calls(connection, calls)


def connection_note_calls(connection, calls):
    """What `calls` (CallRecords made with `connection`'s key) say about it: when it was last
    used, and whether the API rejected the key (or accepts it again). For requests and jobs."""
    changes = {}
    now = timezone.now()
    if connection.last_used_at is None or now - connection.last_used_at > LAST_USED_RESOLUTION:
        changes["last_used_at"] = now
    outcomes = [c.error for c in calls if c.error != "InvalidRequest"]
    if "AuthenticationFailed" in outcomes and connection.key_rejected_at is None:
        changes["key_rejected_at"] = now
    elif outcomes and outcomes[-1] is None and connection.key_rejected_at is not None:
        changes["key_rejected_at"] = None
    if (
        outcomes
        and outcomes[-1] is None
        and "AuthenticationFailed" not in outcomes
        and (
            connection.key_accepted_at is None
            or now - connection.key_accepted_at > LAST_USED_RESOLUTION
        )
    ):
        changes["key_accepted_at"] = now
    if changes:
        Connection.objects.filter(pk=connection.pk).update(**changes)
        for field, value in changes.items():
            setattr(connection, field, value)


# -- account-wide data --------------------------------------------------------------------------

ACCOUNT_PROOF_SECONDS = 5 * 60
KEY_REJECTED = (
    "The API rejected the key of the connection “{label}”, so dmportal does not show or keep "
    "what is shared on its account (staff notes, colleagues' calls). Re-enter a valid key."
)


class AccountUnconfirmed(Exception):
    """The active connection's key was not accepted by the API recently enough to show the
    account's shared data; `message` says why, for the page."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class AccountScope:
    """An account as shared data is keyed: its API host and its id, together."""

    api_host: str
    account_id: str


def account_scope(request):
    """The (API host, account) of the active connection, when the API accepted its key
    recently: the only authority for account-wide data kept in dmportal (staff notes, the
    calls colleagues made on the account), which the API itself cannot check.

    Accepted means a call of this request succeeded, or one did within ACCOUNT_PROOF_SECONDS
    (`key_accepted_at`); otherwise one cheap call (`/v3/api-keys/me`, falling back to
    `/v3/accounts/me`) asks again and must name the same account. A connection marked
    rejected is refused without a call. Raises AccountUnconfirmed saying why.
    """
    return connection_account_scope(
        user=request.user,
        connection=active_connection(request),
        calls=getattr(request, "api_calls", ()),
        client=lambda: api_client(request),
    )


def connection_account_scope(*, user, connection, calls=(), client=None):
    """`account_scope` for one of `user`'s connections, without a request (a background job):
    `calls` are the calls already made with it in this unit of work, `client()` makes the
    client of the cheap check (by default `connection_client`)."""
    if client is None:

        def client():
            return connection_client(user=user, connection=connection)

    if connection is None or not connection.account_id:
        label = connection.label if connection else ""
        raise AccountUnconfirmed(
            "Shared notes and calls are kept per Device Management account, and the account "
            f"of the connection “{label}” is not known. Re-enter the key of a user or "
            "application that can read its account."
        )
    if connection.key_rejected_at is not None or any(
        c.error == "AuthenticationFailed" for c in calls
    ):
        raise AccountUnconfirmed(KEY_REJECTED.format(label=connection.label))
    scope = AccountScope(connection.api_host, connection.account_id)
    accepted = connection.key_accepted_at
    if any(c.error is None for c in calls) or (
        accepted is not None
        and (timezone.now() - accepted).total_seconds() <= ACCOUNT_PROOF_SECONDS
    ):
        return scope
    account_id = key_account(client, connection)
    if account_id != connection.account_id:
        # Not the account it was saved with: forget that one (no shared data until the key
        # is entered again and its account read), rather than trust either.
        log.warning(
            "The key of connection %s reaches another account than the one it was saved with",
            connection.pk,
        )
        Connection.objects.filter(pk=connection.pk).update(account_id="")
        connection.account_id = ""
        raise AccountUnconfirmed(
            f"The key of the connection “{connection.label}” now reaches another account: "
            "re-enter it to see what is shared on this account."
        )
    now = timezone.now()
    Connection.objects.filter(pk=connection.pk).update(key_accepted_at=now)
    connection.key_accepted_at = now
    return scope


def key_account(make_client, connection):
    """The id of the account the connection's key reaches now (one call, two when the key may
    not read itself). Raises AccountUnconfirmed when the API does not say."""
    try:
        client = make_client()
        try:
            return str(resources.api_key_me(client).get("account_id") or "")
        except (api.PermissionDenied, api.NotFound):
            return str(resources.account_me(client).get("id") or "")
    except api.AuthenticationFailed:
        now = timezone.now()
        Connection.objects.filter(pk=connection.pk).update(key_rejected_at=now)
        connection.key_rejected_at = now
        raise AccountUnconfirmed(KEY_REJECTED.format(label=connection.label)) from None
    except (api.ApiError, CredentialError, UserRateLimited) as exc:
        reason = getattr(exc, "message", "") or type(exc).__name__
        raise AccountUnconfirmed(
            "dmportal could not confirm with the API that your key still reaches this account "
            f"({reason}), so shared notes and calls are not shown. Try again in a moment."
        ) from None


# -- verifying and saving keys -----------------------------------------------------------------


@dataclass
class KeyFacts:
    account_id: str
    account_name: str
    key_id: str
    key_role: str = ""


ROLE_GROUPS = (("Administrators", "administrator"), ("Developers", "developer"))


def key_role(client):
    """What the key's policy groups make it (see Connection.key_role); "" when the API does not
    say. One call, made when a key is checked, never per page."""
    try:
        page = resources.api_key_me_group_page(client, limit=50)
    except api.ApiError:
        return ""
    names = [str(g.get("name") or "").strip()[:60] for g in page.items if isinstance(g, dict)]
    names = [name for name in names if name]
    for group, role in ROLE_GROUPS:
        if group in names:
            return role
    if not names:
        return "no groups"
    return f"groups: {', '.join(sorted(names))}"[:200]


@dataclass(frozen=True)
class KeyCheck:
    """What the connection form says when checking a key failed: on which field, in which
    words (a function of the error). Answers of the API name the key; no answer names the host
    (and has no request id worth quoting)."""

    message: object
    field: str = "api_key"


KEY_CHECK = ErrorTable()
KEY_CHECK.register(
    api.ApiError, KeyCheck(lambda exc: f"The key could not be checked: {exc.message}")
)
KEY_CHECK.register(
    api.AuthenticationFailed,
    KeyCheck(
        lambda exc: (
            "The API rejected this key (HTTP 401"
            + (f", {exc.type}" if exc.type else "")
            + "). Check that it is complete and still active."
        )
    ),
)
KEY_CHECK.register(
    api.PermissionDenied,
    KeyCheck(
        lambda exc: (
            "This key has no rights to read its account (HTTP 403). Use a key of a user "
            "or application in the Administrators or Developers group."
        )
    ),
)
KEY_CHECK.register(
    api.TLSFailure, KeyCheck(lambda exc: f"{exc.message} The key was not saved.", "api_host")
)
KEY_CHECK.register(
    api.Timeout,
    KeyCheck(
        lambda exc: "The API host did not answer in time. The key was not saved; try again.",
        "api_host",
    ),
)
KEY_CHECK.register(
    api.TransportError,
    KeyCheck(
        lambda exc: f"The API host could not be reached: {exc.message} The key was not saved.",
        "api_host",
    ),
)


@sensitive_variables("api_key")
def key_verify(api_host, api_key):
    """What the key reaches, from /v3/accounts/me (falling back to /v3/api-keys/me).

    Raises KeyCheckFailed with a message for the form; nothing is stored here.
    """
    if api_host not in settings.DMPORTAL_API_HOSTS:
        raise KeyCheckFailed("Choose one of the listed API hosts.", field="api_host")
    client = make_client(api_host, api_key)
    account = me = None
    try:
        try:
            account = resources.account_me(client)
        except api.PermissionDenied:
            account = None
        try:
            me = resources.api_key_me(client)
        except (api.PermissionDenied, api.NotFound):
            if account is None:
                raise
    except api.ApiError as exc:
        row = KEY_CHECK.lookup(exc)
        raise KeyCheckFailed(
            redact(row.message(exc)),  # an API may echo the key it was sent
            request_id=exc.request_id if row.field == "api_key" else None,
            field=row.field,
        ) from None
    account_id = (account or {}).get("id") or (me or {}).get("account_id") or ""
    name = (account or {}).get("display_name") or (account or {}).get("company") or ""
    return KeyFacts(
        account_id=str(account_id)[:32],
        account_name=str(name)[:200],
        key_id=str((me or {}).get("id") or "")[:32],
        key_role=key_role(client),
    )


@sensitive_variables("api_key")
def connection_create(*, user, label, api_host, api_key, facts):
    """Save a new connection for a key that `key_verify(api_host, api_key)` returned `facts` for.

    The key is checked first, by the caller and outside any transaction: the check is up to
    two API calls with retries, and a transaction open meanwhile would hold the database's
    write lock (SQLite) or a connection (PostgreSQL) for as long. This makes no API call.
    """
    connection = Connection(
        user=user,
        label=label,
        api_host=api_host,
        key_ciphertext=crypto.encrypt_api_key(api_key, owner_id=user.pk),
        key_hint=crypto.key_hint(api_key),
        key_id=facts.key_id,
        account_id=facts.account_id,
        account_name=facts.account_name,
        key_role=facts.key_role,
        key_accepted_at=timezone.now(),  # key_verify has just had it accepted
    )
    try:
        with transaction.atomic():
            connection.save()
            if not Connection.objects.exclude(pk=connection.pk).exists():
                # The first stored key: the keys that encrypted it are the deployment's
                # (accounts/checks.py). Later ones never write it.
                EncryptionCanary.objects.get_or_create(
                    pk=1, defaults={"token": crypto.canary_token()}
                )
    except IntegrityError:
        raise KeyCheckFailed(DUPLICATE_LABEL, field="label") from None
    if user_preferences(user).active_connection_id is None:
        connection_switch(user=user, connection=connection)
    return connection


@sensitive_variables("api_key")
def connection_update(connection, *, label, api_key=None, facts=None):
    """Rename, and replace the key when a new one is given with what `key_verify` returned for
    it (`facts`: checked first, outside any transaction, as for `connection_create`)."""
    connection.label = label
    fields = ["label"]
    if api_key:
        connection.key_ciphertext = crypto.encrypt_api_key(api_key, owner_id=connection.user_id)
        connection.key_hint = crypto.key_hint(api_key)
        connection.key_id = facts.key_id
        connection.account_id = facts.account_id
        connection.account_name = facts.account_name
        connection.key_role = facts.key_role
        connection.key_changed_at = timezone.now()
        connection.key_rejected_at = None
        connection.key_accepted_at = connection.key_changed_at  # key_verify accepted it
        fields += [
            "key_accepted_at",
            "key_ciphertext",
            "key_hint",
            "key_id",
            "account_id",
            "account_name",
            "key_role",
            "key_changed_at",
            "key_rejected_at",
        ]
    try:
        with transaction.atomic():
            connection.save(update_fields=fields)
    except IntegrityError:
        raise KeyCheckFailed(DUPLICATE_LABEL, field="label") from None
    return connection


ROTATION_TRIES = 5


def connections_rotate_encryption():
    """Re-encrypt every stored key with the newest encryption key. Returns (done, failed).

    Each row is written back only if it still holds the ciphertext that was read (a
    compare-and-set): a user who replaces their key while the rotation runs keeps the new key,
    which the rotation then reads again and re-encrypts. A row removed meanwhile is skipped.
    """
    done = failed = 0
    for pk in Connection.objects.order_by("pk").values_list("pk", flat=True).iterator():
        outcome = connection_rotate_encryption(pk)
        done += outcome == "done"
        failed += outcome == "failed"
    return done, failed


def connection_rotate_encryption(pk):
    """One row of `connections_rotate_encryption`: "done", "failed" (unreadable) or "gone"."""
    for _ in range(ROTATION_TRIES):
        token = Connection.objects.filter(pk=pk).values_list("key_ciphertext", flat=True).first()
        if token is None:
            return "gone"
        try:
            rotated = crypto.rotate_token(token)
        except crypto.DecryptionFailed:
            log.warning("Connection %s could not be re-encrypted: unreadable", pk)
            return "failed"
        if Connection.objects.filter(pk=pk, key_ciphertext=token).update(key_ciphertext=rotated):
            return "done"
        # Changed since it was read (the key was replaced): read it again.
    log.warning(
        "Connection %s changed during each of %d tries: not re-encrypted", pk, ROTATION_TRIES
    )
    return "failed"


# -- the activity log --------------------------------------------------------------------------


def activity_record(
    request,
    action,
    *,
    target="",
    result="ok",
    detail="",
    upstream_request_id="",
    user=None,
    username=None,
    connection=None,
    origin=None,
):
    """One entry of the activity log (and its audit log record).

    `request` is the request that did it; work done later for a request (a background job)
    passes `request=None` with the job's `user`, `connection` and `origin` (the starting
    request's (request id, client address)). The texts (target, detail, the typed user name)
    often come from upstream or from what someone typed: they go through the logs' redaction
    (core.logging.redact) before they are stored."""
    user = user if user is not None else getattr(request, "user", None)
    if user is not None and not user.is_authenticated:
        user = None
    if connection is None:
        connection = getattr(request, "_dm_connection", None)
    if origin is None:
        origin = (getattr(request, "request_id", ""), client_address(request) if request else None)
    if username is None:
        username = user.get_username() if user else ""
    entry = ActivityEntry.objects.create(
        user=user,
        username=redact(str(username))[:150],
        action=action,
        target=redact(str(target))[:300],
        result=result,
        detail=redact(str(detail))[:300],
        connection_label=connection.label if connection else "",
        account_id=connection.account_id if connection else "",
        upstream_request_id=(upstream_request_id or "")[:64],
        request_id=(origin[0] or "")[:32],
        ip_address=origin[1] or None,
    )
    audit_log.log(
        logging.INFO if result == "ok" else logging.WARNING,
        "%s %s by %r: %s",
        entry.action,
        entry.result,
        entry.username,
        entry.target,
        extra={
            "event": entry.action,
            "result": entry.result,
            "username": entry.username,
            "user_id": entry.user_id,
            "target": entry.target,
            "upstream_request_id": entry.upstream_request_id,
            "client_ip": entry.ip_address,
        },
    )
    return entry
