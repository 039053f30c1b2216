"""Running one job, in the worker: claim it, run its kind, record how it ended.

`run_job(job_id)` is what the task queue calls (jobs/tasks.py). A run claims a queued job with
a fresh token; every write it makes afterwards names that token, and its progress updates are
also its lease (`heartbeat_at`): a worker that dies leaves a job whose lease runs out, which
the Jobs page shows as stopped and offers to resume; if the first run is merely slow and comes
back, its writes find another token and it stops without touching the job.

The API key: `Run.client()` asks accounts for a client of the job's connection (the one
function that decrypts a key), when the kind first needs it; the client is dropped with the
run. Nothing the run writes (progress, checkpoint, result, error, log) holds the key.
"""

import logging
import secrets
import signal
import time
from dataclasses import dataclass, field
from datetime import timedelta
from types import SimpleNamespace

from django.db.models import F
from django.utils import timezone

from dmportal.accounts.errors import CredentialError
from dmportal.accounts.services import activity_record, connection_client, connection_note_calls
from dmportal.core.errors import describe
from dmportal.core.ratelimit import rate_wait
from dmportal.dmapi import errors as api

from .kinds import JobFailed, kind_for
from .models import Job, JobItem, State

log = logging.getLogger("dmportal.jobs")

HEARTBEAT_SECONDS = 2.0  # how often a long wait renews the lease and looks for a cancel


class Stop(Exception):
    """The run must end now: "cancelled", "lost" (another run holds the job) or "shutdown"
    (the worker is stopping: the job goes back to the queue and goes on from its checkpoint)."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


def worker_stopping():
    """Whether the db_worker running this process was asked to stop (Ctrl-C, SIGTERM).

    django-tasks-db's worker finishes the task under way before it exits; an export of a
    large fleet would hold a deployment's restart for as long. Its signal handler is a bound
    method of the worker, whose `running` turns False: a job checks it between two steps,
    hands itself back to the queue and ends, so the next worker goes on where it stopped."""
    worker = getattr(signal.getsignal(signal.SIGTERM), "__self__", None)
    return getattr(worker, "running", True) is False


def nap(seconds):
    time.sleep(seconds)


class Run:
    """One run of a job, handed to its kind's `run` function (see jobs/kinds.py)."""

    def __init__(self, job, token, *, sleep=None):
        self.job = job
        self.token = token
        self.first_call = None  # the first and last API calls of the run (CallRecords)
        self.last_call = None
        self.call_count = 0
        self._client = None
        self._sleep = sleep  # None: `nap` (looked up when called)
        self._item_position = None
        self.file = {}  # file_name, download_name, file_size of the file the job made

    # -- the API ---------------------------------------------------------------------------

    def client(self):
        if self._client is None:
            self._client = connection_client(
                user=self.job.user, connection=self.job.connection, observer=self._observe
            )
        return self._client

    def _observe(self, record):
        self.call_count += 1
        if self.first_call is None:
            self.first_call = record
        self.last_call = record

    def pace(self):
        """Wait while the user is over dmportal's per-user rate limit (their pages and jobs
        share it), then count the call about to be made."""
        while wait := rate_wait(self.job.user_id):
            self.sleep(wait, step=f"Waiting {wait:g} s: your dmportal rate limit is reached")

    # -- progress, lease, cancel -------------------------------------------------------------

    def progress(self, *, done=None, total=None, step=None, checkpoint=None):
        """Record progress (and the checkpoint a resumed run goes on from) and renew the
        lease, in one write. Raises Stop when the job was cancelled, another run took it over,
        or the worker is stopping."""
        changes = {"heartbeat_at": timezone.now()}
        for name, value in (("done", done), ("total", total), ("checkpoint", checkpoint)):
            if value is not None:
                changes[name] = value
        if step is not None:
            changes["step"] = step[:300]
        for name, value in changes.items():
            setattr(self.job, name, value)
        updated = Job.objects.filter(
            pk=self.job.pk, run_token=self.token, cancel_requested=False
        ).update(**changes)
        if not updated:
            still_ours = Job.objects.filter(pk=self.job.pk, run_token=self.token).exists()
            raise Stop("cancelled" if still_ours else "lost")
        if worker_stopping():
            raise Stop("shutdown")

    def sleep(self, seconds, *, step=None):
        """Wait `seconds`, renewing the lease and looking for a cancel every few seconds."""
        left = seconds
        self.progress(step=step)
        while left > 0:
            (self._sleep or nap)(min(left, HEARTBEAT_SECONDS))
            left -= HEARTBEAT_SECONDS
            self.progress()

    def item(self, key, outcome, *, detail="", request_id=""):
        """Record the outcome for one item of the job (a bulk action's device)."""
        if self._item_position is None:
            self._item_position = JobItem.objects.filter(job=self.job).count()
        self._item_position += 1
        return JobItem.objects.create(
            job=self.job,
            position=self._item_position,
            key=str(key)[:64],
            outcome=outcome[:16],
            detail=str(detail)[:300],
            request_id=(request_id or "")[:64],
        )


# -- one run -------------------------------------------------------------------------------------


@dataclass
class Outcome:
    state: str  # a State, or "lost" / "shutdown"
    result: dict = field(default_factory=dict)
    error: str = ""
    request_ids: list = field(default_factory=list)


def run_job(job_id, *, sleep=None):
    """Claim the job if it is still queued, run it, record the outcome."""
    token = secrets.token_hex(16)
    claimed = Job.objects.filter(pk=job_id, state=State.QUEUED, cancel_requested=False).update(
        state=State.RUNNING,
        run_token=token,
        heartbeat_at=timezone.now(),
        runs=F("runs") + 1,
        step="Starting",
    )
    if not claimed:
        return None  # cancelled while queued, taken by another run, or expired and gone
    job = Job.objects.select_related("user", "connection").get(pk=job_id)
    if job.started_at is None:
        job.started_at = timezone.now()
        Job.objects.filter(pk=job.pk, started_at=None).update(started_at=job.started_at)
    run = Run(job, token, sleep=sleep)
    outcome = execute(run)
    finish(run, outcome)
    return outcome.state


def execute(run):
    job = run.job
    kind = kind_for(job.kind)
    if kind is None:
        return Outcome(State.FAILED, error=f"dmportal cannot run “{job.kind}” jobs (any more).")
    uses_api = kind.uses_api(job) if callable(kind.uses_api) else kind.uses_api
    if uses_api and job.connection is None:
        return Outcome(
            State.FAILED,
            error=f"The connection “{job.connection_label}” was removed, so this job cannot "
            "run. Start it again from a connection you have.",
        )
    try:
        return Outcome(State.DONE, result=kind.run(run) or {})
    except Stop as stop:
        return Outcome(State.CANCELLED if stop.reason == "cancelled" else stop.reason)
    except JobFailed as exc:
        return Outcome(State.FAILED, error=exc.message, request_ids=exc.request_ids)
    except CredentialError as exc:
        return Outcome(State.FAILED, error=exc.message)
    except api.ApiError as exc:
        return Outcome(State.FAILED, error=api_words(exc, job), request_ids=[exc.request_id])
    except Exception:
        log.exception("Job %s (%s) stopped on an unexpected error", job.pk, job.kind)
        return Outcome(
            State.FAILED,
            error=f"An unexpected error stopped this job; dmportal's log has the details "
            f"(job {job.pk}).",
        )


def api_words(exc, job):
    """What an API error means for a job, in the words the error pages use."""
    try:
        info = describe(exc, SimpleNamespace(connection=job.connection, user=job.user))
    except Exception:  # a row written for requests only: the error's own words
        return exc.message
    return f"{info.title}. {info.explanation}"


def finish(run, outcome):
    job = run.job
    if outcome.state == "lost":
        log.warning("Job %s was taken over by another run; this one stopped", job.pk)
        return
    if run.last_call is not None and job.connection is not None:
        connection_note_calls(job.connection, [run.last_call])
    mine = Job.objects.filter(pk=job.pk, run_token=run.token)
    now = timezone.now()
    if outcome.state == "shutdown":
        mine.update(state=State.QUEUED, run_token="", heartbeat_at=now, step="Waiting for a worker")
        from .services import job_enqueue  # services enqueue this module's task

        job_enqueue(job)
        return
    changes = {"state": outcome.state, "finished_at": now, "heartbeat_at": now, "run_token": ""}
    if outcome.state == State.DONE:
        changes.update(result=outcome.result, step="Done", error="", error_request_ids=[])
        changes.update(run.file)
    elif outcome.state == State.FAILED:
        changes.update(error=outcome.error[:1000], error_request_ids=outcome.request_ids[:10])
        changes["step"] = "Failed"
    else:
        changes["step"] = "Cancelled"
    if not mine.update(**changes):
        return
    for name, value in changes.items():
        setattr(job, name, value)
    kind = kind_for(job.kind)
    if outcome.state == State.CANCELLED and kind is not None and kind.discard is not None:
        kind.discard(job)
    record_activity(run, outcome)


def record_activity(run, outcome):
    """The activity log's entry for a job that ended: what, how it ended, and the request ids
    of its first and last API calls."""
    job = run.job
    first = run.first_call.request_id if run.first_call else ""
    last = run.last_call.request_id if run.last_call else ""
    summary = outcome.result.get("summary") if outcome.result else ""
    detail = summary or outcome.error or outcome.state
    if first or last:
        detail = f"{detail} (first call {first or '-'}, last call {last or '-'})"
    activity_record(
        None,
        f"job.{job.kind}",
        target=job.title,
        result={"done": "ok", "failed": "failed"}.get(outcome.state, outcome.state),
        detail=detail,
        upstream_request_id=first or "",
        user=job.user,
        connection=job.connection,
        origin=(job.request_id, job.ip_address),
    )


def stale_cutoff(now=None):
    from .models import lease_seconds

    return (now or timezone.now()) - timedelta(seconds=lease_seconds())
