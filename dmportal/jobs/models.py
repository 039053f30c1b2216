"""Background jobs: what a user asked dmportal to do in the background, and how far it got.

A job belongs to one user and one of their connections. Its record holds what the work needs
(`params`), where to go on from (`checkpoint`), what it found (`result`), its progress and its
state, and never a key: the worker decrypts the connection's key only while it runs the job
(accounts.services.connection_client), and the client holding it is gone when the run ends.
"""

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone


class State(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE = (State.QUEUED, State.RUNNING)
ENDED = (State.DONE, State.FAILED, State.CANCELLED)


def expiry_time():
    return timezone.now() + timedelta(hours=settings.DMPORTAL_JOB_EXPIRY_HOURS)


class Job(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    # Removing the connection keeps the job (it ends, saying why); its label stays readable.
    connection = models.ForeignKey(
        "accounts.Connection", null=True, on_delete=models.SET_NULL, related_name="+"
    )
    connection_label = models.CharField(max_length=100, blank=True)
    kind = models.CharField(max_length=40)  # a name in jobs.kinds
    title = models.CharField(max_length=300)  # what it does, in words
    params = models.JSONField(default=dict, blank=True)  # what the kind needs to run it

    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    done = models.PositiveIntegerField(default=0)  # items done so far
    total = models.PositiveIntegerField(null=True, blank=True)  # items expected (None: unknown)
    step = models.CharField(max_length=300, blank=True)  # the current step, in words
    checkpoint = models.JSONField(default=dict, blank=True)  # where a resumed run goes on from
    result = models.JSONField(default=dict, blank=True)  # what the kind reports at the end
    error = models.CharField(max_length=1000, blank=True)  # why it failed, in words
    error_request_ids = models.JSONField(default=list, blank=True)  # upstream request ids
    cancel_requested = models.BooleanField(default=False)

    # The run holding the job: each run claims it with a fresh token, and every update it
    # makes names the token, so a run that lost its lease can no longer write.
    run_token = models.CharField(max_length=32, blank=True)
    task_id = models.CharField(max_length=64, blank=True)  # the task queue's id of the last run
    runs = models.PositiveSmallIntegerField(default=0)

    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(default=expiry_time)

    # The file the job made, in the storage of its kind (exports: STORAGES["exports"]).
    file_name = models.CharField(max_length=300, blank=True)
    download_name = models.CharField(max_length=200, blank=True)
    file_size = models.BigIntegerField(null=True, blank=True)

    # The request that started it, for the activity log.
    request_id = models.CharField(max_length=32, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    # The one-time key of the form that started it: the same form sent twice (a double click,
    # a resend, two servers at once) starts one job (services.job_start).
    start_key = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="job_user_newest"),
            models.Index(fields=["state"], name="job_state"),
            models.Index(fields=["expires_at"], name="job_expiry"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "start_key"],
                condition=~models.Q(start_key=""),
                name="job_start_key_unique",
            )
        ]

    def __str__(self):
        return f"{self.kind} job {self.pk} of user {self.user_id}: {self.state}"

    @property
    def percent(self):
        if not self.total:
            return None
        return min(100, round(100 * self.done / self.total))

    @property
    def stale(self):
        """Running, but its worker stopped renewing the lease: the worker died or hangs."""
        return self.state == State.RUNNING and (
            self.heartbeat_at is None
            or timezone.now() - self.heartbeat_at > timedelta(seconds=lease_seconds())
        )

    @property
    def active(self):
        return self.state in ACTIVE and not self.stale

    @property
    def can_cancel(self):
        """Queued or running, and not asked to stop yet (or asked, but its worker died before
        it could: then cancelling ends it at once)."""
        return self.state in ACTIVE and (not self.cancel_requested or self.stale)

    @property
    def can_resume(self):
        """Failed (or its worker died) part-way: a new run goes on from the checkpoint."""
        return (self.state == State.FAILED or self.stale) and bool(self.checkpoint)

    @property
    def can_retry(self):
        """Ended without a checkpoint to go on from (or cancelled): a new run starts over."""
        return self.state == State.CANCELLED or (
            (self.state == State.FAILED or self.stale) and not self.checkpoint
        )

    @property
    def downloadable(self):
        return self.state == State.DONE and bool(self.file_name) and not self.expired

    @property
    def expired(self):
        return self.expires_at <= timezone.now()


def lease_seconds():
    return settings.DMPORTAL_JOB_LEASE_SECONDS


class JobItem(models.Model):
    """The outcome for one item of a job that acts on many (a bulk action on devices): kept
    per item so the job's page can list what failed, and a retry can skip what is done."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveIntegerField()
    key = models.CharField(max_length=64)  # what the item is (a device id)
    outcome = models.CharField(max_length=16)  # "done", "failed", "skipped", ...
    detail = models.CharField(max_length=300, blank=True)
    request_id = models.CharField(max_length=64, blank=True)  # upstream
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["job", "position"]
        constraints = [
            models.UniqueConstraint(fields=["job", "position"], name="jobitem_position_unique")
        ]

    def __str__(self):
        return f"{self.key}: {self.outcome}"
