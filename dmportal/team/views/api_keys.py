"""API keys of the account (the legacy model, still valid)."""

from datetime import timedelta

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_GET, require_http_methods

from dmportal.accounts.reauth import recent_auth_required
from dmportal.accounts.services import active_connection, api_client
from dmportal.core.listing import list_response
from dmportal.core.templatetags.dm import parse_when
from dmportal.dmapi import errors as api
from dmportal.dmapi import resources
from dmportal.dmapi.pages import Page

from ..forms import ApiKeyCreateForm, ApiKeyFilterForm, ConfirmForm, RenameForm, SelfKeyConfirmForm
from ..services import (
    denials,
    group_choices,
    group_directory,
    group_names,
    guard_if,
    once_consume,
    once_issue,
    once_release,
    perform,
    perform_or_raise,
    shown,
    user_directory,
)
from .common import confirm_page, error_status, is_partial, pinned, safe_next, team_context

KEY_COLUMNS = 8
UNUSED_DAYS = 90


def key_facts(key, *, users, this_key_id, now=None):
    """What the table and detail page say about a key beyond its fields."""
    now = now or timezone.now()
    last = key.get("last_login_time")
    last_used = parse_when(last) if isinstance(last, int | float) and last > 0 else None
    created = parse_when(key.get("created_at") or key.get("creation_time"))
    since = last_used or created
    owner = (users or {}).get(key.get("owner")) if key.get("owner") else None
    return {
        "last_used": last_used,
        "unused": since is not None and now - since > timedelta(days=UNUSED_DAYS),
        "never_used": last_used is None,
        "owner": owner,
        "owner_inactive": bool(owner) and owner.get("status") == "INACTIVE",
        "this_connection": bool(this_key_id) and key.get("id") == this_key_id,
    }


def this_key_id(request):
    connection = active_connection(request)
    return connection.key_id if connection is not None else ""


def key_section(request, key_id):
    """The section a call on this key belongs to: a key may manage itself even where the API
    refuses it the other keys, so calls on its own key neither note nor clear that refusal."""
    return None if key_id == this_key_id(request) else "api_keys"


def key_guard(request, key_id):
    return guard_if(request, key_section(request, key_id))


def key_by_public_part(client, public, *, owner=None):
    """The key filter, as a look-up of the key whose id its public part ends with (then
    compared whole): no key string is ever sent in a query string, nor written to a log."""
    try:
        key = resources.api_key_get(client, public[-32:])
    except api.NotFound as exc:
        return Page(items=[], total_count=0, request_id=exc.request_id)
    match = key.get("key") == public and (owner is None or key.get("owner") == owner)
    items = [key] if match else []
    return Page(items=items, total_count=len(items), request_id=key.request_id)


@require_GET
def api_key_list(request):
    client = api_client(request)
    form = ApiKeyFilterForm(request.GET)
    form.is_valid()
    form.forget_secret()
    facts, names = {}, {}
    own = this_key_id(request)

    def fetch(*, filters, **kwargs):
        filters = dict(filters)
        public = filters.pop("key__eq", None)
        if public is not None:
            page = key_by_public_part(client, public, owner=filters.get("owner__eq"))
        else:
            page = resources.api_key_page(client, filters=filters, **kwargs)
        # One call for owners (emails, inactive owners), one for group names: per page.
        users = user_directory(request, client) if any(k.get("owner") for k in page.items) else {}
        if any(k.get("groups") for k in page.items):
            names.update(group_names(client))
        facts["users_known"] = users is not None
        for key in page.items:
            facts[key.get("id")] = key_facts(key, users=users, this_key_id=own)
        return page

    return list_response(
        request,
        template="team/api_key_list.html",
        form=form,
        fetch=fetch,
        table_id="api-keys",
        columns=KEY_COLUMNS,
        context=team_context(
            request, "api_keys", facts=facts, group_names=names, unused_days=UNUSED_DAYS
        ),
    )


@require_GET
def api_key_detail(request, key_id):
    client = api_client(request)
    with key_guard(request, key_id):
        key = pinned(resources.api_key_get(client, key_id), key_id)
    names = group_names(client) if key.get("groups") else {}
    users = None
    if key.get("owner") and not denials(request)["users"]:
        users = user_directory(request, client)
    return render(
        request,
        "team/api_key_detail.html",
        team_context(
            request,
            "api_keys",
            key=key,
            group_names=names,
            facts=key_facts(key, users=users, this_key_id=this_key_id(request)),
            unused_days=UNUSED_DAYS,
        ),
    )


@sensitive_variables("created", "context")
@require_http_methods(["GET", "POST"])
@recent_auth_required
def api_key_create(request):
    """Create a key and show its secret once; see team.services for the one-time token."""
    client = api_client(request)
    users = user_directory(request, client)
    user_choices = None
    if users is not None:
        user_choices = sorted(
            (
                (uid, shown(u.get("email"), uid))
                for uid, u in users.items()
                if resources.ID.match(uid)
            ),
            key=lambda c: c[1].lower(),
        )
    groups = group_directory(client)
    form = ApiKeyCreateForm(request.POST or None, users=user_choices, groups=group_choices(groups))
    context = team_context(request, "api_keys", form=form)
    status = 200
    if request.method == "POST":
        token = request.POST.get("once", "")
        status = 400
        if form.is_valid():
            state = once_consume(request, token)
            if state == "spent":
                context["spent"] = True
                status = 409
            elif state == "unknown":
                form.add_error(
                    None,
                    "This form had expired, so nothing was created. Check the values and create "
                    "the key again.",
                )
            else:
                data = form.cleaned_data
                created, error = perform(
                    request,
                    "api_key.create",
                    data["name"],
                    lambda: resources.api_key_create(
                        client, name=data["name"], owner=data.get("owner"), groups=data["groups"]
                    ),
                    section="api_keys",
                    form=form,
                    detail=f"groups: {', '.join(data['groups']) or 'default'}",
                )
                if error is None:
                    context.update(created=created, secret=created.get("key") or "")
                    status = 201
                else:
                    once_release(request, token)
                    status = error_status(form)
    if "created" not in context and "spent" not in context:
        context["once"] = once_issue(request)
    template = "team/api_key_create.html"
    if is_partial(request):
        template += "#panel"
    return render(request, template, context, status=status)


@require_http_methods(["GET", "POST"])
def api_key_edit(request, key_id):
    client = api_client(request)
    with key_guard(request, key_id):
        key = pinned(resources.api_key_get(client, key_id), key_id)
    form = RenameForm(request.POST or None, initial={"name": key.get("name") or ""})
    if request.method == "POST" and form.is_valid():
        name = form.cleaned_data["name"]
        _, error = perform(
            request,
            "api_key.rename",
            f"{shown(key.get('name'))} ({key_id})",
            lambda: resources.api_key_update(client, key_id, {"name": name}),
            section=key_section(request, key_id),
            form=form,
            detail=f"new name {name}",
        )
        if error is None:
            messages.success(request, f"API key “{shown(key.get('name'))}” renamed to “{name}”.")
            return redirect("api_key_detail", key_id=key_id)
    return render(
        request,
        "team/rename_form.html",
        team_context(
            request,
            "api_keys",
            form=form,
            title=f"Rename the API key “{shown(key.get('name'), key_id)}”",
            cancel_url=reverse("api_key_detail", args=[key_id]),
        ),
        status=error_status(form),
    )


def _self_confirmation(request, key, verb):
    """The explicit confirmation needed before the connection's own key stops working."""
    connection = active_connection(request)
    return SelfKeyConfirmForm(
        request.POST if request.method == "POST" else None, connection_label=connection.label
    ), (
        f"This is the key dmportal uses for the connection “{connection.label}”. Once it is "
        f"{verb}, every page of that connection is refused until you replace the connection's "
        "key."
    )


@require_http_methods(["GET", "POST"])
def api_key_status(request, key_id):
    """Activate (POST) or deactivate a key. Deactivating this connection's own key needs the
    confirmation page with its tick box; any other key is deactivated straight away."""
    client = api_client(request)
    status = (request.POST.get("status") or request.GET.get("status") or "").upper()
    if status not in resources.KEY_STATUSES:
        status = "INACTIVE"
    with key_guard(request, key_id):
        key = pinned(resources.api_key_get(client, key_id), key_id)
    name = shown(key.get("name"), key_id)
    own = key.get("id") == this_key_id(request) and status == "INACTIVE"
    form = explanation = None
    if own:
        form, explanation = _self_confirmation(request, key, "deactivated")
    if request.method == "POST" and (form is None or form.is_valid()):
        perform_or_raise(
            request,
            "api_key.activate" if status == "ACTIVE" else "api_key.deactivate",
            f"{name} ({key_id})",
            lambda: resources.api_key_update(client, key_id, {"status": status}),
            section=key_section(request, key_id),
        )
        if own:
            messages.warning(
                request,
                f"API key “{name}” deactivated. The connection “{active_connection(request).label}”"
                " used it and is now refused: replace its key, or reactivate the key with "
                "another connection.",
            )
            return redirect("connection_list")
        if status == "ACTIVE":
            messages.success(request, f"API key “{name}” is active again.")
        else:
            messages.success(
                request, f"API key “{name}” deactivated. You can reactivate it at any time."
            )
        return redirect(safe_next(request, reverse("api_key_detail", args=[key_id])))
    if form is None:
        # A GET without the need for a confirmation: nothing to confirm.
        return redirect("api_key_detail", key_id=key_id)
    return confirm_page(
        request,
        "api_keys",
        title=f"Deactivate the API key “{name}”?",
        explanation="Calls made with it are refused until it is activated again.",
        warning=explanation,
        confirm_label="Deactivate the key",
        cancel_url=reverse("api_key_detail", args=[key_id]),
        form=form,
        hidden=[("status", "INACTIVE")],
        status=400 if form.errors else 200,
    )


@require_http_methods(["GET", "POST"])
@recent_auth_required
def api_key_delete(request, key_id):
    client = api_client(request)
    with key_guard(request, key_id):
        key = pinned(resources.api_key_get(client, key_id), key_id)
    name = shown(key.get("name"), key_id)
    own = key.get("id") == this_key_id(request)
    if own:
        form, warning = _self_confirmation(request, key, "deleted")
    else:
        form, warning = ConfirmForm(request.POST if request.method == "POST" else None), ""
    if request.method == "POST" and form.is_valid():
        _, error = perform(
            request,
            "api_key.delete",
            f"{name} ({key_id})",
            lambda: resources.api_key_delete(client, key_id),
            section=key_section(request, key_id),
            form=form,
        )
        if error is None:
            if own:
                messages.warning(
                    request,
                    f"API key “{name}” deleted. The connection "
                    f"“{active_connection(request).label}” used it: give it a new key.",
                )
                return redirect("connection_list")
            messages.success(request, f"API key “{name}” deleted.")
            return redirect("api_key_list")
    return confirm_page(
        request,
        "api_keys",
        title=f"Delete the API key “{name}”?",
        explanation=(
            "Anything using this key is refused from now on. Deleting cannot be undone; "
            "deactivating the key instead can."
        ),
        warning=warning,
        confirm_label="Delete the key",
        cancel_url=reverse("api_key_detail", args=[key_id]),
        form=form,
        status=error_status(form),
    )
