"""The kinds of background job: a registry that apps fill in their `AppConfig.ready()`.

A kind is a name, the function that does the work and a few words about it. The job layer
(models, the runner, the Jobs page, cancel, resume, expiry) is the same for every kind, so a
new kind of work (an export, a bulk action on devices) is one `register(JobKind(...))`.

`run(run)` gets a `jobs.runner.Run`: `run.job` (its `params` and `checkpoint`),
`run.client()` (an API client for the job's connection, made when first asked for),
`run.progress(...)` (progress, checkpoint, the outcomes of items done (`items=`) and the
heartbeat in one transaction; what it is given is recorded even when a cancel came in, then
it raises to stop the work when the job was cancelled, lost its lease or the worker is
stopping), `run.sleep`, `run.pace()` (the per-user rate limit), `run.item(...)` (one item's
outcome), `run.map(work, items, workers=4)` (calls in a few threads at once, their outcomes
handed back in order; no new item after a cancel or `run.hold()`) and `run.first_call` /
`run.last_call` (the first and last API calls made). It returns the job's `result` (a
dict), or raises `JobFailed` (with the upstream request ids) or an API error, which ends the
job failed and, when the checkpoint says where to go on from, resumable.

A bulk action (many items) keeps its frozen plan in `params` (the Jobs pages never read it),
`checkpoint={"next": n}` with each outcome (`map` yields a prefix of the plan, so resume goes
on at item n with nothing done twice), and an outcome per item (`JobItem`, its `position` the
item's place in the plan).
"""

from collections.abc import Callable
from dataclasses import dataclass


class JobFailed(Exception):
    """The work cannot go on: `message` says why, in words, for the job's page."""

    def __init__(self, message, *, request_ids=()):
        super().__init__(message)
        self.message = message
        self.request_ids = [r for r in request_ids if r]


@dataclass(frozen=True)
class JobKind:
    name: str
    run: Callable  # run(run) -> result dict
    label: str  # "Export", shown in the Jobs list
    # Removes what the job left behind (its files): on expiry, on cancel, before a retry.
    discard: Callable | None = None
    # The file the job made, as (storage, name), for its download (None: no file).
    storage: Callable | None = None
    # Whether the work calls the API (a job without its connection then cannot run): a bool,
    # or a function of the job (an export of dmportal's own rows does not).
    uses_api: object = True


KINDS = {}


def register(kind):
    """Add a kind (registering the same one twice changes nothing)."""
    existing = KINDS.get(kind.name)
    if existing is not None and existing != kind:
        raise ValueError(f"A job kind named {kind.name!r} is already registered.")
    KINDS[kind.name] = kind
    return kind


def kind_for(name):
    return KINDS.get(name)
