from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.utils import timezone

from nir_portal.accounts.models import Organisation, ods_code_validator


class Product(models.Model):
    """A supplier's imaging product that integrates with NIR."""

    supplier = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="products")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["supplier__name", "name"]
        constraints = [models.UniqueConstraint(fields=["supplier", "name"], name="product_unique_name_per_supplier")]

    def __str__(self) -> str:
        return self.name


class ProductVersion(models.Model):
    """One release of a product's NIR integration, with the supplier's DCB0129 case reference."""

    class Status(models.TextChoices):
        IN_ASSURANCE = "in_assurance", "In assurance"
        ASSURED = "assured", "Assured"
        WITHDRAWN = "withdrawn", "Withdrawn"

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="versions")
    version = models.CharField(max_length=50)
    previous_version = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="next_versions",
        help_text="The version this one uplifts; its accepted evidence may be carried forward.",
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.IN_ASSURANCE)
    released_on = models.DateField(null=True, blank=True)
    dcb0129_reference = models.CharField("DCB0129 safety case reference", max_length=100, blank=True)
    change_summary = models.TextField(blank=True, help_text="What changed since the previous version.")
    changed_requirement_codes = ArrayField(
        models.CharField(max_length=30),
        default=list,
        blank=True,
        help_text="Onboarding requirements whose evidence the change invalidates.",
    )
    published_at = models.DateTimeField(
        null=True, blank=True, help_text="When the supplier published it to the deployments of earlier versions."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["product__name", "-created_at"]
        constraints = [models.UniqueConstraint(fields=["product", "version"], name="product_version_unique")]

    def __str__(self) -> str:
        return f"{self.product.name} {self.version}"


class Deployment(models.Model):
    """One deploying organisation's use of one product version: the unit of onboarding and of a
    DCB0160 safety case."""

    class Stage(models.TextChoices):
        SETUP = "setup", "Setup and eligibility"
        GOVERNANCE = "governance", "Governance assurance"
        TECHNICAL = "technical", "Technical conformance"
        SAFETY_SIGN_OFF = "safety_sign_off", "Clinical safety sign-off"
        GO_LIVE_AUTHORISED = "go_live_authorised", "Go-live authorised"
        LIVE = "live", "Live"
        SUSPENDED = "suspended", "Suspended"
        DECOMMISSIONED = "decommissioned", "Decommissioned"

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="deployments")
    product_version = models.ForeignKey(ProductVersion, on_delete=models.PROTECT, related_name="deployments")
    name = models.CharField(max_length=200, help_text="How the organisation refers to this deployment.")
    stage = models.CharField(max_length=30, choices=Stage.choices, default=Stage.SETUP)
    stage_changed_at = models.DateTimeField(default=timezone.now)
    clinical_setting = models.TextField(blank=True)
    framework = models.ForeignKey(
        "onboarding.Framework",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="deployments",
        help_text="The onboarding framework version this deployment is assessed against.",
    )
    safety_case_out_of_date_since = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Set when the sign-off a live deployment went live on is superseded; cleared by a new go-live.",
    )
    upgrade_available = models.ForeignKey(
        ProductVersion,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="A newer published version of the product that this deployment should assess.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["organisation__name", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "product_version"], name="deployment_unique_org_product_version"
            ),
        ]
        # The dashboards' default order (longest in stage first): a page of 25 is read from the
        # index rather than by sorting every deployment.
        indexes = [models.Index(fields=["stage_changed_at", "id"], name="deployment_in_stage_order")]

    def __str__(self) -> str:
        return f"{self.name} ({self.organisation.ods_code})"

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("onboarding:deployment-detail", kwargs={"pk": self.pk})


class DeploymentSite(models.Model):
    """A hospital or imaging site covered by a deployment."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="sites")
    name = models.CharField(max_length=200)
    ods_code = models.CharField("site ODS code", max_length=6, validators=[ods_code_validator], blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["deployment", "name"], name="site_unique_name_per_deployment")]

    def __str__(self) -> str:
        return self.name


class DeploymentStageChange(models.Model):
    """A move of a deployment from one stage to another; the history behind 'time in stage'."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="stage_changes")
    from_stage = models.CharField(max_length=30, choices=Deployment.Stage.choices, blank=True)
    to_stage = models.CharField(max_length=30, choices=Deployment.Stage.choices)
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    changed_at = models.DateTimeField(default=timezone.now)
    reason = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-changed_at", "-id"]

    def __str__(self) -> str:
        return f"{self.deployment}: {self.from_stage or '-'} -> {self.to_stage}"


# The forward path through the stages; suspended and decommissioned sit outside it.
STAGE_ORDER: list[str] = [
    Deployment.Stage.SETUP,
    Deployment.Stage.GOVERNANCE,
    Deployment.Stage.TECHNICAL,
    Deployment.Stage.SAFETY_SIGN_OFF,
    Deployment.Stage.GO_LIVE_AUTHORISED,
    Deployment.Stage.LIVE,
]
