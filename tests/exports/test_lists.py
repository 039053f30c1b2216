"""Every list with a filter form exports exactly what its URL shows, every page, in its
order, against the simulator: the row count is the list's total and the rows are the API's
own (the same calls made directly)."""

import pytest

from dmportal.jobs.models import State
from dmportal.support.models import ApiCall

from .conftest import csv_rows, download, export, jsonl_records, walk

pytestmark = pytest.mark.django_db


def count_on_the_page(client, path):
    response = client.get(path)
    assert response.status_code == 200, response.content.decode()[:2000]
    html = response.content.decode()
    return int(html.split('data-total="', 1)[1].split('"', 1)[0])


@pytest.mark.parametrize(
    ("query", "params"),
    [
        ("state__eq=registered", {"state__eq": "registered"}),
        ("", {}),
        ("order=ASC&state__in=registered,bootstrapped", {"state__in": "registered,bootstrapped"}),
    ],
)
def test_the_device_list_exports_every_page_in_the_lists_order(big_client, big, query, params):
    path = f"/exports/devices/?{query}"
    total = count_on_the_page(big_client, path)
    job = export(big_client, path)
    assert job.state == State.DONE, job.error
    expected = walk(big, "/v3/devices/", params)
    if "order=ASC" not in query:
        expected.reverse()  # the list is newest first
    assert total == len(expected) == job.done == job.total
    _response, data = download(big_client, job)
    rows = csv_rows(data)
    assert [r["Device ID"] for r in rows] == [d["id"] for d in expected]
    assert rows[0]["Name"] == expected[0]["name"]
    assert job.result["pages"] == max(1, -(-len(expected) // 1000))


def test_json_lines_hold_each_record_as_the_api_returned_it(big_client, big):
    job = export(big_client, "/exports/devices/?state__eq=deregistered", fmt="jsonl")
    _, data = download(big_client, job)
    expected = walk(big, "/v3/devices/", {"state__eq": "deregistered"})[::-1]
    assert jsonl_records(data) == expected  # every field, unknown ones too, as sent
    assert job.download_name.endswith(".jsonl")


def test_device_groups_a_groups_devices_and_a_devices_events(sim_client, sim):
    groups = walk(sim, "/v3/device-groups/")
    job = export(sim_client, "/exports/device-groups/")
    rows = csv_rows(download(sim_client, job)[1])
    assert [r["Group ID"] for r in rows] == [g["id"] for g in reversed(groups)]
    group = max(groups, key=lambda g: g.get("devices_count") or 0)
    members = walk(sim, f"/v3/device-groups/{group['id']}/devices/")
    assert members
    job = export(sim_client, f"/exports/group-devices/{group['id']}/")
    rows = csv_rows(download(sim_client, job)[1])
    assert [r["Device ID"] for r in rows] == [d["id"] for d in reversed(members)]
    assert job.download_name.startswith(f"group-{group['id']}-devices-")
    device_id = walk(sim, "/v3/device-events/")[0]["device_id"]
    events = walk(sim, "/v3/device-events/", {"device_id__eq": device_id})
    job = export(sim_client, f"/exports/device-events/{device_id}/")
    rows = csv_rows(download(sim_client, job)[1])
    assert [r["Event ID"] for r in rows] == [e["id"] for e in reversed(events)]
    assert job.total == len(events)


def test_users_and_api_keys_with_group_names_and_never_a_key(sim_client, sim):
    users = walk(sim, "/v3/users", {"status__eq": "ACTIVE"})
    job = export(sim_client, "/exports/users/?status__in=ACTIVE")
    rows = csv_rows(download(sim_client, job)[1])
    assert [r["User ID"] for r in rows] == [u["id"] for u in reversed(users)]
    groups = {g["id"]: g["name"] for g in walk(sim, "/v3/policy-groups")}
    first = next(u for u in reversed(users) if u.get("groups"))
    row = next(r for r in rows if r["User ID"] == first["id"])
    assert row["Policy groups"] == "; ".join(groups[g] for g in first["groups"])
    keys = walk(sim, "/v3/api-keys")
    for fmt in ("csv", "jsonl"):
        job = export(sim_client, "/exports/api-keys/", fmt=fmt)
        assert job.total == len(keys)
        _, data = download(sim_client, job)
        assert b"ak_" not in data  # not even a key's public part
    records = jsonl_records(data)
    assert [r["id"] for r in records] == [k["id"] for k in reversed(keys)]
    assert all("key" not in r for r in records)


def test_an_api_key_list_found_by_a_key_is_not_exported(sim_client, sim):
    public = walk(sim, "/v3/api-keys")[0]["key"]
    response = sim_client.get(f"/exports/api-keys/?key__eq={public}")
    assert response.status_code == 400
    assert "without the Key filter" in response.content.decode()
    assert (
        sim_client.post(f"/exports/api-keys/?key__eq={public}", {"format": "csv"}).status_code
        == 400
    )


def test_the_recent_api_calls_export_their_rows_newest_first(sim_client, sim_user):
    ApiCall.objects.bulk_create(
        ApiCall(
            user=sim_user,
            method="GET",
            path=f"/v3/devices/?n={n}",
            status=200 if n % 3 else 503,
            error="" if n % 3 else "ServerError",
            request_id=f"r{n}",
            upstream_request_id=f"u{n}",
        )
        for n in range(1, 1201)
    )
    job = export(sim_client, "/exports/api-calls/?status=errors")
    assert job.state == State.DONE, job.error
    rows = csv_rows(download(sim_client, job)[1])
    expected = [f"r{n}" for n in range(1200, 0, -1) if n % 3 == 0]
    assert [r["dmportal request id"] for r in rows] == expected
    assert job.total == len(expected) == 400
    assert rows[0]["Call"] == "/v3/devices/?n=1200"
    job = export(sim_client, "/exports/api-calls/", fmt="jsonl")
    records = jsonl_records(download(sim_client, job)[1])
    assert len(records) == 1200
    assert records[0]["request_id"] == "r1200"
    assert records[0]["username"] == sim_user.get_username()
