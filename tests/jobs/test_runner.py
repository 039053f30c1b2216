"""jobs/runner.py: claiming, progress as the lease, cancel, a lost lease, a dying worker,
a stopping worker, and how a job ends (done, failed with request ids, connection gone, key
rejected), each with its activity entry."""

from datetime import timedelta

import pytest
from django.utils import timezone
from freezegun import freeze_time

from dmportal.accounts.models import ActivityEntry
from dmportal.jobs import runner
from dmportal.jobs.models import Job, JobItem, State
from dmportal.jobs.runner import run_job
from dmportal.jobs.services import job_cancel, job_resume
from tests.conftest import API, error_body

from .conftest import DISCARDED, new_job

pytestmark = pytest.mark.django_db


def test_a_queued_job_runs_to_the_end_with_progress_items_and_an_activity_entry(user, connection):
    job = new_job(user, connection, n=3)
    assert run_job(job.pk) == State.DONE
    job.refresh_from_db()
    assert (job.state, job.done, job.total, job.step) == (State.DONE, 3, 3, "Done")
    assert job.result == {"summary": "Counted to 3"}
    assert job.runs == 1
    assert job.started_at
    assert job.finished_at
    assert job.run_token == ""
    assert [i.key for i in JobItem.objects.filter(job=job)] == ["item-1", "item-2", "item-3"]
    entry = ActivityEntry.objects.get(action="job.test.count")
    assert (entry.user, entry.result, entry.target) == (user, "ok", "Count to 3")
    assert entry.detail == "Counted to 3"
    assert entry.connection_label == connection.label


def test_a_job_that_is_not_queued_is_not_run_again(user, connection):
    job = new_job(user, connection, state=State.DONE)
    assert run_job(job.pk) is None
    job = new_job(user, connection, state=State.QUEUED, cancel_requested=True)
    assert run_job(job.pk) is None
    assert not ActivityEntry.objects.exists()


def test_a_failure_keeps_the_checkpoint_and_the_request_ids_and_resume_goes_on(
    user, connection, counting_kind
):
    counting_kind[3] = "fail"
    job = new_job(user, connection, n=4)
    assert run_job(job.pk) == State.FAILED
    job.refresh_from_db()
    assert (job.error, job.error_request_ids) == ("Failed at step 3.", ["up-1"])
    assert job.checkpoint == {"at": 2}
    assert job.can_resume
    assert not job.can_retry
    assert ActivityEntry.objects.get().result == "failed"
    counting_kind.clear()
    assert job_resume(job=job)  # the immediate backend runs it here
    job.refresh_from_db()
    assert job.state == State.DONE
    assert job.runs == 2
    keys = list(JobItem.objects.filter(job=job).values_list("key", flat=True))
    assert keys == ["item-1", "item-2", "item-3", "item-4"]  # 1 and 2 not done twice


def test_cancelling_a_running_job_stops_it_at_its_next_step(user, connection, counting_kind):
    # Asked during step 2: step 2's outcome is still recorded (it was done), then it stops.
    counting_kind[2] = lambda run: Job.objects.filter(pk=run.job.pk).update(cancel_requested=True)
    job = new_job(user, connection, n=5)
    assert run_job(job.pk) == State.CANCELLED
    job.refresh_from_db()
    assert (job.state, job.done, job.step) == (State.CANCELLED, 2, "Cancelled")
    assert [i.key for i in JobItem.objects.filter(job=job)] == ["item-1", "item-2"]
    entry = ActivityEntry.objects.get()
    assert (entry.result, entry.detail) == ("cancelled", "cancelled (2 of 5 done)")
    assert [job.pk] == DISCARDED


def test_a_run_that_lost_its_lease_stops_without_writing(user, connection, counting_kind):
    counting_kind[2] = lambda run: Job.objects.filter(pk=run.job.pk).update(run_token="other")
    job = new_job(user, connection, n=5)
    assert run_job(job.pk) == "lost"
    job.refresh_from_db()
    assert (job.state, job.done, job.run_token) == (State.RUNNING, 1, "other")
    assert not ActivityEntry.objects.exists()


def test_a_worker_dying_mid_job_leaves_it_resumable_once_its_lease_runs_out(
    user, connection, counting_kind
):
    counting_kind[3] = "die"
    job = new_job(user, connection, n=4)
    with pytest.raises(SystemExit):
        run_job(job.pk)
    job.refresh_from_db()
    assert job.state == State.RUNNING
    assert job.checkpoint == {"at": 2}
    assert not job.stale
    assert not job.can_resume
    assert not job_resume(job=job)
    with freeze_time(timezone.now() + timedelta(seconds=61)):
        job.refresh_from_db()
        assert job.stale
        assert job.can_resume
        assert not job.active
        assert job_resume(job=job)
    job.refresh_from_db()
    assert (job.state, job.done) == (State.DONE, 4)
    assert JobItem.objects.filter(job=job).count() == 4


def test_a_stopping_worker_hands_the_job_back_to_the_queue(
    user, connection, counting_kind, monkeypatch, settings
):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    monkeypatch.setattr(runner, "worker_stopping", lambda: True)
    job = new_job(user, connection, n=3)
    assert run_job(job.pk) == "shutdown"
    job.refresh_from_db()
    assert (job.state, job.done, job.checkpoint, job.run_token) == (State.QUEUED, 1, {"at": 1}, "")
    assert job.task_id  # queued again, for the next worker
    monkeypatch.setattr(runner, "worker_stopping", lambda: False)
    assert run_job(job.pk) == State.DONE


def test_the_worker_stopping_check_reads_the_db_workers_own_flag(monkeypatch):
    class Worker:
        running = True

        def shutdown(self, signum, frame):
            pass

    worker = Worker()
    monkeypatch.setattr(runner.signal, "getsignal", lambda signum: worker.shutdown)
    assert not runner.worker_stopping()
    worker.running = False
    assert runner.worker_stopping()
    monkeypatch.setattr(runner.signal, "getsignal", lambda signum: runner.signal.SIG_DFL)
    assert not runner.worker_stopping()


def test_a_job_whose_connection_was_removed_ends_saying_so(user, connection):
    job = new_job(user, connection)
    connection.delete()
    assert run_job(job.pk) == State.FAILED
    job.refresh_from_db()
    assert "“Acme production” was removed" in job.error


def test_a_rejected_key_ends_the_job_and_marks_the_connection(user, connection, counting_kind, api):
    api.get(f"{API}/v3/accounts/me", status=401, json=error_body(401, "invalid_token"))
    counting_kind[2] = "call"
    job = new_job(user, connection, n=3)
    assert run_job(job.pk) == State.FAILED
    job.refresh_from_db()
    assert "did not accept the key" in job.error
    assert "Acme production" in job.error
    assert job.error_request_ids == ["up-req-1"]
    connection.refresh_from_db()
    assert connection.key_rejected_at is not None
    assert ActivityEntry.objects.get().upstream_request_id == "up-req-1"


def test_an_unexpected_error_is_logged_and_ends_the_job_in_words(
    user, connection, counting_kind, caplog
):
    counting_kind[1] = "boom"
    job = new_job(user, connection)
    assert run_job(job.pk) == State.FAILED
    job.refresh_from_db()
    assert job.error.startswith("An unexpected error stopped this job")
    assert "a bug" not in job.error
    assert any("stopped on an unexpected error" in r.getMessage() for r in caplog.records)


def test_a_job_of_an_unknown_kind_fails(user, connection):
    job = new_job(user, connection, kind="gone.kind")
    assert run_job(job.pk) == State.FAILED
    assert "cannot run “gone.kind” jobs" in Job.objects.get(pk=job.pk).error


def test_a_long_wait_renews_the_lease_and_notices_a_cancel(user, connection):
    job = new_job(user, connection, state=State.RUNNING, run_token="t")
    naps = []

    def nap(seconds):
        naps.append(seconds)
        if len(naps) == 3:
            Job.objects.filter(pk=job.pk).update(cancel_requested=True)

    run = runner.Run(job, "t", sleep=nap)
    with pytest.raises(runner.Stop) as stopped:
        run.sleep(30, step="Waiting")
    assert stopped.value.reason == "cancelled"
    assert naps == [2.0, 2.0, 2.0]


def test_a_cancel_that_comes_as_the_job_finishes_leaves_it_done_and_consistent(
    user, connection, monkeypatch
):
    # Asked after the last step, while the kind returns: the work is complete, so it ends done
    # (one outcome, its result and files kept, one activity entry), never half cancelled.
    execute = runner.execute

    def execute_then_cancel(run):
        outcome = execute(run)
        assert job_cancel(job=run.job)  # "stops at its next step": there is none
        return outcome

    monkeypatch.setattr(runner, "execute", execute_then_cancel)
    job = new_job(user, connection, n=2)
    assert run_job(job.pk) == State.DONE
    job.refresh_from_db()
    assert (job.state, job.done, job.step, job.result) == (
        State.DONE,
        2,
        "Done",
        {"summary": "Counted to 2"},
    )
    assert not job.can_cancel
    assert not job.can_resume
    assert DISCARDED == []
    assert ActivityEntry.objects.get().result == "ok"


def test_two_runs_of_one_job_one_claims_it(user, connection):
    job = new_job(user, connection, n=1)
    assert run_job(job.pk) == State.DONE
    assert run_job(job.pk) is None  # the task delivered twice: the second finds it taken
    assert Job.objects.get(pk=job.pk).runs == 1


def test_a_job_leaves_part_of_the_users_rate_limit_to_their_pages(user, connection, settings):
    from django.core.cache import caches

    from dmportal.core.ratelimit import rate_wait

    caches["default"].clear()
    settings.DMPORTAL_USER_RATE_LIMIT = (10, 60)
    job = new_job(user, connection, state=State.RUNNING, run_token="t")
    naps = []
    run = runner.Run(job, "t", sleep=naps.append)
    for _ in range(8):  # 80 % of the limit: the job goes on at once
        run.pace()
    assert naps == []
    assert rate_wait(user.pk) == 0  # a page of the user's (the 9th call) still gets through
    assert rate_wait(user.pk, share=runner.JOB_RATE_SHARE) > 0  # the job itself waits
    caches["default"].clear()


def test_a_cancelled_job_whose_files_cannot_be_removed_still_ends_cancelled(
    user, connection, counting_kind, caplog
):
    from dataclasses import replace

    from dmportal.jobs import kinds

    def broken_discard(job):
        raise OSError("read-only file system")

    kinds.KINDS["test.count"] = replace(kinds.KINDS["test.count"], discard=broken_discard)
    counting_kind[1] = lambda run: Job.objects.filter(pk=run.job.pk).update(cancel_requested=True)
    job = new_job(user, connection, n=3)
    assert run_job(job.pk) == State.CANCELLED
    assert ActivityEntry.objects.get().result == "cancelled"
    assert any("could not all be removed" in r.getMessage() for r in caplog.records)
