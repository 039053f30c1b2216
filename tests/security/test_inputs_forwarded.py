"""Checklist F3: whatever query string reaches the device list, what dmportal sends upstream
holds only allow-listed parameters, each once, each with a valid value.

Hypothesis builds arbitrary query strings (known parameters with good and hostile values,
operator variants the list does not offer, repeated keys, unknown and odd names) and sends
them as a browser would: plainly (dmportal redirects to the canonical URL, which is followed)
and as HTMX. The allow-list below is written from the API's side, independently of the form:
the form's fields with every operator the spec gives them, each other filter of the spec's
`x-filter` (api_facts.json) with a value of its type, and `filter=` holding only equality or
attribute filters (what only the legacy syntax can say).
"""

import json
import re
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import responses as responses_lib
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dmportal.dmapi.resources import DEPLOYED_STATES, DEVICE_STATES, LIFECYCLE_STATUSES, MECHANISMS
from tests.conftest import API, device, envelope

pytestmark = pytest.mark.django_db
HEX32 = re.compile(r"[0-9a-f]{32}")
TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3})?Z")


def free_text(value):
    items = value.split(",")
    return 0 < len(items) <= 100 and all(0 < len(i) <= 512 and i == i.strip() for i in items)


def ids(value):
    items = value.split(",")
    return 0 < len(items) <= 100 and all(HEX32.fullmatch(i) for i in items)


def one_of(choices):
    return lambda value: all(item in choices for item in value.split(","))


def limit(value):
    return value.isdigit() and 2 <= int(value) <= 1000


ALLOWED = {
    "limit": limit,
    "order": lambda v: v in ("ASC", "DESC"),
    "after": lambda v: bool(re.fullmatch(r"[A-Za-z0-9_-]{1,64}", v)),
    "include": lambda v: v == "total_count",
    "created_at__gte": TIME.fullmatch,
    "created_at__lte": TIME.fullmatch,
    "updated_at__gte": TIME.fullmatch,
    "updated_at__lte": TIME.fullmatch,
    "operator_suspended__eq": lambda v: v in ("true", "false"),
    "system_suspended__eq": lambda v: v in ("true", "false"),
}
for _field in ("name", "endpoint_name", "serial_number", "vendor_id", "device_class"):
    ALLOWED[f"{_field}__eq"] = ALLOWED[f"{_field}__in"] = free_text
for _field in ("id", "host_gateway"):
    ALLOWED[f"{_field}__eq"] = ALLOWED[f"{_field}__in"] = ids
for _field, _choices in (
    ("state", DEVICE_STATES),
    ("lifecycle_status", LIFECYCLE_STATUSES),
    ("deployed_state", DEPLOYED_STATES),
    ("mechanism", MECHANISMS),
):
    ALLOWED[f"{_field}__eq"] = ALLOWED[f"{_field}__in"] = one_of(_choices)


def _typed(spec):
    kind, enum = spec["type"], spec.get("enum")

    def valid(item):
        if enum is not None:
            return item in (str(e) for e in enum)
        if kind == "date-time":
            return bool(TIME.fullmatch(item))
        if kind == "date":
            return bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}", item))
        if kind == "boolean":
            return item in ("true", "false")
        if kind == "integer":
            return bool(re.fullmatch(r"-?\d+", item))
        return 0 < len(item) <= 512 and item == item.strip()

    return lambda value: all(valid(item) for item in value.split(","))


_SPEC = json.loads((Path(__file__).parents[2] / "dmportal/simulator/api_facts.json").read_text())
for _field, _spec in _SPEC["operations"]["GET /v3/devices/"]["filters"].items():
    for _op in _spec["ops"]:
        ALLOWED.setdefault(f"{_field}__{_op}", _typed(_spec))
for _name in list(ALLOWED):
    if _name.endswith("__eq") or _name.endswith("__in"):
        negated = _name[: -len("eq")] + "neq" if _name.endswith("__eq") else _name[:-2] + "nin"
        ALLOWED.setdefault(negated, ALLOWED[_name])
ATTRIBUTE = re.compile(
    r"(custom|component)_attributes__[A-Za-z_][A-Za-z0-9_.\-:]*__(eq|neq|in|nin)"
)


def legacy(value):
    """`filter=`: only what the separate parameters cannot say."""
    pairs = parse_qsl(value, keep_blank_values=True)
    return bool(pairs) and all(ATTRIBUTE.fullmatch(k) and 0 < len(v) <= 512 for k, v in pairs)


ALLOWED["filter"] = legacy


def check_outbound(url):
    pairs = parse_qsl(urlsplit(url).query, keep_blank_values=True)
    names = [name for name, _ in pairs]
    assert len(names) == len(set(names)), f"a parameter sent twice: {url}"
    for name, value in pairs:
        assert name in ALLOWED, f"not allow-listed: {name!r} in {url}"
        assert ALLOWED[name](value), f"not a valid {name}: {value!r}"
    assert "limit" in names
    assert "order" in names
    assert ("include" in names) is ("after" not in names)  # the total only on a first page


FIELDS = ["name", "id", "endpoint_name", "serial_number", "vendor_id", "device_class"]
FIELDS += ["host_gateway", "state", "lifecycle_status", "deployed_state", "mechanism"]
FIELDS += ["created_at", "updated_at", "operator_suspended", "system_suspended", "custom_attr"]
FIELDS += ["custom_attributes__site", "account_id", "auto_update", "device_execution_mode"]
OPERATORS = ["eq", "in", "neq", "nin", "gte", "lte", "like", ""]
HOSTILE = [
    "",
    " ",
    ",",
    ",,,",
    "a,b, c",
    "<script>",
    "x" * 600,
    "registered",
    "registered,flying",
    "true",
    "yes",
    "2025-01-31",
    "2025-02-30",
    "20250131T120000Z",
    "9999-12-31T23:59:59+14:00",
    "0" * 32,
    "A" * 32,
    "-1",
    "0",
    "1",
    "1001",
    "1e3",
    " 5",
    "DROP TABLE devices",
    "desc",
    "ASC",
    "../api-keys",
    "%2e%2e%2f",
    "a&b=c",
    "total_count",
    "\x00",
    "\u202e",
    "名前",
]
names = st.one_of(
    st.builds(
        lambda f, o: f"{f}__{o}" if o else f, st.sampled_from(FIELDS), st.sampled_from(OPERATORS)
    ),
    st.sampled_from(["limit", "order", "after", "include", "format", "fields", "q", "foo"]),
    st.text(min_size=1, max_size=20),
)
values = st.one_of(
    st.sampled_from(HOSTILE),
    st.lists(st.sampled_from(HOSTILE[:20]), min_size=2, max_size=4).map(",".join),
    st.text(max_size=40),
    st.integers(-5, 2000).map(str),
)
queries = st.lists(st.tuples(names, values), max_size=8)


@pytest.fixture
def portal(user, connection):
    client = Client()
    client.force_login(user)
    return client


def send(portal, query, **headers):
    """The list for this query string; returns the upstream URLs it caused."""
    with responses_lib.RequestsMock(assert_all_requests_are_fired=False) as api:
        api.get(re.compile(re.escape(f"{API}/v3/devices/") + r".*"), json=envelope([device(1)]))
        response = portal.get(f"/devices/?{urlencode(query)}", follow=True, **headers)
        assert response.status_code < 500, response.content.decode()[:300]
        return [call.request.url for call in api.calls]


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(query=queries, htmx=st.booleans())
def test_only_allow_listed_parameters_with_valid_values_go_upstream(portal, query, htmx):
    headers = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "listing"} if htmx else {}
    for url in send(portal, query, **headers):
        assert url.startswith(f"{API}/v3/devices/?")
        check_outbound(url)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # Several values of one parameter: one rule everywhere (the values are merged).
        ("state__in=registered&state__in=bootstrapped", {"state__in": "registered,bootstrapped"}),
        # A repeated single-value parameter: the last one wins, as QueryDict.get says.
        ("limit=10&limit=1000", {"limit": "1000"}),
        ("order=ASC&order=DESC", {"order": "DESC"}),
        # Every operator the spec gives a field is sent (issue 16).
        ("state__nin=deregistered", {"state__neq": "deregistered"}),
    ],
)
def test_duplicates_and_unknown_parameters(portal, query, expected):
    with responses_lib.RequestsMock(assert_all_requests_are_fired=False) as api:
        api.get(re.compile(re.escape(f"{API}/v3/devices/") + r".*"), json=envelope([device(1)]))
        assert portal.get(f"/devices/?{query}", follow=True).status_code == 200
        (call,) = api.calls
    sent = dict(parse_qsl(urlsplit(call.request.url).query))
    assert {k: v for k, v in sent.items() if k not in ("limit", "order", "include")} == {
        k: v for k, v in expected.items() if k not in ("limit", "order")
    }
    for key in ("limit", "order"):
        if key in expected:
            assert sent[key] == expected[key]
    check_outbound(call.request.url)


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=1001", "limit=abc", "order=sideways", "after=%3Cscript%3E", "id__eq=xyz"],
)
def test_invalid_values_are_refused_without_a_call(portal, query):
    with responses_lib.RequestsMock(assert_all_requests_are_fired=False) as api:
        api.get(re.compile(re.escape(f"{API}/v3/devices/") + r".*"), json=envelope([device(1)]))
        response = portal.get(f"/devices/?{query}", follow=True)
        assert response.status_code == 400
        assert len(api.calls) == 0


@pytest.mark.parametrize(
    "query", ["foo=bar&include=secret_stuff&fields=key", "name__like=x&state__neq=registered"]
)
def test_unknown_parameters_are_refused_not_forwarded(portal, query):
    """Never dropped in silence, never sent: the list says which it cannot use (issue 16)."""
    with responses_lib.RequestsMock(assert_all_requests_are_fired=False) as api:
        response = portal.get(f"/devices/?{query}")
        assert len(api.calls) == 0
    assert response.status_code == 400
    assert "is not a filter of this list" in response.content.decode() or (
        "filters name only with" in response.content.decode()
    )
