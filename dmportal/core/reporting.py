"""Django's error reports (the DEBUG page, mail_admins) never show an API key.

Django already hides settings, request headers and cookies with secret-sounding names, and the
POST fields and local variables a view names as sensitive. A key can still sit in a variable
nobody named: the key form's cleaned data, the headers the API client sends, the frames of
`requests` and urllib3 below it. `RedactingReporterFilter` (DEFAULT_EXCEPTION_REPORTER_FILTER)
shows every local variable and POST value with key-shaped text redacted, with the pattern of
the log lines (`core.logging.redact`), and hides the session cookie; DEBUG or not.
"""

from django.conf import settings
from django.template.defaultfilters import pprint
from django.views.debug import SafeExceptionReporterFilter

from .logging import redact


class Shown:
    """A variable as the report prints it (its repr), already redacted."""

    def __init__(self, text):
        self.text = text

    def __repr__(self):
        return self.text


class RedactingReporterFilter(SafeExceptionReporterFilter):
    def get_traceback_frame_variables(self, request, tb_frame):
        variables = super().get_traceback_frame_variables(request, tb_frame)
        return [(name, Shown(redact(pprint(value)))) for name, value in variables]

    def get_post_parameters(self, request):
        params = super().get_post_parameters(request)
        if not params:
            return params
        params = params.copy()
        for name, values in params.lists():
            params.setlist(name, [redact(v) if isinstance(v, str) else v for v in values])
        return params

    def get_safe_cookies(self, request):
        cookies = super().get_safe_cookies(request)
        if settings.SESSION_COOKIE_NAME in cookies:
            cookies[settings.SESSION_COOKIE_NAME] = self.cleansed_substitute
        return cookies
