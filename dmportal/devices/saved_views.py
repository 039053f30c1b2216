"""The saved views of the device list: the API's device queries, listed, opened, saved,
renamed or updated with the list's filter, deleted; a person's default view and columns.

Every write of a view is an API write (`core.flows`: the activity log, the error on the form,
"outcome unknown" when the answer is lost) behind the central re-authentication rule
(accounts/reauth.py: every POST needs a recent password); the default view and the columns
are the person's own settings, in dmportal's database, exempted there with their reasons.
"""

from functools import partial

from django.contrib import messages
from django.http import QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from dmportal.accounts.services import api_client
from dmportal.core.flows import Confirmation, Write, confirm_then_write, form_then_write, success
from dmportal.core.htmx import is_partial
from dmportal.core.listing import encode_query, list_response
from dmportal.core.redirects import same_site_url
from dmportal.dmapi import errors as api
from dmportal.dmapi import resources
from dmportal.dmapi.lists import ATTRIBUTE_KEY

from . import columns as cols
from .forms import DeviceFilterForm, DeviceQueryListForm, ViewForm, query_form
from .services import (
    columns_save,
    default_view_id,
    default_view_set,
    open_view_set,
    refusal_memory,
    summary,
    target_of,
    view_forget,
    view_has_columns,
    view_opened,
    writes_refused,
)

MENU_SIZE = 50


def list_url(query):
    return f"{reverse('device_list')}?{query}" if query else reverse("device_list")


def _annotated(page):
    """Each view of a page with its filters in words (`dm_summary`)."""
    for item in page.items:
        item["dm_summary"] = summary(
            item.get("query") if isinstance(item.get("query"), str) else ""
        )
    return page


def _current(request):
    """The device list's filter the request comes from (`current`), as a view would hold it."""
    text = request.GET.get("current", "")
    form = query_form(text)
    return form.query_text() if text and form.is_valid() else ""


def _views_page_context(request):
    return {
        "nav": "devices",
        "current": _current(request),
        "default_id": default_view_id(request),
        "refused": writes_refused(request),
    }


@require_GET
def device_view_list(request):
    """All the account's saved views (a list of the API, like any other)."""
    client = api_client(request)

    def fetch(**kwargs):
        return _annotated(resources.device_query_page(client, **kwargs))

    return list_response(
        request,
        template="devices/view_list.html",
        form=DeviceQueryListForm(request.GET),
        fetch=fetch,
        table_id="views",
        columns=4,
        context=_views_page_context(request),
    )


@require_GET
def device_view_menu(request):
    """The Views menu of the device list (loaded when it is opened): the newest views."""
    unknown = set(request.GET) - {"current"}
    if unknown:
        raise api.InvalidRequest(f"“{sorted(unknown)[0][:100]}” is not a parameter of this menu.")
    client = api_client(request)
    page = _annotated(
        resources.device_query_page(client, limit=MENU_SIZE, order="DESC", include_total=True)
    )
    context = {**_views_page_context(request), "page": page}
    return render(request, "devices/_views_menu.html", context)


@require_GET
def device_view_open(request, query_id):
    """Open a view: its filters as the device list's canonical URL (one list call there)."""
    client = api_client(request)
    try:
        view = resources.device_query_get(client, query_id)
    except api.NotFound:
        view_forget(request, query_id)
        return success(
            request,
            "That saved view no longer exists (deleted elsewhere?): showing all devices.",
            f"{reverse('device_list')}?all=1",
            level=messages.WARNING,
        )
    text = view.get("query") if isinstance(view.get("query"), str) else ""
    form = query_form(text)
    form.empty_pairs = (("all", "1"),)
    open_view_set(
        request,
        query_id=query_id,
        name=str(view.get("name") or "")[:200],
        query=form.query_text() if form.is_valid() else "",
    )
    return redirect(list_url(target_of(form, text)))


def _saved(request, *, query_id, data):
    """After a view was written: it is the open view, and the list shows it."""
    open_view_set(request, query_id=query_id, name=data["name"], query=data["query"])
    form = query_form(data["query"])
    target = (form.is_valid() and form.canonical_query()) or "all=1"
    return success(request, f"Saved the view “{data['name']}”.", list_url(target))


@require_http_methods(["GET", "POST"])
def device_view_create(request):
    """Save a filter as a new view (the Views menu posts the list's current filter)."""
    client = api_client(request)
    initial = {"query": request.GET.get("query", "")}
    form = ViewForm(request.POST if request.method == "POST" else None, initial=initial)

    def write(data):
        return Write(
            action="device_query.create",
            target=lambda result: (result or {}).get("id", ""),
            call=partial(
                resources.device_query_create, client, name=data["name"], query=data["query"]
            ),
            detail=data["name"][:100],
            around=partial(refusal_memory, request),
        )

    return form_then_write(
        request,
        form=form,
        write=write,
        done=lambda result: _saved(
            request, query_id=str((result or {}).get("id") or ""), data=form.cleaned_data
        ),
        template="devices/view_form.html",
        context={"nav": "devices", "creating": True, "refused": writes_refused(request)},
    )


@require_http_methods(["GET", "POST"])
def device_view_edit(request, query_id):
    """Rename a view, or put another filter into it (`?query=`: the list's current one)."""
    client = api_client(request)
    view = resources.device_query_get(client, query_id) if request.method == "GET" else None
    saved = ""
    if view is not None:
        saved = view.get("query") if isinstance(view.get("query"), str) else ""
    initial = {
        "name": str((view or {}).get("name") or ""),
        "query": request.GET.get("query") or saved,
    }
    form = ViewForm(request.POST if request.method == "POST" else None, initial=initial)

    def write(data):
        return Write(
            action="device_query.update",
            target=query_id,
            call=partial(
                resources.device_query_update,
                client,
                query_id,
                name=data["name"],
                query=data["query"],
            ),
            detail=data["name"][:100],
            around=partial(refusal_memory, request),
        )

    return form_then_write(
        request,
        form=form,
        write=write,
        done=lambda result: _saved(request, query_id=query_id, data=form.cleaned_data),
        template="devices/view_form.html",
        context={
            "nav": "devices",
            "query_id": query_id,
            "saved": summary(saved) if view is not None else None,
            "refused": writes_refused(request),
        },
    )


@require_http_methods(["GET", "POST"])
def device_view_delete(request, query_id):
    client = api_client(request)
    view = resources.device_query_get(client, query_id)
    name = str(view.get("name") or query_id)
    confirmation = Confirmation(
        title=f"Delete the view “{name}”?",
        explanation=(
            "Saved views belong to the account: this one disappears for everyone who uses it, "
            "here and in the account's other tools (the vendor's portal, update campaigns). "
            "No device is changed."
        ),
        confirm_label="Delete the view",
        cancel_url=reverse("device_view_list"),
    )
    write = Write(
        action="device_query.delete",
        target=query_id,
        call=partial(resources.device_query_delete, client, query_id),
        detail=name[:100],
        around=partial(refusal_memory, request),
    )

    def done(result):
        view_forget(request, query_id)
        return success(request, f"Deleted the view “{name}”.", reverse("device_view_list"))

    return confirm_then_write(request, confirmation, write, done=done, context={"nav": "devices"})


@require_POST
def device_view_default(request, query_id):
    """Make a view the person's default (or not): dmportal's own setting, no API call."""
    default = request.POST.get("default") == "1"
    default_view_set(request, query_id=query_id, default=default)
    back = same_site_url(request, request.POST.get("next"), reverse("device_view_list"))
    if default:
        message = "That view is now your default: Devices opens it."
    else:
        message = "That view is no longer your default: Devices shows all devices."
    return success(request, message, back)


@require_http_methods(["GET", "POST"])
def device_columns(request):
    """The Columns chooser: its own page (without JavaScript, each move is a save and comes
    back here) and the target of the menu's form. dmportal's own setting, no API call."""
    back = same_site_url(request, request.GET.get("next") or request.POST.get("next"), "")
    back = back or reverse("device_list")
    form = DeviceFilterForm(QueryDict(back.partition("?")[2]))
    opened = view_opened(request, form)
    if request.method == "POST":
        keys, moved = _chosen(request.POST)
        view_id = opened.id if opened and request.POST.get("target") == "view" else None
        columns_save(request, keys=keys, query_id=view_id)
        if moved is None:
            return success(request, "Columns saved.", back)
        return redirect(f"{reverse('device_columns')}?{encode_query([('next', back)])}#columns")
    attrs = [k for k in request.GET.get("attrs", "").split(",") if ATTRIBUTE_KEY.fullmatch(k)]
    context = chooser_context(request, form=form, attribute_keys=attrs[:30], next_url=back)
    if is_partial(request):
        return render(request, "devices/_columns_form.html", context)
    return render(request, "devices/columns.html", {"nav": "devices", **context})


def _chosen(post):
    """(the chosen keys in order, the moved key or None) from the chooser's form."""
    if "reset" in post:
        return [], None
    order = cols.parse_keys(post.getlist("order"))
    shown = set(post.getlist("show"))
    moved = None
    key, _, direction = post.get("move", "").partition(":")
    if key in order and direction in ("up", "down"):
        i = order.index(key)
        j = i - 1 if direction == "up" else i + 1
        if 0 <= j < len(order):
            order[i], order[j] = order[j], order[i]
        moved = key
    return [k for k in order if k in shown], moved


def chooser_context(request, *, form, attribute_keys, next_url):
    """What the Columns chooser shows: every column (the chosen ones first, in their order),
    the custom attribute keys of the shown devices, and the view it may be saved for."""
    chosen = cols.device_columns_for(request, form=form)
    keys = [c.key for c in chosen]
    offered = list(cols.COLUMNS) + [f"{cols.ATTRIBUTE}{k}" for k in attribute_keys]
    rest = [cols.column(k) for k in offered if k not in keys]
    opened = view_opened(request, form)
    return {
        "chooser": {
            "shown": chosen,
            "hidden": rest,
            "next": next_url,
            "view": opened,
            "view_has_columns": opened is not None and view_has_columns(request, opened.id),
        }
    }
