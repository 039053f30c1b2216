from django.urls import path, register_converter

from . import views


class MemberKindConverter:
    """The kinds of members a policy group has, as they appear in the API's paths."""

    regex = "users|api-keys|applications"

    def to_python(self, value):
        return value

    def to_url(self, value):
        return value


register_converter(MemberKindConverter, "member_kind")

APP = "team/applications/<hex32:application_id>"
GROUP = "team/groups/<hex32:group_id>"

urlpatterns = [
    path("team/", views.team_home, name="team_home"),
    # users and invitations
    path("team/users/", views.user_list, name="user_list"),
    path("team/users/invite/", views.user_invite, name="user_invite"),
    path("team/users/<hex32:user_id>/", views.user_detail, name="user_detail"),
    path("team/users/<hex32:user_id>/edit/", views.user_edit, name="user_edit"),
    path("team/users/<hex32:user_id>/status/", views.user_status, name="user_status"),
    path("team/users/<hex32:user_id>/remove/", views.user_delete, name="user_delete"),
    path("team/invitations/", views.invitation_list, name="invitation_list"),
    path(
        "team/invitations/<hex32:invitation_id>/revoke/",
        views.invitation_delete,
        name="invitation_delete",
    ),
    path(
        "team/invitations/<hex32:invitation_id>/resend/",
        views.invitation_resend,
        name="invitation_resend",
    ),
    # policy groups
    path("team/groups/", views.group_list, name="group_list"),
    path("team/groups/new/", views.group_create, name="group_create"),
    path(f"{GROUP}/", views.group_detail, name="group_detail"),
    path(f"{GROUP}/rename/", views.group_rename, name="group_rename"),
    path(f"{GROUP}/delete/", views.group_delete, name="group_delete"),
    path(f"{GROUP}/<member_kind:kind>/", views.group_members, name="group_members"),
    path(f"{GROUP}/<member_kind:kind>/add/", views.group_members_add, name="group_members_add"),
    path(
        f"{GROUP}/<member_kind:kind>/<hex32:member_id>/remove/",
        views.group_member_remove,
        name="group_member_remove",
    ),
    # API keys
    path("team/api-keys/", views.api_key_list, name="api_key_list"),
    path("team/api-keys/new/", views.api_key_create, name="api_key_create"),
    path("team/api-keys/<hex32:key_id>/", views.api_key_detail, name="api_key_detail"),
    path("team/api-keys/<hex32:key_id>/edit/", views.api_key_edit, name="api_key_edit"),
    path("team/api-keys/<hex32:key_id>/status/", views.api_key_status, name="api_key_status"),
    path("team/api-keys/<hex32:key_id>/delete/", views.api_key_delete, name="api_key_delete"),
    # applications and access keys
    path("team/applications/", views.application_list, name="application_list"),
    path("team/applications/new/", views.application_create, name="application_create"),
    path(f"{APP}/", views.application_detail, name="application_detail"),
    path(f"{APP}/edit/", views.application_edit, name="application_edit"),
    path(f"{APP}/status/", views.application_status, name="application_status"),
    path(f"{APP}/delete/", views.application_delete, name="application_delete"),
    path(f"{APP}/groups/", views.application_groups, name="application_groups"),
    path(f"{APP}/rotate/", views.access_key_rotate, name="access_key_rotate"),
    path(f"{APP}/access-keys/new/", views.access_key_create, name="access_key_create"),
    path(
        f"{APP}/access-keys/<hex32:key_id>/status/",
        views.access_key_status,
        name="access_key_status",
    ),
    path(
        f"{APP}/access-keys/<hex32:key_id>/delete/",
        views.access_key_delete,
        name="access_key_delete",
    ),
    path(
        f"{APP}/access-keys/<hex32:key_id>/verify/",
        views.access_key_verify,
        name="access_key_verify",
    ),
]
