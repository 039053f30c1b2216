from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "dmportal.jobs"
    label = "jobs"
    verbose_name = "Background jobs"
