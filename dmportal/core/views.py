"""dmportal's own pages: the home redirect, error handlers, CSP reports (health checks: health.py).

`/csp-report/` receives the browser's reports of Content-Security-Policy violations and logs
one line per report.
"""

import json
import logging
import sys

from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import BadRequest
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from dmportal.core.addresses import client_address
from dmportal.core.errors import CsrfRefused, error_response
from dmportal.core.logging import redact
from dmportal.core.ratelimit import window_hit
from dmportal.dmapi.errors import clean_text

log = logging.getLogger("dmportal")


@require_GET
def home(request):
    return redirect("device_list")


@login_not_required
def csrf_failure(request, reason=""):
    log.warning("CSRF check failed: %s", reason)
    return error_response(request, CsrfRefused(reason))


@login_not_required
def page_not_found(request, exception=None):
    return error_response(request, exception or Http404())


@login_not_required
def bad_request(request, exception=None):
    """Django refused the request (too many fields, body too large, foreign host): a 400 page
    or fragment saying so, with the request id."""
    return error_response(request, exception or BadRequest())


@login_not_required
def server_error(request):
    """A bug: the bare 500 page or fragment with the request id (no header, no query: the
    database may be what failed). The database failing outside a view (loading the session or
    the user) is the same 503 as in a view."""
    return error_response(request, sys.exc_info()[1] or RuntimeError())


# -- Content-Security-Policy reports -----------------------------------------------------------

CSP_REPORT_MAX_BYTES = 16 * 1024
CSP_REPORTS_PER_MINUTE = 30  # per client address; more are refused (429) and not logged
CSP_REPORT_TYPES = ("application/csp-report", "application/reports+json", "application/json")
CSP_FIELD_CHARS = 200  # each logged value is cut to this


# Exempt from CSRF because the browser itself sends the report, with no way to add a token (and
# from any page, signed in or not). Nothing is changed or returned: the worst a forged
# cross-site POST can do is add a line to the log, and that is capped in size and rate.
@csrf_exempt
@login_not_required
@require_POST
def csp_report(request):
    """A browser's CSP violation report(s): one WARNING line each, answered 204."""
    content_type = request.content_type
    if content_type not in CSP_REPORT_TYPES:
        return HttpResponse(status=415)
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > CSP_REPORT_MAX_BYTES:
        return HttpResponse(status=413)
    hit = window_hit(f"csp:{client_address(request) or '-'}", 60)
    if hit is not None and hit.count > CSP_REPORTS_PER_MINUTE:
        return HttpResponse(status=429, headers={"Retry-After": str(hit.retry_after)})
    body = request.read(CSP_REPORT_MAX_BYTES + 1)
    if len(body) > CSP_REPORT_MAX_BYTES:
        return HttpResponse(status=413)
    try:
        reports = csp_violations(json.loads(body))
    except (ValueError, TypeError, AttributeError, KeyError, RecursionError):
        return HttpResponse(status=400)  # not JSON, or not shaped like a report
    if not reports:
        return HttpResponse(status=400)
    for directive, blocked, document in reports:
        log.warning(
            "CSP violation: %s blocked %s on %s",
            directive,
            blocked,
            document,
            extra={"event": "csp_violation", "directive": directive, "blocked_uri": blocked},
        )
    return HttpResponse(status=204)


def csp_violations(data):
    """(directive, blocked URI, document URI) of each report in a report-uri body
    (`{"csp-report": {...}}`) or a Reporting API body (`[{"type": "csp-violation", ...}]`),
    each value truncated and redacted. At most 10 per body."""
    if isinstance(data, dict):
        found = [
            (
                data["csp-report"].get("effective-directive")
                or data["csp-report"].get("violated-directive"),
                data["csp-report"].get("blocked-uri"),
                data["csp-report"].get("document-uri"),
            )
        ]
    else:
        found = [
            (
                report["body"].get("effectiveDirective"),
                report["body"].get("blockedURL"),
                report["body"].get("documentURL"),
            )
            for report in data[:10]
            if report.get("type") == "csp-violation"
        ]
    return [tuple(csp_field(value) for value in report) for report in found]


def csp_field(value):
    return clean_text(redact(str(value if value is not None else "-")), CSP_FIELD_CHARS)
