"""core/htmx.py: whether a request wants a fragment."""

import pytest
from django_htmx.middleware import HtmxDetails

from dmportal.core.htmx import is_partial


@pytest.mark.parametrize(
    ("headers", "partial"),
    [
        ({}, False),
        ({"HTTP_HX_REQUEST": "true"}, True),
        # htmx's history cache missed: it asks for the whole page, with HX-Request set too.
        ({"HTTP_HX_REQUEST": "true", "HTTP_HX_HISTORY_RESTORE_REQUEST": "true"}, False),
        ({"HTTP_HX_REQUEST": "false"}, False),
    ],
)
def test_is_partial(rf, headers, partial):
    request = rf.get("/devices/", **headers)
    assert is_partial(request) is partial  # before django-htmx's middleware (handler500)
    request.htmx = HtmxDetails(request)
    assert is_partial(request) is partial
