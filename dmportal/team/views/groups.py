"""Policy groups and their members (users, API keys, applications)."""

from functools import partial

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from dmportal.accounts.services import active_connection, api_client
from dmportal.core.listing import list_response
from dmportal.dmapi import resources

from ..forms import ConfirmForm, GroupFilterForm, GroupNameForm, MemberListForm, MembersForm
from ..services import NAMES_LIMIT, guard_if, guarded, perform, shown
from .common import confirm_page, error_status, pinned, team_context

GROUP_COLUMNS = 5

# What each kind of member is called, how to read one, and which section reading them needs.
KINDS = {
    "users": {
        "noun": "user",
        "plural": "users",
        "page": resources.user_page,
        "get": resources.user_get,
        "section": "users",
        "columns": 4,
    },
    "api-keys": {
        "noun": "API key",
        "plural": "API keys",
        "page": resources.api_key_page,
        "get": resources.api_key_get,
        # Any key may list API keys (it sees its own): reading them proves no right to manage.
        "section": None,
        "columns": 4,
    },
    "applications": {
        "noun": "application",
        "plural": "applications",
        "page": resources.application_page,
        "get": resources.application_get,
        "section": "applications",
        "columns": 4,
    },
}


def member_label(kind, member):
    if kind == "users":
        name = shown(member.get("full_name"))
        email = shown(member.get("email"), member.get("id"))
        return f"{name} <{email}>" if name else email
    return shown(member.get("name"), member.get("id"))


@require_GET
def group_list(request):
    client = api_client(request)
    return list_response(
        request,
        template="team/group_list.html",
        form=GroupFilterForm(request.GET),
        fetch=partial(resources.policy_group_page, client),
        table_id="groups",
        columns=GROUP_COLUMNS,
        context=team_context(request, "groups"),
    )


@require_http_methods(["GET", "POST"])
def group_create(request):
    client = api_client(request)
    form = GroupNameForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        name = form.cleaned_data["name"]
        group, error = perform(
            request,
            "group.create",
            name,
            lambda: resources.policy_group_create(client, name=name),
            section="groups",
            form=form,
        )
        if error is None:
            messages.success(request, f"Policy group “{name}” created. Add its members below.")
            if group.get("id") and resources.ID.match(str(group["id"])):
                return redirect("group_detail", group_id=group["id"])
            return redirect("group_list")
    return render(
        request,
        "team/group_form.html",
        team_context(request, "groups", form=form, creating=True),
        status=error_status(form),
    )


@require_GET
def group_detail(request, group_id):
    client = api_client(request)
    group = pinned(resources.policy_group_get(client, group_id), group_id)
    return render(
        request,
        "team/group_detail.html",
        team_context(request, "groups", group=group, kinds=KINDS),
    )


@require_http_methods(["GET", "POST"])
def group_rename(request, group_id):
    client = api_client(request)
    group = pinned(resources.policy_group_get(client, group_id), group_id)
    form = GroupNameForm(request.POST or None, initial={"name": group.get("name") or ""})
    if request.method == "POST" and form.is_valid():
        name = form.cleaned_data["name"]
        _, error = perform(
            request,
            "group.rename",
            f"{shown(group.get('name'))} ({group_id})",
            lambda: resources.policy_group_rename(client, group_id, name=name),
            section="groups",
            form=form,
            detail=f"new name {name}",
        )
        if error is None:
            messages.success(
                request, f"Policy group “{shown(group.get('name'), group_id)}” renamed to “{name}”."
            )
            return redirect("group_detail", group_id=group_id)
    return render(
        request,
        "team/group_form.html",
        team_context(request, "groups", form=form, group=group, creating=False),
        status=error_status(form),
    )


@require_http_methods(["GET", "POST"])
def group_delete(request, group_id):
    client = api_client(request)
    group = pinned(resources.policy_group_get(client, group_id), group_id)
    name = shown(group.get("name"), group_id)
    form = ConfirmForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        _, error = perform(
            request,
            "group.delete",
            f"{name} ({group_id})",
            lambda: resources.policy_group_delete(client, group_id),
            section="groups",
            form=form,
        )
        if error is None:
            messages.success(request, f"Policy group “{name}” deleted.")
            return redirect("group_list")
    return confirm_page(
        request,
        "groups",
        title=f"Delete the policy group “{name}”?",
        explanation=(
            "Its users, API keys and applications lose the rights the group gave them. They "
            "themselves are not deleted. The Administrators group cannot be deleted."
        ),
        confirm_label="Delete the group",
        cancel_url=reverse("group_detail", args=[group_id]),
        form=form,
        status=error_status(form),
    )


@require_GET
def group_members(request, group_id, kind):
    """A group's users, API keys or applications: a panel of the group page (load more)."""
    client = api_client(request)
    return list_response(
        request,
        template="team/group_members.html",
        form=MemberListForm(request.GET),
        fetch=guarded(
            request, "groups", partial(resources.policy_group_member_page, client, group_id, kind)
        ),
        table_id=f"group-{kind}",
        columns=KINDS[kind]["columns"],
        context=team_context(request, "groups", group_id=group_id, kind=kind, info=KINDS[kind]),
        push=False,
    )


@require_http_methods(["GET", "POST"])
def group_members_add(request, group_id, kind):
    client = api_client(request)
    info = KINDS[kind]
    group = pinned(resources.policy_group_get(client, group_id), group_id)
    with guard_if(request, info["section"]):
        everyone = info["page"](client, limit=NAMES_LIMIT).items
    # Members carry their groups: offer only those not in this group yet.
    candidates = [
        (m["id"], member_label(kind, m))
        for m in everyone
        if isinstance(m.get("id"), str)
        and resources.ID.match(m["id"])
        and group_id not in (m.get("groups") or ())
    ]
    form = MembersForm(
        request.POST or None, candidates=candidates, label=f"{info['plural'].capitalize()} to add"
    )
    if request.method == "POST" and form.is_valid():
        chosen = form.cleaned_data["members"]
        labels = dict(candidates)
        listed = ", ".join(labels[m] for m in chosen[:5]) + ("…" if len(chosen) > 5 else "")
        name = shown(group.get("name"), group_id)
        _, error = perform(
            request,
            f"group.add_{kind.replace('-', '_')}",
            f"{name} ({group_id})",
            lambda: resources.policy_group_members_change(client, group_id, kind, "add", chosen),
            section="groups",
            form=form,
            detail=f"added {len(chosen)}: {listed}",
        )
        if error is None:
            noun = info["noun"] if len(chosen) == 1 else info["plural"]
            messages.success(
                request, f"Added {len(chosen)} {noun} to the policy group “{name}”: {listed}."
            )
            return redirect("group_detail", group_id=group_id)
    return render(
        request,
        "team/group_members_add.html",
        team_context(
            request,
            "groups",
            group=group,
            kind=kind,
            info=info,
            form=form,
            has_candidates=bool(candidates),
        ),
        status=error_status(form),
    )


@require_http_methods(["GET", "POST"])
def group_member_remove(request, group_id, kind, member_id):
    client = api_client(request)
    info = KINDS[kind]
    group = pinned(resources.policy_group_get(client, group_id), group_id)
    with guard_if(request, info["section"]):
        member = pinned(info["get"](client, member_id), member_id)
    name = shown(group.get("name"), group_id)
    label = member_label(kind, member)
    form = ConfirmForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        _, error = perform(
            request,
            f"group.remove_{kind.replace('-', '_')}",
            f"{name} ({group_id})",
            lambda: resources.policy_group_members_change(
                client, group_id, kind, "remove", [member_id]
            ),
            section="groups",
            form=form,
            detail=f"removed {label}",
        )
        if error is None:
            messages.success(request, f"Removed {label} from the policy group “{name}”.")
            return redirect("group_detail", group_id=group_id)
    connection = active_connection(request)
    own_key = kind == "api-keys" and connection is not None and connection.key_id == member_id
    return confirm_page(
        request,
        "groups",
        title=f"Remove {label} from the policy group “{name}”?",
        explanation=(
            f"The {info['noun']} loses the rights this group gives. It stays in its other "
            "groups, and you can add it back at any time."
        ),
        warning=(
            f"This is the API key of dmportal's connection “{connection.label}”: without this "
            "group it may lose rights dmportal needs."
            if own_key
            else ""
        ),
        confirm_label="Remove from the group",
        cancel_url=reverse("group_detail", args=[group_id]),
        form=form,
        status=error_status(form),
    )
