"""Forms rendered the NHS.UK way: labels, hints and inline errors tied to their fields
(see templates/components/field.html and the `nhs_widget` template tag)."""

from django import forms
from django.core.exceptions import ValidationError
from django.forms.renderers import TemplatesSetting


class PortalFormRenderer(TemplatesSetting):
    form_template_name = "components/form.html"
    field_template_name = "components/field.html"


def refused(field: str, message: str, code: str) -> ValidationError:
    """A service's refusal tied to one form field. A ValidationError built from a dict drops its
    `code`; nesting keeps the code stable for callers and tests."""
    return ValidationError({field: ValidationError(message, code=code)})


def add_service_errors(form: forms.Form, error: ValidationError) -> None:
    """Put a service's ValidationError on the form, so the error summary and fields show it."""
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error)
