from django.urls import path

from . import views

urlpatterns = [
    path("support/", views.support_home, name="support_home"),
    path("support/search/", views.support_search, name="support_search"),
    path("support/calls/", views.api_call_list, name="api_call_list"),
    path("support/devices/<hex32:device_id>/", views.support_dossier, name="support_dossier"),
    path("support/devices/<hex32:device_id>/notes/", views.device_notes, name="device_notes"),
]
