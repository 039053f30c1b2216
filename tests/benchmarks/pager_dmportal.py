"""Item 8, dmportal's side: list every device with dmportal's own client, pages of 1,000.

Run in a fresh process by the benchmark (never imported by it), so the peak resident memory
is this listing's alone. Prints one JSON line. Input from the environment:
BENCH_BASE_URL, BENCH_API_KEY, BENCH_CA_CERT.
"""

import json
import os
import resource
import time

started_import = time.perf_counter()
from dmportal.dmapi import ApiClient, iterate, resources  # noqa: E402

import_seconds = time.perf_counter() - started_import


def main():
    client = ApiClient(
        os.environ["BENCH_BASE_URL"],
        os.environ["BENCH_API_KEY"],
        ca_bundle=os.environ["BENCH_CA_CERT"],
        timeout=60,
    )
    started = time.perf_counter()
    devices = list(iterate(lambda after: resources.device_page(client, limit=1000, after=after)))
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(
        json.dumps(
            {
                "items": len(devices),
                "unique": len({d["id"] for d in devices}),
                "seconds": round(seconds, 4),
                "import_seconds": round(import_seconds, 4),
                "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 3),
                "peak_rss_kib": usage.ru_maxrss,
            }
        )
    )


if __name__ == "__main__":
    main()
