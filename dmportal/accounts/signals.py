import time

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from dmportal.core.writes import write_performed

from .services import activity_record

SESSION_AUTH_AT = "dm_auth_at"  # when the password was last entered (sign-in or confirmation)
SESSION_LOGIN_AT = "dm_login_at"  # when this session signed in (absolute timeout)
SESSION_SEEN_AT = "dm_seen_at"  # when the idle expiry was last pushed forward


@receiver(user_logged_in)
def signed_in(sender, request, user, **kwargs):
    if request is None:
        return
    now = time.time()
    request.session[SESSION_LOGIN_AT] = now
    request.session[SESSION_AUTH_AT] = now
    request.session[SESSION_SEEN_AT] = now
    activity_record(request, "signin", user=user)


@receiver(user_logged_out)
def signed_out(sender, request, user, **kwargs):
    if request is not None and user is not None:
        activity_record(request, "signout", user=user)


@receiver(user_login_failed)
def sign_in_failed(sender, credentials, request=None, **kwargs):
    if request is None:
        return
    # The attempted name is recorded as typed (truncated), never the password.
    username = str(credentials.get("username", ""))[:150]
    activity_record(request, "signin", result="failed", user=None, username=username)


@receiver(write_performed)
def write_recorded(sender, *, request, action, target, result, detail, upstream_request_id, **kw):
    """core.writes.perform made an API write: it goes into the activity log."""
    activity_record(
        request,
        action,
        target=target,
        result=result,
        detail=detail,
        upstream_request_id=upstream_request_id,
    )
