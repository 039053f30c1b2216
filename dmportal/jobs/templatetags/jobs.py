from django import template
from django.utils import timezone

from dmportal.core.templatetags.dm import format_when

register = template.Library()


@register.filter
def any_active(jobs):
    """Whether one of these jobs is queued or running (the Jobs list polls while one is)."""
    return any(job.active for job in jobs)


@register.filter
def ahead(value):
    """A time expected in the future (when a job is removed), like `when` but never marked
    as a clock error for being ahead."""
    return format_when(value, timezone.get_current_timezone(), timezone.now(), past=False)
