import datetime

from django import forms
from django.utils import timezone

from nir_portal.accounts.models import Organisation
from nir_portal.forms import NHSDateField


class AuditFilterForm(forms.Form):
    organisation = forms.ModelChoiceField(
        queryset=Organisation.objects.order_by("name"), required=False, empty_label="All organisations"
    )
    deployment = forms.IntegerField(label="Deployment number", required=False, min_value=1)
    start = NHSDateField(label="From", error_label="From date", required=False, help_text="For example, 1 11 2026.")
    end = NHSDateField(
        label="Until", error_label="Until date", required=False, help_text="The whole of this day is included."
    )
    actor = forms.CharField(label="Person's e-mail", required=False, max_length=254)

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("start"), cleaned.get("end")
        if start and end and end < start:
            self.add_error("end", "Until date must be the same as or after the from date")
        return cleaned

    def slice_arguments(self) -> dict:
        data = self.cleaned_data if self.is_valid() else {}
        organisation = data.get("organisation")
        start, end = data.get("start"), data.get("end")
        return {
            "organisation_id": organisation.pk if organisation else None,
            "deployment_id": data.get("deployment"),
            # Whole days in the portal's time zone; the slice ends before the day after "Until".
            "start": _day_start(start) if start else None,
            "end": _day_start(end + datetime.timedelta(days=1)) if end else None,
            "actor": data.get("actor") or "",
        }


def _day_start(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))
