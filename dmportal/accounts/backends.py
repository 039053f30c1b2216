"""The authentication backend: every password checked by `authenticate()` goes through the
password throttle (throttle.py).

dmportal's sign-in form calls the throttle itself (for its own messages). Anything else that
calls `authenticate()` with a request, Django's admin login first, or a login view added
later, would check a password with no throttle at all (django-axes' backend used to count
those): this backend counts them in the same rows, and refuses the check while the throttle
pauses it (`authenticate()` then answers None, as for a wrong password).
"""

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied

from .throttle import inside_password_check, password_check


class ThrottledModelBackend(ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        plain = super().authenticate
        if request is None or inside_password_check():
            return plain(request, username=username, password=password, **kwargs)
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        verdict = password_check(
            request,
            username=username,
            check=lambda: plain(request, username=username, password=password, **kwargs),
        )
        if verdict.paused:
            raise PermissionDenied  # authenticate() stops here: no other backend is asked
        return verdict.user
