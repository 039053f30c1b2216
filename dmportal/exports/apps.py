from django.apps import AppConfig


class ExportsConfig(AppConfig):
    name = "dmportal.exports"
    label = "exports"

    def ready(self):
        from .activity import register_sources
        from .engine import register_kind

        register_kind()
        register_sources()
