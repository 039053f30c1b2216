"""The export job: every page of one list, written to a file through Django's storage API.

A run walks the list's cursor from its checkpoint, `limit=1000` in ascending order (one API
call a page; a list of dmportal's own rows by primary key), so rows added while it runs are
at the end and never shift, repeat or hide the rows that were there when it started. Each
page is encoded on its own and saved as one part of the file (`<job>/part-000001`), and the
checkpoint (the cursor after it, rows so far) is written with the job's progress: a resumed
run goes on from the next page, and a part saved by a run that died before its checkpoint is
written again, never twice. At the end the parts are joined into the file, in the list's own
order (a newest-first list: the parts backwards, each one's rows backwards), behind the CSV
header; at most one page is ever held in memory.

Pacing: each call counts against the user's dmportal rate limit (`Run.pace`), and waits when
over it; the API's own 429s are waited out (its Retry-After, up to MAX_RATE_WAIT in all); the
client retries 502, 503 and 504 as for any page. An error that persists stops the job as
"Stopped at page N", with the request ids, resumable from there.
"""

import io
import math

from django.core.files import File
from django.core.files.storage import storages
from django.utils import timezone

from dmportal.core.errors import format_wait
from dmportal.core.listing import extra_params
from dmportal.dmapi import errors as api
from dmportal.jobs import kinds
from dmportal.jobs.kinds import JobFailed, JobKind
from dmportal.jobs.runner import api_words

from .sources import source_for
from .writers import FORMATS, encode_rows, header

PAGE_SIZE = 1000
MAX_RATE_WAIT = 900.0  # seconds of the API's 429s an export waits out in all before it stops
KIND = "export"


def export_storage():
    return storages["exports"]


def part_name(job, number):
    return f"{job.pk}/part-{number:06d}"


def final_name(job):
    return f"{job.pk}/{job.params['download_name']}"


def export_run(run):
    job = run.job
    params = job.params
    source = source_for(params.get("source"))
    if source is None:
        raise JobFailed("dmportal no longer exports this list.")
    form = source.bind(params.get("query", ""))
    if form.errors:
        raise JobFailed("The list's filters are not valid any more, so nothing was exported.")
    walk = Walk(run, source, form)
    checkpoint = dict(job.checkpoint) or {"after": None, "pages": 0, "rows": 0, "size": 0}
    while not checkpoint.get("complete"):
        checkpoint = walk.next(checkpoint)
    return assemble(run, source, checkpoint)


class Walk:
    """One page after another of the list, each saved as a part with its checkpoint."""

    def __init__(self, run, source, form):
        self.run = run
        self.job = run.job
        self.source = source
        self.filters = form.api_filters()
        self.params = extra_params(form)  # filter= with what only it can say: never dropped
        self.newest_first = form.order == "DESC"
        self.fmt = self.job.params.get("format", "csv")
        self.columns = source.chosen(self.job.params.get("columns"))
        self.client = run.client() if source.uses_api else None
        self.context = None
        self.storage = export_storage()

    def next(self, checkpoint):
        number = checkpoint["pages"] + 1
        if number == 1:
            self.run.progress(step="Reading page 1")
        if self.source.uses_api:
            items, after, total, request_id = self.api_page(checkpoint["after"], number)
        else:
            items, after, total, request_id = self.rows_page(checkpoint["after"], number)
        data = self.encode(items)
        name = part_name(self.job, number)
        if self.storage.exists(name):  # saved by a run that died before its checkpoint
            self.storage.delete(name)
        self.storage.save(name, io.BytesIO(data))
        rows = checkpoint["rows"] + len(items)
        checkpoint = {
            "after": after,
            "pages": number,
            "rows": rows,
            "size": checkpoint["size"] + len(data),
            "first_request_id": checkpoint.get("first_request_id") or request_id,
            "last_request_id": request_id or checkpoint.get("last_request_id"),
            "complete": after is None,
        }
        if total is None:
            total = self.job.total
        if total is not None:
            total = max(total, rows)  # rows added while the export runs
        self.run.progress(
            done=rows,
            total=total,
            step=f"Page {number}{self.of_pages(total)}",
            checkpoint=checkpoint,
        )
        return checkpoint

    def of_pages(self, total=None):
        total = self.job.total if total is None else total
        return f" of {max(1, math.ceil(total / PAGE_SIZE))}" if total else ""

    def encode(self, items):
        if self.newest_first:
            items = items[::-1]
        if self.fmt == "jsonl":
            clean = self.source.clean or (lambda record: record)
            to_record = self.source.record or (lambda record: record)
            return encode_rows([clean(to_record(i)) for i in items], columns=(), fmt="jsonl")
        if self.context is None:
            prepare = self.source.prepare
            self.context = prepare(self.client) if prepare and items else {}
        return encode_rows(items, columns=self.columns, fmt="csv", context=self.context)

    def api_page(self, after, number):
        waited = 0.0
        while True:
            self.run.pace()
            try:
                page = self.source.page(
                    self.client,
                    parent=self.job.params.get("parent"),
                    filters=self.filters,
                    limit=PAGE_SIZE,
                    order="ASC",
                    after=after,
                    include_total=number == 1 and self.source.counts_total,
                    **self.params,
                )
            except api.RateLimited as exc:
                wait = min(max(exc.retry_after or 5.0, 1.0), 300.0)
                waited += wait
                if waited > MAX_RATE_WAIT:
                    raise self.stopped(number, exc) from exc
                self.run.sleep(
                    wait,
                    step=f"Page {number}: the API asked dmportal to wait {format_wait(wait)} "
                    "(HTTP 429)",
                )
                continue
            except api.ApiError as exc:
                raise self.stopped(number, exc) from exc
            if page.stopped:
                raise JobFailed(
                    f"Stopped at page {number}: {page.stopped}.", request_ids=[page.request_id]
                )
            return page.items, page.next_cursor, page.total_count, page.request_id

    def rows_page(self, after, number):
        rows = self.source.rows(
            user=self.job.user, connection=self.job.connection, filters=self.filters
        )
        total = rows.count() if number == 1 else None
        if after is not None:
            rows = rows.filter(pk__gt=after)
        items = list(rows.order_by("pk")[: PAGE_SIZE + 1])
        more = len(items) > PAGE_SIZE
        items = items[:PAGE_SIZE]
        return items, (items[-1].pk if more else None), total, None

    def stopped(self, number, exc):
        done = self.job.done
        return JobFailed(
            f"Stopped at page {number}{self.of_pages()} after {done:,} rows: "
            f"{api_words(exc, self.job)} Resume goes on from page {number}.",
            request_ids=[exc.request_id],
        )


class Parts(io.RawIOBase):
    """The export's header and parts, read one after another (one part open at a time)."""

    def __init__(self, storage, head, names):
        self.storage = storage
        self.pending = [head, *names]
        self.current = None

    def readable(self):
        return True

    def readinto(self, buffer):
        while True:
            if self.current is None:
                if not self.pending:
                    return 0
                item = self.pending.pop(0)
                self.current = (
                    io.BytesIO(item) if isinstance(item, bytes) else self.storage.open(item, "rb")
                )
            data = self.current.read(len(buffer))
            if data:
                buffer[: len(data)] = data
                return len(data)
            self.current.close()
            self.current = None


def assemble(run, source, checkpoint):
    job = run.job
    params = job.params
    storage = export_storage()
    fmt = params.get("format", "csv")
    pages = checkpoint["pages"]
    order = (
        range(pages, 0, -1)
        if source.bind(params.get("query", "")).order == "DESC"
        else range(1, pages + 1)
    )
    run.progress(step="Writing the file")
    head = header(source.chosen(params.get("columns")), fmt)
    name = final_name(job)
    if storage.exists(name):
        storage.delete(name)
    reader = io.BufferedReader(Parts(storage, head, [part_name(job, n) for n in order]))
    saved = storage.save(name, File(reader, name=name))
    for number in range(1, pages + 1):
        storage.delete(part_name(job, number))
    rows = checkpoint["rows"]
    label, _, content_type = FORMATS[fmt]
    run.file = {
        "file_name": saved,
        "download_name": params["download_name"],
        "file_size": len(head) + checkpoint["size"],
    }
    noun = source.noun + ("" if rows == 1 else "s")
    return {
        "summary": f"{rows:,} {noun} in {pages} page{'' if pages == 1 else 's'}, {label}",
        "rows": rows,
        "pages": pages,
        "format": fmt,
        "content_type": content_type,
        "first_request_id": checkpoint.get("first_request_id"),
        "last_request_id": checkpoint.get("last_request_id"),
        "finished": timezone.now().isoformat(),
    }


def export_discard(job):
    """Remove the export's file and whatever parts a run left."""
    storage = export_storage()
    pages = (job.checkpoint or {}).get("pages", 0)
    names = [part_name(job, n) for n in range(1, pages + 2)]
    if job.params.get("download_name"):
        names.append(final_name(job))
    if job.file_name:
        names.append(job.file_name)
    for name in dict.fromkeys(names):
        if storage.exists(name):
            storage.delete(name)


def export_uses_api(job):
    source = source_for(job.params.get("source"))
    return source is None or source.uses_api


def register_kind():
    kinds.register(
        JobKind(
            name=KIND,
            run=export_run,
            label="Export",
            discard=export_discard,
            storage=export_storage,
            uses_api=export_uses_api,
        )
    )
