"""The one answer to "does this request want a fragment?" (every view that can return one)."""

from django_htmx.middleware import HtmxDetails


def is_partial(request):
    """An HTMX request for a fragment: not a history restore, which wants the whole page (htmx
    asks for it with `HX-Request` when its history cache misses). Also for requests that failed
    before django-htmx's middleware ran (`handler400`, `handler500`: no `request.htmx` yet)."""
    htmx = getattr(request, "htmx", None)
    if htmx is None:
        htmx = HtmxDetails(request)
    return bool(htmx) and not htmx.history_restore_request
