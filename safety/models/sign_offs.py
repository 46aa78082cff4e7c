"""The CSO's sign-off of a hazard log, go-live authorisation, and requests to re-review a sign-off."""

import pgtrigger
from django.conf import settings
from django.db import models
from django.utils import timezone

from onboarding.models import Deployment
from safety.models.hazards import DeploymentHazard


class SignOff(models.Model):
    """A CSO's sign-off of a deployment's hazard log, bound to a canonical snapshot by its hash."""

    class Status(models.TextChoices):
        CURRENT = "current", "Current"
        SUPERSEDED = "superseded", "Superseded"

    deployment = models.ForeignKey(Deployment, on_delete=models.PROTECT, related_name="sign_offs")
    case_version = models.ForeignKey(
        "onboarding.CaseVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="sign_offs"
    )
    cso = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    cso_name = models.CharField(max_length=150)
    professional_body = models.CharField(max_length=10)
    registration_number = models.CharField(max_length=30)
    registration_checked_on = models.DateField()
    statement = models.TextField()
    conditions = models.JSONField(default=list, blank=True)
    snapshot = models.JSONField()
    snapshot_sha256 = models.CharField(max_length=64)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.CURRENT)
    superseded_at = models.DateTimeField(null=True, blank=True)
    superseded_changes = models.JSONField(default=list, blank=True, help_text="What changed since it was signed.")
    needs_re_review = models.BooleanField(default=False, help_text="A safety incident touched a signed hazard.")
    signed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-signed_at", "-id"]
        constraints = [
            # At most one current sign-off per deployment: the last line of defence for concurrent signing.
            models.UniqueConstraint(
                fields=["deployment"], condition=models.Q(status="current"), name="one_current_sign_off"
            ),
        ]
        triggers = [
            pgtrigger.ReadOnly(
                name="sign_off_snapshot_immutable",
                exclude=["status", "superseded_at", "superseded_changes", "needs_re_review"],
            ),
            pgtrigger.Protect(name="sign_off_never_deleted", operation=pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return f"Sign-off of {self.deployment} by {self.cso_name} ({self.get_status_display().lower()})"


class GoLiveAuthorisation(models.Model):
    """Top management authorises go-live and accepts the residual risk (DCB0160 2.2.2)."""

    sign_off = models.OneToOneField(SignOff, on_delete=models.PROTECT, related_name="go_live")
    deployment = models.ForeignKey(Deployment, on_delete=models.PROTECT, related_name="go_live_authorisations")
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    statement = models.TextField()
    snapshot_sha256 = models.CharField(max_length=64)
    authorised_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-authorised_at"]
        triggers = [pgtrigger.Protect(name="go_live_immutable", operation=pgtrigger.Update | pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"Go-live of {self.deployment} authorised by {self.approver}"


class ReReviewRequest(models.Model):
    """A reason from outside the hazard log (an expired live certificate) for the CSO to look at a
    hazard again. It flags the sign-off that covered the hazard, supersedes nothing, and stays
    open until a new sign-off has taken it into account."""

    class Source(models.TextChoices):
        CERTIFICATE_EXPIRY = "certificate_expiry", "Certificate expiry"

    deployment = models.ForeignKey(Deployment, on_delete=models.PROTECT, related_name="re_review_requests")
    hazard = models.ForeignKey(
        DeploymentHazard, null=True, blank=True, on_delete=models.PROTECT, related_name="re_review_requests"
    )
    sign_off = models.ForeignKey(
        SignOff,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="re_review_requests",
        help_text="The current sign-off it flagged, when one covered the hazard.",
    )
    source = models.CharField(max_length=30, choices=Source.choices)
    source_reference = models.CharField(max_length=100, help_text="What raised it, e.g. a certificate revision.")
    reason = models.TextField()
    raised_at = models.DateTimeField(default=timezone.now)
    resolved_by = models.ForeignKey(SignOff, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-raised_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["deployment", "source", "source_reference"], name="re_review_request_once_per_source"
            ),
        ]
        triggers = [pgtrigger.Protect(name="re_review_request_never_deleted", operation=pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"{self.get_source_display()}: {self.reason[:60]}"
