from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "dmportal.core"
    label = "core"
