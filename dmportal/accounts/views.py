import time
from functools import wraps

from django.contrib import messages
from django.contrib.auth.views import LoginView
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from .forms import ConnectionEditForm, ConnectionForm, PasswordConfirmForm, PreferencesForm
from .models import ActivityEntry, Connection
from .services import (
    KeyCheckFailed,
    active_connection,
    activity_record,
    connection_create,
    connection_switch,
    connection_update,
    user_preferences,
)
from .signals import SESSION_AUTH_AT

RECENT_AUTH_SECONDS = 10 * 60


class SignInView(LoginView):
    template_name = "registration/login.html"
    redirect_authenticated_user = True


def recent_auth_required(view):
    """Storing or replacing an API key needs the password entered in the last 10 minutes."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        auth_at = request.session.get(SESSION_AUTH_AT, 0)
        if time.time() - auth_at > RECENT_AUTH_SECONDS:
            return redirect(f"{reverse('password_confirm')}?next={request.get_full_path()}")
        return view(request, *args, **kwargs)

    return wrapper


@sensitive_post_parameters("password")
@require_http_methods(["GET", "POST"])
def password_confirm(request):
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        next_url = reverse("connection_list")
    form = PasswordConfirmForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        request.session[SESSION_AUTH_AT] = time.time()
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
            connection = connection_create(
                user=request.user,
                label=data["label"],
                api_host=data["api_host"],
                api_key=data["api_key"],
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
            activity_record(request, "connection.add", target=connection.label)
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
        try:
            connection_update(connection, label=data["label"], api_key=data["api_key"] or None)
        except KeyCheckFailed as exc:
            connection.label = old_label
            form.add_error(exc.field if exc.field in form.fields else "api_key", exc.message)
            form.upstream_request_id = exc.request_id
            activity_record(
                request,
                "connection.replace_key" if data["api_key"] else "connection.rename",
                target=old_label,
                result="failed",
                detail=exc.message,
                upstream_request_id=exc.request_id,
            )
        else:
            action = "connection.replace_key" if data["api_key"] else "connection.rename"
            activity_record(request, action, target=connection.label)
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
def connection_delete(request, pk):
    connection = own_connection(request, pk)
    if request.method == "POST":
        label = connection.label
        connection.delete()
        activity_record(request, "connection.remove", target=label)
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


@require_POST
def connection_switch_view(request):
    try:
        pk = int(request.POST.get("connection", ""))
    except ValueError:
        pk = 0
    connection = own_connection(request, pk)
    connection_switch(user=request.user, connection=connection)
    activity_record(request, "connection.switch", target=connection.label)
    messages.info(request, f"Now using “{connection.label}”.")
    back = request.POST.get("next") or request.headers.get("Referer") or ""
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = reverse("home")
    return redirect(back)


@require_http_methods(["GET", "POST"])
def preferences(request):
    prefs = user_preferences(request.user)
    form = PreferencesForm(request.POST or None, initial={"timezone": prefs.timezone})
    if request.method == "POST" and form.is_valid():
        prefs.timezone = form.cleaned_data["timezone"]
        prefs.save(update_fields=["timezone"])
        messages.success(request, f"Times are now shown in {prefs.timezone}.")
        return redirect("preferences")
    return render(request, "accounts/preferences.html", {"form": form})


@require_GET
def activity_list(request):
    entries = ActivityEntry.objects.filter(user=request.user)
    return render(request, "accounts/activity_list.html", {"entries": entries[:200]})
