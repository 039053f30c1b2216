from django.apps import AppConfig


class DevicesConfig(AppConfig):
    name = "dmportal.devices"
    label = "devices"

    def ready(self):
        from .exports import register_sources

        register_sources()
