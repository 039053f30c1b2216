"""The one way to start dmportal's processes on this machine: the API simulator, manage.py,
dmportal under gunicorn with gunicorn.conf.py (DEBUG off, the production worker settings),
plain http on 127.0.0.1, and the task queue's worker. Used by the demo (`make run`,
dmportal/demo.py) and by the benchmarks, the soak test and the two-app-server test
(tests/benchmarks/processes.py).
Nothing here is used by a production deployment.
"""

import contextlib
import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
SIMULATOR_FACTS = ("base_url", "ca_cert", "admin_key", "developer_key")


def start_simulator(*arguments, stderr=None, env=None):
    """`python -m dmportal.simulator <arguments>`; returns the process and the facts it prints
    once it listens (base_url, ca_cert, admin_key, developer_key)."""
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [PYTHON, "-m", "dmportal.simulator", *map(str, arguments)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        env=env,
    )
    facts = {}
    while not all(name in facts for name in SIMULATOR_FACTS):
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(
                f"The simulator stopped before it was ready (exit {process.wait()})."
            )
        key, equals, value = line.strip().partition("=")
        if equals:
            facts[key] = value
    return process, facts


def portal_env(base, *, secrets, database_url, simulator, port):
    """The environment of a local dmportal on `port` calling `simulator` (its facts)."""
    return {
        **base,
        **secrets,  # SECRET_KEY, DMPORTAL_ENCRYPTION_KEYS
        "DEBUG": "false",
        "DMPORTAL_HTTPS": "false",  # plain http on 127.0.0.1: no Secure cookies, no redirect
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": database_url,
        "DMPORTAL_API_HOSTS": simulator["base_url"],
        "DMPORTAL_API_CA_BUNDLE": simulator["ca_cert"],
        "DMPORTAL_ENV_FILE": "/nonexistent",
        "DJANGO_SETTINGS_MODULE": "dmportal.settings",
        "DMPORTAL_BIND": f"127.0.0.1:{port}",
    }


def manage(env, *arguments):
    """Run a manage.py command; its output is shown only when it fails (RuntimeError)."""
    out = subprocess.run(  # noqa: S603 - our own interpreter and manage.py
        [PYTHON, "manage.py", *arguments],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"manage.py {arguments[0]} failed: {out.stderr.strip()[-1000:]}")


def prepare(env, *, password, simulator):
    """Migrate, collect the static files, and create the `demo` login with the simulator's
    administrator and developer keys as two connections."""
    manage(env, "migrate", "--noinput", "-v", "0")
    manage(env, "collectstatic", "--noinput", "-v", "0")
    manage(env, "jobs_cleanup")
    manage(
        {
            **env,
            "DMPORTAL_DEMO_PASSWORD": password,
            "DMPORTAL_DEMO_ADMIN_KEY": simulator["admin_key"],
            "DMPORTAL_DEMO_DEVELOPER_KEY": simulator["developer_key"],
        },
        "demo_setup",
    )


# How long `stop` waits for gunicorn: above its graceful_timeout (30 s, gunicorn.conf.py), so
# that a request still waiting for the API can finish before anything is killed.
PORTAL_STOP_SECONDS = 35


def start_portal(env, *, stdout=None):
    """dmportal under gunicorn with gunicorn.conf.py, listening on env's DMPORTAL_BIND.

    In a process group of its own: a Ctrl-C in the terminal does not reach the workers behind
    their master's back (they would die at once, with requests in flight), and `stop` can end
    the master and every worker together if the graceful stop does not finish."""
    return _in_own_group(
        subprocess.Popen(  # noqa: S603 - our own interpreter and gunicorn
            [PYTHON, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py")],
            cwd=ROOT,
            env=env,
            stdout=stdout,
            stderr=subprocess.STDOUT if stdout is not None else None,
            start_new_session=True,
        )
    )


WORKER_COMMAND = ("db_worker", "--queue-name", "default", "--interval", "0.5", "--no-reload")


def start_worker(env, *, stdout=None):
    """The task queue's worker (django-tasks-db's `db_worker`) on env's database: it runs the
    background jobs. In a session of its own, so a Ctrl-C in the terminal reaches it once, as
    the SIGTERM of `stop`: it hands a job under way back to the queue at its next step and
    exits (a second signal would end it at once, leaving the job to its lease)."""
    return _in_own_group(
        subprocess.Popen(  # noqa: S603 - our own interpreter and manage.py
            [PYTHON, "manage.py", *WORKER_COMMAND],
            cwd=ROOT,
            env=env,
            stdout=stdout,
            stderr=subprocess.STDOUT if stdout is not None else None,
            start_new_session=True,
        )
    )


def stop(process, timeout=10):
    """SIGTERM, then SIGKILL if it has not ended after `timeout` seconds: the whole process
    group when the process leads one of its own (gunicorn's workers go with their master,
    never left behind serving the port)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if getattr(process, "own_group", False):
        # What is left of its group: nothing after a clean stop; a worker whose master was
        # killed otherwise. (The group outlives its leader while any member lives.)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)


def _in_own_group(process):
    process.own_group = True
    return process
