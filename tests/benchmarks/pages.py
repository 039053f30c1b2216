"""Items 1-6: each page next to the API call(s) it wraps, made directly (the limit).

For every case the benchmark alternates, round by round, the dmportal request (through
gunicorn, signed in, as a browser sends it) and the same API request(s) made directly to the
simulator with a kept-alive client; both sides are timed from the same process with the same
HTTP library, so what differs is what dmportal adds. The simulator counts the API requests
and TLS handshakes of each case.
"""

import re
import time
from dataclasses import dataclass, field

from .stats import summary

ROW = re.compile(r"<tr>")


@dataclass
class Case:
    key: str
    label: str
    url: str  # dmportal path and query
    direct: list  # [(api path, params)], made in this order: the limit
    htmx: bool = False
    rows: int | None = None  # rows the answer must hold
    rounds: int = 200
    result: dict = field(default_factory=dict)


def device_cases(api, base_url, rounds):
    """The device cases, with a cursor and a device (with groups) taken from the data."""
    first = api.get(
        f"{base_url}/v3/devices/", params={"limit": 1000, "order": "DESC"}, timeout=30
    ).json()["data"]
    cursor = first[49]["id"]
    with_groups = next((d for d in first if d.get("groups")), first[0])
    device_id = with_groups["id"]
    group_ids = ",".join(with_groups.get("groups") or [])
    list_params = {"limit": 50, "order": "DESC", "include": "total_count"}
    cases = [
        Case(
            "list_50",
            "Device list, 50 rows (full page)",
            "/devices/",
            [("/v3/devices/", list_params)],
            rows=50,
            rounds=rounds,
        ),
        Case(
            "list_1000",
            "Device list, 1,000 rows (full page)",
            "/devices/?limit=1000",
            [("/v3/devices/", {**list_params, "limit": 1000})],
            rows=1000,
            rounds=max(20, rounds // 2),
        ),
        Case(
            "load_more_50",
            "Load more, 50 rows (fragment)",
            f"/devices/?after={cursor}",
            [("/v3/devices/", {"limit": 50, "order": "DESC", "after": cursor})],
            htmx=True,
            rows=50,
            rounds=rounds,
        ),
        Case(
            "detail",
            "Device detail (page shell)",
            f"/devices/{device_id}/",
            [(f"/v3/devices/{device_id}/", None)],
            rounds=rounds,
        ),
        Case(
            "events_panel",
            "Device detail: events panel",
            f"/devices/{device_id}/events/",
            [
                (
                    "/v3/device-events/",
                    {"device_id__eq": device_id, **list_params},
                )
            ],
            htmx=True,
            rounds=rounds,
        ),
    ]
    if group_ids:
        cases.append(
            Case(
                "groups_panel",
                "Device detail: groups panel",
                f"/devices/{device_id}/groups/?id__in={group_ids}",
                [("/v3/device-groups/", {"id__in": group_ids, "limit": 100})],
                htmx=True,
                rounds=rounds,
            )
        )
    return cases


def users_case(rounds):
    return Case(
        "users",
        "Users page (team)",
        "/team/users/",
        [
            ("/v3/users", {"limit": 50, "order": "DESC", "include": "total_count"}),
            ("/v3/policy-groups", {"limit": 1000}),
        ],
        rounds=rounds,
    )


def timed(call):
    started = time.perf_counter()
    response = call()
    response.content  # noqa: B018 - read the whole body inside the timing
    return (time.perf_counter() - started) * 1000, response


def run_case(case, *, portal_session, portal_url, api, simulator, warmup, cpu_probe=None):
    headers = {"HX-Request": "true"} if case.htmx else {}

    def dm():
        return portal_session.get(portal_url + case.url, headers=headers, timeout=60)

    def direct():
        total = 0.0
        for path, params in case.direct:
            ms, response = timed(
                lambda p=path, q=params: api.get(simulator.base_url + p, params=q, timeout=60)
            )
            if response.status_code != 200:
                raise RuntimeError(f"direct {path} answered {response.status_code}")
            total += ms
        return total

    # One view on its own, to count exactly the API requests it makes.
    simulator.reset_stats()
    probe = dm()
    counted = simulator.stats()
    if probe.status_code != 200:
        case.result = {"error": f"dmportal answered {probe.status_code}", "label": case.label}
        return case.result
    rows = len(ROW.findall(probe.text))
    calls = counted["requests"]
    direct_templates = sorted(template_of(path) for path, _ in case.direct)
    made_templates = sorted(t for t, n in calls.items() for _ in range(n))

    for _ in range(warmup):
        dm()
        direct()
    simulator.reset_stats()
    probe_before = cpu_probe() if cpu_probe else None
    started = time.perf_counter()
    dm_ms, api_ms, failures = [], [], 0
    sizes = set()
    for index in range(case.rounds):
        # Alternate which side goes first, so neither always follows the other.
        if index % 2:
            api_ms.append(direct())
            ms, response = timed(dm)
        else:
            ms, response = timed(dm)
            api_ms.append(direct())
        dm_ms.append(ms)
        sizes.add(len(response.content))
        if response.status_code != 200:
            failures += 1
    elapsed = time.perf_counter() - started
    other_cores = None
    if cpu_probe:
        busy_after, ours_after = cpu_probe()
        other = (busy_after - probe_before[0]) - (ours_after - probe_before[1])
        other_cores = round(max(0.0, other) / elapsed, 2)
    after = simulator.stats()
    views = case.rounds
    dm_calls = after["requests_total"] - views * len(case.direct)
    dm_side, api_side = summary(dm_ms), summary(api_ms)
    case.result = {
        "label": case.label,
        "url": case.url,
        "htmx": case.htmx,
        "rounds": views,
        "warmup": warmup,
        "dmportal_ms": dm_side,
        "api_ms": api_side,
        "overhead_ms": {
            "median": round(dm_side["median"] - api_side["median"], 2),
            "p95": round(dm_side["p95"] - api_side["p95"], 2),
        },
        "ratio": round(dm_side["median"] / api_side["median"], 3),
        "api_calls_per_view": calls and sum(calls.values()),
        "api_calls_made": calls,
        "api_calls_per_view_in_timed_rounds": round(dm_calls / views, 3),
        "limit_matches_calls": made_templates == direct_templates,
        "limit_requests": [template_of(path) for path, _ in case.direct],
        "rows": rows,
        "rows_expected": case.rows,
        "html_bytes": max(sizes),
        "failures": failures,
        "api_requests_in_timed_rounds": after["requests_total"],
        "tls_handshakes_in_timed_rounds": after["tls_handshakes"],
        # CPU that processes other than the benchmark's used meanwhile, in cores: a shared
        # machine's other work slows every figure of this case.
        "other_processes_cores": other_cores,
    }
    return case.result


TEMPLATES = ((re.compile(r"^/v3/devices/[0-9a-f]{32}/$"), "/v3/devices/{id}/"),)


def template_of(path):
    for pattern, template in TEMPLATES:
        if pattern.match(path):
            return f"GET {template}"
    return f"GET {path}"
