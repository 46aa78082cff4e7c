"""Forms for the hazard log, sign-off, go-live, incidents and supplier hazards. Every choice of an
object is narrowed by the view to what the person may see; ratings are never entered, only the
severity and likelihood they are looked up from."""

from django import forms

from nir_portal.accounts.models import Organisation
from nir_portal.forms import NHSDateField
from onboarding.models import EvidenceRevision
from safety.models import DeploymentHazard, HazardControl, Likelihood, RiskMatrix, Severity
from safety.selectors import NOT_ASSESSED
from safety.services.hazards import HAZARD_FIELDS

TEXT_MAX_LENGTH = 4000
SIGN_OFF_CONDITIONS = 3


class HintedRadioSelect(forms.RadioSelect):
    """NHS.UK radios with a hint under each option (the scale definitions of the risk matrix)."""

    template_name = "safety/widgets/hinted_radio.html"

    def __init__(self, *args, hints: dict[str, str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.hints = hints or {}

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        for _group, options, _index in context["widget"]["optgroups"]:
            for option in options:
                option["hint"] = self.hints.get(str(option["value"]), "")
        return context


def _textarea(rows: int = 4) -> forms.Textarea:
    return forms.Textarea(attrs={"rows": rows})


def _scale_field(matrix: RiskMatrix, scale: str, label: str) -> forms.ChoiceField:
    items = getattr(matrix, scale)
    return forms.ChoiceField(
        label=label,
        required=False,
        choices=[(item["code"], item["label"]) for item in items] + [("", "Not assessed yet")],
        widget=HintedRadioSelect(hints={item["code"]: item["definition"] for item in items}),
    )


class HazardFilterForm(forms.Form):
    """The hazard log's filters: a GET form, so a filtered log has a URL of its own."""

    rating = forms.ChoiceField(
        label="Residual rating",
        required=False,
        choices=[("", "Any rating"), *[(str(n), str(n)) for n in range(5, 0, -1)], (NOT_ASSESSED, "Not assessed")],
    )
    status = forms.ChoiceField(
        label="Status", required=False, choices=[("", "Any status"), *DeploymentHazard.Status.choices]
    )


class HazardEditForm(forms.Form):
    name = forms.CharField(label="Name", max_length=200)
    description = forms.CharField(label="Description", widget=_textarea(), max_length=TEXT_MAX_LENGTH)
    clinical_impact = forms.CharField(
        label="Potential clinical impact", widget=_textarea(), required=False, max_length=TEXT_MAX_LENGTH
    )
    causes = forms.CharField(label="Possible causes", widget=_textarea(), required=False, max_length=TEXT_MAX_LENGTH)
    existing_controls = forms.CharField(
        label="Existing controls",
        widget=_textarea(),
        required=False,
        max_length=TEXT_MAX_LENGTH,
        help_text="Controls in place before and after go-live. Add additional controls on the hazard's page.",
    )
    is_applicable = forms.BooleanField(label="This hazard applies to the deployment", required=False)
    applicability_justification = forms.CharField(
        label="Why the hazard does not apply",
        widget=_textarea(3),
        required=False,
        max_length=TEXT_MAX_LENGTH,
        help_text="Required when the hazard does not apply. Hazards are never deleted.",
    )
    residual_justification = forms.CharField(
        label="Why further risk reduction is impractical",
        widget=_textarea(3),
        required=False,
        max_length=TEXT_MAX_LENGTH,
        help_text="Required for a residual rating of 3.",
    )
    operating_limits = forms.CharField(
        label="Operating limits",
        widget=_textarea(3),
        required=False,
        max_length=TEXT_MAX_LENGTH,
        help_text="The limits within which the residual risk holds.",
    )
    status = forms.ChoiceField(label="Status", choices=DeploymentHazard.Status.choices, widget=forms.RadioSelect)
    expected_version = forms.IntegerField(widget=forms.HiddenInput)

    field_order = list(HAZARD_FIELDS)

    def __init__(self, *args, matrix: RiskMatrix, **kwargs):
        super().__init__(*args, **kwargs)
        # Choices come from the log's own matrix version, which may define its own scales.
        self.fields["initial_severity"] = _scale_field(matrix, "severities", "Initial severity")
        self.fields["initial_likelihood"] = _scale_field(matrix, "likelihoods", "Initial likelihood")
        self.fields["residual_severity"] = _scale_field(matrix, "severities", "Residual severity")
        self.fields["residual_likelihood"] = _scale_field(matrix, "likelihoods", "Residual likelihood")
        self.order_fields(self.field_order)


class TransferDecisionForm(forms.Form):
    decision = forms.ChoiceField(
        label="Your decision on this transferred hazard",
        widget=forms.RadioSelect,
        choices=[
            (DeploymentHazard.TransferDecision.ACCEPTED, "Accept it as the supplier describes it"),
            (DeploymentHazard.TransferDecision.ADAPTED, "Accept it with local adaptation"),
            (DeploymentHazard.TransferDecision.REJECTED, "Reject it: it does not apply to this deployment"),
        ],
    )
    justification = forms.CharField(
        label="Reason for your decision",
        widget=_textarea(),
        max_length=TEXT_MAX_LENGTH,
        help_text="A rejection marks the hazard as not applicable, with this reason.",
    )
    expected_version = forms.IntegerField(widget=forms.HiddenInput)


class ControlForm(forms.Form):
    kind = forms.ChoiceField(
        label="Type of control",
        choices=HazardControl.Kind.choices,
        widget=forms.RadioSelect,
        help_text="Prefer designing the hazard out, then testing, then procedures, then training.",
    )
    description = forms.CharField(
        label="Description",
        widget=_textarea(),
        max_length=TEXT_MAX_LENGTH,
        help_text="Check that the control does not itself introduce a new hazard.",
    )
    owner = forms.ModelChoiceField(
        label="Owner", queryset=Organisation.objects.none(), widget=forms.RadioSelect, empty_label=None
    )
    is_verified = forms.BooleanField(
        label="The control is verified by accepted evidence or the certificate register", required=False
    )
    evidence_revisions = forms.ModelMultipleChoiceField(
        label="Evidence that verifies it",
        queryset=EvidenceRevision.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Only evidence accepted for this deployment can be cited.",
    )
    cites_certificate_register = forms.BooleanField(
        label="Cite the deployment's certificate register as evidence",
        required=False,
        help_text="Its certificates, the supplier's for this product version included, and their expiry monitoring: "
        "alerts 90, 30, 14 and 7 days before expiry and on expiry.",
    )
    expected_version = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args, owners, revisions, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = owners
        self.fields["evidence_revisions"].queryset = revisions
        self.fields["evidence_revisions"].label_from_instance = lambda r: (
            f"{r.evidence.title}, revision {r.number}"
            + (f" (expires {r.expiry_date:%d %B %Y})" if r.expiry_date else "")
        )


class ActionForm(forms.Form):
    description = forms.CharField(label="Action", widget=_textarea(3), max_length=TEXT_MAX_LENGTH)
    owner = forms.ModelChoiceField(
        label="Owner", queryset=Organisation.objects.none(), widget=forms.RadioSelect, empty_label=None
    )
    due_on = NHSDateField(label="Due date", must_be="today_or_future", help_text="For example, 30 11 2027.")
    expected_version = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args, owners, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = owners


class LocalHazardForm(forms.Form):
    name = forms.CharField(label="Name", max_length=200)
    description = forms.CharField(label="Description", widget=_textarea(), max_length=TEXT_MAX_LENGTH)
    clinical_impact = forms.CharField(
        label="Potential clinical impact", widget=_textarea(), required=False, max_length=TEXT_MAX_LENGTH
    )
    causes = forms.CharField(label="Possible causes", widget=_textarea(), required=False, max_length=TEXT_MAX_LENGTH)


class SignOffForm(forms.Form):
    statement = forms.CharField(
        label="Summary safety statement",
        widget=_textarea(6),
        max_length=TEXT_MAX_LENGTH,
        help_text="Your statement that the deployment is acceptably safe for this use, in this setting.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for number in range(1, SIGN_OFF_CONDITIONS + 1):
            self.fields[f"condition_{number}"] = forms.CharField(
                label=f"Condition {number} (optional)",
                required=False,
                max_length=500,
                widget=_textarea(2),
                help_text="Something that must be done after sign-off. It becomes an action with a due date."
                if number == 1
                else "",
            )
            self.fields[f"condition_{number}_due_on"] = NHSDateField(
                label=f"Condition {number} due date",
                required=False,
                must_be="today_or_future",
                help_text="For example, 30 11 2027." if number == 1 else "",
            )

    def clean(self):
        cleaned = super().clean()
        conditions = []
        for number in range(1, SIGN_OFF_CONDITIONS + 1):
            description = (cleaned.get(f"condition_{number}") or "").strip()
            due_on = cleaned.get(f"condition_{number}_due_on")
            if description and not due_on and f"condition_{number}_due_on" not in self.errors:
                self.add_error(f"condition_{number}_due_on", f"Enter a due date for condition {number}.")
            elif due_on and not description:
                self.add_error(f"condition_{number}", f"Describe condition {number}, or clear its due date.")
            elif description:
                conditions.append({"description": description, "due_on": due_on})
        cleaned["conditions"] = conditions
        return cleaned


class GoLiveForm(forms.Form):
    statement = forms.CharField(
        label="Your statement",
        widget=_textarea(5),
        max_length=TEXT_MAX_LENGTH,
        help_text="State that you authorise go-live and accept the residual risk listed above.",
    )


class IncidentForm(forms.Form):
    reference = forms.CharField(
        label="Incident reference", max_length=40, help_text="Your local incident system's reference."
    )
    reported_on = NHSDateField(label="Date reported", must_be="today_or_past", help_text="For example, 2 11 2026.")
    summary = forms.CharField(
        label="Summary",
        widget=_textarea(),
        max_length=TEXT_MAX_LENGTH,
        help_text="Do not enter patient names, NHS numbers or any other patient-identifiable data: the portal "
        "stores none, and an escalated incident is shared with the supplier, imaging network and national team.",
    )
    clinical_risk_assessment = forms.CharField(
        label="Clinical risk assessment", widget=_textarea(), required=False, max_length=TEXT_MAX_LENGTH
    )
    system_release = forms.CharField(
        label="System release",
        max_length=100,
        required=False,
        help_text="The product version or release in use when it happened.",
    )
    severity = forms.ChoiceField(
        label="Severity",
        choices=Severity.choices,
        widget=forms.RadioSelect,
        help_text="On the deployment's risk matrix.",
    )
    likelihood = forms.ChoiceField(label="Likelihood", choices=Likelihood.choices, widget=forms.RadioSelect)
    hazards = forms.ModelMultipleChoiceField(
        label="Hazards it relates to",
        queryset=DeploymentHazard.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="An incident on a signed-off hazard flags the sign-off for the CSO's re-review.",
    )

    def __init__(self, *args, hazards, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["hazards"].queryset = hazards
        self.fields["hazards"].label_from_instance = lambda h: f"{h.reference} {h.name}"


class JournalEntryForm(forms.Form):
    text = forms.CharField(label="Action taken", widget=_textarea(), max_length=TEXT_MAX_LENGTH)
    made_safe_on = NHSDateField(
        label="Made safe on (optional)", error_label="Date made safe", required=False, must_be="today_or_past"
    )
    closed_on = NHSDateField(
        label="Closed on (optional)",
        error_label="Date closed",
        required=False,
        must_be="today_or_past",
        help_text="Record the cause before closing the incident.",
    )
    cause = forms.CharField(label="Cause (optional)", widget=_textarea(3), required=False, max_length=TEXT_MAX_LENGTH)


class SupplierHazardForm(forms.Form):
    code = forms.CharField(label="Hazard code", max_length=20, help_text="As in your DCB0129 hazard log.")
    name = forms.CharField(label="Name", max_length=200)
    description = forms.CharField(label="Description", widget=_textarea(), max_length=TEXT_MAX_LENGTH)
    clinical_impact = forms.CharField(label="Potential clinical impact", widget=_textarea(), max_length=TEXT_MAX_LENGTH)
    causes = forms.CharField(label="Possible causes", widget=_textarea(), max_length=TEXT_MAX_LENGTH)
    supplier_controls = forms.CharField(label="Your controls (DCB0129)", widget=_textarea(), max_length=TEXT_MAX_LENGTH)
    is_transferred = forms.BooleanField(
        label="Transfer this hazard to deploying organisations",
        required=False,
        help_text="Actions remain for each deploying organisation: it enters every deployment's log.",
    )
    transfer_note = forms.CharField(
        label="What the deploying organisation must do", widget=_textarea(3), required=False, max_length=TEXT_MAX_LENGTH
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("is_transferred") and not (cleaned.get("transfer_note") or "").strip():
            self.add_error("transfer_note", "Say what the deploying organisation must do about this hazard.")
        return cleaned
