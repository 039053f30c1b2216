from django.core.management.base import BaseCommand, CommandError

from dmportal.accounts import crypto
from dmportal.accounts.checks import canary_write
from dmportal.accounts.models import EncryptionCanary
from dmportal.accounts.services import connections_rotate_encryption


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored API key with the newest key of DMPORTAL_ENCRYPTION_KEYS. "
        "To rotate: put a new key first in DMPORTAL_ENCRYPTION_KEYS (keep the old ones after "
        "it), restart dmportal, run this command, then drop the old keys. Safe to run again."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--reset-canary",
            action="store_true",
            help="Only when an encryption key is lost for good: replace the readiness canary "
            "written with it by one written with the configured keys.",
        )

    def handle(self, *args, **options):
        if options["reset_canary"]:
            EncryptionCanary.objects.all().delete()
            canary_write()
            self.stdout.write("The readiness canary was written again with the configured keys.")
        done, failed = connections_rotate_encryption()
        self.stdout.write(f"Re-encrypted {done} stored key(s) with the newest encryption key.")
        unreadable_canary = False
        for canary in EncryptionCanary.objects.all():
            try:
                token = crypto.rotate_token(canary.token)
            except crypto.DecryptionFailed:
                unreadable_canary = True
                continue
            # Only over the token that was read (a reset meanwhile wrote a new canary).
            EncryptionCanary.objects.filter(pk=canary.pk, token=canary.token).update(token=token)
        if not failed and not EncryptionCanary.objects.exists():
            # Every stored key was read with the configured keys: they are the right ones.
            canary_write()
            self.stdout.write("Wrote the readiness canary: the configured keys read every key.")
        if failed:
            raise CommandError(
                f"{failed} stored key(s) could not be decrypted with any configured key; their "
                "owners must re-enter them (see the connections page). Keep the old keys "
                "configured if they are still needed."
            )
        if unreadable_canary:
            raise CommandError(
                "The readiness canary cannot be decrypted with any configured key, so /readyz "
                "fails: configure the key it was written with again. If that key is lost for "
                "good, run this command with --reset-canary."
            )
