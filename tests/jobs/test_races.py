"""Races on a real database, between two threads with their own connections (PostgreSQL:
row locks; SQLite's test database cannot take two writers at once, so these run on the
PostgreSQL profile): two workers claiming one job, a cancel against a finishing run, and
the same start form sent twice at the same moment."""

import threading

import pytest
from django.db import connection as db
from django.db import connections

from dmportal.jobs import kinds
from dmportal.jobs.kinds import JobKind
from dmportal.jobs.models import Job, State
from dmportal.jobs.runner import run_job
from dmportal.jobs.services import job_cancel, job_start, start_key_new

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        db.vendor != "postgresql", reason="two writers at once need PostgreSQL (its profile)"
    ),
]

GATE = threading.Barrier(2, timeout=20)
RAN = []


def slow(run):
    RAN.append(run.token)
    run.progress(done=1, total=1, step="Step 1")
    return {"summary": "ran"}


KIND = JobKind(name="test.race", run=slow, label="Race", uses_api=False)


@pytest.fixture(autouse=True)
def race_kind(settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    kinds.register(KIND)
    RAN.clear()
    yield
    kinds.KINDS.pop(KIND.name, None)


def together(target, *args):
    """target(*args) in two threads released at the same moment; their results."""
    results = [None, None]

    def one(index):
        try:
            GATE.wait()
            results[index] = target(*args)
        except Exception as exc:  # reported by the test
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=one, args=(i,), name=f"racer-{i}") for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_two_workers_claiming_one_job_run_it_once(user):
    job = Job.objects.create(user=user, kind=KIND.name, title="Race", params={})
    results = together(run_job, job.pk)
    assert sorted(results, key=str) == [None, State.DONE]
    assert len(RAN) == 1
    assert Job.objects.get(pk=job.pk).runs == 1


def test_a_cancel_racing_the_claim_of_a_queued_job_wins_or_loses_whole(user):
    for _ in range(5):
        job = Job.objects.create(user=user, kind=KIND.name, title="Race", params={})
        RAN.clear()

        def cancel_or_run(job=job):
            if threading.current_thread().name.endswith("0"):
                return job_cancel(job=job)
            return run_job(job.pk)

        together(cancel_or_run)
        job.refresh_from_db()
        if RAN:  # the worker claimed it first: the cancel was asked of a running job
            assert job.state in (State.DONE, State.CANCELLED)
            assert job.runs == 1
        else:  # cancelled while queued: never run
            assert (job.state, job.runs) == (State.CANCELLED, 0)


class Request:
    def __init__(self, user):
        self.user = user
        self.request_id = "r" * 32
        self.META = {"REMOTE_ADDR": "127.0.0.1"}


def test_the_same_start_form_sent_twice_at_once_starts_one_job(user):
    key = start_key_new()

    def start():
        return job_start(
            request=Request(user),
            connection=None,
            kind=KIND.name,
            title="Race",
            params={},
            start_key=key,
        )

    first, second = together(start)
    assert not isinstance(first, Exception), first
    assert not isinstance(second, Exception), second
    assert first.pk == second.pk
    assert sorted([first.started_before, second.started_before]) == [False, True]
    assert Job.objects.filter(user=user).count() == 1
