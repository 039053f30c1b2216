"""The bounded load test of issue 9: 50 concurrent users for 2 minutes against dmportal under
gunicorn (production settings), on a simulator that fails 1 % of API requests with a 500 and
stalls another 1 % until dmportal's timeout.

It stops by itself and asserts behaviour, not speed:

* no response from dmportal is a 500 (an upstream failure is a 502/504 error page, never a crash);
* every error page and fragment names dmportal's request id (the `X-Request-ID` header) and the
  upstream request id, or says the service sent none (a stall has no upstream answer);
* none of the simulator's keys appears in any response or in any line dmportal logged;
* the workers' memory is flat: resident size at the end within 15 % (+16 MiB) of the size
  after the warm-up;
* no worker dies or is replaced during the run (the same worker pids at the end, and nothing
  in gunicorn's log about a worker timeout, a signal or a boot).

A user does what a browser does when the server closes a kept-alive connection just as the
next request goes out on it (a race in any HTTP/1.1 keep-alive server; gunicorn's gthread
worker shows it about once in 10,000 requests here): it sends the GET again on a new
connection, once. Those retries are counted and printed, and must stay rare (at most 1 in
1,000 requests); a request that fails twice is a problem like any other.

Run with `make soak` (`pytest -m soak`), which runs it twice: on SQLite, and on PostgreSQL + Redis
(scripts/services.sh); `make test` runs it. `DMPORTAL_SOAK_SECONDS` shortens
it for a quick local try. Throughput is not asserted: that is the benchmark's job.
"""

import os
import random
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.benchmarks.processes import Portal, Simulator, rss_kib
from tests.deploy.conftest import scratch_database, services_missing

pytestmark = [pytest.mark.soak, pytest.mark.timeout(600)]

USERS = 50
SECONDS = float(os.environ.get("DMPORTAL_SOAK_SECONDS", "120"))
WARM_UP = min(15.0, SECONDS / 6)
THINK = (0.1, 0.5)  # seconds a user waits between two requests
API_TIMEOUT = 2  # dmportal's read timeout here: a stall costs a worker thread 2 s, not 10
DEVICE_LINK = re.compile(r'href="/devices/([0-9a-f]{32})/"')
PAGER_LINK = re.compile(r'hx-get="(/devices/\?[^"]*after=[^"]+)"')
KEY_SHAPED = re.compile(r"ak_[0-9A-Za-z]{20,}")


@pytest.fixture(scope="module")
def database_url():
    """The portal's database: a SQLite file (the one-machine default), or, when this run has
    PostgreSQL and Redis (`make soak` runs it both ways), a fresh PostgreSQL database."""
    if services_missing():
        yield None
        return
    with scratch_database("dmportal_soak") as url:
        yield url


@pytest.fixture(scope="module")
def stack(tmp_path_factory, database_url):
    workdir = tmp_path_factory.mktemp("soak")
    simulator = Simulator(
        workdir,
        name="faulty",
        devices=2000,
        latency_ms=20,
        extra_args=["--fault", "500", "--fault", "stall", "--fault-rate", "0.01"],
    )
    portal = Portal(workdir, simulator)
    portal.env["DMPORTAL_API_TIMEOUT"] = str(API_TIMEOUT)
    if database_url:
        portal.env["DATABASE_URL"] = database_url
        portal.env["CACHE_URL"] = os.environ["CACHE_URL"]
    # 50 virtual users share one dmportal account here; its per-user limit is for people.
    portal.env["DMPORTAL_USER_RATE_LIMIT"] = "0"
    try:
        portal.prepare()
        portal.start()
        yield simulator, portal
    finally:
        portal.stop()
        simulator.stop()


class Tally:
    """What the users saw, shared between their threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.statuses = {}
        self.problems = []  # (what, url, status, request id)
        self.device_ids = set()
        self.pager_urls = set()
        self.retried = []  # (url, what the first attempt raised)

    def record(self, status):
        with self.lock:
            self.statuses[status] = self.statuses.get(status, 0) + 1

    def problem(self, what, url, response):
        with self.lock:
            if len(self.problems) < 50:
                self.problems.append(
                    (what, url, response.status_code, response.headers.get("X-Request-ID"))
                )


def check(response, url, tally, keys):
    """The promises every response keeps, error or not."""
    tally.record(response.status_code)
    body = response.text
    if response.status_code >= 500 and response.status_code not in (502, 503, 504):
        tally.problem("server error", url, response)
    if any(key in body for key in keys) or KEY_SHAPED.search(body):
        tally.problem("key in body", url, response)
    if response.status_code >= 400:
        ours = response.headers.get("X-Request-ID", "")
        if not ours or ours not in body:
            tally.problem("error without dmportal's request id", url, response)
        if "Upstream request id" not in body:
            tally.problem("error without the upstream request id line", url, response)
    elif url.startswith("/devices/?") or url == "/devices/":
        with tally.lock:
            tally.device_ids.update(DEVICE_LINK.findall(body)[:20])
            tally.pager_urls.update(u.replace("&amp;", "&") for u in PAGER_LINK.findall(body)[:2])


def user(session, portal, tally, keys, stop_at, seed):
    rng = random.Random(seed)
    base = portal.base_url
    while time.monotonic() < stop_at:
        with tally.lock:
            devices = list(tally.device_ids)[:200]
            pagers = list(tally.pager_urls)[:50]
        choice = rng.random()
        headers = {}
        if choice < 0.35 or not devices:
            url = rng.choice(["/devices/", "/devices/?state=registered", "/devices/?limit=100"])
        elif choice < 0.55 and pagers:
            url, headers = rng.choice(pagers), {"HX-Request": "true"}
        elif choice < 0.80:
            url = f"/devices/{rng.choice(devices)}/"
        elif choice < 0.90:
            url = f"/support/search/?q={rng.choice(devices)}"
        else:
            url = "/team/users/"
        try:
            response = get_as_a_browser(session, base + url, headers, url, tally)
        except requests.RequestException as exc:
            with tally.lock:
                tally.problems.append(("no answer", url, f"{type(exc).__name__}: {exc}", None))
        else:
            check(response, url, tally, keys)
        time.sleep(rng.uniform(*THINK))


def get_as_a_browser(session, full_url, headers, url, tally):
    """A GET, sent once more on a new connection if the connection closed before any answer
    (a browser's rule for idempotent requests on a reused connection). A timeout is not
    retried: that is an answer that did not come, which the test reports."""
    try:
        return session.get(full_url, headers=headers, timeout=30)
    except requests.ConnectionError as exc:
        with tally.lock:
            tally.retried.append((url, f"{type(exc).__name__}: {exc}"[:200]))
        session.close()  # drop the pooled connections; the cookies stay
        return session.get(full_url, headers=headers, timeout=30)


WORKER_TROUBLE = re.compile(r"WORKER TIMEOUT|was sent SIG|Booting worker|Worker exiting")


def worker_trouble(portal, lines_at_start):
    """gunicorn's log lines, after start-up, that say a worker died or was replaced."""
    lines = portal.log_path.read_text(errors="replace").splitlines()[lines_at_start:]
    return [line for line in lines if WORKER_TROUBLE.search(line)]


def workers_rss(portal):
    return sum(rss_kib(pid) or 0 for pid in portal.worker_pids())


def test_fifty_users_for_two_minutes_on_a_failing_api(stack):
    simulator, portal = stack
    keys = (simulator.admin_key, simulator.developer_key)
    tally = Tally()
    # Everyone signs in first: Argon2 takes ~100 MiB per hash while it runs, which is not
    # what the memory check is about.
    with ThreadPoolExecutor(max_workers=4) as pool:
        sessions = list(pool.map(lambda _: portal.sign_in(), range(USERS)))
    pids_at_start = sorted(portal.worker_pids())
    log_lines_at_start = len(portal.log_path.read_text(errors="replace").splitlines())
    stop_at = time.monotonic() + SECONDS
    threads = [
        threading.Thread(target=user, args=(sessions[n], portal, tally, keys, stop_at, n))
        for n in range(USERS)
    ]
    for thread in threads:
        thread.start()
    time.sleep(WARM_UP)
    rss_after_warm_up = workers_rss(portal)
    samples = []
    while time.monotonic() < stop_at:
        time.sleep(min(5.0, max(0.0, stop_at - time.monotonic())))
        samples.append(workers_rss(portal))
    for thread in threads:
        thread.join(timeout=60)
    rss_at_end = samples[-1]
    stats = simulator.stats()

    total = sum(tally.statuses.values())
    errors = sum(n for status, n in tally.statuses.items() if status >= 400)
    print(
        f"\nsoak on {portal.env['DATABASE_URL'].split(':', 1)[0]}: "
        f"{USERS} users, {SECONDS:.0f} s, {total} responses "
        f"({total / SECONDS:.0f}/s), statuses {dict(sorted(tally.statuses.items()))}, "
        f"{errors} error pages; simulator: {stats['requests_total']} API requests, "
        f"faults {stats['faults']}; "
        f"workers RSS {rss_after_warm_up // 1024} MiB after warm-up, "
        f"{rss_at_end // 1024} MiB at the end; "
        f"{len(tally.retried)} GETs sent again after a closed connection {tally.retried[:3]}"
    )
    assert not any(thread.is_alive() for thread in threads)
    assert not tally.problems, "\n".join(map(str, tally.problems))
    assert sorted(portal.worker_pids()) == pids_at_start, "a worker died or was replaced"
    assert not worker_trouble(portal, log_lines_at_start)
    assert len(tally.retried) <= max(2, total // 1000), tally.retried[:10]
    assert 500 not in tally.statuses
    # The faults really happened and really reached the users as error pages.
    assert errors > 0
    assert sum(n for status, n in tally.statuses.items() if status == 200) > errors
    assert rss_at_end <= rss_after_warm_up * 1.15 + 16 * 1024

    log_text = portal.log_path.read_text(errors="replace")
    assert log_text.strip(), "dmportal logged nothing: the log check would prove nothing"
    assert not any(key in log_text for key in keys)
    assert not KEY_SHAPED.search(log_text)
