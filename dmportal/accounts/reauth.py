"""Re-authentication: the password again before the actions that store, replace or remove a
key (connections) and before creating or deleting one (API keys, access keys).

`recent_auth_required` guards such a view: it runs only if the password was entered (at
sign-in or on the confirmation page) in the last RECENT_AUTH_SECONDS. Otherwise nothing is
done and nothing upstream is called, and the person is asked for the password without losing
what they were doing:

- a GET (the form or confirmation page about to be shown) goes to the password page, which
  comes back to it; an HTMX request gets `HX-Redirect` there, back to the page it came from;
- a POST is answered with the password page itself, in place, carrying the submitted fields
  as hidden inputs and posting back to the same URL: once the password is right, the action
  goes on as submitted (a one-time form token is carried too, so it stays single-use);
- except a POST that holds a secret (a field the view marks with `sensitive_post_parameters`,
  such as a pasted API key): a secret is never written back into a page, so that POST is
  treated as a GET, and the form asks for the key again after the password.

Wrong passwords go through the one password throttle (throttle.py), counted in the database
per user name and address with those of sign-in and the password change: the answer that
reaches its limit signs the session out, so a stolen session cookie cannot be used to guess
the password, and signing in again is paused as well.
"""

import time
from functools import wraps

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import QueryDict
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils.http import urlencode
from django_htmx.http import HttpResponseClientRedirect

from dmportal.core.redirects import same_site_url

from .forms import PasswordConfirmForm
from .services import activity_record
from .signals import SESSION_AUTH_AT

RECENT_AUTH_SECONDS = 5 * 60
TOO_MANY = "Too many wrong passwords: you were signed out. Sign in again."
PREFIX = "reauth"  # the in-place form's password field is "reauth-password"
NOT_CARRIED = {"csrfmiddlewaretoken", f"{PREFIX}-password"}


def auth_is_recent(request):
    return time.time() - request.session.get(SESSION_AUTH_AT, 0) <= RECENT_AUTH_SECONDS


def password_accepted(request, form):
    """Check a bound PasswordConfirmForm: True (and the password counts as just entered),
    False, or None when that was one wrong password too many and the session is signed out."""
    if form.is_valid():
        request.session[SESSION_AUTH_AT] = time.time()
        return True
    verdict = form.verdict
    if verdict is None:
        return False  # nothing typed: not a guess
    if not verdict.paused:
        activity_record(
            request, "password.confirm", result="failed", detail=f"{verdict.remaining} left"
        )
        return False
    activity_record(request, "password.confirm", result="failed", detail="checks paused")
    logout(request)
    messages.error(request, TOO_MANY)
    return None


def signed_out_response(request):
    """After `password_accepted` returned None: to the login page."""
    url = resolve_url(settings.LOGIN_URL)
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def recent_auth_required(view):
    """Run `view` only with a recently entered password; see the module docstring."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if request.method == "POST" and f"{PREFIX}-password" in request.POST:
            hide_from_error_reports(request, f"{PREFIX}-password")
            form = PasswordConfirmForm(request, request.POST, prefix=PREFIX)
            accepted = password_accepted(request, form)
            request.POST = carried_post(request)  # the password goes no further
            if accepted is None:
                return signed_out_response(request)
            if not accepted:
                return password_page(request, form, status=400)
        elif not auth_is_recent(request):
            if request.method == "POST" and not holds_secret(request):
                form = PasswordConfirmForm(request, prefix=PREFIX)
                return password_page(request, form, status=403)
            return to_confirmation(request)
        return view(request, *args, **kwargs)

    return wrapper


def hide_from_error_reports(request, name):
    """What `sensitive_post_parameters` does, for a field this wrapper adds to any view."""
    names = getattr(request, "sensitive_post_parameters", None) or []
    if names != "__ALL__":
        request.sensitive_post_parameters = [*names, name]


def holds_secret(request):
    names = getattr(request, "sensitive_post_parameters", None) or ()
    if names == "__ALL__":
        names = request.POST.keys()
    return any(request.POST.get(name) for name in names)


def carried_post(request):
    """The submitted fields without the CSRF token and the password (and never a secret)."""
    names = getattr(request, "sensitive_post_parameters", None) or ()
    # A bare @sensitive_post_parameters() marks every field ("__ALL__", a string: testing
    # names against it would be a substring test).
    secret = set(request.POST) if names == "__ALL__" else set(names)
    post = QueryDict(mutable=True)
    for name, values in request.POST.lists():
        if name not in NOT_CARRIED and name not in secret:
            post.setlist(name, values)
    post._mutable = False
    return post


def password_page(request, form, *, status):
    """The password form in place of the refused POST, carrying its fields back to it."""
    context = {
        "form": form,
        "action": request.get_full_path(),
        "carried": [(n, v) for n, values in carried_post(request).lists() for v in values],
        "window_minutes": RECENT_AUTH_SECONDS // 60,
    }
    if not request.htmx:
        return render(request, "accounts/password_confirm.html", context, status=status)
    # The request's own target (a table, a panel) is no place for this form: it replaces
    # the page's content, and is sent as a plain form so the result is a whole page.
    response = render(request, "accounts/password_confirm.html#panel", context, status=status)
    response["HX-Retarget"] = "#main"
    response["HX-Reswap"] = "innerHTML"
    return response


def to_confirmation(request):
    """The password page, coming back afterwards to the page the person was on."""
    back = request.get_full_path()
    if request.htmx:
        back = request.htmx.current_url_abs_path or "/"
    back = same_site_url(request, back, "/")
    if request.method == "POST":
        messages.info(
            request,
            "Nothing was saved. Confirm your password, then paste the key again: dmportal "
            "never keeps a key it has not saved.",
        )
    url = f"{reverse('password_confirm')}?{urlencode({'next': back})}"
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return redirect(url)
