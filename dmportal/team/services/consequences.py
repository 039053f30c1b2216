"""What a confirmation page says will stop working (or work again): the sentences of
core.flows.Confirmation's `consequences`, from what the API says about the key, application or
user (its last use, its groups), so that "Deactivate" is read as "this key, used 2 days ago,
stops working" rather than as a button."""

from django.utils import timezone

from dmportal.core.templatetags.dm import parse_when, relative


def used_words(moment, noun="key"):
    """ "This key was last used 2 days ago" / "This key has never been used"."""
    when = _moment(moment)
    if when is None:
        return f"This {noun} has never been used, as far as the API says"
    return f"This {noun} was last used {relative(when, timezone.now())}"


def _moment(value):
    if isinstance(value, int | float) and not isinstance(value, bool):
        return parse_when(value) if value > 0 else None
    return parse_when(value)


def key_stops(last_used, noun="key"):
    return (
        f"{used_words(last_used, noun)}: whatever uses it (a script, a server, an "
        "integration) is refused from then on."
    )


def key_works_again(groups):
    names = ", ".join(f"“{g}”" for g in groups) if groups else "none"
    return (
        "It can call the API again, with the rights of its policy groups "
        f"({names}): give it back only if it is still needed."
    )


def own_connection(label):
    return f"dmportal's connection “{label}” uses this key: it stops working too."


def application_keys_stop(keys):
    """Of an application's access keys (the API's records): how many stop working."""
    active = [k for k in keys if isinstance(k, dict) and k.get("status") == "ACTIVE"]
    if not active:
        return "It has no active access key."
    last = max((_moment(k.get("last_used_at")) for k in active), default=None, key=_key)
    count = len(active)
    keys_words = f"{count} active access key{'s' if count != 1 else ''}"
    if last is None:
        return f"Its {keys_words} stop working; none has been used yet."
    return (
        f"Its {keys_words} stop working; the last one used was used "
        f"{relative(last, timezone.now())}."
    )


def _key(moment):
    return moment.timestamp() if moment is not None else float("-inf")


def group_rights_lost(who, group_name):
    """Removing `who` (a user, a key, an application) from a policy group."""
    return (
        f"{who} loses the rights of the policy group “{group_name}” at once (what it may still "
        "do comes from its other groups)."
    )


def login_words(last_login):
    when = _moment(last_login)
    if when is None:
        return "They have never signed in."
    return f"They last signed in {relative(when, timezone.now())}."
