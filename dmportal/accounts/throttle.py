"""One throttle for every place a password is checked: signing in, the password asked again
before a sensitive action (reauth.py), and changing the password.

Failures are counted in the database, which every worker and app server shares (with or
without CACHE_URL), per rule, each on its own row:

    pair     (user name, client address): after DMPORTAL_SIGNIN_FAILURES failures, paused for
             DMPORTAL_SIGNIN_COOLOFF_MINUTES. For a signed-in session, reaching it signs the
             session out (a stolen cookie cannot be used to guess the password).
    name     the user name, from any address: after DMPORTAL_SIGNIN_NAME_FAILURES failures,
             each further failure doubles the pause (2 s, 4 s, ... at most the cool-off), so
             guessing from many addresses is slow. It never locks a user out for good: the
             pause is bounded and forgotten a day after the last failure, and an address the
             user signed in from in the last 30 days is not paused by it (the pair rule still
             applies there), so an attacker elsewhere cannot keep the user out.
    address  the client address, across user names: after DMPORTAL_SIGNIN_ADDRESS_FAILURES
             failures, paused for the cool-off (one address trying many names).

An attempt is counted before the password is hashed, in one short transaction that locks
the rule's rows (SELECT ... FOR UPDATE on PostgreSQL; SQLite takes its write lock when the
transaction begins): parallel attempts are counted one by one, so no more than the limit of
them are ever checked, and none is lost. A success takes its attempt back (and clears the
pair and name counts). The rows hold a digest of the name or address, never the text typed.
Hashing itself is capped per process (hashers.py).
"""

import contextvars
import hashlib
import logging
import math
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, OperationalError, transaction
from django.db.models import F
from django.db.models.functions import Greatest
from django.utils import timezone

from dmportal.core.addresses import client_address

from .models import ActivityEntry, PasswordFailures

log = logging.getLogger("dmportal.audit")

KNOWN_ADDRESS_DAYS = 30
# Set while `check()` runs: the authentication backend (backends.py) counts only the checks
# made outside password_check, so none is counted twice.
CHECKING = contextvars.ContextVar("password_check", default=False)
NAME_FORGET = timedelta(days=1)


@dataclass(frozen=True)
class Rule:
    scope: str
    limit: int  # failures before a pause
    doubling: bool = False  # each failure past the limit doubles the pause

    def pause(self, count):
        """Seconds to wait after `count` failures (0: none)."""
        if count < self.limit:
            return 0
        cooloff = settings.DMPORTAL_SIGNIN_COOLOFF_MINUTES * 60
        if not self.doubling:
            return cooloff
        return min(2 ** min(count - self.limit + 1, 30), cooloff)

    @property
    def forget(self):
        """After this long without a failure the count starts again."""
        if self.doubling:
            return NAME_FORGET
        return timedelta(minutes=settings.DMPORTAL_SIGNIN_COOLOFF_MINUTES)


def rules():
    return (
        Rule("pair", settings.DMPORTAL_SIGNIN_FAILURES),
        Rule("name", settings.DMPORTAL_SIGNIN_NAME_FAILURES, doubling=True),
        Rule("address", settings.DMPORTAL_SIGNIN_ADDRESS_FAILURES),
    )


def digest(*parts):
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()


@dataclass
class Attempt:
    """A counted attempt: its rows, and what the outcome does to them."""

    username: str
    address: str
    keys: dict  # scope -> row key
    pair_count: int  # failures of the pair rule, this attempt included

    @property
    def last_allowed(self):
        return self.pair_count >= settings.DMPORTAL_SIGNIN_FAILURES


@dataclass(frozen=True)
class Verdict:
    """The outcome of a password check.

    ok: the password was right (`user` for a sign-in). paused: the throttle refused the
    attempt, or this failure reached the pair limit (`wait` seconds, a lock-out from now on).
    Otherwise a wrong password, `remaining` more allowed from this address."""

    ok: bool
    user: object = None
    paused: bool = False
    wait: int = 0
    remaining: int = 0


def password_check(request, *, username, check):
    """Check a password through the throttle: `check()` hashes it and returns a user (or
    True) when it is right, None (or False) when not; it is not called while paused."""
    username = str(username or "")[:150]
    address = client_address(request) or ""
    attempt, wait = attempt_count(username, address)
    if attempt is None:
        log.warning(
            "Password check refused by the throttle for %r (wait %d s)",
            username,
            wait,
            extra={"event": "password.throttled", "username": username, "client_ip": address},
        )
        return Verdict(ok=False, paused=True, wait=wait)
    token = CHECKING.set(True)
    try:
        user = check()
    except BaseException:
        attempt_undo(attempt)  # not checked (hashing busy, a failure): not a guess
        raise
    finally:
        CHECKING.reset(token)
    if user:
        attempt_succeeded(attempt)
        return Verdict(ok=True, user=user)
    if attempt.last_allowed:
        wait = Rule("pair", settings.DMPORTAL_SIGNIN_FAILURES).pause(attempt.pair_count)
        log.warning(
            "Password checks paused for %r from %s after %d failures",
            username,
            address,
            attempt.pair_count,
            extra={"event": "password.lockout", "username": username, "client_ip": address},
        )
        return Verdict(ok=False, paused=True, wait=wait)
    return Verdict(ok=False, remaining=settings.DMPORTAL_SIGNIN_FAILURES - attempt.pair_count)


def inside_password_check():
    return CHECKING.get()


def attempt_count(username, address):
    """(the counted Attempt, 0), or (None, seconds to wait) when a rule pauses it."""
    keys = {
        "pair": digest("pair", username, address),
        "name": digest("name", username),
        "address": digest("address", address),
    }
    with transaction.atomic():
        rows = {rule.scope: locked_row(rule.scope, keys[rule.scope]) for rule in rules()}
        now = timezone.now()  # after the rows are locked: no later attempt wrote them
        counts = {}
        wait = 0
        for rule in rules():
            row = rows[rule.scope]
            count = row.count if now - row.last_at <= rule.forget else 0
            counts[rule.scope] = count
            pause = rule.pause(count)
            left = pause - (now - row.last_at).total_seconds()
            if (
                pause
                and left > 0
                and not (rule.scope == "name" and known_address(username, address))
            ):
                wait = max(wait, math.ceil(left))
        if wait:
            return None, wait
        for rule in rules():
            PasswordFailures.objects.filter(pk=rows[rule.scope].pk).update(
                count=counts[rule.scope] + 1, last_at=now
            )
    return Attempt(username, address, keys, counts["pair"] + 1), 0


def locked_row(scope, key):
    """The rule's row, created if new, locked until the transaction ends.

    A parallel attempt with the right password deletes the pair and name rows
    (attempt_succeeded): between the create and the lock the row may be gone again, and is
    then created again (seen on PostgreSQL under the soak test's parallel sign-ins)."""
    for _ in range(5):
        try:
            with transaction.atomic():
                PasswordFailures.objects.get_or_create(
                    scope=scope, key=key, defaults={"count": 0, "last_at": timezone.now()}
                )
        except IntegrityError:
            pass  # created meanwhile by a parallel attempt
        row = PasswordFailures.objects.select_for_update().filter(scope=scope, key=key).first()
        if row is not None:
            return row
    raise OperationalError("The password throttle's row kept disappearing; try again.")


def known_address(username, address):
    """Whether `username` signed in from `address` in the last KNOWN_ADDRESS_DAYS."""
    since = timezone.now() - timedelta(days=KNOWN_ADDRESS_DAYS)
    return (
        bool(address)
        and ActivityEntry.objects.filter(
            action="signin",
            result="ok",
            username=username,
            ip_address=address,
            created_at__gte=since,
        ).exists()
    )


def attempt_succeeded(attempt):
    """The password was right: the pair and name counts start again; the address keeps its
    count less this attempt (someone with one account must not reset it by signing in)."""
    # One row at a time, in the order attempt_count locks them: one DELETE of both rows may
    # lock them the other way round and deadlock with a parallel attempt (PostgreSQL).
    for scope in ("pair", "name"):
        PasswordFailures.objects.filter(scope=scope, key=attempt.keys[scope]).delete()
    address = PasswordFailures.objects.filter(scope="address", key=attempt.keys["address"])
    address.update(count=Greatest(F("count") - 1, 0))
    address.filter(count=0).delete()


def attempt_undo(attempt):
    """The password was not checked after all: take the attempt back from every count."""
    for scope, key in attempt.keys.items():
        rows = PasswordFailures.objects.filter(scope=scope, key=key)
        rows.update(count=Greatest(F("count") - 1, 0))
        rows.filter(count=0).delete()


def throttle_forget(username, address):
    """Forget every count of a user name and address (tests, an administrator's reset)."""
    PasswordFailures.objects.filter(
        key__in=(
            digest("pair", username, address),
            digest("name", username),
            digest("address", address),
        )
    ).delete()
