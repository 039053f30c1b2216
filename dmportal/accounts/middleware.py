import logging
import time
import zoneinfo

from django.conf import settings
from django.contrib.auth import logout
from django.db import DatabaseError
from django.utils import timezone

from .services import connection_note_usage, request_preferences
from .signals import SESSION_LOGIN_AT, SESSION_SEEN_AT

log = logging.getLogger(__name__)


class SessionTimeoutMiddleware:
    """Idle and absolute session timeouts.

    Idle: the session expires SESSION_COOKIE_AGE after the last request. Saving the session on
    every request would write to the database each time, so its expiry is pushed forward at
    most once a minute. Absolute: a session is signed out SESSION_ABSOLUTE_HOURS after it
    signed in, however active it is. Once signed out, LoginRequiredMiddleware sends the
    person to the login page (HX-Redirect for HTMX).
    """

    REFRESH_SECONDS = 60

    def __init__(self, get_response):
        self.get_response = get_response
        self.limit = settings.SESSION_ABSOLUTE_HOURS * 3600

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            now = time.time()
            login_at = request.session.get(SESSION_LOGIN_AT)
            if login_at is None or now - login_at > self.limit:
                logout(request)
            elif now - request.session.get(SESSION_SEEN_AT, 0) > self.REFRESH_SECONDS:
                request.session[SESSION_SEEN_AT] = now  # saving renews the idle expiry
        return self.get_response(request)


class ConnectionUsageMiddleware:
    """Records, once per request, what the request's API calls say about its connection."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        try:
            connection_note_usage(request)
        except DatabaseError:
            # "Last used" and "key rejected" marks are bookkeeping: a database that refuses
            # writes for a moment must not turn a page that was served into an error page.
            log.warning("The connection's last use could not be recorded", exc_info=True)
        return response


class UserTimezoneMiddleware:
    """Times are shown in the signed-in user's time zone (a per-user setting, default UTC)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        name = None
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            prefs = request_preferences(request)
            name = prefs.timezone if prefs is not None else None
        try:
            timezone.activate(zoneinfo.ZoneInfo(name or "UTC"))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            timezone.activate(zoneinfo.ZoneInfo("UTC"))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
