"""API keys of the account (the legacy model, still valid)."""

from functools import partial

from django.contrib import messages
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_GET, require_http_methods

from dmportal.accounts.reauth import recent_auth_required
from dmportal.accounts.services import active_connection, api_client
from dmportal.core.flows import (
    Confirmation,
    confirm_then_write,
    form_then_write,
    secret_once,
    success,
)
from dmportal.core.listing import list_response
from dmportal.dmapi import resources

from ..forms import ApiKeyCreateForm, ApiKeyFilterForm, RenameForm, SelfKeyConfirmForm
from ..services import api_keys as service
from ..services import consequences
from ..services.api_keys import UNUSED_DAYS, api_key_facts, api_key_section
from ..services.names import (
    group_choices,
    group_directory,
    group_names,
    shown,
    user_choices,
    user_directory,
)
from ..services.sections import denials
from .common import own_key_id, read, safe_next, status_asked, team_context, team_write

KEY_COLUMNS = 8


def key_read(request, client, key_id):
    """The key, and the section its calls belong to (none for the connection's own key)."""
    section = api_key_section(key_id=key_id, own_key_id=own_key_id(request))
    return read(request, section, resources.api_key_get, client, key_id), section


@require_GET
def api_key_list(request):
    client = api_client(request)
    form = ApiKeyFilterForm(request.GET)
    form.is_valid()
    facts, names = {}, {}
    own = own_key_id(request)

    def fetch(**kwargs):
        page = service.api_key_page(client, **kwargs)
        # One call for owners (emails, inactive owners), one for group names: per page.
        users = user_directory(request, client) if any(k.get("owner") for k in page.items) else {}
        if any(k.get("groups") for k in page.items):
            names.update(group_names(client))
        facts["users_known"] = users is not None
        for key in page.items:
            facts[key.get("id")] = api_key_facts(key, users=users, own_key_id=own)
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
    key, _ = key_read(request, client, key_id)
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
            facts=api_key_facts(key, users=users, own_key_id=own_key_id(request)),
            unused_days=UNUSED_DAYS,
        ),
    )


@sensitive_variables("context")
@require_http_methods(["GET", "POST"])
@recent_auth_required
def api_key_create(request):
    """Create a key and show its secret once (core.flows.secret_once)."""
    client = api_client(request)
    users = user_choices(user_directory(request, client))
    groups = group_choices(group_directory(client))
    form = ApiKeyCreateForm(request.POST or None, users=users, groups=groups)
    return secret_once(
        request,
        template="team/key_create.html",
        context=team_context(request, "api_keys", form=form, flow="api_key"),
        form=form,
        write=lambda data: team_write(
            request,
            "api_keys",
            "api_key.create",
            data["name"],
            partial(
                service.api_key_create,
                client=client,
                name=data["name"],
                owner=data.get("owner"),
                groups=data["groups"],
            ),
            detail=f"groups: {', '.join(data['groups']) or 'default'}",
        ),
        shown=lambda key: {"created": key, "secret": key.get("key") or ""},
    )


@require_http_methods(["GET", "POST"])
def api_key_edit(request, key_id):
    client = api_client(request)
    key, section = key_read(request, client, key_id)
    form = RenameForm(request.POST or None, initial={"name": key.get("name") or ""})
    return form_then_write(
        request,
        form=form,
        write=lambda data: team_write(
            request,
            section,
            "api_key.rename",
            f"{shown(key.get('name'))} ({key_id})",
            partial(service.api_key_rename, client=client, key_id=key_id, name=data["name"]),
            detail=f"new name {data['name']}",
        ),
        done=lambda _: success(
            request,
            f"API key “{shown(key.get('name'))}” renamed to “{form.cleaned_data['name']}”.",
            "api_key_detail",
            key_id=key_id,
        ),
        template="team/rename_form.html",
        context=team_context(
            request,
            "api_keys",
            title=f"Rename the API key “{shown(key.get('name'), key_id)}”",
            cancel_url=reverse("api_key_detail", args=[key_id]),
        ),
    )


def own_key_confirmation(request, verb):
    """The tick box and warning needed before the connection's own key stops working."""
    label = active_connection(request).label
    form = SelfKeyConfirmForm(
        request.POST if request.method == "POST" else None, connection_label=label
    )
    return form, (
        f"This is the key dmportal uses for the connection “{label}”. Once it is {verb}, every "
        "page of that connection is refused until you replace the connection's key."
    )


def own_key_gone(request, message):
    """After the connection's own key stopped working: to the connections, to replace it."""
    return success(request, message, "connection_list", level=messages.WARNING)


def key_reactivation(request, client, key, name, back):
    """The confirmation of giving a key its rights back: the groups it is in."""
    groups = group_names(client) if key.get("groups") and request.method == "GET" else {}
    return Confirmation(
        title=f"Reactivate the API key “{name}”?",
        explanation="Calls made with it are accepted again.",
        consequences=(
            consequences.key_works_again([groups.get(g, g) for g in key.get("groups") or []]),
        ),
        confirm_label="Reactivate the key",
        cancel_url=back,
        hidden=(("status", "ACTIVE"), ("next", back)),
        tone="primary",
    )


@require_http_methods(["GET", "POST"])
def api_key_status(request, key_id):
    """Deactivate or reactivate a key: GET is the confirmation page, naming what stops working
    (when the key was last used) or what works again (its groups); POST makes the change.
    Deactivating this connection's own key also needs the page's tick box."""
    client = api_client(request)
    status = status_asked(request, "API key")
    key, section = key_read(request, client, key_id)
    name = shown(key.get("name"), key_id)
    own = section is None  # the connection's own key
    write = team_write(
        request,
        section,
        "api_key.activate" if status == "ACTIVE" else "api_key.deactivate",
        f"{name} ({key_id})",
        partial(service.api_key_status_change, client=client, key_id=key_id, status=status),
    )
    form, warning = own_key_confirmation(request, "deactivated") if own else (None, "")
    back = safe_next(request, reverse("api_key_detail", args=[key_id]))
    label = active_connection(request).label
    if status == "ACTIVE":
        form = None
        confirmation = key_reactivation(request, client, key, name, back)
    else:
        confirmation = Confirmation(
            title=f"Deactivate the API key “{name}”?",
            explanation="Calls made with it are refused until it is activated again.",
            consequences=(
                consequences.key_stops(key.get("last_login_time")),
                consequences.own_connection(label) if own else "",
            ),
            warning=warning,
            confirm_label="Deactivate the key",
            cancel_url=back,
            hidden=(("status", "INACTIVE"), ("next", back)),
        )

    def done(_):
        if status == "ACTIVE":
            return success(request, f"API key “{name}” is active again.", back)
        if own:
            return own_key_gone(
                request,
                f"API key “{name}” deactivated. The connection “{label}” used it and is now "
                "refused: replace its key, or reactivate the key with another connection.",
            )
        return success(
            request, f"API key “{name}” deactivated. You can reactivate it at any time.", back
        )

    return confirm_then_write(
        request,
        confirmation,
        write,
        form=form,
        done=done,
        context=team_context(request, "api_keys"),
    )


@require_http_methods(["GET", "POST"])
@recent_auth_required
def api_key_delete(request, key_id):
    client = api_client(request)
    key, section = key_read(request, client, key_id)
    name = shown(key.get("name"), key_id)
    own = section is None  # the connection's own key
    form, warning = own_key_confirmation(request, "deleted") if own else (None, "")

    def deleted(_):
        if own:
            label = active_connection(request).label
            return own_key_gone(
                request,
                f"API key “{name}” deleted. The connection “{label}” used it: give it a new key.",
            )
        return success(request, f"API key “{name}” deleted.", "api_key_list")

    return confirm_then_write(
        request,
        Confirmation(
            title=f"Delete the API key “{name}”?",
            explanation=(
                "Anything using this key is refused from now on. Deleting cannot be undone; "
                "deactivating the key instead can."
            ),
            consequences=(
                consequences.key_stops(key.get("last_login_time")),
                consequences.own_connection(active_connection(request).label) if own else "",
            ),
            warning=warning,
            confirm_label="Delete the key",
            cancel_url=reverse("api_key_detail", args=[key_id]),
        ),
        team_write(
            request,
            section,
            "api_key.delete",
            f"{name} ({key_id})",
            partial(service.api_key_delete, client=client, key_id=key_id),
        ),
        form=form,
        done=deleted,
        context=team_context(request, "api_keys"),
    )
