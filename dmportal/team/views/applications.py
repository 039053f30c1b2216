"""Applications and their access keys (the service's current model for machine access)."""

from datetime import date
from functools import partial

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from dmportal.accounts.reauth import recent_auth_required
from dmportal.accounts.services import activity_record, api_client
from dmportal.core.listing import list_response
from dmportal.dmapi import errors as api
from dmportal.dmapi import resources

from ..forms import (
    AccessKeyCreateForm,
    AccessKeyFilterForm,
    ApplicationCreateForm,
    ApplicationFilterForm,
    ApplicationForm,
    ConfirmForm,
    KeyVerifyForm,
    RotateForm,
)
from ..services import (
    group_choices,
    group_directory,
    guard,
    guarded,
    key_check,
    once_consume,
    once_issue,
    once_release,
    perform,
    perform_or_raise,
    shown,
)
from .common import (
    confirm_page,
    error_status,
    is_partial,
    pinned,
    safe_next,
    team_context,
    with_names,
)
from .users import names_of_groups

APPLICATION_COLUMNS = 5
ACCESS_KEY_COLUMNS = 6
KEYS_PER_APPLICATION = 2  # "You can create up to two access keys per application"


@require_GET
def application_list(request):
    client = api_client(request)
    names = {}
    return list_response(
        request,
        template="team/application_list.html",
        form=ApplicationFilterForm(request.GET),
        fetch=guarded(
            request,
            "applications",
            with_names(resources.application_page, client, names, names_of_groups),
        ),
        table_id="applications",
        columns=APPLICATION_COLUMNS,
        context=team_context(request, "applications", group_names=names),
    )


@require_http_methods(["GET", "POST"])
def application_create(request):
    client = api_client(request)
    groups = group_directory(client)
    form = ApplicationCreateForm(request.POST or None, groups=group_choices(groups))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        app, error = perform(
            request,
            "application.create",
            data["name"],
            lambda: resources.application_create(
                client, name=data["name"], description=data["description"], groups=data["groups"]
            ),
            section="applications",
            form=form,
        )
        if error is None:
            messages.success(
                request, f"Application “{data['name']}” created. Create its first access key."
            )
            if resources.ID.match(str(app.get("id") or "")):
                return redirect("application_detail", application_id=app["id"])
            return redirect("application_list")
    return render(
        request,
        "team/application_form.html",
        team_context(request, "applications", form=form, creating=True),
        status=error_status(form),
    )


@require_GET
def application_detail(request, application_id):
    """The application and its access keys (the page's list: filter by status, load more)."""
    client = api_client(request)
    context = team_context(request, "applications", application_id=application_id)
    if not is_partial(request):
        with guard(request, "applications"):
            app = pinned(resources.application_get(client, application_id), application_id)
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
    with guard(request, "applications"):
        app = pinned(resources.application_get(client, application_id), application_id)
    form = ApplicationForm(
        request.POST or None,
        initial={"name": app.get("name") or "", "description": app.get("description") or ""},
    )
    if request.method == "POST" and form.is_valid():
        changes = dict(form.cleaned_data)
        _, error = perform(
            request,
            "application.update",
            f"{shown(app.get('name'))} ({application_id})",
            lambda: resources.application_update(client, application_id, changes),
            section="applications",
            form=form,
            detail=f"name {changes['name']}",
        )
        if error is None:
            messages.success(request, f"Application “{changes['name']}” saved.")
            return redirect("application_detail", application_id=application_id)
    return render(
        request,
        "team/application_form.html",
        team_context(request, "applications", form=form, app=app, creating=False),
        status=error_status(form),
    )


@require_http_methods(["GET", "POST"])
def application_status(request, application_id):
    """Activate (POST), or deactivate after the confirmation page: the service clears an
    inactive application's channels and subscriptions."""
    client = api_client(request)
    status = (request.POST.get("status") or request.GET.get("status") or "").upper()
    if status not in resources.APPLICATION_STATUSES:
        status = "INACTIVE"
    with guard(request, "applications"):
        app = pinned(resources.application_get(client, application_id), application_id)
    name = shown(app.get("name"), application_id)
    form = ConfirmForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        _, error = perform(
            request,
            "application.activate" if status == "ACTIVE" else "application.deactivate",
            f"{name} ({application_id})",
            lambda: resources.application_update(client, application_id, {"status": status}),
            section="applications",
            form=form,
        )
        if error is None:
            if status == "ACTIVE":
                messages.success(
                    request,
                    f"Application “{name}” is active again. Its clients must open their "
                    "notification channels and subscriptions again.",
                )
            else:
                messages.success(
                    request,
                    f"Application “{name}” deactivated: its access keys are refused. You can "
                    "activate it again.",
                )
            return redirect("application_detail", application_id=application_id)
        if status == "ACTIVE":
            raise error  # an activation comes from a plain button: show the error page
    return confirm_page(
        request,
        "applications",
        title=f"Deactivate the application “{name}”?",
        explanation=(
            "Its access keys stop working. The service also clears the application's "
            "notification channels and subscriptions: when it is activated again, its clients "
            "must set them up again."
        ),
        confirm_label="Deactivate the application",
        cancel_url=reverse("application_detail", args=[application_id]),
        form=form,
        hidden=[("status", "INACTIVE")],
        status=error_status(form),
    )


@require_http_methods(["GET", "POST"])
@recent_auth_required  # its access keys are deleted with it
def application_delete(request, application_id):
    client = api_client(request)
    with guard(request, "applications"):
        app = pinned(resources.application_get(client, application_id), application_id)
    name = shown(app.get("name"), application_id)
    form = ConfirmForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        _, error = perform(
            request,
            "application.delete",
            f"{name} ({application_id})",
            lambda: resources.application_delete(client, application_id),
            section="applications",
            form=form,
        )
        if error is None:
            messages.success(request, f"Application “{name}” and its access keys deleted.")
            return redirect("application_list")
    return confirm_page(
        request,
        "applications",
        title=f"Delete the application “{name}”?",
        explanation=(
            "Its access keys are deleted with it and anything using them is refused. This "
            "cannot be undone; deactivating the application instead can."
        ),
        confirm_label="Delete the application",
        cancel_url=reverse("application_detail", args=[application_id]),
        form=form,
        status=error_status(form),
    )


@require_POST
def application_groups(request, application_id):
    """Add the application to a policy group, or remove it from one."""
    client = api_client(request)
    action = request.POST.get("action")
    group_id = request.POST.get("group", "")
    if action not in ("add", "remove") or not resources.ID.match(group_id):
        messages.error(request, "Choose a policy group.")
        return redirect("application_detail", application_id=application_id)
    groups = group_directory(client)
    group_name = (groups.get(group_id) or {}).get("name") or group_id
    perform_or_raise(
        request,
        f"application.group_{action}",
        application_id,
        lambda: resources.application_groups_change(client, application_id, action, [group_id]),
        section="applications",
        detail=f"{action} {group_name} ({group_id})",
    )
    if action == "add":
        messages.success(request, f"The application is now in the policy group “{group_name}”.")
    else:
        messages.success(
            request, f"The application is no longer in the policy group “{group_name}”."
        )
    return redirect("application_detail", application_id=application_id)


# -- access keys ------------------------------------------------------------------------------


def _secret_form_view(request, *, template, context, form, create, action, target):
    """The create-and-show-once flow shared by "new access key" and "rotate".

    `create()` returns the created key (with its secret) or raises an ApiError. Returns
    (created record or None, response status); the context gets what the template shows.
    """
    if request.method != "POST":
        return None, 200
    token = request.POST.get("once", "")
    if not form.is_valid():
        return None, 400
    state = once_consume(request, token)
    if state == "spent":
        context["spent"] = True
        return None, 409
    if state == "unknown":
        form.add_error(
            None,
            "This form had expired, so nothing was created. Check the values and submit again.",
        )
        return None, 400
    created, error = perform(request, action, target, create, section="applications", form=form)
    if error is not None:
        once_release(request, token)
        return None, error_status(form)
    return created, 201


def _render_secret_form(request, template, context, status):
    if "created" not in context and "spent" not in context:
        context["once"] = once_issue(request)
    if is_partial(request):
        template += "#panel"
    return render(request, template, context, status=status)


@sensitive_variables("created", "context")
@require_http_methods(["GET", "POST"])
@recent_auth_required
def access_key_create(request, application_id):
    client = api_client(request)
    with guard(request, "applications"):
        app = pinned(resources.application_get(client, application_id), application_id)
        keys = resources.access_key_page(client, application_id, limit=50).items
    form = AccessKeyCreateForm(request.POST or None)
    context = team_context(
        request,
        "applications",
        app=app,
        form=form,
        key_count=len(keys),
        keys_per_application=KEYS_PER_APPLICATION,
    )
    created, status = _secret_form_view(
        request,
        template="team/access_key_create.html",
        context=context,
        form=form,
        create=lambda: resources.access_key_create(client, application_id, **form.api_fields()),
        action="access_key.create",
        target=f"{shown(app.get('name'))} ({application_id})",
    )
    if created is not None:
        context.update(created=created, secret=created.get("key") or "")
    return _render_secret_form(request, "team/access_key_create.html", context, status)


@require_POST
def access_key_status(request, application_id, key_id):
    """Deactivate or reactivate an access key (reversible, so no confirmation step)."""
    client = api_client(request)
    status = (request.POST.get("status") or "").upper()
    if status not in ("ACTIVE", "INACTIVE"):
        messages.error(request, "An access key is either activated or deactivated.")
        return redirect("application_detail", application_id=application_id)
    key = perform_or_raise(
        request,
        "access_key.activate" if status == "ACTIVE" else "access_key.deactivate",
        lambda key: f"{shown(key.get('name'))} ({key_id})" if key else key_id,
        lambda: resources.access_key_update(client, application_id, key_id, {"status": status}),
        section="applications",
    )
    name = shown(key.get("name"), key_id)
    if status == "ACTIVE":
        messages.success(request, f"Access key “{name}” is active again.")
    else:
        messages.success(
            request,
            f"Access key “{name}” deactivated: calls with it are refused. You can reactivate it "
            "here; delete it once nothing uses it any more.",
        )
    return redirect(safe_next(request, reverse("application_detail", args=[application_id])))


@require_http_methods(["GET", "POST"])
@recent_auth_required
def access_key_delete(request, application_id, key_id):
    client = api_client(request)
    with guard(request, "applications"):
        key = pinned(resources.access_key_get(client, application_id, key_id), key_id)
    name = shown(key.get("name"), key_id)
    form = ConfirmForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        _, error = perform(
            request,
            "access_key.delete",
            f"{name} ({key_id})",
            lambda: resources.access_key_delete(client, application_id, key_id),
            section="applications",
            form=form,
        )
        if error is None:
            messages.success(request, f"Access key “{name}” deleted.")
            return redirect("application_detail", application_id=application_id)
    return confirm_page(
        request,
        "applications",
        title=f"Delete the access key “{name}”?",
        explanation=(
            "Anything using this key is refused from now on. This cannot be undone; "
            "deactivating the key instead can."
        ),
        warning=(
            "This key is active. If something still uses it, deactivate it first and wait."
            if key.get("status") == "ACTIVE"
            else ""
        ),
        confirm_label="Delete the access key",
        cancel_url=reverse("application_detail", args=[application_id]),
        form=form,
        status=error_status(form),
    )


@sensitive_variables("created", "context", "secret")
@require_http_methods(["GET", "POST"])
@recent_auth_required  # creates an access key
def access_key_rotate(request, application_id):
    """Rotation: (1) create the new key and show it once, (2) check it with one call, made
    right away in the same request and never stored, (3) deactivate the old key, reversibly."""
    client = api_client(request)
    with guard(request, "applications"):
        app = pinned(resources.application_get(client, application_id), application_id)
        keys = resources.access_key_page(client, application_id, limit=50).items
    active = [
        k
        for k in keys
        if k.get("status") == "ACTIVE" and resources.ID.match(str(k.get("id") or ""))
    ]
    initial = {}
    if active:
        initial = {
            "old_key": active[0]["id"],
            "name": f"{active[0].get('name') or 'key'} (rotated {date.today().isoformat()})"[:100],
        }
    form = RotateForm(
        request.POST or None,
        old_keys=[(k["id"], shown(k.get("name"), k["id"])) for k in active],
        initial=initial,
    )
    context = team_context(
        request,
        "applications",
        app=app,
        form=form,
        has_active=bool(active),
        key_count=len(keys),
        keys_per_application=KEYS_PER_APPLICATION,
    )
    created, status = _secret_form_view(
        request,
        template="team/access_key_rotate.html",
        context=context,
        form=form,
        create=lambda: resources.access_key_create(client, application_id, **form.api_fields()),
        action="access_key.rotate_create",
        target=f"{shown(app.get('name'))} ({application_id})",
    )
    if created is not None:
        secret = created.get("key") or ""
        check = key_check(request, secret)
        activity_record(
            request,
            "access_key.check",
            target=f"{shown(created.get('name'))} ({created.get('id')})",
            result="ok" if check.ok else "failed",
            detail=check.message or f"reached account {check.account_id}",
            upstream_request_id=check.request_id or "",
        )
        old_id = form.cleaned_data["old_key"]
        context.update(
            created=created,
            secret=secret,
            check=check,
            old_key=next((k for k in active if k["id"] == old_id), None),
        )
    return _render_secret_form(request, "team/access_key_rotate.html", context, status)


@sensitive_post_parameters("key")
@sensitive_variables("form", "key")
@require_http_methods(["GET", "POST"])
def access_key_verify(request, application_id, key_id):
    """Check that a key works: paste it, dmportal makes one call with it and forgets it."""
    client = api_client(request)
    with guard(request, "applications"):
        key = pinned(resources.access_key_get(client, application_id, key_id), key_id)
    old_id = request.POST.get("old") or request.GET.get("old") or ""
    old_key = None
    if resources.ID.match(old_id) and old_id != key_id:
        try:
            old_key = pinned(resources.access_key_get(client, application_id, old_id), old_id)
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
            check = key_check(request, pasted)
            # The public part of a key ends with its id: a different id means another key.
            check.other_key = key_id not in pasted
            activity_record(
                request,
                "access_key.check",
                target=f"{shown(key.get('name'))} ({key_id})",
                result="ok" if check.ok else "failed",
                detail=check.message or f"reached account {check.account_id}",
                upstream_request_id=check.request_id or "",
            )
            context["check"] = check
            status = 200
    template = "team/access_key_verify.html"
    if is_partial(request):
        template += "#result"
    return render(request, template, context, status=status)
