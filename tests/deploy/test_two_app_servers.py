"""Two dmportal app servers and two workers on one PostgreSQL and one Redis, as the README
deploys them.

Two gunicorn servers (gunicorn.conf.py, DEBUG off, plain http on loopback) share a database
made from empty, the Redis of CACHE_URL, SECRET_KEY and DMPORTAL_ENCRYPTION_KEYS, the export
folder (DMPORTAL_EXPORT_DIR), and talk to the simulator; two task-queue workers
(`manage.py db_worker`) run the background jobs. A client goes through the real forms (CSRF
tokens included) and moves from one server to the other, as a load balancer without sticky
sessions would send it: the session, a stored connection and the sign-in throttle all hold
across the two, and an export started on one is run by a worker and downloaded from the other.
"""

import csv
import io
import re
import secrets
import subprocess
import sys
import time

import pytest
import requests
from cryptography.fernet import Fernet
from django.conf import settings

from tests.benchmarks.processes import ROOT, Portal, Simulator
from tests.deploy.conftest import connect, scratch_database

pytestmark = pytest.mark.usefixtures("shared_services")

LOGIN = "/accounts/login/"
FAILURE_LIMIT = 4  # DMPORTAL_SIGNIN_FAILURES of the two servers: two failures on each pause
CSRF_TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
DEVICE_LINK = re.compile(r'href="/devices/([0-9a-f]{32})/"')


@pytest.fixture(scope="module")
def servers(shared_services, tmp_path_factory):
    """(first, second): two started Portals on a fresh database; the first ran `migrate`
    (once per release) and made the demo login; each collected its own static files."""
    workdir = tmp_path_factory.mktemp("two-app-servers")
    with scratch_database("dmportal_two_servers") as database_url:
        simulator = Simulator(workdir, name="api", devices=30, latency_ms=0)
        shared = {
            "SECRET_KEY": secrets.token_urlsafe(50),
            "DMPORTAL_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "DATABASE_URL": database_url,
            "CACHE_URL": settings.CACHES["default"]["LOCATION"],
            "DMPORTAL_SIGNIN_FAILURES": str(FAILURE_LIMIT),
            "DMPORTAL_ACCESS_LOG": "",
            "DMPORTAL_EXPORT_DIR": str(workdir / "exports"),
        }
        portals = []
        try:
            for name in ("first", "second"):
                server_dir = workdir / name
                server_dir.mkdir()
                portal = Portal(server_dir, simulator, workers=1, threads=4)
                portal.env.update(shared)
                portals.append(portal)
            first, second = portals
            first.prepare()
            second.manage("collectstatic", "--noinput", "-v", "0")
            for portal in portals:
                portal.start()
            first.start_worker()
            second.start_worker()
            yield first, second, simulator
        finally:  # before the database is dropped
            for portal in portals:
                portal.stop()
            simulator.stop()


def browser():
    session = requests.Session()
    session.trust_env = False
    return session


def submit(session, page_url, data):
    """GET a form's page, then POST the form with the page's CSRF token (no redirects)."""
    page = session.get(page_url, timeout=20)
    assert page.status_code == 200, (page_url, page.status_code)
    token = CSRF_TOKEN.search(page.text).group(1)
    return session.post(
        page_url,
        data={**data, "csrfmiddlewaretoken": token},
        headers={"Referer": page_url},
        allow_redirects=False,
        timeout=20,
    )


def sign_in(portal, username, password):
    session = browser()
    response = submit(
        session, portal.base_url + LOGIN, {"username": username, "password": password}
    )
    return session, response


def create_login(portal, username, password):
    portal.manage(
        "createsuperuser",
        "--noinput",
        "--username",
        username,
        "--email",
        f"{username}@example.test",
        env={"DJANGO_SUPERUSER_PASSWORD": password},
    )


def test_a_user_signed_in_on_one_server_is_signed_in_on_the_other(servers):
    first, second, _ = servers
    on_first = first.sign_in()  # the demo login, through the first server's form
    cookie = on_first.cookies.get("sessionid")
    assert cookie

    # Only the session cookie goes to the second server: nothing else is carried over.
    on_second = browser()
    on_second.cookies.set("sessionid", cookie)
    page = on_second.get(f"{second.base_url}/connections/", allow_redirects=False, timeout=20)
    assert page.status_code == 200
    assert "Simulator (administrator key)" in page.text
    anonymous = browser().get(f"{second.base_url}/connections/", allow_redirects=False)
    assert anonymous.status_code == 302
    assert anonymous.headers["Location"].startswith(LOGIN)

    # Signing out on the second server (the page's sign-out form) ends the session on the
    # first one too.
    token = CSRF_TOKEN.search(page.text).group(1)
    out = on_second.post(
        f"{second.base_url}/accounts/logout/",
        data={"csrfmiddlewaretoken": token},
        allow_redirects=False,
        timeout=20,
    )
    assert out.status_code == 302
    again = on_first.get(f"{first.base_url}/connections/", allow_redirects=False, timeout=20)
    assert again.status_code == 302
    assert again.headers["Location"].startswith(LOGIN)


def test_a_connection_added_on_one_server_is_usable_on_the_other(servers):
    first, second, simulator = servers
    password = secrets.token_urlsafe(16)
    create_login(first, "connector", password)
    session, signed_in = sign_in(first, "connector", password)
    assert signed_in.status_code == 302
    before = session.get(f"{second.base_url}/devices/", allow_redirects=False, timeout=20)
    assert before.status_code == 302
    assert before.headers["Location"] == "/connections/add/"  # no connection yet

    # The password was entered at sign-in, moments ago: the form is open without re-entry.
    added = submit(
        session,
        f"{first.base_url}/connections/add/",
        {
            "label": "Added on the first server",
            "api_host": simulator.base_url,
            "api_key": simulator.admin_key,
        },
    )
    assert added.status_code == 302, added.text[-500:]
    assert added.headers["Location"] == "/connections/"

    devices = session.get(f"{second.base_url}/devices/", allow_redirects=False, timeout=20)
    assert devices.status_code == 200
    assert "Added on the first server" in devices.text
    shown = set(DEVICE_LINK.findall(devices.text))
    direct = simulator.api_session().get(f"{simulator.base_url}/v3/devices/?limit=100", timeout=20)
    assert shown
    assert shown <= {item["id"] for item in direct.json()["data"]}
    assert simulator.admin_key not in devices.text


def test_the_sign_in_throttle_counts_failures_on_both_servers(servers):
    first, second, _ = servers
    password = secrets.token_urlsafe(16)
    create_login(first, "guessed", password)
    # FAILURE_LIMIT wrong passwords, alternating: each server sees only half of them.
    for attempt in range(FAILURE_LIMIT - 1):
        portal = (first, second)[attempt % 2]
        _, failed = sign_in(portal, "guessed", "not the password")
        assert failed.status_code == 200
        assert "Please enter a correct username and password" in failed.text
    _, last = sign_in(second, "guessed", "not the password")
    assert last.status_code == 429

    # Locked out on both servers, even with the right password.
    for portal in (first, second):
        _, locked = sign_in(portal, "guessed", password)
        assert locked.status_code == 429
        assert "Too many failed sign-ins" in locked.text


def test_the_secret_shown_once_guard_holds_across_processes(servers):
    """Two requests racing with the same one-time token, in two processes, each find the token
    in their own copy of the session: the shared database lets only the first one through
    (core/once.py; the cache is not involved, with or without CACHE_URL)."""
    token = secrets.token_urlsafe(24)
    first, _, _ = servers

    def consume():
        return subprocess.run(
            [
                sys.executable,
                "-c",
                "import django, sys; django.setup(); "
                "from dmportal.core.once import ONCE_SESSION_KEY, once_consume; "
                "request = type('Request', (), {})(); "
                "request.session = {ONCE_SESSION_KEY: [sys.argv[1]]}; "
                "print(once_consume(request, sys.argv[1]))",
                token,
            ],
            cwd=ROOT,
            env={**first.env, "DJANGO_SETTINGS_MODULE": "dmportal.settings"},
            capture_output=True,
            text=True,
            check=False,
        )

    one, other = consume(), consume()
    assert one.returncode == other.returncode == 0, (one.stderr + other.stderr)[-2000:]
    assert (one.stdout.strip(), other.stdout.strip()) == ("ok", "spent")


# -- background jobs ---------------------------------------------------------------------------

JOB_PATH = re.compile(r"^/jobs/(\d+)/$")
START_KEY = re.compile(r'name="start_key" value="([^"]+)"')


def start_export(session, portal, query):
    """The export of the device list at `query`, started through `portal`'s export page."""
    page_url = f"{portal.base_url}/exports/devices/?{query}"
    page = session.get(page_url, timeout=20)
    assert page.status_code == 200, page.text[-1000:]
    total = int(re.search(r'data-total="(\d+)"', page.text).group(1))
    started = session.post(
        page_url,
        data={
            "format": "csv",
            "csrfmiddlewaretoken": CSRF_TOKEN.search(page.text).group(1),
            "start_key": START_KEY.search(page.text).group(1),
        },
        headers={"Referer": page_url},
        allow_redirects=False,
        timeout=20,
    )
    assert started.status_code == 302, started.text[-1000:]
    assert JOB_PATH.match(started.headers["Location"])
    return started.headers["Location"], total


def wait_until_done(session, portal, job_path, seconds=120):
    """The job's page on `portal` once the job has ended (it polls itself the same way)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        html = session.get(portal.base_url + job_path, timeout=20).text
        if 'data-state="done"' in html or 'data-state="failed"' in html:
            return html
        time.sleep(0.5)
    raise AssertionError(f"{job_path} did not end within {seconds} s")


def test_an_export_started_on_one_server_is_run_by_a_worker_and_downloaded_from_the_other(
    servers,
):
    first, second, simulator = servers
    session = first.sign_in()
    job_path, total = start_export(session, first, "state__eq=registered")
    html = wait_until_done(session, second, job_path)
    assert 'data-state="done"' in html
    download = session.get(f"{second.base_url}{job_path}download/", timeout=20)
    assert download.status_code == 200
    assert download.headers["Content-Disposition"].startswith(
        'attachment; filename="devices-state-registered-'
    )
    assert "no-store" in download.headers["Cache-Control"]
    rows = list(csv.DictReader(io.StringIO(download.text, newline="")))
    direct = simulator.api_session().get(
        f"{simulator.base_url}/v3/devices/",
        params={"state__eq": "registered", "limit": 1000, "order": "DESC"},
        timeout=20,
    )
    assert [r["Device ID"] for r in rows] == [d["id"] for d in direct.json()["data"]]
    assert len(rows) == total
    assert simulator.admin_key not in download.text
    # Another browser (no session) gets nothing from either server.
    for portal in (first, second):
        anonymous = browser().get(f"{portal.base_url}{job_path}download/", allow_redirects=False)
        assert anonymous.status_code == 302


def test_two_workers_share_the_queue_and_run_each_job_once(servers):
    first, second, _ = servers
    session = first.sign_in()  # the demo login (made by the first server)
    paths = [start_export(session, (first, second)[n % 2], f"limit={10 + n}")[0] for n in range(4)]
    for path in paths:
        assert 'data-state="done"' in wait_until_done(session, first, path)
    ids = [int(JOB_PATH.match(path).group(1)) for path in paths]
    database_url = first.env["DATABASE_URL"]
    with connect(database_url) as conn:
        runs = conn.execute("SELECT runs FROM jobs_job WHERE id = ANY(%s)", (ids,)).fetchall()
        tasks = conn.execute(
            "SELECT worker_ids FROM django_tasks_database_dbtaskresult WHERE status = 'SUCCESSFUL'"
        ).fetchall()
    assert sorted(r[0] for r in runs) == [1, 1, 1, 1]  # no job was run twice
    assert all(len(worker_ids) == 1 for (worker_ids,) in tasks)


def test_start_sent_to_both_servers_at_the_same_moment_starts_one_export(servers):
    """A double click whose two requests a load balancer sends to different servers."""
    import threading

    first, second, _ = servers
    session = first.sign_in()
    page_url = f"{first.base_url}/exports/devices/?state__eq=deregistered"
    page = session.get(page_url, timeout=20)
    data = {
        "format": "csv",
        "csrfmiddlewaretoken": CSRF_TOKEN.search(page.text).group(1),
        "start_key": START_KEY.search(page.text).group(1),
    }
    gate = threading.Barrier(2, timeout=20)
    answers = {}

    def send(portal):
        other = browser()
        other.cookies.update(session.cookies)
        url = f"{portal.base_url}/exports/devices/?state__eq=deregistered"
        gate.wait()
        answers[portal.base_url] = other.post(
            url, data=data, headers={"Referer": url}, allow_redirects=False, timeout=20
        )

    threads = [threading.Thread(target=send, args=(portal,)) for portal in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=40)
    assert [a.status_code for a in answers.values()] == [302, 302]
    locations = {a.headers["Location"] for a in answers.values()}
    assert len(locations) == 1
    (job_path,) = locations
    assert 'data-state="done"' in wait_until_done(session, second, job_path)
    job_id = int(JOB_PATH.match(job_path).group(1))
    with connect(first.env["DATABASE_URL"]) as conn:
        (count,) = conn.execute(
            "SELECT count(*) FROM jobs_job WHERE start_key = %s", (data["start_key"],)
        ).fetchone()
        (runs,) = conn.execute("SELECT runs FROM jobs_job WHERE id = %s", (job_id,)).fetchone()
    assert (count, runs) == (1, 1)
