"""Exports in Chromium, end to end on the processes `make run` starts: the simulator, dmportal
under gunicorn and one db_worker on a SQLite database (dmportal/launch.py). From a filtered
device list: start an export, watch its progress bar advance, download the file and check
its rows; cancel another one while it runs."""

import csv

import pytest

from tests.benchmarks.processes import Portal, Simulator

DEVICES = 4000


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("browser-exports")
    simulator = Simulator(workdir, name="api", devices=DEVICES, latency_ms=0)
    portal = Portal(workdir, simulator, workers=1, threads=4)
    try:
        portal.prepare()
        portal.start()
        portal.start_worker()
        yield portal, simulator
    finally:
        portal.stop()
        simulator.stop()


@pytest.fixture
def page(browser, stack):
    portal, _ = stack
    context = browser.new_context(
        base_url=portal.base_url, viewport={"width": 1280, "height": 800}, accept_downloads=True
    )
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    page.goto("/accounts/login/")
    page.fill("#id_username", Portal.USERNAME)
    page.fill("#id_password", portal.password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)
    yield page
    context.close()
    assert [e for e in errors if "Content Security Policy" in e or "page error" in e] == []


def slow_pages(simulator, pages):
    """Each device page after the first waits a second (a 429 with Retry-After: 1, which the
    client waits out), so the progress can be watched."""
    for number in range(pages - 1):
        simulator.control.post(
            f"{simulator.base_url}/_simulator/faults",
            json={"fault": "429:1", "path_prefix": "/v3/devices/", "method": "GET",
                  "at_call": 2 + 2 * number},
            timeout=10,
        ).raise_for_status()  # fmt: skip


def clear_faults(simulator):
    simulator.control.delete(f"{simulator.base_url}/_simulator/faults", timeout=10)


def progress_value(page):
    return page.eval_on_selector(
        "#job progress", "p => p.hasAttribute('value') ? [p.value, p.max] : null"
    )


def test_export_a_filtered_device_list_watch_it_and_download_the_file(page, stack):
    _, simulator = stack
    page.goto("/devices/?state__in=registered,bootstrapped&order=ASC")
    total = int(page.get_attribute("#results .count", "data-total"))
    assert total > 1000  # more than one page of the export
    page.click("a[data-export]")
    page.wait_for_url("**/exports/devices/?*")
    assert int(page.get_attribute(".export .count", "data-total")) == total
    page.check("input[name=format][value=csv]")
    slow_pages(simulator, pages=-(-total // 1000))
    try:
        page.click("[data-start-export]")
        page.wait_for_url("**/jobs/*/")
        # The bar advances while the job runs: a value part-way, then the whole.
        page.wait_for_function(
            "() => { const p = document.querySelector('#job progress');"
            " return p && p.hasAttribute('value') && p.value > 0 && p.value < p.max; }"
        )
        seen = progress_value(page)
        page.wait_for_selector("#job [data-state=done]", timeout=60_000)
    finally:
        clear_faults(simulator)
    assert 0 < seen[0] < seen[1] == total
    assert progress_value(page) == [total, total]
    with page.expect_download() as download:
        page.click("#job [data-download]")
    name = download.value.suggested_filename
    assert name.startswith("devices-state-registered-bootstrapped-oldest-first-")
    assert name.endswith("Z.csv")
    with open(download.value.path(), newline="") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == total
    assert {r["State"] for r in rows} <= {"registered", "bootstrapped"}
    assert len({r["Device ID"] for r in rows}) == total
    assert [r["Device ID"] for r in rows] == sorted(r["Device ID"] for r in rows)  # oldest first
    page.goto("/jobs/")
    assert page.locator("#jobs-table tbody tr").count() >= 1
    assert page.locator("#jobs-poll").count() == 0  # nothing runs: the list does not poll


def test_cancel_a_running_export(page, stack):
    _, simulator = stack
    page.goto("/exports/devices/")
    slow_pages(simulator, pages=DEVICES // 1000)
    try:
        page.click("[data-start-export]")
        page.wait_for_url("**/jobs/*/")
        page.wait_for_function(
            "() => { const p = document.querySelector('#job progress');"
            " return p && p.hasAttribute('value') && p.value > 0; }"
        )
        page.click("#job [data-cancel]")
        page.wait_for_selector("#job [data-state=cancelled]", timeout=30_000)
    finally:
        clear_faults(simulator)
    assert page.locator("#job [data-download]").count() == 0
    assert page.locator("#job [data-retry]").count() == 1
    assert "Cancelled" in page.inner_text("#job") or "cancelled" in page.inner_text("#job")
