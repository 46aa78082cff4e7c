from django import forms
from django.conf import settings

from nir_portal.accounts.models import Organisation
from nir_portal.forms import NHSDateField
from onboarding import selectors
from onboarding.models import Deployment, Framework, ProductVersion, Requirement, Review
from onboarding.models.evidence import STATEMENT_MAX_LENGTH


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


# --- evidence ------------------------------------------------------------------------------------


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one field; each is inspected by onboarding.uploads before it is stored."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        files = data if isinstance(data, list | tuple) else ([data] if data else [])
        return [super(MultipleFileField, self).clean(f, initial) for f in files]


class EvidenceRevisionFields(forms.Form):
    statement = forms.CharField(
        label="Statement",
        widget=forms.Textarea(attrs={"rows": 8}),
        max_length=STATEMENT_MAX_LENGTH,
        required=False,
        help_text=f"Explain how this evidence meets the requirement. Up to {STATEMENT_MAX_LENGTH:,} characters.",
    )
    effective_date = NHSDateField(
        label="Effective date",
        must_be="today_or_past",
        error_messages={"required": "Enter the date the evidence became effective"},
        help_text="The date the evidence became true, for example 1 11 2026. Expiry is worked out from it.",
    )
    files = MultipleFileField(label="Files (optional)", required=False)
    action = forms.ChoiceField(
        choices=[("submit", "Submit for review"), ("draft", "Save as draft")], required=False, widget=forms.HiddenInput
    )

    # Set by the upload view: files refused while the request was received (too large), with names.
    refused_uploads: list[str] = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["files"].help_text = (
            "PDF, Word (DOCX), Excel (XLSX), CSV, text, JSON, PNG, JPEG or ZIP, each up to "
            f"{settings.EVIDENCE_MAX_FILE_BYTES // (1024 * 1024):,} MB. You can choose several files."
        )

    def clean(self):
        cleaned = super().clean()
        if self.refused_uploads:
            # A file was attached but refused: its size is what to fix, not a missing file.
            self.add_error("files", list(self.refused_uploads))
        elif (
            not (cleaned.get("statement") or "").strip() and not cleaned.get("files") and "statement" not in self.errors
        ):
            self.add_error("statement", "Enter a statement, attach a file, or both.")
        return cleaned

    def summary_fields(self):
        """Fields in the order the error summary lists them: a refused file first."""
        fields = list(self)
        if self.refused_uploads:
            fields.sort(key=lambda field: field.name != "files")
        return fields


class EvidenceCreateForm(EvidenceRevisionFields):
    title = forms.CharField(label="Title", max_length=200, error_messages={"required": "Enter a title"})
    requirement_codes = forms.MultipleChoiceField(
        label="Requirements this evidence meets",
        error_messages={"required": "Select the requirements this evidence meets"},
        widget=forms.CheckboxSelectMultiple,
        help_text="Select every requirement this one item of evidence satisfies.",
    )

    field_order = ["title", "requirement_codes", "statement", "effective_date", "files"]

    def __init__(self, *args, requirements, **kwargs):
        super().__init__(*args, **kwargs)
        # Only requirements the acting organisation may provide are offered.
        self.fields["requirement_codes"].choices = [(r.code, f"{r.code} {r.title}") for r in requirements]


class EvidenceReviseForm(EvidenceRevisionFields):
    based_on_revision = forms.IntegerField(widget=forms.HiddenInput)


class ReviewForm(forms.Form):
    decision = forms.ChoiceField(
        label="Your decision",
        choices=Review.Decision.choices,
        widget=forms.RadioSelect,
        error_messages={"required": "Choose accept or request changes"},
    )
    comment = forms.CharField(
        label="Comment",
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        max_length=STATEMENT_MAX_LENGTH,
        help_text="Required when requesting changes: say what needs to change.",
    )
    expected_version = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args, revision=None, **kwargs):
        super().__init__(*args, **kwargs)
        # The review service's own rule (selectors.revision_files_cleared): Accept is offered
        # only when the service would take it.
        self.scan_hold = selectors.revision_scan_hold(revision)
        if self.scan_hold:
            decision = self.fields["decision"]
            decision.choices = [(Review.Decision.REQUEST_CHANGES.value, Review.Decision.REQUEST_CHANGES.label)]
            decision.help_text = "Accept is offered once every file has passed the malware scan (see above)."
            decision.error_messages["invalid_choice"] = selectors.FILES_NOT_CLEARED


class CommentForm(forms.Form):
    text = forms.CharField(
        label="Add a comment", widget=forms.Textarea(attrs={"rows": 3}), max_length=STATEMENT_MAX_LENGTH
    )


class ParsExceptionForm(forms.Form):
    justification = forms.CharField(
        label="Why the failing PARS rules are acceptable",
        help_text="Recorded with your name against this revision, and shown to everyone who reviews it.",
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=STATEMENT_MAX_LENGTH,
    )


class CarryForwardForm(forms.Form):
    changed_codes = forms.MultipleChoiceField(
        label="Requirements whose evidence changed in this version",
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="Evidence for these is not carried forward; you will upload it again.",
    )

    def __init__(self, *args, codes, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["changed_codes"].choices = [(c, c) for c in codes]


class RequirementEditForm(forms.ModelForm):
    class Meta:
        model = Requirement
        fields = [
            "title",
            "guidance",
            "provided_by",
            "reviewed_by",
            "mandatory",
            "expiry_rule",
            "expiry_months",
            "stage",
        ]
        widgets = {
            "guidance": forms.Textarea(attrs={"rows": 5}),
            "provided_by": forms.RadioSelect,
            "reviewed_by": forms.RadioSelect,
            "expiry_rule": forms.RadioSelect,
        }


class FrameworkChangeForm(forms.Form):
    framework = forms.ModelChoiceField(
        label="Framework version", queryset=Framework.objects.none(), widget=forms.RadioSelect
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["framework"].queryset = Framework.objects.filter(status=Framework.Status.PUBLISHED)
