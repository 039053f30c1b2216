"""Item 8 (official SDK vs dmportal's client) and the simulator's own budget.

Each SDK/client run is a fresh subprocess, alternating sides, so neither inherits the other's
warm caches or memory; the simulator counts the API requests each side made.
"""

import http.client
import json
import os
import ssl
import statistics
import subprocess
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from .processes import PYTHON, ROOT, log
from .stats import summary

HERE = Path(__file__).resolve().parent
SDK_PYTHON = ROOT / "var" / "sdk-venv" / "bin" / "python"


def sdk_python():
    """The SDK virtualenv's interpreter, built with scripts/sdk_venv.sh if missing; or None."""
    if SDK_PYTHON.is_file():
        return str(SDK_PYTHON)
    log("building the official SDK's virtualenv (scripts/sdk_venv.sh)…")
    out = subprocess.run(
        ["bash", str(ROOT / "scripts" / "sdk_venv.sh")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0 or not SDK_PYTHON.is_file():
        log(f"the SDK virtualenv could not be built: {out.stderr.strip()[-300:]}")
        return None
    return str(SDK_PYTHON)


def _run(side, simulator, python):
    if side == "sdk":
        env = {k: v for k, v in os.environ.items() if not k.startswith("MBED_CLOUD_SDK_")}
        env.update(
            MBED_CLOUD_SDK_HOST=simulator.base_url,
            MBED_CLOUD_SDK_API_KEY=simulator.admin_key,
            REQUESTS_CA_BUNDLE=simulator.ca_cert,
        )
        env.pop("PYTHONPATH", None)
        command = [python, str(HERE / "pager_sdk.py")]
        cwd = HERE  # not the project root: the SDK must not see the project's packages
    else:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "BENCH_BASE_URL": simulator.base_url,
            "BENCH_API_KEY": simulator.admin_key,
            "BENCH_CA_CERT": simulator.ca_cert,
        }
        command = [PYTHON, str(HERE / "pager_dmportal.py")]
        cwd = ROOT
    simulator.reset_stats()
    out = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=600
    )
    if out.returncode != 0:
        raise RuntimeError(f"{side} listing failed: {out.stderr.strip()[-500:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    stats = simulator.stats()
    result["api_requests"] = stats["requests_total"]
    return result


def compare_sdk(simulator, *, rounds):
    python = sdk_python()
    if python is None:
        return {"measured": False, "reason": "the SDK virtualenv is not available"}
    runs = {"dmportal": [], "sdk": []}
    for index in range(rounds):
        order = ("dmportal", "sdk") if index % 2 == 0 else ("sdk", "dmportal")
        for side in order:
            runs[side].append(_run(side, simulator, python))

    def side_summary(results):
        return {
            "items": results[0]["items"],
            "unique_items": results[0]["unique"],
            "api_requests": results[0]["api_requests"],
            "api_requests_all": [r["api_requests"] for r in results],
            "seconds_median": round(statistics.median(r["seconds"] for r in results), 3),
            "seconds_all": [r["seconds"] for r in results],
            "cpu_seconds_median": round(statistics.median(r["cpu_seconds"] for r in results), 3),
            "peak_rss_mib_median": round(
                statistics.median(r["peak_rss_kib"] for r in results) / 1024, 1
            ),
            "import_seconds_median": round(
                statistics.median(r["import_seconds"] for r in results), 3
            ),
        }

    ours, theirs = side_summary(runs["dmportal"]), side_summary(runs["sdk"])
    return {
        "measured": True,
        "rounds": rounds,
        "api_latency_ms": simulator.latency_ms,
        "devices": simulator.devices,
        "dmportal": ours,
        "sdk": theirs,
        "time_ratio_dmportal_to_sdk": round(ours["seconds_median"] / theirs["seconds_median"], 3),
        "memory_ratio_dmportal_to_sdk": round(
            ours["peak_rss_mib_median"] / theirs["peak_rss_mib_median"], 3
        ),
        "cpu_ratio_dmportal_to_sdk": round(
            ours["cpu_seconds_median"] / theirs["cpu_seconds_median"], 3
        ),
    }


# -- the simulator's budget --------------------------------------------------------------------

SIMULATOR_QUERIES = (
    ("indexed filter", {"state__eq": "registered", "limit": 1000}),
    (
        "indexed filter + total_count",
        {"state__eq": "registered", "limit": 1000, "include": "total_count"},
    ),
    (
        "two filters + total_count",
        {
            "state__eq": "registered",
            "lifecycle_status__eq": "enabled",
            "limit": 1000,
            "include": "total_count",
        },
    ),
    (
        "date range + total_count",
        {
            "created_at__gte": "2000-01-01T00:00:00Z",
            "limit": 1000,
            "order": "DESC",
            "include": "total_count",
        },
    ),
)


def simulator_budget(simulator, *, rounds=30, warmup=5):
    """Time to first byte (the simulator computes the whole body before its headers) and to
    the last byte of a filtered page of 1,000, on one kept-alive TLS connection, no latency."""
    parts = urlsplit(simulator.base_url)
    context = ssl.create_default_context(cafile=simulator.ca_cert)
    connection = http.client.HTTPSConnection(parts.hostname, parts.port, context=context)
    headers = {"Authorization": f"Bearer {simulator.admin_key}"}
    results = []
    for label, params in SIMULATOR_QUERIES:
        path = "/v3/devices/?" + urlencode(params)
        first, whole, size = [], [], 0
        for index in range(warmup + rounds):
            started = time.perf_counter()
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            ttfb = time.perf_counter() - started
            body = response.read()
            total = time.perf_counter() - started
            if response.status != 200:
                raise RuntimeError(f"simulator answered {response.status} to {path}")
            if index >= warmup:
                first.append(ttfb * 1000)
                whole.append(total * 1000)
                size = len(body)
        page = json.loads(body)
        results.append(
            {
                "label": label,
                "query": urlencode(params),
                "items": len(page["data"]),
                "total_count": page.get("total_count"),
                "bytes": size,
                "time_to_first_byte_ms": summary(first),
                "whole_response_ms": summary(whole),
            }
        )
    connection.close()
    return {
        "devices": simulator.devices,
        "start_seconds": round(simulator.start_seconds, 1),
        "queries": results,
    }
