"""The portal's form renderer builds select and input widgets in Python; the HTML must be what
Django's templates (select.html and select_option.html; input.html, through each input type's
template) render, character for character."""

import pytest
from django import forms
from django.forms.renderers import TemplatesSetting
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy

from nir_portal.forms import INPUT_TEMPLATES, SELECT_TEMPLATE, PortalFormRenderer


class Choices(forms.Form):
    plain = forms.ChoiceField(choices=[("", "Any"), ("x", "X & <y>"), ("z", 'Say "z"')])
    grouped = forms.ChoiceField(choices=[("a", "A"), ("Group <1>", [("1", "one"), ("2", "two")])])
    typed = forms.TypedChoiceField(choices=[(1, "1"), (None, "none")], required=False, coerce=int)
    # Already HTML is left as it is; a lazy label is escaped once translated.
    marked = forms.ChoiceField(choices=[("s", mark_safe("<b>bold</b> &amp; more")), ("l", gettext_lazy("A & B"))])
    flagged = forms.ChoiceField(
        choices=[("", "Any")], widget=forms.Select(attrs={"disabled": True, "data-x": "a&b", "hidden": False})
    )


@pytest.mark.parametrize("data", [{}, {"plain": "x", "grouped": "2", "typed": "1", "flagged": "", "marked": "l"}])
def test_a_select_renders_as_the_templates_would(data):
    form = Choices(data)
    renderer = PortalFormRenderer()
    for field in form:
        context = field.field.widget.get_context(field.html_name, field.value(), {"id": field.auto_id, "class": "s"})

        built = renderer.render(SELECT_TEMPLATE, context)

        assert built == TemplatesSetting.render(renderer, SELECT_TEMPLATE, context), field.name
        assert "<option" in built


class Inputs(forms.Form):
    text = forms.CharField(widget=forms.TextInput(attrs={"data-x": 'a "quoted" & <tagged>', "hidden": False}))
    number = forms.IntegerField(required=False, min_value=0, help_text="days")
    email = forms.EmailField(required=False)
    url = forms.URLField(required=False, widget=forms.URLInput(attrs={"autofocus": True}))
    password = forms.CharField(widget=forms.PasswordInput(render_value=True))
    hidden = forms.CharField(required=False, widget=forms.HiddenInput)
    search = forms.CharField(widget=forms.SearchInput)
    tel = forms.CharField(widget=forms.TelInput)
    day = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    moment = forms.DateTimeField(required=False, widget=forms.DateTimeInput)
    time = forms.TimeField(required=False, widget=forms.TimeInput)


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"text": "x & <y>", "number": "12", "email": "a@b.example", "url": "https://a.example/?q=1&r=2"},
        {"password": 'p"w', "hidden": "h'1", "search": "s", "tel": "01", "day": "2026-12-06", "time": "10:30"},
    ],
)
def test_an_input_renders_as_the_templates_would(data):
    form = Inputs(data)
    renderer = PortalFormRenderer()
    seen = set()
    for field in form:
        widget = field.field.widget
        attrs = field.build_widget_attrs({"id": field.auto_id, "class": "nhsuk-input"})
        context = widget.get_context(field.html_name, field.value(), attrs)
        assert widget.template_name in INPUT_TEMPLATES, field.name
        seen.add(widget.template_name)

        built = renderer.render(widget.template_name, context)

        assert built == TemplatesSetting.render(renderer, widget.template_name, context), field.name
        assert built.startswith("<input")
    assert seen == INPUT_TEMPLATES
