from django.urls import path

from . import views

urlpatterns = [
    path("exports/<slug:source_name>/", views.export_start, name="export_start"),
    path("exports/<slug:source_name>/<hex32:parent>/", views.export_start, name="export_start_of"),
]
