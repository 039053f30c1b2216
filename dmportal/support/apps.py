from django.apps import AppConfig


class SupportConfig(AppConfig):
    name = "dmportal.support"
    label = "support"
