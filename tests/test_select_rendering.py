"""The portal's form renderer builds select widgets in Python; the HTML must be what Django's
select.html and select_option.html templates render, character for character."""

import pytest
from django import forms
from django.forms.renderers import TemplatesSetting

from nir_portal.forms import SELECT_TEMPLATE, PortalFormRenderer


class Choices(forms.Form):
    plain = forms.ChoiceField(choices=[("", "Any"), ("x", "X & <y>"), ("z", 'Say "z"')])
    grouped = forms.ChoiceField(choices=[("a", "A"), ("Group <1>", [("1", "one"), ("2", "two")])])
    typed = forms.TypedChoiceField(choices=[(1, "1"), (None, "none")], required=False, coerce=int)
    flagged = forms.ChoiceField(
        choices=[("", "Any")], widget=forms.Select(attrs={"disabled": True, "data-x": "a&b", "hidden": False})
    )


@pytest.mark.parametrize("data", [{}, {"plain": "x", "grouped": "2", "typed": "1", "flagged": ""}])
def test_a_select_renders_as_the_templates_would(data):
    form = Choices(data)
    renderer = PortalFormRenderer()
    for field in form:
        context = field.field.widget.get_context(field.html_name, field.value(), {"id": field.auto_id, "class": "s"})

        built = renderer.render(SELECT_TEMPLATE, context)

        assert built == TemplatesSetting.render(renderer, SELECT_TEMPLATE, context), field.name
        assert "<option" in built
