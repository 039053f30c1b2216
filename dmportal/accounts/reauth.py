"""Re-authentication: the password again before anything that changes what a person or a
key can do.

The rule is one list in one place: every POST (any unsafe method) of a signed-in person needs
a password entered in the last RECENT_AUTH_SECONDS (at sign-in or on the password page),
unless the view's URL name is in EXEMPT below, with the reason. RecentAuthMiddleware applies
it before any view runs, so a new view (a bulk action, a saved device query, ...) is guarded
by default; to opt out, add its URL name to EXEMPT with a reason (a test walks every URL and
fails on an exemption without one). `recent_auth_required` on a view asks for the password
before its GET as well (a form that takes a key, a confirmation page), so the person is asked
before typing rather than after.

Without a recent password nothing is done and nothing upstream is called, and the person is
asked for it without losing what they were doing:

- a GET of a `recent_auth_required` view (the form or confirmation page about to be shown)
  goes to the password page, which comes back to it; an HTMX request gets `HX-Redirect`
  there, back to the page it came from;
- a POST is answered with the password page itself, in place, carrying the submitted fields
  as hidden inputs and posting back to the same URL: once the password is right, the action
  goes on as submitted (a one-time form token is carried too, so it stays single-use);
- except a POST that holds a secret (a field the view marks with `sensitive_post_parameters`,
  such as a pasted API key, or any value shaped like a key: core/forms.py): a secret is never
  written back into a page, so that POST is treated as a GET, and the form asks for the key
  again after the password.

Wrong passwords go through the one password throttle (throttle.py), counted in the database
per user name and address with those of sign-in and the password change: the answer that
reaches its limit signs the session out, so a stolen session cookie cannot be used to guess
the password, and signing in again is paused as well.
"""

import time
from functools import wraps
from urllib.parse import unquote

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import QueryDict
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils.http import urlencode
from django_htmx.http import HttpResponseClientRedirect

from dmportal.core.forms import looks_like_key, query_without_keys
from dmportal.core.redirects import same_site_url

from .forms import PasswordConfirmForm
from .services import activity_record
from .signals import SESSION_AUTH_AT

RECENT_AUTH_SECONDS = 5 * 60
SAFE_METHODS = ("GET", "HEAD", "OPTIONS", "TRACE")
TOO_MANY = "Too many wrong passwords: you were signed out. Sign in again."

# The POSTs that need no recent password, by URL name, and why. Everything else does.
EXEMPT = {
    "login": "Signing in is itself the password check (through the password throttle).",
    "logout": "Signing out only takes access away.",
    "admin:logout": "Signing out of the admin only takes access away.",
    "password_confirm": "The password page itself: it is where the password is entered.",
    "password_change": "It asks for the current password itself, through the same throttle.",
    "connection_switch": "It chooses among the person's own connections; it grants nothing.",
    "preferences": "The time zone of the pages and each connection's colour: it grants nothing.",
    "csp_report": "A browser's report of a blocked resource, not a person's action.",
    "device_notes": "A staff note is text for colleagues (account_scope guards who sees it).",
    "device_edit": "A device's name, description and attributes: no one's access changes.",
    "api_key_edit": "A key's name only: what the key may do does not change.",
    "application_edit": "An application's name and description: its access does not change.",
    "group_rename": "A policy group's name only: its members and rights do not change.",
    "access_key_verify": "One call with a pasted key to check it; nothing is changed.",
    "export_start": "A file of what the list already shows this person; nothing upstream changes.",
    "export_start_of": "A file of what the list already shows this person; nothing changes.",
    "job_cancel": "It stops one of the person's own jobs: it only takes something away.",
    "job_resume": "It resumes one of the person's own exports, which only read.",
    "device_view_default": "Which saved view the person's device list opens: it grants nothing.",
    "device_columns": "Which columns the person's device list shows: it grants nothing.",
}
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
    """Ask for a recent password before `view`'s GET too (its POSTs need one anyway); see
    the module docstring."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        refused = reauth_check(request)
        if refused is not None:
            return refused
        return view(request, *args, **kwargs)

    wrapper.reauth_guarded = True  # the middleware leaves it to this wrapper
    return wrapper


class RecentAuthMiddleware:
    """The rule of the module docstring, for every view: an unsafe request of a signed-in
    person whose URL name is not in EXEMPT needs a recent password. After the CSRF check and
    LoginRequiredMiddleware (MIDDLEWARE's order), before the view."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.method in SAFE_METHODS or not request.user.is_authenticated:
            return None
        if getattr(view_func, "reauth_guarded", False):
            return None  # recent_auth_required asks, inside the view's own decorators
        match = request.resolver_match
        if match is not None and match.view_name in EXEMPT:
            return None
        return reauth_check(request)


def reauth_check(request):
    """None when the request may go on (the password is recent, or was just entered right),
    else the answer that asks for it (or says the session was signed out)."""
    if request.method == "POST" and f"{PREFIX}-password" in request.POST:
        hide_from_error_reports(request, f"{PREFIX}-password")
        form = PasswordConfirmForm(request, request.POST, prefix=PREFIX)
        accepted = password_accepted(request, form)
        request.POST = carried_post(request)  # the password goes no further
        if accepted is None:
            return signed_out_response(request)
        if not accepted:
            return password_page(request, form, status=400)
        return None
    if auth_is_recent(request):
        return None
    if request.method == "POST" and not holds_secret(request):
        form = PasswordConfirmForm(request, prefix=PREFIX)
        return password_page(request, form, status=403)
    return to_confirmation(request)


def hide_from_error_reports(request, name):
    """What `sensitive_post_parameters` does, for a field this wrapper adds to any view."""
    names = getattr(request, "sensitive_post_parameters", None) or []
    if names != "__ALL__":
        request.sensitive_post_parameters = [*names, name]


def holds_secret(request):
    """Whether the POST holds a secret: a field marked sensitive, or a key-shaped value."""
    names = getattr(request, "sensitive_post_parameters", None) or ()
    if names == "__ALL__":
        names = request.POST.keys()
    if any(request.POST.get(name) for name in names):
        return True
    return any(looks_like_key(v) for _, values in request.POST.lists() for v in values)


def carried_post(request):
    """The submitted fields without the CSRF token and the password (and never a secret)."""
    names = getattr(request, "sensitive_post_parameters", None) or ()
    # A bare @sensitive_post_parameters() marks every field ("__ALL__", a string: testing
    # names against it would be a substring test).
    secret = set(request.POST) if names == "__ALL__" else set(names)
    post = QueryDict(mutable=True)
    for name, values in request.POST.lists():
        kept = [v for v in values if not looks_like_key(v)]  # a key, marked or not
        if name in NOT_CARRIED or name in secret or looks_like_key(name):
            continue  # a key-shaped name would be written back too, as an input's name
        if kept:
            post.setlist(name, kept)
    post._mutable = False
    return post


def password_page(request, form, *, status):
    """The password form in place of the refused POST, carrying its fields back to it."""
    action = request.get_full_path()
    if looks_like_key(unquote(action)):  # never a key written back, not even in its URL
        query = query_without_keys(request.GET)
        action = f"{request.path}?{query}" if query else request.path
    context = {
        "form": form,
        "action": action,
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
