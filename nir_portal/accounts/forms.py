from django import forms

from nir_portal.accounts.models import ROLES_BY_KIND, CSOProfile, Organisation
from nir_portal.forms import NHSDateField


class OrganisationCreateForm(forms.Form):
    ods_code = forms.CharField(label="ODS code", max_length=6, help_text="3 to 6 capital letters and digits, like RRK.")
    name = forms.CharField(label="Name", max_length=200)
    kind = forms.ChoiceField(label="Kind of organisation", choices=Organisation.Kind.choices, widget=forms.RadioSelect)
    region = forms.ChoiceField(
        label="NHS England region",
        choices=[("", "Not applicable"), *Organisation.Region.choices],
        required=False,
    )


class InviteForm(forms.Form):
    email = forms.EmailField(label="Email address", help_text="An NHS.net or organisational address.")
    full_name = forms.CharField(label="Full name", max_length=150)
    role = forms.ChoiceField(label="Role", widget=forms.RadioSelect)

    def __init__(self, *args, organisation: Organisation, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = [(r.value, r.label) for r in ROLES_BY_KIND[organisation.kind]]


class RoleChangeForm(forms.Form):
    role = forms.ChoiceField(label="New role", widget=forms.RadioSelect)

    def __init__(self, *args, organisation: Organisation, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = [(r.value, r.label) for r in ROLES_BY_KIND[organisation.kind]]


class ActiveOrganisationForm(forms.Form):
    organisation = forms.IntegerField()
    next = forms.CharField(required=False)


class CSOProfileForm(forms.Form):
    professional_body = forms.ChoiceField(
        label="Professional body", choices=CSOProfile.ProfessionalBody.choices, widget=forms.RadioSelect
    )
    registration_number = forms.CharField(label="Registration number", max_length=30)
    registration_checked_on = NHSDateField(
        label="Registration last checked on",
        error_label="Date the registration was checked",
        must_be="today_or_past",
        help_text="For example, 27 11 2026.",
    )
    clinical_risk_training_on = NHSDateField(
        label="Clinical risk management training completed on (optional)",
        error_label="Training date",
        required=False,
        must_be="today_or_past",
    )
