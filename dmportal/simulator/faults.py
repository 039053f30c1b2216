"""The fault plan: which API requests get a simulated failure instead of (or on top of) an answer.

A request's fault is chosen, first match wins, from:

1. the request header ``X-Simulator-Fault: <name>`` (tests only; the dashboard never sends it);
2. the plan's rules, in the order they were added.

A rule matches on an optional ``path_prefix`` and ``method``, and then fires in one of three ways:

* always (the default), or with probability ``rate`` (0 < rate <= 1);
* ``at_call: N``: on the Nth API call that matches the rule, counted from the moment the rule
  was added (1 = the next matching call);
* ``on_write: N``: on the Nth matching *write* (POST, PUT, PATCH, DELETE), counted likewise;
  reads pass untouched and are not counted.

``count`` is how many times the rule fires before it retires: None means until cleared, except
with ``at_call``/``on_write``, where it defaults to 1 (``{"fault": "500", "on_write": 3,
"count": 2}`` fails the 3rd and 4th writes and no other). ``rate`` cannot be combined with
``at_call``/``on_write``. A positional rule counts every matching call it sees even when an
earlier rule answered it, so "the 37th call" means the 37th call of the run, whatever else
happened; two rules cannot fire on one call (the first wins).

``applied: true`` (error faults, ``stall`` and ``reset``): the request is carried out first, then
its answer is replaced by the fault, so a write takes effect although the client sees a failure
or no answer: the "outcome unknown" case. Without it a faulted request changes nothing.

Rules come from the command line (``--fault 500 --fault-rate 0.1``), from the control endpoints
(``POST /_simulator/faults`` with ``{"fault", "path_prefix", "method", "count", "rate",
"at_call", "on_write", "applied"}``, ``GET``/``DELETE /_simulator/faults``) or in-process
(``sim.faults.add(...)``, ``sim.faults.clear()``). For example, to fail page 37 of an export walk
with a 503 and to lose the answer of the 3rd write of a bulk job after it took effect::

    POST /_simulator/faults {"fault": "503", "path_prefix": "/v3/devices/", "method": "GET",
                             "at_call": 37}
    POST /_simulator/faults {"fault": "reset", "on_write": 3, "applied": true}

``GET /_simulator/faults`` lists the rules with ``seen`` (matching calls or writes counted so far)
and ``fired``.

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
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Fault:
    name: str
    arg: int | None = None
    applied: bool = False  # carry the request out, then answer with the fault

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
    at_call: int | None = None
    on_write: int | None = None
    seen: int = 0  # positional rules: matching calls (or writes) counted so far
    fired: int = 0

    @property
    def positional(self) -> bool:
        return self.at_call is not None or self.on_write is not None

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method != method:
            return False
        if self.on_write is not None and method not in WRITE_METHODS:
            return False
        return not self.path_prefix or path.startswith(self.path_prefix)

    def as_dict(self) -> dict:
        out = asdict(self)
        out["fault"] = str(self.fault)
        out["applied"] = self.fault.applied
        return out


def _positive(name: str, value) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer or null")
    if value < 1:
        raise ValueError(f"{name} must be at least 1")
    return value


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
        at_call: int | None = None,
        on_write: int | None = None,
        applied: bool = False,
    ) -> Rule:
        count = _positive("count", count)
        at_call = _positive("at_call", at_call)
        on_write = _positive("on_write", on_write)
        if rate is not None and (isinstance(rate, bool) or not 0 < float(rate) <= 1):
            raise ValueError("rate must be in (0, 1]")
        if path_prefix is not None and not isinstance(path_prefix, str):
            raise ValueError("path_prefix must be a string")
        if method is not None and not isinstance(method, str):
            raise ValueError("method must be a string")
        if at_call is not None and on_write is not None:
            raise ValueError("give at_call or on_write, not both")
        if rate is not None and (at_call is not None or on_write is not None):
            raise ValueError("rate cannot be combined with at_call or on_write")
        if not isinstance(applied, bool):
            raise ValueError("applied must be true or false")
        parsed = parse(fault)
        if applied and parsed.name in ("truncated", "wrong_content_type", "non_json", "empty"):
            raise ValueError(f"fault {parsed.name!r} cannot be applied after the request")
        if (at_call is not None or on_write is not None) and count is None:
            count = 1
        rule = Rule(
            Fault(parsed.name, parsed.arg, applied),
            path_prefix or None,
            method.upper() if method else None,
            count,
            None if rate is None else float(rate),
            at_call,
            on_write,
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
        chosen: Rule | None = None
        with self._lock:
            for rule in list(self._rules):
                if not rule.matches(method, path):
                    continue
                if rule.positional:
                    rule.seen += 1
                    start = rule.at_call if rule.at_call is not None else rule.on_write
                    if chosen is None and rule.seen >= start:
                        chosen = self._fire(rule)
                    continue
                if chosen is not None:
                    continue
                if rule.rate is not None and self._rng.random() >= rule.rate:
                    continue
                chosen = self._fire(rule)
        return chosen.fault if chosen is not None else None

    def _fire(self, rule: Rule) -> Rule:
        rule.fired += 1
        if rule.count is not None:
            rule.count -= 1
            if rule.count == 0:
                self._rules.remove(rule)
        return rule
