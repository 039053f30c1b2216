"""Issue 14, finding 4: a key pasted where a key does not belong (the header search, a list
filter, a note, a name) was sent upstream in the query string, stored in the recent-calls
table, shown on the recent-calls page and pushed into the browser's history (`HX-Push-Url`).

Every form and every list filter refuses a value shaped like an API key or access key
(`ak_` and at least 32 letters or digits), with a clear message, before any API call: one
validator in the forms' shared base (core/forms.py), which the table machinery's forms use
too. The fields made to take a key (password inputs: the connection form's key, the key
check of a rotation) are the only exception. And the recent-calls log redacts key-shaped
text in a path before storing it (defence in depth).

The walk below finds every form itself: it renders every page of the project, reads the
forms in it, and sends each of them with the sentinel key in one field at a time (and in an
extra query parameter), as a page and as a fragment. Nothing may come back: not in the page,
not in a header (Location, HX-Push-Url), not in a cookie; nothing may be sent upstream, and
nothing stored, in any table or session.
"""

import inspect
import pkgutil
from html.parser import HTMLParser
from importlib import import_module
from urllib.parse import urlencode, urlsplit

import pytest
from django import forms
from django.contrib.sessions.models import Session
from django.utils import timezone

import dmportal
from dmportal.core.forms import KEY_REFUSED, RefusesKeys, looks_like_key
from dmportal.dmapi.client import CallRecord
from dmportal.support.models import ApiCall
from dmportal.support.services import call_log_save
from tests.accounts.test_key_never_leaks import (
    ANY_API_PATH,
    GENERIC,
    concrete_paths,
    database_text,
)
from tests.conftest import SENTINEL_KEY, make_connection

pytestmark = pytest.mark.django_db
STORED_KEY = "ak_" + "S" * 40  # the connection's own key: every call carries it, never this
TEXT_INPUTS = {"text", "search", "email", "url", "tel", "hidden", "number", "date", ""}


class Forms(HTMLParser):
    """The forms of a page: method, action, and each named field with its first value."""

    def __init__(self):
        super().__init__()
        self.forms = []
        self.form = None
        self.select = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.form = {
                "method": (attrs.get("method") or "get").lower(),
                "action": attrs.get("action"),
                "fields": {},
            }
            self.forms.append(self.form)
        elif self.form is None:
            return
        elif tag == "input" and attrs.get("name"):
            kind = (attrs.get("type") or "").lower()
            if kind == "password":
                return  # made for a secret: never rendered back, never sent upstream
            if kind in ("checkbox", "radio") and "checked" not in attrs:
                return
            if kind in TEXT_INPUTS | {"checkbox", "radio"}:
                self.form["fields"].setdefault(attrs["name"], attrs.get("value") or "")
        elif tag == "textarea" and attrs.get("name"):
            self.form["fields"].setdefault(attrs["name"], "")
        elif tag == "select" and attrs.get("name"):
            self.select = attrs["name"]
            self.form["fields"].setdefault(self.select, "")
        elif tag == "option" and self.select and not self.form["fields"][self.select]:
            self.form["fields"][self.select] = attrs.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "form":
            self.form = None
        elif tag == "select":
            self.select = None


@pytest.fixture
def pasting(client, user, api):
    connection = make_connection(user, key=STORED_KEY)
    client.force_login(user)
    api.get(ANY_API_PATH, json=GENERIC)
    api.post(ANY_API_PATH, json=GENERIC)
    api.put(ANY_API_PATH, json=GENERIC)
    api.delete(ANY_API_PATH, status=204)
    return client, connection


def assert_nothing_came_back(response, where):
    assert SENTINEL_KEY not in response.content.decode(errors="replace"), f"{where}: body"
    for name, value in response.items():
        assert SENTINEL_KEY not in value, f"{where}: header {name}"
    for cookie in response.cookies.values():
        assert SENTINEL_KEY not in cookie.OutputString(), f"{where}: cookie"


def assert_nothing_was_sent(api, where):
    for call in api.calls:
        body = call.request.body or b""
        body = body.decode(errors="replace") if isinstance(body, bytes) else str(body)
        assert SENTINEL_KEY not in call.request.url, f"{where}: sent in {call.request.url}"
        assert SENTINEL_KEY not in body, f"{where}: sent in a body"
        assert call.request.headers["Authorization"] == f"Bearer {STORED_KEY}"


def page_forms(client, connection_pk):
    """Every distinct form on every page, with the path it was found on."""
    found = {}
    for path in concrete_paths(connection_pk):
        if "logout" in path:
            continue
        response = client.get(path)
        if response.status_code != 200:
            continue
        parser = Forms()
        parser.feed(response.content.decode())
        for form in parser.forms:
            action = form["action"] or path
            if "logout" in action or form["method"] not in ("get", "post"):
                continue
            key = (form["method"], urlsplit(action).path, tuple(sorted(form["fields"])))
            found.setdefault(key, (path, form))
    return found


def test_every_form_and_filter_refuses_a_pasted_key(pasting, api):
    client, connection = pasting
    found = page_forms(client, connection.pk)
    methods = {method for method, _, _ in found}
    assert methods == {"get", "post"}
    assert len(found) > 20, sorted(found)
    tried = 0
    for (method, action, names), (path, form) in sorted(found.items()):
        action = urlsplit(form["action"] or path).path
        for name in names:
            if name == "csrfmiddlewaretoken":
                continue
            data = {**form["fields"], name: f"  {SENTINEL_KEY}  "}
            data.pop("csrfmiddlewaretoken", None)
            for headers in ({}, {"HTTP_HX_REQUEST": "true", "HTTP_HX_CURRENT_URL": path}):
                where = f"{method.upper()} {action} [{name}] {(headers and 'htmx') or 'page'}"
                if method == "get":
                    query = urlencode({**data, "unknown": SENTINEL_KEY}, doseq=True)
                    response = client.get(f"{action}?{query}", **headers)
                else:
                    response = client.post(action, data, **headers)
                tried += 1
                assert response.status_code < 500, (where, response.status_code)
                assert_nothing_came_back(response, where)
                if response.status_code == 302 and not headers:
                    # A plain GET is sent to a URL without the key (out of the history).
                    landed = client.get(response["Location"])
                    assert_nothing_came_back(landed, f"{where} -> {response['Location']}")
    assert tried > 100
    assert_nothing_was_sent(api, "the walk")
    dump = database_text()
    assert SENTINEL_KEY not in dump
    for session in Session.objects.all():
        assert SENTINEL_KEY not in str(session.get_decoded())


def test_a_key_in_the_header_search_is_refused_before_any_call(pasting, api):
    client, _ = pasting
    response = client.get("/support/search/", {"q": SENTINEL_KEY})
    assert response.status_code == 302
    assert SENTINEL_KEY not in response["Location"]
    page = client.get(response["Location"]).content.decode()
    assert KEY_REFUSED in page
    assert len(api.calls) == 0
    assert not ApiCall.objects.exists()


def test_a_key_in_a_device_filter_is_refused_on_the_field_and_never_pushed(pasting, api):
    client, _ = pasting
    response = client.get(
        "/devices/", {"name__eq": SENTINEL_KEY, "state__in": "registered"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert KEY_REFUSED in html
    assert SENTINEL_KEY not in html
    assert SENTINEL_KEY not in response["HX-Push-Url"]
    assert "state__in=registered" in response["HX-Push-Url"]  # the rest is kept
    assert len(api.calls) == 0
    plain = client.get("/devices/", {"name__eq": SENTINEL_KEY, "state__in": "registered"})
    assert plain.status_code == 302
    assert plain["Location"] == "/devices/?state__in=registered"
    assert KEY_REFUSED in client.get(plain["Location"], follow=True).content.decode()


def test_a_key_typed_as_the_user_name_is_refused_and_never_recorded(client, user):
    from dmportal.accounts.models import ActivityEntry

    response = client.post("/accounts/login/", {"username": SENTINEL_KEY, "password": "x"})
    assert response.status_code == 200
    assert KEY_REFUSED in response.content.decode()
    assert_nothing_came_back(response, "sign-in")
    assert not ActivityEntry.objects.exists()  # no failed sign-in with it as the name


def test_a_key_is_refused_inside_other_text_and_in_any_field_but_a_secret_one():
    assert looks_like_key(f"note: {SENTINEL_KEY}!")
    assert looks_like_key("Bearer ak_" + "a1" * 16)
    assert not looks_like_key("ak_short123")  # too short to be a key
    assert not looks_like_key("ak-" + "a" * 40)

    class Form(RefusesKeys, forms.Form):
        name = forms.CharField()
        tags = forms.MultipleChoiceField(choices=[("a", "a")], required=False)
        secret = forms.CharField(widget=forms.PasswordInput, required=False)

    form = Form({"name": SENTINEL_KEY, "tags": [SENTINEL_KEY], "secret": SENTINEL_KEY})
    assert not form.is_valid()
    assert form.errors == {"name": [KEY_REFUSED], "tags": [KEY_REFUSED]}
    assert SENTINEL_KEY not in str(form)  # not rendered back
    assert form.key_refused == ["name", "tags"]
    ok = Form({"name": "Boiler", "secret": SENTINEL_KEY})
    assert ok.is_valid()
    assert ok.cleaned_data["secret"] == SENTINEL_KEY


# Not imported by the walk: wsgi sets Django up again (and so the logging configuration, with
# the run-wide key watcher); the others start or configure processes, and define no form.
NOT_IMPORTED = {"dmportal.wsgi", "dmportal.settings", "dmportal.demo", "dmportal.launch"}


def dmportal_modules():
    for info in pkgutil.walk_packages(dmportal.__path__, "dmportal."):
        if (
            ".migrations" in info.name
            or info.name.startswith("dmportal.simulator")
            or info.name in NOT_IMPORTED
        ):
            continue
        yield import_module(info.name)


def test_every_form_of_dmportal_refuses_keys():
    """The mechanism holds for the next form too: every form class defined in dmportal (and
    every form a view of Django's is given) is built on core.forms.RefusesKeys."""
    classes = set()
    for module in dmportal_modules():
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, forms.BaseForm) and value.__module__.startswith("dmportal."):
                classes.add(value)
    from dmportal.accounts import views

    classes |= {views.SignInView.authentication_form, views.PasswordChangeView.form_class}
    assert len(classes) > 30
    missing = sorted(c.__qualname__ for c in classes if not issubclass(c, RefusesKeys))
    assert missing == []


def test_the_recent_calls_log_redacts_a_key_in_a_path(rf, user):
    request = rf.get("/")
    request.user = user
    request.request_id = "r" * 32
    request.api_calls = [
        CallRecord("GET", f"/v3/devices/?name__eq={SENTINEL_KEY}", 200, 5.0, "up-1", 1, None)
    ]
    call_log_save(request, timezone.now())
    [call] = ApiCall.objects.all()
    assert SENTINEL_KEY not in call.path
    assert call.path == "/v3/devices/?name__eq=[redacted]"
