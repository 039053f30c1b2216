from django.urls import path

from . import views

urlpatterns = [
    path("devices/", views.device_list, name="device_list"),
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
