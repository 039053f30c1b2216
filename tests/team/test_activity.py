"""The activity page: the signed-in user's own entries, newest first, load more (keyset)."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from dmportal.accounts.models import ActivityEntry
from tests.conftest import joined_ids

pytestmark = pytest.mark.django_db


def add_entries(user, count, *, start=None, same_time=False):
    start = start or datetime(2025, 1, 1, tzinfo=UTC)
    for i in range(count):
        entry = ActivityEntry.objects.create(
            user=user, username=user.username, action=f"test.{i:03d}", target=f"t{i}"
        )
        # One second apart, or all at the very same moment (the pk breaks the tie).
        moment = start if same_time else start + timedelta(seconds=i)
        ActivityEntry.objects.filter(pk=entry.pk).update(created_at=moment)


def actions(html):
    return re.findall(r'data-action="(test\.\d{3})"', html)


def test_newest_first_then_load_more_without_gaps_or_repeats(client, user, other_user):
    client.force_login(user)
    ActivityEntry.objects.all().delete()  # the sign-in entry
    add_entries(user, 120)
    add_entries(other_user, 5)
    first = client.get("/activity/").content.decode()
    shown = actions(first)
    assert shown[:2] == ["test.119", "test.118"]
    assert len(shown) == 50
    assert 'id="activity-pager"' in first
    assert 'id="activity-status" class="table-status" aria-live="polite"' in first
    seen = list(shown)
    html = first
    while True:
        match = re.search(r'hx-get="(/activity/\?after=[^"]+)"', html)
        if match is None:
            break
        html = client.get(match.group(1), HTTP_HX_REQUEST="true").content.decode()
        assert html.lstrip().startswith("<tr>")
        assert "<html" not in html
        seen += actions(html)
    assert seen == [f"test.{i:03d}" for i in range(119, -1, -1)]


def test_entries_at_the_same_moment_are_paged_by_their_id(client, user):
    client.force_login(user)
    ActivityEntry.objects.all().delete()
    add_entries(user, 60, same_time=True)
    first = client.get("/activity/").content.decode()
    cursor = re.search(r'hx-get="/activity/\?after=([^"]+)"', first).group(1)
    rest = client.get(f"/activity/?after={cursor}", HTTP_HX_REQUEST="true").content.decode()
    assert sorted(actions(first) + actions(rest)) == [f"test.{i:03d}" for i in range(60)]
    assert not set(actions(first)) & set(actions(rest))


def test_only_the_users_own_entries(client, user, other_user):
    add_entries(other_user, 3)
    client.force_login(user)
    html = client.get("/activity/").content.decode()
    assert actions(html) == []


def test_a_load_more_link_opened_directly_is_a_full_page(client, user):
    client.force_login(user)
    add_entries(user, 55)
    first = client.get("/activity/").content.decode()
    link = re.search(r'href="(/activity/\?after=[^"]+)"', first).group(1)
    page = client.get(link).content.decode()
    assert "<html" in page
    assert "My activity" in page


@pytest.mark.parametrize("after", ["abc", "1-", "-1-2", "1" * 30 + "-1", "99999999999999999999-1"])
def test_a_bad_cursor_is_refused(client, user, after):
    client.force_login(user)
    assert client.get("/activity/", {"after": after}).status_code == 400


def test_nothing_yet(client, user):
    client.force_login(user)
    ActivityEntry.objects.all().delete()
    assert "Nothing yet" in client.get("/activity/").content.decode()


def test_entries_show_both_request_ids(client, user):
    client.force_login(user)
    ActivityEntry.objects.create(
        user=user,
        username="alice",
        action="api_key.create",
        target="Robot",
        upstream_request_id="up-123",
        request_id="d" * 32,
        result="failed",
        detail="<b>refused</b>",
    )
    html = joined_ids(client.get("/activity/").content.decode())
    assert "up-123" in html
    assert "d" * 32 in html
    assert "&lt;b&gt;refused&lt;/b&gt;" in html


def test_actions_read_in_words_with_the_code_on_hover(client, user):
    ActivityEntry.objects.create(user=user, username="alice", action="api_key.deactivate")
    ActivityEntry.objects.create(user=user, username="alice", action="some.new_thing")
    client.force_login(user)
    html = client.get("/activity/").content.decode()
    assert '<span class="action" title="api_key.deactivate"' in html
    assert ">Deactivated an API key</span>" in html
    assert ">some.new_thing</span>" in html  # an unknown code reads as itself


def test_failed_sign_ins_with_ones_name_are_listed_and_no_one_elses(client, user, other_user):
    ActivityEntry.objects.create(user=None, username="alice", action="signin", result="failed")
    ActivityEntry.objects.create(user=None, username="bob", action="signin", result="failed")
    client.force_login(user)
    html = client.get("/activity/").content.decode()
    assert html.count(">Sign-in failed</span>") == 1
    assert "as “alice”" in html
    assert "as “bob”" not in html


def test_filter_by_action_and_days(client, user):
    now = timezone.now()
    for action, days in (("signin", 10), ("api_key.delete", 5), ("api_key.delete", 1)):
        entry = ActivityEntry.objects.create(user=user, username="alice", action=action)
        ActivityEntry.objects.filter(pk=entry.pk).update(created_at=now - timedelta(days=days))
    client.force_login(user)
    since = (now - timedelta(days=7)).date().isoformat()
    response = client.get("/activity/", {"action": "api_key.delete", "since": since})
    html = response.content.decode()
    assert response.status_code == 200
    assert html.count(">Deleted an API key</span>") == 2
    assert ">Signed in</span>" not in html
    until = (now - timedelta(days=3)).date().isoformat()
    html = client.get(
        "/activity/", {"action": "api_key.delete", "since": since, "until": until}
    ).content.decode()
    assert html.count(">Deleted an API key</span>") == 1
    bad = client.get("/activity/", {"since": "yesterday"})
    assert bad.status_code == 400
    assert "Enter a day like 2025-01-31." in bad.content.decode()
    assert client.get("/activity/", {"action": "drop.table"}).status_code == 400
