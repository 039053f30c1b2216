"""`python -m dmportal.demo` (what `make run` starts): the simulator and dmportal together.

1. Makes local secrets once (var/demo.env, git-ignored): SECRET_KEY and an encryption key.
2. Starts the Device Management API simulator over HTTPS and reads its base URL, CA and keys.
3. Prepares dmportal (migrate, collectstatic), creates the demo login with a fresh password
   and stores the simulator's administrator and developer keys as two connections.
4. Serves dmportal with gunicorn and gunicorn.conf.py (DEBUG off, the production worker
   settings), its access log in var/demo-access-<port>.log (DMPORTAL_ACCESS_LOG=- for the
   terminal), and starts one worker for the background jobs (`manage.py db_worker`, on the
   same SQLite database). Once dmportal answers, it prints how to sign in: last, and again
   when you press Enter (or send the demo SIGUSR1).
Ctrl-C stops all three. Nothing here is used by a production deployment.
"""

import argparse
import os
import secrets
import select
import signal
import sys
import time
import urllib.request

from cryptography.fernet import Fernet

from . import launch

VAR = launch.ROOT / "var"
ENV_FILE = VAR / "demo.env"


def log(message):
    print(f"[demo] {message}", flush=True)


def ensure_secrets():
    VAR.mkdir(exist_ok=True)
    if not ENV_FILE.exists():
        ENV_FILE.write_text(
            f"SECRET_KEY={secrets.token_urlsafe(50)}\n"
            f"DMPORTAL_ENCRYPTION_KEYS={Fernet.generate_key().decode()}\n"
        )
        ENV_FILE.chmod(0o600)
    values = {}
    for line in ENV_FILE.read_text().splitlines():
        if "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            values[key.strip()] = value.strip()
    return values


def arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000, help="dmportal's port (8000)")
    parser.add_argument("--api-port", type=int, default=8443, help="the simulator's port (8443)")
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args()


def main():
    args = arguments()
    processes = []
    try:
        run(args, processes)
    except KeyboardInterrupt:
        log("stopping…")
    except RuntimeError as exc:
        raise SystemExit(f"[demo] {exc}") from None
    finally:
        for process in reversed(processes):
            launch.stop(process, timeout=launch.PORTAL_STOP_SECONDS)


def sign_in_block(*, port, password, facts, devices, access_log):
    shown_log = "this terminal" if access_log == "-" else access_log
    return (
        "\n"
        f"  dmportal is running:  http://127.0.0.1:{port}/\n"
        f"  sign in as:           demo\n"
        f"  password:             {password}\n"
        f"  simulated API:        {facts['base_url']} ({devices} devices)\n"
        f"  access log:           {shown_log}\n"
        "  background jobs:      one worker (manage.py db_worker)\n"
        "  Press Enter to show this again, Ctrl-C to stop them all.\n"
    )


def wait_until_answering(port, process, timeout=60.0):
    """Until dmportal answers /healthz (so the sign-in block comes after gunicorn's start-up
    lines), or the process stopped, or `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return True
        except OSError:
            time.sleep(0.2)
    return False


def asked_again():
    """Whether Enter was pressed in the terminal since the last look (never without one)."""
    if not sys.stdin or not sys.stdin.isatty():
        return False
    ready, _, _ = select.select([sys.stdin], [], [], 0)
    if ready:
        sys.stdin.readline()
        return True
    return False


def run(args, processes):
    """Start the simulator and dmportal (appended to `processes`); return when one stops."""
    demo_secrets = ensure_secrets()
    log("starting the Device Management API simulator…")
    simulator, facts = launch.start_simulator(
        "--host", "127.0.0.1", "--port", args.api_port, "--devices", args.devices,
        "--seed", args.seed,
    )  # fmt: skip
    processes.append(simulator)
    access_log = os.environ.get("DMPORTAL_ACCESS_LOG") or str(VAR / f"demo-access-{args.port}.log")
    env = launch.portal_env(
        # Readable log lines in the terminal; production's default is one JSON object a line.
        # The access log goes to a file, so the sign-in block is not scrolled away.
        {
            **os.environ,
            "LOG_FORMAT": os.environ.get("LOG_FORMAT", "text"),
            "DMPORTAL_ACCESS_LOG": access_log,
        },
        secrets=demo_secrets,
        # One database per port, so two demos on one machine never share a login.
        database_url=f"sqlite:///{VAR / f'demo-{args.port}.sqlite3'}",
        simulator=facts,
        port=args.port,
    )
    log("preparing dmportal (database, static files, demo login)…")
    password = secrets.token_urlsafe(12)
    launch.prepare(env, password=password, simulator=facts)
    portal = launch.start_portal(env)
    processes.append(portal)
    processes.append(launch.start_worker(env))
    if not wait_until_answering(args.port, portal):
        log("dmportal did not answer on /healthz; its output above says why.")
    block = sign_in_block(
        port=args.port, password=password, facts=facts, devices=args.devices, access_log=access_log
    )
    print(block, flush=True)
    again = []
    signal.signal(signal.SIGUSR1, lambda *_: again.append(True))
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
    while all(p.poll() is None for p in processes):
        if again or asked_again():
            again.clear()
            print(block, flush=True)
        time.sleep(0.5)
    log("a process stopped; shutting down.")


if __name__ == "__main__":
    main()
