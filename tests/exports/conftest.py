"""An account big enough for exports of several pages, and helpers that read what the API
itself says (the same calls made directly) to compare exports with."""

import csv
import io
import json

import pytest
import requests

from tests.conftest import make_connection, start_simulator, use_simulator

BIG = 2500  # three pages of 1,000


@pytest.fixture(scope="module")
def big_simulator(tmp_path_factory):
    sim = start_simulator(tmp_path_factory, devices=BIG, seed=11)
    yield sim
    sim.stop()


@pytest.fixture
def big(settings, big_simulator):
    use_simulator(settings, big_simulator)
    big_simulator.faults.clear()
    yield big_simulator
    big_simulator.faults.clear()


@pytest.fixture
def big_client(client, user, big):
    make_connection(user, label="Big admin", key=big.keys.admin, host=big.base_url)
    client.force_login(user)
    return client


def walk(sim, path, params=None):
    """Every record of a list, as the API returns it: limit=1000, ascending, cursor by cursor."""
    session = requests.Session()
    session.trust_env = False
    query = {**(params or {}), "limit": 1000, "order": "ASC"}
    records = []
    while True:
        response = session.get(
            sim.base_url + path,
            params=query,
            headers={"Authorization": f"Bearer {sim.keys.admin}"},
            verify=str(sim.ca_cert_path),
            timeout=10,
        )
        response.raise_for_status()
        body = response.json()
        records.extend(body["data"])
        if not body["has_more"]:
            return records
        query["after"] = body["data"][-1]["id"]


def export(client, path, fmt="csv"):
    """Start the export of the list at `path` (its query string included); the job (which the
    test settings' immediate task backend has run by the time the answer comes)."""
    from dmportal.jobs.models import Job

    response = client.post(path, {"format": fmt})
    assert response.status_code == 302, response.content.decode()[:2000]
    return Job.objects.get(pk=int(response["Location"].rstrip("/").rsplit("/", 1)[1]))


def download(client, job):
    response = client.get(f"/jobs/{job.pk}/download/")
    assert response.status_code == 200, response
    return response, b"".join(response.streaming_content)


def csv_rows(data):
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))


def jsonl_records(data):
    return [json.loads(line) for line in data.decode("utf-8").splitlines()]
