import logging

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


def stop_warnings(caplog):
    return [r for r in caplog.records if "A list was stopped" in r.getMessage()]


def test_iterate_walks_every_cursor_without_repeats_or_gaps(caplog):
    fetch, calls, ids = make_pages(23, 5)
    walk = iterate(fetch)
    assert [item["id"] for item in walk] == ids
    assert calls == [None, ids[4], ids[9], ids[14], ids[19]]
    assert (walk.stopped, walk.pages, walk.items) == (None, 5, 23)
    assert stop_warnings(caplog) == []


def test_iterate_stops_at_the_cap_and_says_so():
    fetch, calls, _ = make_pages(100, 10)
    walk = iterate(fetch, max_items=25)
    assert len(list(walk)) == 25
    assert len(calls) == 3
    assert walk.stopped == "stopped at the limit of 25 items"


def test_a_cap_that_is_exactly_the_whole_list_is_not_a_stop():
    fetch, _, _ = make_pages(20, 10)
    walk = iterate(fetch, max_items=20)
    assert len(list(walk)) == 20
    assert walk.stopped is None


def test_iterate_stops_when_the_api_loops(caplog):
    def same_page(after):
        same_page.calls += 1
        return Page(items=[{"id": "a" * 32}], has_more=True, request_id="up-loop")

    same_page.calls = 0
    walk = iterate(same_page)
    assert len(list(walk)) == 2
    assert same_page.calls == 2
    assert walk.stopped == "the API sent a cursor it had already sent"
    [warning] = stop_warnings(caplog)
    assert warning.levelno == logging.WARNING
    assert "after 2 pages and 2 items" in warning.getMessage()
    assert "up-loop" in warning.getMessage()


def test_iterate_stops_when_a_page_repeats_the_cursor_it_was_asked_for():
    # The API ignores `after` and answers the page that ends with it again.
    def stuck(after):
        stuck.calls += 1
        return Page(items=[{"id": "0" * 31 + "1"}], has_more=True, after=after)

    stuck.calls = 0
    walk = iterate(stuck)
    assert len(list(walk)) == 2
    assert stuck.calls == 2
    assert walk.stopped == "the API sent the page it was asked to continue from again"


def test_iterate_stops_when_cursors_come_back_in_a_cycle():
    pages = {None: "a" * 32, "a" * 32: "b" * 32, "b" * 32: "a" * 32}

    def cycle(after):
        cycle.calls += 1
        return Page(items=[{"id": pages[after]}], has_more=True, after=after)

    cycle.calls = 0
    walk = iterate(cycle)
    assert [i["id"] for i in walk] == ["a" * 32, "b" * 32, "a" * 32]
    assert cycle.calls == 3
    assert walk.stopped == "the API sent a cursor it had already sent"


def test_iterate_stops_on_an_empty_page_that_claims_more(caplog):
    def empty(after):
        empty.calls += 1
        return Page(items=[], has_more=True)

    empty.calls = 0
    walk = iterate(empty)
    assert list(walk) == []
    assert empty.calls == 1
    assert walk.stopped == "the API said there is more but sent an empty page"
    assert len(stop_warnings(caplog)) == 1


def test_iterate_stops_at_max_pages():
    counter = iter(range(10**6))

    def endless(after):
        return Page(items=[{"id": f"{next(counter):032x}"}], has_more=True)

    walk = iterate(endless, max_pages=7)
    assert len(list(walk)) == 7
    assert walk.pages == 7
    assert walk.stopped == "the API still said there is more after 7 pages"


def test_a_page_that_cannot_go_on_has_no_next_cursor_and_says_why():
    stuck = Page(items=[{"id": "a" * 32}], has_more=True, after="a" * 32)
    assert stuck.next_cursor is None
    assert stuck.stopped == "the API sent the page it was asked to continue from again"
    empty = Page(items=[], has_more=True)
    assert empty.next_cursor is None
    assert empty.stopped == "the API said there is more but sent an empty page"
    fine = Page(items=[{"id": "b" * 32}], has_more=True, after="a" * 32)
    assert (fine.next_cursor, fine.stopped) == ("b" * 32, None)
    last = Page(items=[], has_more=False)
    assert (last.next_cursor, last.stopped) == (None, None)


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
