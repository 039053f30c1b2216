"""Parallel password checks against a real database, for tests/security/test_password_throttle.py.

Run as `python -m tests.security.parallel_passwords SCENARIO THREADS` with DATABASE_URL set to
an empty database (a SQLite file, or PostgreSQL): it migrates, makes the user `alice`, sends
THREADS wrong answers at once (one thread each, started together by a barrier; every hash
takes a little while, so they overlap), and prints what happened as JSON. In a process of its
own because SQLite's in-memory test database cannot take parallel writers: a file can, as in
production (WAL, IMMEDIATE transactions), and so can PostgreSQL.

    reauth   the wrong password on the password page, 16 times at once in one session
    signin   wrong sign-ins of alice from one address
    names    wrong sign-ins of 16 different (unknown) user names from one address
"""

import json
import os
import sys
import threading
import time

PASSWORD = "correct horse battery staple 42"


def main(scenario, threads):
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import MD5PasswordHasher
    from django.contrib.sessions.models import Session
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from dmportal.accounts.models import ActivityEntry

    call_command("migrate", verbosity=0)
    alice = get_user_model().objects.create_user("alice", password=PASSWORD)

    checked = []
    lock = threading.Lock()
    encode = MD5PasswordHasher.encode

    def slow_encode(self, password, salt):
        # Every password check hashes once here: verify() encodes to compare, and an unknown
        # user's password is hashed too (Django's guard against telling them apart by time).
        with lock:
            checked.append(password)
        time.sleep(0.05)  # a real hash takes a while: the checks overlap
        return encode(self, password, salt)

    MD5PasswordHasher.encode = slow_encode
    if scenario == "reauth":
        signed_in = Client()
        signed_in.force_login(alice)
        cookies = signed_in.cookies

    def request(n):
        client = Client()
        if scenario == "reauth":
            client.cookies.load({name: morsel.value for name, morsel in cookies.items()})
            return client.post("/accounts/confirm-password/", {"password": f"wrong {n}"})
        username = "alice" if scenario == "signin" else f"nobody-{n}"
        return client.post("/accounts/login/", {"username": username, "password": f"wrong {n}"})

    barrier = threading.Barrier(threads, timeout=30)
    statuses, errors = [], []

    def work(n):
        try:
            barrier.wait()
            response = request(n)
            with lock:
                statuses.append(response.status_code)
        except Exception as exc:  # reported, not raised: the parent test says what failed
            errors.append(repr(exc))
        finally:
            connection.close()

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    result = {
        "checked": len(checked),
        "statuses": sorted(statuses),
        "errors": errors,
        "failed_entries": ActivityEntry.objects.filter(result="failed").count(),
        "sessions": Session.objects.count(),
        "counts": counts(),
    }
    print(json.dumps(result))


def counts():
    try:
        from dmportal.accounts.models import PasswordFailures
    except ImportError:  # a dmportal without the database throttle
        return {}
    totals = {}
    for row in PasswordFailures.objects.all():
        totals[row.scope] = totals.get(row.scope, 0) + row.count
    return totals


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
