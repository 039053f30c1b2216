from django.urls import register_converter


class Hex32Converter:
    """Device Management ids: 32 lowercase hex characters. Anything else is a 404 before any
    API call (so `../api-keys` or `%2e%2e` can never reach an upstream path)."""

    regex = "[0-9a-f]{32}"

    def to_python(self, value):
        return value

    def to_url(self, value):
        return value


register_converter(Hex32Converter, "hex32")
