"""Forms of the safety case's later life. Choice fields are narrowed to what the person may see."""

from django import forms

from nir_portal.accounts.models import Organisation
from nir_portal.forms import NHSDateField
from safety.forms import TEXT_MAX_LENGTH, _textarea
from safety.lifecycle.models import IncidentEscalation, LiveCaseDecision
from safety.models import DeploymentHazard

PATIENT_DATA_WARNING = (
    "Do not enter patient names, NHS numbers or any other patient-identifiable data: the portal stores "
    "none, and what you write here is shared with the supplier, the imaging network and the national team."
)


def _codes(value: str) -> list[str]:
    return [part.strip() for part in value.replace("\n", ",").split(",") if part.strip()]


class ProductVersionPublishForm(forms.Form):
    change_summary = forms.CharField(label="What changed", widget=_textarea(5), max_length=TEXT_MAX_LENGTH)
    added = forms.MultipleChoiceField(
        label="Hazards added in this version", required=False, widget=forms.CheckboxSelectMultiple
    )
    changed = forms.MultipleChoiceField(
        label="Hazards changed in this version", required=False, widget=forms.CheckboxSelectMultiple
    )
    closed = forms.MultipleChoiceField(
        label="Hazards closed in this version", required=False, widget=forms.CheckboxSelectMultiple
    )
    changed_requirement_codes = forms.CharField(
        label="Onboarding requirements the change invalidates (optional)",
        required=False,
        help_text="Requirement codes separated by commas, for example INT-01, DEG-02. Evidence for them is not "
        "carried forward to the new version.",
    )

    def __init__(self, *args, new_hazards, old_hazards, **kwargs):
        super().__init__(*args, **kwargs)
        new = [(h.code, f"{h.code} {h.name}") for h in new_hazards]
        self.fields["added"].choices = new
        self.fields["changed"].choices = new
        self.fields["closed"].choices = [(h.code, f"{h.code} {h.name}") for h in old_hazards]

    def clean_changed_requirement_codes(self):
        return _codes(self.cleaned_data["changed_requirement_codes"])


class HazardReReviewForm(forms.Form):
    outcome = forms.CharField(
        label="What you found and changed",
        widget=_textarea(5),
        max_length=TEXT_MAX_LENGTH,
        help_text="Say whether the assessment, controls or status changed for the new version, and why.",
    )


class LiveCaseDecisionForm(forms.Form):
    decision = forms.ChoiceField(label="Decision", choices=LiveCaseDecision.Decision.choices, widget=forms.RadioSelect)
    justification = forms.CharField(label="Justification", widget=_textarea(5), max_length=TEXT_MAX_LENGTH)


class IncidentEscalateForm(forms.Form):
    network = forms.ModelChoiceField(
        label="Imaging network (optional)",
        queryset=Organisation.objects.none(),
        required=False,
        empty_label="No imaging network",
    )
    note = forms.CharField(
        label="What you ask of the supplier, the network and the national team",
        widget=_textarea(5),
        max_length=TEXT_MAX_LENGTH,
        help_text=PATIENT_DATA_WARNING,
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Imaging networks are listed by name to every deploying organisation (public ODS data).
        self.fields["network"].queryset = Organisation.objects.filter(
            kind=Organisation.Kind.IMAGING_NETWORK, is_active=True
        )


class FaultFindingForm(forms.Form):
    finding = forms.ChoiceField(
        label="Finding",
        choices=[c for c in IncidentEscalation.Finding.choices if c[0] != IncidentEscalation.Finding.PENDING],
        widget=forms.RadioSelect,
    )
    note = forms.CharField(label="Explanation", widget=_textarea(5), max_length=TEXT_MAX_LENGTH)


class PeriodicReviewForm(forms.Form):
    reviewed_on = NHSDateField(label="Reviewed on", must_be="today_or_past", help_text="For example, 2 11 2026.")
    findings = forms.CharField(label="Findings", widget=_textarea(5), max_length=TEXT_MAX_LENGTH)
    changes_since_last = forms.CharField(
        label="Changes since the last review (optional)",
        widget=_textarea(3),
        required=False,
        max_length=TEXT_MAX_LENGTH,
    )
    next_review_due = NHSDateField(
        label="Next review due", must_be="today_or_future", help_text="For example, 30 11 2027."
    )


class DecommissioningPlanForm(forms.Form):
    planned_for = NHSDateField(label="Planned decommissioning date", help_text="For example, 31 3 2027.")
    data_retention = forms.CharField(label="Data retention", widget=_textarea(4), max_length=TEXT_MAX_LENGTH)
    access_to_priors = forms.CharField(
        label="Access to prior imaging afterwards", widget=_textarea(4), max_length=TEXT_MAX_LENGTH
    )
    replacement = forms.CharField(label="What replaces the service", widget=_textarea(4), max_length=TEXT_MAX_LENGTH)
    hazards_closed = forms.ModelMultipleChoiceField(
        label="Hazards decommissioning closes",
        queryset=DeploymentHazard.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    closure_note = forms.CharField(
        label="Why decommissioning closes them", widget=_textarea(3), required=False, max_length=TEXT_MAX_LENGTH
    )

    def __init__(self, *args, hazards, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["hazards_closed"].queryset = hazards
        self.fields["hazards_closed"].label_from_instance = lambda h: f"{h.reference} {h.name}"


class StatementForm(forms.Form):
    statement = forms.CharField(
        label="Your statement",
        widget=_textarea(5),
        max_length=TEXT_MAX_LENGTH,
        help_text="State that you authorise decommissioning and accept its residual risk.",
    )


class ConfirmForm(forms.Form):
    """A button with nothing to fill in: the page above it says what it does."""


class GoLiveRecordForm(forms.Form):
    went_live_on = NHSDateField(
        label="Date it went live",
        must_be="today_or_past",
        help_text="The day clinicians first used it. For example, 2 11 2026.",
    )
