"""The connection errors: the signed-in user's active connection cannot be used.

Raised by `services.api_client` before anything is sent; each is a row of the error table
(core/errors.py), registered by `AccountsConfig.ready()`: a 409 page that says what to do,
with a link to the connection. Having no connection at all sends the person to add one.
"""

from django.contrib import messages
from django.shortcuts import redirect
from django.urls import reverse
from django_htmx.http import HttpResponseClientRedirect

from dmportal.core import errors
from dmportal.core.htmx import is_partial

from .hashers import PasswordHashingBusy


class CredentialError(Exception):
    """The active connection cannot be used (no connection, or its key cannot be read)."""

    def __init__(self, message, *, connection=None):
        super().__init__(message)
        self.message = message
        self.connection = connection


class NoConnection(CredentialError):
    pass


class CredentialUnreadable(CredentialError):
    pass


class HostNotAllowed(CredentialError):
    pass


def connection_actions(exc, request):
    actions = []
    if exc.connection is not None:
        actions.append(("Re-enter the key", reverse("connection_edit", args=[exc.connection.pk])))
    actions.append(("Manage connections", reverse("connection_list")))
    return actions


def to_connection_add(request, exc):
    messages.info(request, exc.message)
    url = reverse("connection_add")
    return HttpResponseClientRedirect(url) if is_partial(request) else redirect(url)


def connection_page(title, **flags):
    return errors.ErrorPage(
        409,
        title,
        lambda exc, request: exc.message,
        kind="connection",
        not_sent=True,
        actions=connection_actions,
        **flags,
    )


ROWS = (
    (CredentialError, connection_page("No connection")),
    (NoConnection, connection_page("Add a connection first", respond=to_connection_add, log=None)),
    (CredentialUnreadable, connection_page("This connection must be re-entered")),
    (HostNotAllowed, connection_page("This connection's API host is not allowed")),
    (
        PasswordHashingBusy,
        errors.ErrorPage(
            503,
            "dmportal is busy checking passwords",
            lambda exc, request: str(exc),
            kind="password_busy",
            about_api=False,
        ),
    ),
)


def register_errors():
    for exc_class, page in ROWS:
        errors.register(exc_class, page)
