"""Drive the official Python SDK (mbed-cloud-sdk 2.2.0) against a running simulator.

Runs with the SDK virtualenv's interpreter (scripts/sdk_venv.sh), never the project's. Input, all
from the environment, as the SDK itself reads it:

    MBED_CLOUD_SDK_HOST      the simulator's base URL (https://127.0.0.1:<port>)
    MBED_CLOUD_SDK_API_KEY   an administrator key
    REQUESTS_CA_BUNDLE       the simulator's CA certificate (the SDK uses requests)
    DMPORTAL_SDK_EXPECT_DEVICES  (optional) the simulator's device count

Exit status 0 when every check passes; otherwise 1, with one line per failed check on stderr.
Self-contained on purpose: it must not import the project, whose dependencies it does not have.
"""

from __future__ import annotations

import os
import sys
import traceback

from mbed_cloud import ApiFilter
from mbed_cloud.foundation import Account, ApiKey, Device, DeviceEvents, DeviceGroup, User
from mbed_cloud.sdk.exceptions import ApiErrorResponse

MISSING_DEVICE = "0000000000000000000000000000dead"
CHECKS = []


def check(name):
    def register(fn):
        CHECKS.append((name, fn))
        return fn

    return register


def run_checks() -> list[str]:
    failures = []
    for name, fn in CHECKS:
        try:
            fn()
        except AssertionError as exc:
            failures.append(f"{name}: {exc}")
        except Exception as exc:  # anything the SDK raises is a mismatch to report
            failures.append(f"{name}: {type(exc).__name__}: {exc}")
            traceback.print_exc(file=sys.stderr)
        else:
            print(f"ok   {name}")
    return failures


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


@check("devices: filtered list, several pages")
def devices_filtered():
    api_filter = ApiFilter()
    api_filter.add_filter("state", "in", ["registered", "deregistered"])
    devices = list(Device().list(filter=api_filter, page_size=7, max_results=40, order="DESC"))
    expect(len(devices) == 40, f"expected 40 devices, got {len(devices)}")
    states = {d.state for d in devices}
    expect(states <= {"registered", "deregistered"}, f"filter ignored: {states}")
    ids = [d.id for d in devices]
    expect(len(set(ids)) == len(ids), "a device came back twice across pages")
    expect(ids == sorted(ids, reverse=True), "DESC order not respected")


@check("devices: count and full walk agree")
def devices_count():
    # include="total_count" must be passed explicitly: the foundation paginator builds its count
    # query as {"include": "total_count", **list_kwargs, "limit": 2}, so the list's own
    # include=None overrides it and a plain Device().list().count() sends no include at all
    # (SDK 2.2.0, mbed_cloud/pagination.py _get_total_count).
    counted = Device().list(include="total_count").count()
    walked = sum(1 for _ in Device().list(page_size=1000))
    expect(counted == walked, f"count() {counted} != items walked {walked}")
    api_filter = ApiFilter()
    api_filter.add_filter("state", "eq", "registered")
    registered = Device().list(filter=api_filter, include="total_count")
    expect(registered.count() == len(list(registered)), "filtered count() != filtered walk")
    expected = os.environ.get("DMPORTAL_SDK_EXPECT_DEVICES")
    if expected:
        expect(counted == int(expected), f"count() {counted}, simulator has {expected}")


@check("devices: read one, 404 for a missing one")
def device_read():
    first = Device().list(page_size=2).first()
    expect(first is not None, "no device listed")
    again = Device(id=first.id).read()
    expect(again.id == first.id and again.name == first.name, "read() differs from list()")
    expect(again.created_at is not None, "created_at not parsed")
    try:
        Device(id=MISSING_DEVICE).read()
    except ApiErrorResponse as exc:
        expect(exc.status_code == 404, f"missing device gave {exc.status_code}")
    else:
        raise AssertionError("reading a missing device did not raise")


@check("device events of one device")
def device_events():
    device = Device().list(page_size=2).first()
    api_filter = ApiFilter()
    api_filter.add_filter("device_id", "eq", device.id)
    events = list(DeviceEvents().list(filter=api_filter, page_size=2))
    expect(events, "no events")
    expect({e.device_id for e in events} == {device.id}, "events of other devices returned")
    expect(all(e.date_time is not None for e in events), "date_time not parsed")


@check("device groups")
def device_groups():
    groups = list(DeviceGroup().list(page_size=5))
    expect(groups, "no device groups")
    expect(all(g.devices_count is not None for g in groups), "devices_count missing")
    one = DeviceGroup(id=groups[0].id).read()
    expect(one.name == groups[0].name, "read() differs from list()")


@check("users")
def users():
    all_users = list(User().list())
    expect(all_users, "no users")
    statuses = {u.status for u in all_users}
    expect("ACTIVE" in statuses, f"statuses: {statuses}")
    api_filter = ApiFilter()
    api_filter.add_filter("status", "eq", "INVITED")
    invited = list(User().list(filter=api_filter))
    expect(invited and all(u.status == "INVITED" for u in invited), "status filter")


@check("API keys")
def api_keys():
    keys = list(ApiKey().list())
    expect(keys, "no API keys")
    me = ApiKey().me()
    expect(me.id in {k.id for k in keys}, "me() is not among the listed keys")
    expect(os.environ["MBED_CLOUD_SDK_API_KEY"].startswith(me.key), "me().key is not a prefix")


@check("account")
def account():
    me = Account().me(include="limits,policies")
    expect(me.id and len(me.id) == 32, f"account id {me.id!r}")
    expect(me.status == "ACTIVE", f"status {me.status!r}")


def main() -> int:
    for name in ("MBED_CLOUD_SDK_HOST", "MBED_CLOUD_SDK_API_KEY", "REQUESTS_CA_BUNDLE"):
        if not os.environ.get(name):
            print(f"sdk_check: {name} is not set", file=sys.stderr)
            return 2
    failures = run_checks()
    if failures:
        for line in failures:
            print(f"FAIL {line}", file=sys.stderr)
        return 1
    print("sdk_check: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
