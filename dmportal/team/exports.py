"""The team lists that can be exported (exports.sources): users and API keys. Registered by
TeamConfig.ready()."""

from datetime import UTC, datetime

from django.urls import reverse

from dmportal.dmapi import resources
from dmportal.exports.sources import Column, ExportSource, register

from .forms import ApiKeyFilterForm, UserFilterForm
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
        columns=(
            Column("full_name", "Name"),
            Column("email", "Email"),
            Column("status", "Status"),
            Column("is_totp_enabled", "2FA"),
            Column("last_login_time", "Last login", _epoch_ms("last_login_time")),
            Column("groups", "Policy groups", _group_names),
            Column("id", "User ID"),
            Column("username", "User name"),
            Column("created_at", "Created"),
        ),
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
        columns=(
            Column("name", "Name"),
            Column("owner", "Owner (user ID)"),
            Column("status", "Status"),
            Column("created_at", "Created"),
            Column("last_login_time", "Last used", _epoch_ms("last_login_time")),
            Column("groups", "Policy groups", _group_names),
            Column("id", "Key ID"),
        ),
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
)


def register_sources():
    for source in SOURCES:
        register(source)
