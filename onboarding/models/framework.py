from django.db import models


class Framework(models.Model):
    """One version of the NIR onboarding mapping. Published versions never change."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"
        RETIRED = "retired", "Retired"

    version = models.PositiveIntegerField(unique=True)
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    published_at = models.DateTimeField(null=True, blank=True)
    notes = models.TextField(blank=True, help_text="What changed in this version.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(status="published") | models.Q(published_at__isnull=False),
                name="framework_published_has_date",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"

    @property
    def is_editable(self) -> bool:
        return self.status == self.Status.DRAFT


class Area(models.Model):
    """A part of the onboarding mapping, such as training or RBAC mapping."""

    framework = models.ForeignKey(Framework, on_delete=models.CASCADE, related_name="areas")
    code = models.SlugField(max_length=40)
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["framework", "order", "code"]
        constraints = [models.UniqueConstraint(fields=["framework", "code"], name="area_unique_code")]

    def __str__(self) -> str:
        return self.name


class Requirement(models.Model):
    """What must be evidenced, by whom, reviewed by whom, and for how long it stays valid."""

    class ProvidedBy(models.TextChoices):
        DEPLOYING = "deploying", "Deploying organisation"
        SUPPLIER = "supplier", "Supplier"
        BOTH = "both", "Deploying organisation and supplier"

    class ReviewedBy(models.TextChoices):
        NATIONAL = "national", "National team"
        DEPLOYING_CSO = "deploying_cso", "Deploying organisation's CSO"
        DEPLOYING_LEAD = "deploying_lead", "Deploying organisation's deployment lead"

    class ExpiryRule(models.TextChoices):
        NONE = "none", "Does not expire"
        MONTHS = "months", "A number of months after its effective date"
        DSPT_YEAR = "dspt_year", "At the end of its DSPT year (30 June)"

    class Stage(models.TextChoices):
        SETUP = "setup", "Setup and eligibility"
        GOVERNANCE = "governance", "Governance assurance"
        TECHNICAL = "technical", "Technical conformance"
        SAFETY_SIGN_OFF = "safety_sign_off", "Clinical safety sign-off"

    framework = models.ForeignKey(Framework, on_delete=models.CASCADE, related_name="requirements")
    area = models.ForeignKey(Area, on_delete=models.CASCADE, related_name="requirements")
    code = models.CharField(max_length=30, help_text="Stable across framework versions, e.g. TRN-01.")
    title = models.CharField(max_length=200)
    guidance = models.TextField()
    provided_by = models.CharField(max_length=10, choices=ProvidedBy.choices)
    reviewed_by = models.CharField(max_length=20, choices=ReviewedBy.choices)
    mandatory = models.BooleanField(default=True)
    expiry_rule = models.CharField(max_length=10, choices=ExpiryRule.choices, default=ExpiryRule.NONE)
    expiry_months = models.PositiveSmallIntegerField(null=True, blank=True)
    stage = models.CharField(max_length=20, choices=Stage.choices)
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["framework", "area__order", "order", "code"]
        constraints = [
            models.UniqueConstraint(fields=["framework", "code"], name="requirement_unique_code"),
            models.CheckConstraint(
                condition=~models.Q(expiry_rule="months") | models.Q(expiry_months__gt=0),
                name="requirement_months_rule_has_months",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.title}"
