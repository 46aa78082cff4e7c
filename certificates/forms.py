from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator

from certificates.models import CertificateEntry

FILE_HELP = (
    "A PEM or DER certificate, or a PKCS#7 chain (.pem, .crt, .cer, .der, .p7b). "
    "Never a private key: a file holding one is refused and nothing is stored."
)
ACCEPT = ".pem,.crt,.cer,.der,.p7b,.p7c"


class CertificateFileField(forms.FileField):
    def __init__(self, **kwargs):
        super().__init__(
            label="Certificate file",
            help_text=FILE_HELP,
            widget=forms.ClearableFileInput(attrs={"accept": ACCEPT}),
            **kwargs,
        )


class CertificateEntryForm(forms.Form):
    name = forms.CharField(label="Name", max_length=200, help_text="How your organisation refers to this certificate.")
    purpose = forms.ChoiceField(label="Purpose", choices=CertificateEntry.Purpose.choices, widget=forms.RadioSelect)
    environment = forms.ChoiceField(
        label="Environment", choices=CertificateEntry.Environment.choices, widget=forms.RadioSelect
    )
    endpoint_hostname = forms.CharField(
        label="Endpoint host name",
        max_length=253,
        required=False,
        help_text="Required for a gateway server certificate: the host name it answers on, to check the "
        "certificate against. For example, nir-gateway.example.nhs.uk.",
    )
    owner = forms.ModelChoiceField(
        label="Owner", queryset=CertificateEntry.objects.none(), help_text="The named person who renews it."
    )
    file = CertificateFileField()

    def __init__(self, *args, owners, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = owners
        self.fields["owner"].label_from_instance = lambda user: f"{user.full_name or user.email} ({user.email})"


class CertificateRenewForm(forms.Form):
    file = CertificateFileField()


class RegisterFilterForm(forms.Form):
    days = forms.IntegerField(
        label="Certificates expiring within (days)",
        required=False,
        validators=[MinValueValidator(0), MaxValueValidator(3650)],
        help_text="Expired certificates are always included. Leave empty for the whole register.",
        widget=forms.NumberInput(attrs={"class": "nhsuk-input--width-4"}),
    )

    def within_days(self) -> int | None:
        return self.cleaned_data.get("days") if self.is_valid() else None
