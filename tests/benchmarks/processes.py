"""The processes a benchmark run starts: simulators and dmportal under gunicorn.

Everything lives in one temporary directory (database, static files, simulator certificates,
logs) and is stopped at the end, also when the run fails.
"""

import contextlib
import os
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path

import requests
from cryptography.fernet import Fernet

from dmportal import launch

ROOT = launch.ROOT
PYTHON = launch.PYTHON
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def log(message):
    print(f"[benchmark] {message}", file=sys.stderr, flush=True)


# -- /proc ---------------------------------------------------------------------------------------


def cpu_seconds(pid):
    """User + system CPU seconds a live process has used so far (0.0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def machine_busy_seconds():
    """CPU seconds all cores have spent busy since boot (from /proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / CLOCK_TICKS


def load_average():
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def rss_kib(pid):
    """Resident memory (VmRSS) of a live process in KiB, or None."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(r"^VmRSS:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) if match else None


def children(pid):
    """Ids of the direct children of a process (the gunicorn master's workers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return sorted(found)


# -- the simulator -------------------------------------------------------------------------------


class Simulator:
    """`python -m dmportal.simulator` in a subprocess, with its control endpoints."""

    def __init__(self, workdir, *, name, devices, latency_ms, seed=1, extra_args=()):
        self.name = name
        self.devices = devices
        self.latency_ms = latency_ms
        state_dir = Path(workdir) / f"simulator-{name}"
        self.log_path = Path(workdir) / f"simulator-{name}.log"
        started = time.monotonic()
        try:
            self.process, facts = launch.start_simulator(
                "--host", "127.0.0.1", "--port", 0, "--devices", devices, "--seed", seed,
                "--latency-ms", latency_ms, "--state-dir", state_dir, *extra_args,
                stderr=self.log_path.open("w"),
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )  # fmt: skip
        except RuntimeError as exc:
            raise RuntimeError(f"simulator {name}: {exc} See {self.log_path}") from None
        self.facts = facts
        self.start_seconds = time.monotonic() - started
        self.base_url = facts["base_url"]
        self.ca_cert = facts["ca_cert"]
        self.admin_key = facts["admin_key"]
        self.developer_key = facts["developer_key"]
        # One kept-alive connection for the control endpoints, opened before any counting
        # starts, so the statistics never count the benchmark's own control traffic's TLS.
        self.control = requests.Session()
        self.control.trust_env = False
        self.control.verify = self.ca_cert

    @property
    def pid(self):
        return self.process.pid

    def stats(self):
        response = self.control.get(f"{self.base_url}/_simulator/stats", timeout=10)
        response.raise_for_status()
        return response.json()

    def reset_stats(self):
        self.control.post(f"{self.base_url}/_simulator/stats/reset", timeout=10).raise_for_status()

    def api_session(self):
        """A pooled, kept-alive client session for direct API calls (the limit)."""
        session = requests.Session()
        session.trust_env = False
        session.verify = self.ca_cert
        session.headers.update(
            {"Authorization": f"Bearer {self.admin_key}", "Accept": "application/json"}
        )
        return session

    def stop(self):
        self.control.close()
        launch.stop(self.process)


# -- dmportal under gunicorn ----------------------------------------------------------------------


class Portal:
    """dmportal as deployed: DEBUG off, gunicorn with gunicorn.conf.py, a throw-away SQLite
    database and collected static files, one login with the simulator's two keys."""

    USERNAME = "demo"

    CALL_LOG_MIDDLEWARE = "dmportal.support.middleware.ApiCallLogMiddleware"

    def __init__(
        self, workdir, simulator, *, workers=None, threads=None, without=(), extra_settings=""
    ):
        self.workdir = Path(workdir)
        self.simulator = simulator
        self.password = secrets.token_urlsafe(16)
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.workdir / "gunicorn.log"
        base = {k: v for k, v in os.environ.items() if not k.startswith("DMPORTAL_")}
        self.env = launch.portal_env(
            {
                **base,
                "STATIC_ROOT": str(self.workdir / "static"),
                # One user makes every request of the benchmark (hundreds a second): no
                # per-user limit, or the limiter, not dmportal's pages, would be measured.
                "DMPORTAL_USER_RATE_LIMIT": "0",
                # Exports in the run's own folder (several servers may share it).
                "DMPORTAL_EXPORT_DIR": str(self.workdir / "exports"),
                "PYTHONPATH": str(ROOT),
            },
            secrets={
                "SECRET_KEY": secrets.token_urlsafe(50),
                "DMPORTAL_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            },
            database_url=f"sqlite:///{self.workdir / 'dmportal.sqlite3'}",
            simulator=simulator.facts,
            port=self.port,
        )
        if without or extra_settings:
            # A diagnostic variant (--without-call-log): the same settings minus some
            # middleware, to measure what it costs. Never the default.
            skip = sorted(without)
            (self.workdir / "benchmark_settings.py").write_text(
                "from dmportal.settings import *  # noqa: F403\n"
                f"MIDDLEWARE = [m for m in MIDDLEWARE if m not in {skip!r}]  # noqa: F405\n"
                + extra_settings
            )
            self.env["DJANGO_SETTINGS_MODULE"] = "benchmark_settings"
            self.env["PYTHONPATH"] = f"{ROOT}:{self.workdir}"
        if workers:
            self.env["DMPORTAL_WORKERS"] = str(workers)
        if threads:
            self.env["DMPORTAL_THREADS"] = str(threads)
        self.process = None
        self.workers_of_the_queue = []  # db_worker processes (start_worker)

    def prepare(self):
        launch.prepare(self.env, password=self.password, simulator=self.simulator.facts)

    def manage(self, *arguments, env=None):
        launch.manage({**self.env, **(env or {})}, *arguments)

    def start(self):
        self.process = launch.start_portal(self.env, stdout=self.log_path.open("w"))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"gunicorn exited ({self.process.returncode}); see {self.log_path}"
                )
            with contextlib.suppress(requests.ConnectionError):
                if requests.get(f"{self.base_url}/accounts/login/", timeout=5).status_code == 200:
                    break
            time.sleep(0.2)
        else:
            raise RuntimeError(f"gunicorn did not answer in 30 s; see {self.log_path}")
        # Every worker must be up before anything is measured.
        deadline = time.monotonic() + 30
        while len(self.worker_pids()) < self.workers and time.monotonic() < deadline:
            time.sleep(0.1)

    @property
    def workers(self):
        return int(self.config()["workers"])

    def config(self):
        """The worker settings gunicorn.conf.py gives under this environment."""
        script = (
            "import runpy, json; c = runpy.run_path('gunicorn.conf.py'); "
            "print(json.dumps({k: c[k] for k in ('workers', 'threads', 'worker_class', "
            "'timeout', 'keepalive')}))"
        )
        if not hasattr(self, "_config"):
            import json

            out = subprocess.run(
                [PYTHON, "-c", script], cwd=ROOT, env=self.env, check=True, capture_output=True
            )
            self._config = json.loads(out.stdout)
        return self._config

    def worker_pids(self):
        return children(self.process.pid) if self.process else []

    def sign_in(self):
        """A browser-like session: GET the login form, POST it with the CSRF token."""
        session = requests.Session()
        session.trust_env = False
        login = f"{self.base_url}/accounts/login/"
        page = session.get(login, timeout=10)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        response = session.post(
            login,
            data={
                "username": self.USERNAME,
                "password": self.password,
                "csrfmiddlewaretoken": token,
                "next": "/",
            },
            headers={"Referer": login},
            allow_redirects=False,
            timeout=10,
        )
        if response.status_code != 302:
            raise RuntimeError(f"sign-in failed with status {response.status_code}")
        return session

    def start_worker(self):
        """One more worker of the task queue (`manage.py db_worker`) on this database."""
        number = len(self.workers_of_the_queue) + 1
        log_file = (self.workdir / f"db_worker-{number}.log").open("w")
        worker = launch.start_worker(self.env, stdout=log_file)
        self.workers_of_the_queue.append(worker)
        return worker

    def stop_workers(self):
        for worker in self.workers_of_the_queue:
            launch.stop(worker, timeout=35)
        self.workers_of_the_queue.clear()

    def stop(self):
        self.stop_workers()
        if self.process is not None:
            launch.stop(self.process, timeout=35)


def free_port():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
