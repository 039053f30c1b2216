"""The official Python SDK (mbed-cloud-sdk 2.2.0) works against the simulator.

The SDK needs old dependencies, so it runs in its own virtualenv (``scripts/sdk_venv.sh``), named
by ``DMPORTAL_SDK_PYTHON``. Without it this test is skipped, unless ``DMPORTAL_REQUIRE_SDK=1``
(as ``make test`` sets), in which case it fails.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from dmportal.simulator.server import Simulator

CHECK = Path(__file__).with_name("sdk_check.py")
DEVICES = 150


@pytest.fixture(scope="module")
def sdk_python() -> str:
    python = os.environ.get("DMPORTAL_SDK_PYTHON")
    if not python:
        reason = "DMPORTAL_SDK_PYTHON is unset (create the SDK venv with scripts/sdk_venv.sh)"
        if os.environ.get("DMPORTAL_REQUIRE_SDK") == "1":
            pytest.fail(reason + " but DMPORTAL_REQUIRE_SDK=1")
        pytest.skip(reason)
    if not Path(python).is_file():
        pytest.fail(f"DMPORTAL_SDK_PYTHON={python} does not exist")
    return python


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    simulator = Simulator(devices=DEVICES, seed=2, state_dir=tmp_path_factory.mktemp("sdk"))
    simulator.start()
    yield simulator
    simulator.stop()


def _run(sdk_python: str, sim: Simulator, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MBED_CLOUD_SDK_")}
    env.update(
        MBED_CLOUD_SDK_HOST=sim.base_url,
        MBED_CLOUD_SDK_API_KEY=sim.keys.admin,
        REQUESTS_CA_BUNDLE=str(sim.ca_cert_path),
        DMPORTAL_SDK_EXPECT_DEVICES=str(DEVICES),
    )
    return subprocess.run(
        [sdk_python, str(CHECK)],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_official_sdk_lists_pages_counts_and_reads(sdk_python, sim, tmp_path):
    result = _run(sdk_python, sim, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "all checks passed" in result.stdout
    requests_seen = sim.stats()["requests"]
    assert requests_seen["GET /v3/devices/"] >= 5  # several pages, a count, a walk


def test_the_check_notices_a_broken_api(sdk_python, sim, tmp_path):
    sim.faults.add(fault="500", path_prefix="/v3/device-groups/")
    try:
        result = _run(sdk_python, sim, tmp_path)
    finally:
        sim.faults.clear()
    assert result.returncode == 1
    assert "FAIL device groups" in result.stderr
