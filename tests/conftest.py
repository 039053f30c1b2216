import logging
import re

import pytest
import responses as responses_lib
from django.utils import timezone
from django.utils.functional import LazyObject

from dmportal.accounts import crypto
from dmportal.accounts.models import Connection
from tests.recorded import recorded

# A made-up key in the real format. Tests store and use it, then prove it appears nowhere:
# not in pages, fragments, URLs, cookies, logs or the database file.
SENTINEL_KEY = "ak_SENTINEL0123456789abcdefghijklmnopqrstuvwxyzSECRET"
API = "https://api.example.test"  # DMPORTAL_API_HOSTS in tests/settings.py
PASSWORD = "correct horse battery staple 42"


@pytest.fixture
def sentinel_key():
    return SENTINEL_KEY


@pytest.fixture(autouse=True)
def closed_circuit_breakers():
    """Every test starts and ends with the process's circuit breakers closed: failures one
    test provokes never make another fail fast."""
    from dmportal.dmapi import reset_shared_breakers

    reset_shared_breakers()
    yield
    reset_shared_breakers()


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user("alice", password=PASSWORD)


@pytest.fixture
def other_user(django_user_model):
    return django_user_model.objects.create_user("bob", password=PASSWORD)


def make_connection(user, *, label="Acme production", key=SENTINEL_KEY, host=API, **extra):
    """A stored connection, as `connection_create` leaves it (the first one also writes the
    readiness canary)."""
    from dmportal.accounts.checks import canary_write

    if not Connection.objects.exists():
        canary_write()
    return Connection.objects.create(
        user=user,
        label=label,
        api_host=host,
        key_ciphertext=crypto.encrypt_api_key(key, owner_id=user.pk),
        key_hint=crypto.key_hint(key),
        account_id=extra.pop("account_id", "a" * 32),
        account_name=extra.pop("account_name", "Acme Corp"),
        key_accepted_at=extra.pop("key_accepted_at", timezone.now()),  # just checked
        **extra,
    )


@pytest.fixture
def connection(user):
    return make_connection(user)


@pytest.fixture
def signed_in(client, user, connection):
    """A test client signed in as `user`, whose active connection holds the sentinel key."""
    client.force_login(user)
    return client


@pytest.fixture
def api():
    """The fake Device Management API (responses); fails on unexpected requests."""
    with responses_lib.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def envelope(items, *, has_more=False, total=None):
    """A list answer (recorded) holding `items`."""
    body = recorded("device_list", data=items, has_more=has_more, limit=50, after=None)
    del body["total_count"], body["order"]
    if total is not None:
        body["total_count"] = total
    return body


def error_body(status, type_, message="Something failed.", request_id="up-req-1", fields=()):
    """An error answer (the recorded 400's shape) with these values."""
    return recorded(
        "error_400",
        code=status,
        type=type_,
        message=message,
        fields=[{"name": n, "message": m} for n, m in fields],
        request_id=request_id,
    )


def device(n=0, **fields):
    """The recorded device, numbered `n`, with the values the tests read fixed, and a field
    the API may add one day."""
    values = {
        "id": f"{n:032x}",
        "name": f"Sensor {n}",
        "state": "registered",
        "lifecycle_status": "enabled",
        "endpoint_name": f"ep-{n}",
        "serial_number": f"SN-{n:05d}",
        "device_class": "class-a",
        "deployed_state": "production",
        "created_at": "2025-01-02T03:04:05Z",
        "updated_at": "2025-06-01T00:00:00.123456Z",
        "groups": [],
        "some_future_field": {"nested": True},
    }
    return recorded("device", **{**values, **fields})


# -- the embedded simulator ----------------------------------------------------------------------


# An identifier as the pages show it (templatetags/dm.py `ident`): <code class="id">, its start in
# a span, then its last characters.
SHOWN_ID = re.compile(r'<code class="id"><span>([^<]*)</span>([^<]*)</code>')


def shown_ids(html):
    """Every identifier a page shows, whole, in order."""
    return [start + end for start, end in SHOWN_ID.findall(html)]


def joined_ids(html):
    """The page with each identifier's text in one piece again (as a reader sees it)."""
    return SHOWN_ID.sub(lambda m: f'<code class="id">{m[1]}{m[2]}</code>', html)


def first_device_id(html):
    """The id in the first device row of a device table."""
    match = re.search(r'<td class="id">' + SHOWN_ID.pattern, html)
    return match[1] + match[2]


def start_simulator(tmp_path_factory, **options):
    from dmportal.simulator.server import Simulator

    options.setdefault("devices", 300)
    options.setdefault("seed", 7)
    sim = Simulator(state_dir=tmp_path_factory.mktemp("simulator"), **options)
    sim.start(host="127.0.0.1", port=0)
    return sim


@pytest.fixture(scope="session")
def simulator(tmp_path_factory):
    """A simulator shared by the session: read from it; write only to things you created."""
    sim = start_simulator(tmp_path_factory)
    yield sim
    sim.stop()


@pytest.fixture
def fresh_simulator(tmp_path_factory):
    """A simulator of this test's own, for tests that change its state or inject faults."""
    sim = start_simulator(tmp_path_factory)
    yield sim
    sim.stop()


def use_simulator(settings, sim):
    settings.DMPORTAL_API_HOSTS = [sim.base_url]
    settings.DMPORTAL_API_CA_BUNDLE = str(sim.ca_cert_path)
    settings.DMPORTAL_API_TIMEOUT = 5


@pytest.fixture
def sim(settings, simulator):
    """Point dmportal at the shared simulator; yields it."""
    use_simulator(settings, simulator)
    simulator.faults.clear()
    yield simulator
    simulator.faults.clear()


@pytest.fixture
def sim_user(user, sim):
    """`user` with two connections to the simulator: administrator key (active) and developer."""
    make_connection(
        user, label="Sim admin", key=sim.keys.admin, host=sim.base_url, account_name="Sim"
    )
    make_connection(
        user, label="Sim developer", key=sim.keys.developer, host=sim.base_url, account_name="Sim"
    )
    return user


@pytest.fixture
def sim_client(client, sim_user):
    """A test client signed in with the administrator key of the shared simulator active."""
    client.force_login(sim_user)
    return client


# -- no key in any log record of the whole run ---------------------------------------------------

KEY_IN_TEXT = re.compile(r"ak_[A-Za-z0-9]{20,}")


class KeyWatcher(logging.Handler):
    """Sees every log record of the test run, before any redaction, and remembers those that
    contain something shaped like an API key (the sentinel, the simulator's keys, any other):
    in the message, the exception, or any other attribute (the extras: `path`, `target`,
    `username`, `blocked_uri`, ...)."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.leaks = []

    def emit(self, record):
        try:
            texts = {"message": record.getMessage()}
        except Exception:  # a malformed record: its msg and args are still read below
            texts = {}
        if record.exc_info and record.exc_info[1] is not None:
            texts["exception"] = str(record.exc_info[1])
        for name, value in vars(record).items():
            # Numbers hold no key, and a lazy object (request.user) may need a query to say
            # what it is. Django's `request` is the URL as the client sent it: its path is in
            # the message; a key a person pasted into a filter is in its query string, which
            # dmportal did not write (the JSON line shows it redacted).
            if name == "request" or value is None:
                continue
            if isinstance(value, bool | int | float | LazyObject):
                continue
            try:
                texts[name] = value if isinstance(value, str) else str(value)
            except Exception:  # noqa: S112 - an object that cannot say what it is holds no text
                continue
        for name, text in texts.items():
            if KEY_IN_TEXT.search(text):
                self.leaks.append(f"{record.name}: {name}: {text[:200]}")
                return


KEY_WATCHER = KeyWatcher()


def pytest_sessionstart(session):
    logging.getLogger().addHandler(KEY_WATCHER)


def pytest_sessionfinish(session, exitstatus):
    logging.getLogger().removeHandler(KEY_WATCHER)
    if KEY_WATCHER.leaks:
        print("\nAPI keys found in log records of this run:", *KEY_WATCHER.leaks, sep="\n  ")
        session.exitstatus = 1
