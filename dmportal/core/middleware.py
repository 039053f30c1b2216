import logging
import uuid
from urllib.parse import unquote_to_bytes

from django.conf import settings
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.core.handlers.wsgi import get_bytes_from_wsgi
from django.middleware.gzip import GZipMiddleware
from django.shortcuts import resolve_url
from django.utils.cache import add_never_cache_headers, patch_vary_headers
from django_htmx.http import HttpResponseClientRedirect

from . import health
from .errors import PAGES, Refused, error_response
from .logging import current_request_id
from .redirects import same_site_url

log = logging.getLogger("dmportal")


class RequestIDMiddleware:
    """Give every request its own id: on `request.request_id`, in every log line of the
    request, and in the `X-Request-ID` response header."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.request_id = uuid.uuid4().hex
        token = current_request_id.set(request.request_id)
        try:
            response = self.get_response(request)
        finally:
            current_request_id.reset(token)
        response["X-Request-ID"] = request.request_id
        return response


class HealthProbeMiddleware:
    """`/healthz` and `/readyz` are answered here, before anything reads the `Host` header or
    the session: a load balancer probes each server by its address (`Host: 10.0.0.5:8000`,
    not in ALLOWED_HOSTS), and liveness must not touch the database even when the probe
    carries a session cookie. The middlewares outside this one still add the request id and
    the security headers (SecurityMiddleware reads no host for these paths: they are in
    SECURE_REDIRECT_EXEMPT). Other methods than the probes' GET and HEAD take the usual way
    (the CSRF check refuses a POST)."""

    PROBES = {"/healthz": health.healthz, "/readyz": health.readyz}

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        probe = self.PROBES.get(request.path_info)
        if probe is None or request.method not in ("GET", "HEAD"):
            return self.get_response(request)
        return probe(request)


class HtmxLoginRedirectMiddleware:
    """An HTMX request from an expired session gets `HX-Redirect` to the login page (a 302
    would be followed by the browser and the login form swapped into a table)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not getattr(request, "htmx", False) or response.status_code not in (301, 302):
            return response
        login_url = resolve_url(settings.LOGIN_URL)
        if not response.get("Location", "").startswith(login_url):
            return response
        # Come back to the page the person was on, not to the fragment URL.
        current = same_site_url(request, request.htmx.current_url_abs_path, "/")
        return HttpResponseClientRedirect(f"{login_url}?{REDIRECT_FIELD_NAME}={current}")


class Utf8QueryMiddleware:
    """A query string that is not UTF-8 (`?name__in=%FF`, the overlong `/` `%C0%AF`) gets a
    400 page before any view runs. Django would decode it with replacement characters and the
    view would search the API for U+FFFD: not what was typed. (A path that is not UTF-8
    matches no URL, so it is already a 404.)"""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        raw = get_bytes_from_wsgi(request.META, "QUERY_STRING", "")
        try:
            unquote_to_bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            return error_response(
                request,
                Refused(
                    "The address has characters that are not valid text (its query string is "
                    "not UTF-8), so nothing was searched. Check the link, or start again from "
                    "the menu."
                ),
            )
        return self.get_response(request)


class CompressionMiddleware(GZipMiddleware):
    """gzip for HTML pages and fragments (a 1,000-row device page is ~10x smaller on the
    wire), never for a response that holds a secret.

    BREACH reads a secret out of compressed responses that also reflect what an attacker
    sends. A dmportal page holds two kinds of secret: the CSRF token, which Django masks with
    new random bytes on every response (so no two responses share it), and a key or access
    key shown once (core.flows.secret_once), whose responses are marked `holds_secret` and
    sent uncompressed. Django's GZipMiddleware also adds random bytes to each gzip header
    ("Heal the BREACH"). API keys are never in any page. Downloads (export files) and other
    non-HTML responses are left as they are: their size is the file's."""

    def process_response(self, request, response):
        if getattr(response, "holds_secret", False):
            return response
        if not response.get("Content-Type", "").startswith("text/html"):
            return response
        return super().process_response(request, response)


class ResponseHeadersMiddleware:
    """Headers every response needs that Django's settings do not cover."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        # One URL serves a full page or a fragment: caches must key on these headers.
        patch_vary_headers(response, ("HX-Request", "HX-History-Restore-Request"))
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            add_never_cache_headers(response)
            response["Cache-Control"] = "no-store, private"
        return response


class ApiErrorMiddleware:
    """Turns a failure a view let through into the error page or fragment, as its row of the
    error table (core/errors.py) says: API and connection errors, the per-user limit, the
    database being unavailable. Bugs and Django's refusals are left to Django, which logs them
    and draws the same page with `handler500` / `handler400`."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        page = PAGES.lookup(exception)
        if not page.caught:
            return None
        if page.log is not None:
            log.log(page.log, "Request failed (%s): %s", page.kind, exception)
        if page.respond is not None:
            return page.respond(request, exception)
        return error_response(request, exception)
