"""API keys of the account (the legacy model, still valid), and the rule for the key the
connection itself uses."""

from datetime import timedelta

from django.utils import timezone

from dmportal.core.templatetags.dm import parse_when
from dmportal.dmapi import errors as api
from dmportal.dmapi import resources
from dmportal.dmapi.pages import Page

UNUSED_DAYS = 90


def api_key_section(*, key_id, own_key_id):
    """The section a call on this key belongs to: a key may manage itself even where the API
    refuses it the other keys, so calls on its own key neither note nor clear that refusal."""
    return None if key_id == own_key_id else "api_keys"


def api_key_facts(key, *, users, own_key_id, now=None):
    """What the table and detail page say about a key beyond its fields."""
    now = now or timezone.now()
    last = key.get("last_login_time")
    last_used = parse_when(last) if isinstance(last, int | float) and last > 0 else None
    created = parse_when(key.get("created_at") or key.get("creation_time"))
    since = last_used or created
    owner = (users or {}).get(key.get("owner")) if key.get("owner") else None
    return {
        "last_used": last_used,
        "unused": since is not None and now - since > timedelta(days=UNUSED_DAYS),
        "never_used": last_used is None,
        "owner": owner,
        "owner_inactive": bool(owner) and owner.get("status") == "INACTIVE",
        "this_connection": bool(own_key_id) and key.get("id") == own_key_id,
    }


def api_key_page(client, *, filters, **kwargs):
    """A page of keys. The key filter (`key__eq`, a key's public part) is a look-up of the key
    whose id its public part ends with, then compared whole: no key string is ever sent in a
    query string, nor written to a log."""
    filters = dict(filters)
    public = filters.pop("key__eq", None)
    if public is None:
        return resources.api_key_page(client, filters=filters, **kwargs)
    owner = filters.get("owner__eq")
    try:
        key = resources.api_key_get(client, public[-32:])
    except api.NotFound as exc:
        return Page(items=[], total_count=0, request_id=exc.request_id)
    match = key.get("key") == public and (owner is None or key.get("owner") == owner)
    items = [key] if match else []
    return Page(items=items, total_count=len(items), request_id=key.request_id)


def api_key_create(*, client, name, owner, groups):
    """The new key, its secret included (shown once, never kept)."""
    return resources.api_key_create(client, name=name, owner=owner, groups=groups)


def api_key_rename(*, client, key_id, name):
    return resources.api_key_update(client, key_id, {"name": name})


def api_key_status_change(*, client, key_id, status):
    return resources.api_key_update(client, key_id, {"status": status})


def api_key_delete(*, client, key_id):
    return resources.api_key_delete(client, key_id)
