"""A kind of job for the tests of the job layer: counts to `params["n"]`, one step at a time,
checkpointing each step; it can call the API, fail, or die at a given step."""

import pytest

from dmportal.jobs import kinds
from dmportal.jobs.kinds import JobFailed, JobKind
from dmportal.jobs.models import Job
from tests.conftest import API

BEHAVIOUR = {}  # what the counting kind does at which step, set by each test
DISCARDED = []


def count(run):
    params, start = run.job.params, run.job.checkpoint.get("at", 0)
    for step in range(start + 1, params["n"] + 1):
        action = BEHAVIOUR.get(step)
        if action == "call":
            run.client().get("/v3/accounts/me")
        elif action == "fail":
            raise JobFailed(f"Failed at step {step}.", request_ids=["up-1", None])
        elif action == "die":
            BEHAVIOUR.pop(step)
            raise SystemExit("the worker died")  # not caught: the job is left running
        elif action == "boom":
            raise RuntimeError("a bug")
        elif callable(action):
            action(run)
        run.progress(
            done=step,
            total=params["n"],
            step=f"Step {step}",
            checkpoint={"at": step},
            items=[{"key": f"item-{step}", "outcome": "done", "position": step}],
        )
    return {"summary": f"Counted to {params['n']}"}


COUNT = JobKind(
    name="test.count", run=count, label="Count", discard=lambda job: DISCARDED.append(job.pk)
)


@pytest.fixture(autouse=True)
def counting_kind():
    kinds.register(COUNT)
    BEHAVIOUR.clear()
    DISCARDED.clear()
    yield BEHAVIOUR
    kinds.KINDS.pop(COUNT.name, None)


def new_job(user, connection, *, n=3, **fields):
    fields.setdefault("kind", COUNT.name)
    return Job.objects.create(
        user=user,
        connection=connection,
        connection_label=connection.label if connection else "gone",
        title=f"Count to {n}",
        params={"n": n},
        **fields,
    )


__all__ = ["API", "new_job"]
