"""List pages: a `Page` is one answer of a list endpoint; `iterate` walks the cursors.

The API's cursor is the id of the last item of a page, passed as `after`; the envelope's own
`after` field describes the request, not the next page, so it is not used.

A list that cannot go on although the API says `has_more` (an empty page, a cursor that does
not move or comes back, no end after `max_pages`) is stopped, never followed in a loop, and
reported: `Page.stopped` and `Walk.stopped` say why, and a walk logs a warning.
"""

import logging
from dataclasses import dataclass, field

from .errors import MalformedResponse

log = logging.getLogger("dmportal.dmapi")

MIN_LIMIT = 2
MAX_LIMIT = 1000


class Record(dict):
    """A JSON object from the API, with the request id of the response that carried it.

    Unknown fields are kept as they are (the API may add fields at any time).
    """

    __slots__ = ("request_id",)

    def __init__(self, data=(), request_id=None):
        super().__init__(data)
        self.request_id = request_id


@dataclass(frozen=True, slots=True)
class Page:
    items: list
    has_more: bool = False
    total_count: int | None = None
    request_id: str | None = None
    limit: int | None = None
    after: str | None = field(default=None, repr=False)  # the cursor this page was asked with

    @property
    def next_cursor(self):
        """The `after` value of the next page, or None at the end (or when `stopped`)."""
        if not self.has_more or not self.items:
            return None
        cursor = self.items[-1]["id"]
        return None if cursor == self.after else cursor

    @property
    def stopped(self):
        """Why this list cannot go on although the API says there is more; None otherwise."""
        if not self.has_more:
            return None
        if not self.items:
            return "the API said there is more but sent an empty page"
        if self.items[-1]["id"] == self.after:
            return "the API sent the page it was asked to continue from again"
        return None

    @classmethod
    def from_body(cls, body, *, request_id=None, after=None):
        """Build a page from a decoded list envelope, checking only what we rely on."""
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise MalformedResponse("The list response has no `data` array.", request_id=request_id)
        items = body["data"]
        for item in items:
            if not isinstance(item, dict):
                raise MalformedResponse(
                    "The list response holds an item that is not an object.",
                    request_id=request_id,
                )
        has_more = body.get("has_more") is True
        if has_more and items and not isinstance(items[-1].get("id"), str):
            raise MalformedResponse(
                "The list response says there is more, but its last item has no id.",
                request_id=request_id,
            )
        total = body.get("total_count")
        if isinstance(total, bool) or not isinstance(total, int) or total < 0:
            total = None
        limit = body.get("limit")
        if isinstance(limit, bool) or not isinstance(limit, int):
            limit = None
        return cls(
            items=items,
            has_more=has_more,
            total_count=total,
            request_id=request_id,
            limit=limit,
            after=after,
        )


def iterate(fetch_page, *, max_items=100_000, max_pages=1_000):
    """Every item of a list, page by page: a `Walk` to iterate once.

    `fetch_page(after)` returns the `Page` that follows the cursor `after` (None for the first).
    Stops at the end, at `max_items` or `max_pages`, and on the API misbehaving: an empty page
    that claims there is more, or a cursor that does not move or comes back. After the walk,
    `walk.stopped` says why it stopped before the end of the list (None when it got there).
    """
    return Walk(fetch_page, max_items=max_items, max_pages=max_pages)


class Walk:
    """The items of a list, fetched page by page as they are iterated (see `iterate`)."""

    def __init__(self, fetch_page, *, max_items, max_pages):
        self._fetch_page = fetch_page
        self.max_items = max_items
        self.max_pages = max_pages
        self.pages = 0  # pages fetched so far
        self.items = 0  # items yielded so far
        self.stopped = None  # why the walk ended before the end of the list
        self.request_id = None  # of the last page fetched

    def __iter__(self):
        after = None
        seen_cursors = set()
        while True:
            if self.pages >= self.max_pages:
                self._stop(f"the API still said there is more after {self.pages} pages")
                return
            page = self._fetch_page(after)
            self.pages += 1
            self.request_id = page.request_id
            for n, item in enumerate(page.items, 1):
                yield item
                self.items += 1
                if self.items >= self.max_items:
                    if page.has_more or n < len(page.items):
                        self._stop(f"stopped at the limit of {self.max_items} items")
                    return
            if page.stopped:
                self._stop(page.stopped)
                return
            cursor = page.next_cursor
            if cursor is None:
                return
            if cursor in seen_cursors:
                self._stop("the API sent a cursor it had already sent")
                return
            seen_cursors.add(cursor)
            after = cursor

    def _stop(self, reason):
        self.stopped = reason
        log.warning(
            "A list was stopped after %d page%s and %d items: %s (upstream request id %s)",
            self.pages,
            "" if self.pages == 1 else "s",
            self.items,
            reason,
            self.request_id or "-",
        )
