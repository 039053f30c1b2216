import os

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from dmportal.accounts.models import Connection
from dmportal.accounts.services import (
    KeyCheckFailed,
    connection_create,
    connection_update,
    key_verify,
)


class Command(BaseCommand):
    help = (
        "For the local demo only (`make run`): create the `demo` login and store the "
        "simulator's keys as its connections. Reads DMPORTAL_DEMO_PASSWORD, "
        "DMPORTAL_DEMO_ADMIN_KEY and DMPORTAL_DEMO_DEVELOPER_KEY from the environment."
    )

    def handle(self, *args, **options):
        password = os.environ.get("DMPORTAL_DEMO_PASSWORD")
        keys = {
            "Simulator (administrator key)": os.environ.get("DMPORTAL_DEMO_ADMIN_KEY"),
            "Simulator (developer key)": os.environ.get("DMPORTAL_DEMO_DEVELOPER_KEY"),
        }
        # Each its own colour in the header, so the two are told apart at a glance.
        colours = dict(zip(keys, ("red", "blue"), strict=True))
        if not password or not all(keys.values()):
            raise CommandError("DMPORTAL_DEMO_PASSWORD and the two demo keys must be set.")
        user, _ = get_user_model().objects.get_or_create(username="demo")
        user.set_password(password)
        user.save()
        from django.conf import settings

        host = settings.DMPORTAL_API_HOSTS[0]
        for label, key in keys.items():
            try:
                facts = key_verify(host, key)
                existing = Connection.objects.filter(user=user, label=label).first()
                if existing is not None and existing.api_host == host:
                    connection_update(existing, label=label, api_key=key, facts=facts)
                else:
                    if existing is not None:
                        existing.delete()
                    connection = connection_create(
                        user=user, label=label, api_host=host, api_key=key, facts=facts
                    )
                    connection.colour = colours[label]
                    connection.save(update_fields=["colour"])
            except KeyCheckFailed as exc:
                raise CommandError(f"{label}: {exc.message}") from None
        self.stdout.write("Demo login ready: demo")
