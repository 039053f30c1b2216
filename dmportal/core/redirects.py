"""Where a redirect may go: the one check for every `next`, "back" and return-to URL."""

from django.utils.http import url_has_allowed_host_and_scheme

from .forms import looks_like_key


def same_site_url(request, url, fallback):
    """`url` when it is one of this site's (its host; over https when this request is), else
    `fallback`: for a `next` or the page to come back to, never an open redirect, and never
    a URL holding something shaped like a key (core/forms.py), which would be rendered into
    a form or put in the address bar."""
    if looks_like_key(url):
        return fallback
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return fallback
