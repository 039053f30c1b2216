"""Checklist A1, A2, A3, A7 (the header) and A8: the production profile as it is deployed.

`manage.py check --deploy` runs in a fresh process on `dmportal.settings` with only the
variables a deployment sets; the gate is shown to fail on what it must catch. Error pages are
requested with DEBUG off (tests/settings.py is the production profile).
"""

import ast
import hashlib
import html
import json
import os
import re
import secrets
import subprocess
import sys
import tomllib
from pathlib import Path

import django
import pytest
from cryptography.fernet import Fernet
from django.test import Client

from tests.conftest import API, SENTINEL_KEY, device, envelope

ROOT = Path(__file__).resolve().parents[2]
# Variables a developer's shell or the test run may hold; a deployment sets its own.
OWN_PREFIXES = (
    "DMPORTAL",
    "SECRET",
    "DEBUG",
    "ALLOWED_HOSTS",
    "DATABASE",
    "CACHE_URL",
    "REDIS_URL",
    "CSRF",
    "SECURE",
    "SESSION",
    "AXES",
    "LOG_LEVEL",
    "DJANGO",
)


def production_env(**overrides):
    """The environment of a production deployment (random secrets, DEBUG unset)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(OWN_PREFIXES)}
    env.update(
        DJANGO_SETTINGS_MODULE="dmportal.settings",
        DMPORTAL_ENV_FILE="/nonexistent",
        SECRET_KEY=secrets.token_urlsafe(50),
        DMPORTAL_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        ALLOWED_HOSTS="dmportal.example.com",
        DATABASE_URL="sqlite://:memory:",
    )
    env.update(overrides)
    return env


def run_production(*args, **env):
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=production_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def production_settings(*names, **env):
    code = (
        "import django, json; django.setup(); from django.conf import settings as s; "
        f"print(json.dumps({{n: getattr(s, n, None) for n in {list(names)!r}}}))"
    )
    result = run_production("-c", code, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


# -- A1 ---------------------------------------------------------------------------------------


def test_check_deploy_passes_with_the_production_environment():
    result = run_production("manage.py", "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.parametrize(
    ("env", "check_id"),
    [
        ({"SECRET_KEY": "short-and-guessable"}, "security.W009"),
        ({"DEBUG": "true"}, "security.W018"),
        ({"DMPORTAL_HTTPS": "false"}, "security.W004"),
        ({"SECURE_SSL_REDIRECT": "false"}, "security.W008"),
    ],
)
def test_check_deploy_fails_the_build_on_a_weak_setting(env, check_id):
    result = run_production("manage.py", "check", "--deploy", "--fail-level", "WARNING", **env)
    assert result.returncode != 0
    assert check_id in result.stdout + result.stderr


def test_only_the_hsts_preload_check_is_silenced_and_only_while_preload_is_off():
    # Preloading is a deliberate, hard-to-undo decision (settings.py says why): W021 only.
    assert production_settings("SILENCED_SYSTEM_CHECKS")["SILENCED_SYSTEM_CHECKS"] == [
        "security.W021"
    ]
    with_preload = production_settings("SILENCED_SYSTEM_CHECKS", SECURE_HSTS_PRELOAD="true")
    assert not with_preload["SILENCED_SYSTEM_CHECKS"]


# -- A2 ---------------------------------------------------------------------------------------


def test_debug_is_off_unless_asked_for():
    assert production_settings("DEBUG") == {"DEBUG": False}


LEAKS = ("Traceback", 'File "', "Django Version", "SECRET_KEY", "settings.py", "Python 3.", "DEBUG")


def assert_leaks_nothing(response, *, also=()):
    body = response.content.decode()
    for marker in (*LEAKS, *also, sys.version.split()[0]):
        assert marker not in body, marker
    assert response["X-Request-ID"] in body  # the id to quote, always


@pytest.fixture
def exploding(signed_in, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("internal detail: /srv/dmportal/secret-path and a password")

    monkeypatch.setattr("dmportal.devices.views.resources.device_page", explode)
    signed_in.raise_request_exception = False
    return signed_in


@pytest.mark.django_db
@pytest.mark.parametrize("htmx", [False, True])
def test_a_crash_shows_a_generic_500_with_the_request_id(exploding, htmx):
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    response = exploding.get("/devices/", **headers)
    assert response.status_code == 500
    assert_leaks_nothing(response, also=("internal detail", "secret-path", "RuntimeError"))
    assert ("<html" in response.content.decode()) is not htmx


@pytest.mark.django_db
@pytest.mark.parametrize("htmx", [False, True])
def test_an_unknown_url_shows_a_generic_404_without_the_url_list(signed_in, htmx):
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    response = signed_in.get("/no/such/page/", **headers)
    assert response.status_code == 404
    assert_leaks_nothing(response, also=("URLconf", "urlpatterns", "dmportal.urls"))


@pytest.mark.django_db
def test_a_refused_request_shows_a_generic_400_with_the_request_id(signed_in):
    fields = {f"field{n}": "x" for n in range(1200)}  # more than DATA_UPLOAD_MAX_NUMBER_FIELDS
    response = signed_in.post("/preferences/", fields)
    assert response.status_code == 400
    assert_leaks_nothing(response, also=("TooManyFieldsSent", "DATA_UPLOAD"))


# -- A3 ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_rotating_secret_key_keeps_sessions_through_the_fallback(signed_in, user, settings, api):
    api.get(f"{API}/v3/devices/", json=envelope([device(1)], total=1))
    idle = Client()
    idle.force_login(user)  # a second session, not used while the fallback is configured
    old = settings.SECRET_KEY
    settings.SECRET_KEY = "a-brand-new-secret-key-" + secrets.token_urlsafe(40)
    settings.SECRET_KEY_FALLBACKS = [old]
    assert signed_in.get("/devices/").status_code == 200  # still signed in (and re-signed)
    assert api.calls[-1].request.headers["Authorization"] == f"Bearer {SENTINEL_KEY}"
    settings.SECRET_KEY_FALLBACKS = []  # the old key retired
    assert signed_in.get("/devices/").status_code == 200
    response = idle.get("/devices/")  # a session still signed with the old key only: ended
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
def test_stored_keys_do_not_depend_on_secret_key(client, user, connection, settings, api):
    api.get(f"{API}/v3/devices/", json=envelope([device(1)], total=1))
    settings.SECRET_KEY = "a-brand-new-secret-key-" + secrets.token_urlsafe(40)
    settings.SECRET_KEY_FALLBACKS = []
    client.force_login(user)  # ...and a new sign-in finds the stored key readable
    assert client.get("/devices/").status_code == 200
    assert api.calls[-1].request.headers["Authorization"] == f"Bearer {SENTINEL_KEY}"


SCANNED = {".py", ".html", ".js", ".css", ".md", ".toml", ".txt", ".sh", ".cfg", ".example", ""}
# Not committed (.gitignore), when git cannot say so itself.
IGNORED = {".git", ".venv", "var", "staticfiles", "__pycache__", ".pytest_cache", ".ruff_cache"}
IGNORED |= {".hypothesis", "test-results", "node_modules", ".env"}
SECRET_SHAPES = {
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "API key": re.compile(r"\bak_[A-Za-z0-9]{32,}"),
    "Fernet key": re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}=(?![A-Za-z0-9_=-])"),
    "secret assignment": re.compile(
        r"(?i)(SECRET_KEY|PASSWORD|ENCRYPTION_KEYS)\s*=\s*['\"][^'\"\s]{16,}['\"]"
    ),
}
# The test suite is made of made-up keys and secrets (the sentinel, test settings); there,
# only a private key would be a mistake.
TEST_SHAPES = ("private key",)


def committed_files():
    """The files a commit would hold: git's own list (tracked, and new files it does not
    ignore), or the working tree without what .gitignore names."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=False,
    )
    if listed.returncode == 0:
        paths = [ROOT / name for name in listed.stdout.decode().split("\0") if name]
    else:
        paths = [p for p in ROOT.rglob("*") if not set(p.relative_to(ROOT).parts) & IGNORED]
    for path in paths:
        if path.is_file() and path.suffix in SCANNED and path.stat().st_size < 2_000_000:
            yield path


def test_no_secret_is_committed():
    """A small secret scan (the checklist's detect-secrets step) over the repository's text."""
    found = []
    for path in committed_files():
        relative = str(path.relative_to(ROOT))
        text = path.read_text(errors="replace")
        for name, shape in SECRET_SHAPES.items():
            if relative.startswith("tests/") and name not in TEST_SHAPES:
                continue
            found += [f"{relative}: {name}: {m.group(0)[:24]}…" for m in shape.finditer(text)]
    assert found == []


# -- A7 ---------------------------------------------------------------------------------------

EXPECTED_CSP = {
    "default-src": {"'self'"},
    "script-src": {"'self'"},
    "style-src": {"'self'"},
    "img-src": {"'self'", "data:"},
    "connect-src": {"'self'"},
    "object-src": {"'none'"},
    "base-uri": {"'none'"},
    "frame-ancestors": {"'none'"},
    "form-action": {"'self'"},
}


def csp_directives(header):
    directives = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            directives[words[0]] = set(words[1:])
    return directives


@pytest.mark.django_db
def test_the_csp_header_value(signed_in, api, client):
    api.get(f"{API}/v3/devices/", json=envelope([device(1)], total=1))
    responses = [
        signed_in.get("/devices/"),
        signed_in.get("/devices/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="listing"),
        signed_in.get("/no/such/page/"),
    ]
    for response in responses:
        assert "Content-Security-Policy-Report-Only" not in response  # enforced, not reported
        directives = csp_directives(response["Content-Security-Policy"])
        reporting = {k: directives.pop(k) for k in ("report-uri", "report-to") if k in directives}
        assert directives == EXPECTED_CSP
        # Scripts and styles from dmportal's own files only: no nonce is needed, because no
        # template has an inline <script> or <style> (test_escaping checks the templates).
        assert reporting, "violations must be reported (report-uri)"
        for target in reporting.get("report-uri", ()):
            assert target.startswith("/"), target  # to dmportal itself


# -- A8 ---------------------------------------------------------------------------------------


def ruff(*args, stdin=None):
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_ruff_security_rules_are_on_for_all_product_code():
    lint = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["ruff"]["lint"]
    assert "S" in lint["select"]
    ignored = set(lint.get("ignore", []))
    for pattern, codes in lint.get("per-file-ignores", {}).items():
        if not pattern.startswith("tests"):
            ignored |= set(codes)
    for rule in ("S", "S1", "S113", "S5", "S501", "S502", "S503", "S504", "S505", "S506"):
        assert rule not in ignored, rule


def test_the_rules_catch_missing_timeouts_and_verify_false():
    snippet = (
        "import requests\n"
        "requests.get('https://x.example')\n"  # S113 (bandit B113)
        "requests.get('https://x.example', timeout=5, verify=False)\n"  # S501 (bandit B501)
        "session = requests.Session()\n"
        "session.get('https://x.example')\n"  # not seen: E1's runtime tests cover the client
    )
    result = ruff(
        "check", "--no-cache", "--select", "S", "--output-format", "json",
        "--stdin-filename", "dmportal/example.py", "-", stdin=snippet,
    )  # fmt: skip
    found = sorted((item["code"], item["location"]["row"]) for item in json.loads(result.stdout))
    assert found == [("S113", 2), ("S501", 3)]


def test_product_code_passes_the_security_rules():
    result = ruff("check", "--no-cache", "--select", "S", "dmportal", "manage.py", "scripts")
    assert result.returncode == 0, result.stdout


def test_django_is_a_supported_release():
    # 5.2 is an LTS release with security fixes until April 2028; pinned in requirements.txt.
    assert django.VERSION[:2] == (5, 2)
    pinned = re.search(r"^Django==(\S+)$", (ROOT / "requirements.txt").read_text(), re.M)
    assert pinned[1] == django.__version__


TLS_OFF = {"CERT_NONE", "_create_unverified_context", "disable_warnings", "InsecureRequestWarning"}


def test_no_code_turns_tls_verification_off():
    offences = []
    for path in (ROOT / "dmportal").rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.keyword) and node.arg == "verify":
                if not (isinstance(node.value, ast.Attribute) and node.value.attr == "verify"):
                    offences.append(f"{where} verify={ast.unparse(node.value)}")
            elif isinstance(node, ast.Attribute) and node.attr in TLS_OFF:
                offences.append(f"{where} {node.attr}")
            elif isinstance(node, ast.Name) and node.id in TLS_OFF:
                offences.append(f"{where} {node.id}")
            elif isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Attribute) and t.attr in ("verify", "check_hostname")
                for t in node.targets
            ):
                value = ast.unparse(node.value)
                if value in ("False", "None", "0"):
                    offences.append(f"{where} = {value}")
    assert offences == []


# -- C7 (the parts outside a browser; tests/browser/test_security.py checks htmx at run time) ---

VENDORED_HTMX = "htmx-2.0.11.min.js"
HTMX_SHA256 = "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717"
HARDENED_HTMX = {
    "selfRequestsOnly": True,
    "allowEval": False,
    "allowScriptTags": False,
    "historyCacheSize": 0,
    "includeIndicatorStyles": False,
    "historyRestoreAsHxRequest": False,
}


@pytest.mark.django_db
@pytest.mark.parametrize("signed_in_too", [False, True])
def test_every_page_carries_the_hardened_htmx_config(client, user, signed_in_too):
    if signed_in_too:
        client.force_login(user)
    page = client.get("/accounts/login/" if not signed_in_too else "/connections/")
    text = page.content.decode()
    (content,) = re.findall(r"<meta name=\"htmx-config\" content='([^']*)'>", text)
    config = json.loads(html.unescape(content))
    assert {k: config.get(k) for k in HARDENED_HTMX} == HARDENED_HTMX
    assert f"/static/vendor/{VENDORED_HTMX}" in text


def test_the_vendored_htmx_is_the_pinned_file_and_nothing_comes_from_a_cdn():
    vendor = ROOT / "static" / "vendor"
    assert sorted(p.name for p in vendor.iterdir()) == [VENDORED_HTMX]
    data = (vendor / VENDORED_HTMX).read_bytes()
    assert hashlib.sha256(data).hexdigest() == HTMX_SHA256
    assert b'version:"2.0.11"' in data
    remote = re.compile(r"<(script|link)\b[^>]*(src|href)=[\"']?(https?:)?//", re.IGNORECASE)
    for path in (ROOT / "templates").rglob("*.html"):
        assert remote.search(path.read_text()) is None, path
