from django import forms

from dmportal.core.forms import Form
from dmportal.jobs.services import start_key_valid

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
    # The form's one-time key (jobs.services.start_key_new): sent twice, one export starts.
    start_key = forms.CharField(required=False, widget=forms.HiddenInput)

    def clean_format(self):
        value = self.cleaned_data["format"]
        if value not in FORMATS:
            raise forms.ValidationError("Choose CSV or JSON Lines.")
        return value

    def clean(self):
        data = super().clean()
        if data.get("start_key") and not start_key_valid(data["start_key"]):
            # A hidden field: said for the whole form.
            raise forms.ValidationError("This form is out of date: press Start again.")
        return data
