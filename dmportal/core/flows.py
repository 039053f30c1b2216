"""The view flows that several pages share, each written once.

- `form_then_write`: a form whose valid POST performs one API write (create, edit, rename).
- `confirm_then_write`: a destructive action (delete, deactivate, remove): GET shows the one
  confirmation page (core/confirm.html), POST performs the write.
- `secret_once`: a form that creates a secret (an API key, an access key) and shows it once,
  guarded by a one-time token (core/once.py) so that a reload creates nothing.

Every write goes through `core.writes.perform` (activity log, never retried); a refused write
shows the page again with the API's error on its form and everything typed kept.
"""

from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.shortcuts import redirect, render
from django.views.decorators.debug import sensitive_variables

from . import writes
from .forms import Form
from .htmx import is_partial
from .once import once_consume, once_issue, once_release

EXPIRED = "This form had expired, so nothing was created. Check the values and submit again."


@dataclass(frozen=True)
class Write:
    """One API write as `writes.perform` runs it: `call()` makes it; `target` names what it
    changes (or is a function of the result); `around` is an optional context manager factory
    the call runs inside (the team pages remember the API's refusals with it)."""

    action: str
    target: Any
    call: Any
    detail: str = ""
    around: Any = None

    def run(self, request, *, form=None, field_for=None):
        """(result, None) or (None, error); with a `form`, a failure is put on it."""
        return writes.perform(
            request,
            self.action,
            self.target,
            self.call,
            form=form,
            field_for=field_for,
            detail=self.detail,
            around=self.around,
        )

    def run_or_raise(self, request):
        """For a write without a form (a plain button): a failure goes to the error page."""
        result, error = self.run(request)
        if error is not None:
            raise error
        return result


class ConfirmForm(Form):
    """The confirmation page's form: empty, it carries the API's error if the write fails."""


@dataclass(frozen=True)
class Confirmation:
    """What the confirmation page says (core/confirm.html). `consequences` name what will stop
    working (or start working again), in sentences ("This key was last used 2 days ago: ...");
    `tone` is "danger" for what takes something away, "primary" for what gives it back.
    `heading` titles the consequences when the tone does not say it (a resend is no danger, yet
    what it names stops working); by default "What stops working" or "What works again"."""

    title: str
    explanation: str
    confirm_label: str
    cancel_url: str
    warning: str = ""
    hidden: tuple = ()  # (name, value) pairs sent back with the POST
    consequences: tuple = ()
    tone: str = "danger"
    heading: str = ""

    def context(self):
        return {
            "title": self.title,
            "explanation": self.explanation,
            "confirm_label": self.confirm_label,
            "cancel_url": self.cancel_url,
            "warning": self.warning,
            "hidden": list(self.hidden),
            "consequences": [c for c in self.consequences if c],
            "tone": self.tone,
            "consequences_heading": self.heading
            or ("What stops working" if self.tone == "danger" else "What works again"),
        }


def form_status(form, default=200):
    """The status of a page shown again: the API's status when it refused the write, 400 when
    the form is invalid."""
    error = getattr(form, "api_error", None)
    if error is not None:
        return error.status
    return 400 if form.errors else default


def success(request, message, to, *args, level=messages.SUCCESS, **kwargs):
    """The usual end of a write: say what happened, then go to `to` (a URL name or a URL)."""
    messages.add_message(request, level, message)
    return redirect(to, *args, **kwargs)


def form_then_write(request, *, form, write, done, template, context, field_for=None):
    """GET, or a POST the form refuses: the page. A valid POST runs `write(cleaned_data)`
    (a `Write`); `done(result)` is the response after it succeeded. When the API refuses it,
    the page comes back with the error on the form (`field_for` maps API field names)."""
    if request.method == "POST" and form.is_valid():
        result, error = write(form.cleaned_data).run(request, form=form, field_for=field_for)
        if error is None:
            return done(result)
    return render(request, template, {**context, "form": form}, status=form_status(form))


def confirm_then_write(request, confirmation, write, *, done, context, form=None):
    """GET: the confirmation page. POST: the write (a `Write`), then `done(result)`. A `form`
    with fields (a tick box) replaces the empty one."""
    if form is None:
        form = ConfirmForm(request.POST if request.method == "POST" else None)
    return form_then_write(
        request,
        form=form,
        write=lambda data: write,
        done=done,
        template="core/confirm.html",
        context={**context, **confirmation.context()},
    )


@sensitive_variables("result", "context")
def secret_once(request, *, template, context, form, write, shown):
    """The create-and-show-once flow.

    GET: the form, with a fresh one-time token. POST: the form is checked, the token consumed,
    then `write(cleaned_data)` (a `Write`) creates the secret; `shown(result)` is what the page
    adds to the context to show it, on this one response (201). A resent form creates nothing
    (409, the context has `spent`); a failed write gives a fresh form, the error on it and what
    was typed. An HTMX request gets the page's `panel` partial.
    """
    status = 200
    if request.method == "POST":
        result, status = _create_once(request, form, write, context)
        if result is not None:
            context.update(shown(result))
    if status not in (201, 409):
        context["once"] = once_issue(request)
    if is_partial(request):
        template += "#panel"
    response = render(request, template, context, status=status)
    response.holds_secret = True  # never compressed (core.middleware.CompressionMiddleware)
    return response


def _create_once(request, form, write, context):
    """(result or None, status) of the POST of a `secret_once` form."""
    token = request.POST.get("once", "")
    if not form.is_valid():
        return None, 400
    state = once_consume(request, token)
    if state == "spent":
        context["spent"] = True
        return None, 409
    if state == "unknown":
        form.add_error(None, EXPIRED)
        return None, 400
    result, error = write(form.cleaned_data).run(request, form=form)
    if error is not None:
        once_release(request, token)
        return None, form_status(form)
    return result, 201
