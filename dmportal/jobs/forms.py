from django import forms

from dmportal.core.forms import Form
from dmportal.core.listing import RowsForm


class JobListForm(RowsForm):
    """The Jobs page has no filters: the user's jobs of the last DMPORTAL_JOB_EXPIRY_HOURS."""


class JobActionForm(Form):
    next = forms.CharField(required=False, max_length=2000)
