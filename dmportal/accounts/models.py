from django.conf import settings
from django.db import models


class Connection(models.Model):
    """An API host and an encrypted API key, owned by one dmportal user.

    The plaintext key exists only in memory, inside `services.api_client`, for one request.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="connections"
    )
    label = models.CharField(max_length=100)
    api_host = models.CharField(max_length=200)
    key_ciphertext = models.TextField(editable=False)
    key_hint = models.CharField(max_length=16, editable=False)  # "ak_…abcd"
    key_id = models.CharField(max_length=32, blank=True, editable=False)  # from api-keys/me
    account_id = models.CharField(max_length=32, blank=True)
    account_name = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    key_changed_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    key_rejected_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["label", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["user", "label"], name="unique_connection_label")
        ]

    def __str__(self):
        return f"{self.label} ({self.api_host})"


class Preferences(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="preferences"
    )
    timezone = models.CharField(max_length=64, default="UTC")
    active_connection = models.ForeignKey(
        Connection, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self):
        return f"Preferences of {self.user}"


class ActivityEntry(models.Model):
    """dmportal's local activity log: who did what, to what, with which result. Never a key."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    username = models.CharField(max_length=150)
    action = models.CharField(max_length=64)
    target = models.CharField(max_length=300, blank=True)
    result = models.CharField(max_length=16, default="ok")
    detail = models.CharField(max_length=300, blank=True)
    connection_label = models.CharField(max_length=100, blank=True)
    account_id = models.CharField(max_length=32, blank=True)
    upstream_request_id = models.CharField(max_length=64, blank=True)
    request_id = models.CharField(max_length=32, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["user", "-created_at"])]
        verbose_name_plural = "activity entries"

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.username} {self.action} {self.result}"


class EncryptionCanary(models.Model):
    """A known text encrypted with DMPORTAL_ENCRYPTION_KEYS, in one row.

    `/readyz` decrypts it: when the configured keys are not the ones the stored API keys were
    encrypted with (a staging key deployed to production, a key dropped too early), readiness
    fails and the deploy stops before users find their connections unreadable. Written at the
    first readiness check; `rotate_encryption_keys` re-encrypts it with the stored keys.
    """

    token = models.TextField(editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"Encryption canary of {self.created_at:%Y-%m-%d}"
