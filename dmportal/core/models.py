from django.db import models
from django.utils import timezone


class SpentToken(models.Model):
    """A one-time form token that has been used (core/once.py), by its SHA-256 digest.

    The guard that lets only one of two racing requests through: in the database, which every
    worker and app server shares whatever the cache is (each worker's own memory without
    CACHE_URL). Rows older than a day are deleted as new ones are written.
    """

    digest = models.CharField(max_length=64, primary_key=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self):
        return f"One-time token {self.digest[:8]}… used {self.created_at:%Y-%m-%d %H:%M}"
