"""Reads for CSCR bundles, narrowed to what the person may see before any fetch."""

from django.db.models import QuerySet

from nir_portal.accounts import permissions as account_permissions
from onboarding.models import Deployment
from safety.cscr.permissions import REQUEST_ROLES
from safety.models import CSCRBundleJob


def _organisation_ids(user) -> set[int]:
    return {m.organisation_id for m in account_permissions.memberships_of(user) if m.role in REQUEST_ROLES}


def deployments_with_bundles_visible_to(user) -> QuerySet[Deployment]:
    queryset = (
        Deployment.objects.all()
        if account_permissions.is_national(user)
        else Deployment.objects.filter(organisation__in=_organisation_ids(user))
    )
    return queryset.select_related("organisation", "product_version__product__supplier")


def bundle_jobs_visible_to(user) -> QuerySet[CSCRBundleJob]:
    return CSCRBundleJob.objects.filter(
        deployment__in=deployments_with_bundles_visible_to(user).values("pk")
    ).select_related("deployment__organisation", "sign_off", "requested_by")


def bundle_jobs_for_deployment(*, user, deployment: Deployment) -> QuerySet[CSCRBundleJob]:
    return bundle_jobs_visible_to(user).filter(deployment=deployment).order_by("-version")
