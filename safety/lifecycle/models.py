"""Records of the safety case's life after deployment: the supplier's DCB0129 delta for a new
product version, re-reviews of hazards it touched, decisions on a live deployment whose case went
out of date, escalations of incidents, periodic reviews and decommissioning."""

import pgtrigger
from django.conf import settings
from django.db import models

from nir_portal.accounts.models import Organisation
from onboarding.models import CaseVersion, Deployment, ProductVersion


class SupplierHazardDelta(models.Model):
    """One line of a product version's DCB0129 delta: a hazard added, changed or closed since the
    previous version, named by its supplier hazard code."""

    class Change(models.TextChoices):
        ADDED = "added", "Added"
        CHANGED = "changed", "Changed"
        CLOSED = "closed", "Closed"

    product_version = models.ForeignKey(ProductVersion, on_delete=models.PROTECT, related_name="hazard_delta")
    code = models.CharField(max_length=20)
    name = models.CharField(max_length=200)
    change = models.CharField(max_length=10, choices=Change.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["product_version", "change", "code"]
        constraints = [models.UniqueConstraint(fields=["product_version", "code"], name="hazard_delta_unique_code")]
        triggers = [pgtrigger.Protect(name="hazard_delta_immutable", operation=pgtrigger.Update | pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"{self.code} {self.get_change_display().lower()} in {self.product_version}"


class HazardReReview(models.Model):
    """A CSO's re-review of a hazard that a version change or a product fault touched."""

    hazard = models.ForeignKey("safety.DeploymentHazard", on_delete=models.PROTECT, related_name="re_reviews")
    case_version = models.ForeignKey(CaseVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField(help_text="Why the hazard needed re-review.")
    outcome = models.TextField(help_text="What the CSO found and changed.")
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reviewed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-reviewed_at", "-id"]
        triggers = [pgtrigger.Protect(name="re_review_immutable", operation=pgtrigger.Update | pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"Re-review of {self.hazard}"


class LiveCaseDecision(models.Model):
    """What a person decided for a live deployment whose signed-off case was superseded: continue
    (with a justification) or suspend. Nothing is suspended automatically."""

    class Decision(models.TextChoices):
        CONTINUE = "continue", "Continue in use"
        SUSPEND = "suspend", "Suspend"

    deployment = models.ForeignKey(Deployment, on_delete=models.PROTECT, related_name="live_case_decisions")
    sign_off = models.ForeignKey("safety.SignOff", on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(max_length=10, choices=Decision.choices)
    justification = models.TextField()
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-decided_at", "-id"]
        constraints = [models.CheckConstraint(condition=~models.Q(justification=""), name="live_decision_justified")]
        triggers = [pgtrigger.Protect(name="live_decision_immutable", operation=pgtrigger.Update | pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"{self.get_decision_display()} for {self.deployment}"


class IncidentEscalation(models.Model):
    """An incident escalated by the trust's CSO to the supplier, an imaging network and the
    national team. They see only its safety content; the portal stores no patient data."""

    class Finding(models.TextChoices):
        PENDING = "pending", "Waiting for the supplier"
        PRODUCT_FAULT = "product_fault", "Product fault confirmed"
        NOT_PRODUCT_FAULT = "not_product_fault", "Not a product fault"

    incident = models.OneToOneField("safety.SafetyIncident", on_delete=models.PROTECT, related_name="escalation")
    supplier = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    network = models.ForeignKey(Organisation, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    note = models.TextField(help_text="What the trust asks of the parties.")
    escalated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    escalated_at = models.DateTimeField(auto_now_add=True)
    finding = models.CharField(max_length=20, choices=Finding.choices, default=Finding.PENDING)
    finding_note = models.TextField(blank=True)
    finding_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    finding_at = models.DateTimeField(null=True, blank=True)
    product_version = models.ForeignKey(
        ProductVersion,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="confirmed_faults",
        help_text="Set when the supplier confirms a product fault in this version.",
    )

    class Meta:
        ordering = ["-escalated_at", "-id"]

    def __str__(self) -> str:
        return f"Escalation of {self.incident.reference}"


class PeriodicReview(models.Model):
    """The CSO's planned review of the case while in use: what the use phase's CSCR reports."""

    deployment = models.ForeignKey(Deployment, on_delete=models.PROTECT, related_name="periodic_reviews")
    reviewed_on = models.DateField()
    findings = models.TextField()
    changes_since_last = models.TextField(blank=True)
    next_review_due = models.DateField()
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-reviewed_on", "-id"]
        triggers = [pgtrigger.Protect(name="periodic_review_immutable", operation=pgtrigger.Update | pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"Periodic review of {self.deployment} on {self.reviewed_on}"


class DecommissioningPlan(models.Model):
    """The safety assessment of taking a deployment out of use (DCB0160 7.4): data retention,
    access to prior imaging, what replaces the service, and the hazards decommissioning closes."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        AUTHORISED = "authorised", "Authorised"

    deployment = models.OneToOneField(Deployment, on_delete=models.PROTECT, related_name="decommissioning")
    planned_for = models.DateField()
    data_retention = models.TextField()
    access_to_priors = models.TextField()
    replacement = models.TextField()
    hazards_closed = models.ManyToManyField("safety.DeploymentHazard", blank=True, related_name="+")
    closure_note = models.TextField(blank=True, help_text="Why decommissioning closes the hazards chosen.")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.DRAFT)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Decommissioning of {self.deployment}"


class DecommissioningAuthorisation(models.Model):
    """Top management authorises decommissioning against the CSO's sign-off, as for go-live."""

    plan = models.OneToOneField(DecommissioningPlan, on_delete=models.PROTECT, related_name="authorisation")
    sign_off = models.ForeignKey("safety.SignOff", on_delete=models.PROTECT, related_name="+")
    approver = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    statement = models.TextField()
    snapshot_sha256 = models.CharField(max_length=64)
    authorised_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-authorised_at"]
        triggers = [
            pgtrigger.Protect(name="decommission_auth_immutable", operation=pgtrigger.Update | pgtrigger.Delete)
        ]

    def __str__(self) -> str:
        return f"Decommissioning of {self.plan.deployment} authorised by {self.approver}"
