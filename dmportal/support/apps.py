from django.apps import AppConfig


class SupportConfig(AppConfig):
    name = "dmportal.support"
    label = "support"

    def ready(self):
        from .exports import register_sources

        register_sources()
