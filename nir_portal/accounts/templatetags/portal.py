"""Template helpers for rendering any form field the NHS.UK way, including allauth's forms."""

from django import forms, template
from django.forms.widgets import Input
from django.utils.safestring import mark_safe

from nir_portal.forms import DATE_PARTS, NHSDateInput

register = template.Library()

WIDGET_CLASSES = [
    (forms.Textarea, "nhsuk-textarea"),
    (forms.Select, "nhsuk-select"),
    (forms.FileInput, "nhsuk-file-upload__input"),
    (forms.CheckboxInput, "nhsuk-checkboxes__input"),
    (Input, "nhsuk-input"),
]
ERROR_SUFFIX = {
    "nhsuk-input": "nhsuk-input--error",
    "nhsuk-textarea": "nhsuk-textarea--error",
    "nhsuk-select": "nhsuk-select--error",
}


@register.simple_tag
def nhs_widget(field):
    """Render a bound field's widget with NHS.UK classes, hint and error references."""
    widget = field.field.widget
    if isinstance(widget, NHSDateInput):
        # The fieldset around the three boxes carries the hint and error; only the parts the
        # error is about are marked.
        widget.error_parts = _date_error_parts(field)
        return field.as_widget()
    attrs = {}
    if not isinstance(widget, (forms.RadioSelect, forms.CheckboxSelectMultiple)):
        css = next((c for t, c in WIDGET_CLASSES if isinstance(widget, t)), "")
        classes = [c for c in [widget.attrs.get("class", ""), css] if c]
        if field.errors and css in ERROR_SUFFIX:
            classes.append(ERROR_SUFFIX[css])
        attrs["class"] = " ".join(classes)
    describedby = []
    if field.help_text:
        describedby.append(f"{field.auto_id}_helptext")
    if field.errors:
        describedby.append(f"{field.auto_id}_error")
        attrs["aria-invalid"] = "true"
    if describedby:
        attrs["aria-describedby"] = " ".join(describedby)
    return field.as_widget(attrs=attrs)


def _date_error_parts(field) -> tuple[str, ...]:
    parts: list[str] = []
    for error in field.errors.as_data() if field.errors else []:
        named = (error.params or {}).get("parts") if isinstance(error.params, dict) else None
        parts += named or DATE_PARTS  # an error from elsewhere (a form's own rule) is about the whole date
    return tuple(part for part in DATE_PARTS if part in parts)


@register.filter
def error_anchor(field) -> str:
    """The id the error summary links to: what takes focus for this field. A group of radios or
    checkboxes is reached through its first option; a date through the first box in error."""
    if isinstance(field.field.widget, NHSDateInput):
        return f"{field.auto_id}_{(_date_error_parts(field) or DATE_PARTS)[0]}"
    if field.widget_type in ("radioselect", "checkboxselectmultiple"):
        return f"{field.auto_id}_0"
    return field.auto_id


@register.filter
def status_tag_class(value: str) -> str:
    """The NHS.UK tag colour for a status value; the tag always carries the status text too."""
    colours = {
        "accepted": "green",
        "complete": "green",
        "current": "green",
        "live": "green",
        "closed": "green",
        "submitted": "blue",
        "in_review": "blue",
        "queued": "blue",
        "rendering": "blue",
        "signing": "blue",
        "changes_requested": "orange",
        "open": "orange",
        "transferred": "yellow",
        "partly_accepted": "yellow",
        "expiring": "yellow",
        "superseded": "red",
        "expired": "red",
        "failed": "red",
        "suspended": "red",
        "published": "green",
        "retired": "grey",
        "draft": "grey",
        "not_started": "grey",
        "none": "grey",
        "decommissioned": "grey",
    }
    colour = colours.get(str(value), "")
    return f"nhsuk-tag--{colour}" if colour else ""


RATING_COLOURS = {5: "red", 4: "orange", 3: "yellow", 2: "green", 1: "green"}


@register.filter
def rating_tag(rating: int | None) -> str:
    """A risk rating as an NHS.UK tag (number and colour), or "Not assessed"."""
    if not rating:
        return "Not assessed"
    rating = int(rating)
    return mark_safe(f'<strong class="nhsuk-tag nhsuk-tag--{RATING_COLOURS[rating]}">{rating}</strong>')  # noqa: S308  an int
