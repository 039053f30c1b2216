"""Users of the account and invitations to join it."""

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
