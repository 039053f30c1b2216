"""Finding a device from any identifier: the look-ups sent, merging, redirects, failures."""

import json
import threading
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from dmportal.dmapi import ApiClient, resources
from dmportal.support.search import QueryError, parse_query, plan_lookups
from tests.conftest import API, SENTINEL_KEY, device, envelope, error_body, joined_ids

pytestmark = pytest.mark.django_db
DEVICES = f"{API}/v3/devices/"
HEX = "0123456789abcdef0123456789abcdef"


class FakeDevices:
    """The device list endpoint: answers each look-up by the filter it carries."""

    def __init__(self, api, devices=(), failures=None, barrier=None):
        self.devices = list(devices)
        self.failures = failures or {}  # field -> (status, body)
        self.barrier = barrier
        self.sent = []
        api.add_callback("GET", DEVICES, callback=self, content_type="application/json")

    def __call__(self, request):
        params = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
        self.sent.append(params)
        if self.barrier is not None:
            self.barrier.wait()  # every look-up must be in flight at once to get past this
        (key, value), *_ = [(k, v) for k, v in params.items() if "__" in k]
        field, op = key.split("__")
        if field in self.failures:
            status, body = self.failures[field]
            return status, {"X-Request-ID": body["request_id"]}, _json(body)
        wanted = {value} if op == "eq" else set(value.split(","))
        found = [d for d in self.devices if d.get(field) in wanted]
        return 200, {"X-Request-ID": f"up-{field}"}, _json(envelope(found, total=len(found)))

    def filters(self):
        return sorted(next(k for k in p if "__" in k) for p in self.sent)


def _json(body):
    return json.dumps(body)


# -- parsing -------------------------------------------------------------------------------------


def test_one_token_is_a_single_id_shaped_value():
    query = parse_query("  ACME-2023-0000042 ")
    assert query.values == ("ACME-2023-0000042",)
    assert query.kind == "single"
    assert query.id_shaped


def test_text_with_spaces_is_looked_up_as_typed_and_word_by_word():
    query = parse_query("Leeds boiler  12")
    assert query.values == ("Leeds boiler  12", "Leeds", "boiler", "12")
    assert query.kind == "words"
    assert not query.id_shaped


@pytest.mark.parametrize("text", ["SN-1, SN-2,SN-1", "SN-1\nSN-2", "SN-1;SN-2\r\n"])
def test_commas_semicolons_and_newlines_separate_values(text):
    query = parse_query(text)
    assert query.values == ("SN-1", "SN-2")
    assert query.kind == "list"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("   ", "Type an identifier"),
        (",,,", "Type an identifier"),
        (",".join(f"v{i}" for i in range(51)), "At most 50 values"),
        ("x" * 256, "longer than any identifier"),
        ("x" * 2001, "more than 2000 characters"),
    ],
)
def test_unusable_input_is_refused_with_a_reason(text, message):
    with pytest.raises(QueryError, match=message):
        parse_query(text)


def test_id_is_looked_up_only_for_32_hex_values_lowercased():
    by_field = {lookup.field.name: lookup for lookup in plan_lookups(parse_query(HEX.upper()))}
    assert by_field["id"].values == (HEX,)
    assert by_field["serial_number"].values == (HEX.upper(),)
    by_field = {lookup.field.name: lookup for lookup in plan_lookups(parse_query("SN-1"))}
    assert by_field["id"].values == ()
    assert "32 hexadecimal" in by_field["id"].skipped


def test_values_longer_than_a_field_allows_skip_that_field():
    value = "v" * 100
    by_field = {lookup.field.name: lookup for lookup in plan_lookups(parse_query(value))}
    assert by_field["endpoint_name"].skipped
    assert by_field["serial_number"].skipped
    assert by_field["name"].values == (value,)
    assert by_field["vendor_id"].values == (value,)


# -- the search page -----------------------------------------------------------------------------


def test_a_serial_number_that_finds_one_device_opens_its_dossier(signed_in, api):
    target = device(7, serial_number="ACME-2023-0000007")
    fake = FakeDevices(api, [target, device(8)])
    response = signed_in.get("/support/search/", {"q": "ACME-2023-0000007"})
    assert response.status_code == 302
    assert response["Location"] == f"/support/devices/{target['id']}/"
    # Four look-ups at once; the id look-up is skipped (not 32 hex characters).
    assert len(api.calls) == 4
    assert fake.filters() == [
        "endpoint_name__eq",
        "name__eq",
        "serial_number__eq",
        "vendor_id__eq",
    ]
    for params in fake.sent:
        assert params["limit"] == "25"
        assert params["include"] == "total_count"
        assert "ACME-2023-0000007" in params.values()


def test_a_device_id_is_looked_up_on_every_field_and_opens_the_device(signed_in, api):
    target = device(3, id=HEX)
    fake = FakeDevices(api, [target])
    response = signed_in.get("/support/search/", {"q": HEX.upper()})
    assert response.status_code == 302
    assert response["Location"] == f"/support/devices/{HEX}/"
    assert len(api.calls) == 5
    id_params = next(p for p in fake.sent if "id__eq" in p)
    assert id_params["id__eq"] == HEX


def test_the_lookups_are_sent_concurrently(signed_in, api):
    # Four look-ups, and each waits until all four have arrived: sequential calls would
    # break the barrier (BrokenBarrierError after the timeout) instead of all passing it.
    barrier = threading.Barrier(4, timeout=5)
    FakeDevices(api, [device(1)], barrier=barrier)
    response = signed_in.get("/support/search/", {"q": "nothing-matches"})
    assert response.status_code == 200
    assert len(api.calls) == 4
    assert not barrier.broken


def test_several_values_go_in_one_in_call_per_field_and_merge_without_duplicates(signed_in, api):
    one = device(1, serial_number="SN-1", name="SN-2")  # found by two fields
    two = device(2, serial_number="SN-2")
    fake = FakeDevices(api, [one, two, device(3)])
    response = signed_in.get("/support/search/", {"q": "SN-1, SN-2\nmissing"})
    assert response.status_code == 200
    assert len(api.calls) == 4
    serial = next(p for p in fake.sent if "serial_number__in" in p)
    assert serial["serial_number__in"] == "SN-1,SN-2,missing"
    html = response.content.decode()
    assert "2 devices found" in html
    assert html.count(f'href="/support/devices/{one["id"]}/"') == 1
    joined = joined_ids(
        html
    )  # a matched value reads as one id (shortened in the middle when short of room)
    assert 'serial number = <code class="id">SN-1</code>' in joined
    assert 'name = <code class="id">SN-2</code>' in joined
    assert 'serial number = <code class="id">SN-2</code>' in joined
    assert "Not found: <code>missing</code>" in html


def test_a_name_with_spaces_shows_the_hit_instead_of_redirecting(signed_in, api):
    target = device(4, name="Leeds boiler 12")
    fake = FakeDevices(api, [target, device(12, name="12")])
    response = signed_in.get("/support/search/", {"q": "Leeds boiler 12"})
    assert response.status_code == 200
    names = next(p for p in fake.sent if "name__in" in p)
    assert names["name__in"] == "Leeds boiler 12,Leeds,boiler,12"
    html = response.content.decode()
    assert "2 devices found" in html
    assert 'name = <code class="id">Leeds boiler 12</code>' in joined_ids(html)
    assert "looked up as typed and word by word" in html


def test_a_single_value_that_finds_several_devices_lists_them(signed_in, api):
    FakeDevices(api, [device(1, vendor_id="V-1"), device(2, vendor_id="V-1")])
    response = signed_in.get("/support/search/", {"q": "V-1"})
    assert response.status_code == 200
    assert "2 devices found" in response.content.decode()


def test_no_match_says_so_and_lists_what_was_tried(signed_in, api):
    FakeDevices(api, [device(1)])
    response = signed_in.get("/support/search/", {"q": "ZZ-404"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "No device matches “ZZ-404”" in html
    for param in ("endpoint_name__eq=ZZ-404", "serial_number__eq=ZZ-404", "name__eq=ZZ-404"):
        assert param in html
    assert "vendor_id__eq=ZZ-404" in html
    assert "skipped: only a value of 32 hexadecimal characters can be a device ID" in html
    assert html.count("no match") == 4
    assert '<details class="tried" open>' in html


def test_a_partial_failure_shows_the_hits_and_the_failed_lookup_with_its_request_id(signed_in, api):
    target = device(5, serial_number="SN-5", endpoint_name="SN-5")
    FakeDevices(
        api,
        [target],
        failures={"serial_number": (500, error_body(500, "internal_error", request_id="up-boom"))},
    )
    response = signed_in.get("/support/search/", {"q": "SN-5"})
    # One device was found, but a failed look-up may have hidden others: no redirect.
    assert response.status_code == 200
    html = response.content.decode()
    assert "1 device found" in html
    assert f'href="/support/devices/{target["id"]}/"' in html
    assert "1 of 4 look-ups failed" in html
    assert "<strong>Serial number</strong>: The Device Management service failed" in html
    assert "up-boom" in html
    assert response["X-Request-ID"] in html


def test_when_every_lookup_fails_the_page_says_why_like_any_failed_page(signed_in, api):
    body = error_body(401, "invalid_auth", request_id="up-401")
    fields = ("endpoint_name", "serial_number", "name", "vendor_id")
    FakeDevices(api, failures=dict.fromkeys(fields, (401, body)))
    response = signed_in.get("/support/search/", {"q": "SN-1"})
    assert response.status_code == 403
    html = response.content.decode()
    assert "The API key was rejected" in html
    assert "Replace the key" in html
    assert "Nothing could be searched" in html


def test_a_transport_failure_of_one_lookup_is_reported_without_request_id(signed_in, api):
    def router(request):
        if "vendor_id__eq" in request.url:
            raise requests.exceptions.ConnectionError("connection refused")
        return 200, {"X-Request-ID": "up-ok"}, _json(envelope([], total=0))

    api.add_callback("GET", DEVICES, callback=router, content_type="application/json")
    response = signed_in.get("/support/search/", {"q": "SN-1"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "<strong>Vendor ID</strong>: The Device Management API could not be reached" in html
    assert "No device found by the look-ups that worked" in html


def test_many_matches_link_to_the_whole_list(signed_in, api):
    items = [device(i, vendor_id="V-9") for i in range(25)]

    def router(request):
        if "vendor_id" in request.url:
            return 200, {}, _json(envelope(items, has_more=True, total=120))
        return 200, {}, _json(envelope([], total=0))

    api.add_callback("GET", DEVICES, callback=router, content_type="application/json")
    response = signed_in.get("/support/search/", {"q": "V-9"})
    html = response.content.decode()
    assert "120 devices match by vendor ID; only the first 25 are shown" in html
    assert 'href="/devices/?vendor_id__in=V-9"' in html


def test_an_empty_search_goes_to_the_support_page_without_calling_the_api(signed_in, api):
    response = signed_in.get("/support/search/", {"q": "  "})
    assert response.status_code == 302
    assert response["Location"] == "/support/"
    assert len(api.calls) == 0


def test_an_unusable_search_is_refused_without_calling_the_api(signed_in, api):
    response = signed_in.get("/support/search/", {"q": ",".join(f"v{i}" for i in range(60))})
    assert response.status_code == 400
    assert "At most 50 values" in response.content.decode()
    assert len(api.calls) == 0


def test_upstream_strings_in_hits_are_escaped_and_the_key_never_shows(signed_in, api):
    hostile = device(1, name="<img src=x onerror=alert(1)>", serial_number="SN-1", id="../x")
    FakeDevices(api, [hostile, device(2, serial_number="SN-1")])
    html = signed_in.get("/support/search/", {"q": "SN-1"}).content.decode()
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert 'href="/support/devices/../x/"' not in html
    assert SENTINEL_KEY not in html


def test_search_is_get_only(signed_in, api):
    assert signed_in.post("/support/search/", {"q": "x"}).status_code == 405


# -- against the simulator ---------------------------------------------------------------------


@pytest.fixture
def sim_device(sim):
    client = ApiClient(sim.base_url, sim.keys.admin, ca_bundle=str(sim.ca_cert_path))
    page = resources.device_page(client, limit=20, order="ASC")
    return next(d for d in page.items if d.get("endpoint_name") and " " in d.get("name", ""))


@pytest.mark.parametrize("field", ["id", "endpoint_name", "serial_number"])
def test_each_identifier_of_a_simulator_device_opens_its_dossier(
    sim_client, sim, sim_device, field
):
    sim.reset_stats()
    response = sim_client.get("/support/search/", {"q": sim_device[field]})
    assert response.status_code == 302
    assert response["Location"] == f"/support/devices/{sim_device['id']}/"
    expected = 5 if field == "id" else 4
    assert sim.stats()["requests"] == {"GET /v3/devices/": expected}


def test_a_simulator_device_name_and_vendor_id_are_found(sim_client, sim, sim_device):
    html = sim_client.get("/support/search/", {"q": sim_device["name"]}).content.decode()
    assert f'href="/support/devices/{sim_device["id"]}/"' in html
    html = sim_client.get("/support/search/", {"q": sim_device["vendor_id"]}).content.decode()
    assert "devices match by vendor ID" in html  # the simulator's vendors have many devices
