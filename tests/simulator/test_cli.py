"""``python -m dmportal.simulator``: four lines first, then serves until SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


def _start(tmp_path, *args):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "dmportal.simulator", "--port", "0", "--devices", "30",
         "--state-dir", str(tmp_path), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )  # fmt: skip


def test_prints_four_lines_serves_and_stops_on_sigterm(tmp_path):
    proc = _start(tmp_path)
    try:
        lines = [proc.stdout.readline().rstrip("\n") for _ in range(4)]
        keys = [line.split("=", 1)[0] for line in lines]
        assert keys == ["base_url", "ca_cert", "admin_key", "developer_key"]
        values = dict(line.split("=", 1) for line in lines)
        assert values["base_url"].startswith("https://127.0.0.1:")
        assert not values["base_url"].endswith(":0")
        assert Path(values["ca_cert"]).is_absolute()
        assert Path(values["ca_cert"]).is_file()
        r = requests.get(
            values["base_url"] + "/v3/accounts/me",
            headers={"Authorization": f"Bearer {values['admin_key']}"},
            verify=values["ca_cert"],
            timeout=5,
        )
        assert r.status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


def test_run_level_fault(tmp_path):
    proc = _start(tmp_path, "--fault", "429:60", "--fault-rate", "1")
    try:
        values = dict(proc.stdout.readline().rstrip("\n").split("=", 1) for _ in range(4))
        r = requests.get(
            values["base_url"] + "/v3/devices/",
            headers={"Authorization": f"Bearer {values['developer_key']}"},
            verify=values["ca_cert"],
            timeout=5,
        )
        assert r.status_code == 429
        assert r.headers["Retry-After"] == "60"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


def test_unknown_fault_is_a_usage_error(tmp_path):
    proc = _start(tmp_path, "--fault", "teapot")
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 2
    assert "unknown fault" in err
