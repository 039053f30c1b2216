"""Command line of the simulator, shared by ``python -m dmportal.simulator`` and
``python manage.py simulate``.

It prints exactly four ``key=value`` lines first (flushed), then serves until Ctrl-C / SIGTERM:
``base_url``, ``ca_cert``, ``admin_key``, ``developer_key``.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path

from . import faults
from .server import DEFAULT_STATE_DIR, Simulator


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8443)
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--jitter-ms", type=float, default=0.0)
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        help=f"inject this fault into every API request (or --fault-rate of them); "
        f"repeatable; one of: {', '.join(faults.NAMES)} (429:<seconds> sets Retry-After)",
    )
    parser.add_argument(
        "--fault-rate",
        type=float,
        default=None,
        help="fraction (0-1] of API requests that get the fault (default fault: 500)",
    )
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    parser.add_argument(
        "--now", default=None, help="anchor date of the generated data, YYYY-MM-DD (UTC)"
    )
    parser.add_argument("--log-level", default="WARNING")


def run(options: dict, out=None) -> int:
    out = out or sys.stdout
    logging.basicConfig(level=options["log_level"].upper(), stream=sys.stderr)
    now = None
    if options.get("now"):
        now = datetime.fromisoformat(options["now"]).replace(tzinfo=UTC)
    fault_specs = list(options.get("fault") or [])
    rate = options.get("fault_rate")
    if rate is not None and not fault_specs:
        fault_specs = ["500"]
    for spec in fault_specs:
        faults.parse(spec)  # fail before the (slow) data load on a typo
    sim = Simulator(
        devices=options["devices"],
        seed=options["seed"],
        latency_ms=options["latency_ms"],
        jitter_ms=options["jitter_ms"],
        state_dir=options["state_dir"],
        now=now,
    )
    for spec in fault_specs:
        sim.faults.add(fault=spec, rate=rate)
    sim.start(host=options["host"], port=options["port"])
    print(f"base_url={sim.base_url}", file=out)
    print(f"ca_cert={sim.ca_cert_path}", file=out)
    print(f"admin_key={sim.keys.admin}", file=out)
    print(f"developer_key={sim.keys.developer}", file=out, flush=True)

    stop = threading.Event()

    def _stop(signum, frame):
        stop.set()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.wait(0.5):
            pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sim.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dmportal.simulator",
        description="HTTPS simulator of the Device Management REST API.",
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run(vars(args))
    except ValueError as exc:
        parser.error(str(exc))
    return 2
