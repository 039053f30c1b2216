"""The activity log: which entries a user sees ("My activity", its export), and its actions in
words (the raw code stays on hover). An action not listed here reads as its code."""

import zoneinfo
from datetime import datetime, time, timedelta

from django.db.models import Q

from .models import ActivityEntry, Preferences

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


def activity_visible(*, user, filters, zone):
    """The user's own entries, with the failed sign-ins typed with their user name (someone
    trying their password); `since` and `until` are days in `zone`, `until` included."""
    failed_sign_ins = Q(user=None, username=user.get_username(), action="signin", result="failed")
    entries = ActivityEntry.objects.filter(Q(user=user) | failed_sign_ins)
    if filters.get("action"):
        entries = entries.filter(action=filters["action"])
    if filters.get("since"):
        start = datetime.combine(filters["since"], time.min, tzinfo=zone)
        entries = entries.filter(created_at__gte=start)
    if filters.get("until"):
        end = datetime.combine(filters["until"] + timedelta(days=1), time.min, tzinfo=zone)
        entries = entries.filter(created_at__lt=end)
    return entries


def user_zone(user):
    """The user's time zone (their preference; UTC when they have none or it is unknown)."""
    name = Preferences.objects.filter(user_id=user.pk).values_list("timezone", flat=True).first()
    try:
        return zoneinfo.ZoneInfo(name or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def activity_rows(*, user, connection, filters):
    """The entries an export of "My activity" holds: the same as the page, its days read in
    the user's time zone (an export job runs outside the user's request)."""
    return activity_visible(user=user, filters=filters, zone=user_zone(user))
