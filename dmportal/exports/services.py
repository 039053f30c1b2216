"""Starting an export: what the list holds (its total, roughly how long), and the job."""

import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from dmportal.accounts.services import active_connection, api_client
from dmportal.core.errors import format_wait
from dmportal.core.listing import extra_params
from dmportal.jobs.runner import JOB_RATE_SHARE
from dmportal.jobs.services import job_start

from .engine import KIND, PAGE_SIZE
from .writers import FORMATS, file_name

# What a page of 1,000 costs beyond the count's own call (a larger answer to send and decode,
# the rows to write): a rough allowance for the estimate, from `make benchmark`.
PER_PAGE_EXTRA_SECONDS = 0.03


@dataclass
class Count:
    total: int | None = None
    seconds: float | None = None  # roughly how long the export takes
    error: object = None  # the count's failure (core.errors.ErrorInfo)

    @property
    def pages(self):
        return max(1, math.ceil((self.total or 0) / PAGE_SIZE))

    @property
    def duration(self):
        if self.seconds is None:
            return ""
        return "under a second" if self.seconds < 1 else f"about {format_wait(self.seconds)}"


def export_count(*, request, source, parent, form):
    """The list's total (one call, as the list's own page asks it) and an estimate: the pages
    times that call's time, plus the waits the user's rate limit will impose."""
    if not source.uses_api:
        rows = source.rows(
            user=request.user, connection=active_connection(request), filters=form.api_filters()
        )
        total = rows.count()
        return Count(total=total, seconds=0.05 * max(1, math.ceil(total / PAGE_SIZE)))
    client = api_client(request)
    started = time.monotonic()
    page = source.page(
        client,
        parent=parent,
        filters=form.api_filters(),
        limit=2,
        order="ASC",
        after=None,
        include_total=source.counts_total,
        **extra_params(form),
    )
    call = time.monotonic() - started
    count = Count(total=page.total_count)
    if count.total is not None:
        count.seconds = count.pages * (call + PER_PAGE_EXTRA_SECONDS) + rate_waits(count.pages)
    return count


def rate_waits(pages):
    """Seconds an export of `pages` calls waits for the user's rate limit (at worst)."""
    rate = settings.DMPORTAL_USER_RATE_LIMIT
    if rate is None:
        return 0
    per_window = max(1, int(rate[0] * JOB_RATE_SHARE))  # a job's part of the limit
    if pages <= per_window:
        return 0
    return (pages // per_window) * rate[1]


def export_title(source, parent, form, fmt):
    pairs = [f"{key}={value}" for key, value in form.canonical_pairs() if key != "limit"]
    shown = f" ({', '.join(pairs)})" if pairs else ""
    if len(shown) > 180:
        shown = shown[:178] + "…)"
    return f"Export of {source.describe(parent).lower()}{shown} as {FORMATS[fmt][0]}"


def export_begin(*, request, source, parent, form, fmt, columns, start_key=""):
    """The export job of the list this form shows, in `fmt`, with these columns (the one
    `start_key` started already, when the same form is sent again)."""
    pairs = [(key, value) for key, value in form.canonical_pairs() if key != "limit"]
    params = {
        "source": source.name,
        "parent": parent,
        "query": form.canonical_query(),
        "format": fmt,
        "columns": [column.key for column in columns],
        "download_name": file_name(source.prefix(parent), pairs, moment=timezone.now(), fmt=fmt),
    }
    return job_start(
        request=request,
        connection=active_connection(request),
        kind=KIND,
        title=export_title(source, parent, form, fmt),
        params=params,
        start_key=start_key,
    )
