from urllib.parse import unquote_plus

from django.conf import settings
from django.db import models
from django.utils import timezone


class ApiCall(models.Model):
    """One Device Management API call dmportal made for a user: the recent-calls log.

    Written once per request by `middleware.ApiCallLogMiddleware`, bounded per user by
    DMPORTAL_CALL_LOG_SIZE. The path is the API path and query string the client built; the
    key travels only in a header, so no column can hold it.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    connection_label = models.CharField(max_length=100, blank=True)
    api_host = models.CharField(max_length=200, blank=True)  # with account_id: the account
    account_id = models.CharField(max_length=32, blank=True)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=2000)
    status = models.PositiveSmallIntegerField(null=True, blank=True)  # None: no answer
    duration_ms = models.PositiveIntegerField(default=0)
    attempts = models.PositiveSmallIntegerField(default=1)
    error = models.CharField(max_length=64, blank=True)  # the client's error class, or ""
    upstream_request_id = models.CharField(max_length=64, blank=True)
    request_id = models.CharField(max_length=32, blank=True)  # dmportal's own
    # When the dmportal request that made the call started (all calls of a request share it).
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["user", "-id"], name="apicall_user_newest"),
            models.Index(fields=["upstream_request_id"], name="apicall_upstream_id"),
            models.Index(fields=["request_id"], name="apicall_request_id"),
        ]

    def __str__(self):
        return f"{self.method} {self.path} -> {self.status}"

    @property
    def failed(self):
        return bool(self.error)

    @property
    def shown_path(self):
        """The path as a person reads it: `name__eq=Boiler room`, not `Boiler+room`."""
        return unquote_plus(self.path)


class DeviceNote(models.Model):
    """A support note on a device, kept in dmportal (not in Device Management).

    Keyed by the account of the connection it was written through (its API host and account
    id together): every dmportal user whose active connection's key the API accepted recently
    for the same account sees it (accounts.services.account_scope); no one else does.
    """

    api_host = models.CharField(max_length=200, default="")
    account_id = models.CharField(max_length=32)
    device_id = models.CharField(max_length=32)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    author_name = models.CharField(max_length=150)
    body = models.TextField(max_length=4000)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["api_host", "account_id", "device_id", "-created_at"],
                name="note_account_device",
            ),
        ]

    def __str__(self):
        return f"Note on {self.device_id} by {self.author_name}"
