"""Checks of the encryption keys: at start-up (Django's system checks) and on every readiness
probe (`/readyz`: core/health.py), both registered when accounts' AppConfig is ready."""

import logging

from django.conf import settings
from django.core.checks import Error, Warning, register

from dmportal.core.health import readiness_check

from . import crypto
from .models import Connection, EncryptionCanary

log = logging.getLogger("dmportal")


@register()
def encryption_keys(app_configs, **kwargs):
    keys = settings.DMPORTAL_ENCRYPTION_KEYS
    if not keys and settings.DEBUG:
        return [
            Warning(
                "DMPORTAL_ENCRYPTION_KEYS is not set: connections cannot be added.",
                id="dmportal.W001",
            )
        ]
    return [Error(problem, id="dmportal.E001") for problem in crypto.key_problems(keys)]


@readiness_check("encryption")
def encryption_state():
    """Whether DMPORTAL_ENCRYPTION_KEYS decrypt the canary.

    The canary is written with the first stored key, or by the first check of a database that
    holds none. Missing beside stored keys (deleted, or never written), it is not written
    here: the deployed keys might be the wrong ones, and writing it with them would bless
    them. `rotate_encryption_keys` writes it once it has read every stored key.

    Raises django.db.Error when the database cannot be read.
    """
    canary = EncryptionCanary.objects.order_by("pk").first()
    try:
        if canary is None:
            if Connection.objects.exists():
                log.warning(
                    "Readiness: the encryption canary is missing but keys are stored; run "
                    "`manage.py rotate_encryption_keys`, which writes it once it has read "
                    "every stored key"
                )
                return "canary missing"
            crypto.canary_token()  # EncryptionNotConfigured when there is no usable key
            canary_write()
            return "ok"
        if crypto.canary_readable(canary.token):
            return "ok"
    except crypto.EncryptionNotConfigured:
        log.warning("Readiness: DMPORTAL_ENCRYPTION_KEYS holds no usable key")
        return "keys missing"
    log.warning(
        "Readiness: the encryption keys cannot decrypt the canary written on %s: they are not "
        "the keys the stored API keys were encrypted with",
        f"{canary.created_at:%Y-%m-%d}",
    )
    return "wrong keys"


def canary_write():
    """Write the canary with the newest configured key, if there is none yet."""
    EncryptionCanary.objects.get_or_create(pk=1, defaults={"token": crypto.canary_token()})
