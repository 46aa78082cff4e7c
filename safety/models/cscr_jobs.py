"""Requests for a signed Clinical Safety Case Report bundle."""

import pgtrigger
from django.conf import settings
from django.db import models
from django.urls import reverse

from onboarding.models import Deployment
from safety.models.sign_offs import SignOff


class CSCRBundleJob(models.Model):
    """A request for one signed Clinical Safety Case Report bundle, built by a worker from a sign-off's
    snapshot. The row is the job's identity: a redelivered task finds it and builds nothing twice."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RENDERING = "rendering", "Rendering the report"
        SIGNING = "signing", "Signing the bundle"
        COMPLETE = "complete", "Complete"
        FAILED = "failed", "Failed"

    class Phase(models.TextChoices):
        DEPLOYMENT = "deployment", "Deployment"
        USE = "use", "Use"
        MAINTENANCE = "maintenance", "Maintenance"
        DECOMMISSIONING = "decommissioning", "Decommissioning"

    deployment = models.ForeignKey(Deployment, on_delete=models.PROTECT, related_name="cscr_jobs")
    sign_off = models.ForeignKey(SignOff, on_delete=models.PROTECT, related_name="cscr_jobs")
    previous = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The deployment's previous complete CSCR, which document control compares with.",
    )
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    lifecycle_phase = models.CharField(max_length=20, choices=Phase.choices, default=Phase.DEPLOYMENT)
    version = models.PositiveIntegerField(help_text="The document version: the deployment's nth CSCR request.")
    include_evidence = models.BooleanField(default=False, help_text="Copy the evidence files into the bundle.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    failure_reason = models.TextField(blank=True)
    storage_name = models.CharField(max_length=255, blank=True)
    bundle_sha256 = models.CharField(max_length=64, blank=True)
    bundle_size = models.PositiveBigIntegerField(null=True, blank=True)
    pdf_sha256 = models.CharField(max_length=64, blank=True)
    page_count = models.PositiveIntegerField(null=True, blank=True)
    signer_subject = models.CharField(max_length=500, blank=True)
    signer_fingerprint = models.CharField(max_length=64, blank=True, help_text="SHA-256 of the signing certificate.")
    timestamped = models.BooleanField(default=False)
    evidence_files_included = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "CSCR bundle job"
        constraints = [
            models.UniqueConstraint(fields=["deployment", "version"], name="cscr_unique_version"),
            # One bundle per sign-off and lifecycle phase, unless an earlier attempt failed.
            models.UniqueConstraint(
                fields=["sign_off", "lifecycle_phase"],
                condition=~models.Q(status="failed"),
                name="cscr_one_per_sign_off_phase",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="complete") | (~models.Q(bundle_sha256="") & ~models.Q(storage_name="")),
                name="cscr_complete_has_bundle",
            ),
        ]
        triggers = [pgtrigger.Protect(name="cscr_job_never_deleted", operation=pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"CSCR v{self.version} of {self.deployment} ({self.get_status_display().lower()})"

    def get_absolute_url(self) -> str:
        return reverse("cscr:job-detail", kwargs={"pk": self.pk})

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.COMPLETE, self.Status.FAILED)
