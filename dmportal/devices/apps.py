from django.apps import AppConfig


class DevicesConfig(AppConfig):
    name = "dmportal.devices"
    label = "devices"
