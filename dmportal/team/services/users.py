"""Users of the account and invitations to join it."""

from dmportal.core.templatetags.dm import parse_when
from dmportal.dmapi import errors as api
from dmportal.dmapi import resources


def user_update(*, client, user_id, full_name, phone_number):
    """Name and phone; None clears a value (the API takes null for "no name")."""
    changes = {"full_name": full_name, "phone_number": phone_number}
    return resources.user_update(client, user_id, changes)


def user_status_change(*, client, user_id, status):
    return resources.user_update(client, user_id, {"status": status})


def user_delete(*, client, user_id):
    """The service refuses to remove an ACTIVE user; the user's API keys go with it."""
    return resources.user_delete(client, user_id)


def invitation_create(*, client, email, groups, valid_for_days):
    return resources.invitation_create(
        client, email=email, groups=groups, valid_for_days=valid_for_days
    )


def invitation_delete(*, client, invitation_id):
    return resources.invitation_delete(client, invitation_id)


def invitation_pending(*, client, email):
    """The account's user with this email whose invitation is still pending (status INVITED),
    or None: inviting them again would be a second invitation of one person (one call). When
    the users cannot be read (a key without the right, an API failure), the API decides: None."""
    try:
        users = resources.user_page(client, filters={"email__eq": email}, limit=2).items
    except api.ApiError:
        return None
    for user in users:
        if isinstance(user, dict) and user.get("status") == "INVITED":
            return user
    return None


def invitation_validity_days(invitation, default=30):
    """How many days the invitation was valid for (from its dates), 1 to 100."""
    created = parse_when(invitation.get("created_at"))
    expires = parse_when(invitation.get("expiration"))
    if created is None or expires is None or expires <= created:
        return default
    return max(1, min(100, round((expires - created).total_seconds() / 86400)))


def invitation_resend(*, client, invitation):
    """A new invitation to the same email and groups, then the old one deleted: the new one is
    created first, so a refused create leaves the old invitation as it was."""
    created = resources.invitation_create(
        client,
        email=invitation["email"],
        groups=[g for g in invitation.get("groups") or [] if isinstance(g, str)],
        valid_for_days=invitation_validity_days(invitation),
    )
    resources.invitation_delete(client, invitation["id"])
    return created
