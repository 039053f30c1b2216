"""Helpers the team views share."""

from concurrent.futures import ThreadPoolExecutor

from dmportal.accounts.services import active_connection, api_client
from dmportal.core.errors import Refused
from dmportal.core.flows import Write
from dmportal.core.listing import list_response
from dmportal.core.parallel import submit
from dmportal.core.redirects import same_site_url

from ..services.names import group_names
from ..services.sections import denials, guard, section_guard


def team_context(request, section, **extra):
    return {
        "nav": "team",
        "team_section": section,
        "denied": denials(request),
        "connection": active_connection(request),
        **extra,
    }


def team_write(request, section, action, target, call, *, detail=""):
    """One API write (core.flows.Write) that remembers a refusal of `section` (None: none)."""
    return Write(action, target, call, detail=detail, around=section_guard(request, section))


def read(request, section, get, client, *ids):
    """One record read by id (`get(client, *ids)`) inside the section's guard, with that
    (validated) id: links on the page are built from it, so an answer that lacks or garbles
    its `id` cannot break them."""
    with guard(request, section):
        record = get(client, *ids)
    record["id"] = ids[-1]
    return record


def own_key_id(request):
    """The id of the API key the active connection uses ("" when unknown)."""
    connection = active_connection(request)
    return connection.key_id if connection is not None else ""


def safe_next(request, default):
    """The `next` URL of a form if it is one of ours, else `default`."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    return same_site_url(request, target, default)


def status_asked(request, noun):
    """The status a key's status page was asked for, ACTIVE or INACTIVE (the form's field,
    else the link's query string). Anything else, or nothing, is refused with a 400 before
    any call: a status page never guesses which way to change a key."""
    status = request.POST.get("status") or request.GET.get("status") or ""
    if status.upper() in ("ACTIVE", "INACTIVE"):
        return status.upper()
    raise Refused(
        f"An {noun} is either activated or deactivated (status ACTIVE or INACTIVE); this "
        "request asked for neither, so nothing was changed. Use the Deactivate or Reactivate "
        f"button of the {noun}."
    )


def grouped_list(request, section, page_of, *, template, form, table_id, columns, **options):
    """A list (core.listing) of records that belong to policy groups (users, invitations,
    applications): a refusal of `section` is remembered, and the group names of each page
    (the template's `group_names`) come from one call made at the same time as the page's, so
    the page costs one round trip to the API, not two. (The names are asked for even when no
    record of the page turns out to be in a group: rare, and it costs no time.)"""
    client = api_client(request)
    names = {}

    def fetch(**kwargs):
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="dm-names") as pool:
            names_future = submit(pool, group_names, client)
            with guard(request, section):
                page = page_of(client, **kwargs)
        if any(item.get("groups") for item in page.items):
            names.update(names_future.result())
        return page

    return list_response(
        request,
        template=template,
        form=form,
        fetch=fetch,
        table_id=table_id,
        columns=columns,
        context=team_context(request, section, group_names=names),
        **options,
    )
