"""Item 7: concurrent clients clicking "load more", throughput, latency and worker memory.

The load generator is Debian's `wrk` when it is installed (C, event loop: a few per cent of
one core at these rates), else a small keep-alive client in Python threads. Either way the
CPU time it used is measured and reported next to dmportal's and the simulator's, because all
three share the machine's cores.
"""

import json
import math
import resource
import shutil
import subprocess
import threading
import time
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import urlsplit

from .processes import cpu_seconds, load_average, machine_busy_seconds, rss_kib
from .stats import summary

WRK_SCRIPT = Path(__file__).with_name("load_more.lua")


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_wrk(url, headers, *, clients, seconds, wrk_threads=2):
    """wrk for a fixed time (it has no request-count mode); `seconds` is chosen by the caller
    from a warm-up run's throughput so that the run makes at least the wanted requests."""
    command = [
        "wrk",
        "-t",
        str(wrk_threads),
        "-c",
        str(clients),
        "-d",
        f"{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(WRK_SCRIPT),
    ]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    command.append(url)
    before = children_cpu()
    out = subprocess.run(command, capture_output=True, text=True, check=True)
    cpu = children_cpu() - before
    line = next(x for x in out.stdout.splitlines() if x.startswith("BENCH_JSON "))
    data = json.loads(line.removeprefix("BENCH_JSON "))
    return {
        "generator": "wrk " + wrk_version(),
        "requests": data["requests"],
        "seconds": round(data["duration_us"] / 1e6, 3),
        "throughput_rps": round(data["requests"] / (data["duration_us"] / 1e6), 1),
        "latency_ms": {
            "n": data["requests"],
            "median": round(data["p50"] / 1000, 2),
            "p95": round(data["p95"] / 1000, 2),
            "p99": round(data["p99"] / 1000, 2),
            "max": round(data["max"] / 1000, 2),
        },
        "errors": sum(data["errors"].values()),
        "error_detail": data["errors"],
        "bytes": data["bytes"],
        "generator_cpu_s": round(cpu, 2),
    }


def wrk_version():
    out = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    text = (out.stdout + out.stderr).split()
    return text[1] if len(text) > 1 else "?"


def run_python(url, headers, *, clients, requests):
    """Closed-loop clients in threads, each on its own kept-alive connection."""
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    latencies, errors = [], []
    lock = threading.Lock()
    remaining = [requests]
    byte_count = [0]

    def client():
        connection = HTTPConnection(parts.hostname, parts.port, timeout=10)
        while True:
            with lock:
                if remaining[0] <= 0:
                    break
                remaining[0] -= 1
            started = time.perf_counter()
            try:
                connection.request("GET", path, headers=headers)
                response = connection.getresponse()
                body = response.read()
                ok = response.status == 200
            except OSError as exc:
                ok, body = False, b""
                connection.close()
                connection = HTTPConnection(parts.hostname, parts.port, timeout=10)
                errors.append(type(exc).__name__)
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                latencies.append(elapsed)
                byte_count[0] += len(body)
                if not ok and len(errors) < 10_000:
                    errors.append("status")
        connection.close()

    cpu_before = time.process_time()
    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    return {
        "generator": "python threads (http.client, keep-alive)",
        "requests": len(latencies),
        "seconds": round(seconds, 3),
        "throughput_rps": round(len(latencies) / seconds, 1),
        "latency_ms": summary(latencies),
        "errors": len(errors),
        "error_detail": {name: errors.count(name) for name in set(errors)},
        "bytes": byte_count[0],
        "generator_cpu_s": round(time.process_time() - cpu_before, 2),
    }


class Generator:
    """wrk when installed (timed runs sized from the last throughput), else Python threads."""

    def __init__(self, url, headers, clients, prefer_wrk=True):
        self.url, self.headers, self.clients = url, headers, clients
        self.wrk = prefer_wrk and shutil.which("wrk") is not None
        self.rate = None  # requests per second of the last run

    def run(self, requests):
        if not self.wrk:
            result = run_python(self.url, self.headers, clients=self.clients, requests=requests)
        else:
            if self.rate is None:  # a first short run only to learn the rate
                self.rate = run_wrk(self.url, self.headers, clients=self.clients, seconds=3)[
                    "throughput_rps"
                ]
            seconds = max(3, math.ceil(requests / max(self.rate, 1) * 1.3))
            result = run_wrk(self.url, self.headers, clients=self.clients, seconds=seconds)
        self.rate = result["throughput_rps"]
        return result


def run_load(
    portal,
    simulator,
    session,
    *,
    url_path,
    clients,
    requests,
    warmup_requests,
    latency_ms,
    prefer_wrk=True,
):
    cookie = "; ".join(f"{c.name}={c.value}" for c in session.cookies)
    headers = {"Cookie": cookie, "HX-Request": "true"}
    url = portal.base_url + url_path
    workers = portal.worker_pids()
    config = portal.config()
    rss_start = {pid: rss_kib(pid) for pid in workers}

    generator = Generator(url, headers, clients, prefer_wrk)
    warm = generator.run(warmup_requests)
    rss_before = {pid: rss_kib(pid) for pid in workers}
    simulator.reset_stats()
    processes = {"dmportal": [portal.process.pid, *workers], "simulator": [simulator.pid]}
    cpu_before = {name: sum(cpu_seconds(p) for p in pids) for name, pids in processes.items()}
    worker_cpu_before = {pid: cpu_seconds(pid) for pid in workers}
    busy_before = machine_busy_seconds()
    result = generator.run(requests)
    cpu = {
        name: round(sum(cpu_seconds(p) for p in pids) - cpu_before[name], 2)
        for name, pids in processes.items()
    }
    cpu["load generator"] = result.pop("generator_cpu_s")
    # Whatever else ran on the machine meanwhile (other people's work on a shared host)
    # competed for the same cores: reported so that a disturbed run can be recognised.
    cpu["other processes"] = round(
        max(0.0, machine_busy_seconds() - busy_before - sum(cpu.values())), 2
    )
    worker_cpu = {str(p): round(cpu_seconds(p) - worker_cpu_before[p], 2) for p in workers}
    api = simulator.stats()
    rss_after = {pid: rss_kib(pid) for pid in workers}
    if sorted(portal.worker_pids()) != sorted(workers):
        result["note"] = "a worker was restarted during the run"
    slots = config["workers"] * config["threads"]
    allowed = slots / (latency_ms / 1000)
    growth = {
        str(pid): round(100 * (rss_after[pid] - rss_before[pid]) / rss_before[pid], 1)
        for pid in workers
        if rss_before.get(pid) and rss_after.get(pid)
    }
    result.update(
        {
            "clients": clients,
            "url": url_path,
            "workers": config["workers"],
            "threads_per_worker": config["threads"],
            "warmup": {k: warm[k] for k in ("requests", "throughput_rps", "latency_ms", "errors")},
            "allowed_rps": round(allowed, 1),
            "throughput_share_of_allowed": round(result["throughput_rps"] / allowed, 3),
            "p99_over_api_latency": round(result["latency_ms"]["p99"] / latency_ms, 2),
            "cpu_seconds": cpu,
            "cores_busy": round(sum(cpu.values()) / result["seconds"], 2),
            "load_average_after": load_average(),
            "cpu_seconds_per_worker": worker_cpu,
            "cpu_ms_per_request": {
                name: round(1000 * seconds / max(1, result["requests"]), 2)
                for name, seconds in cpu.items()
            },
            "api_requests": api["requests_total"],
            "api_requests_per_click": round(api["requests_total"] / max(1, result["requests"]), 3),
            "tls_handshakes": api["tls_handshakes"],
            "tcp_connections": api["connections"],
            "worker_rss_kib": {
                str(pid): {
                    "at_start": rss_start.get(pid),
                    "before": rss_before.get(pid),
                    "after": rss_after.get(pid),
                }
                for pid in workers
            },
            "worker_rss_growth_percent": growth,
        }
    )
    return result
