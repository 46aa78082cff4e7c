"""The NHS.UK date input: three boxes, the NHS error messages, and the boxes an error is about."""

from datetime import date, timedelta

import pytest
from django import forms
from django.template import Context, Template
from django.utils import timezone

from nir_portal.forms import NHSDateField, NHSDateInput


class EvidenceDates(forms.Form):
    effective_date = NHSDateField(label="Effective date", must_be="today_or_past")
    review_on = NHSDateField(label="Review date", required=False, must_be="future")
    closed_on = NHSDateField(label="Closed on (optional)", error_label="Date closed", required=False, must_be="past")


def submitted(**parts) -> EvidenceDates:
    data = {"effective_date_day": "1", "effective_date_month": "11", "effective_date_year": "2026"}
    data.update(parts)
    form = EvidenceDates(data=data)
    form.is_valid()
    return form


def error_of(form, field) -> tuple[str, tuple[str, ...]]:
    [error] = form.errors.as_data()[field]
    return error.messages[0], error.params["parts"]


def test_three_filled_boxes_make_a_date():
    form = submitted()
    assert form.is_valid(), form.errors
    assert form.cleaned_data["effective_date"] == date(2026, 11, 1)
    assert form.cleaned_data["review_on"] is None


@pytest.mark.parametrize(
    ("parts", "message", "marked"),
    [
        ({"effective_date_month": ""}, "Effective date must include a month", ("month",)),
        ({"effective_date_day": ""}, "Effective date must include a day", ("day",)),
        ({"effective_date_year": ""}, "Effective date must include a year", ("year",)),
        (
            {"effective_date_day": "", "effective_date_year": ""},
            "Effective date must include a day and year",
            ("day", "year"),
        ),
        ({"effective_date_month": "13"}, "Effective date must be a real date", ("month",)),
        ({"effective_date_day": "31", "effective_date_month": "2"}, "Effective date must be a real date", ("day",)),
        (
            {"effective_date_day": "29", "effective_date_month": "2", "effective_date_year": "2025"},
            "Effective date must be a real date",
            ("day",),
        ),
        ({"effective_date_year": "26"}, "Effective date must be a real date", ("year",)),
        ({"effective_date_month": "Nov"}, "Effective date must be a real date", ("month",)),
    ],
)
def test_an_incomplete_or_impossible_date_gets_the_nhs_message_on_the_boxes_at_fault(parts, message, marked):
    form = submitted(**parts)
    assert error_of(form, "effective_date") == (message, marked)


def test_an_empty_required_date_asks_for_it_and_an_empty_optional_one_is_none():
    form = submitted(effective_date_day="", effective_date_month="", effective_date_year="")
    assert error_of(form, "effective_date") == ("Enter the effective date", ("day", "month", "year"))
    assert "review_on" not in form.errors


def test_the_date_rules_say_past_or_future_as_the_nhs_pattern_words_them():
    today = timezone.localdate()
    tomorrow, yesterday = today + timedelta(days=1), today - timedelta(days=1)

    def boxes(prefix, day):
        return {f"{prefix}_day": str(day.day), f"{prefix}_month": str(day.month), f"{prefix}_year": str(day.year)}

    form = submitted(**boxes("effective_date", tomorrow), **boxes("review_on", today), **boxes("closed_on", today))
    assert error_of(form, "effective_date")[0] == "Effective date must be today or in the past"
    assert error_of(form, "review_on")[0] == "Review date must be in the future"
    # The error names the date in words that read as a sentence, not its "(optional)" label.
    assert error_of(form, "closed_on")[0] == "Date closed must be in the past"

    form = submitted(**boxes("effective_date", today), **boxes("review_on", tomorrow), **boxes("closed_on", yesterday))
    assert form.is_valid(), form.errors


def test_an_iso_date_posted_under_the_fields_own_name_is_still_read():
    form = EvidenceDates(data={"effective_date": "2026-03-03"})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["effective_date"] == date(2026, 3, 3)


def test_an_unknown_rule_is_refused_when_the_form_is_written():
    with pytest.raises(ValueError, match="must_be"):
        NHSDateField(must_be="yesterday")


RENDER = Template(
    "{% load portal %}{% include 'components/error_summary.html' %}"
    "{% for field in form %}{{ field.as_field_group }}{% endfor %}"
)


def test_the_boxes_render_in_the_nhs_pattern_with_only_the_faulty_box_marked_and_linked():
    form = submitted(effective_date_month="")
    html = RENDER.render(Context({"form": form}))

    assert 'class="nhsuk-date-input" id="id_effective_date"' in html
    for part in ("day", "month", "year"):
        assert f'<label class="nhsuk-label nhsuk-date-input__label" for="id_effective_date_{part}">' in html
    assert 'id="id_effective_date_month" name="effective_date_month"' in html
    # Only the month box is marked, and the summary links to it
    assert html.count("nhsuk-input--error") == 1
    assert 'nhsuk-input--width-2 nhsuk-input--error" id="id_effective_date_month"' in html
    assert '<a href="#id_effective_date_month">Effective date must include a month</a>' in html
    # The boxes sit in a fieldset named by the label, which carries the error message
    assert '<legend class="nhsuk-fieldset__legend nhsuk-fieldset__legend--s">Effective date</legend>' in html
    assert '<fieldset class="nhsuk-fieldset" aria-describedby="id_effective_date_error">' in html
    # and what was typed is kept
    assert 'name="effective_date_day" type="text" inputmode="numeric" autocomplete="off" value="1"' in html


def test_a_date_is_shown_in_its_three_boxes():
    html = NHSDateInput().render("due_on", date(2027, 1, 31), attrs={"id": "id_due_on"})
    assert 'name="due_on_day" type="text" inputmode="numeric" autocomplete="off" value="31"' in html
    assert 'name="due_on_month" type="text" inputmode="numeric" autocomplete="off" value="1"' in html
    assert 'name="due_on_year" type="text" inputmode="numeric" autocomplete="off" value="2027"' in html


def test_the_audit_filter_takes_whole_days_from_its_date_boxes(db):
    from nir_portal.audit.forms import AuditFilterForm

    form = AuditFilterForm(
        {
            "start_day": "1",
            "start_month": "11",
            "start_year": "2026",
            "end_day": "30",
            "end_month": "11",
            "end_year": "2026",
        }
    )
    arguments = form.slice_arguments()

    assert timezone.localtime(arguments["start"]).isoformat().startswith("2026-11-01T00:00:00")
    assert timezone.localtime(arguments["end"]).isoformat().startswith("2026-12-01T00:00:00")

    backwards = AuditFilterForm(
        {
            "start_day": "2",
            "start_month": "11",
            "start_year": "2026",
            "end_day": "1",
            "end_month": "11",
            "end_year": "2026",
        }
    )
    assert not backwards.is_valid()
    assert backwards.errors["end"] == ["Until date must be the same as or after the from date"]
