from django.contrib import admin
from django.urls import include, path

from dmportal.core import (
    converters,  # noqa: F401 - registers <hex32:...>
    health,
)
from dmportal.core import views as core_views

urlpatterns = [
    path("", core_views.home, name="home"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("csp-report/", core_views.csp_report, name="csp_report"),
    path("", include("dmportal.accounts.urls")),
    path("", include("dmportal.devices.urls")),
    path("", include("dmportal.team.urls")),
    path("", include("dmportal.support.urls")),
    path("", include("dmportal.jobs.urls")),
    path("", include("dmportal.exports.urls")),
    path("admin/", admin.site.urls),
]

handler400 = "dmportal.core.views.bad_request"
handler404 = "dmportal.core.views.page_not_found"
handler500 = "dmportal.core.views.server_error"
