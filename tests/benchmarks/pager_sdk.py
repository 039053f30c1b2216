"""Item 8, the official SDK's side: list every device with mbed-cloud-sdk 2.2.0, pages of 1,000.

Runs with the SDK's own virtualenv (scripts/sdk_venv.sh), in a fresh process, configured as
the SDK reads it: MBED_CLOUD_SDK_HOST, MBED_CLOUD_SDK_API_KEY, REQUESTS_CA_BUNDLE.
Self-contained: it must not import the project. Prints one JSON line.
"""

import json
import resource
import time

started_import = time.perf_counter()
from mbed_cloud.foundation import Device  # noqa: E402

import_seconds = time.perf_counter() - started_import


def main():
    started = time.perf_counter()
    devices = list(Device().list(page_size=1000))
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                "items": len(devices),
                "unique": len({d.id for d in devices}),
                "seconds": round(seconds, 4),
                "import_seconds": round(import_seconds, 4),
                "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 3),
                "peak_rss_kib": usage.ru_maxrss,
            }
        )
    )


if __name__ == "__main__":
    main()
