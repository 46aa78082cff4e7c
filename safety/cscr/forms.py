"""Forms for CSCR bundles: what to produce, and a bundle to verify."""

from django import forms
from django.conf import settings
from django.template.defaultfilters import filesizeformat

from safety.models import CSCRBundleJob


class BundleRequestForm(forms.Form):
    lifecycle_phase = forms.ChoiceField(
        label="Lifecycle phase the report is for",
        choices=CSCRBundleJob.Phase.choices,
        initial=CSCRBundleJob.Phase.DEPLOYMENT,
        widget=forms.RadioSelect,
    )
    include_evidence = forms.BooleanField(label="Include the evidence files in the bundle", required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["include_evidence"].help_text = (
            "Files released by the malware scan, up to "
            f"{filesizeformat(settings.CSCR_INCLUDE_EVIDENCE_MAX_BYTES)} in total. The bundle always lists every "
            "file's name, size and SHA-256."
        )


class BundleVerifyForm(forms.Form):
    bundle = forms.FileField(
        label="Upload the CSCR bundle (.zip)",
        error_messages={"required": "Choose the bundle's .zip file to check."},
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["bundle"].help_text = (
            f"The .zip file the portal produced, up to {filesizeformat(settings.CSCR_VERIFY_MAX_UPLOAD_BYTES)}. "
            "It is checked and then discarded: nothing you upload is kept."
        )
