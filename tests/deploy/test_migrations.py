"""Migrations on PostgreSQL: from an empty database, once per release, nothing left to make."""

import pytest

from tests.deploy.conftest import manage, scratch_database, table_names

pytestmark = pytest.mark.usefixtures("shared_services")


def test_migrate_runs_on_an_empty_postgresql_database_and_leaves_nothing_to_make():
    with scratch_database("dmportal_migrate") as database_url:
        assert table_names(database_url) == set()
        # Before: `migrate --check` fails, because every migration is still to apply.
        assert manage(database_url, "migrate", "--check").returncode != 0

        first = manage(database_url, "migrate", "--noinput")
        assert first.returncode == 0, first.stderr[-2000:]
        tables = table_names(database_url)
        for table in (
            "accounts_connection",
            "accounts_activityentry",
            "support_apicall",
            "accounts_passwordfailures",
            "core_spenttoken",
            "django_session",
            "auth_user",
        ):
            assert table in tables

        assert manage(database_url, "migrate", "--check").returncode == 0
        again = manage(database_url, "migrate", "--noinput")  # the next release's run
        assert again.returncode == 0
        assert "No migrations to apply" in again.stdout

        models = manage(database_url, "makemigrations", "--check", "--dry-run")
        assert models.returncode == 0, models.stdout + models.stderr
        assert "No changes detected" in models.stdout
