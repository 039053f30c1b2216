import logging

from tests.conftest import KEY_WATCHER


def test_the_run_wide_log_watcher_catches_a_key():
    before = len(KEY_WATCHER.leaks)
    logging.getLogger("dmportal.example").warning("oops %s", "ak_" + "Z" * 40)
    assert len(KEY_WATCHER.leaks) == before + 1
    KEY_WATCHER.leaks.pop()  # planted on purpose: do not fail the run for it


def test_the_watcher_reads_every_extra_of_a_record_too():
    before = len(KEY_WATCHER.leaks)
    log = logging.getLogger("dmportal.example")
    log.warning("a clean message", extra={"target": "ak_" + "Y" * 40})
    log.warning("a clean message", extra={"detail": {"path": "/x?key=ak_" + "X" * 40}})
    log.warning("a clean message", extra={"target": "Robot", "status": 200, "user": None})
    assert len(KEY_WATCHER.leaks) == before + 2
    assert [leak.split(": ")[1] for leak in KEY_WATCHER.leaks[before:]] == ["target", "detail"]
    del KEY_WATCHER.leaks[before:]  # planted on purpose: do not fail the run for them
