"""Applications and their access keys (the service's current model for machine access)."""

from functools import partial

from django.contrib import messages
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_GET, require_http_methods

from dmportal.accounts.reauth import recent_auth_required
from dmportal.accounts.services import active_connection, activity_record, api_client
from dmportal.core.flows import (
    Confirmation,
    confirm_then_write,
    form_then_write,
    secret_once,
    success,
)
from dmportal.core.htmx import is_partial
from dmportal.core.listing import list_response
from dmportal.dmapi import errors as api
from dmportal.dmapi import resources
from dmportal.dmapi.ids import is_id

from ..forms import (
    AccessKeyCreateForm,
    AccessKeyFilterForm,
    ApplicationCreateForm,
    ApplicationFilterForm,
    ApplicationForm,
    KeyVerifyForm,
    RotateForm,
)
from ..services import applications as service
from ..services import consequences
from ..services.applications import (
    KEYS_PER_APPLICATION,
    rotation_candidates,
    rotation_defaults,
)
from ..services.names import group_choices, group_directory, shown
from ..services.sections import guard, guarded
from .common import grouped_list, read, safe_next, status_asked, team_context, team_write

APPLICATION_COLUMNS = 5
ACCESS_KEY_COLUMNS = 6


def app_read(request, client, application_id):
    return read(request, "applications", resources.application_get, client, application_id)


def app_write(request, action, target, call, **kwargs):
    return team_write(request, "applications", action, target, call, **kwargs)


def to_app(request, message, application_id, *, level=messages.SUCCESS):
    """Back to the application's page, saying what happened."""
    return success(
        request, message, "application_detail", application_id=application_id, level=level
    )


@require_GET
def application_list(request):
    return grouped_list(
        request,
        "applications",
        resources.application_page,
        template="team/application_list.html",
        form=ApplicationFilterForm(request.GET),
        table_id="applications",
        columns=APPLICATION_COLUMNS,
    )


@require_http_methods(["GET", "POST"])
def application_create(request):
    client = api_client(request)
    form = ApplicationCreateForm(
        request.POST or None, groups=group_choices(group_directory(client))
    )

    def created(app):
        message = f"Application “{form.cleaned_data['name']}” created. Create its first access key."
        if is_id(str(app.get("id") or "")):
            return to_app(request, message, app["id"])
        return success(request, message, "application_list")

    return form_then_write(
        request,
        form=form,
        write=lambda data: app_write(
            request,
            "application.create",
            data["name"],
            partial(service.application_create, client=client, **data),
        ),
        done=created,
        template="team/application_form.html",
        context=team_context(request, "applications", creating=True),
    )


@require_GET
def application_detail(request, application_id):
    """The application and its access keys (the page's list: filter by status, load more)."""
    client = api_client(request)
    context = team_context(request, "applications", application_id=application_id)
    if not is_partial(request):
        app = app_read(request, client, application_id)
        groups = group_directory(client)
        member_of = [g for g in app.get("groups") or [] if isinstance(g, str)]
        context.update(
            app=app,
            app_groups=[(g, (groups.get(g) or {}).get("name") or g) for g in member_of],
            group_options=[c for c in group_choices(groups) if c[0] not in member_of],
            keys_per_application=KEYS_PER_APPLICATION,
        )
    return list_response(
        request,
        template="team/application_detail.html",
        form=AccessKeyFilterForm(request.GET),
        fetch=guarded(
            request, "applications", partial(resources.access_key_page, client, application_id)
        ),
        table_id="access-keys",
        columns=ACCESS_KEY_COLUMNS,
        context=context,
    )


@require_http_methods(["GET", "POST"])
def application_edit(request, application_id):
    client = api_client(request)
    app = app_read(request, client, application_id)
    form = ApplicationForm(
        request.POST or None,
        initial={"name": app.get("name") or "", "description": app.get("description") or ""},
    )
    return form_then_write(
        request,
        form=form,
        write=lambda data: app_write(
            request,
            "application.update",
            f"{shown(app.get('name'))} ({application_id})",
            partial(
                service.application_update, client=client, application_id=application_id, **data
            ),
            detail=f"name {data['name']}",
        ),
        done=lambda _: to_app(
            request, f"Application “{form.cleaned_data['name']}” saved.", application_id
        ),
        template="team/application_form.html",
        context=team_context(request, "applications", app=app, creating=False),
    )


def app_status_confirmation(request, client, app, name, status, application_id):
    """The confirmation page of (de)activating an application, and the message after it:
    what stops working (its access keys, when it was last used) or works again (its groups)."""
    cancel = reverse("application_detail", args=[application_id])
    if status == "ACTIVE":
        groups = group_directory(client) if request.method == "GET" else {}
        confirmation = Confirmation(
            title=f"Reactivate the application “{name}”?",
            explanation=(
                "Its active access keys are accepted again. Its clients must open their "
                "notification channels and subscriptions again."
            ),
            consequences=(
                consequences.key_works_again(
                    [(groups.get(g) or {}).get("name") or g for g in app.get("groups") or []]
                ),
            ),
            confirm_label="Reactivate the application",
            cancel_url=cancel,
            hidden=(("status", "ACTIVE"),),
            tone="primary",
        )
        message = (
            f"Application “{name}” is active again. Its clients must open their notification "
            "channels and subscriptions again."
        )
    else:
        # Read only for the page (a POST is the write, and its page is shown again only when
        # the write fails).
        keys = (
            resources.access_key_page(client, application_id, limit=50).items
            if request.method == "GET"
            else None
        )
        confirmation = Confirmation(
            title=f"Deactivate the application “{name}”?",
            explanation=(
                "Its access keys stop working. The service also clears the application's "
                "notification channels and subscriptions: when it is activated again, its "
                "clients must set them up again."
            ),
            consequences=(
                consequences.used_words(app.get("last_used_at"), "application") + ".",
                consequences.application_keys_stop(keys) if keys is not None else "",
            ),
            confirm_label="Deactivate the application",
            cancel_url=cancel,
            hidden=(("status", "INACTIVE"),),
        )
        message = (
            f"Application “{name}” deactivated: its access keys are refused. You can activate "
            "it again."
        )
    return confirmation, message


@require_http_methods(["GET", "POST"])
def application_status(request, application_id):
    """Deactivate or reactivate, after the confirmation page (what stops working: its access
    keys, when it was last used; what works again: its groups). The service clears an inactive
    application's channels and subscriptions."""
    client = api_client(request)
    status = status_asked(request, "application")
    app = app_read(request, client, application_id)
    name = shown(app.get("name"), application_id)
    write = app_write(
        request,
        "application.activate" if status == "ACTIVE" else "application.deactivate",
        f"{name} ({application_id})",
        partial(
            service.application_status_change,
            client=client,
            application_id=application_id,
            status=status,
        ),
    )
    confirmation, message = app_status_confirmation(
        request, client, app, name, status, application_id
    )
    return confirm_then_write(
        request,
        confirmation,
        write,
        done=lambda _: to_app(request, message, application_id),
        context=team_context(request, "applications"),
    )


@require_http_methods(["GET", "POST"])
@recent_auth_required  # its access keys are deleted with it
def application_delete(request, application_id):
    client = api_client(request)
    app = app_read(request, client, application_id)
    name = shown(app.get("name"), application_id)
    return confirm_then_write(
        request,
        Confirmation(
            title=f"Delete the application “{name}”?",
            explanation=(
                "Its access keys are deleted with it and anything using them is refused. This "
                "cannot be undone; deactivating the application instead can."
            ),
            consequences=(consequences.used_words(app.get("last_used_at"), "application") + ".",),
            confirm_label="Delete the application",
            cancel_url=reverse("application_detail", args=[application_id]),
        ),
        app_write(
            request,
            "application.delete",
            f"{name} ({application_id})",
            partial(service.application_delete, client=client, application_id=application_id),
        ),
        done=lambda _: success(
            request, f"Application “{name}” and its access keys deleted.", "application_list"
        ),
        context=team_context(request, "applications"),
    )


@require_http_methods(["GET", "POST"])
def application_groups(request, application_id):
    """Add the application to a policy group (POST), or remove it from one after the
    confirmation page (it loses the rights of that group at once)."""
    client = api_client(request)
    action = request.POST.get("action") or request.GET.get("action")
    group_id = request.POST.get("group") or request.GET.get("group") or ""
    if action not in ("add", "remove") or not is_id(group_id):
        return to_app(request, "Choose a policy group.", application_id, level=messages.ERROR)
    if action == "add" and request.method != "POST":
        return to_app(request, "Choose a policy group.", application_id, level=messages.ERROR)
    groups = group_directory(client)
    group_name = (groups.get(group_id) or {}).get("name") or group_id
    write = app_write(
        request,
        f"application.group_{action}",
        application_id,
        partial(
            service.application_groups_change,
            client=client,
            application_id=application_id,
            action=action,
            group_id=group_id,
        ),
        detail=f"{action} {group_name} ({group_id})",
    )
    if action == "add":
        write.run_or_raise(request)
        message = f"The application is now in the policy group “{group_name}”."
        return to_app(request, message, application_id)
    app = app_read(request, client, application_id)
    name = shown(app.get("name"), application_id)
    left = [g for g in app.get("groups") or [] if g != group_id]
    return confirm_then_write(
        request,
        Confirmation(
            title=f"Remove the application “{name}” from the policy group “{group_name}”?",
            explanation="You can add it back at any time.",
            consequences=(
                consequences.group_rights_lost(f"The application “{name}”", group_name),
                consequences.used_words(app.get("last_used_at"), "application")
                + ": its access keys can no longer do what this group allows.",
                "" if left else "It is then in no policy group: its access keys can do nothing.",
            ),
            confirm_label="Remove from the group",
            cancel_url=reverse("application_detail", args=[application_id]),
            hidden=(("action", "remove"), ("group", group_id)),
        ),
        write,
        done=lambda _: to_app(
            request,
            f"The application is no longer in the policy group “{group_name}”.",
            application_id,
        ),
        context=team_context(request, "applications"),
    )


# -- access keys ------------------------------------------------------------------------------


def access_key_page_context(request, client, application_id, **extra):
    """The application and its keys (one call each), for the pages that create a key."""
    with guard(request, "applications"):
        app = app_read(request, client, application_id)
        keys = resources.access_key_page(client, application_id, limit=50).items
    return (
        app,
        keys,
        team_context(
            request,
            "applications",
            app=app,
            key_count=len(keys),
            keys_per_application=KEYS_PER_APPLICATION,
            **extra,
        ),
    )


@sensitive_variables("context")
@require_http_methods(["GET", "POST"])
@recent_auth_required
def access_key_create(request, application_id):
    client = api_client(request)
    app, _, context = access_key_page_context(request, client, application_id)
    form = AccessKeyCreateForm(request.POST or None)
    context.update(form=form, flow="access_key")
    return secret_once(
        request,
        template="team/key_create.html",
        context=context,
        form=form,
        write=lambda data: app_write(
            request,
            "access_key.create",
            f"{shown(app.get('name'))} ({application_id})",
            partial(
                service.access_key_create,
                client=client,
                application_id=application_id,
                **form.api_fields(),
            ),
        ),
        shown=lambda key: {"created": key, "secret": key.get("key") or ""},
    )


def access_key_confirmation(key, name, status, back):
    """The confirmation page of (de)activating an access key, and the message after it."""
    if status == "ACTIVE":
        confirmation = Confirmation(
            title=f"Reactivate the access key “{name}”?",
            explanation=(
                "Calls made with it are accepted again, with the rights of its application's "
                "policy groups."
            ),
            confirm_label="Reactivate the key",
            cancel_url=back,
            hidden=(("status", "ACTIVE"), ("next", back)),
            tone="primary",
        )
        message = f"Access key “{name}” is active again."
    else:
        confirmation = Confirmation(
            title=f"Deactivate the access key “{name}”?",
            explanation="Calls made with it are refused until it is reactivated.",
            consequences=(consequences.key_stops(key.get("last_used_at"), "access key"),),
            confirm_label="Deactivate the key",
            cancel_url=back,
            hidden=(("status", "INACTIVE"), ("next", back)),
        )
        message = (
            f"Access key “{name}” deactivated: calls with it are refused. You can reactivate it "
            "here; delete it once nothing uses it any more."
        )
    return confirmation, message


@require_http_methods(["GET", "POST"])
def access_key_status(request, application_id, key_id):
    """Deactivate or reactivate an access key, after the confirmation page (when the key was
    last used; its application's groups). The rotation's last step posts here directly: its
    own page has said what deactivating the old key does."""
    client = api_client(request)
    status = status_asked(request, "access key")
    key = read(request, "applications", resources.access_key_get, client, application_id, key_id)
    name = shown(key.get("name"), key_id)
    back = safe_next(request, reverse("application_detail", args=[application_id]))
    write = app_write(
        request,
        "access_key.activate" if status == "ACTIVE" else "access_key.deactivate",
        f"{name} ({key_id})",
        partial(
            service.access_key_status_change,
            client=client,
            application_id=application_id,
            key_id=key_id,
            status=status,
        ),
    )
    confirmation, message = access_key_confirmation(key, name, status, back)
    return confirm_then_write(
        request,
        confirmation,
        write,
        done=lambda _: success(request, message, back),
        context=team_context(request, "applications"),
    )


@require_http_methods(["GET", "POST"])
@recent_auth_required
def access_key_delete(request, application_id, key_id):
    client = api_client(request)
    key = read(request, "applications", resources.access_key_get, client, application_id, key_id)
    name = shown(key.get("name"), key_id)
    return confirm_then_write(
        request,
        Confirmation(
            title=f"Delete the access key “{name}”?",
            explanation=(
                "Anything using this key is refused from now on. This cannot be undone; "
                "deactivating the key instead can."
            ),
            consequences=(consequences.key_stops(key.get("last_used_at"), "access key"),),
            warning=(
                "This key is active. If something still uses it, deactivate it first and wait."
                if key.get("status") == "ACTIVE"
                else ""
            ),
            confirm_label="Delete the access key",
            cancel_url=reverse("application_detail", args=[application_id]),
        ),
        app_write(
            request,
            "access_key.delete",
            f"{name} ({key_id})",
            partial(
                service.access_key_delete,
                client=client,
                application_id=application_id,
                key_id=key_id,
            ),
        ),
        done=lambda _: to_app(request, f"Access key “{name}” deleted.", application_id),
        context=team_context(request, "applications"),
    )


def check_record(request, check, key, key_id):
    """The activity entry of a check made with a new or pasted key (the key is not in it)."""
    activity_record(
        request,
        "access_key.check",
        target=f"{shown(key.get('name'))} ({key_id})",
        result="ok" if check.ok else "failed",
        detail=check.detail,
        upstream_request_id=check.request_id or "",
    )


@sensitive_variables("context")
@require_http_methods(["GET", "POST"])
@recent_auth_required  # creates an access key
def access_key_rotate(request, application_id):
    """Rotation: (1) create the new key and show it once, (2) check it with one call, made
    right away in the same request and never stored, (3) deactivate the old key, reversibly."""
    client = api_client(request)
    app, keys, context = access_key_page_context(request, client, application_id)
    active = rotation_candidates(keys)
    form = RotateForm(
        request.POST or None,
        old_keys=[(k["id"], shown(k.get("name"), k["id"])) for k in active],
        initial=rotation_defaults(active),
    )
    context.update(form=form, flow="rotate", has_active=bool(active))

    def rotated(rotation):
        created = rotation.created
        check_record(request, rotation.check, created, created.get("id"))
        return {
            "created": created,
            "secret": rotation.secret,
            "check": rotation.check,
            "old_key": next((k for k in active if k["id"] == rotation.old_key_id), None),
        }

    return secret_once(
        request,
        template="team/key_create.html",
        context=context,
        form=form,
        write=lambda data: app_write(
            request,
            "access_key.rotate_create",
            f"{shown(app.get('name'))} ({application_id})",
            partial(
                service.access_key_rotate,
                client=client,
                application_id=application_id,
                old_key_id=data["old_key"],
                **form.api_fields(),
            ),
        ),
        shown=rotated,
    )


@sensitive_post_parameters("key")
@sensitive_variables("form", "pasted")
@require_http_methods(["GET", "POST"])
def access_key_verify(request, application_id, key_id):
    """Check that a key works: paste it, dmportal makes one call with it and forgets it."""
    client = api_client(request)
    key = read(request, "applications", resources.access_key_get, client, application_id, key_id)
    old_id = request.POST.get("old") or request.GET.get("old") or ""
    old_key = None
    if is_id(old_id) and old_id != key_id:
        try:
            old_key = read(request, None, resources.access_key_get, client, application_id, old_id)
        except api.NotFound:
            old_key = None  # already deleted: nothing left to deactivate
    form = KeyVerifyForm(request.POST or None)
    context = team_context(
        request, "applications", key=key, form=form, application_id=application_id, old_key=old_key
    )
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            pasted = form.cleaned_data["key"]
            host = active_connection(request).api_host
            check = service.access_key_check(host=host, key_id=key_id, pasted=pasted)
            check_record(request, check, key, key_id)
            context["check"] = check
            status = 200
    template = "team/access_key_verify.html"
    if is_partial(request):
        template += "#result"
    return render(request, template, context, status=status)
