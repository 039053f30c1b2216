import time

from django.conf import settings
from django.contrib.auth import logout

from .services import connection_note_usage
from .signals import SESSION_LOGIN_AT


class SessionAbsoluteTimeoutMiddleware:
    """Sign a session out SESSION_ABSOLUTE_HOURS after it signed in, however active it is.

    (The idle timeout is SESSION_COOKIE_AGE with SESSION_SAVE_EVERY_REQUEST.) Once signed out,
    LoginRequiredMiddleware sends the person to the login page (HX-Redirect for HTMX).
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.limit = settings.SESSION_ABSOLUTE_HOURS * 3600

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            login_at = request.session.get(SESSION_LOGIN_AT)
            if login_at is None or time.time() - login_at > self.limit:
                logout(request)
        return self.get_response(request)


class ConnectionUsageMiddleware:
    """Records, once per request, what the request's API calls say about its connection."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        connection_note_usage(request)
        return response
