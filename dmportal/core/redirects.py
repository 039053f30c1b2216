"""Where a redirect may go: the one check for every `next`, "back" and return-to URL."""

from django.utils.http import url_has_allowed_host_and_scheme


def same_site_url(request, url, fallback):
    """`url` when it is one of this site's (its host; over https when this request is), else
    `fallback`: for a `next` or the page to come back to, never an open redirect."""
    if url and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return url
    return fallback
