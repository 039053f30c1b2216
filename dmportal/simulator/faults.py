"""The fault plan: which API requests get a simulated failure instead of (or on top of) an answer.

A request's fault is chosen, first match wins, from:

1. the request header ``X-Simulator-Fault: <name>`` (tests only; the dashboard never sends it);
2. the plan's rules, in the order they were added. A rule matches on an optional path prefix and
   method; ``count`` is how many matching requests it hits before it retires (None: until
   cleared); ``rate`` is the probability that a matching request is hit (None: always).

Rules come from the command line (``--fault 500 --fault-rate 0.1``), from the control endpoints
(``POST /_simulator/faults`` with ``{"fault", "path_prefix", "method", "count", "rate"}``,
``DELETE /_simulator/faults``) or in-process (``sim.faults.add(...)``, ``sim.faults.clear()``).

Fault names (``name:arg`` passes an argument, e.g. ``429:3600`` for the Retry-After seconds):

``500``                JSON error object (internal_server_error) with a request id
``502_html``           an HTML page from a "load balancer", status 502, with X-Request-ID
``503``, ``429``       JSON error object and ``Retry-After: <arg, default 1>``
``401``, ``403``, ``404``  JSON error objects (invalid_auth, access_denied, not_found)
``stall``              read the request, send nothing; hold the socket until the client gives
                       up or the simulator stops
``reset``              TCP RST (SO_LINGER 1,0 then close) instead of a response
``truncated``          the real response with a Content-Length larger than what is sent, then close
``non_json``           200 with an HTML body
``wrong_content_type`` 200 with the real JSON body but ``Content-Type: text/html``
``empty``              200 with an empty body
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass

NAMES = (
    "500",
    "502_html",
    "503",
    "429",
    "401",
    "403",
    "404",
    "stall",
    "reset",
    "truncated",
    "non_json",
    "wrong_content_type",
    "empty",
)
_TAKES_ARG = ("503", "429")


@dataclass(frozen=True)
class Fault:
    name: str
    arg: int | None = None

    @property
    def retry_after(self) -> int:
        return 1 if self.arg is None else self.arg

    def __str__(self) -> str:
        return self.name if self.arg is None else f"{self.name}:{self.arg}"


def parse(spec: str) -> Fault:
    """``"429:3600"`` -> Fault("429", 3600). ValueError for an unknown name or a bad argument."""
    name, sep, arg = str(spec).strip().partition(":")
    if name not in NAMES:
        raise ValueError(f"unknown fault {name!r}; known: {', '.join(NAMES)}")
    if not sep:
        return Fault(name)
    if name not in _TAKES_ARG or not arg.isdigit() or int(arg) > 10**7:
        raise ValueError(f"fault {name!r} takes no argument {arg!r}")
    return Fault(name, int(arg))


@dataclass
class Rule:
    fault: Fault
    path_prefix: str | None = None
    method: str | None = None
    count: int | None = None  # remaining hits; None = until cleared
    rate: float | None = None

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method != method:
            return False
        return not self.path_prefix or path.startswith(self.path_prefix)

    def as_dict(self) -> dict:
        out = asdict(self)
        out["fault"] = str(self.fault)
        return out


class FaultPlan:
    def __init__(self, seed: int = 0):
        self._rules: list[Rule] = []
        self._lock = threading.Lock()
        self._rng = random.Random(seed)

    def add(
        self,
        fault: str,
        path_prefix: str | None = None,
        method: str | None = None,
        count: int | None = None,
        rate: float | None = None,
    ) -> Rule:
        if count is not None and (isinstance(count, bool) or not isinstance(count, int)):
            raise ValueError("count must be an integer or null")
        if count is not None and count < 1:
            raise ValueError("count must be at least 1")
        if rate is not None and (isinstance(rate, bool) or not 0 < float(rate) <= 1):
            raise ValueError("rate must be in (0, 1]")
        if path_prefix is not None and not isinstance(path_prefix, str):
            raise ValueError("path_prefix must be a string")
        if method is not None and not isinstance(method, str):
            raise ValueError("method must be a string")
        rule = Rule(
            parse(fault),
            path_prefix or None,
            method.upper() if method else None,
            count,
            None if rate is None else float(rate),
        )
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def rules(self) -> list[dict]:
        with self._lock:
            return [r.as_dict() for r in self._rules]

    def pick(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for rule in self._rules:
                if not rule.matches(method, path):
                    continue
                if rule.rate is not None and self._rng.random() >= rule.rate:
                    continue
                if rule.count is not None:
                    rule.count -= 1
                    if rule.count == 0:
                        self._rules.remove(rule)
                return rule.fault
        return None
