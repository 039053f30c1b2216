from django.utils.functional import cached_property

from .services import active_connection


class ConnectionContext:
    """The header's connection switcher data, computed only if a template asks for it
    (fragments never do, so they cost no query)."""

    def __init__(self, request):
        self.request = request

    @cached_property
    def connection(self):
        return active_connection(self.request)

    @cached_property
    def connections(self):
        user = self.request.user
        return list(user.connections.all()) if user.is_authenticated else []


def dmportal(request):
    return {"dm": ConnectionContext(request)}
