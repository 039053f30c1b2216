"""Policy groups and their members (users, API keys, applications)."""

from functools import partial

from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from dmportal.accounts.services import active_connection, api_client
from dmportal.core.flows import Confirmation, confirm_then_write, form_then_write, success
from dmportal.core.listing import list_response
from dmportal.dmapi import resources
from dmportal.dmapi.ids import is_id

from ..forms import GroupFilterForm, GroupNameForm, MemberListForm, MembersForm
from ..services import consequences
from ..services import groups as service
from ..services.groups import KINDS, member_label
from ..services.names import shown
from ..services.sections import guard, guarded
from .common import read, team_context, team_write

GROUP_COLUMNS = 5


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

    def created(group):
        name = form.cleaned_data["name"]
        message = f"Policy group “{name}” created. Add its members below."
        if group.get("id") and is_id(str(group["id"])):
            return success(request, message, "group_detail", group_id=group["id"])
        return success(request, message, "group_list")

    form = GroupNameForm(request.POST or None)
    return form_then_write(
        request,
        form=form,
        write=lambda data: team_write(
            request,
            "groups",
            "group.create",
            data["name"],
            partial(service.group_create, client=client, name=data["name"]),
        ),
        done=created,
        template="team/group_form.html",
        context=team_context(request, "groups", creating=True),
    )


@require_GET
def group_detail(request, group_id):
    client = api_client(request)
    group = read(request, None, resources.policy_group_get, client, group_id)
    return render(
        request,
        "team/group_detail.html",
        team_context(request, "groups", group=group, kinds=KINDS),
    )


@require_http_methods(["GET", "POST"])
def group_rename(request, group_id):
    client = api_client(request)
    group = read(request, None, resources.policy_group_get, client, group_id)
    old = shown(group.get("name"))
    form = GroupNameForm(request.POST or None, initial={"name": group.get("name") or ""})
    return form_then_write(
        request,
        form=form,
        write=lambda data: team_write(
            request,
            "groups",
            "group.rename",
            f"{old} ({group_id})",
            partial(service.group_rename, client=client, group_id=group_id, name=data["name"]),
            detail=f"new name {data['name']}",
        ),
        done=lambda _: success(
            request,
            f"Policy group “{shown(group.get('name'), group_id)}” renamed to "
            f"“{form.cleaned_data['name']}”.",
            "group_detail",
            group_id=group_id,
        ),
        template="team/group_form.html",
        context=team_context(request, "groups", group=group, creating=False),
    )


def member_use(kind, member):
    """When a group's member was last active: a user's last sign-in, a key's last use."""
    if kind == "users":
        return consequences.login_words(member.get("last_login_time"))
    if kind == "api-keys":
        return consequences.used_words(member.get("last_login_time")) + "."
    return consequences.used_words(member.get("last_used_at"), "application") + "."


@require_http_methods(["GET", "POST"])
def group_delete(request, group_id):
    client = api_client(request)
    group = read(request, None, resources.policy_group_get, client, group_id)
    name = shown(group.get("name"), group_id)
    return confirm_then_write(
        request,
        Confirmation(
            title=f"Delete the policy group “{name}”?",
            explanation=(
                "Its users, API keys and applications lose the rights the group gave them. "
                "They themselves are not deleted. The Administrators group cannot be deleted."
            ),
            confirm_label="Delete the group",
            cancel_url=reverse("group_detail", args=[group_id]),
        ),
        team_write(
            request,
            "groups",
            "group.delete",
            f"{name} ({group_id})",
            partial(service.group_delete, client=client, group_id=group_id),
        ),
        done=lambda _: success(request, f"Policy group “{name}” deleted.", "group_list"),
        context=team_context(request, "groups"),
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
    group = read(request, None, resources.policy_group_get, client, group_id)
    name = shown(group.get("name"), group_id)
    with guard(request, info["section"]):
        candidates = service.group_member_candidates(client=client, group_id=group_id, kind=kind)
    labels = dict(candidates)
    form = MembersForm(
        request.POST or None, candidates=candidates, label=f"{info['plural'].capitalize()} to add"
    )

    def listed(chosen):
        return ", ".join(labels[m] for m in chosen[:5]) + ("…" if len(chosen) > 5 else "")

    def added(_):
        chosen = form.cleaned_data["members"]
        noun = info["noun"] if len(chosen) == 1 else info["plural"]
        return success(
            request,
            f"Added {len(chosen)} {noun} to the policy group “{name}”: {listed(chosen)}.",
            "group_detail",
            group_id=group_id,
        )

    return form_then_write(
        request,
        form=form,
        write=lambda data: team_write(
            request,
            "groups",
            f"group.add_{kind.replace('-', '_')}",
            f"{name} ({group_id})",
            partial(
                service.group_members_add,
                client=client,
                group_id=group_id,
                kind=kind,
                member_ids=data["members"],
            ),
            detail=f"added {len(data['members'])}: {listed(data['members'])}",
        ),
        done=added,
        template="team/group_members_add.html",
        context=team_context(
            request, "groups", group=group, kind=kind, info=info, has_candidates=bool(candidates)
        ),
    )


@require_http_methods(["GET", "POST"])
def group_member_remove(request, group_id, kind, member_id):
    client = api_client(request)
    info = KINDS[kind]
    group = read(request, None, resources.policy_group_get, client, group_id)
    member = read(request, info["section"], info["get"], client, member_id)
    name = shown(group.get("name"), group_id)
    label = member_label(kind, member)
    connection = active_connection(request)
    own_key = kind == "api-keys" and connection is not None and connection.key_id == member_id
    return confirm_then_write(
        request,
        Confirmation(
            title=f"Remove {label} from the policy group “{name}”?",
            explanation=(
                f"The {info['noun']} loses the rights this group gives. It stays in its other "
                "groups, and you can add it back at any time."
            ),
            consequences=(
                consequences.group_rights_lost(label[:1].upper() + label[1:], name),
                member_use(kind, member),
            ),
            warning=(
                f"This is the API key of dmportal's connection “{connection.label}”: without "
                "this group it may lose rights dmportal needs."
                if own_key
                else ""
            ),
            confirm_label="Remove from the group",
            cancel_url=reverse("group_detail", args=[group_id]),
        ),
        team_write(
            request,
            "groups",
            f"group.remove_{kind.replace('-', '_')}",
            f"{name} ({group_id})",
            partial(
                service.group_member_remove,
                client=client,
                group_id=group_id,
                kind=kind,
                member_id=member_id,
            ),
            detail=f"removed {label}",
        ),
        done=lambda _: success(
            request, f"Removed {label} from the policy group “{name}”.", "group_detail", group_id
        ),
        context=team_context(request, "groups"),
    )
