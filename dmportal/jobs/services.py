"""Starting, cancelling, resuming and cleaning up jobs (keyword-only, `<thing>_<action>`)."""

import logging
import re
import secrets
import time
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import Http404
from django.utils import timezone

from dmportal.core.addresses import client_address

from .kinds import kind_for
from .models import Job, JobItem, State, expiry_time
from .runner import stale_cutoff
from .tasks import job_run

log = logging.getLogger("dmportal.jobs")

START_KEY = re.compile(r"[A-Za-z0-9_-]{16,64}")


def job_start(*, request, connection, kind, title, params, total=None, start_key=""):
    """A new job of the request's user on `connection`, queued for a worker.

    `start_key`: the one-time key of the form that asked for it (`start_key_new`). The same
    key again (a double click, a resent form, two app servers at once) starts nothing: the
    job it started is returned, with `job.started_before` True."""
    if kind_for(kind) is None:
        raise ValueError(f"No job kind named {kind!r} is registered.")
    start_key = (start_key or "")[:64]
    if start_key:
        existing = Job.objects.filter(user=request.user, start_key=start_key).first()
        if existing is not None:
            existing.started_before = True
            return existing
    fields = {
        "user": request.user,
        "connection": connection,
        "connection_label": connection.label if connection else "",
        "kind": kind,
        "title": title[:300],
        "params": params,
        "total": total,
        "step": "Waiting for a worker",
        "request_id": getattr(request, "request_id", "")[:32],
        "ip_address": client_address(request),
        "start_key": start_key,
    }
    try:
        with transaction.atomic():
            job = Job.objects.create(**fields)
    except IntegrityError:
        if not start_key:
            raise
        # The same form, sent at the same moment: the other request's job won the key.
        existing = Job.objects.get(user=request.user, start_key=start_key)
        existing.started_before = True
        return existing
    job.started_before = False
    job_enqueue(job)
    return job


def start_key_new():
    """A one-time key for a form that starts a job (its hidden `start_key` field)."""
    return secrets.token_urlsafe(24)


def start_key_valid(value):
    return isinstance(value, str) and START_KEY.fullmatch(value) is not None


def job_enqueue(job):
    """Hand the job to the task queue (it is in the database already)."""
    result = job_run.enqueue(job.pk)
    Job.objects.filter(pk=job.pk).update(task_id=str(result.id)[:64])


def jobs_of(user):
    """The user's jobs that have not expired, newest first. Their `params` (a bulk action's
    plan: up to thousands of ids) are read only when asked for: the Jobs page and a job's
    page, polled every second or two, never need them."""
    return Job.objects.filter(user=user, expires_at__gt=timezone.now()).defer("params")


def job_get(*, user, job_id):
    """One of the user's own jobs, or 404 (someone else's job is not found, not refused)."""
    job = jobs_of(user).select_related("connection").filter(pk=job_id).first()
    if job is None:
        raise Http404("No such job")
    return job


def job_cancel(*, job, now=None):
    """Cancel a queued job at once; ask a running one to stop at its next step; a job whose
    worker died is cancelled at once. Returns whether anything changed."""
    now = now or timezone.now()
    ended = {"state": State.CANCELLED, "cancel_requested": True, "finished_at": now}
    done = Job.objects.filter(pk=job.pk, state=State.QUEUED).update(**ended, step="Cancelled")
    if not done:
        stale = Q(heartbeat_at__lt=stale_cutoff(now)) | Q(heartbeat_at=None)
        done = (
            Job.objects.filter(pk=job.pk, state=State.RUNNING)
            .filter(stale)
            .update(**ended, run_token="", step="Cancelled")
        )
    if done:
        job_discard_files(job)
        return True
    return bool(
        Job.objects.filter(pk=job.pk, state=State.RUNNING, cancel_requested=False).update(
            cancel_requested=True, step="Cancelling…"
        )
    )


def job_resume(*, job):
    """Queue a job that failed, was cancelled or whose worker died, for a new run: it goes on
    from its checkpoint (resume), or starts over when it has none or was cancelled (retry).
    Returns whether it was queued."""
    now = timezone.now()
    again = Q(state__in=[State.FAILED, State.CANCELLED]) | (
        Q(state=State.RUNNING) & (Q(heartbeat_at__lt=stale_cutoff(now)) | Q(heartbeat_at=None))
    )
    changes = {
        "state": State.QUEUED,
        "run_token": "",
        "cancel_requested": False,
        "error": "",
        "error_request_ids": [],
        "finished_at": None,
        "step": "Waiting for a worker",
        "expires_at": expiry_time(),
    }
    over = job.state == State.CANCELLED or not job.checkpoint
    if over:
        changes.update(checkpoint={}, done=0, result={})
    if not Job.objects.filter(pk=job.pk).filter(again).update(**changes):
        return False
    if over:  # what the last run left (its files, its items' outcomes) is not the new one's
        job_discard_files(job)
        JobItem.objects.filter(job=job).delete()
    job_enqueue(job)
    return True


def job_discard_files(job):
    kind = kind_for(job.kind)
    if kind is not None and kind.discard is not None:
        try:
            kind.discard(job)
        except Exception:
            log.exception("The files of job %s could not all be removed", job.pk)


def jobs_cleanup(*, now=None):
    """Remove expired jobs and their files; end jobs whose worker died long ago; forget the
    task queue's records of finished tasks older than the expiry. Returns the counts."""
    from django_tasks_db.models import DBTaskResult

    now = now or timezone.now()
    expired = 0
    # A job still running (its lease fresh) is left to end first: its files are in use.
    live = Q(state=State.RUNNING, heartbeat_at__gte=stale_cutoff(now))
    for job in Job.objects.filter(expires_at__lte=now).exclude(live).iterator():
        job.delete()  # its files too (jobs/signals.py)
        expired += 1
    dead = Job.objects.filter(state=State.RUNNING).filter(
        Q(heartbeat_at__lt=stale_cutoff(now)) | Q(heartbeat_at=None)
    )
    # Asked to stop, but its worker died first: it is cancelled, as asked.
    stopped = sum(job_cancel(job=job, now=now) for job in dead.filter(cancel_requested=True))
    stopped += dead.filter(cancel_requested=False).update(
        state=State.FAILED,
        run_token="",
        finished_at=now,
        step="Stopped",
        error="The worker running this job stopped before it finished. Resume it to go on "
        "from where it got to.",
    )
    oldest = now - timedelta(hours=settings.DMPORTAL_JOB_EXPIRY_HOURS)
    pruned, _ = (
        DBTaskResult.objects.filter(finished_at__lt=oldest)
        .filter(status__in=["SUCCESSFUL", "FAILED"])
        .delete()
    )
    orphans, _ = DBTaskResult.objects.filter(status="RUNNING", started_at__lt=oldest).delete()
    return {"expired": expired, "stopped": stopped, "tasks": pruned + orphans}


CLEANUP_EVERY_SECONDS = 600
_cleaned_at = None


def jobs_cleanup_if_due():
    """`jobs_cleanup`, at most every ten minutes per worker process, after a job: expired jobs
    go even where no one set up the command to run periodically."""
    global _cleaned_at
    now = time.monotonic()
    if _cleaned_at is not None and now - _cleaned_at < CLEANUP_EVERY_SECONDS:
        return None
    _cleaned_at = now
    try:
        return jobs_cleanup()
    except Exception:
        log.exception("Cleaning up expired jobs failed")
        return None
