"""The activity log's actions in words (the raw code stays on hover), for "My activity" and its
filter. An action not listed here reads as its code."""

ACTIONS = {
    "signin": "Signed in",
    "signout": "Signed out",
    "password.confirm": "Confirmed the password",
    "password.change": "Changed the password",
    "connection.add": "Added a connection",
    "connection.rename": "Renamed a connection",
    "connection.replace_key": "Replaced a connection's key",
    "connection.remove": "Removed a connection",
    "connection.switch": "Switched the connection",
    "device.update": "Edited a device",
    "device.note": "Added a note to a device",
    "user.invite": "Invited a user",
    "user.update": "Edited a user",
    "user.status": "Changed a user's status",
    "user.remove": "Removed a user",
    "invitation.revoke": "Revoked an invitation",
    "invitation.resend": "Resent an invitation",
    "group.create": "Created a policy group",
    "group.rename": "Renamed a policy group",
    "group.delete": "Deleted a policy group",
    "group.add_users": "Added users to a policy group",
    "group.remove_users": "Removed a user from a policy group",
    "group.add_api_keys": "Added API keys to a policy group",
    "group.remove_api_keys": "Removed an API key from a policy group",
    "group.add_applications": "Added applications to a policy group",
    "group.remove_applications": "Removed an application from a policy group",
    "api_key.create": "Created an API key",
    "api_key.rename": "Renamed an API key",
    "api_key.activate": "Reactivated an API key",
    "api_key.deactivate": "Deactivated an API key",
    "api_key.delete": "Deleted an API key",
    "application.create": "Created an application",
    "application.update": "Edited an application",
    "application.activate": "Reactivated an application",
    "application.deactivate": "Deactivated an application",
    "application.delete": "Deleted an application",
    "application.group_add": "Added an application to a policy group",
    "application.group_remove": "Removed an application from a policy group",
    "access_key.create": "Created an access key",
    "access_key.rotate_create": "Created an access key (rotation)",
    "access_key.check": "Checked an access key",
    "access_key.activate": "Reactivated an access key",
    "access_key.deactivate": "Deactivated an access key",
    "access_key.delete": "Deleted an access key",
}


def action_words(action, result="ok"):
    """ "Deactivated an API key"; a failed sign-in reads "Sign-in failed"."""
    if action == "signin" and result == "failed":
        return "Sign-in failed"
    return ACTIONS.get(action, action)


def action_choices():
    """(code, words) for the filter, sorted by the words."""
    return sorted(ACTIONS.items(), key=lambda item: item[1])
