import logging

from django.utils import timezone

from .services import call_log_save

log = logging.getLogger("dmportal.support")


class ApiCallLogMiddleware:
    """Keeps the request's API calls in the user's recent-calls log, once per request.

    Sits right after ConnectionUsageMiddleware in MIDDLEWARE, outside ApiErrorMiddleware, so
    it also sees the calls of requests that ended on an error page: those are the ones people
    come back to look for.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started_at = timezone.now()
        response = self.get_response(request)
        try:
            call_log_save(request, started_at)
        except Exception:
            # The log is a convenience: never turn a served page into a failure because of it.
            log.exception("The API calls of this request could not be logged")
        return response
