from django.http import HttpResponse
from django.urls import path

urlpatterns = [
    path("support/", lambda r: HttpResponse("support"), name="support_home"),
    path("support/search/", lambda r: HttpResponse("search"), name="support_search"),
    path("support/calls/", lambda r: HttpResponse("calls"), name="api_call_list"),
    path(
        "support/devices/<hex32:device_id>/",
        lambda r, device_id: HttpResponse("dossier"),
        name="support_dossier",
    ),
]
