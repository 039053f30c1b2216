import logging

from tests.conftest import KEY_WATCHER


def test_the_run_wide_log_watcher_catches_a_key():
    before = len(KEY_WATCHER.leaks)
    logging.getLogger("dmportal.example").warning("oops %s", "ak_" + "Z" * 40)
    assert len(KEY_WATCHER.leaks) == before + 1
    KEY_WATCHER.leaks.pop()  # planted on purpose: do not fail the run for it
