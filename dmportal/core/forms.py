"""The shared base of every form: a value shaped like an API key is refused before anything
uses it.

A key pasted where a key does not belong (the header search, a list filter, a note, a name)
would otherwise be sent upstream in a query string, kept in the recent-calls log, rendered
back into the page and pushed into the browser's history. `RefusesKeys` checks every field's
raw value before the form is cleaned: a value holding `ak_` and at least 32 letters or digits
(the shape of an API key and of an access key, accounts/services.py) is removed from the
form's data, so it is neither cleaned, nor rendered back, nor echoed by another error, and
the field gets KEY_REFUSED instead. The views then call nothing: the form is invalid.

Fields made to take a secret (a password input: the connection form's key, passwords) are
the only exception; a field may also accept some key-shaped values it handles safely
(`allows_key(value)`: the API-key filter takes a key's public part, which the key table
shows, and looks the key up by its id), and say why it refused the others (`key_message`).
Every form class of dmportal is built on `Form` (or mixes in `RefusesKeys` before Django's own
form class); tests/security/test_pasted_keys.py checks it.
"""

import re
from urllib.parse import quote, urlencode

from django import forms

# Searched anywhere in a value, not matched whole: "Bearer ak_...", "my key: ak_..." too.
KEY_SHAPED = re.compile(r"ak_[A-Za-z0-9]{32,}")
KEY_REFUSED = (
    "This looks like an API key. dmportal never searches for, sends or keeps a key typed "
    "here, so nothing was sent. To use a key, add it on the Connections page."
)


def looks_like_key(value):
    return isinstance(value, str) and KEY_SHAPED.search(value) is not None


class RefusesKeys:
    """A form mixin (before Django's form class): refuse key-shaped values; see above.

    After validation, `key_refused` lists the fields that held one."""

    key_refused = ()

    def full_clean(self):
        self.key_refused = self.fields_holding_keys() if self.is_bound else []
        if self.key_refused:
            data = self.data.copy()
            for name in self.key_refused:
                data.pop(self.add_prefix(name), None)
            self.data = data
        super().full_clean()
        for name in self.key_refused:
            self.cleaned_data.pop(name, None)
            message = getattr(self.fields[name], "key_message", None) or KEY_REFUSED
            self._errors[name] = self.error_class([message])

    def key_refusal(self):
        """The message of the first refused field (for a page that cannot show the field)."""
        return self.errors[self.key_refused[0]][0] if self.key_refused else None

    def fields_holding_keys(self):
        found = []
        for name, field in self.fields.items():
            if isinstance(field.widget, forms.PasswordInput):
                continue  # made for a secret, and never rendered back
            value = field.widget.value_from_datadict(self.data, self.files, self.add_prefix(name))
            values = value if isinstance(value, list | tuple) else [value]
            allows = getattr(field, "allows_key", None)
            if any(looks_like_key(v) and not (allows and allows(v)) for v in values):
                found.append(name)
        return found


class Form(RefusesKeys, forms.Form):
    """The base of every plain form of dmportal."""


def query_without_keys(query, *, safe=",:"):
    """A query string (a QueryDict) as typed, less every value shaped like a key: what a list
    may echo into a link or the address bar after a refused submit."""
    pairs = [
        (name, value)
        for name, values in query.lists()
        for value in values
        if not looks_like_key(value) and not looks_like_key(name)
    ]
    return urlencode(pairs, safe=safe, quote_via=quote)
