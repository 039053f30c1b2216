from django.conf import settings
from django.db import models

# The colours (each with its own shape, for those who cannot tell the colours apart) a user
# gives a connection so the header shows at a glance which account they are acting on. The
# CSS draws them from the class `conn-<colour>` (no inline styles: the CSP forbids them).
COLOURS = [
    ("", "none (grey ●)"),
    ("blue", "blue ●"),
    ("green", "green ■"),
    ("orange", "orange ▲"),
    ("red", "red ◆"),
    ("purple", "purple ★"),
]


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
    # What the key's policy groups make it, from /v3/api-keys/me/groups when the key was checked
    # (never per page): "administrator", "developer", "groups: <names>", "no groups", or ""
    # when not known (a key stored before dmportal asked, or the API did not say).
    key_role = models.CharField(max_length=200, blank=True, editable=False)
    colour = models.CharField(max_length=16, blank=True, default="", choices=COLOURS)
    # When the API last answered a call made with the key (to the minute): account-wide data
    # (staff notes, colleagues' calls) needs a recent one (services.account_scope).
    key_accepted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["label", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["user", "label"], name="unique_connection_label")
        ]

    def __str__(self):
        return f"{self.label} ({self.api_host})"

    @property
    def role_words(self):
        """The key's role in words, for the header: "administrator key", "developer key"..."""
        role = self.key_role
        if role in ("administrator", "developer"):
            return f"{role} key"
        if role == "no groups":
            return "key in no policy group"
        if role.startswith("groups: "):
            return f"key of {role[len('groups: ') :]}"
        return "key role not checked"

    @property
    def host_name(self):
        """The API host without its scheme: api.us-east-1.mbedcloud.com, 127.0.0.1:8443."""
        return self.api_host.removeprefix("https://").removeprefix("http://").rstrip("/")


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


class PasswordFailures(models.Model):
    """Failed password checks of one throttle rule's subject (throttle.py): a user name and
    address, a user name, or an address, by a digest (never the typed text)."""

    scope = models.CharField(max_length=8)
    key = models.CharField(max_length=64)
    count = models.PositiveIntegerField(default=0)
    last_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["scope", "key"], name="unique_password_failures")
        ]
        verbose_name_plural = "password failures"

    def __str__(self):
        return f"{self.count} failed password checks ({self.scope})"
