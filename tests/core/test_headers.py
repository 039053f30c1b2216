"""Security headers on every kind of response (checklist A4, A6, B3, C1, C5, F1).

The walk enumerates every named URL pattern from the resolver, fills its converters with ids
the simulator knows, and GETs it as an anonymous visitor (page and HTMX), signed in, and
signed in with `HX-Request: true`. A URL added later is walked without touching this file;
one with a converter the walk cannot fill fails here until `sample_value` learns it.
A second walk POSTs to every URL without a CSRF token (403, nothing reaches the API). Then
the responses no walk reaches: a 404, a CSRF failure, a 500, a static file, a foreign Host,
and the production HTTPS profile (redirect, HSTS, cookies).
"""

import json
import subprocess
import sys

import pytest
from django.conf import settings
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, path, reverse
from django.urls.converters import IntConverter

from dmportal import urls as dmportal_urls
from dmportal.core.converters import Hex32Converter
from tests.conftest import API, PASSWORD, device, envelope

pytestmark = pytest.mark.django_db
LOGIN = "/accounts/login/"
CSP_MUST = (
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    "form-action 'self'",
)


def check_common(response):
    """What every response carries, whoever asked and whatever it is."""
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    csp = response["Content-Security-Policy"]
    for directive in CSP_MUST:
        assert directive in csp, directive
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    assert len(response["X-Request-ID"]) == 32


def check_dynamic(response, *, signed_in):
    """What every response of dmportal's own views carries on top (not static files)."""
    check_common(response)
    assert "HX-Request" in response["Vary"]
    if signed_in:
        assert "no-store" in response["Cache-Control"]


# -- the walk ------------------------------------------------------------------------------------


def named_patterns(patterns, namespace=""):
    """(qualified name, URLPattern) of every named pattern, included ones too."""
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = pattern.namespace
            ns = f"{namespace}:{inner}" if namespace and inner else inner or namespace
            yield from named_patterns(pattern.url_patterns, ns)
        elif isinstance(pattern, URLPattern) and pattern.name:
            yield (f"{namespace}:{pattern.name}" if namespace else pattern.name), pattern


NAMES = sorted({name for name, _ in named_patterns(get_resolver().url_patterns)})
PATTERNS = dict(named_patterns(get_resolver().url_patterns))

# The allowlist of URLs reachable without signing in (`login_not_required`, checklist F1);
# every other URL sends a visitor to sign in.
PUBLIC = {"login", "admin:login", "healthz", "readyz", "csp_report"}
ADMIN_LOGIN = "/admin/login/"


def simulator_ids(sim, connection):
    st = sim.store

    def first(collection, test=lambda o: True):
        return next(o["id"] for o in collection.objs.values() if test(o))

    application = first(st.applications)
    return {
        "connection": connection.pk,
        "device_id": first(st.devices),
        "device_group": first(st.device_groups),
        "policy_group": st.admin_group_id,
        "user_id": first(st.users),
        "invitation_id": first(st.invitations),
        "application_id": application,
        "api_key": first(st.api_keys),
        "access_key": first(st.access_keys, lambda k: k["application_id"] == application),
        "query_id": first(st.device_queries),
    }


def sample_value(name, param, converter, ids):
    if isinstance(converter, IntConverter):
        return ids["connection"]  # the only database id in a URL: the user's own connection
    if param == "group_id":
        return ids["device_group"] if name.startswith("device_group") else ids["policy_group"]
    if param == "key_id":
        return ids["access_key"] if name.startswith("access_key") else ids["api_key"]
    if param == "member_id":
        return ids["user_id"]
    if param == "kind":
        return "users"
    if param == "source_name":  # an export of a list: of one device's, or of a whole one
        return "device-events" if name == "export_start_of" else "devices"
    if param == "parent":
        return ids["device_id"]
    if isinstance(converter, Hex32Converter):
        return ids[param]  # a new kind of id: teach the walk a sample of it
    if param == "app_label":
        return "auth"
    return "1"  # the admin's object ids


def walk_url(name, ids):
    pattern = PATTERNS[name].pattern
    converters = getattr(pattern, "converters", {})
    params = converters.keys() or pattern.regex.groupindex.keys()
    kwargs = {p: sample_value(name, p, converters.get(p), ids) for p in params}
    return reverse(name, kwargs=kwargs)


@pytest.fixture
def walk(sim, sim_user):
    connection = sim_user.connections.order_by("pk").first()
    return simulator_ids(sim, connection)


def non_get_calls(sim):
    return {k: v for k, v in sim.stats()["requests"].items() if not k.startswith("GET ")}


def test_only_the_allowlisted_urls_are_public():
    public = {n for n, p in PATTERNS.items() if getattr(p.callback, "login_required", 1) is False}
    assert public == PUBLIC


def test_the_walk_covers_every_app():
    # The walk is only as good as the enumeration: it must see the included URLconfs.
    for name in ("home", "login", "device_detail", "api_key_delete", "device_notes", "admin:index"):
        assert name in NAMES
    assert len(NAMES) > 60


@pytest.mark.parametrize("name", NAMES)
def test_anonymous(client, walk, name):
    url = walk_url(name, walk)
    page = client.get(url)
    fragment = client.get(
        url, HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL=f"http://testserver{url}"
    )
    for response in (page, fragment):
        check_dynamic(response, signed_in=False)
        assert response.status_code < 500
        # No session for a visitor (Django keeps cookies in `response.cookies`, never in the
        # headers the response mapping shows).
        assert not response.cookies.get(settings.SESSION_COOKIE_NAME)
    if name in PUBLIC:
        assert not page.get("Location", "").startswith((LOGIN, ADMIN_LOGIN))
        return
    if name.startswith("admin:"):  # the admin's own sign-in page, or dmportal's
        assert page.status_code == 302
        assert page["Location"].startswith((ADMIN_LOGIN, f"{LOGIN}?next="))
        return
    # F1: every other URL needs a signed-in user; C5: HTMX goes to the login page, not a swap.
    assert page.status_code == 302
    assert page["Location"].startswith(f"{LOGIN}?next=")
    assert fragment.status_code < 300
    assert fragment["HX-Redirect"].startswith(f"{LOGIN}?next=")
    assert b"<form" not in fragment.content


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
@pytest.mark.parametrize("name", NAMES)
def test_signed_in(sim_client, sim, walk, name, htmx):
    url = walk_url(name, walk)
    headers = {}
    if htmx:
        headers = {"HTTP_HX_REQUEST": "true", "HTTP_HX_CURRENT_URL": f"http://testserver{url}"}
    before = non_get_calls(sim)
    response = sim_client.get(url, **headers)
    check_dynamic(response, signed_in=True)
    assert response.status_code < 500, response.content[:500]
    # C1: a GET changes nothing upstream.
    assert non_get_calls(sim) == before
    text = response.content.decode(errors="replace") + str(response.headers)
    assert sim.keys.admin not in text
    assert sim.keys.developer not in text


# The only view that takes a POST without a CSRF token: browsers send CSP violation reports
# without one (it changes nothing; core/views.py says why).
CSRF_EXEMPT = {"csp_report"}


def test_only_the_allowlisted_views_skip_the_csrf_check():
    exempt = {n for n, p in PATTERNS.items() if getattr(p.callback, "csrf_exempt", False)}
    assert exempt == CSRF_EXEMPT


@pytest.mark.parametrize("name", sorted(set(NAMES) - CSRF_EXEMPT))
def test_a_post_without_the_csrf_token_is_refused(sim, sim_user, walk, name):
    """C1: every URL refuses a state change without the token, before its view runs."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(sim_user)
    url = walk_url(name, walk)
    before = sim.stats()["requests"]
    response = client.post(url, {"name": "x", "understood": "on", "once": "x"})
    assert response.status_code == 403
    check_dynamic(response, signed_in=True)
    assert sim.stats()["requests"] == before  # nothing reached the API


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_other_unsafe_methods_without_the_token_are_refused(sim_user, walk, method):
    client = Client(enforce_csrf_checks=True)
    client.force_login(sim_user)
    response = getattr(client, method)(f"/connections/{walk['connection']}/remove/")
    assert response.status_code == 403
    assert sim_user.connections.count() == 2


# -- responses the walk does not reach -----------------------------------------------------------


def test_a_redirect_a_fragment_and_a_page(signed_in, api):
    api.get(f"{API}/v3/devices/", json=envelope([device(1)], total=1))
    page = signed_in.get("/devices/")
    fragment = signed_in.get("/devices/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="listing")
    redirect = signed_in.get("/devices/?state__in=registered&state__in=bootstrapped")
    assert (page.status_code, fragment.status_code, redirect.status_code) == (200, 200, 302)
    for response in (page, fragment, redirect):
        check_dynamic(response, signed_in=True)


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_not_found(client, user, htmx):
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    anonymous = client.get("/nope/", **headers)
    assert anonymous.status_code == 404
    check_dynamic(anonymous, signed_in=False)
    client.force_login(user)
    missing = client.get("/nope/", **headers)
    assert missing.status_code == 404
    check_dynamic(missing, signed_in=True)


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_a_csrf_failure(user, htmx):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    response = client.post("/preferences/", {"timezone": "UTC"}, **headers)
    assert response.status_code == 403
    check_dynamic(response, signed_in=True)


def boom(request):
    raise RuntimeError("a bug in a view")


urlpatterns = [path("boom/", boom), *dmportal_urls.urlpatterns]
handler400 = getattr(dmportal_urls, "handler400", None)
handler404 = dmportal_urls.handler404
handler500 = dmportal_urls.handler500


@pytest.mark.urls(__name__)
@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_a_server_error_with_debug_off(user, settings, htmx):
    assert settings.DEBUG is False
    client = Client(raise_request_exception=False)
    client.force_login(user)
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    response = client.get("/boom/", **headers)
    assert response.status_code == 500
    check_dynamic(response, signed_in=True)
    assert "a bug in a view" not in response.content.decode()
    assert response["X-Request-ID"] in response.content.decode()


@pytest.mark.parametrize("static", ["/static/dmportal.css", "/static/favicon.svg"])
def test_a_static_file(client, user, static):
    client.force_login(user)  # static files are the same for everyone, signed in or not
    response = client.get(static)
    assert response.status_code == 200
    check_common(response)
    assert "public" in response["Cache-Control"]
    assert not response.cookies  # neither the session's nor the CSRF cookie, nor any other


def test_a_foreign_host_header_is_refused_with_the_headers(client):
    response = client.get("/accounts/login/", HTTP_HOST="evil.example")
    assert response.status_code == 400
    check_dynamic(response, signed_in=False)


# -- the production HTTPS profile ------------------------------------------------------------------

HTTPS_SETTINGS = (
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SESSION_COOKIE_NAME",
    "SESSION_COOKIE_SECURE",
    "SESSION_COOKIE_HTTPONLY",
    "SESSION_COOKIE_SAMESITE",
    "CSRF_COOKIE_NAME",
    "CSRF_COOKIE_SECURE",
    "CSRF_COOKIE_HTTPONLY",
    "CSRF_COOKIE_SAMESITE",
)


@pytest.fixture(scope="module")
def production_https():
    """The HTTPS settings dmportal.settings makes from a production environment (DEBUG and
    DMPORTAL_HTTPS unset), read in a fresh interpreter: the test settings turn HTTPS off."""
    code = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        f"print(json.dumps({{n: getattr(s, n) for n in {HTTPS_SETTINGS!r}}}))"
    )
    env = {
        "DJANGO_SETTINGS_MODULE": "dmportal.settings",
        "DMPORTAL_ENV_FILE": "/nonexistent",
        "SECRET_KEY": "s" * 50,
        "DMPORTAL_ENCRYPTION_KEYS": "Z9RqWO8WxlRsMnFGnUsfw6uYRhjfx9f5jUdhGpS4blI=",
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture
def https(settings, production_https):
    for name, value in production_https.items():
        setattr(settings, name, value)
    return production_https


def test_the_production_profile_is_https_with_host_cookies(production_https):
    assert production_https == {
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31536000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_HSTS_PRELOAD": False,
        "SESSION_COOKIE_NAME": "__Host-sessionid",
        "SESSION_COOKIE_SECURE": True,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "CSRF_COOKIE_NAME": "__Host-csrftoken",
        "CSRF_COOKIE_SECURE": True,
        "CSRF_COOKIE_HTTPONLY": True,
        "CSRF_COOKIE_SAMESITE": "Lax",
    }


def test_plain_http_is_redirected_to_https(https, client, user):
    for target in (LOGIN, "/devices/?state__eq=registered"):
        response = client.get(target)
        assert response.status_code == 301
        assert response["Location"] == f"https://testserver{target}"
        check_common(response)
        assert "Strict-Transport-Security" not in response  # only ever sent over HTTPS


def test_https_responses_carry_hsts(https, client, user):
    response = client.get(LOGIN, secure=True)
    assert response.status_code == 200
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    check_dynamic(response, signed_in=False)


def test_signing_in_over_https_sets_host_prefixed_secure_cookies(https, user):
    client = Client(enforce_csrf_checks=True)
    page = client.get(LOGIN, secure=True)
    token = page.content.decode().split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
    response = client.post(
        LOGIN,
        {"username": "alice", "password": PASSWORD, "csrfmiddlewaretoken": token},
        secure=True,
        HTTP_REFERER="https://testserver/accounts/login/",
    )
    assert response.status_code == 302
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    cookies = response.cookies  # every Set-Cookie of the response, parsed
    assert set(cookies) >= {"__Host-sessionid", "__Host-csrftoken"}
    for name in ("__Host-sessionid", "__Host-csrftoken"):
        morsel = cookies[name]
        assert morsel["secure"] is True, name
        assert morsel["httponly"] is True, name
        assert morsel["samesite"] == "Lax", name
        assert morsel["path"] == "/", name  # __Host- cookies: Path=/ and no Domain
        assert not morsel["domain"], name
    assert "sessionid" not in cookies
    assert "csrftoken" not in cookies
    assert client.get("/connections/", secure=True).status_code == 200
