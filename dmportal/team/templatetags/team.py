"""Template helpers of the team pages."""

import dataclasses

from django import template
from django.urls import reverse
from django.utils.html import conditional_escape, format_html

from dmportal.core.templatetags.dm import api_id

from ..services.sections import SECTIONS

register = template.Library()


@register.filter
def denied_as(error, section):
    """A list's 403 error box, titled with what this key may not do ("manage users")."""
    if error is None or getattr(error, "kind", None) != "forbidden" or section not in SECTIONS:
        return error
    return dataclasses.replace(
        error,
        title=f"This API key is not allowed to {SECTIONS[section]}",
        explanation=(
            "The Device Management API refused this for the key of the active connection. An "
            "administrator of the account can give the key more rights (for example the "
            "Administrators group), or switch to a connection with an administrator key."
        ),
    )


# What a policy group allows, where the API's documentation says (the two built-in groups). A
# group made in the account has its rights set where it was made: the API does not describe them.
GROUP_ALLOWS = {
    "Administrators": (
        "Everything in the account: devices, and the team itself (users, invitations, policy "
        "groups, API keys, applications), including the operations the API reserves for "
        "administrators. This group cannot be deleted."
    ),
    "Developers": (
        "The devices and the other device services (events, device groups, queries). Of the "
        "team, a developer key may read the account and manage its own API key only: users, "
        "policy groups and the other keys are refused (HTTP 403). New API keys and applications "
        "start in this group."
    ),
}
GROUP_ALLOWS_UNKNOWN = (
    "The API does not describe what this group allows: its rights were set where the group was "
    "made (the Portal's access policies). Its members also have the rights of their other groups."
)


@register.filter
def group_allows(name):
    return GROUP_ALLOWS.get(str(name or "").strip(), GROUP_ALLOWS_UNKNOWN)


@register.filter
def section_what(section):
    return SECTIONS.get(section, "")


# The team section's tabs: (section, URL name, label, marked "not allowed" when refused).
# The account, groups and API keys carry no mark: a key that may not manage them may still
# read them (the account page says so itself).
TABS = (
    ("account", "team_home", "Account", False),
    ("users", "user_list", "Users", True),
    ("invitations", "invitation_list", "Invitations", True),
    ("groups", "group_list", "Policy groups", False),
    ("applications", "application_list", "Applications", True),
    ("api_keys", "api_key_list", "API keys", False),
)


@register.simple_tag
def team_tabs():
    return TABS


@register.simple_tag
def id_link(url_name, record_id, text):
    """`text` as a link to `url_name` of the record, when its id is a real id (ids from the API
    are untrusted: only a real one goes into our URLs); else `text` alone."""
    record_id = api_id(record_id)
    if not record_id:
        return conditional_escape(text)
    return format_html('<a href="{}">{}</a>', reverse(url_name, args=[record_id]), text)
