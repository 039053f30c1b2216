"""The Jobs page and a job's page: own jobs only, newest first, polling while something runs,
cancel and resume, expiry; and `manage.py jobs_cleanup`."""

import io
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from dmportal.jobs.models import Job, State
from tests.conftest import make_connection

from .conftest import DISCARDED, new_job

pytestmark = pytest.mark.django_db


@pytest.fixture
def bob_client(client, other_user):
    from django.test import Client

    make_connection(other_user, label="Bob's", key="ak_" + "B0b" * 14)
    bob = Client()
    bob.force_login(other_user)
    return bob


def test_the_jobs_page_lists_only_ones_own_jobs_newest_first(
    signed_in, user, connection, other_user
):
    first = new_job(user, connection, n=1)
    second = new_job(user, connection, n=2, state=State.DONE, done=2, total=2)
    new_job(other_user, None, n=9)
    html = signed_in.get("/jobs/").content.decode()
    assert html.index("Count to 2") < html.index("Count to 1")
    assert "Count to 9" not in html
    assert f'id="job-{first.pk}"' in html
    assert f'id="job-{second.pk}"' in html
    assert 'aria-current="page"' in html
    assert ">Jobs</a>" in html


def test_the_list_polls_while_a_job_runs_and_stops_when_none_does(signed_in, user, connection, api):
    job = new_job(
        user, connection, state=State.RUNNING, heartbeat_at=timezone.now(), done=1, total=4
    )
    html = signed_in.get("/jobs/").content.decode()
    assert 'id="jobs-poll"' in html
    assert 'hx-trigger="every 2s"' in html
    assert 'max="4" value="1"' in html
    assert "1 of 4 (25 %)" in html
    poll = signed_in.get("/jobs/", headers={"HX-Request": "true", "HX-Trigger": "jobs-poll"})
    assert poll.status_code == 200
    assert "HX-Push-Url" not in poll
    assert 'id="jobs-poll"' in poll.content.decode()
    Job.objects.filter(pk=job.pk).update(state=State.DONE, done=4)
    poll = signed_in.get("/jobs/", headers={"HX-Request": "true", "HX-Trigger": "jobs-poll"})
    assert 'id="jobs-poll"' not in poll.content.decode()  # nothing runs: polling ends
    assert signed_in.get(f"/jobs/{job.pk}/", headers={"HX-Request": "true"}).status_code == 200
    assert len(api.calls) == 0  # polling reads dmportal's database, never the API


def test_a_job_whose_worker_died_is_shown_stopped_and_resumable(signed_in, user, connection):
    long_ago = timezone.now() - timedelta(minutes=5)
    new_job(user, connection, state=State.RUNNING, heartbeat_at=long_ago, checkpoint={"at": 1})
    html = signed_in.get("/jobs/").content.decode()
    assert 'data-state="stopped"' in html
    assert "data-resume" in html
    assert 'id="jobs-poll"' not in html


def test_the_job_page_polls_itself_while_active(signed_in, user, connection):
    job = new_job(user, connection, state=State.QUEUED)
    html = signed_in.get(f"/jobs/{job.pk}/").content.decode()
    assert 'hx-trigger="every 1s"' in html
    assert "data-cancel" in html
    fragment = signed_in.get(f"/jobs/{job.pk}/", headers={"HX-Request": "true"}).content.decode()
    assert fragment.startswith('<section id="job"')
    assert "<html" not in fragment


def test_cancel_and_retry_from_the_page(signed_in, user, connection, settings):
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    job = new_job(user, connection)
    response = signed_in.post(f"/jobs/{job.pk}/cancel/", {"next": "/jobs/"})
    assert response.status_code == 302
    assert response["Location"] == "/jobs/"
    job.refresh_from_db()
    assert job.state == State.CANCELLED
    assert job.can_retry
    response = signed_in.post(f"/jobs/{job.pk}/resume/", {"next": "https://evil.example/"})
    assert response["Location"] == f"/jobs/{job.pk}/"  # never an open redirect
    job.refresh_from_db()
    assert job.state == State.QUEUED
    assert job.task_id
    assert signed_in.get(f"/jobs/{job.pk}/cancel/").status_code == 405


def test_another_users_job_is_not_found_anywhere(bob_client, user, connection):
    job = new_job(user, connection, state=State.DONE, file_name="x.csv", download_name="x.csv")
    for path in ("", "download/"):
        assert bob_client.get(f"/jobs/{job.pk}/{path}").status_code == 404
    for path in ("cancel/", "resume/"):
        assert bob_client.post(f"/jobs/{job.pk}/{path}").status_code == 404
    assert "Count to" not in bob_client.get("/jobs/").content.decode()
    job.refresh_from_db()
    assert job.state == State.DONE


def test_an_expired_job_is_gone_from_the_pages_and_cleaned_up(signed_in, user, connection):
    job = new_job(user, connection, state=State.DONE)
    expiry = job.expires_at - job.created_at  # DMPORTAL_JOB_EXPIRY_HOURS
    assert timedelta(hours=24) <= expiry < timedelta(hours=24, seconds=1)
    Job.objects.filter(pk=job.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert signed_in.get(f"/jobs/{job.pk}/").status_code == 404
    assert "Count to" not in signed_in.get("/jobs/").content.decode()
    out = io.StringIO()
    call_command("jobs_cleanup", stdout=out)
    assert "Removed 1 expired job(s)" in out.getvalue()
    assert not Job.objects.filter(pk=job.pk).exists()
    assert [job.pk] == DISCARDED  # its files too


def test_cleanup_ends_jobs_whose_worker_died_and_keeps_the_rest(user, connection):
    from dmportal.jobs.services import jobs_cleanup

    dead = new_job(
        user, connection, state=State.RUNNING, heartbeat_at=timezone.now() - timedelta(minutes=2)
    )
    alive = new_job(user, connection, state=State.RUNNING, heartbeat_at=timezone.now())
    assert jobs_cleanup() == {"expired": 0, "stopped": 1, "tasks": 0}
    dead.refresh_from_db()
    alive.refresh_from_db()
    assert dead.state == State.FAILED
    assert "worker running this job stopped" in dead.error
    assert alive.state == State.RUNNING


def test_a_users_jobs_and_their_files_go_when_the_user_is_removed(user, connection):
    job = new_job(user, connection, state=State.DONE)
    user.delete()
    assert not Job.objects.filter(pk=job.pk).exists()
    assert [job.pk] == DISCARDED


def test_the_removal_time_ahead_is_not_marked_as_a_clock_error(signed_in, user, connection):
    job = new_job(user, connection, state=State.DONE)
    for path in ("/jobs/", f"/jobs/{job.pk}/"):
        html = signed_in.get(path).content.decode()
        assert "(in 24 hours)" in html or "(in 23 hours)" in html
        assert "in the future" not in html
        assert 'class="future"' not in html


def test_a_job_asked_to_stop_whose_worker_died_can_still_be_cancelled(signed_in, user, connection):
    long_ago = timezone.now() - timedelta(minutes=5)
    job = new_job(
        user, connection, state=State.RUNNING, heartbeat_at=long_ago, cancel_requested=True
    )
    assert "data-cancel" in signed_in.get(f"/jobs/{job.pk}/").content.decode()
    signed_in.post(f"/jobs/{job.pk}/cancel/")
    job.refresh_from_db()
    assert job.state == State.CANCELLED


def test_cleanup_cancels_a_dead_job_that_was_asked_to_stop(user, connection):
    from dmportal.jobs.services import jobs_cleanup

    job = new_job(
        user,
        connection,
        state=State.RUNNING,
        heartbeat_at=timezone.now() - timedelta(minutes=2),
        cancel_requested=True,
    )
    assert jobs_cleanup()["stopped"] == 1
    job.refresh_from_db()
    assert (job.state, job.error) == (State.CANCELLED, "")
    assert [job.pk] == DISCARDED


def test_cleanup_leaves_an_expired_job_that_still_runs_until_it_ends(user, connection):
    from dmportal.jobs.services import jobs_cleanup

    past = timezone.now() - timedelta(seconds=1)
    running = new_job(
        user, connection, state=State.RUNNING, heartbeat_at=timezone.now(), expires_at=past
    )
    ended = new_job(user, connection, state=State.DONE, expires_at=past)
    assert jobs_cleanup()["expired"] == 1
    assert Job.objects.filter(pk=running.pk).exists()
    assert not Job.objects.filter(pk=ended.pk).exists()


def test_an_older_page_of_jobs_polls_itself_not_the_first_page(signed_in, user, connection):
    older = new_job(
        user, connection, state=State.RUNNING, heartbeat_at=timezone.now(), done=1, total=2
    )
    for n in range(50):
        new_job(user, connection, n=n, state=State.DONE)
    html = signed_in.get(f"/jobs/?after={older.pk + 1}").content.decode()
    assert f'id="job-{older.pk}"' in html
    assert f'hx-get="/jobs/?after={older.pk + 1}"' in html
