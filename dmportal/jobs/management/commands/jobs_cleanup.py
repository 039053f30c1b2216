from django.core.management.base import BaseCommand

from dmportal.jobs.services import jobs_cleanup


class Command(BaseCommand):
    help = (
        "Remove expired background jobs and their files (DMPORTAL_JOB_EXPIRY_HOURS), end jobs "
        "whose worker died, and prune the task queue's old records. Safe to run at any time, "
        "from one machine or several (cron, a systemd timer)."
    )

    def handle(self, *args, **options):
        counts = jobs_cleanup()
        self.stdout.write(
            f"Removed {counts['expired']} expired job(s), ended {counts['stopped']} job(s) whose "
            f"worker had stopped, pruned {counts['tasks']} task record(s)."
        )
