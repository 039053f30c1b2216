"""core/writes.py: one API write, run once, recorded in the activity log, its failure put on
the form."""

import pytest
from django import forms
from django.core.exceptions import ImproperlyConfigured

from dmportal.accounts.models import ActivityEntry
from dmportal.accounts.signals import write_recorded
from dmportal.core.writes import form_api_error, perform, write_performed
from dmportal.dmapi import errors as api
from dmportal.dmapi.pages import Record

pytestmark = pytest.mark.django_db


class NameForm(forms.Form):
    name = forms.CharField()
    description = forms.CharField(required=False)


@pytest.fixture
def request_(rf, user, connection):
    request = rf.post("/x/")
    request.user = user
    request._dm_connection = connection
    request.request_id = "d" * 32
    return request


def conflict():
    raise api.Conflict(
        "Name taken.", status=409, request_id="up-9", fields=[("name", "is already used")]
    )


def test_a_write_that_went_through_is_recorded_once(request_):
    calls = []

    def call():
        calls.append(1)
        return Record({"id": "a" * 32}, request_id="up-1")

    result, error = perform(request_, "device.update", "Boiler", call, detail="renamed")
    assert (result["id"], error, len(calls)) == ("a" * 32, None, 1)
    entry = ActivityEntry.objects.get(action="device.update")
    assert (entry.result, entry.target, entry.detail) == ("ok", "Boiler", "renamed")
    assert (entry.upstream_request_id, entry.request_id) == ("up-1", "d" * 32)
    assert entry.connection_label == "Acme production"


def test_a_refused_write_is_recorded_as_failed_put_on_the_form_and_never_retried(request_):
    calls = []

    def call():
        calls.append(1)
        conflict()

    form = NameForm({"name": "Boiler"})
    assert form.is_valid()
    result, error = perform(request_, "group.create", "Boiler", call, form=form)
    assert result is None
    assert isinstance(error, api.Conflict)
    assert len(calls) == 1
    assert form.errors["name"] == ["is already used"]
    assert form.upstream_request_id == "up-9"
    entry = ActivityEntry.objects.get(action="group.create")
    assert (entry.result, entry.detail, entry.upstream_request_id) == (
        "failed",
        "Name taken.",
        "up-9",
    )


@pytest.mark.parametrize(
    ("exc", "result"),
    [
        (api.Timeout("No answer.", type="read_timeout", method="PUT"), "unknown"),
        (api.ConnectionFailed("Reset.", type="connection_error", method="POST"), "unknown"),
        (api.ConnectionFailed("Refused.", type="connect_error", method="POST"), "failed"),
        (api.ServerError("Boom.", status=500, method="PUT"), "failed"),
    ],
)
def test_a_write_sent_without_an_answer_is_recorded_as_unknown(request_, exc, result):
    def call():
        raise exc

    perform(request_, "device.update", "Boiler", call)
    assert ActivityEntry.objects.get(action="device.update").result == result


def test_the_target_may_be_named_by_the_answer(request_):
    perform(
        request_, "key.create", lambda r: r["name"] if r else "?", lambda: Record({"name": "K"})
    )
    perform(request_, "key.create", lambda r: r["name"] if r else "?", conflict)
    assert list(ActivityEntry.objects.order_by("pk").values_list("target", flat=True)) == ["K", "?"]


def test_the_call_runs_inside_around(request_):
    seen = []

    class Around:
        def __enter__(self):
            seen.append("in")

        def __exit__(self, *exc):
            seen.append("out")

    perform(request_, "x", "y", lambda: seen.append("call"), around=Around)
    assert seen == ["in", "call", "out"]


def test_no_activity_log_means_no_write(request_):
    write_performed.disconnect(write_recorded)
    try:
        with pytest.raises(ImproperlyConfigured):
            perform(request_, "x", "y", lambda: pytest.fail("the write was sent"))
    finally:
        write_performed.connect(write_recorded)
    assert write_performed.has_listeners()


@pytest.mark.parametrize(
    ("field_for", "fields", "on_field"),
    [
        (None, [("name", "too long")], "name"),
        ({"display_name": "name"}.get, [("display_name", "too long")], "name"),
        (None, [("unknown", "bad")], None),  # no such field: an error box on the form
        (None, [], None),
    ],
)
def test_form_api_error(rf, field_for, fields, on_field):
    form = NameForm({"name": "x"})
    form.is_valid()
    exc = api.BadRequest("Rejected.", status=400, request_id="up-2", fields=fields)
    form_api_error(form, exc, rf.get("/"), field_for=field_for)
    if on_field:
        assert form.errors[on_field] == ["too long"]
        assert not hasattr(form, "api_error")
    else:
        assert form.api_error.kind == "bad_request"
        assert form.api_error.upstream_request_id == "up-2"
    assert form.upstream_request_id == "up-2"


def test_other_failures_are_an_error_box(rf):
    form = NameForm({"name": "x"})
    form.is_valid()
    form_api_error(form, api.PermissionDenied(status=403), rf.get("/"))
    assert form.api_error.kind == "forbidden"


def database_down(*args, **kwargs):
    from django.db import OperationalError

    raise OperationalError("database is locked")


def test_a_write_the_api_took_but_the_database_cannot_record_says_so(request_, monkeypatch):
    from dmportal.core.errors import describe
    from dmportal.core.writes import WriteNotRecorded

    monkeypatch.setattr(ActivityEntry.objects, "create", database_down)
    with pytest.raises(WriteNotRecorded) as caught:
        perform(
            request_,
            "device.update",
            "Boiler",
            lambda: Record({"id": "a" * 32}, request_id="up-7"),
        )
    info = describe(caught.value, request_)
    assert info.status == 503
    assert "made the change" in info.explanation
    assert "Nothing was saved" not in info.explanation
    assert info.upstream_request_id == "up-7"


def test_an_unknown_outcome_not_recorded_says_it_may_have_been_made(request_, monkeypatch):
    from dmportal.core.errors import describe
    from dmportal.core.writes import WriteNotRecorded

    monkeypatch.setattr(ActivityEntry.objects, "create", database_down)

    def call():
        raise api.Timeout("No answer.", type="read_timeout", method="PUT")

    with pytest.raises(WriteNotRecorded) as caught:
        perform(request_, "device.update", "Boiler", call)
    assert caught.value.outcome == "unknown"
    assert "may have been made" in describe(caught.value, request_).explanation


def test_a_refused_write_with_the_database_down_is_the_database_page(request_, monkeypatch):
    from django.db import OperationalError

    from dmportal.core.errors import describe
    from dmportal.core.writes import WriteNotRecorded

    monkeypatch.setattr(ActivityEntry.objects, "create", database_down)
    with pytest.raises(OperationalError) as caught:
        perform(request_, "device.update", "Boiler", conflict)
    assert not isinstance(caught.value, WriteNotRecorded)
    assert "Nothing was saved" in describe(caught.value, request_).explanation
