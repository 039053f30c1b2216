"""The lists that gained an Export link with the rest: applications and an application's access
keys, policy groups and each group's members, invitations, and "My activity". Each export holds
what its list shows, every page, and no secret."""

import re
from datetime import UTC, datetime

import pytest
from django.contrib.auth import get_user_model

from dmportal.accounts.models import ActivityEntry, Preferences
from dmportal.jobs.models import State

from .conftest import csv_rows, download, export, jsonl_records, walk

pytestmark = pytest.mark.django_db

EXPORT_LINK = re.compile(r'data-export href="([^"]+)"')


def export_link(client, page):
    response = client.get(page)
    assert response.status_code == 200, response.content.decode()[:2000]
    found = EXPORT_LINK.findall(response.content.decode())
    assert found, f"no Export link on {page}"
    return found[0].replace("&amp;", "&")


def test_applications_export_from_their_list_with_group_names(sim_client, sim):
    link = export_link(sim_client, "/team/applications/?status__eq=ACTIVE")
    assert link == "/exports/applications/?status__eq=ACTIVE"
    apps = walk(sim, "/v3/applications", {"status__eq": "ACTIVE"})
    assert apps
    job = export(sim_client, link)
    assert job.state == State.DONE, job.error
    rows = csv_rows(download(sim_client, job)[1])
    assert [r["Application ID"] for r in rows] == [a["id"] for a in reversed(apps)]
    groups = {g["id"]: g["name"] for g in walk(sim, "/v3/policy-groups")}
    first = next(a for a in apps if a.get("groups"))
    row = next(r for r in rows if r["Application ID"] == first["id"])
    assert row["Policy groups"] == "; ".join(groups[g] for g in first["groups"])


def test_an_applications_access_keys_export_without_any_secret(sim_client, sim):
    app = max(walk(sim, "/v3/applications"), key=lambda a: a["id"])
    keys = walk(sim, f"/v3/applications/{app['id']}/access-keys")
    assert keys
    link = export_link(sim_client, f"/team/applications/{app['id']}/")
    assert link == f"/exports/access-keys/{app['id']}/"
    for fmt in ("csv", "jsonl"):
        job = export(sim_client, link, fmt=fmt)
        assert job.state == State.DONE, job.error
        assert job.total == len(keys)
        _, data = download(sim_client, job)
        assert b"ak_" not in data
        assert b"secret" not in data.lower()
    assert [r["id"] for r in jsonl_records(data)] == [k["id"] for k in reversed(keys)]
    assert job.download_name.startswith(f"application-{app['id']}-access-keys-")


def test_policy_groups_and_each_kind_of_member(sim_client, sim):
    groups = walk(sim, "/v3/policy-groups")
    assert export_link(sim_client, "/team/groups/") == "/exports/policy-groups/"
    job = export(sim_client, "/exports/policy-groups/")
    rows = csv_rows(download(sim_client, job)[1])
    assert [r["Group ID"] for r in rows] == [g["id"] for g in reversed(groups)]
    assert rows[0]["Users"] == str(groups[-1]["user_count"])
    group = max(groups, key=lambda g: g.get("user_count") or 0)
    for kind, path, id_header in (
        ("users", "users", "User ID"),
        ("api-keys", "api-keys", "Key ID"),
        ("applications", "applications", "Application ID"),
    ):
        members = walk(sim, f"/v3/policy-groups/{group['id']}/{path}")
        panel = sim_client.get(f"/team/groups/{group['id']}/{kind}/", HTTP_HX_REQUEST="true")
        found = EXPORT_LINK.findall(panel.content.decode())
        if not members:
            assert not found  # nothing to export: no link
            continue
        assert found == [f"/exports/group-{kind}/{group['id']}/"]
        job = export(sim_client, found[0])
        assert job.state == State.DONE, job.error
        _, data = download(sim_client, job)
        assert b"ak_" not in data
        assert [r[id_header] for r in csv_rows(data)] == [m["id"] for m in reversed(members)]


def test_invitations_export_without_asking_a_total_the_spec_does_not_offer(sim_client, sim, caplog):
    invitations = walk(sim, "/v3/user-invitations")
    assert invitations
    assert export_link(sim_client, "/team/invitations/") == "/exports/invitations/"
    caplog.set_level("INFO", logger="dmportal.dmapi")
    assert sim_client.get("/exports/invitations/").status_code == 200
    job = export(sim_client, "/exports/invitations/")
    assert job.state == State.DONE, job.error
    asked = [
        r.path
        for r in caplog.records
        if getattr(r, "path", "").startswith("/v3/user-inv") and "order=ASC" in r.path
    ]
    assert len(asked) == 2  # the count, then the one page
    assert not [path for path in asked if "include" in path]
    rows = csv_rows(download(sim_client, job)[1])
    assert [r["Invitation ID"] for r in rows] == [i["id"] for i in reversed(invitations)]


def test_my_activity_exports_my_entries_with_days_in_my_time_zone(client, user):
    other = get_user_model().objects.create_user("someone-else", password="x" * 12)
    Preferences.objects.create(user=user, timezone="Pacific/Auckland")  # UTC+13 in January

    def entry(who, action, when, **fields):
        made = ActivityEntry.objects.create(
            user=who, username=who.get_username(), action=action, **fields
        )
        ActivityEntry.objects.filter(pk=made.pk).update(created_at=when)

    entry(user, "device.update", datetime(2026, 1, 9, 10, 30, tzinfo=UTC), target="dev A")
    # 2026-01-09 12:30 UTC is already 10 January in Auckland: outside "until 9 January".
    entry(user, "device.note", datetime(2026, 1, 9, 12, 30, tzinfo=UTC), target="dev B")
    entry(other, "device.update", datetime(2026, 1, 9, 10, 0, tzinfo=UTC), target="not mine")
    ActivityEntry.objects.create(
        user=None, username=user.get_username(), action="signin", result="failed"
    )
    client.force_login(user)
    link = export_link(client, "/activity/?until=2026-01-09")
    assert link.startswith("/exports/activity/?")
    job = export(client, link)
    assert job.state == State.DONE, job.error
    rows = csv_rows(download(client, job)[1])
    assert [r["Target"] for r in rows] == ["dev A"]
    assert rows[0]["Action"] == "Edited a device"
    job = export(client, "/exports/activity/", fmt="jsonl")
    records = jsonl_records(download(client, job)[1])
    targets = {r["target"] for r in records}
    assert {"dev A", "dev B"} <= targets
    assert "not mine" not in targets
    assert "Sign-in failed" in [r["action_words"] for r in records if r["action"] == "signin"]
    assert all(r["username"] == user.get_username() for r in records)


# The lists without an Export link, each with its reason.
NOT_EXPORTED = {
    "jobs/job_list.html": "the jobs themselves: their files are the exports",
    "devices/view_list.html": "saved views: each opens a device list, and that list exports",
}


def test_every_list_names_its_export_or_why_not():
    from pathlib import Path

    from dmportal.exports.sources import SOURCES

    templates = Path(__file__).resolve().parents[2] / "templates"
    missing, unknown = [], []
    for path in sorted(templates.rglob("*.html")):
        name = str(path.relative_to(templates))
        text = path.read_text()
        if name.startswith("core/") or 'core/_listing.html"' not in text:
            continue
        exports = re.findall(r'export="([a-z-]+)"', text)
        if not exports and name not in NOT_EXPORTED:
            missing.append(name)
        unknown += [e for e in exports if e not in SOURCES]
    assert missing == []
    assert unknown == []
