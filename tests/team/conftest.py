"""Fixtures of the team tests; the records and helpers they build with are in tests/factories.py."""

import pytest

from tests.factories import OWN_KEY_ID


@pytest.fixture
def own_key(connection):
    """The test connection's key is the API key OWN_KEY_ID (as /v3/api-keys/me said)."""
    connection.key_id = OWN_KEY_ID
    connection.save(update_fields=["key_id"])
    return connection
