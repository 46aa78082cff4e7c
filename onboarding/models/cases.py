from django.conf import settings
from django.db import models
from django.utils import timezone

from onboarding.models.deployments import Deployment, ProductVersion


class CaseVersion(models.Model):
    """One version of a deployment's safety case, for one product version. An upgrade opens the
    next version of the same deployment's case; the earlier one stays readable."""

    class Status(models.TextChoices):
        IN_PREPARATION = "in_preparation", "In preparation"
        LIVE = "live", "Live"
        RETIRED = "retired", "Retired"

    deployment = models.ForeignKey(Deployment, on_delete=models.PROTECT, related_name="case_versions")
    number = models.PositiveIntegerField()
    product_version = models.ForeignKey(ProductVersion, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.IN_PREPARATION)
    previous = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    started_at = models.DateTimeField(default=timezone.now)
    live_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    change_summary = models.TextField(blank=True, help_text="The supplier's summary of the version change.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["deployment", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["deployment", "number"], name="case_version_unique_number"),
            models.UniqueConstraint(
                fields=["deployment"], condition=models.Q(status="in_preparation"), name="one_case_in_preparation"
            ),
            models.UniqueConstraint(fields=["deployment"], condition=models.Q(status="live"), name="one_live_case"),
        ]

    def __str__(self) -> str:
        return f"Case version {self.number} of {self.deployment} ({self.product_version})"


class DeploymentNotice(models.Model):
    """Something a deployment's people must act on, raised by another party's action: a new
    product version, a product fault confirmed at another trust, a safety case out of date."""

    class Kind(models.TextChoices):
        VERSION_PUBLISHED = "version_published", "New product version"
        PRODUCT_FAULT = "product_fault", "Product fault confirmed"
        CASE_OUT_OF_DATE = "case_out_of_date", "Safety case out of date"

    deployment = models.ForeignKey(Deployment, on_delete=models.PROTECT, related_name="notices")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    title = models.CharField(max_length=200)
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["deployment", "resolved_at"])]

    def __str__(self) -> str:
        return self.title
