import logging

from django.contrib.auth.decorators import login_not_required
from django.shortcuts import redirect, render
from django.template import loader
from django.views.decorators.http import require_GET

from dmportal.core.logging import current_request_id

log = logging.getLogger("dmportal")


@require_GET
def home(request):
    return redirect("device_list")


@login_not_required
def csrf_failure(request, reason=""):
    log.warning("CSRF check failed: %s", reason)
    template = "core/_csrf_failure.html" if request.htmx else "core/csrf_failure.html"
    return render(request, template, status=403)


@login_not_required
def page_not_found(request, exception=None):
    template = "404.html"
    if getattr(request, "htmx", False) and not request.htmx.history_restore_request:
        template = "core/_page_not_found.html"
    return render(request, template, status=404)


@login_not_required
def server_error(request):
    # Kept minimal on purpose: the database or a context processor may be what failed.
    request_id = getattr(request, "request_id", None) or current_request_id.get()
    htmx = request.headers.get("HX-Request") == "true"
    template = loader.get_template("core/_server_error.html" if htmx else "500.html")
    from django.http import HttpResponseServerError

    return HttpResponseServerError(template.render({"request_id": request_id}))
