"""Issue 14, finding 7: a crafted cursor (`?after=²`, a superscript digit that `str.isdigit()`
accepts and `int()` refuses) was a 500 on the recent-calls list. Every list URL parses its
cursor with one strict pattern (dmapi/ids.py: ASCII only, `fullmatch`), so a crafted cursor
is a 400 that names the cursor, as a page and as a fragment, and the cursor never reaches
the API (a page that shows a list inside a record, such as an application's access keys, may
still have read the record); and no other URL turns one into a 500.

The walk finds the lists itself: a URL is a list when its page goes through the table
machinery's `fetch_page` (core/listing.py), so a new list is covered without being named here.
"""

import pytest

from dmportal.core import listing
from tests.accounts.test_key_never_leaks import ANY_API_PATH, GENERIC, concrete_paths
from tests.factories import HTMX

pytestmark = pytest.mark.django_db

CRAFTED = [
    "²",  # str.isdigit() says yes
    "\u0661\u0662",  # Arabic-Indic digits: int() reads them
    "1\n",  # a trailing newline passes `^...$` with re.match
    "1-²",
    "\uff11\uff12",  # fullwidth digits
    "<script>alert(1)</script>",
    "a" * 65,
]


@pytest.fixture
def lists(signed_in, api, monkeypatch):
    """The paths whose page is a list of the table machinery."""
    api.get(ANY_API_PATH, json=GENERIC)
    seen = []
    real = listing.fetch_page

    def spy(request, *args, **kwargs):
        seen.append(request.path)
        return real(request, *args, **kwargs)

    monkeypatch.setattr(listing, "fetch_page", spy)
    paths = [p for p in concrete_paths(signed_in.session.get("_auth_user_id")) if "logout" not in p]
    for path in paths:
        signed_in.get(path, **HTMX)
    found = sorted(set(seen))
    return paths, found


def test_every_list_refuses_a_crafted_cursor_with_a_400_and_never_sends_it(signed_in, api, lists):
    _, found = lists
    # devices, device groups, group devices, events, users, invitations, groups (and their
    # members), API keys, applications, recent calls, activity: at least the 12 list pages.
    assert len(found) >= 12, found
    assert {"/support/calls/", "/activity/", "/devices/", "/team/users/"} <= set(found)
    for path in found:
        calls = len(api.calls)
        for after in CRAFTED:
            for headers in ({}, HTMX):
                response = signed_in.get(path, {"after": after}, **headers)
                assert response.status_code == 400, (path, after, headers, response.status_code)
                html = response.content.decode()
                assert "cursor" in html, (path, after)
                assert after not in html or (after.isascii() and after.isalnum()), (path, after)
        sent = [c.request.url for c in api.calls[calls:]]
        assert not any("after=" in url for url in sent), (path, sent)


def test_no_url_turns_a_crafted_cursor_into_a_server_error(signed_in, api, lists):
    paths, _ = lists
    for path in paths:
        for headers in ({}, HTMX):
            response = signed_in.get(path, {"after": "²"}, **headers)
            assert response.status_code < 500, (path, headers, response.status_code)
