"""Users and invitations."""

from functools import partial
from urllib.parse import urlencode

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from dmportal.accounts.reauth import recent_auth_required
from dmportal.accounts.services import api_client
from dmportal.core.flows import Confirmation, confirm_then_write, form_then_write, success
from dmportal.core.listing import ListForm
from dmportal.dmapi import resources

from ..forms import InviteForm, UserEditForm, UserFilterForm, UserStatusForm
from ..services import consequences
from ..services import users as service
from ..services.names import group_choices, group_directory, names_of_groups, shown
from .common import grouped_list, read, team_context, team_write

USER_COLUMNS = 6
INVITATION_COLUMNS = 5


@require_GET
def user_list(request):
    return grouped_list(
        request,
        "users",
        resources.user_page,
        template="team/user_list.html",
        form=UserFilterForm(request.GET),
        table_id="users",
        columns=USER_COLUMNS,
    )


@require_GET
def user_detail(request, user_id):
    client = api_client(request)
    user = read(request, "users", resources.user_get, client, user_id)
    history = [h for h in user.get("login_history") or [] if isinstance(h, dict)]
    sessions = [s for s in user.get("active_sessions") or [] if isinstance(s, dict)]
    return render(
        request,
        "team/user_detail.html",
        team_context(
            request,
            "users",
            user=user,
            group_names=names_of_groups(client, [user]),
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

    def invited(_):
        data = form.cleaned_data
        days = data["valid_for_days"]
        joined = [shown(groups[g].get("name"), g) for g in data["groups"] if g in groups]
        query = urlencode({"email__eq": data["email"]})
        return success(
            request,
            f"Invitation sent to {data['email']}"
            + (f", into {', '.join(joined)}" if joined else "")
            + f". It is valid for {days} day{'s' if days != 1 else ''}.",
            f"{reverse('user_list')}?{query}",
        )

    pending = None
    if request.method == "POST" and form.is_valid():
        pending = service.invitation_pending(client=client, email=form.cleaned_data["email"])
        if pending is not None:
            # A second invitation of one person: said, and nothing sent.
            form.add_error(
                "email",
                f"{form.cleaned_data['email']} has been invited already and has not accepted "
                "yet: nothing was sent. To send the invitation again, use Resend on the "
                "invitations page.",
            )
    return form_then_write(
        request,
        form=form,
        write=lambda data: team_write(
            request,
            "invitations",
            "user.invite",
            data["email"],
            partial(service.invitation_create, client=client, **data),
            detail=f"groups: {', '.join(data['groups']) or 'none'}",
        ),
        done=invited,
        template="team/user_invite.html",
        context=team_context(request, "users", duplicate=pending is not None),
    )


@require_http_methods(["GET", "POST"])
def user_edit(request, user_id):
    client = api_client(request)
    user = read(request, "users", resources.user_get, client, user_id)
    label = shown(user.get("email"), user_id)
    initial = {
        "full_name": user.get("full_name") or "",
        "phone_number": user.get("phone_number") or "",
    }
    form = UserEditForm(request.POST or None, initial=initial)

    def saved(_):
        changes = form.changes()
        return success(
            request,
            f"User {label} saved: name “{changes['full_name'] or '(none)'}”, phone "
            f"“{changes['phone_number'] or '(none)'}”.",
            "user_detail",
            user_id=user_id,
        )

    return form_then_write(
        request,
        form=form,
        write=lambda data: team_write(
            request,
            "users",
            "user.update",
            label,
            partial(service.user_update, client=client, user_id=user_id, **form.changes()),
            detail="name and phone",
        ),
        done=saved,
        template="team/user_edit.html",
        context=team_context(request, "users", user=user),
    )


@require_POST
def user_status(request, user_id):
    client = api_client(request)
    form = UserStatusForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose one of the listed statuses.")
        return redirect("user_detail", user_id=user_id)
    status = form.cleaned_data["status"]
    user = team_write(
        request,
        "users",
        "user.status",
        user_id,
        partial(service.user_status_change, client=client, user_id=user_id, status=status),
        detail=f"status {status}",
    ).run_or_raise(request)
    return success(
        request,
        f"User {shown(user.get('email'), user_id)} is now {status}.",
        "user_detail",
        user_id=user_id,
    )


@require_http_methods(["GET", "POST"])
@recent_auth_required  # the user's API keys are deleted with the user
def user_delete(request, user_id):
    client = api_client(request)
    user = read(request, "users", resources.user_get, client, user_id)
    label = shown(user.get("email"), user_id)
    return confirm_then_write(
        request,
        Confirmation(
            title=f"Remove the user {label}?",
            explanation=(
                "The user can no longer sign in to this account. This cannot be undone: to "
                "give them access again, invite them again."
            ),
            consequences=(
                consequences.login_words(user.get("last_login_time")),
                "Their API keys are deleted with them: whatever uses those keys is refused.",
            ),
            warning=(
                "This user is active. The service refuses to remove an active user: set the "
                "status to inactive first."
                if user.get("status") == "ACTIVE"
                else ""
            ),
            confirm_label="Remove the user",
            cancel_url=reverse("user_detail", args=[user_id]),
        ),
        team_write(
            request,
            "users",
            "user.remove",
            label,
            partial(service.user_delete, client=client, user_id=user_id),
        ),
        done=lambda _: success(request, f"User {label} removed from the account.", "user_list"),
        context=team_context(request, "users"),
    )


# -- invitations --------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def invitation_resend(request, invitation_id):
    """An invitation again (an expired one, or a lost email): after the confirmation page, a new
    invitation to the same email and groups for as many days, then the old one revoked."""
    client = api_client(request)
    invitation = read(request, "invitations", resources.invitation_get, client, invitation_id)
    label = shown(invitation.get("email"), invitation_id)
    days = service.invitation_validity_days(invitation)
    ids = [g for g in invitation.get("groups") or [] if isinstance(g, str)]
    names = group_directory(client) if ids else {}
    groups = [shown((names.get(g) or {}).get("name"), g) for g in ids]
    into = f", into {', '.join(groups)}" if groups else ""
    return confirm_then_write(
        request,
        Confirmation(
            title=f"Send the invitation to {label} again?",
            explanation=(
                f"A new invitation{into}, valid for {days} day{'s' if days != 1 else ''}, is "
                "emailed; then this one is revoked."
            ),
            consequences=("The link in the earlier invitation email stops working.",),
            heading="What stops working",
            confirm_label="Resend the invitation",
            cancel_url=reverse("invitation_list"),
            tone="primary",
        ),
        team_write(
            request,
            "invitations",
            "invitation.resend",
            label,
            partial(service.invitation_resend, client=client, invitation=invitation),
        ),
        done=lambda _: success(
            request,
            f"Invitation sent to {label} again, valid for {days} day{'s' if days != 1 else ''}.",
            "invitation_list",
        ),
        context=team_context(request, "invitations"),
    )


@require_GET
def invitation_list(request):
    return grouped_list(
        request,
        "invitations",
        resources.invitation_page,
        template="team/invitation_list.html",
        form=ListForm(request.GET),
        table_id="invitations",
        columns=INVITATION_COLUMNS,
        count_total=False,  # the spec declares no `include` for this list: no total is asked for
    )


@require_http_methods(["GET", "POST"])
def invitation_delete(request, invitation_id):
    client = api_client(request)
    invitation = read(request, "invitations", resources.invitation_get, client, invitation_id)
    label = shown(invitation.get("email"), invitation_id)
    return confirm_then_write(
        request,
        Confirmation(
            title=f"Revoke the invitation of {label}?",
            explanation="The link in the invitation email stops working.",
            consequences=(
                f"{label} can no longer join the account with it; invite them again if they "
                "should.",
            ),
            confirm_label="Revoke the invitation",
            cancel_url=reverse("invitation_list"),
        ),
        team_write(
            request,
            "invitations",
            "invitation.revoke",
            label,
            partial(service.invitation_delete, client=client, invitation_id=invitation_id),
        ),
        done=lambda _: success(request, f"Invitation of {label} revoked.", "invitation_list"),
        context=team_context(request, "invitations"),
    )
