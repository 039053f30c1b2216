"""Refusals remembered per connection.

Many IAM operations answer 403 to a developer key. When the API refuses a section (users,
policy groups, ...) that is remembered per connection in the session, so the pages can say so
plainly and stop offering actions the key cannot perform. The memory is tied to the
connection's key: replacing the key forgets it, and any later call of that section that
succeeds clears it.
"""

from contextlib import contextmanager

from dmportal.accounts.services import active_connection
from dmportal.dmapi import errors as api

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
# The sections whose changes the API reserves to administrators ("This endpoint is restricted to
# administrators" in the spec): a key known not to be an administrator's (Connection.key_role)
# is not offered them before it is refused. A developer key may still manage its own API key.
ADMIN_SECTIONS = frozenset({"users", "invitations", "groups", "api_keys", "applications"})


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
        return section in self._sections() or self._by_role(section)

    def _by_role(self, section):
        role = self.connection.key_role if self.connection is not None else ""
        return bool(role) and role != "administrator" and section in ADMIN_SECTIONS

    def by_role(self):
        """The sections not offered because of the key's role (not refused yet)."""
        sections = self._sections()
        return {name for name in SECTIONS if self._by_role(name) and name not in sections}

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
    """Remember a 403 of `section` (and forget it when a call of the section succeeds);
    `section` None guards nothing."""
    if section is None:
        yield
        return
    try:
        yield
    except api.PermissionDenied:
        denials(request).note(section)
        raise
    else:
        denials(request).clear(section)


def guarded(request, section, fetch):
    """`fetch` (a list function) wrapped in `guard`."""

    def call(**kwargs):
        with guard(request, section):
            return fetch(**kwargs)

    return call


def section_guard(request, section):
    """`guard` as the `around` of a write (core.flows.Write), or None for no section."""
    return (lambda: guard(request, section)) if section else None
