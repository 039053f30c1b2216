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
# Bump when the pins below change, so an old venv is rebuilt.
wanted="mbed-cloud-sdk==2.2.0 python-dotenv==1.0.1 future==1.0.0 pytz==2024.2 six==1.16.0 v1"

if [[ -f "$stamp" && "$(cat "$stamp")" == "$wanted" && -x "$venv/bin/python" ]]; then
    echo "$venv/bin/python"
    exit 0
fi

"$python_bin" -m venv --clear "$venv" >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
# The SDK's own requirements are lower bounds only; these pins are versions known to import
# and run on Python 3.11 (requests/urllib3/certifi/dateutil float to current releases).
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    mbed-cloud-sdk==2.2.0 python-dotenv==1.0.1 future==1.0.0 pytz==2024.2 six==1.16.0 >&2
"$venv/bin/python" -c "import mbed_cloud; from mbed_cloud.foundation import Device" >&2
echo "$wanted" > "$stamp"
echo "$venv/bin/python"
