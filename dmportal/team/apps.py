from django.apps import AppConfig


class TeamConfig(AppConfig):
    name = "dmportal.team"
    label = "team"

    def ready(self):
        from .exports import register_sources

        register_sources()
