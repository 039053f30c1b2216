"""The launcher (dmportal/launch.py) stops what it started, the children of a process included:
a gunicorn master killed after its graceful stop ran out must not leave a worker behind
serving the port."""

import os
import subprocess
import sys
import time

from dmportal import launch

# A "master" that ignores SIGTERM, with a "worker" child that ignores it too and would run
# for ten minutes: what a stuck graceful stop looks like.
STUBBORN = """
import os, signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"])
open(sys.argv[1], "w").write(str(child.pid))
time.sleep(600)
"""


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (ended, not yet reaped by its parent, here init) counts as ended.
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split(") ", 1)[1][0] != "Z"


def test_stop_kills_the_whole_group_when_the_graceful_stop_does_not_end(tmp_path):
    pidfile = tmp_path / "child.pid"
    process = launch._in_own_group(
        subprocess.Popen([sys.executable, "-c", STUBBORN, str(pidfile)], start_new_session=True)
    )
    deadline = time.monotonic() + 20
    while not (pidfile.exists() and pidfile.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    child = int(pidfile.read_text())
    assert alive(child)
    launch.stop(process, timeout=0.5)
    assert process.poll() is not None
    deadline = time.monotonic() + 5
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(child)


def test_the_portal_and_the_worker_run_in_groups_of_their_own(monkeypatch):
    started = []

    class Popen:
        def __init__(self, args, **options):
            started.append(options)

    monkeypatch.setattr(launch.subprocess, "Popen", Popen)
    assert launch.start_portal({}).own_group
    assert launch.start_worker({}).own_group
    assert all(options["start_new_session"] for options in started)
    assert launch.PORTAL_STOP_SECONDS > 30  # above gunicorn's graceful_timeout
