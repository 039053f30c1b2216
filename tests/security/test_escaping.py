"""Checklist C6: upstream and user data is only ever text.

A Hypothesis property sends hostile strings (markup, htmx attributes, template syntax,
direction overrides, CR/LF, NUL) as device fields and upstream error messages through the real
views, parses each page and fragment with `html.parser`, and compares it with the same view
rendered from plain values: the same elements with the same attributes, and the hostile text
back as text. A lint-style test keeps the ways around autoescaping (`mark_safe`, `|safe`,
`format_html`, `SafeString`) to a reviewed allow-list, and the templates free of inline script,
style, event handlers and `hx-vals`/`hx-headers` JSON built from data.
"""

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
import responses as responses_lib
from django.test import Client
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from dmportal.dmapi.errors import clean_text
from tests.conftest import API, device, envelope, error_body

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]
DEVICE_ID = "d" * 32

PAYLOADS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "' autofocus onfocus='alert(1)",
    'hx-get="/accounts/logout/" hx-trigger="load"',
    "<div hx-post='/connections/1/remove/' hx-trigger='load'>",
    "{{ 7*7 }}",
    "{% debug %}",
    "\u202egnp.exe",
    "line\r\nSet-Cookie: x=1",
    "nul\x00byte",
    "</textarea><svg onload=alert(1)>",
    "&lt;b&gt; &amp; &#x27;",
    "javascript:alert(1)",
    "<!-- a comment -->",
    "<![CDATA[x]]>",
    "`${document.cookie}`",
    '{"X-CSRFToken": "forged"}',
    "\u2028\u2029",
]
FRAGMENTS = ["<", ">", '"', "'", "&", "=", "/", " ", "\t", "\n", "hx-on:click", "on", "x"]
hostile = st.one_of(
    st.sampled_from(PAYLOADS),
    st.lists(st.sampled_from(PAYLOADS + FRAGMENTS), min_size=1, max_size=6).map("".join),
    st.text(min_size=1, max_size=30),
).filter(lambda s: s.strip() and not re.fullmatch(r"[0-9a-f]{32}", s))

PROPERTY = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


class Shape(HTMLParser):
    """The elements of a document with their attribute names, and its text."""

    def __init__(self, html):
        super().__init__(convert_charrefs=True)
        self.tags = []
        self.text = []
        self.attribute_values = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        if tag == "wbr" and not attrs:
            return  # a break chance after each dot of a dotted code: one per dot of the text
        self.tags.append((tag, tuple(sorted(name for name, _ in attrs))))
        self.attribute_values += [value for _, value in attrs if value is not None]

    handle_startendtag = handle_starttag

    def handle_data(self, data):
        self.text.append(data)

    @property
    def all_text(self):
        return "".join(self.text)


def assert_only_text(response, plain, shown):
    """Same elements and attributes as the plain rendering; every value in `shown` is back
    as text (or an attribute value: copy buttons carry identifiers)."""
    got = Shape(response.content.decode())
    assert got.tags == plain.tags
    for value in shown:
        # As sent, or as dmportal displays upstream text (control and direction-override
        # characters as spaces, bounded): either way whole, and as text.
        forms = {value, clean_text(value, 500)}
        assert any(f in got.all_text or f in got.attribute_values for f in forms), value


PLAIN_SHAPES = {}


def plain_shapes(name, render):
    """The plain renderings' shapes, made once per test run (they do not depend on data)."""
    if name not in PLAIN_SHAPES:
        PLAIN_SHAPES[name] = {view: Shape(r.content.decode()) for view, r in render().items()}
    return PLAIN_SHAPES[name]


@pytest.fixture
def portal(user, connection):
    def get(path, **headers):
        client = Client()
        client.force_login(user)
        return client.get(path, **headers)

    return get


def device_with(values):
    return device(
        1,
        id=DEVICE_ID,
        name=values["name"],
        description=values["description"],
        endpoint_name=values["endpoint_name"],
        serial_number=values["serial_number"],
        device_class=values["device_class"],
        state=values["state"],
        vendor_id=values["vendor_id"],
        host_gateway=values["host_gateway"],
        manifest=values["manifest"],
        custom_attributes={values["attr_key"]: values["attr_value"]},
    )


FIELDS = (
    "name",
    "description",
    "endpoint_name",
    "serial_number",
    "device_class",
    "state",
    "vendor_id",
    "host_gateway",
    "manifest",
    "attr_key",
    "attr_value",
)
PLAIN = {name: f"plain {name}" for name in FIELDS}
device_values = st.fixed_dictionaries(dict.fromkeys(FIELDS, hostile))


def render_device_views(portal, values):
    """The device list page, its listing and rows fragments, and the device page."""
    item = device_with(values)
    with responses_lib.RequestsMock(assert_all_requests_are_fired=False) as api:
        api.get(f"{API}/v3/devices/", json=envelope([item], has_more=True, total=1))
        api.get(f"{API}/v3/devices/{DEVICE_ID}/", json=item)
        return {
            "list page": portal("/devices/"),
            "listing fragment": portal(
                "/devices/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="listing"
            ),
            "rows fragment": portal(
                f"/devices/?after={'0' * 32}",
                HTTP_HX_REQUEST="true",
                HTTP_HX_TARGET="devices-pager",
            ),
            "device page": portal(f"/devices/{DEVICE_ID}/"),
        }


@PROPERTY
@given(values=device_values)
def test_device_fields_are_rendered_as_text(portal, values):
    plain = plain_shapes("devices", lambda: render_device_views(portal, PLAIN))
    rendered = render_device_views(portal, values)
    for view, response in rendered.items():
        assert response.status_code == 200, view
        shown = [values["name"], values["endpoint_name"], values["serial_number"]]
        if view == "device page":
            shown += [values["description"], values["manifest"], values["attr_value"]]
        assert_only_text(response, plain[view], shown)


def event_with(text):
    return {
        "id": "e" * 32,
        "device_id": DEVICE_ID,
        "date_time": "2025-01-02T03:04:05Z",
        "event_type": text,
        "event_type_category": text,
        "event_type_description": text,
        "description": text,
        "state_change": True,
    }


def render_panels(portal, text):
    group = {"id": "f" * 32, "name": text, "devices_count": 3}
    with responses_lib.RequestsMock(assert_all_requests_are_fired=False) as api:
        api.get(f"{API}/v3/device-events/", json=envelope([event_with(text)], has_more=True))
        api.get(f"{API}/v3/device-groups/", json=envelope([group]))
        htmx = {"HTTP_HX_REQUEST": "true"}
        return {
            "events panel": portal(f"/devices/{DEVICE_ID}/events/", **htmx),
            "groups panel": portal(f"/devices/{DEVICE_ID}/groups/?id__in={'f' * 32}", **htmx),
        }


@PROPERTY
@given(text=hostile)
def test_event_and_group_panels_render_upstream_text_as_text(portal, text):
    plain = plain_shapes("panels", lambda: render_panels(portal, "plain text"))
    for view, response in render_panels(portal, text).items():
        assert response.status_code == 200, view
        assert_only_text(response, plain[view], [text])


def render_error(portal, message, type_, request_id, field):
    body = error_body(500, type_, message, request_id=request_id, fields=[(field, message)])
    with responses_lib.RequestsMock(assert_all_requests_are_fired=False) as api:
        api.get(f"{API}/v3/devices/", status=500, json=body)
        api.get(f"{API}/v3/devices/{DEVICE_ID}/", status=500, json=body)
        return {
            "list page": portal("/devices/"),
            "listing fragment": portal(
                "/devices/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="listing"
            ),
            "pager fragment": portal(
                f"/devices/?after={'0' * 32}",
                HTTP_HX_REQUEST="true",
                HTTP_HX_TARGET="devices-pager",
            ),
            "device page": portal(f"/devices/{DEVICE_ID}/"),
            "device fragment": portal(f"/devices/{DEVICE_ID}/", HTTP_HX_REQUEST="true"),
        }


@PROPERTY
@given(message=hostile, type_=hostile, request_id=hostile, field=hostile)
def test_upstream_error_messages_are_rendered_as_text(portal, message, type_, request_id, field):
    # What the client keeps of them (control characters out, bounded) must come back whole.
    assume(clean_text(message) and clean_text(type_, 64) and clean_text(field, 100))
    assume(clean_text(request_id, 64))
    plain = plain_shapes(
        "errors", lambda: render_error(portal, "plain message", "plain_type", "plain-id", "plain")
    )
    rendered = render_error(portal, message, type_, request_id, field)
    shown = [clean_text(message), clean_text(type_, 64), clean_text(request_id, 64)]
    shown.append(clean_text(field, 100))
    for view, response in rendered.items():
        assert response.status_code == 502, view
        assert_only_text(response, plain[view], shown)


def test_a_hostile_id_in_an_upstream_answer_never_becomes_a_link_or_an_error(portal):
    """The API answers for the device in the URL, but names another id: pages link only to
    the id of the URL and show the other as text (no 500 from reversing a URL with it)."""
    item = device(1, id='"><script>alert(1)</script>', host_gateway="../api-keys")
    with responses_lib.RequestsMock(assert_all_requests_are_fired=False) as api:
        api.get(f"{API}/v3/devices/{DEVICE_ID}/", json=item)
        api.get(f"{API}/v3/devices/", json=envelope([item]))
        page = portal(f"/devices/{DEVICE_ID}/")
        listing = portal("/devices/")
    assert page.status_code == 200
    assert listing.status_code == 200
    for response in (page, listing):
        shape = Shape(response.content.decode())
        assert [t for t in shape.tags if t[0] == "script" and "src" not in t[1]] == []
        links = [v for v in shape.attribute_values if v.startswith("/")]
        assert not [link for link in links if "api-keys" in link or "script" in link], links


# -- the ways around autoescaping, reviewed ------------------------------------------------------

# Every use, per file. Each was reviewed: what it marks safe is built from escaped text,
# formatted datetimes or constants, never from raw upstream or user text.
ALLOWED_UNESCAPED = {
    # format_when (datetimes only), badge, ident and dotted (html.escape), copy/expiry (format_html)
    "dmportal/core/templatetags/dm.py": {"format_html": 5, "SafeString": 8},
    # device rows and head (devices/columns.py): every value through html.escape (text(),
    # ident_html, head_html), ids only when 32 hex
    "dmportal/devices/templatetags/device_rows.py": {"SafeString": 2},
    # id_link: format_html escapes the text; the id goes into the URL only when 32 hex
    "dmportal/team/templatetags/team.py": {"format_html": 1},
}
UNESCAPED = re.compile(
    r"mark_safe|format_html|SafeString|SafeText|html_safe|\|\s*safe\b|\|\s*safeseq\b"
    r"|autoescape\s+off"
)


def source_files():
    for base, pattern in (("dmportal", "*.py"), ("templates", "*.html"), ("dmportal", "*.html")):
        for path in sorted((ROOT / base).rglob(pattern)):
            if "migrations" not in path.parts:
                yield path


def test_autoescaping_is_bypassed_only_where_reviewed():
    found = {}
    for path in source_files():
        relative = str(path.relative_to(ROOT))
        uses = "\n".join(
            line
            for line in path.read_text().splitlines()
            if not line.startswith(("from ", "import "))
        )
        for match in UNESCAPED.finditer(uses):
            name = re.sub(r"\W", "", match.group(0)).replace("autoescapeoff", "autoescape off")
            found.setdefault(relative, {}).setdefault(name, 0)
            found[relative][name] += 1
    assert found == ALLOWED_UNESCAPED


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)
STYLE = re.compile(r"<style\b|\sstyle\s*=", re.IGNORECASE)
HTMX_JSON = re.compile(r"\shx-(vals|headers|on\b|on:|on-)[^=]*=\s*(['\"])(.*?)\2", re.IGNORECASE)
JS_URL = re.compile(r"(href|src|action|hx-[a-z]+)\s*=\s*['\"]\s*javascript:", re.IGNORECASE)


def test_templates_have_no_inline_script_style_handlers_or_data_in_htmx_json():
    problems = []
    for path in source_files():
        if path.suffix != ".html":
            continue
        relative = str(path.relative_to(ROOT))
        text = path.read_text()
        for name, pattern in (
            ("inline script", INLINE_SCRIPT),
            ("event handler", EVENT_HANDLER),
            ("style", STYLE),
            ("javascript: URL", JS_URL),
        ):
            problems += [f"{relative}: {name}: {m.group(0)}" for m in pattern.finditer(text)]
        for match in HTMX_JSON.finditer(text):
            # The one allowed: Django's CSRF token (letters and digits) in the page's headers.
            if match.group(0).strip() != """hx-headers='{"X-CSRFToken": "{{ csrf_token }}"}'""":
                problems.append(f"{relative}: htmx JSON: {match.group(0)}")
    assert problems == []
