from django.db.models.signals import post_delete
from django.dispatch import receiver

from .models import Job
from .services import job_discard_files


@receiver(post_delete, sender=Job)
def job_deleted(sender, instance, **kwargs):
    """A job's files go with it, however it is deleted (expiry, or its user's removal)."""
    job_discard_files(instance)
