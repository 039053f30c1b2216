"""What dmportal keeps of a person's device list: the columns they chose, their default view
per connection, and per saved view (a device query of the API, which the API stores) its own
columns. Nothing here is a copy of the API's data: a view's name and query are always read
from the API."""

from django.conf import settings
from django.db import models


class DeviceListSettings(models.Model):
    """A person's device list: their columns (keys in order; empty: the default) and their
    default view on each connection ({connection pk: device query id}), in one row, so that
    a page of the list reads them with one query."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="device_list_settings"
    )
    columns = models.JSONField(default=list, blank=True)
    default_views = models.JSONField(default=dict, blank=True)

    def __str__(self):
        return f"device list settings of {self.user_id}"


class SavedViewSettings(models.Model):
    """One person's column set of one saved view on one connection (view ids are the
    account's)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_view_settings"
    )
    connection = models.ForeignKey(
        "accounts.Connection", on_delete=models.CASCADE, related_name="saved_view_settings"
    )
    query_id = models.CharField(max_length=32)
    columns = models.JSONField(default=list, blank=True)  # empty: the person's columns
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "connection", "query_id"], name="one_settings_per_view"
            ),
        ]

    def __str__(self):
        return f"view {self.query_id} of {self.user_id}"
