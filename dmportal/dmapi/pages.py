"""List pages: a `Page` is one answer of a list endpoint; `iterate` walks the cursors.

The API's cursor is the id of the last item of a page, passed as `after`; the envelope's own
`after` field describes the request, not the next page, so it is not used.
"""

from dataclasses import dataclass, field

from .errors import MalformedResponse

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
        """The `after` value of the next page, or None at the end."""
        if not self.has_more or not self.items:
            return None
        return self.items[-1]["id"]

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
    """Yield every item of a list, page by page.

    `fetch_page(after)` returns the `Page` that follows the cursor `after` (None for the first).
    Stops at the end, at `max_items` or `max_pages`, and on the API misbehaving: an empty page
    that claims there is more, or a cursor that does not move.
    """
    after = None
    yielded = 0
    seen_cursors = set()
    for _ in range(max_pages):
        page = fetch_page(after)
        for item in page.items:
            yield item
            yielded += 1
            if yielded >= max_items:
                return
        cursor = page.next_cursor
        if cursor is None or cursor in seen_cursors:
            return
        seen_cursors.add(cursor)
        after = cursor
