""" "My activity" can be exported (exports.sources): dmportal's own rows, walked by id.

Registered here rather than in `accounts`, because `accounts` is below the exports (which use
its connections and clients): the source only reads `accounts.activity`."""

from django.urls import reverse

from dmportal.accounts.activity import action_words, activity_rows
from dmportal.accounts.forms import ActivityForm

from .sources import Column, ExportSource, register

FIELDS = (
    "created_at",
    "action",
    "result",
    "target",
    "detail",
    "connection_label",
    "account_id",
    "upstream_request_id",
    "request_id",
    "ip_address",
    "username",
)


def activity_record(entry):
    """An entry as a JSON Lines record: its fields, and the action in words."""
    record = {name: getattr(entry, name) for name in FIELDS}
    record["action_words"] = action_words(entry.action, entry.result)
    return record


SOURCE = ExportSource(
    name="activity",
    noun="entry",
    title="My activity",
    form=ActivityForm,
    rows=activity_rows,
    record=activity_record,
    columns=(
        Column("created_at", "When"),
        Column("action", "Action", lambda e, context: action_words(e.action, e.result)),
        Column("code", "Action code", lambda e, context: e.action),
        Column("target", "Target"),
        Column("result", "Result"),
        Column("detail", "Detail"),
        Column("connection_label", "Connection"),
        Column("account_id", "Account ID"),
        Column("upstream_request_id", "Upstream request id"),
        Column("request_id", "dmportal request id"),
        Column("ip_address", "IP address"),
        Column("username", "User name"),
    ),
    default_columns=(
        "created_at",
        "action",
        "target",
        "result",
        "detail",
        "connection_label",
        "upstream_request_id",
        "request_id",
    ),
    list_url=lambda parent: reverse("activity_list"),
)


def register_sources():
    register(SOURCE)
