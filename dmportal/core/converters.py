from django.urls import register_converter

from dmportal.dmapi.ids import ID_PATTERN


class Hex32Converter:
    """Device Management ids: 32 lowercase hex characters. Anything else is a 404 before any
    API call (so `../api-keys` or `%2e%2e` can never reach an upstream path)."""

    regex = ID_PATTERN

    def to_python(self, value):
        return value

    def to_url(self, value):
        return value


register_converter(Hex32Converter, "hex32")
