from django import template

register = template.Library()


@register.filter
def any_active(jobs):
    """Whether one of these jobs is queued or running (the Jobs list polls while one is)."""
    return any(job.active for job in jobs)
