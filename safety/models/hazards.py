"""Hazards: the supplier's DCB0129 hazards and each deployment's hazard log, its controls, actions
and change history."""

import pgtrigger
from django.conf import settings
from django.db import models

from nir_portal.accounts.models import Organisation
from onboarding.models import Deployment, EvidenceRevision, ProductVersion
from safety.models.reference import LibraryHazard, Likelihood, RiskMatrix, Severity


class SupplierHazard(models.Model):
    """A hazard from the supplier's DCB0129 hazard log for one product version."""

    product_version = models.ForeignKey(ProductVersion, on_delete=models.PROTECT, related_name="hazards")
    code = models.CharField(max_length=20)
    name = models.CharField(max_length=200)
    description = models.TextField()
    clinical_impact = models.TextField()
    causes = models.TextField()
    supplier_controls = models.TextField(help_text="Controls the supplier has put in place (DCB0129).")
    is_transferred = models.BooleanField(
        default=False, help_text="Actions remain for the deploying organisation: the hazard transfers to it."
    )
    transfer_note = models.TextField(blank=True, help_text="What the deploying organisation must do.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["product_version", "code"]
        constraints = [models.UniqueConstraint(fields=["product_version", "code"], name="supplier_hazard_unique")]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class DeploymentHazard(models.Model):
    """An entry in a deployment's hazard log. Never deleted: closed or marked not applicable."""

    class Source(models.TextChoices):
        LIBRARY = "library", "National library"
        SUPPLIER = "supplier", "Supplier (DCB0129, transferred)"
        LOCAL = "local", "Local"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        TRANSFERRED = "transferred", "Transferred"
        CLOSED = "closed", "Closed"

    class TransferDecision(models.TextChoices):
        PENDING = "pending", "Not decided"
        ACCEPTED = "accepted", "Accepted"
        ADAPTED = "adapted", "Accepted with local adaptation"
        REJECTED = "rejected", "Rejected"

    deployment = models.ForeignKey(Deployment, on_delete=models.PROTECT, related_name="hazards")
    number = models.PositiveIntegerField()
    source = models.CharField(max_length=10, choices=Source.choices)
    library_hazard = models.ForeignKey(LibraryHazard, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    supplier_hazard = models.ForeignKey(
        SupplierHazard, null=True, blank=True, on_delete=models.PROTECT, related_name="deployment_hazards"
    )
    name = models.CharField(max_length=200)
    description = models.TextField()
    clinical_impact = models.TextField(blank=True)
    causes = models.TextField(blank=True)
    existing_controls = models.TextField(blank=True)
    is_applicable = models.BooleanField(default=True)
    applicability_justification = models.TextField(blank=True)
    transfer_decision = models.CharField(max_length=10, choices=TransferDecision.choices, blank=True)
    transfer_justification = models.TextField(blank=True)
    risk_matrix = models.ForeignKey(RiskMatrix, on_delete=models.PROTECT, related_name="+")
    initial_severity = models.CharField(max_length=15, choices=Severity.choices, blank=True)
    initial_likelihood = models.CharField(max_length=15, choices=Likelihood.choices, blank=True)
    initial_rating = models.PositiveSmallIntegerField(null=True, blank=True)
    residual_severity = models.CharField(max_length=15, choices=Severity.choices, blank=True)
    residual_likelihood = models.CharField(max_length=15, choices=Likelihood.choices, blank=True)
    residual_rating = models.PositiveSmallIntegerField(null=True, blank=True)
    residual_justification = models.TextField(
        blank=True, help_text="Why further reduction is impractical (required for a residual rating of 3)."
    )
    operating_limits = models.TextField(blank=True, help_text="Limits within which the residual risk holds.")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OPEN)
    needs_re_review = models.BooleanField(
        default=False, help_text="A product version change or a confirmed product fault touched it."
    )
    re_review_reason = models.TextField(blank=True)
    version = models.PositiveIntegerField(default=1, help_text="Incremented on every change (stale-edit check).")
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["deployment", "number"]
        constraints = [
            models.UniqueConstraint(fields=["deployment", "number"], name="hazard_unique_number"),
            models.CheckConstraint(
                condition=models.Q(initial_rating__isnull=True) | models.Q(initial_rating__range=(1, 5)),
                name="hazard_initial_rating_range",
            ),
            models.CheckConstraint(
                condition=models.Q(residual_rating__isnull=True) | models.Q(residual_rating__range=(1, 5)),
                name="hazard_residual_rating_range",
            ),
            models.CheckConstraint(
                condition=models.Q(is_applicable=True) | ~models.Q(applicability_justification=""),
                name="hazard_not_applicable_needs_reason",
            ),
        ]
        indexes = [models.Index(fields=["deployment", "status", "residual_rating"])]
        triggers = [pgtrigger.Protect(name="hazard_never_deleted", operation=pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"H{self.number:03d} {self.name}"

    @property
    def reference(self) -> str:
        return f"H{self.number:03d}"


class HazardControl(models.Model):
    """A control on a hazard, typed by kind, owned by an organisation, and where cited as
    verified, linked to the evidence revisions that verify it. It may cite the deployment's
    certificate register instead of (or beside) evidence: the register's expiry monitoring is then
    the control's evidence."""

    class Kind(models.TextChoices):
        DESIGN = "design", "Design"
        TEST = "test", "Test"
        TRAINING = "training", "Training"
        BUSINESS_PROCESS = "business_process", "Business process change"

    hazard = models.ForeignKey(DeploymentHazard, on_delete=models.PROTECT, related_name="controls")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    description = models.TextField()
    owner = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    is_verified = models.BooleanField(default=False)
    evidence_revisions = models.ManyToManyField(EvidenceRevision, blank=True, related_name="controls")
    cites_certificate_register = models.BooleanField(
        default=False,
        help_text="The deployment's certificate register (its own certificates and its product version's) and "
        "its expiry monitoring are evidence of the control.",
    )
    is_withdrawn = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["hazard", "created_at", "id"]
        triggers = [pgtrigger.Protect(name="control_never_deleted", operation=pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.description[:60]}"


class HazardAction(models.Model):
    """An action to complete for a hazard, with an owner and a due date."""

    hazard = models.ForeignKey(
        DeploymentHazard, null=True, blank=True, on_delete=models.PROTECT, related_name="actions"
    )
    deployment = models.ForeignKey(Deployment, on_delete=models.PROTECT, related_name="safety_actions")
    description = models.TextField()
    owner = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    due_on = models.DateField()
    completed_at = models.DateTimeField(null=True, blank=True)
    sign_off = models.ForeignKey(
        "SignOff",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="condition_actions",
        help_text="Set when a sign-off condition.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["due_on", "id"]

    def __str__(self) -> str:
        return self.description[:80]


class HazardChange(models.Model):
    """One change to a hazard, its controls or actions: who, when, and each field before and after."""

    hazard = models.ForeignKey(DeploymentHazard, on_delete=models.PROTECT, related_name="history")
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    changed_at = models.DateTimeField(auto_now_add=True)
    summary = models.CharField(max_length=200)
    changes = models.JSONField(help_text='{"field": ["before", "after"]}')

    class Meta:
        ordering = ["-changed_at", "-id"]
        triggers = [pgtrigger.Protect(name="hazard_change_immutable", operation=pgtrigger.Update | pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"{self.hazard.reference}: {self.summary}"
