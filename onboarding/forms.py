from django import forms

from nir_portal.accounts.models import Organisation
from onboarding.models import Deployment, ProductVersion


class DeploymentCreateForm(forms.Form):
    organisation = forms.ModelChoiceField(label="Deploying organisation", queryset=Organisation.objects.none())
    product_version = forms.ModelChoiceField(
        label="Product and version",
        queryset=ProductVersion.objects.none(),
        help_text="The supplier's NIR integration this deployment uses.",
    )
    name = forms.CharField(label="Deployment name", max_length=200)
    sites = forms.CharField(
        label="Sites",
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text="One hospital or imaging site per line.",
    )
    clinical_setting = forms.CharField(
        label="Clinical setting", widget=forms.Textarea(attrs={"rows": 3}), required=False
    )

    def __init__(self, *args, organisations, **kwargs):
        super().__init__(*args, **kwargs)
        # Narrowed to what the person may act for: a form never widens access.
        self.fields["organisation"].queryset = organisations
        self.fields["product_version"].queryset = ProductVersion.objects.exclude(
            status=ProductVersion.Status.WITHDRAWN
        ).select_related("product__supplier")

    def clean_sites(self) -> list[str]:
        return [line.strip() for line in self.cleaned_data["sites"].splitlines() if line.strip()]


class StageChangeForm(forms.Form):
    to_stage = forms.ChoiceField(label="Move to stage", choices=Deployment.Stage.choices, widget=forms.RadioSelect)
    reason = forms.CharField(
        label="Reason", max_length=500, required=False, help_text="Required when suspending or decommissioning."
    )
