from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "dmportal.accounts"
    label = "accounts"

    def ready(self):
        from . import checks, signals  # noqa: F401 - registers checks and signal receivers
        from .errors import register_errors

        register_errors()
