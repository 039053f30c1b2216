"""Running a few API calls at once from a view."""

import contextvars


def submit(pool, fn, /, *args, **kwargs):
    """`pool.submit` in a copy of the caller's context, so the calls' log lines carry the
    request's id (contextvars do not cross into executor threads by themselves)."""
    return pool.submit(contextvars.copy_context().run, fn, *args, **kwargs)
