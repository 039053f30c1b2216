from django.conf import settings
from django.core.checks import Error, Warning, register

from .crypto import key_problems


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
    return [Error(problem, id="dmportal.E001") for problem in key_problems(keys)]
