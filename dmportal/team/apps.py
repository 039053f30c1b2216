from django.apps import AppConfig


class TeamConfig(AppConfig):
    name = "dmportal.team"
    label = "team"
