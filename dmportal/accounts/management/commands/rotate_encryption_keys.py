from django.core.management.base import BaseCommand, CommandError

from dmportal.accounts.services import connections_rotate_encryption


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored API key with the newest key of DMPORTAL_ENCRYPTION_KEYS. "
        "To rotate: put a new key first in DMPORTAL_ENCRYPTION_KEYS (keep the old ones after "
        "it), restart dmportal, run this command, then drop the old keys. Safe to run again."
    )

    def handle(self, *args, **options):
        done, failed = connections_rotate_encryption()
        self.stdout.write(f"Re-encrypted {done} stored key(s) with the newest encryption key.")
        if failed:
            raise CommandError(
                f"{failed} stored key(s) could not be decrypted with any configured key; their "
                "owners must re-enter them (see the connections page). Keep the old keys "
                "configured if they are still needed."
            )
