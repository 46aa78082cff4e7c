"""Reads of the certificate register, each scoped to the person asking."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from certificates.models import CertificateAlert, CertificateEntry, CertificateRevision
from nir_portal.accounts import permissions as account_permissions
from onboarding.models import Deployment, ProductVersion

DEFAULT_EXPIRING_DAYS = 30


def _member_organisation_ids(user) -> set[int]:
    return {m.organisation_id for m in account_permissions.memberships_of(user)}


def _with_current(queryset: QuerySet[CertificateEntry]) -> QuerySet[CertificateEntry]:
    return queryset.select_related(
        "organisation",
        "owner",
        "current_revision",
        "deployment__organisation",
        "product_version__product__supplier",
    )


def certificate_entries_visible_to(user) -> QuerySet[CertificateEntry]:
    """The national team sees every entry; an organisation its own, and a deploying organisation
    also its supplier's entries for the product versions it deploys."""
    queryset = CertificateEntry.objects.all()
    if not account_permissions.is_national(user):
        own = _member_organisation_ids(user)
        deployed_versions = ProductVersion.objects.filter(deployments__organisation__in=own).values("pk")
        queryset = queryset.filter(Q(organisation__in=own) | Q(product_version__in=deployed_versions))
    return _with_current(queryset)


def entries_of_deployment(*, user, deployment: Deployment) -> QuerySet[CertificateEntry]:
    """A deployment's register: its own entries and its product version's, as far as visible."""
    return certificate_entries_visible_to(user).filter(
        Q(deployment=deployment) | Q(product_version=deployment.product_version_id)
    )


def entries_of_product_version(*, user, product_version: ProductVersion) -> QuerySet[CertificateEntry]:
    return certificate_entries_visible_to(user).filter(product_version=product_version)


def product_versions_visible_to(user) -> QuerySet[ProductVersion]:
    """Versions whose supplier-held register the person may open: the supplier's own, or all for
    the national team. A trust sees its supplier's certificates on its deployment's register."""
    queryset = ProductVersion.objects.select_related("product__supplier")
    if account_permissions.is_national(user):
        return queryset
    return queryset.filter(product__supplier__in=_member_organisation_ids(user))


def entry_detail(*, user, pk: int) -> QuerySet[CertificateEntry]:
    revisions = CertificateRevision.objects.select_related("uploaded_by").prefetch_related(
        Prefetch("alerts", queryset=CertificateAlert.objects.order_by("sent_at", "pk"))
    )
    return certificate_entries_visible_to(user).filter(pk=pk).prefetch_related(Prefetch("revisions", revisions))


def expiring_condition(*, within_days: int, now: datetime | None = None, prefix: str = "") -> Q:
    """Entries whose current certificate has expired or expires within the days given."""
    now = now or timezone.now()
    return Q(**{f"{prefix}current_revision__not_after__lte": now + timedelta(days=within_days)})


def register(*, user, within_days: int | None = None, now: datetime | None = None) -> QuerySet[CertificateEntry]:
    """The register as the person may see it, soonest expiry first; optionally only what has
    expired or expires within `within_days`."""
    queryset = certificate_entries_visible_to(user).filter(current_revision__isnull=False)
    if within_days is not None:
        queryset = queryset.filter(expiring_condition(within_days=within_days, now=now))
    return queryset.order_by("current_revision__not_after", "name", "pk")


def certificates_expiring(*, within_days: int, now: datetime | None = None) -> QuerySet[CertificateEntry]:
    """Every registered certificate that has expired or expires within the days given, for the
    system's own monitoring (the daily check and the management command), not for a person."""
    return (
        _with_current(CertificateEntry.objects.filter(current_revision__isnull=False))
        .filter(expiring_condition(within_days=within_days, now=now))
        .order_by("current_revision__not_after", "name", "pk")
    )


def _of_deployment(deployment: Deployment) -> QuerySet[CertificateEntry]:
    return CertificateEntry.objects.filter(
        Q(deployment=deployment) | Q(product_version=deployment.product_version_id), current_revision__isnull=False
    )


def certificates_of_deployment(deployment: Deployment) -> list[CertificateEntry]:
    """Every registered certificate a deployment relies on, for documents about that deployment
    (the CSCR); the caller has already established that its reader may see the deployment."""
    return list(
        _with_current(_of_deployment(deployment)).order_by("environment", "current_revision__not_after", "name", "pk")
    )


def certificate_count_of_deployment(deployment: Deployment) -> int:
    """How many certificates the deployment's register holds, its own and its product version's:
    what a hazard control citing the register rests on."""
    return _of_deployment(deployment).count()


def owner_choices(organisation) -> QuerySet:
    """People who may own a certificate: members of the organisation that holds it."""
    return get_user_model().objects.filter(memberships__organisation=organisation).distinct().order_by("full_name")


def registered_issuers(entry_scope: dict, *, exclude_entry_id: int | None = None) -> list[CertificateRevision]:
    """Current revisions of the issuing chains registered for the same deployment, product version
    or organisation: the issuers a new certificate's chain may be built through."""
    deployment, product_version = entry_scope.get("deployment"), entry_scope.get("product_version")
    condition = Q(organisation=entry_scope["organisation"])
    if deployment is not None:
        condition |= Q(deployment=deployment) | Q(product_version=deployment.product_version_id)
    if product_version is not None:
        condition |= Q(product_version=product_version) | Q(deployment__product_version=product_version)
    entries = CertificateEntry.objects.filter(
        condition, purpose=CertificateEntry.Purpose.ISSUING_CHAIN, current_revision__isnull=False
    )
    if exclude_entry_id is not None:
        entries = entries.exclude(pk=exclude_entry_id)
    return list(CertificateRevision.objects.filter(pk__in=entries.values("current_revision")))


@dataclass
class RegisterRow:
    entry: CertificateEntry
    revision: CertificateRevision
    days_left: int
    flags: list[dict]


def register_rows(entries, *, now: datetime | None = None) -> list[RegisterRow]:
    now = now or timezone.now()
    return [
        RegisterRow(e, e.current_revision, e.current_revision.days_left(now), e.current_revision.flags(now))
        for e in entries
        if e.current_revision is not None
    ]


# --- for the dashboards -------------------------------------------------------------------------


def _expiring_entries(*, within_days: int, now: datetime | None):
    return CertificateEntry.objects.filter(expiring_condition(within_days=within_days, now=now))


def deployments_with_certificates_expiring(*, within_days: int, now: datetime | None = None) -> Q:
    """A condition on deployments: one of their certificates, or their product version's, has
    expired or expires within the days given."""
    entries = _expiring_entries(within_days=within_days, now=now)
    return Q(pk__in=entries.filter(deployment__isnull=False).values("deployment")) | Q(
        product_version__in=entries.filter(product_version__isnull=False).values("product_version")
    )


def certificates_expiring_by_deployment(
    deployments: list[Deployment], *, within_days: int, now: datetime | None = None
) -> dict[int, int]:
    """How many certificates each deployment relies on have expired or expire within the days
    given, its own and its product version's: one query for a page of deployments."""
    ids = [d.pk for d in deployments]
    versions = {d.product_version_id for d in deployments}
    held = (
        _expiring_entries(within_days=within_days, now=now)
        .filter(Q(deployment__in=ids) | Q(product_version__in=versions))
        .values_list("deployment_id", "product_version_id")
    )
    by_deployment: dict[int, int] = {}
    by_version: dict[int, int] = {}
    for deployment_id, version_id in held:
        if deployment_id:
            by_deployment[deployment_id] = by_deployment.get(deployment_id, 0) + 1
        else:
            by_version[version_id] = by_version.get(version_id, 0) + 1
    return {d.pk: by_deployment.get(d.pk, 0) + by_version.get(d.product_version_id, 0) for d in deployments}
