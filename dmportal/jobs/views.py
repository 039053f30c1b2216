"""The Jobs page, one job's page, and what a user may do with their own jobs."""

from django.conf import settings
from django.contrib import messages
from django.http import FileResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from dmportal.core.htmx import is_partial
from dmportal.core.listing import Keyset, list_response
from dmportal.core.redirects import same_site_url

from .forms import JobListForm
from .kinds import kind_for
from .services import job_cancel, job_get, job_resume, jobs_of

JOBS = Keyset("id")  # newest first
JOB_COLUMNS = 4
POLL = "jobs-poll"  # the id of the element whose trigger polls a list or a job


def polling(request):
    return request.headers.get("HX-Trigger") == POLL


@require_GET
def job_list(request):
    """The user's own jobs, newest first; while one of them runs, the list polls itself."""
    return list_response(
        request,
        template="jobs/job_list.html",
        form=JobListForm(request.GET),
        fetch=lambda filters: jobs_of(request.user),
        keyset=JOBS,
        table_id="jobs",
        columns=JOB_COLUMNS,
        context={"nav": "jobs", "poll": POLL, "expiry_hours": settings.DMPORTAL_JOB_EXPIRY_HOURS},
        push=not polling(request),
    )


@require_GET
def job_detail(request, job_id):
    job = job_get(user=request.user, job_id=job_id)
    context = {"nav": "jobs", "job": job, "poll": POLL, "kind": kind_for(job.kind)}
    if is_partial(request):
        return render(request, "jobs/job_detail.html#job", context)
    return render(request, "jobs/job_detail.html", context)


def back(request, job):
    default = reverse("job_detail", args=[job.pk])
    return same_site_url(request, request.POST.get("next") or "", default)


@require_POST
def job_cancel_view(request, job_id):
    job = job_get(user=request.user, job_id=job_id)
    if job_cancel(job=job):
        messages.info(request, f"“{job.title}” is cancelled (or stops at its next step).")
    else:
        messages.info(request, f"“{job.title}” had already ended.")
    return redirect(back(request, job))


@require_POST
def job_resume_view(request, job_id):
    job = job_get(user=request.user, job_id=job_id)
    how = "resumed" if job.can_resume else "started again"
    if job_resume(job=job):
        messages.success(request, f"“{job.title}” is queued: it will be {how}.")
    else:
        messages.info(request, f"“{job.title}” is queued or running already.")
    return redirect(back(request, job))


@require_GET
def job_download(request, job_id):
    """The job's file, to its owner only, as an attachment that no cache keeps."""
    job = job_get(user=request.user, job_id=job_id)
    kind = kind_for(job.kind)
    if not job.downloadable or kind is None or kind.storage is None:
        messages.info(request, "This job has no file to download (yet, or any more).")
        return redirect("job_detail", job_id=job.pk)
    storage = kind.storage()
    if not storage.exists(job.file_name):
        messages.error(request, "The file of this job is gone (it expired or was removed).")
        return redirect("job_detail", job_id=job.pk)
    response = FileResponse(
        storage.open(job.file_name, "rb"),
        as_attachment=True,
        filename=job.download_name or "download",
        content_type=job.result.get("content_type") or "application/octet-stream",
    )
    response["Cache-Control"] = "no-store"
    return response
