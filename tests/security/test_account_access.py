"""Issue 14, finding 3: staff notes and the recent-calls search across an account were
authorised by the account id remembered on the connection, never by the API. After the user's
key was rejected upstream (they left the team), they still read and wrote every note of the
account, and with one-character request-id prefixes (`q=0` ... `q=f`) listed all of a
colleague's calls.

Shared, account-wide data now needs a key the API accepted recently (in this request, or
within ACCOUNT_PROOF_SECONDS, else one cheap call re-checks it), never a connection marked
rejected, and is scoped by API host and account together. A request-id search matches a
prefix of at least 8 characters, or else the whole id.
"""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from dmportal.accounts.models import Connection
from dmportal.accounts.services import ACCOUNT_PROOF_SECONDS
from dmportal.support.models import ApiCall, DeviceNote
from tests.conftest import API, device, envelope, error_body, make_connection

pytestmark = pytest.mark.django_db
DEVICE_ID = f"{42:032x}"
NOTES = f"/support/devices/{DEVICE_ID}/notes/"
DOSSIER = f"/support/devices/{DEVICE_ID}/"
ACCOUNT = "a" * 32
OTHER_HOST = "https://api.other.test"
KEY_ME = f"{API}/v3/api-keys/me"


@pytest.fixture
def colleague(django_user_model, settings):
    """carol, on the same account, with 40 calls and a note."""
    settings.DMPORTAL_API_HOSTS = [API, OTHER_HOST]
    carol = django_user_model.objects.create_user("carol", password="x" * 20)
    make_connection(carol, label="Carol's", account_id=ACCOUNT)
    for n in range(40):
        ApiCall.objects.create(
            user=carol,
            connection_label="Carol's",
            api_host=API,
            account_id=ACCOUNT,
            method="GET",
            path=f"/v3/devices/{n:032x}/",
            status=200,
            upstream_request_id=f"{n:032x}",
            request_id=f"{n + 100:032x}",
        )
    DeviceNote.objects.create(
        api_host=API,
        account_id=ACCOUNT,
        device_id=DEVICE_ID,
        author=carol,
        author_name="carol",
        body="Carol private remark",
    )
    return carol


def accepted(connection, *, ago=0):
    Connection.objects.filter(pk=connection.pk).update(
        key_accepted_at=timezone.now() - timedelta(seconds=ago), key_rejected_at=None
    )


def rejected(connection):
    Connection.objects.filter(pk=connection.pk).update(key_rejected_at=timezone.now())


def search(client, q):
    return client.get("/support/calls/", {"q": q}, HTTP_HX_REQUEST="true").content.decode()


def test_a_rejected_key_reads_and_writes_no_note(signed_in, connection, colleague, api):
    rejected(connection)
    html = signed_in.get(NOTES).content.decode()
    assert "Carol private remark" not in html
    assert "rejected" in html
    response = signed_in.post(NOTES, {"body": "I was here"})
    assert response.status_code == 403
    assert DeviceNote.objects.count() == 1
    assert len(api.calls) == 0  # never re-checked: the connection is marked rejected


def test_a_rejected_key_finds_no_colleagues_call(signed_in, connection, colleague, api):
    rejected(connection)
    for prefix in "0123456789abcdef":
        assert "carol" not in search(signed_in, prefix)
    assert "carol" not in search(signed_in, f"{7:032x}")  # not even with the whole id
    assert len(api.calls) == 0


def test_one_character_prefixes_find_nothing_of_a_colleague(signed_in, connection, colleague):
    accepted(connection)
    for prefix in "0123456789abcdef":
        assert "carol" not in search(signed_in, prefix)
    assert "carol" not in search(signed_in, "0000000")  # 7 characters: still too short
    html = search(signed_in, "00000000")  # 8: a real prefix
    assert "by carol" in html
    assert f"{7:032x}" in search(signed_in, f"{7:032x}")


def test_a_recently_accepted_key_sees_the_notes_without_a_call(
    signed_in, connection, colleague, api
):
    accepted(connection, ago=ACCOUNT_PROOF_SECONDS - 30)
    assert "Carol private remark" in signed_in.get(NOTES).content.decode()
    assert len(api.calls) == 0


def test_an_older_acceptance_is_checked_again_with_one_call(signed_in, connection, colleague, api):
    accepted(connection, ago=ACCOUNT_PROOF_SECONDS + 30)
    api.get(KEY_ME, json={"object": "api-key", "id": "1" * 32, "account_id": ACCOUNT})
    assert "Carol private remark" in signed_in.get(NOTES).content.decode()
    assert "Carol private remark" in signed_in.get(NOTES).content.decode()
    assert [c.request.url for c in api.calls] == [KEY_ME]  # once, then remembered


def test_a_key_rejected_at_the_check_is_marked_and_refused(signed_in, connection, colleague, api):
    accepted(connection, ago=ACCOUNT_PROOF_SECONDS + 30)
    api.get(KEY_ME, status=401, json=error_body(401, "invalid_apikey"))
    html = signed_in.get(NOTES).content.decode()
    assert "Carol private remark" not in html
    connection.refresh_from_db()
    assert connection.key_rejected_at is not None
    assert len(api.calls) == 1
    signed_in.get(NOTES)
    assert len(api.calls) == 1  # marked: not asked again


def test_a_key_of_another_account_at_the_check_is_refused(signed_in, connection, colleague, api):
    accepted(connection, ago=ACCOUNT_PROOF_SECONDS + 30)
    api.get(KEY_ME, json={"object": "api-key", "id": "1" * 32, "account_id": "e" * 32})
    assert "Carol private remark" not in signed_in.get(NOTES).content.decode()
    assert signed_in.post(NOTES, {"body": "x"}).status_code == 403


def test_the_same_account_id_on_another_host_is_another_account(client, user, colleague, api):
    elsewhere = make_connection(user, label="Other region", host=OTHER_HOST, account_id=ACCOUNT)
    accepted(elsewhere)
    client.force_login(user)
    assert "Carol private remark" not in client.get(NOTES).content.decode()
    assert "carol" not in search(client, "00000000")
    client.post(NOTES, {"body": "Mine, on the other host"})
    note = DeviceNote.objects.get(body="Mine, on the other host")
    assert (note.api_host, note.account_id) == (OTHER_HOST, ACCOUNT)
    carol = Client()
    carol.force_login(colleague)
    accepted(Connection.objects.get(user=colleague))
    assert "Mine, on the other host" not in carol.get(NOTES).content.decode()


def test_the_dossier_shows_the_notes_when_its_own_calls_succeeded(
    signed_in, connection, colleague, api
):
    """A page that has just used the key (the dossier) needs no extra call for its notes."""
    api.get(f"{API}/v3/devices/{DEVICE_ID}/", json=device(42, groups=[]))
    api.get(f"{API}/v3/device-events/", json=envelope([]))
    html = signed_in.get(DOSSIER).content.decode()
    assert "Carol private remark" in html
    assert KEY_ME not in [c.request.url for c in api.calls]
    rejected(connection)
    api.replace("GET", f"{API}/v3/devices/{DEVICE_ID}/", status=401, json=error_body(401, "x"))
    assert "Carol private remark" not in signed_in.get(DOSSIER).content.decode()
