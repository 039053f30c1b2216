"""Password hashing, capped per process.

Argon2 at Django's defaults uses about 100 MiB for each hash (memory_cost 102400 KiB): a
burst of sign-in attempts (or of wrong answers to the password page) hashed all at once would
take that much memory per thread, and a gunicorn worker runs several threads. At most
DMPORTAL_PASSWORD_HASHES hashes run at once in a process; the others wait their turn, up to
DMPORTAL_PASSWORD_HASH_WAIT seconds, and are then refused with PasswordHashingBusy (a 503
page: nothing was checked, the attempt is not counted as a failure). The throttle
(throttle.py) decides which attempts are hashed at all.
"""

import threading

from django.conf import settings
from django.contrib.auth.hashers import Argon2PasswordHasher


class PasswordHashingBusy(Exception):
    """Too many passwords are being hashed in this process right now."""


_slots = {}
_slots_lock = threading.Lock()


def hashing_slots():
    """This process's semaphore for DMPORTAL_PASSWORD_HASHES (made on first use)."""
    size = settings.DMPORTAL_PASSWORD_HASHES
    with _slots_lock:
        if size not in _slots:
            _slots[size] = threading.BoundedSemaphore(size)
        return _slots[size]


class bounded:
    """`with bounded(): ...` runs inside one of the process's hashing slots."""

    def __enter__(self):
        self.slots = hashing_slots()
        if not self.slots.acquire(timeout=settings.DMPORTAL_PASSWORD_HASH_WAIT):
            raise PasswordHashingBusy(
                "dmportal is checking many passwords right now; nothing was checked. Try "
                "again in a moment."
            )
        return self

    def __exit__(self, *exc):
        self.slots.release()
        return False


class BoundedArgon2PasswordHasher(Argon2PasswordHasher):
    """Django's Argon2 hasher (same algorithm name and parameters, so every stored hash stays
    valid), each hash in one of the process's hashing slots."""

    def encode(self, password, salt):
        with bounded():
            return super().encode(password, salt)

    def verify(self, password, encoded):
        with bounded():
            return super().verify(password, encoded)
