from django.core.management.base import BaseCommand, CommandError

from dmportal.simulator import cli


class Command(BaseCommand):
    help = (
        "Run the HTTPS simulator of the Device Management API. Prints base_url, ca_cert, "
        "admin_key and developer_key, then serves until Ctrl-C."
    )

    def add_arguments(self, parser):
        cli.add_arguments(parser)

    def handle(self, *args, **options):
        try:
            cli.run(options, out=self.stdout._out)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
