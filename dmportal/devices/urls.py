from django.urls import path

from . import saved_views, views

urlpatterns = [
    path("devices/", views.device_list, name="device_list"),
    path("devices/columns/", saved_views.device_columns, name="device_columns"),
    path("devices/views/", saved_views.device_view_list, name="device_view_list"),
    path("devices/views/menu/", saved_views.device_view_menu, name="device_view_menu"),
    path("devices/views/new/", saved_views.device_view_create, name="device_view_create"),
    path("devices/views/<hex32:query_id>/", saved_views.device_view_open, name="device_view_open"),
    path(
        "devices/views/<hex32:query_id>/edit/",
        saved_views.device_view_edit,
        name="device_view_edit",
    ),
    path(
        "devices/views/<hex32:query_id>/delete/",
        saved_views.device_view_delete,
        name="device_view_delete",
    ),
    path(
        "devices/views/<hex32:query_id>/default/",
        saved_views.device_view_default,
        name="device_view_default",
    ),
    path("devices/<hex32:device_id>/", views.device_detail, name="device_detail"),
    path("devices/<hex32:device_id>/edit/", views.device_edit, name="device_edit"),
    path("devices/<hex32:device_id>/events/", views.device_events, name="device_events"),
    path("devices/<hex32:device_id>/groups/", views.device_groups_panel, name="device_groups"),
    path("device-groups/", views.device_group_list, name="device_group_list"),
    path("device-groups/<hex32:group_id>/", views.device_group_detail, name="device_group_detail"),
    path(
        "device-groups/<hex32:group_id>/devices/",
        views.device_group_devices,
        name="device_group_devices",
    ),
]
