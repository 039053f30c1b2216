"""Policy groups and their members (users, API keys, applications)."""

from dmportal.dmapi import resources
from dmportal.dmapi.ids import is_id

from .names import NAMES_LIMIT, shown

# What each kind of member is called, how to read one, and which section reading them needs.
KINDS = {
    "users": {
        "noun": "user",
        "plural": "users",
        "page": resources.user_page,
        "get": resources.user_get,
        "section": "users",
        "columns": 4,
    },
    "api-keys": {
        "noun": "API key",
        "plural": "API keys",
        "page": resources.api_key_page,
        "get": resources.api_key_get,
        # Any key may list API keys (it sees its own): reading them proves no right to manage.
        "section": None,
        "columns": 4,
    },
    "applications": {
        "noun": "application",
        "plural": "applications",
        "page": resources.application_page,
        "get": resources.application_get,
        "section": "applications",
        "columns": 4,
    },
}


def member_label(kind, member):
    if kind == "users":
        name = shown(member.get("full_name"))
        email = shown(member.get("email"), member.get("id"))
        return f"{name} <{email}>" if name else email
    return shown(member.get("name"), member.get("id"))


def group_member_candidates(*, client, group_id, kind):
    """(id, label) of the users, keys or applications not in the group yet, sorted by label
    (one call: members carry their groups)."""
    everyone = KINDS[kind]["page"](client, limit=NAMES_LIMIT).items
    candidates = [
        (m["id"], member_label(kind, m))
        for m in everyone
        if isinstance(m.get("id"), str)
        and is_id(m["id"])
        and group_id not in (m.get("groups") or ())
    ]
    return sorted(candidates, key=lambda c: (c[1].casefold(), c[0]))  # by name, as read


def group_create(*, client, name):
    return resources.policy_group_create(client, name=name)


def group_rename(*, client, group_id, name):
    return resources.policy_group_rename(client, group_id, name=name)


def group_delete(*, client, group_id):
    """Its members lose the rights it gave; the service keeps the Administrators group."""
    return resources.policy_group_delete(client, group_id)


def group_members_add(*, client, group_id, kind, member_ids):
    return resources.policy_group_members_change(client, group_id, kind, "add", member_ids)


def group_member_remove(*, client, group_id, kind, member_id):
    return resources.policy_group_members_change(client, group_id, kind, "remove", [member_id])
