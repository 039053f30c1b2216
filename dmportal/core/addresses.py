"""Where a request comes from, as far as dmportal can trust it."""

import ipaddress

from django.conf import settings


def client_address(request):
    """The client's address, wherever dmportal needs one (the password throttle; the activity
    log; the CSP report limit): the peer's own, or behind
    DMPORTAL_PROXY_COUNT trusted proxies the address the outermost of them saw, which is the
    Nth entry from the right of X-Forwarded-For. Entries further left are whatever the client
    sent and are never trusted: rotating them neither resets a lock-out nor locks out others."""
    peer = request.META.get("REMOTE_ADDR") or None
    count = settings.DMPORTAL_PROXY_COUNT
    if count <= 0:
        return peer
    forwarded = [p.strip() for p in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [p for p in forwarded if p]
    if len(forwarded) < count:
        return peer  # not through the configured proxies
    try:
        return str(ipaddress.ip_address(forwarded[-count]))
    except ValueError:
        return peer
