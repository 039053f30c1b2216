"""The export job against the simulator: an injected failure and a resume without a
duplicate, devices created while it runs, neutralised formulas, pacing (the user's rate limit,
the API's 429), a retried 503, cancel, the download and the activity log."""

import pytest
import requests

from dmportal.accounts.models import ActivityEntry
from dmportal.exports import engine
from dmportal.jobs.models import Job, State

from .conftest import csv_rows, download, export, walk

pytestmark = pytest.mark.django_db


def create_device(sim, **fields):
    response = requests.post(
        f"{sim.base_url}/v3/devices/",
        json=fields,
        headers={"Authorization": f"Bearer {sim.keys.admin}"},
        verify=str(sim.ca_cert_path),
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return response.json()


def exported_ids(client, job, column="Device ID"):
    return [row[column] for row in csv_rows(download(client, job)[1])]


def test_a_persistent_failure_stops_at_page_n_and_resume_goes_on_without_duplicates(
    big_client, big
):
    # Page 2 of the walk: the client's three attempts all get a 503.
    big.faults.add("503", path_prefix="/v3/devices/", method="GET", at_call=2, count=3)
    job = export(big_client, "/exports/devices/")
    assert job.state == State.FAILED
    assert job.error.startswith("Stopped at page 2 of 3 after 1,000 rows:")
    assert "Resume goes on from page 2." in job.error
    assert job.error_request_ids  # the failed call's upstream request id
    assert job.checkpoint["pages"] == 1
    assert job.can_resume
    page = big_client.get(f"/jobs/{job.pk}/").content.decode()
    assert "Stopped at page 2" in page
    assert job.error_request_ids[0] in page
    assert "data-resume" in page
    entry = ActivityEntry.objects.get(action="job.export")
    assert entry.result == "failed"
    big.faults.clear()
    big_client.post(f"/jobs/{job.pk}/resume/")
    job.refresh_from_db()
    assert job.state == State.DONE, job.error
    ids = exported_ids(big_client, job)
    assert len(ids) == len(set(ids)) == 2500
    assert ids == [d["id"] for d in reversed(walk(big, "/v3/devices/"))]
    assert job.runs == 2


@pytest.fixture
def growing(tmp_path_factory, settings, client, user):
    """A simulator of the test's own (1,500 devices: two pages), whose fleet the test grows."""
    from tests.conftest import make_connection, start_simulator, use_simulator

    sim = start_simulator(tmp_path_factory, devices=1500, seed=5)
    use_simulator(settings, sim)
    make_connection(user, label="Growing", key=sim.keys.admin, host=sim.base_url)
    client.force_login(user)
    yield sim, client
    sim.stop()


def test_devices_created_during_the_export_never_duplicate_or_hide_existing_ones(
    growing, monkeypatch
):
    big, big_client = growing
    before = [d["id"] for d in walk(big, "/v3/devices/")]
    created = []
    encode = engine.Walk.encode

    def encode_then_create(walk_, items):
        if len(created) < 5:  # after each of the first pages: new devices on the account
            created.append(create_device(big, name=f"Created during export {len(created)}")["id"])
        return encode(walk_, items)

    monkeypatch.setattr(engine.Walk, "encode", encode_then_create)
    job = export(big_client, "/exports/devices/?order=ASC")
    ids = exported_ids(big_client, job)
    assert len(ids) == len(set(ids))  # no duplicate
    assert ids[: len(before)] == before  # every device that existed, once, in order
    assert set(ids[len(before) :]) <= set(created)  # and only new ones after them
    assert job.done == len(ids)
    assert job.total >= job.done


def test_a_device_named_like_a_formula_is_neutralised(fresh_simulator, settings, client, user):
    from tests.conftest import make_connection, use_simulator

    use_simulator(settings, fresh_simulator)
    make_connection(
        user, label="Fresh", key=fresh_simulator.keys.admin, host=fresh_simulator.base_url
    )
    client.force_login(user)
    device = create_device(fresh_simulator, name="=cmd|' /C calc'!A0", serial_number="@SN")
    job = export(client, f"/exports/devices/?id__in={device['id']}")
    rows = csv_rows(download(client, job)[1])
    assert [(r["Name"], r["Serial number"]) for r in rows] == [("'=cmd|' /C calc'!A0", "'@SN")]


def test_the_export_paces_itself_on_the_users_rate_limit(big_client, big, monkeypatch):
    from dmportal.jobs import runner

    waits = iter([0, 0, 40, 0, 0])  # over the limit before page 2: wait 40 s, then go on
    monkeypatch.setattr(runner, "rate_wait", lambda user_id, **kwargs: next(waits, 0))
    naps, steps = [], []
    monkeypatch.setattr(runner, "nap", naps.append)
    progress = runner.Run.progress

    def watch(run, **kwargs):
        steps.append(kwargs.get("step"))
        return progress(run, **kwargs)

    monkeypatch.setattr(runner.Run, "progress", watch)
    job = export(big_client, "/exports/devices/")
    assert job.state == State.DONE, job.error
    assert sum(naps) == pytest.approx(40, abs=0.5)
    assert any(s and "your dmportal rate limit" in s for s in steps)
    assert job.done == 2500


def test_the_apis_429_is_waited_out_and_a_503_is_retried(big_client, big, monkeypatch):
    from dmportal.jobs import runner

    naps = []
    monkeypatch.setattr(runner, "nap", naps.append)
    # Page 2: a 429 asking for 30 s (longer than a page's own retry waits); page 3: one 503.
    big.faults.add("429:30", path_prefix="/v3/devices/", method="GET", at_call=2)
    big.faults.add("503", path_prefix="/v3/devices/", method="GET", at_call=4)
    job = export(big_client, "/exports/devices/")
    assert job.state == State.DONE, job.error
    assert sum(naps) == pytest.approx(30, abs=0.5)
    assert len(set(exported_ids(big_client, job))) == 2500
    assert big.stats()["faults"]


def test_cancelling_a_running_export_stops_it_and_removes_its_parts(big_client, big, monkeypatch):
    storage = engine.export_storage()
    save = engine.Walk.next

    def next_then_cancel(walk_, checkpoint):
        done = save(walk_, checkpoint)
        Job.objects.filter(pk=walk_.job.pk).update(cancel_requested=True)
        return done

    monkeypatch.setattr(engine.Walk, "next", next_then_cancel)
    job = export(big_client, "/exports/devices/")
    assert job.state == State.CANCELLED
    assert job.done == 2000  # the page read when the cancel was noticed is counted
    assert not storage.exists(engine.part_name(job, 1))
    assert not storage.exists(engine.part_name(job, 2))
    assert big_client.get(f"/jobs/{job.pk}/download/").status_code == 302  # nothing to download


def test_the_download_is_an_attachment_no_cache_keeps_and_its_name_says_what_it_is(sim_client, sim):
    job = export(sim_client, "/exports/devices/?state__eq=registered")
    response, data = download(sim_client, job)
    name = job.download_name
    assert name.startswith("devices-state-registered-")
    assert name.endswith("Z.csv")
    assert response["Content-Disposition"] == f'attachment; filename="{name}"'
    assert "no-store" in response["Cache-Control"]
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert len(data) == job.file_size
    assert data.startswith(b"Name,Device ID,State,")
    html = sim_client.get(f"/jobs/{job.pk}/").content.decode()
    assert "data-download" in html
    assert name in html
    engine.export_storage().delete(job.file_name)
    response = sim_client.get(f"/jobs/{job.pk}/download/")
    assert response.status_code == 302  # gone: said on the job's page


def test_each_export_is_in_the_activity_log_with_its_first_and_last_request_ids(big_client, big):
    job = export(big_client, "/exports/devices/")
    entry = ActivityEntry.objects.get(action="job.export")
    first, last = job.result["first_request_id"], job.result["last_request_id"]
    assert first != last
    assert entry.upstream_request_id == first
    assert entry.target == job.title == "Export of devices as CSV"
    assert entry.detail == f"2,500 devices in 3 pages, CSV (first call {first}, last call {last})"
    assert entry.request_id  # the request that started it
    assert entry.connection_label == "Big admin"


def test_the_chosen_columns_are_the_ones_exported(sim_client, sim, monkeypatch):
    from dataclasses import replace

    from dmportal.exports import sources

    chosen = replace(
        sources.SOURCES["devices"], columns_for=lambda request: ("serial_number", "id", "nope")
    )
    monkeypatch.setitem(sources.SOURCES, "devices", chosen)
    job = export(sim_client, "/exports/devices/?state__eq=registered")
    rows = csv_rows(download(sim_client, job)[1])
    assert list(rows[0]) == ["Serial number", "Device ID"]
    assert job.params["columns"] == ["serial_number", "id"]


def test_the_export_page_counts_the_rows_and_refuses_bad_filters(sim_client, sim):
    html = sim_client.get("/exports/devices/?state__eq=registered").content.decode()
    total = len(walk(sim, "/v3/devices/", {"state__eq": "registered"}))
    assert f'data-total="{total}"' in html
    assert "(1 API page of 1,000)" in html
    response = sim_client.get("/exports/devices/?created_at__gte=yesterday")
    assert response.status_code == 400
    assert "not valid" in response.content.decode()
    assert sim_client.get("/exports/nothing/").status_code == 404
    assert sim_client.get(f"/exports/devices/{'a' * 32}/").status_code == 404
    assert sim_client.get("/exports/group-devices/").status_code == 404
    assert sim_client.post("/exports/devices/", {"format": "xls"}).status_code == 200
    assert not Job.objects.exists()


def test_a_download_under_way_is_served_whole_when_cleanup_removes_the_job(sim_client, sim):
    from datetime import timedelta

    from django.utils import timezone

    from dmportal.jobs.services import jobs_cleanup

    job = export(sim_client, "/exports/devices/")
    expected = engine.export_storage().open(job.file_name, "rb").read()
    response = sim_client.get(f"/jobs/{job.pk}/download/")
    assert response.status_code == 200
    chunks = iter(response.streaming_content)
    first = next(chunks)
    # The job expires and is cleaned up while the download is being read.
    Job.objects.filter(pk=job.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert jobs_cleanup()["expired"] == 1
    assert not engine.export_storage().exists(job.file_name)
    assert first + b"".join(chunks) == expected  # read to the end: the client closes it
    assert sim_client.get(f"/jobs/{job.pk}/download/").status_code == 404
