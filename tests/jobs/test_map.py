"""`Run.map`: a kind that acts on many items (issue 18's bulk actions) through the job layer
as it is: a frozen plan of ids on the job, calls in a few threads at once, each item's outcome
recorded with the progress in the run's own thread, cancel between items, a stop of its own
after failures in a row, and resume from an exact checkpoint."""

import threading

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext

from dmportal.jobs import kinds, runner
from dmportal.jobs.kinds import JobFailed, JobKind
from dmportal.jobs.models import Job, JobItem, State
from dmportal.jobs.runner import run_job
from dmportal.jobs.services import job_cancel, job_resume

pytestmark = pytest.mark.django_db

WORKERS = 4
BULK = {}  # what the test's work does: {"work": fn(id) -> detail, "after": fn(run, n)}


class Gauge:
    """How many calls run at once, at most (threads only: no database)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.now = self.most = self.calls = 0

    def __enter__(self):
        with self.lock:
            self.now += 1
            self.calls += 1
            self.most = max(self.most, self.now)

    def __exit__(self, *exc):
        with self.lock:
            self.now -= 1


def bulk(run):
    """A bulk action as issue 18 builds it: the plan (ids) is in params, the checkpoint is
    the number of the next item, failures in a row stop it."""
    plan = run.job.params["ids"]
    start = run.job.checkpoint.get("next", 0)
    failures_in_a_row = 0
    results = run.map(BULK["work"], plan[start:], workers=WORKERS)
    for number, (device_id, detail, error) in enumerate(results, start=start + 1):
        outcome = "failed" if error is not None else "done"
        failures_in_a_row = failures_in_a_row + 1 if error is not None else 0
        run.progress(
            done=number,
            total=len(plan),
            step=f"Device {number} of {len(plan)}",
            checkpoint={"next": number},
            items=[
                {
                    "key": device_id,
                    "outcome": outcome,
                    "detail": str(error or detail),
                    "position": number,
                }
            ],
        )
        if "after" in BULK:
            BULK["after"](run, number)
        if failures_in_a_row == 3:
            run.hold()
    if failures_in_a_row >= 3:
        raise JobFailed("Stopped after 3 failures in a row.")
    return {"summary": f"{len(plan)} devices"}


KIND = JobKind(name="test.bulk", run=bulk, label="Bulk")


@pytest.fixture(autouse=True)
def bulk_kind():
    kinds.register(KIND)
    BULK.clear()
    yield
    kinds.KINDS.pop(KIND.name, None)


def plan(n):
    return [f"{i:032x}" for i in range(1, n + 1)]


def new_bulk(user, connection, ids, **fields):
    return Job.objects.create(
        user=user,
        connection=connection,
        connection_label=connection.label,
        kind=KIND.name,
        title=f"Bulk on {len(ids)} devices",
        params={"ids": ids},
        total=len(ids),
        **fields,
    )


def outcomes(job):
    return list(JobItem.objects.filter(job=job).values_list("position", "key", "outcome"))


def test_items_run_a_few_at_a_time_and_every_outcome_is_recorded_in_order(user, connection):
    gauge = Gauge()
    both = threading.Barrier(2, timeout=10)

    def work(device_id):
        with gauge:
            if device_id in plan(2):  # the first two meet: they really run at once
                both.wait()
            return f"touched by {threading.current_thread().name}"

    BULK["work"] = work
    ids = plan(40)
    job = new_bulk(user, connection, ids)
    assert run_job(job.pk) == State.DONE
    job.refresh_from_db()
    assert (job.done, job.total, job.checkpoint) == (40, 40, {"next": 40})
    assert outcomes(job) == [(n, ids[n - 1], "done") for n in range(1, 41)]
    assert 2 <= gauge.most <= WORKERS
    assert gauge.calls == 40
    details = set(JobItem.objects.filter(job=job).values_list("detail", flat=True))
    assert all(d.startswith("touched by job-") for d in details)  # in the pool's threads


def test_a_cancel_starts_no_more_items_and_the_ones_under_way_are_still_recorded(user, connection):
    gauge = Gauge()

    def work(device_id):
        with gauge:
            return "ok"

    def cancel_at_5(run, number):
        if number == 5:
            job_cancel(job=run.job)  # from the Jobs page, while it runs

    BULK.update(work=work, after=cancel_at_5)
    job = new_bulk(user, connection, plan(100))
    assert run_job(job.pk) == State.CANCELLED
    job.refresh_from_db()
    recorded = outcomes(job)
    # Started before the cancel was noticed: at most two windows of calls; each one is
    # recorded (the API was called for it), in order, as a prefix of the plan.
    assert 5 <= len(recorded) == gauge.calls <= 5 + 2 * WORKERS
    assert [p for p, _, _ in recorded] == list(range(1, len(recorded) + 1))
    assert job.done == len(recorded)
    assert job.checkpoint == {"next": len(recorded)}


def test_the_kinds_own_stop_after_failures_in_a_row_fails_the_job_with_what_was_done(
    user, connection
):
    def work(device_id):
        if int(device_id, 16) >= 7:
            raise RuntimeError("the API refused it")
        return "ok"

    BULK["work"] = work
    job = new_bulk(user, connection, plan(100))
    assert run_job(job.pk) == State.FAILED
    job.refresh_from_db()
    assert job.error == "Stopped after 3 failures in a row."
    recorded = outcomes(job)
    assert [o for _, _, o in recorded[:6]] == ["done"] * 6
    assert {o for _, _, o in recorded[6:]} == {"failed"}
    assert len(recorded) <= 9 + 2 * WORKERS
    assert JobItem.objects.filter(job=job, outcome="failed").first().detail == (
        "the API refused it"
    )
    assert job.can_resume


def test_a_stopping_worker_hands_the_job_back_and_the_next_run_goes_on_where_it_stopped(
    user, connection, monkeypatch, settings
):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    calls = []

    def work(device_id):
        calls.append(device_id)
        return "ok"

    stopping = {"now": False}
    monkeypatch.setattr(runner, "worker_stopping", lambda: stopping["now"])
    BULK.update(work=work, after=lambda run, n: stopping.update(now=n == 10))
    ids = plan(50)
    job = new_bulk(user, connection, ids)
    assert run_job(job.pk) == "shutdown"
    job.refresh_from_db()
    first = len(calls)
    assert job.state == State.QUEUED
    assert job.checkpoint == {"next": first}
    assert first >= 10
    stopping["now"] = False
    BULK.pop("after")
    assert run_job(job.pk) == State.DONE
    assert sorted(calls) == ids  # none twice, none missed
    assert outcomes(Job.objects.get(pk=job.pk)) == [(n, ids[n - 1], "done") for n in range(1, 51)]


def test_the_lease_is_renewed_while_the_calls_under_way_take_long(user, connection, monkeypatch):
    monkeypatch.setattr(runner, "HEARTBEAT_SECONDS", 0.01)
    renewed = threading.Event()
    progress = runner.Run.progress

    def watch(run, **changes):
        if not changes:
            renewed.set()  # a renewal of the lease alone
        return progress(run, **changes)

    monkeypatch.setattr(runner.Run, "progress", watch)
    BULK["work"] = lambda device_id: renewed.wait(timeout=10) and "ok"
    job = new_bulk(user, connection, plan(3))
    assert run_job(job.pk) == State.DONE
    assert renewed.is_set()
    assert {o for _, _, o in outcomes(job)} == {"done"}


def test_a_run_that_lost_the_job_records_nothing_more(user, connection):
    def take_over(run, number):
        if number == 2:
            Job.objects.filter(pk=run.job.pk).update(run_token="another run")

    BULK.update(work=lambda device_id: "ok", after=take_over)
    job = new_bulk(user, connection, plan(30))
    assert run_job(job.pk) == "lost"
    assert len(outcomes(job)) == 2
    run = runner.Run(job, "stale token")
    with pytest.raises(runner.Stop):
        run.item("x", "done")  # a run without the job writes no outcome either
    assert len(outcomes(job)) == 2


def test_a_retry_from_the_start_forgets_the_last_runs_outcomes(user, connection, settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    BULK.update(
        work=lambda device_id: "ok",
        after=lambda run, n: n == 3 and job_cancel(job=run.job),
    )
    job = new_bulk(user, connection, plan(20))
    assert run_job(job.pk) == State.CANCELLED
    assert outcomes(job)
    assert job_resume(job=Job.objects.get(pk=job.pk))  # Retry: starts over
    assert not outcomes(job)
    BULK.pop("after")
    assert run_job(job.pk) == State.DONE
    assert len(outcomes(job)) == 20


def test_a_plan_of_ten_thousand_ids_is_not_read_by_the_polled_pages(signed_in, user, connection):
    job = new_bulk(user, connection, plan(10_000), state=State.QUEUED)
    for path in ("/jobs/", f"/jobs/{job.pk}/"):
        with CaptureQueriesContext(db) as queries:
            response = signed_in.get(path, headers={"HX-Request": "true"})
        assert response.status_code == 200
        job_queries = [q["sql"] for q in queries if 'FROM "jobs_job"' in q["sql"]]
        assert job_queries
        assert not any('"jobs_job"."params"' in sql for sql in job_queries), path
