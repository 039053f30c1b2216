from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "dmportal.jobs"
    label = "jobs"
    verbose_name = "Background jobs"

    def ready(self):
        from . import signals  # noqa: F401 - a deleted job's files go with it
