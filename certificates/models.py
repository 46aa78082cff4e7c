"""The certificate register: what each NIR integration depends on, every revision of it, and the
expiry alerts already sent."""

import base64
from datetime import datetime

import pgtrigger
from django.conf import settings
from django.db import models
from django.utils import timezone

from certificates.parsing import Flag
from nir_portal.accounts.models import Organisation
from onboarding.models import Deployment, ProductVersion

# Days before expiry at which the owner, the deployment lead and the CSO are told; 0 is expiry itself.
ALERT_THRESHOLDS = (90, 30, 14, 7, 0)


class CertificateEntry(models.Model):
    """A certificate an NIR integration relies on, held for one deployment or, by the supplier, for
    one product version. Its certificate is in its revisions; a renewal adds one."""

    class Purpose(models.TextChoices):
        TLS_CLIENT = "tls_client", "TLS client certificate"
        GATEWAY_SERVER = "gateway_server", "Gateway server certificate"
        SIGNING = "signing", "Signing certificate"
        ISSUING_CHAIN = "issuing_chain", "Issuing chain (intermediate or root)"

    class Environment(models.TextChoices):
        TEST = "test", "Test"
        LIVE = "live", "Live"

    deployment = models.ForeignKey(
        Deployment, null=True, blank=True, on_delete=models.PROTECT, related_name="certificate_entries"
    )
    product_version = models.ForeignKey(
        ProductVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="certificate_entries"
    )
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="certificate_entries")
    name = models.CharField(max_length=200, help_text="How the organisation refers to this certificate.")
    purpose = models.CharField(max_length=20, choices=Purpose.choices)
    environment = models.CharField(max_length=10, choices=Environment.choices)
    endpoint_hostname = models.CharField(max_length=253, blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    current_revision = models.ForeignKey(
        "CertificateRevision", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["organisation__name", "name", "id"]
        verbose_name_plural = "certificate entries"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(deployment__isnull=False, product_version__isnull=True)
                | models.Q(deployment__isnull=True, product_version__isnull=False),
                name="certificate_entry_one_holder",
            ),
            models.CheckConstraint(
                condition=models.Q(purpose__in=["tls_client", "gateway_server", "signing", "issuing_chain"]),
                name="certificate_entry_purpose_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(environment__in=["test", "live"]), name="certificate_entry_environment_valid"
            ),
        ]
        triggers = [pgtrigger.Protect(name="certificate_entry_never_deleted", operation=pgtrigger.Delete)]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("certificates:entry-detail", kwargs={"pk": self.pk})

    @property
    def holder(self) -> Deployment | ProductVersion:
        return self.deployment or self.product_version


class CertificateRevision(models.Model):
    """One uploaded certificate of an entry, as parsed when it was uploaded. Never changed: a
    renewal is a new revision, and the history stays."""

    class FileFormat(models.TextChoices):
        PEM = "pem", "PEM"
        DER = "der", "DER"
        PKCS7 = "pkcs7", "PKCS#7 chain"

    entry = models.ForeignKey(CertificateEntry, on_delete=models.PROTECT, related_name="revisions")
    number = models.PositiveIntegerField()
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(default=timezone.now)
    original_name = models.CharField(max_length=255)
    file_format = models.CharField(max_length=10, choices=FileFormat.choices)
    file_sha256 = models.CharField(max_length=64)
    certificate_der = models.BinaryField()
    issuers_der = models.JSONField(default=list, blank=True, help_text="Issuers uploaded with it, base64 DER.")
    subject = models.TextField()
    issuer = models.TextField()
    serial_number = models.CharField(max_length=64, help_text="Hexadecimal.")
    subject_alt_names = models.JSONField(default=list, blank=True)
    key_type = models.CharField(max_length=30)
    key_size = models.PositiveIntegerField(null=True, blank=True)
    signature_algorithm = models.CharField(max_length=100)
    not_before = models.DateTimeField()
    not_after = models.DateTimeField(db_index=True)
    fingerprint_sha256 = models.CharField(max_length=64, db_index=True)
    findings = models.JSONField(
        default=list, blank=True, help_text='Checks that failed at upload: [{"code": ..., "detail": ...}].'
    )
    chain_path = models.JSONField(default=list, blank=True, help_text="Subjects from the certificate upwards.")

    class Meta:
        ordering = ["entry", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["entry", "number"], name="certificate_revision_unique_number"),
            models.CheckConstraint(
                condition=models.Q(not_before__lte=models.F("not_after")), name="certificate_revision_dates_ordered"
            ),
        ]
        triggers = [
            pgtrigger.Protect(name="certificate_revision_immutable", operation=pgtrigger.Update | pgtrigger.Delete)
        ]

    def __str__(self) -> str:
        return f"{self.entry.name}, revision {self.number}"

    def issuer_certificates_der(self) -> list[bytes]:
        return [base64.b64decode(value) for value in self.issuers_der]

    def days_left(self, now: datetime | None = None) -> int:
        """Whole days until expiry; negative once expired."""
        return (self.not_after - (now or timezone.now())).days

    def flags(self, now: datetime | None = None) -> list[dict]:
        """Every finding as of `now`: those recorded at upload, and expiry or not-yet-valid."""
        now = now or timezone.now()
        timed = []
        if now < self.not_before:
            timed.append({"code": Flag.NOT_YET_VALID, "detail": f"Valid only from {self.not_before:%d %B %Y}."})
        elif now >= self.not_after:
            timed.append({"code": Flag.EXPIRED, "detail": f"Expired on {self.not_after:%d %B %Y}."})
        return [{**f, "label": Flag.LABELS[f["code"]]} for f in [*self.findings, *timed]]

    def flag_codes(self, now: datetime | None = None) -> set[str]:
        return {f["code"] for f in self.flags(now)}


class CertificateAlert(models.Model):
    """An expiry alert sent for a revision at one threshold: each threshold is told once."""

    revision = models.ForeignKey(CertificateRevision, on_delete=models.PROTECT, related_name="alerts")
    threshold_days = models.PositiveSmallIntegerField(help_text="90, 30, 14 or 7 days before expiry; 0 on expiry.")
    sent_at = models.DateTimeField(default=timezone.now)
    recipients = models.JSONField(default=list)

    class Meta:
        ordering = ["revision", "-threshold_days"]
        constraints = [
            models.UniqueConstraint(fields=["revision", "threshold_days"], name="certificate_alert_once_per_threshold"),
        ]
        triggers = [
            pgtrigger.Protect(name="certificate_alert_immutable", operation=pgtrigger.Update | pgtrigger.Delete)
        ]

    def __str__(self) -> str:
        when = "on expiry" if self.threshold_days == 0 else f"{self.threshold_days} days before expiry"
        return f"{self.revision}: alert {when}"
