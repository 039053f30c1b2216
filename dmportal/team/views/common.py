"""Helpers the team views share."""

from django.shortcuts import render
from django.urls import reverse

from dmportal.accounts.services import active_connection
from dmportal.core.redirects import same_site_url

from ..services import denials


def team_context(request, section, **extra):
    return {
        "nav": "team",
        "team_section": section,
        "denied": denials(request),
        "connection": active_connection(request),
        **extra,
    }


def is_partial(request):
    """An HTMX request for a fragment (not a history restore, which wants the whole page)."""
    return bool(request.htmx) and not request.htmx.history_restore_request


def safe_next(request, default):
    """The `next` URL of a form if it is one of ours, else `default`."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    return same_site_url(request, target, default)


def confirm_page(request, section, *, title, explanation, confirm_label, cancel_url, form,
                 warning="", hidden=(), status=200):  # fmt: skip
    """The one confirmation pattern (core/confirm.html): GET shows it, POST performs."""
    return render(
        request,
        "core/confirm.html",
        team_context(
            request,
            section,
            title=title,
            explanation=explanation,
            warning=warning,
            confirm_label=confirm_label,
            cancel_url=cancel_url,
            form=form,
            hidden=list(hidden),
        ),
        status=status,
    )


def with_names(fetch, client, holder, resolve):
    """A list fetch that also resolves names once per page: `resolve(client, items)` fills
    `holder` (a dict the template reads) after the page arrived."""

    def call(**kwargs):
        page = fetch(client, **kwargs)
        holder.update(resolve(client, page.items) or {})
        return page

    return call


def url_with_query(name, *args, query=""):
    url = reverse(name, args=args)
    return f"{url}?{query}" if query else url


def error_status(form, default=200):
    """The status of a page re-rendered with the API's error on its form."""
    error = getattr(form, "api_error", None)
    if error is not None:
        return error.status
    return 400 if form.errors else default


def pinned(record, object_id):
    """A record read by id, with that (validated) id: links on the page are built from it, so
    an answer that lacks or garbles its `id` cannot break them."""
    record["id"] = object_id
    return record
