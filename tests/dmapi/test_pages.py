import pytest

from dmportal.dmapi.errors import MalformedResponse
from dmportal.dmapi.pages import Page, Record, iterate


def make_pages(n_items, page_size):
    ids = [f"{i:032x}" for i in range(n_items)]

    def fetch(after):
        start = 0 if after is None else ids.index(after) + 1
        chunk = ids[start : start + page_size]
        calls.append(after)
        return Page(items=[{"id": i} for i in chunk], has_more=start + page_size < n_items)

    calls = []
    return fetch, calls, ids


def test_iterate_walks_every_cursor_without_repeats_or_gaps():
    fetch, calls, ids = make_pages(23, 5)
    assert [item["id"] for item in iterate(fetch)] == ids
    assert calls == [None, ids[4], ids[9], ids[14], ids[19]]


def test_iterate_stops_at_the_cap():
    fetch, calls, _ = make_pages(100, 10)
    assert len(list(iterate(fetch, max_items=25))) == 25
    assert len(calls) == 3


def test_iterate_stops_when_the_api_loops():
    def same_page(after):
        same_page.calls += 1
        return Page(items=[{"id": "a" * 32}], has_more=True)

    same_page.calls = 0
    assert len(list(iterate(same_page))) == 2
    assert same_page.calls == 2


def test_iterate_stops_on_an_empty_page_that_claims_more():
    def empty(after):
        empty.calls += 1
        return Page(items=[], has_more=True)

    empty.calls = 0
    assert list(iterate(empty)) == []
    assert empty.calls == 1


def test_iterate_stops_at_max_pages():
    counter = iter(range(10**6))

    def endless(after):
        return Page(items=[{"id": f"{next(counter):032x}"}], has_more=True)

    assert len(list(iterate(endless, max_pages=7))) == 7


@pytest.mark.parametrize("total", [-1, "12", True, 1.5, None])
def test_odd_total_counts_are_ignored(total):
    page = Page.from_body({"data": [], "total_count": total})
    assert page.total_count is None


def test_from_body_rejects_non_envelopes():
    for body in (None, [], "x", {"data": "no"}, {"data": [None]}):
        with pytest.raises(MalformedResponse):
            Page.from_body(body)


def test_record_is_a_dict_with_a_request_id():
    record = Record({"id": "x"}, request_id="r")
    assert record == {"id": "x"}
    assert record.request_id == "r"
