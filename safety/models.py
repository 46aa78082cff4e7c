"""Clinical safety: the risk matrix, the national hazard library, supplier DCB0129 hazards, each
deployment's hazard log, the CSO's sign-off, go-live authorisation and safety incidents."""

import pgtrigger
from django.conf import settings
from django.db import models
from django.utils import timezone

from nir_portal.accounts.models import Organisation
from onboarding.models import Deployment, EvidenceRevision, ProductVersion


class RiskMatrix(models.Model):
    """A versioned risk scheme: severity and likelihood scales, the rating table and what each
    rating means. Ratings are always looked up here, never typed or multiplied."""

    version = models.PositiveIntegerField(unique=True)
    name = models.CharField(max_length=200)
    severities = models.JSONField(help_text='[{"code": "minor", "label": "Minor", "definition": "..."}, ...]')
    likelihoods = models.JSONField(help_text='[{"code": "very_low", "label": "Very low", "definition": "..."}, ...]')
    ratings = models.JSONField(help_text='{"<likelihood>": {"<severity>": 1-5}}')
    acceptability = models.JSONField(help_text='{"1": "...", ..., "5": "..."}')
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-version"]
        verbose_name_plural = "risk matrices"
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=models.Q(is_default=True), name="one_default_risk_matrix"
            ),
        ]
        triggers = [pgtrigger.ReadOnly(name="risk_matrix_immutable", exclude=["is_default"])]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"

    def rating(self, severity: str, likelihood: str) -> int:
        """The rating for a severity and likelihood; KeyError for codes not on this matrix."""
        return int(self.ratings[likelihood][severity])

    def label(self, scale: str, code: str) -> str:
        return next(item["label"] for item in getattr(self, scale) if item["code"] == code)


class ClinicalRiskManagementPlan(models.Model):
    """A deployment's DCB0160 plan; it names the risk matrix version used to assess hazards."""

    deployment = models.OneToOneField(Deployment, on_delete=models.PROTECT, related_name="risk_plan")
    risk_matrix = models.ForeignKey(RiskMatrix, on_delete=models.PROTECT, related_name="+")
    summary = models.TextField(blank=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["deployment"]

    def __str__(self) -> str:
        return f"Clinical risk management plan for {self.deployment}"


class HazardLibrary(models.Model):
    """A version of the national library of NIR deployment hazards."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"

    version = models.PositiveIntegerField(unique=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    published_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-version"]
        verbose_name_plural = "hazard libraries"

    def __str__(self) -> str:
        return f"National hazard library v{self.version}"


class LibraryHazard(models.Model):
    """A hazard in the national library, with example causes and controls for local scoring."""

    library = models.ForeignKey(HazardLibrary, on_delete=models.CASCADE, related_name="hazards")
    code = models.CharField(max_length=20)
    name = models.CharField(max_length=200)
    description = models.TextField()
    clinical_impact = models.TextField()
    causes = models.TextField()
    example_controls = models.TextField()
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["library", "order", "code"]
        constraints = [models.UniqueConstraint(fields=["library", "code"], name="library_hazard_unique_code")]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


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


class Severity(models.TextChoices):
    MINOR = "minor", "Minor"
    SIGNIFICANT = "significant", "Significant"
    CONSIDERABLE = "considerable", "Considerable"
    MAJOR = "major", "Major"
    CATASTROPHIC = "catastrophic", "Catastrophic"


class Likelihood(models.TextChoices):
    VERY_LOW = "very_low", "Very low"
    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    VERY_HIGH = "very_high", "Very high"


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


class SafetyIncident(models.Model):
    """A clinical safety incident involving a deployment, linked to the hazards it relates to."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        MADE_SAFE = "made_safe", "Made safe"
        CLOSED = "closed", "Closed"

    deployment = models.ForeignKey(Deployment, on_delete=models.PROTECT, related_name="incidents")
    reference = models.CharField(max_length=40)
    reporter = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reported_on = models.DateField()
    summary = models.TextField()
    clinical_risk_assessment = models.TextField(blank=True)
    # Scored on the deployment's risk matrix: the rating is looked up, never typed.
    risk_matrix = models.ForeignKey(RiskMatrix, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    severity = models.CharField(max_length=15, choices=Severity.choices, blank=True)
    likelihood = models.CharField(max_length=15, choices=Likelihood.choices, blank=True)
    risk_rating = models.PositiveSmallIntegerField(null=True, blank=True)
    system_release = models.CharField(max_length=100, blank=True)
    made_safe_on = models.DateField(null=True, blank=True)
    closed_on = models.DateField(null=True, blank=True)
    cause = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    hazards = models.ManyToManyField(DeploymentHazard, blank=True, related_name="incidents")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-reported_on", "-id"]
        constraints = [models.UniqueConstraint(fields=["deployment", "reference"], name="incident_unique_reference")]

    def __str__(self) -> str:
        return f"{self.reference}: {self.summary[:60]}"


class IncidentJournalEntry(models.Model):
    """One entry in an incident's journal of actions."""

    incident = models.ForeignKey(SafetyIncident, on_delete=models.PROTECT, related_name="journal")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        triggers = [pgtrigger.Protect(name="journal_immutable", operation=pgtrigger.Update | pgtrigger.Delete)]

    def __str__(self) -> str:
        return self.text[:80]


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
        from django.urls import reverse

        return reverse("cscr:job-detail", kwargs={"pk": self.pk})

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.COMPLETE, self.Status.FAILED)


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


# Lifecycle models live in their own module; importing them here registers them with the app.
from safety.lifecycle.models import (  # noqa: E402, F401  after the models they refer to; registered by import
    DecommissioningAuthorisation,
    DecommissioningPlan,
    HazardReReview,
    IncidentEscalation,
    LiveCaseDecision,
    PeriodicReview,
    SupplierHazardDelta,
)
