from django import forms

from dmportal.core.forms import Form

from .writers import FORMATS


class ExportForm(Form):
    format = forms.ChoiceField(
        choices=[
            ("csv", "CSV: a spreadsheet, the chosen columns, times in UTC"),
            ("jsonl", "JSON Lines: one record a line, every field as the API returned it"),
        ],
        initial="csv",
        widget=forms.RadioSelect,
        label="Format",
    )

    def clean_format(self):
        value = self.cleaned_data["format"]
        if value not in FORMATS:
            raise forms.ValidationError("Choose CSV or JSON Lines.")
        return value
