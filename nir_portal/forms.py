"""Forms rendered the NHS.UK way: labels, hints and inline errors tied to their fields
(see templates/components/field.html and the `nhs_widget` template tag)."""

import datetime
from html import escape

from django import forms
from django.core.exceptions import ValidationError
from django.forms.renderers import TemplatesSetting
from django.utils import timezone
from django.utils.safestring import mark_safe

SELECT_TEMPLATE = "django/forms/widgets/select.html"
OPTION_TEMPLATE = "django/forms/widgets/select_option.html"
# Django's templates of these input types are each `{% include "django/forms/widgets/input.html" %}`.
INPUT_TEMPLATES = frozenset(
    f"django/forms/widgets/{kind}.html"
    for kind in ("text", "number", "email", "url", "password", "hidden", "search", "tel", "date", "datetime", "time")
)


def _escaped(value) -> str:
    """`conditional_escape`, without its lazy-string wrapper's cost (a select escapes two values
    an option): what is already HTML as it is, anything else through the standard library's
    `escape`, which Django's own calls."""
    html = getattr(value, "__html__", None)
    return html() if html is not None else escape(str(value))


def _attrs(attrs: dict) -> str:
    return "".join(
        f" {_escaped(name)}" if value is True else f' {_escaped(name)}="{_escaped(str(value))}"'
        for name, value in attrs.items()
        if value is not False
    )


def _select(widget: dict) -> str | None:
    """Django's select.html and select_option.html, character for character, without the template
    engine's cost per option (a filter form's selects were most of its page's rendering). None
    when an option has a template of its own."""
    parts = [f'<select name="{_escaped(widget["name"])}"{_attrs(widget["attrs"])}>']
    for group_name, options, _index in widget["optgroups"]:
        if group_name:
            parts.append(f'\n  <optgroup label="{_escaped(group_name)}">')
        for option in options:
            if option["template_name"] != OPTION_TEMPLATE:
                return None
            parts.append(
                f'\n  <option value="{_escaped(str(option["value"]))}"{_attrs(option["attrs"])}>'
                f"{_escaped(option['label'])}</option>\n"  # the option template's closing newline
            )
        if group_name:
            parts.append("\n  </optgroup>")
    parts.append("\n</select>")
    return "".join(parts)


def _input(widget: dict) -> str:
    """Django's input.html (with attrs.html), character for character: two template renders less
    per text, number or hidden input."""
    value = "" if widget["value"] is None else f' value="{_escaped(str(widget["value"]))}"'
    name = _escaped(widget["name"])
    return f'<input type="{_escaped(widget["type"])}" name="{name}"{value}{_attrs(widget["attrs"])}>'


class PortalFormRenderer(TemplatesSetting):
    form_template_name = "components/form.html"
    field_template_name = "components/field.html"

    def render(self, template_name, context, request=None):
        if template_name == SELECT_TEMPLATE and (html := _select(context["widget"])) is not None:
            return mark_safe(html)  # noqa: S308  every value was escaped as the template would
        if template_name in INPUT_TEMPLATES:
            return mark_safe(_input(context["widget"]))  # noqa: S308  as above
        return super().render(template_name, context, request=request)


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


# --- The NHS.UK date input: day, month and year in three boxes -------------------------------------

DATE_PARTS = ("day", "month", "year")


def _parse_iso(value: str) -> list[str] | None:
    try:
        parsed = datetime.date.fromisoformat(value.strip())
    except ValueError:
        return None
    return [str(parsed.day), str(parsed.month), str(parsed.year)]


class NHSDateInput(forms.MultiWidget):
    """Three text boxes (day, month, year) in the NHS.UK date input pattern. The browser's own date
    picker shows dates in the browser's locale and hides the parts from screen readers' users."""

    template_name = "components/widgets/date_input.html"
    use_fieldset = True

    def __init__(self, attrs=None):
        part = {"inputmode": "numeric", "autocomplete": "off"}
        super().__init__({name: forms.TextInput(attrs=dict(part)) for name in DATE_PARTS}, attrs)
        # Set per bound form by the `nhs_widget` tag: the parts an error message is about.
        self.error_parts: tuple[str, ...] = ()

    def decompress(self, value):
        if isinstance(value, datetime.date):
            return [str(value.day), str(value.month), str(value.year)]
        if isinstance(value, str):
            return _parse_iso(value) or [None, None, None]
        return [None, None, None]

    def value_from_datadict(self, data, files, name):
        parts = super().value_from_datadict(data, files, name)
        if not any(parts) and data.get(name):
            # An ISO date under the field's own name (a script, or a form kept from before the
            # three boxes) is read as its three parts; anything else is left for the field to refuse.
            return _parse_iso(str(data.get(name))) or [str(data.get(name)), "", ""]
        return parts

    def value_omitted_from_data(self, data, files, name):
        return name not in data and super().value_omitted_from_data(data, files, name)

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        widths = {"day": 2, "month": 2, "year": 4}
        for part, subwidget in zip(DATE_PARTS, context["widget"]["subwidgets"], strict=True):
            subwidget["part"] = part
            if context["widget"]["attrs"].get("id"):
                # Ids that say which box they are, for the labels and the error summary's links.
                subwidget["attrs"]["id"] = f"{context['widget']['attrs']['id']}_{part}"
            subwidget["label"] = part.capitalize()
            subwidget["width"] = widths[part]
            subwidget["error"] = part in self.error_parts
        return context


class NHSDateField(forms.MultiValueField):
    """A date entered as day, month and year, with the NHS.UK error messages
    ("Effective date must include a month", "... must be a real date", "... must be in the past").

    `must_be` is the rule the date follows, if any: "past" or "future" (today refused), or
    "today_or_past" or "today_or_future". Each error names the parts it is about
    (`params["parts"]`), so only those boxes are marked and the error summary links to the first."""

    widget = NHSDateInput
    RULES = {
        "past": (lambda d, today: d < today, "must be in the past"),
        "today_or_past": (lambda d, today: d <= today, "must be today or in the past"),
        "future": (lambda d, today: d > today, "must be in the future"),
        "today_or_future": (lambda d, today: d >= today, "must be today or in the future"),
    }

    def __init__(self, *, must_be: str | None = None, error_label: str | None = None, **kwargs):
        if must_be is not None and must_be not in self.RULES:
            raise ValueError(f"must_be is one of {sorted(self.RULES)}, not {must_be!r}")
        self.must_be = must_be
        # How errors name the date when its label does not read well in a sentence ("... (optional)").
        self.error_label = error_label
        self.required_message = (kwargs.get("error_messages") or {}).get("required")
        # The parts are checked together below, so each on its own accepts anything.
        fields = tuple(forms.CharField(required=False, max_length=10) for _ in DATE_PARTS)
        super().__init__(fields, require_all_fields=False, **kwargs)

    def _error(self, message: str, code: str, parts) -> ValidationError:
        label = str(self.error_label or self.label or "Date")
        return ValidationError(f"{label} {message}", code=code, params={"parts": tuple(parts)})

    def clean(self, value):
        values = value if isinstance(value, list | tuple) else self.widget.decompress(value)
        day, month, year = ((str(v).strip() if v is not None else "") for v in (list(values) + [""] * 3)[:3])
        given = dict(zip(DATE_PARTS, (day, month, year), strict=True))
        if not any(given.values()):
            if self.required:
                message = self.required_message or f"Enter the {str(self.error_label or self.label or 'date').lower()}"
                raise ValidationError(message, code="required", params={"parts": DATE_PARTS})
            return None
        missing = [part for part in DATE_PARTS if not given[part]]
        if missing:
            raise self._error(f"must include a {' and '.join(missing)}", "incomplete", missing)
        not_numbers = [part for part in DATE_PARTS if not given[part].isdigit()]
        if not_numbers:
            raise self._error("must be a real date", "invalid", not_numbers)
        if len(year) != 4:
            raise self._error("must be a real date", "invalid", ["year"])
        number = {part: int(given[part]) for part in DATE_PARTS}
        if not 1 <= number["month"] <= 12:
            raise self._error("must be a real date", "invalid", ["month"])
        try:
            entered = datetime.date(number["year"], number["month"], number["day"])
        except ValueError:
            raise self._error("must be a real date", "invalid", ["day"]) from None
        if self.must_be:
            allowed, wording = self.RULES[self.must_be]
            if not allowed(entered, timezone.localdate()):
                raise self._error(wording, self.must_be, DATE_PARTS)
        self.run_validators(entered)
        return entered

    def compress(self, data_list):  # clean() above does the whole job; kept for MultiValueField's contract
        return data_list

    def has_changed(self, initial, data):
        return self.widget.decompress(initial) != [v or None for v in (data or [None] * 3)]
