"""`python -m dmportal.demo` (what `make run` starts): the simulator and dmportal together.

1. Makes local secrets once (var/demo.env, git-ignored): SECRET_KEY and an encryption key.
2. Starts the Device Management API simulator over HTTPS and reads its base URL, CA and keys.
3. Prepares dmportal (migrate, collectstatic), creates the demo login with a fresh password
   and stores the simulator's administrator and developer keys as two connections.
4. Serves dmportal with gunicorn and gunicorn.conf.py (DEBUG off, the production worker
   settings) and prints how to sign in.
Ctrl-C stops both. Nothing here is used by a production deployment.
"""

import argparse
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
ENV_FILE = VAR / "demo.env"
PYTHON = sys.executable


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


def start_simulator(args):
    command = [
        PYTHON,
        "-m",
        "dmportal.simulator",
        "--host",
        "127.0.0.1",
        "--port",
        str(args.api_port),
        "--devices",
        str(args.devices),
        "--seed",
        str(args.seed),
    ]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)  # noqa: S603
    facts = {}
    while len(facts) < 4:
        line = process.stdout.readline()
        if not line:
            raise SystemExit(f"The simulator stopped before it was ready (exit {process.wait()}).")
        if "=" in line:
            key, value = line.strip().split("=", 1)
            facts[key] = value
    return process, facts


def manage(env, *arguments):
    subprocess.run([PYTHON, "manage.py", *arguments], cwd=ROOT, env=env, check=True)  # noqa: S603


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000, help="dmportal's port (8000)")
    parser.add_argument("--api-port", type=int, default=8443, help="the simulator's port (8443)")
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    demo_secrets = ensure_secrets()
    log("starting the Device Management API simulator…")
    simulator, facts = start_simulator(args)
    processes = [simulator]
    env = {
        **os.environ,
        **demo_secrets,
        "DEBUG": "false",
        "DMPORTAL_HTTPS": "false",  # plain http on 127.0.0.1: no Secure cookies, no redirect
        # Readable log lines in the terminal; production's default is one JSON object a line.
        "LOG_FORMAT": os.environ.get("LOG_FORMAT", "text"),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        # One database per port, so two demos on one machine never share a login.
        "DATABASE_URL": f"sqlite:///{VAR / f'demo-{args.port}.sqlite3'}",
        "DMPORTAL_API_HOSTS": facts["base_url"],
        "DMPORTAL_API_CA_BUNDLE": facts["ca_cert"],
        "DMPORTAL_ENV_FILE": "/nonexistent",
        "DJANGO_SETTINGS_MODULE": "dmportal.settings",
    }
    try:
        log("preparing dmportal (database, static files, demo login)…")
        manage(env, "migrate", "--noinput", "-v", "0")
        manage(env, "collectstatic", "--noinput", "-v", "0")
        password = secrets.token_urlsafe(12)
        setup_env = {
            **env,
            "DMPORTAL_DEMO_PASSWORD": password,
            "DMPORTAL_DEMO_ADMIN_KEY": facts["admin_key"],
            "DMPORTAL_DEMO_DEVELOPER_KEY": facts["developer_key"],
        }
        manage(setup_env, "demo_setup")
        # The production worker settings (gunicorn.conf.py); only the address is the demo's.
        server = subprocess.Popen(  # noqa: S603
            [PYTHON, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py")],
            cwd=ROOT,
            env={**env, "DMPORTAL_BIND": f"127.0.0.1:{args.port}"},
        )
        processes.append(server)
        time.sleep(1.0)
        print(
            "\n"
            f"  dmportal is running:  http://127.0.0.1:{args.port}/\n"
            f"  sign in as:           demo\n"
            f"  password:             {password}\n"
            f"  simulated API:        {facts['base_url']} ({args.devices} devices)\n"
            "  Press Ctrl-C to stop both.\n",
            flush=True,
        )
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
        while all(p.poll() is None for p in processes):
            time.sleep(0.5)
        log("a process stopped; shutting down.")
    except KeyboardInterrupt:
        log("stopping…")
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


if __name__ == "__main__":
    main()
