import pgtrigger
from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models.functions import Length
from django.db.models.lookups import LessThanOrEqual

from nir_portal.accounts.models import Organisation
from onboarding.models.deployments import Deployment, ProductVersion

STATEMENT_MAX_LENGTH = 2000


class Evidence(models.Model):
    """An item of assurance evidence owned by one organisation. It is scoped either to one
    deployment or to one product version, where it serves every deployment of that version."""

    owner = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="evidence")
    deployment = models.ForeignKey(
        Deployment, null=True, blank=True, on_delete=models.PROTECT, related_name="own_evidence"
    )
    product_version = models.ForeignKey(
        ProductVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="evidence"
    )
    title = models.CharField(max_length=200)
    requirement_codes = ArrayField(models.CharField(max_length=30), help_text="Requirements this evidence satisfies.")
    carried_forward_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="carried_forward_to"
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "evidence"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(deployment__isnull=True) ^ models.Q(product_version__isnull=True),
                name="evidence_one_scope",
            ),
            models.CheckConstraint(condition=~models.Q(requirement_codes=[]), name="evidence_has_requirements"),
        ]
        indexes = [models.Index(fields=["product_version"]), models.Index(fields=["deployment"])]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("onboarding:evidence-detail", kwargs={"pk": self.pk})


class EvidenceRevision(models.Model):
    """One immutable version of an evidence item's statement and files."""

    evidence = models.ForeignKey(Evidence, on_delete=models.PROTECT, related_name="revisions")
    number = models.PositiveIntegerField()
    statement = models.TextField(max_length=STATEMENT_MAX_LENGTH)
    effective_date = models.DateField()
    expiry_date = models.DateField(null=True, blank=True)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["evidence", "-number"]
        get_latest_by = "number"
        constraints = [
            models.UniqueConstraint(fields=["evidence", "number"], name="revision_unique_number"),
            models.CheckConstraint(
                condition=LessThanOrEqual(Length("statement"), STATEMENT_MAX_LENGTH), name="revision_statement_length"
            ),
            models.CheckConstraint(
                condition=models.Q(expiry_date__isnull=True) | models.Q(expiry_date__gt=models.F("effective_date")),
                name="revision_expires_after_effective",
            ),
        ]
        triggers = [pgtrigger.Protect(name="revision_immutable", operation=pgtrigger.Update | pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"{self.evidence} (revision {self.number})"


class EvidenceFile(models.Model):
    """A file of a revision. Its bytes never change; only the malware scan result is updated."""

    class ScanStatus(models.TextChoices):
        PENDING = "pending", "Waiting for the malware scan"
        CLEAN = "clean", "Clean"
        INFECTED = "infected", "Refused: malware found"
        # Final, like a verdict: clamd could not check the whole file (too large, or archives nested
        # too deep), so it is never released; scanning it again would give the same answer.
        OVER_LIMIT = "over_limit", "Refused: too large or too deeply nested to scan"
        # Not a verdict: the scan is tried again automatically (retries, then the periodic rescan).
        ERROR = "error", "Waiting for the malware scan (the scanner is not answering)"

    revision = models.ForeignKey(EvidenceRevision, on_delete=models.PROTECT, related_name="files")
    original_name = models.CharField(max_length=255)
    # Not unique: a carried-forward revision refers to the same immutable stored bytes.
    storage_name = models.CharField(max_length=255, db_index=True)
    sha256 = models.CharField(max_length=64)
    size = models.PositiveBigIntegerField()
    detected_type = models.CharField(max_length=10)
    scan_status = models.CharField(max_length=10, choices=ScanStatus.choices, default=ScanStatus.PENDING)
    scan_detail = models.CharField(max_length=255, blank=True)
    scanned_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["revision", "original_name"]
        constraints = [models.CheckConstraint(condition=models.Q(size__gt=0), name="file_not_empty")]
        triggers = [
            pgtrigger.ReadOnly(name="file_bytes_immutable", exclude=["scan_status", "scan_detail", "scanned_at"]),
            pgtrigger.Protect(name="file_not_deleted", operation=pgtrigger.Delete),
        ]

    def __str__(self) -> str:
        return self.original_name

    @property
    def is_downloadable(self) -> bool:
        return self.scan_status == self.ScanStatus.CLEAN


class EvidenceLink(models.Model):
    """An evidence item as one deployment sees it: its review status for that deployment."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SUBMITTED = "submitted", "Waiting for review"
        ACCEPTED = "accepted", "Accepted"
        CHANGES_REQUESTED = "changes_requested", "Changes requested"
        EXPIRED = "expired", "Expired"

    class ReviewBy(models.TextChoices):
        NATIONAL = "national", "National team"
        DEPLOYING_CSO = "deploying_cso", "Deploying organisation's CSO"
        DEPLOYING_LEAD = "deploying_lead", "Deploying organisation's deployment lead"

    evidence = models.ForeignKey(Evidence, on_delete=models.PROTECT, related_name="links")
    deployment = models.ForeignKey(Deployment, on_delete=models.PROTECT, related_name="evidence_links")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT)
    review_by = models.CharField(max_length=20, choices=ReviewBy.choices)
    revision = models.ForeignKey(
        EvidenceRevision,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The revision the status refers to.",
    )
    submitted_at = models.DateTimeField(null=True, blank=True, db_index=True)
    status_changed_at = models.DateTimeField(auto_now_add=True)
    version = models.PositiveIntegerField(default=1, help_text="Incremented on every change (stale-edit check).")

    class Meta:
        ordering = ["deployment", "evidence"]
        constraints = [models.UniqueConstraint(fields=["evidence", "deployment"], name="link_unique")]
        indexes = [models.Index(fields=["status", "review_by", "submitted_at"])]

    def __str__(self) -> str:
        return f"{self.evidence} for {self.deployment}"


class Review(models.Model):
    """A reviewer's decision on one revision for one deployment."""

    class Decision(models.TextChoices):
        ACCEPT = "accept", "Accept"
        REQUEST_CHANGES = "request_changes", "Request changes"

    link = models.ForeignKey(EvidenceLink, on_delete=models.PROTECT, related_name="reviews")
    revision = models.ForeignKey(EvidenceRevision, on_delete=models.PROTECT, related_name="reviews")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reviewer_organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    decision = models.CharField(max_length=20, choices=Decision.choices)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(decision="request_changes") | ~models.Q(comment=""),
                name="review_changes_need_comment",
            ),
        ]
        triggers = [pgtrigger.Protect(name="review_immutable", operation=pgtrigger.Update | pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"{self.get_decision_display()} by {self.reviewer}"


class EvidenceComment(models.Model):
    """A message in the thread about an evidence item for one deployment."""

    link = models.ForeignKey(EvidenceLink, on_delete=models.PROTECT, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="+")
    text = models.TextField(max_length=STATEMENT_MAX_LENGTH)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        triggers = [pgtrigger.Protect(name="comment_immutable", operation=pgtrigger.Update | pgtrigger.Delete)]

    def __str__(self) -> str:
        return f"Comment by {self.author} on {self.link}"
