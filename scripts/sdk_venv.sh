#!/usr/bin/env bash
# Create (idempotently) the virtualenv that runs the official Python SDK, mbed-cloud-sdk 2.2.0,
# against the simulator (tests/sdk/). The SDK is unmaintained (2019) and has loose, old
# requirements, so it lives in its own venv, apart from the project's.
#
# Usage: scripts/sdk_venv.sh            -> prints the venv's python path on the last line
# Then:  DMPORTAL_SDK_PYTHON=$(scripts/sdk_venv.sh | tail -n1) pytest tests/sdk
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${DMPORTAL_SDK_VENV:-$root/var/sdk-venv}"
python_bin="${PYTHON311:-python3.11}"
stamp="$venv/.dmportal-sdk-ok"
# The SDK declares only lower bounds (certifi, future, python-dateutil, python-dotenv, pytz,
# requests, six, urllib3). These exact versions are the set the check was last run with on
# Python 3.11; pinning all of them keeps the venv reproducible. The stamp file records them, so
# changing a pin rebuilds the venv.
pins=(
    mbed-cloud-sdk==2.2.0
    certifi==2026.10.19.post1
    charset-normalizer==3.5.3
    future==1.0.0
    idna==3.20
    python-dateutil==4.0.0
    python-dotenv==1.0.1
    pytz==2024.2
    requests==2.34.2
    six==1.16.0
    tzdata==2026.6
    urllib3==2.8.0
)
wanted="${pins[*]}"

if [[ -f "$stamp" && "$(cat "$stamp")" == "$wanted" && -x "$venv/bin/python" ]]; then
    echo "$venv/bin/python"
    exit 0
fi

"$python_bin" -m venv --clear "$venv" >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${pins[@]}" >&2
"$venv/bin/python" -c "import mbed_cloud; from mbed_cloud.foundation import Device" >&2
echo "$wanted" > "$stamp"
echo "$venv/bin/python"
