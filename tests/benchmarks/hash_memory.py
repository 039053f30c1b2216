"""Peak memory of 32 parallel sign-ins with real Argon2 (Django's defaults: ~100 MiB a hash),
without and with the per-process cap on hashing (accounts/hashers.py).

    .venv/bin/python -m tests.benchmarks.hash_memory [SIGN_INS]

Each configuration runs in a process of its own (peak RSS is per process): 32 users on a
SQLite file, then 32 threads sign in at once (each user with the right password, each from
its own address), through the real sign-in view. Prints the process's peak RSS before the
sign-ins and after them, and how long the burst took.
"""

import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery staple 42"
CONFIGURATIONS = {
    "uncapped": "django.contrib.auth.hashers.Argon2PasswordHasher",
    "capped": "dmportal.accounts.hashers.BoundedArgon2PasswordHasher",
}


def peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(hasher, count):
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django
    from django.conf import settings

    django.setup()
    settings.PASSWORD_HASHERS = [hasher]
    settings.DMPORTAL_PASSWORD_HASH_WAIT = 600
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    call_command("migrate", verbosity=0)
    users = get_user_model()
    for n in range(count):
        users.objects.create_user(f"user{n}", password=PASSWORD)
    before = peak_mib()
    barrier = threading.Barrier(count)
    statuses = []

    def sign_in(n):
        client = Client(REMOTE_ADDR=f"198.51.100.{n + 1}")
        barrier.wait()
        response = client.post("/accounts/login/", {"username": f"user{n}", "password": PASSWORD})
        statuses.append(response.status_code)
        connection.close()

    started = time.monotonic()
    threads = [threading.Thread(target=sign_in, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(
        json.dumps(
            {
                "peak_before_mib": round(before),
                "peak_after_mib": round(peak_mib()),
                "seconds": round(time.monotonic() - started, 2),
                "signed_in": statuses.count(302),
            }
        )
    )


def main(count):
    for name, hasher in CONFIGURATIONS.items():
        with tempfile.TemporaryDirectory() as workdir:
            env = {
                **os.environ,
                "DATABASE_URL": f"sqlite:///{workdir}/hashes.sqlite3",
                "DJANGO_SETTINGS_MODULE": "tests.settings",
            }
            done = subprocess.run(
                [sys.executable, "-m", "tests.benchmarks.hash_memory", "--run", hasher, str(count)],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                check=True,
            )
            print(name, done.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    if sys.argv[1:2] == ["--run"]:
        run(sys.argv[2], int(sys.argv[3]))
    else:
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 32)
