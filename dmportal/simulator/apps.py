from django.apps import AppConfig


class SimulatorConfig(AppConfig):
    name = "dmportal.simulator"
    verbose_name = "Device Management API simulator"
