"""The recent API calls can be exported (exports.sources): dmportal's own rows, walked by id.
Registered by SupportConfig.ready()."""

from django.urls import reverse

from dmportal.exports.sources import Column, ExportSource, register

from .forms import CallFilterForm
from .views import calls_visible

FIELDS = (
    "created_at",
    "method",
    "path",
    "status",
    "duration_ms",
    "attempts",
    "error",
    "upstream_request_id",
    "request_id",
    "connection_label",
    "account_id",
)


def call_record(call):
    """A call as a JSON Lines record: its fields, and who made it."""
    record = {name: getattr(call, name) for name in FIELDS}
    record["username"] = call.user.get_username()
    return record


SOURCES = (
    ExportSource(
        name="api-calls",
        noun="API call",
        title="Recent API calls",
        form=CallFilterForm,
        rows=calls_visible,
        record=call_record,
        columns=(
            Column("created_at", "When"),
            Column("method", "Method"),
            Column("path", "Call", lambda call, context: call.shown_path),
            Column("status", "Status"),
            Column("error", "Error"),
            Column("duration_ms", "ms"),
            Column("attempts", "Attempts"),
            Column("upstream_request_id", "Upstream request id"),
            Column("request_id", "dmportal request id"),
            Column("connection_label", "Connection"),
            Column("user", "By", lambda call, context: call.user.get_username()),
        ),
        default_columns=(
            "created_at",
            "method",
            "path",
            "status",
            "error",
            "duration_ms",
            "upstream_request_id",
            "request_id",
            "connection_label",
            "user",
        ),
        list_url=lambda parent: reverse("api_call_list"),
    ),
)


def register_sources():
    for source in SOURCES:
        register(source)
