"""Deterministic demo data: one account, its devices, groups, users, keys and applications.

Everything derives from (seed, device count, ``now``); the same inputs give byte-identical data.
Creation times are drawn first and sorted, then IDs are assigned in that order, so IDs increase
with creation time as in the real service. Every object carries ``sim_revision``, a field the
dashboard does not know, so that tolerance of unknown fields is always exercised; a few strings
are hostile on purpose (the dashboard must escape upstream data).

No timestamp lies after ``now`` except what is a future date by nature (expirations). Cases the
next features need are guaranteed, whatever the draws, by small post-processing steps that use
no draws of the main random stream (so the rest of the data stays as it was):

* devices (fleets of 12 or more): at least one connector certificate expired, one expiring
  within 7 days, one within 8-30 and one within 31-90 days; an operator-suspended device per
  block category, two devices blocked by the system, one of them also by an operator; devices
  whose custom attribute ``site`` is ``"7"``; see ``_fleet_cases``;
* the access review: invitations pending 3, 10 and 21 days and one expired (45 days, valid
  30), an active administrator without two-factor authentication (the second user), an
  inactive user owning an active key, keys never used and unused for 90 days or more, an
  application with two active access keys for 30 days and one whose second key is 3 days old;
* device queries (saved views), block categories and the metric series.

``docs/simulator.md`` lists which seeded names exercise which case.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from dataclasses import dataclass
from urllib.parse import quote

from . import ids
from .events import DeviceFacts, EventLog
from .ids import DAY_MS, iso_date, iso_s, iso_us, make_id
from .keys import new_secret, public_part
from .metrics import MetricSeries
from .store import Store, bulk_build

HOSTILE_NAME = "<img src=x onerror=alert(1)>"
HOSTILE_DESCRIPTION = '"><script>alert(1)</script>'

LOCATIONS = (
    "Boiler room", "Warehouse", "Loading dock", "Cold store", "Roof", "Lab", "Server room",
    "Car park", "Reception", "Kitchen", "Pump house", "Greenhouse", "Workshop", "Clean room",
)  # fmt: skip
DEVICE_KINDS = (
    "sensor", "thermostat", "energy meter", "camera", "valve controller", "smoke detector",
    "door lock", "light switch", "air quality monitor", "water meter", "vibration sensor",
)  # fmt: skip
ENDPOINT_TYPES = ("", "", "", "Sensor", "Light", "Meter")
VENDORS = (
    "42fa9c9e-8ac0-4b3e-9a8c-1d6b1f4d2e10",
    "9b6f0d3a-0c52-4ef4-8d6f-7c2a3b5e9f01",
    "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f",
)
STATES = (
    ("registered", 55), ("deregistered", 15), ("bootstrapped", 14),
    ("unenrolled", 11), ("cloud_enrolling", 5),
)  # fmt: skip
OPERATOR_CATEGORIES = (
    ("maintenance", "Suspended for maintenance."),
    ("lost_or_stolen", "Reported lost on site; blocked until recovered."),
    ("suspicious_activity", "Unusual traffic pattern; blocked pending review."),
)
# The operator-choosable block categories (GET /v3/device-block-categories/).
BLOCK_CATEGORIES = (
    ("maintenance", "Suspended for maintenance."),
    ("lost_or_stolen", "The device was reported lost or stolen."),
    ("suspicious_activity", "The device showed suspicious activity."),
)
SYSTEM_BLOCK = (
    "certificate_blocklisted",
    "A certificate in the device's certificate chain was blacklisted by the system.",
)
FIRST_NAMES = (
    "Ada", "Grace", "Alan", "Linus", "Margaret", "Dennis", "Barbara", "Ken", "Frances", "Edsger",
    "Radia", "Tim", "Katherine", "Donald", "Hedy", "John", "Sophie", "Niklaus", "Joan", "Vint",
)  # fmt: skip
LAST_NAMES = (
    "Lovelace", "Hopper", "Turing", "Torvalds", "Hamilton", "Ritchie", "Liskov", "Thompson",
    "Allen", "Dijkstra", "Perlman", "Berners-Lee", "Johnson", "Knuth", "Lamarr", "McCarthy",
    "Wilson", "Wirth", "Clarke", "Cerf",
)  # fmt: skip
USER_AGENTS = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/605.1.15 Version/17.2 Safari",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
)
DOC_NETS = ("192.0.2", "198.51.100", "203.0.113")
POLICY_GROUPS = (
    "Administrators", "Developers", "Operators", "Support desk", "Firmware release", "Auditors",
)  # fmt: skip
INVITATION_AGES_DAYS = (3, 10, 21, 45)
USER_STATUSES = (
    ["ACTIVE"] * 22 + ["INVITED"] * 4 + ["ENROLLING"] * 3 + ["RESET"] * 2 + ["INACTIVE"] * 3
)


# IAM history (when the account, users, keys and applications were created) is anchored on a
# fixed date rather than on ``now``, so the seeded keys, whose text embeds the account and key
# IDs, stay the same from one day to the next. Activity (last login, last use) follows ``now``.
IAM_ANCHOR_MS = 1_735_689_600_000  # 2025-01-01T00:00:00Z


@dataclass(frozen=True)
class SeedKeys:
    admin: str
    developer: str


class _Clock:
    """Sorted creation times within [start, end], consumed in order."""

    def __init__(self, rng: random.Random, count: int, start: int, end: int):
        span = end - start
        self._times = sorted(start + int(rng.random() * span) for _ in range(count))
        self._i = 0

    def next(self) -> int:
        t = self._times[self._i]
        self._i += 1
        return t


def _pick(rng: random.Random, n: int) -> int:
    # random.randrange is slow pure Python; this is uniform enough for demo data.
    return int(rng.random() * n)


def _hex(rng: random.Random, n: int) -> str:
    return f"{rng.getrandbits(n * 4):0{n}x}"


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _weighted(rng: random.Random, table) -> str:
    pick = rng.random() * sum(w for _, w in table)
    for value, weight in table:
        pick -= weight
        if pick <= 0:
            return value
    return table[-1][0]


def _between(rng: random.Random, low: int, high: int) -> int:
    return low + int(rng.random() * (high - low + 1))


def build(devices: int, seed: int, now_ms: int) -> tuple[Store, SeedKeys]:
    with bulk_build():
        return _build(devices, seed, now_ms)


def _build(devices: int, seed: int, now_ms: int) -> tuple[Store, SeedKeys]:
    rng = random.Random(seed)
    store = Store()
    two_years = 730 * DAY_MS
    history_ms = min(now_ms, IAM_ANCHOR_MS)
    account_ms = history_ms - 1100 * DAY_MS
    account_id = make_id(account_ms, ids.KIND_ACCOUNT, 1)
    store.account = _account(account_id, account_ms, now_ms)

    groups = _policy_groups(store, rng, account_id, account_ms)
    users = _users(store, rng, account_id, now_ms, history_ms, groups)
    keys = _api_keys(store, rng, account_id, now_ms, history_ms, groups, users)
    _applications(store, rng, account_id, now_ms, history_ms, groups, seed)
    _invitations(store, rng, account_id, now_ms, users)
    device_groups = _device_group_shells(rng, account_id, now_ms, two_years, devices)
    facts = _devices(store, rng, account_id, now_ms, two_years, devices, device_groups)
    store.device_groups.load(device_groups)
    store.sequences[ids.KIND_DEVICE] = devices
    store.sequences[ids.KIND_DEVICE_GROUP] = len(device_groups)
    queries = _device_queries(now_ms, devices)
    store.device_queries.load(queries)
    store.sequences[ids.KIND_DEVICE_QUERY] = len(queries)
    store.block_categories = _block_categories()
    _refresh_policy_counts(store)
    store.events = EventLog(seed, now_ms, facts)
    store.metrics = MetricSeries(seed, devices, now_ms)
    return store, keys


# --- account --------------------------------------------------------------------------------------
def _account(account_id: str, created_ms: int, now_ms: int) -> dict:
    return {
        "object": "account",
        "id": account_id,
        "display_name": "Acme Facilities",
        "company": "Acme Facilities Ltd",
        "contact": "J. Doe",
        "email": "iot-admin@example.com",
        "phone_number": "+44 (1223) 400 400",
        "address_line1": "110 Fulbourn Rd",
        "address_line2": "",
        "city": "Cambridge",
        "state": "",
        "postal_code": "CB1 9NJ",
        "country": "United Kingdom",
        "status": "ACTIVE",
        "tier": "1",
        "end_market": "IT",
        "etag": "1",
        "mfa_status": "optional",
        "idle_timeout": 30,
        "password_policy": {"minimum_length": 12},
        "password_recovery_expiration": 15,
        "expiration_warning_threshold": 30,
        "expiration": None,
        "aliases": ["acme-facilities"],
        "custom_fields": {},
        "notification_emails": ["iot-alerts@example.com"],
        "business_model": "active_device_business_model",
        "business_model_history": [
            {"business_model": "active_device_business_model", "updated_at": iso_s(created_ms)}
        ],
        "tier_history": [{"tier": "1", "updatedAt": iso_s(created_ms + 14 * DAY_MS)}],
        "limitations": [
            {
                "object": "limitation",
                "id": make_id(created_ms, ids.KIND_ACCOUNT, 2),
                "name": "iam_limit_user_count",
                "description": "Maximum number of users.",
                "limit": 100,
                "quota": 0,
                "billing_period": 0,
                "inherited": True,
                "inherited_from": "",
                "inherited_type": "tier_template",
                "created_at": iso_s(created_ms),
                "updated_at": iso_s(created_ms),
                "etag": "1",
            }
        ],
        "created_at": iso_s(created_ms),
        "updated_at": iso_s(now_ms - 40 * DAY_MS),
        "upgraded_at": iso_s(created_ms + 14 * DAY_MS),
        "sim_revision": 1,
    }


LIMITS = {"iam_limit_user_count": "100", "iam_limit_api_key_count": "50", "device_count": "-1"}
POLICIES = [
    {"action": "", "allow": True, "feature": "device-management", "resource": "",
     "inherited": True, "inherited_type": "tier_template"},
    {"action": "", "allow": True, "feature": "update-campaigns", "resource": "",
     "inherited": True, "inherited_type": "tier_template"},
    {"action": "", "allow": False, "feature": "sub-tenants", "resource": "",
     "inherited": True, "inherited_type": "tier_template"},
]  # fmt: skip


# --- IAM ------------------------------------------------------------------------------------------
def _policy_groups(store: Store, rng, account_id: str, account_ms: int) -> list[str]:
    clock = _Clock(rng, len(POLICY_GROUPS), account_ms, account_ms + 30 * DAY_MS)
    objs = []
    for name in POLICY_GROUPS:
        ms = clock.next()
        objs.append(
            {
                "object": "group",
                "id": make_id(ms, ids.KIND_POLICY_GROUP, store.next_seq(ids.KIND_POLICY_GROUP)),
                "account_id": account_id,
                "name": name,
                "user_count": 0,
                "apikey_count": 0,
                "application_count": 0,
                "created_at": iso_s(ms),
                "updated_at": iso_s(ms),
                "etag": "1",
                "sim_revision": 1,
            }
        )
    store.policy_groups.load(objs)
    store.admin_group_id, store.developer_group_id = objs[0]["id"], objs[1]["id"]
    return [o["id"] for o in objs]


def _login_history(rng, last_ms: int) -> list[dict]:
    out, ms = [], last_ms
    for _ in range(rng.randint(1, 5)):
        out.append(
            {
                "date": iso_s(ms),
                # documentation address ranges (RFC 5737)
                "ip_address": f"{rng.choice(DOC_NETS)}.{rng.randint(1, 254)}",
                "success": rng.random() > 0.15,
                "user_agent": rng.choice(USER_AGENTS),
            }
        )
        ms -= rng.randint(1, 20) * DAY_MS // 4
    out[0]["success"] = True
    return out


def _users(store: Store, rng, account_id, now_ms, history_ms, groups) -> list[dict]:  # noqa: C901 - seed data, draws in a fixed order
    admin_g, dev_g, *others = groups
    statuses = list(USER_STATUSES)
    count = len(statuses)
    rng.shuffle(statuses)
    # Invited and enrolling users are recent (their invitations are still mostly pending);
    # everyone else joined during the account's history.
    created = []
    for status in statuses:
        if status in ("INVITED", "ENROLLING"):
            created.append(now_ms - _between(rng, DAY_MS, 40 * DAY_MS))
        else:
            created.append(_between(rng, history_ms - 900 * DAY_MS, history_ms - 2 * DAY_MS))
    # Invitations for the access review: pending 3 days, 10 and 21 days (over a week), and one
    # expired (45 days; invitations are valid 30). Set after the draws, which stay as they were.
    ages = iter(INVITATION_AGES_DAYS)
    for k, status in enumerate(statuses):
        if status == "INVITED":
            created[k] = now_ms - next(ages, 5) * DAY_MS - (k + 1) * 3_600_000
    timeline = sorted(zip(created, statuses, strict=True), key=lambda pair: pair[0])
    objs = []
    for i in range(count):
        ms, status = timeline[i]
        if i in (0, 3):
            status = "ACTIVE"  # the owners of the seeded admin and developer keys
        first, last = FIRST_NAMES[i % len(FIRST_NAMES)], LAST_NAMES[(i * 7) % len(LAST_NAMES)]
        full_name = f"{first} {last}"
        if i == 9:
            full_name = "{{7*7}} \u202eresU detsoH"  # template injection + bidi override
        if i < 3:
            member = [admin_g]
        elif i < 20:
            member = [dev_g] + ([rng.choice(others)] if rng.random() < 0.4 else [])
        else:
            member = [rng.choice(others)] if rng.random() < 0.7 else []
        logged_in = status in ("ACTIVE", "RESET", "INACTIVE")
        last_login = now_ms - rng.randint(1, 120 * DAY_MS // 1000) * 1000 if logged_in else 0
        if status == "INACTIVE":
            last_login = now_ms - rng.randint(200, 400) * DAY_MS
        if logged_in:
            last_login = max(last_login, ms + 3600_000)  # never before the user existed
        user = {
            "object": "user",
            "id": make_id(ms, ids.KIND_USER, store.next_seq(ids.KIND_USER)),
            "account_id": account_id,
            "email": f"{first}.{last}{i}@example.com".lower().replace(" ", ""),
            "full_name": full_name,
            "username": f"{first.lower()}{i}",
            "phone_number": f"+44 20 7946 {rng.randint(0, 9999):04d}",
            "address": None,
            "status": status,
            "email_verified": status != "INVITED",
            "is_gtc_accepted": status not in ("INVITED", "ENROLLING"),
            "is_marketing_accepted": rng.random() < 0.3,
            "is_totp_enabled": rng.random() < 0.5 if logged_in else False,
            "groups": member,
            "login_profiles": [
                {"id": "native", "name": "Native login", "type": "NATIVE", "foreign_id": ""}
            ],
            "custom_fields": {},
            "created_at": iso_s(ms),
            "creation_time": ms,
            "updated_at": iso_s(max(ms, last_login)),
            "password_changed_time": ms + DAY_MS if logged_in else 0,
            "last_login_time": last_login,
            "login_history": _login_history(rng, last_login) if logged_in else [],
            "active_sessions": [],
            "etag": "1",
            "sim_revision": 1,
        }
        if status == "ACTIVE" and rng.random() < 0.4:
            user["active_sessions"] = [
                {
                    "object": "user-session",
                    "account_id": account_id,
                    "ip_address": user["login_history"][0]["ip_address"],
                    "login_time": iso_s(last_login),
                    "created_at": iso_s(last_login),
                    "reference_token": f"rt_{_hex(rng, 24)}",
                    "user_agent": user["login_history"][0]["user_agent"],
                }
            ]
        objs.append(user)
    objs[0]["is_totp_enabled"] = True  # the demo administrator; the second one has none
    _admin_without_two_factor(objs[1], now_ms)
    store.users.load(objs)
    return objs


def _admin_without_two_factor(user: dict, now_ms: int) -> None:
    """The second administrator: active, signed in three days ago, no two-factor."""
    user["is_totp_enabled"] = False
    if user["status"] != "ACTIVE":
        last_login = now_ms - 3 * DAY_MS
        user.update(status="ACTIVE", last_login_time=last_login, updated_at=iso_s(last_login))
        if user["login_history"]:
            user["login_history"][0].update(date=iso_s(last_login), success=True)


def _new_key_pair(store: Store, rng, account_id: str, key_id: str, kind: str) -> str:
    full = public_part(account_id, key_id) + new_secret(rng)
    store.secrets[full] = (kind, key_id)
    return full


def _api_keys(store: Store, rng, account_id, now_ms, history_ms, groups, users) -> SeedKeys:
    admin_g, dev_g, *others = groups
    inactive_user = next(u for u in users if u["status"] == "INACTIVE")
    day = DAY_MS
    # (name, status, groups, owner, last use: ms before now, or None = never used)
    specs = [
        ("Portal administrator", "ACTIVE", [admin_g], users[0]["id"], 1 * day),
        ("Developer sandbox", "ACTIVE", [dev_g], users[3]["id"], 2 * day),
        ("CI pipeline", "ACTIVE", [dev_g], users[4]["id"], 3 * 3600_000),
        ("Grafana exporter", "ACTIVE", [others[0]], None, 140 * day),
        ("Old integration", "INACTIVE", [dev_g], users[5]["id"], 400 * day),
        ("Never used key", "ACTIVE", [dev_g], users[6]["id"], None),
        ("Former employee key", "ACTIVE", [dev_g], inactive_user["id"], 95 * day),
        ("Factory line 2", "ACTIVE", [others[0]], None, 6 * day),
        ("Support desk lookups", "ACTIVE", [others[1]], users[7]["id"], 12 * day),
        ("Nightly report", "ACTIVE", [dev_g], None, 1 * day),
        (f"Demo {HOSTILE_NAME}", "INACTIVE", [], users[8]["id"], None),
        ("Auditors read-only", "ACTIVE", [others[3]], None, 33 * day),
    ]
    clock = _Clock(rng, len(specs), history_ms - 700 * day, history_ms - 10 * day)
    objs, full_keys = [], []
    for name, status, member, owner, unused_for in specs:
        ms = clock.next()
        key_id = make_id(ms, ids.KIND_API_KEY, store.next_seq(ids.KIND_API_KEY))
        full_keys.append(_new_key_pair(store, rng, account_id, key_id, "api-key"))
        last = 0 if unused_for is None else max(ms, now_ms - unused_for)
        obj = {
            "object": "api-key",
            "id": key_id,
            "account_id": account_id,
            "name": name,
            "key": public_part(account_id, key_id),
            "status": status,
            "groups": member,
            "created_at": iso_s(ms),
            "creation_time": ms,
            "updated_at": iso_s(ms),
            "last_login_time": last,
            "etag": "1",
            "sim_revision": 1,
        }
        if owner:
            obj["owner"] = owner
        objs.append(obj)
    store.api_keys.load(objs)
    return SeedKeys(admin=full_keys[0], developer=full_keys[1])


def _applications(store: Store, rng, account_id, now_ms, history_ms, groups, seed) -> None:
    admin_g, dev_g, ops_g, *_ = groups
    day = DAY_MS
    specs = [
        ("Fleet dashboard", "Internal dashboard for the facilities team.", "ACTIVE", [dev_g]),
        ("Factory provisioning", "Provisioning station on line 2.", "ACTIVE", [ops_g]),
        ("Legacy exporter", "Replaced by the data lake sync.", "INACTIVE", [dev_g]),
        ("Data lake sync", HOSTILE_DESCRIPTION, "ACTIVE", [dev_g, ops_g]),
        ("Ops automation", "Runbooks with administrator rights.", "ACTIVE", [admin_g]),
    ]
    clock = _Clock(rng, len(specs), history_ms - 500 * day, history_ms - 20 * day)
    apps, keys = [], []
    for name, description, status, member in specs:
        ms = clock.next()
        app_id = make_id(ms, ids.KIND_APPLICATION, store.next_seq(ids.KIND_APPLICATION))
        last_used = now_ms - rng.randint(1, 30) * day if status == "ACTIVE" else None
        app = {
            "object": "application",
            "id": app_id,
            "account_id": account_id,
            "name": name,
            "description": description,
            "status": status,
            "groups": member,
            "created_at": iso_s(ms),
            "updated_at": iso_s(ms),
            "etag": "1",
            "sim_revision": 1,
        }
        if last_used:
            app["last_used_at"] = iso_s(last_used)
        apps.append(app)
        for j, key_status in enumerate(("ACTIVE", "INACTIVE", "EXPIRED")[: 1 + len(apps) % 3]):
            kms = ms + (j + 1) * day
            key_id = make_id(kms, ids.KIND_ACCESS_KEY, store.next_seq(ids.KIND_ACCESS_KEY))
            _new_key_pair(store, rng, account_id, key_id, "access-key")
            key = {
                "object": "access-key",
                "id": key_id,
                "account_id": account_id,
                "application_id": app_id,
                "name": f"{name} key {j + 1}",
                "description": "",
                "key": public_part(account_id, key_id),
                "status": key_status,
                "created_at": iso_s(kms),
                "updated_at": iso_s(kms),
                "etag": "1",
                "sim_revision": 1,
            }
            if key_status == "EXPIRED":
                key["expiration"] = iso_s(now_ms - 10 * day)
            elif j == 0 and rng.random() < 0.5:
                key["expiration"] = iso_s(now_ms + rng.randint(5, 200) * day)
            if key_status == "ACTIVE" and last_used:
                key["last_used_at"] = iso_s(last_used)
            keys.append(key)
    keys.extend(_access_review_keys(store, seed, account_id, now_ms, apps, keys))
    store.applications.load(apps)
    keys.sort(key=lambda k: k["id"])
    store.access_keys.load(keys)


def _access_review_keys(store: Store, seed, account_id, now_ms, apps, keys) -> list[dict]:
    """Access keys for the access review, with a random stream of their own.

    "Factory provisioning" gets a second active key 30 days old (a rotation left half done:
    two active keys for more than 14 days); "Data lake sync" a second active key 3 days old and
    never used (a rotation under way, and a key never used); "Ops automation" (administrator
    rights) has not used its only active key for 120 days."""
    extra_rng = random.Random(seed * 1_000_003 + 0xACCE55)
    by_name = {a["name"]: a for a in apps}
    day = DAY_MS
    out = []
    for app_name, age_days, used_ago in (
        ("Factory provisioning", 30, 2 * 3600_000),
        ("Data lake sync", 3, None),
    ):
        app = by_name[app_name]
        kms = now_ms - age_days * day
        key_id = make_id(kms, ids.KIND_ACCESS_KEY, store.next_seq(ids.KIND_ACCESS_KEY))
        _new_key_pair(store, extra_rng, account_id, key_id, "access-key")
        key = {
            "object": "access-key",
            "id": key_id,
            "account_id": account_id,
            "application_id": app["id"],
            "name": f"{app_name} key (rotation)",
            "description": "Replacement key; the old one is still active.",
            "key": public_part(account_id, key_id),
            "status": "ACTIVE",
            "created_at": iso_s(kms),
            "updated_at": iso_s(kms),
            "etag": "1",
            "sim_revision": 1,
        }
        if used_ago is not None:
            key["last_used_at"] = app["last_used_at"] = iso_s(now_ms - used_ago)
        out.append(key)
    ops = by_name["Ops automation"]
    idle = iso_s(now_ms - 120 * day)
    ops["last_used_at"] = idle
    for key in keys:
        if key["application_id"] == ops["id"] and key["status"] == "ACTIVE":
            key["last_used_at"] = idle
    return out


def _invitations(store: Store, rng, account_id, now_ms, users) -> None:
    objs = []
    for user in users:
        if user["status"] != "INVITED":
            continue
        ms = user["creation_time"]
        valid_days = 30
        objs.append(
            {
                "object": "user-invitation",
                "id": make_id(ms, ids.KIND_INVITATION, store.next_seq(ids.KIND_INVITATION)),
                "account_id": account_id,
                "email": user["email"],
                "user_id": user["id"],
                "groups": list(user["groups"]),
                "login_profiles": user["login_profiles"],
                "created_at": iso_s(ms),
                "updated_at": iso_s(ms),
                "expiration": iso_s(ms + valid_days * DAY_MS),
                "etag": "1",
                "sim_revision": 1,
            }
        )
    store.invitations.load(objs)


def _refresh_policy_counts(store: Store) -> None:
    for gid in list(store.policy_groups.ids):
        group = dict(store.policy_groups.objs[gid])
        group["user_count"] = len(store.users.members("groups", gid))
        group["apikey_count"] = len(store.api_keys.members("groups", gid))
        group["application_count"] = len(store.applications.members("groups", gid))
        store.policy_groups.objs[gid] = group


# --- device directory -----------------------------------------------------------------------------
GROUP_NAMES = (
    "Building A", "Building B", "Cold chain", "HVAC", "Security", "Energy monitoring",
    "Pilot site Leeds", "Firmware canary", "Decommissioning", "Water", "Lighting", "Access control",
)  # fmt: skip


def _device_group_shells(rng, account_id, now_ms, two_years, devices) -> list[dict]:
    count = max(6, min(60, devices // 100))
    clock = _Clock(rng, count, now_ms - two_years, now_ms - DAY_MS)
    out = []
    for i in range(count):
        ms = clock.next()
        base = GROUP_NAMES[i % len(GROUP_NAMES)]
        name = base if i < len(GROUP_NAMES) else f"{base} {i // len(GROUP_NAMES) + 1}"
        out.append(
            {
                "object": "device-group",
                "id": make_id(ms, ids.KIND_DEVICE_GROUP, i + 1),
                "name": name,
                "description": HOSTILE_DESCRIPTION if i == 4 else f"Devices in {name.lower()}.",
                "custom_attributes": {"owner": "facilities"} if i % 3 == 0 else {},
                "devices_count": 0,
                "created_at": iso_us(ms),
                "updated_at": iso_us(ms),
                "etag": iso_us(ms),
                "sim_revision": 1,
            }
        )
    return out


# Seed data: each branch draws one field of a device from the seeded random stream, in an order
# that must not change (moving one draw changes every seeded fleet), so it stays one function.
def _devices(store, rng, account_id, now_ms, two_years, count, device_groups) -> list[DeviceFacts]:  # noqa: C901 - seed data: one draw a field, order fixed
    clock = _Clock(rng, count, now_ms - two_years, now_ms - 3600_000)
    ca_ids = [_hex(rng, 32) for _ in range(3)]
    classes = [_hex(rng, 32) for _ in range(6)]
    firmware = [hashlib.sha256(f"fw-{seed_v}".encode()).hexdigest() for seed_v in range(8)]
    gateways: list[str] = []
    group_ids = [g["id"] for g in device_groups]
    members: dict[str, int] = dict.fromkeys(group_ids, 0)
    objs: list[dict] = []
    created: list[int] = []
    suspended: list[int | None] = []
    for i in range(count):
        ms = clock.next()
        device_id = make_id(ms, ids.KIND_DEVICE, i + 1)
        state = _weighted(rng, STATES)
        r = rng.random()
        is_gateway = i < count // 5 and r < 0.1
        production = r < 0.7
        serial = f"ACME-{2022 + i % 3}-{i + 1:07d}"
        location = LOCATIONS[_pick(rng, len(LOCATIONS))]
        if is_gateway:
            name = f"{location} gateway {i + 1}"
        else:
            name = f"{location} {DEVICE_KINDS[_pick(rng, len(DEVICE_KINDS))]} {i + 1}"
        if i == 6:
            name = HOSTILE_NAME
        host = ""
        if gateways and not is_gateway and rng.random() < 0.15:
            host = gateways[_pick(rng, len(gateways))]
        updated = ms + _between(rng, 0, max(1, now_ms - ms))
        created_s, updated_s = iso_us(ms), iso_us(updated)
        enrolled = state != "unenrolled"
        bootstrapped = ms + _between(rng, 60_000, 5 * DAY_MS) if enrolled else None
        if bootstrapped is not None:
            bootstrapped = min(bootstrapped, now_ms - 60_000)  # never after now
        exp_roll = rng.random()
        if not enrolled:
            bootstrap_exp = connector_exp = None
        else:
            # Expired, within 7 days, 8-30, 31-90, later (one draw whatever the branch).
            if exp_roll < 0.04:
                exp_ms = now_ms - _between(rng, 1, 200) * DAY_MS
            elif exp_roll < 0.07:
                exp_ms = now_ms + _between(rng, 0, 7) * DAY_MS
            elif exp_roll < 0.12:
                exp_ms = now_ms + _between(rng, 8, 30) * DAY_MS
            elif exp_roll < 0.17:
                exp_ms = now_ms + _between(rng, 31, 90) * DAY_MS
            else:
                exp_ms = now_ms + _between(rng, 91, 3 * 365) * DAY_MS
            connector_exp = iso_date(exp_ms)
            bootstrap_exp = iso_date(exp_ms + 365 * DAY_MS)
        custom = {}
        for key in ("site", "floor", "owner", "asset_tag", "room")[: _between(rng, 0, 5)]:
            custom[key] = {
                "site": rng.choice(("Cambridge", "Leeds", "Glasgow")),
                "floor": str(_between(rng, 0, 9)),
                "owner": rng.choice(("facilities", "security", "energy")),
                "asset_tag": f"AT-{_between(rng, 10000, 99999)}",
                "room": rng.choice(("101", "B12", "Plant")),
            }[key]
        device = {
            "object": "device",
            "id": device_id,
            "account_id": account_id,
            "name": name,
            "description": HOSTILE_DESCRIPTION if i == 11 else "",
            "endpoint_name": _uuid(rng),
            "serial_number": serial,
            "vendor_id": VENDORS[i % len(VENDORS)],
            "device_class": classes[_pick(rng, len(classes))],
            "endpoint_type": "MBED_GW" if is_gateway else ENDPOINT_TYPES[i % len(ENDPOINT_TYPES)],
            "host_gateway": host,
            "state": state,
            "lifecycle_status": "enabled",
            "operator_suspended": False,
            "system_suspended": False,
            "deployed_state": "production" if production else "development",
            "device_execution_mode": (5 if production else 1) if r > 0.02 else 0,
            "mechanism": "direct" if r > 0.95 else "connector",
            "mechanism_url": "",
            "deployment": "",
            "auto_update": False,
            "ca_id": ca_ids[i % len(ca_ids)],
            "device_key": rng.randbytes(32).hex(":").upper(),
            "issuer_fingerprint": _hex(rng, 64).upper() if enrolled else None,
            "firmware_checksum": firmware[_pick(rng, len(firmware))],
            "manifest": "",
            "manifest_timestamp": updated_s,
            "bootstrap_expiration_date": bootstrap_exp,
            "connector_expiration_date": connector_exp,
            "bootstrapped_timestamp": iso_us(bootstrapped) if bootstrapped else None,
            "enrolment_list_timestamp": created_s,
            "custom_attributes": custom,
            "component_attributes": {"mbed-os": "6.2.0", "pelion-client": "4.7.0"},
            "net_id": "",
            "groups": [],
            "created_at": created_s,
            "updated_at": updated_s,
            "etag": updated_s,
            "sim_revision": 1,
        }
        if device["bootstrapped_timestamp"] is None:
            del device["bootstrapped_timestamp"]  # date-time, not nullable in the spec
        suspended_ms = None
        block = rng.random()
        if block < 0.05:
            category, why = OPERATOR_CATEGORIES[_pick(rng, len(OPERATOR_CATEGORIES))]
            suspended_ms = min(now_ms - 1, updated)
            device.update(
                lifecycle_status="blocked",
                operator_suspended=True,
                last_operator_suspended_category=category,
                last_operator_suspended_description=why,
                last_operator_suspended_updated_at=iso_us(suspended_ms),
            )
            if state == "registered":
                device["state"] = state = "deregistered"
        elif block < 0.06:
            device.update(
                lifecycle_status="blocked",
                system_suspended=True,
                last_system_suspended_category=SYSTEM_BLOCK[0],
                last_system_suspended_description=SYSTEM_BLOCK[1],
                last_system_suspended_updated_at=updated_s,
            )
        elif block < 0.09:
            # Suspended once, since returned to service.
            device.update(
                last_operator_suspended_category="maintenance",
                last_operator_suspended_description="Returned to service after maintenance.",
                last_operator_suspended_updated_at=updated_s,
            )
        if group_ids and rng.random() < 0.45:
            picks = {group_ids[_pick(rng, len(group_ids))] for _ in range(_between(rng, 1, 2))}
            device["groups"] = sorted(picks)
            for g in picks:
                members[g] += 1
        if is_gateway:
            gateways.append(device_id)
        objs.append(device)
        created.append(ms)
        suspended.append(suspended_ms)
    _fleet_cases(objs, created, suspended, now_ms)
    facts = [
        DeviceFacts(d["id"], ms, d["state"], when)
        for d, ms, when in zip(objs, created, suspended, strict=True)
    ]
    store.devices.load(objs)
    for group in device_groups:
        group["devices_count"] = members[group["id"]]
    return facts


SITE_SEVEN = "7"


def _fleet_cases(objs: list[dict], created: list[int], suspended: list, now_ms: int) -> None:  # noqa: C901 - one branch per seeded case
    """Make sure every case the dashboard's views, overview and bulk actions need exists.

    Uses no random draws: devices are picked at fixed fractions of the fleet (the first eligible
    one from there on), so the cases are deterministic and the rest of the data is untouched.
    Changes ``objs`` and ``suspended`` (the operator-suspension time of each device) in place."""
    count = len(objs)
    for i, device in enumerate(objs):
        custom = device["custom_attributes"]
        if i % 23 == 7 and "site" in custom:
            custom["site"] = SITE_SEVEN
    if count < 12:
        return
    used: set[int] = set()

    def pick(fraction: float, want, *, reuse: bool = False) -> int | None:
        start = int(count * fraction)
        for step in range(count):
            i = (start + step) % count
            if (reuse or i not in used) and i not in (6, 11) and want(objs[i]):  # 6, 11: hostile
                used.add(i)
                return i
        return None

    def plain(d):
        return d["lifecycle_status"] == "enabled" and d["connector_expiration_date"] is not None

    buckets = (  # (days from now for a new date, lowest and highest day offset of the bucket)
        (-3, None, -1),
        (3, 0, 7),
        (20, 8, 30),
        (60, 31, 90),
    )
    for k, (days, low, high) in enumerate(buckets):

        def inside(d, low=low, high=high):
            date = d["connector_expiration_date"]
            if date is None or date > iso_date(now_ms + high * DAY_MS):
                return False
            return low is None or date >= iso_date(now_ms + low * DAY_MS)

        if not any(inside(d) for d in objs):
            i = pick(0.1 + 0.2 * k, plain)
            if i is not None:
                exp_ms = now_ms + days * DAY_MS
                objs[i]["connector_expiration_date"] = iso_date(exp_ms)
                objs[i]["bootstrap_expiration_date"] = iso_date(exp_ms + 365 * DAY_MS)

    def block(i: int, *, operator: str | None = None, system: bool = False) -> None:
        d = objs[i]
        at = created[i] + (now_ms - created[i]) // 2
        stamp = iso_us(at)
        d["lifecycle_status"] = "blocked"
        if d["updated_at"] < stamp:
            d["updated_at"] = d["etag"] = stamp
        if system:
            d.update(
                system_suspended=True,
                last_system_suspended_category=SYSTEM_BLOCK[0],
                last_system_suspended_description=SYSTEM_BLOCK[1],
                last_system_suspended_updated_at=stamp,
            )
        if operator:
            why = dict(OPERATOR_CATEGORIES)[operator]
            d.update(
                operator_suspended=True,
                last_operator_suspended_category=operator,
                last_operator_suspended_description=why,
                last_operator_suspended_updated_at=stamp,
            )
            suspended[i] = at
            if d["state"] == "registered":
                d["state"] = "deregistered"

    def enabled(d):
        return d["lifecycle_status"] == "enabled" and not d.get("last_operator_suspended_category")

    for k, (category, _why) in enumerate(OPERATOR_CATEGORIES):
        if not any(
            d.get("last_operator_suspended_category") == category and d["operator_suspended"]
            for d in objs
        ):
            i = pick(0.15 + 0.2 * k, enabled)
            if i is not None:
                block(i, operator=category)
    system_only = [
        i for i, d in enumerate(objs) if d["system_suspended"] and not d["operator_suspended"]
    ]
    while len(system_only) < 2:
        i = pick(0.45 + 0.1 * len(system_only), enabled)
        if i is None:
            break
        block(i, system=True)
        system_only.append(i)
    if not any(d["system_suspended"] and d["operator_suspended"] for d in objs):
        i = pick(0.75, enabled)
        if i is not None:
            block(i, system=True, operator="suspicious_activity")
    if not any(
        d["custom_attributes"].get("site") == SITE_SEVEN and d["state"] == "registered"
        for d in objs
    ):
        i = pick(
            0.3,
            lambda d: d["state"] == "registered" and d["lifecycle_status"] == "enabled",
            reuse=True,
        )
        if i is not None:
            objs[i]["custom_attributes"]["site"] = SITE_SEVEN


# --- device queries and block categories ----------------------------------------------------------
def _device_queries(now_ms: int, count: int) -> list[dict]:
    """Saved views, including filters a form may not have, every operator style, and two the
    device list refuses to run (see docs/simulator.md)."""
    soon = iso_date(now_ms + 30 * DAY_MS)
    step = max(1, count // 40)
    serials = ",".join(f"ACME-{2022 + i % 3}-{i + 1:07d}" for i in range(2, count, step)[:40])
    specs = [
        ("Registered devices", "state__eq=registered"),
        ("Registered in site 7", "state__eq=registered&custom_attributes__site__eq=7"),
        (
            "Certificates expiring within 30 days",
            f"connector_expiration_date__lte={soon}&lifecycle_status__eq=enabled",
        ),
        ("Not in service yet", "state__nin=registered,deregistered&lifecycle_status__neq=blocked"),
        ("Bootstrapped production (Portal syntax)", "state=bootstrapped&deployed_state=production"),
        ("Blocked (typo)", "lifecycle_status__eq=suspended"),
        ("Name contains gateway", "name__like=gateway"),
        (HOSTILE_NAME, "name__eq=" + quote(HOSTILE_NAME, safe="")),
    ]
    if serials:
        specs.insert(4, ("Customer order 4711", f"serial_number__in={serials}"))
    out = []
    for k, (name, query) in enumerate(specs):
        created = now_ms - (300 - 30 * k) * DAY_MS - k * 3_600_000
        updated = min(created + (k * 3 % 20) * DAY_MS, now_ms - 3_600_000)
        out.append(
            {
                "object": "device-query",
                "id": make_id(created, ids.KIND_DEVICE_QUERY, k + 1),
                "name": name,
                "query": query,
                "created_at": iso_us(created),
                "updated_at": iso_us(updated),
                "etag": iso_us(updated),
                "sim_revision": 1,
            }
        )
    return out


def _block_categories() -> list[dict]:
    stamp = iso_us(IAM_ANCHOR_MS - 400 * DAY_MS)
    return [
        {
            "object": "device-block-category",
            "reference": reference,
            "description": description,
            "updated_at": stamp,
            "sim_revision": 1,
        }
        for reference, description in BLOCK_CATEGORIES
    ]
