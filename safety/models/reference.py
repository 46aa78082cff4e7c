"""The risk scheme and the national hazard library: the risk matrix, a deployment's risk management
plan naming it, the library's versions and hazards, and the severity and likelihood scales."""

import pgtrigger
from django.conf import settings
from django.db import models

from onboarding.models import Deployment


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
        # A published version never changes, whoever writes: the services and the admin refuse it,
        # and so does the database. Hazard logs started from it cite it.
        triggers = [
            pgtrigger.Protect(
                name="published_library_immutable",
                operation=pgtrigger.Update | pgtrigger.Delete,
                condition=pgtrigger.Q(old__status="published"),
            )
        ]

    def __str__(self) -> str:
        return f"National hazard library v{self.version}"


PUBLISHED_LIBRARY_HAZARDS_FROZEN = """
IF (TG_OP <> 'INSERT' AND EXISTS (
        SELECT 1 FROM safety_hazardlibrary WHERE id = OLD.library_id AND status = 'published'))
   OR (TG_OP <> 'DELETE' AND EXISTS (
        SELECT 1 FROM safety_hazardlibrary WHERE id = NEW.library_id AND status = 'published'))
THEN
    RAISE EXCEPTION 'pgtrigger: the hazards of a published hazard library version never change (%)', TG_OP;
END IF;
IF TG_OP = 'DELETE' THEN
    RETURN OLD;
END IF;
RETURN NEW;
"""


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
        # The hazards of a published version are as fixed as the version: none added, changed or removed.
        triggers = [
            pgtrigger.Trigger(
                name="published_library_hazards_immutable",
                when=pgtrigger.Before,
                operation=pgtrigger.Insert | pgtrigger.Update | pgtrigger.Delete,
                func=PUBLISHED_LIBRARY_HAZARDS_FROZEN,
            )
        ]

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
