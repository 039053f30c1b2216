"""The sentinel key is in no export file, job row, task-queue row or log record, when a real
db_worker (django-tasks-db's, run here in the test's process) runs the export."""

import io
import logging
import signal

import pytest
from django.core.management import call_command

from dmportal.jobs.models import Job, State
from tests.accounts.test_key_never_leaks import database_text
from tests.conftest import API, SENTINEL_KEY, device, envelope, error_body

from .conftest import download

pytestmark = pytest.mark.django_db

DB_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}


@pytest.fixture
def queue(settings, monkeypatch):
    """The database task backend, and a worker run to the end of the queue (`--batch`).

    The worker's loop closes the database connections it finds in a transaction between two
    tasks, as a long-lived process should; here the connection is the test's own, inside the
    test's transaction (on PostgreSQL closing it would end the test), so that step is off."""
    from django_tasks_db.management.commands import db_worker

    monkeypatch.setattr(db_worker, "close_old_connections", lambda: None)
    settings.TASKS = DB_TASKS
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT)}

    def work():
        out = io.StringIO()
        try:
            call_command(
                "db_worker", "--batch", "--no-startup-delay", "--no-reload", stdout=out, stderr=out
            )
        finally:
            for number, handler in handlers.items():
                signal.signal(number, handler)
        return out.getvalue()

    return work


def test_a_worker_runs_an_export_and_no_key_is_anywhere(signed_in, api, queue, caplog, capsys):
    from django_tasks_db.models import DBTaskResult

    caplog.set_level(logging.DEBUG)
    devices = [device(n) for n in range(1, 4)]
    api.get(f"{API}/v3/devices/", json=envelope(devices, total=3))
    assert signed_in.get("/exports/devices/").status_code == 200
    response = signed_in.post("/exports/devices/", {"format": "jsonl"})
    job = Job.objects.get()
    assert response["Location"] == f"/jobs/{job.pk}/"
    assert job.state == State.QUEUED  # nothing runs it until a worker does
    task = DBTaskResult.objects.get()
    assert task.args_kwargs == {"args": [job.pk], "kwargs": {}}
    queue()
    job.refresh_from_db()
    assert job.state == State.DONE, job.error
    task.refresh_from_db()
    assert task.status == "SUCCESSFUL"
    assert task.traceback == ""
    _, data = download(signed_in, job)
    assert b"Sensor 1" in data
    assert SENTINEL_KEY.encode() not in data
    assert SENTINEL_KEY not in database_text()
    assert SENTINEL_KEY not in caplog.text
    captured = capsys.readouterr()
    assert SENTINEL_KEY not in captured.out + captured.err
    for call in api.calls:
        assert call.request.headers["Authorization"] == f"Bearer {SENTINEL_KEY}"
        assert SENTINEL_KEY not in call.request.url


def test_a_rejected_key_ends_the_job_and_leaves_no_key_in_its_records(
    signed_in, api, queue, caplog
):
    from django_tasks_db.models import DBTaskResult

    caplog.set_level(logging.DEBUG)
    api.get(f"{API}/v3/devices/", status=401, json=error_body(401, "invalid_token"))
    signed_in.post("/exports/devices/", {"format": "csv"})
    queue()
    job = Job.objects.get()
    assert job.state == State.FAILED
    assert job.error.startswith("Stopped at page 1")
    assert "did not accept the key" in job.error
    assert DBTaskResult.objects.get().traceback == ""
    assert SENTINEL_KEY not in database_text()
    assert SENTINEL_KEY not in caplog.text
