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
import threading
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import timedelta
from types import SimpleNamespace

from django.db import connections, transaction
from django.db.models import F, Max
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
# The part of the user's dmportal rate limit a job may use: the rest stays for their pages,
# so a long job (a bulk action of thousands of calls) never locks its user out of the portal.
JOB_RATE_SHARE = 0.8


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
    """One run of a job, handed to its kind's `run` function (see jobs/kinds.py).

    Only the run's own thread writes to the database (progress, items, the end); `map` runs
    the kind's calls in threads and hands their outcomes back to that thread."""

    def __init__(self, job, token, *, sleep=None):
        self.job = job
        self.token = token
        self.first_call = None  # the first and last API calls of the run (CallRecords)
        self.last_call = None
        self.call_count = 0
        self.stopping = None  # "cancelled" or "shutdown" once noticed (inside `map`)
        self._client = None
        self._lock = threading.Lock()  # the client and the call records, shared by threads
        self._sleep = sleep  # None: `nap` (looked up when called)
        self._item_position = None
        self._mapping = 0  # inside `map`: a cancel or shutdown is noticed, not raised
        self._held = False
        self.file = {}  # file_name, download_name, file_size of the file the job made

    # -- the API ---------------------------------------------------------------------------

    def client(self):
        with self._lock:
            if self._client is None:
                self._client = connection_client(
                    user=self.job.user, connection=self.job.connection, observer=self._observe
                )
            return self._client

    def _observe(self, record):
        with self._lock:
            self.call_count += 1
            if self.first_call is None:
                self.first_call = record
            self.last_call = record

    def pace(self):
        """Wait while the user is over dmportal's per-user rate limit (their pages and jobs
        share it), then count the call about to be made."""
        while not self.stopping:
            seconds = rate_wait(self.job.user_id, share=JOB_RATE_SHARE)
            if not seconds:
                return
            self.sleep(seconds, step=f"Waiting {seconds:g} s: your dmportal rate limit is reached")

    # -- progress, lease, cancel -------------------------------------------------------------

    def progress(self, *, done=None, total=None, step=None, checkpoint=None, items=()):
        """Record progress, the checkpoint a resumed run goes on from and the outcomes of the
        items done since the last call (`items`: dicts of `item`'s arguments), and renew the
        lease, in one transaction.

        What is given is recorded whenever this run still holds the job, even when a cancel
        was asked meanwhile: work that was done is never forgotten. Then Stop is raised when
        the job was cancelled or the worker is stopping (inside `map`: noted in `stopping`
        instead, and `map` raises once the items under way are in), or, with nothing
        recorded, when another run took the job over."""
        changes = {"heartbeat_at": timezone.now()}
        for name, value in (("done", done), ("total", total), ("checkpoint", checkpoint)):
            if value is not None:
                changes[name] = value
        if step is not None:
            changes["step"] = step[:300]
        rows = [self._item_row(**item) for item in items]
        mine = Job.objects.filter(pk=self.job.pk, run_token=self.token)
        cancelled = False
        with transaction.atomic():
            if not mine.filter(cancel_requested=False).update(**changes):
                cancelled = bool(mine.update(**changes))
                if not cancelled:
                    raise Stop("lost")
            if rows:
                JobItem.objects.bulk_create(rows)
        for name, value in changes.items():
            setattr(self.job, name, value)
        reason = "cancelled" if cancelled else ("shutdown" if worker_stopping() else None)
        if reason:
            self.stopping = self.stopping or reason
            if not self._mapping:
                raise Stop(self.stopping)

    def sleep(self, seconds, *, step=None):
        """Wait `seconds`, renewing the lease and looking for a cancel every few seconds."""
        left = seconds
        self.progress(step=step)
        while left > 0 and not self.stopping:
            (self._sleep or nap)(min(left, HEARTBEAT_SECONDS))
            left -= HEARTBEAT_SECONDS
            self.progress()

    def item(self, key, outcome, *, detail="", request_id="", position=None):
        """Record the outcome for one item of the job (a bulk action's device) at once, with
        the lease (see `progress`; several at a time: `progress(items=[...])`). `position`:
        the item's place in the job's plan (default: after the last one recorded)."""
        self.progress(
            items=[
                {
                    "key": key,
                    "outcome": outcome,
                    "detail": detail,
                    "request_id": request_id,
                    "position": position,
                }
            ]
        )

    def _item_row(self, *, key, outcome, detail="", request_id="", position=None):
        if self._item_position is None:
            last = JobItem.objects.filter(job=self.job).aggregate(last=Max("position"))["last"]
            self._item_position = last or 0
        if position is None:
            position = self._item_position + 1
        self._item_position = max(self._item_position, position)
        return JobItem(
            job=self.job,
            position=position,
            key=str(key)[:64],
            outcome=str(outcome)[:16],
            detail=str(detail)[:300],
            request_id=(request_id or "")[:64],
        )

    # -- many items at once ------------------------------------------------------------------

    def map(self, work, items, *, workers=4, pace=True):
        """`work(item)` for each of `items`, in up to `workers` threads at once; yields
        `(item, value, error)` in this (the run's own) thread, in the order of `items`
        (`error`: what `work` raised, or None).

        Only `work` runs in the threads: it calls the API (`run.client()` is shared by
        them) and must not use the database; the loop records each outcome and the progress
        (`progress(..., items=[...])`). Before each item starts, the user's rate limit is
        paced (`pace`); while the calls under way take long, the lease is renewed.

        No item starts once the job is to stop (cancelled, or the worker stopping: noticed
        by `progress`, which inside this loop does not raise) or after `hold()` (the kind's
        own reason to stop, such as too many failures in a row). The items under way are
        still yielded, so their outcomes are recorded; then Stop is raised (after `hold()`
        the loop just ends). What was yielded is always a prefix of `items`, so "the next
        item is number N" is an exact checkpoint to resume from."""
        pending = iter(items)
        window = deque()  # (item, future) in the order of items, not yielded yet
        exhausted = False
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"job-{self.job.pk}")
        self._mapping += 1
        try:
            while True:
                while not (exhausted or self.stopping or self._held) and (
                    len(window) < 2 * workers
                    and sum(not future.done() for _, future in window) < workers
                ):
                    item = next(pending, _END)
                    if item is _END:
                        exhausted = True
                        break
                    if pace:
                        self.pace()
                    if self.stopping or self._held:
                        break  # this item was not started: the checkpoint says so
                    window.append((item, pool.submit(_work_call, work, item)))
                while window and window[0][1].done():
                    item, future = window.popleft()
                    error = future.exception()
                    yield item, (None if error is not None else future.result()), error
                if not window:
                    if exhausted or self.stopping or self._held:
                        break
                    continue
                busy = [future for _, future in window if not future.done()]
                if busy:
                    finished, _ = wait(busy, timeout=HEARTBEAT_SECONDS, return_when=FIRST_COMPLETED)
                    if not finished:
                        self.progress()  # the calls take long: renew the lease
        finally:
            self._mapping -= 1
            pool.shutdown(wait=True)  # at most `workers` calls under way, none queued
        if self.stopping:
            raise Stop(self.stopping)

    def hold(self):
        """Start no more items in `map` (those under way are still yielded)."""
        self._held = True


_END = object()


def _work_call(work, item):
    try:
        return work(item)
    finally:
        connections.close_all()  # `work` must not use the database; if it did, no leak


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
    if outcome.state == State.CANCELLED:
        from .services import job_discard_files  # (a failure to remove is logged)

        job_discard_files(job)
    record_activity(run, outcome)


def record_activity(run, outcome):
    """The activity log's entry for a job that ended: what, how it ended (how far, when it
    did not finish), and the request ids of its first and last API calls."""
    job = run.job
    first = run.first_call.request_id if run.first_call else ""
    last = run.last_call.request_id if run.last_call else ""
    summary = outcome.result.get("summary") if outcome.result else ""
    detail = summary or outcome.error or outcome.state
    if not summary and job.done:  # how far a cancelled or failed job got (a bulk action's
        # log must say how many devices it changed before it stopped)
        of = f" of {job.total:,}" if job.total else ""
        detail = f"{detail} ({job.done:,}{of} done)"
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
