"""Users and invitations."""

from urllib.parse import urlencode

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from dmportal.accounts.reauth import recent_auth_required
from dmportal.accounts.services import api_client
from dmportal.core.listing import ListForm, list_response
from dmportal.dmapi import resources

from ..forms import ConfirmForm, InviteForm, UserEditForm, UserFilterForm, UserStatusForm
from ..services import (
    group_choices,
    group_directory,
    group_names,
    guard,
    guarded,
    perform,
    perform_or_raise,
    shown,
)
from .common import confirm_page, error_status, pinned, team_context, with_names

USER_COLUMNS = 6
INVITATION_COLUMNS = 5


def names_of_groups(client, items):
    """One call for the group names of a page of users, keys, applications or invitations."""
    if any(item.get("groups") for item in items):
        return group_names(client)
    return {}


@require_GET
def user_list(request):
    client = api_client(request)
    names = {}
    return list_response(
        request,
        template="team/user_list.html",
        form=UserFilterForm(request.GET),
        fetch=guarded(
            request, "users", with_names(resources.user_page, client, names, names_of_groups)
        ),
        table_id="users",
        columns=USER_COLUMNS,
        context=team_context(request, "users", group_names=names),
    )


@require_GET
def user_detail(request, user_id):
    client = api_client(request)
    with guard(request, "users"):
        user = pinned(resources.user_get(client, user_id), user_id)
    names = names_of_groups(client, [user])
    history = [h for h in user.get("login_history") or [] if isinstance(h, dict)]
    sessions = [s for s in user.get("active_sessions") or [] if isinstance(s, dict)]
    return render(
        request,
        "team/user_detail.html",
        team_context(
            request,
            "users",
            user=user,
            group_names=names,
            login_history=history,
            active_sessions=sessions,
            status_form=UserStatusForm(initial={"status": user.get("status")}),
        ),
    )


@require_http_methods(["GET", "POST"])
def user_invite(request):
    client = api_client(request)
    groups = group_directory(client)
    form = InviteForm(request.POST or None, groups=group_choices(groups))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        _, error = perform(
            request,
            "user.invite",
            data["email"],
            lambda: resources.invitation_create(
                client,
                email=data["email"],
                groups=data["groups"],
                valid_for_days=data["valid_for_days"],
            ),
            section="invitations",
            form=form,
            detail=f"groups: {', '.join(data['groups']) or 'none'}",
        )
        if error is None:
            joined = [shown(groups[g].get("name"), g) for g in data["groups"] if g in groups]
            messages.success(
                request,
                f"Invitation sent to {data['email']}"
                + (f", into {', '.join(joined)}" if joined else "")
                + f". It is valid for {data['valid_for_days']} days.",
            )
            query = urlencode({"email__eq": data["email"]})
            return redirect(f"{reverse('user_list')}?{query}")
    return render(
        request,
        "team/user_invite.html",
        team_context(request, "users", form=form),
        status=error_status(form),
    )


@require_http_methods(["GET", "POST"])
def user_edit(request, user_id):
    client = api_client(request)
    with guard(request, "users"):
        user = pinned(resources.user_get(client, user_id), user_id)
    initial = {
        "full_name": user.get("full_name") or "",
        "phone_number": user.get("phone_number") or "",
    }
    form = UserEditForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        changes = form.changes()
        _, error = perform(
            request,
            "user.update",
            shown(user.get("email"), user_id),
            lambda: resources.user_update(client, user_id, changes),
            section="users",
            form=form,
            detail="name and phone",
        )
        if error is None:
            messages.success(
                request,
                f"User {shown(user.get('email'), user_id)} saved: name "
                f"“{changes['full_name'] or '(none)'}”, phone "
                f"“{changes['phone_number'] or '(none)'}”.",
            )
            return redirect("user_detail", user_id=user_id)
    return render(
        request,
        "team/user_edit.html",
        team_context(request, "users", user=user, form=form),
        status=error_status(form),
    )


@require_POST
def user_status(request, user_id):
    client = api_client(request)
    form = UserStatusForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose one of the listed statuses.")
        return redirect("user_detail", user_id=user_id)
    status = form.cleaned_data["status"]
    user = perform_or_raise(
        request,
        "user.status",
        user_id,
        lambda: resources.user_update(client, user_id, {"status": status}),
        section="users",
        detail=f"status {status}",
    )
    messages.success(request, f"User {shown(user.get('email'), user_id)} is now {status}.")
    return redirect("user_detail", user_id=user_id)


@require_http_methods(["GET", "POST"])
@recent_auth_required  # the user's API keys are deleted with the user
def user_delete(request, user_id):
    client = api_client(request)
    with guard(request, "users"):
        user = pinned(resources.user_get(client, user_id), user_id)
    label = shown(user.get("email"), user_id)
    form = ConfirmForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        _, error = perform(
            request,
            "user.remove",
            label,
            lambda: resources.user_delete(client, user_id),
            section="users",
            form=form,
        )
        if error is None:
            messages.success(request, f"User {label} removed from the account.")
            return redirect("user_list")
    return confirm_page(
        request,
        "users",
        title=f"Remove the user {label}?",
        explanation=(
            "The user can no longer sign in to this account. This cannot be undone: to give "
            "them access again, invite them again."
        ),
        warning=(
            "This user is ACTIVE. The service refuses to remove an active user: set the status "
            "to INACTIVE first."
            if user.get("status") == "ACTIVE"
            else ""
        ),
        confirm_label="Remove the user",
        cancel_url=reverse("user_detail", args=[user_id]),
        form=form,
        status=error_status(form),
    )


# -- invitations --------------------------------------------------------------------------------


@require_GET
def invitation_list(request):
    client = api_client(request)
    names = {}
    return list_response(
        request,
        template="team/invitation_list.html",
        form=ListForm(request.GET),
        fetch=guarded(
            request,
            "invitations",
            with_names(resources.invitation_page, client, names, names_of_groups),
        ),
        table_id="invitations",
        columns=INVITATION_COLUMNS,
        context=team_context(request, "invitations", group_names=names),
        # The spec declares no `include` for this list: no total is asked for.
        count_total=False,
    )


@require_http_methods(["GET", "POST"])
def invitation_delete(request, invitation_id):
    client = api_client(request)
    with guard(request, "invitations"):
        invitation = pinned(resources.invitation_get(client, invitation_id), invitation_id)
    label = shown(invitation.get("email"), invitation_id)
    form = ConfirmForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        _, error = perform(
            request,
            "invitation.revoke",
            label,
            lambda: resources.invitation_delete(client, invitation_id),
            section="invitations",
            form=form,
        )
        if error is None:
            messages.success(request, f"Invitation of {label} revoked.")
            return redirect("invitation_list")
    return confirm_page(
        request,
        "invitations",
        title=f"Revoke the invitation of {label}?",
        explanation="The link in the invitation email stops working.",
        confirm_label="Revoke the invitation",
        cancel_url=reverse("invitation_list"),
        form=form,
        status=error_status(form),
    )


__all__ = [
    "invitation_delete",
    "invitation_list",
    "user_delete",
    "user_detail",
    "user_edit",
    "user_invite",
    "user_list",
    "user_status",
]
