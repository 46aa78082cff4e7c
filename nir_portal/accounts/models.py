from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.contrib.sessions.base_session import AbstractBaseSession
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

ods_code_validator = RegexValidator(
    regex=r"^[A-Z0-9]{3,6}$",
    message="Enter an ODS code of 3 to 6 capital letters and digits, like RRK or 8JK12.",
    code="invalid_ods_code",
)


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create(self, email: str, password: str | None, **fields):
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        user.set_password(password) if password else user.set_unusable_password()
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **fields):
        fields.setdefault("is_staff", False)
        fields.setdefault("is_superuser", False)
        return self._create(email, password, **fields)

    def create_superuser(self, email: str, password: str | None = None, **fields):
        fields.update(is_staff=True, is_superuser=True)
        return self._create(email, password, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in with their email address."""

    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=150)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False, help_text="May use the Django admin site.")
    date_joined = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["full_name"]

    class Meta:
        ordering = ["email"]
        constraints = [models.UniqueConstraint(Lower("email"), name="user_email_ci_unique")]

    def __str__(self) -> str:
        return self.full_name or self.email

    def get_full_name(self) -> str:
        return self.full_name

    def get_short_name(self) -> str:
        return self.full_name.split(" ")[0] if self.full_name else self.email


class Organisation(models.Model):
    """A trust, imaging network, supplier or the national team, known by its ODS code."""

    class Kind(models.TextChoices):
        TRUST = "trust", "NHS trust"
        IMAGING_NETWORK = "imaging_network", "Imaging network"
        SUPPLIER = "supplier", "Supplier"
        NATIONAL = "national", "National team"

    class Region(models.TextChoices):
        EAST = "east", "East of England"
        LONDON = "london", "London"
        MIDLANDS = "midlands", "Midlands"
        NORTH_EAST_YORKSHIRE = "ne_yorks", "North East and Yorkshire"
        NORTH_WEST = "north_west", "North West"
        SOUTH_EAST = "south_east", "South East"
        SOUTH_WEST = "south_west", "South West"

    ods_code = models.CharField("ODS code", max_length=6, unique=True, validators=[ods_code_validator])
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    region = models.CharField(max_length=20, choices=Region.choices, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ods_code__regex=r"^[A-Z0-9]{3,6}$"), name="organisation_ods_code_format"
            ),
            models.CheckConstraint(
                condition=models.Q(kind__in=["trust", "imaging_network", "supplier", "national"]),
                name="organisation_kind_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.ods_code})"

    @property
    def is_deploying(self) -> bool:
        return self.kind in {self.Kind.TRUST, self.Kind.IMAGING_NETWORK}

    @property
    def is_supplier(self) -> bool:
        return self.kind == self.Kind.SUPPLIER

    @property
    def is_national(self) -> bool:
        return self.kind == self.Kind.NATIONAL


class Role(models.TextChoices):
    # Deploying organisation (trust or imaging network)
    CSO = "cso", "Clinical Safety Officer"
    DEPLOYMENT_LEAD = "deployment_lead", "Deployment lead"
    EVIDENCE_CONTRIBUTOR = "evidence_contributor", "Evidence contributor"
    EXECUTIVE_APPROVER = "executive_approver", "Executive approver"
    VIEWER = "viewer", "Viewer"
    # Supplier
    SUPPLIER_ASSURANCE_LEAD = "supplier_assurance_lead", "Supplier assurance lead"
    SUPPLIER_CSO = "supplier_cso", "Supplier Clinical Safety Officer"
    SUPPLIER_CONTRIBUTOR = "supplier_contributor", "Supplier contributor"
    # National team
    NATIONAL_REVIEWER = "national_reviewer", "National assurance reviewer"
    NATIONAL_ADMIN = "national_admin", "National admin"


DEPLOYING_ROLES = (Role.CSO, Role.DEPLOYMENT_LEAD, Role.EVIDENCE_CONTRIBUTOR, Role.EXECUTIVE_APPROVER, Role.VIEWER)
SUPPLIER_ROLES = (Role.SUPPLIER_ASSURANCE_LEAD, Role.SUPPLIER_CSO, Role.SUPPLIER_CONTRIBUTOR)
NATIONAL_ROLES = (Role.NATIONAL_REVIEWER, Role.NATIONAL_ADMIN)
ROLES_BY_KIND = {
    Organisation.Kind.TRUST: DEPLOYING_ROLES,
    Organisation.Kind.IMAGING_NETWORK: DEPLOYING_ROLES,
    Organisation.Kind.SUPPLIER: SUPPLIER_ROLES,
    Organisation.Kind.NATIONAL: NATIONAL_ROLES,
}
# Roles that may invite people into, and manage the members of, their own organisation.
LEAD_ROLES = (Role.DEPLOYMENT_LEAD, Role.SUPPLIER_ASSURANCE_LEAD, Role.NATIONAL_ADMIN)


class Membership(models.Model):
    """A person's role in one organisation; a person may hold several."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="memberships")
    role = models.CharField(max_length=30, choices=Role.choices)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["organisation__name", "role"]
        constraints = [
            models.UniqueConstraint(fields=["user", "organisation", "role"], name="membership_unique_role"),
        ]

    def __str__(self) -> str:
        return f"{self.user} - {self.get_role_display()}, {self.organisation.name}"


class CSOProfile(models.Model):
    """A Clinical Safety Officer's professional registration, as last checked."""

    class ProfessionalBody(models.TextChoices):
        GMC = "GMC", "General Medical Council (GMC)"
        NMC = "NMC", "Nursing and Midwifery Council (NMC)"
        HCPC = "HCPC", "Health and Care Professions Council (HCPC)"
        GPHC = "GPhC", "General Pharmaceutical Council (GPhC)"
        GDC = "GDC", "General Dental Council (GDC)"
        OTHER = "other", "Other professional body"

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="cso_profile")
    professional_body = models.CharField(max_length=10, choices=ProfessionalBody.choices)
    registration_number = models.CharField(max_length=30)
    registration_checked_on = models.DateField(help_text="When the registration was last confirmed as current.")
    checked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    clinical_risk_training_on = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["user__email"]
        verbose_name = "CSO profile"

    def __str__(self) -> str:
        return f"{self.user} - {self.professional_body} {self.registration_number}"


class EnrolmentLink(models.Model):
    """A single-use link, sent to an account's verified address, that lets its holder set up a first
    authenticator (docs/security.md). Nothing secret is stored: the link carries this row's id
    signed with the portal's key, and this row says whether it may still be used."""

    class Reason(models.TextChoices):
        REQUESTED = "requested", "Asked for by the person"
        RESET = "reset", "Authenticator reset by an admin"
        BOOTSTRAP = "bootstrap", "First national admin"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="enrolment_links")
    reason = models.CharField(max_length=20, choices=Reason.choices)
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True, help_text="Replaced by a newer link.")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"], name="enrolment_link_user_latest")]

    def __str__(self) -> str:
        return f"Enrolment link for {self.user} ({self.get_reason_display().lower()})"


class UserSession(AbstractBaseSession):
    """A stored session (Django's columns), with the person it is signed in as, so that signing
    someone out everywhere is a DELETE of their rows instead of decoding every session. Written by
    `nir_portal.sessions.SessionStore` on every save from the session's own data."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="sessions"
    )

    class Meta(AbstractBaseSession.Meta):
        db_table = "accounts_session"

    @classmethod
    def get_session_store_class(cls):
        from nir_portal.sessions import SessionStore

        return SessionStore
