from functools import partial

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.views import LoginView
from django.db import transaction
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from dmportal.core.listing import Keyset, list_response
from dmportal.core.redirects import same_site_url
from dmportal.dmapi.ids import parse_number

from .activity import activity_visible
from .forms import (
    ActivityForm,
    ColoursForm,
    ConnectionEditForm,
    ConnectionForm,
    PasswordChangeForm,
    PasswordConfirmForm,
    PreferencesForm,
    SignInForm,
)
from .models import Connection
from .reauth import TOO_MANY, password_accepted, recent_auth_required, signed_out_response
from .services import (
    KeyCheckFailed,
    active_connection,
    activity_record,
    api_client,
    connection_create,
    connection_switch,
    connection_update,
    key_role,
    key_verify,
    user_preferences,
)


class SignInView(LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True
    authentication_form = SignInForm

    def form_valid(self, form):
        # Signing in writes the new session's row, the last sign-in time, the throttle's log
        # and the activity entry: all of them or none (a database that fails half-way is a 503,
        # and the session cookie is not sent with a 5xx). Not the session's content (who is
        # signed in): SessionMiddleware saves it after this has committed. If that save fails,
        # the answer is a 503 without the cookie, so nobody is signed in, but the sign-in stays
        # recorded (last sign-in time, activity entry, throttle's log, an unused session row).
        with transaction.atomic():
            return super().form_valid(form)

    def form_invalid(self, form):
        if form.verdict is not None and form.verdict.paused:
            return paused_response(self.request, form.verdict)
        return super().form_invalid(form)


def paused_response(request, verdict):
    """The password throttle refused (throttle.py): 429, and when to try again."""
    response = render(request, "registration/locked_out.html", status=429)
    if verdict.wait:
        response["Retry-After"] = str(verdict.wait)
    return response


@method_decorator(sensitive_post_parameters(), name="dispatch")
class PasswordChangeView(auth_views.PasswordChangeView):
    """Django's password change, through the password throttle and audited: a success (which
    signs out the user's other sessions) and every wrong old password are activity entries;
    reaching the throttle's limit signs this session out too."""

    form_class = PasswordChangeForm
    success_url = "/accounts/password/done/"

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "request": self.request}

    def form_valid(self, form):
        response = super().form_valid(form)  # update_session_auth_hash: the others end
        activity_record(self.request, "password.change")
        return response

    def form_invalid(self, form):
        verdict = form.verdict
        if verdict is not None and not verdict.ok:
            detail = "checks paused" if verdict.paused else "wrong old password"
            activity_record(self.request, "password.change", result="failed", detail=detail)
            if verdict.paused:
                logout(self.request)
                messages.error(self.request, TOO_MANY)
                return redirect(settings.LOGIN_URL)
        return super().form_invalid(form)


@sensitive_post_parameters("password")
@require_http_methods(["GET", "POST"])
def password_confirm(request):
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    next_url = same_site_url(request, next_url, reverse("connection_list"))
    form = PasswordConfirmForm(request, request.POST or None)
    if request.method == "POST":
        accepted = password_accepted(request, form)
        if accepted is None:
            return signed_out_response(request)
        if accepted:
            return redirect(next_url)
    return render(request, "accounts/password_confirm.html", {"form": form, "next": next_url})


def own_connection(request, pk):
    """A connection of the signed-in user, or 404 (never someone else's)."""
    return get_object_or_404(Connection, pk=pk, user=request.user)


@require_GET
def connection_list(request):
    connections = list(request.user.connections.all())
    active = active_connection(request)
    return render(
        request,
        "accounts/connection_list.html",
        {"connections": connections, "active": active, "nav": "connections"},
    )


@sensitive_post_parameters("api_key")
@require_http_methods(["GET", "POST"])
@recent_auth_required
def connection_add(request):
    form = ConnectionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        try:
            # The key check (up to two API calls, with retries: seconds) runs before the
            # transaction, so no database lock or connection is held while it waits. Then the
            # connection and its activity entry are saved together or not at all.
            facts = key_verify(data["api_host"], data["api_key"])
            with transaction.atomic():
                connection = connection_create(
                    user=request.user,
                    label=data["label"],
                    api_host=data["api_host"],
                    api_key=data["api_key"],
                    facts=facts,
                )
                activity_record(
                    request,
                    "connection.add",
                    target=connection.label,
                    detail=f"key {connection.key_hint}",
                )
        except KeyCheckFailed as exc:
            form.add_error(exc.field, exc.message)
            form.upstream_request_id = exc.request_id
            activity_record(
                request,
                "connection.add",
                target=data["label"],
                result="failed",
                detail=exc.message,
                upstream_request_id=exc.request_id,
            )
        else:
            request._dm_connection = connection
            messages.success(
                request,
                f"Connection “{connection.label}” added: it reaches "
                f"{connection.account_name or connection.account_id or 'its account'}.",
            )
            return redirect("connection_list")
    return render(request, "accounts/connection_form.html", {"form": form, "adding": True})


@sensitive_post_parameters("api_key")
@require_http_methods(["GET", "POST"])
@recent_auth_required
def connection_edit(request, pk):
    connection = own_connection(request, pk)
    form = ConnectionEditForm(request.POST or None, initial={"label": connection.label})
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        old_label = connection.label
        action = "connection.replace_key" if data["api_key"] else "connection.rename"
        try:
            # The new key is checked before the transaction (see connection_add), then the
            # change and its activity entry are saved, or neither.
            facts = key_verify(connection.api_host, data["api_key"]) if data["api_key"] else None
            with transaction.atomic():
                # Removed (in another tab) while the key was checked: 404, nothing written.
                get_object_or_404(Connection.objects.select_for_update(), pk=pk, user=request.user)
                connection_update(
                    connection, label=data["label"], api_key=data["api_key"] or None, facts=facts
                )
                activity_record(
                    request, action, target=connection.label, detail=f"key {connection.key_hint}"
                )
        except KeyCheckFailed as exc:
            connection.label = old_label
            form.add_error(exc.field if exc.field in form.fields else "api_key", exc.message)
            form.upstream_request_id = exc.request_id
            activity_record(
                request,
                action,
                target=old_label,
                result="failed",
                detail=exc.message,
                upstream_request_id=exc.request_id,
            )
        else:
            messages.success(
                request,
                f"Connection “{connection.label}” "
                + ("now uses the new key." if data["api_key"] else "saved."),
            )
            return redirect("connection_list")
    return render(
        request,
        "accounts/connection_form.html",
        {"form": form, "connection": connection, "adding": False},
    )


@require_http_methods(["GET", "POST"])
@recent_auth_required
def connection_delete(request, pk):
    connection = own_connection(request, pk)
    if request.method == "POST":
        label = connection.label
        with transaction.atomic():
            connection.delete()
            activity_record(
                request, "connection.remove", target=label, detail=f"key {connection.key_hint}"
            )
        messages.success(request, f"Connection “{label}” removed. Its key was erased.")
        return redirect("connection_list")
    return render(
        request,
        "core/confirm.html",
        {
            "title": f"Remove the connection “{connection.label}”?",
            "explanation": (
                "dmportal erases its encrypted copy of the key. The key itself stays valid in "
                "Device Management; deactivate it there if it should stop working."
            ),
            "confirm_label": "Remove connection",
            "cancel_url": reverse("connection_list"),
        },
    )


def where_words(connection):
    """ "“Acme production”: Acme Corp, api.us-east-1.mbedcloud.com, administrator key"."""
    account = connection.account_name or connection.account_id or "account not known"
    return f"“{connection.label}”: {account}, {connection.host_name}, {connection.role_words}"


def back_to(request):
    back = request.POST.get("next") or request.headers.get("Referer") or ""
    return redirect(same_site_url(request, back, reverse("home")))


@require_POST
def connection_switch_view(request):
    """Switching asks nothing (it changes nothing in any account), and says where you are now."""
    pk = parse_number(request.POST.get("connection", "")) or 0
    connection = own_connection(request, pk)
    connection_switch(user=request.user, connection=connection)
    request._dm_connection = connection  # the activity entry names the new connection
    activity_record(request, "connection.switch", target=connection.label)
    messages.info(request, f"You are now on {where_words(connection)}.")
    return back_to(request)


@require_POST
def connection_check_role(request):
    """Ask the API what the active connection's key is (one call, through the active
    connection's client like every page) and keep the answer on the connection."""
    connection = active_connection(request)
    if connection is None:
        return redirect("connection_add")
    role = key_role(api_client(request))
    if role:
        Connection.objects.filter(pk=connection.pk).update(key_role=role)
        connection.key_role = role
        messages.info(request, f"You are on {where_words(connection)}.")
    else:
        messages.warning(
            request,
            f"The API did not say which policy groups the key of “{connection.label}” is in "
            "(an access key of an application may not ask). Its role stays unknown.",
        )
    return back_to(request)


@require_http_methods(["GET", "POST"])
def preferences(request):
    """The time zone, and the colour of each connection in the header (two forms, one page)."""
    prefs = user_preferences(request.user)
    connections = list(request.user.connections.all())
    posted = request.POST if request.method == "POST" else None
    form = PreferencesForm(
        posted if posted and "colours" not in posted else None,
        initial={"timezone": prefs.timezone},
    )
    colours = ColoursForm(connections, posted if posted and "colours" in posted else None)
    if colours.is_bound and colours.is_valid():
        for connection in connections:
            colour = colours.cleaned_data[f"colour-{connection.pk}"]
            if colour != connection.colour:
                Connection.objects.filter(pk=connection.pk).update(colour=colour)
        messages.success(request, "Connection colours saved: the header shows them.")
        return redirect("preferences")
    if form.is_bound and form.is_valid():
        prefs.timezone = form.cleaned_data["timezone"]
        prefs.save(update_fields=["timezone"])
        messages.success(request, f"Times are now shown in {prefs.timezone}.")
        return redirect("preferences")
    status = 400 if form.errors or colours.errors else 200
    return render(
        request, "accounts/preferences.html", {"form": form, "colours": colours}, status=status
    )


ACTIVITY = Keyset("created_at", "pk")  # newest first; entries at one moment by their pk


@require_GET
def activity_list(request):
    """The signed-in user's own entries, newest first, with the failed sign-ins typed with their
    user name (someone trying their password); "load more" walks a keyset cursor on
    (created_at, pk), so entries added meanwhile neither repeat nor shift the pages."""
    return list_response(
        request,
        template="accounts/activity_list.html",
        form=ActivityForm(request.GET),
        fetch=partial(activity_visible, user=request.user, zone=timezone.get_current_timezone()),
        keyset=ACTIVITY,
        table_id="activity",
        columns=7,
    )
