"""What the team pages share: remembered refusals, group names, one-time form tokens, writes,
and checking a freshly created key without keeping it.

Refusals. Many IAM operations answer 403 to a developer key. When the API refuses a section
(users, policy groups, ...) that is remembered per connection in the session, so the pages can
say so plainly and stop offering actions the key cannot perform. The memory is tied to the
connection's key: replacing the key forgets it, and any later call of that section that
succeeds clears it.

One-time tokens. A form that creates a secret (API key, access key) carries a random token that
was put in the session when the form was rendered. The POST consumes it, so a reload that
re-sends the POST creates nothing; the response then says the key was already created.
"""

import hashlib
import logging
import secrets
from contextlib import contextmanager

from django.core.cache import cache
from django.views.decorators.debug import sensitive_variables

from dmportal.accounts.services import active_connection, make_client
from dmportal.core import writes
from dmportal.dmapi import errors as api
from dmportal.dmapi import resources
from dmportal.dmapi.errors import clean_text

log = logging.getLogger("dmportal.team")

# What each section lets a key do, for "This API key is not allowed to …".
SECTIONS = {
    "account": "read the account",
    "users": "manage users",
    "invitations": "manage invitations",
    "groups": "manage policy groups",
    "api_keys": "manage API keys",
    "applications": "manage applications and access keys",
}
DENIED_SESSION_KEY = "dm_denied"
NAMES_LIMIT = 1000


# -- refusals remembered per connection ----------------------------------------------------------


def _key_version(connection):
    changed = connection.key_changed_at.isoformat() if connection.key_changed_at else ""
    return f"{connection.key_id}:{connection.key_hint}:{changed}"


class Denials:
    """The sections the API refused for the active connection's key (templates: `denied.users`)."""

    def __init__(self, request):
        self.request = request
        self.connection = active_connection(request)

    def _sections(self, *, writable=False):
        if self.connection is None:
            return {}
        store = self.request.session.get(DENIED_SESSION_KEY) or {}
        entry = store.get(str(self.connection.pk))
        version = _key_version(self.connection)
        if entry is None or entry.get("key") != version:
            if not writable:
                return {}
            entry = {"key": version, "sections": {}}
        if writable:
            store = dict(store)
            store[str(self.connection.pk)] = entry
            self.request.session[DENIED_SESSION_KEY] = store
        return entry["sections"]

    def __getitem__(self, section):
        if section not in SECTIONS:
            # Not a section: templates then look for an attribute (`denied.known`).
            raise KeyError(section)
        return section in self._sections()

    def __contains__(self, section):
        return section in SECTIONS and self[section]

    def note(self, section):
        if section not in SECTIONS or self[section]:
            return
        self._sections(writable=True)[section] = True
        self.request.session.modified = True

    def clear(self, section):
        if section not in SECTIONS or not self[section]:
            return
        self._sections(writable=True).pop(section, None)
        self.request.session.modified = True

    def known(self):
        """[(section, what it would allow)] of the refused sections."""
        sections = self._sections()
        return [(name, what) for name, what in SECTIONS.items() if name in sections]


def denials(request):
    if not hasattr(request, "_team_denials"):
        request._team_denials = Denials(request)
    return request._team_denials


@contextmanager
def guard(request, section):
    """Remember a 403 of `section` (and forget it when a call of the section succeeds)."""
    try:
        yield
    except api.PermissionDenied:
        denials(request).note(section)
        raise
    else:
        denials(request).clear(section)


@contextmanager
def guard_if(request, section):
    """`guard` when there is a section to remember, else nothing."""
    if section is None:
        yield
    else:
        with guard(request, section):
            yield


def guarded(request, section, fetch):
    """`fetch` (a list function) wrapped in `guard`."""

    def call(**kwargs):
        with guard(request, section):
            return fetch(**kwargs)

    return call


# -- names of things, one call each ---------------------------------------------------------------


def group_directory(client):
    """{group id: group} from one call (the first 1000 groups); {} when the API refuses."""
    try:
        page = resources.policy_group_page(client, limit=NAMES_LIMIT)
    except api.ApiError as exc:
        # The names are a convenience: without them the ids are shown.
        log.info("Group names unavailable: %s", exc)
        return {}
    return {g["id"]: g for g in page.items if isinstance(g.get("id"), str)}


def shown(value, fallback=""):
    """An upstream name for a sentence, label or message: a string without control or
    direction-override characters (a U+202E in a name must not reverse the text after it)."""
    return clean_text(value if value not in (None, "") else fallback, 200)


def group_names(client):
    return {gid: shown(g.get("name"), gid) for gid, g in group_directory(client).items()}


def user_directory(request, client):
    """{user id: user} from one call, or None when users cannot be read with this key."""
    if denials(request)["users"]:
        return None  # known to be refused: do not ask again
    try:
        with guard(request, "users"):
            page = resources.user_page(client, limit=NAMES_LIMIT)
    except api.ApiError as exc:
        log.info("User directory unavailable: %s", exc)
        return None
    return {u["id"]: u for u in page.items if isinstance(u.get("id"), str)}


def group_choices(groups):
    choices = ((gid, shown(g.get("name"), gid)) for gid, g in groups.items())
    return sorted(choices, key=lambda c: c[1].lower())


# -- writes ------------------------------------------------------------------------------------


def perform(request, action, target, call, *, section=None, form=None, field_for=None, detail=""):
    """`core.writes.perform` inside the team's section guard (see `guard`)."""
    return writes.perform(
        request,
        action,
        target,
        call,
        form=form,
        field_for=field_for,
        detail=detail,
        around=(lambda: guard(request, section)) if section else None,
    )


def perform_or_raise(request, action, target, call, *, section=None, detail=""):
    """`perform` for writes without a form: a failure goes to the error page (with its ids)."""
    result, error = perform(request, action, target, call, section=section, detail=detail)
    if error is not None:
        raise error
    return result


# -- one-time form tokens --------------------------------------------------------------------------

ONCE_SESSION_KEY = "dm_once"
SPENT_SESSION_KEY = "dm_once_spent"
ONCE_KEEP = 20


def once_issue(request):
    token = secrets.token_urlsafe(24)
    tokens = list(request.session.get(ONCE_SESSION_KEY, []))[-(ONCE_KEEP - 1) :]
    request.session[ONCE_SESSION_KEY] = [*tokens, token]
    return token


def once_consume(request, token):
    """ "ok" (first use), "spent" (already used to create something) or "unknown"."""
    if not isinstance(token, str) or not token:
        return "unknown"
    tokens = list(request.session.get(ONCE_SESSION_KEY, []))
    spent = list(request.session.get(SPENT_SESSION_KEY, []))
    if token in tokens:
        tokens.remove(token)
        request.session[ONCE_SESSION_KEY] = tokens
        request.session[SPENT_SESSION_KEY] = [*spent[-(ONCE_KEEP - 1) :], token]
        # Two requests racing with the same token both find it in their copy of the session:
        # the cache lets only one through (atomic `add`). If the shared cache is down, the
        # session's check stands alone (a race could then create two keys), rather than an
        # outage of Redis failing every create.
        digest = hashlib.sha256(token.encode()).hexdigest()
        try:
            first = cache.add(f"dmportal:once:{digest}", 1, timeout=24 * 3600)
        except Exception as exc:  # any cache failure, like core/ratelimit.py
            log.warning(
                "The cache is unavailable (%s): a one-time token was checked in the session only",
                type(exc).__name__,
            )
            first = True
        return "ok" if first else "spent"
    if token in spent:
        return "spent"
    return "unknown"


def once_release(request, token):
    """The write failed: nothing was created with this token (a resend gets a fresh form)."""
    spent = list(request.session.get(SPENT_SESSION_KEY, []))
    if token in spent:
        spent.remove(token)
        request.session[SPENT_SESSION_KEY] = spent


# -- checking a new key without keeping it ------------------------------------------------


class KeyCheck:
    """The outcome of one call made with a new key: ok, and what it reached or why it failed."""

    def __init__(self, ok, *, account_name="", account_id="", message="", request_id=None):
        self.ok = ok
        self.account_name = account_name
        self.account_id = account_id
        self.message = message
        self.request_id = request_id


@sensitive_variables("key")
def key_check(request, key):
    """One call (GET /v3/accounts/me) with `key` on the active connection's host.

    The key lives only in this call's client: it is not stored, logged or recorded in the
    request's API calls (whose failures would otherwise be read as the connection's key being
    rejected).
    """
    connection = active_connection(request)
    try:
        client = make_client(connection.api_host, key)
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
