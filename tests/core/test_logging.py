"""Logs (checklist G3, G4): one JSON object per line (LOG_FORMAT=json) or one text line
(LOG_FORMAT=text), with the request id and the API client's fields; keys redacted from the
final text and every extra; CR/LF in user-typed text never makes a second line; and every
security event leaves a log record.

Formatter tests build LogRecords and format them directly: records holding a key on purpose
never reach the run-wide key watcher (tests/conftest.py), which must stay strict.
"""

import io
import json
import logging
import re
import runpy
import sys
from decimal import Decimal
from pathlib import Path

import pytest
import trustme
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

from dmportal.accounts.services import activity_record
from dmportal.core.logging import JsonFormatter, RedactingFormatter, RequestIdFilter
from tests.conftest import API, PASSWORD, SENTINEL_KEY, device, envelope, error_body

pytestmark = pytest.mark.django_db

SETTINGS_FILE = Path(__file__).resolve().parents[2] / "dmportal" / "settings.py"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
FORGED = "x\r\nFAKE 2026-01-01 INFO dmportal [-] admin signed in\u2028\x85\x0bmore"
RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def record(msg="hello %s", args=("world",), *, level=logging.INFO, exc_info=None, **extra):
    made = logging.LogRecord("dmportal.test", level, __file__, 1, msg, args, exc_info)
    made.request_id = "0123abcd"
    for name, value in extra.items():
        setattr(made, name, value)
    return made


def as_json(line):
    assert line.count("\n") == 0
    assert line.isascii()
    return json.loads(line)


def one_line(text):
    return len(text.splitlines()) == 1


# -- the JSON line ---------------------------------------------------------------------------------


def test_a_json_line_has_the_time_level_logger_request_id_message_and_extras():
    entry = as_json(
        JsonFormatter().format(
            record(upstream_request_id="up-1", status=503, duration_ms=52.5, attempts=2)
        )
    )
    assert RFC3339_UTC.match(entry.pop("time")), "UTC ISO 8601 with milliseconds"
    assert entry == {
        "level": "INFO",
        "logger": "dmportal.test",
        "request_id": "0123abcd",
        "message": "hello world",
        "upstream_request_id": "up-1",
        "status": 503,
        "duration_ms": 52.5,
        "attempts": 2,
    }


def test_values_json_cannot_hold_are_written_as_text():
    entry = as_json(JsonFormatter().format(record(amount=Decimal("1.50"), when={1, 2})))
    assert entry["amount"] == "1.50"
    assert sorted(entry["when"]) == [1, 2]


def test_keys_are_redacted_from_the_message_every_extra_and_the_exception():
    try:
        raise ValueError(f"rejected {SENTINEL_KEY}")
    except ValueError:
        exc_info = sys.exc_info()
    line = JsonFormatter().format(
        record(
            "key %s, header %s",
            (SENTINEL_KEY, "Authorization: Bearer tok3n-value"),
            level=logging.ERROR,
            exc_info=exc_info,
            detail={"nested": [f"in a list {SENTINEL_KEY}"], SENTINEL_KEY: "as a dict key"},
            raw=SENTINEL_KEY.encode(),  # not JSON: written as its text, then redacted
            bearer="Bearer\nsplit-token",
        )
    )
    assert "ak_SENTINEL" not in line
    assert SENTINEL_KEY[-20:] not in line
    assert "tok3n-value" not in line
    assert "split-token" not in line
    entry = as_json(line)  # redaction left valid JSON
    assert entry["message"] == "key [redacted], header Authorization: [redacted]"
    assert entry["detail"] == {"nested": ["in a list [redacted]"], "[redacted]": "as a dict key"}
    assert "ValueError: rejected [redacted]" in entry["exception"]
    assert entry["level"] == "ERROR"


def test_redaction_of_the_final_text_never_breaks_the_json():
    # Each value is redacted before encoding: a token after a tab (`\t` once encoded) is
    # caught, and the line stays valid JSON.
    line = JsonFormatter().format(record("%s", ("bearer\ttoken-after-a-tab",)))
    entry = as_json(line)
    assert "token-after-a-tab" not in line
    assert entry["message"] == "[redacted]"


@pytest.mark.parametrize("formatter", [JsonFormatter(), RedactingFormatter(TEXT_FORMAT)])
def test_line_breaks_in_user_text_never_make_a_second_line(formatter):
    line = formatter.format(record("sign-in failed for %r", (FORGED,), username=FORGED))
    assert one_line(line)
    assert "\n" not in line
    assert "\r" not in line
    assert "FAKE" in line  # kept, escaped, readable


def test_the_text_line_keeps_its_layout_and_a_traceback_follows_it():
    try:
        raise RuntimeError(f"boom {SENTINEL_KEY}")
    except RuntimeError:
        exc_info = sys.exc_info()
    text = RedactingFormatter(TEXT_FORMAT).format(
        record("failed for %s", ("x\nFAKE",), level=logging.ERROR, exc_info=exc_info)
    )
    first, *traceback = text.splitlines()
    assert re.match(r"^\S+ \S+ ERROR dmportal\.test \[0123abcd\] failed for x\\nFAKE$", first)
    assert traceback[0] == "Traceback (most recent call last):"
    assert traceback[-1] == "RuntimeError: boom [redacted]"
    assert "ak_SENTINEL" not in text


# -- LOG_FORMAT ------------------------------------------------------------------------------------


def logging_settings(monkeypatch, value=None):
    if value is None:
        monkeypatch.delenv("LOG_FORMAT", raising=False)
    else:
        monkeypatch.setenv("LOG_FORMAT", value)
    return runpy.run_path(str(SETTINGS_FILE))["LOGGING"]


def test_json_is_the_default_and_text_can_be_chosen(monkeypatch):
    default = logging_settings(monkeypatch)
    assert default["handlers"]["console"]["formatter"] == "json"
    assert default["formatters"]["json"]["()"] == "dmportal.core.logging.JsonFormatter"
    text = logging_settings(monkeypatch, "text")
    assert text["handlers"]["console"]["formatter"] == "text"
    assert text["formatters"]["text"]["format"] == TEXT_FORMAT


def test_an_unknown_log_format_stops_start_up(monkeypatch):
    with pytest.raises(ImproperlyConfigured, match="LOG_FORMAT"):
        logging_settings(monkeypatch, "xml")


def test_the_demo_logs_text():
    demo = (Path(__file__).resolve().parents[2] / "dmportal" / "demo.py").read_text()
    assert '"LOG_FORMAT": os.environ.get("LOG_FORMAT", "text")' in demo


# -- through a real request --------------------------------------------------------------------


@pytest.fixture
def json_lines():
    """Every log line of the test as LOG_FORMAT=json writes it (root handler, request ids)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield lambda: [as_json(line) for line in stream.getvalue().splitlines()]
    root.removeHandler(handler)
    root.setLevel(old_level)


def test_an_api_call_is_logged_with_its_fields_and_both_request_ids(signed_in, api, json_lines):
    api.get(
        f"{API}/v3/devices/",
        json=envelope([device(1)], total=1),
        headers={"X-Request-ID": "up-123"},
    )
    response = signed_in.get("/devices/")
    assert response.status_code == 200
    [call] = [e for e in json_lines() if e["logger"] == "dmportal.dmapi"]
    assert call["request_id"] == response["X-Request-ID"]
    assert call["upstream_request_id"] == "up-123"
    assert (call["method"], call["status"], call["attempts"], call["error"]) == (
        "GET",
        200,
        1,
        None,
    )
    assert call["path"].startswith("/v3/devices/")
    assert isinstance(call["duration_ms"], float)


def test_an_upstream_error_is_one_record_with_both_ids(signed_in, api, json_lines):
    api.get(
        f"{API}/v3/devices/",
        status=500,
        json=error_body(500, "internal_server_error", request_id="up-500"),
        headers={"X-Request-ID": "up-500"},
    )
    response = signed_in.get("/devices/")
    assert response.status_code == 502
    [call] = [e for e in json_lines() if e["logger"] == "dmportal.dmapi"]
    assert (call["request_id"], call["upstream_request_id"]) == (
        response["X-Request-ID"],
        "up-500",
    )
    assert call["status"] == 500


# -- security events (G4) --------------------------------------------------------------------------


def events(caplog, name):
    return [r for r in caplog.records if r.name == name]


def test_a_sign_in_is_logged(client, user, caplog):
    caplog.set_level(logging.INFO)
    client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    [entry] = events(caplog, "dmportal.audit")
    assert (entry.levelno, entry.event, entry.result, entry.username) == (
        logging.INFO,
        "signin",
        "ok",
        "alice",
    )
    assert entry.user_id == user.pk


def test_a_failed_sign_in_with_a_forged_name_is_one_record_and_one_line(client, user, caplog):
    caplog.set_level(logging.INFO)
    response = client.post("/accounts/login/", {"username": FORGED, "password": "wrong"})
    assert response.status_code == 200
    [entry] = events(caplog, "dmportal.audit")
    assert (entry.levelno, entry.event, entry.result) == (logging.WARNING, "signin", "failed")
    assert entry.username == FORGED[:150]
    assert "wrong" not in entry.getMessage()  # never the password
    for formatter in (JsonFormatter(), RedactingFormatter(TEXT_FORMAT)):
        assert one_line(formatter.format(entry))


def test_a_lock_out_is_logged(client, user, settings, caplog):
    caplog.set_level(logging.INFO)
    for _ in range(settings.DMPORTAL_SIGNIN_FAILURES):
        client.post("/accounts/login/", {"username": "alice", "password": "wrong"})
    locked = [r for r in caplog.records if "Password checks paused" in r.getMessage()]
    assert len(locked) == 1
    assert locked[0].levelno == logging.WARNING


def test_a_csrf_failure_is_logged(user, caplog):
    caplog.set_level(logging.INFO)
    browser = Client(enforce_csrf_checks=True)
    response = browser.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 403
    ours = [r for r in events(caplog, "dmportal") if "CSRF check failed" in r.getMessage()]
    assert len(ours) == 1
    assert ours[0].levelno == logging.WARNING
    assert events(caplog, "django.security.csrf")


def test_every_activity_entry_is_a_log_record(rf, user, caplog):
    """Connection add/replace/remove and API key create/delete are activity entries (tests in
    tests/accounts/test_connections.py and tests/team/test_api_keys.py); each is logged here."""
    caplog.set_level(logging.INFO)
    request = rf.post("/")
    request.user = user
    request.request_id = "f" * 32
    for action, result in [
        ("connection.add", "ok"),
        ("connection.replace_key", "ok"),
        ("connection.remove", "ok"),
        ("api_key.create", "ok"),
        ("api_key.delete", "failed"),
    ]:
        activity_record(request, action, target="Robot", result=result, upstream_request_id="u1")
    logged = [
        (r.event, r.result, r.target, r.upstream_request_id, r.levelno)
        for r in events(caplog, "dmportal.audit")
    ]
    assert logged == [
        ("connection.add", "ok", "Robot", "u1", logging.INFO),
        ("connection.replace_key", "ok", "Robot", "u1", logging.INFO),
        ("connection.remove", "ok", "Robot", "u1", logging.INFO),
        ("api_key.create", "ok", "Robot", "u1", logging.INFO),
        ("api_key.delete", "failed", "Robot", "u1", logging.WARNING),
    ]


def test_removing_a_connection_is_logged(client, user, connection, caplog):
    caplog.set_level(logging.INFO)
    client.force_login(user)  # a fresh sign-in counts as a recent password
    assert client.post(f"/connections/{connection.pk}/remove/").status_code == 302
    [entry] = [r for r in events(caplog, "dmportal.audit") if r.event == "connection.remove"]
    assert entry.target == "Acme production"


def test_a_stored_key_that_cannot_be_decrypted_is_logged(signed_in, settings, api, caplog):
    settings.DMPORTAL_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]  # not the one used
    caplog.set_level(logging.INFO)
    assert signed_in.get("/devices/").status_code == 409
    assert len(api.calls) == 0
    [entry] = [r for r in caplog.records if "cannot be decrypted" in r.getMessage()]
    assert entry.levelno == logging.WARNING


def test_an_upstream_401_is_logged(signed_in, api, caplog):
    api.get(f"{API}/v3/devices/", status=401, json=error_body(401, "invalid_auth"))
    caplog.set_level(logging.INFO)
    assert signed_in.get("/devices/").status_code == 403
    [call] = events(caplog, "dmportal.dmapi")
    assert (call.levelno, call.status, call.error) == (logging.WARNING, 401, "AuthenticationFailed")


def test_an_upstream_tls_failure_is_logged(sim_client, settings, tmp_path, caplog):
    other_ca = tmp_path / "other.pem"
    other_ca.write_bytes(trustme.CA().cert_pem.bytes())
    settings.DMPORTAL_API_CA_BUNDLE = str(other_ca)
    caplog.set_level(logging.INFO)
    assert sim_client.get("/devices/").status_code == 502
    [call] = events(caplog, "dmportal.dmapi")
    assert (call.levelno, call.status, call.error) == (logging.WARNING, None, "TLSFailure")
