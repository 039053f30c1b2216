"""A circuit breaker per API base URL: when Device Management keeps failing, dmportal stops
calling it for a while instead of making every page wait for the same timeouts.

    closed     calls go through. `failures` calls in a row that say the service is down open
               the breaker: no connection (refused, reset, a connect timeout, DNS, TLS, a
               truncated body) or a gateway's 502, 503 or 504 (`client.outage_kind` "host").
               Any other answer (2xx, 4xx, 500 and the other 5xx, an unreadable body) resets
               the count: the service is up, and one request's failure (a buggy endpoint's
               500, a user's revoked key, a rate limit) says nothing about it. The breaker is
               shared by every user of the host, so nothing one user's requests provoke may
               open it.
    open       calls fail at once with `CircuitOpen` for `seconds`, without sending anything.
    half-open  after `seconds`, one trial call goes through (others still fail fast until it
               ends); an answer closes the breaker, a failure opens it for `seconds` more.
               Only the trial decides: `allow()` hands the trial a token, which its `record()`
               passes back, and the outcome of a call sent before the breaker opened (still on
               its way) is ignored, so it can neither end the trial nor let a second one go.

A read timeout (the host took the connection but did not answer in time) is as likely one
user's unusually large or heavy page (`limit=1000` over a big fleet) as an outage: it is
counted per caller (`scope`: the portal passes one per dmportal user), on a circuit of that
caller's own with the same rules, so a user's slow pages fail fast that user's calls only. A
host that hangs for everyone still opens each user's circuit after `failures` of their calls
(bounded waiting per user); a call without a scope counts no read timeout at all.

A call is one `ApiClient.request()`: its retries are part of it, so a flapping service whose
failures the retries absorb never counts.

The state lives in this process's memory, on purpose: each app server (each gunicorn worker)
protects itself and learns of an outage from its own few calls. Sharing it through Redis would
add a round trip to every API call and make the cache a dependency of every page, to save at
most `failures` slow calls per worker.
"""

import logging
import math
import threading
import time
from dataclasses import dataclass

from .errors import CircuitOpen

log = logging.getLogger("dmportal.dmapi")

DEFAULT_FAILURES = 5
DEFAULT_SECONDS = 30.0
CALLER = "caller"  # `record(failed=CALLER)`: a failure that may be the caller's own (slow)


@dataclass
class _State:
    failures: int = 0  # failed calls in a row
    open_until: float | None = None  # clock time; None while closed
    trial: object = None  # the token of the half-open trial call on its way, if any


class CircuitBreaker:
    """Consecutive failures per base URL; `failures=0` turns the breaker off."""

    def __init__(self, failures=DEFAULT_FAILURES, seconds=DEFAULT_SECONDS, *, clock=None):
        if isinstance(failures, bool) or not isinstance(failures, int) or failures < 0:
            raise ValueError("failures must be a whole number, 0 (off) or more")
        if not seconds > 0:
            raise ValueError("seconds must be more than 0")
        self.failures = failures
        self.seconds = float(seconds)
        self.clock = clock or time.monotonic
        self._states = {}
        self._lock = threading.Lock()

    def __repr__(self):
        return f"<CircuitBreaker {self.failures} failures, {self.seconds:g} s>"

    def allow(self, base_url, scope=None):
        """Before a call: raises CircuitOpen when it may not be sent. Returns the call's trial
        token, to pass back to `record()`: None for an ordinary call (the circuits are
        closed), a new token when this call is the half-open trial of the host's circuit or
        of the caller's (`scope`)."""
        with self._lock:
            token = None
            for key in self._keys(base_url, scope):
                state = self._states.get(key)
                if state is None or state.open_until is None:
                    continue
                wait = state.open_until - self.clock()
                if wait > 0 or state.trial is not None:
                    raise self._open_error(key, wait)
            for key in self._keys(base_url, scope):
                state = self._states.get(key)
                if state is not None and state.open_until is not None:
                    token = token or object()
                    state.trial = token  # half-open: this call is the trial
            return token

    def _open_error(self, key, wait):
        if isinstance(key, tuple):
            message = (
                f"Device Management did not answer your last {self.failures} requests in time "
                f"(large or slow pages?); dmportal stopped sending yours for {self.seconds:g} s."
            )
        else:
            message = (
                f"Device Management is unavailable; dmportal stopped calling it for "
                f"{self.seconds:g} s after {self.failures} failures in a row."
            )
        return CircuitOpen(
            message,
            failures=self.failures,
            seconds=self.seconds,
            retry_after=max(1, math.ceil(wait)),
            own=isinstance(key, tuple),
        )

    @staticmethod
    def _keys(base_url, scope):
        return (base_url,) if scope is None else (base_url, (base_url, scope))

    def record(self, base_url, *, failed, trial=None, scope=None):
        """After a call that was allowed, with the token `allow()` returned for it: `failed`
        True (the host is down: `client.outage_kind` "host"), CALLER (a read timeout: counted
        on the caller's circuit, when there is a `scope`), False (the service answered), None
        (no verdict: the call ended for another reason). While a circuit is open only its
        trial's outcome counts: other calls were sent before it opened."""
        caller = failed is CALLER or failed == CALLER
        with self._lock:
            self._record(base_url, None if caller else failed, trial)
            if scope is not None:
                self._record(
                    (base_url, scope), True if caller else (None if failed else failed), trial
                )

    def _record(self, key, failed, trial):
        state = self._states.get(key)
        if state is not None and state.open_until is not None:
            if trial is None or trial is not state.trial:
                return  # not the trial: the trial decides
            if failed is None:
                state.trial = None  # the next call may try again
                return
        if failed is None:
            return
        if not failed:
            if state is not None:
                del self._states[key]
                if state.open_until is not None:
                    log.info("Circuit closed for %s: the API answered again", _shown(key))
            return
        if state is None:
            state = self._states[key] = _State()
        state.failures += 1
        # The trial failed, or the count is reached.
        if state.trial is not None or (self.failures and state.failures >= self.failures):
            state.open_until = self.clock() + self.seconds
            state.trial = None
            log.warning(
                "Circuit open for %s after %d failed calls in a row: calls fail at once for %g s",
                _shown(key),
                state.failures,
                self.seconds,
            )

    def is_open(self, base_url):
        with self._lock:
            state = self._states.get(base_url)
            return state is not None and state.open_until is not None

    def reset(self):
        with self._lock:
            self._states.clear()


def _shown(key):
    return f"{key[0]} ({key[1]}'s calls)" if isinstance(key, tuple) else key


_shared = {}
_shared_lock = threading.Lock()


def shared_breaker(failures=DEFAULT_FAILURES, seconds=DEFAULT_SECONDS):
    """This process's breaker for these settings, shared by every client (created on first
    use, like the session pool)."""
    key = (failures, float(seconds))
    breaker = _shared.get(key)
    if breaker is None:
        with _shared_lock:
            breaker = _shared.get(key)
            if breaker is None:
                breaker = _shared[key] = CircuitBreaker(failures, seconds)
    return breaker


def reset_shared_breakers():
    """Forget every failure of every shared breaker (between tests)."""
    with _shared_lock:
        for breaker in _shared.values():
            breaker.reset()
