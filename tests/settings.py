"""Settings for the test suite: production settings (DEBUG off) with test secrets.

Everything else is dmportal.settings as a deployment would have it, so error pages, security
headers and cookies are tested as they behave in production.
"""

import os
import tempfile

os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production-0123456789abcdef")
# Two fixed test keys; tests that rotate override the setting.
os.environ.setdefault("DMPORTAL_ENCRYPTION_KEYS", "Z9RqWO8WxlRsMnFGnUsfw6uYRhjfx9f5jUdhGpS4blI=")
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("DMPORTAL_HTTPS", "false")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
os.environ.setdefault("DATABASE_URL", "sqlite://:memory:")
os.environ.setdefault("DMPORTAL_API_HOSTS", "https://api.example.test")
# Off: tests reuse user ids and make many requests; tests/core/test_ratelimit.py turns it on.
os.environ.setdefault("DMPORTAL_USER_RATE_LIMIT", "0")
# Jobs run at once, in the request or test that starts them; tests of the queue itself start a
# real db_worker (tests/exports/test_key_never_in_exports.py).
os.environ.setdefault("DMPORTAL_TASK_BACKEND", "django_tasks.backends.immediate.ImmediateBackend")
os.environ.setdefault("DMPORTAL_EXPORT_DIR", tempfile.mkdtemp(prefix="dmportal-test-exports-"))
os.environ["DMPORTAL_ENV_FILE"] = "/nonexistent"  # never read a developer's .env in tests

from dmportal.settings import *  # noqa: F403

# The manifest needs `collectstatic`; tests render templates without it.
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast; Argon2 tested apart

# Serve static files from the finders; the test run has no collectstatic output.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
