import pytest

# A made-up key in the real format. Tests store and use it, then prove it appears nowhere:
# not in pages, fragments, URLs, cookies, logs or the database file.
SENTINEL_KEY = "ak_SENTINEL0123456789abcdefghijklmnopqrstuvwxyzSECRET"


@pytest.fixture
def sentinel_key():
    return SENTINEL_KEY
