"""Saved views of the device list, and what dmportal keeps about them.

A saved view IS a device query of the API (`/v3/device-queries/`: name, and the filter as a
query string in the API's syntax), so a view saved here is one the account's other tools see,
and one saved elsewhere shows here. dmportal keeps, in its own database, only what is a
person's: their columns (per view too) and their default view (per connection); and, in the
session, the view they opened (for the "View: …" marker) and whether the API refused this key
the writes of views (so the menu stops offering them, and says why).
"""

from contextlib import contextmanager
from dataclasses import dataclass

from django.db import transaction
from django.http import QueryDict

from dmportal.accounts.services import active_connection
from dmportal.core.listing import encode_query
from dmportal.dmapi import errors as api

from .columns import DEFAULT
from .forms import DeviceFilterForm, form_problems, query_form
from .models import DeviceListSettings, SavedViewSettings

OPEN_VIEW_KEY = "dm_open_view"
REFUSED_KEY = "dm_views_refused"


# -- a view's query ------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    """A saved view as the Views menu shows it: its filters in words and where it opens, or
    what dmportal cannot run in it."""

    words: list
    saved: str  # its filters as the device list says them ("" when dmportal cannot run it)
    problems: list


def summary(text):
    form = query_form(text)
    if form.is_valid():
        return Summary(form.words(), form.query_text(), [])
    return Summary([], "", form_problems(form))


def target_of(form, text):
    """The device list's query for a view's query text: canonical when dmportal can run it;
    otherwise the filters as written (the list then says what it cannot use)."""
    if form.is_valid():
        return form.canonical_query() or "all=1"
    expanded = form.expand(QueryDict(text or ""))
    pairs = [(key, value) for key, values in expanded.lists() for value in values]
    return encode_query(pairs) or "all=1"


# -- the view a person opened (session) ----------------------------------------------------


@dataclass(frozen=True)
class OpenView:
    id: str
    name: str
    query: str  # its filters as the list says them (query_text), "" when dmportal cannot


def _connection_key(request):
    connection = active_connection(request)
    return str(connection.pk) if connection is not None else None


def open_view_get(request):
    key = _connection_key(request)
    entry = (request.session.get(OPEN_VIEW_KEY) or {}).get(key) if key else None
    if not isinstance(entry, dict):
        return None
    return OpenView(entry["id"], entry["name"], entry["query"])


def open_view_set(request, *, query_id, name, query):
    key = _connection_key(request)
    if key is None:
        return
    store = dict(request.session.get(OPEN_VIEW_KEY) or {})
    store[key] = {"id": query_id, "name": name, "query": query}
    request.session[OPEN_VIEW_KEY] = store


def open_view_clear(request, query_id=None):
    """Forget the open view (only if it is `query_id`, when given)."""
    key = _connection_key(request)
    store = dict(request.session.get(OPEN_VIEW_KEY) or {})
    entry = store.get(key)
    if entry is not None and (query_id is None or entry.get("id") == query_id):
        del store[key]
        request.session[OPEN_VIEW_KEY] = store


def view_opened(request, form):
    """The open view when the list shows exactly its filters, else None."""
    view = open_view_get(request)
    if view is None or not view.query or not form.is_valid():
        return None
    return view if form.query_text() == view.query else None


# -- the API's refusal of this key's writes (session) --------------------------------------


def _key_version(connection):
    changed = connection.key_changed_at.isoformat() if connection.key_changed_at else ""
    return f"{connection.key_id}:{connection.key_hint}:{changed}"


@dataclass(frozen=True)
class Refusal:
    message: str
    request_id: str


def writes_refused(request):
    """The API's refusal of saved-view writes to the active connection's key, or None. Tied to
    the key: replacing it forgets the refusal."""
    connection = active_connection(request)
    if connection is None:
        return None
    entry = (request.session.get(REFUSED_KEY) or {}).get(str(connection.pk))
    if not isinstance(entry, dict) or entry.get("key") != _key_version(connection):
        return None
    return Refusal(entry["message"], entry.get("request_id") or "")


def writes_refusal_note(request, exc):
    connection = active_connection(request)
    if connection is None:
        return
    store = dict(request.session.get(REFUSED_KEY) or {})
    store[str(connection.pk)] = {
        "key": _key_version(connection),
        "message": exc.message,
        "request_id": exc.request_id or "",
    }
    request.session[REFUSED_KEY] = store


@contextmanager
def refusal_memory(request):
    """Around a write of a saved view: remember the API's 403 (the menu becomes read-only,
    with the API's reason), forget it when a write succeeds."""
    try:
        yield
    except api.PermissionDenied as exc:
        writes_refusal_note(request, exc)
        raise
    else:
        writes_refusal_clear(request)


def writes_refusal_clear(request):
    connection = active_connection(request)
    store = request.session.get(REFUSED_KEY) or {}
    if connection is not None and str(connection.pk) in store:
        store = dict(store)
        del store[str(connection.pk)]
        request.session[REFUSED_KEY] = store


# -- default view and columns (database) ---------------------------------------------------


def _settings(request, query_id):
    connection = active_connection(request)
    if connection is None:
        return None
    return SavedViewSettings.objects.filter(
        user=request.user, connection=connection, query_id=query_id
    ).first()


def _list_settings(request):
    """The person's DeviceListSettings (or None), read once per request."""
    if not hasattr(request, "_dm_list_settings"):
        found = None
        if request.user.is_authenticated:
            found = DeviceListSettings.objects.filter(user=request.user).first()
        request._dm_list_settings = found
    return request._dm_list_settings


def default_view_id(request):
    """The id of the person's default view on the active connection, or None."""
    connection = active_connection(request)
    found = _list_settings(request)
    if connection is None or found is None:
        return None
    view_id = (found.default_views or {}).get(str(connection.pk))
    return view_id if isinstance(view_id, str) and view_id else None


def default_view_set(request, *, query_id, default):
    """Make `query_id` the default view on the active connection (`default`), or stop it
    being the default."""
    connection = active_connection(request)
    if connection is None:
        return
    with transaction.atomic():
        found, _ = DeviceListSettings.objects.select_for_update().get_or_create(user=request.user)
        views = dict(found.default_views or {})
        if default:
            views[str(connection.pk)] = query_id
        elif views.get(str(connection.pk)) == query_id:
            del views[str(connection.pk)]
        found.default_views = views
        found.save(update_fields=["default_views"])
    request._dm_list_settings = found


def view_forget(request, query_id):
    """After the view was deleted (here or elsewhere): its settings go too."""
    connection = active_connection(request)
    if connection is not None:
        SavedViewSettings.objects.filter(
            user=request.user, connection=connection, query_id=query_id
        ).delete()
        if default_view_id(request) == query_id:
            default_view_set(request, query_id=query_id, default=False)
    open_view_clear(request, query_id)


def view_columns(request, *, form=None):
    """The column keys chosen for this request's list: the open view's own, else the
    person's (empty: the default set)."""
    if not request.user.is_authenticated:
        return []
    form = form if form is not None else DeviceFilterForm(request.GET)
    view = view_opened(request, form)
    if view is not None:
        found = _settings(request, view.id)
        if found is not None and found.columns:
            return found.columns
    found = _list_settings(request)
    return found.columns if found is not None else []


def columns_save(request, *, keys, query_id=None):
    """Keep the column keys for the person (`[]` or the default set: the default), or for one
    view (`[]`: the person's)."""
    if query_id is None:
        keys = [] if keys == list(DEFAULT) else keys
        DeviceListSettings.objects.update_or_create(user=request.user, defaults={"columns": keys})
        request.__dict__.pop("_dm_list_settings", None)
        return
    connection = active_connection(request)
    if connection is not None:
        SavedViewSettings.objects.update_or_create(
            user=request.user,
            connection=connection,
            query_id=query_id,
            defaults={"columns": keys},
        )


def view_has_columns(request, query_id):
    found = _settings(request, query_id)
    return found is not None and bool(found.columns)


# -- what the device list shows of views -----------------------------------------------------


@dataclass(frozen=True)
class ViewsContext:
    """The device list's saved-view state: which view it shows (or has changed from), the
    person's default, whether this key may write views, and the list's filter as a view
    would hold it."""

    opened: OpenView | None
    changed: OpenView | None
    default_id: str | None
    refused: Refusal | None
    current: str

    @property
    def is_default(self):
        return self.opened is not None and self.opened.id == self.default_id


def views_context(request, form, default_id):
    view = open_view_get(request)
    current = form.query_text() if form.is_valid() else ""
    opened = view if view is not None and view.query and current == view.query else None
    changed = view if view is not None and opened is None and current else None
    return ViewsContext(opened, changed, default_id, writes_refused(request), current)
