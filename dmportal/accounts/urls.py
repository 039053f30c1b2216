from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.urls import path

from . import views

urlpatterns = [
    path("accounts/login/", login_not_required(views.SignInView.as_view()), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path(
        "accounts/password/",
        views.PasswordChangeView.as_view(),
        name="password_change",
    ),
    path(
        "accounts/password/done/",
        auth_views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("accounts/confirm-password/", views.password_confirm, name="password_confirm"),
    path("connections/", views.connection_list, name="connection_list"),
    path("connections/add/", views.connection_add, name="connection_add"),
    path("connections/switch/", views.connection_switch_view, name="connection_switch"),
    path("connections/check-role/", views.connection_check_role, name="connection_check_role"),
    path("connections/<int:pk>/", views.connection_edit, name="connection_edit"),
    path("connections/<int:pk>/remove/", views.connection_delete, name="connection_delete"),
    path("preferences/", views.preferences, name="preferences"),
    path("activity/", views.activity_list, name="activity_list"),
]
