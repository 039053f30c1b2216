"""HTML goes compressed over the wire, never a response that shows a secret (core.middleware.
CompressionMiddleware, and why BREACH does not apply, in its docstring and docs/security.md)."""

import gzip
import re

import pytest

from tests.conftest import API, device, envelope, make_connection, start_simulator, use_simulator
from tests.team.test_api_keys import GROUP_DEVS, KEYS, create_page, created_body, user

pytestmark = pytest.mark.django_db

GZIP = {"HTTP_ACCEPT_ENCODING": "gzip, deflate, br"}


def test_a_list_page_is_sent_compressed_and_reads_the_same(signed_in, api):
    api.get(f"{API}/v3/devices/", json=envelope([device(n) for n in range(1, 51)], total=50))
    plain = signed_in.get("/devices/")
    packed = signed_in.get("/devices/", **GZIP)
    assert packed.status_code == plain.status_code == 200
    assert packed["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in packed["Vary"]
    html = gzip.decompress(packed.content).decode()
    rows = html.count("<tr")
    assert rows == plain.content.decode().count("<tr")
    assert rows > 50  # the head and the 50 devices
    assert len(packed.content) * 4 < len(html)  # a table of rows compresses well
    assert "Content-Encoding" not in plain  # no Accept-Encoding, nothing compressed


def test_two_responses_never_carry_the_same_csrf_token(signed_in, api):
    """The masking that keeps the CSRF token out of BREACH's reach: new random bytes each time."""
    api.get(f"{API}/v3/devices/", json=envelope([], total=0))
    tokens = [
        gzip.decompress(signed_in.get("/devices/", **GZIP).content)
        .decode()
        .split('"X-CSRFToken": "', 1)[1]
        .split('"', 1)[0]
        for _ in range(2)
    ]
    assert len(tokens[0]) == 64
    assert tokens[0] != tokens[1]


def test_the_page_that_shows_a_new_key_is_never_compressed(signed_in, api):
    once = create_page(signed_in, api)
    api.post(KEYS, status=201, json=created_body())
    response = signed_in.post(
        "/team/api-keys/new/",
        {"once": once, "name": "Robot", "owner": user(2)["id"], "groups": [GROUP_DEVS]},
        **GZIP,
    )
    assert response.status_code == 201
    assert "Content-Encoding" not in response
    assert b"you will not see it again" in response.content


def test_a_download_is_sent_as_it_is(signed_in, api):
    from tests.exports.conftest import export

    api.get(f"{API}/v3/devices/", json=envelope([device(n) for n in range(1, 4)], total=3))
    job = export(signed_in, "/exports/devices/")
    response = signed_in.get(f"/jobs/{job.pk}/download/", **GZIP)
    assert response.status_code == 200
    assert "Content-Encoding" not in response
    assert b"Device ID" in b"".join(response.streaming_content)


@pytest.fixture(scope="module")
def wire_sim(tmp_path_factory):
    sim = start_simulator(tmp_path_factory, devices=1200, seed=5)
    yield sim
    sim.stop()


def test_a_thousand_row_page_and_a_load_more_fit_their_wire_budgets(
    client, settings, user, wire_sim
):
    """Issue 20's bytes on the wire, on the simulator's seeded (varied) devices: a 1,000-row
    device page <= 150 KB transferred, a 50-row "load more" <= 12 KB."""
    use_simulator(settings, wire_sim)
    make_connection(user, label="Admin", key=wire_sim.keys.admin, host=wire_sim.base_url)
    client.force_login(user)
    page = client.get("/devices/?limit=1000", **GZIP)
    assert page.status_code == 200
    html = gzip.decompress(page.content).decode()
    assert html.count("<tr") > 1000  # the head and 1,000 devices
    print(f"1,000 rows: {len(html)} bytes of HTML, {len(page.content)} sent")
    assert len(page.content) <= 150_000
    pager = re.search(r'hx-get="(/devices/\?[^"]*after=[^"]+)"', client.get("/devices/").text)
    more = client.get(pager.group(1).replace("&amp;", "&"), HTTP_HX_REQUEST="true", **GZIP)
    assert more.status_code == 200
    print(f"load more: {len(gzip.decompress(more.content))} bytes, {len(more.content)} sent")
    assert len(more.content) <= 12_000
