"""The team lists that can be exported (exports.sources): users, invitations, API keys,
applications and their access keys, policy groups and each group's members. Registered by
TeamConfig.ready()."""

from datetime import UTC, datetime

from django.urls import reverse

from dmportal.core.listing import ListForm
from dmportal.dmapi import resources
from dmportal.exports.sources import Column, ExportSource, register

from .forms import (
    AccessKeyFilterForm,
    ApiKeyFilterForm,
    ApplicationFilterForm,
    GroupFilterForm,
    MemberListForm,
    UserFilterForm,
)
from .services.api_keys import api_key_page
from .services.names import group_names


def _group_names(record, context):
    """The record's policy groups by name (by id when the name is not known)."""
    names = context.get("groups", {})
    return [names.get(g, g) for g in record.get("groups") or [] if isinstance(g, str)]


def _epoch_ms(name):
    """A time the API gives in milliseconds since 1970 (0: never), as a time."""

    def value(record, context):
        ms = record.get(name)
        if isinstance(ms, bool) or not isinstance(ms, int | float) or ms <= 0:
            return None
        try:
            return datetime.fromtimestamp(ms / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None

    return value


def _prepare(client):
    return {"groups": group_names(client)}


def _without_key(record):
    """An API key's record without its `key`: the key's public part is key-shaped, and no
    export file holds anything that reads as a key."""
    return {name: value for name, value in record.items() if name != "key"}


def _without_secrets(record):
    """A record without `key` or `secret`: an access key's list holds no secret, and if an
    answer ever did, no export file would."""
    return {name: value for name, value in record.items() if name not in ("key", "secret")}


def _members(kind):
    def page(client, *, parent, **kwargs):
        return resources.policy_group_member_page(client, parent, kind, **kwargs)

    return page


GROUPS = Column("groups", "Policy groups", _group_names)
USER_COLUMNS = (
    Column("full_name", "Name"),
    Column("email", "Email"),
    Column("status", "Status"),
    Column("is_totp_enabled", "2FA"),
    Column("last_login_time", "Last login", _epoch_ms("last_login_time")),
    GROUPS,
    Column("id", "User ID"),
    Column("username", "User name"),
    Column("created_at", "Created"),
)
API_KEY_COLUMNS = (
    Column("name", "Name"),
    Column("owner", "Owner (user ID)"),
    Column("status", "Status"),
    Column("created_at", "Created"),
    Column("last_login_time", "Last used", _epoch_ms("last_login_time")),
    GROUPS,
    Column("id", "Key ID"),
)
APPLICATION_COLUMNS = (
    Column("name", "Name"),
    Column("status", "Status"),
    Column("description", "Description"),
    GROUPS,
    Column("last_used_at", "Last used"),
    Column("created_at", "Created"),
    Column("id", "Application ID"),
)


def _member_source(kind, noun, columns, default_columns, **options):
    return ExportSource(
        name=f"group-{kind}",
        noun=noun,
        title=f"{noun[0].upper()}{noun[1:]}s of policy group {{parent}}",
        parent="group",
        form=MemberListForm,
        page=_members(kind),
        prepare=_prepare,
        columns=columns,
        default_columns=default_columns,
        list_url=lambda parent: reverse("group_detail", args=[parent]),
        file_prefix=lambda parent: f"policy-group-{parent}-{kind}",
        **options,
    )


def _refuse_key_filter(form):
    if form.cleaned_data.get("key__eq"):
        return (
            "A list found by a key is not exported: the file would hold the key's public "
            "part. Export the list without the Key filter."
        )
    return None


SOURCES = (
    ExportSource(
        name="users",
        noun="user",
        title="Users",
        form=UserFilterForm,
        page=lambda client, *, parent, **kwargs: resources.user_page(client, **kwargs),
        prepare=_prepare,
        columns=USER_COLUMNS,
        default_columns=(
            "full_name",
            "email",
            "status",
            "is_totp_enabled",
            "last_login_time",
            "groups",
            "id",
        ),
        list_url=lambda parent: reverse("user_list"),
    ),
    ExportSource(
        name="api-keys",
        noun="API key",
        title="API keys",
        form=ApiKeyFilterForm,
        page=lambda client, *, parent, **kwargs: api_key_page(client, **kwargs),
        prepare=_prepare,
        clean=_without_key,
        columns=API_KEY_COLUMNS,
        default_columns=(
            "name",
            "owner",
            "status",
            "created_at",
            "last_login_time",
            "groups",
            "id",
        ),
        list_url=lambda parent: reverse("api_key_list"),
        extra={"refuse": _refuse_key_filter},
    ),
    ExportSource(
        name="invitations",
        noun="invitation",
        title="Invitations",
        form=ListForm,
        page=lambda client, *, parent, **kwargs: resources.invitation_page(client, **kwargs),
        prepare=_prepare,
        columns=(
            Column("email", "Email"),
            GROUPS,
            Column("created_at", "Sent"),
            Column("expiration", "Expires"),
            Column("id", "Invitation ID"),
            Column("user_id", "User ID"),
        ),
        default_columns=("email", "groups", "created_at", "expiration", "id"),
        list_url=lambda parent: reverse("invitation_list"),
        counts_total=False,  # the spec declares no `include` for this list
    ),
    ExportSource(
        name="applications",
        noun="application",
        title="Applications",
        form=ApplicationFilterForm,
        page=lambda client, *, parent, **kwargs: resources.application_page(client, **kwargs),
        prepare=_prepare,
        columns=APPLICATION_COLUMNS,
        default_columns=tuple(column.key for column in APPLICATION_COLUMNS),
        list_url=lambda parent: reverse("application_list"),
    ),
    ExportSource(
        name="access-keys",
        noun="access key",
        title="Access keys of application {parent}",
        parent="application",
        form=AccessKeyFilterForm,
        page=lambda client, *, parent, **kwargs: resources.access_key_page(
            client, parent, **kwargs
        ),
        clean=_without_secrets,
        columns=(
            Column("name", "Name"),
            Column("status", "Status"),
            Column("expiration", "Expires"),
            Column("last_used_at", "Last used"),
            Column("created_at", "Created"),
            Column("description", "Description"),
            Column("id", "Access key ID"),
        ),
        default_columns=("name", "status", "expiration", "last_used_at", "created_at", "id"),
        list_url=lambda parent: reverse("application_detail", args=[parent]),
        file_prefix=lambda parent: f"application-{parent}-access-keys",
    ),
    ExportSource(
        name="policy-groups",
        noun="policy group",
        title="Policy groups",
        form=GroupFilterForm,
        page=lambda client, *, parent, **kwargs: resources.policy_group_page(client, **kwargs),
        columns=(
            Column("name", "Name"),
            Column("user_count", "Users"),
            Column("apikey_count", "API keys"),
            Column("application_count", "Applications"),
            Column("created_at", "Created"),
            Column("id", "Group ID"),
        ),
        default_columns=(
            "name",
            "user_count",
            "apikey_count",
            "application_count",
            "created_at",
            "id",
        ),
        list_url=lambda parent: reverse("group_list"),
    ),
    _member_source(
        "users", "user", USER_COLUMNS, ("full_name", "email", "status", "is_totp_enabled", "id")
    ),
    _member_source(
        "api-keys",
        "API key",
        API_KEY_COLUMNS,
        ("name", "owner", "status", "created_at", "id"),
        clean=_without_key,
    ),
    _member_source(
        "applications",
        "application",
        APPLICATION_COLUMNS,
        ("name", "status", "last_used_at", "created_at", "id"),
    ),
)


def register_sources():
    for source in SOURCES:
        register(source)
