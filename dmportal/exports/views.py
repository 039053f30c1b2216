"""The export page of a list: how many rows and roughly how long, the format, Start."""

from django.conf import settings
from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from dmportal.accounts.errors import NoConnection
from dmportal.accounts.services import active_connection
from dmportal.core.errors import describe
from dmportal.dmapi import errors as api
from dmportal.jobs.services import start_key_new

from .forms import ExportForm
from .services import export_begin, export_count
from .sources import source_for


def refusal(source, form):
    """Why this list cannot be exported as its URL says (None: it can)."""
    if form.errors:
        return "The list's filters in this link are not valid, so there is nothing to export."
    refuse = source.extra.get("refuse")
    return refuse(form) if refuse else None


@require_http_methods(["GET", "POST"])
def export_start(request, source_name, parent=None):
    """Export the list whose filters are this URL's query string (the list page's own)."""
    source = source_for(source_name)
    if source is None or bool(source.parent) != (parent is not None):
        raise Http404("No such list")
    form = source.bind(request.GET)
    choice = ExportForm(request.POST or None)
    keys = source.columns_for(request) if source.columns_for else ()
    columns = source.chosen(keys)
    context = {
        "nav": "jobs",
        "source": source,
        "title": source.describe(parent),
        "list_url": source.list_url(parent)
        + (f"?{form.canonical_query()}" if not form.errors else ""),
        "form": form,
        "choice": choice,
        "columns": columns,
        "pairs": [(k, v) for k, v in form.canonical_pairs() if k != "limit"]
        if not form.errors
        else [],
        "refused": refusal(source, form),
        "expiry_hours": settings.DMPORTAL_JOB_EXPIRY_HOURS,
    }
    if context["refused"]:
        return render(request, "exports/export_start.html", context, status=400)
    if request.method == "POST" and choice.is_valid():
        if source.uses_api and active_connection(request) is None:
            raise NoConnection("Add a connection to a Device Management account first.")
        job = export_begin(
            request=request,
            source=source,
            parent=parent,
            form=form,
            fmt=choice.cleaned_data["format"],
            columns=columns,
            start_key=choice.cleaned_data["start_key"],
        )
        if job.started_before:
            messages.info(request, "This export was started already (the form was sent twice).")
        return redirect("job_detail", job_id=job.pk)
    context["start_key"] = start_key_new()
    try:
        context["count"] = export_count(request=request, source=source, parent=parent, form=form)
    except api.ApiError as exc:
        context["count_error"] = describe(exc, request)
        return render(
            request, "exports/export_start.html", context, status=context["count_error"].status
        )
    return render(request, "exports/export_start.html", context)
