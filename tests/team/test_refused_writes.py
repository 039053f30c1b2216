"""A refused write shows the API's error and keeps the form: one test for every form of the
team pages that writes (core.flows.form_then_write), with the API answering 400, 403 or 409.

A field error lands on its field (the page answers 400, like any invalid form); another error
is shown above the form with the API's status. Either way what was typed is shown again, the
upstream request id is on the page, and the failure is in the activity log."""

from dataclasses import dataclass, field

import pytest

from tests.conftest import SENTINEL_KEY, envelope, error_body
from tests.factories import (
    GROUP_ADMINS,
    GROUP_DEVS,
    GROUPS,
    activity,
    api_key,
    application,
    group,
    url,
    user,
)

pytestmark = pytest.mark.django_db

GROUP_LIST = (url("/v3/policy-groups"), envelope(GROUPS))
ADMINS = url(f"/v3/policy-groups/{GROUP_ADMINS}")
USER = user(1)
APP = application(1)
KEY = api_key(1)


@dataclass
class Case:
    page: str  # the form's URL
    typed: dict  # what was submitted
    write: tuple  # (method, API URL) of the write the API refuses
    refusal: dict  # the API's error body (its `code` is the status it answers with)
    action: str  # the activity entry of the write
    status: int  # what the page answers
    shown: tuple  # what the page says
    kept: tuple  # what was typed, as the form shows it again
    reads: list = field(default_factory=list)  # (URL, JSON) the page reads first


def field_error(status, name, message, request_id):
    return error_body(status, "validation_error", "Refused.", request_id, fields=[(name, message)])


CASES = {
    "invite, a field the API rejects": Case(
        page="/team/users/invite/",
        typed={"email": "not-an-email", "groups": [GROUP_DEVS], "valid_for_days": "7"},
        reads=[GROUP_LIST],
        write=("POST", url("/v3/user-invitations")),
        refusal=field_error(400, "email", "'not-an-email' is not a valid email address.", "up-1"),
        action="user.invite",
        status=400,
        shown=("is not a valid email address",),
        kept=(
            'value="not-an-email"',
            f'value="{GROUP_DEVS}" class="checklist" id="id_groups_1" checked',
            'value="7"',
        ),
    ),
    "invite, a duplicate": Case(
        page="/team/users/invite/",
        typed={"email": "a@b.c", "valid_for_days": "30"},
        reads=[GROUP_LIST],
        write=("POST", url("/v3/user-invitations")),
        refusal=error_body(409, "duplicate", "Exists.", "up-2", fields=[("email", "In use.")]),
        action="user.invite",
        status=400,
        shown=("In use.",),
        kept=('value="a@b.c"',),
    ),
    "invite, not allowed": Case(
        page="/team/users/invite/",
        typed={"email": "a@b.c", "valid_for_days": "30"},
        reads=[GROUP_LIST],
        write=("POST", url("/v3/user-invitations")),
        refusal=error_body(403, "access_denied", "Admins only.", "up-3"),
        action="user.invite",
        status=403,
        shown=("This API key is not allowed to do this", "Admins only."),
        kept=('value="a@b.c"',),
    ),
    "edit a user": Case(
        page=f"/team/users/{USER['id']}/edit/",
        typed={"full_name": "Kept", "phone_number": "123"},
        reads=[(url(f"/v3/users/{USER['id']}"), USER)],
        write=("PUT", url(f"/v3/users/{USER['id']}")),
        refusal=field_error(400, "phone_number", "Too long.", "up-4"),
        action="user.update",
        status=400,
        shown=("Too long.",),
        kept=('value="Kept"', 'value="123"'),
    ),
    "create a group": Case(
        page="/team/groups/new/",
        typed={"name": "Developers"},
        write=("POST", url("/v3/policy-groups")),
        refusal=error_body(409, "duplicate", "Exists.", "up-5", fields=[("name", "In use.")]),
        action="group.create",
        status=400,
        shown=("In use.",),
        kept=('value="Developers"',),
    ),
    "rename a group": Case(
        page=f"/team/groups/{GROUP_ADMINS}/rename/",
        typed={"name": "Admins"},
        reads=[(ADMINS, group(GROUP_ADMINS, "Administrators"))],
        write=("PUT", ADMINS),
        refusal=error_body(403, "access_denied", "Admins only.", "up-6"),
        action="group.rename",
        status=403,
        shown=("Admins only.",),
        kept=('value="Admins"',),
    ),
    "add members to a group": Case(
        page=f"/team/groups/{GROUP_ADMINS}/users/add/",
        typed={"members": [user(2)["id"]]},
        reads=[
            (ADMINS, group(GROUP_ADMINS, "Administrators")),
            (url("/v3/users"), envelope([user(2, groups=[])], total=1)),
        ],
        write=("POST", url(f"/v3/policy-groups/{GROUP_ADMINS}/users/add")),
        refusal=error_body(409, "duplicate", "User is a member already.", "up-7"),
        action="group.add_users",
        status=409,
        shown=("User is a member already.",),
        kept=("checked",),
    ),
    "create an application": Case(
        page="/team/applications/new/",
        typed={"name": "Robot", "description": "Arm", "groups": [GROUP_ADMINS]},
        reads=[GROUP_LIST],
        write=("POST", url("/v3/applications")),
        refusal=error_body(409, "duplicate", "Exists.", "up-8", fields=[("name", "In use.")]),
        action="application.create",
        status=400,
        shown=("In use.",),
        kept=('value="Robot"', "Arm</textarea>", "checked"),
    ),
    "edit an application": Case(
        page=f"/team/applications/{APP['id']}/edit/",
        typed={"name": "Robot 2", "description": ""},
        reads=[(url(f"/v3/applications/{APP['id']}"), APP)],
        write=("PUT", url(f"/v3/applications/{APP['id']}")),
        refusal=error_body(403, "access_denied", "Admins only.", "up-9"),
        action="application.update",
        status=403,
        shown=("Admins only.",),
        kept=('value="Robot 2"',),
    ),
    "rename an API key": Case(
        page=f"/team/api-keys/{KEY['id']}/edit/",
        typed={"name": "Odd"},
        reads=[(url(f"/v3/api-keys/{KEY['id']}"), KEY)],
        write=("PUT", url(f"/v3/api-keys/{KEY['id']}")),
        refusal=field_error(400, "name", "Too odd.", "up-10"),
        action="api_key.rename",
        status=400,
        shown=("Too odd.",),
        kept=('value="Odd"',),
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_a_refused_write_shows_the_error_and_keeps_the_form(signed_in, api, case):
    for read_url, body in case.reads:
        api.get(read_url, json=body)
    method, write_url = case.write
    api.add(method, write_url, status=case.refusal["code"], json=case.refusal)
    response = signed_in.post(case.page, case.typed)
    assert response.status_code == case.status
    html = response.content.decode()
    for text in (*case.shown, *case.kept, case.refusal["request_id"]):
        assert text in html, text
    assert SENTINEL_KEY not in html
    entry = activity().get()
    assert (entry.action, entry.result, entry.upstream_request_id) == (
        case.action,
        "failed",
        case.refusal["request_id"],
    )
