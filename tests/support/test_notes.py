"""Staff notes: stored in dmportal, shown to everyone on the same account, no one else."""

import pytest
from django.test import Client

from dmportal.accounts.models import ActivityEntry
from dmportal.support.models import DeviceNote
from tests.conftest import API, SENTINEL_KEY, device, envelope, make_connection

pytestmark = pytest.mark.django_db
DEVICE_ID = f"{42:032x}"
NOTES = f"/support/devices/{DEVICE_ID}/notes/"
DOSSIER = f"/support/devices/{DEVICE_ID}/"
ACCOUNT = "a" * 32  # the account of the `connection` fixture
OTHER_ACCOUNT = "b" * 32


def mock_dossier(api):
    api.get(f"{API}/v3/devices/{DEVICE_ID}/", json=device(42, groups=[]))
    api.get(f"{API}/v3/device-events/", json=envelope([]))


def signed_in_as(django_user_model, username, account_id):
    user = django_user_model.objects.create_user(username, password="x" * 20)
    make_connection(user, label=f"{username}'s", account_id=account_id)
    client = Client()
    client.force_login(user)
    return client


def test_a_note_is_stored_with_author_and_account_and_logged(signed_in, user):
    response = signed_in.post(NOTES, {"body": "Customer says it reboots every night."})
    assert response.status_code == 302
    assert response["Location"] == f"{DOSSIER}#notes"
    note = DeviceNote.objects.get()
    assert (note.account_id, note.device_id) == (ACCOUNT, DEVICE_ID)
    assert note.author == user
    assert note.author_name == "alice"
    assert note.body == "Customer says it reboots every night."
    entry = ActivityEntry.objects.get(action="device.note")
    assert entry.target == DEVICE_ID
    assert entry.result == "ok"
    assert entry.account_id == ACCOUNT


def test_the_success_message_names_the_device(signed_in, api):
    mock_dossier(api)
    response = signed_in.post(NOTES, {"body": "Checked."}, follow=True)
    assert f"Note added to device {DEVICE_ID}." in response.content.decode()


def test_notes_are_shown_to_other_users_of_the_same_account_only(signed_in, api, django_user_model):
    signed_in.post(NOTES, {"body": "Replaced the battery on 3 June."})
    mock_dossier(api)
    colleague = signed_in_as(django_user_model, "carol", ACCOUNT)
    html = colleague.get(DOSSIER).content.decode()
    assert "Replaced the battery on 3 June." in html
    assert "<strong>alice</strong>" in html
    outsider = signed_in_as(django_user_model, "dave", OTHER_ACCOUNT)
    html = outsider.get(DOSSIER).content.decode()
    assert "Replaced the battery" not in html
    assert "No notes yet." in html
    assert "Replaced the battery" not in outsider.get(NOTES).content.decode()


def test_a_note_written_on_another_account_stays_there(signed_in, django_user_model):
    outsider = signed_in_as(django_user_model, "dave", OTHER_ACCOUNT)
    outsider.post(NOTES, {"body": "Other account's note."})
    assert DeviceNote.objects.get().account_id == OTHER_ACCOUNT
    assert "Other account's note." not in signed_in.get(NOTES).content.decode()


def test_notes_are_newest_first_and_escaped(signed_in):
    signed_in.post(NOTES, {"body": "first"})
    signed_in.post(NOTES, {"body": "<script>alert(1)</script>\nsecond line"})
    html = signed_in.get(NOTES).content.decode()
    assert html.index("second line") < html.index("first")
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;<br>second line" in html
    assert SENTINEL_KEY not in html


def test_an_empty_note_is_refused_and_nothing_is_stored(signed_in):
    response = signed_in.post(NOTES, {"body": "   "})
    assert response.status_code == 400
    assert "Write the note first." in response.content.decode()
    assert DeviceNote.objects.count() == 0
    assert not ActivityEntry.objects.filter(action="device.note").exists()


def test_a_too_long_note_is_refused_keeping_what_was_typed(signed_in):
    response = signed_in.post(NOTES, {"body": "x" * 4001})
    assert response.status_code == 400
    html = response.content.decode()
    assert "at most 4000 characters" in html
    assert "x" * 4001 in html
    assert DeviceNote.objects.count() == 0


def test_htmx_adds_the_note_in_place_with_the_message(signed_in):
    response = signed_in.post(
        NOTES, {"body": "Via htmx."}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="notes"
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<section class="panel notes" id="notes"')
    assert "<html" not in html
    assert "Via htmx." in html
    assert 'hx-swap-oob="beforeend:#flash"' in html
    assert f"Note added to device {DEVICE_ID}." in html


def test_a_connection_without_a_known_account_cannot_keep_notes(client, django_user_model):
    user = django_user_model.objects.create_user("erin", password="x" * 20)
    make_connection(user, label="No account", account_id="")
    client.force_login(user)
    response = client.post(NOTES, {"body": "Would leak to every unknown account."})
    assert response.status_code == 403
    assert "the account of the connection “No account” is not known" in response.content.decode()
    assert DeviceNote.objects.count() == 0


def test_adding_a_note_needs_the_csrf_token(user, connection):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    response = client.post(NOTES, {"body": "forged"})
    assert response.status_code == 403
    assert DeviceNote.objects.count() == 0


def test_notes_take_only_get_and_post(signed_in):
    assert signed_in.put(NOTES, {"body": "x"}).status_code == 405
    assert signed_in.delete(NOTES).status_code == 405


def test_notes_need_a_connection(client, user):
    client.force_login(user)
    response = client.post(NOTES, {"body": "x"})
    assert response.status_code == 302
    assert response["Location"] == "/connections/add/"
    assert DeviceNote.objects.count() == 0
