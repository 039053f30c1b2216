"""Applications and their access keys (the service's current model for machine access),
and the rotation of an access key."""

from dataclasses import dataclass
from datetime import date

from dmportal.dmapi import resources
from dmportal.dmapi.ids import is_id

from .key_check import KeyCheck, key_check

KEYS_PER_APPLICATION = 2  # "You can create up to two access keys per application"


def application_create(*, client, name, description, groups):
    return resources.application_create(client, name=name, description=description, groups=groups)


def application_update(*, client, application_id, name, description):
    changes = {"name": name, "description": description}
    return resources.application_update(client, application_id, changes)


def application_status_change(*, client, application_id, status):
    """INACTIVE refuses its access keys; the service also clears the application's
    notification channels and subscriptions."""
    return resources.application_update(client, application_id, {"status": status})


def application_delete(*, client, application_id):
    """Its access keys are deleted with it."""
    return resources.application_delete(client, application_id)


def application_groups_change(*, client, application_id, action, group_id):
    """`action` "add" or "remove" the application to or from one policy group."""
    return resources.application_groups_change(client, application_id, action, [group_id])


def access_key_create(*, client, application_id, name, description, expiration):
    """The new key, its secret included (shown once, never kept)."""
    return resources.access_key_create(
        client, application_id, name=name, description=description, expiration=expiration
    )


def access_key_status_change(*, client, application_id, key_id, status):
    return resources.access_key_update(client, application_id, key_id, {"status": status})


def access_key_delete(*, client, application_id, key_id):
    return resources.access_key_delete(client, application_id, key_id)


# -- rotation ------------------------------------------------------------------------------------


def rotation_candidates(keys):
    """The access keys a rotation may replace: the active ones (with a real id)."""
    return [k for k in keys if k.get("status") == "ACTIVE" and is_id(str(k.get("id") or ""))]


def rotation_defaults(candidates, *, today=None):
    """The form's first values: replace the first active key, named after it."""
    if not candidates:
        return {}
    old = candidates[0]
    today = today or date.today()
    return {
        "old_key": old["id"],
        "name": f"{old.get('name') or 'key'} (rotated {today.isoformat()})"[:100],
    }


@dataclass
class Rotation:
    """Steps 1 and 2 of a rotation: the new key (with its secret) and the check made with it.
    Step 3, deactivating the old key, is the person's (reversible) decision."""

    created: dict
    check: KeyCheck
    old_key_id: str

    @property
    def request_id(self):
        return getattr(self.created, "request_id", None)  # the write's, for the activity log

    @property
    def secret(self):
        return self.created.get("key") or ""


def access_key_rotate(
    *, client, application_id, old_key_id, name, description=None, expiration=None
):
    """Create the new access key, then check it right away with one call made with it (on the
    same host, never stored). The old key is left as it is."""
    created = access_key_create(
        client=client,
        application_id=application_id,
        name=name,
        description=description,
        expiration=expiration,
    )
    check = key_check(host=client.base_url, key=created.get("key") or "")
    return Rotation(created=created, check=check, old_key_id=old_key_id)


def access_key_check(*, host, key_id, pasted):
    """A pasted key checked with one call; `other_key` when it is not the key `key_id` (the
    public part of a key ends with its id)."""
    check = key_check(host=host, key=pasted)
    check.other_key = key_id not in pasted
    return check
