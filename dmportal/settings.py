"""dmportal settings: every value comes from the environment (see `.env.example`).

Each variable is read once, here, with a cast. Secrets have no production default: with
DEBUG off, a missing SECRET_KEY or DMPORTAL_ENCRYPTION_KEYS stops start-up with a message
that names the variable.
"""

import base64
import binascii
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
# An optional env file (never committed): DMPORTAL_ENV_FILE, else ./.env when present.
_env_file = env.str("DMPORTAL_ENV_FILE", default=str(BASE_DIR / ".env"))
if Path(_env_file).is_file():
    environ.Env.read_env(_env_file, overwrite=False)

DEBUG = env.bool("DEBUG", default=False)


def _required_secret(name):
    value = env.str(name, default="")
    if value:
        return value
    if DEBUG:
        return None
    raise ImproperlyConfigured(
        f"{name} is not set. dmportal refuses to start without it when DEBUG is off; "
        f"see .env.example for how to generate one."
    )


SECRET_KEY = _required_secret("SECRET_KEY") or "insecure-development-only-key"
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])

# Fernet keys for stored API keys, newest first. Never derived from SECRET_KEY.
DMPORTAL_ENCRYPTION_KEYS = env.list("DMPORTAL_ENCRYPTION_KEYS", default=[])
if not DMPORTAL_ENCRYPTION_KEYS and not DEBUG:
    # Not `_required_secret`: a value of only separators (",") is set, yet names no key.
    raise ImproperlyConfigured(
        "DMPORTAL_ENCRYPTION_KEYS is not set (it names no key). dmportal refuses to start "
        "without it when DEBUG is off; see .env.example for how to generate one."
    )
for _index, _key in enumerate(DMPORTAL_ENCRYPTION_KEYS, start=1):
    # Checked here, not only by `manage.py check`: gunicorn does not run system checks.
    try:
        _valid = len(base64.urlsafe_b64decode(_key.encode("ascii"))) == 32
    except (binascii.Error, ValueError, UnicodeEncodeError):
        _valid = False
    if not _valid:
        raise ImproperlyConfigured(
            f"DMPORTAL_ENCRYPTION_KEYS entry {_index} is not a Fernet key (32 url-safe "
            "base64-encoded bytes); see .env.example for how to generate one."
        )

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# --- The Device Management API ------------------------------------------------------------
# Base URLs a user may connect to; the first is the default. Users pick from this list only.
DMPORTAL_API_HOSTS = env.list("DMPORTAL_API_HOSTS", default=["https://api.us-east-1.mbedcloud.com"])
if not DMPORTAL_API_HOSTS:
    raise ImproperlyConfigured("DMPORTAL_API_HOSTS must name at least one https:// base URL.")
for _host in DMPORTAL_API_HOSTS:
    if not _host.startswith("https://"):
        raise ImproperlyConfigured(
            f"DMPORTAL_API_HOSTS entry {_host!r} is not https://; the API is only used over HTTPS."
        )
DMPORTAL_API_CA_BUNDLE = env.str("DMPORTAL_API_CA_BUNDLE", default="") or None
DMPORTAL_API_TIMEOUT = env.float("DMPORTAL_API_TIMEOUT", default=10.0)
# Circuit breaker (per process, per API host): after this many calls in a row fail (no answer
# or a 502/503/504; never a 500 or a 4xx), calls fail at once for this many seconds, then one
# trial call may go. 0: off.
DMPORTAL_API_BREAKER_FAILURES = env.int("DMPORTAL_API_BREAKER_FAILURES", default=5)
DMPORTAL_API_BREAKER_SECONDS = env.float("DMPORTAL_API_BREAKER_SECONDS", default=30.0)
if DMPORTAL_API_BREAKER_FAILURES < 0 or DMPORTAL_API_BREAKER_SECONDS <= 0:
    raise ImproperlyConfigured(
        "DMPORTAL_API_BREAKER_FAILURES must be 0 (off) or more, and "
        "DMPORTAL_API_BREAKER_SECONDS more than 0."
    )
# Recent API calls kept per user for the support pages.
DMPORTAL_CALL_LOG_SIZE = env.int("DMPORTAL_CALL_LOG_SIZE", default=500)
# Per-user limit on requests that reach the API, "<requests>/<seconds>"; "0" or empty: off
# (core/ratelimit.py). 300 a minute is 5 a second for a whole minute: a person reading pages
# averages well under 1 a second, and a burst such as opening 30 device pages in tabs at once
# (3 requests each, with their panels) is 90; a script looping at 10 a second, or 30 tabs
# reloading every few seconds, reaches it within a minute.
_rate = env.str("DMPORTAL_USER_RATE_LIMIT", default="300/60").strip()
if _rate in ("", "0"):
    DMPORTAL_USER_RATE_LIMIT = None
else:
    _requests, _, _seconds = _rate.partition("/")
    _numbers = [n for n in (_requests, _seconds) if n.isascii() and n.isdigit() and int(n)]
    if len(_numbers) != 2:
        raise ImproperlyConfigured(
            f"DMPORTAL_USER_RATE_LIMIT is {_rate!r}: write <requests>/<seconds> with whole "
            "numbers above 0, like 300/60, or 0 to turn the limit off."
        )
    DMPORTAL_USER_RATE_LIMIT = (int(_requests), int(_seconds))

# --- Django ---------------------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "django_tasks",
    "django_tasks_db",
    "dmportal.core",
    "dmportal.accounts",
    "dmportal.devices",
    "dmportal.team",
    "dmportal.support",
    "dmportal.jobs",
    "dmportal.exports",
    "dmportal.simulator",
]

MIDDLEWARE = [
    "dmportal.core.middleware.RequestIDMiddleware",
    # Outermost, so the https redirect and static files carry X-Frame-Options and the CSP too
    # (an SVG opened directly is a document).
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # HTML compressed, never a response holding a secret (core.middleware: why BREACH does not
    # apply). Outside everything that writes the body; static files are WhiteNoise's own.
    "dmportal.core.middleware.CompressionMiddleware",
    # Outside every middleware that may replace the response (the HTMX login redirect).
    "dmportal.core.middleware.ResponseHeadersMiddleware",
    # /healthz and /readyz: answered before the Host check (CommonMiddleware) and the session.
    "dmportal.core.middleware.HealthProbeMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "dmportal.accounts.middleware.SessionTimeoutMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "dmportal.core.middleware.HtmxLoginRedirectMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Every POST needs a recent password unless exempted (accounts/reauth.py).
    "dmportal.accounts.reauth.RecentAuthMiddleware",
    "dmportal.core.middleware.Utf8QueryMiddleware",
    "dmportal.accounts.middleware.UserTimezoneMiddleware",
    "dmportal.accounts.middleware.ConnectionUsageMiddleware",
    "dmportal.support.middleware.ApiCallLogMiddleware",
    "dmportal.core.middleware.ApiErrorMiddleware",
]

ROOT_URLCONF = "dmportal.urls"
WSGI_APPLICATION = "dmportal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",
                "dmportal.accounts.context_processors.dmportal",
            ],
        },
    }
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'dmportal.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the gunicorn workers read while one writes; the timeout rides out short locks.
    # IMMEDIATE: a transaction (sign-in, saving a connection: all or nothing) takes the write
    # lock when it begins, so it waits for another writer. A deferred one that read first
    # fails at once with "database is locked" when another writer got in between, and the
    # timeout never applies (found by the soak test: concurrent sign-ins answered 503).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
# Each worker thread keeps its database connection between requests. Without this, every
# request opened a connection and closed it; on SQLite, closing the last connection also
# checkpoints and deletes the WAL file, which cost ~1.5 ms of every page (make benchmark).
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=60))
DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The default cache is what app servers share: the per-user API rate limit (core/ratelimit.py).
# (The one-time form tokens' guard and the password throttle are in the database, which every
# worker shares with or without a cache.) CACHE_URL (Redis) when there
# are several servers; without it, one machine and a per-process cache. Django's own
# RedisCache, named here rather than picked by django-environ (which would switch to
# django-redis if that package were ever installed); the URL goes to redis-py unchanged.
if env.str("REDIS_URL", default=""):
    raise ImproperlyConfigured("REDIS_URL is no longer read: set CACHE_URL to the same URL.")
CACHE_URL = env.str("CACHE_URL", default="")
if CACHE_URL:
    if not CACHE_URL.startswith(("redis://", "rediss://", "unix://")):
        raise ImproperlyConfigured(
            "CACHE_URL must be a Redis URL (redis://host:6379/0, rediss:// for TLS, or "
            "unix:///path/redis.sock)."
        )
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": CACHE_URL,
            # Everything kept in Redis may be skipped when Redis is away (see above), so a
            # Redis that silently drops packets must cost a request one second, not hang it.
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Sessions live in the database, which every server shares, also with CACHE_URL: one indexed
# read per request. Cached in Redis (cached_db), a Redis outage would fail every signed-in
# request (Django re-fills the cache after a miss without catching its errors), and a sign-out
# during one could leave the session alive in the cache.
SESSION_ENGINE = "django.contrib.sessions.backends.db"
# Rendered template fragments ({% cache %}: the filter forms) stay in each process: they are
# cheap to rebuild, and a shared cache would mix template versions during a rolling deploy.
CACHES["template_fragments"] = {
    "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
    "LOCATION": "template-fragments",
    "OPTIONS": {"MAX_ENTRIES": 1000},
}

# --- Background jobs (dmportal/jobs/) ---------------------------------------------------------
# django-tasks with its database backend: jobs are rows in DATABASE_URL's database, and
# `python manage.py db_worker` runs them (`make run` starts one; on PostgreSQL, several workers
# on several machines share the queue through row locks). Tests run tasks immediately.
TASKS = {
    "default": {
        "BACKEND": env.str("DMPORTAL_TASK_BACKEND", default="django_tasks_db.DatabaseBackend")
    }
}
# Jobs and the files they made are removed this long after they were started (or resumed):
# `python manage.py jobs_cleanup` removes them, and nothing expired is shown or served before.
DMPORTAL_JOB_EXPIRY_HOURS = env.int("DMPORTAL_JOB_EXPIRY_HOURS", default=24)
# A running job renews its lease at every step (every page of an export, every few seconds of a
# wait); a job whose lease is this old has lost its worker and can be resumed.
DMPORTAL_JOB_LEASE_SECONDS = env.int("DMPORTAL_JOB_LEASE_SECONDS", default=60)
if DMPORTAL_JOB_EXPIRY_HOURS < 1 or DMPORTAL_JOB_LEASE_SECONDS < 10:
    raise ImproperlyConfigured(
        "DMPORTAL_JOB_EXPIRY_HOURS must be 1 or more and DMPORTAL_JOB_LEASE_SECONDS 10 or more."
    )
# Where exports are written (Django's storage API, STORAGES["exports"]): a folder on this
# machine by default. With several app servers and workers, every one of them must reach the
# same files: DMPORTAL_EXPORT_DIR on a shared file system, or DMPORTAL_EXPORT_STORAGE naming
# another storage backend (an S3 bucket with django-storages' storages.backends.s3.S3Storage,
# configured by its own AWS_* settings).
DMPORTAL_EXPORT_DIR = env.str("DMPORTAL_EXPORT_DIR", default=str(VAR_DIR / "exports"))
DMPORTAL_EXPORT_STORAGE = env.str(
    "DMPORTAL_EXPORT_STORAGE", default="django.core.files.storage.FileSystemStorage"
)

# --- Sign-in and sessions -------------------------------------------------------------------
# Every authenticate() with a request goes through the password throttle: the admin's login too.
AUTHENTICATION_BACKENDS = ["dmportal.accounts.backends.ThrottledModelBackend"]
# Argon2 (Django's, ~100 MiB a hash), at most DMPORTAL_PASSWORD_HASHES at once per process
# (accounts/hashers.py); a check waits up to DMPORTAL_PASSWORD_HASH_WAIT seconds for its turn.
PASSWORD_HASHERS = [
    "dmportal.accounts.hashers.BoundedArgon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
DMPORTAL_PASSWORD_HASHES = env.int("DMPORTAL_PASSWORD_HASHES", default=2)
DMPORTAL_PASSWORD_HASH_WAIT = env.float("DMPORTAL_PASSWORD_HASH_WAIT", default=10.0)
if DMPORTAL_PASSWORD_HASHES < 1 or DMPORTAL_PASSWORD_HASH_WAIT <= 0:
    raise ImproperlyConfigured(
        "DMPORTAL_PASSWORD_HASHES must be 1 or more, and DMPORTAL_PASSWORD_HASH_WAIT more than 0."
    )
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

SESSION_COOKIE_AGE = env.int("SESSION_IDLE_MINUTES", default=60) * 60  # idle timeout
SESSION_SAVE_EVERY_REQUEST = False  # SessionTimeoutMiddleware renews it once a minute
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_ABSOLUTE_HOURS = env.int("SESSION_ABSOLUTE_HOURS", default=12)

# Failed password checks (sign-in, the password asked again, the password change), counted
# in the database, which every app server shares (also with CACHE_URL): a Redis restart,
# eviction or outage neither resets nor disables a pause (accounts/throttle.py). Per (user
# name, client address): paused for the cool-off after DMPORTAL_SIGNIN_FAILURES; per user name
# from any address: doubling pauses after DMPORTAL_SIGNIN_NAME_FAILURES; per address across
# user names: paused after DMPORTAL_SIGNIN_ADDRESS_FAILURES.
for _old, _new in (
    ("AXES_FAILURE_LIMIT", "DMPORTAL_SIGNIN_FAILURES"),
    ("AXES_COOLOFF_MINUTES", "DMPORTAL_SIGNIN_COOLOFF_MINUTES"),
):
    if env.str(_old, default=""):
        raise ImproperlyConfigured(f"{_old} is no longer read: set {_new} instead.")
DMPORTAL_SIGNIN_FAILURES = env.int("DMPORTAL_SIGNIN_FAILURES", default=5)
DMPORTAL_SIGNIN_NAME_FAILURES = env.int("DMPORTAL_SIGNIN_NAME_FAILURES", default=10)
DMPORTAL_SIGNIN_ADDRESS_FAILURES = env.int("DMPORTAL_SIGNIN_ADDRESS_FAILURES", default=30)
DMPORTAL_SIGNIN_COOLOFF_MINUTES = env.float("DMPORTAL_SIGNIN_COOLOFF_MINUTES", default=15)
if (
    min(DMPORTAL_SIGNIN_FAILURES, DMPORTAL_SIGNIN_NAME_FAILURES, DMPORTAL_SIGNIN_ADDRESS_FAILURES)
    < 1
    or DMPORTAL_SIGNIN_COOLOFF_MINUTES <= 0
):
    raise ImproperlyConfigured(
        "DMPORTAL_SIGNIN_FAILURES, _NAME_FAILURES and _ADDRESS_FAILURES must be 1 or more, "
        "and DMPORTAL_SIGNIN_COOLOFF_MINUTES more than 0."
    )
# The client address behind DMPORTAL_PROXY_COUNT trusted proxies (core/addresses.py).
DMPORTAL_PROXY_COUNT = env.int("DMPORTAL_PROXY_COUNT", default=0)

# --- HTTPS (production) -----------------------------------------------------------------------
# DMPORTAL_HTTPS=true when browsers reach dmportal over HTTPS (always, in production). Only
# the local demo on http://127.0.0.1 turns it off, because browsers drop Secure cookies there.
DMPORTAL_HTTPS = env.bool("DMPORTAL_HTTPS", default=not DEBUG)
if DMPORTAL_HTTPS:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    # Load balancers probe each app server directly, often over plain http: answer them there.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    # Preloading commits the whole domain to HTTPS in browsers for a long time and is hard to
    # undo, so it is the operator's decision (SECURE_HSTS_PRELOAD=true), not a default.
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
    if not SECURE_HSTS_PRELOAD:
        SILENCED_SYSTEM_CHECKS = ["security.W021"]
    SESSION_COOKIE_SECURE = True
    SESSION_COOKIE_NAME = "__Host-sessionid"
    CSRF_COOKIE_SECURE = True
    CSRF_COOKIE_NAME = "__Host-csrftoken"
if env.bool("DMPORTAL_BEHIND_PROXY", default=False):
    # Only when the proxy always sets (and strips client copies of) X-Forwarded-Proto.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
CSRF_COOKIE_HTTPONLY = True  # htmx gets the token from the page, not the cookie
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CSRF_FAILURE_VIEW = "dmportal.core.views.csrf_failure"
# Error reports (DEBUG page, mail_admins) with key-shaped text redacted from every variable.
DEFAULT_EXCEPTION_REPORTER_FILTER = "dmportal.core.reporting.RedactingReporterFilter"

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        # Browsers POST violations here (core.views.csp_report logs them).
        "report-uri": ["/csp-report/"],
    }
}

# --- Static files, i18n ------------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # Hashed, compressed names served with long-term cache headers by WhiteNoise.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    "exports": {
        "BACKEND": DMPORTAL_EXPORT_STORAGE,
        "OPTIONS": (
            {
                "location": DMPORTAL_EXPORT_DIR,
                "file_permissions_mode": 0o600,
                "directory_permissions_mode": 0o700,
            }
            if DMPORTAL_EXPORT_STORAGE.endswith("FileSystemStorage")
            else {}
        ),
    },
}
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

# --- Logging ----------------------------------------------------------------------------------
# One line per record, with dmportal's request id: a JSON object (LOG_FORMAT=json, for log
# collectors) or a readable text line (LOG_FORMAT=text, the local demo). Both formatters redact
# anything shaped like an API key or a bearer token as a last line of defence (the code never
# logs keys) and escape line breaks, so user-typed text cannot forge a line.
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOG_FORMAT = env.str("LOG_FORMAT", default="json")
if LOG_FORMAT not in ("json", "text"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be json or text, not {LOG_FORMAT!r}.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "dmportal.core.logging.RequestIdFilter"},
    },
    "formatters": {
        "text": {
            "()": "dmportal.core.logging.RedactingFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s",
        },
        "json": {"()": "dmportal.core.logging.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.server": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
    },
}
