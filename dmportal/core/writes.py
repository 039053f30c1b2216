"""The one way write views show an API failure: on the form, keeping what was typed."""

from dmportal.dmapi import errors as api

from .errors import describe


def form_api_error(form, exc, request, field_for=None):
    """Field errors where the API names a form field, otherwise an error box on the form.

    `field_for(api_name)` maps the API's field name to a form field name (default: same name).
    """
    mapped = False
    if isinstance(exc, api.BadRequest | api.Conflict):
        for name, message in exc.fields:
            target = field_for(name) if field_for else name
            if target in form.fields:
                form.add_error(target, message)
                mapped = True
    if not mapped:
        form.api_error = describe(exc, request)
    form.upstream_request_id = exc.request_id
    return form
