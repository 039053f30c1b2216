from django.shortcuts import render
from django.views.decorators.http import require_GET

from dmportal.accounts.services import api_client
from dmportal.core.errors import describe
from dmportal.dmapi import errors as api
from dmportal.dmapi import resources

from ..services.sections import guard
from .common import team_context

TIERS = {"0": "free", "1": "commercial", "2": "partner"}

# The account's limits in words; the API's own name is kept for the hover and a name not
# listed here is read from its words ("iam_limit_group_count" -> "Group count").
LIMIT_NAMES = {
    "iam_limit_user_count": "Users",
    "iam_limit_api_key_count": "API keys",
    "iam_limit_group_count": "Policy groups",
    "iam_limit_application_count": "Applications",
    "iam_limit_access_key_count": "Access keys per application",
    "device_count": "Devices",
}


def limit_label(name):
    if name in LIMIT_NAMES:
        return LIMIT_NAMES[name]
    words = name.removeprefix("iam_limit_").replace("_", " ").strip()
    return (words[:1].upper() + words[1:]) or name


def account_limits(account):
    """One row per limit, from the account's `limits` (name: value) and `limitations` (records
    with a description): the same limit appears once, in words, with the API's name kept."""
    rows = {}
    limits = account.get("limits") if account else None
    if isinstance(limits, dict):
        for name, value in limits.items():
            rows[str(name)] = {"value": value, "description": ""}
    limitations = account.get("limitations") if account else None
    for item in limitations if isinstance(limitations, list) else []:
        if isinstance(item, dict) and item.get("name"):
            row = rows.setdefault(str(item["name"]), {"value": item.get("limit")})
            if row.get("value") in (None, ""):
                row["value"] = item.get("limit")
            row["description"] = item.get("description") or ""
    shown = []
    for name, row in rows.items():
        value = row["value"]
        unlimited = str(value).strip() == "-1"
        shown.append(
            {
                "name": name,
                "label": limit_label(name),
                "value": "unlimited" if unlimited else value,
                "description": row.get("description") or "",
            }
        )
    return sorted(shown, key=lambda row: row["label"].lower())


@require_GET
def team_home(request):
    """The account the active connection reaches, and the way into each team section."""
    client = api_client(request)
    account = error = None
    try:
        with guard(request, "account"):
            account = resources.account_me(client, include="limits,policies")
    except api.PermissionDenied as exc:
        # The hub stays usable: a key that may not read the account may still manage keys.
        error = describe(exc, request)
    policies = account.get("policies") if account else None
    return render(
        request,
        "team/account.html",
        team_context(
            request,
            "account",
            account=account,
            account_error=error,
            tier_name=TIERS.get(str((account or {}).get("tier")), ""),
            limits=account_limits(account),
            policies=[p for p in policies if isinstance(p, dict)]
            if isinstance(policies, list)
            else [],
        ),
    )
