import re

from django import forms

from dmportal.core.forms import Form
from dmportal.core.listing import RowsForm

from .search import MAX_TEXT, QueryError, parse_query

REQUEST_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


class SearchForm(Form):
    q = forms.CharField(
        label="Identifier",
        max_length=MAX_TEXT,
        required=False,
        widget=forms.Textarea(
            attrs={
                "rows": 2,
                "placeholder": "A device ID, endpoint name, serial number, name or vendor ID; "
                "or several, one per line or separated by commas",
                "autocomplete": "off",
                "spellcheck": "false",
                "data-enter-submits": "",
            }
        ),
    )

    def clean_q(self):
        try:
            return parse_query(self.cleaned_data.get("q"))
        except QueryError as exc:
            raise forms.ValidationError(str(exc)) from None


class NoteForm(Form):
    body = forms.CharField(
        label="Add a note",
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Visible to every dmportal user whose connection reaches this account.",
        error_messages={"required": "Write the note first."},
    )


class CallFilterForm(RowsForm):
    STATUS_CHOICES = [("", "All calls"), ("errors", "Errors only")]

    status = forms.ChoiceField(choices=STATUS_CHOICES, required=False, label="Status")
    q = forms.CharField(
        required=False,
        max_length=64,
        label="Request id",
        widget=forms.TextInput(
            attrs={
                "type": "search",
                "placeholder": "upstream or dmportal request id (or its start)",
                "autocomplete": "off",
                "spellcheck": "false",
            }
        ),
    )

    def clean_q(self):
        value = "".join((self.cleaned_data.get("q") or "").split())
        if value and not REQUEST_ID.fullmatch(value):
            raise forms.ValidationError(
                "Request ids have only letters, digits, dashes and underscores."
            )
        return value.lower()
