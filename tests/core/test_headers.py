"""Security headers on every kind of response: pages, fragments, errors, redirects."""

import pytest

from tests.conftest import API, device, envelope

pytestmark = pytest.mark.django_db


def check_common(response):
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "object-src 'none'" in csp
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    assert len(response["X-Request-ID"]) == 32


def test_anonymous_login_page(client):
    response = client.get("/accounts/login/")
    check_common(response)


def test_signed_in_page_fragment_error_and_redirect(signed_in, api):
    api.get(f"{API}/v3/devices/", json=envelope([device(1)], total=1))
    page = signed_in.get("/devices/")
    fragment = signed_in.get("/devices/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="listing")
    redirect = signed_in.get("/devices/?state__in=registered&state__in=bootstrapped")
    missing = signed_in.get("/nope/")
    for response in (page, fragment, redirect, missing):
        check_common(response)
        assert "no-store" in response["Cache-Control"]
        assert "HX-Request" in response["Vary"]


def test_https_settings_of_production():
    # tests run with DMPORTAL_HTTPS=false; production defaults to true. Check the values the
    # production branch sets by reading the module source's behaviour through a subprocess.
    import subprocess
    import sys

    from dmportal import settings as production

    code = (
        "import django,os;django.setup();from django.conf import settings as s;"
        "print(s.SESSION_COOKIE_NAME,s.CSRF_COOKIE_NAME,s.SESSION_COOKIE_SECURE,"
        "s.CSRF_COOKIE_SECURE,s.SECURE_SSL_REDIRECT,s.SECURE_HSTS_SECONDS,"
        "s.SECURE_HSTS_INCLUDE_SUBDOMAINS,s.CSRF_COOKIE_HTTPONLY,s.SESSION_COOKIE_HTTPONLY)"
    )
    env = {
        "DJANGO_SETTINGS_MODULE": "dmportal.settings",
        "DMPORTAL_ENV_FILE": "/nonexistent",
        "SECRET_KEY": "s" * 50,
        "DMPORTAL_ENCRYPTION_KEYS": "Z9RqWO8WxlRsMnFGnUsfw6uYRhjfx9f5jUdhGpS4blI=",
        "PATH": "/usr/bin:/bin",
    }
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == [
        "__Host-sessionid",
        "__Host-csrftoken",
        "True",
        "True",
        "True",
        "31536000",
        "True",
        "True",
        "True",
    ]
    assert production.X_FRAME_OPTIONS == "DENY"


def test_a_foreign_host_header_is_refused(client):
    response = client.get("/accounts/login/", HTTP_HOST="evil.example")
    assert response.status_code == 400
