from django import forms

from nir_portal.accounts.models import Organisation


class AuditFilterForm(forms.Form):
    organisation = forms.ModelChoiceField(
        queryset=Organisation.objects.order_by("name"), required=False, empty_label="All organisations"
    )
    deployment = forms.IntegerField(label="Deployment number", required=False, min_value=1)
    start = forms.DateTimeField(
        label="From", required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    end = forms.DateTimeField(
        label="Until", required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    actor = forms.CharField(label="Person's e-mail", required=False, max_length=254)

    def slice_arguments(self) -> dict:
        data = self.cleaned_data if self.is_valid() else {}
        organisation = data.get("organisation")
        return {
            "organisation_id": organisation.pk if organisation else None,
            "deployment_id": data.get("deployment"),
            "start": data.get("start"),
            "end": data.get("end"),
            "actor": data.get("actor") or "",
        }
