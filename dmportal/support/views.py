from functools import partial

from django.conf import settings
from django.contrib import messages
from django.db.models import Q
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from dmportal.accounts.errors import NoConnection
from dmportal.accounts.services import (
    AccountUnconfirmed,
    account_scope,
    active_connection,
    activity_record,
    api_client,
    connection_account_scope,
)
from dmportal.core.errors import describe
from dmportal.core.htmx import is_partial
from dmportal.core.listing import Keyset, RowsPage, list_response

from .dossier import EVENT_COUNT, dossier_load, ticket_text
from .forms import CallFilterForm, NoteForm, SearchForm
from .models import ApiCall, DeviceNote
from .search import FIELDS, device_search
from .services import note_create

RECENT_FAILURES = 10
CALLS = Keyset("id")  # newest first
CALL_COLUMNS = 7


@require_GET
def support_home(request):
    failures = ApiCall.objects.filter(user=request.user).exclude(error="")[:RECENT_FAILURES]
    failures = RowsPage(list(failures))
    return render(
        request,
        "support/support_home.html",
        {"nav": "support", "form": SearchForm(), "failures": failures, "fields": FIELDS},
    )


@require_GET
def support_search(request):
    if not request.GET.get("q", "").strip():
        return redirect("support_home")
    form = SearchForm(request.GET)
    context = {"nav": "support", "form": form, "fields": FIELDS}
    if not form.is_valid() and form.key_refused:
        # Not searched; and out of the address bar and the history (core/forms.py).
        messages.error(request, form.key_refusal())
        return redirect("support_home")
    if not form.is_valid():
        return render(request, "support/support_search.html", context, status=400)
    query = form.cleaned_data["q"]
    result = device_search(api_client(request), query)
    device_id = result.only_device_id()
    if device_id:
        matched = " and ".join(label for label, _ in result.hits[0].matches)
        messages.info(request, f"“{query.text}” is the {matched} of this device.")
        return redirect("support_dossier", device_id=device_id)
    for lookup in result.failed:
        lookup.error_info = describe(lookup.error, request)
    status, error = 200, None
    if result.all_failed:
        # Nothing was searched: say why as any failed page would (key rejected, busy, ...).
        error = result.failed[0].error_info
        status = error.status
    context.update({"result": result, "query": query, "list_error": error})
    return render(request, "support/support_search.html", context, status=status)


@require_GET
def support_dossier(request, device_id):
    client = api_client(request)
    dossier = dossier_load(client, device_id)
    connection = active_connection(request)
    context = {
        "nav": "support",
        "device": dossier.device,
        "dossier": dossier,
        "event_count": EVENT_COUNT,
        "events_error": describe(dossier.events_error, request) if dossier.events_error else None,
        "groups_error": describe(dossier.groups_error, request) if dossier.groups_error else None,
        "ticket": ticket_text(
            dossier,
            connection=connection,
            request_id=request.request_id,
            generated_by=request.user.get_username(),
        ),
        "recent_calls": ApiCall.objects.filter(user=request.user, path__contains=device_id)[:10],
    }
    context.update(notes_context(request, connection, device_id))
    return render(request, "support/support_dossier.html", context)


def notes_context(request, connection, device_id, form=None):
    """The device's staff notes, shared on the account: only with a key the API accepted
    recently for it (accounts.services.account_scope), else why not."""
    try:
        scope = account_scope(request)
    except AccountUnconfirmed as exc:
        scope, refused = None, exc.message
    else:
        refused = ""
    notes = (
        DeviceNote.objects.filter(
            api_host=scope.api_host, account_id=scope.account_id, device_id=device_id
        )
        if scope
        else DeviceNote.objects.none()
    )
    return {
        "device_id": device_id,
        "notes": notes,
        "notes_possible": scope is not None,
        "notes_refused": refused,
        "notes_scope": scope,
        "note_form": form or NoteForm(),
        "connection": connection,
    }


@require_http_methods(["GET", "POST"])
def device_notes(request, device_id):
    """The device's staff notes; POST adds one. Notes are shared by everyone whose key the
    API accepted recently for the same account (and host); without that, none are shown or
    written."""
    connection = active_connection(request)
    if connection is None:
        raise NoConnection("Add a connection to a Device Management account first.")
    context = notes_context(request, connection, device_id)
    status = 200
    if request.method == "POST":
        form = NoteForm(request.POST)
        scope = context["notes_scope"]
        if scope is None:
            form.is_valid()
            form.add_error(None, context["notes_refused"])
            status = 403
        elif form.is_valid():
            note_create(
                user=request.user, scope=scope, device_id=device_id, body=form.cleaned_data["body"]
            )
            activity_record(request, "device.note", target=device_id)
            messages.success(request, f"Note added to device {device_id}.")
            if not is_partial(request):
                return redirect(reverse("support_dossier", args=[device_id]) + "#notes")
            form = None
        else:
            status = 400
        context["note_form"] = form or NoteForm()
    context["nav"] = "support"
    if is_partial(request):
        return render(request, "support/device_notes.html#notes", context, status=status)
    return render(request, "support/device_notes.html", context, status=status)


# -- recent API calls ---------------------------------------------------------------------------


@require_GET
def api_call_list(request):
    connection = active_connection(request)
    return list_response(
        request,
        template="support/api_call_list.html",
        form=CallFilterForm(request.GET),
        fetch=partial(
            calls_visible,
            user=request.user,
            connection=connection,
            account=lambda: account_scope(request),
        ),
        keyset=CALLS,
        table_id="calls",
        columns=CALL_COLUMNS,
        context={
            "nav": "calls",
            "account_id": connection.account_id if connection else "",
            "log_size": settings.DMPORTAL_CALL_LOG_SIZE,
        },
    )


# A request-id search matches the start of an id only from this many characters on (a real
# id's worth); a shorter text must be a whole id. One character matched a sixteenth of all.
REQUEST_ID_PREFIX = 8


def calls_visible(*, user, connection, filters, account=None):
    """The user's own calls; a request-id search also finds the calls other dmportal users
    made on the same account (a customer's screenshot quotes *their* request id), when the
    API accepted the user's key for that account recently: `account()` says which account
    (the page: accounts.services.account_scope of the request; by default, as for an export
    job, connection_account_scope of the user's connection)."""
    calls = ApiCall.objects.select_related("user")
    q = filters.get("q")
    if q:
        scope = Q(user=user)
        try:
            shared = (
                account() if account else connection_account_scope(user=user, connection=connection)
            )
        except AccountUnconfirmed:
            pass  # their own calls only
        else:
            scope |= Q(api_host=shared.api_host, account_id=shared.account_id)
        if len(q) >= REQUEST_ID_PREFIX:
            match = Q(upstream_request_id__istartswith=q) | Q(request_id__istartswith=q)
        else:
            match = Q(upstream_request_id__iexact=q) | Q(request_id__iexact=q)
        calls = calls.filter(scope).filter(match)
    else:
        calls = calls.filter(user=user)
    if filters.get("status") == "errors":
        calls = calls.exclude(error="")
    return calls
