"""Names of groups and users for tables, sentences and choices: one call each, and a page
that still works (with ids) when the API refuses them."""

import logging

from dmportal.dmapi import errors as api
from dmportal.dmapi import resources
from dmportal.dmapi.errors import clean_text
from dmportal.dmapi.ids import is_id

from .sections import denials, guard

log = logging.getLogger("dmportal.team")

NAMES_LIMIT = 1000


def shown(value, fallback=""):
    """An upstream name for a sentence, label or message: a string without control or
    direction-override characters (a U+202E in a name must not reverse the text after it)."""
    return clean_text(value if value not in (None, "") else fallback, 200)


def group_directory(client):
    """{group id: group} from one call (the first 1000 groups); {} when the API refuses."""
    try:
        page = resources.policy_group_page(client, limit=NAMES_LIMIT)
    except api.ApiError as exc:
        # The names are a convenience: without them the ids are shown.
        log.info("Group names unavailable: %s", exc)
        return {}
    return {g["id"]: g for g in page.items if isinstance(g.get("id"), str)}


def group_names(client):
    return {gid: shown(g.get("name"), gid) for gid, g in group_directory(client).items()}


def names_of_groups(client, items):
    """One call for the group names of a page of users, keys, applications or invitations."""
    if any(item.get("groups") for item in items):
        return group_names(client)
    return {}


def group_choices(groups):
    choices = ((gid, shown(g.get("name"), gid)) for gid, g in groups.items())
    return sorted(choices, key=lambda c: c[1].lower())


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


def user_choices(users):
    """(id, email) of the users that can own a key, by email; None when users are unknown."""
    if users is None:
        return None
    choices = ((uid, shown(u.get("email"), uid)) for uid, u in users.items() if is_id(uid))
    return sorted(choices, key=lambda c: c[1].lower())
