"""Reads for CSCR bundles, narrowed to what the person may see before any fetch."""

from django.db.models import QuerySet

from onboarding.models import Deployment
from safety.cscr.permissions import VIEW_BUNDLES
from safety.models import CSCRBundleJob


def deployments_with_bundles_visible_to(user) -> QuerySet[Deployment]:
    queryset = (
        Deployment.objects.all()
        if VIEW_BUNDLES.held_nationally(user)
        else Deployment.objects.filter(organisation__in=VIEW_BUNDLES.organisations_of(user))
    )
    return queryset.select_related("organisation", "product_version__product__supplier")


def bundle_jobs_visible_to(user) -> QuerySet[CSCRBundleJob]:
    return CSCRBundleJob.objects.filter(
        deployment__in=deployments_with_bundles_visible_to(user).values("pk")
    ).select_related("deployment__organisation", "sign_off", "requested_by")


def bundle_jobs_for_deployment(*, user, deployment: Deployment) -> QuerySet[CSCRBundleJob]:
    return bundle_jobs_visible_to(user).filter(deployment=deployment).order_by("-version")
