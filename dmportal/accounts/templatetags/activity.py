from django import template

from ..activity import action_words

register = template.Library()


@register.filter
def action_in_words(entry):
    return action_words(entry.action, entry.result)
