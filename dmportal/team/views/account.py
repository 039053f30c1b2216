from django.shortcuts import render
from django.views.decorators.http import require_GET

from dmportal.accounts.services import api_client
from dmportal.core.errors import describe
from dmportal.dmapi import errors as api
from dmportal.dmapi import resources

from ..services.sections import guard
from .common import team_context

TIERS = {"0": "free", "1": "commercial", "2": "partner"}


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
    limits = account.get("limits") if account else None
    limitations = account.get("limitations") if account else None
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
            limits=sorted(limits.items()) if isinstance(limits, dict) else [],
            limitations=[x for x in limitations if isinstance(x, dict)]
            if isinstance(limitations, list)
            else [],
            policies=[p for p in policies if isinstance(p, dict)]
            if isinstance(policies, list)
            else [],
        ),
    )
